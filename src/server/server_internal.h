/* State shared by the files of src/server/. Not a public contract. */
#ifndef SLUICE_SERVER_INTERNAL_H
#define SLUICE_SERVER_INTERNAL_H

#include <signal.h>
#include <stdatomic.h>

#include "sluice/config.h"
#include "sluice/generation.h"
#include "sluice/h2o.h"
#include "sluice/proxy_env.h"
#include "sluice/ratelimit.h"
#include "sluice/worker.h"

struct sl_server {
    struct sl_config *cfg;
    h2o_globalconf_t globalconf; /* the proxy's h2o configuration, shared read-only by workers */
    char *server_name;           /* "sluice/<version>" */
    unsigned nworkers;
    struct sl_worker *workers;
    _Atomic bool draining;
    struct sl_proxy_env proxy_env; /* read-only after start-up; shared by worker clients */
    struct sl_generation *gen;     /* the published generation (control thread's reference) */
    SSL_CTX *tls_ctx;              /* proxy TLS context (control thread's reference) or NULL */
    /* Client connections open in the whole process, for proxy.max_connections: one atomic
     * add per connection, never per request. */
    _Atomic uint64_t open_connections;
    /* Workers report in here once their loop is ready to accept. */
    pthread_mutex_t started_mutex;
    pthread_cond_t started_cond;
    unsigned started;
    /* Control loop (main thread): signals, drain, metrics listener. */
    struct sl_control *control;
    /* Rate limits, concurrency and budgets: the process's counters (read by every worker). */
    struct sl_limiter *limiter;
    /* The response cache: the memory store and Redis state the workers share. */
    struct sl_cache_process *cache;
    /* Background model checks (route.h), NULL until started. */
    struct sl_route_checker *checker;
};

/* The control loop (control.c). sl_control_bind opens the metrics listener (if enabled);
 * sl_control_start creates the loop, the signalfd and the metrics server; sl_control_run runs
 * the loop until shutdown completes and returns the exit code. */
int sl_control_bind(struct sl_server *s);
int sl_control_start(struct sl_server *s, const sigset_t *signals);
int sl_control_run(struct sl_server *s);
void sl_control_dispose(struct sl_server *s);

/* Control thread: rebuilds the TLS context from proxy.tls and hands it to every worker; on
 * failure keeps the current one and fills err. Returns 0 or SL_ERR. */
int sl__server_reload_tls(struct sl_server *s, char *err, size_t errlen);

/* Lingering close (linger.c), worker thread. sl__linger_init prepares w's timer and list.
 * sl__linger_close takes over fd, a descriptor of a client socket whose other descriptor h2o
 * has closed after its last response: when the client may still be sending, it shuts the write
 * side and reads and discards what arrives until the client closes, for at most 32 MiB or
 * 5 s (at most 1024 sockets per worker: past that the oldest is closed), then closes fd;
 * otherwise it closes fd at once. */
void sl__linger_init(struct sl_worker *w);
void sl__linger_close(struct sl_worker *w, int fd);

/* Called by a worker thread when it is ready (after its first listener is registered). */
void sl__server_worker_started(struct sl_server *s);

#endif
