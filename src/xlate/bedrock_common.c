/* What the Bedrock translators share (bedrock_internal.h): stop reasons, usage, and the
 * exceptions a Bedrock stream can end with. */
#include <stdio.h>
#include <string.h>

#include "bedrock_internal.h"
#include "sluice/base.h"

const char *sl__xl_finish_of_converse(struct sl_str r)
{
    if (sl_str_eq_lit(r, "max_tokens") || sl_str_eq_lit(r, "model_context_window_exceeded"))
        return "length";
    if (sl_str_eq_lit(r, "tool_use"))
        return "tool_calls";
    if (sl_str_eq_lit(r, "guardrail_intervened") || sl_str_eq_lit(r, "content_filtered"))
        return "content_filter";
    /* end_turn, stop_sequence; and malformed_model_output / malformed_tool_use, where the model
       stopped on its own with output the caller sees as it is. */
    return "stop";
}

enum { U_INPUT, U_OUTPUT, U_TOTAL, U_CACHE_READ, U_CACHE_WRITE, U_N };
static const struct sl_str usage_keys[U_N] = {
    [U_INPUT] = SL_STR_INIT("inputTokens"),
    [U_OUTPUT] = SL_STR_INIT("outputTokens"),
    [U_TOTAL] = SL_STR_INIT("totalTokens"),
    [U_CACHE_READ] = SL_STR_INIT("cacheReadInputTokens"),
    [U_CACHE_WRITE] = SL_STR_INIT("cacheWriteInputTokens"),
};

int sl__xl_converse_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                          struct sl_usage *a)
{
    struct sl_json_member f[U_N];
    int64_t *dst[U_N] = {&a->input_tokens, &a->output_tokens, NULL, &a->cache_read_tokens,
                         &a->cache_creation_tokens};
    uint64_t n;
    int rc = sl__xl_read(x, path, v, usage_keys, U_N, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < U_N; i++) {
        if (!sl__xl_has(&f[i]))
            continue;
        if (sl__xl_uint(&f[i], &n) != SL_OK || n > (uint64_t)1 << 53)
            return sl__xl_fail(x, path, "%s: expected a token count", usage_keys[i].ptr);
        if (dst[i] != NULL)
            *dst[i] = (int64_t)n;
    }
    return SL_OK;
}

/* The exceptions ConverseStream and InvokeModelWithResponseStream can end with (the Smithy
 * model's event stream unions), with the status each stands for and an Anthropic-style type
 * (both dialects' encoders render it: Anthropic's keeps it, OpenAI's shows it as the type). */
static const struct {
    const char *name;
    int status;
    const char *type;
} exceptions[] = {
    {"throttlingException", 429, "rate_limit_error"},
    {"validationException", 400, "invalid_request_error"},
    {"serviceUnavailableException", 503, "overloaded_error"},
    {"internalServerException", 502, "api_error"},
    {"modelStreamErrorException", 502, "api_error"},
    {"modelTimeoutException", 504, "timeout_error"},
};

bool sl__xl_bedrock_exception(struct sl__xl *x, struct sl_str name, struct sl_str payload,
                              struct sl_stream_error *e, char *code, size_t codelen)
{
    static const struct sl_str keys[] = {SL_STR_INIT("message"), SL_STR_INIT("Message")};
    struct sl_json_member m[2];
    size_t i = 0;
    while (i < SL_ARRAY_LEN(exceptions) && !sl_str_eq(name, sl_str_from_cstr(exceptions[i].name)))
        i++;
    if (i == SL_ARRAY_LEN(exceptions))
        return false;
    sl__xl_copy(code, codelen, name);
    *e = (struct sl_stream_error){.status = exceptions[i].status,
                                  .type = exceptions[i].type,
                                  .code = code,
                                  .kind = "upstream_error",
                                  .message = SL_STRLIT("upstream stream failed")};
    if (sl_json_scan_object(payload, SL_XLATE_MAX_DEPTH, keys, 2, m, NULL) != SL_OK)
        return true;
    const struct sl_json_member *msg = m[0].type == SL_JSON_STRING ? &m[0] : &m[1];
    if (msg->type == SL_JSON_STRING && sl__xl_text(x, msg, &e->message) != SL_OK)
        e->message = SL_STRLIT("upstream stream failed (message too long)");
    return true;
}

/* ---- base64 (RFC 4648, standard alphabet, padded) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sl__xl_base64_decode(struct sl_str in, struct sl_buf *out)
{
    if (in.len % 4 != 0)
        return SL_EPARSE;
    char *o = sl_buf_reserve(out, in.len / 4 * 3);
    if (o == NULL)
        return SL_E2BIG;
    size_t n = 0;
    for (size_t i = 0; i < in.len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t j = 0; j < 4; j++) {
            char c = in.ptr[i + j];
            /* '=' only at the very end: one or two of them */
            if (c == '=' && i + 4 == in.len && j >= 2 && (j == 3 || in.ptr[i + 3] == '=')) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad != 0 || (v[j] = b64_value(c)) < 0)
                return SL_EPARSE;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        o[n++] = (char)(w >> 16);
        if (pad < 2)
            o[n++] = (char)(w >> 8);
        if (pad < 1)
            o[n++] = (char)w;
    }
    sl_buf_commit(out, n);
    return SL_OK;
}

int sl__xl_base64_encode(struct sl_str in, struct sl_buf *out)
{
    char *o = sl_buf_reserve(out, (in.len + 2) / 3 * 4);
    if (o == NULL)
        return SL_E2BIG;
    size_t n = 0, i = 0;
    const unsigned char *p = (const unsigned char *)in.ptr;
    for (; i + 3 <= in.len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[n++] = b64[w >> 18 & 63];
        o[n++] = b64[w >> 12 & 63];
        o[n++] = b64[w >> 6 & 63];
        o[n++] = b64[w & 63];
    }
    if (i < in.len) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < in.len ? (uint32_t)p[i + 1] << 8 : 0);
        o[n++] = b64[w >> 18 & 63];
        o[n++] = b64[w >> 12 & 63];
        o[n++] = i + 1 < in.len ? b64[w >> 6 & 63] : '=';
        o[n++] = '=';
    }
    sl_buf_commit(out, n);
    return SL_OK;
}
