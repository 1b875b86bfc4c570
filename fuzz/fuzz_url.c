/* Parses arbitrary bytes as an upstream base URL and normalises it; a normalised base must parse
 * and normalise to itself, and parse and normalise must agree on what is valid. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str in = sl_str_init((const char *)data, size);
    struct sl_url u;
    struct sl_buf once, twice;
    const char *why = NULL;
    int parsed = sl_url_parse(in, &u, &why);
    if (parsed != SL_OK && why == NULL)
        __builtin_trap();
    if (parsed == SL_OK && (u.port == 0 || (u.path.len != 0 && u.path.ptr[0] != '/')))
        __builtin_trap();
    sl_buf_init(&once, 2 * size + 64);
    sl_buf_init(&twice, 2 * size + 64);
    int rc = sl_url_normalize_openai_base(in, &once, &why);
    if ((rc == SL_OK) != (parsed == SL_OK))
        __builtin_trap();
    if (rc == SL_OK) {
        if (sl_url_parse(sl_buf_str(&once), &u, &why) != SL_OK)
            __builtin_trap();
        if (sl_url_normalize_openai_base(sl_buf_str(&once), &twice, &why) != SL_OK)
            __builtin_trap();
        if (!sl_str_eq(sl_buf_str(&once), sl_buf_str(&twice)))
            __builtin_trap();
        if (once.len > 0 && once.ptr[once.len - 1] == '/')
            __builtin_trap();
    }
    sl_buf_dispose(&once);
    sl_buf_dispose(&twice);
    return 0;
}
