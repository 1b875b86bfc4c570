/* Stream stage: Anthropic Messages events -> OpenAI chat.completion.chunk events (an OpenAI SDK
 * caller streaming from a Claude model). One event in, zero or more chunks out; the encoder
 * after this stage writes "data: ...", and [DONE] at the end. Decisions in docs/translation.md. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/filter.h"
#include "xlate_internal.h"

/* Output of one event: a chunk is at most the input's text plus fixed parts. */
#define EVENT_OUT_CAP (16u << 20)

/* Where the stream is. Every event handler checks it first. */
enum a2c_state {
    A2C_START = 0, /* before message_start: only ping and error are expected */
    A2C_MESSAGE,   /* in the message: blocks, message_delta, message_stop */
    A2C_STOPPED,   /* after message_stop: nothing more is expected, anything else is ignored */
    A2C_DONE,      /* ended: an error went on, or the end did; nothing more is sent */
};

enum block_kind { BK_NONE = 0, BK_TEXT, BK_THINKING, BK_TOOL, BK_OTHER };

struct a2c_stream {
    struct sl_filter super;
    struct sl_xlate_ctx c;
    struct sl_usage *usage;
    struct sl_usage a; /* Anthropic-shaped counts (input without cache) */
    enum a2c_state state;
    enum block_kind kind; /* of the open block */
    int64_t open_index;   /* its index; -1 when none is open */
    int64_t next_index;   /* the smallest index a new block may have */
    unsigned blocks, tools;
    bool finished;   /* the finish chunk went out */
    bool usage_sent; /* the usage-only chunk went out */
    char id[SL_XLATE_MAX_ID];
    char err_type[64];
    char why[200];
    struct sl_buf out;
    struct sl_buf head; /* see make_head */
    struct sl_json_w w;
    struct sl__xl x;
};

enum { E_TYPE, E_MESSAGE, E_INDEX, E_BLOCK, E_DELTA, E_USAGE, E_ERROR, E_N };
static const struct sl_str event_keys[E_N] = {
    [E_TYPE] = SL_STR_INIT("type"),   [E_MESSAGE] = SL_STR_INIT("message"),
    [E_INDEX] = SL_STR_INIT("index"), [E_BLOCK] = SL_STR_INIT("content_block"),
    [E_DELTA] = SL_STR_INIT("delta"), [E_USAGE] = SL_STR_INIT("usage"),
    [E_ERROR] = SL_STR_INIT("error"),
};

enum { D_TYPE, D_TEXT, D_THINKING, D_PARTIAL_JSON, D_ID, D_NAME, D_STOP_REASON, D_N };
static const struct sl_str delta_keys[D_N] = {
    [D_TYPE] = SL_STR_INIT("type"),
    [D_TEXT] = SL_STR_INIT("text"),
    [D_THINKING] = SL_STR_INIT("thinking"),
    [D_PARTIAL_JSON] = SL_STR_INIT("partial_json"),
    [D_ID] = SL_STR_INIT("id"),
    [D_NAME] = SL_STR_INIT("name"),
    [D_STOP_REASON] = SL_STR_INIT("stop_reason"),
};

static int decode_error(struct a2c_stream *s)
{
    struct sl_stream_error e = {
        .status = 502,
        .type = "upstream_decode_error",
        .kind = "upstream_decode_error",
        .message = sl_str_from_cstr(s->why),
    };
    s->state = A2C_DONE;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

static int bad(struct a2c_stream *s, const char *msg)
{
    sl__xl_fail(&s->x, "", "%s", msg);
    return decode_error(s);
}

static void chunk_head(struct a2c_stream *s)
{
    sl_buf_reset(&s->out);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "id", sl_str_from_cstr(s->id));
    sl_jw_kstr(&s->w, "object", SL_STRLIT("chat.completion.chunk"));
    sl_jw_kint(&s->w, "created", s->c.created);
    sl_jw_kstr(&s->w, "model", s->c.alias);
}

/* The bytes every delta chunk starts with, up to its delta object: made once per message (they
 * change only with the id), so a chunk costs a copy and its delta. */
static void make_head(struct a2c_stream *s)
{
    chunk_head(s);
    sl_jw_key(&s->w, SL_STRLIT("choices"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_kint(&s->w, "index", 0);
    sl_jw_key(&s->w, SL_STRLIT("delta"));
    sl_buf_reset(&s->head);
    if (sl_buf_append_str(&s->head, sl_buf_str(&s->out)) != SL_OK)
        sl_buf_reset(&s->head); /* at the cap: chunk_begin then fails at its own cap check */
}

/* Opens a chunk whose choices[0].delta the caller fills. */
static void chunk_begin(struct a2c_stream *s)
{
    sl_buf_reset(&s->out);
    /* The head is capped far below out's cap; an empty one (an alias past its cap) makes
       chunk_end fail the stream. */
    SL_ASSERT(sl_buf_append_str(&s->out, sl_buf_str(&s->head)) == SL_OK);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
}

static int emit(struct a2c_stream *s)
{
    int rc = sl_jw_finish(&s->w);
    if (rc != SL_OK)
        return rc;
    struct sl_sevent ev = {.name = SL_STR_NULL, .data = sl_buf_str(&s->out), .raw = SL_STR_NULL};
    return sl_filter_event(s->super.next, &ev);
}

static int chunk_end(struct a2c_stream *s, const char *finish)
{
    int rc;
    sl_jw_obj_end(&s->w);
    if ((rc = sl_jw_finish(&s->w)) != SL_OK || s->head.len == 0)
        return rc != SL_OK ? rc : SL_E2BIG;
    /* OpenAI's own chunks carry "usage": null until the last when usage was asked for. */
    if (sl_buf_append_str(&s->out, SL_STRLIT(",\"logprobs\":null,\"finish_reason\":")) != SL_OK ||
        (finish != NULL ? sl_buf_appendf(&s->out, "\"%s\"", finish)
                        : sl_buf_append_str(&s->out, SL_STRLIT("null"))) != SL_OK ||
        sl_buf_append_str(&s->out, s->c.include_usage ? SL_STRLIT("}],\"usage\":null}")
                                                      : SL_STRLIT("}]}")) != SL_OK)
        return SL_E2BIG;
    struct sl_sevent ev = {.name = SL_STR_NULL, .data = sl_buf_str(&s->out), .raw = SL_STR_NULL};
    return sl_filter_event(s->super.next, &ev);
}

/* A chunk with one string in its delta (content, reasoning_content). */
static int delta_string(struct a2c_stream *s, const char *key, const struct sl_json_member *v)
{
    if (v->type != SL_JSON_STRING || v->value.len == 2)
        return SL_OK;
    chunk_begin(s);
    sl_jw_kraw(&s->w, key, v->value);
    return chunk_end(s, NULL);
}

static int usage_chunk(struct a2c_stream *s)
{
    if (!s->c.include_usage || s->usage_sent || !s->finished)
        return SL_OK;
    s->usage_sent = true;
    chunk_head(s);
    sl_jw_key(&s->w, SL_STRLIT("choices"));
    sl_jw_arr(&s->w);
    sl_jw_arr_end(&s->w);
    sl__xl_write_chat_usage(&s->w, &s->a);
    sl_jw_obj_end(&s->w);
    return emit(s);
}

static int on_message_start(struct a2c_stream *s, const struct sl_json_member *msg)
{
    static const struct sl_str keys[] = {SL_STR_INIT("id"), SL_STR_INIT("usage")};
    struct sl_json_member f[2];
    if (s->state != A2C_START)
        return bad(s, "message_start after the message started");
    if (sl__xl_read(&s->x, "message", msg, keys, 2, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (f[0].type == SL_JSON_STRING) {
        if (memchr(f[0].value.ptr, '\\', f[0].value.len) != NULL ||
            !sl__xl_copy(s->id, sizeof(s->id), sl__xl_inner(&f[0])))
            return bad(s, "message.id: too long or escaped");
    }
    if (sl__xl_has(&f[1]) && sl__xl_anthropic_usage(&s->x, "message.usage", &f[1], &s->a) != SL_OK)
        return decode_error(s);
    sl__xl_usage_from_anthropic(&s->a, s->usage);
    s->state = A2C_MESSAGE;
    make_head(s);
    chunk_begin(s);
    sl_jw_kstr(&s->w, "role", SL_STRLIT("assistant"));
    sl_jw_kstr(&s->w, "content", SL_STRLIT(""));
    return chunk_end(s, NULL);
}

static int block_index(struct a2c_stream *s, const struct sl_json_member *v, int64_t *out)
{
    uint64_t n;
    if (sl__xl_uint(v, &n) != SL_OK || n > INT32_MAX)
        return bad(s, "index: expected a block index");
    *out = (int64_t)n;
    return SL_OK;
}

static int tool_head(struct a2c_stream *s, const struct sl_json_member *b)
{
    if (b[D_ID].type != SL_JSON_STRING || b[D_NAME].type != SL_JSON_STRING)
        return bad(s, "content_block: tool_use without id and name");
    if (s->tools == SL_XLATE_MAX_TOOL_CALLS)
        return bad(s, "more tool_use blocks than Sluice passes on in one message");
    chunk_begin(s);
    sl_jw_key(&s->w, SL_STRLIT("tool_calls"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_kint(&s->w, "index", s->tools++);
    sl_jw_kraw(&s->w, "id", b[D_ID].value);
    sl_jw_kstr(&s->w, "type", SL_STRLIT("function"));
    sl_jw_key(&s->w, SL_STRLIT("function"));
    sl_jw_obj(&s->w);
    sl_jw_kraw(&s->w, "name", b[D_NAME].value);
    sl_jw_kstr(&s->w, "arguments", SL_STRLIT(""));
    sl_jw_obj_end(&s->w);
    sl_jw_obj_end(&s->w);
    sl_jw_arr_end(&s->w);
    return chunk_end(s, NULL);
}

static int on_block_start(struct a2c_stream *s, const struct sl_json_member *e)
{
    struct sl_json_member b[D_N];
    int64_t index = -1;
    int rc;
    if (s->state != A2C_MESSAGE || s->finished)
        return bad(s, "content_block_start outside a message, or after its message_delta");
    if ((rc = block_index(s, &e[E_INDEX], &index)) != SL_OK)
        return rc;
    if (index < s->next_index || s->blocks == SL_XLATE_MAX_BLOCKS)
        return bad(s, "content_block_start: index out of order, or too many blocks");
    if (sl__xl_read(&s->x, "content_block", &e[E_BLOCK], delta_keys, D_N, b, NULL, NULL) != SL_OK)
        return decode_error(s);
    s->blocks++;
    s->open_index = index;
    s->next_index = index + 1;
    if (sl__xl_str_is(&b[D_TYPE], "text")) {
        s->kind = BK_TEXT;
        return delta_string(s, "content", &b[D_TEXT]);
    }
    if (sl__xl_str_is(&b[D_TYPE], "thinking")) {
        s->kind = BK_THINKING;
        return delta_string(s, "reasoning_content", &b[D_THINKING]);
    }
    if (sl__xl_str_is(&b[D_TYPE], "tool_use")) {
        s->kind = BK_TOOL;
        return tool_head(s, b);
    }
    s->kind = BK_OTHER; /* redacted_thinking and server tool blocks: nothing OpenAI can carry */
    return SL_OK;
}

static int arguments(struct a2c_stream *s, const struct sl_json_member *piece)
{
    if (piece->type != SL_JSON_STRING)
        return bad(s, "input_json_delta without partial_json");
    if (piece->value.len == 2)
        return SL_OK;
    chunk_begin(s);
    sl_jw_key(&s->w, SL_STRLIT("tool_calls"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_kint(&s->w, "index", s->tools - 1);
    sl_jw_key(&s->w, SL_STRLIT("function"));
    sl_jw_obj(&s->w);
    sl_jw_kraw(&s->w, "arguments", piece->value);
    sl_jw_obj_end(&s->w);
    sl_jw_obj_end(&s->w);
    sl_jw_arr_end(&s->w);
    return chunk_end(s, NULL);
}

static int on_block_delta(struct a2c_stream *s, const struct sl_json_member *e)
{
    struct sl_json_member d[D_N];
    int64_t index = -1;
    int rc;
    if (s->state != A2C_MESSAGE || s->finished)
        return bad(s, "content_block_delta outside a message, or after its message_delta");
    if ((rc = block_index(s, &e[E_INDEX], &index)) != SL_OK)
        return rc;
    if (index != s->open_index || s->kind == BK_NONE)
        return bad(s, "content_block_delta for a block that is not open");
    if (sl__xl_read(&s->x, "delta", &e[E_DELTA], delta_keys, D_N, d, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (s->kind == BK_OTHER)
        return SL_OK;
    if (sl__xl_str_is(&d[D_TYPE], "text_delta"))
        return s->kind == BK_TEXT ? delta_string(s, "content", &d[D_TEXT])
                                  : bad(s, "text_delta in a block that is not text");
    if (sl__xl_str_is(&d[D_TYPE], "thinking_delta"))
        return s->kind == BK_THINKING ? delta_string(s, "reasoning_content", &d[D_THINKING])
                                      : bad(s, "thinking_delta in a block that is not thinking");
    if (sl__xl_str_is(&d[D_TYPE], "input_json_delta"))
        return s->kind == BK_TOOL ? arguments(s, &d[D_PARTIAL_JSON])
                                  : bad(s, "input_json_delta in a block that is not tool_use");
    /* signature_delta (OpenAI has no place for it), citations_delta and newer kinds: dropped. */
    return d[D_TYPE].type == SL_JSON_STRING ? SL_OK : bad(s, "delta.type: expected a string");
}

static int on_block_stop(struct a2c_stream *s, const struct sl_json_member *e)
{
    int64_t index = -1;
    int rc;
    if (s->state != A2C_MESSAGE)
        return bad(s, "content_block_stop outside a message");
    if ((rc = block_index(s, &e[E_INDEX], &index)) != SL_OK)
        return rc;
    if (index != s->open_index || s->kind == BK_NONE)
        return bad(s, "content_block_stop for a block that is not open");
    s->kind = BK_NONE;
    s->open_index = -1;
    return SL_OK;
}

static int on_message_delta(struct a2c_stream *s, const struct sl_json_member *e)
{
    struct sl_json_member d[D_N];
    if (s->state != A2C_MESSAGE)
        return bad(s, "message_delta outside a message");
    if (sl__xl_read(&s->x, "delta", &e[E_DELTA], delta_keys, D_N, d, NULL, NULL) != SL_OK ||
        (sl__xl_has(&e[E_USAGE]) &&
         sl__xl_anthropic_usage(&s->x, "usage", &e[E_USAGE], &s->a) != SL_OK))
        return decode_error(s);
    sl__xl_usage_from_anthropic(&s->a, s->usage);
    if (d[D_STOP_REASON].type != SL_JSON_STRING || s->finished)
        return SL_OK;
    s->finished = true;
    chunk_begin(s);
    return chunk_end(s, sl__xl_finish_of_stop(sl__xl_inner(&d[D_STOP_REASON])));
}

/* An in-band error: the stream ends with it, in the caller's dialect (the encoder renders it). */
static int on_upstream_error(struct a2c_stream *s, const struct sl_json_member *err)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("message")};
    struct sl_json_member f[2];
    struct sl_str message = SL_STRLIT("upstream stream failed");
    if (sl__xl_read(&s->x, "error", err, keys, 2, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (f[0].type != SL_JSON_STRING ||
        !sl__xl_copy(s->err_type, sizeof(s->err_type), sl__xl_inner(&f[0])))
        sl__xl_copy(s->err_type, sizeof(s->err_type), SL_STRLIT("api_error"));
    if (f[1].type == SL_JSON_STRING && sl__xl_text(&s->x, &f[1], &message) != SL_OK)
        message = SL_STRLIT("upstream stream failed (message too long)");
    struct sl_stream_error e = {
        .status = sl__xl_status_of_error_type(sl_str_from_cstr(s->err_type)),
        .type = s->err_type,
        .kind = "upstream_error",
        .message = message,
    };
    s->state = A2C_DONE;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

static int on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct a2c_stream *s = SL_CONTAINER_OF(f, struct a2c_stream, super);
    struct sl_json_member e[E_N];
    if (s->state == A2C_DONE)
        return SL_DONE;
    if (s->state == A2C_STOPPED)
        return SL_OK;
    if (sl__xl_read_doc(&s->x, ev->data, event_keys, E_N, e, NULL, NULL) != SL_OK)
        return decode_error(s);
    const struct sl_json_member *type = &e[E_TYPE];
    if (sl__xl_str_is(type, "content_block_delta"))
        return on_block_delta(s, e);
    if (sl__xl_str_is(type, "content_block_start"))
        return on_block_start(s, e);
    if (sl__xl_str_is(type, "content_block_stop"))
        return on_block_stop(s, e);
    if (sl__xl_str_is(type, "message_start"))
        return on_message_start(s, &e[E_MESSAGE]);
    if (sl__xl_str_is(type, "message_delta"))
        return on_message_delta(s, e);
    if (sl__xl_str_is(type, "message_stop")) {
        s->state = A2C_STOPPED;
        return usage_chunk(s);
    }
    if (sl__xl_str_is(type, "error"))
        return on_upstream_error(s, &e[E_ERROR]);
    /* ping, and event types added after this was written: nothing for the caller. */
    return type->type == SL_JSON_STRING ? SL_OK : bad(s, "event without a type");
}

static int on_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct a2c_stream *s = SL_CONTAINER_OF(f, struct a2c_stream, super);
    if (s->state == A2C_DONE)
        return SL_OK; /* this stage already ended the stream */
    s->state = A2C_DONE;
    return sl_filter_pass_error(f, err);
}

static int on_end(struct sl_filter *f)
{
    struct a2c_stream *s = SL_CONTAINER_OF(f, struct a2c_stream, super);
    int rc;
    if (s->state == A2C_DONE)
        return SL_OK;
    if ((rc = usage_chunk(s)) < 0)
        return rc;
    s->state = A2C_DONE;
    return sl_filter_pass_end(f);
}

static const struct sl_filter_ops a2c_ops = {
    .on_event = on_event,
    .on_error = on_error,
    .on_end = on_end,
};

static void dispose(void *p)
{
    struct a2c_stream *s = p;
    sl_buf_dispose(&s->out);
    sl_buf_dispose(&s->head);
    sl__xl_dispose(&s->x);
}

struct sl_filter *sl__xlate_anthropic_to_chat_stream(h2o_mem_pool_t *pool,
                                                     const struct sl_xlate_ctx *c,
                                                     struct sl_usage *usage, struct sl_filter *next)
{
    struct a2c_stream *s = h2o_mem_alloc_shared(pool, sizeof(*s), dispose);
    s->super = (struct sl_filter){.ops = &a2c_ops, .next = next};
    s->c = *c;
    s->usage = usage;
    s->a = SL_USAGE_UNKNOWN;
    *usage = SL_USAGE_UNKNOWN;
    s->state = A2C_START;
    s->kind = BK_NONE;
    s->open_index = -1;
    s->next_index = 0;
    s->blocks = s->tools = 0;
    s->finished = s->usage_sent = false;
    /* Until message_start names the message, its id comes from the request. */
    snprintf(s->id, sizeof(s->id), "chatcmpl-%.*s", (int)SL_MIN(c->id_seed.len, (size_t)200),
             c->id_seed.ptr);
    s->err_type[0] = '\0';
    sl_buf_init(&s->out, EVENT_OUT_CAP);
    sl_buf_init(&s->head, 64 << 10);
    sl__xl_init(&s->x, s->why, sizeof(s->why), EVENT_OUT_CAP);
    make_head(s);
    return &s->super;
}
