/* A worker thread: one h2o event loop, one h2o context, one SO_REUSEPORT listener. Everything in
 * a worker is touched only by its own thread, except the fields marked atomic, which the control
 * thread reads (stats) or which are set once before the thread starts. */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sluice/exchange.h"
#include "sluice/generation.h"
#include "sluice/h2o.h"

struct sl_server;
struct sl_upstreams;
struct sl_metrics_worker;
struct sl_rl_worker;

/* Counters a worker owns. Written only by the worker (relaxed loads/stores, no read-modify-write
 * atomics on the hot path); read by the control thread when /metrics is scraped. */
struct sl_worker_stats {
    _Atomic uint64_t inflight;
    /* While closing: requests whose head or body is still arriving (not yet in inflight). */
    _Atomic uint64_t receiving;
    /* Number of sweeps done since the listeners closed; receiving is valid once it is > 0. */
    _Atomic uint64_t sweeps;
    _Atomic uint64_t connections;
    _Atomic uint64_t connections_refused; /* over proxy.max_connections */
    _Atomic uint64_t requests[6];         /* by status class: [0] = 1xx..[4] = 5xx, [5] = other */
    /* Client connections closed gracefully: write side shut, then what the client still sent
     * read and thrown away (see src/server/linger.c). */
    _Atomic uint64_t lingering_closes;
};

#define SL_WORKER_MAX_LISTENERS 2 /* plain HTTP and, with proxy.tls.addr, TLS */

struct sl_exchange;

/* One accepted client connection, kept in its socket's on_close.data; freed when it closes. */
struct sl_client_conn {
    struct sl_worker *worker;
    h2o_socket_t *sock;
    /* HTTP/1.1: the request being handled on it, or NULL (see keep_reading in http.c). */
    struct sl_exchange *current;
    /* HTTP/1.x: a second descriptor of the socket, taken when a response will end the
     * connection, so that the socket outlives h2o's close and is closed gracefully
     * (src/server/linger.c); -1 otherwise. */
    int _linger_fd;
};

/* The connection record of a socket the worker accepted, or NULL for any other socket. */
struct sl_client_conn *sl_client_conn_of(h2o_socket_t *sock);

struct sl_worker_listener {
    int fd; /* bound by the main thread; -1 when unused */
    h2o_socket_t *sock;
    h2o_accept_ctx_t accept_ctx;
    struct sl_worker *worker;
};

struct sl_worker {
    unsigned id;
    struct sl_server *server;
    h2o_context_t ctx; /* ctx.loop is this worker's loop */
    struct sl_worker_stats stats;
    struct sl_upstreams *upstreams; /* this worker's upstream client and pools */
    /* Request metrics (sluice/metrics.h), written only by this worker. Set by the worker thread
     * before it reports itself started; the control thread reads the pointer only after that
     * (ordered by the server's started mutex) and may then read the store concurrently. */
    struct sl_metrics_worker *metrics;
    /* This worker's side of the rate limiter (its Redis connection and leases, if any). */
    struct sl_rl_worker *limits;
    /* This worker's side of the response cache (its cache.redis connection, if any). */
    struct sl_cache_worker *cache;
    /* Fires every second for requests watching their HTTP/1.1 client socket (h2o 2.2 does not
     * read it while a handler works, so a caller who leaves is otherwise noticed too late). */
    h2o_timeout_t client_watch_timeout;
    /* Gives freed memory back to the kernel once the worker has been quiet for a second. */
    h2o_timeout_t _trim_timeout;
    h2o_timeout_entry_t _trim_entry;
    uint64_t _last_request_end_ms;
    /* What the worker lends the request path (set before the loop runs). */
    struct sl_services svc;
    /* SSE keep-alive comments (downstream.sse_keepalive_interval_secs); NULL when disabled. */
    h2o_timeout_t *sse_keepalive_timeout;
    h2o_timeout_t _sse_keepalive;
    /* private */
    struct sl_gen_pin *_pin; /* the generation new requests run on */
    pthread_t _thread;
    struct sl_worker_listener _listeners[SL_WORKER_MAX_LISTENERS];
    h2o_multithread_receiver_t _control_rx;
    h2o_timeout_t _sweep_timeout;
    h2o_timeout_entry_t _sweep_entry;
    /* Client sockets being closed gracefully (src/server/linger.c), oldest first. */
    h2o_linklist_t _lingering;
    size_t _n_lingering;
    h2o_timeout_t _linger_timeout;
};

/* Messages the control thread sends to a worker (delivered on the worker's loop). */
enum sl_worker_cmd {
    /* Serve new requests on the generation passed as the message's argument (the worker
     * takes over one reference to it). */
    SL_WORKER_SET_GENERATION = 0,
    /* Use the SSL_CTX passed as the argument for new TLS handshakes (the worker takes over one
     * reference and drops its reference to the previous context). */
    SL_WORKER_SET_TLS,
    /* Stop accepting; ask h2o to wind down (HTTP/2 GOAWAY, no more HTTP/1.1 keep-alive); then,
     * every 100 ms, close idle HTTP/1.1 connections and publish stats.receiving. */
    SL_WORKER_CLOSE_LISTENERS,
};

/* Starts the worker thread serving generation g (the worker takes over one reference);
 * returns 0 or an errno value. */
int sl_worker_start(struct sl_worker *w, struct sl_generation *g);
/* Sends a command with an optional argument; callable from any thread. */
void sl_worker_send(struct sl_worker *w, enum sl_worker_cmd cmd, void *arg);

/* Notes that a request ended (worker thread): after a second without one, the worker returns
 * its free heap to the kernel, so RSS falls back after a burst. */
void sl_worker_request_ended(struct sl_worker *w);

/* Process-wide allocator settings for a gateway's allocation pattern; call once at start-up. */
void sl_worker_tune_malloc(void);

/* Pins the current generation for one request (worker thread); give it back with
 * sl_worker_unpin when the request ends. */
struct sl_gen_pin *sl_worker_pin(struct sl_worker *w);
void sl_worker_unpin(struct sl_gen_pin *pin);

/* The worker that owns the context a request runs on. */
static inline struct sl_worker *sl_worker_of(h2o_req_t *req)
{
    return (struct sl_worker *)(void *)((char *)req->conn->ctx - offsetof(struct sl_worker, ctx));
}

/* Single-writer counter bump: a plain load and store, visible to readers with relaxed loads. */
static inline void sl_stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void sl_stat_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}

#endif
