/* The Azure OpenAI, Gemini and Vertex AI wire families (src/providers/): the wire each serves,
 * the request head each writes (path, query, auth), the body Vertex's Claude endpoints get, and
 * Google's error envelope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/provider.h"
#include "sluice/resources.h"

int main(void);

static const char yaml[] =
    "_format_version: \"1\"\n"
    "provider_keys:\n"
    "  - display_name: az\n"
    "    provider: azure-openai\n"
    "    api_key: az-secret\n"
    "    api_base: https://res.openai.azure.com/openai/\n"
    "  - display_name: az-v\n"
    "    provider: azure\n"
    "    api_key: az-secret\n"
    "    api_base: http://127.0.0.1:8080/proxy\n"
    "    api_version: 2025-04-01-preview\n"
    "  - display_name: gem\n"
    "    provider: gemini\n"
    "    api_key: g-secret\n"
    "  - display_name: vx\n"
    "    provider: vertex\n"
    "    api_key: '{\"access_token\": \"ya29.tok\", \"project\": \"my-proj\", \"region\": "
    "\"europe-west4\"}'\n"
    "  - display_name: vx-global\n"
    "    adapter: vertex\n"
    "    api_key: '{\"access_token\": \"t\", \"project\": \"p\", \"region\": \"global\"}'\n";

static struct sl_resources *load(void)
{
    struct sl_resources *r = NULL;
    struct sl_diag d;
    sl_diag_init(&d, "r.yaml");
    int rc = sl_resources_parse(yaml, strlen(yaml), "r.yaml", NULL, &r, &d);
    if (rc != SL_OK)
        sl_diag_print(&d, stderr);
    assert_int_equal(rc, SL_OK);
    sl_diag_dispose(&d);
    return r;
}

/* The head and body build_request writes for call, joined into one string in pool memory. */
static char *request(h2o_mem_pool_t *pool, const struct sl_provider_key *k,
                     struct sl_upstream_call *call, const char *body)
{
    h2o_iovec_t piece = h2o_iovec_init(body, strlen(body)), *bufs;
    size_t n, len = 0;
    call->request_id = SL_STRLIT("req-1");
    call->body = &piece;
    call->nbody = 1;
    call->body_len = piece.len;
    sl_provider_for(k)->build_request(pool, k, call, &bufs, &n);
    for (size_t i = 0; i < n; i++)
        len += bufs[i].len;
    char *out = h2o_mem_alloc_pool(pool, len + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        memcpy(w, bufs[i].base, bufs[i].len);
        w += bufs[i].len;
    }
    *w = '\0';
    return out;
}

static void has(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("missing %s in:\n%s", want, text);
}

static void test_wires(void **state)
{
    (void)state;
    struct sl_resources *r = load();
    const struct sl_provider_ops *az = sl_provider_for(&r->provider_keys[0]);
    const struct sl_provider_ops *gem = sl_provider_for(&r->provider_keys[2]);
    const struct sl_provider_ops *vx = sl_provider_for(&r->provider_keys[3]);
    assert_ptr_equal(az, &sl_provider_azure);
    assert_ptr_equal(gem, &sl_provider_gemini);
    assert_ptr_equal(vx, &sl_provider_vertex);
    const struct sl_provider_key *azk = &r->provider_keys[0], *gk = &r->provider_keys[2],
                                 *vk = &r->provider_keys[3];
    struct sl_str m = SL_STRLIT("x");
    assert_int_equal(az->wire_for(azk, m, SL_OP_CHAT, SL_WIRE_ANTHROPIC), SL_WIRE_CHAT);
    /* Responses callers reach every family through chat: none speaks Responses itself. */
    assert_int_equal(az->wire_for(azk, m, SL_OP_CHAT, SL_WIRE_RESPONSES), SL_WIRE_CHAT);
    assert_int_equal(az->wire_for(azk, m, SL_OP_RESPONSE_STATE, SL_WIRE_RESPONSES), SL_WIRE_COUNT);
    assert_int_equal(az->wire_for(azk, m, SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS),
                     SL_WIRE_EMBEDDINGS);
    assert_int_equal(az->wire_for(azk, m, SL_OP_COUNT_TOKENS, SL_WIRE_ANTHROPIC), SL_WIRE_COUNT);
    assert_int_equal(gem->wire_for(gk, m, SL_OP_CHAT, SL_WIRE_CHAT), SL_WIRE_GEMINI);
    assert_int_equal(gem->wire_for(gk, m, SL_OP_CHAT, SL_WIRE_RESPONSES), SL_WIRE_GEMINI);
    assert_int_equal(gem->wire_for(gk, m, SL_OP_RESPONSE_STATE, SL_WIRE_RESPONSES), SL_WIRE_COUNT);
    assert_int_equal(gem->wire_for(gk, m, SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS),
                     SL_WIRE_GEMINI_EMBED);
    assert_int_equal(gem->wire_for(gk, m, SL_OP_COMPLETIONS, SL_WIRE_COMPLETIONS), SL_WIRE_COUNT);
    assert_int_equal(vx->wire_for(vk, SL_STRLIT("gemini-2.5-pro"), SL_OP_CHAT, SL_WIRE_ANTHROPIC),
                     SL_WIRE_GEMINI);
    assert_int_equal(
        vx->wire_for(vk, SL_STRLIT("claude-opus-4@20250514"), SL_OP_CHAT, SL_WIRE_CHAT),
        SL_WIRE_ANTHROPIC);
    assert_int_equal(
        vx->wire_for(vk, SL_STRLIT("gemini-2.5-pro"), SL_OP_RESPONSE_STATE, SL_WIRE_RESPONSES),
        SL_WIRE_COUNT);
    assert_int_equal(vx->wire_for(vk, m, SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS), SL_WIRE_COUNT);
    /* And the pairs those callers need exist, composed through chat. */
    assert_non_null(sl_xlate_for(SL_WIRE_RESPONSES, SL_WIRE_GEMINI));
    assert_non_null(sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI));
    sl_resources_free(r);
}

static void test_azure_heads(void **state)
{
    (void)state;
    struct sl_resources *r = load();
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    struct sl_upstream_call call = {
        .op = SL_OP_CHAT, .wire = SL_WIRE_CHAT, .model = SL_STRLIT("gpt4o prod/1")};
    char *t = request(&pool, &r->provider_keys[0], &call, "{}");
    /* The pasted /openai is dropped; the deployment stays in its segment. */
    has(t, "POST /openai/deployments/gpt4o%20prod%2F1/chat/completions?api-version=2024-10-21 "
           "HTTP/1.1\r\nHost: res.openai.azure.com\r\napi-key: az-secret\r\n");
    assert_null(strstr(t, "Authorization"));
    has(t, "Content-Length: 2\r\n\r\n{}");
    call = (struct sl_upstream_call){
        .op = SL_OP_EMBEDDINGS, .wire = SL_WIRE_EMBEDDINGS, .model = SL_STRLIT("emb")};
    t = request(&pool, &r->provider_keys[1], &call, "{}");
    has(t, "POST /proxy/openai/deployments/emb/embeddings?api-version=2025-04-01-preview "
           "HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n");
    h2o_mem_clear_pool(&pool);
    sl_resources_free(r);
}

static void test_gemini_heads(void **state)
{
    (void)state;
    struct sl_resources *r = load();
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const struct sl_provider_key *k = &r->provider_keys[2];
    assert_string_equal(k->api_base, "https://generativelanguage.googleapis.com/v1beta");
    struct sl_upstream_call call = {
        .op = SL_OP_CHAT, .wire = SL_WIRE_GEMINI, .model = SL_STRLIT("gemini-2.5-flash")};
    char *t = request(&pool, k, &call, "{}");
    has(t, "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\n"
           "Host: generativelanguage.googleapis.com\r\nx-goog-api-key: g-secret\r\n");
    call.stream = true;
    call.model = SL_STRLIT("models/gemini-2.5-flash");
    t = request(&pool, k, &call, "{}");
    has(t, "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\n");
    has(t, "Accept: text/event-stream\r\n");
    call = (struct sl_upstream_call){.op = SL_OP_EMBEDDINGS,
                                     .wire = SL_WIRE_GEMINI_EMBED,
                                     .model = SL_STRLIT("tunedModels/mine")};
    t = request(&pool, k, &call, "{}");
    has(t, "POST /v1beta/tunedModels/mine:batchEmbedContents HTTP/1.1\r\n");
    h2o_mem_clear_pool(&pool);
    sl_resources_free(r);
}

/* The Claude body Vertex wants: no model, anthropic_version first (unless given). */
static void vertex_body(h2o_mem_pool_t *pool, const struct sl_provider_key *k, const char *in,
                        const char *want)
{
    struct sl_upstream_call call = {.op = SL_OP_CHAT,
                                    .wire = SL_WIRE_ANTHROPIC,
                                    .model = SL_STRLIT("claude-sonnet-4@20250514"),
                                    .token = SL_STRLIT("ya29.tok")};
    char *t = request(pool, k, &call, in);
    char *body = strstr(t, "\r\n\r\n") + 4;
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(want));
    if (strcmp(body, want) != 0)
        fail_msg("body %s\n want %s", body, want);
    has(t, cl);
}

static void test_vertex_heads(void **state)
{
    (void)state;
    struct sl_resources *r = load();
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const struct sl_provider_key *k = &r->provider_keys[3];
    assert_string_equal(k->api_base, "https://europe-west4-aiplatform.googleapis.com");
    assert_string_equal(r->provider_keys[4].api_base, "https://aiplatform.googleapis.com");
    struct sl_upstream_call call = {.op = SL_OP_CHAT,
                                    .wire = SL_WIRE_GEMINI,
                                    .model = SL_STRLIT("gemini-2.5-pro"),
                                    .token = SL_STRLIT("ya29.tok")};
    char *t = request(&pool, k, &call, "{}");
    has(t, "POST /v1/projects/my-proj/locations/europe-west4/publishers/google/models/"
           "gemini-2.5-pro:generateContent HTTP/1.1\r\n"
           "Host: europe-west4-aiplatform.googleapis.com\r\nAuthorization: Bearer ya29.tok\r\n");
    call.wire = SL_WIRE_ANTHROPIC;
    call.model = SL_STRLIT("claude-sonnet-4@20250514");
    call.stream = true;
    t = request(&pool, k, &call, "{\"model\":\"m\"}");
    has(t, "POST /v1/projects/my-proj/locations/europe-west4/publishers/anthropic/models/"
           "claude-sonnet-4@20250514:streamRawPredict HTTP/1.1\r\n");
    vertex_body(&pool, k, "{\"model\":\"claude\",\"max_tokens\":5,\"messages\":[]}",
                "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":5,\"messages\":[]}");
    vertex_body(&pool, k, "{ \"max_tokens\" : 5 , \"model\" : \"claude\" }",
                "{\"anthropic_version\":\"vertex-2023-10-16\", \"max_tokens\" : 5  }");
    vertex_body(&pool, k, "{\"model\":\"x\"}", "{\"anthropic_version\":\"vertex-2023-10-16\"}");
    vertex_body(&pool, k, "{\"messages\":[{\"model\":1}],\"model\":\"x\",\"stream\":true}",
                "{\"anthropic_version\":\"vertex-2023-10-16\",\"messages\":[{\"model\":1}],"
                "\"stream\":true}");
    /* A body with its own version keeps it; one without a model only gets the version. */
    vertex_body(&pool, k, "{\"anthropic_version\":\"vertex-2023-10-16\",\"model\":\"x\",\"a\":1}",
                "{\"anthropic_version\":\"vertex-2023-10-16\",\"a\":1}");
    vertex_body(&pool, k, "{\"a\":1}", "{\"anthropic_version\":\"vertex-2023-10-16\",\"a\":1}");
    h2o_mem_clear_pool(&pool);
    sl_resources_free(r);
}

static void test_google_errors(void **state)
{
    (void)state;
    struct sl_upstream_error_info e;
    assert_true(sl_provider_google_error(
        SL_STRLIT("{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":"
                  "\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/"
                  "google.rpc.RetryInfo\",\"retryDelay\":\"37s\"}]}}"),
        &e));
    assert_true(sl_str_eq_lit(e.message, "\"Quota exceeded\""));
    assert_true(sl_str_eq_lit(e.type, "\"RESOURCE_EXHAUSTED\""));
    assert_true(sl_str_eq_lit(e.code, "\"RESOURCE_EXHAUSTED\""));
    assert_true(sl_str_eq_lit(e.retry_after, "37"));
    /* ErrorInfo's reason names the error better than the status; fractions round up. */
    assert_true(sl_provider_google_error(
        SL_STRLIT("[{\"error\":{\"code\":400,\"message\":\"API key not valid.\",\"status\":"
                  "\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"x.ErrorInfo\",\"reason\":"
                  "\"API_KEY_INVALID\"},{\"retryDelay\":\"0.5s\"}]}}]"),
        &e));
    assert_true(sl_str_eq_lit(e.code, "\"API_KEY_INVALID\""));
    assert_true(sl_str_eq_lit(e.retry_after, "1"));
    /* Anthropic's envelope (Claude on Vertex) reads as the OpenAI reader reads it. */
    assert_true(sl_provider_google_error(
        SL_STRLIT("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                  "\"Overloaded\"}}"),
        &e));
    assert_true(sl_str_eq_lit(e.message, "\"Overloaded\""));
    assert_true(sl_str_eq_lit(e.type, "\"overloaded_error\""));
    assert_false(sl_provider_google_error(SL_STRLIT("not json"), &e));
    assert_false(sl_provider_google_error(SL_STRLIT("{\"error\":{\"status\":\"X\"}}"), &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wires),         cmocka_unit_test(test_azure_heads),
        cmocka_unit_test(test_gemini_heads),  cmocka_unit_test(test_vertex_heads),
        cmocka_unit_test(test_google_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
