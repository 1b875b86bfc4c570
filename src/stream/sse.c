/* Server-sent events parser (sse.h). Two paths share one line grammar:
 *
 * - fast: an event that starts and ends inside the fed buffer is parsed in place and delivered
 *   with slices into that buffer; only an event with several data lines copies (to join them);
 * - slow: an event that is still open when the buffer ends is copied into _raw, its fields into
 *   _event/_id/_data, and later feeds append to it line by line until its blank line arrives.
 *
 * A line ends at LF, CRLF or a lone CR. A CR that is the last byte of a feed cannot be classified
 * yet, so its line is finished by the next feed: the raw bytes of an event then do not depend on
 * where the stream was split. Sizes are checked against max_event_bytes on both paths. */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sluice/base.h"
#include "sluice/sse.h"

enum {
    ST_BOM0 = 0, /* nothing seen yet; a BOM may follow */
    ST_BOM1,     /* EF seen at the start of the stream */
    ST_BOM2,     /* EF BB seen */
    ST_RUN,      /* BOM skipped or ruled out */
    ST_FAILED,   /* an event exceeded max_event_bytes */
};

static const char bom[3] = {'\xef', '\xbb', '\xbf'};
static const char empty[1] = "";

enum line_kind { LINE_BLANK, LINE_COMMENT, LINE_DATA, LINE_EVENT, LINE_ID, LINE_OTHER };

/* The field of one line (without its terminator), per the WHATWG "process the field" rules. */
static enum line_kind parse_line(const char *s, const char *eol, struct sl_str *value)
{
    const char *colon, *v;
    size_t nlen;
    if (s == eol)
        return LINE_BLANK;
    /* Nearly every line is "data:..."; spare it the search for the colon. */
    colon = eol - s >= 5 && memcmp(s, "data:", 5) == 0 ? s + 4 : memchr(s, ':', (size_t)(eol - s));
    v = colon != NULL ? colon + 1 : eol;
    if (v < eol && *v == ' ')
        v++;
    *value = sl_str_init(v, (size_t)(eol - v));
    nlen = (size_t)((colon != NULL ? colon : eol) - s);
    switch (nlen) {
    case 0:
        return LINE_COMMENT;
    case 2:
        if (memcmp(s, "id", 2) != 0)
            return LINE_OTHER;
        /* An id containing NUL is ignored as a whole (WHATWG). */
        return memchr(v, '\0', value->len) == NULL ? LINE_ID : LINE_OTHER;
    case 4:
        return memcmp(s, "data", 4) == 0 ? LINE_DATA : LINE_OTHER;
    case 5:
        return memcmp(s, "event", 5) == 0 ? LINE_EVENT : LINE_OTHER;
    default:
        return LINE_OTHER;
    }
}

/* Returns the first CR or LF in [s, end), or end. One pass that stops at the first of either, so
 * the work per line is bounded by the line, whatever the line endings are. */
static inline const char *find_eol(const char *s, const char *end)
{
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    while (end - s >= 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
        __m128i ha = _mm_or_si128(_mm_cmpeq_epi8(a, lf), _mm_cmpeq_epi8(a, cr));
        __m128i hb = _mm_or_si128(_mm_cmpeq_epi8(b, lf), _mm_cmpeq_epi8(b, cr));
        unsigned m = (unsigned)_mm_movemask_epi8(ha) | (unsigned)_mm_movemask_epi8(hb) << 16;
        if (m != 0)
            return s + __builtin_ctz(m);
        s += 32;
    }
    while (end - s >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
        if (m != 0)
            return s + __builtin_ctz(m);
        s += 16;
    }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - s >= 8) {
        uint64_t v, l, c;
        memcpy(&v, s, sizeof(v));
        l = v ^ (ones * '\n');
        c = v ^ (ones * '\r');
        /* Zero-byte test: exact for the lowest hit, which is all we use. */
        uint64_t m = (((l - ones) & ~l) | ((c - ones) & ~c)) & highs;
        if (m != 0)
            return s + (__builtin_ctzll(m) >> 3);
        s += 8;
    }
#endif
    while (s < end && *s != '\n' && *s != '\r')
        s++;
    return s;
}

/* Returns the byte after the terminator of the line starting at s and sets *eol to the
 * terminator, or returns NULL when the line is not complete in [s, end): no terminator yet, or
 * a CR in the last byte, which may be the first half of a CRLF. */
static const char *next_line(const char *s, const char *end, const char **eol)
{
    const char *e = find_eol(s, end);
    if (e == end)
        return NULL;
    *eol = e;
    if (*e == '\n')
        return e + 1;
    if (e + 1 == end)
        return NULL;
    return e[1] == '\n' ? e + 2 : e + 1;
}

static int fail_big(struct sl_sse_parser *p)
{
    p->_state = ST_FAILED;
    sl_buf_dispose(&p->_raw);
    sl_buf_dispose(&p->_data);
    sl_buf_dispose(&p->_event);
    sl_buf_dispose(&p->_id);
    return SL_E2BIG;
}

static void reset_event(struct sl_sse_parser *p)
{
    sl_buf_reset(&p->_raw);
    sl_buf_reset(&p->_data);
    sl_buf_reset(&p->_event);
    sl_buf_reset(&p->_id);
    p->_line = 0;
    p->_has_data = false;
    p->_cr_pending = false;
}

static int report_comment(const struct sl_sse_parser *p, struct sl_str text, struct sl_str raw,
                          sl_sse_event_cb *cb, void *ud)
{
    struct sl_sse_event ev = {
        .event = {empty, 0},
        .data = text,
        .id = {empty, 0},
        .raw = raw,
        .is_comment = true,
    };
    return p->want_comments ? cb(ud, &ev) : SL_OK;
}

void sl_sse_init(struct sl_sse_parser *p, size_t max_event_bytes, bool want_comments)
{
    *p = (struct sl_sse_parser){.max_event_bytes = max_event_bytes, .want_comments = want_comments};
    sl_buf_init(&p->_raw, max_event_bytes);
    sl_buf_init(&p->_data, max_event_bytes);
    sl_buf_init(&p->_event, max_event_bytes);
    sl_buf_init(&p->_id, max_event_bytes);
}

void sl_sse_dispose(struct sl_sse_parser *p)
{
    sl_buf_dispose(&p->_raw);
    sl_buf_dispose(&p->_data);
    sl_buf_dispose(&p->_event);
    sl_buf_dispose(&p->_id);
}

bool sl_sse_is_idle(const struct sl_sse_parser *p)
{
    return p->_state == ST_BOM0 || (p->_state == ST_RUN && p->_raw.len == 0);
}

/* The slow path: an event that spans feeds is kept in the parser's buffers. */

static int set_buf(struct sl_buf *b, struct sl_str v)
{
    sl_buf_reset(b);
    return sl_buf_append_str(b, v);
}

static int add_data(struct sl_sse_parser *p, struct sl_str v)
{
    if (p->_has_data && sl_buf_append(&p->_data, "\n", 1) != SL_OK)
        return SL_E2BIG;
    p->_has_data = true;
    return sl_buf_append_str(&p->_data, v);
}

static int dispatch_buffered(struct sl_sse_parser *p, sl_sse_event_cb *cb, void *ud)
{
    struct sl_sse_event ev = {
        .event = p->_event.len != 0 ? sl_buf_str(&p->_event) : (struct sl_str){empty, 0},
        .data = p->_data.len != 0 ? sl_buf_str(&p->_data) : (struct sl_str){empty, 0},
        .id = p->_id.len != 0 ? sl_buf_str(&p->_id) : (struct sl_str){empty, 0},
        .raw = sl_buf_str(&p->_raw),
        .has_data = p->_has_data,
        .multiline = p->_data.len != 0 && memchr(p->_data.ptr, '\n', p->_data.len) != NULL,
    };
    int rc = cb(ud, &ev);
    reset_event(p);
    return rc;
}

/* Acts on the complete line at the end of _raw (from _line, terminator included). Returns 1
 * when it was the blank line that ends the event (now delivered), 0, or a negative error. */
static int finish_buffered_line(struct sl_sse_parser *p, sl_sse_event_cb *cb, void *ud)
{
    const char *s = p->_raw.ptr + p->_line, *end = p->_raw.ptr + p->_raw.len, *eol = end - 1;
    struct sl_str value;
    int rc = SL_OK;
    if (*eol == '\n' && eol > s && eol[-1] == '\r')
        eol--;
    p->_line = p->_raw.len;
    switch (parse_line(s, eol, &value)) {
    case LINE_BLANK:
        rc = dispatch_buffered(p, cb, ud);
        return rc < 0 ? rc : 1;
    case LINE_COMMENT:
        return report_comment(p, value, sl_str_init(s, (size_t)(end - s)), cb, ud);
    case LINE_DATA:
        rc = add_data(p, value);
        break;
    case LINE_EVENT:
        rc = set_buf(&p->_event, value);
        break;
    case LINE_ID:
        rc = set_buf(&p->_id, value);
        break;
    case LINE_OTHER:
        break;
    }
    return rc != SL_OK ? fail_big(p) : SL_OK;
}

/* Continues the buffered event with bytes from *pos until it is delivered (then returns 0 with
 * *pos after its blank line) or the bytes run out. */
static int feed_buffered(struct sl_sse_parser *p, const char **pos, const char *end,
                         sl_sse_event_cb *cb, void *ud)
{
    const char *s = *pos, *eol, *next;
    int rc;
    if (s == end)
        return SL_OK;
    if (p->_cr_pending) {
        if (s < end && *s == '\n' && sl_buf_append(&p->_raw, s++, 1) != SL_OK)
            return fail_big(p);
        p->_cr_pending = false;
        rc = finish_buffered_line(p, cb, ud);
        if (rc != 0) {
            *pos = s;
            return rc < 0 ? rc : SL_OK;
        }
    }
    while (s < end) {
        next = next_line(s, end, &eol);
        if (next == NULL) {
            if (sl_buf_append(&p->_raw, s, (size_t)(end - s)) != SL_OK)
                return fail_big(p);
            p->_cr_pending = end[-1] == '\r';
            s = end;
            break;
        }
        if (sl_buf_append(&p->_raw, s, (size_t)(next - s)) != SL_OK)
            return fail_big(p);
        s = next;
        rc = finish_buffered_line(p, cb, ud);
        if (rc != 0) {
            *pos = s;
            return rc < 0 ? rc : SL_OK;
        }
    }
    *pos = s;
    return SL_OK;
}

/* The fast path: events that lie inside the fed buffer are delivered as slices into it. */

struct inplace {
    const char *start;
    struct sl_str event, data, id;
    bool has_data;
    bool joined; /* several data lines: data is in p->_data */
};

static int inplace_data(struct sl_sse_parser *p, struct inplace *ev, struct sl_str v)
{
    if (!ev->has_data) {
        ev->has_data = true;
        ev->data = v;
        return SL_OK;
    }
    if (!ev->joined) {
        ev->joined = true;
        if (set_buf(&p->_data, ev->data) != SL_OK)
            return SL_E2BIG;
    }
    if (sl_buf_append(&p->_data, "\n", 1) != SL_OK || sl_buf_append_str(&p->_data, v) != SL_OK)
        return SL_E2BIG;
    return SL_OK;
}

static int dispatch_inplace(struct sl_sse_parser *p, struct inplace *ev, const char *next,
                            sl_sse_event_cb *cb, void *ud)
{
    struct sl_sse_event out = {
        .event = ev->event,
        .data = ev->joined ? sl_buf_str(&p->_data) : ev->data,
        .id = ev->id,
        .raw = sl_str_init(ev->start, (size_t)(next - ev->start)),
        .has_data = ev->has_data,
        .multiline = ev->joined,
    };
    int rc = cb(ud, &out);
    if (ev->joined)
        sl_buf_reset(&p->_data);
    return rc;
}

/* Moves the unfinished event [ev->start, end), whose last line starts at line, into the
 * parser's buffers for the next feed. */
static int spill(struct sl_sse_parser *p, const struct inplace *ev, const char *line,
                 const char *end)
{
    if (sl_buf_append(&p->_raw, ev->start, (size_t)(end - ev->start)) != SL_OK ||
        set_buf(&p->_event, ev->event) != SL_OK || set_buf(&p->_id, ev->id) != SL_OK)
        return fail_big(p);
    if (ev->has_data && !ev->joined && set_buf(&p->_data, ev->data) != SL_OK)
        return fail_big(p);
    p->_has_data = ev->has_data;
    p->_line = (size_t)(line - ev->start);
    p->_cr_pending = line < end && end[-1] == '\r';
    return SL_OK;
}

/* Acts on one complete line of an in-place event. Returns 1 after delivering the event at its
 * blank line, 0, or a negative error. */
static int inplace_line(struct sl_sse_parser *p, struct inplace *ev, const char *s, const char *eol,
                        const char *next, sl_sse_event_cb *cb, void *ud)
{
    struct sl_str value;
    int rc;
    if ((size_t)(next - ev->start) > p->max_event_bytes)
        return fail_big(p);
    switch (parse_line(s, eol, &value)) {
    case LINE_BLANK:
        rc = dispatch_inplace(p, ev, next, cb, ud);
        return rc < 0 ? rc : 1;
    case LINE_COMMENT:
        rc = report_comment(p, value, sl_str_init(s, (size_t)(next - s)), cb, ud);
        if (rc < 0 && ev->joined)
            sl_buf_reset(&p->_data);
        return rc;
    case LINE_DATA:
        return inplace_data(p, ev, value) != SL_OK ? fail_big(p) : SL_OK;
    case LINE_EVENT:
        ev->event = value;
        return SL_OK;
    case LINE_ID:
        ev->id = value;
        return SL_OK;
    case LINE_OTHER:
        return SL_OK;
    }
    return SL_OK;
}

static int feed_inplace(struct sl_sse_parser *p, const char *s, const char *end,
                        sl_sse_event_cb *cb, void *ud)
{
    const struct sl_str none = {empty, 0};
    struct inplace ev = {.start = s, .event = none, .data = none, .id = none};
    const char *eol, *next;
    int rc;
    while (s < end) {
        next = next_line(s, end, &eol);
        if (next == NULL)
            return spill(p, &ev, s, end);
        rc = inplace_line(p, &ev, s, eol, next, cb, ud);
        if (rc < 0)
            return rc;
        s = next;
        if (rc == 1)
            ev = (struct inplace){.start = s, .event = none, .data = none, .id = none};
    }
    /* The buffer ended on a line boundary inside an event. */
    return s != ev.start ? spill(p, &ev, s, end) : SL_OK;
}

/* Skips a UTF-8 BOM at the start of the stream, possibly split across feeds. Bytes that looked
 * like the start of a BOM but were not are given back: those from this buffer by moving *pos
 * back, those from earlier feeds by starting the first line with them. */
static int skip_bom(struct sl_sse_parser *p, const char *buf, const char **pos, const char *end)
{
    const char *s = *pos;
    while (p->_state < ST_RUN && s < end) {
        size_t matched = (size_t)p->_state;
        if (*s == bom[matched]) {
            s++;
            p->_state++;
            continue;
        }
        size_t here = SL_MIN(matched, (size_t)(s - buf));
        p->_state = ST_RUN;
        s -= here;
        if (matched > here && sl_buf_append(&p->_raw, bom, matched - here) != SL_OK)
            return fail_big(p);
    }
    *pos = s;
    return SL_OK;
}

int sl_sse_feed(struct sl_sse_parser *p, const char *buf, size_t len, sl_sse_event_cb *cb, void *ud)
{
    const char *s = buf, *end;
    int rc;
    if (p->_state == ST_FAILED)
        return SL_E2BIG;
    if (len == 0)
        return SL_OK;
    end = buf + len;
    if (p->_state < ST_RUN) {
        rc = skip_bom(p, buf, &s, end);
        if (rc != SL_OK || p->_state < ST_RUN)
            return rc;
    }
    if (p->_raw.len != 0) {
        rc = feed_buffered(p, &s, end, cb, ud);
        if (rc != SL_OK || s == end)
            return rc;
    }
    return feed_inplace(p, s, end, cb, ud);
}

int sl_sse_finish(struct sl_sse_parser *p, sl_sse_event_cb *cb, void *ud)
{
    int rc;
    if (p->_state == ST_FAILED)
        return SL_E2BIG;
    if (sl_sse_is_idle(p))
        return SL_OK;
    if (p->_raw.len > p->_line) {
        /* The open line: a lone CR already ends it; otherwise it ends at EOF. */
        if (!p->_cr_pending && sl_buf_append(&p->_raw, "\n", 1) != SL_OK)
            return fail_big(p);
        p->_cr_pending = false;
        rc = finish_buffered_line(p, cb, ud);
        if (rc != 0)
            return rc < 0 ? rc : SL_OK;
    }
    if (p->_has_data && sl_str_eq_lit(sl_buf_str(&p->_data), "[DONE]"))
        return dispatch_buffered(p, cb, ud);
    return SL_OK;
}
