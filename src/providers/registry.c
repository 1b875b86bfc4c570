/* The one way to a wire family: by the provider key's adapter (set at load from its adapter
 * or vendor, reference 3.5); and the token step the Azure and Vertex families share. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/provider.h"
#include "sluice/token.h"

#include "provider_internal.h"

const struct sl_provider_ops *sl_provider_for(const struct sl_provider_key *key)
{
    switch (key->adapter) {
    case SL_ADAPTER_OPENAI:
        return &sl_provider_openai;
    case SL_ADAPTER_ANTHROPIC:
        return &sl_provider_anthropic;
    case SL_ADAPTER_BEDROCK:
        return &sl_provider_bedrock;
    case SL_ADAPTER_AZURE_OPENAI:
        return &sl_provider_azure;
    case SL_ADAPTER_GEMINI:
        return &sl_provider_gemini;
    case SL_ADAPTER_VERTEX:
        return &sl_provider_vertex;
    }
    SL_ASSERT(!"unknown adapter");
    return NULL;
}

static void on_token(void *ud, int rc, struct sl_str token, const char *why)
{
    struct sl_provider_prep *p = ud;
    p->_wait = NULL;
    if (rc == SL_OK)
        p->token = sl_str_from_iov(h2o_strdup(p->pool, token.ptr, token.len));
    else
        snprintf(p->why, sizeof(p->why), "%s", why);
    p->done(p, rc);
}

int sl__provider_token_prepare(struct sl_provider_prep *p)
{
    struct sl_token_wait *w = NULL;
    const struct sl_provider_key *key = p->key;
    int rc = sl_token_get(&key->cred, key->name, p->upstreams, p->ctx, p->pool, &p->token, p->why,
                          sizeof(p->why), on_token, p, &w);
    if (rc == SL_AGAIN)
        p->_wait = w;
    return rc;
}

void sl_provider_prepare_cancel(struct sl_provider_prep *p)
{
    if (p->_wait == NULL)
        return;
    sl_token_cancel(p->_wait);
    p->_wait = NULL;
}
