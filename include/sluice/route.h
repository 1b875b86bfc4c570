/* Routing: which models a request tries, in which order, and what each attempt teaches the next
 * request (reference 7.1 and 7.5).
 *
 * A configuration generation is bound once (sl_route_bind, control thread) before any worker
 * sees it: each model group gets its balancer's tables (priority tiers, hash rings, round-robin
 * counters per worker), and each direct model gets its runtime state, a struct sl_target shared
 * by every generation that has a model of that name, so cooldowns and health survive a reload.
 *
 * On the request path (worker threads) sl_route_plan orders a request's candidates; the
 * upstream phase reports each attempt with sl_route_attempt_begin/_end. Target state is a few
 * atomics on the target's own cache line: one worker's failure protects the others at once, and
 * no lock is taken. Balancers keep their own state per worker (round robin) or read shared
 * atomics (least_busy's in-flight counts, least_latency's averages). */
#ifndef SLUICE_ROUTE_H
#define SLUICE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/cidr.h"
#include "sluice/metrics.h"
#include "sluice/resources.h"
#include "sluice/str.h"

/* Binds res for workers worker threads: builds every group's tables and attaches every direct
 * model's target state (found by name, created on first sight). Undone when res is freed. Control
 * thread (or a test), before res is published. Returns 0. */
int sl_route_bind(struct sl_resources *res, unsigned workers);

/* What the planner knows about a request. */
struct sl_route_input {
    struct sl_str tags;         /* the routing tags header as sent (a comma list); empty: none */
    struct sl_str hash_key;     /* consistent_hash: the first non-empty hash_on source */
    const struct sl_ip *client; /* the client address (proxy.real_ip); NULL: unknown */
    unsigned worker;            /* the calling worker's index (round-robin state) */
    uint64_t now_ms;            /* sl_now_us() / 1000 */
};

enum sl_route_verdict {
    SL_ROUTE_OK = 0,
    SL_ROUTE_NO_TAG_MATCH,    /* 400: no target carries a requested tag, and none is "default" */
    SL_ROUTE_IP_RESTRICTED,   /* 403: the model (or every target) excludes the client */
    SL_ROUTE_ALL_UNAVAILABLE, /* 503: every candidate is down and when_all_unavailable: fail */
};

struct sl_route_plan {
    /* The caller's storage for the direct models to try, in attempt order: room for
     * sl_route_plan_size(model) of them. */
    const struct sl_model **targets;
    unsigned n;
    unsigned retry_after_s; /* SL_ROUTE_ALL_UNAVAILABLE: the Retry-After to send */
};

/* The most candidates a plan for model can hold: its targets, or 1 for a direct model. */
static inline unsigned sl_route_plan_size(const struct sl_model *model)
{
    return model->kind == SL_MODEL_ROUTING ? (unsigned)model->routing->n_targets : 1;
}

/* True when planning model needs the client's address (sl_route_input.client): some range
 * (allowed_cidrs of the model or of a target) or a client_ip hash source. Set by sl_route_bind. */
static inline bool sl_route_needs_client(const struct sl_model *model)
{
    return model->_needs_client;
}

/* The candidates for model, as reference 7.1 orders them: the tag filter, the client ranges,
 * priority tiers (higher first) each ordered by the strategy, at most 1 + max_fallbacks of them,
 * then the health filter (cooling down or failing background checks: left out while others
 * remain). A direct model is its own single candidate (its allowed_cidrs still apply; health
 * never filters it). Worker thread; allocates nothing. */
enum sl_route_verdict sl_route_plan(const struct sl_model *model, const struct sl_route_input *in,
                                    struct sl_route_plan *out);

/* The key=value cookie named name in a Cookie header value, trimmed; false when absent or
 * empty. */
bool sl_route_cookie(struct sl_str header, struct sl_str name, struct sl_str *value);

/* How one attempt on a target ended. */
enum sl_attempt_result {
    SL_ATTEMPT_OK = 0,      /* a usable response (2xx head; for streams, the first event) */
    SL_ATTEMPT_STATUS,      /* an error status */
    SL_ATTEMPT_TIMEOUT,     /* a deadline or an idle timeout */
    SL_ATTEMPT_TRANSPORT,   /* connect, TLS, reset, protocol, decode, a broken stream */
    SL_ATTEMPT_NOT_COUNTED, /* the attempt never reached the upstream (the caller left) */
};

struct sl_attempt_outcome {
    enum sl_attempt_result result;
    int status;           /* SL_ATTEMPT_STATUS */
    bool has_retry_after; /* the upstream sent Retry-After in seconds */
    uint64_t retry_after_s;
    uint64_t latency_us; /* SL_ATTEMPT_OK: time to the response (streams: first event) */
};

/* An attempt on a direct model starts: when a least_busy group includes the model, it counts
 * in flight until sl_route_attempt_release. */
void sl_route_attempt_begin(const struct sl_model *target);

/* The attempt's verdict (a stream's as soon as its first event arrived or it failed before):
 * success marks the target healthy (no cooldown, background failures forgiven) and feeds the
 * latency average; a failure that is one of the target's cooldown triggers takes it out of
 * rotation (reference 7.5), for its cooldown.default_seconds or the upstream's Retry-After
 * clamped to cooldown.max_seconds. Returns the cooldown set, in seconds (0: none). A model
 * sl_route_bind never saw (made for one call) has no state: nothing is recorded. */
uint64_t sl_route_attempt_end(const struct sl_model *target, const struct sl_attempt_outcome *o,
                              uint64_t now_ms);

/* The attempt's upstream exchange is over (a relayed stream: at its end). Exactly once per
 * sl_route_attempt_begin, with the same model. */
void sl_route_attempt_release(const struct sl_model *target);

/* Background checks (reference background_model_check): the verdict of one check. */
enum sl_check_result {
    SL_CHECK_OK = 0,  /* healthy again */
    SL_CHECK_FAILED,  /* unhealthy: routing avoids it */
    SL_CHECK_IGNORED, /* a status in ignore_statuses: only the time is recorded */
};
void sl_route_check_result(const struct sl_model *target, enum sl_check_result r, uint64_t now_ms);

/* The runtime state of every direct model of res, for the metrics scrape; returns how many rows
 * were written (at most cap). Any thread. */
size_t sl_route_target_stats(const struct sl_resources *res, uint64_t now_ms,
                             struct sl_metrics_target *out, size_t cap);

/* Background checks run on their own thread, off the workers: a small loop with its own
 * upstream client. sl_route_checker_start starts it (control thread, once) for generations
 * published through sl_route_checker_publish (which takes a reference). */
struct sl_config;
struct sl_proxy_env;
struct sl_generation;
struct sl_route_checker;
struct sl_route_checker *sl_route_checker_start(const struct sl_config *cfg,
                                                const struct sl_proxy_env *proxy,
                                                struct sl_generation *gen);
void sl_route_checker_publish(struct sl_route_checker *c, struct sl_generation *gen);

#endif
