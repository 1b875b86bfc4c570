/* Request: OpenAI chat completions -> Anthropic Messages (an OpenAI SDK caller reaching a Claude
 * model). Every field decision is in docs/translation.md; the comments here say why where the
 * code alone does not. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "xlate_internal.h"

#define DEFAULT_MAX_TOKENS  4096
#define MIN_THINKING_BUDGET 1024

enum {
    K_MODEL,
    K_MESSAGES,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_TEMPERATURE,
    K_TOP_P,
    K_STOP,
    K_STREAM,
    K_TOOLS,
    K_TOOL_CHOICE,
    K_PARALLEL_TOOL_CALLS,
    K_USER,
    K_SAFETY_IDENTIFIER,
    K_REASONING_EFFORT,
    K_RESPONSE_FORMAT,
    K_N,
    K_FREQUENCY_PENALTY,
    K_PRESENCE_PENALTY,
    K_LOGPROBS,
    K_TOP_LOGPROBS,
    K_LOGIT_BIAS,
    K_MODALITIES,
    K_AUDIO,
    K_VERBOSITY,
    K_WEB_SEARCH_OPTIONS,
    K_FUNCTIONS,
    K_FUNCTION_CALL,
    /* Read and dropped: they change nothing in the answer (see docs/translation.md). */
    K_STREAM_OPTIONS,
    K_SEED,
    K_STORE,
    K_METADATA,
    K_SERVICE_TIER,
    K_PROMPT_CACHE_KEY,
    K_PROMPT_CACHE_RETENTION,
    K_PREDICTION,
    K_COUNT,
};

static const struct sl_str top_keys[K_COUNT] = {
    [K_MODEL] = SL_STR_INIT("model"),
    [K_MESSAGES] = SL_STR_INIT("messages"),
    [K_MAX_TOKENS] = SL_STR_INIT("max_tokens"),
    [K_MAX_COMPLETION_TOKENS] = SL_STR_INIT("max_completion_tokens"),
    [K_TEMPERATURE] = SL_STR_INIT("temperature"),
    [K_TOP_P] = SL_STR_INIT("top_p"),
    [K_STOP] = SL_STR_INIT("stop"),
    [K_STREAM] = SL_STR_INIT("stream"),
    [K_TOOLS] = SL_STR_INIT("tools"),
    [K_TOOL_CHOICE] = SL_STR_INIT("tool_choice"),
    [K_PARALLEL_TOOL_CALLS] = SL_STR_INIT("parallel_tool_calls"),
    [K_USER] = SL_STR_INIT("user"),
    [K_SAFETY_IDENTIFIER] = SL_STR_INIT("safety_identifier"),
    [K_REASONING_EFFORT] = SL_STR_INIT("reasoning_effort"),
    [K_RESPONSE_FORMAT] = SL_STR_INIT("response_format"),
    [K_N] = SL_STR_INIT("n"),
    [K_FREQUENCY_PENALTY] = SL_STR_INIT("frequency_penalty"),
    [K_PRESENCE_PENALTY] = SL_STR_INIT("presence_penalty"),
    [K_LOGPROBS] = SL_STR_INIT("logprobs"),
    [K_TOP_LOGPROBS] = SL_STR_INIT("top_logprobs"),
    [K_LOGIT_BIAS] = SL_STR_INIT("logit_bias"),
    [K_MODALITIES] = SL_STR_INIT("modalities"),
    [K_AUDIO] = SL_STR_INIT("audio"),
    [K_VERBOSITY] = SL_STR_INIT("verbosity"),
    [K_WEB_SEARCH_OPTIONS] = SL_STR_INIT("web_search_options"),
    [K_FUNCTIONS] = SL_STR_INIT("functions"),
    [K_FUNCTION_CALL] = SL_STR_INIT("function_call"),
    [K_STREAM_OPTIONS] = SL_STR_INIT("stream_options"),
    [K_SEED] = SL_STR_INIT("seed"),
    [K_STORE] = SL_STR_INIT("store"),
    [K_METADATA] = SL_STR_INIT("metadata"),
    [K_SERVICE_TIER] = SL_STR_INIT("service_tier"),
    [K_PROMPT_CACHE_KEY] = SL_STR_INIT("prompt_cache_key"),
    [K_PROMPT_CACHE_RETENTION] = SL_STR_INIT("prompt_cache_retention"),
    [K_PREDICTION] = SL_STR_INIT("prediction"),
};

enum role { ROLE_NONE = 0, ROLE_USER, ROLE_ASSISTANT };

/* The translation in progress. */
struct c2a {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    enum role open;  /* the Anthropic turn being written (its content array is open) */
    size_t turns;    /* turns written */
    uint64_t budget; /* thinking budget; 0: no thinking */
    uint64_t max_tokens;
    size_t mark; /* where the output starts in the buffer */
};

#define pathf(t, ...) SL__XL_PATH(&(t)->x, __VA_ARGS__)

/* Consecutive chat messages that map to the same Anthropic role share one turn: Anthropic wants
 * alternating turns, and wants every tool result of a tool_use turn in the next user turn. */
static void turn_for(struct c2a *t, enum role r)
{
    if (t->open == r)
        return;
    if (t->open != ROLE_NONE) {
        sl_jw_arr_end(&t->w);
        sl_jw_obj_end(&t->w);
    }
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", r == ROLE_USER ? SL_STRLIT("user") : SL_STRLIT("assistant"));
    sl_jw_key(&t->w, SL_STRLIT("content"));
    sl_jw_arr(&t->w);
    t->open = r;
    t->turns++;
}

static void text_block(struct c2a *t, enum role r, const struct sl_json_member *text,
                       const struct sl_json_member *cache)
{
    if (text->value.len == 2)
        return; /* "": Anthropic refuses empty text blocks, and an empty one says nothing */
    turn_for(t, r);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("text"));
    sl_jw_kraw(&t->w, "text", text->value);
    if (cache != NULL && sl__xl_has(cache))
        sl_jw_kraw(&t->w, "cache_control", cache->value);
    sl_jw_obj_end(&t->w);
}

/* "data:<media type>;base64,<data>" split into its parts. */
static bool parse_data_url(struct sl_str url, struct sl_str *media, struct sl_str *data)
{
    static const struct sl_str marker = SL_STR_INIT(";base64,");
    if (!sl_str_starts_with(url, SL_STRLIT("data:")))
        return false;
    for (size_t i = 5; i + marker.len <= url.len; i++) {
        if (url.ptr[i] == ',')
            return false;
        if (memcmp(url.ptr + i, marker.ptr, marker.len) == 0) {
            *media = sl_str_init(url.ptr + 5, i - 5);
            *data = sl_str_init(url.ptr + i + marker.len, url.len - i - marker.len);
            return data->len != 0;
        }
    }
    return false;
}

static bool is_image_type(struct sl_str mt)
{
    return sl_str_eq_lit(mt, "image/jpeg") || sl_str_eq_lit(mt, "image/png") ||
           sl_str_eq_lit(mt, "image/gif") || sl_str_eq_lit(mt, "image/webp");
}

static void base64_source(struct c2a *t, struct sl_str media, struct sl_str data)
{
    sl_jw_key(&t->w, SL_STRLIT("source"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("base64"));
    sl_jw_kstr(&t->w, "media_type", media);
    sl_jw_kstr(&t->w, "data", data);
    sl_jw_obj_end(&t->w);
}

static int image_part(struct c2a *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("image_url"), SL_STR_INIT("cache_control")};
    static const struct sl_str iu_keys[] = {SL_STR_INIT("url")};
    struct sl_json_member f[2], u[1];
    struct sl_str url, media, data;
    int rc = sl__xl_read(&t->x, path, part, keys, 2, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[0].type == SL_JSON_OBJECT) {
        if ((rc = sl__xl_read(&t->x, path, &f[0], iu_keys, 1, u, NULL, NULL)) != SL_OK)
            return rc; /* "detail" has no Anthropic counterpart and is dropped */
    } else {
        u[0] = f[0];
    }
    if (u[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "image_url.url: expected a string");
    if (sl__xl_text(&t->x, &u[0], &url) != SL_OK)
        return SL_E2BIG;
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("image"));
    if (parse_data_url(url, &media, &data)) {
        if (!is_image_type(media))
            return sl__xl_fail(&t->x, path,
                               "image media type \"%.*s\" is not supported by Anthropic models "
                               "(image/jpeg, image/png, image/gif, image/webp)",
                               (int)SL_MIN(media.len, (size_t)64), media.ptr);
        base64_source(t, media, data);
    } else if (sl_str_starts_with(url, SL_STRLIT("https://")) ||
               sl_str_starts_with(url, SL_STRLIT("http://"))) {
        sl_jw_key(&t->w, SL_STRLIT("source"));
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("url"));
        sl_jw_kstr(&t->w, "url", url);
        sl_jw_obj_end(&t->w);
    } else {
        return sl__xl_fail(&t->x, path,
                           "image_url.url: expected an http(s) URL or a base64 data: URL");
    }
    if (sl__xl_has(&f[1]))
        sl_jw_kraw(&t->w, "cache_control", f[1].value);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int file_part(struct c2a *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("file"), SL_STR_INIT("cache_control")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("file_data"), SL_STR_INIT("filename"),
                                           SL_STR_INIT("file_id")};
    struct sl_json_member f[2], d[3];
    struct sl_str url, media, data;
    int rc = sl__xl_read(&t->x, path, part, keys, 2, f, NULL, NULL);
    if (rc != SL_OK || (rc = sl__xl_read(&t->x, path, &f[0], f_keys, 3, d, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&d[2]))
        return sl__xl_fail(&t->x, path,
                           "file.file_id: OpenAI file ids mean nothing to an "
                           "Anthropic model; send the file as file_data");
    if (d[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "file.file_data: expected a string");
    if (sl__xl_text(&t->x, &d[0], &url) != SL_OK)
        return SL_E2BIG;
    if (parse_data_url(url, &media, &data)) {
        if (!sl_str_eq_lit(media, "application/pdf"))
            return sl__xl_fail(&t->x, path,
                               "file media type \"%.*s\" is not supported by Anthropic models "
                               "(application/pdf)",
                               (int)SL_MIN(media.len, (size_t)64), media.ptr);
    } else if (d[1].type == SL_JSON_STRING &&
               sl_str_ends_with(sl__xl_inner(&d[1]), SL_STRLIT(".pdf"))) {
        media = SL_STRLIT("application/pdf"); /* bare base64 named *.pdf */
        data = url;
    } else {
        return sl__xl_fail(&t->x, path,
                           "file.file_data: expected a data:application/pdf;base64 "
                           "URL (Anthropic models read PDF documents)");
    }
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("document"));
    base64_source(t, media, data);
    if (d[1].type == SL_JSON_STRING && d[1].value.len > 2)
        sl_jw_kraw(&t->w, "title", d[1].value);
    if (sl__xl_has(&f[1]))
        sl_jw_kraw(&t->w, "cache_control", f[1].value);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* One content part of a user (or system-turned-user) message. */
static int user_part(struct c2a *t, const struct sl_json_member *part, const char *path,
                     const struct sl_json_member *msg_cache, bool last)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text"),
                                         SL_STR_INIT("cache_control")};
    struct sl_json_member f[3];
    int rc = sl__xl_read(&t->x, path, part, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[0], "text")) {
        if (f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "text: expected a string");
        text_block(t, ROLE_USER, &f[1], sl__xl_has(&f[2]) ? &f[2] : last ? msg_cache : NULL);
        return SL_OK;
    }
    if (sl__xl_str_is(&f[0], "image_url"))
        return image_part(t, part, path);
    if (sl__xl_str_is(&f[0], "file"))
        return file_part(t, part, path);
    if (sl__xl_str_is(&f[0], "input_audio"))
        return sl__xl_fail(&t->x, path, "audio input is not supported by Anthropic models");
    if (f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "type: expected a string");
    return sl__xl_fail(&t->x, path, "unsupported content part type %.*s",
                       (int)SL_MIN(f[0].value.len, (size_t)64), f[0].value.ptr);
}

/* Text-only content (assistant, tool and later system messages): a string or text parts. */
static int text_content(struct c2a *t, enum role r, const struct sl_json_member *content, size_t i,
                        const struct sl_json_member *msg_cache)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text"),
                                         SL_STR_INIT("cache_control"), SL_STR_INIT("refusal")};
    struct sl__xl_it it;
    struct sl_json_member part, f[4];
    size_t j = 0;
    int rc;
    if (content->type == SL_JSON_STRING) {
        text_block(t, r, content, msg_cache);
        return SL_OK;
    }
    if (!sl__xl_has(content))
        return SL_OK;
    if (content->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                           "expected a string or an array of parts");
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &part) == 1; j++) {
        const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
        if ((rc = sl__xl_read(&t->x, path, &part, keys, 4, f, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_str_is(&f[0], "refusal"))
            continue; /* an earlier refusal's text: no Anthropic block carries it */
        if (!sl__xl_str_is(&f[0], "text") || f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "expected a text part");
        text_block(t, r, &f[1],
                   sl__xl_has(&f[2])         ? &f[2]
                   : j + 1 == content->count ? msg_cache
                                             : NULL);
    }
    return SL_OK;
}

static int user_content(struct c2a *t, const struct sl_json_member *content, size_t i,
                        const struct sl_json_member *msg_cache)
{
    struct sl__xl_it it;
    struct sl_json_member part;
    size_t j = 0;
    int rc;
    if (content->type != SL_JSON_ARRAY)
        return text_content(t, ROLE_USER, content, i, msg_cache);
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &part) == 1; j++) {
        const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
        if ((rc = user_part(t, &part, path, msg_cache, j + 1 == content->count)) != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* A tool call's arguments become tool_use.input: the object the arguments string holds. */
static int tool_input(struct c2a *t, const struct sl_json_member *args, const char *path)
{
    struct sl_str text;
    struct sl_json_error err;
    if (!sl__xl_has(args)) {
        sl_jw_raw(&t->w, SL_STRLIT("{}"));
        return SL_OK;
    }
    if (args->type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "expected a string");
    if (sl__xl_text(&t->x, args, &text) != SL_OK)
        return SL_E2BIG;
    text = sl_str_trim(text);
    if (text.len == 0) {
        sl_jw_raw(&t->w, SL_STRLIT("{}")); /* some clients send "" for a call without arguments */
        return SL_OK;
    }
    if (text.ptr[0] != '{' || sl_json_validate(text, SL_XLATE_MAX_DEPTH, &err) != SL_OK)
        return sl__xl_fail(&t->x, path, "invalid JSON arguments: expected a JSON object");
    sl_jw_raw(&t->w, text);
    return SL_OK;
}

static int tool_call(struct c2a *t, const struct sl_json_member *call, size_t i, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("id"), SL_STR_INIT("type"),
                                         SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("arguments")};
    struct sl_json_member f[3], fn[2];
    const char *path = pathf(t, "messages[%zu].tool_calls[%zu]", i, j);
    int rc = sl__xl_read(&t->x, path, call, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_has(&f[1]) && !sl__xl_str_is(&f[1], "function"))
        return sl__xl_fail(&t->x, path, "only function tool calls can reach Anthropic models");
    if (f[0].type != SL_JSON_STRING || f[0].value.len == 2)
        return sl__xl_fail(&t->x, path, "id: expected a non-empty string");
    if ((rc = sl__xl_read(&t->x, path, &f[2], f_keys, 2, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "function.name: expected a string");
    turn_for(t, ROLE_ASSISTANT);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("tool_use"));
    sl_jw_kraw(&t->w, "id", f[0].value);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    sl_jw_key(&t->w, SL_STRLIT("input"));
    path = pathf(t, "messages[%zu].tool_calls[%zu].function.arguments", i, j);
    if ((rc = tool_input(t, &fn[1], path)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tool_calls(struct c2a *t, const struct sl_json_member *calls, size_t i)
{
    struct sl__xl_it it;
    struct sl_json_member call;
    size_t j = 0;
    int rc;
    if (!sl__xl_has(calls))
        return SL_OK;
    if (calls->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].tool_calls", i), "expected an array");
    if (calls->count > SL_XLATE_MAX_TOOL_CALLS)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].tool_calls", i),
                           "more than %d tool calls", SL_XLATE_MAX_TOOL_CALLS);
    sl__xl_iter(&it, calls);
    for (; sl__xl_next(&it, NULL, &call) == 1; j++)
        if ((rc = tool_call(t, &call, i, j)) != SL_OK)
            return rc;
    return SL_OK;
}

static int tool_result(struct c2a *t, const struct sl_json_member *id,
                       const struct sl_json_member *content, size_t i)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text")};
    struct sl__xl_it it;
    struct sl_json_member part, f[2];
    size_t j = 0;
    int rc;
    if (id->type != SL_JSON_STRING || id->value.len == 2)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].tool_call_id", i),
                           "expected a non-empty string");
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("tool_result"));
    sl_jw_kraw(&t->w, "tool_use_id", id->value);
    if (content->type == SL_JSON_STRING && content->value.len > 2)
        sl_jw_kraw(&t->w, "content", content->value);
    if (content->type == SL_JSON_ARRAY && content->count != 0) {
        sl_jw_key(&t->w, SL_STRLIT("content"));
        sl_jw_arr(&t->w);
        sl__xl_iter(&it, content);
        for (; sl__xl_next(&it, NULL, &part) == 1; j++) {
            const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
            if ((rc = sl__xl_read(&t->x, path, &part, keys, 2, f, NULL, NULL)) != SL_OK)
                return rc;
            if (!sl__xl_str_is(&f[0], "text") || f[1].type != SL_JSON_STRING)
                return sl__xl_fail(&t->x, path, "expected a text part");
            if (f[1].value.len == 2)
                continue;
            sl_jw_obj(&t->w);
            sl_jw_kstr(&t->w, "type", SL_STRLIT("text"));
            sl_jw_kraw(&t->w, "text", f[1].value);
            sl_jw_obj_end(&t->w);
        }
        sl_jw_arr_end(&t->w);
    } else if (sl__xl_has(content) && content->type != SL_JSON_STRING &&
               content->type != SL_JSON_ARRAY) {
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                           "expected a string or an array of parts");
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

enum { M_ROLE, M_CONTENT, M_TOOL_CALLS, M_TOOL_CALL_ID, M_CACHE_CONTROL, M_FUNCTION_CALL, M_N };
static const struct sl_str msg_keys[M_N] = {
    [M_ROLE] = SL_STR_INIT("role"),
    [M_CONTENT] = SL_STR_INIT("content"),
    [M_TOOL_CALLS] = SL_STR_INIT("tool_calls"),
    [M_TOOL_CALL_ID] = SL_STR_INIT("tool_call_id"),
    [M_CACHE_CONTROL] = SL_STR_INIT("cache_control"),
    [M_FUNCTION_CALL] = SL_STR_INIT("function_call"),
};

static int read_message(struct c2a *t, const struct sl_json_member *msg, size_t i,
                        struct sl_json_member *f)
{
    int rc = sl__xl_read(&t->x, pathf(t, "messages[%zu]", i), msg, msg_keys, M_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[M_ROLE].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].role", i), "expected a string");
    return SL_OK;
}

static bool is_system(const struct sl_json_member *f)
{
    return sl__xl_str_is(&f[M_ROLE], "system") || sl__xl_str_is(&f[M_ROLE], "developer");
}

/* One message after the leading system ones. */
static int message(struct c2a *t, const struct sl_json_member *f, size_t i)
{
    const struct sl_json_member *cache = &f[M_CACHE_CONTROL];
    int rc;
    if (sl__xl_has(&f[M_FUNCTION_CALL]))
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].function_call", i),
                           "the deprecated functions API is not translated; use tool_calls");
    if (sl__xl_str_is(&f[M_ROLE], "user"))
        return user_content(t, &f[M_CONTENT], i, cache);
    if (is_system(f)) /* a later system message: a user turn, as the reference gateway does */
        return text_content(t, ROLE_USER, &f[M_CONTENT], i, cache);
    if (sl__xl_str_is(&f[M_ROLE], "assistant")) {
        /* reasoning_content and refusal of earlier turns are dropped: Anthropic takes thinking
           back only with the signature it made, which an OpenAI-shaped history lacks. */
        if ((rc = text_content(t, ROLE_ASSISTANT, &f[M_CONTENT], i, cache)) != SL_OK)
            return rc;
        return tool_calls(t, &f[M_TOOL_CALLS], i);
    }
    if (sl__xl_str_is(&f[M_ROLE], "tool"))
        return tool_result(t, &f[M_TOOL_CALL_ID], &f[M_CONTENT], i);
    return sl__xl_fail(&t->x, pathf(t, "messages[%zu].role", i), "unsupported role %.*s",
                       (int)SL_MIN(f[M_ROLE].value.len, (size_t)64), f[M_ROLE].value.ptr);
}

/* Leading system/developer messages: how many, and whether any sent parts (then "system" is a
 * block array, which keeps cache_control). */
static int scan_system(struct c2a *t, const struct sl_json_member *msgs, size_t *n, bool *blocks)
{
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    int rc;
    *n = 0;
    *blocks = false;
    sl__xl_iter(&it, msgs);
    while (sl__xl_next(&it, NULL, &msg) == 1) {
        if ((rc = read_message(t, &msg, *n, f)) != SL_OK)
            return rc;
        if (!is_system(f))
            break;
        if (f[M_CONTENT].type == SL_JSON_ARRAY || sl__xl_has(&f[M_CACHE_CONTROL]))
            *blocks = true;
        else if (f[M_CONTENT].type != SL_JSON_STRING && sl__xl_has(&f[M_CONTENT]))
            return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", *n),
                               "expected a string or an array of parts");
        (*n)++;
    }
    return SL_OK;
}

static int system_blocks(struct c2a *t, const struct sl_json_member *msgs, size_t n)
{
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    int rc;
    sl_jw_key(&t->w, SL_STRLIT("system"));
    sl_jw_arr(&t->w);
    /* text_content writes blocks through turn_for; mark a turn open so it writes them here. */
    t->open = ROLE_USER;
    sl__xl_iter(&it, msgs);
    for (size_t i = 0; i < n && sl__xl_next(&it, NULL, &msg) == 1; i++) {
        if ((rc = read_message(t, &msg, i, f)) != SL_OK)
            return rc;
        if ((rc = text_content(t, ROLE_USER, &f[M_CONTENT], i, &f[M_CACHE_CONTROL])) != SL_OK)
            return rc;
    }
    t->open = ROLE_NONE;
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int system_string(struct c2a *t, const struct sl_json_member *msgs, size_t n)
{
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    bool first = true;
    int rc;
    sl_jw_key(&t->w, SL_STRLIT("system"));
    sl_jw_str_begin(&t->w);
    sl__xl_iter(&it, msgs);
    for (size_t i = 0; i < n && sl__xl_next(&it, NULL, &msg) == 1; i++) {
        if ((rc = read_message(t, &msg, i, f)) != SL_OK)
            return rc;
        if (f[M_CONTENT].type != SL_JSON_STRING || f[M_CONTENT].value.len == 2)
            continue;
        if (!first)
            sl_jw_str_raw(&t->w, SL_STRLIT("\\n\\n")); /* joined as the reference gateway does */
        sl_jw_str_raw(&t->w, sl__xl_inner(&f[M_CONTENT]));
        first = false;
    }
    sl_jw_str_end(&t->w);
    return SL_OK;
}

static int messages(struct c2a *t)
{
    const struct sl_json_member *msgs = &t->m[K_MESSAGES];
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    size_t nsys, i = 0;
    bool blocks;
    int rc;
    if (msgs->type != SL_JSON_ARRAY || msgs->count == 0)
        return sl__xl_fail(&t->x, "messages", "expected a non-empty array");
    if ((rc = scan_system(t, msgs, &nsys, &blocks)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("messages"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, msgs);
    for (; sl__xl_next(&it, NULL, &msg) == 1; i++) {
        if (i < nsys)
            continue;
        if ((rc = read_message(t, &msg, i, f)) != SL_OK || (rc = message(t, f, i)) != SL_OK)
            return rc;
    }
    if (t->open != ROLE_NONE) {
        sl_jw_arr_end(&t->w);
        sl_jw_obj_end(&t->w);
    }
    sl_jw_arr_end(&t->w);
    if (t->turns == 0)
        return sl__xl_fail(&t->x, "messages",
                           "no message with content besides system messages "
                           "(Anthropic models need at least one)");
    if (nsys == 0)
        return SL_OK;
    return blocks ? system_blocks(t, msgs, nsys) : system_string(t, msgs, nsys);
}

/* Fields that have no Anthropic counterpart: a value that asks for nothing is dropped; one that
 * asks for something Anthropic cannot do is refused, since dropping it would silently change the
 * answer. */
static int refuse_unmappable(struct c2a *t)
{
    const struct sl_json_member *m = t->m;
    uint64_t u;
    double d;
    if (sl__xl_has(&m[K_N]) && (sl__xl_uint(&m[K_N], &u) != SL_OK || u != 1))
        return sl__xl_fail(&t->x, "n",
                           "Anthropic models return one choice; only n=1 can be "
                           "served");
    static const int zero_numbers[] = {K_FREQUENCY_PENALTY, K_PRESENCE_PENALTY, K_TOP_LOGPROBS};
    for (size_t i = 0; i < SL_ARRAY_LEN(zero_numbers); i++) {
        const struct sl_json_member *v = &m[zero_numbers[i]];
        if (sl__xl_has(v) && (sl__xl_number(v, &d) != SL_OK || d != 0))
            return sl__xl_fail(&t->x, top_keys[zero_numbers[i]].ptr,
                               "not supported by Anthropic models (only 0 can be served)");
    }
    if (sl__xl_has(&m[K_LOGPROBS]) && m[K_LOGPROBS].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "logprobs", "Anthropic models do not return log probabilities");
    if (sl__xl_has(&m[K_LOGIT_BIAS]) &&
        (m[K_LOGIT_BIAS].type != SL_JSON_OBJECT || m[K_LOGIT_BIAS].count != 0))
        return sl__xl_fail(&t->x, "logit_bias", "not supported by Anthropic models");
    if (sl__xl_has(&m[K_AUDIO]))
        return sl__xl_fail(&t->x, "audio", "Anthropic models do not produce audio");
    if (sl__xl_has(&m[K_WEB_SEARCH_OPTIONS]))
        return sl__xl_fail(&t->x, "web_search_options",
                           "not translated to Anthropic's web "
                           "search tool");
    if (sl__xl_has(&m[K_FUNCTIONS]) || sl__xl_has(&m[K_FUNCTION_CALL]))
        return sl__xl_fail(&t->x, sl__xl_has(&m[K_FUNCTIONS]) ? "functions" : "function_call",
                           "the deprecated functions API is not translated; use tools");
    if (sl__xl_has(&m[K_VERBOSITY]) && !sl__xl_str_is(&m[K_VERBOSITY], "medium"))
        return sl__xl_fail(&t->x, "verbosity",
                           "Anthropic models have no verbosity setting "
                           "(only \"medium\", the default, can be served)");
    if (sl__xl_has(&m[K_MODALITIES])) {
        struct sl__xl_it it;
        struct sl_json_member v;
        if (m[K_MODALITIES].type != SL_JSON_ARRAY)
            return sl__xl_fail(&t->x, "modalities", "expected an array");
        sl__xl_iter(&it, &m[K_MODALITIES]);
        while (sl__xl_next(&it, NULL, &v) == 1)
            if (!sl__xl_str_is(&v, "text"))
                return sl__xl_fail(&t->x, "modalities", "Anthropic models produce text only");
    }
    return SL_OK;
}

static int sampling(struct c2a *t)
{
    static const int keys[] = {K_TEMPERATURE, K_TOP_P};
    double d;
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
        const struct sl_json_member *v = &t->m[keys[i]];
        const char *name = top_keys[keys[i]].ptr;
        if (!sl__xl_has(v) || t->c->anthropic_no_sampling)
            continue;
        if (sl__xl_number(v, &d) != SL_OK || d < 0 || d > 1)
            return sl__xl_fail(&t->x, name, "Anthropic models accept a number from 0 to 1");
        if (t->budget != 0)
            return sl__xl_fail(&t->x, name,
                               "Anthropic extended thinking (from reasoning_effort) "
                               "cannot be combined with %s",
                               name);
        sl_jw_kraw(&t->w, name, v->value);
    }
    return SL_OK;
}

/* reasoning_effort -> a thinking budget; the levels match the reverse direction's thresholds
 * (>= 4096 high, >= 2048 medium, >= 1024 low), so a round trip keeps the level. */
static int thinking_budget(struct c2a *t)
{
    static const struct {
        const char *effort;
        uint64_t budget;
    } levels[] = {{"none", 0},      {"minimal", 1024}, {"low", 1024},
                  {"medium", 2048}, {"high", 4096},    {"xhigh", 8192}};
    const struct sl_json_member *v = &t->m[K_REASONING_EFFORT];
    t->budget = 0;
    if (!sl__xl_has(v))
        return SL_OK;
    for (size_t i = 0; i < SL_ARRAY_LEN(levels); i++)
        if (sl__xl_str_is(v, levels[i].effort)) {
            t->budget = levels[i].budget;
            return SL_OK;
        }
    return sl__xl_fail(&t->x, "reasoning_effort",
                       "expected none, minimal, low, medium, high or "
                       "xhigh");
}

static int max_tokens(struct c2a *t)
{
    const struct sl_json_member *v = &t->m[K_MAX_COMPLETION_TOKENS];
    const char *name = "max_completion_tokens";
    if (!sl__xl_has(v)) {
        v = &t->m[K_MAX_TOKENS];
        name = "max_tokens";
    }
    if (!sl__xl_has(v)) {
        /* The default leaves the answer 4096 tokens besides any thinking. */
        t->max_tokens = DEFAULT_MAX_TOKENS + t->budget;
        return SL_OK;
    }
    if (sl__xl_uint(v, &t->max_tokens) != SL_OK || t->max_tokens == 0 || t->max_tokens > INT64_MAX)
        return sl__xl_fail(&t->x, name, "expected a positive integer");
    if (t->budget == 0)
        return SL_OK;
    /* OpenAI counts reasoning tokens inside the limit, as Anthropic counts thinking inside
       max_tokens; the budget must stay below it. */
    if (t->budget >= t->max_tokens)
        t->budget = t->max_tokens - 1;
    if (t->budget < MIN_THINKING_BUDGET)
        return sl__xl_fail(&t->x, name,
                           "%llu leaves no room for Anthropic extended thinking (from "
                           "reasoning_effort), whose smallest budget is %d tokens",
                           (unsigned long long)t->max_tokens, MIN_THINKING_BUDGET);
    return SL_OK;
}

static int stop_sequences(struct c2a *t)
{
    const struct sl_json_member *v = &t->m[K_STOP];
    struct sl__xl_it it;
    struct sl_json_member s;
    if (!sl__xl_has(v))
        return SL_OK;
    if (v->type == SL_JSON_STRING) {
        sl_jw_key(&t->w, SL_STRLIT("stop_sequences"));
        sl_jw_arr(&t->w);
        sl_jw_raw(&t->w, v->value);
        sl_jw_arr_end(&t->w);
        return SL_OK;
    }
    if (v->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "stop", "expected a string or an array of strings");
    sl__xl_iter(&it, v);
    while (sl__xl_next(&it, NULL, &s) == 1)
        if (s.type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "stop", "expected a string or an array of strings");
    if (v->count != 0)
        sl_jw_kraw(&t->w, "stop_sequences", v->value);
    return SL_OK;
}

static int tool(struct c2a *t, const struct sl_json_member *tl, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("function"),
                                         SL_STR_INIT("cache_control")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("description"),
                                           SL_STR_INIT("parameters"), SL_STR_INIT("strict")};
    struct sl_json_member f[3], fn[4];
    const char *path = pathf(t, "tools[%zu]", j);
    int rc = sl__xl_read(&t->x, path, tl, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (!sl__xl_str_is(&f[0], "function"))
        return sl__xl_fail(&t->x, path, "only function tools can reach Anthropic models");
    if ((rc = sl__xl_read(&t->x, path, &f[1], f_keys, 4, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "function.name: expected a string");
    if (sl__xl_has(&fn[2]) && fn[2].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, path, "function.parameters: expected an object");
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    if (fn[1].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "description", fn[1].value);
    /* A function without parameters takes none: Anthropic needs the schema spelt out. */
    sl_jw_kraw(&t->w, "input_schema",
               sl__xl_has(&fn[2]) ? fn[2].value
                                  : SL_STRLIT("{\"type\":\"object\",\"properties\":{}}"));
    if (fn[3].type == SL_JSON_TRUE || fn[3].type == SL_JSON_FALSE)
        sl_jw_kraw(&t->w, "strict", fn[3].value);
    if (sl__xl_has(&f[2]))
        sl_jw_kraw(&t->w, "cache_control", f[2].value);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tools(struct c2a *t)
{
    const struct sl_json_member *v = &t->m[K_TOOLS];
    struct sl__xl_it it;
    struct sl_json_member tl;
    size_t j = 0;
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
    for (; sl__xl_next(&it, NULL, &tl) == 1; j++)
        if ((rc = tool(t, &tl, j)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int tool_choice(struct c2a *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name")};
    const struct sl_json_member *v = &t->m[K_TOOL_CHOICE];
    bool serial = t->m[K_PARALLEL_TOOL_CALLS].type == SL_JSON_FALSE;
    struct sl_json_member f[2], fn[1];
    const char *type = "auto";
    int rc;
    fn[0].type = SL_JSON_ABSENT;
    if (sl__xl_has(&t->m[K_PARALLEL_TOOL_CALLS]) && !serial &&
        t->m[K_PARALLEL_TOOL_CALLS].type != SL_JSON_TRUE)
        return sl__xl_fail(&t->x, "parallel_tool_calls", "expected a boolean");
    if (!sl__xl_has(v) && !serial)
        return SL_OK;
    if (sl__xl_str_is(v, "none")) {
        type = "none";
    } else if (sl__xl_str_is(v, "required")) {
        type = "any";
    } else if (v->type == SL_JSON_OBJECT) {
        if ((rc = sl__xl_read(&t->x, "tool_choice", v, keys, 2, f, NULL, NULL)) != SL_OK)
            return rc;
        if (!sl__xl_str_is(&f[0], "function"))
            return sl__xl_fail(&t->x, "tool_choice",
                               "only {\"type\":\"function\"} choices can "
                               "be translated");
        if ((rc = sl__xl_read(&t->x, "tool_choice.function", &f[1], f_keys, 1, fn, NULL, NULL)) !=
            SL_OK)
            return rc;
        if (fn[0].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "tool_choice.function.name", "expected a string");
        type = "tool";
    } else if (sl__xl_has(v) && !sl__xl_str_is(v, "auto")) {
        return sl__xl_fail(&t->x, "tool_choice", "expected auto, none, required or a function");
    }
    if (t->budget != 0 && (strcmp(type, "any") == 0 || strcmp(type, "tool") == 0))
        return sl__xl_fail(&t->x, "tool_choice",
                           "Anthropic extended thinking (from "
                           "reasoning_effort) cannot force a tool call");
    sl_jw_key(&t->w, SL_STRLIT("tool_choice"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", sl_str_from_cstr(type));
    if (fn[0].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "name", fn[0].value);
    if (serial && strcmp(type, "none") != 0) {
        sl_jw_key(&t->w, SL_STRLIT("disable_parallel_tool_use"));
        sl_jw_bool(&t->w, true);
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int response_format(struct c2a *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("json_schema")};
    static const struct sl_str js_keys[] = {SL_STR_INIT("schema")};
    const struct sl_json_member *v = &t->m[K_RESPONSE_FORMAT];
    struct sl_json_member f[2], js[1];
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "response_format", v, keys, 2, f, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[0], "text"))
        return SL_OK;
    if (!sl__xl_str_is(&f[0], "json_schema"))
        return sl__xl_fail(&t->x, "response_format",
                           "only text and json_schema can be served by Anthropic models "
                           "(json_object has no schema to constrain the output with)");
    /* name, description and strict have no place in output_config.format: Anthropic's
       structured output always follows the schema. */
    if ((rc = sl__xl_read(&t->x, "response_format.json_schema", &f[1], js_keys, 1, js, NULL,
                          NULL)) != SL_OK)
        return rc;
    if (js[0].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, "response_format.json_schema.schema", "expected an object");
    sl_jw_key(&t->w, SL_STRLIT("output_config"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("format"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("json_schema"));
    sl_jw_kraw(&t->w, "schema", js[0].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int translate(struct c2a *t, struct sl__xl_others *o)
{
    const struct sl_json_member *m = t->m;
    int rc;
    if ((rc = refuse_unmappable(t)) != SL_OK || (rc = thinking_budget(t)) != SL_OK ||
        (rc = max_tokens(t)) != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "model", t->c->upstream_model);
    sl_jw_kint(&t->w, "max_tokens", (int64_t)t->max_tokens);
    if ((rc = messages(t)) != SL_OK || (rc = sampling(t)) != SL_OK ||
        (rc = stop_sequences(t)) != SL_OK || (rc = tools(t)) != SL_OK ||
        (rc = tool_choice(t)) != SL_OK || (rc = response_format(t)) != SL_OK)
        return rc;
    if (m[K_STREAM].type == SL_JSON_TRUE || m[K_STREAM].type == SL_JSON_FALSE)
        sl_jw_kraw(&t->w, "stream", m[K_STREAM].value);
    else if (sl__xl_has(&m[K_STREAM]))
        return sl__xl_fail(&t->x, "stream", "expected a boolean");
    const struct sl_json_member *user =
        sl__xl_has(&m[K_USER]) ? &m[K_USER] : &m[K_SAFETY_IDENTIFIER];
    if (user->type == SL_JSON_STRING) {
        sl_jw_key(&t->w, SL_STRLIT("metadata"));
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "user_id", user->value);
        sl_jw_obj_end(&t->w);
    }
    if (t->budget != 0) {
        sl_jw_key(&t->w, SL_STRLIT("thinking"));
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("enabled"));
        sl_jw_kint(&t->w, "budget_tokens", (int64_t)t->budget);
        sl_jw_obj_end(&t->w);
    }
    if ((rc = sl__xl_write_others(&t->x, &t->w, t->mark, o)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_chat_to_anthropic_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, char *why, size_t whylen)
{
    /* Heap, not stack: the key set is large, and calloc would clear it for nothing. */
    struct c2a *t = sl_xmalloc(sizeof(*t));
    struct sl__xl_others *o = sl_xmalloc(sizeof(*o));
    size_t mark = out->len;
    int rc;
    t->c = c;
    t->open = ROLE_NONE;
    t->turns = 0;
    t->budget = 0;
    t->max_tokens = 0;
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
