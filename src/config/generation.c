#include <stdlib.h>

#include "sluice/base.h"
#include "sluice/generation.h"

struct sl_generation *sl_generation_new(struct sl_resources *res, uint64_t id)
{
    struct sl_generation *g = sl_xcalloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->id = id;
    g->res = res;
    return g;
}

void sl_generation_ref(struct sl_generation *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void sl_generation_unref(struct sl_generation *g)
{
    /* acq_rel: the thread that frees must see every write made through other references. */
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    sl_resources_free(g->res);
    free(g);
}
