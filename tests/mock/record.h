/* The mock's inspection state shared by all worker threads: a ring of the last requests and the
 * counters behind /_mock/stats. Counters are per worker and written only by their owner thread
 * (relaxed atomics, so a reader on another thread sees whole values); a reset records a baseline
 * instead of writing to other threads' counters. */
#ifndef SLUICE_MOCK_RECORD_H
#define SLUICE_MOCK_RECORD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "opts.h"
#include "sluice/str.h"

#define REC_SLOTS            64
#define REC_MAX_BODY         (64u << 10)
#define REC_MAX_PATH         (8u << 10)
#define REC_MAX_HEADERS      64
#define REC_MAX_HEADER_BYTES (32u << 10)

enum rec_counter {
    REC_REQUESTS = 0,
    REC_CHAT,
    REC_COMPLETIONS,
    REC_EMBEDDINGS,
    REC_MODELS,
    REC_MESSAGES,     /* Anthropic POST .../messages */
    REC_COUNT_TOKENS, /* Anthropic POST .../messages/count_tokens */
    REC_BEDROCK,      /* Bedrock POST .../model/{id}/{converse,converse-stream,invoke,...} */
    REC_RESPONSES,    /* OpenAI .../responses and .../responses/{id}... */
    REC_STREAMS_STARTED,
    REC_STREAMS_COMPLETED,
    REC_STREAMS_ABORTED,      /* the client went away before the stream ended */
    REC_STREAMS_DISCONNECTED, /* the mock cut the stream (disconnect_after_chunks, reset) */
    REC_ERRORS_INJECTED,      /* responses with a mock.status */
    REC_BYTES_IN,
    REC_GEMINI,         /* Gemini API and Vertex AI generateContent, streams, embeddings */
    REC_RAW_PREDICT,    /* Vertex AI Claude rawPredict and streamRawPredict */
    REC_TOKEN_REQUESTS, /* OAuth token endpoint requests */
    REC_TOKENS,         /* tokens issued */
    REC_TOKEN_ERRORS,   /* token requests refused */
    REC_ACTIVE_BEGUN,   /* active = begun - ended, never reset */
    REC_ACTIVE_ENDED,
    REC_NCOUNTERS,
};

struct rec_counters {
    _Atomic uint64_t v[REC_NCOUNTERS];
};

/* Owner-thread increment: a plain load and store, no locked instruction on the hot path. */
static inline void rec_count(struct rec_counters *c, enum rec_counter which, uint64_t n)
{
    uint64_t cur = atomic_load_explicit(&c->v[which], memory_order_relaxed);
    atomic_store_explicit(&c->v[which], cur + n, memory_order_relaxed);
}

struct rec_header {
    struct sl_str name;
    struct sl_str value;
};

struct rec_request {
    struct sl_str method;
    struct sl_str path;
    const struct rec_header *headers;
    size_t n_headers;
    struct sl_str body;
};

/* Prepares the shared state for n workers' counters (which the caller owns). Not thread-safe;
 * call once before the workers start. */
void rec_init(struct rec_counters *const *counters, size_t n);
/* Frees the ring. Call after the workers stopped. */
void rec_dispose(void);

/* Copies r into the ring (truncating the body, path and headers to the REC_MAX_* caps),
 * overwriting the oldest entry. Thread-safe. */
void rec_add(const struct rec_request *r);

/* Clears the ring, the tag counts and makes every counter except active read zero.
 * Thread-safe. */
void rec_reset(void);

#define REC_MAX_TAGS 256 /* distinct mock.tag values counted between resets */

/* Counts one more request with tag (at most MOCK_MAX_TAG bytes) and stores in *seen how many
 * there were since the last reset, this one included. Returns SL_ERR, counting nothing, when
 * REC_MAX_TAGS other tags are counted already. Thread-safe. */
int rec_count_tag(struct sl_str tag, uint64_t *seen);

/* Writes the ring, oldest first, as a JSON array of {method, path, headers, body} (header names
 * lower-cased, repeated headers joined with ", ") into memory from alloc. Thread-safe. */
struct sl_str rec_render_requests(mock_alloc_fn *alloc, void *ud);

/* Writes the counters as a JSON object into memory from alloc. Thread-safe. */
struct sl_str rec_render_stats(mock_alloc_fn *alloc, void *ud);

#endif
