/* The request's story, in order: a routed request becomes an exchange, the route picks the
 * caller's dialect and the phases, and the phases run one after the other (exchange.h):
 *
 *   auth     the caller's key (401)                                     api/phases.c
 *   inspect  the body, as the route's dialect reads it (400)            api/phases.c
 *   route    the model alias: a direct model or a group (404)           api/phases.c
 *   access   may this key use this model (403)                          api/phases.c
 *   limits   the key's, the model's (a group's own) and the policies'   api/limits.c
 *            rate limits, concurrency, budgets (429; 503 without Redis)
 *   plan     the client's address; the direct models to try, in order:  api/phases.c,
 *            a group's tags, ranges, tiers, strategy, health (400, 403,  route/
 *            503); a direct model's ranges (403)
 *   cache    the response cache: a hit replies from the entry, a miss   api/cache_phase.c
 *            tees the reply into it (chat, completions, embeddings,
 *            messages; cache_policies)
 *   create   POST /v1/responses: previous_response_id opened, the plan   api/responses.c
 *            kept to its provider key; each target's id sealer
 *   upstream the call: request built (spliced or translated), sent,     api/call.c
 *            retried and failed over along the plan, each target's own
 *            limits reserved per attempt; the reply relayed (JSON
 *            rewritten or translated, streams through a filter chain
 *            into the dialect's encoder)
 *   log      when h2o frees the request: one access line, metrics      server/http.c
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/cache_phase.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/metrics.h"
#include "sluice/ratelimit.h"
#include "sluice/reply.h"

#define ENV_EXCHANGE      "sl.x"
#define ERROR_MESSAGE_MAX 1024

static sl_phase_fn *const proxied[] = {sl_phase_auth,   sl_phase_inspect,  sl_phase_route,
                                       sl_phase_access, sl_phase_limits,   sl_phase_plan,
                                       sl_phase_cache,  sl_phase_upstream, NULL};
/* POST /v1/responses: the id sealer depends on each planned target's provider key, and
 * previous_response_id narrows the plan to the key that holds the response. */
static sl_phase_fn *const responses[] = {sl_phase_auth,
                                         sl_phase_inspect,
                                         sl_phase_route,
                                         sl_phase_access,
                                         sl_phase_limits,
                                         sl_phase_plan,
                                         sl_phase_responses_create,
                                         sl_phase_upstream,
                                         NULL};
/* A stored response: the plan of the one direct model the id names (its ranges apply). */
static sl_phase_fn *const stored[] = {sl_phase_auth, sl_phase_responses_stored, sl_phase_plan,
                                      sl_phase_upstream, NULL};
static sl_phase_fn *const livez[] = {sl_phase_livez, NULL};
static sl_phase_fn *const readyz[] = {sl_phase_readyz, NULL};
static sl_phase_fn *const models[] = {sl_phase_models, NULL};
static sl_phase_fn *const model[] = {sl_phase_model, NULL};

#define OPENAI    (&sl_dialect_openai)
#define ANTHROPIC (&sl_dialect_anthropic)
#define RESPONSES (&sl_dialect_responses)

/* clang-format off */
static const struct sl_route routes[] = {
    {"POST", "/v1/chat/completions", "chat_completions", OPENAI, SL_OP_CHAT, SL_WIRE_CHAT, proxied},
    {"POST", "/v1/completions", "completions", OPENAI, SL_OP_COMPLETIONS, SL_WIRE_COMPLETIONS, proxied},
    {"POST", "/v1/embeddings", "embeddings", OPENAI, SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS, proxied},
    {"POST", "/v1/messages", "messages", ANTHROPIC, SL_OP_CHAT, SL_WIRE_ANTHROPIC, proxied},
    {"POST", "/v1/messages/count_tokens", "count_tokens", ANTHROPIC, SL_OP_COUNT_TOKENS,
     SL_WIRE_ANTHROPIC, proxied},
    {"POST", "/v1/responses", "responses", RESPONSES, SL_OP_CHAT, SL_WIRE_RESPONSES, responses},
    /* A stored response (api/responses.c tells its calls apart and names them in the log). */
    {"GET", "/v1/responses/", "responses_retrieve", RESPONSES, SL_OP_RESPONSE_STATE,
     SL_WIRE_RESPONSES, stored},
    {"DELETE", "/v1/responses/", "responses_delete", RESPONSES, SL_OP_RESPONSE_STATE,
     SL_WIRE_RESPONSES, stored},
    {"POST", "/v1/responses/", "responses_cancel", RESPONSES, SL_OP_RESPONSE_STATE,
     SL_WIRE_RESPONSES, stored},
    {"GET", "/v1/models", "models", OPENAI, SL_OP_CHAT, SL_WIRE_CHAT, models},
    {"GET", "/v1/models/", "model", OPENAI, SL_OP_CHAT, SL_WIRE_CHAT, model},
    {"GET", "/livez", "livez", OPENAI, SL_OP_CHAT, SL_WIRE_CHAT, livez},
    {"GET", "/readyz", "readyz", OPENAI, SL_OP_CHAT, SL_WIRE_CHAT, readyz},
};
/* clang-format on */

struct sl_exchange *sl_exchange_new(h2o_req_t *req, const struct sl_services *svc,
                                    struct sl_gen_pin *pin, struct sl_str request_id,
                                    uint64_t start_us, void (*dispose)(void *x))
{
    struct sl_exchange *x = h2o_mem_alloc_shared(&req->pool, sizeof(*x), dispose);
    *x = (struct sl_exchange){
        .req = req, .svc = svc, .pin = pin, .res = pin->gen->res, .usage = SL_USAGE_UNKNOWN};
    sl_reqlog_init(&x->log, request_id, start_us);
    *h2o_req_getenv(req, H2O_STRLIT(ENV_EXCHANGE), 1) = h2o_iovec_init((char *)x, sizeof(*x));
    return x;
}

struct sl_exchange *sl_exchange_of(h2o_req_t *req)
{
    h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT(ENV_EXCHANGE), 0);
    return slot != NULL ? (struct sl_exchange *)(void *)slot->base : NULL;
}

/* Chat streams carry about one token per event; a prompt about four bytes per token. */
#define PROMPT_BYTES_PER_TOKEN 4

/* A reply that succeeded upstream but reported no usage (a stream cut before its usage chunk, a
 * caller who left, an upstream that sends none) still cost tokens: estimate them, so limits and
 * budgets count them, and flag the estimate in the log. */
static void estimate_usage(struct sl_exchange *x)
{
    /* A 2xx head went to the caller only from a successful upstream reply (the last attempt's). */
    if (x->log.n_attempts == 0 || x->req->res.status < 200 || x->req->res.status > 299)
        return;
    if (x->log.prompt_tokens < 0) {
        x->log.prompt_tokens =
            (int64_t)((x->req->entity.len + PROMPT_BYTES_PER_TOKEN - 1) / PROMPT_BYTES_PER_TOKEN);
        x->log.tokens_estimated = true;
    }
    if (x->log.completion_tokens < 0) {
        x->log.completion_tokens = x->log.stream
                                       ? (int64_t)x->log.events
                                       : (int64_t)(x->req->bytes_sent / PROMPT_BYTES_PER_TOKEN);
        x->log.tokens_estimated = true;
    }
}

void sl_exchange_log_ready(struct sl_exchange *x)
{
    if (x->usage.input_tokens >= 0)
        x->log.prompt_tokens = x->usage.input_tokens;
    if (x->usage.output_tokens >= 0)
        x->log.completion_tokens = x->usage.output_tokens;
    estimate_usage(x);
    /* Priced by the direct model that answered (a group's target), not the name called. */
    const struct sl_model *served = x->target != NULL ? x->target : x->model;
    if (served != NULL && served->cost.set && x->log.prompt_tokens >= 0) {
        x->log.has_cost = true;
        x->log.cost_nusd = sl_cost_nusd(&served->cost, (uint64_t)x->log.prompt_tokens,
                                        (uint64_t)SL_MAX(x->log.completion_tokens, 0));
    }
    sl_limits_finish(x);
}

h2o_ostream_t **sl_exchange_response_start(struct sl_exchange *x, h2o_ostream_t **slot)
{
    sl_limits_response_start(x);
    return sl_cache_response_start(x, slot);
}

/* ---- phases ---- */

/* Runs phases from x->_phase until one answers, waits, or the list ends. The guard makes a
 * resume from inside a phase (a callback that fired synchronously) a programming error rather
 * than a reentrant run. */
static void run(struct sl_exchange *x)
{
    SL_ASSERT(!x->_running);
    x->_running = true;
    for (;;) {
        sl_phase_fn *phase = x->route->phases[x->_phase];
        if (phase == NULL)
            break;
        int rc = phase(x);
        if (rc == SL_AGAIN || rc == SL_DONE)
            break;
        SL_ASSERT(rc == SL_OK || rc == SL_DECLINED);
        x->_phase++;
    }
    x->_running = false;
}

void sl_exchange_resume(struct sl_exchange *x)
{
    SL_ASSERT(x->route->phases[x->_phase] != NULL);
    x->_phase++;
    run(x);
}

/* ---- routing ---- */

static bool path_matches(const struct sl_route *r, struct sl_str path)
{
    size_t n = strlen(r->path);
    if (r->path[n - 1] == '/')
        return path.len > n && memcmp(path.ptr, r->path, n) == 0;
    return h2o_memis(path.ptr, path.len, r->path, n);
}

static bool method_matches(const struct sl_route *r, h2o_iovec_t method)
{
    if (h2o_memis(method.base, method.len, r->method, strlen(r->method)))
        return true;
    return strcmp(r->method, "GET") == 0 && h2o_memis(method.base, method.len, H2O_STRLIT("HEAD"));
}

static void reply_method_not_allowed(struct sl_exchange *x, struct sl_str path)
{
    h2o_req_t *req = x->req;
    char allow[64] = "";
    size_t o = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(routes); i++) {
        const struct sl_route *r = &routes[i];
        if (!path_matches(r, path))
            continue;
        int n = snprintf(allow + o, sizeof(allow) - o, "%s%s%s", o != 0 ? ", " : "", r->method,
                         strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        if (n > 0)
            o += (size_t)n < sizeof(allow) - o ? (size_t)n : 0;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                   h2o_strdup(&req->pool, allow, o).base, o);
    sl_exchange_error(x, SL_ERR_METHOD_NOT_ALLOWED, (int)SL_MIN(req->method.len, 16),
                      req->method.base, (int)SL_MIN(path.len, 128), path.ptr, allow);
}

void sl_exchange_dispatch(struct sl_exchange *x)
{
    h2o_req_t *req = x->req;
    struct sl_str path = sl_str_from_iov(req->path_normalized);
    const struct sl_route *known = NULL;
    for (size_t i = 0; i < SL_ARRAY_LEN(routes); i++) {
        const struct sl_route *r = &routes[i];
        if (!path_matches(r, path))
            continue;
        known = r;
        if (!method_matches(r, req->method))
            continue;
        x->route = r;
        x->dialect = r->dialect;
        x->log.route = r->name;
        sl_metrics_inflight(x->svc->metrics, r->name, 1);
        run(x);
        return;
    }
    if (known != NULL) {
        reply_method_not_allowed(x, path);
        return;
    }
    sl_exchange_error(x, SL_ERR_ROUTE_NOT_FOUND, (int)SL_MIN(req->method.len, 16), req->method.base,
                      (int)SL_MIN(path.len, 128), path.ptr);
}

/* ---- errors ---- */

static void reply_errorv(struct sl_exchange *x, int status, struct sl_str upstream_type,
                         struct sl_str extra, const char *type, const char *code, const char *kind,
                         const char *fmt, va_list ap) __attribute__((format(printf, 8, 0)));

/* Inserts extra before the "}}" that closes the OpenAI envelope's error object. */
static struct sl_str with_extra(h2o_mem_pool_t *pool, struct sl_str body, struct sl_str extra)
{
    if (body.len < 2 || memcmp(body.ptr + body.len - 2, "}}", 2) != 0)
        return body;
    char *out = h2o_mem_alloc_pool(pool, body.len + extra.len);
    memcpy(out, body.ptr, body.len - 2);
    memcpy(out + body.len - 2, extra.ptr, extra.len);
    memcpy(out + body.len - 2 + extra.len, "}}", 2);
    return sl_str_init(out, body.len + extra.len);
}

static void reply_errorv(struct sl_exchange *x, int status, struct sl_str upstream_type,
                         struct sl_str extra, const char *type, const char *code, const char *kind,
                         const char *fmt, va_list ap)
{
    char msg[ERROR_MESSAGE_MAX];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    SL_ASSERT(status >= 400 && status <= 599);
    const struct sl_dialect *d = x->dialect != NULL ? x->dialect : &sl_dialect_openai;
    x->log.error_kind = kind;
    struct sl_str message = sl_str_init(msg, SL_MIN((size_t)SL_MAX(n, 0), sizeof(msg) - 1));
    struct sl_str body = d->error_body(&x->req->pool, status, type, code, message, upstream_type);
    if (extra.len != 0 && d == &sl_dialect_openai)
        body = with_extra(&x->req->pool, body, extra);
    sl_reply(x->req, status, "application/json", body);
}

void sl_exchange_error(struct sl_exchange *x, int status, const char *type, const char *code,
                       const char *kind, const char *fmt, ...)
{
    va_list ap;
    SL_ASSERT(status != 0); /* a row without a status goes through sl_exchange_error_status */
    va_start(ap, fmt);
    reply_errorv(x, status, SL_STR_NULL, SL_STR_NULL, type, code, kind, fmt, ap);
    va_end(ap);
}

void sl_exchange_error_extra(struct sl_exchange *x, struct sl_str extra, int status,
                             const char *type, const char *code, const char *kind, const char *fmt,
                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_errorv(x, status, SL_STR_NULL, extra, type, code, kind, fmt, ap);
    va_end(ap);
}

void sl_exchange_error_status(struct sl_exchange *x, int status, struct sl_str upstream_type,
                              int row_status, const char *type, const char *code, const char *kind,
                              const char *fmt, ...)
{
    va_list ap;
    SL_UNUSED(row_status);
    va_start(ap, fmt);
    reply_errorv(x, status, upstream_type, SL_STR_NULL, type, code, kind, fmt, ap);
    va_end(ap);
}
