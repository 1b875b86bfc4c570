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

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/picohttp.h"
#include "sluice/proxy_env.h"
#include "sluice/upstream.h"

int main(void);

/* ---- scripted server ---- */

#define MAX_STEPS 16

struct step {
    const char *data;  /* bytes to write; NULL ends the step list */
    unsigned delay_ms; /* sleep before writing */
};

struct script {
    struct step steps[MAX_STEPS];
    bool close_after; /* close the connection after the steps */
    unsigned hold_ms; /* keep the connection open this long before closing */
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
                if (send(c, sc->steps[i].data, strlen(sc->steps[i].data), MSG_NOSIGNAL) == -1)
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
    bool cancel_on_head;
    bool cancel_on_body;
    struct sl_upstream_req *req;
    struct world *w;
};

static int on_head(void *ud, const struct sl_upstream_head *head)
{
    struct result *r = ud;
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
    if (r->cancel_on_body) {
        r->done = true;
        return -1;
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
    struct sl_upstream_opts opts = {deadline_ms, idle_ms};
    r->w = w;
    sl_buf_init(&r->body, 1 << 20);
    r->req = sl_upstream_start(w->u, &w->origin, req, 1, &opts, &cbs, r);
    while (!r->done)
        h2o_evloop_run(w->ctx.loop, 100);
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
    struct sl_upstream_opts opts = {5000, 50};
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
    bool refuse;
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
                        "environment https_proxy: https:// proxies are not supported; use an "
                        "http:// proxy URL (the tunnel to the upstream is still TLS)");
    sl_diag_dispose(&d);
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
    assert_string_equal(d.entries[0].msg, "environment HTTPS_PROXY: invalid proxy URL (its user "
                                          "name or password holds %00)");
    sl_diag_dispose(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_and_reuse),
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
        cmocka_unit_test(test_proxy_credentials_percent_decoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
