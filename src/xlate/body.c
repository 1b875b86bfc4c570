#include <stdio.h>

#include "sluice/base.h"
#include "sluice/body.h"

enum { K_MODEL, K_STREAM, K_STREAM_OPTIONS, K_MESSAGES, K_PROMPT, K_INPUT, K_COUNT };

static const struct sl_str keys[K_COUNT] = {
    SL_STR_INIT("model"),    SL_STR_INIT("stream"), SL_STR_INIT("stream_options"),
    SL_STR_INIT("messages"), SL_STR_INIT("prompt"), SL_STR_INIT("input"),
};

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

static int check_route_field(enum sl_op op, const struct sl_json_member *m, char *why,
                             size_t whylen)
{
    switch (op) {
    case SL_OP_CHAT:
        if (m[K_MESSAGES].type == SL_JSON_ABSENT)
            return fail(why, whylen, "missing field \"%s\"", "messages");
        if (m[K_MESSAGES].type != SL_JSON_ARRAY || m[K_MESSAGES].count == 0)
            return fail(why, whylen, "\"%s\" must be a non-empty array", "messages");
        break;
    case SL_OP_COMPLETIONS:
        if (m[K_PROMPT].type == SL_JSON_ABSENT)
            return fail(why, whylen, "missing field \"%s\"", "prompt");
        break;
    case SL_OP_EMBEDDINGS:
        if (m[K_INPUT].type == SL_JSON_ABSENT)
            return fail(why, whylen, "missing field \"%s\"", "input");
        break;
    case SL_OP_COUNT_TOKENS:
    case SL_OP_RESPONSE_STATE:
        SL_ASSERT(!"not an OpenAI chat, completions or embeddings route");
        break;
    }
    return SL_OK;
}

/* why = `duplicate key "<name>"`, the name decoded and cut to fit. */
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

/* Scans one object whose member names must all differ (an upstream that keeps the first of two
 * "model" members would otherwise serve what the caller may not use), recording the members
 * named in names. */
static int scan_unique(struct sl_str obj, const struct sl_str *names, size_t n,
                       struct sl_json_member *out, char *why, size_t whylen)
{
    struct sl_json_keyset seen;
    struct sl_json_key dup;
    struct sl_json_error jerr;
    int rc = sl_json_scan_unique(obj, SL_JSON_DEFAULT_MAX_DEPTH, names, n, out, &jerr, &seen, &dup);
    if (rc == SL_EEXIST)
        return fail_duplicate(dup, why, whylen);
    if (rc == SL_E2BIG)
        return fail(why, whylen, "an object has more than %s members", "1024");
    if (rc != SL_OK) {
        snprintf(why, whylen, "%s at byte %zu", jerr.why, jerr.at);
        return SL_EPARSE;
    }
    return SL_OK;
}

int sl_body_inspect(struct sl_str body, enum sl_op op, struct sl_call *out, char *why,
                    size_t whylen)
{
    struct sl_json_member m[K_COUNT], iu;
    static const struct sl_str so_keys[] = {SL_STR_INIT("include_usage")};
    *out = (struct sl_call){.body = body};
    if (body.len == 0)
        return fail(why, whylen, "%s", "the body is empty (expected a JSON object)");
    if (scan_unique(body, keys, K_COUNT, m, why, whylen) != SL_OK)
        return SL_EPARSE;
    if (m[K_MODEL].type == SL_JSON_ABSENT)
        return fail(why, whylen, "missing field \"%s\"", "model");
    if (m[K_MODEL].type != SL_JSON_STRING || m[K_MODEL].value.len <= 2)
        return fail(why, whylen, "\"%s\" must be a non-empty string", "model");
    enum sl_json_type st = m[K_STREAM].type;
    if (st != SL_JSON_ABSENT && st != SL_JSON_TRUE && st != SL_JSON_FALSE && st != SL_JSON_NULL)
        return fail(why, whylen, "\"%s\" must be a boolean", "stream");
    if (m[K_STREAM_OPTIONS].type == SL_JSON_OBJECT &&
        scan_unique(m[K_STREAM_OPTIONS].value, so_keys, 1, &iu, why, whylen) != SL_OK)
        return SL_EPARSE;
    if (check_route_field(op, m, why, whylen) != SL_OK)
        return SL_EPARSE;
    out->model = m[K_MODEL];
    out->stream_options = m[K_STREAM_OPTIONS];
    out->stream = st == SL_JSON_TRUE && op != SL_OP_EMBEDDINGS;
    out->include_usage = m[K_STREAM_OPTIONS].type == SL_JSON_OBJECT && iu.type == SL_JSON_TRUE;
    return SL_OK;
}

static void force_include_usage(const struct sl_call *c, struct sl_splice *sp)
{
    static const struct sl_str inject = SL_STR_INIT(",\"stream_options\":{\"include_usage\":true}");
    const struct sl_json_member *so = &c->stream_options;
    struct sl_json_member iu;
    if (so->type == SL_JSON_ABSENT) {
        size_t end = c->body.len;
        while (end > 0 && c->body.ptr[end - 1] != '}')
            end--;
        SL_ASSERT(end > 0); /* a validated object ends with '}' */
        sl_splice_insert(sp, end - 1, inject);
        return;
    }
    if (so->type != SL_JSON_OBJECT) {
        sl_splice_replace(sp, so->value, SL_STRLIT("{\"include_usage\":true}"));
        return;
    }
    if (sl_json_find(so->value, SL_STRLIT("include_usage"), &iu) != SL_OK) {
        size_t at = (size_t)(so->value.ptr - c->body.ptr) + 1; /* just after '{' */
        sl_splice_insert(sp, at,
                         so->count > 0 ? SL_STRLIT("\"include_usage\":true,")
                                       : SL_STRLIT("\"include_usage\":true"));
        return;
    }
    if (iu.type != SL_JSON_TRUE)
        sl_splice_replace(sp, iu.value, SL_STRLIT("true"));
}

void sl_body_rewrite(const struct sl_call *call, struct sl_str model_json, bool stream,
                     struct sl_splice *sp)
{
    sl_splice_init(sp, call->body);
    sl_splice_replace(sp, call->model.value, model_json);
    if (stream)
        force_include_usage(call, sp);
}
