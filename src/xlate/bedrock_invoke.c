/* Anthropic Messages callers reaching a Claude model on Bedrock, through InvokeModel and
 * InvokeModelWithResponseStream: Claude's own API, so every Anthropic field survives.
 *
 * - Request: the caller's body without "model" (the URL names the model) and "stream" (the
 *   operation says it), with "anthropic_version": "bedrock-2023-05-31" and the caller's
 *   anthropic-beta header as "anthropic_beta": [...] unless the body has its own (what
 *   Anthropic's Bedrock SDK does).
 * - Response: Anthropic's message JSON, passed on as Anthropic upstreams' are (model back to the
 *   alias, usage read).
 * - Stream: AWS event stream messages "chunk" whose payload {"bytes": base64} holds one
 *   Anthropic event each: decoded, named by its "type" and handed to Anthropic's passthrough
 *   stage (but message_stop, which the encoder writes, and ping); Bedrock's exceptions end the
 *   stream with the caller's error. */
#include <stdlib.h>
#include <string.h>

#include "bedrock_internal.h"
#include "sluice/base.h"
#include "sluice/dialect.h"
#include "sluice/splice.h"

#define BEDROCK_VERSION "bedrock-2023-05-31"
/* One decoded event (the relay caps the encoded message at 4/3 of this). */
#define EVENT_MAX_BYTES (5u * 1024 * 1024)

/* Appends s unless an earlier append failed: the first failure sticks in *rc. */
static void put(struct sl_buf *out, struct sl_str s, int *rc)
{
    if (*rc == SL_OK)
        *rc = sl_buf_append_str(out, s);
}

/* anthropic-beta: "a, b" -> ,"anthropic_beta":["a","b"] (empty items dropped). */
static void write_betas(struct sl_buf *out, struct sl_str header, int *rc)
{
    bool first = true;
    put(out, SL_STRLIT(",\"anthropic_beta\":["), rc);
    while (header.len != 0) {
        const char *comma = memchr(header.ptr, ',', header.len);
        size_t n = comma != NULL ? (size_t)(comma - header.ptr) : header.len;
        struct sl_str item = sl_str_trim(sl_str_init(header.ptr, n));
        if (item.len != 0) {
            if (!first)
                put(out, SL_STRLIT(","), rc);
            if (*rc == SL_OK)
                *rc = sl_json_escape(out, item);
            first = false;
        }
        header = comma != NULL ? sl_str_init(comma + 1, header.len - n - 1) : SL_STR_NULL;
    }
    put(out, SL_STRLIT("]"), rc);
}

enum { R_MODEL, R_STREAM, R_VERSION, R_BETAS, R_N };
static const struct sl_str request_keys[R_N] = {
    [R_MODEL] = SL_STR_INIT("model"),
    [R_STREAM] = SL_STR_INIT("stream"),
    [R_VERSION] = SL_STR_INIT("anthropic_version"),
    [R_BETAS] = SL_STR_INIT("anthropic_beta"),
};

struct copy {
    struct sl_buf *out;
    bool first;
    int rc;
};

static void member(struct copy *k, struct sl_str m)
{
    if (!k->first)
        put(k->out, SL_STRLIT(","), &k->rc);
    put(k->out, m, &k->rc);
    k->first = false;
}

/* Every member the translation does not take out goes on as the caller wrote it. */
static int copy_other(void *ud, struct sl_json_key key, const struct sl_json_member *val)
{
    SL_UNUSED(key);
    member(ud, val->member);
    return SL_OK;
}

int sl__xlate_anthropic_to_bedrock_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, char *why, size_t whylen)
{
    /* Heap, not stack: the key set that refuses repeated names is large. */
    struct sl__xl *x = sl_xmalloc(sizeof(*x));
    struct sl_json_member m[R_N];
    struct copy k = {.out = out, .first = true, .rc = SL_OK};
    size_t mark = out->len;
    sl__xl_init(x, why, whylen, 0);
    put(out, SL_STRLIT("{"), &k.rc);
    int rc = sl__xl_read_doc(x, body, request_keys, R_N, m, copy_other, &k);
    if (rc == SL_OK) {
        if (sl__xl_has(&m[R_VERSION]))
            member(&k, m[R_VERSION].member); /* the caller's own, as Anthropic's SDK keeps it */
        else
            member(&k, SL_STRLIT("\"anthropic_version\":\"" BEDROCK_VERSION "\""));
        if (sl__xl_has(&m[R_BETAS]))
            member(&k, m[R_BETAS].member);
        else if (c->anthropic_beta.len != 0)
            write_betas(out, c->anthropic_beta, &k.rc);
        put(out, SL_STRLIT("}"), &k.rc);
        rc = k.rc;
    }
    if (rc == SL_E2BIG)
        sl__xl_fail(x, "", "the translated request exceeds the size limit");
    if (rc != SL_OK)
        out->len = mark; /* nothing half-written stays behind */
    sl__xl_dispose(x);
    free(x);
    return rc;
}

/* The caller's alias as a JSON string literal: the pipeline passes the one the caller sent;
 * otherwise (tests, fuzzing) it is made from the plain alias into b. */
static struct sl_str alias_json(const struct sl_xlate_ctx *c, struct sl_buf *b)
{
    if (c->alias_json.len != 0)
        return c->alias_json;
    return sl_json_escape(b, c->alias) == SL_OK ? sl_buf_str(b) : SL_STRLIT("\"\"");
}

int sl__xlate_bedrock_to_anthropic_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                            struct sl_buf *out, struct sl_usage *usage, char *why,
                                            size_t whylen)
{
    struct sl_splice sp;
    struct sl__xl x;
    struct sl_buf alias;
    int rc = SL_OK;
    sl__xl_init(&x, why, whylen, 0);
    sl_buf_init(&alias, 6 * c->alias.len + 2);
    *usage = SL_USAGE_UNKNOWN;
    switch (sl_dialect_anthropic.passthrough_json(c, body, alias_json(c, &alias), &sp, usage)) {
    case SL_REWRITE_OK:
        rc = sl_splice_append(&sp, out) == SL_OK ? SL_OK : SL_E2BIG;
        if (rc != SL_OK)
            sl__xl_fail(&x, "", "the response exceeds the size limit");
        break;
    case SL_REWRITE_REFUSE:
        rc = sl__xl_fail(&x, "", "the reply repeats \"model\" more than %d times",
                         SL_SPLICE_MAX_EDITS);
        break;
    default:
        rc = sl__xl_fail(&x, "", "expected Anthropic's message, a JSON object");
        break;
    }
    sl_buf_dispose(&alias);
    sl__xl_dispose(&x);
    return rc;
}

/* ---- the stream ---- */

struct chunks {
    struct sl_filter super;
    struct sl__xl x;
    struct sl_buf event; /* the decoded event */
    char code[64];
    char why[200];
    bool done;
};

static int fail_stream(struct chunks *s, const char *msg)
{
    sl__xl_fail(&s->x, "", "%s", msg);
    struct sl_stream_error e = {.status = 502,
                                .type = "upstream_decode_error",
                                .kind = "upstream_decode_error",
                                .message = sl_str_from_cstr(s->why)};
    s->done = true;
    int rc = sl_filter_error(s->super.next, &e);
    return rc < 0 ? rc : SL_DONE;
}

static int chunk_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    static const struct sl_str keys[] = {SL_STR_INIT("bytes")};
    static const struct sl_str type_key[] = {SL_STR_INIT("type")};
    struct chunks *s = SL_CONTAINER_OF(f, struct chunks, super);
    struct sl_stream_error err;
    struct sl_json_member m[1], t[1];
    if (s->done)
        return SL_DONE;
    if (sl__xl_bedrock_exception(&s->x, ev->name, ev->data, &err, s->code, sizeof(s->code))) {
        s->done = true;
        int rc = sl_filter_error(f->next, &err);
        return rc < 0 ? rc : SL_DONE;
    }
    if (!sl_str_eq_lit(ev->name, "chunk"))
        return SL_OK; /* event kinds added after this was written */
    if (sl_json_scan_object(ev->data, SL_XLATE_MAX_DEPTH, keys, 1, m, NULL) != SL_OK ||
        m[0].type != SL_JSON_STRING)
        return fail_stream(s, "chunk: expected {\"bytes\": base64}");
    sl_buf_reset(&s->event);
    int rc = sl__xl_base64_decode(sl__xl_inner(&m[0]), &s->event);
    if (rc == SL_E2BIG)
        return fail_stream(s, "chunk: the decoded event is larger than 5 MiB");
    if (rc != SL_OK)
        return fail_stream(s, "chunk: bytes is not base64");
    struct sl_str data = sl_buf_str(&s->event);
    if (sl_json_scan_object(data, SL_XLATE_MAX_DEPTH, type_key, 1, t, NULL) != SL_OK ||
        t[0].type != SL_JSON_STRING || memchr(t[0].value.ptr, '\\', t[0].value.len) != NULL)
        return fail_stream(s, "chunk: the decoded event is not an Anthropic event");
    struct sl_str type = sl__xl_inner(&t[0]);
    /* message_stop is the encoder's to write (and Bedrock's carries its invocation metrics);
       ping is a keep-alive, and the relay sends its own. */
    if (sl_str_eq_lit(type, "message_stop") || sl_str_eq_lit(type, "ping"))
        return SL_OK;
    struct sl_sevent out = {.name = type, .data = data, .raw = SL_STR_NULL};
    rc = sl_filter_event(f->next, &out);
    if (rc == SL_DONE)
        s->done = true;
    return rc;
}

static int chunk_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    struct chunks *s = SL_CONTAINER_OF(f, struct chunks, super);
    if (s->done)
        return SL_OK;
    s->done = true;
    return sl_filter_pass_error(f, e);
}

static int chunk_end(struct sl_filter *f)
{
    struct chunks *s = SL_CONTAINER_OF(f, struct chunks, super);
    if (s->done)
        return SL_OK;
    s->done = true;
    return sl_filter_pass_end(f);
}

static const struct sl_filter_ops chunk_ops = {chunk_event, chunk_error, chunk_end};

static void chunks_dispose(void *p)
{
    struct chunks *s = p;
    sl_buf_dispose(&s->event);
    sl__xl_dispose(&s->x);
}

struct sl_filter *sl__xlate_bedrock_to_anthropic_stream(h2o_mem_pool_t *pool,
                                                        const struct sl_xlate_ctx *c,
                                                        struct sl_usage *usage,
                                                        struct sl_filter *next)
{
    struct chunks *s = h2o_mem_alloc_shared(pool, sizeof(*s), chunks_dispose);
    struct sl_xlate_ctx pc = *c;
    struct sl_buf alias;
    sl_buf_init(&alias, 6 * c->alias.len + 2);
    pc.alias_json = alias_json(c, &alias);
    pc.alias_json = sl_str_from_iov(h2o_strdup(pool, pc.alias_json.ptr, pc.alias_json.len));
    sl_buf_dispose(&alias);
    s->super = (struct sl_filter){
        .ops = &chunk_ops, .next = sl_dialect_anthropic.passthrough_stream(pool, &pc, usage, next)};
    s->done = false;
    s->code[0] = '\0';
    sl_buf_init(&s->event, EVENT_MAX_BYTES);
    sl__xl_init(&s->x, s->why, sizeof(s->why), 64 << 10);
    *usage = SL_USAGE_UNKNOWN;
    return &s->super;
}
