/* The mock's own check of AWS Signature Version 4 (header form, AWS4-HMAC-SHA256), written from
 * AWS's published algorithm and kept apart from Sluice's signer (src/providers/sigv4.c) on
 * purpose: the Bedrock endpoints verify every request's signature with it, so a signer that
 * drifts from AWS's rules fails here as it would against AWS. It recomputes the signature from
 * the request as received (raw path, headers, body) with one-shot OpenSSL SHA256()/HMAC().
 * Pure; any thread. */
#ifndef SLUICE_MOCK_AWS_SIGV4_H
#define SLUICE_MOCK_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

/* A credential the mock accepts. token: required session token, or empty for none. */
struct av_key {
    struct sl_str access_key_id;
    struct sl_str secret;
    struct sl_str token;
};

struct av_header {
    struct sl_str name; /* any case */
    struct sl_str value;
};

struct av_request {
    struct sl_str method;
    struct sl_str target;            /* the raw request target: path and query, as sent */
    const struct av_header *headers; /* every header, "host" among them */
    size_t n_headers;
    struct sl_str body;
};

/* What was wrong, in the terms of AWS's errors (x-amzn-ErrorType). */
enum av_verdict {
    AV_OK = 0,
    AV_MISSING,       /* MissingAuthenticationTokenException: no Authorization at all */
    AV_INCOMPLETE,    /* IncompleteSignatureException: malformed Authorization or dates */
    AV_UNKNOWN_KEY,   /* UnrecognizedClientException: no such access key id, or bad token */
    AV_BAD_SIGNATURE, /* InvalidSignatureException: the signature does not match */
    AV_EXPIRED,       /* InvalidSignatureException: "Signature expired: ..." */
    AV_NOT_YET,       /* InvalidSignatureException: "Signature not yet current: ..." */
    AV_BAD_SCOPE,     /* InvalidSignatureException: the credential scope is not this service's */
};

/* Checks r's signature for service against keys at now (Unix seconds; AWS allows 5 minutes of
 * skew either way). Returns the verdict, with AWS's message for it in msg (for a mismatch, as
 * AWS does, the canonical request and string to sign it expected). */
enum av_verdict av_verify(const struct av_request *r, const struct av_key *keys, size_t n_keys,
                          const char *service, int64_t now, char *msg, size_t msglen);

/* The x-amzn-ErrorType name of a verdict. */
const char *av_error_type(enum av_verdict v);

#endif
