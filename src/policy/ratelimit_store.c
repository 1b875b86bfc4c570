/* The process's counters: window counters and budget spend packed in one atomic word each, and
 * the store that finds a bucket by name without a lock. */
#include <stdlib.h>
#include <string.h>

#include "ratelimit_internal.h"
#include "sluice/base.h"

#define INITIAL_SLOTS 256 /* a power of two */

/* ---- window counters ---- */

static uint64_t pack(uint32_t wn, uint64_t count)
{
    return (uint64_t)(wn & SL__RL_WIN_MASK) << SL__RL_COUNT_BITS | count;
}

static bool same_window(uint64_t word, uint32_t wn)
{
    return (word >> SL__RL_COUNT_BITS) == (wn & SL__RL_WIN_MASK);
}

uint64_t sl__rl_counter_read(const _Atomic uint64_t *c, uint32_t wn)
{
    uint64_t w = atomic_load_explicit(c, memory_order_relaxed);
    return same_window(w, wn) ? w & SL__RL_COUNT_MAX : 0;
}

bool sl__rl_counter_take(_Atomic uint64_t *c, uint32_t wn, uint64_t limit)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        uint64_t count = same_window(old, wn) ? old & SL__RL_COUNT_MAX : 0;
        if (count + 1 > limit || count == SL__RL_COUNT_MAX)
            return false;
        if (atomic_compare_exchange_weak_explicit(c, &old, pack(wn, count + 1),
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

void sl__rl_counter_untake(_Atomic uint64_t *c, uint32_t wn)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        /* The window rolled over: the unit went with it, and the new window's count belongs to
         * other requests. */
        if (!same_window(old, wn) || (old & SL__RL_COUNT_MAX) == 0)
            return;
        if (atomic_compare_exchange_weak_explicit(c, &old, old - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

void sl__rl_counter_add(_Atomic uint64_t *c, uint32_t wn, uint64_t n)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        uint64_t count = same_window(old, wn) ? old & SL__RL_COUNT_MAX : 0;
        uint64_t next = n > SL__RL_COUNT_MAX - count ? SL__RL_COUNT_MAX : count + n;
        if (atomic_compare_exchange_weak_explicit(c, &old, pack(wn, next), memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

uint64_t sl__rl_spend_read(const _Atomic uint64_t *c, uint32_t period)
{
    uint64_t w = atomic_load_explicit(c, memory_order_relaxed);
    return (w >> SL__RL_SPEND_BITS) == (period & SL__RL_PERIOD_MASK) ? w & SL__RL_SPEND_MAX : 0;
}

void sl__rl_spend_add(_Atomic uint64_t *c, uint32_t period, uint64_t nusd)
{
    uint64_t tag = (uint64_t)(period & SL__RL_PERIOD_MASK);
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        uint64_t spent = (old >> SL__RL_SPEND_BITS) == tag ? old & SL__RL_SPEND_MAX : 0;
        uint64_t next = nusd > SL__RL_SPEND_MAX - spent ? SL__RL_SPEND_MAX : spent + nusd;
        if (atomic_compare_exchange_weak_explicit(c, &old, tag << SL__RL_SPEND_BITS | next,
                                                  memory_order_relaxed, memory_order_relaxed))
            return;
    }
}

/* ---- the store ---- */

/* FNV-1a: bucket names are short and hashed once per request layer. */
static uint64_t hash_name(struct sl_str s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static struct sl__rl_table *table_new(size_t cap, struct sl__rl_table *prev)
{
    struct sl__rl_table *t = sl_xcalloc(1, sizeof(*t) + cap * sizeof(t->slots[0]));
    t->mask = cap - 1;
    t->prev = prev;
    return t;
}

void sl__rl_store_init(struct sl__rl_store *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->table, table_new(INITIAL_SLOTS, NULL));
    s->all_cap = INITIAL_SLOTS;
    s->all = sl_xcalloc(s->all_cap, sizeof(*s->all));
}

void sl__rl_store_dispose(struct sl__rl_store *s)
{
    for (uint32_t i = 0; i < s->count; i++)
        free(s->all[i]);
    free(s->all);
    struct sl__rl_table *t = atomic_load(&s->table);
    while (t != NULL) {
        struct sl__rl_table *prev = t->prev;
        free(t);
        t = prev;
    }
    pthread_mutex_destroy(&s->lock);
}

static struct sl_rl_bucket *probe(struct sl__rl_table *t, struct sl_str name, uint64_t h)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct sl_rl_bucket *b = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (b == NULL)
            return NULL;
        if (b->hash == h && b->name_len == name.len && memcmp(b->name, name.ptr, name.len) == 0)
            return b;
    }
}

static void place(struct sl__rl_table *t, struct sl_rl_bucket *b)
{
    size_t i = b->hash & t->mask;
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed) != NULL)
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slots[i], b, memory_order_release);
}

/* Under the lock: doubles the table. Readers may still be probing the old one, so it is kept
 * (retired) rather than freed: the tables sum to less than twice the last one. */
static struct sl__rl_table *grow(struct sl__rl_store *s, struct sl__rl_table *t)
{
    struct sl__rl_table *n = table_new((t->mask + 1) * 2, t);
    for (uint32_t i = 0; i < s->count; i++)
        place(n, s->all[i]);
    atomic_store_explicit(&s->table, n, memory_order_release);
    return n;
}

static void remember(struct sl__rl_store *s, struct sl_rl_bucket *b)
{
    if (s->count == s->all_cap) {
        s->all_cap *= 2;
        s->all = sl_xrealloc(s->all, s->all_cap * sizeof(*s->all));
    }
    s->all[s->count++] = b;
}

struct sl_rl_bucket *sl__rl_store_get(struct sl__rl_store *s, struct sl_str name)
{
    uint64_t h = hash_name(name);
    struct sl_rl_bucket *b = probe(atomic_load_explicit(&s->table, memory_order_acquire), name, h);
    if (b != NULL)
        return b;
    pthread_mutex_lock(&s->lock);
    struct sl__rl_table *t = atomic_load_explicit(&s->table, memory_order_relaxed);
    b = probe(t, name, h);
    if (b == NULL) {
        b = sl_xcalloc(1, sizeof(*b) + name.len + 1);
        memcpy(b->name, name.ptr, name.len);
        b->name_len = (uint32_t)name.len;
        b->hash = h;
        b->idx = s->count;
        if ((s->count + 1) * 2 > t->mask + 1)
            t = grow(s, t);
        remember(s, b);
        place(t, b);
    }
    pthread_mutex_unlock(&s->lock);
    return b;
}

uint32_t sl__rl_store_count(struct sl__rl_store *s)
{
    pthread_mutex_lock(&s->lock);
    uint32_t n = s->count;
    pthread_mutex_unlock(&s->lock);
    return n;
}
