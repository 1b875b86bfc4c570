/* Request: OpenAI Responses -> OpenAI chat completions (a Responses caller reaching a chat-only
 * model; an Anthropic one through chat, by composition). Every field decision is in
 * docs/responses.md; the comments here say why where the code alone does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "responses_internal.h"
#include "sluice/base.h"
#include "xlate_internal.h"

enum {
    K_MODEL,
    K_INPUT,
    K_INSTRUCTIONS,
    K_STREAM,
    K_MAX_OUTPUT_TOKENS,
    K_TEMPERATURE,
    K_TOP_P,
    K_TOOLS,
    K_TOOL_CHOICE,
    K_PARALLEL_TOOL_CALLS,
    K_TEXT,
    K_REASONING,
    K_METADATA,
    K_USER,
    K_SAFETY_IDENTIFIER,
    K_PROMPT_CACHE_KEY,
    K_PROMPT_CACHE_RETENTION,
    K_SERVICE_TIER,
    K_TOP_LOGPROBS,
    /* State a chat upstream does not keep: refused unless they ask for none. */
    K_STORE,
    K_BACKGROUND,
    K_PREVIOUS_RESPONSE_ID,
    K_CONVERSATION,
    K_PROMPT,
    K_CONTEXT_MANAGEMENT,
    /* Read and dropped: they change nothing a chat upstream can act on. */
    K_INCLUDE,
    K_TRUNCATION,
    K_STREAM_OPTIONS,
    K_MAX_TOOL_CALLS,
    K_COUNT,
};

static const struct sl_str top_keys[K_COUNT] = {
    [K_MODEL] = SL_STR_INIT("model"),
    [K_INPUT] = SL_STR_INIT("input"),
    [K_INSTRUCTIONS] = SL_STR_INIT("instructions"),
    [K_STREAM] = SL_STR_INIT("stream"),
    [K_MAX_OUTPUT_TOKENS] = SL_STR_INIT("max_output_tokens"),
    [K_TEMPERATURE] = SL_STR_INIT("temperature"),
    [K_TOP_P] = SL_STR_INIT("top_p"),
    [K_TOOLS] = SL_STR_INIT("tools"),
    [K_TOOL_CHOICE] = SL_STR_INIT("tool_choice"),
    [K_PARALLEL_TOOL_CALLS] = SL_STR_INIT("parallel_tool_calls"),
    [K_TEXT] = SL_STR_INIT("text"),
    [K_REASONING] = SL_STR_INIT("reasoning"),
    [K_METADATA] = SL_STR_INIT("metadata"),
    [K_USER] = SL_STR_INIT("user"),
    [K_SAFETY_IDENTIFIER] = SL_STR_INIT("safety_identifier"),
    [K_PROMPT_CACHE_KEY] = SL_STR_INIT("prompt_cache_key"),
    [K_PROMPT_CACHE_RETENTION] = SL_STR_INIT("prompt_cache_retention"),
    [K_SERVICE_TIER] = SL_STR_INIT("service_tier"),
    [K_TOP_LOGPROBS] = SL_STR_INIT("top_logprobs"),
    [K_STORE] = SL_STR_INIT("store"),
    [K_BACKGROUND] = SL_STR_INIT("background"),
    [K_PREVIOUS_RESPONSE_ID] = SL_STR_INIT("previous_response_id"),
    [K_CONVERSATION] = SL_STR_INIT("conversation"),
    [K_PROMPT] = SL_STR_INIT("prompt"),
    [K_CONTEXT_MANAGEMENT] = SL_STR_INIT("context_management"),
    [K_INCLUDE] = SL_STR_INIT("include"),
    [K_TRUNCATION] = SL_STR_INIT("truncation"),
    [K_STREAM_OPTIONS] = SL_STR_INIT("stream_options"),
    [K_MAX_TOOL_CALLS] = SL_STR_INIT("max_tool_calls"),
};

/* The chat message being written, when it may still take tool calls. */
enum open_msg {
    OPEN_NONE = 0,   /* no message left open */
    OPEN_ASSISTANT,  /* an assistant message whose object is still open */
    OPEN_TOOL_CALLS, /* ...with its "tool_calls" array open */
};

struct r2c {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    enum open_msg open;
    size_t mark; /* where the output starts in the buffer */
};

#define pathf(t, ...) SL__XL_PATH(&(t)->x, __VA_ARGS__)

#define STATELESS                                                                                  \
    "this model is served through chat completions, which keep no state between requests"

/* ---- fields that need state or tools a chat upstream does not have ---- */

/* store and background ask for nothing when false; previous_response_id, conversation, prompt
 * and context_management when null. Anything else would be dropped silently, so it is refused,
 * naming the field. */
static int refuse_state(struct r2c *t)
{
    const struct sl_json_member *m = t->m;
    if (m[K_STORE].type == SL_JSON_TRUE)
        return sl__xl_fail(&t->x, "store",
                           "true keeps the response in OpenAI's response store; " STATELESS
                           " (send store: false or leave it out)");
    if (m[K_BACKGROUND].type == SL_JSON_TRUE)
        return sl__xl_fail(
            &t->x, "background",
            "true runs the response in OpenAI's store to be fetched later; " STATELESS);
    static const int nulls[] = {K_PREVIOUS_RESPONSE_ID, K_CONVERSATION, K_PROMPT,
                                K_CONTEXT_MANAGEMENT};
    static const char *const why[] = {
        "a previous response is kept only by OpenAI's Responses API; " STATELESS
        " (send the conversation in input)",
        "conversations are kept only by OpenAI's Conversations API; " STATELESS,
        "prompt templates are kept in an OpenAI project; " STATELESS,
        "server-side context compaction needs OpenAI's Responses API; " STATELESS,
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(nulls); i++)
        if (sl__xl_has(&m[nulls[i]]))
            return sl__xl_fail(&t->x, top_keys[nulls[i]].ptr, "%s", why[i]);
    if ((sl__xl_has(&m[K_STORE]) && m[K_STORE].type != SL_JSON_FALSE) ||
        (sl__xl_has(&m[K_BACKGROUND]) && m[K_BACKGROUND].type != SL_JSON_FALSE))
        return sl__xl_fail(
            &t->x,
            sl__xl_has(&m[K_STORE]) && m[K_STORE].type != SL_JSON_FALSE ? "store" : "background",
            "expected a boolean");
    uint64_t n;
    if (sl__xl_has(&m[K_TOP_LOGPROBS]) && (sl__xl_uint(&m[K_TOP_LOGPROBS], &n) != SL_OK || n != 0))
        return sl__xl_fail(&t->x, "top_logprobs",
                           "log probabilities are not translated from chat completions (only 0 "
                           "can be served)");
    return SL_OK;
}

/* ---- input ---- */

static void close_open(struct r2c *t)
{
    if (t->open == OPEN_TOOL_CALLS)
        sl_jw_arr_end(&t->w);
    if (t->open != OPEN_NONE)
        sl_jw_obj_end(&t->w);
    t->open = OPEN_NONE;
}

static int type_of(struct r2c *t, const char *path, const struct sl_json_member *type)
{
    if (type->type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "type: expected a string");
    return SL_OK;
}

static int unsupported(struct r2c *t, const char *path, const char *what,
                       const struct sl_json_member *type)
{
    return sl__xl_fail(&t->x, path, "%s %.*s is not translated to chat completions", what,
                       (int)SL_MIN(type->value.len, (size_t)64), type->value.ptr);
}

/* input_image -> image_url. */
static int image_part(struct r2c *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("image_url"), SL_STR_INIT("file_id"),
                                         SL_STR_INIT("detail")};
    struct sl_json_member f[3];
    int rc = sl__xl_read(&t->x, path, part, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_has(&f[1]))
        return sl__xl_fail(&t->x, path,
                           "file_id: files stored at OpenAI cannot be reached through chat "
                           "completions; send image_url (an https: or data: URL)");
    if (f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "image_url: expected a string");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("image_url"));
    sl_jw_key(&t->w, SL_STRLIT("image_url"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "url", f[0].value);
    if (f[2].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "detail", f[2].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* input_file -> file (inline data only). */
static int file_part(struct r2c *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("file_data"), SL_STR_INIT("filename"),
                                         SL_STR_INIT("file_id"), SL_STR_INIT("file_url")};
    struct sl_json_member f[4];
    int rc = sl__xl_read(&t->x, path, part, keys, 4, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_has(&f[2]) || sl__xl_has(&f[3]))
        return sl__xl_fail(&t->x, path,
                           "%s: only inline files (file_data) can be sent through chat "
                           "completions",
                           sl__xl_has(&f[2]) ? "file_id" : "file_url");
    if (f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "file_data: expected a string");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("file"));
    sl_jw_key(&t->w, SL_STRLIT("file"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "file_data", f[0].value);
    if (f[1].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "filename", f[1].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* One part of a user message's content. */
static int user_part(struct r2c *t, const struct sl_json_member *part, size_t i, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text"),
                                         SL_STR_INIT("input_audio")};
    struct sl_json_member f[3];
    const char *path = pathf(t, "input[%zu].content[%zu]", i, j);
    int rc = sl__xl_read(&t->x, path, part, keys, 3, f, NULL, NULL);
    if (rc != SL_OK || (rc = type_of(t, path, &f[0])) != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[0], "input_text")) {
        if (f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "text: expected a string");
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("text"));
        sl_jw_kraw(&t->w, "text", f[1].value);
        sl_jw_obj_end(&t->w);
        return SL_OK;
    }
    if (sl__xl_str_is(&f[0], "input_image"))
        return image_part(t, part, path);
    if (sl__xl_str_is(&f[0], "input_file"))
        return file_part(t, part, path);
    if (sl__xl_str_is(&f[0], "input_audio")) {
        if (f[2].type != SL_JSON_OBJECT)
            return sl__xl_fail(&t->x, path, "input_audio: expected an object");
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("input_audio"));
        sl_jw_kraw(&t->w, "input_audio", f[2].value);
        sl_jw_obj_end(&t->w);
        return SL_OK;
    }
    return unsupported(t, path, "content part", &f[0]);
}

/* Text parts joined into one string (system and developer messages, an assistant's text, a
 * function's output): chat-only servers take plain strings there most widely. want is the part
 * type that carries text; an assistant's refusal parts go to refusal. */
static int joined_text(struct r2c *t, const struct sl_json_member *content, size_t i,
                       const char *want, bool *refusal_seen)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text"),
                                         SL_STR_INIT("refusal")};
    struct sl__xl_it it;
    struct sl_json_member part, f[3];
    sl_jw_str_begin(&t->w);
    sl__xl_iter(&it, content);
    for (size_t j = 0; sl__xl_next(&it, NULL, &part) == 1; j++) {
        const char *path = pathf(t, "input[%zu].content[%zu]", i, j);
        int rc = sl__xl_read(&t->x, path, &part, keys, 3, f, NULL, NULL);
        if (rc != SL_OK || (rc = type_of(t, path, &f[0])) != SL_OK)
            return rc;
        if (refusal_seen != NULL && sl__xl_str_is(&f[0], "refusal")) {
            *refusal_seen = true;
            continue;
        }
        /* An assistant turn replayed with input_text is read as text too. */
        if (!sl__xl_str_is(&f[0], want) && !sl__xl_str_is(&f[0], "input_text"))
            return unsupported(t, path, "content part", &f[0]);
        if (f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "text: expected a string");
        sl_jw_str_raw(&t->w, sl__xl_inner(&f[1]));
    }
    sl_jw_str_end(&t->w);
    return SL_OK;
}

/* The refusal parts of an assistant message, joined. */
static void joined_refusal(struct r2c *t, const struct sl_json_member *content)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("refusal")};
    struct sl__xl_it it;
    struct sl_json_member part, f[2];
    sl_jw_key(&t->w, SL_STRLIT("refusal"));
    sl_jw_str_begin(&t->w);
    sl__xl_iter(&it, content);
    while (sl__xl_next(&it, NULL, &part) == 1)
        if (sl__xl_read(&t->x, "", &part, keys, 2, f, NULL, NULL) == SL_OK &&
            sl__xl_str_is(&f[0], "refusal") && f[1].type == SL_JSON_STRING)
            sl_jw_str_raw(&t->w, sl__xl_inner(&f[1]));
    sl_jw_str_end(&t->w);
}

static int assistant_message(struct r2c *t, const struct sl_json_member *content, size_t i)
{
    bool refusal = false;
    int rc;
    close_open(t);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
    sl_jw_key(&t->w, SL_STRLIT("content"));
    if (content->type == SL_JSON_STRING)
        sl_jw_raw(&t->w, content->value);
    else if ((rc = joined_text(t, content, i, "output_text", &refusal)) != SL_OK)
        return rc;
    if (refusal)
        joined_refusal(t, content);
    t->open = OPEN_ASSISTANT; /* function_call items that follow join it */
    return SL_OK;
}

enum { MI_TYPE, MI_ROLE, MI_CONTENT, MI_N };

static int message(struct r2c *t, const struct sl_json_member *f, size_t i)
{
    const char *path = pathf(t, "input[%zu]", i);
    const struct sl_json_member *content = &f[MI_CONTENT];
    struct sl__xl_it it;
    struct sl_json_member part;
    int rc;
    if (content->type != SL_JSON_STRING && content->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, path, "content: expected a string or an array");
    if (sl__xl_str_is(&f[MI_ROLE], "assistant"))
        return assistant_message(t, content, i);
    bool system = sl__xl_str_is(&f[MI_ROLE], "system") || sl__xl_str_is(&f[MI_ROLE], "developer");
    if (!system && !sl__xl_str_is(&f[MI_ROLE], "user"))
        return sl__xl_fail(&t->x, path, "role: expected user, assistant, system or developer");
    close_open(t);
    sl_jw_obj(&t->w);
    /* developer is OpenAI's newer name for system; chat-only servers know system. */
    sl_jw_kstr(&t->w, "role", system ? SL_STRLIT("system") : SL_STRLIT("user"));
    sl_jw_key(&t->w, SL_STRLIT("content"));
    if (content->type == SL_JSON_STRING) {
        sl_jw_raw(&t->w, content->value);
    } else if (system) {
        if ((rc = joined_text(t, content, i, "input_text", NULL)) != SL_OK)
            return rc;
    } else {
        sl_jw_arr(&t->w);
        sl__xl_iter(&it, content);
        for (size_t j = 0; sl__xl_next(&it, NULL, &part) == 1; j++)
            if ((rc = user_part(t, &part, i, j)) != SL_OK)
                return rc;
        sl_jw_arr_end(&t->w);
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* A function_call item joins the assistant message before it (parallel calls arrive as several
 * items in a row), or opens one with no text. */
static int function_call(struct r2c *t, const struct sl_json_member *item, size_t i)
{
    static const struct sl_str keys[] = {SL_STR_INIT("call_id"), SL_STR_INIT("name"),
                                         SL_STR_INIT("arguments")};
    struct sl_json_member f[3];
    const char *path = pathf(t, "input[%zu]", i);
    int rc = sl__xl_read(&t->x, path, item, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[0].type != SL_JSON_STRING || f[1].type != SL_JSON_STRING || f[2].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "expected call_id, name and arguments strings");
    if (t->open == OPEN_NONE) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
        sl_jw_key(&t->w, SL_STRLIT("content"));
        sl_jw_null(&t->w);
        t->open = OPEN_ASSISTANT;
    }
    if (t->open == OPEN_ASSISTANT) {
        sl_jw_key(&t->w, SL_STRLIT("tool_calls"));
        sl_jw_arr(&t->w);
        t->open = OPEN_TOOL_CALLS;
    }
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "id", f[0].value);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
    sl_jw_key(&t->w, SL_STRLIT("function"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", f[1].value);
    sl_jw_kraw(&t->w, "arguments", f[2].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* function_call_output -> a tool message. */
static int function_output(struct r2c *t, const struct sl_json_member *item, size_t i)
{
    static const struct sl_str keys[] = {SL_STR_INIT("call_id"), SL_STR_INIT("output")};
    struct sl_json_member f[2];
    const char *path = pathf(t, "input[%zu]", i);
    int rc = sl__xl_read(&t->x, path, item, keys, 2, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "call_id: expected a string");
    if (f[1].type != SL_JSON_STRING && f[1].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, path, "output: expected a string or an array");
    close_open(t);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("tool"));
    sl_jw_kraw(&t->w, "tool_call_id", f[0].value);
    sl_jw_key(&t->w, SL_STRLIT("content"));
    if (f[1].type == SL_JSON_STRING)
        sl_jw_raw(&t->w, f[1].value);
    else if ((rc = joined_text(t, &f[1], i, "input_text", NULL)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int item(struct r2c *t, const struct sl_json_member *it, size_t i)
{
    static const struct sl_str keys[MI_N] = {SL_STR_INIT("type"), SL_STR_INIT("role"),
                                             SL_STR_INIT("content")};
    struct sl_json_member f[MI_N];
    const char *path = pathf(t, "input[%zu]", i);
    int rc = sl__xl_read(&t->x, path, it, keys, MI_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    /* A message may leave out its type (EasyInputMessage). */
    if (!sl__xl_has(&f[MI_TYPE]) || sl__xl_str_is(&f[MI_TYPE], "message")) {
        if (f[MI_ROLE].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "role: expected a string");
        return message(t, f, i);
    }
    if ((rc = type_of(t, path, &f[MI_TYPE])) != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[MI_TYPE], "function_call"))
        return function_call(t, it, i);
    if (sl__xl_str_is(&f[MI_TYPE], "function_call_output"))
        return function_output(t, it, i);
    /* The model's own reasoning from an earlier turn: chat has no field to send it back in
       (and DeepSeek-style servers ask that it not be). */
    if (sl__xl_str_is(&f[MI_TYPE], "reasoning"))
        return SL_OK;
    if (sl__xl_str_is(&f[MI_TYPE], "item_reference"))
        return sl__xl_fail(&t->x, path,
                           "item_reference points into OpenAI's response store; " STATELESS
                           " (send the item itself; with the AI SDK, set "
                           "providerOptions.openai.store to false)");
    return unsupported(t, path, "input item", &f[MI_TYPE]);
}

static int messages(struct r2c *t)
{
    const struct sl_json_member *in = &t->m[K_INPUT], *ins = &t->m[K_INSTRUCTIONS];
    struct sl__xl_it it;
    struct sl_json_member v;
    int rc;
    if (!sl__xl_has(in))
        return sl__xl_fail(&t->x, "input", "required (" STATELESS ")");
    if (in->type != SL_JSON_STRING && in->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "input", "expected a string or an array of items");
    if (sl__xl_has(ins) && ins->type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "instructions", "expected a string");
    sl_jw_key(&t->w, SL_STRLIT("messages"));
    sl_jw_arr(&t->w);
    if (ins->type == SL_JSON_STRING && ins->value.len > 2) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "role", SL_STRLIT("system"));
        sl_jw_kraw(&t->w, "content", ins->value);
        sl_jw_obj_end(&t->w);
    }
    if (in->type == SL_JSON_STRING) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "role", SL_STRLIT("user"));
        sl_jw_kraw(&t->w, "content", in->value);
        sl_jw_obj_end(&t->w);
    } else {
        sl__xl_iter(&it, in);
        for (size_t i = 0; sl__xl_next(&it, NULL, &v) == 1; i++) {
            if (v.type != SL_JSON_OBJECT)
                return sl__xl_fail(&t->x, pathf(t, "input[%zu]", i), "expected an object");
            if ((rc = item(t, &v, i)) != SL_OK)
                return rc;
        }
        close_open(t);
    }
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

/* ---- tools ---- */

static int tool(struct r2c *t, const struct sl_json_member *tl, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("name"),
                                         SL_STR_INIT("description"), SL_STR_INIT("parameters"),
                                         SL_STR_INIT("strict")};
    struct sl_json_member f[5];
    const char *path = pathf(t, "tools[%zu]", j);
    int rc = sl__xl_read(&t->x, path, tl, keys, 5, f, NULL, NULL);
    if (rc != SL_OK || (rc = type_of(t, path, &f[0])) != SL_OK)
        return rc;
    if (!sl__xl_str_is(&f[0], "function"))
        return sl__xl_fail(&t->x, path,
                           "%.*s is a tool OpenAI runs on its side; this model is served "
                           "through chat completions, which call function tools only",
                           (int)SL_MIN(f[0].value.len, (size_t)64), f[0].value.ptr);
    if (f[1].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "name: expected a string");
    if (sl__xl_has(&f[3]) && f[3].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, path, "parameters: expected an object");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
    sl_jw_key(&t->w, SL_STRLIT("function"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", f[1].value);
    if (f[2].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "description", f[2].value);
    if (f[3].type == SL_JSON_OBJECT)
        sl_jw_kraw(&t->w, "parameters", f[3].value);
    if (f[4].type == SL_JSON_TRUE || f[4].type == SL_JSON_FALSE)
        sl_jw_kraw(&t->w, "strict", f[4].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tools(struct r2c *t)
{
    const struct sl_json_member *v = &t->m[K_TOOLS];
    struct sl__xl_it it;
    struct sl_json_member tl;
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if (v->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "tools", "expected an array");
    if (v->count == 0)
        return SL_OK;
    sl_jw_key(&t->w, SL_STRLIT("tools"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, v);
    for (size_t j = 0; sl__xl_next(&it, NULL, &tl) == 1; j++)
        if ((rc = tool(t, &tl, j)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

/* {"type":"function","name":N} -> chat's {"type":"function","function":{"name":N}}. */
static void function_choice(struct r2c *t, struct sl_str name_json)
{
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
    sl_jw_key(&t->w, SL_STRLIT("function"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", name_json);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
}

/* allowed_tools: the same restriction in chat's shape (function tools only). */
static int allowed_tools(struct r2c *t, const struct sl_json_member *mode,
                         const struct sl_json_member *list)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("name")};
    struct sl__xl_it it;
    struct sl_json_member tl, f[2];
    if (mode->type != SL_JSON_STRING || list->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "tool_choice", "allowed_tools: expected mode and tools");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("allowed_tools"));
    sl_jw_key(&t->w, SL_STRLIT("allowed_tools"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "mode", mode->value);
    sl_jw_key(&t->w, SL_STRLIT("tools"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, list);
    for (size_t j = 0; sl__xl_next(&it, NULL, &tl) == 1; j++) {
        const char *path = pathf(t, "tool_choice.tools[%zu]", j);
        int rc = sl__xl_read(&t->x, path, &tl, keys, 2, f, NULL, NULL);
        if (rc != SL_OK)
            return rc;
        if (!sl__xl_str_is(&f[0], "function") || f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "only function tools can be allowed");
        function_choice(t, f[1].value);
    }
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tool_choice(struct r2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("name"),
                                         SL_STR_INIT("mode"), SL_STR_INIT("tools")};
    const struct sl_json_member *v = &t->m[K_TOOL_CHOICE];
    struct sl_json_member f[4];
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if (sl__xl_str_is(v, "auto") || sl__xl_str_is(v, "none") || sl__xl_str_is(v, "required")) {
        sl_jw_kraw(&t->w, "tool_choice", v->value);
        return SL_OK;
    }
    if (v->type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, "tool_choice", "expected auto, none, required or an object");
    if ((rc = sl__xl_read(&t->x, "tool_choice", v, keys, 4, f, NULL, NULL)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("tool_choice"));
    if (sl__xl_str_is(&f[0], "function") && f[1].type == SL_JSON_STRING) {
        function_choice(t, f[1].value);
        return SL_OK;
    }
    if (sl__xl_str_is(&f[0], "allowed_tools"))
        return allowed_tools(t, &f[2], &f[3]);
    return sl__xl_fail(&t->x, "tool_choice",
                       "only auto, none, required, a function and allowed_tools can be "
                       "translated to chat completions");
}

/* ---- the other fields ---- */

/* text.format -> response_format; text.verbosity -> verbosity. */
static int text_config(struct r2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("format"), SL_STR_INIT("verbosity")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("type"), SL_STR_INIT("name"),
                                           SL_STR_INIT("schema"), SL_STR_INIT("description"),
                                           SL_STR_INIT("strict")};
    struct sl_json_member f[2], fm[5];
    int rc;
    if (!sl__xl_has(&t->m[K_TEXT]))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "text", &t->m[K_TEXT], keys, 2, f, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&f[1]) && f[1].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "text.verbosity", "expected a string");
    if (sl__xl_has(&f[0])) {
        if ((rc = sl__xl_read(&t->x, "text.format", &f[0], f_keys, 5, fm, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_str_is(&fm[0], "json_object")) {
            sl_jw_key(&t->w, SL_STRLIT("response_format"));
            sl_jw_raw(&t->w, SL_STRLIT("{\"type\":\"json_object\"}"));
        } else if (sl__xl_str_is(&fm[0], "json_schema")) {
            if (fm[1].type != SL_JSON_STRING || fm[2].type != SL_JSON_OBJECT)
                return sl__xl_fail(&t->x, "text.format",
                                   "json_schema needs name (a string) and schema (an object)");
            sl_jw_key(&t->w, SL_STRLIT("response_format"));
            sl_jw_obj(&t->w);
            sl_jw_kstr(&t->w, "type", SL_STRLIT("json_schema"));
            sl_jw_key(&t->w, SL_STRLIT("json_schema"));
            sl_jw_obj(&t->w);
            sl_jw_kraw(&t->w, "name", fm[1].value);
            if (fm[3].type == SL_JSON_STRING)
                sl_jw_kraw(&t->w, "description", fm[3].value);
            sl_jw_kraw(&t->w, "schema", fm[2].value);
            if (fm[4].type == SL_JSON_TRUE || fm[4].type == SL_JSON_FALSE)
                sl_jw_kraw(&t->w, "strict", fm[4].value);
            sl_jw_obj_end(&t->w);
            sl_jw_obj_end(&t->w);
        } else if (!sl__xl_str_is(&fm[0], "text")) {
            return sl__xl_fail(&t->x, "text.format.type",
                               "expected text, json_object or "
                               "json_schema");
        }
    }
    if (f[1].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "verbosity", f[1].value);
    return SL_OK;
}

/* reasoning.effort -> reasoning_effort. summary asks for summaries of a reasoning the
   translation passes on whole (as reasoning items), so it is dropped. */
static int reasoning(struct r2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("effort")};
    struct sl_json_member f[1];
    int rc;
    if (!sl__xl_has(&t->m[K_REASONING]))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "reasoning", &t->m[K_REASONING], keys, 1, f, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&f[0]) && f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "reasoning.effort", "expected a string");
    if (f[0].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "reasoning_effort", f[0].value);
    return SL_OK;
}

/* Fields chat has under the same name and meaning, copied when set; numbers and booleans are
   checked for their kind (the upstream judges their range). */
static int same_name(struct r2c *t)
{
    static const struct {
        int k;
        enum sl_json_type type;
    } copy[] = {
        {K_TEMPERATURE, SL_JSON_NUMBER},
        {K_TOP_P, SL_JSON_NUMBER},
        {K_PARALLEL_TOOL_CALLS, SL_JSON_TRUE},
        {K_METADATA, SL_JSON_OBJECT},
        {K_USER, SL_JSON_STRING},
        {K_SAFETY_IDENTIFIER, SL_JSON_STRING},
        {K_PROMPT_CACHE_KEY, SL_JSON_STRING},
        {K_PROMPT_CACHE_RETENTION, SL_JSON_STRING},
        {K_SERVICE_TIER, SL_JSON_STRING},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(copy); i++) {
        const struct sl_json_member *v = &t->m[copy[i].k];
        enum sl_json_type want = copy[i].type;
        if (!sl__xl_has(v))
            continue;
        bool ok = v->type == want || (want == SL_JSON_TRUE && v->type == SL_JSON_FALSE);
        if (!ok)
            return sl__xl_fail(&t->x, top_keys[copy[i].k].ptr, "expected %s",
                               want == SL_JSON_NUMBER   ? "a number"
                               : want == SL_JSON_TRUE   ? "a boolean"
                               : want == SL_JSON_OBJECT ? "an object"
                                                        : "a string");
        sl_jw_kraw(&t->w, top_keys[copy[i].k].ptr, v->value);
    }
    return SL_OK;
}

static int translate(struct r2c *t, struct sl__xl_others *o)
{
    const struct sl_json_member *m = t->m;
    uint64_t n;
    int rc;
    if ((rc = refuse_state(t)) != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "model", t->c->upstream_model);
    if ((rc = messages(t)) != SL_OK)
        return rc;
    if (m[K_STREAM].type == SL_JSON_TRUE) {
        sl_jw_key(&t->w, SL_STRLIT("stream"));
        sl_jw_bool(&t->w, true);
        /* Usage arrives in the chunk this asks for; the final event reports it. */
        sl_jw_key(&t->w, SL_STRLIT("stream_options"));
        sl_jw_raw(&t->w, SL_STRLIT("{\"include_usage\":true}"));
    } else if (sl__xl_has(&m[K_STREAM]) && m[K_STREAM].type != SL_JSON_FALSE) {
        return sl__xl_fail(&t->x, "stream", "expected a boolean");
    }
    if (sl__xl_has(&m[K_MAX_OUTPUT_TOKENS])) {
        if (sl__xl_uint(&m[K_MAX_OUTPUT_TOKENS], &n) != SL_OK || n == 0 || n > INT64_MAX)
            return sl__xl_fail(&t->x, "max_output_tokens", "expected a positive integer");
        /* max_tokens, not max_completion_tokens: the name every chat-compatible server knows. */
        sl_jw_kint(&t->w, "max_tokens", (int64_t)n);
    }
    if ((rc = tools(t)) != SL_OK || (rc = tool_choice(t)) != SL_OK ||
        (rc = text_config(t)) != SL_OK || (rc = reasoning(t)) != SL_OK ||
        (rc = same_name(t)) != SL_OK)
        return rc;
    if ((rc = sl__xl_write_others(&t->x, &t->w, t->mark, o)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_responses_to_chat_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, char *why, size_t whylen)
{
    /* Heap, not stack: the key set is large, and calloc would clear it for nothing. */
    struct r2c *t = sl_xmalloc(sizeof(*t));
    struct sl__xl_others *o = sl_xmalloc(sizeof(*o));
    size_t mark = out->len;
    int rc;
    t->c = c;
    t->open = OPEN_NONE;
    o->n = 0;
    sl__xl_init(&t->x, why, whylen, body.len + 16);
    o->x = &t->x;
    sl_jw_init(&t->w, out);
    t->mark = mark;
    rc = sl__xl_read_doc(&t->x, body, top_keys, K_COUNT, t->m, sl__xl_collect_other, o);
    if (rc == SL_OK)
        rc = translate(t, o);
    if (rc == SL_OK)
        rc = sl_jw_finish(&t->w);
    if (rc != SL_OK)
        out->len = mark; /* nothing half-written stays behind */
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated request exceeds the size limit");
    sl__xl_dispose(&t->x);
    free(o);
    free(t);
    return rc;
}
