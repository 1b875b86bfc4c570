/* Fuzz target for the SSE parser (src/stream/sse.c). The input is a byte stream; its first byte
 * also picks a split point and the event size cap. The stream is fed whole, in two pieces split
 * at that point, and (when short) byte by byte; every way must deliver the identical sequence of
 * events (event, data, id, raw, flags) and end with the same result. Also checked: the raws of
 * the non-comment events are the stream itself, minus a leading BOM and an unfinished tail;
 * turning comments off removes exactly the comment reports; and a naive reference written
 * straight from the WHATWG steps delivers the same events. Any disagreement aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything delivered, serialised: per event a flags byte, four lengths, then the bytes. */
struct log {
    struct sl_buf all;
    struct sl_buf raws; /* raw of the non-comment events, concatenated */
    size_t events;
    const uint8_t *stream; /* the whole input, to check raw slices against */
    size_t size;
};

static void put(struct sl_buf *b, const void *p, size_t n)
{
    CHECK(sl_buf_append(b, p, n) == SL_OK);
}

static int on_event(void *ud, const struct sl_sse_event *ev)
{
    struct log *l = ud;
    const struct sl_str parts[4] = {ev->event, ev->data, ev->id, ev->raw};
    uint8_t flags = (uint8_t)(ev->has_data | ev->is_comment << 1);
    CHECK(!(ev->has_data && ev->is_comment));
    CHECK(memchr(ev->event.ptr, '\n', ev->event.len) == NULL);
    CHECK(memchr(ev->id.ptr, '\r', ev->id.len) == NULL);
    CHECK(memchr(ev->id.ptr, '\0', ev->id.len) == NULL);
    CHECK(ev->data.len <= ev->raw.len && ev->raw.len > 0);
    CHECK(ev->has_data || ev->is_comment || ev->data.len == 0);
    CHECK(ev->is_comment || ev->multiline == (memchr(ev->data.ptr, '\n', ev->data.len) != NULL));
    put(&l->all, &flags, 1);
    for (size_t i = 0; i < 4; i++)
        put(&l->all, &parts[i].len, sizeof(parts[i].len));
    for (size_t i = 0; i < 4; i++)
        put(&l->all, parts[i].ptr, parts[i].len);
    if (!ev->is_comment)
        put(&l->raws, ev->raw.ptr, ev->raw.len);
    l->events++;
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
    return a->events == b->events && sl_str_eq(sl_buf_str(&a->all), sl_buf_str(&b->all));
}

static struct sl_str str_of(const struct sl_buf *b)
{
    return b->len != 0 ? sl_buf_str(b) : (struct sl_str){"", 0};
}

/* A deliberately naive reference: the WHATWG steps over the whole input, one byte at a time,
 * with the delivery rules of sse.h. Returns 0 or SL_E2BIG. */
static int reference(const uint8_t *s, size_t n, size_t max, bool comments, struct log *l)
{
    struct sl_buf event, id, data;
    size_t i = 0, start, j, next;
    bool has_data = false;
    size_t data_lines = 0; /* the reference counts lines; the parser is checked against it */
    int rc = SL_OK;
    if (n < 3 && memcmp(s, "\xef\xbb\xbf", n) == 0)
        return SL_OK; /* all of it may still become a BOM */
    if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    sl_buf_init(&event, SIZE_MAX / 2);
    sl_buf_init(&id, SIZE_MAX / 2);
    sl_buf_init(&data, SIZE_MAX / 2);
    for (start = i;; i = next) {
        for (j = i; j < n && s[j] != '\n' && s[j] != '\r'; j++)
            ;
        if (j == n || (s[j] == '\r' && j + 1 == n))
            break;
        next = s[j] == '\r' && s[j + 1] == '\n' ? j + 2 : j + 1;
        if (next - start > max) {
            rc = SL_E2BIG;
            break;
        }
        const char *line = (const char *)s + i;
        size_t len = j - i, name = 0;
        while (name < len && line[name] != ':')
            name++;
        size_t v = name < len ? name + 1 : len;
        if (v < len && line[v] == ' ')
            v++;
        struct sl_str value = {line + v, len - v};
        struct sl_sse_event ev = {.event = {"", 0}, .data = {"", 0}, .id = {"", 0}};
        if (len == 0) {
            ev.event = str_of(&event);
            ev.id = str_of(&id);
            ev.data = str_of(&data);
            ev.raw = sl_str_init((const char *)s + start, next - start);
            ev.has_data = has_data;
            ev.multiline = data_lines > 1;
            on_event(l, &ev);
            sl_buf_reset(&event);
            sl_buf_reset(&id);
            sl_buf_reset(&data);
            has_data = false;
            data_lines = 0;
            start = next;
        } else if (name == 0) {
            ev.data = value;
            ev.raw = sl_str_init(line, next - i);
            ev.is_comment = true;
            if (comments)
                on_event(l, &ev);
        } else if (name == 4 && memcmp(line, "data", 4) == 0) {
            if (has_data)
                put(&data, "\n", 1);
            put(&data, value.ptr, value.len);
            has_data = true;
            data_lines++;
        } else if (name == 5 && memcmp(line, "event", 5) == 0) {
            sl_buf_reset(&event);
            put(&event, value.ptr, value.len);
        } else if (name == 2 && memcmp(line, "id", 2) == 0 &&
                   memchr(value.ptr, '\0', value.len) == NULL) {
            sl_buf_reset(&id);
            put(&id, value.ptr, value.len);
        }
    }
    if (rc == SL_OK && n - start > max)
        rc = SL_E2BIG; /* the unfinished tail would have to be buffered */
    sl_buf_dispose(&event);
    sl_buf_dispose(&id);
    sl_buf_dispose(&data);
    return rc;
}

static int count_finished(void *ud, const struct sl_sse_event *ev)
{
    size_t *n = ud;
    if (!ev->is_comment)
        (*n)++;
    return 0;
}

/* What sl_sse_finish did at the end of a run: events it delivered, and idleness after it. */
static size_t fin_events;
static bool fin_idle;

/* Feeds the stream in pieces of at most step bytes (0: one piece, else also cut at cut). Each
 * piece is an exact-size heap copy so ASan sees any read past it. Returns the first non-zero
 * result, or 0; *idle receives sl_sse_is_idle at the end (before finishing, whose effect goes
 * to fin_events and fin_idle). */
static int run(const uint8_t *s, size_t n, size_t cut, size_t step, size_t max, bool comments,
               struct log *l, bool *idle)
{
    struct sl_sse_parser p;
    int rc = SL_OK;
    size_t at = 0;
    sl_sse_init(&p, max, comments);
    while (at < n && rc == SL_OK) {
        size_t to = step != 0 ? SL_MIN(n, at + step) : n;
        if (at < cut && cut < to)
            to = cut;
        char *piece = malloc(to - at);
        CHECK(piece != NULL);
        memcpy(piece, s + at, to - at);
        rc = sl_sse_feed(&p, piece, to - at, on_event, l);
        free(piece);
        at = to;
    }
    if (rc == SL_E2BIG)
        CHECK(sl_sse_feed(&p, "data: x\n\n", 9, on_event, l) == SL_E2BIG);
    *idle = sl_sse_is_idle(&p);
    fin_events = 0;
    int frc = sl_sse_finish(&p, count_finished, &fin_events);
    fin_idle = sl_sse_is_idle(&p);
    CHECK(frc == SL_OK || frc == SL_E2BIG);
    CHECK(frc == SL_E2BIG || rc != SL_E2BIG || fin_events == 0);
    /* An idle parser has nothing to finish; finishing delivers at most the open event. */
    CHECK(!*idle || (fin_events == 0 && fin_idle));
    CHECK(fin_events <= 1);
    sl_sse_dispose(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct log whole, split, bytes, quiet, ref;
    bool idle_w, idle_s, idle_b, idle_q;
    size_t cut, max, skip;
    int rc_w, rc_s;
    if (size == 0)
        return 0;
    cut = (size_t)data[0] * size / 256;
    max = (data[0] & 0x80) != 0 ? 256 : 1 << 16;
    log_init(&whole);
    log_init(&split);
    log_init(&quiet);
    rc_w = run(data, size, 0, 0, max, true, &whole, &idle_w);
    size_t fin_w = fin_events;
    bool fin_idle_w = fin_idle;
    rc_s = run(data, size, cut, 0, max, true, &split, &idle_s);
    CHECK(fin_events == fin_w && fin_idle == fin_idle_w);
    CHECK(rc_w == SL_OK || rc_w == SL_E2BIG);
    CHECK(rc_w == rc_s && idle_w == idle_s && log_eq(&whole, &split));
    log_init(&ref);
    CHECK(reference(data, size, max, true, &ref) == rc_w && log_eq(&whole, &ref));
    log_dispose(&ref);
    if (size <= 512) {
        log_init(&bytes);
        CHECK(run(data, size, 0, 1, max, true, &bytes, &idle_b) == rc_w);
        CHECK(idle_b == idle_w && log_eq(&whole, &bytes));
        log_dispose(&bytes);
    }
    /* Without comment reports: the same events minus the comments. */
    CHECK(run(data, size, cut, 0, max, false, &quiet, &idle_q) == rc_w && idle_q == idle_w);
    CHECK(sl_str_eq(sl_buf_str(&quiet.raws), sl_buf_str(&whole.raws)));
    /* The raws are the stream after the BOM, up to where it is still unfinished. */
    skip = size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    CHECK(whole.raws.len <= size - skip);
    CHECK(whole.raws.len == 0 || memcmp(whole.raws.ptr, data + skip, whole.raws.len) == 0);
    if (idle_w)
        CHECK(whole.raws.len == size - skip);
    log_dispose(&whole);
    log_dispose(&split);
    log_dispose(&quiet);
    return 0;
}
