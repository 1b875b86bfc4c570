/* A Redis client on a worker's event loop (RESP2 over h2o sockets), for the rate limiter's
 * shared counters and, later, the response cache. Replies are parsed by hiredis's RESP reader
 * (only the reader: connecting, writing and timers are Sluice's, on the worker's loop). Commands
 * are pipelined: everything issued during one loop turn goes out in one write, replies are
 * matched in order. TLS uses the upstream client's OpenSSL setup (host name or IP address
 * checks, optional client certificate). A broken connection fails the commands in flight and
 * is reopened with backoff (100 ms doubling to 2 s); AUTH, SELECT and SCRIPT LOAD of every
 * registered script run on each new connection before it counts as ready. Nothing blocks: DNS
 * runs on h2o's resolver threads.
 *
 * Thread affinity: a client and its commands belong to the worker thread that created it. */
#ifndef SLUICE_REDIS_H
#define SLUICE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/h2o.h"
#include "sluice/str.h"

struct sl_redis_config;

/* ---- replies and the RESP reader ---- */

enum sl_redis_type {
    SL_REDIS_STRING = 1, /* the values match hiredis's REDIS_REPLY_* */
    SL_REDIS_ARRAY = 2,
    SL_REDIS_INTEGER = 3,
    SL_REDIS_NIL = 4,
    SL_REDIS_STATUS = 5,
    SL_REDIS_ERROR = 6,
};

struct sl_redis_reply {
    enum sl_redis_type type;
    int64_t integer;                  /* SL_REDIS_INTEGER */
    struct sl_str str;                /* STRING, STATUS and ERROR (NUL-terminated) */
    struct sl_redis_reply **elements; /* SL_REDIS_ARRAY */
    size_t n;
};

/* Caps on what a server may send: a reply is refused (the connection dropped) past them. */
#define SL_RESP_MAX_STRING   (1u << 20)
#define SL_RESP_MAX_ELEMENTS 4096u
#define SL_RESP_MAX_PENDING  (4u << 20) /* unparsed input held at once */

struct sl_resp_reader;

struct sl_resp_reader *sl_resp_reader_new(void);
void sl_resp_reader_free(struct sl_resp_reader *r);
/* Appends input. Returns 0, or SL_E2BIG when more than SL_RESP_MAX_PENDING bytes would wait
 * unparsed (the reader is then unusable). */
int sl_resp_feed(struct sl_resp_reader *r, const char *data, size_t len);
/* The next complete reply: SL_OK with *out (free with sl_redis_reply_free), SL_AGAIN when more
 * input is needed, or SL_EPARSE for a protocol error or a cap passed (the reader is then
 * unusable; why says what). */
int sl_resp_next(struct sl_resp_reader *r, struct sl_redis_reply **out, const char **why);
void sl_redis_reply_free(struct sl_redis_reply *reply);

/* ---- the client ---- */

struct sl_redis;
struct sl_redis_cmd;

/* A Lua script, loaded on every connection and called by its SHA-1 (EVALSHA). */
struct sl_redis_script {
    const char *src;
    char sha[41];
};

/* Computes the script's SHA-1 (call once, before registering it). */
void sl_redis_script_init(struct sl_redis_script *s, const char *src);

/* A command's outcome: reply (an SL_REDIS_ERROR reply is the server's answer, not a failure),
 * or NULL with why when the connection failed or timed out before the reply. Never called from
 * inside sl_redis_command or sl_redis_eval. */
typedef void sl_redis_cb(void *ud, const struct sl_redis_reply *reply, const char *why);

/* Connection state changes: up when a connection finished AUTH/SELECT/SCRIPT LOAD, down (with
 * why) when a ready connection broke or an attempt failed. */
typedef void sl_redis_state_cb(void *ud, bool up, const char *why);

/* Creates the client and starts connecting. cfg (host, port, TLS, credentials, database,
 * timeouts) must outlive it; scripts (n of them, initialised) too. */
struct sl_redis *sl_redis_new(h2o_context_t *ctx, const struct sl_redis_config *cfg,
                              const struct sl_redis_script *const *scripts, size_t nscripts,
                              sl_redis_state_cb *on_state, void *ud);
/* Closes the connection; commands in flight get their callback with why "closed". */
void sl_redis_free(struct sl_redis *r);

bool sl_redis_is_ready(const struct sl_redis *r);

/* Queues a command (argv: the words, binary-safe). Returns a handle, or NULL without queuing
 * when the connection is not ready (the caller decides what that means). */
struct sl_redis_cmd *sl_redis_command(struct sl_redis *r, size_t argc, const struct sl_str *argv,
                                      sl_redis_cb *cb, void *ud);
/* EVALSHA script with nkeys keys followed by the other arguments (argv holds both). */
struct sl_redis_cmd *sl_redis_eval(struct sl_redis *r, const struct sl_redis_script *s,
                                   size_t nkeys, size_t argc, const struct sl_str *argv,
                                   sl_redis_cb *cb, void *ud);
/* The callback of cmd will not run; its reply is read and dropped. */
void sl_redis_cancel(struct sl_redis_cmd *cmd);

struct sl_redis_stats {
    uint64_t connects; /* connections that became ready */
    uint64_t failures; /* connection attempts that failed, and ready connections that broke */
    uint64_t commands; /* commands sent */
    uint64_t writes;   /* socket writes (commands of a loop turn share one) */
    uint64_t noscript; /* EVALSHA answered NOSCRIPT (scripts reloaded) */
    uint64_t timeouts; /* connections dropped for a command unanswered past timeout_ms */
};
const struct sl_redis_stats *sl_redis_stats(const struct sl_redis *r);

#endif
