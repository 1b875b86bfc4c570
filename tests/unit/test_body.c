/* Unit tests for request-body inspection (src/api/body.c): duplicate member names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/body.h"

static int inspect(const char *body, char *why, size_t whylen)
{
    struct sl_call b;
    why[0] = '\0';
    return sl_body_inspect(sl_str_from_cstr(body), SL_OP_CHAT, &b, why, whylen);
}

#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void expect_duplicate(const char *body, const char *want)
{
    char why[200];
    assert_int_equal(inspect(body, why, sizeof(why)), SL_EPARSE);
    assert_string_equal(why, want);
}

/* Whichever "model" an upstream keeps, the caller must not get to choose it behind the
 * gateway's back: a repeated top-level name is refused, escaped spellings included. */
static void test_duplicate_top_level(void **state)
{
    (void)state;
    expect_duplicate("{\"model\":\"a\",\"model\":\"b\"," MSGS "}", "duplicate key \"model\"");
    expect_duplicate("{\"model\":\"a\"," MSGS ",\"mod\\u0065l\":\"b\"}", "duplicate key \"model\"");
    expect_duplicate("{\"model\":\"a\"," MSGS ",\"stream\":true,\"stream\":false}",
                     "duplicate key \"stream\"");
    expect_duplicate("{\"model\":\"a\"," MSGS ",\"x\":1,\"x\":2}", "duplicate key \"x\"");
    expect_duplicate("{\"model\":\"a\"," MSGS "," MSGS "}", "duplicate key \"messages\"");
    expect_duplicate("{\"model\":\"a\"," MSGS ",\"\\u00e9\":1,\"\xc3\xa9\":2}",
                     "duplicate key \"\xc3\xa9\"");
}

static void test_duplicate_stream_options(void **state)
{
    (void)state;
    expect_duplicate("{\"model\":\"a\"," MSGS ",\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":false,\"include_usage\":true}}",
                     "duplicate key \"include_usage\"");
}

/* Objects Sluice neither reads nor rewrites are the upstream's business. */
static void test_nested_duplicates_pass(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(inspect("{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"role\":\"x\","
                             "\"content\":\"hi\"}],\"metadata\":{\"k\":1,\"k\":2}}",
                             why, sizeof(why)),
                     SL_OK);
}

/* Many members: the hash table past the linear phase finds a late duplicate of an early name. */
static void test_many_members(void **state)
{
    (void)state;
    char body[40000], why[200];
    size_t o = (size_t)snprintf(body, sizeof(body), "{\"model\":\"a\"," MSGS);
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, ",\"f%d\":%d", i, i);
    snprintf(body + o, sizeof(body) - o, "}");
    assert_int_equal(inspect(body, why, sizeof(why)), SL_OK);
    snprintf(body + o, sizeof(body) - o, ",\"f\\u0037\":1}");
    expect_duplicate(body, "duplicate key \"f7\"");
    o = (size_t)snprintf(body, sizeof(body), "{\"model\":\"a\"," MSGS);
    for (int i = 0; i < 1100; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, ",\"f%d\":%d", i, i);
    snprintf(body + o, sizeof(body) - o, "}");
    expect_duplicate(body, "an object has more than 1024 members");
}

static void test_errors_unchanged(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(inspect("[1]", why, sizeof(why)), SL_EPARSE);
    assert_string_equal(why, "expected an object at byte 0");
    assert_int_equal(inspect(" {\"model\":", why, sizeof(why)), SL_EPARSE);
    assert_string_equal(why, "unexpected end of input at byte 10");
    assert_int_equal(inspect("{\"model\":\"a\"} x", why, sizeof(why)), SL_EPARSE);
    assert_string_equal(why, "trailing data after JSON value at byte 14");
    assert_int_equal(inspect("{\"model\":\"a\"}", why, sizeof(why)), SL_EPARSE);
    assert_string_equal(why, "missing field \"messages\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate_top_level),
        cmocka_unit_test(test_duplicate_stream_options),
        cmocka_unit_test(test_nested_duplicates_pass),
        cmocka_unit_test(test_many_members),
        cmocka_unit_test(test_errors_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
