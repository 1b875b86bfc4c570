#include <string.h>

#include "sluice/api.h"
#include "sluice/base.h"
#include "sluice/metrics.h"
#include "sluice/reply.h"
#include "sluice/worker.h"

static const struct sl_route routes[] = {
    {"POST", "/v1/chat/completions", "chat_completions", sl_api_chat_completions},
    {"POST", "/v1/completions", "completions", sl_api_completions},
    {"POST", "/v1/embeddings", "embeddings", sl_api_embeddings},
    {"GET", "/v1/models", "models", sl_api_models},
    {"GET", "/v1/models/", "model", sl_api_model},
    {"GET", "/livez", "livez", sl_api_livez},
    {"GET", "/readyz", "readyz", sl_api_readyz},
};

static bool path_matches(const struct sl_route *r, struct sl_str path)
{
    size_t n = strlen(r->path);
    if (r->path[n - 1] == '/')
        return path.len > n && memcmp(path.ptr, r->path, n) == 0;
    return h2o_memis(path.ptr, path.len, r->path, n);
}

static bool method_matches(const struct sl_route *r, h2o_iovec_t method)
{
    if (h2o_memis(method.base, method.len, r->method, strlen(r->method)))
        return true;
    return strcmp(r->method, "GET") == 0 && h2o_memis(method.base, method.len, H2O_STRLIT("HEAD"));
}

static void reply_method_not_allowed(h2o_req_t *req, struct sl_str path)
{
    char allow[64] = "";
    size_t o = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct sl_route *r = &routes[i];
        if (!path_matches(r, path))
            continue;
        int n = snprintf(allow + o, sizeof(allow) - o, "%s%s%s", o != 0 ? ", " : "", r->method,
                         strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        if (n > 0)
            o += (size_t)n < sizeof(allow) - o ? (size_t)n : 0;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                   h2o_strdup(&req->pool, allow, o).base, o);
    sl_reply_error(req, SL_ERR_METHOD_NOT_ALLOWED, (int)SL_MIN(req->method.len, 16),
                   req->method.base, (int)SL_MIN(path.len, 128), path.ptr, allow);
}

void sl_router_dispatch(struct sl_reqctx *ctx, h2o_req_t *req)
{
    struct sl_str path = sl_str_from_iov(req->path_normalized);
    bool path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct sl_route *r = &routes[i];
        if (!path_matches(r, path))
            continue;
        path_known = true;
        if (!method_matches(r, req->method))
            continue;
        ctx->route = r;
        sl_metrics_inflight(ctx->worker->metrics, r->name, 1);
        r->handle(ctx, req);
        return;
    }
    if (path_known) {
        reply_method_not_allowed(req, path);
        return;
    }
    sl_reply_error(req, SL_ERR_ROUTE_NOT_FOUND, (int)SL_MIN(req->method.len, 16), req->method.base,
                   (int)SL_MIN(path.len, 128), path.ptr);
}
