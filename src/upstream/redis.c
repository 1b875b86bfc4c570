#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/redis.h"
#include "upstream_internal.h"

#define OUT_MAX        (8u << 20) /* commands queued for one write */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS   2000
#define TICK_MS        50 /* reconnect backoff and deadlines are checked this often */
#define KEEPALIVE_SECS 15

/* The connection's life; set_state checks each move. */
enum conn_state {
    CONN_IDLE = 0,  /* no connection; the next attempt is due at retry_at_ms */
    CONN_RESOLVING, /* DNS on h2o's resolver threads */
    CONN_CONNECTING,
    CONN_TLS,
    CONN_HANDSHAKE, /* AUTH, SELECT, SCRIPT LOAD sent; waiting for their replies */
    CONN_READY,
};

struct sl_redis_cmd {
    struct sl_redis_cmd *next;
    sl_redis_cb *cb; /* NULL: cancelled, or an internal command */
    void *ud;
    struct sl_redis *r;
    bool handshake;   /* part of the connection's setup: a failure reply fails the connection */
    bool load_script; /* SCRIPT LOAD: its reply is checked against the script's SHA-1 */
    uint64_t sent_ms;
};

struct sl_redis {
    h2o_context_t *ctx;
    h2o_loop_t *loop;
    const struct sl_redis_config *cfg;
    const struct sl_redis_script *const *scripts;
    size_t nscripts;
    sl_redis_state_cb *on_state;
    void *ud;
    enum conn_state state;
    h2o_socket_t *sock;
    h2o_hostinfo_getaddr_req_t *dns;
    SSL_CTX *ssl_ctx;
    bool ssl_ctx_tried;
    struct sl_resp_reader *reader;
    /* Pending commands, oldest first: replies arrive in this order. */
    struct sl_redis_cmd *head, *tail;
    size_t handshake_left;
    /* Commands of this loop turn (out) and of the write in flight (inflight). */
    struct sl_buf out, inflight;
    bool writing;
    h2o_timeout_t zero;
    h2o_timeout_entry_t flush_entry;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    uint64_t retry_at_ms;
    uint64_t backoff_ms;
    uint64_t connect_deadline_ms;
    bool was_ready; /* a state callback "down" is owed when this connection fails */
    bool freeing;
    char why[256];
    struct sl_redis_stats stats;
};

static void set_state(struct sl_redis *r, enum conn_state to)
{
    switch (to) {
    case CONN_IDLE:
        break;
    case CONN_RESOLVING:
    case CONN_CONNECTING:
        SL_ASSERT(r->state == CONN_IDLE || r->state == CONN_RESOLVING);
        break;
    case CONN_TLS:
    case CONN_HANDSHAKE:
        SL_ASSERT(r->state == CONN_CONNECTING || r->state == CONN_TLS);
        break;
    case CONN_READY:
        SL_ASSERT(r->state == CONN_HANDSHAKE);
        break;
    }
    r->state = to;
}

static uint64_t now_ms(const struct sl_redis *r)
{
    return h2o_now(r->loop);
}

/* ---- scripts ---- */

void sl_redis_script_init(struct sl_redis_script *s, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = EVP_Digest(src, strlen(src), md, &len, EVP_sha1(), NULL);
    SL_ASSERT(ok == 1 && len == 20);
    s->src = src;
    for (unsigned i = 0; i < 20; i++) {
        s->sha[2 * i] = hex[md[i] >> 4];
        s->sha[2 * i + 1] = hex[md[i] & 15];
    }
    s->sha[40] = '\0';
}

/* ---- encoding and writing ---- */

static int encode(struct sl_buf *b, size_t argc, const struct sl_str *argv)
{
    int rc = sl_buf_appendf(b, "*%zu\r\n", argc);
    for (size_t i = 0; rc == SL_OK && i < argc; i++) {
        rc = sl_buf_appendf(b, "$%zu\r\n", argv[i].len);
        if (rc == SL_OK)
            rc = sl_buf_append(b, argv[i].ptr, argv[i].len);
        if (rc == SL_OK)
            rc = sl_buf_append(b, "\r\n", 2);
    }
    return rc;
}

static void fail_connection(struct sl_redis *r, const char *why);

static void on_written(h2o_socket_t *sock, const char *err);

static void flush(struct sl_redis *r)
{
    if (r->writing || r->out.len == 0 || r->sock == NULL || r->state < CONN_HANDSHAKE)
        return;
    struct sl_buf tmp = r->inflight;
    r->inflight = r->out;
    r->out = tmp;
    sl_buf_reset(&r->out);
    r->writing = true;
    r->stats.writes++;
    h2o_iovec_t v = h2o_iovec_init(r->inflight.ptr, r->inflight.len);
    h2o_socket_write(r->sock, &v, 1, on_written);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    struct sl_redis *r = sock->data;
    r->writing = false;
    sl_buf_reset(&r->inflight);
    if (err != NULL) {
        fail_connection(r, "write failed: connection closed");
        return;
    }
    flush(r);
}

static void on_flush(h2o_timeout_entry_t *e)
{
    flush(SL_CONTAINER_OF(e, struct sl_redis, flush_entry));
}

/* Queues a command for the write at the end of this loop turn. */
static struct sl_redis_cmd *enqueue(struct sl_redis *r, size_t argc, const struct sl_str *argv,
                                    sl_redis_cb *cb, void *ud)
{
    size_t before = r->out.len;
    if (encode(&r->out, argc, argv) != SL_OK) {
        r->out.len = before; /* over OUT_MAX: refuse this one command, keep the rest */
        return NULL;
    }
    struct sl_redis_cmd *c = sl_xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->ud = ud;
    c->r = r;
    c->sent_ms = now_ms(r);
    if (r->tail != NULL)
        r->tail->next = c;
    else
        r->head = c;
    r->tail = c;
    r->stats.commands++;
    if (!h2o_timeout_is_linked(&r->flush_entry))
        h2o_timeout_link(r->loop, &r->zero, &r->flush_entry);
    return c;
}

/* ---- the connection ---- */

static void close_socket(struct sl_redis *r)
{
    if (r->dns != NULL) {
        h2o_hostinfo_getaddr_cancel(r->dns);
        r->dns = NULL;
    }
    if (r->sock != NULL) {
        h2o_socket_close(r->sock);
        r->sock = NULL;
    }
    r->writing = false;
    sl_buf_reset(&r->out);
    sl_buf_reset(&r->inflight);
    sl_resp_reader_free(r->reader);
    r->reader = NULL;
}

/* Fails every pending command (callbacks after the state is consistent again). */
static void fail_pending(struct sl_redis *r, const char *why)
{
    struct sl_redis_cmd *c = r->head;
    r->head = r->tail = NULL;
    while (c != NULL) {
        struct sl_redis_cmd *next = c->next;
        if (c->cb != NULL)
            c->cb(c->ud, NULL, why);
        free(c);
        c = next;
    }
}

static void fail_connection(struct sl_redis *r, const char *why)
{
    char msg[sizeof(r->why)];
    snprintf(msg, sizeof(msg), "%s", why);
    close_socket(r);
    set_state(r, CONN_IDLE);
    r->was_ready = false;
    r->stats.failures++;
    r->backoff_ms = r->backoff_ms == 0 ? RETRY_FIRST_MS : SL_MIN(r->backoff_ms * 2, RETRY_MAX_MS);
    r->retry_at_ms = now_ms(r) + r->backoff_ms;
    fail_pending(r, msg);
    if (r->on_state != NULL && !r->freeing)
        r->on_state(r->ud, false, msg);
}

static void on_handshake_reply(void *ud, const struct sl_redis_reply *reply, const char *why);

/* The server lost the scripts (SCRIPT FLUSH): load them again. The command that met NOSCRIPT
 * fails; its owner retries. */
static void reload_scripts(struct sl_redis *r)
{
    r->stats.noscript++;
    for (size_t i = 0; i < r->nscripts; i++) {
        struct sl_str a[] = {SL_STRLIT("SCRIPT"), SL_STRLIT("LOAD"),
                             sl_str_from_cstr(r->scripts[i]->src)};
        (void)enqueue(r, 3, a, NULL, NULL);
    }
}

static void deliver(struct sl_redis *r, struct sl_redis_reply *reply)
{
    struct sl_redis_cmd *c = r->head;
    if (c == NULL) {
        sl_redis_reply_free(reply);
        fail_connection(r, "a reply arrived for no command");
        return;
    }
    r->head = c->next;
    if (r->head == NULL)
        r->tail = NULL;
    if (c->handshake) {
        bool bad = reply->type == SL_REDIS_ERROR ||
                   (c->load_script && (reply->type != SL_REDIS_STRING || reply->str.len != 40));
        if (bad) {
            snprintf(r->why, sizeof(r->why), "setup refused: %.*s",
                     (int)SL_MIN(reply->str.len, 120),
                     reply->str.ptr != NULL ? reply->str.ptr : "unexpected reply");
            sl_redis_reply_free(reply);
            free(c);
            fail_connection(r, r->why);
            return;
        }
        on_handshake_reply(r, reply, NULL);
    } else {
        if (reply->type == SL_REDIS_ERROR && sl_str_starts_with(reply->str, SL_STRLIT("NOSCRIPT")))
            reload_scripts(r);
        if (c->cb != NULL)
            c->cb(c->ud, reply, NULL);
    }
    sl_redis_reply_free(reply);
    free(c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct sl_redis *r = sock->data;
    if (err != NULL) {
        fail_connection(r, "connection closed by the server");
        return;
    }
    if (sl_resp_feed(r->reader, sock->input->bytes, sock->input->size) != SL_OK) {
        fail_connection(r, "the server sent more than the client buffers");
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
    for (;;) {
        struct sl_redis_reply *reply;
        const char *why;
        int rc = sl_resp_next(r->reader, &reply, &why);
        if (rc == SL_AGAIN)
            return;
        if (rc != SL_OK) {
            fail_connection(r, why);
            return;
        }
        deliver(r, reply);
        if (r->sock != sock)
            return; /* the connection failed inside */
    }
}

static void become_ready(struct sl_redis *r)
{
    set_state(r, CONN_READY);
    r->was_ready = true;
    r->backoff_ms = 0;
    r->stats.connects++;
    if (r->on_state != NULL)
        r->on_state(r->ud, true, NULL);
}

static void on_handshake_reply(void *ud, const struct sl_redis_reply *reply, const char *why)
{
    struct sl_redis *r = ud;
    SL_UNUSED(reply);
    SL_UNUSED(why);
    SL_ASSERT(r->handshake_left > 0);
    if (--r->handshake_left == 0)
        become_ready(r);
}

static void handshake_cmd(struct sl_redis *r, size_t argc, const struct sl_str *argv, bool load)
{
    struct sl_redis_cmd *c = enqueue(r, argc, argv, NULL, NULL);
    SL_ASSERT(c != NULL);
    c->handshake = true;
    c->load_script = load;
    r->handshake_left++;
}

/* AUTH, SELECT and SCRIPT LOAD, pipelined in one write. */
static void start_handshake(struct sl_redis *r)
{
    const struct sl_redis_config *cfg = r->cfg;
    char db[24];
    set_state(r, CONN_HANDSHAKE);
    r->reader = sl_resp_reader_new();
    r->handshake_left = 0;
    h2o_socket_read_start(r->sock, on_read);
    if (cfg->password != NULL && cfg->username != NULL) {
        struct sl_str a[] = {SL_STRLIT("AUTH"), sl_str_from_cstr(cfg->username),
                             sl_str_from_cstr(cfg->password)};
        handshake_cmd(r, 3, a, false);
    } else if (cfg->password != NULL) {
        struct sl_str a[] = {SL_STRLIT("AUTH"), sl_str_from_cstr(cfg->password)};
        handshake_cmd(r, 2, a, false);
    }
    if (cfg->database != 0) {
        snprintf(db, sizeof(db), "%llu", (unsigned long long)cfg->database);
        struct sl_str a[] = {SL_STRLIT("SELECT"), sl_str_from_cstr(db)};
        handshake_cmd(r, 2, a, false);
    }
    for (size_t i = 0; i < r->nscripts; i++) {
        struct sl_str a[] = {SL_STRLIT("SCRIPT"), SL_STRLIT("LOAD"),
                             sl_str_from_cstr(r->scripts[i]->src)};
        handshake_cmd(r, 3, a, true);
    }
    if (r->handshake_left == 0) {
        /* Nothing to set up: a PING proves the server answers before the client counts as up. */
        struct sl_str a[] = {SL_STRLIT("PING")};
        handshake_cmd(r, 1, a, false);
    }
    flush(r);
}

static void on_tls(h2o_socket_t *sock, const char *err)
{
    struct sl_redis *r = sock->data;
    /* As for upstreams (client.c): the real name or address check ran in the verify callback. */
    if (err != NULL && err != h2o_socket_error_ssl_cert_name_mismatch) {
        snprintf(r->why, sizeof(r->why), "TLS handshake failed: %s", err);
        fail_connection(r, r->why);
        return;
    }
    start_handshake(r);
}

static SSL_CTX *tls_ctx(struct sl_redis *r)
{
    const struct sl_redis_config *cfg = r->cfg;
    char err[256];
    if (r->ssl_ctx != NULL || r->ssl_ctx_tried)
        return r->ssl_ctx;
    r->ssl_ctx_tried = true;
    r->ssl_ctx =
        sl__tls_client_ctx_new(cfg->tls_opts.ca_file, cfg->tls_opts.verify, err, sizeof(err));
    if (r->ssl_ctx == NULL) {
        sl_log_error("ratelimit.redis: TLS context: %s", err);
        return NULL;
    }
    if (cfg->tls_opts.client_cert_file != NULL &&
        (SSL_CTX_use_certificate_chain_file(r->ssl_ctx, cfg->tls_opts.client_cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(r->ssl_ctx, cfg->tls_opts.client_key_file, SSL_FILETYPE_PEM) !=
             1)) {
        const char *reason = ERR_reason_error_string(ERR_peek_last_error());
        sl_log_error("ratelimit.redis: client certificate: %s", reason != NULL ? reason : "?");
        ERR_clear_error();
        SSL_CTX_free(r->ssl_ctx);
        r->ssl_ctx = NULL;
    }
    return r->ssl_ctx;
}

static void on_connected(h2o_socket_t *sock, const char *err)
{
    struct sl_redis *r = sock->data;
    int so_err = 0;
    socklen_t len = sizeof(so_err);
    if (err == NULL &&
        getsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_ERROR, &so_err, &len) == -1)
        so_err = errno;
    if (err != NULL || so_err != 0) {
        snprintf(r->why, sizeof(r->why), "cannot connect to %s:%u: %s", r->cfg->host, r->cfg->port,
                 so_err != 0 ? strerror(so_err) : err);
        fail_connection(r, r->why);
        return;
    }
    if (!r->cfg->tls) {
        start_handshake(r);
        return;
    }
    SSL_CTX *ctx = tls_ctx(r);
    if (ctx == NULL) {
        fail_connection(r, "no TLS context (see the error logged for it)");
        return;
    }
    set_state(r, CONN_TLS);
    h2o_socket_ssl_handshake(sock, ctx, r->cfg->host, on_tls);
}

static int start_tcp(struct sl_redis *r, const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1, idle = KEEPALIVE_SECS;
    if (fd == -1)
        return errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return e;
    }
    r->sock = h2o_evloop_socket_create(r->loop, fd, 0);
    r->sock->data = r;
    set_state(r, CONN_CONNECTING);
    h2o_socket_notify_write(r->sock, on_connected);
    return 0;
}

static void on_dns(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res,
                   void *data)
{
    struct sl_redis *r = data;
    SL_UNUSED(req);
    r->dns = NULL;
    if (errstr != NULL) {
        snprintf(r->why, sizeof(r->why), "cannot resolve %s: %s", r->cfg->host, errstr);
        fail_connection(r, r->why);
        return;
    }
    struct addrinfo *ai = h2o_hostinfo_select_one(res);
    int err = start_tcp(r, ai->ai_addr, ai->ai_addrlen);
    if (err != 0) {
        snprintf(r->why, sizeof(r->why), "cannot connect to %s:%u: %s", r->cfg->host, r->cfg->port,
                 strerror(err));
        fail_connection(r, r->why);
    }
}

static void connect_begin(struct sl_redis *r)
{
    const struct sl_redis_config *cfg = r->cfg;
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    r->connect_deadline_ms = now_ms(r) + cfg->connect_timeout_ms;
    memset(&ss, 0, sizeof(ss));
    int err = -1;
    if (inet_pton(AF_INET, cfg->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg->port);
        err = start_tcp(r, (struct sockaddr *)sin, sizeof(*sin));
    } else if (inet_pton(AF_INET6, cfg->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg->port);
        err = start_tcp(r, (struct sockaddr *)sin6, sizeof(*sin6));
    }
    if (err > 0) {
        snprintf(r->why, sizeof(r->why), "cannot connect to %s:%u: %s", cfg->host, cfg->port,
                 strerror(err));
        fail_connection(r, r->why);
        return;
    }
    if (err == 0)
        return;
    char port[8];
    snprintf(port, sizeof(port), "%u", cfg->port);
    set_state(r, CONN_RESOLVING);
    r->dns = h2o_hostinfo_getaddr(&r->ctx->receivers.hostinfo_getaddr,
                                  h2o_iovec_init(cfg->host, strlen(cfg->host)),
                                  h2o_iovec_init(port, strlen(port)), AF_UNSPEC, SOCK_STREAM,
                                  IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_dns, r);
}

/* Every TICK_MS: reconnect when the backoff is over; drop a connection that takes too long to
 * set up, or whose oldest command waits past timeout_ms (a server that stopped answering). */
static void on_tick(h2o_timeout_entry_t *e)
{
    struct sl_redis *r = SL_CONTAINER_OF(e, struct sl_redis, tick_entry);
    uint64_t now = now_ms(r);
    h2o_timeout_link(r->loop, &r->tick, &r->tick_entry);
    if (r->state == CONN_IDLE) {
        if (now >= r->retry_at_ms)
            connect_begin(r);
        return;
    }
    if (r->state != CONN_READY && now >= r->connect_deadline_ms) {
        snprintf(r->why, sizeof(r->why), "not connected within %llu ms",
                 (unsigned long long)r->cfg->connect_timeout_ms);
        fail_connection(r, r->why);
        return;
    }
    if (r->state == CONN_READY && r->head != NULL && now - r->head->sent_ms >= r->cfg->timeout_ms) {
        r->stats.timeouts++;
        snprintf(r->why, sizeof(r->why), "no reply within %llu ms",
                 (unsigned long long)r->cfg->timeout_ms);
        fail_connection(r, r->why);
    }
}

/* ---- public ---- */

struct sl_redis *sl_redis_new(h2o_context_t *ctx, const struct sl_redis_config *cfg,
                              const struct sl_redis_script *const *scripts, size_t nscripts,
                              sl_redis_state_cb *on_state, void *ud)
{
    struct sl_redis *r = sl_xcalloc(1, sizeof(*r));
    r->ctx = ctx;
    r->loop = ctx->loop;
    r->cfg = cfg;
    r->scripts = scripts;
    r->nscripts = nscripts;
    r->on_state = on_state;
    r->ud = ud;
    sl_buf_init(&r->out, OUT_MAX);
    sl_buf_init(&r->inflight, OUT_MAX);
    h2o_timeout_init(r->loop, &r->zero, 0);
    r->flush_entry.cb = on_flush;
    h2o_timeout_init(r->loop, &r->tick, TICK_MS);
    r->tick_entry.cb = on_tick;
    h2o_timeout_link(r->loop, &r->tick, &r->tick_entry);
    connect_begin(r);
    return r;
}

void sl_redis_free(struct sl_redis *r)
{
    if (r == NULL)
        return;
    r->freeing = true;
    close_socket(r);
    fail_pending(r, "closed");
    if (h2o_timeout_is_linked(&r->flush_entry))
        h2o_timeout_unlink(&r->flush_entry);
    if (h2o_timeout_is_linked(&r->tick_entry))
        h2o_timeout_unlink(&r->tick_entry);
    h2o_timeout_dispose(r->loop, &r->zero);
    h2o_timeout_dispose(r->loop, &r->tick);
    SSL_CTX_free(r->ssl_ctx);
    sl_buf_dispose(&r->out);
    sl_buf_dispose(&r->inflight);
    free(r);
}

bool sl_redis_is_ready(const struct sl_redis *r)
{
    return r->state == CONN_READY;
}

struct sl_redis_cmd *sl_redis_command(struct sl_redis *r, size_t argc, const struct sl_str *argv,
                                      sl_redis_cb *cb, void *ud)
{
    if (r->state != CONN_READY)
        return NULL;
    return enqueue(r, argc, argv, cb, ud);
}

#define MAX_EVAL_ARGS 256

struct sl_redis_cmd *sl_redis_eval(struct sl_redis *r, const struct sl_redis_script *s,
                                   size_t nkeys, size_t argc, const struct sl_str *argv,
                                   sl_redis_cb *cb, void *ud)
{
    struct sl_str words[MAX_EVAL_ARGS + 3];
    char nk[24];
    SL_ASSERT(argc <= MAX_EVAL_ARGS && nkeys <= argc);
    snprintf(nk, sizeof(nk), "%zu", nkeys);
    words[0] = SL_STRLIT("EVALSHA");
    words[1] = sl_str_init(s->sha, 40);
    words[2] = sl_str_from_cstr(nk);
    memcpy(words + 3, argv, argc * sizeof(*argv));
    return sl_redis_command(r, argc + 3, words, cb, ud);
}

void sl_redis_cancel(struct sl_redis_cmd *cmd)
{
    cmd->cb = NULL;
    cmd->ud = NULL;
}

const struct sl_redis_stats *sl_redis_stats(const struct sl_redis *r)
{
    return &r->stats;
}
