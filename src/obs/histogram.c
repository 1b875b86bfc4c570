#include <inttypes.h>

#include "histogram.h"
#include "sluice/base.h"

static const uint64_t duration_bound_us[] = {
    5000,    10000,   25000,    50000,    100000,   250000,    500000,    1000000,
    2500000, 5000000, 10000000, 30000000, 60000000, 120000000, 300000000, 600000000,
};
static const char *const duration_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5",   "5",    "10",    "30",   "60",  "120",  "300", "600",
};
static const uint64_t ttft_bound_us[] = {
    10000,   25000,   50000,   100000,   250000,   500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};
static const char *const ttft_le[] = {
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
};

_Static_assert(SL_ARRAY_LEN(duration_bound_us) == SL_ARRAY_LEN(duration_le), "duration le");
_Static_assert(SL_ARRAY_LEN(ttft_bound_us) == SL_ARRAY_LEN(ttft_le), "ttft le");
_Static_assert(SL_ARRAY_LEN(duration_bound_us) <= SL__HIST_MAX_BOUNDS, "duration bounds");
_Static_assert(SL_ARRAY_LEN(ttft_bound_us) <= SL__HIST_MAX_BOUNDS, "ttft bounds");

const struct sl__hist_spec sl__hist_duration = {SL_ARRAY_LEN(duration_bound_us), duration_bound_us,
                                                duration_le};
const struct sl__hist_spec sl__hist_ttft = {SL_ARRAY_LEN(ttft_bound_us), ttft_bound_us, ttft_le};

void sl__hist_snapshot(const struct sl__hist *h, const struct sl__hist_spec *spec,
                       struct sl__hist_snap *out)
{
    *out = (struct sl__hist_snap){0};
    out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    for (size_t i = 0; i <= spec->n; i++)
        out->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
}

void sl__hist_snap_add(struct sl__hist_snap *into, const struct sl__hist_snap *from)
{
    into->sum_us += from->sum_us;
    for (size_t i = 0; i < SL_ARRAY_LEN(into->bucket); i++)
        into->bucket[i] += from->bucket[i];
}

uint64_t sl__hist_snap_count(const struct sl__hist_snap *s, const struct sl__hist_spec *spec)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= spec->n; i++)
        n += s->bucket[i];
    return n;
}

void sl__append_seconds(struct sl_buf *out, uint64_t us)
{
    sl_buf_appendf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

void sl__hist_render(struct sl_buf *out, const char *name, const struct sl__hist_spec *spec,
                     struct sl_str labels, const struct sl__hist_snap *s)
{
    const char *sep = labels.len != 0 ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < spec->n; i++) {
        cum += s->bucket[i];
        sl_buf_appendf(out, "%s_bucket{%.*s%sle=\"%s\"} %" PRIu64 "\n", name, SL_STR_FMT(labels),
                       sep, spec->le[i], cum);
    }
    cum += s->bucket[spec->n];
    sl_buf_appendf(out, "%s_bucket{%.*s%sle=\"+Inf\"} %" PRIu64 "\n", name, SL_STR_FMT(labels), sep,
                   cum);
    /* A sample without labels has no braces at all. */
    const char *lb = labels.len != 0 ? "{" : "", *rb = labels.len != 0 ? "}" : "";
    sl_buf_appendf(out, "%s_sum%s%.*s%s ", name, lb, SL_STR_FMT(labels), rb);
    sl__append_seconds(out, s->sum_us);
    sl_buf_appendf(out, "\n%s_count%s%.*s%s %" PRIu64 "\n", name, lb, SL_STR_FMT(labels), rb, cum);
}
