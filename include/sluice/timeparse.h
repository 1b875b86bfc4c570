/* RFC 3339 timestamps, as used by api_keys[].expires_at. */
#ifndef SLUICE_TIMEPARSE_H
#define SLUICE_TIMEPARSE_H

#include <stdint.h>

#include "sluice/base.h"
#include "sluice/str.h"

/* Parses "2026-12-31T23:59:59Z", "2026-12-31T23:59:59.123+02:00", lower-case "t"/"z" and a
 * space instead of "T" (RFC 3339 section 5.6 allows it). Fractions beyond microseconds are
 * truncated; leap second 60 is accepted as 59.999999. Returns 0 with microseconds since the Unix
 * epoch in *out, or SL_EPARSE. */
int sl_time_parse_rfc3339(struct sl_str s, int64_t *out);

#endif
