/* Prometheus metrics. Each worker owns a struct sl_metrics_worker and records into it without
 * locks or read-modify-write atomics (single writer, relaxed stores). The control thread renders
 * the exposition at scrape time by summing every worker's store; it may run concurrently with
 * the writers, so a store's series are kept in an append-only list published with release
 * stores and walked with acquire loads, and values are read with relaxed loads.
 *
 * Label values are bounded: routes are static names, models are configured display names (or
 * "unknown"), status is a class ("2xx"), error kinds are static names. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/reqlog.h"
#include "sluice/str.h"

struct sl_metrics_worker;

/* One finished proxied or local request, as the access log sees it. */
struct sl_metrics_request {
    const char *route;   /* static route name, e.g. "chat_completions", "livez", "other" */
    struct sl_str model; /* configured model display name; empty = not resolved ("unknown") */
    struct sl_str key;   /* caller key's display_name; empty = none ("unknown") */
    int status;          /* HTTP status the client saw (499 = client went away) */
    bool stream;
    double duration_s;          /* request start to response end */
    double ttft_s;              /* streams: time to the first content event; < 0 = none */
    int64_t prompt_tokens;      /* < 0 = unknown */
    int64_t completion_tokens;  /* < 0 = unknown */
    const char *upstream_error; /* static kind ("connect", "timeout", "reset", "tls", "status_5xx",
                                   "status_4xx", "decode", "too_large", "stream_idle") or NULL */
    uint64_t cost_nusd;         /* the request's price in nano-dollars (models[].cost) */
    const struct sl_reqlog_attempt *attempts; /* the upstream attempts, per target */
    unsigned n_attempts;
};

/* The runtime state of one direct model (routing target), gathered at scrape time. */
struct sl_metrics_target {
    const char *name; /* the model's display_name */
    bool cooling;     /* in cooldown now */
    double cooldown_remaining_s;
    uint64_t cooldowns; /* times it entered cooldown */
    bool check_failing; /* its last background check failed (and is not stale) */
    int level;          /* consecutive failed attempts: 0 healthy, 1 degraded (4+), 2 down (8+) */
    int64_t in_flight;  /* attempts running, counted while a least_busy group includes it */
    double latency_ewma_s; /* < 0: no sample yet */
};

/* Worker thread. A store is written only by the thread that owns it; m is never NULL. A series
 * (one label set) allocates once when first seen and is never freed before the store is;
 * sl_metrics_worker_free frees everything and may run only once no thread uses the store. */
struct sl_metrics_worker *sl_metrics_worker_new(void);
void sl_metrics_worker_free(struct sl_metrics_worker *m);
/* Counts r in requests_total and request_duration_seconds; also time_to_first_token_seconds
 * when ttft_s >= 0, tokens_total per type when the count is >= 0, upstream_errors_total when
 * upstream_error is set, and client_cancelled_total when status is 499 (whose status label is
 * its class, "4xx"). A NULL route counts as "other". */
void sl_metrics_observe(struct sl_metrics_worker *m, const struct sl_metrics_request *r);
/* In-flight gauge by route: +1 when a request enters a route, -1 when it ends (on the same
 * worker). */
void sl_metrics_inflight(struct sl_metrics_worker *m, const char *route, int delta);

/* A request refused by a limit: layer ("api_key", "model", "policy") and reason ("requests",
 * "tokens", "concurrency", "budget", "unavailable") are static names. */
void sl_metrics_ratelimit_rejection(struct sl_metrics_worker *m, const char *layer,
                                    const char *reason);

/* The response cache's decision for a request of policy (its name): result is the static name
 * "hit", "miss" or "bypass"; a hit also adds the tokens its answer had cost (tokens saved). */
void sl_metrics_cache(struct sl_metrics_worker *m, const char *policy, const char *result,
                      uint64_t tokens_saved);

/* Control thread: the result of a configuration reload. On success, generation is the one now
 * serving and unix_time the moment it took over; on failure both are ignored (the previous
 * generation keeps serving) and only the failure is counted. */
void sl_metrics_reload_result(bool ok, int64_t generation, double unix_time);
/* Control thread, at boot: the first generation is live (not counted as a reload). */
void sl_metrics_config_loaded(int64_t generation, double unix_time);

#define SL_METRICS_STATUS_CLASSES 6 /* 1xx..5xx, other */

/* Process-level values the server gathers for a scrape. */
struct sl_metrics_process {
    const char *version;
    unsigned workers;
    bool draining;
    uint64_t open_connections;
    uint64_t connections_refused;
    uint64_t lingering_closes;
    uint64_t http_requests[SL_METRICS_STATUS_CLASSES]; /* by status class */
    /* The rate limiter's Redis backend (rendered only when ratelimit_redis). */
    bool ratelimit_redis;
    bool redis_up; /* every worker's connection is ready */
    uint64_t redis_failures;
    uint64_t redis_calls;
    uint64_t redis_fallback_allowed; /* counted in the process while Redis was unreachable */
    uint64_t redis_fallback_denied;  /* refused while Redis was unreachable (on_error: deny) */
    /* The response cache: the memory store, and cache.redis (rendered only when cache_redis). */
    uint64_t cache_bytes;
    uint64_t cache_entries;
    uint64_t cache_evictions;
    uint64_t cache_expirations;
    bool cache_redis;
    bool cache_redis_up;
    uint64_t cache_redis_errors;
};

/* Appends the whole exposition (text format 0.0.4) to out: the families of the n per-worker
 * stores (NULL entries skipped) summed, plus the process-level values p and the ntargets rows of
 * targets (routing state). Control thread. */
void sl_metrics_render(const struct sl_metrics_process *p,
                       const struct sl_metrics_worker *const *stores, size_t n,
                       const struct sl_metrics_target *targets, size_t ntargets,
                       struct sl_buf *out);

/* Families (all prefixed sluice_):
 *   build_info{version} gauge 1
 *   workers, draining, open_connections gauges
 *   connections_refused_total, lingering_closes_total counters
 *   http_requests_total{code} counter (status class, every response incl. h2o's own)
 *   requests_total{route,model,status} counter
 *   client_cancelled_total{route,model} counter (status 499)
 *   request_duration_seconds{route,model} histogram
 *   time_to_first_token_seconds{route,model} histogram (streams)
 *   tokens_total{key,model,type="prompt"|"completion"} counter
 *   cost_usd_total{key,model} counter (models[].cost)
 *   ratelimit_rejections_total{layer,reason} counter
 *   ratelimit_redis_up gauge, ratelimit_redis_failures_total, ratelimit_redis_calls_total,
 *   ratelimit_redis_fallback_total{decision="allow"|"deny"} counters (redis backend only)
 *   cache_requests_total{policy,result="hit"|"miss"|"bypass"} counter,
 *   cache_tokens_saved_total{policy} counter, cache_bytes and cache_entries gauges,
 *   cache_evictions_total, cache_expirations_total counters; cache_redis_up gauge,
 *   cache_redis_errors_total counter (cache.redis only)
 *   upstream_errors_total{model,kind} counter
 *   in_flight_requests{route} gauge
 *   target_attempts_total, target_retries_total, target_failovers_total,
 *   target_failures_total {target} counters (upstream attempts per direct model)
 *   target_cooldown{target} gauge 0/1, target_cooldown_remaining_seconds{target} gauge,
 *   target_cooldowns_total{target} counter, target_check_failing{target} gauge 0/1,
 *   target_health_level{target} gauge 0/1/2, target_in_flight{target} gauge,
 *   target_latency_ewma_seconds{target} gauge (sampled targets only)
 *   config_reloads_total{result="success"|"failure"} counter
 *   config_generation gauge, config_last_reload_success_timestamp_seconds gauge */

#endif
