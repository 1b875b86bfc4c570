#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server_internal.h"
#include "sluice/base.h"
#include "sluice/cache_phase.h"
#include "sluice/http.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/ratelimit.h"
#include "sluice/server.h"
#include "sluice/upstream.h"
#include "sluice/worker.h"

/* Accepting many connections per readiness event keeps bursts of new clients from waiting one
 * loop iteration each; the cap keeps one listener from starving established connections. */
#define ACCEPT_BATCH 64

struct worker_msg {
    h2o_multithread_message_t super;
    enum sl_worker_cmd cmd;
    void *arg;
};

#define CLIENT_WATCH_MS 1000

/* Giving memory back after a burst. glibc keeps freed memory in its arenas and, after the first
 * large free, raises its mmap and trim thresholds, so the buffers of a burst of large bodies
 * stayed resident (5.7 MiB idle became 8.3 MiB ten seconds after a burst of 120 KiB bodies).
 * While busy, freed memory is kept: without the thresholds below, glibc returned the top of a
 * worker's arena after nearly every 120 KiB request and faulted it back in on the next (8-11
 * page faults per request). Once a worker has finished no request for a second, malloc_trim
 * returns the free pages. Measured in bench/ (docs/benchmarks.md). */
#define TRIM_QUIET_MS    1000
#define MMAP_FROM_BYTES  (1u << 20)
#define TRIM_KEEP_BYTES  (8u << 20)
#define TRIM_QUIET_BYTES (128u << 10)

void sl_worker_tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, MMAP_FROM_BYTES);
    mallopt(M_TRIM_THRESHOLD, TRIM_KEEP_BYTES);
#endif
}

/* malloc_trim returns the free pages inside every arena and the top of the main one, but not
 * the top of a thread's arena: glibc shrinks that only from free() of a block of 64 KiB or more
 * when the top exceeds M_TRIM_THRESHOLD. So lower the threshold for one such free on this
 * worker's arena, then restore it. */
static void release_memory(void)
{
    /* h2o keeps up to 16 freed socket input buffers per thread for reuse; scattered through the
     * arena, they pin the pages around them. Free them first so those pages can go. */
    h2o_mem_recycle_t *buffers = &h2o_socket_buffer_prototype.allocator;
    while (buffers->cnt != 0)
        free(h2o_mem_alloc_recycle(buffers, 0));
#ifdef __GLIBC__
    malloc_trim(0);
    mallopt(M_TRIM_THRESHOLD, TRIM_QUIET_BYTES);
    void *volatile block = malloc(64 * 1024);
    free(block);
    mallopt(M_TRIM_THRESHOLD, TRIM_KEEP_BYTES);
#endif
}

static void on_trim(h2o_timeout_entry_t *e)
{
    struct sl_worker *w = SL_CONTAINER_OF(e, struct sl_worker, _trim_entry);
    if (h2o_now(w->ctx.loop) - w->_last_request_end_ms < TRIM_QUIET_MS) {
        h2o_timeout_link(w->ctx.loop, &w->_trim_timeout, &w->_trim_entry);
        return;
    }
    release_memory();
}

/* Memory was freed: give it back once the worker has been quiet for TRIM_QUIET_MS. Besides
 * request ends, closed client connections and idle upstream connections closing later (by
 * their idle timer or the upstream) free buffers after the first trim would have run. */
static void arm_trim(struct sl_worker *w)
{
    if (!h2o_timeout_is_linked(&w->_trim_entry))
        h2o_timeout_link(w->ctx.loop, &w->_trim_timeout, &w->_trim_entry);
}

static void on_upstream_idle_closed(void *data)
{
    arm_trim(data);
}

void sl_worker_request_ended(struct sl_worker *w)
{
    w->_last_request_end_ms = h2o_now(w->ctx.loop);
    arm_trim(w);
}

static struct sl_gen_pin *new_pin(struct sl_generation *g)
{
    struct sl_gen_pin *p = sl_xcalloc(1, sizeof(*p));
    p->gen = g;
    p->current = true;
    return p;
}

static void release_pin(struct sl_gen_pin *p)
{
    sl_generation_unref(p->gen);
    free(p);
}

struct sl_gen_pin *sl_worker_pin(struct sl_worker *w)
{
    w->_pin->requests++;
    return w->_pin;
}

void sl_worker_unpin(struct sl_gen_pin *pin)
{
    SL_ASSERT(pin->requests > 0);
    if (--pin->requests == 0 && !pin->current)
        release_pin(pin);
}

static void set_generation(struct sl_worker *w, struct sl_generation *g)
{
    struct sl_gen_pin *old = w->_pin;
    w->_pin = new_pin(g);
    old->current = false;
    if (old->requests == 0)
        release_pin(old);
}

/* Called after h2o closed its descriptor of the socket. */
static void on_connection_close(void *data)
{
    struct sl_client_conn *c = data;
    struct sl_worker *w = c->worker;
    int linger_fd = c->_linger_fd;
    /* h2o disposes a connection's request before it closes the socket. */
    SL_ASSERT(c->current == NULL);
    free(c);
    sl_stat_sub(&w->stats.connections, 1);
    atomic_fetch_sub_explicit(&w->server->open_connections, 1, memory_order_relaxed);
    if (linger_fd != -1)
        sl__linger_close(w, linger_fd);
    arm_trim(w);
}

struct sl_client_conn *sl_client_conn_of(h2o_socket_t *sock)
{
    return sock->on_close.cb == on_connection_close ? sock->on_close.data : NULL;
}

/* Over proxy.max_connections: answer 503 in the OpenAI envelope and close, rather than leaving
 * the client in the kernel's backlog. TLS clients cannot read plaintext, so they are closed. */
static void refuse_connection(struct sl_worker *w, h2o_socket_t *sock, bool tls)
{
    static const char body[] = "{\"error\":{\"message\":\"too many connections (proxy."
                               "max_connections); retry later\",\"type\":\"server_error\","
                               "\"code\":\"too_many_connections\"}}";
    char head[256];
    int fd = h2o_socket_get_fd(sock);
    sl_stat_add(&w->stats.connections_refused, 1);
    if (!tls) {
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                         sizeof(body) - 1);
        struct iovec v[2] = {{head, (size_t)n}, {(void *)body, sizeof(body) - 1}};
        /* A fresh socket's send buffer is empty, so this small write completes at once. */
        (void)!writev(fd, v, 2);
    }
    /* The request is on its way or already queued: close gracefully so the 503 is read. */
    int linger_fd = tls ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    h2o_socket_close(sock);
    if (linger_fd != -1)
        sl__linger_close(w, linger_fd);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct sl_worker_listener *l = listener->data;
    struct sl_worker *w = l->worker;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        /* h2o 2.2.5 sets TCP_NODELAY on accepted sockets too; Sluice's contract should not
         * depend on that, since a stream chunk held by Nagle costs up to 40 ms. */
        int on = 1;
        setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        uint64_t max = sl_server_config(w->server)->proxy.max_connections;
        uint64_t open =
            atomic_fetch_add_explicit(&w->server->open_connections, 1, memory_order_relaxed);
        if (max != 0 && open >= max) {
            atomic_fetch_sub_explicit(&w->server->open_connections, 1, memory_order_relaxed);
            refuse_connection(w, sock, l->accept_ctx.ssl_ctx != NULL);
            continue;
        }
        sl_stat_add(&w->stats.connections, 1);
        struct sl_client_conn *c = sl_xcalloc(1, sizeof(*c));
        c->worker = w;
        c->sock = sock;
        c->_linger_fd = -1;
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = c;
        h2o_accept(&l->accept_ctx, sock);
    }
}

#define SWEEP_MS 100

struct sweep {
    uint64_t receiving;
};

/* Classifies one open request slot while closing. Requests that reached the router are counted
 * by stats.inflight already. An HTTP/1.1 connection with no byte of a next request is idle: it
 * is shut down so it closes now instead of at its idle timeout. Anything else is a request
 * still arriving (a slow upload), which must be allowed to finish. */
static int sweep_one(h2o_req_t *req, void *data)
{
    struct sweep *sw = data;
    if (sl_exchange_of(req) != NULL)
        return 0;
    if (req->version == 0 && req->timestamps.request_begin_at.tv_sec == 0) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        if (sock != NULL)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
        return 0;
    }
    sw->receiving++;
    return 0;
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    struct sl_worker *w = SL_CONTAINER_OF(entry, struct sl_worker, _sweep_entry);
    struct sweep sw = {0};
    w->ctx.globalconf->http1.callbacks.foreach_request(&w->ctx, sweep_one, &sw);
    w->ctx.globalconf->http2.callbacks.foreach_request(&w->ctx, sweep_one, &sw);
    atomic_store_explicit(&w->stats.receiving, sw.receiving, memory_order_relaxed);
    atomic_store_explicit(&w->stats.sweeps, atomic_load(&w->stats.sweeps) + 1,
                          memory_order_release);
    h2o_timeout_link(w->ctx.loop, &w->_sweep_timeout, &w->_sweep_entry);
}

static void close_listeners(struct sl_worker *w)
{
    for (size_t i = 0; i < SL_WORKER_MAX_LISTENERS; i++) {
        struct sl_worker_listener *l = &w->_listeners[i];
        if (l->sock == NULL)
            continue;
        h2o_socket_read_stop(l->sock);
        h2o_socket_close(l->sock);
        l->sock = NULL;
        l->fd = -1;
    }
    /* Sets shutdown_requested (HTTP/1.1 keep-alive ends) and sends HTTP/2 GOAWAY. */
    h2o_context_request_shutdown(&w->ctx);
    if (!h2o_timeout_is_linked(&w->_sweep_entry))
        on_sweep(&w->_sweep_entry);
}

static void set_tls(struct sl_worker *w, SSL_CTX *ctx)
{
    for (size_t i = 0; i < SL_WORKER_MAX_LISTENERS; i++) {
        struct sl_worker_listener *l = &w->_listeners[i];
        if (l->accept_ctx.ssl_ctx == NULL)
            continue;
        SSL_CTX_free(l->accept_ctx.ssl_ctx);
        SSL_CTX_up_ref(ctx);
        l->accept_ctx.ssl_ctx = ctx;
    }
    SSL_CTX_free(ctx); /* the message's reference */
}

static void on_control_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct sl_worker *w = SL_CONTAINER_OF(rx, struct sl_worker, _control_rx);
    while (!h2o_linklist_is_empty(messages)) {
        struct worker_msg *m = SL_CONTAINER_OF(messages->next, struct worker_msg, super.link);
        h2o_linklist_unlink(&m->super.link);
        switch (m->cmd) {
        case SL_WORKER_SET_GENERATION:
            set_generation(w, m->arg);
            break;
        case SL_WORKER_SET_TLS:
            set_tls(w, m->arg);
            break;
        case SL_WORKER_CLOSE_LISTENERS:
            close_listeners(w);
            break;
        }
        free(m);
    }
}

void sl_worker_send(struct sl_worker *w, enum sl_worker_cmd cmd, void *arg)
{
    struct worker_msg *m = sl_xcalloc(1, sizeof(*m));
    m->cmd = cmd;
    m->arg = arg;
    h2o_multithread_send_message(&w->_control_rx, &m->super);
}

static void *worker_main(void *arg)
{
    struct sl_worker *w = arg;
    h2o_context_init(&w->ctx, h2o_evloop_create(), &w->server->globalconf);
    w->upstreams =
        sl_upstreams_new(&w->ctx, sl_server_config(w->server), sl_server_proxy_env(w->server));
    sl_upstreams_on_idle_closed(w->upstreams, on_upstream_idle_closed, w);
    w->metrics = sl_metrics_worker_new();
    w->limits = sl_rl_worker_new(w->server->limiter, &w->ctx, w->metrics);
    w->cache = sl_cache_worker_new(&w->ctx, sl_server_config(w->server), w->server->cache);
    h2o_timeout_init(w->ctx.loop, &w->client_watch_timeout, CLIENT_WATCH_MS);
    h2o_timeout_init(w->ctx.loop, &w->_trim_timeout, TRIM_QUIET_MS);
    w->_trim_entry.cb = on_trim;
    uint64_t ka_secs = sl_server_config(w->server)->downstream.sse_keepalive_interval_secs;
    if (ka_secs != 0) {
        h2o_timeout_init(w->ctx.loop, &w->_sse_keepalive, ka_secs * 1000);
        w->sse_keepalive_timeout = &w->_sse_keepalive;
    }
    w->svc = (struct sl_services){.cfg = sl_server_config(w->server),
                                  .upstreams = w->upstreams,
                                  .metrics = w->metrics,
                                  .sse_keepalive = w->sse_keepalive_timeout,
                                  .client_watch = &w->client_watch_timeout,
                                  .draining = sl_server_draining_flag(w->server),
                                  .limits = w->limits,
                                  .cache = w->cache,
                                  .worker = w->id};
    h2o_multithread_register_receiver(w->ctx.queue, &w->_control_rx, on_control_messages);
    h2o_timeout_init(w->ctx.loop, &w->_sweep_timeout, SWEEP_MS);
    w->_sweep_entry.cb = on_sweep;
    sl__linger_init(w);
    for (size_t i = 0; i < SL_WORKER_MAX_LISTENERS; i++) {
        struct sl_worker_listener *l = &w->_listeners[i];
        if (l->fd == -1)
            continue;
        l->worker = w;
        l->accept_ctx.ctx = &w->ctx;
        l->accept_ctx.hosts = w->server->globalconf.hosts;
        l->sock = h2o_evloop_socket_create(w->ctx.loop, l->fd, H2O_SOCKET_FLAG_DONT_READ);
        l->sock->data = l;
        h2o_socket_read_start(l->sock, on_accept);
    }
    sl__server_worker_started(w->server);
    /* The loop never ends on its own: the process exits from the main thread once draining is
     * complete. h2o_evloop_run returns -1 when a signal interrupts epoll_wait; keep going. */
    for (;;)
        h2o_evloop_run(w->ctx.loop, INT32_MAX);
    return NULL;
}

int sl_worker_start(struct sl_worker *w, struct sl_generation *g)
{
    w->_pin = new_pin(g);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&w->_thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    return rc;
}
