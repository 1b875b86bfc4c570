/* The Gemini API (generativelanguage.googleapis.com): {api_base}/models/{model}:generateContent,
 * :streamGenerateContent?alt=sse and :batchEmbedContents, with "x-goog-api-key: <key>". Bodies are
 * always translated (src/xlate/ the gemini files): callers speak chat, Anthropic or embeddings.
 * Also the Google error envelope, which Vertex AI shares. */
#include <string.h>

#include "head.h"
#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/provider.h"

#include "provider_internal.h"

/* Every generation goes to generateContent (chat, Anthropic and Responses callers through the
 * chat translation), embeddings to batchEmbedContents; legacy completions, count_tokens and
 * stored responses have no counterpart. */
static enum sl_wire wire_for(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller)
{
    SL_UNUSED(key);
    SL_UNUSED(model);
    SL_UNUSED(caller);
    switch (op) {
    case SL_OP_CHAT:
        return SL_WIRE_GEMINI;
    case SL_OP_EMBEDDINGS:
        return SL_WIRE_GEMINI_EMBED;
    case SL_OP_COMPLETIONS:
    case SL_OP_COUNT_TOKENS:
    case SL_OP_RESPONSE_STATE:
        break;
    }
    return SL_WIRE_COUNT;
}

/* "/models/{id}", or "/tunedModels/{id}" for a tuned model; a pasted "models/" prefix is
 * dropped. */
static char *put_model(char *w, struct sl_str model)
{
    static const struct sl_str models = SL_STR_INIT("models/"), tuned = SL_STR_INIT("tunedModels/");
    if (sl_str_starts_with(model, tuned)) {
        w = SL_PUT_LIT(w, "/tunedModels/");
        return sl__put_segment(w, sl_str_init(model.ptr + tuned.len, model.len - tuned.len));
    }
    if (sl_str_starts_with(model, models))
        model = sl_str_init(model.ptr + models.len, model.len - models.len);
    w = SL_PUT_LIT(w, "/models/");
    return sl__put_segment(w, model);
}

static const char *method(const struct sl_upstream_call *call)
{
    if (call->wire == SL_WIRE_GEMINI_EMBED)
        return ":batchEmbedContents";
    return call->stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
}

static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    const char *m = method(call);
    SL_ASSERT(call->method == NULL && call->path.len == 0); /* wire_for admits no stored resource */
    /* "/models/{model}{method}" or "/tunedModels/{model}{method}" */
    size_t cap = sizeof("/tunedModels/") + sl__segment_bound(call->model) + strlen(m);
    char *path = h2o_mem_alloc_pool(pool, cap), *w = path;
    w = put_model(w, call->model);
    w = sl_put_cstr(w, m);
    SL_ASSERT((size_t)(w - path) < cap);
    struct sl__head h;
    sl__head_start(&h, pool, &key->origin, call, sl_str_init(path, (size_t)(w - path)),
                   strlen(key->api_key) + 32);
    h.w = SL_PUT_LIT(h.w, "\r\nx-goog-api-key: ");
    h.w = sl_put_cstr(h.w, key->api_key);
    sl__head_finish(&h, pool, call, bufs, nbufs);
}

/* RetryInfo's retryDelay ("37s", "1.5s") as whole seconds, rounded up: a slice of the value, or
 * "1" for less than a second. */
static struct sl_str retry_delay(struct sl_str d)
{
    size_t n = 0;
    if (d.len < 3 || d.ptr[0] != '"')
        return SL_STR_NULL;
    d = sl_str_init(d.ptr + 1, d.len - 2);
    while (n < d.len && d.ptr[n] >= '0' && d.ptr[n] <= '9')
        n++;
    if (n == 0 || n > 6 || n == d.len || (d.ptr[n] != 's' && d.ptr[n] != '.'))
        return SL_STR_NULL;
    if (n == 1 && d.ptr[0] == '0')
        return SL_STRLIT("1");
    return sl_str_init(d.ptr, n);
}

/* details[]: ErrorInfo.reason becomes the code, RetryInfo.retryDelay the retry hint. */
static void details(struct sl_str arr, struct sl_upstream_error_info *out)
{
    static const struct sl_str keys[] = {SL_STR_INIT("@type"), SL_STR_INIT("reason"),
                                         SL_STR_INIT("retryDelay")};
    struct sl_json_iter it;
    struct sl_json_member v, f[3];
    if (sl_json_iter_init(&it, arr, SL_JSON_DEFAULT_MAX_DEPTH) != SL_OK)
        return;
    while (sl_json_iter_next(&it, NULL, &v) == 1) {
        if (v.type != SL_JSON_OBJECT ||
            sl_json_scan_object(v.value, SL_JSON_DEFAULT_MAX_DEPTH, keys, 3, f, NULL) != SL_OK)
            continue;
        if (f[1].type == SL_JSON_STRING && out->code.len == 0)
            out->code = f[1].value;
        if (f[2].type == SL_JSON_STRING && out->retry_after.len == 0)
            out->retry_after = retry_delay(f[2].value);
    }
}

/* {"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED", "details": [...]}}
 * (also inside a one-element array, as streamGenerateContent without alt=sse sends it). The
 * status becomes the type (and the code, unless ErrorInfo names a reason). Anthropic-shaped
 * bodies (Claude on Vertex) are read as the OpenAI reader reads them. */
bool sl_provider_google_error(struct sl_str body, struct sl_upstream_error_info *out)
{
    static const struct sl_str top[] = {SL_STR_INIT("error")};
    static const struct sl_str inner[] = {SL_STR_INIT("message"), SL_STR_INIT("status"),
                                          SL_STR_INIT("details"), SL_STR_INIT("type")};
    struct sl_json_member t[1], in[4];
    struct sl_str b = sl_str_trim(body);
    *out = (struct sl_upstream_error_info){0};
    if (b.len > 2 && b.ptr[0] == '[') {
        struct sl_json_iter it;
        struct sl_json_member first;
        if (sl_json_iter_init(&it, b, SL_JSON_DEFAULT_MAX_DEPTH) != SL_OK ||
            sl_json_iter_next(&it, NULL, &first) != 1)
            return false;
        b = first.value;
    }
    if (sl_json_scan_object(b, SL_JSON_DEFAULT_MAX_DEPTH, top, 1, t, NULL) != SL_OK ||
        t[0].type != SL_JSON_OBJECT ||
        sl_json_scan_object(t[0].value, SL_JSON_DEFAULT_MAX_DEPTH, inner, 4, in, NULL) != SL_OK)
        return sl_provider_openai.parse_error(body, out);
    if (in[1].type != SL_JSON_STRING)
        return sl_provider_openai.parse_error(b, out);
    if (in[0].type == SL_JSON_STRING)
        out->message = in[0].value;
    out->type = in[1].value;
    if (in[2].type == SL_JSON_ARRAY)
        details(in[2].value, out);
    if (out->code.len == 0)
        out->code = in[1].value;
    return out->message.len != 0;
}

static bool retryable_status(int status)
{
    return status >= 500 && status <= 599;
}

const struct sl_provider_ops sl_provider_gemini = {
    .name = "gemini",
    .wire_for = wire_for,
    .build_request = build_request,
    .parse_error = sl_provider_google_error,
    .retryable_status = retryable_status,
};
