/* rate_limit_policies (reference 3.9): the classic form {scope, scope_ref, window, max_requests,
 * max_tokens} and the conditional form {conditions, group_by, limits, action}, both with
 * optional schedules that suspend them. A row is enforced exactly as written or refused whole.
 * In a file, scope_ref and condition values on the api_key and model dimensions are display
 * names, checked against api_keys and models. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sluice/base.h"
#include "sluice/tz.h"

#include "config_internal.h"
#include "interpolate.h"
#include "resources_internal.h"

/* The reference's caps on a condition tree (policy_conditions.rs). */
#define MAX_DEPTH     3
#define MAX_LEAVES    16
#define MAX_VALUES    64
#define MAX_REGEX_LEN 256
#define MAX_SCHEDULES 32
#define MAX_DATES     366
#define ZONEINFO_DIR  "/usr/share/zoneinfo"

enum {
    F_NAME = 0,
    F_SCOPE,
    F_SCOPE_REF,
    F_WINDOW,
    F_MAX_REQUESTS,
    F_MAX_TOKENS,
    F_CONDITIONS,
    F_GROUP_BY,
    F_LIMITS,
    F_ACTION,
    F_SCHEDULES,
};

/* clang-format off */
static const struct sl__res_field fields[] = {
    [F_NAME] = {"name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_SCOPE] = {"scope", SL__RES_STRING, 0, 0, NULL},
    [F_SCOPE_REF] = {"scope_ref", SL__RES_STRING, 0, 0, NULL},
    [F_WINDOW] = {"window", SL__RES_STRING, 0, 0, NULL},
    [F_MAX_REQUESTS] = {"max_requests", SL__RES_UINT, 0, 1ull << 48, NULL},
    [F_MAX_TOKENS] = {"max_tokens", SL__RES_UINT, 0, 1ull << 48, NULL},
    [F_CONDITIONS] = {"conditions", SL__RES_LIST, 0, 0, NULL},
    [F_GROUP_BY] = {"group_by", SL__RES_LIST, 0, 0, NULL},
    [F_LIMITS] = {"limits", SL__RES_MAP, 0, 0, NULL},
    [F_ACTION] = {"action", SL__RES_STRING, 0, 0, NULL},
    [F_SCHEDULES] = {"schedules", SL__RES_LIST, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema schema = {"rate_limit_policies", fields, SL_ARRAY_LEN(fields)};

static const char *const scopes[] = {"api_key", "model", "team", "member", "team_member", NULL};
static const char *const windows[] = {"second", "minute", "hour", "day", NULL};
static const char *const cond_dims[] = {"team",       "member",   "api_key", "model",
                                        "model_name", "provider", NULL};
static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

/* A word from words (NULL-terminated), or -1 after reporting what was expected. */
static int word(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                const char *const *words)
{
    struct sl__res_val v;
    char shown[256], list[256] = "";
    if (sl__res_scalar(e, what, n, false, &v) != SL_OK)
        return -1;
    for (int i = 0; words[i] != NULL; i++) {
        if (strcmp(v.text, words[i]) == 0) {
            sl__res_val_dispose(&v);
            return i;
        }
    }
    size_t o = 0;
    for (int i = 0; words[i] != NULL && o < sizeof(list); i++) {
        int k = snprintf(list + o, sizeof(list) - o, "%s%s", i == 0 ? "" : ", ", words[i]);
        o += k > 0 ? (size_t)k : 0;
    }
    sl__res_error(e, n->line, what, "expected one of %s, got %s", list,
                  sl__res_show(&v, shown, sizeof(shown)));
    sl__res_val_dispose(&v);
    return -1;
}

/* ---- names ---- */

static bool is_model_name(struct sl__res_loader *l, struct sl_str name)
{
    return sl__res_names_find(&l->models, name) != NULL;
}

static bool is_key_name(struct sl__res_loader *l, struct sl_str name)
{
    return sl__res_names_find(&l->api_keys, name) != NULL;
}

/* api_key and model values are display names in a file: they must name an entry. */
static bool check_name(struct sl__res_entry *e, const char *what, enum sl_cond_dim dim,
                       const struct sl__res_val *v)
{
    char shown[256];
    struct sl_str s = sl_str_init(v->text, v->len);
    if (dim == SL_COND_API_KEY && !is_key_name(e->l, s)) {
        sl__res_error(e, v->node->line, what, "%s is not defined in api_keys",
                      sl__res_name_of(v, shown, sizeof(shown)));
        return false;
    }
    if (dim == SL_COND_MODEL && !is_model_name(e->l, s)) {
        sl__res_error(e, v->node->line, what, "%s is not defined in models",
                      sl__res_name_of(v, shown, sizeof(shown)));
        return false;
    }
    return true;
}

/* ---- the classic form ---- */

static void read_classic(struct sl__res_entry *e, struct sl_rl_policy *p)
{
    struct sl__res_val ref;
    uint64_t n;
    int scope = -1, window = -1;
    if (e->values[F_SCOPE] == NULL || e->values[F_SCOPE_REF] == NULL ||
        e->values[F_WINDOW] == NULL) {
        sl__res_error(e, 0, NULL, "a classic policy needs scope, scope_ref and window");
        return;
    }
    if (e->values[F_MAX_REQUESTS] == NULL && e->values[F_MAX_TOKENS] == NULL) {
        sl__res_error(e, 0, NULL, "a classic policy needs max_requests or max_tokens");
        return;
    }
    scope = word(e, "scope", e->values[F_SCOPE], scopes);
    window = word(e, "window", e->values[F_WINDOW], windows);
    if (sl__res_string(e, F_SCOPE_REF, &ref) != SL_OK || scope < 0 || window < 0) {
        sl__res_val_dispose(&ref);
        return;
    }
    p->scope = (enum sl_policy_scope)scope;
    enum sl_cond_dim named = scope == SL_SCOPE_API_KEY ? SL_COND_API_KEY
                             : scope == SL_SCOPE_MODEL ? SL_COND_MODEL
                                                       : SL_COND_TEAM;
    if (!check_name(e, "scope_ref", named, &ref)) {
        sl__res_val_dispose(&ref);
        return;
    }
    p->scope_ref = sl__res_val_take(&ref);
    /* second -> rps, minute -> rpm/tpm, hour -> rph, day -> rpd/tpd (native windows). */
    static const enum sl_rl_dim req[] = {SL_RL_RPS, SL_RL_RPM, SL_RL_RPH, SL_RL_RPD};
    if (sl__res_uint(e, F_MAX_REQUESTS, &n) == SL_OK) {
        p->limits.max[req[window]] = n;
        p->limits.set |= (uint8_t)(1u << req[window]);
    }
    if (e->values[F_MAX_TOKENS] != NULL && (window == 0 || window == 2)) {
        sl__res_error(e, e->values[F_MAX_TOKENS]->line, "max_tokens",
                      "tokens are counted per minute or per day, not per %s; use window: minute "
                      "or day for max_tokens",
                      windows[window]);
    } else if (sl__res_uint(e, F_MAX_TOKENS, &n) == SL_OK) {
        enum sl_rl_dim d = window == 1 ? SL_RL_TPM : SL_RL_TPD;
        p->limits.max[d] = n;
        p->limits.set |= (uint8_t)(1u << d);
    }
    p->follows_model = p->scope == SL_SCOPE_MODEL;
}

/* ---- the conditional form ---- */

struct tree {
    size_t leaves;
    bool refs_model;
};

static bool read_node(struct sl__res_entry *e, const struct sl_yaml_node *n, unsigned depth,
                      struct tree *t, struct sl_cond_node *out);

static bool read_values(struct sl__res_entry *e, const struct sl_yaml_node *v,
                        struct sl_cond_node *out)
{
    bool list = out->op == SL_OP_IN;
    char what[64];
    if (list != (v->kind == SL_YAML_SEQ)) {
        sl__res_error(e, v->line, "conditions",
                      list ? "operator in takes a list of values"
                           : "this operator takes a single string value");
        return false;
    }
    size_t n = list ? v->n : 1;
    if (list && (n == 0 || n > MAX_VALUES)) {
        sl__res_error(e, v->line, "conditions", "an in list carries 1 to %d values, got %zu",
                      MAX_VALUES, n);
        return false;
    }
    out->values = sl_xcalloc(n, sizeof(*out->values));
    for (size_t i = 0; i < n; i++) {
        struct sl__res_val s;
        snprintf(what, sizeof(what), "conditions (%s)", cond_dims[out->dim]);
        if (sl__res_scalar(e, what, list ? v->items[i] : v, false, &s) != SL_OK)
            return false;
        if (!check_name(e, what, out->dim, &s)) {
            sl__res_val_dispose(&s);
            return false;
        }
        out->values[out->n_values++] = sl__res_val_take(&s);
    }
    return true;
}

static bool compile_regex(struct sl__res_entry *e, const struct sl_yaml_node *v,
                          struct sl_cond_node *out)
{
    const char *pat = out->values[0];
    char err[128], q[96];
    if (strlen(pat) > MAX_REGEX_LEN) {
        sl__res_error(e, v->line, "conditions", "a regex pattern is at most %d bytes, got %zu",
                      MAX_REGEX_LEN, strlen(pat));
        return false;
    }
    regex_t *re = sl_xcalloc(1, sizeof(*re));
    int flags = REG_EXTENDED | REG_NOSUB | (out->op == SL_OP_REGEX_CI ? REG_ICASE : 0);
    int rc = regcomp(re, pat, flags);
    if (rc != 0) {
        regerror(rc, re, err, sizeof(err));
        free(re);
        sl__res_error(e, v->line, "conditions",
                      "regex %s does not compile as a POSIX extended regular expression: %s",
                      sl__cfg_quote(q, sizeof(q), sl_str_from_cstr(pat)), err);
        return false;
    }
    out->regex = re;
    return true;
}

static bool read_leaf(struct sl__res_entry *e, const struct sl_yaml_node *n, struct tree *t,
                      struct sl_cond_node *out, const struct sl_yaml_node *const *v)
{
    static const char *const ops[] = {"==", "~=", "~~", "~*", "in",      "has",
                                      ">",  ">=", "<",  "<=", "ipmatch", NULL};
    if (v[0] == NULL || v[1] == NULL || v[2] == NULL) {
        sl__res_error(e, n->line, "conditions", "a condition needs dimension, operator and value");
        return false;
    }
    int dim = word(e, "conditions.dimension", v[0], cond_dims);
    int op = word(e, "conditions.operator", v[1], ops);
    if (dim < 0 || op < 0)
        return false;
    out->dim = (enum sl_cond_dim)dim;
    bool identity = dim != SL_COND_MODEL_NAME && dim != SL_COND_PROVIDER;
    if (op > SL_OP_IN || (identity && (op == SL_OP_REGEX || op == SL_OP_REGEX_CI))) {
        sl__res_error(e, v[1]->line, "conditions", "operator %s is not supported on %s", ops[op],
                      cond_dims[dim]);
        return false;
    }
    out->op = (enum sl_cond_op)op;
    t->leaves++;
    t->refs_model = t->refs_model || dim == SL_COND_MODEL || dim == SL_COND_MODEL_NAME ||
                    dim == SL_COND_PROVIDER;
    if (!read_values(e, v[2], out))
        return false;
    if (out->op == SL_OP_REGEX || out->op == SL_OP_REGEX_CI)
        return compile_regex(e, v[2], out);
    return true;
}

static bool read_group(struct sl__res_entry *e, const struct sl_yaml_node *n, unsigned depth,
                       struct tree *t, struct sl_cond_node *out,
                       const struct sl_yaml_node *const *v)
{
    static const char *const logic[] = {"and", "or", NULL};
    int l = word(e, "conditions.logic", v[0], logic);
    if (l < 0)
        return false;
    out->is_group = true;
    out->is_or = l == 1;
    const struct sl_yaml_node *ch = v[1];
    if (ch == NULL || ch->kind != SL_YAML_SEQ || ch->n == 0) {
        sl__res_error(e, n->line, "conditions", "a group needs a non-empty list of children");
        return false;
    }
    out->children = sl_xcalloc(ch->n, sizeof(*out->children));
    for (size_t i = 0; i < ch->n; i++) {
        out->n_children++;
        if (!read_node(e, ch->items[i], depth + 1, t, &out->children[i]))
            return false;
    }
    return true;
}

static bool read_node(struct sl__res_entry *e, const struct sl_yaml_node *n, unsigned depth,
                      struct tree *t, struct sl_cond_node *out)
{
    static const char *const leaf_keys[] = {"dimension", "operator", "value", "negate", NULL};
    static const char *const group_keys[] = {"logic", "children", "negate", NULL};
    const struct sl_yaml_node *v[4];
    if (depth > MAX_DEPTH) {
        sl__res_error(e, n->line, "conditions", "conditions nest deeper than %d levels", MAX_DEPTH);
        return false;
    }
    bool group = n->kind == SL_YAML_MAP && sl_yaml_map_get(n, "logic") != NULL;
    if (!sl__res_submap(e, "conditions", n, group ? group_keys : leaf_keys, v))
        return false;
    const struct sl_yaml_node *neg = v[group ? 2 : 3];
    if (neg != NULL) {
        struct sl__res_val b;
        if (sl__res_scalar(e, "conditions.negate", neg, false, &b) != SL_OK)
            return false;
        bool ok = strcmp(b.text, "true") == 0 || strcmp(b.text, "false") == 0;
        out->negate = strcmp(b.text, "true") == 0;
        sl__res_val_dispose(&b);
        if (!ok) {
            sl__res_error(e, neg->line, "conditions.negate", "expected true or false");
            return false;
        }
    }
    return group ? read_group(e, n, depth, t, out, v) : read_leaf(e, n, t, out, v);
}

static void read_group_by(struct sl__res_entry *e, struct sl_rl_policy *p, struct tree *t)
{
    static const char *const dims[] = {"team", "member", "api_key", "model", "provider", NULL};
    static const enum sl_cond_dim map[] = {SL_COND_TEAM, SL_COND_MEMBER, SL_COND_API_KEY,
                                           SL_COND_MODEL, SL_COND_PROVIDER};
    const struct sl_yaml_node *list;
    if (sl__res_list(e, F_GROUP_BY, &list) != SL_OK)
        return;
    for (size_t i = 0; i < list->n; i++) {
        int d = word(e, "group_by", list->items[i], dims);
        if (d < 0)
            continue;
        if (p->group_by & (1u << map[d])) {
            sl__res_error(e, list->items[i]->line, "group_by", "repeats dimension %s", dims[d]);
            continue;
        }
        p->group_by |= (uint8_t)(1u << map[d]);
        t->refs_model = t->refs_model || map[d] == SL_COND_MODEL || map[d] == SL_COND_PROVIDER;
    }
}

static void read_conditional(struct sl__res_entry *e, struct sl_rl_policy *p)
{
    static const size_t classic[] = {F_SCOPE, F_SCOPE_REF, F_WINDOW, F_MAX_REQUESTS, F_MAX_TOKENS};
    struct tree t = {0};
    for (size_t i = 0; i < SL_ARRAY_LEN(classic); i++) {
        if (e->values[classic[i]] != NULL) {
            sl__res_error(e, e->keys[classic[i]]->line, fields[classic[i]].name,
                          "not allowed with limits: a policy is either the classic form "
                          "(scope, scope_ref, window, max_*) or the conditional one (conditions, "
                          "group_by, limits, action)");
            return;
        }
    }
    p->conditional = true;
    sl__res_rate_limit(e, F_LIMITS, &p->limits);
    if (!sl_rate_limit_is_set(&p->limits))
        sl__res_error(e, e->values[F_LIMITS]->line, "limits", "must set at least one limit");
    const struct sl_yaml_node *conds = NULL;
    if (sl__res_list(e, F_CONDITIONS, &conds) == SL_OK && conds->n != 0) {
        p->conditions = sl_xcalloc(conds->n, sizeof(*p->conditions));
        for (size_t i = 0; i < conds->n; i++) {
            p->n_conditions++;
            if (!read_node(e, conds->items[i], 1, &t, &p->conditions[i]))
                break;
        }
    }
    if (t.leaves > MAX_LEAVES && conds != NULL)
        sl__res_error(e, conds->line, "conditions", "conditions carry %zu leaves; at most %d",
                      t.leaves, MAX_LEAVES);
    read_group_by(e, p, &t);
    p->follows_model = t.refs_model;
    if (e->values[F_ACTION] != NULL) {
        static const char *const actions[] = {"reject", NULL};
        (void)word(e, "action", e->values[F_ACTION], actions);
    }
}

/* ---- schedules ---- */

static struct sl_tz *load_zone(struct sl__res_entry *e, const struct sl__res_val *v)
{
    char path[512], shown[256];
    const char *why = NULL;
    struct sl_str name = sl_str_init(v->text, v->len);
    bool ok = name.len > 0 && name.len < 128 && name.ptr[0] != '/' &&
              memmem(name.ptr, name.len, "..", 2) == NULL;
    for (size_t i = 0; ok && i < name.len; i++) {
        char c = name.ptr[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '+' || c == '/';
    }
    if (!ok) {
        sl__res_error(e, v->node->line, "schedules.timezone",
                      "expected an IANA time zone name such as Europe/Berlin, got %s",
                      sl__res_show(v, shown, sizeof(shown)));
        return NULL;
    }
    const char *dir = sl__env_get(e->l->envp, SL_STRLIT("TZDIR"));
    snprintf(path, sizeof(path), "%s/%s", dir != NULL && dir[0] != '\0' ? dir : ZONEINFO_DIR,
             v->text);
    char *data = NULL;
    size_t len = 0;
    struct sl_tz *tz = NULL;
    int err = sl__yaml_read_file(path, 1u << 20, &data, &len);
    if (err == 0 && sl_tz_parse((const uint8_t *)data, len, &tz, &why) == SL_OK) {
        free(data);
        return tz;
    }
    free(data);
    sl__res_error(e, v->node->line, "schedules.timezone", "unknown time zone %s (%s: %s)",
                  sl__res_show(v, shown, sizeof(shown)), path, err != 0 ? strerror(err) : why);
    return NULL;
}

/* "HH:MM" as minutes; 24:00 when allowed. */
static int hhmm(const char *s, bool allow_2400)
{
    if (allow_2400 && strcmp(s, "24:00") == 0)
        return 1440;
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h <= 23 && m <= 59 ? h * 60 + m : -1;
}

static int read_time(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                     bool allow_2400)
{
    struct sl__res_val v;
    char shown[256];
    if (n == NULL) {
        sl__res_error(e, 0, what, "required field is missing");
        return -1;
    }
    if (sl__res_scalar(e, what, n, false, &v) != SL_OK)
        return -1;
    int t = hhmm(v.text, allow_2400);
    if (t < 0)
        sl__res_error(e, n->line, what, "expected HH:MM%s, got %s", allow_2400 ? " or 24:00" : "",
                      sl__res_show(&v, shown, sizeof(shown)));
    sl__res_val_dispose(&v);
    return t;
}

static bool read_days(struct sl__res_entry *e, const struct sl_yaml_node *dow,
                      const struct sl_yaml_node *dates, struct sl_policy_schedule *s)
{
    if ((dow == NULL) == (dates == NULL)) {
        sl__res_error(e, 0, "schedules", "a schedule needs exactly one of days_of_week and dates");
        return false;
    }
    const struct sl_yaml_node *list = dow != NULL ? dow : dates;
    if (list->kind != SL_YAML_SEQ || list->n == 0 || list->n > MAX_DATES) {
        sl__res_error(e, list->line, dow != NULL ? "schedules.days_of_week" : "schedules.dates",
                      "expected a non-empty list of at most %d items", MAX_DATES);
        return false;
    }
    if (dates != NULL)
        s->dates = sl_xcalloc(list->n, sizeof(*s->dates));
    for (size_t i = 0; i < list->n; i++) {
        if (dow != NULL) {
            int d = word(e, "schedules.days_of_week", list->items[i], days);
            if (d < 0)
                return false;
            s->days_of_week |= (uint8_t)(1u << d);
            continue;
        }
        struct sl__res_val v;
        char shown[256];
        unsigned y, m, d;
        char tail;
        if (sl__res_scalar(e, "schedules.dates", list->items[i], false, &v) != SL_OK)
            return false;
        bool ok = v.len == 10 && sscanf(v.text, "%4u-%2u-%2u%c", &y, &m, &d, &tail) == 3 &&
                  m >= 1 && m <= 12 && d >= 1;
        int64_t day = ok ? sl_days_from_civil(y, m, d) : 0;
        int64_t yy;
        unsigned mm, dd;
        sl_civil_from_days(day, &yy, &mm, &dd);
        if (!ok || mm != m || dd != d) {
            sl__res_error(e, list->items[i]->line, "schedules.dates",
                          "expected a date YYYY-MM-DD, got %s",
                          sl__res_show(&v, shown, sizeof(shown)));
            sl__res_val_dispose(&v);
            return false;
        }
        sl__res_val_dispose(&v);
        s->dates[s->n_dates++] = (int32_t)day;
    }
    return true;
}

static bool read_schedule(struct sl__res_entry *e, const struct sl_yaml_node *n,
                          struct sl_policy_schedule *s)
{
    static const char *const keys[] = {"timezone",   "days_of_week", "dates",
                                       "start_time", "end_time",     NULL};
    const struct sl_yaml_node *v[5];
    struct sl__res_val zone;
    if (!sl__res_submap(e, "schedules", n, keys, v))
        return false;
    if (v[0] == NULL) {
        sl__res_error(e, n->line, "schedules.timezone", "required field is missing");
        return false;
    }
    if (sl__res_scalar(e, "schedules.timezone", v[0], false, &zone) != SL_OK)
        return false;
    s->tz = load_zone(e, &zone);
    sl__res_val_dispose(&zone);
    int start = read_time(e, "schedules.start_time", v[3], false);
    int end = read_time(e, "schedules.end_time", v[4], true);
    if (s->tz == NULL || start < 0 || end < 0 || !read_days(e, v[1], v[2], s))
        return false;
    s->start_min = (uint16_t)start;
    s->end_min = (uint16_t)end;
    return true;
}

static void read_schedules(struct sl__res_entry *e, struct sl_rl_policy *p)
{
    const struct sl_yaml_node *list;
    if (sl__res_list(e, F_SCHEDULES, &list) != SL_OK)
        return;
    if (list->n > MAX_SCHEDULES) {
        sl__res_error(e, list->line, "schedules", "at most %d schedules, got %zu", MAX_SCHEDULES,
                      list->n);
        return;
    }
    p->schedules = sl_xcalloc(list->n != 0 ? list->n : 1, sizeof(*p->schedules));
    for (size_t i = 0; i < list->n; i++) {
        p->n_schedules++;
        if (!read_schedule(e, list->items[i], &p->schedules[i]))
            return;
    }
}

/* ---- the entry ---- */

/* UUIDv5 over "<collection>/<name>" in the reference's file namespace (desugar.rs), so
 * error.policy.id is the id AISIX would show for the same file. */
void sl__res_derive_id(const char *collection, const char *name, char out[37])
{
    static const uint8_t ns[16] = {0x63, 0xe5, 0x0a, 0xb2, 0x67, 0x7a, 0x54, 0xd3,
                                   0x8d, 0x1e, 0xc0, 0xcb, 0x29, 0xce, 0xae, 0x94};
    static const char hex[] = "0123456789abcdef";
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    SL_ASSERT(ctx != NULL);
    int ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, ns, sizeof(ns)) &&
             EVP_DigestUpdate(ctx, collection, strlen(collection)) &&
             EVP_DigestUpdate(ctx, "/", 1) && EVP_DigestUpdate(ctx, name, strlen(name)) &&
             EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    SL_ASSERT(ok && mdlen >= 16);
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x50);
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o] = '\0';
}

static char *classic_bucket(const struct sl_rl_policy *p)
{
    struct sl_buf b;
    size_t cap = 32 + 3 * (strlen(p->name) + strlen(p->scope_ref));
    sl_buf_init(&b, cap);
    int rc = sl_buf_append(&b, "p:", 2);
    rc = rc == SL_OK ? sl_bucket_escape(&b, sl_str_from_cstr(p->name)) : rc;
    rc = rc == SL_OK ? sl_buf_appendf(&b, ":%s=", scopes[p->scope]) : rc;
    rc = rc == SL_OK ? sl_bucket_escape(&b, sl_str_from_cstr(p->scope_ref)) : rc;
    SL_ASSERT(rc == SL_OK);
    char *r = sl_str_dup(sl_buf_str(&b));
    sl_buf_dispose(&b);
    return r;
}

static void load_one(struct sl__res_loader *l, size_t i, const struct sl_yaml_node *item)
{
    struct sl_rl_policy *p = &l->r->policies[i];
    struct sl__res_entry e;
    size_t errors = l->diag->count;
    p->line = item->line;
    if (!sl__res_entry_begin(l, &schema, i, item, &e, &p->name))
        return;
    if (e.values[F_LIMITS] != NULL)
        read_conditional(&e, p);
    else if (e.values[F_CONDITIONS] != NULL || e.values[F_GROUP_BY] != NULL ||
             e.values[F_ACTION] != NULL)
        sl__res_error(&e, 0, "limits",
                      "required with conditions, group_by or action (the conditional form)");
    else
        read_classic(&e, p);
    read_schedules(&e, p);
    if (p->name == NULL || l->diag->count != errors)
        return;
    sl__res_derive_id("rate_limit_policies", p->name, p->id);
    p->bucket = p->conditional ? sl__res_bucket("p:", p->name) : classic_bucket(p);
}

void sl__res_load_policies(struct sl__res_loader *l, const struct sl_yaml_node *node)
{
    size_t n = sl__res_collection_len(l, "rate_limit_policies", node);
    struct sl_resources *r = l->r;
    r->policies = sl_xcalloc(n != 0 ? n : 1, sizeof(*r->policies));
    r->n_policies = n;
    for (size_t i = 0; i < n; i++)
        load_one(l, i, node->items[i]);
    const char **names = sl_xcalloc(n != 0 ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = r->policies[i].name;
    struct sl__res_names t;
    sl__res_names_build(l, &t, "rate_limit_policies", node, names);
    sl__res_names_dispose(&t);
    free(names);
}

static void free_node(struct sl_cond_node *n)
{
    for (size_t i = 0; i < n->n_values; i++)
        free(n->values[i]);
    free(n->values);
    if (n->regex != NULL)
        regfree(n->regex);
    free(n->regex);
    for (size_t i = 0; i < n->n_children; i++)
        free_node(&n->children[i]);
    free(n->children);
}

void sl__res_policy_free(struct sl_rl_policy *p)
{
    free(p->name);
    free(p->scope_ref);
    free(p->bucket);
    for (size_t i = 0; i < p->n_conditions; i++)
        free_node(&p->conditions[i]);
    free(p->conditions);
    for (size_t i = 0; i < p->n_schedules; i++) {
        sl_tz_free(p->schedules[i].tz);
        free(p->schedules[i].dates);
    }
    free(p->schedules);
}
