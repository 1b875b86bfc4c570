/* A request's candidates, in the reference's order (7.1): tag filter, client ranges, priority
 * tiers ordered by the strategy, 1 + max_fallbacks of them, then the health filter. Everything
 * works on 64-bit masks of a group's targets and small stack arrays: no allocation, no lock. */
#include <math.h>
#include <string.h>

#include "route_internal.h"
#include "sluice/base.h"

/* Request tags past this many are ignored: matching is tags x targets x their tags. */
#define MAX_REQUEST_TAGS              32
#define ALL_UNAVAILABLE_RETRY_AFTER_S 30

const struct sl_balancer_ops *sl__balancer(enum sl_route_strategy s)
{
    static const struct sl_balancer_ops *const ops[SL_ROUTE_STRATEGIES] = {
        [SL_ROUTE_FAILOVER] = &sl__lb_failover,
        [SL_ROUTE_ROUND_ROBIN] = &sl__lb_round_robin,
        [SL_ROUTE_CONSISTENT_HASH] = &sl__lb_chash,
        [SL_ROUTE_LEAST_COST] = &sl__lb_least_cost,
        [SL_ROUTE_LEAST_LATENCY] = &sl__lb_least_latency,
        [SL_ROUTE_LEAST_BUSY] = &sl__lb_least_busy,
    };
    SL_ASSERT((unsigned)s < SL_ROUTE_STRATEGIES);
    return ops[s];
}

uint64_t sl__fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

uint64_t sl__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

uint64_t sl__route_hash(struct sl_str s)
{
    return sl__mix64(sl__fnv1a(SL__FNV_OFFSET, s.ptr, s.len));
}

size_t sl__tier_eligible(const struct sl_route_tier *tier, uint64_t eligible, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < tier->n; i++) {
        if ((eligible >> tier->idx[i] & 1) != 0)
            out[n++] = tier->idx[i];
    }
    return n;
}

void sl__sort_by(uint8_t *idx, size_t n, const double *key)
{
    for (size_t i = 1; i < n; i++) {
        uint8_t v = idx[i];
        size_t j = i;
        for (; j > 0 && key[idx[j - 1]] > key[v]; j--)
            idx[j] = idx[j - 1];
        idx[j] = v;
    }
}

/* ---- filters ---- */

static bool has_tag(const struct sl_route_target *t, struct sl_str tag)
{
    for (size_t k = 0; k < t->n_tags; k++) {
        if (sl_str_eq(sl_str_from_cstr(t->tags[k]), tag))
            return true;
    }
    return false;
}

/* Targets carrying tag. */
static uint64_t tagged_with(const struct sl_routing *rt, struct sl_str tag)
{
    uint64_t m = 0;
    for (size_t i = 0; i < rt->n_targets; i++) {
        if (has_tag(&rt->targets[i], tag))
            m |= UINT64_C(1) << i;
    }
    return m;
}

/* The reference's tag filter (LiteLLM's tag routing): without tagged targets every target;
 * a request's tags select the targets sharing any of them, else the "default"-tagged ones; a
 * request without tags gets the "default"-tagged targets, else all. */
static uint64_t by_tags(const struct sl_routing *rt, struct sl_str header, uint64_t all)
{
    if (!rt->tagged)
        return all;
    uint64_t defaults = tagged_with(rt, SL_STRLIT("default")), matched = 0;
    size_t seen = 0;
    struct sl_str rest = header;
    while (rest.len > 0 && seen < MAX_REQUEST_TAGS) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t len = comma != NULL ? (size_t)(comma - rest.ptr) : rest.len;
        struct sl_str tag = sl_str_trim(sl_str_init(rest.ptr, len));
        rest = comma != NULL ? sl_str_init(comma + 1, rest.len - len - 1) : SL_STR_NULL;
        if (tag.len == 0)
            continue;
        seen++;
        matched |= tagged_with(rt, tag);
    }
    if (seen == 0)
        return defaults != 0 ? defaults : all;
    return matched != 0 ? matched : defaults;
}

static bool client_allowed(const struct sl_model *m, const struct sl_ip *client)
{
    if (m->n_allowed_cidrs == 0)
        return true;
    /* An unknown client fails closed, as in the reference. */
    return client != NULL && sl_cidr_any(m->allowed_cidrs, m->n_allowed_cidrs, client);
}

static uint64_t by_client(const struct sl_routing *rt, uint64_t eligible, const struct sl_ip *ip)
{
    for (size_t i = 0; i < rt->n_targets; i++) {
        if ((eligible >> i & 1) != 0 && !client_allowed(rt->targets[i].model, ip))
            eligible &= ~(UINT64_C(1) << i);
    }
    return eligible;
}

/* The reference's filter_attempt_models: healthy candidates if any; else those merely cooling
 * down (a background check found the others broken); else all of them or none, by
 * when_all_unavailable. Order is kept. */
static enum sl_route_verdict by_health(const struct sl_routing *rt, uint64_t now_ms,
                                       struct sl_route_plan *out)
{
    const struct sl_model *healthy[SL_ROUTE_MAX_TARGETS], *cooling[SL_ROUTE_MAX_TARGETS];
    unsigned nh = 0, nc = 0;
    for (unsigned i = 0; i < out->n; i++) {
        const struct sl_model *m = out->targets[i];
        if (sl__target_cooling(sl__target_of(m), now_ms))
            cooling[nc++] = m;
        else if (!sl__target_check_failing(m, now_ms))
            healthy[nh++] = m;
    }
    if (nh != 0 && nh != out->n)
        memcpy(out->targets, healthy, nh * sizeof(*healthy));
    else if (nh == 0 && nc != 0)
        memcpy(out->targets, cooling, nc * sizeof(*cooling));
    if (nh != 0 || nc != 0) {
        out->n = nh != 0 ? nh : nc;
        return SL_ROUTE_OK;
    }
    if (rt->try_anyway)
        return SL_ROUTE_OK;
    out->n = 0;
    out->retry_after_s = ALL_UNAVAILABLE_RETRY_AFTER_S;
    return SL_ROUTE_ALL_UNAVAILABLE;
}

static unsigned popcount(uint64_t v)
{
    return (unsigned)__builtin_popcountll(v);
}

enum sl_route_verdict sl_route_plan(const struct sl_model *model, const struct sl_route_input *in,
                                    struct sl_route_plan *out)
{
    out->n = 0;
    out->retry_after_s = 0;
    if (!client_allowed(model, in->client))
        return SL_ROUTE_IP_RESTRICTED;
    if (model->kind == SL_MODEL_DIRECT) {
        out->targets[out->n++] = model;
        return SL_ROUTE_OK;
    }
    const struct sl_routing *rt = model->routing;
    struct sl_route_group *g = rt->_group;
    SL_ASSERT(g != NULL); /* sl_route_bind ran */
    uint64_t all = rt->n_targets == 64 ? UINT64_MAX : (UINT64_C(1) << rt->n_targets) - 1;
    uint64_t eligible = by_tags(rt, in->tags, all);
    if (eligible == 0)
        return SL_ROUTE_NO_TAG_MATCH;
    eligible = by_client(rt, eligible, in->client);
    if (eligible == 0)
        return SL_ROUTE_IP_RESTRICTED;
    unsigned n = popcount(eligible);
    unsigned limit = rt->has_max_fallbacks ? (unsigned)SL_MIN(rt->max_fallbacks, n - 1u) + 1 : n;
    struct sl_order_ctx ctx = {g, in, eligible};
    for (size_t t = 0; t < g->n_tiers && out->n < limit; t++) {
        uint8_t order[SL_ROUTE_MAX_TARGETS];
        size_t k = g->ops->order(&ctx, &g->tiers[t], order);
        for (size_t i = 0; i < k && out->n < limit; i++)
            out->targets[out->n++] = rt->targets[order[i]].model;
    }
    return by_health(rt, in->now_ms, out);
}

bool sl_route_cookie(struct sl_str header, struct sl_str name, struct sl_str *value)
{
    struct sl_str rest = header;
    while (rest.len > 0) {
        const char *semi = memchr(rest.ptr, ';', rest.len);
        size_t len = semi != NULL ? (size_t)(semi - rest.ptr) : rest.len;
        struct sl_str pair = sl_str_init(rest.ptr, len);
        rest = semi != NULL ? sl_str_init(semi + 1, rest.len - len - 1) : SL_STR_NULL;
        const char *eq = memchr(pair.ptr, '=', pair.len);
        struct sl_str key =
            sl_str_trim(eq != NULL ? sl_str_init(pair.ptr, (size_t)(eq - pair.ptr)) : pair);
        if (!sl_str_eq(key, name))
            continue;
        struct sl_str v =
            eq != NULL ? sl_str_trim(sl_str_init(eq + 1, pair.len - (size_t)(eq - pair.ptr) - 1))
                       : SL_STR_NULL;
        if (v.len != 0) {
            *value = v;
            return true;
        }
    }
    return false;
}
