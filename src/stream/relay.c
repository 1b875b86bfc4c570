#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/clock.h"
#include "sluice/errors.h"
#include "sluice/log.h"
#include "sluice/relay.h"

/* One event may be large (a long tool-call argument); the stream as a whole is never held. */
#define MAX_EVENT_BYTES    (4u * 1024 * 1024)
#define PENDING_HIGH_WATER (256u * 1024)
/* An event and what a translation makes of it, with room for an error frame. */
#define PENDING_MAX (MAX_EVENT_BYTES * 3 + 64 * 1024)
#define MESSAGE_MAX 512
/* on_event's way to stop the SSE parser once the chain has ended (below every SL_E*). */
#define RELAY_STOP (-100)

static void flush(struct sl_relay *r);

/* ---- the relay's own stage, just before the encoder ---- */

static int tap_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct sl_relay *r = SL_CONTAINER_OF(f, struct sl_relay, _tap);
    if (r->log->ttft_us < 0)
        r->log->ttft_us = (int64_t)(sl_now_us() - r->log->start_us);
    r->log->events++;
    return sl_filter_event(f->next, ev);
}

static int tap_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    struct sl_relay *r = SL_CONTAINER_OF(f, struct sl_relay, _tap);
    r->_chain_ended = true;
    r->log->error_kind = e->kind;
    return sl_filter_error(f->next, e);
}

static int tap_end(struct sl_filter *f)
{
    struct sl_relay *r = SL_CONTAINER_OF(f, struct sl_relay, _tap);
    r->_chain_ended = true;
    return sl_filter_end(f->next);
}

static const struct sl_filter_ops tap_ops = {tap_event, tap_error, tap_end};

/* ---- framing ---- */

static void chain_error(struct sl_relay *r, int status, const char *type, const char *code,
                        const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int on_event(void *ud, const struct sl_sse_event *ev)
{
    struct sl_relay *r = ud;
    if (r->_chain_ended)
        return RELAY_STOP;
    if (ev->is_comment || !ev->has_data)
        return SL_OK; /* upstream keep-alives; Sluice sends its own */
    /* The upstream's bytes may go on unchanged only when they are already what a caller should
     * see: LF line endings (CR or CRLF would reach clients that split on LF only). */
    bool lf_only = memchr(ev->raw.ptr, '\r', ev->raw.len) == NULL;
    struct sl_sevent e = {
        .name = ev->event, .data = ev->data, .raw = lf_only ? ev->raw : SL_STR_NULL};
    int rc = sl_filter_event(r->_chain, &e);
    if (rc == SL_DONE || r->_chain_ended)
        return RELAY_STOP; /* a stage ended the stream (an error it met or passed on) */
    return rc;
}

/* One AWS event stream message: an event (or a modelled exception, which the chain's first
 * stage maps to the caller's error) goes down the chain by name; an "error" message is the
 * service's own failure of the stream, ended here. */
static int on_message(void *ud, const struct sl_eventstream_message *m)
{
    struct sl_relay *r = ud;
    if (r->_chain_ended)
        return RELAY_STOP;
    struct sl_sevent e = {.data = m->payload, .raw = SL_STR_NULL};
    switch (m->kind) {
    case SL_EVENTSTREAM_EVENT:
        e.name = m->event_type;
        break;
    case SL_EVENTSTREAM_EXCEPTION:
        e.name = m->exception_type;
        break;
    case SL_EVENTSTREAM_ERROR:
        r->log->upstream_error = "stream_error";
        chain_error(r, SL_ERR_STREAM_UPSTREAM, (int)SL_MIN(m->error_code.len, 128),
                    m->error_code.ptr, (int)SL_MIN(m->error_message.len, 256),
                    m->error_message.ptr);
        return RELAY_STOP;
    default:
        return SL_OK; /* no :message-type: nothing AWS documents; skipped like an SSE comment */
    }
    int rc = sl_filter_event(r->_chain, &e);
    if (rc == SL_DONE || r->_chain_ended)
        return RELAY_STOP;
    return rc;
}

/* Ends the chain with an error for a row of errors.h (the encoder renders it). */
static void chain_error(struct sl_relay *r, int status, const char *type, const char *code,
                        const char *kind, const char *fmt, ...)
{
    char msg[MESSAGE_MAX];
    va_list ap;
    if (r->_chain_ended)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sl_stream_error e = {status, type, code, kind,
                                sl_str_init(msg, SL_MIN((size_t)SL_MAX(n, 0), sizeof(msg) - 1))};
    (void)sl_filter_error(r->_chain, &e);
}

/* ---- sending ---- */

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
    r->_last_send_us = sl_now_us();
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
    r->log->client_gone = true;
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
    uint64_t quiet_ms = (sl_now_us() - r->_last_send_us) / 1000;
    if (!r->_sending && r->_pending.len == 0 && quiet_ms + 5 >= r->_keepalive_timeout->timeout) {
        (void)sl_buf_append(&r->_pending, ":\n\n", 3); /* a comment: every dialect ignores it */
        flush(r);
    }
    if (!r->_final_sent)
        h2o_timeout_link(r->req->conn->ctx->loop, r->_keepalive_timeout, &r->_keepalive);
}

/* ---- the contract ---- */

void sl_relay_init(struct sl_relay *r, h2o_req_t *req, struct sl_reqlog *log,
                   h2o_timeout_t *keepalive_timeout)
{
    *r = (struct sl_relay){.super = {on_proceed, on_stop},
                           .req = req,
                           .log = log,
                           ._tap = {&tap_ops, NULL},
                           ._keepalive_timeout = keepalive_timeout};
    sl_sse_init(&r->_sse, MAX_EVENT_BYTES, false);
    /* An InvokeModel stream carries each event base64-encoded: 4/3 of the event's own cap. */
    sl_eventstream_init(&r->_es, MAX_EVENT_BYTES / 3 * 4 + 4096);
    sl_buf_init(&r->_pending, PENDING_MAX);
    sl_buf_init(&r->_inflight, PENDING_MAX);
}

void sl_relay_set_framing(struct sl_relay *r, enum sl_relay_framing framing)
{
    SL_ASSERT(!r->_started);
    r->_framing = framing;
}

struct sl_buf *sl_relay_out(struct sl_relay *r)
{
    return &r->_pending;
}

struct sl_filter *sl_relay_tail(struct sl_relay *r, struct sl_filter *encoder)
{
    r->_tap.next = encoder;
    return &r->_tap;
}

void sl_relay_start(struct sl_relay *r, struct sl_upstream_req *up, struct sl_filter *chain)
{
    h2o_req_t *req = r->req;
    SL_ASSERT(r->_tap.next != NULL); /* the chain ends in sl_relay_tail */
    r->up = up;
    r->_chain = chain;
    r->_started = true;
    r->log->stream = true;
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
    r->_last_send_us = sl_now_us();
    r->_keepalive.cb = on_keepalive;
    if (r->_keepalive_timeout != NULL)
        h2o_timeout_link(req->conn->ctx->loop, r->_keepalive_timeout, &r->_keepalive);
}

/* The relay cannot go on with this upstream stream: its caller abandons the exchange, and the
 * client gets an error frame (unless a stage already ended the chain). */
static void fail_stream(struct sl_relay *r, int rc)
{
    r->up = NULL;
    r->_upstream_ended = true;
    if (rc == SL_E2BIG) {
        r->log->upstream_error = "too_large";
        chain_error(r, SL_ERR_STREAM_ABORTED, "event larger than 4 MiB");
    } else if (rc == SL_EVENTSTREAM_ECRC) {
        /* Counted apart (upstream_errors_total{kind="eventstream_crc"}): bytes damaged in
           transit, not an upstream that speaks the format wrongly. */
        r->log->upstream_error = "eventstream_crc";
        chain_error(r, SL_ERR_STREAM_CORRUPT, sl_eventstream_strerror(&r->_es));
    } else if (rc != RELAY_STOP && r->_framing == SL_RELAY_EVENTSTREAM) {
        r->log->upstream_error = "decode";
        chain_error(r, SL_ERR_STREAM_CORRUPT, sl_eventstream_strerror(&r->_es));
    } else if (rc != RELAY_STOP) {
        r->log->upstream_error = "decode";
        chain_error(r, SL_ERR_STREAM_ABORTED, "the stream could not be relayed");
    }
    flush(r);
}

int sl_relay_feed(struct sl_relay *r, const char *data, size_t len)
{
    if (r->_final_sent || r->_chain_ended)
        return -1;
    int rc = r->_framing == SL_RELAY_EVENTSTREAM
                 ? sl_eventstream_feed(&r->_es, data, len, on_message, r)
                 : sl_sse_feed(&r->_sse, data, len, on_event, r);
    if (rc != SL_OK || r->_chain_ended) {
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
        r->log->upstream_error = sl_upstream_error_name(err);
        if (err == SL_UPSTREAM_ERR_IDLE || err == SL_UPSTREAM_ERR_DEADLINE)
            chain_error(r, SL_ERR_STREAM_TIMEOUT, what);
        else
            chain_error(r, SL_ERR_STREAM_ABORTED, what);
        flush(r);
        return;
    }
    /* A last line or a last [DONE] without its blank line still counts at EOF. */
    int rc = r->_chain_ended || r->_framing == SL_RELAY_EVENTSTREAM
                 ? SL_OK
                 : sl_sse_finish(&r->_sse, on_event, r);
    if (rc != SL_OK) {
        fail_stream(r, rc);
        return;
    }
    bool idle = r->_framing == SL_RELAY_EVENTSTREAM ? sl_eventstream_is_idle(&r->_es)
                                                    : sl_sse_is_idle(&r->_sse);
    if (!idle)
        chain_error(r, SL_ERR_STREAM_CUT);
    else if (!r->_chain_ended)
        (void)sl_filter_end(r->_chain);
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
    r->log->client_gone = true;
    r->_client_gone = true;
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
    sl_eventstream_dispose(&r->_es);
    sl_buf_dispose(&r->_pending);
    sl_buf_dispose(&r->_inflight);
}
