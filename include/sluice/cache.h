/* The exact response cache (docs/cache.md): the key of a request and the process's memory store.
 *
 * Key: SHA-256 over length-prefixed fields: a version tag, the route (which fixes the caller's
 * dialect and operation), the alias the caller named, the form (JSON or stream), the policy id,
 * its purge_generation, the caller key's name when the policy is scoped to keys, and the request
 * body in canonical form (walked with json.h: strings decoded, object members sorted by name,
 * numbers as written, whitespace gone), without the members that do not change the answer
 * (sl_cache_key says which).
 *
 * Store: one per process, shared by the workers. Sixteen shards, each a hash table and an LRU
 * list under its own mutex, held only for table and list updates (never across I/O or a
 * large copy: entries are refcounted, a hit is sent from the entry itself). Each shard holds at
 * most max_bytes / 16, counting every entry's size (sl_cache_entry_size), so the store never
 * holds more than max_bytes; an entry larger than a shard's share is not stored. Entries expire
 * after their TTL (checked on lookup) and are evicted least recently used first. */
#ifndef SLUICE_CACHE_H
#define SLUICE_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

#define SL_CACHE_KEY_BYTES 32
#define SL_CACHE_SHARDS    16
/* The longest content type an entry keeps (the reply's own, replayed as is). */
#define SL_CACHE_CTYPE_MAX 63

struct sl_cache_key {
    uint8_t d[SL_CACHE_KEY_BYTES];
};

/* What a key is made of. */
struct sl_cache_key_input {
    const char *route;     /* the route's name ("chat_completions", "messages", ...) */
    struct sl_str alias;   /* the model the caller named */
    bool stream;           /* the caller asked for a stream */
    const char *policy_id; /* the policy's UUID */
    uint64_t purge_generation;
    const char *key_name; /* the caller key's name (scope api_key), or NULL (scope env) */
    struct sl_str body;   /* the request body (JSON) */
};

/* Fills out. Returns SL_OK, or SL_EPARSE when the body is not a valid JSON object (or nests
 * deeper than SL_JSON_DEFAULT_MAX_DEPTH): such a request is not cached. Members left out of the
 * body: "stream" (the form is a field of its own), "user" and "metadata" (caller identifiers for
 * the provider's abuse monitoring and logs: OpenAI's end-user id, Anthropic's metadata.user_id,
 * OpenAI's stored-completion tags), which do not change the answer. "stream_options" stays: its
 * include_usage decides whether the caller's stream carries the usage chunk, and the cache
 * replays the bytes the caller received. */
int sl_cache_key(const struct sl_cache_key_input *in, struct sl_cache_key *out);

/* Lower-case hex of the key (65 bytes with the NUL). */
void sl_cache_key_hex(const struct sl_cache_key *k, char out[2 * SL_CACHE_KEY_BYTES + 1]);

/* ---- entries ---- */

/* What an entry carries besides the body. */
struct sl_cache_meta {
    bool stream;               /* an event stream (replayed with its content type) */
    int64_t prompt_tokens;     /* the usage of the stored answer, < 0 unknown: tokens saved */
    int64_t completion_tokens; /* per hit */
    char ctype[SL_CACHE_CTYPE_MAX + 1];
};

/* A stored reply. Immutable once stored; refcounted: the store holds one reference while the
 * entry is in its table, each hit one more until its reply is sent. */
struct sl_cache_entry {
    struct sl_cache_meta meta;
    size_t len;
    const char *body; /* len bytes */
    /* private */
    _Atomic unsigned _refs;
    struct sl_cache_key _key;
    uint64_t _expires_ms;
    struct sl_cache_entry *_hnext, *_prev, *_next;
};

/* Allocates an entry holding a copy of body (one reference: the caller's). */
struct sl_cache_entry *sl_cache_entry_new(const struct sl_cache_meta *meta, const char *body,
                                          size_t len);
/* Drops a reference; the last one frees the entry. Any thread. */
void sl_cache_entry_unref(struct sl_cache_entry *e);
/* The bytes an entry counts against the bound: the body plus the entry's own size. */
size_t sl_cache_entry_size(size_t body_len);

/* ---- the memory store ---- */

struct sl_cache_store;

struct sl_cache_stats {
    uint64_t bytes;       /* held now (sl_cache_entry_size of each entry in the table) */
    uint64_t entries;     /* held now */
    uint64_t evictions;   /* entries dropped to make room */
    uint64_t expirations; /* entries dropped because their TTL passed */
};

/* A store bounded by max_bytes (0: it stores nothing). Any thread. */
struct sl_cache_store *sl_cache_store_new(uint64_t max_bytes);
/* Frees the store and drops its references (entries still referenced by replies live on).
 * No other thread may use the store any more. */
void sl_cache_store_free(struct sl_cache_store *s);

/* The largest body an entry may hold in this store. */
size_t sl_cache_store_max_body(const struct sl_cache_store *s);

/* The live entry of key with a new reference (release it with sl_cache_entry_unref), or NULL.
 * A hit makes the entry the most recently used; an expired entry is dropped. */
struct sl_cache_entry *sl_cache_store_get(struct sl_cache_store *s, const struct sl_cache_key *key,
                                          uint64_t now_ms);

/* Stores e (taking the caller's reference) under key until now_ms + ttl_ms, replacing an
 * entry of the same key, evicting least recently used entries of its shard to make room.
 * Returns SL_OK, or SL_E2BIG when e is larger than a shard's share (e is then released). */
int sl_cache_store_put(struct sl_cache_store *s, const struct sl_cache_key *key,
                       struct sl_cache_entry *e, uint64_t now_ms, uint64_t ttl_ms);

void sl_cache_store_stats(const struct sl_cache_store *s, struct sl_cache_stats *out);

/* ---- Redis values ---- */

/* An entry as a Redis value: a tag, the meta and the body. */
size_t sl_cache_value_len(const struct sl_cache_entry *e);
void sl_cache_value_write(const struct sl_cache_entry *e, char *out);
/* The entry a Redis value holds, or NULL when it is not one (a foreign or damaged value). */
struct sl_cache_entry *sl_cache_value_read(struct sl_str v);

#endif
