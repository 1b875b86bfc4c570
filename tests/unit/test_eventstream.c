/* Unit tests for the AWS event stream decoder (src/stream/eventstream.c). Frames come from
 * three places: AWS's own test vectors (aws-c-event-stream), one frame written by a Python
 * script with zlib.crc32 and read back by botocore's EventStreamBuffer, and the small encoder
 * below (checked against that frame first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/eventstream.h"

/* ---- a test-side encoder ---- */

struct hspec {
    const char *name;
    int type;
    const char *s; /* bytes and string values */
    int64_t num;   /* integer values; uuid and the others ignore it */
};

static void put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static size_t put_header(unsigned char *o, const struct hspec *h)
{
    size_t n = strlen(h->name), w = 0, len = 0;
    o[w++] = (unsigned char)n;
    memcpy(o + w, h->name, n);
    w += n;
    o[w++] = (unsigned char)h->type;
    switch (h->type) {
    case 2:
        len = 1;
        break;
    case 3:
        len = 2;
        break;
    case 4:
        len = 4;
        break;
    case 5:
    case 8:
        len = 8;
        break;
    case 9:
        for (size_t i = 0; i < 16; i++)
            o[w++] = (unsigned char)(0xa0 + i);
        return w;
    case 6:
    case 7:
        n = strlen(h->s);
        o[w++] = (unsigned char)(n >> 8);
        o[w++] = (unsigned char)n;
        memcpy(o + w, h->s, n);
        return w + n;
    default:
        return w;
    }
    for (size_t i = 0; i < len; i++)
        o[w++] = (unsigned char)((uint64_t)h->num >> (8 * (len - 1 - i)));
    return w;
}

/* Writes one message to o and returns its length. */
static size_t frame(unsigned char *o, const struct hspec *h, size_t nh, const char *payload)
{
    size_t hl = 0, pl = strlen(payload), total;
    for (size_t i = 0; i < nh; i++)
        hl += put_header(o + 12 + hl, &h[i]);
    total = 12 + hl + pl + 4;
    put32(o, (uint32_t)total);
    put32(o + 4, (uint32_t)hl);
    put32(o + 8, (uint32_t)crc32(0, o, 8));
    memcpy(o + 12 + hl, payload, pl);
    put32(o + total - 4, (uint32_t)crc32(0, o, (uInt)(total - 4)));
    return total;
}

static size_t event(unsigned char *o, const char *type, const char *payload)
{
    const struct hspec h[] = {
        {":event-type", 7, type, 0},
        {":content-type", 7, "application/json", 0},
        {":message-type", 7, "event", 0},
    };
    return frame(o, h, 3, payload);
}

/* ---- recording what the decoder delivers ---- */

struct recorder {
    struct sl_buf log; /* every message serialised */
    size_t n;
    size_t in_place; /* messages whose raw lay in the fed buffer */
    const char *buf;
    size_t buflen;
    size_t stop_at; /* return -99 from the callback for message number stop_at (1-based) */
    struct sl_eventstream_message last;
    char last_payload[512];
    char last_event_type[64];
};

static void put_str(struct sl_buf *b, struct sl_str s)
{
    SL_ASSERT(sl_buf_append(b, &s.len, sizeof(s.len)) == SL_OK);
    SL_ASSERT(sl_buf_append(b, s.ptr, s.len) == SL_OK);
}

static int on_message(void *ud, const struct sl_eventstream_message *m)
{
    struct recorder *r = ud;
    const struct sl_str fields[] = {m->message_type, m->event_type,    m->exception_type,
                                    m->error_code,   m->error_message, m->content_type,
                                    m->headers,      m->payload,       m->raw};
    unsigned char kind = (unsigned char)m->kind;
    SL_ASSERT(sl_buf_append(&r->log, &kind, 1) == SL_OK);
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++) {
        SL_ASSERT(fields[i].ptr != NULL);
        put_str(&r->log, fields[i]);
    }
    if (r->buf != NULL && m->raw.ptr >= r->buf && m->raw.ptr + m->raw.len <= r->buf + r->buflen)
        r->in_place++;
    r->last = *m;
    snprintf(r->last_payload, sizeof(r->last_payload), "%.*s", SL_STR_FMT(m->payload));
    snprintf(r->last_event_type, sizeof(r->last_event_type), "%.*s", SL_STR_FMT(m->event_type));
    r->n++;
    return r->n == r->stop_at ? -99 : 0;
}

static void rec_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    sl_buf_init(&r->log, SIZE_MAX / 2);
}

static int feed(struct sl_eventstream_decoder *d, struct recorder *r, const void *p, size_t n)
{
    r->buf = p;
    r->buflen = n;
    return sl_eventstream_feed(d, p, n, on_message, r);
}

/* Feeds s in pieces; each piece is an exact-size heap copy so ASan catches reads past it. */
static int feed_pieces(struct sl_eventstream_decoder *d, struct recorder *r, const unsigned char *s,
                       size_t n, const size_t *cuts, size_t ncuts)
{
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        char *piece = malloc(to - at + 1);
        int rc;
        memcpy(piece, s + at, to - at);
        rc = feed(d, r, piece, to - at);
        free(piece);
        if (rc != SL_OK)
            return rc;
        at = to;
    }
    return SL_OK;
}

/* ---- the frames ---- */

/* aws-c-event-stream tests/message_deserializer_test.c (Apache-2.0): no headers, no payload;
 * payload only; one string header "content-type". */
static const unsigned char aws_noop[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
                                         0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff};
static const unsigned char aws_payload[] = {
    0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66,
    0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36};
static const unsigned char aws_one_header[] = {
    0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C, 'c',  'o',  'n',
    't',  'e',  'n',  't',  '-',  't',  'y',  'p',  'e',  0x07, 0x00, 0x10, 'a',  'p',  'p',  'l',
    'i',  'c',  'a',  't',  'i',  'o',  'n',  '/',  'j',  's',  'o',  'n',  0x7b, 0x27, 0x66, 0x6f,
    0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0x8D, 0x9C, 0x08, 0xB1};

/* A ConverseStream contentBlockDelta, written by Python (struct + zlib.crc32) and read back by
 * botocore 1.43.11's EventStreamBuffer: headers {':event-type': 'contentBlockDelta',
 * ':content-type': 'application/json', ':message-type': 'event'}. */
static const char python_delta_hex[] =
    "000000d700000057abf8b8770b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d"
    "3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970"
    "650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b22746578"
    "74223a2248656c6c6f227d2c2270223a226162636465666768696a6b6c6d6e6f707172737475767778797a4142"
    "434445464748494a4b4c4d4e4f505152535455565758595a3031323334227dfd09099b";
static const char delta_payload[] =
    "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"},\"p\":"
    "\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234\"}";

static size_t unhex(unsigned char *o, const char *hex)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        SL_ASSERT(sscanf(hex + 2 * i, "%2x", &v) == 1);
        o[i] = (unsigned char)v;
    }
    return n;
}

/* The messages of a short ConverseStream reply, in Bedrock's order. Returns the length. */
static size_t converse_stream(unsigned char *o)
{
    size_t n = 0;
    n += event(o + n, "messageStart", "{\"p\":\"abcdefghijk\",\"role\":\"assistant\"}");
    n += event(o + n, "contentBlockDelta",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcdefghijklmnop\"}");
    n += event(o + n, "contentBlockDelta",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\" there\"},\"p\":\"abcdefgh\"}");
    n +=
        event(o + n, "contentBlockDelta",
              "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"!\"},\"p\":\"abcdefghijklmnopqrs\"}");
    n += event(o + n, "contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abcdefghijklmnopq\"}");
    n += event(o + n, "messageStop",
               "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGH\","
               "\"stopReason\":\"end_turn\"}");
    n += event(o + n, "metadata",
               "{\"metrics\":{\"latencyMs\":512},\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEF\","
               "\"usage\":{\"inputTokens\":12,\"outputTokens\":4,\"totalTokens\":16}}");
    return n;
}

/* ---- tests ---- */

static void test_aws_vectors(void **state)
{
    struct sl_eventstream_decoder d;
    struct sl_eventstream_header h;
    struct recorder r;
    struct sl_str rest;
    SL_UNUSED(state);
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    assert_int_equal(feed(&d, &r, aws_noop, sizeof(aws_noop)), SL_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.last.payload.len, 0);
    assert_int_equal(r.last.headers.len, 0);
    assert_int_equal(r.last.kind, SL_EVENTSTREAM_OTHER);
    assert_int_equal(feed(&d, &r, aws_payload, sizeof(aws_payload)), SL_OK);
    assert_string_equal(r.last_payload, "{'foo':'bar'}");
    assert_int_equal(feed(&d, &r, aws_one_header, sizeof(aws_one_header)), SL_OK);
    assert_string_equal(r.last_payload, "{'foo':'bar'}");
    /* "content-type" without the colon is not :content-type. */
    assert_int_equal(r.last.content_type.len, 0);
    rest = r.last.headers;
    assert_int_equal(sl_eventstream_header_next(&rest, &h), SL_OK);
    assert_true(sl_str_eq_lit(h.name, "content-type"));
    assert_int_equal(h.type, SL_EVENTSTREAM_STRING);
    assert_true(sl_str_eq_lit(h.value, "application/json"));
    assert_int_equal(sl_eventstream_header_next(&rest, &h), SL_ENOENT);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.in_place, 3);
    assert_true(sl_eventstream_is_idle(&d));
    assert_string_equal(sl_eventstream_strerror(&d), "");
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);
}

/* The test encoder writes exactly what Python and botocore agree on, so the frames built
 * below are real ones. */
static void test_python_frame(void **state)
{
    unsigned char want[512], got[512];
    struct sl_eventstream_decoder d;
    struct recorder r;
    size_t n = unhex(want, python_delta_hex);
    SL_UNUSED(state);
    assert_int_equal(event(got, "contentBlockDelta", delta_payload), n);
    assert_memory_equal(got, want, n);
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    assert_int_equal(feed(&d, &r, want, n), SL_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.last.kind, SL_EVENTSTREAM_EVENT);
    assert_true(sl_str_eq_lit(r.last.message_type, "event"));
    assert_true(sl_str_eq_lit(r.last.event_type, "contentBlockDelta"));
    assert_true(sl_str_eq_lit(r.last.content_type, "application/json"));
    assert_int_equal(r.last.exception_type.len + r.last.error_code.len + r.last.error_message.len,
                     0);
    assert_string_equal(r.last_payload, delta_payload);
    assert_int_equal(r.last.raw.len, n);
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);
}

/* Every way of cutting a multi-message stream gives the same messages: one piece (delivered in
 * place), two pieces at every offset, byte by byte, and random pieces. */
static void test_every_split(void **state)
{
    static unsigned char s[4096];
    size_t n = converse_stream(s), cuts[4096];
    struct sl_eventstream_decoder d;
    struct recorder whole, r;
    uint32_t seed = 12345;
    SL_UNUSED(state);
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&whole);
    assert_int_equal(feed(&d, &whole, s, n), SL_OK);
    assert_int_equal(whole.n, 7);
    assert_int_equal(whole.in_place, 7);
    assert_string_equal(whole.last_event_type, "metadata");
    assert_true(sl_eventstream_is_idle(&d));
    sl_eventstream_dispose(&d);

    for (size_t k = 0; k <= n; k++) {
        sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
        rec_init(&r);
        cuts[0] = k;
        assert_int_equal(feed_pieces(&d, &r, s, n, cuts, 1), SL_OK);
        assert_true(sl_eventstream_is_idle(&d));
        assert_int_equal(r.n, 7);
        assert_memory_equal(r.log.ptr, whole.log.ptr, whole.log.len);
        sl_eventstream_dispose(&d);
        sl_buf_dispose(&r.log);
    }

    for (size_t k = 0; k < n; k++)
        cuts[k] = k + 1;
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    assert_int_equal(feed_pieces(&d, &r, s, n, cuts, n - 1), SL_OK);
    assert_int_equal(r.log.len, whole.log.len);
    assert_memory_equal(r.log.ptr, whole.log.ptr, whole.log.len);
    assert_int_equal(r.in_place, 0);
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);

    for (int round = 0; round < 200; round++) {
        size_t nc = 0, at = 0;
        while (nc < SL_ARRAY_LEN(cuts)) {
            seed = seed * 1103515245u + 12345u;
            at += 1 + (seed >> 16) % 97;
            if (at >= n)
                break;
            cuts[nc++] = at;
        }
        sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
        rec_init(&r);
        assert_int_equal(feed_pieces(&d, &r, s, n, cuts, nc), SL_OK);
        assert_int_equal(r.log.len, whole.log.len);
        assert_memory_equal(r.log.ptr, whole.log.ptr, whole.log.len);
        assert_true(sl_eventstream_is_idle(&d));
        sl_eventstream_dispose(&d);
        sl_buf_dispose(&r.log);
    }
    sl_buf_dispose(&whole.log);
}

static void test_header_types(void **state)
{
    static const struct hspec h[] = {
        {"t", 0, NULL, 0},
        {"f", 1, NULL, 0},
        {"byte", 2, NULL, -2},
        {"short", 3, NULL, -300},
        {"int", 4, NULL, -70000},
        {"long", 5, NULL, INT64_C(-5000000000)},
        {"bytes", 6, "\x01\x02", 0},
        {"string", 7, "hello", 0},
        {":date", 8, NULL, INT64_C(1730794150123)},
        {"uuid", 9, NULL, 0},
        {"", 7, "", 0},
    };
    static const int64_t numbers[] = {
        1, 0, -2, -300, -70000, INT64_C(-5000000000), 0, 0, INT64_C(1730794150123), 0, 0};
    static const size_t value_lens[] = {0, 0, 1, 2, 4, 8, 2, 5, 8, 16, 0};
    unsigned char s[512];
    size_t n = frame(s, h, SL_ARRAY_LEN(h), "");
    struct sl_eventstream_decoder d;
    struct sl_eventstream_header got;
    struct recorder r;
    struct sl_str rest;
    SL_UNUSED(state);
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    assert_int_equal(feed(&d, &r, s, n), SL_OK);
    assert_int_equal(r.n, 1);
    rest = r.last.headers;
    for (size_t i = 0; i < SL_ARRAY_LEN(h); i++) {
        assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
        assert_true(sl_str_eq(got.name, sl_str_from_cstr(h[i].name)));
        assert_int_equal(got.type, h[i].type);
        assert_int_equal(got.number, numbers[i]);
        assert_int_equal(got.value.len, value_lens[i]);
    }
    rest = r.last.headers;
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
    assert_true(sl_str_eq_lit(got.value, "\x01\x02"));
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
    assert_true(sl_str_eq_lit(got.value, "hello"));
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
    assert_int_equal((unsigned char)got.value.ptr[0], 0xa0);
    assert_int_equal((unsigned char)got.value.ptr[15], 0xaf);
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_ENOENT);

    /* The iterator on a cut-short section. */
    rest = sl_str_init(r.last.headers.ptr, 4); /* "t" true, then "f" cut after its name */
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_OK);
    assert_int_equal(sl_eventstream_header_next(&rest, &got), SL_EPARSE);
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);
}

static void test_exception_and_error(void **state)
{
    static const struct hspec exc[] = {
        {":exception-type", 7, "throttlingException", 0},
        {":content-type", 7, "application/json", 0},
        {":message-type", 7, "exception", 0},
    };
    static const struct hspec err[] = {
        {":message-type", 7, "error", 0},
        {":error-code", 7, "InternalFailure", 0},
        {":error-message", 7, "An internal error occurred.", 0},
    };
    unsigned char s[1024];
    size_t n = frame(s, exc, 3, "{\"message\":\"Too many requests, please wait.\"}");
    struct sl_eventstream_decoder d;
    struct recorder r;
    SL_UNUSED(state);
    n += frame(s + n, err, 3, "");
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    r.stop_at = 1;
    assert_int_equal(feed(&d, &r, s, n), -99);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.last.kind, SL_EVENTSTREAM_EXCEPTION);
    assert_true(sl_str_eq_lit(r.last.exception_type, "throttlingException"));
    assert_string_equal(r.last_payload, "{\"message\":\"Too many requests, please wait.\"}");
    /* A callback's stop is not a decoder error. */
    assert_string_equal(sl_eventstream_strerror(&d), "");
    sl_eventstream_dispose(&d);
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    r.stop_at = 0;
    assert_int_equal(feed(&d, &r, s, n), SL_OK);
    assert_int_equal(r.last.kind, SL_EVENTSTREAM_ERROR);
    assert_true(sl_str_eq_lit(r.last.error_code, "InternalFailure"));
    assert_true(sl_str_eq_lit(r.last.error_message, "An internal error occurred."));
    assert_int_equal(r.last.payload.len, 0);
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);
}

/* Feeds s in one piece and then (fresh decoder) byte by byte; both must fail with rc after
 * delivering want messages, with a reason holding word. */
static void expect_error(const unsigned char *s, size_t n, size_t max, int rc, size_t want,
                         const char *word)
{
    struct sl_eventstream_decoder d;
    struct recorder r;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        int got = SL_OK;
        sl_eventstream_init(&d, max);
        rec_init(&r);
        if (bytewise)
            for (size_t i = 0; i < n && got == SL_OK; i++)
                got = feed(&d, &r, s + i, 1);
        else
            got = feed(&d, &r, s, n);
        assert_int_equal(got, rc);
        assert_int_equal(r.n, want);
        if (strstr(sl_eventstream_strerror(&d), word) == NULL)
            fail_msg("\"%s\" does not mention \"%s\"", sl_eventstream_strerror(&d), word);
        assert_false(sl_eventstream_is_idle(&d));
        /* Sticky: later bytes get the same answer and no callback. */
        assert_int_equal(feed(&d, &r, aws_noop, sizeof(aws_noop)), rc);
        assert_int_equal(r.n, want);
        sl_eventstream_dispose(&d);
        sl_buf_dispose(&r.log);
    }
}

static void test_crc_mismatch(void **state)
{
    unsigned char s[4096], bad[4096];
    size_t n = converse_stream(s), first, second;
    char why[128];
    SL_UNUSED(state);
    first = event(bad, "messageStart", "{\"p\":\"abcdefghijk\",\"role\":\"assistant\"}");
    second = first + event(bad, "contentBlockDelta",
                           "{\"contentBlockIndex\":0,\"delta\":{"
                           "\"text\":\"Hi\"},\"p\":\"abcdefghijklmnop\"}");
    /* A prelude byte changed: the second message's headers length. */
    memcpy(bad, s, n);
    bad[first + 7] ^= 0x01;
    snprintf(why, sizeof(why), "message 2 at offset %zu: prelude CRC", first);
    expect_error(bad, n, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EVENTSTREAM_ECRC, 1, why);
    /* A payload byte changed in the third message. */
    memcpy(bad, s, n);
    bad[second + 100] ^= 0x20;
    snprintf(why, sizeof(why), "message 3 at offset %zu: message CRC", second);
    expect_error(bad, n, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EVENTSTREAM_ECRC, 2, why);
    /* The message CRC itself changed. */
    memcpy(bad, s, n);
    bad[n - 1] ^= 0xff;
    expect_error(bad, n, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EVENTSTREAM_ECRC, 6, "message 7");
}

/* A stream that stops inside a message is not idle; the rest completes it. */
static void test_truncated(void **state)
{
    unsigned char s[4096];
    size_t n = converse_stream(s);
    struct sl_eventstream_decoder d;
    struct recorder r;
    SL_UNUSED(state);
    for (size_t keep = n - 1; keep > n - 20; keep--) {
        sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
        rec_init(&r);
        assert_int_equal(feed(&d, &r, s, keep), SL_OK);
        assert_int_equal(r.n, 6);
        assert_false(sl_eventstream_is_idle(&d));
        assert_int_equal(feed(&d, &r, s + keep, n - keep), SL_OK);
        assert_int_equal(r.n, 7);
        assert_true(sl_eventstream_is_idle(&d));
        sl_eventstream_dispose(&d);
        sl_buf_dispose(&r.log);
    }
    /* Inside the prelude. */
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    assert_int_equal(feed(&d, &r, s, 5), SL_OK);
    assert_false(sl_eventstream_is_idle(&d));
    assert_int_equal(r.n, 0);
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);
}

/* Writes a prelude with a correct CRC declaring the given lengths. */
static void prelude(unsigned char *o, uint32_t total, uint32_t hlen)
{
    put32(o, total);
    put32(o + 4, hlen);
    put32(o + 8, (uint32_t)crc32(0, o, 8));
}

/* A message over the cap is refused on its prelude alone, before its body is buffered. */
static void test_oversized(void **state)
{
    unsigned char s[64];
    SL_UNUSED(state);
    prelude(s, 20u << 20, 0);
    expect_error(s, 12, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_E2BIG, 0,
                 "total length 20971520 is over the 16777216-byte cap");
    prelude(s, 1000, 0);
    expect_error(s, 12, 999, SL_E2BIG, 0, "over the 999-byte cap");
    prelude(s, 200u << 10, 129u << 10);
    expect_error(s, 12, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_E2BIG, 0,
                 "headers length 132096 is over the 131072-byte cap");
    prelude(s, UINT32_MAX, 0);
    expect_error(s, 12, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_E2BIG, 0, "4294967295");
    /* At the cap exactly: accepted (no callback yet, the body is missing). */
    {
        struct sl_eventstream_decoder d;
        struct recorder r;
        prelude(s, 1000, 0);
        sl_eventstream_init(&d, 1000);
        rec_init(&r);
        assert_int_equal(feed(&d, &r, s, 12), SL_OK);
        assert_false(sl_eventstream_is_idle(&d));
        sl_eventstream_dispose(&d);
        sl_buf_dispose(&r.log);
    }
}

static void test_malformed(void **state)
{
    unsigned char s[512];
    size_t n;
    SL_UNUSED(state);
    prelude(s, 15, 0);
    expect_error(s, 12, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EPARSE, 0,
                 "total length 15 is below the 16-byte minimum");
    prelude(s, 20, 5);
    expect_error(s, 12, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EPARSE, 0,
                 "headers length 5 does not fit in total length 20");

    /* Headers that are well framed as a message but not as headers. */
    static const struct hspec one[] = {{"x", 7, "abc", 0}};
    struct {
        size_t at; /* byte to change, from the start of the headers */
        unsigned char to;
        const char *why;
    } cases[] = {
        {2, 0x60, "header 1 (byte 0 of 8): unknown value type"},
        {0, 0x09, "name runs past the end"},
        {4, 0x09, "value runs past the end"},
        {3, 0x01, "value runs past the end"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        n = frame(s, one, 1, "{}");
        s[12 + cases[i].at] = cases[i].to;
        put32(s + n - 4, (uint32_t)crc32(0, s, (uInt)(n - 4)));
        expect_error(s, n, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EPARSE, 0, cases[i].why);
    }

    static const struct hspec not_string[] = {{":event-type", 4, NULL, 7}};
    n = frame(s, not_string, 1, "{}");
    expect_error(s, n, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EPARSE, 0,
                 "header :event-type has value type 4, not string");
    static const struct hspec twice[] = {{":message-type", 7, "event", 0},
                                         {":message-type", 7, "exception", 0}};
    n = frame(s, twice, 2, "{}");
    expect_error(s, n, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE, SL_EPARSE, 0,
                 "header :message-type appears twice");
    /* Other headers may repeat, and an unknown :message-type is OTHER, not an error. */
    static const struct hspec ok[] = {
        {"x", 7, "1", 0}, {"x", 5, NULL, 2}, {":message-type", 7, "telemetry", 0}};
    {
        struct sl_eventstream_decoder d;
        struct recorder r;
        n = frame(s, ok, 3, "{}");
        sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
        rec_init(&r);
        assert_int_equal(feed(&d, &r, s, n), SL_OK);
        assert_int_equal(r.last.kind, SL_EVENTSTREAM_OTHER);
        assert_true(sl_str_eq_lit(r.last.message_type, "telemetry"));
        sl_eventstream_dispose(&d);
        sl_buf_dispose(&r.log);
    }
}

/* A message larger than any one read is gathered and delivered whole. */
static void test_large_message(void **state)
{
    size_t plen = 200 * 1024, n;
    char *payload = malloc(plen + 1);
    unsigned char *s = malloc(plen + 256);
    struct sl_eventstream_decoder d;
    struct recorder r;
    SL_UNUSED(state);
    for (size_t i = 0; i < plen; i++)
        payload[i] = (char)('a' + i % 26);
    payload[plen] = '\0';
    n = event(s, "chunk", payload);
    n += event(s + n, "chunk", "{}");
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    rec_init(&r);
    for (size_t at = 0; at < n; at += 16384)
        assert_int_equal(feed(&d, &r, s + at, SL_MIN(16384, n - at)), SL_OK);
    assert_int_equal(r.n, 2);
    assert_true(sl_eventstream_is_idle(&d));
    assert_string_equal(r.last_payload, "{}");
    /* The first message's payload, as logged: kind byte, then 9 length-prefixed fields. */
    assert_non_null(memmem(r.log.ptr, r.log.len, payload, plen));
    sl_eventstream_dispose(&d);
    sl_buf_dispose(&r.log);
    free(payload);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_vectors),         cmocka_unit_test(test_python_frame),
        cmocka_unit_test(test_every_split),         cmocka_unit_test(test_header_types),
        cmocka_unit_test(test_exception_and_error), cmocka_unit_test(test_crc_mismatch),
        cmocka_unit_test(test_truncated),           cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_large_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
