#include <string.h>

#include "sluice/base.h"
#include "sluice/framing.h"

/* Whether line starts with name (lower-case) immediately followed by ':', in any case. */
static bool names(struct sl_str line, const char *name, size_t len)
{
    if (line.len <= len || line.ptr[len] != ':')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = line.ptr[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != name[i])
            return false;
    }
    return true;
}

#define NAMES(line, lit) names((line), (lit), sizeof(lit) - 1)

bool sl_framing_scan(struct sl_str buf, struct sl_framing_headers *out)
{
    *out = (struct sl_framing_headers){0, 0};
    const char *p = buf.ptr, *end = buf.ptr + buf.len;
    bool request_line = true;
    /* Like picohttpparser, one empty line before the request line is skipped (clients may
     * send CRLF after a POST body). */
    if (p < end && *p == '\r')
        p++;
    if (p < end && *p == '\n')
        p++;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return false;
        struct sl_str line = sl_str_init(p, (size_t)(nl - p));
        p = nl + 1;
        if (request_line) {
            request_line = false;
            continue;
        }
        if (line.len == 0 || (line.len == 1 && line.ptr[0] == '\r'))
            return true;
        /* Only the first letter is tested inline: most lines name neither header. */
        char c = (char)(line.ptr[0] | 0x20);
        if (c == 'c')
            out->content_length += NAMES(line, "content-length");
        else if (c == 't')
            out->transfer_encoding += NAMES(line, "transfer-encoding");
    }
    return false;
}
