/* Stream stage: OpenAI chat.completion.chunk events -> Anthropic Messages events (a Claude SDK
 * caller streaming from an OpenAI-compatible model). The encoder after this stage writes the
 * events and message_stop at the end; this stage drops the upstream's [DONE]. Decisions in
 * docs/translation.md. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/filter.h"
#include "xlate_internal.h"

#define EVENT_OUT_CAP (16u << 20)

/* Where the stream is; every event handler checks it. */
enum c2a_state {
    C2A_START = 0, /* nothing sent yet */
    C2A_MESSAGE,   /* message_start sent; blocks open and close */
    C2A_FINISHED,  /* a finish_reason came: blocks closed, message_delta held for the usage */
    C2A_DELTA,     /* message_delta sent: the rest of the upstream stream is ignored */
    C2A_DONE,      /* ended (error or end passed on) */
};

enum block_kind { BK_NONE = 0, BK_TEXT, BK_THINKING, BK_TOOL };

struct c2a_stream {
    struct sl_filter super;
    struct sl_xlate_ctx c;
    struct sl_usage *usage; /* OpenAI-shaped counts, as struct sl_usage means them */
    enum c2a_state state;
    enum block_kind kind; /* of the open block */
    int64_t next_index;   /* index of the next Anthropic block */
    int64_t tool;         /* OpenAI index of the open (or last) tool call; -1 before any */
    unsigned tools;
    const char *stop;
    char err_type[64];
    char why[200];
    struct sl_buf out;
    struct sl_json_w w;
    struct sl__xl x;
};

static int decode_error(struct c2a_stream *s)
{
    struct sl_stream_error e = {
        .status = 502,
        .type = "upstream_decode_error",
        .kind = "upstream_decode_error",
        .message = sl_str_from_cstr(s->why),
    };
    s->state = C2A_DONE;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

static int bad(struct c2a_stream *s, const char *msg)
{
    sl__xl_fail(&s->x, "", "%s", msg);
    return decode_error(s);
}

/* Starts an event's data: {"type":NAME, ... */
static void event_begin(struct c2a_stream *s, const char *name)
{
    sl_buf_reset(&s->out);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "type", sl_str_from_cstr(name));
}

static int event_end(struct c2a_stream *s, const char *name)
{
    sl_jw_obj_end(&s->w);
    int rc = sl_jw_finish(&s->w);
    if (rc != SL_OK)
        return rc;
    struct sl_sevent ev = {.name = sl_str_from_cstr(name), .data = sl_buf_str(&s->out)};
    return sl_filter_event(s->super.next, &ev);
}

static int message_start(struct c2a_stream *s, const struct sl_json_member *id)
{
    if (s->state != C2A_START)
        return SL_OK;
    s->state = C2A_MESSAGE;
    event_begin(s, "message_start");
    sl_jw_key(&s->w, SL_STRLIT("message"));
    sl_jw_obj(&s->w);
    sl__xl_write_msg_id(&s->w, id, s->c.id_seed);
    sl_jw_kstr(&s->w, "type", SL_STRLIT("message"));
    sl_jw_kstr(&s->w, "role", SL_STRLIT("assistant"));
    sl_jw_kstr(&s->w, "model", s->c.alias);
    sl_jw_key(&s->w, SL_STRLIT("content"));
    sl_jw_arr(&s->w);
    sl_jw_arr_end(&s->w);
    sl_jw_key(&s->w, SL_STRLIT("stop_reason"));
    sl_jw_null(&s->w);
    sl_jw_key(&s->w, SL_STRLIT("stop_sequence"));
    sl_jw_null(&s->w);
    /* OpenAI reports usage at the end; message_delta carries it then. */
    sl__xl_write_anthropic_usage(&s->w, s->usage, false);
    sl_jw_obj_end(&s->w);
    return event_end(s, "message_start");
}

static int block_stop(struct c2a_stream *s)
{
    if (s->kind == BK_NONE)
        return SL_OK;
    s->kind = BK_NONE;
    event_begin(s, "content_block_stop");
    sl_jw_kint(&s->w, "index", s->next_index - 1);
    return event_end(s, "content_block_stop");
}

/* Closes the open block and starts one of kind k; the caller writes content_block's members. */
static int block_start(struct c2a_stream *s, enum block_kind k)
{
    int rc = block_stop(s);
    if (rc != SL_OK)
        return rc;
    if (s->next_index == SL_XLATE_MAX_BLOCKS)
        return bad(s, "more content blocks than Sluice passes on in one message");
    s->kind = k;
    event_begin(s, "content_block_start");
    sl_jw_kint(&s->w, "index", s->next_index++);
    sl_jw_key(&s->w, SL_STRLIT("content_block"));
    sl_jw_obj(&s->w);
    return SL_OK;
}

static int block_start_end(struct c2a_stream *s)
{
    sl_jw_obj_end(&s->w);
    return event_end(s, "content_block_start");
}

/* A delta of kind k (opening a block of that kind first when needed) with one string member. */
static int delta(struct c2a_stream *s, enum block_kind k, const struct sl_json_member *v)
{
    static const char *const block_type[] = {[BK_TEXT] = "text", [BK_THINKING] = "thinking"};
    static const char *const delta_type[] = {
        [BK_TEXT] = "text_delta", [BK_THINKING] = "thinking_delta"};
    int rc;
    if (v->type != SL_JSON_STRING || v->value.len == 2)
        return sl__xl_has(v) && v->type != SL_JSON_STRING ? bad(s, "delta: expected strings")
                                                          : SL_OK;
    if (s->kind != k) {
        if ((rc = block_start(s, k)) != SL_OK)
            return rc;
        sl_jw_kstr(&s->w, "type", sl_str_from_cstr(block_type[k]));
        sl_jw_kstr(&s->w, block_type[k], SL_STRLIT(""));
        /* No signature exists for an OpenAI-compatible model's reasoning. */
        if (k == BK_THINKING)
            sl_jw_kstr(&s->w, "signature", SL_STRLIT(""));
        if ((rc = block_start_end(s)) != SL_OK)
            return rc;
    }
    event_begin(s, "content_block_delta");
    sl_jw_kint(&s->w, "index", s->next_index - 1);
    sl_jw_key(&s->w, SL_STRLIT("delta"));
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "type", sl_str_from_cstr(delta_type[k]));
    sl_jw_kraw(&s->w, block_type[k], v->value);
    sl_jw_obj_end(&s->w);
    return event_end(s, "content_block_delta");
}

static int tool_start(struct c2a_stream *s, int64_t index, const struct sl_json_member *id,
                      const struct sl_json_member *name)
{
    int rc;
    if (index < s->tool)
        return bad(s, "tool_calls: a delta for an earlier call after a later one started");
    if (name->type != SL_JSON_STRING)
        return bad(s, "tool_calls: a call starts without function.name");
    if (s->tools == SL_XLATE_MAX_TOOL_CALLS)
        return bad(s, "more tool calls than Sluice passes on in one message");
    s->tools++;
    s->tool = index;
    if ((rc = block_start(s, BK_TOOL)) != SL_OK)
        return rc;
    sl_jw_kstr(&s->w, "type", SL_STRLIT("tool_use"));
    if (id->type == SL_JSON_STRING && id->value.len > 2) {
        sl_jw_kraw(&s->w, "id", id->value);
    } else {
        char made[SL_XLATE_MAX_ID];
        snprintf(made, sizeof(made), "toolu_%.*s_%lld", (int)SL_MIN(s->c.id_seed.len, (size_t)200),
                 s->c.id_seed.ptr, (long long)index);
        sl_jw_kstr(&s->w, "id", sl_str_from_cstr(made));
    }
    sl_jw_kraw(&s->w, "name", name->value);
    sl_jw_key(&s->w, SL_STRLIT("input"));
    sl_jw_obj(&s->w);
    sl_jw_obj_end(&s->w);
    return block_start_end(s);
}

static int tool_call(struct c2a_stream *s, const struct sl_json_member *call)
{
    static const struct sl_str keys[] = {SL_STR_INIT("index"), SL_STR_INIT("id"),
                                         SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("arguments")};
    struct sl_json_member f[3], fn[2] = {{.type = SL_JSON_ABSENT}, {.type = SL_JSON_ABSENT}};
    uint64_t index;
    int rc;
    if (sl__xl_read(&s->x, "tool_calls[]", call, keys, 3, f, NULL, NULL) != SL_OK ||
        (sl__xl_has(&f[2]) &&
         sl__xl_read(&s->x, "tool_calls[].function", &f[2], f_keys, 2, fn, NULL, NULL) != SL_OK))
        return decode_error(s);
    if (sl__xl_uint(&f[0], &index) != SL_OK || index > INT32_MAX)
        return bad(s, "tool_calls[].index: expected an index");
    if (s->kind != BK_TOOL || (int64_t)index != s->tool) {
        if ((rc = tool_start(s, (int64_t)index, &f[1], &fn[0])) != SL_OK)
            return rc;
    }
    if (!sl__xl_has(&fn[1]) || fn[1].value.len == 2)
        return SL_OK;
    if (fn[1].type != SL_JSON_STRING)
        return bad(s, "tool_calls[].function.arguments: expected a string");
    event_begin(s, "content_block_delta");
    sl_jw_kint(&s->w, "index", s->next_index - 1);
    sl_jw_key(&s->w, SL_STRLIT("delta"));
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "type", SL_STRLIT("input_json_delta"));
    sl_jw_kraw(&s->w, "partial_json", fn[1].value);
    sl_jw_obj_end(&s->w);
    return event_end(s, "content_block_delta");
}

static int message_delta(struct c2a_stream *s)
{
    s->state = C2A_DELTA;
    event_begin(s, "message_delta");
    sl_jw_key(&s->w, SL_STRLIT("delta"));
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "stop_reason", sl_str_from_cstr(s->stop));
    sl_jw_key(&s->w, SL_STRLIT("stop_sequence"));
    sl_jw_null(&s->w);
    sl_jw_obj_end(&s->w);
    sl__xl_write_anthropic_usage(&s->w, s->usage, true);
    return event_end(s, "message_delta");
}

/* The upstream is done ([DONE], or its end): whatever was held goes out. */
static int finish(struct c2a_stream *s)
{
    int rc;
    if (s->state == C2A_DELTA || s->state == C2A_DONE)
        return SL_OK;
    if ((rc = message_start(s, NULL)) != SL_OK || (rc = block_stop(s)) != SL_OK)
        return rc;
    if (s->stop == NULL)
        s->stop = "end_turn"; /* a stream that ended cleanly without saying why */
    return message_delta(s);
}

enum { D_CONTENT, D_REASONING, D_REFUSAL, D_TOOL_CALLS, D_N };
static const struct sl_str delta_keys[D_N] = {
    [D_CONTENT] = SL_STR_INIT("content"),
    [D_REASONING] = SL_STR_INIT("reasoning_content"),
    [D_REFUSAL] = SL_STR_INIT("refusal"),
    [D_TOOL_CALLS] = SL_STR_INIT("tool_calls"),
};

static int choice(struct c2a_stream *s, const struct sl_json_member *ch)
{
    static const struct sl_str keys[] = {SL_STR_INIT("delta"), SL_STR_INIT("finish_reason")};
    struct sl_json_member f[2], d[D_N], call;
    struct sl__xl_it it;
    int rc;
    if (sl__xl_read(&s->x, "choices[0]", ch, keys, 2, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&f[0])) {
        if (sl__xl_read(&s->x, "choices[0].delta", &f[0], delta_keys, D_N, d, NULL, NULL) != SL_OK)
            return decode_error(s);
        if ((rc = delta(s, BK_THINKING, &d[D_REASONING])) != SL_OK ||
            (rc = delta(s, BK_TEXT, &d[D_CONTENT])) != SL_OK ||
            (rc = delta(s, BK_TEXT, &d[D_REFUSAL])) != SL_OK)
            return rc;
        if (d[D_REFUSAL].type == SL_JSON_STRING && d[D_REFUSAL].value.len > 2)
            s->stop = "refusal";
        if (sl__xl_has(&d[D_TOOL_CALLS])) {
            if (d[D_TOOL_CALLS].type != SL_JSON_ARRAY)
                return bad(s, "delta.tool_calls: expected an array");
            sl__xl_iter(&it, &d[D_TOOL_CALLS]);
            while (sl__xl_next(&it, NULL, &call) == 1)
                if ((rc = tool_call(s, &call)) != SL_OK)
                    return rc;
        }
    }
    if (f[1].type == SL_JSON_STRING) {
        if (s->stop == NULL)
            s->stop = sl__xl_stop_of_finish(sl__xl_inner(&f[1]));
        s->state = C2A_FINISHED;
        return block_stop(s);
    }
    return sl__xl_has(&f[1]) ? bad(s, "finish_reason: expected a string") : SL_OK;
}

static int upstream_error(struct c2a_stream *s, const struct sl_json_member *err)
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
    s->state = C2A_DONE;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

enum { K_ID, K_CHOICES, K_USAGE, K_ERROR, K_N };
static const struct sl_str chunk_keys[K_N] = {
    [K_ID] = SL_STR_INIT("id"),
    [K_CHOICES] = SL_STR_INIT("choices"),
    [K_USAGE] = SL_STR_INIT("usage"),
    [K_ERROR] = SL_STR_INIT("error"),
};

static int on_chunk(struct c2a_stream *s, const struct sl_json_member *k)
{
    struct sl__xl_it it;
    struct sl_json_member ch;
    int rc;
    if ((rc = message_start(s, &k[K_ID])) != SL_OK)
        return rc;
    if (sl__xl_has(&k[K_USAGE]) &&
        sl__xl_chat_usage(&s->x, "usage", &k[K_USAGE], s->usage) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&k[K_CHOICES])) {
        if (k[K_CHOICES].type != SL_JSON_ARRAY)
            return bad(s, "choices: expected an array");
        /* Only choices[0]: the request never asks for more. */
        sl__xl_iter(&it, &k[K_CHOICES]);
        if (s->state != C2A_FINISHED && sl__xl_next(&it, NULL, &ch) == 1 &&
            (rc = choice(s, &ch)) != SL_OK)
            return rc;
    }
    /* The usage-only chunk follows the finish chunk when include_usage was asked for (it always
       is); some upstreams put usage in the finish chunk itself. */
    if (s->state == C2A_FINISHED && sl__xl_has(&k[K_USAGE]))
        return message_delta(s);
    return SL_OK;
}

static int on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct c2a_stream *s = SL_CONTAINER_OF(f, struct c2a_stream, super);
    struct sl_json_member k[K_N];
    if (s->state == C2A_DONE)
        return SL_DONE;
    if (sl_str_eq_lit(sl_str_trim(ev->data), "[DONE]"))
        return finish(s);
    if (s->state == C2A_DELTA)
        return SL_OK;
    if (ev->data.len == 0)
        return SL_OK; /* comments, and events without data */
    if (sl__xl_read_doc(&s->x, ev->data, chunk_keys, K_N, k, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&k[K_ERROR]))
        return upstream_error(s, &k[K_ERROR]);
    return on_chunk(s, k);
}

static int on_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct c2a_stream *s = SL_CONTAINER_OF(f, struct c2a_stream, super);
    if (s->state == C2A_DONE)
        return SL_OK;
    s->state = C2A_DONE;
    return sl_filter_pass_error(f, err);
}

static int on_end(struct sl_filter *f)
{
    struct c2a_stream *s = SL_CONTAINER_OF(f, struct c2a_stream, super);
    int rc;
    if (s->state == C2A_DONE)
        return SL_OK;
    if ((rc = finish(s)) < 0)
        return rc;
    if (s->state == C2A_DONE)
        return SL_OK; /* finish met an error and ended the stream with it */
    s->state = C2A_DONE;
    return sl_filter_pass_end(f);
}

static const struct sl_filter_ops c2a_ops = {
    .on_event = on_event,
    .on_error = on_error,
    .on_end = on_end,
};

static void dispose(void *p)
{
    struct c2a_stream *s = p;
    sl_buf_dispose(&s->out);
    sl__xl_dispose(&s->x);
}

struct sl_filter *sl__xlate_chat_to_anthropic_stream(h2o_mem_pool_t *pool,
                                                     const struct sl_xlate_ctx *c,
                                                     struct sl_usage *usage, struct sl_filter *next)
{
    struct c2a_stream *s = h2o_mem_alloc_shared(pool, sizeof(*s), dispose);
    s->super = (struct sl_filter){.ops = &c2a_ops, .next = next};
    s->c = *c;
    s->usage = usage;
    *usage = SL_USAGE_UNKNOWN;
    s->state = C2A_START;
    s->kind = BK_NONE;
    s->next_index = 0;
    s->tool = -1;
    s->tools = 0;
    s->stop = NULL;
    s->err_type[0] = '\0';
    sl_buf_init(&s->out, EVENT_OUT_CAP);
    sl__xl_init(&s->x, s->why, sizeof(s->why), EVENT_OUT_CAP);
    return &s->super;
}
