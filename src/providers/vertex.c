/* Vertex AI (reference 6): {api_base}/v1/projects/{project}/locations/{region}/publishers/... with
 * "Authorization: Bearer <token>"; api_base defaults to https://{region}-aiplatform.googleapis.com
 * (aiplatform.googleapis.com for the global region) and may override the host.
 *   - Gemini models: publishers/google/models/{m}:generateContent, :streamGenerateContent?alt=sse,
 *     with the Gemini translation (src/xlate/ the gemini files).
 *   - Claude models (model ids starting with "claude"): publishers/anthropic/models/{m}:rawPredict
 *     and :streamRawPredict, Anthropic's wire with the model named in the URL instead of the body
 *     and "anthropic_version": "vertex-2023-10-16" in the body (build_request adjusts the body,
 *     spliced or translated, below).
 * The token is the credential's access_token, or one traded for a service account's JWT. */
#include <string.h>

#include "head.h"
#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/provider.h"

#include "provider_internal.h"

#define VERTEX_ANTHROPIC_VERSION "vertex-2023-10-16"
#define VERSION_MEMBER           "\"anthropic_version\":\"" VERTEX_ANTHROPIC_VERSION "\""

static bool is_claude(struct sl_str model)
{
    return sl_str_starts_with(model, SL_STRLIT("claude"));
}

/* Claude models speak Anthropic's wire (count_tokens excepted: Vertex has no such endpoint
 * here); Gemini models generateContent (Responses callers of either through chat). Embeddings,
 * legacy completions and stored responses are not served. */
static enum sl_wire wire_for(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller)
{
    SL_UNUSED(key);
    SL_UNUSED(caller);
    if (op != SL_OP_CHAT)
        return SL_WIRE_COUNT;
    return is_claude(model) ? SL_WIRE_ANTHROPIC : SL_WIRE_GEMINI;
}

static int prepare(struct sl_provider_prep *p)
{
    const struct sl_cred *c = &p->key->cred;
    if (c->kind == SL_CRED_GCP_TOKEN) {
        p->token = sl_str_from_cstr(c->access_token); /* the generation outlives the request */
        return SL_OK;
    }
    return sl__provider_token_prepare(p);
}

static const char *method(const struct sl_upstream_call *call)
{
    if (call->wire == SL_WIRE_ANTHROPIC)
        return call->stream ? ":streamRawPredict" : ":rawPredict";
    return call->stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
}

/* The bytes from the member at m to the next member (its comma included), or, for the last
 * member, from the comma before it: removing them leaves a valid object. */
static struct sl_str member_span(struct sl_str obj, const struct sl_json_member *m)
{
    const char *start = m->member.ptr, *end = m->member.ptr + m->member.len;
    const char *limit = obj.ptr + obj.len;
    const char *p = end;
    while (p < limit && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p < limit && *p == ',') {
        p++;
        while (p < limit && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        return sl_str_init(start, (size_t)(p - start));
    }
    p = start;
    while (p > obj.ptr && p[-1] != ',' && p[-1] != '{')
        p--;
    if (p > obj.ptr && p[-1] == ',')
        p--;
    return sl_str_init(p, (size_t)(end - p));
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* An Anthropic body for rawPredict: "model" taken out (the URL names it) and anthropic_version
 * put first unless the body has its own. The body is the caller's spliced or translated, so it
 * is a valid object; one that is not is sent as it is (the upstream answers 400). */
static void vertex_body(h2o_mem_pool_t *pool, const struct sl_upstream_call *call, h2o_iovec_t *out)
{
    static const struct sl_str keys[] = {SL_STR_INIT("model"), SL_STR_INIT("anthropic_version")};
    struct sl_json_member m[2];
    char *flat = h2o_mem_alloc_pool(pool, call->body_len + 1), *w = flat;
    for (size_t i = 0; i < call->nbody; i++)
        w = sl_put(w, call->body[i].base, call->body[i].len);
    struct sl_str body = sl_str_init(flat, call->body_len);
    *out = h2o_iovec_init(flat, call->body_len);
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) != SL_OK)
        return;
    /* Without "model": the body with the member's span cut out. */
    struct sl_str cut = m[0].type != SL_JSON_ABSENT ? member_span(body, &m[0]) : SL_STR_NULL;
    char *rest = h2o_mem_alloc_pool(pool, body.len + 1);
    w = rest;
    if (cut.len != 0) {
        w = sl_put(w, flat, (size_t)(cut.ptr - flat));
        w = sl_put(w, cut.ptr + cut.len, (size_t)(flat + body.len - (cut.ptr + cut.len)));
    } else {
        w = sl_put(w, flat, body.len);
    }
    size_t rest_len = (size_t)(w - rest);
    if (m[1].type != SL_JSON_ABSENT) {
        *out = h2o_iovec_init(rest, rest_len);
        return;
    }
    const char *open = skip_ws(rest, rest + rest_len); /* the object's '{' */
    const char *after = skip_ws(open + 1, rest + rest_len);
    char *edited = h2o_mem_alloc_pool(pool, rest_len + sizeof(VERSION_MEMBER) + 2);
    w = sl_put(edited, rest, (size_t)(open + 1 - rest));
    w = SL_PUT_LIT(w, VERSION_MEMBER);
    if (after < rest + rest_len && *after != '}')
        *w++ = ',';
    w = sl_put(w, open + 1, (size_t)(rest + rest_len - (open + 1)));
    *out = h2o_iovec_init(edited, (size_t)(w - edited));
}

static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    const struct sl_cred *c = &key->cred;
    const char *m = method(call);
    struct sl_upstream_call adjusted = *call;
    h2o_iovec_t claude_body;
    SL_ASSERT(call->token.len != 0);
    SL_ASSERT(call->method == NULL && call->path.len == 0); /* wire_for admits no stored resource */
    if (call->wire == SL_WIRE_ANTHROPIC) {
        vertex_body(pool, call, &claude_body);
        adjusted.body = &claude_body;
        adjusted.nbody = 1;
        adjusted.body_len = claude_body.len;
    }
    /* "/v1/projects/{p}/locations/{r}/publishers/{google|anthropic}/models/{m}{method}" */
    size_t cap = sizeof("/v1/projects//locations//publishers/anthropic/models/") +
                 sl__segment_bound(sl_str_from_cstr(c->project)) +
                 sl__segment_bound(sl_str_from_cstr(c->region)) + sl__segment_bound(call->model) +
                 strlen(m);
    char *path = h2o_mem_alloc_pool(pool, cap), *w = path;
    w = SL_PUT_LIT(w, "/v1/projects/");
    w = sl__put_segment(w, sl_str_from_cstr(c->project));
    w = SL_PUT_LIT(w, "/locations/");
    w = sl__put_segment(w, sl_str_from_cstr(c->region));
    if (call->wire == SL_WIRE_ANTHROPIC)
        w = SL_PUT_LIT(w, "/publishers/anthropic/models/");
    else
        w = SL_PUT_LIT(w, "/publishers/google/models/");
    w = sl__put_segment(w, call->model);
    w = sl_put_cstr(w, m);
    SL_ASSERT((size_t)(w - path) < cap);
    struct sl__head h;
    sl__head_start(&h, pool, &key->origin, &adjusted, sl_str_init(path, (size_t)(w - path)),
                   call->token.len + 32);
    h.w = SL_PUT_LIT(h.w, "\r\nAuthorization: Bearer ");
    h.w = sl_put(h.w, call->token.ptr, call->token.len);
    sl__head_finish(&h, pool, &adjusted, bufs, nbufs);
}

/* 5xx, and Claude's 529 (overloaded) among them. */
static bool retryable_status(int status)
{
    return status >= 500 && status <= 599;
}

const struct sl_provider_ops sl_provider_vertex = {
    .name = "vertex",
    .wire_for = wire_for,
    .prepare = prepare,
    .build_request = build_request,
    .parse_error = sl_provider_google_error,
    .retryable_status = retryable_status,
};
