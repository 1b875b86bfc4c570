/* AWS event stream decoder (eventstream.h).
 *
 * Two paths, as in sse.c: a message whose bytes all lie in the fed buffer is checked and
 * delivered in place; one cut by the end of a buffer is gathered in _msg, first its 12-byte
 * prelude (checked before anything else is kept), then the rest. Nothing is parsed before its bytes
 * are complete and its CRC checked, so both paths share one check-and-deliver step and a split
 * cannot change a result. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/eventstream.h"

enum {
    ST_IDLE = 0, /* at a message boundary, nothing buffered */
    ST_PRELUDE,  /* part of a prelude gathered in _msg */
    ST_BODY,     /* a checked prelude (_total) and part of the rest gathered in _msg */
    ST_FAILED,   /* an error; _error and _why say which, and stay */
};

/* The one place the state moves; anything but these moves is a bug. */
static void set_state(struct sl_eventstream_decoder *d, int to)
{
    static const bool legal[4][4] = {
        [ST_IDLE] = {[ST_PRELUDE] = true, [ST_BODY] = true, [ST_FAILED] = true},
        [ST_PRELUDE] = {[ST_BODY] = true, [ST_FAILED] = true},
        [ST_BODY] = {[ST_IDLE] = true, [ST_FAILED] = true},
    };
    SL_ASSERT(legal[d->_state][to]);
    d->_state = to;
}

/* A gathered message up to this size gets room for all of it at once, and the storage is kept
 * for the next one; a larger message grows as it arrives and its storage is given back. */
#define KEEP_BYTES (64u * 1024)

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint32_t crc32_of(uint32_t crc, const unsigned char *p, size_t n)
{
    return (uint32_t)crc32_z(crc, p, n);
}

__attribute__((format(printf, 3, 4))) static int failf(struct sl_eventstream_decoder *d, int rc,
                                                       const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(d->_why, sizeof(d->_why),
                     "message %llu at offset %llu: ", (unsigned long long)d->_messages + 1,
                     (unsigned long long)d->_offset);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(d->_why))
        vsnprintf(d->_why + n, sizeof(d->_why) - (size_t)n, fmt, ap);
    va_end(ap);
    d->_error = rc;
    set_state(d, ST_FAILED);
    sl_buf_dispose(&d->_msg);
    return rc;
}

/* ---- headers ---- */

/* Reads one header from [*p, end). Returns NULL, or why it cannot. */
static const char *read_header(const unsigned char **pp, const unsigned char *end,
                               struct sl_eventstream_header *h)
{
    const unsigned char *p = *pp;
    size_t nlen, need;
    if (end - p < 2 || (size_t)(end - p) < 2 + (size_t)p[0])
        return "name runs past the end of the headers";
    nlen = p[0];
    h->name = sl_str_init((const char *)p + 1, nlen);
    h->type = (enum sl_eventstream_value_type)p[1 + nlen];
    p += 2 + nlen;
    h->number = 0;
    switch (p[-1]) {
    case SL_EVENTSTREAM_TRUE:
    case SL_EVENTSTREAM_FALSE:
        h->number = p[-1] == SL_EVENTSTREAM_TRUE;
        h->value = sl_str_init((const char *)p, 0);
        *pp = p;
        return NULL;
    case SL_EVENTSTREAM_BYTE:
        need = 1;
        break;
    case SL_EVENTSTREAM_SHORT:
        need = 2;
        break;
    case SL_EVENTSTREAM_INT:
        need = 4;
        break;
    case SL_EVENTSTREAM_LONG:
    case SL_EVENTSTREAM_TIMESTAMP:
        need = 8;
        break;
    case SL_EVENTSTREAM_UUID:
        need = 16;
        break;
    case SL_EVENTSTREAM_BYTES:
    case SL_EVENTSTREAM_STRING:
        if (end - p < 2)
            return "value length runs past the end of the headers";
        need = (size_t)p[0] << 8 | p[1];
        p += 2;
        break;
    default:
        return "unknown value type";
    }
    if ((size_t)(end - p) < need)
        return "value runs past the end of the headers";
    h->value = sl_str_init((const char *)p, need);
    switch (h->type) {
    case SL_EVENTSTREAM_BYTE:
        h->number = (int8_t)p[0];
        break;
    case SL_EVENTSTREAM_SHORT:
        h->number = (int16_t)(uint16_t)((unsigned)p[0] << 8 | p[1]);
        break;
    case SL_EVENTSTREAM_INT:
        h->number = (int32_t)be32(p);
        break;
    case SL_EVENTSTREAM_LONG:
    case SL_EVENTSTREAM_TIMESTAMP:
        h->number = (int64_t)be64(p);
        break;
    default:
        break;
    }
    *pp = p + need;
    return NULL;
}

int sl_eventstream_header_next(struct sl_str *headers, struct sl_eventstream_header *h)
{
    const unsigned char *p = (const unsigned char *)headers->ptr, *end = p + headers->len;
    if (headers->len == 0)
        return SL_ENOENT;
    if (read_header(&p, end, h) != NULL)
        return SL_EPARSE;
    headers->len = (size_t)(end - p);
    headers->ptr = (const char *)p;
    return SL_OK;
}

/* The headers the caller gets as fields; each must be a string and come at most once. */
static struct sl_str *known_field(struct sl_eventstream_message *m, struct sl_str name)
{
    switch (name.len) {
    case 11:
        if (sl_str_eq_lit(name, ":event-type"))
            return &m->event_type;
        return sl_str_eq_lit(name, ":error-code") ? &m->error_code : NULL;
    case 13:
        if (sl_str_eq_lit(name, ":message-type"))
            return &m->message_type;
        return sl_str_eq_lit(name, ":content-type") ? &m->content_type : NULL;
    case 14:
        return sl_str_eq_lit(name, ":error-message") ? &m->error_message : NULL;
    case 15:
        return sl_str_eq_lit(name, ":exception-type") ? &m->exception_type : NULL;
    default:
        return NULL;
    }
}

static enum sl_eventstream_kind kind_of(struct sl_str t)
{
    if (sl_str_eq_lit(t, "event"))
        return SL_EVENTSTREAM_EVENT;
    if (sl_str_eq_lit(t, "exception"))
        return SL_EVENTSTREAM_EXCEPTION;
    if (sl_str_eq_lit(t, "error"))
        return SL_EVENTSTREAM_ERROR;
    return SL_EVENTSTREAM_OTHER;
}

static int read_headers(struct sl_eventstream_decoder *d, struct sl_eventstream_message *m)
{
    const unsigned char *p = (const unsigned char *)m->headers.ptr, *end = p + m->headers.len;
    struct sl_eventstream_header h;
    for (unsigned i = 1; p < end; i++) {
        size_t at = (size_t)(p - (const unsigned char *)m->headers.ptr);
        const char *why = read_header(&p, end, &h);
        struct sl_str *field;
        if (why != NULL)
            return failf(d, SL_EPARSE, "header %u (byte %zu of %zu): %s", i, at, m->headers.len,
                         why);
        field = known_field(m, h.name);
        if (field == NULL)
            continue;
        if (h.type != SL_EVENTSTREAM_STRING)
            return failf(d, SL_EPARSE, "header %.*s has value type %d, not string",
                         SL_STR_FMT(h.name), (int)h.type);
        if (field->ptr != NULL)
            return failf(d, SL_EPARSE, "header %.*s appears twice", SL_STR_FMT(h.name));
        *field = h.value;
    }
    return SL_OK;
}

/* ---- messages ---- */

/* Checks the 12 bytes of a prelude; returns 0 with the total length, or the error. */
static int check_prelude(struct sl_eventstream_decoder *d, const unsigned char *p, uint32_t *total)
{
    uint32_t len = be32(p), hlen = be32(p + 4), want = be32(p + 8), got = crc32_of(0, p, 8);
    if (got != want)
        return failf(d, SL_EVENTSTREAM_ECRC, "prelude CRC 0x%08x does not match its bytes (0x%08x)",
                     want, got);
    if (len < SL_EVENTSTREAM_MIN_MESSAGE)
        return failf(d, SL_EPARSE, "total length %u is below the 16-byte minimum", len);
    if (hlen > len - SL_EVENTSTREAM_MIN_MESSAGE)
        return failf(d, SL_EPARSE, "headers length %u does not fit in total length %u", hlen, len);
    if (len > d->max_message_bytes)
        return failf(d, SL_E2BIG, "total length %u is over the %zu-byte cap", len,
                     d->max_message_bytes);
    if (hlen > SL_EVENTSTREAM_MAX_HEADERS_BYTES)
        return failf(d, SL_E2BIG, "headers length %u is over the %u-byte cap", hlen,
                     SL_EVENTSTREAM_MAX_HEADERS_BYTES);
    *total = len;
    return SL_OK;
}

/* Checks the message CRC and the headers of a complete message whose prelude was checked,
 * then hands it to cb. */
static int deliver(struct sl_eventstream_decoder *d, const unsigned char *p, uint32_t total,
                   sl_eventstream_cb *cb, void *ud)
{
    uint32_t hlen = be32(p + 4), want = be32(p + total - 4);
    /* The prelude CRC is the CRC of the first 8 bytes, so continue from it. */
    uint32_t got = crc32_of(be32(p + 8), p + 8, total - 12);
    struct sl_eventstream_message m = {0};
    int rc;
    if (got != want)
        return failf(d, SL_EVENTSTREAM_ECRC, "message CRC 0x%08x does not match its bytes (0x%08x)",
                     want, got);
    m.headers = sl_str_init((const char *)p + SL_EVENTSTREAM_PRELUDE_BYTES, hlen);
    rc = read_headers(d, &m);
    if (rc != SL_OK)
        return rc;
    m.kind = kind_of(m.message_type);
    m.payload = sl_str_init((const char *)p + SL_EVENTSTREAM_PRELUDE_BYTES + hlen,
                            total - SL_EVENTSTREAM_MIN_MESSAGE - hlen);
    m.raw = sl_str_init((const char *)p, total);
    /* Absent headers are empty slices, never NULL ones. */
    struct sl_str *fields[] = {&m.message_type, &m.event_type,    &m.exception_type,
                               &m.error_code,   &m.error_message, &m.content_type};
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++)
        if (fields[i]->ptr == NULL)
            *fields[i] = sl_str_init(m.raw.ptr, 0);
    d->_messages++;
    d->_offset += total;
    return cb(ud, &m);
}

static void gather(struct sl_eventstream_decoder *d, const unsigned char *p, size_t n)
{
    /* Within the cap by construction: at most 12 bytes before the prelude is checked, at most
     * the checked total after. */
    int rc = sl_buf_append(&d->_msg, p, n);
    SL_ASSERT(rc == SL_OK);
}

/* Makes room for the message now that its length is known and checked: all of it when small,
 * so it is copied without reallocating; a large one grows with the bytes that actually arrive,
 * so a 12-byte prelude cannot make the decoder hold max_message_bytes. */
static void reserve(struct sl_eventstream_decoder *d)
{
    char *room = sl_buf_reserve(&d->_msg, SL_MIN(d->_total, KEEP_BYTES) - d->_msg.len);
    SL_ASSERT(room != NULL);
}

/* Continues the gathered message with bytes from *pp; delivers it when complete. */
static int feed_gathered(struct sl_eventstream_decoder *d, const unsigned char **pp,
                         const unsigned char *end, sl_eventstream_cb *cb, void *ud)
{
    const unsigned char *p = *pp;
    size_t take;
    int rc;
    if (d->_state == ST_PRELUDE) {
        take = SL_MIN((size_t)(end - p), SL_EVENTSTREAM_PRELUDE_BYTES - d->_msg.len);
        gather(d, p, take);
        *pp = p += take;
        if (d->_msg.len < SL_EVENTSTREAM_PRELUDE_BYTES)
            return SL_OK;
        rc = check_prelude(d, (const unsigned char *)d->_msg.ptr, &d->_total);
        if (rc != SL_OK)
            return rc;
        reserve(d);
        set_state(d, ST_BODY);
    }
    SL_ASSERT(d->_state == ST_BODY);
    take = SL_MIN((size_t)(end - p), d->_total - d->_msg.len);
    gather(d, p, take);
    *pp = p + take;
    if (d->_msg.len < d->_total)
        return SL_OK;
    rc = deliver(d, (const unsigned char *)d->_msg.ptr, d->_total, cb, ud);
    if (d->_state == ST_FAILED)
        return rc;
    if (d->_total > KEEP_BYTES)
        sl_buf_dispose(&d->_msg);
    else
        sl_buf_reset(&d->_msg);
    d->_total = 0;
    set_state(d, ST_IDLE);
    return rc;
}

void sl_eventstream_init(struct sl_eventstream_decoder *d, size_t max_message_bytes)
{
    SL_ASSERT(max_message_bytes >= SL_EVENTSTREAM_MIN_MESSAGE && max_message_bytes <= UINT32_MAX);
    *d = (struct sl_eventstream_decoder){.max_message_bytes = max_message_bytes};
    sl_buf_init(&d->_msg, max_message_bytes);
}

void sl_eventstream_dispose(struct sl_eventstream_decoder *d)
{
    sl_buf_dispose(&d->_msg);
}

bool sl_eventstream_is_idle(const struct sl_eventstream_decoder *d)
{
    return d->_state == ST_IDLE;
}

const char *sl_eventstream_strerror(const struct sl_eventstream_decoder *d)
{
    return d->_why;
}

int sl_eventstream_feed(struct sl_eventstream_decoder *d, const char *buf, size_t len,
                        sl_eventstream_cb *cb, void *ud)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    uint32_t total;
    int rc;
    if (d->_state == ST_FAILED)
        return d->_error;
    while (p < end) {
        if (d->_state != ST_IDLE) {
            rc = feed_gathered(d, &p, end, cb, ud);
            if (rc != SL_OK)
                return rc;
            continue;
        }
        if ((size_t)(end - p) < SL_EVENTSTREAM_PRELUDE_BYTES) {
            set_state(d, ST_PRELUDE);
            gather(d, p, (size_t)(end - p));
            return SL_OK;
        }
        rc = check_prelude(d, p, &total);
        if (rc != SL_OK)
            return rc;
        if ((size_t)(end - p) < total) {
            d->_total = total;
            reserve(d);
            set_state(d, ST_BODY);
            gather(d, p, (size_t)(end - p));
            return SL_OK;
        }
        rc = deliver(d, p, total, cb, ud);
        p += total;
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}
