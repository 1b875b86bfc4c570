/* Unit tests for the hot-path JSON scanner (src/base/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/json.h"

/* A document with an explicit length (so cases may contain NUL bytes), and the expected result:
 * why == NULL for a valid document, else the exact message and offset. */
struct json_case {
    const char *doc;
    size_t len;
    const char *why;
    size_t at;
};

#define OK(d)                                                                                      \
    {                                                                                              \
        (d), sizeof(d) - 1, NULL, 0                                                                \
    }
#define BAD(d, w, a)                                                                               \
    {                                                                                              \
        (d), sizeof(d) - 1, (w), (a)                                                               \
    }

static const char e_end[] = "unexpected end of input";
static const char e_chr[] = "unexpected character";
static const char e_str[] = "unterminated string";
static const char e_utf[] = "invalid UTF-8 in string";
static const char e_ctl[] = "control character in string";
static const char e_esc[] = "invalid escape";
static const char e_uesc[] = "invalid \\u escape";
static const char e_sur[] = "unpaired surrogate in \\u escape";
static const char e_num[] = "invalid number";
static const char e_zero[] = "invalid number (leading zero)";
static const char e_lit[] = "invalid literal";
static const char e_trail[] = "trailing data after JSON value";
static const char e_key[] = "expected a string key";
static const char e_colon[] = "expected ':' after key";
static const char e_obj[] = "expected ',' or '}'";
static const char e_arr[] = "expected ',' or ']'";
static const char e_empty[] = "empty document";

static const struct json_case cases[] = {
    /* structure */
    OK("{}"),
    OK("[]"),
    OK(" \t\r\n{} \t\r\n"),
    OK("{\"a\":{\"b\":[1,{\"c\":null}]},\"d\":[[],{}]}"),
    OK("[1,[2,[3]],\"x\",true,false,null,-0.5]"),
    OK("{\"\":0}"),
    OK("{\"a\":1,\"a\":2}"),
    OK("{ \"a\" : [ 1 , 2 ] , \"b\" : { } }"),
    OK("true"),
    OK("false"),
    OK("null"),
    OK("\"top-level string\""),
    BAD("", e_empty, 0),
    BAD("   \n", e_empty, 4),
    BAD("\xef\xbb\xbf{}", e_chr, 0),
    BAD("{", e_end, 1),
    BAD("[", e_end, 1),
    BAD("[1", e_end, 2),
    BAD("{\"a\"", e_end, 4),
    BAD("{\"a\":", e_end, 5),
    BAD("{\"a\":1", e_end, 6),
    BAD("[1,]", e_chr, 3),
    BAD("{\"a\":1,}", e_key, 7),
    BAD("{,}", e_key, 1),
    BAD("{a:1}", e_key, 1),
    BAD("{'a':1}", e_key, 1),
    BAD("{\"a\"}", e_colon, 4),
    BAD("{\"a\" 1}", e_colon, 5),
    BAD("{\"a\":}", e_chr, 5),
    BAD("{\"a\":1 \"b\":2}", e_obj, 7),
    BAD("{\"a\":1]", e_obj, 6),
    BAD("[1 2]", e_arr, 3),
    BAD("[1}", e_arr, 2),
    BAD("]", e_chr, 0),
    BAD("'a'", e_chr, 0),
    BAD("/* c */ {}", e_chr, 0),
    BAD("{} {}", e_trail, 3),
    BAD("1 2", e_trail, 2),
    BAD("{}x", e_trail, 2),
    BAD("{\"a\":1}}", e_trail, 7),
    BAD("{}\0", e_trail, 2),
    BAD("\xc3\xa9", e_chr, 0),
    /* literals */
    BAD("tru", e_lit, 0),
    BAD("nul", e_lit, 0),
    BAD("[t]", e_lit, 1),
    BAD("True", e_chr, 0),
    BAD("falsey", e_trail, 5),
    BAD("nulll", e_trail, 4),
    /* numbers */
    OK("0"),
    OK("-0"),
    OK("123"),
    OK("-123.456e+7"),
    OK("1E5"),
    OK("1e-5"),
    OK("0.0"),
    OK("0e0"),
    OK("1.5e308"),
    OK("123456789012345678901234567890"),
    BAD("01", e_zero, 1),
    BAD("-01", e_zero, 2),
    BAD("00", e_zero, 1),
    BAD("[01]", e_zero, 2),
    BAD("+1", e_chr, 0),
    BAD(".5", e_chr, 0),
    BAD("1.", e_num, 2),
    BAD("1.e5", e_num, 2),
    BAD("1e", e_num, 2),
    BAD("1e+", e_num, 3),
    BAD("-", e_num, 1),
    BAD("--1", e_num, 1),
    BAD("[-]", e_num, 2),
    BAD("NaN", e_chr, 0),
    BAD("Infinity", e_chr, 0),
    BAD("-Infinity", e_num, 1),
    BAD("0x10", e_trail, 1),
    BAD("1.5.3", e_trail, 3),
    BAD("1e5.5", e_trail, 3),
    /* strings and escapes */
    OK("\"\""),
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
    OK("\"\\u0000\""),
    OK("\"\\u00e9\\u00E9\""),
    OK("\"\\uD83D\\uDE00\""),
    OK("\"\\ud83d\\ude00\""),
    OK("\"\\uDBFF\\uDFFF\""),
    OK("\"\\uFFFF\\uE000\""),
    OK("\"\x7f\""),
    BAD("\"", e_str, 1),
    BAD("\"abc", e_str, 4),
    BAD("\"abc\\", e_str, 5),
    BAD("[\"a", e_str, 3),
    BAD("\"\\x\"", e_esc, 1),
    BAD("\"\\'\"", e_esc, 1),
    BAD("\"\\U0041\"", e_esc, 1),
    BAD("\"\\u12\"", e_uesc, 1),
    BAD("\"\\u12G4\"", e_uesc, 1),
    BAD("\"\\u", e_uesc, 1),
    BAD("\"\\ud800\"", e_sur, 1),
    BAD("\"\\udc00\"", e_sur, 1),
    BAD("\"\\udfff\"", e_sur, 1),
    BAD("\"\\ud800\\u0041\"", e_sur, 1),
    BAD("\"\\ud800\\ud800\"", e_sur, 1),
    BAD("\"\\ud800\\n\"", e_sur, 1),
    BAD("\"\\ud800", e_sur, 1),
    BAD("\"a\\udc00\\ud800\"", e_sur, 2),
    BAD("\"a\x01z\"", e_ctl, 2),
    BAD("\"a\nb\"", e_ctl, 2),
    BAD("\"\t\"", e_ctl, 1),
    BAD("\"\0\"", e_ctl, 1),
    BAD("\"\x1f\"", e_ctl, 1),
    /* UTF-8: boundaries that are valid */
    OK("\"\xc2\x80\""),
    OK("\"\xdf\xbf\""),
    OK("\"\xe0\xa0\x80\""),
    OK("\"\xed\x9f\xbf\""),
    OK("\"\xee\x80\x80\""),
    OK("\"\xef\xbf\xbf\""),
    OK("\"\xf0\x90\x80\x80\""),
    OK("\"\xf4\x8f\xbf\xbf\""),
    OK("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xbd\xa0\xe5\xa5\xbd\""),
    /* UTF-8: stray continuations, overlongs, surrogates, > U+10FFFF, truncation */
    BAD("\"\x80\"", e_utf, 1),
    BAD("\"\xbf\"", e_utf, 1),
    BAD("\"abcdefgh\x80\"", e_utf, 9),
    BAD("\"\xc0\x80\"", e_utf, 1),
    BAD("\"\xc1\xbf\"", e_utf, 1),
    BAD("\"\xe0\x80\x80\"", e_utf, 1),
    BAD("\"\xe0\x9f\xbf\"", e_utf, 1),
    BAD("\"\xf0\x80\x80\x80\"", e_utf, 1),
    BAD("\"\xf0\x8f\xbf\xbf\"", e_utf, 1),
    BAD("\"\xed\xa0\x80\"", e_utf, 1),
    BAD("\"\xed\xbf\xbf\"", e_utf, 1),
    BAD("\"\xed\xa0\xbd\xed\xb8\x80\"", e_utf, 1),
    BAD("\"\xf4\x90\x80\x80\"", e_utf, 1),
    BAD("\"\xf5\x80\x80\x80\"", e_utf, 1),
    BAD("\"\xf8\x88\x80\x80\x80\"", e_utf, 1),
    BAD("\"\xfe\"", e_utf, 1),
    BAD("\"\xff\"", e_utf, 1),
    BAD("\"\xc3\"", e_utf, 1),
    BAD("\"\xe2\x82\"", e_utf, 1),
    BAD("\"\xf0\x9f\x98\"", e_utf, 1),
    BAD("\"\xe2\x82", e_utf, 1),
    BAD("\"\xe2\x28\xa1\"", e_utf, 1),
    BAD("\"\xf0\x9f\x28\x80\"", e_utf, 1),
    BAD("\"ok\xc3\xa9\xc3\"", e_utf, 5),
    BAD("{\"\xff\":1}", e_utf, 2),
};

static void test_validate_table(void **state)
{
    (void)state;
    assert_true(SL_ARRAY_LEN(cases) >= 80);
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        const struct json_case *c = &cases[i];
        struct sl_json_error err = {NULL, 12345};
        int rc = sl_json_validate(sl_str_init(c->doc, c->len), SL_JSON_DEFAULT_MAX_DEPTH, &err);
        if (c->why == NULL) {
            if (rc != SL_OK)
                print_error("case %zu: %s at %zu\n", i, err.why, err.at);
            assert_int_equal(rc, SL_OK);
            continue;
        }
        if (rc != SL_EPARSE || err.why == NULL || strcmp(err.why, c->why) != 0 || err.at != c->at)
            print_error("case %zu: rc %d, \"%s\" at %zu; want \"%s\" at %zu\n", i, rc,
                        err.why != NULL ? err.why : "(null)", err.at, c->why, c->at);
        assert_int_equal(rc, SL_EPARSE);
        assert_string_equal(err.why, c->why);
        assert_int_equal(err.at, c->at);
    }
}

static void test_validate_err_optional(void **state)
{
    (void)state;
    assert_int_equal(sl_json_validate(SL_STRLIT("[1,"), 8, NULL), SL_EPARSE);
    assert_int_equal(sl_json_validate(SL_STRLIT("[1]"), 8, NULL), SL_OK);
}

/* Builds "[[[...]]]" (or objects {"a":{"a":...}}) nested depth levels deep into buf. */
static struct sl_str nested(char *buf, size_t cap, unsigned depth, bool objects)
{
    size_t n = 0;
    for (unsigned i = 0; i < depth; i++) {
        const char *open = objects ? "{\"a\":" : "[";
        size_t ol = strlen(open);
        assert_true(n + ol < cap);
        memcpy(buf + n, open, ol);
        n += ol;
    }
    if (objects) {
        assert_true(n + 1 < cap);
        buf[n++] = '1';
    }
    for (unsigned i = 0; i < depth; i++) {
        assert_true(n + 1 < cap);
        buf[n++] = objects ? '}' : ']';
    }
    return sl_str_init(buf, n);
}

static void test_depth_limits(void **state)
{
    static char buf[8 * 2048];
    struct sl_json_error err;
    (void)state;
    for (int objects = 0; objects <= 1; objects++) {
        size_t open_len = objects ? 5 : 1;
        struct sl_str at = nested(buf, sizeof(buf), SL_JSON_DEFAULT_MAX_DEPTH, objects);
        assert_int_equal(sl_json_validate(at, SL_JSON_DEFAULT_MAX_DEPTH, &err), SL_OK);
        struct sl_str over = nested(buf, sizeof(buf), SL_JSON_DEFAULT_MAX_DEPTH + 1, objects);
        assert_int_equal(sl_json_validate(over, SL_JSON_DEFAULT_MAX_DEPTH, &err), SL_EPARSE);
        assert_string_equal(err.why, "nesting too deep");
        assert_int_equal(err.at, SL_JSON_DEFAULT_MAX_DEPTH * open_len);
        /* Limits above the hard ceiling are clamped to it. */
        at = nested(buf, sizeof(buf), SL_JSON_MAX_DEPTH, objects);
        assert_int_equal(sl_json_validate(at, 100000, &err), SL_OK);
        over = nested(buf, sizeof(buf), SL_JSON_MAX_DEPTH + 1, objects);
        assert_int_equal(sl_json_validate(over, 100000, &err), SL_EPARSE);
        assert_string_equal(err.why, "nesting too deep");
        assert_int_equal(err.at, SL_JSON_MAX_DEPTH * open_len);
    }
    assert_int_equal(sl_json_validate(SL_STRLIT("1"), 0, &err), SL_OK);
    assert_int_equal(sl_json_validate(SL_STRLIT(" []"), 0, &err), SL_EPARSE);
    assert_string_equal(err.why, "nesting too deep");
    assert_int_equal(err.at, 1);
    assert_int_equal(sl_json_validate(SL_STRLIT("[[1],[2,[3]]]"), 3, &err), SL_OK);
    assert_int_equal(sl_json_validate(SL_STRLIT("[[1],[2,[[3]]]]"), 3, &err), SL_EPARSE);
    assert_int_equal(err.at, 9);
}

/* ---- scan_object ---- */

static const char chat_request[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are "
    "terse.\"},{\"role\":\"user\",\"content\":\"Say \\\"hi\\\" caf\\u00e9 \xf0\x9f\x98\x80\"}],"
    "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0.2,"
    "\"max_tokens\":256,\"user\":null}";

enum { K_MODEL, K_STREAM, K_OPTS, K_MESSAGES, K_TOOLS, K_TEMP, K_MAX, K_USER, K_N };

/* SL_STRLIT is a compound literal, which is not a constant initialiser for a static array. */
#define KEY(s)                                                                                     \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }

static const struct sl_str chat_keys[K_N] = {
    KEY("model"), KEY("stream"),      KEY("stream_options"), KEY("messages"),
    KEY("tools"), KEY("temperature"), KEY("max_tokens"),     KEY("user"),
};

static void assert_slice(struct sl_str got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
}

static void test_scan_chat_request(void **state)
{
    struct sl_json_member out[K_N];
    struct sl_json_error err = {NULL, 0};
    struct sl_str doc = SL_STRLIT(chat_request);
    (void)state;
    assert_int_equal(sl_json_scan_object(doc, SL_JSON_DEFAULT_MAX_DEPTH, chat_keys, K_N, out, &err),
                     SL_OK);
    assert_int_equal(out[K_MODEL].type, SL_JSON_STRING);
    assert_slice(out[K_MODEL].value, "\"gpt-4o-mini\"");
    assert_slice(out[K_MODEL].member, "\"model\":\"gpt-4o-mini\"");
    assert_ptr_equal(out[K_MODEL].member.ptr, doc.ptr + 1);
    assert_int_equal(out[K_MODEL].count, 0);
    assert_int_equal(out[K_MESSAGES].type, SL_JSON_ARRAY);
    assert_int_equal(out[K_MESSAGES].count, 2);
    assert_true(out[K_MESSAGES].value.ptr[0] == '[');
    assert_true(out[K_MESSAGES].value.ptr[out[K_MESSAGES].value.len - 1] == ']');
    assert_int_equal(out[K_STREAM].type, SL_JSON_TRUE);
    assert_slice(out[K_STREAM].value, "true");
    assert_slice(out[K_STREAM].member, "\"stream\":true");
    assert_int_equal(out[K_OPTS].type, SL_JSON_OBJECT);
    assert_int_equal(out[K_OPTS].count, 1);
    assert_slice(out[K_OPTS].value, "{\"include_usage\":true}");
    assert_int_equal(out[K_TOOLS].type, SL_JSON_ABSENT);
    assert_int_equal(out[K_TEMP].type, SL_JSON_NUMBER);
    assert_slice(out[K_TEMP].value, "0.2");
    assert_int_equal(out[K_MAX].type, SL_JSON_NUMBER);
    assert_slice(out[K_MAX].member, "\"max_tokens\":256");
    assert_int_equal(out[K_USER].type, SL_JSON_NULL);
    assert_slice(out[K_USER].value, "null");
}

static void test_scan_pretty_printed(void **state)
{
    static const char doc[] = "\n{\n  \"stream\" :\tfalse ,\n  \"model\"  :  \"o3\"\n,\"n\": -1 "
                              ",\"x\":[ ] , \"y\" : { }\n}\n";
    const struct sl_str keys[] = {SL_STRLIT("model"), SL_STRLIT("stream"), SL_STRLIT("n"),
                                  SL_STRLIT("x"), SL_STRLIT("y")};
    struct sl_json_member out[5];
    (void)state;
    assert_int_equal(sl_json_scan_object(SL_STRLIT(doc), 8, keys, 5, out, NULL), SL_OK);
    assert_slice(out[0].value, "\"o3\"");
    assert_slice(out[0].member, "\"model\"  :  \"o3\"");
    assert_int_equal(out[1].type, SL_JSON_FALSE);
    assert_slice(out[1].member, "\"stream\" :\tfalse");
    assert_int_equal(out[2].type, SL_JSON_NUMBER);
    assert_slice(out[2].value, "-1");
    assert_int_equal(out[3].type, SL_JSON_ARRAY);
    assert_int_equal(out[3].count, 0);
    assert_slice(out[3].value, "[ ]");
    assert_int_equal(out[4].type, SL_JSON_OBJECT);
    assert_int_equal(out[4].count, 0);
}

static void test_scan_response_usage(void **state)
{
    static const char resp[] =
        "{\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion\",\"created\":1732867200,"
        "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"Hello!\",\"refusal\":null},\"logprobs\":null,"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"
        "\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":0}},"
        "\"system_fingerprint\":\"fp_0ba0d124f1\"}";
    const struct sl_str keys[] = {SL_STRLIT("model"), SL_STRLIT("usage"), SL_STRLIT("choices")};
    struct sl_json_member out[3], m;
    uint64_t v = 0;
    (void)state;
    assert_int_equal(sl_json_scan_object(SL_STRLIT(resp), 64, keys, 3, out, NULL), SL_OK);
    assert_slice(out[0].value, "\"gpt-4o-mini-2024-07-18\"");
    assert_int_equal(out[1].type, SL_JSON_OBJECT);
    assert_int_equal(out[1].count, 4);
    assert_int_equal(out[2].count, 1);
    assert_int_equal(sl_json_find(out[1].value, SL_STRLIT("total_tokens"), &m), SL_OK);
    assert_int_equal(m.type, SL_JSON_NUMBER);
    assert_int_equal(sl_json_to_u64(m.value, &v), SL_OK);
    assert_int_equal(v, 29);
    assert_int_equal(sl_json_find(out[1].value, SL_STRLIT("cached_tokens"), &m), SL_ENOENT);
    assert_int_equal(m.type, SL_JSON_ABSENT);
}

static void test_scan_duplicates_last_wins(void **state)
{
    static const char doc[] = "{\"model\":\"a\",\"x\":1,\"model\":\"b\",\"x\":[1,2,3]}";
    const struct sl_str keys[] = {SL_STRLIT("model"), SL_STRLIT("x"), SL_STRLIT("model")};
    struct sl_json_member out[3];
    (void)state;
    assert_int_equal(sl_json_scan_object(SL_STRLIT(doc), 8, keys, 3, out, NULL), SL_OK);
    assert_slice(out[0].value, "\"b\"");
    assert_slice(out[0].member, "\"model\":\"b\"");
    assert_int_equal(out[1].type, SL_JSON_ARRAY);
    assert_int_equal(out[1].count, 3);
    assert_slice(out[2].value, "\"b\"");
}

static void test_scan_escaped_keys(void **state)
{
    static const struct {
        const char *doc;
        bool match;
    } tab[] = {
        {"{\"mod\\u0065l\":1}", true},
        {"{\"\\u006d\\u006F\\u0064\\u0065\\u006c\":1}", true},
        {"{\"m\\u006fdel\":1}", true},
        {"{\"model\\u0000\":1}", false},
        {"{\"mode\\u006c\\u006c\":1}", false},
        {"{\"mode\":1}", false},
        {"{\"modelx\":1}", false},
        {"{\"Model\":1}", false},
        {"{\"mod\\nel\":1}", false},
    };
    const struct sl_str key = SL_STRLIT("model");
    struct sl_json_member out;
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(tab); i++) {
        assert_int_equal(sl_json_scan_object(sl_str_from_cstr(tab[i].doc), 4, &key, 1, &out, NULL),
                         SL_OK);
        assert_int_equal(out.type, tab[i].match ? SL_JSON_NUMBER : SL_JSON_ABSENT);
    }
    /* Escapes decoding to multi-byte UTF-8 and the short escapes. */
    const struct sl_str odd[] = {SL_STRLIT("caf\xc3\xa9"), SL_STRLIT("\xf0\x9f\x98\x80"),
                                 SL_STRLIT("a/b\"c\\d\te")};
    struct sl_json_member o3[3];
    static const char doc[] = "{\"caf\\u00e9\":1,\"\\ud83d\\ude00\":2,\"a\\/b\\\"c\\\\d\\te\":3}";
    assert_int_equal(sl_json_scan_object(SL_STRLIT(doc), 4, odd, 3, o3, NULL), SL_OK);
    assert_slice(o3[0].value, "1");
    assert_slice(o3[1].value, "2");
    assert_slice(o3[2].value, "3");
    assert_slice(o3[1].member, "\"\\ud83d\\ude00\":2");
}

static void test_scan_counts_and_nesting(void **state)
{
    static const char doc[] = "{\"a\":[],\"b\":[1],\"c\":[[1,2],3,{\"d\":[4,5,6]}],\"e\":{},"
                              "\"f\":{\"g\":{\"h\":1},\"i\":[]},\"model\":{\"model\":\"x\"}}";
    const struct sl_str keys[] = {SL_STRLIT("a"), SL_STRLIT("b"),    SL_STRLIT("c"),
                                  SL_STRLIT("e"), SL_STRLIT("f"),    SL_STRLIT("d"),
                                  SL_STRLIT("h"), SL_STRLIT("model")};
    struct sl_json_member out[8];
    (void)state;
    assert_int_equal(sl_json_scan_object(SL_STRLIT(doc), 8, keys, 8, out, NULL), SL_OK);
    assert_int_equal(out[0].count, 0);
    assert_int_equal(out[1].count, 1);
    assert_int_equal(out[2].count, 3);
    assert_int_equal(out[3].count, 0);
    assert_int_equal(out[4].count, 2);
    assert_int_equal(out[5].type, SL_JSON_ABSENT); /* nested members are not top-level */
    assert_int_equal(out[6].type, SL_JSON_ABSENT);
    assert_int_equal(out[7].type, SL_JSON_OBJECT);
    assert_slice(out[7].value, "{\"model\":\"x\"}");
}

static void test_scan_rejects(void **state)
{
    const struct sl_str key = SL_STRLIT("model");
    struct sl_json_member out;
    struct sl_json_error err;
    (void)state;
    assert_int_equal(sl_json_scan_object(SL_STRLIT("[1]"), 8, &key, 1, &out, &err), SL_EPARSE);
    assert_string_equal(err.why, "expected an object");
    assert_int_equal(err.at, 0);
    assert_int_equal(sl_json_scan_object(SL_STRLIT(" \"x\""), 8, &key, 1, &out, &err), SL_EPARSE);
    assert_string_equal(err.why, "expected an object");
    assert_int_equal(err.at, 1);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("[1,"), 8, &key, 1, &out, &err), SL_EPARSE);
    assert_string_equal(err.why, "unexpected end of input");
    assert_int_equal(err.at, 3);
    assert_int_equal(sl_json_scan_object(SL_STRLIT(""), 8, &key, 1, &out, &err), SL_EPARSE);
    assert_string_equal(err.why, "empty document");
    /* A broken document reports its first error and finds nothing, even members before it. */
    assert_int_equal(
        sl_json_scan_object(SL_STRLIT("{\"model\":\"a\",\"b\":tru}"), 8, &key, 1, &out, &err),
        SL_EPARSE);
    assert_string_equal(err.why, "invalid literal");
    assert_int_equal(err.at, 17);
    assert_int_equal(out.type, SL_JSON_ABSENT);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"model\":\"a\"} x"), 8, &key, 1, &out, &err),
                     SL_EPARSE);
    assert_string_equal(err.why, "trailing data after JSON value");
    assert_int_equal(err.at, 14);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"a\":1,}"), 8, &key, 1, &out, &err),
                     SL_EPARSE);
    assert_string_equal(err.why, "expected a string key");
    assert_int_equal(err.at, 7);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"a\":1 2}"), 8, &key, 1, &out, &err),
                     SL_EPARSE);
    assert_string_equal(err.why, "expected ',' or '}'");
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"a\":1,"), 8, &key, 1, &out, &err),
                     SL_EPARSE);
    assert_string_equal(err.why, "unexpected end of input");
    assert_int_equal(err.at, 7);
    /* Depth counts the top-level object. */
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"a\":1}"), 1, &key, 1, &out, &err), SL_OK);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"a\":[1]}"), 2, &key, 1, &out, &err), SL_OK);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{\"a\":[]}"), 1, &key, 1, &out, &err),
                     SL_EPARSE);
    assert_string_equal(err.why, "nesting too deep");
    assert_int_equal(err.at, 5);
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{}"), 0, &key, 1, &out, &err), SL_EPARSE);
    assert_string_equal(err.why, "nesting too deep");
    assert_int_equal(sl_json_scan_object(SL_STRLIT("{}"), 1, NULL, 0, NULL, &err), SL_OK);
}

static void test_find(void **state)
{
    struct sl_json_member m;
    (void)state;
    assert_int_equal(sl_json_find(SL_STRLIT("{\"a\":1,\"b\":\"x\"}"), SL_STRLIT("b"), &m), SL_OK);
    assert_int_equal(m.type, SL_JSON_STRING);
    assert_slice(m.value, "\"x\"");
    assert_slice(m.member, "\"b\":\"x\"");
    assert_int_equal(sl_json_find(SL_STRLIT("{\"a\":1}"), SL_STRLIT("b"), &m), SL_ENOENT);
    assert_int_equal(sl_json_find(SL_STRLIT("{\"a\":1"), SL_STRLIT("a"), &m), SL_EPARSE);
    assert_int_equal(sl_json_find(SL_STRLIT("[1]"), SL_STRLIT("a"), &m), SL_EPARSE);
}

/* ---- unescape / escape / to_u64 ---- */

static void assert_unescape(const char *raw, size_t rawlen, const char *want, size_t wantlen)
{
    struct sl_buf b;
    sl_buf_init(&b, 1024);
    assert_int_equal(sl_json_unescape(sl_str_init(raw, rawlen), &b), SL_OK);
    assert_int_equal(b.len, wantlen);
    if (wantlen != 0)
        assert_memory_equal(b.ptr, want, wantlen);
    sl_buf_dispose(&b);
}

#define UNESC(raw, want) assert_unescape((raw), sizeof(raw) - 1, (want), sizeof(want) - 1)

static void test_unescape(void **state)
{
    struct sl_buf b;
    (void)state;
    UNESC("\"\"", "");
    UNESC("\"plain text\"", "plain text");
    UNESC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    UNESC("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac");
    UNESC("\"\\u0000\"", "\0");
    UNESC("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
          "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    UNESC("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80");
    UNESC("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80");
    UNESC("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf");
    UNESC("\"a\\nb\xc3\xa9\\tc\"", "a\nb\xc3\xa9\tc");

    static const char *const bad[] = {
        "",          "\"",           "abc",
        "\"abc",     "abc\"",        "\"a\"b\"",
        "\"\\x\"",   "\"\\ud800\"",  "\"\\udc00\"",
        "\"a\x01\"", "\"\xc0\x80\"", "\"\\u12\"",
        "\"a\\\"",   "\"a\"\"",      "\"\xed\xa0\x80\"",
    };
    sl_buf_init(&b, 64);
    assert_int_equal(sl_buf_append(&b, "keep", 4), SL_OK);
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        assert_int_equal(sl_json_unescape(sl_str_from_cstr(bad[i]), &b), SL_EPARSE);
        assert_int_equal(b.len, 4);
    }
    /* Appends to what is there; on E2BIG the buffer is left as it was. */
    assert_int_equal(sl_json_unescape(SL_STRLIT("\"\\u00e9!\""), &b), SL_OK);
    assert_slice(sl_buf_str(&b), "keep\xc3\xa9!");
    sl_buf_dispose(&b);
    sl_buf_init(&b, 5);
    assert_int_equal(sl_buf_append(&b, "ab", 2), SL_OK);
    assert_int_equal(sl_json_unescape(SL_STRLIT("\"cd\\u00e9\""), &b), SL_E2BIG);
    assert_slice(sl_buf_str(&b), "ab");
    assert_int_equal(sl_json_unescape(SL_STRLIT("\"c\\n\\t\\t\""), &b), SL_E2BIG);
    assert_slice(sl_buf_str(&b), "ab");
    assert_int_equal(sl_json_unescape(SL_STRLIT("\"c\\n\""), &b), SL_OK);
    assert_slice(sl_buf_str(&b), "abc\n");
    sl_buf_dispose(&b);
}

static void assert_escape(const char *in, size_t inlen, const char *want)
{
    struct sl_buf b;
    sl_buf_init(&b, 4096);
    assert_int_equal(sl_json_escape(&b, sl_str_init(in, inlen)), SL_OK);
    assert_slice(sl_buf_str(&b), want);
    sl_buf_dispose(&b);
}

#define ESC(in, want) assert_escape((in), sizeof(in) - 1, (want))

static void test_escape(void **state)
{
    struct sl_buf b, u;
    (void)state;
    ESC("", "\"\"");
    ESC("plain", "\"plain\"");
    ESC("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
    ESC("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    ESC("\0\x01\x1f\x7f", "\"\\u0000\\u0001\\u001f\x7f\"");
    ESC("\x0b\x1b", "\"\\u000b\\u001b\"");
    ESC("caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");

    /* Round trip: every ASCII byte and some multi-byte UTF-8 come back unchanged. */
    char all[160];
    size_t n = 0;
    for (int c = 0; c < 0x80; c++)
        all[n++] = (char)c;
    memcpy(all + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13);
    n += 13;
    sl_buf_init(&b, 4096);
    sl_buf_init(&u, 4096);
    assert_int_equal(sl_json_escape(&b, sl_str_init(all, n)), SL_OK);
    assert_int_equal(sl_json_validate(sl_buf_str(&b), 1, NULL), SL_OK);
    assert_int_equal(sl_json_unescape(sl_buf_str(&b), &u), SL_OK);
    assert_int_equal(u.len, n);
    assert_memory_equal(u.ptr, all, n);
    sl_buf_dispose(&b);
    sl_buf_dispose(&u);

    /* E2BIG leaves the buffer as it was, including when only the closing quote misses. */
    sl_buf_init(&b, 6);
    assert_int_equal(sl_buf_append(&b, "x", 1), SL_OK);
    assert_int_equal(sl_json_escape(&b, SL_STRLIT("\n\n")), SL_E2BIG);
    assert_slice(sl_buf_str(&b), "x");
    assert_int_equal(sl_json_escape(&b, SL_STRLIT("abcd")), SL_E2BIG);
    assert_slice(sl_buf_str(&b), "x");
    assert_int_equal(sl_json_escape(&b, SL_STRLIT("abc")), SL_OK);
    assert_slice(sl_buf_str(&b), "x\"abc\"");
    sl_buf_dispose(&b);
}

static void test_to_u64(void **state)
{
    uint64_t v = 7;
    (void)state;
    assert_int_equal(sl_json_to_u64(SL_STRLIT("0"), &v), SL_OK);
    assert_int_equal(v, 0);
    assert_int_equal(sl_json_to_u64(SL_STRLIT("42"), &v), SL_OK);
    assert_int_equal(v, 42);
    assert_int_equal(sl_json_to_u64(SL_STRLIT("18446744073709551615"), &v), SL_OK);
    assert_true(v == UINT64_MAX);
    static const char *const bad[] = {
        "18446744073709551616",
        "99999999999999999999",
        "1.0",
        "-1",
        "-0",
        "1e3",
        "1E3",
        "01",
        "00",
        "",
        " 1",
        "1 ",
        "+1",
        "0x1",
        "1.",
        "true",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        v = 7;
        assert_int_equal(sl_json_to_u64(sl_str_from_cstr(bad[i]), &v), SL_EPARSE);
        assert_true(v == 7);
    }
}

/* An empty slice may carry a NULL pointer; nothing may do arithmetic on it (UBSan checks). */
static void test_null_slices(void **state)
{
    struct sl_json_error err;
    struct sl_json_member m;
    struct sl_buf b;
    uint64_t v;
    (void)state;
    sl_buf_init(&b, 16);
    assert_int_equal(sl_json_validate(SL_STR_NULL, 8, &err), SL_EPARSE);
    assert_string_equal(err.why, "empty document");
    assert_int_equal(err.at, 0);
    assert_int_equal(sl_json_scan_object(SL_STR_NULL, 8, NULL, 0, NULL, &err), SL_EPARSE);
    assert_int_equal(sl_json_find(SL_STR_NULL, SL_STRLIT("a"), &m), SL_EPARSE);
    assert_int_equal(sl_json_unescape(SL_STR_NULL, &b), SL_EPARSE);
    assert_int_equal(sl_json_escape(&b, SL_STR_NULL), SL_OK);
    assert_slice(sl_buf_str(&b), "\"\"");
    assert_int_equal(sl_json_to_u64(SL_STR_NULL, &v), SL_EPARSE);
    sl_buf_dispose(&b);
}

/* Iterating a container to its end validates it exactly as sl_json_validate does: same verdict,
 * same message, same offset, for every case of the table whose document is a container. */
static void test_iter_agrees_with_validate(void **state)
{
    (void)state;
    size_t containers = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        const struct json_case *c = &cases[i];
        struct sl_str doc = sl_str_init(c->doc, c->len);
        size_t j = 0;
        while (j < c->len && strchr(" \t\r\n", c->doc[j]) != NULL && c->doc[j] != '\0')
            j++;
        if (j == c->len || (c->doc[j] != '{' && c->doc[j] != '['))
            continue;
        containers++;
        struct sl_json_iter it;
        struct sl_json_key k;
        struct sl_json_member m;
        int rc = sl_json_iter_init(&it, doc, SL_JSON_DEFAULT_MAX_DEPTH);
        if (rc == SL_OK)
            do
                rc = sl_json_iter_next(&it, &k, &m);
            while (rc == 1);
        struct sl_json_error want = {NULL, 0}, got = sl_json_iter_error(&it);
        int vrc = sl_json_validate(doc, SL_JSON_DEFAULT_MAX_DEPTH, &want);
        if (vrc == SL_OK) {
            if (rc != 0)
                fail_msg("case %zu: iteration failed (%s at %zu) on a valid document", i, got.why,
                         got.at);
            continue;
        }
        if (rc != SL_EPARSE)
            fail_msg("case %zu: iteration accepted an invalid document", i);
        assert_string_equal(got.why, want.why);
        assert_int_equal(got.at, want.at);
    }
    assert_true(containers >= 20);
}

static void test_iter_members_and_elements(void **state)
{
    (void)state;
    static const char doc[] = " {\"a\":1, \"b\" : [true,{\"x\":null}] ,\"c\\u0064\":\"s\"} ";
    struct sl_json_iter it;
    struct sl_json_key k;
    struct sl_json_member m;
    assert_int_equal(sl_json_iter_init(&it, SL_STRLIT(doc), 8), SL_OK);
    assert_int_equal(sl_json_iter_next(&it, &k, &m), 1);
    assert_true(sl_json_key_eq(k, SL_STRLIT("a")));
    assert_int_equal(m.type, SL_JSON_NUMBER);
    assert_slice(m.member, "\"a\":1");
    assert_int_equal(sl_json_iter_next(&it, &k, &m), 1);
    assert_true(sl_json_key_eq(k, SL_STRLIT("b")) && !k.escaped);
    assert_int_equal(m.type, SL_JSON_ARRAY);
    assert_int_equal(m.count, 2);
    assert_slice(m.member, "\"b\" : [true,{\"x\":null}]");
    struct sl_json_iter arr;
    assert_int_equal(sl_json_iter_init(&arr, m.value, 8), SL_OK);
    assert_int_equal(sl_json_iter_next(&arr, NULL, &m), 1);
    assert_int_equal(m.type, SL_JSON_TRUE);
    assert_int_equal(sl_json_iter_next(&arr, NULL, &m), 1);
    assert_int_equal(m.type, SL_JSON_OBJECT);
    assert_int_equal(m.count, 1);
    assert_int_equal(sl_json_iter_next(&arr, NULL, &m), 0);
    assert_int_equal(sl_json_iter_next(&it, &k, &m), 1);
    assert_true(k.escaped);
    assert_true(sl_json_key_eq(k, SL_STRLIT("cd")));
    assert_false(sl_json_key_eq(k, SL_STRLIT("c")));
    assert_int_equal(sl_json_iter_next(&it, &k, &m), 0);
    assert_int_equal(sl_json_iter_next(&it, &k, &m), 0);
    /* Empty containers, and a scalar where a container is needed. */
    assert_int_equal(sl_json_iter_init(&it, SL_STRLIT("[ ]"), 8), SL_OK);
    assert_int_equal(sl_json_iter_next(&it, NULL, &m), 0);
    assert_int_equal(sl_json_iter_init(&it, SL_STRLIT("{}x"), 8), SL_OK);
    assert_int_equal(sl_json_iter_next(&it, &k, &m), SL_EPARSE);
    assert_string_equal(sl_json_iter_error(&it).why, "trailing data after JSON value");
    assert_int_equal(sl_json_iter_init(&it, SL_STRLIT("\"s\""), 8), SL_EPARSE);
    assert_string_equal(sl_json_iter_error(&it).why, "expected an object or an array");
    assert_int_equal(sl_json_iter_init(&it, SL_STRLIT("[1]"), 0), SL_EPARSE);
    assert_string_equal(sl_json_iter_error(&it).why, "nesting too deep");
}

static struct sl_json_key key_of(const char *raw)
{
    return (struct sl_json_key){sl_str_from_cstr(raw), strchr(raw, '\\') != NULL};
}

static void test_keyset(void **state)
{
    (void)state;
    struct sl_json_keyset *s = malloc(sizeof(*s));
    assert_non_null(s);
    sl_json_keyset_init(s);
    assert_int_equal(sl_json_keyset_add(s, key_of("model")), SL_OK);
    assert_int_equal(sl_json_keyset_add(s, key_of("modelx")), SL_OK);
    assert_int_equal(sl_json_keyset_add(s, key_of("")), SL_OK);
    assert_int_equal(sl_json_keyset_add(s, key_of("mod\\u0065l")), SL_EEXIST);
    assert_int_equal(sl_json_keyset_add(s, key_of("\\u006dodel")), SL_EEXIST);
    assert_int_equal(sl_json_keyset_add(s, key_of("")), SL_EEXIST);
    assert_int_equal(sl_json_keyset_add(s, key_of("\\u00e9")), SL_OK);
    assert_int_equal(sl_json_keyset_add(s, key_of("\xc3\xa9")), SL_EEXIST);
    /* Past the linear phase the hash table must find the same duplicates, early and late. */
    char names[SL_JSON_KEYSET_MAX][16];
    for (size_t i = 4; i < SL_JSON_KEYSET_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "k%zu", i);
        assert_int_equal(sl_json_keyset_add(s, key_of(names[i])), SL_OK);
    }
    assert_int_equal(sl_json_keyset_add(s, key_of("mod\\u0065l")), SL_EEXIST);
    assert_int_equal(sl_json_keyset_add(s, key_of("k1000")), SL_EEXIST);
    assert_int_equal(sl_json_keyset_add(s, key_of("k\\u0035")), SL_EEXIST);
    assert_int_equal(sl_json_keyset_add(s, key_of("fresh")), SL_E2BIG);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_table),
        cmocka_unit_test(test_validate_err_optional),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_scan_chat_request),
        cmocka_unit_test(test_scan_pretty_printed),
        cmocka_unit_test(test_scan_response_usage),
        cmocka_unit_test(test_scan_duplicates_last_wins),
        cmocka_unit_test(test_scan_escaped_keys),
        cmocka_unit_test(test_scan_counts_and_nesting),
        cmocka_unit_test(test_scan_rejects),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_to_u64),
        cmocka_unit_test(test_null_slices),
        cmocka_unit_test(test_iter_agrees_with_validate),
        cmocka_unit_test(test_iter_members_and_elements),
        cmocka_unit_test(test_keyset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
