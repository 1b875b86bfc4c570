/* Splicing: replacements and insertions in any order produce the right bytes, as iovecs and
 * appended to a buffer, including at the very start and end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/splice.h"

int main(void);

static char *flatten(const struct sl_splice *sp, char *out)
{
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t len, n = sl_splice_iov(sp, v, &len), o = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(v[i].len > 0);
        memcpy(out + o, v[i].base, v[i].len);
        o += v[i].len;
    }
    assert_int_equal(o, len);
    out[o] = '\0';
    return out;
}

static void test_replace_and_insert(void **state)
{
    (void)state;
    static const char doc[] = "{\"model\":\"alias\",\"stream\":true}";
    struct sl_str src = SL_STRLIT(doc);
    struct sl_splice sp;
    char out[256];
    sl_splice_init(&sp, src);
    /* inserted before the closing brace, given before the replacement */
    sl_splice_insert(&sp, src.len - 1, SL_STRLIT(",\"stream_options\":{\"include_usage\":true}"));
    sl_splice_replace(&sp, sl_str_init(doc + 9, 7), SL_STRLIT("\"upstream-id\""));
    assert_string_equal(flatten(&sp, out), "{\"model\":\"upstream-id\",\"stream\":true,"
                                           "\"stream_options\":{\"include_usage\":true}}");
    struct sl_buf b;
    sl_buf_init(&b, 1024);
    assert_int_equal(sl_splice_append(&sp, &b), SL_OK);
    assert_string_equal(sl_buf_cstr(&b), out);
    sl_buf_dispose(&b);
}

static void test_edges(void **state)
{
    (void)state;
    struct sl_splice sp;
    char out[64];
    sl_splice_init(&sp, SL_STRLIT("abc"));
    assert_string_equal(flatten(&sp, out), "abc");
    sl_splice_insert(&sp, 0, SL_STRLIT(">"));
    sl_splice_insert(&sp, 3, SL_STRLIT("<"));
    sl_splice_replace(&sp, sl_str_init(sp.src.ptr + 1, 1), SL_STR_NULL); /* delete "b" */
    assert_string_equal(flatten(&sp, out), ">ac<");
    struct sl_buf small;
    sl_buf_init(&small, 3);
    assert_int_equal(sl_splice_append(&sp, &small), SL_E2BIG);
    assert_int_equal(small.len, 0);
    sl_buf_dispose(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_and_insert),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
