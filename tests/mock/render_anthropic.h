/* Anthropic Messages bodies and SSE events of the mock, written with a bump writer into buffers
 * sized up front, like render.h does for OpenAI. Pure functions: nothing here knows about h2o. */
#ifndef SLUICE_MOCK_RENDER_ANTHROPIC_H
#define SLUICE_MOCK_RENDER_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mjson.h"
#include "opts.h"
#include "render.h"
#include "sluice/str.h"

/* The length of a thinking block's signature (base64 without line breaks). */
#define RA_SIG_LEN 44

/* One reply, streamed or not. The caller fills the public fields; a stream then calls
 * ra_stream_plan. */
struct ra_reply {
    struct sl_str id;    /* message id, plain ASCII */
    struct sl_str model; /* the request's model as a JSON string token */
    uint64_t input_tokens;
    uint64_t output_tokens;
    uint64_t cache_creation_input_tokens;
    uint64_t cache_read_input_tokens;
    struct sl_str stop_reason;   /* plain ASCII, e.g. end_turn */
    struct sl_str stop_sequence; /* raw text; ptr NULL: null */
    bool crlf;                   /* SSE lines end in CRLF */
    bool invalid_json;           /* text deltas (stream) or the body carry truncated JSON */
    struct sl_str thinking;      /* raw text of a thinking block first; ptr NULL: none */
    bool text;                   /* a text block */
    struct sl_str text_tok;      /* non-stream: the text as a JSON token */
    struct sl_str chunk_tok;     /* stream: escaped chunk_text for every delta; ptr NULL: pieces */
    struct sl_str reply;         /* stream: raw text cut into chunks pieces */
    uint64_t chunks;             /* stream: text deltas; thinking is cut into as many */
    const struct mock_tool_call *tools; /* tool_use blocks last; input is compact JSON */
    size_t n_tools;
    /* private */
    char _sig[RA_SIG_LEN];
    char *_tok;
    struct rd_seg *_segs;
    size_t _n_segs;
};

/* The signature the mock gives a thinking block with this text, and accepts back. */
void ra_signature(char out[RA_SIG_LEN], struct sl_str thinking);

/* Bytes enough for the non-stream body of r. */
size_t ra_message_bound(const struct ra_reply *r);
/* The Message body: {"id","type":"message","role":"assistant","model","content":[thinking?,
 * text?, tool_use...],"stop_reason","stop_sequence","stop_details","usage":{...}}. A tool_use
 * block without an id gets "toolu_mock_<i>". */
void ra_message(struct mj_writer *w, struct ra_reply *r);

/* The number of content deltas a stream of r has (thinking, text and input_json pieces,
 * including the empty first input_json_delta of each tool_use): its default output_tokens. */
uint64_t ra_deltas(const struct ra_reply *r);

/* Plans the events of a stream: message_start, then per block content_block_start, deltas
 * (thinking ends with a signature_delta), content_block_stop, with a ping after the first
 * content_block_start; then message_delta and message_stop. Allocates with alloc. Returns bytes
 * enough for any one event. */
size_t ra_stream_plan(struct ra_reply *r, mock_alloc_fn *alloc, void *ud,
                      const struct rd_seg **segs, size_t *n_segs);
rd_event_fn ra_stream_event;
/* event: error / data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}
 */
rd_error_fn ra_stream_error;

/* {"type":"error","error":{"type":...,"message":...},"request_id":...}. type and message are
 * JSON string tokens; request_id plain ASCII. */
void ra_error(struct mj_writer *w, struct sl_str type, struct sl_str message,
              struct sl_str request_id);
static inline size_t ra_error_bound(struct sl_str type, struct sl_str message,
                                    struct sl_str request_id)
{
    return 96 + type.len + message.len + request_id.len;
}

/* {"input_tokens":n} */
void ra_count_tokens(struct mj_writer *w, uint64_t n);
#define RA_COUNT_TOKENS_BOUND 48

#endif
