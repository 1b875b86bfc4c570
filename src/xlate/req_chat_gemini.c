/* Request: OpenAI chat completions -> Gemini generateContent (an OpenAI SDK caller reaching a
 * Gemini model on the Gemini API or Vertex AI; Anthropic callers come through chat). Every field
 * decision is in docs/translation.md; the comments here say why where the code alone does not. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "xlate_internal.h"

/* Tool calls remembered across the conversation, to name the function of each tool result
 * (a chat tool message carries only the call's id; Gemini's functionResponse wants the name). */
#define MAX_CALLS 1024
/* $ref expansions nested in one schema (a recursive schema cannot be inlined). */
#define MAX_REF_DEPTH 16

enum {
    K_MODEL,
    K_MESSAGES,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_TEMPERATURE,
    K_TOP_P,
    K_TOP_K,
    K_STOP,
    K_STREAM,
    K_N,
    K_PRESENCE_PENALTY,
    K_FREQUENCY_PENALTY,
    K_SEED,
    K_TOOLS,
    K_TOOL_CHOICE,
    K_PARALLEL_TOOL_CALLS,
    K_REASONING_EFFORT,
    K_RESPONSE_FORMAT,
    K_LOGPROBS,
    K_TOP_LOGPROBS,
    K_LOGIT_BIAS,
    K_MODALITIES,
    K_AUDIO,
    K_VERBOSITY,
    K_WEB_SEARCH_OPTIONS,
    K_FUNCTIONS,
    K_FUNCTION_CALL,
    /* Read and dropped: they change nothing in the answer (docs/translation.md). */
    K_STREAM_OPTIONS,
    K_USER,
    K_SAFETY_IDENTIFIER,
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
    [K_TOP_K] = SL_STR_INIT("top_k"),
    [K_STOP] = SL_STR_INIT("stop"),
    [K_STREAM] = SL_STR_INIT("stream"),
    [K_N] = SL_STR_INIT("n"),
    [K_PRESENCE_PENALTY] = SL_STR_INIT("presence_penalty"),
    [K_FREQUENCY_PENALTY] = SL_STR_INIT("frequency_penalty"),
    [K_SEED] = SL_STR_INIT("seed"),
    [K_TOOLS] = SL_STR_INIT("tools"),
    [K_TOOL_CHOICE] = SL_STR_INIT("tool_choice"),
    [K_PARALLEL_TOOL_CALLS] = SL_STR_INIT("parallel_tool_calls"),
    [K_REASONING_EFFORT] = SL_STR_INIT("reasoning_effort"),
    [K_RESPONSE_FORMAT] = SL_STR_INIT("response_format"),
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
    [K_USER] = SL_STR_INIT("user"),
    [K_SAFETY_IDENTIFIER] = SL_STR_INIT("safety_identifier"),
    [K_STORE] = SL_STR_INIT("store"),
    [K_METADATA] = SL_STR_INIT("metadata"),
    [K_SERVICE_TIER] = SL_STR_INIT("service_tier"),
    [K_PROMPT_CACHE_KEY] = SL_STR_INIT("prompt_cache_key"),
    [K_PROMPT_CACHE_RETENTION] = SL_STR_INIT("prompt_cache_retention"),
    [K_PREDICTION] = SL_STR_INIT("prediction"),
};

enum role { ROLE_NONE = 0, ROLE_USER, ROLE_MODEL };

/* A tool call of an earlier assistant message: its id as sent and its function's name (raw
 * string tokens in the body). */
struct call_name {
    struct sl_str id;   /* inner bytes of the id token */
    struct sl_str name; /* the name token, quotes included */
};

/* The translation in progress. */
struct c2g {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    enum role open; /* the Gemini turn being written (its parts array is open) */
    size_t turns;
    size_t mark;
    size_t ncalls;
    struct call_name calls[MAX_CALLS];
};

#define pathf(t, ...) SL__XL_PATH(&(t)->x, __VA_ARGS__)

/* ---- turns and parts ---- */

/* Consecutive chat messages of the same Gemini role share one turn: every function response of
 * a turn of parallel calls must come in the next user turn, and turns alternate. */
static void turn_for(struct c2g *t, enum role r)
{
    if (t->open == r)
        return;
    if (t->open != ROLE_NONE) {
        sl_jw_arr_end(&t->w);
        sl_jw_obj_end(&t->w);
    }
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", r == ROLE_USER ? SL_STRLIT("user") : SL_STRLIT("model"));
    sl_jw_key(&t->w, SL_STRLIT("parts"));
    sl_jw_arr(&t->w);
    t->open = r;
    t->turns++;
}

static void text_part(struct c2g *t, enum role r, const struct sl_json_member *text)
{
    if (text->value.len == 2)
        return; /* "": an empty part says nothing, and Gemini refuses parts without data */
    turn_for(t, r);
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "text", text->value);
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
            return media->len != 0 && data->len != 0;
        }
    }
    return false;
}

/* The media type a file name or URL path ends in, or an empty slice. */
static struct sl_str media_of_name(struct sl_str name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".png", "image/png"},   {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},
        {".webp", "image/webp"}, {".gif", "image/gif"},       {".heic", "image/heic"},
        {".heif", "image/heif"}, {".pdf", "application/pdf"}, {".txt", "text/plain"},
        {".wav", "audio/wav"},   {".mp3", "audio/mp3"},       {".mp4", "video/mp4"},
    };
    const char *q = name.len > 0 ? memchr(name.ptr, '?', name.len) : NULL;
    if (q != NULL)
        name.len = (size_t)(q - name.ptr);
    for (size_t i = 0; i < SL_ARRAY_LEN(types); i++) {
        struct sl_str ext = sl_str_from_cstr(types[i].ext);
        if (name.len > ext.len &&
            sl_str_ieq(sl_str_init(name.ptr + name.len - ext.len, ext.len), ext))
            return sl_str_from_cstr(types[i].type);
    }
    return SL_STR_NULL;
}

static void inline_data(struct c2g *t, struct sl_str media, struct sl_str data)
{
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("inlineData"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "mimeType", media);
    sl_jw_kstr(&t->w, "data", data);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
}

static void file_data(struct c2g *t, struct sl_str media, struct sl_str uri)
{
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("fileData"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "mimeType", media);
    sl_jw_kstr(&t->w, "fileUri", uri);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
}

static int image_part(struct c2g *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("image_url")};
    static const struct sl_str iu_keys[] = {SL_STR_INIT("url"), SL_STR_INIT("detail")};
    struct sl_json_member f[2], u[2];
    struct sl_str url, media, data;
    int rc = sl__xl_read(&t->x, path, part, keys, 2, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[1].type == SL_JSON_OBJECT) {
        /* detail has no Gemini counterpart (mediaResolution is per request): dropped */
        if ((rc = sl__xl_read(&t->x, path, &f[1], iu_keys, 2, u, NULL, NULL)) != SL_OK)
            return rc;
    } else {
        u[0] = f[1];
    }
    if (u[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "image_url.url: expected a string");
    if (sl__xl_text(&t->x, &u[0], &url) != SL_OK)
        return SL_E2BIG;
    if (parse_data_url(url, &media, &data)) {
        inline_data(t, media, data);
        return SL_OK;
    }
    if (!sl_str_starts_with(url, SL_STRLIT("https://")) &&
        !sl_str_starts_with(url, SL_STRLIT("http://")) &&
        !sl_str_starts_with(url, SL_STRLIT("gs://")))
        return sl__xl_fail(&t->x, path,
                           "image_url.url: expected an http(s) or gs:// URL or a base64 data: "
                           "URL");
    media = media_of_name(url);
    if (media.len == 0)
        return sl__xl_fail(&t->x, path,
                           "image_url.url: Gemini needs the media type of a file URL, and this "
                           "one does not end in a known extension (.png, .jpg, .webp, ...); send "
                           "a data: URL");
    file_data(t, media, url);
    return SL_OK;
}

static int file_part(struct c2g *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("file")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("file_data"), SL_STR_INIT("filename"),
                                           SL_STR_INIT("file_id")};
    struct sl_json_member f[2], d[3];
    struct sl_str url, media, data, name;
    int rc = sl__xl_read(&t->x, path, part, keys, 2, f, NULL, NULL);
    if (rc != SL_OK || (rc = sl__xl_read(&t->x, path, &f[1], f_keys, 3, d, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&d[2]))
        return sl__xl_fail(&t->x, path,
                           "file.file_id: OpenAI file ids mean nothing to a Gemini model; send "
                           "the file as file_data");
    if (d[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "file.file_data: expected a string");
    if (sl__xl_text(&t->x, &d[0], &url) != SL_OK)
        return SL_E2BIG;
    if (parse_data_url(url, &media, &data)) {
        inline_data(t, media, data);
        return SL_OK;
    }
    name = d[1].type == SL_JSON_STRING ? sl__xl_inner(&d[1]) : SL_STR_NULL;
    media = media_of_name(name);
    if (media.len == 0)
        return sl__xl_fail(&t->x, path,
                           "file.file_data: expected a data: URL (or bare base64 with a filename "
                           "whose extension gives the media type)");
    inline_data(t, media, url);
    return SL_OK;
}

static int audio_part(struct c2g *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("input_audio")};
    static const struct sl_str a_keys[] = {SL_STR_INIT("data"), SL_STR_INIT("format")};
    struct sl_json_member f[2], a[2];
    struct sl_str data;
    int rc = sl__xl_read(&t->x, path, part, keys, 2, f, NULL, NULL);
    if (rc != SL_OK || (rc = sl__xl_read(&t->x, path, &f[1], a_keys, 2, a, NULL, NULL)) != SL_OK)
        return rc;
    if (a[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "input_audio.data: expected a string");
    struct sl_str media = sl__xl_str_is(&a[1], "wav")   ? SL_STRLIT("audio/wav")
                          : sl__xl_str_is(&a[1], "mp3") ? SL_STRLIT("audio/mp3")
                                                        : SL_STR_NULL;
    if (media.len == 0)
        return sl__xl_fail(&t->x, path, "input_audio.format: expected wav or mp3");
    if (sl__xl_text(&t->x, &a[0], &data) != SL_OK)
        return SL_E2BIG;
    inline_data(t, media, data);
    return SL_OK;
}

/* One content part of a user message. */
static int user_part(struct c2g *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text")};
    struct sl_json_member f[2];
    int rc = sl__xl_read(&t->x, path, part, keys, 2, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[0], "text")) {
        if (f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "text: expected a string");
        text_part(t, ROLE_USER, &f[1]);
        return SL_OK;
    }
    if (sl__xl_str_is(&f[0], "image_url"))
        return image_part(t, part, path);
    if (sl__xl_str_is(&f[0], "file"))
        return file_part(t, part, path);
    if (sl__xl_str_is(&f[0], "input_audio"))
        return audio_part(t, part, path);
    if (f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "type: expected a string");
    return sl__xl_fail(&t->x, path, "unsupported content part type %.*s",
                       (int)SL_MIN(f[0].value.len, (size_t)64), f[0].value.ptr);
}

/* Text-only content (assistant, tool and system messages): a string or text parts, each
 * given to emit. */
typedef void text_fn(struct c2g *t, enum role r, const struct sl_json_member *text);

static int text_content(struct c2g *t, enum role r, const struct sl_json_member *content, size_t i,
                        text_fn *emit)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text"),
                                         SL_STR_INIT("refusal")};
    struct sl__xl_it it;
    struct sl_json_member part, f[3];
    size_t j = 0;
    int rc;
    if (content->type == SL_JSON_STRING) {
        emit(t, r, content);
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
        if ((rc = sl__xl_read(&t->x, path, &part, keys, 3, f, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_str_is(&f[0], "refusal"))
            continue; /* an earlier refusal's text: Gemini has no place for it */
        if (!sl__xl_str_is(&f[0], "text") || f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "expected a text part");
        emit(t, r, &f[1]);
    }
    return SL_OK;
}

static int user_content(struct c2g *t, const struct sl_json_member *content, size_t i)
{
    struct sl__xl_it it;
    struct sl_json_member part;
    size_t j = 0;
    int rc;
    if (content->type != SL_JSON_ARRAY)
        return text_content(t, ROLE_USER, content, i, text_part);
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &part) == 1; j++)
        if ((rc = user_part(t, &part, pathf(t, "messages[%zu].content[%zu]", i, j))) != SL_OK)
            return rc;
    return SL_OK;
}

/* ---- tool calls and results ---- */

/* A tool call id that carries a Gemini thought signature: "<id>__thought__<signature>" (the
 * response translation makes them, so a signature survives a round trip through the caller). */
static const struct sl_str thought_sep = SL_STR_INIT("__thought__");

static void split_id(struct sl_str id, struct sl_str *bare, struct sl_str *signature)
{
    *bare = id;
    *signature = SL_STR_NULL;
    for (size_t i = 0; i + thought_sep.len <= id.len; i++) {
        if (memcmp(id.ptr + i, thought_sep.ptr, thought_sep.len) == 0) {
            *bare = sl_str_init(id.ptr, i);
            *signature = sl_str_init(id.ptr + i + thought_sep.len, id.len - i - thought_sep.len);
            return;
        }
    }
}

/* A tool call's arguments become functionCall.args: the object the arguments string holds. */
static int call_args(struct c2g *t, const struct sl_json_member *args, const char *path)
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
        sl_jw_raw(&t->w, SL_STRLIT("{}"));
        return SL_OK;
    }
    if (text.ptr[0] != '{' || sl_json_validate(text, SL_XLATE_MAX_DEPTH, &err) != SL_OK)
        return sl__xl_fail(&t->x, path, "invalid JSON arguments: expected a JSON object");
    sl_jw_raw(&t->w, text);
    return SL_OK;
}

static int tool_call(struct c2g *t, const struct sl_json_member *call, size_t i, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("id"), SL_STR_INIT("type"),
                                         SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("arguments")};
    struct sl_json_member f[3], fn[2];
    struct sl_str id, bare, signature;
    const char *path = pathf(t, "messages[%zu].tool_calls[%zu]", i, j);
    int rc = sl__xl_read(&t->x, path, call, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_has(&f[1]) && !sl__xl_str_is(&f[1], "function"))
        return sl__xl_fail(&t->x, path, "only function tool calls can reach Gemini models");
    if (f[0].type != SL_JSON_STRING || f[0].value.len == 2)
        return sl__xl_fail(&t->x, path, "id: expected a non-empty string");
    if ((rc = sl__xl_read(&t->x, path, &f[2], f_keys, 2, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING || fn[0].value.len == 2)
        return sl__xl_fail(&t->x, path, "function.name: expected a non-empty string");
    if (t->ncalls == MAX_CALLS)
        return sl__xl_fail(&t->x, "messages", "more than %d tool calls in the conversation",
                           MAX_CALLS);
    id = sl__xl_inner(&f[0]);
    t->calls[t->ncalls++] = (struct call_name){id, fn[0].value};
    split_id(id, &bare, &signature);
    turn_for(t, ROLE_MODEL);
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("functionCall"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("id"));
    sl_jw_str_begin(&t->w);
    sl_jw_str_raw(&t->w, bare);
    sl_jw_str_end(&t->w);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    sl_jw_key(&t->w, SL_STRLIT("args"));
    path = pathf(t, "messages[%zu].tool_calls[%zu].function.arguments", i, j);
    if ((rc = call_args(t, &fn[1], path)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    if (signature.len != 0) {
        sl_jw_key(&t->w, SL_STRLIT("thoughtSignature"));
        sl_jw_str_begin(&t->w);
        sl_jw_str_raw(&t->w, signature);
        sl_jw_str_end(&t->w);
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tool_calls(struct c2g *t, const struct sl_json_member *calls, size_t i)
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

/* The text of a tool message: its string, or its text parts joined. */
static int result_text(struct c2g *t, const struct sl_json_member *content, size_t i)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text")};
    struct sl__xl_it it;
    struct sl_json_member part, f[2];
    size_t j = 0;
    int rc;
    sl_jw_str_begin(&t->w);
    if (content->type == SL_JSON_STRING)
        sl_jw_str_raw(&t->w, sl__xl_inner(content));
    if (content->type == SL_JSON_ARRAY) {
        sl__xl_iter(&it, content);
        for (; sl__xl_next(&it, NULL, &part) == 1; j++) {
            const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
            if ((rc = sl__xl_read(&t->x, path, &part, keys, 2, f, NULL, NULL)) != SL_OK)
                return rc;
            if (!sl__xl_str_is(&f[0], "text") || f[1].type != SL_JSON_STRING)
                return sl__xl_fail(&t->x, path, "expected a text part");
            sl_jw_str_raw(&t->w, sl__xl_inner(&f[1]));
        }
    } else if (sl__xl_has(content) && content->type != SL_JSON_STRING) {
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                           "expected a string or an array of parts");
    }
    sl_jw_str_end(&t->w);
    return SL_OK;
}

/* functionResponse.response: the object a tool's text holds when it is a JSON object, else
 * {"content": text}. */
static int result_response(struct c2g *t, const struct sl_json_member *content, size_t i)
{
    struct sl_str text;
    struct sl_json_error err;
    if (content->type == SL_JSON_STRING) {
        if (sl__xl_text(&t->x, content, &text) != SL_OK)
            return SL_E2BIG;
        text = sl_str_trim(text);
        if (text.len != 0 && text.ptr[0] == '{' &&
            sl_json_validate(text, SL_XLATE_MAX_DEPTH, &err) == SL_OK) {
            sl_jw_raw(&t->w, text);
            return SL_OK;
        }
    }
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("content"));
    int rc = result_text(t, content, i);
    sl_jw_obj_end(&t->w);
    return rc;
}

static const struct call_name *find_call(const struct c2g *t, struct sl_str id)
{
    for (size_t k = t->ncalls; k-- > 0;)
        if (sl_str_eq(t->calls[k].id, id))
            return &t->calls[k];
    return NULL;
}

static int tool_result(struct c2g *t, const struct sl_json_member *id,
                       const struct sl_json_member *content, size_t i)
{
    struct sl_str bare, signature;
    if (id->type != SL_JSON_STRING || id->value.len == 2)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].tool_call_id", i),
                           "expected a non-empty string");
    const struct call_name *call = find_call(t, sl__xl_inner(id));
    if (call == NULL)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].tool_call_id", i),
                           "no earlier assistant tool call has this id (Gemini needs the "
                           "function's name with its result)");
    split_id(sl__xl_inner(id), &bare, &signature);
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("functionResponse"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("id"));
    sl_jw_str_begin(&t->w);
    sl_jw_str_raw(&t->w, bare);
    sl_jw_str_end(&t->w);
    sl_jw_kraw(&t->w, "name", call->name);
    sl_jw_key(&t->w, SL_STRLIT("response"));
    int rc = result_response(t, content, i);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return rc;
}

/* ---- messages ---- */

enum { M_ROLE, M_CONTENT, M_TOOL_CALLS, M_TOOL_CALL_ID, M_FUNCTION_CALL, M_N };
static const struct sl_str msg_keys[M_N] = {
    [M_ROLE] = SL_STR_INIT("role"),
    [M_CONTENT] = SL_STR_INIT("content"),
    [M_TOOL_CALLS] = SL_STR_INIT("tool_calls"),
    [M_TOOL_CALL_ID] = SL_STR_INIT("tool_call_id"),
    [M_FUNCTION_CALL] = SL_STR_INIT("function_call"),
};

static int read_message(struct c2g *t, const struct sl_json_member *msg, size_t i,
                        struct sl_json_member *f)
{
    /* name, reasoning_content, refusal, audio and other members are dropped. */
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

static int message(struct c2g *t, const struct sl_json_member *f, size_t i)
{
    int rc;
    if (sl__xl_has(&f[M_FUNCTION_CALL]))
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].function_call", i),
                           "the deprecated functions API is not translated; use tool_calls");
    if (sl__xl_str_is(&f[M_ROLE], "user"))
        return user_content(t, &f[M_CONTENT], i);
    if (is_system(f)) /* a later system message: a user turn (Gemini has one system instruction) */
        return text_content(t, ROLE_USER, &f[M_CONTENT], i, text_part);
    if (sl__xl_str_is(&f[M_ROLE], "assistant")) {
        if ((rc = text_content(t, ROLE_MODEL, &f[M_CONTENT], i, text_part)) != SL_OK)
            return rc;
        return tool_calls(t, &f[M_TOOL_CALLS], i);
    }
    if (sl__xl_str_is(&f[M_ROLE], "tool"))
        return tool_result(t, &f[M_TOOL_CALL_ID], &f[M_CONTENT], i);
    return sl__xl_fail(&t->x, pathf(t, "messages[%zu].role", i), "unsupported role %.*s",
                       (int)SL_MIN(f[M_ROLE].value.len, (size_t)64), f[M_ROLE].value.ptr);
}

/* System parts go into systemInstruction; text_part's turn handling is not wanted there. */
static void system_part(struct c2g *t, enum role r, const struct sl_json_member *text)
{
    SL_UNUSED(r);
    if (text->value.len == 2)
        return;
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "text", text->value);
    sl_jw_obj_end(&t->w);
}

/* The leading system and developer messages: how many there are. */
static int count_system(struct c2g *t, const struct sl_json_member *msgs, size_t *n)
{
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    int rc;
    *n = 0;
    sl__xl_iter(&it, msgs);
    while (sl__xl_next(&it, NULL, &msg) == 1) {
        if ((rc = read_message(t, &msg, *n, f)) != SL_OK)
            return rc;
        if (!is_system(f))
            break;
        (*n)++;
    }
    return SL_OK;
}

static int system_instruction(struct c2g *t, const struct sl_json_member *msgs, size_t n)
{
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    int rc;
    if (n == 0)
        return SL_OK;
    sl_jw_key(&t->w, SL_STRLIT("systemInstruction"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("parts"));
    sl_jw_arr(&t->w);
    size_t before = t->w.out->len;
    sl__xl_iter(&it, msgs);
    for (size_t i = 0; i < n && sl__xl_next(&it, NULL, &msg) == 1; i++)
        if ((rc = read_message(t, &msg, i, f)) != SL_OK ||
            (rc = text_content(t, ROLE_NONE, &f[M_CONTENT], i, system_part)) != SL_OK)
            return rc;
    if (t->w.out->len == before) /* only empty texts: Gemini refuses an empty parts list */
        sl_jw_raw(&t->w, SL_STRLIT("{\"text\":\"\"}"));
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int messages(struct c2g *t)
{
    const struct sl_json_member *msgs = &t->m[K_MESSAGES];
    struct sl__xl_it it;
    struct sl_json_member msg, f[M_N];
    size_t nsys, i = 0;
    int rc;
    if (msgs->type != SL_JSON_ARRAY || msgs->count == 0)
        return sl__xl_fail(&t->x, "messages", "expected a non-empty array");
    if ((rc = count_system(t, msgs, &nsys)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("contents"));
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
    t->open = ROLE_NONE;
    if (t->turns == 0)
        return sl__xl_fail(&t->x, "messages",
                           "no message with content besides system messages (Gemini models "
                           "need at least one)");
    return system_instruction(t, msgs, nsys);
}

/* ---- JSON Schema -> Gemini's Schema (an OpenAPI 3.0 subset) ---- */

enum {
    S_TYPE,
    S_FORMAT,
    S_TITLE,
    S_DESCRIPTION,
    S_NULLABLE,
    S_ENUM,
    S_CONST,
    S_PROPERTIES,
    S_REQUIRED,
    S_ITEMS,
    S_ANY_OF,
    S_ONE_OF,
    S_MIN_ITEMS,
    S_MAX_ITEMS,
    S_MIN_LENGTH,
    S_MAX_LENGTH,
    S_MIN_PROPERTIES,
    S_MAX_PROPERTIES,
    S_MINIMUM,
    S_MAXIMUM,
    S_PATTERN,
    S_DEFAULT,
    S_EXAMPLE,
    S_EXAMPLES,
    S_PROPERTY_ORDERING,
    S_REF,
    S_N,
};

static const struct sl_str schema_keys[S_N] = {
    [S_TYPE] = SL_STR_INIT("type"),
    [S_FORMAT] = SL_STR_INIT("format"),
    [S_TITLE] = SL_STR_INIT("title"),
    [S_DESCRIPTION] = SL_STR_INIT("description"),
    [S_NULLABLE] = SL_STR_INIT("nullable"),
    [S_ENUM] = SL_STR_INIT("enum"),
    [S_CONST] = SL_STR_INIT("const"),
    [S_PROPERTIES] = SL_STR_INIT("properties"),
    [S_REQUIRED] = SL_STR_INIT("required"),
    [S_ITEMS] = SL_STR_INIT("items"),
    [S_ANY_OF] = SL_STR_INIT("anyOf"),
    [S_ONE_OF] = SL_STR_INIT("oneOf"),
    [S_MIN_ITEMS] = SL_STR_INIT("minItems"),
    [S_MAX_ITEMS] = SL_STR_INIT("maxItems"),
    [S_MIN_LENGTH] = SL_STR_INIT("minLength"),
    [S_MAX_LENGTH] = SL_STR_INIT("maxLength"),
    [S_MIN_PROPERTIES] = SL_STR_INIT("minProperties"),
    [S_MAX_PROPERTIES] = SL_STR_INIT("maxProperties"),
    [S_MINIMUM] = SL_STR_INIT("minimum"),
    [S_MAXIMUM] = SL_STR_INIT("maximum"),
    [S_PATTERN] = SL_STR_INIT("pattern"),
    [S_DEFAULT] = SL_STR_INIT("default"),
    [S_EXAMPLE] = SL_STR_INIT("example"),
    [S_EXAMPLES] = SL_STR_INIT("examples"),
    [S_PROPERTY_ORDERING] = SL_STR_INIT("propertyOrdering"),
    [S_REF] = SL_STR_INIT("$ref"),
};

/* Copied as they are when their JSON type fits (Gemini's names are JSON Schema's). */
static const struct {
    int key;
    enum sl_json_type type;
} copied[] = {
    {S_TITLE, SL_JSON_STRING},
    {S_DESCRIPTION, SL_JSON_STRING},
    {S_REQUIRED, SL_JSON_ARRAY},
    {S_MIN_ITEMS, SL_JSON_NUMBER},
    {S_MAX_ITEMS, SL_JSON_NUMBER},
    {S_MIN_LENGTH, SL_JSON_NUMBER},
    {S_MAX_LENGTH, SL_JSON_NUMBER},
    {S_MIN_PROPERTIES, SL_JSON_NUMBER},
    {S_MAX_PROPERTIES, SL_JSON_NUMBER},
    {S_MINIMUM, SL_JSON_NUMBER},
    {S_MAXIMUM, SL_JSON_NUMBER},
    {S_PATTERN, SL_JSON_STRING},
    {S_PROPERTY_ORDERING, SL_JSON_ARRAY},
};

struct schema_ctx {
    const struct sl_json_member *root; /* where "#/$defs/..." and "#/definitions/..." point */
    const char *path;                  /* for messages: "tools[2].function.parameters" */
    unsigned refs;                     /* $ref expansions in progress */
};

static int schema(struct c2g *t, struct schema_ctx *sc, const struct sl_json_member *v);

/* JSON Schema's type names as Gemini's Type enum. */
static const char *gemini_type(const struct sl_json_member *v)
{
    static const struct {
        const char *json, *gemini;
    } types[] = {{"string", "STRING"},   {"number", "NUMBER"}, {"integer", "INTEGER"},
                 {"boolean", "BOOLEAN"}, {"array", "ARRAY"},   {"object", "OBJECT"},
                 {"null", "NULL"}};
    struct sl_str in = sl__xl_inner(v);
    bool escaped = memchr(in.ptr, '\\', in.len) != NULL;
    for (size_t i = 0; i < SL_ARRAY_LEN(types); i++) {
        struct sl_str j = sl_str_from_cstr(types[i].json), g = sl_str_from_cstr(types[i].gemini);
        if (escaped ? sl__xl_str_is(v, types[i].json) || sl__xl_str_is(v, types[i].gemini)
                    : sl_str_eq(in, j) || sl_str_eq(in, g))
            return types[i].gemini;
    }
    return NULL;
}

/* "type": a name, or a list of names: "null" among them sets nullable, one other is the type,
 * several become anyOf. Returns 0 or SL_EPARSE. */
static int schema_type(struct c2g *t, struct schema_ctx *sc, const struct sl_json_member *v,
                       bool *wrote_any_of)
{
    struct sl__xl_it it;
    struct sl_json_member e;
    const char *names[8];
    size_t n = 0;
    bool null = false;
    *wrote_any_of = false;
    if (v->type == SL_JSON_STRING) {
        const char *g = gemini_type(v);
        if (g == NULL)
            return sl__xl_fail(&t->x, sc->path, "unknown schema type %.*s",
                               (int)SL_MIN(v->value.len, (size_t)40), v->value.ptr);
        sl_jw_kstr(&t->w, "type", sl_str_from_cstr(g));
        return SL_OK;
    }
    if (v->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, sc->path, "type: expected a string or an array of strings");
    sl__xl_iter(&it, v);
    while (sl__xl_next(&it, NULL, &e) == 1) {
        const char *g = gemini_type(&e);
        if (g == NULL || n == SL_ARRAY_LEN(names))
            return sl__xl_fail(&t->x, sc->path, "type: unknown or too many types");
        if (strcmp(g, "NULL") == 0)
            null = true;
        else
            names[n++] = g;
    }
    if (null)
        sl_jw_kraw(&t->w, "nullable", SL_STRLIT("true"));
    if (n == 1)
        sl_jw_kstr(&t->w, "type", sl_str_from_cstr(names[0]));
    if (n > 1) {
        sl_jw_key(&t->w, SL_STRLIT("anyOf"));
        sl_jw_arr(&t->w);
        for (size_t i = 0; i < n; i++) {
            sl_jw_obj(&t->w);
            sl_jw_kstr(&t->w, "type", sl_str_from_cstr(names[i]));
            sl_jw_obj_end(&t->w);
        }
        sl_jw_arr_end(&t->w);
        *wrote_any_of = true;
    }
    return SL_OK;
}

/* Gemini's enum holds strings: an enum of other values is dropped (the type still holds). */
static void schema_enum(struct c2g *t, const struct sl_json_member *e,
                        const struct sl_json_member *cnst)
{
    struct sl__xl_it it;
    struct sl_json_member v;
    if (e->type == SL_JSON_ARRAY && e->count != 0) {
        sl__xl_iter(&it, e);
        while (sl__xl_next(&it, NULL, &v) == 1)
            if (v.type != SL_JSON_STRING)
                return;
        sl_jw_kraw(&t->w, "enum", e->value);
    } else if (cnst->type == SL_JSON_STRING) {
        sl_jw_key(&t->w, SL_STRLIT("enum"));
        sl_jw_arr(&t->w);
        sl_jw_raw(&t->w, cnst->value);
        sl_jw_arr_end(&t->w);
    }
}

/* Gemini reads these formats; others (email, uri, ...) are dropped. */
static void schema_format(struct c2g *t, const struct sl_json_member *f)
{
    static const char *const ok[] = {"enum", "date-time", "float", "double", "int32", "int64"};
    for (size_t i = 0; i < SL_ARRAY_LEN(ok); i++)
        if (sl__xl_str_is(f, ok[i])) {
            sl_jw_kraw(&t->w, "format", f->value);
            return;
        }
}

static int schema_properties(struct c2g *t, struct schema_ctx *sc, const struct sl_json_member *p)
{
    struct sl__xl_it it;
    struct sl_json_key key;
    struct sl_json_member v;
    struct sl_str name;
    int rc;
    if (p->type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, sc->path, "properties: expected an object");
    sl_jw_key(&t->w, SL_STRLIT("properties"));
    sl_jw_obj(&t->w);
    sl__xl_iter(&it, p);
    while (sl__xl_next(&it, &key, &v) == 1) {
        struct sl_json_member k = {.type = SL_JSON_STRING,
                                   .value = sl_str_init(key.raw.ptr - 1, key.raw.len + 2)};
        if (sl__xl_text(&t->x, &k, &name) != SL_OK)
            return SL_E2BIG;
        sl_jw_key(&t->w, name);
        if ((rc = schema(t, sc, &v)) != SL_OK)
            return rc;
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int schema_list(struct c2g *t, struct schema_ctx *sc, const struct sl_json_member *l)
{
    struct sl__xl_it it;
    struct sl_json_member v;
    int rc;
    if (l->type != SL_JSON_ARRAY || l->count == 0)
        return sl__xl_fail(&t->x, sc->path, "anyOf: expected a non-empty array");
    sl_jw_key(&t->w, SL_STRLIT("anyOf"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, l);
    while (sl__xl_next(&it, NULL, &v) == 1)
        if ((rc = schema(t, sc, &v)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

/* "#/$defs/<name>" or "#/definitions/<name>" in the root schema. */
static int resolve_ref(struct c2g *t, struct schema_ctx *sc, const struct sl_json_member *ref,
                       struct sl_json_member *out)
{
    static const struct sl_str prefixes[] = {SL_STR_INIT("#/$defs/"),
                                             SL_STR_INIT("#/definitions/")};
    struct sl_json_member defs;
    struct sl_str r;
    if (ref->type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, sc->path, "$ref: expected a string");
    r = sl__xl_inner(ref);
    for (size_t i = 0; i < SL_ARRAY_LEN(prefixes); i++) {
        if (!sl_str_starts_with(r, prefixes[i]) || memchr(r.ptr, '\\', r.len) != NULL)
            continue;
        struct sl_str name = sl_str_init(r.ptr + prefixes[i].len, r.len - prefixes[i].len);
        struct sl_str defs_key = sl_str_init(prefixes[i].ptr + 2, prefixes[i].len - 3);
        if (sc->root->type == SL_JSON_OBJECT &&
            sl_json_find(sc->root->value, defs_key, &defs) == SL_OK &&
            defs.type == SL_JSON_OBJECT && sl_json_find(defs.value, name, out) == SL_OK)
            return SL_OK;
    }
    return sl__xl_fail(&t->x, sc->path,
                       "$ref %.*s: only references to the schema's own $defs or definitions "
                       "can be inlined for Gemini",
                       (int)SL_MIN(r.len, (size_t)80), r.ptr);
}

/* Writes the Gemini form of schema v (an object; true and {} mean any value). */
static int schema(struct c2g *t, struct schema_ctx *sc, const struct sl_json_member *v)
{
    struct sl_json_member s[S_N], target;
    bool any_of = false;
    int rc;
    if (v->type == SL_JSON_TRUE) {
        sl_jw_raw(&t->w, SL_STRLIT("{}"));
        return SL_OK;
    }
    if ((rc = sl__xl_read(&t->x, sc->path, v, schema_keys, S_N, s, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&s[S_REF])) {
        if (sc->refs == MAX_REF_DEPTH)
            return sl__xl_fail(&t->x, sc->path,
                               "$ref nested more than %d deep (a recursive schema cannot be "
                               "inlined for Gemini)",
                               MAX_REF_DEPTH);
        if ((rc = resolve_ref(t, sc, &s[S_REF], &target)) != SL_OK)
            return rc;
        sc->refs++;
        rc = schema(t, sc, &target);
        sc->refs--;
        return rc;
    }
    sl_jw_obj(&t->w);
    if (sl__xl_has(&s[S_TYPE]) && (rc = schema_type(t, sc, &s[S_TYPE], &any_of)) != SL_OK)
        return rc;
    if (s[S_FORMAT].type == SL_JSON_STRING)
        schema_format(t, &s[S_FORMAT]);
    if (s[S_NULLABLE].type == SL_JSON_TRUE && !(s[S_TYPE].type == SL_JSON_ARRAY))
        sl_jw_kraw(&t->w, "nullable", SL_STRLIT("true"));
    schema_enum(t, &s[S_ENUM], &s[S_CONST]);
    for (size_t i = 0; i < SL_ARRAY_LEN(copied); i++)
        if (s[copied[i].key].type == copied[i].type)
            sl_jw_kraw(&t->w, schema_keys[copied[i].key].ptr, s[copied[i].key].value);
    if (sl__xl_has(&s[S_DEFAULT]))
        sl_jw_kraw(&t->w, "default", s[S_DEFAULT].value);
    if (sl__xl_has(&s[S_EXAMPLE]))
        sl_jw_kraw(&t->w, "example", s[S_EXAMPLE].value);
    else if (s[S_EXAMPLES].type == SL_JSON_ARRAY && s[S_EXAMPLES].count != 0) {
        struct sl__xl_it it;
        struct sl_json_member first;
        sl__xl_iter(&it, &s[S_EXAMPLES]);
        if (sl__xl_next(&it, NULL, &first) == 1)
            sl_jw_kraw(&t->w, "example", first.value);
    }
    if (sl__xl_has(&s[S_PROPERTIES]) && (rc = schema_properties(t, sc, &s[S_PROPERTIES])) != SL_OK)
        return rc;
    if (s[S_ITEMS].type == SL_JSON_OBJECT || s[S_ITEMS].type == SL_JSON_TRUE) {
        sl_jw_key(&t->w, SL_STRLIT("items"));
        if ((rc = schema(t, sc, &s[S_ITEMS])) != SL_OK)
            return rc;
    }
    const struct sl_json_member *alts = sl__xl_has(&s[S_ANY_OF]) ? &s[S_ANY_OF] : &s[S_ONE_OF];
    if (sl__xl_has(alts) && !any_of && (rc = schema_list(t, sc, alts)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* A schema as the root of its own references. */
static int root_schema(struct c2g *t, const struct sl_json_member *v, const char *path)
{
    struct schema_ctx sc = {.root = v, .path = path, .refs = 0};
    if (v->type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, path, "expected an object");
    return schema(t, &sc, v);
}

/* ---- tools ---- */

/* Gemini refuses an OBJECT schema without properties as a function's parameters: a function
 * that takes nothing is declared without parameters. */
static bool takes_nothing(const struct sl_json_member *params)
{
    struct sl_json_member props;
    if (!sl__xl_has(params))
        return true;
    if (params->type != SL_JSON_OBJECT)
        return false;
    return sl_json_find(params->value, SL_STRLIT("properties"), &props) != SL_OK ||
           (props.type == SL_JSON_OBJECT && props.count == 0);
}

static int tool(struct c2g *t, const struct sl_json_member *tl, size_t j)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("description"),
                                           SL_STR_INIT("parameters"), SL_STR_INIT("strict")};
    struct sl_json_member f[2], fn[4];
    const char *path = pathf(t, "tools[%zu]", j);
    int rc = sl__xl_read(&t->x, path, tl, keys, 2, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (!sl__xl_str_is(&f[0], "function"))
        return sl__xl_fail(&t->x, path, "only function tools can reach Gemini models");
    if ((rc = sl__xl_read(&t->x, path, &f[1], f_keys, 4, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING || fn[0].value.len == 2)
        return sl__xl_fail(&t->x, path, "function.name: expected a non-empty string");
    if (sl__xl_has(&fn[2]) && fn[2].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, path, "function.parameters: expected an object");
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    if (fn[1].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "description", fn[1].value);
    /* strict has no counterpart: Gemini always follows the declaration */
    if (!takes_nothing(&fn[2])) {
        sl_jw_key(&t->w, SL_STRLIT("parameters"));
        if ((rc = root_schema(t, &fn[2], pathf(t, "tools[%zu].function.parameters", j))) != SL_OK)
            return rc;
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tools(struct c2g *t)
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
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("functionDeclarations"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, v);
    for (; sl__xl_next(&it, NULL, &tl) == 1; j++)
        if ((rc = tool(t, &tl, j)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int tool_config(struct c2g *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name")};
    const struct sl_json_member *v = &t->m[K_TOOL_CHOICE];
    struct sl_json_member f[2], fn[1];
    const char *mode;
    int rc;
    fn[0].type = SL_JSON_ABSENT;
    if (sl__xl_has(&t->m[K_PARALLEL_TOOL_CALLS]) &&
        t->m[K_PARALLEL_TOOL_CALLS].type != SL_JSON_TRUE &&
        t->m[K_PARALLEL_TOOL_CALLS].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "parallel_tool_calls", "expected a boolean");
    if (!sl__xl_has(v))
        return SL_OK;
    if (sl__xl_str_is(v, "auto")) {
        mode = "AUTO";
    } else if (sl__xl_str_is(v, "none")) {
        mode = "NONE";
    } else if (sl__xl_str_is(v, "required")) {
        mode = "ANY";
    } else if (v->type == SL_JSON_OBJECT) {
        if ((rc = sl__xl_read(&t->x, "tool_choice", v, keys, 2, f, NULL, NULL)) != SL_OK)
            return rc;
        if (!sl__xl_str_is(&f[0], "function"))
            return sl__xl_fail(&t->x, "tool_choice",
                               "only {\"type\":\"function\"} choices can be translated");
        if ((rc = sl__xl_read(&t->x, "tool_choice.function", &f[1], f_keys, 1, fn, NULL, NULL)) !=
            SL_OK)
            return rc;
        if (fn[0].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "tool_choice.function.name", "expected a string");
        mode = "ANY";
    } else {
        return sl__xl_fail(&t->x, "tool_choice", "expected auto, none, required or a function");
    }
    sl_jw_key(&t->w, SL_STRLIT("toolConfig"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("functionCallingConfig"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "mode", sl_str_from_cstr(mode));
    if (fn[0].type == SL_JSON_STRING) {
        sl_jw_key(&t->w, SL_STRLIT("allowedFunctionNames"));
        sl_jw_arr(&t->w);
        sl_jw_raw(&t->w, fn[0].value);
        sl_jw_arr_end(&t->w);
    }
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* ---- generationConfig ---- */

/* Fields that ask for something Gemini cannot do are refused rather than dropped (dropping them
 * would change the answer silently). */
static int refuse_unmappable(struct c2g *t)
{
    const struct sl_json_member *m = t->m;
    if (sl__xl_has(&m[K_LOGPROBS]) && m[K_LOGPROBS].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "logprobs",
                           "log probabilities are not translated for Gemini "
                           "models");
    if (sl__xl_has(&m[K_TOP_LOGPROBS]) &&
        !(m[K_TOP_LOGPROBS].type == SL_JSON_NUMBER && sl_str_eq_lit(m[K_TOP_LOGPROBS].value, "0")))
        return sl__xl_fail(&t->x, "top_logprobs",
                           "log probabilities are not translated for Gemini models");
    if (sl__xl_has(&m[K_LOGIT_BIAS]) &&
        (m[K_LOGIT_BIAS].type != SL_JSON_OBJECT || m[K_LOGIT_BIAS].count != 0))
        return sl__xl_fail(&t->x, "logit_bias", "not supported by Gemini models");
    if (sl__xl_has(&m[K_AUDIO]))
        return sl__xl_fail(&t->x, "audio", "audio output is not translated for Gemini models");
    if (sl__xl_has(&m[K_WEB_SEARCH_OPTIONS]))
        return sl__xl_fail(&t->x, "web_search_options",
                           "not translated to Gemini's Google Search tool");
    if (sl__xl_has(&m[K_FUNCTIONS]) || sl__xl_has(&m[K_FUNCTION_CALL]))
        return sl__xl_fail(&t->x, sl__xl_has(&m[K_FUNCTIONS]) ? "functions" : "function_call",
                           "the deprecated functions API is not translated; use tools");
    if (sl__xl_has(&m[K_VERBOSITY]) && !sl__xl_str_is(&m[K_VERBOSITY], "medium"))
        return sl__xl_fail(&t->x, "verbosity",
                           "Gemini models have no verbosity setting (only \"medium\", the "
                           "default, can be served)");
    if (sl__xl_has(&m[K_MODALITIES])) {
        struct sl__xl_it it;
        struct sl_json_member v;
        if (m[K_MODALITIES].type != SL_JSON_ARRAY)
            return sl__xl_fail(&t->x, "modalities", "expected an array");
        sl__xl_iter(&it, &m[K_MODALITIES]);
        while (sl__xl_next(&it, NULL, &v) == 1)
            if (!sl__xl_str_is(&v, "text"))
                return sl__xl_fail(&t->x, "modalities", "only text output is translated");
    }
    if (sl__xl_has(&m[K_STREAM]) && m[K_STREAM].type != SL_JSON_TRUE &&
        m[K_STREAM].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "stream", "expected a boolean");
    return SL_OK;
}

/* Opens generationConfig on first use. */
static void gen(struct c2g *t, bool *open)
{
    if (*open)
        return;
    sl_jw_key(&t->w, SL_STRLIT("generationConfig"));
    sl_jw_obj(&t->w);
    *open = true;
}

/* Numbers copied under Gemini's name. */
static int numbers(struct c2g *t, bool *open)
{
    static const struct {
        int key;
        const char *name;
        bool integer;
    } map[] = {
        {K_TEMPERATURE, "temperature", false},
        {K_TOP_P, "topP", false},
        {K_TOP_K, "topK", true},
        {K_PRESENCE_PENALTY, "presencePenalty", false},
        {K_FREQUENCY_PENALTY, "frequencyPenalty", false},
        {K_SEED, "seed", true},
        {K_N, "candidateCount", true},
    };
    double d;
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++) {
        const struct sl_json_member *v = &t->m[map[i].key];
        if (!sl__xl_has(v))
            continue;
        /* An integer within int64's range (a wider double would make the cast undefined). */
        if (sl__xl_number(v, &d) != SL_OK ||
            (map[i].integer && !(d > -9.2e18 && d < 9.2e18 && d == (double)(int64_t)d)))
            return sl__xl_fail(&t->x, top_keys[map[i].key].ptr, "expected %s",
                               map[i].integer ? "an integer" : "a number");
        gen(t, open);
        sl_jw_kraw(&t->w, map[i].name, v->value);
    }
    return SL_OK;
}

static int max_tokens(struct c2g *t, bool *open)
{
    const struct sl_json_member *v = &t->m[K_MAX_COMPLETION_TOKENS];
    const char *name = "max_completion_tokens";
    uint64_t n;
    if (!sl__xl_has(v)) {
        v = &t->m[K_MAX_TOKENS];
        name = "max_tokens";
    }
    if (!sl__xl_has(v))
        return SL_OK;
    if (sl__xl_uint(v, &n) != SL_OK || n == 0 || n > INT32_MAX)
        return sl__xl_fail(&t->x, name, "expected a positive integer");
    gen(t, open);
    sl_jw_kraw(&t->w, "maxOutputTokens", v->value);
    return SL_OK;
}

static int stop_sequences(struct c2g *t, bool *open)
{
    const struct sl_json_member *v = &t->m[K_STOP];
    struct sl__xl_it it;
    struct sl_json_member s;
    if (!sl__xl_has(v))
        return SL_OK;
    if (v->type == SL_JSON_STRING) {
        gen(t, open);
        sl_jw_key(&t->w, SL_STRLIT("stopSequences"));
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
    if (v->count == 0)
        return SL_OK;
    gen(t, open);
    sl_jw_kraw(&t->w, "stopSequences", v->value);
    return SL_OK;
}

static int response_format(struct c2g *t, bool *open)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("json_schema")};
    static const struct sl_str js_keys[] = {SL_STR_INIT("name"), SL_STR_INIT("schema"),
                                            SL_STR_INIT("strict"), SL_STR_INIT("description")};
    const struct sl_json_member *v = &t->m[K_RESPONSE_FORMAT];
    struct sl_json_member f[2], js[4];
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "response_format", v, keys, 2, f, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[0], "text"))
        return SL_OK;
    if (sl__xl_str_is(&f[0], "json_object")) {
        gen(t, open);
        sl_jw_kstr(&t->w, "responseMimeType", SL_STRLIT("application/json"));
        return SL_OK;
    }
    if (!sl__xl_str_is(&f[0], "json_schema"))
        return sl__xl_fail(&t->x, "response_format", "expected text, json_object or json_schema");
    if ((rc = sl__xl_read(&t->x, "response_format.json_schema", &f[1], js_keys, 4, js, NULL,
                          NULL)) != SL_OK)
        return rc;
    gen(t, open);
    sl_jw_kstr(&t->w, "responseMimeType", SL_STRLIT("application/json"));
    if (!sl__xl_has(&js[1]))
        return SL_OK; /* no schema: any JSON */
    sl_jw_key(&t->w, SL_STRLIT("responseSchema"));
    return root_schema(t, &js[1], "response_format.json_schema.schema");
}

/* reasoning_effort -> thinkingConfig: the budgets of the Anthropic translation (which sit on
 * the reverse direction's thresholds), with the thoughts returned as reasoning_content. */
static int thinking(struct c2g *t, bool *open)
{
    static const struct {
        const char *effort;
        int64_t budget;
    } levels[] = {{"none", 0},      {"minimal", 1024}, {"low", 1024},
                  {"medium", 2048}, {"high", 4096},    {"xhigh", 8192}};
    const struct sl_json_member *v = &t->m[K_REASONING_EFFORT];
    if (!sl__xl_has(v))
        return SL_OK;
    for (size_t i = 0; i < SL_ARRAY_LEN(levels); i++) {
        if (!sl__xl_str_is(v, levels[i].effort))
            continue;
        gen(t, open);
        sl_jw_key(&t->w, SL_STRLIT("thinkingConfig"));
        sl_jw_obj(&t->w);
        sl_jw_kint(&t->w, "thinkingBudget", levels[i].budget);
        if (levels[i].budget != 0) {
            sl_jw_key(&t->w, SL_STRLIT("includeThoughts"));
            sl_jw_bool(&t->w, true);
        }
        sl_jw_obj_end(&t->w);
        return SL_OK;
    }
    return sl__xl_fail(&t->x, "reasoning_effort",
                       "expected none, minimal, low, medium, high or xhigh");
}

static int generation_config(struct c2g *t)
{
    bool open = false;
    int rc;
    if ((rc = numbers(t, &open)) != SL_OK || (rc = max_tokens(t, &open)) != SL_OK ||
        (rc = stop_sequences(t, &open)) != SL_OK || (rc = response_format(t, &open)) != SL_OK ||
        (rc = thinking(t, &open)) != SL_OK)
        return rc;
    if (open)
        sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int translate(struct c2g *t, struct sl__xl_others *o)
{
    int rc;
    if ((rc = refuse_unmappable(t)) != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    if ((rc = messages(t)) != SL_OK || (rc = tools(t)) != SL_OK || (rc = tool_config(t)) != SL_OK ||
        (rc = generation_config(t)) != SL_OK)
        return rc;
    if ((rc = sl__xl_write_others(&t->x, &t->w, t->mark, o)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_chat_to_gemini_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                     struct sl_buf *out, char *why, size_t whylen)
{
    /* Heap, not stack: the key set and the call table are large. */
    struct c2g *t = sl_xmalloc(sizeof(*t));
    struct sl__xl_others *o = sl_xmalloc(sizeof(*o));
    size_t mark = out->len;
    int rc;
    t->c = c;
    t->open = ROLE_NONE;
    t->turns = 0;
    t->ncalls = 0;
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
