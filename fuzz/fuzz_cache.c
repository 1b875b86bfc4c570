/* The response cache's parsers of peer bytes: a value read back from Redis (sl_cache_value_read),
 * which must round-trip exactly when accepted and never yield a content type that could split a
 * header; and a request body as the key sees it (sl_cache_key), which must give the same key
 * twice and the same key after jansson's own canonical form is fed back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(struct sl_str v)
{
    struct sl_cache_entry *e = sl_cache_value_read(v);
    if (e == NULL)
        return;
    size_t n = sl_cache_value_len(e);
    CHECK(n == v.len);
    char *out = malloc(n);
    CHECK(out != NULL);
    sl_cache_value_write(e, out);
    CHECK(memcmp(out, v.ptr, n) == 0);
    free(out);
    for (const char *c = e->meta.ctype; *c != '\0'; c++)
        CHECK(*c >= 0x20 && *c <= 0x7e);
    sl_cache_entry_unref(e);
}

static void check_key(struct sl_str body)
{
    struct sl_cache_key_input in = {.route = "chat_completions",
                                    .alias = SL_STRLIT("m"),
                                    .policy_id = "p",
                                    .key_name = "k",
                                    .body = body};
    struct sl_cache_key a, b;
    if (sl_cache_key(&in, &a) != SL_OK)
        return;
    CHECK(sl_cache_key(&in, &b) == SL_OK && memcmp(a.d, b.d, sizeof(a.d)) == 0);
    json_t *root = json_loadb(body.ptr, body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    CHECK(root != NULL);
    char *canon = json_dumps(root, JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_INDENT(2));
    json_decref(root);
    if (canon == NULL)
        return;
    in.body = sl_str_from_cstr(canon);
    /* Re-reading a printed real may change its last digit; only compare when it reads back. */
    if (sl_cache_key(&in, &b) == SL_OK && strpbrk(canon, ".eE") == NULL)
        CHECK(memcmp(a.d, b.d, sizeof(a.d)) == 0);
    free(canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str s = sl_str_init((const char *)data, size);
    check_value(s);
    check_key(s);
    return 0;
}
