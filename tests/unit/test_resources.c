#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sluice/resources.h"

int main(void);

#define E(s) ((char *)(s))

/* Every secret any test puts in a file or the environment contains "SECRET" or "s3cr3t";
 * expect() checks that none ever shows up in a message. */
static char *const env[] = {
    E("UPSTREAM_KEY=sk-SECRET-upstream"),
    E("CALLER_KEY=abc"),
    E("CALLER_KEY_2=sk-s3cr3t-caller-2"),
    E("HOST=127.0.0.1"),
    E("PORT=3001"),
    E("ONE=1"),
    E("TIMEOUT=5000"),
    E("EMPTY="),
    E("REF_KEY=sk-${HOST}-s3cr3t"),
    E("TEAM=team-s3cr3t"),
    NULL,
};

static char *const no_env[] = {NULL};

/* SHA-256("abc"), the FIPS 180-2 test vector: the digest of CALLER_KEY. */
static const uint8_t abc_digest[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

#define HDR "_format_version: \"1\"\n"

#define PK_MOCK                                                                                    \
    "provider_keys:\n"                                                                             \
    "  - display_name: mock\n"                                                                     \
    "    provider: openai\n"                                                                       \
    "    api_key: sk-SECRET-file\n"                                                                \
    "    api_base: http://127.0.0.1:3001/v1\n"

#define M_MINI                                                                                     \
    "models:\n"                                                                                    \
    "  - display_name: gpt-4o-mini\n"                                                              \
    "    provider_key: mock\n"                                                                     \
    "    model_name: gpt-4o-mini\n"

static int load(const char *yaml, char *const *e, struct sl_resources **r, struct sl_diag *d)
{
    sl_diag_init(d, "r.yaml");
    return sl_resources_parse(yaml, strlen(yaml), "r.yaml", e, r, d);
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

static void assert_no_secrets(const struct sl_diag *d)
{
    for (size_t i = 0; i < d->count; i++) {
        const char *m = d->entries[i].msg;
        if (strstr(m, "SECRET") != NULL || strstr(m, "s3cr3t") != NULL)
            fail_msg("secret in message: %s", m);
    }
}

/* Loads yaml, expects failure, and compares everything sl_diag_print writes. */
static void expect_env(const char *yaml, char *const *e, const char *want)
{
    struct sl_resources *r = (struct sl_resources *)1;
    struct sl_diag d;
    assert_int_equal(load(yaml, e, &r, &d), SL_ERR);
    assert_null(r);
    char *got = printed(&d);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
    assert_string_equal(got, want);
    assert_no_secrets(&d);
    free(got);
    sl_diag_dispose(&d);
}

static void expect(const char *yaml, const char *want)
{
    expect_env(yaml, env, want);
}

static struct sl_resources *load_ok_env(const char *yaml, char *const *e)
{
    struct sl_resources *r = NULL;
    struct sl_diag d;
    int rc = load(yaml, e, &r, &d);
    if (rc != SL_OK)
        sl_diag_print(&d, stderr);
    assert_int_equal(rc, SL_OK);
    assert_int_equal(d.count, 0);
    sl_diag_dispose(&d);
    assert_non_null(r);
    return r;
}

static struct sl_resources *load_ok(const char *yaml)
{
    return load_ok_env(yaml, env);
}

/* A file exercising every supported field. */
static const char full_file[] =
    "# comment\n"
    "_format_version: \"1\"\n"
    "provider_keys:\n"
    "  - display_name: mock\n"
    "    provider: openai\n"
    "    api_key: ${UPSTREAM_KEY}\n"
    "    api_base: http://${HOST}:${PORT}/v1/\n"
    "    adapter: openai\n"
    "  - display_name: openai-main\n"
    "    provider: openai\n"
    "    secret: sk-SECRET-inline\n"
    "  - display_name: ds\n"
    "    provider: deepseek\n"
    "    api_key: sk-SECRET-ds\n"
    "    api_base: HTTPS://API.DeepSeek.com:8443/chat/completions\n"
    "  - display_name: v6\n"
    "    provider: local.llm_v2\n"
    "    api_key: sk-SECRET-v6\n"
    "    api_base: http://[::1]/\n"
    "models:\n"
    "  - display_name: zeta\n"
    "    provider_key: ds\n"
    "    model_name: deepseek-chat\n"
    "    provider: deepseek\n"
    "    timeout: 0\n"
    "    stream_timeout: 30000\n"
    "    retries: 10\n"
    "  - display_name: gpt-4o-mini\n"
    "    provider_key: mock\n"
    "    model_name: \"gpt-4o-mini\\\"q\"\n"
    "  - display_name: mock-*\n"
    "    provider_key: mock\n"
    "    model_name: mock-*\n"
    "  - display_name: openai/*\n"
    "    provider_key: openai-main\n"
    "    model_name: '*'\n"
    "  - display_name: \"*-fixed\"\n"
    "    provider_key: v6\n"
    "    model_name: always-this\n"
    "api_keys:\n"
    "  - display_name: env-key\n"
    "    key_env: CALLER_KEY\n"
    "    allowed_models: [gpt-4o-mini, \"mock-*\", mock-abc]\n"
    "    expires_at: 2026-12-31T23:59:59.5+01:00\n"
    "    disabled: false\n"
    "    team_id: t1\n"
    "    user_id: \"42\"\n"
    "    user_name: Ada\n"
    "  - display_name: hash-key\n"
    "    key_hash: 9E3B2B30646B010D7075843489FDFA4B3C2257B902B3162E5D5D385F1C6C4360\n"
    "    allowed_models: []\n"
    "    disabled: TRUE\n"
    "guardrails: []\n"
    "mcp_servers:\n"
    "cache_policies: ~\n";

static void test_full_file(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(full_file);
    assert_string_equal(r->file, "r.yaml");
    assert_int_equal(r->n_provider_keys, 4);

    const struct sl_provider_key *k = &r->provider_keys[0];
    assert_string_equal(k->name, "mock");
    assert_string_equal(k->provider, "openai");
    assert_int_equal(k->adapter, SL_ADAPTER_OPENAI);
    assert_string_equal(k->api_base, "http://127.0.0.1:3001/v1");
    assert_string_equal(k->api_key, "sk-SECRET-upstream");
    assert_string_equal(k->auth_header, "Bearer sk-SECRET-upstream");
    assert_false(k->origin.tls);
    assert_string_equal(k->origin.host, "127.0.0.1");
    assert_int_equal(k->origin.port, 3001);
    assert_string_equal(k->origin.authority, "127.0.0.1:3001");
    assert_string_equal(k->origin.base_path, "/v1");
    assert_string_equal(k->origin.key, "http://127.0.0.1:3001");
    assert_int_equal(k->line, 4);

    k = &r->provider_keys[1];
    assert_string_equal(k->api_base, "https://api.openai.com/v1");
    assert_string_equal(k->api_key, "sk-SECRET-inline");
    assert_string_equal(k->auth_header, "Bearer sk-SECRET-inline");
    assert_true(k->origin.tls);
    assert_string_equal(k->origin.host, "api.openai.com");
    assert_int_equal(k->origin.port, 443);
    assert_string_equal(k->origin.authority, "api.openai.com");
    assert_string_equal(k->origin.base_path, "/v1");
    assert_string_equal(k->origin.key, "https://api.openai.com:443");

    k = &r->provider_keys[2];
    assert_string_equal(k->api_base, "https://api.deepseek.com:8443");
    assert_string_equal(k->origin.host, "api.deepseek.com");
    assert_string_equal(k->origin.authority, "api.deepseek.com:8443");
    assert_string_equal(k->origin.base_path, "");
    assert_string_equal(k->origin.key, "https://api.deepseek.com:8443");

    k = &r->provider_keys[3];
    assert_string_equal(k->provider, "local.llm_v2");
    assert_string_equal(k->api_base, "http://[::1]");
    assert_string_equal(k->origin.host, "::1");
    assert_int_equal(k->origin.port, 80);
    assert_string_equal(k->origin.authority, "[::1]");
    assert_string_equal(k->origin.key, "http://[::1]:80");

    /* Sorted by name (bytewise). */
    assert_int_equal(r->n_models, 5);
    assert_string_equal(r->models[0].name, "*-fixed");
    assert_string_equal(r->models[1].name, "gpt-4o-mini");
    assert_string_equal(r->models[2].name, "mock-*");
    assert_string_equal(r->models[3].name, "openai/*");
    assert_string_equal(r->models[4].name, "zeta");

    const struct sl_model *m = &r->models[1];
    assert_false(m->is_wildcard);
    assert_string_equal(m->model_name, "gpt-4o-mini\"q");
    assert_string_equal(m->model_name_json, "\"gpt-4o-mini\\\"q\"");
    assert_string_equal(m->provider, "openai");
    assert_ptr_equal(m->key, &r->provider_keys[0]);
    assert_false(m->has_timeout);
    assert_false(m->has_stream_timeout);
    assert_false(m->has_retries);
    assert_int_equal(m->line, 28);

    m = &r->models[4];
    assert_string_equal(m->provider, "deepseek");
    assert_ptr_equal(m->key, &r->provider_keys[2]);
    assert_true(m->has_timeout);
    assert_int_equal(m->timeout_ms, 0);
    assert_true(m->has_stream_timeout);
    assert_int_equal(m->stream_timeout_ms, 30000);
    assert_true(m->has_retries);
    assert_int_equal(m->retries, 10);

    m = &r->models[2];
    assert_true(m->is_wildcard);
    assert_int_equal(m->literal_len, 5);
    assert_string_equal(m->model_name, "mock-*");
    assert_null(m->model_name_json);
    assert_string_equal(r->models[0].provider, "local.llm_v2");

    assert_int_equal(r->n_api_keys, 2);
    const struct sl_api_key *a = &r->api_keys[0];
    assert_string_equal(a->name, "env-key");
    assert_memory_equal(a->digest, abc_digest, 32);
    assert_int_equal(a->n_allowed_models, 3);
    assert_string_equal(a->allowed_models[0], "gpt-4o-mini");
    assert_string_equal(a->allowed_models[1], "mock-*");
    assert_string_equal(a->allowed_models[2], "mock-abc");
    assert_true(a->has_expiry);
    assert_int_equal(a->expires_at_us, 1798757999LL * 1000000 + 500000);
    assert_false(a->disabled);
    a = &r->api_keys[1];
    assert_true(a->disabled);
    assert_false(a->has_expiry);
    assert_int_equal(a->n_allowed_models, 0);
    assert_int_equal(a->digest[0], 0x9e);
    assert_int_equal(a->digest[31], 0x60);
    sl_resources_free(r);
}

static void test_minimal_and_empty_collections(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR);
    assert_int_equal(r->n_provider_keys, 0);
    assert_int_equal(r->n_models, 0);
    assert_int_equal(r->n_api_keys, 0);
    struct sl_buf b;
    sl_buf_init(&b, 64);
    assert_null(sl_resources_resolve(r, SL_STRLIT("x"), &b));
    assert_null(sl_resources_resolve(r, SL_STR_NULL, NULL));
    assert_null(sl_resources_find_key(r, abc_digest));
    sl_buf_dispose(&b);
    sl_resources_free(r);

    r = load_ok(HDR "provider_keys:\nmodels: []\napi_keys: ~\n"
                    "guardrails: []\nmcp_servers:\na2a_agents: []\ncache_policies: []\n"
                    "observability_exporters: []\nrate_limit_policies: []\noidc_providers: []\n"
                    "claim_mappings: []\npassthrough_routes: []\nmcp_auth_settings: []\n");
    assert_int_equal(r->n_models, 0);
    sl_resources_free(r);
    sl_resources_free(NULL);
}

static void test_file_shape(void **state)
{
    (void)state;
    expect("", "r.yaml: (file): missing mandatory _format_version (expected \"1\")\n");
    expect("# nothing\n", "r.yaml: (file): missing mandatory _format_version (expected \"1\")\n");
    expect("models: []\n", "r.yaml: (file): missing mandatory _format_version (expected \"1\")\n");
    expect("- a\n- b\n", "r.yaml:1: the top level must be a mapping, got a list\n");
    expect("just text\n", "r.yaml:1: the top level must be a mapping, got a string\n");
    expect("_format_version: 1\n",
           "r.yaml:1: _format_version: expected the quoted string \"1\", got unquoted 1\n");
    expect("_format_version: \"2\"\n",
           "r.yaml:1: _format_version: unsupported version \"2\" (expected \"1\")\n");
    expect("_format_version: \"1.0\"\n",
           "r.yaml:1: _format_version: unsupported version \"1.0\" (expected \"1\")\n");
    expect("_format_version:\n",
           "r.yaml:1: _format_version: expected the quoted string \"1\", got null\n");
    expect("_format_version: [\"1\"]\n",
           "r.yaml:1: _format_version: expected the quoted string \"1\", got a list\n");
    expect("_format_version: |\n  1\n",
           "r.yaml:1: _format_version: unsupported version \"1\\x0a\" (expected \"1\")\n");
    /* Single quotes and !!str count as quoted. */
    sl_resources_free(load_ok("_format_version: '1'\n"));
    sl_resources_free(load_ok("_format_version: !!str 1\n"));
    expect(HDR "modles: []\nprovider_key: []\nextra: 1\n\"a.b\": 2\n",
           "r.yaml:2: modles: unknown key (did you mean models?)\n"
           "r.yaml:3: provider_key: unknown key (did you mean provider_keys?)\n"
           "r.yaml:4: extra: unknown key\n"
           "r.yaml:5: a.b: unknown key\n");
    expect(HDR "models: {}\nprovider_keys: x\napi_keys: 3\n",
           "r.yaml:2: models: expected a list of mappings, got a mapping\n"
           "r.yaml:3: provider_keys: expected a list of mappings, got a string\n"
           "r.yaml:4: api_keys: expected a list of mappings, got a string\n");
    expect(HDR "models: [a, [b], ~]\n", "r.yaml:2: models[0]: expected a mapping, got a string\n"
                                        "r.yaml:2: models[1]: expected a mapping, got a list\n"
                                        "r.yaml:2: models[2]: expected a mapping, got null\n");
    expect("_format_version: \"1\"\n_format_version: \"1\"\n",
           "r.yaml:2:1: duplicate key \"_format_version\" (first at line 1)\n");
    expect("a: [\n", "r.yaml:2:1: YAML syntax error: did not find expected node content (while "
                     "parsing a flow node at line 2)\n");
    expect(HDR "x: &a 1\n", "r.yaml:2:4: unsupported YAML construct: anchor\n");
}

static void test_unsupported_collections(void **state)
{
    (void)state;
    expect(HDR "guardrails:\n  - name: g\nmcp_servers: [{name: m}]\na2a_agents: [x]\n"
               "observability_exporters: [x]\n"
               "oidc_providers: [x]\nclaim_mappings: [x]\npassthrough_routes: [x]\n"
               "mcp_auth_settings: {anonymous: true}\n",
           "r.yaml:2: guardrails: not supported by sluice yet\n"
           "r.yaml:4: mcp_servers: not supported by sluice yet\n"
           "r.yaml:5: a2a_agents: not supported by sluice yet\n"
           "r.yaml:6: observability_exporters: not supported by sluice yet\n"
           "r.yaml:7: oidc_providers: not supported by sluice yet\n"
           "r.yaml:8: claim_mappings: not supported by sluice yet\n"
           "r.yaml:9: passthrough_routes: not supported by sluice yet\n"
           "r.yaml:10: mcp_auth_settings: not supported by sluice yet\n");
}

static void test_common_entry_errors(void **state)
{
    (void)state;
    expect(HDR "models:\n"
               "  - provider_key: mock\n"
               "    model_name: x\n",
           "r.yaml:3: models[0]: display_name: required field is missing\n"
           "r.yaml:3: models[0]: provider_key: \"mock\" is not defined in provider_keys\n");
    expect(HDR "provider_keys:\n"
               "  - display_name: \"\"\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "  - display_name:\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "  - display_name: [a]\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "  - display_name: \"a\\tb\"\n"
               "    provider: openai\n"
               "    api_key: k\n",
           "r.yaml:3: provider_keys[0]: display_name: expected a non-empty string, got a quoted "
           "string \"\"\n"
           "r.yaml:6: provider_keys[1]: display_name: a value is required, got null\n"
           "r.yaml:9: provider_keys[2]: display_name: expected a non-empty string, got a list\n"
           "r.yaml:12: provider_keys[3]: display_name: control characters are not allowed, got "
           "a quoted string \"a\\x09b\"\n");
    expect(HDR PK_MOCK "    id: 5\n    api_bse: x\n    Provider: y\n    zzzzzz: 1\n",
           "r.yaml:7: provider_keys[0] (\"mock\"): id: not allowed in a resources file (ids are "
           "derived from display_name)\n"
           "r.yaml:8: provider_keys[0] (\"mock\"): api_bse: unknown key (did you mean "
           "api_base?)\n"
           "r.yaml:9: provider_keys[0] (\"mock\"): Provider: unknown key (did you mean "
           "provider?)\n"
           "r.yaml:10: provider_keys[0] (\"mock\"): zzzzzz: unknown key\n");
    expect(HDR PK_MOCK "  - display_name: mock\n    provider: openai\n    api_key: k\n"
                       "  - display_name: mock\n    provider: openai\n    api_key: k\n",
           "r.yaml:7: provider_keys[1] (\"mock\"): display_name: duplicate display_name "
           "\"mock\" (first at line 3)\n"
           "r.yaml:10: provider_keys[2] (\"mock\"): display_name: duplicate display_name "
           "\"mock\" (first at line 3)\n");
    expect(HDR PK_MOCK M_MINI "  - display_name: gpt-4o-mini\n    provider_key: mock\n"
                              "    model_name: y\n",
           "r.yaml:11: models[1] (\"gpt-4o-mini\"): display_name: duplicate display_name "
           "\"gpt-4o-mini\" (first at line 8)\n");
    expect(HDR "api_keys:\n  - display_name: a\n    key_env: CALLER_KEY\n    allowed_models: []\n"
               "  - display_name: a\n    key_env: CALLER_KEY_2\n    allowed_models: []\n",
           "r.yaml:6: api_keys[1] (\"a\"): display_name: duplicate display_name \"a\" (first at "
           "line 3)\n");
}

static void test_provider_key_errors(void **state)
{
    (void)state;
    expect(HDR "provider_keys:\n"
               "  - display_name: a\n"
               "  - display_name: b\n"
               "    provider: Open AI\n"
               "    api_key: sk-SECRET-1\n"
               "    secret: sk-SECRET-2\n"
               "  - display_name: c\n"
               "    provider: openai\n"
               "    api_key: \"\"\n"
               "  - display_name: d\n"
               "    provider: openai\n"
               "    secret: [sk-SECRET-3]\n"
               "  - display_name: e\n"
               "    provider: openai\n"
               "    api_key:\n"
               "  - display_name: f\n"
               "    provider: openai\n"
               "    api_key: \"sk-SECRET\\n\"\n"
               "  - display_name: g\n"
               "    provider: openai\n"
               "    api_key: \"sk-SECRET\\0x\"\n",
           "r.yaml:3: provider_keys[0] (\"a\"): api_key: required field is missing\n"
           "r.yaml:5: provider_keys[1] (\"b\"): provider: expected a vendor name of lower-case "
           "letters, digits, \"-\", \"_\" and \".\", got \"Open AI\"\n"
           "r.yaml:7: provider_keys[1] (\"b\"): secret: set only one of api_key and its alias "
           "secret\n"
           "r.yaml:10: provider_keys[2] (\"c\"): api_key: expected a non-empty string, got an "
           "empty string\n"
           "r.yaml:13: provider_keys[3] (\"d\"): secret: expected a non-empty string, got a "
           "list\n"
           "r.yaml:16: provider_keys[4] (\"e\"): api_key: a value is required, got null\n"
           "r.yaml:19: provider_keys[5] (\"f\"): api_key: control characters are not allowed "
           "(the key is sent in an HTTP header)\n"
           "r.yaml:22: provider_keys[6] (\"g\"): api_key: expected a non-empty string, got a "
           "string\n");
    expect(HDR "provider_keys:\n"
               "  - display_name: ds\n"
               "    provider: deepseek\n"
               "    api_key: k\n"
               "  - display_name: an\n"
               "    provider: anthropic\n"
               "    api_key: k\n"
               "  - display_name: br\n"
               "    provider: aws\n"
               "    api_key: k\n"
               "    adapter: bedrock\n"
               "  - display_name: x\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    adapter: grpc\n"
               "  - display_name: u\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    api_base: https://user:sk-SECRET-u@host/v1\n"
               "  - display_name: q\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    api_base: https://host/v1?key=sk-SECRET-q\n"
               "  - display_name: s\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    api_base: ftp://${HOST}/\n",
           "r.yaml:3: provider_keys[0] (\"ds\"): api_base: required for provider \"deepseek\" "
           "(the default https://api.openai.com/v1 applies only to provider openai)\n"
           "r.yaml:9: provider_keys[2] (\"br\"): api_base: required for a Bedrock API key (it "
           "names no region): set https://bedrock-runtime.<region>.amazonaws.com, or give "
           "api_key as the JSON object {\"access_key_id\", \"secret_access_key\", "
           "\"session_token\"?, \"region\"}\n"
           "r.yaml:16: provider_keys[3] (\"x\"): adapter: expected one of openai, anthropic, "
           "azure-openai, gemini, vertex, bedrock, got \"grpc\"\n"
           "r.yaml:20: provider_keys[4] (\"u\"): api_base: invalid URL: user info "
           "(user:password@) is not allowed\n"
           "r.yaml:24: provider_keys[5] (\"q\"): api_base: invalid URL: a query string is not "
           "allowed\n"
           "r.yaml:28: provider_keys[6] (\"s\"): api_base: invalid URL (interpolated): only http "
           "and https URLs are supported\n");
    expect(HDR "provider_keys:\n"
               "  - display_name: a\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    adapter: vertex\n"
               "  - display_name: b\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    adapter: azure-openai\n"
               "    api_version: \"2024 10\"\n"
               "  - display_name: c\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    adapter: anthropic\n"
               "    request: {default_headers: {}}\n"
               "    response: {}\n"
               "    strip_headers: []\n"
               "    tls: {verify: false}\n"
               "    telemetry_tags: {}\n",
           "r.yaml:5: provider_keys[0] (\"a\"): api_key: the vertex family needs a JSON "
           "credential: {\"access_token\", \"project\", \"region\"} or a service account key\n"
           "r.yaml:7: provider_keys[1] (\"b\"): api_base: required for the azure-openai family "
           "(https://<resource>.openai.azure.com: it has no default)\n"
           "r.yaml:11: provider_keys[1] (\"b\"): api_version: expected a version such as "
           "2024-10-21 (letters, digits, '-', '.', '_'), got a quoted string \"2024 10\"\n"
           "r.yaml:16: provider_keys[2] (\"c\"): request: not supported by sluice yet\n"
           "r.yaml:17: provider_keys[2] (\"c\"): response: not supported by sluice yet\n"
           "r.yaml:18: provider_keys[2] (\"c\"): strip_headers: not supported by sluice yet\n"
           "r.yaml:19: provider_keys[2] (\"c\"): tls: not supported by sluice yet (set "
           "upstream.tls in config.yaml)\n"
           "r.yaml:20: provider_keys[2] (\"c\"): telemetry_tags: not supported by sluice yet\n");
}

/* An explicit adapter: openai makes any vendor, anthropic included, OpenAI-compatible. */
static void test_provider_adapter_openai(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR "provider_keys:\n"
                                         "  - display_name: an\n"
                                         "    provider: anthropic\n"
                                         "    adapter: openai\n"
                                         "    api_key: k\n"
                                         "    api_base: https://api.anthropic.com/v1/\n");
    assert_string_equal(r->provider_keys[0].api_base, "https://api.anthropic.com/v1");
    assert_string_equal(r->provider_keys[0].auth_header, "Bearer k");
    sl_resources_free(r);
}

static void test_model_errors(void **state)
{
    (void)state;
    expect(HDR PK_MOCK "models:\n"
                       "  - display_name: a*b*\n"
                       "    provider_key: nope\n"
                       "    model_name: x\n"
                       "    provider_key_id: 123\n"
                       "  - display_name: b\n"
                       "    provider_key: mock\n"
                       "    model_name: \"x*\"\n"
                       "    provider: deepseek\n"
                       "  - display_name: c*\n"
                       "    provider_key: mock\n"
                       "    model_name: \"*x*\"\n"
                       "    provider: Bad\n"
                       "  - display_name: d\n"
                       "  - display_name: e\n"
                       "    provider_key: [mock]\n"
                       "    model_name: \"\"\n",
           "r.yaml:8: models[0] (\"a*b*\"): display_name: a wildcard name has exactly one \"*\", "
           "got \"a*b*\"\n"
           "r.yaml:9: models[0] (\"a*b*\"): provider_key: \"nope\" is not defined in "
           "provider_keys\n"
           "r.yaml:11: models[0] (\"a*b*\"): provider_key_id: not accepted in a resources file; "
           "use provider_key with the key's display_name\n"
           "r.yaml:14: models[1] (\"b\"): model_name: \"*\" is only allowed when display_name is "
           "a wildcard, got a quoted string \"x*\"\n"
           "r.yaml:18: models[2] (\"c*\"): model_name: a template has at most one \"*\", got a "
           "quoted string \"*x*\"\n"
           "r.yaml:19: models[2] (\"c*\"): provider: expected a vendor name of lower-case "
           "letters, digits, \"-\", \"_\" and \".\", got \"Bad\"\n"
           "r.yaml:20: models[3] (\"d\"): provider_key: required field is missing\n"
           "r.yaml:20: models[3] (\"d\"): model_name: required field is missing\n"
           "r.yaml:22: models[4] (\"e\"): provider_key: expected a non-empty string, got a list\n"
           "r.yaml:23: models[4] (\"e\"): model_name: expected a non-empty string, got a quoted "
           "string \"\"\n");
    expect(HDR PK_MOCK "models:\n"
                       "  - display_name: m\n"
                       "    provider_key: mock\n"
                       "    model_name: m\n"
                       "    timeout: -1\n"
                       "    stream_timeout: \"5\"\n"
                       "    retries: 11\n"
                       "  - display_name: n\n"
                       "    provider_key: mock\n"
                       "    model_name: n\n"
                       "    timeout: 31536000001\n"
                       "    stream_timeout: 1.5\n"
                       "    retries: [1]\n"
                       "  - display_name: o\n"
                       "    provider_key: mock\n"
                       "    model_name: o\n"
                       "    timeout: 31536000000\n"
                       "    retries: 0x1\n",
           "r.yaml:11: models[0] (\"m\"): timeout: expected an integer from 0 to 31536000000, got "
           "\"-1\"\n"
           "r.yaml:12: models[0] (\"m\"): stream_timeout: expected an integer from 0 to "
           "31536000000, got a quoted string \"5\"\n"
           "r.yaml:13: models[0] (\"m\"): retries: expected an integer from 0 to 10, got \"11\"\n"
           "r.yaml:17: models[1] (\"n\"): timeout: expected an integer from 0 to 31536000000, got "
           "\"31536000001\"\n"
           "r.yaml:18: models[1] (\"n\"): stream_timeout: expected an integer from 0 to "
           "31536000000, got \"1.5\"\n"
           "r.yaml:19: models[1] (\"n\"): retries: expected an integer from 0 to 10, got a list\n"
           "r.yaml:24: models[2] (\"o\"): retries: expected an integer from 0 to 10, got "
           "\"0x1\"\n");
    expect(HDR PK_MOCK "models:\n"
                       "  - display_name: m\n"
                       "    provider_key: mock\n"
                       "    model_name: m\n"
                       "    cooldown: {}\n"
                       "    rate_limit: {rpm: 1}\n"
                       "    cost: {}\n"
                       "    allowed_cidrs: []\n"
                       "    background_model_check: {}\n"
                       "    auto_prompt_caching: {}\n"
                       "    embedding: {}\n"
                       "    modelname: x\n",
           "r.yaml:13: models[0] (\"m\"): cost.input_per_1k: required field is missing\n"
           "r.yaml:13: models[0] (\"m\"): cost.output_per_1k: required field is missing\n"
           "r.yaml:15: models[0] (\"m\"): background_model_check.enabled: required field is "
           "missing\n"
           "r.yaml:15: models[0] (\"m\"): background_model_check.interval_seconds: required "
           "field is missing\n"
           "r.yaml:15: models[0] (\"m\"): background_model_check.timeout_seconds: required field "
           "is missing\n"
           "r.yaml:15: models[0] (\"m\"): background_model_check.max_tokens: required field is "
           "missing\n"
           "r.yaml:15: models[0] (\"m\"): background_model_check.stale_after_seconds: required "
           "field is missing\n"
           "r.yaml:15: models[0] (\"m\"): background_model_check.prompt: required field is "
           "missing\n"
           "r.yaml:16: models[0] (\"m\"): auto_prompt_caching: not supported by sluice yet\n"
           "r.yaml:17: models[0] (\"m\"): embedding: not supported by sluice yet\n"
           "r.yaml:18: models[0] (\"m\"): modelname: unknown key (did you mean model_name?)\n");
}

/* An AISIX ensemble or semantic router has no provider_key or model_name; adding them would
 * make a file AISIX refuses. Each gets one error. */
static void test_virtual_models_get_one_error(void **state)
{
    (void)state;
    expect(HDR PK_MOCK M_MINI
           "  - display_name: panel\n"
           "    ensemble: {panel: [{model: gpt-4o-mini}], judge: {model: "
           "gpt-4o-mini}}\n"
           "  - display_name: router\n"
           "    semantic: {embedding_model: gpt-4o-mini, routes: []}\n"
           "api_keys:\n"
           "  - display_name: a\n"
           "    key_hash: 9E3B2B30646B010D7075843489FDFA4B3C2257B902B3162E5D5D385F1C6C4360\n"
           "    allowed_models: [panel]\n",
           "r.yaml:12: models[1] (\"panel\"): ensemble: not supported by sluice yet (ensembles "
           "are not built yet)\n"
           "r.yaml:14: models[2] (\"router\"): semantic: not supported by sluice yet (semantic "
           "routers are not built yet)\n");
}

#define M_THREE                                                                                    \
    "models:\n"                                                                                    \
    "  - display_name: a\n"                                                                        \
    "    provider_key: mock\n"                                                                     \
    "    model_name: up-a\n"                                                                       \
    "  - display_name: b\n"                                                                        \
    "    provider_key: mock\n"                                                                     \
    "    model_name: up-b\n"                                                                       \
    "  - display_name: c\n"                                                                        \
    "    provider_key: mock\n"                                                                     \
    "    model_name: up-c\n"

static const struct sl_model *model_named(const struct sl_resources *r, const char *name)
{
    const struct sl_model *m = sl_resources_resolve(r, sl_str_from_cstr(name), NULL);
    assert_non_null(m);
    assert_string_equal(m->name, name);
    return m;
}

/* A model group: every field read, targets pointing at the direct models (after the models
 * are sorted by name), defaults where the file says nothing. */
static void test_routing_group(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK M_THREE "  - display_name: grp\n"
                                    "    timeout: 1000\n"
                                    "    stream_timeout: 200\n"
                                    "    allowed_cidrs: [10.0.0.0/8, \"2001:db8::/32\"]\n"
                                    "    routing:\n"
                                    "      strategy: consistent_hash\n"
                                    "      hash_on:\n"
                                    "        - {type: header, name: X-Session}\n"
                                    "        - {type: cookie, name: sid}\n"
                                    "        - {type: client_ip}\n"
                                    "      max_fallbacks: 1\n"
                                    "      retries: 3\n"
                                    "      retry_on_429: true\n"
                                    "      fallback_on_statuses: [408, 409]\n"
                                    "      when_all_unavailable: try_anyway\n"
                                    "      targets:\n"
                                    "        - model: c\n"
                                    "          weight: 3\n"
                                    "          priority: -1\n"
                                    "          tags: [eu, default]\n"
                                    "        - model: a\n"
                                    "          weight: 0\n"
                                    "  - display_name: plain\n"
                                    "    routing: {targets: [{model: b}]}\n");
    const struct sl_model *g = model_named(r, "grp");
    assert_int_equal(g->kind, SL_MODEL_ROUTING);
    assert_null(g->key);
    assert_null(g->model_name);
    assert_true(g->has_timeout);
    assert_int_equal(g->timeout_ms, 1000);
    assert_int_equal(g->stream_timeout_ms, 200);
    assert_int_equal(g->n_allowed_cidrs, 2);
    const struct sl_routing *rt = g->routing;
    assert_int_equal(rt->strategy, SL_ROUTE_CONSISTENT_HASH);
    assert_int_equal(rt->n_targets, 2);
    assert_ptr_equal(rt->targets[0].model, model_named(r, "c"));
    assert_ptr_equal(rt->targets[1].model, model_named(r, "a"));
    assert_int_equal(rt->targets[0].weight, 3);
    assert_int_equal(rt->targets[0].priority, -1);
    assert_int_equal(rt->targets[0].n_tags, 2);
    assert_string_equal(rt->targets[0].tags[1], "default");
    assert_int_equal(rt->targets[1].weight, 0);
    assert_int_equal(rt->targets[1].priority, 0);
    assert_true(rt->tagged);
    assert_int_equal(rt->n_hash_on, 3);
    assert_int_equal(rt->hash_on[0].type, SL_HASH_HEADER);
    assert_string_equal(rt->hash_on[0].name, "x-session");
    assert_int_equal(rt->hash_on[1].type, SL_HASH_COOKIE);
    assert_string_equal(rt->hash_on[1].name, "sid");
    assert_int_equal(rt->hash_on[2].type, SL_HASH_CLIENT_IP);
    assert_null(rt->hash_on[2].name);
    assert_true(rt->has_max_fallbacks);
    assert_int_equal(rt->max_fallbacks, 1);
    assert_true(rt->has_retries);
    assert_int_equal(rt->retries, 3);
    assert_true(rt->retry_on_429);
    assert_true(sl_status_set_has(&rt->fallback_on, 409));
    assert_false(sl_status_set_has(&rt->fallback_on, 429));
    assert_true(rt->try_anyway);

    const struct sl_routing *p = model_named(r, "plain")->routing;
    assert_int_equal(p->strategy, SL_ROUTE_FAILOVER);
    assert_int_equal(p->targets[0].weight, 1);
    assert_false(p->tagged || p->has_retries || p->has_max_fallbacks || p->retry_on_429 ||
                 p->try_anyway);
    assert_int_equal(p->n_hash_on, 0);
    sl_resources_free(r);

    /* consistent_hash without hash_on: Sluice's header, AISIX's, then the caller key. */
    r = load_ok(HDR PK_MOCK M_THREE "  - display_name: h\n"
                                    "    routing: {strategy: consistent_hash, targets: [{model: "
                                    "a}, {model: b}]}\n");
    rt = model_named(r, "h")->routing;
    assert_int_equal(rt->n_hash_on, 3);
    assert_string_equal(rt->hash_on[0].name, "x-sluice-routing-key");
    assert_string_equal(rt->hash_on[1].name, "x-aisix-routing-key");
    assert_int_equal(rt->hash_on[2].type, SL_HASH_API_KEY);
    sl_resources_free(r);
}

/* Every way a group can be wrong, each naming the entry and the field's path. */
static void test_routing_errors(void **state)
{
    (void)state;
    expect(HDR PK_MOCK M_THREE
           "  - display_name: g1\n"
           "    provider_key: mock\n"
           "    model_name: x\n"
           "    retries: 1\n"
           "    cooldown: {enabled: false}\n"
           "    cost: {input_per_1k: 1, output_per_1k: 1}\n"
           "    routing:\n"
           "      strategy: random\n"
           "      when_all_unavailable: retry\n"
           "      targets: []\n"
           "  - display_name: g2\n"
           "    routing:\n"
           "      targets:\n"
           "        - model: nope\n"
           "        - model: g1\n"
           "        - model: g2\n"
           "        - {model: a, weight: -1, priority: 1.5, tags: [\"\"], color: red}\n"
           "        - model: a\n"
           "        - {weight: 2}\n"
           "        - b\n"
           "      hash_on: [{type: header}]\n"
           "      retries: 11\n"
           "      fallback_on_statuses: [399, 600]\n"
           "      routing_key: x\n"
           "  - display_name: g3*\n"
           "    routing:\n"
           "      strategy: consistent_hash\n"
           "      targets: [{model: a}]\n"
           "      hash_on: [{type: api_key, name: k}, {type: cookie}, {type: header, name: \"a "
           "b\"}, {type: ip}]\n"
           "  - display_name: g4\n"
           "    routing: [a, b]\n"
           "  - display_name: g5\n"
           "    routing:\n",
           "r.yaml:18: models[3] (\"g1\"): provider_key: not allowed on a model group (a model "
           "with routing): a group's targets name their own provider keys\n"
           "r.yaml:19: models[3] (\"g1\"): model_name: not allowed on a model group (a model with "
           "routing): a group's targets name their own upstream models\n"
           "r.yaml:20: models[3] (\"g1\"): retries: not allowed on a model group (a model with "
           "routing): set routing.retries (a target's own retries still win)\n"
           "r.yaml:21: models[3] (\"g1\"): cooldown: not allowed on a model group (a model with "
           "routing): set cooldown on the target models\n"
           "r.yaml:22: models[3] (\"g1\"): cost: not allowed on a model group (a model with "
           "routing): set cost on the target models\n"
           "r.yaml:24: models[3] (\"g1\"): routing.strategy: expected one of failover, "
           "round_robin, consistent_hash, least_cost, least_latency, least_busy, got \"random\"\n"
           "r.yaml:25: models[3] (\"g1\"): routing.when_all_unavailable: expected fail or "
           "try_anyway, got \"retry\"\n"
           "r.yaml:26: models[3] (\"g1\"): routing.targets: expected 1 to 64 targets, got 0\n"
           "r.yaml:30: models[4] (\"g2\"): routing.targets[0].model: \"nope\" is not defined in "
           "models\n"
           "r.yaml:31: models[4] (\"g2\"): routing.targets[1].model: \"g1\" is a model group; "
           "targets name direct models (groups do not nest)\n"
           "r.yaml:32: models[4] (\"g2\"): routing.targets[2].model: a model group cannot target "
           "itself\n"
           "r.yaml:33: models[4] (\"g2\"): routing.targets[3]: color: unknown key\n"
           "r.yaml:33: models[4] (\"g2\"): routing.targets[3].weight: expected an integer from 0 "
           "to 4294967295, got \"-1\"\n"
           "r.yaml:33: models[4] (\"g2\"): routing.targets[3].priority: expected an integer from "
           "-2147483647 to 2147483647, got \"1.5\"\n"
           "r.yaml:33: models[4] (\"g2\"): routing.targets[3].tags[0]: expected a non-empty "
           "string, got a quoted string \"\"\n"
           "r.yaml:34: models[4] (\"g2\"): routing.targets[4].model: \"a\" is already "
           "targets[3]\n"
           "r.yaml:35: models[4] (\"g2\"): routing.targets[5].model: required field is missing\n"
           "r.yaml:36: models[4] (\"g2\"): routing.targets[6]: expected a mapping, got a "
           "string\n"
           "r.yaml:37: models[4] (\"g2\"): routing.hash_on: only used by strategy "
           "consistent_hash (the strategy is failover)\n"
           "r.yaml:38: models[4] (\"g2\"): routing.retries: expected an integer from 0 to 10, got "
           "\"11\"\n"
           "r.yaml:39: models[4] (\"g2\"): routing.fallback_on_statuses[0]: expected an integer "
           "from 400 to 599, got \"399\"\n"
           "r.yaml:39: models[4] (\"g2\"): routing.fallback_on_statuses[1]: expected an integer "
           "from 400 to 599, got \"600\"\n"
           "r.yaml:40: models[4] (\"g2\"): routing: routing_key: unknown key\n"
           "r.yaml:41: models[5] (\"g3*\"): display_name: a model group's name cannot contain "
           "\"*\" (only direct models can be wildcards), got \"g3*\"\n"
           "r.yaml:45: models[5] (\"g3*\"): routing.hash_on[0].name: not accepted for type "
           "api_key\n"
           "r.yaml:45: models[5] (\"g3*\"): routing.hash_on[1].name: required for type cookie\n"
           "r.yaml:45: models[5] (\"g3*\"): routing.hash_on[2].name: expected an HTTP header "
           "name, got a quoted string \"a b\"\n"
           "r.yaml:45: models[5] (\"g3*\"): routing.hash_on[3].type: expected one of header, "
           "cookie, api_key, client_ip, got \"ip\"\n"
           "r.yaml:47: models[6] (\"g4\"): routing: expected a mapping, got a list\n"
           "r.yaml:49: models[7] (\"g5\"): routing: expected a mapping, got null\n");
    /* A wildcard target has no single upstream id. */
    expect(HDR PK_MOCK "models:\n"
                       "  - display_name: w-*\n"
                       "    provider_key: mock\n"
                       "    model_name: \"*\"\n"
                       "  - display_name: g\n"
                       "    routing: {targets: [{model: w-*}]}\n",
           "r.yaml:12: models[1] (\"g\"): routing.targets[0].model: \"w-*\" is a wildcard model; a "
           "target names one direct model\n");
}

/* cooldown, cost, allowed_cidrs and background_model_check on a direct model. */
static void test_direct_blocks(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK "models:\n"
                            "  - display_name: plain\n"
                            "    provider_key: mock\n"
                            "    model_name: p\n"
                            "  - display_name: tuned\n"
                            "    provider_key: mock\n"
                            "    model_name: t\n"
                            "    cooldown:\n"
                            "      enabled: true\n"
                            "      default_seconds: 0\n"
                            "      max_seconds: 5\n"
                            "      honor_retry_after: false\n"
                            "      trigger_statuses: [503]\n"
                            "      trigger_on_timeout: false\n"
                            "      trigger_on_transport: false\n"
                            "    cost: {input_per_1k: 0.0025, output_per_1k: 1e-2}\n"
                            "    allowed_cidrs: [192.168.0.0/16]\n"
                            "    background_model_check:\n"
                            "      enabled: true\n"
                            "      interval_seconds: 5\n"
                            "      timeout_seconds: 2\n"
                            "      prompt: ping\n"
                            "      max_tokens: 1\n"
                            "      stale_after_seconds: 30\n"
                            "      ignore_statuses: [429, 408]\n");
    const struct sl_model *p = model_named(r, "plain");
    assert_int_equal(p->kind, SL_MODEL_DIRECT);
    assert_true(p->cooldown.enabled && p->cooldown.honor_retry_after &&
                p->cooldown.trigger_on_timeout && p->cooldown.trigger_on_transport);
    assert_int_equal(p->cooldown.default_seconds, 30);
    assert_int_equal(p->cooldown.max_seconds, 600);
    static const int triggers[] = {401, 408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < SL_ARRAY_LEN(triggers); i++)
        assert_true(sl_status_set_has(&p->cooldown.trigger, triggers[i]));
    assert_false(sl_status_set_has(&p->cooldown.trigger, 400));
    assert_false(sl_status_set_has(&p->cooldown.trigger, 501));
    assert_false(p->cost.set);
    assert_int_equal(p->n_allowed_cidrs, 0);
    assert_null(p->health_check);
    const struct sl_model *t = model_named(r, "tuned");
    assert_int_equal(t->cooldown.default_seconds, 0);
    assert_int_equal(t->cooldown.max_seconds, 5);
    assert_false(t->cooldown.honor_retry_after || t->cooldown.trigger_on_timeout ||
                 t->cooldown.trigger_on_transport);
    assert_true(sl_status_set_has(&t->cooldown.trigger, 503));
    assert_false(sl_status_set_has(&t->cooldown.trigger, 429));
    assert_true(t->cost.set);
    assert_true(t->cost.input_per_1k == 0.0025);
    assert_true(t->cost.output_per_1k == 0.01);
    assert_int_equal(t->n_allowed_cidrs, 1);
    assert_int_equal(t->allowed_cidrs[0].bits, 16);
    assert_non_null(t->health_check);
    assert_true(t->health_check->enabled);
    assert_int_equal(t->health_check->interval_seconds, 5);
    assert_int_equal(t->health_check->timeout_seconds, 2);
    assert_int_equal(t->health_check->max_tokens, 1);
    assert_int_equal(t->health_check->stale_after_seconds, 30);
    assert_string_equal(t->health_check->prompt, "ping");
    assert_true(sl_status_set_has(&t->health_check->ignore, 408));
    sl_resources_free(r);

    expect(HDR PK_MOCK "models:\n"
                       "  - display_name: m\n"
                       "    provider_key: mock\n"
                       "    model_name: m\n"
                       "    cooldown: {max_seconds: 0, trigger_statuses: [99], enable: true}\n"
                       "    cost: {input_per_1k: -1, output_per_1k: \"0.1\"}\n"
                       "    allowed_cidrs: [10.0.0.1, 10.0.0.0/8, \"::/129\"]\n"
                       "    background_model_check: {enabled: true, interval_seconds: 4, "
                       "timeout_seconds: 0, prompt: x, max_tokens: 0, stale_after_seconds: 0}\n"
                       "  - display_name: w-*\n"
                       "    provider_key: mock\n"
                       "    model_name: \"*\"\n"
                       "    background_model_check: {enabled: true, interval_seconds: 5, "
                       "timeout_seconds: 1, prompt: x, max_tokens: 1, stale_after_seconds: 1}\n"
                       "    cost: 1\n",
           "r.yaml:11: models[0] (\"m\"): cooldown: enable: unknown key (did you mean "
           "enabled?)\n"
           "r.yaml:11: models[0] (\"m\"): cooldown.max_seconds: expected an integer from 1 to "
           "31536000, got 0\n"
           "r.yaml:11: models[0] (\"m\"): cooldown.trigger_statuses[0]: expected an integer from "
           "100 to 599, got \"99\"\n"
           "r.yaml:12: models[0] (\"m\"): cost.input_per_1k: expected a number from 0 to 1e12, "
           "got \"-1\"\n"
           "r.yaml:12: models[0] (\"m\"): cost.output_per_1k: expected a number from 0 to 1e12, "
           "got a quoted string \"0.1\"\n"
           "r.yaml:13: models[0] (\"m\"): allowed_cidrs[0]: expected a CIDR range such as "
           "10.0.0.0/8 or fd00::/8 (one address is 10.1.2.3/32), got \"10.0.0.1\"\n"
           "r.yaml:13: models[0] (\"m\"): allowed_cidrs[2]: expected a CIDR range such as "
           "10.0.0.0/8 or fd00::/8 (one address is 10.1.2.3/32), got a quoted string "
           "\"::/129\"\n"
           "r.yaml:14: models[0] (\"m\"): background_model_check.interval_seconds: expected an "
           "integer from 5 to 31536000, got 4\n"
           "r.yaml:14: models[0] (\"m\"): background_model_check.timeout_seconds: expected an "
           "integer from 1 to 3600, got 0\n"
           "r.yaml:14: models[0] (\"m\"): background_model_check.max_tokens: expected an integer "
           "from 1 to 4294967295, got 0\n"
           "r.yaml:14: models[0] (\"m\"): background_model_check.stale_after_seconds: expected an "
           "integer from 1 to 31536000, got 0\n"
           "r.yaml:18: models[1] (\"w-*\"): background_model_check: a wildcard model has no "
           "single upstream model to check\n"
           "r.yaml:19: models[1] (\"w-*\"): cost: expected a mapping, got a string\n");
}

/* As in AISIX, a model's provider may differ from its key's: it is the model's vendor label
 * (owned_by), and the key's provider or adapter picks the wire family. */
static void test_model_provider_may_differ(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR PK_MOCK M_MINI "    provider: openai\n"
                                                        "  - display_name: ds\n"
                                                        "    provider: deepseek\n"
                                                        "    provider_key: mock\n"
                                                        "    model_name: deepseek-chat\n");
    assert_string_equal(r->models[1].provider, "openai");
    assert_string_equal(r->models[0].provider, "deepseek");
    assert_int_equal(r->models[0].key->adapter, SL_ADAPTER_OPENAI);
    assert_string_equal(r->models[0].key->provider, "openai");
    sl_resources_free(r);
}

/* provider_keys[].provider is optional in AISIX: the family then comes from adapter, and what
 * the key leaves open (family, default api_base) from the first model naming it. */
/* The Anthropic family: from the vendor or the adapter, or settled by a model; its default base
 * and its own normalisation (a pasted /v1 or /v1/messages is dropped: the provider adds it). */
static void test_anthropic_keys(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR "provider_keys:\n"
                                         "  - display_name: a\n"
                                         "    provider: anthropic\n"
                                         "    api_key: sk-ant\n"
                                         "  - display_name: b\n"
                                         "    adapter: anthropic\n"
                                         "    provider: mycorp\n"
                                         "    api_key: k\n"
                                         "    api_base: https://claude.example/v1/messages/\n"
                                         "  - display_name: c\n"
                                         "    api_key: k\n"
                                         "    api_base: http://127.0.0.1:9/proxy/v1\n"
                                         "  - display_name: d\n"
                                         "    provider: openai\n"
                                         "    api_key: k\n"
                                         "models:\n"
                                         "  - display_name: m\n"
                                         "    provider: anthropic\n"
                                         "    model_name: claude\n"
                                         "    provider_key: c\n");
    assert_int_equal(r->provider_keys[0].adapter, SL_ADAPTER_ANTHROPIC);
    assert_string_equal(r->provider_keys[0].api_base, "https://api.anthropic.com");
    assert_string_equal(r->provider_keys[0].origin.base_path, "");
    assert_int_equal(r->provider_keys[1].adapter, SL_ADAPTER_ANTHROPIC);
    assert_string_equal(r->provider_keys[1].api_base, "https://claude.example");
    assert_int_equal(r->provider_keys[2].adapter, SL_ADAPTER_ANTHROPIC);
    assert_string_equal(r->provider_keys[2].api_base, "http://127.0.0.1:9/proxy");
    assert_string_equal(r->provider_keys[2].origin.base_path, "/proxy");
    assert_int_equal(r->provider_keys[3].adapter, SL_ADAPTER_OPENAI);
    sl_resources_free(r);
}

/* capabilities: Responses by default for provider openai only; the file's list replaces the
 * default; settled keys take the default of the vendor that settled them. */
static void test_capabilities(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR "provider_keys:\n"
                                         "  - display_name: oa\n"
                                         "    provider: openai\n"
                                         "    api_key: k\n"
                                         "  - display_name: oa-off\n"
                                         "    provider: openai\n"
                                         "    api_key: k\n"
                                         "    capabilities: []\n"
                                         "  - display_name: vllm\n"
                                         "    provider: vllm\n"
                                         "    api_key: k\n"
                                         "    api_base: http://127.0.0.1:8000/v1\n"
                                         "  - display_name: vllm-on\n"
                                         "    provider: vllm\n"
                                         "    api_key: k\n"
                                         "    api_base: http://127.0.0.1:8000/v1\n"
                                         "    capabilities: [responses]\n"
                                         "  - display_name: bare\n"
                                         "    api_key: k\n"
                                         "  - display_name: ant\n"
                                         "    provider: anthropic\n"
                                         "    api_key: k\n"
                                         "models:\n"
                                         "  - display_name: m\n"
                                         "    provider: openai\n"
                                         "    model_name: gpt\n"
                                         "    provider_key: bare\n");
    assert_int_equal(r->provider_keys[0].caps, SL_CAP_RESPONSES);
    assert_int_equal(r->provider_keys[1].caps, 0);
    assert_int_equal(r->provider_keys[2].caps, 0);
    assert_int_equal(r->provider_keys[3].caps, SL_CAP_RESPONSES);
    assert_int_equal(r->provider_keys[4].caps, SL_CAP_RESPONSES); /* settled by the model: openai */
    assert_int_equal(r->provider_keys[5].caps, 0);
    sl_resources_free(r);
    expect(
        HDR "provider_keys:\n"
            "  - display_name: a\n"
            "    provider: openai\n"
            "    api_key: k\n"
            "    capabilities: [responses, images]\n"
            "  - display_name: b\n"
            "    provider: openai\n"
            "    api_key: k\n"
            "    capabilities: [responses, responses]\n"
            "  - display_name: c\n"
            "    provider: anthropic\n"
            "    api_key: k\n"
            "    capabilities: [responses]\n"
            "  - display_name: d\n"
            "    provider: openai\n"
            "    api_key: k\n"
            "    capabilities: responses\n"
            "  - display_name: e\n"
            "    provider: gemini\n"
            "    api_key: k\n"
            "    capabilities: [responses]\n"
            "  - display_name: f\n"
            "    provider: azure-openai\n"
            "    api_key: k\n"
            "    api_base: https://res.openai.azure.com\n"
            "    capabilities: [responses]\n",
        "r.yaml:6: provider_keys[0] (\"a\"): capabilities[1]: expected responses, got \"images\"\n"
        "r.yaml:10: provider_keys[1] (\"b\"): capabilities[1]: responses is listed twice\n"
        "r.yaml:14: provider_keys[2] (\"c\"): capabilities: responses needs the openai adapter "
        "(this key's family is anthropic)\n"
        "r.yaml:18: provider_keys[3] (\"d\"): capabilities: expected a list of strings, got "
        "\"responses\"\n"
        "r.yaml:22: provider_keys[4] (\"e\"): capabilities: responses needs the openai adapter "
        "(this key's family is gemini)\n"
        "r.yaml:27: provider_keys[5] (\"f\"): capabilities: responses needs the openai adapter "
        "(this key's family is azure-openai)\n");
}

static void test_key_without_provider(void **state)
{
    (void)state;
    /* AISIX's own validate fixture: a key with only api_key, a model saying openai. */
    struct sl_resources *r = load_ok(HDR "provider_keys:\n"
                                         "  - display_name: pk\n"
                                         "    api_key: sk-x\n"
                                         "models:\n"
                                         "  - display_name: m1\n"
                                         "    provider: openai\n"
                                         "    model_name: gpt-4o\n"
                                         "    provider_key: pk\n"
                                         "  - display_name: m2\n"
                                         "    model_name: gpt-4o-mini\n"
                                         "    provider_key: pk\n");
    const struct sl_provider_key *k = &r->provider_keys[0];
    assert_null(k->provider);
    assert_int_equal(k->adapter, SL_ADAPTER_OPENAI);
    assert_string_equal(k->api_base, "https://api.openai.com/v1");
    assert_string_equal(k->origin.host, "api.openai.com");
    assert_string_equal(r->models[0].provider, "openai");
    assert_string_equal(r->models[1].provider, "openai"); /* inherited from m1, which settled pk */
    sl_resources_free(r);
    expect(HDR "provider_keys:\n"
               "  - display_name: pk\n"
               "    api_key: sk-x\n"
               "models:\n"
               "  - display_name: m2\n"
               "    model_name: gpt-4o-mini\n"
               "    provider_key: pk\n",
           "r.yaml:6: models[0] (\"m2\"): provider: required: provider key \"pk\" sets neither "
           "provider nor adapter, so the model's provider decides the wire family\n");

    /* A BYO endpoint: adapter and api_base, no provider; models label it as they like. */
    r = load_ok(HDR "provider_keys:\n"
                    "  - display_name: byo\n"
                    "    adapter: openai\n"
                    "    api_base: http://10.0.0.5:8000/v1\n"
                    "    api_key: k\n"
                    "models:\n"
                    "  - display_name: llama\n"
                    "    model_name: llama-3\n"
                    "    provider_key: byo\n"
                    "  - display_name: qwen\n"
                    "    provider: qwen\n"
                    "    model_name: qwen-2\n"
                    "    provider_key: byo\n"
                    "  - display_name: claude-ish\n"
                    "    provider: anthropic\n"
                    "    model_name: c\n"
                    "    provider_key: byo\n");
    assert_null(r->provider_keys[0].provider);
    assert_string_equal(r->provider_keys[0].origin.authority, "10.0.0.5:8000");
    assert_string_equal(r->models[0].provider, "anthropic");
    assert_string_equal(r->models[1].provider, "openai");
    assert_string_equal(r->models[2].provider, "qwen");
    sl_resources_free(r);

    /* Without api_base the vendor decides whether the default applies; without adapter it
     * picks the family. Keys no model names load. */
    expect(HDR "provider_keys:\n"
               "  - display_name: ds\n"
               "    adapter: openai\n"
               "    api_key: k\n"
               "  - display_name: an\n"
               "    api_key: k\n"
               "    api_base: https://api.anthropic.com\n"
               "  - display_name: unused\n"
               "    api_key: k\n"
               "models:\n"
               "  - display_name: a\n"
               "    provider: deepseek\n"
               "    model_name: deepseek-chat\n"
               "    provider_key: ds\n"
               "  - display_name: b\n"
               "    provider: deepseek\n"
               "    model_name: deepseek-chat\n"
               "    provider_key: ds\n"
               "  - display_name: c\n"
               "    provider: anthropic\n"
               "    model_name: claude\n"
               "    provider_key: an\n",
           "r.yaml:3: provider_keys[0] (\"ds\"): api_base: required for provider \"deepseek\", "
           "taken from models[0] (\"a\") because the key sets no provider (the default "
           "https://api.openai.com/v1 applies only to provider openai)\n");
    expect(HDR "provider_keys:\n"
               "  - display_name: ds\n"
               "    adapter: openai\n"
               "    api_key: k\n"
               "models:\n"
               "  - display_name: d\n"
               "    model_name: x\n"
               "    provider_key: ds\n",
           "r.yaml:7: models[0] (\"d\"): provider: required: provider key \"ds\" sets neither "
           "provider nor api_base, so the model's provider decides whether the default "
           "api_base applies\n");
    /* Every family is built now: a bedrock key with a Bedrock API key (no region) needs its
       endpoint, said plainly. */
    expect(HDR "provider_keys:\n"
               "  - display_name: v\n"
               "    adapter: bedrock\n"
               "    api_key: k\n",
           "r.yaml:3: provider_keys[0] (\"v\"): api_base: required for a Bedrock API key (it "
           "names no region): set https://bedrock-runtime.<region>.amazonaws.com, or give "
           "api_key as the JSON object {\"access_key_id\", \"secret_access_key\", "
           "\"session_token\"?, \"region\"}\n");
}

static void test_api_key_errors(void **state)
{
    (void)state;
    expect(HDR PK_MOCK M_MINI
           "api_keys:\n"
           "  - display_name: a\n"
           "    key_env: CALLER_KEY\n"
           "    key_hash: abc\n"
           "    allowed_models: [gpt-5, \"a*b*\", \"m*\", \"mock\", \"\", [x], gpt-4o-mini]\n"
           "  - display_name: b\n"
           "    key_hash: sk-SECRET-pasted-by-mistake\n"
           "    allowed_models:\n"
           "    disabled: yes\n"
           "    expires_at: tomorrow\n"
           "  - display_name: c\n"
           "    allowed_models: {a: b}\n"
           "    expires_at: 2026-02-30T00:00:00Z\n"
           "    disabled: \"true\"\n"
           "  - display_name: d\n"
           "    key_env: NOPE\n"
           "    allowed_models: gpt-4o-mini\n"
           "  - display_name: e\n"
           "    key_env: EMPTY\n"
           "  - display_name: f\n"
           "    key_env: REF_KEY\n"
           "    allowed_models: []\n"
           "  - display_name: g\n"
           "    key_hash: \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aZ\"\n"
           "    allowed_models: []\n"
           "    team_id: [t]\n"
           "    user_id: \"\"\n"
           "    user_name: ~\n"
           "  - display_name: h\n"
           "    key_env:\n"
           "    allowed_models: []\n",
           "r.yaml:14: api_keys[0] (\"a\"): key_hash: set only one of key_env and key_hash\n"
           "r.yaml:15: api_keys[0] (\"a\"): allowed_models[0]: \"gpt-5\" is not defined in "
           "models\n"
           "r.yaml:15: api_keys[0] (\"a\"): allowed_models[1]: a pattern has at most one \"*\", "
           "got a quoted string \"a*b*\"\n"
           "r.yaml:15: api_keys[0] (\"a\"): allowed_models[3]: \"mock\" is not defined in "
           "models\n"
           "r.yaml:15: api_keys[0] (\"a\"): allowed_models[4]: expected a non-empty string, got "
           "a quoted string \"\"\n"
           "r.yaml:15: api_keys[0] (\"a\"): allowed_models[5]: expected a non-empty string, got "
           "a list\n"
           "r.yaml:17: api_keys[1] (\"b\"): key_hash: expected 64 hex digits (a SHA-256 digest), "
           "got a string of 27 characters\n"
           "r.yaml:18: api_keys[1] (\"b\"): allowed_models: a value is required, got null\n"
           "r.yaml:19: api_keys[1] (\"b\"): disabled: expected true or false, got \"yes\"\n"
           "r.yaml:20: api_keys[1] (\"b\"): expires_at: expected an RFC 3339 timestamp such as "
           "2026-12-31T23:59:59Z, got \"tomorrow\"\n"
           "r.yaml:21: api_keys[2] (\"c\"): key_env: one of key_env or key_hash is required\n"
           "r.yaml:22: api_keys[2] (\"c\"): allowed_models: expected a list of strings, got a "
           "mapping\n"
           "r.yaml:23: api_keys[2] (\"c\"): expires_at: expected an RFC 3339 timestamp such as "
           "2026-12-31T23:59:59Z, got \"2026-02-30T00:00:00Z\"\n"
           "r.yaml:24: api_keys[2] (\"c\"): disabled: expected true or false, got a quoted string "
           "\"true\"\n"
           "r.yaml:26: api_keys[3] (\"d\"): key_env: environment variable NOPE is not set\n"
           "r.yaml:27: api_keys[3] (\"d\"): allowed_models: expected a list of strings, got "
           "\"gpt-4o-mini\"\n"
           "r.yaml:28: api_keys[4] (\"e\"): allowed_models: required field is missing\n"
           "r.yaml:29: api_keys[4] (\"e\"): key_env: environment variable EMPTY is empty\n"
           "r.yaml:31: api_keys[5] (\"f\"): key_env: the value of REF_KEY contains \"${\"; set "
           "the plaintext key itself, not a reference\n"
           "r.yaml:34: api_keys[6] (\"g\"): key_hash: expected 64 hex digits (a SHA-256 digest), "
           "got a string of 64 characters\n"
           "r.yaml:36: api_keys[6] (\"g\"): team_id: expected a non-empty string, got a list\n"
           "r.yaml:37: api_keys[6] (\"g\"): user_id: expected a non-empty string, got a quoted "
           "string \"\"\n"
           "r.yaml:40: api_keys[7] (\"h\"): key_env: a value is required, got null\n");
    expect(HDR "api_keys:\n"
               "  - display_name: k\n"
               "    key_env: CALLER_KEY\n"
               "    allowed_models: []\n"
               "    rate_limit: {rpm: 1}\n"
               "    allowed_routes: []\n"
               "    allowed_agents: []\n"
               "    mcp_access: {}\n"
               "    mcp_rate_limits: {}\n"
               "    jwt_provider: p\n"
               "    jwt_subject: s\n"
               "    allowed_model: []\n",
           "r.yaml:7: api_keys[0] (\"k\"): allowed_routes: not supported by sluice yet\n"
           "r.yaml:8: api_keys[0] (\"k\"): allowed_agents: not supported by sluice yet\n"
           "r.yaml:9: api_keys[0] (\"k\"): mcp_access: not supported by sluice yet\n"
           "r.yaml:10: api_keys[0] (\"k\"): mcp_rate_limits: not supported by sluice yet\n"
           "r.yaml:11: api_keys[0] (\"k\"): jwt_provider: not supported by sluice yet\n"
           "r.yaml:12: api_keys[0] (\"k\"): jwt_subject: not supported by sluice yet\n"
           "r.yaml:13: api_keys[0] (\"k\"): allowed_model: unknown key (did you mean "
           "allowed_models?)\n");
}

/* rate_limit, cost and budget blocks on models and keys; team_id and user_id are kept. */
static void test_limits_and_cost(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK M_MINI "    rate_limit: {rps: 5, rpm: 0, tpd: 1000, concurrency: 2,"
                                   " tpm: ~}\n"
                                   "    cost: {input_per_1k: 0.0025, output_per_1k: 1e-2}\n"
                                   "api_keys:\n"
                                   "  - display_name: \"k:{1}\"\n"
                                   "    key_env: CALLER_KEY\n"
                                   "    allowed_models: [\"*\"]\n"
                                   "    team_id: t:1\n"
                                   "    user_id: u 2\n"
                                   "    rate_limit: {rpm: 600}\n"
                                   "    budget: {limit_usd: 12.5, window: week}\n");
    const struct sl_model *m = &r->models[0];
    assert_int_equal(m->rate_limit.set, (1u << SL_RL_RPS) | (1u << SL_RL_RPM) | (1u << SL_RL_TPD));
    assert_int_equal(m->rate_limit.max[SL_RL_RPS], 5);
    assert_int_equal(m->rate_limit.max[SL_RL_RPM], 0);
    assert_int_equal(m->rate_limit.max[SL_RL_TPD], 1000);
    assert_true(m->rate_limit.has_concurrency);
    assert_int_equal(m->rate_limit.concurrency, 2);
    assert_true(m->cost.set);
    assert_true(m->cost.input_per_1k == 0.0025 && m->cost.output_per_1k == 0.01);
    assert_string_equal(m->bucket, "m:gpt-4o-mini");
    const struct sl_api_key *k = &r->api_keys[0];
    assert_string_equal(k->team_id, "t:1");
    assert_string_equal(k->user_id, "u 2");
    assert_string_equal(k->bucket, "k:k%3A%7B1%7D");
    assert_string_equal(k->team_bucket, "t%3A1");
    assert_string_equal(k->member_bucket, "u%202");
    assert_int_equal(k->rate_limit.set, 1u << SL_RL_RPM);
    assert_false(k->rate_limit.has_concurrency);
    assert_true(k->budget.set);
    assert_int_equal(k->budget.window, SL_BUDGET_WEEK);
    assert_int_equal(k->budget.limit_nusd, 12500000000ull);
    sl_resources_free(r);

    expect(HDR PK_MOCK M_MINI "    rate_limit: {rpn: 1, rps: -1, concurrency: 4294967296}\n"
                              "    cost: {input_per_1k: .5, output_per_1k: NaN, x: 1}\n"
                              "api_keys:\n"
                              "  - display_name: k\n"
                              "    key_env: CALLER_KEY\n"
                              "    allowed_models: []\n"
                              "    rate_limit: [1]\n"
                              "    budget: {limit_usd: 5, window: year}\n"
                              "  - display_name: j\n"
                              "    key_env: CALLER_KEY_2\n"
                              "    allowed_models: []\n"
                              "    budget: {window: day}\n",
           "r.yaml:11: models[0] (\"gpt-4o-mini\"): rate_limit: rpn: unknown key (did you mean "
           "rps?)\n"
           "r.yaml:11: models[0] (\"gpt-4o-mini\"): rate_limit.rps: expected an integer from 0 to "
           "281474976710656, got \"-1\"\n"
           "r.yaml:11: models[0] (\"gpt-4o-mini\"): rate_limit.concurrency: expected an integer "
           "from 0 to 4294967295, got \"4294967296\"\n"
           "r.yaml:12: models[0] (\"gpt-4o-mini\"): cost: x: unknown key\n"
           "r.yaml:12: models[0] (\"gpt-4o-mini\"): cost.output_per_1k: expected a number from 0 "
           "to 1e12, got \"NaN\"\n"
           "r.yaml:17: api_keys[0] (\"k\"): rate_limit: expected a mapping, got a list\n"
           "r.yaml:18: api_keys[0] (\"k\"): budget.window: expected day, week or month, got "
           "\"year\"\n"
           "r.yaml:22: api_keys[1] (\"j\"): budget.limit_usd: required field is missing\n");
}

#define TWO_KEYS                                                                                   \
    "api_keys:\n"                                                                                  \
    "  - display_name: ci\n"                                                                       \
    "    key_env: CALLER_KEY\n"                                                                    \
    "    allowed_models: [\"*\"]\n"                                                                \
    "    team_id: t1\n"                                                                            \
    "    user_id: u1\n"                                                                            \
    "  - display_name: other\n"                                                                    \
    "    key_env: CALLER_KEY_2\n"                                                                  \
    "    allowed_models: [\"*\"]\n"

/* cache_policies: defaults, every field, and an error naming line, entry, field and value for
 * each bad one. */
static void test_cache_policies(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK M_MINI TWO_KEYS "cache_policies:\n"
                                            "  - name: plain\n"
                                            "  - name: faq\n"
                                            "    enabled: false\n"
                                            "    applies_to: api_key:ci\n"
                                            "    backend: redis\n"
                                            "    scope: env\n"
                                            "    ttl_seconds: 604800\n"
                                            "    purge_generation: 7\n"
                                            "  - name: mini\n"
                                            "    applies_to: model:gpt-4o-mini\n"
                                            "    ttl_seconds: 1\n");
    assert_int_equal(r->n_cache_policies, 3);
    const struct sl_cache_policy *p = &r->cache_policies[0];
    assert_string_equal(p->name, "plain");
    assert_true(p->enabled);
    assert_int_equal(p->applies, SL_CACHE_APPLIES_ALL);
    assert_null(p->applies_ref);
    assert_int_equal(p->backend, SL_CACHE_BACKEND_MEMORY);
    assert_int_equal(p->scope, SL_CACHE_SCOPE_API_KEY);
    assert_int_equal(p->ttl_secs, 3600);
    assert_int_equal(p->purge_generation, 0);
    assert_int_equal(strlen(p->id), 36);
    assert_int_equal(p->id[14], '5'); /* a version 5 UUID */
    p = &r->cache_policies[1];
    assert_false(p->enabled);
    assert_int_equal(p->applies, SL_CACHE_APPLIES_API_KEY);
    assert_string_equal(p->applies_ref, "ci");
    assert_int_equal(p->backend, SL_CACHE_BACKEND_REDIS);
    assert_int_equal(p->scope, SL_CACHE_SCOPE_ENV);
    assert_int_equal(p->ttl_secs, 604800);
    assert_int_equal(p->purge_generation, 7);
    assert_string_not_equal(p->id, r->cache_policies[0].id);
    p = &r->cache_policies[2];
    assert_int_equal(p->applies, SL_CACHE_APPLIES_MODEL);
    assert_string_equal(p->applies_ref, "gpt-4o-mini");
    assert_int_equal(p->ttl_secs, 1);
    sl_resources_free(r);

    expect(HDR PK_MOCK M_MINI TWO_KEYS "cache_policies:\n"
                                       "  - name: a\n"
                                       "    applies_to: model:ghost\n"
                                       "    backend: memcached\n"
                                       "  - name: b\n"
                                       "    applies_to: team:t1\n"
                                       "    scope: team\n"
                                       "    ttl_seconds: 0\n"
                                       "  - name: c\n"
                                       "    applies_to: \"api_key:\"\n"
                                       "    ttl_seconds: 604801\n"
                                       "    enabled: yes\n"
                                       "    semantic: {threshold: 0.9}\n"
                                       "  - name: a\n"
                                       "    applies_to: api_key:nobody\n"
                                       "  - applies_to: all\n",
           "r.yaml:22: cache_policies[0] (\"a\"): applies_to: \"model:ghost\": \"ghost\" is not "
           "defined in models\n"
           "r.yaml:23: cache_policies[0] (\"a\"): backend: expected memory or redis, got "
           "\"memcached\"\n"
           "r.yaml:25: cache_policies[1] (\"b\"): applies_to: expected all, model:<name> or "
           "api_key:<name>, got \"team:t1\"\n"
           "r.yaml:26: cache_policies[1] (\"b\"): scope: expected api_key or env, got \"team\"\n"
           "r.yaml:27: cache_policies[1] (\"b\"): ttl_seconds: expected 1 to 604800 seconds, got "
           "0\n"
           "r.yaml:29: cache_policies[2] (\"c\"): applies_to: a quoted string \"api_key:\": the "
           "name after the colon is missing\n"
           "r.yaml:30: cache_policies[2] (\"c\"): ttl_seconds: expected an integer from 0 to "
           "604800, got \"604801\"\n"
           "r.yaml:31: cache_policies[2] (\"c\"): enabled: expected true or false, got \"yes\"\n"
           "r.yaml:32: cache_policies[2] (\"c\"): semantic: not supported by sluice yet "
           "(semantic caching needs an embedding model; only exact caching is built)\n"
           "r.yaml:33: cache_policies[3] (\"a\"): name: duplicate name \"a\" (first at line 21)\n"
           "r.yaml:34: cache_policies[3] (\"a\"): applies_to: \"api_key:nobody\": \"nobody\" is "
           "not defined in api_keys\n"
           "r.yaml:35: cache_policies[4]: name: required field is missing\n");
}

static void test_policies(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK M_MINI TWO_KEYS
                "rate_limit_policies:\n"
                "  - name: team-quota\n"
                "    scope: team_member\n"
                "    scope_ref: t1\n"
                "    window: day\n"
                "    max_requests: 100\n"
                "    max_tokens: 5000\n"
                "  - name: key-rpm\n"
                "    scope: api_key\n"
                "    scope_ref: ci\n"
                "    window: second\n"
                "    max_requests: 3\n"
                "    schedules:\n"
                "      - {timezone: Europe/Berlin, days_of_week: [sat, sun], start_time: \"22:00\","
                " end_time: \"09:00\"}\n"
                "      - {timezone: UTC, dates: [2026-12-25], start_time: \"00:00\", end_time: "
                "\"24:00\"}\n"
                "  - name: premium\n"
                "    conditions:\n"
                "      - {dimension: team, operator: in, value: [t1, t2]}\n"
                "      - logic: or\n"
                "        negate: true\n"
                "        children:\n"
                "          - {dimension: model_name, operator: \"~*\", value: \"^GPT-4\"}\n"
                "          - {dimension: api_key, operator: \"==\", value: other, negate: true}\n"
                "    group_by: [provider, member]\n"
                "    limits: {rpm: 20, concurrency: 1}\n"
                "    action: reject\n");
    assert_int_equal(r->n_policies, 3);
    const struct sl_rl_policy *p = &r->policies[0];
    assert_false(p->conditional);
    assert_int_equal(p->scope, SL_SCOPE_TEAM_MEMBER);
    assert_int_equal(p->limits.set, (1u << SL_RL_RPD) | (1u << SL_RL_TPD));
    assert_string_equal(p->bucket, "p:team-quota:team_member=t1");
    assert_false(p->follows_model);
    /* uuid5(ns, "rate_limit_policies/team-quota") as the reference derives it. */
    assert_string_equal(p->id, "2935a7a6-4a9c-51b9-8893-459f6aacf845");
    p = &r->policies[1];
    assert_int_equal(p->limits.set, 1u << SL_RL_RPS);
    assert_int_equal(p->n_schedules, 2);
    assert_int_equal(p->schedules[0].days_of_week, (1u << 5) | (1u << 6));
    assert_int_equal(p->schedules[0].start_min, 22 * 60);
    assert_int_equal(p->schedules[0].end_min, 9 * 60);
    assert_int_equal(p->schedules[1].n_dates, 1);
    assert_int_equal(p->schedules[1].end_min, 1440);
    p = &r->policies[2];
    assert_true(p->conditional);
    assert_true(p->follows_model);
    assert_int_equal(p->n_conditions, 2);
    assert_true(p->conditions[1].is_group && p->conditions[1].is_or && p->conditions[1].negate);
    assert_non_null(p->conditions[1].children[0].regex);
    assert_int_equal(p->group_by, (1u << SL_COND_PROVIDER) | (1u << SL_COND_MEMBER));
    assert_string_equal(p->bucket, "p:premium");
    sl_resources_free(r);

    expect(HDR PK_MOCK M_MINI TWO_KEYS
           "rate_limit_policies:\n"
           "  - name: a\n"
           "    scope: api_key\n"
           "    scope_ref: nobody\n"
           "    window: minute\n"
           "    max_requests: 1\n"
           "  - name: b\n"
           "    scope: model\n"
           "    scope_ref: gpt-4o-mini\n"
           "    window: hour\n"
           "    max_tokens: 1\n"
           "  - name: c\n"
           "    scope: team\n"
           "    scope_ref: t1\n"
           "    window: minute\n"
           "    limits: {rpm: 1}\n"
           "  - name: d\n"
           "    conditions: [{dimension: team, operator: \"~~\", value: x}]\n"
           "    limits: {}\n"
           "  - name: e\n"
           "    conditions:\n"
           "      - {dimension: model, operator: in, value: [gpt-4o-mini, ghost]}\n"
           "    group_by: [team, team]\n"
           "    limits: {rpd: 1}\n"
           "  - name: f\n"
           "    conditions: [{dimension: model_name, operator: \"~~\", value: \"^a|b$\"}]\n"
           "    limits: {rpd: 1}\n"
           "    schedules: [{timezone: Mars/Olympus, days_of_week: [mon], start_time: \"1:00\", "
           "end_time: \"25:00\"}]\n"
           "  - name: a\n"
           "    scope: team\n"
           "    scope_ref: t1\n"
           "    window: week\n"
           "    max_requests: 1\n"
           "  - name: g\n"
           "    group_by: [member]\n",
           "r.yaml:23: rate_limit_policies[0] (\"a\"): scope_ref: \"nobody\" is not defined in "
           "api_keys\n"
           "r.yaml:30: rate_limit_policies[1] (\"b\"): max_tokens: tokens are counted per minute "
           "or per day, not per hour; use window: minute or day for max_tokens\n"
           "r.yaml:32: rate_limit_policies[2] (\"c\"): scope: not allowed with limits: a policy "
           "is either the classic form (scope, scope_ref, window, max_*) or the conditional one "
           "(conditions, group_by, limits, action)\n"
           "r.yaml:37: rate_limit_policies[3] (\"d\"): conditions: operator ~~ is not supported "
           "on team\n"
           "r.yaml:38: rate_limit_policies[3] (\"d\"): limits: must set at least one limit\n"
           "r.yaml:41: rate_limit_policies[4] (\"e\"): conditions (model): \"ghost\" is not "
           "defined in models\n"
           "r.yaml:42: rate_limit_policies[4] (\"e\"): group_by: repeats dimension team\n"
           "r.yaml:47: rate_limit_policies[5] (\"f\"): schedules.timezone: unknown time zone "
           "\"Mars/Olympus\" (/usr/share/zoneinfo/Mars/Olympus: No such file or directory)\n"
           "r.yaml:47: rate_limit_policies[5] (\"f\"): schedules.start_time: expected HH:MM, got "
           "a quoted string \"1:00\"\n"
           "r.yaml:47: rate_limit_policies[5] (\"f\"): schedules.end_time: expected HH:MM or "
           "24:00, got a quoted string \"25:00\"\n"
           "r.yaml:48: rate_limit_policies[6] (\"a\"): name: duplicate name \"a\" (first at line "
           "21)\n"
           "r.yaml:51: rate_limit_policies[6] (\"a\"): window: expected one of second, minute, "
           "hour, day, got \"week\"\n"
           "r.yaml:53: rate_limit_policies[7] (\"g\"): limits: required with conditions, group_by "
           "or action (the conditional form)\n");
    /* The regex library's own reason follows; only Sluice's part is pinned here. */
    const char *yaml = HDR PK_MOCK M_MINI TWO_KEYS
        "rate_limit_policies:\n"
        "  - name: f\n"
        "    conditions: [{dimension: model_name, operator: \"~~\", value: \"(\"}]\n"
        "    limits: {rpd: 1}\n";
    struct sl_diag d;
    assert_int_equal(load(yaml, env, &r, &d), SL_ERR);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.entries[0].msg, "rate_limit_policies[0] (\"f\"): conditions: regex "
                                             "\"(\" does not compile as a POSIX extended regular "
                                             "expression: "));
    sl_diag_dispose(&d);
}

static void test_api_key_duplicate_digest(void **state)
{
    (void)state;
    expect(HDR "api_keys:\n"
               "  - display_name: a\n"
               "    key_env: CALLER_KEY\n"
               "    allowed_models: []\n"
               "  - display_name: b\n"
               "    key_hash: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
               "    allowed_models: []\n"
               "  - display_name: c\n"
               "    key_env: CALLER_KEY_2\n"
               "    allowed_models: []\n"
               "  - display_name: d\n"
               "    key_env: CALLER_KEY\n"
               "    allowed_models: []\n",
           "r.yaml:7: api_keys[1] (\"b\"): key_hash: the same key as api_keys[0] (\"a\") (line "
           "4)\n"
           "r.yaml:13: api_keys[3] (\"d\"): key_env: the same key as api_keys[0] (\"a\") (line "
           "4)\n");
}

/* key_env is hashed with SHA-256 in place; compare with a published test vector. */
static void test_key_env_hashing(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR "api_keys:\n"
                                         "  - display_name: k\n"
                                         "    key_env: CALLER_KEY\n"
                                         "    allowed_models: []\n");
    assert_memory_equal(r->api_keys[0].digest, abc_digest, 32);
    assert_ptr_equal(sl_resources_find_key(r, abc_digest), &r->api_keys[0]);
    sl_resources_free(r);
}

static void test_interpolation(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok("_format_version: \"${ONE}\"\n"
                                     "provider_keys:\n"
                                     "  - display_name: k-${HOST}\n"
                                     "    provider: openai\n"
                                     "    api_key: \"a$$b${UPSTREAM_KEY}$HOME\"\n"
                                     "    api_base: http://${HOST}:${PORT}\n"
                                     "models:\n"
                                     "  - display_name: m\n"
                                     "    provider_key: k-127.0.0.1\n"
                                     "    model_name: cost-$$5\n"
                                     "    timeout: ${TIMEOUT}\n");
    assert_string_equal(r->provider_keys[0].name, "k-127.0.0.1");
    assert_string_equal(r->provider_keys[0].api_key, "a$bsk-SECRET-upstream$HOME");
    assert_string_equal(r->provider_keys[0].api_base, "http://127.0.0.1:3001");
    assert_string_equal(r->models[0].model_name, "cost-$5");
    assert_true(r->models[0].has_timeout);
    assert_int_equal(r->models[0].timeout_ms, 5000);
    sl_resources_free(r);

    /* Quoting is kept: a quoted "${TIMEOUT}" stays a string, a plain ${ONE} stays unquoted. */
    expect(HDR PK_MOCK M_MINI "    timeout: \"${TIMEOUT}\"\n",
           "r.yaml:11: models[0] (\"gpt-4o-mini\"): timeout: expected an integer from 0 to "
           "31536000000, got a quoted string \"${TIMEOUT}\"\n");
    expect("_format_version: ${ONE}\n", "r.yaml:1: _format_version: expected the quoted string "
                                        "\"1\", got unquoted ${ONE} (interpolated)\n");
    expect("_format_version: \"${PORT}\"\n", "r.yaml:1: _format_version: unsupported version "
                                             "\"${PORT}\" (interpolated) (expected \"1\")\n");
    expect("_format_version: \"${NOPE}\"\n",
           "r.yaml:1: _format_version: environment variable NOPE is not set\n");
    /* Keys are never interpolated. */
    expect(HDR "${HOST}: 1\n", "r.yaml:2: ${HOST}: unknown key\n");
}

static void test_interpolation_errors(void **state)
{
    (void)state;
    expect(HDR "provider_keys:\n"
               "  - display_name: a\n"
               "    provider: ${NOPE}\n"
               "    api_key: ${EMPTY}\n"
               "    api_base: https://${HOST\n"
               "  - display_name: ${TEAM}\n"
               "    provider: \"${}\"\n"
               "    api_key: \"${BAD-NAME}\"\n"
               "    api_base: \"http://${HOST}/${TEAM}\"\n"
               "    adapter: ${TEAM}\n",
           "r.yaml:4: provider_keys[0] (\"a\"): provider: environment variable NOPE is not set\n"
           "r.yaml:5: provider_keys[0] (\"a\"): api_key: environment variable EMPTY is empty\n"
           "r.yaml:6: provider_keys[0] (\"a\"): api_base: unterminated \"${\" (write \"$$\" for a "
           "literal \"$\")\n"
           "r.yaml:8: provider_keys[1] (\"${TEAM}\"): provider: empty variable reference "
           "\"${}\"\n"
           "r.yaml:9: provider_keys[1] (\"${TEAM}\"): api_key: invalid variable name BAD-NAME in "
           "\"${...}\" (expected letters, digits and \"_\")\n"
           "r.yaml:11: provider_keys[1] (\"${TEAM}\"): adapter: expected one of openai, "
           "anthropic, azure-openai, gemini, vertex, bedrock, got \"${TEAM}\" (interpolated)\n");
    /* No environment at all. */
    expect_env(HDR PK_MOCK "models:\n  - display_name: ${X}\n", no_env,
               "r.yaml:8: models[0]: display_name: environment variable X is not set\n"
               "r.yaml:8: models[0]: provider_key: required field is missing\n"
               "r.yaml:8: models[0]: model_name: required field is missing\n");
    expect_env(HDR "api_keys:\n  - display_name: k\n    key_env: CALLER_KEY\n"
                   "    allowed_models: []\n",
               NULL,
               "r.yaml:4: api_keys[0] (\"k\"): key_env: environment variable CALLER_KEY is "
               "not set\n");
}

/* One value may grow to 1 MiB through interpolation, not more. */
static void test_interpolation_cap(void **state)
{
    (void)state;
    size_t n = 600 * 1024;
    char *big = malloc(n + 5);
    assert_non_null(big);
    memcpy(big, "BIG=", 4);
    memset(big + 4, 'a', n);
    big[n + 4] = '\0';
    char *const e[] = {big, NULL};
    struct sl_resources *r =
        load_ok_env(HDR PK_MOCK "models:\n  - {display_name: m, provider_key: mock, "
                                "model_name: \"${BIG}\"}\n",
                    e);
    assert_int_equal(strlen(r->models[0].model_name), n);
    sl_resources_free(r);
    expect_env(HDR PK_MOCK "models:\n  - {display_name: m, provider_key: mock, "
                           "model_name: \"${BIG}${BIG}\"}\n",
               e,
               "r.yaml:8: models[0] (\"m\"): model_name: longer than 1048576 bytes after "
               "interpolation\n");
    free(big);
}

/* Problems come out in file order, whatever order the collections were checked in. */
static void test_errors_in_line_order(void **state)
{
    (void)state;
    expect("api_keys:\n"
           "  - display_name: k\n"
           "models:\n"
           "  - display_name: m\n"
           "provider_keys:\n"
           "  - display_name: p\n"
           "bogus: 1\n",
           "r.yaml: (file): missing mandatory _format_version (expected \"1\")\n"
           "r.yaml:2: api_keys[0] (\"k\"): key_env: one of key_env or key_hash is required\n"
           "r.yaml:2: api_keys[0] (\"k\"): allowed_models: required field is missing\n"
           "r.yaml:4: models[0] (\"m\"): provider_key: required field is missing\n"
           "r.yaml:4: models[0] (\"m\"): model_name: required field is missing\n"
           "r.yaml:6: provider_keys[0] (\"p\"): api_key: required field is missing\n"
           "r.yaml:7: bogus: unknown key\n");
}

static const char resolve_file[] =
    HDR PK_MOCK "models:\n"
                "  - {display_name: gpt-4o, provider_key: mock, model_name: gpt-4o-2024}\n"
                "  - {display_name: \"gpt-*\", provider_key: mock, model_name: \"up-*\"}\n"
                "  - {display_name: \"gpt-4*\", provider_key: mock, model_name: \"four/*/x\"}\n"
                "  - {display_name: \"*-mini\", provider_key: mock, model_name: \"*-small\"}\n"
                "  - {display_name: \"ab*\", provider_key: mock, model_name: fixed}\n"
                "  - {display_name: \"*b\", provider_key: mock, model_name: \"b:*\"}\n"
                "  - {display_name: \"*\", provider_key: mock, model_name: \"any/*\"}\n"
                "  - {display_name: \"aa*aa\", provider_key: mock, model_name: \"2a:*\"}\n";

static void resolves(const struct sl_resources *r, const char *alias, const char *name,
                     const char *upstream)
{
    struct sl_buf b;
    sl_buf_init(&b, 1024);
    const struct sl_model *m = sl_resources_resolve(r, sl_str_from_cstr(alias), &b);
    if (name == NULL) {
        assert_null(m);
        assert_int_equal(b.len, 0);
    } else {
        if (m == NULL || strcmp(m->name, name) != 0)
            fprintf(stderr, "%s: resolved to %s\n", alias, m != NULL ? m->name : "nothing");
        assert_non_null(m);
        assert_string_equal(m->name, name);
        assert_string_equal(sl_buf_cstr(&b), upstream);
        assert_ptr_equal(sl_resources_resolve(r, sl_str_from_cstr(alias), NULL), m);
    }
    sl_buf_dispose(&b);
}

static void test_resolve(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(resolve_file);
    /* Exact beats any wildcard. */
    resolves(r, "gpt-4o", "gpt-4o", "\"gpt-4o-2024\"");
    /* The longest literal wins: "gpt-4*" (5) over "gpt-*" (4) over "*-mini" (5, later). */
    resolves(r, "gpt-4-turbo", "gpt-4*", "\"four/-turbo/x\"");
    resolves(r, "gpt-3.5", "gpt-*", "\"up-3.5\"");
    /* Equal literal length: the earlier in the file wins ("gpt-4*" before "*-mini"). */
    resolves(r, "gpt-4o-mini", "gpt-4*", "\"four/o-mini/x\"");
    resolves(r, "o1-mini", "*-mini", "\"o1-small\"");
    /* A template without '*' is used as-is. */
    resolves(r, "abc", "ab*", "\"fixed\"");
    /* "ab" is not "ab" + a capture; "*b" (one literal byte) beats the catch-all. */
    resolves(r, "ab", "*b", "\"b:a\"");
    /* Prefix and suffix may not overlap. */
    resolves(r, "aaa", "*", "\"any/aaa\"");
    resolves(r, "aaaaa", "aa*aa", "\"2a:a\"");
    resolves(r, "bb", "*b", "\"b:b\"");
    /* The capture is JSON-escaped. */
    resolves(r, "gpt-\"q\\\n", "gpt-*", "\"up-\\\"q\\\\\\n\"");
    /* The capture must be non-empty: "gpt-" matches only the catch-all. */
    resolves(r, "gpt-", "*", "\"any/gpt-\"");
    resolves(r, "x", "*", "\"any/x\"");
    resolves(r, "", NULL, NULL);
    sl_resources_free(r);

    r = load_ok(HDR PK_MOCK "models:\n"
                            "  - {display_name: \"gpt-*\", provider_key: mock, model_name: m}\n");
    resolves(r, "gpt-", NULL, NULL);
    resolves(r, "gpt", NULL, NULL);
    resolves(r, "gpt-x", "gpt-*", "\"m\"");
    assert_null(sl_resources_resolve(r, SL_STR_NULL, NULL));
    sl_resources_free(r);
}

/* An alias with an embedded NUL is matched bytewise and escaped on the way out. */
static void test_resolve_binary_alias(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(resolve_file);
    struct sl_buf b;
    sl_buf_init(&b, 64);
    const struct sl_model *m = sl_resources_resolve(r, sl_str_init("gpt-4o\0x", 8), &b);
    assert_non_null(m);
    assert_string_equal(m->name, "gpt-4*");
    assert_string_equal(sl_buf_cstr(&b), "\"four/o\\u0000x/x\"");
    sl_buf_dispose(&b);
    sl_resources_free(r);
}

/* A full buffer fails the lookup and leaves the buffer as it was. */
static void test_resolve_buffer_cap(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(resolve_file);
    struct sl_buf b;
    sl_buf_init(&b, 8);
    assert_int_equal(sl_buf_append(&b, "ab", 2), SL_OK);
    assert_null(sl_resources_resolve(r, SL_STRLIT("gpt-4o"), &b));
    assert_string_equal(sl_buf_cstr(&b), "ab");
    assert_null(sl_resources_resolve(r, SL_STRLIT("gpt-3.5-long"), &b));
    assert_string_equal(sl_buf_cstr(&b), "ab");
    assert_null(sl_resources_resolve(r, SL_STRLIT("xy"), &b));
    assert_string_equal(sl_buf_cstr(&b), "ab");
    sl_buf_dispose(&b);
    /* The id is appended after what is there. */
    sl_buf_init(&b, 64);
    assert_int_equal(sl_buf_append(&b, "{\"model\":", 9), SL_OK);
    assert_non_null(sl_resources_resolve(r, SL_STRLIT("gpt-4o"), &b));
    assert_string_equal(sl_buf_cstr(&b), "{\"model\":\"gpt-4o-2024\"");
    sl_buf_dispose(&b);
    sl_resources_free(r);
}

static void test_glob_match(void **state)
{
    (void)state;
    assert_true(sl_glob_match(SL_STRLIT("gpt-4o"), SL_STRLIT("gpt-4o")));
    assert_false(sl_glob_match(SL_STRLIT("gpt-4o"), SL_STRLIT("gpt-4o-mini")));
    assert_false(sl_glob_match(SL_STRLIT("gpt-4o"), SL_STRLIT("gpt-4")));
    assert_true(sl_glob_match(SL_STRLIT("gpt-*"), SL_STRLIT("gpt-4o")));
    assert_true(sl_glob_match(SL_STRLIT("gpt-*"), SL_STRLIT("gpt-")));
    assert_false(sl_glob_match(SL_STRLIT("gpt-*"), SL_STRLIT("gpt")));
    assert_true(sl_glob_match(SL_STRLIT("*-mini"), SL_STRLIT("o1-mini")));
    assert_true(sl_glob_match(SL_STRLIT("*-mini"), SL_STRLIT("-mini")));
    assert_false(sl_glob_match(SL_STRLIT("*-mini"), SL_STRLIT("o1-mini2")));
    assert_true(sl_glob_match(SL_STRLIT("a*z"), SL_STRLIT("az")));
    assert_true(sl_glob_match(SL_STRLIT("a*z"), SL_STRLIT("abcz")));
    assert_false(sl_glob_match(SL_STRLIT("aa*aa"), SL_STRLIT("aaa")));
    assert_true(sl_glob_match(SL_STRLIT("*"), SL_STRLIT("")));
    assert_true(sl_glob_match(SL_STRLIT("*"), SL_STR_NULL));
    assert_true(sl_glob_match(SL_STRLIT("*"), SL_STRLIT("anything")));
    assert_true(sl_glob_match(SL_STRLIT(""), SL_STRLIT("")));
    assert_false(sl_glob_match(SL_STRLIT(""), SL_STRLIT("a")));
    assert_true(sl_glob_match(SL_STR_NULL, SL_STR_NULL));
    /* Only the first '*' is a wildcard. */
    assert_true(sl_glob_match(SL_STRLIT("a*b*"), SL_STRLIT("axxb*")));
    assert_false(sl_glob_match(SL_STRLIT("a*b*"), SL_STRLIT("axxbyy")));
}

static void test_api_key_allows(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK M_MINI "  - {display_name: \"mock-*\", provider_key: mock, "
                                   "model_name: \"*\"}\n"
                                   "api_keys:\n"
                                   "  - display_name: some\n"
                                   "    key_env: CALLER_KEY\n"
                                   "    allowed_models: [gpt-4o-mini, \"mock-a*\"]\n"
                                   "  - display_name: none\n"
                                   "    key_env: CALLER_KEY_2\n"
                                   "    allowed_models: []\n");
    const struct sl_api_key *some = &r->api_keys[0], *none = &r->api_keys[1];
    assert_true(sl_api_key_allows(some, SL_STRLIT("gpt-4o-mini")));
    assert_false(sl_api_key_allows(some, SL_STRLIT("gpt-4o")));
    assert_true(sl_api_key_allows(some, SL_STRLIT("mock-a")));
    assert_true(sl_api_key_allows(some, SL_STRLIT("mock-abc")));
    assert_false(sl_api_key_allows(some, SL_STRLIT("mock-b")));
    assert_false(sl_api_key_allows(some, SL_STR_NULL));
    assert_false(sl_api_key_allows(none, SL_STRLIT("gpt-4o-mini")));
    sl_resources_free(r);
}

/* An exact allowed_models entry may name an alias that a wildcard model resolves. */
static void test_allowed_models_cross_reference(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR PK_MOCK "models:\n"
                            "  - {display_name: \"mock-*\", provider_key: mock, "
                            "model_name: \"*\"}\n"
                            "api_keys:\n"
                            "  - display_name: k\n"
                            "    key_env: CALLER_KEY\n"
                            "    allowed_models: [mock-x, \"mock-*\", \"other-*\"]\n");
    assert_int_equal(r->api_keys[0].n_allowed_models, 3);
    sl_resources_free(r);
    expect(HDR PK_MOCK "models:\n"
                       "  - {display_name: \"mock-*\", provider_key: mock, model_name: \"*\"}\n"
                       "api_keys:\n"
                       "  - display_name: k\n"
                       "    key_env: CALLER_KEY\n"
                       "    allowed_models: [mock-, other]\n",
           "r.yaml:12: api_keys[0] (\"k\"): allowed_models[0]: \"mock-\" is not defined in "
           "models\n"
           "r.yaml:12: api_keys[0] (\"k\"): allowed_models[1]: \"other\" is not defined in "
           "models\n");
}

static void test_find_key(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR "api_keys:\n"
                                         "  - display_name: a\n"
                                         "    key_env: CALLER_KEY\n"
                                         "    allowed_models: []\n"
                                         "  - display_name: b\n"
                                         "    key_env: CALLER_KEY_2\n"
                                         "    allowed_models: []\n");
    assert_ptr_equal(sl_resources_find_key(r, abc_digest), &r->api_keys[0]);
    assert_ptr_equal(sl_resources_find_key(r, r->api_keys[1].digest), &r->api_keys[1]);
    uint8_t other[32];
    memcpy(other, abc_digest, 32);
    other[31] ^= 1; /* same first 8 bytes: the hash matches, the full compare does not */
    assert_null(sl_resources_find_key(r, other));
    memset(other, 0, sizeof(other));
    assert_null(sl_resources_find_key(r, other));
    sl_resources_free(r);
}

/* Many keys and models: the tables grow and every entry stays reachable. */
static void test_many_entries(void **state)
{
    (void)state;
    enum { N = 300 };
    char *yaml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&yaml, &len);
    assert_non_null(f);
    fputs(HDR PK_MOCK "models:\n", f);
    for (int i = 0; i < N; i++)
        fprintf(f, "  - {display_name: m%d, provider_key: mock, model_name: u%d}\n", i, i);
    fputs("api_keys:\n", f);
    for (int i = 0; i < N; i++)
        fprintf(f, "  - {display_name: k%d, key_hash: \"%064x\", allowed_models: [m%d]}\n", i,
                i + 1, i);
    fclose(f);
    struct sl_resources *r = load_ok(yaml);
    free(yaml);
    assert_int_equal(r->n_models, N);
    for (int i = 0; i < N; i++) {
        char alias[16], want[16];
        snprintf(alias, sizeof(alias), "m%d", i);
        snprintf(want, sizeof(want), "\"u%d\"", i);
        resolves(r, alias, alias, want);
        const struct sl_api_key *k = &r->api_keys[i];
        assert_ptr_equal(sl_resources_find_key(r, k->digest), k);
        assert_true(sl_api_key_allows(k, sl_str_from_cstr(alias)));
    }
    resolves(r, "m300", NULL, NULL);
    sl_resources_free(r);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/sl-resources-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd != -1);
    assert_int_equal(write(fd, full_file, strlen(full_file)), (ssize_t)strlen(full_file));
    close(fd);
    struct sl_resources *r = NULL;
    struct sl_diag d;
    sl_diag_init(&d, path);
    assert_int_equal(sl_resources_load(path, env, &r, &d), SL_OK);
    assert_int_equal(d.count, 0);
    assert_string_equal(r->file, path);
    assert_int_equal(r->n_models, 5);
    sl_resources_free(r);
    sl_diag_dispose(&d);
    unlink(path);

    sl_diag_init(&d, "missing.yaml");
    r = (struct sl_resources *)1;
    assert_int_equal(sl_resources_load("/nonexistent/missing.yaml", env, &r, &d), SL_ERR);
    assert_null(r);
    char *got = printed(&d);
    assert_string_equal(got,
                        "missing.yaml: cannot read resources file: No such file or directory\n");
    free(got);
    sl_diag_dispose(&d);

    sl_diag_init(&d, "dir");
    assert_int_equal(sl_resources_load("/tmp", env, &r, &d), SL_ERR);
    assert_int_equal(d.count, 1);
    sl_diag_dispose(&d);
}

/* Values stored from one entry and quoted in another entry's message (a key's provider, a
 * duplicate name) are printed as written, never with a variable's value. */
static void test_no_variable_value_in_cross_references(void **state)
{
    (void)state;
    expect(HDR "provider_keys:\n"
               "  - display_name: k\n"
               "    provider: ${TEAM}\n"
               "    api_key: x\n"
               "models:\n"
               "  - display_name: ${TEAM}*x*\n"
               "    provider_key: k\n"
               "    model_name: m\n"
               "    provider: openai\n"
               "  - display_name: other\n"
               "    provider_key: k\n"
               "    model_name: m\n"
               "  - display_name: ${TEAM}\n"
               "    provider_key: k\n"
               "    model_name: m\n"
               "  - display_name: ${TEAM}\n"
               "    provider_key: k\n"
               "    model_name: m\n"
               "  - display_name: q\n"
               "    provider_key: ${TEAM}-key\n"
               "    provider: ${TEAM}\n"
               "    model_name: m\n",
           "r.yaml:3: provider_keys[0] (\"k\"): api_base: required for provider \"${TEAM}\" (the "
           "default https://api.openai.com/v1 applies only to provider openai)\n"
           "r.yaml:7: models[0] (\"${TEAM}*x*\"): display_name: a wildcard name has exactly one "
           "\"*\", got \"${TEAM}*x*\"\n"
           "r.yaml:17: models[3] (\"${TEAM}\"): display_name: duplicate display_name \"${TEAM}\" "
           "(first at line 14)\n"
           "r.yaml:21: models[4] (\"q\"): provider_key: \"${TEAM}-key\" (interpolated) is not "
           "defined in provider_keys\n");
    /* A key without provider takes the model's vendor: shown as written, never expanded. */
    expect(HDR "provider_keys:\n"
               "  - display_name: ${TEAM}-key\n"
               "    api_key: x\n"
               "models:\n"
               "  - display_name: m\n"
               "    provider_key: ${TEAM}-key\n"
               "    provider: ${TEAM}\n"
               "    model_name: m\n",
           "r.yaml:3: provider_keys[0] (\"${TEAM}-key\"): api_base: required for provider "
           "\"${TEAM}\", taken from models[0] (\"m\") because the key sets no provider (the "
           "default https://api.openai.com/v1 applies only to provider openai)\n");
}

/* The example `make run` serves loads without any environment and does what its comments say. */
static void test_example_file(void **state)
{
    (void)state;
    static const uint8_t example_digest[32] = {
        0x64, 0xd3, 0x22, 0x94, 0x41, 0x52, 0x82, 0xd0, 0xe6, 0x8f, 0x48,
        0x06, 0xaf, 0x96, 0xc4, 0xe0, 0x39, 0x44, 0xad, 0xb3, 0x50, 0x72,
        0x7d, 0x4d, 0xa8, 0xc2, 0x68, 0x80, 0xc6, 0xf9, 0x45, 0x58,
    };
    struct sl_resources *r = NULL;
    struct sl_diag d;
    sl_diag_init(&d, "examples/resources.yaml");
    int rc = sl_resources_load("../../examples/resources.yaml", no_env, &r, &d);
    if (rc != SL_OK)
        sl_diag_print(&d, stderr);
    assert_int_equal(rc, SL_OK);
    sl_diag_dispose(&d);
    assert_string_equal(r->provider_keys[0].origin.key, "http://127.0.0.1:3001");
    const struct sl_api_key *k = sl_resources_find_key(r, example_digest);
    assert_non_null(k);
    assert_string_equal(k->name, "make-run");
    assert_true(sl_api_key_allows(k, SL_STRLIT("gpt-4o-mini")));
    assert_true(sl_api_key_allows(k, SL_STRLIT("mock-fast")));
    resolves(r, "gpt-4o-mini", "gpt-4o-mini", "\"gpt-4o-mini\"");
    resolves(r, "mock-fast", "mock-*", "\"mock-fast\"");
    sl_resources_free(r);
}

/* Every failure path above already checks for secrets; this one piles up every kind of
 * problem next to secrets, file-supplied and from the environment, in one file. */
static void test_no_secret_in_any_message(void **state)
{
    (void)state;
    const char *yaml = HDR "provider_keys:\n"
                           "  - display_name: a\n"
                           "    provider: openai\n"
                           "    api_key: sk-SECRET-a\n"
                           "    secret: ${UPSTREAM_KEY}\n"
                           "    api_base: \"https://u:sk-SECRET@h/${UPSTREAM_KEY}?k=sk-SECRET\"\n"
                           "  - display_name: b\n"
                           "    provider: openai\n"
                           "    api_key: \"${UPSTREAM_KEY}\\n\"\n"
                           "    adapter: ${UPSTREAM_KEY}\n"
                           "api_keys:\n"
                           "  - display_name: c\n"
                           "    key_hash: ${UPSTREAM_KEY}\n"
                           "    allowed_models: [\"${CALLER_KEY_2}\", \"${TEAM}*\"]\n"
                           "    team_id: ${TEAM}\n"
                           "    expires_at: ${TEAM}\n"
                           "  - display_name: d\n"
                           "    key_env: CALLER_KEY_2\n"
                           "    allowed_models: []\n"
                           "  - display_name: e\n"
                           "    key_env: CALLER_KEY_2\n"
                           "    allowed_models: []\n";
    struct sl_resources *r = NULL;
    struct sl_diag d;
    assert_int_equal(load(yaml, env, &r, &d), SL_ERR);
    assert_true(d.count >= 8);
    assert_no_secrets(&d);
    sl_diag_dispose(&d);
}

/* Bedrock keys: the JSON credentials object (SigV4) or a Bedrock API key (bearer); the region
 * gives the default endpoint; a vendor "bedrock" (or "amazon-bedrock") picks the family, also
 * through a model when the key names none. */
static void test_bedrock_keys(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(
        HDR "provider_keys:\n"
            "  - display_name: aws\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":"
            "\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\"region\":\"eu-west-3\"}'\n"
            "  - display_name: sts\n"
            "    adapter: bedrock\n"
            "    api_key: '{\"region\":\"us-east-1\",\"access_key_id\":\"ASIAIOSFODNN7EXAMPLE\","
            "\"secret_access_key\":\"s/k\",\"session_token\":\"FwoGZXIvYXdzE\\u0041\"}'\n"
            "    api_base: HTTP://127.0.0.1:9000/\n"
            "  - display_name: bearer\n"
            "    provider: amazon-bedrock\n"
            "    api_key: ABSKQmVkcm9ja0FQSUtleS1\n"
            "    api_base: https://bedrock-runtime.us-west-2.amazonaws.com\n"
            "  - display_name: open\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":\"x\","
            "\"region\":\"ap-south-1\",\"session_token\":null}'\n"
            "models:\n"
            "  - display_name: m\n"
            "    provider_key: open\n"
            "    provider: bedrock\n"
            "    model_name: us.anthropic.claude-3-5-sonnet-20241022-v2:0\n");
    const struct sl_provider_key *k = &r->provider_keys[0];
    assert_int_equal(k->adapter, SL_ADAPTER_BEDROCK);
    assert_non_null(k->aws);
    assert_string_equal(k->aws->access_key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_string_equal(k->aws->secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_null(k->aws->session_token);
    assert_string_equal(k->aws->region, "eu-west-3");
    assert_string_equal(k->api_base, "https://bedrock-runtime.eu-west-3.amazonaws.com");
    assert_string_equal(k->origin.authority, "bedrock-runtime.eu-west-3.amazonaws.com");
    k = &r->provider_keys[1];
    assert_int_equal(k->adapter, SL_ADAPTER_BEDROCK);
    assert_string_equal(k->aws->session_token, "FwoGZXIvYXdzEA"); /* JSON escapes decoded */
    assert_string_equal(k->api_base, "http://127.0.0.1:9000");
    assert_string_equal(k->origin.base_path, "");
    assert_true(r->provider_keys[0].aws->serial != k->aws->serial);
    k = &r->provider_keys[2];
    assert_int_equal(k->adapter, SL_ADAPTER_BEDROCK);
    assert_null(k->aws);
    assert_string_equal(k->auth_header, "Bearer ABSKQmVkcm9ja0FQSUtleS1");
    k = &r->provider_keys[3]; /* settled by its model */
    assert_int_equal(k->adapter, SL_ADAPTER_BEDROCK);
    assert_string_equal(k->aws->region, "ap-south-1");
    assert_null(k->aws->session_token);
    assert_string_equal(k->api_base, "https://bedrock-runtime.ap-south-1.amazonaws.com");
    sl_resources_free(r);
}

/* Bad credential objects name the member and the rule, never a value. */
static void test_bedrock_key_errors(void **state)
{
    (void)state;
    const char *yaml =
        HDR "provider_keys:\n"
            "  - display_name: a\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":"
            "\"s3cr3t\"}'\n"
            "  - display_name: b\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":"
            "\"s3cr3t\",\"region\":\"us-east-1\",\"regoin\":\"SECRET\"}'\n"
            "  - display_name: c\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"SECRET\",\"secret_access_key\":\"s3cr3t\","
            "\"region\":\"us-east-1\"}'\n"
            "  - display_name: d\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":\"\","
            "\"region\":\"us-east-1\"}'\n"
            "  - display_name: e\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":"
            "\"s3 cr3t\",\"region\":\"US_EAST\"}'\n"
            "  - display_name: f\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\": SECRET}'\n"
            "  - display_name: g\n"
            "    provider: bedrock\n"
            "    api_key: '{\"access_key_id\":\"AKIAIOSFODNN7EXAMPLE\",\"secret_access_key\":"
            "\"s3cr3t\",\"region\":\"us-east-1\",\"session_token\":7}'\n";
    expect(yaml,
           "r.yaml:5: provider_keys[0] (\"a\"): api_key: region: required member is missing\n"
           "r.yaml:8: provider_keys[1] (\"b\"): api_key: unknown member (expected "
           "access_key_id, secret_access_key, session_token, region)\n"
           "r.yaml:11: provider_keys[2] (\"c\"): api_key: access_key_id: expected an AWS access "
           "key id (16 to 128 upper-case letters and digits, e.g. AKIA...)\n"
           "r.yaml:14: provider_keys[3] (\"d\"): api_key: secret_access_key: must not be empty\n"
           "r.yaml:17: provider_keys[4] (\"e\"): api_key: secret_access_key: only printable "
           "ASCII without spaces is allowed\n"
           "r.yaml:20: provider_keys[5] (\"f\"): api_key: expected the JSON object "
           "{\"access_key_id\", \"secret_access_key\", \"session_token\"?, \"region\"} or a "
           "Bedrock API key (the value starts with '{' but is not a JSON object)\n"
           "r.yaml:23: provider_keys[6] (\"g\"): api_key: session_token: expected a string\n");
    struct sl_resources *r = NULL;
    struct sl_diag d;
    assert_int_equal(load(yaml, env, &r, &d), SL_ERR);
    assert_no_secrets(&d);
    sl_diag_dispose(&d);
}

/* ---- the azure-openai, gemini and vertex families (reference 6) ---- */

static void test_azure_keys(void **state)
{
    (void)state;
    struct sl_resources *r =
        load_ok(HDR "provider_keys:\n"
                    "  - display_name: a\n"
                    "    provider: azure-openai\n"
                    "    api_key: azure-s3cr3t\n"
                    "    api_base: https://Res.OpenAI.Azure.com/openai/\n"
                    "  - display_name: b\n"
                    "    provider: azure\n"
                    "    api_key: azure-s3cr3t\n"
                    "    api_base: https://res.openai.azure.com\n"
                    "    api_version: 2025-04-01-preview\n"
                    "  - display_name: c\n"
                    "    adapter: azure-openai\n"
                    "    api_key: '{\"tenant_id\": \"contoso.onmicrosoft.com\", \"client_id\": "
                    "\"app\", \"client_secret\": \"s3cr3t-entra\"}'\n"
                    "    api_base: https://res.openai.azure.com\n"
                    "  - display_name: d\n"
                    "    adapter: azure-openai\n"
                    "    api_key: |\n"
                    "      {\"tenant_id\": \"t1\", \"client_id\": \"app\",\n"
                    "       \"client_secret\": \"x\", \"authority_host\": "
                    "\"http://127.0.0.1:9/\"}\n"
                    "    api_base: https://res.openai.azure.com\n");
    const struct sl_provider_key *k = r->provider_keys;
    assert_int_equal(k[0].adapter, SL_ADAPTER_AZURE_OPENAI);
    assert_string_equal(k[0].api_base, "https://res.openai.azure.com");
    assert_string_equal(k[0].api_version, "2024-10-21");
    assert_int_equal(k[0].cred.kind, SL_CRED_KEY);
    assert_int_equal(k[1].adapter, SL_ADAPTER_AZURE_OPENAI);
    assert_string_equal(k[1].api_version, "2025-04-01-preview");
    assert_int_equal(k[2].cred.kind, SL_CRED_ENTRA);
    assert_string_equal(k[2].cred.client_secret, "s3cr3t-entra");
    assert_string_equal(k[2].cred.token_url,
                        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
                        "token");
    assert_string_equal(k[2].cred.scope, "https://cognitiveservices.azure.com/.default");
    assert_string_equal(k[2].cred.token_origin.authority, "login.microsoftonline.com");
    assert_string_equal(k[2].cred.token_path, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
    assert_null(k[2].auth_header); /* no "Bearer <json>" */
    /* authority_host (a national cloud, or a test's token endpoint); a block scalar is fine. */
    assert_string_equal(k[3].cred.token_url, "http://127.0.0.1:9/t1/oauth2/v2.0/token");
    assert_int_equal(k[3].cred.token_origin.port, 9);
    /* Keys with the same credential share a fingerprint, others do not. */
    assert_memory_not_equal(k[2].cred.id, k[3].cred.id, 32);
    sl_resources_free(r);
}

static void test_azure_key_errors(void **state)
{
    (void)state;
    expect(HDR "provider_keys:\n"
               "  - display_name: a\n"
               "    provider: azure-openai\n"
               "    api_key: '{\"tenant_id\": \"t\", \"client_id\": \"c\"}'\n"
               "    api_base: https://r.openai.azure.com\n"
               "  - display_name: b\n"
               "    provider: azure-openai\n"
               "    api_key: '{\"tenant_id\": \"../x\", \"client_id\": \"c\", \"client_secret\": "
               "\"SECRET\"}'\n"
               "    api_base: https://r.openai.azure.com\n"
               "  - display_name: c\n"
               "    provider: azure-openai\n"
               "    api_key: '{\"tenant_id\": \"t\", \"client_id\": \"c\", \"client_secret\": "
               "\"SECRET\", \"client_secrt\": 1}'\n"
               "    api_base: https://r.openai.azure.com\n"
               "  - display_name: d\n"
               "    provider: azure-openai\n"
               "    api_key: '{\"tenant_id\": \"t\", \"client_id\": \"c\", \"client_secret\": "
               "\"SECRET\", \"authority_host\": \"https://login.example/evil\"}'\n"
               "    api_base: https://r.openai.azure.com\n"
               "  - display_name: e\n"
               "    provider: azure-openai\n"
               "    api_key: '{\"tenant_id\": \"t\", \"client_secret\": \"SECRET\"'\n"
               "    api_base: https://r.openai.azure.com\n"
               "  - display_name: f\n"
               "    provider: openai\n"
               "    api_key: k\n"
               "    api_version: 2024-10-21\n"
               "  - display_name: g\n"
               "    provider: gemini\n"
               "    api_key: |\n"
               "      {\"not\": \"a credential\",\n"
               "       \"for\": \"gemini\"}\n",
           "r.yaml:5: provider_keys[0] (\"a\"): api_key: client_secret: required field is "
           "missing\n"
           "r.yaml:9: provider_keys[1] (\"b\"): api_key: tenant_id: expected a tenant id or "
           "domain (letters, digits, '-', '_', '.')\n"
           "r.yaml:13: provider_keys[2] (\"c\"): api_key: unknown field \"client_secrt\"\n"
           "r.yaml:17: provider_keys[3] (\"d\"): api_key: authority_host: expected a bare origin "
           "(scheme://host[:port]) without a path\n"
           "r.yaml:21: provider_keys[4] (\"e\"): api_key: not valid JSON (line 1, column 44)\n"
           "r.yaml:26: provider_keys[5] (\"f\"): api_version: applies only to the azure-openai "
           "family (this key's family is openai)\n"
           "r.yaml:29: provider_keys[6] (\"g\"): api_key: control characters are not allowed (the "
           "key is sent in an HTTP header)\n");
}

static void test_gemini_keys(void **state)
{
    (void)state;
    struct sl_resources *r = load_ok(HDR "provider_keys:\n"
                                         "  - display_name: a\n"
                                         "    provider: gemini\n"
                                         "    api_key: AIza-s3cr3t\n"
                                         "  - display_name: b\n"
                                         "    adapter: gemini\n"
                                         "    api_key: AIza-s3cr3t\n"
                                         "    api_base: http://127.0.0.1:7000\n"
                                         "  - display_name: c\n"
                                         "    adapter: gemini\n"
                                         "    api_key: AIza-s3cr3t\n"
                                         "    api_base: https://proxy.example/v1/models/\n"
                                         "  - display_name: d\n"
                                         "    api_key: AIza-s3cr3t\n"
                                         "models:\n"
                                         "  - display_name: g\n"
                                         "    provider: gemini\n"
                                         "    model_name: gemini-2.5-flash\n"
                                         "    provider_key: d\n");
    const struct sl_provider_key *k = r->provider_keys;
    assert_int_equal(k[0].adapter, SL_ADAPTER_GEMINI);
    assert_string_equal(k[0].api_base, "https://generativelanguage.googleapis.com/v1beta");
    assert_string_equal(k[1].api_base, "http://127.0.0.1:7000/v1beta"); /* a bare host */
    assert_string_equal(k[2].api_base, "https://proxy.example/v1");     /* pasted /models */
    assert_null(k[0].api_version);
    /* A key without provider or adapter takes the model's family and its default base. */
    assert_int_equal(k[3].adapter, SL_ADAPTER_GEMINI);
    assert_string_equal(k[3].api_base, "https://generativelanguage.googleapis.com/v1beta");
    sl_resources_free(r);
}

/* A fresh RSA (or EC) key as PEM, JSON-escaped for a service account's private_key. */
static char *pem_json(const char *type)
{
    EVP_PKEY *key = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                             : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem, *out;
    assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    long n = BIO_get_mem_data(bio, &pem);
    out = malloc((size_t)n * 2 + 1);
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        if (pem[i] == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = pem[i];
        }
    }
    out[o] = '\0';
    BIO_free(bio);
    EVP_PKEY_free(key);
    return out;
}

static void test_vertex_keys(void **state)
{
    (void)state;
    char *pem = pem_json("RSA"), *yaml;
    yaml = sl_xasprintf(
        HDR "provider_keys:\n"
            "  - display_name: tok\n"
            "    provider: vertex\n"
            "    api_key: '{\"access_token\": \"ya29.s3cr3t\", \"project\": \"my-proj\", "
            "\"region\": \"us-east5\"}'\n"
            "  - display_name: sa\n"
            "    provider: google-vertex\n"
            "    api_key: '{\"type\": \"service_account\", \"project_id\": \"sa-proj\", "
            "\"private_key_id\": \"k\", \"private_key\": \"%s\", \"client_email\": "
            "\"x@sa-proj.iam.gserviceaccount.com\", \"client_id\": \"1\", \"auth_uri\": \"u\"}'\n"
            "  - display_name: wrapped\n"
            "    adapter: vertex\n"
            "    api_key: '{\"project\": \"p2\", \"region\": \"global\", \"service_account_json\": "
            "{\"type\": \"service_account\", \"private_key\": \"%s\", \"client_email\": \"e@x\", "
            "\"token_uri\": \"http://127.0.0.1:9/token\"}}'\n"
            "    api_base: http://127.0.0.1:9/v1/\n",
        pem, pem);
    struct sl_resources *r = load_ok(yaml);
    const struct sl_provider_key *k = r->provider_keys;
    assert_int_equal(k[0].adapter, SL_ADAPTER_VERTEX);
    assert_int_equal(k[0].cred.kind, SL_CRED_GCP_TOKEN);
    assert_string_equal(k[0].cred.access_token, "ya29.s3cr3t");
    assert_string_equal(k[0].api_base, "https://us-east5-aiplatform.googleapis.com");
    assert_int_equal(k[1].adapter, SL_ADAPTER_VERTEX);
    assert_int_equal(k[1].cred.kind, SL_CRED_GCP_SA);
    assert_string_equal(k[1].cred.project, "sa-proj");
    assert_string_equal(k[1].cred.region, "us-central1"); /* a bare service account key */
    assert_string_equal(k[1].cred.token_url, "https://oauth2.googleapis.com/token");
    assert_string_equal(k[1].cred.scope, "https://www.googleapis.com/auth/cloud-platform");
    assert_string_equal(k[1].cred.client_email, "x@sa-proj.iam.gserviceaccount.com");
    assert_string_equal(k[1].api_base, "https://us-central1-aiplatform.googleapis.com");
    assert_string_equal(k[2].cred.project, "p2");
    assert_string_equal(k[2].cred.token_path, "/token");
    assert_string_equal(k[2].api_base, "http://127.0.0.1:9"); /* the pasted /v1 is the family's */
    sl_resources_free(r);
    free(yaml);
    free(pem);
}

static void test_vertex_key_errors(void **state)
{
    (void)state;
    char *ec = pem_json("EC"), *yaml;
    yaml = sl_xasprintf(
        HDR "provider_keys:\n"
            "  - display_name: a\n"
            "    provider: vertex\n"
            "    api_key: ya29.SECRET\n"
            "  - display_name: b\n"
            "    provider: vertex\n"
            "    api_key: '{\"access_token\": \"SECRET\", \"project\": \"p\"}'\n"
            "  - display_name: c\n"
            "    provider: vertex\n"
            "    api_key: '{\"type\": \"authorized_user\", \"private_key\": \"x\"}'\n"
            "  - display_name: d\n"
            "    provider: vertex\n"
            "    api_key: '{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key\": "
            "\"-----BEGIN PRIVATE KEY-----\\nSECRET\\n-----END PRIVATE KEY-----\\n\", "
            "\"client_email\": \"e@x\"}'\n"
            "  - display_name: e\n"
            "    provider: vertex\n"
            "    api_key: '{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key\": "
            "\"%s\", \"client_email\": \"e@x\"}'\n"
            "  - display_name: f\n"
            "    provider: vertex\n"
            "    api_key: '{\"access_token\": \"SECRET\", \"project\": \"p/../q\", \"region\": "
            "\"r\"}'\n"
            "  - display_name: g\n"
            "    provider: vertex\n"
            "    api_key: '{\"access_token\": \"SECRET\", \"project\": \"p\", \"region\": "
            "\"us-east5\", \"token\": 1}'\n",
        ec);
    expect(yaml,
           "r.yaml:5: provider_keys[0] (\"a\"): api_key: the vertex family needs a JSON "
           "credential: {\"access_token\", \"project\", \"region\"} or a service account key\n"
           "r.yaml:8: provider_keys[1] (\"b\"): api_key: region: required field is missing\n"
           "r.yaml:11: provider_keys[2] (\"c\"): api_key: type: expected \"service_account\"\n"
           "r.yaml:14: provider_keys[3] (\"d\"): api_key: private_key: not a PEM private key "
           "OpenSSL can read\n"
           "r.yaml:17: provider_keys[4] (\"e\"): api_key: private_key: expected an RSA key "
           "(RS256)\n"
           "r.yaml:20: provider_keys[5] (\"f\"): api_key: project: expected a Google Cloud "
           "project id\n"
           "r.yaml:23: provider_keys[6] (\"g\"): api_key: unknown field \"token\"\n");
    free(yaml);
    free(ec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_minimal_and_empty_collections),
        cmocka_unit_test(test_file_shape),
        cmocka_unit_test(test_unsupported_collections),
        cmocka_unit_test(test_common_entry_errors),
        cmocka_unit_test(test_provider_key_errors),
        cmocka_unit_test(test_anthropic_keys),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_provider_adapter_openai),
        cmocka_unit_test(test_bedrock_keys),
        cmocka_unit_test(test_bedrock_key_errors),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_virtual_models_get_one_error),
        cmocka_unit_test(test_routing_group),
        cmocka_unit_test(test_routing_errors),
        cmocka_unit_test(test_direct_blocks),
        cmocka_unit_test(test_model_provider_may_differ),
        cmocka_unit_test(test_key_without_provider),
        cmocka_unit_test(test_api_key_errors),
        cmocka_unit_test(test_api_key_duplicate_digest),
        cmocka_unit_test(test_limits_and_cost),
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_key_env_hashing),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_interpolation_errors),
        cmocka_unit_test(test_interpolation_cap),
        cmocka_unit_test(test_errors_in_line_order),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_resolve_binary_alias),
        cmocka_unit_test(test_resolve_buffer_cap),
        cmocka_unit_test(test_glob_match),
        cmocka_unit_test(test_api_key_allows),
        cmocka_unit_test(test_allowed_models_cross_reference),
        cmocka_unit_test(test_find_key),
        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_no_variable_value_in_cross_references),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_azure_keys),
        cmocka_unit_test(test_azure_key_errors),
        cmocka_unit_test(test_gemini_keys),
        cmocka_unit_test(test_vertex_keys),
        cmocka_unit_test(test_vertex_key_errors),
        cmocka_unit_test(test_no_secret_in_any_message),
        cmocka_unit_test(test_cache_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
