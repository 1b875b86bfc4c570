#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/url.h"

int main(void);

static struct sl_url parse_ok(const char *text)
{
    struct sl_url u;
    const char *why = NULL;
    int rc = sl_url_parse(sl_str_from_cstr(text), &u, &why);
    if (rc != SL_OK)
        fprintf(stderr, "rejected %s: %s\n", text, why);
    assert_int_equal(rc, SL_OK);
    return u;
}

static void parse_bad(const char *text, const char *want_why)
{
    struct sl_url u;
    const char *why = NULL;
    assert_int_equal(sl_url_parse(sl_str_from_cstr(text), &u, &why), SL_EPARSE);
    assert_non_null(why);
    if (strcmp(why, want_why) != 0)
        fprintf(stderr, "%s: got reason \"%s\"\n", text, why);
    assert_string_equal(why, want_why);
}

static void assert_str(struct sl_str s, const char *want)
{
    if (!sl_str_eq(s, sl_str_from_cstr(want)))
        fprintf(stderr, "got \"%.*s\", want \"%s\"\n", SL_STR_FMT(s), want);
    assert_true(sl_str_eq(s, sl_str_from_cstr(want)));
}

static void test_parse_basic(void **state)
{
    (void)state;
    struct sl_url u = parse_ok("https://api.openai.com/v1");
    assert_true(u.tls);
    assert_str(u.host, "api.openai.com");
    assert_int_equal(u.port, 443);
    assert_false(u.port_explicit);
    assert_str(u.path, "/v1");
    assert_false(u.host_is_ipv6);

    u = parse_ok("http://127.0.0.1:3001/v1");
    assert_false(u.tls);
    assert_str(u.host, "127.0.0.1");
    assert_int_equal(u.port, 3001);
    assert_true(u.port_explicit);
    assert_str(u.path, "/v1");

    u = parse_ok("http://localhost");
    assert_int_equal(u.port, 80);
    assert_str(u.path, "");

    u = parse_ok("HTTPS://Example.COM:443/");
    assert_true(u.tls);
    assert_str(u.host, "Example.COM"); /* lower-casing is the caller's job */
    assert_int_equal(u.port, 443);
    assert_true(u.port_explicit);
    assert_str(u.path, "/");

    u = parse_ok("http://my_host-1.internal:8080/openai/v1/%7Euser/a:b@c");
    assert_str(u.host, "my_host-1.internal");
    assert_str(u.path, "/openai/v1/%7Euser/a:b@c");
}

static void test_parse_ipv6(void **state)
{
    (void)state;
    struct sl_url u = parse_ok("http://[::1]:8080/v1");
    assert_true(u.host_is_ipv6);
    assert_str(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_str(u.path, "/v1");

    u = parse_ok("https://[2001:DB8::1]");
    assert_str(u.host, "2001:DB8::1");
    assert_int_equal(u.port, 443);
    assert_str(u.path, "");

    u = parse_ok("http://[::ffff:10.0.0.1]/");
    assert_str(u.host, "::ffff:10.0.0.1");

    parse_bad("http://[::1/v1", "invalid IPv6 address");
    parse_bad("http://[]/v1", "invalid IPv6 address");
    parse_bad("http://[::g]/v1", "invalid IPv6 address");
    parse_bad("http://[fe80::1%25eth0]/", "invalid IPv6 address");
    parse_bad("http://[::1]x/", "invalid IPv6 address");
    parse_bad("http://[10.0.0.1]/", "invalid IPv6 address");
    parse_bad("http://[::1]:/", "invalid port (expected 1 to 65535)");
    parse_bad("http://::1/v1", "empty host");
}

static void test_parse_ports(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("http://h:1").port, 1);
    assert_int_equal(parse_ok("http://h:65535").port, 65535);
    assert_int_equal(parse_ok("https://h:80").port, 80);
    assert_int_equal(parse_ok("http://h:08080").port, 8080);
    parse_bad("http://h:0", "invalid port (expected 1 to 65535)");
    parse_bad("http://h:65536", "invalid port (expected 1 to 65535)");
    parse_bad("http://h:99999999999999999999999", "invalid port (expected 1 to 65535)");
    parse_bad("http://h:", "invalid port (expected 1 to 65535)");
    parse_bad("http://h:-1", "invalid port (expected 1 to 65535)");
    parse_bad("http://h:80a/", "invalid port (expected 1 to 65535)");
    parse_bad("http://h:80:81/", "invalid port (expected 1 to 65535)");
}

static void test_parse_rejects(void **state)
{
    (void)state;
    parse_bad("", "not an absolute URL (expected http:// or https://)");
    parse_bad("api.openai.com/v1", "not an absolute URL (expected http:// or https://)");
    parse_bad("//api.openai.com/v1", "not an absolute URL (expected http:// or https://)");
    parse_bad("http:/x", "not an absolute URL (expected http:// or https://)");
    parse_bad("ftp://example.com/", "only http and https URLs are supported");
    parse_bad("ws://example.com/", "only http and https URLs are supported");
    parse_bad("git+ssh://example.com/", "only http and https URLs are supported");
    parse_bad("https://user:pass@api.openai.com/v1", "user info (user:password@) is not allowed");
    parse_bad("https://@api.openai.com/v1", "user info (user:password@) is not allowed");
    parse_bad("https://api.openai.com/v1?x=1", "a query string is not allowed");
    parse_bad("https://api.openai.com?x=1", "a query string is not allowed");
    parse_bad("https://api.openai.com/v1#frag", "a fragment is not allowed");
    parse_bad("https://api.openai.com/v1 ", "spaces and control characters are not allowed");
    parse_bad("https://api.open ai.com/", "spaces and control characters are not allowed");
    parse_bad("https://api.openai.com/\x01", "spaces and control characters are not allowed");
    parse_bad("https://api.openai.com/\x7f", "spaces and control characters are not allowed");
    parse_bad("https://", "empty host");
    parse_bad("https:///v1", "empty host");
    parse_bad("https://:443/v1", "empty host");
    parse_bad("https://a..b/", "invalid host name");
    parse_bad("https://.a/", "invalid host name");
    parse_bad("https://a./", "invalid host name");
    parse_bad("https://a*b/", "invalid host name");
    parse_bad("https://a%41/", "invalid host name");
    parse_bad("http://10.0.0.300/", "invalid IPv4 address");
    parse_bad("http://1.2.3/", "invalid IPv4 address");
    parse_bad("http://example.123/", "invalid IPv4 address");
    parse_bad("http://h/a\"b", "invalid character in path (percent-encode it)");
    parse_bad("http://h/a<b>", "invalid character in path (percent-encode it)");
    parse_bad("http://h/\xc3\xa9", "invalid character in path (percent-encode it)");
    parse_bad("http://h/a%2", "invalid percent-encoding in path");
    parse_bad("http://h/a%zz", "invalid percent-encoding in path");

    char big[300];
    memset(big, 'a', sizeof(big));
    memcpy(big, "http://", 7);
    big[sizeof(big) - 1] = '\0';
    parse_bad(big, "invalid host name");
}

/* The parser reads only inside the slice: a NUL-free URL cut at every length from an exact-size
 * heap copy (ASan reports any overread). */
static void test_parse_prefixes(void **state)
{
    (void)state;
    const char *full = "https://[2001:db8::1]:8443/openai/v1/chat/completions";
    for (size_t len = 0; len <= strlen(full); len++) {
        char *copy = malloc(len != 0 ? len : 1);
        assert_non_null(copy);
        memcpy(copy, full, len);
        struct sl_url u;
        const char *why;
        (void)sl_url_parse(sl_str_init(copy, len), &u, &why);
        free(copy);
    }
}

static void normalizes(const char *in, const char *want)
{
    struct sl_buf b, again;
    const char *why = NULL;
    sl_buf_init(&b, 4096);
    sl_buf_init(&again, 4096);
    int rc = sl_url_normalize_openai_base(sl_str_from_cstr(in), &b, &why);
    if (rc != SL_OK)
        fprintf(stderr, "rejected %s: %s\n", in, why);
    assert_int_equal(rc, SL_OK);
    assert_str(sl_buf_str(&b), want);
    assert_int_equal(sl_url_normalize_openai_base(sl_buf_str(&b), &again, &why), SL_OK);
    assert_str(sl_buf_str(&again), want);
    sl_buf_dispose(&b);
    sl_buf_dispose(&again);
}

static void test_normalize_table(void **state)
{
    (void)state;
    normalizes("https://api.openai.com", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/v1", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/v1/", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/v1/chat/completions/", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/v1/completions", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/v1/embeddings", "https://api.openai.com/v1");
    normalizes("https://api.openai.com/chat/completions", "https://api.openai.com/v1");
    normalizes("https://API.OpenAI.com:443", "https://api.openai.com/v1");
    normalizes("HTTPS://api.openai.com//", "https://api.openai.com/v1");
    normalizes("http://host:8080/openai/v1/embeddings", "http://host:8080/openai/v1");
    normalizes("http://127.0.0.1:3001/v1", "http://127.0.0.1:3001/v1");
    normalizes("http://127.0.0.1:80/v1", "http://127.0.0.1/v1");
    normalizes("https://example.com:80/v1", "https://example.com:80/v1");
    normalizes("https://api.deepseek.com", "https://api.deepseek.com");
    normalizes("https://api.deepseek.com/", "https://api.deepseek.com");
    normalizes("https://api.deepseek.com/chat/completions", "https://api.deepseek.com");
    normalizes("http://[::1]:3001/v1/", "http://[::1]:3001/v1");
    normalizes("http://[2001:DB8::A]/v1", "http://[2001:db8::a]/v1");
    /* Only whole trailing segments are endpoint suffixes. */
    normalizes("http://h/v1/xcompletions", "http://h/v1/xcompletions");
    normalizes("http://h/v1/chat/completions/chat/completions", "http://h/v1");
    normalizes("http://h/v1/chat", "http://h/v1/chat");
    /* The path keeps its case and escapes. */
    normalizes("http://H/Open%2FAI/V1", "http://h/Open%2FAI/V1");
}

static void test_normalize_errors(void **state)
{
    (void)state;
    struct sl_buf b;
    const char *why = NULL;
    sl_buf_init(&b, 4096);
    assert_int_equal(sl_buf_append(&b, "keep", 4), SL_OK);
    assert_int_equal(
        sl_url_normalize_openai_base(SL_STRLIT("https://api.openai.com/v1?x=1"), &b, &why),
        SL_EPARSE);
    assert_string_equal(why, "a query string is not allowed");
    assert_str(sl_buf_str(&b), "keep");
    /* Appends after what is there. */
    assert_int_equal(sl_url_normalize_openai_base(SL_STRLIT("http://h/v1/"), &b, &why), SL_OK);
    assert_str(sl_buf_str(&b), "keephttp://h/v1");
    sl_buf_dispose(&b);

    sl_buf_init(&b, 20);
    assert_int_equal(sl_buf_append(&b, "ab", 2), SL_OK);
    assert_int_equal(sl_url_normalize_openai_base(SL_STRLIT("https://api.openai.com"), &b, &why),
                     SL_E2BIG);
    assert_str(sl_buf_str(&b), "ab");
    sl_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),      cmocka_unit_test(test_parse_ipv6),
        cmocka_unit_test(test_parse_ports),      cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_prefixes),   cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_normalize_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
