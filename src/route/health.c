/* Runtime state of direct models (reference 7.5): cooldowns, background check results,
 * consecutive failures, and the signals least_busy and least_latency order by. One struct
 * sl_target per model name for the life of the process (while any generation has the name), so
 * a reload keeps what was learnt. The request path only touches atomics of the target it is
 * about; the registry's lock is taken when a generation is bound or freed. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"
#include "sluice/base.h"

/* The reference's health levels (reporting only): 4 consecutive failures degrade, 8 are down. */
#define DEGRADED_AFTER 4
#define DOWN_AFTER     8
#define BUCKETS        4096

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_target *buckets[BUCKETS];

static size_t bucket_of(const char *name)
{
    return (size_t)(sl__route_hash(sl_str_from_cstr(name)) % BUCKETS);
}

struct sl_target *sl__target_get(const char *name)
{
    size_t b = bucket_of(name);
    pthread_mutex_lock(&registry_lock);
    struct sl_target *t = buckets[b];
    while (t != NULL && strcmp(t->name, name) != 0)
        t = t->next;
    if (t == NULL) {
        t = aligned_alloc(64, (sizeof(*t) + 63) / 64 * 64);
        SL_ASSERT(t != NULL);
        memset(t, 0, sizeof(*t));
        atomic_init(&t->ewma_us, SL__NO_SAMPLE);
        t->name = sl_xstrdup(name);
        t->next = buckets[b];
        buckets[b] = t;
    }
    t->refs++;
    pthread_mutex_unlock(&registry_lock);
    return t;
}

void sl__target_put(struct sl_target *t)
{
    size_t b = bucket_of(t->name);
    pthread_mutex_lock(&registry_lock);
    SL_ASSERT(t->refs > 0);
    bool last = --t->refs == 0;
    if (last) {
        struct sl_target **p = &buckets[b];
        while (*p != t)
            p = &(*p)->next;
        *p = t->next;
    }
    pthread_mutex_unlock(&registry_lock);
    if (!last)
        return;
    free(t->name);
    free(t);
}

bool sl__target_cooling(const struct sl_target *t, uint64_t now_ms)
{
    return atomic_load_explicit(&t->cooldown_until_ms, memory_order_relaxed) > now_ms;
}

bool sl__target_check_failing(const struct sl_model *m, uint64_t now_ms)
{
    const struct sl_health_check *hc = m->health_check;
    const struct sl_target *t = sl__target_of(m);
    if (hc == NULL || !hc->enabled ||
        atomic_load_explicit(&t->check_failed, memory_order_relaxed) == 0)
        return false;
    uint64_t at = atomic_load_explicit(&t->checked_at_ms, memory_order_relaxed);
    return now_ms <= at || now_ms - at <= hc->stale_after_seconds * 1000;
}

/* Calls the observe operation of every strategy whose groups include m. */
static void observe(const struct sl_model *m, enum sl__observe_event ev, uint64_t latency_us)
{
    for (unsigned s = 0, bits = m->_observers; bits != 0; s++, bits >>= 1) {
        const struct sl_balancer_ops *ops = sl__balancer((enum sl_route_strategy)s);
        if ((bits & 1) != 0 && ops->observe != NULL)
            ops->observe(sl__target_of(m), ev, latency_us);
    }
}

void sl_route_attempt_begin(const struct sl_model *target)
{
    observe(target, SL__OBSERVE_BEGIN, 0);
}

void sl_route_attempt_release(const struct sl_model *target)
{
    observe(target, SL__OBSERVE_RELEASE, 0);
}

/* The cooldown a failure earns under m's settings (reference cooldown.rs decide_cooldown), in
 * seconds; 0: none. */
static uint64_t cooldown_for(const struct sl_model *m, const struct sl_attempt_outcome *o)
{
    const struct sl_cooldown *c = &m->cooldown;
    if (!c->enabled || c->default_seconds == 0)
        return 0;
    switch (o->result) {
    case SL_ATTEMPT_STATUS:
        if (!sl_status_set_has(&c->trigger, o->status))
            return 0;
        if (c->honor_retry_after && o->has_retry_after)
            return SL_MIN(o->retry_after_s, c->max_seconds);
        return c->default_seconds;
    case SL_ATTEMPT_TIMEOUT:
        return c->trigger_on_timeout ? c->default_seconds : 0;
    case SL_ATTEMPT_TRANSPORT:
        return c->trigger_on_transport ? c->default_seconds : 0;
    default:
        return 0;
    }
}

/* Stores only what changes: a healthy target's line stays clean in every core's cache. */
static void clear_u64(_Atomic uint64_t *v)
{
    if (atomic_load_explicit(v, memory_order_relaxed) != 0)
        atomic_store_explicit(v, 0, memory_order_relaxed);
}

static void clear_u32(_Atomic uint32_t *v)
{
    if (atomic_load_explicit(v, memory_order_relaxed) != 0)
        atomic_store_explicit(v, 0, memory_order_relaxed);
}

static void count_failure(struct sl_target *t, const struct sl_attempt_outcome *o)
{
    bool counts = o->result != SL_ATTEMPT_STATUS || o->status >= 500;
    uint32_t n = atomic_load_explicit(&t->failures, memory_order_relaxed);
    if (counts && n <= DOWN_AFTER)
        atomic_fetch_add_explicit(&t->failures, 1, memory_order_relaxed);
}

uint64_t sl_route_attempt_end(const struct sl_model *target, const struct sl_attempt_outcome *o,
                              uint64_t now_ms)
{
    struct sl_target *t = sl__target_of(target);
    /* A model made for one call (a stored response's whose alias no longer names a model on its
     * key, api/responses.c) was never bound: it has no state to keep. */
    if (o->result == SL_ATTEMPT_NOT_COUNTED || t == NULL)
        return 0;
    if (o->result == SL_ATTEMPT_OK) {
        /* The reference's mark_healthy: a success ends a cooldown and forgives a failed
         * background check. */
        clear_u64(&t->cooldown_until_ms);
        clear_u32(&t->check_failed);
        clear_u32(&t->failures);
        observe(target, SL__OBSERVE_SUCCESS, o->latency_us);
        return 0;
    }
    count_failure(t, o);
    uint64_t secs = cooldown_for(target, o);
    if (secs == 0)
        return 0;
    uint64_t prev =
        atomic_exchange_explicit(&t->cooldown_until_ms, now_ms + secs * 1000, memory_order_relaxed);
    if (prev <= now_ms)
        atomic_fetch_add_explicit(&t->cooldowns, 1, memory_order_relaxed);
    return secs;
}

void sl_route_check_result(const struct sl_model *target, enum sl_check_result r, uint64_t now_ms)
{
    struct sl_target *t = sl__target_of(target);
    if (r == SL_CHECK_OK)
        atomic_store_explicit(&t->check_failed, 0, memory_order_relaxed);
    else if (r == SL_CHECK_FAILED)
        atomic_store_explicit(&t->check_failed, 1, memory_order_relaxed);
    atomic_store_explicit(&t->checked_at_ms, now_ms != 0 ? now_ms : 1, memory_order_relaxed);
}

size_t sl_route_target_stats(const struct sl_resources *res, uint64_t now_ms,
                             struct sl_metrics_target *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < res->n_models && n < cap; i++) {
        const struct sl_model *m = &res->models[i];
        const struct sl_target *t = m->_target;
        if (m->kind != SL_MODEL_DIRECT || t == NULL)
            continue;
        uint64_t until = atomic_load_explicit(&t->cooldown_until_ms, memory_order_relaxed);
        uint32_t failures = atomic_load_explicit(&t->failures, memory_order_relaxed);
        uint64_t ewma = atomic_load_explicit(&t->ewma_us, memory_order_relaxed);
        out[n++] = (struct sl_metrics_target){
            .name = m->name,
            .cooling = until > now_ms,
            .cooldown_remaining_s = until > now_ms ? (double)(until - now_ms) / 1000 : 0,
            .cooldowns = atomic_load_explicit(&t->cooldowns, memory_order_relaxed),
            .check_failing = sl__target_check_failing(m, now_ms),
            .level = failures >= DOWN_AFTER       ? 2
                     : failures >= DEGRADED_AFTER ? 1
                                                  : 0,
            .in_flight = atomic_load_explicit(&t->in_flight, memory_order_relaxed),
            .latency_ewma_s = ewma == SL__NO_SAMPLE ? -1 : (double)ewma / 1e6,
        };
    }
    return n;
}
