#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"

#include "../../src/config/interpolate.h"

int main(void);

#define E(s) ((char *)(s))
static char *const env[] = {
    E("HOSTNAME=wrong"),
    E("HOST=api.example.com"),
    E("PORT=8443"),
    E("EMPTY="),
    E("EQ=a=b"),
    E("DUP=first"),
    E("DUP=second"),
    E("_u1=x"),
    E("SECRET=s3cr3t-value"),
    E("DOLLAR=${HOST}$$"),
    NULL,
};

static void expands(const char *in, const char *want, unsigned refs)
{
    struct sl__interp r;
    int rc = sl__interpolate(sl_str_from_cstr(in), env, 4096, &r);
    if (rc != SL_OK)
        fprintf(stderr, "%s: status %d\n", in, (int)r.status);
    assert_int_equal(rc, SL_OK);
    assert_int_equal(r.status, SL__INTERP_OK);
    assert_string_equal(r.text, want);
    assert_int_equal(r.len, strlen(want));
    assert_int_equal(r.refs, refs);
    free(r.text);
}

static void fails(const char *in, enum sl__interp_status status, const char *name, const char *msg)
{
    struct sl__interp r;
    char buf[256];
    assert_int_equal(sl__interpolate(sl_str_from_cstr(in), env, 4096, &r), SL_EPARSE);
    assert_null(r.text);
    assert_int_equal(r.status, status);
    if (name != NULL)
        assert_true(sl_str_eq(r.name, sl_str_from_cstr(name)));
    assert_string_equal(sl__interp_describe(&r, buf, sizeof(buf)), msg);
}

static void test_plain_text(void **state)
{
    (void)state;
    expands("", "", 0);
    expands("hello", "hello", 0);
    expands("$", "$", 0);
    expands("a$", "a$", 0);
    expands("$HOST", "$HOST", 0);
    expands("cost: $5 {x}", "cost: $5 {x}", 0);
    expands("{HOST}", "{HOST}", 0);
}

static void test_references(void **state)
{
    (void)state;
    expands("${HOST}", "api.example.com", 1);
    expands("https://${HOST}/v1", "https://api.example.com/v1", 1);
    expands("https://${HOST}:${PORT}/v1", "https://api.example.com:8443/v1", 2);
    expands("${HOST}${HOST}", "api.example.comapi.example.com", 2);
    expands("${EQ}", "a=b", 1);
    expands("${_u1}", "x", 1);
    expands("${DUP}", "first", 1);
    /* A value is inserted as-is, never expanded again. */
    expands("${DOLLAR}", "${HOST}$$", 1);
}

static void test_dollar_escapes(void **state)
{
    (void)state;
    expands("$$", "$", 0);
    expands("$$$$", "$$", 0);
    expands("$$$", "$$", 0);
    expands("$${HOST}", "${HOST}", 0);
    expands("$$$${HOST}", "$${HOST}", 0);
    expands("$$${HOST}", "$api.example.com", 1);
    expands("price $$5", "price $5", 0);
}

static void test_errors(void **state)
{
    (void)state;
    fails("${NOPE}", SL__INTERP_UNSET, "NOPE", "environment variable NOPE is not set");
    fails("x ${HOST} ${NOPE}", SL__INTERP_UNSET, "NOPE", "environment variable NOPE is not set");
    fails("${EMPTY}", SL__INTERP_EMPTY, "EMPTY", "environment variable EMPTY is empty");
    fails("${HOS", SL__INTERP_UNTERMINATED, "HOS",
          "unterminated \"${\" (write \"$$\" for a literal \"$\")");
    fails("${", SL__INTERP_UNTERMINATED, "",
          "unterminated \"${\" (write \"$$\" for a literal \"$\")");
    fails("${}", SL__INTERP_NO_NAME, "", "empty variable reference \"${}\"");
    fails("${A-B}", SL__INTERP_BAD_NAME, "A-B",
          "invalid variable name A-B in \"${...}\" (expected letters, digits and \"_\")");
    fails("${1A}", SL__INTERP_BAD_NAME, "1A",
          "invalid variable name 1A in \"${...}\" (expected letters, digits and \"_\")");
    fails("${ HOST}", SL__INTERP_BAD_NAME, " HOST",
          "invalid variable name \" HOST\" in \"${...}\" (expected letters, digits and \"_\")");
    /* The first problem wins; nothing after it is looked at. */
    fails("${} ${NOPE}", SL__INTERP_NO_NAME, "", "empty variable reference \"${}\"");
    /* Only "HOST=" matches HOST, not "HOSTNAME=". */
    fails("${HOSTN}", SL__INTERP_UNSET, "HOSTN", "environment variable HOSTN is not set");
}

/* The cap counts output bytes: a long value repeated cannot exhaust memory. */
static void test_cap(void **state)
{
    (void)state;
    struct sl__interp r;
    char buf[256];
    assert_int_equal(sl__interpolate(SL_STRLIT("${HOST}${HOST}"), env, 30, &r), SL_OK);
    assert_int_equal(r.len, 30);
    free(r.text);
    assert_int_equal(sl__interpolate(SL_STRLIT("${HOST}${HOST}"), env, 29, &r), SL_EPARSE);
    assert_int_equal(r.status, SL__INTERP_TOO_LONG);
    assert_null(r.text);
    assert_string_equal(sl__interp_describe(&r, buf, sizeof(buf)),
                        "longer than 29 bytes after interpolation");
    assert_int_equal(sl__interpolate(SL_STRLIT("abc"), env, 2, &r), SL_EPARSE);
    assert_int_equal(r.status, SL__INTERP_TOO_LONG);
    assert_int_equal(sl__interpolate(SL_STRLIT(""), env, 0, &r), SL_OK);
    assert_string_equal(r.text, "");
    free(r.text);
}

static void test_no_environment(void **state)
{
    (void)state;
    struct sl__interp r;
    assert_int_equal(sl__interpolate(SL_STRLIT("${HOST}"), NULL, 4096, &r), SL_EPARSE);
    assert_int_equal(r.status, SL__INTERP_UNSET);
    assert_int_equal(sl__interpolate(SL_STRLIT("a$$b"), NULL, 4096, &r), SL_OK);
    assert_string_equal(r.text, "a$b");
    free(r.text);
}

static void test_env_get(void **state)
{
    (void)state;
    assert_string_equal(sl__env_get(env, SL_STRLIT("HOST")), "api.example.com");
    assert_string_equal(sl__env_get(env, SL_STRLIT("HOSTNAME")), "wrong");
    assert_string_equal(sl__env_get(env, SL_STRLIT("EMPTY")), "");
    assert_string_equal(sl__env_get(env, SL_STRLIT("DUP")), "first");
    assert_null(sl__env_get(env, SL_STRLIT("HOS")));
    assert_null(sl__env_get(env, SL_STRLIT("")));
    assert_null(sl__env_get(env, sl_str_init("HOST\0X", 6)));
    assert_null(sl__env_get(NULL, SL_STRLIT("HOST")));
}

/* Messages name the variable and never carry its value. */
static void test_describe_never_shows_values(void **state)
{
    (void)state;
    const char *inputs[] = {"${SECRET", "${SECRET-}", "${EMPTY}", "${NOPE}", "${}"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct sl__interp r;
        char buf[256];
        assert_int_equal(sl__interpolate(sl_str_from_cstr(inputs[i]), env, 4096, &r), SL_EPARSE);
        assert_null(strstr(sl__interp_describe(&r, buf, sizeof(buf)), "s3cr3t"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_dollar_escapes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_no_environment),
        cmocka_unit_test(test_env_get),
        cmocka_unit_test(test_describe_never_shows_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
