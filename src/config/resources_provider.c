#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/url.h"

#include "config_internal.h"
#include "resources_internal.h"

#define OPENAI_DEFAULT_BASE    "https://api.openai.com/v1"
#define ANTHROPIC_DEFAULT_BASE "https://api.anthropic.com"
/* Bedrock's runtime endpoint for the credentials' region (AWS's endpoint rules, no FIPS or
 * dual-stack). */
#define BEDROCK_DEFAULT_BASE "https://bedrock-runtime.%s.amazonaws.com"

enum {
    F_DISPLAY_NAME = 0,
    F_PROVIDER,
    F_API_KEY,
    F_SECRET,
    F_API_BASE,
    F_ADAPTER,
};

/* clang-format off */
static const struct sl__res_field fields[] = {
    [F_DISPLAY_NAME] = {"display_name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_PROVIDER] = {"provider", SL__RES_STRING, 0, 0, NULL},
    [F_API_KEY] = {"api_key", SL__RES_SECRET, 0, 0, NULL},
    [F_SECRET] = {"secret", SL__RES_SECRET, 0, 0, NULL},
    [F_API_BASE] = {"api_base", SL__RES_STRING, 0, 0, NULL},
    [F_ADAPTER] = {"adapter", SL__RES_STRING, 0, 0, NULL},
    {"request", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"response", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"strip_headers", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"tls", SL__RES_UNSUPPORTED, 0, 0, "set upstream.tls in config.yaml"},
    {"telemetry_tags", SL__RES_UNSUPPORTED, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema schema = {"provider_keys", fields, SL_ARRAY_LEN(fields)};

/* Adapters of the reference gateway that Sluice has no wire family for yet. */
static const char *const unsupported_adapters[] = {"vertex", "azure-openai"};

/* The family a vendor name implies when the key sets no adapter. */
static enum sl_adapter family_of_vendor(const char *vendor)
{
    if (vendor != NULL && strcmp(vendor, "anthropic") == 0)
        return SL_ADAPTER_ANTHROPIC;
    if (vendor != NULL && (strcmp(vendor, "bedrock") == 0 || strcmp(vendor, "amazon-bedrock") == 0))
        return SL_ADAPTER_BEDROCK;
    return SL_ADAPTER_OPENAI;
}

/* provider is optional: returns 0 with *out set, SL_ENOENT when absent, SL_EPARSE after
 * reporting a bad value. */
static int read_provider(struct sl__res_entry *e, char **out)
{
    struct sl__res_val v;
    char shown[256];
    *out = NULL;
    int rc = sl__res_string(e, F_PROVIDER, &v);
    if (rc != SL_OK)
        return rc;
    if (!sl__res_is_vendor(sl_str_init(v.text, v.len))) {
        sl__res_error(e, v.node->line, "provider",
                      "expected a vendor name of lower-case letters, digits, \"-\", \"_\" and "
                      "\".\", got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
        return SL_EPARSE;
    }
    *out = sl__res_val_take(&v);
    return SL_OK;
}

/* Sets the key's wire family from its adapter, else its vendor; without either the models
 * naming the key decide (sl__res_key_use; *has_adapter false). Reports and returns SL_EPARSE for
 * an adapter Sluice has no family for. */
static int check_adapter(struct sl__res_entry *e, struct sl_provider_key *pk, bool *has_adapter)
{
    struct sl__res_val v;
    char shown[256];
    int rc = sl__res_string(e, F_ADAPTER, &v);
    *has_adapter = rc != SL_ENOENT;
    pk->adapter = family_of_vendor(pk->provider);
    if (rc == SL_EPARSE)
        return rc;
    if (rc == SL_ENOENT)
        return SL_OK;
    struct sl_str a = sl_str_init(v.text, v.len);
    rc = SL_OK;
    if (sl_str_eq_lit(a, "anthropic")) {
        pk->adapter = SL_ADAPTER_ANTHROPIC;
    } else if (sl_str_eq_lit(a, "openai")) {
        pk->adapter = SL_ADAPTER_OPENAI;
    } else if (sl_str_eq_lit(a, "bedrock")) {
        pk->adapter = SL_ADAPTER_BEDROCK;
    } else {
        rc = SL_EPARSE;
        for (size_t i = 0; i < SL_ARRAY_LEN(unsupported_adapters); i++) {
            if (sl_str_eq(a, sl_str_from_cstr(unsupported_adapters[i]))) {
                sl__res_error(e, v.node->line, "adapter", "%s is not supported by sluice yet",
                              sl__res_show(&v, shown, sizeof(shown)));
                sl__res_val_dispose(&v);
                return rc;
            }
        }
        sl__res_error(e, v.node->line, "adapter",
                      "expected one of openai, anthropic, bedrock, vertex, azure-openai, got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
    }
    sl__res_val_dispose(&v);
    return rc;
}

/* api_key and its alias secret: exactly one, a non-empty header-safe string. */
static char *read_api_key(struct sl__res_entry *e)
{
    struct sl__res_val v;
    bool has_key = e->values[F_API_KEY] != NULL, has_secret = e->values[F_SECRET] != NULL;
    if (has_key && has_secret) {
        sl__res_error(e, e->keys[F_SECRET]->line, "secret",
                      "set only one of api_key and its alias secret");
        return NULL;
    }
    if (!has_key && !has_secret) {
        sl__res_error(e, 0, "api_key", "required field is missing");
        return NULL;
    }
    size_t row = has_key ? F_API_KEY : F_SECRET;
    if (sl__res_string(e, row, &v) != SL_OK) {
        if (sl_yaml_is_null(e->values[row]))
            sl__res_error(e, e->values[row]->line, fields[row].name,
                          "a value is required, got null");
        return NULL;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.text[i];
        if (c < 0x20 || c == 0x7f) {
            sl__res_error(e, v.node->line, fields[row].name,
                          "control characters are not allowed (the key is sent in an HTTP "
                          "header)");
            sl__res_val_dispose(&v);
            return NULL;
        }
    }
    return sl__res_val_take(&v);
}

static char *bracketed_host(const struct sl_origin *o, bool ipv6)
{
    return ipv6 ? sl_xasprintf("[%s]", o->host) : sl_xstrdup(o->host);
}

/* Fills the origin from a normalised base URL (which parses by construction). */
static void build_origin(struct sl_provider_key *pk)
{
    struct sl_url u;
    const char *why;
    struct sl_origin *o = &pk->origin;
    int rc = sl_url_parse(sl_str_from_cstr(pk->api_base), &u, &why);
    SL_ASSERT(rc == SL_OK);
    o->tls = u.tls;
    o->host = sl_str_dup(u.host); /* already lower-cased by normalisation */
    o->port = u.port;
    o->base_path = sl_str_dup(u.path);
    char *h = bracketed_host(o, u.host_is_ipv6);
    if (u.port == (u.tls ? 443 : 80))
        o->authority = sl_xstrdup(h);
    else
        o->authority = sl_xasprintf("%s:%u", h, (unsigned)u.port);
    o->key = sl_xasprintf("%s://%s:%u", u.tls ? "https" : "http", h, (unsigned)u.port);
    free(h);
}

/* The default api_base of a vendor, when it has one: OpenAI's for provider openai, Anthropic's
 * for the anthropic family, the region's runtime endpoint for Bedrock keys with AWS credentials
 * (the reference: other OpenAI-compatible vendors and Bedrock API keys must set theirs). A new
 * string, or NULL. */
static char *default_base(const struct sl_provider_key *pk, const char *vendor)
{
    if (pk->adapter == SL_ADAPTER_ANTHROPIC)
        return sl_xstrdup(ANTHROPIC_DEFAULT_BASE);
    if (pk->adapter == SL_ADAPTER_BEDROCK)
        return pk->aws != NULL ? sl_xasprintf(BEDROCK_DEFAULT_BASE, pk->aws->region) : NULL;
    return vendor != NULL && strcmp(vendor, "openai") == 0 ? sl_xstrdup(OPENAI_DEFAULT_BASE) : NULL;
}

/* A bedrock key's api_key: the JSON credentials object (signed requests) or a Bedrock API key
 * (a bearer token, kept as it is). Returns false after reporting a bad object. */
static bool read_aws(struct sl_provider_key *pk, char *why, size_t whylen)
{
    if (pk->api_key == NULL || pk->aws != NULL || !sl__res_aws_is_json(pk->api_key))
        return true;
    return sl__res_aws_parse(pk->api_key, &pk->aws, why, whylen) == SL_OK;
}

static const char bedrock_base_hint[] =
    "required for a Bedrock API key (it names no region): set "
    "https://bedrock-runtime.<region>.amazonaws.com, or give api_key as the JSON object "
    "{\"access_key_id\", \"secret_access_key\", \"session_token\"?, \"region\"}";

/* Normalises api_base (or applies the vendor's default) into pk->api_base. Returns SL_ENOENT
 * when the key has neither api_base nor provider: a model names the vendor later. */
static int read_api_base(struct sl__res_entry *e, struct sl_provider_key *pk, bool supported,
                         int provider_rc, struct sl_str provider_shown)
{
    struct sl__res_val v;
    struct sl_buf b;
    const char *why = NULL;
    int rc = sl__res_string(e, F_API_BASE, &v);
    /* An unsupported or bad vendor was reported already; a missing base would only add noise. */
    if (rc == SL_ENOENT && (!supported || provider_rc == SL_EPARSE))
        return SL_EPARSE;
    /* A bedrock key's default comes from its own region, whatever the models' vendors say. */
    if (rc == SL_ENOENT && provider_rc == SL_ENOENT && pk->adapter != SL_ADAPTER_BEDROCK)
        return SL_ENOENT;
    if (rc == SL_ENOENT) {
        char q[96];
        pk->api_base = default_base(pk, pk->provider);
        if (pk->api_base != NULL)
            return SL_OK;
        if (pk->adapter == SL_ADAPTER_BEDROCK)
            sl__res_error(e, 0, "api_base", "%s", bedrock_base_hint);
        else
            sl__res_error(e, 0, "api_base",
                          "required for provider %s (the default " OPENAI_DEFAULT_BASE
                          " applies only to provider openai)",
                          sl__cfg_quote(q, sizeof(q), provider_shown));
        return SL_EPARSE;
    }
    if (rc != SL_OK)
        return rc;
    sl_buf_init(&b, SL__RES_TEXT_MAX);
    if (pk->adapter == SL_ADAPTER_ANTHROPIC)
        rc = sl_url_normalize_anthropic_base(sl_str_init(v.text, v.len), &b, &why);
    else if (pk->adapter == SL_ADAPTER_BEDROCK)
        rc = sl_url_normalize_plain_base(sl_str_init(v.text, v.len), &b, &why);
    else
        rc = sl_url_normalize_openai_base(sl_str_init(v.text, v.len), &b, &why);
    /* The value is not echoed: URLs can carry credentials in user info or a query. */
    if (rc != SL_OK)
        sl__res_error(e, v.node->line, "api_base", "invalid URL%s: %s",
                      v.interpolated ? " (interpolated)" : "", why);
    else
        pk->api_base = sl_str_dup(sl_buf_str(&b));
    sl_buf_dispose(&b);
    sl__res_val_dispose(&v);
    return rc == SL_OK ? SL_OK : SL_EPARSE;
}

static void load_one(struct sl__res_loader *l, size_t i, const struct sl_yaml_node *item)
{
    struct sl_provider_key *pk = &l->r->provider_keys[i];
    struct sl__res_key_info *info = &l->keys[i];
    struct sl__res_entry e;
    bool has_adapter = false;
    size_t errors = l->diag->count;
    pk->line = item->line;
    if (!sl__res_entry_begin(l, &schema, i, item, &e, &pk->name)) {
        info->bad = true;
        return;
    }
    int provider_rc = read_provider(&e, &pk->provider);
    if (pk->provider != NULL)
        info->provider_shown = sl__res_printable(e.values[F_PROVIDER], pk->provider);
    pk->api_key = read_api_key(&e);
    bool supported = check_adapter(&e, pk, &has_adapter) == SL_OK;
    char why[256];
    if (pk->adapter == SL_ADAPTER_BEDROCK && pk->api_key == NULL)
        supported = false; /* reported: the base is only a question once there is a key */
    else if (pk->adapter == SL_ADAPTER_BEDROCK && !read_aws(pk, why, sizeof(why))) {
        sl__res_error(
            &e, e.values[F_API_KEY] != NULL ? e.values[F_API_KEY]->line : e.values[F_SECRET]->line,
            e.values[F_API_KEY] != NULL ? "api_key" : "secret", "%s", why);
        supported = false;
    }
    int base_rc = read_api_base(&e, pk, supported, provider_rc, info->provider_shown);
    if (base_rc == SL_OK)
        build_origin(pk);
    info->needs_family = provider_rc == SL_ENOENT && !has_adapter;
    info->needs_base = base_rc == SL_ENOENT;
    info->bad = l->diag->count != errors;
    if (pk->api_key != NULL) {
        size_t n = strlen(pk->api_key);
        pk->auth_header = sl_xmalloc(n + 8);
        memcpy(pk->auth_header, "Bearer ", 7);
        memcpy(pk->auth_header + 7, pk->api_key, n + 1);
    }
}

void sl__res_load_provider_keys(struct sl__res_loader *l, const struct sl_yaml_node *node)
{
    size_t n = sl__res_collection_len(l, "provider_keys", node);
    struct sl_resources *r = l->r;
    r->provider_keys = sl_xcalloc(n != 0 ? n : 1, sizeof(*r->provider_keys));
    r->n_provider_keys = n;
    l->keys = sl_xcalloc(n != 0 ? n : 1, sizeof(*l->keys));
    for (size_t i = 0; i < n; i++)
        load_one(l, i, node->items[i]);
    const char **names = sl_xcalloc(n != 0 ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = r->provider_keys[i].name;
    sl__res_names_build(l, &l->provider_keys, "provider_keys", node, names);
    free(names);
}

/* The key's display_name quoted for a message (its raw text when interpolated). */
static const char *key_quoted(struct sl__res_loader *l, size_t i, char *buf, size_t cap)
{
    const char *name = l->r->provider_keys[i].name;
    const struct sl__res_name *n = sl__res_names_find(&l->provider_keys, sl_str_from_cstr(name));
    return sl__cfg_quote(buf, cap, n != NULL ? n->shown : sl_str_from_cstr(name));
}

/* A problem of provider_keys[i] found while reading a model. */
static void key_error(struct sl__res_loader *l, size_t i, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void key_error(struct sl__res_loader *l, size_t i, const char *field, const char *fmt, ...)
{
    const struct sl_provider_key *pk = &l->r->provider_keys[i];
    const struct sl__res_name *n =
        sl__res_names_find(&l->provider_keys, sl_str_from_cstr(pk->name));
    char label[192], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl__res_label(label, sizeof(label), "provider_keys", i, n != NULL ? n->shown : SL_STR_NULL);
    sl_diag_add(l->diag, pk->line, "%s: %s: %s", label, field, msg);
}

/* A base read with OpenAI's rules before the models said the family is Anthropic's: Anthropic's
 * rules apply to it (they drop a pasted /v1, which the provider adds back). */
static void renormalize_anthropic(struct sl_provider_key *pk)
{
    struct sl_buf b;
    const char *why;
    sl_buf_init(&b, SL__RES_TEXT_MAX);
    if (sl_url_normalize_anthropic_base(sl_str_from_cstr(pk->api_base), &b, &why) == SL_OK) {
        free(pk->api_base);
        pk->api_base = sl_str_dup(sl_buf_str(&b));
        sl_origin_dispose(&pk->origin);
        build_origin(pk);
    }
    sl_buf_dispose(&b);
}

/* The model's vendor settles a key that had none: the wire family (when the key has no
 * adapter) and the default api_base (when it has none). */
static void settle(struct sl__res_entry *e, size_t i, const char *vendor)
{
    struct sl__res_loader *l = e->l;
    struct sl__res_key_info *info = &l->keys[i];
    struct sl_provider_key *pk = &l->r->provider_keys[i];
    char shown[96], kq[96];
    const struct sl_yaml_node *pn = sl_yaml_map_get(e->map, "provider");
    key_quoted(l, i, kq, sizeof(kq));
    sl__cfg_quote(shown, sizeof(shown), sl__res_printable(pn, vendor));
    info->settled = true;
    info->vendor = vendor;
    if (info->needs_family) {
        char why[256];
        pk->adapter = family_of_vendor(vendor);
        if (pk->adapter == SL_ADAPTER_ANTHROPIC && pk->api_base != NULL)
            renormalize_anthropic(pk);
        if (pk->adapter == SL_ADAPTER_BEDROCK && !read_aws(pk, why, sizeof(why))) {
            key_error(l, i, "api_key", "%s (a bedrock key, as %s says)", why, e->label);
            return;
        }
    }
    if (!info->needs_base)
        return;
    pk->api_base = default_base(pk, vendor);
    if (pk->api_base == NULL && pk->adapter == SL_ADAPTER_BEDROCK) {
        key_error(l, i, "api_base", "%s", bedrock_base_hint);
        return;
    }
    if (pk->api_base == NULL) {
        key_error(l, i, "api_base",
                  "required for provider %s, taken from %s because the key sets no provider (the "
                  "default " OPENAI_DEFAULT_BASE " applies only to provider openai)",
                  shown, e->label);
        return;
    }
    build_origin(pk);
}

const char *sl__res_key_use(struct sl__res_entry *e, size_t key_index, const char *model_provider)
{
    struct sl__res_loader *l = e->l;
    struct sl__res_key_info *info = &l->keys[key_index];
    const struct sl_provider_key *pk = &l->r->provider_keys[key_index];
    bool pending = info->needs_family || info->needs_base;
    char kq[96];
    if (pending && !info->settled && !info->bad && model_provider != NULL)
        settle(e, key_index, model_provider);
    if (pk->provider != NULL)
        return pk->provider;
    if (info->vendor != NULL)
        return info->vendor;
    if (!pending)
        return pk->adapter == SL_ADAPTER_ANTHROPIC ? "anthropic"
               : pk->adapter == SL_ADAPTER_BEDROCK ? "bedrock"
                                                   : "openai"; /* the adapter's */
    if (model_provider == NULL && !info->bad)
        sl__res_error(e, 0, "provider",
                      "required: provider key %s sets neither provider nor %s, so the model's "
                      "provider decides %s",
                      key_quoted(l, key_index, kq, sizeof(kq)),
                      info->needs_family ? "adapter" : "api_base",
                      info->needs_family ? "the wire family"
                                         : "whether the default api_base "
                                           "applies");
    return NULL;
}
