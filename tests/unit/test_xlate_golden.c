/* Golden tests of the translation pairs (src/xlate/): chat <-> Anthropic, chat <-> Gemini,
 * Anthropic <-> Gemini (composed through chat), embeddings <-> Gemini. Each direction has a
 * folder under tests/unit/xlate/ with one input and one expected output per case:
 *
 *   <dir>/<case>.in.json|.in.sse   the upstream's or the caller's bytes
 *   <dir>/<case>.ctx               optional words: include_usage, no_sampling; claude (the
 *                                  upstream model is a Claude model on Bedrock), betas (the
 *                                  caller sent anthropic-beta: b1, b2), base64 (the caller asked
 *                                  for encoding_format base64)
 *   <dir>/<case>.out               the expected output: the translated JSON (and, for responses
 *                                  and streams, a "usage:" line), the events as a recording sink
 *                                  writes them, or "error: <why>"
 *
 * Every output is also checked as fuzz/fuzz_xlate_check.h checks it (strict JSON, the dialect's
 * event grammar). The translated requests go to the project mock, which validates them as
 * strictly as the real APIs do, and must get 200: Anthropic's to /v1/messages, chat to
 * /v1/chat/completions, Gemini's to generateContent and batchEmbedContents, Bedrock's to its
 * Bedrock endpoints. SL_XLATE_REGEN=1 rewrites the .out files (review the diff). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fuzz/fuzz_xlate_check.h"
#include "sluice/sse.h"

int main(void);

#define ALIAS "my-alias"
/* The Claude model of the Bedrock cases that need one, as the upstream id and in a path. */
#define CLAUDE_MODEL "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
#define CLAUDE_ID    "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
#define GOLDEN_DIR   "xlate"

enum kind { REQUEST, RESPONSE, STREAM };

struct direction {
    const char *dir;
    enum sl_wire from, to; /* the pair */
    enum kind kind;
    bool anthropic_out;    /* the output is in Anthropic's dialect */
    const char *mock_path; /* requests: where the mock validates the output (NULL: nowhere) */
};

#define GEMINI_PATH "/v1beta/models/upstream-model-1"

static const struct direction directions[] = {
    {"chat_to_anthropic_request", SL_WIRE_CHAT, SL_WIRE_ANTHROPIC, REQUEST, true, "/v1/messages"},
    {"anthropic_to_chat_response", SL_WIRE_CHAT, SL_WIRE_ANTHROPIC, RESPONSE, false, NULL},
    {"anthropic_to_chat_stream", SL_WIRE_CHAT, SL_WIRE_ANTHROPIC, STREAM, false, NULL},
    {"anthropic_to_chat_request", SL_WIRE_ANTHROPIC, SL_WIRE_CHAT, REQUEST, false,
     "/v1/chat/completions"},
    {"chat_to_anthropic_response", SL_WIRE_ANTHROPIC, SL_WIRE_CHAT, RESPONSE, true, NULL},
    {"chat_to_anthropic_stream", SL_WIRE_ANTHROPIC, SL_WIRE_CHAT, STREAM, true, NULL},
    {"chat_to_gemini_request", SL_WIRE_CHAT, SL_WIRE_GEMINI, REQUEST, false,
     GEMINI_PATH ":generateContent"},
    {"gemini_to_chat_response", SL_WIRE_CHAT, SL_WIRE_GEMINI, RESPONSE, false, NULL},
    {"gemini_to_chat_stream", SL_WIRE_CHAT, SL_WIRE_GEMINI, STREAM, false, NULL},
    {"anthropic_to_gemini_request", SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI, REQUEST, false,
     GEMINI_PATH ":generateContent"},
    {"gemini_to_anthropic_response", SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI, RESPONSE, true, NULL},
    {"gemini_to_anthropic_stream", SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI, STREAM, true, NULL},
    {"embeddings_to_gemini_request", SL_WIRE_EMBEDDINGS, SL_WIRE_GEMINI_EMBED, REQUEST, false,
     GEMINI_PATH ":batchEmbedContents"},
    {"gemini_to_embeddings_response", SL_WIRE_EMBEDDINGS, SL_WIRE_GEMINI_EMBED, RESPONSE, false,
     NULL},
    {"chat_to_converse_request", SL_WIRE_CHAT, SL_WIRE_BEDROCK_CONVERSE, REQUEST, false,
     "/model/" CLAUDE_ID "/converse"},
    {"converse_to_chat_response", SL_WIRE_CHAT, SL_WIRE_BEDROCK_CONVERSE, RESPONSE, false, NULL},
    {"converse_to_chat_stream", SL_WIRE_CHAT, SL_WIRE_BEDROCK_CONVERSE, STREAM, false, NULL},
    {"anthropic_to_bedrock_request", SL_WIRE_ANTHROPIC, SL_WIRE_BEDROCK_ANTHROPIC, REQUEST, true,
     "/model/" CLAUDE_ID "/invoke"},
    {"bedrock_to_anthropic_response", SL_WIRE_ANTHROPIC, SL_WIRE_BEDROCK_ANTHROPIC, RESPONSE, true,
     NULL},
    {"bedrock_to_anthropic_stream", SL_WIRE_ANTHROPIC, SL_WIRE_BEDROCK_ANTHROPIC, STREAM, true,
     NULL},
    {"embeddings_to_titan_request", SL_WIRE_EMBEDDINGS, SL_WIRE_BEDROCK_TITAN_EMBED, REQUEST, false,
     "/model/amazon.titan-embed-text-v2%3A0/invoke"},
    {"titan_to_embeddings_response", SL_WIRE_EMBEDDINGS, SL_WIRE_BEDROCK_TITAN_EMBED, RESPONSE,
     false, NULL},
    {"embeddings_to_cohere_request", SL_WIRE_EMBEDDINGS, SL_WIRE_BEDROCK_COHERE_EMBED, REQUEST,
     false, "/model/cohere.embed-english-v3/invoke"},
    {"cohere_to_embeddings_response", SL_WIRE_EMBEDDINGS, SL_WIRE_BEDROCK_COHERE_EMBED, RESPONSE,
     false, NULL},
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct sl_buf b;
    char chunk[4096];
    size_t n;
    sl_buf_init(&b, (size_t)1 << 28);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        SL_ASSERT(sl_buf_append(&b, chunk, n) == SL_OK);
    fclose(f);
    SL_ASSERT(sl_buf_cstr(&b) != NULL);
    *len = b.len;
    return b.ptr; /* sl_buf's storage is malloc'd: the caller frees it */
}

static void write_file(const char *path, struct sl_str s)
{
    FILE *f = fopen(path, "wb");
    SL_ASSERT(f != NULL);
    SL_ASSERT(fwrite(s.ptr, 1, s.len, f) == s.len);
    fclose(f);
}

static bool has_word(const char *ctx, const char *word)
{
    return ctx != NULL && strstr(ctx, word) != NULL;
}

static struct sl_xlate_ctx make_ctx(const char *ctxfile, bool stream)
{
    return (struct sl_xlate_ctx){
        .alias = SL_STRLIT(ALIAS),
        .upstream_model =
            has_word(ctxfile, "claude") ? SL_STRLIT(CLAUDE_MODEL) : SL_STRLIT("upstream-model-1"),
        .stream = stream,
        .include_usage = has_word(ctxfile, "include_usage"),
        .id_seed = SL_STRLIT("req42"),
        .created = 1767225600,
        .anthropic_no_sampling = has_word(ctxfile, "no_sampling"),
        .anthropic_beta = has_word(ctxfile, "betas") ? SL_STRLIT("b1, b2") : SL_STR_NULL,
        .caller_body = has_word(ctxfile, "base64") ? SL_STRLIT("{\"encoding_format\":\"base64\"}")
                                                   : SL_STR_NULL,
    };
}

static void put_usage(struct sl_buf *out, const struct sl_usage *u)
{
    SL_ASSERT(sl_buf_appendf(out,
                             "usage: input=%lld output=%lld cache_read=%lld "
                             "cache_creation=%lld reasoning=%lld\n",
                             (long long)u->input_tokens, (long long)u->output_tokens,
                             (long long)u->cache_read_tokens, (long long)u->cache_creation_tokens,
                             (long long)u->reasoning_tokens) == SL_OK);
}

struct feed {
    struct sl_filter *stage;
    int rc;
};

static int on_sse(void *ud, const struct sl_sse_event *ev)
{
    struct feed *f = ud;
    struct sl_sevent e = {.name = ev->event, .data = ev->data, .raw = ev->raw};
    if (f->rc != SL_OK || !ev->has_data)
        return 0;
    f->rc = sl_filter_event(f->stage, &e);
    return 0;
}

static void run_stream(const struct direction *d, const struct sl_xlate_pair *p,
                       const struct sl_xlate_ctx *c, struct sl_str in, struct sl_buf *out)
{
    h2o_mem_pool_t pool;
    struct xcheck_sink sink;
    struct sl_usage usage;
    struct sl_sse_parser sse;
    h2o_mem_init_pool(&pool);
    xcheck_sink_init(&sink, d->anthropic_out, c->include_usage, ALIAS);
    struct feed f = {.stage = sl_xlate_stream(p, &pool, c, &usage, &sink.super), .rc = SL_OK};
    sl_sse_init(&sse, 1 << 20, false);
    assert_int_equal(sl_sse_feed(&sse, in.ptr, in.len, on_sse, &f), SL_OK);
    assert_int_equal(sl_sse_finish(&sse, on_sse, &f), SL_OK);
    assert_true(f.rc == SL_OK || f.rc == SL_DONE);
    if (f.rc == SL_OK)
        assert_int_equal(sl_filter_end(f.stage), SL_OK);
    xcheck_sink_done(&sink);
    SL_ASSERT(sl_buf_append_str(out, sl_buf_str(&sink.text)) == SL_OK);
    put_usage(out, &usage);
    sl_sse_dispose(&sse);
    sl_buf_dispose(&sink.text);
    h2o_mem_clear_pool(&pool);
}

/* Runs one case; returns the output as the .out file holds it. */
static void run_case(const struct direction *d, const char *ctxfile, struct sl_str in,
                     struct sl_buf *out)
{
    const struct sl_xlate_pair *p = sl_xlate_for(d->from, d->to);
    struct sl_xlate_ctx c = make_ctx(ctxfile, d->kind == STREAM);
    struct sl_usage usage;
    struct sl_buf body;
    char why[256] = "unset";
    int rc;
    assert_non_null(p);
    if (d->kind == STREAM) {
        run_stream(d, p, &c, in, out);
        return;
    }
    sl_buf_init(&body, 1 << 22);
    if (d->kind == REQUEST)
        rc = sl_xlate_request(p, &c, in, &body, why, sizeof(why));
    else
        rc = sl_xlate_response(p, &c, in, &body, &usage, why, sizeof(why));
    if (rc != SL_OK) {
        /* SL_ERR: a 2xx reply that refuses the request (a blocked prompt), a 400 for callers */
        assert_true(rc == SL_EPARSE || (rc == SL_ERR && d->kind == RESPONSE));
        assert_int_equal(body.len, 0);
        SL_ASSERT(sl_buf_appendf(out, "%s: %s\n", rc == SL_ERR ? "refused" : "error", why) ==
                  SL_OK);
    } else {
        if (d->kind == RESPONSE && d->to == SL_WIRE_BEDROCK_ANTHROPIC)
            xcheck_passed_json(sl_buf_str(&body)); /* Claude's reply, passed on */
        else
            xcheck_json(sl_buf_str(&body));
        SL_ASSERT(sl_buf_append_str(out, sl_buf_str(&body)) == SL_OK);
        SL_ASSERT(sl_buf_append(out, "\n", 1) == SL_OK);
        if (d->kind == RESPONSE)
            put_usage(out, &usage);
    }
    sl_buf_dispose(&body);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case names of a folder (files ending in .in.json or .in.sse), sorted. */
static size_t list_cases(const char *dir, char **names, size_t max)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    assert_non_null(dh);
    while ((e = readdir(dh)) != NULL) {
        char *dot = strstr(e->d_name, ".in.");
        if (dot == NULL || e->d_name[0] == '.')
            continue;
        assert_true(n < max);
        names[n++] = strdup(e->d_name);
    }
    closedir(dh);
    qsort(names, n, sizeof(*names), name_cmp);
    return n;
}

static void golden_direction(const struct direction *d)
{
    char *names[256];
    size_t n;
    char dir[128];
    bool regen = getenv("SL_XLATE_REGEN") != NULL;
    int failures = 0;
    snprintf(dir, sizeof(dir), GOLDEN_DIR "/%s", d->dir);
    n = list_cases(dir, names, SL_ARRAY_LEN(names));
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        char path[512], base[256];
        size_t len, wlen = 0, clen = 0;
        snprintf(base, sizeof(base), "%.*s", (int)(strstr(names[i], ".in.") - names[i]), names[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        char *in = read_file(path, &len);
        snprintf(path, sizeof(path), "%s/%s.ctx", dir, base);
        char *ctx = read_file(path, &clen);
        struct sl_buf out;
        sl_buf_init(&out, 1 << 24);
        run_case(d, ctx, sl_str_init(in, len), &out);
        snprintf(path, sizeof(path), "%s/%s.out", dir, base);
        if (regen)
            write_file(path, sl_buf_str(&out));
        char *want = read_file(path, &wlen);
        if (want == NULL || wlen != out.len || memcmp(want, out.ptr, wlen) != 0) {
            print_error("%s/%s: output differs\n--- want\n%s\n--- got\n%.*s\n", d->dir, base,
                        want != NULL ? want : "(no .out file)", (int)out.len, out.ptr);
            failures++;
        }
        free(want);
        free(ctx);
        free(in);
        free(names[i]);
        sl_buf_dispose(&out);
    }
    assert_int_equal(failures, 0);
}

/* One test per direction, named after its folder. */
#define DIRECTION_TEST(i, name)                                                                    \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        golden_direction(&directions[i]);                                                          \
    }
DIRECTION_TEST(0, chat_to_anthropic_request)
DIRECTION_TEST(1, anthropic_to_chat_response)
DIRECTION_TEST(2, anthropic_to_chat_stream)
DIRECTION_TEST(3, anthropic_to_chat_request)
DIRECTION_TEST(4, chat_to_anthropic_response)
DIRECTION_TEST(5, chat_to_anthropic_stream)
DIRECTION_TEST(6, chat_to_gemini_request)
DIRECTION_TEST(7, gemini_to_chat_response)
DIRECTION_TEST(8, gemini_to_chat_stream)
DIRECTION_TEST(9, anthropic_to_gemini_request)
DIRECTION_TEST(10, gemini_to_anthropic_response)
DIRECTION_TEST(11, gemini_to_anthropic_stream)
DIRECTION_TEST(12, embeddings_to_gemini_request)
DIRECTION_TEST(13, gemini_to_embeddings_response)

/* The Bedrock pairs' directions, all of them (from the seventh on). */
static void test_bedrock_directions(void **state)
{
    (void)state;
    for (size_t i = 6; i < SL_ARRAY_LEN(directions); i++)
        golden_direction(&directions[i]);
}

/* ---- the mock checks the translated requests ---- */

struct mock {
    pid_t pid;
    int port;
};

static bool mock_start(struct mock *m)
{
    char exe[4096], path[4200], line[256];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    int pipefd[2];
    if (n <= 0)
        return false;
    exe[n] = '\0';
    snprintf(path, sizeof(path), "%s/mock/sluice-mock", dirname(exe));
    if (access(path, X_OK) != 0)
        return false;
    SL_ASSERT(pipe(pipefd) == 0);
    m->pid = fork();
    SL_ASSERT(m->pid != -1);
    if (m->pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execl(path, path, "--listen", "127.0.0.1:0", "--quiet", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    SL_ASSERT(f != NULL);
    bool ok = fgets(line, sizeof(line), f) != NULL &&
              sscanf(line, "sluice-mock listening on http://127.0.0.1:%d", &m->port) == 1;
    fclose(f);
    return ok;
}

static void mock_stop(struct mock *m)
{
    kill(m->pid, SIGTERM);
    waitpid(m->pid, NULL, 0);
}

/* POSTs body and returns the status, with the start of the response body in reply. */
static int mock_post(const struct mock *m, const char *path, const char *headers,
                     struct sl_str body, char *reply, size_t replylen)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)m->port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char head[1024];
    size_t got = 0;
    ssize_t r;
    int status = -1;
    SL_ASSERT(fd != -1 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
                      path, headers, body.len);
    SL_ASSERT(write(fd, head, (size_t)hl) == hl);
    SL_ASSERT(write(fd, body.ptr, body.len) == (ssize_t)body.len);
    while (got + 1 < replylen && (r = read(fd, reply + got, replylen - 1 - got)) > 0)
        got += (size_t)r;
    reply[got] = '\0';
    close(fd);
    sscanf(reply, "HTTP/1.1 %d", &status);
    return status;
}

static void mock_direction(const struct mock *m, const struct direction *d)
{
    char *names[256], dir[128];
    size_t n;
    snprintf(dir, sizeof(dir), GOLDEN_DIR "/%s", d->dir);
    n = list_cases(dir, names, SL_ARRAY_LEN(names));
    for (size_t i = 0; i < n; i++) {
        char path[512], base[256], reply[4096];
        size_t len, clen = 0;
        snprintf(base, sizeof(base), "%.*s", (int)(strstr(names[i], ".in.") - names[i]), names[i]);
        snprintf(path, sizeof(path), "%s/%s.out", dir, base);
        char *out = read_file(path, &len);
        snprintf(path, sizeof(path), "%s/%s.ctx", dir, base);
        char *ctx = read_file(path, &clen);
        assert_non_null(out);
        if (strncmp(out, "error:", 6) != 0) {
            const char *headers = d->to == SL_WIRE_GEMINI || d->to == SL_WIRE_GEMINI_EMBED
                                      ? "x-goog-api-key: k\r\n"
                                  : !d->anthropic_out || d->to == SL_WIRE_BEDROCK_ANTHROPIC
                                      ? "Authorization: Bearer k\r\n"
                                  : has_word(ctx, "no_sampling")
                                      ? "x-api-key: k\r\nanthropic-version: 2026-10-21\r\n"
                                      : "x-api-key: k\r\nanthropic-version: 2023-06-01\r\n";
            int status = mock_post(m, d->mock_path, headers, sl_str_init(out, strcspn(out, "\n")),
                                   reply, sizeof(reply));
            if (status != 200)
                fail_msg("%s/%s: the mock answered %d:\n%s", d->dir, base, status, reply);
        }
        free(ctx);
        free(out);
        free(names[i]);
    }
}

static void test_mock_accepts_translated_requests(void **state)
{
    (void)state;
    struct mock m;
    if (!mock_start(&m)) {
        print_message("sluice-mock not built next to this test; skipped\n");
        skip();
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(directions); i++)
        if (directions[i].kind == REQUEST && directions[i].mock_path != NULL)
            mock_direction(&m, &directions[i]);
    mock_stop(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_to_anthropic_request),
        cmocka_unit_test(test_anthropic_to_chat_response),
        cmocka_unit_test(test_anthropic_to_chat_stream),
        cmocka_unit_test(test_anthropic_to_chat_request),
        cmocka_unit_test(test_chat_to_anthropic_response),
        cmocka_unit_test(test_chat_to_anthropic_stream),
        cmocka_unit_test(test_bedrock_directions),
        cmocka_unit_test(test_chat_to_gemini_request),
        cmocka_unit_test(test_gemini_to_chat_response),
        cmocka_unit_test(test_gemini_to_chat_stream),
        cmocka_unit_test(test_anthropic_to_gemini_request),
        cmocka_unit_test(test_gemini_to_anthropic_response),
        cmocka_unit_test(test_gemini_to_anthropic_stream),
        cmocka_unit_test(test_embeddings_to_gemini_request),
        cmocka_unit_test(test_gemini_to_embeddings_response),
        cmocka_unit_test(test_mock_accepts_translated_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
