#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/chunk.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/relay.h"
#include "sluice/reply.h"
#include "sluice/splice.h"

/* One event may be large (a long tool-call argument); the stream as a whole is never held. */
#define MAX_EVENT_BYTES    (4u * 1024 * 1024)
#define PENDING_HIGH_WATER (256u * 1024)
#define PENDING_MAX        (MAX_EVENT_BYTES * 2 + 1024)
/* on_event's refusal of an event whose model cannot be rewritten (below every SL_E*). */
#define RELAY_REFUSED (-100)

static void flush(struct sl_relay *r);

static uint64_t now_us(void)
{
    return sl_now_us();
}

static int append(struct sl_relay *r, struct sl_str s)
{
    return sl_buf_append(&r->_pending, s.ptr, s.len);
}

/* Frames data for the client: "data: " before every line of it. Used for the caller's copy of an
 * event whether rewritten or not, so an upstream event with several data lines stays several
 * valid "data:" lines (JSON may be split across lines at any whitespace). */
static int append_framed(struct sl_relay *r, const h2o_iovec_t *v, size_t n)
{
    if (append(r, SL_STRLIT("data: ")) != SL_OK)
        return SL_E2BIG;
    for (size_t i = 0; i < n; i++) {
        const char *p = v[i].base, *end = p + v[i].len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl != NULL ? nl + 1 : end;
            if (sl_buf_append(&r->_pending, p, (size_t)(stop - p)) != SL_OK ||
                (nl != NULL && append(r, SL_STRLIT("data: ")) != SL_OK))
                return SL_E2BIG;
            p = stop;
        }
    }
    return append(r, SL_STRLIT("\n"));
}

static int append_data_lines(struct sl_relay *r, struct sl_str data)
{
    h2o_iovec_t v = sl_iov_from_str(data);
    return append_framed(r, &v, 1);
}

/* An event's JSON: every top-level model rewritten to the alias, usage recorded, and in OpenAI
 * chunks (unnamed events) the usage-only chunk dropped unless the caller asked for it. */
static int relay_json_event(struct sl_relay *r, const struct sl_sse_event *ev)
{
    struct sl_splice sp;
    struct sl_chunk_usage u;
    bool keep_usage = r->include_usage || ev->event.len != 0;
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t n, len;
    switch (sl_chunk_plan(ev->data, r->alias_json, keep_usage, &sp, &u)) {
    case SL_CHUNK_RAW:
        return append_data_lines(r, ev->data); /* not ours to judge: forward as received */
    case SL_CHUNK_REFUSE:
        return RELAY_REFUSED;
    case SL_CHUNK_DROP:
        break;
    case SL_CHUNK_REWRITE:
        if (!ev->multiline) { /* the usual event: one line in, one line out */
            if (append(r, SL_STRLIT("data: ")) != SL_OK ||
                sl_splice_append(&sp, &r->_pending) != SL_OK || append(r, SL_STRLIT("\n")) != SL_OK)
                return SL_E2BIG;
            break;
        }
        n = sl_splice_iov(&sp, v, &len);
        if (append_framed(r, v, n) != SL_OK)
            return SL_E2BIG;
        break;
    }
    if (u.prompt_tokens >= 0)
        r->ctx->prompt_tokens = u.prompt_tokens;
    if (u.completion_tokens >= 0)
        r->ctx->completion_tokens = u.completion_tokens;
    return SL_OK;
}

static int on_event(void *ud, const struct sl_sse_event *ev)
{
    struct sl_relay *r = ud;
    int rc = SL_OK;
    if (ev->is_comment || !ev->has_data)
        return SL_OK; /* upstream keep-alives; Sluice sends its own */
    size_t before = r->_pending.len;
    if (r->ctx->ttft_us < 0)
        r->ctx->ttft_us = (int64_t)(now_us() - r->ctx->start_us);
    if (ev->event.len != 0) {
        if (append(r, SL_STRLIT("event: ")) != SL_OK || append(r, ev->event) != SL_OK ||
            append(r, SL_STRLIT("\n")) != SL_OK)
            return SL_E2BIG;
    }
    if (sl_str_eq_lit(ev->data, "[DONE]")) {
        r->_saw_done = true;
        rc = append_data_lines(r, ev->data);
    } else {
        rc = relay_json_event(r, ev);
    }
    if (rc != SL_OK) {
        r->_pending.len = before; /* nothing half-written goes out */
        return rc;
    }
    /* The blank line that ends the event, unless the event was dropped (only unnamed OpenAI
     * chunks are). */
    return r->_pending.len > before ? append(r, SL_STRLIT("\n")) : SL_OK;
}

static void send_final_if_ready(struct sl_relay *r)
{
    if (r->_sending || r->_final_sent || !r->_upstream_ended || r->_pending.len != 0)
        return;
    r->_final_sent = true;
    if (h2o_timeout_is_linked(&r->_keepalive))
        h2o_timeout_unlink(&r->_keepalive);
    h2o_send(r->req, NULL, 0, r->_client_gone ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
}

/* Hands everything pending to h2o, unless h2o still holds the previous batch. */
static void flush(struct sl_relay *r)
{
    if (r->_sending || r->_final_sent)
        return;
    if (r->_pending.len == 0) {
        send_final_if_ready(r);
        return;
    }
    struct sl_buf t = r->_inflight;
    r->_inflight = r->_pending;
    r->_pending = t;
    sl_buf_reset(&r->_pending);
    r->_sending = true;
    r->_last_send_us = now_us();
    bool last = r->_upstream_ended;
    h2o_iovec_t v = h2o_iovec_init(r->_inflight.ptr, r->_inflight.len);
    if (last)
        r->_final_sent = true;
    h2o_send(r->req, &v, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
    if (r->_paused && r->up != NULL) {
        r->_paused = false;
        sl_upstream_resume(r->up);
    }
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct sl_relay *r = (struct sl_relay *)g;
    SL_UNUSED(req);
    r->_sending = false;
    sl_buf_reset(&r->_inflight);
    flush(r);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    struct sl_relay *r = (struct sl_relay *)g;
    SL_UNUSED(req);
    /* The client went away: stop the upstream transfer now (it costs tokens). */
    r->_final_sent = true;
    r->ctx->client_gone = true;
    if (h2o_timeout_is_linked(&r->_keepalive))
        h2o_timeout_unlink(&r->_keepalive);
    if (r->up != NULL) {
        sl_upstream_cancel(r->up);
        r->up = NULL;
    }
}

static void on_keepalive(h2o_timeout_entry_t *e)
{
    struct sl_relay *r = SL_CONTAINER_OF(e, struct sl_relay, _keepalive);
    uint64_t quiet_ms = (now_us() - r->_last_send_us) / 1000;
    if (!r->_sending && r->_pending.len == 0 && quiet_ms + 5 >= r->_keepalive_timeout->timeout) {
        append(r, SL_STRLIT(":\n\n"));
        flush(r);
    }
    if (!r->_final_sent)
        h2o_timeout_link(r->req->conn->ctx->loop, r->_keepalive_timeout, &r->_keepalive);
}

void sl_relay_start(struct sl_relay *r, h2o_req_t *req, struct sl_reqctx *ctx,
                    struct sl_upstream_req *up, struct sl_str alias_json, bool include_usage,
                    h2o_timeout_t *keepalive_timeout)
{
    *r = (struct sl_relay){.super = {on_proceed, on_stop},
                           .req = req,
                           .ctx = ctx,
                           .up = up,
                           .alias_json = alias_json,
                           .include_usage = include_usage,
                           ._keepalive_timeout = keepalive_timeout};
    sl_sse_init(&r->_sse, MAX_EVENT_BYTES, false);
    sl_buf_init(&r->_pending, PENDING_MAX);
    sl_buf_init(&r->_inflight, PENDING_MAX);
    ctx->stream = true;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    /* nginx and friends in front of Sluice must not buffer the stream either. */
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL,
                          H2O_STRLIT("no"));
    h2o_start_response(req, &r->super);
    r->_last_send_us = now_us();
    r->_keepalive.cb = on_keepalive;
    if (keepalive_timeout != NULL)
        h2o_timeout_link(req->conn->ctx->loop, keepalive_timeout, &r->_keepalive);
}

/* Ends the stream with an "event: error" frame for a row of errors.h. */
static void error_frame(struct sl_relay *r, int status, const char *type, const char *code,
                        const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void error_frame(struct sl_relay *r, int status, const char *type, const char *code,
                        const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->ctx->error_kind = kind;
    append(r, SL_STRLIT("event: error\ndata: "));
    append(r, sl_error_envelopef(&r->req->pool, status, type, code, kind, "%s", msg));
    append(r, SL_STRLIT("\n\n"));
}

/* The relay cannot go on with this upstream stream: its caller abandons the exchange, and the
 * client gets an error frame. */
static void fail_stream(struct sl_relay *r, int rc)
{
    r->up = NULL;
    r->_upstream_ended = true;
    if (rc == RELAY_REFUSED) {
        r->ctx->upstream_error = "decode";
        error_frame(r, SL_ERR_STREAM_MODEL_REPEATS, SL_SPLICE_MAX_EDITS);
    } else {
        r->ctx->upstream_error = "too_large";
        error_frame(r, SL_ERR_STREAM_ABORTED, "event larger than 4 MiB");
    }
    flush(r);
}

int sl_relay_feed(struct sl_relay *r, const char *data, size_t len)
{
    if (r->_final_sent)
        return -1;
    int rc = sl_sse_feed(&r->_sse, data, len, on_event, r);
    if (rc != SL_OK) {
        fail_stream(r, rc);
        return -1;
    }
    flush(r);
    if (!r->_paused && r->_pending.len > PENDING_HIGH_WATER && r->up != NULL) {
        r->_paused = true;
        sl_upstream_pause(r->up);
    }
    return 0;
}

void sl_relay_upstream_done(struct sl_relay *r, enum sl_upstream_error err, const char *detail)
{
    r->up = NULL;
    r->_upstream_ended = true;
    if (r->_final_sent)
        return;
    if (err != SL_UPSTREAM_OK) {
        const char *what = detail != NULL ? detail : "connection lost";
        r->ctx->upstream_error = sl_upstream_error_name(err);
        if (err == SL_UPSTREAM_ERR_IDLE || err == SL_UPSTREAM_ERR_DEADLINE)
            error_frame(r, SL_ERR_STREAM_TIMEOUT, what);
        else
            error_frame(r, SL_ERR_STREAM_ABORTED, what);
        flush(r);
        return;
    }
    /* A last line or a last [DONE] without its blank line still counts at EOF. */
    int rc = sl_sse_finish(&r->_sse, on_event, r);
    if (rc != SL_OK) {
        fail_stream(r, rc);
        return;
    }
    if (!sl_sse_is_idle(&r->_sse))
        error_frame(r, SL_ERR_STREAM_CUT);
    else if (!r->_saw_done)
        append(r, SL_STRLIT("data: [DONE]\n\n"));
    flush(r);
}

uint64_t sl_relay_blocked_us(const struct sl_relay *r, uint64_t now)
{
    if (!r->_sending || r->_final_sent || now < r->_last_send_us)
        return 0;
    return now - r->_last_send_us;
}

void sl_relay_client_gone(struct sl_relay *r)
{
    r->ctx->client_gone = true;
    if (r->up != NULL) {
        sl_upstream_cancel(r->up);
        r->up = NULL;
    }
    r->_upstream_ended = true;
    sl_buf_reset(&r->_pending);
    flush(r);
}

void sl_relay_dispose(struct sl_relay *r)
{
    if (h2o_timeout_is_linked(&r->_keepalive))
        h2o_timeout_unlink(&r->_keepalive);
    if (r->up != NULL) {
        sl_upstream_cancel(r->up);
        r->up = NULL;
    }
    sl_sse_dispose(&r->_sse);
    sl_buf_dispose(&r->_pending);
    sl_buf_dispose(&r->_inflight);
}
