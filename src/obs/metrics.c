#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"
#include "sluice/base.h"
#include "sluice/metrics.h"

#define INITIAL_SLOTS 64 /* a power of two */
#define HASH_MUL      UINT64_C(0x9e3779b97f4a7c15)

struct key {
    enum sl__series_type type;
    const char *route;
    const char *kind;
    struct sl_str model;
    struct sl_str key;
};

static const size_t series_size[SL__SERIES_TYPES] = {
    [SL__SERIES_REQUEST] = sizeof(struct sl__request_series),
    [SL__SERIES_ROUTE] = sizeof(struct sl__route_series),
    [SL__SERIES_UPSTREAM_ERROR] = sizeof(struct sl__error_series),
    [SL__SERIES_USAGE] = sizeof(struct sl__usage_series),
    [SL__SERIES_REJECTION] = sizeof(struct sl__count_series),
    [SL__SERIES_TARGET] = sizeof(struct sl__target_series),
    [SL__SERIES_CACHE] = sizeof(struct sl__count_series),
};

struct sl_metrics_worker *sl_metrics_worker_new(void)
{
    struct sl_metrics_worker *m = sl_xcalloc(1, sizeof(*m));
    m->slots = sl_xcalloc(INITIAL_SLOTS, sizeof(*m->slots));
    m->mask = INITIAL_SLOTS - 1;
    return m;
}

void sl_metrics_worker_free(struct sl_metrics_worker *m)
{
    if (m == NULL)
        return;
    for (size_t t = 0; t < SL__SERIES_TYPES; t++) {
        struct sl__series *s = atomic_load_explicit(&m->head[t], memory_order_relaxed);
        while (s != NULL) {
            struct sl__series *next = s->next;
            free(s);
            s = next;
        }
    }
    free(m->slots);
    free(m);
}

static uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * HASH_MUL;
    return h ^ (h >> 31);
}

/* Eight bytes per multiply. Short tails are read as overlapping words (as wyhash does); that
 * is unambiguous because the length goes in first, which also keeps adjacent fields apart. */
static uint64_t hash_bytes(uint64_t h, const char *p, size_t n)
{
    uint64_t w = 0;
    h = mix(h, n);
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, p + i, 8);
            h = mix(h, w);
        }
        memcpy(&w, p + n - 8, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else if (n > 0) {
        w = (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[n / 2] << 8 |
            (unsigned char)p[n - 1];
    }
    return mix(h, w);
}

static uint64_t hash_key(const struct key *k)
{
    uint64_t h = mix(0, (uint64_t)k->type + 1);
    if (k->route != NULL)
        h = hash_bytes(h, k->route, strlen(k->route));
    if (k->kind != NULL)
        h = hash_bytes(h, k->kind, strlen(k->kind));
    h = hash_bytes(h, k->key.ptr, k->key.len);
    return hash_bytes(h, k->model.ptr, k->model.len);
}

/* Static names are usually the same pointer; equal text from another object file is the same
 * label all the same. */
static bool same_name(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool key_matches(const struct sl__series *s, const struct key *k)
{
    return s->type == k->type && same_name(s->route, k->route) && same_name(s->kind, k->kind) &&
           sl_str_eq(sl_str_init(s->model, s->model_len), k->model) &&
           sl_str_eq(sl_str_init(s->key, s->key_len), k->key);
}

static size_t free_slot(const struct sl__metrics_slot *slots, size_t mask, uint64_t hash)
{
    size_t i = hash & mask;
    while (slots[i].series != NULL)
        i = (i + 1) & mask;
    return i;
}

/* Doubles the table, reusing the stored hashes (keys are hashed once). */
static void grow(struct sl_metrics_worker *m)
{
    size_t cap = (m->mask + 1) * 2;
    struct sl__metrics_slot *slots = sl_xcalloc(cap, sizeof(*slots));
    for (size_t i = 0; i <= m->mask; i++) {
        if (m->slots[i].series != NULL)
            slots[free_slot(slots, cap - 1, m->slots[i].hash)] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->mask = cap - 1;
}

/* One allocation per series: the typed node followed by the model's and the key's bytes. */
static struct sl__series *add_series(struct sl_metrics_worker *m, const struct key *k,
                                     uint64_t hash)
{
    size_t size = series_size[k->type];
    struct sl__series *s = sl_xcalloc(1, size + k->model.len + k->key.len + 2);
    char *model = (char *)s + size;
    char *keyname = model + k->model.len + 1;
    if (k->model.len != 0)
        memcpy(model, k->model.ptr, k->model.len);
    if (k->key.len != 0)
        memcpy(keyname, k->key.ptr, k->key.len);
    s->key = keyname;
    s->key_len = k->key.len;
    s->hash = hash;
    s->type = k->type;
    s->route = k->route;
    s->kind = k->kind;
    s->model = model;
    s->model_len = k->model.len;
    if ((m->used + 1) * 2 > m->mask + 1)
        grow(m);
    m->slots[free_slot(m->slots, m->mask, hash)] = (struct sl__metrics_slot){hash, s};
    m->used++;
    s->next = atomic_load_explicit(&m->head[k->type], memory_order_relaxed);
    /* Publishes the node: a reader that sees it also sees its key and zeroed values. */
    atomic_store_explicit(&m->head[k->type], s, memory_order_release);
    return s;
}

static struct sl__series *get_series(struct sl_metrics_worker *m, const struct key *k)
{
    uint64_t hash = hash_key(k);
    for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
        struct sl__series *s = m->slots[i].series;
        if (s == NULL)
            return add_series(m, k, hash);
        if (m->slots[i].hash == hash && key_matches(s, k))
            return s;
    }
}

static size_t status_class(int status)
{
    return status >= 100 && status < 600 ? (size_t)(status / 100 - 1) : SL__STATUS_CLASSES - 1;
}

static void count_tokens(struct sl__usage_series *s, enum sl__token_type type, int64_t n)
{
    if (n < 0)
        return;
    sl__counter_add(&s->tokens[type], (uint64_t)n);
    uint32_t seen = atomic_load_explicit(&s->tokens_seen, memory_order_relaxed);
    if ((seen & (1u << type)) == 0)
        atomic_store_explicit(&s->tokens_seen, seen | (1u << type), memory_order_release);
}

/* Tokens and cost by key and model: only requests that reached an upstream have either. */
static void observe_usage(struct sl_metrics_worker *m, const struct sl_metrics_request *r,
                          struct sl_str model)
{
    if (r->prompt_tokens < 0 && r->completion_tokens < 0 && r->cost_nusd == 0)
        return;
    struct key k = {SL__SERIES_USAGE, NULL, NULL, model,
                    r->key.len != 0 ? r->key : SL_STRLIT("unknown")};
    struct sl__usage_series *u = SL_CONTAINER_OF(get_series(m, &k), struct sl__usage_series, super);
    count_tokens(u, SL__TOKENS_PROMPT, r->prompt_tokens);
    count_tokens(u, SL__TOKENS_COMPLETION, r->completion_tokens);
    if (r->cost_nusd != 0) {
        sl__counter_add(&u->cost_nusd, r->cost_nusd);
        if (atomic_load_explicit(&u->cost_seen, memory_order_relaxed) == 0)
            atomic_store_explicit(&u->cost_seen, 1, memory_order_release);
    }
}

/* Single writer: a relaxed load and store, no read-modify-write. */
static void bump(_Atomic uint64_t *c, bool yes)
{
    if (yes)
        sl__counter_add(c, 1);
}

static void count_attempts(struct sl_metrics_worker *m, const struct sl_metrics_request *r)
{
    for (unsigned i = 0; i < r->n_attempts; i++) {
        const struct sl_reqlog_attempt *a = &r->attempts[i];
        if (a->limited)
            continue; /* refused by its own limits before it was sent: not an upstream attempt */
        struct key k = {SL__SERIES_TARGET, NULL, NULL, a->target, SL_STR_NULL};
        struct sl__target_series *t =
            SL_CONTAINER_OF(get_series(m, &k), struct sl__target_series, super);
        bump(&t->attempts, true);
        bump(&t->retries, a->kind == SL_ATTEMPT_RETRY);
        bump(&t->failovers, a->kind == SL_ATTEMPT_FAILOVER);
        bump(&t->failures, a->error != NULL || a->status >= 300);
    }
}

void sl_metrics_observe(struct sl_metrics_worker *m, const struct sl_metrics_request *r)
{
    struct sl_str model = r->model.len != 0 ? r->model : SL_STRLIT("unknown");
    const char *route = r->route != NULL ? r->route : "other";
    struct key k = {SL__SERIES_REQUEST, route, NULL, model, SL_STR_NULL};
    struct sl__request_series *s =
        SL_CONTAINER_OF(get_series(m, &k), struct sl__request_series, super);
    sl__counter_add(&s->requests[status_class(r->status)], 1);
    if (r->status == 499)
        sl__counter_add(&s->cancelled, 1);
    sl__hist_observe(&s->duration, &sl__hist_duration, sl__seconds_to_us(r->duration_s));
    if (r->ttft_s >= 0)
        sl__hist_observe(&s->ttft, &sl__hist_ttft, sl__seconds_to_us(r->ttft_s));
    observe_usage(m, r, model);
    count_attempts(m, r);
    if (r->upstream_error == NULL)
        return;
    struct key ek = {SL__SERIES_UPSTREAM_ERROR, NULL, r->upstream_error, model, SL_STR_NULL};
    struct sl__error_series *e =
        SL_CONTAINER_OF(get_series(m, &ek), struct sl__error_series, super);
    sl__counter_add(&e->count, 1);
}

void sl_metrics_inflight(struct sl_metrics_worker *m, const char *route, int delta)
{
    struct key k = {SL__SERIES_ROUTE, route != NULL ? route : "other", NULL, SL_STR_NULL,
                    SL_STR_NULL};
    struct sl__route_series *s = SL_CONTAINER_OF(get_series(m, &k), struct sl__route_series, super);
    atomic_store_explicit(&s->inflight,
                          atomic_load_explicit(&s->inflight, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

void sl_metrics_ratelimit_rejection(struct sl_metrics_worker *m, const char *layer,
                                    const char *reason)
{
    struct key k = {SL__SERIES_REJECTION, layer, reason, SL_STR_NULL, SL_STR_NULL};
    struct sl__count_series *s = SL_CONTAINER_OF(get_series(m, &k), struct sl__count_series, super);
    sl__counter_add(&s->count, 1);
}

void sl_metrics_cache(struct sl_metrics_worker *m, const char *policy, const char *result,
                      uint64_t tokens_saved)
{
    struct key k = {SL__SERIES_CACHE, NULL, result, sl_str_from_cstr(policy), SL_STR_NULL};
    struct sl__count_series *s = SL_CONTAINER_OF(get_series(m, &k), struct sl__count_series, super);
    sl__counter_add(&s->count, 1);
    if (strcmp(result, "hit") != 0)
        return;
    k.kind = "tokens_saved";
    s = SL_CONTAINER_OF(get_series(m, &k), struct sl__count_series, super);
    sl__counter_add(&s->count, tokens_saved);
}
