/* JSON Web Tokens signed with RS256 (RFC 7515, 7518), for OAuth's JWT bearer grant (RFC 7523):
 * Google service accounts trade one for an access token. Only signing is here: Sluice never has
 * to check a JWT. Pure functions over OpenSSL; any thread. */
#ifndef SLUICE_JWT_H
#define SLUICE_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "sluice/buf.h"
#include "sluice/str.h"

/* Appends data as base64url without padding (RFC 7515 section 2). Returns 0 or SL_E2BIG. */
int sl_base64url_append(struct sl_buf *out, const void *data, size_t len);

/* Appends a compact JWS: base64url({"alg":"RS256","typ":"JWT"}) "." base64url(claims) "."
 * base64url(RSASSA-PKCS1-v1_5 SHA-256 signature), with claims a JSON object the caller wrote.
 * key must be an RSA private key. Returns 0, SL_E2BIG at out's cap, or SL_ERR when OpenSSL
 * fails (out is then left as it was). */
int sl_jwt_sign_rs256(EVP_PKEY *key, struct sl_str claims, struct sl_buf *out);

#endif
