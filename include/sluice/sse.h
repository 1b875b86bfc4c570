/* Server-sent events framing (the WHATWG event-stream format) as a resumable, I/O-free parser.
 * Bytes are fed as they arrive from the network in chunks of any size; a line or an event may
 * be split anywhere, including between CR and LF. Lines end in LF, CRLF or a lone CR. For every
 * complete event (terminated by a blank line) the callback receives the event name (empty for
 * the default "message"), the data (the "data:" lines joined with LF, one leading space after
 * the colon removed) and the raw bytes of the event as received, for relaying unchanged.
 * Comment lines (":...") are reported as comments through the same callback when asked to.
 *
 * Every byte after an initial BOM belongs to exactly one delivered event's raw: a block made
 * only of comments or unknown fields, or a stray blank line, is delivered too (with has_data
 * false), so a relay that forwards raw loses nothing. A comment's own report has is_comment set,
 * data holding its text (one leading space removed) and raw holding its line; that line is also
 * part of the enclosing event's raw, so relays forward only non-comment events. A blank line that
 * ends in a CR at the very end of a feed is completed by the next byte (it may be a CRLF), so
 * that event is delivered by the following feed.
 *
 * Zero-copy where possible: when a whole event lies inside one fed buffer the slices point into
 * that buffer; otherwise the parser copies into its own buffer, capped at max_event_bytes. */
#ifndef SLUICE_SSE_H
#define SLUICE_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/buf.h"
#include "sluice/str.h"

struct sl_sse_event {
    struct sl_str event; /* value of the last "event:" field; empty if none */
    struct sl_str data;  /* "data:" lines joined with "\n"; no trailing newline */
    struct sl_str id;    /* value of the last "id:" field; empty if none */
    struct sl_str raw;   /* the event's bytes exactly as received, through its blank line */
    bool has_data;       /* at least one data field was present */
    bool multiline;      /* several data fields: data contains LF (one data line cannot) */
    bool is_comment;     /* a ":" comment line, reported only when want_comments is set */
};

/* Returns 0 to continue, or a negative value to stop; sl_sse_feed then returns that value. */
typedef int sl_sse_event_cb(void *ud, const struct sl_sse_event *ev);

struct sl_sse_parser {
    size_t max_event_bytes;
    bool want_comments;
    /* private */
    struct sl_buf _raw;   /* bytes of the event in progress, when it spans feeds */
    struct sl_buf _data;  /* joined data lines of the event in progress */
    struct sl_buf _event; /* event name of the event in progress */
    struct sl_buf _id;
    size_t _line; /* offset in _raw where the unfinished line starts */
    int _state;
    bool _has_data;
    bool _cr_pending;
};

/* max_event_bytes caps one event's raw size (and therefore all its parts). */
void sl_sse_init(struct sl_sse_parser *p, size_t max_event_bytes, bool want_comments);
void sl_sse_dispose(struct sl_sse_parser *p);

/* Feeds len bytes. Calls cb for each event completed by them, in order. Returns 0 when all
 * bytes were consumed, SL_E2BIG when an event exceeds max_event_bytes (the parser is then
 * unusable), or the callback's negative return. Slices passed to cb are valid only during the
 * call. */
int sl_sse_feed(struct sl_sse_parser *p, const char *buf, size_t len, sl_sse_event_cb *cb,
                void *ud);

/* The stream ended (upstream EOF): a line still open is ended (including a final lone CR that
 * was waiting to see whether an LF follows), and an event still open whose data is exactly
 * "[DONE]" is delivered, since nothing can follow it. Any other open event stays undelivered:
 * per the format it is incomplete, and sl_sse_is_idle then says false. Returns 0, SL_E2BIG or
 * the callback's negative return. */
int sl_sse_finish(struct sl_sse_parser *p, sl_sse_event_cb *cb, void *ud);

/* True when no partial event is buffered (a stream that ends here ended cleanly). */
bool sl_sse_is_idle(const struct sl_sse_parser *p);

#endif
