/* Parses arbitrary bytes as a TZif file, or (first byte 'P') the rest as a POSIX TZ rule, and
 * asks the zone for offsets around every transition and far beyond: every offset is in RFC 8536's
 * range (-24:59:59 to +25:59:59, which POSIX rules also span: an hour of DST on -24:59:59 standard
 * time), and a parsed zone answers the same offset twice. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void probe(const struct sl_tz *tz, int64_t t)
{
    int32_t off = sl_tz_offset(tz, t);
    CHECK(off >= -89999 && off <= 93599);
    CHECK(sl_tz_offset(tz, t) == off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_tz *tz = NULL;
    const char *why = NULL;
    int rc;
    if (size > 0 && data[0] == 'P')
        rc = sl_tz_parse_posix(sl_str_init((const char *)data + 1, size - 1), &tz, &why);
    else
        rc = sl_tz_parse(data, size, &tz, &why);
    CHECK(rc == SL_OK ? tz != NULL : why != NULL);
    if (rc != SL_OK)
        return 0;
    static const int64_t probes[] = {
        INT64_MIN / 4, -2147483648LL,  -1,           0, 1, 1700000000, 2147483647LL,
        4102444800LL,  253402300799LL, INT64_MAX / 4};
    for (size_t i = 0; i < SL_ARRAY_LEN(probes); i++)
        probe(tz, probes[i]);
    for (int64_t t = 1577836800; t < 1893456000; t += 86400 * 7)
        probe(tz, t);
    sl_tz_free(tz);
    return 0;
}
