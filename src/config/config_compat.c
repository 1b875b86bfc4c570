/* AISIX blocks that Sluice accepts because they are switched off. AISIX's own files (its example
 * config, its test harness, its benchmark scripts) spell out blocks at their defaults, such as
 * `observability.tracing.otlp.enabled: false` or `managed.enabled: false`; such a block does
 * nothing in AISIX either, so refusing it would only make a compatible file fail. A block that
 * would switch a feature on is still refused, naming the feature. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"

#include "config_internal.h"

/* What a rule decides about a block's value. */
struct verdict {
    char *why; /* filled with the feature the block needs when it is not inert */
    size_t cap;
};

typedef bool inert_fn(const struct sl_yaml_node *v, struct verdict *out);

struct inert_rule {
    const char *path;
    inert_fn *check;
    const char *note; /* appended to "<path>: " in the info line */
};

static bool is_plain(const struct sl_yaml_node *n, const char *text)
{
    return n->kind == SL_YAML_SCALAR && n->style == SL_YAML_PLAIN &&
           sl_str_ieq(n->value, sl_str_from_cstr(text));
}

/* True when map (a mapping) has no key outside allowed (NULL-terminated). */
static bool only_keys(const struct sl_yaml_node *map, const char *const *allowed)
{
    for (size_t i = 0; i < map->n; i++) {
        bool found = false;
        for (size_t j = 0; !found && allowed[j] != NULL; j++)
            found = sl_str_eq(map->pairs[i].key->value, sl_str_from_cstr(allowed[j]));
        if (!found)
            return false;
    }
    return true;
}

/* A mapping (or null) with only the allowed keys. */
static bool is_block(const struct sl_yaml_node *v, const char *const *allowed)
{
    return sl_yaml_is_null(v) || (v->kind == SL_YAML_MAP && only_keys(v, allowed));
}

static const struct sl_yaml_node *get(const struct sl_yaml_node *map, const char *key)
{
    if (sl_yaml_is_null(map))
        return NULL;
    const struct sl_yaml_node *n = sl_yaml_map_get(map, key);
    return n != NULL && !sl_yaml_is_null(n) ? n : NULL;
}

/* enabled: absent, null or false (AISIX's default is false for every block checked here). */
static bool is_disabled(const struct sl_yaml_node *map, const char *what, struct verdict *out)
{
    const struct sl_yaml_node *e = get(map, "enabled");
    if (e == NULL || is_plain(e, "false"))
        return true;
    if (is_plain(e, "true"))
        snprintf(out->why, out->cap, "enabled: true needs %s", what);
    return false;
}

static bool empty_list(const struct sl_yaml_node *v)
{
    return v == NULL || sl_yaml_is_null(v) || (v->kind == SL_YAML_SEQ && v->n == 0);
}

static bool metrics_otlp(const struct sl_yaml_node *v, struct verdict *out)
{
    static const char *const keys[] = {"enabled", "endpoint", NULL};
    return is_block(v, keys) && is_disabled(v, "OTLP metrics export", out);
}

static bool tracing(const struct sl_yaml_node *v, struct verdict *out)
{
    static const char *const keys[] = {"otlp", NULL};
    static const char *const otlp_keys[] = {"enabled", "endpoint", "sample_ratio", NULL};
    if (!is_block(v, keys))
        return false;
    const struct sl_yaml_node *otlp = get(v, "otlp");
    return otlp == NULL || (is_block(otlp, otlp_keys) && is_disabled(otlp, "OTLP tracing", out));
}

static bool managed(const struct sl_yaml_node *v, struct verdict *out)
{
    static const char *const keys[] = {"enabled", NULL};
    return is_block(v, keys) && is_disabled(v, "AISIX Cloud managed mode", out);
}

static bool url_rewrites(const struct sl_yaml_node *v, struct verdict *out)
{
    if (empty_list(v))
        return true;
    snprintf(out->why, out->cap, "rules need URL rewriting");
    return false;
}

static bool client_type_rules(const struct sl_yaml_node *v, struct verdict *out)
{
    if (empty_list(v))
        return true;
    snprintf(out->why, out->cap, "rules need the per-client token metric");
    return false;
}

/* An empty string means unset in AISIX. */
static bool bedrock_endpoint(const struct sl_yaml_node *v, struct verdict *out)
{
    SL_UNUSED(out);
    return sl_yaml_is_null(v) || (v->kind == SL_YAML_SCALAR && v->value.len == 0);
}

static const struct inert_rule rules[] = {
    {"observability.metrics.otlp", metrics_otlp,
     "switched off; accepted and ignored (sluice has no OTLP metrics export)"},
    {"observability.tracing", tracing,
     "switched off; accepted and ignored (sluice has no OTLP tracing)"},
    {"managed", managed, "switched off; accepted and ignored"},
    {"proxy.url_rewrites", url_rewrites, "no rules; accepted"},
    {"observability.metrics.client_type_rules", client_type_rules, "no rules; accepted"},
    {"bedrock_endpoint_url", bedrock_endpoint, "empty means unset; accepted"},
};

bool sl__cfg_compat_inert(const struct sl__cfg_key *k, const struct sl_yaml_node *value, char *note,
                          size_t note_cap, char *why, size_t why_cap)
{
    struct verdict out = {why, why_cap};
    SL_ASSERT(k->type == SL__CFG_UNSUPPORTED);
    why[0] = '\0';
    for (size_t i = 0; i < SL_ARRAY_LEN(rules); i++) {
        if (strcmp(rules[i].path, k->path) != 0)
            continue;
        if (!rules[i].check(value, &out))
            return false;
        snprintf(note, note_cap, "%s", rules[i].note);
        return true;
    }
    return false;
}
