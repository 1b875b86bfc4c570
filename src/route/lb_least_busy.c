/* least_busy: least loaded first by (attempts in flight + 1) / weight, APISIX's least_conn
 * score: a heavier target takes proportionally more concurrency, and idle targets rank by
 * weight. In-flight counts are process-wide (one atomic add when an attempt starts, one when it
 * ends: for a stream, when the stream ends), kept only for targets some least_busy group
 * includes. */
#include "route_internal.h"
#include "sluice/base.h"

static size_t order(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out)
{
    double key[SL_ROUTE_MAX_TARGETS];
    size_t n = sl__tier_eligible(tier, c->eligible, out);
    for (size_t i = 0; i < n; i++) {
        const struct sl_target *t = sl__target_of(c->g->rt->targets[out[i]].model);
        int64_t busy = atomic_load_explicit(&t->in_flight, memory_order_relaxed);
        key[out[i]] = ((double)SL_MAX(busy, 0) + 1) / c->g->weight[out[i]];
    }
    sl__sort_by(out, n, key);
    return n;
}

static void observe(struct sl_target *t, enum sl__observe_event ev, uint64_t latency_us)
{
    SL_UNUSED(latency_us);
    if (ev == SL__OBSERVE_BEGIN)
        atomic_fetch_add_explicit(&t->in_flight, 1, memory_order_relaxed);
    else if (ev == SL__OBSERVE_RELEASE)
        atomic_fetch_sub_explicit(&t->in_flight, 1, memory_order_relaxed);
}

const struct sl_balancer_ops sl__lb_least_busy = {
    .name = "least_busy", .order = order, .observe = observe};
