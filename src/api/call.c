/* The upstream phase: one call to the model's provider, retried on the same target by the
 * reference gateway's rules, and its reply handed back in the caller's dialect.
 *
 * The provider family says which wire it speaks for this route. The same wire as the caller's
 * means passthrough: the caller's body is spliced (only "model" changes, plus what the gateway
 * needs to read usage) and the reply is rewritten in place (model back to the alias). Another
 * wire means a translation pair (xlate.h) for the request, the JSON reply and the stream.
 * Streams go through a filter chain: [translation or passthrough rewrite] -> relay tap -> the
 * dialect's encoder, which owns the stream's terminator and its error frames.
 *
 * Failures: 4xx keep their status and message (the provider key redacted), 5xx and transport
 * failures are retried within the budget, then mapped by the dialect (502 for OpenAI callers;
 * Anthropic callers keep 529); deadlines 504; a failure mid-stream ends the stream with the
 * dialect's error frame. */
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
#include "sluice/exchange.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/redact.h"
#include "sluice/relay.h"
#include "sluice/reply.h"
#include "sluice/splice.h"
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

enum call_state {
    CALL_WAITING = 0, /* upstream exchange running, no head yet */
    CALL_JSON,        /* 2xx head received; collecting the JSON body */
    CALL_ERROR_BODY,  /* 4xx head received; collecting the error body */
    CALL_STREAMING,   /* 2xx event stream being relayed */
    CALL_DONE,        /* a response was started; the upstream side is over */
};

struct call {
    struct sl_exchange *x;
    enum call_state state;
    const struct sl_provider_ops *prov;
    const struct sl_xlate_pair *pair; /* NULL: the upstream speaks the caller's wire */
    struct sl_xlate_ctx xc;
    struct sl_upstream_req *up;
    int status; /* the status the upstream's head stands for (the family's classify) */
    struct sl_str error_type; /* the error's name from a header (Bedrock's), pool memory */
    struct sl_str retry_after;
    struct sl_buf body;
    struct sl_buf translated; /* the translated request body, when there is one */
    struct sl_relay relay;
    bool relay_ready;
    bool relay_started;
    h2o_timeout_entry_t watch;
    /* Retries on the same upstream (model retries, else upstream.retries). */
    const h2o_iovec_t *reqbufs;
    size_t nreqbufs;
    struct sl_upstream_opts opts;
    unsigned retries_done;
    h2o_timeout_entry_t retry_timer;
};

static h2o_generator_t plain_generator = {NULL, NULL};

static const struct sl_dialect *dialect_of(const struct call *c)
{
    return c->x->dialect;
}

/* The legal moves: a head decides JSON, error body or stream; everything ends in done; a retry
 * goes back to waiting from a failed attempt (waiting for a head, or done). */
static void set_state(struct call *c, enum call_state to)
{
    switch (to) {
    case CALL_WAITING:
        SL_ASSERT(c->state == CALL_WAITING || c->state == CALL_DONE);
        break;
    case CALL_JSON:
    case CALL_ERROR_BODY:
    case CALL_STREAMING:
        SL_ASSERT(c->state == CALL_WAITING);
        break;
    case CALL_DONE:
        break;
    }
    c->state = to;
}

/* ---- responses ---- */

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

static void reply_upstream_failure(struct call *c, enum sl_upstream_error err, const char *detail)
{
    struct sl_exchange *x = c->x;
    const char *what = detail != NULL ? detail : sl_upstream_error_name(err);
    x->log.upstream_error = sl_upstream_error_name(err);
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

static void reply_bad_json(struct call *c, struct sl_str body)
{
    struct sl_json_error jerr = {"not a JSON object", 0};
    sl_json_validate(body, SL_JSON_DEFAULT_MAX_DEPTH, &jerr);
    c->x->log.upstream_error = "decode";
    sl_exchange_error(c->x, SL_ERR_UPSTREAM_BAD_JSON, jerr.why, jerr.at);
}

/* 2xx JSON through the pair's translation. */
static void finish_translated_json(struct call *c, struct sl_str body)
{
    struct sl_exchange *x = c->x;
    char why[200];
    struct sl_buf out;
    sl_buf_init(&out, x->svc->cfg->upstream.max_response_bytes + TRANSLATED_SLACK);
    int rc = c->pair->response(&c->xc, body, &out, &x->usage, why, sizeof(why));
    if (rc != SL_OK) {
        sl_buf_dispose(&out);
        x->log.upstream_error = "decode";
        if (rc == SL_E2BIG)
            sl_exchange_error(x, SL_ERR_UPSTREAM_TOO_LARGE,
                              (unsigned long long)x->svc->cfg->upstream.max_response_bytes);
        else
            sl_exchange_error(x, SL_ERR_UPSTREAM_INVALID, why);
        return;
    }
    h2o_iovec_t v = h2o_strdup(&x->req->pool, out.ptr, out.len);
    sl_buf_dispose(&out);
    reply_json(c, c->status, &v, 1, v.len);
}

/* 2xx JSON: translated, or the same wire rewritten in place (model back to the alias). */
static void finish_json(struct call *c)
{
    struct sl_exchange *x = c->x;
    struct sl_str body = sl_buf_str(&c->body);
    if (c->pair != NULL) {
        finish_translated_json(c, body);
        return;
    }
    struct sl_splice sp;
    switch (dialect_of(c)->passthrough_json(&c->xc, body, x->alias_json, &sp, &x->usage)) {
    case SL_REWRITE_REFUSE:
        x->log.upstream_error = "decode";
        sl_exchange_error(x, SL_ERR_UPSTREAM_MODEL_REPEATS, SL_SPLICE_MAX_EDITS);
        return;
    case SL_REWRITE_RAW:
    case SL_REWRITE_DROP:
        reply_bad_json(c, body);
        return;
    case SL_REWRITE_OK:
        break;
    }
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t len, n = sl_splice_iov(&sp, v, &len);
    reply_json(c, c->status, v, n, len);
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
    const struct sl_provider_key *key = x->model->key;
    int status = dialect_of(c)->upstream_status(c->status);
    x->log.error_kind = "upstream_error";
    x->log.upstream_error = "status_4xx";
    add_retry_after(c);
    struct sl_str msg = SL_STR_NULL;
    if (c->prov->parse_error(sl_buf_str(&c->body), &info))
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

/* ---- retries ---- */

static const struct sl_upstream_cbs upstream_cbs;

/* The reference gateway's rules for one target: 5xx (as the family counts them) and transport
 * failures are retried within the budget; a timeout only when the model sets retries itself (a
 * default budget never re-hits a target that timed out); 4xx, TLS verification and oversized
 * responses never. Nor are the egress proxy's own failures (its 407, no connection to it) or
 * bodies that cannot be decoded: another attempt gets the same answer, later. */
static bool should_retry(const struct call *c, enum sl_upstream_error err, int status)
{
    const struct sl_model *md = c->x->model;
    uint64_t budget = md->has_retries ? md->retries : c->x->svc->cfg->upstream.retries;
    if (c->retries_done >= budget || c->x->log.client_gone)
        return false;
    if (err == SL_UPSTREAM_OK)
        return c->prov->retryable_status(status);
    switch (err) {
    case SL_UPSTREAM_ERR_DNS:
    case SL_UPSTREAM_ERR_CONNECT:
    case SL_UPSTREAM_ERR_PROXY:
    case SL_UPSTREAM_ERR_RESET:
    case SL_UPSTREAM_ERR_PROTOCOL:
        return true;
    case SL_UPSTREAM_ERR_DEADLINE:
    case SL_UPSTREAM_ERR_IDLE:
    case SL_UPSTREAM_ERR_CONNECT_TIMEOUT:
        return md->has_retries;
    case SL_UPSTREAM_ERR_PROXY_AUTH:
    case SL_UPSTREAM_ERR_PROXY_UNREACHABLE:
    case SL_UPSTREAM_ERR_DECODE:
        return false;
    default:
        return false;
    }
}

/* 250 ms doubling up to 2 s (or the upstream's Retry-After when it is at most 5 s), plus up to
 * 250 ms of jitter, on a 50 ms grid (each distinct delay costs the worker one timer list). */
static uint64_t backoff_ms(const struct call *c)
{
    uint64_t ra;
    if (c->retry_after.len != 0 && sl_str_to_u64(c->retry_after, 5, &ra) == SL_OK)
        return ra * 1000;
    unsigned n = c->retries_done < 4 ? c->retries_done : 4;
    uint64_t base = SL_MIN(250u << n, 2000u);
    uint64_t jitter = (sl_now_us() * 2654435761u >> 11) % 251;
    return (base + jitter + 25) / 50 * 50;
}

static void start_attempt(struct call *c)
{
    struct sl_exchange *x = c->x;
    if (x->n_attempts < SL_EXCHANGE_MAX_ATTEMPTS)
        x->attempts[x->n_attempts++] =
            (struct sl_attempt){.model = x->model, .start_us = sl_now_us()};
    c->up = sl_upstream_start(x->svc->upstreams, &x->model->key->origin, c->reqbufs, c->nreqbufs,
                              &c->opts, &upstream_cbs, c);
}

static struct sl_attempt *attempt(struct call *c)
{
    struct sl_exchange *x = c->x;
    return x->n_attempts != 0 ? &x->attempts[x->n_attempts - 1] : NULL;
}

static void on_retry(h2o_timeout_entry_t *e)
{
    struct call *c = SL_CONTAINER_OF(e, struct call, retry_timer);
    set_state(c, CALL_WAITING);
    c->status = 0;
    c->error_type = SL_STR_NULL;
    c->retry_after = SL_STR_NULL;
    sl_buf_dispose(&c->body);
    start_attempt(c);
}

static void schedule_retry(struct call *c)
{
    uint64_t ms = backoff_ms(c);
    c->retries_done++;
    c->up = NULL;
    set_state(c, CALL_WAITING);
    c->retry_timer.cb = on_retry;
    sl_upstreams_timer(c->x->svc->upstreams, ms, &c->retry_timer);
    sl_log_debug("retrying upstream call request_id=%.*s attempt=%u in %llu ms",
                 SL_STR_FMT(c->x->log.request_id), c->retries_done + 1, (unsigned long long)ms);
}

static void stop_watch(struct call *c)
{
    if (h2o_timeout_is_linked(&c->watch))
        h2o_timeout_unlink(&c->watch);
}

/* ---- upstream callbacks ---- */

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

/* The 200 event stream: [translation | passthrough rewrite] -> relay tap -> encoder. */
static void start_stream(struct call *c, enum sl_relay_framing framing)
{
    struct sl_exchange *x = c->x;
    h2o_mem_pool_t *pool = &x->req->pool;
    const struct sl_dialect *d = dialect_of(c);
    struct sl_filter *tail = sl_relay_tail(&c->relay, d->encoder(pool, sl_relay_out(&c->relay)));
    struct sl_filter *head = c->pair != NULL ? c->pair->stream(pool, &c->xc, &x->usage, tail)
                                             : d->passthrough_stream(pool, &c->xc, &x->usage, tail);
    set_state(c, CALL_STREAMING);
    c->relay_started = true;
    sl_relay_set_framing(&c->relay, framing);
    sl_relay_start(&c->relay, c->up, head);
}

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
    enum sl_relay_framing framing;
    c->status = h->status;
    if (attempt(c) != NULL)
        attempt(c)->status = h->status;
    if (h->status >= 200 && h->status < 300) {
        if (x->call.stream && is_event_stream(h, &framing)) {
            start_stream(c, framing);
            return 0;
        }
        set_state(c, CALL_JSON);
        sl_buf_init(&c->body, x->svc->cfg->upstream.max_response_bytes);
        return 0;
    }
    keep_retry_after(c, h);
    c->status = classify(c, h);
    if (c->status >= 400 && c->status < 500) {
        set_state(c, CALL_ERROR_BODY);
        sl_buf_init(&c->body, MAX_ERROR_BODY_BYTES);
        return 0;
    }
    /* 5xx and anything unexpected: the body is not shown to callers, so do not read it. */
    x->log.upstream_error = c->status >= 500 ? "status_5xx" : "status_other";
    if (should_retry(c, SL_UPSTREAM_OK, c->status)) {
        schedule_retry(c);
        return -1;
    }
    c->up = NULL;
    set_state(c, CALL_DONE);
    stop_watch(c);
    int status = c->status >= 500 ? dialect_of(c)->upstream_status(c->status) : 502;
    if (status != 502) {
        add_retry_after(c); /* an Anthropic caller's 529: its SDK retries on its own */
        sl_exchange_error_status(x, status, SL_STR_NULL, SL_ERR_UPSTREAM_5XX, h->status);
    } else if (c->status >= 500) {
        sl_exchange_error(x, SL_ERR_UPSTREAM_5XX, h->status);
    } else {
        sl_exchange_error(x, SL_ERR_UPSTREAM_ODD_STATUS, h->status);
    }
    return -1;
}

static int on_body(void *ud, const char *data, size_t len)
{
    struct call *c = ud;
    switch (c->state) {
    case CALL_STREAMING:
        if (sl_relay_feed(&c->relay, data, len) == 0)
            return 0;
        c->up = NULL; /* the relay ended the caller's stream */
        set_state(c, CALL_DONE);
        return -1;
    case CALL_JSON:
        if (sl_buf_append(&c->body, data, len) == SL_OK)
            return 0;
        c->up = NULL;
        set_state(c, CALL_DONE);
        stop_watch(c);
        c->x->log.upstream_error = "too_large";
        sl_exchange_error(c->x, SL_ERR_UPSTREAM_TOO_LARGE, (unsigned long long)c->body._max);
        return -1;
    case CALL_ERROR_BODY:
        if (sl_buf_append(&c->body, data, len) == SL_OK)
            return 0;
        /* Only a message is wanted from an error body: past its cap, stop reading (a
         * compressed body could otherwise inflate for as long as the deadline allows). */
        c->up = NULL;
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
    enum call_state was = c->state;
    c->up = NULL;
    set_state(c, CALL_DONE);
    if (err != SL_UPSTREAM_OK && attempt(c) != NULL)
        attempt(c)->error = sl_upstream_error_name(err);
    if (was == CALL_STREAMING) {
        /* The watch stays: the relay may still be waiting on a client that stopped reading. */
        sl_relay_upstream_done(&c->relay, err, detail);
        return;
    }
    /* A 4xx head is the upstream's final word on this request even when its body is cut: a
     * retry would only repeat it (or turn it into a 502). */
    if (err != SL_UPSTREAM_OK && was != CALL_ERROR_BODY && should_retry(c, err, 0)) {
        c->x->log.upstream_error = sl_upstream_error_name(err);
        schedule_retry(c);
        return;
    }
    stop_watch(c);
    if (err != SL_UPSTREAM_OK && was != CALL_ERROR_BODY) {
        reply_upstream_failure(c, err, detail);
        return;
    }
    if (was == CALL_JSON)
        finish_json(c);
    else
        finish_error_body(c);
}

static const struct sl_upstream_cbs upstream_cbs = {on_head, on_body, on_done};

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
    if (c->relay_started) {
        sl_relay_client_gone(&c->relay);
        c->up = NULL;
        set_state(c, CALL_DONE);
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        /* A stalled HTTP/1.1 client: make h2o's pending write fail so it closes the
         * connection and frees the request. */
        if (stalled && req->version < 0x200 && sock != NULL)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
        return;
    }
    if (c->up != NULL) {
        sl_upstream_cancel(c->up);
        c->up = NULL;
    }
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
    if (h2o_timeout_is_linked(&c->retry_timer)) {
        /* Freed while waiting to retry: nothing is running upstream. */
        h2o_timeout_unlink(&c->retry_timer);
        c->x->log.client_gone = true;
    }
    if (c->relay_started)
        c->up = NULL; /* the relay holds the upstream call and cancels it below */
    if (c->relay_ready)
        sl_relay_dispose(&c->relay);
    if (c->up != NULL) {
        /* The request died first (HTTP/2 reset, connection closed): stop the upstream call. */
        c->x->log.client_gone = true;
        sl_upstream_cancel(c->up);
        c->up = NULL;
    }
    sl_buf_dispose(&c->body);
    sl_buf_dispose(&c->translated);
}

/* ---- the request ---- */

static struct sl_str header_value(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i == -1 ? SL_STR_NULL : sl_str_from_iov(req->headers.entries[i].value);
}

/* The stream's budget is the longest silence between events, in the reference's order: the
 * model's stream_timeout, its timeout (an explicit 0 means none), upstream.stream_timeout_ms,
 * upstream.timeout_ms. Other calls have a total deadline. */
static struct sl_upstream_opts timeouts(const struct sl_exchange *x)
{
    const struct sl_config *cfg = x->svc->cfg;
    const struct sl_model *md = x->model;
    struct sl_upstream_opts opts = {0};
    if (!x->call.stream) {
        opts.deadline_ms = md->has_timeout ? md->timeout_ms : cfg->upstream.timeout_ms;
        return opts;
    }
    if (md->has_stream_timeout && md->stream_timeout_ms != 0)
        opts.idle_ms = md->stream_timeout_ms;
    else if (md->has_timeout)
        opts.idle_ms = md->timeout_ms;
    else if (cfg->upstream.stream_timeout_ms != 0)
        opts.idle_ms = cfg->upstream.stream_timeout_ms;
    else
        opts.idle_ms = cfg->upstream.timeout_ms;
    return opts;
}

/* The upstream body: the caller's spliced, or translated into the upstream's wire. Returns the
 * pieces, or NULL after answering 400 (a request the translation cannot express). */
static h2o_iovec_t *upstream_body(struct call *c, size_t *n, size_t *len)
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
    char why[256];
    sl_buf_init(&c->translated, x->svc->cfg->proxy.request_body_limit_bytes + TRANSLATED_SLACK);
    int rc = c->pair->request(&c->xc, x->call.body, &c->translated, why, sizeof(why));
    if (rc == SL_E2BIG)
        snprintf(why, sizeof(why), "the translated request is larger than the body limit");
    if (rc != SL_OK) {
        sl_exchange_error(x, SL_ERR_INVALID_REQUEST, why);
        return NULL;
    }
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v));
    *v = h2o_iovec_init(c->translated.ptr, c->translated.len);
    *n = 1;
    *len = c->translated.len;
    return v;
}

/* Which wire the model's family speaks for this route, and the pair that bridges it to the
 * caller's. Returns false after answering 400 when the model cannot serve the route. */
static bool choose_wire(struct call *c, enum sl_wire *up_wire)
{
    struct sl_exchange *x = c->x;
    const struct sl_route *r = x->route;
    *up_wire = c->prov->wire_for_model != NULL
                   ? c->prov->wire_for_model(r->op, r->wire, x->upstream_id)
                   : c->prov->wire_for(r->op, r->wire);
    if (*up_wire != SL_WIRE_COUNT && *up_wire != r->wire)
        c->pair = sl_xlate_for(r->wire, *up_wire);
    if (*up_wire != SL_WIRE_COUNT && (*up_wire == r->wire || c->pair != NULL))
        return true;
    if (r->op == SL_OP_COUNT_TOKENS)
        sl_exchange_error(x, SL_ERR_COUNT_TOKENS_UNSUPPORTED, (int)SL_MIN(x->log.model.len, 200),
                          x->log.model.ptr, c->prov->name);
    else
        sl_exchange_error(x, SL_ERR_ROUTE_UNSUPPORTED, (int)SL_MIN(x->log.model.len, 200),
                          x->log.model.ptr, c->prov->name, r->path);
    return false;
}

int sl_phase_upstream(struct sl_exchange *x)
{
    h2o_req_t *req = x->req;
    struct call *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_call_dispose);
    *c = (struct call){.x = x, .prov = sl_provider_for(x->model->key)};
    sl_buf_init(&c->body, 0);
    sl_buf_init(&c->translated, 0);
    x->mod[SL_MOD_CALL] = c;
    c->xc = (struct sl_xlate_ctx){.alias = x->log.model,
                                  .alias_json = x->alias_json,
                                  .upstream_model = x->upstream_id,
                                  .stream = x->call.stream,
                                  .include_usage = x->call.include_usage,
                                  .id_seed = x->log.request_id,
                                  .created = (int64_t)time(NULL),
                                  .caller_body = x->call.body};
    if (x->route->wire == SL_WIRE_ANTHROPIC)
        c->xc.anthropic_beta = header_value(req, "anthropic-beta");
    enum sl_wire up_wire;
    if (!choose_wire(c, &up_wire))
        return SL_DONE;
    struct sl_upstream_call call = {.op = x->route->op,
                                    .wire = up_wire,
                                    .stream = x->call.stream,
                                    .request_id = x->log.request_id,
                                    .model = x->upstream_id,
                                    .unix_time = c->xc.created};
    call.body = upstream_body(c, &call.nbody, &call.body_len);
    if (call.body == NULL)
        return SL_DONE;
    if (x->route->wire == SL_WIRE_ANTHROPIC) {
        call.anthropic_version = header_value(req, "anthropic-version");
        call.anthropic_beta = header_value(req, "anthropic-beta");
    }
    call.absolute_form = sl_upstream_uses_forward_proxy(x->svc->upstreams, &x->model->key->origin);
    h2o_iovec_t *bufs;
    size_t nbufs;
    c->prov->build_request(&req->pool, x->model->key, &call, &bufs, &nbufs);
    c->reqbufs = bufs;
    c->nreqbufs = nbufs;
    c->opts = timeouts(x);
    c->opts.request_id = x->log.request_id;
    if (x->call.stream) {
        sl_relay_init(&c->relay, req, &x->log, x->svc->sse_keepalive);
        c->relay_ready = true;
    }
    start_attempt(c);
    c->watch.cb = on_watch;
    h2o_timeout_link(req->conn->ctx->loop, x->svc->client_watch, &c->watch);
    x->on_client_gone = on_client_gone;
    return SL_AGAIN;
}
