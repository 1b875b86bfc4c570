/* One client exchange: the object every routed request lives in, and the ordered phases a
 * proxied request runs through (nginx's phase handlers):
 *
 *     auth -> inspect -> route -> access -> limits -> plan -> cache -> upstream
 *
 * and, when h2o frees the request, the log. Each phase returns
 *   SL_OK       go on with the next phase;
 *   SL_DECLINED nothing to do here (the same as SL_OK: the phase does not apply);
 *   SL_DONE     a response was started: no further phase runs;
 *   SL_AGAIN    the phase waits on something (a Redis reply, a remote check) and calls
 *               sl_exchange_resume from the callback that completes it; the loop is never
 *               blocked. The upstream phase always ends this way: its response completes the
 *               request.
 * Later features plug in as phases or into their own slot (x->mod[]) rather than as fields of a
 * shared struct. Worker thread; allocated in the request's pool. */
#ifndef SLUICE_EXCHANGE_H
#define SLUICE_EXCHANGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/dialect.h"
#include "sluice/generation.h"
#include "sluice/h2o.h"
#include "sluice/reqlog.h"
#include "sluice/resources.h"
#include "sluice/route.h"
#include "sluice/xlate.h"

struct sl_config;
struct sl_upstreams;
struct sl_metrics_worker;
struct sl_upstream_req;
struct sl_rl_worker;
struct sl_cache_worker;
struct sl_exchange;
struct sl_route;

/* What a worker lends the request path: set up by the server, read-only for the api layer. */
struct sl_services {
    const struct sl_config *cfg;
    struct sl_upstreams *upstreams;    /* this worker's upstream client */
    struct sl_metrics_worker *metrics; /* this worker's metric store */
    h2o_timeout_t *sse_keepalive;      /* SSE keep-alive comments; NULL: off */
    h2o_timeout_t *client_watch;       /* a 1 s tick for requests that watch their caller */
    const _Atomic bool *draining;      /* the process is shutting down */
    struct sl_rl_worker *limits;       /* this worker's rate limiter */
    struct sl_cache_worker *cache;     /* the response cache (api/cache_phase.c) */
    unsigned worker;                   /* this worker's index (per-worker balancer state) */
};

/* Module slots: per-request state of a feature, instead of a field in the exchange. */
enum sl_mod {
    SL_MOD_CALL = 0, /* the upstream phase (api/call.c) */
    SL_MOD_LIMITS,   /* rate limits, concurrency and budgets (api/limits.c) */
    /* What the route's dialect needs for its rewrites, prepared by a phase of the route (the
       Responses routes: the sealer of response ids, api/responses.c); the upstream phase hands
       it to the dialect and the translators as sl_xlate_ctx.dialect_state. */
    SL_MOD_DIALECT,
    SL_MOD_CACHE, /* the response cache (api/cache_phase.c) */
    SL_MOD_COUNT,
};

typedef int sl_phase_fn(struct sl_exchange *x);

/* A route's request handling. */
struct sl_route {
    const char *method;               /* "GET" routes also answer HEAD */
    const char *path;                 /* a path ending in '/' matches every longer path below it */
    const char *name;                 /* stable label for logs and metrics */
    const struct sl_dialect *dialect; /* how errors look on this route */
    enum sl_op op;
    enum sl_wire wire;          /* the caller's wire on this route */
    sl_phase_fn *const *phases; /* NULL-terminated */
};

struct sl_exchange {
    h2o_req_t *req;
    const struct sl_services *svc;
    struct sl_gen_pin *pin; /* the configuration generation this request runs on */
    const struct sl_resources *res;
    const struct sl_route *route; /* NULL until routed */
    /* How errors look: the route's dialect, unless a route serves several (GET /v1/models
     * answers Anthropic's SDKs in Anthropic's shapes). NULL until routed: OpenAI's. */
    const struct sl_dialect *dialect;
    struct sl_reqlog log;
    /* What the phases found. */
    const struct sl_api_key *key; /* auth */
    struct sl_call call;          /* inspect: the caller's body as its dialect sees it */
    const struct sl_model *model; /* route: the model the caller named (maybe a group) */
    struct sl_str alias_json;     /* the "model" value the caller sent, raw */
    /* The upstream model id of a direct model, as text and as a JSON string literal (route);
     * the upstream phase sets them for each target it tries. */
    struct sl_str upstream_id;
    struct sl_str upstream_id_json;
    struct sl_route_plan plan;     /* plan: the direct models to try, in order (route.h) */
    const struct sl_model *target; /* upstream: the direct model of the current attempt */
    struct sl_ip client;           /* plan: the client's address (proxy.real_ip) */
    bool has_client;
    struct sl_usage usage; /* tokens, as the upstream reported them */
    /* A call on a stored resource (GET /v1/responses/{id}...): the method and the path below the
     * api_base that a phase of the route chose; NULL and empty: POST to the wire's endpoint. */
    const char *upstream_method;
    struct sl_str upstream_path;
    /* Each upstream attempt (target, status or failure kind, milliseconds) is recorded in
     * log.attempts. */
    void *mod[SL_MOD_COUNT];
    /* HTTP/1.1: called at once when the caller closes its end while the request is handled;
     * set by a phase that has work to stop (the upstream call). */
    void (*on_client_gone)(struct sl_exchange *x);
    /* Called by the upstream phase before it builds each plan target's request, when a phase of
     * the route has per-target state to prepare (POST /v1/responses: x->mod[SL_MOD_DIALECT], the
     * sealer of the target's provider key, or none for a translated target). */
    void (*on_target)(struct sl_exchange *x, const struct sl_model *target);
    void *client_conn; /* the server's connection record (HTTP/1.1), opaque here */
    /* private */
    unsigned _phase;
    bool _running;
};

/* Starts the exchange for req in pool memory (freed with the request); dispose runs when h2o
 * frees the request, after the access log line was written. */
struct sl_exchange *sl_exchange_new(h2o_req_t *req, const struct sl_services *svc,
                                    struct sl_gen_pin *pin, struct sl_str request_id,
                                    uint64_t start_us, void (*dispose)(void *x));

/* The exchange of a request, or NULL for requests h2o answered itself (a 413 for a body over the
 * limit, a malformed chunked body) before any exchange existed. */
struct sl_exchange *sl_exchange_of(h2o_req_t *req);

/* Brings the log record up to date (tokens from the usage the upstream reported, estimated when
 * a 2xx reply reported none; the cost) and ends what the request holds (limits: tokens and
 * cost added, concurrency slots released); the server calls it just before writing the access
 * line, whether the response completed or the caller left. */
void sl_exchange_log_ready(struct sl_exchange *x);

/* The response's head is being sent (the server's response filter): modules add headers and
 * may insert an output stream in front of slot (the cache's tee); returns the slot the next
 * ostream goes in. */
h2o_ostream_t **sl_exchange_response_start(struct sl_exchange *x, h2o_ostream_t **slot);

/* Finds the route and runs its phases (404/405 in the OpenAI envelope when none matches). */
void sl_exchange_dispatch(struct sl_exchange *x);

/* Continues with the phase after the one that returned SL_AGAIN. Not from inside that phase. */
void sl_exchange_resume(struct sl_exchange *x);

/* Answers with an error in the route's dialect: pass a row of errors.h and its arguments,
 *     sl_exchange_error(x, SL_ERR_MODEL_NOT_FOUND, SL_STR_FMT(alias));
 * The row's kind becomes the log's error_kind. */
void sl_exchange_error(struct sl_exchange *x, int status, const char *type, const char *code,
                       const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The same with extra members for the OpenAI envelope's "error" object (a JSON text of
 * ',"name":value' pairs, such as a 429's "policy"); other dialects keep their strict shape. */
void sl_exchange_error_extra(struct sl_exchange *x, struct sl_str extra, int status,
                             const char *type, const char *code, const char *kind, const char *fmt,
                             ...) __attribute__((format(printf, 7, 8)));

/* The same with the caller-visible status given (rows whose status is 0) and, optionally, the
 * upstream's own error type for dialects that keep it. */
void sl_exchange_error_status(struct sl_exchange *x, int status, struct sl_str upstream_type,
                              int row_status, const char *type, const char *code, const char *kind,
                              const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* The phases (api/phases.c, api/call.c). */
int sl_phase_auth(struct sl_exchange *x);
int sl_phase_inspect(struct sl_exchange *x);
int sl_phase_route(struct sl_exchange *x);
int sl_phase_access(struct sl_exchange *x);
int sl_phase_limits(struct sl_exchange *x);
int sl_phase_plan(struct sl_exchange *x);
int sl_phase_cache(struct sl_exchange *x); /* api/cache_phase.c */
int sl_phase_upstream(struct sl_exchange *x);

/* The limits module's hooks (api/limits.c): at the response head (x-ratelimit-* headers; usage
 * known by then is counted at once) and at the end (tokens and cost added, slots released). */
void sl_limits_response_start(struct sl_exchange *x);
void sl_limits_finish(struct sl_exchange *x);
/* A model group's attempt on target: reserves the target's own limits and the policies that
 * follow the model (docs/limits.md, Routing targets). Returns SL_OK (go on), SL_DECLINED (the
 * target's limits refuse: fail over as after a 429 from it; sl_limits_reply_target_refusal
 * answers when no target follows) or SL_AGAIN (waiting on Redis: cb(ud, SL_OK or SL_DECLINED)
 * follows from the loop, never from inside this call, unless sl_limits_target_end comes
 * first). sl_limits_target_end ends a failed attempt's reservation (no tokens); the attempt that
 * answers is committed with the request's tokens and cost when the request ends. */
typedef void sl_limits_target_cb(void *ud, int rc);
int sl_limits_target(struct sl_exchange *x, const struct sl_model *target, sl_limits_target_cb *cb,
                     void *ud);
void sl_limits_target_end(struct sl_exchange *x);
void sl_limits_reply_target_refusal(struct sl_exchange *x);

/* Local routes: one phase each, answering themselves. */
int sl_phase_livez(struct sl_exchange *x);
int sl_phase_readyz(struct sl_exchange *x);
int sl_phase_models(struct sl_exchange *x);
int sl_phase_model(struct sl_exchange *x);

/* The Responses routes (api/responses.c). create runs between plan and upstream on POST
 * /v1/responses: previous_response_id opened and checked (the plan keeps only the targets of the
 * provider key that holds the response), the id sealer prepared for each target. stored replaces
 * inspect, route and access on the routes of a stored response (GET, DELETE /v1/responses/{id},
 * POST .../cancel, GET .../input_items): the id opened for this caller, the direct model of the
 * provider key the id names chosen (never re-routed: the response lives at that key). */
int sl_phase_responses_create(struct sl_exchange *x);
int sl_phase_responses_stored(struct sl_exchange *x);

#endif
