/* The cache phase and the tee (cache_phase.h). The phase runs after plan: a hit replies from the
 * entry, which no upstream phase follows, so the limits phase's reservation is committed with no
 * tokens (no attempt, no usage) and the tokens the entry's answer had used are counted as saved.
 * The tee is an h2o output stream in front of the protocol's: it copies the body as the caller
 * receives it (the dialect's bytes, with the alias) into a capped buffer and stores it when the
 * reply ends cleanly: status 200, no stream error (the relay names one in the log), the caller
 * still there. A stream cut before its end is never stored. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/cache.h"
#include "sluice/cache_phase.h"
#include "sluice/clock.h"
#include "sluice/config.h"
#include "sluice/exchange.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/redis.h"

/* A Redis value must fit the RESP reader's cap on one string, with the value's own head. */
#define REDIS_BODY_MAX (SL_RESP_MAX_STRING - 128)

struct sl_cache_worker {
    struct sl_cache_process *p;
    const struct sl_config *cfg;
    struct sl_redis *redis; /* NULL without cache.redis */
    bool up, down;
};

/* One request's cache state (x->mod[SL_MOD_CACHE]). */
struct cache_req {
    struct sl_exchange *x;
    struct sl_cache_worker *w;
    const struct sl_cache_policy *policy;
    struct sl_cache_key key;
    const char *status;         /* "hit", "miss", "bypass"; NULL: none to show */
    bool store;                 /* store a clean 200 reply */
    struct sl_cache_entry *hit; /* the entry a hit is sent from, released with the request */
    struct sl_redis_cmd *get;   /* a Redis lookup in flight */
    struct sl_buf tee;
    bool tee_on;
};

struct tee_ostream {
    h2o_ostream_t super;
    struct cache_req *cr;
};

static h2o_generator_t hit_generator = {NULL, NULL};

static uint64_t now_ms(void)
{
    return sl_now_us() / 1000;
}

/* ---- the process and the worker ---- */

struct sl_cache_process *sl_cache_process_new(const struct sl_config *cfg)
{
    struct sl_cache_process *p = sl_xcalloc(1, sizeof(*p));
    p->store = sl_cache_store_new(cfg->cache.memory_max_bytes);
    p->redis = cfg->cache.has_redis;
    return p;
}

void sl_cache_process_free(struct sl_cache_process *p)
{
    if (p == NULL)
        return;
    sl_cache_store_free(p->store);
    free(p);
}

/* Each enabled policy that cannot cache, as "<file>:<line>: <what>" through emit. */
static void unusable_policies(const struct sl_config *cfg, const struct sl_resources *res,
                              void (*emit)(void *ud, const char *line), void *ud)
{
    char msg[1024];
    for (size_t i = 0; i < res->n_cache_policies; i++) {
        const struct sl_cache_policy *pol = &res->cache_policies[i];
        const char *why = NULL;
        if (!pol->enabled)
            continue;
        if (pol->backend == SL_CACHE_BACKEND_REDIS && !cfg->cache.has_redis)
            why = "backend redis needs cache.redis in";
        else if (pol->backend == SL_CACHE_BACKEND_MEMORY && cfg->cache.memory_max_bytes == 0)
            why = "cache.memory.max_bytes is 0 in";
        if (why == NULL)
            continue;
        snprintf(msg, sizeof(msg),
                 "%s:%u: cache_policies[%zu] (\"%s\"): %s %s: requests it matches are not cached "
                 "(status disabled)",
                 res->file, pol->line, i, pol->name, why, cfg->file);
        emit(ud, msg);
    }
}

static void emit_log(void *ud, const char *line)
{
    SL_UNUSED(ud);
    sl_log_warn("%s", line);
}

static void emit_print(void *ud, const char *line)
{
    fprintf(ud, "sluice: %s\n", line);
}

void sl_cache_check_policies(const struct sl_config *cfg, const struct sl_resources *res)
{
    unusable_policies(cfg, res, emit_log, NULL);
}

void sl_cache_print_policy_warnings(const struct sl_config *cfg, const struct sl_resources *res,
                                    FILE *fp)
{
    unusable_policies(cfg, res, emit_print, fp);
}

/* Redis outages are logged once for the process: by the first worker to lose it, and by the
 * last to get it back. */
static void on_redis_state(void *ud, bool up, const char *why)
{
    struct sl_cache_worker *w = ud;
    struct sl_cache_process *p = w->p;
    const struct sl_redis_config *rc = &w->cfg->cache.redis;
    if (up) {
        w->up = true;
        atomic_fetch_add(&p->workers_up, 1);
        if (w->down && atomic_fetch_sub(&p->workers_down, 1) == 1)
            sl_log_info("cache: Redis at %s:%u is reachable again after %.1f s; redis cache "
                        "policies hit again",
                        rc->host, rc->port,
                        (double)(sl_now_us() - atomic_load(&p->outage_since_us)) / 1e6);
        w->down = false;
        return;
    }
    atomic_fetch_add_explicit(&p->redis_errors, 1, memory_order_relaxed);
    if (w->up)
        atomic_fetch_sub(&p->workers_up, 1);
    w->up = false;
    if (w->down)
        return;
    w->down = true;
    if (atomic_fetch_add(&p->workers_down, 1) == 0) {
        atomic_store(&p->outage_since_us, sl_now_us());
        sl_log_warn("cache: Redis at %s:%u is unreachable (%s); requests of redis cache policies "
                    "miss and are not stored until it is back",
                    rc->host, rc->port, why);
    }
}

struct sl_cache_worker *sl_cache_worker_new(h2o_context_t *ctx, const struct sl_config *cfg,
                                            struct sl_cache_process *p)
{
    struct sl_cache_worker *w = sl_xcalloc(1, sizeof(*w));
    w->p = p;
    w->cfg = cfg;
    if (cfg->cache.has_redis)
        w->redis = sl_redis_new(ctx, &cfg->cache.redis, NULL, 0, on_redis_state, w);
    return w;
}

/* ---- choosing ---- */

static bool is_cacheable_route(const struct sl_exchange *x)
{
    return x->route->op == SL_OP_CHAT || x->route->op == SL_OP_COMPLETIONS ||
           x->route->op == SL_OP_EMBEDDINGS;
}

/* The first enabled policy whose applies_to matches. */
static const struct sl_cache_policy *policy_for(const struct sl_exchange *x)
{
    for (size_t i = 0; i < x->res->n_cache_policies; i++) {
        const struct sl_cache_policy *p = &x->res->cache_policies[i];
        if (!p->enabled)
            continue;
        if (p->applies == SL_CACHE_APPLIES_ALL)
            return p;
        if (p->applies == SL_CACHE_APPLIES_MODEL && strcmp(p->applies_ref, x->model->name) == 0)
            return p;
        if (p->applies == SL_CACHE_APPLIES_API_KEY && x->key != NULL &&
            strcmp(p->applies_ref, x->key->name) == 0)
            return p;
    }
    return NULL;
}

static bool backend_ready(const struct cache_req *cr)
{
    if (cr->policy->backend == SL_CACHE_BACKEND_REDIS)
        return cr->w->redis != NULL;
    return sl_cache_store_max_body(cr->w->p->store) != 0;
}

/* Cache-Control request directives (RFC 9111 5.2.1): no-cache and no-store, in any header
 * line, any case, with or without spaces around the commas. */
static void read_cache_control(h2o_req_t *req, bool *no_cache, bool *no_store)
{
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_CACHE_CONTROL, i)) != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        size_t at = 0;
        while (at < v.len) {
            size_t end = at;
            while (end < v.len && v.base[end] != ',')
                end++;
            struct sl_str tok = sl_str_trim(sl_str_init(v.base + at, end - at));
            if (sl_str_ieq_lit(tok, "no-cache"))
                *no_cache = true;
            else if (sl_str_ieq_lit(tok, "no-store"))
                *no_store = true;
            at = end + 1;
        }
    }
}

static void on_req_dispose(void *data)
{
    struct cache_req *cr = data;
    if (cr->get != NULL)
        sl_redis_cancel(cr->get);
    cr->get = NULL;
    sl_cache_entry_unref(cr->hit);
    cr->hit = NULL;
    sl_buf_dispose(&cr->tee);
}

static void count(struct cache_req *cr, const char *status, uint64_t saved)
{
    cr->status = status;
    cr->x->log.cache = status;
    sl_metrics_cache(cr->x->svc->metrics, cr->policy->name, status, saved);
}

/* ---- hits and misses ---- */

static void reply_hit(struct cache_req *cr, struct sl_cache_entry *e)
{
    struct sl_exchange *x = cr->x;
    h2o_req_t *req = x->req;
    int64_t in = e->meta.prompt_tokens, out = e->meta.completion_tokens;
    cr->hit = e;
    count(cr, "hit", (uint64_t)SL_MAX(in, 0) + (uint64_t)SL_MAX(out, 0));
    x->log.stream = e->meta.stream;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = e->len;
    size_t clen = strlen(e->meta.ctype);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   h2o_strdup(&req->pool, e->meta.ctype, clen).base, clen);
    h2o_start_response(req, &hit_generator);
    h2o_send(req, &(h2o_iovec_t){(char *)e->body, e->len}, 1, H2O_SEND_STATE_FINAL);
}

static void miss(struct cache_req *cr)
{
    count(cr, "miss", 0);
}

/* "<key_prefix>:cache:<key in hex>", in the request's pool (key_prefix has no length cap). */
static struct sl_str redis_key(const struct cache_req *cr)
{
    char hex[2 * SL_CACHE_KEY_BYTES + 1];
    const char *prefix = cr->w->cfg->cache.redis.key_prefix;
    size_t cap = strlen(prefix) + sizeof(":cache:") + sizeof(hex);
    char *buf = h2o_mem_alloc_pool(&cr->x->req->pool, cap);
    sl_cache_key_hex(&cr->key, hex);
    int n = snprintf(buf, cap, "%s:cache:%s", prefix, hex);
    SL_ASSERT(n > 0 && (size_t)n < cap);
    return sl_str_init(buf, (size_t)n);
}

static void on_redis_get(void *ud, const struct sl_redis_reply *reply, const char *why)
{
    struct cache_req *cr = ud;
    struct sl_cache_entry *e = NULL;
    cr->get = NULL;
    SL_UNUSED(why);
    if (reply == NULL || reply->type == SL_REDIS_ERROR)
        atomic_fetch_add_explicit(&cr->w->p->redis_errors, 1, memory_order_relaxed);
    else if (reply->type == SL_REDIS_STRING)
        e = sl_cache_value_read(reply->str);
    if (e != NULL && e->meta.stream == cr->x->call.stream) {
        reply_hit(cr, e);
        return;
    }
    sl_cache_entry_unref(e);
    miss(cr);
    sl_exchange_resume(cr->x);
}

/* SL_AGAIN while Redis answers, or SL_OK after a miss it could not even ask. */
static int redis_lookup(struct cache_req *cr)
{
    if (!sl_redis_is_ready(cr->w->redis)) {
        atomic_fetch_add_explicit(&cr->w->p->redis_errors, 1, memory_order_relaxed);
        miss(cr);
        return SL_OK;
    }
    struct sl_str argv[] = {SL_STRLIT("GET"), redis_key(cr)};
    cr->get = sl_redis_command(cr->w->redis, 2, argv, on_redis_get, cr);
    if (cr->get == NULL) {
        atomic_fetch_add_explicit(&cr->w->p->redis_errors, 1, memory_order_relaxed);
        miss(cr);
        return SL_OK;
    }
    return SL_AGAIN;
}

int sl_phase_cache(struct sl_exchange *x)
{
    struct sl_cache_worker *w = x->svc->cache;
    if (w == NULL || !is_cacheable_route(x))
        return SL_DECLINED;
    const struct sl_cache_policy *policy = policy_for(x);
    if (policy == NULL)
        return SL_DECLINED;
    struct cache_req *cr = h2o_mem_alloc_shared(&x->req->pool, sizeof(*cr), on_req_dispose);
    *cr = (struct cache_req){.x = x, .w = w, .policy = policy};
    sl_buf_init(&cr->tee, 0);
    x->mod[SL_MOD_CACHE] = cr;
    if (!backend_ready(cr)) {
        x->log.cache = "disabled";
        return SL_DECLINED;
    }
    bool no_cache = false, no_store = false;
    read_cache_control(x->req, &no_cache, &no_store);
    struct sl_cache_key_input in = {
        .route = x->route->name,
        .alias = x->log.model,
        .stream = x->call.stream,
        .policy_id = policy->id,
        .purge_generation = policy->purge_generation,
        .key_name = policy->scope == SL_CACHE_SCOPE_API_KEY ? x->key->name : NULL,
        .body = sl_str_init(x->req->entity.base, x->req->entity.len),
    };
    if (sl_cache_key(&in, &cr->key) != SL_OK) {
        count(cr, "bypass", 0);
        return SL_OK;
    }
    cr->store = !no_store;
    if (no_cache) {
        count(cr, "bypass", 0);
        return SL_OK;
    }
    if (policy->backend == SL_CACHE_BACKEND_REDIS)
        return redis_lookup(cr);
    struct sl_cache_entry *e = sl_cache_store_get(w->p->store, &cr->key, now_ms());
    if (e != NULL) {
        reply_hit(cr, e);
        return SL_DONE;
    }
    miss(cr);
    return SL_OK;
}

/* ---- the tee ---- */

static void on_redis_set(void *ud, const struct sl_redis_reply *reply, const char *why)
{
    struct sl_cache_process *p = ud;
    SL_UNUSED(why);
    if (reply == NULL || reply->type == SL_REDIS_ERROR)
        atomic_fetch_add_explicit(&p->redis_errors, 1, memory_order_relaxed);
}

static void store_redis(struct cache_req *cr, struct sl_cache_entry *e)
{
    char ttl[24];
    if (!sl_redis_is_ready(cr->w->redis)) {
        atomic_fetch_add_explicit(&cr->w->p->redis_errors, 1, memory_order_relaxed);
        return;
    }
    struct sl_str key = redis_key(cr);
    size_t vlen = sl_cache_value_len(e);
    char *v = sl_xmalloc(vlen);
    sl_cache_value_write(e, v);
    int n = snprintf(ttl, sizeof(ttl), "%" PRIu64, cr->policy->ttl_secs);
    struct sl_str argv[] = {SL_STRLIT("SET"), key, sl_str_init(v, vlen), SL_STRLIT("EX"),
                            sl_str_init(ttl, (size_t)n)};
    if (sl_redis_command(cr->w->redis, SL_ARRAY_LEN(argv), argv, on_redis_set, cr->w->p) == NULL)
        atomic_fetch_add_explicit(&cr->w->p->redis_errors, 1, memory_order_relaxed);
    free(v);
}

static bool starts_with(struct sl_str s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.ptr, p, n) == 0;
}

/* An in-band error event: OpenAI's data {"error": ...} or an event named error (Anthropic's). */
static bool is_error_line(struct sl_str line)
{
    if (starts_with(line, "event:"))
        return sl_str_eq_lit(sl_str_trim(sl_str_init(line.ptr + 6, line.len - 6)), "error");
    if (!starts_with(line, "data:"))
        return false;
    struct sl_str d = sl_str_trim(sl_str_init(line.ptr + 5, line.len - 5));
    if (d.len == 0 || d.ptr[0] != '{')
        return false;
    d = sl_str_trim(sl_str_init(d.ptr + 1, d.len - 1));
    return starts_with(d, "\"error\"");
}

/* Whether a stream, as the caller received it, is one to replay: no in-band error event (an
 * upstream may report one and still send its terminator, which the relay passes on), and it
 * ends with its dialect's terminator ([DONE], or message_stop and its data). A stream that
 * ends otherwise was cut. */
static bool stream_is_complete(struct sl_str s)
{
    bool terminated = false, stop_event = false;
    size_t at = 0;
    while (at < s.len) {
        const char *nl = memchr(s.ptr + at, '\n', s.len - at);
        size_t end = nl != NULL ? (size_t)(nl - s.ptr) : s.len;
        struct sl_str line = sl_str_init(s.ptr + at, end - at);
        at = end + 1;
        if (line.len != 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (line.len == 0 || line.ptr[0] == ':')
            continue; /* an event's end, or a comment (keep-alive) */
        if (is_error_line(line))
            return false;
        if (sl_str_eq_lit(line, "data: [DONE]")) {
            terminated = true;
        } else if (sl_str_eq_lit(line, "event: message_stop")) {
            terminated = stop_event = true;
            continue;
        } else {
            /* Only message_stop's own data may follow the terminator. */
            terminated = stop_event && starts_with(line, "data:");
        }
        stop_event = false;
    }
    return terminated;
}

/* The reply is complete: store it when it ended cleanly. */
static void store(struct cache_req *cr, h2o_req_t *req)
{
    struct sl_exchange *x = cr->x;
    if (req->res.status != 200 || x->log.error_kind != NULL || x->log.client_gone)
        return;
    if (x->call.stream && !stream_is_complete(sl_buf_str(&cr->tee)))
        return;
    struct sl_cache_meta m = {.stream = x->call.stream,
                              .prompt_tokens = x->usage.input_tokens,
                              .completion_tokens = x->usage.output_tokens};
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1 || req->res.headers.entries[i].value.len > SL_CACHE_CTYPE_MAX)
        return;
    h2o_iovec_t ct = req->res.headers.entries[i].value;
    memcpy(m.ctype, ct.base, ct.len);
    m.ctype[ct.len] = '\0';
    struct sl_cache_entry *e = sl_cache_entry_new(&m, cr->tee.ptr, cr->tee.len);
    if (cr->policy->backend == SL_CACHE_BACKEND_REDIS) {
        store_redis(cr, e);
        sl_cache_entry_unref(e);
        return;
    }
    (void)sl_cache_store_put(cr->w->p->store, &cr->key, e, now_ms(), cr->policy->ttl_secs * 1000);
}

static void tee_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
                        h2o_send_state_t state)
{
    struct cache_req *cr = ((struct tee_ostream *)self)->cr;
    for (size_t i = 0; i < n && cr->tee_on; i++) {
        if (sl_buf_append(&cr->tee, bufs[i].base, bufs[i].len) != SL_OK)
            cr->tee_on = false; /* larger than an entry may be: not stored */
    }
    if (state == H2O_SEND_STATE_FINAL && cr->tee_on)
        store(cr, req);
    if (state != H2O_SEND_STATE_IN_PROGRESS) {
        cr->tee_on = false;
        sl_buf_dispose(&cr->tee);
    }
    h2o_ostream_send_next(self, req, bufs, n, state);
}

h2o_ostream_t **sl_cache_response_start(struct sl_exchange *x, h2o_ostream_t **slot)
{
    struct cache_req *cr = x->mod[SL_MOD_CACHE];
    h2o_req_t *req = x->req;
    if (cr == NULL || cr->status == NULL)
        return slot;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-sluice-cache"), 0, NULL,
                          cr->status, strlen(cr->status));
    if (!cr->store || cr->hit != NULL || req->res.status != 200)
        return slot;
    size_t cap = cr->policy->backend == SL_CACHE_BACKEND_REDIS
                     ? REDIS_BODY_MAX
                     : sl_cache_store_max_body(cr->w->p->store);
    sl_buf_dispose(&cr->tee);
    sl_buf_init(&cr->tee, cap);
    cr->tee_on = true;
    struct tee_ostream *o = (void *)h2o_add_ostream(req, sizeof(struct tee_ostream), slot);
    o->super.do_send = tee_do_send;
    o->cr = cr;
    return &o->super.next;
}
