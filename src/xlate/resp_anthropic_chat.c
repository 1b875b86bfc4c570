/* Response: Anthropic message JSON -> OpenAI chat.completion JSON (the reply an OpenAI SDK caller
 * gets from a Claude model). Decisions in docs/translation.md. */
#include <stdio.h>
#include <stdlib.h>

#include "sluice/base.h"
#include "xlate_internal.h"

enum { K_ID, K_TYPE, K_CONTENT, K_STOP_REASON, K_USAGE, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_ID] = SL_STR_INIT("id"),           [K_TYPE] = SL_STR_INIT("type"),
    [K_CONTENT] = SL_STR_INIT("content"), [K_STOP_REASON] = SL_STR_INIT("stop_reason"),
    [K_USAGE] = SL_STR_INIT("usage"),
};

enum { B_TYPE, B_TEXT, B_THINKING, B_ID, B_NAME, B_INPUT, B_N };
static const struct sl_str block_keys[B_N] = {
    [B_TYPE] = SL_STR_INIT("type"),         [B_TEXT] = SL_STR_INIT("text"),
    [B_THINKING] = SL_STR_INIT("thinking"), [B_ID] = SL_STR_INIT("id"),
    [B_NAME] = SL_STR_INIT("name"),         [B_INPUT] = SL_STR_INIT("input"),
};

enum pass { P_TEXT, P_THINKING, P_TOOLS };

struct a2c {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
};

/* Checks one block for the pass; returns 1 when it belongs to it (b filled). */
static int block_of(struct a2c *t, const struct sl_json_member *v, size_t i, enum pass p,
                    struct sl_json_member *b)
{
    const char *path = SL__XL_PATH(&t->x, "content[%zu]", i);
    int rc = sl__xl_read(&t->x, path, v, block_keys, B_N, b, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (p == P_TEXT && sl__xl_str_is(&b[B_TYPE], "text")) {
        if (b[B_TEXT].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "text: expected a string");
        return 1;
    }
    if (p == P_THINKING && sl__xl_str_is(&b[B_TYPE], "thinking")) {
        if (b[B_THINKING].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "thinking: expected a string");
        return 1;
    }
    if (p == P_TOOLS && sl__xl_str_is(&b[B_TYPE], "tool_use")) {
        if (b[B_ID].type != SL_JSON_STRING || b[B_NAME].type != SL_JSON_STRING ||
            b[B_INPUT].type != SL_JSON_OBJECT)
            return sl__xl_fail(&t->x, path, "tool_use: expected id, name and an input object");
        return 1;
    }
    if (b[B_TYPE].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "type: expected a string");
    return 0; /* another pass's block, or one OpenAI has no place for (redacted_thinking) */
}

/* Text blocks joined into one string (or pass's thinking blocks); returns how many there were. */
static int joined(struct a2c *t, enum pass p, const char *key, size_t *n)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t i = 0;
    int rc;
    *n = 0;
    sl__xl_iter(&it, &t->m[K_CONTENT]);
    for (; sl__xl_next(&it, NULL, &v) == 1; i++) {
        if ((rc = block_of(t, &v, i, p, b)) < 0)
            return rc;
        if (rc == 0)
            continue;
        if (*n == 0) {
            sl_jw_key(&t->w, sl_str_from_cstr(key));
            sl_jw_str_begin(&t->w);
        }
        sl_jw_str_raw(&t->w, sl__xl_inner(&b[p == P_TEXT ? B_TEXT : B_THINKING]));
        (*n)++;
    }
    if (*n != 0)
        sl_jw_str_end(&t->w);
    return SL_OK;
}

static int tool_calls(struct a2c *t)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t i = 0, n = 0;
    int rc;
    sl__xl_iter(&it, &t->m[K_CONTENT]);
    for (; sl__xl_next(&it, NULL, &v) == 1; i++) {
        if ((rc = block_of(t, &v, i, P_TOOLS, b)) < 0)
            return rc;
        if (rc == 0)
            continue;
        if (n == SL_XLATE_MAX_TOOL_CALLS)
            return sl__xl_fail(&t->x, "content", "more than %d tool_use blocks",
                               SL_XLATE_MAX_TOOL_CALLS);
        if (n++ == 0) {
            sl_jw_key(&t->w, SL_STRLIT("tool_calls"));
            sl_jw_arr(&t->w);
        }
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "id", b[B_ID].value);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
        sl_jw_key(&t->w, SL_STRLIT("function"));
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "name", b[B_NAME].value);
        /* The arguments string is the input's JSON text byte for byte. */
        sl_jw_kstr(&t->w, "arguments", b[B_INPUT].value);
        sl_jw_obj_end(&t->w);
        sl_jw_obj_end(&t->w);
    }
    if (n != 0)
        sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int message(struct a2c *t)
{
    size_t n;
    int rc;
    if (t->m[K_CONTENT].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "content", "expected an array");
    sl_jw_key(&t->w, SL_STRLIT("message"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
    if ((rc = joined(t, P_TEXT, "content", &n)) != SL_OK)
        return rc;
    if (n == 0) {
        sl_jw_key(&t->w, SL_STRLIT("content"));
        sl_jw_null(&t->w);
    }
    if ((rc = joined(t, P_THINKING, "reasoning_content", &n)) != SL_OK ||
        (rc = tool_calls(t)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("refusal"));
    sl_jw_null(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

enum { U_INPUT, U_OUTPUT, U_CACHE_CREATION, U_CACHE_READ, U_N };
static const struct sl_str usage_keys[U_N] = {
    [U_INPUT] = SL_STR_INIT("input_tokens"),
    [U_OUTPUT] = SL_STR_INIT("output_tokens"),
    [U_CACHE_CREATION] = SL_STR_INIT("cache_creation_input_tokens"),
    [U_CACHE_READ] = SL_STR_INIT("cache_read_input_tokens"),
};

int sl__xl_anthropic_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                           struct sl_usage *u)
{
    struct sl_json_member f[U_N];
    int64_t *dst[U_N] = {&u->input_tokens, &u->output_tokens, &u->cache_creation_tokens,
                         &u->cache_read_tokens};
    uint64_t n;
    int rc = sl__xl_read(x, path, v, usage_keys, U_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < U_N; i++) {
        if (!sl__xl_has(&f[i]))
            continue;
        if (sl__xl_uint(&f[i], &n) != SL_OK || n > (uint64_t)1 << 53)
            return sl__xl_fail(x, path, "%s: expected a token count", usage_keys[i].ptr);
        *dst[i] = (int64_t)n;
    }
    return SL_OK;
}

static int64_t known(int64_t v)
{
    return v < 0 ? 0 : v;
}

void sl__xl_write_chat_usage(struct sl_json_w *w, const struct sl_usage *a)
{
    int64_t prompt =
        known(a->input_tokens) + known(a->cache_read_tokens) + known(a->cache_creation_tokens);
    sl_jw_key(w, SL_STRLIT("usage"));
    sl_jw_obj(w);
    sl_jw_kint(w, "prompt_tokens", prompt);
    sl_jw_kint(w, "completion_tokens", known(a->output_tokens));
    sl_jw_kint(w, "total_tokens", prompt + known(a->output_tokens));
    sl_jw_key(w, SL_STRLIT("prompt_tokens_details"));
    sl_jw_obj(w);
    sl_jw_kint(w, "cached_tokens", known(a->cache_read_tokens));
    sl_jw_obj_end(w);
    sl_jw_obj_end(w);
}

void sl__xl_usage_from_anthropic(const struct sl_usage *a, struct sl_usage *u)
{
    *u = *a;
    if (a->input_tokens >= 0)
        u->input_tokens =
            a->input_tokens + known(a->cache_read_tokens) + known(a->cache_creation_tokens);
}

static int translate(struct a2c *t, struct sl_usage *usage)
{
    const struct sl_json_member *m = t->m;
    struct sl_usage a = SL_USAGE_UNKNOWN;
    int rc;
    if (!sl__xl_str_is(&m[K_TYPE], "message"))
        return sl__xl_fail(&t->x, "type", "expected \"message\"");
    if (sl__xl_has(&m[K_USAGE]) &&
        (rc = sl__xl_anthropic_usage(&t->x, "usage", &m[K_USAGE], &a)) != SL_OK)
        return rc;
    if (sl__xl_has(&m[K_STOP_REASON]) && m[K_STOP_REASON].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "stop_reason", "expected a string");
    sl_jw_obj(&t->w);
    if (m[K_ID].type == SL_JSON_STRING) {
        sl_jw_kraw(&t->w, "id", m[K_ID].value);
    } else {
        sl_jw_key(&t->w, SL_STRLIT("id"));
        sl_jw_str_begin(&t->w);
        sl_jw_str_piece(&t->w, SL_STRLIT("chatcmpl-"));
        sl_jw_str_piece(&t->w, t->c->id_seed);
        sl_jw_str_end(&t->w);
    }
    sl_jw_kstr(&t->w, "object", SL_STRLIT("chat.completion"));
    sl_jw_kint(&t->w, "created", t->c->created);
    sl_jw_kstr(&t->w, "model", t->c->alias);
    sl_jw_key(&t->w, SL_STRLIT("choices"));
    sl_jw_arr(&t->w);
    sl_jw_obj(&t->w);
    sl_jw_kint(&t->w, "index", 0);
    if ((rc = message(t)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("logprobs"));
    sl_jw_null(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("finish_reason"));
    if (m[K_STOP_REASON].type == SL_JSON_STRING)
        sl_jw_str(&t->w, sl_str_from_cstr(sl__xl_finish_of_stop(sl__xl_inner(&m[K_STOP_REASON]))));
    else
        sl_jw_null(&t->w);
    sl_jw_obj_end(&t->w);
    sl_jw_arr_end(&t->w);
    if (sl__xl_has(&m[K_USAGE]))
        sl__xl_write_chat_usage(&t->w, &a);
    sl_jw_obj_end(&t->w);
    sl__xl_usage_from_anthropic(&a, usage);
    return SL_OK;
}

int sl__xlate_anthropic_to_chat_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                         struct sl_buf *out, struct sl_usage *usage, char *why,
                                         size_t whylen)
{
    struct a2c *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    t->c = c;
    sl__xl_init(&t->x, why, whylen, 0);
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
