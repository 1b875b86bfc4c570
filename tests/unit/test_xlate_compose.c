/* Composition through chat (src/xlate/xlate.c): a pair {from, to} made of {from, CHAT} and
 * {CHAT, to}. Only two wires exist besides chat's own today, so the test composes the Anthropic
 * pairs with each other, {ANTHROPIC, CHAT} then {CHAT, ANTHROPIC}: an Anthropic request, reply
 * and stream must survive the round trip through chat with their meaning intact, and the
 * composed stream must obey Anthropic's event grammar (the same checker the fuzzers use). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../fuzz/fuzz_xlate_check.h"
#include "sluice/base.h"
#include "sluice/sse.h"
#include "sluice/xlate.h"

static struct sl_xlate_pair round_trip(void)
{
    const struct sl_xlate_pair *a = sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_CHAT);
    const struct sl_xlate_pair *b = sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_ANTHROPIC);
    SL_ASSERT(a != NULL && b != NULL);
    return (struct sl_xlate_pair){
        .from = SL_WIRE_ANTHROPIC, .to = SL_WIRE_ANTHROPIC, .via = {a, b}};
}

static struct sl_xlate_ctx ctx(bool stream)
{
    return (struct sl_xlate_ctx){.alias = SL_STRLIT("alias"),
                                 .alias_json = SL_STRLIT("\"alias\""),
                                 .upstream_model = SL_STRLIT("up-model"),
                                 .stream = stream,
                                 .id_seed = SL_STRLIT("req-1"),
                                 .created = 1700000000};
}

static json_t *load(struct sl_str s)
{
    json_error_t e;
    json_t *j = json_loadb(s.ptr, s.len, 0, &e);
    if (j == NULL)
        fail_msg("invalid JSON (%s): %.*s", e.text, (int)s.len, s.ptr);
    return j;
}

static void test_unknown_compositions(void **state)
{
    (void)state;
    /* Same wire: no pair; wires without a chat pair: none either. */
    assert_null(sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_ANTHROPIC));
    assert_null(sl_xlate_for(SL_WIRE_EMBEDDINGS, SL_WIRE_ANTHROPIC));
    assert_null(sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_COMPLETIONS));
    const struct sl_xlate_pair *p = sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_ANTHROPIC);
    assert_non_null(p);
    assert_null(p->via[0]); /* a direct pair */
}

static void test_request_round_trip(void **state)
{
    (void)state;
    static const char in[] =
        "{\"model\":\"alias\",\"max_tokens\":512,\"system\":\"Be brief.\",\"messages\":["
        "{\"role\":\"user\",\"content\":\"What is the weather?\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\","
        "\"name\":\"get_weather\",\"input\":{\"city\":\"Lyon\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
        "\"content\":\"14 C\"}]}],"
        "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],"
        "\"stop_sequences\":[\"END\"]}";
    struct sl_xlate_pair p = round_trip();
    struct sl_xlate_ctx c = ctx(false);
    struct sl_buf out;
    char why[256];
    sl_buf_init(&out, 1 << 20);
    assert_int_equal(sl_xlate_request(&p, &c, SL_STRLIT(in), &out, why, sizeof(why)), SL_OK);
    xcheck_json(sl_buf_str(&out));
    json_t *j = load(sl_buf_str(&out));
    assert_string_equal(json_string_value(json_object_get(j, "model")), "up-model");
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 512);
    json_t *msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *use = json_array_get(json_object_get(json_array_get(msgs, 1), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(use, "type")), "tool_use");
    assert_string_equal(json_string_value(json_object_get(use, "id")), "toolu_1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(use, "input"), "city")),
                        "Lyon");
    json_t *res = json_array_get(json_object_get(json_array_get(msgs, 2), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(res, "tool_use_id")), "toolu_1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "stop_sequences"), 0)),
                        "END");
    json_decref(j);
    /* A request the first half refuses is refused whole, with its reason. */
    sl_buf_reset(&out);
    assert_int_equal(sl_xlate_request(&p, &c, SL_STRLIT("{\"model\":1}"), &out, why, sizeof(why)),
                     SL_EPARSE);
    assert_true(strlen(why) > 0);
    sl_buf_dispose(&out);
}

static void test_response_round_trip(void **state)
{
    (void)state;
    static const char in[] =
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up-model\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},{\"type\":\"tool_use\","
        "\"id\":\"toolu_2\",\"name\":\"f\",\"input\":{\"a\":1}}],\"stop_reason\":\"tool_use\","
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":4,"
        "\"cache_read_input_tokens\":6,\"cache_creation_input_tokens\":0}}";
    struct sl_xlate_pair p = round_trip();
    struct sl_xlate_ctx c = ctx(false);
    struct sl_usage u = SL_USAGE_UNKNOWN;
    struct sl_buf out;
    char why[256];
    sl_buf_init(&out, 1 << 20);
    assert_int_equal(sl_xlate_response(&p, &c, SL_STRLIT(in), &out, &u, why, sizeof(why)), SL_OK);
    json_t *j = load(sl_buf_str(&out));
    assert_string_equal(json_string_value(json_object_get(j, "model")), "alias");
    assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), "tool_use");
    json_t *content = json_object_get(j, "content");
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 0), "text")),
                        "Hello");
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 1), "id")),
                        "toolu_2");
    json_t *usage = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "input_tokens")), 10);
    assert_int_equal(json_integer_value(json_object_get(usage, "cache_read_input_tokens")), 6);
    assert_int_equal(u.input_tokens, 16);
    assert_int_equal(u.output_tokens, 4);
    json_decref(j);
    sl_buf_dispose(&out);
}

struct feed {
    struct sl_filter *stage;
    int rc;
};

static int on_sse(void *ud, const struct sl_sse_event *ev)
{
    struct feed *f = ud;
    struct sl_sevent e = {.name = ev->event, .data = ev->data};
    if (f->rc == SL_OK && ev->has_data)
        f->rc = sl_filter_event(f->stage, &e);
    return 0;
}

static void test_stream_round_trip(void **state)
{
    (void)state;
    static const char in[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up-model\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    struct sl_xlate_pair p = round_trip();
    struct sl_xlate_ctx c = ctx(true);
    struct sl_usage u = SL_USAGE_UNKNOWN;
    h2o_mem_pool_t pool;
    struct xcheck_sink sink;
    struct sl_sse_parser sse;
    h2o_mem_init_pool(&pool);
    xcheck_sink_init(&sink, true, false, "alias");
    struct feed f = {.stage = sl_xlate_stream(&p, &pool, &c, &u, &sink.super), .rc = SL_OK};
    sl_sse_init(&sse, 1 << 20, false);
    assert_int_equal(sl_sse_feed(&sse, in, sizeof(in) - 1, on_sse, &f), SL_OK);
    assert_int_equal(f.rc, SL_OK);
    assert_int_equal(sl_filter_end(f.stage), SL_OK);
    xcheck_sink_done(&sink); /* the Anthropic grammar held all the way */
    struct sl_str text = sl_buf_str(&sink.text);
    assert_non_null(memmem(text.ptr, text.len, "\"Hel\"", 5));
    assert_non_null(memmem(text.ptr, text.len, "\"lo\"", 4));
    assert_non_null(memmem(text.ptr, text.len, "end_turn", 8));
    assert_int_equal(u.input_tokens, 12);
    assert_int_equal(u.output_tokens, 2);
    sl_sse_dispose(&sse);
    sl_buf_dispose(&sink.text);
    h2o_mem_clear_pool(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_compositions),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_stream_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
