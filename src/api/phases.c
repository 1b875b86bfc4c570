/* The phases before the upstream call: auth, inspect, route, access (exchange.h). Each either
 * lets the request go on or answers it in the route's dialect. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sluice/auth.h"
#include "sluice/base.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/json.h"

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

/* May this key use this model (403)? Later: rate limits and input guardrails. */
int sl_phase_access(struct sl_exchange *x)
{
    if (sl_api_key_allows(x->key, x->log.model))
        return SL_OK;
    sl_exchange_error(x, SL_ERR_MODEL_NOT_ALLOWED, x->key->name, (int)SL_MIN(x->log.model.len, 200),
                      x->log.model.ptr);
    return SL_DONE;
}
