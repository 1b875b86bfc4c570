/* cache_policies (reference 3.9 and 9): name, enabled, applies_to (all, model:<name>,
 * api_key:<name>), backend (memory or redis), scope (api_key or env), ttl_seconds and
 * purge_generation. In a file, the names after model: and api_key: are display names, checked
 * against models and api_keys. Whether a redis policy has a Redis to talk to (cache.redis) is
 * config.yaml's business: the cache module says so when the two meet (docs/cache.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"

#include "resources_internal.h"

enum {
    F_NAME = 0,
    F_ENABLED,
    F_APPLIES_TO,
    F_BACKEND,
    F_SCOPE,
    F_TTL,
    F_PURGE,
    F_SEMANTIC,
};

/* clang-format off */
static const struct sl__res_field fields[] = {
    [F_NAME] = {"name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_ENABLED] = {"enabled", SL__RES_BOOL, 0, 0, NULL},
    [F_APPLIES_TO] = {"applies_to", SL__RES_STRING, 0, 0, NULL},
    [F_BACKEND] = {"backend", SL__RES_STRING, 0, 0, NULL},
    [F_SCOPE] = {"scope", SL__RES_STRING, 0, 0, NULL},
    [F_TTL] = {"ttl_seconds", SL__RES_UINT, 0, SL_CACHE_TTL_MAX, NULL},
    [F_PURGE] = {"purge_generation", SL__RES_UINT, 0, UINT64_MAX, NULL},
    [F_SEMANTIC] = {"semantic", SL__RES_UNSUPPORTED, 0, 0,
                    "semantic caching needs an embedding model; only exact caching is built"},
};
/* clang-format on */

static const struct sl__res_schema schema = {"cache_policies", fields, SL_ARRAY_LEN(fields)};

static const char *const backends[] = {"memory", "redis", NULL};
static const char *const scopes[] = {"api_key", "env", NULL};

/* One of words for row, or -1 (absent: def; bad: reported). */
static int word(struct sl__res_entry *e, size_t row, const char *const *words, int def)
{
    struct sl__res_val v;
    char shown[256], list[128] = "";
    int rc = sl__res_string(e, row, &v);
    if (rc == SL_ENOENT)
        return def;
    if (rc != SL_OK)
        return -1;
    for (int i = 0; words[i] != NULL; i++) {
        if (strcmp(v.text, words[i]) == 0) {
            sl__res_val_dispose(&v);
            return i;
        }
    }
    size_t o = 0;
    for (int i = 0; words[i] != NULL && o < sizeof(list); i++) {
        int k = snprintf(list + o, sizeof(list) - o, "%s%s", i == 0 ? "" : " or ", words[i]);
        o += k > 0 ? (size_t)k : 0;
    }
    sl__res_error(e, v.node->line, fields[row].name, "expected %s, got %s", list,
                  sl__res_show(&v, shown, sizeof(shown)));
    sl__res_val_dispose(&v);
    return -1;
}

/* applies_to: all, model:<name> or api_key:<name>, the name defined in the file. */
static void read_applies_to(struct sl__res_entry *e, struct sl_cache_policy *p)
{
    struct sl__res_val v;
    char shown[256];
    if (sl__res_string(e, F_APPLIES_TO, &v) != SL_OK)
        return; /* absent: all */
    struct sl_str s = sl_str_init(v.text, v.len), name = SL_STR_NULL;
    const struct sl__res_names *names = NULL;
    const char *collection = NULL;
    if (sl_str_eq_lit(s, "all")) {
        p->applies = SL_CACHE_APPLIES_ALL;
    } else if (sl_str_starts_with(s, SL_STRLIT("model:"))) {
        p->applies = SL_CACHE_APPLIES_MODEL;
        name = sl_str_init(s.ptr + 6, s.len - 6);
        names = &e->l->models;
        collection = "models";
    } else if (sl_str_starts_with(s, SL_STRLIT("api_key:"))) {
        p->applies = SL_CACHE_APPLIES_API_KEY;
        name = sl_str_init(s.ptr + 8, s.len - 8);
        names = &e->l->api_keys;
        collection = "api_keys";
    } else {
        sl__res_error(e, v.node->line, "applies_to",
                      "expected all, model:<name> or api_key:<name>, got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
        return;
    }
    if (names != NULL && name.len == 0) {
        sl__res_error(e, v.node->line, "applies_to", "%s: the name after the colon is missing",
                      sl__res_show(&v, shown, sizeof(shown)));
    } else if (names != NULL && sl__res_names_find(names, name) == NULL) {
        sl__res_error(e, v.node->line, "applies_to", "%s: \"%.*s\" is not defined in %s",
                      sl__res_show(&v, shown, sizeof(shown)), (int)SL_MIN(name.len, 128), name.ptr,
                      collection);
    } else if (names != NULL) {
        p->applies_ref = sl_str_dup(name);
    }
    sl__res_val_dispose(&v);
}

static void load_one(struct sl__res_loader *l, size_t i, const struct sl_yaml_node *item)
{
    struct sl_cache_policy *p = &l->r->cache_policies[i];
    struct sl__res_entry e;
    size_t errors = l->diag->count;
    *p = (struct sl_cache_policy){
        .line = item->line, .enabled = true, .ttl_secs = SL_CACHE_TTL_DEFAULT};
    if (!sl__res_entry_begin(l, &schema, i, item, &e, &p->name))
        return;
    (void)sl__res_bool(&e, F_ENABLED, &p->enabled);
    read_applies_to(&e, p);
    int b = word(&e, F_BACKEND, backends, SL_CACHE_BACKEND_MEMORY);
    p->backend = b == 1 ? SL_CACHE_BACKEND_REDIS : SL_CACHE_BACKEND_MEMORY;
    int s = word(&e, F_SCOPE, scopes, SL_CACHE_SCOPE_API_KEY);
    p->scope = s == 1 ? SL_CACHE_SCOPE_ENV : SL_CACHE_SCOPE_API_KEY;
    uint64_t ttl = SL_CACHE_TTL_DEFAULT;
    if (sl__res_uint(&e, F_TTL, &ttl) == SL_OK && ttl == 0)
        sl__res_error(&e, e.values[F_TTL]->line, "ttl_seconds", "expected 1 to %u seconds, got 0",
                      SL_CACHE_TTL_MAX);
    p->ttl_secs = ttl;
    (void)sl__res_uint(&e, F_PURGE, &p->purge_generation);
    if (p->name != NULL && l->diag->count == errors)
        sl__res_derive_id("cache_policies", p->name, p->id);
}

void sl__res_load_cache_policies(struct sl__res_loader *l, const struct sl_yaml_node *node)
{
    size_t n = sl__res_collection_len(l, "cache_policies", node);
    struct sl_resources *r = l->r;
    r->cache_policies = sl_xcalloc(n != 0 ? n : 1, sizeof(*r->cache_policies));
    r->n_cache_policies = n;
    for (size_t i = 0; i < n; i++)
        load_one(l, i, node->items[i]);
    const char **names = sl_xcalloc(n != 0 ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = r->cache_policies[i].name;
    struct sl__res_names t;
    sl__res_names_build(l, &t, "cache_policies", node, names);
    sl__res_names_dispose(&t);
    free(names);
}

void sl__res_cache_policy_free(struct sl_cache_policy *p)
{
    free(p->name);
    free(p->applies_ref);
    *p = (struct sl_cache_policy){0};
}
