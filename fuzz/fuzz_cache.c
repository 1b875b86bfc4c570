/* The response cache's parsers of peer bytes: a value read back from Redis (sl_cache_value_read),
 * which must round-trip exactly when accepted and never yield a content type that could split a
 * header; and a request body as the key sees it (sl_cache_key), which must give the same key
 * twice and the same key with whitespace added between its tokens. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* body with a space and a line feed after every structural character outside strings. */
static char *spaced(struct sl_str body, size_t *len)
{
    char *out = malloc(3 * body.len + 1);
    CHECK(out != NULL);
    size_t o = 0;
    bool in_string = false, escape = false;
    for (size_t i = 0; i < body.len; i++) {
        char ch = body.ptr[i];
        out[o++] = ch;
        if (in_string) {
            if (escape)
                escape = false;
            else if (ch == '\\')
                escape = true;
            else if (ch == '"')
                in_string = false;
            continue;
        }
        if (ch == '"') {
            in_string = true;
        } else if (ch == '{' || ch == '[' || ch == ',' || ch == ':') {
            out[o++] = ' ';
            out[o++] = '\n';
        }
    }
    *len = o;
    return out;
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
    size_t n;
    char *s = spaced(body, &n);
    in.body = sl_str_init(s, n);
    CHECK(sl_cache_key(&in, &b) == SL_OK && memcmp(a.d, b.d, sizeof(a.d)) == 0);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str s = sl_str_init((const char *)data, size);
    check_value(s);
    check_key(s);
    return 0;
}
