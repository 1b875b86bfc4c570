/* Relaying an upstream event stream to the client: transport only. The relay frames upstream
 * bytes into events (SSE, or AWS's binary event stream from Bedrock), hands each to the first
 * stage of a filter chain (filter.h) whose
 * last stage, the caller dialect's encoder, writes into the relay's output buffer, and sends
 * what was written at once. It never holds the stream whole and never knows a wire format:
 * terminators, error frames and rewrites are the chain's.
 *
 * h2o's contract: after h2o_send(IN_PROGRESS) the buffers must stay untouched until h2o calls
 * proceed. Events arriving meanwhile go to a second buffer (double buffering); when it passes
 * the high-water mark the upstream socket is paused and resumed in proceed. SSE keep-alive
 * comments go out after downstream.sse_keepalive_interval_secs of silence. Worker thread. */
#ifndef SLUICE_RELAY_H
#define SLUICE_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/eventstream.h"
#include "sluice/filter.h"
#include "sluice/h2o.h"
#include "sluice/reqlog.h"
#include "sluice/sse.h"
#include "sluice/upstream.h"

/* How the upstream frames its events. */
enum sl_relay_framing {
    SL_RELAY_SSE = 0, /* text/event-stream */
    /* application/vnd.amazon.eventstream: each message becomes one event named by its
     * :event-type (an exception message: by its :exception-type, which the chain's first stage
     * knows as an error), its data the payload. A CRC mismatch ends the stream with an error
     * (log: upstream_error "eventstream_crc"); so does an "error" message. */
    SL_RELAY_EVENTSTREAM,
};

struct sl_relay {
    h2o_generator_t super; /* first member: h2o calls proceed/stop with it */
    h2o_req_t *req;
    struct sl_reqlog *log;      /* ttft, error kinds, client_gone */
    struct sl_upstream_req *up; /* NULL once the upstream exchange ended */
    /* private */
    struct sl_filter _tap; /* the relay's own last-but-one stage (first event, failures) */
    struct sl_filter *_chain;
    enum sl_relay_framing _framing;
    struct sl_sse_parser _sse;
    struct sl_eventstream_decoder _es;
    struct sl_buf _pending;  /* output not yet handed to h2o: the encoder writes here */
    struct sl_buf _inflight; /* bytes h2o is sending */
    bool _started;
    bool _sending;
    bool _upstream_ended;
    bool _chain_ended;
    bool _final_sent;
    bool _paused;
    bool _client_gone;
    uint64_t _last_send_us;
    h2o_timeout_t *_keepalive_timeout; /* NULL: no keep-alive comments */
    h2o_timeout_entry_t _keepalive;
};

/* Prepares r (no response yet). keepalive_timeout may be NULL. */
void sl_relay_init(struct sl_relay *r, h2o_req_t *req, struct sl_reqlog *log,
                   h2o_timeout_t *keepalive_timeout);

/* Where the chain's encoder writes (valid for the relay's lifetime). */
struct sl_buf *sl_relay_out(struct sl_relay *r);

/* The stage the caller's chain must pass its output through: it notes the first event (TTFT)
 * and a failure's kind in the log, then hands everything to encoder. */
struct sl_filter *sl_relay_tail(struct sl_relay *r, struct sl_filter *encoder);

/* The upstream's framing, before sl_relay_start (SL_RELAY_SSE unless set). */
void sl_relay_set_framing(struct sl_relay *r, enum sl_relay_framing framing);

/* Starts the 200 event-stream response and the relay: chain is the first stage (ending in
 * sl_relay_tail's stage). up must stay valid until sl_relay_upstream_done. */
void sl_relay_start(struct sl_relay *r, struct sl_upstream_req *up, struct sl_filter *chain);

/* Upstream body bytes. Returns 0, or -1 when the relay cannot continue: it has then ended the
 * client's stream itself (an error frame unless the client is gone) and the caller abandons the
 * upstream exchange without calling sl_relay_upstream_done. */
int sl_relay_feed(struct sl_relay *r, const char *data, size_t len);

/* The upstream exchange ended (err SL_UPSTREAM_OK = cleanly). At a clean end an open last line
 * is ended and an open [DONE] event counts, then the chain ends (its encoder writes the
 * terminator); an event left incomplete, or a failure, ends the chain with an error instead. */
void sl_relay_upstream_done(struct sl_relay *r, enum sl_upstream_error err, const char *detail);

/* Microseconds h2o has been holding the current batch without asking for more (the client is
 * not reading), or 0 when nothing is waiting on the client. */
uint64_t sl_relay_blocked_us(const struct sl_relay *r, uint64_t now_us);

/* The client left (noticed outside h2o): stop everything; h2o is told on the next send. */
void sl_relay_client_gone(struct sl_relay *r);

/* Frees the relay's buffers; called when the request is freed. */
void sl_relay_dispose(struct sl_relay *r);

#endif
