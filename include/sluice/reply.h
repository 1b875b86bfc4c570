/* Building responses. Every error a client sees is produced here from a row of errors.h, in the
 * OpenAI envelope {"error":{"message":...,"type":...,"code":...}}, so the status table of the
 * reference lives in one place. Worker thread only. */
#ifndef SLUICE_REPLY_H
#define SLUICE_REPLY_H

#include "sluice/errors.h"
#include "sluice/h2o.h"
#include "sluice/str.h"

/* Sends a complete response. body must stay valid until the request is freed (pool memory or
 * static). content_type may be NULL. */
void sl_reply(h2o_req_t *req, int status, const char *content_type, struct sl_str body);

/* Sends an error: pass a row of errors.h and its template's arguments,
 *     sl_reply_error(req, SL_ERR_MODEL_NOT_FOUND, SL_STR_FMT(alias));
 * The row's kind becomes the request's error_kind (when it has a context). The message is
 * formatted, cut to 1024 bytes and JSON-escaped; code NULL means the same as type. */
void sl_reply_error(h2o_req_t *req, int status, const char *type, const char *code,
                    const char *kind, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The same for a row whose status is the caller's (status 0 in the table). */
void sl_reply_error_status(h2o_req_t *req, int status, int row_status, const char *type,
                           const char *code, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Renders the envelope into pool memory: the message (cut to 1024 bytes), type and code (each
 * under 128 bytes; code NULL means the same as type) all JSON-escaped, so any bytes give valid
 * JSON. */
struct sl_str sl_error_envelope(h2o_mem_pool_t *pool, const char *type, const char *code,
                                struct sl_str message);

/* Formats a row's message and renders its envelope (for error frames inside a stream). */
struct sl_str sl_error_envelopef(h2o_mem_pool_t *pool, int status, const char *type,
                                 const char *code, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Reason phrase for a status code ("Not Found"); "" for unknown codes. */
const char *sl_status_reason(int status);

#endif
