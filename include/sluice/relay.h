/* Relaying an upstream event stream (SSE) to the client, event by event, never buffering the
 * stream: each complete upstream event is rewritten (model -> the caller's alias; the
 * usage-only chunk dropped unless the caller asked for it) and handed to h2o at once.
 *
 * h2o's contract: after h2o_send(IN_PROGRESS) the buffers must stay untouched until h2o calls
 * proceed. Events arriving meanwhile go to a second buffer (double buffering); when it passes
 * the high-water mark the upstream socket is paused and resumed in proceed. Worker thread. */
#ifndef SLUICE_RELAY_H
#define SLUICE_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/h2o.h"
#include "sluice/http.h"
#include "sluice/sse.h"
#include "sluice/upstream.h"

struct sl_relay {
    h2o_generator_t super; /* first member: h2o calls proceed/stop with it */
    h2o_req_t *req;
    struct sl_reqctx *ctx;
    struct sl_upstream_req *up; /* NULL once the upstream exchange ended */
    struct sl_str alias_json;   /* the caller's model value, a JSON string literal */
    bool include_usage;         /* the caller asked for the usage chunk */
    /* private */
    struct sl_sse_parser _sse;
    struct sl_buf _pending;  /* rewritten events not yet handed to h2o */
    struct sl_buf _inflight; /* bytes h2o is sending */
    bool _sending;
    bool _upstream_ended;
    bool _final_sent;
    bool _saw_done;
    bool _paused;
    bool _client_gone;
    uint64_t _last_send_us;
    h2o_timeout_t *_keepalive_timeout; /* NULL: no keep-alive comments */
    h2o_timeout_entry_t _keepalive;
};

/* Starts the 200 event-stream response. up must stay valid until sl_relay_upstream_done. */
void sl_relay_start(struct sl_relay *r, h2o_req_t *req, struct sl_reqctx *ctx,
                    struct sl_upstream_req *up, struct sl_str alias_json, bool include_usage,
                    h2o_timeout_t *keepalive_timeout);

/* Upstream body bytes. Returns 0, or -1 when the relay cannot continue: it has then ended the
 * client's stream itself (an error frame unless the client is gone) and the caller abandons the
 * upstream exchange without calling sl_relay_upstream_done. */
int sl_relay_feed(struct sl_relay *r, const char *data, size_t len);

/* The upstream exchange ended (err SL_UPSTREAM_OK = cleanly). At a clean end an open last line
 * is ended and an open [DONE] event counts; an end without [DONE] gets one; an event left
 * incomplete or a failure ends the stream with an "event: error" frame and no [DONE]. */
void sl_relay_upstream_done(struct sl_relay *r, enum sl_upstream_error err, const char *detail);

/* Microseconds h2o has been holding the current batch without asking for more (the client is
 * not reading), or 0 when nothing is waiting on the client. */
uint64_t sl_relay_blocked_us(const struct sl_relay *r, uint64_t now_us);

/* The client left (noticed outside h2o): stop everything; h2o is told on the next send. */
void sl_relay_client_gone(struct sl_relay *r);

/* Frees the relay's buffers; called when the request is freed. */
void sl_relay_dispose(struct sl_relay *r);

#endif
