/* AWS Signature Version 4 (header signing, AWS4-HMAC-SHA256) for non-S3 services such as Amazon
 * Bedrock. Pure: no I/O, no clock, no globals; the caller passes the time and the request as
 * it will be sent, and gets the header values to add.
 *
 * Canonical request, as AWS's non-S3 signers build it (botocore, aws-c-auth) and as the
 * aws-signing-test-suite vectors in tests/unit/fixtures/sigv4/ pin it down:
 *   - the path is taken as sent (already percent-encoded), dot segments and empty segments are
 *     removed, and every byte outside RFC 3986 "unreserved" is percent-encoded again, so an
 *     escape on the wire is encoded twice: a Bedrock model id "...-v2:0" goes on the wire as
 *     "/model/...-v2%3A0/converse" (sl_sigv4_encode_segment) and is signed as "...-v2%253A0";
 *   - query parameters are split at '&' and the first '=', their %XX escapes decoded and
 *     re-encoded (a '+' stays a literal plus, "%2B"), then sorted by name, then value;
 *   - header names are lower-cased, values trimmed with inner runs of spaces and tabs made one
 *     space, repeated names joined with ',' in the order given, all sorted by name;
 *   - the payload hash is the hex SHA-256 of the body, hashed piece by piece, never joined.
 * S3's rules (no normalisation, single encoding) are not implemented.
 *
 * Cost per request with a warm cache: one SHA-256 of the body, one of the canonical request
 * (streamed into the digest, never stored whole), one HMAC-SHA256 of the string to sign. The
 * signing key is derived (four HMACs) once per UTC day, region and service per cache. */
#ifndef SLUICE_SIGV4_H
#define SLUICE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/h2o.h"
#include "sluice/str.h"

/* Limits on what the caller passes (all are its own configuration, never a peer's bytes);
 * exceeding one fails with SL_E2BIG. */
#define SL_SIGV4_MAX_HEADERS      32  /* headers to sign, besides the ones the signer adds */
#define SL_SIGV4_MAX_QUERY_PARAMS 64  /* parameters in the query string */
#define SL_SIGV4_MAX_SEGMENTS     64  /* path segments */
#define SL_SIGV4_MAX_ID           128 /* bytes of an access key id, region or service name */
#define SL_SIGV4_MAX_SECRET       128 /* bytes of a secret access key */

struct sl_sigv4_creds {
    struct sl_str access_key_id;
    struct sl_str secret_access_key;
    struct sl_str session_token; /* temporary credentials (STS); empty for long-term keys */
    struct sl_str region;        /* e.g. "us-east-1" */
    struct sl_str service;       /* the signing name: "bedrock" for bedrock-runtime */
};

struct sl_sigv4_header {
    struct sl_str name; /* any case; must be an HTTP token */
    struct sl_str value;
};

struct sl_sigv4_request {
    struct sl_str method; /* "POST" */
    struct sl_str path;   /* as sent on the wire: starts with '/', percent-encoded */
    struct sl_str query;  /* as sent, without the '?'; empty when none */
    /* Headers to sign, as they will be sent; must include "host" (the authority as sent).
     * x-amz-date, x-amz-security-token, x-amz-content-sha256 and authorization are the
     * signer's and refused here. */
    const struct sl_sigv4_header *headers;
    size_t nheaders;
    const h2o_iovec_t *body; /* the body in pieces, in order; NULL/0 for an empty body */
    size_t nbody;
    int64_t now;             /* seconds since the Unix epoch (UTC), as the caller's clock says */
    bool add_content_sha256; /* also send and sign x-amz-content-sha256 (S3-style; optional
                                for other services) */
};

/* What to send. The slices point into the pool passed to sl_sigv4_sign, except
 * security_token, which is creds->session_token itself. Send each non-empty one as a header:
 * Authorization, X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token. */
struct sl_sigv4_out {
    struct sl_str authorization;  /* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
                                     Signature=<64 hex>" */
    struct sl_str amz_date;       /* "YYYYMMDDTHHMMSSZ" */
    struct sl_str content_sha256; /* hex SHA-256 of the body; empty unless add_content_sha256 */
    struct sl_str security_token; /* empty when the credentials have none */
    /* On failure: what was wrong, and the piece of input it concerns (may be empty). Static
     * text and a slice of the caller's input; never secret material. */
    const char *why;
    struct sl_str what;
};

/* The signing-key cache and the OpenSSL contexts a signer reuses. Owned by one thread at a
 * time (no locks inside): keep one per credential per worker thread, e.g. in the worker's
 * state for each provider key. It remembers one derived key, for the access key id, UTC date,
 * region and service of the last request, and derives a new one when any of them changes.
 * A new secret under the same access key id is not noticed (AWS never reissues an id with
 * another secret); a caller whose keys can change that way frees the cache when they do. It
 * holds key material: it is wiped when freed. */
struct sl_sigv4_cache;

/* Returns a new cache, or NULL if OpenSSL lacks HMAC or SHA-256 (a broken installation). */
struct sl_sigv4_cache *sl_sigv4_cache_new(void);
void sl_sigv4_cache_free(struct sl_sigv4_cache *c);

/* Signing keys derived so far (for tests and metrics). */
uint64_t sl_sigv4_cache_derivations(const struct sl_sigv4_cache *c);

/* Signs req with creds at req->now. Allocates the output once from pool and nothing on the
 * heap itself (OpenSSL 3.0 makes 4 small allocations per signing when it re-initialises the
 * cached digest and HMAC contexts).
 * Returns 0 with *out filled; SL_EPARSE when the request or credentials are malformed (no host
 * header, a reserved or invalid header name, a CR, LF or NUL in a value, a path not starting
 * with '/', a time outside years 0-9999, an empty credential field); SL_E2BIG past a limit
 * above; SL_ERR if OpenSSL fails. out->why and out->what then say what was wrong. */
int sl_sigv4_sign(struct sl_sigv4_cache *c, const struct sl_sigv4_creds *creds,
                  const struct sl_sigv4_request *req, h2o_mem_pool_t *pool,
                  struct sl_sigv4_out *out);

/* Like sl_sigv4_sign, and also appends the canonical request and the string to sign to the
 * given buffers (either may be NULL), exactly as they were hashed: for tests, and to compare
 * with the canonical request AWS quotes in a SignatureDoesNotMatch error. The canonical request
 * holds the session token: treat it as a secret. A buffer reaching its cap makes the call fail
 * with SL_E2BIG. */
int sl_sigv4_sign_traced(struct sl_sigv4_cache *c, const struct sl_sigv4_creds *creds,
                         const struct sl_sigv4_request *req, h2o_mem_pool_t *pool,
                         struct sl_sigv4_out *out, struct sl_buf *canonical_request,
                         struct sl_buf *string_to_sign);

/* Appends s percent-encoded as one path segment (every byte outside A-Z a-z 0-9 - . _ ~
 * becomes %XX, upper-case hex; '/' and ':' included), as AWS SDKs put a label such as a
 * Bedrock model id into a path. Returns 0 or SL_E2BIG at the buffer's cap. */
int sl_sigv4_encode_segment(struct sl_buf *b, struct sl_str s);

#endif
