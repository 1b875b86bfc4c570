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

#include "head.h"
#include "sluice/base.h"
#include "sluice/bedrock.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/provider.h"
#include "sluice/put.h"
#include "sluice/sigv4.h"

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

/* Responses callers reach chat models through chat (responses -> chat -> Converse); Bedrock has
 * no stored responses, so SL_OP_RESPONSE_STATE is never served. */
static enum sl_wire wire_for(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller)
{
    (void)key;
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
    case SL_OP_RESPONSE_STATE:
        break;
    }
    return SL_WIRE_COUNT;
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

/* "/model/" + the id as one encoded segment + the operation (below the base path), in pool
 * memory. */
static struct sl_str request_path(h2o_mem_pool_t *pool, const struct sl_upstream_call *call)
{
    struct sl_buf b;
    struct sl_str model = call->model;
    if (model.len > MAX_MODEL_ID)
        model.len = MAX_MODEL_ID; /* Bedrock refuses it anyway, naming the model */
    sl_buf_init(&b, 3 * model.len + 64);
    SL_ASSERT(sl_buf_append_str(&b, SL_STRLIT("/model/")) == SL_OK &&
              sl_sigv4_encode_segment(&b, model) == SL_OK &&
              sl_buf_append_str(&b, sl_str_from_cstr(operation(call->wire, call->stream))) ==
                  SL_OK);
    h2o_iovec_t v = h2o_strdup(pool, b.ptr, b.len);
    sl_buf_dispose(&b);
    return sl_str_from_iov(v);
}

/* The path as signed: the base path and the request path, in pool memory. */
static struct sl_str signed_path(h2o_mem_pool_t *pool, const struct sl_origin *o, struct sl_str rel)
{
    size_t blen = strlen(o->base_path);
    char *p = h2o_mem_alloc_pool(pool, blen + rel.len + 1);
    memcpy(p, o->base_path, blen);
    memcpy(p + blen, rel.ptr, rel.len);
    return sl_str_init(p, blen + rel.len);
}

static void put_header(struct sl__head *h, struct sl_str name, struct sl_str value)
{
    h->w = SL_PUT_LIT(h->w, "\r\n");
    h->w = sl_put(h->w, name.ptr, name.len);
    h->w = SL_PUT_LIT(h->w, ": ");
    h->w = sl_put(h->w, value.ptr, value.len);
}

/* The head is the shared one (head.h): the request line and Host, then Bedrock's own headers,
 * then the common tail. The signature covers Host and the tail's Content-Type and Accept with
 * exactly the values sent (the tail's Accept is set here to what Bedrock answers with), and
 * X-Amzn-Bedrock-Accept when sent; the tail's other headers are not signed (SigV4 needs Host
 * and the X-Amz-* ones; a proxy may rewrite User-Agent). */
static void build_request(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs)
{
    const struct sl_origin *o = &key->origin;
    struct sl_str rel = request_path(pool, call);
    /* What the reply comes in: AWS's event stream for the streamed operations, JSON otherwise. */
    struct sl_str accept = call->stream ? SL_STRLIT("application/vnd.amazon.eventstream")
                                        : SL_STRLIT("application/json");
    struct sl_sigv4_header hd[MAX_HEADERS];
    size_t nh = 0;
    struct sl_sigv4_out sig = {0};
    hd[nh++] = (struct sl_sigv4_header){SL_STRLIT("Host"), sl_str_from_cstr(o->authority)};
    hd[nh++] = (struct sl_sigv4_header){SL_STRLIT("Content-Type"), SL_STRLIT("application/json")};
    hd[nh++] = (struct sl_sigv4_header){SL_STRLIT("Accept"), accept};
    /* What the model's body is in, for a streamed InvokeModel (the plain one says it with
       Accept); Converse has no such header. */
    bool bedrock_accept = call->wire != SL_WIRE_BEDROCK_CONVERSE && call->stream;
    if (bedrock_accept)
        hd[nh++] = (struct sl_sigv4_header){SL_STRLIT("X-Amzn-Bedrock-Accept"),
                                            SL_STRLIT("application/json")};
    SL_ASSERT(nh <= MAX_HEADERS);
    if (key->aws != NULL)
        sign(pool, key, call, signed_path(pool, o, rel), hd, nh, &sig);
    size_t extra = 256 + sig.authorization.len + sig.amz_date.len + sig.security_token.len +
                   (key->auth_header != NULL ? strlen(key->auth_header) : 0);
    struct sl__head h;
    sl__head_start(&h, pool, o, call, rel, extra);
    h.accept = accept;
    if (bedrock_accept)
        put_header(&h, hd[3].name, hd[3].value);
    if (key->aws != NULL && sig.authorization.len != 0) {
        put_header(&h, SL_STRLIT("X-Amz-Date"), sig.amz_date);
        if (sig.security_token.len != 0)
            put_header(&h, SL_STRLIT("X-Amz-Security-Token"), sig.security_token);
        put_header(&h, SL_STRLIT("Authorization"), sig.authorization);
    } else if (key->aws == NULL) {
        put_header(&h, SL_STRLIT("Authorization"), sl_str_from_cstr(key->auth_header));
    }
    sl__head_finish(&h, pool, call, bufs, nbufs);
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
    .classify = classify,
};
