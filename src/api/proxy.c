/* POST /v1/chat/completions, /v1/completions and /v1/embeddings: the proxied routes.
 *
 * Order of checks (the reference gateway's): credential (401) -> body is JSON with the route's
 * required fields (400) -> model alias resolves (404) -> caller key may use it (403) -> call
 * the upstream. The upstream body is the caller's, spliced: "model" replaced by the upstream
 * model id and, for streams, stream_options.include_usage forced on so usage is always known.
 * Responses: 2xx JSON gets "model" rewritten back to the alias; 2xx streams are relayed event by
 * event (stream/relay.c); 4xx keep their status and message; 5xx become 502; transport failures
 * 502; deadlines 504. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/api.h"
#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/body.h"
#include "sluice/chunk.h"
#include "sluice/config.h"
#include "sluice/generation.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/redact.h"
#include "sluice/relay.h"
#include "sluice/reply.h"
#include "sluice/server.h"
#include "sluice/splice.h"
#include "sluice/upstream.h"
#include "sluice/worker.h"

/* Error bodies are only mined for a message; JSON bodies are capped by
 * upstream.max_response_bytes; streams are never held whole. */
#define MAX_ERROR_BODY_BYTES (64u * 1024)
/* An upstream 4xx message longer than this (unescaped) becomes "upstream returned N". */
#define MAX_UPSTREAM_MESSAGE_BYTES 1024u
/* ...and its code longer than this is dropped (the envelope's limit is 127). */
#define MAX_UPSTREAM_CODE_BYTES 127u
#define MAX_ALIAS_BYTES         512
#define MAX_UPSTREAM_ID_BYTES   4096

enum proxy_state {
    PX_WAITING = 0, /* upstream exchange running, no head yet */
    PX_JSON,        /* 2xx head received; collecting the JSON body */
    PX_ERROR_BODY,  /* 4xx head received; collecting the error body */
    PX_STREAMING,   /* 2xx event stream being relayed */
    PX_DONE,        /* a response was started; the upstream side is over */
};

struct proxy {
    struct sl_reqctx *ctx;
    h2o_req_t *req;
    enum sl_endpoint endpoint;
    enum proxy_state state;
    const struct sl_model *model;
    struct sl_upstream_req *up;
    struct sl_str alias_json; /* the caller's "model" value, raw (a JSON string literal) */
    bool stream;
    bool include_usage;
    int status;
    struct sl_str retry_after;
    struct sl_buf body;
    struct sl_relay relay;
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

/* ---- responses ---- */

static void reply_json(struct proxy *p, int status, const h2o_iovec_t *v, size_t n, size_t len)
{
    h2o_req_t *req = p->req;
    req->res.status = status;
    req->res.reason = sl_status_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &plain_generator);
    h2o_send(req, (h2o_iovec_t *)v, n, H2O_SEND_STATE_FINAL);
}

static void reply_upstream_failure(struct proxy *p, enum sl_upstream_error err, const char *detail)
{
    const char *what = detail != NULL ? detail : sl_upstream_error_name(err);
    p->ctx->upstream_error = sl_upstream_error_name(err);
    switch (err) {
    case SL_UPSTREAM_ERR_DEADLINE:
    case SL_UPSTREAM_ERR_IDLE:
    case SL_UPSTREAM_ERR_CONNECT_TIMEOUT:
        sl_reply_error(p->req, SL_ERR_UPSTREAM_TIMEOUT, what);
        break;
    case SL_UPSTREAM_ERR_PROTOCOL:
    case SL_UPSTREAM_ERR_TOO_LARGE:
        sl_reply_error(p->req, SL_ERR_UPSTREAM_INVALID, what);
        break;
    case SL_UPSTREAM_ERR_DECODE:
        sl_reply_error(p->req, SL_ERR_UPSTREAM_UNDECODABLE, what);
        break;
    case SL_UPSTREAM_ERR_PROXY_AUTH:
        sl_reply_error(p->req, SL_ERR_UPSTREAM_PROXY_AUTH, what);
        break;
    default:
        sl_reply_error(p->req, SL_ERR_UPSTREAM_UNREACHABLE, what);
        break;
    }
}

/* 2xx JSON: rewrite model back to the alias and take usage. */
static void finish_json(struct proxy *p)
{
    struct sl_str body = sl_buf_str(&p->body);
    struct sl_splice sp;
    struct sl_chunk_usage u;
    enum sl_chunk_action a = sl_chunk_plan(body, p->alias_json, true, &sp, &u);
    if (a == SL_CHUNK_REFUSE) {
        p->ctx->upstream_error = "decode";
        sl_reply_error(p->req, SL_ERR_UPSTREAM_MODEL_REPEATS, SL_SPLICE_MAX_EDITS);
        return;
    }
    if (a != SL_CHUNK_REWRITE) {
        struct sl_json_error jerr = {"not a JSON object", 0};
        sl_json_validate(body, SL_JSON_DEFAULT_MAX_DEPTH, &jerr);
        p->ctx->upstream_error = "decode";
        sl_reply_error(p->req, SL_ERR_UPSTREAM_BAD_JSON, jerr.why, jerr.at);
        return;
    }
    p->ctx->prompt_tokens = u.prompt_tokens;
    p->ctx->completion_tokens = u.completion_tokens;
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t len, n = sl_splice_iov(&sp, v, &len);
    reply_json(p, p->status, v, n, len);
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

/* 4xx: keep the status and the upstream's message; 429 keeps Retry-After. */
static void finish_error_body(struct proxy *p)
{
    struct sl_upstream_error_info info;
    struct sl_buf msg;
    h2o_req_t *req = p->req;
    p->ctx->error_kind = "upstream_error";
    p->ctx->upstream_error = "status_4xx";
    if (p->retry_after.len != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       p->retry_after.ptr, p->retry_after.len);
    sl_buf_init(&msg, MAX_UPSTREAM_MESSAGE_BYTES);
    if (!sl_provider_openai.parse_error(sl_buf_str(&p->body), &info) ||
        sl_json_unescape(info.message, &msg) != SL_OK) {
        sl_buf_dispose(&msg);
        sl_reply_error_status(req, p->status, SL_ERR_UPSTREAM_4XX, p->status);
        return;
    }
    /* The code: a JSON string unescaped, or a short bare literal (a number) as it is. */
    struct sl_buf cb;
    sl_buf_init(&cb, MAX_UPSTREAM_CODE_BYTES);
    struct sl_str raw_code = SL_STR_NULL;
    if (info.code.len != 0 && info.code.ptr[0] == '"' && sl_json_unescape(info.code, &cb) == SL_OK)
        raw_code = sl_buf_str(&cb);
    else if (info.code.len != 0 && info.code.len <= MAX_UPSTREAM_CODE_BYTES)
        raw_code = info.code;
    /* Pool copies are NUL-terminated; a code cut at an embedded NUL stays a valid code. */
    struct sl_str code =
        raw_code.len != 0
            ? without_provider_key(&req->pool, raw_code, p->model->key, MAX_UPSTREAM_CODE_BYTES)
            : SL_STR_NULL;
    sl_buf_dispose(&cb);
    struct sl_str shown = without_provider_key(&req->pool, sl_buf_str(&msg), p->model->key,
                                               MAX_UPSTREAM_MESSAGE_BYTES);
    sl_buf_dispose(&msg);
    struct sl_str env =
        sl_error_envelope(&req->pool, "upstream_error",
                          code.len != 0 && code.ptr[0] != '\0' ? code.ptr : NULL, shown);
    sl_reply(req, p->status, "application/json", env);
}

/* ---- retries ---- */

static const struct sl_upstream_cbs upstream_cbs;

/* The reference gateway's rules for one target: 5xx and transport failures are retried within
 * the budget; a timeout only when the model sets retries itself (a default budget never re-hits
 * a target that timed out); 4xx, TLS verification and oversized responses never. Nor are the
 * egress proxy's own failures (its 407, no connection to it) or bodies that cannot be decoded:
 * another attempt gets the same answer, later. */
static bool should_retry(const struct proxy *p, enum sl_upstream_error err, int status)
{
    const struct sl_model *md = p->model;
    uint64_t budget =
        md->has_retries ? md->retries : sl_server_config(p->ctx->worker->server)->upstream.retries;
    if (p->retries_done >= budget || p->ctx->client_gone)
        return false;
    if (err == SL_UPSTREAM_OK)
        return status >= 500 && status <= 599;
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
static uint64_t backoff_ms(const struct proxy *p)
{
    uint64_t ra;
    if (p->retry_after.len != 0 && sl_str_to_u64(p->retry_after, 5, &ra) == SL_OK)
        return ra * 1000;
    unsigned n = p->retries_done < 4 ? p->retries_done : 4;
    uint64_t base = SL_MIN(250u << n, 2000u);
    uint64_t jitter = (sl_now_us() * 2654435761u >> 11) % 251;
    return (base + jitter + 25) / 50 * 50;
}

static void on_retry(h2o_timeout_entry_t *e)
{
    struct proxy *p = SL_CONTAINER_OF(e, struct proxy, retry_timer);
    p->state = PX_WAITING;
    p->status = 0;
    p->retry_after = SL_STR_NULL;
    sl_buf_dispose(&p->body);
    p->up = sl_upstream_start(p->ctx->worker->upstreams, &p->model->key->origin, p->reqbufs,
                              p->nreqbufs, &p->opts, &upstream_cbs, p);
}

static void schedule_retry(struct proxy *p)
{
    uint64_t ms = backoff_ms(p);
    p->retries_done++;
    p->up = NULL;
    p->state = PX_WAITING;
    p->retry_timer.cb = on_retry;
    sl_upstreams_timer(p->ctx->worker->upstreams, ms, &p->retry_timer);
    sl_log_debug("retrying upstream call request_id=%.*s attempt=%u in %llu ms",
                 SL_STR_FMT(p->ctx->request_id), p->retries_done + 1, (unsigned long long)ms);
}

static void stop_watch(struct proxy *p)
{
    if (h2o_timeout_is_linked(&p->watch))
        h2o_timeout_unlink(&p->watch);
}

/* ---- upstream callbacks ---- */

/* Media types compare case-insensitively and without their parameters (RFC 9110 8.3.1):
 * "Text/Event-Stream; charset=utf-8" is an event stream. */
static bool is_event_stream(const struct sl_upstream_head *h)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct phr_header *x = &h->headers[i];
        if (x->name == NULL || !sl_str_ieq_lit(sl_str_init(x->name, x->name_len), "content-type"))
            continue;
        struct sl_str v = sl_str_init(x->value, x->value_len);
        const char *semi = memchr(v.ptr, ';', v.len);
        if (semi != NULL)
            v.len = (size_t)(semi - v.ptr);
        return sl_str_ieq_lit(sl_str_trim(v), "text/event-stream");
    }
    return false;
}

static struct sl_str find_header(const struct sl_upstream_head *h, const char *name)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct phr_header *x = &h->headers[i];
        if (x->name != NULL &&
            sl_str_ieq(sl_str_init(x->name, x->name_len), sl_str_from_cstr(name)))
            return sl_str_init(x->value, x->value_len);
    }
    return SL_STR_NULL;
}

static int on_head(void *ud, const struct sl_upstream_head *h)
{
    struct proxy *p = ud;
    p->status = h->status;
    if (h->status >= 200 && h->status < 300) {
        if (p->stream && is_event_stream(h)) {
            p->state = PX_STREAMING;
            p->relay_started = true;
            struct sl_worker *w = p->ctx->worker;
            sl_relay_start(&p->relay, p->req, p->ctx, p->up, p->alias_json, p->include_usage,
                           w->sse_keepalive_timeout);
            return 0;
        }
        p->state = PX_JSON;
        sl_buf_init(&p->body,
                    sl_server_config(p->ctx->worker->server)->upstream.max_response_bytes);
        return 0;
    }
    if (h->status >= 400 && h->status < 500) {
        p->state = PX_ERROR_BODY;
        struct sl_str ra = find_header(h, "retry-after");
        if (ra.len != 0 && ra.len < 64)
            p->retry_after = sl_str_from_iov(h2o_strdup(&p->req->pool, ra.ptr, ra.len));
        sl_buf_init(&p->body, MAX_ERROR_BODY_BYTES);
        return 0;
    }
    /* 5xx and anything unexpected: the body is not shown to callers, so do not read it. */
    p->ctx->upstream_error = h->status >= 500 ? "status_5xx" : "status_other";
    struct sl_str ra = find_header(h, "retry-after");
    if (ra.len != 0 && ra.len < 64)
        p->retry_after = sl_str_from_iov(h2o_strdup(&p->req->pool, ra.ptr, ra.len));
    if (should_retry(p, SL_UPSTREAM_OK, h->status)) {
        schedule_retry(p);
        return -1;
    }
    p->up = NULL;
    p->state = PX_DONE;
    stop_watch(p);
    if (h->status >= 500)
        sl_reply_error(p->req, SL_ERR_UPSTREAM_5XX, h->status);
    else
        sl_reply_error(p->req, SL_ERR_UPSTREAM_ODD_STATUS, h->status);
    return -1;
}

static int on_body(void *ud, const char *data, size_t len)
{
    struct proxy *p = ud;
    switch (p->state) {
    case PX_STREAMING:
        if (sl_relay_feed(&p->relay, data, len) == 0)
            return 0;
        p->up = NULL; /* the relay ended the caller's stream */
        p->state = PX_DONE;
        return -1;
    case PX_JSON:
        if (sl_buf_append(&p->body, data, len) == SL_OK)
            return 0;
        p->up = NULL;
        p->state = PX_DONE;
        stop_watch(p);
        p->ctx->upstream_error = "too_large";
        sl_reply_error(p->req, SL_ERR_UPSTREAM_TOO_LARGE, (unsigned long long)p->body._max);
        return -1;
    case PX_ERROR_BODY:
        sl_buf_append(&p->body, data, len); /* past the cap the rest is ignored */
        return 0;
    default:
        SL_ASSERT(!"body in an unexpected state");
        return -1;
    }
}

static void on_done(void *ud, enum sl_upstream_error err, const char *detail)
{
    struct proxy *p = ud;
    enum proxy_state was = p->state;
    p->up = NULL;
    p->state = PX_DONE;
    if (was == PX_STREAMING) {
        /* The watch stays: the relay may still be waiting on a client that stopped reading. */
        sl_relay_upstream_done(&p->relay, err, detail);
        return;
    }
    /* A 4xx head is the upstream's final word on this request even when its body is cut: a
     * retry would only repeat it (or turn it into a 502). */
    if (err != SL_UPSTREAM_OK && was != PX_ERROR_BODY && should_retry(p, err, 0)) {
        p->ctx->upstream_error = sl_upstream_error_name(err);
        schedule_retry(p);
        return;
    }
    stop_watch(p);
    if (err != SL_UPSTREAM_OK && was != PX_ERROR_BODY) {
        reply_upstream_failure(p, err, detail);
        return;
    }
    if (was == PX_JSON)
        finish_json(p);
    else
        finish_error_body(p);
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

static void abandon(struct proxy *p, bool stalled);

/* Once a second: has the caller left, or stopped reading a stream for longer than
 * downstream.idle_timeout_secs (h2o 2.2 has no send timeout)? Either way the upstream call
 * stops (it costs tokens) and the request ends. */
static void on_watch(h2o_timeout_entry_t *e)
{
    struct proxy *p = SL_CONTAINER_OF(e, struct proxy, watch);
    uint64_t limit_us =
        sl_server_config(p->ctx->worker->server)->downstream.idle_timeout_secs * 1000000;
    bool stalled =
        p->relay_started && limit_us != 0 && sl_relay_blocked_us(&p->relay, sl_now_us()) > limit_us;
    bool gone = !stalled && client_hung_up(p->req);
    if (!gone && !stalled) {
        h2o_timeout_link(p->req->conn->ctx->loop, &p->ctx->worker->client_watch_timeout, &p->watch);
        return;
    }
    abandon(p, stalled);
}

/* The HTTP/1.1 client closed its end (server/http.c noticed at once). The watch is linked
 * exactly while there is work to stop. */
static void on_client_gone(void *data)
{
    struct proxy *p = data;
    if (!h2o_timeout_is_linked(&p->watch))
        return;
    stop_watch(p);
    abandon(p, false);
}

/* The caller left (or stalled a stream): stop the upstream call, which costs tokens, and end
 * the request. */
static void abandon(struct proxy *p, bool stalled)
{
    p->ctx->client_gone = true;
    if (stalled)
        p->ctx->error_kind = "client_stalled";
    if (h2o_timeout_is_linked(&p->retry_timer))
        h2o_timeout_unlink(&p->retry_timer);
    if (p->relay_started) {
        sl_relay_client_gone(&p->relay);
        p->up = NULL;
        p->state = PX_DONE;
        h2o_socket_t *sock = p->req->conn->callbacks->get_socket(p->req->conn);
        /* A stalled HTTP/1.1 client: make h2o's pending write fail so it closes the
         * connection and frees the request. */
        if (stalled && p->req->version < 0x200 && sock != NULL)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
        return;
    }
    if (p->up != NULL) {
        sl_upstream_cancel(p->up);
        p->up = NULL;
    }
    p->state = PX_DONE;
    /* Finish the request so h2o tears the connection down. */
    p->req->res.status = 499;
    p->req->res.reason = "Client Closed Request";
    h2o_start_response(p->req, &plain_generator);
    h2o_send(p->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void on_proxy_dispose(void *data)
{
    struct proxy *p = data;
    stop_watch(p);
    p->ctx->on_client_gone = NULL;
    if (h2o_timeout_is_linked(&p->retry_timer)) {
        /* Freed while waiting to retry: nothing is running upstream. */
        h2o_timeout_unlink(&p->retry_timer);
        p->ctx->client_gone = true;
    }
    if (p->relay_started) {
        sl_relay_dispose(&p->relay);
        p->up = NULL;
    }
    if (p->up != NULL) {
        /* The request died first (HTTP/2 reset, connection closed): stop the upstream call. */
        p->ctx->client_gone = true;
        sl_upstream_cancel(p->up);
        p->up = NULL;
    }
    sl_buf_dispose(&p->body);
}

/* ---- the request ---- */

/* The alias as text, copied into the request's pool (decoded when the JSON string has
 * escapes). Never a slice of req->entity: the access log reads ctx->model while the request
 * is disposed, and HTTP/2 frees a stream's body buffer before that. Returns false after
 * replying 400. */
static bool take_alias(h2o_req_t *req, struct sl_reqctx *ctx, struct sl_str raw)
{
    struct sl_str inner = sl_str_init(raw.ptr + 1, raw.len - 2);
    struct sl_buf alias;
    if (memchr(inner.ptr, '\\', inner.len) == NULL && inner.len <= MAX_ALIAS_BYTES) {
        ctx->model = sl_str_from_iov(h2o_strdup(&req->pool, inner.ptr, inner.len));
        return true;
    }
    sl_buf_init(&alias, MAX_ALIAS_BYTES);
    if (sl_json_unescape(raw, &alias) != SL_OK) {
        sl_buf_dispose(&alias);
        sl_reply_error(req, SL_ERR_INVALID_REQUEST, "\"model\" is longer than 512 bytes");
        return false;
    }
    /* Only an escape can put a control character in a JSON string. A name with one cannot be
     * configured, and quoting it back (a NUL would cut the text) would mislead. */
    for (size_t i = 0; i < alias.len; i++) {
        unsigned char c = (unsigned char)alias.ptr[i];
        if (c < 0x20 || c == 0x7f) {
            char why[96];
            snprintf(why, sizeof(why),
                     "\"model\" contains a control character (U+%04X at byte %zu)", c, i);
            sl_buf_dispose(&alias);
            sl_reply_error(req, SL_ERR_INVALID_REQUEST, why);
            return false;
        }
    }
    ctx->model = sl_str_from_iov(h2o_strdup(&req->pool, alias.ptr, alias.len));
    sl_buf_dispose(&alias);
    return true;
}

/* The upstream model id, as a JSON literal for the body and as text for the log. A direct
 * model's are precomputed in the generation; a wildcard's are built per request. */
static bool upstream_id(h2o_req_t *req, const struct sl_resources *res,
                        const struct sl_model *model, struct sl_str alias, struct sl_str *id_json,
                        struct sl_str *id_text)
{
    *id_text = SL_STR_NULL;
    if (!model->is_wildcard) {
        *id_json = sl_str_from_cstr(model->model_name_json);
        *id_text = sl_str_from_cstr(model->model_name);
        return true;
    }
    struct sl_buf id, text;
    sl_buf_init(&id, MAX_UPSTREAM_ID_BYTES);
    if (sl_resources_resolve(res, alias, &id) != model) {
        sl_buf_dispose(&id);
        return false;
    }
    *id_json = sl_str_from_iov(h2o_strdup(&req->pool, id.ptr, id.len));
    sl_buf_init(&text, MAX_UPSTREAM_ID_BYTES);
    if (sl_json_unescape(sl_buf_str(&id), &text) == SL_OK)
        *id_text = sl_str_from_iov(h2o_strdup(&req->pool, text.ptr, text.len));
    sl_buf_dispose(&text);
    sl_buf_dispose(&id);
    return true;
}

static void call_upstream(struct proxy *p, const struct sl_body *b, struct sl_str id_json)
{
    h2o_req_t *req = p->req;
    struct sl_worker *w = p->ctx->worker;
    const struct sl_config *cfg = sl_server_config(w->server);
    struct sl_splice sp;
    sl_body_rewrite(b, id_json, p->stream, &sp, &p->include_usage);

    h2o_iovec_t *pieces =
        h2o_mem_alloc_pool(&req->pool, sizeof(h2o_iovec_t) * sl_splice_max_iov(&sp));
    struct sl_upstream_call call = {.endpoint = p->endpoint,
                                    .stream = p->stream,
                                    .request_id = p->ctx->request_id,
                                    .body = pieces};
    call.nbody = sl_splice_iov(&sp, pieces, &call.body_len);
    call.absolute_form = sl_upstream_uses_forward_proxy(w->upstreams, &p->model->key->origin);
    h2o_iovec_t *bufs;
    size_t nbufs;
    sl_provider_for(p->model->key)->build_request(&req->pool, p->model->key, &call, &bufs, &nbufs);

    struct sl_upstream_opts opts = {0};
    const struct sl_model *md = p->model;
    uint64_t timeout = md->has_timeout ? md->timeout_ms : cfg->upstream.timeout_ms;
    if (p->stream) {
        /* A stream has no total deadline; its budget is the longest silence between events, in
         * the reference's order: the model's stream_timeout, its timeout (an explicit 0 means
         * none), upstream.stream_timeout_ms, upstream.timeout_ms. */
        if (md->has_stream_timeout && md->stream_timeout_ms != 0)
            opts.idle_ms = md->stream_timeout_ms;
        else if (md->has_timeout)
            opts.idle_ms = md->timeout_ms;
        else if (cfg->upstream.stream_timeout_ms != 0)
            opts.idle_ms = cfg->upstream.stream_timeout_ms;
        else
            opts.idle_ms = cfg->upstream.timeout_ms;
    } else {
        opts.deadline_ms = timeout;
    }
    p->reqbufs = bufs;
    p->nreqbufs = nbufs;
    opts.request_id = p->ctx->request_id;
    p->opts = opts;
    p->up = sl_upstream_start(w->upstreams, &md->key->origin, bufs, nbufs, &opts, &upstream_cbs, p);
    p->watch.cb = on_watch;
    h2o_timeout_link(req->conn->ctx->loop, &w->client_watch_timeout, &p->watch);
    p->ctx->on_client_gone = on_client_gone;
    p->ctx->on_client_gone_data = p;
}

static void proxy_request(struct sl_reqctx *ctx, h2o_req_t *req, enum sl_endpoint ep)
{
    const struct sl_resources *res = ctx->pin->gen->res;
    const struct sl_api_key *key = sl_auth_require(ctx, req);
    if (key == NULL)
        return;
    struct sl_body b;
    char why[200];
    if (sl_body_inspect(sl_str_from_iov(req->entity), ep, &b, why, sizeof(why)) != SL_OK) {
        sl_reply_error(req, SL_ERR_INVALID_REQUEST, why);
        return;
    }
    if (!take_alias(req, ctx, b.model.value))
        return;
    const struct sl_model *model = sl_resources_resolve(res, ctx->model, NULL);
    struct sl_str id_json, id_text;
    if (model == NULL || !upstream_id(req, res, model, ctx->model, &id_json, &id_text)) {
        sl_reply_error(req, SL_ERR_MODEL_NOT_FOUND, (int)SL_MIN(ctx->model.len, 200),
                       ctx->model.ptr);
        return;
    }
    ctx->model_label = sl_str_from_cstr(model->name);
    if (!sl_api_key_allows(key, ctx->model)) {
        sl_reply_error(req, SL_ERR_MODEL_NOT_ALLOWED, key->name, (int)SL_MIN(ctx->model.len, 200),
                       ctx->model.ptr);
        return;
    }

    struct proxy *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), on_proxy_dispose);
    *p = (struct proxy){.ctx = ctx, .req = req, .endpoint = ep, .model = model};
    p->alias_json = b.model.value;
    p->stream = ep != SL_EP_EMBEDDINGS && b.stream_requested;
    ctx->upstream_model = id_text;
    call_upstream(p, &b, id_json);
}

void sl_api_chat_completions(struct sl_reqctx *ctx, h2o_req_t *req)
{
    proxy_request(ctx, req, SL_EP_CHAT);
}

void sl_api_completions(struct sl_reqctx *ctx, h2o_req_t *req)
{
    proxy_request(ctx, req, SL_EP_COMPLETIONS);
}

void sl_api_embeddings(struct sl_reqctx *ctx, h2o_req_t *req)
{
    proxy_request(ctx, req, SL_EP_EMBEDDINGS);
}
