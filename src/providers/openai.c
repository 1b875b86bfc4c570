/* OpenAI and every OpenAI-compatible upstream: {api_base}/chat/completions, /completions,
 * /embeddings and, for keys with the Responses capability, /responses (and a stored response's
 * /responses/{id}...), "Authorization: Bearer <key>", the caller's body forwarded with model
 * rewritten (the api layer splices it; this file adds the head). */
#include <string.h>

#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/provider.h"
#include "sluice/put.h"
#include "sluice_version.h"

static const char *endpoint_path(enum sl_wire w)
{
    switch (w) {
    case SL_WIRE_CHAT:
        return "/chat/completions";
    case SL_WIRE_COMPLETIONS:
        return "/completions";
    case SL_WIRE_EMBEDDINGS:
        return "/embeddings";
    case SL_WIRE_RESPONSES:
        return "/responses";
    default:
        SL_ASSERT(!"not an OpenAI wire");
        return "/";
    }
}

/* Generations reach the chat endpoint (other dialects through a translation), except that a
 * Responses caller reaches /responses itself when the key speaks it; completions and embeddings
 * are OpenAI's own; stored responses exist only behind a Responses upstream; count_tokens is
 * Anthropic's. */
static enum sl_wire wire_for(const struct sl_provider_key *key, enum sl_op op, enum sl_wire caller)
{
    bool responses = (key->caps & SL_CAP_RESPONSES) != 0;
    switch (op) {
    case SL_OP_CHAT:
        return caller == SL_WIRE_RESPONSES && responses ? SL_WIRE_RESPONSES : SL_WIRE_CHAT;
    case SL_OP_RESPONSE_STATE:
        return responses ? SL_WIRE_RESPONSES : SL_WIRE_COUNT;
    case SL_OP_COMPLETIONS:
        return SL_WIRE_COMPLETIONS;
    case SL_OP_EMBEDDINGS:
        return SL_WIRE_EMBEDDINGS;
    case SL_OP_COUNT_TOKENS:
        break;
    }
    return SL_WIRE_COUNT;
}

static bool retryable_status(int status)
{
    return status >= 500 && status <= 599;
}

/* The head is assembled with memcpy: snprintf cost more than the rest of this function's
 * caller put together (about 3,300 instructions per request). */
static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    const struct sl_origin *o = &key->origin;
    size_t cap = 512 + strlen(o->authority) * 2 + strlen(o->base_path) + strlen(key->auth_header) +
                 call->request_id.len + call->path.len;
    char *head = h2o_mem_alloc_pool(pool, cap), *w = head;
    w = sl_put_cstr(w, call->method != NULL ? call->method : "POST");
    w = SL_PUT_LIT(w, " ");
    if (call->absolute_form) {
        w = sl_put_cstr(w, o->tls ? "https://" : "http://");
        w = sl_put_cstr(w, o->authority);
    }
    w = sl_put_cstr(w, o->base_path);
    if (call->path.len != 0)
        w = sl_put(w, call->path.ptr, call->path.len);
    else
        w = sl_put_cstr(w, endpoint_path(call->wire));
    w = SL_PUT_LIT(w, " HTTP/1.1\r\nHost: ");
    w = sl_put_cstr(w, o->authority);
    w = SL_PUT_LIT(w, "\r\nAuthorization: ");
    w = sl_put_cstr(w, key->auth_header);
    w = SL_PUT_LIT(w, "\r\nContent-Type: application/json\r\nAccept: ");
    if (call->stream)
        w = SL_PUT_LIT(w, "text/event-stream");
    else
        w = SL_PUT_LIT(w, "application/json");
    /* identity: an upstream that compresses anyway is decoded by the client (upstream.h). */
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

/* OpenAI: {"error":{"message","type","code","param"}}; some compatible servers send
 * {"error":"text"} or a top-level {"message": ...}. */
static bool parse_error(struct sl_str body, struct sl_upstream_error_info *out)
{
    static const struct sl_str top[] = {SL_STR_INIT("error"), SL_STR_INIT("message")};
    static const struct sl_str inner[] = {SL_STR_INIT("message"), SL_STR_INIT("type"),
                                          SL_STR_INIT("code"), SL_STR_INIT("param")};
    struct sl_json_member t[2], in[4];
    *out = (struct sl_upstream_error_info){0};
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, top, 2, t, NULL) != SL_OK)
        return false;
    if (t[0].type == SL_JSON_OBJECT) {
        if (sl_json_scan_object(t[0].value, SL_JSON_DEFAULT_MAX_DEPTH, inner, 4, in, NULL) != SL_OK)
            return false;
        if (in[0].type == SL_JSON_STRING)
            out->message = in[0].value;
        if (in[1].type == SL_JSON_STRING)
            out->type = in[1].value;
        if (in[2].type == SL_JSON_STRING || in[2].type == SL_JSON_NUMBER)
            out->code = in[2].value;
        if (in[3].type == SL_JSON_STRING)
            out->param = in[3].value;
    } else if (t[0].type == SL_JSON_STRING) {
        out->message = t[0].value;
    } else if (t[1].type == SL_JSON_STRING) {
        out->message = t[1].value;
    }
    return out->message.len != 0;
}

const struct sl_provider_ops sl_provider_openai = {
    .name = "openai",
    .wire_for = wire_for,
    .build_request = build_request,
    .parse_error = parse_error,
    .retryable_status = retryable_status,
};
