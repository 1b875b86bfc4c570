/* Embeddings: OpenAI /v1/embeddings <-> Gemini batchEmbedContents. One EmbedContentRequest per
 * input text; the vectors come back in order as OpenAI's list, as floats or, when the caller
 * asked for encoding_format "base64" (the openai SDKs do by default), as little-endian float32
 * in base64. Decisions in docs/translation.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "xlate_internal.h"

/* OpenAI's own limit on inputs per request. */
#define MAX_INPUTS 2048

enum { K_MODEL, K_INPUT, K_DIMENSIONS, K_ENCODING_FORMAT, K_USER, K_COUNT };
static const struct sl_str top_keys[K_COUNT] = {
    [K_MODEL] = SL_STR_INIT("model"),
    [K_INPUT] = SL_STR_INIT("input"),
    [K_DIMENSIONS] = SL_STR_INIT("dimensions"),
    [K_ENCODING_FORMAT] = SL_STR_INIT("encoding_format"),
    [K_USER] = SL_STR_INIT("user"),
};

struct e2g {
    const struct sl_xlate_ctx *c;
    struct sl__xl x;
    struct sl_json_w w;
    struct sl_json_member m[K_COUNT];
};

/* One EmbedContentRequest: {"model":"models/<id>","content":{"parts":[{"text":...}]},...}. */
static int one_request(struct e2g *t, const struct sl_json_member *text, struct sl__xl_others *o)
{
    struct sl_str model = t->c->upstream_model;
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("model"));
    sl_jw_str_begin(&t->w);
    if (!sl_str_starts_with(model, SL_STRLIT("models/")) &&
        !sl_str_starts_with(model, SL_STRLIT("tunedModels/")))
        sl_jw_str_piece(&t->w, SL_STRLIT("models/"));
    sl_jw_str_piece(&t->w, model);
    sl_jw_str_end(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("content"));
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("parts"));
    sl_jw_arr(&t->w);
    sl_jw_obj(&t->w);
    sl_jw_kraw(&t->w, "text", text->value);
    sl_jw_obj_end(&t->w);
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
    if (sl__xl_has(&t->m[K_DIMENSIONS]))
        sl_jw_kraw(&t->w, "outputDimensionality", t->m[K_DIMENSIONS].value);
    /* Fields the translation does not know go into every request (taskType, title). */
    for (size_t i = 0; i < o->n; i++) {
        struct sl_json_member k = {.type = SL_JSON_STRING,
                                   .value =
                                       sl_str_init(o->key[i].raw.ptr - 1, o->key[i].raw.len + 2)};
        struct sl_str name;
        if (sl__xl_text(&t->x, &k, &name) != SL_OK)
            return SL_E2BIG;
        sl_jw_key(&t->w, name);
        sl_jw_raw(&t->w, o->val[i]);
    }
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int translate_request(struct e2g *t, struct sl__xl_others *o)
{
    const struct sl_json_member *in = &t->m[K_INPUT], *m = t->m;
    struct sl__xl_it it;
    struct sl_json_member v;
    uint64_t dims;
    int rc;
    if (sl__xl_has(&m[K_DIMENSIONS]) &&
        (sl__xl_uint(&m[K_DIMENSIONS], &dims) != SL_OK || dims == 0 || dims > 65536))
        return sl__xl_fail(&t->x, "dimensions", "expected a positive integer");
    if (sl__xl_has(&m[K_ENCODING_FORMAT]) && !sl__xl_str_is(&m[K_ENCODING_FORMAT], "float") &&
        !sl__xl_str_is(&m[K_ENCODING_FORMAT], "base64"))
        return sl__xl_fail(&t->x, "encoding_format", "expected float or base64");
    sl_jw_obj(&t->w);
    sl_jw_key(&t->w, SL_STRLIT("requests"));
    sl_jw_arr(&t->w);
    if (in->type == SL_JSON_STRING) {
        if ((rc = one_request(t, in, o)) != SL_OK)
            return rc;
    } else if (in->type == SL_JSON_ARRAY && in->count != 0 && in->count <= MAX_INPUTS) {
        size_t i = 0;
        sl__xl_iter(&it, in);
        for (; sl__xl_next(&it, NULL, &v) == 1; i++) {
            if (v.type != SL_JSON_STRING)
                return sl__xl_fail(&t->x, SL__XL_PATH(&t->x, "input[%zu]", i),
                                   "expected a string (Gemini embeds text, not token arrays)");
            if ((rc = one_request(t, &v, o)) != SL_OK)
                return rc;
        }
    } else {
        return sl__xl_fail(&t->x, "input", "expected a string or an array of 1 to %d strings",
                           MAX_INPUTS);
    }
    sl_jw_arr_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_embeddings_to_gemini_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, char *why, size_t whylen)
{
    struct e2g *t = sl_xmalloc(sizeof(*t));
    struct sl__xl_others *o = sl_xmalloc(sizeof(*o));
    size_t mark = out->len;
    int rc;
    t->c = c;
    o->n = 0;
    sl__xl_init(&t->x, why, whylen, body.len + 16);
    o->x = &t->x;
    sl_jw_init(&t->w, out);
    rc = sl__xl_read_doc(&t->x, body, top_keys, K_COUNT, t->m, sl__xl_collect_other, o);
    if (rc == SL_OK)
        rc = translate_request(t, o);
    if (rc == SL_OK)
        rc = sl_jw_finish(&t->w);
    if (rc != SL_OK)
        out->len = mark;
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated request exceeds the size limit");
    sl__xl_dispose(&t->x);
    free(o);
    free(t);
    return rc;
}

/* ---- the response ---- */

/* Standard base64 with padding, as OpenAI encodes embeddings. */
static void base64_piece(struct sl_json_w *w, const unsigned char *p, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    SL_ASSERT(len >= 1 && len <= 3);
    uint32_t v =
        (uint32_t)p[0] << 16 | (len > 1 ? (uint32_t)p[1] << 8 : 0) | (len > 2 ? (uint32_t)p[2] : 0);
    q[0] = abc[v >> 18];
    q[1] = abc[(v >> 12) & 63];
    q[2] = len > 1 ? abc[(v >> 6) & 63] : '=';
    q[3] = len > 2 ? abc[v & 63] : '=';
    sl_jw_str_piece(w, sl_str_init(q, 4));
}

/* The values as float32 bytes in base64, three bytes at a time. */
static int values_base64(struct e2g *t, const struct sl_json_member *values, const char *path)
{
    struct sl__xl_it it;
    struct sl_json_member v;
    unsigned char pend[3];
    size_t npend = 0;
    double d;
    sl_jw_str_begin(&t->w);
    sl__xl_iter(&it, values);
    while (sl__xl_next(&it, NULL, &v) == 1) {
        if (sl__xl_number(&v, &d) != SL_OK)
            return sl__xl_fail(&t->x, path, "values: expected numbers");
        float f = (float)d;
        unsigned char b[4];
        memcpy(b, &f, 4); /* x86-64 and arm64 are little-endian, as OpenAI's bytes are */
        for (size_t i = 0; i < 4; i++) {
            pend[npend++] = b[i];
            if (npend == 3) {
                base64_piece(&t->w, pend, 3);
                npend = 0;
            }
        }
    }
    if (npend != 0)
        base64_piece(&t->w, pend, npend);
    sl_jw_str_end(&t->w);
    return SL_OK;
}

static int values_float(struct e2g *t, const struct sl_json_member *values, const char *path)
{
    struct sl__xl_it it;
    struct sl_json_member v;
    sl__xl_iter(&it, values);
    while (sl__xl_next(&it, NULL, &v) == 1)
        if (v.type != SL_JSON_NUMBER)
            return sl__xl_fail(&t->x, path, "values: expected numbers");
    sl_jw_raw(&t->w, values->value);
    return SL_OK;
}

static bool wants_base64(const struct sl_xlate_ctx *c)
{
    struct sl_json_member f;
    if (c->caller_body.len == 0)
        return false;
    return sl_json_find(c->caller_body, SL_STRLIT("encoding_format"), &f) == SL_OK &&
           sl__xl_str_is(&f, "base64");
}

static int embedding(struct e2g *t, const struct sl_json_member *e, size_t i, bool b64)
{
    static const struct sl_str keys[] = {SL_STR_INIT("values")};
    struct sl_json_member f[1];
    const char *path = SL__XL_PATH(&t->x, "embeddings[%zu]", i);
    int rc = sl__xl_read(&t->x, path, e, keys, 1, f, NULL, NULL);
    if (rc != SL_OK)
        return rc;
    if (f[0].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, path, "values: expected an array");
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "object", SL_STRLIT("embedding"));
    sl_jw_kint(&t->w, "index", (int64_t)i);
    sl_jw_key(&t->w, SL_STRLIT("embedding"));
    rc = b64 ? values_base64(t, &f[0], path) : values_float(t, &f[0], path);
    if (rc != SL_OK)
        return rc;
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

static int translate_response(struct e2g *t, const struct sl_json_member *m, struct sl_usage *usage)
{
    static const struct sl_str ukeys[] = {SL_STR_INIT("promptTokenCount")};
    struct sl__xl_it it;
    struct sl_json_member v, u[1];
    bool b64 = wants_base64(t->c);
    uint64_t tokens = 0;
    size_t i = 0;
    int rc;
    if (m[0].type != SL_JSON_ARRAY)
        return sl__xl_fail(&t->x, "embeddings", "expected an array");
    if (sl__xl_has(&m[1])) {
        if ((rc = sl__xl_read(&t->x, "usageMetadata", &m[1], ukeys, 1, u, NULL, NULL)) != SL_OK)
            return rc;
        if (sl__xl_has(&u[0]) && sl__xl_uint(&u[0], &tokens) != SL_OK)
            return sl__xl_fail(&t->x, "usageMetadata.promptTokenCount", "expected a count");
        usage->input_tokens = (int64_t)tokens;
        usage->output_tokens = 0;
    }
    sl_jw_obj(&t->w);
    sl_jw_kstr(&t->w, "object", SL_STRLIT("list"));
    sl_jw_key(&t->w, SL_STRLIT("data"));
    sl_jw_arr(&t->w);
    sl__xl_iter(&it, &m[0]);
    for (; sl__xl_next(&it, NULL, &v) == 1; i++)
        if ((rc = embedding(t, &v, i, b64)) != SL_OK)
            return rc;
    sl_jw_arr_end(&t->w);
    sl_jw_kstr(&t->w, "model", t->c->alias);
    sl_jw_key(&t->w, SL_STRLIT("usage"));
    sl_jw_obj(&t->w);
    sl_jw_kint(&t->w, "prompt_tokens", (int64_t)tokens);
    sl_jw_kint(&t->w, "total_tokens", (int64_t)tokens);
    sl_jw_obj_end(&t->w);
    sl_jw_obj_end(&t->w);
    return SL_OK;
}

int sl__xlate_gemini_to_embeddings_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                            struct sl_buf *out, struct sl_usage *usage, char *why,
                                            size_t whylen)
{
    static const struct sl_str keys[] = {SL_STR_INIT("embeddings"), SL_STR_INIT("usageMetadata")};
    struct e2g *t = sl_xmalloc(sizeof(*t));
    size_t mark = out->len;
    int rc;
    t->c = c;
    sl__xl_init(&t->x, why, whylen, 0);
    sl_jw_init(&t->w, out);
    *usage = SL_USAGE_UNKNOWN;
    rc = sl__xl_read_doc(&t->x, body, keys, 2, t->m, NULL, NULL);
    if (rc == SL_OK)
        rc = translate_response(t, t->m, usage);
    if (rc == SL_OK)
        rc = sl_jw_finish(&t->w);
    if (rc != SL_OK)
        out->len = mark;
    if (rc == SL_E2BIG)
        sl__xl_fail(&t->x, "", "the translated response exceeds the size limit");
    sl__xl_dispose(&t->x);
    free(t);
    return rc;
}
