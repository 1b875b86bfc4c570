#include <string.h>

#include "sluice/base.h"
#include "sluice/redact.h"

int sl_redact(struct sl_str text, struct sl_str secret, struct sl_buf *out)
{
    int replaced = 0;
    const char *p = text.ptr, *end = text.ptr + text.len;
    if (secret.len >= SL_REDACT_MIN_BYTES && text.len >= secret.len) {
        const char *hit;
        while ((hit = memmem(p, (size_t)(end - p), secret.ptr, secret.len)) != NULL) {
            if (sl_buf_append(out, p, (size_t)(hit - p)) != SL_OK ||
                sl_buf_append(out, SL_REDACTED, sizeof(SL_REDACTED) - 1) != SL_OK)
                return SL_E2BIG;
            replaced++;
            p = hit + secret.len;
        }
    }
    if (p != end && sl_buf_append(out, p, (size_t)(end - p)) != SL_OK)
        return SL_E2BIG;
    return replaced;
}
