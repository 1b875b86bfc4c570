/* Response bodies and SSE events of the mock, written with a bump writer into buffers the caller
 * sized with the *_bound helpers. Pure functions: nothing here knows about h2o or allocates. */
#ifndef SLUICE_MOCK_RENDER_H
#define SLUICE_MOCK_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mjson.h"
#include "opts.h"
#include "sluice/str.h"

/* What every body and event of one response shares. */
struct rd_ctx {
    struct sl_str id;    /* response id, plain ASCII (written between quotes as-is) */
    struct sl_str model; /* the request's model as a JSON string token, quotes included */
    uint64_t created;    /* unix seconds */
    uint64_t prompt_tokens;
    uint64_t completion_tokens;
    bool crlf;                   /* SSE lines end in CRLF instead of LF */
    bool usage_null;             /* stream chunks other than the usage chunk carry "usage":null */
    struct sl_str finish_reason; /* plain ASCII; ptr NULL: "stop" */
    bool details; /* usage carries prompt_tokens_details and completion_tokens_details */
    uint64_t cached_tokens;
    uint64_t reasoning_tokens;
    /* Azure OpenAI: prompt_filter_results on the body (and a first stream chunk of its own, as
       Azure sends it) and content_filter_results on the choice. */
    bool azure;
};

/* An upper bound on the fixed text of any one body or event, excluding id, model, content and
 * error strings. */
#define RD_OVERHEAD 1280

enum rd_chunk {
    RD_CHUNK_ROLE = 0, /* chat only: the first chunk, delta.role = assistant */
    RD_CHUNK_CONTENT,  /* one content (chat) or text (legacy) delta */
    RD_CHUNK_FINISH,   /* empty delta with finish_reason "stop" */
    RD_CHUNK_USAGE,    /* choices: [] and the usage object */
};

/* Bytes enough for any body or event of c carrying a content token of content_len bytes. */
static inline size_t rd_bound(const struct rd_ctx *c, size_t content_len)
{
    return RD_OVERHEAD + c->id.len + c->model.len + content_len;
}

/* chat.completion and text_completion bodies. content is a JSON string token (quotes included).
 * The usage object is omitted when usage is false. */
void rd_chat_completion(struct mj_writer *w, const struct rd_ctx *c, struct sl_str content,
                        bool usage);

/* A chat.completion's assistant message beyond plain content. */
struct rd_message {
    struct sl_str content;              /* JSON token: a string, or null */
    struct sl_str reasoning;            /* JSON token; ptr NULL: no reasoning_content */
    const struct mock_tool_call *calls; /* raw text, escaped when written */
    size_t n_calls;
};

/* Bytes enough for the tool_calls array of calls (the fixed text of each call included). */
size_t rd_calls_bound(const struct mock_tool_call *calls, size_t n);
/* A chat.completion body with message m: reasoning_content and tool_calls when m has them
 * (a call without an id gets "call_mock_<i>"). Needs rd_bound(c, content + reasoning) +
 * rd_calls_bound(calls) bytes. */
void rd_chat_message(struct mj_writer *w, const struct rd_ctx *c, const struct rd_message *m,
                     bool usage);
void rd_text_completion(struct mj_writer *w, const struct rd_ctx *c, struct sl_str content,
                        bool usage);

/* One SSE event ("data: {...}" and the blank line) of a chat.completion.chunk or a legacy
 * text_completion stream. content is used only by RD_CHUNK_CONTENT. */
void rd_chat_event(struct mj_writer *w, const struct rd_ctx *c, enum rd_chunk kind,
                   struct sl_str content);
void rd_text_event(struct mj_writer *w, const struct rd_ctx *c, enum rd_chunk kind,
                   struct sl_str content);
/* "data: [DONE]" and the blank line. */
void rd_done_event(struct mj_writer *w, bool crlf);
/* An event whose data is truncated JSON (the invalid_json control in a stream). */
void rd_broken_event(struct mj_writer *w, const struct rd_ctx *c);
/* A 200 body that is truncated JSON (the invalid_json control). */
void rd_broken_body(struct mj_writer *w, const struct rd_ctx *c);

/* {"error":{"message":...,"type":...,"param":...,"code":...}}. message and type are JSON string
 * tokens; param and code are any JSON values (e.g. "null"). */
void rd_error(struct mj_writer *w, struct sl_str message, struct sl_str type, struct sl_str param,
              struct sl_str code);
static inline size_t rd_error_bound(struct sl_str message, struct sl_str type, struct sl_str param,
                                    struct sl_str code)
{
    return 64 + message.len + type.len + param.len + code.len;
}

/* The OpenAI model list. */
void rd_models(struct mj_writer *w, uint64_t created);
#define RD_MODELS_BOUND 1024

/* Streams are planned as a short list of segments, each a run of events of one kind; a stream's
 * renderer writes event j of a segment. The flags tell the state machine which events are content
 * deltas (counted by the *_after_chunks controls and paced by chunk_interval_ms) and before which
 * events those controls are checked. */
#define RD_SEG_DELTA 1u
#define RD_SEG_CHECK 2u

struct rd_seg {
    uint8_t kind; /* the renderer's own event kinds */
    uint8_t flags;
    uint16_t arg; /* e.g. a tool call or content block index */
    uint64_t count;
};

/* Renders event j of seg into w; writes an in-band stream error into w. */
typedef void rd_event_fn(void *stream, const struct rd_seg *seg, uint64_t j, struct mj_writer *w);
typedef void rd_error_fn(void *stream, struct mj_writer *w);

#define RD_MAX_SEGS (8 + 2 * MOCK_MAX_TOOL_CALLS)

/* A chat.completion.chunk or legacy text_completion stream. The caller fills the public fields,
 * then calls rd_stream_plan. */
struct rd_stream {
    struct rd_ctx c;
    bool chat;                          /* false: a legacy completions stream */
    bool usage;                         /* the include_usage chunk */
    bool invalid_json;                  /* content events carry truncated JSON */
    bool text;                          /* content deltas (else the role chunk has content null) */
    struct sl_str chunk_tok;            /* escaped chunk_text for every delta; ptr NULL: pieces */
    struct sl_str reply;                /* raw text cut into chunks pieces */
    uint64_t chunks;                    /* content deltas */
    struct sl_str reasoning;            /* raw text cut into chunks deltas; ptr NULL: none */
    const struct mock_tool_call *calls; /* chat only */
    size_t n_calls;
    /* private */
    char *_tok; /* scratch for one escaped piece */
    struct rd_seg _segs[RD_MAX_SEGS];
    size_t _n_segs;
};

/* Plans s's events: role (chat), reasoning deltas, content deltas, for each tool call a head
 * chunk (index, id, type, name, empty arguments) and up to four argument pieces, the finish chunk,
 * the usage chunk and [DONE]. Allocates scratch with alloc. Returns bytes enough for any one event
 * (or the stream error). *segs and *n_segs receive the plan. */
size_t rd_stream_plan(struct rd_stream *s, mock_alloc_fn *alloc, void *ud,
                      const struct rd_seg **segs, size_t *n_segs);
rd_event_fn rd_stream_event;
/* data: {"error":{"message":...,"type":"server_error","param":null,"code":null}} */
rd_error_fn rd_stream_error;
/* The pieces a tool call's arguments (or input JSON) are streamed in: up to four. */
static inline uint64_t rd_arg_pieces(struct sl_str args)
{
    return SL_MIN(args.len, 4);
}
/* The number of content deltas of s (content, reasoning and argument pieces): completion_tokens. */
uint64_t rd_stream_deltas(const struct rd_stream *s);

/* Piece i of n when text is cut into n pieces of about equal size for streaming, never inside a
 * UTF-8 sequence. The pieces concatenate to text; some are empty when n exceeds text's length. */
struct sl_str rd_piece(struct sl_str text, uint64_t i, uint64_t n);
/* An upper bound on the length of any piece of text cut in n. */
static inline size_t rd_piece_bound(struct sl_str text, uint64_t n)
{
    return n == 0 ? 0 : SL_MIN(text.len, text.len / n + 8);
}

/* Fills out[0..dims) with a deterministic unit vector derived from text and dims. */
void rd_embedding_vector(float *out, size_t dims, struct sl_str text);

/* The embeddings list is written as begin, one item per input (index from 0), end. As floats each
 * item takes at most rd_embedding_item_bound(dims) bytes; as base64 (little-endian float32, like
 * OpenAI's encoding_format "base64") likewise. */
void rd_embeddings_begin(struct mj_writer *w);
void rd_embedding_item(struct mj_writer *w, size_t index, const float *v, size_t dims, bool base64);
void rd_embeddings_end(struct mj_writer *w, struct sl_str model, uint64_t prompt_tokens);
static inline size_t rd_embedding_item_bound(size_t dims)
{
    return 96 + dims * 12;
}

#endif
