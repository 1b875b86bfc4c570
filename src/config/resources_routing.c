/* Model groups (models[].routing) and the direct-model blocks routing reads: cooldown, cost,
 * allowed_cidrs and background_model_check. Shapes and defaults are the reference gateway's
 * (its schemas/resources/model.schema.json and routing.schema.json); every problem names the
 * entry and the field's path, e.g. models[3] ("chat"): routing.targets[1].weight: ... */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"

#include "config_internal.h"
#include "resources_internal.h"

const char *const sl_route_strategy_names[SL_ROUTE_STRATEGIES] = {
    [SL_ROUTE_FAILOVER] = "failover",
    [SL_ROUTE_ROUND_ROBIN] = "round_robin",
    [SL_ROUTE_CONSISTENT_HASH] = "consistent_hash",
    [SL_ROUTE_LEAST_COST] = "least_cost",
    [SL_ROUTE_LEAST_LATENCY] = "least_latency",
    [SL_ROUTE_LEAST_BUSY] = "least_busy",
};

#define YEAR_SECS 31536000u
/* The reference's defaults when a request (not the file) names the key: its own header first. */
#define DEFAULT_HASH_HEADER       "x-sluice-routing-key"
#define DEFAULT_HASH_HEADER_AISIX "x-aisix-routing-key"
#define MAX_TAGS                  32
#define MAX_HEADER_NAME           128

/* ---- cooldown ---- */

enum {
    C_ENABLED = 0,
    C_DEFAULT_SECONDS,
    C_MAX_SECONDS,
    C_HONOR_RETRY_AFTER,
    C_TRIGGER_STATUSES,
    C_TRIGGER_ON_TIMEOUT,
    C_TRIGGER_ON_TRANSPORT,
};

/* clang-format off */
static const struct sl__res_field cooldown_fields[] = {
    [C_ENABLED] = {"enabled", SL__RES_BOOL, 0, 0, NULL},
    [C_DEFAULT_SECONDS] = {"default_seconds", SL__RES_UINT, 0, YEAR_SECS, NULL},
    [C_MAX_SECONDS] = {"max_seconds", SL__RES_UINT, 0, YEAR_SECS, NULL},
    [C_HONOR_RETRY_AFTER] = {"honor_retry_after", SL__RES_BOOL, 0, 0, NULL},
    [C_TRIGGER_STATUSES] = {"trigger_statuses", SL__RES_LIST, 0, 0, NULL},
    [C_TRIGGER_ON_TIMEOUT] = {"trigger_on_timeout", SL__RES_BOOL, 0, 0, NULL},
    [C_TRIGGER_ON_TRANSPORT] = {"trigger_on_transport", SL__RES_BOOL, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema cooldown_schema = {"models", cooldown_fields,
                                                      SL_ARRAY_LEN(cooldown_fields)};

static void cooldown_defaults(struct sl_cooldown *c)
{
    static const int triggers[] = {401, 408, 429, 500, 502, 503, 504};
    *c = (struct sl_cooldown){.enabled = true,
                              .default_seconds = 30,
                              .max_seconds = 600,
                              .honor_retry_after = true,
                              .trigger_on_timeout = true,
                              .trigger_on_transport = true};
    for (size_t i = 0; i < SL_ARRAY_LEN(triggers); i++)
        sl_status_set_add(&c->trigger, triggers[i]);
}

static void read_cooldown(struct sl__res_entry *e, const struct sl_yaml_node *node,
                          struct sl_cooldown *c)
{
    struct sl__res_entry sub;
    uint64_t max;
    if (!sl__res_sub_begin(e, &cooldown_schema, "cooldown", node, &sub))
        return;
    (void)sl__res_bool(&sub, C_ENABLED, &c->enabled);
    (void)sl__res_uint(&sub, C_DEFAULT_SECONDS, &c->default_seconds);
    if (sl__res_uint(&sub, C_MAX_SECONDS, &max) == SL_OK) {
        if (max == 0)
            sl__res_error(&sub, sub.values[C_MAX_SECONDS]->line, "max_seconds",
                          "expected an integer from 1 to %u, got 0", YEAR_SECS);
        else
            c->max_seconds = max;
    }
    (void)sl__res_bool(&sub, C_HONOR_RETRY_AFTER, &c->honor_retry_after);
    (void)sl__res_statuses(&sub, C_TRIGGER_STATUSES, 100, &c->trigger);
    (void)sl__res_bool(&sub, C_TRIGGER_ON_TIMEOUT, &c->trigger_on_timeout);
    (void)sl__res_bool(&sub, C_TRIGGER_ON_TRANSPORT, &c->trigger_on_transport);
}

/* ---- cost ---- */

enum { K_INPUT = 0, K_OUTPUT };

static const struct sl__res_field cost_fields[] = {
    [K_INPUT] = {"input_per_1k", SL__RES_NUMBER, SL__RES_REQUIRED, 0, NULL},
    [K_OUTPUT] = {"output_per_1k", SL__RES_NUMBER, SL__RES_REQUIRED, 0, NULL},
};

static const struct sl__res_schema cost_schema = {"models", cost_fields, SL_ARRAY_LEN(cost_fields)};

static void read_cost(struct sl__res_entry *e, const struct sl_yaml_node *node,
                      struct sl_model_cost *c)
{
    struct sl__res_entry sub;
    if (!sl__res_sub_begin(e, &cost_schema, "cost", node, &sub))
        return;
    bool in = sl__res_number(&sub, K_INPUT, &c->input_per_1k) == SL_OK;
    bool out = sl__res_number(&sub, K_OUTPUT, &c->output_per_1k) == SL_OK;
    c->set = in && out;
}

/* ---- background_model_check ---- */

enum {
    H_ENABLED = 0,
    H_INTERVAL,
    H_TIMEOUT,
    H_PROMPT,
    H_MAX_TOKENS,
    H_STALE_AFTER,
    H_IGNORE,
};

/* clang-format off */
static const struct sl__res_field check_fields[] = {
    [H_ENABLED] = {"enabled", SL__RES_BOOL, SL__RES_REQUIRED, 0, NULL},
    [H_INTERVAL] = {"interval_seconds", SL__RES_UINT, SL__RES_REQUIRED, YEAR_SECS, NULL},
    [H_TIMEOUT] = {"timeout_seconds", SL__RES_UINT, SL__RES_REQUIRED, 3600, NULL},
    [H_PROMPT] = {"prompt", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [H_MAX_TOKENS] = {"max_tokens", SL__RES_UINT, SL__RES_REQUIRED, UINT32_MAX, NULL},
    [H_STALE_AFTER] = {"stale_after_seconds", SL__RES_UINT, SL__RES_REQUIRED, YEAR_SECS, NULL},
    [H_IGNORE] = {"ignore_statuses", SL__RES_LIST, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema check_schema = {"models", check_fields,
                                                   SL_ARRAY_LEN(check_fields)};

/* A minimum the schema states (interval >= 5, the others >= 1). */
static void at_least(struct sl__res_entry *sub, size_t row, uint64_t v, uint64_t min)
{
    if (v < min)
        sl__res_error(sub, sub->values[row]->line, check_fields[row].name,
                      "expected an integer from %llu to %llu, got %llu", (unsigned long long)min,
                      (unsigned long long)check_fields[row].max, (unsigned long long)v);
}

static void read_check(struct sl__res_entry *e, const struct sl_yaml_node *node, struct sl_model *m)
{
    struct sl__res_entry sub;
    struct sl__res_val prompt;
    if (!sl__res_sub_begin(e, &check_schema, "background_model_check", node, &sub))
        return;
    struct sl_health_check *hc = sl_xcalloc(1, sizeof(*hc));
    m->health_check = hc;
    (void)sl__res_bool(&sub, H_ENABLED, &hc->enabled);
    if (sl__res_uint(&sub, H_INTERVAL, &hc->interval_seconds) == SL_OK)
        at_least(&sub, H_INTERVAL, hc->interval_seconds, 5);
    if (sl__res_uint(&sub, H_TIMEOUT, &hc->timeout_seconds) == SL_OK)
        at_least(&sub, H_TIMEOUT, hc->timeout_seconds, 1);
    if (sl__res_uint(&sub, H_MAX_TOKENS, &hc->max_tokens) == SL_OK)
        at_least(&sub, H_MAX_TOKENS, hc->max_tokens, 1);
    if (sl__res_uint(&sub, H_STALE_AFTER, &hc->stale_after_seconds) == SL_OK)
        at_least(&sub, H_STALE_AFTER, hc->stale_after_seconds, 1);
    if (sl__res_string(&sub, H_PROMPT, &prompt) == SL_OK)
        hc->prompt = sl__res_val_take(&prompt);
    (void)sl__res_statuses(&sub, H_IGNORE, 100, &hc->ignore);
    /* The reference skips a wildcard silently; say so instead. */
    if (m->is_wildcard)
        sl__res_error(e, node->line, "background_model_check",
                      "a wildcard model has no single upstream model to check");
}

void sl__res_health_check_free(struct sl_health_check *hc)
{
    if (hc == NULL)
        return;
    free(hc->prompt);
    free(hc);
}

void sl__res_read_direct_blocks(struct sl__res_entry *e, struct sl_model *m,
                                const struct sl_yaml_node *cooldown,
                                const struct sl_yaml_node *cost, const struct sl_yaml_node *check)
{
    cooldown_defaults(&m->cooldown);
    if (cooldown != NULL && !sl_yaml_is_null(cooldown))
        read_cooldown(e, cooldown, &m->cooldown);
    if (cost != NULL && !sl_yaml_is_null(cost))
        read_cost(e, cost, &m->cost);
    if (check != NULL && !sl_yaml_is_null(check))
        read_check(e, check, m);
}

/* ---- allowed_cidrs ---- */

void sl__res_read_cidrs(struct sl__res_entry *e, size_t row, struct sl_model *m)
{
    const struct sl_yaml_node *list;
    if (sl__res_list(e, row, &list) != SL_OK)
        return;
    m->allowed_cidrs = sl_xcalloc(list->n != 0 ? list->n : 1, sizeof(*m->allowed_cidrs));
    for (size_t i = 0; i < list->n; i++) {
        struct sl__res_val v;
        char what[64], shown[256];
        snprintf(what, sizeof(what), "allowed_cidrs[%zu]", i);
        if (sl__res_scalar(e, what, list->items[i], false, &v) != SL_OK)
            continue;
        /* A bare address is refused (the reference's ipnet skips it: it never matches). */
        struct sl_cidr *c = &m->allowed_cidrs[m->n_allowed_cidrs];
        if (sl_cidr_parse(sl_str_init(v.text, v.len), false, c) == SL_OK)
            m->n_allowed_cidrs++;
        else
            sl__res_error(e, list->items[i]->line, what,
                          "expected a CIDR range such as 10.0.0.0/8 or fd00::/8 (one address is "
                          "10.1.2.3/32), got %s",
                          sl__res_show(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
    }
}

/* ---- routing ---- */

enum {
    R_TARGETS = 0,
    R_STRATEGY,
    R_HASH_ON,
    R_MAX_FALLBACKS,
    R_RETRIES,
    R_RETRY_ON_429,
    R_FALLBACK_ON,
    R_WHEN_ALL,
};

/* clang-format off */
static const struct sl__res_field routing_fields[] = {
    [R_TARGETS] = {"targets", SL__RES_LIST, SL__RES_REQUIRED, 0, NULL},
    [R_STRATEGY] = {"strategy", SL__RES_STRING, 0, 0, NULL},
    [R_HASH_ON] = {"hash_on", SL__RES_LIST, 0, 0, NULL},
    [R_MAX_FALLBACKS] = {"max_fallbacks", SL__RES_UINT, 0, UINT32_MAX, NULL},
    [R_RETRIES] = {"retries", SL__RES_UINT, 0, SL__RES_MAX_RETRIES, NULL},
    [R_RETRY_ON_429] = {"retry_on_429", SL__RES_BOOL, 0, 0, NULL},
    [R_FALLBACK_ON] = {"fallback_on_statuses", SL__RES_LIST, 0, 0, NULL},
    [R_WHEN_ALL] = {"when_all_unavailable", SL__RES_STRING, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema routing_schema = {"models", routing_fields,
                                                     SL_ARRAY_LEN(routing_fields)};

enum { T_MODEL = 0, T_WEIGHT, T_PRIORITY, T_TAGS };

/* clang-format off */
static const struct sl__res_field target_fields[] = {
    [T_MODEL] = {"model", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [T_WEIGHT] = {"weight", SL__RES_UINT, 0, UINT32_MAX, NULL},
    [T_PRIORITY] = {"priority", SL__RES_INT, 0, INT32_MAX, NULL},
    [T_TAGS] = {"tags", SL__RES_LIST, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema target_schema = {"models", target_fields,
                                                    SL_ARRAY_LEN(target_fields)};

enum { O_TYPE = 0, O_NAME };

static const struct sl__res_field hash_fields[] = {
    [O_TYPE] = {"type", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [O_NAME] = {"name", SL__RES_STRING, 0, 0, NULL},
};

static const struct sl__res_schema hash_schema = {"models", hash_fields, SL_ARRAY_LEN(hash_fields)};

/* Reads one of a row's words; returns its index in words, or -1 after reporting. */
static int read_word(struct sl__res_entry *e, size_t row, const char *const *words, size_t n,
                     const char *expected)
{
    struct sl__res_val v;
    char shown[256];
    if (sl__res_string(e, row, &v) != SL_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (sl_str_eq(sl_str_init(v.text, v.len), sl_str_from_cstr(words[i]))) {
            sl__res_val_dispose(&v);
            return (int)i;
        }
    }
    sl__res_error(e, v.node->line, e->schema->fields[row].name, "expected %s, got %s", expected,
                  sl__res_show(&v, shown, sizeof(shown)));
    sl__res_val_dispose(&v);
    return -1;
}

static void read_tags(struct sl__res_entry *sub, struct sl_route_target *t)
{
    const struct sl_yaml_node *list;
    if (sl__res_list(sub, T_TAGS, &list) != SL_OK)
        return;
    if (list->n > MAX_TAGS) {
        sl__res_error(sub, list->line, "tags", "at most %d tags, got %zu", MAX_TAGS, list->n);
        return;
    }
    t->tags = sl_xcalloc(list->n != 0 ? list->n : 1, sizeof(*t->tags));
    for (size_t i = 0; i < list->n; i++) {
        struct sl__res_val v;
        char what[32];
        snprintf(what, sizeof(what), "tags[%zu]", i);
        if (sl__res_scalar(sub, what, list->items[i], false, &v) == SL_OK)
            t->tags[t->n_tags++] = sl__res_val_take(&v);
        sl__res_val_dispose(&v);
    }
}

static void read_target(struct sl__res_entry *e, size_t i, const struct sl_yaml_node *node,
                        struct sl_route_target *t)
{
    struct sl__res_entry sub;
    struct sl__res_val model;
    char prefix[64];
    uint64_t weight = 1;
    int64_t priority = 0;
    snprintf(prefix, sizeof(prefix), "routing.targets[%zu]", i);
    t->weight = 1;
    if (!sl__res_sub_begin(e, &target_schema, prefix, node, &sub))
        return;
    if (sl__res_string(&sub, T_MODEL, &model) == SL_OK) {
        t->_line = model.node->line;
        t->_name = sl__res_val_take(&model);
    }
    sl__res_val_dispose(&model);
    if (sl__res_uint(&sub, T_WEIGHT, &weight) == SL_OK)
        t->weight = (uint32_t)weight;
    if (sl__res_int(&sub, T_PRIORITY, &priority) == SL_OK)
        t->priority = (int32_t)SL_MAX(priority, (int64_t)INT32_MIN);
    read_tags(&sub, t);
}

static void read_targets(struct sl__res_entry *e, struct sl_routing *rt)
{
    const struct sl_yaml_node *list;
    if (sl__res_list(e, R_TARGETS, &list) != SL_OK)
        return;
    if (list->n == 0 || list->n > SL_ROUTE_MAX_TARGETS) {
        sl__res_error(e, list->line, "targets", "expected 1 to %d targets, got %zu",
                      SL_ROUTE_MAX_TARGETS, list->n);
        return;
    }
    rt->targets = sl_xcalloc(list->n, sizeof(*rt->targets));
    rt->n_targets = list->n;
    for (size_t i = 0; i < list->n; i++) {
        read_target(e, i, list->items[i], &rt->targets[i]);
        rt->tagged = rt->tagged || rt->targets[i].n_tags != 0;
    }
}

static bool is_header_name(struct sl_str s)
{
    if (s.len == 0 || s.len > MAX_HEADER_NAME)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

static void read_hash_source(struct sl__res_entry *e, size_t i, const struct sl_yaml_node *node,
                             struct sl_hash_on *h)
{
    static const char *const types[] = {"header", "cookie", "api_key", "client_ip"};
    struct sl__res_entry sub;
    struct sl__res_val name;
    char prefix[64], shown[256];
    snprintf(prefix, sizeof(prefix), "routing.hash_on[%zu]", i);
    if (!sl__res_sub_begin(e, &hash_schema, prefix, node, &sub))
        return;
    int type = read_word(&sub, O_TYPE, types, SL_ARRAY_LEN(types),
                         "one of header, cookie, api_key, client_ip");
    if (type < 0)
        return;
    h->type = (enum sl_hash_source)type;
    bool named = h->type == SL_HASH_HEADER || h->type == SL_HASH_COOKIE;
    int rc = sl__res_string(&sub, O_NAME, &name);
    if (rc == SL_ENOENT && named)
        sl__res_error(&sub, 0, "name", "required for type %s", types[type]);
    if (rc != SL_OK)
        return;
    if (!named)
        sl__res_error(&sub, name.node->line, "name", "not accepted for type %s", types[type]);
    else if (h->type == SL_HASH_HEADER && !is_header_name(sl_str_init(name.text, name.len)))
        sl__res_error(&sub, name.node->line, "name", "expected an HTTP header name, got %s",
                      sl__res_show(&name, shown, sizeof(shown)));
    else
        h->name = sl__res_val_take(&name);
    sl__res_val_dispose(&name);
    for (char *p = h->name; h->type == SL_HASH_HEADER && p != NULL && *p != '\0'; p++)
        *p = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
}

/* hash_on, or the default chain: Sluice's routing-key header, AISIX's, then the caller key. */
static void read_hash_on(struct sl__res_entry *e, struct sl_routing *rt)
{
    const struct sl_yaml_node *list;
    int rc = sl__res_list(e, R_HASH_ON, &list);
    if (rc == SL_OK && (list->n == 0 || list->n > SL_ROUTE_MAX_HASH_ON)) {
        sl__res_error(e, list->line, "hash_on", "expected 1 to %d sources, got %zu",
                      SL_ROUTE_MAX_HASH_ON, list->n);
        return;
    }
    if (rc == SL_OK && rt->strategy != SL_ROUTE_CONSISTENT_HASH) {
        sl__res_error(e, e->keys[R_HASH_ON]->line, "hash_on",
                      "only used by strategy consistent_hash (the strategy is %s)",
                      sl_route_strategy_names[rt->strategy]);
        return;
    }
    if (rc == SL_OK) {
        rt->hash_on = sl_xcalloc(list->n, sizeof(*rt->hash_on));
        rt->n_hash_on = list->n;
        for (size_t i = 0; i < list->n; i++)
            read_hash_source(e, i, list->items[i], &rt->hash_on[i]);
        return;
    }
    if (rc != SL_ENOENT || rt->strategy != SL_ROUTE_CONSISTENT_HASH)
        return;
    rt->hash_on = sl_xcalloc(3, sizeof(*rt->hash_on));
    rt->n_hash_on = 3;
    rt->hash_on[0] = (struct sl_hash_on){SL_HASH_HEADER, sl_xstrdup(DEFAULT_HASH_HEADER)};
    rt->hash_on[1] = (struct sl_hash_on){SL_HASH_HEADER, sl_xstrdup(DEFAULT_HASH_HEADER_AISIX)};
    rt->hash_on[2] = (struct sl_hash_on){SL_HASH_API_KEY, NULL};
}

void sl__res_read_routing(struct sl__res_entry *e, const struct sl_yaml_node *node,
                          struct sl_model *m)
{
    static const char *const when[] = {"fail", "try_anyway"};
    struct sl__res_entry sub;
    if (sl_yaml_is_null(node)) {
        sl__res_error(e, node->line, "routing", "expected a mapping, got null");
        return;
    }
    struct sl_routing *rt = sl_xcalloc(1, sizeof(*rt));
    m->routing = rt;
    if (!sl__res_sub_begin(e, &routing_schema, "routing", node, &sub))
        return;
    if (sub.values[R_STRATEGY] != NULL) {
        int s = read_word(&sub, R_STRATEGY, sl_route_strategy_names, SL_ROUTE_STRATEGIES,
                          "one of failover, round_robin, consistent_hash, least_cost, "
                          "least_latency, least_busy");
        rt->strategy = s >= 0 ? (enum sl_route_strategy)s : SL_ROUTE_FAILOVER;
    }
    read_targets(&sub, rt);
    read_hash_on(&sub, rt);
    rt->has_max_fallbacks = sl__res_uint(&sub, R_MAX_FALLBACKS, &rt->max_fallbacks) == SL_OK;
    rt->has_retries = sl__res_uint(&sub, R_RETRIES, &rt->retries) == SL_OK;
    (void)sl__res_bool(&sub, R_RETRY_ON_429, &rt->retry_on_429);
    (void)sl__res_statuses(&sub, R_FALLBACK_ON, 400, &rt->fallback_on);
    if (sub.values[R_WHEN_ALL] != NULL)
        rt->try_anyway = read_word(&sub, R_WHEN_ALL, when, 2, "fail or try_anyway") == 1;
}

/* ---- cross references ---- */

static void target_error(struct sl__res_loader *l, const struct sl_yaml_node *models, size_t i,
                         size_t t, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void target_error(struct sl__res_loader *l, const struct sl_yaml_node *models, size_t i,
                         size_t t, unsigned line, const char *fmt, ...)
{
    char label[192], msg[512];
    const struct sl_model *m = &l->r->models[i];
    const struct sl_yaml_node *dn = sl_yaml_map_get(models->items[i], "display_name");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl__res_label(label, sizeof(label), "models", i,
                  m->name != NULL ? sl__res_printable(dn, m->name) : SL_STR_NULL);
    sl_diag_add(l->diag, line, "%s: routing.targets[%zu].model: %s", label, t, msg);
}

static void check_target(struct sl__res_loader *l, const struct sl_yaml_node *models, size_t i,
                         size_t t)
{
    char q[96];
    struct sl_route_target *tg = &l->r->models[i].routing->targets[t];
    struct sl_str name = sl_str_from_cstr(tg->_name);
    sl__cfg_quote(q, sizeof(q), name);
    const struct sl__res_name *n = sl__res_names_find(&l->models, name);
    if (n == NULL) {
        target_error(l, models, i, t, tg->_line, "%s is not defined in models", q);
        return;
    }
    const struct sl_model *target = &l->r->models[n->index];
    tg->_file_index = n->index;
    if (n->index == i)
        target_error(l, models, i, t, tg->_line, "a model group cannot target itself");
    else if (target->kind == SL_MODEL_ROUTING)
        target_error(l, models, i, t, tg->_line,
                     "%s is a model group; targets name direct models (groups do not nest)", q);
    else if (target->is_wildcard)
        target_error(l, models, i, t, tg->_line,
                     "%s is a wildcard model; a target names one direct model", q);
    for (size_t u = 0; u < t; u++) {
        const char *other = l->r->models[i].routing->targets[u]._name;
        if (other != NULL && strcmp(other, tg->_name) == 0) {
            target_error(l, models, i, t, tg->_line, "%s is already targets[%zu]", q, u);
            break;
        }
    }
}

void sl__res_check_targets(struct sl__res_loader *l, const struct sl_yaml_node *models)
{
    struct sl_resources *r = l->r;
    for (size_t i = 0; i < r->n_models; i++) {
        const struct sl_routing *rt = r->models[i].routing;
        for (size_t t = 0; rt != NULL && t < rt->n_targets; t++) {
            if (rt->targets[t]._name != NULL)
                check_target(l, models, i, t);
        }
    }
}

void sl__res_link_targets(struct sl_resources *r, const size_t *pos)
{
    size_t n = r->n_models;
    size_t *sorted_at = sl_xcalloc(n != 0 ? n : 1, sizeof(*sorted_at));
    for (size_t i = 0; i < n; i++)
        sorted_at[pos[i]] = i;
    for (size_t i = 0; i < n; i++) {
        struct sl_routing *rt = r->models[i].routing;
        for (size_t t = 0; rt != NULL && t < rt->n_targets; t++) {
            struct sl_route_target *tg = &rt->targets[t];
            tg->model = &r->models[sorted_at[tg->_file_index]];
        }
    }
    free(sorted_at);
}

void sl__res_routing_free(struct sl_routing *rt)
{
    if (rt == NULL)
        return;
    for (size_t t = 0; t < rt->n_targets; t++) {
        for (size_t k = 0; k < rt->targets[t].n_tags; k++)
            free(rt->targets[t].tags[k]);
        free(rt->targets[t].tags);
        free(rt->targets[t]._name);
    }
    for (size_t h = 0; h < rt->n_hash_on; h++)
        free(rt->hash_on[h].name);
    free(rt->hash_on);
    free(rt->targets);
    free(rt);
}
