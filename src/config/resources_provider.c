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
#define BEDROCK_DEFAULT_BASE  "https://bedrock-runtime.%s.amazonaws.com"
#define GEMINI_DEFAULT_BASE   "https://generativelanguage.googleapis.com/v1beta"
#define AZURE_DEFAULT_VERSION "2024-10-21"
#define MAX_API_VERSION       64

enum {
    F_DISPLAY_NAME = 0,
    F_PROVIDER,
    F_API_KEY,
    F_SECRET,
    F_API_BASE,
    F_ADAPTER,
    F_API_VERSION,
    F_CAPABILITIES,
};

/* clang-format off */
static const struct sl__res_field fields[] = {
    [F_DISPLAY_NAME] = {"display_name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_PROVIDER] = {"provider", SL__RES_STRING, 0, 0, NULL},
    [F_API_KEY] = {"api_key", SL__RES_SECRET, 0, 0, NULL},
    [F_SECRET] = {"secret", SL__RES_SECRET, 0, 0, NULL},
    [F_API_BASE] = {"api_base", SL__RES_STRING, 0, 0, NULL},
    [F_ADAPTER] = {"adapter", SL__RES_STRING, 0, 0, NULL},
    [F_API_VERSION] = {"api_version", SL__RES_STRING, 0, 0, NULL},
    [F_CAPABILITIES] = {"capabilities", SL__RES_LIST, 0, 0, NULL},
    {"request", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"response", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"strip_headers", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"tls", SL__RES_UNSUPPORTED, 0, 0, "set upstream.tls in config.yaml"},
    {"telemetry_tags", SL__RES_UNSUPPORTED, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema schema = {"provider_keys", fields, SL_ARRAY_LEN(fields)};

/* Adapters of the reference gateway that Sluice has no wire family for yet. */

/* The adapter names Sluice serves, by family. */
static const struct {
    const char *name;
    enum sl_adapter family;
} adapters[] = {
    {"openai", SL_ADAPTER_OPENAI},
    {"anthropic", SL_ADAPTER_ANTHROPIC},
    {"azure-openai", SL_ADAPTER_AZURE_OPENAI},
    {"gemini", SL_ADAPTER_GEMINI},
    {"vertex", SL_ADAPTER_VERTEX},
    {"bedrock", SL_ADAPTER_BEDROCK},
};

/* Vendors with a family of their own; every other vendor is OpenAI-compatible. */
static const struct {
    const char *vendor;
    enum sl_adapter family;
} vendor_families[] = {
    {"anthropic", SL_ADAPTER_ANTHROPIC}, {"azure-openai", SL_ADAPTER_AZURE_OPENAI},
    {"azure", SL_ADAPTER_AZURE_OPENAI},  {"gemini", SL_ADAPTER_GEMINI},
    {"vertex", SL_ADAPTER_VERTEX},       {"google-vertex", SL_ADAPTER_VERTEX},
    {"bedrock", SL_ADAPTER_BEDROCK},     {"amazon-bedrock", SL_ADAPTER_BEDROCK},
};

/* The family a vendor name implies when the key sets no adapter. */
static enum sl_adapter family_of_vendor(const char *vendor)
{
    for (size_t i = 0; vendor != NULL && i < SL_ARRAY_LEN(vendor_families); i++)
        if (strcmp(vendor, vendor_families[i].vendor) == 0)
            return vendor_families[i].family;
    return SL_ADAPTER_OPENAI;
}

static const char *family_name(enum sl_adapter family)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(adapters); i++)
        if (adapters[i].family == family)
            return adapters[i].name;
    return "openai";
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
    for (size_t i = 0; i < SL_ARRAY_LEN(adapters); i++) {
        if (sl_str_eq(a, sl_str_from_cstr(adapters[i].name))) {
            pk->adapter = adapters[i].family;
            sl__res_val_dispose(&v);
            return SL_OK;
        }
    }
    sl__res_error(e, v.node->line, "adapter",
                  "expected one of openai, anthropic, azure-openai, gemini, vertex, bedrock, got "
                  "%s",
                  sl__res_show(&v, shown, sizeof(shown)));
    sl__res_val_dispose(&v);
    return SL_EPARSE;
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
    /* A JSON credential (a YAML block scalar may hold line breaks) is checked when parsed. */
    for (size_t i = 0; i < v.len && !sl__res_cred_looks_json(v.text); i++) {
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

/* The capabilities a vendor has without saying: OpenAI's own API speaks Responses; a compatible
 * server (vLLM, DeepSeek, a local model) is assumed to speak chat completions only. */
static unsigned default_caps(enum sl_adapter family, const char *vendor)
{
    return family == SL_ADAPTER_OPENAI && vendor != NULL && strcmp(vendor, "openai") == 0
               ? SL_CAP_RESPONSES
               : 0;
}

/* capabilities: a list of names, each once ("responses"); [] switches the vendor's default
 * off. Returns true when the file set the field (valid or not). */
static bool read_capabilities(struct sl__res_entry *e, struct sl_provider_key *pk)
{
    const struct sl_yaml_node *list;
    int rc = sl__res_list(e, F_CAPABILITIES, &list);
    if (rc == SL_ENOENT)
        return false;
    if (rc != SL_OK)
        return true;
    for (size_t i = 0; i < list->n; i++) {
        struct sl__res_val v;
        char what[64], shown[256];
        snprintf(what, sizeof(what), "capabilities[%zu]", i);
        if (sl__res_scalar(e, what, list->items[i], false, &v) != SL_OK)
            continue;
        if (!sl_str_eq_lit(sl_str_init(v.text, v.len), "responses"))
            sl__res_error(e, v.node->line, what, "expected responses, got %s",
                          sl__res_show(&v, shown, sizeof(shown)));
        else if ((pk->caps & SL_CAP_RESPONSES) != 0)
            sl__res_error(e, v.node->line, what, "responses is listed twice");
        else
            pk->caps |= SL_CAP_RESPONSES;
        sl__res_val_dispose(&v);
    }
    return true;
}

/* Responses is OpenAI's own wire: only a key of the openai family speaks it (Azure OpenAI's
 * Responses API is not wired). */
static bool caps_fit_family(const struct sl_provider_key *pk)
{
    return (pk->caps & SL_CAP_RESPONSES) == 0 || pk->adapter == SL_ADAPTER_OPENAI;
}

static char *bracketed_host(struct sl_str host, bool ipv6)
{
    return ipv6 ? sl_xasprintf("[%.*s]", (int)host.len, host.ptr) : sl_str_dup(host);
}

int sl__res_origin(const char *url, struct sl_origin *o, char **path)
{
    struct sl_url u;
    const char *why;
    if (sl_url_parse(sl_str_from_cstr(url), &u, &why) != SL_OK)
        return SL_EPARSE;
    struct sl_str p = u.path;
    while (p.len > 0 && p.ptr[p.len - 1] == '/')
        p.len--;
    o->tls = u.tls;
    o->host = sl_str_dup(u.host);
    for (char *c = o->host; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    o->port = u.port;
    o->base_path = sl_str_dup(p);
    char *h = bracketed_host(sl_str_from_cstr(o->host), u.host_is_ipv6);
    if (u.port == (u.tls ? 443 : 80))
        o->authority = sl_xstrdup(h);
    else
        o->authority = sl_xasprintf("%s:%u", h, (unsigned)u.port);
    o->key = sl_xasprintf("%s://%s:%u", u.tls ? "https" : "http", h, (unsigned)u.port);
    free(h);
    if (path != NULL)
        *path = sl_xstrdup(o->base_path);
    return SL_OK;
}

/* Fills the origin from a normalised base URL (which parses by construction). */
static void build_origin(struct sl_provider_key *pk)
{
    int rc = sl__res_origin(pk->api_base, &pk->origin, NULL);
    SL_ASSERT(rc == SL_OK);
}

/* The default api_base of a key, when its family or vendor has one: OpenAI's for provider
 * openai, Anthropic's and Gemini's for their families, Vertex AI's regional endpoint for the
 * credential's region, Bedrock's runtime endpoint for the AWS credentials' region (the
 * reference: other OpenAI-compatible vendors, Azure and Bedrock API keys must set theirs). A new
 * string, or NULL. */
static char *default_base(const struct sl_provider_key *pk, const char *vendor)
{
    switch (pk->adapter) {
    case SL_ADAPTER_ANTHROPIC:
        return sl_xstrdup(ANTHROPIC_DEFAULT_BASE);
    case SL_ADAPTER_GEMINI:
        return sl_xstrdup(GEMINI_DEFAULT_BASE);
    case SL_ADAPTER_VERTEX:
        if (pk->cred.region == NULL)
            return NULL;
        if (strcmp(pk->cred.region, "global") == 0)
            return sl_xstrdup("https://aiplatform.googleapis.com");
        return sl_xasprintf("https://%s-aiplatform.googleapis.com", pk->cred.region);
    case SL_ADAPTER_BEDROCK:
        return pk->aws != NULL ? sl_xasprintf(BEDROCK_DEFAULT_BASE, pk->aws->region) : NULL;
    case SL_ADAPTER_AZURE_OPENAI:
        return NULL;
    case SL_ADAPTER_OPENAI:
        break;
    }
    return vendor != NULL && strcmp(vendor, "openai") == 0 ? sl_xstrdup(OPENAI_DEFAULT_BASE) : NULL;
}

/* Why a key of this family has no default base, for the "required" message. */
static const char *base_hint(enum sl_adapter family)
{
    if (family == SL_ADAPTER_AZURE_OPENAI)
        return "https://<resource>.openai.azure.com: it has no default";
    if (family == SL_ADAPTER_BEDROCK)
        return "required for a Bedrock API key (it names no region): set "
               "https://bedrock-runtime.<region>.amazonaws.com, or give api_key as the JSON object "
               "{\"access_key_id\", \"secret_access_key\", \"session_token\"?, \"region\"}";
    return "the default " OPENAI_DEFAULT_BASE " applies only to provider openai";
}

/* Normalises a base URL by the family's rules (url.h). */
static int normalize_base(enum sl_adapter family, struct sl_str text, struct sl_buf *b,
                          const char **why)
{
    static const struct sl_str azure[] = {SL_STR_INIT("/openai")};
    static const struct sl_str gemini[] = {SL_STR_INIT("/models")};
    static const struct sl_str vertex[] = {SL_STR_INIT("/v1")};
    switch (family) {
    case SL_ADAPTER_ANTHROPIC:
        return sl_url_normalize_anthropic_base(text, b, why);
    case SL_ADAPTER_AZURE_OPENAI:
        return sl_url_normalize_base(text, azure, 1, SL_STR_NULL, b, why);
    case SL_ADAPTER_GEMINI:
        return sl_url_normalize_base(text, gemini, 1, SL_STRLIT("/v1beta"), b, why);
    case SL_ADAPTER_VERTEX:
        return sl_url_normalize_base(text, vertex, 1, SL_STR_NULL, b, why);
    case SL_ADAPTER_BEDROCK:
        return sl_url_normalize_plain_base(text, b, why);
    case SL_ADAPTER_OPENAI:
        break;
    }
    return sl_url_normalize_openai_base(text, b, why);
}

/* Normalises api_base (or applies the family's default) into pk->api_base. Returns SL_ENOENT
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
    if (rc == SL_ENOENT && provider_rc == SL_ENOENT && pk->adapter == SL_ADAPTER_OPENAI)
        return SL_ENOENT;
    if (rc == SL_ENOENT) {
        char q[96];
        pk->api_base = default_base(pk, pk->provider);
        if (pk->api_base != NULL)
            return SL_OK;
        if (pk->adapter == SL_ADAPTER_VERTEX)
            return SL_EPARSE; /* no credential, so no region: reported with api_key */
        if (pk->adapter == SL_ADAPTER_BEDROCK)
            sl__res_error(e, 0, "api_base", "%s", base_hint(pk->adapter));
        else if (pk->adapter == SL_ADAPTER_AZURE_OPENAI)
            sl__res_error(e, 0, "api_base", "required for the azure-openai family (%s)",
                          base_hint(pk->adapter));
        else
            sl__res_error(e, 0, "api_base", "required for provider %s (%s)",
                          sl__cfg_quote(q, sizeof(q), provider_shown), base_hint(pk->adapter));
        return SL_EPARSE;
    }
    if (rc != SL_OK)
        return rc;
    sl_buf_init(&b, SL__RES_TEXT_MAX);
    rc = normalize_base(pk->adapter, sl_str_init(v.text, v.len), &b, &why);
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

/* What the key's family needs from api_key: a JSON credential for vertex (always) and
 * azure-openai (when api_key is one), the default api-version for azure-openai. Returns 0, or
 * SL_EPARSE with the reason for "api_key: <why>". */
static int family_credential(struct sl_provider_key *pk, char *why, size_t whylen)
{
    bool json = pk->api_key != NULL && sl__res_cred_looks_json(pk->api_key);
    if (pk->adapter == SL_ADAPTER_AZURE_OPENAI && pk->api_version == NULL)
        pk->api_version = sl_xstrdup(AZURE_DEFAULT_VERSION);
    if (pk->api_key == NULL || pk->cred.kind != SL_CRED_KEY || pk->aws != NULL)
        return SL_OK;
    /* Bedrock: the AWS credentials object (signed requests) or a Bedrock API key (a bearer). */
    if (json && pk->adapter == SL_ADAPTER_BEDROCK && sl__res_aws_is_json(pk->api_key))
        return sl__res_aws_parse(pk->api_key, &pk->aws, why, whylen);
    if (pk->adapter == SL_ADAPTER_VERTEX && !json) {
        snprintf(why, whylen,
                 "the vertex family needs a JSON credential: {\"access_token\", \"project\", "
                 "\"region\"} or a service account key");
        return SL_EPARSE;
    }
    if (json && (pk->adapter == SL_ADAPTER_VERTEX || pk->adapter == SL_ADAPTER_AZURE_OPENAI))
        return sl__res_cred_parse(pk->adapter, pk->api_key, &pk->cred, why, whylen);
    /* A key that only looked like JSON (read_api_key let it keep line breaks) is a header. */
    for (const char *c = pk->api_key; json && *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            snprintf(why, whylen,
                     "control characters are not allowed (the key is sent in an HTTP header)");
            return SL_EPARSE;
        }
    }
    return SL_OK;
}

/* api_version: Azure OpenAI's api-version query value. */
static int read_api_version(struct sl__res_entry *e, struct sl_provider_key *pk)
{
    struct sl__res_val v;
    char shown[256];
    int rc = sl__res_string(e, F_API_VERSION, &v);
    if (rc != SL_OK)
        return rc == SL_ENOENT ? SL_OK : rc;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.text[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '.' || c == '_';
        if (!ok || v.len > MAX_API_VERSION) {
            sl__res_error(e, v.node->line, "api_version",
                          "expected a version such as 2024-10-21 (letters, digits, '-', '.', "
                          "'_'), got %s",
                          sl__res_show(&v, shown, sizeof(shown)));
            sl__res_val_dispose(&v);
            return SL_EPARSE;
        }
    }
    pk->api_version = sl__res_val_take(&v);
    return SL_OK;
}

/* api_version belongs to the azure-openai family only. */
static bool api_version_misplaced(const struct sl_provider_key *pk)
{
    return pk->api_version != NULL && pk->adapter != SL_ADAPTER_AZURE_OPENAI;
}

static void load_one(struct sl__res_loader *l, size_t i, const struct sl_yaml_node *item)
{
    struct sl_provider_key *pk = &l->r->provider_keys[i];
    struct sl__res_key_info *info = &l->keys[i];
    struct sl__res_entry e;
    bool has_adapter = false;
    char why[256];
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
    if (pk->adapter == SL_ADAPTER_BEDROCK && pk->api_key == NULL)
        supported = false; /* reported: the base is only a question once there is a key */
    info->needs_family = provider_rc == SL_ENOENT && !has_adapter;
    bool version_ok = read_api_version(&e, pk) == SL_OK;
    if (supported && !info->needs_family && version_ok && api_version_misplaced(pk))
        sl__res_error(&e, e.keys[F_API_VERSION]->line, "api_version",
                      "applies only to the azure-openai family (this key's family is %s)",
                      family_name(pk->adapter));
    if (supported && !info->needs_family && family_credential(pk, why, sizeof(why)) != SL_OK)
        sl__res_error(&e, e.values[F_API_KEY] != NULL ? e.values[F_API_KEY]->line : 0,
                      e.values[F_API_KEY] != NULL ? "api_key" : "secret", "%s", why);
    /* No region without a credential (vertex; bedrock's AWS object): reported with api_key. */
    int base_rc = l->diag->count == errors ||
                          (pk->adapter != SL_ADAPTER_VERTEX && pk->adapter != SL_ADAPTER_BEDROCK)
                      ? read_api_base(&e, pk, supported, provider_rc, info->provider_shown)
                      : SL_EPARSE;
    if (base_rc == SL_OK)
        build_origin(pk);
    info->caps_set = read_capabilities(&e, pk);
    if (!info->caps_set)
        pk->caps = default_caps(pk->adapter, pk->provider);
    else if (supported && !caps_fit_family(pk))
        sl__res_error(&e, e.keys[F_CAPABILITIES]->line, "capabilities",
                      "responses needs the openai adapter (this key's family is %s)",
                      family_name(pk->adapter));
    info->needs_base = base_rc == SL_ENOENT;
    info->bad = l->diag->count != errors;
    if (pk->api_key != NULL && pk->cred.kind == SL_CRED_KEY) {
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

/* A base read with OpenAI's rules before the models said the key's family: that family's rules
 * apply to it (Anthropic's drop a pasted /v1, which the provider adds back). */
static void renormalize(struct sl_provider_key *pk)
{
    struct sl_buf b;
    const char *why;
    sl_buf_init(&b, SL__RES_TEXT_MAX);
    if (normalize_base(pk->adapter, sl_str_from_cstr(pk->api_base), &b, &why) == SL_OK) {
        free(pk->api_base);
        pk->api_base = sl_str_dup(sl_buf_str(&b));
        sl_origin_dispose(&pk->origin);
        build_origin(pk);
    }
    sl_buf_dispose(&b);
}

/* The model's vendor settles a key that had none: the wire family (when the key has no
 * adapter), what that family needs from api_key, and the default api_base (when it has none). */
static void settle(struct sl__res_entry *e, size_t i, const char *vendor)
{
    struct sl__res_loader *l = e->l;
    struct sl__res_key_info *info = &l->keys[i];
    struct sl_provider_key *pk = &l->r->provider_keys[i];
    char shown[96], kq[96], why[256];
    const struct sl_yaml_node *pn = sl_yaml_map_get(e->map, "provider");
    key_quoted(l, i, kq, sizeof(kq));
    sl__cfg_quote(shown, sizeof(shown), sl__res_printable(pn, vendor));
    info->settled = true;
    info->vendor = vendor;
    if (info->needs_family) {
        pk->adapter = family_of_vendor(vendor);
        if (pk->adapter != SL_ADAPTER_OPENAI && pk->api_base != NULL)
            renormalize(pk);
        if (api_version_misplaced(pk))
            key_error(l, i, "api_version",
                      "applies only to the azure-openai family (the key's family is %s, from "
                      "%s)",
                      family_name(pk->adapter), e->label);
        if (family_credential(pk, why, sizeof(why)) != SL_OK) {
            key_error(l, i, "api_key", "%s (the family %s comes from %s)", why,
                      family_name(pk->adapter), e->label);
            return;
        }
    }
    if (!info->caps_set)
        pk->caps = default_caps(pk->adapter, vendor);
    else if (!caps_fit_family(pk))
        key_error(l, i, "capabilities",
                  "responses needs the openai adapter (the key's family is %s, from %s)",
                  family_name(pk->adapter), e->label);
    if (!info->needs_base)
        return;
    pk->api_base = default_base(pk, vendor);
    if (pk->api_base == NULL) {
        key_error(l, i, "api_base",
                  "required for provider %s, taken from %s because the key sets no provider "
                  "(%s)",
                  shown, e->label, base_hint(pk->adapter));
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
        return family_name(pk->adapter); /* the adapter's */
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
