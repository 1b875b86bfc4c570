#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "oauth.h"
#include "sluice/base.h"
#include "sluice/clock.h"

#define ENTRA_SCOPE  "https://cognitiveservices.azure.com/.default"
#define GOOGLE_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define JWT_GRANT    "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define MAX_TOKENS   4096
#define MAX_FIELD    (16u << 10)
#define TOKEN_PREFIX "mock-token-"

struct issued {
    char token[48];
    uint64_t expires_ms; /* monotonic */
};

static struct {
    struct mock_oauth_cfg cfg;
    EVP_PKEY *pub;
    pthread_mutex_t mu;
    struct issued ring[MAX_TOKENS];
    size_t next;
    uint64_t seq;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t now_ms(void)
{
    return sl_now_us() / 1000;
}

void mock_oauth_init(const struct mock_oauth_cfg *cfg)
{
    g.cfg = *cfg;
    if (g.cfg.ttl_s == 0)
        g.cfg.ttl_s = 3600;
    if (cfg->public_key_file == NULL)
        return;
    FILE *f = fopen(cfg->public_key_file, "r");
    g.pub = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    if (g.pub == NULL) {
        fprintf(stderr, "sluice-mock: --oauth-public-key: cannot read a PEM public key from %s\n",
                cfg->public_key_file);
        exit(1);
    }
}

void mock_oauth_dispose(void)
{
    EVP_PKEY_free(g.pub);
    g.pub = NULL;
}

bool mock_oauth_is_token_path(struct sl_str path)
{
    const char *q = memchr(path.ptr, '?', path.len);
    if (q != NULL)
        path.len = (size_t)(q - path.ptr);
    return sl_str_ends_with(path, SL_STRLIT("/oauth2/v2.0/token")) ||
           sl_str_eq_lit(path, "/token") || sl_str_ends_with(path, SL_STRLIT("/oauth2/token"));
}

/* ---- issued tokens ---- */

static void issue(char *out, size_t cap, const char *kind)
{
    pthread_mutex_lock(&g.mu);
    struct issued *t = &g.ring[g.next];
    g.next = (g.next + 1) % MAX_TOKENS;
    snprintf(t->token, sizeof(t->token), TOKEN_PREFIX "%s-%llu", kind, (unsigned long long)++g.seq);
    t->expires_ms = now_ms() + g.cfg.ttl_s * 1000;
    snprintf(out, cap, "%s", t->token);
    pthread_mutex_unlock(&g.mu);
}

static struct sl_str bearer(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return SL_STR_NULL;
    struct sl_str v = {req->headers.entries[i].value.base, req->headers.entries[i].value.len};
    if (v.len <= 7 || strncasecmp(v.ptr, "Bearer ", 7) != 0)
        return SL_STR_NULL;
    return sl_str_trim(sl_str_init(v.ptr + 7, v.len - 7));
}

bool mock_oauth_has_bearer(h2o_req_t *req)
{
    return bearer(req).len != 0;
}

bool mock_oauth_bearer_ok(h2o_req_t *req)
{
    struct sl_str t = bearer(req);
    bool ok = false;
    if (t.len == 0)
        return false;
    if (g.cfg.static_token.ptr != NULL && sl_str_eq(t, g.cfg.static_token))
        return true;
    pthread_mutex_lock(&g.mu);
    uint64_t now = now_ms();
    for (size_t i = 0; i < MAX_TOKENS && !ok; i++)
        ok = g.ring[i].token[0] != '\0' && sl_str_eq(t, sl_str_from_cstr(g.ring[i].token)) &&
             now < g.ring[i].expires_ms;
    pthread_mutex_unlock(&g.mu);
    return ok;
}

/* ---- forms ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The decoded value of name in an application/x-www-form-urlencoded body, into the pool; ptr
 * NULL when absent or malformed. */
static struct sl_str form_value(h2o_req_t *req, struct sl_str body, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = body.ptr, *end = body.ptr + body.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t n = (size_t)(stop - v);
            if (n > MAX_FIELD)
                return SL_STR_NULL;
            char *out = h2o_mem_alloc_pool(&req->pool, n + 1);
            size_t o = 0;
            for (size_t i = 0; i < n; i++) {
                if (v[i] == '+') {
                    out[o++] = ' ';
                } else if (v[i] == '%') {
                    if (i + 2 >= n)
                        return SL_STR_NULL;
                    int hi = hexval(v[i + 1]), lo = hexval(v[i + 2]);
                    if (hi < 0 || lo < 0)
                        return SL_STR_NULL;
                    out[o++] = (char)(hi << 4 | lo);
                    i += 2;
                } else {
                    out[o++] = v[i];
                }
            }
            out[o] = '\0';
            return sl_str_init(out, o);
        }
        p = stop + 1;
    }
    return SL_STR_NULL;
}

/* ---- answers ---- */

static int answer(struct mock_worker *w, h2o_req_t *req, int status, struct sl_str body)
{
    struct mock_opts o;
    mock_opts_init(&o, &mock__cfg()->defaults);
    o.latency_ms = g.cfg.latency_ms;
    return mock__respond_body(w, req, &o, status, body);
}

static int oauth_error(struct mock_worker *w, h2o_req_t *req, int status, const char *error,
                       const char *description)
{
    char *buf = h2o_mem_alloc_pool(&req->pool, 512);
    struct sl_str d = mock__escape_pool(req, sl_str_from_cstr(description));
    int n = snprintf(buf, 512, "{\"error\":\"%s\",\"error_description\":%.*s}", error,
                     (int)SL_MIN(d.len, (size_t)400), d.ptr);
    rec_count(&w->counters, REC_TOKEN_ERRORS, 1);
    return answer(w, req, status, sl_str_init(buf, (size_t)SL_MIN(n, 511)));
}

static int grant(struct mock_worker *w, h2o_req_t *req, const char *kind)
{
    char token[48];
    char *buf = h2o_mem_alloc_pool(&req->pool, 256);
    issue(token, sizeof(token), kind);
    int n = snprintf(buf, 256,
                     "{\"token_type\":\"Bearer\",\"expires_in\":%llu,\"ext_expires_in\":%llu,"
                     "\"access_token\":\"%s\"}",
                     (unsigned long long)g.cfg.ttl_s, (unsigned long long)g.cfg.ttl_s, token);
    rec_count(&w->counters, REC_TOKENS, 1);
    return answer(w, req, 200, sl_str_init(buf, (size_t)n));
}

static int entra(struct mock_worker *w, h2o_req_t *req, struct sl_str body)
{
    struct sl_str gt = form_value(req, body, "grant_type"), id = form_value(req, body, "client_id"),
                  secret = form_value(req, body, "client_secret"),
                  scope = form_value(req, body, "scope");
    if (!sl_str_eq_lit(gt, "client_credentials"))
        return oauth_error(w, req, 400, "unsupported_grant_type",
                           "AADSTS70003: The app requested an unsupported grant type.");
    if (id.len == 0 || secret.len == 0)
        return oauth_error(w, req, 400, "invalid_request",
                           "AADSTS900144: The request body must contain the following parameter: "
                           "'client_id' and 'client_secret'.");
    if (!sl_str_eq_lit(scope, ENTRA_SCOPE))
        return oauth_error(w, req, 400, "invalid_scope",
                           "AADSTS70011: The provided value for the input parameter 'scope' is "
                           "not valid.");
    struct sl_str want = g.cfg.entra_client;
    if (want.ptr != NULL) {
        const char *colon = memchr(want.ptr, ':', want.len);
        struct sl_str wid = sl_str_init(want.ptr, (size_t)(colon - want.ptr));
        struct sl_str wsecret = sl_str_init(colon + 1, want.len - wid.len - 1);
        if (!sl_str_eq(id, wid))
            return oauth_error(w, req, 400, "unauthorized_client",
                               "AADSTS700016: Application not found in the directory.");
        if (secret.len != wsecret.len || CRYPTO_memcmp(secret.ptr, wsecret.ptr, secret.len) != 0)
            return oauth_error(w, req, 401, "invalid_client",
                               "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                               "being sent in the request is the client secret value, not the "
                               "client secret ID.");
    }
    return grant(w, req, "entra");
}

/* base64url (no padding) into the pool; NULL on a bad character. */
static unsigned char *b64url(h2o_req_t *req, struct sl_str s, size_t *len)
{
    unsigned char *out = h2o_mem_alloc_pool(&req->pool, s.len + 4);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0)
            return NULL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *len = n;
    return out;
}

static bool verify(const char *signed_part, size_t signed_len, const unsigned char *sig,
                   size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok =
        md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g.pub) == 1 &&
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* The claims a Google service account assertion must carry. Returns NULL or why not. */
static const char *check_claims(json_t *c, struct sl_str path, h2o_req_t *req)
{
    json_t *iat = json_object_get(c, "iat"), *exp = json_object_get(c, "exp");
    const char *aud = json_string_value(json_object_get(c, "aud"));
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *scope = json_string_value(json_object_get(c, "scope"));
    int64_t now = (int64_t)time(NULL);
    if (iss == NULL || iss[0] == '\0')
        return "Invalid JWT: iss is missing.";
    if (scope == NULL || strstr(scope, GOOGLE_SCOPE) == NULL)
        return "Invalid JWT: scope does not include cloud-platform.";
    /* aud is the token URI the key was minted for: this very endpoint. */
    SL_UNUSED(req);
    if (aud == NULL || !sl_str_ends_with(sl_str_from_cstr(aud), path) || strstr(aud, "://") == NULL)
        return "Invalid JWT: audience does not match the token endpoint.";
    if (!json_is_integer(iat) || !json_is_integer(exp))
        return "Invalid JWT: iat and exp must be integers.";
    if (json_integer_value(iat) > now + 60 || json_integer_value(exp) <= now)
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
               "timeframe. Check your iat and exp values in the JWT claim.";
    if (json_integer_value(exp) - json_integer_value(iat) > 3600)
        return "Invalid JWT: Token must be a short-lived token (60 minutes).";
    return NULL;
}

static int google(struct mock_worker *w, h2o_req_t *req, struct sl_str body, struct sl_str path)
{
    struct sl_str gt = form_value(req, body, "grant_type"),
                  jwt = form_value(req, body, "assertion");
    const char *dot1, *dot2;
    if (!sl_str_eq_lit(gt, JWT_GRANT))
        return oauth_error(w, req, 400, "unsupported_grant_type", "Invalid grant_type: ");
    if (jwt.len == 0 || (dot1 = memchr(jwt.ptr, '.', jwt.len)) == NULL ||
        (dot2 = memchr(dot1 + 1, '.', (size_t)(jwt.ptr + jwt.len - dot1 - 1))) == NULL)
        return oauth_error(w, req, 400, "invalid_grant", "Invalid JWT: not a compact JWS.");
    size_t hlen, clen, slen;
    unsigned char *h = b64url(req, sl_str_init(jwt.ptr, (size_t)(dot1 - jwt.ptr)), &hlen);
    unsigned char *c = b64url(req, sl_str_init(dot1 + 1, (size_t)(dot2 - dot1 - 1)), &clen);
    unsigned char *s =
        b64url(req, sl_str_init(dot2 + 1, (size_t)(jwt.ptr + jwt.len - dot2 - 1)), &slen);
    if (h == NULL || c == NULL || s == NULL)
        return oauth_error(w, req, 400, "invalid_grant", "Invalid JWT: bad base64url.");
    json_t *header = json_loadb((const char *)h, hlen, 0, NULL);
    json_t *claims = json_loadb((const char *)c, clen, 0, NULL);
    const char *why = NULL;
    const char *alg = header != NULL ? json_string_value(json_object_get(header, "alg")) : NULL;
    if (claims == NULL || alg == NULL || strcmp(alg, "RS256") != 0)
        why = "Invalid JWT: expected an RS256 header and JSON claims.";
    else if (g.pub == NULL)
        why = "Invalid JWT Signature. (sluice-mock has no --oauth-public-key)";
    else if (!verify(jwt.ptr, (size_t)(dot2 - jwt.ptr), s, slen))
        why = "Invalid JWT Signature.";
    else
        why = check_claims(claims, path, req);
    json_decref(header);
    json_decref(claims);
    if (why != NULL)
        return oauth_error(w, req, 400, "invalid_grant", why);
    return grant(w, req, "google");
}

int mock_oauth_handle(struct mock_worker *w, h2o_req_t *req)
{
    struct sl_str path = {req->path_normalized.base, req->path_normalized.len};
    struct sl_str body = {req->entity.base, req->entity.len};
    rec_count(&w->counters, REC_TOKEN_REQUESTS, 1);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
        return oauth_error(w, req, 405, "invalid_request", "use POST");
    if (sl_str_ends_with(path, SL_STRLIT("/oauth2/v2.0/token")))
        return entra(w, req, body);
    return google(w, req, body, path);
}
