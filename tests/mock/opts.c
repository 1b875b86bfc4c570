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
    F_STATUS,  /* integer 200..599 */
    F_CODE,    /* any JSON value, kept as JSON text */
    F_SCALAR,  /* string or integer, kept as text (retry_after) */
    F_HEADERS, /* object of name: string-or-number */
    F_TOKEN,   /* an HTTP token of 1..32 characters (a coding name) */
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
    FIELD(content_encoding, F_TOKEN),
    FIELD(transfer_encoding_gzip, F_BOOL),
    FIELD(corrupt_encoding, F_BOOL),
};

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
        .reply = d->reply,
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

static int parse_token(struct parse_ctx *pc, const struct field *f, json_t *v, struct sl_str *dst)
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
    case F_TOKEN:
        return parse_token(pc, f, v, dst);
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
    }
out:
    json_decref(root);
    return rc;
}
