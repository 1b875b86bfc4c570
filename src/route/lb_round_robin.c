/* round_robin: nginx's smooth weighted round robin. Each pick adds every candidate's weight to
 * its current weight, takes the largest (the first on a tie) and subtracts the candidates' total
 * from it: picks are proportional to the weights and interleaved (5:1:1 gives a a b a c a a,
 * not a a a a a b c). The attempt order walks on from the pick in declaration order.
 *
 * The current weights are per worker, so a pick takes no lock and shares no cache line: each
 * worker's sequence is exact, and the process's is their interleaving. Only the targets a
 * request may use (after the tag and client filters) take part in its pick. Weights read 0 as 1,
 * as the reference does. */
#include <string.h>

#include "route_internal.h"

static size_t order(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out)
{
    struct sl_route_group *g = c->g;
    size_t n = sl__tier_eligible(tier, c->eligible, out);
    if (n <= 1)
        return n;
    int64_t *cur = g->rr + (size_t)(c->in->worker % g->workers) * g->rr_stride;
    int64_t total = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t t = out[i];
        cur[t] += g->weight[t];
        total += g->weight[t];
        if (cur[t] > cur[out[best]])
            best = i;
    }
    cur[out[best]] -= total;
    uint8_t rotated[SL_ROUTE_MAX_TARGETS];
    for (size_t i = 0; i < n; i++)
        rotated[i] = out[(best + i) % n];
    memcpy(out, rotated, n);
    return n;
}

const struct sl_balancer_ops sl__lb_round_robin = {.name = "round_robin", .order = order};
