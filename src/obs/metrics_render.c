#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"
#include "sluice/base.h"
#include "sluice/metrics.h"
#include "sluice_version.h"

#define LABELS_MAX (64u * 1024)

static const char *const status_class_name[SL__STATUS_CLASSES] = {"1xx", "2xx", "3xx",
                                                                  "4xx", "5xx", "other"};
static const char *const token_type_name[SL__TOKEN_TYPES] = {"prompt", "completion"};

/* Reload results: written and read on the control thread only. */
static uint64_t reloads[2]; /* [0] failure, [1] success */
static int64_t live_generation;
static double last_success_time;

void sl_metrics_reload_result(bool ok, int64_t generation, double unix_time)
{
    reloads[ok ? 1 : 0]++;
    if (!ok)
        return;
    live_generation = generation;
    last_success_time = unix_time;
}

void sl_metrics_config_loaded(int64_t generation, double unix_time)
{
    live_generation = generation;
    last_success_time = unix_time;
}

void sl__metrics_reload_reset(void)
{
    reloads[0] = reloads[1] = 0;
    live_generation = 0;
    last_success_time = 0;
}

/* One merged row per label set; names point into series nodes, which outlive the render. */
struct request_row {
    const char *route;
    struct sl_str model;
    uint64_t requests[SL__STATUS_CLASSES];
    uint64_t cancelled;
    struct sl__hist_snap duration;
    struct sl__hist_snap ttft;
};

struct token_row {
    struct sl_str key;
    struct sl_str model;
    uint64_t tokens[SL__TOKEN_TYPES];
    uint32_t tokens_seen;
    uint64_t cost_nusd;
    uint32_t cost_seen;
};

struct rejection_row {
    const char *layer;
    const char *reason;
    uint64_t count;
};

struct error_row {
    struct sl_str model;
    const char *kind;
    uint64_t count;
};

struct route_row {
    const char *route;
    int64_t inflight;
};

struct target_row {
    struct sl_str target;
    uint64_t attempts, retries, failovers, failures;
};

struct cache_row {
    struct sl_str policy;
    const char *result;
    uint64_t count;
};

struct rows {
    struct request_row *req;
    size_t nreq;
    struct token_row *tok;
    size_t ntok;
    struct error_row *err;
    size_t nerr;
    struct route_row *route;
    size_t nroute;
    struct rejection_row *rej;
    size_t nrej;
    struct target_row *target;
    size_t ntarget;
    struct cache_row *cache;
    size_t ncache;
};

static uint64_t load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int cmp_model(struct sl_str a, struct sl_str b)
{
    int c = memcmp(a.ptr, b.ptr, SL_MIN(a.len, b.len));
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_request(const void *pa, const void *pb)
{
    const struct request_row *a = pa, *b = pb;
    int c = strcmp(a->route, b->route);
    return c != 0 ? c : cmp_model(a->model, b->model);
}

static int cmp_token(const void *pa, const void *pb)
{
    const struct token_row *a = pa, *b = pb;
    int c = cmp_model(a->key, b->key);
    return c != 0 ? c : cmp_model(a->model, b->model);
}

static int cmp_rejection(const void *pa, const void *pb)
{
    const struct rejection_row *a = pa, *b = pb;
    int c = strcmp(a->layer, b->layer);
    return c != 0 ? c : strcmp(a->reason, b->reason);
}

static int cmp_cache(const void *pa, const void *pb)
{
    const struct cache_row *a = pa, *b = pb;
    int c = cmp_model(a->policy, b->policy);
    return c != 0 ? c : strcmp(a->result, b->result);
}

static int cmp_error(const void *pa, const void *pb)
{
    const struct error_row *a = pa, *b = pb;
    int c = cmp_model(a->model, b->model);
    return c != 0 ? c : strcmp(a->kind, b->kind);
}

static int cmp_route(const void *pa, const void *pb)
{
    const struct route_row *a = pa, *b = pb;
    return strcmp(a->route, b->route);
}

/* Heads are loaded once per store, so counting and copying see the same nodes. */
static void load_heads(const struct sl_metrics_worker *const *stores, size_t n,
                       enum sl__series_type type, const struct sl__series **heads, size_t *count)
{
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        heads[i] = NULL;
        if (stores[i] == NULL)
            continue;
        heads[i] = atomic_load_explicit(&stores[i]->head[type], memory_order_acquire);
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next)
            ++*count;
    }
}

static struct sl_str model_of(const struct sl__series *s)
{
    return sl_str_init(s->model, s->model_len);
}

static void snap_request(const struct sl__series *s, struct request_row *r)
{
    const struct sl__request_series *rs =
        SL_CONTAINER_OF(s, const struct sl__request_series, super);
    r->route = s->route;
    r->model = model_of(s);
    for (size_t c = 0; c < SL__STATUS_CLASSES; c++)
        r->requests[c] = load(&rs->requests[c]);
    r->cancelled = load(&rs->cancelled);
    sl__hist_snapshot(&rs->duration, &sl__hist_duration, &r->duration);
    sl__hist_snapshot(&rs->ttft, &sl__hist_ttft, &r->ttft);
}

static void add_request(struct request_row *into, const struct request_row *r)
{
    for (size_t c = 0; c < SL__STATUS_CLASSES; c++)
        into->requests[c] += r->requests[c];
    into->cancelled += r->cancelled;
    sl__hist_snap_add(&into->duration, &r->duration);
    sl__hist_snap_add(&into->ttft, &r->ttft);
}

static void gather_requests(const struct sl_metrics_worker *const *stores, size_t n,
                            const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_REQUEST, heads, &total);
    struct request_row *r = sl_xcalloc(total + 1, sizeof(*r));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next)
            snap_request(s, &r[k++]);
    }
    qsort(r, total, sizeof(*r), cmp_request);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_request(&r[u - 1], &r[i]) == 0)
            add_request(&r[u - 1], &r[i]);
        else
            r[u++] = r[i];
    }
    rows->req = r;
    rows->nreq = u;
}

static void snap_usage(const struct sl__series *s, struct token_row *t)
{
    const struct sl__usage_series *u = SL_CONTAINER_OF(s, const struct sl__usage_series, super);
    t->key = sl_str_init(s->key, s->key_len);
    t->model = model_of(s);
    t->tokens_seen = atomic_load_explicit(&u->tokens_seen, memory_order_acquire);
    for (size_t k = 0; k < SL__TOKEN_TYPES; k++)
        t->tokens[k] = load(&u->tokens[k]);
    t->cost_seen = atomic_load_explicit(&u->cost_seen, memory_order_acquire);
    t->cost_nusd = load(&u->cost_nusd);
}

/* tokens_total and cost_usd_total: one row per key and model, summed over workers. */
static void gather_usage(const struct sl_metrics_worker *const *stores, size_t n,
                         const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_USAGE, heads, &total);
    struct token_row *t = sl_xcalloc(total + 1, sizeof(*t));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next)
            snap_usage(s, &t[k++]);
    }
    qsort(t, total, sizeof(*t), cmp_token);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_token(&t[u - 1], &t[i]) == 0) {
            for (size_t k = 0; k < SL__TOKEN_TYPES; k++)
                t[u - 1].tokens[k] += t[i].tokens[k];
            t[u - 1].tokens_seen |= t[i].tokens_seen;
            t[u - 1].cost_nusd += t[i].cost_nusd;
            t[u - 1].cost_seen |= t[i].cost_seen;
        } else {
            t[u++] = t[i];
        }
    }
    rows->tok = t;
    rows->ntok = u;
}

static void gather_rejections(const struct sl_metrics_worker *const *stores, size_t n,
                              const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_REJECTION, heads, &total);
    struct rejection_row *r = sl_xcalloc(total + 1, sizeof(*r));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next) {
            const struct sl__count_series *cs =
                SL_CONTAINER_OF(s, const struct sl__count_series, super);
            r[k++] = (struct rejection_row){s->route, s->kind, load(&cs->count)};
        }
    }
    qsort(r, total, sizeof(*r), cmp_rejection);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_rejection(&r[u - 1], &r[i]) == 0)
            r[u - 1].count += r[i].count;
        else
            r[u++] = r[i];
    }
    rows->rej = r;
    rows->nrej = u;
}

static void gather_errors(const struct sl_metrics_worker *const *stores, size_t n,
                          const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_UPSTREAM_ERROR, heads, &total);
    struct error_row *e = sl_xcalloc(total + 1, sizeof(*e));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next) {
            const struct sl__error_series *es =
                SL_CONTAINER_OF(s, const struct sl__error_series, super);
            e[k++] = (struct error_row){model_of(s), s->kind, load(&es->count)};
        }
    }
    qsort(e, total, sizeof(*e), cmp_error);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_error(&e[u - 1], &e[i]) == 0)
            e[u - 1].count += e[i].count;
        else
            e[u++] = e[i];
    }
    rows->err = e;
    rows->nerr = u;
}

static void gather_routes(const struct sl_metrics_worker *const *stores, size_t n,
                          const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_ROUTE, heads, &total);
    struct route_row *r = sl_xcalloc(total + 1, sizeof(*r));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next) {
            const struct sl__route_series *rs =
                SL_CONTAINER_OF(s, const struct sl__route_series, super);
            r[k++] = (struct route_row){s->route,
                                        atomic_load_explicit(&rs->inflight, memory_order_relaxed)};
        }
    }
    qsort(r, total, sizeof(*r), cmp_route);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_route(&r[u - 1], &r[i]) == 0)
            r[u - 1].inflight += r[i].inflight;
        else
            r[u++] = r[i];
    }
    rows->route = r;
    rows->nroute = u;
}

static int cmp_target(const void *pa, const void *pb)
{
    const struct target_row *a = pa, *b = pb;
    return cmp_model(a->target, b->target);
}

static void gather_targets(const struct sl_metrics_worker *const *stores, size_t n,
                           const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_TARGET, heads, &total);
    struct target_row *t = sl_xcalloc(total + 1, sizeof(*t));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next) {
            const struct sl__target_series *ts =
                SL_CONTAINER_OF(s, const struct sl__target_series, super);
            t[k++] = (struct target_row){model_of(s), load(&ts->attempts), load(&ts->retries),
                                         load(&ts->failovers), load(&ts->failures)};
        }
    }
    qsort(t, total, sizeof(*t), cmp_target);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_target(&t[u - 1], &t[i]) == 0) {
            t[u - 1].attempts += t[i].attempts;
            t[u - 1].retries += t[i].retries;
            t[u - 1].failovers += t[i].failovers;
            t[u - 1].failures += t[i].failures;
        } else {
            t[u++] = t[i];
        }
    }
    rows->target = t;
    rows->ntarget = u;
}

static void gather_cache(const struct sl_metrics_worker *const *stores, size_t n,
                         const struct sl__series **heads, struct rows *rows)
{
    size_t total, u = 0;
    load_heads(stores, n, SL__SERIES_CACHE, heads, &total);
    struct cache_row *r = sl_xcalloc(total + 1, sizeof(*r));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (const struct sl__series *s = heads[i]; s != NULL; s = s->next) {
            const struct sl__count_series *cs =
                SL_CONTAINER_OF(s, const struct sl__count_series, super);
            r[k++] =
                (struct cache_row){sl_str_init(s->model, s->model_len), s->kind, load(&cs->count)};
        }
    }
    qsort(r, total, sizeof(*r), cmp_cache);
    for (size_t i = 0; i < total; i++) {
        if (u > 0 && cmp_cache(&r[u - 1], &r[i]) == 0)
            r[u - 1].count += r[i].count;
        else
            r[u++] = r[i];
    }
    rows->cache = r;
    rows->ncache = u;
}

static void gather(const struct sl_metrics_worker *const *stores, size_t n, struct rows *rows)
{
    const struct sl__series **heads = sl_xcalloc(n + 1, sizeof(*heads));
    gather_requests(stores, n, heads, rows);
    gather_usage(stores, n, heads, rows);
    gather_errors(stores, n, heads, rows);
    gather_routes(stores, n, heads, rows);
    gather_rejections(stores, n, heads, rows);
    gather_targets(stores, n, heads, rows);
    gather_cache(stores, n, heads, rows);
    free(heads);
}

static void rows_dispose(struct rows *rows)
{
    free(rows->req);
    free(rows->tok);
    free(rows->err);
    free(rows->route);
    free(rows->rej);
    free(rows->target);
    free(rows->cache);
    *rows = (struct rows){0};
}

/* Label values escaped as the text format requires: backslash, double quote, line feed. */
static void append_escaped(struct sl_buf *b, struct sl_str v)
{
    size_t run = 0;
    for (size_t i = 0; i < v.len; i++) {
        const char *esc = v.ptr[i] == '\\'   ? "\\\\"
                          : v.ptr[i] == '"'  ? "\\\""
                          : v.ptr[i] == '\n' ? "\\n"
                                             : NULL;
        if (esc == NULL)
            continue;
        sl_buf_append(b, v.ptr + run, i - run);
        sl_buf_append(b, esc, 2);
        run = i + 1;
    }
    sl_buf_append(b, v.ptr + run, v.len - run);
}

/* Appends name="value" to a label list, with a comma when it is not the first. */
static void add_label(struct sl_buf *b, const char *name, struct sl_str value)
{
    sl_buf_appendf(b, "%s%s=\"", b->len != 0 ? "," : "", name);
    append_escaped(b, value);
    sl_buf_append(b, "\"", 1);
}

static void family(struct sl_buf *out, const char *name, const char *type, const char *help)
{
    sl_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u64(struct sl_buf *out, const char *name, const struct sl_buf *labels,
                       uint64_t v)
{
    sl_buf_appendf(out, "%s{%.*s} %" PRIu64 "\n", name, (int)labels->len, labels->ptr, v);
}

static void request_labels(struct sl_buf *lb, const struct request_row *r)
{
    sl_buf_reset(lb);
    add_label(lb, "route", sl_str_from_cstr(r->route));
    add_label(lb, "model", r->model);
}

static void render_requests(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows)
{
    const char *name = "sluice_requests_total";
    family(out, name, "counter", "Requests finished, by route, model and status class.");
    for (size_t i = 0; i < rows->nreq; i++) {
        const struct request_row *r = &rows->req[i];
        for (size_t c = 0; c < SL__STATUS_CLASSES; c++) {
            if (r->requests[c] == 0)
                continue;
            request_labels(lb, r);
            add_label(lb, "status", sl_str_from_cstr(status_class_name[c]));
            sample_u64(out, name, lb, r->requests[c]);
        }
    }
    name = "sluice_client_cancelled_total";
    family(out, name, "counter",
           "Requests the client abandoned before the response completed (logged as 499).");
    for (size_t i = 0; i < rows->nreq; i++) {
        request_labels(lb, &rows->req[i]);
        sample_u64(out, name, lb, rows->req[i].cancelled);
    }
}

static void render_histograms(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows)
{
    const char *name = "sluice_request_duration_seconds";
    family(out, name, "histogram", "Time from request start to response end.");
    for (size_t i = 0; i < rows->nreq; i++) {
        request_labels(lb, &rows->req[i]);
        sl__hist_render(out, name, &sl__hist_duration, sl_buf_str(lb), &rows->req[i].duration);
    }
    name = "sluice_time_to_first_token_seconds";
    family(out, name, "histogram", "Streaming requests: time to the first content event.");
    for (size_t i = 0; i < rows->nreq; i++) {
        const struct request_row *r = &rows->req[i];
        if (sl__hist_snap_count(&r->ttft, &sl__hist_ttft) == 0)
            continue;
        request_labels(lb, r);
        sl__hist_render(out, name, &sl__hist_ttft, sl_buf_str(lb), &r->ttft);
    }
}

static void render_tokens_errors(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows)
{
    const char *name = "sluice_tokens_total";
    family(out, name, "counter",
           "Tokens used, by caller key, model and type (from the upstream's usage, or estimated "
           "when it reported none).");
    for (size_t i = 0; i < rows->ntok; i++) {
        for (size_t t = 0; t < SL__TOKEN_TYPES; t++) {
            if ((rows->tok[i].tokens_seen & (1u << t)) == 0)
                continue;
            sl_buf_reset(lb);
            add_label(lb, "key", rows->tok[i].key);
            add_label(lb, "model", rows->tok[i].model);
            add_label(lb, "type", sl_str_from_cstr(token_type_name[t]));
            sample_u64(out, name, lb, rows->tok[i].tokens[t]);
        }
    }
    name = "sluice_cost_usd_total";
    family(out, name, "counter", "USD spent, by caller key and model (models[].cost).");
    for (size_t i = 0; i < rows->ntok; i++) {
        if (!rows->tok[i].cost_seen)
            continue;
        sl_buf_reset(lb);
        add_label(lb, "key", rows->tok[i].key);
        add_label(lb, "model", rows->tok[i].model);
        sl_buf_appendf(out, "%s{%.*s} %" PRIu64 ".%09" PRIu64 "\n", name, (int)lb->len, lb->ptr,
                       rows->tok[i].cost_nusd / 1000000000u, rows->tok[i].cost_nusd % 1000000000u);
    }
    name = "sluice_upstream_errors_total";
    family(out, name, "counter", "Failed upstream calls, by model and kind of failure.");
    for (size_t i = 0; i < rows->nerr; i++) {
        sl_buf_reset(lb);
        add_label(lb, "model", rows->err[i].model);
        add_label(lb, "kind", sl_str_from_cstr(rows->err[i].kind));
        sample_u64(out, name, lb, rows->err[i].count);
    }
}

static void render_inflight(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows)
{
    const char *name = "sluice_in_flight_requests";
    family(out, name, "gauge", "Requests currently being served, by route.");
    for (size_t i = 0; i < rows->nroute; i++) {
        sl_buf_reset(lb);
        add_label(lb, "route", sl_str_from_cstr(rows->route[i].route));
        sl_buf_appendf(out, "%s{%.*s} %" PRId64 "\n", name, (int)lb->len, lb->ptr,
                       rows->route[i].inflight);
    }
}

static void render_ratelimit(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows,
                             const struct sl_metrics_process *p)
{
    const char *name = "sluice_ratelimit_rejections_total";
    family(out, name, "counter",
           "Requests refused by a limit, by layer (api_key, model, policy) and reason (requests, "
           "tokens, concurrency, budget, unavailable).");
    for (size_t i = 0; i < rows->nrej; i++) {
        sl_buf_reset(lb);
        add_label(lb, "layer", sl_str_from_cstr(rows->rej[i].layer));
        add_label(lb, "reason", sl_str_from_cstr(rows->rej[i].reason));
        sample_u64(out, name, lb, rows->rej[i].count);
    }
    if (!p->ratelimit_redis)
        return;
    family(out, "sluice_ratelimit_redis_up", "gauge",
           "1 while every worker's Redis connection (ratelimit.redis) is ready.");
    sl_buf_appendf(out, "sluice_ratelimit_redis_up %d\n", p->redis_up ? 1 : 0);
    family(out, "sluice_ratelimit_redis_failures_total", "counter",
           "Redis connections that broke or could not be opened, and commands that failed.");
    sl_buf_appendf(out, "sluice_ratelimit_redis_failures_total %" PRIu64 "\n", p->redis_failures);
    family(out, "sluice_ratelimit_redis_calls_total", "counter",
           "Lease and sync scripts sent to Redis.");
    sl_buf_appendf(out, "sluice_ratelimit_redis_calls_total %" PRIu64 "\n", p->redis_calls);
    family(out, "sluice_ratelimit_redis_fallback_total", "counter",
           "Requests decided without Redis while it was unreachable: counted in this process "
           "(allow) or refused (deny), per ratelimit.redis.on_error.");
    sl_buf_appendf(out,
                   "sluice_ratelimit_redis_fallback_total{decision=\"allow\"} %" PRIu64 "\n"
                   "sluice_ratelimit_redis_fallback_total{decision=\"deny\"} %" PRIu64 "\n",
                   p->redis_fallback_allowed, p->redis_fallback_denied);
}

static void render_cache(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows,
                         const struct sl_metrics_process *p)
{
    const char *name = "sluice_cache_requests_total";
    family(out, name, "counter",
           "Requests a cache policy matched, by policy and result (hit, miss, bypass).");
    for (size_t i = 0; i < rows->ncache; i++) {
        if (strcmp(rows->cache[i].result, "tokens_saved") == 0)
            continue;
        sl_buf_reset(lb);
        add_label(lb, "policy", rows->cache[i].policy);
        add_label(lb, "result", sl_str_from_cstr(rows->cache[i].result));
        sample_u64(out, name, lb, rows->cache[i].count);
    }
    name = "sluice_cache_tokens_saved_total";
    family(out, name, "counter",
           "Tokens the answers served from the cache had cost upstream, by policy.");
    for (size_t i = 0; i < rows->ncache; i++) {
        if (strcmp(rows->cache[i].result, "tokens_saved") != 0)
            continue;
        sl_buf_reset(lb);
        add_label(lb, "policy", rows->cache[i].policy);
        sample_u64(out, name, lb, rows->cache[i].count);
    }
    family(out, "sluice_cache_bytes", "gauge",
           "Bytes the memory cache holds (bodies and per-entry overhead).");
    sl_buf_appendf(out, "sluice_cache_bytes %" PRIu64 "\n", p->cache_bytes);
    family(out, "sluice_cache_entries", "gauge", "Entries the memory cache holds.");
    sl_buf_appendf(out, "sluice_cache_entries %" PRIu64 "\n", p->cache_entries);
    family(out, "sluice_cache_evictions_total", "counter",
           "Memory cache entries evicted (least recently used) to stay within "
           "cache.memory.max_bytes.");
    sl_buf_appendf(out, "sluice_cache_evictions_total %" PRIu64 "\n", p->cache_evictions);
    family(out, "sluice_cache_expirations_total", "counter",
           "Memory cache entries dropped because their TTL passed.");
    sl_buf_appendf(out, "sluice_cache_expirations_total %" PRIu64 "\n", p->cache_expirations);
    if (!p->cache_redis)
        return;
    family(out, "sluice_cache_redis_up", "gauge",
           "1 while every worker's Redis connection (cache.redis) is ready.");
    sl_buf_appendf(out, "sluice_cache_redis_up %d\n", p->cache_redis_up ? 1 : 0);
    family(out, "sluice_cache_redis_errors_total", "counter",
           "cache.redis lookups and stores that failed (each a miss or an answer not stored) and "
           "connections that broke.");
    sl_buf_appendf(out, "sluice_cache_redis_errors_total %" PRIu64 "\n", p->cache_redis_errors);
}

static void target_counter(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows,
                           const char *name, const char *help, size_t field)
{
    family(out, name, "counter", help);
    for (size_t i = 0; i < rows->ntarget; i++) {
        const struct target_row *t = &rows->target[i];
        const uint64_t v[] = {t->attempts, t->retries, t->failovers, t->failures};
        sl_buf_reset(lb);
        add_label(lb, "target", t->target);
        sample_u64(out, name, lb, v[field]);
    }
}

static void render_target_attempts(struct sl_buf *out, struct sl_buf *lb, const struct rows *rows)
{
    target_counter(out, lb, rows, "sluice_target_attempts_total",
                   "Upstream attempts, by target (a direct model; a group's member or the model "
                   "itself).",
                   0);
    target_counter(out, lb, rows, "sluice_target_retries_total",
                   "Upstream attempts that repeated the same target after a failure.", 1);
    target_counter(out, lb, rows, "sluice_target_failovers_total",
                   "Upstream attempts that moved to this target after another one failed.", 2);
    target_counter(out, lb, rows, "sluice_target_failures_total",
                   "Upstream attempts that failed (error status, timeout, transport).", 3);
}

static void target_labels(struct sl_buf *lb, const struct sl_metrics_target *t)
{
    sl_buf_reset(lb);
    add_label(lb, "target", sl_str_from_cstr(t->name));
}

static void render_target_state(struct sl_buf *out, struct sl_buf *lb,
                                const struct sl_metrics_target *t, size_t n)
{
    family(out, "sluice_target_cooldown", "gauge", "1 while the target is in cooldown.");
    for (size_t i = 0; i < n; i++) {
        target_labels(lb, &t[i]);
        sample_u64(out, "sluice_target_cooldown", lb, t[i].cooling);
    }
    family(out, "sluice_target_cooldown_remaining_seconds", "gauge",
           "Seconds until the target leaves cooldown (0 when it is not in one).");
    for (size_t i = 0; i < n; i++) {
        target_labels(lb, &t[i]);
        sl_buf_appendf(out, "sluice_target_cooldown_remaining_seconds{%.*s} %.3f\n", (int)lb->len,
                       lb->ptr, t[i].cooldown_remaining_s);
    }
    family(out, "sluice_target_cooldowns_total", "counter",
           "Times the target entered cooldown (since the process started).");
    for (size_t i = 0; i < n; i++) {
        target_labels(lb, &t[i]);
        sample_u64(out, "sluice_target_cooldowns_total", lb, t[i].cooldowns);
    }
    family(out, "sluice_target_check_failing", "gauge",
           "1 while the target's last background check failed.");
    for (size_t i = 0; i < n; i++) {
        target_labels(lb, &t[i]);
        sample_u64(out, "sluice_target_check_failing", lb, t[i].check_failing);
    }
    family(out, "sluice_target_health_level", "gauge",
           "Consecutive failed attempts: 0 healthy, 1 degraded (4 or more), 2 down (8 or more).");
    for (size_t i = 0; i < n; i++) {
        target_labels(lb, &t[i]);
        sample_u64(out, "sluice_target_health_level", lb, (uint64_t)t[i].level);
    }
    family(out, "sluice_target_in_flight", "gauge",
           "Attempts running on the target (counted while a least_busy group includes it).");
    for (size_t i = 0; i < n; i++) {
        target_labels(lb, &t[i]);
        sl_buf_appendf(out, "sluice_target_in_flight{%.*s} %" PRId64 "\n", (int)lb->len, lb->ptr,
                       t[i].in_flight);
    }
    family(out, "sluice_target_latency_ewma_seconds", "gauge",
           "Moving average (alpha 0.3) of the target's latency to a response or first event.");
    for (size_t i = 0; i < n; i++) {
        if (t[i].latency_ewma_s < 0)
            continue;
        target_labels(lb, &t[i]);
        sl_buf_appendf(out, "sluice_target_latency_ewma_seconds{%.*s} %.6f\n", (int)lb->len,
                       lb->ptr, t[i].latency_ewma_s);
    }
}

static void gauge(struct sl_buf *out, const char *name, const char *help, uint64_t v)
{
    family(out, name, "gauge", help);
    sl_buf_appendf(out, "%s %" PRIu64 "\n", name, v);
}

static void render_process(struct sl_buf *out, struct sl_buf *lb,
                           const struct sl_metrics_process *p)
{
    family(out, "sluice_build_info", "gauge", "Build information.");
    sl_buf_reset(lb);
    add_label(lb, "version", sl_str_from_cstr(p->version));
    sample_u64(out, "sluice_build_info", lb, 1);
    gauge(out, "sluice_workers", "Worker threads (one event loop each).", p->workers);
    gauge(out, "sluice_draining", "1 while a graceful shutdown is in progress.", p->draining);
    gauge(out, "sluice_open_connections", "Client connections currently open.",
          p->open_connections);
    family(out, "sluice_connections_refused_total", "counter",
           "Connections refused because proxy.max_connections were open.");
    sl_buf_appendf(out, "sluice_connections_refused_total %" PRIu64 "\n", p->connections_refused);
    family(out, "sluice_lingering_closes_total", "counter",
           "Client connections closed gracefully: write side shut, then what the client still "
           "sent read and discarded (at most 32 MiB or 5 s).");
    sl_buf_appendf(out, "sluice_lingering_closes_total %" PRIu64 "\n", p->lingering_closes);
    family(out, "sluice_http_requests_total", "counter",
           "Responses sent, by status class (every response, including h2o's own).");
    for (size_t c = 0; c < SL__STATUS_CLASSES; c++)
        sl_buf_appendf(out, "sluice_http_requests_total{code=\"%s\"} %" PRIu64 "\n",
                       status_class_name[c], p->http_requests[c]);
}

static void render_reloads(struct sl_buf *out)
{
    family(out, "sluice_config_reloads_total", "counter", "Configuration reloads, by result.");
    sl_buf_appendf(out,
                   "sluice_config_reloads_total{result=\"failure\"} %" PRIu64 "\n"
                   "sluice_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
                   reloads[0], reloads[1]);
    family(out, "sluice_config_generation", "gauge", "Generation of the configuration serving.");
    sl_buf_appendf(out, "sluice_config_generation %" PRId64 "\n", live_generation);
    family(out, "sluice_config_last_reload_success_timestamp_seconds", "gauge",
           "Unix time of the last successful configuration reload.");
    sl_buf_appendf(out, "sluice_config_last_reload_success_timestamp_seconds %.3f\n",
                   last_success_time);
}

void sl_metrics_render(const struct sl_metrics_process *p,
                       const struct sl_metrics_worker *const *stores, size_t n,
                       const struct sl_metrics_target *targets, size_t ntargets, struct sl_buf *out)
{
    struct rows rows = {0};
    struct sl_buf lb;
    sl_buf_init(&lb, LABELS_MAX);
    gather(stores, n, &rows);
    render_process(out, &lb, p);
    render_requests(out, &lb, &rows);
    render_histograms(out, &lb, &rows);
    render_tokens_errors(out, &lb, &rows);
    render_inflight(out, &lb, &rows);
    render_ratelimit(out, &lb, &rows, p);
    render_cache(out, &lb, &rows, p);
    render_target_attempts(out, &lb, &rows);
    render_target_state(out, &lb, targets, ntargets);
    render_reloads(out);
    rows_dispose(&rows);
    sl_buf_dispose(&lb);
}
