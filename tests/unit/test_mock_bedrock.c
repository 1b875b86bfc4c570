/* The Bedrock wire family (src/providers/bedrock.c) checked against the mock's independent
 * pieces: every request head it builds must carry a signature that the mock's own SigV4 verifier
 * (tests/mock/aws_sigv4.c) accepts, and the mock's event stream encoder
 * (tests/mock/es_encode.c) must agree with Sluice's decoder. Also the family's model-id rules,
 * its wires and its reading of Bedrock's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws_sigv4.h"
#include "es_encode.h"
#include "sluice/base.h"
#include "sluice/bedrock.h"
#include "sluice/eventstream.h"
#include "sluice/picohttp.h"
#include "sluice/provider.h"

int main(void);

#define AKID   "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define TOKEN  "IQoJb3JpZ2luX2VjEXAMPLE/token+x="
#define NOW    INT64_C(1730794150)

struct built {
    h2o_mem_pool_t pool;
    char head[8192];
    struct av_header h[32];
    struct av_request r;
    char body[256];
};

/* Strings the structs hold as char * (the loader owns them there): mutable copies. */
static char key_name[] = "k", vendor[] = "bedrock",
            host[] = "bedrock-runtime.us-west-2.amazonaws.com", no_path[] = "",
            pool_key[] = "https://bedrock-runtime.us-west-2.amazonaws.com:443",
            bearer[] = "ABSK-bearer", bearer_header[] = "Bearer ABSK-bearer", akid[] = AKID,
            sts_akid[] = "ASIAIOSFODNN7EXAMPLE", secret[] = SECRET, token[] = TOKEN,
            us_west_2[] = "us-west-2", eu_central_1[] = "eu-central-1",
            base_path[] = "/proxy/bedrock";

static struct sl_provider_key make_key(struct sl_aws_key *aws)
{
    struct sl_provider_key k = {
        .name = key_name,
        .provider = vendor,
        .adapter = SL_ADAPTER_BEDROCK,
        .origin = {.tls = true,
                   .host = host,
                   .port = 443,
                   .authority = host,
                   .base_path = no_path,
                   .key = pool_key},
        .api_key = bearer,
        .auth_header = bearer_header,
        .aws = aws,
    };
    return k;
}

/* Builds the request and parses its head back into an av_request. */
static void build(struct built *b, const struct sl_provider_key *k, enum sl_wire wire, bool stream,
                  const char *model)
{
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}";
    h2o_iovec_t pieces[2] = {h2o_iovec_init(body, 20),
                             h2o_iovec_init(body + 20, strlen(body) - 20)};
    struct sl_upstream_call call = {.op = SL_OP_CHAT,
                                    .wire = wire,
                                    .stream = stream,
                                    .request_id = SL_STRLIT("req-1"),
                                    .model = sl_str_from_cstr(model),
                                    .unix_time = NOW,
                                    .body = pieces,
                                    .nbody = 2,
                                    .body_len = strlen(body)};
    h2o_iovec_t *bufs;
    size_t nbufs;
    h2o_mem_init_pool(&b->pool);
    sl_provider_bedrock.build_request(&b->pool, k, &call, &bufs, &nbufs);
    assert_int_equal(nbufs, 3);
    assert_true(bufs[0].len < sizeof(b->head));
    memcpy(b->head, bufs[0].base, bufs[0].len);
    snprintf(b->body, sizeof(b->body), "%s", body);
    const char *method, *path;
    size_t method_len, path_len, n = 32;
    int minor;
    struct phr_header hd[32];
    int rc = phr_parse_request(b->head, bufs[0].len, &method, &method_len, &path, &path_len, &minor,
                               hd, &n, 0);
    assert_int_equal(rc, (int)bufs[0].len);
    for (size_t i = 0; i < n; i++)
        b->h[i] = (struct av_header){sl_str_init(hd[i].name, hd[i].name_len),
                                     sl_str_init(hd[i].value, hd[i].value_len)};
    b->r = (struct av_request){sl_str_init(method, method_len), sl_str_init(path, path_len), b->h,
                               n, sl_str_from_cstr(b->body)};
}

static struct sl_str header(const struct built *b, const char *name)
{
    for (size_t i = 0; i < b->r.n_headers; i++)
        if (sl_str_ieq(b->h[i].name, sl_str_from_cstr(name)))
            return b->h[i].value;
    return SL_STR_NULL;
}

static size_t count_headers(const struct built *b, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < b->r.n_headers; i++)
        n += sl_str_ieq(b->h[i].name, sl_str_from_cstr(name));
    return n;
}

static enum av_verdict verify(const struct built *b, const struct av_key *key)
{
    char msg[8192];
    enum av_verdict v = av_verify(&b->r, key, 1, "bedrock", NOW, msg, sizeof(msg));
    if (v != AV_OK)
        print_error("%s\n", msg);
    return v;
}

static void test_signed_requests_verify(void **state)
{
    (void)state;
    struct sl_aws_key aws = {akid, secret, NULL, us_west_2, 101};
    struct sl_provider_key k = make_key(&aws);
    struct av_key key = {SL_STRLIT(AKID), SL_STRLIT(SECRET), SL_STR_NULL};
    struct built b;
    build(&b, &k, SL_WIRE_BEDROCK_CONVERSE, false, "anthropic.claude-3-5-sonnet-20241022-v2:0");
    assert_true(sl_str_eq(
        b.r.target, SL_STRLIT("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse")));
    assert_int_equal(verify(&b, &key), AV_OK);
    assert_true(sl_str_eq(header(&b, "x-amz-date"), SL_STRLIT("20241105T080910Z")));
    /* The shared head's tail: one Content-Type and one Accept, both signed with what is sent. */
    assert_true(sl_str_eq(header(&b, "accept"), SL_STRLIT("application/json")));
    assert_int_equal(count_headers(&b, "accept"), 1);
    assert_int_equal(count_headers(&b, "content-type"), 1);
    assert_non_null(strstr(header(&b, "authorization").ptr,
                           "SignedHeaders=accept;content-type;host;x-amz-date,"));
    h2o_mem_clear_pool(&b.pool);
    /* An ARN is one segment: its ':' and '/' are encoded. Streams; InvokeModel's Accept. */
    build(&b, &k, SL_WIRE_BEDROCK_ANTHROPIC, true,
          "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-x");
    assert_true(sl_str_eq(b.r.target, SL_STRLIT("/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1234567"
                                                "89012%3Ainference-profile%2Fus.anthropic.claude-x/"
                                                "invoke-with-response-stream")));
    assert_true(sl_str_eq(header(&b, "x-amzn-bedrock-accept"), SL_STRLIT("application/json")));
    assert_true(sl_str_eq(header(&b, "accept"), SL_STRLIT("application/vnd.amazon.eventstream")));
    assert_int_equal(count_headers(&b, "accept"), 1);
    assert_int_equal(verify(&b, &key), AV_OK);
    h2o_mem_clear_pool(&b.pool);
    build(&b, &k, SL_WIRE_BEDROCK_TITAN_EMBED, false, "amazon.titan-embed-text-v2:0");
    assert_true(sl_str_eq(header(&b, "accept"), SL_STRLIT("application/json")));
    assert_int_equal(verify(&b, &key), AV_OK);
    /* The mock tells a changed body apart: the signature covers it. */
    b.body[10] ^= 1;
    assert_int_equal(verify(&b, &key), AV_BAD_SIGNATURE);
    h2o_mem_clear_pool(&b.pool);
}

static void test_session_token_and_base_path(void **state)
{
    (void)state;
    struct sl_aws_key aws = {sts_akid, secret, token, eu_central_1, 102};
    struct sl_provider_key k = make_key(&aws);
    k.origin.base_path = base_path;
    struct av_key key = {SL_STRLIT("ASIAIOSFODNN7EXAMPLE"), SL_STRLIT(SECRET), SL_STRLIT(TOKEN)};
    struct built b;
    build(&b, &k, SL_WIRE_BEDROCK_CONVERSE, true, "meta.llama3-3-70b-instruct-v1:0");
    assert_true(sl_str_eq(b.r.target, SL_STRLIT("/proxy/bedrock/model/meta.llama3-3-70b-instruct-"
                                                "v1%3A0/converse-stream")));
    assert_true(sl_str_eq(header(&b, "x-amz-security-token"), SL_STRLIT(TOKEN)));
    assert_non_null(strstr(header(&b, "authorization").ptr,
                           "/eu-central-1/bedrock/aws4_request, SignedHeaders="
                           "accept;content-type;host;x-amz-date;x-amz-security-token"));
    assert_int_equal(verify(&b, &key), AV_OK);
    h2o_mem_clear_pool(&b.pool);
}

/* More keys than a worker keeps signing caches for: each still signs with its own secret. */
static void test_cache_eviction(void **state)
{
    (void)state;
    char secrets[40][48];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 40; i++) {
            snprintf(secrets[i], sizeof(secrets[i]), "secret-number-%d", i);
            struct sl_aws_key aws = {akid, secrets[i], NULL, us_west_2, (uint64_t)(1000 + i)};
            struct sl_provider_key k = make_key(&aws);
            struct av_key key = {SL_STRLIT(AKID), sl_str_from_cstr(secrets[i]), SL_STR_NULL};
            struct built b;
            build(&b, &k, SL_WIRE_BEDROCK_CONVERSE, false, "amazon.nova-pro-v1:0");
            assert_int_equal(verify(&b, &key), AV_OK);
            h2o_mem_clear_pool(&b.pool);
        }
    }
}

static void test_bearer(void **state)
{
    (void)state;
    struct sl_provider_key k = make_key(NULL);
    struct built b;
    build(&b, &k, SL_WIRE_BEDROCK_CONVERSE, false, "amazon.nova-pro-v1:0");
    assert_true(sl_str_eq(header(&b, "authorization"), SL_STRLIT("Bearer ABSK-bearer")));
    assert_null(header(&b, "x-amz-date").ptr);
    assert_true(sl_str_eq(header(&b, "content-length"), SL_STRLIT("56")));
    h2o_mem_clear_pool(&b.pool);
}

static void test_model_ids_and_wires(void **state)
{
    (void)state;
    static const struct {
        const char *id, *base;
    } cases[] = {
        {"anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0"},
        {"us.anthropic.claude-3-5-sonnet-20241022-v2:0",
         "anthropic.claude-3-5-sonnet-20241022-v2:0"},
        {"us-gov.anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"},
        {"global.anthropic.claude-sonnet-4-5-20250929-v1:0",
         "anthropic.claude-sonnet-4-5-20250929-v1:0"},
        {"arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
         "amazon.titan-embed-text-v2:0"},
        {"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", "abc123"},
        {"meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"},
        {"amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++)
        assert_true(sl_str_eq(sl_bedrock_base_model(sl_str_from_cstr(cases[i].id)),
                              sl_str_from_cstr(cases[i].base)));
    const struct sl_provider_ops *p = &sl_provider_bedrock;
    struct sl_str claude = SL_STRLIT("eu.anthropic.claude-3-7-sonnet-20250219-v1:0");
#define WIRE(model, op, caller) p->wire_for(NULL, model, op, caller)
    assert_int_equal(WIRE(claude, SL_OP_CHAT, SL_WIRE_ANTHROPIC), SL_WIRE_BEDROCK_ANTHROPIC);
    assert_int_equal(WIRE(claude, SL_OP_CHAT, SL_WIRE_CHAT), SL_WIRE_BEDROCK_CONVERSE);
    assert_int_equal(WIRE(SL_STRLIT("amazon.nova-lite-v1:0"), SL_OP_CHAT, SL_WIRE_ANTHROPIC),
                     SL_WIRE_BEDROCK_CONVERSE);
    assert_int_equal(
        WIRE(SL_STRLIT("amazon.titan-embed-text-v2:0"), SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS),
        SL_WIRE_BEDROCK_TITAN_EMBED);
    assert_int_equal(WIRE(SL_STRLIT("us.cohere.embed-v4:0"), SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS),
                     SL_WIRE_BEDROCK_COHERE_EMBED);
    assert_int_equal(WIRE(claude, SL_OP_EMBEDDINGS, SL_WIRE_EMBEDDINGS), SL_WIRE_COUNT);
    assert_int_equal(WIRE(claude, SL_OP_COMPLETIONS, SL_WIRE_COMPLETIONS), SL_WIRE_COUNT);
    assert_int_equal(WIRE(claude, SL_OP_COUNT_TOKENS, SL_WIRE_ANTHROPIC), SL_WIRE_COUNT);
    /* Responses callers reach Bedrock chat models through chat; no stored responses there. */
    assert_int_equal(WIRE(claude, SL_OP_CHAT, SL_WIRE_RESPONSES), SL_WIRE_BEDROCK_CONVERSE);
    assert_int_equal(WIRE(claude, SL_OP_RESPONSE_STATE, SL_WIRE_RESPONSES), SL_WIRE_COUNT);
#undef WIRE
}

static int classify(int status, const char *type_header, struct sl_str *type)
{
    struct phr_header h[2] = {{"Content-Type", 12, "application/json", 16},
                              {"X-Amzn-ErrorType", 16, type_header, strlen(type_header)}};

    struct sl_upstream_head head = {status, 1, h, type_header[0] != '\0' ? 2 : 1};
    return sl_provider_bedrock.classify(&head, type);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *header, *type;
        int want;
    } cases[] = {
        {429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
         "ThrottlingException", 429},
        {429, "ModelNotReadyException:http://internal.amazon.com/coral/com.amazon.bedrock/",
         "ModelNotReadyException", 503},
        {400, "ValidationException", "ValidationException", 400},
        {403,
         "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
         "UnrecognizedClientException", 401},
        {403, "AccessDeniedException", "AccessDeniedException", 403},
        {404, "ResourceNotFoundException", "ResourceNotFoundException", 404},
        {503, "ServiceUnavailableException", "ServiceUnavailableException", 503},
        {408, "ModelTimeoutException", "ModelTimeoutException", 504},
        {424, "ModelErrorException", "ModelErrorException", 424},
        {418, "", "", 418},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        struct sl_str type;
        assert_int_equal(classify(cases[i].status, cases[i].header, &type), cases[i].want);
        assert_true(sl_str_eq(type, sl_str_from_cstr(cases[i].type)));
    }
    assert_true(sl_provider_bedrock.retryable_status(503));
    assert_true(sl_provider_bedrock.retryable_status(500));
    assert_false(sl_provider_bedrock.retryable_status(504));
    assert_false(sl_provider_bedrock.retryable_status(429));
    struct sl_upstream_error_info info;
    assert_true(
        sl_provider_bedrock.parse_error(SL_STRLIT("{\"message\":\"Too many tokens\"}"), &info));
    assert_true(sl_str_eq(info.message, SL_STRLIT("\"Too many tokens\"")));
    assert_true(sl_provider_bedrock.parse_error(SL_STRLIT("{\"Message\":\"x\"}"), &info));
    assert_true(sl_provider_bedrock.parse_error(
        SL_STRLIT("{\"message\":\"Signature expired: 20240101T000000Z is now earlier than "
                  "20240101T000500Z (20240101T001000Z - 5 min.)\"}"),
        &info));
    assert_non_null(
        memmem(info.message.ptr, info.message.len, "differs from AWS's by more than 5", 33));
    assert_false(sl_provider_bedrock.parse_error(SL_STRLIT("{\"error\":{}}"), &info));
}

struct got {
    char names[8][32];
    size_t n;
    int crc_errors;
};

static int on_message(void *ud, const struct sl_eventstream_message *m)
{
    struct got *g = ud;
    assert_true(g->n < 8);
    snprintf(g->names[g->n++], 32, "%s:%.*s:%.*s", m->kind == SL_EVENTSTREAM_EVENT ? "e" : "x",
             (int)(m->kind == SL_EVENTSTREAM_EVENT ? m->event_type.len : m->exception_type.len),
             m->kind == SL_EVENTSTREAM_EVENT ? m->event_type.ptr : m->exception_type.ptr,
             (int)m->payload.len, m->payload.ptr);
    return 0;
}

/* The mock's frames decode with Sluice's decoder, byte by byte too; a corrupted one fails its
 * message CRC. */
static void test_mock_frames_decode(void **state)
{
    (void)state;
    char buf[1024];
    struct mj_writer w = {buf, buf + sizeof(buf)};
    es_event(&w, SL_STRLIT("messageStart"), SL_STRLIT("{}"), false);
    es_exception(&w, SL_STRLIT("throttlingException"), SL_STRLIT("{\"m\":1}"));
    size_t len = (size_t)(w.ptr - buf);
    for (size_t step = 1; step <= len; step += len - 1) {
        struct sl_eventstream_decoder d;
        struct got g = {0};
        sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
        for (size_t at = 0; at < len; at += step)
            assert_int_equal(
                sl_eventstream_feed(&d, buf + at, SL_MIN(step, len - at), on_message, &g), SL_OK);
        assert_int_equal(g.n, 2);
        assert_string_equal(g.names[0], "e:messageStart:{}");
        assert_string_equal(g.names[1], "x:throttlingException:{\"m\":1}");
        assert_true(sl_eventstream_is_idle(&d));
        sl_eventstream_dispose(&d);
    }
    w.ptr = buf;
    es_event(&w, SL_STRLIT("contentBlockDelta"), SL_STRLIT("{\"x\":2}"), true);
    struct sl_eventstream_decoder d;
    struct got g = {0};
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    assert_int_equal(sl_eventstream_feed(&d, buf, (size_t)(w.ptr - buf), on_message, &g),
                     SL_EVENTSTREAM_ECRC);
    assert_int_equal(g.n, 0);
    sl_eventstream_dispose(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_requests_verify),
        cmocka_unit_test(test_session_token_and_base_path),
        cmocka_unit_test(test_cache_eviction),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_model_ids_and_wires),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mock_frames_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
