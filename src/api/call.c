/* The upstream phase: the plan's direct models tried one after the other (reference 7.2-7.4),
 * each attempt a fresh upstream call, and the reply handed back in the caller's dialect.
 *
 * Attempts walk the plan (exchange.h x->plan, ordered by the plan phase): a failure that the
 * reference counts as retryable is retried on the same target within its budget (the target's
 * retries, else the group's routing.retries, else upstream.retries when no other target is
 * queued) with backoff, then fails over to the next target at once; one that is not (a 4xx
 * other than 429 with retry_on_429 and fallback_on_statuses) ends the request. Every attempt is
 * logged (x->log.attempts) and reported to route/ (cooldowns, health, latency, load).
 *
 * The target's provider family says which wire it speaks for this route. The same wire as the
 * caller's means passthrough: the caller's body is spliced (only "model" changes, plus what the
 * gateway needs to read usage) and the reply is rewritten in place (model back to the alias).
 * Another wire means a translation pair (xlate.h) for the request, the JSON reply and the
 * stream. Streams go through a filter chain: [translation or passthrough rewrite] -> relay tap
 * -> the dialect's encoder, which owns the stream's terminator and its error frames. While a
 * failed first event could still fail over (another target is queued, or a stream budget is
 * configured on the models, as in the reference), the 200 waits for the first upstream event;
 * once it is sent nothing fails over and a failure ends the stream with the error frame.
 *
 * Families that need something slow before a target's request can be built (an OAuth access
 * token) have a prepare step: the attempt waits for it without blocking the loop
 * (CALL_PREPARING), once per target (its retries reuse the token); a failure is that attempt's,
 * failed over like a transport failure, and when nothing follows a 502 naming the token
 * endpoint's error. A 2xx reply that refuses the prompt (Gemini's promptFeedback) is final: the
 * caller gets 400 naming the reason.
 *
 * Final failures: 4xx keep their status and message (the provider key redacted), 5xx map by
 * the dialect (502 for OpenAI callers; Anthropic callers keep 529); transport failures 502;
 * deadlines 504. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sluice/base.h"
#include "sluice/clock.h"
#include "sluice/config.h"
#include "sluice/errors.h"
#include "sluice/eventstream.h"
#include "sluice/exchange.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/redact.h"
#include "sluice/relay.h"
#include "sluice/reply.h"
#include "sluice/route.h"
#include "sluice/splice.h"
#include "sluice/sse.h"
#include "sluice/upstream.h"

/* Error bodies are only mined for a message; JSON bodies are capped by
 * upstream.max_response_bytes; streams are never held whole. */
#define MAX_ERROR_BODY_BYTES (64u * 1024)
/* An upstream 4xx message longer than this (unescaped) becomes "upstream returned N". */
#define MAX_UPSTREAM_MESSAGE_BYTES 1024u
/* ...and its code longer than this is dropped (the envelope's limit is 127). */
#define MAX_UPSTREAM_CODE_BYTES 127u
/* A translated body may grow past the caller's (JSON written out, defaults added). */
#define TRANSLATED_SLACK (64u * 1024)
/* A stream's bytes held while waiting for its first event; past this the stream starts anyway
 * (the relay then enforces its own cap on one event). */
#define MAX_PEEK_BYTES (64u * 1024)
/* sl_sse_feed's stop for the peek: below every SL_E*. */
#define PEEK_STOP (-100)

enum call_state {
    CALL_WAITING = 0, /* an attempt's upstream exchange is running, no head yet */
    CALL_PREPARING,   /* an attempt waits for the family's prepare step (an access token) */
    CALL_LIMITING,    /* a group's attempt waits on its target's limits (Redis) */
    CALL_PEEKING,     /* 2xx event stream: holding the 200 until its first event */
    CALL_JSON,        /* 2xx head received; collecting the JSON body */
    CALL_ERROR_BODY,  /* a final 4xx head received; collecting the error body */
    CALL_STREAMING,   /* 2xx event stream being relayed */
    CALL_BACKOFF,     /* between attempts: the next one starts when the timer fires */
    CALL_DONE,        /* a response was started; no attempt follows */
};

/* What went wrong with an attempt, enough to decide what follows and to answer the caller when
 * nothing does. */
enum fail_kind {
    FAIL_STATUS,       /* an error status head: status, retry_after */
    FAIL_UPSTREAM,     /* the upstream client failed: err, detail */
    FAIL_TOO_LARGE,    /* a 2xx JSON body over upstream.max_response_bytes */
    FAIL_BAD_JSON,     /* a 2xx JSON body the caller's reply cannot be made from: json */
    FAIL_STREAM_EMPTY, /* an event stream that ended before its first event */
    FAIL_STREAM_ERROR, /* an event stream whose first event is an in-band error */
    FAIL_TOKEN,        /* the family's prepare step failed: detail */
    FAIL_REFUSED,      /* a 2xx reply that refuses the prompt itself: json */
    FAIL_LIMITED,      /* the target's own limits refused the attempt (never sent) */
};

/* Why a 2xx JSON body could not become the caller's reply. */
struct json_fail {
    enum { JF_BAD_JSON = 0, JF_INVALID, JF_TOO_LARGE, JF_MODEL_REPEATS, JF_REFUSED } what;
    char why[200];
    size_t at;
};

struct failure {
    enum fail_kind kind;
    int status;                 /* FAIL_STATUS */
    enum sl_upstream_error err; /* FAIL_UPSTREAM */
    const char *detail;         /* FAIL_UPSTREAM, FAIL_TOKEN: valid during the callback */
    struct json_fail json;      /* FAIL_BAD_JSON, FAIL_REFUSED */
};

enum step {
    STEP_FINAL = 0, /* no attempt follows: answer the caller with this failure */
    STEP_RETRY,     /* the same target again, after a backoff */
    STEP_FAILOVER,  /* the next target, at once */
};

struct call {
    struct sl_exchange *x;
    enum call_state state;
    /* The target being tried: x->plan.targets[target], and its request. */
    unsigned target;
    const struct sl_model *model;
    const struct sl_provider_ops *prov;
    const struct sl_xlate_pair *pair; /* NULL: the upstream speaks the caller's wire */
    struct sl_xlate_ctx xc;
    struct sl_upstream_call upc;  /* the target's request, as its family builds it */
    struct sl_provider_prep prep; /* the family's prepare step, while CALL_PREPARING */
    bool preparing;               /* prep is pending: it must be cancelled if the call ends */
    const h2o_iovec_t *reqbufs;   /* the built request; NULL until the target is prepared */
    size_t nreqbufs;
    struct sl_buf translated; /* the translated request body, when there is one */
    struct sl_upstream_opts opts;
    bool peek;              /* streams: hold the 200 until the first event */
    uint64_t budget;        /* retries on this target */
    bool budget_configured; /* by the model or the group, not upstream.retries */
    unsigned retries_done;  /* on this target */
    enum step next;         /* CALL_BACKOFF: what the timer starts */
    /* The attempt running. */
    struct sl_upstream_req *up;
    uint64_t attempt_start_us;
    int log_index;     /* its x->log.attempts slot, or -1 */
    bool attempt_open; /* sl_route_attempt_begin called, release pending */
    int status;        /* the status the upstream's head stands for (the family's classify) */
    struct sl_str error_type; /* the error's name from a header (Bedrock's), pool memory */
    struct sl_str retry_after;
    struct sl_buf body; /* JSON or error body, or a stream's bytes before its first event */
    enum sl_relay_framing framing; /* the attempt's stream: SSE or AWS's event stream */
    struct sl_sse_parser peek_sse;
    struct sl_eventstream_decoder peek_es;
    bool peek_ready;
    int peek_verdict; /* 0: no event yet; 1: an event; -1: an in-band error */
    struct sl_relay relay;
    bool relay_ready;
    bool relay_started;
    h2o_timeout_entry_t watch;
    h2o_timeout_entry_t retry_timer;
};

static h2o_generator_t plain_generator = {NULL, NULL};

static const struct sl_dialect *dialect_of(const struct call *c)
{
    return c->x->dialect;
}

/* The legal moves: a group's attempt may wait for its target's limits, and an attempt on a new
 * target for its prepare step, first; a head
 * decides peek, JSON, error body or stream (or a failure: backoff or done); a peek becomes a
 * stream or fails; a failed attempt backs off before the next one; everything ends in done. */
static void set_state(struct call *c, enum call_state to)
{
    switch (to) {
    case CALL_WAITING:
        SL_ASSERT(c->state == CALL_WAITING || c->state == CALL_BACKOFF ||
                  c->state == CALL_PREPARING || c->state == CALL_LIMITING);
        break;
    case CALL_PREPARING:
        SL_ASSERT(c->state == CALL_WAITING || c->state == CALL_BACKOFF ||
                  c->state == CALL_LIMITING);
        break;
    case CALL_LIMITING:
        SL_ASSERT(c->state == CALL_WAITING || c->state == CALL_BACKOFF);
        break;
    case CALL_PEEKING:
    case CALL_JSON:
    case CALL_ERROR_BODY:
        SL_ASSERT(c->state == CALL_WAITING);
        break;
    case CALL_STREAMING:
        SL_ASSERT(c->state == CALL_WAITING || c->state == CALL_PEEKING);
        break;
    case CALL_BACKOFF:
        SL_ASSERT(c->state == CALL_WAITING || c->state == CALL_PEEKING || c->state == CALL_JSON ||
                  c->state == CALL_PREPARING || c->state == CALL_LIMITING);
        break;
    case CALL_DONE:
        break;
    }
    c->state = to;
}

/* ---- attempts ---- */

static const struct sl_upstream_cbs upstream_cbs;

static void prepare_and_send(struct call *c);
static void send_attempt(struct call *c);
static void limited(struct call *c);

static void on_target_limits(void *ud, int rc)
{
    struct call *c = ud;
    SL_ASSERT(c->state == CALL_LIMITING);
    if (rc == SL_OK)
        send_attempt(c);
    else
        limited(c);
}

/* Starts an attempt on the current target: logged, its limits reserved (a group's target),
 * counted in flight, sent (the target's first attempt once its request is built, after the
 * family's prepare step). */
static void begin_attempt(struct call *c, enum sl_attempt_kind kind)
{
    struct sl_exchange *x = c->x;
    struct sl_reqlog *log = &x->log;
    c->attempt_start_us = sl_now_us();
    c->status = 0;
    c->error_type = SL_STR_NULL;
    c->retry_after = SL_STR_NULL;
    c->peek_verdict = 0;
    c->log_index = -1;
    if (log->n_attempts < SL_REQLOG_MAX_ATTEMPTS) {
        c->log_index = log->n_attempts++;
        log->attempts[c->log_index] = (struct sl_reqlog_attempt){
            .target = sl_str_from_cstr(c->model->name), .kind = (uint8_t)kind};
    } else {
        log->attempts_dropped++;
    }
    if (x->model->kind == SL_MODEL_ROUTING) {
        switch (sl_limits_target(x, c->model, on_target_limits, c)) {
        case SL_AGAIN:
            set_state(c, CALL_LIMITING);
            return;
        case SL_DECLINED:
            limited(c);
            return;
        default:
            break;
        }
    }
    send_attempt(c);
}

/* The attempt's limits hold: it runs. */
static void send_attempt(struct call *c)
{
    struct sl_exchange *x = c->x;
    sl_route_attempt_begin(c->model);
    c->attempt_open = true;
    if (c->reqbufs == NULL) {
        prepare_and_send(c);
        return;
    }
    set_state(c, CALL_WAITING);
    c->up = sl_upstream_start(x->svc->upstreams, &c->model->key->origin, c->reqbufs, c->nreqbufs,
                              &c->opts, &upstream_cbs, c);
}

/* The attempt's upstream exchange is over: it no longer counts in flight. */
static void attempt_over(struct call *c)
{
    c->up = NULL;
    if (!c->attempt_open)
        return;
    c->attempt_open = false;
    sl_route_attempt_release(c->model);
}

static enum sl_attempt_result result_of_error(enum sl_upstream_error err)
{
    switch (err) {
    case SL_UPSTREAM_ERR_DEADLINE:
    case SL_UPSTREAM_ERR_IDLE:
    case SL_UPSTREAM_ERR_CONNECT_TIMEOUT:
        return SL_ATTEMPT_TIMEOUT;
    default:
        return SL_ATTEMPT_TRANSPORT;
    }
}

static const char *failure_name(const struct failure *f)
{
    switch (f->kind) {
    case FAIL_STATUS:
        return f->status >= 500 ? "status_5xx" : f->status >= 400 ? "status_4xx" : "status_other";
    case FAIL_UPSTREAM:
        return sl_upstream_error_name(f->err);
    case FAIL_TOO_LARGE:
        return "too_large";
    case FAIL_BAD_JSON:
        return "decode";
    case FAIL_STREAM_EMPTY:
        return "stream_empty";
    case FAIL_STREAM_ERROR:
        return "stream_error";
    case FAIL_TOKEN:
        return "token";
    case FAIL_REFUSED:
        return "refused";
    case FAIL_LIMITED:
        return "rate_limited";
    }
    return "upstream";
}

static uint64_t retry_after_secs(const struct call *c, bool *has)
{
    uint64_t s = 0;
    *has = c->retry_after.len != 0 &&
           sl_str_to_u64(sl_str_trim(c->retry_after), UINT32_MAX, &s) == SL_OK;
    return s;
}

/* The attempt's verdict, in the log and for route/. f NULL: success. */
static void judge(struct call *c, const struct failure *f)
{
    struct sl_exchange *x = c->x;
    uint64_t now = sl_now_us();
    struct sl_attempt_outcome o = {.result = SL_ATTEMPT_OK,
                                   .latency_us = now - c->attempt_start_us};
    if (c->log_index >= 0) {
        struct sl_reqlog_attempt *a = &x->log.attempts[c->log_index];
        a->status = c->status;
        a->ms = (uint32_t)SL_MIN((now - c->attempt_start_us) / 1000, UINT32_MAX);
        a->error = f != NULL && f->kind != FAIL_STATUS ? failure_name(f) : NULL;
    }
    if (f != NULL) {
        x->log.upstream_error = failure_name(f);
        /* A refusal is about the prompt: the target answered as it should. */
        o.result = f->kind == FAIL_STATUS     ? SL_ATTEMPT_STATUS
                   : f->kind == FAIL_UPSTREAM ? result_of_error(f->err)
                   : f->kind == FAIL_REFUSED  ? SL_ATTEMPT_OK
                                              : SL_ATTEMPT_TRANSPORT;
        o.status = f->status;
        o.retry_after_s = retry_after_secs(c, &o.has_retry_after);
    }
    (void)sl_route_attempt_end(c->model, &o, now / 1000);
}

/* ---- what follows a failure (reference 7.2, 7.3) ---- */

/* is_retryable: a status in the group's fallback_on_statuses; 429 only with retry_on_429; no
 * other 4xx; 5xx as the family counts them, and anything odd. Not a refused prompt either (the
 * reference's content policy errors are 400s it does not retry: another target would be asked
 * the same prompt). Every other failure is. */
static bool is_retryable(const struct call *c, const struct failure *f)
{
    const struct sl_routing *rt = c->x->model->routing;
    if (f->kind == FAIL_REFUSED)
        return false;
    if (f->kind != FAIL_STATUS)
        return true;
    if (rt != NULL && sl_status_set_has(&rt->fallback_on, f->status))
        return true;
    if (f->status == 429)
        return rt != NULL && rt->retry_on_429;
    if (f->status >= 400 && f->status < 500)
        return false;
    return f->status < 500 || c->prov->retryable_status(f->status);
}

/* Whether the same target may be asked again: not after a failure another attempt would only
 * repeat (TLS verification, the egress proxy's own failures, bodies that cannot be decoded or
 * are too large, a token endpoint's failure, which token.h remembers for a second), and not
 * after a timeout unless the budget was configured (a default budget never re-hits a target that
 * timed out; failing over is still fine). */
static bool same_target_may_help(const struct call *c, const struct failure *f)
{
    if (f->kind == FAIL_TOO_LARGE || f->kind == FAIL_BAD_JSON || f->kind == FAIL_TOKEN ||
        f->kind == FAIL_LIMITED)
        return false;
    if (f->kind != FAIL_UPSTREAM)
        return true;
    switch (f->err) {
    case SL_UPSTREAM_ERR_DNS:
    case SL_UPSTREAM_ERR_CONNECT:
    case SL_UPSTREAM_ERR_PROXY:
    case SL_UPSTREAM_ERR_RESET:
    case SL_UPSTREAM_ERR_PROTOCOL:
        return true;
    case SL_UPSTREAM_ERR_DEADLINE:
    case SL_UPSTREAM_ERR_IDLE:
    case SL_UPSTREAM_ERR_CONNECT_TIMEOUT:
        return c->budget_configured;
    default:
        return false;
    }
}

static enum step next_step(const struct call *c, const struct failure *f)
{
    if (c->x->log.client_gone || !is_retryable(c, f))
        return STEP_FINAL;
    if (c->retries_done < c->budget && same_target_may_help(c, f))
        return STEP_RETRY;
    return c->target + 1 < c->x->plan.n ? STEP_FAILOVER : STEP_FINAL;
}

/* 250 ms doubling up to 2 s, or the upstream's Retry-After when it is 1 to 5 s, plus up to
 * 250 ms of jitter, on a 50 ms grid (each distinct delay costs the worker one timer list). */
static uint64_t backoff_ms(const struct call *c)
{
    bool has;
    uint64_t ra = retry_after_secs(c, &has);
    uint64_t jitter = (sl_now_us() * 2654435761u >> 11) % 251;
    uint64_t base;
    if (has && ra >= 1 && ra <= 5) {
        base = ra * 1000;
    } else {
        unsigned n = c->retries_done < 4 ? c->retries_done : 4;
        base = SL_MIN(250u << n, 2000u);
    }
    return (base + jitter + 25) / 50 * 50;
}

static void on_next_attempt(h2o_timeout_entry_t *e);

/* After a failed attempt (already judged, its exchange over): arms the next one. */
static void go_on(struct call *c, enum step step)
{
    struct sl_exchange *x = c->x;
    uint64_t ms = 0;
    SL_ASSERT(step != STEP_FINAL);
    if (step == STEP_RETRY) {
        ms = backoff_ms(c);
        c->retries_done++;
    }
    set_state(c, CALL_BACKOFF);
    c->next = step;
    c->retry_timer.cb = on_next_attempt;
    sl_upstreams_timer(x->svc->upstreams, ms, &c->retry_timer);
    sl_log_debug("upstream attempt failed request_id=%.*s target=%s next=%s in %llu ms",
                 SL_STR_FMT(x->log.request_id), c->model->name,
                 step == STEP_RETRY ? "retry" : "failover", (unsigned long long)ms);
}

static void stop_watch(struct call *c)
{
    if (h2o_timeout_is_linked(&c->watch))
        h2o_timeout_unlink(&c->watch);
}

/* ---- responses ---- */

/* A model group's success says which target served it. */
static void add_served_by(struct call *c)
{
    struct sl_exchange *x = c->x;
    h2o_req_t *req = x->req;
    if (x->model->kind != SL_MODEL_ROUTING)
        return;
    x->log.served_by = sl_str_from_cstr(c->model->name);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-sluice-served-by"), 0, NULL,
                          c->model->name, strlen(c->model->name));
}

static void reply_json(struct call *c, int status, const h2o_iovec_t *v, size_t n, size_t len)
{
    h2o_req_t *req = c->x->req;
    req->res.status = status;
    req->res.reason = sl_status_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &plain_generator);
    h2o_send(req, (h2o_iovec_t *)v, n, H2O_SEND_STATE_FINAL);
}

/* 2xx JSON: translated, or the same wire rewritten in place (model back to the alias). Sends
 * the reply and returns true, or fills jf and returns false. */
static bool send_json(struct call *c, struct json_fail *jf)
{
    struct sl_exchange *x = c->x;
    struct sl_str body = sl_buf_str(&c->body);
    x->usage = SL_USAGE_UNKNOWN;
    if (c->pair != NULL) {
        struct sl_buf out;
        sl_buf_init(&out, x->svc->cfg->upstream.max_response_bytes + TRANSLATED_SLACK);
        int rc =
            sl_xlate_response(c->pair, &c->xc, body, &out, &x->usage, jf->why, sizeof(jf->why));
        if (rc != SL_OK) {
            sl_buf_dispose(&out);
            jf->what = rc == SL_E2BIG ? JF_TOO_LARGE : rc == SL_ERR ? JF_REFUSED : JF_INVALID;
            return false;
        }
        h2o_iovec_t v = h2o_strdup(&x->req->pool, out.ptr, out.len);
        sl_buf_dispose(&out);
        add_served_by(c);
        reply_json(c, c->status, &v, 1, v.len);
        return true;
    }
    struct sl_splice sp;
    switch (dialect_of(c)->passthrough_json(&c->xc, body, x->alias_json, &sp, &x->usage)) {
    case SL_REWRITE_REFUSE:
        jf->what = JF_MODEL_REPEATS;
        return false;
    case SL_REWRITE_RAW:
    case SL_REWRITE_DROP: {
        struct sl_json_error jerr = {"not a JSON object", 0};
        sl_json_validate(body, SL_JSON_DEFAULT_MAX_DEPTH, &jerr);
        jf->what = JF_BAD_JSON;
        snprintf(jf->why, sizeof(jf->why), "%s", jerr.why);
        jf->at = jerr.at;
        return false;
    }
    case SL_REWRITE_OK:
        break;
    }
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t len, n = sl_splice_iov(&sp, v, &len);
    add_served_by(c);
    reply_json(c, c->status, v, n, len);
    return true;
}

static void reply_upstream_failure(struct call *c, enum sl_upstream_error err, const char *detail)
{
    struct sl_exchange *x = c->x;
    const char *what = detail != NULL ? detail : sl_upstream_error_name(err);
    switch (err) {
    case SL_UPSTREAM_ERR_DEADLINE:
    case SL_UPSTREAM_ERR_IDLE:
    case SL_UPSTREAM_ERR_CONNECT_TIMEOUT:
        sl_exchange_error(x, SL_ERR_UPSTREAM_TIMEOUT, what);
        break;
    case SL_UPSTREAM_ERR_PROTOCOL:
    case SL_UPSTREAM_ERR_TOO_LARGE:
        sl_exchange_error(x, SL_ERR_UPSTREAM_INVALID, what);
        break;
    case SL_UPSTREAM_ERR_DECODE:
        sl_exchange_error(x, SL_ERR_UPSTREAM_UNDECODABLE, what);
        break;
    case SL_UPSTREAM_ERR_PROXY_AUTH:
        sl_exchange_error(x, SL_ERR_UPSTREAM_PROXY_AUTH, what);
        break;
    default:
        sl_exchange_error(x, SL_ERR_UPSTREAM_UNREACHABLE, what);
        break;
    }
}

/* text with the provider key the upstream was sent replaced by SL_REDACTED, in pool memory: an
 * upstream may quote the key in an error ("Incorrect API key provided: ..."). A result that
 * would pass cap is cut before the secret that did not fit. */
static struct sl_str without_provider_key(h2o_mem_pool_t *pool, struct sl_str text,
                                          const struct sl_provider_key *key, size_t cap)
{
    struct sl_buf out;
    sl_buf_init(&out, cap);
    (void)sl_redact(text, sl_str_from_cstr(key->api_key), &out);
    struct sl_str r = sl_str_from_iov(h2o_strdup(pool, out.ptr != NULL ? out.ptr : "", out.len));
    sl_buf_dispose(&out);
    return r;
}

/* A JSON string value unescaped into pool memory (cut at cap), or empty. */
static struct sl_str unescaped(h2o_mem_pool_t *pool, struct sl_str raw, size_t cap)
{
    struct sl_buf b;
    struct sl_str r = SL_STR_NULL;
    if (raw.len == 0 || raw.ptr[0] != '"')
        return r;
    sl_buf_init(&b, cap);
    if (sl_json_unescape(raw, &b) == SL_OK)
        r = sl_str_from_iov(h2o_strdup(pool, b.ptr != NULL ? b.ptr : "", b.len));
    sl_buf_dispose(&b);
    return r;
}

static void add_retry_after(struct call *c)
{
    h2o_req_t *req = c->x->req;
    if (c->retry_after.len != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       c->retry_after.ptr, c->retry_after.len);
}

/* 4xx: keep the status and the upstream's message; 429 keeps Retry-After. */
static void finish_error_body(struct call *c)
{
    struct sl_exchange *x = c->x;
    struct sl_upstream_error_info info;
    h2o_req_t *req = x->req;
    const struct sl_provider_key *key = c->model->key;
    int status = dialect_of(c)->upstream_status(c->status);
    x->log.error_kind = "upstream_error";
    struct sl_str msg = SL_STR_NULL;
    bool parsed = c->prov->parse_error(sl_buf_str(&c->body), &info);
    /* A retry hint in the body (Google's RetryInfo) when there was no Retry-After header. */
    if (parsed && c->retry_after.len == 0 && info.retry_after.len != 0)
        c->retry_after =
            sl_str_from_iov(h2o_strdup(&req->pool, info.retry_after.ptr, info.retry_after.len));
    add_retry_after(c);
    if (parsed)
        msg = unescaped(&req->pool, info.message, MAX_UPSTREAM_MESSAGE_BYTES);
    if (msg.len == 0) {
        sl_exchange_error_status(x, status, SL_STR_NULL, SL_ERR_UPSTREAM_4XX, c->status);
        return;
    }
    /* The code: a JSON string unescaped, or a short bare literal (a number) as it is. */
    struct sl_str raw_code = unescaped(&req->pool, info.code, MAX_UPSTREAM_CODE_BYTES);
    if (raw_code.len == 0 && info.code.len != 0 && info.code.ptr[0] != '"' &&
        info.code.len <= MAX_UPSTREAM_CODE_BYTES)
        raw_code = info.code;
    if (raw_code.len == 0)
        raw_code = c->error_type;
    /* Pool copies are NUL-terminated; a code cut at an embedded NUL stays a valid code. */
    struct sl_str code =
        raw_code.len != 0 ? without_provider_key(&req->pool, raw_code, key, MAX_UPSTREAM_CODE_BYTES)
                          : SL_STR_NULL;
    struct sl_str shown = without_provider_key(&req->pool, msg, key, MAX_UPSTREAM_MESSAGE_BYTES);
    struct sl_str type = unescaped(&req->pool, info.type, MAX_UPSTREAM_CODE_BYTES);
    struct sl_str env = dialect_of(c)->error_body(
        &req->pool, status, "upstream_error",
        code.len != 0 && code.ptr[0] != '\0' ? code.ptr : NULL, shown, type);
    sl_reply(req, status, "application/json", env);
}

/* Whether a 2xx reply is an event stream, and how it is framed. Media types compare
 * case-insensitively and without their parameters (RFC 9110 8.3.1): "Text/Event-Stream;
 * charset=utf-8" is SSE; AWS's event stream (Bedrock) is binary. */
static bool is_event_stream(const struct sl_upstream_head *h, enum sl_relay_framing *framing)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct phr_header *hd = &h->headers[i];
        if (hd->name == NULL ||
            !sl_str_ieq_lit(sl_str_init(hd->name, hd->name_len), "content-type"))
            continue;
        struct sl_str v = sl_str_init(hd->value, hd->value_len);
        const char *semi = memchr(v.ptr, ';', v.len);
        if (semi != NULL)
            v.len = (size_t)(semi - v.ptr);
        v = sl_str_trim(v);
        *framing = sl_str_ieq_lit(v, "application/vnd.amazon.eventstream") ? SL_RELAY_EVENTSTREAM
                                                                           : SL_RELAY_SSE;
        return *framing == SL_RELAY_EVENTSTREAM || sl_str_ieq_lit(v, "text/event-stream");
    }
    return false;
}

static struct sl_str find_header(const struct sl_upstream_head *h, const char *name)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct phr_header *hd = &h->headers[i];
        if (hd->name != NULL &&
            sl_str_ieq(sl_str_init(hd->name, hd->name_len), sl_str_from_cstr(name)))
            return sl_str_init(hd->value, hd->value_len);
    }
    return SL_STR_NULL;
}

static void reply_json_fail(struct call *c, const struct json_fail *jf)
{
    struct sl_exchange *x = c->x;
    switch (jf->what) {
    case JF_BAD_JSON:
        sl_exchange_error(x, SL_ERR_UPSTREAM_BAD_JSON, jf->why, jf->at);
        break;
    case JF_INVALID:
        sl_exchange_error(x, SL_ERR_UPSTREAM_INVALID, jf->why);
        break;
    case JF_TOO_LARGE:
        sl_exchange_error(x, SL_ERR_UPSTREAM_TOO_LARGE,
                          (unsigned long long)x->svc->cfg->upstream.max_response_bytes);
        break;
    case JF_MODEL_REPEATS:
        sl_exchange_error(x, SL_ERR_UPSTREAM_MODEL_REPEATS, SL_SPLICE_MAX_EDITS);
        break;
    case JF_REFUSED:
        sl_exchange_error(x, SL_ERR_UPSTREAM_REFUSED, jf->why);
        break;
    }
}

/* An error status head that ends the request: the dialect's mapping of a 5xx (an Anthropic
 * caller's 529 keeps Retry-After: its SDK retries on its own), 502 for anything odd. */
static void reply_status(struct call *c, int upstream)
{
    struct sl_exchange *x = c->x;
    int status = upstream >= 500 ? dialect_of(c)->upstream_status(upstream) : 502;
    if (status != 502) {
        add_retry_after(c);
        sl_exchange_error_status(x, status, SL_STR_NULL, SL_ERR_UPSTREAM_5XX, upstream);
    } else if (upstream >= 500) {
        sl_exchange_error(x, SL_ERR_UPSTREAM_5XX, upstream);
    } else {
        sl_exchange_error(x, SL_ERR_UPSTREAM_ODD_STATUS, upstream);
    }
}

static void start_stream(struct call *c);
static int feed_peeked(struct call *c);

/* No attempt follows f: answer the caller with it. A 4xx head is answered by its body (the
 * caller collects it first); an in-band error at the first event goes out as the stream it is,
 * its error frame rendered by the encoder. */
static void reply_failure(struct call *c, const struct failure *f)
{
    struct sl_exchange *x = c->x;
    set_state(c, CALL_DONE);
    stop_watch(c);
    switch (f->kind) {
    case FAIL_STATUS:
        reply_status(c, f->status);
        break;
    case FAIL_UPSTREAM:
        reply_upstream_failure(c, f->err, f->detail);
        break;
    case FAIL_TOO_LARGE:
        sl_exchange_error(x, SL_ERR_UPSTREAM_TOO_LARGE,
                          (unsigned long long)x->svc->cfg->upstream.max_response_bytes);
        break;
    case FAIL_BAD_JSON:
    case FAIL_REFUSED:
        reply_json_fail(c, &f->json);
        break;
    case FAIL_TOKEN:
        sl_exchange_error(x, SL_ERR_UPSTREAM_AUTH, f->detail);
        break;
    case FAIL_STREAM_EMPTY:
        sl_exchange_error(x, SL_ERR_UPSTREAM_STREAM_EMPTY);
        break;
    case FAIL_STREAM_ERROR:
        SL_ASSERT(!"an in-band error at the first event is streamed, not replied");
        break;
    case FAIL_LIMITED:
        sl_limits_reply_target_refusal(x);
        break;
    }
}

/* A failed attempt whose exchange is over: judged, then retried, failed over or answered. It
 * used no tokens of its target's limits. */
static void fail(struct call *c, const struct failure *f)
{
    judge(c, f);
    attempt_over(c);
    sl_limits_target_end(c->x);
    enum step step = next_step(c, f);
    if (step == STEP_FINAL)
        reply_failure(c, f);
    else
        go_on(c, step);
}

/* The target's own limits refused the attempt before it was sent: the target is not at fault
 * (no cooldown, no health report); the next target is tried as after a 429, and when none
 * follows the caller gets the limit's 429. */
static void limited(struct call *c)
{
    struct sl_exchange *x = c->x;
    if (c->log_index >= 0) {
        struct sl_reqlog_attempt *a = &x->log.attempts[c->log_index];
        a->status = 429;
        a->error = "rate_limited";
        a->limited = true;
        a->ms = (uint32_t)SL_MIN((sl_now_us() - c->attempt_start_us) / 1000, UINT32_MAX);
    }
    struct failure f = {.kind = FAIL_LIMITED, .status = 429};
    enum step step = next_step(c, &f);
    if (step == STEP_FINAL)
        reply_failure(c, &f);
    else
        go_on(c, step);
}

/* ---- streams ---- */

/* The 200 event stream: [translation | passthrough rewrite] -> relay tap -> encoder. */
static void start_stream(struct call *c)
{
    struct sl_exchange *x = c->x;
    h2o_mem_pool_t *pool = &x->req->pool;
    const struct sl_dialect *d = dialect_of(c);
    struct sl_filter *tail = sl_relay_tail(&c->relay, d->encoder(pool, sl_relay_out(&c->relay)));
    struct sl_filter *head = c->pair != NULL
                                 ? sl_xlate_stream(c->pair, pool, &c->xc, &x->usage, tail)
                                 : d->passthrough_stream(pool, &c->xc, &x->usage, tail);
    set_state(c, CALL_STREAMING);
    c->relay_started = true;
    add_served_by(c);
    sl_relay_set_framing(&c->relay, c->framing);
    sl_relay_start(&c->relay, c->up, head);
}

/* OpenAI reports a failure inside the stream as data {"error": ...}; Anthropic as an event
 * named error. */
static bool is_inband_error(const struct sl_sse_event *ev)
{
    if (sl_str_eq_lit(ev->event, "error"))
        return true;
    struct sl_str d = sl_str_trim(ev->data);
    return d.len > 8 && d.ptr[0] == '{' && memmem(d.ptr, SL_MIN(d.len, 16), "\"error\"", 7) != NULL;
}

static int on_peek_event(void *ud, const struct sl_sse_event *ev)
{
    struct call *c = ud;
    if (ev->is_comment || !ev->has_data)
        return SL_OK;
    c->peek_verdict = is_inband_error(ev) ? -1 : 1;
    return PEEK_STOP;
}

/* AWS's event stream: an exception or error message in place of the first event is the
 * in-band error (Bedrock's throttlingException, modelStreamErrorException). */
static int on_peek_message(void *ud, const struct sl_eventstream_message *m)
{
    struct call *c = ud;
    c->peek_verdict = m->kind == SL_EVENTSTREAM_EVENT ? 1 : -1;
    return PEEK_STOP;
}

/* The stream goes out: the held bytes through the relay. Returns 0, or -1 when the relay ended
 * the caller's stream (its upstream exchange is then abandoned). */
static int feed_peeked(struct call *c)
{
    start_stream(c);
    struct sl_str held = sl_buf_str(&c->body);
    if (held.len == 0 || sl_relay_feed(&c->relay, held.ptr, held.len) == 0)
        return 0;
    attempt_over(c);
    set_state(c, CALL_DONE);
    return -1;
}

/* A stream's first event (or an error in its place) is in: commit the stream, or fail over. */
static int peeked(struct call *c)
{
    if (c->peek_verdict > 0) {
        judge(c, NULL);
        return feed_peeked(c);
    }
    struct failure f = {.kind = FAIL_STREAM_ERROR};
    judge(c, &f);
    enum step step = next_step(c, &f);
    if (step == STEP_FINAL)
        return feed_peeked(c);
    attempt_over(c);
    go_on(c, step);
    return -1;
}

static int on_peek_body(struct call *c, const char *data, size_t len)
{
    if (sl_buf_append(&c->body, data, len) != SL_OK) {
        /* No event within the cap: go on as a stream; the relay judges the bytes. */
        judge(c, NULL);
        if (feed_peeked(c) != 0)
            return -1;
        if (sl_relay_feed(&c->relay, data, len) == 0)
            return 0;
        attempt_over(c);
        set_state(c, CALL_DONE);
        return -1;
    }
    int rc = c->framing == SL_RELAY_EVENTSTREAM
                 ? sl_eventstream_feed(&c->peek_es, data, len, on_peek_message, c)
                 : sl_sse_feed(&c->peek_sse, data, len, on_peek_event, c);
    if (c->peek_verdict != 0)
        return peeked(c);
    if (rc != SL_OK) { /* an over-long event: let the relay say so */
        judge(c, NULL);
        return feed_peeked(c);
    }
    return 0;
}

/* The exchange ended before the stream's first event. */
static void on_peek_done(struct call *c, enum sl_upstream_error err, const char *detail)
{
    if (err == SL_UPSTREAM_OK) {
        /* A last event without its blank line still counts at EOF. */
        if (c->framing == SL_RELAY_SSE)
            (void)sl_sse_finish(&c->peek_sse, on_peek_event, c);
        if (c->peek_verdict != 0 && peeked(c) == 0) {
            sl_relay_upstream_done(&c->relay, SL_UPSTREAM_OK, NULL);
            attempt_over(c);
            return;
        }
        if (c->peek_verdict != 0)
            return;
        struct failure f = {.kind = FAIL_STREAM_EMPTY};
        fail(c, &f);
        return;
    }
    struct failure f = {.kind = FAIL_UPSTREAM, .err = err, .detail = detail};
    fail(c, &f);
}

static void start_peek(struct call *c)
{
    set_state(c, CALL_PEEKING);
    sl_buf_dispose(&c->body);
    sl_buf_init(&c->body, MAX_PEEK_BYTES);
    if (c->peek_ready) {
        sl_sse_dispose(&c->peek_sse);
        sl_eventstream_dispose(&c->peek_es);
    }
    sl_sse_init(&c->peek_sse, MAX_PEEK_BYTES, false);
    sl_eventstream_init(&c->peek_es, MAX_PEEK_BYTES);
    c->peek_ready = true;
}

/* ---- upstream callbacks ---- */

static void keep_retry_after(struct call *c, const struct sl_upstream_head *h)
{
    struct sl_str ra = find_header(h, "retry-after");
    if (ra.len != 0 && ra.len < 64)
        c->retry_after = sl_str_from_iov(h2o_strdup(&c->x->req->pool, ra.ptr, ra.len));
}

/* The status a non-2xx head stands for, as its family reads it (Bedrock names its errors in a
 * header), keeping the error's name for the caller's envelope. */
static int classify(struct call *c, const struct sl_upstream_head *h)
{
    struct sl_str type = SL_STR_NULL;
    int status = c->prov->classify != NULL ? c->prov->classify(h, &type) : h->status;
    if (type.len != 0 && type.len < 128)
        c->error_type = sl_str_from_iov(h2o_strdup(&c->x->req->pool, type.ptr, type.len));
    return status;
}

static int on_head(void *ud, const struct sl_upstream_head *h)
{
    struct call *c = ud;
    struct sl_exchange *x = c->x;
    c->status = h->status;
    if (h->status >= 200 && h->status < 300) {
        if (x->call.stream && is_event_stream(h, &c->framing)) {
            if (c->peek) {
                start_peek(c);
            } else {
                judge(c, NULL);
                start_stream(c);
            }
            return 0;
        }
        set_state(c, CALL_JSON);
        sl_buf_dispose(&c->body);
        sl_buf_init(&c->body, x->svc->cfg->upstream.max_response_bytes);
        return 0;
    }
    keep_retry_after(c, h);
    c->status = classify(c, h);
    struct failure f = {.kind = FAIL_STATUS, .status = c->status};
    enum step step = next_step(c, &f);
    judge(c, &f);
    if (step == STEP_FINAL && c->status >= 400 && c->status < 500) {
        set_state(c, CALL_ERROR_BODY);
        sl_buf_dispose(&c->body);
        sl_buf_init(&c->body, MAX_ERROR_BODY_BYTES);
        return 0;
    }
    /* 5xx and anything unexpected: the body is not shown to callers, so do not read it. */
    attempt_over(c);
    if (step == STEP_FINAL)
        reply_failure(c, &f);
    else
        go_on(c, step);
    return -1;
}

static int on_body(void *ud, const char *data, size_t len)
{
    struct call *c = ud;
    switch (c->state) {
    case CALL_STREAMING:
        if (sl_relay_feed(&c->relay, data, len) == 0)
            return 0;
        attempt_over(c); /* the relay ended the caller's stream */
        set_state(c, CALL_DONE);
        return -1;
    case CALL_PEEKING:
        return on_peek_body(c, data, len);
    case CALL_JSON:
        if (sl_buf_append(&c->body, data, len) == SL_OK)
            return 0;
        fail(c, &(struct failure){.kind = FAIL_TOO_LARGE});
        return -1;
    case CALL_ERROR_BODY:
        if (sl_buf_append(&c->body, data, len) == SL_OK)
            return 0;
        /* Only a message is wanted from an error body: past its cap, stop reading (a
         * compressed body could otherwise inflate for as long as the deadline allows). */
        attempt_over(c);
        set_state(c, CALL_DONE);
        stop_watch(c);
        finish_error_body(c);
        return -1;
    default:
        SL_ASSERT(!"body in an unexpected state");
        return -1;
    }
}

static void on_done(void *ud, enum sl_upstream_error err, const char *detail)
{
    struct call *c = ud;
    struct failure f = {.kind = FAIL_UPSTREAM, .err = err, .detail = detail};
    switch (c->state) {
    case CALL_STREAMING:
        /* The watch stays: the relay may still be waiting on a client that stopped reading. */
        attempt_over(c);
        set_state(c, CALL_DONE);
        sl_relay_upstream_done(&c->relay, err, detail);
        return;
    case CALL_PEEKING:
        c->up = NULL;
        on_peek_done(c, err, detail);
        return;
    case CALL_ERROR_BODY:
        /* A 4xx head is the upstream's final word even when its body is cut. */
        attempt_over(c);
        set_state(c, CALL_DONE);
        stop_watch(c);
        finish_error_body(c);
        return;
    case CALL_JSON:
        if (err == SL_UPSTREAM_OK) {
            if (send_json(c, &f.json)) {
                judge(c, NULL);
                attempt_over(c);
                set_state(c, CALL_DONE);
                stop_watch(c);
                return;
            }
            f.kind = f.json.what == JF_REFUSED ? FAIL_REFUSED : FAIL_BAD_JSON;
        }
        fail(c, &f);
        return;
    case CALL_WAITING:
        fail(c, &f);
        return;
    default:
        SL_ASSERT(!"upstream done in an unexpected state");
    }
}

static const struct sl_upstream_cbs upstream_cbs = {on_head, on_body, on_done};

/* ---- the request to a target ---- */

/* Deadlines for the current target (reference 7.4): the request deadline is the target's
 * timeout, else its group's, else upstream.timeout_ms (an explicit 0 is none and ends the
 * chain); a stream's budget, the longest silence between events, is the target's or the
 * group's stream_timeout, else that timeout, else upstream.stream_timeout_ms or timeout_ms.
 * *configured says the stream budget came from the models, not the deployment defaults. */
static struct sl_upstream_opts timeouts(const struct call *c, bool *configured)
{
    const struct sl_config *cfg = c->x->svc->cfg;
    const struct sl_model *md = c->model;
    const struct sl_model *grp = c->x->model != md ? c->x->model : NULL;
    bool has_timeout = md->has_timeout || (grp != NULL && grp->has_timeout);
    uint64_t timeout_ms = md->has_timeout ? md->timeout_ms : has_timeout ? grp->timeout_ms : 0;
    uint64_t stream_ms = md->has_stream_timeout ? md->stream_timeout_ms : 0;
    if (stream_ms == 0 && grp != NULL && grp->has_stream_timeout)
        stream_ms = grp->stream_timeout_ms;
    struct sl_upstream_opts opts = {.request_id = c->x->log.request_id};
    *configured = false;
    if (!c->x->call.stream) {
        opts.deadline_ms = has_timeout ? timeout_ms : cfg->upstream.timeout_ms;
    } else if (stream_ms != 0) {
        opts.idle_ms = stream_ms;
        *configured = true;
    } else if (has_timeout) {
        opts.idle_ms = timeout_ms;
        *configured = timeout_ms != 0;
    } else {
        opts.idle_ms = cfg->upstream.stream_timeout_ms != 0 ? cfg->upstream.stream_timeout_ms
                                                            : cfg->upstream.timeout_ms;
    }
    return opts;
}

/* Retries on the current target (reference 7.3): the target's retries, else the group's
 * routing.retries, else upstream.retries, which applies only when no other target is queued
 * (with one queued an unconfigured budget fails over at once). */
static void set_budget(struct call *c)
{
    const struct sl_model *md = c->model;
    const struct sl_routing *rt = c->x->model->routing;
    c->retries_done = 0;
    c->budget_configured = md->has_retries || (rt != NULL && rt->has_retries);
    if (md->has_retries)
        c->budget = md->retries;
    else if (rt != NULL && rt->has_retries)
        c->budget = rt->retries;
    else
        c->budget = c->target + 1 < c->x->plan.n ? 0 : c->x->svc->cfg->upstream.retries;
}

static struct sl_str header_value(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i == -1 ? SL_STR_NULL : sl_str_from_iov(req->headers.entries[i].value);
}

/* The upstream body: the caller's spliced, or translated into the upstream's wire. Returns the
 * pieces, or NULL with why (a request the translation cannot express). */
static h2o_iovec_t *upstream_body(struct call *c, size_t *n, size_t *len, char *why, size_t cap)
{
    struct sl_exchange *x = c->x;
    h2o_mem_pool_t *pool = &x->req->pool;
    if (c->pair == NULL) {
        struct sl_splice sp;
        dialect_of(c)->passthrough_request(&x->call, x->upstream_id_json, x->call.stream, &sp);
        h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(h2o_iovec_t) * sl_splice_max_iov(&sp));
        *n = sl_splice_iov(&sp, v, len);
        return v;
    }
    sl_buf_dispose(&c->translated);
    sl_buf_init(&c->translated, x->svc->cfg->proxy.request_body_limit_bytes + TRANSLATED_SLACK);
    int rc = sl_xlate_request(c->pair, &c->xc, x->call.body, &c->translated, why, cap);
    if (rc == SL_E2BIG)
        snprintf(why, cap, "the translated request is larger than the body limit");
    if (rc != SL_OK)
        return NULL;
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v));
    *v = h2o_iovec_init(c->translated.ptr, c->translated.len);
    *n = 1;
    *len = c->translated.len;
    return v;
}

/* The upstream model id of md for this request: the route phase resolved the requested model's
 * (a wildcard's depends on the alias); a group's targets are direct, non-wildcard models. */
static struct sl_str upstream_id_of(const struct sl_exchange *x, const struct sl_model *md)
{
    return md == x->model ? x->upstream_id : sl_str_from_cstr(md->model_name);
}

/* The wire model's family speaks for this route, and the pair that bridges it to the caller's
 * (*pair NULL: the same wire). False when the model cannot serve the route. */
static bool wire_of(const struct sl_exchange *x, const struct sl_model *md, enum sl_wire *up_wire,
                    const struct sl_xlate_pair **pair)
{
    const struct sl_route *r = x->route;
    *up_wire = sl_provider_for(md->key)->wire_for(md->key, upstream_id_of(x, md), r->op, r->wire);
    *pair =
        *up_wire != SL_WIRE_COUNT && *up_wire != r->wire ? sl_xlate_for(r->wire, *up_wire) : NULL;
    return *up_wire != SL_WIRE_COUNT && (*up_wire == r->wire || *pair != NULL);
}

static void reply_unsupported(struct sl_exchange *x, const struct sl_model *md)
{
    const struct sl_route *r = x->route;
    const char *family = sl_provider_for(md->key)->name;
    if (r->op == SL_OP_COUNT_TOKENS)
        sl_exchange_error(x, SL_ERR_COUNT_TOKENS_UNSUPPORTED, (int)SL_MIN(x->log.model.len, 200),
                          x->log.model.ptr, family);
    else
        sl_exchange_error(x, SL_ERR_ROUTE_UNSUPPORTED, (int)SL_MIN(x->log.model.len, 200),
                          x->log.model.ptr, family, r->path);
}

/* Drops the candidates whose family cannot serve this route (a group may mix families); with
 * none left, answers 400 for the first. */
static bool keep_servable(struct sl_exchange *x)
{
    struct sl_route_plan *p = &x->plan;
    const struct sl_model *first = p->targets[0];
    unsigned kept = 0;
    for (unsigned i = 0; i < p->n; i++) {
        enum sl_wire w;
        const struct sl_xlate_pair *pair;
        if (wire_of(x, p->targets[i], &w, &pair))
            p->targets[kept++] = p->targets[i];
    }
    p->n = kept;
    if (kept == 0)
        reply_unsupported(x, first);
    return kept != 0;
}

/* Makes the current target's request body and what its head needs but a token. False when its
 * translation cannot express the caller's request (why says how). The head is built once the
 * family's prepare step is over (prepare_and_send). */
static bool build_target_request(struct call *c, char *why, size_t cap)
{
    struct sl_exchange *x = c->x;
    const struct sl_model *md = c->model;
    enum sl_wire up_wire;
    c->prov = sl_provider_for(md->key);
    (void)wire_of(x, md, &up_wire, &c->pair);
    if (md != x->model) {
        x->upstream_id_json = sl_str_from_cstr(md->model_name_json);
        x->upstream_id = sl_str_from_cstr(md->model_name);
    }
    x->log.upstream_model = x->upstream_id;
    /* The route's state for this target (the Responses routes: the sealer of its key's ids). */
    if (x->on_target != NULL)
        x->on_target(x, md);
    c->xc = (struct sl_xlate_ctx){.alias = x->log.model,
                                  .alias_json = x->alias_json,
                                  .upstream_model = x->upstream_id,
                                  .stream = x->call.stream,
                                  .include_usage = x->call.include_usage,
                                  .id_seed = x->log.request_id,
                                  .created = (int64_t)time(NULL),
                                  .caller_body = x->call.body,
                                  .dialect_state = x->mod[SL_MOD_DIALECT]};
    if (x->route->wire == SL_WIRE_ANTHROPIC)
        c->xc.anthropic_beta = header_value(x->req, "anthropic-beta");
    c->upc = (struct sl_upstream_call){.op = x->route->op,
                                       .wire = up_wire,
                                       .model = x->upstream_id,
                                       .method = x->upstream_method,
                                       .path = x->upstream_path,
                                       .stream = x->call.stream,
                                       .request_id = x->log.request_id,
                                       .unix_time = c->xc.created};
    c->upc.body = upstream_body(c, &c->upc.nbody, &c->upc.body_len, why, cap);
    if (c->upc.body == NULL)
        return false;
    if (x->route->wire == SL_WIRE_ANTHROPIC) {
        c->upc.anthropic_version = header_value(x->req, "anthropic-version");
        c->upc.anthropic_beta = header_value(x->req, "anthropic-beta");
    }
    c->upc.absolute_form = sl_upstream_uses_forward_proxy(x->svc->upstreams, &md->key->origin);
    c->reqbufs = NULL;
    c->nreqbufs = 0;
    bool configured;
    c->opts = timeouts(c, &configured);
    c->peek = x->call.stream && (configured || c->target + 1 < x->plan.n);
    set_budget(c);
    return true;
}

/* The head built with the token (if any), and the attempt sent. */
static void send_built(struct call *c)
{
    struct sl_exchange *x = c->x;
    h2o_iovec_t *bufs;
    size_t nbufs;
    c->prov->build_request(&x->req->pool, c->model->key, &c->upc, &bufs, &nbufs);
    c->reqbufs = bufs;
    c->nreqbufs = nbufs;
    set_state(c, CALL_WAITING);
    c->up = sl_upstream_start(x->svc->upstreams, &c->model->key->origin, c->reqbufs, c->nreqbufs,
                              &c->opts, &upstream_cbs, c);
}

/* The attempt's prepare step failed: judged like a transport failure (another target may still
 * serve), and answered with the token endpoint's error when nothing follows. */
static void prepare_failed(struct call *c, const char *why)
{
    struct failure f = {.kind = FAIL_TOKEN, .detail = why};
    fail(c, &f);
}

/* The family's prepare step finished (on this worker's loop). */
static void on_prepared(struct sl_provider_prep *p, int rc)
{
    struct call *c = p->ud;
    SL_ASSERT(c->preparing && c->state == CALL_PREPARING);
    c->preparing = false;
    if (rc != SL_OK) {
        prepare_failed(c, p->why);
        return;
    }
    c->upc.token = p->token;
    send_built(c);
}

/* The target's first attempt: its family's prepare step (an access token), then the request. */
static void prepare_and_send(struct call *c)
{
    struct sl_exchange *x = c->x;
    if (c->prov->prepare == NULL) {
        send_built(c);
        return;
    }
    set_state(c, CALL_PREPARING);
    c->prep = (struct sl_provider_prep){.key = c->model->key,
                                        .pool = &x->req->pool,
                                        .upstreams = x->svc->upstreams,
                                        .ctx = x->req->conn->ctx,
                                        .done = on_prepared,
                                        .ud = c};
    int rc = c->prov->prepare(&c->prep);
    if (rc == SL_AGAIN) {
        c->preparing = true; /* on_prepared goes on */
        return;
    }
    if (rc != SL_OK) {
        prepare_failed(c, c->prep.why);
        return;
    }
    c->upc.token = c->prep.token;
    send_built(c);
}

/* Prepares the plan's target c->target, skipping those whose translation cannot express the
 * request; when the last cannot either, answers 400 and returns false. */
static bool prepare_target(struct call *c)
{
    struct sl_exchange *x = c->x;
    char why[256];
    for (; c->target < x->plan.n; c->target++) {
        c->model = x->plan.targets[c->target];
        x->target = c->model;
        if (build_target_request(c, why, sizeof(why)))
            return true;
        if (c->target + 1 == x->plan.n)
            break;
        sl_log_debug("target %s cannot take request_id=%.*s: %s", c->model->name,
                     SL_STR_FMT(x->log.request_id), why);
    }
    set_state(c, CALL_DONE);
    stop_watch(c);
    sl_exchange_error(x, SL_ERR_INVALID_REQUEST, why);
    return false;
}

static void on_next_attempt(h2o_timeout_entry_t *e)
{
    struct call *c = SL_CONTAINER_OF(e, struct call, retry_timer);
    if (c->next == STEP_RETRY) {
        begin_attempt(c, SL_ATTEMPT_RETRY);
        return;
    }
    c->target++;
    if (prepare_target(c))
        begin_attempt(c, SL_ATTEMPT_FAILOVER);
}

/* ---- the caller leaving ---- */

/* An HTTP/1.1 client socket is polled while its request is handled (keep_reading in
 * server/http.c), which reports a close at once through on_client_gone. This poll covers a
 * socket no longer polled then: one with a pipelined request queued behind this one. */
static bool client_hung_up(h2o_req_t *req)
{
    if (req->version >= 0x200)
        return false; /* HTTP/2 resets free the request: the dispose callback cancels */
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    struct pollfd pfd = {.fd = sock != NULL ? h2o_socket_get_fd(sock) : -1, .events = POLLRDHUP};
    return pfd.fd != -1 && poll(&pfd, 1, 0) == 1 &&
           (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void abandon(struct call *c, bool stalled);

/* Once a second: has the caller left, or stopped reading a stream for longer than
 * downstream.idle_timeout_secs (h2o 2.2 has no send timeout)? Either way the upstream call
 * stops (it costs tokens) and the request ends. */
static void on_watch(h2o_timeout_entry_t *e)
{
    struct call *c = SL_CONTAINER_OF(e, struct call, watch);
    struct sl_exchange *x = c->x;
    uint64_t limit_us = x->svc->cfg->downstream.idle_timeout_secs * 1000000;
    bool stalled =
        c->relay_started && limit_us != 0 && sl_relay_blocked_us(&c->relay, sl_now_us()) > limit_us;
    bool gone = !stalled && client_hung_up(x->req);
    if (!gone && !stalled) {
        h2o_timeout_link(x->req->conn->ctx->loop, x->svc->client_watch, &c->watch);
        return;
    }
    abandon(c, stalled);
}

/* The HTTP/1.1 client closed its end (server/http.c noticed at once). The watch is linked
 * exactly while there is work to stop. */
static void on_client_gone(struct sl_exchange *x)
{
    struct call *c = x->mod[SL_MOD_CALL];
    if (!h2o_timeout_is_linked(&c->watch))
        return;
    stop_watch(c);
    abandon(c, false);
}

/* The running attempt ends because the caller left: logged as such, judged by nobody. */
static void drop_attempt(struct call *c)
{
    if (c->up != NULL)
        sl_upstream_cancel(c->up);
    if (c->attempt_open && c->log_index >= 0) {
        struct sl_reqlog_attempt *a = &c->x->log.attempts[c->log_index];
        if (a->error == NULL && a->status == 0) {
            a->error = "client_gone";
            a->ms = (uint32_t)SL_MIN((sl_now_us() - c->attempt_start_us) / 1000, UINT32_MAX);
        }
    }
    attempt_over(c);
}

/* The caller left (or stalled a stream): stop the upstream call, which costs tokens, and end
 * the request. */
static void abandon(struct call *c, bool stalled)
{
    struct sl_exchange *x = c->x;
    h2o_req_t *req = x->req;
    x->log.client_gone = true;
    if (stalled)
        x->log.error_kind = "client_stalled";
    if (h2o_timeout_is_linked(&c->retry_timer))
        h2o_timeout_unlink(&c->retry_timer);
    if (c->preparing) {
        sl_provider_prepare_cancel(&c->prep);
        c->preparing = false;
    }
    if (c->state == CALL_LIMITING)
        sl_limits_target_end(x); /* its callback never comes */
    if (c->relay_started) {
        sl_relay_client_gone(&c->relay); /* the relay held the upstream call and cancelled it */
        attempt_over(c);
        set_state(c, CALL_DONE);
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        /* A stalled HTTP/1.1 client: make h2o's pending write fail so it closes the
         * connection and frees the request. */
        if (stalled && req->version < 0x200 && sock != NULL)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
        return;
    }
    drop_attempt(c);
    set_state(c, CALL_DONE);
    /* Finish the request so h2o tears the connection down. */
    req->res.status = 499;
    req->res.reason = "Client Closed Request";
    h2o_start_response(req, &plain_generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void on_call_dispose(void *data)
{
    struct call *c = data;
    stop_watch(c);
    c->x->on_client_gone = NULL;
    if (c->preparing) {
        /* Freed while waiting for an access token: nothing is running upstream. */
        sl_provider_prepare_cancel(&c->prep);
        c->preparing = false;
        c->x->log.client_gone = true;
    }
    if (h2o_timeout_is_linked(&c->retry_timer)) {
        /* Freed while waiting for the next attempt: nothing is running upstream. */
        h2o_timeout_unlink(&c->retry_timer);
        c->x->log.client_gone = true;
    }
    if (c->state == CALL_LIMITING) {
        /* Freed while its target's limits wait on Redis: nothing is running upstream. */
        sl_limits_target_end(c->x);
        c->x->log.client_gone = true;
    }
    if (c->relay_started)
        c->up = NULL; /* the relay holds the upstream call and cancels it below */
    if (c->relay_ready)
        sl_relay_dispose(&c->relay);
    if (c->up != NULL)
        c->x->log.client_gone = true; /* the request died first (HTTP/2 reset, connection closed) */
    drop_attempt(c);
    if (c->peek_ready) {
        sl_sse_dispose(&c->peek_sse);
        sl_eventstream_dispose(&c->peek_es);
    }
    sl_buf_dispose(&c->body);
    sl_buf_dispose(&c->translated);
}

/* ---- the phase ---- */

int sl_phase_upstream(struct sl_exchange *x)
{
    h2o_req_t *req = x->req;
    struct call *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_call_dispose);
    *c = (struct call){.x = x, .log_index = -1};
    sl_buf_init(&c->body, 0);
    sl_buf_init(&c->translated, 0);
    x->mod[SL_MOD_CALL] = c;
    if (!keep_servable(x) || !prepare_target(c))
        return SL_DONE;
    if (x->call.stream) {
        sl_relay_init(&c->relay, req, &x->log, x->svc->sse_keepalive);
        c->relay_ready = true;
    }
    c->watch.cb = on_watch;
    h2o_timeout_link(req->conn->ctx->loop, x->svc->client_watch, &c->watch);
    x->on_client_gone = on_client_gone;
    begin_attempt(c, SL_ATTEMPT_FIRST);
    return SL_AGAIN;
}
