/* The mock's OAuth token endpoints, and the bearer tokens they issue:
 *   - Azure Entra ID: POST .../{tenant}/oauth2/v2.0/token with the client credentials grant
 *     (client_id and client_secret, checked against --entra-client when given; scope
 *     https://cognitiveservices.azure.com/.default);
 *   - Google: POST .../token with the JWT bearer grant (RFC 7523): the assertion's RS256
 *     signature is checked with --oauth-public-key, and its claims (iss, scope, aud, iat, exp).
 * Tokens live --token-ttl seconds; answers wait --token-latency-ms, so a test can have many
 * requests arrive while one fetch is in flight. Errors use OAuth's {error, error_description}.
 * The Vertex AI and Azure (Entra) endpoints accept a token only while it is valid. */
#ifndef SLUICE_MOCK_OAUTH_H
#define SLUICE_MOCK_OAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "server.h"
#include "sluice/str.h"

struct mock_oauth_cfg {
    const char *public_key_file; /* PEM public key for JWT assertions; NULL: none accepted */
    struct sl_str entra_client;  /* "ID:SECRET"; ptr NULL: any non-empty pair */
    uint64_t ttl_s;              /* expires_in of issued tokens */
    uint64_t latency_ms;         /* delay before a token answer */
    struct sl_str static_token;  /* a token accepted without being issued; ptr NULL: none */
};

/* Loads the key (exits 1 naming the file when it cannot be read). Call once before workers. */
void mock_oauth_init(const struct mock_oauth_cfg *cfg);
void mock_oauth_dispose(void);

/* True for the token endpoints' paths. */
bool mock_oauth_is_token_path(struct sl_str path);

/* Answers a token request. Returns 0 (the h2o handler's "handled"). */
int mock_oauth_handle(struct mock_worker *w, h2o_req_t *req);

/* The request's "Authorization: Bearer" token, when it is one this mock issued and it has not
 * expired, or the static token. Thread-safe. */
bool mock_oauth_bearer_ok(h2o_req_t *req);

/* True when the request carries "Authorization: Bearer ..." at all. */
bool mock_oauth_has_bearer(h2o_req_t *req);

#endif
