/* Response: OpenAI chat.completion JSON -> a Responses API response object (the reply a
 * Responses caller gets from a chat-only model), and the writers of response objects and output
 * items that the stream stage shares (responses_internal.h). Decisions in docs/responses.md. */
#include <stdio.h>
#include <stdlib.h>

#include "responses_internal.h"
#include "sluice/base.h"
#include "xlate_internal.h"

/* ---- shared writers ---- */

enum sl__rx_status sl__rx_status_of_finish(struct sl_str f)
{
    if (sl_str_eq_lit(f, "length"))
        return SL__RX_INCOMPLETE_LENGTH;
    if (sl_str_eq_lit(f, "content_filter"))
        return SL__RX_INCOMPLETE_FILTER;
    return SL__RX_COMPLETED; /* stop, tool_calls, function_call, and whatever else ended it */
}

void sl__rx_write_id(struct sl_json_w *w, const char *key, const char *prefix, struct sl_str seed,
                     int64_t n)
{
    sl_jw_key(w, sl_str_from_cstr(key));
    sl__rx_write_id_value(w, prefix, seed, n);
}

void sl__rx_write_id_value(struct sl_json_w *w, const char *prefix, struct sl_str seed, int64_t n)
{
    char num[24];
    sl_jw_str_begin(w);
    sl_jw_str_piece(w, sl_str_from_cstr(prefix));
    sl_jw_str_piece(w, SL_STRLIT("_"));
    sl_jw_str_piece(w, seed);
    if (n >= 0) {
        int len = snprintf(num, sizeof(num), "_%lld", (long long)n);
        sl_jw_str_piece(w, sl_str_init(num, (size_t)len));
    }
    sl_jw_str_end(w);
}

void sl__rx_write_head(struct sl_json_w *w, const struct sl_xlate_ctx *c, bool in_progress,
                       enum sl__rx_status st)
{
    sl__rx_write_id(w, "id", "resp", c->id_seed, -1);
    sl_jw_kstr(w, "object", SL_STRLIT("response"));
    sl_jw_kint(w, "created_at", c->created);
    sl_jw_kstr(w, "status",
               in_progress              ? SL_STRLIT("in_progress")
               : st == SL__RX_COMPLETED ? SL_STRLIT("completed")
                                        : SL_STRLIT("incomplete"));
    sl_jw_key(w, SL_STRLIT("error"));
    sl_jw_null(w);
    sl_jw_key(w, SL_STRLIT("incomplete_details"));
    if (in_progress || st == SL__RX_COMPLETED) {
        sl_jw_null(w);
    } else {
        sl_jw_obj(w);
        sl_jw_kstr(w, "reason",
                   st == SL__RX_INCOMPLETE_LENGTH ? SL_STRLIT("max_output_tokens")
                                                  : SL_STRLIT("content_filter"));
        sl_jw_obj_end(w);
    }
    sl_jw_kstr(w, "model", c->alias);
}

void sl__rx_write_usage(struct sl_json_w *w, const struct sl_usage *u)
{
    int64_t in = SL_MAX(u->input_tokens, 0), out = SL_MAX(u->output_tokens, 0);
    sl_jw_key(w, SL_STRLIT("usage"));
    if (u->input_tokens < 0 && u->output_tokens < 0) {
        sl_jw_null(w);
        return;
    }
    sl_jw_obj(w);
    sl_jw_kint(w, "input_tokens", in);
    sl_jw_key(w, SL_STRLIT("input_tokens_details"));
    sl_jw_obj(w);
    sl_jw_kint(w, "cached_tokens", SL_MAX(u->cache_read_tokens, 0));
    sl_jw_obj_end(w);
    sl_jw_kint(w, "output_tokens", out);
    sl_jw_key(w, SL_STRLIT("output_tokens_details"));
    sl_jw_obj(w);
    sl_jw_kint(w, "reasoning_tokens", SL_MAX(u->reasoning_tokens, 0));
    sl_jw_obj_end(w);
    sl_jw_kint(w, "total_tokens", in + out);
    sl_jw_obj_end(w);
}

static void write_status(struct sl_json_w *w, bool done)
{
    sl_jw_kstr(w, "status", done ? SL_STRLIT("completed") : SL_STRLIT("in_progress"));
}

/* A string value from the inner bytes of JSON strings joined (escapes kept). */
static void write_raw_text(struct sl_json_w *w, const char *key, struct sl_str inner)
{
    sl_jw_key(w, sl_str_from_cstr(key));
    sl_jw_str_begin(w);
    sl_jw_str_raw(w, inner);
    sl_jw_str_end(w);
}

void sl__rx_write_message(struct sl_json_w *w, const struct sl_xlate_ctx *c, int64_t n, bool done,
                          const struct sl_str *text, const struct sl_str *refusal)
{
    sl_jw_obj(w);
    sl__rx_write_id(w, "id", "msg", c->id_seed, n);
    sl_jw_kstr(w, "type", SL_STRLIT("message"));
    write_status(w, done);
    sl_jw_key(w, SL_STRLIT("content"));
    sl_jw_arr(w);
    if (done && text != NULL) {
        sl_jw_obj(w);
        sl_jw_kstr(w, "type", SL_STRLIT("output_text"));
        sl_jw_key(w, SL_STRLIT("annotations"));
        sl_jw_arr(w);
        sl_jw_arr_end(w);
        sl_jw_key(w, SL_STRLIT("logprobs"));
        sl_jw_arr(w);
        sl_jw_arr_end(w);
        write_raw_text(w, "text", *text);
        sl_jw_obj_end(w);
    }
    if (done && refusal != NULL) {
        sl_jw_obj(w);
        sl_jw_kstr(w, "type", SL_STRLIT("refusal"));
        write_raw_text(w, "refusal", *refusal);
        sl_jw_obj_end(w);
    }
    sl_jw_arr_end(w);
    sl_jw_kstr(w, "role", SL_STRLIT("assistant"));
    sl_jw_obj_end(w);
}

void sl__rx_write_reasoning(struct sl_json_w *w, const struct sl_xlate_ctx *c, int64_t n, bool done,
                            struct sl_str text)
{
    sl_jw_obj(w);
    sl__rx_write_id(w, "id", "rs", c->id_seed, n);
    sl_jw_kstr(w, "type", SL_STRLIT("reasoning"));
    write_status(w, done);
    sl_jw_key(w, SL_STRLIT("summary"));
    sl_jw_arr(w);
    sl_jw_arr_end(w);
    sl_jw_key(w, SL_STRLIT("content"));
    sl_jw_arr(w);
    if (done) {
        sl_jw_obj(w);
        sl_jw_kstr(w, "type", SL_STRLIT("reasoning_text"));
        write_raw_text(w, "text", text);
        sl_jw_obj_end(w);
    }
    sl_jw_arr_end(w);
    sl_jw_obj_end(w);
}

void sl__rx_write_function_call(struct sl_json_w *w, const struct sl_xlate_ctx *c, int64_t n,
                                bool done, struct sl_str call_id, struct sl_str name,
                                struct sl_str arguments)
{
    sl_jw_obj(w);
    sl__rx_write_id(w, "id", "fc", c->id_seed, n);
    sl_jw_kstr(w, "type", SL_STRLIT("function_call"));
    write_status(w, done);
    write_raw_text(w, "arguments", done ? arguments : SL_STR_NULL);
    sl_jw_kraw(w, "call_id", call_id);
    sl_jw_kraw(w, "name", name);
    sl_jw_obj_end(w);
}

/* ---- the JSON reply ---- */

enum { K_CHOICES, K_USAGE, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_CHOICES] = SL_STR_INIT("choices"),
    [K_USAGE] = SL_STR_INIT("usage"),
};

enum { C_MESSAGE, C_FINISH, C_N };
static const struct sl_str choice_keys[C_N] = {
    [C_MESSAGE] = SL_STR_INIT("message"),
    [C_FINISH] = SL_STR_INIT("finish_reason"),
};

enum { M_CONTENT, M_REASONING, M_REFUSAL, M_TOOL_CALLS, M_N };
static const struct sl_str msg_keys[M_N] = {
    [M_CONTENT] = SL_STR_INIT("content"),
    [M_REASONING] = SL_STR_INIT("reasoning_content"),
    [M_REFUSAL] = SL_STR_INIT("refusal"),
    [M_TOOL_CALLS] = SL_STR_INIT("tool_calls"),
};

struct c2r {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    int64_t items; /* output items written */
};

static bool nonempty(const struct sl_json_member *m)
{
    return m->type == SL_JSON_STRING && m->value.len > 2;
}

/* tool_calls[j] -> a function_call item (call_id: the upstream's id, else one made up). */
static int function_call(struct c2r *t, const struct sl_json_member *call, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("id"), SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("arguments")};
    struct sl_json_member f[2], fn[2];
    char made[SL_XLATE_MAX_ID];
    const char *path = SL__XL_PATH(&t->x, "choices[0].message.tool_calls[%zu]", j);
    int rc = sl__xl_read(&t->x, path, call, keys, 2, f, NULL, NULL);
    if (rc != SL_OK || (rc = sl__xl_read(&t->x, path, &f[1], f_keys, 2, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING || (sl__xl_has(&f[0]) && f[0].type != SL_JSON_STRING))
        return sl__xl_fail(&t->x, path, "expected function.name and id strings");
    if (sl__xl_has(&fn[1]) && fn[1].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "function.arguments: expected a string");
    struct sl_str call_id = f[0].value;
    if (!nonempty(&f[0])) {
        int n = snprintf(made, sizeof(made), "\"call_%.*s_%zu\"",
                         (int)SL_MIN(t->c->id_seed.len, (size_t)200), t->c->id_seed.ptr, j);
        call_id = sl_str_init(made, (size_t)n);
    }
    sl__rx_write_function_call(&t->w, t->c, t->items++, true, call_id, fn[0].value,
                               fn[1].type == SL_JSON_STRING ? sl__xl_inner(&fn[1]) : SL_STR_NULL);
    return SL_OK;
}

/* The message -> output items: reasoning, then the text (or refusal), then the calls. */
static int output(struct c2r *t, const struct sl_json_member *msg)
{
    struct sl_json_member f[M_N], call;
    struct sl__xl_it it;
    int rc = sl__xl_read(&t->x, "choices[0].message", msg, msg_keys, M_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < M_TOOL_CALLS; i++)
        if (sl__xl_has(&f[i]) && f[i].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "choices[0].message", "%s: expected a string",
                               msg_keys[i].ptr);
    if (sl__xl_has(&f[M_TOOL_CALLS]) && f[M_TOOL_CALLS].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "choices[0].message.tool_calls", "expected an array");
    if (f[M_TOOL_CALLS].type == SL_JSON_ARRAY && f[M_TOOL_CALLS].count > SL_XLATE_MAX_TOOL_CALLS)
        return sl__xl_fail(&t->x, "choices[0].message.tool_calls", "more than %d tool calls",
                           SL_XLATE_MAX_TOOL_CALLS);
    sl_jw_key(&t->w, SL_STRLIT("output"));
    sl_jw_arr(&t->w);
    if (nonempty(&f[M_REASONING]))
        sl__rx_write_reasoning(&t->w, t->c, t->items++, true, sl__xl_inner(&f[M_REASONING]));
    struct sl_str text = nonempty(&f[M_CONTENT]) ? sl__xl_inner(&f[M_CONTENT]) : SL_STR_NULL;
    struct sl_str refusal = nonempty(&f[M_REFUSAL]) ? sl__xl_inner(&f[M_REFUSAL]) : SL_STR_NULL;
    bool calls = f[M_TOOL_CALLS].type == SL_JSON_ARRAY && f[M_TOOL_CALLS].count != 0;
    /* A message for the text; also an empty one when nothing else came, so output is never
       empty (a caller reads output[0]). */
    if (text.len != 0 || nonempty(&f[M_REFUSAL]) || (!calls && t->items == 0))
        sl__rx_write_message(&t->w, t->c, t->items++, true,
                             text.len != 0 || !nonempty(&f[M_REFUSAL]) ? &text : NULL,
                             nonempty(&f[M_REFUSAL]) ? &refusal : NULL);
    if (calls) {
        sl__xl_iter(&it, &f[M_TOOL_CALLS]);
        for (size_t j = 0; sl__xl_next(&it, NULL, &call) == 1; j++)
            if ((rc = function_call(t, &call, j)) != SL_OK)
                return rc;
    }
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int translate(struct c2r *t, struct sl_usage *usage)
{
    struct sl__xl_it it;
    struct sl_json_member choice, f[C_N];
    int rc;
    if (sl__xl_has(&t->m[K_USAGE]) &&
        (rc = sl__xl_chat_usage(&t->x, "usage", &t->m[K_USAGE], usage)) != SL_OK)
        return rc;
    if (t->m[K_CHOICES].type != SL_JSON_ARRAY || t->m[K_CHOICES].count == 0)
        return sl__xl_fail(&t->x, "choices", "expected a non-empty array");
    sl__xl_iter(&it, &t->m[K_CHOICES]);
    sl__xl_next(&it, NULL, &choice); /* the request asked for one choice */
    if ((rc = sl__xl_read(&t->x, "choices[0]", &choice, choice_keys, C_N, f, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&f[C_FINISH]) && f[C_FINISH].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "choices[0].finish_reason", "expected a string");
    enum sl__rx_status st = f[C_FINISH].type == SL_JSON_STRING
                                ? sl__rx_status_of_finish(sl__xl_inner(&f[C_FINISH]))
                                : SL__RX_COMPLETED;
    sl_jw_obj(&t->w);
    sl__rx_write_head(&t->w, t->c, false, st);
    if ((rc = output(t, &f[C_MESSAGE])) != SL_OK)
        return rc;
    sl__rx_write_usage(&t->w, usage);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_chat_to_responses_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                         struct sl_buf *out, struct sl_usage *usage, char *why,
                                         size_t whylen)
{
    struct c2r *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    t->c = c;
    t->items = 0;
    sl__xl_init(&t->x, why, whylen, body.len + 16);
    sl_jw_init(&t->w, out);
    *usage = SL_USAGE_UNKNOWN;
    rc = sl__xl_read_doc(&t->x, body, top_keys, K_COUNT, t->m, NULL, NULL);
    if (rc == SL_OK)
        rc = translate(t, usage);
    if (rc == SL_OK)
        rc = sl_jw_finish(&t->w);
    if (rc != SL_OK)
        out->len = mark;
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated response exceeds the size limit");
    sl__xl_dispose(&t->x);
    free(t);
    return rc;
}
