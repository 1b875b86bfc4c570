/* The phases before the upstream call: auth, inspect, route, access, plan (exchange.h). Each either
 * lets the request go on or answers it in the route's dialect. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/cidr.h"
#include "sluice/clock.h"
#include "sluice/config.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/json.h"
#include "sluice/route.h"

#define MAX_ALIAS_BYTES       512
#define MAX_UPSTREAM_ID_BYTES 4096

static int64_t now_unix_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The caller's key (Bearer or x-api-key), in the reference's order of 401 reasons. */
int sl_phase_auth(struct sl_exchange *x)
{
    const struct sl_api_key *key;
    enum sl_auth_result ar = sl_auth_check(x->req, x->res, now_unix_us(), &key);
    if (key != NULL)
        x->log.key_name = sl_str_from_cstr(key->name);
    switch (ar) {
    case SL_AUTH_OK:
        x->key = key;
        return SL_OK;
    case SL_AUTH_MISSING:
        sl_exchange_error(x, SL_ERR_KEY_MISSING);
        break;
    case SL_AUTH_UNKNOWN:
        sl_exchange_error(x, SL_ERR_KEY_UNKNOWN);
        break;
    case SL_AUTH_DISABLED:
        sl_exchange_error(x, SL_ERR_KEY_DISABLED);
        break;
    case SL_AUTH_EXPIRED:
        sl_exchange_error(x, SL_ERR_KEY_EXPIRED);
        break;
    }
    return SL_DONE;
}

/* The alias as text, copied into the request's pool (decoded when the JSON string has
 * escapes). Never a slice of req->entity: the access log reads it while the request is
 * disposed, and HTTP/2 frees a stream's body buffer before that. */
static int take_alias(struct sl_exchange *x, struct sl_str raw)
{
    h2o_mem_pool_t *pool = &x->req->pool;
    struct sl_str inner = sl_str_init(raw.ptr + 1, raw.len - 2);
    struct sl_buf alias;
    if (memchr(inner.ptr, '\\', inner.len) == NULL && inner.len <= MAX_ALIAS_BYTES) {
        x->log.model = sl_str_from_iov(h2o_strdup(pool, inner.ptr, inner.len));
        return SL_OK;
    }
    sl_buf_init(&alias, MAX_ALIAS_BYTES);
    if (sl_json_unescape(raw, &alias) != SL_OK) {
        sl_buf_dispose(&alias);
        sl_exchange_error(x, SL_ERR_INVALID_REQUEST, "\"model\" is longer than 512 bytes");
        return SL_DONE;
    }
    /* Only an escape can put a control character in a JSON string. A name with one cannot be
     * configured, and quoting it back (a NUL would cut the text) would mislead. */
    for (size_t i = 0; i < alias.len; i++) {
        unsigned char c = (unsigned char)alias.ptr[i];
        if (c < 0x20 || c == 0x7f) {
            char why[96];
            snprintf(why, sizeof(why),
                     "\"model\" contains a control character (U+%04X at byte %zu)", c, i);
            sl_buf_dispose(&alias);
            sl_exchange_error(x, SL_ERR_INVALID_REQUEST, why);
            return SL_DONE;
        }
    }
    x->log.model = sl_str_from_iov(h2o_strdup(pool, alias.ptr, alias.len));
    sl_buf_dispose(&alias);
    return SL_OK;
}

/* The body, as the route's dialect reads it (400). */
int sl_phase_inspect(struct sl_exchange *x)
{
    char why[200];
    const struct sl_route *r = x->route;
    if (r->dialect->inspect(r->op, sl_str_from_iov(x->req->entity), &x->call, why, sizeof(why)) !=
        SL_OK) {
        sl_exchange_error(x, SL_ERR_INVALID_REQUEST, why);
        return SL_DONE;
    }
    x->alias_json = x->call.model.value;
    return take_alias(x, x->call.model.value);
}

/* The upstream model id, as a JSON literal for the body and as text for the log. A direct
 * model's are precomputed in the generation; a wildcard's are built per request. */
static bool upstream_id(struct sl_exchange *x, const struct sl_model *model)
{
    h2o_mem_pool_t *pool = &x->req->pool;
    if (model->kind == SL_MODEL_ROUTING)
        return true; /* each target has its own */
    if (!model->is_wildcard) {
        x->upstream_id_json = sl_str_from_cstr(model->model_name_json);
        x->upstream_id = sl_str_from_cstr(model->model_name);
        return true;
    }
    struct sl_buf id, text;
    sl_buf_init(&id, MAX_UPSTREAM_ID_BYTES);
    if (sl_resources_resolve(x->res, x->log.model, &id) != model) {
        sl_buf_dispose(&id);
        return false;
    }
    x->upstream_id_json = sl_str_from_iov(h2o_strdup(pool, id.ptr, id.len));
    sl_buf_init(&text, MAX_UPSTREAM_ID_BYTES);
    if (sl_json_unescape(sl_buf_str(&id), &text) == SL_OK)
        x->upstream_id = sl_str_from_iov(h2o_strdup(pool, text.ptr, text.len));
    sl_buf_dispose(&text);
    sl_buf_dispose(&id);
    return true;
}

/* The alias: an exact model name, else the longest wildcard (404). */
int sl_phase_route(struct sl_exchange *x)
{
    const struct sl_model *model = sl_resources_resolve(x->res, x->log.model, NULL);
    if (model == NULL || !upstream_id(x, model)) {
        sl_exchange_error(x, SL_ERR_MODEL_NOT_FOUND, (int)SL_MIN(x->log.model.len, 200),
                          x->log.model.ptr);
        return SL_DONE;
    }
    x->model = model;
    x->log.model_label = sl_str_from_cstr(model->name);
    x->log.upstream_model = x->upstream_id;
    return SL_OK;
}

/* The client's address: the TCP peer, or behind trusted proxies what proxy.real_ip reads
 * from the forwarded header (the last SL_REAL_IP_MAX_HEADERS instances: the walk starts from
 * the right). */
#define SL_REAL_IP_MAX_HEADERS 16

static bool client_ip(struct sl_exchange *x, struct sl_ip *out)
{
    h2o_req_t *req = x->req;
    struct sockaddr_storage ss;
    struct sl_ip peer;
    if (req->conn->callbacks->get_peername == NULL ||
        req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0 ||
        !sl_ip_from_sockaddr((struct sockaddr *)&ss, &peer))
        return false;
    const struct sl_cidr_list *trusted = &x->svc->cfg->proxy.real_ip.trusted_proxies;
    if (trusted->n == 0 || !sl_cidr_any(trusted->v, trusted->n, &peer)) {
        *out = peer;
        return true;
    }
    const char *name = x->svc->cfg->proxy.real_ip.header;
    struct sl_str values[SL_REAL_IP_MAX_HEADERS];
    size_t n = 0, len = strlen(name);
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);
    while (i != -1) {
        if (n == SL_REAL_IP_MAX_HEADERS) {
            memmove(values, values + 1, (n - 1) * sizeof(*values));
            n--;
        }
        values[n++] = sl_str_from_iov(req->headers.entries[i].value);
        i = h2o_find_header_by_str(&req->headers, name, len, i);
    }
    *out =
        sl_real_ip(&peer, values, n, trusted->v, trusted->n, x->svc->cfg->proxy.real_ip.recursive);
    return true;
}

static struct sl_str header_value(h2o_req_t *req, const char *name, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);
    return i == -1 ? SL_STR_NULL : sl_str_from_iov(req->headers.entries[i].value);
}

/* A cookie of any of the request's Cookie headers (HTTP/2 may split them). */
static struct sl_str cookie(h2o_req_t *req, const char *name)
{
    struct sl_str v = SL_STR_NULL;
    ssize_t j = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, -1);
    while (j != -1 && !sl_route_cookie(sl_str_from_iov(req->headers.entries[j].value),
                                       sl_str_from_cstr(name), &v))
        j = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, j);
    return v;
}

/* The consistent_hash key: the first hash_on source with a value (the caller key's name for
 * api_key, the client's address as text for client_ip); empty when none has one. */
static struct sl_str hash_key(struct sl_exchange *x, const struct sl_routing *rt)
{
    for (size_t i = 0; i < rt->n_hash_on; i++) {
        const struct sl_hash_on *h = &rt->hash_on[i];
        struct sl_str v = SL_STR_NULL;
        switch (h->type) {
        case SL_HASH_HEADER:
            v = sl_str_trim(header_value(x->req, h->name, strlen(h->name)));
            break;
        case SL_HASH_COOKIE:
            v = cookie(x->req, h->name);
            break;
        case SL_HASH_API_KEY:
            v = sl_str_from_cstr(x->key->name);
            break;
        case SL_HASH_CLIENT_IP:
            if (x->has_client) {
                char *text = h2o_mem_alloc_pool(&x->req->pool, SL_IP_TEXT_MAX);
                v = sl_str_init(text, sl_ip_format(&x->client, text, SL_IP_TEXT_MAX));
            }
            break;
        }
        if (v.len != 0)
            return v;
    }
    return SL_STR_NULL;
}

/* Routing tags: Sluice's header, else AISIX's. */
static struct sl_str routing_tags(h2o_req_t *req)
{
    struct sl_str t = header_value(req, H2O_STRLIT("x-sluice-routing-tags"));
    return t.len != 0 ? t : header_value(req, H2O_STRLIT("x-aisix-routing-tags"));
}

/* The direct models to try, in order (route.h; reference 7.1): 400 when no target carries a
 * requested tag, 403 when the client is outside the ranges, 503 with Retry-After when every
 * candidate is down and the group says fail. */
int sl_phase_plan(struct sl_exchange *x)
{
    const struct sl_model *m = x->model;
    /* Only ranges and the client_ip hash look at the client: most requests never ask. */
    x->has_client = sl_route_needs_client(m) && client_ip(x, &x->client);
    struct sl_route_input in = {.client = x->has_client ? &x->client : NULL,
                                .worker = x->svc->worker,
                                .now_ms = sl_now_us() / 1000};
    x->plan.targets =
        h2o_mem_alloc_pool(&x->req->pool, sl_route_plan_size(m) * sizeof(*x->plan.targets));
    if (m->kind == SL_MODEL_ROUTING) {
        if (m->routing->tagged)
            in.tags = routing_tags(x->req);
        if (m->routing->strategy == SL_ROUTE_CONSISTENT_HASH)
            in.hash_key = hash_key(x, m->routing);
    }
    switch (sl_route_plan(m, &in, &x->plan)) {
    case SL_ROUTE_OK:
        return SL_OK;
    case SL_ROUTE_NO_TAG_MATCH:
        sl_exchange_error(x, SL_ERR_ROUTING_TAGS, (int)SL_MIN(in.tags.len, 200), in.tags.ptr);
        break;
    case SL_ROUTE_IP_RESTRICTED:
        sl_exchange_error(x, SL_ERR_IP_RESTRICTED);
        break;
    case SL_ROUTE_ALL_UNAVAILABLE: {
        h2o_req_t *req = x->req;
        char *ra = h2o_mem_alloc_pool(&req->pool, 16);
        int n = snprintf(ra, 16, "%u", x->plan.retry_after_s);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, (size_t)n);
        sl_exchange_error(x, SL_ERR_ALL_CANDIDATES_UNAVAILABLE);
        break;
    }
    }
    return SL_DONE;
}

/* May this key use this model (403)? Later: rate limits and input guardrails. */
int sl_phase_access(struct sl_exchange *x)
{
    if (sl_api_key_allows(x->key, x->log.model))
        return SL_OK;
    sl_exchange_error(x, SL_ERR_MODEL_NOT_ALLOWED, x->key->name, (int)SL_MIN(x->log.model.len, 200),
                      x->log.model.ptr);
    return SL_DONE;
}
