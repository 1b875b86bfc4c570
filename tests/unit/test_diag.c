#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sluice/diag.h"

int main(void);

/* Prints d into a memory stream and returns the text (caller frees). */
static char *print_to_string(const struct sl_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sl_diag_print(d, f);
    fclose(f);
    return text;
}

static void test_print_formats(void **state)
{
    (void)state;
    struct sl_diag d;
    sl_diag_init(&d, "config.yaml");
    sl_diag_add(&d, 3, "proxy.workers: expected an integer from %d to %d, got \"%s\"", 1, 1024,
                "many");
    sl_diag_add(&d, 0, "proxy.addr: required key is missing");
    sl_diag_add_at(&d, 7, 5, "unsupported YAML construct: %s", "alias");
    assert_int_equal(d.count, 3);
    assert_int_equal(d.entries[0].line, 3);
    assert_int_equal(d.entries[0].col, 0);
    assert_string_equal(d.entries[0].msg, "proxy.workers: expected an integer from 1 to 1024, "
                                          "got \"many\"");
    assert_int_equal(d.entries[2].col, 5);
    char *text = print_to_string(&d);
    assert_string_equal(text,
                        "config.yaml:3: proxy.workers: expected an integer from 1 to 1024, got "
                        "\"many\"\n"
                        "config.yaml: proxy.addr: required key is missing\n"
                        "config.yaml:7:5: unsupported YAML construct: alias\n");
    free(text);
    sl_diag_dispose(&d);
    assert_int_equal(d.count, 0);
    assert_null(d.entries);
    assert_null(d.file);
}

static void test_many_entries_and_no_file(void **state)
{
    (void)state;
    struct sl_diag d;
    sl_diag_init(&d, NULL);
    for (unsigned i = 1; i <= 100; i++)
        sl_diag_add(&d, i, "problem %u", i);
    assert_int_equal(d.count, 100);
    assert_string_equal(d.entries[99].msg, "problem 100");
    assert_int_equal(d.entries[99].line, 100);
    struct sl_diag one;
    sl_diag_init(&one, NULL);
    sl_diag_add(&one, 2, "x");
    char *text = print_to_string(&one);
    assert_string_equal(text, "<input>:2: x\n");
    free(text);
    sl_diag_dispose(&one);
    sl_diag_dispose(&d);
}

static void vadd_helper(struct sl_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vadd_helper(struct sl_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_diag_vadd(d, 9, fmt, ap);
    va_end(ap);
}

static void test_vadd(void **state)
{
    (void)state;
    struct sl_diag d;
    sl_diag_init(&d, "f");
    vadd_helper(&d, "%s=%d", "a", 1);
    assert_int_equal(d.count, 1);
    assert_int_equal(d.entries[0].line, 9);
    assert_string_equal(d.entries[0].msg, "a=1");
    char *text = print_to_string(&d);
    assert_string_equal(text, "f:9: a=1\n");
    free(text);
    sl_diag_dispose(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print_formats),
        cmocka_unit_test(test_many_entries_and_no_file),
        cmocka_unit_test(test_vadd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
