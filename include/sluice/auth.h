/* Caller authentication: "Authorization: Bearer <key>" or, only when no Authorization header is
 * present, "x-api-key: <key>". The key is hashed with SHA-256 and looked up by digest; the
 * plaintext is never copied, stored or logged. Worker thread. */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <stdint.h>

#include "sluice/h2o.h"
#include "sluice/resources.h"

/* In the reference gateway's order of checks. */
enum sl_auth_result {
    SL_AUTH_OK = 0,
    SL_AUTH_MISSING,  /* no credential, or a malformed one ("Basic ...", "Bearer" alone) */
    SL_AUTH_UNKNOWN,  /* no caller key has that digest */
    SL_AUTH_DISABLED, /* disabled: true */
    SL_AUTH_EXPIRED,  /* past expires_at */
};

/* Keys longer than this are not keys; refusing them early bounds the hashing work a client can
 * ask for. */
#define SL_AUTH_MAX_KEY_BYTES 1024

/* Finds the caller's credential in request headers as h2o stores them (lower-case names): the
 * first "authorization" header, which must be "Bearer <key>", or else the first "x-api-key".
 * Surrounding spaces and tabs are trimmed. On SL_OK *token points into that header's value
 * (nothing is copied) and is 1..SL_AUTH_MAX_KEY_BYTES long. Returns SL_ENOENT when neither
 * header is present and SL_EPARSE for a malformed one ("Basic ...", "Bearer" with no key, an
 * over-long key). Pure: no I/O, no allocation; any thread. */
int sl_auth_credential(const h2o_headers_t *headers, struct sl_str *token);

/* Authenticates req against res at now_us (Unix microseconds). On SL_AUTH_OK, and also on
 * DISABLED/EXPIRED, *key is the matched caller key. */
enum sl_auth_result sl_auth_check(h2o_req_t *req, const struct sl_resources *res, int64_t now_us,
                                  const struct sl_api_key **key);

#endif
