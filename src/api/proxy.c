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
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sluice/api.h"
#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/generation.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/relay.h"
#include "sluice/reply.h"
#include "sluice/server.h"
#include "sluice/splice.h"
#include "sluice/upstream.h"
#include "sluice/worker.h"

/* Caps on what an upstream may send back whole (streams are never held whole). */
#define MAX_JSON_RESPONSE_BYTES (64u * 1024 * 1024)
#define MAX_ERROR_BODY_BYTES    (64u * 1024)
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
};

static h2o_generator_t plain_generator = {NULL, NULL};

static const struct sl_str scan_keys[] = {
    SL_STR_INIT("model"),    SL_STR_INIT("stream"), SL_STR_INIT("stream_options"),
    SL_STR_INIT("messages"), SL_STR_INIT("prompt"), SL_STR_INIT("input"),
};
enum { K_MODEL, K_STREAM, K_STREAM_OPTIONS, K_MESSAGES, K_PROMPT, K_INPUT, K_COUNT };

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
        p->ctx->error_kind = "upstream_timeout";
        sl_reply_error(p->req, 504, "timeout", NULL, "upstream request timed out: %s", what);
        break;
    case SL_UPSTREAM_ERR_PROTOCOL:
        p->ctx->error_kind = "upstream_decode_error";
        sl_reply_error(p->req, 502, "upstream_decode_error", NULL,
                       "upstream sent an invalid response: %s", what);
        break;
    default:
        p->ctx->error_kind = "transport_error";
        sl_reply_error(p->req, 502, "transport_error", NULL, "upstream unreachable: %s", what);
        break;
    }
}

/* 2xx JSON: rewrite model back to the alias and take usage. */
static void finish_json(struct proxy *p)
{
    static const struct sl_str keys[] = {SL_STR_INIT("model"), SL_STR_INIT("usage")};
    struct sl_json_member m[2];
    struct sl_str body = sl_buf_str(&p->body);
    struct sl_json_error jerr;
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, &jerr) != SL_OK) {
        p->ctx->error_kind = "upstream_decode_error";
        p->ctx->upstream_error = "decode";
        sl_reply_error(p->req, 502, "upstream_decode_error", NULL,
                       "upstream returned invalid JSON: %s at byte %zu", jerr.why, jerr.at);
        return;
    }
    if (m[1].type == SL_JSON_OBJECT) {
        /* One pass over usage for both counts (two sl_json_find calls scanned it twice). */
        static const struct sl_str ukeys[] = {SL_STR_INIT("prompt_tokens"),
                                              SL_STR_INIT("completion_tokens")};
        struct sl_json_member t[2];
        uint64_t v;
        if (sl_json_scan_object(m[1].value, SL_JSON_DEFAULT_MAX_DEPTH, ukeys, 2, t, NULL) ==
            SL_OK) {
            if (t[0].type == SL_JSON_NUMBER && sl_json_to_u64(t[0].value, &v) == SL_OK)
                p->ctx->prompt_tokens = (int64_t)v;
            if (t[1].type == SL_JSON_NUMBER && sl_json_to_u64(t[1].value, &v) == SL_OK)
                p->ctx->completion_tokens = (int64_t)v;
        }
    }
    struct sl_splice sp;
    sl_splice_init(&sp, body);
    if (m[0].type == SL_JSON_STRING)
        sl_splice_replace(&sp, m[0].value, p->alias_json);
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t len, n = sl_splice_iov(&sp, v, &len);
    reply_json(p, p->status, v, n, len);
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
    sl_buf_init(&msg, 1024);
    if (!sl_provider_openai.parse_error(sl_buf_str(&p->body), &info) ||
        sl_json_unescape(info.message, &msg) != SL_OK) {
        sl_buf_dispose(&msg);
        sl_reply_error(req, p->status, "upstream_error", NULL, "upstream returned %d", p->status);
        return;
    }
    char code[128] = "";
    struct sl_buf cb;
    sl_buf_init(&cb, sizeof(code) - 1);
    if (info.code.len != 0 && info.code.ptr[0] == '"' && sl_json_unescape(info.code, &cb) == SL_OK)
        snprintf(code, sizeof(code), "%.*s", (int)cb.len, cb.ptr);
    else if (info.code.len != 0 && info.code.len < sizeof(code))
        snprintf(code, sizeof(code), "%.*s", (int)info.code.len, info.code.ptr);
    sl_buf_dispose(&cb);
    struct sl_str env =
        sl_error_envelope(&req->pool, "upstream_error", code[0] ? code : NULL, sl_buf_str(&msg));
    sl_buf_dispose(&msg);
    sl_reply(req, p->status, "application/json", env);
}

/* ---- upstream callbacks ---- */

static bool is_event_stream(const struct sl_upstream_head *h)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct phr_header *x = &h->headers[i];
        if (x->name != NULL && sl_str_ieq_lit(sl_str_init(x->name, x->name_len), "content-type"))
            return memmem(x->value, x->value_len, "text/event-stream", 17) != NULL;
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
        sl_buf_init(&p->body, MAX_JSON_RESPONSE_BYTES);
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
    p->up = NULL;
    p->state = PX_DONE;
    p->ctx->error_kind = "upstream_error";
    p->ctx->upstream_error = h->status >= 500 ? "status_5xx" : "status_other";
    if (h->status >= 500)
        sl_reply_error(p->req, 502, "upstream_error", NULL, "upstream returned %d", h->status);
    else
        sl_reply_error(p->req, 502, "upstream_error", NULL,
                       "upstream returned unexpected status %d", h->status);
    return -1;
}

static int on_body(void *ud, const char *data, size_t len)
{
    struct proxy *p = ud;
    switch (p->state) {
    case PX_STREAMING:
        if (sl_relay_feed(&p->relay, data, len) == 0)
            return 0;
        p->up = NULL;
        p->relay.up = NULL;
        sl_relay_upstream_done(&p->relay, SL_UPSTREAM_ERR_TOO_LARGE, "event larger than 4 MiB");
        p->state = PX_DONE;
        return -1;
    case PX_JSON:
        if (sl_buf_append(&p->body, data, len) == SL_OK)
            return 0;
        p->up = NULL;
        p->state = PX_DONE;
        p->ctx->error_kind = "upstream_error";
        p->ctx->upstream_error = "too_large";
        sl_reply_error(p->req, 502, "upstream_error", "response_too_large",
                       "upstream response is larger than %u bytes", MAX_JSON_RESPONSE_BYTES);
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
    if (h2o_timeout_is_linked(&p->watch))
        h2o_timeout_unlink(&p->watch);
    if (was == PX_STREAMING) {
        sl_relay_upstream_done(&p->relay, err, detail);
        return;
    }
    if (err != SL_UPSTREAM_OK) {
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

/* h2o 2.2 does not read an HTTP/1.1 client socket while a handler works on its request, so a
 * caller who hangs up would only be noticed when the response is written. Poll for it once a
 * second and stop the upstream call (it costs tokens). HTTP/2 resets free the request, which
 * cancels the call from the dispose callback. */
static void on_watch(h2o_timeout_entry_t *e)
{
    struct proxy *p = SL_CONTAINER_OF(e, struct proxy, watch);
    h2o_socket_t *sock = p->req->conn->callbacks->get_socket(p->req->conn);
    struct pollfd pfd = {.fd = sock != NULL ? h2o_socket_get_fd(sock) : -1, .events = POLLRDHUP};
    if (pfd.fd == -1 || poll(&pfd, 1, 0) != 1 ||
        (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) {
        h2o_timeout_link(p->req->conn->ctx->loop, &p->ctx->worker->client_watch_timeout, &p->watch);
        return;
    }
    p->ctx->client_gone = true;
    if (p->state == PX_STREAMING) {
        sl_relay_client_gone(&p->relay);
        p->up = NULL;
        p->state = PX_DONE;
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

/* Giving memory back after a burst. glibc keeps freed memory in its arenas, and after the first
 * large buffer is freed it raises its mmap and trim thresholds, so the buffers of a burst of
 * large bodies (h2o's socket buffers, response bodies) stay resident for good: 5.7 MiB idle
 * became 8.3 MiB ten seconds after 3 s of 120 KiB requests. Each proxied request that ends
 * notes the time; once the worker has finished none for a second, malloc_trim releases the free
 * pages of every arena. Per thread: each worker has its own loop. */
#define TRIM_QUIET_MS 1000
/* While busy, keep freed memory: without these, glibc returned the top of a worker's arena to
 * the kernel after nearly every 120 KiB request (mmap'd, then trimmed, h2o socket buffers) and
 * faulted it back in on the next one, 8-11 page faults per request. Allocations below 1 MiB
 * come from the arenas and up to 8 MiB of free top is kept; the quiet-time malloc_trim above
 * gives it all back. Set once per process (mallopt is process-wide). */
#define MMAP_FROM_BYTES  (1u << 20)
#define TRIM_KEEP_BYTES  (8u << 20)
#define TRIM_QUIET_BYTES (128u << 10)

static pthread_once_t malloc_tuned = PTHREAD_ONCE_INIT;

static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, MMAP_FROM_BYTES);
    mallopt(M_TRIM_THRESHOLD, TRIM_KEEP_BYTES);
#endif
}

static __thread struct {
    h2o_loop_t *loop;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t entry;
    uint64_t last_ms; /* when a proxied request last ended */
} trim;

/* malloc_trim returns the free pages inside every arena and the top of the main one, but not the
 * top of a thread's arena: glibc shrinks that only from free(), for blocks of 64 KiB and more,
 * when it exceeds M_TRIM_THRESHOLD. So lower the threshold for one such free on this worker's
 * arena, then restore it. */
static void release_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
    mallopt(M_TRIM_THRESHOLD, TRIM_QUIET_BYTES);
    void *volatile block = malloc(64 * 1024);
    free(block);
    mallopt(M_TRIM_THRESHOLD, TRIM_KEEP_BYTES);
#endif
}

static void on_trim(h2o_timeout_entry_t *e)
{
    SL_UNUSED(e);
    if (h2o_now(trim.loop) - trim.last_ms < TRIM_QUIET_MS) {
        h2o_timeout_link(trim.loop, &trim.timeout, &trim.entry);
        return;
    }
    release_memory();
}

static void note_request_end(h2o_loop_t *loop)
{
    if (trim.loop == NULL) {
        pthread_once(&malloc_tuned, tune_malloc);
        trim.loop = loop;
        h2o_timeout_init(loop, &trim.timeout, TRIM_QUIET_MS);
        trim.entry.cb = on_trim;
    }
    if (trim.loop != loop)
        return;
    trim.last_ms = h2o_now(loop);
    if (!h2o_timeout_is_linked(&trim.entry))
        h2o_timeout_link(loop, &trim.timeout, &trim.entry);
}

static void on_proxy_dispose(void *data)
{
    struct proxy *p = data;
    note_request_end(p->req->conn->ctx->loop);
    if (h2o_timeout_is_linked(&p->watch))
        h2o_timeout_unlink(&p->watch);
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

static bool reject_body(h2o_req_t *req, struct sl_reqctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool reject_body(h2o_req_t *req, struct sl_reqctx *ctx, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->error_kind = "invalid_request";
    sl_reply_error(req, 400, "invalid_request_error", NULL, "request payload is invalid: %s", msg);
    return false;
}

/* Checks the fields each route needs. Returns false after replying 400. */
static bool check_fields(h2o_req_t *req, struct sl_reqctx *ctx, enum sl_endpoint ep,
                         const struct sl_json_member *m)
{
    if (m[K_MODEL].type == SL_JSON_ABSENT)
        return reject_body(req, ctx, "missing field \"%s\"", "model");
    if (m[K_MODEL].type != SL_JSON_STRING || m[K_MODEL].value.len <= 2)
        return reject_body(req, ctx, "\"%s\" must be a non-empty string", "model");
    if (m[K_STREAM].type != SL_JSON_ABSENT && m[K_STREAM].type != SL_JSON_TRUE &&
        m[K_STREAM].type != SL_JSON_FALSE && m[K_STREAM].type != SL_JSON_NULL)
        return reject_body(req, ctx, "\"%s\" must be a boolean", "stream");
    switch (ep) {
    case SL_EP_CHAT:
        if (m[K_MESSAGES].type == SL_JSON_ABSENT)
            return reject_body(req, ctx, "missing field \"%s\"", "messages");
        if (m[K_MESSAGES].type != SL_JSON_ARRAY || m[K_MESSAGES].count == 0)
            return reject_body(req, ctx, "\"%s\" must be a non-empty array", "messages");
        break;
    case SL_EP_COMPLETIONS:
        if (m[K_PROMPT].type == SL_JSON_ABSENT)
            return reject_body(req, ctx, "missing field \"%s\"", "prompt");
        break;
    case SL_EP_EMBEDDINGS:
        if (m[K_INPUT].type == SL_JSON_ABSENT)
            return reject_body(req, ctx, "missing field \"%s\"", "input");
        break;
    }
    return true;
}

/* Forces stream_options.include_usage on (so token counts are always known) and records
 * whether the caller asked for it (only then is the usage chunk relayed). */
static void force_include_usage(struct proxy *p, struct sl_splice *sp, struct sl_str body,
                                const struct sl_json_member *so)
{
    static const struct sl_str inject = SL_STR_INIT(",\"stream_options\":{\"include_usage\":true}");
    struct sl_json_member iu;
    if (so->type == SL_JSON_ABSENT) {
        size_t end = body.len;
        while (end > 0 && body.ptr[end - 1] != '}')
            end--;
        SL_ASSERT(end > 0); /* a validated object ends with '}' */
        sl_splice_insert(sp, end - 1, inject);
        return;
    }
    if (so->type != SL_JSON_OBJECT) {
        sl_splice_replace(sp, so->value, SL_STRLIT("{\"include_usage\":true}"));
        return;
    }
    if (sl_json_find(so->value, SL_STRLIT("include_usage"), &iu) != SL_OK) {
        size_t at = (size_t)(so->value.ptr - body.ptr) + 1; /* just after '{' */
        sl_splice_insert(sp, at,
                         so->count > 0 ? SL_STRLIT("\"include_usage\":true,")
                                       : SL_STRLIT("\"include_usage\":true"));
        return;
    }
    if (iu.type == SL_JSON_TRUE)
        p->include_usage = true;
    else
        sl_splice_replace(sp, iu.value, SL_STRLIT("true"));
}

/* id_json: the upstream model id as a JSON string literal, in memory that lasts as long as the
 * request (its pool, or the resources generation the request pins). */
static void call_upstream(struct proxy *p, const struct sl_json_member *m, struct sl_str id_json)
{
    h2o_req_t *req = p->req;
    struct sl_worker *w = p->ctx->worker;
    const struct sl_config *cfg = sl_server_config(w->server);
    struct sl_str body = sl_str_from_iov(req->entity);
    struct sl_splice sp;
    sl_splice_init(&sp, body);
    sl_splice_replace(&sp, m[K_MODEL].value, id_json);
    if (p->stream)
        force_include_usage(p, &sp, body, &m[K_STREAM_OPTIONS]);

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
        /* A stream has no total deadline; its budget is the longest silence between events. */
        if (md->has_stream_timeout && md->stream_timeout_ms != 0)
            opts.idle_ms = md->stream_timeout_ms;
        else if (timeout != 0)
            opts.idle_ms = timeout;
        else
            opts.idle_ms = cfg->upstream.stream_timeout_ms;
    } else {
        opts.deadline_ms = timeout;
    }
    p->up = sl_upstream_start(w->upstreams, &md->key->origin, bufs, nbufs, &opts, &upstream_cbs, p);
    if (req->version < 0x200) {
        p->watch.cb = on_watch;
        h2o_timeout_link(req->conn->ctx->loop, &w->client_watch_timeout, &p->watch);
    }
}

/* Sets ctx->model to the alias the caller sent. Without escapes it is the JSON string's inside,
 * which lives in the request body (no copy); otherwise it is unescaped into the request pool.
 * Returns false after replying 400. */
static bool take_alias(h2o_req_t *req, struct sl_reqctx *ctx, struct sl_str raw)
{
    struct sl_str inner = sl_str_init(raw.ptr + 1, raw.len - 2);
    if (memchr(inner.ptr, '\\', inner.len) == NULL) {
        if (inner.len > MAX_ALIAS_BYTES)
            return reject_body(req, ctx, "%s", "\"model\" is too long");
        ctx->model = inner;
        return true;
    }
    struct sl_buf alias;
    sl_buf_init(&alias, MAX_ALIAS_BYTES);
    if (sl_json_unescape(raw, &alias) != SL_OK) {
        sl_buf_dispose(&alias);
        return reject_body(req, ctx, "%s", "\"model\" is too long");
    }
    ctx->model = sl_str_from_iov(h2o_strdup(&req->pool, alias.ptr, alias.len));
    sl_buf_dispose(&alias);
    return true;
}

/* The upstream model id of a resolved alias, as a JSON literal for the body (*id_json) and as
 * text for the access log (*id_text, empty if it cannot be shown). A direct model's are precomputed
 * in the resources the request pins; a wildcard's are built into the request pool. Returns false
 * when the wildcard's id would be too long (the alias then resolves to nothing). */
static bool upstream_id(h2o_req_t *req, const struct sl_resources *res,
                        const struct sl_model *model, struct sl_str alias, struct sl_str *id_json,
                        struct sl_str *id_text)
{
    *id_text = SL_STR_NULL;
    if (!model->is_wildcard) {
        *id_json = sl_str_from_cstr(model->model_name_json);
        *id_text = sl_str_from_cstr(model->model_name);
        return id_json->len <= MAX_UPSTREAM_ID_BYTES;
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

static void proxy_request(struct sl_reqctx *ctx, h2o_req_t *req, enum sl_endpoint ep)
{
    const struct sl_resources *res = ctx->pin->gen->res;
    const struct sl_api_key *key;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    enum sl_auth_result ar =
        sl_auth_check(req, res, (int64_t)tv.tv_sec * 1000000 + tv.tv_usec, &key);
    if (key != NULL)
        ctx->key_name = sl_str_from_cstr(key->name);
    if (ar != SL_AUTH_OK) {
        ctx->error_kind = "unauthorized";
        sl_auth_reply_failure(req, ar);
        return;
    }

    struct sl_json_member m[K_COUNT];
    struct sl_json_error jerr;
    struct sl_str body = sl_str_from_iov(req->entity);
    if (body.len == 0) {
        reject_body(req, ctx, "%s", "the body is empty (expected a JSON object)");
        return;
    }
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, scan_keys, K_COUNT, m, &jerr) !=
        SL_OK) {
        char why[160];
        snprintf(why, sizeof(why), "%s at byte %zu", jerr.why, jerr.at);
        reject_body(req, ctx, "%s", why);
        return;
    }
    if (!check_fields(req, ctx, ep, m))
        return;

    if (!take_alias(req, ctx, m[K_MODEL].value))
        return;

    const struct sl_model *model = sl_resources_resolve(res, ctx->model, NULL);
    struct sl_str id_json, id_text;
    if (model == NULL || !upstream_id(req, res, model, ctx->model, &id_json, &id_text)) {
        ctx->error_kind = "model_not_found";
        sl_reply_error(req, 404, "model_not_found", NULL, "model \"%.*s\" does not exist",
                       (int)SL_MIN(ctx->model.len, 200), ctx->model.ptr);
        return;
    }
    ctx->model_label = sl_str_from_cstr(model->name);
    if (!sl_api_key_allows(key, ctx->model)) {
        ctx->error_kind = "permission_denied";
        sl_reply_error(req, 403, "permission_denied", NULL,
                       "API key \"%s\" is not allowed to use model \"%.*s\"", key->name,
                       (int)SL_MIN(ctx->model.len, 200), ctx->model.ptr);
        return;
    }

    ctx->upstream_model = id_text;
    struct proxy *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), on_proxy_dispose);
    *p = (struct proxy){.ctx = ctx, .req = req, .endpoint = ep, .model = model};
    p->alias_json = m[K_MODEL].value;
    p->stream = ep != SL_EP_EMBEDDINGS && m[K_STREAM].type == SL_JSON_TRUE;
    call_upstream(p, m, id_json);
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
