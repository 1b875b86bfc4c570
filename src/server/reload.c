#include <stdio.h>
#include <sys/time.h>

#include "server_internal.h"
#include "sluice/boot.h"
#include "sluice/cache_phase.h"
#include "sluice/diag.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/reload.h"
#include "sluice/server.h"

extern char **environ;

static double unix_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* config.yaml itself is bootstrap configuration and needs a restart to change; a reload checks
 * it so an operator learns about a broken file before the next restart does. */
static void recheck_config(struct sl_server *s)
{
    struct sl_diag diag;
    struct sl_config *cfg = NULL;
    sl_diag_init(&diag, s->cfg->file);
    if (sl_config_load(s->cfg->file, environ, &cfg, &diag) == 0) {
        sl_log_info("reload: %s is valid (changes to it take effect at the next restart)",
                    s->cfg->file);
        sl_config_free(cfg);
    } else {
        sl_log_warn("reload: %s has %zu error(s); the running configuration is unchanged and "
                    "a restart would fail:",
                    s->cfg->file, diag.count);
        sl_boot_log_errors(&diag);
    }
    sl_diag_dispose(&diag);
}

/* Loads resources_file into a new generation and publishes it, or keeps the running one. */
static void reload_resources(struct sl_server *s)
{
    struct sl_diag diag;
    sl_diag_init(&diag, s->cfg->resources_file);
    struct sl_resources *res = sl_boot_load_resources(s->cfg, &diag);
    uint64_t running = sl_server_generation(s)->id;
    if (res == NULL) {
        sl_log_warn("reload: %s rejected with %zu error(s); generation %llu keeps serving:",
                    s->cfg->resources_file, diag.count, (unsigned long long)running);
        sl_boot_log_errors(&diag);
        sl_metrics_reload_result(false, (int64_t)running, unix_now());
        sl_diag_dispose(&diag);
        return;
    }
    size_t keys = res->n_provider_keys, models = res->n_models, callers = res->n_api_keys;
    sl_cache_check_policies(s->cfg, res);
    uint64_t id = sl_server_publish(s, res);
    sl_metrics_reload_result(true, (int64_t)id, unix_now());
    sl_log_info("reload: resources file %s reloaded: generation %llu provider_keys=%zu "
                "models=%zu api_keys=%zu",
                s->cfg->resources_file, (unsigned long long)id, keys, models, callers);
    sl_diag_dispose(&diag);
}

/* Certificate rotation without a restart: new handshakes use the new files. */
static void reload_tls(struct sl_server *s)
{
    char err[512];
    if (sl__server_reload_tls(s, err, sizeof(err)) != 0) {
        sl_log_warn("reload: TLS certificate not reloaded: %s; the current certificate stays "
                    "in use",
                    err);
        return;
    }
    sl_log_info("reload: TLS certificate reloaded from %s", s->cfg->proxy.tls.cert_file);
}

void sl_reload(struct sl_server *s)
{
    sl_log_info("received SIGHUP: reloading");
    recheck_config(s);
    if (s->cfg->proxy.tls.cert_file != NULL)
        reload_tls(s);
    if (s->cfg->resources_file != NULL)
        reload_resources(s);
}
