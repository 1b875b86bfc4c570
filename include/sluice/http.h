/* The glue between h2o and Sluice's request handling: request ids, and the h2o host setup (one
 * catch-all handler that starts an exchange per request (exchange.h), one response filter, one
 * access logger). Runs on worker threads. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include "sluice/clock.h"
#include "sluice/h2o.h"
#include "sluice/str.h"

struct sl_server;

/* The request id: the caller's, from the first header of proxy.request_id.accept_headers
 * (default x-request-id) whose value is 1-128 visible ASCII characters, else a fresh random
 * UUIDv4. Computed once per request and memoised. */
struct sl_str sl_request_id(h2o_req_t *req);

/* True when s is acceptable as a caller-supplied request id. */
bool sl_request_id_is_valid(struct sl_str s);

/* Registers Sluice's handler, response filter and access logger on gc's default host (and on
 * its fallback path, which h2o uses for errors it raises before routing). */
void sl_http_setup(h2o_globalconf_t *gc, struct sl_server *server);

#endif
