/* Stream stage: Bedrock ConverseStream events -> OpenAI chat.completion.chunk events (an OpenAI
 * SDK caller streaming from a Bedrock model). The relay decodes AWS's event stream framing and
 * hands each message here named by its :event-type (exceptions by their :exception-type), its
 * data the JSON payload (whose "p" member is Bedrock's padding, ignored). One event in, zero or
 * more chunks out; the encoder after this stage writes "data: ...", and [DONE] at the end.
 * Decisions in docs/translation.md. */
#include <stdio.h>
#include <string.h>

#include "bedrock_internal.h"
#include "sluice/base.h"
#include "sluice/filter.h"

/* Output of one event: a chunk is at most the input's text plus fixed parts. */
#define EVENT_OUT_CAP (16u << 20)

/* Where the stream is. Every event handler checks it first. */
enum b2c_state {
    B2C_START = 0, /* before messageStart */
    B2C_MESSAGE,   /* in the message: blocks, then messageStop */
    B2C_STOPPED,   /* after messageStop: metadata (usage) may follow */
    B2C_DONE,      /* ended: an error went on, or the end did; nothing more is sent */
};

enum block_kind { BK_NONE = 0, BK_TEXT, BK_REASONING, BK_TOOL, BK_OTHER };

struct b2c_stream {
    struct sl_filter super;
    struct sl_xlate_ctx c;
    struct sl_usage *usage;
    struct sl_usage a; /* Anthropic-shaped counts (input without cache) */
    enum b2c_state state;
    enum block_kind kind; /* of the open block */
    int64_t open_index;   /* its index; -1 when none is open */
    int64_t next_index;   /* the smallest index a new block may have */
    unsigned blocks, tools;
    bool finished;   /* the finish chunk went out */
    bool usage_sent; /* the usage-only chunk went out */
    char id[SL_XLATE_MAX_ID];
    char code[64];
    char why[200];
    struct sl_buf out;
    struct sl_buf head; /* see make_head */
    struct sl_json_w w;
    struct sl__xl x;
};

enum { E_INDEX, E_START, E_DELTA, E_STOP_REASON, E_USAGE, E_N };
static const struct sl_str event_keys[E_N] = {
    [E_INDEX] = SL_STR_INIT("contentBlockIndex"),
    [E_START] = SL_STR_INIT("start"),
    [E_DELTA] = SL_STR_INIT("delta"),
    [E_STOP_REASON] = SL_STR_INIT("stopReason"),
    [E_USAGE] = SL_STR_INIT("usage"),
};

enum { D_TEXT, D_TOOL_USE, D_REASONING, D_N };
static const struct sl_str delta_keys[D_N] = {
    [D_TEXT] = SL_STR_INIT("text"),
    [D_TOOL_USE] = SL_STR_INIT("toolUse"),
    [D_REASONING] = SL_STR_INIT("reasoningContent"),
};

static int decode_error(struct b2c_stream *s)
{
    struct sl_stream_error e = {
        .status = 502,
        .type = "upstream_decode_error",
        .kind = "upstream_decode_error",
        .message = sl_str_from_cstr(s->why),
    };
    s->state = B2C_DONE;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

static int bad(struct b2c_stream *s, const char *msg)
{
    sl__xl_fail(&s->x, "", "%s", msg);
    return decode_error(s);
}

static void chunk_head(struct b2c_stream *s)
{
    sl_buf_reset(&s->out);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "id", sl_str_from_cstr(s->id));
    sl_jw_kstr(&s->w, "object", SL_STRLIT("chat.completion.chunk"));
    sl_jw_kint(&s->w, "created", s->c.created);
    sl_jw_kstr(&s->w, "model", s->c.alias);
}

/* The bytes every delta chunk starts with, up to its delta object: made once, so a chunk costs
 * a copy and its delta. */
static void make_head(struct b2c_stream *s)
{
    chunk_head(s);
    sl_jw_key(&s->w, SL_STRLIT("choices"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_kint(&s->w, "index", 0);
    sl_jw_key(&s->w, SL_STRLIT("delta"));
    sl_buf_reset(&s->head);
    if (sl_buf_append_str(&s->head, sl_buf_str(&s->out)) != SL_OK)
        sl_buf_reset(&s->head); /* at the cap: chunk_end then fails the stream */
}

/* Opens a chunk whose choices[0].delta the caller fills. */
static void chunk_begin(struct b2c_stream *s)
{
    sl_buf_reset(&s->out);
    SL_ASSERT(sl_buf_append_str(&s->out, sl_buf_str(&s->head)) == SL_OK);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
}

static int emit(struct b2c_stream *s)
{
    int rc = sl_jw_finish(&s->w);
    if (rc != SL_OK)
        return rc;
    struct sl_sevent ev = {.name = SL_STR_NULL, .data = sl_buf_str(&s->out), .raw = SL_STR_NULL};
    return sl_filter_event(s->super.next, &ev);
}

static int chunk_end(struct b2c_stream *s, const char *finish)
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
static int delta_string(struct b2c_stream *s, const char *key, const struct sl_json_member *v)
{
    if (v->type != SL_JSON_STRING || v->value.len == 2)
        return SL_OK;
    chunk_begin(s);
    sl_jw_kraw(&s->w, key, v->value);
    return chunk_end(s, NULL);
}

static int usage_chunk(struct b2c_stream *s)
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

static int on_message_start(struct b2c_stream *s)
{
    if (s->state != B2C_START)
        return bad(s, "messageStart after the message started");
    s->state = B2C_MESSAGE;
    chunk_begin(s);
    sl_jw_kstr(&s->w, "role", SL_STRLIT("assistant"));
    sl_jw_kstr(&s->w, "content", SL_STRLIT(""));
    return chunk_end(s, NULL);
}

static int block_index(struct b2c_stream *s, const struct sl_json_member *v, int64_t *out)
{
    uint64_t n;
    if (sl__xl_uint(v, &n) != SL_OK || n > INT32_MAX)
        return bad(s, "contentBlockIndex: expected a block index");
    *out = (int64_t)n;
    return SL_OK;
}

/* Opens block index (which must be new) as kind. */
static int open_block(struct b2c_stream *s, int64_t index, enum block_kind kind)
{
    if (s->kind != BK_NONE || index < s->next_index || s->blocks == SL_XLATE_MAX_BLOCKS)
        return bad(s, "content block out of order, or too many blocks");
    s->blocks++;
    s->kind = kind;
    s->open_index = index;
    s->next_index = index + 1;
    return SL_OK;
}

static int tool_head(struct b2c_stream *s, const struct sl_json_member *start)
{
    static const struct sl_str keys[] = {SL_STR_INIT("toolUseId"), SL_STR_INIT("name")};
    struct sl_json_member f[2];
    if (sl__xl_read(&s->x, "start.toolUse", start, keys, 2, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (f[0].type != SL_JSON_STRING || f[1].type != SL_JSON_STRING)
        return bad(s, "start.toolUse: expected toolUseId and name");
    if (s->tools == SL_XLATE_MAX_TOOL_CALLS)
        return bad(s, "more toolUse blocks than Sluice passes on in one message");
    chunk_begin(s);
    sl_jw_key(&s->w, SL_STRLIT("tool_calls"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_kint(&s->w, "index", s->tools++);
    sl_jw_kraw(&s->w, "id", f[0].value);
    sl_jw_kstr(&s->w, "type", SL_STRLIT("function"));
    sl_jw_key(&s->w, SL_STRLIT("function"));
    sl_jw_obj(&s->w);
    sl_jw_kraw(&s->w, "name", f[1].value);
    sl_jw_kstr(&s->w, "arguments", SL_STRLIT(""));
    sl_jw_obj_end(&s->w);
    sl_jw_obj_end(&s->w);
    sl_jw_arr_end(&s->w);
    return chunk_end(s, NULL);
}

/* Only tool uses (and kinds an OpenAI caller cannot see) announce themselves: text and
 * reasoning blocks begin with their first delta. */
static int on_block_start(struct b2c_stream *s, const struct sl_json_member *e)
{
    static const struct sl_str keys[] = {SL_STR_INIT("toolUse")};
    struct sl_json_member f[1];
    int64_t index = -1;
    int rc;
    if (s->state != B2C_MESSAGE)
        return bad(s, "contentBlockStart outside a message");
    if ((rc = block_index(s, &e[E_INDEX], &index)) != SL_OK)
        return rc;
    if (sl__xl_read(&s->x, "start", &e[E_START], keys, 1, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (!sl__xl_has(&f[0]))
        return open_block(s, index, BK_OTHER); /* toolResult, image: nothing for OpenAI */
    if ((rc = open_block(s, index, BK_TOOL)) != SL_OK)
        return rc;
    return tool_head(s, &f[0]);
}

static int arguments(struct b2c_stream *s, const struct sl_json_member *tool)
{
    static const struct sl_str keys[] = {SL_STR_INIT("input")};
    struct sl_json_member f[1];
    if (sl__xl_read(&s->x, "delta.toolUse", tool, keys, 1, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (f[0].type != SL_JSON_STRING)
        return bad(s, "delta.toolUse: expected input, a string");
    if (f[0].value.len == 2)
        return SL_OK;
    chunk_begin(s);
    sl_jw_key(&s->w, SL_STRLIT("tool_calls"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_kint(&s->w, "index", s->tools - 1);
    sl_jw_key(&s->w, SL_STRLIT("function"));
    sl_jw_obj(&s->w);
    sl_jw_kraw(&s->w, "arguments", f[0].value);
    sl_jw_obj_end(&s->w);
    sl_jw_obj_end(&s->w);
    sl_jw_arr_end(&s->w);
    return chunk_end(s, NULL);
}

/* reasoningContent deltas: text goes on as reasoning_content; signature and redactedContent
 * have no place in an OpenAI chunk. */
static int reasoning(struct b2c_stream *s, const struct sl_json_member *r)
{
    static const struct sl_str keys[] = {SL_STR_INIT("text")};
    struct sl_json_member f[1];
    if (sl__xl_read(&s->x, "delta.reasoningContent", r, keys, 1, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&f[0]) && f[0].type != SL_JSON_STRING)
        return bad(s, "delta.reasoningContent.text: expected a string");
    return delta_string(s, "reasoning_content", &f[0]);
}

/* The block a delta without a start belongs to: the open one, or a new text or reasoning
 * block. */
static int delta_block(struct b2c_stream *s, int64_t index, enum block_kind kind)
{
    if (s->kind == BK_NONE)
        return open_block(s, index, kind);
    if (index != s->open_index)
        return bad(s, "contentBlockDelta for a block that is not open");
    if (s->kind != kind && s->kind != BK_OTHER)
        return bad(s, "contentBlockDelta of another kind than its block");
    return SL_OK;
}

static int on_block_delta(struct b2c_stream *s, const struct sl_json_member *e)
{
    struct sl_json_member d[D_N];
    int64_t index = -1;
    int rc;
    if (s->state != B2C_MESSAGE)
        return bad(s, "contentBlockDelta outside a message");
    if ((rc = block_index(s, &e[E_INDEX], &index)) != SL_OK)
        return rc;
    if (sl__xl_read(&s->x, "delta", &e[E_DELTA], delta_keys, D_N, d, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (d[D_TEXT].type == SL_JSON_STRING) {
        if ((rc = delta_block(s, index, BK_TEXT)) != SL_OK)
            return rc;
        return s->kind == BK_TEXT ? delta_string(s, "content", &d[D_TEXT]) : SL_OK;
    }
    if (sl__xl_has(&d[D_TEXT]))
        return bad(s, "delta.text: expected a string");
    if (sl__xl_has(&d[D_TOOL_USE])) {
        if (s->kind != BK_TOOL || index != s->open_index)
            return bad(s, "delta.toolUse for a block that is not an open toolUse");
        return arguments(s, &d[D_TOOL_USE]);
    }
    if (sl__xl_has(&d[D_REASONING])) {
        if ((rc = delta_block(s, index, BK_REASONING)) != SL_OK)
            return rc;
        return s->kind == BK_REASONING ? reasoning(s, &d[D_REASONING]) : SL_OK;
    }
    /* citations, tool results, images and newer kinds: nothing an OpenAI caller can read, but
       they belong to a block all the same. */
    return delta_block(s, index, BK_OTHER);
}

static int on_block_stop(struct b2c_stream *s, const struct sl_json_member *e)
{
    int64_t index = -1;
    int rc;
    if (s->state != B2C_MESSAGE)
        return bad(s, "contentBlockStop outside a message");
    if ((rc = block_index(s, &e[E_INDEX], &index)) != SL_OK)
        return rc;
    if (s->kind == BK_NONE && index >= s->next_index) {
        s->next_index = index + 1; /* an empty block: nothing came in it, not even a start */
        return SL_OK;
    }
    if (index != s->open_index || s->kind == BK_NONE)
        return bad(s, "contentBlockStop for a block that is not open");
    s->kind = BK_NONE;
    s->open_index = -1;
    return SL_OK;
}

static int on_message_stop(struct b2c_stream *s, const struct sl_json_member *e)
{
    if (s->state != B2C_MESSAGE)
        return bad(s, "messageStop outside a message");
    if (e[E_STOP_REASON].type != SL_JSON_STRING)
        return bad(s, "messageStop: expected stopReason, a string");
    s->state = B2C_STOPPED;
    s->finished = true;
    chunk_begin(s);
    return chunk_end(s, sl__xl_finish_of_converse(sl__xl_inner(&e[E_STOP_REASON])));
}

/* metadata: the usage, after messageStop. */
static int on_metadata(struct b2c_stream *s, const struct sl_json_member *e)
{
    if (s->state == B2C_START)
        return bad(s, "metadata before the message");
    if (sl__xl_has(&e[E_USAGE]) &&
        sl__xl_converse_usage(&s->x, "usage", &e[E_USAGE], &s->a) != SL_OK)
        return decode_error(s);
    sl__xl_usage_from_anthropic(&s->a, s->usage);
    return usage_chunk(s);
}

/* An exception: the stream ends with it, in the caller's dialect (the encoder renders it). */
static int on_exception(struct b2c_stream *s, const struct sl_stream_error *err)
{
    s->state = B2C_DONE;
    int rc = sl_filter_error(s->super.next, err);
    return rc < 0 ? rc : SL_DONE;
}

static int on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct b2c_stream *s = SL_CONTAINER_OF(f, struct b2c_stream, super);
    struct sl_json_member e[E_N];
    struct sl_stream_error err;
    if (s->state == B2C_DONE)
        return SL_DONE;
    if (sl__xl_bedrock_exception(&s->x, ev->name, ev->data, &err, s->code, sizeof(s->code)))
        return on_exception(s, &err);
    if (sl__xl_read_doc(&s->x, ev->data, event_keys, E_N, e, NULL, NULL) != SL_OK)
        return decode_error(s);
    const struct sl_str name = ev->name;
    if (sl_str_eq_lit(name, "contentBlockDelta"))
        return on_block_delta(s, e);
    if (sl_str_eq_lit(name, "contentBlockStart"))
        return on_block_start(s, e);
    if (sl_str_eq_lit(name, "contentBlockStop"))
        return on_block_stop(s, e);
    if (sl_str_eq_lit(name, "messageStart"))
        return on_message_start(s);
    if (sl_str_eq_lit(name, "messageStop"))
        return on_message_stop(s, e);
    if (sl_str_eq_lit(name, "metadata"))
        return on_metadata(s, e);
    return SL_OK; /* event kinds added after this was written: nothing for the caller */
}

static int on_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct b2c_stream *s = SL_CONTAINER_OF(f, struct b2c_stream, super);
    if (s->state == B2C_DONE)
        return SL_OK; /* this stage already ended the stream */
    s->state = B2C_DONE;
    return sl_filter_pass_error(f, err);
}

/* The upstream's stream ended cleanly. Without a messageStop the reply is cut short: a model
 * that was stopped mid-message must not look finished to the caller. */
static int on_end(struct sl_filter *f)
{
    struct b2c_stream *s = SL_CONTAINER_OF(f, struct b2c_stream, super);
    int rc;
    if (s->state == B2C_DONE)
        return SL_OK;
    if (!s->finished) {
        rc = bad(s, "the stream ended before messageStop");
        return rc < 0 ? rc : SL_OK;
    }
    if ((rc = usage_chunk(s)) < 0)
        return rc;
    s->state = B2C_DONE;
    return sl_filter_pass_end(f);
}

static const struct sl_filter_ops b2c_ops = {
    .on_event = on_event,
    .on_error = on_error,
    .on_end = on_end,
};

static void dispose(void *p)
{
    struct b2c_stream *s = p;
    sl_buf_dispose(&s->out);
    sl_buf_dispose(&s->head);
    sl__xl_dispose(&s->x);
}

struct sl_filter *sl__xlate_converse_to_chat_stream(h2o_mem_pool_t *pool,
                                                    const struct sl_xlate_ctx *c,
                                                    struct sl_usage *usage, struct sl_filter *next)
{
    struct b2c_stream *s = h2o_mem_alloc_shared(pool, sizeof(*s), dispose);
    s->super = (struct sl_filter){.ops = &b2c_ops, .next = next};
    s->c = *c;
    s->usage = usage;
    s->a = SL_USAGE_UNKNOWN;
    *usage = SL_USAGE_UNKNOWN;
    s->state = B2C_START;
    s->kind = BK_NONE;
    s->open_index = -1;
    s->next_index = 0;
    s->blocks = s->tools = 0;
    s->finished = s->usage_sent = false;
    /* Converse streams carry no id: the request's own names the completion. */
    snprintf(s->id, sizeof(s->id), "chatcmpl-%.*s", (int)SL_MIN(c->id_seed.len, (size_t)200),
             c->id_seed.ptr);
    s->code[0] = '\0';
    sl_buf_init(&s->out, EVENT_OUT_CAP);
    sl_buf_init(&s->head, 64 << 10);
    sl__xl_init(&s->x, s->why, sizeof(s->why), EVENT_OUT_CAP);
    make_head(s);
    return &s->super;
}
