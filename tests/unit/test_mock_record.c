/* Unit tests of the mock's shared inspection state (tests/mock/record.c): the per-tag request
 * counts behind mock.fail_first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "record.h"
#include "sluice/base.h"

int main(void);

static uint64_t count(const char *tag)
{
    uint64_t seen = 0;
    assert_int_equal(rec_count_tag(sl_str_from_cstr(tag), &seen), SL_OK);
    return seen;
}

static void test_counts_per_tag_until_reset(void **state)
{
    (void)state;
    rec_reset();
    assert_int_equal(count("a"), 1);
    assert_int_equal(count("a"), 2);
    assert_int_equal(count("b"), 1);
    assert_int_equal(count(""), 1);
    assert_int_equal(count("a"), 3);
    /* A prefix is another tag. */
    assert_int_equal(count("aa"), 1);
    rec_reset();
    assert_int_equal(count("a"), 1);
}

static void test_refuses_a_tag_past_the_table(void **state)
{
    char tag[16];
    uint64_t seen = 0;

    (void)state;
    rec_reset();
    for (size_t i = 0; i < REC_MAX_TAGS; i++) {
        snprintf(tag, sizeof(tag), "t%zu", i);
        assert_int_equal(count(tag), 1);
    }
    assert_int_equal(rec_count_tag(SL_STRLIT("one more"), &seen), SL_ERR);
    /* Tags already counted still count. */
    assert_int_equal(count("t0"), 2);
    rec_reset();
    assert_int_equal(count("one more"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_tag_until_reset),
        cmocka_unit_test(test_refuses_a_tag_past_the_table),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rec_dispose();
    return rc;
}
