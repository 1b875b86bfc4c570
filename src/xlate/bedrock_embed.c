/* OpenAI embeddings callers reaching Bedrock's embedding models through InvokeModel:
 *
 * - Amazon Titan Text Embeddings (G1, V2): {"inputText", "dimensions"?} -> {"embedding": [...],
 *   "inputTextTokenCount"}. One text per call, so a request with several inputs is refused
 *   (a Cohere model takes a batch).
 * - Cohere Embed: {"texts": [...], "input_type"} -> {"embeddings": [[...]] (or {"float":
 *   [[...]]} when the caller asked for embedding_types), "id", "response_type", "texts"}; up to
 *   96 texts; input_type defaults to "search_document" (the reference gateway's default) unless
 *   the caller sent Cohere's own field.
 *
 * Replies come back in OpenAI's shape, the vectors as float arrays or, when the caller's
 * encoding_format was "base64" (the openai SDKs' default), as base64 of little-endian float32,
 * as OpenAI encodes them. Fields the translation does not know are forwarded, as everywhere. */
#include <stdlib.h>
#include <string.h>

#include "bedrock_internal.h"
#include "sluice/base.h"

#define COHERE_MAX_TEXTS 96
/* The longest vector turned into base64 (Titan V2: 1024; Cohere: 1024 or 1536). */
#define MAX_DIMENSIONS 65536

enum { K_MODEL, K_INPUT, K_ENCODING_FORMAT, K_DIMENSIONS, K_USER, K_INPUT_TYPE, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_MODEL] = SL_STR_INIT("model"),
    [K_INPUT] = SL_STR_INIT("input"),
    [K_ENCODING_FORMAT] = SL_STR_INIT("encoding_format"),
    [K_DIMENSIONS] = SL_STR_INIT("dimensions"),
    [K_USER] = SL_STR_INIT("user"),
    [K_INPUT_TYPE] = SL_STR_INIT("input_type"),
};

enum target { TITAN, COHERE };

struct e2b {
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
    struct sl__xl_others o;
};

/* The input's strings: a string, or an array of 1..max strings (token arrays are OpenAI's own
 * tokenizer's ids: nothing a Bedrock model reads). */
static int check_input(struct e2b *t, size_t max, const char *why_max)
{
    const struct sl_json_member *v = &t->m[K_INPUT];
    struct sl__xl_it it;
    struct sl_json_member s;
    if (v->type == SL_JSON_STRING)
        return SL_OK;
    if (v->type != SL_JSON_ARRAY || v->count == 0)
        return sl__xl_fail(&t->x, "input", "expected a string or a non-empty array of strings");
    if (v->count > max)
        return sl__xl_fail(&t->x, "input", "%s", why_max);
    sl__xl_iter(&it, v);
    while (sl__xl_next(&it, NULL, &s) == 1)
        if (s.type != SL_JSON_STRING)
            return sl__xl_fail(&t->x, "input",
                               "Bedrock embedding models take text: expected strings, not token "
                               "ids");
    return SL_OK;
}

static int check_format(struct e2b *t)
{
    const struct sl_json_member *f = &t->m[K_ENCODING_FORMAT];
    if (sl__xl_has(f) && !sl__xl_str_is(f, "float") && !sl__xl_str_is(f, "base64"))
        return sl__xl_fail(&t->x, "encoding_format", "expected \"float\" or \"base64\"");
    return SL_OK;
}

static int titan(struct e2b *t)
{
    const struct sl_json_member *v = &t->m[K_INPUT];
    struct sl_json_member first = *v;
    struct sl__xl_it it;
    uint64_t dims;
    int rc;
    if ((rc = check_input(t, 1,
                          "Titan Text Embeddings embed one text per request: send one input (a "
                          "Cohere Embed model takes up to 96)")) != SL_OK)
        return rc;
    if (v->type == SL_JSON_ARRAY) {
        sl__xl_iter(&it, v);
        sl__xl_next(&it, NULL, &first);
    }
    if (sl__xl_has(&t->m[K_INPUT_TYPE]))
        return sl__xl_fail(&t->x, "input_type", "a Cohere Embed field: Titan has none");
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "inputText", first.value);
    if (sl__xl_has(&t->m[K_DIMENSIONS])) {
        if (sl__xl_uint(&t->m[K_DIMENSIONS], &dims) != SL_OK || dims == 0 || dims > MAX_DIMENSIONS)
            return sl__xl_fail(&t->x, "dimensions", "expected a positive integer");
        sl_jw_kraw(&t->w, "dimensions", t->m[K_DIMENSIONS].value);
    }
    return SL_OK;
}

static int cohere(struct e2b *t)
{
    const struct sl_json_member *v = &t->m[K_INPUT];
    int rc;
    if ((rc = check_input(t, COHERE_MAX_TEXTS,
                          "Cohere Embed takes at most 96 texts per request")) != SL_OK)
        return rc;
    if (sl__xl_has(&t->m[K_DIMENSIONS]))
        return sl__xl_fail(&t->x, "dimensions",
                           "not translated for Cohere Embed (its vectors have the model's own "
                           "size)");
    if (sl__xl_has(&t->m[K_INPUT_TYPE]) && t->m[K_INPUT_TYPE].type != SL_JSON_STRING)
        return sl__xl_fail(&t->x, "input_type", "expected a string");
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("texts"));
    if (v->type == SL_JSON_STRING) {
        sl_jw_arr(&t->w);
        sl_jw_raw(&t->w, v->value);
        sl_jw_arr_end(&t->w);
    } else {
        sl_jw_raw(&t->w, v->value);
    }
    sl_jw_kraw(&t->w, "input_type",
               sl__xl_has(&t->m[K_INPUT_TYPE]) ? t->m[K_INPUT_TYPE].value
                                               : SL_STRLIT("\"search_document\""));
    return SL_OK;
}

static int request(enum target to, struct sl_str body, struct sl_buf *out, char *why, size_t whylen)
{
    struct e2b *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    sl__xl_init(&t->x, why, whylen, 0);
    t->o.n = 0;
    t->o.x = &t->x;
    sl_jw_init(&t->w, out);
    rc = sl__xl_read_doc(&t->x, body, top_keys, K_COUNT, t->m, sl__xl_collect_other, &t->o);
    if (rc == SL_OK)
        rc = check_format(t);
    if (rc == SL_OK)
        rc = to == TITAN ? titan(t) : cohere(t);
    if (rc == SL_OK)
        rc = sl__xl_write_others(&t->x, &t->w, mark, &t->o);
    if (rc == SL_OK) {
        sl_jw_obj_end(&t->w);
        rc = sl_jw_finish(&t->w);
    }
    if (rc != SL_OK)
        out->len = mark;
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated request exceeds the size limit");
    sl__xl_dispose(&t->x);
    free(t);
    return rc;
}

int sl__xlate_embeddings_to_titan_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                          struct sl_buf *out, char *why, size_t whylen)
{
    SL_UNUSED(c);
    return request(TITAN, body, out, why, whylen);
}

int sl__xlate_embeddings_to_cohere_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, char *why, size_t whylen)
{
    SL_UNUSED(c);
    return request(COHERE, body, out, why, whylen);
}

/* ---- responses ---- */

struct b2e {
    struct sl__xl x;
    struct sl_json_w w;
    bool base64;
    struct sl_buf floats; /* base64: the vector as little-endian float32 */
    struct sl_buf text;   /* ... and its base64 text */
    size_t index;
};

/* encoding_format "base64" in the caller's body. */
static bool wants_base64(const struct sl_xlate_ctx *c)
{
    struct sl_json_member f;
    return c->caller_body.len != 0 &&
           sl_json_find(c->caller_body, SL_STRLIT("encoding_format"), &f) == SL_OK &&
           sl__xl_str_is(&f, "base64");
}

/* One vector (a JSON array of numbers) as an OpenAI embedding object. */
static int vector(struct b2e *t, const struct sl_json_member *v, const char *path)
{
    struct sl__xl_it it;
    struct sl_json_member n;
    double d;
    if (v->type != SL_JSON_ARRAY || v->count > MAX_DIMENSIONS)
        return sl__xl_fail(&t->x, path, "expected an array of numbers");
    sl__xl_iter(&it, v);
    sl_buf_reset(&t->floats);
    while (sl__xl_next(&it, NULL, &n) == 1) {
        if (sl__xl_number(&n, &d) != SL_OK)
            return sl__xl_fail(&t->x, path, "expected an array of numbers");
        float f = (float)d;
        uint32_t bits;
        unsigned char le[4];
        memcpy(&bits, &f, sizeof(bits));
        for (size_t i = 0; i < 4; i++)
            le[i] = (unsigned char)(bits >> (8 * i));
        if (t->base64 && sl_buf_append(&t->floats, le, 4) != SL_OK)
            return SL_E2BIG;
    }
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "object", SL_STRLIT("embedding"));
    sl_jw_kint(&t->w, "index", (int64_t)t->index++);
    sl_jw_key(&t->w, SL_STRLIT("embedding"));
    if (!t->base64) {
        sl_jw_raw(&t->w, v->value);
    } else {
        sl_buf_reset(&t->text);
        if (sl__xl_base64_encode(sl_buf_str(&t->floats), &t->text) != SL_OK)
            return SL_E2BIG;
        sl_jw_str_begin(&t->w);
        sl_jw_str_raw(&t->w, sl_buf_str(&t->text)); /* base64 needs no escaping */
        sl_jw_str_end(&t->w);
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static void head(struct b2e *t)
{
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "object", SL_STRLIT("list"));
    sl_jw_key(&t->w, SL_STRLIT("data"));
    sl_jw_arr(&t->w);
}

/* Closes data and writes model and usage (0 when the model reports none: OpenAI's shape has
 * the object always). */
static void tail(struct b2e *t, const struct sl_xlate_ctx *c, int64_t tokens)
{
    sl_jw_arr_end(&t->w);
    sl_jw_kstr(&t->w, "model", c->alias);
    sl_jw_key(&t->w, SL_STRLIT("usage"));
    sl_jw_obj(&t->w);
    sl_jw_kint(&t->w, "prompt_tokens", tokens < 0 ? 0 : tokens);
    sl_jw_kint(&t->w, "total_tokens", tokens < 0 ? 0 : tokens);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
}

static int titan_reply(struct b2e *t, const struct sl_xlate_ctx *c, struct sl_str body,
                       struct sl_usage *usage)
{
    static const struct sl_str keys[] = {SL_STR_INIT("embedding"),
                                         SL_STR_INIT("inputTextTokenCount")};
    struct sl_json_member m[2];
    uint64_t n;
    int rc = sl__xl_read_doc(&t->x, body, keys, 2, m, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (sl__xl_has(&m[1])) {
        if (sl__xl_uint(&m[1], &n) != SL_OK || n > (uint64_t)1 << 53)
            return sl__xl_fail(&t->x, "inputTextTokenCount", "expected a token count");
        usage->input_tokens = (int64_t)n;
        usage->output_tokens = 0;
    }
    head(t);
    if ((rc = vector(t, &m[0], "embedding")) != SL_OK)
        return rc;
    tail(t, c, usage->input_tokens);
    return SL_OK;
}

static int cohere_reply(struct b2e *t, const struct sl_xlate_ctx *c, struct sl_str body)
{
    static const struct sl_str keys[] = {SL_STR_INIT("embeddings")};
    static const struct sl_str by_type[] = {SL_STR_INIT("float")};
    struct sl_json_member m[1], f[1];
    struct sl__xl_it it;
    struct sl_json_member v;
    int rc = sl__xl_read_doc(&t->x, body, keys, 1, m, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    const struct sl_json_member *list = &m[0];
    if (m[0].type == SL_JSON_OBJECT) { /* embeddings_by_type */
        if ((rc = sl__xl_read(&t->x, "embeddings", &m[0], by_type, 1, f, NULL, NULL)) != SL_OK)
            return rc;
        list = &f[0];
    }
    if (list->type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "embeddings", "expected an array of float vectors");
    head(t);
    sl__xl_iter(&it, list);
    while (sl__xl_next(&it, NULL, &v) == 1)
        if ((rc = vector(t, &v, SL__XL_PATH(&t->x, "embeddings[%zu]", t->index))) != SL_OK)
            return rc;
    tail(t, c, -1); /* Cohere on Bedrock reports no token counts */
    return SL_OK;
}

static int response(enum target from, const struct sl_xlate_ctx *c, struct sl_str body,
                    struct sl_buf *out, struct sl_usage *usage, char *why, size_t whylen)
{
    struct b2e *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    sl__xl_init(&t->x, why, whylen, 0);
    sl_jw_init(&t->w, out);
    t->base64 = wants_base64(c);
    t->index = 0;
    sl_buf_init(&t->floats, (size_t)MAX_DIMENSIONS * 4);
    sl_buf_init(&t->text, (size_t)MAX_DIMENSIONS * 6);
    *usage = SL_USAGE_UNKNOWN;
    rc = from == TITAN ? titan_reply(t, c, body, usage) : cohere_reply(t, c, body);
    if (rc == SL_OK)
        rc = sl_jw_finish(&t->w);
    if (rc != SL_OK)
        out->len = mark;
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated response exceeds the size limit");
    sl_buf_dispose(&t->floats);
    sl_buf_dispose(&t->text);
    sl__xl_dispose(&t->x);
    free(t);
    return rc;
}

int sl__xlate_titan_to_embeddings_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, struct sl_usage *usage, char *why,
                                           size_t whylen)
{
    return response(TITAN, c, body, out, usage, why, whylen);
}

int sl__xlate_cohere_to_embeddings_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                            struct sl_buf *out, struct sl_usage *usage, char *why,
                                            size_t whylen)
{
    return response(COHERE, c, body, out, usage, why, whylen);
}
