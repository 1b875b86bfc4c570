/* The pair table (xlate.h): which translators connect a caller's wire to an upstream's. */
#include <stddef.h>

#include "bedrock_internal.h"
#include "sluice/base.h"
#include "sluice/xlate.h"
#include "xlate_internal.h"

static const char *const wire_names[SL_WIRE_COUNT] = {
    [SL_WIRE_CHAT] = "chat",
    [SL_WIRE_COMPLETIONS] = "completions",
    [SL_WIRE_EMBEDDINGS] = "embeddings",
    [SL_WIRE_ANTHROPIC] = "anthropic",
    [SL_WIRE_BEDROCK_CONVERSE] = "bedrock_converse",
    [SL_WIRE_BEDROCK_ANTHROPIC] = "bedrock_anthropic",
    [SL_WIRE_BEDROCK_TITAN_EMBED] = "bedrock_titan_embed",
    [SL_WIRE_BEDROCK_COHERE_EMBED] = "bedrock_cohere_embed",
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
    /* An OpenAI SDK caller reaching a Bedrock model (Converse, ConverseStream). */
    {
        .from = SL_WIRE_CHAT,
        .to = SL_WIRE_BEDROCK_CONVERSE,
        .request = sl__xlate_chat_to_converse_request,
        .response = sl__xlate_converse_to_chat_response,
        .stream = sl__xlate_converse_to_chat_stream,
    },
    /* A Claude SDK caller reaching Claude on Bedrock (InvokeModel: Anthropic's own API). */
    {
        .from = SL_WIRE_ANTHROPIC,
        .to = SL_WIRE_BEDROCK_ANTHROPIC,
        .request = sl__xlate_anthropic_to_bedrock_request,
        .response = sl__xlate_bedrock_to_anthropic_response,
        .stream = sl__xlate_bedrock_to_anthropic_stream,
    },
    /* OpenAI embeddings from Bedrock's Titan and Cohere models (JSON only). */
    {
        .from = SL_WIRE_EMBEDDINGS,
        .to = SL_WIRE_BEDROCK_TITAN_EMBED,
        .request = sl__xlate_embeddings_to_titan_request,
        .response = sl__xlate_titan_to_embeddings_response,
        .stream = NULL,
    },
    {
        .from = SL_WIRE_EMBEDDINGS,
        .to = SL_WIRE_BEDROCK_COHERE_EMBED,
        .request = sl__xlate_embeddings_to_cohere_request,
        .response = sl__xlate_cohere_to_embeddings_response,
        .stream = NULL,
    },
};

const struct sl_xlate_pair *sl_xlate_for(enum sl_wire from, enum sl_wire to)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(pairs); i++)
        if (pairs[i].from == from && pairs[i].to == to)
            return &pairs[i];
    return NULL;
}
