/* Strict validation of Anthropic Messages requests (POST /v1/messages and
 * /v1/messages/count_tokens), so that a gateway that translates a request wrongly gets the 400 the
 * real API would give. One DOM-free pass over a body already validated as JSON (mj_scan_object);
 * no jansson, so the benchmark path stays cheap. Pure functions; no globals. */
#ifndef SLUICE_MOCK_ANTHROPIC_REQ_H
#define SLUICE_MOCK_ANTHROPIC_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mjson.h"
#include "opts.h"
#include "sluice/str.h"

/* The anthropic-version values the mock accepts. */
enum an_version {
    AN_V2023_06_01 = 0, /* temperature, top_p and top_k allowed */
    AN_V2026_10_21,     /* they are not; no document blocks in assistant messages; no citations on
                         * text blocks in user messages */
};

/* Parses an anthropic-version header value. Returns 0 or SL_EPARSE. */
int an_parse_version(struct sl_str value, enum an_version *out);

/* What a valid request tells the reply. */
struct an_request {
    struct sl_str model;   /* JSON string token */
    struct mj_value mock;  /* the top-level "mock" member (MJ_ABSENT when there is none) */
    bool stream;           /* "stream": true */
    bool thinking;         /* thinking.type is enabled or adaptive */
    uint64_t max_tokens;   /* 0 for count_tokens */
    uint64_t input_tokens; /* derived: bytes of system + messages + tools, / 4, at least 1 */
};

struct an_limits {
    enum an_version version;
    bool count_tokens; /* validate as /v1/messages/count_tokens */
    bool beta;         /* an anthropic-beta header was sent: beta-only fields are allowed */
    bool vertex;       /* Vertex AI rawPredict: no "model" (the URL names it), and
                          "anthropic_version": "vertex-2023-10-16" required in the body */
};

/* Validates the request body doc (a JSON object, already validated as JSON). On a problem writes
 * the API's kind of message ("<path>: <reason>", e.g. "max_tokens: Field required") into err
 * (always NUL-terminated) and returns SL_EPARSE; else fills *out and returns 0. Scratch memory
 * (tool_use ids) comes from alloc. */
int an_validate(struct sl_str doc, const struct an_limits *lim, struct an_request *out,
                mock_alloc_fn *alloc, void *ud, char *err, size_t errlen);

#endif
