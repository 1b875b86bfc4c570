/* The AWS credentials of a bedrock provider key: api_key holding the JSON object
 * {"access_key_id", "secret_access_key", "session_token"?, "region"}, as the reference gateway
 * reads it. Parsed once at load, checked for what SigV4 and an HTTP header can carry, and kept
 * in struct sl_aws_key. Nothing read here ever reaches a message: problems name the member and
 * the rule, never the value. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/json.h"

#include "resources_internal.h"

/* SigV4's own limits (sigv4.h SL_SIGV4_MAX_ID and _SECRET); a session token can be long (STS
 * tokens run to about 2 KiB) but still goes in one header. */
#define MAX_ID     128
#define MAX_SECRET 128
#define MAX_TOKEN  (16u * 1024)
#define MAX_CREDS  (64u * 1024)
#define MIN_KEY_ID 16

enum { M_ACCESS_KEY_ID, M_SECRET, M_TOKEN, M_REGION, M_COUNT };

static const struct sl_str member_names[M_COUNT] = {
    [M_ACCESS_KEY_ID] = SL_STR_INIT("access_key_id"),
    [M_SECRET] = SL_STR_INIT("secret_access_key"),
    [M_TOKEN] = SL_STR_INIT("session_token"),
    [M_REGION] = SL_STR_INIT("region"),
};

static _Atomic uint64_t next_serial = 1;

static int fail(char *why, size_t whylen, const char *fmt, const char *arg)
    __attribute__((format(printf, 3, 0)));

static int fail(char *why, size_t whylen, const char *fmt, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(why, whylen, fmt, arg);
#pragma GCC diagnostic pop
    return SL_EPARSE;
}

static bool all_of(struct sl_str s, bool (*ok)(char c))
{
    for (size_t i = 0; i < s.len; i++)
        if (!ok(s.ptr[i]))
            return false;
    return true;
}

static bool key_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool region_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Printable ASCII: what may go into an HTTP header value and an HMAC key without surprises
 * (AWS secrets are base64-like, tokens base64). */
static bool header_char(char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Member i decoded into a new string; SL_ENOENT when absent or null (optional members). */
static int take(const struct sl_json_member *m, size_t i, size_t cap, char **out, char *why,
                size_t whylen)
{
    struct sl_buf b;
    *out = NULL;
    if (m->type == SL_JSON_ABSENT || m->type == SL_JSON_NULL)
        return SL_ENOENT;
    if (m->type != SL_JSON_STRING)
        return fail(why, whylen, "%s: expected a string", member_names[i].ptr);
    sl_buf_init(&b, cap);
    int rc = sl_json_unescape(m->value, &b);
    if (rc == SL_OK && b.len == 0) {
        rc = fail(why, whylen, "%s: must not be empty", member_names[i].ptr);
    } else if (rc == SL_E2BIG) {
        snprintf(why, whylen, "%s: longer than %zu bytes", member_names[i].ptr, cap);
        rc = SL_EPARSE;
    } else if (rc != SL_OK) {
        rc = fail(why, whylen, "%s: malformed string", member_names[i].ptr);
    }
    if (rc == SL_OK)
        *out = sl_str_dup(sl_buf_str(&b));
    if (b.ptr != NULL)
        OPENSSL_cleanse(b.ptr, b.len);
    sl_buf_dispose(&b);
    return rc;
}

static int check(const struct sl_aws_key *k, char *why, size_t whylen)
{
    struct sl_str id = sl_str_from_cstr(k->access_key_id);
    if (id.len < MIN_KEY_ID || !all_of(id, key_id_char))
        return fail(why, whylen,
                    "%s: expected an AWS access key id (16 to 128 upper-case letters "
                    "and digits, e.g. AKIA...)",
                    "access_key_id");
    if (!all_of(sl_str_from_cstr(k->secret_access_key), header_char))
        return fail(why, whylen, "%s: only printable ASCII without spaces is allowed",
                    "secret_access_key");
    if (k->session_token != NULL && !all_of(sl_str_from_cstr(k->session_token), header_char))
        return fail(why, whylen,
                    "%s: only printable ASCII without spaces is allowed (it is sent "
                    "in a header)",
                    "session_token");
    if (!all_of(sl_str_from_cstr(k->region), region_char))
        return fail(why, whylen,
                    "%s: expected an AWS region such as us-east-1 (lower-case "
                    "letters, digits and '-')",
                    "region");
    return SL_OK;
}

static int read_members(struct sl_str text, struct sl_json_member *m, char *why, size_t whylen)
{
    struct sl_json_keyset *seen = sl_xmalloc(sizeof(*seen));
    struct sl_json_key dup;
    struct sl_json_error jerr;
    int rc = sl_json_scan_unique(text, SL_JSON_DEFAULT_MAX_DEPTH, member_names, M_COUNT, m, &jerr,
                                 seen, &dup);
    free(seen);
    if (rc == SL_EEXIST)
        return fail(why, whylen, "%s", "a member repeats");
    if (rc != SL_OK)
        return fail(why, whylen,
                    "expected the JSON object {\"access_key_id\", \"secret_access_key\", "
                    "\"session_token\"?, \"region\"} or a Bedrock API key (%s)",
                    "the value starts with '{' but is not a JSON object");
    /* Another member (a typo of one of these) would be ignored silently: refuse it. */
    struct sl_json_iter it;
    struct sl_json_key key;
    struct sl_json_member v;
    SL_ASSERT(sl_json_iter_init(&it, text, SL_JSON_DEFAULT_MAX_DEPTH) == SL_OK);
    while (sl_json_iter_next(&it, &key, &v) == 1) {
        bool known = false;
        for (size_t i = 0; i < M_COUNT; i++)
            known = known || sl_json_key_eq(key, member_names[i]);
        if (!known)
            return fail(why, whylen, "unknown member (expected %s)",
                        "access_key_id, secret_access_key, session_token, region");
    }
    return SL_OK;
}

void sl__res_aws_free(struct sl_aws_key *k)
{
    if (k == NULL)
        return;
    free(k->access_key_id);
    if (k->secret_access_key != NULL)
        OPENSSL_cleanse(k->secret_access_key, strlen(k->secret_access_key));
    free(k->secret_access_key);
    if (k->session_token != NULL)
        OPENSSL_cleanse(k->session_token, strlen(k->session_token));
    free(k->session_token);
    free(k->region);
    free(k);
}

bool sl__res_aws_is_json(const char *api_key)
{
    struct sl_str s = sl_str_trim(sl_str_from_cstr(api_key));
    return s.len != 0 && s.ptr[0] == '{';
}

int sl__res_aws_parse(const char *api_key, struct sl_aws_key **out, char *why, size_t whylen)
{
    struct sl_json_member m[M_COUNT];
    struct sl_str text = sl_str_from_cstr(api_key);
    *out = NULL;
    if (text.len > MAX_CREDS)
        return fail(why, whylen, "%s", "the credentials object is larger than 64 KiB");
    int rc = read_members(text, m, why, whylen);
    if (rc != SL_OK)
        return rc;
    struct sl_aws_key *k = sl_xcalloc(1, sizeof(*k));
    rc = take(&m[M_ACCESS_KEY_ID], M_ACCESS_KEY_ID, MAX_ID, &k->access_key_id, why, whylen);
    if (rc == SL_OK)
        rc = take(&m[M_SECRET], M_SECRET, MAX_SECRET, &k->secret_access_key, why, whylen);
    if (rc == SL_OK)
        rc = take(&m[M_REGION], M_REGION, MAX_ID, &k->region, why, whylen);
    if (rc == SL_ENOENT)
        rc = fail(why, whylen, "%s: required member is missing",
                  k->access_key_id == NULL       ? "access_key_id"
                  : k->secret_access_key == NULL ? "secret_access_key"
                                                 : "region");
    if (rc == SL_OK) {
        rc = take(&m[M_TOKEN], M_TOKEN, MAX_TOKEN, &k->session_token, why, whylen);
        if (rc == SL_ENOENT)
            rc = SL_OK;
    }
    if (rc == SL_OK)
        rc = check(k, why, whylen);
    if (rc != SL_OK) {
        sl__res_aws_free(k);
        return rc;
    }
    k->serial = atomic_fetch_add_explicit(&next_serial, 1, memory_order_relaxed);
    *out = k;
    return SL_OK;
}
