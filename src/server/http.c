#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "server_internal.h"
#include "sluice/access_log.h"
#include "sluice/base.h"
#include "sluice/clock.h"
#include "sluice/dialect.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/framing.h"
#include "sluice/http.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/reply.h"
#include "sluice/server.h"
#include "sluice/worker.h"

#define ENV_RID        "sl.rid"
#define REQUEST_ID_MAX 128

struct http_handler {
    h2o_handler_t super;
    struct sl_server *server;
};

struct http_filter {
    h2o_filter_t super;
    struct sl_server *server;
};

struct http_logger {
    h2o_logger_t super;
    struct sl_server *server;
};

bool sl_request_id_is_valid(struct sl_str s)
{
    if (s.len == 0 || s.len > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

/* xoshiro256** per thread, seeded from the kernel: request ids need uniqueness, not secrecy,
 * and a syscall or a CSPRNG call per request would be measurable. */
static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_random(void)
{
    static __thread uint64_t st[4];
    static __thread bool seeded;
    if (!seeded) {
        while (getrandom(st, sizeof(st), 0) != (ssize_t)sizeof(st))
            ;
        seeded = true;
    }
    uint64_t result = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return result;
}

static struct sl_str fresh_request_id(h2o_mem_pool_t *pool)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t r0 = next_random(), r1 = next_random();
    memcpy(b, &r0, 8);
    memcpy(b + 8, &r1, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *out = h2o_mem_alloc_pool(pool, 36);
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    return sl_str_init(out, 36);
}

/* The caller's id from the first of proxy.request_id.accept_headers that carries a valid one
 * (names were lower-cased at load, as h2o stores request header names), or an empty slice. An
 * invalid value is skipped, not refused: the id is for correlation, not worth failing a call. */
static struct sl_str caller_request_id(h2o_req_t *req)
{
    const struct sl_config_list *names =
        &sl_server_config(sl_worker_of(req)->server)->proxy.request_id.accept_headers;
    for (size_t n = 0; n < names->n; n++) {
        ssize_t i = h2o_find_header_by_str(&req->headers, names->v[n], names->len[n], -1);
        if (i != -1 && sl_request_id_is_valid(sl_str_from_iov(req->headers.entries[i].value)))
            return sl_str_from_iov(req->headers.entries[i].value);
    }
    return SL_STR_NULL;
}

struct sl_str sl_request_id(h2o_req_t *req)
{
    h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT(ENV_RID), 1);
    if (slot->base != NULL)
        return sl_str_from_iov(*slot);
    struct sl_str id = caller_request_id(req);
    if (id.len == 0)
        id = fresh_request_id(&req->pool);
    *slot = sl_iov_from_str(id);
    return id;
}

/* The client socket's read callback while its request is handled (see keep_reading). The
 * socket is marked don't-read, so h2o only reports it readable; whether that is input or the
 * end is read off the kernel's queue without taking anything from it. */
static void on_client_readable(h2o_socket_t *sock, const char *err)
{
    char byte;
    ssize_t n = err != NULL ? -1 : recv(h2o_socket_get_fd(sock), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && err == NULL && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return; /* nothing after all */
    /* Input (a pipelined request) stays queued in the kernel for h2o, which reads it once the
     * response is done; epoll is level-triggered, so stop polling until then. */
    h2o_socket_read_stop(sock);
    if (n > 0)
        return;
    /* The end (0) or an error: the caller has gone. Let the handler stop its work now rather
     * than at its next watch tick. */
    struct sl_client_conn *c = sl_client_conn_of(sock);
    struct sl_exchange *x = c != NULL ? c->current : NULL;
    if (x != NULL && x->on_client_gone != NULL)
        x->on_client_gone(x);
}

/* h2o 2.2 stops reading an HTTP/1.1 client socket while a handler works and starts again once
 * the response is written: two epoll_ctl calls per request, 8 % of a worker's CPU at c=64
 * (docs/benchmarks.md), and a caller who hangs up goes unnoticed meanwhile. h2o's evloop
 * applies read start/stop when the loop turn ends, so starting again here, in the same turn
 * as h2o's stop, leaves epoll untouched. The socket must not actually be read meanwhile: the
 * request's head and body are slices of its input buffer, which more input could move, so it is
 * marked don't-read until the request is disposed (before h2o reads the next request and
 * replaces this callback with its own). */
static void keep_reading(struct sl_exchange *x, h2o_req_t *req)
{
    if (req->version >= 0x200)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    struct sl_client_conn *c = sock != NULL ? sl_client_conn_of(sock) : NULL;
    if (c == NULL || h2o_socket_is_reading(sock))
        return;
    c->current = x;
    x->client_conn = c;
    h2o_socket_dont_read(sock, 1);
    h2o_socket_read_start(sock, on_client_readable);
}

/* The HTTP/1.x response being set up ends the connection (an error h2o or Sluice raised before
 * reading the whole body, Connection: close, the drain), and the client may still be sending:
 * h2o would close a socket with unread input, and the reset that draws would throw away the
 * response before the client reads it. A second descriptor keeps the socket open past h2o's
 * close so that linger.c can close it gracefully. Keep-alive responses cost nothing. */
static void keep_for_graceful_close(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->http1_is_persistent)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    struct sl_client_conn *c = sock != NULL ? sl_client_conn_of(sock) : NULL;
    if (c == NULL || c->_linger_fd != -1)
        return;
    /* On failure (out of descriptors) the connection is closed as h2o closes it. */
    c->_linger_fd = fcntl(h2o_socket_get_fd(sock), F_DUPFD_CLOEXEC, 0);
}

static void on_exchange_dispose(void *p)
{
    struct sl_exchange *x = p;
    struct sl_client_conn *c = x->client_conn;
    struct sl_worker *w = sl_worker_of(x->req);
    if (c != NULL && c->current == x) {
        c->current = NULL;
        h2o_socket_dont_read(c->sock, 0);
    }
    sl_stat_sub(&w->stats.inflight, 1);
    if (x->route != NULL)
        sl_metrics_inflight(w->metrics, x->route->name, -1);
    sl_worker_unpin(x->pin);
    sl_worker_request_ended(w);
}

/* Refuses a body whose framing another hop might read differently (see framing.h). The head
 * is still at the start of the connection's input buffer: h2o consumes it only when the
 * response is done. Returns the reason, or NULL when framing is unambiguous. */
static const char *ambiguous_framing(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->entity.base == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return NULL;
    struct sl_framing_headers f;
    if (!sl_framing_scan(sl_str_init(sock->input->bytes, sock->input->size), &f))
        return NULL;
    if (f.content_length != 0 && f.transfer_encoding != 0)
        return "both Content-Length and Transfer-Encoding are present";
    if (f.content_length > 1)
        return "Content-Length is repeated";
    if (f.transfer_encoding > 1)
        return "Transfer-Encoding is repeated";
    return NULL;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    SL_UNUSED(self);
    struct sl_worker *w = sl_worker_of(req);
    uint64_t start_us = sl_now_us();
    struct sl_exchange *x = sl_exchange_new(req, &w->svc, sl_worker_pin(w), sl_request_id(req),
                                            start_us, on_exchange_dispose);
    keep_reading(x, req);
    sl_stat_add(&w->stats.inflight, 1);
    uint64_t limit = sl_server_config(w->server)->proxy.request_body_limit_bytes;
    if (req->entity.len > limit) {
        req->http1_is_persistent = 0;
        sl_exchange_error(x, SL_ERR_BODY_TOO_LARGE, (unsigned long long)limit);
        return 0;
    }
    const char *ambiguous = ambiguous_framing(req);
    if (ambiguous != NULL) {
        req->http1_is_persistent = 0;
        sl_exchange_error(x, SL_ERR_AMBIGUOUS_FRAMING, ambiguous);
        return 0;
    }
    sl_exchange_dispatch(x);
    return 0;
}

/* Responses h2o produces itself (before the router ran) come with a text/plain body; this
 * ostream replaces it with the OpenAI error envelope so every error a client sees has the same
 * shape. Headers are not flattened before the first send, so content-length can still change. */
struct envelope_ostream {
    h2o_ostream_t super;
    struct sl_server *server;
};

/* A row of errors.h rendered in the OpenAI envelope: h2o's own errors come before routing, when
 * no dialect is known. */
static struct sl_str envelopef(h2o_mem_pool_t *pool, int status, const char *type, const char *code,
                               const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static struct sl_str envelopef(h2o_mem_pool_t *pool, int status, const char *type, const char *code,
                               const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    SL_UNUSED(status);
    SL_UNUSED(kind);
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_openai_error_body(pool, type, code,
                                sl_str_init(msg, SL_MIN((size_t)SL_MAX(n, 0), sizeof(msg) - 1)));
}

/* The envelope for an error h2o raised itself; original is its text/plain body. */
static struct sl_str h2o_error_body(h2o_req_t *req, const struct sl_server *s,
                                    struct sl_str original)
{
    h2o_mem_pool_t *pool = &req->pool;
    int status = req->res.status;
    int shown = (int)SL_MIN(original.len, 200);
    switch (status) {
    case 413:
        return envelopef(pool, SL_ERR_BODY_TOO_LARGE,
                         (unsigned long long)s->cfg->proxy.request_body_limit_bytes);
    case 400:
        return envelopef(pool, SL_ERR_INVALID_REQUEST_TEXT, SL_MIN(shown, 128), original.ptr);
    case 417:
        return envelopef(pool, SL_ERR_EXPECTATION_FAILED);
    default:
        if (status >= 500)
            return envelopef(pool, SL_ERR_HTTP_SERVER, shown, original.ptr);
        return envelopef(pool, SL_ERR_HTTP_CLIENT, shown, original.ptr);
    }
}

static void envelope_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
                             h2o_send_state_t state)
{
    struct envelope_ostream *o = (void *)self;
    char original[256];
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof(original); i++) {
        size_t take = SL_MIN(bufs[i].len, sizeof(original) - len);
        memcpy(original + len, bufs[i].base, take);
        len += take;
    }
    struct sl_str body = h2o_error_body(req, o->server, sl_str_init(original, len));
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                   H2O_STRLIT("application/json"), 1);
    req->res.content_length = body.len;
    h2o_iovec_t out = sl_iov_from_str(body);
    bool head = h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
    h2o_ostream_send_next(self, req, head ? NULL : &out, head ? 0 : 1, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    struct sl_server *s = ((struct http_filter *)self)->server;
    struct sl_str rid = sl_request_id(req);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          rid.ptr, rid.len);
    /* While draining, HTTP/1.1 clients are told to reconnect (to another replica). */
    if (sl_server_is_draining(s))
        req->http1_is_persistent = 0;
    keep_for_graceful_close(req);
    struct sl_exchange *x = sl_exchange_of(req);
    if (x != NULL)
        slot = sl_exchange_response_start(x, slot);
    if (x == NULL && req->res.status >= 400) {
        struct envelope_ostream *o =
            (void *)h2o_add_ostream(req, sizeof(struct envelope_ostream), slot);
        o->super.do_send = envelope_do_send;
        o->server = s;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

static void observe(struct sl_worker *w, const struct sl_reqlog *log, int status)
{
    struct sl_metrics_request m = {
        .route = log->route,
        .model = log->model_label,
        .status = status,
        .stream = log->stream,
        .duration_s = (double)(sl_now_us() - log->start_us) / 1e6,
        .ttft_s = log->ttft_us >= 0 ? (double)log->ttft_us / 1e6 : -1,
        .prompt_tokens = log->prompt_tokens,
        .completion_tokens = log->completion_tokens,
        .upstream_error = log->upstream_error,
        .key = log->key_name,
        .cost_nusd = log->cost_nusd,
        .attempts = log->attempts,
        .n_attempts = log->n_attempts,
    };
    sl_metrics_observe(w->metrics, &m);
}

/* The log phase: one access line and the request's metrics, when h2o frees the request. */
static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    struct sl_server *s = ((struct http_logger *)self)->server;
    struct sl_worker *w = sl_worker_of(req);
    struct sl_exchange *x = sl_exchange_of(req);
    int status = req->res.status;
    /* 499: the client left before the response completed (nginx's convention); a request
     * freed with no response at all (an HTTP/2 reset) has status 0. */
    if ((x != NULL && x->log.client_gone) || status == 0)
        status = 499;
    int cls = status >= 100 && status < 600 ? status / 100 - 1 : 5;
    sl_stat_add(&w->stats.requests[cls], 1);
    if (x != NULL) {
        sl_exchange_log_ready(x);
        observe(w, &x->log, status);
    }
    if (s->cfg->observability.access_log)
        sl_access_log_write(req, x != NULL ? &x->log : NULL, status);
}

static void register_on(h2o_pathconf_t *path, struct sl_server *s)
{
    struct http_filter *f = (void *)h2o_create_filter(path, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->server = s;
    struct http_logger *l = (void *)h2o_create_logger(path, sizeof(*l));
    l->super.log_access = log_access;
    l->server = s;
}

void sl_http_setup(h2o_globalconf_t *gc, struct sl_server *s)
{
    h2o_hostconf_t *host =
        h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
    struct http_handler *h = (void *)h2o_create_handler(root, sizeof(*h));
    h->super.on_req = on_req;
    h->server = s;
    register_on(root, s);
    /* h2o binds requests it rejects before routing (bad framing, body too large) to the
     * host's fallback path, so the filter and logger must be there too. */
    register_on(&host->fallback_path, s);
}
