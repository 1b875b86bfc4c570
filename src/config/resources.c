#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/base.h"
#include "sluice/resources.h"
#include "sluice/yaml.h"

#include "config_internal.h"
#include "interpolate.h"
#include "resources_internal.h"
#include "text.h"

#define MAX_DIST 2

/* Collections of the reference gateway that Sluice does not implement yet. An empty one (null
 * or []) is accepted so a file exported from the reference loads; any entry is an error. */
static const char *const unsupported_collections[] = {
    "guardrails",     "mcp_servers",    "a2a_agents",         "observability_exporters",
    "oidc_providers", "claim_mappings", "passthrough_routes", "mcp_auth_settings",
};

static const char *const top_level_keys[] = {
    "_format_version", "provider_keys",       "models",
    "api_keys",        "rate_limit_policies", "cache_policies",
};

enum {
    TOP_VERSION = 0,
    TOP_PROVIDER_KEYS,
    TOP_MODELS,
    TOP_API_KEYS,
    TOP_POLICIES,
    TOP_CACHE_POLICIES,
    TOP_N
};

static bool is_unsupported_collection(struct sl_str key)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(unsupported_collections); i++) {
        if (sl_str_eq(key, sl_str_from_cstr(unsupported_collections[i])))
            return true;
    }
    return false;
}

static void report_unknown_top(struct sl__res_loader *l, const struct sl_yaml_node *key)
{
    char shown[256], hint[96] = "";
    size_t best = SL_ARRAY_LEN(top_level_keys), best_d = MAX_DIST + 1;
    for (size_t i = 0; i < SL_ARRAY_LEN(top_level_keys); i++) {
        size_t d = sl__edit_distance(key->value, sl_str_from_cstr(top_level_keys[i]), MAX_DIST);
        if (d < best_d) {
            best = i;
            best_d = d;
        }
    }
    if (best < SL_ARRAY_LEN(top_level_keys))
        snprintf(hint, sizeof(hint), " (did you mean %s?)", top_level_keys[best]);
    sl_diag_add(l->diag, key->line, "%s: unknown key%s",
                sl__cfg_display(shown, sizeof(shown), key->value), hint);
}

static void check_unsupported_collection(struct sl__res_loader *l, const struct sl_yaml_node *key,
                                         const struct sl_yaml_node *value)
{
    bool empty = sl_yaml_is_null(value) || (value->kind == SL_YAML_SEQ && value->n == 0);
    if (!empty)
        sl_diag_add(l->diag, key->line, "%.*s: not supported by sluice yet",
                    SL_STR_FMT(key->value));
}

/* _format_version must be the quoted string "1" (after interpolation, which keeps quoting). */
static void check_version(struct sl__res_loader *l, const struct sl_yaml_node *v)
{
    struct sl__interp in;
    char why[256], q[96];
    if (v == NULL) {
        sl_diag_add(l->diag, 0, "(file): missing mandatory _format_version (expected \"1\")");
        return;
    }
    if (v->kind != SL_YAML_SCALAR || sl_yaml_is_null(v)) {
        sl_diag_add(l->diag, v->line, "_format_version: expected the quoted string \"1\", got %s",
                    sl_yaml_describe(v));
        return;
    }
    if (sl__interpolate(v->value, l->envp, SL__RES_VALUE_MAX, &in) != SL_OK) {
        sl_diag_add(l->diag, v->line, "_format_version: %s",
                    sl__interp_describe(&in, why, sizeof(why)));
        return;
    }
    struct sl_str shown = in.refs != 0 ? v->value : sl_str_init(in.text, in.len);
    if (v->style == SL_YAML_PLAIN)
        sl_diag_add(l->diag, v->line,
                    "_format_version: expected the quoted string \"1\", got unquoted %s%s",
                    sl__cfg_display(q, sizeof(q), shown), in.refs != 0 ? " (interpolated)" : "");
    else if (!sl_str_eq_lit(sl_str_init(in.text, in.len), "1"))
        sl_diag_add(l->diag, v->line, "_format_version: unsupported version %s%s (expected \"1\")",
                    sl__cfg_quote(q, sizeof(q), shown), in.refs != 0 ? " (interpolated)" : "");
    free(in.text);
}

static void load_root(struct sl__res_loader *l, const struct sl_yaml_node *root)
{
    const struct sl_yaml_node *top[TOP_N] = {0};
    if (root != NULL && !sl_yaml_is_null(root) && root->kind != SL_YAML_MAP) {
        sl_diag_add(l->diag, root->line, "the top level must be a mapping, got %s",
                    sl_yaml_describe(root));
        return;
    }
    for (size_t i = 0; root != NULL && root->kind == SL_YAML_MAP && i < root->n; i++) {
        const struct sl_yaml_node *key = root->pairs[i].key, *value = root->pairs[i].value;
        size_t t = 0;
        while (t < TOP_N && !sl_str_eq(key->value, sl_str_from_cstr(top_level_keys[t])))
            t++;
        if (t < TOP_N)
            top[t] = value;
        else if (is_unsupported_collection(key->value))
            check_unsupported_collection(l, key, value);
        else
            report_unknown_top(l, key);
    }
    check_version(l, top[TOP_VERSION]);
    /* Dependency order: models name provider keys, api keys name models, policies name both. */
    sl__res_load_provider_keys(l, top[TOP_PROVIDER_KEYS]);
    sl__res_load_models(l, top[TOP_MODELS]);
    sl__res_load_api_keys(l, top[TOP_API_KEYS]);
    sl__res_load_policies(l, top[TOP_POLICIES]);
    sl__res_load_cache_policies(l, top[TOP_CACHE_POLICIES]);
}

struct model_pos {
    const char *name;
    size_t pos;
};

static int cmp_model_pos(const void *pa, const void *pb)
{
    const struct model_pos *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

/* Sorts r->models by name and returns each sorted model's position in the file (caller frees).
 * Names are unique (checked), so the order is total. */
static size_t *sort_models(struct sl_resources *r)
{
    size_t n = r->n_models;
    struct model_pos *v = sl_xcalloc(n != 0 ? n : 1, sizeof(*v));
    size_t *pos = sl_xcalloc(n != 0 ? n : 1, sizeof(*pos));
    struct sl_model *sorted = sl_xcalloc(n != 0 ? n : 1, sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct model_pos){r->models[i].name, i};
    qsort(v, n, sizeof(*v), cmp_model_pos);
    for (size_t i = 0; i < n; i++) {
        pos[i] = v[i].pos;
        sorted[i] = r->models[v[i].pos];
    }
    free(v);
    free(r->models);
    r->models = sorted;
    return pos;
}

struct diag_order {
    struct sl_diag_entry e;
    size_t i;
};

static int cmp_diag(const void *pa, const void *pb)
{
    const struct diag_order *a = pa, *b = pb;
    if (a->e.line != b->e.line)
        return a->e.line < b->e.line ? -1 : 1;
    return a->i < b->i ? -1 : (a->i > b->i);
}

/* Problems are found collection by collection; print them in file order (file-level ones first,
 * ties in the order found). */
static void sort_diag(struct sl_diag *d, size_t from)
{
    size_t n = d->count - from;
    if (n < 2)
        return;
    struct diag_order *v = sl_xmalloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct diag_order){d->entries[from + i], i};
    qsort(v, n, sizeof(*v), cmp_diag);
    for (size_t i = 0; i < n; i++)
        d->entries[from + i] = v[i].e;
    free(v);
}

int sl_resources_parse(const char *data, size_t len, const char *name, char *const *envp,
                       struct sl_resources **out, struct sl_diag *diag)
{
    struct sl_yaml_doc doc;
    size_t before = diag->count;
    struct sl_resources *r = sl_xcalloc(1, sizeof(*r));
    struct sl__res_loader l = {.r = r, .diag = diag, .envp = envp};
    *out = NULL;
    r->file = sl_xstrdup(name != NULL ? name : "");
    if (sl_yaml_parse(data != NULL ? data : "", len, &doc, diag) == SL_OK) {
        load_root(&l, doc.root);
        /* The name tables point into the document: drop them first. */
        sl__res_names_dispose(&l.provider_keys);
        sl__res_names_dispose(&l.models);
        sl__res_names_dispose(&l.api_keys);
        free(l.keys);
        free(l.wildcards);
        sl_yaml_doc_dispose(&doc);
    }
    if (diag->count != before) {
        sort_diag(diag, before);
        sl_resources_free(r);
        return SL_ERR;
    }
    size_t *pos = sort_models(r);
    sl__res_link_targets(r, pos);
    sl__res_index_build(r, pos);
    free(pos);
    *out = r;
    return SL_OK;
}

int sl_resources_load(const char *path, char *const *envp, struct sl_resources **out,
                      struct sl_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    int err = sl__yaml_read_file(path, SL_YAML_MAX_BYTES, &data, &len);
    if (err == EFBIG) {
        sl_diag_add(diag, 0, "cannot read resources file: larger than %u bytes", SL_YAML_MAX_BYTES);
        return SL_ERR;
    }
    if (err != 0) {
        sl_diag_add(diag, 0, "cannot read resources file: %s", strerror(err));
        return SL_ERR;
    }
    int rc = sl_resources_parse(data, len, path, envp, out, diag);
    /* The file may hold upstream keys in plain text. */
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

static void free_secret(char **p)
{
    if (*p != NULL)
        OPENSSL_cleanse(*p, strlen(*p));
    free(*p);
    *p = NULL;
}

static void free_provider_key(struct sl_provider_key *k)
{
    free(k->name);
    free(k->provider);
    free(k->api_base);
    sl_origin_dispose(&k->origin);
    free_secret(&k->api_key);
    free_secret(&k->auth_header);
    sl__res_aws_free(k->aws);
    k->aws = NULL;
    sl__res_cred_dispose(&k->cred);
    free(k->api_version);
}

static void free_model(struct sl_model *m)
{
    free(m->name);
    free(m->provider);
    free(m->model_name);
    free(m->model_name_json);
    free(m->bucket);
    sl__res_routing_free(m->routing);
    free(m->allowed_cidrs);
    sl__res_health_check_free(m->health_check);
}

static void free_api_key(struct sl_api_key *k)
{
    free(k->name);
    for (size_t i = 0; i < k->n_allowed_models; i++)
        free(k->allowed_models[i]);
    free(k->allowed_models);
    free(k->team_id);
    free(k->user_id);
    free(k->bucket);
    free(k->team_bucket);
    free(k->member_bucket);
    OPENSSL_cleanse(k->digest, sizeof(k->digest));
}

void sl_resources_free(struct sl_resources *r)
{
    if (r == NULL)
        return;
    if (r->_unbind != NULL)
        r->_unbind(r);
    sl__res_index_free(r->_index);
    for (size_t i = 0; i < r->n_provider_keys; i++)
        free_provider_key(&r->provider_keys[i]);
    for (size_t i = 0; i < r->n_models; i++)
        free_model(&r->models[i]);
    for (size_t i = 0; i < r->n_api_keys; i++)
        free_api_key(&r->api_keys[i]);
    for (size_t i = 0; i < r->n_policies; i++)
        sl__res_policy_free(&r->policies[i]);
    free(r->policies);
    for (size_t i = 0; i < r->n_cache_policies; i++)
        sl__res_cache_policy_free(&r->cache_policies[i]);
    free(r->cache_policies);
    free(r->provider_keys);
    free(r->models);
    free(r->api_keys);
    free(r->file);
    free(r);
}
