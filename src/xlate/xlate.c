/* The pair table (xlate.h): which translators connect a caller's wire to an upstream's. Every
 * wire has its pairs with chat only; a caller of one wire reaching an upstream of another goes
 * through chat both ways (a composed pair, below). */
#include <stddef.h>

#include "sluice/base.h"
#include "sluice/xlate.h"
#include "xlate_internal.h"

static const char *const wire_names[SL_WIRE_COUNT] = {
    [SL_WIRE_CHAT] = "chat",
    [SL_WIRE_COMPLETIONS] = "completions",
    [SL_WIRE_EMBEDDINGS] = "embeddings",
    [SL_WIRE_ANTHROPIC] = "anthropic",
    [SL_WIRE_GEMINI] = "gemini",
    [SL_WIRE_GEMINI_EMBED] = "gemini_embed",
};

const char *sl_wire_name(enum sl_wire w)
{
    if ((unsigned)w >= SL_WIRE_COUNT)
        return "unknown";
    return wire_names[w];
}

/* An OpenAI SDK caller reaching a Claude model. */
static const struct sl_xlate_pair chat_anthropic = {
    .from = SL_WIRE_CHAT,
    .to = SL_WIRE_ANTHROPIC,
    .request = sl__xlate_chat_to_anthropic_request,
    .response = sl__xlate_anthropic_to_chat_response,
    .stream = sl__xlate_anthropic_to_chat_stream,
};

/* A Claude SDK (or Claude Code) caller reaching an OpenAI-compatible model. */
static const struct sl_xlate_pair anthropic_chat = {
    .from = SL_WIRE_ANTHROPIC,
    .to = SL_WIRE_CHAT,
    .request = sl__xlate_anthropic_to_chat_request,
    .response = sl__xlate_chat_to_anthropic_response,
    .stream = sl__xlate_chat_to_anthropic_stream,
};

/* An OpenAI SDK caller reaching a Gemini model (Gemini API or Vertex AI). */
static const struct sl_xlate_pair chat_gemini = {
    .from = SL_WIRE_CHAT,
    .to = SL_WIRE_GEMINI,
    .request = sl__xlate_chat_to_gemini_request,
    .response = sl__xlate_gemini_to_chat_response,
    .stream = sl__xlate_gemini_to_chat_stream,
};

/* OpenAI embeddings served by batchEmbedContents (JSON only: embeddings do not stream). */
static const struct sl_xlate_pair embeddings_gemini = {
    .from = SL_WIRE_EMBEDDINGS,
    .to = SL_WIRE_GEMINI_EMBED,
    .request = sl__xlate_embeddings_to_gemini_request,
    .response = sl__xlate_gemini_to_embeddings_response,
    .stream = NULL,
};

static const struct sl_xlate_pair *const direct[] = {
    &chat_anthropic,
    &anthropic_chat,
    &chat_gemini,
    &embeddings_gemini,
};

/* ---- composition through chat: X -> chat -> Y ---- */

/* caller (X -> chat), upstream (chat -> Y): the request goes through both in that order, the
 * response and the stream back through upstream's then caller's. */
struct composed {
    struct sl_xlate_pair pair;
    const struct sl_xlate_pair *caller, *upstream;
};

/* The intermediate chat body may be as large as the final one: it shares out's cap. */
static int compose_request(const struct composed *k, const struct sl_xlate_ctx *c,
                           struct sl_str body, struct sl_buf *out, char *why, size_t whylen)
{
    struct sl_buf mid;
    sl_buf_init(&mid, out->_max);
    int rc = k->caller->request(c, body, &mid, why, whylen);
    if (rc == SL_OK)
        rc = k->upstream->request(c, sl_buf_str(&mid), out, why, whylen);
    sl_buf_dispose(&mid);
    return rc;
}

static int compose_response(const struct composed *k, const struct sl_xlate_ctx *c,
                            struct sl_str body, struct sl_buf *out, struct sl_usage *usage,
                            char *why, size_t whylen)
{
    struct sl_buf mid;
    sl_buf_init(&mid, out->_max);
    int rc = k->upstream->response(c, body, &mid, usage, why, whylen);
    if (rc == SL_OK)
        rc = k->caller->response(c, sl_buf_str(&mid), out, usage, why, whylen);
    sl_buf_dispose(&mid);
    return rc;
}

/* Two stages: upstream events -> chat chunks -> caller events. The chat stage always sends its
 * usage chunk, which the caller's stage reads (both fill the same usage). */
static struct sl_filter *compose_stream(const struct composed *k, h2o_mem_pool_t *pool,
                                        const struct sl_xlate_ctx *c, struct sl_usage *usage,
                                        struct sl_filter *next)
{
    struct sl_xlate_ctx inner = *c;
    inner.include_usage = true;
    struct sl_filter *outer = k->caller->stream(pool, c, usage, next);
    return k->upstream->stream(pool, &inner, usage, outer);
}

/* Each composition needs its own functions (a pair's functions take no closure). The wires are
 * spelt out: a member of a const object is not a constant expression for every compiler. */
#define SL_XLATE_COMPOSED(name, from_wire, to_wire, caller_pair, upstream_pair)                    \
    static const struct composed name;                                                             \
    static int name##_request(const struct sl_xlate_ctx *c, struct sl_str body,                    \
                              struct sl_buf *out, char *why, size_t whylen)                        \
    {                                                                                              \
        return compose_request(&name, c, body, out, why, whylen);                                  \
    }                                                                                              \
    static int name##_response(const struct sl_xlate_ctx *c, struct sl_str body,                   \
                               struct sl_buf *out, struct sl_usage *usage, char *why,              \
                               size_t whylen)                                                      \
    {                                                                                              \
        return compose_response(&name, c, body, out, usage, why, whylen);                          \
    }                                                                                              \
    static struct sl_filter *name##_stream(h2o_mem_pool_t *pool, const struct sl_xlate_ctx *c,     \
                                           struct sl_usage *usage, struct sl_filter *next)         \
    {                                                                                              \
        return compose_stream(&name, pool, c, usage, next);                                        \
    }                                                                                              \
    static const struct composed name = {                                                          \
        .pair = {.from = (from_wire),                                                              \
                 .to = (to_wire),                                                                  \
                 .request = name##_request,                                                        \
                 .response = name##_response,                                                      \
                 .stream = name##_stream},                                                         \
        .caller = &(caller_pair),                                                                  \
        .upstream = &(upstream_pair),                                                              \
    }

/* A Claude SDK caller reaching a Gemini model. */
SL_XLATE_COMPOSED(anthropic_gemini, SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI, anthropic_chat, chat_gemini);

static const struct composed *const composed[] = {
    &anthropic_gemini,
};

const struct sl_xlate_pair *sl_xlate_for(enum sl_wire from, enum sl_wire to)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(direct); i++)
        if (direct[i]->from == from && direct[i]->to == to)
            return direct[i];
    for (size_t i = 0; i < SL_ARRAY_LEN(composed); i++)
        if (composed[i]->pair.from == from && composed[i]->pair.to == to)
            return &composed[i]->pair;
    return NULL;
}
