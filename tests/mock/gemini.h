/* The mock's Google endpoints:
 *   - Gemini API: POST .../models/{m}:generateContent, :streamGenerateContent?alt=sse and
 *     :batchEmbedContents, with x-goog-api-key (or ?key=);
 *   - Vertex AI: POST .../v1/projects/{p}/locations/{r}/publishers/google/models/{m}:
 *     generateContent and :streamGenerateContent?alt=sse, and publishers/anthropic/models/{m}:
 *     rawPredict and :streamRawPredict (Anthropic's wire, anthropic.c), with a bearer token the
 *     mock's OAuth endpoints issued (oauth.h) or --static-token.
 * Requests are validated strictly (gemini_req.h); errors use Google's envelope
 * {"error":{"code","message","status","details"}}. */
#ifndef SLUICE_MOCK_GEMINI_H
#define SLUICE_MOCK_GEMINI_H

#include <stdbool.h>

#include <h2o.h>

#include "server.h"

/* True for the paths above (the method after the model's ':'). */
bool mock_gemini_is_path(struct sl_str path);

/* Handles one such request on w's loop. Returns 0 (the h2o handler's "handled"). */
int mock_gemini_handle(struct mock_worker *w, h2o_req_t *req);

#endif
