/* The mock's OpenAI Responses endpoints: POST .../responses (JSON and SSE), and the calls on a
 * stored response (GET and DELETE .../responses/{id}, POST .../responses/{id}/cancel, GET
 * .../responses/{id}/input_items). Requests are validated as strictly as the API does (unknown
 * parameters, item and part shapes, previous_response_id and item_reference that name nothing
 * stored); stored responses are kept per API key, as OpenAI keeps them per project. */
#ifndef SLUICE_MOCK_RESPONSES_H
#define SLUICE_MOCK_RESPONSES_H

#include <h2o.h>

#include "server.h"
#include "sluice/str.h"

/* Handles one request routed to .../responses (rest empty) or .../responses/<rest without the
 * leading slash>. Runs on w's loop thread. Returns 0 (the h2o handler's "handled"). */
int mock_responses_handle(struct mock_worker *w, h2o_req_t *req, struct sl_str rest);

/* Frees the stored responses (at exit). */
void mock_responses_dispose(void);

#endif
