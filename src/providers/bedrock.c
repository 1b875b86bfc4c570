/* Amazon Bedrock Runtime upstreams (bedrock-runtime.{region}.amazonaws.com, or api_base):
 *
 *   POST /model/{id}/converse                     chat, through the Converse translation
 *   POST /model/{id}/converse-stream              ... streamed (AWS event stream framing)
 *   POST /model/{id}/invoke                       Anthropic callers of Claude models, with
 *   POST /model/{id}/invoke-with-response-stream  Anthropic's own body; Titan and Cohere embeds
 *
 * The model id goes into the path percent-encoded as one segment (its ':' and any '/' of an ARN
 * included). Requests are signed with SigV4 (service "bedrock") when the key holds AWS
 * credentials, or carry "Authorization: Bearer <Bedrock API key>". Errors come as a JSON
 * {"message"} with the error's name in the x-amzn-ErrorType header ("ThrottlingException:
 * http://internal.amazon.com/coral/...").
 *
 * Signing keys are derived once per UTC day and kept per credential per worker thread, in a
 * small table in thread-local storage found by the key's load serial (struct sl_aws_key): a
 * worker never touches another's, and a reload that frees a key and puts another at its address
 * cannot hand the new key the old one's derived secret. */
#include <string.h>

#include "sluice/base.h"
#include "sluice/bedrock.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/put.h"
#include "sluice/sigv4.h"
#include "sluice_version.h"

#define SERVICE "bedrock"
/* Signing caches one worker keeps: one per AWS key it signs for, the oldest evicted past this
 * (evicting costs one key derivation, about 5 us, the next time that key signs). */
#define CACHE_SLOTS 16
/* The longest model id put into a path (Bedrock's own limit is 2048). */
#define MAX_MODEL_ID 2048
#define MAX_HEADERS  4

/* ---- model ids ---- */

/* A cross-region inference profile's label: "us", "eu", "apac", "global", "us-gov", "jp", ... */
static bool is_region_label(struct sl_str s)
{
    if (s.len < 2 || s.len > 8)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!((s.ptr[i] >= 'a' && s.ptr[i] <= 'z') || s.ptr[i] == '-'))
            return false;
    return true;
}

struct sl_str sl_bedrock_base_model(struct sl_str id)
{
    const char *slash = NULL;
    for (size_t i = 0; i < id.len; i++)
        if (id.ptr[i] == '/')
            slash = id.ptr + i;
    if (slash != NULL)
        id = sl_str_init(slash + 1, id.len - (size_t)(slash + 1 - id.ptr));
    const char *dot = memchr(id.ptr, '.', id.len);
    if (dot == NULL)
        return id;
    struct sl_str label = sl_str_init(id.ptr, (size_t)(dot - id.ptr));
    struct sl_str rest = sl_str_init(dot + 1, id.len - label.len - 1);
    /* "us.anthropic.claude..." but not "anthropic.claude...": a publisher is followed by the
       model's name, which has no further '.' before its version in the ids that matter here,
       so only strip a label when what follows still names a publisher. */
    if (is_region_label(label) && memchr(rest.ptr, '.', rest.len) != NULL)
        return rest;
    return id;
}

bool sl_bedrock_is_claude(struct sl_str id)
{
    return sl_str_starts_with(sl_bedrock_base_model(id), SL_STRLIT("anthropic.claude"));
}

bool sl_bedrock_is_titan_embed(struct sl_str id)
{
    struct sl_str b = sl_bedrock_base_model(id);
    return sl_str_starts_with(b, SL_STRLIT("amazon.titan-embed-text")) ||
           sl_str_starts_with(b, SL_STRLIT("amazon.titan-embed-g1-text"));
}

bool sl_bedrock_is_cohere_embed(struct sl_str id)
{
    return sl_str_starts_with(sl_bedrock_base_model(id), SL_STRLIT("cohere.embed"));
}

/* ---- wires ---- */

static enum sl_wire wire_for_model(enum sl_op op, enum sl_wire caller, struct sl_str model)
{
    switch (op) {
    case SL_OP_CHAT:
        /* Claude SDKs get Claude's own API (every Anthropic field survives); everyone else goes
           through Converse, which speaks to every Bedrock chat model. */
        if (caller == SL_WIRE_ANTHROPIC && sl_bedrock_is_claude(model))
            return SL_WIRE_BEDROCK_ANTHROPIC;
        return SL_WIRE_BEDROCK_CONVERSE;
    case SL_OP_EMBEDDINGS:
        if (sl_bedrock_is_titan_embed(model))
            return SL_WIRE_BEDROCK_TITAN_EMBED;
        if (sl_bedrock_is_cohere_embed(model))
            return SL_WIRE_BEDROCK_COHERE_EMBED;
        break;
    case SL_OP_COMPLETIONS:
    case SL_OP_COUNT_TOKENS:
        break;
    }
    return SL_WIRE_COUNT;
}

/* Without the model: what a family-level question gets (the pipeline asks wire_for_model). */
static enum sl_wire wire_for(enum sl_op op, enum sl_wire caller)
{
    return wire_for_model(op, caller, SL_STR_NULL);
}

static const char *operation(enum sl_wire w, bool stream)
{
    switch (w) {
    case SL_WIRE_BEDROCK_CONVERSE:
        return stream ? "/converse-stream" : "/converse";
    case SL_WIRE_BEDROCK_ANTHROPIC:
        return stream ? "/invoke-with-response-stream" : "/invoke";
    case SL_WIRE_BEDROCK_TITAN_EMBED:
    case SL_WIRE_BEDROCK_COHERE_EMBED:
        return "/invoke";
    default:
        SL_ASSERT(!"not a Bedrock wire");
        return "/";
    }
}

/* ---- signing ---- */

struct cache_slot {
    uint64_t serial; /* 0: empty */
    struct sl_sigv4_cache *cache;
};

static _Thread_local struct cache_slot slots[CACHE_SLOTS];
static _Thread_local unsigned next_victim;

/* This worker's signing cache for key k. */
static struct sl_sigv4_cache *cache_for(const struct sl_aws_key *k)
{
    struct cache_slot *free_slot = NULL;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (slots[i].serial == k->serial)
            return slots[i].cache;
        if (slots[i].serial == 0 && free_slot == NULL)
            free_slot = &slots[i];
    }
    if (free_slot == NULL) {
        free_slot = &slots[next_victim++ % CACHE_SLOTS];
        sl_sigv4_cache_free(free_slot->cache);
    }
    free_slot->cache = sl_sigv4_cache_new();
    /* NULL only when libcrypto lacks HMAC or SHA-256: nothing could be signed at all. */
    SL_ASSERT(free_slot->cache != NULL);
    free_slot->serial = k->serial;
    return free_slot->cache;
}

/* Signs the request; *out is left empty (the request then goes unsigned, and Bedrock refuses it
 * with its own 403) when the signer refuses, which configuration checks make unreachable. */
static void sign(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                 const struct sl_upstream_call *call, struct sl_str path,
                 const struct sl_sigv4_header *h, size_t nh, struct sl_sigv4_out *out)
{
    const struct sl_aws_key *k = key->aws;
    struct sl_sigv4_creds creds = {
        .access_key_id = sl_str_from_cstr(k->access_key_id),
        .secret_access_key = sl_str_from_cstr(k->secret_access_key),
        .session_token =
            k->session_token != NULL ? sl_str_from_cstr(k->session_token) : SL_STR_NULL,
        .region = sl_str_from_cstr(k->region),
        .service = SL_STRLIT(SERVICE),
    };
    struct sl_sigv4_request req = {
        .method = SL_STRLIT("POST"),
        .path = path,
        .query = SL_STRLIT(""),
        .headers = h,
        .nheaders = nh,
        .body = call->body,
        .nbody = call->nbody,
        .now = call->unix_time,
    };
    if (sl_sigv4_sign(cache_for(k), &creds, &req, pool, out) == SL_OK)
        return;
    sl_log_error("bedrock: cannot sign the request for provider key \"%s\": %s", key->name,
                 out->why != NULL ? out->why : "unknown reason");
    *out = (struct sl_sigv4_out){0};
}

/* ---- the request ---- */

/* base_path + "/model/" + the id as one encoded segment + the operation, in pool memory. */
static struct sl_str request_path(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                                  const struct sl_upstream_call *call)
{
    struct sl_buf b;
    struct sl_str model = call->model;
    if (model.len > MAX_MODEL_ID)
        model.len = MAX_MODEL_ID; /* Bedrock refuses it anyway, naming the model */
    sl_buf_init(&b, strlen(key->origin.base_path) + 3 * model.len + 64);
    SL_ASSERT(sl_buf_append_str(&b, sl_str_from_cstr(key->origin.base_path)) == SL_OK &&
              sl_buf_append_str(&b, SL_STRLIT("/model/")) == SL_OK &&
              sl_sigv4_encode_segment(&b, model) == SL_OK &&
              sl_buf_append_str(&b, sl_str_from_cstr(operation(call->wire, call->stream))) ==
                  SL_OK);
    h2o_iovec_t v = h2o_strdup(pool, b.ptr, b.len);
    sl_buf_dispose(&b);
    return sl_str_from_iov(v);
}

static char *put_header(char *w, struct sl_str name, struct sl_str value)
{
    w = sl_put(w, name.ptr, name.len);
    w = SL_PUT_LIT(w, ": ");
    w = sl_put(w, value.ptr, value.len);
    return SL_PUT_LIT(w, "\r\n");
}

static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    const struct sl_origin *o = &key->origin;
    struct sl_str path = request_path(pool, key, call);
    struct sl_sigv4_header h[MAX_HEADERS];
    size_t nh = 0;
    struct sl_sigv4_out sig = {0};
    h[nh++] = (struct sl_sigv4_header){SL_STRLIT("Host"), sl_str_from_cstr(o->authority)};
    h[nh++] = (struct sl_sigv4_header){SL_STRLIT("Content-Type"), SL_STRLIT("application/json")};
    /* What the model's body is in (InvokeModel's Accept; the stream's own content type is AWS's
       event stream either way); Converse has no such header. */
    if (call->wire != SL_WIRE_BEDROCK_CONVERSE)
        h[nh++] = (struct sl_sigv4_header){call->stream ? SL_STRLIT("X-Amzn-Bedrock-Accept")
                                                        : SL_STRLIT("Accept"),
                                           SL_STRLIT("application/json")};
    if (key->aws != NULL)
        sign(pool, key, call, path, h, nh, &sig);
    size_t cap = 768 + strlen(o->authority) * 2 + path.len + call->request_id.len +
                 sig.authorization.len + sig.amz_date.len + sig.security_token.len +
                 (key->auth_header != NULL ? strlen(key->auth_header) : 0);
    char *head = h2o_mem_alloc_pool(pool, cap), *w = head;
    w = SL_PUT_LIT(w, "POST ");
    if (call->absolute_form) {
        w = sl_put_cstr(w, o->tls ? "https://" : "http://");
        w = sl_put_cstr(w, o->authority);
    }
    w = sl_put(w, path.ptr, path.len);
    w = SL_PUT_LIT(w, " HTTP/1.1\r\n");
    for (size_t i = 0; i < nh; i++)
        w = put_header(w, h[i].name, h[i].value);
    if (key->aws != NULL && sig.authorization.len != 0) {
        w = put_header(w, SL_STRLIT("X-Amz-Date"), sig.amz_date);
        if (sig.security_token.len != 0)
            w = put_header(w, SL_STRLIT("X-Amz-Security-Token"), sig.security_token);
        w = put_header(w, SL_STRLIT("Authorization"), sig.authorization);
    } else if (key->aws == NULL) {
        w = put_header(w, SL_STRLIT("Authorization"), sl_str_from_cstr(key->auth_header));
    }
    w = SL_PUT_LIT(w, "Accept-Encoding: identity\r\nUser-Agent: sluice/" SL_VERSION_BASE
                      "\r\nX-Request-Id: ");
    w = sl_put(w, call->request_id.ptr, call->request_id.len);
    w = SL_PUT_LIT(w, "\r\nContent-Length: ");
    w = sl_put_u64(w, call->body_len);
    w = SL_PUT_LIT(w, "\r\n\r\n");
    size_t n = (size_t)(w - head);
    SL_ASSERT(n < cap);
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v) * (call->nbody + 1));
    v[0] = h2o_iovec_init(head, n);
    memcpy(v + 1, call->body, sizeof(*v) * call->nbody);
    *bufs = v;
    *nbufs = call->nbody + 1;
}

/* ---- errors ---- */

/* AWS's own words when a signature is outside its 5-minute window ("Signature expired: ... is
 * now earlier than ..." or "Signature not yet current: ... is still later than ..."), said
 * plainly, as a JSON string literal. */
static const char clock_skew[] =
    "\"AWS refused the request signature as expired or not yet valid: the clock of the host "
    "running Sluice differs from AWS's by more than 5 minutes. Synchronise it (NTP).\"";

static bool is_clock_skew(struct sl_str message)
{
    return sl_str_starts_with(message, SL_STRLIT("\"Signature expired")) ||
           sl_str_starts_with(message, SL_STRLIT("\"Signature not yet current"));
}

/* {"message": "..."} (or "Message", as some AWS front ends write it). */
static bool parse_error(struct sl_str body, struct sl_upstream_error_info *out)
{
    static const struct sl_str keys[] = {SL_STR_INIT("message"), SL_STR_INIT("Message")};
    struct sl_json_member m[2];
    *out = (struct sl_upstream_error_info){0};
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) != SL_OK)
        return false;
    if (m[0].type == SL_JSON_STRING)
        out->message = m[0].value;
    else if (m[1].type == SL_JSON_STRING)
        out->message = m[1].value;
    if (is_clock_skew(out->message))
        out->message = SL_STRLIT(clock_skew);
    return out->message.len > 2;
}

/* x-amzn-ErrorType: "<Name>:<namespace URL>" or "<Name>". */
static struct sl_str error_type(const struct sl_upstream_head *h)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct phr_header *hd = &h->headers[i];
        if (hd->name == NULL ||
            !sl_str_ieq_lit(sl_str_init(hd->name, hd->name_len), "x-amzn-errortype"))
            continue;
        struct sl_str v = sl_str_trim(sl_str_init(hd->value, hd->value_len));
        const char *colon = memchr(v.ptr, ':', v.len);
        if (colon != NULL)
            v.len = (size_t)(colon - v.ptr);
        return v;
    }
    return SL_STR_NULL;
}

/* The statuses Bedrock's errors stand for, as callers should see them. */
static int classify(const struct sl_upstream_head *h, struct sl_str *type)
{
    static const struct {
        const char *type;
        int status;
    } map[] = {
        {"ThrottlingException", 429},
        {"ServiceQuotaExceededException", 429},
        {"ValidationException", 400},
        {"AccessDeniedException", 403},
        {"InvalidSignatureException", 403},
        {"UnrecognizedClientException", 401},
        {"ExpiredTokenException", 401},
        {"ResourceNotFoundException", 404},
        /* Not the caller's fault and gone on a retry: the retry budget applies, then 502. */
        {"ModelNotReadyException", 503},
        {"ServiceUnavailableException", 503},
        {"InternalServerException", 500},
        {"ModelTimeoutException", 504},
    };
    *type = error_type(h);
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++)
        if (sl_str_eq(*type, sl_str_from_cstr(map[i].type)))
            return map[i].status;
    return h->status;
}

/* 500, 502 and 503 (InternalServer, ModelNotReady, ServiceUnavailable); not a model timeout,
 * which would only time out again. */
static bool retryable_status(int status)
{
    return status >= 500 && status <= 599 && status != 504;
}

const struct sl_provider_ops sl_provider_bedrock = {
    .name = "bedrock",
    .wire_for = wire_for,
    .build_request = build_request,
    .parse_error = parse_error,
    .retryable_status = retryable_status,
    .wire_for_model = wire_for_model,
    .classify = classify,
};
