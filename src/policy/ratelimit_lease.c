/* The arithmetic of leases (docs/limits.md "The overshoot bound"): how much a worker asks for,
 * and what Redis grants. The Lua scripts in ratelimit_redis.c compute the same; the unit tests
 * hold both to these functions. */
#include "ratelimit_internal.h"
#include "sluice/base.h"

uint32_t sl__rl_lease_max(uint64_t limit)
{
    uint64_t m = limit / SL__RL_LEASE_DIVISOR;
    return (uint32_t)SL_MIN(SL_MAX(m, 1u), SL__RL_LEASE_CAP);
}

uint32_t sl__rl_lease_want(uint64_t limit, uint64_t spent_last_second)
{
    uint64_t want = spent_last_second * SL__RL_LEASE_HORIZON_MS / 1000;
    return (uint32_t)SL_MIN(SL_MAX(want, 1u), sl__rl_lease_max(limit));
}

uint64_t sl__rl_lease_grant(uint64_t *c, uint64_t *u, uint64_t limit, uint64_t want,
                            bool *overdraft)
{
    *overdraft = false;
    if (want == 0)
        want = 1;
    if (*c < limit) {
        uint64_t g = SL_MIN(want, limit - *c);
        *c += g;
        *u += g - 1; /* one unit is the asking request's: known at once */
        return g;
    }
    /* Every unit is counted, but some may sit unspent in other workers' leases: while the
     * admissions Redis knows of are below the limit, refusing could under-admit. Grant this one
     * request past the limit; outstanding leases bound how far that goes. */
    if (*c - SL_MIN(*u, *c) < limit) {
        *c += 1;
        *overdraft = true;
        return 1;
    }
    return 0;
}

void sl__rl_lease_settle(uint64_t *c, uint64_t *u, uint64_t spent, uint64_t ret, uint64_t refund)
{
    *u -= SL_MIN(*u, spent + ret);
    *c -= SL_MIN(*c, ret + refund);
}
