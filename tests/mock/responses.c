/* The mock's OpenAI Responses endpoints (responses.h). Wire details follow the API reference and
 * the openai SDK's types (openai 6.30.1, resources/responses/responses.d.ts): a create body is
 * checked parameter by parameter (an unknown one is a 400 "Unknown parameter: 'x'." with code
 * unknown_parameter, as the API answers), input items and content parts by their type; the
 * reply is a response object, or its event stream with sequence numbers and no [DONE]. Bodies
 * are built with jansson: this endpoint is for tests, not the benchmark's hot path. */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autotool.h"
#include "mjson.h"
#include "render.h"
#include "responses.h"
#include "sluice/base.h"

#define STORE_SLOTS    256
#define STORE_MAX_BODY (8u << 20)

/* ---- the store ---- */

struct stored {
    char *id;    /* resp_... */
    char *key;   /* the API key that created it */
    char *body;  /* the response object, as GET returns it */
    char *items; /* its input items (a JSON array, each with an id) */
    bool background;
    bool cancelled;
};

static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stored store[STORE_SLOTS];
static size_t store_next;

static void stored_free(struct stored *s)
{
    free(s->id);
    free(s->key);
    free(s->body);
    free(s->items);
    *s = (struct stored){0};
}

void mock_responses_dispose(void)
{
    pthread_mutex_lock(&store_mu);
    for (size_t i = 0; i < STORE_SLOTS; i++)
        stored_free(&store[i]);
    pthread_mutex_unlock(&store_mu);
}

static void store_add(struct sl_str id, struct sl_str key, const char *body, const char *items,
                      bool background)
{
    pthread_mutex_lock(&store_mu);
    struct stored *s = &store[store_next++ % STORE_SLOTS];
    stored_free(s);
    s->id = sl_str_dup(id);
    s->key = sl_str_dup(key);
    s->body = sl_xstrdup(body);
    s->items = sl_xstrdup(items);
    s->background = background;
    pthread_mutex_unlock(&store_mu);
}

/* The slot of id for key; call with the lock held. */
static struct stored *store_find(struct sl_str id, struct sl_str key)
{
    for (size_t i = 0; i < STORE_SLOTS; i++) {
        struct stored *s = &store[i];
        if (s->id != NULL && sl_str_eq(id, sl_str_from_cstr(s->id)) &&
            sl_str_eq(key, sl_str_from_cstr(s->key)))
            return s;
    }
    return NULL;
}

/* True when an item with this id (output or input) was stored for key. */
static bool store_has_item(const char *item_id, struct sl_str key)
{
    char needle[300];
    bool found = false;
    snprintf(needle, sizeof(needle), "\"id\":\"%s\"", item_id);
    pthread_mutex_lock(&store_mu);
    for (size_t i = 0; i < STORE_SLOTS && !found; i++) {
        struct stored *s = &store[i];
        found = s->id != NULL && sl_str_eq(key, sl_str_from_cstr(s->key)) &&
                (strstr(s->body, needle) != NULL || strstr(s->items, needle) != NULL);
    }
    pthread_mutex_unlock(&store_mu);
    return found;
}

/* ---- errors ---- */

/* An OpenAI error envelope; param NULL is null, code NULL is null. */
static int reply_error(h2o_req_t *req, int status, const char *param, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int reply_error(h2o_req_t *req, int status, const char *param, const char *code,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", msg, "type",
                          status == 404   ? "invalid_request_error"
                          : status >= 500 ? "server_error"
                                          : "invalid_request_error",
                          "param", param != NULL ? json_string(param) : json_null(), "code",
                          code != NULL ? json_string(code) : json_null());
    char *text = json_dumps(e, JSON_COMPACT);
    h2o_iovec_t body = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    json_decref(e);
    mock__send_json(req, status, sl_str_init(body.base, body.len), NULL);
    return 0;
}

/* ---- request validation ---- */

struct check {
    char param[256]; /* the path of the bad value, e.g. input[2].content[0].text */
    const char *code;
    char msg[400];
};

static int bad(struct check *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct check *c, const char *code, const char *fmt, ...)
{
    va_list ap;
    c->code = code;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

static int unknown(struct check *c, const char *path, const char *key)
{
    snprintf(c->param, sizeof(c->param), "%s%s%s", path, path[0] != '\0' ? "." : "", key);
    return bad(c, "unknown_parameter", "Unknown parameter: '%s'.", c->param);
}

static int wrong(struct check *c, const char *path, const char *what)
{
    snprintf(c->param, sizeof(c->param), "%s", path);
    return bad(c, "invalid_type", "Invalid type for '%s': expected %s.", path, what);
}

/* Every member of o is one of names (NULL-terminated). */
static int only(struct check *c, const char *path, json_t *o, const char *const *names)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (names[i] != NULL && strcmp(names[i], k) != 0)
            i++;
        if (names[i] == NULL)
            return unknown(c, path, k);
    }
    return SL_OK;
}

static int string_member(struct check *c, const char *path, json_t *o, const char *key,
                         bool required)
{
    json_t *v = json_object_get(o, key);
    char p[200];
    snprintf(p, sizeof(p), "%s.%s", path, key);
    if (v == NULL && required) {
        snprintf(c->param, sizeof(c->param), "%s", p);
        return bad(c, "missing_required_parameter", "Missing required parameter: '%s'.", p);
    }
    if (v != NULL && !json_is_string(v))
        return wrong(c, p, "a string");
    return SL_OK;
}

static int user_part(struct check *c, const char *path, json_t *part, const char *type)
{
    static const char *const text[] = {"type", "text", NULL};
    static const char *const image[] = {"type", "image_url", "file_id", "detail", NULL};
    static const char *const file[] = {"type",     "file_data", "file_id",
                                       "file_url", "filename",  NULL};
    static const char *const audio[] = {"type", "input_audio", NULL};
    if (strcmp(type, "input_text") == 0)
        return only(c, path, part, text) != SL_OK ? SL_EPARSE
                                                  : string_member(c, path, part, "text", true);
    if (strcmp(type, "input_image") == 0) {
        if (only(c, path, part, image) != SL_OK)
            return SL_EPARSE;
        if (json_object_get(part, "image_url") == NULL && json_object_get(part, "file_id") == NULL)
            return bad(c, "missing_required_parameter",
                       "'%s': one of image_url or file_id is required.", path);
        return string_member(c, path, part, "image_url", false);
    }
    if (strcmp(type, "input_file") == 0)
        return only(c, path, part, file);
    if (strcmp(type, "input_audio") == 0)
        return only(c, path, part, audio);
    return SL_ERR;
}

static int assistant_part(struct check *c, const char *path, json_t *part, const char *type)
{
    static const char *const text[] = {"type", "text", "annotations", "logprobs", NULL};
    static const char *const refusal[] = {"type", "refusal", NULL};
    if (strcmp(type, "output_text") == 0)
        return only(c, path, part, text) != SL_OK ? SL_EPARSE
                                                  : string_member(c, path, part, "text", true);
    if (strcmp(type, "refusal") == 0)
        return only(c, path, part, refusal) != SL_OK
                   ? SL_EPARSE
                   : string_member(c, path, part, "refusal", true);
    return SL_ERR;
}

static int message_content(struct check *c, const char *path, json_t *content, bool assistant)
{
    size_t j;
    json_t *part;
    char p[200];
    if (json_is_string(content))
        return SL_OK;
    snprintf(p, sizeof(p), "%s.content", path);
    if (!json_is_array(content))
        return wrong(c, p, "a string or an array");
    json_array_foreach(content, j, part)
    {
        snprintf(p, sizeof(p), "%s.content[%zu]", path, j);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!json_is_object(part) || type == NULL)
            return wrong(c, p, "an object with a type");
        int rc = assistant ? assistant_part(c, p, part, type) : user_part(c, p, part, type);
        if (rc == SL_ERR) {
            snprintf(c->param, sizeof(c->param), "%s.type", p);
            return bad(c, "invalid_value", "Invalid value: '%s'. Supported values are: %s.", type,
                       assistant ? "'output_text' and 'refusal'"
                                 : "'input_text', 'input_image', 'input_file' and 'input_audio'");
        }
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

static int item(struct check *c, json_t *it, size_t i, struct sl_str key)
{
    static const char *const message[] = {"type", "role", "content", "id", "status", "phase", NULL};
    static const char *const call[] = {"type", "call_id", "name",      "arguments",
                                       "id",   "status",  "namespace", NULL};
    static const char *const output[] = {"type", "call_id", "output", "id", "status", NULL};
    static const char *const reasoning[] = {
        "type", "id", "summary", "content", "status", "encrypted_content", NULL};
    static const char *const reference[] = {"type", "id", NULL};
    char p[64];
    snprintf(p, sizeof(p), "input[%zu]", i);
    if (!json_is_object(it))
        return wrong(c, p, "an object");
    const char *type = json_string_value(json_object_get(it, "type"));
    if (type == NULL || strcmp(type, "message") == 0) {
        const char *role = json_string_value(json_object_get(it, "role"));
        if (only(c, p, it, message) != SL_OK)
            return SL_EPARSE;
        if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
                             strcmp(role, "system") != 0 && strcmp(role, "developer") != 0)) {
            snprintf(c->param, sizeof(c->param), "%s.role", p);
            return bad(c, "invalid_value",
                       "Invalid value for '%s.role': expected user, assistant, system or "
                       "developer.",
                       p);
        }
        return message_content(c, p, json_object_get(it, "content"),
                               strcmp(role, "assistant") == 0);
    }
    if (strcmp(type, "function_call") == 0) {
        if (only(c, p, it, call) != SL_OK || string_member(c, p, it, "call_id", true) != SL_OK ||
            string_member(c, p, it, "name", true) != SL_OK)
            return SL_EPARSE;
        return string_member(c, p, it, "arguments", true);
    }
    if (strcmp(type, "function_call_output") == 0) {
        json_t *out = json_object_get(it, "output");
        if (only(c, p, it, output) != SL_OK || string_member(c, p, it, "call_id", true) != SL_OK)
            return SL_EPARSE;
        if (!json_is_string(out) && !json_is_array(out)) {
            char q[80];
            snprintf(q, sizeof(q), "%s.output", p);
            return wrong(c, q, "a string or an array");
        }
        return SL_OK;
    }
    if (strcmp(type, "reasoning") == 0)
        return only(c, p, it, reasoning);
    if (strcmp(type, "item_reference") == 0) {
        const char *id = json_string_value(json_object_get(it, "id"));
        if (only(c, p, it, reference) != SL_OK)
            return SL_EPARSE;
        if (id == NULL || strlen(id) > 256 || !store_has_item(id, key)) {
            snprintf(c->param, sizeof(c->param), "%s.id", p);
            return bad(c, NULL, "Item with id '%.256s' not found.", id != NULL ? id : "");
        }
        return SL_OK;
    }
    snprintf(c->param, sizeof(c->param), "%s.type", p);
    return bad(c, "invalid_value",
               "Invalid value: '%.64s'. Supported values are: 'message', 'function_call', "
               "'function_call_output', 'reasoning' and 'item_reference' (sluice-mock).",
               type);
}

static int tool(struct check *c, json_t *t, size_t i)
{
    static const char *const function[] = {"type",       "name",   "description",
                                           "parameters", "strict", NULL};
    char p[64];
    snprintf(p, sizeof(p), "tools[%zu]", i);
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!json_is_object(t) || type == NULL)
        return wrong(c, p, "an object with a type");
    if (strcmp(type, "function") != 0)
        return SL_OK; /* built-in tools: accepted, never run by the mock */
    if (only(c, p, t, function) != SL_OK || string_member(c, p, t, "name", true) != SL_OK)
        return SL_EPARSE;
    json_t *params = json_object_get(t, "parameters");
    if (params != NULL && !json_is_object(params) && !json_is_null(params)) {
        char q[80];
        snprintf(q, sizeof(q), "%s.parameters", p);
        return wrong(c, q, "an object");
    }
    return SL_OK;
}

static int text_config(struct check *c, json_t *text)
{
    static const char *const keys[] = {"format", "verbosity", NULL};
    static const char *const schema[] = {"type", "name", "schema", "description", "strict", NULL};
    if (!json_is_object(text))
        return wrong(c, "text", "an object");
    if (only(c, "text", text, keys) != SL_OK)
        return SL_EPARSE;
    json_t *f = json_object_get(text, "format");
    if (f == NULL)
        return SL_OK;
    const char *type = json_string_value(json_object_get(f, "type"));
    if (type == NULL)
        return wrong(c, "text.format", "an object with a type");
    if (strcmp(type, "json_schema") == 0) {
        if (only(c, "text.format", f, schema) != SL_OK ||
            string_member(c, "text.format", f, "name", true) != SL_OK)
            return SL_EPARSE;
        if (!json_is_object(json_object_get(f, "schema")))
            return wrong(c, "text.format.schema", "an object");
        return SL_OK;
    }
    if (strcmp(type, "text") != 0 && strcmp(type, "json_object") != 0) {
        snprintf(c->param, sizeof(c->param), "text.format.type");
        return bad(c, "invalid_value", "Invalid value: '%.64s'.", type);
    }
    return SL_OK;
}

/* The create body, parameter by parameter. */
static int check_create(struct check *c, json_t *b, struct sl_str key)
{
    static const char *const params[] = {"model",
                                         "input",
                                         "instructions",
                                         "stream",
                                         "stream_options",
                                         "max_output_tokens",
                                         "max_tool_calls",
                                         "temperature",
                                         "top_p",
                                         "top_logprobs",
                                         "tools",
                                         "tool_choice",
                                         "parallel_tool_calls",
                                         "text",
                                         "reasoning",
                                         "metadata",
                                         "user",
                                         "safety_identifier",
                                         "prompt_cache_key",
                                         "prompt_cache_retention",
                                         "service_tier",
                                         "store",
                                         "background",
                                         "previous_response_id",
                                         "conversation",
                                         "prompt",
                                         "include",
                                         "truncation",
                                         "context_management",
                                         "mock",
                                         NULL};
    json_t *v;
    size_t i;
    if (only(c, "", b, params) != SL_OK)
        return SL_EPARSE;
    if (!json_is_string(json_object_get(b, "model"))) {
        snprintf(c->param, sizeof(c->param), "model");
        return bad(c, "missing_required_parameter", "Missing required parameter: 'model'.");
    }
    v = json_object_get(b, "input");
    if (v != NULL && !json_is_string(v) && !json_is_array(v))
        return wrong(c, "input", "a string or an array");
    for (i = 0; json_is_array(v) && i < json_array_size(v); i++)
        if (item(c, json_array_get(v, i), i, key) != SL_OK)
            return SL_EPARSE;
    v = json_object_get(b, "tools");
    if (v != NULL && !json_is_array(v) && !json_is_null(v))
        return wrong(c, "tools", "an array");
    for (i = 0; json_is_array(v) && i < json_array_size(v); i++)
        if (tool(c, json_array_get(v, i), i) != SL_OK)
            return SL_EPARSE;
    if ((v = json_object_get(b, "text")) != NULL && text_config(c, v) != SL_OK)
        return SL_EPARSE;
    static const char *const bools[] = {"stream", "store", "background", "parallel_tool_calls"};
    for (i = 0; i < SL_ARRAY_LEN(bools); i++)
        if ((v = json_object_get(b, bools[i])) != NULL && !json_is_boolean(v) && !json_is_null(v))
            return wrong(c, bools[i], "a boolean");
    static const char *const strings[] = {"instructions", "user", "safety_identifier",
                                          "prompt_cache_key", "previous_response_id"};
    for (i = 0; i < SL_ARRAY_LEN(strings); i++)
        if ((v = json_object_get(b, strings[i])) != NULL && !json_is_string(v) && !json_is_null(v))
            return wrong(c, strings[i], "a string");
    if ((v = json_object_get(b, "max_output_tokens")) != NULL && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) < 16)) {
        snprintf(c->param, sizeof(c->param), "max_output_tokens");
        return bad(c, "integer_below_min_value",
                   "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                   "16.");
    }
    if ((v = json_object_get(b, "temperature")) != NULL && !json_is_null(v) &&
        (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 2))
        return wrong(c, "temperature", "a number from 0 to 2");
    if ((v = json_object_get(b, "metadata")) != NULL && !json_is_object(v) && !json_is_null(v))
        return wrong(c, "metadata", "an object");
    if (json_is_true(json_object_get(b, "background")) &&
        json_is_false(json_object_get(b, "store"))) {
        snprintf(c->param, sizeof(c->param), "background");
        return bad(c, NULL, "Background responses must be stored (store: false was given).");
    }
    return SL_OK;
}

/* ---- the reply ---- */

struct reply {
    struct mock_worker *w;
    h2o_req_t *req;
    const struct mock_opts *o;
    json_t *body; /* the request */
    struct sl_str key;
    struct sl_str id; /* resp_mock_<w>_<n> */
    json_int_t created;
    bool text;          /* a message item with the reply's text */
    struct sl_str full; /* the whole text (raw), as the deltas join to */
    const char *status; /* completed, or incomplete */
    /* stream */
    struct sl_str *item_ids; /* per output item */
    size_t n_items;
    char *in_progress; /* the response object at the start (status in_progress, no output) */
    char *final;       /* the response object at the end */
    struct rd_seg segs[8 + 4 * MOCK_MAX_TOOL_CALLS];
    size_t n_segs;
    uint64_t seq_base[8 + 4 * MOCK_MAX_TOOL_CALLS];
    uint64_t next_seq; /* the sequence number of the next event (for the in-band error) */
    char *tok;         /* scratch for one escaped piece */
};

static json_t *usage_json(const struct reply *r, uint64_t output)
{
    uint64_t input = SL_MAX(r->req->entity.len / 4, 1);
    uint64_t cached = r->o->cached_tokens != MOCK_UNSET ? r->o->cached_tokens : 0;
    uint64_t reasoning = r->o->reasoning_tokens != MOCK_UNSET ? r->o->reasoning_tokens : 0;
    return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens", (json_int_t)input,
                     "input_tokens_details", "cached_tokens", (json_int_t)cached, "output_tokens",
                     (json_int_t)output, "output_tokens_details", "reasoning_tokens",
                     (json_int_t)reasoning, "total_tokens", (json_int_t)(input + output));
}

static uint64_t deltas(const struct reply *r)
{
    uint64_t n = r->text ? r->o->chunks : 0;
    for (size_t i = 0; i < r->o->n_tool_calls; i++)
        n += rd_arg_pieces(r->o->tool_calls[i].args);
    return n;
}

static json_t *message_item(const struct reply *r, struct sl_str id, bool done)
{
    json_t *content = json_array();
    if (done)
        json_array_append_new(content, json_pack("{s:s,s:[],s:[],s:s%}", "type", "output_text",
                                                 "annotations", "logprobs", "text", r->full.ptr,
                                                 r->full.len));
    return json_pack("{s:s%,s:s,s:s,s:o,s:s}", "id", id.ptr, id.len, "type", "message", "status",
                     done ? "completed" : "in_progress", "content", content, "role", "assistant");
}

static struct sl_str call_id(const struct reply *r, size_t i)
{
    const struct mock_tool_call *t = &r->o->tool_calls[i];
    if (t->id.ptr != NULL)
        return t->id;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "call_mock_%zu", i);
    h2o_iovec_t v = h2o_strdup(&r->req->pool, buf, (size_t)n);
    return sl_str_init(v.base, v.len);
}

static json_t *call_item(const struct reply *r, size_t i, struct sl_str id, bool done)
{
    const struct mock_tool_call *t = &r->o->tool_calls[i];
    struct sl_str cid = call_id(r, i);
    return json_pack("{s:s%,s:s,s:s,s:s%,s:s%,s:s%}", "id", id.ptr, id.len, "type", "function_call",
                     "status", done ? "completed" : "in_progress", "arguments",
                     done ? t->args.ptr : "", done ? t->args.len : (size_t)0, "call_id", cid.ptr,
                     cid.len, "name", t->name.ptr, t->name.len);
}

/* A member of the request, echoed in the response object (or a default). */
static json_t *echo(const struct reply *r, const char *key, json_t *dflt)
{
    json_t *v = json_object_get(r->body, key);
    if (v != NULL && !json_is_null(v)) {
        json_decref(dflt);
        return json_incref(v);
    }
    return dflt;
}

/* The response object. done: with its output and usage; else as response.created shows it. */
static char *response_json(const struct reply *r, bool done, const char *status)
{
    json_t *out = json_array();
    json_t *b = r->body;
    for (size_t i = 0; done && i < r->n_items; i++) {
        bool msg = r->text && i == 0;
        json_array_append_new(out, msg ? message_item(r, r->item_ids[i], true)
                                       : call_item(r, i - r->text, r->item_ids[i], true));
    }
    json_t *o = json_pack(
        "{s:s%,s:s,s:I,s:s,s:b,s:n,s:o,s:o,s:o,s:O,s:o,s:b,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:s,"
        "s:o,s:o,s:o}",
        "id", r->id.ptr, r->id.len, "object", "response", "created_at", r->created, "status",
        status, "background", json_is_true(json_object_get(b, "background")), "error",
        "incomplete_details",
        strcmp(status, "incomplete") == 0
            ? json_pack("{s:s}", "reason",
                        sl_str_eq_lit(r->o->finish_reason, "content_filter") ? "content_filter"
                                                                             : "max_output_tokens")
            : json_null(),
        "instructions", echo(r, "instructions", json_null()), "max_output_tokens",
        echo(r, "max_output_tokens", json_null()), "model", json_object_get(b, "model"), "output",
        out, "parallel_tool_calls", !json_is_false(json_object_get(b, "parallel_tool_calls")),
        "previous_response_id", echo(r, "previous_response_id", json_null()), "reasoning",
        echo(r, "reasoning", json_pack("{s:n,s:n}", "effort", "summary")), "store",
        !json_is_false(json_object_get(b, "store")), "temperature",
        echo(r, "temperature", json_real(1.0)), "text",
        echo(r, "text", json_pack("{s:{s:s}}", "format", "type", "text")), "tool_choice",
        echo(r, "tool_choice", json_string("auto")), "tools", echo(r, "tools", json_array()),
        "top_p", echo(r, "top_p", json_real(1.0)), "truncation", "disabled", "usage",
        done ? usage_json(r, deltas(r)) : json_null(), "user", echo(r, "user", json_null()),
        "metadata", echo(r, "metadata", json_object()));
    SL_ASSERT(o != NULL);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* The request's input as stored items: each with an id (a string input is one user message). */
static char *input_items(const struct reply *r)
{
    json_t *in = json_object_get(r->body, "input"), *items = json_array(), *it;
    size_t i;
    if (json_is_string(in))
        json_array_append_new(items,
                              json_pack("{s:s,s:s,s:s,s:[{s:s,s:O}],s:s}", "id", "msg_mock_in_0",
                                        "type", "message", "role", "user", "content", "type",
                                        "input_text", "text", in, "status", "completed"));
    json_array_foreach(json_is_array(in) ? in : NULL, i, it)
    {
        json_t *copy = json_deep_copy(it), *content = json_object_get(copy, "content");
        /* A message item is listed as the API lists it: typed, its text as a part. */
        if (json_object_get(copy, "role") != NULL) {
            const char *role = json_string_value(json_object_get(copy, "role"));
            if (json_is_string(content))
                json_object_set_new(copy, "content",
                                    json_pack("[{s:s,s:O}]", "type",
                                              role != NULL && strcmp(role, "assistant") == 0
                                                  ? "output_text"
                                                  : "input_text",
                                              "text", content));
            json_object_set_new(copy, "type", json_string("message"));
            if (json_object_get(copy, "status") == NULL)
                json_object_set_new(copy, "status", json_string("completed"));
        }
        if (json_object_get(copy, "id") == NULL) {
            char id[48];
            snprintf(id, sizeof(id), "item_mock_in_%.*s_%zu", (int)SL_MIN(r->id.len, 24),
                     r->id.ptr + 5, i);
            json_object_set_new(copy, "id", json_string(id));
        }
        json_array_append_new(items, copy);
    }
    char *text = json_dumps(items, JSON_COMPACT);
    json_decref(items);
    return text;
}

static void plan_items(struct reply *r)
{
    r->n_items = r->text + r->o->n_tool_calls;
    r->item_ids = h2o_mem_alloc_pool(&r->req->pool, sizeof(*r->item_ids) * (r->n_items + 1));
    for (size_t i = 0; i < r->n_items; i++)
        r->item_ids[i] =
            mock__make_id(r->w, r->req, r->text && i == 0 ? "msg_mock_" : "fc_mock_", '_');
}

/* ---- the stream ---- */

enum rs_kind {
    RSK_CREATED = 0,
    RSK_IN_PROGRESS,
    RSK_ITEM_ADDED, /* arg: output index */
    RSK_PART_ADDED,
    RSK_TEXT_DELTA,
    RSK_TEXT_DONE,
    RSK_PART_DONE,
    RSK_ARGS_DELTA, /* arg: output index */
    RSK_ARGS_DONE,
    RSK_ITEM_DONE,
    RSK_FINAL,
};

static void add_seg(struct reply *r, enum rs_kind kind, uint8_t flags, size_t arg, uint64_t count)
{
    SL_ASSERT(r->n_segs < SL_ARRAY_LEN(r->segs));
    r->seq_base[r->n_segs] =
        r->n_segs == 0 ? 0 : r->seq_base[r->n_segs - 1] + r->segs[r->n_segs - 1].count;
    r->segs[r->n_segs++] = (struct rd_seg){(uint8_t)kind, flags, (uint16_t)arg, count};
}

static void put_head(struct mj_writer *w, const struct reply *r, const char *name)
{
    MJ_PUT_LIT(w, "event: ");
    mj_put(w, name, strlen(name));
    if (r->o->crlf)
        MJ_PUT_LIT(w, "\r\ndata: {\"type\":\"");
    else
        MJ_PUT_LIT(w, "\ndata: {\"type\":\"");
    mj_put(w, name, strlen(name));
    MJ_PUT_LIT(w, "\",");
}

static void put_tail(struct mj_writer *w, const struct reply *r, uint64_t seq)
{
    MJ_PUT_LIT(w, "\"sequence_number\":");
    mj_put_u64(w, seq);
    if (r->o->crlf)
        MJ_PUT_LIT(w, "}\r\n\r\n");
    else
        MJ_PUT_LIT(w, "}\n\n");
}

static void put_item_ref(struct mj_writer *w, const struct reply *r, size_t item, bool content)
{
    MJ_PUT_LIT(w, "\"item_id\":\"");
    mj_put_str(w, r->item_ids[item]);
    MJ_PUT_LIT(w, "\",\"output_index\":");
    mj_put_u64(w, item);
    MJ_PUT_LIT(w, ",");
    if (content)
        MJ_PUT_LIT(w, "\"content_index\":0,");
}

static void put_json(struct mj_writer *w, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    mj_put(w, text, strlen(text));
    free(text);
    json_decref(v);
}

/* The piece of delta j: of the text (chunk_text each time, or the reply cut in pieces) or of a
 * call's arguments. */
static struct sl_str piece(struct reply *r, const struct rd_seg *seg, uint64_t j)
{
    if (seg->kind == RSK_ARGS_DELTA) {
        struct sl_str args = r->o->tool_calls[seg->arg - r->text].args;
        return rd_piece(args, j, rd_arg_pieces(args));
    }
    if (r->o->chunk_text.ptr != NULL)
        return r->o->chunk_text;
    return rd_piece(r->o->reply, j, r->o->chunks);
}

static void rs_event(void *stream, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct reply *r = stream;
    uint64_t seq = r->seq_base[seg - r->segs] + j;
    size_t item = seg->arg;
    r->next_seq = seq + 1;
    switch ((enum rs_kind)seg->kind) {
    case RSK_CREATED:
    case RSK_IN_PROGRESS:
        put_head(w, r, seg->kind == RSK_CREATED ? "response.created" : "response.in_progress");
        MJ_PUT_LIT(w, "\"response\":");
        mj_put(w, r->in_progress, strlen(r->in_progress));
        MJ_PUT_LIT(w, ",");
        break;
    case RSK_FINAL:
        put_head(w, r,
                 strcmp(r->status, "completed") == 0 ? "response.completed"
                                                     : "response.incomplete");
        MJ_PUT_LIT(w, "\"response\":");
        mj_put(w, r->final, strlen(r->final));
        MJ_PUT_LIT(w, ",");
        break;
    case RSK_ITEM_ADDED:
    case RSK_ITEM_DONE: {
        bool done = seg->kind == RSK_ITEM_DONE, msg = r->text && item == 0;
        put_head(w, r, done ? "response.output_item.done" : "response.output_item.added");
        MJ_PUT_LIT(w, "\"output_index\":");
        mj_put_u64(w, item);
        MJ_PUT_LIT(w, ",\"item\":");
        put_json(w, msg ? message_item(r, r->item_ids[item], done)
                        : call_item(r, item - r->text, r->item_ids[item], done));
        MJ_PUT_LIT(w, ",");
        break;
    }
    case RSK_PART_ADDED:
    case RSK_PART_DONE:
        put_head(w, r,
                 seg->kind == RSK_PART_DONE ? "response.content_part.done"
                                            : "response.content_part.added");
        put_item_ref(w, r, item, true);
        MJ_PUT_LIT(w, "\"part\":{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],"
                      "\"text\":");
        mj_put_escaped(w, seg->kind == RSK_PART_DONE ? r->full : SL_STR_NULL);
        MJ_PUT_LIT(w, "},");
        break;
    case RSK_TEXT_DELTA:
    case RSK_ARGS_DELTA: {
        bool text = seg->kind == RSK_TEXT_DELTA;
        put_head(w, r,
                 text ? "response.output_text.delta" : "response.function_call_arguments.delta");
        put_item_ref(w, r, item, text);
        MJ_PUT_LIT(w, "\"delta\":");
        if (r->o->invalid_json && text) {
            MJ_PUT_LIT(w, "\"trunc");
            break; /* no closing: the event's JSON is cut */
        }
        mj_put_escaped(w, piece(r, seg, j));
        if (text)
            MJ_PUT_LIT(w, ",\"logprobs\":[]");
        MJ_PUT_LIT(w, ",");
        break;
    }
    case RSK_TEXT_DONE:
        put_head(w, r, "response.output_text.done");
        put_item_ref(w, r, item, true);
        MJ_PUT_LIT(w, "\"text\":");
        mj_put_escaped(w, r->full);
        MJ_PUT_LIT(w, ",\"logprobs\":[],");
        break;
    case RSK_ARGS_DONE: {
        const struct mock_tool_call *t = &r->o->tool_calls[item - r->text];
        put_head(w, r, "response.function_call_arguments.done");
        put_item_ref(w, r, item, false);
        MJ_PUT_LIT(w, "\"name\":");
        mj_put_escaped(w, t->name);
        MJ_PUT_LIT(w, ",\"arguments\":");
        mj_put_escaped(w, t->args);
        MJ_PUT_LIT(w, ",");
        break;
    }
    }
    if (r->o->invalid_json && seg->kind == RSK_TEXT_DELTA) {
        if (r->o->crlf)
            MJ_PUT_LIT(w, "\r\n\r\n");
        else
            MJ_PUT_LIT(w, "\n\n");
        return;
    }
    put_tail(w, r, seq);
}

/* The API's in-band error event. */
static void rs_error(void *stream, struct mj_writer *w)
{
    struct reply *r = stream;
    put_head(w, r, "error");
    MJ_PUT_LIT(w, "\"code\":\"server_error\",\"message\":\"The server had an error processing "
                  "your request. Sorry about that! (sluice-mock)\",\"param\":null,");
    put_tail(w, r, r->next_seq);
}

static size_t plan_stream(struct reply *r)
{
    const unsigned delta = RD_SEG_DELTA | RD_SEG_CHECK;
    size_t tok = mj_escape_bound(r->full.len);
    add_seg(r, RSK_CREATED, 0, 0, 1);
    add_seg(r, RSK_IN_PROGRESS, 0, 0, 1);
    for (size_t i = 0; i < r->n_items; i++) {
        add_seg(r, RSK_ITEM_ADDED, RD_SEG_CHECK, i, 1);
        if (r->text && i == 0) {
            add_seg(r, RSK_PART_ADDED, 0, i, 1);
            add_seg(r, RSK_TEXT_DELTA, delta, i, r->o->chunks);
            add_seg(r, RSK_TEXT_DONE, RD_SEG_CHECK, i, 1);
            add_seg(r, RSK_PART_DONE, 0, i, 1);
        } else {
            struct sl_str args = r->o->tool_calls[i - r->text].args;
            add_seg(r, RSK_ARGS_DELTA, delta, i, rd_arg_pieces(args));
            add_seg(r, RSK_ARGS_DONE, RD_SEG_CHECK, i, 1);
            tok = SL_MAX(tok, mj_escape_bound(args.len) * 2 + 64 +
                                  r->o->tool_calls[i - r->text].name.len * 6);
        }
        add_seg(r, RSK_ITEM_DONE, 0, i, 1);
    }
    add_seg(r, RSK_FINAL, RD_SEG_CHECK, 0, 1);
    return strlen(r->final) + strlen(r->in_progress) + 2 * tok + 1024;
}

/* ---- handlers ---- */

static struct sl_str bearer(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return SL_STR_NULL;
    struct sl_str v =
        sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    if (v.len > 7 && strncasecmp(v.ptr, "Bearer ", 7) == 0)
        return sl_str_trim(sl_str_init(v.ptr + 7, v.len - 7));
    return SL_STR_NULL;
}

static bool authorized(h2o_req_t *req, struct sl_str key)
{
    struct sl_str want = mock__cfg()->require_key;
    if (key.len == 0) {
        reply_error(req, 401, NULL, NULL,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                    "YOUR_KEY).");
        return false;
    }
    if (want.ptr != NULL && !sl_str_eq(key, want)) {
        reply_error(req, 401, NULL, "invalid_api_key",
                    "Incorrect API key provided (sluice-mock --require-key).");
        return false;
    }
    return true;
}

static bool parse_mock(h2o_req_t *req, json_t *body, struct mock_opts *o)
{
    char err[192];
    const char *other = NULL;
    json_t *m = json_object_get(body, "mock");
    mock_opts_init(o, &mock__cfg()->defaults);
    if (m == NULL)
        return true;
    char *text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = json_is_object(m) ? mock_opts_parse(o, sl_str_from_cstr(text), mock__pool_alloc,
                                                 &req->pool, err, sizeof(err))
                               : SL_EPARSE;
    free(text);
    if (!json_is_object(m))
        snprintf(err, sizeof(err), "mock: expected an object");
    if (rc == SL_OK && mock_opts_has_anthropic_only(o, &other))
        snprintf(err, sizeof(err), "mock.%s: only for Anthropic Messages", other);
    else if (rc == SL_OK && o->reasoning_content.ptr != NULL)
        snprintf(err, sizeof(err), "mock.reasoning_content: only for chat completions");
    else if (rc == SL_OK)
        return true;
    reply_error(req, 400, "mock", NULL, "%s", err);
    return false;
}

/* The text the reply's deltas join to. */
static struct sl_str full_text(h2o_req_t *req, const struct mock_opts *o, bool stream)
{
    if (!stream) {
        struct sl_str tok = mock__reply_token(req, o); /* padded to response_bytes */
        char *raw = h2o_mem_alloc_pool(&req->pool, tok.len);
        return sl_str_init(raw, mj_unescape(tok, raw));
    }
    if (o->chunk_text.ptr == NULL)
        return o->reply;
    size_t n = o->chunk_text.len * o->chunks;
    char *p = h2o_mem_alloc_pool(&req->pool, n + 1);
    for (uint64_t i = 0; i < o->chunks; i++)
        memcpy(p + i * o->chunk_text.len, o->chunk_text.ptr, o->chunk_text.len);
    return sl_str_init(p, n);
}

static int create(struct mock_worker *w, h2o_req_t *req, struct sl_str key)
{
    json_error_t jerr;
    struct check c = {.param = ""};
    /* In the pool: a stream's events read it after this handler returns. */
    struct mock_opts *o = h2o_mem_alloc_pool(&req->pool, sizeof(*o));
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
        return reply_error(req, 405, NULL, NULL, "use POST");
    json_t *b = json_loadb(req->entity.base, req->entity.len, 0, &jerr);
    if (b == NULL || !json_is_object(b)) {
        json_decref(b);
        return reply_error(req, 400, NULL, NULL,
                           "We could not parse the JSON body of your request. (sluice-mock)");
    }
    struct reply *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    *r = (struct reply){.w = w, .req = req, .o = o, .body = b, .key = key};
    if (check_create(&c, b, key) != SL_OK) {
        reply_error(req, 400, c.param[0] != '\0' ? c.param : NULL, c.code, "%s", c.msg);
        goto out;
    }
    const char *prev = json_string_value(json_object_get(b, "previous_response_id"));
    if (prev != NULL) {
        pthread_mutex_lock(&store_mu);
        bool found = store_find(sl_str_from_cstr(prev), key) != NULL;
        pthread_mutex_unlock(&store_mu);
        if (!found) {
            reply_error(req, 400, "previous_response_id", "previous_response_not_found",
                        "Previous response with id '%.200s' not found.", prev);
            goto out;
        }
    }
    if (!parse_mock(req, b, o))
        goto out;
    struct at_plan plan;
    if (at_plan(AT_RESPONSES, sl_str_init(req->entity.base, req->entity.len), mock__pool_alloc,
                &req->pool, &plan))
        at_apply(o, &plan, false, mock__pool_alloc, &req->pool);
    if (mock__fail_first(o) != SL_OK) {
        reply_error(req, 400, "mock", NULL, MOCK_TOO_MANY_TAGS);
        goto out;
    }
    if (o->status >= 300) {
        rec_count(&w->counters, REC_ERRORS_INJECTED, 1);
        reply_error(req, o->status, NULL, NULL, "sluice-mock: injected error with status %d",
                    o->status);
        goto out;
    }
    bool stream = json_is_true(json_object_get(b, "stream"));
    bool background = json_is_true(json_object_get(b, "background"));
    r->id = mock__make_id(w, req, "resp_mock_", '_');
    r->created = (json_int_t)(h2o_now(w->ctx.loop) / 1000);
    r->text = o->n_tool_calls == 0 || o->text_set;
    r->full = full_text(req, o, stream);
    r->status = sl_str_eq_lit(o->finish_reason, "length") ||
                        sl_str_eq_lit(o->finish_reason, "content_filter")
                    ? "incomplete"
                    : "completed";
    plan_items(r);
    char *final = response_json(r, true, r->status);
    char *items = input_items(r);
    if (!json_is_false(json_object_get(b, "store")) && strlen(final) <= STORE_MAX_BODY)
        store_add(r->id, key, final, items, background);
    free(items);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          r->id.ptr, r->id.len);
    if (stream) {
        char *start = response_json(r, false, "in_progress");
        r->final = h2o_strdup(&req->pool, final, strlen(final)).base;
        r->in_progress = h2o_strdup(&req->pool, start, strlen(start)).base;
        free(start);
        struct mock_sse sse = {.event = rs_event, .error = rs_error, .st = r};
        sse.ev_cap = plan_stream(r);
        sse.segs = r->segs;
        sse.n_segs = r->n_segs;
        mock__stream(w, req, o, &sse);
    } else {
        char *shown = background ? response_json(r, false, "in_progress") : NULL;
        const char *text = shown != NULL ? shown : final;
        h2o_iovec_t body = h2o_strdup(&req->pool, text, strlen(text));
        free(shown);
        mock__respond_body(w, req, o, 200, sl_str_init(body.base, body.len));
    }
    free(final);
    /* The stream's events point into r, which outlives b: b's values were copied out. */
    json_decref(b);
    return 0;
out:
    json_decref(b);
    return 0;
}

/* The value of query parameter name ("" when absent). */
static struct sl_str query_param(h2o_req_t *req, const char *name)
{
    if (req->query_at == SIZE_MAX)
        return SL_STR_NULL;
    struct sl_str q =
        sl_str_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    size_t nl = strlen(name);
    while (q.len != 0) {
        const char *amp = memchr(q.ptr, '&', q.len);
        size_t n = amp != NULL ? (size_t)(amp - q.ptr) : q.len;
        if (n > nl && memcmp(q.ptr, name, nl) == 0 && q.ptr[nl] == '=')
            return sl_str_init(q.ptr + nl + 1, n - nl - 1);
        q = amp != NULL ? sl_str_init(amp + 1, q.len - n - 1) : SL_STR_NULL;
    }
    return SL_STR_NULL;
}

/* GET .../input_items: newest first unless order=asc, limit (1-100, default 20), after an id. */
static int list_items(h2o_req_t *req, const char *items_json)
{
    json_t *items = json_loads(items_json, 0, NULL), *page = json_array(), *it;
    struct sl_str order = query_param(req, "order"), after = query_param(req, "after");
    uint64_t limit = 20;
    size_t n = json_array_size(items), i;
    struct sl_str ls = query_param(req, "limit");
    if (ls.len != 0 && (sl_str_to_u64(ls, 100, &limit) != SL_OK || limit == 0)) {
        json_decref(items);
        json_decref(page);
        return reply_error(req, 400, "limit", NULL, "Invalid 'limit': expected 1 to 100.");
    }
    bool asc = sl_str_eq_lit(order, "asc"), skipping = after.len != 0;
    for (size_t k = 0; k < n && json_array_size(page) < limit; k++) {
        i = asc ? k : n - 1 - k;
        it = json_array_get(items, i);
        const char *id = json_string_value(json_object_get(it, "id"));
        if (skipping) {
            skipping = !(id != NULL && sl_str_eq(after, sl_str_from_cstr(id)));
            continue;
        }
        json_array_append(page, it);
    }
    size_t got = json_array_size(page);
    json_t *list = json_pack(
        "{s:s,s:O,s:O,s:O,s:b}", "object", "list", "data", page, "first_id",
        got != 0 ? json_object_get(json_array_get(page, 0), "id") : json_null(), "last_id",
        got != 0 ? json_object_get(json_array_get(page, got - 1), "id") : json_null(), "has_more",
        got == limit && got < n);
    char *text = json_dumps(list, JSON_COMPACT);
    h2o_iovec_t body = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    json_decref(list);
    json_decref(page);
    json_decref(items);
    mock__send_json(req, 200, sl_str_init(body.base, body.len), NULL);
    return 0;
}

/* A stored response's calls; rest is "<id>", "<id>/cancel" or "<id>/input_items". */
static int stored_call(h2o_req_t *req, struct sl_str key, struct sl_str rest)
{
    const char *slash = memchr(rest.ptr, '/', rest.len);
    struct sl_str id = sl_str_init(rest.ptr, slash != NULL ? (size_t)(slash - rest.ptr) : rest.len);
    struct sl_str sub = sl_str_init(id.ptr + id.len, rest.len - id.len);
    bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")),
         del = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE")),
         post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    bool ok = (sub.len == 0 && (get || del)) || (sl_str_eq_lit(sub, "/cancel") && post) ||
              (sl_str_eq_lit(sub, "/input_items") && get);
    if (!ok)
        return reply_error(req, 404, NULL, NULL, "sluice-mock: unknown path");
    if (get && sub.len == 0 && sl_str_eq_lit(query_param(req, "stream"), "true"))
        return reply_error(req, 400, "stream", NULL,
                           "sluice-mock: streaming a stored response is not supported");
    pthread_mutex_lock(&store_mu);
    struct stored *s = store_find(id, key);
    if (s == NULL) {
        pthread_mutex_unlock(&store_mu);
        return reply_error(req, 404, NULL, NULL, "Response with id '%.*s' not found.",
                           (int)SL_MIN(id.len, 300), id.ptr);
    }
    char *body = NULL, *items = NULL;
    int status = 200;
    if (del) {
        char buf[400];
        snprintf(buf, sizeof(buf), "{\"id\":\"%s\",\"object\":\"response\",\"deleted\":true}",
                 s->id);
        body = sl_xstrdup(buf);
        stored_free(s);
    } else if (post && !s->background) {
        status = 400;
    } else if (post) {
        json_t *o = json_loads(s->body, 0, NULL);
        json_object_set_new(o, "status", json_string("cancelled"));
        free(s->body);
        s->body = json_dumps(o, JSON_COMPACT);
        s->cancelled = true;
        json_decref(o);
        body = sl_xstrdup(s->body);
    } else if (sub.len != 0) {
        items = sl_xstrdup(s->items);
    } else {
        body = sl_xstrdup(s->body);
    }
    pthread_mutex_unlock(&store_mu);
    if (status == 400)
        return reply_error(req, 400, NULL, NULL,
                           "Cannot cancel a response that was not created with background=true.");
    if (items != NULL) {
        list_items(req, items);
        free(items);
        return 0;
    }
    h2o_iovec_t out = h2o_strdup(&req->pool, body, strlen(body));
    free(body);
    mock__send_json(req, 200, sl_str_init(out.base, out.len), NULL);
    return 0;
}

int mock_responses_handle(struct mock_worker *w, h2o_req_t *req, struct sl_str rest)
{
    struct sl_str key = bearer(req);
    if (!authorized(req, key))
        return 0;
    if (rest.len == 0)
        return create(w, req, key);
    return stored_call(req, key, rest);
}
