/* Fuzz target for caller credential extraction (src/policy/auth.c). The input is a header block,
 * one "name: value" per line (LF or CRLF); each header is added to a real h2o_headers_t in an
 * h2o memory pool the way h2o's HTTP/1 parser does: name lower-cased, known names as tokens,
 * others by string. Then sl_auth_credential must agree with a reference written from the
 * contract in auth.h (first authorization header, which must start with "Bearer ", else the
 * first x-api-key; trimmed; 1..SL_AUTH_MAX_KEY_BYTES; a slice of that header's value), and
 * sl_auth_check against a resources set with one known key must find exactly that key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/diag.h"
#include "sluice/h2o.h"
#include "sluice/resources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* sha256("sk-fuzz-known") */
static const char resources_yaml[] =
    "_format_version: \"1\"\n"
    "api_keys:\n"
    "  - display_name: known\n"
    "    key_hash: 5274e3a8e5e04a7b464373896a0b4db7b6acc438fdc3e4db93615d87ce72894c\n"
    "    allowed_models: [\"*\"]\n";
static const char known_key[] = "sk-fuzz-known";

static struct sl_resources *known_resources(void)
{
    static struct sl_resources *res;
    if (res == NULL) {
        struct sl_diag diag;
        sl_diag_init(&diag, "fuzz");
        CHECK(sl_resources_parse(resources_yaml, sizeof(resources_yaml) - 1, "fuzz", NULL, &res,
                                 &diag) == SL_OK);
        sl_diag_dispose(&diag);
    }
    return res;
}

/* Adds one "name: value" line. Names are lower-cased into pool memory, as h2o does. */
static void add_line(h2o_mem_pool_t *pool, h2o_headers_t *h, const char *p, size_t n)
{
    const char *colon = memchr(p, ':', n);
    if (colon == NULL || colon == p)
        return;
    size_t name_len = (size_t)(colon - p);
    char *name = h2o_mem_alloc_pool(pool, name_len);
    for (size_t i = 0; i < name_len; i++)
        name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
    const char *v = colon + 1;
    size_t vlen = n - name_len - 1;
    /* h2o drops the spaces after the colon (picohttpparser) but keeps any before the CR. */
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    const h2o_token_t *t = h2o_lookup_token(name, name_len);
    if (t != NULL)
        h2o_add_header(pool, h, t, NULL, v, vlen);
    else
        h2o_add_header_by_str(pool, h, name, name_len, 0, NULL, v, vlen);
}

static void build_headers(h2o_mem_pool_t *pool, h2o_headers_t *h, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl != NULL ? (size_t)(nl - p) : n;
        size_t line = len;
        if (line > 0 && p[line - 1] == '\r')
            line--;
        add_line(pool, h, p, line);
        if (nl == NULL)
            break;
        p += len + 1;
        n -= len + 1;
    }
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The contract of sl_auth_credential, written out plainly. */
static int reference(const h2o_headers_t *h, struct sl_str *token, size_t *from)
{
    const h2o_header_t *found = NULL;
    bool bearer = false;
    for (size_t i = 0; i < h->size && found == NULL; i++) {
        if (h->entries[i].name->len == 13 &&
            memcmp(h->entries[i].name->base, "authorization", 13) == 0) {
            found = &h->entries[i];
            bearer = true;
            *from = i;
        }
    }
    for (size_t i = 0; i < h->size && found == NULL; i++) {
        if (h->entries[i].name->len == 9 && memcmp(h->entries[i].name->base, "x-api-key", 9) == 0) {
            found = &h->entries[i];
            *from = i;
        }
    }
    if (found == NULL)
        return SL_ENOENT;
    const char *p = found->value.base;
    size_t n = found->value.len;
    if (bearer) {
        if (n < 7 || memcmp(p, "Bearer ", 7) != 0)
            return SL_EPARSE;
        p += 7;
        n -= 7;
    }
    while (n > 0 && is_blank(p[0])) {
        p++;
        n--;
    }
    while (n > 0 && is_blank(p[n - 1]))
        n--;
    *token = sl_str_init(p, n);
    return n >= 1 && n <= SL_AUTH_MAX_KEY_BYTES ? SL_OK : SL_EPARSE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_mem_pool_t pool;
    h2o_headers_t headers = {NULL, 0, 0};
    struct sl_str got = SL_STR_NULL, want = SL_STR_NULL;
    size_t from = 0;
    h2o_mem_init_pool(&pool);
    build_headers(&pool, &headers, (const char *)data, size);
    int rc = sl_auth_credential(&headers, &got);
    int ref = reference(&headers, &want, &from);
    CHECK(rc == ref);
    if (rc == SL_OK) {
        const h2o_iovec_t *v = &headers.entries[from].value;
        CHECK(got.ptr == want.ptr && got.len == want.len);
        CHECK(got.ptr >= v->base && got.ptr + got.len <= v->base + v->len);
    }

    /* The whole check: only the known key authenticates, and its record comes back. */
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    req.headers = headers;
    const struct sl_api_key *key = NULL;
    enum sl_auth_result ar = sl_auth_check(&req, known_resources(), 0, &key);
    bool is_known = rc == SL_OK && sl_str_eq(got, sl_str_init(known_key, sizeof(known_key) - 1));
    CHECK((ar == SL_AUTH_OK) == is_known);
    CHECK((key != NULL) == is_known);
    CHECK(ar != SL_AUTH_MISSING || rc != SL_OK);
    CHECK(ar != SL_AUTH_UNKNOWN || rc == SL_OK);
    h2o_mem_clear_pool(&pool);
    return 0;
}
