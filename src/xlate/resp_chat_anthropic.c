/* Response: OpenAI chat.completion JSON -> Anthropic message JSON (the reply a Claude SDK caller
 * gets from an OpenAI-compatible model). Decisions in docs/translation.md. */
#include <stdio.h>
#include <stdlib.h>

#include "sluice/base.h"
#include "xlate_internal.h"

enum { K_ID, K_CHOICES, K_USAGE, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_ID] = SL_STR_INIT("id"),
    [K_CHOICES] = SL_STR_INIT("choices"),
    [K_USAGE] = SL_STR_INIT("usage"),
};

enum { C_MESSAGE, C_FINISH, C_N };
static const struct sl_str choice_keys[C_N] = {
    [C_MESSAGE] = SL_STR_INIT("message"),
    [C_FINISH] = SL_STR_INIT("finish_reason"),
};

enum { M_CONTENT, M_REASONING, M_TOOL_CALLS, M_REFUSAL, M_N };
static const struct sl_str msg_keys[M_N] = {
    [M_CONTENT] = SL_STR_INIT("content"),
    [M_REASONING] = SL_STR_INIT("reasoning_content"),
    [M_TOOL_CALLS] = SL_STR_INIT("tool_calls"),
    [M_REFUSAL] = SL_STR_INIT("refusal"),
};

struct c2a {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
};

enum { U_PROMPT, U_COMPLETION, U_PROMPT_DETAILS, U_COMPLETION_DETAILS, U_N };
static const struct sl_str usage_keys[U_N] = {
    [U_PROMPT] = SL_STR_INIT("prompt_tokens"),
    [U_COMPLETION] = SL_STR_INIT("completion_tokens"),
    [U_PROMPT_DETAILS] = SL_STR_INIT("prompt_tokens_details"),
    [U_COMPLETION_DETAILS] = SL_STR_INIT("completion_tokens_details"),
};

static int count_of(struct sl__xl *x, const char *path, const char *name,
                    const struct sl_json_member *v, int64_t *dst)
{
    uint64_t n;
    if (!sl__xl_has(v))
        return SL_OK;
    if (sl__xl_uint(v, &n) != SL_OK || n > (uint64_t)1 << 53)
        return sl__xl_fail(x, path, "%s: expected a token count", name);
    *dst = (int64_t)n;
    return SL_OK;
}

int sl__xl_chat_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                      struct sl_usage *u)
{
    static const struct sl_str pd_keys[] = {SL_STR_INIT("cached_tokens")};
    static const struct sl_str cd_keys[] = {SL_STR_INIT("reasoning_tokens")};
    struct sl_json_member f[U_N], d[1];
    int rc = sl__xl_read(x, path, v, usage_keys, U_N, f, NULL, NULL);
    if (rc != SL_OK ||
        (rc = count_of(x, path, "prompt_tokens", &f[U_PROMPT], &u->input_tokens)) != SL_OK ||
        (rc = count_of(x, path, "completion_tokens", &f[U_COMPLETION], &u->output_tokens)) != SL_OK)
        return rc;
    if (sl__xl_has(&f[U_PROMPT_DETAILS])) {
        if ((rc = sl__xl_read(x, path, &f[U_PROMPT_DETAILS], pd_keys, 1, d, NULL, NULL)) != SL_OK ||
            (rc = count_of(x, path, "prompt_tokens_details.cached_tokens", &d[0],
                           &u->cache_read_tokens)) != SL_OK)
            return rc;
    }
    if (sl__xl_has(&f[U_COMPLETION_DETAILS])) {
        if ((rc = sl__xl_read(x, path, &f[U_COMPLETION_DETAILS], cd_keys, 1, d, NULL, NULL)) !=
                SL_OK ||
            (rc = count_of(x, path, "completion_tokens_details.reasoning_tokens", &d[0],
                           &u->reasoning_tokens)) != SL_OK)
            return rc;
    }
    return SL_OK;
}

void sl__xl_write_anthropic_usage(struct sl_json_w *w, const struct sl_usage *u, bool partial)
{
    int64_t cached = u->cache_read_tokens < 0 ? 0 : u->cache_read_tokens;
    int64_t input = u->input_tokens < 0 ? 0 : u->input_tokens - cached;
    sl_jw_key(w, SL_STRLIT("usage"));
    sl_jw_obj(w);
    if (!partial || u->input_tokens >= 0) {
        sl_jw_kint(w, "input_tokens", input < 0 ? 0 : input);
        /* OpenAI caches on its own and reports no writes. */
        sl_jw_kint(w, "cache_creation_input_tokens", 0);
        sl_jw_kint(w, "cache_read_input_tokens", cached);
    }
    sl_jw_kint(w, "output_tokens", u->output_tokens < 0 ? 0 : u->output_tokens);
    sl_jw_obj_end(w);
}

/* tool_calls[j].function.arguments -> tool_use.input. An arguments string that is not a JSON
 * object (a model cut off mid-call) is kept whole inside an object rather than lost. */
static int tool_use(struct c2a *t, const struct sl_json_member *call, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("id"), SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("arguments")};
    struct sl_json_member f[2], fn[2];
    struct sl_str text = SL_STR_NULL;
    const char *path = SL__XL_PATH(&t->x, "choices[0].message.tool_calls[%zu]", j);
    int rc = sl__xl_read(&t->x, path, call, keys, 2, f, NULL, NULL);
    if (rc != SL_OK || (rc = sl__xl_read(&t->x, path, &f[1], f_keys, 2, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (f[0].type != SL_JSON_STRING || fn[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "expected id and function.name strings");
    if (sl__xl_has(&fn[1]) && fn[1].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "function.arguments: expected a string");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("tool_use"));
    sl_jw_kraw(&t->w, "id", f[0].value);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    sl_jw_key(&t->w, SL_STRLIT("input"));
    if (fn[1].type == SL_JSON_STRING && sl__xl_text(&t->x, &fn[1], &text) != SL_OK)
        return SL_E2BIG;
    text = sl_str_trim(text);
    if (text.len == 0) {
        sl_jw_raw(&t->w, SL_STRLIT("{}"));
    } else if (text.ptr[0] == '{' && sl_json_validate(text, SL_XLATE_MAX_DEPTH, NULL) == SL_OK) {
        sl_jw_raw(&t->w, text);
    } else {
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "_raw_arguments", fn[1].value);
        sl_jw_obj_end(&t->w);
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int content(struct c2a *t, const struct sl_json_member *msg)
{
    struct sl_json_member f[M_N], call;
    struct sl__xl_it it;
    size_t j = 0;
    int rc = sl__xl_read(&t->x, "choices[0].message", msg, msg_keys, M_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < M_TOOL_CALLS; i++)
        if (sl__xl_has(&f[i]) && f[i].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "choices[0].message", "%s: expected a string",
                               msg_keys[i].ptr);
    sl_jw_key(&t->w, SL_STRLIT("content"));
    sl_jw_arr(&t->w);
    if (f[M_REASONING].type == SL_JSON_STRING && f[M_REASONING].value.len > 2) {
        /* No signature exists for reasoning an OpenAI-compatible model wrote; the empty one
           says so, and Sluice drops thinking blocks a caller sends back. */
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("thinking"));
        sl_jw_kraw(&t->w, "thinking", f[M_REASONING].value);
        sl_jw_kstr(&t->w, "signature", SL_STRLIT(""));
        sl_jw_obj_end(&t->w);
    }
    const struct sl_json_member *text = &f[M_CONTENT];
    if (!(text->type == SL_JSON_STRING && text->value.len > 2))
        text = &f[M_REFUSAL]; /* a refusal is what the model said instead */
    if (text->type == SL_JSON_STRING && text->value.len > 2) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("text"));
        sl_jw_kraw(&t->w, "text", text->value);
        sl_jw_obj_end(&t->w);
    }
    if (sl__xl_has(&f[M_TOOL_CALLS])) {
        if (f[M_TOOL_CALLS].type != SL_JSON_ARRAY)
            return sl__xl_fail(&t->x, "choices[0].message.tool_calls", "expected an array");
        if (f[M_TOOL_CALLS].count > SL_XLATE_MAX_TOOL_CALLS)
            return sl__xl_fail(&t->x, "choices[0].message.tool_calls", "more than %d tool calls",
                               SL_XLATE_MAX_TOOL_CALLS);
        sl__xl_iter(&it, &f[M_TOOL_CALLS]);
        for (; sl__xl_next(&it, NULL, &call) == 1; j++)
            if ((rc = tool_use(t, &call, j)) != SL_OK)
                return rc;
    }
    sl_jw_arr_end(&t->w);
    return f[M_REFUSAL].type == SL_JSON_STRING && f[M_CONTENT].type != SL_JSON_STRING ? 1 : 0;
}

void sl__xl_write_msg_id(struct sl_json_w *w, const struct sl_json_member *id, struct sl_str seed)
{
    sl_jw_key(w, SL_STRLIT("id"));
    sl_jw_str_begin(w);
    sl_jw_str_piece(w, SL_STRLIT("msg_"));
    if (id != NULL && id->type == SL_JSON_STRING && id->value.len > 2)
        sl_jw_str_raw(w, sl__xl_inner(id));
    else
        sl_jw_str_piece(w, seed);
    sl_jw_str_end(w);
}

static int translate(struct c2a *t, struct sl_usage *usage)
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
    sl_jw_obj(&t->w);
    sl__xl_write_msg_id(&t->w, &t->m[K_ID], t->c->id_seed);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("message"));
    sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
    sl_jw_kstr(&t->w, "model", t->c->alias);
    if ((rc = content(t, &f[C_MESSAGE])) < 0)
        return rc;
    const char *stop = rc == 1 ? "refusal"
                       : f[C_FINISH].type == SL_JSON_STRING
                           ? sl__xl_stop_of_finish(sl__xl_inner(&f[C_FINISH]))
                           : "end_turn";
    sl_jw_kstr(&t->w, "stop_reason", sl_str_from_cstr(stop));
    sl_jw_key(&t->w, SL_STRLIT("stop_sequence"));
    sl_jw_null(&t->w);
    sl__xl_write_anthropic_usage(&t->w, usage, false);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_chat_to_anthropic_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                         struct sl_buf *out, struct sl_usage *usage, char *why,
                                         size_t whylen)
{
    struct c2a *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    t->c = c;
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
