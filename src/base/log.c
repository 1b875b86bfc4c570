#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base.h"
#include "sluice/log.h"

_Atomic int sl__log_level = SL_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};

void sl_log_set_level(enum sl_log_level level)
{
    atomic_store_explicit(&sl__log_level, (int)level, memory_order_relaxed);
}

int sl_log_level_parse(struct sl_str s, enum sl_log_level *out)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(level_names); i++) {
        if (sl_str_ieq(s, sl_str_from_cstr(level_names[i]))) {
            *out = (enum sl_log_level)i;
            return SL_OK;
        }
    }
    return SL_EPARSE;
}

const char *sl_log_level_name(enum sl_log_level level)
{
    SL_ASSERT((size_t)level < SL_ARRAY_LEN(level_names));
    return level_names[level];
}

size_t sl_log_timestamp(char *dst, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t sl_log_escape(char *dst, size_t cap, struct sl_str s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 3) {
        if (cap > 0)
            dst[0] = '\0';
        return 0;
    }
    dst[o++] = '"';
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        char esc[4];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            n = 4;
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (o + n + 2 > cap) /* room for the closing quote and the NUL */
            break;
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return o;
}

void sl_log(enum sl_log_level level, const char *fmt, ...)
{
    char line[8192];
    if (!sl_log_enabled(level))
        return;
    size_t n = sl_log_timestamp(line, sizeof(line));
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s ", level_tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof(line) - n - 1) {
        n = sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)m;
    }
    line[n++] = '\n';
    /* One write per line keeps lines from different threads whole (pipes and ttys). */
    (void)!write(2, line, n);
}
