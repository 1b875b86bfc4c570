/* The per-worker metrics store, shared by the writer side (metrics.c, worker threads) and the
 * reader side (metrics_render.c, control thread). Not a public contract.
 *
 * A store holds series. A series is keyed by its label values and carries the values of every
 * family that shares those labels, so one sl_metrics_observe does one hash lookup:
 *   - SL__SERIES_REQUEST {route, model}: requests_total by status class, client_cancelled_total,
 *     request_duration_seconds, time_to_first_token_seconds;
 *   - SL__SERIES_ROUTE {route}: in_flight_requests;
 *   - SL__SERIES_UPSTREAM_ERROR {model, kind}: upstream_errors_total;
 *   - SL__SERIES_USAGE {key, model}: tokens_total by type and cost_usd_total;
 *   - SL__SERIES_REJECTION {layer (route slot), reason (kind slot)}: ratelimit_rejections_total;
 *   - SL__SERIES_TARGET {target}: the target_*_total counters of upstream attempts;
 *   - SL__SERIES_CACHE {policy (model slot), result (kind slot)}: cache_requests_total, and
 *     cache_tokens_saved_total as the result "tokens_saved".
 *
 * The writer finds series through an open-addressing hash table that only it touches. Every
 * series is also pushed onto an append-only list per type: the node is fully initialised, then
 * published with a release store of the list head; nodes are never unlinked or freed while the
 * store lives, and a node's key and next pointer never change after publication. Readers load
 * the head with acquire and walk next pointers; values are _Atomic and read relaxed. */
#ifndef SLUICE_OBS_METRICS_INTERNAL_H
#define SLUICE_OBS_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "sluice/buf.h"
#include "sluice/metrics.h"

enum sl__series_type {
    SL__SERIES_REQUEST = 0,
    SL__SERIES_ROUTE,
    SL__SERIES_UPSTREAM_ERROR,
    SL__SERIES_USAGE,
    SL__SERIES_REJECTION,
    SL__SERIES_TARGET,
    SL__SERIES_CACHE,
    SL__SERIES_TYPES,
};

/* Status classes of requests_total: [0] = 1xx .. [4] = 5xx, [5] = anything else. */
#define SL__STATUS_CLASSES SL_METRICS_STATUS_CLASSES

enum sl__token_type {
    SL__TOKENS_PROMPT = 0,
    SL__TOKENS_COMPLETION,
    SL__TOKEN_TYPES,
};

struct sl__series {
    struct sl__series *next; /* the previously published series of this type, or NULL */
    uint64_t hash;
    enum sl__series_type type;
    const char *route; /* static name; NULL for SL__SERIES_UPSTREAM_ERROR */
    const char *kind;  /* static name; SL__SERIES_UPSTREAM_ERROR only */
    const char *model; /* model_len bytes stored in the same allocation; "" when unused */
    size_t model_len;
    const char *key; /* key_len bytes, also in the allocation; SL__SERIES_USAGE only */
    size_t key_len;
};

struct sl__request_series {
    struct sl__series super;
    _Atomic uint64_t requests[SL__STATUS_CLASSES];
    _Atomic uint64_t cancelled; /* status 499 */
    struct sl__hist duration;
    struct sl__hist ttft;
};

struct sl__usage_series {
    struct sl__series super;
    _Atomic uint64_t tokens[SL__TOKEN_TYPES];
    /* Bit (1 << type) once a token count of that type was observed: a count of 0 tokens is
     * still a sample. Set once with a release store after the count. */
    _Atomic uint32_t tokens_seen;
    _Atomic uint64_t cost_nusd;
    _Atomic uint32_t cost_seen; /* 1 once the model had a cost */
};

struct sl__count_series {
    struct sl__series super;
    _Atomic uint64_t count;
};

struct sl__route_series {
    struct sl__series super;
    _Atomic int64_t inflight;
};

struct sl__error_series {
    struct sl__series super;
    _Atomic uint64_t count;
};

/* Upstream attempts on one direct model ({target}: the name is stored as the series' model). */
struct sl__target_series {
    struct sl__series super;
    _Atomic uint64_t attempts;
    _Atomic uint64_t retries;
    _Atomic uint64_t failovers;
    _Atomic uint64_t failures;
};

struct sl__metrics_slot {
    uint64_t hash;
    struct sl__series *series; /* NULL = empty */
};

struct sl_metrics_worker {
    /* writer only */
    struct sl__metrics_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t used;
    /* shared with readers */
    _Atomic(struct sl__series *) head[SL__SERIES_TYPES];
};

/* Process-level values the renderer shows next to the stores' families. */
/* Forgets every sl_metrics_reload_result (tests). */
void sl__metrics_reload_reset(void);

#endif
