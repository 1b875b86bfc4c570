/* The RESP reader (caps, split input, protocol errors) and the Redis client against a real
 * redis-server on a free loopback port: pipelining, scripts by SHA, NOSCRIPT, AUTH and SELECT,
 * a server killed and restarted, a server that stops answering. Then the limits script itself,
 * driven through Redis and held to the C lease arithmetic (ratelimit_lease.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/h2o.h"
#include "sluice/redis.h"

#include "../../src/policy/ratelimit_internal.h"
#include "../../src/policy/ratelimit_lua.h"

int main(void);

/* ---- the reader ---- */

static struct sl_redis_reply *parse_all(const char *data, size_t len, size_t step)
{
    struct sl_resp_reader *r = sl_resp_reader_new();
    struct sl_redis_reply *out = NULL;
    const char *why;
    for (size_t i = 0; i < len; i += step) {
        assert_int_equal(sl_resp_feed(r, data + i, SL_MIN(step, len - i)), SL_OK);
        int rc = sl_resp_next(r, &out, &why);
        if (rc == SL_OK)
            break;
        assert_int_equal(rc, SL_AGAIN);
    }
    sl_resp_reader_free(r);
    return out;
}

static void test_reader(void **state)
{
    (void)state;
    static const char reply[] = "*5\r\n:42\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n*2\r\n-ERR x\r\n*0\r\n";
    for (size_t step = 1; step <= sizeof(reply); step++) {
        struct sl_redis_reply *r = parse_all(reply, sizeof(reply) - 1, step);
        assert_non_null(r);
        assert_int_equal(r->type, SL_REDIS_ARRAY);
        assert_int_equal(r->n, 5);
        assert_int_equal(r->elements[0]->integer, 42);
        assert_true(sl_str_eq_lit(r->elements[1]->str, "abc"));
        assert_int_equal(r->elements[2]->type, SL_REDIS_NIL);
        assert_int_equal(r->elements[3]->type, SL_REDIS_STATUS);
        assert_int_equal(r->elements[4]->elements[0]->type, SL_REDIS_ERROR);
        assert_true(sl_str_eq_lit(r->elements[4]->elements[0]->str, "ERR x"));
        assert_int_equal(r->elements[4]->elements[1]->n, 0);
        sl_redis_reply_free(r);
    }
    /* Two replies in one read come out one by one. */
    struct sl_resp_reader *rd = sl_resp_reader_new();
    struct sl_redis_reply *out;
    const char *why;
    assert_int_equal(sl_resp_feed(rd, ":1\r\n:2\r\n", 8), SL_OK);
    assert_int_equal(sl_resp_next(rd, &out, &why), SL_OK);
    assert_int_equal(out->integer, 1);
    sl_redis_reply_free(out);
    assert_int_equal(sl_resp_next(rd, &out, &why), SL_OK);
    assert_int_equal(out->integer, 2);
    sl_redis_reply_free(out);
    assert_int_equal(sl_resp_next(rd, &out, &why), SL_AGAIN);
    sl_resp_reader_free(rd);
}

static void expect_broken(const char *data, size_t len, const char *reason)
{
    struct sl_resp_reader *r = sl_resp_reader_new();
    struct sl_redis_reply *out;
    const char *why = NULL;
    int rc = sl_resp_feed(r, data, len);
    if (rc == SL_OK)
        rc = sl_resp_next(r, &out, &why);
    assert_true(rc == SL_EPARSE || rc == SL_E2BIG);
    if (rc == SL_EPARSE && reason != NULL)
        assert_string_equal(why, reason);
    /* Broken for good: nothing more is accepted. */
    assert_int_equal(sl_resp_next(r, &out, &why), SL_EPARSE);
    sl_resp_reader_free(r);
}

static void test_reader_caps(void **state)
{
    (void)state;
    expect_broken("?x\r\n", 4, "malformed reply (protocol error)");
    expect_broken("*5000\r\n", 7, "a reply is larger than the client accepts");
    expect_broken("*-5\r\n", 5, NULL); /* hiredis itself refuses negative lengths */
    /* A bulk string over the cap: refused when it is complete... */
    size_t n = SL_RESP_MAX_STRING + 1;
    char *big = malloc(n + 32);
    int h = snprintf(big, 32, "$%zu\r\n", n);
    memset(big + h, 'a', n);
    memcpy(big + h + n, "\r\n", 2);
    expect_broken(big, (size_t)h + n + 2, "a reply is larger than the client accepts");
    free(big);
    /* ...and a server cannot make the client buffer more than SL_RESP_MAX_PENDING waiting
     * for one. */
    struct sl_resp_reader *r = sl_resp_reader_new();
    char chunk[64 * 1024];
    memset(chunk, 'a', sizeof(chunk));
    assert_int_equal(sl_resp_feed(r, "$999999999\r\n", 12), SL_OK);
    int rc = SL_OK;
    size_t fed = 12;
    while (rc == SL_OK && fed <= SL_RESP_MAX_PENDING + sizeof(chunk)) {
        rc = sl_resp_feed(r, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    }
    assert_int_equal(rc, SL_E2BIG);
    assert_true(fed <= SL_RESP_MAX_PENDING + sizeof(chunk));
    sl_resp_reader_free(r);
}

/* ---- a real redis-server ---- */

static pid_t server_pid;
static uint16_t server_port;
static char *server_extra; /* e.g. "--requirepass s3cret" */

static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_not_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(uint16_t port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static bool start_server(void)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", server_port);
    server_pid = fork();
    if (server_pid == 0) {
        /* Gone with the test, even when an assertion aborts it: no server is left holding
         * ctest's output pipe. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (server_extra != NULL)
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", "--requirepass", server_extra, (char *)NULL);
        else
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        int st;
        if (waitpid(server_pid, &st, WNOHANG) == server_pid)
            return false; /* no redis-server here */
        if (port_open(server_port))
            return true;
        usleep(10000);
    }
    return false;
}

static void kill_server(void)
{
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
}

struct harness {
    h2o_globalconf_t gc;
    h2o_context_t ctx;
    h2o_loop_t *loop;
    struct sl_redis_config cfg;
    int ups, downs;
    char last_down[256];
};

static void on_state(void *ud, bool up, const char *why)
{
    struct harness *h = ud;
    if (up) {
        h->ups++;
        return;
    }
    h->downs++;
    snprintf(h->last_down, sizeof(h->last_down), "%s", why);
}

/* Runs the loop until *flag becomes true (or fails after 10 s). */
static void run_until(struct harness *h, const volatile bool *flag)
{
    for (int i = 0; i < 1000 && !*flag; i++)
        h2o_evloop_run(h->loop, 10);
    assert_true(*flag);
}

static bool have_server;

static int setup_server(void **state)
{
    (void)state;
    server_port = free_port();
    server_extra = NULL;
    have_server = start_server();
    if (!have_server)
        print_message("redis-server is not installed: the client tests are skipped\n");
    return 0;
}

static int teardown_server(void **state)
{
    (void)state;
    if (have_server)
        kill_server();
    return 0;
}

static void harness_init(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    h2o_config_init(&h->gc);
    h2o_config_register_host(&h->gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h->loop = h2o_evloop_create();
    h2o_context_init(&h->ctx, h->loop, &h->gc);
    static char host[] = "127.0.0.1";
    h->cfg = (struct sl_redis_config){
        .host = host, .port = server_port, .connect_timeout_ms = 1000, .timeout_ms = 300};
}

static void harness_dispose(struct harness *h)
{
    h2o_multithread_queue_t *queue = h->ctx.queue;
    h2o_context_dispose(&h->ctx);
    free(queue); /* h2o 2.2.5's evloop h2o_multithread_destroy_queue does not free it */
    h2o_evloop_destroy(h->loop);
    h2o_config_dispose(&h->gc);
}

struct result {
    bool done;
    enum sl_redis_type type;
    int64_t integer;
    char str[256];
    char why[256];
    size_t n;
};

static void on_result(void *ud, const struct sl_redis_reply *reply, const char *why)
{
    struct result *r = ud;
    r->done = true;
    if (reply == NULL) {
        snprintf(r->why, sizeof(r->why), "%s", why);
        return;
    }
    r->type = reply->type;
    r->integer = reply->integer;
    r->n = reply->n;
    snprintf(r->str, sizeof(r->str), "%.*s", (int)reply->str.len,
             reply->str.ptr != NULL ? reply->str.ptr : "");
}

static struct sl_redis_cmd *cmd(struct sl_redis *c, struct result *r, const char *a, const char *b,
                                const char *d)
{
    struct sl_str argv[3] = {sl_str_from_cstr(a), sl_str_from_cstr(b != NULL ? b : ""),
                             sl_str_from_cstr(d != NULL ? d : "")};
    memset(r, 0, sizeof(*r));
    return sl_redis_command(c, b == NULL ? 1 : d == NULL ? 2 : 3, argv, on_result, r);
}

static bool ready_flag(struct harness *h, struct sl_redis *c)
{
    SL_UNUSED(h);
    return sl_redis_is_ready(c);
}

static void wait_ready(struct harness *h, struct sl_redis *c)
{
    for (int i = 0; i < 1000 && !ready_flag(h, c); i++)
        h2o_evloop_run(h->loop, 10);
    assert_true(sl_redis_is_ready(c));
}

static void test_client(void **state)
{
    (void)state;
    if (!have_server)
        skip();
    struct harness h;
    harness_init(&h);
    struct sl_redis_script script;
    sl_redis_script_init(&script, "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}");
    const struct sl_redis_script *scripts[] = {&script};
    struct sl_redis *c = sl_redis_new(&h.ctx, &h.cfg, scripts, 1, on_state, &h);
    /* Not ready yet: commands are refused, not queued. */
    struct result r[8];
    assert_null(cmd(c, &r[0], "PING", NULL, NULL));
    wait_ready(&h, c);
    assert_int_equal(h.ups, 1);
    /* Commands of one loop turn share one write; replies come back in order. */
    uint64_t writes = sl_redis_stats(c)->writes;
    assert_non_null(cmd(c, &r[0], "SET", "k", "v1"));
    assert_non_null(cmd(c, &r[1], "GET", "k", NULL));
    assert_non_null(cmd(c, &r[2], "INCR", "n", NULL));
    assert_non_null(cmd(c, &r[3], "NOSUCHCMD", NULL, NULL));
    run_until(&h, &r[3].done);
    assert_int_equal(sl_redis_stats(c)->writes, writes + 1);
    assert_int_equal(r[0].type, SL_REDIS_STATUS);
    assert_string_equal(r[1].str, "v1");
    assert_int_equal(r[2].integer, 1);
    assert_int_equal(r[3].type, SL_REDIS_ERROR);
    /* The script was loaded at connect: EVALSHA works at once. */
    struct sl_str argv[] = {SL_STRLIT("key"), SL_STRLIT("a"), SL_STRLIT("41")};
    memset(&r[4], 0, sizeof(r[4]));
    assert_non_null(sl_redis_eval(c, &script, 1, 3, argv, on_result, &r[4]));
    run_until(&h, &r[4].done);
    assert_int_equal(r[4].type, SL_REDIS_ARRAY);
    assert_int_equal(r[4].n, 3);
    /* Scripts flushed on the server: the call that meets NOSCRIPT fails, the client loads them
     * again, the next call works. */
    assert_non_null(cmd(c, &r[5], "SCRIPT", "FLUSH", NULL));
    run_until(&h, &r[5].done);
    memset(&r[4], 0, sizeof(r[4]));
    sl_redis_eval(c, &script, 1, 3, argv, on_result, &r[4]);
    run_until(&h, &r[4].done);
    assert_int_equal(r[4].type, SL_REDIS_ERROR);
    assert_int_equal(sl_redis_stats(c)->noscript, 1);
    memset(&r[4], 0, sizeof(r[4]));
    sl_redis_eval(c, &script, 1, 3, argv, on_result, &r[4]);
    run_until(&h, &r[4].done);
    assert_int_equal(r[4].type, SL_REDIS_ARRAY);
    /* A cancelled command's reply is read and dropped. */
    struct sl_redis_cmd *x = cmd(c, &r[6], "GET", "k", NULL);
    sl_redis_cancel(x);
    assert_non_null(cmd(c, &r[7], "PING", NULL, NULL));
    run_until(&h, &r[7].done);
    assert_false(r[6].done);

    /* The server dies: what is in flight fails, the client retries with backoff and is back
     * once the server is. */
    assert_non_null(cmd(c, &r[0], "BLPOP", "nothing", "5"));
    h2o_evloop_run(h.loop, 10);
    kill_server();
    run_until(&h, &r[0].done);
    assert_string_equal(r[0].why, "connection closed by the server");
    assert_int_equal(h.downs, 1);
    assert_false(sl_redis_is_ready(c));
    for (int i = 0; i < 30; i++)
        h2o_evloop_run(h.loop, 10);
    assert_true(h.downs > 1); /* reconnection attempts failed meanwhile */
    assert_true(start_server());
    wait_ready(&h, c);
    assert_int_equal(h.ups, 2);

    /* A server that stops answering: the connection is dropped after timeout_ms. */
    kill(server_pid, SIGSTOP);
    assert_non_null(cmd(c, &r[1], "PING", NULL, NULL));
    run_until(&h, &r[1].done);
    assert_string_equal(r[1].why, "no reply within 300 ms");
    assert_int_equal(sl_redis_stats(c)->timeouts, 1);
    kill(server_pid, SIGCONT);
    wait_ready(&h, c);

    sl_redis_free(c);
    harness_dispose(&h);
}

/* AUTH with the password and SELECT run before the client counts as ready; a wrong password
 * keeps it down, naming the server's refusal. */
static void test_auth_and_select(void **state)
{
    (void)state;
    if (!have_server)
        skip();
    kill_server();
    static char pass[] = "s3cret";
    server_extra = pass;
    assert_true(start_server());
    struct harness h;
    harness_init(&h);
    h.cfg.password = pass;
    h.cfg.database = 3;
    struct sl_redis *c = sl_redis_new(&h.ctx, &h.cfg, NULL, 0, on_state, &h);
    wait_ready(&h, c);
    struct result r;
    cmd(c, &r, "CLIENT", "INFO", NULL);
    run_until(&h, &r.done);
    assert_non_null(strstr(r.str, " db=3 "));
    sl_redis_free(c);
    static char wrong[] = "nope";
    h.cfg.password = wrong;
    h.downs = 0;
    c = sl_redis_new(&h.ctx, &h.cfg, NULL, 0, on_state, &h);
    for (int i = 0; i < 100 && h.downs == 0; i++)
        h2o_evloop_run(h.loop, 10);
    assert_false(sl_redis_is_ready(c));
    assert_non_null(strstr(h.last_down, "setup refused: WRONGPASS"));
    sl_redis_free(c);
    harness_dispose(&h);
    kill_server();
    server_extra = NULL;
    assert_true(start_server());
}

/* ---- the limits script against the lease arithmetic ---- */

struct lua_run {
    struct harness *h;
    struct sl_redis *c;
    struct sl_redis_script script;
    char *src;
};

struct eval_result {
    bool done;
    bool error;
    int64_t v[64];
    size_t n;
};

static void on_eval(void *ud, const struct sl_redis_reply *reply, const char *why)
{
    struct eval_result *res = ud;
    res->done = true;
    if (reply == NULL || reply->type != SL_REDIS_ARRAY) {
        print_message("script failed: %s %.*s\n", why != NULL ? why : "",
                      reply != NULL ? (int)reply->str.len : 0,
                      reply != NULL && reply->str.ptr != NULL ? reply->str.ptr : "");
        res->error = true;
        return;
    }
    res->n = SL_MIN(reply->n, 64);
    for (size_t i = 0; i < res->n; i++)
        res->v[i] = reply->elements[i]->integer;
}

/* Runs the limits script with args (the key first); the reply's integers go to out. */
static int64_t eval_limits(struct lua_run *lr, const char *const *args, size_t n, int64_t *out,
                           size_t nout)
{
    struct sl_str argv[64];
    struct eval_result res = {0};
    for (size_t i = 0; i < n; i++)
        argv[i] = sl_str_from_cstr(args[i]);
    assert_non_null(sl_redis_eval(lr->c, &lr->script, 1, n, argv, on_eval, &res));
    run_until(lr->h, &res.done);
    assert_false(res.error);
    for (size_t i = 0; i < nout && i < res.n; i++)
        out[i] = res.v[i];
    return (int64_t)res.n;
}

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random lease calls and settles on one request window: every grant, and c afterwards, equal
 * what sl__rl_lease_grant and sl__rl_lease_settle compute from the same state. */
static void test_script_matches_lease_math(void **state)
{
    (void)state;
    if (!have_server)
        skip();
    struct harness h;
    harness_init(&h);
    struct lua_run lr = {.h = &h};
    size_t len = 1;
    for (size_t i = 0; sl__rl_lua[i] != NULL; i++)
        len += strlen(sl__rl_lua[i]);
    lr.src = calloc(1, len);
    for (size_t i = 0, o = 0; sl__rl_lua[i] != NULL; i++) {
        size_t k = strlen(sl__rl_lua[i]);
        memcpy(lr.src + o, sl__rl_lua[i], k);
        o += k;
    }
    sl_redis_script_init(&lr.script, lr.src);
    const struct sl_redis_script *scripts[] = {&lr.script};
    lr.c = sl_redis_new(&h.ctx, &h.cfg, scripts, 1, NULL, NULL);
    wait_ready(&h, lr.c);
    uint64_t x = 12345;
    for (int round = 0; round < 40; round++) {
        char key[64], limit_s[24], want_s[24], ws_s[24], spent_s[24], tail[48];
        snprintf(key, sizeof(key), "t:rl:{b%d}", round);
        uint64_t limit = xs(&x) % 20, c = 0, u = 0, ws = 0;
        snprintf(limit_s, sizeof(limit_s), "%llu", (unsigned long long)limit);
        for (int step = 0; step < 60; step++) {
            uint64_t want = 1 + xs(&x) % 4, spent = 0, ret = 0, refund = 0;
            if (ws != 0 && xs(&x) % 3 == 0) {
                spent = xs(&x) % (u + 1);
                ret = xs(&x) % (u - spent + 1);
                refund = xs(&x) % 2 && c > u ? 1 : 0;
            }
            snprintf(want_s, sizeof(want_s), "%llu", (unsigned long long)want);
            snprintf(ws_s, sizeof(ws_s), "%llu", (unsigned long long)ws);
            snprintf(spent_s, sizeof(spent_s), "%llu", (unsigned long long)spent);
            snprintf(tail, sizeof(tail), "%llu:%llu", (unsigned long long)ret,
                     (unsigned long long)refund);
            const char *args[] = {key,     "m",     "300",  "5",  "1",     "r", "rpd",
                                  "86400", limit_s, want_s, ws_s, spent_s, tail};
            int64_t out[8];
            assert_int_equal(eval_limits(&lr, args, SL_ARRAY_LEN(args), out, 8), 6);
            if (ws != 0)
                sl__rl_lease_settle(&c, &u, spent, ret, refund);
            bool over;
            uint64_t g = sl__rl_lease_grant(&c, &u, limit, want, &over);
            if (out[2] != (int64_t)g)
                fail_msg("round %d step %d: the script granted %lld, the C rule %llu", round, step,
                         (long long)out[2], (unsigned long long)g);
            assert_int_equal(out[0], g == 0 ? 1 : 0); /* refused: operation 1 */
            assert_int_equal(out[5], (int64_t)c);
            ws = (uint64_t)out[3];
        }
    }
    sl_redis_free(lr.c);
    free(lr.src);
    harness_dispose(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reader_caps),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_auth_and_select),
        cmocka_unit_test(test_script_matches_lease_math),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
