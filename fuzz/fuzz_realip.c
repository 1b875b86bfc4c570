/* Forwarded-for headers (peer input) through the real_ip walk, and arbitrary text through the
 * address and range parsers. Oracles: the client found is the peer or an address some token of
 * the input parses to; every address parsed formats to text that parses back to it; a range
 * contains its own network address. Input: byte 0 picks recursive and the peer; the rest is the
 * header's instances separated by LF. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VALUES 8

static void check_round_trip(const struct sl_ip *a)
{
    char text[SL_IP_TEXT_MAX];
    struct sl_ip back;
    size_t n = sl_ip_format(a, text, sizeof(text));
    if (sl_ip_parse(sl_str_init(text, n), &back) != SL_OK || back.v4 != a->v4 ||
        memcmp(back.b, a->b, sizeof(back.b)) != 0)
        __builtin_trap();
}

static bool some_token_is(const struct sl_str *v, size_t n, const struct sl_ip *want)
{
    for (size_t i = 0; i < n; i++) {
        struct sl_str rest = v[i];
        while (true) {
            const char *comma = rest.len != 0 ? memchr(rest.ptr, ',', rest.len) : NULL;
            size_t len = comma != NULL ? (size_t)(comma - rest.ptr) : rest.len;
            struct sl_ip a;
            if (sl_ip_parse_forwarded(sl_str_init(rest.ptr, len), &a) == SL_OK &&
                a.v4 == want->v4 && memcmp(a.b, want->b, sizeof(a.b)) == 0)
                return true;
            if (comma == NULL)
                break;
            rest = sl_str_init(comma + 1, rest.len - len - 1);
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const trusted_text[] = {"10.0.0.0/8", "127.0.0.1", "fd00::/8",
                                               "::ffff:192.168.0.0/112"};
    struct sl_cidr trusted[4];
    for (size_t i = 0; i < 4; i++) {
        if (sl_cidr_parse(sl_str_from_cstr(trusted_text[i]), true, &trusted[i]) != SL_OK)
            __builtin_trap();
    }
    if (size == 0)
        return 0;
    bool recursive = (data[0] & 1) != 0;
    struct sl_ip peer;
    (void)sl_ip_parse(sl_str_from_cstr((data[0] & 2) != 0 ? "10.1.1.1" : "203.0.113.1"), &peer);
    struct sl_str in = sl_str_init((const char *)data + 1, size - 1), v[MAX_VALUES];
    size_t n = 0;
    while (n < MAX_VALUES) {
        const char *lf = in.len != 0 ? memchr(in.ptr, '\n', in.len) : NULL;
        size_t len = lf != NULL ? (size_t)(lf - in.ptr) : in.len;
        v[n++] = sl_str_init(in.ptr, len);
        if (lf == NULL)
            break;
        in = sl_str_init(lf + 1, in.len - len - 1);
    }
    struct sl_ip got = sl_real_ip(&peer, v, n, trusted, 4, recursive);
    bool is_peer = got.v4 == peer.v4 && memcmp(got.b, peer.b, sizeof(got.b)) == 0;
    if (!is_peer && !some_token_is(v, n, &got))
        __builtin_trap();
    check_round_trip(&got);
    /* The whole input as an address and as a range. */
    struct sl_str all = sl_str_init((const char *)data + 1, size - 1);
    struct sl_ip a;
    struct sl_cidr c;
    if (sl_ip_parse(all, &a) == SL_OK)
        check_round_trip(&a);
    if (sl_cidr_parse(all, true, &c) == SL_OK) {
        if (c.bits > (c.net.v4 ? 32 : 128) || !sl_cidr_contains(&c, &c.net))
            __builtin_trap();
        check_round_trip(&c.net);
    }
    return 0;
}
