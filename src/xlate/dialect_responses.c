/* The OpenAI Responses dialect (POST /v1/responses and the routes of a stored response): its
 * body checks, OpenAI's error envelope, its stream encoder (named events with sequence numbers
 * and no [DONE]; a failure after the 200 becomes a response.failed event, or an error event
 * before response.created) and the passthrough rewrite of a Responses upstream's replies: model
 * back to the alias, response ids sealed (respid.h), usage read. docs/responses.md. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/chunk.h"
#include "sluice/dialect.h"
#include "sluice/json.h"
#include "sluice/json_w.h"

/* One rewritten event (events are capped at 4 MiB by the framing; sealing adds < 2 KiB). */
#define EVENT_MAX_BYTES (5u * 1024 * 1024)
#define MESSAGE_MAX     1024
/* What the encoder keeps of response.created for a closing event: the id (sealed ids are
 * under 1.5 KiB), created_at and the model (the alias, escaped). Longer values are not kept. */
#define KEEP_MAX 4096

/* ---- inspection ---- */

enum { K_MODEL, K_STREAM, K_PREVIOUS, K_COUNT };

static int fail(char *why, size_t whylen, const char *fmt, const char *arg)
    __attribute__((format(printf, 3, 0)));

static int fail(char *why, size_t whylen, const char *fmt, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(why, whylen, fmt, arg);
#pragma GCC diagnostic pop
    return SL_EPARSE;
}

static int fail_duplicate(struct sl_json_key k, char *why, size_t whylen)
{
    char name[64];
    struct sl_buf b;
    sl_buf_init(&b, sizeof(name) - 1);
    if (sl_json_unescape(sl_str_init(k.raw.ptr - 1, k.raw.len + 2), &b) != SL_OK)
        (void)sl_buf_append(&b, k.raw.ptr, SL_MIN(k.raw.len, sizeof(name) - 1));
    snprintf(name, sizeof(name), "%.*s", (int)b.len, b.ptr != NULL ? b.ptr : "");
    sl_buf_dispose(&b);
    return fail(why, whylen, "duplicate key \"%s\"", name);
}

/* A create body: a JSON object (strict, no repeated top-level name) with a non-empty "model",
 * "stream" a boolean and "previous_response_id" a string when present. The rest is the
 * upstream's to judge (passthrough) or the translation's (xlate/responses_chat_req.c). */
static int inspect(enum sl_op op, struct sl_str body, struct sl_call *call, char *why,
                   size_t whylen)
{
    static const struct sl_str keys[K_COUNT] = {SL_STR_INIT("model"), SL_STR_INIT("stream"),
                                                SL_STR_INIT("previous_response_id")};
    struct sl_json_member m[K_COUNT];
    struct sl_json_keyset seen;
    struct sl_json_key dup;
    struct sl_json_error jerr;
    SL_ASSERT(op == SL_OP_CHAT);
    *call = (struct sl_call){.body = body};
    if (body.len == 0)
        return fail(why, whylen, "%s", "the body is empty (expected a JSON object)");
    int rc =
        sl_json_scan_unique(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, K_COUNT, m, &jerr, &seen, &dup);
    if (rc == SL_EEXIST)
        return fail_duplicate(dup, why, whylen);
    if (rc == SL_E2BIG)
        return fail(why, whylen, "an object has more than %s members", "1024");
    if (rc != SL_OK) {
        snprintf(why, whylen, "%s at byte %zu", jerr.why, jerr.at);
        return SL_EPARSE;
    }
    if (m[K_MODEL].type == SL_JSON_ABSENT)
        return fail(why, whylen, "missing field \"%s\"", "model");
    if (m[K_MODEL].type != SL_JSON_STRING || m[K_MODEL].value.len <= 2)
        return fail(why, whylen, "\"%s\" must be a non-empty string", "model");
    enum sl_json_type st = m[K_STREAM].type;
    if (st != SL_JSON_ABSENT && st != SL_JSON_TRUE && st != SL_JSON_FALSE && st != SL_JSON_NULL)
        return fail(why, whylen, "\"%s\" must be a boolean", "stream");
    enum sl_json_type pt = m[K_PREVIOUS].type;
    if (pt != SL_JSON_ABSENT && pt != SL_JSON_NULL && pt != SL_JSON_STRING)
        return fail(why, whylen, "\"%s\" must be a string", "previous_response_id");
    call->model = m[K_MODEL];
    call->stream = st == SL_JSON_TRUE;
    call->previous_response_id = pt == SL_JSON_STRING ? m[K_PREVIOUS] : (struct sl_json_member){0};
    return SL_OK;
}

/* 4xx keep their status; anything else the upstream failed with is a 502. */
static int upstream_status(int status)
{
    return status >= 400 && status < 500 ? status : 502;
}

static struct sl_str error_body(h2o_mem_pool_t *pool, int status, const char *type,
                                const char *code, struct sl_str message,
                                struct sl_str upstream_type)
{
    SL_UNUSED(status);
    SL_UNUSED(upstream_type);
    return sl_openai_error_body(pool, type, code, message);
}

/* Only "model" changes: a Responses stream reports usage in its response.completed event. A
 * stored response's call has no body, and no model to replace. */
static void passthrough_request(const struct sl_call *call, struct sl_str model_json, bool stream,
                                struct sl_splice *sp)
{
    SL_UNUSED(stream);
    sl_splice_init(sp, call->body);
    if (call->model.type == SL_JSON_STRING)
        sl_splice_replace(sp, call->model.value, model_json);
}

/* ---- usage ---- */

static int64_t count_of(const struct sl_json_member *m)
{
    uint64_t v;
    if (m->type == SL_JSON_NUMBER && sl_json_to_u64(m->value, &v) == SL_OK && v <= INT64_MAX)
        return (int64_t)v;
    return -1;
}

/* A Responses usage object: input_tokens counts the cached ones too, as struct sl_usage's does. */
static void read_usage(struct sl_str obj, struct sl_usage *u)
{
    static const struct sl_str keys[] = {SL_STR_INIT("input_tokens"), SL_STR_INIT("output_tokens"),
                                         SL_STR_INIT("input_tokens_details"),
                                         SL_STR_INIT("output_tokens_details")};
    struct sl_json_member m[4], d;
    if (sl_json_scan_object(obj, SL_JSON_DEFAULT_MAX_DEPTH, keys, 4, m, NULL) != SL_OK)
        return;
    if (count_of(&m[0]) >= 0)
        u->input_tokens = count_of(&m[0]);
    if (count_of(&m[1]) >= 0)
        u->output_tokens = count_of(&m[1]);
    if (m[2].type == SL_JSON_OBJECT &&
        sl_json_find(m[2].value, SL_STRLIT("cached_tokens"), &d) == SL_OK && count_of(&d) >= 0)
        u->cache_read_tokens = count_of(&d);
    if (m[3].type == SL_JSON_OBJECT &&
        sl_json_find(m[3].value, SL_STRLIT("reasoning_tokens"), &d) == SL_OK && count_of(&d) >= 0)
        u->reasoning_tokens = count_of(&d);
}

/* ---- the response object of a passthrough reply ---- */

/* What a stream's buffer for one sealed id holds: the upstream id it sealed and the quoted
 * length. A stream repeats its response's id in response.created, .in_progress and the final
 * event; sealing costs four SHA-256 blocks, so it is sealed once (the claims do not change
 * within a request). */
struct seal_memo {
    size_t up_len, len; /* len 0: nothing sealed */
    char up[SL_RESPID_MAX_PART];
};

/* The quoted sealed id of the id string m into dst (room for SL_RESPID_MAX_TEXT + 2), or an
 * empty slice when it cannot be sealed (no state, an id too long): it then goes on as the
 * upstream sent it, and the routes of a stored response do not know it. With a memo, dst
 * still holds the seal of the id the memo names. */
static struct sl_str seal(const struct sl_responses_state *st, const struct sl_json_member *m,
                          char *dst, struct seal_memo *memo)
{
    struct sl_str inner =
        m->type == SL_JSON_STRING ? sl_str_init(m->value.ptr + 1, m->value.len - 2) : SL_STR_NULL;
    size_t len;
    /* Upstream ids are plain ASCII; one with escapes is not a Responses id to seal. */
    if (st == NULL || dst == NULL || m->type != SL_JSON_STRING || inner.len == 0 ||
        memchr(inner.ptr, '\\', inner.len) != NULL)
        return SL_STR_NULL;
    if (memo != NULL && memo->len != 0 && memo->up_len == inner.len &&
        memcmp(memo->up, inner.ptr, inner.len) == 0)
        return sl_str_init(dst, memo->len);
    if (sl_respid_seal(st->secret, &st->claims, inner, dst + 1, &len) != SL_OK)
        return SL_STR_NULL;
    dst[0] = '"';
    dst[len + 1] = '"';
    if (memo != NULL) {
        SL_ASSERT(inner.len <= sizeof(memo->up)); /* sl_respid_seal refuses longer ones */
        memcpy(memo->up, inner.ptr, inner.len);
        memo->up_len = inner.len;
        memo->len = len + 2;
    }
    return sl_str_init(dst, len + 2);
}

enum { R_ID, R_MODEL, R_PREVIOUS, R_USAGE, R_OBJECT, R_COUNT };

/* Plans the edits of one response object (a slice of sp's source): its model becomes the alias,
 * its id and previous_response_id are sealed into ids[0] and ids[1] (each SL_RESPID_MAX_TEXT + 2
 * bytes that outlive the splice; memo, when not NULL, says what they hold), its usage is read
 * when want_usage. A JSON reply is validated; a stream event, only relayed, is skimmed (as chat
 * chunks are, sl_json_skim_object). Returns false when the model repeats more often than a
 * splice can rewrite, or obj is not an object. */
static bool plan_response(const struct sl_xlate_ctx *c, struct sl_str obj, struct sl_str alias_json,
                          bool want_usage, bool skim, char (*ids)[SL_RESPID_MAX_TEXT + 2],
                          struct seal_memo *memo, struct sl_splice *sp, struct sl_usage *usage,
                          bool *refused)
{
    static const struct sl_str keys[R_COUNT] = {SL_STR_INIT("id"), SL_STR_INIT("model"),
                                                SL_STR_INIT("previous_response_id"),
                                                SL_STR_INIT("usage"), SL_STR_INIT("object")};
    const struct sl_responses_state *st = c != NULL ? c->dialect_state : NULL;
    struct sl_json_member m[R_COUNT];
    *refused = false;
    if (skim && sl_json_skim_object(obj, keys, R_COUNT, m) != SL_OK)
        return false;
    /* A repeated model is rewritten by a walk that needs a document it has validated. */
    if ((!skim || m[R_MODEL].seen > 1) &&
        sl_json_scan_object(obj, SL_JSON_DEFAULT_MAX_DEPTH, keys, R_COUNT, m, NULL) != SL_OK)
        return false;
    if (want_usage && (st == NULL || !st->stored) && m[R_USAGE].type == SL_JSON_OBJECT)
        read_usage(m[R_USAGE].value, usage);
    /* A list (input_items) holds item ids, not a response's. */
    if (m[R_OBJECT].type == SL_JSON_STRING && sl_str_eq_lit(m[R_OBJECT].value, "\"list\""))
        return true;
    struct sl_str id = seal(st, &m[R_ID], ids != NULL ? ids[0] : NULL, memo);
    if (id.len != 0 && m[R_ID].seen == 1)
        sl_splice_replace(sp, m[R_ID].value, id);
    struct sl_str prev =
        seal(st, &m[R_PREVIOUS], ids != NULL ? ids[1] : NULL, memo != NULL ? memo + 1 : NULL);
    if (prev.len != 0 && m[R_PREVIOUS].seen == 1)
        sl_splice_replace(sp, m[R_PREVIOUS].value, prev);
    if (!sl_chunk_replace_models(obj, &m[R_MODEL], alias_json, sp))
        *refused = true;
    return !*refused;
}

static enum sl_rewrite passthrough_json(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_str alias_json, struct sl_splice *sp,
                                        struct sl_usage *usage)
{
    struct sl_responses_state *st = c != NULL ? c->dialect_state : NULL;
    bool refused;
    sl_splice_init(sp, body);
    /* The sealed ids must live until the reply is sent: they go in the request's state (there
       always is one on the routes; without one, as in the fuzz target, nothing is sealed). */
    if (plan_response(c, body, alias_json, true, false, st != NULL ? st->_sealed : NULL, NULL, sp,
                      usage, &refused))
        return SL_REWRITE_OK;
    return refused ? SL_REWRITE_REFUSE : SL_REWRITE_RAW;
}

/* ---- passthrough streams ---- */

/* The events whose data carries the response object ({"type", "response": {...}}). */
static bool carries_response(struct sl_str name)
{
    return sl_str_eq_lit(name, "response.created") || sl_str_eq_lit(name, "response.in_progress") ||
           sl_str_eq_lit(name, "response.completed") || sl_str_eq_lit(name, "response.failed") ||
           sl_str_eq_lit(name, "response.incomplete") || sl_str_eq_lit(name, "response.queued");
}

static bool is_final(struct sl_str name)
{
    return sl_str_eq_lit(name, "response.completed") || sl_str_eq_lit(name, "response.failed") ||
           sl_str_eq_lit(name, "response.incomplete");
}

/* The event's name, or for an unnamed event (a server that sends data lines only) its type. */
static struct sl_str event_type(const struct sl_sevent *ev)
{
    struct sl_json_member t;
    if (ev->name.len != 0)
        return ev->name;
    if (sl_json_find(ev->data, SL_STRLIT("type"), &t) != SL_OK || t.type != SL_JSON_STRING)
        return SL_STR_NULL;
    return sl_str_init(t.value.ptr + 1, t.value.len - 2);
}

struct rewrite {
    struct sl_filter super;
    const struct sl_xlate_ctx *c;
    struct sl_str alias_json;
    struct sl_usage *usage;
    struct sl_buf scratch; /* the rewritten data of the current event */
    char ids[2][SL_RESPID_MAX_TEXT + 2];
    struct seal_memo memo[2]; /* what ids hold */
};

static int refuse(struct sl_filter *next)
{
    static const char msg[] = "upstream event repeats \"model\" more than 16 times";
    struct sl_stream_error err = {502, "stream_aborted", NULL, "stream_aborted", SL_STRLIT(msg)};
    int rc = sl_filter_error(next, &err);
    return rc < 0 ? rc : SL_DONE;
}

static int rw_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct rewrite *r = (struct rewrite *)f;
    struct sl_json_member resp;
    struct sl_splice sp;
    bool refused;
    struct sl_str type = event_type(ev);
    if (!carries_response(type))
        return sl_filter_event(f->next, ev); /* deltas and item events: as the upstream sent */
    static const struct sl_str response = SL_STR_INIT("response");
    if (sl_json_skim_object(ev->data, &response, 1, &resp) != SL_OK || resp.type != SL_JSON_OBJECT)
        return sl_filter_event(f->next, ev);
    sl_splice_init(&sp, ev->data);
    if (!plan_response(r->c, resp.value, r->alias_json, is_final(type), true, r->ids, r->memo, &sp,
                       r->usage, &refused))
        return refused ? refuse(f->next) : sl_filter_event(f->next, ev);
    if (sp.n == 0)
        return sl_filter_event(f->next, ev);
    sl_buf_reset(&r->scratch);
    if (sl_splice_append(&sp, &r->scratch) != SL_OK)
        return SL_E2BIG;
    struct sl_sevent out = {.name = ev->name, .data = sl_buf_str(&r->scratch)};
    return sl_filter_event(f->next, &out);
}

static const struct sl_filter_ops rewrite_ops = {rw_event, sl_filter_pass_error,
                                                 sl_filter_pass_end};

static void rewrite_dispose(void *p)
{
    struct rewrite *r = p;
    sl_buf_dispose(&r->scratch);
}

static struct sl_filter *passthrough_stream(h2o_mem_pool_t *pool, const struct sl_xlate_ctx *c,
                                            struct sl_usage *usage, struct sl_filter *next)
{
    struct rewrite *r = h2o_mem_alloc_shared(pool, sizeof(*r), rewrite_dispose);
    *r = (struct rewrite){
        .super = {&rewrite_ops, next}, .c = c, .alias_json = c->alias_json, .usage = usage};
    sl_buf_init(&r->scratch, EVENT_MAX_BYTES);
    return &r->super;
}

/* ---- the encoder ---- */

struct encoder {
    struct sl_filter super;
    struct sl_buf *out;
    int64_t seq;  /* events written: the sequence number of an event the encoder adds */
    bool created; /* response.created went out (its id, created_at and model are kept) */
    bool closed;  /* a final event or an error went out: the stream is over */
    size_t id_len, model_len, created_at_len;
    char id[KEEP_MAX], model[KEEP_MAX], created_at[32]; /* JSON values, as sent */
};

static int put(struct encoder *e, struct sl_str s)
{
    return sl_buf_append(e->out, s.ptr, s.len);
}

/* A skimmed value is kept only when it is valid JSON: the closing event is Sluice's own. */
static void keep(char *dst, size_t cap, size_t *len, const struct sl_json_member *m)
{
    *len = 0;
    if (m->type != SL_JSON_ABSENT && m->value.len <= cap &&
        sl_json_validate(m->value, 1, NULL) == SL_OK) {
        memcpy(dst, m->value.ptr, m->value.len);
        *len = m->value.len;
    }
}

/* response.created: what a response.failed written later repeats about the response. The
 * event is relayed, not judged: skimmed as the passthrough stage reads it, and validated where
 * that stage validates (a repeated model), so what is kept is what the caller was sent: the
 * alias, never an upstream's model the stage left alone. */
static void note_created(struct encoder *e, struct sl_str data)
{
    static const struct sl_str response = SL_STR_INIT("response");
    static const struct sl_str keys[] = {SL_STR_INIT("id"), SL_STR_INIT("created_at"),
                                         SL_STR_INIT("model")};
    struct sl_json_member resp, m[3];
    e->created = true;
    if (sl_json_skim_object(data, &response, 1, &resp) != SL_OK || resp.type != SL_JSON_OBJECT ||
        sl_json_skim_object(resp.value, keys, 3, m) != SL_OK)
        return;
    if (m[2].seen > 1 &&
        sl_json_scan_object(resp.value, SL_JSON_DEFAULT_MAX_DEPTH, keys, 3, m, NULL) != SL_OK)
        return;
    if (m[0].type == SL_JSON_STRING)
        keep(e->id, sizeof(e->id), &e->id_len, &m[0]);
    if (m[1].type == SL_JSON_NUMBER)
        keep(e->created_at, sizeof(e->created_at), &e->created_at_len, &m[1]);
    if (m[2].type == SL_JSON_STRING)
        keep(e->model, sizeof(e->model), &e->model_len, &m[2]);
}

/* "data: " before every line of data (an upstream's JSON may span lines). */
static int put_data_lines(struct encoder *e, struct sl_str data)
{
    for (;;) {
        const char *nl = memchr(data.ptr, '\n', data.len);
        size_t n = nl != NULL ? (size_t)(nl - data.ptr) : data.len;
        if (put(e, SL_STRLIT("data: ")) != SL_OK || sl_buf_append(e->out, data.ptr, n) != SL_OK ||
            put(e, SL_STRLIT("\n")) != SL_OK)
            return SL_E2BIG;
        if (nl == NULL)
            return SL_OK;
        data = sl_str_init(nl + 1, data.len - n - 1);
    }
}

static int enc_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct encoder *e = (struct encoder *)f;
    size_t before = e->out->len;
    struct sl_str type = event_type(ev);
    if (sl_str_eq_lit(type, "response.created"))
        note_created(e, ev->data);
    else if (is_final(type) || sl_str_eq_lit(type, "error"))
        e->closed = true;
    e->seq++;
    if (ev->raw.len != 0)
        return put(e, ev->raw); /* as the upstream framed it */
    if (ev->name.len != 0 && (put(e, SL_STRLIT("event: ")) != SL_OK || put(e, ev->name) != SL_OK ||
                              put(e, SL_STRLIT("\n")) != SL_OK))
        goto too_big;
    if (put_data_lines(e, ev->data) != SL_OK || put(e, SL_STRLIT("\n")) != SL_OK)
        goto too_big;
    return SL_OK;
too_big:
    e->out->len = before;
    return SL_E2BIG;
}

/* The closing event of a stream that failed: response.failed once the response exists (as
 * OpenAI ends a response that fails mid-way), else the API's error event. */
static int closing_event(struct encoder *e, const char *code, struct sl_str message)
{
    struct sl_buf d;
    struct sl_json_w w;
    message.len = SL_MIN(message.len, (size_t)MESSAGE_MAX);
    sl_buf_init(&d, KEEP_MAX * 3 + MESSAGE_MAX * 6 + 512);
    sl_jw_init(&w, &d);
    sl_jw_obj(&w);
    sl_jw_kstr(&w, "type", e->created ? SL_STRLIT("response.failed") : SL_STRLIT("error"));
    sl_jw_kint(&w, "sequence_number", e->seq);
    if (!e->created) {
        sl_jw_kstr(&w, "code", sl_str_from_cstr(code));
        sl_jw_kstr(&w, "message", message);
        sl_jw_key(&w, SL_STRLIT("param"));
        sl_jw_null(&w);
    } else {
        sl_jw_key(&w, SL_STRLIT("response"));
        sl_jw_obj(&w);
        if (e->id_len != 0)
            sl_jw_kraw(&w, "id", sl_str_init(e->id, e->id_len));
        sl_jw_kstr(&w, "object", SL_STRLIT("response"));
        if (e->created_at_len != 0)
            sl_jw_kraw(&w, "created_at", sl_str_init(e->created_at, e->created_at_len));
        sl_jw_kstr(&w, "status", SL_STRLIT("failed"));
        sl_jw_key(&w, SL_STRLIT("error"));
        sl_jw_obj(&w);
        sl_jw_kstr(&w, "code", sl_str_from_cstr(code));
        sl_jw_kstr(&w, "message", message);
        sl_jw_obj_end(&w);
        sl_jw_key(&w, SL_STRLIT("incomplete_details"));
        sl_jw_null(&w);
        if (e->model_len != 0)
            sl_jw_kraw(&w, "model", sl_str_init(e->model, e->model_len));
        sl_jw_key(&w, SL_STRLIT("output"));
        sl_jw_arr(&w);
        sl_jw_arr_end(&w);
        sl_jw_key(&w, SL_STRLIT("usage"));
        sl_jw_null(&w);
        sl_jw_obj_end(&w);
    }
    sl_jw_obj_end(&w);
    int rc = sl_jw_finish(&w);
    struct sl_sevent ev = {.name = e->created ? SL_STRLIT("response.failed") : SL_STRLIT("error"),
                           .data = sl_buf_str(&d)};
    if (rc == SL_OK)
        rc = enc_event(&e->super, &ev);
    sl_buf_dispose(&d);
    e->closed = true;
    return rc;
}

static int enc_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct encoder *e = (struct encoder *)f;
    if (e->closed)
        return SL_OK;
    return closing_event(e, err->code != NULL ? err->code : err->type, err->message);
}

/* A stream that ended without its final event is incomplete: say so, as the caller's SDK would
 * otherwise wait for a response.completed that never comes or take a partial one for whole. */
static int enc_end(struct sl_filter *f)
{
    struct encoder *e = (struct encoder *)f;
    if (e->closed)
        return SL_OK;
    return closing_event(e, "stream_aborted",
                         e->created ? SL_STRLIT("the upstream stream ended before the response "
                                                "was complete")
                                    : SL_STRLIT("the upstream stream ended without a response"));
}

static const struct sl_filter_ops encoder_ops = {enc_event, enc_error, enc_end};

static struct sl_filter *encoder(h2o_mem_pool_t *pool, struct sl_buf *out)
{
    struct encoder *e = h2o_mem_alloc_pool(pool, sizeof(*e));
    e->super = (struct sl_filter){&encoder_ops, NULL};
    e->out = out;
    e->seq = 0;
    e->created = e->closed = false;
    e->id_len = e->model_len = e->created_at_len = 0;
    return &e->super;
}

const struct sl_dialect sl_dialect_responses = {
    .name = "responses",
    .inspect = inspect,
    .upstream_status = upstream_status,
    .error_body = error_body,
    .passthrough_request = passthrough_request,
    .encoder = encoder,
    .passthrough_stream = passthrough_stream,
    .passthrough_json = passthrough_json,
};
