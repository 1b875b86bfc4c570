/* Body codings (src/upstream/decode.c): header values to coding lists, gzip (one member or
 * several), deflate with and without its zlib wrapper, stacked codings, every input split at
 * every byte, corrupt and truncated data, and a decompression bomb coming out in capped pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/decode.h"

int main(void);

/* ---- helpers ---- */

enum wrap { WRAP_GZIP, WRAP_ZLIB, WRAP_RAW };

/* Compresses src with zlib in the given wrapper; the result is heap memory. */
static struct sl_str compress_with(struct sl_str src, enum wrap w)
{
    z_stream z = {0};
    int bits = w == WRAP_GZIP ? 16 + MAX_WBITS : w == WRAP_ZLIB ? MAX_WBITS : -MAX_WBITS;
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)src.len) + 16;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)src.ptr;
    z.avail_in = (uInt)src.len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return sl_str_init((const char *)out, n);
}

static struct sl_codings codings_of(const char *content, const char *transfer)
{
    struct sl_codings c = {.n = 0};
    char err[128];
    if (content != NULL)
        assert_int_equal(sl_codings_add(&c, sl_str_from_cstr(content), false, err, sizeof(err)),
                         SL_OK);
    if (transfer != NULL)
        assert_int_equal(sl_codings_add(&c, sl_str_from_cstr(transfer), true, err, sizeof(err)),
                         SL_OK);
    return c;
}

struct result {
    int rc;        /* SL_OK or SL_EPARSE */
    bool complete; /* sl_decoder_is_complete after the input ended */
    size_t pieces;
    size_t largest;
    struct sl_buf out;
    char err[160];
};

/* Decodes in, fed as a first piece of `first` bytes and then pieces of `step` bytes (0: the
 * rest at once), collecting up to cap output bytes. */
static void decode(const struct sl_codings *c, struct sl_str in, size_t first, size_t step,
                   size_t cap, struct result *res)
{
    struct sl_decoder *d = sl_decoder_new(c);
    memset(res, 0, sizeof(*res));
    sl_buf_init(&res->out, cap);
    size_t at = 0;
    do {
        size_t want = at == 0 ? first : step == 0 ? in.len - at : step;
        size_t n = SL_MIN(want, in.len - at);
        struct sl_str part = sl_str_init(in.ptr + at, n), piece;
        at += n;
        for (;;) {
            res->rc = sl_decoder_step(d, &part, &piece);
            if (res->rc != SL_OK || piece.len == 0)
                break;
            res->pieces++;
            res->largest = SL_MAX(res->largest, piece.len);
            if (sl_buf_append(&res->out, piece.ptr, piece.len) != SL_OK)
                goto out; /* the caller's cap: it stops reading, as the proxy does */
        }
        if (res->rc != SL_OK)
            break;
        assert_int_equal(part.len, 0);
    } while (at < in.len);
    res->complete = res->rc == SL_OK && sl_decoder_is_complete(d);
out:
    snprintf(res->err, sizeof(res->err), "%s", sl_decoder_error(d));
    sl_decoder_free(d);
}

static void expect_one(const struct sl_codings *c, struct sl_str in, size_t first, size_t step,
                       struct sl_str want)
{
    struct result r;
    decode(c, in, first, step, want.len + 1, &r);
    assert_int_equal(r.rc, SL_OK);
    assert_true(r.complete);
    assert_int_equal(r.out.len, want.len);
    assert_memory_equal(r.out.ptr, want.ptr, want.len);
    sl_buf_dispose(&r.out);
}

/* Decodes in whole, byte by byte, and cut in two at every byte; every run must give want. */
static void expect_everywhere(const struct sl_codings *c, struct sl_str in, struct sl_str want)
{
    expect_one(c, in, in.len, 0, want);
    expect_one(c, in, 1, 1, want);
    for (size_t cut = 1; cut < in.len; cut++)
        expect_one(c, in, cut, 0, want);
}

static const char json[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there, "
    "how can I help you today? Hello there, how can I help you today?\"}}]}";

/* ---- header values ---- */

static void test_codings_from_headers(void **state)
{
    (void)state;
    struct sl_codings c = {.n = 0};
    char err[128];
    assert_int_equal(
        sl_codings_add(&c, SL_STRLIT("GZIP, identity,, deflate"), false, err, sizeof(err)), SL_OK);
    assert_int_equal(sl_codings_add(&c, SL_STRLIT("x-gzip, chunked"), true, err, sizeof(err)),
                     SL_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.list[0], SL_CODING_GZIP);
    assert_int_equal(c.list[1], SL_CODING_DEFLATE);
    assert_int_equal(c.list[2], SL_CODING_GZIP);

    c.n = 0;
    assert_int_equal(sl_codings_add(&c, SL_STRLIT("gzip, br"), false, err, sizeof(err)), SL_EPARSE);
    assert_string_equal(err, "unsupported content coding \"br\"");
    assert_int_equal(sl_codings_add(&c, SL_STRLIT("zstd"), true, err, sizeof(err)), SL_EPARSE);
    assert_string_equal(err, "unsupported transfer coding \"zstd\"");
    /* "chunked" is framing only in Transfer-Encoding; as a content coding it is unknown. */
    assert_int_equal(sl_codings_add(&c, SL_STRLIT("chunked"), false, err, sizeof(err)), SL_EPARSE);
    /* Names from the wire are cut and cleaned before they reach a message. */
    assert_int_equal(sl_codings_add(&c, SL_STRLIT("a\"b\x01xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                                    false, err, sizeof(err)),
                     SL_EPARSE);
    assert_string_equal(err, "unsupported content coding \"a?b?xxxxxxxxxxxxxxxxxxxxxxxxxxxx\"...");
    c.n = 0;
    assert_int_equal(
        sl_codings_add(&c, SL_STRLIT("gzip,gzip,gzip,gzip,gzip"), false, err, sizeof(err)),
        SL_EPARSE);
    assert_string_equal(err, "more than 4 content and transfer codings");
    c.n = 0;
    assert_int_equal(sl_codings_add(&c, SL_STRLIT(" identity "), false, err, sizeof(err)), SL_OK);
    assert_int_equal(c.n, 0);
}

/* ---- decoding ---- */

static void test_gzip_split_everywhere(void **state)
{
    (void)state;
    struct sl_str src = SL_STRLIT(json);
    struct sl_str gz = compress_with(src, WRAP_GZIP);
    struct sl_codings c = codings_of("gzip", NULL);
    expect_everywhere(&c, gz, src);
    /* x-gzip, and zlib data labelled gzip (curl accepts both). */
    c = codings_of("x-gzip", NULL);
    expect_everywhere(&c, gz, src);
    struct sl_str z = compress_with(src, WRAP_ZLIB);
    c = codings_of("gzip", NULL);
    expect_everywhere(&c, z, src);
    free((void *)gz.ptr);
    free((void *)z.ptr);
}

static void test_deflate_zlib_and_raw(void **state)
{
    (void)state;
    struct sl_str src = SL_STRLIT(json);
    struct sl_codings c = codings_of("deflate", NULL);
    struct sl_str z = compress_with(src, WRAP_ZLIB), raw = compress_with(src, WRAP_RAW);
    expect_everywhere(&c, z, src);
    expect_everywhere(&c, raw, src);
    free((void *)z.ptr);
    free((void *)raw.ptr);
}

static void test_multi_member_gzip(void **state)
{
    (void)state;
    struct sl_str a = compress_with(SL_STRLIT("first member, "), WRAP_GZIP);
    struct sl_str b = compress_with(SL_STRLIT("second member"), WRAP_GZIP);
    char *both = malloc(a.len + b.len);
    memcpy(both, a.ptr, a.len);
    memcpy(both + a.len, b.ptr, b.len);
    struct sl_codings c = codings_of("gzip", NULL);
    expect_everywhere(&c, sl_str_init(both, a.len + b.len),
                      SL_STRLIT("first member, second member"));
    free(both);
    free((void *)a.ptr);
    free((void *)b.ptr);
}

/* Content-Encoding: deflate, then Transfer-Encoding: gzip on top: undone gzip first. */
static void test_stacked_codings(void **state)
{
    (void)state;
    struct sl_str src = SL_STRLIT(json);
    struct sl_str inner = compress_with(src, WRAP_ZLIB);
    struct sl_str outer = compress_with(inner, WRAP_GZIP);
    struct sl_codings c = codings_of("deflate", "gzip, chunked");
    assert_int_equal(c.n, 2);
    expect_everywhere(&c, outer, src);
    /* The wrong order fails instead of passing coded bytes on. */
    struct sl_codings wrong = codings_of("gzip", "deflate");
    struct result r;
    decode(&wrong, outer, outer.len, 0, 1 << 20, &r);
    assert_int_equal(r.rc, SL_EPARSE);
    sl_buf_dispose(&r.out);
    free((void *)inner.ptr);
    free((void *)outer.ptr);
}

static void test_corrupt_and_truncated(void **state)
{
    (void)state;
    struct sl_str src = SL_STRLIT(json);
    struct sl_str gz = compress_with(src, WRAP_GZIP);
    struct sl_codings c = codings_of("gzip", NULL);
    char *bad = malloc(gz.len);
    struct result r;

    /* A damaged CRC-32 in the trailer: every byte decodes, the check fails. */
    memcpy(bad, gz.ptr, gz.len);
    bad[gz.len - 8] ^= 0x55;
    decode(&c, sl_str_init(bad, gz.len), gz.len, 0, 1 << 20, &r);
    assert_int_equal(r.rc, SL_EPARSE);
    assert_string_equal(r.err, "corrupt gzip data: incorrect data check");
    sl_buf_dispose(&r.out);

    /* Not gzip at all. */
    decode(&c, SL_STRLIT("{\"plain\":\"json\"}"), 64, 0, 1 << 20, &r);
    assert_int_equal(r.rc, SL_EPARSE);
    assert_string_equal(r.err, "corrupt gzip data: incorrect header check");
    sl_buf_dispose(&r.out);

    /* Cut short, at any point: never complete. */
    for (size_t n = 1; n < gz.len; n++) {
        decode(&c, sl_str_init(gz.ptr, n), n, 0, 1 << 20, &r);
        assert_int_equal(r.rc, SL_OK);
        assert_false(r.complete);
        sl_buf_dispose(&r.out);
    }

    /* Bytes after the end of deflate data. */
    struct sl_str z = compress_with(src, WRAP_ZLIB);
    char *extra = malloc(z.len + 1);
    memcpy(extra, z.ptr, z.len);
    extra[z.len] = 'x';
    struct sl_codings dc = codings_of("deflate", NULL);
    decode(&dc, sl_str_init(extra, z.len + 1), z.len + 1, 0, 1 << 20, &r);
    assert_int_equal(r.rc, SL_EPARSE);
    assert_string_equal(r.err, "corrupt deflate data: bytes after the end of the data");
    sl_buf_dispose(&r.out);

    /* An empty body needs no decoding. */
    decode(&c, SL_STRLIT(""), 0, 0, 16, &r);
    assert_int_equal(r.rc, SL_OK);
    assert_true(r.complete);
    assert_int_equal(r.out.len, 0);
    sl_buf_dispose(&r.out);
    free(extra);
    free(bad);
    free((void *)z.ptr);
    free((void *)gz.ptr);
}

/* 64 MiB of zeros compress to about 64 KiB. The decoder hands them out 16 KiB at a time, so a
 * caller that stops at its cap (here 1 MiB) never holds more than its cap plus one piece. */
static void test_bomb_comes_out_in_capped_pieces(void **state)
{
    (void)state;
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    struct sl_str gz = compress_with(sl_str_init(zeros, big), WRAP_GZIP);
    free(zeros);
    assert_true(gz.len < big / 512);
    struct sl_codings c = codings_of("gzip", "gzip");
    struct sl_str twice = compress_with(gz, WRAP_GZIP);
    for (int layers = 1; layers <= 2; layers++) {
        struct sl_codings cc = layers == 1 ? codings_of("gzip", NULL) : c;
        struct result r;
        struct sl_str in = layers == 1 ? gz : twice;
        decode(&cc, in, in.len, 0, 1u << 20, &r);
        assert_int_equal(r.out.len, 1u << 20);
        assert_true(r.largest <= SL_DECODE_PIECE_BYTES);
        assert_true(r.pieces <= (1u << 20) / SL_DECODE_PIECE_BYTES + 1);
        sl_buf_dispose(&r.out);
    }
    free((void *)twice.ptr);
    free((void *)gz.ptr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codings_from_headers),
        cmocka_unit_test(test_gzip_split_everywhere),
        cmocka_unit_test(test_deflate_zlib_and_raw),
        cmocka_unit_test(test_multi_member_gzip),
        cmocka_unit_test(test_stacked_codings),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_bomb_comes_out_in_capped_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
