/* Unit tests for the streaming JSON writer (src/base/json_w.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/json_w.h"

static void assert_out(struct sl_buf *b, const char *want)
{
    if (b->len != strlen(want) || memcmp(b->ptr, want, b->len) != 0)
        fail_msg("got %.*s, want %s", (int)b->len, b->ptr, want);
    SL_ASSERT(sl_json_validate(sl_buf_str(b), 64, NULL) == SL_OK);
}

static void test_nesting_and_commas(void **state)
{
    (void)state;
    struct sl_buf b;
    struct sl_json_w w;
    sl_buf_init(&b, 1024);
    sl_jw_init(&w, &b);
    sl_jw_obj(&w);
    sl_jw_kstr(&w, "a", SL_STRLIT("x\"y\n"));
    sl_jw_key(&w, SL_STRLIT("list"));
    sl_jw_arr(&w);
    sl_jw_int(&w, -3);
    sl_jw_bool(&w, true);
    sl_jw_null(&w);
    sl_jw_obj(&w);
    sl_jw_obj_end(&w);
    sl_jw_arr(&w);
    sl_jw_arr_end(&w);
    sl_jw_raw(&w, SL_STRLIT("{\"k\":[1,2]}"));
    sl_jw_arr_end(&w);
    sl_jw_kint(&w, "n", INT64_MIN);
    sl_jw_key(&w, SL_STRLIT("joined"));
    sl_jw_str_begin(&w);
    sl_jw_str_piece(&w, SL_STRLIT("ab"));
    sl_jw_str_piece(&w, SL_STR_NULL);
    sl_jw_str_piece(&w, SL_STRLIT("\t\xc3\xa9"));
    sl_jw_str_end(&w);
    sl_jw_obj_end(&w);
    assert_int_equal(sl_jw_finish(&w), SL_OK);
    assert_int_equal(sl_jw_depth(&w), 0);
    assert_out(&b, "{\"a\":\"x\\\"y\\n\",\"list\":[-3,true,null,{},[],{\"k\":[1,2]}],"
                   "\"n\":-9223372036854775808,\"joined\":\"ab\\t\xc3\xa9\"}");
    sl_buf_dispose(&b);
}

/* Past the cap nothing more is written and finish says so; what was written stays a prefix. */
static void test_cap_is_sticky(void **state)
{
    (void)state;
    for (size_t cap = 0; cap < 40; cap++) {
        struct sl_buf b;
        struct sl_json_w w;
        sl_buf_init(&b, cap);
        sl_jw_init(&w, &b);
        sl_jw_arr(&w);
        for (int i = 0; i < 5; i++)
            sl_jw_str(&w, SL_STRLIT("abcdef"));
        sl_jw_arr_end(&w);
        static const char full[] = "[\"abcdef\",\"abcdef\",\"abcdef\",\"abcdef\",\"abcdef\"]";
        if (cap >= sizeof(full) - 1) {
            assert_int_equal(sl_jw_finish(&w), SL_OK);
            assert_out(&b, full);
        } else {
            assert_int_equal(sl_jw_finish(&w), SL_E2BIG);
            assert_true(b.len <= cap && (b.len == 0 || memcmp(b.ptr, full, b.len) == 0));
        }
        sl_buf_dispose(&b);
    }
}

static void test_appends_after_existing(void **state)
{
    (void)state;
    struct sl_buf b;
    struct sl_json_w w;
    sl_buf_init(&b, 64);
    sl_buf_append(&b, "data: ", 6);
    sl_jw_init(&w, &b);
    sl_jw_str(&w, SL_STRLIT("v"));
    assert_int_equal(sl_jw_finish(&w), SL_OK);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.ptr, "data: \"v\"", 9);
    sl_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_and_commas),
        cmocka_unit_test(test_cap_is_sticky),
        cmocka_unit_test(test_appends_after_existing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
