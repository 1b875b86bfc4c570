/* Unit tests of the mock's JSON scanner and escaper (tests/mock/mjson.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mjson.h"

int main(void);

static struct sl_str S(const char *s) {
    return sl_str_from_cstr(s);
}

static void
test_scan_finds_top_level_members(void **state)
{
    static const struct sl_str keys[] = {MJ_KEY("model"), MJ_KEY("stream"), MJ_KEY("mock"),
                                         MJ_KEY("absent")};
    struct mj_value v[4];
    const char *doc =
        " {\"messages\":[{\"model\":\"inner\"}],\"model\":\"gpt\\\"4\",\"stream\":true,"
        "\"mock\":{\"chunks\":2} , \"x\":-1.5e3}\n";

    (void)state;
    assert_int_equal(mj_scan_object(S(doc), keys, 4, v), SL_OK);
    assert_int_equal(v[0].type, MJ_STRING);
    assert_true(sl_str_eq_lit(v[0].raw, "\"gpt\\\"4\""));
    assert_int_equal(v[1].type, MJ_TRUE);
    assert_int_equal(v[2].type, MJ_OBJECT);
    assert_true(sl_str_eq_lit(v[2].raw, "{\"chunks\":2}"));
    assert_int_equal(v[3].type, MJ_ABSENT);
}

static void test_scan_last_duplicate_wins_and_escaped_keys_match(void **state)
{
    static const struct sl_str keys[] = {MJ_KEY("stream")};
    struct mj_value v;

    (void)state;
    assert_int_equal(mj_scan_object(S("{\"stream\":true,\"stream\":false}"), keys, 1, &v), SL_OK);
    assert_int_equal(v.type, MJ_FALSE);
    assert_int_equal(mj_scan_object(S("{\"str\\u0065am\":null}"), keys, 1, &v), SL_OK);
    assert_int_equal(v.type, MJ_NULL);
    assert_int_equal(mj_scan_object(S("{\"stre\\nam\":1}"), keys, 1, &v), SL_OK);
    assert_int_equal(v.type, MJ_ABSENT);
}

static void test_scan_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":1} x",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{'a':1}",
        "{\"a\":[1 2]}",
    };
    struct mj_value v;
    static const struct sl_str keys[] = {MJ_KEY("a")};

    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        if (mj_scan_object(S(bad[i]), keys, 1, &v) != SL_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_scan_accepts_long_strings_with_utf8(void **state)
{
    char doc[4096];
    size_t n = 0;
    static const struct sl_str keys[] = {MJ_KEY("b")};
    struct mj_value v;

    (void)state;
    n += (size_t)snprintf(doc, sizeof(doc), "{\"a\":\"");
    /* Long plain runs with multi-byte characters and escapes at every alignment. */
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%.*s\xc3\xa9\\n\xf0\x9f\x98\x80", i % 9,
                              "abcdefghij");
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\",\"b\":[1,{\"c\":[]}]}");
    assert_int_equal(mj_scan_object(sl_str_init(doc, n), keys, 1, &v), SL_OK);
    assert_int_equal(v.type, MJ_ARRAY);
    assert_true(sl_str_eq_lit(v.raw, "[1,{\"c\":[]}]"));
}

static void test_depth_limit(void **state)
{
    char doc[512];
    size_t n = 0;

    (void)state;
    for (int i = 0; i < MJ_MAX_DEPTH; i++)
        doc[n++] = '[';
    for (int i = 0; i < MJ_MAX_DEPTH; i++)
        doc[n++] = ']';
    assert_int_equal(mj_validate(sl_str_init(doc, n)), SL_OK);
    n = 0;
    for (int i = 0; i <= MJ_MAX_DEPTH; i++)
        doc[n++] = '[';
    for (int i = 0; i <= MJ_MAX_DEPTH; i++)
        doc[n++] = ']';
    assert_int_equal(mj_validate(sl_str_init(doc, n)), SL_EPARSE);
}

/* The escaper's output must be a JSON string that decodes to the input (invalid UTF-8 bytes
 * become U+FFFD). */
static void check_escape(const char *in, size_t len, const char *want_decoded)
{
    char out[256];
    size_t n = mj_escape(out, sl_str_init(in, len));
    json_error_t err;
    json_t *j;

    assert_true(n <= mj_escape_bound(len));
    assert_int_equal(mj_validate(sl_str_init(out, n)), SL_OK);
    j = json_loadb(out, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    assert_non_null(j);
    assert_int_equal(json_string_length(j), strlen(want_decoded));
    assert_memory_equal(json_string_value(j), want_decoded, strlen(want_decoded));
    json_decref(j);
}

static void test_escape(void **state)
{
    (void)state;
    check_escape("plain", 5, "plain");
    check_escape("q\"b\\s/\n\r\t\x01", 10, "q\"b\\s/\n\r\t\x01");
    check_escape("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    check_escape("bad\xff\xc3", 5, "bad\xef\xbf\xbd\xef\xbf\xbd");
    /* The empty slice at NULL (the Responses stream's first content part): "" without pointer
     * arithmetic on NULL, which UBSan reports. */
    check_escape(NULL, 0, "");
}

static void test_writer_u64(void **state)
{
    char buf[64];
    struct mj_writer w = {buf, buf + sizeof(buf)};

    (void)state;
    mj_put_u64(&w, 0);
    MJ_PUT_LIT(&w, ",");
    mj_put_u64(&w, UINT64_MAX);
    assert_int_equal(w.ptr - buf, 22);
    assert_memory_equal(buf, "0,18446744073709551615", 22);
}

static void test_iterate_members_and_elements(void **state)
{
    static const struct sl_str keys[] = {MJ_KEY("a")};
    struct mj_value top, v;
    struct mj_iter it;
    struct sl_str key;
    const char *doc =
        "{\"a\": { \"k\\u0031\" : [1, \"two\" ,{\"x\":[]}], \"e\":{} , \"n\":null } }";
    size_t n = 0;

    (void)state;
    assert_int_equal(mj_scan_object(S(doc), keys, 1, &top), SL_OK);
    mj_iter_init(&it, top);
    assert_true(mj_next_member(&it, &key, &v));
    assert_true(sl_str_eq_lit(key, "\"k\\u0031\""));
    assert_true(mj_str_is(key, "k1"));
    assert_int_equal(v.type, MJ_ARRAY);
    struct mj_iter arr;
    mj_iter_init(&arr, v);
    while (mj_next_elem(&arr, &v))
        n++;
    assert_int_equal(n, 3);
    assert_true(mj_next_member(&it, &key, &v));
    assert_true(mj_str_is(key, "e"));
    assert_int_equal(v.type, MJ_OBJECT);
    mj_iter_init(&arr, v);
    assert_false(mj_next_member(&arr, &key, &v));
    assert_true(mj_next_member(&it, &key, &v));
    assert_int_equal(v.type, MJ_NULL);
    assert_false(mj_next_member(&it, &key, &v));
    /* An empty array has no elements. */
    mj_iter_init(&arr, (struct mj_value){MJ_ARRAY, S("[ ]")});
    assert_false(mj_next_elem(&arr, &v));
}

static void test_unescape(void **state)
{
    char out[64];
    struct sl_str raw = S("\"a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00\\ud800x\"");
    size_t n = mj_unescape(raw, out);

    (void)state;
    assert_int_equal(n, strlen("a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx"));
    assert_memory_equal(out, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx", n);
    assert_true(mj_str_is(S("\"user\""), "user"));
    assert_true(mj_str_is(S("\"us\\u0065r\""), "user"));
    assert_false(mj_str_is(S("\"users\""), "user"));
    assert_false(mj_str_is(S("\"use\""), "user"));
    assert_true(mj_str_is(S("\"\""), ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_finds_top_level_members),
        cmocka_unit_test(test_scan_last_duplicate_wins_and_escaped_keys_match),
        cmocka_unit_test(test_scan_rejects_malformed),
        cmocka_unit_test(test_scan_accepts_long_strings_with_utf8),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_writer_u64),
        cmocka_unit_test(test_iterate_members_and_elements),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
