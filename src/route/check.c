/* Background model checks (models[].background_model_check): a small chat completion sent to
 * each checked model every interval_seconds, off the request path, on a thread of its own with
 * its own event loop and upstream client. A failure marks the model's target state failing, so
 * the plan leaves it out while others remain (route/plan.c); a success, or any successful
 * request, forgives it; a status in ignore_statuses (408 for a timeout) only records the time.
 * At most MAX_RUNNING checks run at once, as in the reference. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "route_internal.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/clock.h"
#include "sluice/generation.h"
#include "sluice/h2o.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/upstream.h"
#include "sluice/xlate.h"

#define TICK_MS          1000
#define MAX_RUNNING      4
#define MAX_CHECK_BODY   (64u * 1024)
#define MAX_RESPONSE     (1u << 20)
#define CHECK_REQUEST_ID "background-model-check"

struct sl_route_checker {
    const struct sl_config *cfg;
    const struct sl_proxy_env *proxy;
    h2o_globalconf_t gc;
    h2o_context_t ctx;
    struct sl_upstreams *up;
    h2o_multithread_receiver_t rx;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    struct sl_generation *gen;
    /* start-up: the caller waits until the thread's loop can take messages */
    pthread_mutex_t started_lock;
    pthread_cond_t started_cond;
    bool started;
    unsigned running;
    pthread_t thread;
};

struct gen_msg {
    h2o_multithread_message_t super;
    struct sl_generation *gen;
};

/* One check in progress. */
struct check {
    struct sl_route_checker *ck;
    struct sl_generation *gen; /* the generation model belongs to (a reference) */
    const struct sl_model *model;
    h2o_mem_pool_t pool;
    struct sl_buf body;
    int status;
    uint64_t started_ms;
    /* The request, kept while the family's prepare step (an access token) runs. */
    struct sl_upstream_call call;
    struct sl_provider_prep prep;
};

static uint64_t now_ms(void)
{
    return sl_now_us() / 1000;
}

/* {"model":...,"messages":[{"role":"user","content":prompt}],"max_tokens":N} in the caller's
 * chat wire, translated when the model's family speaks another. */
static int check_body(const struct sl_model *m, enum sl_wire wire, struct sl_buf *out)
{
    struct sl_buf chat;
    char tail[64];
    int rc = SL_OK;
    sl_buf_init(&chat, MAX_CHECK_BODY);
    snprintf(tail, sizeof(tail), "}],\"max_tokens\":%llu}",
             (unsigned long long)m->health_check->max_tokens);
    if (sl_buf_append(&chat, "{\"model\":", 9) != SL_OK ||
        sl_buf_append(&chat, m->model_name_json, strlen(m->model_name_json)) != SL_OK ||
        sl_buf_append(&chat, ",\"messages\":[{\"role\":\"user\",\"content\":", 38) != SL_OK ||
        sl_json_escape(&chat, sl_str_from_cstr(m->health_check->prompt)) != SL_OK ||
        sl_buf_append(&chat, tail, strlen(tail)) != SL_OK)
        rc = SL_E2BIG;
    if (rc == SL_OK && wire == SL_WIRE_CHAT) {
        rc = sl_buf_append(out, chat.ptr, chat.len);
    } else if (rc == SL_OK) {
        const struct sl_xlate_pair *pair = sl_xlate_for(SL_WIRE_CHAT, wire);
        struct sl_xlate_ctx xc = {.alias = sl_str_from_cstr(m->name),
                                  .upstream_model = sl_str_from_cstr(m->model_name),
                                  .id_seed = SL_STRLIT(CHECK_REQUEST_ID),
                                  .created = (int64_t)time(NULL)};
        char why[128];
        rc =
            pair != NULL ? pair->request(&xc, sl_buf_str(&chat), out, why, sizeof(why)) : SL_EPARSE;
    }
    sl_buf_dispose(&chat);
    return rc;
}

static void check_free(struct check *k)
{
    struct sl_target *t = sl__target_of(k->model);
    t->check_running = false;
    k->ck->running--;
    sl_buf_dispose(&k->body);
    h2o_mem_clear_pool(&k->pool);
    sl_generation_unref(k->gen);
    free(k);
}

/* Records the verdict; logs when it changes what routing does. */
static void verdict(struct check *k, enum sl_check_result r, const char *why)
{
    struct sl_target *t = sl__target_of(k->model);
    bool was = atomic_load_explicit(&t->check_failed, memory_order_relaxed) != 0;
    sl_route_check_result(k->model, r, now_ms());
    if (r == SL_CHECK_FAILED && !was)
        sl_log_warn("background check of model %s failed (%s): routing avoids it until a check "
                    "or a request succeeds",
                    k->model->name, why);
    else if (r == SL_CHECK_OK && was)
        sl_log_info("background check of model %s succeeded: back in rotation", k->model->name);
    check_free(k);
}

static int on_head(void *ud, const struct sl_upstream_head *h)
{
    struct check *k = ud;
    char why[32];
    k->status = h->status;
    if (h->status >= 200 && h->status < 300)
        return 0;
    snprintf(why, sizeof(why), "status %d", h->status);
    verdict(k,
            sl_status_set_has(&k->model->health_check->ignore, h->status) ? SL_CHECK_IGNORED
                                                                          : SL_CHECK_FAILED,
            why);
    return -1;
}

static int on_body(void *ud, const char *data, size_t len)
{
    struct check *k = ud;
    (void)sl_buf_append(&k->body, data, len); /* only its end matters; the cap keeps memory */
    return 0;
}

static void on_done(void *ud, enum sl_upstream_error err, const char *detail)
{
    struct check *k = ud;
    if (err == SL_UPSTREAM_OK) {
        verdict(k, SL_CHECK_OK, "ok");
        return;
    }
    bool timeout = err == SL_UPSTREAM_ERR_DEADLINE || err == SL_UPSTREAM_ERR_CONNECT_TIMEOUT;
    bool ignored = timeout && sl_status_set_has(&k->model->health_check->ignore, 408);
    verdict(k, ignored ? SL_CHECK_IGNORED : SL_CHECK_FAILED,
            detail != NULL ? detail : sl_upstream_error_name(err));
}

static const struct sl_upstream_cbs check_cbs = {on_head, on_body, on_done};

/* The head built (with the token, if any) and the check sent. */
static void send_check(struct check *k)
{
    const struct sl_model *m = k->model;
    h2o_iovec_t *bufs;
    size_t nbufs;
    sl_provider_for(m->key)->build_request(&k->pool, m->key, &k->call, &bufs, &nbufs);
    struct sl_upstream_opts opts = {.deadline_ms = m->health_check->timeout_seconds * 1000,
                                    .request_id = SL_STRLIT(CHECK_REQUEST_ID)};
    (void)sl_upstream_start(k->ck->up, &m->key->origin, bufs, nbufs, &opts, &check_cbs, k);
}

/* The family's prepare step finished, on this thread's loop (token.h wakes it as it wakes a
 * worker). */
static void on_prepared(struct sl_provider_prep *p, int rc)
{
    struct check *k = p->ud;
    if (rc != SL_OK) {
        verdict(k, SL_CHECK_FAILED, p->why);
        return;
    }
    k->call.token = p->token;
    send_check(k);
}

static void start_check(struct sl_route_checker *ck, const struct sl_model *m)
{
    const struct sl_provider_ops *prov = sl_provider_for(m->key);
    enum sl_wire wire =
        prov->wire_for(m->key, sl_str_from_cstr(m->model_name), SL_OP_CHAT, SL_WIRE_CHAT);
    struct check *k = sl_xcalloc(1, sizeof(*k));
    struct sl_buf body;
    *k = (struct check){.ck = ck, .gen = ck->gen, .model = m, .started_ms = now_ms()};
    sl_generation_ref(ck->gen);
    h2o_mem_init_pool(&k->pool);
    sl_buf_init(&k->body, MAX_RESPONSE);
    sl_buf_init(&body, MAX_CHECK_BODY);
    sl__target_of(m)->check_running = true;
    ck->running++;
    if (wire == SL_WIRE_COUNT || check_body(m, wire, &body) != SL_OK) {
        sl_buf_dispose(&body);
        verdict(k, SL_CHECK_FAILED, "the check request cannot be built for this provider");
        return;
    }
    h2o_iovec_t *piece = h2o_mem_alloc_pool(&k->pool, sizeof(*piece));
    *piece = h2o_strdup(&k->pool, body.ptr, body.len);
    sl_buf_dispose(&body);
    k->call = (struct sl_upstream_call){.op = SL_OP_CHAT,
                                        .wire = wire,
                                        .model = sl_str_from_cstr(m->model_name),
                                        .request_id = SL_STRLIT(CHECK_REQUEST_ID),
                                        .unix_time = (int64_t)time(NULL), /* request signing */
                                        .body = piece,
                                        .nbody = 1,
                                        .body_len = piece->len};
    k->call.absolute_form = sl_upstream_uses_forward_proxy(ck->up, &m->key->origin);
    if (prov->prepare == NULL) {
        send_check(k);
        return;
    }
    k->prep = (struct sl_provider_prep){.key = m->key,
                                        .pool = &k->pool,
                                        .upstreams = ck->up,
                                        .ctx = &ck->ctx,
                                        .done = on_prepared,
                                        .ud = k};
    int rc = prov->prepare(&k->prep);
    if (rc == SL_AGAIN)
        return; /* on_prepared goes on: a check is never cancelled */
    if (rc != SL_OK) {
        verdict(k, SL_CHECK_FAILED, k->prep.why);
        return;
    }
    k->call.token = k->prep.token;
    send_check(k);
}

/* Starts the checks that are due, oldest due first, up to MAX_RUNNING at once. */
static void on_tick(h2o_timeout_entry_t *e)
{
    struct sl_route_checker *ck = SL_CONTAINER_OF(e, struct sl_route_checker, tick_entry);
    const struct sl_resources *res = ck->gen->res;
    uint64_t now = now_ms();
    for (size_t i = 0; i < res->n_models && ck->running < MAX_RUNNING; i++) {
        const struct sl_model *m = &res->models[i];
        struct sl_target *t = m->_target;
        if (m->health_check == NULL || !m->health_check->enabled || t == NULL || t->check_running ||
            now < t->check_due_ms)
            continue;
        t->check_due_ms = now + m->health_check->interval_seconds * 1000;
        start_check(ck, m);
    }
    h2o_timeout_link(ck->ctx.loop, &ck->tick, &ck->tick_entry);
}

static void on_message(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct sl_route_checker *ck = SL_CONTAINER_OF(rx, struct sl_route_checker, rx);
    while (!h2o_linklist_is_empty(messages)) {
        struct gen_msg *m = SL_CONTAINER_OF(messages->next, struct gen_msg, super.link);
        h2o_linklist_unlink(&m->super.link);
        sl_generation_unref(ck->gen);
        ck->gen = m->gen;
        free(m);
    }
}

/* The loop is created on its own thread, as workers create theirs. */
static void *checker_main(void *arg)
{
    struct sl_route_checker *ck = arg;
    h2o_config_init(&ck->gc);
    /* h2o wants a host in every context; this one never serves anything. */
    h2o_config_register_host(&ck->gc, h2o_iovec_init(H2O_STRLIT("checks")), 65535);
    h2o_context_init(&ck->ctx, h2o_evloop_create(), &ck->gc);
    ck->up = sl_upstreams_new(&ck->ctx, ck->cfg, ck->proxy);
    h2o_multithread_register_receiver(ck->ctx.queue, &ck->rx, on_message);
    h2o_timeout_init(ck->ctx.loop, &ck->tick, TICK_MS);
    ck->tick_entry.cb = on_tick;
    h2o_timeout_link(ck->ctx.loop, &ck->tick, &ck->tick_entry);
    pthread_mutex_lock(&ck->started_lock);
    ck->started = true;
    pthread_cond_signal(&ck->started_cond);
    pthread_mutex_unlock(&ck->started_lock);
    /* The loop never ends on its own: the process exits from the main thread. */
    for (;;)
        h2o_evloop_run(ck->ctx.loop, INT32_MAX);
    return NULL;
}

struct sl_route_checker *sl_route_checker_start(const struct sl_config *cfg,
                                                const struct sl_proxy_env *proxy,
                                                struct sl_generation *gen)
{
    struct sl_route_checker *ck = sl_xcalloc(1, sizeof(*ck));
    ck->cfg = cfg;
    ck->proxy = proxy;
    sl_generation_ref(gen);
    ck->gen = gen;
    pthread_mutex_init(&ck->started_lock, NULL);
    pthread_cond_init(&ck->started_cond, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&ck->thread, &attr, checker_main, ck);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        sl_log_error("cannot start the background model check thread: %s", strerror(rc));
        sl_generation_unref(gen);
        free(ck);
        return NULL;
    }
    pthread_mutex_lock(&ck->started_lock);
    while (!ck->started)
        pthread_cond_wait(&ck->started_cond, &ck->started_lock);
    pthread_mutex_unlock(&ck->started_lock);
    return ck;
}

void sl_route_checker_publish(struct sl_route_checker *ck, struct sl_generation *gen)
{
    struct gen_msg *m = sl_xcalloc(1, sizeof(*m));
    sl_generation_ref(gen);
    m->gen = gen;
    h2o_multithread_send_message(&ck->rx, &m->super);
}
