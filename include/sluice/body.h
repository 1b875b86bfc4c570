/* A caller's request body, as the proxy needs it: one validating scan that finds the members
 * the route requires, and the splice that turns it into the upstream body. Pure functions (no
 * I/O, no allocation) so they can be fuzzed on their own. */
#ifndef SLUICE_BODY_H
#define SLUICE_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/json.h"
#include "sluice/provider.h"
#include "sluice/splice.h"

struct sl_body {
    struct sl_str raw;
    struct sl_json_member model;          /* a non-empty JSON string */
    struct sl_json_member stream;         /* absent, true, false or null */
    struct sl_json_member stream_options; /* any type, or absent */
    bool stream_requested;                /* "stream": true */
};

/* Scans body for endpoint ep: a JSON object (strict RFC 8259, valid UTF-8, depth <= 128) with
 * "model" (non-empty string), "stream" (boolean or null, when present) and the route's own
 * field: chat "messages" (non-empty array), completions "prompt", embeddings "input". Returns
 * 0, or SL_EPARSE with a message for the caller in why ("missing field \"model\"",
 * "unexpected character at byte 17"). */
int sl_body_inspect(struct sl_str body, enum sl_endpoint ep, struct sl_body *out, char *why,
                    size_t whylen);

/* Prepares sp (initialised by this function over b->raw) to produce the upstream body: "model"
 * replaced by model_json (a JSON string literal), and when stream is set
 * stream_options.include_usage forced to true (inserted, or replaced when false or null, or the
 * whole member replaced when stream_options is not an object). *caller_wants_usage tells
 * whether the caller asked for the usage chunk itself. */
void sl_body_rewrite(const struct sl_body *b, struct sl_str model_json, bool stream,
                     struct sl_splice *sp, bool *caller_wants_usage);

#endif
