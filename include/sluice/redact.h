/* Redaction of secrets from text Sluice relays but did not write: an upstream's 4xx error
 * message may quote the provider key it was sent ("Incorrect API key provided: sk-..."), and
 * that message is shown to the caller. Pure: no I/O; any thread. */
#ifndef SLUICE_REDACT_H
#define SLUICE_REDACT_H

#include <stddef.h>

#include "sluice/buf.h"
#include "sluice/str.h"

/* What stands in for a secret. */
#define SL_REDACTED "[redacted]"

/* Secrets shorter than this are not searched for: no real key is that short, and replacing a
 * short string everywhere would mangle ordinary text. */
#define SL_REDACT_MIN_BYTES 8

/* Appends text to out with every non-overlapping occurrence of secret replaced by SL_REDACTED,
 * scanning left to right. Returns the number of occurrences replaced (0 when the secret is
 * shorter than SL_REDACT_MIN_BYTES), or SL_E2BIG when out's cap was reached, in which case out
 * holds a prefix of the result that contains no complete secret. */
int sl_redact(struct sl_str text, struct sl_str secret, struct sl_buf *out);

#endif
