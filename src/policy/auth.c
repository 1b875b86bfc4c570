#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/time.h>

#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/generation.h"
#include "sluice/http.h"
#include "sluice/reply.h"

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
    SHA256((const unsigned char *)token.ptr, token.len, digest);
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

void sl_auth_reply_failure(h2o_req_t *req, enum sl_auth_result result)
{
    switch (result) {
    case SL_AUTH_MISSING:
        sl_reply_error(req, 401, "invalid_api_key", NULL,
                       "missing or malformed Authorization header (expected \"Bearer <key>\" or "
                       "an x-api-key header)");
        break;
    case SL_AUTH_UNKNOWN:
        sl_reply_error(req, 401, "invalid_api_key", NULL, "invalid API key");
        break;
    case SL_AUTH_DISABLED:
        sl_reply_error(req, 401, "invalid_api_key", "api_key_disabled", "API key is disabled");
        break;
    case SL_AUTH_EXPIRED:
        sl_reply_error(req, 401, "invalid_api_key", "api_key_expired", "API key has expired");
        break;
    case SL_AUTH_OK:
        SL_ASSERT(!"not a failure");
        break;
    }
}

const struct sl_api_key *sl_auth_require(struct sl_reqctx *ctx, h2o_req_t *req)
{
    const struct sl_api_key *key;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    enum sl_auth_result ar =
        sl_auth_check(req, ctx->pin->gen->res, (int64_t)tv.tv_sec * 1000000 + tv.tv_usec, &key);
    if (key != NULL)
        ctx->key_name = sl_str_from_cstr(key->name);
    if (ar == SL_AUTH_OK)
        return key;
    ctx->error_kind = "unauthorized";
    sl_auth_reply_failure(req, ar);
    return NULL;
}
