#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "anthropic.h"
#include "anthropic_req.h"
#include "autotool.h"
#include "mjson.h"
#include "render_anthropic.h"
#include "sluice/base.h"

/* The thinking text of a reply to a request that enables thinking without mock.thinking. */
#define DEFAULT_THINKING "The user wants a reply from sluice-mock. I will give the usual one."

/* Per request: the request id every response carries (request-id header, error bodies). */
struct an_ctx {
    struct mock_worker *w;
    h2o_req_t *req;
    struct sl_str request_id;
};

static const char *default_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

/* An Anthropic error envelope in req->pool; type and message are raw text. */
static struct sl_str error_body(struct an_ctx *c, struct sl_str type, struct sl_str message)
{
    struct sl_str t = mock__escape_pool(c->req, type), m = mock__escape_pool(c->req, message);
    size_t cap = ra_error_bound(t, m, c->request_id);
    struct mj_writer wr = {h2o_mem_alloc_pool(&c->req->pool, cap), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + cap;
    ra_error(&wr, t, m, c->request_id);
    return sl_str_init(begin, (size_t)(wr.ptr - begin));
}

/* Replies with one of the mock's own errors (a validation failure, not an injected error). */
static int reply_error(struct an_ctx *c, int status, const char *message)
{
    mock__send_json(
        c->req, status,
        error_body(c, sl_str_from_cstr(default_type(status)), sl_str_from_cstr(message)), NULL);
    return 0;
}

/* The value of header name, or SL_STR_NULL; *twice is set when it appears more than once. */
static struct sl_str header(h2o_req_t *req, const char *name, size_t len, bool *twice)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);

    if (i == -1)
        return SL_STR_NULL;
    if (twice != NULL)
        *twice = h2o_find_header_by_str(&req->headers, name, len, i) != -1;
    return sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

/* The caller's key: a non-empty x-api-key, else "Authorization: Bearer KEY" (the SDKs for API
 * version 2026-10-21 send the key that way; the API reads x-api-key first). */
static struct sl_str api_key(h2o_req_t *req)
{
    struct sl_str v = sl_str_trim(header(req, H2O_STRLIT("x-api-key"), NULL));
    ssize_t i;

    if (v.len != 0)
        return v;
    i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return SL_STR_NULL;
    v = sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    if (v.len > 7 && strncasecmp(v.ptr, "Bearer ", 7) == 0)
        return sl_str_trim(sl_str_init(v.ptr + 7, v.len - 7));
    return SL_STR_NULL;
}

static bool authorized(struct an_ctx *c)
{
    struct sl_str key = api_key(c->req), want = mock__cfg()->require_key;

    if (key.len == 0) {
        reply_error(c, 401, "x-api-key header is required");
        return false;
    }
    if (want.ptr != NULL &&
        (key.len != want.len || CRYPTO_memcmp(key.ptr, want.ptr, key.len) != 0)) {
        reply_error(c, 401, "invalid x-api-key");
        return false;
    }
    return true;
}

static bool version_ok(struct an_ctx *c, enum an_version *version)
{
    bool twice = false;
    struct sl_str v = header(c->req, H2O_STRLIT("anthropic-version"), &twice);
    char msg[160];

    if (v.ptr == NULL) {
        reply_error(c, 400, "anthropic-version: header is required");
        return false;
    }
    if (twice || an_parse_version(v, version) != SL_OK) {
        snprintf(msg, sizeof(msg), "anthropic-version: \"%.*s%s\" is not a valid version",
                 (int)SL_MIN(v.len, 64), v.ptr, twice ? ", ..." : "");
        reply_error(c, 400, msg);
        return false;
    }
    return true;
}

/* Parses the request's mock object into o. Replies 400 and returns false on a bad one. */
static bool apply_mock(struct an_ctx *c, const struct an_request *ar, struct mock_opts *o)
{
    const char *other;
    char err[192];

    mock_opts_init(o, &mock__cfg()->defaults);
    if (ar->mock.type == MJ_ABSENT)
        return true;
    if (ar->mock.type != MJ_OBJECT) {
        reply_error(c, 400, "mock: expected an object");
        return false;
    }
    if (mock_opts_parse(o, ar->mock.raw, mock__pool_alloc, &c->req->pool, err, sizeof(err)) !=
        SL_OK) {
        reply_error(c, 400, err);
        return false;
    }
    if ((other = mock_opts_has_bedrock_only(o)) != NULL) {
        snprintf(err, sizeof(err), "mock.%s: only for Bedrock (.../model/{id}/...)", other);
        reply_error(c, 400, err);
        return false;
    }
    if (mock_opts_has_openai_only(o, &other)) {
        snprintf(err, sizeof(err), "mock.%s: only for OpenAI chat completions", other);
        reply_error(c, 400, err);
        return false;
    }
    if (mock_opts_has_gemini_only(o, &other)) {
        snprintf(err, sizeof(err), "mock.%s: only for Gemini (...:generateContent)", other);
        reply_error(c, 400, err);
        return false;
    }
    return true;
}

/* An injected error: error_body as-is, else the envelope from error_type and error_message. */
static int injected_error(struct an_ctx *c, const struct mock_opts *o)
{
    char msg[80];
    struct sl_str body = o->error_body;

    if (body.ptr == NULL) {
        snprintf(msg, sizeof(msg), "%s",
                 o->status == 529 ? "Overloaded" : "sluice-mock: injected error");
        body = error_body(c,
                          o->error_type.ptr != NULL ? o->error_type
                                                    : sl_str_from_cstr(default_type(o->status)),
                          o->error_message.ptr != NULL ? o->error_message : sl_str_from_cstr(msg));
    }
    rec_count(&c->w->counters, REC_ERRORS_INJECTED, 1);
    return mock__respond_body(c->w, c->req, o, o->status, body);
}

static int count_tokens(struct an_ctx *c, const struct an_request *ar, const struct mock_opts *o)
{
    struct mj_writer wr = {h2o_mem_alloc_pool(&c->req->pool, RA_COUNT_TOKENS_BOUND), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + RA_COUNT_TOKENS_BOUND;
    ra_count_tokens(&wr, o->input_tokens != MOCK_UNSET ? o->input_tokens : ar->input_tokens);
    return mock__respond_body(c->w, c->req, o, o->status != 0 ? o->status : 200,
                              sl_str_init(begin, (size_t)(wr.ptr - begin)));
}

static uint64_t or_default(uint64_t v, uint64_t dflt)
{
    return v != MOCK_UNSET ? v : dflt;
}

/* The reply the options and the request ask for. */
static struct ra_reply *plan_reply(struct an_ctx *c, const struct an_request *ar,
                                   const struct mock_opts *o)
{
    struct ra_reply *r = h2o_mem_alloc_pool(&c->req->pool, sizeof(*r));
    bool by_sequence = o->stop_sequence.ptr != NULL;

    *r = (struct ra_reply){
        .id = mock__make_id(c->w, c->req, "msg_mock_", '_'),
        .model = ar->model,
        .input_tokens = or_default(o->input_tokens, ar->input_tokens),
        .cache_creation_input_tokens = or_default(o->cache_creation_input_tokens, 0),
        .cache_read_input_tokens = or_default(o->cache_read_input_tokens, 0),
        .stop_reason = o->stop_reason.ptr != NULL ? o->stop_reason
                       : by_sequence              ? SL_STRLIT("stop_sequence")
                       : o->n_tool_use != 0       ? SL_STRLIT("tool_use")
                                                  : SL_STRLIT("end_turn"),
        .stop_sequence = o->stop_sequence,
        .crlf = o->crlf,
        .invalid_json = o->invalid_json,
        .thinking = o->thinking.ptr != NULL ? o->thinking
                    : ar->thinking          ? SL_STRLIT(DEFAULT_THINKING)
                                            : SL_STR_NULL,
        .text = o->n_tool_use == 0 || o->text_set,
        .reply = o->reply,
        .chunks = o->chunks,
        .tools = o->tool_use,
        .n_tools = o->n_tool_use,
    };
    r->output_tokens = or_default(o->output_tokens, ra_deltas(r));
    return r;
}

static int reply_message(struct an_ctx *c, const struct an_request *ar, const struct mock_opts *o)
{
    struct ra_reply *r = plan_reply(c, ar, o);
    int status = o->status != 0 ? o->status : 200;

    if (ar->stream) {
        struct mock_sse sse = {.event = ra_stream_event, .error = ra_stream_error, .st = r};
        if (o->chunk_text.ptr != NULL)
            r->chunk_tok = mock__escape_pool(c->req, o->chunk_text);
        sse.ev_cap = ra_stream_plan(r, mock__pool_alloc, &c->req->pool, &sse.segs, &sse.n_segs);
        mock__stream(c->w, c->req, o, &sse);
        return 0;
    }
    r->text_tok = mock__reply_token(c->req, o);
    size_t cap = ra_message_bound(r);
    struct mj_writer wr = {h2o_mem_alloc_pool(&c->req->pool, cap), NULL};
    char *begin = wr.ptr;

    wr.end = wr.ptr + cap;
    ra_message(&wr, r);
    return mock__respond_body(c->w, c->req, o, status,
                              sl_str_init(begin, (size_t)(wr.ptr - begin)));
}

/* Validates the body, applies the mock object and answers (after the endpoint's own checks). */
static int serve(struct an_ctx *c, struct an_limits *lim, struct sl_str vertex_model, int stream)
{
    h2o_req_t *req = c->req;
    struct an_request ar;
    struct mock_opts o;
    char err[512];

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
        return reply_error(c, 405, "Method Not Allowed: use POST");
    if (mj_scan_object(sl_str_init(req->entity.base, req->entity.len), NULL, 0, NULL) != SL_OK)
        return reply_error(c, 400,
                           "There was an issue with the format or content of your "
                           "request: the body is not a valid JSON object.");
    lim->beta = header(req, H2O_STRLIT("anthropic-beta"), NULL).ptr != NULL;
    if (an_validate(sl_str_init(req->entity.base, req->entity.len), lim, &ar, mock__pool_alloc,
                    &req->pool, err, sizeof(err)) != SL_OK)
        return reply_error(c, 400, err);
    if (lim->vertex) {
        ar.model = vertex_model;
        if (stream != (int)ar.stream)
            return reply_error(c, 400,
                               stream ? "stream: streamRawPredict needs \"stream\": true"
                                      : "stream: rawPredict cannot stream (use streamRawPredict)");
    }
    if (!apply_mock(c, &ar, &o))
        return 0;
    struct at_plan plan;
    if (!lim->count_tokens && at_plan(AT_ANTHROPIC, sl_str_init(req->entity.base, req->entity.len),
                                      mock__pool_alloc, &req->pool, &plan))
        at_apply(&o, &plan, true, mock__pool_alloc, &req->pool);
    if (mock__fail_first(&o) != SL_OK)
        return reply_error(c, 400, MOCK_TOO_MANY_TAGS);
    if (o.status >= 300)
        return injected_error(c, &o);
    if (lim->count_tokens)
        return count_tokens(c, &ar, &o);
    if (sl_str_eq_lit(o.stop_reason, "stop_sequence") && o.stop_sequence.ptr == NULL)
        return reply_error(c, 400, "mock.stop_reason: stop_sequence needs mock.stop_sequence");
    return reply_message(c, &ar, &o);
}

int mock_anthropic_handle(struct mock_worker *w, h2o_req_t *req, bool count)
{
    struct an_ctx c = {w, req, mock__make_id(w, req, "req_mock_", '_')};
    struct an_limits lim = {.count_tokens = count};

    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("request-id"), 0, NULL,
                          c.request_id.ptr, c.request_id.len);
    if (!authorized(&c) || !version_ok(&c, &lim.version))
        return 0;
    return serve(&c, &lim, SL_STR_NULL, 0);
}

int mock_anthropic_vertex(struct mock_worker *w, h2o_req_t *req, struct sl_str model, bool stream)
{
    struct an_ctx c = {w, req, mock__make_id(w, req, "req_vrtx_mock_", '_')};
    struct an_limits lim = {.version = AN_V2023_06_01, .vertex = true};

    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("request-id"), 0, NULL,
                          c.request_id.ptr, c.request_id.len);
    return serve(&c, &lim, model, stream ? 1 : 0);
}
