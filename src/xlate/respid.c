/* Sealed response ids (respid.h). HMAC-SHA256 is computed here over OpenSSL's low-level
 * SHA-256 with the pads hashed once per key: the EVP_MAC path fetches the algorithm and
 * allocates on every use, and the one-shot SHA256() of OpenSSL 3 goes through the provider
 * store on every call (see policy/auth.c). The low-level functions are deprecated in OpenSSL 3
 * but kept (they are what the default provider runs); OPENSSL_SUPPRESS_DEPRECATED is set for
 * this file only. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/respid.h"

#define VERSION      1
#define PREFIX       "resp_"
#define TAG_LABEL    "sluice-respid-key"
#define MAC_LABEL    "sluice-respid-v1"
#define DERIVE_LABEL "sluice responses id key v1"
/* Derived keys remembered per thread: a deployment has one secret (or one per provider key). */
#define MEMO_SLOTS      4
#define MEMO_MAX_SECRET 256

/* An HMAC-SHA256 key: the states after hashing its inner and outer pads. */
struct hkey {
    SHA256_CTX inner, outer;
};

static void hkey_init(struct hkey *k, const void *key, size_t len)
{
    uint8_t block[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK];
    if (len > sizeof(block)) {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, key, len);
        SHA256_Final(block, &c);
        OPENSSL_cleanse(&c, sizeof(c));
    } else if (len != 0) {
        memcpy(block, key, len);
    }
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, sizeof(pad));
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, sizeof(pad));
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
}

static void hmac_final(const struct hkey *k, SHA256_CTX *c, uint8_t out[SHA256_DIGEST_LENGTH])
{
    uint8_t inner[SHA256_DIGEST_LENGTH];
    SHA256_CTX o = k->outer;
    SHA256_Final(inner, c);
    SHA256_Update(&o, inner, sizeof(inner));
    SHA256_Final(out, &o);
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(&o, sizeof(o));
    OPENSSL_cleanse(c, sizeof(*c));
}

/* ---- keys derived from secrets ---- */

struct memo_entry {
    size_t len; /* 0: empty */
    uint8_t secret[MEMO_MAX_SECRET];
    struct hkey key;
    uint64_t used;
};

static _Thread_local struct {
    struct memo_entry e[MEMO_SLOTS];
    uint64_t clock;
} memo;

static void derive(struct sl_str secret, struct hkey *out)
{
    struct hkey root;
    SHA256_CTX c;
    uint8_t k[SHA256_DIGEST_LENGTH];
    hkey_init(&root, secret.ptr, secret.len);
    c = root.inner;
    SHA256_Update(&c, DERIVE_LABEL, sizeof(DERIVE_LABEL) - 1);
    hmac_final(&root, &c, k);
    hkey_init(out, k, sizeof(k));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(&root, sizeof(root));
}

/* The MAC key for secret, from the memo when it was derived before on this thread. */
static const struct hkey *key_for(struct sl_str secret, struct hkey *scratch)
{
    struct memo_entry *victim = &memo.e[0];
    if (secret.len > MEMO_MAX_SECRET) {
        derive(secret, scratch);
        return scratch;
    }
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        struct memo_entry *e = &memo.e[i];
        if (e->len == secret.len && CRYPTO_memcmp(e->secret, secret.ptr, secret.len) == 0) {
            e->used = ++memo.clock;
            return &e->key;
        }
        if (e->used < victim->used)
            victim = e;
    }
    memcpy(victim->secret, secret.ptr, secret.len);
    victim->len = secret.len;
    victim->used = ++memo.clock;
    derive(secret, &victim->key);
    return &victim->key;
}

/* ---- the parts ---- */

/* Tags remembered per thread: a create seals with its model's one provider key, and a SHA-256
 * block per id is a quarter of what sealing costs. The tag is a pure function of the name. */
#define TAG_SLOTS    4
#define TAG_MAX_NAME 128

static _Thread_local struct {
    struct {
        size_t len;
        uint64_t used; /* 0: empty */
        char name[TAG_MAX_NAME];
        uint8_t tag[SL_RESPID_TAG_LEN];
    } e[TAG_SLOTS];
    uint64_t clock;
} tags;

static void tag_compute(struct sl_str name, uint8_t tag[SL_RESPID_TAG_LEN])
{
    SHA256_CTX c;
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256_Init(&c);
    SHA256_Update(&c, TAG_LABEL, sizeof(TAG_LABEL)); /* with its NUL */
    SHA256_Update(&c, name.ptr, name.len);
    SHA256_Final(d, &c);
    memcpy(tag, d, SL_RESPID_TAG_LEN);
}

static void tag_of(struct sl_str name, uint8_t tag[SL_RESPID_TAG_LEN])
{
    size_t victim = 0;
    if (name.len > TAG_MAX_NAME) {
        tag_compute(name, tag);
        return;
    }
    for (size_t i = 0; i < TAG_SLOTS; i++) {
        if (tags.e[i].used != 0 && tags.e[i].len == name.len &&
            (name.len == 0 || memcmp(tags.e[i].name, name.ptr, name.len) == 0)) {
            tags.e[i].used = ++tags.clock;
            memcpy(tag, tags.e[i].tag, SL_RESPID_TAG_LEN);
            return;
        }
        if (tags.e[i].used < tags.e[victim].used)
            victim = i;
    }
    tag_compute(name, tags.e[victim].tag);
    if (name.len != 0)
        memcpy(tags.e[victim].name, name.ptr, name.len);
    tags.e[victim].len = name.len;
    tags.e[victim].used = ++tags.clock;
    memcpy(tag, tags.e[victim].tag, SL_RESPID_TAG_LEN);
}

static void update_lp(SHA256_CTX *c, struct sl_str s)
{
    uint8_t len[2] = {(uint8_t)(s.len >> 8), (uint8_t)s.len};
    SHA256_Update(c, len, 2);
    SHA256_Update(c, s.ptr, s.len);
}

/* The MAC of the id bytes raw[0..n) for these names. */
static void mac_of(struct sl_str secret, struct sl_str provider_key, struct sl_str caller,
                   const uint8_t *raw, size_t n, uint8_t mac[SL_RESPID_MAC_LEN])
{
    struct hkey scratch;
    const struct hkey *k = key_for(secret, &scratch);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256_CTX c = k->inner;
    SHA256_Update(&c, MAC_LABEL, sizeof(MAC_LABEL)); /* with its NUL */
    update_lp(&c, caller);
    update_lp(&c, provider_key);
    SHA256_Update(&c, raw, n);
    hmac_final(k, &c, d);
    memcpy(mac, d, SL_RESPID_MAC_LEN);
    if (k == &scratch)
        OPENSSL_cleanse(&scratch, sizeof(scratch));
}

/* ---- base64url without padding ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
    }
    return o;
}

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

/* Decodes s into out (room for s.len * 3 / 4 bytes). Returns the length, or -1 for a byte
 * outside the alphabet, a length no encoder gives, or leftover bits that are not zero (so each
 * id has exactly one spelling). */
static ptrdiff_t b64_decode(struct sl_str s, uint8_t *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    if (s.len % 4 == 1)
        return -1;
    for (size_t i = 0; i < s.len; i++) {
        int v = b64_value(s.ptr[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc == 0 ? (ptrdiff_t)o : -1;
}

/* ---- the contract ---- */

int sl_respid_seal(struct sl_str secret, const struct sl_respid_claims *c,
                   struct sl_str upstream_id, char out[SL_RESPID_MAX_TEXT], size_t *len)
{
    uint8_t raw[SL_RESPID_MAX_RAW];
    size_t n = 0;
    if (secret.len == 0 || c->alias.len > SL_RESPID_MAX_PART ||
        upstream_id.len > SL_RESPID_MAX_PART)
        return SL_EPARSE;
    raw[n++] = VERSION;
    tag_of(c->provider_key, raw + n);
    n += SL_RESPID_TAG_LEN;
    raw[n++] = (uint8_t)(c->alias.len >> 8);
    raw[n++] = (uint8_t)c->alias.len;
    memcpy(raw + n, c->alias.ptr, c->alias.len);
    n += c->alias.len;
    raw[n++] = (uint8_t)(upstream_id.len >> 8);
    raw[n++] = (uint8_t)upstream_id.len;
    memcpy(raw + n, upstream_id.ptr, upstream_id.len);
    n += upstream_id.len;
    mac_of(secret, c->provider_key, c->caller, raw, n, raw + n);
    n += SL_RESPID_MAC_LEN;
    memcpy(out, PREFIX, sizeof(PREFIX) - 1);
    *len = sizeof(PREFIX) - 1 + b64_encode(raw, n, out + sizeof(PREFIX) - 1);
    SL_ASSERT(*len <= SL_RESPID_MAX_TEXT);
    return SL_OK;
}

/* A length-prefixed part of raw at *at, within n bytes. */
static bool take_part(const uint8_t *raw, size_t n, size_t *at, struct sl_str *part)
{
    if (n - *at < 2)
        return false;
    size_t len = (size_t)raw[*at] << 8 | raw[*at + 1];
    *at += 2;
    if (len > SL_RESPID_MAX_PART || n - *at < len)
        return false;
    *part = sl_str_init((const char *)raw + *at, len);
    *at += len;
    return true;
}

int sl_respid_parse(struct sl_str id, struct sl_respid *out)
{
    size_t at = 1 + SL_RESPID_TAG_LEN;
    if (id.len > SL_RESPID_MAX_TEXT || !sl_str_starts_with(id, SL_STRLIT(PREFIX)))
        return SL_EPARSE;
    ptrdiff_t n = b64_decode(sl_str_init(id.ptr + 5, id.len - 5), out->_raw);
    if (n < (ptrdiff_t)(at + 4 + SL_RESPID_MAC_LEN) || out->_raw[0] != VERSION)
        return SL_EPARSE;
    size_t body = (size_t)n - SL_RESPID_MAC_LEN;
    memcpy(out->tag, out->_raw + 1, SL_RESPID_TAG_LEN);
    if (!take_part(out->_raw, body, &at, &out->alias) ||
        !take_part(out->_raw, body, &at, &out->upstream_id) || at != body ||
        out->upstream_id.len == 0)
        return SL_EPARSE;
    out->_len = (size_t)n;
    return SL_OK;
}

bool sl_respid_names_key(const struct sl_respid *id, struct sl_str name)
{
    uint8_t tag[SL_RESPID_TAG_LEN];
    tag_of(name, tag);
    return memcmp(tag, id->tag, sizeof(tag)) == 0;
}

bool sl_respid_verify(const struct sl_respid *id, struct sl_str secret, struct sl_str provider_key,
                      struct sl_str caller)
{
    uint8_t mac[SL_RESPID_MAC_LEN];
    size_t body = id->_len - SL_RESPID_MAC_LEN;
    if (secret.len == 0)
        return false;
    mac_of(secret, provider_key, caller, id->_raw, body, mac);
    return CRYPTO_memcmp(mac, id->_raw + body, sizeof(mac)) == 0;
}
