#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/json.h"
#include "sluice/resources.h"

#include "resources_internal.h"

/* Exact model names: open addressing with linear probing, at most half full. */
struct model_slot {
    uint64_t hash;
    const struct sl_model *m;
    size_t name_len;
    size_t json_len;
};

/* Caller keys by digest; the digest's first 8 bytes are already a uniform hash. */
struct key_slot {
    uint64_t hash;
    const struct sl_api_key *k;
};

/* A wildcard model, with its JSON output precomputed around the capture:
 * head + escaped(capture) + tail, or just head when the template has no '*'. */
struct wildcard {
    const struct sl_model *m;
    struct sl_str prefix; /* display name before '*' */
    struct sl_str suffix; /* display name after '*' */
    bool splice;          /* the template has a '*' to replace */
    char *head;           /* "\"" + escaped template prefix (the whole literal when !splice) */
    size_t head_len;
    char *tail; /* escaped template suffix + "\"" */
    size_t tail_len;
    size_t order; /* position in the file, for ties */
};

struct index {
    struct model_slot *models;
    size_t models_mask;
    struct key_slot *keys;
    size_t keys_mask;
    struct wildcard *wild; /* longest literal first, ties in file order */
    size_t n_wild;
};

/* FNV-1a: model names are few and chosen by the operator, so flooding is not a concern. */
static uint64_t hash_name(struct sl_str s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t hash_digest(const uint8_t digest[32])
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    return h;
}

/* prefix and suffix tests that never hand memcmp a NULL pointer (an empty alias may be
 * {NULL, 0}). */
static bool has_prefix(struct sl_str s, struct sl_str p)
{
    return p.len == 0 || (s.len >= p.len && memcmp(s.ptr, p.ptr, p.len) == 0);
}

static bool has_suffix(struct sl_str s, struct sl_str p)
{
    return p.len == 0 || (s.len >= p.len && memcmp(s.ptr + s.len - p.len, p.ptr, p.len) == 0);
}

/* True when s is prefix + x + suffix with x at least min_capture bytes long. */
static bool matches_around_star(struct sl_str s, struct sl_str prefix, struct sl_str suffix,
                                size_t min_capture)
{
    return s.len >= prefix.len + suffix.len + min_capture && has_prefix(s, prefix) &&
           has_suffix(s, suffix);
}

/* Smallest power of two holding n entries at most half full. */
static size_t table_size(size_t n)
{
    size_t size = 4;
    while (size < 2 * n)
        size *= 2;
    return size;
}

static void add_model(struct index *ix, const struct sl_model *m)
{
    struct sl_str name = sl_str_from_cstr(m->name);
    uint64_t h = hash_name(name);
    size_t i = h & ix->models_mask;
    while (ix->models[i].m != NULL)
        i = (i + 1) & ix->models_mask;
    /* A model group has no upstream id of its own: each target has one. */
    size_t json_len = m->model_name_json != NULL ? strlen(m->model_name_json) : 0;
    ix->models[i] = (struct model_slot){h, m, name.len, json_len};
}

static void add_key(struct index *ix, const struct sl_api_key *k)
{
    uint64_t h = hash_digest(k->digest);
    size_t i = h & ix->keys_mask;
    while (ix->keys[i].k != NULL)
        i = (i + 1) & ix->keys_mask;
    ix->keys[i] = (struct key_slot){h, k};
}

/* Escapes s as a JSON string literal into a new string; drop_open / drop_close remove the
 * opening or closing quote so two halves can be joined around a capture. */
static char *json_part(struct sl_str s, bool drop_open, bool drop_close, size_t *len)
{
    struct sl_buf b;
    sl_buf_init(&b, SIZE_MAX / 2);
    int rc = sl_json_escape(&b, s);
    SL_ASSERT(rc == SL_OK && b.len >= 2);
    struct sl_str part = sl_str_init(b.ptr + drop_open, b.len - drop_open - drop_close);
    char *out = sl_str_dup(part);
    *len = part.len;
    sl_buf_dispose(&b);
    return out;
}

static void init_wildcard(struct wildcard *w, const struct sl_model *m, size_t order)
{
    struct sl_str name = sl_str_from_cstr(m->name), tmpl = sl_str_from_cstr(m->model_name);
    const char *star = memchr(name.ptr, '*', name.len);
    const char *tstar = memchr(tmpl.ptr, '*', tmpl.len);
    SL_ASSERT(star != NULL);
    w->m = m;
    w->order = order;
    w->prefix = sl_str_init(name.ptr, (size_t)(star - name.ptr));
    w->suffix = sl_str_init(star + 1, name.len - w->prefix.len - 1);
    w->splice = tstar != NULL;
    if (!w->splice) {
        w->head = json_part(tmpl, false, false, &w->head_len);
        w->tail = sl_xstrdup("");
        w->tail_len = 0;
        return;
    }
    size_t pre = (size_t)(tstar - tmpl.ptr);
    w->head = json_part(sl_str_init(tmpl.ptr, pre), false, true, &w->head_len);
    w->tail = json_part(sl_str_init(tstar + 1, tmpl.len - pre - 1), true, false, &w->tail_len);
}

static int cmp_wildcards(const void *pa, const void *pb)
{
    const struct wildcard *a = pa, *b = pb;
    if (a->m->literal_len != b->m->literal_len)
        return a->m->literal_len > b->m->literal_len ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

void sl__res_index_build(struct sl_resources *r, const size_t *file_pos)
{
    struct index *ix = sl_xcalloc(1, sizeof(*ix));
    size_t n_exact = 0;
    for (size_t i = 0; i < r->n_models; i++)
        n_exact += !r->models[i].is_wildcard;
    ix->models_mask = table_size(n_exact) - 1;
    ix->models = sl_xcalloc(ix->models_mask + 1, sizeof(*ix->models));
    ix->wild = sl_xcalloc(r->n_models - n_exact + 1, sizeof(*ix->wild));
    for (size_t i = 0; i < r->n_models; i++) {
        const struct sl_model *m = &r->models[i];
        if (m->is_wildcard)
            init_wildcard(&ix->wild[ix->n_wild++], m, file_pos[i]);
        else
            add_model(ix, m);
    }
    qsort(ix->wild, ix->n_wild, sizeof(*ix->wild), cmp_wildcards);
    ix->keys_mask = table_size(r->n_api_keys) - 1;
    ix->keys = sl_xcalloc(ix->keys_mask + 1, sizeof(*ix->keys));
    for (size_t i = 0; i < r->n_api_keys; i++)
        add_key(ix, &r->api_keys[i]);
    r->_index = ix;
}

void sl__res_index_free(void *index)
{
    struct index *ix = index;
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->n_wild; i++) {
        free(ix->wild[i].head);
        free(ix->wild[i].tail);
    }
    free(ix->wild);
    free(ix->models);
    free(ix->keys);
    free(ix);
}

const struct sl_api_key *sl_resources_find_key(const struct sl_resources *r,
                                               const uint8_t digest[32])
{
    const struct index *ix = r->_index;
    uint64_t h = hash_digest(digest);
    for (size_t i = h & ix->keys_mask;; i = (i + 1) & ix->keys_mask) {
        const struct key_slot *s = &ix->keys[i];
        if (s->k == NULL)
            return NULL;
        if (s->hash == h && CRYPTO_memcmp(s->k->digest, digest, 32) == 0)
            return s->k;
    }
}

static const struct model_slot *find_exact(const struct index *ix, struct sl_str alias)
{
    uint64_t h = hash_name(alias);
    for (size_t i = h & ix->models_mask;; i = (i + 1) & ix->models_mask) {
        const struct model_slot *s = &ix->models[i];
        if (s->m == NULL)
            return NULL;
        if (s->hash == h && s->name_len == alias.len &&
            (alias.len == 0 || memcmp(s->m->name, alias.ptr, alias.len) == 0))
            return s;
    }
}

static bool wildcard_matches(const struct wildcard *w, struct sl_str alias)
{
    return matches_around_star(alias, w->prefix, w->suffix, 1);
}

/* Appends s JSON-escaped without quotes: sl_json_escape, then the two quotes dropped. */
static int append_escaped_body(struct sl_buf *b, struct sl_str s)
{
    size_t at = b->len;
    int rc = sl_json_escape(b, s);
    if (rc != SL_OK)
        return rc;
    size_t n = b->len - at;
    memmove(b->ptr + at, b->ptr + at + 1, n - 2);
    b->len -= 2;
    b->ptr[b->len] = '\0';
    return SL_OK;
}

static int append_wildcard_id(struct sl_buf *b, const struct wildcard *w, struct sl_str alias)
{
    int rc = sl_buf_append(b, w->head, w->head_len);
    if (rc != SL_OK || !w->splice)
        return rc;
    struct sl_str capture =
        sl_str_init(alias.ptr + w->prefix.len, alias.len - w->prefix.len - w->suffix.len);
    rc = append_escaped_body(b, capture);
    if (rc == SL_OK)
        rc = sl_buf_append(b, w->tail, w->tail_len);
    return rc;
}

const struct sl_model *sl_resources_resolve(const struct sl_resources *r, struct sl_str alias,
                                            struct sl_buf *upstream_id)
{
    const struct index *ix = r->_index;
    const struct model_slot *s = find_exact(ix, alias);
    if (s != NULL) {
        if (upstream_id != NULL && s->json_len != 0 &&
            sl_buf_append(upstream_id, s->m->model_name_json, s->json_len) != SL_OK)
            return NULL;
        return s->m;
    }
    for (size_t i = 0; i < ix->n_wild; i++) {
        const struct wildcard *w = &ix->wild[i];
        if (!wildcard_matches(w, alias))
            continue;
        if (upstream_id == NULL)
            return w->m;
        size_t keep = upstream_id->len;
        if (append_wildcard_id(upstream_id, w, alias) == SL_OK)
            return w->m;
        upstream_id->len = keep;
        if (upstream_id->ptr != NULL)
            upstream_id->ptr[keep] = '\0';
        return NULL;
    }
    return NULL;
}

bool sl__res_wildcard_match(struct sl_str pattern, struct sl_str alias)
{
    const char *star = memchr(pattern.ptr, '*', pattern.len);
    if (star == NULL)
        return false;
    struct sl_str pre = sl_str_init(pattern.ptr, (size_t)(star - pattern.ptr));
    struct sl_str suf = sl_str_init(star + 1, pattern.len - pre.len - 1);
    return matches_around_star(alias, pre, suf, 1);
}

bool sl_glob_match(struct sl_str glob, struct sl_str s)
{
    const char *star = glob.len != 0 ? memchr(glob.ptr, '*', glob.len) : NULL;
    if (star == NULL)
        return sl_str_eq(glob, s);
    struct sl_str pre = sl_str_init(glob.ptr, (size_t)(star - glob.ptr));
    struct sl_str suf = sl_str_init(star + 1, glob.len - pre.len - 1);
    return matches_around_star(s, pre, suf, 0);
}

bool sl_api_key_allows(const struct sl_api_key *key, struct sl_str alias)
{
    for (size_t i = 0; i < key->n_allowed_models; i++) {
        if (sl_glob_match(sl_str_from_cstr(key->allowed_models[i]), alias))
            return true;
    }
    return false;
}
