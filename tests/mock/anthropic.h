/* The mock's Anthropic Messages endpoints: POST .../v1/messages and .../v1/messages/count_tokens,
 * with Anthropic's auth, version header, error envelope and strict request validation. */
#ifndef SLUICE_MOCK_ANTHROPIC_H
#define SLUICE_MOCK_ANTHROPIC_H

#include <stdbool.h>

#include <h2o.h>

#include "server.h"

/* Handles one request routed to .../messages (count_tokens false) or .../messages/count_tokens.
 * Runs on w's loop thread. Returns 0 (the h2o handler's "handled"). */
int mock_anthropic_handle(struct mock_worker *w, h2o_req_t *req, bool count_tokens);

/* Vertex AI's Claude endpoints (publishers/anthropic/models/{m}:rawPredict, :streamRawPredict),
 * after the caller checked the bearer token: Anthropic's validation with "model" refused and
 * "anthropic_version": "vertex-2023-10-16" required in the body; model (a JSON string token)
 * names the model in replies; stream says the method was streamRawPredict. Returns 0. */
int mock_anthropic_vertex(struct mock_worker *w, h2o_req_t *req, struct sl_str model, bool stream);

#endif
