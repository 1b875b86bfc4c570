/* Sending a whole response at once (errors go through sl_exchange_error, which renders the
 * route's dialect). Worker thread only. */
#ifndef SLUICE_REPLY_H
#define SLUICE_REPLY_H

#include "sluice/h2o.h"
#include "sluice/str.h"

/* Sends a complete response. body must stay valid until the request is freed (pool memory or
 * static). content_type may be NULL. */
void sl_reply(h2o_req_t *req, int status, const char *content_type, struct sl_str body);

/* Reason phrase for a status code ("Not Found"); "" for unknown codes. */
const char *sl_status_reason(int status);

#endif
