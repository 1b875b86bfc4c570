/* Unit tests of the mock's response renderers and content pieces (tests/mock/render.c). Every
 * rendered body is checked with jansson, independently of the mock's own scanner. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "render.h"

int main(void);

static struct rd_ctx ctx(bool crlf, bool usage_null)
{
    return (struct rd_ctx){.id = SL_STRLIT("chatcmpl-mock-0-1"),
                           .model = SL_STRLIT("\"gpt-4o \\\"x\\\"\""),
                           .created = 1700000000,
                           .prompt_tokens = 10,
                           .completion_tokens = 3,
                           .crlf = crlf,
                           .usage_null = usage_null};
}

static json_t *parse(const char *p, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(p, n, 0, &err);
    if (j == NULL)
        fail_msg("invalid JSON (%s): %.*s", err.text, (int)n, p);
    return j;
}

static void test_chat_completion(void **state)
{
    struct rd_ctx c = ctx(false, false);
    struct sl_str content = SL_STRLIT("\"Hello\"");
    size_t cap = rd_bound(&c, content.len);
    char *buf = malloc(cap);
    struct mj_writer w = {buf, buf + cap};
    json_t *j;

    (void)state;
    rd_chat_completion(&w, &c, content, true);
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt-4o \"x\"");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "chatcmpl-mock-0-1");
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "Hello");
    json_t *usage = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 13);
    json_decref(j);

    w = (struct mj_writer){buf, buf + cap};
    rd_text_completion(&w, &c, content, false);
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
    assert_null(json_object_get(j, "usage"));
    json_decref(j);
    free(buf);
}

/* Checks one SSE event's framing and returns its parsed data. */
static json_t *event_json(const char *buf, size_t n, bool crlf)
{
    const char *end = crlf ? "\r\n\r\n" : "\n\n";
    size_t elen = strlen(end);

    assert_true(n > 6 + elen);
    assert_memory_equal(buf, "data: ", 6);
    assert_memory_equal(buf + n - elen, end, elen);
    return parse(buf + 6, n - 6 - elen);
}

static void test_chat_events(void **state)
{
    for (int crlf = 0; crlf <= 1; crlf++) {
        struct rd_ctx c = ctx(crlf, true);
        char buf[2048];
        struct mj_writer w;
        json_t *j, *choice;

        (void)state;
        for (enum rd_chunk k = RD_CHUNK_ROLE; k <= RD_CHUNK_USAGE; k++) {
            w = (struct mj_writer){buf, buf + rd_bound(&c, 5)};
            rd_chat_event(&w, &c, k, SL_STRLIT("\"a\\nb\""));
            j = event_json(buf, (size_t)(w.ptr - buf), crlf);
            assert_string_equal(json_string_value(json_object_get(j, "object")),
                                "chat.completion.chunk");
            choice = json_array_get(json_object_get(j, "choices"), 0);
            if (k == RD_CHUNK_USAGE) {
                assert_int_equal(json_array_size(json_object_get(j, "choices")), 0);
                assert_true(json_is_object(json_object_get(j, "usage")));
            } else {
                assert_true(json_is_null(json_object_get(j, "usage")));
            }
            if (k == RD_CHUNK_ROLE)
                assert_string_equal(
                    json_string_value(json_object_get(json_object_get(choice, "delta"), "role")),
                    "assistant");
            if (k == RD_CHUNK_CONTENT)
                assert_string_equal(
                    json_string_value(json_object_get(json_object_get(choice, "delta"), "content")),
                    "a\nb");
            if (k == RD_CHUNK_FINISH)
                assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")),
                                    "stop");
            json_decref(j);
        }
        w = (struct mj_writer){buf, buf + sizeof(buf)};
        rd_done_event(&w, crlf);
        assert_int_equal(w.ptr - buf, crlf ? 16 : 14);
    }
}

static void test_text_events_and_broken(void **state)
{
    struct rd_ctx c = ctx(false, false);
    char buf[2048];
    struct mj_writer w = {buf, buf + sizeof(buf)};
    json_t *j;
    json_error_t err;

    (void)state;
    rd_text_event(&w, &c, RD_CHUNK_CONTENT, SL_STRLIT("\"tok\""));
    j = event_json(buf, (size_t)(w.ptr - buf), false);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "choices"), 0), "text")),
                        "tok");
    assert_null(json_object_get(j, "usage"));
    json_decref(j);

    w = (struct mj_writer){buf, buf + sizeof(buf)};
    rd_broken_body(&w, &c);
    assert_null(json_loadb(buf, (size_t)(w.ptr - buf), 0, &err));
}

static void test_error_and_models(void **state)
{
    char buf[RD_MODELS_BOUND];
    struct mj_writer w = {buf, buf + sizeof(buf)};
    json_t *j;

    (void)state;
    rd_error(&w, SL_STRLIT("\"m\""), SL_STRLIT("\"t\""), SL_STRLIT("null"), SL_STRLIT("42"));
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 42);
    json_decref(j);
    w = (struct mj_writer){buf, buf + sizeof(buf)};
    rd_models(&w, 1);
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_true(json_array_size(json_object_get(j, "data")) >= 3);
    json_decref(j);
}

static void test_pieces_concatenate_on_char_boundaries(void **state)
{
    struct sl_str text = SL_STRLIT("h\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x98\x80!");

    (void)state;
    for (uint64_t n = 1; n <= 30; n++) {
        char joined[64];
        size_t len = 0;
        for (uint64_t i = 0; i < n; i++) {
            struct sl_str p = rd_piece(text, i, n);
            assert_true(p.len <= rd_piece_bound(text, n));
            if (p.len != 0)
                assert_true(((unsigned char)p.ptr[0] & 0xc0) != 0x80);
            memcpy(joined + len, p.ptr, p.len);
            len += p.len;
        }
        assert_int_equal(len, text.len);
        assert_memory_equal(joined, text.ptr, text.len);
    }
    assert_int_equal(rd_piece(text, 0, 0).len, 0);
}

static void test_embeddings(void **state)
{
    float a[16], b[16], c[16];
    double norm = 0;
    char buf[4096];
    struct mj_writer w = {buf, buf + sizeof(buf)};
    json_t *j;

    (void)state;
    rd_embedding_vector(a, 16, SL_STRLIT("hello"));
    rd_embedding_vector(b, 16, SL_STRLIT("hello"));
    rd_embedding_vector(c, 16, SL_STRLIT("world"));
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
    for (int i = 0; i < 16; i++)
        norm += (double)a[i] * a[i];
    assert_true(norm > 0.9999 && norm < 1.0001);

    rd_embeddings_begin(&w);
    rd_embedding_item(&w, 0, a, 16, false);
    rd_embedding_item(&w, 1, a, 16, true);
    rd_embeddings_end(&w, SL_STRLIT("\"e\""), 5);
    assert_true((size_t)(w.ptr - buf) < 256 + 2 * rd_embedding_item_bound(16));
    j = parse(buf, (size_t)(w.ptr - buf));
    json_t *floats = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
    assert_int_equal(json_array_size(floats), 16);
    for (size_t i = 0; i < 16; i++)
        assert_true(fabs(json_real_value(json_array_get(floats, i)) - a[i]) < 1e-6);
    json_t *b64 = json_object_get(json_array_get(json_object_get(j, "data"), 1), "embedding");
    assert_int_equal(json_string_length(b64), 88); /* 64 bytes -> 88 base64 characters */
    json_decref(j);
}

static void *block_alloc(void *ud, size_t n)
{
    void **blocks = ud;
    for (size_t i = 0; i < 16; i++) {
        if (blocks[i] == NULL)
            return blocks[i] = calloc(1, n);
    }
    fail_msg("block_alloc: out of slots");
    return NULL;
}

static void free_blocks(void **blocks)
{
    for (size_t i = 0; i < 16; i++) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
}

static const struct mock_tool_call calls[] = {
    {.name = MJ_KEY("get_weather"), .args = MJ_KEY("{\"city\":\"Paris \\u00e9\"}")},
    {.id = MJ_KEY("call_\"x\""), .name = MJ_KEY("noop"), .args = MJ_KEY("")},
};

static void test_chat_message_with_tool_calls(void **state)
{
    struct rd_ctx c = ctx(false, false);
    struct rd_message m = {.content = SL_STRLIT("null"),
                           .reasoning = SL_STRLIT("\"why\""),
                           .calls = calls,
                           .n_calls = 2};
    size_t cap = rd_bound(&c, 10) + rd_calls_bound(calls, 2);
    char *buf = malloc(cap);
    struct mj_writer w = {buf, buf + cap};
    json_t *j, *msg, *tc;

    (void)state;
    c.finish_reason = SL_STRLIT("tool_calls");
    c.details = true;
    c.cached_tokens = 7;
    rd_chat_message(&w, &c, &m, true);
    j = parse(buf, (size_t)(w.ptr - buf));
    msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    assert_true(json_is_null(json_object_get(msg, "content")));
    assert_string_equal(json_string_value(json_object_get(msg, "reasoning_content")), "why");
    tc = json_object_get(msg, "tool_calls");
    assert_int_equal(json_array_size(tc), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tc, 0), "id")),
                        "call_mock_0");
    assert_string_equal(json_string_value(json_object_get(json_array_get(tc, 1), "id")),
                        "call_\"x\"");
    assert_string_equal(json_string_value(json_object_get(json_array_get(tc, 0), "type")),
                        "function");
    json_t *fn = json_object_get(json_array_get(tc, 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
    assert_string_equal(json_string_value(json_object_get(fn, "arguments")),
                        "{\"city\":\"Paris \\u00e9\"}");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "choices"), 0), "finish_reason")),
                        "tool_calls");
    json_t *usage = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(usage, "prompt_tokens_details"), "cached_tokens")),
                     7);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(usage, "completion_tokens_details"), "reasoning_tokens")),
                     0);
    json_decref(j);
    free(buf);
}

/* Renders every event of a planned stream; checks each fits the bound the plan returned. */
static json_t *render_stream(struct rd_stream *s, void **blocks, size_t *deltas)
{
    const struct rd_seg *segs;
    size_t n_segs, cap = rd_stream_plan(s, block_alloc, blocks, &segs, &n_segs);
    json_t *events = json_array();
    char *buf = malloc(cap);

    *deltas = 0;
    for (size_t i = 0; i < n_segs; i++) {
        for (uint64_t j = 0; j < segs[i].count; j++) {
            struct mj_writer w = {buf, buf + cap};
            rd_stream_event(s, &segs[i], j, &w);
            if ((segs[i].flags & RD_SEG_DELTA) != 0)
                (*deltas)++;
            if (w.ptr - buf == 14 && memcmp(buf, "data: [DONE]\n\n", 14) == 0)
                json_array_append_new(events, json_string("[DONE]"));
            else
                json_array_append_new(events, event_json(buf, (size_t)(w.ptr - buf), false));
        }
    }
    free(buf);
    return events;
}

static void test_planned_chat_stream(void **state)
{
    void *blocks[16] = {0};
    struct rd_stream s = {.c = ctx(false, true),
                          .chat = true,
                          .usage = true,
                          .text = true,
                          .reply = SL_STRLIT("Hello, w\xc3\xb6rld"),
                          .chunks = 3,
                          .reasoning = SL_STRLIT("because"),
                          .calls = calls,
                          .n_calls = 2};
    size_t deltas, i = 0;
    json_t *ev, *d;
    char joined[64] = "";

    (void)state;
    s.c.finish_reason = SL_STRLIT("tool_calls");
    ev = render_stream(&s, blocks, &deltas);
    /* role, 3 reasoning, 3 content, head + 4 argument pieces, head (empty arguments), finish,
     * usage, [DONE] */
    assert_int_equal(json_array_size(ev), 1 + 3 + 3 + 5 + 1 + 3);
    assert_int_equal(deltas, rd_stream_deltas(&s));
    assert_int_equal(deltas, 3 + 3 + 4);
#define DELTA(k)                                                                                   \
    json_object_get(json_array_get(json_object_get(json_array_get(ev, k), "choices"), 0), "delta")
    assert_string_equal(json_string_value(json_object_get(DELTA(i++), "role")), "assistant");
    for (int k = 0; k < 3; k++)
        strcat(joined, json_string_value(json_object_get(DELTA(i++), "reasoning_content")));
    assert_string_equal(joined, "because");
    joined[0] = '\0';
    for (int k = 0; k < 3; k++)
        strcat(joined, json_string_value(json_object_get(DELTA(i++), "content")));
    assert_string_equal(joined, "Hello, w\xc3\xb6rld");
    d = json_array_get(json_object_get(DELTA(i++), "tool_calls"), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "index")), 0);
    assert_string_equal(json_string_value(json_object_get(d, "id")), "call_mock_0");
    assert_string_equal(json_string_value(json_object_get(d, "type")), "function");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "function"), "name")),
                        "get_weather");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(d, "function"), "arguments")), "");
    joined[0] = '\0';
    for (int k = 0; k < 4; k++) {
        d = json_array_get(json_object_get(DELTA(i++), "tool_calls"), 0);
        assert_int_equal(json_integer_value(json_object_get(d, "index")), 0);
        assert_null(json_object_get(d, "id"));
        strcat(joined,
               json_string_value(json_object_get(json_object_get(d, "function"), "arguments")));
    }
    assert_string_equal(joined, "{\"city\":\"Paris \\u00e9\"}");
    d = json_array_get(json_object_get(DELTA(i++), "tool_calls"), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "id")), "call_\"x\"");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(json_array_get(ev, i++), "choices"), 0),
                            "finish_reason")),
                        "tool_calls");
    assert_int_equal(json_array_size(json_object_get(json_array_get(ev, i++), "choices")), 0);
    assert_string_equal(json_string_value(json_array_get(ev, i)), "[DONE]");
#undef DELTA
    json_decref(ev);
    free_blocks(blocks);

    /* Tool calls alone: the role chunk says content null and no content deltas follow. */
    s = (struct rd_stream){
        .c = ctx(false, false), .chat = true, .chunks = 8, .calls = calls, .n_calls = 1};
    ev = render_stream(&s, blocks, &deltas);
    assert_int_equal(json_array_size(ev), 1 + 1 + 4 + 1 + 1);
    d = json_object_get(json_array_get(json_object_get(json_array_get(ev, 0), "choices"), 0),
                        "delta");
    assert_true(json_is_null(json_object_get(d, "content")));
    json_decref(ev);
    free_blocks(blocks);
}

static void test_stream_error_event(void **state)
{
    struct rd_stream s = {.c = ctx(true, false)};
    char buf[512];
    struct mj_writer w = {buf, buf + sizeof(buf)};
    json_t *j;

    (void)state;
    rd_stream_error(&s, &w);
    j = event_json(buf, (size_t)(w.ptr - buf), true);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                        "server_error");
    assert_true(json_is_null(json_object_get(json_object_get(j, "error"), "code")));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_completion),
        cmocka_unit_test(test_chat_events),
        cmocka_unit_test(test_text_events_and_broken),
        cmocka_unit_test(test_error_and_models),
        cmocka_unit_test(test_pieces_concatenate_on_char_boundaries),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_chat_message_with_tool_calls),
        cmocka_unit_test(test_planned_chat_stream),
        cmocka_unit_test(test_stream_error_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
