/* The streaming JSON writer (json_w.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/json_w.h"

void sl_jw_init(struct sl_json_w *w, struct sl_buf *out)
{
    *w = (struct sl_json_w){.out = out};
}

static void put(struct sl_json_w *w, const char *p, size_t n)
{
    struct sl_buf *b = w->out;
    /* Most pieces are a few bytes into room already there: copy them without the call. */
    if (w->_err == SL_OK && b->len + n < b->_alloc && b->len + n <= b->_max) {
        memcpy(b->ptr + b->len, p, n);
        b->len += n;
        b->ptr[b->len] = '\0';
        return;
    }
    if (w->_err == SL_OK && sl_buf_append(b, p, n) != SL_OK)
        w->_err = SL_E2BIG;
}

static bool in_object(const struct sl_json_w *w)
{
    return w->_depth != 0 && (w->_object >> (w->_depth - 1) & 1) != 0;
}

/* Before any value: the comma after a previous element, and the state checks. */
static void before_value(struct sl_json_w *w)
{
    if (w->_depth == 0)
        return;
    if (in_object(w)) {
        SL_ASSERT(!w->_want_key); /* a value inside an object needs its key first */
        w->_want_key = true;
        return;
    }
    uint64_t bit = 1ULL << (w->_depth - 1);
    if ((w->_nonempty & bit) != 0)
        put(w, ",", 1);
    w->_nonempty |= bit;
}

static void jw_open(struct sl_json_w *w, bool object)
{
    before_value(w);
    SL_ASSERT(w->_depth < SL_JW_MAX_DEPTH);
    uint64_t bit = 1ULL << w->_depth;
    w->_nonempty &= ~bit;
    if (object)
        w->_object |= bit;
    else
        w->_object &= ~bit;
    w->_depth++;
    w->_want_key = object;
    put(w, object ? "{" : "[", 1);
}

static void jw_close(struct sl_json_w *w, bool object)
{
    SL_ASSERT(w->_depth != 0 && in_object(w) == object);
    SL_ASSERT(!object || w->_want_key); /* not after a dangling key */
    w->_depth--;
    put(w, object ? "}" : "]", 1);
    w->_want_key = in_object(w);
}

void sl_jw_obj(struct sl_json_w *w)
{
    jw_open(w, true);
}

void sl_jw_obj_end(struct sl_json_w *w)
{
    jw_close(w, true);
}

void sl_jw_arr(struct sl_json_w *w)
{
    jw_open(w, false);
}

void sl_jw_arr_end(struct sl_json_w *w)
{
    jw_close(w, false);
}

/* Short strings that need no escaping (keys, types, ids) are the common case: one copy. */
static bool put_plain_quoted(struct sl_json_w *w, struct sl_str s, bool colon)
{
    struct sl_buf *b = w->out;
    size_t n = s.len + 2 + (colon ? 1 : 0);
    if (s.len > 64 || w->_err != SL_OK || b->len + n >= b->_alloc || b->len + n > b->_max)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return false;
    }
    char *o = b->ptr + b->len;
    *o++ = '"';
    if (s.len != 0)
        memcpy(o, s.ptr, s.len);
    o += s.len;
    *o++ = '"';
    if (colon)
        *o++ = ':';
    b->len += n;
    b->ptr[b->len] = '\0';
    return true;
}

void sl_jw_key(struct sl_json_w *w, struct sl_str key)
{
    SL_ASSERT(in_object(w) && w->_want_key);
    uint64_t bit = 1ULL << (w->_depth - 1);
    if ((w->_nonempty & bit) != 0)
        put(w, ",", 1);
    w->_nonempty |= bit;
    w->_want_key = false;
    if (put_plain_quoted(w, key, true))
        return;
    if (w->_err == SL_OK && sl_json_escape(w->out, key) != SL_OK)
        w->_err = SL_E2BIG;
    put(w, ":", 1);
}

void sl_jw_str(struct sl_json_w *w, struct sl_str plain)
{
    before_value(w);
    if (put_plain_quoted(w, plain, false))
        return;
    if (w->_err == SL_OK && sl_json_escape(w->out, plain) != SL_OK)
        w->_err = SL_E2BIG;
}

void sl_jw_raw(struct sl_json_w *w, struct sl_str json)
{
    SL_ASSERT(json.len != 0);
    before_value(w);
    put(w, json.ptr, json.len);
}

void sl_jw_int(struct sl_json_w *w, int64_t v)
{
    char num[24];
    size_t i = sizeof(num);
    /* By hand: snprintf costs more than the rest of a small event. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        num[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        num[--i] = '-';
    before_value(w);
    put(w, num + i, sizeof(num) - i);
}

void sl_jw_bool(struct sl_json_w *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void sl_jw_null(struct sl_json_w *w)
{
    before_value(w);
    put(w, "null", 4);
}

void sl_jw_str_begin(struct sl_json_w *w)
{
    before_value(w);
    put(w, "\"", 1);
}

void sl_jw_str_piece(struct sl_json_w *w, struct sl_str plain)
{
    size_t mark = w->out->len;
    if (w->_err != SL_OK || plain.len == 0)
        return;
    /* sl_json_escape writes quotes around its output; keep only what lies between them. */
    if (sl_json_escape(w->out, plain) != SL_OK) {
        w->_err = SL_E2BIG;
        return;
    }
    size_t n = w->out->len - mark - 2;
    memmove(w->out->ptr + mark, w->out->ptr + mark + 1, n);
    w->out->len = mark + n;
    w->out->ptr[w->out->len] = '\0';
}

void sl_jw_str_raw(struct sl_json_w *w, struct sl_str escaped)
{
    if (escaped.len != 0)
        put(w, escaped.ptr, escaped.len);
}

void sl_jw_str_end(struct sl_json_w *w)
{
    put(w, "\"", 1);
}

int sl_jw_finish(struct sl_json_w *w)
{
    if (w->_err != SL_OK)
        return w->_err;
    SL_ASSERT(w->_depth == 0);
    return SL_OK;
}
