/* JSON credentials in provider_keys[].api_key (reference 6): Azure Entra ID client credentials,
 * and Vertex AI tokens or service accounts. Read once at load time (jansson: a small document,
 * off the request path), checked in full so a bad credential fails the load instead of the first
 * request, and never quoted in a message. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sluice/base.h"
#include "sluice/url.h"

#include "resources_internal.h"

#define ENTRA_AUTHORITY   "https://login.microsoftonline.com"
#define ENTRA_SCOPE       "https://cognitiveservices.azure.com/.default"
#define GOOGLE_TOKEN_URI  "https://oauth2.googleapis.com/token"
#define GOOGLE_SCOPE      "https://www.googleapis.com/auth/cloud-platform"
#define VERTEX_DEF_REGION "us-central1"
/* Identifiers that go into URLs are short tokens; a PEM key is a few KiB. */
#define MAX_ID_LEN   256
#define MAX_TEXT_LEN (64u * 1024)

struct reader {
    json_t *root;
    char *why;
    size_t whylen;
};

static int fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, r->whylen, fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

/* A string member of obj: SL_ENOENT when absent (or null), SL_EPARSE when not a non-empty
 * string of at most max bytes without control characters (line breaks allowed when multiline:
 * a PEM key has them). */
static int member_text(struct reader *r, json_t *obj, const char *path, const char *name,
                       size_t max, bool multiline, char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return SL_ENOENT;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(r, "%s%s: expected a non-empty string", path, name);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max)
        return fail(r, "%s%s: longer than %zu bytes", path, name, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool line_break = c == '\n' || c == '\r';
        if ((c < 0x20 && !(multiline && line_break)) || c == 0x7f)
            return fail(r, "%s%s: control characters are not allowed", path, name);
    }
    *out = sl_xstrndup(s, n);
    return SL_OK;
}

static int member(struct reader *r, json_t *obj, const char *path, const char *name, size_t max,
                  char **out)
{
    return member_text(r, obj, path, name, max, false, out);
}

static int required(struct reader *r, json_t *obj, const char *path, const char *name, size_t max,
                    char **out)
{
    int rc = member(r, obj, path, name, max, out);
    if (rc == SL_ENOENT)
        return fail(r, "%s%s: required field is missing", path, name);
    return rc;
}

/* Identifiers that are put into a URL path (tenant, project, region): no separators, no dots
 * that could climb a path, no spaces. */
static bool is_path_token(const char *s, bool dots)
{
    if (strstr(s, "..") != NULL)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && c != '-' && c != '_' && !(dots && (c == '.' || c == ':')))
            return false;
    }
    return true;
}

/* Members other than the known ones are refused (a typo would otherwise be ignored). */
static int only(struct reader *r, json_t *obj, const char *path, const char *const *names, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, names[i]) == 0;
        if (!known) {
            char shown[72];
            snprintf(shown, sizeof(shown), "%.64s", key);
            for (char *p = shown; *p != '\0'; p++)
                if ((unsigned char)*p < 0x20)
                    *p = '?';
            return fail(r, "%sunknown field \"%s\"", path, shown);
        }
    }
    return SL_OK;
}

/* A bare http(s) origin: the token endpoint's host for a national cloud. */
static int origin_only(struct reader *r, const char *what, const char *url)
{
    struct sl_url u;
    const char *why;
    if (sl_url_parse(sl_str_from_cstr(url), &u, &why) != SL_OK)
        return fail(r, "%s: invalid URL: %s", what, why);
    if (u.path.len > 1 || (u.path.len == 1 && u.path.ptr[0] != '/'))
        return fail(r, "%s: expected a bare origin (scheme://host[:port]) without a path", what);
    return SL_OK;
}

static int token_endpoint(struct reader *r, const char *what, struct sl_cred *c)
{
    struct sl_url u;
    const char *why;
    if (sl_url_parse(sl_str_from_cstr(c->token_url), &u, &why) != SL_OK)
        return fail(r, "%s: invalid URL: %s", what, why);
    return sl__res_origin(c->token_url, &c->token_origin, &c->token_path) == SL_OK
               ? SL_OK
               : fail(r, "%s: invalid URL", what);
}

static int parse_entra(struct reader *r, json_t *o, struct sl_cred *c)
{
    static const char *const names[] = {"tenant_id", "client_id", "client_secret",
                                        "authority_host"};
    char *authority = NULL;
    int rc;
    c->kind = SL_CRED_ENTRA;
    if ((rc = only(r, o, "", names, SL_ARRAY_LEN(names))) != SL_OK ||
        (rc = required(r, o, "", "tenant_id", MAX_ID_LEN, &c->tenant_id)) != SL_OK ||
        (rc = required(r, o, "", "client_id", MAX_ID_LEN, &c->client_id)) != SL_OK ||
        (rc = required(r, o, "", "client_secret", MAX_ID_LEN * 4, &c->client_secret)) != SL_OK)
        return rc;
    if (!is_path_token(c->tenant_id, true))
        return fail(r, "tenant_id: expected a tenant id or domain (letters, digits, '-', '_', "
                       "'.')");
    rc = member(r, o, "", "authority_host", MAX_ID_LEN, &authority);
    if (rc == SL_EPARSE)
        goto out;
    if (rc == SL_OK && (rc = origin_only(r, "authority_host", authority)) != SL_OK)
        goto out;
    const char *host = authority != NULL ? authority : ENTRA_AUTHORITY;
    size_t n = strlen(host);
    while (n > 0 && host[n - 1] == '/')
        n--;
    c->token_url = sl_xasprintf("%.*s/%s/oauth2/v2.0/token", (int)n, host, c->tenant_id);
    c->scope = sl_xstrdup(ENTRA_SCOPE);
    rc = token_endpoint(r, "authority_host", c);
out:
    free(authority);
    return rc;
}

/* The private key must be an RSA key OpenSSL can read: RS256 signs with it. */
static int check_private_key(struct reader *r, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    bool rsa = k != NULL && EVP_PKEY_base_id(k) == EVP_PKEY_RSA;
    EVP_PKEY_free(k);
    BIO_free(bio);
    if (k == NULL)
        return fail(r, "private_key: not a PEM private key OpenSSL can read");
    return rsa ? SL_OK : fail(r, "private_key: expected an RSA key (RS256)");
}

static int location(struct reader *r, struct sl_cred *c)
{
    if (!is_path_token(c->project, true))
        return fail(r, "project: expected a Google Cloud project id");
    if (!is_path_token(c->region, false))
        return fail(r, "region: expected a Google Cloud region such as us-central1");
    return SL_OK;
}

/* A service account key object (as `gcloud iam service-accounts keys create` writes it; fields
 * this does not use are allowed). path prefixes messages. */
static int parse_sa(struct reader *r, json_t *sa, const char *path, struct sl_cred *c)
{
    char *type = NULL;
    int rc;
    c->kind = SL_CRED_GCP_SA;
    if ((rc = required(r, sa, path, "type", MAX_ID_LEN, &type)) != SL_OK)
        return rc;
    bool is_sa = strcmp(type, "service_account") == 0;
    free(type);
    if (!is_sa)
        return fail(r, "%stype: expected \"service_account\"", path);
    if ((rc = required(r, sa, path, "client_email", MAX_ID_LEN, &c->client_email)) != SL_OK)
        return rc;
    rc = member_text(r, sa, path, "private_key", MAX_TEXT_LEN, true, &c->private_key);
    if (rc == SL_ENOENT)
        return fail(r, "%sprivate_key: required field is missing", path);
    if (rc != SL_OK)
        return rc;
    if ((rc = check_private_key(r, c->private_key)) != SL_OK)
        return rc;
    rc = member(r, sa, path, "token_uri", MAX_ID_LEN * 4, &c->token_url);
    if (rc == SL_EPARSE)
        return rc;
    if (rc == SL_ENOENT)
        c->token_url = sl_xstrdup(GOOGLE_TOKEN_URI);
    c->scope = sl_xstrdup(GOOGLE_SCOPE);
    if (c->project == NULL &&
        (rc = member(r, sa, path, "project_id", MAX_ID_LEN, &c->project)) == SL_EPARSE)
        return rc;
    return token_endpoint(r, "token_uri", c);
}

/* {access_token, project, region}, {project, region, service_account_json: {...}}, or a service
 * account key itself (project from its project_id unless project is given; region optional). */
static int parse_vertex(struct reader *r, json_t *o, struct sl_cred *c)
{
    static const char *const token_names[] = {"access_token", "project", "region"};
    static const char *const wrapped_names[] = {"service_account_json", "project", "region"};
    json_t *sa = json_object_get(o, "service_account_json");
    int rc;
    if ((rc = member(r, o, "", "project", MAX_ID_LEN, &c->project)) == SL_EPARSE ||
        (rc = member(r, o, "", "region", MAX_ID_LEN, &c->region)) == SL_EPARSE)
        return rc;
    if (json_object_get(o, "access_token") != NULL) {
        c->kind = SL_CRED_GCP_TOKEN;
        if ((rc = only(r, o, "", token_names, 3)) != SL_OK ||
            (rc = required(r, o, "", "access_token", MAX_TEXT_LEN / 4, &c->access_token)) != SL_OK)
            return rc;
        if (strchr(c->access_token, '\n') != NULL || strchr(c->access_token, '\r') != NULL)
            return fail(r, "access_token: control characters are not allowed");
    } else if (sa != NULL) {
        if ((rc = only(r, o, "", wrapped_names, 3)) != SL_OK)
            return rc;
        if (!json_is_object(sa))
            return fail(r, "service_account_json: expected an object");
        if ((rc = parse_sa(r, sa, "service_account_json.", c)) != SL_OK)
            return rc;
    } else if (json_object_get(o, "type") != NULL) {
        if ((rc = parse_sa(r, o, "", c)) != SL_OK)
            return rc;
    } else {
        return fail(r, "expected {access_token, project, region}, {project, region, "
                       "service_account_json} or a service account key");
    }
    if (c->project == NULL)
        return fail(r, "project: required field is missing");
    if (c->region == NULL) {
        if (c->kind == SL_CRED_GCP_TOKEN)
            return fail(r, "region: required field is missing");
        c->region = sl_xstrdup(VERTEX_DEF_REGION);
    }
    return location(r, c);
}

static void hash_field(EVP_MD_CTX *h, const char *s)
{
    if (s != NULL)
        EVP_DigestUpdate(h, s, strlen(s));
    EVP_DigestUpdate(h, "\0", 1);
}

static void fingerprint(struct sl_cred *c)
{
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    unsigned char kind = (unsigned char)c->kind;
    unsigned int n = 0;
    SL_ASSERT(h != NULL);
    SL_ASSERT(EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(h, &kind, 1);
    const char *fields[] = {c->tenant_id,   c->client_id, c->client_secret, c->client_email,
                            c->private_key, c->project,   c->region,        c->access_token,
                            c->token_url,   c->scope};
    for (size_t i = 0; i < SL_ARRAY_LEN(fields); i++)
        hash_field(h, fields[i]);
    SL_ASSERT(EVP_DigestFinal_ex(h, c->id, &n) == 1 && n == sizeof(c->id));
    EVP_MD_CTX_free(h);
}

bool sl__res_cred_looks_json(const char *text)
{
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    return *text == '{';
}

int sl__res_cred_parse(enum sl_adapter family, const char *text, struct sl_cred *c, char *why,
                       size_t whylen)
{
    json_error_t jerr;
    struct reader r = {NULL, why, whylen};
    int rc;
    *c = (struct sl_cred){0};
    r.root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson's text may quote the input: only the position is shown. */
    if (r.root == NULL)
        return fail(&r, "not valid JSON (line %d, column %d)", jerr.line, jerr.column);
    if (!json_is_object(r.root))
        rc = fail(&r, "expected a JSON object");
    else if (family == SL_ADAPTER_AZURE_OPENAI)
        rc = parse_entra(&r, r.root, c);
    else if (family == SL_ADAPTER_VERTEX)
        rc = parse_vertex(&r, r.root, c);
    else
        rc = fail(&r, "a JSON credential is only understood by the azure-openai and vertex "
                      "families");
    json_decref(r.root);
    if (rc == SL_OK)
        fingerprint(c);
    else
        sl__res_cred_dispose(c);
    return rc;
}

static void wipe(char **p)
{
    if (*p != NULL)
        OPENSSL_cleanse(*p, strlen(*p));
    free(*p);
    *p = NULL;
}

void sl__res_cred_dispose(struct sl_cred *c)
{
    free(c->tenant_id);
    free(c->client_id);
    wipe(&c->client_secret);
    free(c->client_email);
    wipe(&c->private_key);
    wipe(&c->access_token);
    free(c->project);
    free(c->region);
    free(c->token_url);
    sl_origin_dispose(&c->token_origin);
    free(c->token_path);
    free(c->scope);
    *c = (struct sl_cred){0};
}
