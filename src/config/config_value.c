#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/log.h"

#include "config_internal.h"

#define QUOTE_CUT   64
#define DISPLAY_MAX 200

const char *sl__cfg_quote(char *dst, size_t cap, struct sl_str s)
{
    SL_ASSERT(cap > 8);
    bool cut = s.len > QUOTE_CUT;
    size_t n = sl_log_escape(dst, cap - 4, sl_str_init(s.ptr, cut ? QUOTE_CUT : s.len));
    if (cut)
        memcpy(dst + n, "...", 4);
    return dst;
}

const char *sl__cfg_display(char *dst, size_t cap, struct sl_str s)
{
    bool tame = s.len > 0 && s.len <= DISPLAY_MAX && s.len < cap;
    for (size_t i = 0; tame && i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        tame = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    }
    if (!tame)
        return sl__cfg_quote(dst, cap, s);
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return dst;
}

static void expected(const struct sl__cfg_key *k, bool env, char *buf, size_t cap)
{
    switch (k->type) {
    case SL__CFG_STRING:
        snprintf(buf, cap, "a non-empty string");
        break;
    case SL__CFG_FILE:
        snprintf(buf, cap, "a file path");
        break;
    case SL__CFG_BOOL:
        snprintf(buf, cap, "%s", env ? "true, false, 1 or 0" : "true or false");
        break;
    case SL__CFG_UINT:
        snprintf(buf, cap, "an integer from %llu to %llu", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    case SL__CFG_ADDR:
        snprintf(buf, cap, "an address IP:PORT or [IPv6]:PORT");
        break;
    case SL__CFG_LOG_LEVEL:
        snprintf(buf, cap, "one of error, warn, info, debug, trace");
        break;
    case SL__CFG_STR_LIST:
        snprintf(buf, cap, "%s",
                 env ? "a comma-separated list of non-empty strings" : "a list of strings");
        break;
    case SL__CFG_URL_PATH:
        snprintf(buf, cap, "a URL path starting with \"/\"");
        break;
    case SL__CFG_HEADER_LIST:
        snprintf(buf, cap, "%s",
                 env ? "a comma-separated list of header names" : "a list of header names");
        break;
    case SL__CFG_HEADER:
        snprintf(buf, cap, "an HTTP header name");
        break;
    case SL__CFG_CIDR_LIST:
        snprintf(buf, cap, "%s",
                 env ? "a comma-separated list of CIDR ranges or addresses"
                     : "a list of CIDR ranges or addresses");
        break;
    case SL__CFG_UNSUPPORTED:
        SL_ASSERT(!"unsupported keys have no value type");
    }
}

/* What was given, for "got ...": the kind of a collection, or the scalar quoted with its style
 * (a quoted "8" is a string, which is why an integer key refuses it). Secret values only get a
 * kind. */
static void given(const struct sl__cfg_key *k, const struct sl__cfg_val *v, char *buf, size_t cap)
{
    char q[96];
    const struct sl_yaml_node *n = v->node;
    if (n != NULL && (n->kind != SL_YAML_SCALAR || sl_yaml_is_null(n))) {
        snprintf(buf, cap, "%s", sl_yaml_describe(n));
        return;
    }
    if (k->flags & SL__CFG_SECRET) {
        snprintf(buf, cap, "%s", v->text.len == 0 ? "an empty string" : "a string");
        return;
    }
    sl__cfg_quote(q, sizeof(q), v->text);
    if (n != NULL && n->style == SL_YAML_QUOTED)
        snprintf(buf, cap, "a quoted string %s", q);
    else if (n != NULL && n->style == SL_YAML_BLOCK)
        snprintf(buf, cap, "a block string %s", q);
    else
        snprintf(buf, cap, "%s", q);
}

static int mismatch(const struct sl__cfg_key *k, const struct sl__cfg_val *v,
                    struct sl__cfg_problem *p)
{
    char exp[96], got[160];
    expected(k, v->node == NULL, exp, sizeof(exp));
    given(k, v, got, sizeof(got));
    snprintf(p->msg, sizeof(p->msg), "expected %s, got %s", exp, got);
    return SL_EPARSE;
}

static bool is_scalar(const struct sl__cfg_val *v)
{
    return v->node == NULL || v->node->kind == SL_YAML_SCALAR;
}

static bool is_plain_scalar(const struct sl__cfg_val *v)
{
    return v->node == NULL || (v->node->kind == SL_YAML_SCALAR && v->node->style == SL_YAML_PLAIN);
}

/* A NUL inside a string would silently cut it once it becomes a C string. */
static bool is_text(struct sl_str s)
{
    return s.len > 0 && memchr(s.ptr, '\0', s.len) == NULL;
}

static bool is_url_path(struct sl_str s)
{
    if (s.len == 0 || s.ptr[0] != '/')
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
            return false;
    }
    return true;
}

static void store_string(void *dst, struct sl_str s)
{
    char **field = dst;
    free(*field);
    *field = sl_str_dup(s);
}

static int parse_string(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                        struct sl__cfg_problem *p)
{
    if (!is_scalar(v) || !is_text(v->text))
        return mismatch(k, v, p);
    if (k->type == SL__CFG_URL_PATH && !is_url_path(v->text))
        return mismatch(k, v, p);
    if (dst != NULL)
        store_string(dst, v->text);
    return SL_OK;
}

static int parse_bool(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                      struct sl__cfg_problem *p)
{
    bool b;
    bool env = v->node == NULL;
    if (!is_plain_scalar(v))
        return mismatch(k, v, p);
    if (sl_str_ieq_lit(v->text, "true") || (env && sl_str_eq_lit(v->text, "1")))
        b = true;
    else if (sl_str_ieq_lit(v->text, "false") || (env && sl_str_eq_lit(v->text, "0")))
        b = false;
    else
        return mismatch(k, v, p);
    if (dst != NULL)
        *(bool *)dst = b;
    return SL_OK;
}

static int parse_uint(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                      struct sl__cfg_problem *p)
{
    uint64_t n;
    if (!is_plain_scalar(v) || sl_str_to_u64(v->text, k->max, &n) != SL_OK || n < k->min)
        return mismatch(k, v, p);
    if (dst == NULL)
        return SL_OK;
    if (k->size == sizeof(unsigned)) {
        SL_ASSERT(k->max <= UINT_MAX);
        *(unsigned *)dst = (unsigned)n;
    } else {
        SL_ASSERT(k->size == sizeof(uint64_t));
        *(uint64_t *)dst = n;
    }
    return SL_OK;
}

static int parse_addr(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                      struct sl__cfg_problem *p)
{
    struct sl_addr a;
    if (!is_scalar(v) || !is_text(v->text))
        return mismatch(k, v, p);
    SL_ASSERT(v->text.ptr[v->text.len] == '\0');
    if (sl_addr_parse(v->text.ptr, &a) != SL_OK)
        return mismatch(k, v, p);
    if (dst != NULL)
        *(struct sl_addr *)dst = a;
    return SL_OK;
}

static int parse_log_level(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                           struct sl__cfg_problem *p)
{
    enum sl_log_level level;
    if (!is_scalar(v) || sl_log_level_parse(v->text, &level) != SL_OK)
        return mismatch(k, v, p);
    if (dst != NULL)
        *(enum sl_log_level *)dst = level;
    return SL_OK;
}

static void list_add(struct sl_config_list *l, struct sl_str s);

/* One list item: non-empty text, at least k->min bytes long when the key sets a minimum (the
 * secrets of responses.id_secrets); appended to out when there is one. i is 1-based. */
static int add_item(const struct sl__cfg_key *k, struct sl_str item, size_t i,
                    struct sl_config_list *out, struct sl__cfg_problem *p)
{
    if (k->min != 0 && item.len < k->min) {
        snprintf(p->msg, sizeof(p->msg), "item %zu: expected at least %llu bytes, got %zu", i,
                 (unsigned long long)k->min, item.len);
        return SL_EPARSE;
    }
    if (out != NULL)
        list_add(out, item);
    return SL_OK;
}

/* An environment list is comma-separated; an empty variable is an empty list. */
static int parse_env_list(const struct sl__cfg_key *k, const struct sl__cfg_val *v,
                          struct sl_config_list *out, struct sl__cfg_problem *p)
{
    struct sl_str rest = v->text;
    for (size_t i = 1; rest.len > 0; i++) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t n = comma != NULL ? (size_t)(comma - rest.ptr) : rest.len;
        struct sl_str item = sl_str_trim(sl_str_init(rest.ptr, n));
        if (!is_text(item) || (comma != NULL && n + 1 == rest.len))
            return mismatch(k, v, p);
        if (add_item(k, item, i, out, p) != SL_OK)
            return SL_EPARSE;
        rest.ptr += comma != NULL ? n + 1 : n;
        rest.len -= comma != NULL ? n + 1 : n;
    }
    return SL_OK;
}

static int parse_list_items(const struct sl__cfg_key *k, const struct sl__cfg_val *v,
                            struct sl_config_list *out, struct sl__cfg_problem *p)
{
    if (v->node == NULL)
        return parse_env_list(k, v, out, p);
    if (v->node->kind != SL_YAML_SEQ)
        return mismatch(k, v, p);
    for (size_t i = 0; i < v->node->n; i++) {
        const struct sl_yaml_node *item = v->node->items[i];
        struct sl__cfg_val iv = {item, item->value};
        p->line = item->line;
        if (item->kind == SL_YAML_SCALAR && !sl_yaml_is_null(item) && is_text(item->value)) {
            if (add_item(k, item->value, i + 1, out, p) != SL_OK)
                return SL_EPARSE;
            continue;
        }
        char got[160];
        given(k, &iv, got, sizeof(got));
        snprintf(p->msg, sizeof(p->msg), "item %zu: expected a non-empty string, got %s", i + 1,
                 got);
        return SL_EPARSE;
    }
    p->line = 0;
    return SL_OK;
}

/* A list of strings, kept in dst (a struct sl_config_list) when the key has a field. */
static int parse_list(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                      struct sl__cfg_problem *p)
{
    struct sl_config_list list = {0};
    int rc = parse_list_items(k, v, dst != NULL ? &list : NULL, p);
    if (rc != SL_OK || dst == NULL) {
        sl__cfg_list_dispose(&list);
        return rc;
    }
    sl__cfg_list_dispose(dst);
    *(struct sl_config_list *)dst = list;
    return SL_OK;
}

/* Headers a request id must never be read from: the id is echoed in the response, written to
 * the access log and sent upstream, so reading it from one of these would disclose a
 * credential, a signature or the caller's trace context through all three (the reference
 * refuses the same set), or take it from the header that routes the request. */
static const char *const credential_headers[] = {
    "authorization",  "proxy-authorization",
    "x-api-key",      "api-key",
    "x-goog-api-key", "cookie",
    "set-cookie",     "x-amz-security-token",
    "x-amz-date",     "x-amz-content-sha256",
};

/* Why a request id may not come from name (lower case), or NULL when it may. */
static const char *refused_header(struct sl_str name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(credential_headers); i++) {
        if (sl_str_eq(name, sl_str_from_cstr(credential_headers[i])))
            return "it carries credentials";
    }
    if (sl_str_eq_lit(name, "host"))
        return "it names the host the request is for";
    if (sl_str_eq_lit(name, "traceparent") || sl_str_eq_lit(name, "tracestate"))
        return "it carries the caller's trace context";
    return NULL;
}

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

#define HEADER_NAME_MAX 128

static void list_add(struct sl_config_list *l, struct sl_str s)
{
    l->v = sl_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->len = sl_xrealloc(l->len, (l->n + 1) * sizeof(*l->len));
    l->v[l->n] = sl_str_dup(s);
    l->len[l->n] = s.len;
    l->n++;
}

void sl__cfg_list_dispose(struct sl_config_list *l)
{
    /* Lists may hold secrets (responses.id_secrets): wiped before they are freed. */
    for (size_t i = 0; i < l->n; i++) {
        OPENSSL_cleanse(l->v[i], l->len[i]);
        free(l->v[i]);
    }
    free(l->v);
    free(l->len);
    *l = (struct sl_config_list){0};
}

/* Checks one header name (item i, 1-based) and appends it lower-cased to out. */
static int add_header(struct sl_str name, size_t i, struct sl_config_list *out,
                      struct sl__cfg_problem *p)
{
    char q[96], lower[HEADER_NAME_MAX];
    bool ok = name.len > 0 && name.len <= HEADER_NAME_MAX;
    for (size_t j = 0; ok && j < name.len; j++)
        ok = is_tchar((unsigned char)name.ptr[j]);
    if (!ok) {
        snprintf(p->msg, sizeof(p->msg),
                 "item %zu: expected an HTTP header name of at most %d letters, digits and "
                 "!#$%%&'*+-.^_`|~, got %s",
                 i, HEADER_NAME_MAX, sl__cfg_quote(q, sizeof(q), name));
        return SL_EPARSE;
    }
    for (size_t j = 0; j < name.len; j++) {
        char c = name.ptr[j];
        lower[j] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    struct sl_str l = sl_str_init(lower, name.len);
    const char *why = refused_header(l);
    if (why != NULL) {
        snprintf(p->msg, sizeof(p->msg),
                 "item %zu: %s is refused: %s, and the request id is echoed to the caller, "
                 "logged and sent upstream",
                 i, sl__cfg_quote(q, sizeof(q), name), why);
        return SL_EPARSE;
    }
    if (out->n == SL_CONFIG_MAX_ID_HEADERS) {
        snprintf(p->msg, sizeof(p->msg), "at most %d headers, got more", SL_CONFIG_MAX_ID_HEADERS);
        return SL_EPARSE;
    }
    list_add(out, l);
    return SL_OK;
}

/* A header list from an environment value: comma-separated, blanks around names ignored; an
 * empty value is an empty list. */
static int parse_env_headers(const struct sl__cfg_val *v, struct sl_config_list *out,
                             struct sl__cfg_problem *p)
{
    struct sl_str rest = v->text;
    for (size_t i = 1; rest.len > 0; i++) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t n = comma != NULL ? (size_t)(comma - rest.ptr) : rest.len;
        if (add_header(sl_str_trim(sl_str_init(rest.ptr, n)), i, out, p) != SL_OK)
            return SL_EPARSE;
        rest.ptr += comma != NULL ? n + 1 : n;
        rest.len -= comma != NULL ? n + 1 : n;
        if (comma != NULL && rest.len == 0)
            return add_header(SL_STR_NULL, i + 1, out, p);
    }
    return SL_OK;
}

static int parse_header_list(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                             struct sl__cfg_problem *p)
{
    struct sl_config_list list = {0};
    int rc = SL_OK;
    SL_ASSERT(dst != NULL);
    if (v->node == NULL) {
        rc = parse_env_headers(v, &list, p);
    } else if (v->node->kind != SL_YAML_SEQ) {
        rc = mismatch(k, v, p);
    } else {
        for (size_t i = 0; rc == SL_OK && i < v->node->n; i++) {
            const struct sl_yaml_node *item = v->node->items[i];
            struct sl__cfg_val iv = {item, item->value};
            char got[160];
            if (item->kind == SL_YAML_SCALAR && !sl_yaml_is_null(item)) {
                rc = add_header(item->value, i + 1, &list, p);
            } else {
                given(k, &iv, got, sizeof(got));
                snprintf(p->msg, sizeof(p->msg), "item %zu: expected a header name, got %s", i + 1,
                         got);
                rc = SL_EPARSE;
            }
            if (rc != SL_OK)
                p->line = item->line;
        }
    }
    if (rc != SL_OK) {
        sl__cfg_list_dispose(&list);
        return rc;
    }
    sl__cfg_list_dispose(dst);
    *(struct sl_config_list *)dst = list;
    return SL_OK;
}

/* One header name, lower-cased as h2o stores request header names. */
static int parse_header(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                        struct sl__cfg_problem *p)
{
    struct sl_str name = v->text;
    bool ok = is_scalar(v) && name.len > 0 && name.len <= HEADER_NAME_MAX;
    for (size_t j = 0; ok && j < name.len; j++)
        ok = is_tchar((unsigned char)name.ptr[j]);
    if (!ok)
        return mismatch(k, v, p);
    if (dst == NULL)
        return SL_OK;
    char *lower = sl_str_dup(name);
    for (size_t j = 0; j < name.len; j++)
        lower[j] = lower[j] >= 'A' && lower[j] <= 'Z' ? (char)(lower[j] - 'A' + 'a') : lower[j];
    free(*(char **)dst);
    *(char **)dst = lower;
    return SL_OK;
}

/* Adds item i (1-based) of a range list: "10.0.0.0/8", "2001:db8::/32", or one address. */
static int add_cidr(struct sl_str text, size_t i, struct sl_cidr_list *out,
                    struct sl__cfg_problem *p)
{
    char q[96];
    struct sl_cidr c;
    if (out->n == SL_CONFIG_MAX_CIDRS) {
        snprintf(p->msg, sizeof(p->msg), "at most %d ranges, got more", SL_CONFIG_MAX_CIDRS);
        return SL_EPARSE;
    }
    if (sl_cidr_parse(sl_str_trim(text), true, &c) != SL_OK) {
        snprintf(p->msg, sizeof(p->msg),
                 "item %zu: expected a CIDR range such as 10.0.0.0/8 or fd00::/8, or an "
                 "address, got %s",
                 i, sl__cfg_quote(q, sizeof(q), text));
        return SL_EPARSE;
    }
    out->v = sl_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    out->v[out->n++] = c;
    return SL_OK;
}

void sl__cfg_cidrs_dispose(struct sl_cidr_list *l)
{
    free(l->v);
    *l = (struct sl_cidr_list){0};
}

static int parse_env_cidrs(const struct sl__cfg_val *v, struct sl_cidr_list *out,
                           struct sl__cfg_problem *p)
{
    struct sl_str rest = v->text;
    for (size_t i = 1; rest.len > 0; i++) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t n = comma != NULL ? (size_t)(comma - rest.ptr) : rest.len;
        if (add_cidr(sl_str_init(rest.ptr, n), i, out, p) != SL_OK)
            return SL_EPARSE;
        rest.ptr += comma != NULL ? n + 1 : n;
        rest.len -= comma != NULL ? n + 1 : n;
        if (comma != NULL && rest.len == 0)
            return add_cidr(SL_STR_NULL, i + 1, out, p);
    }
    return SL_OK;
}

static int parse_cidr_list(const struct sl__cfg_key *k, const struct sl__cfg_val *v, void *dst,
                           struct sl__cfg_problem *p)
{
    struct sl_cidr_list list = {0};
    int rc = SL_OK;
    SL_ASSERT(dst != NULL);
    if (v->node == NULL) {
        rc = parse_env_cidrs(v, &list, p);
    } else if (v->node->kind != SL_YAML_SEQ) {
        rc = mismatch(k, v, p);
    } else {
        for (size_t i = 0; rc == SL_OK && i < v->node->n; i++) {
            const struct sl_yaml_node *item = v->node->items[i];
            struct sl__cfg_val iv = {item, item->value};
            char got[160];
            if (item->kind == SL_YAML_SCALAR && !sl_yaml_is_null(item)) {
                rc = add_cidr(item->value, i + 1, &list, p);
            } else {
                given(k, &iv, got, sizeof(got));
                snprintf(p->msg, sizeof(p->msg), "item %zu: expected a CIDR range, got %s", i + 1,
                         got);
                rc = SL_EPARSE;
            }
            if (rc != SL_OK)
                p->line = item->line;
        }
    }
    if (rc != SL_OK) {
        sl__cfg_cidrs_dispose(&list);
        return rc;
    }
    sl__cfg_cidrs_dispose(dst);
    *(struct sl_cidr_list *)dst = list;
    return SL_OK;
}

int sl__cfg_parse_value(const struct sl__cfg_key *k, const struct sl__cfg_val *v,
                        struct sl_config *cfg, struct sl__cfg_problem *p)
{
    void *dst = k->off == SL__CFG_NO_FIELD ? NULL : (char *)cfg + k->off;
    p->msg[0] = '\0';
    p->line = 0;
    switch (k->type) {
    case SL__CFG_STRING:
    case SL__CFG_FILE:
    case SL__CFG_URL_PATH:
        return parse_string(k, v, dst, p);
    case SL__CFG_BOOL:
        return parse_bool(k, v, dst, p);
    case SL__CFG_UINT:
        return parse_uint(k, v, dst, p);
    case SL__CFG_ADDR:
        return parse_addr(k, v, dst, p);
    case SL__CFG_LOG_LEVEL:
        return parse_log_level(k, v, dst, p);
    case SL__CFG_STR_LIST:
        return parse_list(k, v, dst, p);
    case SL__CFG_HEADER_LIST:
        return parse_header_list(k, v, dst, p);
    case SL__CFG_HEADER:
        return parse_header(k, v, dst, p);
    case SL__CFG_CIDR_LIST:
        return parse_cidr_list(k, v, dst, p);
    case SL__CFG_UNSUPPORTED:
        break;
    }
    SL_ASSERT(!"unsupported keys have no value to parse");
    return SL_EPARSE;
}
