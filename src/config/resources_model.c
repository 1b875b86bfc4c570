#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/json.h"

#include "config_internal.h"
#include "resources_internal.h"

enum {
    F_DISPLAY_NAME = 0,
    F_PROVIDER_KEY,
    F_MODEL_NAME,
    F_PROVIDER,
    F_TIMEOUT,
    F_STREAM_TIMEOUT,
    F_RETRIES,
    F_PROVIDER_KEY_ID,
    F_ROUTING,
    F_ENSEMBLE,
    F_SEMANTIC,
    F_RATE_LIMIT,
    F_COOLDOWN,
    F_COST,
    F_ALLOWED_CIDRS,
    F_BACKGROUND_CHECK,
};

/* clang-format off */
static const struct sl__res_field fields[] = {
    [F_DISPLAY_NAME] = {"display_name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_PROVIDER_KEY] = {"provider_key", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_MODEL_NAME] = {"model_name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_PROVIDER] = {"provider", SL__RES_STRING, 0, 0, NULL},
    [F_TIMEOUT] = {"timeout", SL__RES_UINT, 0, SL__RES_YEAR_MS, NULL},
    [F_STREAM_TIMEOUT] = {"stream_timeout", SL__RES_UINT, 0, SL__RES_YEAR_MS, NULL},
    [F_RETRIES] = {"retries", SL__RES_UINT, 0, SL__RES_MAX_RETRIES, NULL},
    [F_PROVIDER_KEY_ID] = {"provider_key_id", SL__RES_REJECTED, 0, 0,
     "not accepted in a resources file; use provider_key with the key's display_name"},
    [F_ROUTING] = {"routing", SL__RES_MAP, 0, 0, NULL},
    [F_ENSEMBLE] = {"ensemble", SL__RES_UNSUPPORTED, 0, 0, "ensembles are not built yet"},
    [F_SEMANTIC] = {"semantic", SL__RES_UNSUPPORTED, 0, 0, "semantic routers are not built yet"},
    [F_RATE_LIMIT] = {"rate_limit", SL__RES_MAP, 0, 0, NULL},
    [F_COOLDOWN] = {"cooldown", SL__RES_MAP, 0, 0, NULL},
    [F_COST] = {"cost", SL__RES_MAP, 0, 0, NULL},
    [F_ALLOWED_CIDRS] = {"allowed_cidrs", SL__RES_LIST, 0, 0, NULL},
    [F_BACKGROUND_CHECK] = {"background_model_check", SL__RES_MAP, 0, 0, NULL},
    {"auto_prompt_caching", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"embedding", SL__RES_UNSUPPORTED, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema schema = {"models", fields, SL_ARRAY_LEN(fields)};

/* A wildcard name has exactly one '*'; more is an error. */
static void check_name(struct sl__res_entry *e, struct sl_model *m)
{
    char q[96];
    struct sl_str name = sl_str_from_cstr(m->name);
    size_t stars = sl__res_count_stars(name);
    m->is_wildcard = stars == 1;
    m->literal_len = name.len - stars;
    if (stars > 1)
        sl__res_error(
            e, e->values[F_DISPLAY_NAME]->line, "display_name",
            "a wildcard name has exactly one \"*\", got %s",
            sl__cfg_quote(q, sizeof(q), sl__res_printable(e->values[F_DISPLAY_NAME], m->name)));
}

/* Resolves provider_key to a key defined in provider_keys; returns the key's name entry. */
static const struct sl__res_name *read_key(struct sl__res_entry *e, struct sl_model *m)
{
    struct sl__res_val v;
    char shown[256];
    if (sl__res_string(e, F_PROVIDER_KEY, &v) != SL_OK)
        return NULL;
    const struct sl__res_name *k =
        sl__res_names_find(&e->l->provider_keys, sl_str_init(v.text, v.len));
    if (k == NULL)
        sl__res_error(e, v.node->line, "provider_key", "%s is not defined in provider_keys",
                      sl__res_name_of(&v, shown, sizeof(shown)));
    else
        m->key = &e->l->r->provider_keys[k->index];
    sl__res_val_dispose(&v);
    return k;
}

static void read_model_name(struct sl__res_entry *e, struct sl_model *m)
{
    struct sl__res_val v;
    char shown[256];
    if (sl__res_string(e, F_MODEL_NAME, &v) != SL_OK)
        return;
    size_t stars = sl__res_count_stars(sl_str_init(v.text, v.len));
    if (stars > 1)
        sl__res_error(e, v.node->line, "model_name", "a template has at most one \"*\", got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
    else if (stars == 1 && !m->is_wildcard && m->name != NULL)
        sl__res_error(e, v.node->line, "model_name",
                      "\"*\" is only allowed when display_name is a wildcard, got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
    else
        m->model_name = sl__res_val_take(&v);
    sl__res_val_dispose(&v);
}

/* The model's provider is its vendor label (/v1/models owned_by). As in the reference it may
 * differ from its key's: the key's provider or adapter picks the wire family. It only decides
 * the family and default api_base of a key that sets no provider (sl__res_key_use). Without
 * one the model inherits its key's. */
static void read_provider(struct sl__res_entry *e, struct sl_model *m,
                          const struct sl__res_name *key)
{
    struct sl__res_val v;
    char shown[256];
    int rc = sl__res_string(e, F_PROVIDER, &v);
    if (rc == SL_EPARSE)
        return;
    if (rc == SL_OK && !sl__res_is_vendor(sl_str_init(v.text, v.len))) {
        sl__res_error(e, v.node->line, "provider",
                      "expected a vendor name of lower-case letters, digits, \"-\", \"_\" and "
                      "\".\", got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
        return;
    }
    char *own = rc == SL_OK ? sl__res_val_take(&v) : NULL;
    const char *inherited = key != NULL ? sl__res_key_use(e, key->index, own) : NULL;
    if (own != NULL)
        m->provider = own;
    else if (inherited != NULL)
        m->provider = sl_xstrdup(inherited);
}

static void read_settings(struct sl__res_entry *e, struct sl_model *m)
{
    m->has_timeout = sl__res_uint(e, F_TIMEOUT, &m->timeout_ms) == SL_OK;
    m->has_stream_timeout = sl__res_uint(e, F_STREAM_TIMEOUT, &m->stream_timeout_ms) == SL_OK;
    m->has_retries = sl__res_uint(e, F_RETRIES, &m->retries) == SL_OK;
    sl__res_rate_limit(e, F_RATE_LIMIT, &m->rate_limit);
}

static void build_json(struct sl_model *m)
{
    struct sl_buf b;
    if (m->is_wildcard || m->model_name == NULL)
        return;
    sl_buf_init(&b, SIZE_MAX / 2);
    int rc = sl_json_escape(&b, sl_str_from_cstr(m->model_name));
    SL_ASSERT(rc == SL_OK);
    m->model_name_json = sl_str_dup(sl_buf_str(&b));
    sl_buf_dispose(&b);
}

/* What a model group may not carry (the reference's schema allows a group only display_name,
 * routing, timeout, stream_timeout, allowed_cidrs and rate_limit), and why. */
static const struct {
    size_t row;
    const char *why;
} not_on_groups[] = {
    {F_PROVIDER_KEY, "a group's targets name their own provider keys"},
    {F_MODEL_NAME, "a group's targets name their own upstream models"},
    {F_PROVIDER, "a group's targets name their own providers"},
    {F_RETRIES, "set routing.retries (a target's own retries still win)"},
    {F_COOLDOWN, "set cooldown on the target models"},
    {F_COST, "set cost on the target models"},
    {F_BACKGROUND_CHECK, "set background_model_check on the target models"},
};

/* A model group: routing plus the group-level timeouts, client ranges and rate limit (the
 * group's own bucket, checked at the gate; each target's at its attempt). */
static void load_group(struct sl__res_entry *e, struct sl_model *m)
{
    char q[96];
    m->kind = SL_MODEL_ROUTING;
    for (size_t i = 0; i < SL_ARRAY_LEN(not_on_groups); i++) {
        size_t row = not_on_groups[i].row;
        if (e->keys[row] != NULL)
            sl__res_error(e, e->keys[row]->line, fields[row].name,
                          "not allowed on a model group (a model with routing): %s",
                          not_on_groups[i].why);
    }
    if (m->name != NULL && sl__res_count_stars(sl_str_from_cstr(m->name)) != 0)
        sl__res_error(
            e, e->values[F_DISPLAY_NAME]->line, "display_name",
            "a model group's name cannot contain \"*\" (only direct models can be wildcards), got "
            "%s",
            sl__cfg_quote(q, sizeof(q), sl__res_printable(e->values[F_DISPLAY_NAME], m->name)));
    m->has_timeout = sl__res_uint(e, F_TIMEOUT, &m->timeout_ms) == SL_OK;
    m->has_stream_timeout = sl__res_uint(e, F_STREAM_TIMEOUT, &m->stream_timeout_ms) == SL_OK;
    sl__res_read_cidrs(e, F_ALLOWED_CIDRS, m);
    sl__res_rate_limit(e, F_RATE_LIMIT, &m->rate_limit);
    sl__res_read_routing(e, e->values[F_ROUTING], m);
    if (m->name != NULL)
        m->bucket = sl__res_bucket("m:", m->name);
}

static void load_one(struct sl__res_loader *l, size_t i, const struct sl_yaml_node *item)
{
    struct sl_model *m = &l->r->models[i];
    struct sl__res_entry e;
    m->line = item->line;
    if (!sl__res_entry_begin(l, &schema, i, item, &e, &m->name))
        return;
    /* An ensemble or semantic router has no provider_key or model_name (the reference refuses
     * them there): its one error is that Sluice does not build it yet. */
    if (e.values[F_ENSEMBLE] != NULL || e.values[F_SEMANTIC] != NULL)
        return;
    if (e.values[F_ROUTING] != NULL) {
        load_group(&e, m);
        return;
    }
    if (m->name != NULL)
        check_name(&e, m);
    const struct sl__res_name *key = read_key(&e, m);
    read_model_name(&e, m);
    read_provider(&e, m, key);
    read_settings(&e, m);
    sl__res_read_cidrs(&e, F_ALLOWED_CIDRS, m);
    sl__res_read_direct_blocks(&e, m, e.values[F_COOLDOWN], e.values[F_COST],
                               e.values[F_BACKGROUND_CHECK]);
    build_json(m);
    if (m->name != NULL)
        m->bucket = sl__res_bucket("m:", m->name);
}

void sl__res_load_models(struct sl__res_loader *l, const struct sl_yaml_node *node)
{
    size_t n = sl__res_collection_len(l, "models", node);
    struct sl_resources *r = l->r;
    r->models = sl_xcalloc(n != 0 ? n : 1, sizeof(*r->models));
    r->n_models = n;
    for (size_t i = 0; i < n; i++)
        load_one(l, i, node->items[i]);
    const char **names = sl_xcalloc(n != 0 ? n : 1, sizeof(*names));
    l->wildcards = sl_xcalloc(n != 0 ? n : 1, sizeof(*l->wildcards));
    for (size_t i = 0; i < n; i++) {
        names[i] = r->models[i].name;
        if (r->models[i].is_wildcard)
            l->wildcards[l->n_wildcards++] = &r->models[i];
    }
    sl__res_names_build(l, &l->models, "models", node, names);
    free(names);
    sl__res_check_targets(l, node);
}
