#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "anthropic.h"
#include "gemini.h"
#include "gemini_req.h"
#include "mjson.h"
#include "oauth.h"
#include "record.h"
#include "render.h"
#include "sluice/base.h"

#define DEFAULT_THOUGHT "The user wants a reply from sluice-mock. I will give the usual one."
/* Fixed text of one event or body besides its pieces (usage, ids, finish). */
#define OVERHEAD 1024

enum method { M_GENERATE, M_STREAM, M_EMBED, M_RAW, M_STREAM_RAW, M_NONE };

struct target {
    bool vertex;
    struct sl_str publisher; /* Vertex: google, anthropic, ... */
    struct sl_str model;     /* plain text, as in the path */
    enum method method;
};

/* A reply, JSON or streamed. */
struct reply {
    struct sl_str model_tok; /* modelVersion: the path's model as a JSON token */
    struct sl_str id;        /* responseId, plain ASCII */
    struct sl_str reply;     /* raw text cut into chunks pieces */
    struct sl_str chunk_tok; /* escaped chunk_text; ptr NULL: pieces of reply */
    struct sl_str thought;   /* raw thought text; ptr NULL: none */
    struct sl_str finish;    /* finishReason */
    struct sl_str signature; /* thoughtSignature of each call; ptr NULL: none */
    const struct mock_tool_call *calls;
    size_t n_calls;
    uint64_t chunks;
    uint64_t candidates;
    bool text;
    bool crlf;
    bool invalid_json;
    uint64_t prompt_tokens, thought_tokens, cached_tokens; /* cached: MOCK_UNSET for none */
    char *tok;                                             /* scratch for one escaped piece */
    struct rd_seg segs[8];
    size_t n_segs;
};

static const struct sl_str methods[] = {
    SL_STR_INIT(":generateContent"), SL_STR_INIT(":streamGenerateContent"),
    SL_STR_INIT(":batchEmbedContents"), SL_STR_INIT(":rawPredict"),
    SL_STR_INIT(":streamRawPredict")};

static enum method method_of(struct sl_str path, size_t *at)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(methods); i++)
        if (sl_str_ends_with(path, methods[i])) {
            *at = path.len - methods[i].len;
            return (enum method)i;
        }
    return M_NONE;
}

/* Splits the path into its parts; false when it is not a Google model path. */
static bool parse_target(struct sl_str path, struct target *t)
{
    size_t at;
    *t = (struct target){.method = method_of(path, &at)};
    if (t->method == M_NONE)
        return false;
    struct sl_str head = sl_str_init(path.ptr, at);
    const char *slash = NULL;
    for (size_t i = head.len; i-- > 0;)
        if (head.ptr[i] == '/') {
            slash = head.ptr + i;
            break;
        }
    if (slash == NULL)
        return false;
    t->model = sl_str_init(slash + 1, (size_t)(head.ptr + head.len - slash - 1));
    struct sl_str before = sl_str_init(head.ptr, (size_t)(slash - head.ptr));
    if (!sl_str_ends_with(before, SL_STRLIT("/models")) &&
        !sl_str_ends_with(before, SL_STRLIT("/tunedModels")))
        return false;
    const char *pub = memmem(head.ptr, head.len, "/publishers/", 12);
    const char *proj = memmem(head.ptr, head.len, "/v1/projects/", 13);
    if (pub != NULL && proj != NULL) {
        t->vertex = true;
        const char *p = pub + 12, *end = memchr(p, '/', (size_t)(head.ptr + head.len - p));
        t->publisher = sl_str_init(p, end != NULL ? (size_t)(end - p) : 0);
    }
    return t->model.len != 0;
}

bool mock_gemini_is_path(struct sl_str path)
{
    struct target t;
    return parse_target(path, &t);
}

/* ---- errors ---- */

static const char *status_name(int code)
{
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 501:
        return "UNIMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

/* {"error":{"code","message","status"[,"details"]}} in req->pool. */
static struct sl_str error_body(h2o_req_t *req, int code, struct sl_str message, const char *status,
                                struct sl_str retry, const char *reason)
{
    struct sl_str m = mock__escape_pool(req, message);
    size_t cap = 512 + m.len + retry.len;
    struct mj_writer w = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    char *begin = w.ptr;
    w.end = w.ptr + cap;
    MJ_PUT_LIT(&w, "{\"error\":{\"code\":");
    mj_put_u64(&w, (uint64_t)code);
    MJ_PUT_LIT(&w, ",\"message\":");
    mj_put_str(&w, m);
    MJ_PUT_LIT(&w, ",\"status\":\"");
    mj_put_str(&w, sl_str_from_cstr(status != NULL ? status : status_name(code)));
    MJ_PUT_LIT(&w, "\"");
    if (retry.ptr != NULL || reason != NULL) {
        MJ_PUT_LIT(&w, ",\"details\":[");
        if (reason != NULL) {
            MJ_PUT_LIT(&w, "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"");
            mj_put_str(&w, sl_str_from_cstr(reason));
            MJ_PUT_LIT(&w, "\",\"domain\":\"googleapis.com\"}");
        }
        if (retry.ptr != NULL) {
            if (reason != NULL)
                MJ_PUT_LIT(&w, ",");
            MJ_PUT_LIT(&w, "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
                           "\"retryDelay\":");
            mj_put_escaped(&w, retry);
            MJ_PUT_LIT(&w, "}");
        }
        MJ_PUT_LIT(&w, "]");
    }
    MJ_PUT_LIT(&w, "}}");
    return sl_str_init(begin, (size_t)(w.ptr - begin));
}

static int reply_error(h2o_req_t *req, int code, const char *message)
{
    mock__send_json(
        req, code, error_body(req, code, sl_str_from_cstr(message), NULL, SL_STR_NULL, NULL), NULL);
    return 0;
}

/* ---- auth ---- */

static struct sl_str api_key(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-goog-api-key"), -1);
    if (i != -1)
        return sl_str_trim(
            sl_str_init(req->headers.entries[i].value.base, req->headers.entries[i].value.len));
    struct sl_str path = {req->path.base, req->path.len};
    const char *q = memchr(path.ptr, '?', path.len);
    for (const char *p = q; p != NULL && p < path.ptr + path.len;) {
        p++;
        const char *amp = memchr(p, '&', (size_t)(path.ptr + path.len - p));
        const char *end = amp != NULL ? amp : path.ptr + path.len;
        if ((size_t)(end - p) > 4 && memcmp(p, "key=", 4) == 0)
            return sl_str_init(p + 4, (size_t)(end - p - 4));
        p = amp;
    }
    return SL_STR_NULL;
}

static bool authorized(h2o_req_t *req, const struct target *t)
{
    if (t->vertex) {
        if (mock_oauth_bearer_ok(req))
            return true;
        mock__send_json(
            req, 401,
            error_body(req, 401,
                       SL_STRLIT("Request had invalid authentication credentials. "
                                 "Expected OAuth 2 access token, login cookie or "
                                 "other valid authentication credential."),
                       NULL, SL_STR_NULL,
                       mock_oauth_has_bearer(req) ? "ACCESS_TOKEN_EXPIRED" : "CREDENTIALS_MISSING"),
            NULL);
        return false;
    }
    struct sl_str key = api_key(req), want = mock__cfg()->require_key;
    if (key.len == 0) {
        mock__send_json(req, 403,
                        error_body(req, 403,
                                   SL_STRLIT("Method doesn't allow unregistered callers (callers "
                                             "without established identity). Please use API Key "
                                             "or other form of API consumer identity to call "
                                             "this API."),
                                   NULL, SL_STR_NULL, NULL),
                        NULL);
        return false;
    }
    if (want.ptr != NULL &&
        (key.len != want.len || CRYPTO_memcmp(key.ptr, want.ptr, key.len) != 0)) {
        mock__send_json(req, 400,
                        error_body(req, 400,
                                   SL_STRLIT("API key not valid. Please pass a valid API key."),
                                   NULL, SL_STR_NULL, "API_KEY_INVALID"),
                        NULL);
        return false;
    }
    return true;
}

/* ---- rendering ---- */

static void put_end(struct mj_writer *w, bool crlf)
{
    if (crlf)
        MJ_PUT_LIT(w, "\r\n\r\n");
    else
        MJ_PUT_LIT(w, "\n\n");
}

static void put_usage(struct mj_writer *w, const struct reply *r, uint64_t candidates,
                      uint64_t thoughts)
{
    MJ_PUT_LIT(w, ",\"usageMetadata\":{\"promptTokenCount\":");
    mj_put_u64(w, r->prompt_tokens);
    MJ_PUT_LIT(w, ",\"candidatesTokenCount\":");
    mj_put_u64(w, candidates);
    MJ_PUT_LIT(w, ",\"totalTokenCount\":");
    mj_put_u64(w, r->prompt_tokens + candidates + thoughts);
    if (thoughts != 0) {
        MJ_PUT_LIT(w, ",\"thoughtsTokenCount\":");
        mj_put_u64(w, thoughts);
    }
    if (r->cached_tokens != MOCK_UNSET) {
        MJ_PUT_LIT(w, ",\"cachedContentTokenCount\":");
        mj_put_u64(w, r->cached_tokens);
    }
    MJ_PUT_LIT(w, "}");
}

static void put_tail(struct mj_writer *w, const struct reply *r)
{
    MJ_PUT_LIT(w, ",\"modelVersion\":");
    mj_put_str(w, r->model_tok);
    MJ_PUT_LIT(w, ",\"responseId\":\"");
    mj_put_str(w, r->id);
    MJ_PUT_LIT(w, "\"}");
}

static void put_calls(struct mj_writer *w, const struct reply *r, bool first)
{
    for (size_t i = 0; i < r->n_calls; i++) {
        const struct mock_tool_call *c = &r->calls[i];
        if (!first || i != 0)
            MJ_PUT_LIT(w, ",");
        MJ_PUT_LIT(w, "{\"functionCall\":{\"name\":");
        mj_put_escaped(w, c->name);
        MJ_PUT_LIT(w, ",\"args\":");
        mj_put_str(w, c->args.len != 0 ? c->args : SL_STRLIT("{}"));
        if (c->id.ptr != NULL) {
            MJ_PUT_LIT(w, ",\"id\":");
            mj_put_escaped(w, c->id);
        }
        MJ_PUT_LIT(w, "}");
        if (r->signature.ptr != NULL) {
            MJ_PUT_LIT(w, ",\"thoughtSignature\":");
            mj_put_escaped(w, r->signature);
        }
        MJ_PUT_LIT(w, "}");
    }
}

static size_t calls_bound(const struct reply *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_calls; i++)
        n += 96 + mj_escape_bound(r->calls[i].name.len) + r->calls[i].args.len +
             mj_escape_bound(r->calls[i].id.len) + mj_escape_bound(r->signature.len);
    return n;
}

/* A candidate's head up to its parts: {"content":{"role":"model","parts":[ */
static void put_candidate_open(struct mj_writer *w)
{
    MJ_PUT_LIT(w, "{\"content\":{\"role\":\"model\",\"parts\":[");
}

/* ],},"finishReason"?,"index":i} */
static void put_candidate_close(struct mj_writer *w, const struct reply *r, uint64_t i, bool finish)
{
    MJ_PUT_LIT(w, "]}");
    if (finish) {
        MJ_PUT_LIT(w, ",\"finishReason\":\"");
        mj_put_str(w, r->finish);
        MJ_PUT_LIT(w, "\"");
    }
    MJ_PUT_LIT(w, ",\"index\":");
    mj_put_u64(w, i);
    MJ_PUT_LIT(w, "}");
}

static uint64_t text_tokens(const struct reply *r)
{
    return (r->text ? r->chunks : 0) + r->n_calls;
}

static struct sl_str body_of(struct mj_writer *w, char *begin)
{
    return sl_str_init(begin, (size_t)(w->ptr - begin));
}

static struct sl_str json_reply(h2o_req_t *req, struct reply *r, struct sl_str text_tok)
{
    struct sl_str thought_tok =
        r->thought.ptr != NULL ? mock__escape_pool(req, r->thought) : SL_STR_NULL;
    size_t cap = OVERHEAD + r->model_tok.len + r->id.len +
                 r->candidates * (256 + text_tok.len + thought_tok.len + calls_bound(r));
    struct mj_writer w = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    char *begin = w.ptr;
    w.end = w.ptr + cap;
    MJ_PUT_LIT(&w, "{\"candidates\":[");
    for (uint64_t i = 0; i < r->candidates; i++) {
        bool first = true;
        if (i != 0)
            MJ_PUT_LIT(&w, ",");
        put_candidate_open(&w);
        if (thought_tok.ptr != NULL) {
            MJ_PUT_LIT(&w, "{\"text\":");
            mj_put_str(&w, thought_tok);
            MJ_PUT_LIT(&w, ",\"thought\":true}");
            first = false;
        }
        if (r->text) {
            if (!first)
                MJ_PUT_LIT(&w, ",");
            MJ_PUT_LIT(&w, "{\"text\":");
            mj_put_str(&w, text_tok);
            MJ_PUT_LIT(&w, "}");
            first = false;
        }
        put_calls(&w, r, first);
        put_candidate_close(&w, r, i, true);
    }
    MJ_PUT_LIT(&w, "]");
    put_usage(&w, r, text_tokens(r), r->thought_tokens);
    put_tail(&w, r);
    return body_of(&w, begin);
}

/* ---- streams ---- */

enum seg_kind { SEG_THOUGHT = 0, SEG_TEXT, SEG_CALLS, SEG_FINISH };

static void add_seg(struct reply *r, enum seg_kind kind, unsigned flags, uint64_t count)
{
    SL_ASSERT(r->n_segs < SL_ARRAY_LEN(r->segs));
    if (count != 0)
        r->segs[r->n_segs++] = (struct rd_seg){(uint8_t)kind, (uint8_t)flags, 0, count};
}

static struct sl_str piece(struct reply *r, struct sl_str text, uint64_t j)
{
    if (r->chunk_tok.ptr != NULL && text.ptr == r->reply.ptr)
        return r->chunk_tok;
    return sl_str_init(r->tok, mj_escape(r->tok, rd_piece(text, j, r->chunks)));
}

static void stream_event(void *stream, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct reply *r = stream;
    uint64_t done_text = 0, done_thought = r->thought.ptr != NULL ? r->chunks : 0;
    bool finish = seg->kind == SEG_FINISH;
    MJ_PUT_LIT(w, "data: ");
    if (r->invalid_json && seg->kind == SEG_TEXT) {
        MJ_PUT_LIT(w, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"trunc");
        put_end(w, r->crlf);
        return;
    }
    MJ_PUT_LIT(w, "{\"candidates\":[");
    for (uint64_t i = 0; i < r->candidates; i++) {
        if (i != 0)
            MJ_PUT_LIT(w, ",");
        put_candidate_open(w);
        switch ((enum seg_kind)seg->kind) {
        case SEG_THOUGHT:
            MJ_PUT_LIT(w, "{\"text\":");
            mj_put_str(w, piece(r, r->thought, j));
            MJ_PUT_LIT(w, ",\"thought\":true}");
            done_thought = j + 1;
            break;
        case SEG_TEXT:
            MJ_PUT_LIT(w, "{\"text\":");
            mj_put_str(w, piece(r, r->reply, j));
            MJ_PUT_LIT(w, "}");
            done_text = j + 1;
            break;
        case SEG_CALLS:
            put_calls(w, r, true);
            done_text = r->text ? r->chunks : 0;
            break;
        case SEG_FINISH:
            /* Gemini's last chunk often carries an empty text with the finish reason. */
            MJ_PUT_LIT(w, "{\"text\":\"\"}");
            done_text = text_tokens(r);
            break;
        }
        put_candidate_close(w, r, i, finish);
    }
    MJ_PUT_LIT(w, "]");
    put_usage(w, r, done_text,
              finish ? r->thought_tokens : SL_MIN(done_thought, r->thought_tokens));
    put_tail(w, r);
    put_end(w, r->crlf);
}

static void stream_error(void *stream, struct mj_writer *w)
{
    struct reply *r = stream;
    MJ_PUT_LIT(w, "data: {\"error\":{\"code\":500,\"message\":\"Internal error encountered. "
                  "(sluice-mock: stream_error_after_chunks)\",\"status\":\"INTERNAL\"}}");
    put_end(w, r->crlf);
}

static void stream(struct mock_worker *w, h2o_req_t *req, struct reply *r,
                   const struct mock_opts *o)
{
    const unsigned delta = RD_SEG_DELTA | RD_SEG_CHECK;
    size_t tok =
        SL_MAX(mj_escape_bound(rd_piece_bound(r->reply, r->chunks)),
               r->thought.ptr != NULL ? mj_escape_bound(rd_piece_bound(r->thought, r->chunks)) : 0);
    tok = SL_MAX(tok, r->chunk_tok.len);
    r->tok = h2o_mem_alloc_pool(&req->pool, tok + 1);
    if (r->thought.ptr != NULL)
        add_seg(r, SEG_THOUGHT, delta, r->chunks);
    if (r->text)
        add_seg(r, SEG_TEXT, delta, r->chunks);
    if (r->n_calls != 0)
        add_seg(r, SEG_CALLS, delta, 1);
    add_seg(r, SEG_FINISH, RD_SEG_CHECK, 1);
    struct mock_sse sse = {
        .segs = r->segs,
        .n_segs = r->n_segs,
        .ev_cap =
            OVERHEAD + r->model_tok.len + r->id.len + r->candidates * (256 + tok + calls_bound(r)),
        .event = stream_event,
        .error = stream_error,
        .st = r,
    };
    mock__stream(w, req, o, &sse);
}

/* ---- embeddings ---- */

static int embeddings(struct mock_worker *w, h2o_req_t *req, const struct gm_request *g,
                      const struct mock_opts *o)
{
    uint64_t dims = g->dimensions != 0 ? g->dimensions : o->dimensions;
    size_t cap = 64 + g->embeds * rd_embedding_item_bound(dims);
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    float *v = h2o_mem_alloc_pool(&req->pool, dims * sizeof(float));
    char *begin = wr.ptr;
    char num[32];
    wr.end = wr.ptr + cap;
    MJ_PUT_LIT(&wr, "{\"embeddings\":[");
    for (uint64_t i = 0; i < g->embeds; i++) {
        snprintf(num, sizeof(num), "input-%llu", (unsigned long long)i);
        rd_embedding_vector(v, dims, sl_str_from_cstr(num));
        if (i != 0)
            MJ_PUT_LIT(&wr, ",");
        MJ_PUT_LIT(&wr, "{\"values\":[");
        for (uint64_t k = 0; k < dims; k++) {
            int n = snprintf(num, sizeof(num), "%s%.6f", k != 0 ? "," : "", (double)v[k]);
            mj_put(&wr, num, (size_t)n);
        }
        MJ_PUT_LIT(&wr, "]}");
    }
    MJ_PUT_LIT(&wr, "]}");
    return mock__respond_body(w, req, o, 200, body_of(&wr, begin));
}

/* ---- requests ---- */

static int injected_error(struct mock_worker *w, h2o_req_t *req, struct mock_opts *o)
{
    struct sl_str body = o->error_body;
    if (body.ptr == NULL) {
        /* Google sends its retry hint in the body (RetryInfo), not as a header. */
        struct sl_str retry = SL_STR_NULL;
        if (o->retry_after.ptr != NULL) {
            char *d = h2o_mem_alloc_pool(&req->pool, o->retry_after.len + 2);
            memcpy(d, o->retry_after.ptr, o->retry_after.len);
            d[o->retry_after.len] = 's';
            retry = sl_str_init(d, o->retry_after.len + 1);
            o->retry_after = SL_STR_NULL;
        }
        char status[64];
        snprintf(status, sizeof(status), "%.*s", (int)SL_MIN(o->error_type.len, (size_t)60),
                 o->error_type.ptr != NULL ? o->error_type.ptr : "");
        body = error_body(req, o->status,
                          o->error_message.ptr != NULL ? o->error_message
                                                       : SL_STRLIT("sluice-mock: injected error"),
                          o->error_type.ptr != NULL ? status : NULL, retry, NULL);
    }
    rec_count(&w->counters, REC_ERRORS_INJECTED, 1);
    return mock__respond_body(w, req, o, o->status, body);
}

/* The request's mock object (not Google's: the gateway forwards it as an unknown field). */
static bool apply_mock(h2o_req_t *req, struct mock_opts *o)
{
    static const struct sl_str key[] = {MJ_KEY("mock")};
    struct mj_value m[1];
    const char *name;
    char err[192];
    mock_opts_init(o, &mock__cfg()->defaults);
    if (mj_scan_object(sl_str_init(req->entity.base, req->entity.len), key, 1, m) != SL_OK ||
        m[0].type == MJ_ABSENT)
        return true;
    if (m[0].type != MJ_OBJECT ||
        mock_opts_parse(o, m[0].raw, mock__pool_alloc, &req->pool, err, sizeof(err)) != SL_OK) {
        reply_error(req, 400, m[0].type != MJ_OBJECT ? "mock: expected an object" : err);
        return false;
    }
    if (mock_opts_has_anthropic_only(o, &name) ||
        (o->finish_reason.ptr != NULL && (name = "finish_reason") != NULL)) {
        snprintf(err, sizeof(err),
                 "mock.%s: not for Gemini (gemini_finish_reason sets "
                 "finishReason)",
                 name);
        reply_error(req, 400, err);
        return false;
    }
    for (size_t i = 0; i < o->n_tool_calls; i++) {
        struct sl_str a = sl_str_trim(o->tool_calls[i].args);
        if (a.len != 0 && (a.ptr[0] != '{' || mj_validate(a) != SL_OK)) {
            reply_error(req, 400,
                        "mock.tool_calls: Gemini's args are an object: give arguments "
                        "as a JSON object's text");
            return false;
        }
    }
    return true;
}

static struct reply *plan(struct mock_worker *w, h2o_req_t *req, const struct target *t,
                          const struct gm_request *g, const struct mock_opts *o)
{
    struct reply *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    struct sl_str id = mock__make_id(w, req, "mock-resp-", '-');
    *r = (struct reply){
        .model_tok = mock__escape_pool(req, t->model),
        .id = id,
        .reply = o->reply,
        .thought = o->reasoning_content.ptr != NULL ? o->reasoning_content
                   : g->thoughts                    ? SL_STRLIT(DEFAULT_THOUGHT)
                                                    : SL_STR_NULL,
        .finish = o->gemini_finish_reason.ptr != NULL ? o->gemini_finish_reason : SL_STRLIT("STOP"),
        .signature = o->thought_signature,
        .calls = o->tool_calls,
        .n_calls = o->n_tool_calls,
        .chunks = o->chunks,
        .candidates = g->candidates != 0 ? g->candidates : 1,
        .text = o->n_tool_calls == 0 || o->text_set,
        .crlf = true, /* Google's SSE lines end in CRLF */
        .invalid_json = o->invalid_json,
        .prompt_tokens = SL_MAX(req->entity.len / 4, 1),
        .cached_tokens = o->cached_tokens,
    };
    if (o->chunk_text.ptr != NULL)
        r->chunk_tok = mock__escape_pool(req, o->chunk_text);
    r->thought_tokens = o->reasoning_tokens != MOCK_UNSET ? o->reasoning_tokens
                        : r->thought.ptr != NULL          ? r->chunks
                                                          : 0;
    return r;
}

/* {"promptFeedback":{"blockReason":...}} without candidates: the prompt was refused. */
static void put_blocked(struct mj_writer *w, const struct reply *r, struct sl_str reason)
{
    MJ_PUT_LIT(w, "{\"promptFeedback\":{\"blockReason\":");
    mj_put_escaped(w, reason);
    MJ_PUT_LIT(w, ",\"blockReasonMessage\":\"The prompt was blocked (sluice-mock).\"}");
    put_usage(w, r, 0, 0);
    put_tail(w, r);
}

static void blocked_event(void *stream, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct reply *r = stream;
    SL_UNUSED(seg);
    SL_UNUSED(j);
    MJ_PUT_LIT(w, "data: ");
    put_blocked(w, r, r->finish);
    put_end(w, r->crlf);
}

static int blocked(struct mock_worker *w, h2o_req_t *req, struct reply *r,
                   const struct mock_opts *o, bool streaming)
{
    size_t cap = OVERHEAD + r->model_tok.len + r->id.len + mj_escape_bound(o->block_reason.len);
    if (streaming) {
        r->finish = o->block_reason; /* blocked_event's reason */
        r->n_segs = 0;
        add_seg(r, SEG_FINISH, 0, 1);
        struct mock_sse sse = {.segs = r->segs,
                               .n_segs = r->n_segs,
                               .ev_cap = cap,
                               .event = blocked_event,
                               .error = stream_error,
                               .st = r};
        mock__stream(w, req, o, &sse);
        return 0;
    }
    struct mj_writer wr = {h2o_mem_alloc_pool(&req->pool, cap), NULL};
    char *begin = wr.ptr;
    wr.end = wr.ptr + cap;
    put_blocked(&wr, r, o->block_reason);
    return mock__respond_body(w, req, o, 200, body_of(&wr, begin));
}

static bool query_has(h2o_req_t *req, const char *param)
{
    struct sl_str path = {req->path.base, req->path.len};
    const char *q = memchr(path.ptr, '?', path.len);
    return q != NULL && memmem(q, (size_t)(path.ptr + path.len - q), param, strlen(param)) != NULL;
}

static int generate(struct mock_worker *w, h2o_req_t *req, const struct target *t)
{
    struct gm_request g;
    struct mock_opts o;
    char err[512];
    bool streaming = t->method == M_STREAM, embed = t->method == M_EMBED;
    if (streaming && !query_has(req, "alt=sse"))
        return reply_error(req, 400,
                           "sluice-mock: streamGenerateContent is served as SSE only "
                           "(?alt=sse)");
    char *model = h2o_mem_alloc_pool(&req->pool, t->model.len + 8);
    snprintf(model, t->model.len + 8, "models/%.*s", (int)t->model.len, t->model.ptr);
    if (gm_validate(sl_str_init(req->entity.base, req->entity.len), embed, sl_str_from_cstr(model),
                    &g, err, sizeof(err)) != SL_OK)
        return reply_error(req, 400, err);
    if (!apply_mock(req, &o))
        return 0;
    if (mock__fail_first(&o) != SL_OK)
        return reply_error(req, 400, MOCK_TOO_MANY_TAGS);
    if (o.status >= 300)
        return injected_error(w, req, &o);
    if (embed)
        return embeddings(w, req, &g, &o);
    struct reply *r = plan(w, req, t, &g, &o);
    if (o.block_reason.ptr != NULL)
        return blocked(w, req, r, &o, streaming);
    if (streaming) {
        stream(w, req, r, &o);
        return 0;
    }
    return mock__respond_body(w, req, &o, 200, json_reply(req, r, mock__reply_token(req, &o)));
}

int mock_gemini_handle(struct mock_worker *w, h2o_req_t *req)
{
    struct sl_str path = {req->path_normalized.base, req->path_normalized.len};
    struct target t;
    SL_ASSERT(parse_target(path, &t));
    bool anthropic = t.vertex && sl_str_eq_lit(t.publisher, "anthropic");
    rec_count(&w->counters, anthropic ? REC_RAW_PREDICT : REC_GEMINI, 1);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
        return reply_error(req, 405, "use POST");
    if (!authorized(req, &t))
        return 0;
    if (t.vertex && (t.method == M_RAW || t.method == M_STREAM_RAW) != anthropic)
        return reply_error(req, 404,
                           "Publisher model not found or method not served for this publisher "
                           "(sluice-mock: google models generateContent, anthropic models "
                           "rawPredict)");
    if (t.vertex && t.method == M_EMBED)
        return reply_error(req, 404, "sluice-mock: Vertex AI embeddings are not served");
    if (!t.vertex && (t.method == M_RAW || t.method == M_STREAM_RAW))
        return reply_error(req, 404, "rawPredict is a Vertex AI method");
    if (anthropic)
        return mock_anthropic_vertex(w, req, mock__escape_pool(req, t.model),
                                     t.method == M_STREAM_RAW);
    return generate(w, req, &t);
}
