/* The mock's request handling on h2o: routing, the OpenAI endpoints, the control endpoints and
 * the per-request state machine for delayed, dripped and streamed responses. One mock_worker per
 * event-loop thread; everything here runs on that worker's loop thread. */
#ifndef SLUICE_MOCK_SERVER_H
#define SLUICE_MOCK_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "aws_sigv4.h"
#include "opts.h"
#include "record.h"
#include "render.h"

/* AWS credentials the Bedrock endpoints accept (--aws-key), at most this many. */
#define MOCK_MAX_AWS_KEYS 4

struct mock_server_cfg {
    struct mock_defaults defaults;
    struct sl_str require_key; /* ptr NULL: any non-empty bearer token is accepted */
    bool quiet;                /* no per-request log lines */
    /* Bedrock: the keys SigV4-signed requests must be signed with, and how far the mock's clock
       is from the real one (seconds; to make a signature look expired). */
    struct av_key aws_keys[MOCK_MAX_AWS_KEYS];
    size_t n_aws_keys;
    int64_t clock_skew_secs;
    bool no_responses; /* .../responses is a 404, as on a chat-only server */
};

/* h2o 2.2 timeouts have one fixed duration each, so a worker keeps one per distinct delay in use.
 * Past this many distinct delays a new one is rounded to the nearest delay already in use. */
#define MOCK_MAX_TIMEOUTS 128

struct mock_worker {
    h2o_context_t ctx; /* the handler finds its worker from req->conn->ctx */
    unsigned id;
    struct rec_counters counters;
    /* private */
    uint64_t _seq; /* response ids */
    size_t _n_timeouts;
    struct {
        uint64_t ms;
        h2o_timeout_t timeout;
    } _timeouts[MOCK_MAX_TIMEOUTS];
};

/* Sets the process-wide configuration (copied; its strings must outlive the server) and
 * precomputes the default response content. Call once, before any worker starts. */
void mock_server_init(const struct mock_server_cfg *cfg);
/* Frees what mock_server_init allocated. */
void mock_server_dispose(void);

/* Registers the mock's handler for every path of host. */
void mock_server_register(h2o_hostconf_t *host);

/* Initialises w (zeroed by the caller) with an h2o context on loop. */
void mock_worker_init(struct mock_worker *w, unsigned id, h2o_evloop_t *loop,
                      h2o_globalconf_t *conf);

/* Internals shared with the endpoint files (anthropic.c); loop thread only. */

/* A planned event stream: event(st, seg, j, w) writes event j of segment seg, error(st, w) the
 * in-band error; no event (nor the error) exceeds ev_cap bytes. segs and st live in req->pool. */
struct mock_sse {
    const struct rd_seg *segs;
    size_t n_segs;
    size_t ev_cap;
    rd_event_fn *event;
    rd_error_fn *error;
    void *st;
    const char *content_type; /* NULL: "text/event-stream; charset=utf-8" */
};

/* Allocates n bytes from the h2o pool ud (a mock_alloc_fn). */
void *mock__pool_alloc(void *ud, size_t n);
/* The process-wide configuration given to mock_server_init. */
const struct mock_server_cfg *mock__cfg(void);
/* A response id: prefix, the worker id, sep and a per-worker sequence number, in req->pool. */
struct sl_str mock__make_id(struct mock_worker *w, h2o_req_t *req, const char *prefix, char sep);
/* s as a JSON string token in req->pool. */
struct sl_str mock__escape_pool(h2o_req_t *req, struct sl_str s);
/* The non-stream content as a JSON string token: the reply, padded to response_bytes. */
struct sl_str mock__reply_token(h2o_req_t *req, const struct mock_opts *o);
/* Sends a JSON body (in req->pool or static) now, with o's headers (o may be NULL). */
void mock__send_json(h2o_req_t *req, int status, struct sl_str body, const struct mock_opts *o);
/* Sends a JSON body (in req->pool or static) with o's delays, drip and headers. Returns 0. */
int mock__respond_body(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o, int status,
                       struct sl_str body);
/* mock.fail_first: counts the request under o's tag and, past the first fail_first, clears the
 * failure it asked for (status, reset_before_headers). Returns SL_ERR, changing nothing, when
 * the tag cannot be counted (reply 400 with MOCK_TOO_MANY_TAGS). Thread-safe. */
int mock__fail_first(struct mock_opts *o);
#define MOCK_TOO_MANY_TAGS "mock.tag: too many distinct tags since the last reset (256)"
/* Streams sse's events as text/event-stream with o's delays and faults. */
void mock__stream(struct mock_worker *w, h2o_req_t *req, const struct mock_opts *o,
                  const struct mock_sse *sse);

#endif
