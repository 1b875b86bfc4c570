#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/resources.h"
#include "sluice/route.h"

int main(void);

#define HDR                                                                                        \
    "_format_version: \"1\"\n"                                                                     \
    "provider_keys:\n"                                                                             \
    "  - display_name: pk\n"                                                                       \
    "    provider: openai\n"                                                                       \
    "    api_key: sk-x\n"                                                                          \
    "    api_base: http://127.0.0.1:1/v1\n"                                                        \
    "models:\n"

/* A direct model "name" with extra lines (each indented by four spaces). */
static char *direct(const char *name, const char *extra)
{
    return sl_xasprintf("  - display_name: %s\n    provider_key: pk\n    model_name: up-%s\n%s",
                        name, name, extra);
}

static struct sl_resources *load(const char *models, unsigned workers)
{
    char *yaml = sl_xasprintf(HDR "%s", models);
    struct sl_resources *r = NULL;
    struct sl_diag d;
    sl_diag_init(&d, "r.yaml");
    int rc = sl_resources_parse(yaml, strlen(yaml), "r.yaml", NULL, &r, &d);
    if (rc != SL_OK)
        sl_diag_print(&d, stderr);
    assert_int_equal(rc, SL_OK);
    sl_diag_dispose(&d);
    free(yaml);
    assert_int_equal(sl_route_bind(r, workers), SL_OK);
    return r;
}

/* Three direct models a, b, c, then the group g with the given routing block (YAML, indented
 * for "    routing:"), plus more lines for the group. */
static struct sl_resources *group(const char *routing, const char *more, const char *extra_models)
{
    char *a = direct("a", ""), *b = direct("b", ""), *c = direct("c", "");
    char *models = sl_xasprintf("%s%s%s%s  - display_name: g\n%s    routing:\n%s", a, b, c,
                                extra_models, more, routing);
    struct sl_resources *r = load(models, 2);
    free(a);
    free(b);
    free(c);
    free(models);
    return r;
}

/* A plan with room for any group's targets. */
#define PLAN(p)                                                                                    \
    const struct sl_model *p##_room[SL_ROUTE_MAX_TARGETS];                                         \
    struct sl_route_plan p = {.targets = p##_room}

static const struct sl_model *model(const struct sl_resources *r, const char *name)
{
    const struct sl_model *m = sl_resources_resolve(r, sl_str_from_cstr(name), NULL);
    assert_non_null(m);
    return m;
}

/* The plan's target names joined with spaces ("a b c"), or the verdict's name. */
static const char *plan_text(const struct sl_model *g, const struct sl_route_input *in)
{
    static char text[512];
    PLAN(p);
    enum sl_route_verdict v = sl_route_plan(g, in, &p);
    if (v != SL_ROUTE_OK) {
        static const char *const names[] = {"ok", "no-tag-match", "ip-restricted",
                                            "all-unavailable"};
        return names[v];
    }
    size_t o = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < p.n; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", i != 0 ? " " : "",
                              p.targets[i]->name);
    return text;
}

static const char *plan_now(const struct sl_model *g, uint64_t now_ms)
{
    struct sl_route_input in = {.now_ms = now_ms};
    return plan_text(g, &in);
}

static void test_failover_tiers_and_fallbacks(void **state)
{
    (void)state;
    struct sl_resources *r =
        group("      targets: [{model: b}, {model: a, priority: 2}, {model: c}]\n", "", "");
    const struct sl_model *g = model(r, "g");
    /* Higher priority first; within a tier, declaration order. */
    assert_string_equal(plan_now(g, 1000), "a b c");
    sl_resources_free(r);

    r = group("      max_fallbacks: 1\n"
              "      targets: [{model: a}, {model: b}, {model: c}]\n",
              "", "");
    assert_string_equal(plan_now(model(r, "g"), 1000), "a b");
    sl_resources_free(r);
    r = group("      max_fallbacks: 0\n      targets: [{model: a}, {model: b}]\n", "", "");
    assert_string_equal(plan_now(model(r, "g"), 1000), "a");
    sl_resources_free(r);
    /* A direct model is its own plan. */
    r = group("      targets: [{model: a}]\n", "", "");
    assert_string_equal(plan_now(model(r, "b"), 1000), "b");
    sl_resources_free(r);
}

/* Smooth weighted round robin: exact proportions per worker, interleaved, and the attempt order
 * walks on from the pick. 10,000 picks land within one pick of 50/30/20 %. */
static void test_round_robin(void **state)
{
    (void)state;
    struct sl_resources *r = group("      strategy: round_robin\n"
                                   "      targets: [{model: a, weight: 5}, {model: b, weight: 3}, "
                                   "{model: c, weight: 2}]\n",
                                   "", "");
    const struct sl_model *g = model(r, "g");
    int count[2][3] = {{0}};
    for (unsigned w = 0; w < 2; w++) {
        for (int i = 0; i < 10000; i++) {
            struct sl_route_input in = {.worker = w, .now_ms = 1};
            PLAN(p);
            assert_int_equal(sl_route_plan(g, &in, &p), SL_ROUTE_OK);
            assert_int_equal(p.n, 3);
            count[w][p.targets[0]->name[0] - 'a']++;
            /* walk on from the pick, wrapping */
            int first = p.targets[0]->name[0] - 'a';
            assert_int_equal(p.targets[1]->name[0] - 'a', (first + 1) % 3);
            assert_int_equal(p.targets[2]->name[0] - 'a', (first + 2) % 3);
        }
    }
    for (unsigned w = 0; w < 2; w++) {
        assert_int_equal(count[w][0], 5000);
        assert_int_equal(count[w][1], 3000);
        assert_int_equal(count[w][2], 2000);
    }
    sl_resources_free(r);

    /* nginx's example: weights 5, 1, 1 give a a b a c a a. */
    r = group("      strategy: round_robin\n"
              "      targets: [{model: a, weight: 5}, {model: b, weight: 1}, {model: c, weight: "
              "0}]\n",
              "", "");
    char seq[8] = "";
    for (int i = 0; i < 7; i++) {
        struct sl_route_input in = {.now_ms = 1};
        PLAN(p);
        sl_route_plan(model(r, "g"), &in, &p);
        seq[i] = p.targets[0]->name[0];
    }
    assert_string_equal(seq, "aabacaa");
    sl_resources_free(r);
}

static const char *first_for_key(const struct sl_model *g, const char *key, uint64_t now_ms)
{
    struct sl_route_input in = {.hash_key = sl_str_from_cstr(key), .now_ms = now_ms};
    PLAN(p);
    assert_int_equal(sl_route_plan(g, &in, &p), SL_ROUTE_OK);
    return p.targets[0]->name;
}

/* consistent_hash: a key always picks the same target; keys spread by weight; removing a
 * target (a reload without it, or a cooldown) moves only that target's keys. */
static void test_consistent_hash(void **state)
{
    (void)state;
    enum { KEYS = 10000 };
    struct sl_resources *r =
        group("      strategy: consistent_hash\n"
              "      targets: [{model: a}, {model: b}, {model: c, weight: 2}]\n",
              "", "");
    const struct sl_model *g = model(r, "g");
    static char before[KEYS];
    int count[3] = {0};
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        snprintf(key, sizeof(key), "session-%d", k);
        before[k] = first_for_key(g, key, 1)[0];
        count[before[k] - 'a']++;
        assert_int_equal(first_for_key(g, key, 1)[0], before[k]); /* sticky */
    }
    /* Shares follow the weights 1:1:2 within 5 points: ketama's 160 points per unit leave a few
     * points of unevenness (here 25.7, 21.1 and 53.3 %), the reference's trade-off. */
    assert_in_range(count[0], KEYS / 4 - KEYS / 20, KEYS / 4 + KEYS / 20);
    assert_in_range(count[1], KEYS / 4 - KEYS / 20, KEYS / 4 + KEYS / 20);
    assert_in_range(count[2], KEYS / 2 - KEYS / 20, KEYS / 2 + KEYS / 20);

    /* c cools down: only c's keys move; the plan skips it. */
    struct sl_attempt_outcome fail = {.result = SL_ATTEMPT_STATUS, .status = 503};
    assert_int_equal(sl_route_attempt_end(model(r, "c"), &fail, 1), 30);
    int moved = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        snprintf(key, sizeof(key), "session-%d", k);
        char now = first_for_key(g, key, 2)[0];
        if (before[k] != 'c')
            assert_int_equal(now, before[k]);
        moved += now != before[k];
    }
    assert_int_equal(moved, count[2]);
    struct sl_attempt_outcome ok = {.result = SL_ATTEMPT_OK};
    sl_route_attempt_end(model(r, "c"), &ok, 3);

    /* A reload without b: b's keys move, the others stay. */
    struct sl_resources *r2 = group("      strategy: consistent_hash\n"
                                    "      targets: [{model: a}, {model: c, weight: 2}]\n",
                                    "", "");
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        snprintf(key, sizeof(key), "session-%d", k);
        char now = first_for_key(model(r2, "g"), key, 4)[0];
        if (before[k] != 'b')
            assert_int_equal(now, before[k]);
    }
    sl_resources_free(r2);
    sl_resources_free(r);
}

static void test_tags(void **state)
{
    (void)state;
    struct sl_resources *r = group("      targets:\n"
                                   "        - {model: a, tags: [eu, default]}\n"
                                   "        - {model: b, tags: [us]}\n"
                                   "        - {model: c}\n",
                                   "", "");
    const struct sl_model *g = model(r, "g");
    struct sl_route_input in = {.now_ms = 1};
    assert_string_equal(plan_text(g, &in), "a"); /* no tags: the default-tagged */
    in.tags = sl_str_from_cstr(" us , asia");
    assert_string_equal(plan_text(g, &in), "b");
    in.tags = sl_str_from_cstr("us,eu");
    assert_string_equal(plan_text(g, &in), "a b");
    in.tags = sl_str_from_cstr("asia");
    assert_string_equal(plan_text(g, &in), "a"); /* nothing matches: the default-tagged */
    in.tags = sl_str_from_cstr(" , ");
    assert_string_equal(plan_text(g, &in), "a"); /* empty tags are no tags */
    sl_resources_free(r);

    r = group("      targets: [{model: a, tags: [eu]}, {model: b}]\n", "", "");
    in.tags = sl_str_from_cstr("asia");
    assert_string_equal(plan_text(model(r, "g"), &in), "no-tag-match");
    in.tags = SL_STR_NULL;
    assert_string_equal(plan_text(model(r, "g"), &in), "a b"); /* no default: all */
    sl_resources_free(r);
}

static void test_client_ranges(void **state)
{
    (void)state;
    char *extra = direct("lan", "    allowed_cidrs: [10.0.0.0/8]\n");
    struct sl_resources *r = group("      targets: [{model: lan}, {model: a}]\n",
                                   "    allowed_cidrs: [10.0.0.0/8, 192.168.0.0/16]\n", extra);
    free(extra);
    const struct sl_model *g = model(r, "g");
    struct sl_ip lan, home, out;
    sl_ip_parse(sl_str_from_cstr("10.1.2.3"), &lan);
    sl_ip_parse(sl_str_from_cstr("192.168.1.1"), &home);
    sl_ip_parse(sl_str_from_cstr("8.8.8.8"), &out);
    struct sl_route_input in = {.now_ms = 1, .client = &lan};
    assert_string_equal(plan_text(g, &in), "lan a");
    in.client = &home;
    assert_string_equal(plan_text(g, &in), "a"); /* lan excludes the client */
    in.client = &out;
    assert_string_equal(plan_text(g, &in), "ip-restricted"); /* the group itself does */
    in.client = NULL;
    assert_string_equal(plan_text(g, &in), "ip-restricted"); /* unknown: fails closed */
    in.client = &out;
    assert_string_equal(plan_text(model(r, "lan"), &in), "ip-restricted");
    assert_string_equal(plan_text(model(r, "a"), &in), "a");
    sl_resources_free(r);
}

/* The health filter: cooling and failing targets are left out while healthy ones remain;
 * cooling ones are used when nothing healthy is left; when every candidate's background check
 * failed, when_all_unavailable decides. */
static void test_health_filter(void **state)
{
    (void)state;
    char *checked = sl_xasprintf("    background_model_check: {enabled: true, interval_seconds: "
                                 "5, timeout_seconds: 1, prompt: x, max_tokens: 1, "
                                 "stale_after_seconds: 60}\n");
    char *x = direct("x", checked), *y = direct("y", checked);
    char *extra = sl_xasprintf("%s%s", x, y);
    struct sl_resources *r =
        group("      targets: [{model: x}, {model: y}, {model: a}]\n", "", extra);
    const struct sl_model *g = model(r, "g");
    struct sl_attempt_outcome fail = {.result = SL_ATTEMPT_TIMEOUT};
    uint64_t t0 = 5000000;
    assert_string_equal(plan_now(g, t0), "x y a");
    assert_int_equal(sl_route_attempt_end(model(r, "x"), &fail, t0), 30);
    assert_string_equal(plan_now(g, t0), "y a");
    assert_string_equal(plan_now(g, t0 + 29999), "y a");
    assert_string_equal(plan_now(g, t0 + 30000), "x y a"); /* the cooldown ended on its own */
    sl_route_check_result(model(r, "y"), SL_CHECK_FAILED, t0 + 30000);
    assert_string_equal(plan_now(g, t0 + 30000), "x a");
    /* Nothing healthy left (x and a cooling, y failing its check): the cooling ones. */
    uint64_t t1 = t0 + 40000;
    sl_route_attempt_end(model(r, "x"), &fail, t1);
    sl_route_attempt_end(model(r, "a"), &fail, t1);
    assert_string_equal(plan_now(g, t1), "x a");
    /* A success ends a failed check's effect at once (and a cooldown's). */
    struct sl_attempt_outcome ok = {.result = SL_ATTEMPT_OK, .latency_us = 10};
    sl_route_attempt_end(model(r, "y"), &ok, t1);
    assert_string_equal(plan_now(g, t1), "y");
    sl_route_attempt_end(model(r, "x"), &ok, t1);
    assert_string_equal(plan_now(g, t1), "x y");
    sl_resources_free(r);

    /* Every candidate failing its checks: 503 with Retry-After 30, or all of them. */
    r = group("      targets: [{model: x}, {model: y}]\n", "", extra);
    sl_route_check_result(model(r, "x"), SL_CHECK_FAILED, t0);
    sl_route_check_result(model(r, "y"), SL_CHECK_FAILED, t0);
    PLAN(p);
    struct sl_route_input in = {.now_ms = t0};
    assert_int_equal(sl_route_plan(model(r, "g"), &in, &p), SL_ROUTE_ALL_UNAVAILABLE);
    assert_int_equal(p.retry_after_s, 30);
    assert_int_equal(p.n, 0);
    /* A check result older than stale_after_seconds no longer counts. */
    assert_string_equal(plan_now(model(r, "g"), t0 + 60001), "x y");
    sl_resources_free(r);
    r = group("      when_all_unavailable: try_anyway\n      targets: [{model: x}, {model: y}]\n",
              "", extra);
    sl_route_check_result(model(r, "x"), SL_CHECK_FAILED, t0);
    sl_route_check_result(model(r, "y"), SL_CHECK_FAILED, t0);
    assert_string_equal(plan_now(model(r, "g"), t0), "x y");
    sl_route_check_result(model(r, "y"), SL_CHECK_OK, t0);
    assert_string_equal(plan_now(model(r, "g"), t0), "y");
    sl_route_check_result(model(r, "x"), SL_CHECK_OK, t0);
    sl_resources_free(r);
    free(x);
    free(y);
    free(extra);
    free(checked);
}

/* The cooldown a failure earns, per the target's settings (reference 7.5). */
static void test_cooldown_rules(void **state)
{
    (void)state;
    char *d = direct("d", "");
    char *t = direct("t", "    cooldown: {default_seconds: 10, max_seconds: 20, trigger_statuses: "
                          "[429], trigger_on_timeout: false}\n");
    char *n =
        direct("n", "    cooldown: {honor_retry_after: false, trigger_on_transport: false}\n");
    char *o = direct("o", "    cooldown: {default_seconds: 0}\n");
    char *e = direct("e", "    cooldown: {enabled: false}\n");
    char *all = sl_xasprintf("%s%s%s%s%s", d, t, n, o, e);
    struct sl_resources *r = load(all, 1);
    struct sl_attempt_outcome s500 = {.result = SL_ATTEMPT_STATUS, .status = 500};
    struct sl_attempt_outcome s400 = {.result = SL_ATTEMPT_STATUS, .status = 400};
    struct sl_attempt_outcome s429 = {
        .result = SL_ATTEMPT_STATUS, .status = 429, .has_retry_after = true, .retry_after_s = 45};
    struct sl_attempt_outcome s429_0 = {
        .result = SL_ATTEMPT_STATUS, .status = 429, .has_retry_after = true, .retry_after_s = 0};
    struct sl_attempt_outcome tmo = {.result = SL_ATTEMPT_TIMEOUT};
    struct sl_attempt_outcome net = {.result = SL_ATTEMPT_TRANSPORT};
    struct sl_attempt_outcome gone = {.result = SL_ATTEMPT_NOT_COUNTED};
    const struct sl_model *md = model(r, "d"), *mt = model(r, "t"), *mn = model(r, "n");
    assert_int_equal(sl_route_attempt_end(md, &s500, 1), 30);
    assert_int_equal(sl_route_attempt_end(md, &s400, 1), 0);  /* a caller error */
    assert_int_equal(sl_route_attempt_end(md, &s429, 1), 45); /* Retry-After, under 600 */
    assert_int_equal(sl_route_attempt_end(md, &s429_0, 1), 0);
    assert_int_equal(sl_route_attempt_end(md, &tmo, 1), 30);
    assert_int_equal(sl_route_attempt_end(md, &net, 1), 30);
    assert_int_equal(sl_route_attempt_end(md, &gone, 1), 0);
    assert_int_equal(sl_route_attempt_end(md, &s500, 1), 30);
    assert_int_equal(sl_route_attempt_end(mt, &s500, 1), 0);  /* not a trigger here */
    assert_int_equal(sl_route_attempt_end(mt, &s429, 1), 20); /* clamped to max_seconds */
    assert_int_equal(sl_route_attempt_end(mt, &tmo, 1), 0);
    assert_int_equal(sl_route_attempt_end(mt, &net, 1), 10);
    assert_int_equal(sl_route_attempt_end(mn, &s429, 1), 30); /* Retry-After not honoured */
    assert_int_equal(sl_route_attempt_end(mn, &net, 1), 0);
    assert_int_equal(sl_route_attempt_end(model(r, "o"), &s500, 1), 0);
    assert_int_equal(sl_route_attempt_end(model(r, "e"), &s500, 1), 0);

    /* What the scrape sees: d cooling (entered once: re-marks while cooling do not count). */
    struct sl_metrics_target rows[8];
    size_t nrows = sl_route_target_stats(r, 2000, rows, 8);
    assert_int_equal(nrows, 5);
    assert_string_equal(rows[0].name, "d");
    assert_true(rows[0].cooling);
    assert_int_equal(rows[0].cooldowns, 1);
    assert_true(rows[0].cooldown_remaining_s > 27.99 && rows[0].cooldown_remaining_s < 28.01);
    assert_int_equal(rows[0].level, 1); /* 500, timeout, transport, 500: 4xx do not count */
    assert_false(rows[1].cooling);      /* e */
    sl_resources_free(r);
    free(d);
    free(t);
    free(n);
    free(o);
    free(e);
    free(all);
}

/* least_cost, least_latency and least_busy order each tier by their signal. */
static void test_metric_strategies(void **state)
{
    (void)state;
    char *x = direct("x", "    cost: {input_per_1k: 0.5, output_per_1k: 1.5}\n");
    char *y = direct("y", "    cost: {input_per_1k: 0.1, output_per_1k: 0.2}\n");
    char *xy = sl_xasprintf("%s%s", x, y);
    struct sl_resources *r =
        group("      strategy: least_cost\n"
              "      targets: [{model: a}, {model: x}, {model: y}, {model: b, priority: -1}]\n",
              "", xy);
    assert_string_equal(plan_now(model(r, "g"), 1), "y x a b");
    sl_resources_free(r);

    r = group("      strategy: least_latency\n      targets: [{model: a}, {model: b}, {model: "
              "c}]\n",
              "", "");
    const struct sl_model *g = model(r, "g");
    struct sl_attempt_outcome slow = {.result = SL_ATTEMPT_OK, .latency_us = 900000};
    struct sl_attempt_outcome fast = {.result = SL_ATTEMPT_OK, .latency_us = 100000};
    sl_route_attempt_end(model(r, "a"), &slow, 1);
    sl_route_attempt_end(model(r, "b"), &fast, 1);
    assert_string_equal(plan_now(g, 1), "c b a"); /* c has no sample yet: first */
    sl_route_attempt_end(model(r, "c"), &slow, 1);
    assert_string_equal(plan_now(g, 1), "b a c");
    /* The average moves by 0.3 of each sample: a at 900 ms, three fast samples bring it to
     * 900 * 0.343 + 100 * 0.657 = 374.4 ms, still above b. */
    for (int i = 0; i < 3; i++)
        sl_route_attempt_end(model(r, "a"), &fast, 1);
    struct sl_metrics_target rows[8];
    size_t n = sl_route_target_stats(r, 1, rows, 8);
    assert_int_equal(n, 3);
    assert_true(rows[0].latency_ewma_s > 0.3743 && rows[0].latency_ewma_s < 0.3745);
    assert_true(rows[1].latency_ewma_s > 0.0999 && rows[1].latency_ewma_s < 0.1001);
    sl_resources_free(r);

    r = group("      strategy: least_busy\n      targets: [{model: a}, {model: b, weight: 3}, "
              "{model: c}]\n",
              "", "");
    g = model(r, "g");
    assert_string_equal(plan_now(g, 1), "b a c"); /* idle: by weight */
    for (int i = 0; i < 3; i++)
        sl_route_attempt_begin(model(r, "b"));
    sl_route_attempt_begin(model(r, "a"));
    /* a: 2/1, b: 4/3, c: 1/1 */
    assert_string_equal(plan_now(g, 1), "c b a");
    sl_route_attempt_release(model(r, "a"));
    for (int i = 0; i < 3; i++)
        sl_route_attempt_release(model(r, "b"));
    assert_string_equal(plan_now(g, 1), "b a c");
    sl_resources_free(r);
    free(x);
    free(y);
    free(xy);
}

/* Target state belongs to the name: a new generation sees what the old one learnt. */
static void test_state_survives_reload(void **state)
{
    (void)state;
    struct sl_resources *old = group("      targets: [{model: a}, {model: b}]\n", "", "");
    struct sl_attempt_outcome fail = {.result = SL_ATTEMPT_TRANSPORT};
    sl_route_attempt_end(model(old, "a"), &fail, 100);
    struct sl_resources *next = group("      targets: [{model: b}, {model: a}]\n", "", "");
    sl_resources_free(old);
    assert_string_equal(plan_now(model(next, "g"), 200), "b");
    struct sl_attempt_outcome ok = {.result = SL_ATTEMPT_OK};
    sl_route_attempt_end(model(next, "a"), &ok, 300);
    sl_resources_free(next);
    /* The last generation with the names is gone: fresh state. */
    struct sl_resources *fresh = group("      targets: [{model: a}, {model: b}]\n", "", "");
    sl_route_attempt_end(model(fresh, "a"), &fail, 100);
    sl_resources_free(fresh);
    fresh = group("      targets: [{model: a}, {model: b}]\n", "", "");
    assert_string_equal(plan_now(model(fresh, "g"), 200), "a b");
    sl_resources_free(fresh);
}

static void test_cookie(void **state)
{
    (void)state;
    struct sl_str v;
    assert_true(sl_route_cookie(sl_str_from_cstr("a=1; sid = s-42 ;b=2"), SL_STRLIT("sid"), &v));
    assert_true(sl_str_eq_lit(v, "s-42"));
    assert_true(sl_route_cookie(sl_str_from_cstr("sid=;sid=x=y"), SL_STRLIT("sid"), &v));
    assert_true(sl_str_eq_lit(v, "x=y"));
    assert_false(sl_route_cookie(sl_str_from_cstr("sidx=1; sid; =3"), SL_STRLIT("sid"), &v));
    assert_false(sl_route_cookie(SL_STR_NULL, SL_STRLIT("sid"), &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover_tiers_and_fallbacks),
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_consistent_hash),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_client_ranges),
        cmocka_unit_test(test_health_filter),
        cmocka_unit_test(test_cooldown_rules),
        cmocka_unit_test(test_metric_strategies),
        cmocka_unit_test(test_state_survives_reload),
        cmocka_unit_test(test_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
