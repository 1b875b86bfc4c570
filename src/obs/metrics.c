#include <inttypes.h>

#include "sluice/metrics.h"
#include "sluice/server.h"
#include "sluice/worker.h"
#include "sluice_version.h"

static uint64_t load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void render_gauge(struct sl_buf *out, const char *name, const char *help, uint64_t v)
{
    sl_buf_appendf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name,
                   v);
}

void sl_metrics_render(const struct sl_server *s, struct sl_buf *out)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    uint64_t inflight = 0, conns = 0, requests[6] = {0};
    unsigned n = sl_server_worker_count(s);
    for (unsigned i = 0; i < n; i++) {
        const struct sl_worker_stats *st = &sl_server_worker(s, i)->stats;
        inflight += load(&st->inflight);
        conns += load(&st->connections);
        for (size_t c = 0; c < 6; c++)
            requests[c] += load(&st->requests[c]);
    }
    sl_buf_appendf(out,
                   "# HELP sluice_build_info Build information.\n# TYPE sluice_build_info gauge\n"
                   "sluice_build_info{version=\"%s\"} 1\n",
                   SL_VERSION);
    render_gauge(out, "sluice_workers", "Worker threads (one event loop each).", n);
    render_gauge(out, "sluice_draining", "1 while a graceful shutdown is in progress.",
                 sl_server_is_draining(s) ? 1 : 0);
    render_gauge(out, "sluice_open_connections", "Client connections currently open.", conns);
    render_gauge(out, "sluice_in_flight_requests", "Requests currently being served.", inflight);
    sl_buf_appendf(out, "# HELP sluice_http_requests_total Requests completed, by status class.\n"
                        "# TYPE sluice_http_requests_total counter\n");
    for (size_t c = 0; c < 6; c++)
        sl_buf_appendf(out, "sluice_http_requests_total{code=\"%s\"} %" PRIu64 "\n", classes[c],
                       requests[c]);
}
