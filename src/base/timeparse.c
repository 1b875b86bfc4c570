#include <stdbool.h>
#include <stdint.h>

#include "sluice/base.h"
#include "sluice/timeparse.h"

#define US_PER_SEC 1000000LL

/* A cursor over the text: every reader checks the bounds itself, so no input can read past the
 * end of the slice. */
struct cursor {
    const char *p;
    const char *end;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits. */
static bool read_digits(struct cursor *c, int n, int *out)
{
    int v = 0;
    if (c->end - c->p < n)
        return false;
    for (int i = 0; i < n; i++) {
        if (!is_digit(c->p[i]))
            return false;
        v = v * 10 + (c->p[i] - '0');
    }
    c->p += n;
    *out = v;
    return true;
}

static bool read_char(struct cursor *c, const char *set)
{
    if (c->p == c->end)
        return false;
    for (; *set != '\0'; set++) {
        if (*c->p == *set) {
            c->p++;
            return true;
        }
    }
    return false;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads ".digits" into microseconds; digits past the sixth are checked and dropped. */
static bool read_fraction(struct cursor *c, int64_t *us)
{
    int64_t v = 0;
    int n = 0;
    *us = 0;
    if (c->p == c->end || *c->p != '.')
        return true;
    c->p++;
    while (c->p < c->end && is_digit(*c->p)) {
        if (n < 6)
            v = v * 10 + (*c->p - '0');
        n++;
        c->p++;
    }
    if (n == 0)
        return false;
    for (; n < 6; n++)
        v *= 10;
    *us = v;
    return true;
}

/* Reads "Z" or "+HH:MM"/"-HH:MM" into seconds east of UTC. */
static bool read_zone(struct cursor *c, int64_t *offset)
{
    int hh, mm;
    if (read_char(c, "Zz")) {
        *offset = 0;
        return true;
    }
    if (c->p == c->end || (*c->p != '+' && *c->p != '-'))
        return false;
    int sign = *c->p == '-' ? -1 : 1;
    c->p++;
    if (!read_digits(c, 2, &hh) || !read_char(c, ":") || !read_digits(c, 2, &mm) || hh > 23 ||
        mm > 59)
        return false;
    *offset = sign * (hh * 3600 + mm * 60);
    return true;
}

int sl_time_parse_rfc3339(struct sl_str s, int64_t *out)
{
    struct cursor c = {s.ptr, s.ptr + s.len};
    int y, mo, d, h, mi, sec;
    int64_t frac, offset;
    if (s.len == 0)
        return SL_EPARSE;
    if (!read_digits(&c, 4, &y) || !read_char(&c, "-") || !read_digits(&c, 2, &mo) ||
        !read_char(&c, "-") || !read_digits(&c, 2, &d) || !read_char(&c, "Tt ") ||
        !read_digits(&c, 2, &h) || !read_char(&c, ":") || !read_digits(&c, 2, &mi) ||
        !read_char(&c, ":") || !read_digits(&c, 2, &sec) || !read_fraction(&c, &frac) ||
        !read_zone(&c, &offset) || c.p != c.end)
        return SL_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return SL_EPARSE;
    if (sec == 60) {
        sec = 59;
        frac = US_PER_SEC - 1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out = secs * US_PER_SEC + frac;
    return SL_OK;
}
