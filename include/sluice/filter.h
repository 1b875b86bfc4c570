/* Stream filters: the stages an upstream event stream passes through on its way to the caller
 * (h2o's output filters, HAProxy's flt_ops). The relay (stream/relay.c) is transport only: it
 * frames upstream bytes into events (SSE today; AWS eventstream later) and hands each to the
 * first stage. A stage passes events (the same, rewritten or translated ones) to the next; the
 * last stage is the caller dialect's encoder, which writes bytes, owns the stream's terminator
 * ([DONE] for OpenAI, message_stop for Anthropic) and renders error frames.
 *
 * Contract for every stage:
 * - on_event may call the next stage's on_event any number of times (zero drops the event);
 * - on_error ends the stream with an error: the stage passes it on (or a translated one) and
 *   sends nothing after it; on_end ends it cleanly. Exactly one of them reaches each stage, once;
 * - a stage that meets input it cannot handle (malformed upstream JSON) ends the stream itself
 *   by calling the next stage's on_error, then returns SL_DONE; the relay then stops feeding;
 * - a negative return is fatal for the stream (SL_E2BIG: the encoder's buffer is full).
 * Slices in events are valid only during the call. Worker thread; no I/O; state lives in the
 * request's pool. Header only: stages are implemented where their knowledge lives (xlate/ for
 * translations and dialect encoders, stream/ for framing). */
#ifndef SLUICE_FILTER_H
#define SLUICE_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/str.h"

/* One event. */
struct sl_sevent {
    struct sl_str name; /* the SSE event name; empty for unnamed events */
    struct sl_str data; /* its data (several data lines joined with LF) */
    /* The event exactly as the upstream framed it (through its blank line), when it may go to
     * the caller unchanged: a stage that changes the event clears it. Empty otherwise. */
    struct sl_str raw;
};

/* Why a stream ends in an error, for the encoder to render in the caller's dialect. */
struct sl_stream_error {
    int status;       /* what this failure would have been as a response status (502, 504,
                         or an upstream's in-band 429/529...) */
    const char *type; /* the error type: Sluice's ("stream_aborted", "timeout") or the
                         upstream's own ("overloaded_error"), as plain text */
    const char *code; /* NULL: the same as type */
    const char *kind; /* the access log's error_kind */
    struct sl_str message;
};

struct sl_filter;

struct sl_filter_ops {
    int (*on_event)(struct sl_filter *f, const struct sl_sevent *ev);
    int (*on_error)(struct sl_filter *f, const struct sl_stream_error *e);
    int (*on_end)(struct sl_filter *f);
};

struct sl_filter {
    const struct sl_filter_ops *ops;
    struct sl_filter *next; /* NULL for the encoder at the end of the chain */
};

static inline int sl_filter_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    return f->ops->on_event(f, ev);
}

static inline int sl_filter_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    return f->ops->on_error(f, e);
}

static inline int sl_filter_end(struct sl_filter *f)
{
    return f->ops->on_end(f);
}

/* For stages that pass errors and ends on unchanged. */
static inline int sl_filter_pass_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    return sl_filter_error(f->next, e);
}

static inline int sl_filter_pass_end(struct sl_filter *f)
{
    return sl_filter_end(f->next);
}

#endif
