/* Prices and budget periods. A request is priced from the tokens it used and its model's cost
 * per 1,000 tokens; spend is counted in nano-dollars so budgets add up exactly (a cheap model's
 * token costs a fraction of a micro-dollar). */
#include "sluice/base.h"
#include "sluice/ratelimit.h"
#include "sluice/tz.h"

#define SECS_PER_DAY 86400

uint64_t sl_cost_nusd(const struct sl_model_cost *c, uint64_t prompt_tokens,
                      uint64_t completion_tokens)
{
    if (!c->set)
        return 0;
    /* USD per 1,000 tokens is nano-dollars per 1e-6 tokens: price * tokens * 1e6. */
    double n = c->input_per_1k * (double)prompt_tokens * 1e6 +
               c->output_per_1k * (double)completion_tokens * 1e6;
    if (!(n < 1.8e19))
        return UINT64_MAX;
    return (uint64_t)(n + 0.5);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

uint32_t sl_budget_period(enum sl_budget_window w, int64_t now, int64_t *end)
{
    int64_t day = floor_div(now, SECS_PER_DAY);
    switch (w) {
    case SL_BUDGET_DAY:
        *end = (day + 1) * SECS_PER_DAY;
        return (uint32_t)day;
    case SL_BUDGET_WEEK: {
        /* 1970-01-01 was a Thursday: day + 3 counts from the Monday before it. */
        int64_t week = floor_div(day + 3, 7);
        *end = (week * 7 + 7 - 3) * SECS_PER_DAY;
        return (uint32_t)week;
    }
    case SL_BUDGET_MONTH:
        break;
    }
    int64_t y;
    unsigned m, d;
    sl_civil_from_days(day, &y, &m, &d);
    int64_t next = m == 12 ? sl_days_from_civil(y + 1, 1, 1) : sl_days_from_civil(y, m + 1, 1);
    *end = next * SECS_PER_DAY;
    return (uint32_t)((y - 1970) * 12 + (int64_t)m - 1);
}
