/* Response: Bedrock Converse JSON -> OpenAI chat.completion JSON (the reply an OpenAI SDK caller
 * gets from a Bedrock model). Decisions in docs/translation.md. */
#include <stdlib.h>

#include "bedrock_internal.h"
#include "sluice/base.h"

enum { K_OUTPUT, K_STOP_REASON, K_USAGE, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_OUTPUT] = SL_STR_INIT("output"),
    [K_STOP_REASON] = SL_STR_INIT("stopReason"),
    [K_USAGE] = SL_STR_INIT("usage"),
};

/* A content block is a union: exactly one of these members names its kind. */
enum { B_TEXT, B_TOOL_USE, B_REASONING, B_CITATIONS, B_N };
static const struct sl_str block_keys[B_N] = {
    [B_TEXT] = SL_STR_INIT("text"),
    [B_TOOL_USE] = SL_STR_INIT("toolUse"),
    [B_REASONING] = SL_STR_INIT("reasoningContent"),
    [B_CITATIONS] = SL_STR_INIT("citationsContent"),
};

enum pass { P_TEXT, P_REASONING, P_TOOLS };

struct b2c {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    struct sl_json_member content; /* output.message.content */
    size_t joined;                 /* pieces of the string being joined */
    const char *joined_key;
};

/* Appends a text piece (a JSON string token) to the string open under joined_key. */
static void piece(struct b2c *t, const struct sl_json_member *text)
{
    if (t->joined++ == 0) {
        sl_jw_key(&t->w, sl_str_from_cstr(t->joined_key));
        sl_jw_str_begin(&t->w);
    }
    sl_jw_str_raw(&t->w, sl__xl_inner(text));
}

/* citationsContent {content: [{text}], citations}: the generated text, without its sources. */
static int citations_text(struct b2c *t, const struct sl_json_member *v, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("content")};
    static const struct sl_str text_key[] = {SL_STR_INIT("text")};
    struct sl_json_member f[1], g[1], item;
    struct sl__xl_it it;
    int rc = sl__xl_read(&t->x, path, v, keys, 1, f, NULL, NULL);
    if (rc != SL_OK || !sl__xl_has(&f[0]))
        return rc;
    if (f[0].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, path, "citationsContent.content: expected an array");
    sl__xl_iter(&it, &f[0]);
    while (sl__xl_next(&it, NULL, &item) == 1) {
        if ((rc = sl__xl_read(&t->x, path, &item, text_key, 1, g, NULL, NULL)) != SL_OK)
            return rc;
        if (g[0].type == SL_JSON_STRING)
            piece(t, &g[0]);
    }
    return SL_OK;
}

/* reasoningContent {reasoningText {text, signature}} or {redactedContent}: the text, if any. */
static int reasoning_text(struct b2c *t, const struct sl_json_member *v, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("reasoningText")};
    static const struct sl_str text_key[] = {SL_STR_INIT("text")};
    struct sl_json_member f[1], g[1];
    int rc = sl__xl_read(&t->x, path, v, keys, 1, f, NULL, NULL);
    if (rc != SL_OK || !sl__xl_has(&f[0]))
        return rc; /* redacted reasoning: nothing an OpenAI caller can read */
    if ((rc = sl__xl_read(&t->x, path, &f[0], text_key, 1, g, NULL, NULL)) != SL_OK)
        return rc;
    if (g[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "reasoningContent.reasoningText.text: expected a string");
    piece(t, &g[0]);
    return SL_OK;
}

static int tool_call(struct b2c *t, const struct sl_json_member *v, const char *path, size_t n)
{
    static const struct sl_str keys[] = {SL_STR_INIT("toolUseId"), SL_STR_INIT("name"),
                                         SL_STR_INIT("input")};
    struct sl_json_member f[3];
    int rc = sl__xl_read(&t->x, path, v, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[0].type != SL_JSON_STRING || f[1].type != SL_JSON_STRING || !sl__xl_has(&f[2]))
        return sl__xl_fail(&t->x, path, "toolUse: expected toolUseId, name and input");
    if (n == SL_XLATE_MAX_TOOL_CALLS)
        return sl__xl_fail(&t->x, "output.message.content", "more than %d toolUse blocks",
                           SL_XLATE_MAX_TOOL_CALLS);
    if (n == 0) {
        sl_jw_key(&t->w, SL_STRLIT("tool_calls"));
        sl_jw_arr(&t->w);
    }
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "id", f[0].value);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
    sl_jw_key(&t->w, SL_STRLIT("function"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", f[1].value);
    /* The arguments string is the input's JSON text byte for byte. */
    sl_jw_kstr(&t->w, "arguments", f[2].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* One pass over the content blocks, writing what belongs to p. Returns how many did (*n). */
static int pass(struct b2c *t, enum pass p, size_t *n)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t i = 0;
    int rc = SL_OK;
    *n = 0;
    t->joined = 0;
    t->joined_key = p == P_TEXT ? "content" : "reasoning_content";
    sl__xl_iter(&it, &t->content);
    for (; sl__xl_next(&it, NULL, &v) == 1; i++) {
        const char *path = SL__XL_PATH(&t->x, "output.message.content[%zu]", i);
        if ((rc = sl__xl_read(&t->x, path, &v, block_keys, B_N, b, NULL, NULL)) != SL_OK)
            return rc;
        if (p == P_TEXT && b[B_TEXT].type == SL_JSON_STRING)
            piece(t, &b[B_TEXT]);
        else if (p == P_TEXT && sl__xl_has(&b[B_TEXT]))
            return sl__xl_fail(&t->x, path, "text: expected a string");
        else if (p == P_TEXT && sl__xl_has(&b[B_CITATIONS]))
            rc = citations_text(t, &b[B_CITATIONS], path);
        else if (p == P_REASONING && sl__xl_has(&b[B_REASONING]))
            rc = reasoning_text(t, &b[B_REASONING], path);
        else if (p == P_TOOLS && sl__xl_has(&b[B_TOOL_USE]))
            rc = tool_call(t, &b[B_TOOL_USE], path, (*n)++);
        /* images, documents and newer kinds: nothing a chat.completion message can carry */
        if (rc != SL_OK)
            return rc;
    }
    if (p == P_TOOLS && *n != 0)
        sl_jw_arr_end(&t->w);
    if (p != P_TOOLS) {
        *n = t->joined;
        if (t->joined != 0)
            sl_jw_str_end(&t->w);
    }
    return SL_OK;
}

static int message(struct b2c *t)
{
    static const struct sl_str out_keys[] = {SL_STR_INIT("message")};
    static const struct sl_str msg_keys[] = {SL_STR_INIT("content")};
    struct sl_json_member o[1], msg[1];
    size_t n;
    int rc;
    if ((rc = sl__xl_read(&t->x, "output", &t->m[K_OUTPUT], out_keys, 1, o, NULL, NULL)) != SL_OK ||
        (rc = sl__xl_read(&t->x, "output.message", &o[0], msg_keys, 1, msg, NULL, NULL)) != SL_OK)
        return rc;
    if (msg[0].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "output.message.content", "expected an array");
    t->content = msg[0];
    sl_jw_key(&t->w, SL_STRLIT("message"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
    if ((rc = pass(t, P_TEXT, &n)) != SL_OK)
        return rc;
    if (n == 0) {
        sl_jw_key(&t->w, SL_STRLIT("content"));
        sl_jw_null(&t->w);
    }
    if ((rc = pass(t, P_REASONING, &n)) != SL_OK || (rc = pass(t, P_TOOLS, &n)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("refusal"));
    sl_jw_null(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int translate(struct b2c *t, struct sl_usage *usage)
{
    const struct sl_json_member *m = t->m;
    struct sl_usage a = SL_USAGE_UNKNOWN;
    int rc;
    if (m[K_OUTPUT].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, "output", "expected an object");
    if (sl__xl_has(&m[K_USAGE]) &&
        (rc = sl__xl_converse_usage(&t->x, "usage", &m[K_USAGE], &a)) != SL_OK)
        return rc;
    if (sl__xl_has(&m[K_STOP_REASON]) && m[K_STOP_REASON].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "stopReason", "expected a string");
    sl_jw_obj(&t->w);
    /* Converse replies carry no id: the request's own names the completion. */
    sl_jw_key(&t->w, SL_STRLIT("id"));
    sl_jw_str_begin(&t->w);
    sl_jw_str_piece(&t->w, SL_STRLIT("chatcmpl-"));
    sl_jw_str_piece(&t->w, t->c->id_seed);
    sl_jw_str_end(&t->w);
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
        sl_jw_str(&t->w,
                  sl_str_from_cstr(sl__xl_finish_of_converse(sl__xl_inner(&m[K_STOP_REASON]))));
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

int sl__xlate_converse_to_chat_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, struct sl_usage *usage, char *why,
                                        size_t whylen)
{
    struct b2c *t = sl_xmalloc(sizeof(*t));
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
