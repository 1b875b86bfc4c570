#include <stdint.h>
#include <string.h>

#include "encode.h"
#include "sluice/base.h"

bool mock_coding_of(struct sl_str name, enum mock_coding *out)
{
    if (sl_str_ieq_lit(name, "gzip") || sl_str_ieq_lit(name, "x-gzip")) {
        *out = MOCK_CODING_GZIP;
        return true;
    }
    if (sl_str_ieq_lit(name, "deflate")) {
        *out = MOCK_CODING_DEFLATE;
        return true;
    }
    return false;
}

void mock_encoder_init(struct mock_encoder *e, enum mock_coding c)
{
    memset(e, 0, sizeof(*e));
    int bits = c == MOCK_CODING_GZIP ? 16 + MAX_WBITS : MAX_WBITS;
    SL_ASSERT(deflateInit2(&e->z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    e->active = true;
}

void mock_encoder_dispose(struct mock_encoder *e)
{
    if (e->active)
        deflateEnd(&e->z);
    e->active = false;
}

size_t mock_encoder_bound(struct mock_encoder *e, size_t n)
{
    /* deflateBound covers one Z_FINISH call from a fresh stream; a sync flush adds at most an
     * empty stored block (5 bytes) and the gzip trailer 8 more. */
    return deflateBound(&e->z, (uLong)n) + 64;
}

size_t mock_encoder_feed(struct mock_encoder *e, struct sl_str src, bool final, char *dst)
{
    size_t cap = mock_encoder_bound(e, src.len);
    SL_ASSERT(e->active);
    e->z.next_in = (Bytef *)(uintptr_t)src.ptr;
    e->z.avail_in = (uInt)src.len;
    e->z.next_out = (Bytef *)dst;
    e->z.avail_out = (uInt)cap;
    int rc = deflate(&e->z, final ? Z_FINISH : Z_SYNC_FLUSH);
    SL_ASSERT(final ? rc == Z_STREAM_END : rc == Z_OK);
    SL_ASSERT(e->z.avail_in == 0 && e->z.avail_out != 0);
    return cap - e->z.avail_out;
}
