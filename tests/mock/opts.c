#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "sluice/base.h"

enum field_kind {
    F_MS = 0, /* integer milliseconds, 0..MOCK_MAX_MS */
    F_CHUNKS, /* integer count, 0..MOCK_MAX_CHUNKS */
    F_BYTES,  /* integer byte count, 0..MOCK_MAX_RESPONSE_BYTES */
    F_DIMS,   /* integer 1..MOCK_MAX_DIMENSIONS */
    F_BOOL,
    F_STRING,
    F_STATUS,     /* integer 200..599 */
    F_CODE,       /* any JSON value, kept as JSON text */
    F_SCALAR,     /* string or integer, kept as text (retry_after) */
    F_HEADERS,    /* object of name: string-or-number */
    F_TOKENS,     /* integer 0..MOCK_MAX_TOKENS */
    F_TOOL_CALLS, /* OpenAI: array of {name, arguments, id?} */
    F_TOOL_USE,   /* Anthropic: {name, input?, id?} or an array of them */
    F_FINISH,     /* one of OpenAI's finish_reason values */
    F_STOP,       /* one of Anthropic's stop_reason values */
    F_CODING,     /* an HTTP token of 1..32 characters (a content coding's name) */
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t offset;
};

#define FIELD(n, k)                                                                                \
    {                                                                                              \
#n, k, offsetof(struct mock_opts, n)                                                       \
    }

static const struct field fields[] = {
    FIELD(status, F_STATUS),
    FIELD(error_message, F_STRING),
    FIELD(error_type, F_STRING),
    FIELD(error_code, F_CODE),
    FIELD(error_body, F_STRING),
    FIELD(retry_after, F_SCALAR),
    FIELD(headers, F_HEADERS),
    FIELD(latency_ms, F_MS),
    FIELD(ttft_ms, F_MS),
    FIELD(chunks, F_CHUNKS),
    FIELD(chunk_interval_ms, F_MS),
    FIELD(chunk_text, F_STRING),
    FIELD(reply, F_STRING),
    FIELD(response_bytes, F_BYTES),
    FIELD(crlf, F_BOOL),
    FIELD(split_writes, F_BOOL),
    FIELD(disconnect_after_chunks, F_CHUNKS),
    FIELD(reset_before_headers, F_BOOL),
    FIELD(stall_after_chunks, F_CHUNKS),
    FIELD(drip_ms, F_MS),
    FIELD(invalid_json, F_BOOL),
    FIELD(no_usage, F_BOOL),
    FIELD(dimensions, F_DIMS),
    FIELD(stream_error_after_chunks, F_CHUNKS),
    FIELD(tool_calls, F_TOOL_CALLS),
    FIELD(reasoning_content, F_STRING),
    FIELD(finish_reason, F_FINISH),
    FIELD(cached_tokens, F_TOKENS),
    FIELD(reasoning_tokens, F_TOKENS),
    FIELD(tool_use, F_TOOL_USE),
    FIELD(thinking, F_STRING),
    FIELD(stop_reason, F_STOP),
    FIELD(stop_sequence, F_STRING),
    FIELD(input_tokens, F_TOKENS),
    FIELD(output_tokens, F_TOKENS),
    FIELD(cache_creation_input_tokens, F_TOKENS),
    FIELD(cache_read_input_tokens, F_TOKENS),
    FIELD(content_encoding, F_CODING),
    FIELD(transfer_encoding_gzip, F_BOOL),
    FIELD(corrupt_encoding, F_BOOL),
    FIELD(fail_first, F_CHUNKS),
    FIELD(tag, F_STRING),
    FIELD(bedrock_stop_reason, F_STRING),
    FIELD(corrupt_crc_after_chunks, F_CHUNKS),
    FIELD(block_reason, F_STRING),
    FIELD(gemini_finish_reason, F_STRING),
    FIELD(thought_signature, F_STRING),
};

static const char *const finish_reasons[] = {"stop", "length", "tool_calls", "content_filter",
                                             "function_call"};
static const char *const stop_reasons[] = {"end_turn",
                                           "max_tokens",
                                           "stop_sequence",
                                           "tool_use",
                                           "pause_turn",
                                           "refusal",
                                           "model_context_window_exceeded"};

struct parse_ctx {
    mock_alloc_fn *alloc;
    void *ud;
    char *err;
    size_t errlen;
};

void mock_opts_init(struct mock_opts *o, const struct mock_defaults *d)
{
    *o = (struct mock_opts){
        .latency_ms = d->latency_ms,
        .ttft_ms = d->ttft_ms,
        .chunks = d->chunks,
        .chunk_interval_ms = d->chunk_interval_ms,
        .dimensions = d->dimensions,
        .disconnect_after_chunks = MOCK_NEVER,
        .stall_after_chunks = MOCK_NEVER,
        .fail_first = MOCK_NEVER,
        .tag = SL_STRLIT(""),
        .reply = d->reply,
        .stream_error_after_chunks = MOCK_NEVER,
        .corrupt_crc_after_chunks = MOCK_NEVER,
        .cached_tokens = MOCK_UNSET,
        .reasoning_tokens = MOCK_UNSET,
        .input_tokens = MOCK_UNSET,
        .output_tokens = MOCK_UNSET,
        .cache_creation_input_tokens = MOCK_UNSET,
        .cache_read_input_tokens = MOCK_UNSET,
    };
}

static struct sl_str copy_str(struct parse_ctx *pc, const char *p, size_t n)
{
    char *dst = pc->alloc(pc->ud, n + 1);
    memcpy(dst, p, n);
    dst[n] = '\0';
    return sl_str_init(dst, n);
}

static int fail(struct parse_ctx *pc, const char *name, const char *why)
{
    snprintf(pc->err, pc->errlen, "mock.%s: %s", name, why);
    return SL_EPARSE;
}

static int parse_uint(struct parse_ctx *pc, const struct field *f, json_t *v, uint64_t lo,
                      uint64_t hi, uint64_t *out)
{
    char why[96];

    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < lo ||
        (uint64_t)json_integer_value(v) > hi) {
        snprintf(why, sizeof(why), "expected an integer from %llu to %llu", (unsigned long long)lo,
                 (unsigned long long)hi);
        return fail(pc, f->name, why);
    }
    *out = (uint64_t)json_integer_value(v);
    return SL_OK;
}

#define TOKEN_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"

static int parse_coding(struct parse_ctx *pc, const struct field *f, json_t *v, struct sl_str *dst)
{
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (n == 0 || n > 32 || strspn(json_string_value(v), TOKEN_CHARS) != n)
        return fail(pc, f->name, "expected an HTTP token of 1 to 32 characters");
    *dst = copy_str(pc, json_string_value(v), n);
    return SL_OK;
}

static int parse_headers(struct parse_ctx *pc, struct mock_opts *o, json_t *v)
{
    const char *name;
    json_t *value;
    size_t i = 0;

    if (!json_is_object(v) || json_object_size(v) > MOCK_MAX_HEADERS)
        return fail(pc, "headers", "expected an object of at most 32 headers");
    o->headers = pc->alloc(pc->ud, json_object_size(v) * sizeof(*o->headers) + 1);
    json_object_foreach(v, name, value)
    {
        size_t len = strlen(name);
        char *lower;
        if (len == 0 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789!#$%&'*+-.^_`|~") != len)
            return fail(pc, "headers", "header names must be HTTP tokens");
        o->headers[i].name = copy_str(pc, name, len);
        lower = (char *)o->headers[i].name.ptr;
        for (size_t k = 0; k < len; k++)
            lower[k] = (char)(lower[k] >= 'A' && lower[k] <= 'Z' ? lower[k] + 32 : lower[k]);
        if (json_is_string(value)) {
            o->headers[i].value = copy_str(pc, json_string_value(value), json_string_length(value));
        } else if (json_is_integer(value)) {
            char tmp[32];
            int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(value));
            o->headers[i].value = copy_str(pc, tmp, (size_t)n);
        } else {
            return fail(pc, "headers", "header values must be strings or integers");
        }
        if (memchr(o->headers[i].value.ptr, '\r', o->headers[i].value.len) != NULL ||
            memchr(o->headers[i].value.ptr, '\n', o->headers[i].value.len) != NULL)
            return fail(pc, "headers", "header values must not contain CR or LF");
        i++;
    }
    o->n_headers = i;
    return SL_OK;
}

static int parse_text(struct parse_ctx *pc, const struct field *f, json_t *v, struct mock_opts *o)
{
    struct sl_str *dst = (struct sl_str *)(void *)((char *)o + f->offset);

    if (f->kind == F_STRING) {
        if (!json_is_string(v) || json_string_length(v) > MOCK_MAX_STRING)
            return fail(pc, f->name, "expected a string of at most 1 MiB");
        *dst = copy_str(pc, json_string_value(v), json_string_length(v));
        return SL_OK;
    }
    if (f->kind == F_SCALAR) {
        char tmp[32];
        if (json_is_string(v) && json_string_length(v) < 256 &&
            strpbrk(json_string_value(v), "\r\n") == NULL) {
            *dst = copy_str(pc, json_string_value(v), json_string_length(v));
        } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
            int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
            *dst = copy_str(pc, tmp, (size_t)n);
        } else {
            return fail(pc, f->name, "expected a non-negative integer or a short string");
        }
        return SL_OK;
    }
    /* F_CODE: any JSON value, re-serialised compactly. */
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    SL_ASSERT(text != NULL);
    *dst = copy_str(pc, text, strlen(text));
    free(text);
    return SL_OK;
}

/* One string member of a tool call object: required ones must be present. */
static int tool_string(struct parse_ctx *pc, const char *field, json_t *call, const char *key,
                       bool required, struct sl_str *out)
{
    json_t *v = json_object_get(call, key);
    char why[96];

    if (v == NULL && !required)
        return SL_OK;
    if (v == NULL || !json_is_string(v) || json_string_length(v) > MOCK_MAX_STRING ||
        (required && json_string_length(v) == 0)) {
        snprintf(why, sizeof(why), "each call needs \"%s\" as a %sstring", key,
                 required ? "non-empty " : "");
        return fail(pc, field, why);
    }
    *out = copy_str(pc, json_string_value(v), json_string_length(v));
    return SL_OK;
}

/* Checks that call has only the given members. */
static int tool_members(struct parse_ctx *pc, const char *field, json_t *call,
                        const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    char why[128];

    if (!json_is_object(call))
        return fail(pc, field, "each call must be an object");
    json_object_foreach(call, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(allowed[i], key) != 0)
            i++;
        if (i == n) {
            snprintf(why, sizeof(why), "unknown member \"%.48s\" in a call", key);
            return fail(pc, field, why);
        }
    }
    return SL_OK;
}

/* mock.tool_calls (OpenAI): [{name, arguments, id?}], 1..16 calls. */
static int parse_tool_calls(struct parse_ctx *pc, struct mock_opts *o, json_t *v)
{
    static const char *const allowed[] = {"name", "arguments", "id"};
    size_t n = json_is_array(v) ? json_array_size(v) : 0;

    if (n == 0 || n > MOCK_MAX_TOOL_CALLS)
        return fail(pc, "tool_calls", "expected an array of 1 to 16 {name, arguments, id?}");
    o->tool_calls = pc->alloc(pc->ud, n * sizeof(*o->tool_calls));
    for (size_t i = 0; i < n; i++) {
        json_t *call = json_array_get(v, i);
        struct mock_tool_call *c = &o->tool_calls[i];
        *c = (struct mock_tool_call){0};
        if (tool_members(pc, "tool_calls", call, allowed, SL_ARRAY_LEN(allowed)) != SL_OK ||
            tool_string(pc, "tool_calls", call, "name", true, &c->name) != SL_OK ||
            tool_string(pc, "tool_calls", call, "arguments", false, &c->args) != SL_OK ||
            tool_string(pc, "tool_calls", call, "id", false, &c->id) != SL_OK)
            return SL_EPARSE;
        if (json_object_get(call, "arguments") == NULL)
            return fail(pc, "tool_calls", "each call needs \"arguments\" as a string");
    }
    o->n_tool_calls = n;
    return SL_OK;
}

/* mock.tool_use (Anthropic): {name, input?, id?} or an array of 1..16 of them. input must be an
 * object (default {}); it is kept as compact JSON. */
static int parse_tool_use(struct parse_ctx *pc, struct mock_opts *o, json_t *v)
{
    static const char *const allowed[] = {"name", "input", "id"};
    bool many = json_is_array(v);
    size_t n = many ? json_array_size(v) : 1;

    if (n == 0 || n > MOCK_MAX_TOOL_CALLS || (!many && !json_is_object(v)))
        return fail(pc, "tool_use", "expected {name, input?, id?} or an array of 1 to 16 of them");
    o->tool_use = pc->alloc(pc->ud, n * sizeof(*o->tool_use));
    for (size_t i = 0; i < n; i++) {
        json_t *call = many ? json_array_get(v, i) : v;
        json_t *input;
        struct mock_tool_call *c = &o->tool_use[i];
        *c = (struct mock_tool_call){0};
        if (tool_members(pc, "tool_use", call, allowed, SL_ARRAY_LEN(allowed)) != SL_OK ||
            tool_string(pc, "tool_use", call, "name", true, &c->name) != SL_OK ||
            tool_string(pc, "tool_use", call, "id", false, &c->id) != SL_OK)
            return SL_EPARSE;
        input = json_object_get(call, "input");
        if (input == NULL) {
            c->args = SL_STRLIT("{}");
            continue;
        }
        if (!json_is_object(input))
            return fail(pc, "tool_use", "\"input\" must be an object");
        char *text = json_dumps(input, JSON_COMPACT);
        SL_ASSERT(text != NULL);
        c->args = copy_str(pc, text, strlen(text));
        free(text);
    }
    o->n_tool_use = n;
    return SL_OK;
}

/* A string that must be one of allowed[0..n). */
static int parse_enum(struct parse_ctx *pc, const struct field *f, json_t *v,
                      const char *const *allowed, size_t n, struct mock_opts *o)
{
    char why[256];
    size_t len = 0;

    for (size_t i = 0; json_is_string(v) && i < n; i++) {
        if (strcmp(json_string_value(v), allowed[i]) == 0) {
            *(struct sl_str *)(void *)((char *)o + f->offset) =
                copy_str(pc, allowed[i], strlen(allowed[i]));
            return SL_OK;
        }
    }
    len = (size_t)snprintf(why, sizeof(why), "expected one of");
    for (size_t i = 0; i < n && len < sizeof(why); i++)
        len += (size_t)snprintf(why + len, sizeof(why) - len, " %s", allowed[i]);
    return fail(pc, f->name, why);
}

static int parse_field(struct parse_ctx *pc, const struct field *f, json_t *v, struct mock_opts *o)
{
    void *dst = (char *)o + f->offset;
    uint64_t u = 0;
    int rc;

    switch (f->kind) {
    case F_MS:
        rc = parse_uint(pc, f, v, 0, MOCK_MAX_MS, &u);
        break;
    case F_CHUNKS:
        rc = parse_uint(pc, f, v, 0, MOCK_MAX_CHUNKS, &u);
        break;
    case F_BYTES:
        rc = parse_uint(pc, f, v, 0, MOCK_MAX_RESPONSE_BYTES, &u);
        break;
    case F_DIMS:
        rc = parse_uint(pc, f, v, 1, MOCK_MAX_DIMENSIONS, &u);
        break;
    case F_STATUS:
        rc = parse_uint(pc, f, v, 200, 599, &u);
        if (rc == SL_OK)
            o->status = (int)u;
        return rc;
    case F_BOOL:
        if (!json_is_boolean(v))
            return fail(pc, f->name, "expected true or false");
        *(bool *)dst = json_is_true(v);
        return SL_OK;
    case F_HEADERS:
        return parse_headers(pc, o, v);
    case F_TOKENS:
        rc = parse_uint(pc, f, v, 0, MOCK_MAX_TOKENS, &u);
        break;
    case F_TOOL_CALLS:
        return parse_tool_calls(pc, o, v);
    case F_TOOL_USE:
        return parse_tool_use(pc, o, v);
    case F_FINISH:
        return parse_enum(pc, f, v, finish_reasons, SL_ARRAY_LEN(finish_reasons), o);
    case F_STOP:
        return parse_enum(pc, f, v, stop_reasons, SL_ARRAY_LEN(stop_reasons), o);
    case F_CODING:
        return parse_coding(pc, f, v, dst);
    default:
        return parse_text(pc, f, v, o);
    }
    if (rc == SL_OK)
        memcpy(dst, &u, sizeof(u));
    return rc;
}

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static bool is_content_field(const char *name)
{
    return strcmp(name, "reply") == 0 || strcmp(name, "chunk_text") == 0 ||
           strcmp(name, "chunks") == 0 || strcmp(name, "response_bytes") == 0;
}

int mock_opts_parse(struct mock_opts *o, struct sl_str json, mock_alloc_fn *alloc, void *ud,
                    char *err, size_t errlen)
{
    struct parse_ctx pc = {alloc, ud, err, errlen};
    json_error_t jerr;
    json_t *root = json_loadb(json.ptr, json.len, 0, &jerr);
    const char *name;
    json_t *v;
    int rc = SL_OK;

    err[0] = '\0';
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, errlen, "mock: expected an object");
        rc = SL_EPARSE;
        goto out;
    }
    json_object_foreach(root, name, v)
    {
        const struct field *f = find_field(name);
        if (f == NULL) {
            snprintf(err, errlen, "mock: unknown field \"%.64s\"", name);
            rc = SL_EPARSE;
            goto out;
        }
        rc = parse_field(&pc, f, v, o);
        if (rc != SL_OK)
            goto out;
        if (is_content_field(name))
            o->content_overridden = true;
        if (is_content_field(name) && strcmp(name, "chunks") != 0)
            o->text_set = true;
    }
    if (o->tag.len > MOCK_MAX_TAG)
        rc = fail(&pc, "tag", "expected a string of at most 128 bytes");
out:
    json_decref(root);
    return rc;
}

const char *mock_opts_has_bedrock_only(const struct mock_opts *o)
{
    return o->bedrock_stop_reason.ptr != NULL          ? "bedrock_stop_reason"
           : o->corrupt_crc_after_chunks != MOCK_NEVER ? "corrupt_crc_after_chunks"
                                                       : NULL;
}

bool mock_opts_has_openai_only(const struct mock_opts *o, const char **name)
{
    *name = o->n_tool_calls != 0                ? "tool_calls"
            : o->reasoning_content.ptr != NULL  ? "reasoning_content"
            : o->finish_reason.ptr != NULL      ? "finish_reason"
            : o->cached_tokens != MOCK_UNSET    ? "cached_tokens"
            : o->reasoning_tokens != MOCK_UNSET ? "reasoning_tokens"
                                                : NULL;
    return *name != NULL;
}

bool mock_opts_has_anthropic_only(const struct mock_opts *o, const char **name)
{
    *name = o->n_tool_use != 0                             ? "tool_use"
            : o->thinking.ptr != NULL                      ? "thinking"
            : o->stop_reason.ptr != NULL                   ? "stop_reason"
            : o->stop_sequence.ptr != NULL                 ? "stop_sequence"
            : o->input_tokens != MOCK_UNSET                ? "input_tokens"
            : o->output_tokens != MOCK_UNSET               ? "output_tokens"
            : o->cache_creation_input_tokens != MOCK_UNSET ? "cache_creation_input_tokens"
            : o->cache_read_input_tokens != MOCK_UNSET     ? "cache_read_input_tokens"
                                                           : NULL;
    return *name != NULL;
}

bool mock_opts_has_gemini_only(const struct mock_opts *o, const char **name)
{
    *name = o->block_reason.ptr != NULL           ? "block_reason"
            : o->gemini_finish_reason.ptr != NULL ? "gemini_finish_reason"
            : o->thought_signature.ptr != NULL    ? "thought_signature"
                                                  : NULL;
    return *name != NULL;
}
