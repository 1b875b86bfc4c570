/* least_latency: fastest first by a moving average (alpha 0.3) of each target's observed
 * latency: to the whole response, or for streams to the first event. A target without a sample
 * goes first, so it gets one. The average is process-wide: one compare-and-swap per successful
 * attempt on a target some least_latency group includes. */
#include <math.h>

#include "route_internal.h"

static size_t order(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out)
{
    double key[SL_ROUTE_MAX_TARGETS];
    size_t n = sl__tier_eligible(tier, c->eligible, out);
    for (size_t i = 0; i < n; i++) {
        const struct sl_target *t = sl__target_of(c->g->rt->targets[out[i]].model);
        uint64_t us = atomic_load_explicit(&t->ewma_us, memory_order_relaxed);
        key[out[i]] = us == SL__NO_SAMPLE ? -INFINITY : (double)us;
    }
    sl__sort_by(out, n, key);
    return n;
}

/* new = 0.3 * sample + 0.7 * old, in whole microseconds. */
static void observe(struct sl_target *t, enum sl__observe_event ev, uint64_t latency_us)
{
    if (ev != SL__OBSERVE_SUCCESS)
        return;
    uint64_t old = atomic_load_explicit(&t->ewma_us, memory_order_relaxed), next;
    do {
        next = old == SL__NO_SAMPLE ? latency_us : (3 * latency_us + 7 * old + 5) / 10;
        if (next == SL__NO_SAMPLE)
            next--;
    } while (!atomic_compare_exchange_weak_explicit(&t->ewma_us, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

const struct sl_balancer_ops sl__lb_least_latency = {
    .name = "least_latency", .order = order, .observe = observe};
