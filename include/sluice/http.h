/* The glue between h2o and Sluice's request handling: per-request context, request ids, and the
 * h2o host setup (one catch-all handler that runs the router, one response filter, one access
 * logger). Runs on worker threads. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include "sluice/h2o.h"
#include "sluice/str.h"

struct sl_gen_pin;
struct sl_server;
struct sl_worker;
struct sl_client_conn;
struct sl_route;

/* Per-request state of every request that reaches the router. Allocated from req->pool; its
 * dispose callback runs when h2o frees the request, after the access log line was written. */
struct sl_reqctx {
    h2o_req_t *req;
    struct sl_worker *worker;
    struct sl_gen_pin *pin;       /* the configuration generation this request runs on */
    const struct sl_route *route; /* NULL for unknown paths */
    struct sl_str request_id;
    uint64_t start_us; /* monotonic clock when the router got the request */
    /* Fields for the access log, filled by handlers as they learn them. */
    struct sl_str model;          /* alias the caller sent */
    struct sl_str model_label;    /* configured model name it resolved to (metrics label) */
    struct sl_str upstream_model; /* model_name sent upstream */
    struct sl_str key_name;       /* caller key's display_name, never the key */
    const char *error_kind;       /* short machine-readable reason of a failure, or NULL */
    const char *upstream_error;   /* static upstream failure kind for metrics, or NULL */
    bool stream;                  /* the response is an event stream */
    int64_t ttft_us;              /* streams: time to the first event relayed; -1 = none */
    int64_t prompt_tokens;        /* -1 when unknown */
    int64_t completion_tokens;
    /* Set when the client left before the response completed (logged as 499). */
    bool client_gone;
    /* HTTP/1.1: called at once when the client closes its end while the request is handled;
     * set by a handler that has work to stop (the proxy's upstream call). */
    void (*on_client_gone)(void *data);
    void *on_client_gone_data;
    struct sl_client_conn *client_conn; /* HTTP/1.1 only; NULL otherwise */
};

/* The request's context, or NULL for requests h2o answered itself (e.g. a 413 for a body over
 * the limit, or a malformed chunked body) before the router ran. */
struct sl_reqctx *sl_reqctx_of(h2o_req_t *req);

/* The request id: the caller's, from the first header of proxy.request_id.accept_headers
 * (default x-request-id) whose value is 1-128 visible ASCII characters, else a fresh random
 * UUIDv4. Computed once per request and memoised. */
struct sl_str sl_request_id(h2o_req_t *req);

/* Microseconds on the monotonic clock. */
uint64_t sl_now_us(void);

/* True when s is acceptable as a caller-supplied request id. */
bool sl_request_id_is_valid(struct sl_str s);

/* Registers Sluice's handler, response filter and access logger on gc's default host (and on
 * its fallback path, which h2o uses for errors it raises before routing). */
void sl_http_setup(h2o_globalconf_t *gc, struct sl_server *server);

#endif
