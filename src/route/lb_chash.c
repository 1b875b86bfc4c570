/* consistent_hash: a ketama ring per tier. Every target owns 160 points per weight unit
 * (weights divided by their gcd and scaled to at most 64 units, so a tier's ring stays small
 * whatever the weights); a request's key (hash_on) lands on the first point at or after its
 * hash, and the attempt order follows the ring from there. Removing a target, or skipping one
 * that is filtered out or down, moves only that target's keys, each to its ring successor.
 *
 * Hashes are the reference's (FNV-1a finished by splitmix64, points over "name\0" and a
 * little-endian point number), so a key picks the same target as AISIX for the same targets. */
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"
#include "sluice/base.h"

#define POINTS_PER_UNIT 160
#define MAX_UNITS       64

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static int cmp_point(const void *pa, const void *pb)
{
    const struct sl_ring_point *a = pa, *b = pb;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return a->target < b->target ? -1 : (a->target > b->target);
}

static void build_ring(struct sl_route_group *g, struct sl_route_tier *tier)
{
    uint64_t units[SL_ROUTE_MAX_TARGETS], g_all = 0, sum = 0;
    for (size_t i = 0; i < tier->n; i++)
        g_all = gcd(g_all, g->weight[tier->idx[i]]);
    for (size_t i = 0; i < tier->n; i++) {
        units[i] = g->weight[tier->idx[i]] / SL_MAX(g_all, 1);
        sum += units[i];
    }
    for (size_t i = 0; sum > MAX_UNITS && i < tier->n; i++)
        units[i] = SL_MAX(units[i] * MAX_UNITS / sum, 1);
    size_t n = 0;
    for (size_t i = 0; i < tier->n; i++)
        n += (size_t)units[i] * POINTS_PER_UNIT;
    tier->ring = sl_xcalloc(n, sizeof(*tier->ring));
    for (size_t i = 0; i < tier->n; i++) {
        const char *name = g->rt->targets[tier->idx[i]].model->name;
        uint64_t base = sl__fnv1a(sl__fnv1a(SL__FNV_OFFSET, name, strlen(name)), "", 1);
        for (uint32_t p = 0; p < units[i] * POINTS_PER_UNIT; p++) {
            uint8_t le[4] = {(uint8_t)p, (uint8_t)(p >> 8), (uint8_t)(p >> 16), (uint8_t)(p >> 24)};
            tier->ring[tier->n_ring++] =
                (struct sl_ring_point){sl__mix64(sl__fnv1a(base, le, 4)), tier->idx[i]};
        }
    }
    qsort(tier->ring, tier->n_ring, sizeof(*tier->ring), cmp_point);
}

static void build(struct sl_route_group *g)
{
    for (size_t t = 0; t < g->n_tiers; t++)
        build_ring(g, &g->tiers[t]);
}

/* The first point at or after h (wrapping to 0). */
static size_t lower_bound(const struct sl_route_tier *tier, uint64_t h)
{
    size_t lo = 0, hi = tier->n_ring;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tier->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == tier->n_ring ? 0 : lo;
}

static size_t order(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out)
{
    uint8_t all[SL_ROUTE_MAX_TARGETS];
    size_t want = sl__tier_eligible(tier, c->eligible, all), n = 0;
    uint64_t seen = 0;
    if (want == 0)
        return 0;
    size_t at = lower_bound(tier, sl__route_hash(c->in->hash_key));
    for (size_t k = 0; k < tier->n_ring && n < want; k++) {
        uint32_t t = tier->ring[(at + k) % tier->n_ring].target;
        uint64_t bit = UINT64_C(1) << t;
        if ((c->eligible & bit) == 0 || (seen & bit) != 0)
            continue;
        seen |= bit;
        out[n++] = (uint8_t)t;
    }
    return n;
}

const struct sl_balancer_ops sl__lb_chash = {
    .name = "consistent_hash", .order = order, .build = build};
