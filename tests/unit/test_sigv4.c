/* Unit tests for AWS Signature Version 4 (src/providers/sigv4.c). The vectors in
 * fixtures/sigv4/ (see its README) are AWS's signing test suite plus two Bedrock-shaped requests
 * whose expected values were computed independently (hashlib/hmac and botocore). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/sigv4.h"
#include "sluice/timeparse.h"

#define FIXTURES "fixtures/sigv4"

static const struct sl_sigv4_creds example_creds = {
    .access_key_id = SL_STR_INIT("AKIDEXAMPLE"),
    .secret_access_key = SL_STR_INIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    .region = SL_STR_INIT("us-east-1"),
    .service = SL_STR_INIT("service"),
};

static const struct sl_sigv4_header vanilla_headers[] = {
    {SL_STR_INIT("Host"), SL_STR_INIT("example.amazonaws.com")},
};

/* 2015-08-30T12:36:00Z, the suite's time. */
#define SUITE_TIME INT64_C(1440938160)

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    long n;
    char *s;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    s = sl_xmalloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    s[n] = '\0';
    *len = (size_t)n;
    return s;
}

/* The expected canonical request and string to sign never end in a newline; some files do. */
static struct sl_str chomp(char *s, size_t len)
{
    while (len > 0 && s[len - 1] == '\n')
        len--;
    return sl_str_init(s, len);
}

/* Finds "Name:value" (name case-insensitive) among the head lines of a signed request. */
static struct sl_str head_value(struct sl_str req, const char *name)
{
    const char *p = req.ptr, *end = req.ptr + req.len;
    size_t n = strlen(name);
    p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1; /* skip the request line */
    while (p < end && *p != '\n') {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > n && p[n] == ':' &&
            sl_str_ieq(sl_str_init(p, n), sl_str_init(name, n)))
            return sl_str_init(p + n + 1, (size_t)(eol - p - n - 1));
        p = eol + 1;
    }
    return SL_STRLIT("");
}

/* One parsed suite case. */
struct vector {
    char *request, *creq, *sts, *signed_request;
    size_t request_len, creq_len, sts_len, signed_len;
    json_t *ctx;
    struct sl_sigv4_creds creds;
    struct sl_sigv4_header headers[SL_SIGV4_MAX_HEADERS];
    h2o_iovec_t body[3];
    struct sl_sigv4_request req;
};

static struct sl_str json_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? sl_str_init(json_string_value(v), json_string_length(v))
                             : SL_STRLIT("");
}

/* request.txt: "METHOD target HTTP/1.1", "Name:value" lines, a blank line, the body. The target
 * may hold spaces (get-space), so it ends at the last " HTTP/1.1". */
static void parse_request(struct vector *v)
{
    char *p = v->request, *end = v->request + v->request_len;
    char *eol = memchr(p, '\n', (size_t)(end - p)), *sp = memchr(p, ' ', (size_t)(eol - p));
    char *proto = eol - strlen(" HTTP/1.1"), *q;
    size_t body_len, n = 0;
    assert_non_null(sp);
    assert_memory_equal(proto, " HTTP/1.1", strlen(" HTTP/1.1"));
    v->req.method = sl_str_init(p, (size_t)(sp - p));
    q = memchr(sp + 1, '?', (size_t)(proto - sp - 1));
    v->req.path = sl_str_init(sp + 1, (size_t)((q != NULL ? q : proto) - sp - 1));
    v->req.query = q != NULL ? sl_str_init(q + 1, (size_t)(proto - q - 1)) : SL_STRLIT("");
    for (p = eol + 1; p < end && *p != '\n'; p = eol + 1) {
        char *colon;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        assert_non_null(colon);
        assert_true(n < SL_SIGV4_MAX_HEADERS);
        v->headers[n].name = sl_str_init(p, (size_t)(colon - p));
        v->headers[n++].value = sl_str_init(colon + 1, (size_t)(eol - colon - 1));
    }
    v->req.headers = v->headers;
    v->req.nheaders = n;
    /* The body, hashed in three pieces to check that pieces are never joined. */
    p = p < end ? p + 1 : end;
    body_len = (size_t)(end - p);
    v->body[0] = h2o_iovec_init(p, body_len / 3);
    v->body[1] = h2o_iovec_init(p + body_len / 3, 0);
    v->body[2] = h2o_iovec_init(p + body_len / 3, body_len - body_len / 3);
    v->req.body = v->body;
    v->req.nbody = 3;
}

static void load_vector(const char *dir, struct vector *v)
{
    json_error_t err;
    char path[1024];
    json_t *cred;
    int64_t us;
    memset(v, 0, sizeof(*v));
    v->request = read_file(dir, "request.txt", &v->request_len);
    v->creq = read_file(dir, "header-canonical-request.txt", &v->creq_len);
    v->sts = read_file(dir, "header-string-to-sign.txt", &v->sts_len);
    v->signed_request = read_file(dir, "header-signed-request.txt", &v->signed_len);
    snprintf(path, sizeof(path), "%s/context.json", dir);
    v->ctx = json_load_file(path, 0, &err);
    if (v->ctx == NULL)
        fail_msg("%s: %s", path, err.text);
    cred = json_object_get(v->ctx, "credentials");
    v->creds.access_key_id = json_str(cred, "access_key_id");
    v->creds.secret_access_key = json_str(cred, "secret_access_key");
    if (!json_is_true(json_object_get(v->ctx, "omit_session_token")))
        v->creds.session_token = json_str(cred, "token");
    v->creds.region = json_str(v->ctx, "region");
    v->creds.service = json_str(v->ctx, "service");
    assert_int_equal(sl_time_parse_rfc3339(json_str(v->ctx, "timestamp"), &us), SL_OK);
    v->req.now = us / 1000000;
    v->req.add_content_sha256 = json_is_true(json_object_get(v->ctx, "sign_body"));
    parse_request(v);
}

static void free_vector(struct vector *v)
{
    free(v->request);
    free(v->creq);
    free(v->sts);
    free(v->signed_request);
    json_decref(v->ctx);
}

static void assert_str_eq(struct sl_str got, struct sl_str want, const char *what, const char *dir)
{
    if (!sl_str_eq(got, want))
        fail_msg("%s: %s differs:\n--- got\n%.*s\n--- want\n%.*s", dir, what, SL_STR_FMT(got),
                 SL_STR_FMT(want));
}

static void check_vector(struct sl_sigv4_cache *cache, const char *dir)
{
    struct vector v;
    struct sl_buf creq, sts;
    struct sl_sigv4_out out;
    struct sl_str signed_req;
    h2o_mem_pool_t pool;
    load_vector(dir, &v);
    signed_req = sl_str_init(v.signed_request, v.signed_len);
    sl_buf_init(&creq, 1 << 16);
    sl_buf_init(&sts, 1 << 16);
    h2o_mem_init_pool(&pool);
    int rc = sl_sigv4_sign_traced(cache, &v.creds, &v.req, &pool, &out, &creq, &sts);
    if (rc != SL_OK)
        fail_msg("%s: sign failed %d: %s", dir, rc, out.why);
    assert_str_eq(sl_buf_str(&creq), chomp(v.creq, v.creq_len), "canonical request", dir);
    assert_str_eq(sl_buf_str(&sts), chomp(v.sts, v.sts_len), "string to sign", dir);
    assert_str_eq(out.authorization, head_value(signed_req, "Authorization"), "Authorization", dir);
    assert_str_eq(out.amz_date, head_value(signed_req, "X-Amz-Date"), "X-Amz-Date", dir);
    assert_str_eq(out.content_sha256, head_value(signed_req, "x-amz-content-sha256"),
                  "x-amz-content-sha256", dir);
    /* post-sts-header-after adds the token after signing: not ours to send. */
    if (v.creds.session_token.len != 0)
        assert_str_eq(out.security_token, head_value(signed_req, "X-Amz-Security-Token"),
                      "X-Amz-Security-Token", dir);
    else
        assert_int_equal(out.security_token.len, 0);

    /* Without tracing, the same result. */
    struct sl_sigv4_out plain;
    assert_int_equal(sl_sigv4_sign(cache, &v.creds, &v.req, &pool, &plain), SL_OK);
    assert_true(sl_str_eq(plain.authorization, out.authorization));
    h2o_mem_clear_pool(&pool);
    sl_buf_dispose(&creq);
    sl_buf_dispose(&sts);
    free_vector(&v);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every case directory, in name order; one cache for all, so cached keys are exercised. */
static void test_vectors(void **state)
{
    DIR *d = opendir(FIXTURES);
    struct dirent *e;
    char *names[128], dir[512];
    size_t n = 0;
    struct sl_sigv4_cache *cache = sl_sigv4_cache_new();
    SL_UNUSED(state);
    assert_non_null(d);
    assert_non_null(cache);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof(dir), FIXTURES "/%s/context.json", e->d_name);
        f = fopen(dir, "r");
        if (f == NULL)
            continue;
        fclose(f);
        assert_true(n < SL_ARRAY_LEN(names));
        names[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    /* 31 suite cases and 2 Bedrock ones: a lost directory fails here. */
    assert_int_equal(n, 33);
    qsort(names, n, sizeof(names[0]), cmp_names);
    for (size_t i = 0; i < n; i++) {
        snprintf(dir, sizeof(dir), FIXTURES "/%s", names[i]);
        check_vector(cache, dir);
        free(names[i]);
    }
    /* The suite shares one date, region and service; Bedrock another: two keys derived. */
    assert_int_equal(sl_sigv4_cache_derivations(cache), 2);
    sl_sigv4_cache_free(cache);
}

static struct sl_sigv4_request vanilla_request(void)
{
    return (struct sl_sigv4_request){
        .method = SL_STRLIT("GET"),
        .path = SL_STRLIT("/"),
        .query = SL_STRLIT(""),
        .headers = vanilla_headers,
        .nheaders = 1,
        .now = SUITE_TIME,
    };
}

/* The signature of get-vanilla (from the suite), to check the cache against. */
#define VANILLA_AUTH                                                                               \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "            \
    "SignedHeaders=host;x-amz-date, "                                                              \
    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

/* The key is derived once per date, region, service and access key id; a change of any of them
 * derives again, and coming back to an earlier one signs exactly as before. */
static void test_cache(void **state)
{
    struct sl_sigv4_cache *c = sl_sigv4_cache_new();
    struct sl_sigv4_request r = vanilla_request();
    struct sl_sigv4_creds cr = example_creds;
    struct sl_sigv4_out out;
    h2o_mem_pool_t pool;
    char first_next_day[256];
    SL_UNUSED(state);
    h2o_mem_init_pool(&pool);
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_true(sl_str_eq_lit(out.authorization, VANILLA_AUTH));
    r.now += 3600; /* same day: same key */
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_int_equal(sl_sigv4_cache_derivations(c), 1);
    r.now += 86400; /* next day */
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_int_equal(sl_sigv4_cache_derivations(c), 2);
    assert_true(sl_str_starts_with(out.authorization,
                                   SL_STRLIT("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/")));
    snprintf(first_next_day, sizeof(first_next_day), "%.*s", SL_STR_FMT(out.authorization));
    cr.region = SL_STRLIT("eu-west-1");
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_int_equal(sl_sigv4_cache_derivations(c), 3);
    cr.region = example_creds.region;
    cr.service = SL_STRLIT("bedrock");
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_int_equal(sl_sigv4_cache_derivations(c), 4);
    cr.service = example_creds.service;
    cr.access_key_id = SL_STRLIT("AKIDOTHER");
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_int_equal(sl_sigv4_cache_derivations(c), 5);
    cr.access_key_id = example_creds.access_key_id;
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_int_equal(sl_sigv4_cache_derivations(c), 6);
    assert_true(sl_str_eq(out.authorization, sl_str_from_cstr(first_next_day)));
    r.now = SUITE_TIME;
    assert_int_equal(sl_sigv4_sign(c, &cr, &r, &pool, &out), SL_OK);
    assert_true(sl_str_eq_lit(out.authorization, VANILLA_AUTH));
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(c);
}

/* Signs r with the example credentials; returns the canonical request (static storage). */
static const char *canonical(const struct sl_sigv4_request *r)
{
    static char text[4096];
    struct sl_sigv4_cache *c = sl_sigv4_cache_new();
    struct sl_sigv4_out out;
    struct sl_buf creq;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    sl_buf_init(&creq, sizeof(text) - 1);
    int rc = sl_sigv4_sign_traced(c, &example_creds, r, &pool, &out, &creq, NULL);
    if (rc != SL_OK)
        fail_msg("sign failed %d: %s", rc, out.why);
    snprintf(text, sizeof(text), "%.*s", SL_STR_FMT(sl_buf_str(&creq)));
    sl_buf_dispose(&creq);
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(c);
    return text;
}

/* The second line of a canonical request. */
static const char *canonical_path(const char *path)
{
    static char line[1024];
    struct sl_sigv4_request r = vanilla_request();
    const char *creq, *nl;
    r.method = SL_STRLIT("POST");
    r.path = sl_str_from_cstr(path);
    creq = canonical(&r);
    creq = strchr(creq, '\n') + 1;
    nl = strchr(creq, '\n');
    snprintf(line, sizeof(line), "%.*s", (int)(nl - creq), creq);
    return line;
}

/* Non-S3 services sign the path as sent, encoded once more: an escape on the wire is signed
 * encoded twice, a raw reserved byte once. What AWS SDKs send for a Bedrock model id is the
 * former (see fixtures/sigv4/bedrock-converse). */
static void test_path_encoding(void **state)
{
    struct sl_buf b;
    SL_UNUSED(state);
    assert_string_equal(
        canonical_path("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"),
        "/model/anthropic.claude-3-5-sonnet-20241022-v2%253A0/converse");
    assert_string_equal(canonical_path("/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse"),
                        "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse");
    assert_string_equal(canonical_path("/a/./b/../c//d/"), "/a/c/d/");
    assert_string_equal(canonical_path("/../.."), "/");
    assert_string_equal(canonical_path("/a%2fb %"), "/a%252fb%20%25");
    assert_string_equal(canonical_path("/x/."), "/x");

    /* What a provider puts on the wire for a model id or an inference profile ARN. */
    sl_buf_init(&b, 1024);
    assert_int_equal(
        sl_sigv4_encode_segment(&b, SL_STRLIT("anthropic.claude-3-5-sonnet-20241022-v2:0")), SL_OK);
    assert_string_equal(sl_buf_cstr(&b), "anthropic.claude-3-5-sonnet-20241022-v2%3A0");
    sl_buf_reset(&b);
    assert_int_equal(
        sl_sigv4_encode_segment(
            &b, SL_STRLIT("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x-v1:0")),
        SL_OK);
    assert_string_equal(sl_buf_cstr(&b),
                        "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x-"
                        "v1%3A0");
    sl_buf_dispose(&b);
    sl_buf_init(&b, 4);
    assert_int_equal(sl_sigv4_encode_segment(&b, SL_STRLIT("a:b")), SL_E2BIG);
    assert_int_equal(b.len, 0);
    sl_buf_dispose(&b);
}

/* Header values are trimmed and runs of spaces and tabs become one space; repeated names are
 * joined in the order given; names are lower-cased and sorted. */
static void test_header_canonicalisation(void **state)
{
    static const struct sl_sigv4_header h[] = {
        {SL_STR_INIT("X-B"), SL_STR_INIT("\t two\t\t words  ")},
        {SL_STR_INIT("host"), SL_STR_INIT("example.amazonaws.com")},
        {SL_STR_INIT("x-a"), SL_STR_INIT("z")},
        {SL_STR_INIT("X-A"), SL_STR_INIT("")},
        {SL_STR_INIT("x-A"), SL_STR_INIT("a")},
    };
    struct sl_sigv4_request r = vanilla_request();
    SL_UNUSED(state);
    r.headers = h;
    r.nheaders = SL_ARRAY_LEN(h);
    /* No query at all (a NULL pointer, as a caller leaving it out passes): an empty line,
       without arithmetic on the pointer (UBSan caught that in a Bedrock request). */
    r.query = SL_STR_NULL;
    assert_string_equal(canonical(&r),
                        "GET\n/\n\n"
                        "host:example.amazonaws.com\nx-a:z,,a\nx-amz-date:20150830T123600Z\n"
                        "x-b:two words\n\n"
                        "host;x-a;x-amz-date;x-b\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    r.query = SL_STRLIT("b=2&&a=%7e&a=1&c");
    assert_string_equal(canonical(&r),
                        "GET\n/\na=1&a=~&b=2&c=\n"
                        "host:example.amazonaws.com\nx-a:z,,a\nx-amz-date:20150830T123600Z\n"
                        "x-b:two words\n\n"
                        "host;x-a;x-amz-date;x-b\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* The body is hashed piece by piece: any split, empty pieces included, signs the same. */
static void test_body_pieces(void **state)
{
    static const char body[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}";
    struct sl_sigv4_cache *c = sl_sigv4_cache_new();
    struct sl_sigv4_request r = vanilla_request();
    struct sl_sigv4_out whole, split;
    h2o_iovec_t one = h2o_iovec_init(body, sizeof(body) - 1), many[sizeof(body) + 1];
    h2o_mem_pool_t pool;
    SL_UNUSED(state);
    h2o_mem_init_pool(&pool);
    r.method = SL_STRLIT("POST");
    r.add_content_sha256 = true;
    r.body = &one;
    r.nbody = 1;
    assert_int_equal(sl_sigv4_sign(c, &example_creds, &r, &pool, &whole), SL_OK);
    /* sha256 of the body, computed with `printf %s "$body" | sha256sum`. */
    assert_true(sl_str_eq_lit(whole.content_sha256,
                              "c3335e07d6e89650bf94cb98664be69f8774dbc3198df221f113db0a59ea14f0"));
    for (size_t i = 0; i < sizeof(body) - 1; i++)
        many[i] = h2o_iovec_init(body + i, 1);
    many[sizeof(body) - 1] = h2o_iovec_init(body, 0);
    r.body = many;
    r.nbody = sizeof(body);
    assert_int_equal(sl_sigv4_sign(c, &example_creds, &r, &pool, &split), SL_OK);
    assert_true(sl_str_eq(whole.authorization, split.authorization));
    assert_true(sl_str_eq(whole.content_sha256, split.content_sha256));
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(c);
}

static void check_date(int64_t now, const char *want)
{
    struct sl_sigv4_cache *c = sl_sigv4_cache_new();
    struct sl_sigv4_request r = vanilla_request();
    struct sl_sigv4_out out;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    r.now = now;
    assert_int_equal(sl_sigv4_sign(c, &example_creds, &r, &pool, &out), SL_OK);
    assert_true(sl_str_eq(out.amz_date, sl_str_from_cstr(want)));
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(c);
}

/* Expected values from `date -u -d @N +%Y%m%dT%H%M%SZ`. */
static void test_dates(void **state)
{
    SL_UNUSED(state);
    check_date(0, "19700101T000000Z");
    check_date(951782399, "20000228T235959Z");
    check_date(951782400, "20000229T000000Z");
    check_date(1440938160, "20150830T123600Z");
    check_date(4107542400, "21000301T000000Z");
    check_date(INT64_C(253402300799), "99991231T235959Z");
}

static void expect_fail(const struct sl_sigv4_creds *cr, const struct sl_sigv4_request *r, int rc,
                        const char *word)
{
    struct sl_sigv4_cache *c = sl_sigv4_cache_new();
    struct sl_sigv4_out out;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    assert_int_equal(sl_sigv4_sign(c, cr, r, &pool, &out), rc);
    assert_non_null(out.why);
    if (strstr(out.why, word) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", out.why, word);
    assert_int_equal(out.authorization.len, 0);
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(c);
}

/* Each malformed input is refused with a reason; nothing is signed. */
static void test_errors(void **state)
{
    struct sl_sigv4_header h[SL_SIGV4_MAX_HEADERS + 1];
    struct sl_sigv4_request r = vanilla_request();
    struct sl_sigv4_creds cr = example_creds;
    char secret[SL_SIGV4_MAX_SECRET + 1], query[4 * SL_SIGV4_MAX_QUERY_PARAMS + 8];
    SL_UNUSED(state);

    h[0] = vanilla_headers[0];
    r.headers = h;
    r.nheaders = 2;
    h[1] = (struct sl_sigv4_header){SL_STRLIT("X-Amz-Date"), SL_STRLIT("20150830T123600Z")};
    expect_fail(&cr, &r, SL_EPARSE, "signer");
    h[1] = (struct sl_sigv4_header){SL_STRLIT("authorization"), SL_STRLIT("x")};
    expect_fail(&cr, &r, SL_EPARSE, "signer");
    h[1] = (struct sl_sigv4_header){SL_STRLIT("x-amz-security-token"), SL_STRLIT("x")};
    expect_fail(&cr, &r, SL_EPARSE, "signer");
    h[1] = (struct sl_sigv4_header){SL_STRLIT("bad name"), SL_STRLIT("x")};
    expect_fail(&cr, &r, SL_EPARSE, "token");
    h[1] = (struct sl_sigv4_header){SL_STRLIT(""), SL_STRLIT("x")};
    expect_fail(&cr, &r, SL_EPARSE, "token");
    h[1] = (struct sl_sigv4_header){SL_STRLIT("x-a"), SL_STRLIT("a\r\nInjected: 1")};
    expect_fail(&cr, &r, SL_EPARSE, "CR");
    h[1] = (struct sl_sigv4_header){SL_STRLIT("x-a"), SL_STRLIT("a")};
    r.headers = h + 1;
    r.nheaders = 1;
    expect_fail(&cr, &r, SL_EPARSE, "host");
    for (size_t i = 0; i <= SL_SIGV4_MAX_HEADERS; i++)
        h[i] = vanilla_headers[0];
    r.headers = h;
    r.nheaders = SL_SIGV4_MAX_HEADERS + 1;
    expect_fail(&cr, &r, SL_E2BIG, "SL_SIGV4_MAX_HEADERS");
    r = vanilla_request();

    r.path = SL_STRLIT("model/x/converse");
    expect_fail(&cr, &r, SL_EPARSE, "path");
    r.path = SL_STRLIT("");
    expect_fail(&cr, &r, SL_EPARSE, "path");
    r.path = SL_STRLIT("/");
    r.method = SL_STRLIT("PO ST");
    expect_fail(&cr, &r, SL_EPARSE, "method");
    r.method = SL_STRLIT("GET");
    r.now = -1;
    expect_fail(&cr, &r, SL_EPARSE, "time");
    r.now = INT64_C(253402300800);
    expect_fail(&cr, &r, SL_EPARSE, "time");
    r.now = SUITE_TIME;
    for (size_t i = 0; i <= SL_SIGV4_MAX_QUERY_PARAMS; i++)
        memcpy(query + 4 * i, "a=1&", 4);
    r.query = sl_str_init(query, 4 * (SL_SIGV4_MAX_QUERY_PARAMS + 1));
    expect_fail(&cr, &r, SL_E2BIG, "query");
    r.query = SL_STRLIT("");

    cr.region = SL_STRLIT("");
    expect_fail(&cr, &r, SL_EPARSE, "region");
    cr.region = SL_STRLIT("us-east-1/x");
    expect_fail(&cr, &r, SL_EPARSE, "region");
    cr = example_creds;
    cr.service = SL_STRLIT("bed rock");
    expect_fail(&cr, &r, SL_EPARSE, "service");
    cr = example_creds;
    cr.access_key_id = SL_STRLIT("");
    expect_fail(&cr, &r, SL_EPARSE, "access key id");
    cr = example_creds;
    cr.secret_access_key = SL_STRLIT("");
    expect_fail(&cr, &r, SL_EPARSE, "secret");
    memset(secret, 'k', sizeof(secret));
    cr.secret_access_key = sl_str_init(secret, sizeof(secret));
    expect_fail(&cr, &r, SL_E2BIG, "secret");
    cr = example_creds;
    cr.session_token = SL_STRLIT("tok\nen");
    expect_fail(&cr, &r, SL_EPARSE, "session token");
}

/* A trace buffer that is too small fails the call instead of truncating silently. */
static void test_trace_cap(void **state)
{
    struct sl_sigv4_cache *c = sl_sigv4_cache_new();
    struct sl_sigv4_request r = vanilla_request();
    struct sl_sigv4_out out;
    struct sl_buf small;
    h2o_mem_pool_t pool;
    SL_UNUSED(state);
    h2o_mem_init_pool(&pool);
    sl_buf_init(&small, 16);
    assert_int_equal(sl_sigv4_sign_traced(c, &example_creds, &r, &pool, &out, &small, NULL),
                     SL_E2BIG);
    sl_buf_dispose(&small);
    sl_buf_init(&small, 16);
    assert_int_equal(sl_sigv4_sign_traced(c, &example_creds, &r, &pool, &out, NULL, &small),
                     SL_E2BIG);
    sl_buf_dispose(&small);
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),       cmocka_unit_test(test_cache),
        cmocka_unit_test(test_path_encoding), cmocka_unit_test(test_header_canonicalisation),
        cmocka_unit_test(test_body_pieces),   cmocka_unit_test(test_dates),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_trace_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
