/* Building responses. Every error a client sees is produced here, in the OpenAI envelope
 * {"error":{"message":...,"type":...,"code":...}} ("code" omitted when NULL), so the status
 * table of the reference lives in one place. Worker thread only. */
#ifndef SLUICE_REPLY_H
#define SLUICE_REPLY_H

#include "sluice/h2o.h"
#include "sluice/str.h"

/* Sends a complete response. body must stay valid until the request is freed (pool memory or
 * static). content_type may be NULL. */
void sl_reply(h2o_req_t *req, int status, const char *content_type, struct sl_str body);

/* Sends an error in the OpenAI envelope. type is e.g. "invalid_request_error"; code may be NULL.
 * The formatted message is JSON-escaped. */
void sl_reply_error(h2o_req_t *req, int status, const char *type, const char *code, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/* Renders the envelope into pool memory: the message (cut to 1024 bytes), type and code (each
 * under 128 bytes; code may be NULL) all JSON-escaped, so any bytes give valid JSON. */
struct sl_str sl_error_envelope(h2o_mem_pool_t *pool, const char *type, const char *code,
                                struct sl_str message);

/* Reason phrase for a status code ("Not Found"); "" for unknown codes. */
const char *sl_status_reason(int status);

#endif
