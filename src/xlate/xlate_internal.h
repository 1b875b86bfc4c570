/* What the translators (src/xlate/) share and nobody else needs: reading objects with duplicate
 * names refused, error messages with a path, the stop-reason and error-type tables, and the
 * six translator entry points the pair table (xlate.c) lists. Not a contract for other areas. */
#ifndef SLUICE_XLATE_INTERNAL_H
#define SLUICE_XLATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/buf.h"
#include "sluice/json.h"
#include "sluice/json_w.h"
#include "sluice/str.h"
#include "sluice/xlate.h"

/* One translation's reading context: where the reason for a failure goes, a key set for the
 * object being read (only one object is read at a time, so one set serves the whole document),
 * and a scratch buffer for strings that must be decoded (tool arguments, escaped URLs). */
struct sl__xl {
    char *why;
    size_t whylen;
    struct sl_buf scratch;
    /* A path for error messages, formatted only when an error needs it (sl__xl_path). */
    const char *_path_fmt;
    size_t _path_arg[3];
    char _path[96];
    struct sl_json_keyset keys;
};

/* A path like "messages[3].content[1]" from a printf format with up to three %zu: returns a
 * pointer that sl__xl_fail and sl__xl_read accept as path, valid until the next call; the text is
 * only formatted if an error is reported (formatting every path costs more than translating). */
const char *sl__xl_path(struct sl__xl *x, const char *fmt, const size_t arg[3]);
#define SL__XL_PATH(x, fmt, ...) sl__xl_path((x), (fmt), (const size_t[3]){__VA_ARGS__})

/* Starts a context; scratch may grow to scratch_max bytes. */
void sl__xl_init(struct sl__xl *x, char *why, size_t whylen, size_t scratch_max);
void sl__xl_dispose(struct sl__xl *x);

/* Writes "<path>: <message>" (or the message alone for an empty path) into x->why and returns
 * SL_EPARSE. */
int sl__xl_fail(struct sl__xl *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Called for a member whose name is not in the list given to sl__xl_read. Returns 0 or a
 * negative code that stops the read. */
typedef int sl__xl_other_fn(void *ud, struct sl_json_key key, const struct sl_json_member *val);

/* Reads the object val (path names it in errors): the members named names[0..n) land in out[i]
 * (SL_JSON_ABSENT when missing), every other member goes to other (ignored when other is NULL).
 * A repeated name is refused: `<path>: duplicate key "<name>"`. Returns 0 or SL_EPARSE (also
 * when val is not an object: "<path>: expected an object"), or other's negative return. */
int sl__xl_read(struct sl__xl *x, const char *path, const struct sl_json_member *val,
                const struct sl_str *names, size_t n, struct sl_json_member *out,
                sl__xl_other_fn *other, void *ud);

/* Reads a whole document that must be an object (used for bodies and events). */
int sl__xl_read_doc(struct sl__xl *x, struct sl_str doc, const struct sl_str *names, size_t n,
                    struct sl_json_member *out, sl__xl_other_fn *other, void *ud);

/* Iterates an array or object inside a document that was validated already (by sl__xl_read_doc,
 * whose iterator checks every value in full): the elements are found by skipping, not by
 * validating again, so reading a document costs one validation however deep it is read. Members
 * come as sl_json_iter_next gives them (type, value, count). */
struct sl__xl_it {
    const char *p, *end;
    bool object;
};

void sl__xl_iter(struct sl__xl_it *it, const struct sl_json_member *v);

/* Returns 1 with *val (and *key for objects, when key is not NULL), or 0 after the last. */
int sl__xl_next(struct sl__xl_it *it, struct sl_json_key *key, struct sl_json_member *val);

/* Present and not null. */
static inline bool sl__xl_has(const struct sl_json_member *m)
{
    return m->type != SL_JSON_ABSENT && m->type != SL_JSON_NULL;
}

/* The bytes between a string token's quotes (escapes kept). */
static inline struct sl_str sl__xl_inner(const struct sl_json_member *m)
{
    return sl_str_init(m->value.ptr + 1, m->value.len - 2);
}

/* True when m is a string whose decoded text equals lit. */
bool sl__xl_str_is(const struct sl_json_member *m, const char *lit);

/* The decoded text of string m: its inner bytes when it has no escapes, else a copy decoded into
 * the scratch buffer, valid until the next call (every caller writes it out at once). Returns 0
 * or SL_E2BIG. */
int sl__xl_text(struct sl__xl *x, const struct sl_json_member *m, struct sl_str *out);

/* Writes the string value m as is (it is already a valid JSON string token). */
static inline void sl__xl_jw_copy(struct sl_json_w *w, const struct sl_json_member *m)
{
    sl_jw_raw(w, m->value);
}

/* A JSON number as a double (for range checks). Returns 0 or SL_EPARSE. */
int sl__xl_number(const struct sl_json_member *m, double *out);

/* A non-negative integer (1024.0 is not accepted: OpenAI and Anthropic both say integer). */
int sl__xl_uint(const struct sl_json_member *m, uint64_t *out);

/* Stop reasons. */
const char *sl__xl_finish_of_stop(struct sl_str stop_reason);   /* Anthropic -> OpenAI */
const char *sl__xl_stop_of_finish(struct sl_str finish_reason); /* OpenAI -> Anthropic */

/* The status an error of this type stands for (Anthropic's and OpenAI's type names). */
int sl__xl_status_of_error_type(struct sl_str type);

/* Copies s into dst (NUL-terminated, at most cap - 1 bytes). Returns false when it did not fit. */
bool sl__xl_copy(char *dst, size_t cap, struct sl_str s);

/* Members of a request the translation does not know, forwarded verbatim as the reference
 * gateway does (the upstream then names any it refuses). */
#define SL_XL_MAX_OTHERS 64
struct sl__xl_others {
    struct sl__xl *x;
    size_t n;
    struct sl_json_key key[SL_XL_MAX_OTHERS];
    struct sl_str val[SL_XL_MAX_OTHERS];
};

/* An sl__xl_other_fn that collects into a struct sl__xl_others. */
int sl__xl_collect_other(void *ud, struct sl_json_key key, const struct sl_json_member *val);

/* Writes the collected members into the object open at depth 1 of w, whose text starts at
 * w->out->ptr[mark]. A member the translation already wrote (a caller sending Anthropic's
 * "thinking" along with reasoning_effort) is refused rather than sent twice. */
int sl__xl_write_others(struct sl__xl *x, struct sl_json_w *w, size_t mark,
                        const struct sl__xl_others *o);

/* Usage. An Anthropic usage object read into a (fields it lacks stay as they were; input_tokens
 * there leaves out the cached tokens). */
int sl__xl_anthropic_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                           struct sl_usage *a);
/* Anthropic-shaped counts (a) as struct sl_usage, whose input_tokens counts every prompt token. */
void sl__xl_usage_from_anthropic(const struct sl_usage *a, struct sl_usage *u);
/* "usage": OpenAI's object from Anthropic-shaped counts: prompt_tokens = input + cache read +
 * cache creation, prompt_tokens_details.cached_tokens = cache read. */
void sl__xl_write_chat_usage(struct sl_json_w *w, const struct sl_usage *a);
/* An OpenAI usage object read into u (struct sl_usage's meaning). */
int sl__xl_chat_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                      struct sl_usage *u);
/* "usage": Anthropic's object from u: input_tokens = prompt - cached. With partial, only the
 * counts that are known (for a message_delta). */
void sl__xl_write_anthropic_usage(struct sl_json_w *w, const struct sl_usage *u, bool partial);

/* "id": "msg_" + the upstream id (a JSON string member; NULL or absent: the request's seed). */
void sl__xl_write_msg_id(struct sl_json_w *w, const struct sl_json_member *id, struct sl_str seed);

/* The translators the pair table lists, named after the direction the data moves. */
int sl__xlate_chat_to_anthropic_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_anthropic_to_chat_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                         struct sl_buf *out, struct sl_usage *usage, char *why,
                                         size_t whylen);
struct sl_filter *sl__xlate_anthropic_to_chat_stream(h2o_mem_pool_t *pool,
                                                     const struct sl_xlate_ctx *c,
                                                     struct sl_usage *usage,
                                                     struct sl_filter *next);
int sl__xlate_anthropic_to_chat_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_chat_to_anthropic_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                         struct sl_buf *out, struct sl_usage *usage, char *why,
                                         size_t whylen);
struct sl_filter *sl__xlate_chat_to_anthropic_stream(h2o_mem_pool_t *pool,
                                                     const struct sl_xlate_ctx *c,
                                                     struct sl_usage *usage,
                                                     struct sl_filter *next);

/* Gemini (generateContent, batchEmbedContents): src/xlate/ req_, resp_, stream_ and embed_ gemini
 * files. */
int sl__xlate_chat_to_gemini_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                     struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_gemini_to_chat_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                      struct sl_buf *out, struct sl_usage *usage, char *why,
                                      size_t whylen);
struct sl_filter *sl__xlate_gemini_to_chat_stream(h2o_mem_pool_t *pool,
                                                  const struct sl_xlate_ctx *c,
                                                  struct sl_usage *usage, struct sl_filter *next);
/* What the Gemini response and stream translations share (resp_gemini_chat.c). */
/* usageMetadata read into u (struct sl_usage's meaning: thoughts count as output). */
int sl__xl_gemini_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                        struct sl_usage *u);
/* "usage": OpenAI's object, with cached and reasoning token details. */
void sl__xl_write_gemini_chat_usage(struct sl_json_w *w, const struct sl_usage *u);
/* finishReason -> finish_reason (tool_calls: the candidate called functions). */
const char *sl__xl_finish_of_gemini(struct sl_str reason, bool tool_calls);
/* promptFeedback with a blockReason: SL_ERR with why naming it (the caller gets 400); else 0
 * (SL_EPARSE for a malformed one). */
int sl__xl_gemini_blocked(struct sl__xl *x, const struct sl_json_member *feedback);
/* "id": the functionCall's id, else "call_<seed>_<n>"; with "__thought__<signature>" when the
 * part carries a thought signature. */
void sl__xl_write_gemini_call_id(struct sl_json_w *w, const struct sl_json_member *id,
                                 const struct sl_json_member *signature, struct sl_str seed,
                                 size_t n);
/* A chat tool call object (with "index" when index >= 0) from a functionCall part. */
int sl__xl_gemini_call(struct sl__xl *x, struct sl_json_w *w, const char *path,
                       const struct sl_json_member *call, const struct sl_json_member *signature,
                       struct sl_str seed, size_t n, int64_t index);

int sl__xlate_embeddings_to_gemini_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_gemini_to_embeddings_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                            struct sl_buf *out, struct sl_usage *usage, char *why,
                                            size_t whylen);

#endif
