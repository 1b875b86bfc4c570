/* Unit tests for sealed response ids (src/xlate/respid.c). The MAC is recomputed here from the
 * construction respid.h documents, with OpenSSL's one-shot HMAC() and SHA256(), so the hand-made
 * HMAC in respid.c is checked against an independent one. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/respid.h"

#define SECRET "a-deployment-secret-of-32-bytes!"

static const struct sl_respid_claims claims = {
    .provider_key = SL_STR_INIT("openai-main"),
    .caller = SL_STR_INIT("team-a"),
    .alias = SL_STR_INIT("gpt-4o-mini"),
};

static struct sl_str seal(struct sl_str secret, const struct sl_respid_claims *c,
                          struct sl_str upstream, char *buf)
{
    size_t len = 0;
    assert_int_equal(sl_respid_seal(secret, c, upstream, buf, &len), SL_OK);
    assert_true(len <= SL_RESPID_MAX_TEXT);
    return sl_str_init(buf, len);
}

/* base64url without padding, decoded with OpenSSL's standard decoder. */
static size_t b64url_decode(struct sl_str s, unsigned char *out)
{
    char std[SL_RESPID_MAX_TEXT + 4];
    size_t n = s.len;
    memcpy(std, s.ptr, n);
    for (size_t i = 0; i < n; i++)
        std[i] = std[i] == '-' ? '+' : std[i] == '_' ? '/' : std[i];
    size_t pad = (4 - n % 4) % 4;
    memset(std + n, '=', pad);
    int got = EVP_DecodeBlock(out, (const unsigned char *)std, (int)(n + pad));
    assert_true(got >= 0);
    return (size_t)got - pad;
}

static void put_lp(unsigned char *buf, size_t *n, const char *s)
{
    size_t len = strlen(s);
    buf[(*n)++] = (unsigned char)(len >> 8);
    buf[(*n)++] = (unsigned char)len;
    memcpy(buf + *n, s, len);
    *n += len;
}

/* The id for these values as respid.h documents it, built with OpenSSL alone. */
static size_t reference_id(const char *secret, const char *key, const char *caller,
                           const char *alias, const char *upstream, unsigned char *raw)
{
    unsigned char k[32], mac[32], tagd[32], msg[4096];
    unsigned int klen = 0, mlen = 0;
    size_t n = 0, m = 0;
    char label[128];
    HMAC(EVP_sha256(), secret, (int)strlen(secret),
         (const unsigned char *)"sluice responses id key v1", 26, k, &klen);
    int l = snprintf(label, sizeof(label), "sluice-respid-key%c%s", 0, key);
    SHA256((const unsigned char *)label, (size_t)l, tagd);
    raw[n++] = 1;
    memcpy(raw + n, tagd, 8);
    n += 8;
    put_lp(raw, &n, alias);
    put_lp(raw, &n, upstream);
    memcpy(msg, "sluice-respid-v1", 17); /* with its NUL */
    m = 17;
    put_lp(msg, &m, caller);
    put_lp(msg, &m, key);
    memcpy(msg + m, raw, n);
    m += n;
    HMAC(EVP_sha256(), k, (int)klen, msg, m, mac, &mlen);
    memcpy(raw + n, mac, 16);
    return n + 16;
}

static void test_matches_the_documented_construction(void **state)
{
    char buf[SL_RESPID_MAX_TEXT];
    unsigned char want[SL_RESPID_MAX_RAW], got[SL_RESPID_MAX_RAW + 4];
    (void)state;
    struct sl_str id = seal(SL_STRLIT(SECRET), &claims, SL_STRLIT("resp_68a1b2c3d4"), buf);
    assert_true(sl_str_starts_with(id, SL_STRLIT("resp_")));
    for (size_t i = 5; i < id.len; i++) {
        char c = id.ptr[i];
        assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_');
    }
    size_t wn =
        reference_id(SECRET, "openai-main", "team-a", "gpt-4o-mini", "resp_68a1b2c3d4", want);
    size_t gn = b64url_decode(sl_str_init(id.ptr + 5, id.len - 5), got);
    assert_int_equal(gn, wn);
    assert_memory_equal(got, want, wn);
    /* Sealing is deterministic: a stored response's calls reseal to the same id. */
    char again[SL_RESPID_MAX_TEXT];
    struct sl_str id2 = seal(SL_STRLIT(SECRET), &claims, SL_STRLIT("resp_68a1b2c3d4"), again);
    assert_true(sl_str_eq(id, id2));
}

static void test_opens_for_its_claims_only(void **state)
{
    char buf[SL_RESPID_MAX_TEXT];
    struct sl_respid id;
    (void)state;
    struct sl_str text = seal(SL_STRLIT(SECRET), &claims, SL_STRLIT("resp_up_1"), buf);
    assert_int_equal(sl_respid_parse(text, &id), SL_OK);
    assert_true(sl_str_eq(id.alias, SL_STRLIT("gpt-4o-mini")));
    assert_true(sl_str_eq(id.upstream_id, SL_STRLIT("resp_up_1")));
    assert_true(sl_respid_names_key(&id, SL_STRLIT("openai-main")));
    assert_false(sl_respid_names_key(&id, SL_STRLIT("openai-other")));
    assert_true(
        sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
    /* Another caller, another provider key, another secret: the MAC fails. */
    assert_false(
        sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-main"), SL_STRLIT("team-b")));
    assert_false(
        sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-other"), SL_STRLIT("team-a")));
    assert_false(sl_respid_verify(&id, SL_STRLIT("another-secret-of-32-bytes-long!"),
                                  SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
    assert_false(sl_respid_verify(&id, SL_STR_NULL, SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
    /* Names are length-prefixed: moving a byte from one name to the other changes the MAC. */
    assert_false(
        sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-mai"), SL_STRLIT("nteam-a")));
}

/* Every single-character change of an id either fails to parse or fails the MAC. */
static void test_any_change_is_caught(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char buf[SL_RESPID_MAX_TEXT], copy[SL_RESPID_MAX_TEXT + 1];
    struct sl_respid id;
    (void)state;
    struct sl_str text = seal(SL_STRLIT(SECRET), &claims, SL_STRLIT("resp_up_2"), buf);
    for (size_t i = 0; i < text.len; i++) {
        for (size_t a = 0; a < sizeof(alphabet) - 1; a += 7) {
            if (alphabet[a] == text.ptr[i])
                continue;
            memcpy(copy, text.ptr, text.len);
            copy[i] = alphabet[a];
            struct sl_str changed = sl_str_init(copy, text.len);
            if (sl_respid_parse(changed, &id) != SL_OK)
                continue;
            assert_false(sl_respid_names_key(&id, SL_STRLIT("openai-main")) &&
                         sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-main"),
                                          SL_STRLIT("team-a")));
        }
    }
    /* Truncated or extended. */
    for (size_t n = 0; n < text.len; n++)
        assert_true(sl_respid_parse(sl_str_init(text.ptr, n), &id) != SL_OK ||
                    !sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-main"),
                                      SL_STRLIT("team-a")));
    memcpy(copy, text.ptr, text.len);
    copy[text.len] = 'A';
    assert_true(
        sl_respid_parse(sl_str_init(copy, text.len + 1), &id) != SL_OK ||
        !sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
}

static void test_not_sealed_ids(void **state)
{
    struct sl_respid id;
    (void)state;
    /* Upstream ids, other prefixes, foreign characters, impossible lengths. */
    assert_int_equal(sl_respid_parse(SL_STRLIT("resp_68a1b2c3d4e5f60718293a4b5c6d7e8f"), &id),
                     SL_EPARSE);
    assert_int_equal(sl_respid_parse(SL_STRLIT("msg_AQAAAAAAAAAA"), &id), SL_EPARSE);
    assert_int_equal(
        sl_respid_parse(SL_STRLIT("resp_AQ+/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), &id), SL_EPARSE);
    assert_int_equal(sl_respid_parse(SL_STRLIT("resp_A"), &id), SL_EPARSE);
    assert_int_equal(sl_respid_parse(SL_STRLIT(""), &id), SL_EPARSE);
    assert_int_equal(sl_respid_parse(SL_STRLIT("resp_"), &id), SL_EPARSE);
    /* A longer text than any id is refused before it is decoded. */
    char big[SL_RESPID_MAX_TEXT + 8];
    memset(big, 'A', sizeof(big));
    memcpy(big, "resp_", 5);
    assert_int_equal(sl_respid_parse(sl_str_init(big, sizeof(big)), &id), SL_EPARSE);
}

static void test_limits(void **state)
{
    char buf[SL_RESPID_MAX_TEXT], part[SL_RESPID_MAX_PART + 1];
    size_t len;
    struct sl_respid id;
    (void)state;
    memset(part, 'x', sizeof(part));
    struct sl_respid_claims long_alias = claims;
    long_alias.alias = sl_str_init(part, SL_RESPID_MAX_PART + 1);
    assert_int_equal(sl_respid_seal(SL_STRLIT(SECRET), &long_alias, SL_STRLIT("r"), buf, &len),
                     SL_EPARSE);
    assert_int_equal(sl_respid_seal(SL_STRLIT(SECRET), &claims,
                                    sl_str_init(part, SL_RESPID_MAX_PART + 1), buf, &len),
                     SL_EPARSE);
    assert_int_equal(sl_respid_seal(SL_STR_NULL, &claims, SL_STRLIT("r"), buf, &len), SL_EPARSE);
    /* The longest parts fit the documented maximum and open again. */
    long_alias.alias = sl_str_init(part, SL_RESPID_MAX_PART);
    assert_int_equal(sl_respid_seal(SL_STRLIT(SECRET), &long_alias,
                                    sl_str_init(part, SL_RESPID_MAX_PART), buf, &len),
                     SL_OK);
    assert_true(len <= SL_RESPID_MAX_TEXT);
    assert_int_equal(sl_respid_parse(sl_str_init(buf, len), &id), SL_OK);
    assert_int_equal(id.upstream_id.len, SL_RESPID_MAX_PART);
    assert_true(
        sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
}

/* More secrets than the per-thread memo holds, interleaved: every id still opens with its own. */
static void test_many_secrets(void **state)
{
    char secrets[9][40], bufs[9][SL_RESPID_MAX_TEXT];
    struct sl_str ids[9];
    struct sl_respid id;
    (void)state;
    for (int i = 0; i < 9; i++) {
        snprintf(secrets[i], sizeof(secrets[i]), "secret-number-%d-padded-to-32-bytes", i);
        ids[i] = seal(sl_str_from_cstr(secrets[i]), &claims, SL_STRLIT("resp_x"), bufs[i]);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 9; i++) {
            assert_int_equal(sl_respid_parse(ids[i], &id), SL_OK);
            for (int j = 0; j < 9; j++)
                assert_int_equal(sl_respid_verify(&id, sl_str_from_cstr(secrets[j]),
                                                  SL_STRLIT("openai-main"), SL_STRLIT("team-a")),
                                 i == j);
        }
    /* A secret longer than the memo keeps is derived each time, with the same result. */
    char longsecret[300];
    memset(longsecret, 's', sizeof(longsecret));
    char lb[SL_RESPID_MAX_TEXT];
    struct sl_str lid =
        seal(sl_str_init(longsecret, sizeof(longsecret)), &claims, SL_STRLIT("resp_y"), lb);
    assert_int_equal(sl_respid_parse(lid, &id), SL_OK);
    assert_true(sl_respid_verify(&id, sl_str_init(longsecret, sizeof(longsecret)),
                                 SL_STRLIT("openai-main"), SL_STRLIT("team-a")));
}

/* More provider keys than the per-thread tag memo holds, names of one length, interleaved:
 * every id is still the documented construction for its own key, and names only its key. */
static void test_many_provider_keys(void **state)
{
    char names[9][16], buf[SL_RESPID_MAX_TEXT];
    unsigned char want[SL_RESPID_MAX_RAW], got[SL_RESPID_MAX_RAW + 4];
    struct sl_respid id;
    (void)state;
    for (int i = 0; i < 9; i++)
        snprintf(names[i], sizeof(names[i]), "openai-key-%d", i);
    /* Forwards, backwards, forwards: hits and evictions in every order. */
    for (int round = 0; round < 3; round++)
        for (int n = 0; n < 9; n++) {
            int i = round == 1 ? 8 - n : n;
            struct sl_respid_claims c = claims;
            c.provider_key = sl_str_from_cstr(names[i]);
            struct sl_str text = seal(SL_STRLIT(SECRET), &c, SL_STRLIT("resp_z"), buf);
            size_t wn = reference_id(SECRET, names[i], "team-a", "gpt-4o-mini", "resp_z", want);
            size_t gn = b64url_decode(sl_str_init(text.ptr + 5, text.len - 5), got);
            assert_int_equal(gn, wn);
            assert_memory_equal(got, want, wn);
            assert_int_equal(sl_respid_parse(text, &id), SL_OK);
            for (int j = 0; j < 9; j++)
                assert_int_equal(sl_respid_names_key(&id, sl_str_from_cstr(names[j])), i == j);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_the_documented_construction),
        cmocka_unit_test(test_opens_for_its_claims_only),
        cmocka_unit_test(test_any_change_is_caught),
        cmocka_unit_test(test_not_sealed_ids),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_many_secrets),
        cmocka_unit_test(test_many_provider_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
