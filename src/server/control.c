#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "server_internal.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/cache.h"
#include "sluice/cache_phase.h"
#include "sluice/clock.h"
#include "sluice/generation.h"
#include "sluice/listener.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/reload.h"
#include "sluice/route.h"
#include "sluice/server.h"
#include "sluice/worker.h"
#include "sluice_version.h"

#define POLL_MS               100
#define STILL_DRAINING_LOG_MS 5000
#define METRICS_MAX_BYTES     (16u * 1024 * 1024)

/* Shutdown is an explicit state machine driven by signals and timers. */
enum control_state {
    CONTROL_RUNNING = 0, /* serving normally */
    CONTROL_DRAINING,    /* signal received: health says 503, listeners still accept */
    CONTROL_CLOSING,     /* listeners closed; waiting for in-flight requests to finish */
    CONTROL_DONE,        /* nothing in flight: the loop returns and the process exits 0 */
};

struct sl_control {
    struct sl_server *server;
    h2o_evloop_t *loop;
    enum control_state state;
    int signal_fd;
    h2o_socket_t *signal_sock;
    h2o_timeout_t drain_timeout;
    h2o_timeout_entry_t drain_entry;
    h2o_timeout_t poll_timeout;
    h2o_timeout_entry_t poll_entry;
    uint64_t closing_since_ms;
    uint64_t last_progress_log_ms;
    /* metrics listener */
    int metrics_fd;
    h2o_globalconf_t metrics_gc;
    h2o_context_t metrics_ctx;
    h2o_accept_ctx_t metrics_accept;
    h2o_socket_t *metrics_sock;
    bool metrics_ready;
};

static void set_state(struct sl_control *c, enum control_state to)
{
    /* Legal moves only go forward, one step at a time. */
    SL_ASSERT((int)to == (int)c->state + 1);
    c->state = to;
}

static uint64_t inflight_total(const struct sl_server *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        n += atomic_load_explicit(&s->workers[i].stats.inflight, memory_order_relaxed);
        n += atomic_load_explicit(&s->workers[i].stats.receiving, memory_order_relaxed);
    }
    return n;
}

/* True once every worker has closed its listeners and counted what it still receives. */
static bool all_workers_swept(const struct sl_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (atomic_load_explicit(&s->workers[i].stats.sweeps, memory_order_acquire) == 0)
            return false;
    }
    return true;
}

static void on_poll(h2o_timeout_entry_t *entry)
{
    struct sl_control *c = SL_CONTAINER_OF(entry, struct sl_control, poll_entry);
    uint64_t n = inflight_total(c->server);
    if (n == 0 && all_workers_swept(c->server)) {
        set_state(c, CONTROL_DONE);
        return;
    }
    uint64_t now = h2o_now(c->loop);
    if (now - c->last_progress_log_ms >= STILL_DRAINING_LOG_MS) {
        c->last_progress_log_ms = now;
        sl_log_info("still draining: %llu request(s) in flight after %llu s", (unsigned long long)n,
                    (unsigned long long)((now - c->closing_since_ms) / 1000));
    }
    h2o_timeout_link(c->loop, &c->poll_timeout, &c->poll_entry);
}

static void close_all_listeners(struct sl_control *c)
{
    struct sl_server *s = c->server;
    for (unsigned i = 0; i < s->nworkers; i++)
        sl_worker_send(&s->workers[i], SL_WORKER_CLOSE_LISTENERS, NULL);
    set_state(c, CONTROL_CLOSING);
    c->closing_since_ms = c->last_progress_log_ms = h2o_now(c->loop);
    sl_log_info("drain window over: listeners closed; waiting for %llu request(s) in flight",
                (unsigned long long)inflight_total(s));
    on_poll(&c->poll_entry);
}

static void on_drain_window_over(h2o_timeout_entry_t *entry)
{
    struct sl_control *c = SL_CONTAINER_OF(entry, struct sl_control, drain_entry);
    close_all_listeners(c);
}

static void begin_drain(struct sl_control *c, const char *signame)
{
    struct sl_server *s = c->server;
    if (c->state != CONTROL_RUNNING) {
        sl_log_warn("second %s: exiting now with %llu request(s) in flight", signame,
                    (unsigned long long)inflight_total(s));
        _exit(1);
    }
    atomic_store(&s->draining, true);
    set_state(c, CONTROL_DRAINING);
    uint64_t secs = s->cfg->shutdown.min_drain_secs;
    sl_log_info("received %s: draining; health checks now fail, new requests are served for %llu "
                "s (shutdown.min_drain_secs), then listeners close",
                signame, (unsigned long long)secs);
    if (secs == 0) {
        close_all_listeners(c);
        return;
    }
    h2o_timeout_link(c->loop, &c->drain_timeout, &c->drain_entry);
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    struct sl_control *c = sock->data;
    struct signalfd_siginfo si;
    SL_UNUSED(err);
    while (read(c->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
            begin_drain(c, "SIGTERM");
            break;
        case SIGINT:
            begin_drain(c, "SIGINT");
            break;
        case SIGHUP:
            sl_reload(c->server);
            break;
        }
    }
}

/* Every worker's store and counters, summed by obs (which knows nothing of workers). */
static void render_metrics(const struct sl_server *s, struct sl_buf *out)
{
    struct sl_metrics_process p = {.version = SL_VERSION, .draining = sl_server_is_draining(s)};
    unsigned n = sl_server_worker_count(s);
    const struct sl_metrics_worker **stores = sl_xcalloc(n + 1, sizeof(*stores));
    p.workers = n;
    for (unsigned i = 0; i < n; i++) {
        const struct sl_worker *w = sl_server_worker(s, i);
        stores[i] = w->metrics;
        p.open_connections += atomic_load_explicit(&w->stats.connections, memory_order_relaxed);
        p.connections_refused +=
            atomic_load_explicit(&w->stats.connections_refused, memory_order_relaxed);
        p.lingering_closes +=
            atomic_load_explicit(&w->stats.lingering_closes, memory_order_relaxed);
        for (size_t c = 0; c < SL_METRICS_STATUS_CLASSES; c++)
            p.http_requests[c] += atomic_load_explicit(&w->stats.requests[c], memory_order_relaxed);
    }
    struct sl_limiter_stats ls;
    sl_limiter_stats(s->limiter, &ls);
    p.ratelimit_redis = ls.redis;
    p.redis_up = ls.workers_redis_up == ls.workers && ls.workers != 0;
    p.redis_failures = ls.redis_failures;
    p.redis_calls = ls.redis_calls;
    p.redis_fallback_allowed = ls.local_allowed;
    p.redis_fallback_denied = ls.denied_unavailable;
    struct sl_cache_stats cs;
    sl_cache_store_stats(s->cache->store, &cs);
    p.cache_bytes = cs.bytes;
    p.cache_entries = cs.entries;
    p.cache_evictions = cs.evictions;
    p.cache_expirations = cs.expirations;
    p.cache_redis = s->cache->redis;
    p.cache_redis_up = atomic_load(&s->cache->workers_up) == n && n != 0;
    p.cache_redis_errors = atomic_load(&s->cache->redis_errors);
    /* Routing state is process-wide: one row per direct model of the generation serving. */
    const struct sl_resources *res = sl_server_generation(s)->res;
    struct sl_metrics_target *targets = sl_xcalloc(res->n_models + 1, sizeof(*targets));
    size_t ntargets = sl_route_target_stats(res, sl_now_us() / 1000, targets, res->n_models);
    sl_metrics_render(&p, stores, n, targets, ntargets, out);
    free(targets);
    free(stores);
}

static int on_metrics_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct sl_control *c = *(struct sl_control **)(self + 1);
    static h2o_generator_t generator = {NULL, NULL};
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return -1;
    const char *path = c->server->cfg->observability.prometheus.path;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path)))
        return -1;
    struct sl_buf out;
    sl_buf_init(&out, METRICS_MAX_BYTES);
    render_metrics(c->server, &out);
    h2o_iovec_t body = h2o_strdup(&req->pool, out.ptr != NULL ? out.ptr : "", out.len);
    sl_buf_dispose(&out);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

static void on_metrics_accept(h2o_socket_t *listener, const char *err)
{
    struct sl_control *c = listener->data;
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(&c->metrics_accept, sock);
}

int sl_control_bind(struct sl_server *s)
{
    struct sl_control *c = sl_xcalloc(1, sizeof(*c));
    c->server = s;
    c->metrics_fd = -1;
    c->signal_fd = -1;
    s->control = c;
    if (!s->cfg->observability.prometheus.enabled)
        return SL_OK;
    c->metrics_fd =
        sl_listener_open("metrics", &s->cfg->observability.prometheus.addr, false, false);
    return c->metrics_fd == -1 ? SL_ERR : SL_OK;
}

static void setup_metrics_listener(struct sl_control *c)
{
    h2o_config_init(&c->metrics_gc);
    c->metrics_gc.server_name = c->server->globalconf.server_name;
    h2o_hostconf_t *host =
        h2o_config_register_host(&c->metrics_gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h) + sizeof(struct sl_control *));
    h->on_req = on_metrics_req;
    *(struct sl_control **)(h + 1) = c;
    h2o_context_init(&c->metrics_ctx, c->loop, &c->metrics_gc);
    c->metrics_accept.ctx = &c->metrics_ctx;
    c->metrics_accept.hosts = c->metrics_gc.hosts;
    c->metrics_sock = h2o_evloop_socket_create(c->loop, c->metrics_fd, H2O_SOCKET_FLAG_DONT_READ);
    c->metrics_sock->data = c;
    h2o_socket_read_start(c->metrics_sock, on_metrics_accept);
    c->metrics_ready = true;
    sl_log_info("metrics listening on http://%s%s",
                c->server->cfg->observability.prometheus.addr.text,
                c->server->cfg->observability.prometheus.path);
}

int sl_control_start(struct sl_server *s, const sigset_t *signals)
{
    struct sl_control *c = s->control;
    c->loop = h2o_evloop_create();
    c->signal_fd = signalfd(-1, signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (c->signal_fd == -1) {
        sl_log_error("signalfd: %s", strerror(errno));
        return SL_ERR;
    }
    c->signal_sock = h2o_evloop_socket_create(c->loop, c->signal_fd, H2O_SOCKET_FLAG_DONT_READ);
    c->signal_sock->data = c;
    h2o_socket_read_start(c->signal_sock, on_signal);
    h2o_timeout_init(c->loop, &c->drain_timeout, s->cfg->shutdown.min_drain_secs * 1000);
    c->drain_entry.cb = on_drain_window_over;
    h2o_timeout_init(c->loop, &c->poll_timeout, POLL_MS);
    c->poll_entry.cb = on_poll;
    if (c->metrics_fd != -1)
        setup_metrics_listener(c);
    return SL_OK;
}

int sl_control_run(struct sl_server *s)
{
    struct sl_control *c = s->control;
    while (c->state != CONTROL_DONE)
        h2o_evloop_run(c->loop, INT32_MAX);
    sl_log_info("sluice shut down cleanly");
    return 0;
}

void sl_control_dispose(struct sl_server *s)
{
    struct sl_control *c = s->control;
    if (c == NULL)
        return;
    if (c->metrics_fd != -1 && !c->metrics_ready)
        close(c->metrics_fd);
    free(c);
    s->control = NULL;
}
