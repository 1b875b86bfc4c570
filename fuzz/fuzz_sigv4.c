/* Fuzz target for AWS Signature Version 4 (src/providers/sigv4.c). The input holds a request:
 * NUL-separated fields "path", "query", then header name and value pairs; its first byte picks
 * the time (one of a few days) and whether a session token and x-amz-content-sha256 are used.
 * The signer's verdict and canonical request must equal a reference written the plainest way
 * from AWS's rules (botocore's remove_dot_segments, decode-then-encode query parameters sorted
 * as strings, headers lower-cased, trimmed and grouped), and its Authorization must equal one
 * computed with one-shot SHA256() and HMAC() from a freshly derived key. One signer cache is
 * shared by all inputs, as a worker would share it, so cached keys are exercised. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 80

static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

static void put(struct sl_buf *b, const void *p, size_t n)
{
    CHECK(sl_buf_append(b, p, n) == SL_OK);
}

static void putc_(struct sl_buf *b, char c)
{
    put(b, &c, 1);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void encode(struct sl_buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[4];
        if (unreserved(c)) {
            putc_(b, (char)c);
        } else {
            snprintf(esc, sizeof(esc), "%%%02X", c);
            put(b, esc, 3);
        }
    }
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX pairs, then encodes: the canonical form of a query name or value. */
static char *canon_component(const char *p, size_t n)
{
    struct sl_buf dec, enc;
    sl_buf_init(&dec, SIZE_MAX / 2);
    sl_buf_init(&enc, SIZE_MAX / 2);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && n - i >= 3 && hexv(p[i + 1]) >= 0 && hexv(p[i + 2]) >= 0) {
            putc_(&dec, (char)(hexv(p[i + 1]) << 4 | hexv(p[i + 2])));
            i += 2;
        } else {
            putc_(&dec, p[i]);
        }
    }
    encode(&enc, dec.ptr, dec.len);
    putc_(&enc, '\0');
    sl_buf_dispose(&dec);
    return enc.ptr;
}

struct qp {
    char *name, *value;
};

static int qp_cmp(const void *a, const void *b)
{
    const struct qp *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Canonical query; SL_E2BIG past the parameter limit. */
static int ref_query(struct sl_buf *b, struct sl_str q)
{
    struct qp ps[SL_SIGV4_MAX_QUERY_PARAMS + 1];
    size_t n = 0, i = 0;
    int rc = SL_OK;
    while (i < q.len) {
        size_t j = i, eq;
        while (j < q.len && q.ptr[j] != '&')
            j++;
        if (j > i) {
            if (n == SL_SIGV4_MAX_QUERY_PARAMS) {
                rc = SL_E2BIG;
                break;
            }
            for (eq = i; eq < j && q.ptr[eq] != '='; eq++)
                ;
            ps[n].name = canon_component(q.ptr + i, eq - i);
            ps[n].value =
                eq < j ? canon_component(q.ptr + eq + 1, j - eq - 1) : canon_component("", 0);
            n++;
        }
        i = j + 1;
    }
    if (rc == SL_OK) {
        /* Stable order for equal pairs does not matter: they print the same. */
        qsort(ps, n, sizeof(ps[0]), qp_cmp);
        for (size_t k = 0; k < n; k++) {
            if (k != 0)
                putc_(b, '&');
            put(b, ps[k].name, strlen(ps[k].name));
            putc_(b, '=');
            put(b, ps[k].value, strlen(ps[k].value));
        }
        putc_(b, '\n');
    }
    for (size_t k = 0; k < n; k++) {
        free(ps[k].name);
        free(ps[k].value);
    }
    return rc;
}

/* botocore's remove_dot_segments, then each segment encoded. */
static int ref_path(struct sl_buf *b, struct sl_str p)
{
    struct sl_str seg[SL_SIGV4_MAX_SEGMENTS];
    size_t n = 0, i = 0;
    while (i <= p.len) {
        size_t j = i;
        while (j < p.len && p.ptr[j] != '/')
            j++;
        struct sl_str s = sl_str_init(p.ptr + i, j - i);
        if (sl_str_eq_lit(s, "..")) {
            if (n > 0)
                n--;
        } else if (s.len != 0 && !sl_str_eq_lit(s, ".")) {
            if (n == SL_SIGV4_MAX_SEGMENTS)
                return SL_E2BIG;
            seg[n++] = s;
        }
        i = j + 1;
    }
    putc_(b, '/');
    for (size_t k = 0; k < n; k++) {
        if (k != 0)
            putc_(b, '/');
        encode(b, seg[k].ptr, seg[k].len);
    }
    if (n != 0 && p.ptr[p.len - 1] == '/')
        putc_(b, '/');
    putc_(b, '\n');
    return SL_OK;
}

static char lc(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int lc_cmp(struct sl_str a, struct sl_str b)
{
    for (size_t i = 0; i < a.len && i < b.len; i++)
        if (lc(a.ptr[i]) != lc(b.ptr[i]))
            return (unsigned char)lc(a.ptr[i]) < (unsigned char)lc(b.ptr[i]) ? -1 : 1;
    return a.len < b.len ? -1 : a.len > b.len;
}

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int ref_header_check(const struct sl_sigv4_header *h, size_t n)
{
    bool host = false;
    if (n > SL_SIGV4_MAX_HEADERS)
        return SL_E2BIG;
    for (size_t i = 0; i < n; i++) {
        if (h[i].name.len == 0)
            return SL_EPARSE;
        for (size_t k = 0; k < h[i].name.len; k++)
            if (!tchar((unsigned char)h[i].name.ptr[k]))
                return SL_EPARSE;
        if (lc_cmp(h[i].name, SL_STRLIT("x-amz-date")) == 0 ||
            lc_cmp(h[i].name, SL_STRLIT("x-amz-security-token")) == 0 ||
            lc_cmp(h[i].name, SL_STRLIT("x-amz-content-sha256")) == 0 ||
            lc_cmp(h[i].name, SL_STRLIT("authorization")) == 0)
            return SL_EPARSE;
        for (size_t k = 0; k < h[i].value.len; k++)
            if (h[i].value.ptr[k] == '\r' || h[i].value.ptr[k] == '\n' || h[i].value.ptr[k] == 0)
                return SL_EPARSE;
        host |= lc_cmp(h[i].name, SL_STRLIT("host")) == 0;
    }
    return host ? SL_OK : SL_EPARSE;
}

/* Canonical headers and the signed list; all[] gets the caller's headers plus the signer's. */
static void ref_headers(struct sl_buf *b, struct sl_buf *signed_list, struct sl_sigv4_header *all,
                        size_t n)
{
    /* Insertion sort: stable, so repeated names keep their order. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && lc_cmp(all[j - 1].name, all[j].name) > 0; j--) {
            struct sl_sigv4_header t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        bool cont = i > 0 && lc_cmp(all[i - 1].name, all[i].name) == 0;
        struct sl_str v = all[i].value;
        if (cont) {
            putc_(b, ',');
        } else {
            if (i > 0) {
                putc_(b, '\n');
                putc_(signed_list, ';');
            }
            for (size_t k = 0; k < all[i].name.len; k++) {
                putc_(b, lc(all[i].name.ptr[k]));
                putc_(signed_list, lc(all[i].name.ptr[k]));
            }
            putc_(b, ':');
        }
        /* Split on spaces and tabs, join the words with one space. */
        bool word = false, any = false;
        for (size_t k = 0; k < v.len; k++) {
            char c = v.ptr[k];
            if (c == ' ' || c == '\t') {
                word = false;
                continue;
            }
            if (!word && any)
                putc_(b, ' ');
            putc_(b, c);
            word = any = true;
        }
    }
    put(b, "\n\n", 2);
}

static void hex(char *o, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(o + 2 * i, 3, "%02x", d[i]);
}

static void mac(const void *key, size_t klen, const void *msg, size_t n, unsigned char *out)
{
    unsigned len = 0;
    CHECK(HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len) != NULL && len == 32);
}

/* The Authorization value from the canonical request, computed the slow, obvious way. */
static void ref_authorization(struct sl_buf *out, struct sl_str creq, const char *amz_date,
                              struct sl_str signed_list)
{
    unsigned char d[32], k1[32], k2[32];
    char creq_hex[65], sig[65], sts[256], k0[64];
    int n;
    SHA256((const unsigned char *)creq.ptr, creq.len, d);
    hex(creq_hex, d, 32);
    n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%.8s/us-east-1/bedrock/aws4_request\n%s",
                 amz_date, amz_date, creq_hex);
    snprintf(k0, sizeof(k0), "AWS4%s", secret);
    mac(k0, strlen(k0), amz_date, 8, k1);
    mac(k1, 32, "us-east-1", 9, k2);
    mac(k2, 32, "bedrock", 7, k1);
    mac(k1, 32, "aws4_request", 12, k2);
    mac(k2, 32, sts, (size_t)n, d);
    hex(sig, d, 32);
    CHECK(sl_buf_appendf(out,
                         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%.8s/us-east-1/bedrock/"
                         "aws4_request, SignedHeaders=%.*s, Signature=%s",
                         amz_date, SL_STR_FMT(signed_list), sig) == SL_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_sigv4_cache *cache;
    static const int64_t days[] = {1440938160, 1440938160 + 86400, 1730794150, 0};
    static const char *const dates[] = {"20150830T123600Z", "20150831T123600Z", "20241105T080910Z",
                                        "19700101T000000Z"};
    struct sl_str fields[MAX_FIELDS];
    struct sl_sigv4_header hs[MAX_FIELDS / 2 + 3];
    struct sl_sigv4_creds cr = {
        .access_key_id = SL_STR_INIT("AKIDEXAMPLE"),
        .secret_access_key = sl_str_init(secret, sizeof(secret) - 1),
        .region = SL_STR_INIT("us-east-1"),
        .service = SL_STR_INIT("bedrock"),
    };
    struct sl_sigv4_request req = {.method = SL_STRLIT("POST")};
    struct sl_sigv4_out out;
    struct sl_buf creq, ref, signed_list, auth;
    h2o_iovec_t body = h2o_iovec_init("{}", 2);
    h2o_mem_pool_t pool;
    size_t nf = 0, nh, start = 1;
    int rc, want;
    if (size == 0)
        return 0;
    if (cache == NULL)
        cache = sl_sigv4_cache_new();
    for (size_t i = 1; i <= size && nf < MAX_FIELDS; i++)
        if (i == size || data[i] == 0) {
            fields[nf++] = sl_str_init((const char *)data + start, i - start);
            start = i + 1;
        }
    if (nf < 2)
        return 0;
    req.path = fields[0];
    req.query = fields[1];
    nh = (nf - 2) / 2;
    for (size_t i = 0; i < nh; i++)
        hs[i] = (struct sl_sigv4_header){fields[2 + 2 * i], fields[3 + 2 * i]};
    req.headers = hs;
    req.nheaders = nh;
    req.now = days[data[0] & 3];
    req.add_content_sha256 = (data[0] & 4) != 0;
    if ((data[0] & 8) != 0)
        cr.session_token = SL_STRLIT("FQoGZXIvYXdzEXAMPLE//token+with/odd=chars");
    req.body = &body;
    req.nbody = 1;

    h2o_mem_init_pool(&pool);
    sl_buf_init(&creq, SIZE_MAX / 2);
    rc = sl_sigv4_sign_traced(cache, &cr, &req, &pool, &out, &creq, NULL);

    /* The reference, in the signer's order of checks. */
    sl_buf_init(&ref, SIZE_MAX / 2);
    sl_buf_init(&signed_list, SIZE_MAX / 2);
    want = req.path.len == 0 || req.path.ptr[0] != '/' ? SL_EPARSE : ref_header_check(hs, nh);
    if (want == SL_OK) {
        char sha[65];
        unsigned char d[32];
        SHA256((const unsigned char *)"{}", 2, d);
        hex(sha, d, 32);
        if (req.add_content_sha256)
            hs[nh++] =
                (struct sl_sigv4_header){SL_STRLIT("x-amz-content-sha256"), sl_str_init(sha, 64)};
        hs[nh++] =
            (struct sl_sigv4_header){SL_STRLIT("x-amz-date"), sl_str_from_cstr(dates[data[0] & 3])};
        if (cr.session_token.len != 0)
            hs[nh++] =
                (struct sl_sigv4_header){SL_STRLIT("x-amz-security-token"), cr.session_token};
        put(&ref, "POST\n", 5);
        want = ref_path(&ref, req.path);
        if (want == SL_OK)
            want = ref_query(&ref, req.query);
        if (want == SL_OK) {
            ref_headers(&ref, &signed_list, hs, nh);
            put(&ref, signed_list.ptr, signed_list.len);
            putc_(&ref, '\n');
            put(&ref, sha, 64);
        }
    }
    CHECK(rc == want);
    if (rc == SL_OK) {
        CHECK(sl_str_eq(sl_buf_str(&creq), sl_buf_str(&ref)));
        sl_buf_init(&auth, SIZE_MAX / 2);
        ref_authorization(&auth, sl_buf_str(&ref), dates[data[0] & 3], sl_buf_str(&signed_list));
        CHECK(sl_str_eq(out.authorization, sl_buf_str(&auth)));
        CHECK(sl_str_eq(out.amz_date, sl_str_from_cstr(dates[data[0] & 3])));
        sl_buf_dispose(&auth);
    } else {
        CHECK(out.why != NULL && out.authorization.len == 0);
    }
    sl_buf_dispose(&ref);
    sl_buf_dispose(&signed_list);
    sl_buf_dispose(&creq);
    h2o_mem_clear_pool(&pool);
    return 0;
}
