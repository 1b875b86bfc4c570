/* least_cost: cheapest first by the target model's cost.input_per_1k + output_per_1k; targets
 * without a cost last; equal costs keep declaration order. */
#include "route_internal.h"

static size_t order(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out)
{
    size_t n = sl__tier_eligible(tier, c->eligible, out);
    sl__sort_by(out, n, c->g->cost);
    return n;
}

const struct sl_balancer_ops sl__lb_least_cost = {.name = "least_cost", .order = order};
