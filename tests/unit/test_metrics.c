/* Unit tests for the metrics store and the Prometheus renderer: exact exposition text for small
 * cases over several fake workers, and one writer racing the renderer. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/obs/metrics_internal.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/metrics.h"

#define RENDER_MAX (64u * 1024 * 1024)

static const struct sl_metrics_process test_process = {.version = "test", .workers = 2};

static char *render_with(const struct sl_metrics_process *p, struct sl_metrics_worker **stores,
                         size_t n)
{
    struct sl_buf out;
    sl_buf_init(&out, RENDER_MAX);
    sl_metrics_render(p, (const struct sl_metrics_worker *const *)stores, n, NULL, 0, &out);
    char *text = sl_xstrndup(out.ptr != NULL ? out.ptr : "", out.len);
    sl_buf_dispose(&out);
    return text;
}

static char *render(struct sl_metrics_worker **stores, size_t n)
{
    return render_with(&test_process, stores, n);
}

/* The lines of one family: from its "# HELP" line up to the next family's. */
static char *family_block(const char *text, const char *name)
{
    char head[128];
    snprintf(head, sizeof(head), "# HELP %s ", name);
    const char *start = strstr(text, head);
    assert_non_null(start);
    const char *end = strstr(start + 1, "# HELP ");
    return sl_xstrndup(start, end != NULL ? (size_t)(end - start) : strlen(start));
}

static void assert_family(struct sl_metrics_worker **stores, size_t n, const char *name,
                          const char *expected)
{
    char *text = render(stores, n);
    char *block = family_block(text, name);
    assert_string_equal(block, expected);
    free(block);
    free(text);
}

static struct sl_metrics_request req(const char *route, const char *model, int status,
                                     double duration_s)
{
    return (struct sl_metrics_request){
        .route = route,
        .model = sl_str_from_cstr(model),
        .status = status,
        .duration_s = duration_s,
        .ttft_s = -1,
        .prompt_tokens = -1,
        .completion_tokens = -1,
    };
}

static void observe(struct sl_metrics_worker *m, const char *route, const char *model, int status)
{
    struct sl_metrics_request r = req(route, model, status, 0.01);
    sl_metrics_observe(m, &r);
}

static void free_stores(struct sl_metrics_worker **stores, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_metrics_worker_free(stores[i]);
}

static void test_empty_render_is_exact(void **state)
{
    (void)state;
    sl__metrics_reload_reset();
    struct sl_metrics_process p = {.version = "1.2\"3",
                                   .workers = 2,
                                   .draining = true,
                                   .open_connections = 5,
                                   .http_requests = {0, 7, 0, 1, 0, 2}};
    struct sl_metrics_worker *stores[2] = {NULL, sl_metrics_worker_new()};
    char *text = render_with(&p, stores, 2);
    static const char head[] =
        "# HELP sluice_build_info Build information.\n"
        "# TYPE sluice_build_info gauge\n"
        "sluice_build_info{version=\"1.2\\\"3\"} 1\n"
        "# HELP sluice_workers Worker threads (one event loop each).\n"
        "# TYPE sluice_workers gauge\n"
        "sluice_workers 2\n"
        "# HELP sluice_draining 1 while a graceful shutdown is in progress.\n"
        "# TYPE sluice_draining gauge\n"
        "sluice_draining 1\n"
        "# HELP sluice_open_connections Client connections currently open.\n"
        "# TYPE sluice_open_connections gauge\n"
        "sluice_open_connections 5\n"
        "# HELP sluice_connections_refused_total Connections refused because "
        "proxy.max_connections were open.\n"
        "# TYPE sluice_connections_refused_total counter\n"
        "sluice_connections_refused_total 0\n"
        "# HELP sluice_lingering_closes_total Client connections closed gracefully: write side "
        "shut, then what the client still sent read and discarded (at most 32 MiB or 5 s).\n"
        "# TYPE sluice_lingering_closes_total counter\n"
        "sluice_lingering_closes_total 0\n"
        "# HELP sluice_http_requests_total Responses sent, by status class (every response, "
        "including h2o's own).\n"
        "# TYPE sluice_http_requests_total counter\n"
        "sluice_http_requests_total{code=\"1xx\"} 0\n"
        "sluice_http_requests_total{code=\"2xx\"} 7\n"
        "sluice_http_requests_total{code=\"3xx\"} 0\n"
        "sluice_http_requests_total{code=\"4xx\"} 1\n"
        "sluice_http_requests_total{code=\"5xx\"} 0\n"
        "sluice_http_requests_total{code=\"other\"} 2\n"
        "# HELP sluice_requests_total Requests finished, by route, model and status class.\n"
        "# TYPE sluice_requests_total counter\n"
        "# HELP sluice_client_cancelled_total Requests the client abandoned before the response "
        "completed (logged as 499).\n"
        "# TYPE sluice_client_cancelled_total counter\n"
        "# HELP sluice_request_duration_seconds Time from request start to response end.\n"
        "# TYPE sluice_request_duration_seconds histogram\n"
        "# HELP sluice_time_to_first_token_seconds Streaming requests: time to the first content "
        "event.\n"
        "# TYPE sluice_time_to_first_token_seconds histogram\n"
        "# HELP sluice_tokens_total Tokens used, by caller key, model and type (from the "
        "upstream's usage, or estimated when it reported none).\n"
        "# TYPE sluice_tokens_total counter\n"
        "# HELP sluice_cost_usd_total USD spent, by caller key and model (models[].cost).\n"
        "# TYPE sluice_cost_usd_total counter\n"
        "# HELP sluice_upstream_errors_total Failed upstream calls, by model and kind of "
        "failure.\n"
        "# TYPE sluice_upstream_errors_total counter\n"
        "# HELP sluice_in_flight_requests Requests currently being served, by route.\n"
        "# TYPE sluice_in_flight_requests gauge\n";
    static const char tail[] =
        "# HELP sluice_ratelimit_rejections_total Requests refused by a limit, by layer (api_key, "
        "model, policy) and reason (requests, tokens, concurrency, budget, unavailable).\n"
        "# TYPE sluice_ratelimit_rejections_total counter\n"
        "# HELP sluice_cache_requests_total Requests a cache policy matched, by policy and result "
        "(hit, miss, bypass).\n"
        "# TYPE sluice_cache_requests_total counter\n"
        "# HELP sluice_cache_tokens_saved_total Tokens the answers served from the cache had cost "
        "upstream, by policy.\n"
        "# TYPE sluice_cache_tokens_saved_total counter\n"
        "# HELP sluice_cache_bytes Bytes the memory cache holds (bodies and per-entry overhead).\n"
        "# TYPE sluice_cache_bytes gauge\n"
        "sluice_cache_bytes 0\n"
        "# HELP sluice_cache_entries Entries the memory cache holds.\n"
        "# TYPE sluice_cache_entries gauge\n"
        "sluice_cache_entries 0\n"
        "# HELP sluice_cache_evictions_total Memory cache entries evicted (least recently used) to "
        "stay within cache.memory.max_bytes.\n"
        "# TYPE sluice_cache_evictions_total counter\n"
        "sluice_cache_evictions_total 0\n"
        "# HELP sluice_cache_expirations_total Memory cache entries dropped because their TTL "
        "passed.\n"
        "# TYPE sluice_cache_expirations_total counter\n"
        "sluice_cache_expirations_total 0\n"
        "# HELP sluice_target_attempts_total Upstream attempts, by target (a direct model; a "
        "group's member or the model itself).\n"
        "# TYPE sluice_target_attempts_total counter\n"
        "# HELP sluice_target_retries_total Upstream attempts that repeated the same target after "
        "a failure.\n"
        "# TYPE sluice_target_retries_total counter\n"
        "# HELP sluice_target_failovers_total Upstream attempts that moved to this target after "
        "another one failed.\n"
        "# TYPE sluice_target_failovers_total counter\n"
        "# HELP sluice_target_failures_total Upstream attempts that failed (error status, "
        "timeout, transport).\n"
        "# TYPE sluice_target_failures_total counter\n"
        "# HELP sluice_target_cooldown 1 while the target is in cooldown.\n"
        "# TYPE sluice_target_cooldown gauge\n"
        "# HELP sluice_target_cooldown_remaining_seconds Seconds until the target leaves cooldown "
        "(0 when it is not in one).\n"
        "# TYPE sluice_target_cooldown_remaining_seconds gauge\n"
        "# HELP sluice_target_cooldowns_total Times the target entered cooldown (since the "
        "process started).\n"
        "# TYPE sluice_target_cooldowns_total counter\n"
        "# HELP sluice_target_check_failing 1 while the target's last background check failed.\n"
        "# TYPE sluice_target_check_failing gauge\n"
        "# HELP sluice_target_health_level Consecutive failed attempts: 0 healthy, 1 degraded (4 "
        "or more), 2 down (8 or more).\n"
        "# TYPE sluice_target_health_level gauge\n"
        "# HELP sluice_target_in_flight Attempts running on the target (counted while a "
        "least_busy group includes it).\n"
        "# TYPE sluice_target_in_flight gauge\n"
        "# HELP sluice_target_latency_ewma_seconds Moving average (alpha 0.3) of the target's "
        "latency to a response or first event.\n"
        "# TYPE sluice_target_latency_ewma_seconds gauge\n"
        "# HELP sluice_config_reloads_total Configuration reloads, by result.\n"
        "# TYPE sluice_config_reloads_total counter\n"
        "sluice_config_reloads_total{result=\"failure\"} 0\n"
        "sluice_config_reloads_total{result=\"success\"} 0\n"
        "# HELP sluice_config_generation Generation of the configuration serving.\n"
        "# TYPE sluice_config_generation gauge\n"
        "sluice_config_generation 0\n"
        "# HELP sluice_config_last_reload_success_timestamp_seconds Unix time of the last "
        "successful configuration reload.\n"
        "# TYPE sluice_config_last_reload_success_timestamp_seconds gauge\n"
        "sluice_config_last_reload_success_timestamp_seconds 0.000\n";
    char *want = sl_xasprintf("%s%s", head, tail);
    assert_string_equal(text, want);
    free(want);
    free(text);
    free_stores(stores, 2);
}

static void test_requests_merged_escaped_unknown_499(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    observe(stores[0], "chat_completions", "gpt-4o", 200);
    observe(stores[0], "chat_completions", "gpt-4o", 200);
    observe(stores[0], "chat_completions", "", 404);
    observe(stores[0], "livez", "", 200);
    observe(stores[1], "chat_completions", "gpt-4o", 201);
    observe(stores[1], "chat_completions", "gpt-4o", 499);
    observe(stores[1], "chat_completions", "we\"ird\\x\ny", 502);
    observe(stores[1], "livez", "unknown", 200);
    assert_family(stores, 2, "sluice_requests_total",
                  "# HELP sluice_requests_total Requests finished, by route, model and status "
                  "class.\n"
                  "# TYPE sluice_requests_total counter\n"
                  "sluice_requests_total{route=\"chat_completions\",model=\"gpt-4o\",status="
                  "\"2xx\"} 3\n"
                  "sluice_requests_total{route=\"chat_completions\",model=\"gpt-4o\",status="
                  "\"4xx\"} 1\n"
                  "sluice_requests_total{route=\"chat_completions\",model=\"unknown\",status="
                  "\"4xx\"} 1\n"
                  "sluice_requests_total{route=\"chat_completions\",model=\"we\\\"ird\\\\x\\ny\","
                  "status=\"5xx\"} 1\n"
                  "sluice_requests_total{route=\"livez\",model=\"unknown\",status=\"2xx\"} 2\n");
    assert_family(stores, 2, "sluice_client_cancelled_total",
                  "# HELP sluice_client_cancelled_total Requests the client abandoned before the "
                  "response completed (logged as 499).\n"
                  "# TYPE sluice_client_cancelled_total counter\n"
                  "sluice_client_cancelled_total{route=\"chat_completions\",model=\"gpt-4o\"} 1\n"
                  "sluice_client_cancelled_total{route=\"chat_completions\",model=\"unknown\"} 0\n"
                  "sluice_client_cancelled_total{route=\"chat_completions\",model=\"we\\\"ird\\\\x"
                  "\\ny\"} 0\n"
                  "sluice_client_cancelled_total{route=\"livez\",model=\"unknown\"} 0\n");
    free_stores(stores, 2);
}

static void test_status_classes(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[1] = {sl_metrics_worker_new()};
    static const int codes[] = {100, 199, 302, 404, 599, 0, 600, -1, 99};
    for (size_t i = 0; i < SL_ARRAY_LEN(codes); i++)
        observe(stores[0], "r", "m", codes[i]);
    assert_family(stores, 1, "sluice_requests_total",
                  "# HELP sluice_requests_total Requests finished, by route, model and status "
                  "class.\n"
                  "# TYPE sluice_requests_total counter\n"
                  "sluice_requests_total{route=\"r\",model=\"m\",status=\"1xx\"} 2\n"
                  "sluice_requests_total{route=\"r\",model=\"m\",status=\"3xx\"} 1\n"
                  "sluice_requests_total{route=\"r\",model=\"m\",status=\"4xx\"} 1\n"
                  "sluice_requests_total{route=\"r\",model=\"m\",status=\"5xx\"} 1\n"
                  "sluice_requests_total{route=\"r\",model=\"m\",status=\"other\"} 4\n");
    free_stores(stores, 1);
}

static void test_duration_histogram(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    /* 0.005 sits exactly on a bound (le is inclusive); 700 s overflows into +Inf only; the
     * sum keeps every microsecond. */
    static const double a[] = {0.005, 0.0051, 0.3, 700}, b[] = {1.0, 0.123456789};
    for (size_t i = 0; i < SL_ARRAY_LEN(a); i++) {
        struct sl_metrics_request r = req("embeddings", "e", 200, a[i]);
        sl_metrics_observe(stores[0], &r);
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(b); i++) {
        struct sl_metrics_request r = req("embeddings", "e", 200, b[i]);
        sl_metrics_observe(stores[1], &r);
    }
#define L "{route=\"embeddings\",model=\"e\""
#define B "sluice_request_duration_seconds_bucket" L
    assert_family(stores, 2, "sluice_request_duration_seconds",
                  "# HELP sluice_request_duration_seconds Time from request start to response "
                  "end.\n"
                  "# TYPE sluice_request_duration_seconds histogram\n" B ",le=\"0.005\"} 1\n" B
                  ",le=\"0.01\"} 2\n" B ",le=\"0.025\"} 2\n" B ",le=\"0.05\"} 2\n" B
                  ",le=\"0.1\"} 2\n" B ",le=\"0.25\"} 3\n" B ",le=\"0.5\"} 4\n" B ",le=\"1\"} 5\n" B
                  ",le=\"2.5\"} 5\n" B ",le=\"5\"} 5\n" B ",le=\"10\"} 5\n" B ",le=\"30\"} 5\n" B
                  ",le=\"60\"} 5\n" B ",le=\"120\"} 5\n" B ",le=\"300\"} 5\n" B ",le=\"600\"} 5\n" B
                  ",le=\"+Inf\"} 6\n"
                  "sluice_request_duration_seconds_sum" L "} 701.433557\n"
                  "sluice_request_duration_seconds_count" L "} 6\n");
#undef B
#undef L
    free_stores(stores, 2);
}

static void test_ttft_only_when_observed(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    struct sl_metrics_request r = req("chat_completions", "gpt", 200, 1.0);
    r.stream = true;
    r.ttft_s = 0.01;
    sl_metrics_observe(stores[0], &r);
    r.ttft_s = 0.7;
    sl_metrics_observe(stores[1], &r);
    r.ttft_s = -1;
    sl_metrics_observe(stores[0], &r);
    r = req("embeddings", "gpt", 200, 0.2);
    sl_metrics_observe(stores[1], &r);
#define T "sluice_time_to_first_token_seconds"
#define B T "_bucket{route=\"chat_completions\",model=\"gpt\""
    assert_family(stores, 2, T,
                  "# HELP " T " Streaming requests: time to the first content event.\n"
                  "# TYPE " T " histogram\n" B ",le=\"0.01\"} 1\n" B ",le=\"0.025\"} 1\n" B
                  ",le=\"0.05\"} 1\n" B ",le=\"0.1\"} 1\n" B ",le=\"0.25\"} 1\n" B
                  ",le=\"0.5\"} 1\n" B ",le=\"1\"} 2\n" B ",le=\"2.5\"} 2\n" B ",le=\"5\"} 2\n" B
                  ",le=\"10\"} 2\n" B ",le=\"30\"} 2\n" B ",le=\"60\"} 2\n" B ",le=\"+Inf\"} 2\n" T
                  "_sum{route=\"chat_completions\",model=\"gpt\"} 0.710000\n" T
                  "_count{route=\"chat_completions\",model=\"gpt\"} 2\n");
#undef B
#undef T
    free_stores(stores, 2);
}

static void test_tokens_by_model(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    struct sl_metrics_request r = req("chat_completions", "gpt", 200, 1.0);
    r.key = SL_STRLIT("a");
    r.prompt_tokens = 10;
    r.completion_tokens = 20;
    r.cost_nusd = 1500000001;
    sl_metrics_observe(stores[0], &r);
    r = req("embeddings", "gpt", 200, 1.0);
    r.key = SL_STRLIT("a");
    r.prompt_tokens = 5;
    r.cost_nusd = 2;
    sl_metrics_observe(stores[1], &r);
    r = req("chat_completions", "gpt", 200, 1.0);
    r.key = SL_STRLIT("b\"");
    r.prompt_tokens = 1;
    r.completion_tokens = 1;
    sl_metrics_observe(stores[1], &r);
    r = req("chat_completions", "", 200, 1.0);
    r.prompt_tokens = 0;
    r.completion_tokens = 0;
    sl_metrics_observe(stores[0], &r);
    observe(stores[1], "chat_completions", "x", 200);
    assert_family(stores, 2, "sluice_tokens_total",
                  "# HELP sluice_tokens_total Tokens used, by caller key, model and type (from "
                  "the upstream's usage, or estimated when it reported none).\n"
                  "# TYPE sluice_tokens_total counter\n"
                  "sluice_tokens_total{key=\"a\",model=\"gpt\",type=\"prompt\"} 15\n"
                  "sluice_tokens_total{key=\"a\",model=\"gpt\",type=\"completion\"} 20\n"
                  "sluice_tokens_total{key=\"b\\\"\",model=\"gpt\",type=\"prompt\"} 1\n"
                  "sluice_tokens_total{key=\"b\\\"\",model=\"gpt\",type=\"completion\"} 1\n"
                  "sluice_tokens_total{key=\"unknown\",model=\"unknown\",type=\"prompt\"} 0\n"
                  "sluice_tokens_total{key=\"unknown\",model=\"unknown\",type=\"completion\"} "
                  "0\n");
    assert_family(stores, 2, "sluice_cost_usd_total",
                  "# HELP sluice_cost_usd_total USD spent, by caller key and model "
                  "(models[].cost).\n"
                  "# TYPE sluice_cost_usd_total counter\n"
                  "sluice_cost_usd_total{key=\"a\",model=\"gpt\"} 1.500000003\n");
    sl_metrics_ratelimit_rejection(stores[0], "policy", "requests");
    sl_metrics_ratelimit_rejection(stores[1], "policy", "requests");
    sl_metrics_ratelimit_rejection(stores[1], "api_key", "budget");
    assert_family(stores, 2, "sluice_ratelimit_rejections_total",
                  "# HELP sluice_ratelimit_rejections_total Requests refused by a limit, by layer "
                  "(api_key, model, policy) and reason (requests, tokens, concurrency, budget, "
                  "unavailable).\n"
                  "# TYPE sluice_ratelimit_rejections_total counter\n"
                  "sluice_ratelimit_rejections_total{layer=\"api_key\",reason=\"budget\"} 1\n"
                  "sluice_ratelimit_rejections_total{layer=\"policy\",reason=\"requests\"} 2\n");
    free_stores(stores, 2);
}

/* The cache's results summed over workers by policy, tokens saved by hits, the store's gauges
 * and the Redis families only with cache.redis. */
static void test_cache(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    sl_metrics_cache(stores[0], "faq", "hit", 30);
    sl_metrics_cache(stores[1], "faq", "hit", 12);
    sl_metrics_cache(stores[1], "faq", "miss", 0);
    sl_metrics_cache(stores[0], "all \"x\"", "bypass", 0);
    assert_family(stores, 2, "sluice_cache_requests_total",
                  "# HELP sluice_cache_requests_total Requests a cache policy matched, by policy "
                  "and result (hit, miss, bypass).\n"
                  "# TYPE sluice_cache_requests_total counter\n"
                  "sluice_cache_requests_total{policy=\"all \\\"x\\\"\",result=\"bypass\"} 1\n"
                  "sluice_cache_requests_total{policy=\"faq\",result=\"hit\"} 2\n"
                  "sluice_cache_requests_total{policy=\"faq\",result=\"miss\"} 1\n");
    assert_family(stores, 2, "sluice_cache_tokens_saved_total",
                  "# HELP sluice_cache_tokens_saved_total Tokens the answers served from the cache "
                  "had cost upstream, by policy.\n"
                  "# TYPE sluice_cache_tokens_saved_total counter\n"
                  "sluice_cache_tokens_saved_total{policy=\"faq\"} 42\n");
    struct sl_metrics_process p = {.version = "t",
                                   .cache_bytes = 1234,
                                   .cache_entries = 3,
                                   .cache_evictions = 9,
                                   .cache_expirations = 2,
                                   .cache_redis = true,
                                   .cache_redis_up = false,
                                   .cache_redis_errors = 5};
    char *text = render_with(&p, stores, 2);
    assert_non_null(strstr(text, "\nsluice_cache_bytes 1234\n"));
    assert_non_null(strstr(text, "\nsluice_cache_entries 3\n"));
    assert_non_null(strstr(text, "\nsluice_cache_evictions_total 9\n"));
    assert_non_null(strstr(text, "\nsluice_cache_expirations_total 2\n"));
    char *block = family_block(text, "sluice_cache_redis_up");
    assert_string_equal(block, "# HELP sluice_cache_redis_up 1 while every worker's Redis "
                               "connection (cache.redis) is ready.\n"
                               "# TYPE sluice_cache_redis_up gauge\n"
                               "sluice_cache_redis_up 0\n");
    free(block);
    assert_non_null(strstr(text, "\nsluice_cache_redis_errors_total 5\n"));
    free(text);
    text = render(stores, 2);
    assert_null(strstr(text, "sluice_cache_redis"));
    free(text);
    free_stores(stores, 2);
}

static void observe_error(struct sl_metrics_worker *m, const char *model, const char *kind)
{
    struct sl_metrics_request r = req("chat_completions", model, 502, 1.0);
    r.upstream_error = kind;
    sl_metrics_observe(m, &r);
}

static void test_upstream_errors(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    observe_error(stores[0], "gpt", "timeout");
    observe_error(stores[0], "gpt", "timeout");
    observe_error(stores[1], "gpt", "timeout");
    observe_error(stores[1], "gpt", "connect");
    observe_error(stores[0], "", "reset");
    observe(stores[0], "chat_completions", "gpt", 200);
    assert_family(stores, 2, "sluice_upstream_errors_total",
                  "# HELP sluice_upstream_errors_total Failed upstream calls, by model and kind "
                  "of failure.\n"
                  "# TYPE sluice_upstream_errors_total counter\n"
                  "sluice_upstream_errors_total{model=\"gpt\",kind=\"connect\"} 1\n"
                  "sluice_upstream_errors_total{model=\"gpt\",kind=\"timeout\"} 3\n"
                  "sluice_upstream_errors_total{model=\"unknown\",kind=\"reset\"} 1\n");
    free_stores(stores, 2);
}

static void test_inflight_gauge(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[3] = {sl_metrics_worker_new(), sl_metrics_worker_new(),
                                           sl_metrics_worker_new()};
    sl_metrics_inflight(stores[0], "chat_completions", 1);
    sl_metrics_inflight(stores[0], "chat_completions", 1);
    sl_metrics_inflight(stores[0], "chat_completions", -1);
    sl_metrics_inflight(stores[1], "chat_completions", 1);
    sl_metrics_inflight(stores[2], "livez", 1);
    sl_metrics_inflight(stores[2], "livez", -1);
    assert_family(stores, 3, "sluice_in_flight_requests",
                  "# HELP sluice_in_flight_requests Requests currently being served, by route.\n"
                  "# TYPE sluice_in_flight_requests gauge\n"
                  "sluice_in_flight_requests{route=\"chat_completions\"} 2\n"
                  "sluice_in_flight_requests{route=\"livez\"} 0\n");
    free_stores(stores, 3);
}

/* Attempts per target, merged over workers: each attempt counts, retries and failovers by
 * their kind, failures by an error or an error status. */
static void test_target_attempts(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[2] = {sl_metrics_worker_new(), sl_metrics_worker_new()};
    struct sl_reqlog_attempt a[] = {
        {SL_STRLIT("a"), 503, "status_5xx", 3, SL_ATTEMPT_FIRST, false},
        {SL_STRLIT("a"), 0, "reset", 1, SL_ATTEMPT_RETRY, false},
        {SL_STRLIT("b"), 200, NULL, 9, SL_ATTEMPT_FAILOVER, false},
    };
    /* An attempt its target's own limits refused was never sent: no series at all for "c". */
    struct sl_reqlog_attempt b[] = {
        {SL_STRLIT("c"), 429, "rate_limited", 0, SL_ATTEMPT_FIRST, true},
        {SL_STRLIT("b"), 200, NULL, 2, SL_ATTEMPT_FAILOVER, false}};
    struct sl_metrics_request r = req("chat_completions", "grp", 200, 0.01);
    r.attempts = a;
    r.n_attempts = 3;
    sl_metrics_observe(stores[0], &r);
    r.attempts = b;
    r.n_attempts = 2;
    sl_metrics_observe(stores[1], &r);
    assert_family(stores, 2, "sluice_target_attempts_total",
                  "# HELP sluice_target_attempts_total Upstream attempts, by target (a direct "
                  "model; a group's member or the model itself).\n"
                  "# TYPE sluice_target_attempts_total counter\n"
                  "sluice_target_attempts_total{target=\"a\"} 2\n"
                  "sluice_target_attempts_total{target=\"b\"} 2\n");
    assert_family(stores, 2, "sluice_target_retries_total",
                  "# HELP sluice_target_retries_total Upstream attempts that repeated the same "
                  "target after a failure.\n"
                  "# TYPE sluice_target_retries_total counter\n"
                  "sluice_target_retries_total{target=\"a\"} 1\n"
                  "sluice_target_retries_total{target=\"b\"} 0\n");
    assert_family(stores, 2, "sluice_target_failovers_total",
                  "# HELP sluice_target_failovers_total Upstream attempts that moved to this "
                  "target after another one failed.\n"
                  "# TYPE sluice_target_failovers_total counter\n"
                  "sluice_target_failovers_total{target=\"a\"} 0\n"
                  "sluice_target_failovers_total{target=\"b\"} 2\n");
    assert_family(stores, 2, "sluice_target_failures_total",
                  "# HELP sluice_target_failures_total Upstream attempts that failed (error "
                  "status, timeout, transport).\n"
                  "# TYPE sluice_target_failures_total counter\n"
                  "sluice_target_failures_total{target=\"a\"} 2\n"
                  "sluice_target_failures_total{target=\"b\"} 0\n");
    free_stores(stores, 2);
}

/* The routing state rows become gauges; a target without a latency sample has no EWMA line. */
static void test_target_state(void **state)
{
    (void)state;
    struct sl_metrics_target t[] = {
        {.name = "a",
         .cooling = true,
         .cooldown_remaining_s = 12.5,
         .cooldowns = 3,
         .check_failing = false,
         .level = 1,
         .in_flight = 2,
         .latency_ewma_s = 0.25},
        {.name = "b\"q", .check_failing = true, .level = 2, .latency_ewma_s = -1},
    };
    struct sl_buf out;
    sl_buf_init(&out, RENDER_MAX);
    sl_metrics_render(&test_process, NULL, 0, t, 2, &out);
    char *text = sl_xstrndup(out.ptr, out.len);
    sl_buf_dispose(&out);
    static const char *const lines[] = {
        "sluice_target_cooldown{target=\"a\"} 1\n",
        "sluice_target_cooldown{target=\"b\\\"q\"} 0\n",
        "sluice_target_cooldown_remaining_seconds{target=\"a\"} 12.500\n",
        "sluice_target_cooldown_remaining_seconds{target=\"b\\\"q\"} 0.000\n",
        "sluice_target_cooldowns_total{target=\"a\"} 3\n",
        "sluice_target_check_failing{target=\"a\"} 0\n",
        "sluice_target_check_failing{target=\"b\\\"q\"} 1\n",
        "sluice_target_health_level{target=\"a\"} 1\n",
        "sluice_target_health_level{target=\"b\\\"q\"} 2\n",
        "sluice_target_in_flight{target=\"a\"} 2\n",
        "sluice_target_latency_ewma_seconds{target=\"a\"} 0.250000\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (strstr(text, lines[i]) == NULL)
            fail_msg("missing %s", lines[i]);
    }
    assert_null(strstr(text, "sluice_target_latency_ewma_seconds{target=\"b"));
    free(text);
}

static void test_reload_families(void **state)
{
    (void)state;
    sl__metrics_reload_reset();
    sl_metrics_reload_result(true, 3, 1700000000.5);
    sl_metrics_reload_result(false, 4, 1700000100.0); /* failure: generation 3 keeps serving */
    sl_metrics_reload_result(false, 3, 1700000200.0);
    struct sl_metrics_worker *stores[1] = {NULL};
    char *text = render(stores, 1);
    const char *tail = strstr(text, "# HELP sluice_config_reloads_total");
    assert_non_null(tail);
    assert_string_equal(tail, "# HELP sluice_config_reloads_total Configuration reloads, by "
                              "result.\n"
                              "# TYPE sluice_config_reloads_total counter\n"
                              "sluice_config_reloads_total{result=\"failure\"} 2\n"
                              "sluice_config_reloads_total{result=\"success\"} 1\n"
                              "# HELP sluice_config_generation Generation of the configuration "
                              "serving.\n"
                              "# TYPE sluice_config_generation gauge\n"
                              "sluice_config_generation 3\n"
                              "# HELP sluice_config_last_reload_success_timestamp_seconds Unix "
                              "time of the last successful configuration reload.\n"
                              "# TYPE sluice_config_last_reload_success_timestamp_seconds gauge\n"
                              "sluice_config_last_reload_success_timestamp_seconds "
                              "1700000000.500\n");
    free(text);
    sl__metrics_reload_reset();
}

/* Equal label text through different pointers is one series, and growing the table (many
 * series) never duplicates or loses one. */
static void test_series_identity_and_growth(void **state)
{
    (void)state;
    struct sl_metrics_worker *stores[1] = {sl_metrics_worker_new()};
    char route_a[] = "chat", route_b[] = "chat";
    observe(stores[0], route_a, "m", 200);
    observe(stores[0], route_b, "m", 200);
    sl_metrics_inflight(stores[0], route_a, 1);
    sl_metrics_inflight(stores[0], route_b, 1);
    char model[32];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(model, sizeof(model), "model-%04d", i);
            observe(stores[0], "grow", model, 200);
        }
    }
    char *text = render(stores, 1);
    assert_non_null(strstr(text, "sluice_requests_total{route=\"chat\",model=\"m\",status=\"2xx\"}"
                                 " 2\n"));
    assert_non_null(strstr(text, "sluice_in_flight_requests{route=\"chat\"} 2\n"));
    size_t lines = 0;
    static const char grow[] = "sluice_requests_total{route=\"grow\"";
    static const char tail[] = ",status=\"2xx\"} 2";
    for (const char *p = text; (p = strstr(p, grow)) != NULL; p++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true((size_t)(nl - p) > sizeof(tail) - 1);
        assert_memory_equal(nl - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
        lines++;
    }
    assert_int_equal(lines, 1000);
    free(text);
    free_stores(stores, 1);
}

static void test_seconds_to_us(void **state)
{
    (void)state;
    assert_int_equal(sl__seconds_to_us(-1), 0);
    assert_int_equal(sl__seconds_to_us(NAN), 0);
    assert_int_equal(sl__seconds_to_us(0), 0);
    assert_int_equal(sl__seconds_to_us(0.005), 5000);
    assert_int_equal(sl__seconds_to_us(0.0000004), 0);
    assert_int_equal(sl__seconds_to_us(0.0000005), 1);
    assert_int_equal(sl__seconds_to_us(600), 600000000);
    assert_true(sl__seconds_to_us(INFINITY) == UINT64_C(1000000000000000000));
}

static size_t linear_index(const struct sl__hist_spec *spec, uint64_t us)
{
    size_t i = 0;
    while (i < spec->n && us > spec->bound_us[i])
        i++;
    return i;
}

/* The binary search agrees with a linear scan on and around every bound. */
static void test_bucket_index(void **state)
{
    (void)state;
    const struct sl__hist_spec *specs[] = {&sl__hist_duration, &sl__hist_ttft};
    for (size_t k = 0; k < SL_ARRAY_LEN(specs); k++) {
        const struct sl__hist_spec *spec = specs[k];
        assert_int_equal(sl__hist_index(spec, 0), 0);
        assert_int_equal(sl__hist_index(spec, UINT64_MAX), spec->n);
        for (size_t i = 0; i < spec->n; i++) {
            uint64_t b = spec->bound_us[i];
            assert_int_equal(sl__hist_index(spec, b), i);
            assert_int_equal(sl__hist_index(spec, b - 1), linear_index(spec, b - 1));
            assert_int_equal(sl__hist_index(spec, b + 1), i + 1);
        }
        for (uint64_t us = 0; us < 700000000; us = us * 3 / 2 + 1)
            assert_int_equal(sl__hist_index(spec, us), linear_index(spec, us));
    }
}

/* One worker thread creates series and bumps values while the main thread renders. */
#define RACE_ITERS  200000
#define RACE_MODELS 300

static const char *const race_routes[] = {"chat_completions", "embeddings", "completions"};

struct race {
    struct sl_metrics_worker *m;
    _Atomic bool reader_started;
    _Atomic bool done;
};

static void race_step(struct sl_metrics_worker *m, unsigned i)
{
    /* New models keep appearing until RACE_MODELS exist; older ones keep being bumped. */
    unsigned live = SL_MIN(RACE_MODELS, 1 + i / 256);
    char model[16];
    snprintf(model, sizeof(model), "m%03u", (i * 7919u) % live);
    const char *route = race_routes[i % SL_ARRAY_LEN(race_routes)];
    struct sl_metrics_request r = req(route, model, i % 13 == 0 ? 499 : 200, (i % 1000) / 100.0);
    r.ttft_s = i % 2 == 0 ? (i % 700) / 1000.0 : -1;
    r.prompt_tokens = i % 5;
    r.completion_tokens = i % 3 == 0 ? -1 : (int64_t)(i % 7);
    r.upstream_error = i % 17 == 0 ? "timeout" : NULL;
    sl_metrics_observe(m, &r);
    sl_metrics_inflight(m, route, 1);
    if (i % 10 != 0)
        sl_metrics_inflight(m, route, -1);
}

static void *race_writer(void *arg)
{
    struct race *rc = arg;
    while (!atomic_load(&rc->reader_started))
        ;
    for (unsigned i = 0; i < RACE_ITERS; i++)
        race_step(rc->m, i);
    atomic_store(&rc->done, true);
    return NULL;
}

/* Sums every sample whose line starts with prefix. */
static uint64_t sum_samples(const char *text, const char *prefix)
{
    uint64_t sum = 0;
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, prefix, n) == 0) {
            const char *sp = memrchr(p, ' ', nl != NULL ? (size_t)(nl - p) : strlen(p));
            SL_ASSERT(sp != NULL);
            sum += strtoull(sp + 1, NULL, 10);
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return sum;
}

static void test_concurrent_writer_and_renderer(void **state)
{
    (void)state;
    struct race rc = {.m = sl_metrics_worker_new()};
    struct sl_metrics_worker *stores[1] = {rc.m};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_writer, &rc), 0);
    uint64_t last = 0;
    unsigned renders = 0;
    atomic_store(&rc.reader_started, true);
    while (!atomic_load(&rc.done)) {
        char *text = render(stores, 1);
        uint64_t total = sum_samples(text, "sluice_requests_total{");
        uint64_t count = sum_samples(text, "sluice_request_duration_seconds_count{");
        /* Counters only grow and never overtake the writer. */
        assert_true(total >= last && total <= RACE_ITERS);
        assert_true(count <= RACE_ITERS);
        last = total;
        renders++;
        free(text);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(renders > 0);

    /* Once the writer is done the render must equal one of a store fed the same sequence
     * without a concurrent reader. */
    struct sl_metrics_worker *ref[1] = {sl_metrics_worker_new()};
    for (unsigned i = 0; i < RACE_ITERS; i++)
        race_step(ref[0], i);
    char *got = render(stores, 1), *want = render(ref, 1);
    assert_string_equal(got, want);
    assert_int_equal(sum_samples(got, "sluice_requests_total{"), RACE_ITERS);
    assert_int_equal(sum_samples(got, "sluice_request_duration_seconds_count{"), RACE_ITERS);
    assert_int_equal(sum_samples(got, "sluice_in_flight_requests{"), RACE_ITERS / 10);
    assert_int_equal(sum_samples(got, "sluice_upstream_errors_total{"), (RACE_ITERS + 16) / 17);
    assert_int_equal(sum_samples(got, "sluice_client_cancelled_total{"), (RACE_ITERS + 12) / 13);
    print_message("%u renders raced the writer\n", renders);
    free(got);
    free(want);
    free_stores(stores, 1);
    free_stores(ref, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_render_is_exact),
        cmocka_unit_test(test_requests_merged_escaped_unknown_499),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_duration_histogram),
        cmocka_unit_test(test_ttft_only_when_observed),
        cmocka_unit_test(test_tokens_by_model),
        cmocka_unit_test(test_upstream_errors),
        cmocka_unit_test(test_inflight_gauge),
        cmocka_unit_test(test_target_attempts),
        cmocka_unit_test(test_target_state),
        cmocka_unit_test(test_reload_families),
        cmocka_unit_test(test_series_identity_and_growth),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_seconds_to_us),
        cmocka_unit_test(test_bucket_index),
        cmocka_unit_test(test_concurrent_writer_and_renderer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
