/* Every error Sluice itself answers a client with, in one table. A row is an object-like macro
 * that expands, inside the argument list of sl_reply_error, to
 *     status, type, code, kind, message template
 * so a call site names the row and passes only the template's arguments, and the compiler checks
 * them against the template (it is a string literal at the call):
 *     sl_reply_error(req, SL_ERR_MODEL_NOT_FOUND, SL_STR_FMT(alias));
 * status: the HTTP status (0: the caller passes it, see sl_reply_error_status). type: the
 * reference gateway's error type. code: the envelope's code; NULL means "the same as type", so
 * a client that checks err.code finds a value as it would with OpenAI. kind: the access log's
 * error_kind and the metric label. The dialect (OpenAI or, later, others) decides how the row is
 * rendered; docs/operations.md lists the rows as callers see them. */
#ifndef SLUICE_ERRORS_H
#define SLUICE_ERRORS_H

/* Requests */
#define SL_ERR_INVALID_REQUEST                                                                     \
    400, "invalid_request_error", NULL, "invalid_request", "request payload is invalid: %s"
#define SL_ERR_INVALID_REQUEST_TEXT                                                                \
    400, "invalid_request_error", NULL, "invalid_request", "request payload is invalid: %.*s"
#define SL_ERR_AMBIGUOUS_FRAMING                                                                   \
    400, "invalid_request_error", "ambiguous_framing", "ambiguous_framing",                        \
        "request payload is invalid: %s"
#define SL_ERR_BODY_TOO_LARGE                                                                      \
    413, "invalid_request_error", "request_too_large", "body_too_large",                           \
        "request body is larger than the limit of %llu bytes (proxy.request_body_limit_bytes)"
#define SL_ERR_ROUTE_NOT_FOUND                                                                     \
    404, "invalid_request_error", "not_found", "not_found", "no route for %.*s %.*s"
#define SL_ERR_METHOD_NOT_ALLOWED                                                                  \
    405, "invalid_request_error", "method_not_allowed", "method_not_allowed",                      \
        "method %.*s is not allowed on %.*s (allowed: %s)"
#define SL_ERR_EXPECTATION_FAILED                                                                  \
    417, "invalid_request_error", NULL, "expectation_failed",                                      \
        "expectation failed: only \"Expect: 100-continue\" is supported"
/* Other errors h2o raises itself (the status is h2o's; the message is its text). */
#define SL_ERR_HTTP_CLIENT 0, "invalid_request_error", NULL, "http_error", "%.*s"
#define SL_ERR_HTTP_SERVER 0, "api_error", NULL, "http_error", "%.*s"

/* Caller keys */
#define SL_ERR_KEY_MISSING                                                                         \
    401, "invalid_api_key", NULL, "unauthorized",                                                  \
        "missing or malformed Authorization header (expected \"Bearer <key>\" or an x-api-key "    \
        "header)"
#define SL_ERR_KEY_UNKNOWN 401, "invalid_api_key", NULL, "unauthorized", "invalid API key"
#define SL_ERR_KEY_DISABLED                                                                        \
    401, "invalid_api_key", "api_key_disabled", "unauthorized", "API key is disabled"
#define SL_ERR_KEY_EXPIRED                                                                         \
    401, "invalid_api_key", "api_key_expired", "unauthorized", "API key has expired"

/* Models */
#define SL_ERR_MODEL_NOT_FOUND                                                                     \
    404, "model_not_found", NULL, "model_not_found", "model \"%.*s\" does not exist"
#define SL_ERR_MODEL_NOT_ALLOWED                                                                   \
    403, "permission_denied", NULL, "permission_denied",                                           \
        "API key \"%s\" is not allowed to use model \"%.*s\""

/* Routing (reference 7.1). The message never names a group's targets or the client ranges. */
#define SL_ERR_IP_RESTRICTED                                                                       \
    403, "permission_denied", "ip_restricted", "ip_restricted",                                    \
        "Access denied: your client IP is not allowed to access this model"
#define SL_ERR_ROUTING_TAGS                                                                        \
    400, "invalid_request_error", NULL, "invalid_request",                                         \
        "request payload is invalid: no routing target matches request tags \"%.*s\""
#define SL_ERR_ALL_CANDIDATES_UNAVAILABLE                                                          \
    503, "all_candidates_unavailable", NULL, "all_candidates_unavailable",                         \
        "all routing candidates are unavailable"
#define SL_ERR_UPSTREAM_STREAM_EMPTY                                                               \
    502, "stream_aborted", NULL, "stream_aborted", "upstream stream ended before its first event"

#define SL_ERR_ROUTE_UNSUPPORTED                                                                   \
    400, "invalid_request_error", NULL, "invalid_request",                                         \
        "model \"%.*s\" (provider family %s) cannot serve %s"
#define SL_ERR_COUNT_TOKENS_UNSUPPORTED                                                            \
    400, "invalid_request_error", NULL, "invalid_request",                                         \
        "count_tokens is supported for Anthropic models only: model \"%.*s\" is served by the "    \
        "%s provider family"

/* Limits (reference 4.5). The last argument is " (policy 'name')" for a policy's, else "". */
#define SL_ERR_LIMIT_REQUESTS                                                                      \
    429, "rate_limit_exceeded", NULL, "rate_limited", "request limit exceeded (requests)%s"
#define SL_ERR_LIMIT_TOKENS                                                                        \
    429, "rate_limit_exceeded", NULL, "rate_limited", "token limit exceeded (tokens)%s"
#define SL_ERR_LIMIT_CONCURRENCY                                                                   \
    429, "rate_limit_exceeded", NULL, "rate_limited", "concurrency limit exceeded%s"
#define SL_ERR_BUDGET_EXCEEDED                                                                     \
    429, "billing_error", "budget_exceeded", "budget_exceeded",                                    \
        "api_key budget \"%s\" exceeded ($%s of $%s per %s). Resets at %s"
/* Redis unreachable with ratelimit.redis.on_error: deny. */
#define SL_ERR_LIMITS_UNAVAILABLE                                                                  \
    503, "api_error", "ratelimit_unavailable", "ratelimit_unavailable",                            \
        "rate limits cannot be checked: the shared limit store is unreachable"
/* Responses: a response id that is not one this caller may use (respid.h; the same answer
 * whether the id is malformed, forged, another caller's or another provider key's). */
#define SL_ERR_RESPONSE_NOT_FOUND                                                                  \
    404, "invalid_request_error", "response_not_found", "not_found",                               \
        "no response with id \"%.*s\" was created with this API key"
#define SL_ERR_PREVIOUS_RESPONSE_NOT_FOUND                                                         \
    400, "invalid_request_error", "previous_response_not_found", "invalid_request",                \
        "previous_response_id: no response with id \"%.*s\" was created with this API key "        \
        "through the upstream of model \"%.*s\""

/* Upstream failures */
#define SL_ERR_UPSTREAM_TIMEOUT                                                                    \
    504, "timeout", NULL, "upstream_timeout", "upstream request timed out: %s"
#define SL_ERR_UPSTREAM_INVALID                                                                    \
    502, "upstream_decode_error", NULL, "upstream_decode_error",                                   \
        "upstream sent an invalid response: %s"
#define SL_ERR_UPSTREAM_BAD_JSON                                                                   \
    502, "upstream_decode_error", NULL, "upstream_decode_error",                                   \
        "upstream returned invalid JSON: %s at byte %zu"
#define SL_ERR_UPSTREAM_UNREACHABLE                                                                \
    502, "transport_error", NULL, "transport_error", "upstream unreachable: %s"
/* The egress proxy's 407: final, never retried (src/upstream/client.c fail_proxy_auth). */
#define SL_ERR_UPSTREAM_PROXY_AUTH                                                                 \
    502, "transport_error", "proxy_auth_required", "transport_error", "upstream unreachable: %s"
/* A body coding Sluice cannot undo (br, zstd), or corrupt gzip/deflate data. */
#define SL_ERR_UPSTREAM_UNDECODABLE                                                                \
    502, "upstream_decode_error", NULL, "upstream_decode_error",                                   \
        "cannot decode the upstream response: %s"
#define SL_ERR_UPSTREAM_5XX 502, "upstream_error", NULL, "upstream_error", "upstream returned %d"
#define SL_ERR_UPSTREAM_ODD_STATUS                                                                 \
    502, "upstream_error", NULL, "upstream_error", "upstream returned unexpected status %d"
#define SL_ERR_UPSTREAM_TOO_LARGE                                                                  \
    502, "upstream_error", "response_too_large", "upstream_error",                                 \
        "upstream response is larger than %llu bytes (upstream.max_response_bytes)"
#define SL_ERR_UPSTREAM_MODEL_REPEATS                                                              \
    502, "upstream_decode_error", NULL, "upstream_decode_error",                                   \
        "upstream reply repeats \"model\" more than %d times"
/* A family's access token could not be had (Entra ID, Google OAuth): the token endpoint's own
 * error, or why it could not be reached. */
#define SL_ERR_UPSTREAM_AUTH                                                                       \
    502, "upstream_error", "upstream_auth_failed", "upstream_auth",                                \
        "cannot get an access token for the upstream: %s"
/* A 2xx reply that refuses the request (Gemini's promptFeedback.blockReason). */
#define SL_ERR_UPSTREAM_REFUSED                                                                    \
    400, "invalid_request_error", "prompt_blocked", "upstream_refused", "%s"
/* An upstream 4xx whose message could not be read: the status is the upstream's. */
#define SL_ERR_UPSTREAM_4XX 0, "upstream_error", NULL, "upstream_error", "upstream returned %d"

/* In-stream failures (an "event: error" frame after the 200; status is what the failure would
 * have been before it). */
#define SL_ERR_STREAM_TIMEOUT                                                                      \
    504, "timeout", NULL, "upstream_timeout", "upstream stream timed out: %s"
#define SL_ERR_STREAM_ABORTED                                                                      \
    502, "stream_aborted", NULL, "stream_aborted", "upstream stream failed: %s"
#define SL_ERR_STREAM_MODEL_REPEATS                                                                \
    502, "stream_aborted", NULL, "stream_aborted",                                                 \
        "upstream event repeats \"model\" more than %d times"
#define SL_ERR_STREAM_CUT                                                                          \
    502, "stream_aborted", NULL, "stream_aborted", "upstream stream ended in the middle of an event"
/* AWS event streams (Bedrock): a message whose CRC does not match, or broken framing. */
#define SL_ERR_STREAM_CORRUPT                                                                      \
    502, "stream_aborted", NULL, "stream_aborted", "upstream event stream is corrupt: %s"
/* ... and a message of type "error": the service gave up on the stream. */
#define SL_ERR_STREAM_UPSTREAM                                                                     \
    502, "stream_aborted", NULL, "upstream_error", "upstream stream failed: %.*s: %.*s"

#endif
