/* The response cache in the request path (docs/cache.md): the cache phase between plan and
 * upstream, the tee that stores a reply as the caller receives it, the per-worker Redis client
 * of cache.redis, and what the process shares (the memory store, Redis counters).
 *
 * A proxied request on a cacheable route (chat completions, completions, embeddings, Anthropic
 * messages) takes the first enabled cache_policies entry that matches it. Its key (cache.h) is
 * looked up unless the caller sent Cache-Control: no-cache; a hit is answered from the entry
 * (x-sluice-cache: hit) and no upstream is called, so it costs no tokens against the limits;
 * a miss goes on (x-sluice-cache: miss) and a 200 reply that ends cleanly (a JSON body, or a
 * stream through its terminator) is stored unless the caller sent no-store. */
#ifndef SLUICE_CACHE_PHASE_H
#define SLUICE_CACHE_PHASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/h2o.h"

struct sl_config;
struct sl_resources;
struct sl_exchange;
struct sl_cache_store;
struct sl_cache_worker;

/* What the workers of a process share. */
struct sl_cache_process {
    struct sl_cache_store *store; /* the memory store (cache.memory.max_bytes) */
    bool redis;                   /* cache.redis is configured */
    _Atomic unsigned workers_up;  /* workers whose cache.redis connection is ready */
    _Atomic unsigned workers_down;
    _Atomic uint64_t redis_errors; /* lookups and stores that failed, broken connections */
    _Atomic uint64_t outage_since_us;
};

/* Main thread, before the workers start; freed after they stop. */
struct sl_cache_process *sl_cache_process_new(const struct sl_config *cfg);
void sl_cache_process_free(struct sl_cache_process *p);

/* Logs a warning for each enabled policy that cannot cache: backend redis without cache.redis,
 * or backend memory with cache.memory.max_bytes 0 (at start and after each reload). */
void sl_cache_check_policies(const struct sl_config *cfg, const struct sl_resources *res);
/* The same for sluice validate: "sluice: <file>:<line>: ..." lines on fp. */
void sl_cache_print_policy_warnings(const struct sl_config *cfg, const struct sl_resources *res,
                                    FILE *fp);

/* A worker's handle (its cache.redis connection, when configured), on the worker's thread. */
struct sl_cache_worker *sl_cache_worker_new(h2o_context_t *ctx, const struct sl_config *cfg,
                                            struct sl_cache_process *p);

/* The phase (exchange.h). */
int sl_phase_cache(struct sl_exchange *x);

/* The response head is being set up (the server's response filter): adds x-sluice-cache and,
 * for a reply that may be stored, inserts the tee in front of slot. Returns the slot the next
 * ostream goes in. */
h2o_ostream_t **sl_cache_response_start(struct sl_exchange *x, h2o_ostream_t **slot);

#endif
