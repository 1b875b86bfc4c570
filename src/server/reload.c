#include <stdio.h>

#include "server_internal.h"
#include "sluice/diag.h"
#include "sluice/log.h"
#include "sluice/reload.h"

extern char **environ;

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
        for (size_t i = 0; i < diag.count; i++) {
            if (diag.entries[i].line != 0)
                sl_log_warn("  %s:%u: %s", diag.file, diag.entries[i].line, diag.entries[i].msg);
            else
                sl_log_warn("  %s: %s", diag.file, diag.entries[i].msg);
        }
    }
    sl_diag_dispose(&diag);
}

void sl_reload(struct sl_server *s)
{
    sl_log_info("received SIGHUP: reloading");
    recheck_config(s);
}
