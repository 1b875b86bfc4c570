/* Client-facing routes. The router maps method + path to one handler; each route family lives
 * in its own file under src/api/. Handlers run on worker threads, take the request's context,
 * and always end by starting a response (directly or later from a callback). */
#ifndef SLUICE_API_H
#define SLUICE_API_H

#include "sluice/h2o.h"
#include "sluice/http.h"

typedef void sl_route_fn(struct sl_reqctx *ctx, h2o_req_t *req);

struct sl_route {
    const char *method; /* "GET" routes also answer HEAD */
    const char *path;   /* a path ending in '/' matches every longer path below it */
    const char *name;   /* stable label for logs and metrics */
    sl_route_fn *handle;
};

/* Finds the route for req and runs it; answers 404 (unknown path) or 405 (known path, other
 * method) in the OpenAI error envelope. */
void sl_router_dispatch(struct sl_reqctx *ctx, h2o_req_t *req);

/* Name used in logs/metrics for requests that matched no route. */
#define SL_ROUTE_NAME_OTHER "other"

/* health.c */
void sl_api_livez(struct sl_reqctx *ctx, h2o_req_t *req);
void sl_api_readyz(struct sl_reqctx *ctx, h2o_req_t *req);

/* proxy.c: the proxied OpenAI routes */
void sl_api_chat_completions(struct sl_reqctx *ctx, h2o_req_t *req);
void sl_api_completions(struct sl_reqctx *ctx, h2o_req_t *req);
void sl_api_embeddings(struct sl_reqctx *ctx, h2o_req_t *req);

/* models.c */
void sl_api_models(struct sl_reqctx *ctx, h2o_req_t *req);
void sl_api_model(struct sl_reqctx *ctx, h2o_req_t *req); /* GET /v1/models/{id} */

#endif
