/* A streaming JSON writer over a capped buffer: translators walk a document with the iterator
 * (json.h) and write the other wire format with this, so no DOM is built. Commas and nesting
 * are tracked for the caller; strings are escaped on the way out; values already in JSON form
 * (slices of the source document) are copied as they are. Errors are sticky: once the buffer's
 * cap is reached every later call does nothing, and sl_jw_finish reports SL_E2BIG. Misuse
 * (a value where a key is due, unbalanced closes) is a programming error and asserts. */
#ifndef SLUICE_JSON_W_H
#define SLUICE_JSON_W_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/str.h"

#define SL_JW_MAX_DEPTH 64

struct sl_json_w {
    struct sl_buf *out;
    /* private */
    int _err;
    unsigned _depth;
    bool _want_key;     /* inside an object, a key is due */
    uint64_t _nonempty; /* bit d: the container at depth d has a value */
    uint64_t _object;   /* bit d: the container at depth d is an object */
};

/* Starts writing at the end of out (which keeps what it holds). */
void sl_jw_init(struct sl_json_w *w, struct sl_buf *out);

void sl_jw_obj(struct sl_json_w *w);
void sl_jw_obj_end(struct sl_json_w *w);
void sl_jw_arr(struct sl_json_w *w);
void sl_jw_arr_end(struct sl_json_w *w);

/* A member name (plain UTF-8, escaped here). */
void sl_jw_key(struct sl_json_w *w, struct sl_str key);

/* Values. */
void sl_jw_str(struct sl_json_w *w, struct sl_str plain);
void sl_jw_raw(struct sl_json_w *w, struct sl_str json); /* a complete JSON value, as is */
void sl_jw_int(struct sl_json_w *w, int64_t v);
void sl_jw_bool(struct sl_json_w *w, bool v);
void sl_jw_null(struct sl_json_w *w);

/* A string value written piece by piece: begin, any number of plain pieces (escaped), end. Lets
 * a translator join texts (e.g. several text blocks into one content string) without a copy. */
void sl_jw_str_begin(struct sl_json_w *w);
void sl_jw_str_piece(struct sl_json_w *w, struct sl_str plain);
void sl_jw_str_end(struct sl_json_w *w);
/* A piece already in JSON string form: the bytes between the quotes of a string token the
 * caller has validated (escapes kept as they are), so joining slices of a source document costs
 * a copy and no decode. */
void sl_jw_str_raw(struct sl_json_w *w, struct sl_str escaped);

/* key: value shorthands. */
static inline void sl_jw_kstr(struct sl_json_w *w, const char *key, struct sl_str plain)
{
    sl_jw_key(w, sl_str_from_cstr(key));
    sl_jw_str(w, plain);
}
static inline void sl_jw_kraw(struct sl_json_w *w, const char *key, struct sl_str json)
{
    sl_jw_key(w, sl_str_from_cstr(key));
    sl_jw_raw(w, json);
}
static inline void sl_jw_kint(struct sl_json_w *w, const char *key, int64_t v)
{
    sl_jw_key(w, sl_str_from_cstr(key));
    sl_jw_int(w, v);
}

/* Depth of open containers (0 when a whole value has been written). */
static inline unsigned sl_jw_depth(const struct sl_json_w *w)
{
    return w->_depth;
}

/* 0 when everything written fit (and every container was closed), else SL_E2BIG. */
int sl_jw_finish(struct sl_json_w *w);

#endif
