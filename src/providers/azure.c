/* Azure OpenAI (reference 6): the OpenAI wire under
 * {api_base}/openai/deployments/{deployment}/chat/completions (also /completions, /embeddings)
 * with ?api-version= (the key's api_version, default 2024-10-21); the deployment is the model's
 * model_name. Auth: "api-key: <key>", or, when api_key is an Entra ID credential, "Authorization:
 * Bearer <token>" with a client-credentials token (token.h). Bodies are the caller's spliced or
 * translated as for OpenAI; Azure's content-filter fields (prompt_filter_results,
 * content_filter_results) ride along untouched and its "content_filter" finish reason is
 * OpenAI's own. */
#include <string.h>

#include "sluice/base.h"
#include "sluice/provider.h"

#include "provider_internal.h"

static enum sl_wire wire_for(struct sl_str model, enum sl_op op, enum sl_wire caller)
{
    return sl_provider_openai.wire_for(model, op, caller);
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
    const struct sl_origin *o = &key->origin;
    bool bearer = key->cred.kind == SL_CRED_ENTRA;
    struct sl_str secret = bearer ? call->token : sl_str_from_cstr(key->api_key);
    size_t cap = SL__HEAD_FIXED + strlen(o->authority) * 2 + strlen(o->base_path) +
                 sl__segment_bound(call->model) + strlen(key->api_version) + secret.len +
                 call->request_id.len;
    char *head = h2o_mem_alloc_pool(pool, cap), *w = head;
    SL_ASSERT(!bearer || call->token.len != 0);
    w = sl__put_post(w, o, call->absolute_form);
    w = sl_put_cstr(w, o->base_path);
    w = SL_PUT_LIT(w, "/openai/deployments/");
    w = sl__put_segment(w, call->model);
    w = sl_put_cstr(w, endpoint(call->wire));
    w = SL_PUT_LIT(w, "?api-version=");
    w = sl_put_cstr(w, key->api_version);
    w = sl__put_host(w, o);
    w = bearer ? SL_PUT_LIT(w, "Authorization: Bearer ") : SL_PUT_LIT(w, "api-key: ");
    w = sl_put(w, secret.ptr, secret.len);
    w = SL_PUT_LIT(w, "\r\n");
    w = sl__put_tail(w, call, call->body_len);
    sl__request_iov(pool, head, w, cap, call->body, call->nbody, bufs, nbufs);
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
