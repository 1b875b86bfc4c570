/* The upstream HTTP/1.1 client, built on h2o sockets and run on each worker's own loop.
 *
 * Why not h2o's http1client: h2o 2.2's client keeps reading an upstream response into memory
 * however slowly the downstream client drains it (no backpressure), has one I/O timeout for
 * connect, head and body, and cannot open a CONNECT tunnel. This client adds, per exchange:
 * a connect timeout (DNS, TCP, proxy tunnel and TLS), a whole-exchange deadline, an idle
 * timeout between reads (for streams), pause/resume for backpressure, cancellation, one
 * transparent retry when a pooled keep-alive connection turns out to be dead before any
 * response byte arrived, per-origin keep-alive pools, TLS with SNI (none for IP literals, as
 * RFC 6066 requires) and host name or IP address verification, HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY, gzip and deflate bodies decoded on the fly, and a rate-limited log line naming
 * why a call failed.
 *
 * Everything here runs on one worker thread; nothing is shared between workers. */
#ifndef SLUICE_UPSTREAM_H
#define SLUICE_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/h2o.h"
#include "sluice/picohttp.h"
#include "sluice/resources.h"
#include "sluice/str.h"

struct sl_config;
struct sl_upstreams;
struct sl_upstream_req;

/* Why an exchange failed. */
enum sl_upstream_error {
    SL_UPSTREAM_OK = 0,
    SL_UPSTREAM_ERR_DNS,               /* name resolution failed */
    SL_UPSTREAM_ERR_CONNECT,           /* TCP connect failed (refused, unreachable) */
    SL_UPSTREAM_ERR_PROXY,             /* the HTTP proxy refused or broke the CONNECT tunnel */
    SL_UPSTREAM_ERR_TLS,               /* handshake or certificate verification failed */
    SL_UPSTREAM_ERR_CONNECT_TIMEOUT,   /* not connected within upstream.connect_timeout_ms */
    SL_UPSTREAM_ERR_DEADLINE,          /* the exchange's deadline passed */
    SL_UPSTREAM_ERR_IDLE,              /* nothing received for the idle timeout */
    SL_UPSTREAM_ERR_RESET,             /* connection closed or reset before the response ended */
    SL_UPSTREAM_ERR_PROTOCOL,          /* malformed response (head, chunked framing) */
    SL_UPSTREAM_ERR_TOO_LARGE,         /* response head over the size cap */
    SL_UPSTREAM_ERR_DECODE,            /* a body coding Sluice cannot undo, or corrupt coded data */
    SL_UPSTREAM_ERR_PROXY_AUTH,        /* the proxy demanded authentication (407): final */
    SL_UPSTREAM_ERR_PROXY_UNREACHABLE, /* no TCP connection to the proxy itself: final */
};
#define SL_UPSTREAM_ERR_KINDS (SL_UPSTREAM_ERR_PROXY_UNREACHABLE + 1)

/* Short static name for logs and metrics: "dns", "connect", "proxy", "tls", "connect_timeout",
 * "timeout", "stream_idle", "reset", "protocol", "too_large", "decode", "proxy_auth",
 * "proxy_unreachable". */
const char *sl_upstream_error_name(enum sl_upstream_error e);

struct sl_upstream_head {
    int status;
    int minor_version;
    const struct phr_header *headers; /* valid during on_head only */
    size_t num_headers;
};

struct sl_upstream_cbs {
    /* The response head arrived. Return 0 to receive the body, or -1 to abandon the exchange
     * (no further callbacks; the connection is closed). */
    int (*on_head)(void *ud, const struct sl_upstream_head *head);
    /* Decoded body bytes: chunked framing removed, and gzip or deflate content and transfer
     * codings undone (decode.h), in pieces of at most 16 KiB when decoding; the head's
     * Content-Encoding and Content-Length still describe the coded body. May call
     * sl_upstream_pause, which stops delivery after this piece. Return 0, or -1 to abandon the
     * exchange (no further callbacks). */
    int (*on_body)(void *ud, const char *data, size_t len);
    /* The exchange ended: SL_UPSTREAM_OK after the whole body, or the failure. error_detail is
     * a short human text (strerror, OpenSSL reason) or NULL. The request object is freed right
     * after this returns. Called exactly once unless the exchange was cancelled or abandoned.
     * A coding Sluice cannot undo fails with SL_UPSTREAM_ERR_DECODE before on_head. Every
     * failure reported here is also logged (warn), at most once per origin and kind every 10 s
     * per worker. */
    void (*on_done)(void *ud, enum sl_upstream_error err, const char *error_detail);
};

struct sl_upstream_opts {
    uint64_t deadline_ms;     /* 0 = none */
    uint64_t idle_ms;         /* 0 = none; max silence while waiting for the head or body bytes */
    struct sl_str request_id; /* for the failure log line; must outlive the exchange */
};

struct sl_proxy_env;

/* Per-worker client context. Created on the worker thread after its h2o context. proxy (may
 * be NULL) is shared read-only and must outlive the context. */
struct sl_upstreams *sl_upstreams_new(h2o_context_t *ctx, const struct sl_config *cfg,
                                      const struct sl_proxy_env *proxy);
void sl_upstreams_free(struct sl_upstreams *u);

/* Calls cb(data) each time an idle pooled connection is closed, by the upstream or by its idle
 * timer: memory freed while nothing else runs, which the worker then gives back (worker.c). */
void sl_upstreams_on_idle_closed(struct sl_upstreams *u, void (*cb)(void *data), void *data);

/* Starts an exchange with origin: connects (or reuses a pooled connection), writes reqbufs (a
 * complete HTTP/1.1 request; the buffers must stay valid until on_done or cancel), reads the
 * response. Callbacks are never called from within this function. */
struct sl_upstream_req *sl_upstream_start(struct sl_upstreams *u, const struct sl_origin *origin,
                                          const h2o_iovec_t *reqbufs, size_t nbufs,
                                          const struct sl_upstream_opts *opts,
                                          const struct sl_upstream_cbs *cbs, void *ud);

/* Backpressure: stop or resume reading the response body. */
void sl_upstream_pause(struct sl_upstream_req *r);
void sl_upstream_resume(struct sl_upstream_req *r);

/* Ends the exchange now: closes the connection, frees the request; no callback follows. Safe
 * to call from inside a callback. */
void sl_upstream_cancel(struct sl_upstream_req *r);

/* True when the request line for origin must use the absolute form (plain-HTTP upstream
 * reached through HTTP_PROXY). */
bool sl_upstream_uses_forward_proxy(const struct sl_upstreams *u, const struct sl_origin *origin);

/* Links entry to fire in ms milliseconds on the worker's loop. Each distinct duration costs one
 * h2o timeout list for the worker's lifetime, so callers round durations to a coarse grid. */
void sl_upstreams_timer(struct sl_upstreams *u, uint64_t ms, h2o_timeout_entry_t *entry);

/* Counters for tests and metrics (worker thread). */
struct sl_upstream_stats {
    uint64_t connections_opened;
    uint64_t connections_reused;
    uint64_t stale_retries;
};
const struct sl_upstream_stats *sl_upstreams_stats(const struct sl_upstreams *u);

#endif
