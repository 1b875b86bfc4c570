/* Body-framing headers of an HTTP/1.x request head, counted straight from its bytes.
 *
 * h2o 2.2 frames a body by Transfer-Encoding when both it and Content-Length are present and by
 * the first of several Content-Length headers, and keeps neither header in req->headers, so
 * Sluice re-reads the head to refuse requests that another hop might frame differently
 * (RFC 9112 section 6.3). Re-parsing it with picohttpparser cost ~2,000 instructions per
 * request (6 % of the proxied path, bench-micro); this scan only finds line starts and compares
 * two names. Pure: no I/O, no allocation; any thread. */
#ifndef SLUICE_FRAMING_H
#define SLUICE_FRAMING_H

#include <stdbool.h>

#include "sluice/str.h"

struct sl_framing_headers {
    unsigned content_length;    /* header lines named Content-Length (any case) */
    unsigned transfer_encoding; /* header lines named Transfer-Encoding (any case) */
};

/* Scans the head at the start of buf: the first line (the request line) is skipped; each
 * following line up to the first empty one ("\r\n" or "\n") is a header line, counted when its
 * name, the bytes before its first ':', is one of the two names. Lines end at '\n' (a '\r'
 * before it belongs to the line). Returns true when the empty line was found, false when buf
 * ends first (the counts then cover the complete lines seen). For any head picohttpparser
 * accepts, the counts equal those of the names it reports (fuzz_framing checks this). */
bool sl_framing_scan(struct sl_str buf, struct sl_framing_headers *out);

#endif
