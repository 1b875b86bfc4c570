/* Anthropic Messages upstreams: {api_base}/v1/messages (and /v1/messages/count_tokens),
 * "x-api-key: <key>" and "anthropic-version" (the caller's, else 2023-06-01), the caller's
 * anthropic-beta passed on. Bodies are the caller's spliced (Anthropic callers) or translated
 * (xlate/); this file adds the head. */
#include <string.h>

#include "head.h"
#include "sluice/base.h"
#include "sluice/provider.h"

#define DEFAULT_VERSION "2023-06-01"
/* Version and beta values longer than this are not sent on (they are short tokens). */
#define MAX_CALLER_HEADER 256

/* Every generation goes to Messages, translated when the caller speaks another wire;
 * count_tokens is Anthropic's own; completions and embeddings have no Anthropic endpoint. */
static enum sl_wire wire_for(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller)
{
    SL_UNUSED(model);
    SL_UNUSED(key);
    switch (op) {
    case SL_OP_CHAT:
        return SL_WIRE_ANTHROPIC;
    case SL_OP_COUNT_TOKENS:
        return caller == SL_WIRE_ANTHROPIC ? SL_WIRE_ANTHROPIC : SL_WIRE_COUNT;
    case SL_OP_COMPLETIONS:
    case SL_OP_EMBEDDINGS:
    case SL_OP_RESPONSE_STATE:
        break;
    }
    return SL_WIRE_COUNT;
}

static bool caller_header_ok(struct sl_str v)
{
    return v.len != 0 && v.len <= MAX_CALLER_HEADER;
}

static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    struct sl_str version = caller_header_ok(call->anthropic_version) ? call->anthropic_version
                                                                      : SL_STRLIT(DEFAULT_VERSION);
    bool beta = caller_header_ok(call->anthropic_beta);
    SL_ASSERT(call->method == NULL && call->path.len == 0); /* wire_for admits no stored resource */
    struct sl__head h;
    sl__head_start(&h, pool, &key->origin, call,
                   call->op == SL_OP_COUNT_TOKENS ? SL_STRLIT("/v1/messages/count_tokens")
                                                  : SL_STRLIT("/v1/messages"),
                   strlen(key->api_key) + 2 * MAX_CALLER_HEADER + 64);
    h.w = SL_PUT_LIT(h.w, "\r\nx-api-key: ");
    h.w = sl_put_cstr(h.w, key->api_key);
    h.w = SL_PUT_LIT(h.w, "\r\nanthropic-version: ");
    h.w = sl_put(h.w, version.ptr, version.len);
    if (beta) {
        h.w = SL_PUT_LIT(h.w, "\r\nanthropic-beta: ");
        h.w = sl_put(h.w, call->anthropic_beta.ptr, call->anthropic_beta.len);
    }
    sl__head_finish(&h, pool, call, bufs, nbufs);
}

/* {"type":"error","error":{"type","message"}}: the same inner object the OpenAI reader finds. */
static bool parse_error(struct sl_str body, struct sl_upstream_error_info *out)
{
    return sl_provider_openai.parse_error(body, out);
}

/* 5xx, and 529 (overloaded) among them. */
static bool retryable_status(int status)
{
    return status >= 500 && status <= 599;
}

const struct sl_provider_ops sl_provider_anthropic = {
    .name = "anthropic",
    .wire_for = wire_for,
    .build_request = build_request,
    .parse_error = parse_error,
    .retryable_status = retryable_status,
};
