/* Fuzz target for the body decoder (src/upstream/decode.c): gzip and deflate, stacked up to
 * three deep, over bytes an upstream controls.
 *
 * Input: byte 0 picks the codings (bits 0-1: how many, 1-3; bits 2-4: gzip or deflate for each)
 * and the mode (bit 7); byte 1 a piece size; the rest is the body.
 * - Mode 0 decodes the rest as it is: fed whole and fed in pieces, the verdict (corrupt, cut
 *   short, complete) must be the same and the output of one run a prefix of the other's.
 * - Mode 1 first encodes the rest with those codings (deflate with or without its zlib wrapper,
 *   bit 6), then decodes it whole and in pieces: both must give back exactly the rest.
 * Always: no piece is larger than SL_DECODE_PIECE_BYTES, and output stops at a 64 KiB cap the way
 * a caller's cap stops it, so a bomb costs nothing more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (64u * 1024)

struct run {
    int rc;
    bool capped;
    bool complete;
    struct sl_buf out;
};

static void decode(const struct sl_codings *c, struct sl_str in, size_t step, struct run *r)
{
    struct sl_decoder *d = sl_decoder_new(c);
    sl_buf_init(&r->out, OUT_CAP);
    r->rc = SL_OK;
    size_t at = 0;
    do {
        size_t n = SL_MIN(step, in.len - at);
        struct sl_str part = sl_str_init(in.ptr + at, n), piece;
        at += n;
        for (;;) {
            r->rc = sl_decoder_step(d, &part, &piece);
            if (r->rc != SL_OK || piece.len == 0)
                break;
            CHECK(piece.len <= SL_DECODE_PIECE_BYTES);
            if (sl_buf_append(&r->out, piece.ptr, piece.len) != SL_OK) {
                r->capped = true;
                goto out;
            }
        }
        if (r->rc != SL_OK)
            goto out;
        CHECK(part.len == 0); /* no output means the input was used up */
    } while (at < in.len);
    r->complete = sl_decoder_is_complete(d);
out:
    sl_decoder_free(d);
}

/* Applies one coding with zlib; the result is heap memory. */
static struct sl_str encode_one(struct sl_str src, enum sl_coding c, bool raw)
{
    z_stream z = {0};
    int bits = c == SL_CODING_GZIP ? 16 + MAX_WBITS : raw ? -MAX_WBITS : MAX_WBITS;
    CHECK(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, (uLong)src.len) + 16;
    unsigned char *out = sl_xmalloc(cap);
    z.next_in = (Bytef *)(uintptr_t)src.ptr;
    z.avail_in = (uInt)src.len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return sl_str_init((const char *)out, n);
}

static bool one_prefixes_other(struct sl_str a, struct sl_str b)
{
    size_t n = SL_MIN(a.len, b.len);
    return n == 0 || memcmp(a.ptr, b.ptr, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct sl_codings c = {.n = (size_t)(data[0] & 0x03) % 3 + 1};
    for (size_t i = 0; i < c.n; i++)
        c.list[i] = (data[0] >> (2 + i)) & 1 ? SL_CODING_DEFLATE : SL_CODING_GZIP;
    bool roundtrip = (data[0] & 0x80) != 0, raw = (data[0] & 0x40) != 0;
    size_t step = (size_t)data[1] + 1;
    struct sl_str body = sl_str_init((const char *)data + 2, size - 2);
    struct sl_str in = body;
    if (roundtrip) {
        for (size_t i = 0; i < c.n; i++) {
            struct sl_str next = encode_one(in, c.list[i], raw);
            if (in.ptr != body.ptr)
                free((void *)in.ptr);
            in = next;
        }
    }
    struct run whole = {0}, split = {0};
    decode(&c, in, in.len != 0 ? in.len : 1, &whole);
    decode(&c, in, step, &split);
    /* Output before a failure may differ (a failing inflate call's output is dropped, and with
     * stacked codings either layer may notice its corruption first), but both runs decode the
     * same stream: one output is a prefix of the other. */
    CHECK(one_prefixes_other(sl_buf_str(&whole.out), sl_buf_str(&split.out)));
    if (!whole.capped && !split.capped) {
        CHECK(whole.rc == split.rc);
        if (whole.rc == SL_OK) {
            CHECK(whole.complete == split.complete);
            CHECK(sl_str_eq(sl_buf_str(&whole.out), sl_buf_str(&split.out)));
        }
    }
    /* zlib writes a body this small as one final block, so raw deflate never starts with
     * bytes that pass for a zlib header, and the decoder's choice is always right. */
    if (roundtrip && body.len <= OUT_CAP) {
        CHECK(whole.rc == SL_OK && whole.complete && split.complete);
        CHECK(sl_str_eq(sl_buf_str(&whole.out), body));
        CHECK(sl_str_eq(sl_buf_str(&split.out), body));
    }
    if (in.ptr != body.ptr)
        free((void *)in.ptr);
    sl_buf_dispose(&whole.out);
    sl_buf_dispose(&split.out);
    return 0;
}
