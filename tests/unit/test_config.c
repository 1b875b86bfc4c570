#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sluice/config.h"

#include "../../src/config/config_internal.h"

int main(void);

#define MINIMAL "proxy:\n  addr: 127.0.0.1:8080\n"

/* A scratch directory with a self-signed certificate, its key and an unrelated key, made at
 * test time so no private key is ever committed. */
static char tmp[64];
static char cert_pem[128], key_pem[128], other_pem[128], junk_pem[128], enc_pem[128];

static char *const no_env[] = {NULL};

static int load(const char *yaml, char *const *env, struct sl_config **cfg, struct sl_diag *d)
{
    sl_diag_init(d, "c.yaml");
    return sl_config_parse(yaml, strlen(yaml), "c.yaml", env, cfg, d);
}

static char *printed(const struct sl_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sl_diag_print(d, f);
    fclose(f);
    return text;
}

/* Loads yaml with env, expects failure, and compares everything sl_diag_print writes. */
static void expect_env(const char *yaml, char *const *env, const char *want)
{
    struct sl_config *cfg = (struct sl_config *)1;
    struct sl_diag d;
    assert_int_equal(load(yaml, env, &cfg, &d), SL_ERR);
    assert_null(cfg);
    char *got = printed(&d);
    assert_string_equal(got, want);
    free(got);
    sl_diag_dispose(&d);
}

static void expect(const char *yaml, const char *want)
{
    expect_env(yaml, no_env, want);
}

static struct sl_config *load_ok(const char *yaml, char *const *env)
{
    struct sl_config *cfg = NULL;
    struct sl_diag d;
    int rc = load(yaml, env, &cfg, &d);
    if (rc != SL_OK)
        sl_diag_print(&d, stderr);
    assert_int_equal(rc, SL_OK);
    assert_int_equal(d.count, 0);
    sl_diag_dispose(&d);
    assert_non_null(cfg);
    return cfg;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_cert_and_keys(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
    assert_non_null(key);
    assert_non_null(other);
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    FILE *f = fopen(cert_pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    f = fopen(key_pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    f = fopen(other_pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, other, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    f = fopen(enc_pem, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"pw"),
                     1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/sl_config_XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(cert_pem, sizeof(cert_pem), "%s/cert.pem", tmp);
    snprintf(key_pem, sizeof(key_pem), "%s/key.pem", tmp);
    snprintf(other_pem, sizeof(other_pem), "%s/other.pem", tmp);
    snprintf(junk_pem, sizeof(junk_pem), "%s/junk.pem", tmp);
    snprintf(enc_pem, sizeof(enc_pem), "%s/enc.pem", tmp);
    write_cert_and_keys();
    write_file(junk_pem, "hello\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_full_config(void **state)
{
    (void)state;
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "resources_file: /etc/sluice/resources.yaml\n"
             "proxy:\n"
             "  addr: 0.0.0.0:8080\n"
             "  workers: 3\n"
             "  request_body_limit_bytes: 1048576\n"
             "  max_connections: 10000\n"
             "  thread_per_core: TRUE\n"
             "  tls:\n"
             "    cert_file: %s\n"
             "    key_file: '%s'\n"
             "    addr: \"[::]:8443\"\n"
             "  request_id:\n"
             "    accept_headers: [X-AISIX-Request-Id, x-request-id, \"X-Trace_ID.1\"]\n"
             "admin:\n"
             "  enabled: false\n"
             "  addr: 127.0.0.1:0\n"
             "  admin_keys: [k1, \"k2\"]\n"
             "  tls:\n"
             "    cert_file: /x/admin.pem\n"
             "    key_file: /x/admin.key\n"
             "observability:\n"
             "  service_name: gw\n"
             "  log_level: DEBUG\n"
             "  access_log: false\n"
             "  metrics:\n"
             "    prometheus:\n"
             "      enabled: False\n"
             "      addr: 127.0.0.1:9100\n"
             "      path: /prom\n"
             "upstream:\n"
             "  timeout_ms: 1000\n"
             "  stream_timeout_ms: 2000\n"
             "  connect_timeout_ms: 300\n"
             "  pool_idle_timeout_secs: 9\n"
             "  pool_max_idle_per_host: 16\n"
             "  retries: 10\n"
             "  tcp_keepalive_secs: 11\n"
             "  tcp_keepalive_interval_secs: 12\n"
             "  tcp_keepalive_retries: 13\n"
             "  tls:\n"
             "    ca_file: %s\n"
             "    verify: false\n"
             "downstream:\n"
             "  idle_timeout_secs: 0\n"
             "  sse_keepalive_interval_secs: 0\n"
             "shutdown:\n"
             "  min_drain_secs: 86400\n",
             cert_pem, key_pem, cert_pem);
    struct sl_config *cfg = load_ok(yaml, no_env);
    assert_string_equal(cfg->file, "c.yaml");
    assert_string_equal(cfg->resources_file, "/etc/sluice/resources.yaml");
    assert_string_equal(cfg->proxy.addr.text, "0.0.0.0:8080");
    assert_int_equal(cfg->proxy.workers, 3);
    assert_int_equal(cfg->proxy.request_body_limit_bytes, 1048576);
    assert_int_equal(cfg->proxy.max_connections, 10000);
    assert_true(cfg->proxy.thread_per_core);
    assert_string_equal(cfg->proxy.tls.cert_file, cert_pem);
    assert_string_equal(cfg->proxy.tls.key_file, key_pem);
    assert_true(cfg->proxy.tls.has_addr);
    assert_string_equal(cfg->proxy.tls.addr.text, "[::]:8443");
    const struct sl_config_list *ids = &cfg->proxy.request_id.accept_headers;
    assert_int_equal(ids->n, 3);
    assert_string_equal(ids->v[0], "x-aisix-request-id");
    assert_int_equal(ids->len[0], strlen("x-aisix-request-id"));
    assert_string_equal(ids->v[1], "x-request-id");
    assert_string_equal(ids->v[2], "x-trace_id.1");
    assert_false(cfg->admin.enabled);
    assert_string_equal(cfg->admin.addr, "127.0.0.1:0");
    assert_string_equal(cfg->observability.service_name, "gw");
    assert_int_equal(cfg->observability.log_level, SL_LOG_DEBUG);
    assert_false(cfg->observability.access_log);
    assert_false(cfg->observability.prometheus.enabled);
    assert_string_equal(cfg->observability.prometheus.addr.text, "127.0.0.1:9100");
    assert_string_equal(cfg->observability.prometheus.path, "/prom");
    assert_int_equal(cfg->upstream.timeout_ms, 1000);
    assert_int_equal(cfg->upstream.stream_timeout_ms, 2000);
    assert_int_equal(cfg->upstream.connect_timeout_ms, 300);
    assert_int_equal(cfg->upstream.pool_idle_timeout_secs, 9);
    assert_int_equal(cfg->upstream.pool_max_idle_per_host, 16);
    assert_int_equal(cfg->upstream.retries, 10);
    assert_int_equal(cfg->upstream.tcp_keepalive_secs, 11);
    assert_int_equal(cfg->upstream.tcp_keepalive_interval_secs, 12);
    assert_int_equal(cfg->upstream.tcp_keepalive_retries, 13);
    assert_string_equal(cfg->upstream.tls.ca_file, cert_pem);
    assert_false(cfg->upstream.tls.verify);
    assert_int_equal(cfg->downstream.idle_timeout_secs, 0);
    assert_int_equal(cfg->downstream.sse_keepalive_interval_secs, 0);
    assert_int_equal(cfg->shutdown.min_drain_secs, 86400);
    sl_config_free(cfg);
}

static void assert_defaults(const struct sl_config *cfg)
{
    assert_null(cfg->resources_file);
    assert_string_equal(cfg->proxy.addr.text, "127.0.0.1:8080");
    assert_int_equal(cfg->proxy.request_id.accept_headers.n, 1);
    assert_string_equal(cfg->proxy.request_id.accept_headers.v[0], "x-request-id");
    assert_int_equal(cfg->n_notes, 0);
    unsigned cpus = sl_config_available_cpus();
    assert_int_equal(cfg->proxy.workers, cpus > 1024 ? 1024 : cpus);
    assert_int_equal(cfg->proxy.request_body_limit_bytes, 33554432);
    assert_int_equal(cfg->proxy.max_connections, 0);
    assert_true(cfg->proxy.thread_per_core);
    assert_null(cfg->proxy.tls.cert_file);
    assert_null(cfg->proxy.tls.key_file);
    assert_false(cfg->proxy.tls.has_addr);
    assert_false(cfg->admin.enabled);
    assert_null(cfg->admin.addr);
    assert_string_equal(cfg->observability.service_name, "sluice");
    assert_int_equal(cfg->observability.log_level, SL_LOG_INFO);
    assert_true(cfg->observability.access_log);
    assert_true(cfg->observability.prometheus.enabled);
    assert_string_equal(cfg->observability.prometheus.addr.text, "0.0.0.0:9090");
    assert_string_equal(cfg->observability.prometheus.path, "/metrics");
    assert_int_equal(cfg->upstream.timeout_ms, 6000000);
    assert_int_equal(cfg->upstream.stream_timeout_ms, 0);
    assert_int_equal(cfg->upstream.connect_timeout_ms, 5000);
    assert_int_equal(cfg->upstream.pool_idle_timeout_secs, 30);
    assert_true(cfg->upstream.pool_max_idle_per_host == SL_CONFIG_UNBOUNDED);
    assert_int_equal(cfg->upstream.retries, 2);
    assert_int_equal(cfg->upstream.tcp_keepalive_secs, 60);
    assert_int_equal(cfg->upstream.tcp_keepalive_interval_secs, 30);
    assert_int_equal(cfg->upstream.tcp_keepalive_retries, 5);
    assert_null(cfg->upstream.tls.ca_file);
    assert_true(cfg->upstream.tls.verify);
    assert_int_equal(cfg->downstream.idle_timeout_secs, 60);
    assert_int_equal(cfg->downstream.sse_keepalive_interval_secs, 15);
    assert_int_equal(cfg->shutdown.min_drain_secs, 30);
}

static void test_defaults(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL, NULL);
    assert_defaults(cfg);
    sl_config_free(cfg);
    /* Null sections and null leaves mean defaults too. */
    cfg = load_ok(MINIMAL "  workers: ~\n  tls:\nadmin:\nobservability: ~\n"
                          "upstream:\n  tls:\n    verify:\ndownstream: null\nshutdown: {}\n",
                  no_env);
    assert_defaults(cfg);
    sl_config_free(cfg);
}

static void test_body_limit_zero_is_hard_max(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL "  request_body_limit_bytes: 0\n", no_env);
    assert_int_equal(cfg->proxy.request_body_limit_bytes, SL_CONFIG_MAX_BODY_BYTES);
    sl_config_free(cfg);
    expect(MINIMAL "  request_body_limit_bytes: 1073741825\n",
           "c.yaml:3: proxy.request_body_limit_bytes: expected an integer from 0 to 1073741824, "
           "got \"1073741825\"\n");
}

/* Everything sl_config_print_notes writes for yaml (which must load). */
static char *notes_of(const char *yaml, char *const *env)
{
    struct sl_config *cfg = load_ok(yaml, env);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sl_config_print_notes(cfg, f);
    fclose(f);
    sl_config_free(cfg);
    return text;
}

static void expect_notes(const char *yaml, char *const *env, const char *want)
{
    char *got = notes_of(yaml, env);
    assert_string_equal(got, want);
    free(got);
}

static void test_thread_per_core_false_is_accepted(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL "  thread_per_core: false\n", no_env);
    assert_false(cfg->proxy.thread_per_core);
    sl_config_free(cfg);
    expect_notes(MINIMAL "  thread_per_core: false\n", no_env,
                 "sluice: c.yaml:3: warning: proxy.thread_per_core: false is ignored; sluice "
                 "always runs one worker loop per core\n");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect(MINIMAL "  wokers: 4\n",
           "c.yaml:3: proxy.wokers: unknown key (did you mean proxy.workers?)\n");
    expect(MINIMAL "observabilty:\n  access_log: true\n",
           "c.yaml:3: observabilty: unknown key (did you mean observability?)\n");
    expect(MINIMAL "upstream:\n  tls:\n    verfy: true\n",
           "c.yaml:5: upstream.tls.verfy: unknown key (did you mean upstream.tls.verify?)\n");
    /* Suggestions stay within the section: "addr" exists, but not under upstream. */
    expect(MINIMAL "upstream:\n  adr: x\n", "c.yaml:4: upstream.adr: unknown key\n");
    expect(MINIMAL "  completely_unrelated: 1\n",
           "c.yaml:3: proxy.completely_unrelated: unknown key\n");
    expect("proxy.addr: 127.0.0.1:80\n",
           "c.yaml:1: \"proxy.addr\": unknown key (write nested mappings, not dotted keys)\n"
           "c.yaml: proxy.addr: required key is missing\n");
    expect(MINIMAL "\"a\\nb\": 1\n", "c.yaml:3: \"a\\x0ab\": unknown key\n");
}

static void test_unsupported_keys(void **state)
{
    (void)state;
    expect(MINIMAL "etcd:\n  endpoints: [http://127.0.0.1:2379]\n",
           "c.yaml:3: etcd: not supported by sluice yet; use resources_file\n");
    expect(MINIMAL "  url_rewrites: [{match: a, rewrite: b}]\n",
           "c.yaml:3: proxy.url_rewrites: not supported by sluice yet (rules need URL "
           "rewriting)\n");
    expect(MINIMAL
           "cache:\n  redis: {nodes: [a]}\nratelimit: {redis: {mode: cluster, nodes: [a]}}\n"
           "managed: {enabled: true}\nbedrock_endpoint_url: x\n",
           "c.yaml:4: cache.redis.nodes: not supported by sluice yet; cluster mode is not "
           "supported yet\n"
           "c.yaml:5: ratelimit.redis.nodes: not supported by sluice yet; cluster mode is not "
           "supported yet\n"
           "c.yaml:6: managed: not supported by sluice yet (enabled: true needs AISIX Cloud "
           "managed mode)\n"
           "c.yaml:7: bedrock_endpoint_url: not supported by sluice yet\n"
           "c.yaml:5: ratelimit.redis.mode: cluster is not supported by sluice yet (only single: "
           "one Redis server)\n");
    expect(MINIMAL "observability:\n  tracing: {otlp: {enabled: true}}\n  metrics:\n"
                   "    otlp: {enabled: TRUE, endpoint: x}\n"
                   "    buckets: {}\n    client_type_rules: [{pattern: a, client: b}]\n"
                   "upstream:\n  tls:\n    client_cert_file: a\n    client_key_file: b\n"
                   "  proxy:\n",
           "c.yaml:4: observability.tracing: not supported by sluice yet (enabled: true needs "
           "OTLP tracing)\n"
           "c.yaml:6: observability.metrics.otlp: not supported by sluice yet (enabled: true "
           "needs OTLP metrics export)\n"
           "c.yaml:7: observability.metrics.buckets: not supported by sluice yet\n"
           "c.yaml:8: observability.metrics.client_type_rules: not supported by sluice yet "
           "(rules need the per-client token metric)\n"
           "c.yaml:11: upstream.tls.client_cert_file: not supported by sluice yet\n"
           "c.yaml:12: upstream.tls.client_key_file: not supported by sluice yet\n"
           "c.yaml:13: upstream.proxy: unknown key\n");
    /* Not switched off: a quoted or unknown value, or a key outside the block's shape. */
    expect(MINIMAL "observability:\n  tracing:\n    otlp:\n"
                   "      enabled: 'false'\n  metrics:\n    otlp: {enabled: false, port: 1}\n",
           "c.yaml:4: observability.tracing: not supported by sluice yet\n"
           "c.yaml:8: observability.metrics.otlp: not supported by sluice yet\n");
}

/* AISIX spells out blocks at their defaults (its example config, its test harness): those load,
 * each with an info line, since they do nothing in AISIX either. */
static void test_switched_off_blocks_load(void **state)
{
    (void)state;
    expect_notes(MINIMAL "  real_ip:\n    trusted_proxies: []\n    header: x-forwarded-for\n"
                         "  url_rewrites: []\n"
                         "observability:\n"
                         "  metrics:\n"
                         "    otlp:\n"
                         "      enabled: false\n"
                         "      endpoint: \"http://127.0.0.1:4317\"\n"
                         "    client_type_rules: []\n"
                         "  tracing:\n"
                         "    otlp: {enabled: false, endpoint: \"http://127.0.0.1:4317\", "
                         "sample_ratio: 1.0}\n"
                         "cache:\n  backend: \"memory\"\n"
                         "ratelimit:\n  backend: memory\n  concurrency_ttl_secs: 300\n"
                         "managed: {enabled: false}\n"
                         "bedrock_endpoint_url: \"\"\n",
                 no_env,
                 "sluice: c.yaml:6: info: proxy.url_rewrites: no rules; accepted\n"
                 "sluice: c.yaml:9: info: observability.metrics.otlp: switched off; accepted and "
                 "ignored (sluice has no OTLP metrics export)\n"
                 "sluice: c.yaml:12: info: observability.metrics.client_type_rules: no rules; "
                 "accepted\n"
                 "sluice: c.yaml:13: info: observability.tracing: switched off; accepted and "
                 "ignored (sluice has no OTLP tracing)\n"
                 "sluice: c.yaml:16: info: cache.backend is a legacy knob and is ignored: each "
                 "cache policy names its backend (memory always exists; redis needs cache.redis)\n"
                 "sluice: c.yaml:20: info: managed: switched off; accepted and ignored\n"
                 "sluice: c.yaml:21: info: bedrock_endpoint_url: empty means unset; accepted\n");
    /* Empty and null blocks are at their defaults too. */
    expect_notes(MINIMAL "  real_ip: {header: x-real-ip}\n"
                         "cache: ~\nratelimit: {}\nobservability:\n  tracing: {}\n",
                 no_env,
                 "sluice: c.yaml:7: info: observability.tracing: switched off; accepted and "
                 "ignored (sluice has no OTLP tracing)\n");
}

/* AISIX turns the admin listener on unless admin.enabled is false; Sluice has none and says so
 * as a warning instead of ignoring the section silently. */
static void test_admin_warning(void **state)
{
    (void)state;
    static const char warning[] =
        "warning: admin.enabled: the admin listener is on (AISIX's default when an admin section "
        "is present), but sluice has no admin listener: admin.* is accepted and ignored; set "
        "admin.enabled: false to silence this\n";
    char want[1024];
    snprintf(want, sizeof(want), "sluice: c.yaml:3: %s", warning);
    expect_notes(MINIMAL "admin:\n  admin_keys:\n    - \"aisix-admin-dummy\"\n", no_env, want);
    snprintf(want, sizeof(want), "sluice: c.yaml:4: %s", warning);
    expect_notes(MINIMAL "admin:\n  enabled: true\n", no_env, want);
    snprintf(want, sizeof(want), "sluice: c.yaml: %s", warning);
    char *env[] = {(char *)"SLUICE_ADMIN__ADDR=127.0.0.1:3001", NULL};
    expect_notes(MINIMAL, env, want);
    struct sl_config *cfg = load_ok(MINIMAL "admin:\n  admin_keys: [k]\n", no_env);
    assert_true(cfg->admin.enabled);
    sl_config_free(cfg);
    expect_notes(MINIMAL "admin:\n  enabled: false\n  admin_keys: [k]\n", no_env, "");
    expect_notes(MINIMAL "admin: ~\n", no_env, "");
}

static void test_tls_verify_false_warns(void **state)
{
    (void)state;
    expect_notes(MINIMAL "upstream:\n  tls:\n    verify: false\n", no_env,
                 "sluice: c.yaml:5: warning: upstream.tls.verify: false: upstream certificates "
                 "and host names are NOT checked, so anyone who can intercept a connection can "
                 "read and change prompts, responses and provider keys; use "
                 "upstream.tls.ca_file for a private CA\n");
    char *env[] = {(char *)"SLUICE_UPSTREAM__TLS__VERIFY=0", NULL};
    char *got = notes_of(MINIMAL, env);
    assert_non_null(strstr(got, "sluice: c.yaml: warning: upstream.tls.verify: false:"));
    free(got);
}

/* AISIX's own test config sets tcp_keepalive_secs: 0; every duration accepts 0 there. */
static void test_zero_switches_knobs_off(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL "upstream:\n  connect_timeout_ms: 0\n"
                                            "  tcp_keepalive_secs: 0\n"
                                            "  tcp_keepalive_interval_secs: 0\n"
                                            "  tcp_keepalive_retries: 0\n"
                                            "  pool_max_idle_per_host: 0\n",
                                    no_env);
    assert_int_equal(cfg->upstream.connect_timeout_ms, 0);
    assert_int_equal(cfg->upstream.tcp_keepalive_secs, 0);
    assert_int_equal(cfg->upstream.tcp_keepalive_interval_secs, 0);
    assert_int_equal(cfg->upstream.tcp_keepalive_retries, 0);
    assert_int_equal(cfg->upstream.pool_max_idle_per_host, 0);
    sl_config_free(cfg);
    char *env[] = {(char *)"SLUICE_UPSTREAM__POOL_MAX_IDLE_PER_HOST=0", NULL};
    cfg = load_ok(MINIMAL, env);
    assert_int_equal(cfg->upstream.pool_max_idle_per_host, 0);
    sl_config_free(cfg);
}

static void test_request_id_headers(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL "  request_id:\n    accept_headers: []\n", no_env);
    assert_int_equal(cfg->proxy.request_id.accept_headers.n, 0);
    sl_config_free(cfg);
    char *env[] = {(char *)"SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS= X-Aisix-Request-Id ,x-b",
                   NULL};
    cfg = load_ok(MINIMAL "  request_id:\n    accept_headers: [x-a]\n", env);
    assert_int_equal(cfg->proxy.request_id.accept_headers.n, 2);
    assert_string_equal(cfg->proxy.request_id.accept_headers.v[0], "x-aisix-request-id");
    assert_string_equal(cfg->proxy.request_id.accept_headers.v[1], "x-b");
    sl_config_free(cfg);
    char *empty[] = {(char *)"SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS=", NULL};
    cfg = load_ok(MINIMAL, empty);
    assert_int_equal(cfg->proxy.request_id.accept_headers.n, 0);
    sl_config_free(cfg);

    expect(MINIMAL "  request_id:\n    accept_headers:\n      - x-request-id\n"
                   "      - Authorization\n",
           "c.yaml:6: proxy.request_id.accept_headers: item 2: \"Authorization\" is refused: it "
           "carries credentials, and the request id is echoed to the caller, logged and sent "
           "upstream\n");
    static const char *const refused[][2] = {
        {"proxy-authorization", "it carries credentials"},
        {"x-api-key", "it carries credentials"},
        {"api-key", "it carries credentials"},
        {"x-goog-api-key", "it carries credentials"},
        {"cookie", "it carries credentials"},
        {"set-cookie", "it carries credentials"},
        {"x-amz-security-token", "it carries credentials"},
        {"HOST", "it names the host the request is for"},
        {"traceparent", "it carries the caller's trace context"},
        {"tracestate", "it carries the caller's trace context"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char yaml[256], want[512];
        snprintf(yaml, sizeof(yaml), MINIMAL "  request_id:\n    accept_headers: [%s]\n",
                 refused[i][0]);
        snprintf(want, sizeof(want),
                 "c.yaml:4: proxy.request_id.accept_headers: item 1: \"%s\" is refused: %s, and "
                 "the request id is echoed to the caller, logged and sent upstream\n",
                 refused[i][0], refused[i][1]);
        expect(yaml, want);
    }
    expect(MINIMAL "  request_id:\n    accept_headers: [\"x id\", ~]\n",
           "c.yaml:4: proxy.request_id.accept_headers: item 1: expected an HTTP header name of at "
           "most 128 letters, digits and !#$%&'*+-.^_`|~, got \"x id\"\n");
    expect(MINIMAL "  request_id:\n    accept_headers: [x-a, ~]\n",
           "c.yaml:4: proxy.request_id.accept_headers: item 2: expected a header name, got "
           "null\n");
    expect(MINIMAL "  request_id:\n    accept_headers: x-request-id\n",
           "c.yaml:4: proxy.request_id.accept_headers: expected a list of header names, got "
           "\"x-request-id\"\n");
    expect(MINIMAL "  request_id:\n    accept_headers: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]\n",
           "c.yaml:4: proxy.request_id.accept_headers: at most 16 headers, got more\n");
    char *bad[] = {(char *)"SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS=x-a,cookie", NULL};
    expect_env(MINIMAL, bad,
               "c.yaml: environment SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS=\"x-a,cookie\": "
               "proxy.request_id.accept_headers: item 2: \"cookie\" is refused: it carries "
               "credentials, and the request id is echoed to the caller, logged and sent "
               "upstream\n");
    char *trailing[] = {(char *)"SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS=x-a,", NULL};
    expect_env(MINIMAL, trailing,
               "c.yaml: environment SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS=\"x-a,\": "
               "proxy.request_id.accept_headers: item 2: expected an HTTP header name of at most "
               "128 letters, digits and !#$%&'*+-.^_`|~, got \"\"\n");
}

/* proxy.real_ip: trusted proxies as ranges or addresses (either family), the header lower-cased;
 * every bad item is named. */
static void test_real_ip(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL, no_env);
    assert_int_equal(cfg->proxy.real_ip.trusted_proxies.n, 0);
    assert_false(cfg->proxy.real_ip.recursive);
    assert_string_equal(cfg->proxy.real_ip.header, "x-forwarded-for");
    sl_config_free(cfg);

    cfg = load_ok(MINIMAL "  real_ip:\n    trusted_proxies: [10.0.0.0/8, 127.0.0.1, \"fd00::/8\"]\n"
                          "    recursive: true\n    header: X-Real-IP\n",
                  no_env);
    const struct sl_cidr_list *t = &cfg->proxy.real_ip.trusted_proxies;
    assert_int_equal(t->n, 3);
    assert_int_equal(t->v[0].bits, 8);
    assert_true(t->v[0].net.v4);
    assert_int_equal(t->v[1].bits, 32);
    assert_int_equal(t->v[2].bits, 8);
    assert_false(t->v[2].net.v4);
    assert_true(cfg->proxy.real_ip.recursive);
    assert_string_equal(cfg->proxy.real_ip.header, "x-real-ip");
    sl_config_free(cfg);

    char *env[] = {(char *)"SLUICE_PROXY__REAL_IP__TRUSTED_PROXIES= 10.1.0.0/16 ,::1", NULL};
    cfg = load_ok(MINIMAL "  real_ip:\n    trusted_proxies: [192.168.0.0/16]\n", env);
    assert_int_equal(cfg->proxy.real_ip.trusted_proxies.n, 2);
    assert_int_equal(cfg->proxy.real_ip.trusted_proxies.v[0].bits, 16);
    assert_int_equal(cfg->proxy.real_ip.trusted_proxies.v[0].net.b[1], 1);
    assert_int_equal(cfg->proxy.real_ip.trusted_proxies.v[1].bits, 128);
    sl_config_free(cfg);

    expect(MINIMAL "  real_ip:\n    trusted_proxies:\n      - 10.0.0.0/8\n      - 10.0.0.0/33\n",
           "c.yaml:6: proxy.real_ip.trusted_proxies: item 2: expected a CIDR range such as "
           "10.0.0.0/8 or fd00::/8, or an address, got \"10.0.0.0/33\"\n");
    expect(MINIMAL "  real_ip:\n    trusted_proxies: [proxy.internal]\n    header: \"x y\"\n"
                   "    recursive: yes\n",
           "c.yaml:4: proxy.real_ip.trusted_proxies: item 1: expected a CIDR range such as "
           "10.0.0.0/8 or fd00::/8, or an address, got \"proxy.internal\"\n"
           "c.yaml:5: proxy.real_ip.header: expected an HTTP header name, got a quoted string "
           "\"x y\"\n"
           "c.yaml:6: proxy.real_ip.recursive: expected true or false, got \"yes\"\n");
    expect(MINIMAL "  real_ip:\n    trusted_proxies: 10.0.0.0/8\n",
           "c.yaml:4: proxy.real_ip.trusted_proxies: expected a list of CIDR ranges or addresses, "
           "got \"10.0.0.0/8\"\n");
    char *bad[] = {(char *)"SLUICE_PROXY__REAL_IP__TRUSTED_PROXIES=10.0.0.0/8,", NULL};
    expect_env(MINIMAL, bad,
               "c.yaml: environment SLUICE_PROXY__REAL_IP__TRUSTED_PROXIES=\"10.0.0.0/8,\": "
               "proxy.real_ip.trusted_proxies: item 2: expected a CIDR range such as 10.0.0.0/8 "
               "or fd00::/8, or an address, got \"\"\n");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect(MINIMAL "  workers: many\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got \"many\"\n");
    expect(MINIMAL "  workers: \"8\"\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got a quoted string "
           "\"8\"\n");
    expect(MINIMAL "  workers: 0\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got \"0\"\n");
    expect(MINIMAL "  workers: 1025\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got \"1025\"\n");
    expect(MINIMAL "  workers: -1\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got \"-1\"\n");
    expect(MINIMAL "  workers: 0x10\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got \"0x10\"\n");
    expect(MINIMAL "  workers: [1]\n",
           "c.yaml:3: proxy.workers: expected an integer from 1 to 1024, got a list\n");
    expect(MINIMAL "  thread_per_core: yes\n",
           "c.yaml:3: proxy.thread_per_core: expected true or false, got \"yes\"\n");
    expect(MINIMAL "  thread_per_core: 'true'\n",
           "c.yaml:3: proxy.thread_per_core: expected true or false, got a quoted string "
           "\"true\"\n");
    expect("proxy: 5\n", "c.yaml:1: proxy: expected a mapping, got a string\n"
                         "c.yaml: proxy.addr: required key is missing\n");
    expect(MINIMAL "upstream: [a]\n", "c.yaml:3: upstream: expected a mapping, got a list\n");
    expect("- proxy\n", "c.yaml:1: the top level must be a mapping of sections, got a list\n"
                        "c.yaml: proxy.addr: required key is missing\n");
    expect(MINIMAL "observability:\n  log_level: verbose\n",
           "c.yaml:4: observability.log_level: expected one of error, warn, info, debug, trace, "
           "got \"verbose\"\n");
    expect(MINIMAL "observability:\n  service_name: \"\"\n",
           "c.yaml:4: observability.service_name: expected a non-empty string, got a quoted "
           "string \"\"\n");
    expect(MINIMAL "observability:\n  service_name: \"a\\0b\"\n",
           "c.yaml:4: observability.service_name: expected a non-empty string, got a quoted "
           "string \"a\\x00b\"\n");
    expect(MINIMAL "resources_file: {a: 1}\n",
           "c.yaml:3: resources_file: expected a non-empty string, got a mapping\n");
    expect(MINIMAL "observability:\n  metrics:\n    prometheus:\n      path: metrics\n",
           "c.yaml:6: observability.metrics.prometheus.path: expected a URL path starting with "
           "\"/\", got \"metrics\"\n");
    expect(MINIMAL "upstream:\n  retries: 11\n  connect_timeout_ms: -1\n"
                   "shutdown:\n  min_drain_secs: 86401\n",
           "c.yaml:4: upstream.retries: expected an integer from 0 to 10, got \"11\"\n"
           "c.yaml:5: upstream.connect_timeout_ms: expected an integer from 0 to 31536000000, "
           "got \"-1\"\n"
           "c.yaml:7: shutdown.min_drain_secs: expected an integer from 0 to 86400, got "
           "\"86401\"\n");
    expect(MINIMAL "upstream:\n  timeout_ms: 99999999999999999999999\n",
           "c.yaml:4: upstream.timeout_ms: expected an integer from 0 to 31536000000, got "
           "\"99999999999999999999999\"\n");
    expect(MINIMAL "upstream:\n  tls:\n    ca_file: |\n      x\n",
           "c.yaml:5: upstream.tls.ca_file: cannot read \"x\\x0a\": No such file or directory\n");
    expect(MINIMAL "upstream:\n  tcp_keepalive_retries: 128\n",
           "c.yaml:4: upstream.tcp_keepalive_retries: expected an integer from 0 to 127, got "
           "\"128\"\n");
}

/* A CA bundle without a certificate would otherwise fail only at the first https request. */
static void test_ca_file_is_loaded(void **state)
{
    (void)state;
    char yaml[512], want[1024];
    snprintf(yaml, sizeof(yaml), MINIMAL "upstream:\n  tls:\n    ca_file: %s\n", junk_pem);
    snprintf(want, sizeof(want),
             "c.yaml:5: upstream.tls.ca_file: %s is not a PEM CA bundle (no certificate or crl "
             "found)\n",
             junk_pem);
    expect(yaml, want);
    char env_entry[256];
    snprintf(env_entry, sizeof(env_entry), "SLUICE_UPSTREAM__TLS__CA_FILE=%s", key_pem);
    char *env[] = {env_entry, NULL};
    snprintf(want, sizeof(want),
             "c.yaml: environment SLUICE_UPSTREAM__TLS__CA_FILE=\"%s\": upstream.tls.ca_file: %s "
             "is not a PEM CA bundle (no certificate or crl found)\n",
             key_pem, key_pem);
    expect_env(MINIMAL, env, want);
    snprintf(yaml, sizeof(yaml), MINIMAL "upstream:\n  tls:\n    ca_file: %s\n", cert_pem);
    struct sl_config *cfg = load_ok(yaml, no_env);
    assert_string_equal(cfg->upstream.tls.ca_file, cert_pem);
    sl_config_free(cfg);
}

static void test_admin_keys_are_never_echoed(void **state)
{
    (void)state;
    expect(MINIMAL "admin:\n  admin_keys: sk-secret\n",
           "c.yaml:4: admin.admin_keys: expected a list of strings, got a string\n");
    expect(MINIMAL "admin:\n  admin_keys:\n    - sk-one\n    - {sk-two: 1}\n    - ''\n",
           "c.yaml:6: admin.admin_keys: item 2: expected a non-empty string, got a mapping\n");
    expect(MINIMAL "admin:\n  admin_keys:\n    - sk-one\n    - ''\n",
           "c.yaml:6: admin.admin_keys: item 2: expected a non-empty string, got an empty "
           "string\n");
    char *env[] = {(char *)"SLUICE_ADMIN__ADMIN_KEYS=sk-a,,sk-b", NULL};
    expect_env(MINIMAL, env,
               "c.yaml: environment SLUICE_ADMIN__ADMIN_KEYS: admin.admin_keys: expected a "
               "comma-separated list of non-empty strings, got a string\n");
    struct sl_config *cfg = load_ok(MINIMAL "admin:\n  admin_keys: []\n", no_env);
    sl_config_free(cfg);
}

/* responses.id_secrets: kept in order, each at least 16 bytes, never shown; the environment
 * form is a comma-separated list that replaces the file's. */
static void test_responses_id_secrets(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok(MINIMAL, no_env);
    assert_int_equal(cfg->responses.id_secrets.n, 0);
    sl_config_free(cfg);
    cfg = load_ok(MINIMAL "responses:\n  id_secrets:\n    - 0123456789abcdef-new\n"
                          "    - 0123456789abcdef-old\n",
                  no_env);
    assert_int_equal(cfg->responses.id_secrets.n, 2);
    assert_string_equal(cfg->responses.id_secrets.v[0], "0123456789abcdef-new");
    assert_int_equal(cfg->responses.id_secrets.len[1], 20);
    sl_config_free(cfg);
    char *env[] = {(char *)"SLUICE_RESPONSES__ID_SECRETS=fedcba9876543210-a, fedcba9876543210-b",
                   NULL};
    cfg = load_ok(MINIMAL "responses:\n  id_secrets: [0123456789abcdef-file]\n", env);
    assert_int_equal(cfg->responses.id_secrets.n, 2);
    assert_string_equal(cfg->responses.id_secrets.v[1], "fedcba9876543210-b");
    sl_config_free(cfg);
    expect(MINIMAL "responses:\n  id_secrets:\n    - 0123456789abcdef\n    - short-sk-s3cr3t\n",
           "c.yaml:6: responses.id_secrets: item 2: expected at least 16 bytes, got 15\n");
    expect(MINIMAL "responses:\n  id_secrets: sk-s3cr3t-0123456789\n",
           "c.yaml:4: responses.id_secrets: expected a list of strings, got a string\n");
    char *bad[] = {(char *)"SLUICE_RESPONSES__ID_SECRETS=s3cr3t", NULL};
    expect_env(MINIMAL, bad,
               "c.yaml: environment SLUICE_RESPONSES__ID_SECRETS: responses.id_secrets: item 1: "
               "expected at least 16 bytes, got 6\n");
}

static void test_addresses(void **state)
{
    (void)state;
    struct sl_config *cfg = load_ok("proxy:\n  addr: '[::1]:3000'\n", no_env);
    assert_string_equal(cfg->proxy.addr.text, "[::1]:3000");
    assert_int_equal(cfg->proxy.addr.ss.ss_family, AF_INET6);
    assert_int_equal(sl_addr_port(&cfg->proxy.addr), 3000);
    sl_config_free(cfg);
    expect("proxy:\n  addr: ::1:3000\n",
           "c.yaml:2: proxy.addr: expected an address IP:PORT or [IPv6]:PORT, got "
           "\"::1:3000\"\n");
    expect("proxy:\n  addr: localhost:80\n",
           "c.yaml:2: proxy.addr: expected an address IP:PORT or [IPv6]:PORT, got "
           "\"localhost:80\"\n");
    expect("proxy:\n  addr: {ip: 1}\n",
           "c.yaml:2: proxy.addr: expected an address IP:PORT or [IPv6]:PORT, got a mapping\n");
    expect("proxy:\n  addr:\n", "c.yaml:2: proxy.addr: a value is required, got null\n");

    struct sl_addr a;
    const char *good[][2] = {{"0.0.0.0:0", "0.0.0.0:0"},
                             {"10.1.2.3:65535", "10.1.2.3:65535"},
                             {"[::]:80", "[::]:80"},
                             {"[2001:DB8::1]:443", "[2001:db8::1]:443"},
                             {"127.0.0.1:080", "127.0.0.1:80"}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(sl_addr_parse(good[i][0], &a), SL_OK);
        assert_string_equal(a.text, good[i][1]);
    }
    const char *bad[] = {"",
                         "1.2.3.4",
                         "1.2.3.4:",
                         ":80",
                         "1.2.3.4:-1",
                         "1.2.3.4:65536",
                         "1.2.3:80",
                         "[::1]",
                         "::1:3000",
                         "[::1:3000",
                         "[1.2.3.4]:80",
                         "1.2.3.4:000080",
                         "1.2.3.4 :80",
                         "[::1]:80 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sl_addr_parse(bad[i], &a), SL_EPARSE);
    assert_int_equal(sl_addr_parse("[::1]:0", &a), SL_OK);
    sl_addr_set_port(&a, 4321);
    assert_string_equal(a.text, "[::1]:4321");
    assert_int_equal(sl_addr_port(&a), 4321);
}

static void test_missing_required(void **state)
{
    (void)state;
    expect("", "c.yaml: proxy.addr: required key is missing\n");
    expect("observability:\n  access_log: false\n",
           "c.yaml: proxy.addr: required key is missing\n");
    expect("proxy: ~\n", "c.yaml: proxy.addr: required key is missing\n");
}

static void test_errors_are_collected(void **state)
{
    (void)state;
    expect("proxy:\n"
           "  workers: lots\n"
           "  addr: nowhere\n"
           "shutdown:\n"
           "  min_drain_sec: 3\n"
           "etcd: {}\n"
           "observability:\n"
           "  access_log: 1\n",
           "c.yaml:2: proxy.workers: expected an integer from 1 to 1024, got \"lots\"\n"
           "c.yaml:3: proxy.addr: expected an address IP:PORT or [IPv6]:PORT, got \"nowhere\"\n"
           "c.yaml:5: shutdown.min_drain_sec: unknown key (did you mean shutdown.min_drain_secs?)\n"
           "c.yaml:6: etcd: not supported by sluice yet; use resources_file\n"
           "c.yaml:8: observability.access_log: expected true or false, got \"1\"\n");
}

static void test_yaml_errors_pass_through(void **state)
{
    (void)state;
    expect("proxy:\n  addr: 1.2.3.4:5\n  addr: 1.2.3.4:6\n",
           "c.yaml:3:3: duplicate key \"addr\" (first at line 2)\n");
    char *env[] = {(char *)"SLUICE_NOPE=1", NULL};
    expect_env("a: [\n", env,
               "c.yaml:2:1: YAML syntax error: did not find expected node content (while parsing "
               "a flow node at line 2)\n"
               "c.yaml: environment SLUICE_NOPE: unknown key nope\n");
}

static void test_env_overrides(void **state)
{
    (void)state;
    char *env[] = {(char *)"PATH=/usr/bin",
                   (char *)"SLUICEX_PROXY__ADDR=ignored",
                   (char *)"SLUICE_PROXY__ADDR=0.0.0.0:8081",
                   (char *)"SLUICE_PROXY__WORKERS=7",
                   (char *)"SLUICE_RESOURCES_FILE=/srv/resources.yaml",
                   (char *)"SLUICE_OBSERVABILITY__METRICS__PROMETHEUS__ENABLED=false",
                   (char *)"SLUICE_OBSERVABILITY__METRICS__PROMETHEUS__PATH=/m",
                   (char *)"SLUICE_OBSERVABILITY__LOG_LEVEL=Trace",
                   (char *)"SLUICE_UPSTREAM__TLS__VERIFY=0",
                   (char *)"SLUICE_OBSERVABILITY__ACCESS_LOG=1",
                   (char *)"SLUICE_ADMIN__ADMIN_KEYS=a, b ,c",
                   (char *)"SLUICE_ADMIN__ADDR=127.0.0.1:1",
                   (char *)"sluice_proxy__max_connections=5",
                   NULL};
    struct sl_config *cfg =
        load_ok(MINIMAL "  workers: 2\nobservability:\n  access_log: false\n", env);
    assert_string_equal(cfg->proxy.addr.text, "0.0.0.0:8081");
    assert_int_equal(cfg->proxy.workers, 7);
    assert_string_equal(cfg->resources_file, "/srv/resources.yaml");
    assert_false(cfg->observability.prometheus.enabled);
    assert_string_equal(cfg->observability.prometheus.path, "/m");
    assert_int_equal(cfg->observability.log_level, SL_LOG_TRACE);
    assert_false(cfg->upstream.tls.verify);
    assert_true(cfg->observability.access_log);
    assert_string_equal(cfg->admin.addr, "127.0.0.1:1");
    assert_int_equal(cfg->proxy.max_connections, 0); /* the prefix is upper-case only */
    sl_config_free(cfg);

    /* The environment alone can supply the required key. */
    char *only[] = {(char *)"SLUICE_PROXY__ADDR=[::1]:9",
                    (char *)"SLUICE_PROXY__TLS__CERT_FILE=", NULL};
    expect_env("", only,
               "c.yaml: environment SLUICE_PROXY__TLS__CERT_FILE=\"\": proxy.tls.cert_file: "
               "expected a file path, got \"\"\n");
    only[1] = NULL;
    cfg = load_ok("", only);
    assert_string_equal(cfg->proxy.addr.text, "[::1]:9");
    sl_config_free(cfg);
}

static void test_env_errors(void **state)
{
    (void)state;
    char *env[] = {(char *)"SLUICE_PROXY__WORKERS=abc",
                   (char *)"SLUICE_PROXY__WOKERS=4",
                   (char *)"SLUICE_PROXY=x",
                   (char *)"SLUICE_OBSERVABILITY__METRICS=x",
                   (char *)"SLUICE_ETCD__ENDPOINTS=http://e:2379",
                   (char *)"SLUICE_UPSTREAM__TLS__CLIENT_KEY_FILE=/k",
                   (char *)"SLUICE_OBSERVABILTY__LOG_LEVEL=info",
                   (char *)"SLUICE_FROBNICATE=1",
                   (char *)"SLUICE_=1",
                   (char *)"SLUICE_UPSTREAM__TLS__VERIFY=yes",
                   (char *)"SLUICE_UPSTREAM__RETRIES= 3",
                   (char *)"SLUICE_OBSERVABILITY__METRICS__PROMETHEUS__ADDR=\n:80",
                   NULL};
    expect_env(MINIMAL, env,
               "c.yaml: environment SLUICE_PROXY__WORKERS=\"abc\": proxy.workers: expected an "
               "integer from 1 to 1024, got \"abc\"\n"
               "c.yaml: environment SLUICE_PROXY__WOKERS: unknown key proxy.wokers (did you mean "
               "SLUICE_PROXY__WORKERS?)\n"
               "c.yaml: environment SLUICE_PROXY: proxy is a section, not a key\n"
               "c.yaml: environment SLUICE_OBSERVABILITY__METRICS: observability.metrics is a "
               "section, not a key\n"
               "c.yaml: environment SLUICE_ETCD__ENDPOINTS: etcd: not supported by sluice yet; "
               "use resources_file\n"
               "c.yaml: environment SLUICE_UPSTREAM__TLS__CLIENT_KEY_FILE: "
               "upstream.tls.client_key_file: not supported by sluice yet\n"
               "c.yaml: environment SLUICE_OBSERVABILTY__LOG_LEVEL: unknown key "
               "observabilty.log_level (did you mean SLUICE_OBSERVABILITY__LOG_LEVEL?)\n"
               "c.yaml: environment SLUICE_FROBNICATE: unknown key frobnicate\n"
               "c.yaml: environment SLUICE_: unknown key\n"
               "c.yaml: environment SLUICE_UPSTREAM__TLS__VERIFY=\"yes\": upstream.tls.verify: "
               "expected true, false, 1 or 0, got \"yes\"\n"
               "c.yaml: environment SLUICE_UPSTREAM__RETRIES=\" 3\": upstream.retries: expected "
               "an integer from 0 to 10, got \" 3\"\n"
               "c.yaml: environment SLUICE_OBSERVABILITY__METRICS__PROMETHEUS__ADDR=\"\\x0a:80\": "
               "observability.metrics.prometheus.addr: expected an address IP:PORT or "
               "[IPv6]:PORT, got \"\\x0a:80\"\n");
}

static void test_tls_ok(void **state)
{
    (void)state;
    char yaml[512];
    snprintf(yaml, sizeof(yaml), MINIMAL "  tls:\n    cert_file: %s\n    key_file: %s\n", cert_pem,
             key_pem);
    struct sl_config *cfg = load_ok(yaml, no_env);
    assert_string_equal(cfg->proxy.tls.cert_file, cert_pem);
    assert_false(cfg->proxy.tls.has_addr);
    sl_config_free(cfg);
}

static void expect_tls(const char *cert, const char *key, const char *extra, const char *want)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), MINIMAL "  tls:\n    cert_file: %s\n    key_file: %s\n%s", cert,
             key, extra);
    expect(yaml, want);
}

static void test_tls_errors(void **state)
{
    (void)state;
    char missing[160], want[1024], yaml[512];
    snprintf(missing, sizeof(missing), "%s/nope.pem", tmp);
    snprintf(want, sizeof(want),
             "c.yaml:5: proxy.tls.key_file: %s does not match the certificate in %s\n", other_pem,
             cert_pem);
    expect_tls(cert_pem, other_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:4: proxy.tls.cert_file: cannot read %s: No such file or directory\n", missing);
    expect_tls(missing, key_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:4: proxy.tls.cert_file: %s is not a PEM certificate (no start line)\n",
             junk_pem);
    expect_tls(junk_pem, key_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:5: proxy.tls.key_file: %s is not a PEM private key (no start line)\n",
             junk_pem);
    expect_tls(cert_pem, junk_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:5: proxy.tls.key_file: %s is not a PEM private key (found a CERTIFICATE "
             "block, no PRIVATE KEY)\n",
             cert_pem);
    expect_tls(cert_pem, cert_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:5: proxy.tls.key_file: %s is not a PEM private key (encrypted keys are not "
             "supported)\n",
             enc_pem);
    expect_tls(cert_pem, enc_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:4: proxy.tls.cert_file: %s is not a PEM certificate (no start line)\n",
             key_pem);
    expect_tls(key_pem, key_pem, "", want);
    snprintf(want, sizeof(want),
             "c.yaml:5: proxy.tls.key_file: cannot read %s: not a regular file\n", tmp);
    expect_tls(cert_pem, tmp, "", want);
    expect_tls(cert_pem, key_pem, "    addr: 127.0.0.1:8080\n",
               "c.yaml:6: proxy.tls.addr: must differ from proxy.addr (both are 127.0.0.1:8080)\n");

    snprintf(yaml, sizeof(yaml), MINIMAL "  tls:\n    cert_file: %s\n", cert_pem);
    expect(yaml, "c.yaml:4: proxy.tls.cert_file: set without proxy.tls.key_file (TLS needs "
                 "both)\n");
    snprintf(yaml, sizeof(yaml), MINIMAL "  tls:\n    key_file: %s\n", key_pem);
    expect(yaml, "c.yaml:4: proxy.tls.key_file: set without proxy.tls.cert_file (TLS needs "
                 "both)\n");
    expect(MINIMAL "  tls:\n    addr: 0.0.0.0:8443\n",
           "c.yaml:4: proxy.tls.addr: requires proxy.tls.cert_file and proxy.tls.key_file\n");

    char *env[] = {(char *)"SLUICE_PROXY__TLS__KEY_FILE=/nonexistent/k.pem", NULL};
    snprintf(yaml, sizeof(yaml), MINIMAL "  tls:\n    cert_file: %s\n    key_file: %s\n", cert_pem,
             key_pem);
    expect_env(yaml, env,
               "c.yaml: environment SLUICE_PROXY__TLS__KEY_FILE=\"/nonexistent/k.pem\": "
               "proxy.tls.key_file: cannot read /nonexistent/k.pem: No such file or directory\n");
}

static void test_load_file(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof(path), "%s/config.yaml", tmp);
    write_file(path, MINIMAL "  workers: 5\n");
    struct sl_config *cfg = NULL;
    struct sl_diag d;
    sl_diag_init(&d, path);
    assert_int_equal(sl_config_load(path, NULL, &cfg, &d), SL_OK);
    assert_string_equal(cfg->file, path);
    assert_int_equal(cfg->proxy.workers, 5);
    sl_config_free(cfg);
    snprintf(path, sizeof(path), "%s/absent.yaml", tmp);
    assert_int_equal(sl_config_load(path, NULL, &cfg, &d), SL_ERR);
    assert_null(cfg);
    assert_int_equal(d.count, 1);
    assert_int_equal(d.entries[0].line, 0);
    assert_string_equal(d.entries[0].msg, "cannot read config: No such file or directory");
    sl_diag_dispose(&d);
}

static void make_file(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s", root, rel);
    /* mkdir -p of the parent */
    for (char *p = path + strlen(root) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    write_file(path, text);
}

static void fake_tree(char *root, size_t cap, const char *name)
{
    snprintf(root, cap, "%s/%s", tmp, name);
    mkdir(root, 0755);
}

static void test_cgroup_cpus(void **state)
{
    (void)state;
    char root[256];
    fake_tree(root, sizeof(root), "v2max");
    make_file(root, "/proc/self/cgroup", "0::/\n");
    make_file(root, "/sys/fs/cgroup/cpu.max", "max 100000\n");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 0);

    fake_tree(root, sizeof(root), "v2quota");
    make_file(root, "/proc/self/cgroup", "0::/\n");
    make_file(root, "/sys/fs/cgroup/cpu.max", "150000 100000\n");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 2);

    /* A parent's quota binds a child that has none. */
    fake_tree(root, sizeof(root), "v2nested");
    make_file(root, "/proc/self/cgroup", "0::/kubepods/pod1/c1\n");
    make_file(root, "/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "max 100000\n");
    make_file(root, "/sys/fs/cgroup/kubepods/pod1/cpu.max", "300000 100000\n");
    make_file(root, "/sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 3);

    fake_tree(root, sizeof(root), "v1");
    make_file(root, "/proc/self/cgroup",
              "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/system.slice\n");
    make_file(root, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
    make_file(root, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 1);

    /* Inside a container the cgroup path names the host's view; the mount root holds it. */
    fake_tree(root, sizeof(root), "v1root");
    make_file(root, "/proc/self/cgroup", "3:cpu:/docker/abc\n");
    make_file(root, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
    make_file(root, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 3);

    fake_tree(root, sizeof(root), "v1unlimited");
    make_file(root, "/proc/self/cgroup", "4:cpu,cpuacct:/\n");
    make_file(root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    make_file(root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 0);

    fake_tree(root, sizeof(root), "empty");
    assert_int_equal(sl__config_cgroup_cpu_limit(root), 0);

    assert_true(sl_config_available_cpus() >= 1);
}

/* ratelimit: the backend, the redis url parsed into host, port, TLS and credentials, single mode
 * only, credentials in one place, TLS files with rediss:// only. */
static void test_ratelimit(void **state)
{
    (void)state;
    struct sl_config *cfg;
    struct sl_diag d;
    assert_int_equal(load(MINIMAL, no_env, &cfg, &d), SL_OK);
    assert_int_equal(cfg->ratelimit.backend, SL_RL_BACKEND_MEMORY);
    assert_int_equal(cfg->ratelimit.concurrency_ttl_secs, 300);
    assert_null(cfg->ratelimit.redis.host);
    sl_config_free(cfg);
    sl_diag_dispose(&d);

    assert_int_equal(load(MINIMAL "ratelimit:\n  backend: redis\n  redis:\n"
                                  "    url: rediss://bob:p%40ss@[::1]:7000/3\n    on_error: deny\n",
                          no_env, &cfg, &d),
                     SL_OK);
    const struct sl_redis_config *r = &cfg->ratelimit.redis;
    assert_int_equal(cfg->ratelimit.backend, SL_RL_BACKEND_REDIS);
    assert_string_equal(r->host, "::1");
    assert_int_equal(r->port, 7000);
    assert_true(r->tls);
    assert_string_equal(r->username, "bob");
    assert_string_equal(r->password, "p@ss");
    assert_int_equal(r->database, 3);
    assert_true(r->deny_on_error);
    assert_true(r->tls_opts.verify);
    assert_string_equal(r->key_prefix, "sluice");
    sl_config_free(cfg);
    sl_diag_dispose(&d);

    assert_int_equal(load(MINIMAL "ratelimit:\n  backend: redis\n  redis:\n    url: redis://h\n"
                                  "    password: pw\n    database: 2\n",
                          no_env, &cfg, &d),
                     SL_OK);
    assert_string_equal(cfg->ratelimit.redis.host, "h");
    assert_int_equal(cfg->ratelimit.redis.port, 6379);
    assert_false(cfg->ratelimit.redis.tls);
    assert_null(cfg->ratelimit.redis.username);
    assert_string_equal(cfg->ratelimit.redis.password, "pw");
    assert_int_equal(cfg->ratelimit.redis.database, 2);
    assert_false(cfg->ratelimit.redis.deny_on_error);
    sl_config_free(cfg);
    sl_diag_dispose(&d);

    /* The url is never quoted back: it may hold a password. */
    expect(MINIMAL "ratelimit:\n  backend: redis\n",
           "c.yaml: ratelimit.redis.url: required when ratelimit.backend is redis\n");
    expect(MINIMAL "ratelimit:\n  backend: etcd\n  redis: {url: 'http://u:secret@h'}\n",
           "c.yaml:4: ratelimit.backend: expected memory or redis, got \"etcd\"\n"
           "c.yaml:5: ratelimit.redis.url: expected a redis:// or rediss:// url\n");
    expect(MINIMAL "ratelimit:\n  redis:\n    url: redis://:secret@h:99999\n"
                   "    mode: sentinel\n    on_error: maybe\n",
           "c.yaml:6: ratelimit.redis.mode: sentinel is not supported by sluice yet (only single: "
           "one Redis server)\n"
           "c.yaml:7: ratelimit.redis.on_error: expected allow or deny, got \"maybe\"\n"
           "c.yaml:5: ratelimit.redis.url: the port is not a number from 1 to 65535\n");
    expect(MINIMAL "ratelimit:\n  redis:\n    url: redis://:secret@h/1\n    password: x\n"
                   "    database: 1\n",
           "c.yaml:6: ratelimit.redis.password: also given in ratelimit.redis.url; set it in one "
           "place\n"
           "c.yaml:7: ratelimit.redis.database: also given in ratelimit.redis.url; set it in one "
           "place\n");
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             MINIMAL "ratelimit:\n  redis:\n    url: redis://h\n    tls:\n      ca_file: %s\n"
                     "      client_cert_file: %s\n",
             cert_pem, cert_pem);
    expect(yaml, "c.yaml:8: ratelimit.redis.tls.client_cert_file: needs "
                 "ratelimit.redis.tls.client_key_file as well (a client certificate and its key "
                 "go together)\n"
                 "c.yaml:7: ratelimit.redis.tls.ca_file: applies to TLS connections only: use a "
                 "rediss:// url\n");
    static char var[] = "SLUICE_RATELIMIT__REDIS__URL=redis://:hunter2@h:x";
    char *const env[] = {var, NULL};
    expect_env(MINIMAL, env,
               "c.yaml: environment SLUICE_RATELIMIT__REDIS__URL: ratelimit.redis.url: the port is "
               "not a number from 1 to 65535\n");
}

/* cache: the memory bound, the cache.redis block (the ratelimit.redis shape, checked the same
 * way and named by its own path), and the legacy backend knob. */
static void test_cache(void **state)
{
    (void)state;
    struct sl_config *cfg;
    struct sl_diag d;
    assert_int_equal(load(MINIMAL, no_env, &cfg, &d), SL_OK);
    assert_int_equal(cfg->cache.memory_max_bytes, 67108864);
    assert_false(cfg->cache.has_redis);
    assert_null(cfg->cache.redis.host);
    sl_config_free(cfg);
    sl_diag_dispose(&d);

    assert_int_equal(load(MINIMAL "cache:\n  memory: {max_bytes: 4096}\n  redis:\n"
                                  "    url: redis://:pw@cachehost:7001/4\n    key_prefix: c1\n",
                          no_env, &cfg, &d),
                     SL_OK);
    assert_int_equal(cfg->cache.memory_max_bytes, 4096);
    assert_true(cfg->cache.has_redis);
    assert_string_equal(cfg->cache.redis.host, "cachehost");
    assert_int_equal(cfg->cache.redis.port, 7001);
    assert_string_equal(cfg->cache.redis.password, "pw");
    assert_int_equal(cfg->cache.redis.database, 4);
    assert_string_equal(cfg->cache.redis.key_prefix, "c1");
    assert_null(cfg->ratelimit.redis.host); /* the blocks are separate */
    sl_config_free(cfg);
    sl_diag_dispose(&d);

    expect(MINIMAL "cache:\n  redis: {timeout_ms: 5}\n",
           "c.yaml: cache.redis.url: required when cache.redis is given\n");
    expect(MINIMAL "cache:\n  backend: disk\n  memory: {max_bytes: -1}\n  redis:\n"
                   "    url: redis://:secret@h/1\n    database: 2\n    mode: cluster\n",
           "c.yaml:5: cache.memory.max_bytes: expected an integer from 0 to 1099511627776, got "
           "\"-1\"\n"
           "c.yaml:9: cache.redis.mode: cluster is not supported by sluice yet (only single: one "
           "Redis server)\n"
           "c.yaml:8: cache.redis.database: also given in cache.redis.url; set it in one place\n"
           "c.yaml:4: cache.backend: expected memory or redis, got \"disk\"\n");
    expect(MINIMAL "cache:\n  redis: {url: 'http://secret@h'}\n",
           "c.yaml:4: cache.redis.url: expected a redis:// or rediss:// url\n");
    static char var[] = "SLUICE_CACHE__REDIS__URL=redis://:hunter2@h:x";
    char *const env[] = {var, NULL};
    expect_env(MINIMAL, env,
               "c.yaml: environment SLUICE_CACHE__REDIS__URL: cache.redis.url: the port is "
               "not a number from 1 to 65535\n");
}

static void test_redis_url(void **state)
{
    (void)state;
    struct sl__redis_url u;
    const char *why;
    assert_int_equal(sl__redis_url_parse(SL_STRLIT("redis://secret@localhost"), &u, &why), SL_OK);
    assert_string_equal(u.host, "localhost");
    assert_null(u.username);
    assert_string_equal(u.password, "secret");
    assert_false(u.has_database);
    sl__redis_url_dispose(&u);
    assert_int_equal(sl__redis_url_parse(SL_STRLIT("redis://a@b:c@10.0.0.1:1/0"), &u, &why), SL_OK);
    assert_string_equal(u.username, "a@b");
    assert_string_equal(u.password, "c");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 1);
    assert_true(u.has_database);
    sl__redis_url_dispose(&u);
    static const char *const bad[] = {
        "redis://",    "redis://h:0",   "redis://h/x",    "redis://h?db=1",     "redis://[::1",
        "redis://h h", "redis://%zz@h", "redis://:%00@h", "unix:///tmp/r.sock", "redis://[::1]x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sl__redis_url_parse(sl_str_from_cstr(bad[i]), &u, &why), SL_EPARSE);
}

/* docs/configuration.md documents every key the schema knows, supported or not. */
static void test_docs_cover_schema(void **state)
{
    (void)state;
    FILE *f = fopen("../../docs/configuration.md", "r");
    assert_non_null(f);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "`%s`", sl__cfg_keys[i].path);
        if (strstr(doc, needle) == NULL)
            fail_msg("docs/configuration.md does not mention %s", needle);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_body_limit_zero_is_hard_max),
        cmocka_unit_test(test_thread_per_core_false_is_accepted),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_unsupported_keys),
        cmocka_unit_test(test_switched_off_blocks_load),
        cmocka_unit_test(test_admin_warning),
        cmocka_unit_test(test_tls_verify_false_warns),
        cmocka_unit_test(test_zero_switches_knobs_off),
        cmocka_unit_test(test_request_id_headers),
        cmocka_unit_test(test_real_ip),
        cmocka_unit_test(test_ca_file_is_loaded),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_admin_keys_are_never_echoed),
        cmocka_unit_test(test_responses_id_secrets),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_errors_are_collected),
        cmocka_unit_test(test_yaml_errors_pass_through),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_tls_ok),
        cmocka_unit_test(test_tls_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_cgroup_cpus),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_docs_cover_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
