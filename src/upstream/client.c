#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/decode.h"
#include "sluice/log.h"
#include "sluice/picohttp.h"
#include "upstream_internal.h"

#define HEAD_MAX_BYTES (64 * 1024)
#define MAX_HEADERS    100
#define PROXY_LINE_MAX 512
/* A failing origin fails every request; its log line repeats at most this often per kind. */
#define FAILURE_LOG_INTERVAL_MS 10000

/* An exchange moves forward through these states; conn_* and send/receive functions are the
 * only places that change it (set_state checks the move is legal). */
enum req_state {
    REQ_RESOLVING = 0, /* DNS for the connect target (origin or proxy) */
    REQ_CONNECTING,    /* TCP connect in progress */
    REQ_TUNNELING,     /* CONNECT sent to the proxy; waiting for its answer */
    REQ_HANDSHAKING,   /* TLS handshake with the origin */
    REQ_SENDING,       /* request being written (the response may already arrive) */
    REQ_AWAIT_HEAD,    /* request written; waiting for the response head */
    REQ_BODY,          /* reading the body */
    REQ_FINISHED,      /* on_done called, or cancelled/abandoned */
};

enum body_kind {
    BODY_NONE = 0,
    BODY_LENGTH,
    BODY_CHUNKED,
    BODY_UNTIL_CLOSE,
};

struct sl_upstream_req {
    struct sl_upstreams *u;
    struct sl_pool *pool;
    const struct sl_origin *origin;
    const struct sl_proxy_target *proxy;
    enum req_state state;
    struct sl_upconn *conn;
    h2o_hostinfo_getaddr_req_t *dns;
    const h2o_iovec_t *reqbufs;
    size_t nbufs;
    struct sl_upstream_opts opts;
    const struct sl_upstream_cbs *cbs;
    void *ud;
    h2o_timeout_entry_t connect_timer;
    h2o_timeout_entry_t deadline_timer;
    h2o_timeout_entry_t idle_timer;
    h2o_timeout_entry_t defer_timer; /* reports a failure found inside sl_upstream_start */
    enum sl_upstream_error defer_err;
    /* response */
    size_t head_last_len;
    enum body_kind body_kind;
    uint64_t body_left;
    struct phr_chunked_decoder chunked;
    bool wire_done; /* the framing says the body is over (only decoding may be left) */
    /* Content and transfer codings, undone between the framing and on_body; NULL for none. */
    struct sl_decoder *dec;
    bool dec_idle; /* the decoder holds no output (its last step returned nothing) */
    /* Coded body bytes taken off the socket that the decoder had not reached when the caller
     * paused: at most what one read brought, since a paused exchange reads nothing. */
    char *held;
    size_t held_off, held_len;
    bool keepalive;
    bool has_codings; /* the head names a content coding or a transfer coding besides chunked */
    bool writing;
    bool paused;
    bool reused;
    bool retried;
    bool got_bytes;
    int in_callback;
    bool cancelled;
    char proxy_line[PROXY_LINE_MAX];
    char detail[256];
};

static void on_read(h2o_socket_t *sock, const char *err);
static void connect_begin(struct sl_upstream_req *r);

const char *sl_upstream_error_name(enum sl_upstream_error e)
{
    static const char *const names[] = {
        [SL_UPSTREAM_OK] = "ok",
        [SL_UPSTREAM_ERR_DNS] = "dns",
        [SL_UPSTREAM_ERR_CONNECT] = "connect",
        [SL_UPSTREAM_ERR_PROXY] = "proxy",
        [SL_UPSTREAM_ERR_TLS] = "tls",
        [SL_UPSTREAM_ERR_CONNECT_TIMEOUT] = "connect_timeout",
        [SL_UPSTREAM_ERR_DEADLINE] = "timeout",
        [SL_UPSTREAM_ERR_IDLE] = "stream_idle",
        [SL_UPSTREAM_ERR_RESET] = "reset",
        [SL_UPSTREAM_ERR_PROTOCOL] = "protocol",
        [SL_UPSTREAM_ERR_TOO_LARGE] = "too_large",
        [SL_UPSTREAM_ERR_DECODE] = "decode",
        [SL_UPSTREAM_ERR_PROXY_AUTH] = "proxy_auth",
        [SL_UPSTREAM_ERR_PROXY_UNREACHABLE] = "proxy_unreachable",
    };
    SL_ASSERT((size_t)e < SL_ARRAY_LEN(names));
    return names[e];
}

static void set_state(struct sl_upstream_req *r, enum req_state to)
{
    /* Forward only, except the one retry: a dead pooled connection sends a SENDING or
     * AWAIT_HEAD exchange back to RESOLVING for a fresh connection. */
    SL_ASSERT(to > r->state || to == REQ_FINISHED ||
              (to == REQ_RESOLVING && r->retried && r->state >= REQ_SENDING));
    r->state = to;
}

static void unlink_timer(h2o_timeout_entry_t *e)
{
    if (h2o_timeout_is_linked(e))
        h2o_timeout_unlink(e);
}

static void free_req(struct sl_upstream_req *r)
{
    unlink_timer(&r->connect_timer);
    unlink_timer(&r->deadline_timer);
    unlink_timer(&r->idle_timer);
    unlink_timer(&r->defer_timer);
    if (r->dns != NULL)
        h2o_hostinfo_getaddr_cancel(r->dns);
    sl_decoder_free(r->dec);
    free(r->held);
    free(r);
}

/* Drops the connection: back to the pool after a clean, complete keep-alive exchange,
 * otherwise closed. */
static void release_conn(struct sl_upstream_req *r, bool reusable)
{
    struct sl_upconn *c = r->conn;
    if (c == NULL)
        return;
    r->conn = NULL;
    c->req = NULL;
    if (reusable && !r->writing && c->sock->input->size == 0) {
        h2o_socket_read_stop(c->sock);
        sl__pool_put(r->pool, c);
    } else {
        sl__upconn_close(c);
    }
}

/* The caller's error body and a metric label say why a call failed; operators need the reason
 * in the log as well (an expired certificate, a proxy's 407). A dead origin fails every
 * request, so each worker writes one line per origin and kind, then counts the failures of the
 * next FAILURE_LOG_INTERVAL_MS and reports that count on the next line it writes. The detail
 * never holds credentials: proxies appear by their display form, origins carry none. */
static void log_failure(struct sl_upstream_req *r, enum sl_upstream_error err, const char *detail)
{
    struct sl_failure_log *fl = &r->pool->failures[err];
    uint64_t now = h2o_now(r->u->loop);
    if (fl->logged && now < fl->quiet_until_ms) {
        fl->suppressed++;
        return;
    }
    char why[400], rid[160], more[64] = "";
    sl_log_escape(why, sizeof(why),
                  sl_str_from_cstr(detail != NULL ? detail : sl_upstream_error_name(err)));
    sl_log_escape(rid, sizeof(rid), r->opts.request_id);
    if (fl->suppressed != 0)
        snprintf(more, sizeof(more), " suppressed=%llu", (unsigned long long)fl->suppressed);
    sl_log_warn("upstream call failed: origin=%s kind=%s%s%s detail=%s request_id=%s%s",
                r->pool->key, sl_upstream_error_name(err), r->proxy != NULL ? " proxy=" : "",
                r->proxy != NULL ? r->proxy->display : "", why, rid, more);
    fl->logged = true;
    fl->quiet_until_ms = now + FAILURE_LOG_INTERVAL_MS;
    fl->suppressed = 0;
}

/* Ends the exchange and reports it, unless the caller already cancelled it. */
static void finish(struct sl_upstream_req *r, enum sl_upstream_error err, const char *detail)
{
    if (r->state == REQ_FINISHED)
        return;
    set_state(r, REQ_FINISHED);
    release_conn(r, err == SL_UPSTREAM_OK && r->keepalive);
    if (!r->cancelled) {
        if (err != SL_UPSTREAM_OK)
            log_failure(r, err, detail);
        r->in_callback++;
        r->cbs->on_done(r->ud, err, detail);
        r->in_callback--;
    }
    free_req(r);
}

static void fail(struct sl_upstream_req *r, enum sl_upstream_error err, const char *detail)
{
    r->keepalive = false;
    finish(r, err, detail);
}

/* A pooled connection that dies before any response byte most likely timed out on the
 * upstream's side while idle; the request never reached it, so one fresh attempt is safe. */
static bool retry_on_fresh_connection(struct sl_upstream_req *r)
{
    if (!r->reused || r->retried || r->got_bytes || r->cancelled)
        return false;
    r->retried = true;
    r->reused = false;
    sl__upconn_close(r->conn);
    r->conn = NULL;
    r->writing = false;
    r->u->stats.stale_retries++;
    connect_begin(r);
    return true;
}

static void on_deadline(h2o_timeout_entry_t *e)
{
    struct sl_upstream_req *r = SL_CONTAINER_OF(e, struct sl_upstream_req, deadline_timer);
    snprintf(r->detail, sizeof(r->detail), "no complete response within %llu ms",
             (unsigned long long)r->opts.deadline_ms);
    fail(r, SL_UPSTREAM_ERR_DEADLINE, r->detail);
}

static void on_idle(h2o_timeout_entry_t *e)
{
    struct sl_upstream_req *r = SL_CONTAINER_OF(e, struct sl_upstream_req, idle_timer);
    snprintf(r->detail, sizeof(r->detail), "nothing received for %llu ms",
             (unsigned long long)r->opts.idle_ms);
    fail(r, SL_UPSTREAM_ERR_IDLE, r->detail);
}

static void on_connect_timeout(h2o_timeout_entry_t *e)
{
    struct sl_upstream_req *r = SL_CONTAINER_OF(e, struct sl_upstream_req, connect_timer);
    snprintf(r->detail, sizeof(r->detail), "not connected within %llu ms",
             (unsigned long long)r->u->connect_timeout_ms);
    fail(r, SL_UPSTREAM_ERR_CONNECT_TIMEOUT, r->detail);
}

static void on_deferred_failure(h2o_timeout_entry_t *e)
{
    struct sl_upstream_req *r = SL_CONTAINER_OF(e, struct sl_upstream_req, defer_timer);
    fail(r, r->defer_err, r->detail);
}

/* Failures found synchronously inside sl_upstream_start are reported on the next loop turn,
 * so callers never see a callback before start returns. */
static void fail_later(struct sl_upstream_req *r, enum sl_upstream_error err)
{
    r->defer_err = err;
    r->defer_timer.cb = on_deferred_failure;
    h2o_timeout_link(r->u->loop, &r->u->zero_timeout, &r->defer_timer);
}

static void arm_idle(struct sl_upstream_req *r)
{
    if (r->opts.idle_ms != 0)
        sl__timeouts_link(&r->u->timeouts, r->opts.idle_ms, &r->idle_timer);
}

/* ---- response parsing ---- */

/* Names are literals: their length is known at compile time and settles most compares. */
#define header_is(h, lit) header_is_((h), SL_STRLIT(lit))

static inline bool header_is_(const struct phr_header *h, struct sl_str name)
{
    return h->name != NULL && h->name_len == name.len &&
           sl_str_ieq(sl_str_init(h->name, h->name_len), name);
}

/* Splits the next non-empty element off a comma-separated header value; false once none is
 * left. */
static bool next_token(struct sl_str *v, struct sl_str *tok)
{
    while (v->len > 0) {
        const char *comma = memchr(v->ptr, ',', v->len);
        size_t n = comma != NULL ? (size_t)(comma - v->ptr) : v->len;
        *tok = sl_str_trim(sl_str_init(v->ptr, n));
        *v = comma != NULL ? sl_str_init(comma + 1, v->len - n - 1) : sl_str_init(v->ptr + n, 0);
        if (tok->len != 0)
            return true;
    }
    return false;
}

static bool value_has_token(const struct phr_header *h, const char *token)
{
    struct sl_str v = sl_str_init(h->value, h->value_len), t;
    while (next_token(&v, &t)) {
        if (sl_str_ieq(t, sl_str_from_cstr(token)))
            return true;
    }
    return false;
}

/* Transfer-Encoding, all its lines read as one list (RFC 9112 section 6.1): the body is chunked
 * only when chunked is the final coding and appears once; codings before it (gzip) are undone
 * by the decoder. Returns 1 for chunked, 0 without Transfer-Encoding, and -1 for anything else
 * (such a body would end only at close, and its framing cannot be trusted). */
static int transfer_framing(const struct phr_header *hs, size_t n, bool *other_codings)
{
    bool present = false, last_chunked = false;
    size_t chunked = 0, tokens = 0;
    for (size_t i = 0; i < n; i++) {
        if (!header_is(&hs[i], "transfer-encoding"))
            continue;
        present = true;
        struct sl_str v = sl_str_init(hs[i].value, hs[i].value_len), t;
        while (next_token(&v, &t)) {
            last_chunked = sl_str_ieq_lit(t, "chunked");
            chunked += last_chunked;
            tokens++;
        }
    }
    *other_codings = tokens > chunked;
    if (!present)
        return 0;
    return last_chunked && chunked == 1 ? 1 : -1;
}

/* Decides framing and keep-alive from the head (RFC 9112 section 6). Returns 0 or -1 for a
 * head that cannot be framed safely. */
static int read_framing(struct sl_upstream_req *r, int minor, int status,
                        const struct phr_header *hs, size_t n)
{
    bool have_length = false;
    uint64_t length = 0;
    int te = transfer_framing(hs, n, &r->has_codings);
    if (te < 0)
        return -1;
    r->keepalive = minor >= 1;
    for (size_t i = 0; i < n; i++) {
        if (header_is(&hs[i], "content-encoding")) {
            r->has_codings = true;
        } else if (header_is(&hs[i], "connection")) {
            if (value_has_token(&hs[i], "close"))
                r->keepalive = false;
            else if (value_has_token(&hs[i], "keep-alive"))
                r->keepalive = true;
        } else if (header_is(&hs[i], "content-length")) {
            uint64_t v;
            if (sl_str_to_u64(sl_str_trim(sl_str_init(hs[i].value, hs[i].value_len)), UINT64_MAX,
                              &v) != SL_OK ||
                (have_length && v != length))
                return -1;
            have_length = true;
            length = v;
        }
    }
    if (status == 204 || status == 304) {
        r->body_kind = BODY_NONE;
    } else if (te == 1) {
        r->body_kind = BODY_CHUNKED;
        memset(&r->chunked, 0, sizeof(r->chunked));
        r->chunked.consume_trailer = 1;
    } else if (have_length) {
        r->body_kind = length == 0 ? BODY_NONE : BODY_LENGTH;
        r->body_left = length;
    } else {
        r->body_kind = BODY_UNTIL_CLOSE;
        r->keepalive = false;
    }
    return 0;
}

/* The body's codings: every Content-Encoding, then every Transfer-Encoding (transfer codings
 * are applied after content codings, RFC 9112 section 7). Sets r->dec when there is anything
 * to undo. Returns 0, or -1 with the reason in r->detail. */
static int read_codings(struct sl_upstream_req *r, const struct phr_header *hs, size_t n)
{
    struct sl_codings c = {.n = 0};
    for (int transfer = 0; transfer <= 1; transfer++) {
        for (size_t i = 0; i < n; i++) {
            if (transfer ? !header_is(&hs[i], "transfer-encoding")
                         : !header_is(&hs[i], "content-encoding"))
                continue;
            if (sl_codings_add(&c, sl_str_init(hs[i].value, hs[i].value_len), transfer, r->detail,
                               sizeof(r->detail)) != SL_OK)
                return -1;
        }
    }
    if (c.n != 0) {
        r->dec = sl_decoder_new(&c);
        r->dec_idle = true;
    }
    return 0;
}

/* Calls a user callback; returns false when the exchange ended inside it (cancelled). */
static bool deliver_body(struct sl_upstream_req *r, const char *p, size_t n)
{
    if (n == 0)
        return true;
    r->in_callback++;
    int rc = r->cbs->on_body(r->ud, p, n);
    r->in_callback--;
    if (r->cancelled || rc != 0) {
        r->keepalive = false;
        r->cancelled = true;
        finish(r, SL_UPSTREAM_ERR_RESET, NULL);
        return false;
    }
    return true;
}

/* Runs the decoder over *in and hands each decoded piece to the caller, until *in is used up
 * and the decoder empty, or the caller paused. A bomb therefore costs one piece of memory at a
 * time, and stops where the caller's own cap or backpressure says. Returns false when the
 * exchange ended. */
static bool decode_some(struct sl_upstream_req *r, struct sl_str *in)
{
    r->dec_idle = false;
    while (!r->paused) {
        struct sl_str out;
        if (sl_decoder_step(r->dec, in, &out) != SL_OK) {
            snprintf(r->detail, sizeof(r->detail), "%s", sl_decoder_error(r->dec));
            fail(r, SL_UPSTREAM_ERR_DECODE, r->detail);
            return false;
        }
        if (out.len == 0) {
            r->dec_idle = true;
            return true;
        }
        if (!deliver_body(r, out.ptr, out.len))
            return false;
    }
    return true;
}

/* Body bytes as the framing yields them: to the caller as they are, or through the decoder,
 * keeping what a pause left undecoded. Returns false when the exchange ended. */
static bool deliver_coded(struct sl_upstream_req *r, const char *p, size_t n)
{
    if (r->dec == NULL)
        return deliver_body(r, p, n);
    struct sl_str in = sl_str_init(p, n);
    if (!decode_some(r, &in))
        return false;
    if (in.len != 0) {
        SL_ASSERT(r->held == NULL);
        r->held = sl_xmalloc(in.len);
        memcpy(r->held, in.ptr, in.len);
        r->held_off = 0;
        r->held_len = in.len;
    }
    return true;
}

/* Before anything new: decodes what a pause held back (bytes, or output still inside the
 * decoder). Returns false when the exchange ended. */
static bool drain_held(struct sl_upstream_req *r)
{
    if (r->held_len == 0 && r->dec_idle)
        return true;
    struct sl_str in =
        r->held != NULL ? sl_str_init(r->held + r->held_off, r->held_len) : SL_STR_NULL;
    if (!decode_some(r, &in))
        return false;
    r->held_off += r->held_len - in.len;
    r->held_len = in.len;
    if (r->held_len == 0) {
        free(r->held);
        r->held = NULL;
        r->held_off = 0;
    }
    return true;
}

/* Takes the body bytes the framing allows off the socket, setting r->wire_done at the body's
 * end. Returns false when the exchange ended. */
static bool read_framed(struct sl_upstream_req *r)
{
    h2o_buffer_t **in = &r->conn->sock->input;
    switch (r->body_kind) {
    case BODY_NONE:
        r->wire_done = true;
        return true;
    case BODY_LENGTH: {
        size_t n = (*in)->size < r->body_left ? (*in)->size : (size_t)r->body_left;
        if ((*in)->size > r->body_left)
            r->keepalive = false; /* bytes after the body: the connection is not reusable */
        r->body_left -= n;
        r->wire_done = r->body_left == 0;
        if (!deliver_coded(r, (*in)->bytes, n))
            return false;
        h2o_buffer_consume(in, (*in)->size);
        return true;
    }
    case BODY_CHUNKED: {
        size_t n = (*in)->size;
        ssize_t rc = phr_decode_chunked(&r->chunked, (*in)->bytes, &n);
        if (rc == -1) {
            fail(r, SL_UPSTREAM_ERR_PROTOCOL, "malformed chunked encoding");
            return false;
        }
        if (rc > 0)
            r->keepalive = false;
        r->wire_done = rc >= 0;
        if (!deliver_coded(r, (*in)->bytes, n))
            return false;
        h2o_buffer_consume(in, (*in)->size);
        return true;
    }
    case BODY_UNTIL_CLOSE:
        if (!deliver_coded(r, (*in)->bytes, (*in)->size))
            return false;
        h2o_buffer_consume(in, (*in)->size);
        return true;
    }
    return true;
}

/* A proxy's 407 is final: another attempt would offer the same credentials, or none again. */
static void fail_proxy_auth(struct sl_upstream_req *r, bool tunnel)
{
    snprintf(r->detail, sizeof(r->detail),
             "egress proxy %s demanded authentication (407) for %s %s; %s", r->proxy->display,
             tunnel ? "CONNECT to" : "a request to", r->origin->authority,
             r->proxy->auth_value != NULL ? "it refused the credentials in the proxy URL"
                                          : "the proxy URL has no credentials");
    fail(r, SL_UPSTREAM_ERR_PROXY_AUTH, r->detail);
}

/* Parses the head once it is complete. Returns 1 when it was handled, 0 when more bytes are
 * needed, -1 when the exchange ended. */
static int parse_head(struct sl_upstream_req *r)
{
    h2o_buffer_t **in = &r->conn->sock->input;
    struct phr_header hs[MAX_HEADERS];
    size_t n = MAX_HEADERS, msg_len;
    int minor, status;
    const char *msg;
    int len = phr_parse_response((*in)->bytes, (*in)->size, &minor, &status, &msg, &msg_len, hs, &n,
                                 r->head_last_len);
    if (len == -2) {
        r->head_last_len = (*in)->size;
        if ((*in)->size > HEAD_MAX_BYTES) {
            fail(r, SL_UPSTREAM_ERR_TOO_LARGE, "response head larger than 64 KiB");
            return -1;
        }
        return 0;
    }
    if (len > HEAD_MAX_BYTES) {
        fail(r, SL_UPSTREAM_ERR_TOO_LARGE, "response head larger than 64 KiB");
        return -1;
    }
    if (len == -1 || read_framing(r, minor, status, hs, n) != 0) {
        fail(r, SL_UPSTREAM_ERR_PROTOCOL,
             len == -1 ? "malformed response head" : "response framing cannot be trusted");
        return -1;
    }
    if (status >= 100 && status < 200) {
        /* Interim responses (100 Continue, 103 Early Hints) precede the real head. */
        h2o_buffer_consume(in, (size_t)len);
        r->head_last_len = 0;
        return 1;
    }
    /* Through HTTP_PROXY the request went to the proxy, so a 407 is the proxy's own answer. */
    if (status == 407 && r->proxy != NULL && !r->origin->tls) {
        fail_proxy_auth(r, false);
        return -1;
    }
    /* Before on_head: the caller must not start a response it cannot finish. */
    if (r->body_kind != BODY_NONE && r->has_codings && read_codings(r, hs, n) != 0) {
        fail(r, SL_UPSTREAM_ERR_DECODE, r->detail);
        return -1;
    }
    struct sl_upstream_head head = {status, minor, hs, n};
    r->in_callback++;
    int rc = r->cbs->on_head(r->ud, &head);
    r->in_callback--;
    if (r->cancelled || rc != 0) {
        r->cancelled = true;
        r->keepalive = false;
        finish(r, SL_UPSTREAM_ERR_RESET, NULL);
        return -1;
    }
    h2o_buffer_consume(in, (size_t)len);
    set_state(r, REQ_BODY);
    return 1;
}

static void process_input(struct sl_upstream_req *r)
{
    while (r->state == REQ_SENDING || r->state == REQ_AWAIT_HEAD) {
        if (r->conn->sock->input->size == 0)
            return;
        int rc = parse_head(r);
        if (rc <= 0)
            return;
    }
    if (r->state != REQ_BODY)
        return;
    /* `||` stops at a false drain_held: the exchange, and r, are gone then. */
    if (r->dec != NULL && (!drain_held(r) || r->paused))
        return;
    if (!r->wire_done && !read_framed(r))
        return;
    if (!r->wire_done || r->held_len != 0 || (r->dec != NULL && !r->dec_idle))
        return; /* more bytes to come, or a pause left decoding to do */
    if (r->dec != NULL && !sl_decoder_is_complete(r->dec)) {
        fail(r, SL_UPSTREAM_ERR_DECODE, "the compressed body ends before its data does");
        return;
    }
    finish(r, SL_UPSTREAM_OK, NULL);
}

/* ---- reading and writing ---- */

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct sl_upconn *c = sock->data;
    struct sl_upstream_req *r = c->req;
    SL_ASSERT(r != NULL);
    if (err != NULL) {
        if (r->state <= REQ_AWAIT_HEAD && retry_on_fresh_connection(r))
            return;
        if (r->state == REQ_BODY && (r->wire_done || (r->body_kind == BODY_UNTIL_CLOSE &&
                                                      err == h2o_socket_error_closed))) {
            /* The whole body is here; what may be left is decoding it. */
            r->wire_done = true;
            r->keepalive = false;
            h2o_socket_read_stop(sock);
            process_input(r);
            return;
        }
        fail(r, SL_UPSTREAM_ERR_RESET,
             r->state == REQ_BODY ? "connection closed in the middle of the response body"
                                  : "connection closed before the response head");
        return;
    }
    if (sock->bytes_read != 0) {
        r->got_bytes = true;
        arm_idle(r);
    }
    process_input(r);
}

static void on_request_written(h2o_socket_t *sock, const char *err)
{
    struct sl_upconn *c = sock->data;
    struct sl_upstream_req *r = c->req;
    /* A connection whose exchange ended mid-write was closed, and h2o never calls back a
     * closed socket's write callback. */
    SL_ASSERT(r != NULL);
    r->writing = false;
    if (err != NULL) {
        if (retry_on_fresh_connection(r))
            return;
        fail(r, SL_UPSTREAM_ERR_RESET, "connection closed while sending the request");
        return;
    }
    if (r->state == REQ_SENDING)
        set_state(r, REQ_AWAIT_HEAD);
}

static void send_request(struct sl_upstream_req *r)
{
    set_state(r, REQ_SENDING);
    unlink_timer(&r->connect_timer);
    arm_idle(r);
    r->writing = true;
    h2o_socket_t *sock = r->conn->sock;
    /* Read while writing: an upstream may answer (413, 401) before it has read the body. */
    h2o_socket_read_start(sock, on_read);
    h2o_socket_write(sock, (h2o_iovec_t *)r->reqbufs, r->nbufs, on_request_written);
}

/* ---- connecting: DNS, TCP, proxy tunnel, TLS ---- */

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    struct sl_upconn *c = sock->data;
    struct sl_upstream_req *r = c->req;
    /* h2o's own name check after the handshake only understands DNS names; the real check ran
     * in the verify callback (tls.c), so its "name mismatch" verdict is not authoritative. */
    if (err != NULL && err != h2o_socket_error_ssl_cert_name_mismatch) {
        snprintf(r->detail, sizeof(r->detail), "TLS handshake with %s failed: %s", r->origin->host,
                 err);
        fail(r, SL_UPSTREAM_ERR_TLS, r->detail);
        return;
    }
    send_request(r);
}

/* The worker's TLS client context, created the first time an https upstream needs it (about
 * 1 ms once per worker; later contexts in the process cost a tenth of that). */
static SSL_CTX *client_ssl_ctx(struct sl_upstreams *u)
{
    if (u->ssl_ctx != NULL || u->ssl_ctx_tried)
        return u->ssl_ctx;
    char err[256];
    u->ssl_ctx_tried = true;
    u->ssl_ctx = sl__tls_client_ctx_new(u->ca_file, u->tls_verify, err, sizeof(err));
    if (u->ssl_ctx == NULL)
        sl_log_error("upstream TLS context: %s; https upstreams will fail", err);
    return u->ssl_ctx;
}

static void start_tls_or_send(struct sl_upstream_req *r)
{
    if (!r->origin->tls) {
        send_request(r);
        return;
    }
    SSL_CTX *ssl_ctx = client_ssl_ctx(r->u);
    if (ssl_ctx == NULL) {
        fail(r, SL_UPSTREAM_ERR_TLS, "no TLS client context (see the error logged for it)");
        return;
    }
    set_state(r, REQ_HANDSHAKING);
    h2o_socket_ssl_handshake(r->conn->sock, ssl_ctx, r->origin->host, on_handshake);
}

static void on_tunnel_response(h2o_socket_t *sock, const char *err)
{
    struct sl_upconn *c = sock->data;
    struct sl_upstream_req *r = c->req;
    if (err != NULL) {
        fail(r, SL_UPSTREAM_ERR_PROXY, "proxy closed the connection during CONNECT");
        return;
    }
    struct phr_header hs[MAX_HEADERS];
    size_t n = MAX_HEADERS, msg_len;
    int minor, status;
    const char *msg;
    int len = phr_parse_response(sock->input->bytes, sock->input->size, &minor, &status, &msg,
                                 &msg_len, hs, &n, 0);
    if (len == -2 && sock->input->size <= HEAD_MAX_BYTES)
        return;
    if (len < 0) {
        fail(r, SL_UPSTREAM_ERR_PROXY, "malformed proxy response to CONNECT");
        return;
    }
    if (status == 407) {
        fail_proxy_auth(r, true);
        return;
    }
    if (status < 200 || status > 299) {
        snprintf(r->detail, sizeof(r->detail), "proxy %s refused CONNECT to %s: %d %.*s",
                 r->proxy->display, r->origin->authority, status, (int)SL_MIN(msg_len, 60), msg);
        fail(r, SL_UPSTREAM_ERR_PROXY, r->detail);
        return;
    }
    h2o_buffer_consume(&sock->input, (size_t)len);
    h2o_socket_read_stop(sock);
    if (sock->input->size != 0) {
        fail(r, SL_UPSTREAM_ERR_PROXY, "proxy sent data before the tunnel was established");
        return;
    }
    start_tls_or_send(r);
}

static void on_tunnel_request_written(h2o_socket_t *sock, const char *err)
{
    struct sl_upconn *c = sock->data;
    struct sl_upstream_req *r = c->req;
    if (err != NULL) {
        fail(r, SL_UPSTREAM_ERR_PROXY, "proxy closed the connection during CONNECT");
        return;
    }
    h2o_socket_read_start(sock, on_tunnel_response);
}

static void open_tunnel(struct sl_upstream_req *r)
{
    set_state(r, REQ_TUNNELING);
    int n = snprintf(r->proxy_line, sizeof(r->proxy_line),
                     "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n%s%s%s\r\n", r->origin->host,
                     r->origin->port, r->origin->host, r->origin->port,
                     r->proxy->auth_value != NULL ? "Proxy-Authorization: " : "",
                     r->proxy->auth_value != NULL ? r->proxy->auth_value : "",
                     r->proxy->auth_value != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(r->proxy_line)) {
        fail(r, SL_UPSTREAM_ERR_PROXY, "CONNECT request too long");
        return;
    }
    h2o_iovec_t buf = h2o_iovec_init(r->proxy_line, (size_t)n);
    h2o_socket_write(r->conn->sock, &buf, 1, on_tunnel_request_written);
}

/* A TCP connection that could not be made: to the origin (retried like other upstream faults),
 * or to the proxy, which is local infrastructure: another attempt would only delay the same
 * error, so it has a kind of its own that is never retried. Fills r->detail; returns the kind. */
static enum sl_upstream_error connect_failure(struct sl_upstream_req *r, const char *why)
{
    if (r->proxy != NULL) {
        snprintf(r->detail, sizeof(r->detail), "cannot connect to proxy %s: %s", r->proxy->display,
                 why);
        return SL_UPSTREAM_ERR_PROXY_UNREACHABLE;
    }
    snprintf(r->detail, sizeof(r->detail), "cannot connect to %s: %s", r->origin->authority, why);
    return SL_UPSTREAM_ERR_CONNECT;
}

static void on_tcp_connected(h2o_socket_t *sock, const char *err)
{
    struct sl_upconn *c = sock->data;
    struct sl_upstream_req *r = c->req;
    int so_err = 0;
    socklen_t len = sizeof(so_err);
    if (err == NULL &&
        getsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_ERROR, &so_err, &len) == -1)
        so_err = errno;
    if (err != NULL || so_err != 0) {
        enum sl_upstream_error kind = connect_failure(r, so_err != 0 ? strerror(so_err) : err);
        fail(r, kind, r->detail);
        return;
    }
    r->u->stats.connections_opened++;
    if (r->proxy != NULL && r->origin->tls)
        open_tunnel(r);
    else
        start_tls_or_send(r);
}

/* h2o reads a socket until it is empty; a receive buffer of this size bounds what one read can
 * queue for a stream whose client has stopped reading (the relay pauses after that read). */
#define UPSTREAM_RCVBUF (256 * 1024)

static void set_socket_options(struct sl_upstreams *u, int fd)
{
    int on = 1, rcvbuf = UPSTREAM_RCVBUF;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    /* 0 switches a knob off, as in AISIX: tcp_keepalive_secs 0 means no keep-alive at all; an
     * interval or count of 0 leaves the kernel's default (net.ipv4.tcp_keepalive_*). */
    if (u->keepalive_idle > 0) {
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &u->keepalive_idle, sizeof(int));
        if (u->keepalive_interval > 0)
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &u->keepalive_interval, sizeof(int));
        if (u->keepalive_count > 0)
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &u->keepalive_count, sizeof(int));
    }
}

/* Returns 0, or an errno value (reported by the caller). */
static int start_tcp(struct sl_upstream_req *r, const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return errno;
    set_socket_options(r->u, fd);
    if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        return err;
    }
    struct sl_upconn *c = sl_xcalloc(1, sizeof(*c));
    c->pool = r->pool;
    c->req = r;
    c->sock = h2o_evloop_socket_create(r->u->loop, fd, 0);
    c->sock->data = c;
    r->conn = c;
    set_state(r, REQ_CONNECTING);
    /* Writable means connected (or failed: on_tcp_connected reads SO_ERROR for the reason). */
    h2o_socket_notify_write(c->sock, on_tcp_connected);
    return 0;
}

static void on_dns(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res,
                   void *data)
{
    struct sl_upstream_req *r = data;
    SL_UNUSED(req);
    r->dns = NULL;
    const char *host = r->proxy != NULL ? r->proxy->host : r->origin->host;
    if (errstr != NULL) {
        snprintf(r->detail, sizeof(r->detail), "cannot resolve %s: %s", host, errstr);
        fail(r, SL_UPSTREAM_ERR_DNS, r->detail);
        return;
    }
    struct addrinfo *ai = h2o_hostinfo_select_one(res);
    int err = start_tcp(r, ai->ai_addr, ai->ai_addrlen);
    if (err != 0) {
        enum sl_upstream_error kind = connect_failure(r, strerror(err));
        fail(r, kind, r->detail);
    }
}

/* Literal addresses skip the resolver thread. Returns true when host was one. */
static bool literal_address(const char *host, uint16_t port, struct sockaddr_storage *ss,
                            socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return true;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return true;
    }
    return false;
}

static void connect_begin(struct sl_upstream_req *r)
{
    const char *host = r->proxy != NULL ? r->proxy->host : r->origin->host;
    uint16_t port = r->proxy != NULL ? r->proxy->port : r->origin->port;
    r->state = REQ_RESOLVING;
    r->got_bytes = false;
    r->head_last_len = 0;
    r->connect_timer.cb = on_connect_timeout;
    /* upstream.connect_timeout_ms 0 = no connect deadline (the call's own deadline still
     * applies); a 0 ms timer would fire at once. */
    if (r->u->connect_timeout_ms != 0)
        sl__timeouts_link(&r->u->timeouts, r->u->connect_timeout_ms, &r->connect_timer);
    unlink_timer(&r->idle_timer);
    struct sockaddr_storage ss;
    socklen_t len;
    if (literal_address(host, port, &ss, &len)) {
        int err = start_tcp(r, (struct sockaddr *)&ss, len);
        if (err != 0)
            fail_later(r, connect_failure(r, strerror(err)));
        return;
    }
    char serv[8];
    snprintf(serv, sizeof(serv), "%u", port);
    r->dns = h2o_hostinfo_getaddr(&r->u->ctx->receivers.hostinfo_getaddr,
                                  h2o_iovec_init(host, strlen(host)),
                                  h2o_iovec_init(serv, strlen(serv)), AF_UNSPEC, SOCK_STREAM,
                                  IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_dns, r);
}

/* ---- public API ---- */

struct sl_upstream_req *sl_upstream_start(struct sl_upstreams *u, const struct sl_origin *origin,
                                          const h2o_iovec_t *reqbufs, size_t nbufs,
                                          const struct sl_upstream_opts *opts,
                                          const struct sl_upstream_cbs *cbs, void *ud)
{
    struct sl_upstream_req *r = sl_xcalloc(1, sizeof(*r));
    r->u = u;
    r->origin = origin;
    r->proxy = sl_proxy_env_select(u->proxy, origin->tls, origin->host, origin->port);
    r->pool = sl__pool_get(u, origin->key);
    r->reqbufs = reqbufs;
    r->nbufs = nbufs;
    r->opts = *opts;
    r->cbs = cbs;
    r->ud = ud;
    r->idle_timer.cb = on_idle;
    r->deadline_timer.cb = on_deadline;
    if (opts->deadline_ms != 0)
        sl__timeouts_link(&u->timeouts, opts->deadline_ms, &r->deadline_timer);
    struct sl_upconn *c = sl__pool_take(r->pool);
    if (c != NULL) {
        u->stats.connections_reused++;
        r->reused = true;
        r->conn = c;
        c->req = r;
        r->state = REQ_HANDSHAKING; /* a pooled connection is past connect and TLS */
        send_request(r);
        return r;
    }
    connect_begin(r);
    return r;
}

void sl_upstream_pause(struct sl_upstream_req *r)
{
    if (r->paused || r->state == REQ_FINISHED)
        return;
    r->paused = true;
    /* A paused stream is the client's doing, not the upstream's: no idle timeout meanwhile. */
    unlink_timer(&r->idle_timer);
    if (r->conn != NULL)
        h2o_socket_read_stop(r->conn->sock);
}

void sl_upstream_resume(struct sl_upstream_req *r)
{
    if (!r->paused || r->state == REQ_FINISHED)
        return;
    r->paused = false;
    if (r->conn == NULL)
        return;
    arm_idle(r);
    h2o_socket_read_start(r->conn->sock, on_read);
    /* Bytes read (or decoded) before the pause wait in memory; no read event comes for them. */
    if (r->in_callback == 0 &&
        (r->conn->sock->input->size != 0 || r->held_len != 0 || (r->dec != NULL && !r->dec_idle)))
        process_input(r);
}

void sl_upstream_cancel(struct sl_upstream_req *r)
{
    if (r->state == REQ_FINISHED)
        return;
    r->cancelled = true;
    r->keepalive = false;
    if (r->in_callback > 0)
        return; /* the callback's caller sees `cancelled` and finishes */
    finish(r, SL_UPSTREAM_ERR_RESET, NULL);
}

bool sl_upstream_uses_forward_proxy(const struct sl_upstreams *u, const struct sl_origin *origin)
{
    return !origin->tls && sl_proxy_env_select(u->proxy, false, origin->host, origin->port) != NULL;
}

void sl_upstreams_timer(struct sl_upstreams *u, uint64_t ms, h2o_timeout_entry_t *entry)
{
    sl__timeouts_link(&u->timeouts, ms, entry);
}

const struct sl_upstream_stats *sl_upstreams_stats(const struct sl_upstreams *u)
{
    return &u->stats;
}

struct sl_upstreams *sl_upstreams_new(h2o_context_t *ctx, const struct sl_config *cfg,
                                      const struct sl_proxy_env *proxy)
{
    static const struct sl_proxy_env no_proxy;
    struct sl_upstreams *u = sl_xcalloc(1, sizeof(*u));
    u->ctx = ctx;
    u->loop = ctx->loop;
    u->proxy = proxy != NULL ? proxy : &no_proxy;
    u->tls_verify = cfg->upstream.tls.verify;
    u->ca_file = cfg->upstream.tls.ca_file != NULL ? sl_xstrdup(cfg->upstream.tls.ca_file) : NULL;
    u->connect_timeout_ms = cfg->upstream.connect_timeout_ms;
    u->pool_idle_ms = cfg->upstream.pool_idle_timeout_secs * 1000;
    u->pool_max_idle = (size_t)cfg->upstream.pool_max_idle_per_host;
    u->keepalive_idle = (int)cfg->upstream.tcp_keepalive_secs;
    u->keepalive_interval = (int)cfg->upstream.tcp_keepalive_interval_secs;
    u->keepalive_count = (int)cfg->upstream.tcp_keepalive_retries;
    sl__timeouts_init(&u->timeouts, u->loop);
    h2o_timeout_init(u->loop, &u->zero_timeout, 0);
    return u;
}

void sl_upstreams_free(struct sl_upstreams *u)
{
    sl__pools_dispose(u);
    h2o_timeout_dispose(u->loop, &u->zero_timeout);
    sl__timeouts_dispose(&u->timeouts);
    SSL_CTX_free(u->ssl_ctx);
    free(u->ca_file);
    free(u);
}
