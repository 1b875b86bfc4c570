/* Time zones: every offset is checked against glibc, which reads the same TZif files and footer
 * rules, at many instants from 1901 to 2200 (past every file's last transition). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/tz.h"

int main(void);

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static long glibc_offset(const char *zone, time_t t)
{
    struct tm tm;
    setenv("TZ", zone, 1);
    tzset();
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

/* splitmix64: a fixed sequence of instants. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void check_zone(const char *zone)
{
    char path[256];
    size_t len;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone);
    uint8_t *data = read_file(path, &len);
    if (data == NULL) {
        print_message("skipping %s: no tzdata\n", zone);
        return;
    }
    struct sl_tz *tz;
    const char *why = NULL;
    assert_int_equal(sl_tz_parse(data, len, &tz, &why), SL_OK);
    uint64_t seed = 42;
    const int64_t from = -2147483648LL, to = 7258118400LL; /* 1901 .. 2200 */
    for (int i = 0; i < 20000; i++) {
        int64_t t = from + (int64_t)(next(&seed) % (uint64_t)(to - from));
        long want = glibc_offset(zone, (time_t)t);
        if (sl_tz_offset(tz, t) != want)
            fail_msg("%s at %lld: got %d, glibc %ld", zone, (long long)t, sl_tz_offset(tz, t),
                     want);
    }
    sl_tz_free(tz);
    free(data);
}

static void test_zones_match_glibc(void **state)
{
    (void)state;
    static const char *const zones[] = {
        "Europe/Berlin",     "America/New_York",  "Asia/Shanghai",    "Australia/Sydney",
        "Pacific/Chatham",   "America/Sao_Paulo", "Asia/Kolkata",     "UTC",
        "Africa/Casablanca", "Europe/Dublin",     "America/St_Johns", "Antarctica/Troll"};
    for (size_t i = 0; i < SL_ARRAY_LEN(zones); i++)
        check_zone(zones[i]);
}

static void test_posix_rules(void **state)
{
    (void)state;
    struct sl_tz *tz;
    const char *why;
    assert_int_equal(sl_tz_parse_posix(SL_STRLIT("CET-1CEST,M3.5.0,M10.5.0/3"), &tz, &why), SL_OK);
    /* 2026-03-29 01:00:00Z is the switch to summer time in central Europe. */
    assert_int_equal(sl_tz_offset(tz, 1774745999), 3600);
    assert_int_equal(sl_tz_offset(tz, 1774746000), 7200);
    /* 2026-10-25 01:00:00Z back. */
    assert_int_equal(sl_tz_offset(tz, 1792889999), 7200);
    assert_int_equal(sl_tz_offset(tz, 1792890000), 3600);
    sl_tz_free(tz);
    assert_int_equal(sl_tz_parse_posix(SL_STRLIT("<+0530>-5:30"), &tz, &why), SL_OK);
    assert_int_equal(sl_tz_offset(tz, 0), 19800);
    sl_tz_free(tz);
    /* RFC 8536's extremes: -24:59:59 standard time, and an hour of DST on +24:45 (+25:45, the
       input fuzz_tz found: a valid footer the first oracle refused). */
    assert_int_equal(sl_tz_parse_posix(SL_STRLIT("<-245959>24:59:59"), &tz, &why), SL_OK);
    assert_int_equal(sl_tz_offset(tz, 0), -89999);
    sl_tz_free(tz);
    assert_int_equal(
        sl_tz_parse_posix(SL_STRLIT("<+2445>-24:45<+2545>,M1.1.0/0,M12.5.0/23"), &tz, &why), SL_OK);
    assert_int_equal(sl_tz_offset(tz, 1780000000), 92700); /* June 2026: DST */
    sl_tz_free(tz);
    static const char *const bad[] = {"",
                                      "UT0",
                                      "CET",
                                      "CET-1CEST,M3.5.0",
                                      "CET-1CEST,M13.5.0,M1.1.0",
                                      "<+0>0",
                                      "CET-1CEST,J0,J1",
                                      "CET-1CEST,M3.5.7,M10.5.0",
                                      "CET-25",
                                      "CET-1CEST,M3.5.0/200,M10.5.0"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        if (sl_tz_parse_posix(sl_str_from_cstr(bad[i]), &tz, &why) == SL_OK)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_bad_files(void **state)
{
    (void)state;
    struct sl_tz *tz;
    const char *why;
    uint8_t buf[64] = "TZif2";
    assert_int_equal(sl_tz_parse(buf, 10, &tz, &why), SL_EPARSE);
    assert_int_equal(sl_tz_parse((const uint8_t *)"TZxx", 4, &tz, &why), SL_EPARSE);
    /* typecnt 0 */
    memset(buf + 5, 0, sizeof(buf) - 5);
    assert_int_equal(sl_tz_parse(buf, sizeof(buf), &tz, &why), SL_EPARSE);
}

/* A version 1 TZif file of one type with offset utoff and no transitions. */
static int one_type_zone(int32_t utoff, struct sl_tz **tz)
{
    uint8_t f[44 + 7] = "TZif";
    const char *why;
    f[4 + 1 + 15 + 4 * 4 + 3] = 1; /* typecnt */
    f[4 + 1 + 15 + 5 * 4 + 3] = 1; /* charcnt */
    uint32_t u = (uint32_t)utoff;
    f[44] = (uint8_t)(u >> 24);
    f[45] = (uint8_t)(u >> 16);
    f[46] = (uint8_t)(u >> 8);
    f[47] = (uint8_t)u;
    return sl_tz_parse(f, sizeof(f), tz, &why);
}

/* RFC 8536 3.2's range for a type's offset, both ends. */
static void test_offset_range(void **state)
{
    (void)state;
    static const int32_t ok[] = {-89999, 0, 93599};
    static const int32_t bad[] = {-90000, 93600, INT32_MIN};
    struct sl_tz *tz;
    for (size_t i = 0; i < SL_ARRAY_LEN(ok); i++) {
        assert_int_equal(one_type_zone(ok[i], &tz), SL_OK);
        assert_int_equal(sl_tz_offset(tz, 0), ok[i]);
        sl_tz_free(tz);
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(one_type_zone(bad[i], &tz), SL_EPARSE);
}

static void test_civil(void **state)
{
    (void)state;
    assert_int_equal(sl_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(sl_days_from_civil(2000, 3, 1), 11017);
    for (int64_t d = -800000; d < 800000; d += 37) {
        int64_t y;
        unsigned m, dd;
        sl_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(sl_days_from_civil(y, m, dd), d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zones_match_glibc),
        cmocka_unit_test(test_posix_rules),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_offset_range),
        cmocka_unit_test(test_civil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
