/* OpenAI and every OpenAI-compatible upstream: {api_base}/chat/completions, /completions,
 * /embeddings and, for keys with the Responses capability, /responses (and a stored response's
 * /responses/{id}...), "Authorization: Bearer <key>", the caller's body forwarded with model
 * rewritten (the api layer splices it; this file adds the head). */
#include <string.h>

#include "head.h"
#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/provider.h"

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
static enum sl_wire wire_for(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller)
{
    SL_UNUSED(model);
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

static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    struct sl__head h;
    /* A stored response's route names its own path; every other call its wire's endpoint. */
    struct sl_str path =
        call->path.len != 0 ? call->path : sl_str_from_cstr(endpoint_path(call->wire));
    sl__head_start(&h, pool, &key->origin, call, path, strlen(key->auth_header) + 32);
    h.w = SL_PUT_LIT(h.w, "\r\nAuthorization: ");
    h.w = sl_put_cstr(h.w, key->auth_header);
    sl__head_finish(&h, pool, call, bufs, nbufs);
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
