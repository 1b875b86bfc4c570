/* Strict validation of Gemini requests (generateContent, streamGenerateContent,
 * batchEmbedContents), as the Gemini API and Vertex AI check them, so a gateway that translates a
 * request wrongly gets the 400 the real API would give: unknown fields anywhere ("Invalid JSON
 * payload received. Unknown name ..."), roles, one data field per part, function responses that
 * answer the previous turn's calls (names, count and ids), the Schema subset of function
 * declarations and responseSchema, generationConfig ranges. Uses jansson: a test upstream, not a
 * benchmark path for Gemini bodies. Pure functions; no globals. */
#ifndef SLUICE_MOCK_GEMINI_REQ_H
#define SLUICE_MOCK_GEMINI_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

/* What a valid request tells the reply. */
struct gm_request {
    uint64_t candidates;     /* generationConfig.candidateCount, else 1 */
    bool thoughts;           /* thinkingConfig.includeThoughts */
    bool json;               /* responseMimeType application/json */
    uint64_t embeds;         /* batchEmbedContents: requests */
    uint64_t dimensions;     /* batchEmbedContents: outputDimensionality (0: unset) */
    uint64_t function_calls; /* functionCall parts in the last model turn (for tests) */
};

/* Validates doc as a generateContent body (embed false) or a batchEmbedContents body whose
 * requests must name model (embed true; model is "models/<id>"). On a problem writes Google's
 * kind of message into err (NUL-terminated) and returns SL_EPARSE; else fills *out. */
int gm_validate(struct sl_str doc, bool embed, struct sl_str model, struct gm_request *out,
                char *err, size_t errlen);

#endif
