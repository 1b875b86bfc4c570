/* The server: binds listeners, runs N worker threads (one h2o evloop each) and a control loop on
 * the main thread that handles signals, drain and the metrics listener.
 *
 * Lifecycle: sl_server_new -> sl_server_bind (synchronous; prints one error line and fails on a
 * bind error) -> sl_server_run (returns the process exit code after a graceful shutdown) ->
 * sl_server_free. All of these are called from the main thread. */
#ifndef SLUICE_SERVER_H
#define SLUICE_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "sluice/config.h"

struct sl_server;

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and every thread it creates later)
 * and ignores SIGPIPE. Call first thing in main: a signal that arrives while the config loads
 * then waits for the control loop instead of killing the process. */
void sl_server_block_signals(void);

struct sl_resources;
struct sl_proxy_env;

/* Takes ownership of cfg, of res (the boot resources: generation 1) and of *proxy (copied). */
struct sl_server *sl_server_new(struct sl_config *cfg, struct sl_resources *res,
                                struct sl_proxy_env *proxy);
int sl_server_bind(struct sl_server *s);
int sl_server_run(struct sl_server *s);
void sl_server_free(struct sl_server *s);

/* Read from any thread. */
const struct sl_config *sl_server_config(const struct sl_server *s);
/* True from the first SIGTERM/SIGINT on: health checks answer 503 and HTTP/1.1 responses close
 * their connection. */
bool sl_server_is_draining(const struct sl_server *s);
/* The flag itself, for readers on worker threads (relaxed loads). */
const _Atomic bool *sl_server_draining_flag(const struct sl_server *s);

const struct sl_proxy_env *sl_server_proxy_env(const struct sl_server *s);

/* Control thread: makes res (taken) the generation new requests use, on every worker.
 * Returns the new generation's id. */
uint64_t sl_server_publish(struct sl_server *s, struct sl_resources *res);
/* Control thread: the generation currently published. */
const struct sl_generation *sl_server_generation(const struct sl_server *s);

struct sl_worker;
unsigned sl_server_worker_count(const struct sl_server *s);
const struct sl_worker *sl_server_worker(const struct sl_server *s, unsigned i);

#endif
