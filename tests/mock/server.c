#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "anthropic.h"
#include "autotool.h"
#include "bedrock.h"
#include "encode.h"
#include "gemini.h"
#include "mjson.h"
#include "oauth.h"
#include "render.h"
#include "responses.h"
#include "server.h"
#include "sluice/base.h"
#include "sluice/log.h"

/* How often an HTTP/1 client socket is checked while a response waits: h2o 2.2 does not read an
 * HTTP/1 socket while a handler owns the request, so a client leaving is otherwise noticed only
 * at the next write, and never during a stall. */
#define PROBE_MS 50
/* The pause between the pieces of a split_writes event. */
#define SPLIT_GAP_MS         1
#define MAX_EMBEDDING_INPUTS 2048
#define MAX_EMBEDDING_FLOATS (1u << 20)

static struct {
    struct mock_server_cfg cfg;
    struct sl_str reply_tok; /* the default reply as a JSON string token */
} g;

static h2o_generator_t g_static_gen = {NULL, NULL};

enum endpoint {
    EP_NONE = 0,
    EP_CHAT,
    EP_COMPLETIONS,
    EP_EMBEDDINGS,
    EP_MODELS,
    EP_MESSAGES,     /* Anthropic: anthropic.c */
    EP_COUNT_TOKENS, /* Anthropic: anthropic.c */
    EP_BEDROCK,      /* Bedrock Runtime: bedrock.c */
    EP_RESPONSES,    /* OpenAI Responses: responses.c */
};

/* A delayed, dripped or streamed response. Lives in req->pool as a shared entry so that its
 * dispose callback runs whenever the request dies, whichever side ends it. */
enum mreq_state {
    MREQ_LATENCY = 0, /* waiting out latency_ms before the response head */
    MREQ_SSE,         /* streaming events */
    MREQ_DRIP,        /* sending a non-stream body one byte per drip_ms */
    MREQ_STALLED,     /* stall_after_chunks reached: nothing more is sent */
    MREQ_DONE,        /* final or error sent, or the client went away */
};

struct mreq {
    h2o_generator_t gen;
    h2o_req_t *req;
    struct mock_worker *w;
    h2o_timeout_entry_t timer; /* latency, ttft, chunk interval, split gap, drip */
    h2o_timeout_entry_t probe; /* HTTP/1 liveness probe */
    int probe_fd;              /* the HTTP/1 client socket, or -1 */
    bool chunked;              /* HTTP/1.1 stream: the chunked framing is written here */
    char chunk_head[24];       /* "<hex size>\r\n" of the chunk being sent */
    enum mreq_state state;
    struct mock_opts o;
    int status;
    struct sl_str body; /* non-stream: the whole body */
    size_t body_off;
    bool stream;
    struct mock_sse sse; /* stream: the planned events */
    size_t seg;          /* the segment of the next event */
    uint64_t seg_j;      /* the next event's index in its segment */
    bool erroring;       /* the next event is the in-band error (stream_error_after_chunks) */
    bool errored;        /* the in-band error was rendered: it is the last event */
    uint64_t content_sent;
    uint64_t events_sent;
    char *ev; /* the event being sent */
    size_t ev_len, ev_off;
    struct mock_encoder enc[2]; /* content_encoding, then transfer_encoding_gzip */
    size_t n_enc;
    char *zbuf[2]; /* each encoder's output for the piece h2o holds (malloc) */
    size_t zcap[2];
    bool sending; /* h2o owns a buffer until it calls proceed */
    bool gone;    /* the probe saw the client leave while h2o owned a buffer */
    bool ended;   /* the stream's outcome was counted */
};

static void *pool_alloc(void *ud, size_t n)
{
    return h2o_mem_alloc_pool(ud, n);
}

static struct mock_worker *worker_of(h2o_req_t *req)
{
    return SL_CONTAINER_OF(req->conn->ctx, struct mock_worker, ctx);
}

static struct sl_str escape_pool(h2o_req_t *req, struct sl_str s)
{
    char *p = h2o_mem_alloc_pool(&req->pool, mj_escape_bound(s.len));
    return sl_str_init(p, mj_escape(p, s));
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Site Overloaded";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

static h2o_timeout_t *timeout_for(struct mock_worker *w, uint64_t ms)
{
    size_t best = 0;

    for (size_t i = 0; i < w->_n_timeouts; i++) {
        if (w->_timeouts[i].ms == ms)
            return &w->_timeouts[i].timeout;
        uint64_t d = w->_timeouts[i].ms > ms ? w->_timeouts[i].ms - ms : ms - w->_timeouts[i].ms;
        uint64_t bd =
            w->_timeouts[best].ms > ms ? w->_timeouts[best].ms - ms : ms - w->_timeouts[best].ms;
        if (d < bd)
            best = i;
    }
    if (w->_n_timeouts == MOCK_MAX_TIMEOUTS)
        return &w->_timeouts[best].timeout;
    size_t i = w->_n_timeouts++;
    w->_timeouts[i].ms = ms;
    h2o_timeout_init(w->ctx.loop, &w->_timeouts[i].timeout, ms);
    return &w->_timeouts[i].timeout;
}

static void arm(struct mock_worker *w, h2o_timeout_entry_t *e, uint64_t ms)
{
    h2o_timeout_link(w->ctx.loop, timeout_for(w, ms), e);
}

/* Response headers every reply carries, plus the request's mock.headers and retry_after. */
static void add_headers(h2o_req_t *req, const char *ctype, size_t ctype_len,
                        const struct mock_opts *o)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, ctype_len);
    if (o == NULL)
        return;
    if (o->retry_after.ptr != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       o->retry_after.ptr, o->retry_after.len);
    for (size_t i = 0; i < o->n_headers; i++)
        h2o_add_header_by_str(&req->pool, &req->res.headers, o->headers[i].name.ptr,
                              o->headers[i].name.len, 1, NULL, o->headers[i].value.ptr,
                              o->headers[i].value.len);
}

static struct sl_str compress_pool(h2o_req_t *req, enum mock_coding c, struct sl_str body)
{
    struct mock_encoder e;

    mock_encoder_init(&e, c);
    char *out = h2o_mem_alloc_pool(&req->pool, mock_encoder_bound(&e, body.len));
    size_t n = mock_encoder_feed(&e, body, true, out);
    mock_encoder_dispose(&e);
    return sl_str_init(out, n);
}

/* The body as the request's content_encoding and transfer_encoding_gzip say, with the headers
 * that announce it: the content coding applied first, then the transfer coding, as HTTP layers
 * them (a coding the mock cannot apply, "br", is only announced). corrupt_encoding flips the last
 * compressed byte: part of the trailer's length or check value, so only the end of the data
 * shows it. With the transfer coding the result is framed as chunks and *chunked is set. */
static struct sl_str encode_body(h2o_req_t *req, const struct mock_opts *o, struct sl_str body,
                                 bool *chunked)
{
    enum mock_coding c;
    bool compressed = false;

    *chunked = false;
    if (o == NULL)
        return body;
    if (o->content_encoding.ptr != NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL,
                       o->content_encoding.ptr, o->content_encoding.len);
        if (mock_coding_of(o->content_encoding, &c)) {
            body = compress_pool(req, c, body);
            compressed = true;
        }
    }
    bool te = o->transfer_encoding_gzip && req->version == 0x101; /* HTTP/2 has no TE */
    if (te) {
        body = compress_pool(req, MOCK_CODING_GZIP, body);
        compressed = true;
    }
    if (o->corrupt_encoding && compressed)
        ((char *)body.ptr)[body.len - 1] ^= 0x55; /* pool memory written just above */
    if (!te)
        return body;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_TRANSFER_ENCODING, NULL,
                   H2O_STRLIT("gzip, chunked"));
    char *framed = h2o_mem_alloc_pool(&req->pool, body.len + 32);
    int head = snprintf(framed, 32, "%zx\r\n", body.len);
    memcpy(framed + head, body.ptr, body.len);
    memcpy(framed + head + body.len, "\r\n0\r\n\r\n", 7);
    *chunked = true;
    return sl_str_init(framed, (size_t)head + body.len + 7);
}

/* Sends a complete JSON body now. body must stay valid until the request ends (pool or static). */
static void send_json(h2o_req_t *req, int status, struct sl_str body, const struct mock_opts *o)
{
    bool chunked;

    body = encode_body(req, o, body, &chunked);
    h2o_iovec_t v = h2o_iovec_init(body.ptr, body.len);
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = chunked ? SIZE_MAX : body.len;
    add_headers(req, H2O_STRLIT("application/json"), o);
    h2o_start_response(req, &g_static_gen);
    h2o_send(req, &v, 1, H2O_SEND_STATE_FINAL);
}

static void error_defaults(int status, const char **type, const char **code)
{
    *code = "null";
    if (status == 401) {
        *type = "invalid_request_error";
        *code = "\"invalid_api_key\"";
    } else if (status == 403) {
        *type = "permission_error";
    } else if (status == 404) {
        *type = "invalid_request_error";
        *code = "\"model_not_found\"";
    } else if (status == 429) {
        *type = "requests";
        *code = "\"rate_limit_exceeded\"";
    } else if (status >= 500) {
        *type = "server_error";
    } else {
        *type = "invalid_request_error";
    }
}

/* Builds an OpenAI error envelope in req->pool. message and type are raw text; param and code
 * are JSON text. */
static struct sl_str error_body(h2o_req_t *req, struct sl_str message, struct sl_str type,
                                struct sl_str param, struct sl_str code)
{
    struct sl_str m = escape_pool(req, message), t = escape_pool(req, type);
    size_t cap = rd_error_bound(m, t, param, code);
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + cap;
    rd_error(&wr, m, t, param, code);
    return sl_str_init(begin, (size_t)(wr.ptr - begin));
}

/* Replies with one of the mock's own errors (not an injected one); param and code are JSON text,
 * code NULL for the status's default. Returns 0 for on_req. */
static int reply_error_code(h2o_req_t *req, int status, const char *message, const char *param,
                            const char *code)
{
    const char *type, *default_code;

    error_defaults(status, &type, &default_code);
    if (code == NULL)
        code = default_code;
    send_json(req, status,
              error_body(req, sl_str_from_cstr(message), sl_str_from_cstr(type),
                         sl_str_from_cstr(param), sl_str_from_cstr(code)),
              NULL);
    return 0;
}

static int reply_error(h2o_req_t *req, int status, const char *message, const char *param)
{
    return reply_error_code(req, status, message, param, NULL);
}

static int reply_bad_json(h2o_req_t *req)
{
    return reply_error(req, 400,
                       "We could not parse the JSON body of your request. (sluice-mock: the "
                       "body is not a valid JSON object.)",
                       "null");
}

/* The body of an injected error: error_body as-is, else an envelope from the error_* fields. */
static struct sl_str injected_error(h2o_req_t *req, const struct mock_opts *o)
{
    const char *type, *code;
    char msg[80];

    if (o->error_body.ptr != NULL)
        return o->error_body;
    error_defaults(o->status, &type, &code);
    snprintf(msg, sizeof(msg), "sluice-mock: injected error with status %d", o->status);
    return error_body(req, o->error_message.ptr != NULL ? o->error_message : sl_str_from_cstr(msg),
                      o->error_type.ptr != NULL ? o->error_type : sl_str_from_cstr(type),
                      SL_STRLIT("null"),
                      o->error_code.ptr != NULL ? o->error_code : sl_str_from_cstr(code));
}

static bool is_error_status(const struct mock_opts *o)
{
    return o->status >= 300;
}

int mock__fail_first(struct mock_opts *o)
{
    uint64_t seen;

    if (o->fail_first == MOCK_NEVER)
        return SL_OK;
    if (rec_count_tag(o->tag, &seen) != SL_OK)
        return SL_ERR;
    if (seen > o->fail_first) {
        o->status = 0;
        o->reset_before_headers = false;
    }
    return SL_OK;
}

/* --- the state machine of delayed, dripped and streamed responses --- */

static void set_state(struct mreq *m, enum mreq_state to)
{
    SL_ASSERT(m->state != MREQ_DONE);
    SL_ASSERT(to != MREQ_LATENCY);
    m->state = to;
    if (to == MREQ_DONE) {
        h2o_timeout_unlink(&m->timer);
        h2o_timeout_unlink(&m->probe);
    }
}

/* Counts how a stream ended, once. */
static void end_stream(struct mreq *m, enum rec_counter outcome)
{
    if (!m->stream || m->ended)
        return;
    m->ended = true;
    rec_count(&m->w->counters, outcome, 1);
}

/* Ends the response with an error after the client left: h2o then closes the connection. */
static void abort_response(struct mreq *m)
{
    h2o_req_t *req = m->req;
    bool started = m->state != MREQ_LATENCY;

    end_stream(m, REC_STREAMS_ABORTED);
    set_state(m, MREQ_DONE);
    req->http1_is_persistent = 0;
    if (started) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    req->res.status = 499;
    req->res.reason = "Client Closed Request";
    req->res.content_length = 0;
    h2o_start_response(req, &g_static_gen);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static void on_probe(h2o_timeout_entry_t *e)
{
    struct mreq *m = SL_CONTAINER_OF(e, struct mreq, probe);
    struct pollfd p = {.fd = m->probe_fd, .events = POLLRDHUP};

    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        if (m->sending) {
            m->gone = true; /* h2o owns a buffer: finish in proceed (or h2o calls stop) */
            return;
        }
        h2o_timeout_unlink(&m->timer);
        abort_response(m);
        return;
    }
    arm(m->w, &m->probe, PROBE_MS);
}

/* Resets the client connection (RST) before anything is sent. */
static void reset_connection(struct mreq *m)
{
    h2o_req_t *req = m->req;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);

    if (sock != NULL) {
        int fd = h2o_socket_get_fd(sock);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        struct sockaddr sa = {.sa_family = AF_UNSPEC};
        /* Linux: connect(AF_UNSPEC) disconnects a TCP socket at once, sending RST from an
         * established state; h2o's next write then fails and it closes the (dead) socket. */
        if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == -1 ||
            connect(fd, &sa, sizeof(sa)) == -1)
            sl_log_debug("reset_before_headers: %s", strerror(errno));
    }
    end_stream(m, REC_STREAMS_DISCONNECTED);
    set_state(m, MREQ_DONE);
    req->http1_is_persistent = 0;
    req->res.status = 500;
    req->res.reason = "Reset";
    req->res.content_length = 0;
    h2o_start_response(req, &g_static_gen);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

/* Ends a stream abruptly, without [DONE]: FIN without the terminating chunk on HTTP/1,
 * RST_STREAM on HTTP/2. */
static void cut_stream(struct mreq *m)
{
    end_stream(m, REC_STREAMS_DISCONNECTED);
    set_state(m, MREQ_DONE);
    m->req->http1_is_persistent = 0;
    if (m->probe_fd != -1 && shutdown(m->probe_fd, SHUT_WR) == -1)
        sl_log_debug("disconnect_after_chunks: %s", strerror(errno));
    h2o_send(m->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

/* Where the current event is cut with split_writes: inside "data:", mid-event, and before the
 * last byte (so a CRLF is split between CR and LF and the blank line arrives on its own). */
static size_t next_cut(size_t off, size_t len)
{
    size_t cuts[3] = {3, len / 2, len - 1};

    for (size_t i = 0; i < 3; i++)
        if (cuts[i] > off && cuts[i] < len)
            return cuts[i];
    return len;
}

/* Sends len bytes of the event stream (len 0 only for the head). On HTTP/1.1 the chunked framing
 * is written here rather than by h2o's chunked filter: the filter defers an empty send, which
 * would hold the response head back until the first event, defeating ttft_ms. */
static void stream_write(struct mreq *m, const char *p, size_t len, bool final)
{
    h2o_iovec_t v[3];
    size_t n = 0;

    /* Compressed streams: each piece flushed on its own, so it can be decoded on arrival. */
    for (size_t i = 0; i < m->n_enc && (len != 0 || final); i++) {
        size_t need = mock_encoder_bound(&m->enc[i], len);
        if (need > m->zcap[i]) {
            m->zbuf[i] = sl_xrealloc(m->zbuf[i], need);
            m->zcap[i] = need;
        }
        len = mock_encoder_feed(&m->enc[i], sl_str_init(p, len), final, m->zbuf[i]);
        p = m->zbuf[i];
    }
    if (!m->chunked) {
        v[n++] = h2o_iovec_init(p, len);
    } else if (len != 0) {
        v[n++] = h2o_iovec_init(
            m->chunk_head, (size_t)snprintf(m->chunk_head, sizeof(m->chunk_head), "%zx\r\n", len));
        v[n++] = h2o_iovec_init(p, len);
        v[n++] = final ? h2o_iovec_init(H2O_STRLIT("\r\n0\r\n\r\n"))
                       : h2o_iovec_init(H2O_STRLIT("\r\n"));
    } else if (final) {
        v[n++] = h2o_iovec_init(H2O_STRLIT("0\r\n\r\n"));
    }
    if (!final)
        m->sending = true;
    h2o_send(m->req, v, n, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void sse_send_piece(struct mreq *m)
{
    size_t end = m->o.split_writes ? next_cut(m->ev_off, m->ev_len) : m->ev_len;
    size_t off = m->ev_off;
    bool final = (m->errored || m->seg == m->sse.n_segs) && end == m->ev_len;

    m->ev_off = end;
    if (final) {
        end_stream(m, REC_STREAMS_COMPLETED);
        set_state(m, MREQ_DONE);
    }
    stream_write(m, m->ev + off, end - off, final);
}

/* Moves past empty segments so that m->seg names the next event's segment (or the end). */
static void skip_empty(struct mreq *m)
{
    while (m->seg < m->sse.n_segs && m->seg_j == m->sse.segs[m->seg].count) {
        m->seg++;
        m->seg_j = 0;
    }
}

/* Writes the next event (or the in-band error) and moves past it. */
static void sse_render(struct mreq *m, struct mj_writer *wr)
{
    const struct rd_seg *seg = &m->sse.segs[m->seg];

    if (m->erroring) {
        m->sse.error(m->sse.st, wr);
        m->errored = true;
        rec_count(&m->w->counters, REC_ERRORS_INJECTED, 1);
        return;
    }
    m->sse.event(m->sse.st, seg, m->seg_j, wr);
    if ((seg->flags & RD_SEG_DELTA) != 0)
        m->content_sent++;
    m->seg_j++;
    skip_empty(m);
}

static void sse_emit(struct mreq *m)
{
    struct mj_writer wr = {m->ev, m->ev + m->sse.ev_cap};

    sse_render(m, &wr);
    m->ev_len = (size_t)(wr.ptr - m->ev);
    m->ev_off = 0;
    m->events_sent++;
    sse_send_piece(m);
}

/* Decides what follows a completely sent event: a stall, a cut, the in-band error, a pause, or
 * the next event. The *_after_chunks controls act before events their segment marks. */
static void sse_next(struct mreq *m)
{
    const struct rd_seg *seg = &m->sse.segs[m->seg];
    uint64_t delay = 0;

    SL_ASSERT(m->seg < m->sse.n_segs);
    if ((seg->flags & RD_SEG_CHECK) != 0) {
        if (m->content_sent == m->o.stall_after_chunks) {
            set_state(m, MREQ_STALLED);
            return;
        }
        if (m->content_sent == m->o.disconnect_after_chunks) {
            cut_stream(m);
            return;
        }
        m->erroring = m->content_sent == m->o.stream_error_after_chunks;
    }
    if (m->events_sent == 0)
        delay = m->o.ttft_ms;
    else if ((seg->flags & RD_SEG_DELTA) != 0 && m->content_sent > 0 && !m->erroring)
        delay = m->o.chunk_interval_ms;
    if (delay != 0) {
        arm(m->w, &m->timer, delay);
        return;
    }
    sse_emit(m);
}

static void drip_send(struct mreq *m)
{
    h2o_iovec_t v = h2o_iovec_init(m->body.ptr + m->body_off, 1);
    bool final = ++m->body_off == m->body.len;

    if (final)
        set_state(m, MREQ_DONE);
    else
        m->sending = true;
    h2o_send(m->req, &v, 1, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct mreq *m = SL_CONTAINER_OF(gen, struct mreq, gen);

    SL_UNUSED(req);
    SL_ASSERT(m->sending);
    m->sending = false;
    if (m->gone) {
        abort_response(m);
        return;
    }
    switch (m->state) {
    case MREQ_SSE:
        if (m->ev_off < m->ev_len)
            arm(m->w, &m->timer, SPLIT_GAP_MS);
        else
            sse_next(m);
        return;
    case MREQ_DRIP:
        arm(m->w, &m->timer, m->o.drip_ms);
        return;
    default:
        SL_ASSERT(!"proceed in a state that sends nothing");
    }
}

/* h2o gave up on the response: the client went away or the connection failed. */
static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    struct mreq *m = SL_CONTAINER_OF(gen, struct mreq, gen);

    SL_UNUSED(req);
    end_stream(m, REC_STREAMS_ABORTED);
    if (m->state != MREQ_DONE)
        set_state(m, MREQ_DONE);
}

/* A stream's content_encoding and transfer_encoding_gzip: the encoders stream_write runs. */
static void start_stream_encoding(struct mreq *m)
{
    enum mock_coding c;

    if (m->o.content_encoding.ptr != NULL) {
        h2o_add_header(&m->req->pool, &m->req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL,
                       m->o.content_encoding.ptr, m->o.content_encoding.len);
        if (mock_coding_of(m->o.content_encoding, &c))
            mock_encoder_init(&m->enc[m->n_enc++], c);
    }
    if (m->o.transfer_encoding_gzip && m->req->version == 0x101)
        mock_encoder_init(&m->enc[m->n_enc++], MOCK_CODING_GZIP);
}

static void start_sse(struct mreq *m)
{
    h2o_req_t *req = m->req;

    req->res.status = m->o.status != 0 ? m->o.status : 200;
    req->res.reason = reason_of(req->res.status);
    const char *ctype =
        m->sse.content_type != NULL ? m->sse.content_type : "text/event-stream; charset=utf-8";
    add_headers(req, ctype, strlen(ctype), &m->o);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    start_stream_encoding(m);
    if (req->version == 0x101) {
        m->chunked = true;
        if (m->o.transfer_encoding_gzip)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_TRANSFER_ENCODING, NULL,
                           H2O_STRLIT("gzip, chunked"));
        else
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_TRANSFER_ENCODING, NULL,
                           H2O_STRLIT("chunked"));
    } else if (req->version < 0x101) {
        req->http1_is_persistent = 0; /* HTTP/1.0: the body ends when the connection closes */
    }
    set_state(m, MREQ_SSE);
    h2o_start_response(req, &m->gen);
    stream_write(m, NULL, 0, false); /* the head goes out now */
}

static void start_response(struct mreq *m)
{
    h2o_req_t *req = m->req;

    if (m->o.reset_before_headers) {
        reset_connection(m);
        return;
    }
    if (m->stream) {
        start_sse(m);
        return;
    }
    if (m->o.drip_ms != 0 && m->body.len != 0) {
        bool chunked;
        m->body = encode_body(req, &m->o, m->body, &chunked);
        req->res.status = m->status;
        req->res.reason = reason_of(m->status);
        req->res.content_length = chunked ? SIZE_MAX : m->body.len;
        add_headers(req, H2O_STRLIT("application/json"), &m->o);
        set_state(m, MREQ_DRIP);
        h2o_start_response(req, &m->gen);
        drip_send(m);
        return;
    }
    set_state(m, MREQ_DONE);
    send_json(req, m->status, m->body, &m->o);
}

static void on_timer(h2o_timeout_entry_t *e)
{
    struct mreq *m = SL_CONTAINER_OF(e, struct mreq, timer);

    switch (m->state) {
    case MREQ_LATENCY:
        start_response(m);
        return;
    case MREQ_SSE:
        if (m->ev_off < m->ev_len)
            sse_send_piece(m);
        else
            sse_emit(m);
        return;
    case MREQ_DRIP:
        drip_send(m);
        return;
    default:
        SL_ASSERT(!"timer in a state that waits for nothing");
    }
}

static void on_mreq_dispose(void *p)
{
    struct mreq *m = p;

    h2o_timeout_unlink(&m->timer);
    h2o_timeout_unlink(&m->probe);
    end_stream(m, REC_STREAMS_ABORTED);
    rec_count(&m->w->counters, REC_ACTIVE_ENDED, 1);
    for (size_t i = 0; i < m->n_enc; i++) {
        mock_encoder_dispose(&m->enc[i]);
        free(m->zbuf[i]);
    }
}

static struct mreq *mreq_new(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o)
{
    struct mreq *m = h2o_mem_alloc_shared(&req->pool, sizeof(*m), on_mreq_dispose);

    memset(m, 0, sizeof(*m));
    m->gen.proceed = on_proceed;
    m->gen.stop = on_stop;
    m->req = req;
    m->w = w;
    m->timer.cb = on_timer;
    m->probe.cb = on_probe;
    m->probe_fd = -1;
    m->o = *o;
    rec_count(&w->counters, REC_ACTIVE_BEGUN, 1);
    if (req->version < 0x200) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        m->probe_fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
    }
    return m;
}

/* Runs a prepared mreq: now, or after latency_ms. */
static void mreq_start(struct mreq *m)
{
    if (m->probe_fd != -1)
        arm(m->w, &m->probe, PROBE_MS);
    if (m->o.latency_ms != 0) {
        arm(m->w, &m->timer, m->o.latency_ms);
        return;
    }
    start_response(m);
}

/* Sends a prepared non-stream body, at once when no control asks for anything else. */
static int respond_body(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o,
                        int status, struct sl_str body)
{
    if (o->latency_ms == 0 && o->drip_ms == 0 && !o->reset_before_headers) {
        send_json(req, status, body, o);
        return 0;
    }
    struct mreq *m = mreq_new(w, req, o);
    m->status = status;
    m->body = body;
    mreq_start(m);
    return 0;
}

/* --- request parsing shared by the endpoints --- */

/* Applies the request's "mock" member to o. On a bad value, replies 400 and returns SL_EPARSE. */
static int apply_mock(h2o_req_t *req, struct mock_opts *o, const struct mj_value *mock)
{
    char err[160];

    if (mock->type == MJ_ABSENT)
        return SL_OK;
    if (mock->type != MJ_OBJECT) {
        reply_error(req, 400, "mock: expected an object", "\"mock\"");
        return SL_EPARSE;
    }
    if (mock_opts_parse(o, mock->raw, pool_alloc, &req->pool, err, sizeof(err)) != SL_OK) {
        reply_error(req, 400, err, "\"mock\"");
        return SL_EPARSE;
    }
    if (o->transfer_encoding_gzip && req->version != 0x101) {
        reply_error(req, 400, "mock.transfer_encoding_gzip: needs HTTP/1.1", "\"mock\"");
        return SL_EPARSE;
    }
    return SL_OK;
}

/* Rejects options of another endpoint, so a test that sets one there fails loudly. Replies 400
 * and returns true when o has one. */
static bool check_scope(h2o_req_t *req, const struct mock_opts *o, enum endpoint ep)
{
    const char *name = NULL;
    char err[160];

    if ((name = mock_opts_has_bedrock_only(o)) != NULL) {
        snprintf(err, sizeof(err), "mock.%s: only for Bedrock (.../model/{id}/...)", name);
    } else if (mock_opts_has_anthropic_only(o, &name)) {
        snprintf(err, sizeof(err), "mock.%s: only for Anthropic Messages (.../v1/messages)", name);
    } else if (mock_opts_has_gemini_only(o, &name)) {
        snprintf(err, sizeof(err), "mock.%s: only for Gemini (...:generateContent)", name);
    } else if (ep != EP_CHAT && mock_opts_has_openai_only(o, &name)) {
        bool legacy_ok =
            ep == EP_COMPLETIONS && o->n_tool_calls == 0 && o->reasoning_content.ptr == NULL;
        if (legacy_ok)
            return false;
        snprintf(err, sizeof(err), "mock.%s: only for chat completions", name);
    } else {
        return false;
    }
    reply_error(req, 400, err, "\"mock\"");
    return true;
}

static uint64_t prompt_tokens(h2o_req_t *req)
{
    return SL_MAX(req->entity.len / 4, 1);
}

struct sl_str mock__make_id(struct mock_worker *w, h2o_req_t *req, const char *prefix, char sep)
{
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, 64), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + 64;
    mj_put(&wr, prefix, strlen(prefix));
    mj_put_u64(&wr, w->id);
    mj_put(&wr, &sep, 1);
    mj_put_u64(&wr, ++w->_seq);
    return sl_str_init(begin, (size_t)(wr.ptr - begin));
}

static struct sl_str make_id(struct mock_worker *w, h2o_req_t *req, const char *prefix)
{
    return mock__make_id(w, req, prefix, '-');
}

struct sl_str mock__reply_token(h2o_req_t *req, const struct mock_opts *o)
{
    static const char filler[] = " lorem ipsum dolor sit amet, consectetur adipiscing elit.";
    struct sl_str tok;

    if (!o->content_overridden)
        return g.reply_tok;
    tok = escape_pool(req, o->reply);
    if (o->response_bytes <= o->reply.len)
        return tok;
    size_t pad = o->response_bytes - o->reply.len;
    char *p = h2o_mem_alloc_pool(&req->pool, tok.len + pad);
    memcpy(p, tok.ptr, tok.len - 1);
    for (size_t i = 0; i < pad; i++)
        p[tok.len - 1 + i] = filler[i % (sizeof(filler) - 1)];
    p[tok.len - 1 + pad] = '"';
    return sl_str_init(p, tok.len + pad);
}

/* true when the stream_options object has "include_usage": true. */
static bool wants_usage(const struct mj_value *stream_options)
{
    static const struct sl_str key = MJ_KEY("include_usage");
    struct mj_value v;

    if (stream_options->type != MJ_OBJECT)
        return false;
    return mj_scan_object(stream_options->raw, &key, 1, &v) == SL_OK && v.type == MJ_TRUE;
}

/* The content deltas a chat reply has: completion_tokens. */
static bool chat_has_text(const struct mock_opts *o)
{
    return o->n_tool_calls == 0 || o->text_set;
}

static uint64_t chat_deltas(const struct mock_opts *o, bool chat)
{
    struct rd_stream s = {.text = !chat || chat_has_text(o),
                          .chunks = o->chunks,
                          .reasoning = o->reasoning_content,
                          .calls = o->tool_calls,
                          .n_calls = o->n_tool_calls};

    return rd_stream_deltas(&s);
}

static void start_openai_stream(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o,
                                const struct rd_ctx *rc, bool chat, bool include_usage)
{
    struct rd_stream *s = h2o_mem_alloc_pool(&req->pool, sizeof(*s));
    struct mock_sse sse = {.event = rd_stream_event, .error = rd_stream_error, .st = s};

    *s = (struct rd_stream){.c = *rc,
                            .chat = chat,
                            .usage = include_usage && !o->no_usage,
                            .invalid_json = o->invalid_json,
                            .text = !chat || chat_has_text(o),
                            .reply = o->reply,
                            .chunks = o->chunks,
                            .reasoning = o->reasoning_content,
                            .calls = o->tool_calls,
                            .n_calls = o->n_tool_calls};
    s->c.crlf = o->crlf;
    s->c.usage_null = s->usage;
    if (o->chunk_text.ptr != NULL)
        s->chunk_tok = escape_pool(req, o->chunk_text);
    sse.ev_cap = rd_stream_plan(s, pool_alloc, &req->pool, &sse.segs, &sse.n_segs);
    mock__stream(w, req, o, &sse);
}

/* A chat.completion with reasoning_content or tool_calls. */
static struct sl_str render_message(h2o_req_t *req, const struct rd_ctx *rc,
                                    const struct mock_opts *o)
{
    struct rd_message msg = {.content =
                                 chat_has_text(o) ? mock__reply_token(req, o) : SL_STRLIT("null"),
                             .calls = o->tool_calls,
                             .n_calls = o->n_tool_calls};
    size_t cap;

    if (o->reasoning_content.ptr != NULL)
        msg.reasoning = escape_pool(req, o->reasoning_content);
    cap = rd_bound(rc, msg.content.len + msg.reasoning.len) +
          rd_calls_bound(o->tool_calls, o->n_tool_calls);
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + cap;
    rd_chat_message(&wr, rc, &msg, !o->no_usage);
    return sl_str_init(begin, (size_t)(wr.ptr - begin));
}

static struct sl_str render_completion(h2o_req_t *req, const struct rd_ctx *rc,
                                       const struct mock_opts *o, bool chat)
{
    if (chat && !o->invalid_json && (o->reasoning_content.ptr != NULL || o->n_tool_calls != 0))
        return render_message(req, rc, o);
    struct sl_str tok = mock__reply_token(req, o);
    size_t cap = rd_bound(rc, tok.len);
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + cap;
    if (o->invalid_json)
        rd_broken_body(&wr, rc);
    else if (chat)
        rd_chat_completion(&wr, rc, tok, !o->no_usage);
    else
        rd_text_completion(&wr, rc, tok, !o->no_usage);
    return sl_str_init(begin, (size_t)(wr.ptr - begin));
}

/* POST .../chat/completions and .../completions. */
/* Azure OpenAI's paths: /openai/deployments/{deployment}/{chat/completions, completions,
   embeddings}, exactly (any other path under /openai/ is an OpenAI path with a prefix). */
static bool is_azure(h2o_req_t *req)
{
    static const char prefix[] = "/openai/deployments/";
    static const char *const ops[] = {"/chat/completions", "/completions", "/embeddings"};
    const char *p = req->path_normalized.base;
    size_t len = req->path_normalized.len, pl = sizeof(prefix) - 1;
    if (len <= pl || memcmp(p, prefix, pl) != 0)
        return false;
    const char *slash = memchr(p + pl, '/', len - pl);
    if (slash == NULL || slash == p + pl)
        return false;
    size_t rest = len - (size_t)(slash - p);
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++)
        if (rest == strlen(ops[i]) && memcmp(slash, ops[i], rest) == 0)
            return true;
    return false;
}

static int handle_generate(struct mock_worker *w, h2o_req_t *req, bool chat)
{
    static const struct sl_str keys[] = {MJ_KEY("model"), MJ_KEY("stream"),
                                         MJ_KEY("stream_options"), MJ_KEY("mock")};
    struct mj_value v[SL_ARRAY_LEN(keys)];
    struct mock_opts o;
    struct rd_ctx rc = {0};

    if (mj_scan_object(sl_str_init(req->entity.base, req->entity.len), keys, SL_ARRAY_LEN(keys),
                       v) != SL_OK)
        return reply_bad_json(req);
    if (v[0].type != MJ_STRING)
        return reply_error(req, 400, "you must provide a model parameter", "\"model\"");
    mock_opts_init(&o, &g.cfg.defaults);
    if (apply_mock(req, &o, &v[3]) != SL_OK ||
        check_scope(req, &o, chat ? EP_CHAT : EP_COMPLETIONS))
        return 0;
    struct at_plan plan;
    if (chat && at_plan(AT_CHAT, sl_str_init(req->entity.base, req->entity.len), pool_alloc,
                        &req->pool, &plan))
        at_apply(&o, &plan, false, pool_alloc, &req->pool);
    if (mock__fail_first(&o) != SL_OK)
        return reply_error(req, 400, MOCK_TOO_MANY_TAGS, "\"mock\"");
    if (is_error_status(&o)) {
        rec_count(&w->counters, REC_ERRORS_INJECTED, 1);
        return respond_body(w, req, &o, o.status, injected_error(req, &o));
    }
    rc.id = make_id(w, req, chat ? "chatcmpl-mock-" : "cmpl-mock-");
    rc.model = v[0].raw;
    rc.created = h2o_now(w->ctx.loop) / 1000;
    rc.prompt_tokens = prompt_tokens(req);
    rc.completion_tokens = chat_deltas(&o, chat);
    rc.finish_reason = o.finish_reason.ptr != NULL ? o.finish_reason
                       : o.n_tool_calls != 0       ? SL_STRLIT("tool_calls")
                                                   : SL_STR_NULL;
    rc.details = o.cached_tokens != MOCK_UNSET || o.reasoning_tokens != MOCK_UNSET;
    rc.cached_tokens = o.cached_tokens != MOCK_UNSET ? o.cached_tokens : 0;
    rc.reasoning_tokens = o.reasoning_tokens != MOCK_UNSET ? o.reasoning_tokens : 0;
    rc.azure = is_azure(req);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          rc.id.ptr, rc.id.len);
    if (v[1].type != MJ_TRUE)
        return respond_body(w, req, &o, o.status != 0 ? o.status : 200,
                            render_completion(req, &rc, &o, chat));
    start_openai_stream(w, req, &o, &rc, chat, wants_usage(&v[2]));
    return 0;
}

/* The text an embedding is derived from: a string's value, or any other value's JSON text. */
static struct sl_str embedding_text(h2o_req_t *req, json_t *item)
{
    if (json_is_string(item))
        return sl_str_init(json_string_value(item), json_string_length(item));
    char *text = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
    SL_ASSERT(text != NULL);
    h2o_iovec_t copy = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    return sl_str_init(copy.base, copy.len);
}

/* Writes the embeddings body for input (a string, or an array of inputs). Returns SL_E2BIG when
 * the input has too many items or floats. */
static int render_embeddings(h2o_req_t *req, json_t *input, struct sl_str model, size_t dims,
                             bool base64, struct sl_str *out)
{
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    if (n == 0 || n > MAX_EMBEDDING_INPUTS || n * dims > MAX_EMBEDDING_FLOATS)
        return SL_E2BIG;
    size_t cap = 256 + model.len + n * rd_embedding_item_bound(dims);
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    float *vec = h2o_mem_alloc_pool(&req->pool, dims * sizeof(float));
    char *begin = wr.ptr;

    wr.end = wr.ptr + cap;
    rd_embeddings_begin(&wr);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_is_array(input) ? json_array_get(input, i) : input;
        rd_embedding_vector(vec, dims, embedding_text(req, item));
        rd_embedding_item(&wr, i, vec, dims, base64);
    }
    rd_embeddings_end(&wr, model, prompt_tokens(req));
    *out = sl_str_init(begin, (size_t)(wr.ptr - begin));
    return SL_OK;
}

/* POST .../embeddings. The input is parsed with jansson: embeddings are off the hot path. */
static int handle_embeddings(struct mock_worker *w, h2o_req_t *req)
{
    static const struct sl_str keys[] = {MJ_KEY("model"), MJ_KEY("input"), MJ_KEY("dimensions"),
                                         MJ_KEY("encoding_format"), MJ_KEY("mock")};
    struct mj_value v[SL_ARRAY_LEN(keys)];
    struct mock_opts o;
    struct sl_str body;
    uint64_t dims;

    if (mj_scan_object(sl_str_init(req->entity.base, req->entity.len), keys, SL_ARRAY_LEN(keys),
                       v) != SL_OK)
        return reply_bad_json(req);
    if (v[0].type != MJ_STRING)
        return reply_error(req, 400, "you must provide a model parameter", "\"model\"");
    if (v[1].type != MJ_STRING && v[1].type != MJ_ARRAY)
        return reply_error(req, 400, "'input' must be a string or an array", "\"input\"");
    mock_opts_init(&o, &g.cfg.defaults);
    if (v[2].type == MJ_NUMBER && sl_str_to_u64(v[2].raw, MOCK_MAX_DIMENSIONS, &dims) == SL_OK &&
        dims > 0)
        o.dimensions = dims;
    if (apply_mock(req, &o, &v[4]) != SL_OK || check_scope(req, &o, EP_EMBEDDINGS))
        return 0;
    if (is_error_status(&o)) {
        rec_count(&w->counters, REC_ERRORS_INJECTED, 1);
        return respond_body(w, req, &o, o.status, injected_error(req, &o));
    }
    json_t *input = json_loadb(v[1].raw.ptr, v[1].raw.len, JSON_DECODE_ANY, NULL);
    SL_ASSERT(input != NULL); /* the scanner validated it */
    bool base64 = v[3].type == MJ_STRING && sl_str_eq_lit(v[3].raw, "\"base64\"");
    int rc = render_embeddings(req, input, v[0].raw, o.dimensions, base64, &body);
    json_decref(input);
    if (rc != SL_OK)
        return reply_error(req, 400, "'input' is empty or too large for sluice-mock", "\"input\"");
    return respond_body(w, req, &o, o.status != 0 ? o.status : 200, body);
}

static int handle_models(struct mock_worker *w, h2o_req_t *req)
{
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, RD_MODELS_BOUND), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + RD_MODELS_BOUND;
    rd_models(&wr, h2o_now(w->ctx.loop) / 1000);
    send_json(req, 200, sl_str_init(begin, (size_t)(wr.ptr - begin)), NULL);
    return 0;
}

/* --- routing, auth, recording --- */

static bool is_method(h2o_req_t *req, const char *m, size_t len)
{
    return h2o_memis(req->method.base, req->method.len, m, len);
}

static int handle_control(h2o_req_t *req, struct sl_str path)
{
    if (sl_str_eq_lit(path, "/_mock/stats") && is_method(req, H2O_STRLIT("GET"))) {
        send_json(req, 200, rec_render_stats(pool_alloc, &req->pool), NULL);
        return 0;
    }
    if (sl_str_eq_lit(path, "/_mock/requests") && is_method(req, H2O_STRLIT("GET"))) {
        send_json(req, 200, rec_render_requests(pool_alloc, &req->pool), NULL);
        return 0;
    }
    if (sl_str_eq_lit(path, "/_mock/reset") && is_method(req, H2O_STRLIT("POST"))) {
        rec_reset();
        send_json(req, 200, SL_STRLIT("{\"ok\":true}"), NULL);
        return 0;
    }
    return reply_error(req, 404, "unknown control endpoint", "null");
}

/* .../responses (rest empty) or .../responses/<rest>, unless --no-responses plays a chat-only
 * server. */
static bool responses_rest(struct sl_str path, struct sl_str *rest)
{
    static const char seg[] = "/responses";
    const size_t n = sizeof(seg) - 1;
    if (g.cfg.no_responses)
        return false;
    for (size_t i = 0; i + n <= path.len; i++) {
        if (memcmp(path.ptr + i, seg, n) != 0)
            continue;
        if (i + n == path.len || (path.ptr[i + n] == '/' && i + n + 1 < path.len)) {
            if (rest != NULL)
                *rest = i + n == path.len ? SL_STR_NULL
                                          : sl_str_init(path.ptr + i + n + 1, path.len - i - n - 1);
            return true;
        }
    }
    return false;
}

static enum endpoint route(struct sl_str path)
{
    if (mock_bedrock_route(path))
        return EP_BEDROCK;
    if (sl_str_ends_with(path, SL_STRLIT("/messages/count_tokens")))
        return EP_COUNT_TOKENS;
    if (sl_str_ends_with(path, SL_STRLIT("/messages")))
        return EP_MESSAGES;
    if (sl_str_ends_with(path, SL_STRLIT("/chat/completions")))
        return EP_CHAT;
    if (sl_str_ends_with(path, SL_STRLIT("/completions")))
        return EP_COMPLETIONS;
    if (sl_str_ends_with(path, SL_STRLIT("/embeddings")))
        return EP_EMBEDDINGS;
    if (sl_str_ends_with(path, SL_STRLIT("/models")))
        return EP_MODELS;
    if (responses_rest(path, NULL))
        return EP_RESPONSES;
    return EP_NONE;
}

/* The caller's key: "Authorization: Bearer KEY", or Azure's "api-key: KEY". */
static struct sl_str bearer_key(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);

    if (i != -1) {
        struct sl_str v = {req->headers.entries[i].value.base, req->headers.entries[i].value.len};
        if (v.len > 7 && strncasecmp(v.ptr, "Bearer ", 7) == 0)
            return sl_str_trim(sl_str_init(v.ptr + 7, v.len - 7));
        return SL_STR_NULL;
    }
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("api-key"), -1);
    if (i != -1)
        return sl_str_trim(
            sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len));
    return SL_STR_NULL;
}

/* Replies 401 and returns false unless the request carries an acceptable key. */
static bool authorized(h2o_req_t *req)
{
    struct sl_str key = bearer_key(req), want = g.cfg.require_key;

    if (key.len == 0) {
        reply_error_code(req, 401,
                         "You didn't provide an API key. You need to provide your API key in an "
                         "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                         "YOUR_KEY).",
                         "null", "null");
        return false;
    }
    if (want.ptr != NULL &&
        (key.len != want.len || CRYPTO_memcmp(key.ptr, want.ptr, key.len) != 0)) {
        reply_error(req, 401, "Incorrect API key provided (sluice-mock --require-key).", "null");
        return false;
    }
    return true;
}

static void record(h2o_req_t *req)
{
    struct rec_header hdrs[REC_MAX_HEADERS];
    size_t n = 0;

    /* h2o moves Host (HTTP/1) and :authority (HTTP/2) out of the header list; show it as host. */
    if (req->authority.len != 0)
        hdrs[n++] = (struct rec_header){SL_STRLIT("host"),
                                        sl_str_init(req->authority.base, req->authority.len)};
    for (size_t i = 0; i < req->headers.size && n < REC_MAX_HEADERS; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        hdrs[n].name = sl_str_init(h->name->base, h->name->len);
        hdrs[n++].value = sl_str_init(h->value.base, h->value.len);
    }
    rec_add(&(struct rec_request){
        .method = sl_str_init(req->method.base, req->method.len),
        .path = sl_str_init(req->path.base, req->path.len),
        .headers = hdrs,
        .n_headers = n,
        .body = sl_str_init(req->entity.base, req->entity.len),
    });
}

static void log_request(h2o_req_t *req)
{
    char path[256];

    sl_log_escape(path, sizeof(path), sl_str_init(req->path.base, req->path.len));
    sl_log_info("request method=%.*s path=%s bytes_in=%zu", (int)SL_MIN(req->method.len, 16),
                req->method.base, path, req->entity.len);
}

/* Azure OpenAI's checks: an api-version query parameter (Azure answers 404 without one) and,
 * for a bearer token, one the mock's Entra endpoint issued and that has not expired. */
static bool azure_ok(h2o_req_t *req)
{
    const char *q = memchr(req->path.base, '?', req->path.len);
    size_t qlen = q != NULL ? (size_t)(req->path.base + req->path.len - q) : 0;
    if (q == NULL || memmem(q, qlen, "api-version=", 12) == NULL) {
        send_json(req, 404,
                  SL_STRLIT("{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}"),
                  NULL);
        return false;
    }
    if (mock_oauth_has_bearer(req) && !mock_oauth_bearer_ok(req)) {
        send_json(req, 401,
                  SL_STRLIT("{\"error\":{\"code\":\"401\",\"message\":\"Unauthorized. Access token "
                            "is missing, invalid, audience is incorrect "
                            "(https://cognitiveservices.azure.com), or have expired.\"}}"),
                  NULL);
        return false;
    }
    return true;
}

static int dispatch(struct mock_worker *w, h2o_req_t *req, enum endpoint ep)
{
    static const enum rec_counter counters[] = {
        [EP_CHAT] = REC_CHAT,
        [EP_COMPLETIONS] = REC_COMPLETIONS,
        [EP_EMBEDDINGS] = REC_EMBEDDINGS,
        [EP_MODELS] = REC_MODELS,
        [EP_MESSAGES] = REC_MESSAGES,
        [EP_COUNT_TOKENS] = REC_COUNT_TOKENS,
        [EP_BEDROCK] = REC_BEDROCK,
        [EP_RESPONSES] = REC_RESPONSES,
    };
    bool get = ep == EP_MODELS;

    rec_count(&w->counters, counters[ep], 1);
    if (ep == EP_MESSAGES || ep == EP_COUNT_TOKENS)
        return mock_anthropic_handle(w, req, ep == EP_COUNT_TOKENS);
    if (ep == EP_BEDROCK)
        return mock_bedrock_handle(w, req);
    if (ep == EP_RESPONSES) {
        struct sl_str rest = SL_STR_NULL;
        responses_rest(sl_str_init(req->path_normalized.base, req->path_normalized.len), &rest);
        return mock_responses_handle(w, req, rest);
    }
    if (is_azure(req) && !azure_ok(req))
        return 0;
    /* Azure with Entra ID: the bearer token was checked above. */
    if (!(is_azure(req) && mock_oauth_bearer_ok(req)) && !authorized(req))
        return 0;
    if (get ? !is_method(req, H2O_STRLIT("GET")) : !is_method(req, H2O_STRLIT("POST")))
        return reply_error(req, 405, get ? "use GET" : "use POST", "null");
    switch (ep) {
    case EP_CHAT:
        return handle_generate(w, req, true);
    case EP_COMPLETIONS:
        return handle_generate(w, req, false);
    case EP_EMBEDDINGS:
        return handle_embeddings(w, req);
    default:
        return handle_models(w, req);
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct mock_worker *w = worker_of(req);
    struct sl_str path = {req->path_normalized.base, req->path_normalized.len};
    enum endpoint ep;

    SL_UNUSED(self);
    if (sl_str_starts_with(path, SL_STRLIT("/_mock/")))
        return handle_control(req, path);
    if (!g.cfg.quiet)
        log_request(req);
    record(req);
    rec_count(&w->counters, REC_REQUESTS, 1);
    rec_count(&w->counters, REC_BYTES_IN, req->entity.len);
    if (mock_oauth_is_token_path(path))
        return mock_oauth_handle(w, req);
    if (mock_gemini_is_path(path))
        return mock_gemini_handle(w, req);
    ep = route(path);
    if (ep == EP_NONE)
        return reply_error(req, 404, "sluice-mock: unknown path", "null");
    return dispatch(w, req, ep);
}

/* --- internals for the endpoint files (server.h) --- */

void *mock__pool_alloc(void *ud, size_t n)
{
    return pool_alloc(ud, n);
}

void mock__send_json(h2o_req_t *req, int status, struct sl_str body, const struct mock_opts *o)
{
    send_json(req, status, body, o);
}

const struct mock_server_cfg *mock__cfg(void)
{
    return &g.cfg;
}

struct sl_str mock__escape_pool(h2o_req_t *req, struct sl_str s)
{
    return escape_pool(req, s);
}

int mock__respond_body(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o, int status,
                       struct sl_str body)
{
    return respond_body(w, req, o, status, body);
}

void mock__stream(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o,
                  const struct mock_sse *sse)
{
    struct mreq *m = mreq_new(w, req, o);

    m->stream = true;
    m->sse = *sse;
    m->ev = h2o_mem_alloc_pool(&req->pool, sse->ev_cap);
    rec_count(&w->counters, REC_STREAMS_STARTED, 1);
    skip_empty(m);
    mreq_start(m);
}

void mock_server_init(const struct mock_server_cfg *cfg)
{
    char *tok = sl_xmalloc(mj_escape_bound(cfg->defaults.reply.len));

    g.cfg = *cfg;
    g.reply_tok = sl_str_init(tok, mj_escape(tok, cfg->defaults.reply));
}

void mock_server_dispose(void)
{
    mock_responses_dispose();
    free((char *)g.reply_tok.ptr);
    g.reply_tok = SL_STR_NULL;
}

void mock_server_register(h2o_hostconf_t *host)
{
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));

    h->on_req = on_req;
}

void mock_worker_init(struct mock_worker *w, unsigned id, h2o_evloop_t *loop,
                      h2o_globalconf_t *conf)
{
    h2o_context_init(&w->ctx, loop, conf);
    w->id = id;
}
