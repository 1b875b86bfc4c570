/* Feeds arbitrary bytes to the config.yaml loader with an empty environment and frees whatever
 * it returns; ASan/UBSan and leak detection do the checking. */
#include <stddef.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/diag.h"
#include "sluice/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *const no_env[] = {NULL};
    struct sl_config *cfg = NULL;
    struct sl_diag diag;
    /* proxy.thread_per_core: false logs a warning; keep the fuzzer's output readable. */
    sl_log_set_level(SL_LOG_ERROR);
    sl_diag_init(&diag, "fuzz.yaml");
    int rc = sl_config_parse((const char *)data, size, "fuzz.yaml", no_env, &cfg, &diag);
    if (rc == SL_OK && (cfg == NULL || diag.count != 0))
        __builtin_trap();
    if (rc != SL_OK && (cfg != NULL || diag.count == 0))
        __builtin_trap();
    sl_config_free(cfg);
    sl_diag_dispose(&diag);
    return 0;
}
