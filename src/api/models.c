/* GET /v1/models: the models the caller's key may use, in the OpenAI list shape, sorted by id;
 * GET /v1/models/{id}: one of them. Wildcard rows are patterns, not models, so they are neither
 * listed nor retrievable. */
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

static void append_model(struct sl_buf *b, const struct sl_model *m, long long created)
{
    sl_buf_appendf(b, "{\"id\":");
    sl_json_escape(b, sl_str_from_cstr(m->name));
    sl_buf_appendf(b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":", created);
    sl_json_escape(b, sl_str_from_cstr(m->provider));
    sl_buf_appendf(b, "}");
}

static void reply_buf(h2o_req_t *req, struct sl_buf *b)
{
    struct sl_str body = sl_str_from_iov(h2o_strdup(&req->pool, b->ptr, b->len));
    sl_buf_dispose(b);
    sl_reply(req, 200, "application/json", body);
}

static long long now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec;
}

/* Listed, and retrievable: a configured name (wildcard rows are patterns, not models) that the
 * caller's key may use. */
static bool is_visible(const struct sl_api_key *key, const struct sl_model *m)
{
    return !m->is_wildcard && sl_api_key_allows(key, sl_str_from_cstr(m->name));
}

void sl_api_models(struct sl_reqctx *ctx, h2o_req_t *req)
{
    const struct sl_resources *res = ctx->pin->gen->res;
    const struct sl_api_key *key = sl_auth_require(ctx, req);
    if (key == NULL)
        return;
    long long created = now_s();
    struct sl_buf b;
    sl_buf_init(&b, MODELS_MAX_BYTES);
    sl_buf_appendf(&b, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < res->n_models; i++) { /* res->models is sorted by name */
        const struct sl_model *m = &res->models[i];
        if (!is_visible(key, m))
            continue;
        if (!first)
            sl_buf_appendf(&b, ",");
        append_model(&b, m, created);
        first = false;
    }
    sl_buf_appendf(&b, "]}");
    reply_buf(req, &b);
}

/* The id is the rest of the path, percent-decoded by h2o (the openai SDK encodes "/" in ids
 * such as "openai/gpt-4o" as %2F). An id the caller may not use is reported exactly like one
 * that does not exist, so ids cannot be probed. */
void sl_api_model(struct sl_reqctx *ctx, h2o_req_t *req)
{
    const struct sl_resources *res = ctx->pin->gen->res;
    const struct sl_api_key *key = sl_auth_require(ctx, req);
    if (key == NULL)
        return;
    static const size_t prefix = sizeof("/v1/models/") - 1;
    struct sl_str id =
        sl_str_init(req->path_normalized.base + prefix, req->path_normalized.len - prefix);
    ctx->model = id;
    const struct sl_model *m = sl_resources_resolve(res, id, NULL);
    if (m == NULL || !is_visible(key, m)) {
        sl_reply_error(req, SL_ERR_MODEL_NOT_FOUND, (int)SL_MIN(id.len, 200), id.ptr);
        return;
    }
    ctx->model_label = sl_str_from_cstr(m->name);
    struct sl_buf b;
    sl_buf_init(&b, MODELS_MAX_BYTES);
    append_model(&b, m, now_s());
    reply_buf(req, &b);
}
