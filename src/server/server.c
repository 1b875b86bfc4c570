#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "server_internal.h"
#include "sluice/base.h"
#include "sluice/cache_phase.h"
#include "sluice/http.h"
#include "sluice/listener.h"
#include "sluice/log.h"
#include "sluice/route.h"
#include "sluice/server.h"
#include "sluice/tls.h"
#include "sluice_version.h"

/* Keeps the running server reachable for leak checkers after main's frame is gone. */
__attribute__((used)) static struct sl_server *running_server;

struct sl_server *sl_server_new(struct sl_config *cfg, struct sl_resources *res,
                                struct sl_proxy_env *proxy)
{
    struct sl_server *s = sl_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    sl_route_bind(res, cfg->proxy.workers);
    s->gen = sl_generation_new(res, 1);
    s->proxy_env = *proxy;
    memset(proxy, 0, sizeof(*proxy));
    s->nworkers = cfg->proxy.workers;
    s->workers = sl_xcalloc(s->nworkers, sizeof(*s->workers));
    for (unsigned i = 0; i < s->nworkers; i++) {
        s->workers[i].id = i;
        s->workers[i].server = s;
        for (size_t j = 0; j < SL_WORKER_MAX_LISTENERS; j++)
            s->workers[i]._listeners[j].fd = -1;
    }
    pthread_mutex_init(&s->started_mutex, NULL);
    pthread_cond_init(&s->started_cond, NULL);
    s->server_name = sl_xasprintf("sluice/%s", SL_VERSION);
    s->limiter = sl_limiter_new(cfg);
    s->cache = sl_cache_process_new(cfg);

    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(s->server_name, strlen(s->server_name));
    /* One byte of slack: h2o refuses a chunked body at >= its limit but a Content-Length body
     * only above it, so the exact limit is enforced in the handler for both (http.c). h2o
     * still refuses anything larger before reading it. */
    s->globalconf.max_request_entity_size = cfg->proxy.request_body_limit_bytes + 1;
    /* h2o 2.2 reads idle keep-alive time and request-reading time with one timer. */
    uint64_t idle_ms = cfg->downstream.idle_timeout_secs != 0
                           ? cfg->downstream.idle_timeout_secs * 1000
                           : (uint64_t)INT32_MAX;
    s->globalconf.http1.req_timeout = idle_ms;
    s->globalconf.http2.idle_timeout = idle_ms;
    sl_http_setup(&s->globalconf, s);
    return s;
}

const struct sl_config *sl_server_config(const struct sl_server *s)
{
    return s->cfg;
}

const _Atomic bool *sl_server_draining_flag(const struct sl_server *s)
{
    return &s->draining;
}

bool sl_server_is_draining(const struct sl_server *s)
{
    return atomic_load_explicit(&s->draining, memory_order_relaxed);
}

const struct sl_proxy_env *sl_server_proxy_env(const struct sl_server *s)
{
    return &s->proxy_env;
}

const struct sl_generation *sl_server_generation(const struct sl_server *s)
{
    return s->gen;
}

uint64_t sl_server_publish(struct sl_server *s, struct sl_resources *res)
{
    sl_route_bind(res, s->nworkers);
    struct sl_generation *g = sl_generation_new(res, s->gen->id + 1);
    if (s->checker != NULL)
        sl_route_checker_publish(s->checker, g);
    for (unsigned i = 0; i < s->nworkers; i++) {
        sl_generation_ref(g);
        sl_worker_send(&s->workers[i], SL_WORKER_SET_GENERATION, g);
    }
    struct sl_generation *old = s->gen;
    s->gen = g;
    sl_generation_unref(old);
    return g->id;
}

unsigned sl_server_worker_count(const struct sl_server *s)
{
    return s->nworkers;
}

const struct sl_worker *sl_server_worker(const struct sl_server *s, unsigned i)
{
    SL_ASSERT(i < s->nworkers);
    return &s->workers[i];
}

/* Which listeners exist: plain HTTP on proxy.addr unless TLS is configured without its own
 * address (then proxy.addr is TLS), plus TLS on proxy.tls.addr when that is set. */
static int bind_proxy_listeners(struct sl_server *s)
{
    struct sl_config *cfg = s->cfg;
    bool tls = cfg->proxy.tls.cert_file != NULL;
    bool split = tls && cfg->proxy.tls.has_addr;
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct sl_worker_listener *ls = s->workers[i]._listeners;
        ls[0].fd =
            sl_listener_open(tls && !split ? "proxy TLS" : "proxy", &cfg->proxy.addr, true, i == 0);
        if (ls[0].fd == -1)
            return SL_ERR;
        if (tls && !split) {
            SSL_CTX_up_ref(s->tls_ctx);
            ls[0].accept_ctx.ssl_ctx = s->tls_ctx;
        }
        if (!split)
            continue;
        ls[1].fd = sl_listener_open("proxy TLS", &cfg->proxy.tls.addr, true, i == 0);
        if (ls[1].fd == -1)
            return SL_ERR;
        SSL_CTX_up_ref(s->tls_ctx);
        ls[1].accept_ctx.ssl_ctx = s->tls_ctx;
    }
    return SL_OK;
}

int sl_server_bind(struct sl_server *s)
{
    struct sl_config *cfg = s->cfg;
    if (cfg->proxy.tls.cert_file != NULL) {
        char err[512];
        s->tls_ctx = sl_tls_server_ctx_new(cfg->proxy.tls.cert_file, cfg->proxy.tls.key_file, err,
                                           sizeof(err));
        if (s->tls_ctx == NULL) {
            fprintf(stderr, "sluice: proxy.tls: %s\n", err);
            return SL_ERR;
        }
    }
    if (bind_proxy_listeners(s) != SL_OK)
        return SL_ERR;
    return sl_control_bind(s);
}

int sl__server_reload_tls(struct sl_server *s, char *err, size_t errlen)
{
    const struct sl_config *cfg = s->cfg;
    SSL_CTX *ctx =
        sl_tls_server_ctx_new(cfg->proxy.tls.cert_file, cfg->proxy.tls.key_file, err, errlen);
    if (ctx == NULL)
        return SL_ERR;
    for (unsigned i = 0; i < s->nworkers; i++) {
        SSL_CTX_up_ref(ctx);
        sl_worker_send(&s->workers[i], SL_WORKER_SET_TLS, ctx);
    }
    SSL_CTX_free(s->tls_ctx);
    s->tls_ctx = ctx;
    return SL_OK;
}

void sl__server_worker_started(struct sl_server *s)
{
    pthread_mutex_lock(&s->started_mutex);
    s->started++;
    pthread_cond_signal(&s->started_cond);
    pthread_mutex_unlock(&s->started_mutex);
}

static int start_workers(struct sl_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        sl_generation_ref(s->gen);
        int rc = sl_worker_start(&s->workers[i], s->gen);
        if (rc != 0) {
            sl_log_error("cannot start worker thread %u: %s", i, strerror(rc));
            return SL_ERR;
        }
    }
    pthread_mutex_lock(&s->started_mutex);
    while (s->started < s->nworkers)
        pthread_cond_wait(&s->started_cond, &s->started_mutex);
    pthread_mutex_unlock(&s->started_mutex);
    return SL_OK;
}

static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void sl_server_block_signals(void)
{
    sigset_t set;
    handled_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int sl_server_run(struct sl_server *s)
{
    sigset_t set;
    /* Blocked before any thread exists so every thread inherits the mask and the signals are
     * only ever read from the control loop's signalfd. */
    sl_server_block_signals();
    handled_signals(&set);

    running_server = s;
    if (start_workers(s) != SL_OK || sl_control_start(s, &set) != SL_OK)
        return 1;
    /* Background model checks run on their own thread, off the workers. */
    s->checker = sl_route_checker_start(s->cfg, &s->proxy_env, s->gen);
    const struct sl_config *cfg = s->cfg;
    const struct sl_resources *res = s->gen->res;
    bool tls = cfg->proxy.tls.cert_file != NULL, split = tls && cfg->proxy.tls.has_addr;
    char also[96] = "";
    if (split)
        snprintf(also, sizeof(also), " https://%s", cfg->proxy.tls.addr.text);
    sl_log_info("sluice %s listening on %s://%s%s workers=%u body_limit=%llu provider_keys=%zu "
                "models=%zu api_keys=%zu",
                SL_VERSION, tls && !split ? "https" : "http", cfg->proxy.addr.text, also,
                s->nworkers, (unsigned long long)cfg->proxy.request_body_limit_bytes,
                res->n_provider_keys, res->n_models, res->n_api_keys);
    return sl_control_run(s);
}

void sl_server_free(struct sl_server *s)
{
    /* Workers never return, and h2o owns connections reachable from their contexts; a server
     * that ran is therefore left for process exit to reclaim. Only never-started servers (bind
     * failures) are torn down. */
    if (s->started != 0)
        return;
    for (unsigned i = 0; i < s->nworkers; i++) {
        for (size_t j = 0; j < SL_WORKER_MAX_LISTENERS; j++) {
            if (s->workers[i]._listeners[j].fd != -1)
                close(s->workers[i]._listeners[j].fd);
            SSL_CTX_free(s->workers[i]._listeners[j].accept_ctx.ssl_ctx);
        }
    }
    sl_control_dispose(s);
    sl_limiter_free(s->limiter);
    sl_cache_process_free(s->cache);
    h2o_config_dispose(&s->globalconf);
    sl_generation_unref(s->gen);
    sl_proxy_env_dispose(&s->proxy_env);
    SSL_CTX_free(s->tls_ctx);
    pthread_mutex_destroy(&s->started_mutex);
    pthread_cond_destroy(&s->started_cond);
    free(s->workers);
    free(s->server_name);
    sl_config_free(s->cfg);
    free(s);
}
