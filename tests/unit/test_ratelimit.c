/* The limiter's pieces without a server: window counters and the bucket store, the lease
 * arithmetic (simulated fleets, exhaustively for small ones: never over the bound, never a
 * refusal below the limit), budget periods and prices, which layers a request meets (policies,
 * conditions, schedules, group_by), and the memory backend's all-or-nothing reservations. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/config.h"
#include "sluice/diag.h"
#include "sluice/ratelimit.h"
#include "sluice/resources.h"
#include "sluice/tz.h"

#include "../../src/policy/ratelimit_internal.h"

int main(void);

/* ---- window counters ---- */

static void test_counters(void **state)
{
    (void)state;
    _Atomic uint64_t c = 0;
    for (int i = 0; i < 3; i++)
        assert_true(sl__rl_counter_take(&c, 100, 3));
    assert_false(sl__rl_counter_take(&c, 100, 3));
    assert_int_equal(sl__rl_counter_read(&c, 100), 3);
    /* The next window starts from zero; the old one reads as empty. */
    assert_int_equal(sl__rl_counter_read(&c, 101), 0);
    assert_true(sl__rl_counter_take(&c, 101, 3));
    assert_int_equal(sl__rl_counter_read(&c, 100), 0);
    /* Taking back a unit of a window that rolled over changes nothing. */
    sl__rl_counter_untake(&c, 100);
    assert_int_equal(sl__rl_counter_read(&c, 101), 1);
    sl__rl_counter_untake(&c, 101);
    sl__rl_counter_untake(&c, 101);
    assert_int_equal(sl__rl_counter_read(&c, 101), 0);
    /* A limit of 0 refuses everything. */
    assert_false(sl__rl_counter_take(&c, 101, 0));
    /* Additions saturate at 40 bits instead of wrapping into the window number. */
    sl__rl_counter_add(&c, 102, SL__RL_COUNT_MAX - 1);
    sl__rl_counter_add(&c, 102, 10);
    assert_int_equal(sl__rl_counter_read(&c, 102), SL__RL_COUNT_MAX);
    assert_false(sl__rl_counter_take(&c, 102, UINT64_MAX));
    /* Window numbers compare on 24 bits. */
    assert_int_equal(sl__rl_counter_read(&c, 102 + (1u << 24)), SL__RL_COUNT_MAX);

    _Atomic uint64_t s = 0;
    sl__rl_spend_add(&s, 7, 5);
    sl__rl_spend_add(&s, 7, 6);
    assert_int_equal(sl__rl_spend_read(&s, 7), 11);
    assert_int_equal(sl__rl_spend_read(&s, 8), 0);
    sl__rl_spend_add(&s, 8, SL__RL_SPEND_MAX);
    sl__rl_spend_add(&s, 8, 1);
    assert_int_equal(sl__rl_spend_read(&s, 8), SL__RL_SPEND_MAX);
}

/* ---- the store ---- */

struct store_run {
    struct sl__rl_store *s;
    unsigned seed;
    struct sl_rl_bucket *seen[512];
};

static void *store_thread(void *arg)
{
    struct store_run *r = arg;
    char name[32];
    for (unsigned i = 0; i < 512; i++) {
        unsigned k = (i * 7 + r->seed) % 512;
        int n = snprintf(name, sizeof(name), "b:%u", k);
        r->seen[k] = sl__rl_store_get(r->s, sl_str_init(name, (size_t)n));
    }
    return NULL;
}

static void test_store(void **state)
{
    (void)state;
    struct sl__rl_store s;
    sl__rl_store_init(&s);
    struct sl_rl_bucket *a = sl__rl_store_get(&s, SL_STRLIT("k:alice"));
    assert_ptr_equal(sl__rl_store_get(&s, SL_STRLIT("k:alice")), a);
    assert_ptr_not_equal(sl__rl_store_get(&s, SL_STRLIT("k:alicf")), a);
    assert_string_equal(a->name, "k:alice");
    sl__rl_store_dispose(&s);

    /* Four threads insert the same 512 names in different orders while the table grows: each
     * name gets exactly one bucket, and indexes are dense. */
    sl__rl_store_init(&s);
    struct store_run runs[4];
    pthread_t t[4];
    for (unsigned i = 0; i < 4; i++) {
        runs[i] = (struct store_run){.s = &s, .seed = i * 131};
        pthread_create(&t[i], NULL, store_thread, &runs[i]);
    }
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    bool idx_seen[512] = {false};
    for (unsigned k = 0; k < 512; k++) {
        for (unsigned i = 1; i < 4; i++)
            assert_ptr_equal(runs[i].seen[k], runs[0].seen[k]);
        assert_true(runs[0].seen[k]->idx < 512);
        assert_false(idx_seen[runs[0].seen[k]->idx]);
        idx_seen[runs[0].seen[k]->idx] = true;
    }
    assert_int_equal(sl__rl_store_count(&s), 512);
    sl__rl_store_dispose(&s);
}

/* ---- lease arithmetic ---- */

static void test_lease_sizes(void **state)
{
    (void)state;
    assert_int_equal(sl__rl_lease_max(0), 1);
    assert_int_equal(sl__rl_lease_max(20), 1);
    assert_int_equal(sl__rl_lease_max(511), 1);
    assert_int_equal(sl__rl_lease_max(600), 2);
    assert_int_equal(sl__rl_lease_max(100000), 390);
    assert_int_equal(sl__rl_lease_max(UINT64_MAX), SL__RL_LEASE_CAP);
    /* What a worker asks for follows its own rate (100 ms of it), within 1 .. the maximum. */
    assert_int_equal(sl__rl_lease_want(20, 1000), 1);
    assert_int_equal(sl__rl_lease_want(100000, 0), 1);
    assert_int_equal(sl__rl_lease_want(100000, 1000), 100);
    assert_int_equal(sl__rl_lease_want(100000, 1000000), 390);
}

static void test_lease_grant(void **state)
{
    (void)state;
    uint64_t c = 0, u = 0;
    bool over;
    assert_int_equal(sl__rl_lease_grant(&c, &u, 10, 4, &over), 4);
    assert_false(over);
    assert_true(c == 4 && u == 3); /* one unit is the asking request's: known at once */
    assert_int_equal(sl__rl_lease_grant(&c, &u, 10, 8, &over), 6);
    assert_true(c == 10 && u == 8);
    /* Full, but 8 units may sit unspent: one request more, past the limit. */
    assert_int_equal(sl__rl_lease_grant(&c, &u, 10, 4, &over), 1);
    assert_true(over && c == 11 && u == 8);
    /* The holders report 8 spent: 11 admissions known, none outstanding: refused. */
    sl__rl_lease_settle(&c, &u, 8, 0, 0);
    assert_true(c == 11 && u == 0);
    assert_int_equal(sl__rl_lease_grant(&c, &u, 10, 1, &over), 0);
    /* Returns and refunds free units again; settling never goes below zero. */
    c = 10;
    u = 5;
    sl__rl_lease_settle(&c, &u, 1, 4, 2);
    assert_true(c == 4 && u == 0);
    sl__rl_lease_settle(&c, &u, 9, 9, 9);
    assert_true(c == 0 && u == 0);
    assert_int_equal(sl__rl_lease_grant(&c, &u, 0, 1, &over), 0); /* a limit of 0 */
}

/* A simulated fleet running the redis backend's protocol (ratelimit_redis.c) on one window:
 * workers spend prepaid units first, then leased ones; a worker with nothing left asks Redis
 * (reporting what it spent in the same call); an idle worker reports and returns everything. */
struct sim_worker {
    uint64_t prepaid, leased, spent;
};

struct sim {
    uint64_t c, u, limit, admitted, refused_below;
    unsigned n;
    struct sim_worker w[8];
};

static void sim_settle(struct sim *s, struct sim_worker *w, bool give_back)
{
    uint64_t ret = give_back ? w->leased : 0, refund = give_back ? w->prepaid : 0;
    sl__rl_lease_settle(&s->c, &s->u, w->spent, ret, refund);
    w->spent = 0;
    w->leased -= ret;
    w->prepaid -= refund;
}

/* One request at worker i; want: what the worker would ask for. */
static void sim_request(struct sim *s, unsigned i, uint64_t want)
{
    struct sim_worker *w = &s->w[i];
    if (w->prepaid > 0) {
        w->prepaid--;
        s->admitted++;
        return;
    }
    if (w->leased > 0) {
        w->leased--;
        w->spent++;
        s->admitted++;
        return;
    }
    sim_settle(s, w, false);
    bool over;
    uint64_t g = sl__rl_lease_grant(&s->c, &s->u, s->limit, want, &over);
    if (g == 0) {
        if (s->admitted < s->limit)
            s->refused_below++;
        return;
    }
    w->leased += g - 1; /* the first unit is this request's (prepaid, spent now) */
    s->admitted++;
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void check_sim(const struct sim *s, uint64_t lease)
{
    uint64_t bound = (uint64_t)(s->n - 1) * (lease - 1);
    if (s->admitted > s->limit + bound)
        fail_msg("limit %llu, %u workers, lease %llu: %llu admitted, bound %llu",
                 (unsigned long long)s->limit, s->n, (unsigned long long)lease,
                 (unsigned long long)s->admitted, (unsigned long long)bound);
    if (s->refused_below != 0)
        fail_msg("limit %llu, %u workers: a request refused with %llu admitted",
                 (unsigned long long)s->limit, s->n, (unsigned long long)s->admitted);
}

/* Random fleets: 1..8 workers, limits 0..3000, leases sized by the rule or forced large,
 * idle returns at random; 3x the limit in requests so every window fills. */
static void test_lease_fleets_random(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int run = 0; run < 20000; run++) {
        struct sim s = {.n = (unsigned)(1 + next_rand(&x) % 8)};
        s.limit = next_rand(&x) % 3001;
        uint64_t lease =
            next_rand(&x) % 4 == 0 ? 1 + next_rand(&x) % 64 : sl__rl_lease_max(s.limit);
        uint64_t total = 3 * s.limit + 10;
        for (uint64_t k = 0; k < total; k++) {
            unsigned i = (unsigned)(next_rand(&x) % s.n);
            if (next_rand(&x) % 16 == 0)
                sim_settle(&s, &s.w[i], true); /* worker i went idle */
            sim_request(&s, i, 1 + next_rand(&x) % lease);
        }
        check_sim(&s, lease);
        if (s.admitted < s.limit)
            fail_msg("limit %llu: only %llu admitted of %llu requests", (unsigned long long)s.limit,
                     (unsigned long long)s.admitted, (unsigned long long)total);
    }
}

/* Every interleaving of a small fleet: 2 or 3 workers, limits 0..5, leases 1..3, each step a
 * request at some worker, or that worker going idle. */
struct exhaustive {
    uint64_t lease;
    unsigned steps;
    uint64_t checked;
};

static void explore(struct exhaustive *e, const struct sim *s, unsigned depth)
{
    check_sim(s, e->lease);
    e->checked++;
    if (depth == e->steps)
        return;
    for (unsigned i = 0; i < s->n; i++) {
        for (int idle = 0; idle <= 1; idle++) {
            struct sim next = *s;
            if (idle)
                sim_settle(&next, &next.w[i], true);
            else
                sim_request(&next, i, e->lease);
            explore(e, &next, depth + 1);
        }
    }
}

static void test_lease_fleets_exhaustive(void **state)
{
    (void)state;
    uint64_t total = 0;
    for (unsigned n = 2; n <= 3; n++) {
        for (uint64_t limit = 0; limit <= 5; limit++) {
            for (uint64_t lease = 1; lease <= 3; lease++) {
                struct exhaustive e = {.lease = lease, .steps = n == 2 ? 9 : 6};
                struct sim s = {.n = n, .limit = limit};
                explore(&e, &s, 0);
                total += e.checked;
            }
        }
    }
    print_message("%llu fleet states checked\n", (unsigned long long)total);
}

/* ---- cost and budget periods ---- */

static void test_cost_and_periods(void **state)
{
    (void)state;
    struct sl_model_cost c = {.set = true, .input_per_1k = 0.0025, .output_per_1k = 0.01};
    assert_int_equal(sl_cost_nusd(&c, 1000, 1000), 12500000); /* $0.0125 */
    assert_int_equal(sl_cost_nusd(&c, 1, 0), 2500);
    c = (struct sl_model_cost){.set = true, .input_per_1k = 0.00015, .output_per_1k = 0.0006};
    assert_int_equal(sl_cost_nusd(&c, 1, 1), 750); /* fractions of a micro-dollar add up */
    c.set = false;
    assert_int_equal(sl_cost_nusd(&c, 1000, 1000), 0);
    int64_t end;
    /* 2026-12-01T23:00:00Z is a Tuesday. */
    int64_t t = sl_days_from_civil(2026, 12, 1) * 86400 + 23 * 3600;
    assert_int_equal(sl_budget_period(SL_BUDGET_DAY, t, &end), sl_days_from_civil(2026, 12, 1));
    assert_int_equal(end, sl_days_from_civil(2026, 12, 2) * 86400);
    uint32_t wk = sl_budget_period(SL_BUDGET_WEEK, t, &end);
    assert_int_equal(end, sl_days_from_civil(2026, 12, 7) * 86400); /* the next Monday */
    assert_int_equal(sl_budget_period(SL_BUDGET_WEEK, end - 1, &end), wk);
    assert_int_equal(sl_budget_period(SL_BUDGET_WEEK, end, &end), wk + 1);
    assert_int_equal(sl_budget_period(SL_BUDGET_MONTH, t, &end), (2026 - 1970) * 12 + 11);
    assert_int_equal(end, sl_days_from_civil(2027, 1, 1) * 86400);
    t = sl_days_from_civil(2028, 2, 29) * 86400;
    sl_budget_period(SL_BUDGET_MONTH, t, &end);
    assert_int_equal(end, sl_days_from_civil(2028, 3, 1) * 86400);
    /* Before 1970 the arithmetic still floors. */
    assert_int_equal((int32_t)sl_budget_period(SL_BUDGET_DAY, -1, &end), -1);
    assert_int_equal(end, 0);
}

/* ---- planning and the memory backend ---- */

static char k1[] = "K1=sk-one", k2[] = "K2=sk-two", k3[] = "K3=sk-three";
static char *const env[] = {k1, k2, k3, NULL};

static struct sl_resources *load(const char *yaml)
{
    struct sl_resources *r = NULL;
    struct sl_diag d;
    sl_diag_init(&d, "r.yaml");
    int rc = sl_resources_parse(yaml, strlen(yaml), "r.yaml", env, &r, &d);
    if (rc != SL_OK)
        sl_diag_print(&d, stderr);
    assert_int_equal(rc, SL_OK);
    sl_diag_dispose(&d);
    return r;
}

static int64_t fake_now_ms;

static int64_t fake_clock(void)
{
    return fake_now_ms;
}

static struct sl_limiter *memory_limiter(struct sl_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ratelimit.backend = SL_RL_BACKEND_MEMORY;
    struct sl_limiter *l = sl_limiter_new(cfg);
    l->now_ms = fake_clock;
    return l;
}

static const char base_yaml[] =
    "_format_version: \"1\"\n"
    "provider_keys:\n"
    "  - {display_name: p, provider: openai, api_key: x, api_base: \"http://127.0.0.1:1/v1\"}\n"
    "models:\n"
    "  - {display_name: gpt-4o, provider_key: p, model_name: gpt-4o, rate_limit: {rpm: 2}}\n"
    "  - {display_name: mock-*, provider_key: p, model_name: up-*, provider: mockco}\n"
    "  - {display_name: plain, provider_key: p, model_name: plain}\n"
    "api_keys:\n"
    "  - {display_name: one, key_env: K1, allowed_models: [\"*\"], team_id: t1, user_id: u1,\n"
    "     rate_limit: {rpm: 3, tpm: 100, concurrency: 2}, budget: {limit_usd: 1, window: day}}\n"
    "  - {display_name: two, key_env: K2, allowed_models: [\"*\"], team_id: t1}\n"
    "  - {display_name: three, key_env: K3, allowed_models: [\"*\"], team_id: \"t:2\", user_id: "
    "u3}\n"
    "rate_limit_policies:\n"
    "  - {name: team, scope: team, scope_ref: t1, window: minute, max_requests: 100}\n"
    "  - {name: members, scope: team_member, scope_ref: t1, window: day, max_requests: 100}\n"
    "  - {name: on-model, scope: model, scope_ref: gpt-4o, window: minute, max_requests: 100}\n"
    "  - name: cond\n"
    "    conditions:\n"
    "      - logic: or\n"
    "        children:\n"
    "          - {dimension: model_name, operator: \"~*\", value: \"^MOCK-\"}\n"
    "          - {dimension: model, operator: \"==\", value: plain}\n"
    "      - {dimension: member, operator: \"~=\", value: u1}\n"
    "    group_by: [team, model]\n"
    "    limits: {rpd: 5}\n"
    "  - name: negated\n"
    "    conditions: [{dimension: team, operator: in, value: [t1], negate: true}]\n"
    "    limits: {rps: 9}\n"
    "  - name: sleeping\n"
    "    scope: api_key\n"
    "    scope_ref: one\n"
    "    window: day\n"
    "    max_requests: 1\n"
    "    schedules:\n"
    "      - {timezone: UTC, days_of_week: [tue], start_time: \"22:00\", end_time: \"06:00\"}\n";

static unsigned plan(struct sl_rl_worker *w, struct sl_reservation *r,
                     const struct sl_resources *res, const char *key, const char *model,
                     const char *alias, enum sl_rl_phase phase, bool defer, int64_t now)
{
    const struct sl_api_key *k = NULL;
    for (size_t i = 0; i < res->n_api_keys; i++)
        k = strcmp(res->api_keys[i].name, key) == 0 ? &res->api_keys[i] : k;
    struct sl_rl_subject s = {.key = k,
                              .model = sl_resources_resolve(res, sl_str_from_cstr(alias), NULL),
                              .alias = sl_str_from_cstr(alias)};
    assert_non_null(s.key);
    assert_non_null(s.model);
    assert_string_equal(s.model->name, model);
    memset(r, 0, sizeof(*r));
    return sl_rl_plan(w, r, res, &s, phase, defer, now);
}

static void assert_buckets(const struct sl_reservation *r, const char *const *want)
{
    unsigned n = 0;
    while (want[n] != NULL)
        n++;
    for (unsigned i = 0; i < r->n && i < n; i++)
        assert_string_equal(r->layers[i].bucket->name, want[i]);
    if (r->n != n) {
        for (unsigned i = 0; i < r->n; i++)
            print_message("layer %u: %s\n", i, r->layers[i].bucket->name);
        fail_msg("%u layers, want %u", r->n, n);
    }
}

static void test_plan(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_limiter *l = memory_limiter(&cfg);
    struct sl_rl_worker *w = sl_rl_worker_new(l, NULL, NULL);
    struct sl_resources *res = load(base_yaml);
    struct sl_reservation r;
    /* 2026-12-01 (a Tuesday) 12:00Z: "sleeping" is awake. */
    int64_t noon = sl_days_from_civil(2026, 12, 1) * 86400 + 12 * 3600;

    plan(w, &r, res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false, noon);
    assert_buckets(&r, (const char *[]){"k:one", "m:gpt-4o", "p:team:team=t1",
                                        "p:members:team_member=t1:member=u1",
                                        "p:on-model:model=gpt-4o", "p:sleeping:api_key=one", NULL});
    assert_non_null(r.layers[0].budget);
    assert_int_equal(r.layers[5].kind, SL_RL_LAYER_POLICY);
    assert_string_equal(r.layers[5].policy->name, "sleeping");
    /* Tuesday 23:00Z is inside the window 22:00-06:00 that starts on Tuesday; so is Wednesday
     * 05:59, but not Wednesday 06:00. */
    plan(w, &r, res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false, noon + 11 * 3600);
    assert_int_equal(r.n, 5);
    plan(w, &r, res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false,
         noon + 17 * 3600 + 59 * 60);
    assert_int_equal(r.n, 5);
    plan(w, &r, res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false, noon + 18 * 3600);
    assert_int_equal(r.n, 6);

    /* Key two: in team t1 without a user_id (no team_member bucket); "cond" matches the
     * wildcard alias case-insensitively (member is absent, so the ~= leaf is false: no). */
    plan(w, &r, res, "two", "mock-*", "mock-x", SL_RL_PHASE_REQUEST, false, noon);
    assert_buckets(&r, (const char *[]){"p:team:team=t1", NULL});
    /* Key three: team "t:2" escaped in its bucket; member u3 ~= u1 holds; not in t1, so the
     * negated policy applies. */
    plan(w, &r, res, "three", "mock-*", "mock-y", SL_RL_PHASE_REQUEST, false, noon);
    assert_buckets(&r, (const char *[]){"p:cond:team=t%3A2:model=mock-*", "p:negated", NULL});
    plan(w, &r, res, "three", "plain", "plain", SL_RL_PHASE_REQUEST, false, noon);
    assert_buckets(&r, (const char *[]){"p:cond:team=t%3A2:model=plain", "p:negated", NULL});

    /* A routing parent defers the policies that follow the model to its targets; a target
     * reserves its own model limits and those policies, never the key's. */
    plan(w, &r, res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, true, noon);
    assert_buckets(&r, (const char *[]){"k:one", "m:gpt-4o", "p:team:team=t1",
                                        "p:members:team_member=t1:member=u1",
                                        "p:sleeping:api_key=one", NULL});
    plan(w, &r, res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_TARGET, false, noon);
    assert_buckets(&r, (const char *[]){"m:gpt-4o", "p:on-model:model=gpt-4o", NULL});

    sl_resources_free(res);
    sl_rl_worker_free(w);
    sl_limiter_free(l);
}

/* Routing targets: model and model_name match the target or its parent; ~= needs both to
 * differ, so it stays the negation of ==. */
static void test_parent_pairs(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_limiter *l = memory_limiter(&cfg);
    struct sl_rl_worker *w = sl_rl_worker_new(l, NULL, NULL);
    struct sl_resources *res = load(
        "_format_version: \"1\"\n"
        "provider_keys:\n"
        "  - {display_name: p, provider: openai, api_key: x, api_base: \"http://127.0.0.1:1\"}\n"
        "models:\n"
        "  - {display_name: group, provider_key: p, model_name: g}\n"
        "  - {display_name: target, provider_key: p, model_name: t}\n"
        "api_keys:\n"
        "  - {display_name: one, key_env: K1, allowed_models: [\"*\"]}\n"
        "rate_limit_policies:\n"
        "  - {name: eq, conditions: [{dimension: model, operator: \"==\", value: group}],"
        " limits: {rpm: 1}}\n"
        "  - {name: ne, conditions: [{dimension: model, operator: \"~=\", value: group}],"
        " limits: {rpm: 1}}\n"
        "  - {name: not-eq, conditions: [{dimension: model, operator: \"==\", value: group,"
        " negate: true}], limits: {rpm: 1}}\n"
        "  - {name: name-re, conditions: [{dimension: model_name, operator: \"~~\","
        " value: \"^tar\"}], limits: {rpm: 1}}\n");
    struct sl_reservation r = {0};
    struct sl_rl_subject s = {.key = &res->api_keys[0],
                              .model = sl_resources_resolve(res, SL_STRLIT("target"), NULL),
                              .alias = SL_STRLIT("target"),
                              .parent = sl_resources_resolve(res, SL_STRLIT("group"), NULL)};
    sl_rl_plan(w, &r, res, &s, SL_RL_PHASE_TARGET, false, 0);
    assert_buckets(&r, (const char *[]){"p:eq", "p:name-re", NULL});
    memset(&r, 0, sizeof(r));
    s.parent = NULL;
    sl_rl_plan(w, &r, res, &s, SL_RL_PHASE_TARGET, false, 0);
    assert_buckets(&r, (const char *[]){"p:ne", "p:not-eq", "p:name-re", NULL});
    sl_resources_free(res);
    sl_rl_worker_free(w);
    sl_limiter_free(l);
}

static int reserve(struct sl_rl_worker *w, struct sl_reservation *r)
{
    return sl_rl_reserve(w, r, NULL, NULL);
}

static void test_memory_backend(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_limiter *l = memory_limiter(&cfg);
    struct sl_rl_worker *w = sl_rl_worker_new(l, NULL, NULL);
    struct sl_resources *res = load(base_yaml);
    struct sl_reservation r[4];
    /* Tuesday 23:00:10Z: the "sleeping" policy (one request a day) is suspended. */
    int64_t t = sl_days_from_civil(2026, 12, 1) * 86400 + 23 * 3600 + 10;
    fake_now_ms = t * 1000;

    /* Model gpt-4o allows 2 a minute, key one 3: the third request is refused by the model
     * layer, and the key's unit it had taken goes back (all-or-nothing). */
    for (int i = 0; i < 2; i++) {
        plan(w, &r[i], res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false, t);
        assert_int_equal(reserve(w, &r[i]), SL_OK);
        assert_int_equal(r[i].state, SL_RL_HELD);
    }
    plan(w, &r[2], res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false, t);
    assert_int_equal(reserve(w, &r[2]), SL_DECLINED);
    assert_int_equal(r[2].refusal.reason, SL_RL_CONCURRENCY); /* two slots held */
    sl_rl_commit(w, &r[0], 10, 0);
    sl_rl_commit(w, &r[1], 10, 0);
    plan(w, &r[2], res, "one", "gpt-4o", "gpt-4o", SL_RL_PHASE_REQUEST, false, t);
    assert_int_equal(reserve(w, &r[2]), SL_DECLINED);
    assert_int_equal(r[2].refusal.reason, SL_RL_REQUESTS);
    assert_int_equal(r[2].refusal.layer, SL_RL_LAYER_MODEL);
    assert_int_equal(r[2].refusal.dim, SL_RL_RPM);
    assert_int_equal(r[2].refusal.retry_after_secs, 50);
    struct sl_rl_status st;
    sl_rl_peek(w, &r[0].layers[0], t, &st);
    assert_true(st.has_rpm && st.rpm_limit == 3 && st.rpm_remaining == 1);
    assert_true(st.has_tpm && st.tpm_remaining == 80);
    assert_true(st.has_concurrency && st.concurrency_remaining == 2);

    /* Tokens are checked, not reserved: past the limit, the next request is refused. */
    plan(w, &r[3], res, "one", "plain", "plain", SL_RL_PHASE_REQUEST, false, t);
    assert_int_equal(reserve(w, &r[3]), SL_OK);
    sl_rl_commit(w, &r[3], 81, 2000000000);
    plan(w, &r[3], res, "one", "plain", "plain", SL_RL_PHASE_REQUEST, false, t);
    assert_int_equal(reserve(w, &r[3]), SL_DECLINED);
    assert_int_equal(r[3].refusal.reason, SL_RL_TOKENS);
    /* The next minute: tokens and requests start over; the budget ($2 spent of $1) holds for
     * the day. */
    t += 60;
    fake_now_ms = t * 1000;
    plan(w, &r[3], res, "one", "plain", "plain", SL_RL_PHASE_REQUEST, false, t);
    assert_int_equal(reserve(w, &r[3]), SL_DECLINED);
    assert_int_equal(r[3].refusal.reason, SL_RL_BUDGET);
    assert_int_equal(r[3].refusal.spent_nusd, 2000000000);
    assert_int_equal(r[3].refusal.limit_nusd, 1000000000);
    assert_int_equal(r[3].refusal.period_end, sl_days_from_civil(2026, 12, 2) * 86400);
    assert_int_equal(r[3].refusal.retry_after_secs, 3600 - 70);
    /* Commit is safe in every state and more than once. */
    sl_rl_commit(w, &r[3], 1, 1);
    sl_rl_commit(w, &r[3], 1, 1);
    assert_int_equal(r[3].state, SL_RL_DONE);

    sl_resources_free(res);
    sl_rl_worker_free(w);
    sl_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_lease_sizes),
        cmocka_unit_test(test_lease_grant),
        cmocka_unit_test(test_lease_fleets_random),
        cmocka_unit_test(test_lease_fleets_exhaustive),
        cmocka_unit_test(test_cost_and_periods),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_parent_pairs),
        cmocka_unit_test(test_memory_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
