/* The redis backend: counters shared by every replica, with leases so that most requests never
 * wait on Redis (docs/limits.md).
 *
 * Per bucket and request window, a worker holds a lease: units Redis counted for it that it
 * spends locally. A unit is either prepaid (Redis counts it as an admission already: the unit
 * granted with the call that asked) or leased (Redis counts it as outstanding, u, until the
 * worker reports it spent or returns it). Asking again, going idle and the periodic flush
 * report what was spent, return what was not, and refund prepaid units nobody used. A window
 * Redis has confirmed full refuses locally until it rolls over.
 *
 * Token windows and budgets are checked, not leased: a worker checks against the count it
 * fetched at most SYNC_MS ago plus its own unflushed additions, and fetches again (waiting) when
 * its copy is older. Concurrency slots are held in Redis per worker; a worker keeps at most a
 * lease's worth of spare slots and reports what it holds and uses on every call.
 *
 * One call per bucket is in flight at a time; reservations that need the same bucket meanwhile
 * wait for its reply and then try again. When Redis is unreachable, reservations count in the
 * process's memory counters (on_error: allow) or are refused (deny); every token and cost
 * addition also goes to the memory counters, so they hold this process's recent use when an
 * outage begins. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit_internal.h"
#include "ratelimit_lua.h"
#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/redis.h"

#define SYNC_MS    100 /* token and budget counts are at most this old when a request is checked */
#define FLUSH_MS   50  /* reports, additions and refreshes of busy buckets go out this often */
#define IDLE_MS    250 /* a bucket unused this long gives its unspent units and spare slots back */
#define GRACE_SECS 5   /* window keys live this much past their window */
#define MAX_OPS    8 /* operations in one call: 4 request windows, 2 token windows, budget, slots */
#define NUM_MAX    48

/* A request window's lease (see the top of the file). */
struct lease {
    uint64_t ws;          /* Redis window start of the lease (Unix seconds); 0: none */
    uint64_t deadline_ms; /* local clock (h2o_now) when that window ends */
    uint32_t prepaid;     /* unspent units Redis already counts as admissions */
    uint32_t leased;      /* unspent units Redis counts as outstanding */
    uint32_t spent;       /* leased units spent, not yet reported */
    bool full;            /* Redis refused: the window is full until deadline_ms */
    uint64_t counted;     /* Redis's c after the last call (for headers) */
    uint64_t rate_sec;    /* second of cur */
    uint32_t rate_cur, rate_prev;
};

/* A token window or the budget: a count fetched from Redis plus local additions. */
struct count {
    uint64_t ws;
    uint64_t deadline_ms;
    uint64_t value;     /* Redis's count at the last sync */
    uint64_t synced_ms; /* 0: never */
    uint64_t pending;   /* added here, not yet sent */
    uint64_t sending;   /* in the call in flight */
};

struct conc {
    uint32_t held;  /* slots Redis counts for this worker */
    uint32_t inuse; /* of which in use */
    uint64_t others_inuse;
    uint64_t reported_ms;
    uint32_t reported_held, reported_inuse;
    uint64_t refused_seq; /* the reply sequence that refused a slot */
};

struct waiter {
    struct op *op;
    unsigned layer;
};

struct bstate {
    struct sl_rl_bucket *b;
    char *key; /* "<prefix>:rl:{<bucket>}" */
    /* The limits last seen (copied: a reload may free the generation that held them). */
    struct sl_rate_limit lim;
    bool has_budget;
    enum sl_budget_window budget_window;
    uint64_t budget_limit;
    struct lease req[SL_RL_REQUEST_DIMS];
    struct count tok[2]; /* tpm, tpd */
    struct count usd;
    struct conc conc;
    uint64_t used_ms;
    bool active; /* on the worker's active list */
    bool calling;
    uint64_t reply_seq;
    struct waiter *waiters;
    size_t nwaiters, capwaiters;
};

/* A reservation waiting on Redis. */
struct op {
    struct op *next; /* on first_waiters */
    struct sl__rl_redis *rr;
    struct sl_reservation *r; /* NULL once abandoned */
    unsigned waiting;         /* buckets it waits on */
    bool refused;
    bool failed; /* a call failed: decide without Redis */
};

struct call {
    struct call *next; /* on sl__rl_redis.failed */
    struct sl__rl_redis *rr;
    struct bstate *bs;
    char what[MAX_OPS]; /* 'r' 't' 'b' 'c' per operation */
    uint8_t dim[MAX_OPS];
    unsigned nops;
    uint32_t reported_spent[SL_RL_REQUEST_DIMS];
    uint32_t conc_held, conc_inuse;
    bool returning; /* an idle return: leases and spares given back */
};

struct sl__rl_redis {
    struct sl_rl_worker *w;
    struct sl_limiter *l;
    const struct sl_config *cfg;
    struct sl_redis *client;
    char *lua; /* the script's source, joined from sl__rl_lua */
    struct sl_redis_script script;
    const struct sl_redis_script *scripts[1];
    char member[64];
    struct bstate **by_idx;
    uint32_t cap;
    struct bstate **active;
    size_t nactive, capactive;
    h2o_loop_t *loop;
    h2o_timeout_t flush_timeout, zero;
    h2o_timeout_entry_t flush_entry, urgent_entry;
    bool up;             /* the client is ready */
    bool down;           /* this worker counts in l->workers_down */
    struct call *failed; /* calls that could not be queued, failed on the next loop turn */
    /* Reservations made before the first connection was ready wait for it rather than count
     * in the process a moment after start. */
    struct op *first_waiters;
};

static uint64_t mono_ms(const struct sl__rl_redis *rr)
{
    return h2o_now(rr->loop);
}

/* ---- bucket state ---- */

static struct bstate *state_of(struct sl__rl_redis *rr, const struct sl_rl_layer *layer)
{
    struct sl_rl_bucket *b = layer->bucket;
    if (b->idx >= rr->cap) {
        uint32_t cap = SL_MAX(rr->cap * 2, b->idx + 16);
        rr->by_idx = sl_xrealloc(rr->by_idx, cap * sizeof(*rr->by_idx));
        memset(rr->by_idx + rr->cap, 0, (cap - rr->cap) * sizeof(*rr->by_idx));
        rr->cap = cap;
    }
    struct bstate *bs = rr->by_idx[b->idx];
    if (bs == NULL) {
        bs = sl_xcalloc(1, sizeof(*bs));
        bs->b = b;
        bs->key = sl_xasprintf("%s:rl:{%s}", rr->cfg->ratelimit.redis.key_prefix, b->name);
        rr->by_idx[b->idx] = bs;
    }
    bs->lim = *layer->limits;
    if (layer->budget != NULL) {
        bs->has_budget = true;
        bs->budget_window = layer->budget->window;
        bs->budget_limit = layer->budget->limit_nusd;
    }
    return bs;
}

static void activate(struct sl__rl_redis *rr, struct bstate *bs)
{
    bs->used_ms = mono_ms(rr);
    if (bs->active)
        return;
    if (rr->nactive == rr->capactive) {
        rr->capactive = SL_MAX(rr->capactive * 2, 16);
        rr->active = sl_xrealloc(rr->active, rr->capactive * sizeof(*rr->active));
    }
    rr->active[rr->nactive++] = bs;
    bs->active = true;
}

static bool lease_valid(const struct lease *ls, uint64_t now)
{
    return ls->ws != 0 && now < ls->deadline_ms;
}

static bool count_fresh(const struct count *c, uint64_t now)
{
    return c->synced_ms != 0 && now < c->deadline_ms && now - c->synced_ms < SYNC_MS;
}

static void note_spend(struct lease *ls, uint64_t now)
{
    uint64_t sec = now / 1000;
    if (sec != ls->rate_sec) {
        ls->rate_prev = sec == ls->rate_sec + 1 ? ls->rate_cur : 0;
        ls->rate_cur = 0;
        ls->rate_sec = sec;
    }
    ls->rate_cur++;
}

/* ---- local decisions ---- */

enum verdict {
    V_OK = 0,
    V_NEED,   /* Redis must be asked */
    V_REFUSE, /* r->refusal filled */
};

/* The worker's state of a bucket, or NULL when it never used it. */
static struct bstate *known_state(const struct sl__rl_redis *rr, const struct sl_rl_bucket *b)
{
    return b->idx < rr->cap ? rr->by_idx[b->idx] : NULL;
}

static void undo_layer(struct sl__rl_redis *rr, struct sl_rl_layer *layer)
{
    struct bstate *bs = known_state(rr, layer->bucket);
    if (bs == NULL) { /* nothing taken from leases: only process counters, if any */
        sl__rl_memory_untake(layer);
        return;
    }
    for (unsigned d = 0; d < SL_RL_REQUEST_DIMS; d++) {
        switch (layer->_take[d]) {
        case SL_RL_TAKE_LEASE: /* a leased unit goes back, unreported */
            bs->req[d].leased++;
            bs->req[d].spent--;
            break;
        case SL_RL_TAKE_REMOTE: /* a prepaid unit: refunded when the lease is settled */
            bs->req[d].prepaid++;
            break;
        default:
            break;
        }
        if (layer->_take[d] != SL_RL_TAKE_MEMORY)
            layer->_take[d] = SL_RL_TAKE_NONE;
    }
    if (layer->_conc == SL_RL_TAKE_LEASE) {
        bs->conc.inuse--;
        layer->_conc = SL_RL_TAKE_NONE;
    }
    sl__rl_memory_untake(layer);
}

static void undo_all(struct sl__rl_redis *rr, struct sl_reservation *r)
{
    for (unsigned i = 0; i < r->n; i++)
        undo_layer(rr, &r->layers[i]);
}

static enum verdict try_counts(struct sl_reservation *r, struct sl_rl_layer *layer,
                               struct bstate *bs, uint64_t now, int64_t now_s)
{
    enum verdict v = V_OK;
    for (enum sl_rl_dim d = SL_RL_TPM; d < SL_RL_DIMS; d++) {
        if ((bs->lim.set & (1u << d)) == 0)
            continue;
        struct count *c = &bs->tok[d - SL_RL_TPM];
        if (!count_fresh(c, now)) {
            v = V_NEED;
        } else if (c->value + c->pending + c->sending > bs->lim.max[d]) {
            sl__rl_refuse(r, layer, SL_RL_TOKENS, d, now_s);
            r->refusal.retry_after_secs = SL_MAX((c->deadline_ms - now + 999) / 1000, 1);
            return V_REFUSE;
        }
    }
    if (layer->budget != NULL) {
        if (!count_fresh(&bs->usd, now)) {
            v = V_NEED;
        } else if (bs->usd.value + bs->usd.pending + bs->usd.sending >= bs->budget_limit) {
            sl__rl_refuse(r, layer, SL_RL_BUDGET, SL_RL_RPS, now_s);
            r->refusal.spent_nusd = bs->usd.value + bs->usd.pending + bs->usd.sending;
            return V_REFUSE;
        }
    }
    return v;
}

/* Takes what layer i needs from the worker's leases; fresh counts decide tokens and budgets. */
static enum verdict try_layer(struct sl__rl_redis *rr, struct sl_reservation *r, unsigned i,
                              uint64_t now, int64_t now_s, uint64_t seq)
{
    struct sl_rl_layer *layer = &r->layers[i];
    struct bstate *bs = state_of(rr, layer);
    enum verdict v = V_OK;
    activate(rr, bs);
    if (bs->lim.has_concurrency && layer->_conc == SL_RL_TAKE_NONE) {
        if (bs->conc.inuse < bs->conc.held) {
            bs->conc.inuse++;
            layer->_conc = SL_RL_TAKE_LEASE;
        } else if (seq != 0 && bs->conc.refused_seq == seq) {
            sl__rl_refuse(r, layer, SL_RL_CONCURRENCY, SL_RL_RPS, now_s);
            return V_REFUSE;
        } else {
            v = V_NEED;
        }
    }
    enum verdict c = try_counts(r, layer, bs, now, now_s);
    if (c == V_REFUSE)
        return V_REFUSE;
    v = c == V_NEED ? V_NEED : v;
    for (enum sl_rl_dim d = SL_RL_RPS; d < SL_RL_REQUEST_DIMS; d++) {
        if ((bs->lim.set & (1u << d)) == 0 || layer->_take[d] != SL_RL_TAKE_NONE)
            continue;
        struct lease *ls = &bs->req[d];
        if (!lease_valid(ls, now)) {
            *ls = (struct lease){
                .rate_sec = ls->rate_sec, .rate_cur = ls->rate_cur, .rate_prev = ls->rate_prev};
            v = V_NEED;
        } else if (ls->prepaid > 0) {
            ls->prepaid--;
            layer->_take[d] = SL_RL_TAKE_REMOTE;
            note_spend(ls, now);
        } else if (ls->leased > 0) {
            ls->leased--;
            ls->spent++;
            layer->_take[d] = SL_RL_TAKE_LEASE;
            note_spend(ls, now);
        } else if (ls->full) {
            sl__rl_refuse(r, layer, SL_RL_REQUESTS, d, now_s);
            r->refusal.retry_after_secs = SL_MAX((ls->deadline_ms - now + 999) / 1000, 1);
            return V_REFUSE;
        } else {
            v = V_NEED;
        }
    }
    return v;
}

/* ---- calls ---- */

static void call_bucket(struct sl__rl_redis *rr, struct bstate *bs, bool returning);
static void schedule_urgent(struct sl__rl_redis *rr);

static void on_reply(void *ud, const struct sl_redis_reply *reply, const char *why);

struct args {
    struct sl_str v[5 + MAX_OPS * 8];
    char num[5 + MAX_OPS * 8][NUM_MAX];
    size_t n;
};

static void arg(struct args *a, struct sl_str s)
{
    a->v[a->n++] = s;
}

static void argu(struct args *a, uint64_t n)
{
    int k = snprintf(a->num[a->n], NUM_MAX, "%" PRIu64, n);
    a->v[a->n] = sl_str_init(a->num[a->n], (size_t)k);
    a->n++;
}

static void args_op(struct args *a, const char *kind, const char *name, uint64_t window,
                    uint64_t limit)
{
    arg(a, sl_str_from_cstr(kind));
    arg(a, sl_str_from_cstr(name));
    argu(a, window);
    argu(a, limit);
}

/* How many waiting reservations still need a slot of this bucket. */
static uint32_t waiters_needing_slot(const struct bstate *bs)
{
    uint32_t n = 0;
    for (size_t i = 0; i < bs->nwaiters; i++) {
        const struct sl_reservation *r = bs->waiters[i].op->r;
        n += r != NULL && r->layers[bs->waiters[i].layer]._conc == SL_RL_TAKE_NONE;
    }
    return n;
}

static void add_request_ops(struct sl__rl_redis *rr, struct bstate *bs, struct call *c,
                            struct args *a, bool returning, uint64_t now)
{
    for (enum sl_rl_dim d = SL_RL_RPS; d < SL_RL_REQUEST_DIMS; d++) {
        struct lease *ls = &bs->req[d];
        bool limited = (bs->lim.set & (1u << d)) != 0;
        bool valid = lease_valid(ls, now);
        uint64_t spent = valid ? ls->spent : 0, ret = 0, refund = 0, want = 0;
        if (returning && valid) {
            ret = ls->leased;
            refund = ls->prepaid;
        }
        if (!returning && limited && (!valid || ls->prepaid + ls->leased == 0) && !ls->full &&
            bs->nwaiters != 0)
            want = sl__rl_lease_want(bs->lim.max[d], SL_MAX(ls->rate_cur, ls->rate_prev));
        if (spent + ret + refund + want == 0)
            continue;
        args_op(a, "r", sl_rl_dim_name(d), sl__rl_window_secs(d), bs->lim.max[d]);
        argu(a, want);
        argu(a, valid ? ls->ws : 0);
        argu(a, spent);
        size_t at = a->n++;
        int k = snprintf(a->num[at], NUM_MAX, "%" PRIu64 ":%" PRIu64, ret, refund);
        a->v[at] = sl_str_init(a->num[at], (size_t)k);
        /* Reported and returned units leave the lease now: a second call must not report them
         * again. */
        if (valid) {
            ls->spent = 0;
            ls->leased -= (uint32_t)ret;
            ls->prepaid -= (uint32_t)refund;
        }
        c->reported_spent[d] = (uint32_t)spent;
        c->what[c->nops] = 'r';
        c->dim[c->nops++] = (uint8_t)d;
        SL_UNUSED(rr);
    }
}

static void add_count_ops(struct bstate *bs, struct call *c, struct args *a, uint64_t now)
{
    static const char *const budget_kinds[] = {"day", "week", "month"};
    bool check = bs->nwaiters != 0;
    for (enum sl_rl_dim d = SL_RL_TPM; d < SL_RL_DIMS; d++) {
        struct count *ct = &bs->tok[d - SL_RL_TPM];
        bool limited = (bs->lim.set & (1u << d)) != 0;
        bool refresh = limited && (check || now - ct->synced_ms >= SYNC_MS / 2);
        if (ct->pending == 0 && !refresh)
            continue;
        args_op(a, "t", sl_rl_dim_name(d), sl__rl_window_secs(d), limited ? bs->lim.max[d] : 0);
        argu(a, ct->pending);
        arg(a, check && limited ? SL_STRLIT("1") : SL_STRLIT("0"));
        arg(a, SL_STRLIT("-"));
        arg(a, SL_STRLIT("-"));
        ct->sending = ct->pending;
        ct->pending = 0;
        c->what[c->nops] = 't';
        c->dim[c->nops++] = (uint8_t)d;
    }
    if (!bs->has_budget && bs->usd.pending == 0)
        return;
    args_op(a, "b", budget_kinds[bs->budget_window], 0, bs->budget_limit);
    argu(a, bs->usd.pending);
    arg(a, check && bs->has_budget ? SL_STRLIT("1") : SL_STRLIT("0"));
    arg(a, SL_STRLIT("-"));
    arg(a, SL_STRLIT("-"));
    bs->usd.sending = bs->usd.pending;
    bs->usd.pending = 0;
    c->what[c->nops] = 'b';
    c->dim[c->nops++] = 0;
}

static void add_conc_op(struct bstate *bs, struct call *c, struct args *a, bool returning,
                        uint64_t now, uint64_t ttl_ms)
{
    struct conc *cc = &bs->conc;
    uint32_t lease = sl__rl_lease_max(bs->lim.concurrency);
    uint32_t held = cc->held;
    if (returning || held > cc->inuse + lease - 1)
        held = returning ? cc->inuse : cc->inuse + lease - 1; /* spare slots go back */
    uint32_t want = held, needing = returning ? 0 : waiters_needing_slot(bs);
    if (bs->lim.has_concurrency && cc->inuse >= cc->held && needing != 0)
        want = cc->inuse + SL_MAX(lease, needing);
    bool report = held != cc->reported_held || cc->inuse != cc->reported_inuse ||
                  (cc->held != 0 && now - cc->reported_ms >= ttl_ms / 3);
    if (want == cc->held && !report && held == cc->held)
        return;
    args_op(a, "c", "-", 0, bs->lim.has_concurrency ? bs->lim.concurrency : 0);
    argu(a, held);
    argu(a, cc->inuse);
    argu(a, SL_MAX(want, held));
    /* Slots granted now go straight to the reservations waiting: report them in use at once,
     * or another worker could count them free until this worker's next report. */
    argu(a, cc->inuse + needing);
    cc->held = held;
    c->conc_held = held;
    c->conc_inuse = cc->inuse + needing;
    c->what[c->nops] = 'c';
    c->dim[c->nops++] = 0;
}

/* Sends this bucket's call: settles, additions, reports and, for waiting reservations, lease
 * and slot requests. Nothing when there is nothing to say. */
static void call_bucket(struct sl__rl_redis *rr, struct bstate *bs, bool returning)
{
    uint64_t now = mono_ms(rr);
    struct call *c = sl_xcalloc(1, sizeof(*c));
    struct args a = {.n = 0};
    c->rr = rr;
    c->bs = bs;
    c->returning = returning;
    arg(&a, sl_str_from_cstr(bs->key));
    arg(&a, sl_str_from_cstr(rr->member));
    argu(&a, rr->cfg->ratelimit.concurrency_ttl_secs);
    argu(&a, GRACE_SECS);
    size_t nops_at = a.n;
    argu(&a, 0);
    add_request_ops(rr, bs, c, &a, returning, now);
    add_count_ops(bs, c, &a, now);
    add_conc_op(bs, c, &a, returning, now, rr->cfg->ratelimit.concurrency_ttl_secs * 1000);
    if (c->nops == 0) {
        free(c);
        return;
    }
    snprintf(a.num[nops_at], NUM_MAX, "%u", c->nops);
    a.v[nops_at] = sl_str_from_cstr(a.num[nops_at]);
    bs->calling = true;
    atomic_fetch_add_explicit(&rr->l->redis_calls, 1, memory_order_relaxed);
    if (sl_redis_eval(rr->client, &rr->script, 1, a.n, a.v, on_reply, c) != NULL)
        return;
    /* Not queued (the connection went down in this loop turn, or its output is full): fail it
     * on the next turn, never from inside a reservation. */
    c->next = rr->failed;
    rr->failed = c;
    schedule_urgent(rr);
}

/* ---- deciding ---- */

static void fallback(struct sl__rl_redis *rr, struct sl_reservation *r, int64_t now_s, int *rc)
{
    undo_all(rr, r);
    if (rr->cfg->ratelimit.redis.deny_on_error) {
        atomic_fetch_add_explicit(&rr->l->denied_unavailable, 1, memory_order_relaxed);
        r->refusal = (struct sl_rl_refusal){.reason = SL_RL_UNAVAILABLE};
        *rc = SL_DECLINED;
        return;
    }
    atomic_fetch_add_explicit(&rr->l->local_allowed, 1, memory_order_relaxed);
    *rc = SL_OK;
    for (unsigned i = 0; i < r->n; i++) {
        if (sl__rl_memory_take(r, i, now_s) == SL_OK)
            continue;
        for (unsigned j = 0; j < i; j++)
            sl__rl_memory_untake(&r->layers[j]);
        *rc = SL_DECLINED;
        return;
    }
}

static void op_done(struct op *op)
{
    struct sl__rl_redis *rr = op->rr;
    struct sl_reservation *r = op->r;
    if (r == NULL) {
        free(op);
        return;
    }
    int64_t now_s = rr->l->now_ms() / 1000;
    int rc = SL_OK;
    r->_op = NULL;
    if (op->failed)
        fallback(rr, r, now_s, &rc);
    else if (op->refused) {
        undo_all(rr, r);
        rc = SL_DECLINED;
    }
    free(op);
    sl__rl_decided(rr->w, r, rc);
}

static void remove_waiter(struct bstate *bs, size_t i)
{
    bs->waiters[i] = bs->waiters[--bs->nwaiters];
}

/* After a reply: every reservation waiting on this bucket tries again. */
static void retry_waiters(struct sl__rl_redis *rr, struct bstate *bs, bool failed)
{
    uint64_t now = mono_ms(rr);
    int64_t now_s = rr->l->now_ms() / 1000;
    for (size_t i = 0; i < bs->nwaiters;) {
        struct waiter wt = bs->waiters[i];
        struct op *op = wt.op;
        enum verdict v = V_OK;
        if (op->r == NULL || failed || op->failed || op->refused) {
            op->failed = op->failed || failed;
        } else {
            v = try_layer(rr, op->r, wt.layer, now, now_s, bs->reply_seq);
            if (v == V_REFUSE)
                op->refused = true;
        }
        if (v == V_NEED) {
            i++;
            continue;
        }
        remove_waiter(bs, i);
        if (--op->waiting == 0)
            op_done(op);
    }
    if (bs->nwaiters != 0 && !bs->calling)
        call_bucket(rr, bs, false);
}

static uint64_t u64_of(const struct sl_redis_reply *e)
{
    return e != NULL && e->type == SL_REDIS_INTEGER && e->integer > 0 ? (uint64_t)e->integer : 0;
}

static void apply_request(struct bstate *bs, struct call *c, unsigned k,
                          const struct sl_redis_reply *const *v, bool refused_here, uint64_t now)
{
    struct lease *ls = &bs->req[c->dim[k]];
    uint64_t granted = u64_of(v[0]), ws = u64_of(v[1]), left = u64_of(v[2]);
    if (ws != ls->ws) {
        /* A new window: the previous lease is void (its window is over). */
        *ls = (struct lease){
            .rate_sec = ls->rate_sec, .rate_cur = ls->rate_cur, .rate_prev = ls->rate_prev};
        ls->ws = ws;
    }
    ls->deadline_ms = now + left;
    ls->counted = u64_of(v[3]);
    if (granted > 0) {
        ls->prepaid += 1;
        ls->leased += (uint32_t)(granted - 1);
    }
    ls->full = refused_here;
}

static void apply_count(struct count *ct, const struct sl_redis_reply *const *v, uint64_t now)
{
    ct->value = u64_of(v[0]);
    if (u64_of(v[1]) != ct->ws)
        ct->ws = u64_of(v[1]);
    ct->deadline_ms = now + u64_of(v[2]);
    ct->synced_ms = now;
    ct->sending = 0;
}

static bool apply_reply(struct sl__rl_redis *rr, struct call *c, const struct sl_redis_reply *reply)
{
    struct bstate *bs = c->bs;
    uint64_t now = mono_ms(rr);
    if (reply->type != SL_REDIS_ARRAY || reply->n != 2 + 4 * (size_t)c->nops)
        return false;
    uint64_t refused = u64_of(reply->elements[0]);
    bs->reply_seq++;
    for (unsigned k = 0; k < c->nops; k++) {
        const struct sl_redis_reply *const *v =
            (const struct sl_redis_reply *const *)&reply->elements[2 + 4 * k];
        switch (c->what[k]) {
        case 'r':
            apply_request(bs, c, k, v, refused == k + 1, now);
            break;
        case 't':
            apply_count(&bs->tok[c->dim[k] - SL_RL_TPM], v, now);
            break;
        case 'b':
            apply_count(&bs->usd, v, now);
            break;
        case 'c':
            bs->conc.held = (uint32_t)u64_of(v[0]);
            bs->conc.others_inuse = u64_of(v[1]);
            bs->conc.reported_held = bs->conc.held;
            bs->conc.reported_inuse = c->conc_inuse;
            bs->conc.reported_ms = now;
            if (refused == k + 1)
                bs->conc.refused_seq = bs->reply_seq;
            break;
        }
    }
    return true;
}

/* A failed call: what it carried is put back to be sent again (additions) or given up
 * (reports of spent units: Redis then counts them as outstanding until the window ends, which
 * can only let a few more requests through, never fewer). */
static void call_failed(struct bstate *bs)
{
    for (unsigned d = 0; d < 2; d++) {
        bs->tok[d].pending += bs->tok[d].sending;
        bs->tok[d].sending = 0;
        bs->tok[d].synced_ms = 0;
    }
    bs->usd.pending += bs->usd.sending;
    bs->usd.sending = 0;
    bs->usd.synced_ms = 0;
}

static void on_reply(void *ud, const struct sl_redis_reply *reply, const char *why)
{
    struct call *c = ud;
    struct sl__rl_redis *rr = c->rr;
    struct bstate *bs = c->bs;
    bool ok = reply != NULL && apply_reply(rr, c, reply);
    bs->calling = false;
    if (!ok) {
        atomic_fetch_add_explicit(&rr->l->redis_failures, reply != NULL, memory_order_relaxed);
        if (reply != NULL)
            sl_log_warn("ratelimit: unexpected Redis reply to the limit script: %.*s",
                        (int)SL_MIN(reply->str.len, 200),
                        reply->str.ptr != NULL ? reply->str.ptr : "?");
        SL_UNUSED(why);
        call_failed(bs);
    }
    free(c);
    retry_waiters(rr, bs, !ok);
}

/* ---- reservations ---- */

static void wait_on(struct bstate *bs, struct op *op, unsigned layer)
{
    if (bs->nwaiters == bs->capwaiters) {
        bs->capwaiters = SL_MAX(bs->capwaiters * 2, 4);
        bs->waiters = sl_xrealloc(bs->waiters, bs->capwaiters * sizeof(*bs->waiters));
    }
    bs->waiters[bs->nwaiters++] = (struct waiter){op, layer};
    op->waiting++;
}

int sl__rl_redis_reserve(struct sl_rl_worker *w, struct sl_reservation *r, int64_t now_s)
{
    struct sl__rl_redis *rr = w->redis;
    uint64_t now = mono_ms(rr);
    bool need[SL_RL_MAX_LAYERS] = {false};
    bool any = false;
    int rc;
    if (!rr->up && !rr->down) {
        struct op *op = sl_xcalloc(1, sizeof(*op));
        op->rr = rr;
        op->r = r;
        r->_op = op;
        op->next = rr->first_waiters;
        rr->first_waiters = op;
        return SL_AGAIN;
    }
    for (unsigned i = 0; i < r->n; i++) {
        enum verdict v = try_layer(rr, r, i, now, now_s, 0);
        if (v == V_REFUSE) {
            undo_all(rr, r);
            return SL_DECLINED;
        }
        need[i] = v == V_NEED;
        any = any || need[i];
    }
    if (!any)
        return SL_OK;
    /* Redis unreachable: what the leases cover passed above; the rest is decided here. */
    if (!rr->up) {
        fallback(rr, r, now_s, &rc);
        return rc;
    }
    struct op *op = sl_xcalloc(1, sizeof(*op));
    op->rr = rr;
    op->r = r;
    r->_op = op;
    for (unsigned i = 0; i < r->n; i++) {
        if (need[i])
            wait_on(known_state(rr, r->layers[i].bucket), op, i);
    }
    for (unsigned i = 0; i < r->n; i++) {
        struct bstate *bs = known_state(rr, r->layers[i].bucket);
        if (need[i] && !bs->calling)
            call_bucket(rr, bs, false);
    }
    return SL_AGAIN;
}

void sl__rl_redis_abandon(struct sl_rl_worker *w, struct sl_reservation *r)
{
    struct op *op = r->_op;
    if (op == NULL)
        return;
    /* What the reservation took so far goes back now; replies still coming for it are applied
     * to the worker's leases and then dropped with the op. */
    undo_all(w->redis, r);
    op->r = NULL;
    r->_op = NULL;
}

static void schedule_urgent(struct sl__rl_redis *rr)
{
    if (!h2o_timeout_is_linked(&rr->urgent_entry))
        h2o_timeout_link(rr->loop, &rr->zero, &rr->urgent_entry);
}

void sl__rl_redis_release(struct sl_rl_worker *w, struct sl_reservation *r, int64_t now_s)
{
    struct sl__rl_redis *rr = w->redis;
    SL_UNUSED(now_s);
    for (unsigned i = 0; i < r->n; i++) {
        struct sl_rl_layer *layer = &r->layers[i];
        if (layer->_conc == SL_RL_TAKE_MEMORY) {
            atomic_fetch_sub_explicit(&layer->bucket->inflight, 1, memory_order_relaxed);
        } else if (layer->_conc == SL_RL_TAKE_LEASE) {
            struct bstate *bs = known_state(rr, layer->bucket);
            bs->conc.inuse--;
            activate(rr, bs);
            /* More spare slots than a lease's worth go back at once: other workers may be
             * waiting for them. */
            if (bs->conc.held > bs->conc.inuse + sl__rl_lease_max(bs->lim.concurrency) - 1)
                schedule_urgent(rr);
        }
        layer->_conc = SL_RL_TAKE_NONE;
    }
}

void sl__rl_redis_add(struct sl_rl_worker *w, const struct sl_rl_layer *layer, int64_t now,
                      uint64_t tokens, uint64_t cost_nusd)
{
    struct sl__rl_redis *rr = w->redis;
    struct bstate *bs = state_of(rr, layer);
    /* The process's counters too: they hold this worker's recent use if Redis goes away. */
    sl__rl_memory_add(layer, now, tokens, cost_nusd);
    for (enum sl_rl_dim d = SL_RL_TPM; d < SL_RL_DIMS && tokens != 0; d++) {
        if ((bs->lim.set & (1u << d)) != 0)
            bs->tok[d - SL_RL_TPM].pending += tokens;
    }
    if (layer->budget != NULL)
        bs->usd.pending += cost_nusd;
    activate(rr, bs);
}

void sl__rl_redis_peek(struct sl_rl_worker *w, const struct sl_rl_layer *layer, int64_t now_s,
                       struct sl_rl_status *out)
{
    struct sl__rl_redis *rr = w->redis;
    struct bstate *bs = state_of(rr, layer);
    const struct sl_rate_limit *lim = layer->limits;
    uint64_t now = mono_ms(rr);
    uint64_t minute_left = 60 - (uint64_t)now_s % 60;
    if (lim->set & (1u << SL_RL_RPM)) {
        const struct lease *ls = &bs->req[SL_RL_RPM];
        uint64_t own = lease_valid(ls, now) ? ls->prepaid + ls->leased : 0;
        uint64_t counted = lease_valid(ls, now) ? ls->counted : 0;
        uint64_t limit = lim->max[SL_RL_RPM];
        out->has_rpm = true;
        out->rpm_limit = limit;
        out->rpm_remaining = (counted < limit ? limit - counted : 0) + own;
        out->rpm_reset_secs = minute_left;
    }
    if (lim->set & (1u << SL_RL_TPM)) {
        const struct count *ct = &bs->tok[0];
        uint64_t used = (now < ct->deadline_ms ? ct->value : 0) + ct->pending + ct->sending;
        out->has_tpm = true;
        out->tpm_limit = lim->max[SL_RL_TPM];
        out->tpm_remaining = used < out->tpm_limit ? out->tpm_limit - used : 0;
        out->tpm_reset_secs = minute_left;
    }
    if (lim->has_concurrency) {
        uint64_t used = bs->conc.others_inuse + bs->conc.inuse;
        out->has_concurrency = true;
        out->concurrency_limit = lim->concurrency;
        out->concurrency_remaining = used < lim->concurrency ? lim->concurrency - used : 0;
    }
}

/* ---- the flush: reports, additions, refreshes, idle returns ---- */

static bool has_news(const struct bstate *bs, uint64_t now, uint64_t ttl_ms)
{
    for (unsigned d = 0; d < SL_RL_REQUEST_DIMS; d++) {
        if (lease_valid(&bs->req[d], now) && bs->req[d].spent != 0)
            return true;
    }
    if (bs->tok[0].pending + bs->tok[1].pending + bs->usd.pending != 0)
        return true;
    const struct conc *cc = &bs->conc;
    uint32_t lease = sl__rl_lease_max(bs->lim.concurrency);
    return cc->held > cc->inuse + lease - 1 || cc->inuse != cc->reported_inuse ||
           (cc->held != 0 && now - cc->reported_ms >= ttl_ms / 3);
}

static bool has_unspent(const struct bstate *bs, uint64_t now)
{
    for (unsigned d = 0; d < SL_RL_REQUEST_DIMS; d++) {
        const struct lease *ls = &bs->req[d];
        if (lease_valid(ls, now) && ls->prepaid + ls->leased != 0)
            return true;
    }
    return bs->conc.held > bs->conc.inuse;
}

/* Busy token buckets are kept fresh, so their requests do not wait for a refresh. */
static bool wants_refresh(const struct bstate *bs, uint64_t now)
{
    bool counts = (bs->lim.set & ((1u << SL_RL_TPM) | (1u << SL_RL_TPD))) != 0 || bs->has_budget;
    return counts && now - bs->used_ms < 1000 &&
           (now - bs->tok[0].synced_ms >= SYNC_MS / 2 ||
            now - bs->tok[1].synced_ms >= SYNC_MS / 2 || now - bs->usd.synced_ms >= SYNC_MS / 2);
}

static void flush_buckets(struct sl__rl_redis *rr)
{
    uint64_t now = mono_ms(rr), ttl_ms = rr->cfg->ratelimit.concurrency_ttl_secs * 1000;
    if (!rr->up)
        return;
    for (size_t i = 0; i < rr->nactive;) {
        struct bstate *bs = rr->active[i];
        bool idle = now - bs->used_ms >= IDLE_MS;
        if (!bs->calling) {
            if (idle && has_unspent(bs, now))
                call_bucket(rr, bs, true);
            else if (has_news(bs, now, ttl_ms) || wants_refresh(bs, now))
                call_bucket(rr, bs, false);
        }
        bool done = idle && !bs->calling && !has_unspent(bs, now) && !has_news(bs, now, ttl_ms) &&
                    bs->conc.held == 0;
        if (done) {
            bs->active = false;
            rr->active[i] = rr->active[--rr->nactive];
            continue;
        }
        i++;
    }
}

static void on_flush(h2o_timeout_entry_t *e)
{
    struct sl__rl_redis *rr = SL_CONTAINER_OF(e, struct sl__rl_redis, flush_entry);
    flush_buckets(rr);
    h2o_timeout_link(rr->loop, &rr->flush_timeout, &rr->flush_entry);
}

static void on_urgent(h2o_timeout_entry_t *e)
{
    struct sl__rl_redis *rr = SL_CONTAINER_OF(e, struct sl__rl_redis, urgent_entry);
    while (rr->failed != NULL) {
        struct call *c = rr->failed;
        rr->failed = c->next;
        on_reply(c, NULL, "Redis is not connected");
    }
    flush_buckets(rr);
}

/* The first connection attempt ended: reservations that waited for it go on. */
static void release_first_waiters(struct sl__rl_redis *rr)
{
    struct op *op = rr->first_waiters;
    rr->first_waiters = NULL;
    while (op != NULL) {
        struct op *next = op->next;
        struct sl_reservation *r = op->r;
        free(op);
        if (r != NULL) {
            int64_t now_s = rr->l->now_ms() / 1000;
            r->_op = NULL;
            int rc = sl__rl_redis_reserve(rr->w, r, now_s);
            if (rc != SL_AGAIN)
                sl__rl_decided(rr->w, r, rc);
        }
        op = next;
    }
}

/* ---- connection state: one log line per outage, process-wide ---- */

static void forget_leases(struct sl__rl_redis *rr)
{
    /* A new connection may reach a Redis that lost its data: start from what it says. Unsent
     * additions are kept and sent. */
    for (uint32_t i = 0; i < rr->cap; i++) {
        struct bstate *bs = rr->by_idx[i];
        if (bs == NULL)
            continue;
        for (unsigned d = 0; d < SL_RL_REQUEST_DIMS; d++)
            bs->req[d] = (struct lease){0};
        bs->tok[0].synced_ms = bs->tok[1].synced_ms = bs->usd.synced_ms = 0;
        /* Slots in use stay held: the next report tells the new connection's Redis. */
        bs->conc.held = bs->conc.inuse;
        bs->conc.reported_held = bs->conc.reported_inuse = 0;
        if (bs->conc.held != 0)
            activate(rr, bs);
    }
}

static void on_state(void *ud, bool up, const char *why)
{
    struct sl__rl_redis *rr = ud;
    struct sl_limiter *l = rr->l;
    const struct sl_redis_config *rc = &rr->cfg->ratelimit.redis;
    if (up) {
        forget_leases(rr);
        rr->up = true;
        atomic_fetch_add(&l->workers_up, 1);
        if (rr->down && atomic_fetch_sub(&l->workers_down, 1) == 1) {
            int64_t since = atomic_load(&l->outage_since_ms);
            sl_log_info("ratelimit: Redis at %s:%u is reachable again after %.1f s; limits are "
                        "shared again",
                        rc->host, rc->port, (double)(l->now_ms() - since) / 1000);
        }
        rr->down = false;
        release_first_waiters(rr);
        return;
    }
    atomic_fetch_add_explicit(&l->redis_failures, 1, memory_order_relaxed);
    if (rr->up)
        atomic_fetch_sub(&l->workers_up, 1);
    rr->up = false;
    if (rr->down)
        return;
    rr->down = true;
    release_first_waiters(rr);
    if (atomic_fetch_add(&l->workers_down, 1) == 0) {
        atomic_store(&l->outage_since_ms, l->now_ms());
        sl_log_warn("ratelimit: Redis at %s:%u is unreachable (%s); %s until it is back "
                    "(ratelimit.redis.on_error: %s)",
                    rc->host, rc->port, why,
                    rc->deny_on_error ? "requests that need it are refused with 503"
                                      : "limits are counted in this process only",
                    rc->deny_on_error ? "deny" : "allow");
    }
}

/* ---- the worker's backend ---- */

struct sl__rl_redis *sl__rl_redis_new(struct sl_rl_worker *w)
{
    struct sl__rl_redis *rr = sl_xcalloc(1, sizeof(*rr));
    rr->w = w;
    rr->l = w->l;
    rr->cfg = w->l->cfg;
    rr->loop = w->ctx->loop;
    snprintf(rr->member, sizeof(rr->member), "%s:%u", w->l->instance, w->id);
    size_t len = 1;
    for (size_t i = 0; sl__rl_lua[i] != NULL; i++)
        len += strlen(sl__rl_lua[i]);
    rr->lua = sl_xmalloc(len);
    rr->lua[0] = '\0';
    for (size_t i = 0, o = 0; sl__rl_lua[i] != NULL; i++) {
        size_t n = strlen(sl__rl_lua[i]);
        memcpy(rr->lua + o, sl__rl_lua[i], n + 1);
        o += n;
    }
    sl_redis_script_init(&rr->script, rr->lua);
    rr->scripts[0] = &rr->script;
    h2o_timeout_init(rr->loop, &rr->flush_timeout, FLUSH_MS);
    h2o_timeout_init(rr->loop, &rr->zero, 0);
    rr->flush_entry.cb = on_flush;
    rr->urgent_entry.cb = on_urgent;
    h2o_timeout_link(rr->loop, &rr->flush_timeout, &rr->flush_entry);
    /* Until the first connection is ready, requests count in this process; that is an outage
     * only once an attempt has failed. */
    rr->client = sl_redis_new(w->ctx, &rr->cfg->ratelimit.redis, rr->scripts, 1, on_state, rr);
    return rr;
}

void sl__rl_redis_free(struct sl__rl_redis *rr)
{
    if (rr == NULL)
        return;
    sl_redis_free(rr->client);
    if (h2o_timeout_is_linked(&rr->flush_entry))
        h2o_timeout_unlink(&rr->flush_entry);
    if (h2o_timeout_is_linked(&rr->urgent_entry))
        h2o_timeout_unlink(&rr->urgent_entry);
    h2o_timeout_dispose(rr->loop, &rr->flush_timeout);
    h2o_timeout_dispose(rr->loop, &rr->zero);
    for (uint32_t i = 0; i < rr->cap; i++) {
        if (rr->by_idx[i] == NULL)
            continue;
        free(rr->by_idx[i]->key);
        free(rr->by_idx[i]->waiters);
        free(rr->by_idx[i]);
    }
    free(rr->by_idx);
    free(rr->active);
    free(rr->lua);
    if (rr->up)
        atomic_fetch_sub(&rr->l->workers_up, 1);
    if (rr->down)
        atomic_fetch_sub(&rr->l->workers_down, 1);
    free(rr);
}
