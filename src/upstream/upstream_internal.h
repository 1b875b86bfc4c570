/* Internals shared by the files of src/upstream/. Not a public contract. */
#ifndef SLUICE_UPSTREAM_INTERNAL_H
#define SLUICE_UPSTREAM_INTERNAL_H

#include <openssl/ssl.h>

#include "sluice/h2o.h"
#include "sluice/proxy_env.h"
#include "sluice/upstream.h"

/* h2o 2.2 timeouts have one fixed duration each; exchanges need per-model durations, so the
 * worker keeps one h2o_timeout_t per distinct duration (few: they come from configuration). */
struct sl_timeouts {
    h2o_loop_t *loop;
    struct timeout_slot {
        uint64_t ms;
        h2o_timeout_t *timeout;
    } * slots;
    size_t n;
};

void sl__timeouts_init(struct sl_timeouts *t, h2o_loop_t *loop);
void sl__timeouts_dispose(struct sl_timeouts *t);
/* Links entry to fire ms milliseconds from now (unlinking it first if linked). */
void sl__timeouts_link(struct sl_timeouts *t, uint64_t ms, h2o_timeout_entry_t *entry);

/* One upstream connection (TCP, maybe a proxy tunnel, maybe TLS). It outlives exchanges:
 * sock->data always points here; req is the exchange using it, NULL while it idles in a pool. */
struct sl_upconn {
    h2o_socket_t *sock;
    struct sl_pool *pool;
    struct sl_upstream_req *req;
    h2o_linklist_t idle_link;
    h2o_timeout_entry_t idle_timer;
};

/* Closes the connection and frees it (unlinking it from its pool if idle). */
void sl__upconn_close(struct sl_upconn *c);

/* The failure log of one origin and error kind on one worker (client.c log_failure). */
struct sl_failure_log {
    bool logged;
    uint64_t quiet_until_ms; /* later failures before this are only counted */
    uint64_t suppressed;     /* failures not logged since the last line */
};

/* Idle keep-alive connections to one origin (or one proxy tunnel to one origin). */
struct sl_pool {
    char *key;
    h2o_linklist_t idle; /* struct sl_upconn, most recently parked first */
    size_t n_idle;
    struct sl_upstreams *u;
    struct sl_failure_log failures[SL_UPSTREAM_ERR_KINDS];
};

struct sl_upstreams {
    h2o_context_t *ctx;
    h2o_loop_t *loop;
    void (*idle_closed_cb)(void *data); /* sl_upstreams_on_idle_closed */
    void *idle_closed_data;
    /* Created on the first https connection (client_ssl_ctx in client.c): OpenSSL's algorithm
     * tables cost 2.7 MiB of resident memory, which a gateway with plain-http upstreams never
     * needs. NULL until then, and after a failure (ssl_ctx_tried). */
    SSL_CTX *ssl_ctx;
    bool ssl_ctx_tried;
    char *ca_file; /* upstream.tls.ca_file, or NULL for the system store */
    bool tls_verify;
    uint64_t connect_timeout_ms;
    uint64_t pool_idle_ms;
    size_t pool_max_idle; /* 0 = keep none; SIZE_MAX (the default) = unbounded */
    int keepalive_idle, keepalive_interval, keepalive_count;
    const struct sl_proxy_env *proxy; /* never NULL: an empty env when none was given */
    struct sl_timeouts timeouts;
    h2o_timeout_t zero_timeout;
    struct sl_pool **pools; /* few origins: a linear list is enough */
    size_t n_pools;
    struct sl_upstream_stats stats;
};

/* pool.c */
struct sl_pool *sl__pool_get(struct sl_upstreams *u, const char *key);
/* Takes an idle connection (most recently used first), or NULL. */
struct sl_upconn *sl__pool_take(struct sl_pool *p);
/* Parks a connection that just finished an exchange cleanly (or closes it when the pool is
 * full). */
void sl__pool_put(struct sl_pool *p, struct sl_upconn *c);
void sl__pools_dispose(struct sl_upstreams *u);

/* tls.c */
SSL_CTX *sl__tls_client_ctx_new(const char *ca_file, bool verify, char *err, size_t errlen);

#endif
