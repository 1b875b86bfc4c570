/* Unit tests for the SSE parser (src/stream/sse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/sse.h"

#define MAX_EVENTS 128

/* One delivered event, copied out of the callback. */
struct rec {
    bool is_comment, has_data;
    struct sl_buf event, data, id, raw;
    bool in_place; /* raw and data pointed into the fed buffer */
};

struct recorder {
    struct rec ev[MAX_EVENTS];
    size_t n;
    const char *buf; /* buffer being fed, to tell in-place slices from copies */
    size_t buflen;
    size_t stop_at; /* return stop_rc from the callback for event number stop_at (1-based) */
    int stop_rc;
};

static void copy(struct sl_buf *b, struct sl_str s)
{
    sl_buf_init(b, SIZE_MAX / 2);
    SL_ASSERT(sl_buf_append_str(b, s) == SL_OK);
}

static bool inside(const struct recorder *r, struct sl_str s)
{
    return s.len == 0 || (s.ptr >= r->buf && s.ptr + s.len <= r->buf + r->buflen);
}

static int on_event(void *ud, const struct sl_sse_event *ev)
{
    struct recorder *r = ud;
    SL_ASSERT(r->n < MAX_EVENTS);
    struct rec *e = &r->ev[r->n++];
    e->is_comment = ev->is_comment;
    e->has_data = ev->has_data;
    copy(&e->event, ev->event);
    copy(&e->data, ev->data);
    copy(&e->id, ev->id);
    copy(&e->raw, ev->raw);
    e->in_place = inside(r, ev->raw) && inside(r, ev->data);
    /* Slices are never NULL, even when empty. */
    SL_ASSERT(ev->event.ptr != NULL && ev->data.ptr != NULL && ev->id.ptr != NULL);
    if (r->n == r->stop_at)
        return r->stop_rc;
    return 0;
}

static void rec_clear(struct recorder *r)
{
    for (size_t i = 0; i < r->n; i++) {
        sl_buf_dispose(&r->ev[i].event);
        sl_buf_dispose(&r->ev[i].data);
        sl_buf_dispose(&r->ev[i].id);
        sl_buf_dispose(&r->ev[i].raw);
    }
    r->n = 0;
}

static int feed(struct sl_sse_parser *p, struct recorder *r, const char *s, size_t n)
{
    r->buf = s;
    r->buflen = n;
    return sl_sse_feed(p, s, n, on_event, r);
}

static void assert_buf(const struct sl_buf *b, const char *want, size_t wantlen)
{
    if (b->len != wantlen || (wantlen != 0 && memcmp(b->ptr, want, wantlen) != 0))
        print_error("got \"%.*s\", want \"%.*s\"\n", (int)b->len, b->ptr, (int)wantlen, want);
    assert_int_equal(b->len, wantlen);
    if (wantlen != 0)
        assert_memory_equal(b->ptr, want, wantlen);
}

#define ASSERT_BUF(b, lit) assert_buf((b), (lit), sizeof(lit) - 1)

static void assert_same(const struct recorder *a, const struct recorder *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].is_comment, b->ev[i].is_comment);
        assert_int_equal(a->ev[i].has_data, b->ev[i].has_data);
        assert_buf(&a->ev[i].event, b->ev[i].event.ptr, b->ev[i].event.len);
        assert_buf(&a->ev[i].data, b->ev[i].data.ptr, b->ev[i].data.len);
        assert_buf(&a->ev[i].id, b->ev[i].id.ptr, b->ev[i].id.len);
        assert_buf(&a->ev[i].raw, b->ev[i].raw.ptr, b->ev[i].raw.len);
    }
}

/* Feeds s whole into a fresh parser; returns the feed's result. */
static int parse_whole(struct recorder *r, const char *s, size_t n, size_t max, bool comments)
{
    struct sl_sse_parser p;
    sl_sse_init(&p, max, comments);
    int rc = feed(&p, r, s, n);
    sl_sse_dispose(&p);
    return rc;
}

#define WHOLE(r, lit) parse_whole((r), (lit), sizeof(lit) - 1, 1 << 20, false)

static struct recorder r1, r2;

static int teardown(void **state)
{
    (void)state;
    rec_clear(&r1);
    rec_clear(&r2);
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    return 0;
}

static void test_line_endings(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        const char *raw1;
    } tab[] = {
        {"data: a\n\ndata: b\n\n", "data: a\n\n"},
        {"data: a\r\n\r\ndata: b\r\n\r\n", "data: a\r\n\r\n"},
        {"data: a\r\rdata: b\r\r\n", "data: a\r\r"},
        {"data: a\r\n\ndata: b\n\r\n", "data: a\r\n\n"},
        {"data: a\n\r\n\r\ndata: b\r\n\n", "data: a\n\r\n"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(tab); i++) {
        assert_int_equal(parse_whole(&r1, tab[i].s, strlen(tab[i].s), 1024, false), SL_OK);
        assert_true(r1.n >= 2);
        ASSERT_BUF(&r1.ev[0].data, "a");
        assert_buf(&r1.ev[0].raw, tab[i].raw1, strlen(tab[i].raw1));
        assert_true(r1.ev[0].has_data);
        rec_clear(&r1);
    }
}

/* A lone CR at the end of a feed may be the first half of a CRLF: the event it ends is delivered
 * once the next byte shows which. */
static void test_cr_at_feed_end(void **state)
{
    struct sl_sse_parser p;
    (void)state;
    sl_sse_init(&p, 1024, false);
    assert_int_equal(feed(&p, &r1, "data: a\r\r", 9), SL_OK);
    assert_int_equal(r1.n, 0);
    assert_false(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "\n", 1), SL_OK);
    assert_int_equal(r1.n, 1);
    ASSERT_BUF(&r1.ev[0].raw, "data: a\r\r\n");
    assert_true(sl_sse_is_idle(&p));
    /* CR then a non-LF byte: the CR alone was the line ending. */
    assert_int_equal(feed(&p, &r1, "data: b\r", 8), SL_OK);
    assert_int_equal(feed(&p, &r1, "\r", 1), SL_OK);
    assert_int_equal(feed(&p, &r1, "data: c\n\n", 9), SL_OK);
    assert_int_equal(r1.n, 3);
    ASSERT_BUF(&r1.ev[1].raw, "data: b\r\r");
    ASSERT_BUF(&r1.ev[1].data, "b");
    ASSERT_BUF(&r1.ev[2].raw, "data: c\n\n");
    /* CR at the end of one feed and LF at the start of the next are one line ending. */
    assert_int_equal(feed(&p, &r1, "data: d\r", 8), SL_OK);
    assert_int_equal(feed(&p, &r1, "\n\r", 2), SL_OK);
    assert_int_equal(feed(&p, &r1, "\n", 1), SL_OK);
    assert_int_equal(r1.n, 4);
    ASSERT_BUF(&r1.ev[3].raw, "data: d\r\n\r\n");
    ASSERT_BUF(&r1.ev[3].data, "d");
    assert_true(sl_sse_is_idle(&p));
    sl_sse_dispose(&p);
}

/* A stream with every feature: comments in and between events, event names and ids, multi-line
 * and empty data, fields without a colon, unknown fields, retry, all line ending styles. */
static const char kitchen[] = ": hello\n\n"
                              "event: start\nid: 1\ndata: {\"a\":1}\n\n"
                              "data: line one\r\ndata:line two\r\n: inside\r\ndata\r\n\r\n"
                              "retry: 3000\nfoo: bar\ndata: x\rid: 7\r\r"
                              "data\n\n"
                              "data:  two spaces\nevent\n\n"
                              "\n"
                              "id: a\0b\ndata: nul-id\n\n"
                              "data: [DONE]\n\n";

static void test_kitchen_sink(void **state)
{
    (void)state;
    assert_int_equal(parse_whole(&r1, kitchen, sizeof(kitchen) - 1, 4096, true), SL_OK);
    assert_int_equal(r1.n, 11);
    /* comment before the first event, then the comment-only block itself */
    assert_true(r1.ev[0].is_comment);
    ASSERT_BUF(&r1.ev[0].data, "hello");
    ASSERT_BUF(&r1.ev[0].raw, ": hello\n");
    assert_false(r1.ev[1].is_comment);
    assert_false(r1.ev[1].has_data);
    ASSERT_BUF(&r1.ev[1].raw, ": hello\n\n");
    ASSERT_BUF(&r1.ev[2].event, "start");
    ASSERT_BUF(&r1.ev[2].id, "1");
    ASSERT_BUF(&r1.ev[2].data, "{\"a\":1}");
    /* a comment inside an event is reported before the event */
    assert_true(r1.ev[3].is_comment);
    ASSERT_BUF(&r1.ev[3].raw, ": inside\r\n");
    ASSERT_BUF(&r1.ev[4].data, "line one\nline two\n");
    ASSERT_BUF(&r1.ev[4].raw, "data: line one\r\ndata:line two\r\n: inside\r\ndata\r\n\r\n");
    assert_true(r1.ev[4].has_data);
    ASSERT_BUF(&r1.ev[4].event, "");
    ASSERT_BUF(&r1.ev[4].id, "");
    ASSERT_BUF(&r1.ev[5].data, "x");
    ASSERT_BUF(&r1.ev[5].id, "7");
    ASSERT_BUF(&r1.ev[5].raw, "retry: 3000\nfoo: bar\ndata: x\rid: 7\r\r");
    assert_true(r1.ev[6].has_data);
    ASSERT_BUF(&r1.ev[6].data, "");
    ASSERT_BUF(&r1.ev[7].data, " two spaces");
    ASSERT_BUF(&r1.ev[7].event, "");
    /* a stray blank line is delivered so its byte is not lost */
    assert_false(r1.ev[8].has_data);
    ASSERT_BUF(&r1.ev[8].raw, "\n");
    /* an id containing NUL is ignored */
    ASSERT_BUF(&r1.ev[9].id, "");
    ASSERT_BUF(&r1.ev[9].data, "nul-id");
    ASSERT_BUF(&r1.ev[10].data, "[DONE]");

    /* Without want_comments the same events arrive minus the two comment reports, and the raw of
     * the events is the whole stream. */
    assert_int_equal(parse_whole(&r2, kitchen, sizeof(kitchen) - 1, 4096, false), SL_OK);
    assert_int_equal(r2.n, 9);
    char all[sizeof(kitchen)];
    size_t n = 0;
    for (size_t i = 0; i < r2.n; i++) {
        assert_false(r2.ev[i].is_comment);
        memcpy(all + n, r2.ev[i].raw.ptr, r2.ev[i].raw.len);
        n += r2.ev[i].raw.len;
    }
    assert_int_equal(n, sizeof(kitchen) - 1);
    assert_memory_equal(all, kitchen, n);
}

static void feed_pieces(struct recorder *r, const char *s, size_t n, const size_t *cuts,
                        size_t ncuts, bool comments)
{
    struct sl_sse_parser p;
    size_t at = 0;
    sl_sse_init(&p, 4096, comments);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        /* Feed from an exact-size heap copy so ASan sees reads past the piece. */
        char *piece = malloc(to - at + 1);
        memcpy(piece, s + at, to - at);
        assert_int_equal(feed(&p, r, piece, to - at), SL_OK);
        free(piece);
        at = to;
    }
    assert_true(sl_sse_is_idle(&p));
    sl_sse_dispose(&p);
}

static void test_every_split(void **state)
{
    const size_t n = sizeof(kitchen) - 1;
    (void)state;
    for (int comments = 0; comments <= 1; comments++) {
        assert_int_equal(parse_whole(&r1, kitchen, n, 4096, comments), SL_OK);
        for (size_t i = 0; i <= n; i++) {
            feed_pieces(&r2, kitchen, n, &i, 1, comments);
            assert_same(&r2, &r1);
            rec_clear(&r2);
        }
        /* byte by byte */
        size_t cuts[sizeof(kitchen)];
        for (size_t i = 0; i < n; i++)
            cuts[i] = i + 1;
        feed_pieces(&r2, kitchen, n, cuts, n - 1, comments);
        assert_same(&r2, &r1);
        rec_clear(&r2);
        rec_clear(&r1);
    }
}

/* Every pair of split points of a shorter stream: three pieces. */
static void test_every_split_pair(void **state)
{
    static const char s[] = "\xef\xbb\xbf: c\r\nevent: e\rdata: 1\r\ndata: 2\n\r\n"
                            "id: 9\r\rdata: z\n\n:x\r\rdata: end\n\n";
    const size_t n = sizeof(s) - 1;
    (void)state;
    assert_int_equal(parse_whole(&r1, s, n, 4096, true), SL_OK);
    assert_int_equal(r1.n, 7);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            feed_pieces(&r2, s, n, cuts, 2, true);
            assert_same(&r2, &r1);
            rec_clear(&r2);
        }
    }
}

static void test_event_and_id(void **state)
{
    (void)state;
    assert_int_equal(WHOLE(&r1, "event: a\nevent: b\nid: 1\nid: 2\nid\ndata: x\n\n"
                                "data: y\n\n"),
                     SL_OK);
    assert_int_equal(r1.n, 2);
    ASSERT_BUF(&r1.ev[0].event, "b");
    ASSERT_BUF(&r1.ev[0].id, ""); /* the last id field had an empty value */
    /* event name and id do not carry over to the next event */
    ASSERT_BUF(&r1.ev[1].event, "");
    ASSERT_BUF(&r1.ev[1].id, "");
    rec_clear(&r1);
    assert_int_equal(WHOLE(&r1, "event:message_start\nid:abc\ndata:{}\n\n"), SL_OK);
    ASSERT_BUF(&r1.ev[0].event, "message_start");
    ASSERT_BUF(&r1.ev[0].id, "abc");
    ASSERT_BUF(&r1.ev[0].data, "{}");
    rec_clear(&r1);
    /* Field names are case-sensitive and must match whole. */
    assert_int_equal(WHOLE(&r1, "Data: x\ndata : y\ndatas: z\nevents: q\nid : 3\n\n"), SL_OK);
    assert_false(r1.ev[0].has_data);
    ASSERT_BUF(&r1.ev[0].event, "");
    ASSERT_BUF(&r1.ev[0].id, "");
}

static void test_data_lines(void **state)
{
    (void)state;
    assert_int_equal(WHOLE(&r1, "data: a\ndata: b\ndata:c\n\n"), SL_OK);
    ASSERT_BUF(&r1.ev[0].data, "a\nb\nc");
    rec_clear(&r1);
    assert_int_equal(WHOLE(&r1, "data:\n\n"
                                "data\n\n"
                                "data: \n\n"
                                "data:  x \n\n"
                                "data\ndata\n\n"
                                "data: a:b: c\n\n"),
                     SL_OK);
    assert_int_equal(r1.n, 6);
    for (size_t i = 0; i < 3; i++) {
        assert_true(r1.ev[i].has_data);
        ASSERT_BUF(&r1.ev[i].data, "");
    }
    ASSERT_BUF(&r1.ev[3].data, " x ");
    ASSERT_BUF(&r1.ev[4].data, "\n");
    ASSERT_BUF(&r1.ev[5].data, "a:b: c");
    rec_clear(&r1);
    /* an event with no data field */
    assert_int_equal(WHOLE(&r1, "event: ping\n\n"), SL_OK);
    assert_false(r1.ev[0].has_data);
    ASSERT_BUF(&r1.ev[0].data, "");
    ASSERT_BUF(&r1.ev[0].event, "ping");
}

static void test_comments(void **state)
{
    static const char s[] = ": ping\n\n:\n:no space\ndata: x\n\n";
    (void)state;
    assert_int_equal(parse_whole(&r1, s, sizeof(s) - 1, 1024, true), SL_OK);
    assert_int_equal(r1.n, 5);
    assert_true(r1.ev[0].is_comment);
    ASSERT_BUF(&r1.ev[0].data, "ping");
    ASSERT_BUF(&r1.ev[1].raw, ": ping\n\n");
    assert_true(r1.ev[2].is_comment);
    ASSERT_BUF(&r1.ev[2].data, "");
    ASSERT_BUF(&r1.ev[2].raw, ":\n");
    ASSERT_BUF(&r1.ev[3].data, "no space");
    ASSERT_BUF(&r1.ev[4].raw, ":\n:no space\ndata: x\n\n");
    ASSERT_BUF(&r1.ev[4].data, "x");
    rec_clear(&r1);
    assert_int_equal(parse_whole(&r1, s, sizeof(s) - 1, 1024, false), SL_OK);
    assert_int_equal(r1.n, 2);
    assert_false(r1.ev[0].has_data);
}

static void test_bom(void **state)
{
    struct sl_sse_parser p;
    (void)state;
    assert_int_equal(WHOLE(&r1, "\xef\xbb\xbf"
                                "data: x\n\n"
                                "\xef\xbb\xbf"
                                "data: y\n\n"),
                     SL_OK);
    assert_int_equal(r1.n, 2);
    ASSERT_BUF(&r1.ev[0].raw, "data: x\n\n");
    ASSERT_BUF(&r1.ev[0].data, "x");
    /* only at the very start: later it is part of a field name */
    assert_false(r1.ev[1].has_data);
    ASSERT_BUF(&r1.ev[1].raw, "\xef\xbb\xbf"
                              "data: y\n\n");
    rec_clear(&r1);
    /* A BOM split across feeds. */
    sl_sse_init(&p, 1024, false);
    assert_true(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "\xef", 1), SL_OK);
    assert_false(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "\xbb", 1), SL_OK);
    assert_int_equal(feed(&p, &r1, "\xbf", 1), SL_OK);
    assert_true(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "data: x\n\n", 9), SL_OK);
    ASSERT_BUF(&r1.ev[0].raw, "data: x\n\n");
    sl_sse_dispose(&p);
    rec_clear(&r1);
    /* Something that starts like a BOM but is not one is kept, whichever feed it came in. */
    sl_sse_init(&p, 1024, false);
    assert_int_equal(feed(&p, &r1, "\xef", 1), SL_OK);
    assert_int_equal(feed(&p, &r1, "\xbb", 1), SL_OK);
    assert_int_equal(feed(&p, &r1, "data: x\n\n", 9), SL_OK);
    assert_int_equal(r1.n, 1);
    ASSERT_BUF(&r1.ev[0].raw, "\xef\xbb"
                              "data: x\n\n");
    assert_false(r1.ev[0].has_data);
    sl_sse_dispose(&p);
    rec_clear(&r1);
    assert_int_equal(WHOLE(&r1, "\xef\xbb\n\n"), SL_OK);
    ASSERT_BUF(&r1.ev[0].raw, "\xef\xbb\n\n");
    /* Bytes given back from an earlier feed count against the cap like any others. */
    sl_sse_init(&p, 1, false);
    assert_int_equal(feed(&p, &r1, "\xef\xbb", 2), SL_OK);
    assert_int_equal(feed(&p, &r1, "\n", 1), SL_E2BIG);
    sl_sse_dispose(&p);
}

static void test_max_event_bytes(void **state)
{
    static const char ev[] = "data: 0123456789\n\n"; /* 18 bytes */
    struct sl_sse_parser p;
    (void)state;
    /* Exactly at the cap is fine on both paths. */
    assert_int_equal(parse_whole(&r1, ev, 18, 18, false), SL_OK);
    assert_int_equal(r1.n, 1);
    assert_true(r1.ev[0].in_place);
    rec_clear(&r1);
    size_t cut = 7;
    sl_sse_init(&p, 18, false);
    assert_int_equal(feed(&p, &r1, ev, cut), SL_OK);
    assert_int_equal(feed(&p, &r1, ev + cut, 18 - cut), SL_OK);
    assert_int_equal(r1.n, 1);
    assert_false(r1.ev[0].in_place);
    sl_sse_dispose(&p);
    rec_clear(&r1);

    /* One over: zero-copy path, whole event in the buffer, after a good event. */
    sl_sse_init(&p, 17, false);
    assert_int_equal(feed(&p, &r1, "data: a\n\ndata: 0123456789\n\ndata: b\n\n", 36), SL_E2BIG);
    assert_int_equal(r1.n, 1);
    ASSERT_BUF(&r1.ev[0].data, "a");
    assert_false(sl_sse_is_idle(&p));
    /* the parser stays failed */
    assert_int_equal(feed(&p, &r1, "data: c\n\n", 9), SL_E2BIG);
    assert_int_equal(r1.n, 1);
    sl_sse_dispose(&p);
    rec_clear(&r1);

    /* One over, buffered path: byte by byte. */
    sl_sse_init(&p, 17, false);
    int rc = SL_OK;
    size_t i;
    for (i = 0; i < 18 && rc == SL_OK; i++)
        rc = feed(&p, &r1, ev + i, 1);
    assert_int_equal(rc, SL_E2BIG);
    assert_int_equal(i, 18); /* noticed at the byte that crossed the cap */
    assert_int_equal(r1.n, 0);
    assert_int_equal(feed(&p, &r1, "data: c\n\n", 9), SL_E2BIG);
    sl_sse_dispose(&p);

    /* What is buffered is capped too: a line that never ends. */
    sl_sse_init(&p, 64, false);
    char big[65];
    memset(big, 'x', sizeof(big));
    assert_int_equal(feed(&p, &r1, big, 64), SL_OK);
    assert_int_equal(feed(&p, &r1, big, 1), SL_E2BIG);
    sl_sse_dispose(&p);
    sl_sse_init(&p, 64, false);
    assert_int_equal(feed(&p, &r1, big, 65), SL_E2BIG);
    sl_sse_dispose(&p);
    /* Several data lines joined in place count against the cap like the raw bytes. */
    sl_sse_init(&p, 20, false);
    assert_int_equal(feed(&p, &r1, "data: a\ndata: b\n\n", 17), SL_OK);
    assert_int_equal(feed(&p, &r1, "data: a\ndata: b\ndata: c\n\n", 25), SL_E2BIG);
    assert_int_equal(r1.n, 1);
    ASSERT_BUF(&r1.ev[0].data, "a\nb");
    sl_sse_dispose(&p);
}

static void test_callback_stops(void **state)
{
    struct sl_sse_parser p;
    (void)state;
    sl_sse_init(&p, 1024, false);
    r1.stop_at = 2;
    r1.stop_rc = -42;
    assert_int_equal(feed(&p, &r1, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27), -42);
    assert_int_equal(r1.n, 2);
    sl_sse_dispose(&p);
    rec_clear(&r1);
    /* a comment report can stop the feed too; so can a buffered event */
    sl_sse_init(&p, 1024, true);
    r1.stop_at = 1;
    r1.stop_rc = SL_ERR;
    assert_int_equal(feed(&p, &r1, ": c\ndata: 1\n\n", 13), SL_ERR);
    assert_int_equal(r1.n, 1);
    sl_sse_dispose(&p);
    rec_clear(&r1);
    sl_sse_init(&p, 1024, false);
    r1.stop_at = 1;
    r1.stop_rc = -7;
    assert_int_equal(feed(&p, &r1, "data: 1", 7), SL_OK);
    assert_int_equal(feed(&p, &r1, "\n\ndata: 2\n\n", 11), -7);
    assert_int_equal(r1.n, 1);
    ASSERT_BUF(&r1.ev[0].data, "1");
    sl_sse_dispose(&p);
    rec_clear(&r1);
    /* a comment stopping an in-place event whose data lines were already joined */
    sl_sse_init(&p, 1024, true);
    r1.stop_at = 1;
    r1.stop_rc = -9;
    assert_int_equal(feed(&p, &r1, "data: a\ndata: b\n: stop\n\n", 24), -9);
    assert_int_equal(r1.n, 1);
    assert_true(r1.ev[0].is_comment);
    sl_sse_dispose(&p);
}

static void test_is_idle(void **state)
{
    struct sl_sse_parser p;
    (void)state;
    sl_sse_init(&p, 1024, false);
    assert_true(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "", 0), SL_OK);
    assert_int_equal(feed(&p, &r1, NULL, 0), SL_OK);
    assert_true(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "data: x", 7), SL_OK);
    assert_false(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "\n", 1), SL_OK);
    assert_false(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "\n", 1), SL_OK);
    assert_true(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, "data: y\n\ndata", 13), SL_OK);
    assert_false(sl_sse_is_idle(&p));
    assert_int_equal(feed(&p, &r1, ": z\n\n", 5), SL_OK);
    assert_true(sl_sse_is_idle(&p));
    assert_int_equal(r1.n, 3);
    ASSERT_BUF(&r1.ev[2].raw, "data: z\n\n");
    ASSERT_BUF(&r1.ev[2].data, "z");
    sl_sse_dispose(&p);
}

/* Typical OpenAI chunks fed whole are delivered without copying; split ones are copied. */
static void test_zero_copy(void **state)
{
    static const char chunks[] =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
        "\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
        "\"completion_tokens\":1,\"total_tokens\":6}}\n\n"
        "data: [DONE]\n\n";
    struct sl_sse_parser p;
    (void)state;
    assert_int_equal(WHOLE(&r1, chunks), SL_OK);
    assert_int_equal(r1.n, 3);
    for (size_t i = 0; i < r1.n; i++)
        assert_true(r1.ev[i].in_place);
    ASSERT_BUF(&r1.ev[2].data, "[DONE]");
    rec_clear(&r1);
    sl_sse_init(&p, 4096, false);
    assert_int_equal(feed(&p, &r1, chunks, 100), SL_OK);
    assert_int_equal(feed(&p, &r1, chunks + 100, sizeof(chunks) - 101), SL_OK);
    assert_int_equal(r1.n, 3);
    assert_false(r1.ev[0].in_place);
    assert_true(r1.ev[1].in_place);
    sl_sse_dispose(&p);
}

/* At EOF: an open line ends, a final lone CR ends its line, and an open [DONE] is delivered;
 * any other open event stays open (the stream was cut). */
static void test_finish(void **state)
{
    static const struct {
        const char *in;
        size_t events;    /* delivered after finish */
        bool idle;        /* after finish */
        const char *last; /* data of the last event */
    } cases[] = {
        {"data: a\r\rdata: [DONE]\r\r", 2, true, "[DONE]"},
        {"data: a\n\ndata: [DONE]", 2, true, "[DONE]"},
        {"data: a\n\ndata: [DONE]\n", 2, true, "[DONE]"},
        {"data: a\n\ndata: [DONE]\r", 2, true, "[DONE]"},
        {"data: a\n\ndata: [DONE]\r\n", 2, true, "[DONE]"},
        {"data: a\n\ndata: b\n", 1, false, "a"},
        {"data: a\n\ndata: b", 1, false, "a"},
        {"data: a\n\ndata: [DONE]\ndata: x\n", 1, false, "a"},
        {"data: a\n\n: comment", 1, false, "a"},
        {"data: a\n\n", 1, true, "a"},
    };
    (void)state;
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        /* Whole, and split before the last byte (a CR there must wait for finish). */
        for (int split = 0; split < 2; split++) {
            struct sl_sse_parser p;
            size_t n = strlen(cases[i].in), cut = split ? n - 1 : n;
            sl_sse_init(&p, 1024, false);
            assert_int_equal(feed(&p, &r1, cases[i].in, cut), SL_OK);
            assert_int_equal(feed(&p, &r1, cases[i].in + cut, n - cut), SL_OK);
            assert_int_equal(sl_sse_finish(&p, on_event, &r1), SL_OK);
            if (r1.n != cases[i].events || sl_sse_is_idle(&p) != cases[i].idle)
                fail_msg("case %zu split %d: %zu events, idle %d", i, split, r1.n,
                         sl_sse_is_idle(&p));
            assert_int_equal(r1.ev[r1.n - 1].data.len, strlen(cases[i].last));
            assert_memory_equal(r1.ev[r1.n - 1].data.ptr, cases[i].last, strlen(cases[i].last));
            /* A second finish changes nothing. */
            assert_int_equal(sl_sse_finish(&p, on_event, &r1), SL_OK);
            assert_int_equal(r1.n, cases[i].events);
            rec_clear(&r1);
            sl_sse_dispose(&p);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_line_endings, teardown),
        cmocka_unit_test_teardown(test_cr_at_feed_end, teardown),
        cmocka_unit_test_teardown(test_kitchen_sink, teardown),
        cmocka_unit_test_teardown(test_every_split, teardown),
        cmocka_unit_test_teardown(test_every_split_pair, teardown),
        cmocka_unit_test_teardown(test_event_and_id, teardown),
        cmocka_unit_test_teardown(test_data_lines, teardown),
        cmocka_unit_test_teardown(test_comments, teardown),
        cmocka_unit_test_teardown(test_bom, teardown),
        cmocka_unit_test_teardown(test_max_event_bytes, teardown),
        cmocka_unit_test_teardown(test_callback_stops, teardown),
        cmocka_unit_test_teardown(test_is_idle, teardown),
        cmocka_unit_test_teardown(test_zero_copy, teardown),
        cmocka_unit_test_teardown(test_finish, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
