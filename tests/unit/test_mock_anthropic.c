/* Unit tests of the mock's Anthropic Messages support: the renderers (tests/mock/
 * render_anthropic.c, every body and event checked with jansson) and the strict request
 * validation (tests/mock/anthropic_req.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "anthropic_req.h"
#include "render_anthropic.h"

int main(void);

/* Allocations of one test, freed together. */
struct arena {
    void *blocks[256];
    size_t n;
};

static void *arena_alloc(void *ud, size_t n)
{
    struct arena *a = ud;
    if (a->n == SL_ARRAY_LEN(a->blocks))
        fail_msg("arena: out of slots");
    return a->blocks[a->n++] = calloc(1, n);
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    a->n = 0;
}

static json_t *parse(const char *p, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(p, n, 0, &err);
    if (j == NULL)
        fail_msg("invalid JSON (%s): %.*s", err.text, (int)n, p);
    return j;
}

static const struct mock_tool_call tools[] = {
    {.name = MJ_KEY("get_weather"), .args = MJ_KEY("{\"city\":\"Par\xc3\xads\",\"n\":[1,2]}")},
    {.id = MJ_KEY("toolu_given"), .name = MJ_KEY("noop"), .args = MJ_KEY("{}")},
};

static struct ra_reply reply(void)
{
    return (struct ra_reply){.id = SL_STRLIT("msg_mock_0_1"),
                             .model = SL_STRLIT("\"claude \\\"x\\\"\""),
                             .input_tokens = 12,
                             .output_tokens = 9,
                             .cache_creation_input_tokens = 3,
                             .cache_read_input_tokens = 4,
                             .stop_reason = SL_STRLIT("tool_use"),
                             .thinking = SL_STRLIT("Let me \"think\"."),
                             .text = true,
                             .text_tok = SL_STRLIT("\"Hi \\n there\""),
                             .reply = SL_STRLIT("Hi \n there"),
                             .chunks = 3,
                             .tools = tools,
                             .n_tools = 2};
}

static const char *str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static json_int_t num(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

static void test_message_body(void **state)
{
    struct ra_reply r = reply();
    size_t cap = ra_message_bound(&r);
    char *buf = malloc(cap), sig[RA_SIG_LEN];
    struct mj_writer w = {buf, buf + cap};
    json_t *j, *content, *usage;

    (void)state;
    ra_message(&w, &r);
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_string_equal(str(j, "id"), "msg_mock_0_1");
    assert_string_equal(str(j, "type"), "message");
    assert_string_equal(str(j, "role"), "assistant");
    assert_string_equal(str(j, "model"), "claude \"x\"");
    assert_string_equal(str(j, "stop_reason"), "tool_use");
    assert_true(json_is_null(json_object_get(j, "stop_sequence")));
    assert_true(json_is_null(json_object_get(j, "stop_details")));
    content = json_object_get(j, "content");
    assert_int_equal(json_array_size(content), 4);
    assert_string_equal(str(json_array_get(content, 0), "type"), "thinking");
    assert_string_equal(str(json_array_get(content, 0), "thinking"), "Let me \"think\".");
    ra_signature(sig, r.thinking);
    assert_int_equal(strlen(str(json_array_get(content, 0), "signature")), RA_SIG_LEN);
    assert_memory_equal(str(json_array_get(content, 0), "signature"), sig, RA_SIG_LEN);
    assert_string_equal(str(json_array_get(content, 1), "text"), "Hi \n there");
    assert_string_equal(str(json_array_get(content, 2), "type"), "tool_use");
    assert_string_equal(str(json_array_get(content, 2), "id"), "toolu_mock_0");
    assert_string_equal(str(json_array_get(content, 3), "id"), "toolu_given");
    assert_string_equal(str(json_object_get(json_array_get(content, 2), "input"), "city"),
                        "Par\xc3\xads");
    assert_string_equal(str(json_object_get(json_array_get(content, 2), "caller"), "type"),
                        "direct");
    usage = json_object_get(j, "usage");
    assert_int_equal(num(usage, "input_tokens"), 12);
    assert_int_equal(num(usage, "output_tokens"), 9);
    assert_int_equal(num(usage, "cache_creation_input_tokens"), 3);
    assert_int_equal(num(usage, "cache_read_input_tokens"), 4);
    assert_int_equal(num(json_object_get(usage, "cache_creation"), "ephemeral_5m_input_tokens"), 3);
    assert_string_equal(str(usage, "service_tier"), "standard");
    json_decref(j);

    /* A refusal carries stop_details; a stop sequence is echoed. */
    r = reply();
    r.stop_reason = SL_STRLIT("refusal");
    r.stop_sequence = SL_STRLIT("END\"");
    r.thinking = SL_STR_NULL;
    r.n_tools = 0;
    w = (struct mj_writer){buf, buf + ra_message_bound(&r)};
    ra_message(&w, &r);
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_string_equal(str(json_object_get(j, "stop_details"), "type"), "refusal");
    assert_string_equal(str(j, "stop_sequence"), "END\"");
    assert_int_equal(json_array_size(json_object_get(j, "content")), 1);
    json_decref(j);
    free(buf);
}

/* Splits one "event: NAME\ndata: JSON\n\n" event; returns its data and checks its name. */
static json_t *sse_event(const char *p, size_t n, bool crlf, char *name, size_t name_cap)
{
    const char *eol = crlf ? "\r\n" : "\n";
    size_t el = strlen(eol);
    const char *data = strstr(p, crlf ? "\r\ndata: " : "\ndata: ");

    assert_memory_equal(p, "event: ", 7);
    assert_non_null(data);
    snprintf(name, name_cap, "%.*s", (int)(data - p - 7), p + 7);
    data += el + 6;
    assert_memory_equal(p + n - 2 * el, crlf ? "\r\n\r\n" : "\n\n", 2 * el);
    assert_null(memchr(p, '\n', (size_t)(data - el - 6 - p) - (crlf ? 1 : 0)));
    return parse(data, (size_t)(p + n - 2 * el - data));
}

struct rendered {
    json_t *events; /* [{"event": name, "data": {...}}] */
    size_t deltas;
};

static struct rendered render_all(struct ra_reply *r, struct arena *a)
{
    const struct rd_seg *segs;
    size_t n_segs, cap = ra_stream_plan(r, arena_alloc, a, &segs, &n_segs);
    char *buf = malloc(cap + 1), name[64];
    struct rendered out = {json_array(), 0};

    for (size_t i = 0; i < n_segs; i++) {
        for (uint64_t j = 0; j < segs[i].count; j++) {
            struct mj_writer w = {buf, buf + cap};
            ra_stream_event(r, &segs[i], j, &w);
            *w.ptr = '\0';
            json_t *data = sse_event(buf, (size_t)(w.ptr - buf), r->crlf, name, sizeof(name));
            assert_string_equal(name, str(data, "type"));
            json_array_append_new(out.events, data);
            out.deltas += (segs[i].flags & RD_SEG_DELTA) != 0;
        }
    }
    free(buf);
    return out;
}

static const char *ev_type(json_t *events, size_t i)
{
    return str(json_array_get(events, i), "type");
}

static void test_stream_events(void **state)
{
    for (int crlf = 0; crlf <= 1; crlf++) {
        struct arena a = {0};
        struct ra_reply r = reply();
        struct rendered out;
        json_t *ev, *msg;
        char joined[3][128] = {"", "", ""};
        size_t n;

        (void)state;
        r.crlf = crlf;
        out = render_all(&r, &a);
        ev = out.events;
        n = json_array_size(ev);
        assert_int_equal(out.deltas, ra_deltas(&r));
        /* thinking: 3 deltas; text: 3; tools: 1 + 4 and 1 + 2 input_json pieces */
        assert_int_equal(out.deltas, 3 + 3 + 5 + 3);
        assert_string_equal(ev_type(ev, 0), "message_start");
        msg = json_object_get(json_array_get(ev, 0), "message");
        assert_int_equal(json_array_size(json_object_get(msg, "content")), 0);
        assert_true(json_is_null(json_object_get(msg, "stop_reason")));
        assert_int_equal(num(json_object_get(msg, "usage"), "input_tokens"), 12);
        assert_string_equal(ev_type(ev, 1), "content_block_start");
        assert_string_equal(ev_type(ev, 2), "ping");
        assert_string_equal(ev_type(ev, n - 2), "message_delta");
        assert_string_equal(ev_type(ev, n - 1), "message_stop");
        json_t *md = json_array_get(ev, n - 2);
        assert_string_equal(str(json_object_get(md, "delta"), "stop_reason"), "tool_use");
        assert_int_equal(num(json_object_get(md, "usage"), "output_tokens"), 9);
        bool signed_ = false;
        for (size_t i = 1; i < n - 2; i++) {
            json_t *e = json_array_get(ev, i), *d = json_object_get(e, "delta");
            json_int_t index = json_integer_value(json_object_get(e, "index"));
            if (strcmp(ev_type(ev, i), "content_block_start") == 0 && index == 2) {
                json_t *cb = json_object_get(e, "content_block");
                assert_string_equal(str(cb, "type"), "tool_use");
                assert_string_equal(str(cb, "id"), "toolu_mock_0");
                assert_int_equal(json_object_size(json_object_get(cb, "input")), 0);
            }
            if (d == NULL)
                continue;
            if (strcmp(str(d, "type"), "thinking_delta") == 0)
                strcat(joined[0], str(d, "thinking"));
            else if (strcmp(str(d, "type"), "text_delta") == 0)
                strcat(joined[1], str(d, "text"));
            else if (strcmp(str(d, "type"), "input_json_delta") == 0 && index == 2)
                strcat(joined[2], str(d, "partial_json"));
            else if (strcmp(str(d, "type"), "signature_delta") == 0)
                signed_ = strlen(str(d, "signature")) == RA_SIG_LEN && index == 0;
        }
        assert_true(signed_);
        assert_string_equal(joined[0], "Let me \"think\".");
        assert_string_equal(joined[1], "Hi \n there");
        assert_string_equal(joined[2], "{\"city\":\"Par\xc3\xads\",\"n\":[1,2]}");
        json_decref(ev);
        arena_free(&a);
    }
}

static void test_stream_error_and_errors(void **state)
{
    struct ra_reply r = reply();
    char buf[512], name[32];
    struct mj_writer w = {buf, buf + sizeof(buf)};
    json_t *j;

    (void)state;
    ra_stream_error(&r, &w);
    j = sse_event(buf, (size_t)(w.ptr - buf), false, name, sizeof(name));
    assert_string_equal(name, "error");
    assert_string_equal(str(json_object_get(j, "error"), "type"), "overloaded_error");
    assert_string_equal(str(json_object_get(j, "error"), "message"), "Overloaded");
    json_decref(j);

    w = (struct mj_writer){buf, buf + sizeof(buf)};
    ra_error(&w, SL_STRLIT("\"rate_limit_error\""), SL_STRLIT("\"slow \\\"down\\\"\""),
             SL_STRLIT("req_1"));
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_string_equal(str(j, "type"), "error");
    assert_string_equal(str(json_object_get(j, "error"), "message"), "slow \"down\"");
    assert_string_equal(str(j, "request_id"), "req_1");
    json_decref(j);

    w = (struct mj_writer){buf, buf + RA_COUNT_TOKENS_BOUND};
    ra_count_tokens(&w, MOCK_MAX_TOKENS);
    j = parse(buf, (size_t)(w.ptr - buf));
    assert_int_equal(num(j, "input_tokens"), MOCK_MAX_TOKENS);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
}

/* --- validation --- */

static int validate(const char *body, enum an_version v, bool count, struct an_request *out,
                    char *err, size_t errlen, struct arena *a)
{
    struct an_limits lim = {.version = v, .count_tokens = count};
    struct sl_str doc = sl_str_from_cstr(body);

    assert_int_equal(mj_scan_object(doc, NULL, 0, NULL), SL_OK);
    return an_validate(doc, &lim, out, arena_alloc, a, err, errlen);
}

static void test_validation_accepts_a_full_request(void **state)
{
    char sig[RA_SIG_LEN], body[4096], err[512];
    struct an_request out;
    struct arena a = {0};

    (void)state;
    ra_signature(sig, SL_STRLIT("I should call get_weather."));
    snprintf(
        body, sizeof(body),
        "{\"model\":\"claude-x\",\"max_tokens\":4096,\"stream\":true,"
        "\"system\":[{\"type\":\"text\",\"text\":\"Be brief.\","
        "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather?\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
        "\"data\":\"iVBORw0KGgo=\"}},{\"type\":\"image\",\"source\":{\"type\":\"url\","
        "\"url\":\"https://x/y.png\"}},{\"type\":\"document\",\"source\":{\"type\":\"text\","
        "\"media_type\":\"text/plain\",\"data\":\"doc\"},\"title\":null}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
        "\"I should call get_weather.\",\"signature\":\"%.*s\"},{\"type\":\"tool_use\","
        "\"id\":\"toolu_\\u0031\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
        "\"content\":[{\"type\":\"text\",\"text\":\"sunny\"}],\"is_error\":false}]},"
        "{\"role\":\"assistant\",\"content\":\"\"}],"
        "\"tools\":[{\"name\":\"get_weather\",\"description\":\"d\",\"input_schema\":{\"type\":"
        "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}},"
        "{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":2}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\","
        "\"disable_parallel_tool_use\":true},"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024.0},"
        "\"stop_sequences\":[\"END\"],\"metadata\":{\"user_id\":\"u\"},"
        "\"temperature\":1,\"top_k\":5,\"service_tier\":\"auto\",\"mock\":{\"chunks\":2}}",
        RA_SIG_LEN, sig);
    if (validate(body, AN_V2023_06_01, false, &out, err, sizeof(err), &a) != SL_OK)
        fail_msg("rejected: %s", err);
    assert_true(out.stream);
    assert_true(out.thinking);
    assert_int_equal(out.max_tokens, 4096);
    assert_true(sl_str_eq_lit(out.model, "\"claude-x\""));
    assert_int_equal(out.mock.type, MJ_OBJECT);
    assert_true(out.input_tokens > 100);
    arena_free(&a);

    /* count_tokens takes the prompt without max_tokens; the count is the same. */
    const char *count = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],"
                        "\"system\":\"s\"}";
    assert_int_equal(validate(count, AN_V2026_10_21, true, &out, err, sizeof(err), &a), SL_OK);
    assert_int_equal(out.input_tokens,
                     (strlen("[{\"role\":\"user\",\"content\":\"hello\"}]") + strlen("\"s\"")) / 4);
    arena_free(&a);
}

static void test_validation_rejects(void **state)
{
#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]"
#define HEAD "{\"model\":\"m\",\"max_tokens\":100,"
#define TOOLUSE                                                                                    \
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\","    \
    "\"input\":{}}]}"
    static const struct {
        const char *body;
        enum an_version v;
        bool count;
        const char *want;
    } cases[] = {
        {"{\"max_tokens\":1," MSGS "}", 0, false, "model: Field required"},
        {"{\"model\":\"m\"," MSGS "}", 0, false, "max_tokens: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":1}", 0, false, "messages: Field required"},
        {HEAD "\"messages\":[]}", 0, false, "messages: at least one message is required"},
        {HEAD "\"messages\":{}}", 0, false, "messages: Input should be a valid list"},
        {HEAD MSGS ",\"n\":1}", 0, false, "n: Extra inputs are not permitted"},
        {HEAD MSGS ",\"temperature\":0.5}", 1, false,
         "temperature: Extra inputs are not permitted"},
        {HEAD MSGS ",\"top_p\":0.5}", 1, false, "top_p: Extra inputs are not permitted"},
        {HEAD MSGS ",\"temperature\":1.5}", 0, false,
         "temperature: Input should be less than or equal to 1"},
        {HEAD MSGS ",\"context_management\":{}}", 0, false, "context_management: Extra inputs"},
        {"{\"model\":\"m\",\"max_tokens\":1," MSGS "}", 0, true,
         "max_tokens: Extra inputs are not permitted"},
        {"{\"model\":7,\"max_tokens\":1," MSGS "}", 0, false,
         "model: Input should be a valid string"},
        {HEAD "\"max_tokens\":-1," MSGS "}", 0, false,
         "max_tokens: Input should be greater than or equal to 0"},
        {HEAD "\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", 0, false,
         "messages.0.role: Input should be 'user' or 'assistant'"},
        {HEAD "\"messages\":[{\"content\":\"x\"}]}", 0, false, "messages.0.role: Field required"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":\"n\"}]}", 0, false,
         "messages.0.name: Extra inputs are not permitted"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[]}]}", 0, false,
         "messages.0: all messages must have non-empty content"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":7}]}", 0, false,
         "messages.0.content: Input should be a valid string or a list of content blocks"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}", 0, false,
         "messages.0.content.0: Unable to extract tag using discriminator 'type'"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"audio\"}]}]}", 0, false,
         "messages.0.content.0: Input tag 'audio' found using 'type' does not match"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\"}]}]}",
         0, false, "messages: text content blocks must be non-empty"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", 0, false,
         "messages.0.content.0.text.text: Field required"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\","
              "\"citations\":[{\"type\":\"char_location\"}]}]}]}",
         1, false, "messages.0.content.0.text.citations:"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
              "{\"type\":\"base64\",\"media_type\":\"image/bmp\",\"data\":\"x\"}}]}]}",
         0, false, "messages.0.content.0.image.source.base64.media_type: Input should be"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
              "{\"type\":\"url\"}}]}]}",
         0, false, "messages.0.content.0.image.source.url.url: Field required"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}", 0, false,
         "messages.0.content.0.image.source: Field required"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":"
              "{\"type\":\"base64\",\"media_type\":\"text/plain\",\"data\":\"x\"}}]}]}",
         0, false, "messages.0.content.0.document.source.base64.media_type"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
              "\"content\":[{\"type\":\"document\",\"source\":{\"type\":\"text\","
              "\"media_type\":\"text/plain\",\"data\":\"x\"}}]}]}",
         1, false, "messages.1.content.0: `document` blocks are not allowed in `assistant`"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\","
              "\"name\":\"f\",\"input\":{}}]}]}",
         0, false, "messages.0.content.0: `tool_use` blocks are only allowed in `assistant`"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}," TOOLUSE "]}", 0, false, ""},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
              "\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":[]}]}]}",
         0, false, "messages.1.content.0.tool_use.input: Input should be a valid dictionary"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
              "\"tool_use_id\":\"t1\"}]}]}",
         0, false,
         "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: t1. "
         "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
         "message."},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}," TOOLUSE
              ",{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t2\"}"
              "]}]}",
         0, false,
         "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: t2"},
        {HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}," TOOLUSE
              ",{\"role\":\"user\",\"content\":\"thanks\"}]}",
         0, false,
         "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
         "t1."},
        {HEAD
         "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
         "\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"forged\"}]}]}",
         0, false, "messages.1.content.0.thinking.signature: Invalid `signature`"},
        {HEAD "\"system\":7," MSGS "}", 0, false,
         "system: Input should be a valid string or a list of text blocks"},
        {HEAD "\"system\":[{\"type\":\"image\"}]," MSGS "}", 0, false,
         "system.0.type: Input should be 'text'"},
        {HEAD "\"system\":[{\"type\":\"text\",\"text\":\"s\",\"cache_control\":{\"type\":"
              "\"persistent\"}}]," MSGS "}",
         0, false, "system.0.cache_control: Input tag 'persistent' found using 'type'"},
        {HEAD "\"system\":[{\"type\":\"text\",\"text\":\"s\",\"cache_control\":{\"type\":"
              "\"ephemeral\",\"scope\":1}}]," MSGS "}",
         0, false, "system.0.cache_control.ephemeral.scope: Extra inputs are not permitted"},
        {HEAD "\"tools\":[{\"name\":\"f\"}]," MSGS "}", 0, false,
         "tools.0.custom.input_schema: Field required"},
        {HEAD "\"tools\":[{\"input_schema\":{\"type\":\"object\"}}]," MSGS "}", 0, false,
         "tools.0.custom.name: Field required"},
        {HEAD "\"tools\":[{\"name\":\"f\",\"input_schema\":{}}]," MSGS "}", 0, false,
         "tools.0.custom.input_schema.type: Field required"},
        {HEAD "\"tools\":[{\"name\":\"f\",\"parameters\":{},\"input_schema\":{\"type\":"
              "\"object\"}}]," MSGS "}",
         0, false, "tools.0.custom.parameters: Extra inputs are not permitted"},
        {HEAD "\"tools\":[{\"type\":\"function\",\"function\":{}}]," MSGS "}", 0, false,
         "tools.0: Input tag 'function' found using 'type'"},
        {HEAD "\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}},{\"name\":\"f\","
              "\"input_schema\":{\"type\":\"object\"}}]," MSGS "}",
         0, false, "tools: Tool names must be unique."},
        {HEAD "\"tool_choice\":{\"type\":\"required\"}," MSGS "}", 0, false,
         "tool_choice: Input tag 'required' found using 'type' does not match any of the "
         "expected tags: 'auto', 'any', 'tool', 'none'"},
        {HEAD "\"tool_choice\":{\"type\":\"tool\"}," MSGS "}", 0, false,
         "tool_choice.tool.name: Field required"},
        {HEAD "\"tool_choice\":{\"type\":\"none\",\"disable_parallel_tool_use\":true}," MSGS "}", 0,
         false, "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted"},
        {HEAD "\"tool_choice\":{\"type\":\"tool\",\"name\":\"g\"}," MSGS "}", 0, false,
         "tool_choice.tool.name: Tool 'g' not found"},
        {HEAD "\"thinking\":{\"type\":\"enabled\"}," MSGS "}", 0, false,
         "thinking.enabled.budget_tokens: Field required"},
        {HEAD "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1023}," MSGS "}", 0, false,
         "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
        {HEAD "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}," MSGS "}", 0, false,
         "`max_tokens` must be greater than `thinking.budget_tokens`"},
        {HEAD "\"thinking\":{\"type\":\"disabled\",\"budget_tokens\":2048}," MSGS "}", 0, false,
         "thinking.disabled.budget_tokens: Extra inputs are not permitted"},
        {HEAD "\"thinking\":{\"type\":\"on\"}," MSGS "}", 0, false,
         "thinking: Input tag 'on' found using 'type'"},
        {HEAD "\"stop_sequences\":\"END\"," MSGS "}", 0, false,
         "stop_sequences: Input should be a valid list"},
        {HEAD "\"stop_sequences\":[\"a\",null]," MSGS "}", 0, false,
         "stop_sequences.1: Input should be a valid string"},
        {HEAD "\"stream\":\"yes\"," MSGS "}", 0, false, "stream: Input should be a valid boolean"},
        {HEAD "\"metadata\":{\"user\":\"u\"}," MSGS "}", 0, false,
         "metadata.user: Extra inputs are not permitted"},
    };
    struct an_request out;
    struct arena a = {0};
    char err[512];

    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        int rc = validate(cases[i].body, cases[i].v, cases[i].count, &out, err, sizeof(err), &a);
        if (cases[i].want[0] == '\0') {
            /* A final assistant tool_use (a prefill) needs no tool_result after it. */
            if (rc != SL_OK)
                fail_msg("case %zu: rejected: %s", i, err);
        } else if (rc != SL_EPARSE || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0) {
            fail_msg("case %zu: want \"%s\", got rc %d \"%s\"", i, cases[i].want, rc, err);
        }
        arena_free(&a);
    }
#undef MSGS
#undef HEAD
#undef TOOLUSE
}

static void test_versions(void **state)
{
    enum an_version v;

    (void)state;
    assert_int_equal(an_parse_version(SL_STRLIT("2023-06-01"), &v), SL_OK);
    assert_int_equal(v, AN_V2023_06_01);
    assert_int_equal(an_parse_version(SL_STRLIT("2026-10-21"), &v), SL_OK);
    assert_int_equal(v, AN_V2026_10_21);
    assert_int_equal(an_parse_version(SL_STRLIT("2023-01-01"), &v), SL_EPARSE);
    assert_int_equal(an_parse_version(SL_STRLIT(""), &v), SL_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_body),
        cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_stream_error_and_errors),
        cmocka_unit_test(test_validation_accepts_a_full_request),
        cmocka_unit_test(test_validation_rejects),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
