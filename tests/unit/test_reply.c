/* Unit tests for the error envelope (src/api/reply.c): whatever bytes the message and an
 * upstream's error code hold, the caller gets valid JSON carrying exactly them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sluice/base.h"
#include "sluice/dialect.h"
#include "sluice/h2o.h"

/* Renders an envelope, parses it strictly and returns the "error" object (owned by *root). */
static json_t *render(const char *type, const char *code, struct sl_str message, json_t **root)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct sl_str env = sl_openai_error_body(&pool, type, code, message);
    json_error_t err;
    *root = json_loadb(env.ptr, env.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (*root == NULL)
        print_error("invalid envelope (%s): %.*s\n", err.text, (int)env.len, env.ptr);
    h2o_mem_clear_pool(&pool);
    assert_non_null(*root);
    assert_int_equal(json_object_size(*root), 1);
    json_t *e = json_object_get(*root, "error");
    assert_true(json_is_object(e));
    return e;
}

static void assert_string_member(json_t *obj, const char *key, const char *want, size_t want_len)
{
    json_t *v = json_object_get(obj, key);
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), want_len);
    assert_memory_equal(json_string_value(v), want, want_len);
}

static void test_plain(void **state)
{
    (void)state;
    json_t *root;
    json_t *e =
        render("invalid_request_error", "not_found", SL_STRLIT("no route for GET /x"), &root);
    assert_int_equal(json_object_size(e), 3);
    assert_string_member(e, "message", "no route for GET /x", 19);
    assert_string_member(e, "type", "invalid_request_error", 21);
    assert_string_member(e, "code", "not_found", 9);
    json_decref(root);
}

/* Without a code of its own the envelope repeats the type as the code, so clients that check
 * err.code (as OpenAI's errors invite) find a value. */
static void test_without_code(void **state)
{
    (void)state;
    json_t *root;
    json_t *e = render("upstream_error", NULL, SL_STRLIT("upstream returned 500"), &root);
    assert_int_equal(json_object_size(e), 3);
    assert_string_member(e, "code", "upstream_error", 14);
    json_decref(root);
}

/* An upstream 4xx's error.code is the caller-visible code: a quote in it must not end the
 * string and let the upstream write the envelope's other members (fuzz_upstream_error found
 * this; corpus/upstream_error/code_with_quote keeps it fixed). */
static void test_code_cannot_forge_members(void **state)
{
    (void)state;
    static const char forged[] = "x\",\"message\":\"forged";
    json_t *root;
    json_t *e = render("upstream_error", forged, SL_STRLIT("real message"), &root);
    assert_int_equal(json_object_size(e), 3);
    assert_string_member(e, "message", "real message", 12);
    assert_string_member(e, "code", forged, sizeof(forged) - 1);
    json_decref(root);
}

static void test_control_bytes_and_backslashes(void **state)
{
    (void)state;
    static const char code[] = "a\\b\x01\n\x7f";
    static const char msg[] = "tab\there \"quoted\" nul\0end \xe2\x82\xac";
    json_t *root;
    json_t *e = render("upstream_error", code, sl_str_init(msg, sizeof(msg) - 1), &root);
    assert_string_member(e, "code", code, sizeof(code) - 1);
    assert_string_member(e, "message", msg, sizeof(msg) - 1);
    json_decref(root);
}

/* The message is cut at 1024 bytes; the worst case (every byte escaped to \u00XX) plus the
 * longest type and code still fits the buffer. */
static void test_worst_case_sizes(void **state)
{
    (void)state;
    char msg[2048], code[128], type[128];
    memset(msg, 0x01, sizeof(msg));
    memset(code, '"', sizeof(code) - 1);
    code[sizeof(code) - 1] = '\0';
    memset(type, 0x02, sizeof(type) - 1);
    type[sizeof(type) - 1] = '\0';
    json_t *root;
    json_t *e = render(type, code, sl_str_init(msg, sizeof(msg)), &root);
    assert_string_member(e, "message", msg, 1024);
    assert_string_member(e, "code", code, sizeof(code) - 1);
    assert_string_member(e, "type", type, sizeof(type) - 1);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_without_code),
        cmocka_unit_test(test_code_cannot_forge_members),
        cmocka_unit_test(test_control_bytes_and_backslashes),
        cmocka_unit_test(test_worst_case_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
