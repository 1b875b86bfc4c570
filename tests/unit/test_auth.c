/* Caller credential extraction (sl_auth_credential) over real h2o header lists, and the whole
 * check (sl_auth_check) against a resources set: which header wins, trimming, malformed values,
 * the length cap, and each result of the check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/diag.h"
#include "sluice/h2o.h"
#include "sluice/resources.h"

int main(void);

/* sha256("sk-test-good"), sha256("sk-test-off") */
static const char resources_yaml[] =
    "_format_version: \"1\"\n"
    "api_keys:\n"
    "  - display_name: good\n"
    "    key_hash: 0df5a12d9c83d8ac735d024d9b421f3f7553831e52bae13bed5c92c0ec1d4b0d\n"
    "    allowed_models: [\"*\"]\n"
    "  - display_name: off\n"
    "    key_hash: e4cfcd3a14ba81a8e297ab2b5585951dc1d086b4c25d5d62ce0bc67f512411a9\n"
    "    allowed_models: [\"*\"]\n"
    "    disabled: true\n";

struct hdrs {
    h2o_mem_pool_t pool;
    h2o_headers_t h;
};

static void hdrs_init(struct hdrs *x)
{
    h2o_mem_init_pool(&x->pool);
    memset(&x->h, 0, sizeof(x->h));
}

/* name must be lower-case, as h2o stores it. */
static void add(struct hdrs *x, const char *name, const char *value)
{
    const h2o_token_t *t = h2o_lookup_token(name, strlen(name));
    if (t != NULL)
        h2o_add_header(&x->pool, &x->h, t, NULL, value, strlen(value));
    else
        h2o_add_header_by_str(&x->pool, &x->h, name, strlen(name), 0, NULL, value, strlen(value));
}

static int extract(struct hdrs *x, char *out, size_t cap)
{
    struct sl_str tok = SL_STR_NULL;
    int rc = sl_auth_credential(&x->h, &tok);
    out[0] = '\0';
    if (rc == SL_OK) {
        assert_true(tok.len < cap);
        memcpy(out, tok.ptr, tok.len);
        out[tok.len] = '\0';
    }
    return rc;
}

static void test_credential_sources(void **state)
{
    SL_UNUSED(state);
    struct hdrs x;
    char tok[2048];

    hdrs_init(&x);
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_ENOENT);
    add(&x, "content-type", "application/json");
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_ENOENT);
    add(&x, "x-api-key", " \tsk-from-x \t");
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_OK);
    assert_string_equal(tok, "sk-from-x");
    /* Authorization wins over x-api-key, even when malformed. */
    add(&x, "authorization", "Basic dXNlcjpwYXNz");
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_EPARSE);
    h2o_mem_clear_pool(&x.pool);

    hdrs_init(&x);
    add(&x, "authorization", "Bearer  sk-first ");
    add(&x, "authorization", "Bearer sk-second");
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_OK);
    assert_string_equal(tok, "sk-first");
    h2o_mem_clear_pool(&x.pool);
}

static void test_credential_malformed(void **state)
{
    SL_UNUSED(state);
    static const char *const bad[] = {"Bearer",      "Bearer ",    "Bearer  \t ", "bearer sk-x",
                                      "BEARER sk-x", "Token sk-x", "sk-x",        ""};
    char tok[2048];
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct hdrs x;
        hdrs_init(&x);
        add(&x, "authorization", bad[i]);
        assert_int_equal(extract(&x, tok, sizeof(tok)), SL_EPARSE);
        h2o_mem_clear_pool(&x.pool);
    }
    struct hdrs x;
    hdrs_init(&x);
    add(&x, "x-api-key", "  ");
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_EPARSE);
    h2o_mem_clear_pool(&x.pool);
}

static void test_credential_length_cap(void **state)
{
    SL_UNUSED(state);
    char value[7 + SL_AUTH_MAX_KEY_BYTES + 2], tok[2048];
    struct hdrs x;
    memcpy(value, "Bearer ", 7);
    memset(value + 7, 'k', SL_AUTH_MAX_KEY_BYTES);
    value[7 + SL_AUTH_MAX_KEY_BYTES] = '\0';
    hdrs_init(&x);
    add(&x, "authorization", value);
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_OK);
    assert_int_equal(strlen(tok), SL_AUTH_MAX_KEY_BYTES);
    h2o_mem_clear_pool(&x.pool);
    value[7 + SL_AUTH_MAX_KEY_BYTES] = 'k';
    value[7 + SL_AUTH_MAX_KEY_BYTES + 1] = '\0';
    hdrs_init(&x);
    add(&x, "authorization", value);
    assert_int_equal(extract(&x, tok, sizeof(tok)), SL_EPARSE);
    h2o_mem_clear_pool(&x.pool);
}

static enum sl_auth_result check(const struct sl_resources *res, const char *name,
                                 const char *value, const char **who)
{
    struct hdrs x;
    h2o_req_t req;
    const struct sl_api_key *key = NULL;
    hdrs_init(&x);
    if (name != NULL)
        add(&x, name, value);
    memset(&req, 0, sizeof(req));
    req.headers = x.h;
    enum sl_auth_result r = sl_auth_check(&req, res, 0, &key);
    *who = key != NULL ? key->name : NULL;
    h2o_mem_clear_pool(&x.pool);
    return r;
}

static void test_check_results(void **state)
{
    SL_UNUSED(state);
    struct sl_resources *res = NULL;
    struct sl_diag diag;
    const char *who;
    sl_diag_init(&diag, "test");
    assert_int_equal(
        sl_resources_parse(resources_yaml, sizeof(resources_yaml) - 1, "test", NULL, &res, &diag),
        SL_OK);
    sl_diag_dispose(&diag);
    assert_int_equal(check(res, NULL, NULL, &who), SL_AUTH_MISSING);
    assert_null(who);
    assert_int_equal(check(res, "authorization", "Basic x", &who), SL_AUTH_MISSING);
    assert_int_equal(check(res, "authorization", "Bearer sk-nope", &who), SL_AUTH_UNKNOWN);
    assert_null(who);
    assert_int_equal(check(res, "authorization", "Bearer sk-test-good", &who), SL_AUTH_OK);
    assert_string_equal(who, "good");
    assert_int_equal(check(res, "x-api-key", "sk-test-good", &who), SL_AUTH_OK);
    assert_int_equal(check(res, "x-api-key", "sk-test-off", &who), SL_AUTH_DISABLED);
    assert_string_equal(who, "off");
    sl_resources_free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_sources),
        cmocka_unit_test(test_credential_malformed),
        cmocka_unit_test(test_credential_length_cap),
        cmocka_unit_test(test_check_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
