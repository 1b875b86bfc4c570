/* Internals of the limiter shared by src/policy/ratelimit*.c and its unit tests; not a public
 * contract. */
#ifndef SLUICE_RATELIMIT_INTERNAL_H
#define SLUICE_RATELIMIT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/ratelimit.h"

/* ---- windows ---- */

/* Seconds in a dimension's fixed window. */
static inline uint64_t sl__rl_window_secs(enum sl_rl_dim d)
{
    static const uint64_t secs[SL_RL_DIMS] = {1, 60, 3600, 86400, 60, 86400};
    return secs[d];
}

/* A window counter packs the window number (Unix seconds / window, low 24 bits) above a 40-bit
 * count, so checking, rolling over and incrementing is one compare-and-swap. A counter last
 * touched exactly 2^24 windows ago (194 days for rps, 31 years for rpm) would read its old
 * count for one window; nothing else aliases. */
#define SL__RL_COUNT_BITS 40
#define SL__RL_COUNT_MAX  ((UINT64_C(1) << SL__RL_COUNT_BITS) - 1)
#define SL__RL_WIN_MASK   ((UINT64_C(1) << 24) - 1)

/* Budget spend packs a 16-bit period number above 48 bits of nano-dollars (281,474 USD per
 * period; more saturates). Day numbers wrap after 179 years. */
#define SL__RL_SPEND_BITS  48
#define SL__RL_SPEND_MAX   ((UINT64_C(1) << SL__RL_SPEND_BITS) - 1)
#define SL__RL_PERIOD_MASK 0xffffu

/* Reads the count of window wn (0 when the counter holds another window). */
uint64_t sl__rl_counter_read(const _Atomic uint64_t *c, uint32_t wn);
/* Adds 1 when the window's count stays at or below limit; false (nothing changed) otherwise. */
bool sl__rl_counter_take(_Atomic uint64_t *c, uint32_t wn, uint64_t limit);
/* Takes 1 back from window wn (nothing when the counter moved on or is at 0). */
void sl__rl_counter_untake(_Atomic uint64_t *c, uint32_t wn);
/* Adds n to window wn, saturating. */
void sl__rl_counter_add(_Atomic uint64_t *c, uint32_t wn, uint64_t n);

uint64_t sl__rl_spend_read(const _Atomic uint64_t *c, uint32_t period);
void sl__rl_spend_add(_Atomic uint64_t *c, uint32_t period, uint64_t nusd);

/* ---- buckets: the process store ---- */

struct sl_rl_bucket {
    uint64_t hash;
    uint32_t idx; /* dense, from 0: indexes per-worker state */
    uint32_t name_len;
    _Atomic uint64_t win[SL_RL_DIMS];
    _Atomic uint64_t spend;
    _Atomic uint32_t inflight;
    char name[]; /* NUL-terminated */
};

struct sl__rl_table {
    size_t mask;
    struct sl__rl_table *prev; /* retired tables, freed with the store */
    _Atomic(struct sl_rl_bucket *) slots[];
};

/* Buckets by name, process-wide. Lookups are lock-free (an acquire load of the table and a
 * probe); the first sight of a name takes a mutex to insert it. Buckets are never removed, so a
 * pointer stays valid for the process's life and counters survive reloads. */
struct sl__rl_store {
    _Atomic(struct sl__rl_table *) table;
    pthread_mutex_t lock;
    /* Under lock: every bucket by idx (to rebuild the table and to free). */
    uint32_t count;
    struct sl_rl_bucket **all;
    size_t all_cap;
};

void sl__rl_store_init(struct sl__rl_store *s);
void sl__rl_store_dispose(struct sl__rl_store *s);
/* The bucket named name (created at its first sight). Any thread. */
struct sl_rl_bucket *sl__rl_store_get(struct sl__rl_store *s, struct sl_str name);
uint32_t sl__rl_store_count(struct sl__rl_store *s);

/* ---- the limiter ---- */

struct sl__rl_redis;

struct sl_limiter {
    const struct sl_config *cfg;
    struct sl__rl_store store;
    bool redis;
    char instance[33]; /* random hex: names this process's concurrency holders in Redis */
    _Atomic unsigned next_worker;
    _Atomic unsigned workers;
    _Atomic unsigned workers_up;
    _Atomic unsigned workers_down; /* workers currently in an outage: logs once per outage */
    _Atomic uint64_t redis_failures;
    _Atomic uint64_t local_allowed;
    _Atomic uint64_t denied_unavailable;
    _Atomic uint64_t redis_calls;
    _Atomic int64_t outage_since_ms;
    /* Wall clock in milliseconds; tests replace it. */
    int64_t (*now_ms)(void);
};

struct sl_rl_worker {
    struct sl_limiter *l;
    h2o_context_t *ctx;
    struct sl_metrics_worker *metrics;
    unsigned id;
    struct sl__rl_redis *redis; /* NULL with the memory backend */
};

/* The memory backend (ratelimit.c): takes what layer i of r needs from the process counters, at
 * Unix time now. Returns SL_OK, or SL_DECLINED with r->refusal filled and nothing of layer i
 * held (earlier layers stay held: the caller undoes them). */
int sl__rl_memory_take(struct sl_reservation *r, unsigned i, int64_t now);
/* Gives back what the memory backend took for layer i (request units and the slot). */
void sl__rl_memory_untake(struct sl_rl_layer *layer);
/* Adds tokens and cost to a layer's process counters at Unix time now. */
void sl__rl_memory_add(const struct sl_rl_layer *layer, int64_t now, uint64_t tokens,
                       uint64_t cost_nusd);
/* Fills the refusal of a window or budget that is full at Unix time now. */
void sl__rl_refuse(struct sl_reservation *r, const struct sl_rl_layer *layer, enum sl_rl_reason why,
                   enum sl_rl_dim dim, int64_t now);

/* ---- the redis backend (ratelimit_redis.c) ---- */

struct sl__rl_redis *sl__rl_redis_new(struct sl_rl_worker *w);
void sl__rl_redis_free(struct sl__rl_redis *rr);
int sl__rl_redis_reserve(struct sl_rl_worker *w, struct sl_reservation *r, int64_t now);
void sl__rl_redis_release(struct sl_rl_worker *w, struct sl_reservation *r, int64_t now);
void sl__rl_redis_add(struct sl_rl_worker *w, const struct sl_rl_layer *layer, int64_t now,
                      uint64_t tokens, uint64_t cost_nusd);
void sl__rl_redis_abandon(struct sl_rl_worker *w, struct sl_reservation *r);
/* A pending reservation is decided (ratelimit.c): state, metrics, then its callback. */
void sl__rl_decided(struct sl_rl_worker *w, struct sl_reservation *r, int rc);
void sl__rl_redis_peek(struct sl_rl_worker *w, const struct sl_rl_layer *layer, int64_t now,
                       struct sl_rl_status *out);

/* ---- lease arithmetic (ratelimit_lease.c): pure, exhaustively unit-tested ---- */

/* The most a worker leases at once for a limit: one at a time below 256 per window, then
 * limit/256 (docs/limits.md: the overshoot is at most (workers - 1) * (lease - 1)). */
#define SL__RL_LEASE_DIVISOR 256u
#define SL__RL_LEASE_CAP     4096u
uint32_t sl__rl_lease_max(uint64_t limit);

/* How many units to ask for: what this worker spent in the last second, scaled to the
 * horizon a lease should last (100 ms), within 1 .. sl__rl_lease_max(limit). */
#define SL__RL_LEASE_HORIZON_MS 100u
uint32_t sl__rl_lease_want(uint64_t limit, uint64_t spent_last_second);

/* The decision Redis makes for one request dimension of one window (the Lua script computes the
 * same; the unit tests hold both to it). c counts admissions Redis knows of plus allowances
 * outstanding; u is the outstanding part. Returns the units granted (0: refused), of which one
 * is spent by the asking request; *overdraft is set when the one unit is granted past the
 * limit because leases outstanding may be unspent (never refuse while known admissions are
 * below the limit). Updates c and u. */
uint64_t sl__rl_lease_grant(uint64_t *c, uint64_t *u, uint64_t limit, uint64_t want,
                            bool *overdraft);

/* Settling a lease: spent units become known (u -= spent), returned ones free (c -= ret,
 * u -= ret), refunds take back units counted for requests another layer refused
 * (c -= refund). Never below zero. */
void sl__rl_lease_settle(uint64_t *c, uint64_t *u, uint64_t spent, uint64_t ret, uint64_t refund);

#endif
