#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/cidr.h"

int main(void);

static struct sl_ip ip(const char *text)
{
    struct sl_ip a;
    int rc = sl_ip_parse(sl_str_from_cstr(text), &a);
    if (rc != SL_OK)
        fprintf(stderr, "rejected: %s\n", text);
    assert_int_equal(rc, SL_OK);
    return a;
}

static struct sl_cidr cidr(const char *text)
{
    struct sl_cidr c;
    int rc = sl_cidr_parse(sl_str_from_cstr(text), true, &c);
    if (rc != SL_OK)
        fprintf(stderr, "rejected: %s\n", text);
    assert_int_equal(rc, SL_OK);
    return c;
}

static bool has(const struct sl_cidr *c, const char *text)
{
    struct sl_ip a = ip(text);
    return sl_cidr_contains(c, &a);
}

static bool any(const struct sl_cidr *v, size_t n, const char *text)
{
    struct sl_ip a = ip(text);
    return sl_cidr_any(v, n, &a);
}

static void text_of(const struct sl_ip *a, const char *want)
{
    char buf[SL_IP_TEXT_MAX];
    size_t n = sl_ip_format(a, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_parse(void **state)
{
    (void)state;
    struct sl_ip a = ip("10.1.2.3");
    assert_true(a.v4);
    text_of(&a, "10.1.2.3");
    a = ip("2001:db8::1");
    assert_false(a.v4);
    text_of(&a, "2001:db8::1");
    a = ip("::ffff:192.0.2.7"); /* a dual-stack listener's IPv4 peer */
    assert_true(a.v4);
    text_of(&a, "192.0.2.7");
    static const char *const bad[] = {"",         "10.1.2",    "10.1.2.256",
                                      "1.2.3.4 ", "[::1]",     "::1%eth0",
                                      "host",     "1.2.3.4/8", "1:2:3:4:5:6:7:8:9"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        struct sl_ip x;
        assert_int_equal(sl_ip_parse(sl_str_from_cstr(bad[i]), &x), SL_EPARSE);
    }
    struct sl_ip x;
    assert_int_equal(sl_ip_parse(sl_str_init("1.2.3.4\0", 8), &x), SL_EPARSE);
}

static void test_ranges(void **state)
{
    (void)state;
    struct sl_cidr c = cidr("10.0.0.0/8");
    assert_true(has(&c, "10.255.0.1"));
    assert_false(has(&c, "11.0.0.1"));
    /* Host bits are cleared: 10.1.2.3/8 is 10.0.0.0/8. */
    c = cidr("10.1.2.3/8");
    text_of(&c.net, "10.0.0.0");
    assert_true(has(&c, "10.9.9.9"));
    c = cidr("192.168.1.0/23");
    text_of(&c.net, "192.168.0.0");
    assert_true(has(&c, "192.168.1.200"));
    assert_false(has(&c, "192.168.2.1"));
    /* Families never mix: ::/0 does not hold IPv4 clients, 0.0.0.0/0 no IPv6 ones. */
    c = cidr("::/0");
    assert_true(has(&c, "2001:db8::5"));
    assert_false(has(&c, "10.0.0.1"));
    c = cidr("0.0.0.0/0");
    assert_true(has(&c, "10.0.0.1"));
    assert_false(has(&c, "::1"));
    /* A bare address is a host range, only when allowed. */
    c = cidr("::1");
    assert_int_equal(c.bits, 128);
    struct sl_cidr d;
    assert_int_equal(sl_cidr_parse(sl_str_from_cstr("10.0.0.1"), false, &d), SL_EPARSE);
    /* An IPv4-mapped range is the IPv4 range. */
    c = cidr("::ffff:10.0.0.0/104");
    assert_true(c.net.v4);
    assert_int_equal(c.bits, 8);
    assert_true(has(&c, "10.7.7.7"));
    static const char *const bad[] = {"10.0.0.0/33",       "10.0.0.0/",  "/8",
                                      "10.0.0.0/-1",       "fd00::/129", "10.0.0.0/8/8",
                                      "::ffff:1.2.3.4/64", "10.0.0.0/ 8"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        if (sl_cidr_parse(sl_str_from_cstr(bad[i]), true, &d) != SL_EPARSE)
            fail_msg("accepted %s", bad[i]);
    }
    struct sl_cidr v[] = {cidr("10.0.0.0/8"), cidr("fd00::/8")};
    assert_true(any(v, 2, "fd12::1"));
    assert_false(any(v, 2, "fe80::1"));
    assert_false(any(v, 0, "10.0.0.1"));
}

static void test_forwarded_tokens(void **state)
{
    (void)state;
    struct sl_ip a;
    assert_int_equal(sl_ip_parse_forwarded(sl_str_from_cstr(" 203.0.113.9 "), &a), SL_OK);
    text_of(&a, "203.0.113.9");
    assert_int_equal(sl_ip_parse_forwarded(sl_str_from_cstr("203.0.113.9:5678"), &a), SL_OK);
    text_of(&a, "203.0.113.9");
    assert_int_equal(sl_ip_parse_forwarded(sl_str_from_cstr("[2001:db8::2]:443"), &a), SL_OK);
    text_of(&a, "2001:db8::2");
    assert_int_equal(sl_ip_parse_forwarded(sl_str_from_cstr("2001:db8::3"), &a), SL_OK);
    text_of(&a, "2001:db8::3");
    static const char *const bad[] = {"unknown",       "",       " ", "[::1", "host:80",
                                      "1.2.3.4:80:90", "_hidden"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(sl_ip_parse_forwarded(sl_str_from_cstr(bad[i]), &a), SL_EPARSE);
}

/* The client behind trusted proxies, case by case as nginx's real_ip module decides. */
static void real(const char *peer, const char *const *values, size_t n, bool recursive,
                 const char *want)
{
    struct sl_cidr trusted[] = {cidr("10.0.0.0/8"), cidr("127.0.0.1")};
    struct sl_str v[8];
    for (size_t i = 0; i < n; i++)
        v[i] = sl_str_from_cstr(values[i]);
    struct sl_ip p = ip(peer);
    struct sl_ip got = sl_real_ip(&p, v, n, trusted, SL_ARRAY_LEN(trusted), recursive);
    text_of(&got, want);
}

static void test_real_ip(void **state)
{
    (void)state;
    const char *one[] = {"198.51.100.1, 10.0.0.5"};
    /* An untrusted peer is the client whatever it claims. */
    real("203.0.113.1", one, 1, false, "203.0.113.1");
    real("203.0.113.1", one, 1, true, "203.0.113.1");
    /* Trusted peer, not recursive: the rightmost entry, even when it is trusted itself. */
    real("10.0.0.1", one, 1, false, "10.0.0.5");
    /* Recursive: skip trusted entries from the right. */
    real("10.0.0.1", one, 1, true, "198.51.100.1");
    /* Every entry trusted: the leftmost one. */
    const char *all[] = {"10.0.0.9, 127.0.0.1"};
    real("127.0.0.1", all, 1, true, "10.0.0.9");
    /* Several instances count in the order received; junk tokens are skipped. */
    const char *many[] = {"192.0.2.1", "unknown, 198.51.100.7:1234", " ,10.2.3.4"};
    real("10.0.0.1", many, 3, true, "198.51.100.7");
    real("10.0.0.1", many, 3, false, "10.2.3.4");
    /* A spoofed leftmost entry cannot win while an untrusted one follows it. */
    const char *spoof[] = {"10.9.9.9, 203.0.113.50, 10.0.0.2"};
    real("10.0.0.1", spoof, 1, true, "203.0.113.50");
    /* Nothing usable: the peer stays. */
    const char *junk[] = {"unknown", ""};
    real("10.0.0.1", junk, 2, true, "10.0.0.1");
    real("10.0.0.1", NULL, 0, false, "10.0.0.1");
    const char *v6[] = {"[2001:db8::7]:80"};
    real("::ffff:10.0.0.1", v6, 1, false, "2001:db8::7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_forwarded_tokens),
        cmocka_unit_test(test_real_ip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
