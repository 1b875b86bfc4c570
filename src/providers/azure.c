/* Azure OpenAI (reference 6): the OpenAI wire under
 * {api_base}/openai/deployments/{deployment}/chat/completions (also /completions, /embeddings)
 * with ?api-version= (the key's api_version, default 2024-10-21); the deployment is the model's
 * model_name. Auth: "api-key: <key>", or, when api_key is an Entra ID credential, "Authorization:
 * Bearer <token>" with a client-credentials token (token.h). Bodies are the caller's spliced or
 * translated as for OpenAI; Azure's content-filter fields (prompt_filter_results,
 * content_filter_results) ride along untouched and its "content_filter" finish reason is
 * OpenAI's own. */
#include <string.h>

#include "head.h"
#include "sluice/base.h"
#include "sluice/provider.h"

#include "provider_internal.h"

/* OpenAI's chat, completions and embeddings endpoints, per deployment: generations of every
 * dialect reach chat (others through a translation); no Responses wire (a key cannot claim it:
 * the loader refuses the capability outside the openai family), so no stored responses; no
 * count_tokens. */
static enum sl_wire wire_for(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller)
{
    SL_UNUSED(key);
    SL_UNUSED(model);
    SL_UNUSED(caller);
    switch (op) {
    case SL_OP_CHAT:
        return SL_WIRE_CHAT;
    case SL_OP_COMPLETIONS:
        return SL_WIRE_COMPLETIONS;
    case SL_OP_EMBEDDINGS:
        return SL_WIRE_EMBEDDINGS;
    case SL_OP_COUNT_TOKENS:
    case SL_OP_RESPONSE_STATE:
        break;
    }
    return SL_WIRE_COUNT;
}

static const char *endpoint(enum sl_wire w)
{
    switch (w) {
    case SL_WIRE_CHAT:
        return "/chat/completions";
    case SL_WIRE_COMPLETIONS:
        return "/completions";
    case SL_WIRE_EMBEDDINGS:
        return "/embeddings";
    default:
        SL_ASSERT(!"not an Azure OpenAI wire");
        return "/";
    }
}

static int prepare(struct sl_provider_prep *p)
{
    if (p->key->cred.kind != SL_CRED_ENTRA)
        return SL_OK;
    return sl__provider_token_prepare(p);
}

static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    bool bearer = key->cred.kind == SL_CRED_ENTRA;
    struct sl_str secret = bearer ? call->token : sl_str_from_cstr(key->api_key);
    const char *ep = endpoint(call->wire);
    SL_ASSERT(!bearer || call->token.len != 0);
    SL_ASSERT(call->method == NULL && call->path.len == 0); /* wire_for admits no stored resource */
    /* "/openai/deployments/{deployment}{endpoint}?api-version={version}" */
    size_t cap = sizeof("/openai/deployments/?api-version=") + sl__segment_bound(call->model) +
                 strlen(ep) + strlen(key->api_version);
    char *path = h2o_mem_alloc_pool(pool, cap), *w = path;
    w = SL_PUT_LIT(w, "/openai/deployments/");
    w = sl__put_segment(w, call->model);
    w = sl_put_cstr(w, ep);
    w = SL_PUT_LIT(w, "?api-version=");
    w = sl_put_cstr(w, key->api_version);
    SL_ASSERT((size_t)(w - path) < cap);
    struct sl__head h;
    sl__head_start(&h, pool, &key->origin, call, sl_str_init(path, (size_t)(w - path)),
                   secret.len + 32);
    h.w = bearer ? SL_PUT_LIT(h.w, "\r\nAuthorization: Bearer ") : SL_PUT_LIT(h.w, "\r\napi-key: ");
    h.w = sl_put(h.w, secret.ptr, secret.len);
    sl__head_finish(&h, pool, call, bufs, nbufs);
}

/* Azure's errors are OpenAI's envelope, with Azure's additions ("innererror" with its own code
 * and the content filter's verdict, "status"): the OpenAI reader takes what callers see. */
static bool parse_error(struct sl_str body, struct sl_upstream_error_info *out)
{
    return sl_provider_openai.parse_error(body, out);
}

static bool retryable_status(int status)
{
    return status >= 500 && status <= 599;
}

const struct sl_provider_ops sl_provider_azure = {
    .name = "azure-openai",
    .wire_for = wire_for,
    .prepare = prepare,
    .build_request = build_request,
    .parse_error = parse_error,
    .retryable_status = retryable_status,
};
