/* Rate limits, concurrency caps and budgets (reference sections 3.7, 3.9 and 8; docs/limits.md).
 *
 * A request is checked against layers, AND-combined: the caller key's own limits and budget,
 * the model's own limits (a wildcard's traffic shares its row's counters), and every
 * rate_limit_policies row that matches it. Each layer names a bucket: a set of counters that
 * outlives configuration reloads (keyed by name, not by generation). Two phases, as in the
 * reference:
 *   reserve  request counters (rps, rpm, rph, rpd) are checked and incremented, all-or-nothing
 *            across every layer; token counters (tpm, tpd) and budgets are only checked (a
 *            window already past its limit refuses); a concurrency slot is taken;
 *   commit   the request's real tokens and cost are added; concurrency slots are released.
 *
 * Backends (config.yaml ratelimit.backend): memory keeps one set of counters per process,
 * shared by its workers through atomics (no lock on the hot path). redis shares them across
 * replicas: each worker leases slices of a window's remaining budget and spends them locally,
 * so most requests never wait on Redis (docs/limits.md derives the overshoot bound). With Redis
 * unreachable, a worker counts in the process's memory counters, or refuses
 * (ratelimit.redis.on_error: deny).
 *
 * Threads: one struct sl_limiter per process (created on the main thread, read by all); one
 * struct sl_rl_worker per worker thread, used only by it. A reservation lives in its request's
 * memory and belongs to the worker that made it. */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/h2o.h"
#include "sluice/resources.h"
#include "sluice/str.h"

struct sl_config;
struct sl_limiter;
struct sl_rl_worker;
struct sl_rl_bucket;
struct sl_metrics_worker;

/* ---- the process and its workers ---- */

/* Creates the process's limiter from cfg->ratelimit (cfg must outlive it). */
struct sl_limiter *sl_limiter_new(const struct sl_config *cfg);
void sl_limiter_free(struct sl_limiter *l);

/* A worker's handle, created on the worker thread: for the redis backend it opens the worker's
 * Redis connection on ctx's loop (connecting in the background; requests count locally until
 * it is up). metrics may be NULL. */
struct sl_rl_worker *sl_rl_worker_new(struct sl_limiter *l, h2o_context_t *ctx,
                                      struct sl_metrics_worker *metrics);
void sl_rl_worker_free(struct sl_rl_worker *w);

/* Process-wide figures for /metrics (any thread). */
struct sl_limiter_stats {
    bool redis;                /* the redis backend is configured */
    unsigned workers_redis_up; /* workers whose Redis connection is ready */
    unsigned workers;
    uint64_t redis_failures; /* connections that broke or could not be made, commands that failed */
    uint64_t local_allowed;  /* requests counted in this process because Redis was unreachable */
    uint64_t denied_unavailable; /* requests refused because Redis was unreachable (deny) */
    uint64_t redis_calls;        /* lease and sync scripts sent */
};
void sl_limiter_stats(const struct sl_limiter *l, struct sl_limiter_stats *out);

/* ---- layers ---- */

enum sl_rl_layer_kind {
    SL_RL_LAYER_KEY = 0, /* the caller key's rate_limit and budget */
    SL_RL_LAYER_MODEL,   /* the model's rate_limit */
    SL_RL_LAYER_POLICY,  /* a rate_limit_policies row */
};

/* How a layer's unit of a request dimension was taken, so a refusal elsewhere can give it
 * back exactly. */
enum sl_rl_take {
    SL_RL_TAKE_NONE = 0,
    SL_RL_TAKE_MEMORY, /* a process counter was incremented */
    SL_RL_TAKE_LEASE,  /* spent from this worker's lease */
    SL_RL_TAKE_REMOTE, /* counted in Redis by the call that admitted the request */
};

struct sl_rl_layer {
    enum sl_rl_layer_kind kind;
    struct sl_rl_bucket *bucket;
    const struct sl_rate_limit *limits;
    const struct sl_rl_policy *policy; /* SL_RL_LAYER_POLICY */
    const struct sl_budget *budget;    /* the key layer of a key with a budget, else NULL */
    /* What the reservation holds (private to the limiter). */
    uint8_t _take[SL_RL_REQUEST_DIMS];    /* enum sl_rl_take */
    uint8_t _conc;                        /* enum sl_rl_take of the concurrency slot */
    uint32_t _period[SL_RL_REQUEST_DIMS]; /* memory: the window the unit was counted in */
};

#define SL_RL_MAX_LAYERS 16

/* Why a reservation was refused. */
enum sl_rl_reason {
    SL_RL_OK = 0,
    SL_RL_REQUESTS,    /* a request window is full: 429 rate_limit_exceeded, Retry-After */
    SL_RL_TOKENS,      /* a token window is past its limit: 429, Retry-After */
    SL_RL_CONCURRENCY, /* every concurrency slot is taken: 429, no Retry-After */
    SL_RL_BUDGET,      /* the key's budget is spent: 429 billing_error budget_exceeded */
    SL_RL_UNAVAILABLE, /* Redis unreachable and ratelimit.redis.on_error is deny: 503 */
};

struct sl_rl_refusal {
    enum sl_rl_reason reason;
    enum sl_rl_layer_kind layer;
    const struct sl_rl_policy *policy; /* a policy layer refused */
    enum sl_rl_dim dim;                /* SL_RL_REQUESTS and SL_RL_TOKENS */
    uint64_t retry_after_secs;         /* 0: no Retry-After */
    /* SL_RL_BUDGET */
    uint64_t spent_nusd;
    uint64_t limit_nusd;
    int64_t period_end; /* Unix seconds when the budget period resets */
};

enum sl_rl_state {
    SL_RL_IDLE = 0, /* planned, not reserved */
    SL_RL_PENDING,  /* waiting on Redis; the callback follows */
    SL_RL_HELD,     /* admitted: counters taken, slots held */
    SL_RL_REFUSED,  /* refused: nothing held */
    SL_RL_DONE,     /* committed or released */
};

/* Called once when a reservation that returned SL_AGAIN is decided: SL_OK (admitted) or
 * SL_DECLINED (refused; r->refusal says why). */
typedef void sl_rl_done_cb(void *ud, int rc);

struct sl_reservation {
    struct sl_rl_layer layers[SL_RL_MAX_LAYERS];
    unsigned n;
    enum sl_rl_state state;
    struct sl_rl_refusal refusal;
    /* private */
    sl_rl_done_cb *_cb;
    void *_ud;
    void *_op; /* the Redis backend's pending operation */
};

/* What a request is, for choosing its layers. */
struct sl_rl_subject {
    const struct sl_api_key *key;
    const struct sl_model *model; /* the resolved model (a wildcard's row) */
    struct sl_str alias;          /* the name the caller sent: the model_name dimension */
    /* Set on a routing target's own reservation: the model group the caller addressed, whose
     * name and id the model dimensions also match (reference AISIX-Cloud#1267). */
    const struct sl_model *parent;
};

/* Which layers a call plans. */
enum sl_rl_phase {
    /* The request gate: the key's limits and budget, the model's limits, and the policies
     * that do not follow the model, plus those that do unless defer_model is set (a model
     * group whose targets reserve their own). */
    SL_RL_PHASE_REQUEST = 0,
    /* One routing attempt: the target model's own limits and the policies that follow the
     * model. */
    SL_RL_PHASE_TARGET,
};

/* Fills r (which must be zeroed or fresh) with the layers that apply to s at phase at Unix time
 * now (schedules suspend policies), resolving buckets in w's process store. Returns the
 * number of layers (0: nothing applies; the request is not limited). */
unsigned sl_rl_plan(struct sl_rl_worker *w, struct sl_reservation *r,
                    const struct sl_resources *res, const struct sl_rl_subject *s,
                    enum sl_rl_phase phase, bool defer_model, int64_t now);

/* Checks and takes what r's layers need. Returns SL_OK (state HELD), SL_DECLINED (state
 * REFUSED, r->refusal filled), or SL_AGAIN (state PENDING: cb(ud, rc) follows from the worker's
 * loop, never from inside this call). */
int sl_rl_reserve(struct sl_rl_worker *w, struct sl_reservation *r, sl_rl_done_cb *cb, void *ud);

/* Ends r: adds tokens to every layer's token windows and cost_nusd to the key layer's budget,
 * and releases every concurrency slot. A pending reservation is abandoned (its callback never
 * runs; what Redis grants meanwhile stays with the worker's leases). Safe in any state and
 * more than once; only the first call counts. */
void sl_rl_commit(struct sl_rl_worker *w, struct sl_reservation *r, uint64_t tokens,
                  uint64_t cost_nusd);

/* Adds tokens and cost now (a response whose usage is known before it ends) without releasing
 * anything; a later commit adds its own amounts too, so pass 0 there. HELD state only. */
void sl_rl_add_usage(struct sl_rl_worker *w, struct sl_reservation *r, uint64_t tokens,
                     uint64_t cost_nusd);

/* The x-ratelimit-* figures of a layer (reference 4.2: the key's rpm, tpm and concurrency),
 * as this worker sees them; with the redis backend they include leases other workers hold. */
struct sl_rl_status {
    bool has_rpm, has_tpm, has_concurrency;
    uint64_t rpm_limit, rpm_remaining, rpm_reset_secs;
    uint64_t tpm_limit, tpm_remaining, tpm_reset_secs;
    uint64_t concurrency_limit, concurrency_remaining;
};
void sl_rl_peek(struct sl_rl_worker *w, const struct sl_rl_layer *layer, int64_t now,
                struct sl_rl_status *out);

/* ---- cost and budgets (budget.c) ---- */

/* The price of a request in nano-dollars (0 without a cost). */
uint64_t sl_cost_nusd(const struct sl_model_cost *c, uint64_t prompt_tokens,
                      uint64_t completion_tokens);

/* The budget period containing Unix time now: its number (days, weeks from a Monday, or months
 * since 1970) and its end. */
uint32_t sl_budget_period(enum sl_budget_window w, int64_t now, int64_t *end);

/* Static names for logs and metrics. */
const char *sl_rl_layer_name(enum sl_rl_layer_kind k);
const char *sl_rl_dim_name(enum sl_rl_dim d);

#endif
