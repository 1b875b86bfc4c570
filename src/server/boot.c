#include <stdio.h>
#include <string.h>

#include "sluice/boot.h"
#include "sluice/log.h"

extern char **environ;

static const char empty_resources[] = "_format_version: \"1\"\n";

struct sl_resources *sl_boot_load_resources(const struct sl_config *cfg, struct sl_diag *diag)
{
    struct sl_resources *res = NULL;
    int rc = cfg->resources_file != NULL
                 ? sl_resources_load(cfg->resources_file, environ, &res, diag)
                 : sl_resources_parse(empty_resources, strlen(empty_resources), "(none)", NULL,
                                      &res, diag);
    return rc == 0 ? res : NULL;
}

void sl_boot_print_errors(const struct sl_diag *diag)
{
    fprintf(stderr, "sluice: %s: %zu error%s:\n", diag->file, diag->count,
            diag->count == 1 ? "" : "s");
    sl_diag_print(diag, stderr);
}

void sl_boot_log_errors(const struct sl_diag *diag)
{
    for (size_t i = 0; i < diag->count; i++) {
        const struct sl_diag_entry *e = &diag->entries[i];
        if (e->line != 0)
            sl_log_warn("  %s:%u: %s", diag->file, e->line, e->msg);
        else
            sl_log_warn("  %s: %s", diag->file, e->msg);
    }
}
