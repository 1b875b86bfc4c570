/* The Anthropic Messages dialect (POST /v1/messages and /v1/messages/count_tokens): its body
 * checks, its error envelope {"type":"error","error":{"type","message"}} with the status-derived
 * types of the reference, its stream encoder (which owns message_stop) and the passthrough
 * rewrite of an Anthropic upstream's replies (model back to the alias; usage read). */
#include <string.h>

#include "sluice/base.h"
#include "sluice/chunk.h"
#include "sluice/dialect.h"
#include "sluice/json.h"

#define ERROR_MESSAGE_MAX 1024
#define ERROR_IDENT_MAX   128
#define EVENT_MAX_BYTES   (5u * 1024 * 1024)

/* Anthropic's error type for a status (its errors documentation; reference 4.4). */
static const char *type_for_status(int status)
{
    switch (status) {
    case 400:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 408:
    case 504:
        return "timeout_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    default:
        return "api_error";
    }
}

/* An upstream's own type is kept when it is a plain identifier (it comes from the wire). */
static bool is_ident(struct sl_str s)
{
    if (s.len == 0 || s.len >= ERROR_IDENT_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static void append_envelope(struct sl_buf *b, struct sl_str type, struct sl_str message)
{
    if (message.len > ERROR_MESSAGE_MAX)
        message.len = ERROR_MESSAGE_MAX;
    sl_buf_appendf(b, "{\"type\":\"error\",\"error\":{\"type\":");
    sl_json_escape(b, type);
    sl_buf_appendf(b, ",\"message\":");
    sl_json_escape(b, message);
    sl_buf_appendf(b, "}}");
}

static struct sl_str error_body(h2o_mem_pool_t *pool, int status, const char *type,
                                const char *code, struct sl_str message,
                                struct sl_str upstream_type)
{
    struct sl_buf b;
    SL_UNUSED(type);
    SL_UNUSED(code);
    sl_buf_init(&b, ERROR_MESSAGE_MAX * 6 + 256);
    append_envelope(
        &b, is_ident(upstream_type) ? upstream_type : sl_str_from_cstr(type_for_status(status)),
        message);
    h2o_iovec_t out = h2o_strdup(pool, b.ptr, b.len);
    sl_buf_dispose(&b);
    return sl_str_from_iov(out);
}

/* 4xx keep their status; so does 529 (overloaded), which Anthropic's SDKs retry on their own;
 * any other failure of the upstream is a 502. */
static int upstream_status(int status)
{
    if ((status >= 400 && status < 500) || status == 529)
        return status;
    return 502;
}

/* ---- inspection ---- */

enum { K_MODEL, K_STREAM, K_MESSAGES, K_COUNT };

static int fail(char *why, size_t whylen, const char *msg, const char *arg)
    __attribute__((format(printf, 3, 0)));

static int fail(char *why, size_t whylen, const char *msg, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(why, whylen, msg, arg);
#pragma GCC diagnostic pop
    return SL_EPARSE;
}

static int inspect(enum sl_op op, struct sl_str body, struct sl_call *call, char *why,
                   size_t whylen)
{
    static const struct sl_str keys[K_COUNT] = {SL_STR_INIT("model"), SL_STR_INIT("stream"),
                                                SL_STR_INIT("messages")};
    struct sl_json_member m[K_COUNT];
    struct sl_json_keyset seen;
    struct sl_json_key dup;
    struct sl_json_error jerr;
    *call = (struct sl_call){.body = body};
    if (body.len == 0)
        return fail(why, whylen, "%s", "the body is empty (expected a JSON object)");
    int rc =
        sl_json_scan_unique(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, K_COUNT, m, &jerr, &seen, &dup);
    if (rc == SL_EEXIST) {
        char name[64];
        struct sl_buf b;
        sl_buf_init(&b, sizeof(name) - 1);
        if (sl_json_unescape(sl_str_init(dup.raw.ptr - 1, dup.raw.len + 2), &b) != SL_OK)
            (void)sl_buf_append(&b, dup.raw.ptr, SL_MIN(dup.raw.len, sizeof(name) - 1));
        snprintf(name, sizeof(name), "%.*s", (int)b.len, b.ptr != NULL ? b.ptr : "");
        sl_buf_dispose(&b);
        return fail(why, whylen, "duplicate key \"%s\"", name);
    }
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
    if (m[K_MESSAGES].type == SL_JSON_ABSENT)
        return fail(why, whylen, "missing field \"%s\"", "messages");
    if (m[K_MESSAGES].type != SL_JSON_ARRAY || m[K_MESSAGES].count == 0)
        return fail(why, whylen, "\"%s\" must be a non-empty array", "messages");
    call->model = m[K_MODEL];
    call->stream = st == SL_JSON_TRUE && op == SL_OP_CHAT;
    return SL_OK;
}

/* Only "model" changes: Anthropic streams report usage on their own. */
static void passthrough_request(const struct sl_call *call, struct sl_str model_json, bool stream,
                                struct sl_splice *sp)
{
    SL_UNUSED(stream);
    sl_splice_init(sp, call->body);
    sl_splice_replace(sp, call->model.value, model_json);
}

/* ---- the encoder ---- */

struct encoder {
    struct sl_filter super;
    struct sl_buf *out;
    bool started; /* message_start went out */
    bool stopped; /* message_stop or an error went out: the stream is over */
};

static int put(struct encoder *e, struct sl_str s)
{
    return sl_buf_append(e->out, s.ptr, s.len);
}

static int enc_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct encoder *e = (struct encoder *)f;
    size_t before = e->out->len;
    if (sl_str_eq_lit(ev->name, "message_start"))
        e->started = true;
    else if (sl_str_eq_lit(ev->name, "message_stop") || sl_str_eq_lit(ev->name, "error"))
        e->stopped = true;
    if (ev->raw.len != 0)
        return put(e, ev->raw);
    /* Anthropic's data is one line of JSON; a translation never writes raw newlines, and an
     * upstream's multi-line data is JSON whitespace, so each line gets its own "data: ". */
    struct sl_str data = ev->data;
    if (ev->name.len != 0 && (put(e, SL_STRLIT("event: ")) != SL_OK || put(e, ev->name) != SL_OK ||
                              put(e, SL_STRLIT("\n")) != SL_OK))
        goto too_big;
    for (;;) {
        const char *nl = memchr(data.ptr, '\n', data.len);
        size_t n = nl != NULL ? (size_t)(nl - data.ptr) : data.len;
        if (put(e, SL_STRLIT("data: ")) != SL_OK || sl_buf_append(e->out, data.ptr, n) != SL_OK ||
            put(e, SL_STRLIT("\n")) != SL_OK)
            goto too_big;
        if (nl == NULL)
            break;
        data = sl_str_init(nl + 1, data.len - n - 1);
    }
    if (put(e, SL_STRLIT("\n")) != SL_OK)
        goto too_big;
    return SL_OK;
too_big:
    e->out->len = before;
    return SL_E2BIG;
}

/* The stream's error event, as Anthropic sends one mid-stream; nothing follows it. */
static int enc_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct encoder *e = (struct encoder *)f;
    struct sl_buf env;
    struct sl_str type = sl_str_from_cstr(err->type);
    sl_buf_init(&env, ERROR_MESSAGE_MAX * 6 + 256);
    append_envelope(&env,
                    strstr(err->type, "_error") != NULL && is_ident(type)
                        ? type
                        : sl_str_from_cstr(type_for_status(err->status)),
                    err->message);
    int rc = SL_OK;
    if (put(e, SL_STRLIT("event: error\ndata: ")) != SL_OK || put(e, sl_buf_str(&env)) != SL_OK ||
        put(e, SL_STRLIT("\n\n")) != SL_OK)
        rc = SL_E2BIG;
    sl_buf_dispose(&env);
    e->stopped = true;
    return rc;
}

/* A stream that ended cleanly without its message_stop gets one (the translations never send
 * it: it is the encoder's). */
static int enc_end(struct sl_filter *f)
{
    struct encoder *e = (struct encoder *)f;
    if (e->stopped || !e->started)
        return SL_OK;
    e->stopped = true;
    return put(e, SL_STRLIT("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

static const struct sl_filter_ops encoder_ops = {enc_event, enc_error, enc_end};

static struct sl_filter *encoder(h2o_mem_pool_t *pool, struct sl_buf *out)
{
    struct encoder *e = h2o_mem_alloc_pool(pool, sizeof(*e));
    *e = (struct encoder){.super = {&encoder_ops, NULL}, .out = out};
    return &e->super;
}

/* ---- passthrough: an Anthropic upstream's replies for an Anthropic caller ---- */

static int64_t count_of(const struct sl_json_member *m)
{
    uint64_t v;
    if (m->type == SL_JSON_NUMBER && sl_json_to_u64(m->value, &v) == SL_OK && v <= INT64_MAX)
        return (int64_t)v;
    return -1;
}

/* Anthropic's usage object: input_tokens excludes the tokens read from or written to the
 * prompt cache, which Sluice's usage counts as prompt tokens too. Fields absent from it (a
 * message_delta reports only some) leave what is known alone. */
static void read_usage(struct sl_str obj, struct sl_usage *u)
{
    static const struct sl_str keys[] = {SL_STR_INIT("input_tokens"), SL_STR_INIT("output_tokens"),
                                         SL_STR_INIT("cache_read_input_tokens"),
                                         SL_STR_INIT("cache_creation_input_tokens")};
    struct sl_json_member m[4];
    if (sl_json_scan_object(obj, SL_JSON_DEFAULT_MAX_DEPTH, keys, 4, m, NULL) != SL_OK)
        return;
    int64_t in = count_of(&m[0]), out = count_of(&m[1]), rd = count_of(&m[2]), wr = count_of(&m[3]);
    if (rd >= 0)
        u->cache_read_tokens = rd;
    if (wr >= 0)
        u->cache_creation_tokens = wr;
    if (in >= 0)
        u->input_tokens =
            in + SL_MAX(u->cache_read_tokens, 0) + SL_MAX(u->cache_creation_tokens, 0);
    if (out >= 0)
        u->output_tokens = out;
}

static enum sl_rewrite passthrough_json(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_str alias_json, struct sl_splice *sp,
                                        struct sl_usage *usage)
{
    static const struct sl_str keys[] = {SL_STR_INIT("model"), SL_STR_INIT("usage")};
    struct sl_json_member m[2];
    SL_UNUSED(c);
    sl_splice_init(sp, body);
    if (sl_json_scan_object(body, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) != SL_OK)
        return SL_REWRITE_RAW;
    if (m[1].type == SL_JSON_OBJECT)
        read_usage(m[1].value, usage);
    return sl_chunk_replace_models(body, &m[0], alias_json, sp) ? SL_REWRITE_OK : SL_REWRITE_REFUSE;
}

/* Events go on as the upstream framed them, except message_start, whose message carries the
 * upstream's model id; usage is read from message_start and message_delta. */
struct rewrite {
    struct sl_filter super;
    struct sl_str alias_json;
    struct sl_usage *usage;
    struct sl_buf scratch;
};

static int rw_message_start(struct rewrite *r, const struct sl_sevent *ev)
{
    static const struct sl_str top[] = {SL_STR_INIT("message")};
    static const struct sl_str inner[] = {SL_STR_INIT("model"), SL_STR_INIT("usage")};
    struct sl_json_member msg, m[2];
    struct sl_splice sp;
    sl_splice_init(&sp, ev->data);
    if (sl_json_scan_object(ev->data, SL_JSON_DEFAULT_MAX_DEPTH, top, 1, &msg, NULL) != SL_OK ||
        msg.type != SL_JSON_OBJECT ||
        sl_json_scan_object(msg.value, SL_JSON_DEFAULT_MAX_DEPTH, inner, 2, m, NULL) != SL_OK)
        return sl_filter_event(r->super.next, ev);
    if (m[1].type == SL_JSON_OBJECT)
        read_usage(m[1].value, r->usage);
    if (m[0].seen == 0)
        return sl_filter_event(r->super.next, ev);
    if (!sl_chunk_replace_models(msg.value, &m[0], r->alias_json, &sp)) {
        static const char text[] = "upstream event repeats \"model\" more than 16 times";
        struct sl_stream_error err = {502, "api_error", NULL, "stream_aborted", SL_STRLIT(text)};
        int rc = sl_filter_error(r->super.next, &err);
        return rc < 0 ? rc : SL_DONE;
    }
    sl_buf_reset(&r->scratch);
    if (sl_splice_append(&sp, &r->scratch) != SL_OK)
        return SL_E2BIG;
    struct sl_sevent out = {.name = ev->name, .data = sl_buf_str(&r->scratch)};
    return sl_filter_event(r->super.next, &out);
}

static int rw_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct rewrite *r = (struct rewrite *)f;
    if (sl_str_eq_lit(ev->name, "message_start"))
        return rw_message_start(r, ev);
    if (sl_str_eq_lit(ev->name, "message_delta")) {
        struct sl_json_member u;
        if (sl_json_find(ev->data, SL_STRLIT("usage"), &u) == SL_OK && u.type == SL_JSON_OBJECT)
            read_usage(u.value, r->usage);
    }
    return sl_filter_event(f->next, ev);
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
        .super = {&rewrite_ops, next}, .alias_json = c->alias_json, .usage = usage};
    sl_buf_init(&r->scratch, EVENT_MAX_BYTES);
    return &r->super;
}

const struct sl_dialect sl_dialect_anthropic = {
    .name = "anthropic",
    .inspect = inspect,
    .upstream_status = upstream_status,
    .error_body = error_body,
    .passthrough_request = passthrough_request,
    .encoder = encoder,
    .passthrough_stream = passthrough_stream,
    .passthrough_json = passthrough_json,
};
