/* GET /v1/models: the models the caller's key may use, in the OpenAI list shape, sorted by id;
 * GET /v1/models/{id}: one of them. Wildcard rows are patterns, not models, so they are neither
 * listed nor retrievable. */
#include <stdio.h>
#include <sys/time.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/errors.h"
#include "sluice/exchange.h"
#include "sluice/json.h"
#include "sluice/reply.h"

#define MODELS_MAX_BYTES (16u * 1024 * 1024)

/* Anthropic's SDKs send anthropic-version on every call: such a caller gets Anthropic's list
 * shape (ModelInfo rows, has_more, first_id, last_id). */
static bool wants_anthropic(h2o_req_t *req)
{
    return h2o_find_header_by_str(&req->headers, H2O_STRLIT("anthropic-version"), -1) != -1;
}

/* A ModelInfo. The release date of a configured alias is unknown: Anthropic's documented
 * stand-in for that is the epoch. */
static void append_anthropic_model(struct sl_buf *b, const struct sl_model *m)
{
    struct sl_str name = sl_str_from_cstr(m->name);
    sl_buf_appendf(b, "{\"type\":\"model\",\"id\":");
    sl_json_escape(b, name);
    sl_buf_appendf(b, ",\"display_name\":");
    sl_json_escape(b, name);
    sl_buf_appendf(b, ",\"created_at\":\"1970-01-01T00:00:00Z\"}");
}

static void append_model(struct sl_buf *b, const struct sl_model *m, long long created)
{
    sl_buf_appendf(b, "{\"id\":");
    sl_json_escape(b, sl_str_from_cstr(m->name));
    sl_buf_appendf(b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":", created);
    sl_json_escape(b, sl_str_from_cstr(m->provider));
    sl_buf_appendf(b, "}");
}

static void reply_buf(h2o_req_t *req, struct sl_buf *b)
{
    struct sl_str body = sl_str_from_iov(h2o_strdup(&req->pool, b->ptr, b->len));
    sl_buf_dispose(b);
    sl_reply(req, 200, "application/json", body);
}

static long long now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec;
}

/* Listed, and retrievable: a configured name (wildcard rows are patterns, not models) that the
 * caller's key may use. */
static bool is_visible(const struct sl_api_key *key, const struct sl_model *m)
{
    return !m->is_wildcard && sl_api_key_allows(key, sl_str_from_cstr(m->name));
}

int sl_phase_models(struct sl_exchange *x)
{
    const struct sl_resources *res = x->res;
    h2o_req_t *req = x->req;
    if (wants_anthropic(req))
        x->dialect = &sl_dialect_anthropic;
    if (sl_phase_auth(x) != SL_OK)
        return SL_DONE;
    const struct sl_api_key *key = x->key;
    long long created = now_s();
    bool anthropic = x->dialect == &sl_dialect_anthropic;
    const struct sl_model *first = NULL, *last = NULL;
    struct sl_buf b;
    sl_buf_init(&b, MODELS_MAX_BYTES);
    sl_buf_appendf(&b, anthropic ? "{\"data\":[" : "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < res->n_models; i++) { /* res->models is sorted by name */
        const struct sl_model *m = &res->models[i];
        if (!is_visible(key, m))
            continue;
        if (first != NULL)
            sl_buf_appendf(&b, ",");
        if (anthropic)
            append_anthropic_model(&b, m);
        else
            append_model(&b, m, created);
        if (first == NULL)
            first = m;
        last = m;
    }
    sl_buf_appendf(&b, "]");
    if (anthropic) {
        sl_buf_appendf(&b, ",\"has_more\":false,\"first_id\":");
        if (first != NULL)
            sl_json_escape(&b, sl_str_from_cstr(first->name));
        else
            sl_buf_appendf(&b, "null");
        sl_buf_appendf(&b, ",\"last_id\":");
        if (last != NULL)
            sl_json_escape(&b, sl_str_from_cstr(last->name));
        else
            sl_buf_appendf(&b, "null");
    }
    sl_buf_appendf(&b, "}");
    reply_buf(req, &b);
    return SL_DONE;
}

/* The id is the rest of the path, percent-decoded by h2o (the openai SDK encodes "/" in ids
 * such as "openai/gpt-4o" as %2F). An id the caller may not use is reported exactly like one
 * that does not exist, so ids cannot be probed. */
int sl_phase_model(struct sl_exchange *x)
{
    h2o_req_t *req = x->req;
    if (wants_anthropic(req))
        x->dialect = &sl_dialect_anthropic;
    if (sl_phase_auth(x) != SL_OK)
        return SL_DONE;
    static const size_t prefix = sizeof("/v1/models/") - 1;
    struct sl_str id =
        sl_str_init(req->path_normalized.base + prefix, req->path_normalized.len - prefix);
    x->log.model = id;
    const struct sl_model *m = sl_resources_resolve(x->res, id, NULL);
    if (m == NULL || !is_visible(x->key, m)) {
        sl_exchange_error(x, SL_ERR_MODEL_NOT_FOUND, (int)SL_MIN(id.len, 200), id.ptr);
        return SL_DONE;
    }
    x->log.model_label = sl_str_from_cstr(m->name);
    struct sl_buf b;
    sl_buf_init(&b, MODELS_MAX_BYTES);
    if (x->dialect == &sl_dialect_anthropic)
        append_anthropic_model(&b, m);
    else
        append_model(&b, m, now_s());
    reply_buf(req, &b);
    return SL_DONE;
}
