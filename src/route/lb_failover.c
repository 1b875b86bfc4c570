/* failover: the tier's targets in declaration order; later ones only after earlier ones fail. */
#include "route_internal.h"

static size_t order(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out)
{
    return sl__tier_eligible(tier, c->eligible, out);
}

const struct sl_balancer_ops sl__lb_failover = {.name = "failover", .order = order};
