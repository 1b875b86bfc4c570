#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/tz.h"

#define SECS_PER_DAY 86400
/* RFC 8536 3.2: utoff SHOULD be in [-89999, 93599] (-24:59:59 to +25:59:59); POSIX rules give
 * the same range (an hour of DST on a -24:59:59 standard offset). */
#define MIN_OFFSET    (-89999)
#define MAX_OFFSET    93599
#define MAX_RULE_TIME (167 * 3600) /* RFC 8536 section 3.3.1 extension of POSIX */

/* A POSIX rule date: Jn (julian, no leap day), n (zero-based day of year) or Mm.w.d. */
enum rule_kind {
    RULE_JULIAN1 = 0,
    RULE_JULIAN0,
    RULE_MONTH,
};

struct rule_date {
    enum rule_kind kind;
    unsigned day;   /* Jn: 1-365; n: 0-365; M: weekday 0 (Sunday) - 6 */
    unsigned week;  /* M: 1-5 (5 = last) */
    unsigned month; /* M: 1-12 */
    int32_t time;   /* seconds after local midnight of that date; may be negative or > 24h */
};

struct posix_rule {
    int32_t std_off; /* seconds east of UTC */
    bool has_dst;
    int32_t dst_off;
    struct rule_date start, end;
};

struct sl_tz {
    int64_t *times; /* transition instants, ascending */
    uint8_t *idx;   /* type in force from times[i] on */
    size_t n;
    int32_t *offsets; /* by type */
    size_t ntypes;
    bool has_rule; /* a footer rule (or a bare POSIX zone) applies after the last transition */
    struct posix_rule rule;
};

/* ---- civil calendar (Howard Hinnant's algorithms) ---- */

int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Day number (since the epoch) a rule date falls on in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
    int64_t jan1 = sl_days_from_civil(y, 1, 1);
    switch (r->kind) {
    case RULE_JULIAN1: /* February 29 is never counted */
        return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
    case RULE_JULIAN0:
        return jan1 + r->day;
    case RULE_MONTH:
        break;
    }
    int64_t first = sl_days_from_civil(y, r->month, 1);
    /* 1970-01-01 was a Thursday (4). */
    unsigned wd_first = (unsigned)(((first % 7) + 7 + 4) % 7);
    unsigned delta = (r->day + 7 - wd_first) % 7;
    int64_t day = first + delta + (int64_t)(r->week - 1) * 7;
    while (day >= first + days_in_month(y, r->month))
        day -= 7;
    return day;
}

static int32_t rule_offset(const struct posix_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    unsigned m, d;
    sl_civil_from_days((t + r->std_off) / SECS_PER_DAY - ((t + r->std_off) % SECS_PER_DAY < 0), &y,
                       &m, &d);
    /* The start is written in standard time, the end in daylight time (POSIX). */
    int64_t start = rule_day(&r->start, y) * SECS_PER_DAY + r->start.time - r->std_off;
    int64_t end = rule_day(&r->end, y) * SECS_PER_DAY + r->end.time - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

int32_t sl_tz_offset(const struct sl_tz *tz, int64_t t)
{
    if (tz->n == 0 || t >= tz->times[tz->n - 1]) {
        if (tz->has_rule)
            return rule_offset(&tz->rule, t);
        return tz->n != 0 ? tz->offsets[tz->idx[tz->n - 1]] : tz->offsets[0];
    }
    if (t < tz->times[0])
        return tz->offsets[0];
    size_t lo = 0, hi = tz->n - 1; /* times[lo] <= t < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offsets[tz->idx[lo]];
}

/* ---- POSIX TZ rules ---- */

struct cursor {
    const char *p, *end;
};

static bool at_end(const struct cursor *c)
{
    return c->p == c->end;
}

static bool peek_is(const struct cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static bool number(struct cursor *c, unsigned max, unsigned *out)
{
    unsigned v = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 4)
        v = v * 10 + (unsigned)(*c->p++ - '0');
    *out = v;
    return c->p != start && v <= max;
}

/* A zone abbreviation: three or more letters, or <...> with letters, digits, '+' and '-'. */
static bool name(struct cursor *c)
{
    const char *start = c->p;
    if (peek_is(c, '<')) {
        c->p++;
        while (c->p < c->end && *c->p != '>') {
            char ch = *c->p++;
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '+' || ch == '-';
            if (!ok)
                return false;
        }
        if (!peek_is(c, '>') || c->p - start < 4)
            return false;
        c->p++;
        return true;
    }
    while (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z')))
        c->p++;
    return c->p - start >= 3;
}

/* [+-]hh[:mm[:ss]] as seconds, hours up to max_hours. */
static bool hms(struct cursor *c, unsigned max_hours, int32_t *out)
{
    int sign = 1;
    unsigned h, m = 0, s = 0;
    if (peek_is(c, '+') || peek_is(c, '-'))
        sign = *c->p++ == '-' ? -1 : 1;
    if (!number(c, max_hours, &h))
        return false;
    if (peek_is(c, ':')) {
        c->p++;
        if (!number(c, 59, &m))
            return false;
        if (peek_is(c, ':')) {
            c->p++;
            if (!number(c, 59, &s))
                return false;
        }
    }
    *out = sign * (int32_t)(h * 3600 + m * 60 + s);
    return true;
}

static bool date(struct cursor *c, struct rule_date *r)
{
    r->time = 2 * 3600;
    if (peek_is(c, 'M')) {
        c->p++;
        r->kind = RULE_MONTH;
        if (!number(c, 12, &r->month) || r->month == 0 || !peek_is(c, '.'))
            return false;
        c->p++;
        if (!number(c, 5, &r->week) || r->week == 0 || !peek_is(c, '.'))
            return false;
        c->p++;
        if (!number(c, 6, &r->day))
            return false;
    } else if (peek_is(c, 'J')) {
        c->p++;
        r->kind = RULE_JULIAN1;
        if (!number(c, 365, &r->day) || r->day == 0)
            return false;
    } else {
        r->kind = RULE_JULIAN0;
        if (!number(c, 365, &r->day))
            return false;
    }
    if (peek_is(c, '/')) {
        c->p++;
        return hms(c, MAX_RULE_TIME / 3600, &r->time);
    }
    return true;
}

static int parse_rule(struct sl_str s, struct posix_rule *r, const char **why)
{
    struct cursor c = {s.ptr, s.ptr + s.len};
    int32_t off;
    *r = (struct posix_rule){0};
    *why = "not a POSIX TZ rule";
    if (!name(&c) || !hms(&c, 24, &off))
        return SL_EPARSE;
    r->std_off = -off; /* POSIX offsets count west of UTC */
    if (at_end(&c))
        return SL_OK;
    if (!name(&c))
        return SL_EPARSE;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (!at_end(&c) && !peek_is(&c, ',')) {
        if (!hms(&c, 24, &off))
            return SL_EPARSE;
        r->dst_off = -off;
    }
    if (at_end(&c)) { /* no rule: the US one, as glibc assumes */
        r->start = (struct rule_date){RULE_MONTH, 0, 2, 3, 2 * 3600};
        r->end = (struct rule_date){RULE_MONTH, 0, 1, 11, 2 * 3600};
        return SL_OK;
    }
    if (!peek_is(&c, ',') || (c.p++, !date(&c, &r->start)) || !peek_is(&c, ',') ||
        (c.p++, !date(&c, &r->end)) || !at_end(&c))
        return SL_EPARSE;
    return SL_OK;
}

int sl_tz_parse_posix(struct sl_str rule, struct sl_tz **out, const char **why)
{
    struct posix_rule r;
    if (parse_rule(rule, &r, why) != SL_OK)
        return SL_EPARSE;
    struct sl_tz *tz = sl_xcalloc(1, sizeof(*tz));
    tz->offsets = sl_xcalloc(1, sizeof(*tz->offsets));
    tz->offsets[0] = r.std_off;
    tz->ntypes = 1;
    tz->has_rule = true;
    tz->rule = r;
    *out = tz;
    return SL_OK;
}

struct sl_tz *sl_tz_utc(void)
{
    struct sl_tz *tz = sl_xcalloc(1, sizeof(*tz));
    tz->offsets = sl_xcalloc(1, sizeof(*tz->offsets));
    tz->ntypes = 1;
    return tz;
}

void sl_tz_free(struct sl_tz *tz)
{
    if (tz == NULL)
        return;
    free(tz->times);
    free(tz->idx);
    free(tz->offsets);
    free(tz);
}

/* ---- TZif ---- */

struct tzif_header {
    unsigned version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

#define HEADER_LEN 44

static int read_header(const uint8_t *p, size_t len, struct tzif_header *h, const char **why)
{
    if (len < HEADER_LEN || memcmp(p, "TZif", 4) != 0) {
        *why = "not a TZif file";
        return SL_EPARSE;
    }
    h->version = p[4] == 0 ? 1 : (unsigned)(p[4] - '0');
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    bool ok = h->version >= 1 && h->version <= 9 && h->timecnt <= SL_TZ_MAX_TRANSITIONS &&
              h->typecnt >= 1 && h->typecnt <= SL_TZ_MAX_TYPES && h->leapcnt <= 1024 &&
              h->charcnt <= 4096 && (h->isutcnt == 0 || h->isutcnt == h->typecnt) &&
              (h->isstdcnt == 0 || h->isstdcnt == h->typecnt);
    if (!ok)
        *why = "TZif header counts are out of range";
    return ok ? SL_OK : SL_EPARSE;
}

/* Bytes of the data block after a header, with times of tsize bytes. */
static size_t data_len(const struct tzif_header *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int read_data(const uint8_t *p, const struct tzif_header *h, size_t tsize, struct sl_tz *tz,
                     const char **why)
{
    tz->n = h->timecnt;
    tz->ntypes = h->typecnt;
    tz->times = sl_xcalloc(tz->n + 1, sizeof(*tz->times));
    tz->idx = sl_xcalloc(tz->n + 1, 1);
    tz->offsets = sl_xcalloc(tz->ntypes, sizeof(*tz->offsets));
    for (size_t i = 0; i < tz->n; i++) {
        tz->times[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
        if (i > 0 && tz->times[i] <= tz->times[i - 1]) {
            *why = "TZif transition times are not ascending";
            return SL_EPARSE;
        }
    }
    p += tz->n * tsize;
    for (size_t i = 0; i < tz->n; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= tz->ntypes) {
            *why = "a TZif transition names a type that does not exist";
            return SL_EPARSE;
        }
    }
    p += tz->n;
    for (size_t i = 0; i < tz->ntypes; i++) {
        int32_t off = (int32_t)be32(p + i * 6);
        if (off < MIN_OFFSET || off > MAX_OFFSET) {
            *why = "a TZif offset is outside -24:59:59 to +25:59:59 (RFC 8536)";
            return SL_EPARSE;
        }
        tz->offsets[i] = off;
    }
    return SL_OK;
}

/* The footer of a v2+ file: "\n<rule>\n"; an empty rule means none. */
static int read_footer(const uint8_t *p, size_t len, struct sl_tz *tz, const char **why)
{
    if (len < 2 || p[0] != '\n') {
        *why = "the TZif footer is missing";
        return SL_EPARSE;
    }
    const uint8_t *nl = memchr(p + 1, '\n', len - 1);
    if (nl == NULL) {
        *why = "the TZif footer is not terminated";
        return SL_EPARSE;
    }
    struct sl_str rule = sl_str_init((const char *)p + 1, (size_t)(nl - p - 1));
    if (rule.len == 0)
        return SL_OK;
    if (parse_rule(rule, &tz->rule, why) != SL_OK)
        return SL_EPARSE;
    tz->has_rule = true;
    return SL_OK;
}

int sl_tz_parse(const uint8_t *data, size_t len, struct sl_tz **out, const char **why)
{
    struct tzif_header h;
    *out = NULL;
    if (read_header(data, len, &h, why) != SL_OK)
        return SL_EPARSE;
    size_t v1 = data_len(&h, 4);
    if (len - HEADER_LEN < v1) {
        *why = "the TZif file is truncated";
        return SL_EPARSE;
    }
    const uint8_t *p = data + HEADER_LEN;
    size_t tsize = 4;
    if (h.version >= 2) {
        /* Skip the 32-bit block: the second header and its 64-bit data describe the same
         * zone without the 2038 limit. */
        p += v1;
        len -= HEADER_LEN + v1;
        if (read_header(p, len, &h, why) != SL_OK)
            return SL_EPARSE;
        p += HEADER_LEN;
        len -= HEADER_LEN;
        tsize = 8;
        if (len < data_len(&h, 8)) {
            *why = "the TZif file is truncated";
            return SL_EPARSE;
        }
    }
    struct sl_tz *tz = sl_xcalloc(1, sizeof(*tz));
    int rc = read_data(p, &h, tsize, tz, why);
    if (rc == SL_OK && h.version >= 2) {
        size_t used = data_len(&h, 8);
        rc = read_footer(p + used, len - used, tz, why);
    }
    if (rc != SL_OK) {
        sl_tz_free(tz);
        return SL_EPARSE;
    }
    *out = tz;
    return SL_OK;
}
