/* The response cache's key and memory store (cache.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/cache.h"
#include "sluice/json.h"

/* ---- the key ---- */

#define KEY_VERSION "sluice-cache-v1"

/* SHA-256, fetched once: OpenSSL 3 looks an implicit EVP_sha256() up on every init. */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void fetch_md(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    SL_ASSERT(sha256_md != NULL);
}

/* Body members that do not change the answer (cache.h). */
static const char *const ignored_members[] = {"stream", "user", "metadata"};

static void put_field(EVP_MD_CTX *ctx, const void *p, size_t len)
{
    uint8_t n[8];
    for (size_t i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)len >> (8 * i));
    SL_ASSERT(EVP_DigestUpdate(ctx, n, sizeof(n)) == 1);
    if (len != 0)
        SL_ASSERT(EVP_DigestUpdate(ctx, p, len) == 1);
}

static void put_cstr(EVP_MD_CTX *ctx, const char *s)
{
    put_field(ctx, s, s != NULL ? strlen(s) : 0);
}

/* ---- the canonical body ----
 *
 * The body is walked with the project's scanner (json.h) and written in a prefix-free form, so
 * two bodies give the same bytes exactly when they hold the same values: "s" and a 4-byte length
 * before each string (decoded: "h\u0069" is "hi"), "n" and a length before each number (its
 * text: 1 and 1.0 differ), "N", "T", "F" for null and the booleans, "[" ... "]" around arrays,
 * "{" ... "}" around objects whose members are sorted by name. Whitespace never reaches it. No
 * DOM is built: jansson's parse and print of a small chat body cost half of a hit's budget. */

#define CANON_MAX_DEPTH SL_JSON_DEFAULT_MAX_DEPTH

struct canon {
    struct sl_buf out;
    struct sl_buf scratch; /* a decoded string */
};

struct canon_member {
    struct sl_str name; /* decoded */
    char *owned;        /* name's storage when it had escapes */
    struct sl_json_member val;
    size_t index;
};

static int put_tagged(struct sl_buf *b, char tag, struct sl_str s)
{
    uint8_t head[5] = {(uint8_t)tag, (uint8_t)(s.len >> 24), (uint8_t)(s.len >> 16),
                       (uint8_t)(s.len >> 8), (uint8_t)s.len};
    if (s.len > UINT32_MAX)
        return SL_E2BIG;
    int rc = sl_buf_append(b, head, sizeof(head));
    return rc == SL_OK && s.len != 0 ? sl_buf_append(b, s.ptr, s.len) : rc;
}

/* The decoded text of a raw string (quotes included): raw itself without escapes. */
static int decode(struct canon *c, struct sl_str raw, struct sl_str *out)
{
    if (memchr(raw.ptr, '\\', raw.len) == NULL) {
        *out = sl_str_init(raw.ptr + 1, raw.len - 2);
        return SL_OK;
    }
    sl_buf_reset(&c->scratch);
    int rc = sl_json_unescape(raw, &c->scratch);
    *out = sl_buf_str(&c->scratch);
    return rc;
}

static int cmp_members(const void *pa, const void *pb)
{
    const struct canon_member *a = pa, *b = pb;
    size_t n = SL_MIN(a->name.len, b->name.len);
    int r = n != 0 ? memcmp(a->name.ptr, b->name.ptr, n) : 0;
    if (r != 0)
        return r;
    if (a->name.len != b->name.len)
        return a->name.len < b->name.len ? -1 : 1;
    return a->index < b->index ? -1 : (a->index > b->index);
}

static int put_value(struct canon *c, const struct sl_json_member *v, unsigned depth, bool top);

static bool is_ignored(struct sl_str name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(ignored_members); i++) {
        if (sl_str_eq(name, sl_str_from_cstr(ignored_members[i])))
            return true;
    }
    return false;
}

/* Reads the members of an object (n of them) with their decoded names; *got says how many
 * entries of m were filled (their owned names are freed by the caller, even on failure). */
static int read_members(struct canon *c, struct sl_str obj, struct canon_member *m, size_t n,
                        size_t *got)
{
    struct sl_json_iter it;
    struct sl_json_key key;
    struct sl_json_member val;
    int more;
    *got = 0;
    if (sl_json_iter_init(&it, obj, CANON_MAX_DEPTH) != SL_OK)
        return SL_EPARSE;
    while ((more = sl_json_iter_next(&it, &key, &val)) == 1) {
        if (*got == n)
            return SL_EPARSE;
        struct canon_member *e = &m[(*got)++];
        *e = (struct canon_member){.name = key.raw, .val = val, .index = *got};
        if (!key.escaped)
            continue;
        struct sl_str d;
        if (decode(c, sl_str_init(key.raw.ptr - 1, key.raw.len + 2), &d) != SL_OK)
            return SL_EPARSE;
        e->owned = sl_str_dup(d);
        e->name = sl_str_init(e->owned, d.len);
    }
    return more == 0 ? SL_OK : SL_EPARSE;
}

static int put_object(struct canon *c, const struct sl_json_member *v, unsigned depth, bool top)
{
    size_t n = v->count, got = 0;
    struct canon_member *m = sl_xcalloc(n != 0 ? n : 1, sizeof(*m));
    int rc = read_members(c, v->value, m, n, &got);
    if (rc == SL_OK)
        qsort(m, got, sizeof(*m), cmp_members);
    if (rc == SL_OK)
        rc = sl_buf_append(&c->out, "{", 1);
    for (size_t i = 0; i < got && rc == SL_OK; i++) {
        if (top && is_ignored(m[i].name))
            continue;
        rc = put_tagged(&c->out, 's', m[i].name);
        if (rc == SL_OK)
            rc = put_value(c, &m[i].val, depth + 1, false);
    }
    if (rc == SL_OK)
        rc = sl_buf_append(&c->out, "}", 1);
    for (size_t i = 0; i < got; i++)
        free(m[i].owned);
    free(m);
    return rc;
}

static int put_array(struct canon *c, const struct sl_json_member *v, unsigned depth)
{
    struct sl_json_iter it;
    struct sl_json_member el;
    int rc = sl_json_iter_init(&it, v->value, CANON_MAX_DEPTH);
    if (rc == SL_OK)
        rc = sl_buf_append(&c->out, "[", 1);
    int more = 0;
    while (rc == SL_OK && (more = sl_json_iter_next(&it, NULL, &el)) == 1)
        rc = put_value(c, &el, depth + 1, false);
    if (rc == SL_OK && more != 0)
        rc = SL_EPARSE;
    return rc == SL_OK ? sl_buf_append(&c->out, "]", 1) : rc;
}

static int put_value(struct canon *c, const struct sl_json_member *v, unsigned depth, bool top)
{
    struct sl_str d;
    if (depth > CANON_MAX_DEPTH)
        return SL_EPARSE;
    switch (v->type) {
    case SL_JSON_NULL:
        return sl_buf_append(&c->out, "N", 1);
    case SL_JSON_TRUE:
        return sl_buf_append(&c->out, "T", 1);
    case SL_JSON_FALSE:
        return sl_buf_append(&c->out, "F", 1);
    case SL_JSON_NUMBER:
        return put_tagged(&c->out, 'n', v->value);
    case SL_JSON_STRING:
        return decode(c, v->value, &d) == SL_OK ? put_tagged(&c->out, 's', d) : SL_EPARSE;
    case SL_JSON_ARRAY:
        return put_array(c, v, depth);
    case SL_JSON_OBJECT:
        return put_object(c, v, depth, top);
    default:
        return SL_EPARSE;
    }
}

/* The canonical form of body (a JSON object) into c->out. */
static int canonical_body(struct canon *c, struct sl_str body)
{
    struct sl_json_iter it;
    if (sl_json_iter_init(&it, body, CANON_MAX_DEPTH) != SL_OK || !sl_json_iter_is_object(&it))
        return SL_EPARSE;
    struct sl_str t = sl_str_trim(body);
    /* The object's member count: walk it once (values are validated as they come). */
    struct sl_json_member top = {.type = SL_JSON_OBJECT, .value = t};
    struct sl_json_member val;
    struct sl_json_key key;
    int rc;
    while ((rc = sl_json_iter_next(&it, &key, &val)) == 1)
        top.count++;
    if (rc != 0)
        return SL_EPARSE;
    return put_value(c, &top, 0, true);
}

int sl_cache_key(const struct sl_cache_key_input *in, struct sl_cache_key *out)
{
    struct canon c;
    /* Tags and lengths take at most 5 bytes per value, and a value takes at least 1 byte. */
    sl_buf_init(&c.out, 6 * in->body.len + 64);
    sl_buf_init(&c.scratch, in->body.len + 1);
    if (canonical_body(&c, in->body) != SL_OK) {
        sl_buf_dispose(&c.out);
        sl_buf_dispose(&c.scratch);
        return SL_EPARSE;
    }
    char gen[24];
    int glen = snprintf(gen, sizeof(gen), "%llu", (unsigned long long)in->purge_generation);
    pthread_once(&md_once, fetch_md);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    SL_ASSERT(ctx != NULL && EVP_DigestInit_ex(ctx, sha256_md, NULL) == 1);
    put_cstr(ctx, KEY_VERSION);
    put_cstr(ctx, in->route);
    put_field(ctx, in->alias.ptr, in->alias.len);
    put_cstr(ctx, in->stream ? "stream" : "json");
    put_cstr(ctx, in->policy_id);
    put_field(ctx, gen, (size_t)glen);
    /* The scope is tagged, so no key name can stand for the shared scope. */
    if (in->key_name != NULL) {
        put_cstr(ctx, "key");
        put_cstr(ctx, in->key_name);
    } else {
        put_cstr(ctx, "env");
        put_field(ctx, NULL, 0);
    }
    put_field(ctx, c.out.ptr, c.out.len);
    unsigned int mdlen = 0;
    SL_ASSERT(EVP_DigestFinal_ex(ctx, out->d, &mdlen) == 1 && mdlen == SL_CACHE_KEY_BYTES);
    EVP_MD_CTX_free(ctx);
    sl_buf_dispose(&c.out);
    sl_buf_dispose(&c.scratch);
    return SL_OK;
}

void sl_cache_key_hex(const struct sl_cache_key *k, char out[2 * SL_CACHE_KEY_BYTES + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < SL_CACHE_KEY_BYTES; i++) {
        out[2 * i] = hex[k->d[i] >> 4];
        out[2 * i + 1] = hex[k->d[i] & 15];
    }
    out[2 * SL_CACHE_KEY_BYTES] = '\0';
}

/* ---- entries ---- */

size_t sl_cache_entry_size(size_t body_len)
{
    return sizeof(struct sl_cache_entry) + body_len;
}

struct sl_cache_entry *sl_cache_entry_new(const struct sl_cache_meta *meta, const char *body,
                                          size_t len)
{
    struct sl_cache_entry *e = sl_xmalloc(sl_cache_entry_size(len));
    char *copy = (char *)(e + 1);
    *e = (struct sl_cache_entry){.meta = *meta, .len = len, .body = copy};
    atomic_init(&e->_refs, 1);
    if (len != 0)
        memcpy(copy, body, len);
    return e;
}

void sl_cache_entry_unref(struct sl_cache_entry *e)
{
    if (e == NULL)
        return;
    unsigned before = atomic_fetch_sub_explicit(&e->_refs, 1, memory_order_acq_rel);
    SL_ASSERT(before != 0);
    if (before == 1)
        free(e);
}

static void entry_ref(struct sl_cache_entry *e)
{
    atomic_fetch_add_explicit(&e->_refs, 1, memory_order_relaxed);
}

/* ---- the store ---- */

#define MIN_BUCKETS 64

struct shard {
    pthread_mutex_t lock;
    struct sl_cache_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t bytes;
    /* LRU: head most recently used, tail the next to evict */
    struct sl_cache_entry *head, *tail;
};

struct sl_cache_store {
    size_t shard_cap; /* bytes each shard may hold */
    struct shard shards[SL_CACHE_SHARDS];
    _Atomic uint64_t bytes, entries, evictions, expirations;
};

/* The key is a SHA-256: its bytes are already uniform. Byte 0 picks the shard, the next eight
 * the bucket. */
static struct shard *shard_of(struct sl_cache_store *s, const struct sl_cache_key *k)
{
    return &s->shards[k->d[0] % SL_CACHE_SHARDS];
}

static size_t bucket_of(const struct shard *sh, const struct sl_cache_key *k)
{
    uint64_t h = 0;
    memcpy(&h, k->d + 1, sizeof(h));
    return (size_t)h & (sh->nbuckets - 1);
}

struct sl_cache_store *sl_cache_store_new(uint64_t max_bytes)
{
    struct sl_cache_store *s = sl_xcalloc(1, sizeof(*s));
    s->shard_cap = (size_t)(max_bytes / SL_CACHE_SHARDS);
    for (size_t i = 0; i < SL_CACHE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->nbuckets = MIN_BUCKETS;
        sh->buckets = sl_xcalloc(sh->nbuckets, sizeof(*sh->buckets));
    }
    return s;
}

void sl_cache_store_free(struct sl_cache_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SL_CACHE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        struct sl_cache_entry *e = sh->head;
        while (e != NULL) {
            struct sl_cache_entry *next = e->_next;
            sl_cache_entry_unref(e);
            e = next;
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->lock);
    }
    free(s);
}

size_t sl_cache_store_max_body(const struct sl_cache_store *s)
{
    size_t overhead = sl_cache_entry_size(0);
    return s->shard_cap > overhead ? s->shard_cap - overhead : 0;
}

static void lru_unlink(struct shard *sh, struct sl_cache_entry *e)
{
    if (e->_prev != NULL)
        e->_prev->_next = e->_next;
    else
        sh->head = e->_next;
    if (e->_next != NULL)
        e->_next->_prev = e->_prev;
    else
        sh->tail = e->_prev;
    e->_prev = e->_next = NULL;
}

static void lru_push_front(struct shard *sh, struct sl_cache_entry *e)
{
    e->_prev = NULL;
    e->_next = sh->head;
    if (sh->head != NULL)
        sh->head->_prev = e;
    sh->head = e;
    if (sh->tail == NULL)
        sh->tail = e;
}

/* Unlinks e from the table and the list (under the lock); the caller drops the reference. */
static void remove_entry(struct sl_cache_store *s, struct shard *sh, struct sl_cache_entry *e)
{
    struct sl_cache_entry **p = &sh->buckets[bucket_of(sh, &e->_key)];
    while (*p != e)
        p = &(*p)->_hnext;
    *p = e->_hnext;
    e->_hnext = NULL;
    lru_unlink(sh, e);
    size_t size = sl_cache_entry_size(e->len);
    sh->count--;
    sh->bytes -= size;
    atomic_fetch_sub_explicit(&s->bytes, size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->entries, 1, memory_order_relaxed);
}

static struct sl_cache_entry *find(struct shard *sh, const struct sl_cache_key *k)
{
    for (struct sl_cache_entry *e = sh->buckets[bucket_of(sh, k)]; e != NULL; e = e->_hnext) {
        if (memcmp(e->_key.d, k->d, SL_CACHE_KEY_BYTES) == 0)
            return e;
    }
    return NULL;
}

struct sl_cache_entry *sl_cache_store_get(struct sl_cache_store *s, const struct sl_cache_key *key,
                                          uint64_t now_ms)
{
    struct shard *sh = shard_of(s, key);
    struct sl_cache_entry *expired = NULL;
    pthread_mutex_lock(&sh->lock);
    struct sl_cache_entry *e = find(sh, key);
    if (e != NULL && e->_expires_ms <= now_ms) {
        remove_entry(s, sh, e);
        expired = e;
        e = NULL;
    } else if (e != NULL) {
        lru_unlink(sh, e);
        lru_push_front(sh, e);
        entry_ref(e);
    }
    pthread_mutex_unlock(&sh->lock);
    if (expired != NULL) {
        atomic_fetch_add_explicit(&s->expirations, 1, memory_order_relaxed);
        sl_cache_entry_unref(expired);
    }
    return e;
}

/* Doubles the table once it holds more entries than buckets (under the lock). */
static void maybe_grow(struct shard *sh)
{
    if (sh->count <= sh->nbuckets)
        return;
    size_t n = sh->nbuckets * 2;
    struct sl_cache_entry **b = sl_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < sh->nbuckets; i++) {
        struct sl_cache_entry *e = sh->buckets[i];
        while (e != NULL) {
            struct sl_cache_entry *next = e->_hnext;
            uint64_t h = 0;
            memcpy(&h, e->_key.d + 1, sizeof(h));
            size_t j = (size_t)h & (n - 1);
            e->_hnext = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = n;
}

int sl_cache_store_put(struct sl_cache_store *s, const struct sl_cache_key *key,
                       struct sl_cache_entry *e, uint64_t now_ms, uint64_t ttl_ms)
{
    size_t size = sl_cache_entry_size(e->len);
    if (size > s->shard_cap) {
        sl_cache_entry_unref(e);
        return SL_E2BIG;
    }
    e->_key = *key;
    e->_expires_ms = now_ms + ttl_ms;
    struct shard *sh = shard_of(s, key);
    /* Entries dropped here are released after the lock: the last reference frees memory. */
    struct sl_cache_entry *dropped = NULL;
    uint64_t evicted = 0;
    pthread_mutex_lock(&sh->lock);
    struct sl_cache_entry *old = find(sh, key);
    if (old != NULL) {
        remove_entry(s, sh, old);
        old->_hnext = dropped;
        dropped = old;
    }
    while (sh->bytes + size > s->shard_cap && sh->tail != NULL) {
        struct sl_cache_entry *victim = sh->tail;
        remove_entry(s, sh, victim);
        victim->_hnext = dropped;
        dropped = victim;
        evicted++;
    }
    size_t b = bucket_of(sh, key);
    e->_hnext = sh->buckets[b];
    sh->buckets[b] = e;
    lru_push_front(sh, e);
    sh->count++;
    sh->bytes += size;
    atomic_fetch_add_explicit(&s->bytes, size, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->entries, 1, memory_order_relaxed);
    maybe_grow(sh);
    pthread_mutex_unlock(&sh->lock);
    if (evicted != 0)
        atomic_fetch_add_explicit(&s->evictions, evicted, memory_order_relaxed);
    while (dropped != NULL) {
        struct sl_cache_entry *next = dropped->_hnext;
        sl_cache_entry_unref(dropped);
        dropped = next;
    }
    return SL_OK;
}

void sl_cache_store_stats(const struct sl_cache_store *s, struct sl_cache_stats *out)
{
    struct sl_cache_store *m = (struct sl_cache_store *)s;
    out->bytes = atomic_load_explicit(&m->bytes, memory_order_relaxed);
    out->entries = atomic_load_explicit(&m->entries, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&m->evictions, memory_order_relaxed);
    out->expirations = atomic_load_explicit(&m->expirations, memory_order_relaxed);
}

/* ---- Redis values ---- */

/* "SLC1", flags (1: stream), prompt and completion tokens (int64 little-endian), the content
 * type's length (one byte) and bytes, then the body. */
#define VALUE_TAG  "SLC1"
#define VALUE_HEAD (4 + 1 + 8 + 8 + 1)

size_t sl_cache_value_len(const struct sl_cache_entry *e)
{
    return VALUE_HEAD + strlen(e->meta.ctype) + e->len;
}

static void put_i64(char *p, int64_t v)
{
    for (size_t i = 0; i < 8; i++)
        p[i] = (char)(uint8_t)((uint64_t)v >> (8 * i));
}

static int64_t get_i64(const char *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v |= (uint64_t)(uint8_t)p[i] << (8 * i);
    return (int64_t)v;
}

void sl_cache_value_write(const struct sl_cache_entry *e, char *out)
{
    size_t clen = strlen(e->meta.ctype);
    memcpy(out, VALUE_TAG, 4);
    out[4] = e->meta.stream ? 1 : 0;
    put_i64(out + 5, e->meta.prompt_tokens);
    put_i64(out + 13, e->meta.completion_tokens);
    out[21] = (char)(uint8_t)clen;
    memcpy(out + VALUE_HEAD, e->meta.ctype, clen);
    memcpy(out + VALUE_HEAD + clen, e->body, e->len);
}

struct sl_cache_entry *sl_cache_value_read(struct sl_str v)
{
    if (v.len < VALUE_HEAD || memcmp(v.ptr, VALUE_TAG, 4) != 0 || (uint8_t)v.ptr[4] > 1)
        return NULL;
    size_t clen = (uint8_t)v.ptr[21];
    if (clen > SL_CACHE_CTYPE_MAX || v.len < VALUE_HEAD + clen)
        return NULL;
    struct sl_cache_meta m = {.stream = v.ptr[4] == 1,
                              .prompt_tokens = get_i64(v.ptr + 5),
                              .completion_tokens = get_i64(v.ptr + 13)};
    memcpy(m.ctype, v.ptr + VALUE_HEAD, clen);
    m.ctype[clen] = '\0';
    /* Replayed as a header value: printable ASCII only. */
    for (size_t i = 0; i < clen; i++) {
        if ((uint8_t)m.ctype[i] < 0x20 || (uint8_t)m.ctype[i] > 0x7e)
            return NULL;
    }
    if (clen == 0)
        return NULL;
    size_t off = VALUE_HEAD + clen;
    return sl_cache_entry_new(&m, v.ptr + off, v.len - off);
}
