/* Stream stage: OpenAI chat.completion.chunk events -> Responses API events (a Responses caller
 * streaming from a chat-only model). Each chunk becomes its events at once:
 *
 *   response.created, response.in_progress                      (first chunk)
 *   response.output_item.added, response.content_part.added     (an item starts)
 *   response.output_text.delta | response.refusal.delta |
 *   response.reasoning_text.delta | response.function_call_arguments.delta
 *   ...done events, response.content_part.done, response.output_item.done (it ends)
 *   response.completed | response.incomplete                    (after the usage chunk)
 *
 * every event with its sequence_number, counted from 0. The .done events and the final
 * response object repeat each item whole, so the stage keeps the text of the items it has sent
 * (capped by RX_KEEP_MAX); the events themselves go on as they come. Failures go to the
 * encoder, which closes the stream with response.failed. Decisions in docs/responses.md. */
#include <stdio.h>
#include <string.h>

#include "responses_internal.h"
#include "sluice/base.h"
#include "sluice/filter.h"
#include "xlate_internal.h"

#define EVENT_OUT_CAP (16u << 20)
/* The text all items of one response may hold for the final event (Sluice's JSON replies are
 * capped at upstream.max_response_bytes, 64 MiB by default; a stream's text is kept only for
 * the repeat at its end). */
#define RX_KEEP_MAX (32u << 20)
#define MAX_ITEMS   (SL_XLATE_MAX_TOOL_CALLS + 64)

/* Where the stream is; every handler checks it. */
enum c2r_state {
    C2R_START = 0, /* nothing sent yet */
    C2R_OPEN,      /* response.created sent; items open and close */
    C2R_FINISHED,  /* a finish_reason came: items closed, the final event waits for the usage */
    C2R_DONE,      /* the final event went out, or the stream ended with an error */
};

/* What the caller has been sent of one item. */
struct item {
    enum sl__rx_item kind;
    int64_t index;         /* its output_index: where it is in the stage's items */
    struct sl_str id_json; /* its id as a JSON string, in the pool: every delta event names it */
    bool refusal;          /* a message item whose content part is a refusal */
    int64_t tool;          /* function_call: the chat tool_calls index */
    struct sl_str call_id; /* function_call: JSON tokens, in the pool */
    struct sl_str name;
    size_t text_at, text_len; /* its text (escaped, as received) within the stage's keep buffer */
};

struct c2r_stream {
    struct sl_filter super;
    struct sl_xlate_ctx c;
    h2o_mem_pool_t *pool;
    struct sl_usage *usage;
    enum c2r_state state;
    bool ended; /* an error or the end was passed on: nothing more goes out */
    enum sl__rx_status status;
    int64_t seq;
    struct item *items[MAX_ITEMS];
    size_t n_items;
    struct item *open; /* the item taking deltas, or NULL */
    unsigned tools;
    char err_type[64];
    char why[200];
    struct sl_buf keep; /* the text of every item, one after the other */
    struct sl_buf out;  /* the event being written */
    struct sl_json_w w;
    struct sl__xl x;
};

static int decode_error(struct c2r_stream *s)
{
    struct sl_stream_error e = {
        .status = 502,
        .type = "upstream_decode_error",
        .kind = "upstream_decode_error",
        .message = sl_str_from_cstr(s->why),
    };
    s->state = C2R_DONE;
    s->ended = true;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

static int bad(struct c2r_stream *s, const char *msg)
{
    sl__xl_fail(&s->x, "", "%s", msg);
    return decode_error(s);
}

/* ---- events ---- */

static void event_begin(struct c2r_stream *s, const char *name)
{
    sl_buf_reset(&s->out);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "type", sl_str_from_cstr(name));
}

static int event_end(struct c2r_stream *s, const char *name)
{
    sl_jw_kint(&s->w, "sequence_number", s->seq++);
    sl_jw_obj_end(&s->w);
    int rc = sl_jw_finish(&s->w);
    if (rc != SL_OK)
        return rc;
    struct sl_sevent ev = {.name = sl_str_from_cstr(name), .data = sl_buf_str(&s->out)};
    return sl_filter_event(s->super.next, &ev);
}

static struct sl_str text_of(const struct c2r_stream *s, const struct item *it)
{
    if (it->text_len == 0)
        return SL_STRLIT(""); /* keep may have no storage yet */
    return sl_str_init(s->keep.ptr + it->text_at, it->text_len);
}

static int64_t index_of(const struct c2r_stream *s, const struct item *it)
{
    SL_ASSERT(it->index >= 0 && (size_t)it->index < s->n_items && s->items[it->index] == it);
    return it->index;
}

/* The item as output_item events and the final response show it. */
static void write_item(struct c2r_stream *s, const struct item *it, bool done)
{
    int64_t n = index_of(s, it);
    struct sl_str text = text_of(s, it);
    switch (it->kind) {
    case SL__RX_MESSAGE:
        sl__rx_write_message(&s->w, &s->c, n, done, it->refusal ? NULL : &text,
                             it->refusal ? &text : NULL);
        break;
    case SL__RX_REASONING:
        sl__rx_write_reasoning(&s->w, &s->c, n, done, text);
        break;
    case SL__RX_FUNCTION_CALL:
        sl__rx_write_function_call(&s->w, &s->c, n, done, it->call_id, it->name, text);
        break;
    }
}

/* The members of the item events that name the item. */
static void item_ref(struct c2r_stream *s, const struct item *it, bool content_index)
{
    sl_jw_kraw(&s->w, "item_id", it->id_json);
    sl_jw_kint(&s->w, "output_index", index_of(s, it));
    if (content_index)
        sl_jw_kint(&s->w, "content_index", 0);
}

static void write_response(struct c2r_stream *s, bool final)
{
    sl_jw_key(&s->w, SL_STRLIT("response"));
    sl_jw_obj(&s->w);
    sl__rx_write_head(&s->w, &s->c, !final, s->status);
    sl_jw_key(&s->w, SL_STRLIT("output"));
    sl_jw_arr(&s->w);
    for (size_t i = 0; final && i < s->n_items; i++)
        write_item(s, s->items[i], true);
    sl_jw_arr_end(&s->w);
    if (final) {
        sl__rx_write_usage(&s->w, s->usage);
    } else {
        sl_jw_key(&s->w, SL_STRLIT("usage"));
        sl_jw_null(&s->w);
    }
    sl_jw_obj_end(&s->w);
}

static int response_start(struct c2r_stream *s)
{
    int rc;
    if (s->state != C2R_START)
        return SL_OK;
    s->state = C2R_OPEN;
    event_begin(s, "response.created");
    write_response(s, false);
    if ((rc = event_end(s, "response.created")) != SL_OK)
        return rc;
    event_begin(s, "response.in_progress");
    write_response(s, false);
    return event_end(s, "response.in_progress");
}

/* The part an item's content holds, for content_part events (the text when done). */
static void write_part(struct c2r_stream *s, const struct item *it, bool done)
{
    struct sl_str text = done ? text_of(s, it) : SL_STR_NULL;
    sl_jw_key(&s->w, SL_STRLIT("part"));
    sl_jw_obj(&s->w);
    if (it->kind == SL__RX_REASONING) {
        sl_jw_kstr(&s->w, "type", SL_STRLIT("reasoning_text"));
    } else if (it->refusal) {
        sl_jw_kstr(&s->w, "type", SL_STRLIT("refusal"));
    } else {
        sl_jw_kstr(&s->w, "type", SL_STRLIT("output_text"));
        sl_jw_key(&s->w, SL_STRLIT("annotations"));
        sl_jw_arr(&s->w);
        sl_jw_arr_end(&s->w);
        sl_jw_key(&s->w, SL_STRLIT("logprobs"));
        sl_jw_arr(&s->w);
        sl_jw_arr_end(&s->w);
    }
    sl_jw_key(&s->w, it->refusal ? SL_STRLIT("refusal") : SL_STRLIT("text"));
    sl_jw_str_begin(&s->w);
    sl_jw_str_raw(&s->w, text);
    sl_jw_str_end(&s->w);
    sl_jw_obj_end(&s->w);
}

static const char *done_event(const struct item *it)
{
    if (it->kind == SL__RX_REASONING)
        return "response.reasoning_text.done";
    if (it->kind == SL__RX_FUNCTION_CALL)
        return "response.function_call_arguments.done";
    return it->refusal ? "response.refusal.done" : "response.output_text.done";
}

/* Ends the open item: its .done events, with the whole text. */
static int item_close(struct c2r_stream *s)
{
    struct item *it = s->open;
    const char *name = NULL;
    int rc;
    if (it == NULL)
        return SL_OK;
    s->open = NULL;
    name = done_event(it);
    event_begin(s, name);
    item_ref(s, it, it->kind != SL__RX_FUNCTION_CALL);
    if (it->kind == SL__RX_FUNCTION_CALL) {
        sl_jw_kraw(&s->w, "name", it->name);
        sl_jw_key(&s->w, SL_STRLIT("arguments"));
    } else {
        sl_jw_key(&s->w, it->refusal ? SL_STRLIT("refusal") : SL_STRLIT("text"));
    }
    sl_jw_str_begin(&s->w);
    sl_jw_str_raw(&s->w, text_of(s, it));
    sl_jw_str_end(&s->w);
    if (it->kind == SL__RX_MESSAGE && !it->refusal) {
        sl_jw_key(&s->w, SL_STRLIT("logprobs"));
        sl_jw_arr(&s->w);
        sl_jw_arr_end(&s->w);
    }
    if ((rc = event_end(s, name)) != SL_OK)
        return rc;
    if (it->kind != SL__RX_FUNCTION_CALL) {
        event_begin(s, "response.content_part.done");
        item_ref(s, it, true);
        write_part(s, it, true);
        if ((rc = event_end(s, "response.content_part.done")) != SL_OK)
            return rc;
    }
    event_begin(s, "response.output_item.done");
    sl_jw_kint(&s->w, "output_index", index_of(s, it));
    sl_jw_key(&s->w, SL_STRLIT("item"));
    write_item(s, it, true);
    return event_end(s, "response.output_item.done");
}

/* Opens an item of kind (closing the open one): output_item.added and, for text-bearing
 * items, content_part.added. */
static int item_open(struct c2r_stream *s, enum sl__rx_item kind, bool refusal, struct item **out)
{
    int rc;
    if ((rc = item_close(s)) != SL_OK)
        return rc;
    if (s->n_items == MAX_ITEMS)
        return bad(s, "more output items than Sluice passes on in one response");
    static const char *const prefix[] = {
        [SL__RX_MESSAGE] = "msg", [SL__RX_REASONING] = "rs", [SL__RX_FUNCTION_CALL] = "fc"};
    struct item *it = h2o_mem_alloc_pool(s->pool, sizeof(*it));
    *it = (struct item){.kind = kind,
                        .index = (int64_t)s->n_items,
                        .refusal = refusal,
                        .tool = -1,
                        .text_at = s->keep.len};
    /* The id as sl__rx_write_message and its siblings write it, made once (writing it costs
       more than the rest of a delta event). */
    struct sl_buf idb;
    struct sl_json_w w;
    sl_buf_init(&idb, s->c.id_seed.len * 6 + 64);
    sl_jw_init(&w, &idb);
    sl__rx_write_id_value(&w, prefix[kind], s->c.id_seed, it->index);
    SL_ASSERT(sl_jw_finish(&w) == SL_OK);
    it->id_json = sl_str_from_iov(h2o_strdup(s->pool, idb.ptr, idb.len));
    sl_buf_dispose(&idb);
    s->items[s->n_items++] = it;
    s->open = it;
    *out = it;
    return SL_OK;
}

static int item_announce(struct c2r_stream *s, struct item *it)
{
    int rc;
    event_begin(s, "response.output_item.added");
    sl_jw_kint(&s->w, "output_index", index_of(s, it));
    sl_jw_key(&s->w, SL_STRLIT("item"));
    write_item(s, it, false);
    if ((rc = event_end(s, "response.output_item.added")) != SL_OK ||
        it->kind == SL__RX_FUNCTION_CALL)
        return rc;
    event_begin(s, "response.content_part.added");
    item_ref(s, it, true);
    write_part(s, it, false);
    return event_end(s, "response.content_part.added");
}

/* Keeps a delta's text for the .done events; the stream fails past RX_KEEP_MAX. */
static int keep(struct c2r_stream *s, struct item *it, struct sl_str inner)
{
    if (sl_buf_append(&s->keep, inner.ptr, inner.len) != SL_OK)
        return bad(s, "the response is longer than Sluice keeps to repeat in its final event");
    it->text_len += inner.len;
    return SL_OK;
}

static const char *delta_event(const struct item *it)
{
    if (it->kind == SL__RX_REASONING)
        return "response.reasoning_text.delta";
    if (it->kind == SL__RX_FUNCTION_CALL)
        return "response.function_call_arguments.delta";
    return it->refusal ? "response.refusal.delta" : "response.output_text.delta";
}

/* A delta for the open item (the caller opened it). */
static int item_delta(struct c2r_stream *s, struct item *it, const struct sl_json_member *v)
{
    const char *name = delta_event(it);
    int rc;
    if ((rc = keep(s, it, sl__xl_inner(v))) != SL_OK)
        return rc;
    event_begin(s, name);
    item_ref(s, it, it->kind != SL__RX_FUNCTION_CALL);
    sl_jw_kraw(&s->w, "delta", v->value);
    if (it->kind == SL__RX_MESSAGE && !it->refusal) {
        sl_jw_key(&s->w, SL_STRLIT("logprobs"));
        sl_jw_arr(&s->w);
        sl_jw_arr_end(&s->w);
    }
    return event_end(s, name);
}

/* Text, refusal or reasoning: continues the open item of that kind, or opens one. */
static int text_delta(struct c2r_stream *s, enum sl__rx_item kind, bool refusal,
                      const struct sl_json_member *v)
{
    struct item *it = s->open;
    int rc;
    if (v->type != SL_JSON_STRING || v->value.len == 2)
        return sl__xl_has(v) && v->type != SL_JSON_STRING ? bad(s, "delta: expected strings")
                                                          : SL_OK;
    if (it == NULL || it->kind != kind || it->refusal != refusal) {
        if ((rc = item_open(s, kind, refusal, &it)) != SL_OK ||
            (rc = item_announce(s, it)) != SL_OK)
            return rc;
    }
    return item_delta(s, it, v);
}

static int tool_start(struct c2r_stream *s, int64_t index, const struct sl_json_member *id,
                      const struct sl_json_member *name, struct item **out)
{
    char made[SL_XLATE_MAX_ID];
    struct item *it;
    int rc;
    for (size_t i = 0; i < s->n_items; i++)
        if (s->items[i]->kind == SL__RX_FUNCTION_CALL && s->items[i]->tool >= index)
            return bad(s, "tool_calls: a delta for an earlier call after a later one started");
    if (name->type != SL_JSON_STRING)
        return bad(s, "tool_calls: a call starts without function.name");
    if (s->tools == SL_XLATE_MAX_TOOL_CALLS)
        return bad(s, "more tool calls than Sluice passes on in one response");
    if ((rc = item_open(s, SL__RX_FUNCTION_CALL, false, &it)) != SL_OK)
        return rc;
    s->tools++;
    it->tool = index;
    it->name = sl_str_from_iov(h2o_strdup(s->pool, name->value.ptr, name->value.len));
    if (id->type == SL_JSON_STRING && id->value.len > 2) {
        it->call_id = sl_str_from_iov(h2o_strdup(s->pool, id->value.ptr, id->value.len));
    } else {
        int n = snprintf(made, sizeof(made), "\"call_%.*s_%lld\"",
                         (int)SL_MIN(s->c.id_seed.len, (size_t)200), s->c.id_seed.ptr,
                         (long long)index);
        it->call_id = sl_str_from_iov(h2o_strdup(s->pool, made, (size_t)n));
    }
    *out = it;
    return item_announce(s, it);
}

static int tool_call(struct c2r_stream *s, const struct sl_json_member *call)
{
    static const struct sl_str keys[] = {SL_STR_INIT("index"), SL_STR_INIT("id"),
                                         SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("arguments")};
    struct sl_json_member f[3], fn[2] = {{.type = SL_JSON_ABSENT}, {.type = SL_JSON_ABSENT}};
    struct item *it = s->open;
    uint64_t index;
    int rc;
    if (sl__xl_read(&s->x, "tool_calls[]", call, keys, 3, f, NULL, NULL) != SL_OK ||
        (sl__xl_has(&f[2]) &&
         sl__xl_read(&s->x, "tool_calls[].function", &f[2], f_keys, 2, fn, NULL, NULL) != SL_OK))
        return decode_error(s);
    if (sl__xl_uint(&f[0], &index) != SL_OK || index > INT32_MAX)
        return bad(s, "tool_calls[].index: expected an index");
    if (it == NULL || it->kind != SL__RX_FUNCTION_CALL || it->tool != (int64_t)index) {
        if ((rc = tool_start(s, (int64_t)index, &f[1], &fn[0], &it)) != SL_OK)
            return rc;
    }
    if (!sl__xl_has(&fn[1]) || fn[1].value.len == 2)
        return SL_OK;
    if (fn[1].type != SL_JSON_STRING)
        return bad(s, "tool_calls[].function.arguments: expected a string");
    return item_delta(s, it, &fn[1]);
}

/* The response's last event; held after the finish chunk until the usage chunk (or the end). */
static int response_end(struct c2r_stream *s)
{
    int rc;
    if (s->state == C2R_DONE)
        return SL_OK;
    if ((rc = response_start(s)) != SL_OK || (rc = item_close(s)) != SL_OK)
        return rc;
    const char *name = s->status == SL__RX_COMPLETED ? "response.completed" : "response.incomplete";
    s->state = C2R_DONE;
    event_begin(s, name);
    write_response(s, true);
    return event_end(s, name);
}

enum { D_CONTENT, D_REASONING, D_REFUSAL, D_TOOL_CALLS, D_N };
static const struct sl_str delta_keys[D_N] = {
    [D_CONTENT] = SL_STR_INIT("content"),
    [D_REASONING] = SL_STR_INIT("reasoning_content"),
    [D_REFUSAL] = SL_STR_INIT("refusal"),
    [D_TOOL_CALLS] = SL_STR_INIT("tool_calls"),
};

static int choice(struct c2r_stream *s, const struct sl_json_member *ch)
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
        if ((rc = text_delta(s, SL__RX_REASONING, false, &d[D_REASONING])) != SL_OK ||
            (rc = text_delta(s, SL__RX_MESSAGE, false, &d[D_CONTENT])) != SL_OK ||
            (rc = text_delta(s, SL__RX_MESSAGE, true, &d[D_REFUSAL])) != SL_OK)
            return rc;
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
        s->status = sl__rx_status_of_finish(sl__xl_inner(&f[1]));
        s->state = C2R_FINISHED;
        return item_close(s);
    }
    return sl__xl_has(&f[1]) ? bad(s, "finish_reason: expected a string") : SL_OK;
}

static int upstream_error(struct c2r_stream *s, const struct sl_json_member *err)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("message"),
                                         SL_STR_INIT("code")};
    struct sl_json_member f[3];
    struct sl_str message = SL_STRLIT("upstream stream failed");
    if (sl__xl_read(&s->x, "error", err, keys, 3, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (f[0].type != SL_JSON_STRING ||
        !sl__xl_copy(s->err_type, sizeof(s->err_type), sl__xl_inner(&f[0])))
        sl__xl_copy(s->err_type, sizeof(s->err_type), SL_STRLIT("server_error"));
    if (f[1].type == SL_JSON_STRING && sl__xl_text(&s->x, &f[1], &message) != SL_OK)
        message = SL_STRLIT("upstream stream failed (message too long)");
    struct sl_stream_error e = {
        .status = sl__xl_status_of_error_type(sl_str_from_cstr(s->err_type)),
        .type = s->err_type,
        .kind = "upstream_error",
        .message = message,
    };
    s->state = C2R_DONE;
    s->ended = true;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

enum { K_CHOICES, K_USAGE, K_ERROR, K_N };
static const struct sl_str chunk_keys[K_N] = {
    [K_CHOICES] = SL_STR_INIT("choices"),
    [K_USAGE] = SL_STR_INIT("usage"),
    [K_ERROR] = SL_STR_INIT("error"),
};

static int on_chunk(struct c2r_stream *s, const struct sl_json_member *k)
{
    struct sl__xl_it it;
    struct sl_json_member ch;
    int rc;
    if ((rc = response_start(s)) != SL_OK)
        return rc;
    if (sl__xl_has(&k[K_USAGE]) &&
        sl__xl_chat_usage(&s->x, "usage", &k[K_USAGE], s->usage) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&k[K_CHOICES])) {
        if (k[K_CHOICES].type != SL_JSON_ARRAY)
            return bad(s, "choices: expected an array");
        /* Only choices[0]: the request never asks for more. */
        sl__xl_iter(&it, &k[K_CHOICES]);
        if (s->state != C2R_FINISHED && sl__xl_next(&it, NULL, &ch) == 1 &&
            (rc = choice(s, &ch)) != SL_OK)
            return rc;
    }
    /* The usage-only chunk follows the finish chunk (the request asked for it); some upstreams
       put usage in the finish chunk itself. */
    if (s->state == C2R_FINISHED && sl__xl_has(&k[K_USAGE]))
        return response_end(s);
    return SL_OK;
}

static int on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct c2r_stream *s = SL_CONTAINER_OF(f, struct c2r_stream, super);
    struct sl_json_member k[K_N];
    if (s->ended)
        return SL_DONE;
    if (s->state == C2R_DONE)
        return SL_OK; /* after the final event, the upstream's [DONE] and anything else */
    if (sl_str_eq_lit(sl_str_trim(ev->data), "[DONE]"))
        return response_end(s);
    if (ev->data.len == 0)
        return SL_OK;
    if (sl__xl_read_doc(&s->x, ev->data, chunk_keys, K_N, k, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&k[K_ERROR]))
        return upstream_error(s, &k[K_ERROR]);
    return on_chunk(s, k);
}

static int on_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct c2r_stream *s = SL_CONTAINER_OF(f, struct c2r_stream, super);
    if (s->ended)
        return SL_OK;
    s->state = C2R_DONE;
    s->ended = true;
    return sl_filter_pass_error(f, err);
}

static int on_end(struct sl_filter *f)
{
    struct c2r_stream *s = SL_CONTAINER_OF(f, struct c2r_stream, super);
    if (s->ended)
        return SL_OK;
    int rc = response_end(s);
    if (rc < 0)
        return rc;
    if (s->ended)
        return SL_OK; /* response_end met an error and ended the stream with it */
    s->ended = true;
    return sl_filter_pass_end(f);
}

static const struct sl_filter_ops c2r_ops = {
    .on_event = on_event,
    .on_error = on_error,
    .on_end = on_end,
};

static void dispose(void *p)
{
    struct c2r_stream *s = p;
    sl_buf_dispose(&s->keep);
    sl_buf_dispose(&s->out);
    sl__xl_dispose(&s->x);
}

struct sl_filter *sl__xlate_chat_to_responses_stream(h2o_mem_pool_t *pool,
                                                     const struct sl_xlate_ctx *c,
                                                     struct sl_usage *usage, struct sl_filter *next)
{
    struct c2r_stream *s = h2o_mem_alloc_shared(pool, sizeof(*s), dispose);
    s->super = (struct sl_filter){.ops = &c2r_ops, .next = next};
    s->c = *c;
    s->pool = pool;
    s->usage = usage;
    *usage = SL_USAGE_UNKNOWN;
    s->state = C2R_START;
    s->ended = false;
    s->status = SL__RX_COMPLETED;
    s->seq = 0;
    s->n_items = 0;
    s->open = NULL;
    s->tools = 0;
    s->err_type[0] = '\0';
    sl_buf_init(&s->keep, RX_KEEP_MAX);
    sl_buf_init(&s->out, EVENT_OUT_CAP);
    sl__xl_init(&s->x, s->why, sizeof(s->why), EVENT_OUT_CAP);
    return &s->super;
}
