/* Loading what the server runs on, shared by start-up, SIGHUP and `sluice validate`: the
 * resources file named by config.yaml (or an empty set when there is none) and the proxy
 * environment. Errors are collected in a diag and printed by the caller. */
#ifndef SLUICE_BOOT_H
#define SLUICE_BOOT_H

#include <stdbool.h>

#include "sluice/config.h"
#include "sluice/diag.h"
#include "sluice/resources.h"

/* Loads cfg->resources_file, or an empty set when it is unset. diag must have been initialised
 * with the file name (or "resources"). Returns NULL on failure. Logs a warning naming the file
 * and its mode when group or others may read or write it (sl_boot_is_exposed), at start-up and
 * on every reload. */
struct sl_resources *sl_boot_load_resources(const struct sl_config *cfg, struct sl_diag *diag);

/* True when the file at path (symlinks followed) has any group or other read or write bit;
 * *mode receives its permission bits (e.g. 0644). False when it is private or cannot be
 * stat'ed (loading it reports that). */
bool sl_boot_is_exposed(const char *path, unsigned *mode);

/* Prints "sluice: <file>: N error(s):" and each entry to stderr. */
void sl_boot_print_errors(const struct sl_diag *diag);

/* Logs each entry of diag at WARN (for reloads, where stderr lines are log lines). */
void sl_boot_log_errors(const struct sl_diag *diag);

#endif
