/* The pair table (xlate.h): which translators connect a caller's wire to an upstream's. Every
 * wire has its pairs with chat only (embeddings with embeddings); a caller of one wire reaching
 * an upstream of another goes through chat both ways (a composed pair, below). */
#include <pthread.h>
#include <stddef.h>

#include "bedrock_internal.h"
#include "responses_internal.h"
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
    [SL_WIRE_RESPONSES] = "responses",
    [SL_WIRE_GEMINI] = "gemini",
    [SL_WIRE_GEMINI_EMBED] = "gemini_embed",
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
    /* A Responses caller (the AI SDK, @openai/agents) reaching a chat-only model; an Anthropic
       one through chat. */
    {
        .from = SL_WIRE_RESPONSES,
        .to = SL_WIRE_CHAT,
        .request = sl__xlate_responses_to_chat_request,
        .response = sl__xlate_chat_to_responses_response,
        .stream = sl__xlate_chat_to_responses_stream,
    },
    /* An OpenAI SDK caller reaching a Gemini model (Gemini API or Vertex AI); Anthropic and
       Responses callers through chat. */
    {
        .from = SL_WIRE_CHAT,
        .to = SL_WIRE_GEMINI,
        .request = sl__xlate_chat_to_gemini_request,
        .response = sl__xlate_gemini_to_chat_response,
        .stream = sl__xlate_gemini_to_chat_stream,
    },
    /* OpenAI embeddings served by batchEmbedContents (JSON only: embeddings do not stream). */
    {
        .from = SL_WIRE_EMBEDDINGS,
        .to = SL_WIRE_GEMINI_EMBED,
        .request = sl__xlate_embeddings_to_gemini_request,
        .response = sl__xlate_gemini_to_embeddings_response,
        .stream = NULL,
    },
};

static const struct sl_xlate_pair *direct(enum sl_wire from, enum sl_wire to)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(pairs); i++)
        if (pairs[i].from == from && pairs[i].to == to)
            return &pairs[i];
    return NULL;
}

/* Every composition through chat that exists, built once: the table never changes after. */
static struct sl_xlate_pair composed[SL_WIRE_COUNT][SL_WIRE_COUNT];
static pthread_once_t composed_once = PTHREAD_ONCE_INIT;

static void compose_all(void)
{
    for (int f = 0; f < SL_WIRE_COUNT; f++) {
        for (int t = 0; t < SL_WIRE_COUNT; t++) {
            const struct sl_xlate_pair *a = direct((enum sl_wire)f, SL_WIRE_CHAT);
            const struct sl_xlate_pair *b = direct(SL_WIRE_CHAT, (enum sl_wire)t);
            if (f == t || f == SL_WIRE_CHAT || t == SL_WIRE_CHAT || a == NULL || b == NULL)
                continue;
            composed[f][t] = (struct sl_xlate_pair){
                .from = (enum sl_wire)f, .to = (enum sl_wire)t, .via = {a, b}};
        }
    }
}

const struct sl_xlate_pair *sl_xlate_for(enum sl_wire from, enum sl_wire to)
{
    const struct sl_xlate_pair *p = direct(from, to);
    if (p != NULL || from == to || (unsigned)from >= SL_WIRE_COUNT || (unsigned)to >= SL_WIRE_COUNT)
        return p;
    pthread_once(&composed_once, compose_all);
    return composed[from][to].via[0] != NULL ? &composed[from][to] : NULL;
}

int sl_xlate_request(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                     struct sl_str body, struct sl_buf *out, char *why, size_t whylen)
{
    if (p->via[0] == NULL)
        return p->request(c, body, out, why, whylen);
    struct sl_buf chat;
    sl_buf_init(&chat, out->_max);
    int rc = p->via[0]->request(c, body, &chat, why, whylen);
    if (rc == SL_OK)
        rc = p->via[1]->request(c, sl_buf_str(&chat), out, why, whylen);
    sl_buf_dispose(&chat);
    return rc;
}

int sl_xlate_response(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                      struct sl_str body, struct sl_buf *out, struct sl_usage *usage, char *why,
                      size_t whylen)
{
    if (p->via[0] == NULL)
        return p->response(c, body, out, usage, why, whylen);
    struct sl_buf chat;
    sl_buf_init(&chat, out->_max);
    int rc = p->via[1]->response(c, body, &chat, usage, why, whylen);
    if (rc == SL_OK)
        rc = p->via[0]->response(c, sl_buf_str(&chat), out, usage, why, whylen);
    sl_buf_dispose(&chat);
    return rc;
}

/* Upstream events (to's wire) become chat events, which become the caller's (from's wire). */
struct sl_filter *sl_xlate_stream(const struct sl_xlate_pair *p, h2o_mem_pool_t *pool,
                                  const struct sl_xlate_ctx *c, struct sl_usage *usage,
                                  struct sl_filter *next)
{
    if (p->via[0] == NULL)
        return p->stream(pool, c, usage, next);
    struct sl_xlate_ctx *inner = h2o_mem_alloc_pool(pool, sizeof(*inner));
    *inner = *c;
    inner->include_usage = true; /* the outer stage reports usage from the chat usage chunk */
    struct sl_filter *outer = p->via[0]->stream(pool, c, usage, next);
    return p->via[1]->stream(pool, inner, usage, outer);
}
