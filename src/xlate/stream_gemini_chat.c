/* Stream stage: Gemini streamGenerateContent?alt=sse events -> OpenAI chat.completion.chunk
 * events (an OpenAI SDK caller streaming from a Gemini model). Each Gemini event is a partial
 * GenerateContentResponse: its parts become content, reasoning_content and tool_calls deltas of
 * the candidate's choice, its finishReason the choice's finish chunk, its usageMetadata (the
 * running total) the usage. Gemini streams have no terminator: the stream ends when the body
 * does, and the encoder after this stage writes [DONE]. Decisions in docs/translation.md. */
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/filter.h"
#include "xlate_internal.h"

/* Output of one event: a chunk is at most the input's text plus fixed parts. */
#define EVENT_OUT_CAP (16u << 20)
/* Candidates per request (candidateCount, from n): Gemini allows up to 8. */
#define MAX_CANDIDATES 8

enum g2c_state {
    G2C_OPEN = 0, /* events are translated */
    G2C_DONE,     /* ended: an error went on, or the end did; nothing more is sent */
};

struct choice {
    bool started;   /* the role chunk went out */
    bool finished;  /* the finish chunk went out */
    unsigned tools; /* tool calls sent for this choice */
};

struct g2c_stream {
    struct sl_filter super;
    struct sl_xlate_ctx c;
    struct sl_usage *usage;
    enum g2c_state state;
    bool named;              /* the id was taken from the first event */
    bool has_usage;          /* an event reported usageMetadata */
    struct sl_buf usage_raw; /* the last usageMetadata, read when the stream ends (each event
                                carries the running totals: reading every one costs for nothing) */
    bool usage_sent;         /* the usage-only chunk went out */
    size_t calls;            /* tool calls of every choice (for invented ids) */
    struct choice choices[MAX_CANDIDATES];
    char id[SL_XLATE_MAX_ID];
    char err_type[64];
    char why[200];
    struct sl_buf out;
    struct sl_buf head; /* see make_head */
    struct sl_json_w w;
    struct sl__xl x;
};

enum { E_CANDIDATES, E_PROMPT_FEEDBACK, E_USAGE, E_RESPONSE_ID, E_ERROR, E_N };
static const struct sl_str event_keys[E_N] = {
    [E_CANDIDATES] = SL_STR_INIT("candidates"), [E_PROMPT_FEEDBACK] = SL_STR_INIT("promptFeedback"),
    [E_USAGE] = SL_STR_INIT("usageMetadata"),   [E_RESPONSE_ID] = SL_STR_INIT("responseId"),
    [E_ERROR] = SL_STR_INIT("error"),
};

enum { C_CONTENT, C_FINISH, C_INDEX, C_N };
static const struct sl_str cand_keys[C_N] = {
    [C_CONTENT] = SL_STR_INIT("content"),
    [C_FINISH] = SL_STR_INIT("finishReason"),
    [C_INDEX] = SL_STR_INIT("index"),
};

enum { P_TEXT, P_THOUGHT, P_SIGNATURE, P_CALL, P_N };
static const struct sl_str part_keys[P_N] = {
    [P_TEXT] = SL_STR_INIT("text"),
    [P_THOUGHT] = SL_STR_INIT("thought"),
    [P_SIGNATURE] = SL_STR_INIT("thoughtSignature"),
    [P_CALL] = SL_STR_INIT("functionCall"),
};

/* The usage the last event reported, into *s->usage. Returns 0 or SL_EPARSE. */
static int read_usage(struct g2c_stream *s)
{
    if (s->usage_raw.len == 0)
        return SL_OK;
    struct sl_json_member v = {.type = SL_JSON_OBJECT, .value = sl_buf_str(&s->usage_raw)};
    int rc = sl__xl_gemini_usage(&s->x, "usageMetadata", &v, s->usage);
    sl_buf_reset(&s->usage_raw);
    return rc;
}

static int end_with(struct g2c_stream *s, const struct sl_stream_error *e)
{
    read_usage(s); /* as far as it is known; a malformed one changes nothing now */
    s->state = G2C_DONE;
    int rc = sl_filter_error(s->super.next, e);
    return rc < 0 ? rc : SL_DONE;
}

static int decode_error(struct g2c_stream *s)
{
    struct sl_stream_error e = {
        .status = 502,
        .type = "upstream_decode_error",
        .kind = "upstream_decode_error",
        .message = sl_str_from_cstr(s->why),
    };
    return end_with(s, &e);
}

static int bad(struct g2c_stream *s, const char *msg)
{
    sl__xl_fail(&s->x, "", "%s", msg);
    return decode_error(s);
}

/* {"id":...,"object":"chat.completion.chunk","created":...,"model":... */
static void chunk_start(struct g2c_stream *s)
{
    sl_buf_reset(&s->out);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
    sl_jw_kstr(&s->w, "id", sl_str_from_cstr(s->id));
    sl_jw_kstr(&s->w, "object", SL_STRLIT("chat.completion.chunk"));
    sl_jw_kint(&s->w, "created", s->c.created);
    sl_jw_kstr(&s->w, "model", s->c.alias);
}

/* The bytes every delta chunk starts with, up to its choice's index: made when the id is known,
 * so a chunk costs a copy and its delta. */
static void make_head(struct g2c_stream *s)
{
    chunk_start(s);
    sl_jw_key(&s->w, SL_STRLIT("choices"));
    sl_jw_arr(&s->w);
    sl_jw_obj(&s->w);
    sl_jw_key(&s->w, SL_STRLIT("index"));
    sl_buf_reset(&s->head);
    if (sl_buf_append_str(&s->head, sl_buf_str(&s->out)) != SL_OK)
        sl_buf_reset(&s->head); /* at the cap: chunk_end then fails the stream */
}

/* Opens a chunk for choice i whose delta object the caller fills. */
static void chunk_begin(struct g2c_stream *s, unsigned i)
{
    static const char tail[] = ",\"delta\":";
    char idx[2] = {(char)('0' + i), '\0'}; /* i < MAX_CANDIDATES: one digit */
    SL_ASSERT(i < 10);
    sl_buf_reset(&s->out);
    /* The head is capped far below out's cap. */
    SL_ASSERT(sl_buf_append_str(&s->out, sl_buf_str(&s->head)) == SL_OK);
    SL_ASSERT(sl_buf_append(&s->out, idx, 1) == SL_OK);
    SL_ASSERT(sl_buf_append(&s->out, tail, sizeof(tail) - 1) == SL_OK);
    sl_jw_init(&s->w, &s->out);
    sl_jw_obj(&s->w);
}

static int emit(struct g2c_stream *s)
{
    struct sl_sevent ev = {.name = SL_STR_NULL, .data = sl_buf_str(&s->out), .raw = SL_STR_NULL};
    return sl_filter_event(s->super.next, &ev);
}

static int chunk_end(struct g2c_stream *s, const char *finish)
{
    int rc;
    sl_jw_obj_end(&s->w);
    if ((rc = sl_jw_finish(&s->w)) != SL_OK || s->head.len == 0)
        return rc != SL_OK ? rc : SL_E2BIG;
    /* OpenAI's own chunks carry "usage": null until the last when usage was asked for. */
    if (sl_buf_append_str(&s->out, SL_STRLIT(",\"logprobs\":null,\"finish_reason\":")) != SL_OK ||
        (finish != NULL ? sl_buf_appendf(&s->out, "\"%s\"", finish)
                        : sl_buf_append_str(&s->out, SL_STRLIT("null"))) != SL_OK ||
        sl_buf_append_str(&s->out, s->c.include_usage ? SL_STRLIT("}],\"usage\":null}")
                                                      : SL_STRLIT("}]}")) != SL_OK)
        return SL_E2BIG;
    return emit(s);
}

/* The role chunk of choice i, once. */
static int start_choice(struct g2c_stream *s, unsigned i)
{
    if (s->choices[i].started)
        return SL_OK;
    s->choices[i].started = true;
    chunk_begin(s, i);
    sl_jw_kstr(&s->w, "role", SL_STRLIT("assistant"));
    sl_jw_kstr(&s->w, "content", SL_STRLIT(""));
    return chunk_end(s, NULL);
}

static int delta_text(struct g2c_stream *s, unsigned i, const char *key,
                      const struct sl_json_member *text)
{
    if (text->value.len == 2)
        return SL_OK;
    chunk_begin(s, i);
    sl_jw_kraw(&s->w, key, text->value);
    return chunk_end(s, NULL);
}

static int delta_call(struct g2c_stream *s, unsigned i, const struct sl_json_member *call,
                      const struct sl_json_member *signature)
{
    struct choice *ch = &s->choices[i];
    int rc;
    if (ch->tools == SL_XLATE_MAX_TOOL_CALLS)
        return bad(s, "more function calls than Sluice passes on in one message");
    chunk_begin(s, i);
    sl_jw_key(&s->w, SL_STRLIT("tool_calls"));
    sl_jw_arr(&s->w);
    /* Gemini sends a call whole: its arguments go in the call's first and only chunk. */
    if ((rc = sl__xl_gemini_call(&s->x, &s->w, "functionCall", call, signature, s->c.id_seed,
                                 s->calls, ch->tools)) != SL_OK)
        return decode_error(s);
    sl_jw_arr_end(&s->w);
    ch->tools++;
    s->calls++;
    return chunk_end(s, NULL);
}

static int part(struct g2c_stream *s, unsigned i, const struct sl_json_member *v)
{
    struct sl_json_member f[P_N];
    if (sl__xl_read(&s->x, "part", v, part_keys, P_N, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&f[P_CALL]))
        return delta_call(s, i, &f[P_CALL], &f[P_SIGNATURE]);
    if (!sl__xl_has(&f[P_TEXT]))
        return SL_OK; /* a signature alone, inline data, code: nothing OpenAI can carry */
    if (f[P_TEXT].type != SL_JSON_STRING)
        return bad(s, "part.text: expected a string");
    return delta_text(s, i, f[P_THOUGHT].type == SL_JSON_TRUE ? "reasoning_content" : "content",
                      &f[P_TEXT]);
}

static int parts(struct g2c_stream *s, unsigned i, const struct sl_json_member *content)
{
    static const struct sl_str keys[] = {SL_STR_INIT("parts"), SL_STR_INIT("role")};
    struct sl_json_member f[2], v;
    struct sl__xl_it it;
    int rc;
    if (!sl__xl_has(content))
        return SL_OK;
    if (sl__xl_read(&s->x, "content", content, keys, 2, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (!sl__xl_has(&f[0]))
        return SL_OK;
    if (f[0].type != SL_JSON_ARRAY)
        return bad(s, "content.parts: expected an array");
    sl__xl_iter(&it, &f[0]);
    while (sl__xl_next(&it, NULL, &v) == 1)
        if ((rc = part(s, i, &v)) != SL_OK)
            return rc;
    return SL_OK;
}

static int finish_choice(struct g2c_stream *s, unsigned i, const char *reason)
{
    struct choice *ch = &s->choices[i];
    if (ch->finished)
        return SL_OK;
    ch->finished = true;
    chunk_begin(s, i);
    return chunk_end(s, reason);
}

static int candidate(struct g2c_stream *s, const struct sl_json_member *cand, size_t pos)
{
    struct sl_json_member f[C_N];
    uint64_t index = pos;
    int rc;
    if (sl__xl_read(&s->x, "candidate", cand, cand_keys, C_N, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&f[C_INDEX]) && sl__xl_uint(&f[C_INDEX], &index) != SL_OK)
        return bad(s, "candidate.index: expected a candidate index");
    if (index >= MAX_CANDIDATES)
        return bad(s, "candidate.index: more candidates than Gemini makes");
    if (sl__xl_has(&f[C_FINISH]) && f[C_FINISH].type != SL_JSON_STRING)
        return bad(s, "candidate.finishReason: expected a string");
    unsigned i = (unsigned)index;
    if (s->choices[i].finished)
        return SL_OK; /* after its finish chunk a choice takes nothing more */
    if ((rc = start_choice(s, i)) != SL_OK || (rc = parts(s, i, &f[C_CONTENT])) != SL_OK)
        return rc;
    if (f[C_FINISH].type != SL_JSON_STRING)
        return SL_OK;
    return finish_choice(
        s, i, sl__xl_finish_of_gemini(sl__xl_inner(&f[C_FINISH]), s->choices[i].tools != 0));
}

/* A Google error object in the stream ({"error":{"code","message","status"}}): the stream ends
 * with it, in the caller's dialect. */
static int upstream_error(struct g2c_stream *s, const struct sl_json_member *err)
{
    static const struct sl_str keys[] = {SL_STR_INIT("code"), SL_STR_INIT("message"),
                                         SL_STR_INIT("status")};
    struct sl_json_member f[3];
    struct sl_str message = SL_STRLIT("upstream stream failed");
    uint64_t code = 502;
    if (sl__xl_read(&s->x, "error", err, keys, 3, f, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (f[0].type == SL_JSON_NUMBER &&
        (sl__xl_uint(&f[0], &code) != SL_OK || code < 400 || code > 599))
        code = 502;
    if (f[2].type != SL_JSON_STRING ||
        !sl__xl_copy(s->err_type, sizeof(s->err_type), sl__xl_inner(&f[2])))
        sl__xl_copy(s->err_type, sizeof(s->err_type), SL_STRLIT("UNKNOWN"));
    if (f[1].type == SL_JSON_STRING && sl__xl_text(&s->x, &f[1], &message) != SL_OK)
        message = SL_STRLIT("upstream stream failed (message too long)");
    struct sl_stream_error e = {
        .status = (int)code,
        .type = s->err_type,
        .kind = "upstream_error",
        .message = message,
    };
    return end_with(s, &e);
}

/* The id of every chunk: "chatcmpl-" + the first event's responseId, else the request's. */
static int name(struct g2c_stream *s, const struct sl_json_member *id)
{
    s->named = true;
    if (id->type == SL_JSON_STRING) {
        struct sl_str in = sl__xl_inner(id);
        if (memchr(in.ptr, '\\', in.len) != NULL || in.len + 10 > sizeof(s->id))
            return bad(s, "responseId: too long or escaped");
        snprintf(s->id, sizeof(s->id), "chatcmpl-%.*s", (int)in.len, in.ptr);
    }
    make_head(s);
    return SL_OK;
}

static int on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct g2c_stream *s = SL_CONTAINER_OF(f, struct g2c_stream, super);
    struct sl_json_member e[E_N], v;
    struct sl__xl_it it;
    size_t pos = 0;
    int rc;
    if (s->state == G2C_DONE)
        return SL_DONE;
    if (ev->data.len == 0)
        return SL_OK;
    if (sl__xl_read_doc(&s->x, ev->data, event_keys, E_N, e, NULL, NULL) != SL_OK)
        return decode_error(s);
    if (sl__xl_has(&e[E_ERROR]))
        return upstream_error(s, &e[E_ERROR]);
    if (!s->named && (rc = name(s, &e[E_RESPONSE_ID])) != SL_OK)
        return rc;
    if (sl__xl_has(&e[E_USAGE])) {
        if (e[E_USAGE].type != SL_JSON_OBJECT)
            return bad(s, "usageMetadata: expected an object");
        sl_buf_reset(&s->usage_raw);
        if (sl_buf_append_str(&s->usage_raw, e[E_USAGE].value) != SL_OK)
            return bad(s, "usageMetadata: larger than Sluice reads");
        s->has_usage = true;
    }
    bool none = e[E_CANDIDATES].type != SL_JSON_ARRAY || e[E_CANDIDATES].count == 0;
    if (sl__xl_has(&e[E_CANDIDATES]) && e[E_CANDIDATES].type != SL_JSON_ARRAY)
        return bad(s, "candidates: expected an array");
    if (none) {
        rc = sl__xl_gemini_blocked(&s->x, &e[E_PROMPT_FEEDBACK]);
        if (rc == SL_EPARSE)
            return decode_error(s);
        if (rc == SL_ERR) {
            struct sl_stream_error blocked = {.status = 400,
                                              .type = "invalid_request_error",
                                              .code = "prompt_blocked",
                                              .kind = "upstream_refused",
                                              .message = sl_str_from_cstr(s->why)};
            return end_with(s, &blocked);
        }
        return SL_OK; /* usage only */
    }
    sl__xl_iter(&it, &e[E_CANDIDATES]);
    for (; sl__xl_next(&it, NULL, &v) == 1; pos++)
        if ((rc = candidate(s, &v, pos)) != SL_OK)
            return rc;
    return SL_OK;
}

static int usage_chunk(struct g2c_stream *s)
{
    if (read_usage(s) != SL_OK)
        return decode_error(s);
    if (!s->c.include_usage || s->usage_sent)
        return SL_OK;
    s->usage_sent = true;
    chunk_start(s);
    sl_jw_key(&s->w, SL_STRLIT("choices"));
    sl_jw_arr(&s->w);
    sl_jw_arr_end(&s->w);
    struct sl_usage zero = {0, 0, 0, -1, 0};
    sl__xl_write_gemini_chat_usage(&s->w, s->has_usage ? s->usage : &zero);
    sl_jw_obj_end(&s->w);
    int rc = sl_jw_finish(&s->w);
    return rc != SL_OK ? rc : emit(s);
}

static int on_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct g2c_stream *s = SL_CONTAINER_OF(f, struct g2c_stream, super);
    if (s->state == G2C_DONE)
        return SL_OK; /* this stage already ended the stream */
    read_usage(s);
    s->state = G2C_DONE;
    return sl_filter_pass_error(f, err);
}

/* The body ended cleanly: choices that never said why they stopped stop now, and a stream that
 * said nothing at all is an empty reply. */
static int on_end(struct sl_filter *f)
{
    struct g2c_stream *s = SL_CONTAINER_OF(f, struct g2c_stream, super);
    bool any = false;
    int rc;
    if (s->state == G2C_DONE)
        return SL_OK;
    if (!s->named)
        make_head(s);
    for (unsigned i = 0; i < MAX_CANDIDATES; i++)
        any = any || s->choices[i].started;
    if (!any && (rc = start_choice(s, 0)) != SL_OK)
        return rc;
    for (unsigned i = 0; i < MAX_CANDIDATES; i++)
        if (s->choices[i].started && (rc = finish_choice(s, i, "stop")) != SL_OK)
            return rc;
    if ((rc = usage_chunk(s)) < 0)
        return rc;
    if (s->state == G2C_DONE)
        return SL_OK; /* the usage was malformed: the stream ended with that */
    s->state = G2C_DONE;
    return sl_filter_pass_end(f);
}

static const struct sl_filter_ops g2c_ops = {
    .on_event = on_event,
    .on_error = on_error,
    .on_end = on_end,
};

static void dispose(void *p)
{
    struct g2c_stream *s = p;
    sl_buf_dispose(&s->out);
    sl_buf_dispose(&s->head);
    sl_buf_dispose(&s->usage_raw);
    sl__xl_dispose(&s->x);
}

struct sl_filter *sl__xlate_gemini_to_chat_stream(h2o_mem_pool_t *pool,
                                                  const struct sl_xlate_ctx *c,
                                                  struct sl_usage *usage, struct sl_filter *next)
{
    struct g2c_stream *s = h2o_mem_alloc_shared(pool, sizeof(*s), dispose);
    memset(s, 0, sizeof(*s));
    s->super = (struct sl_filter){.ops = &g2c_ops, .next = next};
    s->c = *c;
    s->usage = usage;
    *usage = SL_USAGE_UNKNOWN;
    s->state = G2C_OPEN;
    /* Until an event names the response, its id comes from the request. */
    snprintf(s->id, sizeof(s->id), "chatcmpl-%.*s", (int)SL_MIN(c->id_seed.len, (size_t)200),
             c->id_seed.ptr);
    sl_buf_init(&s->out, EVENT_OUT_CAP);
    sl_buf_init(&s->head, 64 << 10);
    sl_buf_init(&s->usage_raw, 4096);
    sl__xl_init(&s->x, s->why, sizeof(s->why), EVENT_OUT_CAP);
    return &s->super;
}
