/* The mock's SigV4 check (aws_sigv4.h), written from AWS's description of the algorithm (the
 * General Reference's "Create a signed AWS API request"): canonical request, string to sign,
 * derived key, signature. Nothing is shared with src/providers/sigv4.c but the idea. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws_sigv4.h"
#include "sluice/base.h"
#include "sluice/buf.h"

#define ALGORITHM    "AWS4-HMAC-SHA256"
#define MAX_SKEW     300
#define MAX_SIGNED   64
#define MAX_PARAMS   128
#define MAX_SEGMENTS 128
#define CANON_CAP    (1u << 20)

static void hexify(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void encode(struct sl_buf *b, struct sl_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (unreserved(c))
            sl_buf_append(b, &s.ptr[i], 1);
        else
            sl_buf_appendf(b, "%%%02X", c);
    }
}

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

/* %XX decoded ('+' stays a plus, as AWS reads queries); into a new buffer. */
static void decode(struct sl_buf *b, struct sl_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '%' && i + 2 < s.len && hexval(s.ptr[i + 1]) >= 0 &&
            hexval(s.ptr[i + 2]) >= 0) {
            char c = (char)(hexval(s.ptr[i + 1]) * 16 + hexval(s.ptr[i + 2]));
            sl_buf_append(b, &c, 1);
            i += 2;
        } else {
            sl_buf_append(b, &s.ptr[i], 1);
        }
    }
}

/* The path with "." and ".." segments and empty segments removed, each segment encoded again
 * (so "%3A" on the wire is "%253A" here, as every non-S3 service signs it). */
static void canonical_uri(struct sl_buf *b, struct sl_str path)
{
    struct sl_str seg[MAX_SEGMENTS];
    size_t n = 0;
    bool trailing = path.len > 1 && path.ptr[path.len - 1] == '/';
    size_t i = 0;
    while (i < path.len) {
        size_t j = i;
        while (j < path.len && path.ptr[j] != '/')
            j++;
        struct sl_str s = sl_str_init(path.ptr + i, j - i);
        if (s.len == 0 || sl_str_eq_lit(s, ".")) {
            /* nothing */
        } else if (sl_str_eq_lit(s, "..")) {
            if (n > 0)
                n--;
        } else if (n < MAX_SEGMENTS) {
            seg[n++] = s;
        }
        i = j + 1;
    }
    for (size_t k = 0; k < n; k++) {
        sl_buf_append(b, "/", 1);
        encode(b, seg[k]);
    }
    if (n == 0 || trailing)
        sl_buf_append(b, "/", 1);
}

struct param {
    char *name, *value; /* encoded */
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encoded_dup(struct sl_str raw)
{
    struct sl_buf d, e;
    sl_buf_init(&d, CANON_CAP);
    sl_buf_init(&e, CANON_CAP);
    decode(&d, raw);
    encode(&e, sl_buf_str(&d));
    char *s = strndup(e.ptr != NULL ? e.ptr : "", e.len);
    sl_buf_dispose(&d);
    sl_buf_dispose(&e);
    return s;
}

static void canonical_query(struct sl_buf *b, struct sl_str q)
{
    struct param p[MAX_PARAMS];
    size_t n = 0, i = 0;
    while (i < q.len && n < MAX_PARAMS) {
        size_t j = i;
        while (j < q.len && q.ptr[j] != '&')
            j++;
        struct sl_str item = sl_str_init(q.ptr + i, j - i);
        const char *eq = memchr(item.ptr, '=', item.len);
        struct sl_str name = eq != NULL ? sl_str_init(item.ptr, (size_t)(eq - item.ptr)) : item;
        struct sl_str value =
            eq != NULL ? sl_str_init(eq + 1, item.len - name.len - 1) : SL_STR_NULL;
        if (item.len != 0) {
            p[n].name = encoded_dup(name);
            p[n++].value = encoded_dup(value);
        }
        i = j + 1;
    }
    qsort(p, n, sizeof(*p), param_cmp);
    for (size_t k = 0; k < n; k++) {
        sl_buf_appendf(b, "%s%s=%s", k != 0 ? "&" : "", p[k].name, p[k].value);
        free(p[k].name);
        free(p[k].value);
    }
}

/* A header value trimmed, with inner runs of spaces made one space. */
static void canonical_value(struct sl_buf *b, struct sl_str v)
{
    v = sl_str_trim(v);
    bool space = false;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (space)
            sl_buf_append(b, " ", 1);
        space = false;
        sl_buf_append(b, &c, 1);
    }
}

/* name:value1,value2 for every header called name (in the order received). false if none. */
static bool canonical_header(struct sl_buf *b, const struct av_request *r, struct sl_str name)
{
    bool found = false;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!sl_str_ieq(r->headers[i].name, name))
            continue;
        sl_buf_append_str(b, found ? SL_STRLIT(",") : name);
        if (!found)
            sl_buf_append(b, ":", 1);
        canonical_value(b, r->headers[i].value);
        found = true;
    }
    if (found)
        sl_buf_append(b, "\n", 1);
    return found;
}

static struct sl_str header(const struct av_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (sl_str_ieq(r->headers[i].name, sl_str_from_cstr(name)))
            return sl_str_trim(r->headers[i].value);
    return SL_STR_NULL;
}

/* "AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=a;b, Signature=hex" */
struct auth {
    struct sl_str akid, date, region, service, terminator, signed_headers, signature;
};

static bool take_param(struct sl_str rest, const char *name, struct sl_str *out)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + n < rest.len; i++) {
        if ((i == 0 || rest.ptr[i - 1] == ' ' || rest.ptr[i - 1] == ',') &&
            memcmp(rest.ptr + i, name, n) == 0 && rest.ptr[i + n] == '=') {
            size_t j = i + n + 1, k = j;
            while (k < rest.len && rest.ptr[k] != ',')
                k++;
            *out = sl_str_trim(sl_str_init(rest.ptr + j, k - j));
            return out->len != 0;
        }
    }
    return false;
}

static bool split_slash(struct sl_str *s, struct sl_str *part)
{
    const char *slash = memchr(s->ptr, '/', s->len);
    if (slash == NULL) {
        *part = *s;
        *s = SL_STR_NULL;
        return part->len != 0;
    }
    *part = sl_str_init(s->ptr, (size_t)(slash - s->ptr));
    *s = sl_str_init(slash + 1, s->len - part->len - 1);
    return part->len != 0;
}

static bool parse_auth(struct sl_str v, struct auth *a)
{
    struct sl_str cred;
    if (!sl_str_starts_with(v, SL_STRLIT(ALGORITHM " ")))
        return false;
    v = sl_str_init(v.ptr + sizeof(ALGORITHM), v.len - sizeof(ALGORITHM));
    if (!take_param(v, "Credential", &cred) ||
        !take_param(v, "SignedHeaders", &a->signed_headers) ||
        !take_param(v, "Signature", &a->signature))
        return false;
    return split_slash(&cred, &a->akid) && split_slash(&cred, &a->date) &&
           split_slash(&cred, &a->region) && split_slash(&cred, &a->service) &&
           split_slash(&cred, &a->terminator) && cred.len == 0 &&
           sl_str_eq_lit(a->terminator, "aws4_request");
}

/* YYYYMMDDTHHMMSSZ as Unix seconds; -1 when malformed. */
static int64_t parse_amz_date(struct sl_str s)
{
    struct tm tm = {0};
    char buf[17];
    if (s.len != 16 || s.ptr[8] != 'T' || s.ptr[15] != 'Z')
        return -1;
    memcpy(buf, s.ptr, 16);
    buf[16] = '\0';
    if (sscanf(buf, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static void amz_date(int64_t t, char out[17])
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const void *key, size_t klen, struct sl_str msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg.ptr, msg.len, out, &n);
}

/* The signature of sts for the key's secret on date/region/service. */
static void signature(const struct av_key *k, const struct auth *a, struct sl_str sts, char hex[65])
{
    unsigned char key[32], tmp[32];
    char secret[256];
    int n = snprintf(secret, sizeof(secret), "AWS4%.*s", (int)k->secret.len, k->secret.ptr);
    hmac(secret, (size_t)n, a->date, key);
    hmac(key, 32, a->region, tmp);
    hmac(tmp, 32, a->service, key);
    hmac(key, 32, SL_STRLIT("aws4_request"), tmp);
    hmac(tmp, 32, sts, key);
    hexify(key, 32, hex);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(tmp, sizeof(tmp));
}

/* Canonical request into creq; false when a signed header is missing. */
static bool canonical_request(const struct av_request *r, const struct auth *a, struct sl_buf *creq)
{
    struct sl_str target = r->target, path = target, query = SL_STR_NULL;
    const char *q = memchr(target.ptr, '?', target.len);
    unsigned char digest[32];
    char hex[65];
    if (q != NULL) {
        path = sl_str_init(target.ptr, (size_t)(q - target.ptr));
        query = sl_str_init(q + 1, target.len - path.len - 1);
    }
    sl_buf_append_str(creq, r->method);
    sl_buf_append(creq, "\n", 1);
    canonical_uri(creq, path);
    sl_buf_append(creq, "\n", 1);
    canonical_query(creq, query);
    sl_buf_append(creq, "\n", 1);
    struct sl_str names = a->signed_headers;
    while (names.len != 0) {
        const char *semi = memchr(names.ptr, ';', names.len);
        struct sl_str name =
            semi != NULL ? sl_str_init(names.ptr, (size_t)(semi - names.ptr)) : names;
        if (!canonical_header(creq, r, name))
            return false;
        names = semi != NULL ? sl_str_init(semi + 1, names.len - name.len - 1) : SL_STR_NULL;
    }
    sl_buf_append(creq, "\n", 1);
    sl_buf_append_str(creq, a->signed_headers);
    sl_buf_append(creq, "\n", 1);
    SHA256((const unsigned char *)r->body.ptr, r->body.len, digest);
    hexify(digest, 32, hex);
    sl_buf_append(creq, hex, 64);
    return true;
}

static bool signs(struct sl_str signed_headers, const char *name)
{
    struct sl_str n = sl_str_from_cstr(name);
    while (signed_headers.len != 0) {
        const char *semi = memchr(signed_headers.ptr, ';', signed_headers.len);
        struct sl_str h = semi != NULL
                              ? sl_str_init(signed_headers.ptr, (size_t)(semi - signed_headers.ptr))
                              : signed_headers;
        if (sl_str_eq(h, n))
            return true;
        signed_headers =
            semi != NULL ? sl_str_init(semi + 1, signed_headers.len - h.len - 1) : SL_STR_NULL;
    }
    return false;
}

static enum av_verdict check_time(struct sl_str date, int64_t now, char *msg, size_t msglen)
{
    int64_t t = parse_amz_date(date);
    char then[17], lo[17], hi[17], at[17];
    if (t < 0) {
        snprintf(msg, msglen, "Date must be in ISO-8601 'basic format'. Got '%.*s'.",
                 (int)SL_MIN(date.len, 64), date.ptr);
        return AV_INCOMPLETE;
    }
    amz_date(t, then);
    amz_date(now, at);
    if (t < now - MAX_SKEW) {
        amz_date(now - MAX_SKEW, lo);
        snprintf(msg, msglen, "Signature expired: %s is now earlier than %s (%s - 5 min.)", then,
                 lo, at);
        return AV_EXPIRED;
    }
    if (t > now + MAX_SKEW) {
        amz_date(now + MAX_SKEW, hi);
        snprintf(msg, msglen, "Signature not yet current: %s is still later than %s (%s + 5 min.)",
                 then, hi, at);
        return AV_NOT_YET;
    }
    return AV_OK;
}

static const struct av_key *find_key(const struct av_key *keys, size_t n, struct sl_str akid)
{
    for (size_t i = 0; i < n; i++)
        if (sl_str_eq(keys[i].access_key_id, akid))
            return &keys[i];
    return NULL;
}

enum av_verdict av_verify(const struct av_request *r, const struct av_key *keys, size_t n_keys,
                          const char *service, int64_t now, char *msg, size_t msglen)
{
    struct auth a;
    struct sl_str authz = header(r, "authorization"), date = header(r, "x-amz-date");
    const struct av_key *k;
    enum av_verdict v;
    msg[0] = '\0';
    if (authz.len == 0) {
        snprintf(msg, msglen, "Missing Authentication Token");
        return AV_MISSING;
    }
    if (!parse_auth(authz, &a) || date.len == 0) {
        snprintf(msg, msglen,
                 "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                 "parameters, and an X-Amz-Date header.");
        return AV_INCOMPLETE;
    }
    if ((v = check_time(date, now, msg, msglen)) != AV_OK)
        return v;
    if (!sl_str_eq(sl_str_init(date.ptr, 8), a.date) ||
        !sl_str_eq(a.service, sl_str_from_cstr(service)) || !signs(a.signed_headers, "host")) {
        snprintf(msg, msglen,
                 "Credential should be scoped to a valid date and to the correct service: '%s', "
                 "and must sign host.",
                 service);
        return AV_BAD_SCOPE;
    }
    if ((k = find_key(keys, n_keys, a.akid)) == NULL) {
        snprintf(msg, msglen, "The security token included in the request is invalid.");
        return AV_UNKNOWN_KEY;
    }
    struct sl_str token = header(r, "x-amz-security-token");
    if (!sl_str_eq(token, k->token) ||
        (token.len != 0 && !signs(a.signed_headers, "x-amz-security-token"))) {
        snprintf(msg, msglen, "The security token included in the request is invalid.");
        return AV_UNKNOWN_KEY;
    }
    struct sl_buf creq, sts;
    unsigned char digest[32];
    char hex[65], sig[65];
    sl_buf_init(&creq, CANON_CAP);
    sl_buf_init(&sts, 4096);
    bool complete = canonical_request(r, &a, &creq);
    SHA256((const unsigned char *)creq.ptr, creq.len, digest);
    hexify(digest, 32, hex);
    sl_buf_appendf(&sts, ALGORITHM "\n%.*s\n%.*s/%.*s/%.*s/aws4_request\n%s", (int)date.len,
                   date.ptr, (int)a.date.len, a.date.ptr, (int)a.region.len, a.region.ptr,
                   (int)a.service.len, a.service.ptr, hex);
    signature(k, &a, sl_buf_str(&sts), sig);
    v = complete && a.signature.len == 64 && CRYPTO_memcmp(sig, a.signature.ptr, 64) == 0
            ? AV_OK
            : AV_BAD_SIGNATURE;
    if (v != AV_OK)
        snprintf(msg, msglen,
                 "The request signature we calculated does not match the signature you "
                 "provided. Check your AWS Secret Access Key and signing method. Consult the "
                 "service documentation for details.\n\nThe Canonical String for this request "
                 "should have been\n'%.*s'\n\nThe String-to-Sign should have been\n'%.*s'\n",
                 (int)SL_MIN(creq.len, 2048), creq.ptr != NULL ? creq.ptr : "", (int)sts.len,
                 sts.ptr);
    sl_buf_dispose(&creq);
    sl_buf_dispose(&sts);
    return v;
}

const char *av_error_type(enum av_verdict v)
{
    switch (v) {
    case AV_MISSING:
        return "MissingAuthenticationTokenException";
    case AV_INCOMPLETE:
        return "IncompleteSignatureException";
    case AV_UNKNOWN_KEY:
        return "UnrecognizedClientException";
    case AV_BAD_SIGNATURE:
    case AV_EXPIRED:
    case AV_NOT_YET:
    case AV_BAD_SCOPE:
        return "InvalidSignatureException";
    case AV_OK:
        break;
    }
    return "";
}
