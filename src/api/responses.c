/* The Responses routes' own phases (exchange.h): what POST /v1/responses needs besides the
 * common ones, and the routes of a stored response.
 *
 *   POST   /v1/responses                    auth inspect route access plan create upstream
 *   GET    /v1/responses/{id}               auth stored plan upstream   (also ?stream=true)
 *   DELETE /v1/responses/{id}               auth stored plan upstream
 *   POST   /v1/responses/{id}/cancel        auth stored plan upstream
 *   GET    /v1/responses/{id}/input_items   auth stored plan upstream
 *
 * Sluice keeps no state: a response created through a Responses upstream reaches the caller
 * with a sealed id (respid.h) naming the provider key, the model alias and the upstream's id,
 * bound to the caller key; any replica opens it with the same secret and sends the call to that
 * provider key. A model group's targets may use different keys, so the sealer is chosen per
 * target as the upstream phase reaches it, and whatever needs a stored response (its own routes,
 * previous_response_id) goes only to the key that holds it, never failed over to another.
 * docs/responses.md. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/json.h"
#include "sluice/provider.h"
#include "sluice/respid.h"

#define PREFIX "/v1/responses/"

/* ---- secrets ---- */

/* The secret that seals ids for key: the deployment's first, else the key's own api_key. */
static struct sl_str sealing_secret(const struct sl_exchange *x, const struct sl_provider_key *key)
{
    const struct sl_config_list *s = &x->svc->cfg->responses.id_secrets;
    if (s->n != 0)
        return sl_str_init(s->v[0], s->len[0]);
    return sl_str_from_cstr(key->api_key);
}

/* True when id opens for key and caller with one of the secrets in use. */
static bool opens(const struct sl_exchange *x, const struct sl_respid *id,
                  const struct sl_provider_key *key, struct sl_str caller)
{
    const struct sl_config_list *s = &x->svc->cfg->responses.id_secrets;
    struct sl_str name = sl_str_from_cstr(key->name);
    if ((key->caps & SL_CAP_RESPONSES) == 0 || !sl_respid_names_key(id, name))
        return false;
    if (s->n == 0)
        return sl_respid_verify(id, sl_str_from_cstr(key->api_key), name, caller);
    for (size_t i = 0; i < s->n; i++)
        if (sl_respid_verify(id, sl_str_init(s->v[i], s->len[i]), name, caller))
            return true;
    return false;
}

static struct sl_responses_state *new_state(struct sl_exchange *x,
                                            const struct sl_provider_key *key, struct sl_str alias,
                                            bool stored)
{
    struct sl_responses_state *st = h2o_mem_alloc_pool(&x->req->pool, sizeof(*st));
    st->secret = sealing_secret(x, key);
    st->claims = (struct sl_respid_claims){.provider_key = sl_str_from_cstr(key->name),
                                           .caller = sl_str_from_cstr(x->key->name),
                                           .alias = alias};
    st->stored = stored;
    return st;
}

/* True when target's family sends this route's Responses body as it is (passthrough); a
 * translated upstream keeps no responses: the translation refuses what needs them. */
static bool passthrough(const struct sl_exchange *x, const struct sl_model *target)
{
    const struct sl_provider_key *key = target->key;
    struct sl_str model =
        target == x->model ? x->upstream_id : sl_str_from_cstr(target->model_name);
    return sl_provider_for(key)->wire_for(key, model, x->route->op, x->route->wire) ==
           SL_WIRE_RESPONSES;
}

/* ---- POST /v1/responses ---- */

/* previous_response_id names a response this caller created through one provider key: the plan
 * keeps only the passthrough targets of that key (the response's state lives there; a failover
 * to another key would not find it), and the upstream gets its own id in its place. The body is
 * rebuilt (pool memory) and inspected again, so the upstream phase splices "model" into the new
 * one. */
static int open_previous(struct sl_exchange *x)
{
    h2o_mem_pool_t *pool = &x->req->pool;
    const struct sl_json_member *prev = &x->call.previous_response_id;
    struct sl_str text = sl_str_init(prev->value.ptr + 1, prev->value.len - 2);
    struct sl_str caller = sl_str_from_cstr(x->key->name);
    struct sl_respid *id = h2o_mem_alloc_pool(pool, sizeof(*id));
    struct sl_route_plan *p = &x->plan;
    struct sl_buf quoted;
    struct sl_splice sp;
    char why[200];
    unsigned kept = 0;
    if (memchr(text.ptr, '\\', text.len) == NULL && sl_respid_parse(text, id) == SL_OK) {
        for (unsigned i = 0; i < p->n; i++)
            if (passthrough(x, p->targets[i]) && opens(x, id, p->targets[i]->key, caller))
                p->targets[kept++] = p->targets[i];
    }
    if (kept == 0) {
        sl_exchange_error(x, SL_ERR_PREVIOUS_RESPONSE_NOT_FOUND, (int)SL_MIN(text.len, 200),
                          text.ptr, (int)SL_MIN(x->log.model.len, 200), x->log.model.ptr);
        return SL_DONE;
    }
    p->n = kept;
    sl_buf_init(&quoted, SL_RESPID_MAX_PART * 6 + 2);
    SL_ASSERT(sl_json_escape(&quoted, id->upstream_id) == SL_OK);
    struct sl_str upstream = sl_str_from_iov(h2o_strdup(pool, quoted.ptr, quoted.len));
    sl_buf_dispose(&quoted);
    sl_splice_init(&sp, x->call.body);
    sl_splice_replace(&sp, prev->value, upstream);
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v) * sl_splice_max_iov(&sp));
    size_t len, n = sl_splice_iov(&sp, v, &len);
    char *body = h2o_mem_alloc_pool(pool, len + 1), *w = body;
    for (size_t i = 0; i < n; i++) {
        memcpy(w, v[i].base, v[i].len);
        w += v[i].len;
    }
    /* The body passed inspection once; with one string swapped for another it passes again. */
    int rc = x->dialect->inspect(x->route->op, sl_str_init(body, len), &x->call, why, sizeof(why));
    SL_ASSERT(rc == SL_OK);
    return SL_OK;
}

/* The upstream phase reached target: ids it creates are sealed for its provider key; a
 * translated target creates none. */
static void on_target(struct sl_exchange *x, const struct sl_model *target)
{
    x->mod[SL_MOD_DIALECT] =
        passthrough(x, target) ? new_state(x, target->key, x->log.model, false) : NULL;
}

int sl_phase_responses_create(struct sl_exchange *x)
{
    x->on_target = on_target;
    if (x->call.previous_response_id.type != SL_JSON_STRING)
        return SL_OK;
    /* Only translated targets: the translation refuses previous_response_id with its reason. */
    bool any = false;
    for (unsigned i = 0; i < x->plan.n && !any; i++)
        any = passthrough(x, x->plan.targets[i]);
    if (!any)
        return SL_DECLINED;
    return open_previous(x);
}

/* ---- a stored response ---- */

/* The calls on a stored response, by method and what follows the id. */
static const struct {
    const char *method;
    const char *suffix;
    const char *route; /* the log's route label */
} stored_calls[] = {
    {"GET", "", "responses_retrieve"},
    {"GET", "/input_items", "responses_input_items"},
    {"DELETE", "", "responses_delete"},
    {"POST", "/cancel", "responses_cancel"},
};

/* The upstream path: /responses/<id, percent-encoded past RFC 3986's unreserved>, the suffix
 * and the caller's query string (h2o parsed it from a valid request line). */
static struct sl_str upstream_path(struct sl_exchange *x, struct sl_str upstream_id,
                                   const char *suffix)
{
    h2o_req_t *req = x->req;
    struct sl_str query = SL_STR_NULL;
    if (req->query_at != SIZE_MAX)
        query = sl_str_init(req->path.base + req->query_at, req->path.len - req->query_at);
    size_t cap = sizeof("/responses/") + upstream_id.len * 3 + strlen(suffix) + query.len;
    char *p = h2o_mem_alloc_pool(&req->pool, cap), *w = p;
    w += snprintf(w, cap, "/responses/");
    for (size_t i = 0; i < upstream_id.len; i++) {
        unsigned char c = (unsigned char)upstream_id.ptr[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        if (plain)
            *w++ = (char)c;
        else
            w += snprintf(w, 4, "%%%02X", c);
    }
    memcpy(w, suffix, strlen(suffix));
    w += strlen(suffix);
    if (query.len != 0) /* without a query string, query.ptr is NULL */
        memcpy(w, query.ptr, query.len);
    w += query.len;
    SL_ASSERT((size_t)(w - p) < cap);
    return sl_str_init(p, (size_t)(w - p));
}

/* The model the call runs with: the alias's own when it still goes to this key, or for a model
 * group the first of its targets on this key (its timeouts, retries and cooldown apply), else one
 * made for the call. Always a direct model: the response lives at key, so the call is never
 * routed across the group. */
static const struct sl_model *model_for(struct sl_exchange *x, const struct sl_provider_key *key,
                                        struct sl_str alias)
{
    const struct sl_model *m = sl_resources_resolve(x->res, alias, NULL);
    if (m != NULL && m->kind == SL_MODEL_DIRECT && m->key == key)
        return m;
    for (size_t i = 0; m != NULL && m->kind == SL_MODEL_ROUTING && i < m->routing->n_targets; i++)
        if (m->routing->targets[i].model->key == key)
            return m->routing->targets[i].model;
    h2o_mem_pool_t *pool = &x->req->pool;
    struct sl_model *made = h2o_mem_alloc_pool(pool, sizeof(*made));
    *made = (struct sl_model){.name = h2o_strdup(pool, alias.ptr, alias.len).base,
                              .provider = key->provider,
                              .model_name = h2o_strdup(pool, H2O_STRLIT("")).base,
                              .model_name_json = h2o_strdup(pool, H2O_STRLIT("\"\"")).base,
                              .key = key};
    return made;
}

/* "stream=true" in the query: a GET that streams the response's events again. */
static bool query_streams(const h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return false;
    struct sl_str q =
        sl_str_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    while (q.len != 0) {
        const char *amp = memchr(q.ptr, '&', q.len);
        size_t n = amp != NULL ? (size_t)(amp - q.ptr) : q.len;
        if (sl_str_eq_lit(sl_str_init(q.ptr, n), "stream=true"))
            return true;
        q = amp != NULL ? sl_str_init(amp + 1, q.len - n - 1) : SL_STR_NULL;
    }
    return false;
}

/* Finds the provider key the id opens for, for this caller. */
static const struct sl_provider_key *key_of(struct sl_exchange *x, const struct sl_respid *id)
{
    struct sl_str caller = sl_str_from_cstr(x->key->name);
    for (size_t i = 0; i < x->res->n_provider_keys; i++)
        if (opens(x, id, &x->res->provider_keys[i], caller))
            return &x->res->provider_keys[i];
    return NULL;
}

int sl_phase_responses_stored(struct sl_exchange *x)
{
    h2o_req_t *req = x->req;
    h2o_mem_pool_t *pool = &req->pool;
    struct sl_str rest = sl_str_from_iov(req->path_normalized);
    struct sl_str method = sl_str_from_iov(req->method);
    struct sl_respid *id = h2o_mem_alloc_pool(pool, sizeof(*id));
    rest = sl_str_init(rest.ptr + strlen(PREFIX), rest.len - strlen(PREFIX));
    const char *slash = memchr(rest.ptr, '/', rest.len);
    struct sl_str idtext =
        sl_str_init(rest.ptr, slash != NULL ? (size_t)(slash - rest.ptr) : rest.len);
    struct sl_str suffix = sl_str_init(idtext.ptr + idtext.len, rest.len - idtext.len);
    size_t call = SL_ARRAY_LEN(stored_calls);
    if (sl_str_eq_lit(method, "HEAD"))
        method = SL_STRLIT("GET");
    for (size_t i = 0; i < SL_ARRAY_LEN(stored_calls); i++)
        if (sl_str_eq(method, sl_str_from_cstr(stored_calls[i].method)) &&
            sl_str_eq(suffix, sl_str_from_cstr(stored_calls[i].suffix)))
            call = i;
    if (call == SL_ARRAY_LEN(stored_calls) || idtext.len == 0) {
        struct sl_str path = sl_str_from_iov(req->path_normalized);
        sl_exchange_error(x, SL_ERR_ROUTE_NOT_FOUND, (int)SL_MIN(req->method.len, 16),
                          req->method.base, (int)SL_MIN(path.len, 128), path.ptr);
        return SL_DONE;
    }
    x->log.route = stored_calls[call].route;
    const struct sl_provider_key *key = NULL;
    if (sl_respid_parse(idtext, id) == SL_OK)
        key = key_of(x, id);
    if (key == NULL) {
        sl_exchange_error(x, SL_ERR_RESPONSE_NOT_FOUND, (int)SL_MIN(idtext.len, 200), idtext.ptr);
        return SL_DONE;
    }
    struct sl_str alias = sl_str_from_iov(h2o_strdup(pool, id->alias.ptr, id->alias.len));
    x->log.model = alias;
    if (!sl_api_key_allows(x->key, alias)) {
        sl_exchange_error(x, SL_ERR_MODEL_NOT_ALLOWED, x->key->name, (int)SL_MIN(alias.len, 200),
                          alias.ptr);
        return SL_DONE;
    }
    struct sl_buf json;
    sl_buf_init(&json, SL_RESPID_MAX_PART * 6 + 2);
    SL_ASSERT(sl_json_escape(&json, alias) == SL_OK);
    x->alias_json = sl_str_from_iov(h2o_strdup(pool, json.ptr, json.len));
    sl_buf_dispose(&json);
    x->model = model_for(x, key, alias);
    x->log.model_label = sl_str_from_cstr(x->model->name);
    x->call = (struct sl_call){.stream = query_streams(req)};
    x->upstream_method = stored_calls[call].method;
    x->upstream_path = upstream_path(x, id->upstream_id, stored_calls[call].suffix);
    x->mod[SL_MOD_DIALECT] = new_state(x, key, alias, true);
    return SL_OK;
}
