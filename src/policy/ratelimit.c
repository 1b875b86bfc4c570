/* The limiter: the process's counters and the two phases over them (ratelimit.h). The memory
 * backend lives here; the redis backend (ratelimit_redis.c) leases from Redis and falls back to
 * these counters when Redis is unreachable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ratelimit_internal.h"
#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/metrics.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sl_limiter *sl_limiter_new(const struct sl_config *cfg)
{
    struct sl_limiter *l = sl_xcalloc(1, sizeof(*l));
    uint8_t rnd[16];
    static const char hex[] = "0123456789abcdef";
    l->cfg = cfg;
    l->redis = cfg->ratelimit.backend == SL_RL_BACKEND_REDIS;
    l->now_ms = wall_ms;
    sl__rl_store_init(&l->store);
    while (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        ;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        l->instance[2 * i] = hex[rnd[i] >> 4];
        l->instance[2 * i + 1] = hex[rnd[i] & 15];
    }
    return l;
}

void sl_limiter_free(struct sl_limiter *l)
{
    if (l == NULL)
        return;
    sl__rl_store_dispose(&l->store);
    free(l);
}

struct sl_rl_worker *sl_rl_worker_new(struct sl_limiter *l, h2o_context_t *ctx,
                                      struct sl_metrics_worker *metrics)
{
    struct sl_rl_worker *w = sl_xcalloc(1, sizeof(*w));
    w->l = l;
    w->ctx = ctx;
    w->metrics = metrics;
    w->id = atomic_fetch_add(&l->next_worker, 1);
    atomic_fetch_add(&l->workers, 1);
    if (l->redis)
        w->redis = sl__rl_redis_new(w);
    return w;
}

void sl_rl_worker_free(struct sl_rl_worker *w)
{
    if (w == NULL)
        return;
    if (w->redis != NULL)
        sl__rl_redis_free(w->redis);
    atomic_fetch_sub(&w->l->workers, 1);
    free(w);
}

void sl_limiter_stats(const struct sl_limiter *l, struct sl_limiter_stats *out)
{
    *out = (struct sl_limiter_stats){
        .redis = l->redis,
        .workers = atomic_load_explicit(&l->workers, memory_order_relaxed),
        .workers_redis_up = atomic_load_explicit(&l->workers_up, memory_order_relaxed),
        .redis_failures = atomic_load_explicit(&l->redis_failures, memory_order_relaxed),
        .local_allowed = atomic_load_explicit(&l->local_allowed, memory_order_relaxed),
        .denied_unavailable = atomic_load_explicit(&l->denied_unavailable, memory_order_relaxed),
        .redis_calls = atomic_load_explicit(&l->redis_calls, memory_order_relaxed),
    };
}

/* ---- refusals ---- */

static uint64_t window_left(enum sl_rl_dim d, int64_t now)
{
    uint64_t secs = sl__rl_window_secs(d);
    uint64_t left = secs - (uint64_t)now % secs;
    return left != 0 ? left : 1;
}

void sl__rl_refuse(struct sl_reservation *r, const struct sl_rl_layer *layer, enum sl_rl_reason why,
                   enum sl_rl_dim dim, int64_t now)
{
    r->refusal = (struct sl_rl_refusal){
        .reason = why, .layer = layer->kind, .policy = layer->policy, .dim = dim};
    if (why == SL_RL_REQUESTS || why == SL_RL_TOKENS)
        r->refusal.retry_after_secs = window_left(dim, now);
    if (why == SL_RL_BUDGET) {
        int64_t end;
        uint32_t period = sl_budget_period(layer->budget->window, now, &end);
        r->refusal.spent_nusd = sl__rl_spend_read(&layer->bucket->spend, period);
        r->refusal.limit_nusd = layer->budget->limit_nusd;
        r->refusal.period_end = end;
        r->refusal.retry_after_secs = (uint64_t)SL_MAX(end - now, 1);
    }
}

/* ---- the memory backend ---- */

static uint32_t window_number(enum sl_rl_dim d, int64_t now)
{
    return (uint32_t)((uint64_t)now / sl__rl_window_secs(d));
}

/* Concurrency first (cheapest, never consumes a window), then tokens and the budget (checked
 * only), then each request window (checked and counted); a refusal gives back what this layer
 * took. */
int sl__rl_memory_take(struct sl_reservation *r, unsigned i, int64_t now)
{
    struct sl_rl_layer *layer = &r->layers[i];
    const struct sl_rate_limit *lim = layer->limits;
    struct sl_rl_bucket *b = layer->bucket;
    if (lim->has_concurrency && layer->_conc == SL_RL_TAKE_NONE) {
        uint32_t cur = atomic_load_explicit(&b->inflight, memory_order_relaxed);
        do {
            if (cur >= lim->concurrency) {
                sl__rl_refuse(r, layer, SL_RL_CONCURRENCY, SL_RL_RPS, now);
                return SL_DECLINED;
            }
        } while (!atomic_compare_exchange_weak_explicit(
            &b->inflight, &cur, cur + 1, memory_order_relaxed, memory_order_relaxed));
        layer->_conc = SL_RL_TAKE_MEMORY;
    }
    for (enum sl_rl_dim d = SL_RL_TPM; d < SL_RL_DIMS; d++) {
        if ((lim->set & (1u << d)) != 0 &&
            sl__rl_counter_read(&b->win[d], window_number(d, now)) > lim->max[d]) {
            sl__rl_memory_untake(layer);
            sl__rl_refuse(r, layer, SL_RL_TOKENS, d, now);
            return SL_DECLINED;
        }
    }
    if (layer->budget != NULL) {
        int64_t end;
        uint32_t period = sl_budget_period(layer->budget->window, now, &end);
        if (sl__rl_spend_read(&b->spend, period) >= layer->budget->limit_nusd) {
            sl__rl_memory_untake(layer);
            sl__rl_refuse(r, layer, SL_RL_BUDGET, SL_RL_RPS, now);
            return SL_DECLINED;
        }
    }
    for (enum sl_rl_dim d = SL_RL_RPS; d < SL_RL_REQUEST_DIMS; d++) {
        if ((lim->set & (1u << d)) == 0 || layer->_take[d] != SL_RL_TAKE_NONE)
            continue;
        uint32_t wn = window_number(d, now);
        if (!sl__rl_counter_take(&b->win[d], wn, lim->max[d])) {
            sl__rl_memory_untake(layer);
            sl__rl_refuse(r, layer, SL_RL_REQUESTS, d, now);
            return SL_DECLINED;
        }
        layer->_take[d] = SL_RL_TAKE_MEMORY;
        layer->_period[d] = wn;
    }
    return SL_OK;
}

void sl__rl_memory_untake(struct sl_rl_layer *layer)
{
    for (enum sl_rl_dim d = SL_RL_RPS; d < SL_RL_REQUEST_DIMS; d++) {
        if (layer->_take[d] != SL_RL_TAKE_MEMORY)
            continue;
        sl__rl_counter_untake(&layer->bucket->win[d], layer->_period[d]);
        layer->_take[d] = SL_RL_TAKE_NONE;
    }
    if (layer->_conc == SL_RL_TAKE_MEMORY) {
        atomic_fetch_sub_explicit(&layer->bucket->inflight, 1, memory_order_relaxed);
        layer->_conc = SL_RL_TAKE_NONE;
    }
}

void sl__rl_memory_add(const struct sl_rl_layer *layer, int64_t now, uint64_t tokens,
                       uint64_t cost_nusd)
{
    const struct sl_rate_limit *lim = layer->limits;
    for (enum sl_rl_dim d = SL_RL_TPM; d < SL_RL_DIMS && tokens != 0; d++) {
        if ((lim->set & (1u << d)) != 0)
            sl__rl_counter_add(&layer->bucket->win[d], window_number(d, now), tokens);
    }
    if (layer->budget != NULL && cost_nusd != 0) {
        int64_t end;
        sl__rl_spend_add(&layer->bucket->spend, sl_budget_period(layer->budget->window, now, &end),
                         cost_nusd);
    }
}

static int memory_reserve(struct sl_reservation *r, int64_t now)
{
    for (unsigned i = 0; i < r->n; i++) {
        if (sl__rl_memory_take(r, i, now) == SL_OK)
            continue;
        for (unsigned j = 0; j < i; j++)
            sl__rl_memory_untake(&r->layers[j]);
        return SL_DECLINED;
    }
    return SL_OK;
}

/* ---- the phases ---- */

static int64_t now_secs(const struct sl_rl_worker *w)
{
    return w->l->now_ms() / 1000;
}

static void count_refusal(struct sl_rl_worker *w, const struct sl_reservation *r)
{
    static const char *const reasons[] = {"ok",          "requests", "tokens",
                                          "concurrency", "budget",   "unavailable"};
    if (w->metrics != NULL)
        sl_metrics_ratelimit_rejection(w->metrics, sl_rl_layer_name(r->refusal.layer),
                                       reasons[r->refusal.reason]);
}

int sl_rl_reserve(struct sl_rl_worker *w, struct sl_reservation *r, sl_rl_done_cb *cb, void *ud)
{
    SL_ASSERT(r->state == SL_RL_IDLE);
    int64_t now = now_secs(w);
    int rc;
    r->_cb = cb;
    r->_ud = ud;
    if (w->redis != NULL)
        rc = sl__rl_redis_reserve(w, r, now);
    else
        rc = memory_reserve(r, now);
    if (rc == SL_AGAIN) {
        r->state = SL_RL_PENDING;
        return SL_AGAIN;
    }
    r->state = rc == SL_OK ? SL_RL_HELD : SL_RL_REFUSED;
    if (rc != SL_OK)
        count_refusal(w, r);
    return rc;
}

void sl__rl_decided(struct sl_rl_worker *w, struct sl_reservation *r, int rc)
{
    SL_ASSERT(r->state == SL_RL_PENDING);
    r->state = rc == SL_OK ? SL_RL_HELD : SL_RL_REFUSED;
    if (rc != SL_OK)
        count_refusal(w, r);
    r->_cb(r->_ud, rc);
}

void sl_rl_add_usage(struct sl_rl_worker *w, struct sl_reservation *r, uint64_t tokens,
                     uint64_t cost_nusd)
{
    if (r->state != SL_RL_HELD || (tokens == 0 && cost_nusd == 0))
        return;
    int64_t now = now_secs(w);
    for (unsigned i = 0; i < r->n; i++) {
        if (w->redis != NULL)
            sl__rl_redis_add(w, &r->layers[i], now, tokens, cost_nusd);
        else
            sl__rl_memory_add(&r->layers[i], now, tokens, cost_nusd);
    }
}

void sl_rl_commit(struct sl_rl_worker *w, struct sl_reservation *r, uint64_t tokens,
                  uint64_t cost_nusd)
{
    switch (r->state) {
    case SL_RL_PENDING:
        sl__rl_redis_abandon(w, r);
        r->state = SL_RL_DONE;
        return;
    case SL_RL_HELD:
        break;
    default:
        r->state = SL_RL_DONE;
        return;
    }
    sl_rl_add_usage(w, r, tokens, cost_nusd);
    if (w->redis != NULL) {
        sl__rl_redis_release(w, r, now_secs(w));
    } else {
        for (unsigned i = 0; i < r->n; i++) {
            struct sl_rl_layer *layer = &r->layers[i];
            if (layer->_conc == SL_RL_TAKE_MEMORY)
                atomic_fetch_sub_explicit(&layer->bucket->inflight, 1, memory_order_relaxed);
            layer->_conc = SL_RL_TAKE_NONE;
        }
    }
    r->state = SL_RL_DONE;
}

void sl_rl_peek(struct sl_rl_worker *w, const struct sl_rl_layer *layer, int64_t now,
                struct sl_rl_status *out)
{
    const struct sl_rate_limit *lim = layer->limits;
    *out = (struct sl_rl_status){0};
    if (w->redis != NULL) {
        sl__rl_redis_peek(w, layer, now, out);
        return;
    }
    const struct sl_rl_bucket *b = layer->bucket;
    if (lim->set & (1u << SL_RL_RPM)) {
        uint64_t used = sl__rl_counter_read(&b->win[SL_RL_RPM], window_number(SL_RL_RPM, now));
        out->has_rpm = true;
        out->rpm_limit = lim->max[SL_RL_RPM];
        out->rpm_remaining = used < out->rpm_limit ? out->rpm_limit - used : 0;
        out->rpm_reset_secs = window_left(SL_RL_RPM, now);
    }
    if (lim->set & (1u << SL_RL_TPM)) {
        uint64_t used = sl__rl_counter_read(&b->win[SL_RL_TPM], window_number(SL_RL_TPM, now));
        out->has_tpm = true;
        out->tpm_limit = lim->max[SL_RL_TPM];
        out->tpm_remaining = used < out->tpm_limit ? out->tpm_limit - used : 0;
        out->tpm_reset_secs = window_left(SL_RL_TPM, now);
    }
    if (lim->has_concurrency) {
        uint32_t in = atomic_load_explicit(&b->inflight, memory_order_relaxed);
        out->has_concurrency = true;
        out->concurrency_limit = lim->concurrency;
        out->concurrency_remaining = in < lim->concurrency ? lim->concurrency - in : 0;
    }
}
