/* The pair table (xlate.h): which translators connect a caller's wire to an upstream's. */
#include <stddef.h>

#include "sluice/base.h"
#include "sluice/xlate.h"
#include "xlate_internal.h"

static const char *const wire_names[SL_WIRE_COUNT] = {
    [SL_WIRE_CHAT] = "chat",
    [SL_WIRE_COMPLETIONS] = "completions",
    [SL_WIRE_EMBEDDINGS] = "embeddings",
    [SL_WIRE_ANTHROPIC] = "anthropic",
};

const char *sl_wire_name(enum sl_wire w)
{
    if ((unsigned)w >= SL_WIRE_COUNT)
        return "unknown";
    return wire_names[w];
}

static const struct sl_xlate_pair pairs[] = {
    /* An OpenAI SDK caller reaching a Claude model. */
    {
        .from = SL_WIRE_CHAT,
        .to = SL_WIRE_ANTHROPIC,
        .request = sl__xlate_chat_to_anthropic_request,
        .response = sl__xlate_anthropic_to_chat_response,
        .stream = sl__xlate_anthropic_to_chat_stream,
    },
    /* A Claude SDK (or Claude Code) caller reaching an OpenAI-compatible model. */
    {
        .from = SL_WIRE_ANTHROPIC,
        .to = SL_WIRE_CHAT,
        .request = sl__xlate_anthropic_to_chat_request,
        .response = sl__xlate_chat_to_anthropic_response,
        .stream = sl__xlate_chat_to_anthropic_stream,
    },
};

const struct sl_xlate_pair *sl_xlate_for(enum sl_wire from, enum sl_wire to)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(pairs); i++)
        if (pairs[i].from == from && pairs[i].to == to)
            return &pairs[i];
    return NULL;
}
