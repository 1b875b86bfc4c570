/* Request: Anthropic Messages -> OpenAI chat completions (a Claude SDK or Claude Code caller
 * reaching an OpenAI-compatible model). Decisions in docs/translation.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "xlate_internal.h"

enum {
    K_MODEL,
    K_MESSAGES,
    K_MAX_TOKENS,
    K_SYSTEM,
    K_TOOLS,
    K_TOOL_CHOICE,
    K_THINKING,
    K_STOP_SEQUENCES,
    K_STREAM,
    K_METADATA,
    K_TEMPERATURE,
    K_TOP_P,
    K_OUTPUT_CONFIG,
    K_OUTPUT_FORMAT,
    K_CONTAINER,
    K_CONTEXT_MANAGEMENT,
    K_MCP_SERVERS,
    /* Read and dropped (docs/translation.md says why). */
    K_TOP_K,
    K_SERVICE_TIER,
    K_CACHE_CONTROL,
    K_SPEED,
    K_INFERENCE_GEO,
    K_DIAGNOSTICS,
    K_COUNT,
};

static const struct sl_str top_keys[K_COUNT] = {
    [K_MODEL] = SL_STR_INIT("model"),
    [K_MESSAGES] = SL_STR_INIT("messages"),
    [K_MAX_TOKENS] = SL_STR_INIT("max_tokens"),
    [K_SYSTEM] = SL_STR_INIT("system"),
    [K_TOOLS] = SL_STR_INIT("tools"),
    [K_TOOL_CHOICE] = SL_STR_INIT("tool_choice"),
    [K_THINKING] = SL_STR_INIT("thinking"),
    [K_STOP_SEQUENCES] = SL_STR_INIT("stop_sequences"),
    [K_STREAM] = SL_STR_INIT("stream"),
    [K_METADATA] = SL_STR_INIT("metadata"),
    [K_TEMPERATURE] = SL_STR_INIT("temperature"),
    [K_TOP_P] = SL_STR_INIT("top_p"),
    [K_OUTPUT_CONFIG] = SL_STR_INIT("output_config"),
    [K_OUTPUT_FORMAT] = SL_STR_INIT("output_format"),
    [K_CONTAINER] = SL_STR_INIT("container"),
    [K_CONTEXT_MANAGEMENT] = SL_STR_INIT("context_management"),
    [K_MCP_SERVERS] = SL_STR_INIT("mcp_servers"),
    [K_TOP_K] = SL_STR_INIT("top_k"),
    [K_SERVICE_TIER] = SL_STR_INIT("service_tier"),
    [K_CACHE_CONTROL] = SL_STR_INIT("cache_control"),
    [K_SPEED] = SL_STR_INIT("speed"),
    [K_INFERENCE_GEO] = SL_STR_INIT("inference_geo"),
    [K_DIAGNOSTICS] = SL_STR_INIT("diagnostics"),
};

struct a2c {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    size_t mark; /* where the output starts in the buffer */
};

#define pathf(t, ...) SL__XL_PATH(&(t)->x, __VA_ARGS__)

/* Block members any block kind may have; one read serves every kind. */
enum {
    B_TYPE,
    B_TEXT,
    B_SOURCE,
    B_TITLE,
    B_ID,
    B_NAME,
    B_INPUT,
    B_TOOL_USE_ID,
    B_CONTENT,
    B_IS_ERROR,
    B_N
};
static const struct sl_str block_keys[B_N] = {
    [B_TYPE] = SL_STR_INIT("type"),       [B_TEXT] = SL_STR_INIT("text"),
    [B_SOURCE] = SL_STR_INIT("source"),   [B_TITLE] = SL_STR_INIT("title"),
    [B_ID] = SL_STR_INIT("id"),           [B_NAME] = SL_STR_INIT("name"),
    [B_INPUT] = SL_STR_INIT("input"),     [B_TOOL_USE_ID] = SL_STR_INIT("tool_use_id"),
    [B_CONTENT] = SL_STR_INIT("content"), [B_IS_ERROR] = SL_STR_INIT("is_error"),
};

static int read_block(struct a2c *t, const struct sl_json_member *v, const char *path,
                      struct sl_json_member *b)
{
    int rc = sl__xl_read(&t->x, path, v, block_keys, B_N, b, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (b[B_TYPE].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, path, "type: expected a string");
    return SL_OK;
}

static int unsupported(struct a2c *t, const char *path, const struct sl_json_member *type)
{
    return sl__xl_fail(&t->x, path, "unsupported block type %.*s for an OpenAI-compatible model",
                       (int)SL_MIN(type->value.len, (size_t)64), type->value.ptr);
}

enum { S_TYPE, S_MEDIA_TYPE, S_DATA, S_URL, S_N };
static const struct sl_str source_keys[S_N] = {
    [S_TYPE] = SL_STR_INIT("type"),
    [S_MEDIA_TYPE] = SL_STR_INIT("media_type"),
    [S_DATA] = SL_STR_INIT("data"),
    [S_URL] = SL_STR_INIT("url"),
};

/* "data:<media type>;base64,<data>" from a base64 source, without decoding either part. */
static void data_url(struct a2c *t, const struct sl_json_member *s)
{
    sl_jw_str_begin(&t->w);
    sl_jw_str_piece(&t->w, SL_STRLIT("data:"));
    sl_jw_str_raw(&t->w, sl__xl_inner(&s[S_MEDIA_TYPE]));
    sl_jw_str_piece(&t->w, SL_STRLIT(";base64,"));
    sl_jw_str_raw(&t->w, sl__xl_inner(&s[S_DATA]));
    sl_jw_str_end(&t->w);
}

static int read_source(struct a2c *t, const struct sl_json_member *b, const char *path,
                       struct sl_json_member *s)
{
    int rc = sl__xl_read(&t->x, path, &b[B_SOURCE], source_keys, S_N, s, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_str_is(&s[S_TYPE], "base64") &&
        (s[S_MEDIA_TYPE].type != SL_JSON_STRING || s[S_DATA].type != SL_JSON_STRING))
        return sl__xl_fail(&t->x, path, "source: base64 needs media_type and data strings");
    return SL_OK;
}

static int image_part(struct a2c *t, const struct sl_json_member *b, const char *path)
{
    struct sl_json_member s[S_N];
    int rc = read_source(t, b, path, s);
    if (rc != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("image_url"));
    sl_jw_key(&t->w, SL_STRLIT("image_url"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("url"));
    if (sl__xl_str_is(&s[S_TYPE], "base64"))
        data_url(t, s);
    else if (sl__xl_str_is(&s[S_TYPE], "url") && s[S_URL].type == SL_JSON_STRING)
        sl_jw_raw(&t->w, s[S_URL].value);
    else
        return sl__xl_fail(&t->x, path,
                           "image source: only base64 and url can reach an "
                           "OpenAI-compatible model");
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int document_part(struct a2c *t, const struct sl_json_member *b, const char *path)
{
    struct sl_json_member s[S_N];
    int rc = read_source(t, b, path, s);
    if (rc != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    if (sl__xl_str_is(&s[S_TYPE], "text") && s[S_DATA].type == SL_JSON_STRING) {
        /* A plain-text document is text the model reads. */
        sl_jw_kstr(&t->w, "type", SL_STRLIT("text"));
        sl_jw_kraw(&t->w, "text", s[S_DATA].value);
    } else if (sl__xl_str_is(&s[S_TYPE], "base64") &&
               sl__xl_str_is(&s[S_MEDIA_TYPE], "application/pdf")) {
        sl_jw_kstr(&t->w, "type", SL_STRLIT("file"));
        sl_jw_key(&t->w, SL_STRLIT("file"));
        sl_jw_obj(&t->w);
        if (b[B_TITLE].type == SL_JSON_STRING && b[B_TITLE].value.len > 2)
            sl_jw_kraw(&t->w, "filename", b[B_TITLE].value);
        else
            sl_jw_kstr(&t->w, "filename", SL_STRLIT("document.pdf"));
        sl_jw_key(&t->w, SL_STRLIT("file_data"));
        data_url(t, s);
        sl_jw_obj_end(&t->w);
    } else {
        return sl__xl_fail(&t->x, path,
                           "document source: only base64 PDF and text can reach an "
                           "OpenAI-compatible model");
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

/* The text of a tool_result's content: a string, or its text blocks joined. */
static int tool_text(struct a2c *t, const struct sl_json_member *content, const char *prefix,
                     size_t i, size_t j)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t k = 0;
    int rc;
    sl_jw_str_begin(&t->w);
    sl_jw_str_piece(&t->w, sl_str_from_cstr(prefix));
    if (content->type == SL_JSON_STRING) {
        sl_jw_str_raw(&t->w, sl__xl_inner(content));
    } else if (content->type == SL_JSON_ARRAY) {
        sl__xl_iter(&it, content);
        for (; sl__xl_next(&it, NULL, &v) == 1; k++) {
            const char *path = pathf(t, "messages[%zu].content[%zu].content[%zu]", i, j, k);
            if ((rc = read_block(t, &v, path, b)) != SL_OK)
                return rc;
            if (!sl__xl_str_is(&b[B_TYPE], "text") || b[B_TEXT].type != SL_JSON_STRING)
                return sl__xl_fail(&t->x, path,
                                   "only text can be a tool result for an "
                                   "OpenAI-compatible model");
            if (k != 0)
                sl_jw_str_raw(&t->w, SL_STRLIT("\\n"));
            sl_jw_str_raw(&t->w, sl__xl_inner(&b[B_TEXT]));
        }
    } else if (sl__xl_has(content)) {
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content[%zu].content", i, j),
                           "expected a string or an array of blocks");
    }
    sl_jw_str_end(&t->w);
    return SL_OK;
}

/* tool_result blocks become tool messages, placed before the rest of their user turn. */
static int tool_messages(struct a2c *t, const struct sl_json_member *content, size_t i,
                         size_t *rest)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t j = 0;
    int rc;
    *rest = 0;
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &v) == 1; j++) {
        const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
        if ((rc = read_block(t, &v, path, b)) != SL_OK)
            return rc;
        if (!sl__xl_str_is(&b[B_TYPE], "tool_result")) {
            (*rest)++;
            continue;
        }
        if (b[B_TOOL_USE_ID].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "tool_use_id: expected a string");
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "role", SL_STRLIT("tool"));
        sl_jw_kraw(&t->w, "tool_call_id", b[B_TOOL_USE_ID].value);
        sl_jw_key(&t->w, SL_STRLIT("content"));
        /* OpenAI has no error flag on tool messages; the model still needs to know. */
        if ((rc = tool_text(t, &b[B_CONTENT], b[B_IS_ERROR].type == SL_JSON_TRUE ? "Error: " : "",
                            i, j)) != SL_OK)
            return rc;
        sl_jw_obj_end(&t->w);
    }
    return SL_OK;
}

static int user_parts(struct a2c *t, const struct sl_json_member *content, size_t i)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t j = 0;
    int rc;
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("user"));
    sl_jw_key(&t->w, SL_STRLIT("content"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &v) == 1; j++) {
        const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
        if ((rc = read_block(t, &v, path, b)) != SL_OK)
            return rc;
        if (sl__xl_str_is(&b[B_TYPE], "tool_result"))
            continue;
        if (sl__xl_str_is(&b[B_TYPE], "text")) {
            if (b[B_TEXT].type != SL_JSON_STRING)
                return sl__xl_fail(&t->x, path, "text: expected a string");
            sl_jw_obj(&t->w);
            sl_jw_kstr(&t->w, "type", SL_STRLIT("text"));
            sl_jw_kraw(&t->w, "text", b[B_TEXT].value);
            sl_jw_obj_end(&t->w);
        } else if (sl__xl_str_is(&b[B_TYPE], "image")) {
            rc = image_part(t, b, path);
        } else if (sl__xl_str_is(&b[B_TYPE], "document")) {
            rc = document_part(t, b, path);
        } else {
            return unsupported(t, path, &b[B_TYPE]);
        }
        if (rc != SL_OK)
            return rc;
    }
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int user_message(struct a2c *t, const struct sl_json_member *content, size_t i)
{
    size_t rest;
    int rc;
    if (content->type == SL_JSON_STRING) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "role", SL_STRLIT("user"));
        sl_jw_kraw(&t->w, "content", content->value);
        sl_jw_obj_end(&t->w);
        return SL_OK;
    }
    if (content->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                           "expected a string or an array of blocks");
    if ((rc = tool_messages(t, content, i, &rest)) != SL_OK)
        return rc;
    return rest != 0 ? user_parts(t, content, i) : SL_OK;
}

static int assistant_tool_calls(struct a2c *t, const struct sl_json_member *content, size_t i)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t j = 0, n = 0;
    int rc;
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &v) == 1; j++) {
        const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
        if ((rc = read_block(t, &v, path, b)) != SL_OK)
            return rc;
        if (!sl__xl_str_is(&b[B_TYPE], "tool_use"))
            continue;
        if (b[B_ID].type != SL_JSON_STRING || b[B_NAME].type != SL_JSON_STRING ||
            b[B_INPUT].type != SL_JSON_OBJECT)
            return sl__xl_fail(&t->x, path, "tool_use: expected id, name and an input object");
        if (n == SL_XLATE_MAX_TOOL_CALLS)
            return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                               "more than %d tool_use blocks", SL_XLATE_MAX_TOOL_CALLS);
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
        sl_jw_kstr(&t->w, "arguments", b[B_INPUT].value);
        sl_jw_obj_end(&t->w);
        sl_jw_obj_end(&t->w);
    }
    if (n != 0)
        sl_jw_arr_end(&t->w);
    return SL_OK;
}

/* Text blocks joined into content; tool_use blocks into tool_calls; thinking and
 * redacted_thinking dropped (an OpenAI-compatible model cannot take them back). */
static int assistant_message(struct a2c *t, const struct sl_json_member *content, size_t i)
{
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t j = 0, texts = 0, tools = 0;
    int rc;
    if (content->type == SL_JSON_STRING) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
        sl_jw_kraw(&t->w, "content", content->value);
        sl_jw_obj_end(&t->w);
        return SL_OK;
    }
    if (content->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, pathf(t, "messages[%zu].content", i),
                           "expected a string or an array of blocks");
    sl__xl_iter(&it, content);
    for (; sl__xl_next(&it, NULL, &v) == 1; j++) {
        const char *path = pathf(t, "messages[%zu].content[%zu]", i, j);
        if ((rc = read_block(t, &v, path, b)) != SL_OK)
            return rc;
        if (sl__xl_str_is(&b[B_TYPE], "text") && b[B_TEXT].type == SL_JSON_STRING)
            texts++;
        else if (sl__xl_str_is(&b[B_TYPE], "tool_use"))
            tools++;
        else if (!sl__xl_str_is(&b[B_TYPE], "thinking") &&
                 !sl__xl_str_is(&b[B_TYPE], "redacted_thinking"))
            return unsupported(t, path, &b[B_TYPE]);
    }
    if (texts == 0 && tools == 0)
        return SL_OK; /* only thinking: nothing an OpenAI-compatible model can read */
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("assistant"));
    sl_jw_key(&t->w, SL_STRLIT("content"));
    if (texts == 0) {
        sl_jw_null(&t->w);
    } else {
        sl_jw_str_begin(&t->w);
        sl__xl_iter(&it, content);
        while (sl__xl_next(&it, NULL, &v) == 1) {
            if (read_block(t, &v, "", b) != SL_OK)
                return SL_EPARSE;
            if (sl__xl_str_is(&b[B_TYPE], "text"))
                sl_jw_str_raw(&t->w, sl__xl_inner(&b[B_TEXT]));
        }
        sl_jw_str_end(&t->w);
    }
    if (tools != 0 && (rc = assistant_tool_calls(t, content, i)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int system_message(struct a2c *t)
{
    const struct sl_json_member *sys = &t->m[K_SYSTEM];
    struct sl__xl_it it;
    struct sl_json_member v, b[B_N];
    size_t j = 0;
    int rc;
    if (!sl__xl_has(sys) || (sys->type == SL_JSON_STRING && sys->value.len == 2) ||
        (sys->type == SL_JSON_ARRAY && sys->count == 0))
        return SL_OK;
    if (sys->type != SL_JSON_STRING && sys->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "system", "expected a string or an array of text blocks");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "role", SL_STRLIT("system"));
    if (sys->type == SL_JSON_STRING) {
        sl_jw_kraw(&t->w, "content", sys->value);
        sl_jw_obj_end(&t->w);
        return SL_OK;
    }
    /* Blocks joined with blank lines, as leading system messages are joined the other way;
       cache_control is dropped (OpenAI caches prompt prefixes on its own). */
    sl_jw_key(&t->w, SL_STRLIT("content"));
    sl_jw_str_begin(&t->w);
    sl__xl_iter(&it, sys);
    for (; sl__xl_next(&it, NULL, &v) == 1; j++) {
        const char *path = pathf(t, "system[%zu]", j);
        if ((rc = read_block(t, &v, path, b)) != SL_OK)
            return rc;
        if (!sl__xl_str_is(&b[B_TYPE], "text") || b[B_TEXT].type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, path, "expected a text block");
        if (j != 0)
            sl_jw_str_raw(&t->w, SL_STRLIT("\\n\\n"));
        sl_jw_str_raw(&t->w, sl__xl_inner(&b[B_TEXT]));
    }
    sl_jw_str_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int messages(struct a2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("role"), SL_STR_INIT("content")};
    const struct sl_json_member *msgs = &t->m[K_MESSAGES];
    struct sl__xl_it it;
    struct sl_json_member v, f[2];
    size_t i = 0;
    int rc;
    if (msgs->type != SL_JSON_ARRAY || msgs->count == 0)
        return sl__xl_fail(&t->x, "messages", "expected a non-empty array");
    sl_jw_key(&t->w, SL_STRLIT("messages"));
    sl_jw_arr(&t->w);
    if ((rc = system_message(t)) != SL_OK)
        return rc;
    sl__xl_iter(&it, msgs);
    for (; sl__xl_next(&it, NULL, &v) == 1; i++) {
        if ((rc = sl__xl_read(&t->x, pathf(t, "messages[%zu]", i), &v, keys, 2, f, NULL, NULL)) !=
            SL_OK)
            return rc;
        if (sl__xl_str_is(&f[0], "user"))
            rc = user_message(t, &f[1], i);
        else if (sl__xl_str_is(&f[0], "assistant"))
            rc = assistant_message(t, &f[1], i);
        else
            rc = sl__xl_fail(&t->x, pathf(t, "messages[%zu].role", i),
                             "expected \"user\" or \"assistant\"");
        if (rc != SL_OK)
            return rc;
    }
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int tools(struct a2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("name"),
                                         SL_STR_INIT("description"), SL_STR_INIT("input_schema"),
                                         SL_STR_INIT("strict")};
    const struct sl_json_member *v = &t->m[K_TOOLS];
    struct sl__xl_it it;
    struct sl_json_member tl, f[5];
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
    for (; sl__xl_next(&it, NULL, &tl) == 1; j++) {
        const char *path = pathf(t, "tools[%zu]", j);
        if ((rc = sl__xl_read(&t->x, path, &tl, keys, 5, f, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_has(&f[0]) && !sl__xl_str_is(&f[0], "custom"))
            return sl__xl_fail(&t->x, path,
                               "Anthropic server tools (type %.*s) cannot run on an "
                               "OpenAI-compatible model",
                               (int)SL_MIN(f[0].value.len, (size_t)64), f[0].value.ptr);
        if (f[1].type != SL_JSON_STRING || f[3].type != SL_JSON_OBJECT)
            return sl__xl_fail(&t->x, path, "expected name and input_schema");
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
        sl_jw_key(&t->w, SL_STRLIT("function"));
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "name", f[1].value);
        if (f[2].type == SL_JSON_STRING)
            sl_jw_kraw(&t->w, "description", f[2].value);
        sl_jw_kraw(&t->w, "parameters", f[3].value);
        if (f[4].type == SL_JSON_TRUE || f[4].type == SL_JSON_FALSE)
            sl_jw_kraw(&t->w, "strict", f[4].value);
        sl_jw_obj_end(&t->w);
        sl_jw_obj_end(&t->w);
    }
    sl_jw_arr_end(&t->w);
    return SL_OK;
}

static int tool_choice(struct a2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("name"),
                                         SL_STR_INIT("disable_parallel_tool_use")};
    const struct sl_json_member *v = &t->m[K_TOOL_CHOICE];
    struct sl_json_member f[3];
    int rc;
    if (!sl__xl_has(v))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "tool_choice", v, keys, 3, f, NULL, NULL)) != SL_OK)
        return rc;
    sl_jw_key(&t->w, SL_STRLIT("tool_choice"));
    if (sl__xl_str_is(&f[0], "auto")) {
        sl_jw_str(&t->w, SL_STRLIT("auto"));
    } else if (sl__xl_str_is(&f[0], "any")) {
        sl_jw_str(&t->w, SL_STRLIT("required"));
    } else if (sl__xl_str_is(&f[0], "none")) {
        sl_jw_str(&t->w, SL_STRLIT("none"));
    } else if (sl__xl_str_is(&f[0], "tool") && f[1].type == SL_JSON_STRING) {
        sl_jw_obj(&t->w);
        sl_jw_kstr(&t->w, "type", SL_STRLIT("function"));
        sl_jw_key(&t->w, SL_STRLIT("function"));
        sl_jw_obj(&t->w);
        sl_jw_kraw(&t->w, "name", f[1].value);
        sl_jw_obj_end(&t->w);
        sl_jw_obj_end(&t->w);
    } else {
        return sl__xl_fail(&t->x, "tool_choice", "expected auto, any, none or tool with a name");
    }
    if (f[2].type == SL_JSON_TRUE) {
        sl_jw_key(&t->w, SL_STRLIT("parallel_tool_calls"));
        sl_jw_bool(&t->w, false);
    }
    return SL_OK;
}

/* thinking (and output_config.effort) -> reasoning_effort, with the reference gateway's
 * thresholds. */
static int reasoning(struct a2c *t, const struct sl_json_member *effort)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("budget_tokens")};
    const struct sl_json_member *v = &t->m[K_THINKING];
    struct sl_json_member f[2];
    const char *level = NULL;
    uint64_t budget;
    int rc;
    if (sl__xl_has(v)) {
        if ((rc = sl__xl_read(&t->x, "thinking", v, keys, 2, f, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_str_is(&f[0], "enabled")) {
            if (sl__xl_uint(&f[1], &budget) != SL_OK)
                return sl__xl_fail(&t->x, "thinking.budget_tokens", "expected an integer");
            level = budget >= 4096   ? "high"
                    : budget >= 2048 ? "medium"
                    : budget >= 1024 ? "low"
                                     : "minimal";
        } else if (sl__xl_str_is(&f[0], "adaptive")) {
            level = "medium";
        } else if (!sl__xl_str_is(&f[0], "disabled")) {
            return sl__xl_fail(&t->x, "thinking.type", "expected enabled, adaptive or disabled");
        }
    }
    if (effort != NULL && sl__xl_has(effort)) {
        if (sl__xl_str_is(effort, "low"))
            level = "low";
        else if (sl__xl_str_is(effort, "medium"))
            level = "medium";
        else if (sl__xl_str_is(effort, "high"))
            level = "high";
        else if (sl__xl_str_is(effort, "max") || sl__xl_str_is(effort, "xhigh"))
            level = "high"; /* the highest level every OpenAI reasoning model takes */
        else
            return sl__xl_fail(&t->x, "output_config.effort",
                               "expected low, medium, high, "
                               "xhigh or max");
    }
    if (level != NULL)
        sl_jw_kstr(&t->w, "reasoning_effort", sl_str_from_cstr(level));
    return SL_OK;
}

static int response_format(struct a2c *t, const struct sl_json_member *format, const char *path)
{
    static const struct sl_str keys[] = {SL_STR_INIT("type"), SL_STR_INIT("schema")};
    struct sl_json_member f[2];
    int rc;
    if (!sl__xl_has(format))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, path, format, keys, 2, f, NULL, NULL)) != SL_OK)
        return rc;
    if (!sl__xl_str_is(&f[0], "json_schema") || f[1].type != SL_JSON_OBJECT)
        return sl__xl_fail(&t->x, path, "expected {\"type\":\"json_schema\",\"schema\":{...}}");
    sl_jw_key(&t->w, SL_STRLIT("response_format"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "type", SL_STRLIT("json_schema"));
    sl_jw_key(&t->w, SL_STRLIT("json_schema"));
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "name", SL_STRLIT("output"));
    sl_jw_kraw(&t->w, "schema", f[1].value);
    sl_jw_key(&t->w, SL_STRLIT("strict"));
    sl_jw_bool(&t->w, true);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int output_config(struct a2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("effort"), SL_STR_INIT("format")};
    struct sl_json_member f[2] = {{.type = SL_JSON_ABSENT}, {.type = SL_JSON_ABSENT}};
    int rc;
    if (sl__xl_has(&t->m[K_OUTPUT_CONFIG]) &&
        (rc = sl__xl_read(&t->x, "output_config", &t->m[K_OUTPUT_CONFIG], keys, 2, f, NULL,
                          NULL)) != SL_OK)
        return rc;
    if ((rc = reasoning(t, &f[0])) != SL_OK)
        return rc;
    if (sl__xl_has(&f[1]))
        return response_format(t, &f[1], "output_config.format");
    return response_format(t, &t->m[K_OUTPUT_FORMAT], "output_format");
}

static int sampling_and_limits(struct a2c *t)
{
    const struct sl_json_member *m = t->m;
    uint64_t n;
    if (sl__xl_has(&m[K_MAX_TOKENS])) {
        if (sl__xl_uint(&m[K_MAX_TOKENS], &n) != SL_OK)
            return sl__xl_fail(&t->x, "max_tokens", "expected a non-negative integer");
        sl_jw_kraw(&t->w, "max_tokens", m[K_MAX_TOKENS].value);
    }
    /* Anthropic's ranges (0..1) lie inside OpenAI's, so the values pass as they are. */
    static const int sampling[] = {K_TEMPERATURE, K_TOP_P};
    for (size_t i = 0; i < SL_ARRAY_LEN(sampling); i++) {
        const struct sl_json_member *v = &m[sampling[i]];
        if (!sl__xl_has(v))
            continue;
        if (v->type != SL_JSON_NUMBER)
            return sl__xl_fail(&t->x, top_keys[sampling[i]].ptr, "expected a number");
        sl_jw_kraw(&t->w, top_keys[sampling[i]].ptr, v->value);
    }
    if (sl__xl_has(&m[K_STOP_SEQUENCES])) {
        if (m[K_STOP_SEQUENCES].type != SL_JSON_ARRAY)
            return sl__xl_fail(&t->x, "stop_sequences", "expected an array of strings");
        if (m[K_STOP_SEQUENCES].count != 0)
            sl_jw_kraw(&t->w, "stop", m[K_STOP_SEQUENCES].value);
    }
    return SL_OK;
}

static int refuse_unmappable(struct a2c *t)
{
    static const int refused[] = {K_CONTAINER, K_CONTEXT_MANAGEMENT, K_MCP_SERVERS};
    for (size_t i = 0; i < SL_ARRAY_LEN(refused); i++)
        if (sl__xl_has(&t->m[refused[i]]))
            return sl__xl_fail(&t->x, top_keys[refused[i]].ptr,
                               "an Anthropic-only feature an OpenAI-compatible model cannot "
                               "provide");
    return SL_OK;
}

static int user_id(struct a2c *t)
{
    static const struct sl_str keys[] = {SL_STR_INIT("user_id")};
    struct sl_json_member f[1];
    int rc;
    if (!sl__xl_has(&t->m[K_METADATA]))
        return SL_OK;
    if ((rc = sl__xl_read(&t->x, "metadata", &t->m[K_METADATA], keys, 1, f, NULL, NULL)) != SL_OK)
        return rc;
    if (f[0].type == SL_JSON_STRING)
        sl_jw_kraw(&t->w, "user", f[0].value);
    return SL_OK;
}

static int translate(struct a2c *t, const struct sl__xl_others *o)
{
    const struct sl_json_member *m = t->m;
    int rc;
    if ((rc = refuse_unmappable(t)) != SL_OK)
        return rc;
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "model", t->c->upstream_model);
    if ((rc = messages(t)) != SL_OK || (rc = sampling_and_limits(t)) != SL_OK)
        return rc;
    if (m[K_STREAM].type == SL_JSON_TRUE) {
        sl_jw_kraw(&t->w, "stream", m[K_STREAM].value);
        /* Usage arrives in a last chunk only when asked for; the caller's message_delta needs
           it (and so does accounting). */
        sl_jw_kraw(&t->w, "stream_options", SL_STRLIT("{\"include_usage\":true}"));
    } else if (m[K_STREAM].type == SL_JSON_FALSE) {
        sl_jw_kraw(&t->w, "stream", m[K_STREAM].value);
    } else if (sl__xl_has(&m[K_STREAM])) {
        return sl__xl_fail(&t->x, "stream", "expected a boolean");
    }
    if ((rc = tools(t)) != SL_OK || (rc = tool_choice(t)) != SL_OK || (rc = user_id(t)) != SL_OK ||
        (rc = output_config(t)) != SL_OK ||
        (rc = sl__xl_write_others(&t->x, &t->w, t->mark, o)) != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_anthropic_to_chat_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, char *why, size_t whylen)
{
    struct a2c *t = sl_xmalloc(sizeof(*t));
    struct sl__xl_others *o = sl_xmalloc(sizeof(*o));
    size_t mark = out->len;
    int rc;
    t->c = c;
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
        out->len = mark;
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated request exceeds the size limit");
    sl__xl_dispose(&t->x);
    free(o);
    free(t);
    return rc;
}
