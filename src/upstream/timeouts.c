#include <stdlib.h>

#include "sluice/base.h"
#include "upstream_internal.h"

void sl__timeouts_init(struct sl_timeouts *t, h2o_loop_t *loop)
{
    *t = (struct sl_timeouts){.loop = loop};
}

void sl__timeouts_dispose(struct sl_timeouts *t)
{
    for (size_t i = 0; i < t->n; i++) {
        h2o_timeout_dispose(t->loop, t->slots[i].timeout);
        free(t->slots[i].timeout);
    }
    free(t->slots);
    *t = (struct sl_timeouts){0};
}

static h2o_timeout_t *get(struct sl_timeouts *t, uint64_t ms)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->slots[i].ms == ms)
            return t->slots[i].timeout;
    }
    t->slots = sl_xrealloc(t->slots, (t->n + 1) * sizeof(*t->slots));
    h2o_timeout_t *to = sl_xcalloc(1, sizeof(*to));
    h2o_timeout_init(t->loop, to, ms);
    t->slots[t->n++] = (struct timeout_slot){ms, to};
    return to;
}

void sl__timeouts_link(struct sl_timeouts *t, uint64_t ms, h2o_timeout_entry_t *entry)
{
    if (h2o_timeout_is_linked(entry))
        h2o_timeout_unlink(entry);
    h2o_timeout_link(t->loop, get(t, ms), entry);
}
