/* One access-log line per request, at INFO, written by the worker that served it:
 *   ... INFO  access method=POST path="/v1/chat/completions" status=200 duration_ms=12.345
 *   bytes=456 proto=HTTP/1.1 request_id=... [model="..." upstream_model="..." key="..."
 *   prompt_tokens=N completion_tokens=N error="..." served_by="..."
 *   attempts="gpt-a 503 12ms, gpt-a reset 3ms, gpt-b 200 31ms"]
 * attempts lists every upstream attempt: the target (a direct model), its status or failure
 * kind, and its time to a verdict; served_by is set for a model group's success.
 * Values from the wire are escaped (sl_log_escape). Credentials never appear: only the key's
 * display name is logged. */
#ifndef SLUICE_ACCESS_LOG_H
#define SLUICE_ACCESS_LOG_H

#include "sluice/h2o.h"
#include "sluice/reqlog.h"

/* log may be NULL (requests answered by h2o itself). status is what the client saw, 499 when
 * it left before the response completed. */
void sl_access_log_write(h2o_req_t *req, const struct sl_reqlog *log, int status);

#endif
