/* The mock's Bedrock Runtime endpoints (bedrock.h). Requests are read with jansson: Bedrock is
 * not on the benchmark path, and a DOM keeps the Converse checks short. What the checks refuse
 * is what Bedrock documents (the Smithy model's shapes and constraints) and the ValidationException
 * messages it gives for them, so a gateway that translates wrongly gets the 400 it would get from
 * AWS. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "anthropic_req.h"
#include "aws_sigv4.h"
#include "bedrock.h"
#include "es_encode.h"
#include "render_anthropic.h"
#include "sluice/base.h"

#define ERR_NAMESPACE ":http://internal.amazon.com/coral/com.amazon.bedrock/"
#define ERR_MAX       512
/* Bedrock pads every event's JSON with a "p" member of random letters against length attacks;
 * the mock sends a fixed one, so a translator that does not ignore unknown members fails. */
#define PADDING    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
#define LATENCY_MS 7

enum op { OP_CONVERSE, OP_CONVERSE_STREAM, OP_INVOKE, OP_INVOKE_STREAM };

static const struct {
    const char *suffix;
    enum op op;
} ops[] = {
    {"/converse-stream", OP_CONVERSE_STREAM},
    {"/converse", OP_CONVERSE},
    {"/invoke-with-response-stream", OP_INVOKE_STREAM},
    {"/invoke", OP_INVOKE},
};

struct br_ctx {
    struct mock_worker *w;
    h2o_req_t *req;
    enum op op;
    char *model; /* the model id, decoded (pool) */
    json_t *body;
    struct mock_opts o;
};

/* ---- helpers ---- */

bool mock_bedrock_route(struct sl_str path)
{
    if (memmem(path.ptr, path.len, "/model/", 7) == NULL)
        return false;
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++)
        if (sl_str_ends_with(path, sl_str_from_cstr(ops[i].suffix)))
            return true;
    return false;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The model id between "/model/" and the operation, percent-decoded. */
static bool parse_target(struct br_ctx *c)
{
    struct sl_str p = sl_str_init(c->req->path.base, c->req->path.len);
    const char *q = memchr(p.ptr, '?', p.len);
    if (q != NULL)
        p.len = (size_t)(q - p.ptr);
    const char *m = memmem(p.ptr, p.len, "/model/", 7);
    if (m == NULL)
        return false;
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++) {
        struct sl_str suffix = sl_str_from_cstr(ops[i].suffix);
        if (!sl_str_ends_with(p, suffix))
            continue;
        const char *from = m + 7, *to = p.ptr + p.len - suffix.len;
        if (to <= from)
            return false;
        char *id = h2o_mem_alloc_pool(&c->req->pool, (size_t)(to - from) + 1);
        size_t n = 0;
        for (const char *s = from; s < to; s++) {
            if (*s == '%' && s + 2 < to && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                id[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
                s += 2;
            } else {
                id[n++] = *s;
            }
        }
        id[n] = '\0';
        c->model = id;
        c->op = ops[i].op;
        return n != 0 && strchr(id, '/') == NULL && strchr(id, '?') == NULL;
    }
    return false;
}

/* x-amzn-ErrorType: "<Name>:<namespace>", as Bedrock sends it. */
static void error_type_header(h2o_req_t *req, const char *type)
{
    size_t n = strlen(type);
    char *t = h2o_mem_alloc_pool(&req->pool, n + sizeof(ERR_NAMESPACE));
    memcpy(t, type, n);
    memcpy(t + n, ERR_NAMESPACE, sizeof(ERR_NAMESPACE));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-errortype"), 0, NULL, t,
                          n + sizeof(ERR_NAMESPACE) - 1);
}

static const char *str_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : dflt;
}

/* AWS's error shape: the name in x-amzn-ErrorType, {"message": ...} in the body. */
static int aws_error(struct br_ctx *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int aws_error(struct br_ctx *c, int status, const char *type, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h2o_req_t *req = c->req;
    error_type_header(req, type);
    json_t *body = json_pack("{s:s}", "message", msg);
    char *text = json_dumps(body, JSON_COMPACT);
    h2o_iovec_t v = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    json_decref(body);
    mock__send_json(req, status, sl_str_init(v.base, v.len), NULL);
    return 0;
}

static const char *default_error_type(int status)
{
    switch (status) {
    case 400:
        return "ValidationException";
    case 403:
        return "AccessDeniedException";
    case 404:
        return "ResourceNotFoundException";
    case 408:
        return "ModelTimeoutException";
    case 424:
        return "ModelErrorException";
    case 429:
        return "ThrottlingException";
    case 503:
        return "ServiceUnavailableException";
    default:
        return status >= 500 ? "InternalServerException" : "ValidationException";
    }
}

/* mock.status >= 300: AWS's error shape, with mock.error_type (or the status's own) as the name,
 * after the options' delays and with their headers (Retry-After). */
static int injected_error(struct br_ctx *c)
{
    const struct mock_opts *o = &c->o;
    const char *type =
        o->error_type.ptr != NULL ? o->error_type.ptr : default_error_type(o->status);
    char msg[512];
    rec_count(&c->w->counters, REC_ERRORS_INJECTED, 1);
    snprintf(msg, sizeof(msg), "%.*s",
             o->error_message.ptr != NULL ? (int)SL_MIN(o->error_message.len, 400) : 28,
             o->error_message.ptr != NULL ? o->error_message.ptr : "sluice-mock: injected error");
    error_type_header(c->req, type);
    struct sl_str body = o->error_body;
    if (body.ptr == NULL) {
        json_t *j = json_pack("{s:s}", "message", msg);
        char *text = json_dumps(j, JSON_COMPACT);
        h2o_iovec_t v = h2o_strdup(&c->req->pool, text, strlen(text));
        free(text);
        json_decref(j);
        body = sl_str_init(v.base, v.len);
    }
    return mock__respond_body(c->w, c->req, o, o->status, body);
}

/* ---- authentication ---- */

static struct sl_str req_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i == -1
               ? SL_STR_NULL
               : sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

static bool bearer_ok(struct br_ctx *c, struct sl_str auth)
{
    struct sl_str key = sl_str_trim(sl_str_init(auth.ptr + 7, auth.len - 7));
    struct sl_str want = mock__cfg()->require_key;
    if (key.len != 0 && (want.ptr == NULL ||
                         (key.len == want.len && CRYPTO_memcmp(key.ptr, want.ptr, key.len) == 0)))
        return true;
    aws_error(c, 403, "UnrecognizedClientException",
              "The security token included in the request is invalid.");
    return false;
}

/* SigV4 checked as AWS would, or a Bedrock API key as a bearer token. Replies 403 and returns
 * false when the request is not authentic. */
static bool authorized(struct br_ctx *c)
{
    h2o_req_t *req = c->req;
    const struct mock_server_cfg *cfg = mock__cfg();
    struct sl_str auth = req_header(req, "authorization");
    if (auth.len > 7 && strncasecmp(auth.ptr, "Bearer ", 7) == 0)
        return bearer_ok(c, auth);
    struct av_header h[REC_MAX_HEADERS];
    size_t n = 0;
    /* h2o moves Host (HTTP/1) and :authority (HTTP/2) out of the header list. */
    h[n++] =
        (struct av_header){SL_STRLIT("host"), sl_str_init(req->authority.base, req->authority.len)};
    for (size_t i = 0; i < req->headers.size && n < REC_MAX_HEADERS; i++)
        h[n++] = (struct av_header){
            sl_str_init(req->headers.entries[i].name->base, req->headers.entries[i].name->len),
            sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len)};
    struct av_request r = {
        .method = sl_str_init(req->method.base, req->method.len),
        .target = sl_str_init(req->path.base, req->path.len),
        .headers = h,
        .n_headers = n,
        .body = sl_str_init(req->entity.base, req->entity.len),
    };
    char msg[8192];
    enum av_verdict v = av_verify(&r, cfg->aws_keys, cfg->n_aws_keys, "bedrock",
                                  (int64_t)time(NULL) + cfg->clock_skew_secs, msg, sizeof(msg));
    if (v == AV_OK)
        return true;
    aws_error(c, v == AV_INCOMPLETE ? 400 : 403, av_error_type(v), "%s", msg);
    return false;
}

/* ---- Converse request checks ---- */

struct vctx {
    char *err;
    size_t errlen;
    const char *model;
    bool claude;
    bool tool_blocks;
    json_t *prev_tool_ids; /* toolUseIds of the previous assistant message */
};

static int verr(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int verr(struct vctx *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, v->errlen, fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

static bool is_nonblank(const json_t *s)
{
    const char *t = json_string_value(s);
    if (t == NULL)
        return false;
    for (; *t != '\0'; t++)
        if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r')
            return true;
    return false;
}

static bool matches(const char *s, const char *allowed_extra, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(allowed_extra, c) != NULL))
            return false;
    }
    return n != 0 && n <= max;
}

static bool is_base64(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    return n != 0 && n % 4 == 0;
}

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n && s != NULL; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* The single member of a union value; NULL when it has none or several. */
static const char *union_member(json_t *v, json_t **val)
{
    const char *key;
    json_t *value;
    const char *found = NULL;
    if (!json_is_object(v) || json_object_size(v) != 1)
        return NULL;
    json_object_foreach(v, key, value)
    {
        found = key;
        *val = value;
    }
    return found;
}

static int check_source(struct vctx *v, json_t *src, const char *where)
{
    json_t *bytes = json_object_get(src, "bytes");
    if (!json_is_object(src) || json_object_size(src) != 1 || !json_is_string(bytes) ||
        !is_base64(json_string_value(bytes)))
        return verr(v, "%s.source: expected {\"bytes\": base64}", where);
    return SL_OK;
}

static int check_image(struct vctx *v, json_t *img, const char *where)
{
    static const char *const formats[] = {"png", "jpeg", "gif", "webp"};
    if (!json_is_object(img) ||
        !one_of(json_string_value(json_object_get(img, "format")), formats, 4))
        return verr(v, "%s.format: expected png, jpeg, gif or webp", where);
    return check_source(v, json_object_get(img, "source"), where);
}

static int check_document(struct vctx *v, json_t *doc, const char *where)
{
    static const char *const formats[] = {"pdf",  "csv",  "doc", "docx", "xls",
                                          "xlsx", "html", "txt", "md"};
    const char *name = json_string_value(json_object_get(doc, "name"));
    if (!json_is_object(doc) ||
        !one_of(json_string_value(json_object_get(doc, "format")), formats, 9))
        return verr(v, "%s.format: expected one of pdf, csv, doc, docx, xls, xlsx, html, txt, md",
                    where);
    if (name == NULL || !matches(name, " -()[]", 200) || strstr(name, "  ") != NULL)
        return verr(v,
                    "%s.name: The document name can only contain alphanumeric characters, "
                    "whitespace characters, hyphens, parentheses, and square brackets. The name "
                    "can't contain more than one consecutive whitespace character.",
                    where);
    return check_source(v, json_object_get(doc, "source"), where);
}

static int check_cache_point(struct vctx *v, json_t *cp, const char *where)
{
    json_t *ttl = json_object_get(cp, "ttl");
    if (!json_is_object(cp) || strcmp(str_or(json_object_get(cp, "type"), ""), "default") != 0 ||
        (ttl != NULL && !one_of(json_string_value(ttl), (const char *const[]){"5m", "1h"}, 2)))
        return verr(v, "%s.cachePoint: expected {\"type\": \"default\", \"ttl\"?: 5m | 1h}", where);
    return SL_OK;
}

static int check_tool_use(struct vctx *v, json_t *tu, json_t *ids, const char *where)
{
    const char *id = json_string_value(json_object_get(tu, "toolUseId"));
    const char *name = json_string_value(json_object_get(tu, "name"));
    if (id == NULL || !matches(id, "_.:-", 64))
        return verr(v, "%s.toolUse.toolUseId: must match [a-zA-Z0-9_.:-]+ (1 to 64)", where);
    if (name == NULL || !matches(name, "_-", 64))
        return verr(v, "%s.toolUse.name: must match [a-zA-Z0-9_-]+ (1 to 64)", where);
    if (!json_is_object(json_object_get(tu, "input")))
        return verr(v, "%s.toolUse.input: expected an object", where);
    json_array_append_new(ids, json_string(id));
    return SL_OK;
}

static bool has_id(json_t *ids, const char *id)
{
    size_t i;
    json_t *x;
    json_array_foreach(ids, i, x) if (strcmp(json_string_value(x), id) == 0) return true;
    return false;
}

static int check_tool_result(struct vctx *v, json_t *tr, const char *where)
{
    const char *id = json_string_value(json_object_get(tr, "toolUseId"));
    json_t *content = json_object_get(tr, "content"), *item, *val;
    size_t i;
    if (id == NULL || !has_id(v->prev_tool_ids, id))
        return verr(v,
                    "%s.toolResult.toolUseId: The toolResult blocks at this message must answer "
                    "a toolUse of the previous message",
                    where);
    if (!json_is_array(content))
        return verr(v, "%s.toolResult.content: expected a list", where);
    json_array_foreach(content, i, item)
    {
        const char *kind = union_member(item, &val);
        if (kind == NULL ||
            !one_of(kind, (const char *const[]){"text", "json", "image", "document"}, 4))
            return verr(v, "%s.toolResult.content.%zu: expected one of text, json, image, document",
                        where, i);
        if (strcmp(kind, "text") == 0 && !json_is_string(val))
            return verr(v, "%s.toolResult.content.%zu.text: expected a string", where, i);
    }
    return SL_OK;
}

static int check_block(struct vctx *v, json_t *b, bool user, json_t *ids, const char *where)
{
    json_t *val;
    const char *kind = union_member(b, &val);
    if (kind == NULL)
        return verr(v, "%s: a ContentBlock must set exactly one member", where);
    if (strcmp(kind, "text") == 0) {
        if (!is_nonblank(val))
            return verr(v,
                        "The text field in the ContentBlock object at %s is blank. Add text to "
                        "the text field, and try again.",
                        where);
        return SL_OK;
    }
    if (strcmp(kind, "image") == 0)
        return check_image(v, val, where);
    if (strcmp(kind, "document") == 0)
        return check_document(v, val, where);
    if (strcmp(kind, "cachePoint") == 0)
        return check_cache_point(v, val, where);
    if (strcmp(kind, "toolUse") == 0 && !user) {
        v->tool_blocks = true;
        return check_tool_use(v, val, ids, where);
    }
    if (strcmp(kind, "toolResult") == 0 && user) {
        v->tool_blocks = true;
        return check_tool_result(v, val, where);
    }
    if (strcmp(kind, "reasoningContent") == 0 && !user)
        return SL_OK;
    return verr(v, "%s: %s content blocks are not accepted in %s messages", where, kind,
                user ? "user" : "assistant");
}

static int check_messages(struct vctx *v, json_t *msgs)
{
    json_t *m;
    size_t i;
    const char *last = NULL;
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return verr(v, "messages: A conversation must start with a user message.");
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content"), *b;
        json_t *ids = json_array();
        size_t j;
        int rc = SL_OK;
        char where[64];
        if (json_object_size(m) != 2 || role == NULL ||
            (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
            rc = verr(v, "messages.%zu: expected {role: user | assistant, content}", i);
        else if ((i == 0 && strcmp(role, "user") != 0) || (last != NULL && strcmp(last, role) == 0))
            rc =
                verr(v, "A conversation must alternate between user and assistant roles. Make sure "
                        "the conversation alternates between user and assistant roles and try "
                        "again.");
        else if (!json_is_array(content) || json_array_size(content) == 0)
            rc = verr(v, "messages.%zu.content: expected a non-empty list", i);
        json_array_foreach(content, j, b)
        {
            if (rc != SL_OK)
                break;
            snprintf(where, sizeof(where), "messages.%zu.content.%zu", i, j);
            rc = check_block(v, b, role != NULL && strcmp(role, "user") == 0, ids, where);
        }
        /* every toolUse of an assistant message is answered in the next message */
        if (rc == SL_OK && json_array_size(v->prev_tool_ids) != 0 && strcmp(role, "user") == 0) {
            size_t k;
            json_t *id;
            json_array_foreach(v->prev_tool_ids, k, id)
            {
                bool answered = false;
                json_array_foreach(content, j, b)
                {
                    json_t *tr = json_object_get(b, "toolResult");
                    answered = answered ||
                               (tr != NULL && strcmp(str_or(json_object_get(tr, "toolUseId"), ""),
                                                     json_string_value(id)) == 0);
                }
                if (!answered && rc == SL_OK)
                    rc = verr(v,
                              "messages.%zu: Expected toolResult blocks at messages.%zu.content "
                              "for the following Ids: %s",
                              i, i, json_string_value(id));
            }
        }
        json_decref(v->prev_tool_ids);
        v->prev_tool_ids = ids;
        if (rc != SL_OK)
            return rc;
        last = role;
    }
    return SL_OK;
}

static int check_system(struct vctx *v, json_t *sys)
{
    json_t *b, *val;
    size_t i;
    if (sys == NULL)
        return SL_OK;
    if (!json_is_array(sys))
        return verr(v, "system: expected a list");
    json_array_foreach(sys, i, b)
    {
        const char *kind = union_member(b, &val);
        char where[32];
        snprintf(where, sizeof(where), "system.%zu", i);
        if (kind != NULL && strcmp(kind, "text") == 0 && is_nonblank(val))
            continue;
        if (kind != NULL && strcmp(kind, "cachePoint") == 0) {
            if (check_cache_point(v, val, where) != SL_OK)
                return SL_EPARSE;
            continue;
        }
        return verr(v, "system.%zu: expected {text: non-empty} or {cachePoint}", i);
    }
    return SL_OK;
}

static int check_number(struct vctx *v, json_t *cfg, const char *key, double lo, double hi)
{
    json_t *x = json_object_get(cfg, key);
    if (x != NULL && (!json_is_number(x) || json_number_value(x) < lo || json_number_value(x) > hi))
        return verr(v, "inferenceConfig.%s: expected a number from %g to %g", key, lo, hi);
    return SL_OK;
}

static int check_inference(struct vctx *v, json_t *cfg, json_int_t *max_tokens)
{
    const char *key;
    json_t *val;
    *max_tokens = 0;
    if (cfg == NULL)
        return SL_OK;
    if (!json_is_object(cfg))
        return verr(v, "inferenceConfig: expected an object");
    json_object_foreach(cfg, key, val)
    {
        if (!one_of(key, (const char *const[]){"maxTokens", "temperature", "topP", "stopSequences"},
                    4))
            return verr(v, "inferenceConfig: unknown member %s", key);
    }
    json_t *mt = json_object_get(cfg, "maxTokens"), *stops = json_object_get(cfg, "stopSequences");
    if (mt != NULL && (!json_is_integer(mt) || json_integer_value(mt) < 1))
        return verr(v, "inferenceConfig.maxTokens: expected an integer >= 1");
    *max_tokens = mt != NULL ? json_integer_value(mt) : 0;
    if (check_number(v, cfg, "temperature", 0, 1) != SL_OK ||
        check_number(v, cfg, "topP", 0, 1) != SL_OK)
        return SL_EPARSE;
    size_t i;
    json_array_foreach(stops, i, val) if (!is_nonblank(val)) return verr(
        v, "inferenceConfig.stopSequences.%zu: expected a non-empty string", i);
    if (stops != NULL && !json_is_array(stops))
        return verr(v, "inferenceConfig.stopSequences: expected a list");
    return SL_OK;
}

static int check_tools(struct vctx *v, json_t *tc)
{
    json_t *tools = json_object_get(tc, "tools"), *t, *val, *names = json_array();
    size_t i;
    int rc = SL_OK;
    if (tc == NULL) {
        json_decref(names);
        return v->tool_blocks
                   ? verr(v, "The toolConfig field must be defined when using toolUse and "
                             "toolResult content blocks.")
                   : SL_OK;
    }
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        rc = verr(v, "toolConfig.tools: expected a non-empty list");
    json_array_foreach(tools, i, t)
    {
        const char *kind = union_member(t, &val);
        char where[48];
        snprintf(where, sizeof(where), "toolConfig.tools.%zu", i);
        if (rc != SL_OK)
            break;
        if (kind != NULL && strcmp(kind, "cachePoint") == 0) {
            rc = check_cache_point(v, val, where);
            continue;
        }
        const char *name = json_string_value(json_object_get(val, "name"));
        json_t *desc = json_object_get(val, "description");
        json_t *schema = json_object_get(json_object_get(val, "inputSchema"), "json");
        if (kind == NULL || strcmp(kind, "toolSpec") != 0 || name == NULL ||
            !matches(name, "_-", 64))
            rc = verr(v, "%s: expected {toolSpec: {name: [a-zA-Z0-9_-]+, ...}}", where);
        else if (desc != NULL && !is_nonblank(desc))
            rc = verr(v, "%s.toolSpec.description: must not be empty", where);
        else if (!json_is_object(schema))
            rc = verr(v, "%s.toolSpec.inputSchema: expected {json: {...}}", where);
        else
            json_array_append_new(names, json_string(name));
    }
    json_t *choice = json_object_get(tc, "toolChoice");
    const char *kind = choice != NULL ? union_member(choice, &val) : NULL;
    if (rc == SL_OK && choice != NULL &&
        (kind == NULL || !one_of(kind, (const char *const[]){"auto", "any", "tool"}, 3)))
        rc = verr(v, "toolConfig.toolChoice: expected {auto: {}}, {any: {}} or {tool: {name}}");
    if (rc == SL_OK && kind != NULL && strcmp(kind, "tool") == 0 &&
        !has_id(names, str_or(json_object_get(val, "name"), "")))
        rc = verr(v, "toolConfig.toolChoice.tool.name: not one of the tools");
    json_decref(names);
    return rc;
}

static int check_additional(struct vctx *v, json_t *add, json_int_t max_tokens)
{
    json_t *thinking = json_object_get(add, "thinking");
    if (add != NULL && !json_is_object(add))
        return verr(v, "additionalModelRequestFields: expected an object");
    if (thinking == NULL)
        return SL_OK;
    if (!v->claude)
        return verr(v, "Malformed input request: extraneous key [thinking] is not permitted");
    const char *type = json_string_value(json_object_get(thinking, "type"));
    json_t *budget = json_object_get(thinking, "budget_tokens");
    if (type == NULL || strcmp(type, "enabled") != 0 || !json_is_integer(budget) ||
        json_integer_value(budget) < 1024)
        return verr(v, "thinking: expected {type: enabled, budget_tokens >= 1024}");
    if (max_tokens != 0 && json_integer_value(budget) >= max_tokens)
        return verr(v, "`max_tokens` must be greater than `thinking.budget_tokens`.");
    return SL_OK;
}

static int check_output_config(struct vctx *v, json_t *oc)
{
    json_t *tf = json_object_get(oc, "textFormat");
    if (oc == NULL)
        return SL_OK;
    json_t *js = json_object_get(json_object_get(tf, "structure"), "jsonSchema");
    const char *schema = json_string_value(json_object_get(js, "schema"));
    json_t *parsed = schema != NULL ? json_loads(schema, 0, NULL) : NULL;
    bool ok = json_is_object(parsed) &&
              strcmp(str_or(json_object_get(tf, "type"), ""), "json_schema") == 0;
    json_decref(parsed);
    return ok ? SL_OK
              : verr(v, "outputConfig.textFormat: expected {type: json_schema, structure: "
                        "{jsonSchema: {schema: a JSON object as a string}}}");
}

static bool is_claude(const char *model)
{
    const char *p = strstr(model, "anthropic.claude");
    return p != NULL && (p == model || p[-1] == '.');
}

static int check_converse(json_t *body, const char *model, char *err, size_t errlen)
{
    static const char *const top[] = {"messages",        "system",
                                      "inferenceConfig", "toolConfig",
                                      "guardrailConfig", "additionalModelRequestFields",
                                      "promptVariables", "additionalModelResponseFieldPaths",
                                      "requestMetadata", "performanceConfig",
                                      "serviceTier",     "outputConfig"};
    struct vctx v = {.err = err, .errlen = errlen, .model = model, .claude = is_claude(model)};
    const char *key;
    json_t *val;
    json_int_t max_tokens;
    int rc;
    json_object_foreach(body, key, val)
    {
        if (!one_of(key, top, SL_ARRAY_LEN(top)))
            return verr(&v,
                        "Unknown parameter in input: \"%s\", must be one of: messages, "
                        "system, inferenceConfig, toolConfig, additionalModelRequestFields, "
                        "...",
                        key);
    }
    v.prev_tool_ids = json_array();
    rc = check_messages(&v, json_object_get(body, "messages"));
    json_decref(v.prev_tool_ids);
    if (rc == SL_OK)
        rc = check_system(&v, json_object_get(body, "system"));
    if (rc == SL_OK)
        rc = check_inference(&v, json_object_get(body, "inferenceConfig"), &max_tokens);
    if (rc == SL_OK)
        rc = check_tools(&v, json_object_get(body, "toolConfig"));
    if (rc == SL_OK)
        rc =
            check_additional(&v, json_object_get(body, "additionalModelRequestFields"), max_tokens);
    if (rc == SL_OK)
        rc = check_output_config(&v, json_object_get(body, "outputConfig"));
    return rc;
}

/* ---- controls ---- */

/* The mock object of a request (Converse: additionalModelRequestFields.mock; InvokeModel: the
 * body's own) applied to c->o. Replies 400 and returns false on a bad one. */
static bool apply_mock(struct br_ctx *c, json_t *mock)
{
    char err[192];
    const char *other;
    mock_opts_init(&c->o, &mock__cfg()->defaults);
    if (mock == NULL)
        return true;
    char *text = json_dumps(mock, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = mock_opts_parse(&c->o, sl_str_from_cstr(text), mock__pool_alloc, &c->req->pool, err,
                             sizeof(err));
    free(text);
    if (rc == SL_OK && mock_opts_has_openai_only(&c->o, &other)) {
        snprintf(err, sizeof(err), "mock.%s: only for OpenAI chat completions", other);
        rc = SL_EPARSE;
    }
    if (rc != SL_OK) {
        aws_error(c, 400, "ValidationException", "%s", err);
        return false;
    }
    if (mock__fail_first(&c->o) != SL_OK) {
        aws_error(c, 400, "ValidationException", "%s", MOCK_TOO_MANY_TAGS);
        return false;
    }
    return true;
}

static uint64_t or_default(uint64_t v, uint64_t dflt)
{
    return v != MOCK_UNSET ? v : dflt;
}

/* ---- Converse replies ---- */

struct conv {
    struct br_ctx *c;
    struct sl_str thinking; /* raw; ptr NULL: none */
    char sig[RA_SIG_LEN + 1];
    bool text;
    const char *stop_reason;
    uint64_t input_tokens, output_tokens;
    /* stream */
    uint64_t deltas_sent;
    bool corrupted;
    struct rd_seg segs[RD_MAX_SEGS];
    size_t n_segs;
};

enum conv_seg {
    CS_START,
    CS_REASONING,
    CS_SIGNATURE,
    CS_BLOCK_STOP,
    CS_TEXT,
    CS_TOOL_START,
    CS_TOOL_DELTA,
    CS_MESSAGE_STOP,
    CS_METADATA,
};

static struct sl_str text_piece(const struct conv *v, uint64_t j)
{
    const struct mock_opts *o = &v->c->o;
    return o->chunk_text.ptr != NULL ? o->chunk_text : rd_piece(o->reply, j, o->chunks);
}

static json_t *jstr(struct sl_str s)
{
    return json_stringn(s.ptr, s.len);
}

static json_t *usage_json(const struct conv *v)
{
    const struct mock_opts *o = &v->c->o;
    json_t *u = json_pack("{s:I,s:I,s:I}", "inputTokens", (json_int_t)v->input_tokens,
                          "outputTokens", (json_int_t)v->output_tokens, "totalTokens",
                          (json_int_t)(v->input_tokens + v->output_tokens));
    if (o->cache_read_input_tokens != MOCK_UNSET)
        json_object_set_new(u, "cacheReadInputTokens",
                            json_integer((json_int_t)o->cache_read_input_tokens));
    if (o->cache_creation_input_tokens != MOCK_UNSET)
        json_object_set_new(u, "cacheWriteInputTokens",
                            json_integer((json_int_t)o->cache_creation_input_tokens));
    return u;
}

static json_t *tool_input(const struct mock_tool_call *t)
{
    json_t *in = json_loadb(t->args.ptr, t->args.len, 0, NULL);
    return in != NULL ? in : json_object();
}

static char *tool_id(const struct mock_tool_call *t, size_t i, char buf[48])
{
    if (t->id.ptr != NULL)
        return (char *)t->id.ptr;
    snprintf(buf, 48, "tooluse_mock_%zu", i);
    return buf;
}

static int converse_reply(struct conv *v)
{
    const struct mock_opts *o = &v->c->o;
    json_t *content = json_array();
    char idbuf[48];
    if (v->thinking.ptr != NULL)
        json_array_append_new(content,
                              json_pack("{s:{s:{s:o,s:s}}}", "reasoningContent", "reasoningText",
                                        "text", jstr(v->thinking), "signature", v->sig));
    if (v->text)
        json_array_append_new(content, json_pack("{s:o}", "text", jstr(o->reply)));
    for (size_t i = 0; i < o->n_tool_use; i++)
        json_array_append_new(content, json_pack("{s:{s:s,s:o,s:o}}", "toolUse", "toolUseId",
                                                 tool_id(&o->tool_use[i], i, idbuf), "name",
                                                 jstr(o->tool_use[i].name), "input",
                                                 tool_input(&o->tool_use[i])));
    json_t *body = json_pack("{s:{s:{s:s,s:o}},s:s,s:o,s:{s:i}}", "output", "message", "role",
                             "assistant", "content", content, "stopReason", v->stop_reason, "usage",
                             usage_json(v), "metrics", "latencyMs", LATENCY_MS);
    char *text = json_dumps(body, JSON_COMPACT);
    h2o_iovec_t b = h2o_strdup(&v->c->req->pool, text, strlen(text));
    free(text);
    json_decref(body);
    return mock__respond_body(v->c->w, v->c->req, o, 200, sl_str_init(b.base, b.len));
}

static void conv_seg(struct conv *v, uint8_t kind, uint8_t flags, uint16_t arg, uint64_t count)
{
    SL_ASSERT(v->n_segs < RD_MAX_SEGS);
    v->segs[v->n_segs++] = (struct rd_seg){kind, flags, arg, count};
}

/* Blocks: reasoning (cut in chunks deltas, then its signature), text (chunks deltas), each tool
 * use (a start, its input in up to four pieces); every block closed by contentBlockStop. */
static void conv_plan(struct conv *v)
{
    const struct mock_opts *o = &v->c->o;
    uint16_t b = 0;
    conv_seg(v, CS_START, 0, 0, 1);
    if (v->thinking.ptr != NULL) {
        conv_seg(v, CS_REASONING, RD_SEG_DELTA | RD_SEG_CHECK, b, o->chunks);
        conv_seg(v, CS_SIGNATURE, 0, b, 1);
        conv_seg(v, CS_BLOCK_STOP, RD_SEG_CHECK, b++, 1);
    }
    if (v->text) {
        conv_seg(v, CS_TEXT, RD_SEG_DELTA | RD_SEG_CHECK, b, o->chunks);
        conv_seg(v, CS_BLOCK_STOP, RD_SEG_CHECK, b++, 1);
    }
    for (size_t i = 0; i < o->n_tool_use; i++) {
        conv_seg(v, CS_TOOL_START, 0, (uint16_t)i, 1);
        conv_seg(v, CS_TOOL_DELTA, RD_SEG_DELTA | RD_SEG_CHECK, (uint16_t)i,
                 rd_arg_pieces(o->tool_use[i].args));
        conv_seg(v, CS_BLOCK_STOP, RD_SEG_CHECK, b++, 1);
    }
    conv_seg(v, CS_MESSAGE_STOP, RD_SEG_CHECK, 0, 1);
    conv_seg(v, CS_METADATA, 0, 0, 1);
}

/* The index of tool i's block. */
static uint16_t tool_block(const struct conv *v, size_t i)
{
    return (uint16_t)((v->thinking.ptr != NULL) + v->text + i);
}

static json_t *conv_payload(struct conv *v, const struct rd_seg *seg, uint64_t j, const char **name)
{
    const struct mock_opts *o = &v->c->o;
    /* NULL without tool uses: no pointer arithmetic on a NULL array (UBSan). */
    const struct mock_tool_call *t = o->tool_use != NULL ? &o->tool_use[seg->arg] : NULL;
    char idbuf[48];
    switch ((enum conv_seg)seg->kind) {
    case CS_START:
        *name = "messageStart";
        return json_pack("{s:s}", "role", "assistant");
    case CS_REASONING:
        *name = "contentBlockDelta";
        return json_pack("{s:i,s:{s:{s:o}}}", "contentBlockIndex", seg->arg, "delta",
                         "reasoningContent", "text", jstr(rd_piece(v->thinking, j, o->chunks)));
    case CS_SIGNATURE:
        *name = "contentBlockDelta";
        return json_pack("{s:i,s:{s:{s:s}}}", "contentBlockIndex", seg->arg, "delta",
                         "reasoningContent", "signature", v->sig);
    case CS_BLOCK_STOP:
        *name = "contentBlockStop";
        return json_pack("{s:i}", "contentBlockIndex", seg->arg);
    case CS_TEXT:
        *name = "contentBlockDelta";
        return json_pack("{s:i,s:{s:o}}", "contentBlockIndex", seg->arg, "delta", "text",
                         jstr(text_piece(v, j)));
    case CS_TOOL_START:
        *name = "contentBlockStart";
        return json_pack("{s:i,s:{s:{s:s,s:o}}}", "contentBlockIndex", tool_block(v, seg->arg),
                         "start", "toolUse", "toolUseId", tool_id(t, seg->arg, idbuf), "name",
                         jstr(t->name));
    case CS_TOOL_DELTA:
        *name = "contentBlockDelta";
        return json_pack("{s:i,s:{s:{s:o}}}", "contentBlockIndex", tool_block(v, seg->arg), "delta",
                         "toolUse", "input", jstr(rd_piece(t->args, j, rd_arg_pieces(t->args))));
    case CS_MESSAGE_STOP:
        *name = "messageStop";
        return json_pack("{s:s}", "stopReason", v->stop_reason);
    case CS_METADATA:
        *name = "metadata";
        return json_pack("{s:o,s:{s:i}}", "usage", usage_json(v), "metrics", "latencyMs",
                         LATENCY_MS);
    }
    SL_ASSERT(!"unknown segment");
    return NULL;
}

/* One event as a frame; the one after corrupt_crc_after_chunks deltas gets a bad CRC. */
static void frame(struct conv *v, const char *name, json_t *payload, bool delta,
                  struct mj_writer *w)
{
    json_object_set_new(payload, "p", json_string(PADDING));
    char *text = json_dumps(payload, JSON_COMPACT);
    bool corrupt = !v->corrupted && v->deltas_sent >= v->c->o.corrupt_crc_after_chunks;
    v->corrupted = v->corrupted || corrupt;
    es_event(w, sl_str_from_cstr(name), sl_str_from_cstr(text), corrupt);
    free(text);
    json_decref(payload);
    v->deltas_sent += delta;
}

static void conv_event(void *st, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct conv *v = st;
    const char *name = NULL;
    json_t *payload = conv_payload(v, seg, j, &name);
    frame(v, name, payload, (seg->flags & RD_SEG_DELTA) != 0, w);
}

/* An exception frame: mock.error_type names it (modelStreamErrorException by default). */
static void exception_frame(struct br_ctx *c, struct mj_writer *w)
{
    const struct mock_opts *o = &c->o;
    json_t *p = json_pack("{s:s}", "message",
                          o->error_message.ptr != NULL ? o->error_message.ptr
                                                       : "sluice-mock: injected stream error");
    if (o->error_type.ptr == NULL || strcmp(o->error_type.ptr, "modelStreamErrorException") == 0)
        json_object_set_new(p, "originalStatusCode", json_integer(500));
    char *text = json_dumps(p, JSON_COMPACT);
    es_exception(w,
                 o->error_type.ptr != NULL ? o->error_type : SL_STRLIT("modelStreamErrorException"),
                 sl_str_from_cstr(text));
    free(text);
    json_decref(p);
}

static void conv_error(void *st, struct mj_writer *w)
{
    exception_frame(((struct conv *)st)->c, w);
}

static size_t conv_cap(const struct conv *v)
{
    const struct mock_opts *o = &v->c->o;
    size_t big = SL_MAX(o->reply.len, o->chunk_text.len);
    big = SL_MAX(big, v->thinking.len);
    for (size_t i = 0; i < o->n_tool_use; i++)
        big = SL_MAX(big, o->tool_use[i].args.len + o->tool_use[i].name.len);
    return es_bound(256, 1024 + 6 * big + (o->error_message.len + o->error_type.len) * 6);
}

static int converse(struct br_ctx *c)
{
    char err[ERR_MAX];
    json_t *add = json_object_get(c->body, "additionalModelRequestFields");
    if (check_converse(c->body, c->model, err, sizeof(err)) != SL_OK)
        return aws_error(c, 400, "ValidationException", "%s", err);
    if (!apply_mock(c, json_object_get(add, "mock")))
        return 0;
    if (c->o.status >= 300)
        return injected_error(c);
    const struct mock_opts *o = &c->o;
    struct conv *v = h2o_mem_alloc_pool(&c->req->pool, sizeof(*v));
    *v = (struct conv){.c = c, .text = o->n_tool_use == 0 || o->text_set};
    bool thinking = json_object_get(add, "thinking") != NULL;
    v->thinking = o->thinking.ptr != NULL ? o->thinking
                  : thinking              ? SL_STRLIT("The user wants a reply from sluice-mock.")
                                          : SL_STR_NULL;
    if (v->thinking.ptr != NULL)
        ra_signature(v->sig, v->thinking);
    v->sig[RA_SIG_LEN] = '\0';
    v->stop_reason = o->bedrock_stop_reason.ptr != NULL ? o->bedrock_stop_reason.ptr
                     : o->stop_reason.ptr != NULL       ? o->stop_reason.ptr
                     : o->n_tool_use != 0               ? "tool_use"
                                                        : "end_turn";
    v->input_tokens = or_default(o->input_tokens, SL_MAX(c->req->entity.len / 4, 1));
    uint64_t deltas = (v->thinking.ptr != NULL ? o->chunks : 0) + (v->text ? o->chunks : 0);
    for (size_t i = 0; i < o->n_tool_use; i++)
        deltas += rd_arg_pieces(o->tool_use[i].args);
    v->output_tokens = or_default(o->output_tokens, deltas);
    if (c->op == OP_CONVERSE)
        return converse_reply(v);
    conv_plan(v);
    struct mock_sse sse = {.segs = v->segs,
                           .n_segs = v->n_segs,
                           .ev_cap = conv_cap(v),
                           .event = conv_event,
                           .error = conv_error,
                           .st = v,
                           .content_type = "application/vnd.amazon.eventstream"};
    mock__stream(c->w, c->req, o, &sse);
    return 0;
}

/* ---- InvokeModel: Claude ---- */

/* Anthropic's events, each wrapped as Bedrock wraps them: a "chunk" event whose payload
 * {"bytes": base64} holds the event's JSON. */
struct chunked {
    struct br_ctx *c;
    struct ra_reply *r;
    size_t inner_cap;
    char *inner;
    uint64_t deltas_sent;
    bool corrupted;
};

static void chunk_event(void *st, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct chunked *k = st;
    struct mj_writer in = {k->inner, k->inner + k->inner_cap};
    ra_stream_event(k->r, seg, j, &in);
    /* "event: NAME\ndata: JSON\n\n": the JSON alone goes in the chunk */
    struct sl_str ev = sl_str_init(k->inner, (size_t)(in.ptr - k->inner));
    const char *data = memmem(ev.ptr, ev.len, "data: ", 6);
    SL_ASSERT(data != NULL);
    data += 6;
    const char *nl = memchr(data, '\n', (size_t)(ev.ptr + ev.len - data));
    size_t n = nl != NULL ? (size_t)(nl - data) : (size_t)(ev.ptr + ev.len - data);
    if (n != 0 && data[n - 1] == '\r')
        n--;
    char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)n);
    json_t *p = json_pack("{s:s,s:s}", "bytes", b64, "p", PADDING);
    char *text = json_dumps(p, JSON_COMPACT);
    bool corrupt = !k->corrupted && k->deltas_sent >= k->c->o.corrupt_crc_after_chunks;
    k->corrupted = k->corrupted || corrupt;
    es_event(w, SL_STRLIT("chunk"), sl_str_from_cstr(text), corrupt);
    k->deltas_sent += (seg->flags & RD_SEG_DELTA) != 0;
    free(text);
    free(b64);
    json_decref(p);
}

static void chunk_error(void *st, struct mj_writer *w)
{
    exception_frame(((struct chunked *)st)->c, w);
}

/* The body must be Anthropic's with anthropic_version bedrock-2023-05-31 and neither model nor
 * stream; checked with the mock's Anthropic validation once those are put back as the API
 * has them. */
static int body_error(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "Malformed input request: %s, please reformat your input and try again.",
             what);
    return SL_EPARSE;
}

static int check_claude_body(struct br_ctx *c, struct an_request *ar, char *err, size_t errlen)
{
    json_t *b = c->body;
    const char *version = json_string_value(json_object_get(b, "anthropic_version"));
    json_t *betas = json_object_get(b, "anthropic_beta");
    if (json_object_get(b, "model") != NULL)
        return body_error(err, errlen, "extraneous key [model] is not permitted");
    if (json_object_get(b, "stream") != NULL)
        return body_error(err, errlen, "extraneous key [stream] is not permitted");
    if (version == NULL || strcmp(version, "bedrock-2023-05-31") != 0)
        return body_error(err, errlen, "#: required key [anthropic_version] not found or invalid");
    if (betas != NULL && !json_is_array(betas))
        return body_error(err, errlen, "#/anthropic_beta: expected type: JSONArray");
    json_t *copy = json_deep_copy(b);
    json_object_del(copy, "anthropic_version");
    json_object_del(copy, "anthropic_beta");
    json_object_set_new(copy, "model", json_string(c->model));
    char *text = json_dumps(copy, JSON_COMPACT);
    h2o_iovec_t doc = h2o_strdup(&c->req->pool, text, strlen(text));
    free(text);
    json_decref(copy);
    struct an_limits lim = {.version = AN_V2023_06_01, .beta = betas != NULL};
    return an_validate(sl_str_init(doc.base, doc.len), &lim, ar, mock__pool_alloc, &c->req->pool,
                       err, errlen);
}

static int invoke_claude(struct br_ctx *c)
{
    struct an_request ar;
    char err[ERR_MAX];
    if (check_claude_body(c, &ar, err, sizeof(err)) != SL_OK)
        return aws_error(c, 400, "ValidationException", "%s", err);
    if (!apply_mock(c, json_object_get(c->body, "mock")))
        return 0;
    if (c->o.status >= 300)
        return injected_error(c);
    const struct mock_opts *o = &c->o;
    const char *base =
        strstr(c->model, "anthropic.") != NULL ? strstr(c->model, "anthropic.") + 10 : c->model;
    struct ra_reply *r = h2o_mem_alloc_pool(&c->req->pool, sizeof(*r));
    *r = (struct ra_reply){
        .id = mock__make_id(c->w, c->req, "msg_bdrk_mock_", '_'),
        .model = mock__escape_pool(c->req, sl_str_from_cstr(base)),
        .input_tokens = or_default(o->input_tokens, ar.input_tokens),
        .cache_creation_input_tokens = or_default(o->cache_creation_input_tokens, 0),
        .cache_read_input_tokens = or_default(o->cache_read_input_tokens, 0),
        .stop_reason = o->stop_reason.ptr != NULL ? o->stop_reason
                       : o->n_tool_use != 0       ? SL_STRLIT("tool_use")
                                                  : SL_STRLIT("end_turn"),
        .stop_sequence = o->stop_sequence,
        .thinking = o->thinking.ptr != NULL ? o->thinking
                    : ar.thinking           ? SL_STRLIT("The user wants a reply from sluice-mock.")
                                            : SL_STR_NULL,
        .text = o->n_tool_use == 0 || o->text_set,
        .reply = o->reply,
        .chunks = o->chunks,
        .tools = o->tool_use,
        .n_tools = o->n_tool_use,
    };
    r->output_tokens = or_default(o->output_tokens, ra_deltas(r));
    if (c->op == OP_INVOKE) {
        r->text_tok = mock__reply_token(c->req, o);
        size_t cap = ra_message_bound(r);
        struct mj_writer wr = {h2o_mem_alloc_pool(&c->req->pool, cap), NULL};
        char *begin = wr.ptr;
        wr.end = wr.ptr + cap;
        ra_message(&wr, r);
        return mock__respond_body(c->w, c->req, o, 200,
                                  sl_str_init(begin, (size_t)(wr.ptr - begin)));
    }
    struct chunked *k = h2o_mem_alloc_pool(&c->req->pool, sizeof(*k));
    struct mock_sse sse = {.event = chunk_event,
                           .error = chunk_error,
                           .st = k,
                           .content_type = "application/vnd.amazon.eventstream"};
    if (o->chunk_text.ptr != NULL)
        r->chunk_tok = mock__escape_pool(c->req, o->chunk_text);
    size_t inner = ra_stream_plan(r, mock__pool_alloc, &c->req->pool, &sse.segs, &sse.n_segs);
    *k = (struct chunked){.c = c, .r = r, .inner_cap = inner};
    k->inner = h2o_mem_alloc_pool(&c->req->pool, inner);
    sse.ev_cap = es_bound(256, inner / 3 * 4 + 256 + (o->error_message.len + 64) * 6);
    mock__stream(c->w, c->req, o, &sse);
    return 0;
}

/* ---- InvokeModel: embeddings ---- */

static bool only_keys(json_t *b, const char *const *keys, size_t n, const char **bad)
{
    const char *key;
    json_t *val;
    json_object_foreach(b, key, val)
    {
        if (!one_of(key, keys, n)) {
            *bad = key;
            return false;
        }
    }
    return true;
}

static json_t *vector_json(struct sl_str text, size_t dims)
{
    float *f = malloc(dims * sizeof(*f));
    json_t *a = json_array();
    rd_embedding_vector(f, dims, text);
    for (size_t i = 0; i < dims; i++)
        json_array_append_new(a, json_real(f[i]));
    free(f);
    return a;
}

static int respond_json(struct br_ctx *c, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    h2o_iovec_t b = h2o_strdup(&c->req->pool, text, strlen(text));
    free(text);
    json_decref(body);
    return mock__respond_body(c->w, c->req, &c->o, 200, sl_str_init(b.base, b.len));
}

static int titan(struct br_ctx *c)
{
    static const char *const keys[] = {"inputText", "dimensions", "normalize", "embeddingTypes"};
    const char *bad;
    json_t *text = json_object_get(c->body, "inputText"),
           *dims = json_object_get(c->body, "dimensions");
    mock_opts_init(&c->o, &mock__cfg()->defaults);
    if (!only_keys(c->body, keys, SL_ARRAY_LEN(keys), &bad))
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request: extraneous key [%s] is not permitted, please "
                         "reformat your input and try again.",
                         bad);
    if (!json_is_string(text) || json_string_length(text) == 0)
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request: #: required key [inputText] not found");
    if (dims != NULL && (!json_is_integer(dims) ||
                         (json_integer_value(dims) != 256 && json_integer_value(dims) != 512 &&
                          json_integer_value(dims) != 1024)))
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request: #/dimensions: 256, 512 or 1024 expected");
    size_t n = dims != NULL ? (size_t)json_integer_value(dims) : c->o.dimensions;
    struct sl_str t = sl_str_init(json_string_value(text), json_string_length(text));
    json_t *v = vector_json(t, n);
    return respond_json(c, json_pack("{s:o,s:I,s:{s:O}}", "embedding", v, "inputTextTokenCount",
                                     (json_int_t)SL_MAX(t.len / 4, 1), "embeddingsByType", "float",
                                     v));
}

static int cohere(struct br_ctx *c)
{
    static const char *const keys[] = {"texts", "input_type", "truncate", "embedding_types",
                                       "images"};
    static const char *const types[] = {"search_document", "search_query", "classification",
                                        "clustering"};
    const char *bad;
    json_t *texts = json_object_get(c->body, "texts"), *item;
    size_t i;
    mock_opts_init(&c->o, &mock__cfg()->defaults);
    if (!only_keys(c->body, keys, SL_ARRAY_LEN(keys), &bad))
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request: extraneous key [%s] is not permitted", bad);
    if (!one_of(json_string_value(json_object_get(c->body, "input_type")), types, 4))
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request: #/input_type: search_document, search_query, "
                         "classification or clustering expected");
    if (!json_is_array(texts) || json_array_size(texts) == 0 || json_array_size(texts) > 96)
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request: #/texts: 1 to 96 strings expected");
    json_t *out = json_array();
    json_array_foreach(texts, i, item)
    {
        if (!json_is_string(item)) {
            json_decref(out);
            return aws_error(c, 400, "ValidationException",
                             "Malformed input request: #/texts/%zu: expected type: String", i);
        }
        json_array_append_new(
            out, vector_json(sl_str_init(json_string_value(item), json_string_length(item)),
                             c->o.dimensions));
    }
    json_t *embeddings = json_object_get(c->body, "embedding_types") != NULL
                             ? json_pack("{s:o}", "float", out)
                             : out;
    return respond_json(
        c, json_pack("{s:o,s:s,s:s,s:O}", "embeddings", embeddings, "id", "mock-embed-1",
                     "response_type",
                     json_is_array(embeddings) ? "embeddings_floats" : "embeddings_by_type",
                     "texts", texts));
}

static int invoke(struct br_ctx *c)
{
    const char *base = strrchr(c->model, '/') != NULL ? strrchr(c->model, '/') + 1 : c->model;
    if (strstr(base, "amazon.titan-embed") != NULL)
        return c->op == OP_INVOKE ? titan(c)
                                  : aws_error(c, 400, "ValidationException",
                                              "The model is unsupported for streaming.");
    if (strstr(base, "cohere.embed") != NULL)
        return c->op == OP_INVOKE ? cohere(c)
                                  : aws_error(c, 400, "ValidationException",
                                              "The model is unsupported for streaming.");
    if (is_claude(c->model))
        return invoke_claude(c);
    return aws_error(c, 400, "ValidationException", "The provided model identifier is invalid.");
}

/* ---- the request ---- */

int mock_bedrock_handle(struct mock_worker *w, h2o_req_t *req)
{
    /* In pool memory: a stream's renderer reads it after this handler returned. */
    struct br_ctx *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    *c = (struct br_ctx){.w = w, .req = req};
    struct sl_str id = mock__make_id(w, req, "mock-", '-');
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-requestid"), 0, NULL,
                          id.ptr, id.len);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
        return aws_error(c, 404, "UnknownOperationException", "Unknown operation");
    if (!authorized(c))
        return 0;
    if (!parse_target(c))
        return aws_error(c, 400, "ValidationException",
                         "The provided model identifier is invalid.");
    c->body = json_loadb(req->entity.base, req->entity.len, 0, NULL);
    if (!json_is_object(c->body)) {
        json_decref(c->body);
        return aws_error(c, 400, "ValidationException",
                         "Malformed input request, please reformat your input and try again.");
    }
    int rc = c->op == OP_CONVERSE || c->op == OP_CONVERSE_STREAM ? converse(c) : invoke(c);
    json_decref(c->body);
    c->body = NULL;
    return rc;
}
