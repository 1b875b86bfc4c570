/* Anthropic Messages upstreams: {api_base}/v1/messages (and /v1/messages/count_tokens),
 * "x-api-key: <key>" and "anthropic-version" (the caller's, else 2023-06-01), the caller's
 * anthropic-beta passed on. Bodies are the caller's spliced (Anthropic callers) or translated
 * (xlate/); this file adds the head. */
#include <string.h>

#include "sluice/base.h"
#include "sluice/provider.h"
#include "sluice/put.h"
#include "sluice_version.h"

#define DEFAULT_VERSION "2023-06-01"
/* Version and beta values longer than this are not sent on (they are short tokens). */
#define MAX_CALLER_HEADER 256

/* Every generation goes to Messages, translated when the caller speaks another wire;
 * count_tokens is Anthropic's own; completions and embeddings have no Anthropic endpoint. */
static enum sl_wire wire_for(const struct sl_provider_key *key, enum sl_op op, enum sl_wire caller)
{
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
    const struct sl_origin *o = &key->origin;
    struct sl_str version = caller_header_ok(call->anthropic_version) ? call->anthropic_version
                                                                      : SL_STRLIT(DEFAULT_VERSION);
    bool beta = caller_header_ok(call->anthropic_beta);
    size_t cap = 640 + strlen(o->authority) * 2 + strlen(o->base_path) + strlen(key->api_key) +
                 call->request_id.len + 2 * MAX_CALLER_HEADER;
    char *head = h2o_mem_alloc_pool(pool, cap), *w = head;
    SL_ASSERT(call->method == NULL && call->path.len == 0); /* wire_for admits no stored resource */
    w = SL_PUT_LIT(w, "POST ");
    if (call->absolute_form) {
        w = sl_put_cstr(w, o->tls ? "https://" : "http://");
        w = sl_put_cstr(w, o->authority);
    }
    w = sl_put_cstr(w, o->base_path);
    if (call->op == SL_OP_COUNT_TOKENS)
        w = SL_PUT_LIT(w, "/v1/messages/count_tokens");
    else
        w = SL_PUT_LIT(w, "/v1/messages");
    w = SL_PUT_LIT(w, " HTTP/1.1\r\nHost: ");
    w = sl_put_cstr(w, o->authority);
    w = SL_PUT_LIT(w, "\r\nx-api-key: ");
    w = sl_put_cstr(w, key->api_key);
    w = SL_PUT_LIT(w, "\r\nanthropic-version: ");
    w = sl_put(w, version.ptr, version.len);
    if (beta) {
        w = SL_PUT_LIT(w, "\r\nanthropic-beta: ");
        w = sl_put(w, call->anthropic_beta.ptr, call->anthropic_beta.len);
    }
    w = SL_PUT_LIT(w, "\r\nContent-Type: application/json\r\nAccept: ");
    if (call->stream)
        w = SL_PUT_LIT(w, "text/event-stream");
    else
        w = SL_PUT_LIT(w, "application/json");
    w = SL_PUT_LIT(w, "\r\nAccept-Encoding: identity\r\nUser-Agent: sluice/" SL_VERSION_BASE
                      "\r\nX-Request-Id: ");
    w = sl_put(w, call->request_id.ptr, call->request_id.len);
    w = SL_PUT_LIT(w, "\r\nContent-Length: ");
    w = sl_put_u64(w, call->body_len);
    w = SL_PUT_LIT(w, "\r\n\r\n");
    size_t n = (size_t)(w - head);
    SL_ASSERT(n < cap);
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v) * (call->nbody + 1));
    v[0] = h2o_iovec_init(head, n);
    memcpy(v + 1, call->body, sizeof(*v) * call->nbody);
    *bufs = v;
    *nbufs = call->nbody + 1;
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
