/* The upstream client against a scripted HTTP server on a thread: framing (content-length,
 * chunked split anywhere, until-close, interim 100), keep-alive reuse, the transparent retry on
 * a dead pooled connection, connect errors with their reason, deadline and idle timeouts,
 * pause/resume, cancel, malformed and oversized heads, and a CONNECT tunnel through a proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/decode.h"
#include "sluice/picohttp.h"
#include "sluice/proxy_env.h"
#include "sluice/upstream.h"
/* The failure log's rate limit lives in the pool; a test rewinds it instead of waiting 10 s. */
#include "../../src/upstream/upstream_internal.h"

int main(void);

/* ---- scripted server ---- */

#define MAX_STEPS 16

struct step {
    const char *data;  /* bytes to write; NULL ends the step list */
    unsigned delay_ms; /* sleep before writing */
};

struct script {
    struct step steps[MAX_STEPS];
    size_t lens[MAX_STEPS]; /* bytes of steps[i].data when it holds NULs; 0: strlen */
    bool close_after;       /* close the connection after the steps */
    unsigned hold_ms;       /* keep the connection open this long before closing */
};

struct server {
    int fd;
    uint16_t port;
    pthread_t thread;
    struct script scripts[8]; /* one per request, in order (keep-alive or new connection) */
    size_t n_scripts;
    int requests_seen;
    int connections_seen;
    bool close_idle_after_first; /* after script 0, close the connection (stale-pool test) */
    char last_request[4096];
};

static int read_request(int c, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(c, buf + len, cap - len - 1, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strcasestr(buf, "content-length:");
        size_t body = cl != NULL && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - buf) + body)
            return 0;
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    size_t next = 0;
    while (next < s->n_scripts) {
        int c = accept(s->fd, NULL, NULL);
        if (c == -1)
            break;
        s->connections_seen++;
        for (; next < s->n_scripts; next++) {
            if (read_request(c, s->last_request, sizeof(s->last_request)) != 0)
                break;
            s->requests_seen++;
            struct script *sc = &s->scripts[next];
            for (int i = 0; i < MAX_STEPS && sc->steps[i].data != NULL; i++) {
                if (sc->steps[i].delay_ms)
                    usleep(sc->steps[i].delay_ms * 1000);
                size_t len = sc->lens[i] != 0 ? sc->lens[i] : strlen(sc->steps[i].data);
                if (send(c, sc->steps[i].data, len, MSG_NOSIGNAL) == -1)
                    break;
            }
            if (sc->hold_ms)
                usleep(sc->hold_ms * 1000);
            if (sc->close_after || (next == 0 && s->close_idle_after_first)) {
                next++;
                break;
            }
        }
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sin);
    int on = 1;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    getsockname(s->fd, (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
    pthread_create(&s->thread, NULL, server_main, s);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
}

/* ---- client side ---- */

struct world {
    h2o_globalconf_t gc;
    h2o_context_t ctx;
    struct sl_config cfg;
    struct sl_upstreams *u;
    struct sl_origin origin;
    char host[64], authority[64], key[96];
};

struct result {
    int status;
    struct sl_buf body;
    bool done;
    enum sl_upstream_error err;
    char detail[256];
    bool pause_on_first_body;
    bool pause_each_body; /* pause after every piece; run_resuming resumes */
    bool paused;
    bool cancel_on_head;
    bool cancel_on_body;
    size_t stop_after; /* abandon once the body passes this many bytes (a caller's cap); 0: no */
    size_t heads, bodies, largest_body;
    const char *rid; /* request id for the failure log */
    struct sl_upstream_req *req;
    struct world *w;
};

static int on_head(void *ud, const struct sl_upstream_head *head)
{
    struct result *r = ud;
    r->heads++;
    r->status = head->status;
    if (r->cancel_on_head) {
        sl_upstream_cancel(r->req);
        r->done = true;
    }
    return 0;
}

static int on_body(void *ud, const char *data, size_t len)
{
    struct result *r = ud;
    assert_int_equal(sl_buf_append(&r->body, data, len), SL_OK);
    r->bodies++;
    r->largest_body = SL_MAX(r->largest_body, len);
    if (r->cancel_on_body || (r->stop_after != 0 && r->body.len > r->stop_after)) {
        r->done = true;
        return -1;
    }
    if (r->pause_each_body) {
        assert_false(r->paused); /* no piece after a pause */
        r->paused = true;
        sl_upstream_pause(r->req);
    }
    if (r->pause_on_first_body) {
        r->pause_on_first_body = false;
        sl_upstream_pause(r->req);
    }
    return 0;
}

static void on_done(void *ud, enum sl_upstream_error err, const char *detail)
{
    struct result *r = ud;
    r->done = true;
    r->err = err;
    snprintf(r->detail, sizeof(r->detail), "%s", detail != NULL ? detail : "");
}

static const struct sl_upstream_cbs cbs = {on_head, on_body, on_done};

static void world_init(struct world *w, uint16_t port, const struct sl_proxy_env *pe)
{
    memset(w, 0, sizeof(*w));
    h2o_config_init(&w->gc);
    h2o_config_register_host(&w->gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_context_init(&w->ctx, h2o_evloop_create(), &w->gc);
    w->cfg.upstream.connect_timeout_ms = 2000;
    w->cfg.upstream.pool_idle_timeout_secs = 30;
    w->cfg.upstream.pool_max_idle_per_host = SL_CONFIG_UNBOUNDED;
    w->cfg.upstream.tls.verify = true;
    w->u = sl_upstreams_new(&w->ctx, &w->cfg, pe);
    snprintf(w->host, sizeof(w->host), "127.0.0.1");
    snprintf(w->authority, sizeof(w->authority), "127.0.0.1:%u", port);
    snprintf(w->key, sizeof(w->key), "http://127.0.0.1:%u", port);
    w->origin = (struct sl_origin){false, w->host, port, w->authority, (char *)"", w->key};
}

static void world_dispose(struct world *w)
{
    sl_upstreams_free(w->u);
    h2o_evloop_t *loop = w->ctx.loop;
    h2o_multithread_queue_t *queue = w->ctx.queue;
    h2o_context_dispose(&w->ctx);
    free(queue); /* h2o 2.2.5's evloop h2o_multithread_destroy_queue does not free it */
    /* Closed sockets (the context's queue pipe, pooled connections) are freed by the loop's
     * next turn. */
    h2o_evloop_run(loop, 0);
    h2o_evloop_destroy(loop);
    h2o_config_dispose(&w->gc);
}

static const char request_text[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                   "Content-Length: 2\r\n\r\n{}";

static void run(struct world *w, struct result *r, uint64_t deadline_ms, uint64_t idle_ms)
{
    static h2o_iovec_t req[1];
    req[0] = h2o_iovec_init(request_text, sizeof(request_text) - 1);
    struct sl_upstream_opts opts = {
        .deadline_ms = deadline_ms, .idle_ms = idle_ms, .request_id = sl_str_from_cstr(r->rid)};
    r->w = w;
    sl_buf_init(&r->body, 1 << 20);
    r->req = sl_upstream_start(w->u, &w->origin, req, 1, &opts, &cbs, r);
    while (!r->done)
        h2o_evloop_run(w->ctx.loop, 100);
}

/* Like run, but resumes the exchange each time on_body paused it. */
static void run_resuming(struct world *w, struct result *r, size_t body_cap)
{
    static h2o_iovec_t req[1];
    req[0] = h2o_iovec_init(request_text, sizeof(request_text) - 1);
    struct sl_upstream_opts opts = {.deadline_ms = 10000, .request_id = SL_STRLIT("rid-resume")};
    r->w = w;
    sl_buf_init(&r->body, body_cap);
    r->req = sl_upstream_start(w->u, &w->origin, req, 1, &opts, &cbs, r);
    while (!r->done) {
        if (r->paused) {
            r->paused = false;
            sl_upstream_resume(r->req);
        } else {
            h2o_evloop_run(w->ctx.loop, 100);
        }
    }
}

static void loop_for(struct world *w, unsigned ms)
{
    uint64_t end = h2o_now(w->ctx.loop) + ms;
    while (h2o_now(w->ctx.loop) < end)
        h2o_evloop_run(w->ctx.loop, 10);
}

#define RESP_HEAD "HTTP/1.1 200 OK\r\n"

static void test_content_length_and_reuse(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 2};
    s.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 5\r\n\r\nhe", 0};
    s.scripts[0].steps[1] = (struct step){"llo", 20};
    s.scripts[1].steps[0] = (struct step){RESP_HEAD "Content-Length: 3\r\n\r\nabc", 0};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result a = {0}, b = {0};
    run(&w, &a, 5000, 0);
    assert_int_equal(a.err, SL_UPSTREAM_OK);
    assert_int_equal(a.status, 200);
    assert_string_equal(sl_buf_cstr(&a.body), "hello");
    run(&w, &b, 5000, 0);
    assert_int_equal(b.err, SL_UPSTREAM_OK);
    assert_string_equal(sl_buf_cstr(&b.body), "abc");
    assert_int_equal(s.connections_seen, 1);
    assert_int_equal(sl_upstreams_stats(w.u)->connections_reused, 1);
    assert_non_null(strstr(s.last_request, "POST /v1/chat/completions HTTP/1.1\r\n"));
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&a.body);
    sl_buf_dispose(&b.body);
}

/* AISIX's 0s: pool_max_idle_per_host 0 keeps no idle connection, connect_timeout_ms 0 is no
 * connect deadline (a 0 ms timer would fail every connect at once). */
static void test_zero_pool_and_connect_timeout(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 2};
    s.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 2\r\n\r\nok", 0};
    s.scripts[1].steps[0] = (struct step){RESP_HEAD "Content-Length: 2\r\n\r\nok", 0};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    sl_upstreams_free(w.u);
    w.cfg.upstream.pool_max_idle_per_host = 0;
    w.cfg.upstream.connect_timeout_ms = 0;
    w.u = sl_upstreams_new(&w.ctx, &w.cfg, NULL);
    struct result a = {0}, b = {0};
    run(&w, &a, 5000, 0);
    assert_int_equal(a.err, SL_UPSTREAM_OK);
    run(&w, &b, 5000, 0);
    assert_int_equal(b.err, SL_UPSTREAM_OK);
    assert_int_equal(s.connections_seen, 2);
    assert_int_equal(sl_upstreams_stats(w.u)->connections_reused, 0);
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&a.body);
    sl_buf_dispose(&b.body);
}

static void test_chunked_split_everywhere(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 1};
    const char *parts[] = {RESP_HEAD "Transfer-Encoding: chunked\r\n\r\n",
                           "5\r",
                           "\nhel",
                           "lo\r\n",
                           "1",
                           "0\r\n world, and ",
                           "more\r\n0\r",
                           "\n\r\n",
                           NULL};
    for (int i = 0; parts[i] != NULL; i++)
        s.scripts[0].steps[i] = (struct step){parts[i], i == 0 ? 0 : 5};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_OK);
    assert_string_equal(sl_buf_cstr(&r.body), "hello world, and more");
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&r.body);
}

static void test_until_close_and_interim(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 1};
    s.scripts[0].steps[0] = (struct step){"HTTP/1.1 100 Continue\r\n\r\n", 0};
    s.scripts[0].steps[1] = (struct step){"HTTP/1.0 200 OK\r\n\r\nuntil-", 5};
    s.scripts[0].steps[2] = (struct step){"close", 5};
    s.scripts[0].close_after = true;
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(sl_buf_cstr(&r.body), "until-close");
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&r.body);
}

static void test_stale_pooled_connection_is_retried(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 2, .close_idle_after_first = true};
    s.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 1\r\n\r\na", 0};
    s.scripts[1].steps[0] = (struct step){RESP_HEAD "Content-Length: 1\r\n\r\nb", 0};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result a = {0}, b = {0};
    run(&w, &a, 5000, 0);
    assert_string_equal(sl_buf_cstr(&a.body), "a");
    /* The server closes the kept-alive connection; the pool may or may not have noticed. */
    usleep(50 * 1000);
    run(&w, &b, 5000, 0);
    assert_int_equal(b.err, SL_UPSTREAM_OK);
    assert_string_equal(sl_buf_cstr(&b.body), "b");
    assert_int_equal(s.connections_seen, 2);
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&a.body);
    sl_buf_dispose(&b.body);
}

static void count_idle_closed(void *data)
{
    (*(int *)data)++;
}

/* A pooled connection the upstream closes while idle is freed at once, and the worker hears of
 * it (it gives the memory back once quiet). */
static void test_idle_close_is_reported(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 1, .close_idle_after_first = true};
    s.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 1\r\n\r\na", 0};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    int closed = 0;
    sl_upstreams_on_idle_closed(w.u, count_idle_closed, &closed);
    struct result a = {0};
    run(&w, &a, 5000, 0);
    assert_int_equal(a.err, SL_UPSTREAM_OK);
    assert_int_equal(closed, 0);
    /* Bounded only so that a missing callback fails instead of hanging. */
    uint64_t give_up = h2o_now(w.ctx.loop) + 5000;
    while (closed == 0 && h2o_now(w.ctx.loop) < give_up)
        h2o_evloop_run(w.ctx.loop, 10);
    assert_int_equal(closed, 1);
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&a.body);
}

static void test_connect_refused(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s);
    uint16_t port = s.port;
    server_stop(&s); /* nothing listens there now */
    struct world w;
    world_init(&w, port, NULL);
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_ERR_CONNECT);
    char want[128];
    snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%u: Connection refused", port);
    assert_string_equal(r.detail, want);
    world_dispose(&w);
    sl_buf_dispose(&r.body);
}

static void test_dns_failure(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 80, NULL);
    snprintf(w.host, sizeof(w.host), "no-such-host.invalid");
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_ERR_DNS);
    assert_non_null(strstr(r.detail, "cannot resolve no-such-host.invalid"));
    world_dispose(&w);
    sl_buf_dispose(&r.body);
}

static void test_deadline_and_idle(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 1}, s2 = {.n_scripts = 1};
    s.scripts[0].hold_ms = 400; /* never answers */
    s.scripts[0].close_after = true;
    s2.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 10\r\n\r\nabc", 0};
    s2.scripts[0].hold_ms = 400; /* then stalls */
    s2.scripts[0].close_after = true;
    server_start(&s);
    server_start(&s2);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result a = {0}, b = {0};
    run(&w, &a, 100, 0);
    assert_int_equal(a.err, SL_UPSTREAM_ERR_DEADLINE);
    assert_string_equal(a.detail, "no complete response within 100 ms");
    w.origin.port = s2.port;
    snprintf(w.key, sizeof(w.key), "http://127.0.0.1:%u", s2.port);
    run(&w, &b, 0, 100);
    assert_int_equal(b.err, SL_UPSTREAM_ERR_IDLE);
    assert_string_equal(sl_buf_cstr(&b.body), "abc");
    assert_string_equal(b.detail, "nothing received for 100 ms");
    world_dispose(&w);
    server_stop(&s);
    server_stop(&s2);
    sl_buf_dispose(&a.body);
    sl_buf_dispose(&b.body);
}

static void test_pause_resume(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 1};
    s.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 6\r\n\r\nabc", 0};
    s.scripts[0].steps[1] = (struct step){"def", 30};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r = {.pause_on_first_body = true};
    static h2o_iovec_t req[1];
    req[0] = h2o_iovec_init(request_text, sizeof(request_text) - 1);
    struct sl_upstream_opts opts = {.deadline_ms = 5000, .idle_ms = 50};
    sl_buf_init(&r.body, 1024);
    r.req = sl_upstream_start(w.u, &w.origin, req, 1, &opts, &cbs, &r);
    while (r.body.len == 0)
        h2o_evloop_run(w.ctx.loop, 100);
    loop_for(&w, 150); /* paused longer than the idle timeout: not an idle failure */
    assert_false(r.done);
    assert_string_equal(sl_buf_cstr(&r.body), "abc");
    sl_upstream_resume(r.req);
    while (!r.done)
        h2o_evloop_run(w.ctx.loop, 100);
    assert_int_equal(r.err, SL_UPSTREAM_OK);
    assert_string_equal(sl_buf_cstr(&r.body), "abcdef");
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&r.body);
}

static void test_cancel_and_abandon(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 3};
    s.scripts[0].steps[0] = (struct step){RESP_HEAD "Content-Length: 3\r\n\r\nabc", 0};
    s.scripts[1].steps[0] = (struct step){RESP_HEAD "Content-Length: 3\r\n\r\nabc", 0};
    s.scripts[2].steps[0] = (struct step){RESP_HEAD "Content-Length: 3\r\n\r\nxyz", 0};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result a = {.cancel_on_head = true}, b = {.cancel_on_body = true}, c = {0};
    run(&w, &a, 5000, 0);
    assert_int_equal(a.status, 200);
    run(&w, &b, 5000, 0);
    run(&w, &c, 5000, 0);
    assert_int_equal(c.err, SL_UPSTREAM_OK);
    assert_string_equal(sl_buf_cstr(&c.body), "xyz");
    assert_int_equal(s.connections_seen, 3); /* cancelled exchanges never return to the pool */
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&a.body);
    sl_buf_dispose(&b.body);
    sl_buf_dispose(&c.body);
}

static void test_bad_responses(void **state)
{
    (void)state;
    static char big[70 * 1024];
    memcpy(big, RESP_HEAD, sizeof(RESP_HEAD) - 1);
    memset(big + sizeof(RESP_HEAD) - 1, 'x', sizeof(big) - sizeof(RESP_HEAD));
    struct server s = {.n_scripts = 4};
    s.scripts[0].steps[0] = (struct step){"garbage\r\n\r\n", 0};
    s.scripts[0].close_after = true;
    s.scripts[1].steps[0] = (struct step){big, 0};
    s.scripts[1].close_after = true;
    s.scripts[2].steps[0] = (struct step){RESP_HEAD "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 0};
    s.scripts[2].close_after = true;
    s.scripts[3].steps[0] =
        (struct step){RESP_HEAD "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 0};
    s.scripts[3].close_after = true;
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r[4] = {{0}};
    for (int i = 0; i < 4; i++)
        run(&w, &r[i], 5000, 0);
    assert_int_equal(r[0].err, SL_UPSTREAM_ERR_PROTOCOL);
    assert_string_equal(r[0].detail, "malformed response head");
    assert_int_equal(r[1].err, SL_UPSTREAM_ERR_TOO_LARGE);
    assert_int_equal(r[2].err, SL_UPSTREAM_ERR_PROTOCOL);
    assert_string_equal(r[2].detail, "malformed chunked encoding");
    assert_int_equal(r[3].err, SL_UPSTREAM_ERR_PROTOCOL);
    assert_string_equal(r[3].detail, "response framing cannot be trusted");
    world_dispose(&w);
    server_stop(&s);
    for (int i = 0; i < 4; i++)
        sl_buf_dispose(&r[i].body);
}

/* A minimal CONNECT proxy on a thread: answers 200 and relays both ways. */
struct proxy {
    int fd;
    uint16_t port;
    pthread_t thread;
    char connect_line[256];
    char request[1024]; /* everything the client sent first */
    bool refuse;
    const char *reply; /* sent instead of relaying, then the connection is closed */
};

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    int c = accept(p->fd, NULL, NULL);
    if (c == -1)
        return NULL;
    char buf[4096];
    ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        goto out;
    buf[n] = '\0';
    snprintf(p->connect_line, sizeof(p->connect_line), "%.*s", (int)strcspn(buf, "\r"), buf);
    size_t keep = SL_MIN((size_t)n, sizeof(p->request) - 1);
    memcpy(p->request, buf, keep);
    p->request[keep] = '\0';
    if (p->reply != NULL) {
        send(c, p->reply, strlen(p->reply), MSG_NOSIGNAL);
        goto out;
    }
    if (p->refuse) {
        const char *no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        send(c, no, strlen(no), MSG_NOSIGNAL);
        goto out;
    }
    unsigned port = 0;
    sscanf(buf, "CONNECT 127.0.0.1:%u", &port);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(0x7f000001)};
    int up = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(up, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        goto out;
    const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    send(c, ok, strlen(ok), MSG_NOSIGNAL);
    /* one request, one response: relay client→upstream once, then upstream→client */
    n = recv(c, buf, sizeof(buf), 0);
    send(up, buf, (size_t)n, MSG_NOSIGNAL);
    while ((n = recv(up, buf, sizeof(buf), 0)) > 0)
        send(c, buf, (size_t)n, MSG_NOSIGNAL);
    close(up);
out:
    close(c);
    return NULL;
}

static void test_connect_tunnel(void **state)
{
    (void)state;
    /* The tunnel is used for https origins; a plain-http origin over a CONNECT tunnel would
     * need TLS to the test server, so the test checks the tunnel leg and the refusal. */
    struct proxy p = {.refuse = true};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sin);
    p.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(p.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    listen(p.fd, 4);
    getsockname(p.fd, (struct sockaddr *)&sin, &len);
    p.port = ntohs(sin.sin_port);
    pthread_create(&p.thread, NULL, proxy_main, &p);

    char proxy_env[64];
    snprintf(proxy_env, sizeof(proxy_env), "HTTPS_PROXY=http://user:pw@127.0.0.1:%u", p.port);
    char *envp[] = {proxy_env, NULL};
    struct sl_proxy_env pe;
    struct sl_diag d;
    sl_diag_init(&d, "env");
    assert_int_equal(sl_proxy_env_load(envp, &pe, &d), SL_OK);
    struct world w;
    world_init(&w, 443, &pe);
    w.origin.tls = true;
    snprintf(w.key, sizeof(w.key), "https://127.0.0.1:443");
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_ERR_PROXY);
    char want[160];
    snprintf(want, sizeof(want),
             "proxy http://127.0.0.1:%u refused CONNECT to 127.0.0.1:443: 403 Forbidden", p.port);
    assert_string_equal(r.detail, want);
    assert_string_equal(p.connect_line, "CONNECT 127.0.0.1:443 HTTP/1.1");
    pthread_join(p.thread, NULL);
    close(p.fd);
    world_dispose(&w);
    sl_proxy_env_dispose(&pe);
    sl_diag_dispose(&d);
    sl_buf_dispose(&r.body);
}

static void test_no_proxy(void **state)
{
    (void)state;
    char *envp[] = {(char *)"HTTPS_PROXY=proxy.local:3128",
                    (char *)"NO_PROXY=.internal, example.com,10.0.0.0/8,[::1],127.0.0.1:8443",
                    NULL};
    struct sl_proxy_env pe;
    struct sl_diag d;
    sl_diag_init(&d, "env");
    assert_int_equal(sl_proxy_env_load(envp, &pe, &d), SL_OK);
    assert_non_null(sl_proxy_env_select(&pe, true, "api.openai.com", 443));
    assert_null(sl_proxy_env_select(&pe, false, "api.openai.com", 80)); /* no HTTP_PROXY */
    assert_null(sl_proxy_env_select(&pe, true, "llm.internal", 443));
    assert_null(sl_proxy_env_select(&pe, true, "example.com", 443));
    assert_null(sl_proxy_env_select(&pe, true, "api.example.com", 443));
    assert_non_null(sl_proxy_env_select(&pe, true, "notexample.com", 443));
    assert_null(sl_proxy_env_select(&pe, true, "10.1.2.3", 443));
    assert_non_null(sl_proxy_env_select(&pe, true, "11.1.2.3", 443));
    assert_null(sl_proxy_env_select(&pe, true, "::1", 443));
    assert_null(sl_proxy_env_select(&pe, true, "127.0.0.1", 8443));
    assert_non_null(sl_proxy_env_select(&pe, true, "127.0.0.1", 443));
    assert_string_equal(pe.https.display, "http://proxy.local:3128");
    sl_proxy_env_dispose(&pe);
    char *bad[] = {(char *)"https_proxy=https://p:1", NULL};
    assert_int_equal(sl_proxy_env_load(bad, &pe, &d), SL_ERR);
    assert_string_equal(d.entries[0].msg,
                        "environment https_proxy=\"https://p:1\": https:// proxies are not "
                        "supported; use an http:// proxy URL (the tunnel to the upstream is still "
                        "TLS)");
    /* The value is named, its password never. */
    char *secret[] = {(char *)"HTTP_PROXY=http://user:s3cret@proxy.local:99999", NULL};
    assert_int_equal(sl_proxy_env_load(secret, &pe, &d), SL_ERR);
    assert_null(strstr(d.entries[1].msg, "s3cret"));
    assert_non_null(strstr(d.entries[1].msg,
                           "environment HTTP_PROXY=\"http://***@proxy.local:99999\": "
                           "invalid proxy URL ("));
    sl_diag_dispose(&d);
}

/* ---- coded bodies ---- */

/* zlib-compresses src (gzip, zlib or raw deflate by window bits); heap memory. */
static struct sl_str compress_bits(struct sl_str src, int bits)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)src.len) + 16;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)src.ptr;
    z.avail_in = (uInt)src.len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return sl_str_init((const char *)out, n);
}

#define GZIP_BITS (16 + MAX_WBITS)

/* Some text that compresses well but not to nothing. */
static char *sample_text(size_t n)
{
    char *t = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        t[i] = (char)('a' + (i * 7 + i / 13) % 26);
    t[n] = '\0';
    return t;
}

/* A 200 KB body gzipped over Content-Length, the caller pausing after every piece: it comes
 * back whole, in pieces of at most 16 KiB, each one only after a resume. */
static void test_gzip_body_paused_after_every_piece(void **state)
{
    (void)state;
    size_t n = 200 * 1024;
    char *text = sample_text(n);
    struct sl_str gz = compress_bits(sl_str_init(text, n), GZIP_BITS);
    char head[128];
    snprintf(head, sizeof(head), RESP_HEAD "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
             gz.len);
    struct server s = {.n_scripts = 2};
    s.scripts[0].steps[0] = (struct step){head, 0};
    s.scripts[0].steps[1] = (struct step){gz.ptr, 5};
    s.scripts[0].lens[1] = gz.len / 3;
    s.scripts[0].steps[2] = (struct step){gz.ptr + gz.len / 3, 5};
    s.scripts[0].lens[2] = gz.len - gz.len / 3;
    s.scripts[1].steps[0] = (struct step){RESP_HEAD "Content-Length: 2\r\n\r\nok", 0};
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r = {.pause_each_body = true}, again = {0};
    run_resuming(&w, &r, n + 1);
    assert_int_equal(r.err, SL_UPSTREAM_OK);
    assert_int_equal(r.body.len, n);
    assert_memory_equal(r.body.ptr, text, n);
    assert_true(r.largest_body <= SL_DECODE_PIECE_BYTES);
    assert_true(r.bodies >= n / SL_DECODE_PIECE_BYTES);
    /* The decoded exchange left the connection reusable. */
    run(&w, &again, 5000, 0);
    assert_string_equal(sl_buf_cstr(&again.body), "ok");
    assert_int_equal(s.connections_seen, 1);
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&r.body);
    sl_buf_dispose(&again.body);
    free((void *)gz.ptr);
    free(text);
}

/* Content-Encoding: deflate under Transfer-Encoding: gzip, chunked, cut at odd places. */
static void test_stacked_codings_chunked(void **state)
{
    (void)state;
    static const char json[] =
        "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"stacked\"}}]}";
    struct sl_str inner = compress_bits(SL_STRLIT(json), MAX_WBITS);
    struct sl_str outer = compress_bits(inner, GZIP_BITS);
    size_t half = outer.len / 2;
    char *wire = malloc(outer.len + 256);
    int k =
        sprintf(wire,
                RESP_HEAD "Content-Encoding: deflate\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                          "%zx\r\n",
                half);
    size_t len = (size_t)k;
    memcpy(wire + len, outer.ptr, half);
    len += half;
    len += (size_t)sprintf(wire + len, "\r\n%zx\r\n", outer.len - half);
    memcpy(wire + len, outer.ptr + half, outer.len - half);
    len += outer.len - half;
    len += (size_t)sprintf(wire + len, "\r\n0\r\n\r\n");
    size_t cuts[] = {(size_t)k - 3, (size_t)k + 1, (size_t)k + half + 3, len};
    struct server s = {.n_scripts = 1};
    for (size_t i = 0, at = 0; i < 4; at = cuts[i], i++) {
        s.scripts[0].steps[i] = (struct step){wire + at, i == 0 ? 0 : 5};
        s.scripts[0].lens[i] = cuts[i] - at;
    }
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_OK);
    assert_string_equal(sl_buf_cstr(&r.body), json);
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&r.body);
    free(wire);
    free((void *)inner.ptr);
    free((void *)outer.ptr);
}

/* A coding Sluice cannot undo fails before on_head; corrupt or cut-short data fails as decode;
 * chunked that is not the last transfer coding cannot be framed. */
static void test_bad_codings(void **state)
{
    (void)state;
    static const char json[] = "{\"id\":\"x\",\"choices\":[]}";
    struct sl_str gz = compress_bits(SL_STRLIT(json), GZIP_BITS);
    char *bad = malloc(gz.len);
    memcpy(bad, gz.ptr, gz.len);
    bad[gz.len - 8] ^= 0x55; /* the CRC-32 */
    char crc_head[128], cut_head[128];
    snprintf(crc_head, sizeof(crc_head),
             RESP_HEAD "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", gz.len);
    snprintf(cut_head, sizeof(cut_head),
             RESP_HEAD "Content-Encoding: gzip\r\nConnection: close\r\n\r\n");
    struct server s = {.n_scripts = 4};
    s.scripts[0].steps[0] =
        (struct step){RESP_HEAD "Content-Encoding: br\r\nContent-Length: 2\r\n\r\n{}", 0};
    s.scripts[0].close_after = true;
    s.scripts[1].steps[0] = (struct step){crc_head, 0};
    s.scripts[1].steps[1] = (struct step){bad, 0};
    s.scripts[1].lens[1] = gz.len;
    s.scripts[1].close_after = true;
    s.scripts[2].steps[0] = (struct step){cut_head, 0};
    s.scripts[2].steps[1] = (struct step){gz.ptr, 0};
    s.scripts[2].lens[1] = gz.len - 4;
    s.scripts[2].close_after = true;
    s.scripts[3].steps[0] =
        (struct step){RESP_HEAD "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 0};
    s.scripts[3].close_after = true;
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r[4] = {{0}};
    for (int i = 0; i < 4; i++)
        run(&w, &r[i], 5000, 0);
    assert_int_equal(r[0].err, SL_UPSTREAM_ERR_DECODE);
    assert_string_equal(r[0].detail, "unsupported content coding \"br\"");
    assert_int_equal(r[0].heads, 0);
    assert_int_equal(r[1].err, SL_UPSTREAM_ERR_DECODE);
    assert_string_equal(r[1].detail, "corrupt gzip data: incorrect data check");
    assert_int_equal(r[2].err, SL_UPSTREAM_ERR_DECODE);
    assert_string_equal(r[2].detail, "the compressed body ends before its data does");
    assert_int_equal(r[3].err, SL_UPSTREAM_ERR_PROTOCOL);
    assert_string_equal(r[3].detail, "response framing cannot be trusted");
    world_dispose(&w);
    server_stop(&s);
    for (int i = 0; i < 4; i++)
        sl_buf_dispose(&r[i].body);
    free(bad);
    free((void *)gz.ptr);
}

/* 64 MiB of zeros gzipped to 64 KB: the caller stops at its cap, and by then no more than one
 * piece past the cap was decoded. */
static void test_bomb_stops_at_the_callers_cap(void **state)
{
    (void)state;
    size_t big = 64u << 20, cap = 256 * 1024;
    char *zeros = calloc(1, big);
    struct sl_str gz = compress_bits(sl_str_init(zeros, big), GZIP_BITS);
    free(zeros);
    char head[128];
    snprintf(head, sizeof(head), RESP_HEAD "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
             gz.len);
    struct server s = {.n_scripts = 1};
    s.scripts[0].steps[0] = (struct step){head, 0};
    s.scripts[0].steps[1] = (struct step){gz.ptr, 0};
    s.scripts[0].lens[1] = gz.len;
    s.scripts[0].close_after = true;
    server_start(&s);
    struct world w;
    world_init(&w, s.port, NULL);
    struct result r = {.stop_after = cap};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.status, 200);
    assert_true(r.body.len > cap && r.body.len <= cap + SL_DECODE_PIECE_BYTES);
    world_dispose(&w);
    server_stop(&s);
    sl_buf_dispose(&r.body);
    free((void *)gz.ptr);
}

/* ---- the egress proxy's own failures, and the failure log ---- */

static void proxy_start(struct proxy *p)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sin);
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(p->fd, 4), 0);
    getsockname(p->fd, (struct sockaddr *)&sin, &len);
    p->port = ntohs(sin.sin_port);
    pthread_create(&p->thread, NULL, proxy_main, p);
}

/* Everything written to stderr (the log) between begin and end. */
struct capture {
    int saved;
    FILE *f;
};

static void capture_begin(struct capture *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(2);
    dup2(fileno(c->f), 2);
}

static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    long n = ftell(c->f);
    char *text = calloc(1, (size_t)n + 1);
    rewind(c->f);
    assert_int_equal(fread(text, 1, (size_t)n, c->f), (size_t)n);
    fclose(c->f);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static struct world *proxied_world(struct world *w, struct sl_proxy_env *pe, const char *url)
{
    char env[128];
    snprintf(env, sizeof(env), "HTTPS_PROXY=%s", url);
    char *envp[] = {env, NULL};
    struct sl_diag d;
    sl_diag_init(&d, "env");
    assert_int_equal(sl_proxy_env_load(envp, pe, &d), SL_OK);
    sl_diag_dispose(&d);
    world_init(w, 443, pe);
    w->origin.tls = true;
    snprintf(w->key, sizeof(w->key), "https://127.0.0.1:443");
    return w;
}

/* A proxy's 407 is its own kind (the caller never retries it); the log line names the proxy
 * but not the credentials, which were sent percent-decoded. */
static void test_proxy_demands_auth(void **state)
{
    (void)state;
    struct proxy p = {.reply = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                               "Proxy-Authenticate: Basic realm=\"egress\"\r\n"
                               "Content-Length: 0\r\n\r\n"};
    proxy_start(&p);
    char url[96];
    snprintf(url, sizeof(url), "http://user:s%%40cret@127.0.0.1:%u", p.port);
    struct sl_proxy_env pe;
    struct world w;
    proxied_world(&w, &pe, url);
    struct result r = {.rid = "rid-407"};
    struct capture cap;
    capture_begin(&cap);
    run(&w, &r, 5000, 0);
    char *log = capture_end(&cap);
    assert_int_equal(r.err, SL_UPSTREAM_ERR_PROXY_AUTH);
    char want[256];
    snprintf(want, sizeof(want),
             "egress proxy http://127.0.0.1:%u demanded authentication (407) for CONNECT to "
             "127.0.0.1:443; it refused the credentials in the proxy URL",
             p.port);
    assert_string_equal(r.detail, want);
    assert_non_null(strstr(p.request, "\r\nProxy-Authorization: Basic dXNlcjpzQGNyZXQ=\r\n"));
    snprintf(want, sizeof(want),
             "upstream call failed: origin=https://127.0.0.1:443 kind=proxy_auth "
             "proxy=http://127.0.0.1:%u detail=\"egress proxy http://127.0.0.1:%u demanded",
             p.port, p.port);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "request_id=\"rid-407\"\n"));
    assert_null(strstr(log, "cret"));
    assert_null(strstr(log, "dXNlcjpzQGNyZXQ="));
    pthread_join(p.thread, NULL);
    close(p.fd);
    world_dispose(&w);
    sl_proxy_env_dispose(&pe);
    sl_buf_dispose(&r.body);
    free(log);
}

/* Through HTTP_PROXY the request itself goes to the proxy, so a 407 answer is the proxy's. */
static void test_forward_proxy_demands_auth(void **state)
{
    (void)state;
    struct server s = {.n_scripts = 1};
    s.scripts[0].steps[0] =
        (struct step){"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", 0};
    server_start(&s);
    char env[64];
    snprintf(env, sizeof(env), "HTTP_PROXY=127.0.0.1:%u", s.port);
    char *envp[] = {env, NULL};
    struct sl_proxy_env pe;
    struct sl_diag d;
    sl_diag_init(&d, "env");
    assert_int_equal(sl_proxy_env_load(envp, &pe, &d), SL_OK);
    struct world w;
    world_init(&w, 8080, &pe);
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_ERR_PROXY_AUTH);
    assert_int_equal(r.heads, 0);
    char want[160];
    snprintf(want, sizeof(want),
             "egress proxy http://127.0.0.1:%u demanded authentication (407) for a request to "
             "127.0.0.1:8080; the proxy URL has no credentials",
             s.port);
    assert_string_equal(r.detail, want);
    world_dispose(&w);
    server_stop(&s);
    sl_proxy_env_dispose(&pe);
    sl_diag_dispose(&d);
    sl_buf_dispose(&r.body);
}

static void test_proxy_unreachable(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s);
    uint16_t port = s.port;
    server_stop(&s); /* nothing listens there now */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
    struct sl_proxy_env pe;
    struct world w;
    proxied_world(&w, &pe, url);
    struct result r = {0};
    run(&w, &r, 5000, 0);
    assert_int_equal(r.err, SL_UPSTREAM_ERR_PROXY_UNREACHABLE);
    char want[128];
    snprintf(want, sizeof(want), "cannot connect to proxy http://127.0.0.1:%u: Connection refused",
             port);
    assert_string_equal(r.detail, want);
    world_dispose(&w);
    sl_proxy_env_dispose(&pe);
    sl_buf_dispose(&r.body);
}

/* One line per origin and kind, then silence for 10 s; the next line counts what it skipped. */
static void test_failure_log_is_rate_limited(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s);
    uint16_t port = s.port;
    server_stop(&s);
    struct world w;
    world_init(&w, port, NULL);
    struct result r[4] = {{.rid = "rid-1"}, {.rid = "rid-2"}, {.rid = "rid-3"}, {.rid = "rid-4"}};
    struct capture cap;
    capture_begin(&cap);
    for (int i = 0; i < 3; i++)
        run(&w, &r[i], 5000, 0);
    char *first = capture_end(&cap);
    assert_int_equal(count_of(first, "upstream call failed"), 1);
    char want[256];
    snprintf(want, sizeof(want),
             "WARN  upstream call failed: origin=http://127.0.0.1:%u kind=connect "
             "detail=\"cannot connect to 127.0.0.1:%u: Connection refused\" "
             "request_id=\"rid-1\"\n",
             port, port);
    assert_non_null(strstr(first, want));
    /* Ten seconds later, as far as the limiter knows. */
    sl__pool_get(w.u, w.key)->failures[SL_UPSTREAM_ERR_CONNECT].quiet_until_ms = 0;
    capture_begin(&cap);
    run(&w, &r[3], 5000, 0);
    char *second = capture_end(&cap);
    assert_int_equal(count_of(second, "upstream call failed"), 1);
    assert_non_null(strstr(second, "request_id=\"rid-4\" suppressed=2\n"));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].err, SL_UPSTREAM_ERR_CONNECT);
        sl_buf_dispose(&r[i].body);
    }
    world_dispose(&w);
    free(first);
    free(second);
}

/* user:password in a proxy URL is percent-decoded, each part on its own, as curl does. */
static void test_proxy_credentials_percent_decoded(void **state)
{
    (void)state;
    static const struct {
        const char *url, *auth;
    } cases[] = {
        {"http://user:p%40ss@proxy:3128", "Basic dXNlcjpwQHNz"}, /* user:p@ss */
        {"http://a:b%3Ac@proxy:3128", "Basic YTpiOmM="},         /* a:b:c */
        {"http://us%zz:pw%@proxy:3128", "Basic dXMleno6cHcl"},   /* kept as is */
        {"http://u%20s:@proxy:3128", "Basic dSBzOg=="},          /* "u s:" */
        {"http://p%40ss:w@rd@proxy:3128", "Basic cEBzczp3QHJk"}, /* p@ss:w@rd */
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char env[128];
        snprintf(env, sizeof(env), "HTTPS_PROXY=%s", cases[i].url);
        char *envp[] = {env, NULL};
        struct sl_proxy_env pe;
        struct sl_diag d;
        sl_diag_init(&d, "env");
        assert_int_equal(sl_proxy_env_load(envp, &pe, &d), SL_OK);
        assert_string_equal(pe.https.auth_value, cases[i].auth);
        assert_string_equal(pe.https.display, "http://proxy:3128");
        sl_proxy_env_dispose(&pe);
        sl_diag_dispose(&d);
    }
    char *nul[] = {(char *)"HTTPS_PROXY=http://user:a%00b@proxy:3128", NULL};
    struct sl_proxy_env pe;
    struct sl_diag d;
    sl_diag_init(&d, "env");
    assert_int_equal(sl_proxy_env_load(nul, &pe, &d), SL_ERR);
    assert_string_equal(d.entries[0].msg,
                        "environment HTTPS_PROXY=\"http://***@proxy:3128\": invalid proxy URL (its "
                        "user name or password holds %00)");
    sl_diag_dispose(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_and_reuse),
        cmocka_unit_test(test_zero_pool_and_connect_timeout),
        cmocka_unit_test(test_chunked_split_everywhere),
        cmocka_unit_test(test_until_close_and_interim),
        cmocka_unit_test(test_stale_pooled_connection_is_retried),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_dns_failure),
        cmocka_unit_test(test_deadline_and_idle),
        cmocka_unit_test(test_idle_close_is_reported),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_cancel_and_abandon),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_connect_tunnel),
        cmocka_unit_test(test_no_proxy),
        cmocka_unit_test(test_gzip_body_paused_after_every_piece),
        cmocka_unit_test(test_stacked_codings_chunked),
        cmocka_unit_test(test_bad_codings),
        cmocka_unit_test(test_bomb_stops_at_the_callers_cap),
        cmocka_unit_test(test_proxy_demands_auth),
        cmocka_unit_test(test_forward_proxy_demands_auth),
        cmocka_unit_test(test_proxy_unreachable),
        cmocka_unit_test(test_failure_log_is_rate_limited),
        cmocka_unit_test(test_proxy_credentials_percent_decoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
