/* The OpenAI dialect (chat completions, legacy completions, embeddings): its body checks
 * (body.c), its error envelope, its stream encoder (which owns "data: [DONE]") and the
 * passthrough rewrite of OpenAI-wire replies (chunk.c). */
#include <string.h>

#include "sluice/base.h"
#include "sluice/body.h"
#include "sluice/chunk.h"
#include "sluice/dialect.h"
#include "sluice/json.h"

#define ERROR_MESSAGE_MAX 1024
/* type and code are short identifiers; an upstream's error.code is cut to this by its reader. */
#define ERROR_IDENT_MAX 128
/* One rewritten event (events are capped at 4 MiB by the framing; the rewrite adds the alias
 * at most SL_SPLICE_MAX_EDITS times). */
#define EVENT_MAX_BYTES (5u * 1024 * 1024)

struct sl_str sl_openai_error_body(h2o_mem_pool_t *pool, const char *type, const char *code,
                                   struct sl_str message)
{
    struct sl_buf b;
    if (code == NULL)
        code = type;
    /* The message is capped; the envelope around it is small and fixed. */
    SL_ASSERT(strlen(type) < ERROR_IDENT_MAX && strlen(code) < ERROR_IDENT_MAX);
    /* Every byte escapes to at most 6 ("\u00XX"); the fixed text around them is 40 bytes. */
    sl_buf_init(&b, (ERROR_MESSAGE_MAX + 2 * ERROR_IDENT_MAX) * 6 + 64);
    if (message.len > ERROR_MESSAGE_MAX)
        message.len = ERROR_MESSAGE_MAX;
    sl_buf_appendf(&b, "{\"error\":{\"message\":");
    sl_json_escape(&b, message);
    /* type and code are escaped too: an upstream 4xx's error.code reaches here, and an
     * unescaped '"' in it would let the upstream forge the rest of the envelope. */
    sl_buf_appendf(&b, ",\"type\":");
    sl_json_escape(&b, sl_str_from_cstr(type));
    sl_buf_appendf(&b, ",\"code\":");
    sl_json_escape(&b, sl_str_from_cstr(code));
    sl_buf_appendf(&b, "}}");
    h2o_iovec_t out = h2o_strdup(pool, b.ptr, b.len);
    sl_buf_dispose(&b);
    return sl_str_from_iov(out);
}

static struct sl_str error_body(h2o_mem_pool_t *pool, int status, const char *type,
                                const char *code, struct sl_str message,
                                struct sl_str upstream_type)
{
    SL_UNUSED(status);
    SL_UNUSED(upstream_type); /* the reference shows upstream 4xx as type upstream_error */
    return sl_openai_error_body(pool, type, code, message);
}

/* 4xx keep their status (the caller's mistake, or a limit); 5xx and anything else become 502:
 * the upstream failed, not the gateway. */
static int upstream_status(int status)
{
    return status >= 400 && status < 500 ? status : 502;
}

static int inspect(enum sl_op op, struct sl_str body, struct sl_call *call, char *why,
                   size_t whylen)
{
    return sl_body_inspect(body, op, call, why, whylen);
}

/* ---- the encoder ---- */

struct encoder {
    struct sl_filter super;
    struct sl_buf *out;
    bool done_sent;
};

static int put(struct encoder *e, struct sl_str s)
{
    return sl_buf_append(e->out, s.ptr, s.len);
}

/* "data: " before every line of data (JSON may be split across lines at any whitespace). */
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

/* The usual event, unnamed with one line of data, in one copy. */
static int put_simple(struct encoder *e, struct sl_str data)
{
    char *w = sl_buf_reserve(e->out, data.len + 8);
    if (w == NULL)
        return SL_E2BIG;
    memcpy(w, "data: ", 6);
    memcpy(w + 6, data.ptr, data.len);
    memcpy(w + 6 + data.len, "\n\n", 2);
    sl_buf_commit(e->out, data.len + 8);
    return SL_OK;
}

static int enc_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct encoder *e = (struct encoder *)f;
    size_t before = e->out->len;
    if (sl_str_eq_lit(ev->data, "[DONE]"))
        e->done_sent = true;
    if (ev->raw.len != 0)
        return put(e, ev->raw); /* as the upstream framed it */
    if (ev->name.len == 0 && memchr(ev->data.ptr, '\n', ev->data.len) == NULL)
        return put_simple(e, ev->data);
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

/* After the 200 an error can only travel in-band: an "event: error" frame with the envelope,
 * and no [DONE], so a client that checks for [DONE] knows the stream is incomplete. */
static int enc_error(struct sl_filter *f, const struct sl_stream_error *err)
{
    struct encoder *e = (struct encoder *)f;
    char msg[ERROR_MESSAGE_MAX];
    struct sl_buf env;
    size_t n = SL_MIN(err->message.len, sizeof(msg));
    memcpy(msg, err->message.ptr, n);
    sl_buf_init(&env, (ERROR_MESSAGE_MAX + 2 * ERROR_IDENT_MAX) * 6 + 64);
    sl_buf_appendf(&env, "{\"error\":{\"message\":");
    sl_json_escape(&env, sl_str_init(msg, n));
    sl_buf_appendf(&env, ",\"type\":");
    sl_json_escape(&env, sl_str_from_cstr(err->type));
    sl_buf_appendf(&env, ",\"code\":");
    sl_json_escape(&env, sl_str_from_cstr(err->code != NULL ? err->code : err->type));
    sl_buf_appendf(&env, "}}");
    int rc = SL_OK;
    if (put(e, SL_STRLIT("event: error\ndata: ")) != SL_OK || put(e, sl_buf_str(&env)) != SL_OK ||
        put(e, SL_STRLIT("\n\n")) != SL_OK)
        rc = SL_E2BIG;
    sl_buf_dispose(&env);
    e->done_sent = true; /* nothing more, [DONE] least of all */
    return rc;
}

static int enc_end(struct sl_filter *f)
{
    struct encoder *e = (struct encoder *)f;
    if (e->done_sent)
        return SL_OK;
    e->done_sent = true;
    return put(e, SL_STRLIT("data: [DONE]\n\n"));
}

static const struct sl_filter_ops encoder_ops = {enc_event, enc_error, enc_end};

static struct sl_filter *encoder(h2o_mem_pool_t *pool, struct sl_buf *out)
{
    struct encoder *e = h2o_mem_alloc_pool(pool, sizeof(*e));
    *e = (struct encoder){.super = {&encoder_ops, NULL}, .out = out};
    return &e->super;
}

/* ---- passthrough: an OpenAI upstream's replies for an OpenAI caller ---- */

static void take_usage(struct sl_usage *u, const struct sl_chunk_usage *cu)
{
    if (cu->prompt_tokens >= 0)
        u->input_tokens = cu->prompt_tokens;
    if (cu->completion_tokens >= 0)
        u->output_tokens = cu->completion_tokens;
}

static enum sl_rewrite passthrough_json(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_str alias_json, struct sl_splice *sp,
                                        struct sl_usage *usage)
{
    struct sl_chunk_usage cu;
    SL_UNUSED(c);
    enum sl_chunk_action a = sl_chunk_plan(body, alias_json, true, sp, &cu);
    take_usage(usage, &cu);
    switch (a) {
    case SL_CHUNK_RAW:
        return SL_REWRITE_RAW;
    case SL_CHUNK_DROP:
        return SL_REWRITE_DROP;
    case SL_CHUNK_REFUSE:
        return SL_REWRITE_REFUSE;
    case SL_CHUNK_REWRITE:
        break;
    }
    return SL_REWRITE_OK;
}

/* Every event: each top-level model becomes the alias; usage is read; the usage-only chunk and
 * "usage": null are dropped for callers who did not ask for usage (Sluice forced it on
 * upstream to always know the tokens). */
struct rewrite {
    struct sl_filter super;
    struct sl_str alias_json;
    bool include_usage;
    struct sl_usage *usage;
    struct sl_buf scratch; /* the rewritten data of the current event */
};

static int rw_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct rewrite *r = (struct rewrite *)f;
    struct sl_splice sp;
    struct sl_chunk_usage cu;
    if (sl_str_eq_lit(ev->data, "[DONE]"))
        return sl_filter_event(f->next, ev);
    bool keep_usage = r->include_usage || ev->name.len != 0;
    enum sl_chunk_action a = sl_chunk_plan_event(ev->data, r->alias_json, keep_usage, &sp, &cu);
    take_usage(r->usage, &cu);
    switch (a) {
    case SL_CHUNK_RAW:
        return sl_filter_event(f->next, ev); /* not ours to judge: forward as received */
    case SL_CHUNK_DROP:
        return SL_OK;
    case SL_CHUNK_REFUSE: {
        static const char msg[] = "upstream event repeats \"model\" more than 16 times";
        struct sl_stream_error err = {502, "stream_aborted", NULL, "stream_aborted",
                                      SL_STRLIT(msg)};
        int rc = sl_filter_error(f->next, &err);
        return rc < 0 ? rc : SL_DONE;
    }
    case SL_CHUNK_REWRITE:
        break;
    }
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

/* The scratch buffer lives as long as the request: its pool frees it, however the stream ends. */
static struct sl_filter *passthrough_stream(h2o_mem_pool_t *pool, const struct sl_xlate_ctx *c,
                                            struct sl_usage *usage, struct sl_filter *next)
{
    struct rewrite *r = h2o_mem_alloc_shared(pool, sizeof(*r), rewrite_dispose);
    *r = (struct rewrite){.super = {&rewrite_ops, next},
                          .alias_json = c->alias_json,
                          .include_usage = c->include_usage,
                          .usage = usage};
    sl_buf_init(&r->scratch, EVENT_MAX_BYTES);
    return &r->super;
}

const struct sl_dialect sl_dialect_openai = {
    .name = "openai",
    .inspect = inspect,
    .upstream_status = upstream_status,
    .error_body = error_body,
    .passthrough_request = sl_body_rewrite,
    .encoder = encoder,
    .passthrough_stream = passthrough_stream,
    .passthrough_json = passthrough_json,
};
