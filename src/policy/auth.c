#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/time.h>

#include "sluice/auth.h"
#include "sluice/base.h"

/* The digest of the presented key, with OpenSSL's low-level SHA-256. The one-shot SHA256() of
 * OpenSSL 3 goes through EVP and the provider store on every call: 5,800 instructions per
 * request against 2,300, and its first call pulls 1.9 MiB of libcrypto's provider code into
 * memory, which is what kept a worker's RSS above its idle figure after the first request. The
 * low-level functions are deprecated in OpenSSL 3 but kept (they are what the default
 * provider's SHA-256 runs); OPENSSL_SUPPRESS_DEPRECATED is set for this file only. */
static void digest_key(struct sl_str token, uint8_t digest[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, token.ptr, token.len);
    SHA256_Final(digest, &c);
    OPENSSL_cleanse(&c, sizeof(c));
}

int sl_auth_credential(const h2o_headers_t *headers, struct sl_str *token)
{
    ssize_t i = h2o_find_header(headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i != -1) {
        struct sl_str v = sl_str_from_iov(headers->entries[i].value);
        if (!sl_str_starts_with(v, SL_STRLIT("Bearer ")))
            return SL_EPARSE;
        *token = sl_str_trim(sl_str_init(v.ptr + 7, v.len - 7));
    } else {
        i = h2o_find_header_by_str(headers, H2O_STRLIT("x-api-key"), -1);
        if (i == -1)
            return SL_ENOENT;
        *token = sl_str_trim(sl_str_from_iov(headers->entries[i].value));
    }
    return token->len > 0 && token->len <= SL_AUTH_MAX_KEY_BYTES ? SL_OK : SL_EPARSE;
}

enum sl_auth_result sl_auth_check(h2o_req_t *req, const struct sl_resources *res, int64_t now_us,
                                  const struct sl_api_key **key)
{
    struct sl_str token;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    *key = NULL;
    if (sl_auth_credential(&req->headers, &token) != SL_OK)
        return SL_AUTH_MISSING;
    digest_key(token, digest);
    *key = sl_resources_find_key(res, digest);
    OPENSSL_cleanse(digest, sizeof(digest));
    if (*key == NULL)
        return SL_AUTH_UNKNOWN;
    if ((*key)->disabled)
        return SL_AUTH_DISABLED;
    if ((*key)->has_expiry && now_us > (*key)->expires_at_us)
        return SL_AUTH_EXPIRED;
    return SL_AUTH_OK;
}
