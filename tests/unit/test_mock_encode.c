/* Unit tests of the mock's compressed responses (tests/mock/encode.c) and their controls:
 * what the mock writes must be what Sluice's decoder (src/upstream/decode.c) reads back, event
 * by event for streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "encode.h"
#include "opts.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/decode.h"

int main(void);

static void *heap_alloc(void *ud, size_t n)
{
    SL_UNUSED(ud);
    return sl_xmalloc(n);
}

static void test_coding_names(void **state)
{
    enum mock_coding c;

    (void)state;
    assert_true(mock_coding_of(SL_STRLIT("GZIP"), &c) && c == MOCK_CODING_GZIP);
    assert_true(mock_coding_of(SL_STRLIT("x-gzip"), &c) && c == MOCK_CODING_GZIP);
    assert_true(mock_coding_of(SL_STRLIT("deflate"), &c) && c == MOCK_CODING_DEFLATE);
    assert_false(mock_coding_of(SL_STRLIT("br"), &c));
}

/* Each event fed with a sync flush decodes, on its own and at once, to exactly that event. */
static void test_stream_events_decode_one_by_one(void **state)
{
    static const char *const events[] = {"data: {\"a\":1}\n\n", "data: {\"b\":2}\n\n",
                                         "data: [DONE]\n\n"};
    (void)state;
    for (int coding = MOCK_CODING_GZIP; coding <= MOCK_CODING_DEFLATE; coding++) {
        struct mock_encoder e;
        struct sl_codings cs = {
            .list = {coding == MOCK_CODING_GZIP ? SL_CODING_GZIP : SL_CODING_DEFLATE}, .n = 1};
        struct sl_decoder *d = sl_decoder_new(&cs);
        mock_encoder_init(&e, (enum mock_coding)coding);
        for (size_t i = 0; i < SL_ARRAY_LEN(events); i++) {
            struct sl_str ev = sl_str_from_cstr(events[i]), out;
            char *z = sl_xmalloc(mock_encoder_bound(&e, ev.len));
            bool last = i + 1 == SL_ARRAY_LEN(events);
            struct sl_str in = sl_str_init(z, mock_encoder_feed(&e, ev, last, z));
            assert_int_equal(sl_decoder_step(d, &in, &out), SL_OK);
            assert_int_equal(out.len, ev.len);
            assert_memory_equal(out.ptr, ev.ptr, ev.len);
            assert_int_equal(sl_decoder_step(d, &in, &out), SL_OK);
            assert_int_equal(out.len, 0);
            free(z);
        }
        assert_true(sl_decoder_is_complete(d));
        mock_encoder_dispose(&e);
        sl_decoder_free(d);
    }
}

static void test_controls(void **state)
{
    static const struct mock_defaults defaults = {.reply = {"r", 1}, .chunks = 1};
    struct mock_opts o;
    char err[160];

    (void)state;
    mock_opts_init(&o, &defaults);
    assert_int_equal(
        mock_opts_parse(&o,
                        SL_STRLIT("{\"content_encoding\":\"br\",\"transfer_encoding_gzip\":true,"
                                  "\"corrupt_encoding\":true}"),
                        heap_alloc, NULL, err, sizeof(err)),
        SL_OK);
    assert_true(sl_str_eq_lit(o.content_encoding, "br"));
    assert_true(o.transfer_encoding_gzip && o.corrupt_encoding);
    free((char *)o.content_encoding.ptr);
    for (size_t i = 0; i < 3; i++) {
        static const char *const bad[] = {"{\"content_encoding\":\"a b\"}",
                                          "{\"content_encoding\":\"\"}",
                                          "{\"content_encoding\":7}"};
        mock_opts_init(&o, &defaults);
        assert_int_equal(
            mock_opts_parse(&o, sl_str_from_cstr(bad[i]), heap_alloc, NULL, err, sizeof(err)),
            SL_EPARSE);
        assert_string_equal(err,
                            "mock.content_encoding: expected an HTTP token of 1 to 32 characters");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coding_names),
        cmocka_unit_test(test_stream_events_decode_one_by_one),
        cmocka_unit_test(test_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
