#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/timeparse.h"

int main(void);

#define US 1000000LL

static int64_t parse_ok(const char *text)
{
    int64_t t = -42;
    int rc = sl_time_parse_rfc3339(sl_str_from_cstr(text), &t);
    if (rc != SL_OK)
        fprintf(stderr, "rejected: %s\n", text);
    assert_int_equal(rc, SL_OK);
    return t;
}

static void parse_bad(const char *text)
{
    int64_t t = -42;
    int rc = sl_time_parse_rfc3339(sl_str_from_cstr(text), &t);
    if (rc != SL_EPARSE)
        fprintf(stderr, "accepted: %s\n", text);
    assert_int_equal(rc, SL_EPARSE);
    assert_int_equal(t, -42);
}

static void test_utc(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("1970-01-01T00:00:01Z"), US);
    assert_int_equal(parse_ok("2000-01-01T00:00:00Z"), 946684800 * US);
    assert_int_equal(parse_ok("2026-12-31T23:59:59Z"), 1798761599 * US);
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -US);
    assert_int_equal(parse_ok("0000-01-01T00:00:00Z"), -62167219200LL * US);
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), 253402300799LL * US);
}

static void test_separators_and_case(void **state)
{
    (void)state;
    int64_t want = 1798761599 * US;
    assert_int_equal(parse_ok("2026-12-31t23:59:59z"), want);
    assert_int_equal(parse_ok("2026-12-31 23:59:59Z"), want);
    assert_int_equal(parse_ok("2026-12-31T23:59:59+00:00"), want);
    assert_int_equal(parse_ok("2026-12-31T23:59:59-00:00"), want);
}

static void test_offsets(void **state)
{
    (void)state;
    int64_t utc = parse_ok("2026-06-15T12:00:00Z");
    assert_int_equal(parse_ok("2026-06-15T14:00:00+02:00"), utc);
    assert_int_equal(parse_ok("2026-06-15T06:30:00-05:30"), utc);
    assert_int_equal(parse_ok("2026-06-16T11:59:00+23:59"), utc);
    /* An offset can move the instant across a day, month and year boundary. */
    assert_int_equal(parse_ok("2027-01-01T01:00:00+02:00"), parse_ok("2026-12-31T23:00:00Z"));
}

static void test_fractions(void **state)
{
    (void)state;
    int64_t base = parse_ok("2026-12-31T23:59:59Z");
    assert_int_equal(parse_ok("2026-12-31T23:59:59.1Z"), base + 100000);
    assert_int_equal(parse_ok("2026-12-31T23:59:59.123Z"), base + 123000);
    assert_int_equal(parse_ok("2026-12-31T23:59:59.123456Z"), base + 123456);
    /* Digits past microseconds are truncated, not rounded. */
    assert_int_equal(parse_ok("2026-12-31T23:59:59.1234569Z"), base + 123456);
    assert_int_equal(parse_ok("2026-12-31T23:59:59.999999999999Z"), base + 999999);
    assert_int_equal(parse_ok("2026-12-31T23:59:59.000+02:00"), base - 7200 * US);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.5Z"), -US / 2);
}

static void test_leap_second_and_leap_years(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), parse_ok("2016-12-31T23:59:59.999999Z"));
    assert_int_equal(parse_ok("2016-12-31T23:59:60.5Z"), parse_ok("2016-12-31T23:59:59.999999Z"));
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800 * US);
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400 * US);
    parse_bad("2023-02-29T00:00:00Z");
    parse_bad("1900-02-29T00:00:00Z");
    parse_bad("2100-02-29T00:00:00Z");
}

static void test_invalid_dates(void **state)
{
    (void)state;
    parse_bad("2026-02-30T00:00:00Z");
    parse_bad("2026-04-31T00:00:00Z");
    parse_bad("2026-13-01T00:00:00Z");
    parse_bad("2026-00-01T00:00:00Z");
    parse_bad("2026-01-00T00:00:00Z");
    parse_bad("2026-01-32T00:00:00Z");
    parse_bad("2026-12-31T24:00:00Z");
    parse_bad("2026-12-31T23:60:00Z");
    parse_bad("2026-12-31T23:59:61Z");
}

static void test_malformed(void **state)
{
    (void)state;
    parse_bad("");
    parse_bad("2026-12-31T23:59:59");      /* missing zone */
    parse_bad("2026-12-31");               /* date only */
    parse_bad("2026-12-31T23:59Z");        /* no seconds */
    parse_bad("26-12-31T23:59:59Z");       /* two-digit year */
    parse_bad("2026-1-31T23:59:59Z");      /* one-digit month */
    parse_bad("2026/12/31T23:59:59Z");     /* wrong separators */
    parse_bad("2026-12-31X23:59:59Z");     /* wrong T */
    parse_bad("2026-12-31T23:59:59.Z");    /* empty fraction */
    parse_bad("2026-12-31T23:59:59,5Z");   /* comma fraction */
    parse_bad("2026-12-31T23:59:59+0200"); /* offset without colon */
    parse_bad("2026-12-31T23:59:59+02");   /* short offset */
    parse_bad("2026-12-31T23:59:59+24:00");
    parse_bad("2026-12-31T23:59:59+02:60");
    parse_bad("2026-12-31T23:59:59ZZ"); /* trailing garbage */
    parse_bad(" 2026-12-31T23:59:59Z"); /* leading space */
    parse_bad("2026-12-31T23:59:59Z "); /* trailing space */
    parse_bad("+2026-12-31T23:59:59Z"); /* signed year */
    parse_bad("2026-12-31T23:59:59 UTC");
}

/* The parser must never read past the slice: feed every prefix of a valid timestamp from an
 * exact-size heap copy (ASan reports any overread). */
static void test_prefixes(void **state)
{
    (void)state;
    const char *full = "2026-12-31T23:59:59.123456+02:00";
    size_t n = strlen(full);
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len != 0 ? len : 1);
        assert_non_null(copy);
        memcpy(copy, full, len);
        int64_t t;
        assert_int_equal(sl_time_parse_rfc3339(sl_str_init(copy, len), &t), SL_EPARSE);
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_separators_and_case),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_leap_second_and_leap_years),
        cmocka_unit_test(test_invalid_dates),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
