/* Response: Gemini GenerateContentResponse JSON -> OpenAI chat.completion JSON (the reply an
 * OpenAI SDK caller gets from a Gemini model), and what the Gemini stream stage shares with it:
 * usage, finish reasons, blocked prompts, tool call ids. Decisions in docs/translation.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "xlate_internal.h"

/* ---- shared with the stream stage ---- */

enum { U_PROMPT, U_CANDIDATES, U_TOTAL, U_CACHED, U_THOUGHTS, U_TOOL_PROMPT, U_N };
static const struct sl_str usage_keys[U_N] = {
    [U_PROMPT] = SL_STR_INIT("promptTokenCount"),
    [U_CANDIDATES] = SL_STR_INIT("candidatesTokenCount"),
    [U_TOTAL] = SL_STR_INIT("totalTokenCount"),
    [U_CACHED] = SL_STR_INIT("cachedContentTokenCount"),
    [U_THOUGHTS] = SL_STR_INIT("thoughtsTokenCount"),
    [U_TOOL_PROMPT] = SL_STR_INIT("toolUsePromptTokenCount"),
};

int sl__xl_gemini_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                        struct sl_usage *u)
{
    struct sl_json_member f[U_N];
    uint64_t n[U_N] = {0};
    int rc = sl__xl_read(x, path, v, usage_keys, U_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < U_N; i++)
        if (sl__xl_has(&f[i]) && (sl__xl_uint(&f[i], &n[i]) != SL_OK || n[i] > (uint64_t)1 << 53))
            return sl__xl_fail(x, path, "%s: expected a token count", usage_keys[i].ptr);
    /* OpenAI's prompt counts every prompt token (tool-use prompts too, cached ones included);
       its completion counts the reasoning tokens Gemini reports apart. */
    u->input_tokens = (int64_t)(n[U_PROMPT] + n[U_TOOL_PROMPT]);
    u->output_tokens = (int64_t)(n[U_CANDIDATES] + n[U_THOUGHTS]);
    u->cache_read_tokens = (int64_t)n[U_CACHED];
    u->cache_creation_tokens = -1;
    u->reasoning_tokens = (int64_t)n[U_THOUGHTS];
    return SL_OK;
}

void sl__xl_write_gemini_chat_usage(struct sl_json_w *w, const struct sl_usage *u)
{
    int64_t in = u->input_tokens < 0 ? 0 : u->input_tokens;
    int64_t out = u->output_tokens < 0 ? 0 : u->output_tokens;
    sl_jw_key(w, SL_STRLIT("usage"));
    sl_jw_obj(w);
    sl_jw_kint(w, "prompt_tokens", in);
    sl_jw_kint(w, "completion_tokens", out);
    sl_jw_kint(w, "total_tokens", in + out);
    sl_jw_key(w, SL_STRLIT("prompt_tokens_details"));
    sl_jw_obj(w);
    sl_jw_kint(w, "cached_tokens", u->cache_read_tokens < 0 ? 0 : u->cache_read_tokens);
    sl_jw_obj_end(w);
    sl_jw_key(w, SL_STRLIT("completion_tokens_details"));
    sl_jw_obj(w);
    sl_jw_kint(w, "reasoning_tokens", u->reasoning_tokens < 0 ? 0 : u->reasoning_tokens);
    sl_jw_obj_end(w);
    sl_jw_obj_end(w);
}

const char *sl__xl_finish_of_gemini(struct sl_str r, bool tool_calls)
{
    static const char *const filtered[] = {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    };
    if (sl_str_eq_lit(r, "MAX_TOKENS"))
        return "length";
    for (size_t i = 0; i < SL_ARRAY_LEN(filtered); i++)
        if (sl_str_eq(r, sl_str_from_cstr(filtered[i])))
            return "content_filter";
    /* STOP, and the reasons a caller can do nothing about (OTHER, LANGUAGE, a malformed function
       call): the model stopped. */
    return tool_calls ? "tool_calls" : "stop";
}

int sl__xl_gemini_blocked(struct sl__xl *x, const struct sl_json_member *feedback)
{
    static const struct sl_str keys[] = {SL_STR_INIT("blockReason"),
                                         SL_STR_INIT("blockReasonMessage")};
    struct sl_json_member f[2];
    struct sl_str msg = SL_STR_NULL;
    if (!sl__xl_has(feedback))
        return SL_OK;
    if (sl__xl_read(x, "promptFeedback", feedback, keys, 2, f, NULL, NULL) != SL_OK)
        return SL_EPARSE;
    if (f[0].type != SL_JSON_STRING || sl__xl_str_is(&f[0], "BLOCKED_REASON_UNSPECIFIED"))
        return SL_OK;
    if (f[1].type == SL_JSON_STRING && sl__xl_text(x, &f[1], &msg) != SL_OK)
        msg = SL_STR_NULL;
    sl__xl_fail(x, "", "the upstream blocked the prompt (promptFeedback.blockReason %.*s)%s%.*s",
                (int)SL_MIN(f[0].value.len - 2, (size_t)64), f[0].value.ptr + 1,
                msg.len != 0 ? ": " : "", (int)SL_MIN(msg.len, (size_t)200), msg.ptr);
    return SL_ERR;
}

void sl__xl_write_gemini_call_id(struct sl_json_w *w, const struct sl_json_member *id,
                                 const struct sl_json_member *signature, struct sl_str seed,
                                 size_t n)
{
    char num[24];
    size_t at = sizeof(num);
    sl_jw_key(w, SL_STRLIT("id"));
    sl_jw_str_begin(w);
    if (id->type == SL_JSON_STRING && id->value.len > 2) {
        sl_jw_str_raw(w, sl__xl_inner(id));
    } else {
        do {
            num[--at] = (char)('0' + n % 10);
            n /= 10;
        } while (n != 0);
        num[--at] = '_';
        sl_jw_str_piece(w, SL_STRLIT("call_"));
        sl_jw_str_piece(w, seed);
        sl_jw_str_piece(w, sl_str_init(num + at, sizeof(num) - at));
    }
    /* The thought signature rides in the id so it comes back with the call (req_chat_gemini.c
       splits it off again): Gemini wants it with the call in the next turn. */
    if (signature != NULL && signature->type == SL_JSON_STRING && signature->value.len > 2) {
        sl_jw_str_piece(w, SL_STRLIT("__thought__"));
        sl_jw_str_raw(w, sl__xl_inner(signature));
    }
    sl_jw_str_end(w);
}

int sl__xl_gemini_call(struct sl__xl *x, struct sl_json_w *w, const char *path,
                       const struct sl_json_member *call, const struct sl_json_member *signature,
                       struct sl_str seed, size_t n, int64_t index)
{
    static const struct sl_str keys[] = {SL_STR_INIT("name"), SL_STR_INIT("args"),
                                         SL_STR_INIT("id")};
    struct sl_json_member f[3];
    int rc = sl__xl_read(x, path, call, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[0].type != SL_JSON_STRING || f[0].value.len == 2)
        return sl__xl_fail(x, path, "functionCall.name: expected a non-empty string");
    if (sl__xl_has(&f[1]) && f[1].type != SL_JSON_OBJECT)
        return sl__xl_fail(x, path, "functionCall.args: expected an object");
    sl_jw_obj(w);
    if (index >= 0)
        sl_jw_kint(w, "index", index);
    sl__xl_write_gemini_call_id(w, &f[2], signature, seed, n);
    sl_jw_kstr(w, "type", SL_STRLIT("function"));
    sl_jw_key(w, SL_STRLIT("function"));
    sl_jw_obj(w);
    sl_jw_kraw(w, "name", f[0].value);
    /* The arguments string is the args object's JSON text byte for byte. */
    sl_jw_kstr(w, "arguments", sl__xl_has(&f[1]) ? f[1].value : SL_STRLIT("{}"));
    sl_jw_obj_end(w);
    sl_jw_obj_end(w);
    return SL_OK;
}

/* ---- the response ---- */

enum { K_CANDIDATES, K_PROMPT_FEEDBACK, K_USAGE, K_RESPONSE_ID, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_CANDIDATES] = SL_STR_INIT("candidates"),
    [K_PROMPT_FEEDBACK] = SL_STR_INIT("promptFeedback"),
    [K_USAGE] = SL_STR_INIT("usageMetadata"),
    [K_RESPONSE_ID] = SL_STR_INIT("responseId"),
};

enum { C_CONTENT, C_FINISH, C_INDEX, C_N };
static const struct sl_str cand_keys[C_N] = {
    [C_CONTENT] = SL_STR_INIT("content"),
    [C_FINISH] = SL_STR_INIT("finishReason"),
    [C_INDEX] = SL_STR_INIT("index"),
};

enum { P_TEXT, P_THOUGHT, P_SIGNATURE, P_CALL, P_N };
static const struct sl_str part_keys[P_N] = {
    [P_TEXT] = SL_STR_INIT("text"),
    [P_THOUGHT] = SL_STR_INIT("thought"),
    [P_SIGNATURE] = SL_STR_INIT("thoughtSignature"),
    [P_CALL] = SL_STR_INIT("functionCall"),
};

/* A candidate's parts, read once: what each one is and the members the reply needs. */
#define MAX_PARTS 512

enum part_kind { PK_OTHER = 0, PK_TEXT, PK_THOUGHT, PK_CALL };

struct part {
    enum part_kind kind;
    struct sl_json_member value;     /* the text, or the functionCall object */
    struct sl_json_member signature; /* thoughtSignature */
};

struct g2c {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    size_t calls; /* tool calls written so far (for invented ids) */
    size_t nparts;
    struct part parts[MAX_PARTS];
};

static int content_parts(struct g2c *t, const struct sl_json_member *content, size_t ci,
                         struct sl_json_member *parts)
{
    static const struct sl_str keys[] = {SL_STR_INIT("parts"), SL_STR_INIT("role")};
    struct sl_json_member f[2];
    const char *path = SL__XL_PATH(&t->x, "candidates[%zu].content", ci);
    parts->type = SL_JSON_ABSENT;
    if (!sl__xl_has(content))
        return SL_OK;
    int rc = sl__xl_read(&t->x, path, content, keys, 2, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_has(&f[0]) && f[0].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, path, "parts: expected an array");
    *parts = f[0];
    return SL_OK;
}

/* Reads a candidate's parts into t->parts. inlineData, executableCode and other parts are kept
 * as PK_OTHER: nothing OpenAI can carry. */
static int read_parts(struct g2c *t, const struct sl_json_member *parts, size_t ci)
{
    struct sl__xl_it it;
    struct sl_json_member v, f[P_N];
    size_t j = 0;
    int rc;
    t->nparts = 0;
    if (parts->type != SL_JSON_ARRAY)
        return SL_OK;
    if (parts->count > MAX_PARTS)
        return sl__xl_fail(&t->x, SL__XL_PATH(&t->x, "candidates[%zu].content.parts", ci),
                           "more than %d parts", MAX_PARTS);
    sl__xl_iter(&it, parts);
    for (; sl__xl_next(&it, NULL, &v) == 1; j++) {
        const char *path = SL__XL_PATH(&t->x, "candidates[%zu].content.parts[%zu]", ci, j);
        struct part *p = &t->parts[t->nparts++];
        if ((rc = sl__xl_read(&t->x, path, &v, part_keys, P_N, f, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_has(&f[P_TEXT]) && f[P_TEXT].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "text: expected a string");
        p->kind = sl__xl_has(&f[P_CALL])              ? PK_CALL
                  : f[P_TEXT].type != SL_JSON_STRING  ? PK_OTHER
                  : f[P_THOUGHT].type == SL_JSON_TRUE ? PK_THOUGHT
                                                      : PK_TEXT;
        p->value = p->kind == PK_CALL ? f[P_CALL] : f[P_TEXT];
        p->signature = f[P_SIGNATURE];
    }
    return SL_OK;
}

/* The writer and its buffer at some point, to take back a member that turned out empty. */
struct mark {
    struct sl_json_w w;
    size_t len;
};

static struct mark mark_here(const struct g2c *t)
{
    return (struct mark){t->w, t->w.out->len};
}

static void rewind_to(struct g2c *t, const struct mark *m)
{
    t->w = m->w;
    t->w.out->len = m->len;
}

/* key: the texts of one kind joined into a string; for content null when there are none (as
 * OpenAI's content is when a reply is only tool calls), else nothing. */
static void joined(struct g2c *t, enum part_kind kind, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nparts; i++)
        n += t->parts[i].kind == kind;
    if (n == 0 && kind != PK_TEXT)
        return;
    sl_jw_key(&t->w, sl_str_from_cstr(key));
    if (n == 0) {
        sl_jw_null(&t->w);
        return;
    }
    sl_jw_str_begin(&t->w);
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].kind == kind)
            sl_jw_str_raw(&t->w, sl__xl_inner(&t->parts[i].value));
    sl_jw_str_end(&t->w);
}

static int tool_calls(struct g2c *t, size_t ci, size_t *n)
{
    struct mark m = mark_here(t);
    int rc;
    *n = 0;
    sl_jw_key(&t->w, SL_STRLIT("tool_calls"));
    sl_jw_arr(&t->w);
    for (size_t i = 0; i < t->nparts; i++) {
        const struct part *p = &t->parts[i];
        if (p->kind != PK_CALL)
            continue;
        const char *path = SL__XL_PATH(&t->x, "candidates[%zu].content.parts[%zu]", ci, i);
        if ((rc = sl__xl_gemini_call(&t->x, &t->w, path, &p->value, &p->signature, t->c->id_seed,
                                     t->calls++, -1)) != SL_OK)
            return rc;
        (*n)++;
    }
    sl_jw_arr_end(&t->w);
    if (*n > SL_XLATE_MAX_TOOL_CALLS)
        return sl__xl_fail(&t->x, "candidates", "more than %d function calls",
                           SL_XLATE_MAX_TOOL_CALLS);
    if (*n == 0)
        rewind_to(t, &m);
    return SL_OK;
}

static int candidate(struct g2c *t, const struct sl_json_member *cand, size_t ci)
{
    struct sl_json_member f[C_N], parts;
    const char *path = SL__XL_PATH(&t->x, "candidates[%zu]", ci);
    uint64_t index = ci;
    size_t calls;
    int rc = sl__xl_read(&t->x, path, cand, cand_keys, C_N, f, NULL, NULL);
    if (rc != SL_OK || (rc = content_parts(t, &f[C_CONTENT], ci, &parts)) != SL_OK ||
        (rc = read_parts(t, &parts, ci)) != SL_OK)
        return rc;
    if (sl__xl_has(&f[C_INDEX]) && (sl__xl_uint(&f[C_INDEX], &index) != SL_OK || index > 1024))
        return sl__xl_fail(&t->x, path, "index: expected a candidate index");
    if (sl__xl_has(&f[C_FINISH]) && f[C_FINISH].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "finishReason: expected a string");
    sl_jw_obj(&t->w);
    sl_jw_kint(&t->w, "index", (int64_t)index);
    sl_jw_key(&t->w, SL_STRLIT("message"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
    joined(t, PK_TEXT, "content");
    joined(t, PK_THOUGHT, "reasoning_content");
    if ((rc = tool_calls(t, ci, &calls)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("refusal"));
    sl_jw_null(&t->w);
    sl_jw_obj_end(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("logprobs"));
    sl_jw_null(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("finish_reason"));
    if (f[C_FINISH].type == SL_JSON_STRING)
        sl_jw_str(&t->w, sl_str_from_cstr(
                             sl__xl_finish_of_gemini(sl__xl_inner(&f[C_FINISH]), calls != 0)));
    else
        sl_jw_null(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int choices(struct g2c *t)
{
    struct sl__xl_it it;
    struct sl_json_member v;
    size_t ci = 0;
    int rc;
    sl_jw_key(&t->w, SL_STRLIT("choices"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, &t->m[K_CANDIDATES]);
    for (; sl__xl_next(&it, NULL, &v) == 1; ci++)
        if ((rc = candidate(t, &v, ci)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int translate(struct g2c *t, struct sl_usage *usage)
{
    const struct sl_json_member *m = t->m;
    int rc;
    bool none = m[K_CANDIDATES].type != SL_JSON_ARRAY || m[K_CANDIDATES].count == 0;
    if (sl__xl_has(&m[K_CANDIDATES]) && m[K_CANDIDATES].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "candidates", "expected an array");
    if (none && (rc = sl__xl_gemini_blocked(&t->x, &m[K_PROMPT_FEEDBACK])) != SL_OK)
        return rc;
    if (none)
        return sl__xl_fail(&t->x, "candidates", "no candidates, and no block reason");
    if (sl__xl_has(&m[K_USAGE]) &&
        (rc = sl__xl_gemini_usage(&t->x, "usageMetadata", &m[K_USAGE], usage)) != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("id"));
    sl_jw_str_begin(&t->w);
    sl_jw_str_piece(&t->w, SL_STRLIT("chatcmpl-"));
    if (m[K_RESPONSE_ID].type == SL_JSON_STRING)
        sl_jw_str_raw(&t->w, sl__xl_inner(&m[K_RESPONSE_ID]));
    else
        sl_jw_str_piece(&t->w, t->c->id_seed);
    sl_jw_str_end(&t->w);
    sl_jw_kstr(&t->w, "object", SL_STRLIT("chat.completion"));
    sl_jw_kint(&t->w, "created", t->c->created);
    sl_jw_kstr(&t->w, "model", t->c->alias);
    if ((rc = choices(t)) != SL_OK)
        return rc;
    if (sl__xl_has(&m[K_USAGE]))
        sl__xl_write_gemini_chat_usage(&t->w, usage);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_gemini_to_chat_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                      struct sl_buf *out, struct sl_usage *usage, char *why,
                                      size_t whylen)
{
    struct g2c *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    t->c = c;
    t->calls = 0;
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
