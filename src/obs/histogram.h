/* Fixed-bucket histograms for the metrics store (src/obs/). Not a public contract.
 *
 * A histogram has one writer (its worker) and any number of readers (the control thread). The
 * writer bumps exactly one bucket per observation (the first whose bound holds the value, or the
 * overflow bucket past the last bound) and the sum, with relaxed load+store pairs. There is no
 * separate count: readers derive it from the buckets, so the cumulative buckets, the +Inf bucket
 * and _count of one snapshot always agree even while the writer runs. Values are integer
 * microseconds, so sums are exact and bucket boundaries compare without float rounding. */
#ifndef SLUICE_OBS_HISTOGRAM_H
#define SLUICE_OBS_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/str.h"

#define SL__HIST_MAX_BOUNDS 16

struct sl__hist_spec {
    size_t n;                 /* finite bounds, at most SL__HIST_MAX_BOUNDS */
    const uint64_t *bound_us; /* ascending */
    const char *const *le;    /* the bounds as they appear in the le label */
};

/* request_duration_seconds: 0.005 .. 600 s (16 bounds). */
extern const struct sl__hist_spec sl__hist_duration;
/* time_to_first_token_seconds: 0.01 .. 60 s (12 bounds). */
extern const struct sl__hist_spec sl__hist_ttft;

struct sl__hist {
    _Atomic uint64_t sum_us;
    _Atomic uint64_t bucket[SL__HIST_MAX_BOUNDS + 1]; /* not cumulative; [spec->n] = overflow */
};

/* A reader's plain copy. */
struct sl__hist_snap {
    uint64_t sum_us;
    uint64_t bucket[SL__HIST_MAX_BOUNDS + 1];
};

/* Single-writer add: a relaxed load and store (no lock prefix); readers load relaxed. */
static inline void sl__counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Seconds to whole microseconds, rounded to nearest; negative and NaN become 0 and absurdly
 * large values are clamped (a clock jump must not overflow a sum). */
static inline uint64_t sl__seconds_to_us(double s)
{
    if (!(s > 0))
        return 0;
    if (s >= 1e12)
        return UINT64_C(1000000000000000000);
    return (uint64_t)(s * 1e6 + 0.5);
}

/* The bucket of us: the first bound >= us, or spec->n (overflow) past the last. A branch-free
 * binary search: the trip count depends only on n, and the compare becomes a conditional move,
 * so latencies that jump between buckets cost no mispredictions. */
static inline size_t sl__hist_index(const struct sl__hist_spec *spec, uint64_t us)
{
    const uint64_t *b = spec->bound_us;
    size_t len = spec->n;
    while (len > 1) {
        size_t half = len / 2;
        b = b[half - 1] < us ? b + half : b;
        len -= half;
    }
    return (size_t)(b - spec->bound_us) + (*b < us);
}

/* Worker thread (the histogram's only writer). */
static inline void sl__hist_observe(struct sl__hist *h, const struct sl__hist_spec *spec,
                                    uint64_t us)
{
    sl__counter_add(&h->bucket[sl__hist_index(spec, us)], 1);
    sl__counter_add(&h->sum_us, us);
}

/* Any thread. */
void sl__hist_snapshot(const struct sl__hist *h, const struct sl__hist_spec *spec,
                       struct sl__hist_snap *out);
void sl__hist_snap_add(struct sl__hist_snap *into, const struct sl__hist_snap *from);
uint64_t sl__hist_snap_count(const struct sl__hist_snap *s, const struct sl__hist_spec *spec);

/* Appends name_bucket{labels,le="..."} (cumulative, ending with +Inf), name_sum{labels} in
 * seconds and name_count{labels}. labels is the rendered label list without braces, e.g.
 * route="chat",model="x"; it may be empty. */
void sl__hist_render(struct sl_buf *out, const char *name, const struct sl__hist_spec *spec,
                     struct sl_str labels, const struct sl__hist_snap *s);

/* Appends sum_us as seconds with six decimals (exact). */
void sl__append_seconds(struct sl_buf *out, uint64_t us);

#endif
