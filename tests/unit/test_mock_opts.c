/* Unit tests of the mock's per-request control parsing (tests/mock/opts.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "opts.h"
#include "sluice/base.h"

int main(void);

/* A trivial arena so every string the parser copies is freed at the end of each test. */
struct arena {
    void *blocks[64];
    size_t n;
};

static void *arena_alloc(void *ud, size_t n)
{
    struct arena *a = ud;
    SL_ASSERT(a->n < SL_ARRAY_LEN(a->blocks));
    return a->blocks[a->n++] = sl_xmalloc(n);
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    a->n = 0;
}

static const struct mock_defaults defaults = {
    .reply = {"default reply", 13},
    .ttft_ms = 5,
    .chunks = 8,
    .dimensions = 8,
};

static int parse(struct mock_opts *o, struct arena *a, const char *json, char *err, size_t n)
{
    mock_opts_init(o, &defaults);
    return mock_opts_parse(o, sl_str_from_cstr(json), arena_alloc, a, err, n);
}

static void test_defaults(void **state)
{
    struct mock_opts o;

    (void)state;
    mock_opts_init(&o, &defaults);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.chunks, 8);
    assert_int_equal(o.ttft_ms, 5);
    assert_int_equal(o.disconnect_after_chunks, MOCK_NEVER);
    assert_int_equal(o.stall_after_chunks, MOCK_NEVER);
    assert_null(o.chunk_text.ptr);
    assert_false(o.content_overridden);
    assert_int_equal(o.stream_error_after_chunks, MOCK_NEVER);
    assert_int_equal(o.cached_tokens, MOCK_UNSET);
    assert_int_equal(o.input_tokens, MOCK_UNSET);
    assert_int_equal(o.n_tool_calls, 0);
    assert_int_equal(o.n_tool_use, 0);
    assert_int_equal(o.fail_first, MOCK_NEVER);
    assert_true(sl_str_eq_lit(o.tag, ""));
}

static void test_fail_first_and_tag(void **state)
{
    struct mock_opts o;
    struct arena a = {0};
    char err[128];

    (void)state;
    assert_int_equal(
        parse(&o, &a, "{\"status\":503,\"fail_first\":2,\"tag\":\"retry-1\"}", err, sizeof(err)),
        SL_OK);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.fail_first, 2);
    assert_true(sl_str_eq_lit(o.tag, "retry-1"));
    assert_false(o.content_overridden);
    arena_free(&a);
}

static void test_every_field(void **state)
{
    struct mock_opts o;
    struct arena a = {0};
    char err[128];

    (void)state;
    assert_int_equal(
        parse(
            &o, &a,
            "{\"status\":503,\"error_message\":\"m\",\"error_type\":\"t\",\"error_code\":{\"a\":1},"
            "\"error_body\":\"raw\",\"retry_after\":\"12\",\"headers\":{\"X-A\":\"b\",\"x-n\":3},"
            "\"latency_ms\":1,\"ttft_ms\":2,\"chunks\":3,\"chunk_interval_ms\":4,"
            "\"chunk_text\":\"ct\",\"reply\":\"r\",\"response_bytes\":100,\"crlf\":true,"
            "\"split_writes\":true,\"disconnect_after_chunks\":5,\"reset_before_headers\":true,"
            "\"stall_after_chunks\":6,\"drip_ms\":7,\"invalid_json\":true,\"no_usage\":true,"
            "\"dimensions\":9}",
            err, sizeof(err)),
        SL_OK);
    assert_int_equal(o.status, 503);
    assert_true(sl_str_eq_lit(o.error_message, "m"));
    assert_true(sl_str_eq_lit(o.error_type, "t"));
    assert_true(sl_str_eq_lit(o.error_code, "{\"a\":1}"));
    assert_true(sl_str_eq_lit(o.error_body, "raw"));
    assert_true(sl_str_eq_lit(o.retry_after, "12"));
    assert_int_equal(o.n_headers, 2);
    assert_true(sl_str_eq_lit(o.headers[0].name, "x-a"));
    assert_true(sl_str_eq_lit(o.headers[1].value, "3"));
    assert_int_equal(o.latency_ms + o.ttft_ms + o.chunks + o.chunk_interval_ms, 10);
    assert_true(sl_str_eq_lit(o.chunk_text, "ct"));
    assert_true(sl_str_eq_lit(o.reply, "r"));
    assert_int_equal(o.response_bytes, 100);
    assert_true(o.crlf && o.split_writes && o.reset_before_headers && o.invalid_json &&
                o.no_usage && o.content_overridden);
    assert_int_equal(o.disconnect_after_chunks, 5);
    assert_int_equal(o.stall_after_chunks, 6);
    assert_int_equal(o.drip_ms, 7);
    assert_int_equal(o.dimensions, 9);
    arena_free(&a);
}

#define REPEAT_16 "tttttttttttttttt"
#define REPEAT_129                                                                                 \
    REPEAT_16 REPEAT_16 REPEAT_16 REPEAT_16 REPEAT_16 REPEAT_16 REPEAT_16 REPEAT_16 "t"

static void test_rejects_with_a_message_naming_the_field(void **state)
{
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"[]", "expected an object"},
        {"{\"chunk\":1}", "unknown field \"chunk\""},
        {"{\"chunks\":\"2\"}", "mock.chunks"},
        {"{\"chunks\":-1}", "mock.chunks"},
        {"{\"latency_ms\":3600001}", "mock.latency_ms"},
        {"{\"status\":99}", "mock.status"},
        {"{\"crlf\":1}", "mock.crlf"},
        {"{\"reply\":5}", "mock.reply"},
        {"{\"dimensions\":0}", "mock.dimensions"},
        {"{\"headers\":{\"bad name\":\"x\"}}", "mock.headers"},
        {"{\"headers\":{\"x\":\"a\\r\\nb\"}}", "mock.headers"},
        {"{\"retry_after\":\"1\\n\"}", "mock.retry_after"},
        {"{\"tool_calls\":[]}", "mock.tool_calls"},
        {"{\"tool_calls\":[{\"name\":\"f\"}]}", "mock.tool_calls: each call needs \"arguments\""},
        {"{\"tool_calls\":[{\"name\":\"\",\"arguments\":\"{}\"}]}", "mock.tool_calls"},
        {"{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}}]}", "mock.tool_calls"},
        {"{\"tool_calls\":[{\"name\":\"f\",\"arguments\":\"\",\"x\":1}]}", "unknown member \"x\""},
        {"{\"tool_use\":{\"input\":{}}}", "mock.tool_use"},
        {"{\"tool_use\":{\"name\":\"f\",\"input\":[1]}}", "\"input\" must be an object"},
        {"{\"tool_use\":\"f\"}", "mock.tool_use"},
        {"{\"finish_reason\":\"done\"}", "mock.finish_reason: expected one of stop length"},
        {"{\"stop_reason\":\"stop\"}", "mock.stop_reason: expected one of end_turn"},
        {"{\"input_tokens\":-1}", "mock.input_tokens"},
        {"{\"cached_tokens\":1.5}", "mock.cached_tokens"},
        {"{\"thinking\":true}", "mock.thinking"},
        {"{\"stream_error_after_chunks\":\"1\"}", "mock.stream_error_after_chunks"},
        {"{\"fail_first\":-1}", "mock.fail_first"},
        {"{\"tag\":1}", "mock.tag"},
        {"{\"tag\":\"" REPEAT_129 "\"}", "mock.tag: expected a string of at most 128 bytes"},
    };
    struct mock_opts o;
    struct arena a = {0};
    char err[128];

    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(&o, &a, cases[i].json, err, sizeof(err)), SL_EPARSE);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("%s: got \"%s\"", cases[i].json, err);
        arena_free(&a);
    }
}

static void test_tool_calls_and_provider_fields(void **state)
{
    struct mock_opts o;
    struct arena a = {0};
    char err[160];
    const char *name;

    (void)state;
    assert_int_equal(parse(&o, &a,
                           "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"},"
                           "{\"name\":\"g\",\"arguments\":\"\",\"id\":\"call_9\"}],"
                           "\"reasoning_content\":\"why\",\"finish_reason\":\"length\","
                           "\"cached_tokens\":4,\"reasoning_tokens\":0,"
                           "\"stream_error_after_chunks\":2}",
                           err, sizeof(err)),
                     SL_OK);
    assert_int_equal(o.n_tool_calls, 2);
    assert_true(sl_str_eq_lit(o.tool_calls[0].name, "f"));
    assert_true(sl_str_eq_lit(o.tool_calls[0].args, "{\"x\":1}"));
    assert_null(o.tool_calls[0].id.ptr);
    assert_true(sl_str_eq_lit(o.tool_calls[1].id, "call_9"));
    assert_true(sl_str_eq_lit(o.tool_calls[1].args, ""));
    assert_true(sl_str_eq_lit(o.reasoning_content, "why"));
    assert_true(sl_str_eq_lit(o.finish_reason, "length"));
    assert_int_equal(o.cached_tokens, 4);
    assert_int_equal(o.reasoning_tokens, 0);
    assert_int_equal(o.stream_error_after_chunks, 2);
    assert_true(mock_opts_has_openai_only(&o, &name));
    assert_string_equal(name, "tool_calls");
    assert_false(mock_opts_has_anthropic_only(&o, &name));
    assert_false(o.text_set);
    arena_free(&a);

    assert_int_equal(
        parse(&o, &a,
              "{\"tool_use\":{\"name\":\"get\",\"input\":{\"b\":[1,2],\"a\":\"\u00e9\"}},"
              "\"thinking\":\"hmm\",\"stop_reason\":\"max_tokens\","
              "\"stop_sequence\":\"END\",\"input_tokens\":10,\"output_tokens\":3,"
              "\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":6,"
              "\"chunks\":2}",
              err, sizeof(err)),
        SL_OK);
    assert_int_equal(o.n_tool_use, 1);
    /* input keeps its member order and is compact UTF-8. */
    assert_true(sl_str_eq_lit(o.tool_use[0].args, "{\"b\":[1,2],\"a\":\"\xc3\xa9\"}"));
    assert_true(sl_str_eq_lit(o.thinking, "hmm"));
    assert_true(sl_str_eq_lit(o.stop_reason, "max_tokens"));
    assert_true(sl_str_eq_lit(o.stop_sequence, "END"));
    assert_int_equal(o.input_tokens, 10);
    assert_int_equal(o.output_tokens, 3);
    assert_int_equal(o.cache_creation_input_tokens, 5);
    assert_int_equal(o.cache_read_input_tokens, 6);
    assert_true(o.content_overridden);
    assert_false(o.text_set); /* chunks alone does not ask for text beside a tool call */
    assert_true(mock_opts_has_anthropic_only(&o, &name));
    assert_string_equal(name, "tool_use");
    assert_false(mock_opts_has_openai_only(&o, &name));
    arena_free(&a);

    assert_int_equal(parse(&o, &a,
                           "{\"tool_use\":[{\"name\":\"a\"},{\"name\":\"b\",\"id\":\"t\"}],"
                           "\"reply\":\"x\"}",
                           err, sizeof(err)),
                     SL_OK);
    assert_int_equal(o.n_tool_use, 2);
    assert_true(sl_str_eq_lit(o.tool_use[0].args, "{}"));
    assert_true(sl_str_eq_lit(o.tool_use[1].id, "t"));
    assert_true(o.text_set);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_fail_first_and_tag),
        cmocka_unit_test(test_rejects_with_a_message_naming_the_field),
        cmocka_unit_test(test_tool_calls_and_provider_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
