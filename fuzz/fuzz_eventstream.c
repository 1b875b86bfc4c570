/* Fuzz target for the AWS event stream decoder (src/stream/eventstream.c). The first input byte
 * picks the message cap and seeds the split points; the rest is the stream. It is fed whole, in
 * random pieces, and (when short) byte by byte: every way must deliver the identical messages
 * and end with the same result, idle state and reason. A naive reference decoder written from
 * the format (with its own bitwise CRC-32, not zlib's) must agree on the messages and the
 * result. Also checked per message: its slices lie inside its raw bytes, the headers section
 * walks cleanly with sl_eventstream_header_next, and the known fields are header values; and the
 * raws of all messages are the stream itself up to where it stopped. Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/eventstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
    struct sl_buf all;  /* every message serialised */
    struct sl_buf raws; /* the raw bytes of every message, concatenated */
    size_t messages;
};

static void put(struct sl_buf *b, const void *p, size_t n)
{
    CHECK(sl_buf_append(b, p, n) == SL_OK);
}

static bool within(struct sl_str inner, struct sl_str outer)
{
    return inner.ptr >= outer.ptr && inner.ptr + inner.len <= outer.ptr + outer.len;
}

/* The header values of the known names, as a reader of the section finds them. */
static void check_headers(const struct sl_eventstream_message *m)
{
    static const char *const names[] = {":message-type", ":event-type",    ":exception-type",
                                        ":error-code",   ":error-message", ":content-type"};
    const struct sl_str fields[] = {m->message_type, m->event_type,    m->exception_type,
                                    m->error_code,   m->error_message, m->content_type};
    bool seen[6] = {false};
    struct sl_str rest = m->headers;
    struct sl_eventstream_header h;
    int rc;
    while ((rc = sl_eventstream_header_next(&rest, &h)) == SL_OK) {
        CHECK(within(h.name, m->headers) && within(h.value, m->headers));
        CHECK((unsigned)h.type <= SL_EVENTSTREAM_UUID);
        for (size_t i = 0; i < 6; i++) {
            if (!sl_str_eq(h.name, sl_str_from_cstr(names[i])))
                continue;
            CHECK(!seen[i] && h.type == SL_EVENTSTREAM_STRING);
            CHECK(h.value.ptr == fields[i].ptr && h.value.len == fields[i].len);
            seen[i] = true;
        }
    }
    CHECK(rc == SL_ENOENT && rest.len == 0);
    for (size_t i = 0; i < 6; i++)
        CHECK(seen[i] || fields[i].len == 0);
}

static void record(struct log *l, const struct sl_eventstream_message *m)
{
    const struct sl_str parts[] = {m->message_type, m->event_type,    m->exception_type,
                                   m->error_code,   m->error_message, m->content_type,
                                   m->headers,      m->payload,       m->raw};
    uint8_t kind = (uint8_t)m->kind;
    put(&l->all, &kind, 1);
    for (size_t i = 0; i < SL_ARRAY_LEN(parts); i++) {
        put(&l->all, &parts[i].len, sizeof(parts[i].len));
        put(&l->all, parts[i].ptr, parts[i].len);
    }
    put(&l->raws, m->raw.ptr, m->raw.len);
    l->messages++;
}

static int on_message(void *ud, const struct sl_eventstream_message *m)
{
    enum sl_eventstream_kind k = SL_EVENTSTREAM_OTHER;
    CHECK(m->raw.len >= SL_EVENTSTREAM_MIN_MESSAGE);
    CHECK(within(m->headers, m->raw) && within(m->payload, m->raw));
    CHECK(m->headers.ptr == m->raw.ptr + SL_EVENTSTREAM_PRELUDE_BYTES);
    CHECK(m->payload.ptr == m->headers.ptr + m->headers.len);
    CHECK(m->payload.ptr + m->payload.len + 4 == m->raw.ptr + m->raw.len);
    if (sl_str_eq_lit(m->message_type, "event"))
        k = SL_EVENTSTREAM_EVENT;
    else if (sl_str_eq_lit(m->message_type, "exception"))
        k = SL_EVENTSTREAM_EXCEPTION;
    else if (sl_str_eq_lit(m->message_type, "error"))
        k = SL_EVENTSTREAM_ERROR;
    CHECK(m->kind == k);
    check_headers(m);
    record(ud, m);
    return 0;
}

static void log_init(struct log *l)
{
    memset(l, 0, sizeof(*l));
    sl_buf_init(&l->all, SIZE_MAX / 2);
    sl_buf_init(&l->raws, SIZE_MAX / 2);
}

static void log_dispose(struct log *l)
{
    sl_buf_dispose(&l->all);
    sl_buf_dispose(&l->raws);
}

static bool log_eq(const struct log *a, const struct log *b)
{
    return a->messages == b->messages && sl_str_eq(sl_buf_str(&a->all), sl_buf_str(&b->all));
}

/* ---- the reference: the format, read the plainest way ---- */

static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? c >> 1 ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses a headers section into m's fields. Returns 0 or SL_EPARSE. */
static int ref_headers(const uint8_t *p, size_t n, struct sl_eventstream_message *m)
{
    static const size_t fixed[] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    static const char *const names[] = {":message-type", ":event-type",    ":exception-type",
                                        ":error-code",   ":error-message", ":content-type"};
    struct sl_str *fields[] = {&m->message_type, &m->event_type,    &m->exception_type,
                               &m->error_code,   &m->error_message, &m->content_type};
    size_t i = 0;
    while (i < n) {
        size_t nlen = p[i], vlen, voff;
        uint8_t type;
        if (i + 1 + nlen + 1 > n)
            return SL_EPARSE;
        type = p[i + 1 + nlen];
        if (type > 9)
            return SL_EPARSE;
        voff = i + 2 + nlen;
        if (type == 6 || type == 7) {
            if (voff + 2 > n)
                return SL_EPARSE;
            vlen = (size_t)p[voff] << 8 | p[voff + 1];
            voff += 2;
        } else {
            vlen = fixed[type];
        }
        if (voff + vlen > n)
            return SL_EPARSE;
        for (size_t f = 0; f < 6; f++) {
            if (nlen != strlen(names[f]) || memcmp(p + i + 1, names[f], nlen) != 0)
                continue;
            if (type != 7 || fields[f]->ptr != NULL)
                return SL_EPARSE;
            *fields[f] = sl_str_init((const char *)p + voff, vlen);
        }
        i = voff + vlen;
    }
    return SL_OK;
}

/* Decodes s whole. Returns the result sl_eventstream_feed must give; *idle as is_idle. */
static int reference(const uint8_t *s, size_t n, size_t cap, struct log *l, bool *idle)
{
    size_t at = 0;
    *idle = false;
    while (n - at >= SL_EVENTSTREAM_PRELUDE_BYTES) {
        const uint8_t *p = s + at;
        uint32_t total = rd32(p), hlen = rd32(p + 4);
        struct sl_eventstream_message m = {0};
        if (ref_crc32(p, 8) != rd32(p + 8))
            return SL_EVENTSTREAM_ECRC;
        if (total < 16 || hlen > total - 16)
            return SL_EPARSE;
        if (total > cap || hlen > 128 * 1024)
            return SL_E2BIG;
        if (n - at < total)
            return SL_OK;
        if (ref_crc32(p, total - 4) != rd32(p + total - 4))
            return SL_EVENTSTREAM_ECRC;
        if (ref_headers(p + 12, hlen, &m) != SL_OK)
            return SL_EPARSE;
        m.headers = sl_str_init((const char *)p + 12, hlen);
        m.payload = sl_str_init((const char *)p + 12 + hlen, total - 16 - hlen);
        m.raw = sl_str_init((const char *)p, total);
        struct sl_str *fields[] = {&m.message_type, &m.event_type,    &m.exception_type,
                                   &m.error_code,   &m.error_message, &m.content_type};
        for (size_t f = 0; f < 6; f++)
            if (fields[f]->ptr == NULL)
                *fields[f] = sl_str_init(m.raw.ptr, 0);
        if (sl_str_eq_lit(m.message_type, "event"))
            m.kind = SL_EVENTSTREAM_EVENT;
        else if (sl_str_eq_lit(m.message_type, "exception"))
            m.kind = SL_EVENTSTREAM_EXCEPTION;
        else if (sl_str_eq_lit(m.message_type, "error"))
            m.kind = SL_EVENTSTREAM_ERROR;
        record(l, &m);
        at += total;
    }
    *idle = at == n;
    return SL_OK;
}

/* ---- the decoder, fed in pieces ---- */

struct outcome {
    int rc;
    bool idle;
    char why[256];
};

/* Feeds s in pieces: step 0 is one piece, step 1 byte by byte, otherwise random lengths from
 * seed. Each piece is an exact-size heap copy so ASan sees any read past it. */
static void run(const uint8_t *s, size_t n, size_t cap, size_t step, uint32_t seed, struct log *l,
                struct outcome *o)
{
    struct sl_eventstream_decoder d;
    size_t at = 0;
    o->rc = SL_OK;
    sl_eventstream_init(&d, cap);
    while (at < n && o->rc == SL_OK) {
        size_t len = n - at;
        if (step == 1) {
            len = 1;
        } else if (step != 0) {
            seed = seed * 1664525u + 1013904223u;
            len = SL_MIN(len, 1 + (seed >> 8) % step);
        }
        char *piece = malloc(len);
        CHECK(piece != NULL);
        memcpy(piece, s + at, len);
        o->rc = sl_eventstream_feed(&d, piece, len, on_message, l);
        free(piece);
        at += len;
    }
    o->idle = sl_eventstream_is_idle(&d);
    snprintf(o->why, sizeof(o->why), "%s", sl_eventstream_strerror(&d));
    CHECK((o->rc == SL_OK) == (o->why[0] == '\0'));
    if (o->rc != SL_OK)
        CHECK(sl_eventstream_feed(&d, "\0\0\0\x10", 4, on_message, l) == o->rc);
    sl_eventstream_dispose(&d);
}

static bool outcome_eq(const struct outcome *a, const struct outcome *b)
{
    return a->rc == b->rc && a->idle == b->idle && strcmp(a->why, b->why) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct log whole, split, bytes, ref;
    struct outcome ow, os, ob;
    bool ref_idle;
    size_t cap, n;
    const uint8_t *s;
    if (size == 0)
        return 0;
    cap = (data[0] & 0x80) != 0 ? 16 + (size_t)(data[0] & 0x7f) * 4 : (size_t)1 << 20;
    s = data + 1;
    n = size - 1;

    log_init(&whole);
    run(s, n, cap, 0, 0, &whole, &ow);
    CHECK(ow.rc == SL_OK || ow.rc == SL_EPARSE || ow.rc == SL_E2BIG ||
          ow.rc == SL_EVENTSTREAM_ECRC);
    CHECK(whole.raws.len <= n);
    CHECK(whole.raws.len == 0 || memcmp(whole.raws.ptr, s, whole.raws.len) == 0);
    if (ow.idle)
        CHECK(whole.raws.len == n && ow.rc == SL_OK);

    log_init(&split);
    run(s, n, cap, 1 + data[0] % 61, data[0] * 2654435761u + (uint32_t)size, &split, &os);
    CHECK(outcome_eq(&ow, &os) && log_eq(&whole, &split));
    log_dispose(&split);

    if (n <= 2048) {
        log_init(&bytes);
        run(s, n, cap, 1, 0, &bytes, &ob);
        CHECK(outcome_eq(&ow, &ob) && log_eq(&whole, &bytes));
        log_dispose(&bytes);
    }

    log_init(&ref);
    CHECK(reference(s, n, cap, &ref, &ref_idle) == ow.rc);
    CHECK(ref_idle == ow.idle && log_eq(&whole, &ref));
    log_dispose(&ref);
    log_dispose(&whole);
    return 0;
}
