/* Helpers shared by the translators (xlate_internal.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "xlate_internal.h"

void sl__xl_init(struct sl__xl *x, char *why, size_t whylen, size_t scratch_max)
{
    x->why = why;
    x->whylen = whylen;
    if (why != NULL && whylen != 0)
        why[0] = '\0';
    sl_buf_init(&x->scratch, scratch_max);
    x->_path_fmt = "";
    x->_path[0] = '\0';
    sl_json_keyset_init(&x->keys);
}

void sl__xl_dispose(struct sl__xl *x)
{
    sl_buf_dispose(&x->scratch);
}

const char *sl__xl_path(struct sl__xl *x, const char *fmt, const size_t arg[3])
{
    x->_path_fmt = fmt;
    memcpy(x->_path_arg, arg, sizeof(x->_path_arg));
    return x->_path;
}

/* The formats come from sl__xl_path's callers, all literals with up to three %zu. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void format_path(struct sl__xl *x)
{
    snprintf(x->_path, sizeof(x->_path), x->_path_fmt, x->_path_arg[0], x->_path_arg[1],
             x->_path_arg[2]);
}
#pragma GCC diagnostic pop

int sl__xl_fail(struct sl__xl *x, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n = 0;
    if (x->why == NULL || x->whylen == 0)
        return SL_EPARSE;
    if (path == x->_path)
        format_path(x);
    if (path != NULL && path[0] != '\0')
        n = snprintf(x->why, x->whylen, "%s: ", path);
    if (n < 0 || (size_t)n >= x->whylen)
        return SL_EPARSE;
    va_start(ap, fmt);
    vsnprintf(x->why + n, x->whylen - (size_t)n, fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

static int fail_dup(struct sl__xl *x, const char *path, struct sl_json_key key)
{
    /* The name as the document spelt it: escapes stay visible, which names it well enough. */
    int len = (int)SL_MIN(key.raw.len, (size_t)200);
    return sl__xl_fail(x, path, "duplicate key \"%.*s\"", len, key.raw.ptr);
}

/* One member of an object being read: into out[i], or to other. */
static int take(struct sl__xl *x, const char *path, struct sl_json_key key,
                const struct sl_json_member *v, const struct sl_str *names, size_t n,
                struct sl_json_member *out, sl__xl_other_fn *other, void *ud)
{
    int rc = sl_json_keyset_add(&x->keys, key);
    if (rc == SL_EEXIST)
        return fail_dup(x, path, key);
    if (rc != SL_OK)
        return sl__xl_fail(x, path, "more than %d members", SL_JSON_KEYSET_MAX);
    for (size_t i = 0; i < n; i++)
        if (sl_json_key_eq(key, names[i])) {
            out[i] = *v;
            return SL_OK;
        }
    return other != NULL ? other(ud, key, v) : SL_OK;
}

static void start(struct sl__xl *x, size_t n, struct sl_json_member *out)
{
    for (size_t i = 0; i < n; i++)
        out[i].type = SL_JSON_ABSENT;
    sl_json_keyset_init(&x->keys);
}

int sl__xl_read(struct sl__xl *x, const char *path, const struct sl_json_member *val,
                const struct sl_str *names, size_t n, struct sl_json_member *out,
                sl__xl_other_fn *other, void *ud)
{
    struct sl__xl_it it;
    struct sl_json_key key;
    struct sl_json_member v;
    int rc;
    if (val->type != SL_JSON_OBJECT)
        return sl__xl_fail(x, path, "expected an object");
    start(x, n, out);
    sl__xl_iter(&it, val);
    while (sl__xl_next(&it, &key, &v) == 1)
        if ((rc = take(x, path, key, &v, names, n, out, other, ud)) != SL_OK)
            return rc;
    return SL_OK;
}

int sl__xl_read_doc(struct sl__xl *x, struct sl_str doc, const struct sl_str *names, size_t n,
                    struct sl_json_member *out, sl__xl_other_fn *other, void *ud)
{
    struct sl_json_iter it;
    struct sl_json_key key;
    struct sl_json_member v;
    int rc;
    if (sl_json_iter_init(&it, doc, SL_XLATE_MAX_DEPTH) != SL_OK) {
        struct sl_json_error e = sl_json_iter_error(&it);
        return sl__xl_fail(x, "", "malformed JSON: %s at offset %zu", e.why, e.at);
    }
    if (!sl_json_iter_is_object(&it))
        return sl__xl_fail(x, "", "expected a JSON object");
    start(x, n, out);
    /* This iteration validates every value in full: everything read later is only skipped. */
    while ((rc = sl_json_iter_next(&it, &key, &v)) == 1)
        if ((rc = take(x, "", key, &v, names, n, out, other, ud)) != SL_OK)
            return rc;
    if (rc < 0) {
        struct sl_json_error e = sl_json_iter_error(&it);
        return sl__xl_fail(x, "", "malformed JSON: %s at offset %zu", e.why, e.at);
    }
    return SL_OK;
}

static inline bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && ws(*p))
        p++;
    return p;
}

/* p at a string's opening quote (of a valid string): returns the byte after its closing one. */
static const char *skip_string(const char *p, const char *end)
{
    const char *from = p + 1;
    for (;;) {
        const char *q = memchr(from, '"', (size_t)(end - from));
        SL_ASSERT(q != NULL);
        size_t bs = 0;
        while (q - bs > p + 1 && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
        from = q + 1;
    }
}

/* p at '{' or '[' of a valid container: returns the byte after it, with its element count. */
static const char *skip_container(const char *p, const char *end, size_t *count)
{
    unsigned depth = 0;
    size_t commas = 0;
    bool any = false;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            any = any || depth == 1;
            p = skip_string(p, end);
            continue;
        }
        p++;
        if (c == '{' || c == '[') {
            any = any || depth == 1;
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                break;
        } else if (depth == 1 && c == ',') {
            commas++;
        } else if (depth == 1 && !ws(c)) {
            any = true;
        }
    }
    *count = any ? commas + 1 : 0;
    return p;
}

void sl__xl_iter(struct sl__xl_it *it, const struct sl_json_member *v)
{
    SL_ASSERT(v->type == SL_JSON_ARRAY || v->type == SL_JSON_OBJECT);
    it->p = v->value.ptr + 1;
    it->end = v->value.ptr + v->value.len;
    it->object = v->type == SL_JSON_OBJECT;
}

int sl__xl_next(struct sl__xl_it *it, struct sl_json_key *key, struct sl_json_member *val)
{
    const char *p = skip_ws(it->p, it->end), *end = it->end;
    if (p == end || *p == '}' || *p == ']')
        return 0;
    if (*p == ',')
        p = skip_ws(p + 1, end);
    if (it->object) {
        const char *k = p;
        p = skip_string(p, end);
        if (key != NULL) {
            key->raw = sl_str_init(k + 1, (size_t)(p - k) - 2);
            key->escaped = memchr(key->raw.ptr, '\\', key->raw.len) != NULL;
        }
        p = skip_ws(skip_ws(p, end) + 1, end); /* the colon */
    }
    const char *v = p;
    val->count = 0;
    switch (*p) {
    case '"':
        val->type = SL_JSON_STRING;
        p = skip_string(p, end);
        break;
    case '{':
    case '[':
        val->type = *p == '{' ? SL_JSON_OBJECT : SL_JSON_ARRAY;
        p = skip_container(p, end, &val->count);
        break;
    default:
        val->type = *p == 't'   ? SL_JSON_TRUE
                    : *p == 'f' ? SL_JSON_FALSE
                    : *p == 'n' ? SL_JSON_NULL
                                : SL_JSON_NUMBER;
        while (p < end && *p != ',' && *p != '}' && *p != ']' && !ws(*p))
            p++;
        break;
    }
    val->value = sl_str_init(v, (size_t)(p - v));
    val->member = val->value;
    val->seen = 1;
    it->p = p;
    return 1;
}

bool sl__xl_str_is(const struct sl_json_member *m, const char *lit)
{
    if (m->type != SL_JSON_STRING)
        return false;
    struct sl_str in = sl__xl_inner(m);
    struct sl_json_key k = {in, memchr(in.ptr, '\\', in.len) != NULL};
    return sl_json_key_eq(k, sl_str_from_cstr(lit));
}

int sl__xl_text(struct sl__xl *x, const struct sl_json_member *m, struct sl_str *out)
{
    SL_ASSERT(m->type == SL_JSON_STRING);
    struct sl_str in = sl__xl_inner(m);
    if (memchr(in.ptr, '\\', in.len) == NULL) {
        *out = in;
        return SL_OK;
    }
    sl_buf_reset(&x->scratch);
    if (sl_json_unescape(m->value, &x->scratch) != SL_OK)
        return SL_E2BIG; /* the string was validated: only the cap can fail */
    *out = sl_buf_str(&x->scratch);
    return SL_OK;
}

int sl__xl_number(const struct sl_json_member *m, double *out)
{
    char num[64];
    char *end;
    if (m->type != SL_JSON_NUMBER || m->value.len >= sizeof(num))
        return SL_EPARSE;
    memcpy(num, m->value.ptr, m->value.len);
    num[m->value.len] = '\0';
    *out = strtod(num, &end);
    return *end == '\0' ? SL_OK : SL_EPARSE;
}

int sl__xl_uint(const struct sl_json_member *m, uint64_t *out)
{
    if (m->type != SL_JSON_NUMBER)
        return SL_EPARSE;
    return sl_json_to_u64(m->value, out);
}

const char *sl__xl_finish_of_stop(struct sl_str r)
{
    if (sl_str_eq_lit(r, "end_turn") || sl_str_eq_lit(r, "stop_sequence") ||
        sl_str_eq_lit(r, "pause_turn"))
        return "stop";
    if (sl_str_eq_lit(r, "max_tokens") || sl_str_eq_lit(r, "model_context_window_exceeded"))
        return "length";
    if (sl_str_eq_lit(r, "tool_use"))
        return "tool_calls";
    if (sl_str_eq_lit(r, "refusal"))
        return "content_filter";
    return "stop";
}

const char *sl__xl_stop_of_finish(struct sl_str f)
{
    if (sl_str_eq_lit(f, "length"))
        return "max_tokens";
    if (sl_str_eq_lit(f, "tool_calls") || sl_str_eq_lit(f, "function_call"))
        return "tool_use";
    if (sl_str_eq_lit(f, "content_filter"))
        return "refusal";
    return "end_turn";
}

int sl__xl_status_of_error_type(struct sl_str t)
{
    static const struct {
        const char *type;
        int status;
    } map[] = {
        {"invalid_request_error", 400},
        {"authentication_error", 401},
        {"invalid_api_key", 401},
        {"permission_error", 403},
        {"not_found_error", 404},
        {"request_too_large", 413},
        {"rate_limit_error", 429},
        {"rate_limit_exceeded", 429},
        {"tokens", 429},
        {"requests", 429},
        {"api_error", 500},
        {"server_error", 500},
        {"timeout_error", 504},
        {"overloaded_error", 529},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(map); i++)
        if (sl_str_eq(t, sl_str_from_cstr(map[i].type)))
            return map[i].status;
    return 502;
}

bool sl__xl_copy(char *dst, size_t cap, struct sl_str s)
{
    SL_ASSERT(cap != 0);
    if (s.len >= cap) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return true;
}

int sl__xl_collect_other(void *ud, struct sl_json_key key, const struct sl_json_member *val)
{
    struct sl__xl_others *o = ud;
    if (o->n == SL_XL_MAX_OTHERS)
        return sl__xl_fail(o->x, "", "more than %d fields unknown to the translation",
                           SL_XL_MAX_OTHERS);
    o->key[o->n] = key;
    o->val[o->n++] = val->value;
    return SL_OK;
}

/* Which of the names the document written so far already has at its top level. */
static bool written(struct sl_json_w *w, size_t mark, struct sl_str name)
{
    struct sl_json_member found;
    struct sl_buf *b = w->out;
    bool hit = false;
    /* Close the open object for a moment to scan it; the byte is taken back at once. */
    if (sl_buf_append(b, "}", 1) != SL_OK)
        return false; /* at the cap: the writer reports SL_E2BIG anyway */
    if (sl_json_scan_object(sl_str_init(b->ptr + mark, b->len - mark), SL_JSON_MAX_DEPTH, &name, 1,
                            &found, NULL) == SL_OK)
        hit = found.type != SL_JSON_ABSENT;
    b->len--;
    return hit;
}

int sl__xl_write_others(struct sl__xl *x, struct sl_json_w *w, size_t mark,
                        const struct sl__xl_others *o)
{
    for (size_t i = 0; i < o->n; i++) {
        struct sl_json_member k = {.type = SL_JSON_STRING,
                                   .value =
                                       sl_str_init(o->key[i].raw.ptr - 1, o->key[i].raw.len + 2)};
        struct sl_str name;
        if (sl__xl_text(x, &k, &name) != SL_OK)
            return SL_E2BIG;
        if (written(w, mark, name))
            return sl__xl_fail(x, "",
                               "\"%.*s\": the translation writes this field from the "
                               "request's own fields; send one or the other",
                               (int)SL_MIN(name.len, (size_t)64), name.ptr);
        sl_jw_key(w, name);
        sl_jw_raw(w, o->val[i]);
    }
    return SL_OK;
}
