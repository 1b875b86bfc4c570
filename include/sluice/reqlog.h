/* What is recorded about one request for the access log and the metrics: filled by the request
 * path as it learns things, read once when the request ends. A plain record, so obs/ needs to
 * know nothing of the pipeline that fills it. Worker thread. */
#ifndef SLUICE_REQLOG_H
#define SLUICE_REQLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/str.h"

/* One upstream attempt of a request: the first, a retry of the same target, or a failover to
 * the next one. */
enum sl_attempt_kind {
    SL_ATTEMPT_FIRST = 0,
    SL_ATTEMPT_RETRY,
    SL_ATTEMPT_FAILOVER,
};

struct sl_reqlog_attempt {
    struct sl_str target; /* the direct model's display_name (generation memory) */
    int status;           /* the upstream's status; 0 when none arrived */
    const char *error;    /* static failure kind ("timeout", "reset", "status_5xx"...), or NULL */
    uint32_t ms;          /* from the attempt's start to its verdict */
    uint8_t kind;         /* enum sl_attempt_kind */
    bool limited;         /* refused by the target's own limits, never sent (not a failure) */
};

/* Attempts past this many are counted in attempts_dropped, not listed. */
#define SL_REQLOG_MAX_ATTEMPTS 8

struct sl_reqlog {
    const char *route; /* static route name; NULL: matched no route */
    struct sl_str request_id;
    uint64_t start_us;            /* monotonic clock when the request reached Sluice */
    struct sl_str model;          /* alias the caller sent (pool memory) */
    struct sl_str model_label;    /* configured model name it resolved to (metrics label) */
    struct sl_str upstream_model; /* model id sent upstream */
    struct sl_str key_name;       /* caller key's display_name, never the key */
    const char *error_kind;       /* short machine-readable reason of a failure, or NULL */
    const char *upstream_error;   /* static upstream failure kind for metrics, or NULL */
    bool stream;                  /* the response is an event stream */
    bool client_gone;             /* the client left before the response completed (499) */
    int64_t ttft_us;              /* streams: time to the first event relayed; -1 = none */
    uint64_t events;              /* streams: events relayed to the caller */
    int64_t prompt_tokens;        /* -1 when unknown */
    int64_t completion_tokens;
    bool tokens_estimated;   /* the upstream reported no usage: the counts are estimates */
    bool has_cost;           /* the model has a cost: cost_usd is logged */
    uint64_t cost_nusd;      /* the request's price in nano-dollars */
    const char *limited;     /* the limit that refused the request ("api_key:rpm"), or NULL */
    const char *cache;       /* the response cache: "hit", "miss", "bypass", "disabled" or NULL */
    struct sl_str served_by; /* a model group's request: the target that answered */
    struct sl_reqlog_attempt attempts[SL_REQLOG_MAX_ATTEMPTS];
    uint8_t n_attempts;
    uint16_t attempts_dropped;
};

static inline void sl_reqlog_init(struct sl_reqlog *l, struct sl_str request_id, uint64_t start_us)
{
    *l = (struct sl_reqlog){.request_id = request_id,
                            .start_us = start_us,
                            .ttft_us = -1,
                            .prompt_tokens = -1,
                            .completion_tokens = -1};
}

#endif
