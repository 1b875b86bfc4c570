#include <string.h>

#include <stdio.h>

#include "sluice/base.h"
#include "sluice/exchange.h"
#include "sluice/reply.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

static bool wants_verbose(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return false;
    struct sl_str q =
        sl_str_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    return q.len >= 7 && memmem(q.ptr, q.len, "verbose", 7) != NULL;
}

/* Kubernetes-style health: "ok", or with ?verbose one line per check. */
static int reply_health(struct sl_exchange *x, const char *name, bool with_config)
{
    h2o_req_t *req = x->req;
    bool draining = atomic_load_explicit(x->svc->draining, memory_order_relaxed);
    int status = draining ? 503 : 200;
    if (!wants_verbose(req)) {
        sl_reply(req, status, TEXT_PLAIN, draining ? SL_STRLIT("shutting down") : SL_STRLIT("ok"));
        return SL_DONE;
    }
    char body[256];
    int n = snprintf(body, sizeof(body), "[+]ping ok\n%s%s%s check %s\n",
                     draining ? "[-]shutdown failed: draining\n" : "[+]shutdown ok\n",
                     with_config ? "[+]config ok\n" : "", name, draining ? "failed" : "passed");
    sl_reply(req, status, TEXT_PLAIN,
             sl_str_from_iov(h2o_strdup(&req->pool, body, (size_t)SL_MAX(n, 0))));
    return SL_DONE;
}

int sl_phase_livez(struct sl_exchange *x)
{
    return reply_health(x, "livez", false);
}

int sl_phase_readyz(struct sl_exchange *x)
{
    return reply_health(x, "readyz", true);
}
