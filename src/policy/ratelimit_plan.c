/* Which layers a request meets: its key's, its model's, and the rate_limit_policies rows that
 * match it (classic scopes or condition trees, reference quota.rs), each with the bucket its
 * counters live in. Pure lookups over the generation plus the process store. */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit_internal.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/tz.h"

#define SECS_PER_DAY    86400
#define BUCKET_NAME_MAX 2048 /* names are built from configured values, all bounded */
#define REGEX_INPUT_MAX 1024 /* aliases are at most 512 bytes (api/phases.c) */

static const char *const group_dims[SL_COND_DIMS] = {"team",  "member",     "api_key",
                                                     "model", "model_name", "provider"};

/* The request's value of each condition dimension; NULL: it does not carry the dimension. */
struct input {
    struct sl_str v[SL_COND_DIMS];
    bool has[SL_COND_DIMS];
    /* A routing target's parent: the model and model_name dimensions also match it. */
    struct sl_str parent[SL_COND_DIMS];
    bool has_parent[SL_COND_DIMS];
};

static void set(struct input *in, enum sl_cond_dim d, const char *s)
{
    if (s == NULL)
        return;
    in->v[d] = sl_str_from_cstr(s);
    in->has[d] = true;
}

static void fill_input(struct input *in, const struct sl_rl_subject *s)
{
    memset(in, 0, sizeof(*in));
    set(in, SL_COND_TEAM, s->key->team_id);
    set(in, SL_COND_MEMBER, s->key->user_id);
    set(in, SL_COND_API_KEY, s->key->name);
    if (s->model != NULL) {
        set(in, SL_COND_MODEL, s->model->name);
        set(in, SL_COND_PROVIDER, s->model->provider);
        in->v[SL_COND_MODEL_NAME] = s->alias;
        in->has[SL_COND_MODEL_NAME] = true;
    }
    if (s->parent != NULL) {
        in->parent[SL_COND_MODEL] = in->parent[SL_COND_MODEL_NAME] =
            sl_str_from_cstr(s->parent->name);
        in->has_parent[SL_COND_MODEL] = in->has_parent[SL_COND_MODEL_NAME] = true;
    }
}

/* ---- condition trees (lua-resty-expr semantics, reference policy_conditions.rs) ---- */

static bool regex_matches(const struct sl_cond_node *n, struct sl_str v)
{
    char buf[REGEX_INPUT_MAX + 1];
    if (v.len > REGEX_INPUT_MAX || memchr(v.ptr, '\0', v.len) != NULL)
        return false;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    return regexec(n->regex, buf, 0, NULL, 0) == 0;
}

static bool op_matches(const struct sl_cond_node *n, struct sl_str v)
{
    switch (n->op) {
    case SL_OP_EQ:
        return sl_str_eq(v, sl_str_from_cstr(n->values[0]));
    case SL_OP_NE:
        return !sl_str_eq(v, sl_str_from_cstr(n->values[0]));
    case SL_OP_IN:
        for (size_t i = 0; i < n->n_values; i++) {
            if (sl_str_eq(v, sl_str_from_cstr(n->values[i])))
                return true;
        }
        return false;
    case SL_OP_REGEX:
    case SL_OP_REGEX_CI:
        return regex_matches(n, v);
    }
    return false;
}

/* A leaf on a dimension the request does not carry is false, even negated. With a parent, the
 * model dimensions are a pair: positive operators hold when either side does, ~= only when both
 * differ, so ~= stays the negation of ==. */
static bool eval_leaf(const struct sl_cond_node *n, const struct input *in)
{
    if (!in->has[n->dim])
        return false;
    bool raw = op_matches(n, in->v[n->dim]);
    if (in->has_parent[n->dim]) {
        bool p = op_matches(n, in->parent[n->dim]);
        raw = n->op == SL_OP_NE ? raw && p : raw || p;
    }
    return raw != n->negate;
}

static bool eval_node(const struct sl_cond_node *n, const struct input *in)
{
    if (!n->is_group)
        return eval_leaf(n, in);
    bool raw = !n->is_or;
    for (size_t i = 0; i < n->n_children; i++) {
        bool c = eval_node(&n->children[i], in);
        if (n->is_or && c) {
            raw = true;
            break;
        }
        if (!n->is_or && !c) {
            raw = false;
            break;
        }
    }
    return raw != n->negate;
}

/* ---- schedules ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool selects_day(const struct sl_policy_schedule *s, int64_t day)
{
    if (s->days_of_week != 0) {
        int64_t wd = ((day + 3) % 7 + 7) % 7; /* 0 = Monday; 1970-01-01 was a Thursday */
        return (s->days_of_week & (1u << wd)) != 0;
    }
    for (size_t i = 0; i < s->n_dates; i++) {
        if (s->dates[i] == day)
            return true;
    }
    return false;
}

/* A same-day window [start, end), or one crossing midnight that belongs to its start day. */
static bool schedule_matches(const struct sl_policy_schedule *s, int64_t now)
{
    int64_t local = now + sl_tz_offset(s->tz, now);
    int64_t day = floor_div(local, SECS_PER_DAY);
    unsigned minute = (unsigned)((local - day * SECS_PER_DAY) / 60);
    if (s->start_min < s->end_min)
        return selects_day(s, day) && minute >= s->start_min && minute < s->end_min;
    if (s->start_min > s->end_min)
        return (selects_day(s, day) && minute >= s->start_min) ||
               (selects_day(s, day - 1) && minute < s->end_min);
    return false;
}

static bool suspended(const struct sl_rl_policy *p, int64_t now)
{
    for (size_t i = 0; i < p->n_schedules; i++) {
        if (schedule_matches(&p->schedules[i], now))
            return true;
    }
    return false;
}

/* ---- policies ---- */

static bool classic_applies(const struct sl_rl_policy *p, const struct sl_rl_subject *s)
{
    const struct sl_api_key *k = s->key;
    switch (p->scope) {
    case SL_SCOPE_API_KEY:
        return strcmp(k->name, p->scope_ref) == 0;
    case SL_SCOPE_MODEL:
        return s->model != NULL && strcmp(s->model->name, p->scope_ref) == 0;
    case SL_SCOPE_TEAM:
        return k->team_id != NULL && strcmp(k->team_id, p->scope_ref) == 0;
    case SL_SCOPE_MEMBER:
        return k->user_id != NULL && strcmp(k->user_id, p->scope_ref) == 0;
    case SL_SCOPE_TEAM_MEMBER:
        /* One bucket per member of the team: keys without a user_id are not subject to it. */
        return k->team_id != NULL && k->user_id != NULL && strcmp(k->team_id, p->scope_ref) == 0;
    }
    return false;
}

/* The escaped value of a group_by dimension for bucket names; NULL when the request lacks it. */
static const char *group_value(enum sl_cond_dim d, const struct sl_rl_subject *s)
{
    switch (d) {
    case SL_COND_TEAM:
        return s->key->team_bucket;
    case SL_COND_MEMBER:
        return s->key->member_bucket;
    case SL_COND_API_KEY:
        return s->key->bucket + 2; /* after "k:" */
    case SL_COND_MODEL:
        return s->model != NULL ? s->model->bucket + 2 : NULL;
    case SL_COND_PROVIDER: /* vendor names need no escaping: [a-z0-9._-] */
        return s->model != NULL ? s->model->provider : NULL;
    default:
        return NULL;
    }
}

/* The policy's bucket for this request into name (cap BUCKET_NAME_MAX); false when a group_by
 * dimension is missing (the request is not subject to the policy) or the name is too long. */
static bool policy_bucket(const struct sl_rl_policy *p, const struct sl_rl_subject *s, char *name,
                          size_t *len)
{
    size_t o = (size_t)snprintf(name, BUCKET_NAME_MAX, "%s", p->bucket);
    if (!p->conditional && p->scope == SL_SCOPE_TEAM_MEMBER)
        o += (size_t)snprintf(name + SL_MIN(o, BUCKET_NAME_MAX),
                              BUCKET_NAME_MAX - SL_MIN(o, BUCKET_NAME_MAX), ":member=%s",
                              s->key->member_bucket);
    for (unsigned d = 0; p->conditional && d < SL_COND_DIMS; d++) {
        if ((p->group_by & (1u << d)) == 0)
            continue;
        const char *v = group_value((enum sl_cond_dim)d, s);
        if (v == NULL)
            return false;
        size_t at = SL_MIN(o, BUCKET_NAME_MAX);
        o += (size_t)snprintf(name + at, BUCKET_NAME_MAX - at, ":%s=%s", group_dims[d], v);
    }
    *len = o;
    return o < BUCKET_NAME_MAX;
}

/* Every policy reserves at exactly one phase: classic model scopes and conditional rows on a
 * model property follow the model (the request gate for a direct model, each routing target
 * otherwise); the rest reserve once at the request gate. */
static bool due(const struct sl_rl_policy *p, enum sl_rl_phase phase, bool defer_model)
{
    if (phase == SL_RL_PHASE_TARGET)
        return p->follows_model;
    return !(p->follows_model && defer_model);
}

static void add_layer(struct sl_reservation *r, enum sl_rl_layer_kind kind, struct sl_rl_bucket *b,
                      const struct sl_rate_limit *limits, const struct sl_rl_policy *p,
                      const struct sl_budget *budget)
{
    SL_ASSERT(r->n < SL_RL_MAX_LAYERS);
    r->layers[r->n++] = (struct sl_rl_layer){
        .kind = kind, .bucket = b, .limits = limits, .policy = p, .budget = budget};
}

static void plan_policies(struct sl_rl_worker *w, struct sl_reservation *r,
                          const struct sl_resources *res, const struct sl_rl_subject *s,
                          enum sl_rl_phase phase, bool defer_model, int64_t now)
{
    struct input in;
    bool filled = false;
    char name[BUCKET_NAME_MAX];
    for (size_t i = 0; i < res->n_policies && r->n < SL_RL_MAX_LAYERS; i++) {
        const struct sl_rl_policy *p = &res->policies[i];
        if (!due(p, phase, defer_model))
            continue;
        bool applies;
        if (p->conditional) {
            if (!filled) {
                fill_input(&in, s);
                filled = true;
            }
            applies = true;
            for (size_t c = 0; applies && c < p->n_conditions; c++)
                applies = eval_node(&p->conditions[c], &in);
        } else {
            applies = classic_applies(p, s);
        }
        size_t len;
        if (!applies || suspended(p, now) || !policy_bucket(p, s, name, &len))
            continue;
        add_layer(r, SL_RL_LAYER_POLICY, sl__rl_store_get(&w->l->store, sl_str_init(name, len)),
                  &p->limits, p, NULL);
    }
}

unsigned sl_rl_plan(struct sl_rl_worker *w, struct sl_reservation *r,
                    const struct sl_resources *res, const struct sl_rl_subject *s,
                    enum sl_rl_phase phase, bool defer_model, int64_t now)
{
    struct sl__rl_store *store = &w->l->store;
    const struct sl_api_key *k = s->key;
    const struct sl_model *m = s->model;
    if (phase == SL_RL_PHASE_REQUEST && (sl_rate_limit_is_set(&k->rate_limit) || k->budget.set))
        add_layer(r, SL_RL_LAYER_KEY, sl__rl_store_get(store, sl_str_from_cstr(k->bucket)),
                  &k->rate_limit, NULL, k->budget.set ? &k->budget : NULL);
    if (m != NULL && sl_rate_limit_is_set(&m->rate_limit))
        add_layer(r, SL_RL_LAYER_MODEL, sl__rl_store_get(store, sl_str_from_cstr(m->bucket)),
                  &m->rate_limit, NULL, NULL);
    if (res->n_policies != 0)
        plan_policies(w, r, res, s, phase, defer_model, now);
    return r->n;
}

const char *sl_rl_layer_name(enum sl_rl_layer_kind k)
{
    static const char *const names[] = {"api_key", "model", "policy"};
    return names[k];
}

const char *sl_rl_dim_name(enum sl_rl_dim d)
{
    static const char *const names[] = {"rps", "rpm", "rph", "rpd", "tpm", "tpd"};
    return names[d];
}
