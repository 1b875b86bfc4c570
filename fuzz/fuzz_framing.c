/* Fuzz target for the body-framing header scan (src/server/framing.c), which reads raw request
 * heads straight from a client's socket buffer. Oracle: picohttpparser, the parser h2o ran on
 * the same bytes. Whenever it accepts a complete head, the scan must find the head's end and
 * count exactly the Content-Length and Transfer-Encoding names it reports; for any input the
 * scan must not read past the buffer (ASan) and counts only lines it saw. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/framing.h"
#include "sluice/picohttp.h"
#include "sluice/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool name_is(const struct phr_header *h, const char *lower)
{
    return h->name != NULL &&
           sl_str_ieq(sl_str_init(h->name, h->name_len), sl_str_from_cstr(lower));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    char *buf = malloc(size != 0 ? size : 1);
    CHECK(buf != NULL);
    if (size != 0)
        memcpy(buf, data, size);
    struct sl_framing_headers f;
    bool ended = sl_framing_scan(sl_str_init(buf, size), &f);
    /* Every counted line ends in '\n': the counts are bounded by the newlines. */
    size_t newlines = 0;
    for (size_t i = 0; i < size; i++)
        newlines += buf[i] == '\n';
    CHECK((size_t)f.content_length + f.transfer_encoding <= newlines);

    struct phr_header hs[100];
    size_t n = 100, ml, pl;
    const char *m, *p;
    int minor;
    int len = phr_parse_request(buf, size, &m, &ml, &p, &pl, &minor, hs, &n, 0);
    if (len > 0) {
        unsigned cl = 0, te = 0;
        for (size_t i = 0; i < n; i++) {
            cl += name_is(&hs[i], "content-length");
            te += name_is(&hs[i], "transfer-encoding");
        }
        CHECK(ended);
        CHECK(f.content_length == cl);
        CHECK(f.transfer_encoding == te);
        /* The same verdict from the head alone: the body after it is never read. */
        struct sl_framing_headers g;
        CHECK(sl_framing_scan(sl_str_init(buf, (size_t)len), &g));
        CHECK(g.content_length == cl && g.transfer_encoding == te);
    }
    free(buf);
    return 0;
}
