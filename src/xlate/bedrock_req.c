/* Request: OpenAI chat completions -> Bedrock Converse (an OpenAI SDK caller reaching any
 * Bedrock chat model; ConverseStream takes the same body). The model is not in the body (it is
 * in the URL), nor is stream (the operation says it). Every field decision is in
 * docs/translation.md; the comments here say why where the code alone does not. */
#include <stdlib.h>
#include <string.h>

#include "bedrock_internal.h"
#include "sluice/base.h"
#include "sluice/bedrock.h"

#define DEFAULT_MAX_TOKENS  4096
#define MIN_THINKING_BUDGET 1024
/* Bedrock's DocumentBlock name: at most 200 characters of letters, digits, single spaces, '-',
 * '(', ')', '[' and ']'. */
#define MAX_DOC_NAME 200

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
    K_ADDITIONAL,
    /* Read and dropped: they change nothing in the answer (see docs/translation.md). */
    K_STREAM_OPTIONS,
    K_USER,
    K_SAFETY_IDENTIFIER,
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
    [K_ADDITIONAL] = SL_STR_INIT("additionalModelRequestFields"),
    [K_STREAM_OPTIONS] = SL_STR_INIT("stream_options"),
    [K_USER] = SL_STR_INIT("user"),
    [K_SAFETY_IDENTIFIER] = SL_STR_INIT("safety_identifier"),
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
struct c2b {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    enum role open;      /* the Converse message being written (its content array is open) */
    size_t turns;        /* messages written */
    size_t docs;         /* documents written (their default names) */
    bool tool_blocks;    /* a toolUse or toolResult was written: toolConfig is required */
    bool claude;         /* the model is Anthropic's (thinking through additional fields) */
    uint64_t budget;     /* Claude's thinking budget; 0: no thinking */
    uint64_t max_tokens; /* 0: not set (the model's default) */
    size_t mark;         /* where the output starts in the buffer */
    char name[MAX_DOC_NAME + 1];
};

#define pathf(t, ...) SL__XL_PATH(&(t)->x, __VA_ARGS__)

/* Consecutive chat messages that map to the same Converse role share one message: Converse
 * wants alternating roles, and every toolResult of an assistant's toolUse in the next user
 * message. */
static void turn_for(struct c2b *t, enum role r)
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

/* An OpenAI-style cache_control ({"type":"ephemeral","ttl"?}) marks the end of a cached prefix:
 * Converse says the same with a cachePoint block right after it. */
static int cache_point(struct c2b *t, const struct sl_json_member *cache, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("ttl")};
    struct sl_json_member f[2];
    int rc;
    if (cache == NULL || !sl__xl_has(cache))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, path, cache, keys, 2, f, NULL, NULL)) != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("cachePoint"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("default"));
    if (sl__xl_str_is(&f[1], "5m") || sl__xl_str_is(&f[1], "1h"))
        sl_jw_kraw(&t->w, "ttl", f[1].value);
    else if (sl__xl_has(&f[1]))
        return sl__xl_fail(&t->x, path, "ttl: expected \"5m\" or \"1h\"");
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int text_block(struct c2b *t, enum role r, const struct sl_json_member *text,
                      const struct sl_json_member *cache, const char *path)
{
    if (text->value.len == 2)
        return SL_OK; /* "": Bedrock refuses blank text blocks, and an empty one says nothing */
    turn_for(t, r);
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "text", text->value);
    sl_jw_obj_end(&t->w);
    return cache_point(t, cache, path);
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

/* Bedrock's ImageFormat for a media type, or NULL. */
static const char *image_format(struct sl_str mt)
{
    static const struct {
        const char *media, *format;
    } map[] = {{"image/png", "png"},
               {"image/jpeg", "jpeg"},
               {"image/jpg", "jpeg"},
               {"image/gif", "gif"},
               {"image/webp", "webp"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++)
        if (sl_str_ieq(mt, sl_str_from_cstr(map[i].media)))
            return map[i].format;
    return NULL;
}

/* Bedrock's DocumentFormat for a media type, or NULL. */
static const char *document_format(struct sl_str mt)
{
    static const struct {
        const char *media, *format;
    } map[] = {
        {"application/pdf", "pdf"},
        {"text/csv", "csv"},
        {"application/msword", "doc"},
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
        {"application/vnd.ms-excel", "xls"},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
        {"text/html", "html"},
        {"text/plain", "txt"},
        {"text/markdown", "md"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++)
        if (sl_str_ieq(mt, sl_str_from_cstr(map[i].media)))
            return map[i].format;
    return NULL;
}

static void bytes_source(struct c2b *t, struct sl_str data)
{
    sl_jw_key(&t->w, SL_STRLIT("source"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "bytes", data);
    sl_jw_obj_end(&t->w);
}

static int image_part(struct c2b *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("image_url"),
                                         SL_STR_INIT("cache_control")};
    static const struct sl_str iu_keys[] = {SL_STR_INIT("url"), SL_STR_INIT("detail")};
    struct sl_json_member f[3], u[2];
    struct sl_str url, media, data;
    int rc = sl__xl_read(&t->x, path, part, keys, 3, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[1].type == SL_JSON_OBJECT) {
        if ((rc = sl__xl_read(&t->x, path, &f[1], iu_keys, 2, u, NULL, NULL)) != SL_OK)
            return rc; /* "detail" has no Converse counterpart and is dropped */
    } else {
        u[0] = f[1];
    }
    if (u[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "image_url.url: expected a string");
    if (sl__xl_text(&t->x, &u[0], &url) != SL_OK)
        return SL_E2BIG;
    if (!parse_data_url(url, &media, &data))
        return sl__xl_fail(&t->x, path,
                           "image_url.url: Bedrock takes images as bytes: send a base64 data: "
                           "URL (http URLs are not fetched)");
    const char *format = image_format(media);
    if (format == NULL)
        return sl__xl_fail(&t->x, path,
                           "image media type \"%.*s\" is not supported by Bedrock (image/png, "
                           "image/jpeg, image/gif, image/webp)",
                           (int)SL_MIN(media.len, (size_t)64), media.ptr);
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("image"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "format", sl_str_from_cstr(format));
    bytes_source(t, data);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return cache_point(t, &f[2], path);
}

/* A document's name as Bedrock allows it: the filename's letters, digits, '-', '(', ')', '[',
 * ']' and single spaces, anything else a '-' (so "q3 report.pdf" is "q3 report-pdf"); the
 * documents' order when there is none. */
static struct sl_str doc_name(struct c2b *t, const struct sl_json_member *filename)
{
    struct sl_str in;
    size_t n = 0;
    if (filename->type == SL_JSON_STRING && sl__xl_text(&t->x, filename, &in) == SL_OK) {
        for (size_t i = 0; i < in.len && n < MAX_DOC_NAME; i++) {
            char c = in.ptr[i];
            bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '(' || c == ')' || c == '[' ||
                        c == ']';
            if (c == ' ' && n != 0 && t->name[n - 1] != ' ')
                t->name[n++] = ' ';
            else if (c != ' ')
                t->name[n++] = keep ? c : '-';
        }
        while (n > 0 && t->name[n - 1] == ' ')
            n--;
    }
    if (n == 0)
        n = (size_t)snprintf(t->name, sizeof(t->name), "document %zu", t->docs + 1);
    t->name[n] = '\0';
    return sl_str_init(t->name, n);
}

static int file_part(struct c2b *t, const struct sl_json_member *part, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("file"),
                                         SL_STR_INIT("cache_control")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("file_data"), SL_STR_INIT("filename"),
                                           SL_STR_INIT("file_id")};
    struct sl_json_member f[3], d[3];
    struct sl_str url, media, data;
    int rc = sl__xl_read(&t->x, path, part, keys, 3, f, NULL, NULL);
    if (rc != SL_OK || (rc = sl__xl_read(&t->x, path, &f[1], f_keys, 3, d, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_has(&d[2]))
        return sl__xl_fail(&t->x, path,
                           "file.file_id: OpenAI file ids mean nothing to Bedrock; send the "
                           "file as file_data");
    if (d[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "file.file_data: expected a string");
    if (sl__xl_text(&t->x, &d[0], &url) != SL_OK)
        return SL_E2BIG;
    if (!parse_data_url(url, &media, &data))
        return sl__xl_fail(&t->x, path,
                           "file.file_data: expected a base64 data: URL naming the document's "
                           "media type");
    const char *format = document_format(media);
    if (format == NULL)
        return sl__xl_fail(&t->x, path,
                           "file media type \"%.*s\" is not supported by Bedrock (pdf, csv, doc, "
                           "docx, xls, xlsx, html, txt, md)",
                           (int)SL_MIN(media.len, (size_t)64), media.ptr);
    turn_for(t, ROLE_USER);
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("document"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "format", sl_str_from_cstr(format));
    /* data is a slice of the scratch buffer doc_name reuses: write it first. */
    bytes_source(t, data);
    sl_jw_kstr(&t->w, "name", doc_name(t, &d[1]));
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    t->docs++;
    return cache_point(t, &f[2], path);
}

/* One content part of a user (or system-turned-user) message. */
static int user_part(struct c2b *t, const struct sl_json_member *part, const char *path,
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
        return text_block(t, ROLE_USER, &f[1],
                          sl__xl_has(&f[2]) ? &f[2]
                          : last            ? msg_cache
                                            : NULL,
                          path);
    }
    if (sl__xl_str_is(&f[0], "image_url"))
        return image_part(t, part, path);
    if (sl__xl_str_is(&f[0], "file"))
        return file_part(t, part, path);
    if (sl__xl_str_is(&f[0], "input_audio"))
        return sl__xl_fail(&t->x, path, "audio input is not translated to Bedrock");
    if (f[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "type: expected a string");
    return sl__xl_fail(&t->x, path, "unsupported content part type %.*s",
                       (int)SL_MIN(f[0].value.len, (size_t)64), f[0].value.ptr);
}

/* Text-only content (assistant and later system messages): a string or text parts. */
static int text_content(struct c2b *t, enum role r, const struct sl_json_member *content, size_t i,
                        const struct sl_json_member *msg_cache)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text"),
                                         SL_STR_INIT("cache_control"), SL_STR_INIT("refusal")};
    struct sl__xl_it it;
    struct sl_json_member part, f[4];
    size_t j = 0;
    int rc;
    if (content->type == SL_JSON_STRING)
        return text_block(t, r, content, msg_cache, pathf(t, "messages[%zu].cache_control", i));
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
            continue; /* an earlier refusal's text: no Converse block carries it */
        if (!sl__xl_str_is(&f[0], "text") || f[1].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "expected a text part");
        rc = text_block(t, r, &f[1],
                        sl__xl_has(&f[2])         ? &f[2]
                        : j + 1 == content->count ? msg_cache
                                                  : NULL,
                        path);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

static int user_content(struct c2b *t, const struct sl_json_member *content, size_t i,
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

/* A tool call's arguments become toolUse.input: the object the arguments string holds. */
static int tool_input(struct c2b *t, const struct sl_json_member *args, const char *path)
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

static int tool_call(struct c2b *t, const struct sl_json_member *call, size_t i, size_t j)
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
        return sl__xl_fail(&t->x, path, "only function tool calls can reach Bedrock models");
    if (f[0].type != SL_JSON_STRING || f[0].value.len == 2)
        return sl__xl_fail(&t->x, path, "id: expected a non-empty string");
    if ((rc = sl__xl_read(&t->x, path, &f[2], f_keys, 2, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "function.name: expected a string");
    turn_for(t, ROLE_ASSISTANT);
    t->tool_blocks = true;
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("toolUse"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "toolUseId", f[0].value);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    sl_jw_key(&t->w, SL_STRLIT("input"));
    path = pathf(t, "messages[%zu].tool_calls[%zu].function.arguments", i, j);
    if ((rc = tool_input(t, &fn[1], path)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tool_calls(struct c2b *t, const struct sl_json_member *calls, size_t i)
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

/* A tool message: a toolResult in the user message after the call. Its content is always
 * present: Converse requires it, and takes an empty text (not an empty list) for an empty
 * result. */
static int tool_result(struct c2b *t, const struct sl_json_member *id,
                       const struct sl_json_member *content, size_t i)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("text")};
    struct sl__xl_it it;
    struct sl_json_member part, f[2];
    size_t j = 0, n = 0;
    int rc;
    if (id->type != SL_JSON_STRING || id->value.len == 2)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].tool_call_id", i),
                           "expected a non-empty string");
    if (sl__xl_has(content) && content->type != SL_JSON_STRING && content->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                           "expected a string or an array of parts");
    turn_for(t, ROLE_USER);
    t->tool_blocks = true;
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("toolResult"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "toolUseId", id->value);
    sl_jw_key(&t->w, SL_STRLIT("content"));
    sl_jw_arr(&t->w);
    if (content->type == SL_JSON_STRING && content->value.len > 2) {
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "text", content->value);
        sl_jw_obj_end(&t->w);
        n++;
    } else if (content->type == SL_JSON_ARRAY) {
        sl__xl_iter(&it, content);
        for (; sl__xl_next(&it, NULL, &part) == 1; j++) {
            const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
            if ((rc = sl__xl_read(&t->x, path, &part, keys, 2, f, NULL, NULL)) != SL_OK)
                return rc;
            if (!sl__xl_str_is(&f[0], "text") || f[1].type != SL_JSON_STRING)
                return sl__xl_fail(&t->x, path, "expected a text part");
            sl_jw_obj(&t->w);
            sl_jw_kraw(&t->w, "text", f[1].value);
            sl_jw_obj_end(&t->w);
            n++;
        }
    }
    if (n == 0)
        sl_jw_raw(&t->w, SL_STRLIT("{\"text\":\"\"}"));
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
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

/* name, reasoning_content and other members of a message are dropped (see the docs). */
static int read_message(struct c2b *t, const struct sl_json_member *msg, size_t i,
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
static int message(struct c2b *t, const struct sl_json_member *f, size_t i)
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
        /* reasoning_content of earlier turns is dropped: Claude takes reasoning back only with
           the signature it made, which an OpenAI-shaped history lacks. */
        if ((rc = text_content(t, ROLE_ASSISTANT, &f[M_CONTENT], i, cache)) != SL_OK)
            return rc;
        return tool_calls(t, &f[M_TOOL_CALLS], i);
    }
    if (sl__xl_str_is(&f[M_ROLE], "tool"))
        return tool_result(t, &f[M_TOOL_CALL_ID], &f[M_CONTENT], i);
    return sl__xl_fail(&t->x, pathf(t, "messages[%zu].role", i), "unsupported role %.*s",
                       (int)SL_MIN(f[M_ROLE].value.len, (size_t)64), f[M_ROLE].value.ptr);
}

/* The leading system and developer messages: their number. */
static int count_system(struct c2b *t, const struct sl_json_member *msgs, size_t *n)
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

/* "system": one text block per string or text part of the leading system messages, each
 * followed by its cachePoint when it asked for one. */
static int system_blocks(struct c2b *t, const struct sl_json_member *msgs, size_t n)
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

static int messages(struct c2b *t)
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
    t->open = ROLE_NONE;
    sl_jw_arr_end(&t->w);
    if (t->turns == 0)
        return sl__xl_fail(&t->x, "messages",
                           "no message with content besides system messages (Bedrock models "
                           "need at least one)");
    return nsys == 0 ? SL_OK : system_blocks(t, msgs, nsys);
}

/* Fields that have no Converse counterpart: a value that asks for nothing is dropped; one that
 * asks for something Bedrock cannot do is refused, since dropping it would silently change the
 * answer. */
static int refuse_unmappable(struct c2b *t)
{
    const struct sl_json_member *m = t->m;
    uint64_t u;
    double d;
    if (sl__xl_has(&m[K_N]) && (sl__xl_uint(&m[K_N], &u) != SL_OK || u != 1))
        return sl__xl_fail(&t->x, "n", "Bedrock models return one choice; only n=1 can be served");
    static const int zero_numbers[] = {K_FREQUENCY_PENALTY, K_PRESENCE_PENALTY, K_TOP_LOGPROBS};
    for (size_t i = 0; i < SL_ARRAY_LEN(zero_numbers); i++) {
        const struct sl_json_member *v = &m[zero_numbers[i]];
        if (sl__xl_has(v) && (sl__xl_number(v, &d) != SL_OK || d != 0))
            return sl__xl_fail(&t->x, top_keys[zero_numbers[i]].ptr,
                               "not translated to Bedrock Converse (only 0 can be served)");
    }
    if (sl__xl_has(&m[K_LOGPROBS]) && m[K_LOGPROBS].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "logprobs", "Bedrock Converse returns no log probabilities");
    if (sl__xl_has(&m[K_LOGIT_BIAS]) &&
        (m[K_LOGIT_BIAS].type != SL_JSON_OBJECT || m[K_LOGIT_BIAS].count != 0))
        return sl__xl_fail(&t->x, "logit_bias", "not translated to Bedrock Converse");
    if (sl__xl_has(&m[K_AUDIO]))
        return sl__xl_fail(&t->x, "audio", "Bedrock Converse does not produce audio");
    if (sl__xl_has(&m[K_WEB_SEARCH_OPTIONS]))
        return sl__xl_fail(&t->x, "web_search_options", "not translated to Bedrock Converse");
    if (sl__xl_has(&m[K_FUNCTIONS]) || sl__xl_has(&m[K_FUNCTION_CALL]))
        return sl__xl_fail(&t->x, sl__xl_has(&m[K_FUNCTIONS]) ? "functions" : "function_call",
                           "the deprecated functions API is not translated; use tools");
    if (sl__xl_has(&m[K_VERBOSITY]) && !sl__xl_str_is(&m[K_VERBOSITY], "medium"))
        return sl__xl_fail(&t->x, "verbosity",
                           "Bedrock Converse has no verbosity setting (only \"medium\", the "
                           "default, can be served)");
    if (sl__xl_has(&m[K_MODALITIES])) {
        struct sl__xl_it it;
        struct sl_json_member v;
        if (m[K_MODALITIES].type != SL_JSON_ARRAY)
            return sl__xl_fail(&t->x, "modalities", "expected an array");
        sl__xl_iter(&it, &m[K_MODALITIES]);
        while (sl__xl_next(&it, NULL, &v) == 1)
            if (!sl__xl_str_is(&v, "text"))
                return sl__xl_fail(&t->x, "modalities", "Bedrock Converse produces text only");
    }
    if (sl__xl_has(&m[K_PARALLEL_TOOL_CALLS]) && m[K_PARALLEL_TOOL_CALLS].type != SL_JSON_TRUE &&
        m[K_PARALLEL_TOOL_CALLS].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "parallel_tool_calls", "expected a boolean");
    return SL_OK;
}

/* reasoning_effort -> Claude's thinking budget, as for Anthropic upstreams (docs: the same
 * levels both ways). Other Bedrock models have no common reasoning field: refused. */
static int thinking_budget(struct c2b *t)
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
    for (size_t i = 0; i < SL_ARRAY_LEN(levels); i++) {
        if (!sl__xl_str_is(v, levels[i].effort))
            continue;
        if (!t->claude && levels[i].budget != 0)
            return sl__xl_fail(&t->x, "reasoning_effort",
                               "translated for Claude models on Bedrock only; send this model's "
                               "own reasoning field (it goes to additionalModelRequestFields)");
        t->budget = levels[i].budget;
        return SL_OK;
    }
    return sl__xl_fail(&t->x, "reasoning_effort",
                       "expected none, minimal, low, medium, high or xhigh");
}

static int max_tokens(struct c2b *t)
{
    const struct sl_json_member *v = &t->m[K_MAX_COMPLETION_TOKENS];
    const char *name = "max_completion_tokens";
    if (!sl__xl_has(v)) {
        v = &t->m[K_MAX_TOKENS];
        name = "max_tokens";
    }
    t->max_tokens = 0;
    if (!sl__xl_has(v)) {
        /* Without a limit Converse uses the model's maximum; with thinking, Claude needs one
           above the budget: leave the answer 4096 tokens besides the thinking. */
        if (t->budget != 0)
            t->max_tokens = DEFAULT_MAX_TOKENS + t->budget;
        return SL_OK;
    }
    if (sl__xl_uint(v, &t->max_tokens) != SL_OK || t->max_tokens == 0 || t->max_tokens > INT32_MAX)
        return sl__xl_fail(&t->x, name, "expected a positive integer");
    if (t->budget == 0)
        return SL_OK;
    /* OpenAI counts reasoning tokens inside the limit, as Claude counts thinking inside
       max_tokens; the budget must stay below it. */
    if (t->budget >= t->max_tokens)
        t->budget = t->max_tokens - 1;
    if (t->budget < MIN_THINKING_BUDGET)
        return sl__xl_fail(&t->x, name,
                           "%llu leaves no room for Claude's extended thinking (from "
                           "reasoning_effort), whose smallest budget is %d tokens",
                           (unsigned long long)t->max_tokens, MIN_THINKING_BUDGET);
    return SL_OK;
}

/* stop as a list of its non-empty strings (Converse refuses an empty stop sequence, and ""
 * stops nothing); *n is how many there are. */
static int check_stop(struct c2b *t, size_t *n)
{
    const struct sl_json_member *v = &t->m[K_STOP];
    struct sl__xl_it it;
    struct sl_json_member s;
    *n = 0;
    if (!sl__xl_has(v))
        return SL_OK;
    if (v->type == SL_JSON_STRING) {
        *n = v->value.len > 2;
        return SL_OK;
    }
    if (v->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "stop", "expected a string or an array of strings");
    sl__xl_iter(&it, v);
    while (sl__xl_next(&it, NULL, &s) == 1) {
        if (s.type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "stop", "expected a string or an array of strings");
        *n += s.value.len > 2;
    }
    return SL_OK;
}

static void stop_sequences(struct c2b *t)
{
    const struct sl_json_member *v = &t->m[K_STOP];
    struct sl__xl_it it;
    struct sl_json_member s;
    sl_jw_key(&t->w, SL_STRLIT("stopSequences"));
    sl_jw_arr(&t->w);
    if (v->type == SL_JSON_STRING) {
        sl_jw_raw(&t->w, v->value);
    } else {
        sl__xl_iter(&it, v);
        while (sl__xl_next(&it, NULL, &s) == 1)
            if (s.value.len > 2)
                sl_jw_raw(&t->w, s.value);
    }
    sl_jw_arr_end(&t->w);
}

/* "inferenceConfig": maxTokens, temperature and topP (both 0 to 1 on Converse), stopSequences;
 * left out when empty. */
static int inference_config(struct c2b *t)
{
    static const int keys[] = {K_TEMPERATURE, K_TOP_P};
    static const char *const out_names[] = {"temperature", "topP"};
    size_t stops;
    double d;
    int rc;
    bool any = t->max_tokens != 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
        const struct sl_json_member *v = &t->m[keys[i]];
        const char *name = top_keys[keys[i]].ptr;
        if (!sl__xl_has(v))
            continue;
        if (sl__xl_number(v, &d) != SL_OK || d < 0 || d > 1)
            return sl__xl_fail(&t->x, name, "Bedrock Converse accepts a number from 0 to 1");
        if (t->budget != 0)
            return sl__xl_fail(&t->x, name,
                               "Claude's extended thinking (from reasoning_effort) cannot be "
                               "combined with %s",
                               name);
        any = true;
    }
    if ((rc = check_stop(t, &stops)) != SL_OK)
        return rc;
    if (!any && stops == 0)
        return SL_OK;
    sl_jw_key(&t->w, SL_STRLIT("inferenceConfig"));
    sl_jw_obj(&t->w);
    if (t->max_tokens != 0)
        sl_jw_kint(&t->w, "maxTokens", (int64_t)t->max_tokens);
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++)
        if (sl__xl_has(&t->m[keys[i]]))
            sl_jw_kraw(&t->w, out_names[i], t->m[keys[i]].value);
    if (stops != 0)
        stop_sequences(t);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tool(struct c2b *t, const struct sl_json_member *tl, size_t j)
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
        return sl__xl_fail(&t->x, path, "only function tools can reach Bedrock models");
    if ((rc = sl__xl_read(&t->x, path, &f[1], f_keys, 4, fn, NULL, NULL)) != SL_OK)
        return rc;
    if (fn[0].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "function.name: expected a string");
    if (sl__xl_has(&fn[2]) && fn[2].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, path, "function.parameters: expected an object");
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("toolSpec"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    /* Converse refuses an empty description: a blank one says nothing anyway. */
    if (fn[1].type == SL_JSON_STRING && fn[1].value.len > 2)
        sl_jw_kraw(&t->w, "description", fn[1].value);
    sl_jw_key(&t->w, SL_STRLIT("inputSchema"));
    sl_jw_obj(&t->w);
    /* A function without parameters takes none: Converse needs the schema spelt out. */
    sl_jw_kraw(&t->w, "json",
               sl__xl_has(&fn[2]) ? fn[2].value
                                  : SL_STRLIT("{\"type\":\"object\",\"properties\":{}}"));
    sl_jw_obj_end(&t->w);
    if (fn[3].type == SL_JSON_TRUE || fn[3].type == SL_JSON_FALSE)
        sl_jw_kraw(&t->w, "strict", fn[3].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return cache_point(t, &f[2], path);
}

/* "toolChoice": auto, any (required) or tool (a function); "none" was settled by tool_config. */
static int tool_choice(struct c2b *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("function")};
    static const struct sl_str f_keys[] = {SL_STR_INIT("name")};
    const struct sl_json_member *v = &t->m[K_TOOL_CHOICE];
    struct sl_json_member f[2], fn[1];
    int rc;
    if (!sl__xl_has(v) || sl__xl_str_is(v, "auto"))
        return SL_OK;
    if (sl__xl_str_is(v, "required")) {
        if (t->budget != 0)
            return sl__xl_fail(&t->x, "tool_choice",
                               "Claude's extended thinking (from reasoning_effort) cannot force a "
                               "tool call");
        sl_jw_kraw(&t->w, "toolChoice", SL_STRLIT("{\"any\":{}}"));
        return SL_OK;
    }
    if (v->type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, "tool_choice", "expected auto, none, required or a function");
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
    if (t->budget != 0)
        return sl__xl_fail(&t->x, "tool_choice",
                           "Claude's extended thinking (from reasoning_effort) cannot force a "
                           "tool call");
    sl_jw_key(&t->w, SL_STRLIT("toolChoice"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("tool"));
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "name", fn[0].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int tool_config(struct c2b *t)
{
    const struct sl_json_member *v = &t->m[K_TOOLS];
    struct sl__xl_it it;
    struct sl_json_member tl;
    size_t j = 0;
    int rc;
    if (sl__xl_has(v) && v->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "tools", "expected an array");
    if (sl__xl_str_is(&t->m[K_TOOL_CHOICE], "none")) {
        /* No tools offered means none called; but a conversation that already holds tool calls
           must declare its tools (Converse refuses it otherwise), and has no "none" choice. */
        if (t->tool_blocks)
            return sl__xl_fail(&t->x, "tool_choice",
                               "\"none\" cannot be translated to Bedrock Converse when the "
                               "conversation holds tool calls (Converse has no such choice)");
        return SL_OK;
    }
    if (!sl__xl_has(v) || v->count == 0) {
        if (t->tool_blocks)
            return sl__xl_fail(&t->x, "tools",
                               "required by Bedrock Converse when the conversation holds tool "
                               "calls or tool results: send the tools they used");
        return SL_OK;
    }
    sl_jw_key(&t->w, SL_STRLIT("toolConfig"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("tools"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, v);
    for (; sl__xl_next(&it, NULL, &tl) == 1; j++)
        if ((rc = tool(t, &tl, j)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    if ((rc = tool_choice(t)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* response_format json_schema -> outputConfig.textFormat (Converse's structured output, whose
 * schema is a JSON document in a string). */
static int response_format(struct c2b *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("json_schema")};
    static const struct sl_str js_keys[] = {SL_STR_INIT("schema"), SL_STR_INIT("name"),
                                            SL_STR_INIT("description"), SL_STR_INIT("strict")};
    const struct sl_json_member *v = &t->m[K_RESPONSE_FORMAT];
    struct sl_json_member f[2], js[4];
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "response_format", v, keys, 2, f, NULL, NULL)) != SL_OK)
        return rc;
    if (sl__xl_str_is(&f[0], "text"))
        return SL_OK;
    if (!sl__xl_str_is(&f[0], "json_schema"))
        return sl__xl_fail(&t->x, "response_format",
                           "only text and json_schema can be served by Bedrock Converse "
                           "(json_object has no schema to constrain the output with)");
    if ((rc = sl__xl_read(&t->x, "response_format.json_schema", &f[1], js_keys, 4, js, NULL,
                          NULL)) != SL_OK)
        return rc;
    if (js[0].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, "response_format.json_schema.schema", "expected an object");
    sl_jw_key(&t->w, SL_STRLIT("outputConfig"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("textFormat"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("json_schema"));
    sl_jw_key(&t->w, SL_STRLIT("structure"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("jsonSchema"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "schema", js[0].value); /* the schema's JSON text, as a string */
    if (js[1].type == SL_JSON_STRING && js[1].value.len > 2)
        sl_jw_kraw(&t->w, "name", js[1].value);
    if (js[2].type == SL_JSON_STRING && js[2].value.len > 2)
        sl_jw_kraw(&t->w, "description", js[2].value);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* The members of an additionalModelRequestFields object the caller sent itself (one who knows
 * Bedrock): merged with the unknown fields, which go to the same place. */
static int collect_additional(struct c2b *t, struct sl__xl_others *o)
{
    const struct sl_json_member *v = &t->m[K_ADDITIONAL];
    struct sl__xl_it it;
    struct sl_json_key key;
    struct sl_json_member val;
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if (v->type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, "additionalModelRequestFields", "expected an object");
    sl__xl_iter(&it, v);
    while (sl__xl_next(&it, &key, &val) == 1)
        if ((rc = sl__xl_collect_other(o, key, &val)) != SL_OK)
            return rc;
    return SL_OK;
}

/* "additionalModelRequestFields": Claude's thinking, then every field the translation does not
 * know (forwarded to the model, as the reference gateway forwards them). */
static int additional_fields(struct c2b *t, struct sl__xl_others *o)
{
    int rc;
    if (t->budget == 0 && o->n == 0)
        return SL_OK;
    sl_jw_key(&t->w, SL_STRLIT("additionalModelRequestFields"));
    size_t mark = t->w.out->len;
    sl_jw_obj(&t->w);
    if (t->budget != 0) {
        sl_jw_key(&t->w, SL_STRLIT("thinking"));
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("enabled"));
        sl_jw_kint(&t->w, "budget_tokens", (int64_t)t->budget);
        sl_jw_obj_end(&t->w);
    }
    /* mark is where the object's '{' went: duplicates are looked for inside it. */
    if ((rc = sl__xl_write_others(&t->x, &t->w, mark, o)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int translate(struct c2b *t, struct sl__xl_others *o)
{
    int rc;
    if ((rc = refuse_unmappable(t)) != SL_OK || (rc = thinking_budget(t)) != SL_OK ||
        (rc = max_tokens(t)) != SL_OK || (rc = collect_additional(t, o)) != SL_OK)
        return rc;
    if (sl__xl_has(&t->m[K_STREAM]) && t->m[K_STREAM].type != SL_JSON_TRUE &&
        t->m[K_STREAM].type != SL_JSON_FALSE)
        return sl__xl_fail(&t->x, "stream", "expected a boolean");
    sl_jw_obj(&t->w);
    if ((rc = messages(t)) != SL_OK || (rc = inference_config(t)) != SL_OK ||
        (rc = tool_config(t)) != SL_OK || (rc = response_format(t)) != SL_OK ||
        (rc = additional_fields(t, o)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_chat_to_converse_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                       struct sl_buf *out, char *why, size_t whylen)
{
    /* Heap, not stack: the key set is large, and calloc would clear it for nothing. */
    struct c2b *t = sl_xmalloc(sizeof(*t));
    struct sl__xl_others *o = sl_xmalloc(sizeof(*o));
    size_t mark = out->len;
    int rc;
    t->c = c;
    t->open = ROLE_NONE;
    t->turns = t->docs = 0;
    t->tool_blocks = false;
    t->claude = sl_bedrock_is_claude(c->upstream_model);
    t->budget = t->max_tokens = 0;
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
