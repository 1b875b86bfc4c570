/* The mock's own SigV4 check (tests/mock/aws_sigv4.c) against AWS's signing test suite: every
 * signed request of fixtures/sigv4/ must verify with its context's credentials at its time, and
 * must stop verifying when any byte the signature covers changes. This keeps the check that
 * stands for AWS in the end-to-end tests honest without using Sluice's signer. */
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "aws_sigv4.h"
#include "sluice/base.h"

int main(void);

#define FIXTURES    "fixtures/sigv4"
#define MAX_HEADERS 32

struct vector {
    char *text;
    struct av_request r;
    struct av_header h[MAX_HEADERS];
    struct av_key key;
    char *service;
    int64_t now;
    json_t *ctx;
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* header-signed-request.txt: "METHOD target HTTP/1.1", "Name:value" lines, a blank line, the
 * body. A target may hold spaces (get-space-normalized): it ends at the last " HTTP/". */
static void parse_request(struct vector *v)
{
    char *p = v->text, *eol = strchr(p, '\n');
    assert_non_null(eol);
    char *sp = strchr(p, ' '), *http = strstr(p, " HTTP/");
    v->r.method = sl_str_init(p, (size_t)(sp - p));
    v->r.target = sl_str_init(sp + 1, (size_t)(http - sp - 1));
    p = eol + 1;
    while (*p != '\n' && *p != '\0') {
        eol = strchr(p, '\n');
        char *end = eol != NULL ? eol : p + strlen(p);
        char *colon = memchr(p, ':', (size_t)(end - p));
        assert_non_null(colon);
        assert_true(v->r.n_headers < MAX_HEADERS);
        v->h[v->r.n_headers++] = (struct av_header){
            sl_str_init(p, (size_t)(colon - p)), sl_str_init(colon + 1, (size_t)(end - colon - 1))};
        if (eol == NULL) {
            p = end;
            break;
        }
        p = eol + 1;
    }
    v->r.headers = v->h;
    v->r.body = *p == '\n' ? sl_str_from_cstr(p + 1) : SL_STR_NULL;
}

static bool load(const char *dir, struct vector *v)
{
    char path[512];
    struct tm tm = {0};
    memset(v, 0, sizeof(*v));
    snprintf(path, sizeof(path), FIXTURES "/%s/context.json", dir);
    v->ctx = json_load_file(path, 0, NULL);
    if (v->ctx == NULL)
        return false;
    snprintf(path, sizeof(path), FIXTURES "/%s/header-signed-request.txt", dir);
    v->text = slurp(path);
    assert_non_null(v->text);
    parse_request(v);
    json_t *creds = json_object_get(v->ctx, "credentials");
    v->key.access_key_id =
        sl_str_from_cstr(json_string_value(json_object_get(creds, "access_key_id")));
    v->key.secret =
        sl_str_from_cstr(json_string_value(json_object_get(creds, "secret_access_key")));
    const char *token = json_string_value(json_object_get(creds, "token"));
    v->key.token = token != NULL ? sl_str_from_cstr(token) : SL_STR_NULL;
    v->service = (char *)json_string_value(json_object_get(v->ctx, "service"));
    assert_non_null(strptime(json_string_value(json_object_get(v->ctx, "timestamp")),
                             "%Y-%m-%dT%H:%M:%SZ", &tm));
    v->now = (int64_t)timegm(&tm);
    return true;
}

static void unload(struct vector *v)
{
    free(v->text);
    json_decref(v->ctx);
}

static enum av_verdict verify(const struct vector *v, int64_t now, char *msg, size_t len)
{
    return av_verify(&v->r, &v->key, 1, v->service, now, msg, len);
}

static void test_vectors_verify(void **state)
{
    (void)state;
    DIR *d = opendir(FIXTURES);
    struct dirent *e;
    size_t cases = 0;
    char msg[8192];
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        struct vector v;
        if (e->d_name[0] == '.' || !load(e->d_name, &v))
            continue;
        enum av_verdict got = verify(&v, v.now, msg, sizeof(msg));
        /* A session token added after signing (outside the signature) is legal for some
           services; the mock insists it is signed, as Sluice signs it. */
        if (json_is_true(json_object_get(v.ctx, "omit_session_token"))) {
            assert_int_equal(got, AV_UNKNOWN_KEY);
            unload(&v);
            continue;
        }
        if (got != AV_OK)
            fail_msg("%s: %s: %s", e->d_name, av_error_type(got), msg);
        /* Any byte of the body, path or a signed value changed: the signature no longer fits. */
        if (v.r.body.len != 0) {
            ((char *)v.r.body.ptr)[v.r.body.len / 2] ^= 1;
            assert_int_equal(verify(&v, v.now, msg, sizeof(msg)), AV_BAD_SIGNATURE);
            ((char *)v.r.body.ptr)[v.r.body.len / 2] ^= 1;
        }
        /* A letter or digit of the target, unless a ".." drops it (flipping '/' or '.' may
         * normalise to the same path). */
        size_t at = strcspn(v.r.target.ptr, "abcdefghijklmnopqrstuvwxyz0123456789");
        bool dots = memmem(v.r.target.ptr, v.r.target.len, "/..", 3) != NULL;
        if (at < v.r.target.len && !dots) {
            ((char *)v.r.target.ptr)[at] ^= 1;
            if (verify(&v, v.now, msg, sizeof(msg)) != AV_BAD_SIGNATURE)
                fail_msg("%s: a changed path still verifies", e->d_name);
            ((char *)v.r.target.ptr)[at] ^= 1;
        }
        /* Five minutes of skew are fine; more is refused, with AWS's words. */
        assert_int_equal(verify(&v, v.now + 300, msg, sizeof(msg)), AV_OK);
        assert_int_equal(verify(&v, v.now + 301, msg, sizeof(msg)), AV_EXPIRED);
        assert_non_null(strstr(msg, "Signature expired: "));
        assert_int_equal(verify(&v, v.now - 301, msg, sizeof(msg)), AV_NOT_YET);
        assert_non_null(strstr(msg, "Signature not yet current: "));
        unload(&v);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 30);
}

static void test_wrong_keys(void **state)
{
    (void)state;
    struct vector v;
    char msg[8192];
    assert_true(load("bedrock-converse", &v));
    struct av_key other = v.key;
    other.access_key_id = SL_STRLIT("AKIDOTHER");
    assert_int_equal(av_verify(&v.r, &other, 1, "bedrock", v.now, msg, sizeof(msg)),
                     AV_UNKNOWN_KEY);
    other = v.key;
    other.secret = SL_STRLIT("another-secret");
    assert_int_equal(av_verify(&v.r, &other, 1, "bedrock", v.now, msg, sizeof(msg)),
                     AV_BAD_SIGNATURE);
    assert_non_null(strstr(msg, "/model/anthropic.claude-3-5-sonnet-20241022-v2%253A0/converse"));
    assert_int_equal(av_verify(&v.r, &v.key, 1, "s3", v.now, msg, sizeof(msg)), AV_BAD_SCOPE);
    other = v.key;
    other.token = SL_STRLIT("required-token");
    assert_int_equal(av_verify(&v.r, &other, 1, "bedrock", v.now, msg, sizeof(msg)),
                     AV_UNKNOWN_KEY);
    unload(&v);
    assert_true(load("bedrock-converse-stream-token", &v));
    assert_int_equal(av_verify(&v.r, &v.key, 1, "bedrock", v.now, msg, sizeof(msg)), AV_OK);
    unload(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_verify),
        cmocka_unit_test(test_wrong_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
