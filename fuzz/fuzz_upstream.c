/* Fuzz target for the upstream client's response path (src/upstream/client.c): head parsing,
 * interim 1xx heads, framing (content-length, chunked, until close), chunked decoding across
 * reads, keep-alive decisions, pause/resume and abandoning an exchange from a callback.
 *
 * No network: each run makes a socketpair, parks one end in the client's keep-alive pool as if
 * it were an idle upstream connection, and starts an exchange, which takes that connection and
 * writes its request into it. The other end plays the upstream: it writes the input as the
 * response and then half-closes. (An exchange that fails before any response byte retries on a
 * fresh connection; the origin is a bound but unlistened port, so that fails at once.)
 *
 * Input: byte 0 holds flags (split mode, pause, abandon in on_head or on_body), byte 1 a piece
 * size, the rest is the response. Every response is run twice: written whole, and written in
 * pieces with the loop reading each piece on its own. Both runs must report the same status,
 * body and result; callbacks must come in order and exactly once; and a response reported
 * complete must carry exactly the body its framing says (checked by a plain one-shot decode;
 * gzip and deflate bodies come out decoded, which fuzz_decode checks). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/upstream/upstream_internal.h"
#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/picohttp.h"
#include "sluice/upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The client's own caps (client.c): heads above this may be cut depending on how they arrive. */
#define HEAD_MAX_BYTES (64 * 1024)
#define MAX_LOOP_TURNS 10000
/* Decoded bodies may be far larger than the input; past this the run abandons the exchange. */
#define BODY_CAP (256u * 1024)

enum {
    F_SPLIT = 0x03,         /* 0: whole; 1: pieces of byte1+1; 2: single bytes; 3: two pieces */
    F_PAUSE = 0x04,         /* pause in the first on_body, resume after the next read */
    F_ABANDON_HEAD = 0x08,  /* cancel from inside on_head */
    F_ABANDON_BODY = 0x10,  /* return -1 from the second on_body */
    F_CANCEL_IN_BODY = 0x20 /* sl_upstream_cancel from inside the first on_body */
};

struct world {
    h2o_globalconf_t gc;
    h2o_context_t ctx;
    struct sl_config cfg;
    struct sl_upstreams *u;
    struct sl_origin origin;
    int refuser; /* a bound socket that never listens: connects to its port are refused */
    char host[16], authority[32], key[48];
};

struct outcome {
    struct sl_upstream_req *req;
    uint8_t flags;
    int heads;
    int status;
    int bodies;
    int dones;
    bool paused;
    bool abandoned;
    bool capped; /* abandoned at BODY_CAP, as the proxy abandons a body over its cap */
    enum sl_upstream_error err;
    struct sl_buf body;
};

static struct world *world_get(void)
{
    static struct world w;
    static bool ready;
    if (ready)
        return &w;
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&w.gc);
    h2o_config_register_host(&w.gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_context_init(&w.ctx, h2o_evloop_create(), &w.gc);
    w.cfg.upstream.connect_timeout_ms = 1000;
    w.cfg.upstream.pool_idle_timeout_secs = 30;
    w.cfg.upstream.pool_max_idle_per_host = SL_CONFIG_UNBOUNDED;
    w.u = sl_upstreams_new(&w.ctx, &w.cfg, NULL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sin);
    w.refuser = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(w.refuser != -1 && bind(w.refuser, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK(getsockname(w.refuser, (struct sockaddr *)&sin, &len) == 0);
    snprintf(w.host, sizeof(w.host), "127.0.0.1");
    snprintf(w.authority, sizeof(w.authority), "127.0.0.1:%u", ntohs(sin.sin_port));
    snprintf(w.key, sizeof(w.key), "http://127.0.0.1:%u", ntohs(sin.sin_port));
    w.origin =
        (struct sl_origin){false, w.host, ntohs(sin.sin_port), w.authority, (char *)"", w.key};
    ready = true;
    return &w;
}

static int on_head(void *ud, const struct sl_upstream_head *head)
{
    struct outcome *o = ud;
    CHECK(o->heads == 0 && o->bodies == 0 && o->dones == 0 && !o->abandoned);
    CHECK(head->status >= 200 || head->status < 100);
    o->heads++;
    o->status = head->status;
    if (o->flags & F_ABANDON_HEAD) {
        o->abandoned = true;
        sl_upstream_cancel(o->req);
    }
    return 0;
}

static int on_body(void *ud, const char *p, size_t n)
{
    struct outcome *o = ud;
    CHECK(o->heads == 1 && o->dones == 0 && !o->abandoned && n > 0);
    if (sl_buf_append(&o->body, p, n) != SL_OK) {
        o->abandoned = o->capped = true; /* a decompression bomb */
        return -1;
    }
    o->bodies++;
    if ((o->flags & F_CANCEL_IN_BODY) && o->bodies == 1) {
        o->abandoned = true;
        sl_upstream_cancel(o->req);
        return 0;
    }
    if ((o->flags & F_ABANDON_BODY) && o->bodies == 2) {
        o->abandoned = true;
        return -1;
    }
    if ((o->flags & F_PAUSE) && o->bodies == 1) {
        o->paused = true;
        sl_upstream_pause(o->req);
    }
    return 0;
}

static void on_done(void *ud, enum sl_upstream_error err, const char *detail)
{
    struct outcome *o = ud;
    SL_UNUSED(detail);
    CHECK(o->dones == 0 && !o->abandoned);
    CHECK(err != SL_UPSTREAM_OK || o->heads == 1);
    o->dones++;
    o->err = err;
}

static const struct sl_upstream_cbs cbs = {on_head, on_body, on_done};

static bool finished(const struct outcome *o)
{
    return o->dones != 0 || o->abandoned;
}

static size_t unread(int fd)
{
    int n = 0;
    CHECK(ioctl(fd, FIONREAD, &n) == 0);
    return (size_t)n;
}

/* Turns the loop until the client has read everything the peer wrote (or stopped reading). */
static void settle(struct world *w, struct outcome *o, int client_fd, int peer)
{
    char sink[4096];
    for (int i = 0; i < MAX_LOOP_TURNS && !finished(o); i++) {
        while (read(peer, sink, sizeof(sink)) > 0)
            ; /* the request the client wrote */
        if (o->paused) {
            o->paused = false;
            sl_upstream_resume(o->req);
            continue;
        }
        if (unread(client_fd) == 0)
            return;
        h2o_evloop_run(w->ctx.loop, 0);
    }
}

static void write_all(struct world *w, struct outcome *o, int client_fd, int peer, const char *p,
                      size_t n)
{
    while (n > 0) {
        ssize_t k = write(peer, p, n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else {
            CHECK(k == -1 && errno == EAGAIN);
            if (finished(o))
                return; /* the client left; nobody reads any more */
            h2o_evloop_run(w->ctx.loop, 1);
        }
        settle(w, o, client_fd, peer);
    }
}

static size_t piece_size(uint8_t flags, uint8_t arg, size_t n)
{
    switch (flags & F_SPLIT) {
    case 0:
        return n;
    case 1:
        return (size_t)arg + 1;
    case 2:
        return 1;
    default:
        return SL_MAX((size_t)arg * n / 256, 1);
    }
}

/* One exchange over a fresh socketpair; the response is written in pieces of `step` bytes. */
static void exchange(struct world *w, struct outcome *o, const char *resp, size_t n, size_t step)
{
    static const char request[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 2\r\n\r\n{}";
    static h2o_iovec_t reqbuf[1];
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    struct sl_upconn *c = sl_xcalloc(1, sizeof(*c));
    c->pool = sl__pool_get(w->u, w->origin.key);
    c->sock = h2o_evloop_socket_create(w->ctx.loop, fds[0], 0);
    c->sock->data = c;
    sl__pool_put(c->pool, c);
    reqbuf[0] = h2o_iovec_init(request, sizeof(request) - 1);
    struct sl_upstream_opts opts = {.deadline_ms = 0};
    o->req = sl_upstream_start(w->u, &w->origin, reqbuf, 1, &opts, &cbs, o);
    for (size_t at = 0; at < n && !finished(o); at += step)
        write_all(w, o, fds[0], fds[1], resp + at, SL_MIN(step, n - at));
    shutdown(fds[1], SHUT_WR);
    for (int i = 0; i < MAX_LOOP_TURNS && !finished(o); i++) {
        if (o->paused) {
            o->paused = false;
            sl_upstream_resume(o->req);
        }
        h2o_evloop_run(w->ctx.loop, 10);
    }
    CHECK(finished(o)); /* EOF must end every exchange */
    close(fds[1]);
    /* A clean keep-alive exchange parked the connection; drop it so the next run starts bare. */
    sl__pools_dispose(w->u);
    h2o_evloop_run(w->ctx.loop, 0); /* frees closed sockets */
}

/* The final head after interim 1xx heads, parsed in one go: *at is where its body starts. */
static int final_head(const char *p, size_t n, size_t *at, struct phr_header *hs, size_t *nh,
                      int *status)
{
    size_t cap = *nh;
    *at = 0;
    for (;;) {
        int minor;
        const char *msg;
        size_t msg_len;
        *nh = cap;
        int len = phr_parse_response(p + *at, n - *at, &minor, status, &msg, &msg_len, hs, nh, 0);
        if (len < 0)
            return len;
        *at += (size_t)len;
        if (*status < 100 || *status >= 200)
            return 0;
    }
}

static bool name_is(const struct phr_header *h, const char *name)
{
    size_t n = strlen(name);
    if (h->name == NULL || h->name_len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h->name[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != name[i])
            return false;
    }
    return true;
}

/* True when a header value lists anything but identity (and chunked, for transfer codings). */
static bool names_coding(const struct phr_header *h, bool transfer)
{
    struct sl_str v = sl_str_init(h->value, h->value_len);
    while (v.len > 0) {
        const char *comma = memchr(v.ptr, ',', v.len);
        size_t k = comma != NULL ? (size_t)(comma - v.ptr) : v.len;
        struct sl_str t = sl_str_trim(sl_str_init(v.ptr, k));
        if (t.len != 0 && !sl_str_ieq_lit(t, "identity") &&
            !(transfer && sl_str_ieq_lit(t, "chunked")))
            return true;
        v = comma != NULL ? sl_str_init(comma + 1, v.len - k - 1) : sl_str_init(v.ptr + k, 0);
    }
    return false;
}

/* A response reported complete: its body must be what its framing says. A coded body (gzip,
 * deflate) comes out decoded, which fuzz_decode checks; here only its framing must hold. */
static void check_complete(const char *resp, size_t n, const struct outcome *o)
{
    struct phr_header hs[100];
    size_t nh = 100, at;
    int status;
    CHECK(final_head(resp, n, &at, hs, &nh, &status) == 0);
    CHECK(status == o->status);
    const struct phr_header *te = NULL, *cl = NULL;
    bool coded = false;
    for (size_t i = 0; i < nh; i++) {
        if (name_is(&hs[i], "transfer-encoding")) {
            te = &hs[i];
            coded = coded || names_coding(&hs[i], true);
        } else if (name_is(&hs[i], "content-length")) {
            cl = &hs[i];
        } else if (name_is(&hs[i], "content-encoding")) {
            coded = coded || names_coding(&hs[i], false);
        }
    }
    struct sl_str got = sl_buf_str(&o->body);
    if (coded && status != 204 && status != 304)
        return;
    if (status == 204 || status == 304) {
        CHECK(got.len == 0);
    } else if (te != NULL) {
        struct phr_chunked_decoder d = {.consume_trailer = 1};
        size_t m = n - at;
        char *copy = sl_xmalloc(m + 1);
        memcpy(copy, resp + at, m);
        ssize_t rc = phr_decode_chunked(&d, copy, &m);
        CHECK(rc >= 0);
        CHECK(got.len == m && (m == 0 || memcmp(got.ptr, copy, m) == 0));
        free(copy);
    } else if (cl != NULL) {
        uint64_t want = strtoull(cl->value, NULL, 10);
        CHECK(got.len == want && at + want <= n);
        CHECK(want == 0 || memcmp(got.ptr, resp + at, want) == 0);
    } else {
        CHECK(got.len == n - at && (got.len == 0 || memcmp(got.ptr, resp + at, got.len) == 0));
    }
}

/* A failed exchange may have delivered a different amount before the failure: a read that
 * holds good chunks and then a broken one delivers nothing, the same chunks read one by one are
 * delivered before the broken one shows up. What was delivered must still agree. */
static bool one_prefixes_other(struct sl_str a, struct sl_str b)
{
    size_t n = SL_MIN(a.len, b.len);
    return n == 0 || memcmp(a.ptr, b.ptr, n) == 0;
}

/* Given a head it has seen part of before (last_len != 0), phr_parse_response only looks for
 * the blank line that ends it, so a malformed head that never ends fails as "protocol" when it
 * arrives whole but as "reset" (EOF before the head) when it trickles in. Both are 502s. */
static bool same_head_failure(const struct outcome *a, const struct outcome *b)
{
    return a->heads == 0 && b->heads == 0 &&
           (a->err == SL_UPSTREAM_ERR_PROTOCOL || a->err == SL_UPSTREAM_ERR_RESET) &&
           (b->err == SL_UPSTREAM_ERR_PROTOCOL || b->err == SL_UPSTREAM_ERR_RESET);
}

/* A read that holds both a framing error and, before it, corrupt coded data fails as
 * "protocol" (the framing of the whole read is checked before anything is decoded); the same
 * bytes read piece by piece reach the decoder first and fail as "decode". Both are 502s. */
static bool same_body_failure(const struct outcome *a, const struct outcome *b)
{
    return a->heads == b->heads &&
           (a->err == SL_UPSTREAM_ERR_PROTOCOL || a->err == SL_UPSTREAM_ERR_DECODE) &&
           (b->err == SL_UPSTREAM_ERR_PROTOCOL || b->err == SL_UPSTREAM_ERR_DECODE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct world *w = world_get();
    const char *resp = (const char *)data + 2;
    size_t n = size - 2;
    struct outcome whole = {.flags = (uint8_t)(data[0] & ~F_SPLIT)};
    struct outcome split = {.flags = data[0]};
    sl_buf_init(&whole.body, BODY_CAP);
    sl_buf_init(&split.body, BODY_CAP);
    exchange(w, &whole, resp, n, n != 0 ? n : 1);
    exchange(w, &split, resp, n, piece_size(data[0], data[1], n));
    if (getenv("FUZZ_UPSTREAM_VERBOSE") != NULL)
        for (int i = 0; i < 2; i++) {
            const struct outcome *o = i == 0 ? &whole : &split;
            fprintf(stderr, "%s: status=%d err=%s abandoned=%d body=%zu bytes\n",
                    i == 0 ? "whole" : "split", o->status, sl_upstream_error_name(o->err),
                    o->abandoned, o->body.len);
        }
    if (!whole.abandoned && whole.err == SL_UPSTREAM_OK)
        check_complete(resp, n, &whole);
    /* Splits change nothing, except where a head grows past the cap before it is complete. */
    /* A run that stopped at the cap may have seen less (or more) than the other before a
     * failure: a failing inflate call's output is dropped, pieces differ in size. */
    if (n <= HEAD_MAX_BYTES && !(data[0] & (F_ABANDON_BODY | F_CANCEL_IN_BODY | F_PAUSE)) &&
        !whole.capped && !split.capped) {
        CHECK(whole.abandoned == split.abandoned && whole.heads == split.heads);
        CHECK(whole.status == split.status);
        CHECK(whole.err == split.err || same_head_failure(&whole, &split) ||
              same_body_failure(&whole, &split));
        if (whole.err == SL_UPSTREAM_OK)
            CHECK(sl_str_eq(sl_buf_str(&whole.body), sl_buf_str(&split.body)));
        else
            CHECK(one_prefixes_other(sl_buf_str(&whole.body), sl_buf_str(&split.body)));
    }
    if (!split.abandoned && split.err == SL_UPSTREAM_OK)
        check_complete(resp, n, &split);
    sl_buf_dispose(&whole.body);
    sl_buf_dispose(&split.body);
    return 0;
}
