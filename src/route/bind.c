/* Binding a generation: the balancers' tables of every model group and the runtime state of
 * every direct model, attached before the generation is published and released with it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"
#include "sluice/base.h"

struct bound {
    struct sl_route_group **groups;
    size_t n_groups;
};

static int cmp_priority_desc(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return a > b ? -1 : (a < b);
}

/* Tiers: distinct priorities, highest first, each with its targets in declaration order. */
static void build_tiers(struct sl_route_group *g)
{
    const struct sl_routing *rt = g->rt;
    int32_t prio[SL_ROUTE_MAX_TARGETS];
    size_t n = 0;
    for (size_t i = 0; i < rt->n_targets; i++)
        prio[i] = rt->targets[i].priority;
    qsort(prio, rt->n_targets, sizeof(*prio), cmp_priority_desc);
    for (size_t i = 0; i < rt->n_targets; i++) {
        if (i == 0 || prio[i] != prio[i - 1])
            prio[n++] = prio[i];
    }
    g->tiers = sl_xcalloc(n, sizeof(*g->tiers));
    g->n_tiers = n;
    for (size_t t = 0; t < n; t++) {
        struct sl_route_tier *tier = &g->tiers[t];
        tier->priority = prio[t];
        tier->idx = sl_xcalloc(rt->n_targets, sizeof(*tier->idx));
        for (size_t i = 0; i < rt->n_targets; i++) {
            if (rt->targets[i].priority == prio[t])
                tier->idx[tier->n++] = (uint8_t)i;
        }
    }
}

static struct sl_route_group *build_group(const struct sl_model *m, unsigned workers)
{
    const struct sl_routing *rt = m->routing;
    struct sl_route_group *g = sl_xcalloc(1, sizeof(*g));
    g->model = m;
    g->rt = rt;
    g->ops = sl__balancer(rt->strategy);
    for (size_t i = 0; i < rt->n_targets; i++) {
        const struct sl_model *tm = rt->targets[i].model;
        g->weight[i] = SL_MAX(rt->targets[i].weight, 1u);
        g->cost[i] = tm->cost.set ? tm->cost.input_per_1k + tm->cost.output_per_1k : INFINITY;
    }
    build_tiers(g);
    g->workers = SL_MAX(workers, 1u);
    if (rt->strategy == SL_ROUTE_ROUND_ROBIN) {
        /* One cache line (or more) per worker: workers never write each other's lines. */
        g->rr_stride = (rt->n_targets + 7) / 8 * 8;
        size_t bytes = g->workers * g->rr_stride * sizeof(*g->rr);
        g->rr = aligned_alloc(64, bytes);
        SL_ASSERT(g->rr != NULL);
        memset(g->rr, 0, bytes);
    }
    if (g->ops->build != NULL)
        g->ops->build(g);
    return g;
}

static void free_group(struct sl_route_group *g)
{
    for (size_t t = 0; t < g->n_tiers; t++) {
        free(g->tiers[t].idx);
        free(g->tiers[t].ring);
    }
    free(g->tiers);
    free(g->rr);
    free(g);
}

static void unbind(struct sl_resources *res)
{
    struct bound *b = res->_route;
    for (size_t i = 0; i < b->n_groups; i++)
        free_group(b->groups[i]);
    for (size_t i = 0; i < res->n_models; i++) {
        if (res->models[i]._target != NULL)
            sl__target_put(res->models[i]._target);
        res->models[i]._target = NULL;
    }
    free(b->groups);
    free(b);
    res->_route = NULL;
    res->_unbind = NULL;
}

/* Ranges on the model or a target, or a hash on the client's address. */
static bool needs_client(const struct sl_model *m)
{
    const struct sl_routing *rt = m->routing;
    if (m->n_allowed_cidrs != 0)
        return true;
    for (size_t i = 0; rt != NULL && i < rt->n_targets; i++) {
        if (rt->targets[i].model->n_allowed_cidrs != 0)
            return true;
    }
    for (size_t i = 0; rt != NULL && i < rt->n_hash_on; i++) {
        if (rt->hash_on[i].type == SL_HASH_CLIENT_IP)
            return true;
    }
    return false;
}

int sl_route_bind(struct sl_resources *res, unsigned workers)
{
    SL_ASSERT(res->_route == NULL);
    struct bound *b = sl_xcalloc(1, sizeof(*b));
    b->groups = sl_xcalloc(res->n_models + 1, sizeof(*b->groups));
    for (size_t i = 0; i < res->n_models; i++) {
        struct sl_model *m = &res->models[i];
        m->_observers = 0;
        m->_needs_client = needs_client(m);
        if (m->kind == SL_MODEL_DIRECT)
            m->_target = sl__target_get(m->name);
    }
    for (size_t i = 0; i < res->n_models; i++) {
        struct sl_model *m = &res->models[i];
        if (m->kind != SL_MODEL_ROUTING)
            continue;
        struct sl_route_group *g = build_group(m, workers);
        m->routing->_group = g;
        b->groups[b->n_groups++] = g;
        if (g->ops->observe == NULL)
            continue;
        /* The targets are models of res: mark them so attempts on them feed this strategy. */
        for (size_t t = 0; t < m->routing->n_targets; t++) {
            size_t at = (size_t)(m->routing->targets[t].model - res->models);
            res->models[at]._observers |= (uint8_t)(1u << m->routing->strategy);
        }
    }
    res->_route = b;
    res->_unbind = unbind;
    return SL_OK;
}
