/* Golden tests of the Responses dialect and the {responses -> chat} pair (src/xlate/). Each
 * direction has a folder under tests/unit/xlate/ with one input and one expected output per
 * case:
 *
 *   <dir>/<case>.in.json|.in.sse   the caller's or the upstream's bytes
 *   <dir>/<case>.out               the translated JSON (and, for replies and streams, a "usage:"
 *                                  line), the events, or "error: <why>"
 *
 * responses_to_chat_request, chat_to_responses_response and chat_to_responses_stream drive the
 * pair; every stream is also checked by the Responses grammar of fuzz_xlate_responses_check.h.
 * responses_passthrough_json and responses_passthrough_stream drive the dialect's rewrite of a
 * Responses upstream's replies (ids sealed with a fixed secret, so the output is stable) and,
 * for streams, its encoder: the bytes a caller would read. SL_XLATE_REGEN=1 rewrites the .out
 * files (review the diff). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fuzz/fuzz_xlate_responses_check.h"
#include "sluice/dialect.h"
#include "sluice/respid.h"
#include "sluice/splice.h"
#include "sluice/sse.h"
#include "sluice/xlate.h"

int main(void);

#define ALIAS      "my-alias"
#define GOLDEN_DIR "xlate"

enum kind { REQUEST, RESPONSE, STREAM, PASS_JSON, PASS_STREAM };

struct direction {
    const char *dir;
    enum kind kind;
};

static const struct direction directions[] = {
    {"responses_to_chat_request", REQUEST},        {"chat_to_responses_response", RESPONSE},
    {"chat_to_responses_stream", STREAM},          {"responses_passthrough_json", PASS_JSON},
    {"responses_passthrough_stream", PASS_STREAM},
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
    return b.ptr;
}

static void write_file(const char *path, struct sl_str s)
{
    FILE *f = fopen(path, "wb");
    SL_ASSERT(f != NULL);
    SL_ASSERT(fwrite(s.ptr, 1, s.len, f) == s.len);
    fclose(f);
}

/* The sealing state of the passthrough cases: a fixed secret and names. */
static struct sl_responses_state *sealer(void)
{
    static struct sl_responses_state st;
    st = (struct sl_responses_state){
        .secret = SL_STRLIT("golden-secret-0123456789abcdef"),
        .claims = {.provider_key = SL_STRLIT("openai-main"),
                   .caller = SL_STRLIT("team-a"),
                   .alias = SL_STRLIT(ALIAS)},
    };
    return &st;
}

static struct sl_xlate_ctx make_ctx(bool stream)
{
    return (struct sl_xlate_ctx){
        .alias = SL_STRLIT(ALIAS),
        .alias_json = SL_STRLIT("\"" ALIAS "\""),
        .upstream_model = SL_STRLIT("upstream-model-1"),
        .stream = stream,
        .id_seed = SL_STRLIT("req42"),
        .created = 1767225600,
        .dialect_state = sealer(),
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

/* Feeds in to stage and ends the stream as the relay would. */
static void feed_all(struct sl_filter *stage, struct sl_str in)
{
    struct sl_sse_parser sse;
    struct feed f = {.stage = stage, .rc = SL_OK};
    sl_sse_init(&sse, 1 << 20, false);
    assert_int_equal(sl_sse_feed(&sse, in.ptr, in.len, on_sse, &f), SL_OK);
    assert_int_equal(sl_sse_finish(&sse, on_sse, &f), SL_OK);
    assert_true(f.rc == SL_OK || f.rc == SL_DONE);
    if (f.rc == SL_OK)
        assert_int_equal(sl_filter_end(stage), SL_OK);
    sl_sse_dispose(&sse);
}

static void run_stream(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                       struct sl_str in, struct sl_buf *out)
{
    h2o_mem_pool_t pool;
    struct sl_usage usage;
    struct rcheck_sink *sink = malloc(sizeof(*sink));
    h2o_mem_init_pool(&pool);
    rcheck_sink_init(sink, ALIAS);
    feed_all(p->stream(&pool, c, &usage, &sink->super), in);
    rcheck_sink_done(sink);
    SL_ASSERT(sl_buf_append_str(out, sl_buf_str(&sink->log)) == SL_OK);
    put_usage(out, &usage);
    sl_buf_dispose(&sink->log);
    free(sink);
    h2o_mem_clear_pool(&pool);
}

/* The dialect's passthrough stage in front of its encoder: what the caller reads. */
static void run_pass_stream(const struct sl_xlate_ctx *c, struct sl_str in, struct sl_buf *out)
{
    const struct sl_dialect *d = &sl_dialect_responses;
    h2o_mem_pool_t pool;
    struct sl_usage usage = SL_USAGE_UNKNOWN;
    struct sl_buf wire;
    h2o_mem_init_pool(&pool);
    sl_buf_init(&wire, 1 << 24);
    feed_all(d->passthrough_stream(&pool, c, &usage, d->encoder(&pool, &wire)), in);
    SL_ASSERT(sl_buf_append_str(out, sl_buf_str(&wire)) == SL_OK);
    put_usage(out, &usage);
    sl_buf_dispose(&wire);
    h2o_mem_clear_pool(&pool);
}

static void run_pass_json(const struct sl_xlate_ctx *c, struct sl_str in, struct sl_buf *out)
{
    struct sl_splice sp;
    struct sl_usage usage = SL_USAGE_UNKNOWN;
    static const char *const names[] = {"ok", "raw", "drop", "refuse"};
    enum sl_rewrite rw = sl_dialect_responses.passthrough_json(c, in, c->alias_json, &sp, &usage);
    if (rw != SL_REWRITE_OK) {
        SL_ASSERT(sl_buf_appendf(out, "rewrite: %s\n", names[rw]) == SL_OK);
        return;
    }
    SL_ASSERT(sl_splice_append(&sp, out) == SL_OK);
    SL_ASSERT(sl_buf_append(out, "\n", 1) == SL_OK);
    put_usage(out, &usage);
}

/* Runs one case; returns the output as the .out file holds it. */
static void run_case(const struct direction *d, struct sl_str in, struct sl_buf *out)
{
    const struct sl_xlate_pair *p = sl_xlate_for(SL_WIRE_RESPONSES, SL_WIRE_CHAT);
    struct sl_xlate_ctx c = make_ctx(d->kind == STREAM || d->kind == PASS_STREAM);
    struct sl_usage usage;
    struct sl_buf body;
    char why[256] = "unset";
    int rc;
    assert_non_null(p);
    if (d->kind == STREAM) {
        run_stream(p, &c, in, out);
        return;
    }
    if (d->kind == PASS_STREAM) {
        run_pass_stream(&c, in, out);
        return;
    }
    if (d->kind == PASS_JSON) {
        run_pass_json(&c, in, out);
        return;
    }
    sl_buf_init(&body, 1 << 22);
    if (d->kind == REQUEST)
        rc = p->request(&c, in, &body, why, sizeof(why));
    else
        rc = p->response(&c, in, &body, &usage, why, sizeof(why));
    if (rc != SL_OK) {
        assert_int_equal(rc, SL_EPARSE);
        assert_int_equal(body.len, 0);
        SL_ASSERT(sl_buf_appendf(out, "error: %s\n", why) == SL_OK);
    } else {
        assert_int_equal(sl_json_validate(sl_buf_str(&body), SL_JSON_DEFAULT_MAX_DEPTH, NULL),
                         SL_OK);
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
    char dir[128];
    bool regen = getenv("SL_XLATE_REGEN") != NULL;
    int failures = 0;
    snprintf(dir, sizeof(dir), GOLDEN_DIR "/%s", d->dir);
    size_t n = list_cases(dir, names, SL_ARRAY_LEN(names));
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        char path[512], base[256];
        size_t len, wlen = 0;
        snprintf(base, sizeof(base), "%.*s", (int)(strstr(names[i], ".in.") - names[i]), names[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        char *in = read_file(path, &len);
        struct sl_buf out;
        sl_buf_init(&out, 1 << 24);
        run_case(d, sl_str_init(in, len), &out);
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
        free(in);
        free(names[i]);
        sl_buf_dispose(&out);
    }
    assert_int_equal(failures, 0);
}

static void test_responses_to_chat_request(void **state)
{
    (void)state;
    golden_direction(&directions[0]);
}
static void test_chat_to_responses_response(void **state)
{
    (void)state;
    golden_direction(&directions[1]);
}
static void test_chat_to_responses_stream(void **state)
{
    (void)state;
    golden_direction(&directions[2]);
}
static void test_responses_passthrough_json(void **state)
{
    (void)state;
    golden_direction(&directions[3]);
}
static void test_responses_passthrough_stream(void **state)
{
    (void)state;
    golden_direction(&directions[4]);
}

/* The ids the passthrough cases seal open for the golden claims, and only for them. */
static void test_sealed_ids_open(void **state)
{
    struct sl_respid id;
    char buf[SL_RESPID_MAX_TEXT];
    size_t len;
    (void)state;
    const struct sl_responses_state *st = sealer();
    assert_int_equal(
        sl_respid_seal(st->secret, &st->claims, SL_STRLIT("resp_upstream_1"), buf, &len), SL_OK);
    char *want = NULL;
    size_t wlen = 0;
    want = read_file(GOLDEN_DIR "/responses_passthrough_json/response.out", &wlen);
    assert_non_null(want);
    /* The golden reply's id is the upstream's resp_upstream_1, sealed. */
    assert_non_null(memmem(want, wlen, buf, len));
    free(want);
    assert_int_equal(sl_respid_parse(sl_str_init(buf, len), &id), SL_OK);
    assert_true(sl_respid_verify(&id, st->secret, SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_responses_to_chat_request),
        cmocka_unit_test(test_chat_to_responses_response),
        cmocka_unit_test(test_chat_to_responses_stream),
        cmocka_unit_test(test_responses_passthrough_json),
        cmocka_unit_test(test_responses_passthrough_stream),
        cmocka_unit_test(test_sealed_ids_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
