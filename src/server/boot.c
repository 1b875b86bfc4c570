#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/boot.h"
#include "sluice/log.h"

extern char **environ;

static const char empty_resources[] = "_format_version: \"1\"\n";

bool sl_boot_is_exposed(const char *path, unsigned *mode)
{
    struct stat st;
    if (stat(path, &st) == -1)
        return false;
    *mode = (unsigned)st.st_mode & 07777;
    return (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0;
}

/* The file holds provider keys and caller key hashes; anyone who can read it can spend the
 * former and probe the latter. Warn (every load, so also on each reload) but keep going: the
 * operator may have reasons, e.g. a group shared with a sidecar. */
static void warn_if_exposed(const char *path)
{
    unsigned mode;
    if (!sl_boot_is_exposed(path, &mode))
        return;
    sl_log_warn("resources file %s is %s by other users (mode %04o); it holds provider keys: "
                "restrict it to the owner (chmod 600)",
                path, (mode & 044) != 0 ? "readable" : "writable", mode);
}

struct sl_resources *sl_boot_load_resources(const struct sl_config *cfg, struct sl_diag *diag)
{
    struct sl_resources *res = NULL;
    if (cfg->resources_file != NULL)
        warn_if_exposed(cfg->resources_file);
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
