/* The limits phase: after access, before the upstream call. It plans the request's layers (the
 * key's limits and budget, the model's limits, matching policies), reserves them (waiting on
 * Redis without blocking the loop when a lease must be renewed), and answers 429 (503 when the
 * shared store is unreachable and configured to deny). For a model group the gate holds the
 * group's own limit; each attempt on a target reserves the target's own limits and the policies
 * that follow the model (sl_limits_target), and a target whose limits refuse is failed over
 * like a 429 from it. The reservation lives in the request's
 * pool with a dispose callback, so whatever ends the request (its response, an error, the
 * caller leaving, an HTTP/2 reset) ends it too: tokens and cost are added when the log is
 * written, concurrency slots released, and never leaked. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/json.h"
#include "sluice/put.h"
#include "sluice/ratelimit.h"

struct limits {
    struct sl_exchange *x;
    struct sl_rl_worker *w;
    struct sl_reservation r; /* the gate's; state IDLE with n = 0 when nothing applied there */
    bool usage_added;        /* tokens and cost were counted at the response head */
    bool finished;
    /* A model group's current attempt: its target's own layers (one attempt at a time). */
    struct sl_reservation target;
    bool target_open; /* planned for the attempt running; committed when it ends */
    sl_limits_target_cb *target_cb;
    void *target_ud;
};

static int64_t now_secs(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec;
}

static struct limits *limits_of(struct sl_exchange *x)
{
    return x->mod[SL_MOD_LIMITS];
}

/* A backstop: the log hook normally finished the reservation already. A request freed without
 * ever being logged still gives its slots back. */
static void on_dispose(void *p)
{
    struct limits *lm = p;
    if (lm->target_open)
        sl_rl_commit(lm->w, &lm->target, 0, 0);
    lm->target_open = false;
    if (!lm->finished)
        sl_rl_commit(lm->w, &lm->r, 0, 0);
    lm->finished = true;
}

static struct limits *limits_new(struct sl_exchange *x, struct sl_rl_worker *w)
{
    struct limits *lm = h2o_mem_alloc_shared(&x->req->pool, sizeof(*lm), on_dispose);
    *lm = (struct limits){.x = x, .w = w};
    x->mod[SL_MOD_LIMITS] = lm;
    return lm;
}

/* ---- refusals ---- */

/* A number (and a one-letter suffix) written straight into the pool: eight of these go on every
 * chat completion of a limited key, so no printf. */
static void add_header(struct sl_exchange *x, const char *name, uint64_t v, const char *suffix)
{
    h2o_req_t *req = x->req;
    char *buf = h2o_mem_alloc_pool(&req->pool, 24), *end = sl_put_u64(buf, v);
    if (suffix[0] != '\0')
        *end++ = suffix[0];
    SL_ASSERT(suffix[0] == '\0' || suffix[1] == '\0');
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, buf,
                          (size_t)(end - buf));
}

static struct sl_str policy_extra(struct sl_exchange *x, const struct sl_rl_policy *p)
{
    struct sl_buf b;
    sl_buf_init(&b, 8 * strlen(p->name) + 128);
    sl_buf_appendf(&b, ",\"policy\":{\"id\":\"%s\",\"name\":", p->id);
    sl_json_escape(&b, sl_str_from_cstr(p->name));
    sl_buf_append(&b, "}", 1);
    struct sl_str r = sl_str_from_iov(h2o_strdup(&x->req->pool, b.ptr, b.len));
    sl_buf_dispose(&b);
    return r;
}

static void usd(char *buf, size_t cap, uint64_t nusd)
{
    /* Cents are what people read; sub-cent spend still shows as 0.00 + the exact figure in
     * spent_usd. */
    snprintf(buf, cap, "%" PRIu64 ".%02" PRIu64, nusd / 1000000000u,
             nusd % 1000000000u / 10000000u);
}

static void utc_time(char *buf, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void refuse_budget(struct sl_exchange *x, const struct sl_rl_refusal *f)
{
    static const char *const periods[] = {"day", "week", "month"};
    const char *period = periods[x->key->budget.window];
    char spent[48], limit[48], resets[32], exact_spent[48], exact_limit[48];
    usd(spent, sizeof(spent), f->spent_nusd);
    usd(limit, sizeof(limit), f->limit_nusd);
    utc_time(resets, sizeof(resets), f->period_end);
    snprintf(exact_spent, sizeof(exact_spent), "%" PRIu64 ".%09" PRIu64,
             f->spent_nusd / 1000000000u, f->spent_nusd % 1000000000u);
    snprintf(exact_limit, sizeof(exact_limit), "%" PRIu64 ".%09" PRIu64,
             f->limit_nusd / 1000000000u, f->limit_nusd % 1000000000u);
    struct sl_buf b;
    sl_buf_init(&b, 8 * strlen(x->key->name) + 512);
    sl_buf_appendf(&b, ",\"scope\":\"api_key\",\"scope_ref\":");
    sl_json_escape(&b, sl_str_from_cstr(x->key->name));
    sl_buf_appendf(&b,
                   ",\"limit_usd\":\"%s\",\"spent_usd\":\"%s\",\"period\":\"%s\","
                   "\"period_resets_at\":\"%s\",\"retry_after_seconds\":%" PRIu64,
                   exact_limit, exact_spent, period, resets, f->retry_after_secs);
    struct sl_str extra = sl_str_from_iov(h2o_strdup(&x->req->pool, b.ptr, b.len));
    sl_buf_dispose(&b);
    add_header(x, "retry-after", f->retry_after_secs, "");
    x->log.limited = "api_key:budget";
    sl_exchange_error_extra(x, extra, SL_ERR_BUDGET_EXCEEDED, x->key->name, spent, limit, period,
                            resets);
}

static const char *limited_label(struct sl_exchange *x, const struct sl_rl_refusal *f)
{
    const char *what = f->reason == SL_RL_CONCURRENCY ? "concurrency" : sl_rl_dim_name(f->dim);
    const char *layer = sl_rl_layer_name(f->layer);
    size_t n = strlen(layer) + strlen(what) + 2;
    char *s = h2o_mem_alloc_pool(&x->req->pool, n);
    snprintf(s, n, "%s:%s", layer, what);
    return s;
}

static void reply_refusal(struct sl_exchange *x, const struct sl_rl_refusal *f)
{
    char suffix[600] = "";
    struct sl_str extra = SL_STR_NULL;
    if (f->reason == SL_RL_BUDGET) {
        refuse_budget(x, f);
        return;
    }
    if (f->reason == SL_RL_UNAVAILABLE) {
        x->log.limited = "unavailable";
        sl_exchange_error(x, SL_ERR_LIMITS_UNAVAILABLE);
        return;
    }
    x->log.limited = limited_label(x, f);
    if (f->policy != NULL) {
        snprintf(suffix, sizeof(suffix), " (policy '%s')", f->policy->name);
        extra = policy_extra(x, f->policy);
    }
    if (f->retry_after_secs != 0)
        add_header(x, "retry-after", f->retry_after_secs, "");
    switch (f->reason) {
    case SL_RL_REQUESTS:
        sl_exchange_error_extra(x, extra, SL_ERR_LIMIT_REQUESTS, suffix);
        break;
    case SL_RL_TOKENS:
        sl_exchange_error_extra(x, extra, SL_ERR_LIMIT_TOKENS, suffix);
        break;
    default:
        sl_exchange_error_extra(x, extra, SL_ERR_LIMIT_CONCURRENCY, suffix);
        break;
    }
}

/* ---- the phase ---- */

static void on_reserved(void *ud, int rc)
{
    struct limits *lm = ud;
    if (rc == SL_OK) {
        sl_exchange_resume(lm->x);
        return;
    }
    reply_refusal(lm->x, &lm->r.refusal);
}

/* Most requests of a deployment without limits stop at the first test: no allocation, no
 * clock read. */
static bool may_be_limited(const struct sl_exchange *x)
{
    return sl_rate_limit_is_set(&x->key->rate_limit) || x->key->budget.set ||
           sl_rate_limit_is_set(&x->model->rate_limit) || x->res->n_policies != 0;
}

int sl_phase_limits(struct sl_exchange *x)
{
    struct sl_rl_worker *w = x->svc->limits;
    if (w == NULL || !may_be_limited(x))
        return SL_DECLINED;
    struct limits *lm = limits_new(x, w);
    struct sl_rl_subject s = {.key = x->key, .model = x->model, .alias = x->log.model};
    /* A group's targets reserve the policies that follow the model, each for itself. */
    bool group = x->model->kind == SL_MODEL_ROUTING;
    if (sl_rl_plan(w, &lm->r, x->res, &s, SL_RL_PHASE_REQUEST, group, now_secs()) == 0) {
        lm->finished = true;
        return SL_DECLINED;
    }
    switch (sl_rl_reserve(w, &lm->r, on_reserved, lm)) {
    case SL_OK:
        return SL_OK;
    case SL_AGAIN:
        return SL_AGAIN;
    default:
        reply_refusal(x, &lm->r.refusal);
        return SL_DONE;
    }
}

/* ---- a model group's attempts ---- */

static void on_target_reserved(void *ud, int rc)
{
    struct limits *lm = ud;
    SL_ASSERT(lm->target_open && lm->target_cb != NULL);
    sl_limits_target_cb *cb = lm->target_cb;
    lm->target_cb = NULL;
    if (rc != SL_OK)
        lm->target_open = false; /* refused: nothing held */
    cb(lm->target_ud, rc == SL_OK ? SL_OK : SL_DECLINED);
}

int sl_limits_target(struct sl_exchange *x, const struct sl_model *target, sl_limits_target_cb *cb,
                     void *ud)
{
    struct sl_rl_worker *w = x->svc->limits;
    SL_ASSERT(x->model->kind == SL_MODEL_ROUTING && target->kind == SL_MODEL_DIRECT);
    if (w == NULL || (!sl_rate_limit_is_set(&target->rate_limit) && x->res->n_policies == 0))
        return SL_OK;
    struct limits *lm = limits_of(x);
    if (lm == NULL) {
        lm = limits_new(x, w);
        lm->finished = true; /* nothing held at the gate */
    }
    SL_ASSERT(!lm->target_open); /* the previous attempt was ended */
    lm->target = (struct sl_reservation){0};
    struct sl_rl_subject s = {
        .key = x->key, .model = target, .alias = x->log.model, .parent = x->model};
    if (sl_rl_plan(w, &lm->target, x->res, &s, SL_RL_PHASE_TARGET, false, now_secs()) == 0)
        return SL_OK;
    lm->target_open = true;
    lm->target_cb = cb;
    lm->target_ud = ud;
    int rc = sl_rl_reserve(w, &lm->target, on_target_reserved, lm);
    if (rc == SL_AGAIN)
        return SL_AGAIN;
    lm->target_cb = NULL;
    if (rc == SL_OK)
        return SL_OK;
    lm->target_open = false; /* refused: nothing held */
    return SL_DECLINED;
}

void sl_limits_target_end(struct sl_exchange *x)
{
    struct limits *lm = limits_of(x);
    if (lm == NULL || !lm->target_open)
        return;
    lm->target_open = false;
    lm->target_cb = NULL;
    sl_rl_commit(lm->w, &lm->target, 0, 0);
}

void sl_limits_reply_target_refusal(struct sl_exchange *x)
{
    struct limits *lm = limits_of(x);
    SL_ASSERT(lm != NULL && lm->target.state == SL_RL_REFUSED);
    reply_refusal(x, &lm->target.refusal);
}

/* ---- the response and the end ---- */

static uint64_t tokens_of(const struct sl_exchange *x)
{
    return (uint64_t)SL_MAX(x->log.prompt_tokens, 0) +
           (uint64_t)SL_MAX(x->log.completion_tokens, 0);
}

/* x-ratelimit-* on successful chat completions, from the key's own limits after this request's
 * usage is counted (reference 4.2). A JSON reply's usage is known at its head: count it now,
 * so the headers and the next request see it. */
void sl_limits_response_start(struct sl_exchange *x)
{
    struct limits *lm = limits_of(x);
    int status = x->req->res.status;
    bool gate = lm != NULL && lm->r.state == SL_RL_HELD;
    bool target = lm != NULL && lm->target_open && lm->target.state == SL_RL_HELD;
    if ((!gate && !target) || status < 200 || status > 299)
        return;
    if (!x->log.stream && x->usage.input_tokens >= 0 && x->usage.output_tokens >= 0) {
        uint64_t in = (uint64_t)x->usage.input_tokens, out = (uint64_t)x->usage.output_tokens;
        const struct sl_model *served = x->target != NULL ? x->target : x->model;
        uint64_t cost = served->cost.set ? sl_cost_nusd(&served->cost, in, out) : 0;
        if (gate)
            sl_rl_add_usage(lm->w, &lm->r, in + out, cost);
        if (target)
            sl_rl_add_usage(lm->w, &lm->target, in + out, cost);
        lm->usage_added = true;
    }
    if (!gate)
        return;
    if (x->route == NULL || strcmp(x->route->name, "chat_completions") != 0)
        return;
    const struct sl_rl_layer *key = NULL;
    for (unsigned i = 0; i < lm->r.n && key == NULL; i++)
        key = lm->r.layers[i].kind == SL_RL_LAYER_KEY ? &lm->r.layers[i] : NULL;
    if (key == NULL)
        return;
    struct sl_rl_status st;
    sl_rl_peek(lm->w, key, now_secs(), &st);
    if (st.has_rpm) {
        add_header(x, "x-ratelimit-limit-requests", st.rpm_limit, "");
        add_header(x, "x-ratelimit-remaining-requests", st.rpm_remaining, "");
        add_header(x, "x-ratelimit-reset-requests", st.rpm_reset_secs, "s");
    }
    if (st.has_tpm) {
        add_header(x, "x-ratelimit-limit-tokens", st.tpm_limit, "");
        add_header(x, "x-ratelimit-remaining-tokens", st.tpm_remaining, "");
        add_header(x, "x-ratelimit-reset-tokens", st.tpm_reset_secs, "s");
    }
    if (st.has_concurrency) {
        add_header(x, "x-ratelimit-limit-concurrent", st.concurrency_limit, "");
        add_header(x, "x-ratelimit-remaining-concurrent", st.concurrency_remaining, "");
    }
}

void sl_limits_finish(struct sl_exchange *x)
{
    struct limits *lm = limits_of(x);
    if (lm == NULL)
        return;
    uint64_t tokens = lm->usage_added ? 0 : tokens_of(x);
    uint64_t cost = lm->usage_added ? 0 : x->log.cost_nusd;
    /* The attempt still open is the one that answered (a failed one was ended at its verdict). */
    if (lm->target_open) {
        lm->target_open = false;
        lm->target_cb = NULL;
        sl_rl_commit(lm->w, &lm->target, tokens, cost);
    }
    if (lm->finished)
        return;
    lm->finished = true;
    sl_rl_commit(lm->w, &lm->r, tokens, cost);
}
