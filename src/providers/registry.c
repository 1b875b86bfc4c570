/* The one way to a wire family: by the provider key's adapter (set at load from its adapter
 * or vendor, reference 3.5). */
#include "sluice/base.h"
#include "sluice/provider.h"

const struct sl_provider_ops *sl_provider_for(const struct sl_provider_key *key)
{
    switch (key->adapter) {
    case SL_ADAPTER_OPENAI:
        return &sl_provider_openai;
    case SL_ADAPTER_ANTHROPIC:
        return &sl_provider_anthropic;
    case SL_ADAPTER_BEDROCK:
        return &sl_provider_bedrock;
    }
    SL_ASSERT(!"unknown adapter");
    return NULL;
}
