/* RS256 JWTs (src/providers/jwt.c): base64url by RFC 4648's vectors, and a token whose signature
 * OpenSSL verifies with the public half of the key that signed it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "sluice/base.h"
#include "sluice/jwt.h"

int main(void);

static void test_base64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10, in the URL-safe alphabet without padding. */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < SL_ARRAY_LEN(in); i++) {
        struct sl_buf b;
        sl_buf_init(&b, 64);
        assert_int_equal(sl_base64url_append(&b, in[i], strlen(in[i])), SL_OK);
        assert_int_equal(b.len, strlen(out[i]));
        assert_memory_equal(b.len != 0 ? b.ptr : "", out[i], b.len);
        sl_buf_dispose(&b);
    }
    /* The URL-safe characters: 0xfb 0xff -> "-_8" (standard base64 would say "+/8"). */
    struct sl_buf b;
    sl_buf_init(&b, 64);
    assert_int_equal(sl_base64url_append(&b, "\xfb\xff", 2), SL_OK);
    assert_memory_equal(b.ptr, "-_8", 3);
    sl_buf_dispose(&b);
}

static size_t b64url_decode(const char *s, size_t n, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        assert_true(v >= 0);
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

static void test_sign_and_verify(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    static const char claims[] =
        "{\"iss\":\"a@b\",\"aud\":\"https://t/token\",\"iat\":1,\"exp\":2}";
    struct sl_buf b;
    unsigned char part[1024];
    assert_non_null(key);
    sl_buf_init(&b, 8192);
    assert_int_equal(sl_buf_append(&b, "x", 1), SL_OK); /* appends after what b holds */
    assert_int_equal(sl_jwt_sign_rs256(key, sl_str_init(claims, sizeof(claims) - 1), &b), SL_OK);
    const char *jwt = b.ptr + 1, *end = b.ptr + b.len;
    const char *d1 = memchr(jwt, '.', (size_t)(end - jwt));
    const char *d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
    assert_non_null(d1);
    assert_non_null(d2);
    size_t n = b64url_decode(jwt, (size_t)(d1 - jwt), part);
    assert_int_equal(n, strlen("{\"alg\":\"RS256\",\"typ\":\"JWT\"}"));
    assert_memory_equal(part, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", n);
    n = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), part);
    assert_int_equal(n, sizeof(claims) - 1);
    assert_memory_equal(part, claims, n);
    size_t siglen = b64url_decode(d2 + 1, (size_t)(end - d2 - 1), part);
    assert_int_equal(siglen, 256);
    /* The signature covers "<header>.<claims>" and verifies with the key's public half. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestVerify(md, part, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    /* ... and not over other bytes. */
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, part, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt) - 1), 1);
    EVP_MD_CTX_free(md);
    sl_buf_dispose(&b);
    EVP_PKEY_free(key);
}

static void test_cap_and_wrong_key(void **state)
{
    (void)state;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct sl_buf b;
    /* Too small for the signature: SL_E2BIG, and nothing of it stays. */
    sl_buf_init(&b, 100);
    assert_int_equal(sl_buf_append(&b, "keep", 4), SL_OK);
    assert_int_equal(sl_jwt_sign_rs256(rsa, SL_STRLIT("{}"), &b), SL_E2BIG);
    assert_int_equal(b.len, 4);
    sl_buf_dispose(&b);
    /* RS256 needs an RSA key: an EC key is an error, not a wrong signature. */
    sl_buf_init(&b, 8192);
    assert_int_equal(sl_jwt_sign_rs256(ec, SL_STRLIT("{}"), &b), SL_ERR);
    assert_int_equal(b.len, 0);
    sl_buf_dispose(&b);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_vectors),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_cap_and_wrong_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
