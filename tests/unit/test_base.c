/* Unit tests for the base layer: slices, capped buffers, log escaping and levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/log.h"
#include "sluice/str.h"

static void test_str_compare(void **state)
{
    (void)state;
    assert_true(sl_str_eq_lit(SL_STRLIT("abc"), "abc"));
    assert_false(sl_str_eq_lit(SL_STRLIT("abc"), "abcd"));
    assert_true(sl_str_eq(SL_STR_NULL, SL_STRLIT("")));
    assert_true(sl_str_ieq_lit(SL_STRLIT("Content-Type"), "content-type"));
    assert_false(sl_str_ieq_lit(SL_STRLIT("Content-Typf"), "content-type"));
    assert_true(sl_str_starts_with(SL_STRLIT("Bearer x"), SL_STRLIT("Bearer ")));
    assert_true(sl_str_ends_with(SL_STRLIT("/v1/chat/completions"), SL_STRLIT("/completions")));
    struct sl_str t = sl_str_trim(SL_STRLIT(" \t x y \t"));
    assert_true(sl_str_eq_lit(t, "x y"));
    assert_int_equal(sl_str_trim(SL_STRLIT("   ")).len, 0);
}

static void test_str_to_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(sl_str_to_u64(SL_STRLIT("0"), 10, &v), SL_OK);
    assert_int_equal(v, 0);
    assert_int_equal(sl_str_to_u64(SL_STRLIT("18446744073709551615"), UINT64_MAX, &v), SL_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(sl_str_to_u64(SL_STRLIT("18446744073709551616"), UINT64_MAX, &v), SL_EPARSE);
    assert_int_equal(sl_str_to_u64(SL_STRLIT("11"), 10, &v), SL_EPARSE);
    assert_int_equal(sl_str_to_u64(SL_STRLIT("10"), 10, &v), SL_OK);
    assert_int_equal(sl_str_to_u64(SL_STRLIT(""), 10, &v), SL_EPARSE);
    assert_int_equal(sl_str_to_u64(SL_STRLIT("-1"), 10, &v), SL_EPARSE);
    assert_int_equal(sl_str_to_u64(SL_STRLIT(" 1"), 10, &v), SL_EPARSE);
    assert_int_equal(sl_str_to_u64(SL_STRLIT("1a"), 10, &v), SL_EPARSE);
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b, 8);
    assert_int_equal(sl_buf_append(&b, "12345", 5), SL_OK);
    assert_int_equal(sl_buf_append(&b, "6789", 4), SL_E2BIG);
    assert_int_equal(b.len, 5); /* unchanged by the failed append */
    assert_int_equal(sl_buf_append(&b, "678", 3), SL_OK);
    assert_string_equal(sl_buf_cstr(&b), "12345678");
    assert_int_equal(sl_buf_appendf(&b, "%d", 9), SL_E2BIG);
    sl_buf_consume(&b, 3);
    assert_string_equal(sl_buf_cstr(&b), "45678");
    assert_int_equal(sl_buf_appendf(&b, "%s", "abc"), SL_OK);
    assert_string_equal(b.ptr, "45678abc");
    sl_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_null(sl_buf_reserve(&b, 9));
    char *p = sl_buf_reserve(&b, 2);
    assert_non_null(p);
    memcpy(p, "xy", 2);
    sl_buf_commit(&b, 2);
    assert_string_equal(b.ptr, "xy");
    sl_buf_dispose(&b);
}

static void test_buf_appendf_long(void **state)
{
    (void)state;
    struct sl_buf b;
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sl_buf_init(&b, 4096);
    assert_int_equal(sl_buf_appendf(&b, "<%s>", big), SL_OK);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.ptr[0], '<');
    assert_int_equal(b.ptr[1000], '>');
    sl_buf_dispose(&b);
}

static void test_log_escape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sl_log_escape(out, sizeof(out), SL_STRLIT("plain")), 7);
    assert_string_equal(out, "\"plain\"");
    sl_log_escape(out, sizeof(out), SL_STRLIT("a\"b\\c\nd\x01\xc3\xa9"));
    assert_string_equal(out, "\"a\\\"b\\\\c\\x0ad\\x01\\xc3\\xa9\"");
    /* Truncation keeps the closing quote and never splits an escape. */
    sl_log_escape(out, 8, SL_STRLIT("abcdefghij"));
    assert_string_equal(out, "\"abcde\"");
    sl_log_escape(out, 6, SL_STRLIT("\n\n"));
    assert_string_equal(out, "\"\"");
}

static void test_log_levels(void **state)
{
    (void)state;
    enum sl_log_level l;
    assert_int_equal(sl_log_level_parse(SL_STRLIT("WARN"), &l), SL_OK);
    assert_int_equal(l, SL_LOG_WARN);
    assert_int_equal(sl_log_level_parse(SL_STRLIT("verbose"), &l), SL_EPARSE);
    sl_log_set_level(SL_LOG_WARN);
    assert_false(sl_log_enabled(SL_LOG_INFO));
    assert_true(sl_log_enabled(SL_LOG_ERROR));
    sl_log_set_level(SL_LOG_INFO);
    assert_string_equal(sl_log_level_name(SL_LOG_TRACE), "trace");
    char ts[32];
    assert_int_equal(sl_log_timestamp(ts, sizeof(ts)), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_compare), cmocka_unit_test(test_str_to_u64),
        cmocka_unit_test(test_buf_cap),     cmocka_unit_test(test_buf_appendf_long),
        cmocka_unit_test(test_log_escape),  cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
