#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sluice/access_log.h"
#include "sluice/base.h"
#include "sluice/log.h"
#include "sluice/put.h"

#define PATH_LOG_MAX     256
#define FIELD_LOG_MAX    160
#define METHOD_MAX       32
#define ATTEMPTS_LOG_MAX 512
/* A line is at most about 2.2 KiB (every field is capped); keep room for the worst case. One
 * line always fits a batch (PIPE_BUF). */
#define LINE_MAX_BYTES 3072

/* Lines are formatted by hand (printf was a quarter of the instructions of a request) into a
 * per-thread buffer that is written once at the end of the event-loop iteration, so a busy
 * worker writes one batch of lines per iteration instead of one write(2) per request. A batch
 * never exceeds PIPE_BUF, so it stays one atomic write on a pipe: lines from different threads
 * never interleave. The loop flushes its batch before it sleeps again, so nothing waits longer
 * than one iteration. */
struct batch {
    h2o_loop_t *loop;
    h2o_timeout_t zero;
    h2o_timeout_entry_t flush_entry;
    time_t stamp_sec; /* second that stamp holds, formatted */
    char stamp[24];   /* "2026-11-29T07:43:27." */
    size_t len;
    char buf[PIPE_BUF];
};

static __thread struct batch batch;

static void write_all(const char *p, size_t n)
{
    (void)!write(2, p, n);
}

static void flush(void)
{
    if (batch.len != 0)
        write_all(batch.buf, batch.len);
    batch.len = 0;
}

static void on_flush(h2o_timeout_entry_t *e)
{
    SL_UNUSED(e);
    flush();
}

/* The same text as "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ" (sl_log_timestamp); the date part is
 * formatted once per second. */
static char *put_timestamp(char *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != batch.stamp_sec || batch.stamp[0] == '\0') {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(batch.stamp, sizeof(batch.stamp), "%04d-%02d-%02dT%02d:%02d:%02d.",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec);
        SL_ASSERT(n > 0 && (size_t)n < sizeof(batch.stamp));
        batch.stamp_sec = ts.tv_sec;
    }
    size_t n = strlen(batch.stamp);
    o = sl_put(o, batch.stamp, n);
    long ms = ts.tv_nsec / 1000000;
    *o++ = (char)('0' + ms / 100);
    *o++ = (char)('0' + ms / 10 % 10);
    *o++ = (char)('0' + ms % 10);
    *o++ = 'Z';
    return o;
}

/* duration_ms with three decimals, as "%.3f" would print a whole number of microseconds. */
static char *put_duration_ms(char *o, const struct timeval *from)
{
    if (from->tv_sec == 0)
        return SL_PUT_LIT(o, "0.000");
    struct timeval now;
    gettimeofday(&now, NULL);
    int64_t us = (int64_t)(now.tv_sec - from->tv_sec) * 1000000 + (now.tv_usec - from->tv_usec);
    if (us < 0) {
        *o++ = '-';
        us = -us;
    }
    o = sl_put_u64(o, (uint64_t)us / 1000);
    *o++ = '.';
    unsigned frac = (unsigned)((uint64_t)us % 1000);
    *o++ = (char)('0' + frac / 100);
    *o++ = (char)('0' + frac / 10 % 10);
    *o++ = (char)('0' + frac % 10);
    return o;
}

static const char *proto_name(int version, size_t *len)
{
    switch (version) {
    case 0x200:
        *len = 6;
        return "HTTP/2";
    case 0x101:
        *len = 8;
        return "HTTP/1.1";
    case 0x100:
        *len = 8;
        return "HTTP/1.0";
    default:
        *len = 1;
        return "-";
    }
}

static bool is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Writes exactly what sl_log_escape(o, cap, v) writes, without the NUL, and returns the end:
 * the value in double quotes with \" \\ and \xNN escapes, cut so that it and the NUL would fit
 * cap. Plain runs are copied whole instead of byte by byte. */
static char *put_escaped(char *o, size_t cap, struct sl_str v)
{
    static const char hex[] = "0123456789abcdef";
    char *start = o;
    const size_t limit = cap - 2; /* the content ends at most here (closing quote + NUL) */
    const unsigned char *p = (const unsigned char *)v.ptr, *end = p + v.len;
    *o++ = '"';
    while (p < end) {
        const unsigned char *q = p;
        while (q < end && is_plain(*q))
            q++;
        size_t run = (size_t)(q - p), room = limit - (size_t)(o - start);
        if (run > room) {
            o = sl_put(o, (const char *)p, room);
            break;
        }
        o = sl_put(o, (const char *)p, run);
        p = q;
        if (p == end)
            break;
        unsigned char c = *p++;
        size_t n = c == '"' || c == '\\' ? 2 : 4;
        if ((size_t)(o - start) + n > limit)
            break;
        *o++ = '\\';
        if (n == 2) {
            *o++ = (char)c;
        } else {
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    return o;
}

/* Appends ` name=<escaped value>` when the value is set. */
static char *put_field(char *o, const char *name, size_t name_len, struct sl_str v)
{
    if (v.len == 0)
        return o;
    *o++ = ' ';
    o = sl_put(o, name, name_len);
    *o++ = '=';
    return put_escaped(o, FIELD_LOG_MAX, v);
}

#define PUT_FIELD(o, name, v) put_field((o), (name), sizeof(name) - 1, (v))

/* Every upstream attempt as "<target> <status or failure> <ms>ms", comma-separated. */
static char *put_attempts(char *o, const struct sl_reqlog *ctx)
{
    char text[ATTEMPTS_LOG_MAX], *t = text, *end = text + sizeof(text);
    for (unsigned i = 0; i < ctx->n_attempts; i++) {
        const struct sl_reqlog_attempt *a = &ctx->attempts[i];
        /* The longest entry: a 160-byte name, an error kind, 10 digits; stop before it. */
        if ((size_t)(end - t) < 200)
            break;
        if (i != 0)
            t = SL_PUT_LIT(t, ", ");
        t = sl_put(t, a->target.ptr, SL_MIN(a->target.len, FIELD_LOG_MAX));
        *t++ = ' ';
        if (a->error != NULL)
            t = sl_put(t, a->error, strlen(a->error));
        else if (a->status != 0)
            t = sl_put_i64(t, a->status);
        else
            *t++ = '-';
        *t++ = ' ';
        t = sl_put_u64(t, a->ms);
        t = SL_PUT_LIT(t, "ms");
    }
    if (ctx->attempts_dropped != 0) {
        t = SL_PUT_LIT(t, ", +");
        t = sl_put_u64(t, ctx->attempts_dropped);
    }
    o = SL_PUT_LIT(o, " attempts=");
    return put_escaped(o, ATTEMPTS_LOG_MAX, sl_str_init(text, (size_t)(t - text)));
}

static char *put_ctx_fields(char *o, const struct sl_reqlog *ctx)
{
    o = PUT_FIELD(o, "model", ctx->model);
    o = PUT_FIELD(o, "upstream_model", ctx->upstream_model);
    o = PUT_FIELD(o, "key", ctx->key_name);
    if (ctx->prompt_tokens >= 0) {
        o = SL_PUT_LIT(o, " prompt_tokens=");
        o = sl_put_i64(o, ctx->prompt_tokens);
    }
    if (ctx->completion_tokens >= 0) {
        o = SL_PUT_LIT(o, " completion_tokens=");
        o = sl_put_i64(o, ctx->completion_tokens);
    }
    if (ctx->tokens_estimated)
        o = SL_PUT_LIT(o, " tokens_estimated=true");
    if (ctx->has_cost) {
        /* Nano-dollars, printed exactly: cost_usd=0.000012345 */
        o = SL_PUT_LIT(o, " cost_usd=");
        o = sl_put_u64(o, ctx->cost_nusd / 1000000000u);
        *o++ = '.';
        uint64_t frac = ctx->cost_nusd % 1000000000u;
        for (uint64_t div = 100000000u; div != 0; div /= 10)
            *o++ = (char)('0' + frac / div % 10);
    }
    if (ctx->error_kind != NULL)
        o = PUT_FIELD(o, "error", sl_str_from_cstr(ctx->error_kind));
    if (ctx->limited != NULL)
        o = PUT_FIELD(o, "limit", sl_str_from_cstr(ctx->limited));
    if (ctx->cache != NULL)
        o = PUT_FIELD(o, "cache", sl_str_from_cstr(ctx->cache));
    o = PUT_FIELD(o, "served_by", ctx->served_by);
    if (ctx->n_attempts != 0)
        o = put_attempts(o, ctx);
    return o;
}

/* Formats the whole line, newline included, into line (LINE_MAX_BYTES). Returns its length. */
static size_t format_line(char *line, h2o_req_t *req, const struct sl_reqlog *ctx, int status)
{
    char *o = put_timestamp(line);
    o = SL_PUT_LIT(o, " INFO  access method=");
    o = put_escaped(o, METHOD_MAX, sl_str_from_iov(req->input.method));
    o = SL_PUT_LIT(o, " path=");
    o = put_escaped(o, PATH_LOG_MAX, sl_str_from_iov(req->input.path));
    o = SL_PUT_LIT(o, " status=");
    o = sl_put_i64(o, status);
    o = SL_PUT_LIT(o, " duration_ms=");
    o = put_duration_ms(o, &req->timestamps.request_begin_at);
    o = SL_PUT_LIT(o, " bytes=");
    o = sl_put_u64(o, req->bytes_sent);
    o = SL_PUT_LIT(o, " proto=");
    size_t plen;
    const char *proto = proto_name(req->version, &plen);
    o = sl_put(o, proto, plen);
    o = SL_PUT_LIT(o, " request_id=");
    struct sl_str rid = ctx != NULL
                            ? ctx->request_id
                            : sl_str_from_iov(*h2o_req_getenv(req, H2O_STRLIT("sl.rid"), 1));
    o = put_escaped(o, FIELD_LOG_MAX, rid);
    if (ctx != NULL)
        o = put_ctx_fields(o, ctx);
    *o++ = '\n';
    size_t n = (size_t)(o - line);
    SL_ASSERT(n <= LINE_MAX_BYTES);
    return n;
}

void sl_access_log_write(h2o_req_t *req, const struct sl_reqlog *ctx, int status)
{
    if (!sl_log_enabled(SL_LOG_INFO))
        return;
    char line[LINE_MAX_BYTES];
    size_t n = format_line(line, req, ctx, status);
    h2o_loop_t *loop = req->conn->ctx->loop;
    if (batch.loop == NULL) {
        batch.loop = loop;
        h2o_timeout_init(loop, &batch.zero, 0);
        batch.flush_entry.cb = on_flush;
    }
    if (batch.loop != loop) { /* not the loop this thread batches for: write at once */
        flush();
        write_all(line, n);
        return;
    }
    if (batch.len + n > sizeof(batch.buf))
        flush();
    memcpy(batch.buf + batch.len, line, n);
    batch.len += n;
    if (!h2o_timeout_is_linked(&batch.flush_entry))
        h2o_timeout_link(loop, &batch.zero, &batch.flush_entry);
}
