/* RS256 JWTs (jwt.h). */
#include <string.h>

#include <openssl/evp.h>

#include "sluice/base.h"
#include "sluice/jwt.h"

#define JWT_HEADER "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"

int sl_base64url_append(struct sl_buf *out, const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    size_t n = (len / 3) * 4 + (len % 3 != 0 ? len % 3 + 1 : 0);
    char *w = sl_buf_reserve(out, n);
    if (w == NULL)
        return SL_E2BIG;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *w++ = abc[v >> 18];
        *w++ = abc[(v >> 12) & 63];
        *w++ = abc[(v >> 6) & 63];
        *w++ = abc[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *w++ = abc[v >> 18];
        *w++ = abc[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *w++ = abc[v >> 18];
        *w++ = abc[(v >> 12) & 63];
        *w++ = abc[(v >> 6) & 63];
    }
    sl_buf_commit(out, n);
    return SL_OK;
}

/* Signs the bytes of out from mark (the signing input) and appends "." and the signature. */
static int sign(EVP_PKEY *key, struct sl_buf *out, size_t mark)
{
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_PKEY_get_size(key) <= (int)sizeof(sig) &&
             EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out->ptr + mark,
                            out->len - mark) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return SL_ERR;
    if (sl_buf_append(out, ".", 1) != SL_OK || sl_base64url_append(out, sig, siglen) != SL_OK)
        return SL_E2BIG;
    return SL_OK;
}

int sl_jwt_sign_rs256(EVP_PKEY *key, struct sl_str claims, struct sl_buf *out)
{
    size_t mark = out->len;
    /* An EC key would sign too, and the token would lie about its algorithm. */
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
        return SL_ERR;
    int rc = sl_base64url_append(out, JWT_HEADER, sizeof(JWT_HEADER) - 1);
    if (rc == SL_OK)
        rc = sl_buf_append(out, ".", 1);
    if (rc == SL_OK)
        rc = sl_base64url_append(out, claims.ptr, claims.len);
    if (rc == SL_OK)
        rc = sign(key, out, mark);
    if (rc != SL_OK) {
        out->len = mark;
        if (out->ptr != NULL)
            out->ptr[mark] = '\0';
    }
    return rc;
}
