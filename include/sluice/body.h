/* An OpenAI request body, as the proxy needs it: one validating scan that finds the members
 * the route requires, and the splice that turns it into the upstream body when the upstream
 * speaks the same wire. Pure functions (no I/O, no allocation) so they can be fuzzed on their
 * own. The OpenAI dialect's inspection (dialect.h). */
#ifndef SLUICE_BODY_H
#define SLUICE_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/dialect.h"
#include "sluice/json.h"
#include "sluice/splice.h"

/* Scans body for op: a JSON object (strict RFC 8259, valid UTF-8, depth <= 128, no repeated
 * member name at the top level or in stream_options) with "model" (non-empty string), "stream"
 * (boolean or null, when present) and the route's own field: chat "messages" (non-empty
 * array), completions "prompt", embeddings "input". Returns 0, or SL_EPARSE with a message for
 * the caller in why ("missing field \"model\"", "unexpected character at byte 17"). */
int sl_body_inspect(struct sl_str body, enum sl_op op, struct sl_call *out, char *why,
                    size_t whylen);

/* Prepares sp (initialised by this function over call->body) to produce the upstream body:
 * "model" replaced by model_json (a JSON string literal), and when stream is set
 * stream_options.include_usage forced to true (inserted, or replaced when false or null, or the
 * whole member replaced when stream_options is not an object), so usage is always known. */
void sl_body_rewrite(const struct sl_call *call, struct sl_str model_json, bool stream,
                     struct sl_splice *sp);

#endif
