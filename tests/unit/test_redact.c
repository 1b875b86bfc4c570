/* Unit tests for secret redaction (src/policy/redact.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/redact.h"

#define KEY "sk-provider-secret-123"

/* Redacts text into a buffer of cap bytes; returns sl_redact's result and the text in out. */
static int redact(const char *text, const char *secret, size_t cap, char *out, size_t out_size)
{
    struct sl_buf b;
    sl_buf_init(&b, cap);
    int rc = sl_redact(sl_str_from_cstr(text), sl_str_from_cstr(secret), &b);
    assert_true(b.len < out_size);
    if (b.len != 0)
        memcpy(out, b.ptr, b.len);
    out[b.len] = '\0';
    sl_buf_dispose(&b);
    return rc;
}

static void test_replaces_every_occurrence(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(
        redact("Incorrect API key provided: " KEY ". You passed " KEY, KEY, 256, out, sizeof(out)),
        2);
    assert_string_equal(out, "Incorrect API key provided: [redacted]. You passed [redacted]");
    assert_int_equal(redact(KEY, KEY, 256, out, sizeof(out)), 1);
    assert_string_equal(out, "[redacted]");
    assert_int_equal(redact(KEY KEY, KEY, 256, out, sizeof(out)), 2);
    assert_string_equal(out, "[redacted][redacted]");
}

static void test_leaves_other_text_alone(void **state)
{
    (void)state;
    char out[256];
    /* A masked key, a prefix of the key, and an empty text are not the secret. */
    assert_int_equal(
        redact("Incorrect API key provided: sk-prov***123", KEY, 256, out, sizeof(out)), 0);
    assert_string_equal(out, "Incorrect API key provided: sk-prov***123");
    assert_int_equal(redact("sk-provider-secret-12", KEY, 256, out, sizeof(out)), 0);
    assert_string_equal(out, "sk-provider-secret-12");
    assert_int_equal(redact("", KEY, 256, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_short_secrets_are_not_searched(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(redact("the key x is wrong", "x", 256, out, sizeof(out)), 0);
    assert_string_equal(out, "the key x is wrong");
    assert_int_equal(redact("1234567 and 12345678", "1234567", 256, out, sizeof(out)), 0);
    assert_int_equal(redact("1234567 and 12345678", "12345678", 256, out, sizeof(out)), 1);
    assert_string_equal(out, "1234567 and [redacted]");
}

/* At the cap the output is a prefix with no whole secret in it, never a secret cut short. */
static void test_cap(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(redact("ab" KEY "cd", KEY, 5, out, sizeof(out)), SL_E2BIG);
    assert_string_equal(out, "ab");
    assert_int_equal(redact("ab" KEY "cd", KEY, 12, out, sizeof(out)), SL_E2BIG);
    assert_string_equal(out, "ab[redacted]");
    assert_int_equal(redact("ab" KEY "cd", KEY, 14, out, sizeof(out)), 1);
    assert_string_equal(out, "ab[redacted]cd");
    assert_int_equal(redact("abcdefgh", KEY, 4, out, sizeof(out)), SL_E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaces_every_occurrence),
        cmocka_unit_test(test_leaves_other_text_alone),
        cmocka_unit_test(test_short_secrets_are_not_searched),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
