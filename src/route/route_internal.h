/* Internals shared by the files of src/route/: the runtime state of a target, a group's tables
 * and the balancer operations (HAProxy's lb_* modules: one file per strategy). Not a public
 * contract. */
#ifndef SLUICE_ROUTE_INTERNAL_H
#define SLUICE_ROUTE_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/resources.h"
#include "sluice/route.h"

/* The runtime state of one direct model, shared by every generation that has a model of that
 * name (route/health.c). Written by any worker and the checker thread with relaxed atomics:
 * each field is a fact on its own (a deadline, a count, an average), so no ordering between
 * fields is needed. Its own cache lines, so one target's writes never slow another's readers. */
struct sl_target {
    alignas(64) _Atomic uint64_t cooldown_until_ms; /* monotonic ms; <= now: not cooling */
    _Atomic uint64_t cooldowns;                     /* times it entered cooldown */
    _Atomic uint32_t failures;                      /* consecutive failed attempts, capped */
    _Atomic uint32_t check_failed;                  /* 1: the last background check failed */
    _Atomic uint64_t checked_at_ms;                 /* when the last check ended; 0: never */
    _Atomic int64_t in_flight;                      /* attempts running (least_busy) */
    _Atomic uint64_t ewma_us;                       /* latency average; SL__NO_SAMPLE: none */
    /* registry (route/health.c), under its lock */
    alignas(64) char *name;
    uint64_t refs;
    struct sl_target *next;
    uint64_t check_due_ms; /* checker thread only: when to check next */
    bool check_running;    /* checker thread only */
};

#define SL__NO_SAMPLE UINT64_MAX

/* The target of model m (a bound direct model). */
static inline struct sl_target *sl__target_of(const struct sl_model *m)
{
    return m->_target;
}

/* Registry of target states by name (route/health.c). get returns the state of name with one
 * more reference, creating it; put drops one and frees the state at zero. Control thread and
 * whichever thread frees a generation; takes a lock (never on the request path). */
struct sl_target *sl__target_get(const char *name);
void sl__target_put(struct sl_target *t);

/* True while t is in cooldown, or its background check failed and is still fresh (m's
 * stale_after_seconds). */
bool sl__target_cooling(const struct sl_target *t, uint64_t now_ms);
bool sl__target_check_failing(const struct sl_model *m, uint64_t now_ms);

/* ---- groups ---- */

struct sl_ring_point {
    uint64_t hash;
    uint32_t target; /* index into the group's targets */
};

/* One priority tier: its targets in declaration order. */
struct sl_route_tier {
    int32_t priority;
    uint8_t *idx; /* indices into the group's targets */
    size_t n;
    /* consistent_hash: the tier's ring, sorted by hash */
    struct sl_ring_point *ring;
    size_t n_ring;
};

struct sl_balancer_ops;

struct sl_route_group {
    const struct sl_model *model;
    const struct sl_routing *rt;
    const struct sl_balancer_ops *ops;
    struct sl_route_tier *tiers; /* highest priority first */
    size_t n_tiers;
    uint32_t weight[SL_ROUTE_MAX_TARGETS]; /* max(weight, 1) */
    double cost[SL_ROUTE_MAX_TARGETS];     /* least_cost: input + output per 1k; +inf: none */
    /* round_robin: each worker's current weights, one cache-line-aligned block per worker */
    int64_t *rr;
    size_t rr_stride; /* int64s per worker */
    unsigned workers;
};

/* What a request's order is computed from. eligible: the targets left after the tag and client
 * filters (bit i = targets[i]). */
struct sl_order_ctx {
    struct sl_route_group *g;
    const struct sl_route_input *in;
    uint64_t eligible;
};

/* A strategy. order writes the eligible targets of tier in the order the strategy tries them
 * into out and returns their count. observe, when set, is told about attempts on every target
 * of a group using the strategy (in flight for least_busy, latency for least_latency). */
enum sl__observe_event {
    SL__OBSERVE_BEGIN = 0,
    SL__OBSERVE_SUCCESS, /* latency_us is set */
    SL__OBSERVE_RELEASE,
};

struct sl_balancer_ops {
    const char *name;
    size_t (*order)(const struct sl_order_ctx *c, const struct sl_route_tier *tier, uint8_t *out);
    void (*observe)(struct sl_target *t, enum sl__observe_event ev, uint64_t latency_us);
    /* Builds the strategy's tables for g (rings); NULL when it needs none. */
    void (*build)(struct sl_route_group *g);
};

extern const struct sl_balancer_ops sl__lb_failover;
extern const struct sl_balancer_ops sl__lb_round_robin;
extern const struct sl_balancer_ops sl__lb_chash;
extern const struct sl_balancer_ops sl__lb_least_cost;
extern const struct sl_balancer_ops sl__lb_least_latency;
extern const struct sl_balancer_ops sl__lb_least_busy;

const struct sl_balancer_ops *sl__balancer(enum sl_route_strategy s);

/* The tier's eligible targets in declaration order; returns the count. */
size_t sl__tier_eligible(const struct sl_route_tier *tier, uint64_t eligible, uint8_t *out);

/* Stable insertion sort of idx[0..n) by key[idx] ascending (n <= 64). */
void sl__sort_by(uint8_t *idx, size_t n, const double *key);

/* The hash the rings and keys use: FNV-1a then the splitmix64 finaliser, byte for byte the
 * reference's, so a key lands on the target AISIX would pick for the same targets. */
uint64_t sl__route_hash(struct sl_str s);
uint64_t sl__fnv1a(uint64_t h, const void *p, size_t n);
uint64_t sl__mix64(uint64_t x);
#define SL__FNV_OFFSET UINT64_C(0xcbf29ce484222325)

#endif
