/* Time zones for wall-clock schedules (rate_limit_policies[].schedules): the UTC offset of an
 * IANA zone at an instant, from its TZif file (RFC 8536) and, past the file's last transition,
 * the POSIX TZ rule in its footer ("CET-1CEST,M3.5.0,M10.5.0/3"). Parsing is pure (bytes in, a
 * struct out) and capped; lookups allocate nothing and are safe from any thread. */
#ifndef SLUICE_TZ_H
#define SLUICE_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

struct sl_tz;

/* Caps on what a file may declare (the largest zones have about 240 transitions). */
#define SL_TZ_MAX_TRANSITIONS 4096
#define SL_TZ_MAX_TYPES       256

/* Parses a TZif file of any version (v2 and later: the 64-bit data and the footer). Returns 0
 * with *out (free with sl_tz_free), or SL_EPARSE with *why a static reason. */
int sl_tz_parse(const uint8_t *data, size_t len, struct sl_tz **out, const char **why);

/* Parses a POSIX TZ rule such as "UTC0", "<+08>-8" or "EST5EDT,M3.2.0,M11.1.0" (a zone without
 * transitions). Returns 0 with *out, or SL_EPARSE with *why. */
int sl_tz_parse_posix(struct sl_str rule, struct sl_tz **out, const char **why);

/* A zone fixed at UTC. */
struct sl_tz *sl_tz_utc(void);

void sl_tz_free(struct sl_tz *tz);

/* Seconds east of UTC in force at Unix time t. */
int32_t sl_tz_offset(const struct sl_tz *tz, int64_t t);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31), and back. */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
void sl_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
