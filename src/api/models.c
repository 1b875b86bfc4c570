/* GET /v1/models: the models the caller's key may use, in the OpenAI list shape, sorted by id.
 * Wildcard rows are patterns, not models, so they are not listed. */
#include <stdio.h>
#include <sys/time.h>

#include "sluice/api.h"
#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/generation.h"
#include "sluice/json.h"
#include "sluice/reply.h"

#define MODELS_MAX_BYTES (16u * 1024 * 1024)

void sl_api_models(struct sl_reqctx *ctx, h2o_req_t *req)
{
    const struct sl_resources *res = ctx->pin->gen->res;
    const struct sl_api_key *key = sl_auth_require(ctx, req);
    if (key == NULL)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct sl_buf b;
    sl_buf_init(&b, MODELS_MAX_BYTES);
    sl_buf_appendf(&b, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < res->n_models; i++) { /* res->models is sorted by name */
        const struct sl_model *m = &res->models[i];
        struct sl_str name = sl_str_from_cstr(m->name);
        if (m->is_wildcard || !sl_api_key_allows(key, name))
            continue;
        sl_buf_appendf(&b, "%s{\"id\":", first ? "" : ",");
        sl_json_escape(&b, name);
        sl_buf_appendf(
            &b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":", (long long)tv.tv_sec);
        sl_json_escape(&b, sl_str_from_cstr(m->provider));
        sl_buf_appendf(&b, "}");
        first = false;
    }
    sl_buf_appendf(&b, "]}");
    struct sl_str body = sl_str_from_iov(h2o_strdup(&req->pool, b.ptr, b.len));
    sl_buf_dispose(&b);
    sl_reply(req, 200, "application/json", body);
}
