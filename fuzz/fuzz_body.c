/* Request-body inspection and rewrite: for every endpoint, a body that passes inspection must
 * splice into valid JSON whose "model" is the new id and, for streams, whose
 * stream_options.include_usage is true. Duplicate member names are judged independently of
 * Sluice's key set: jansson keeps one member per distinct name, so an object it loads with
 * fewer members than the document spells out had a repeated name. A body passes inspection
 * exactly when neither its top level nor its stream_options object repeats one. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sl_call *b, bool stream)
{
    static const struct sl_str model_json = SL_STR_INIT("\"upstream-\\u00e9\"");
    struct sl_splice sp;
    struct sl_buf out;
    sl_body_rewrite(b, model_json, stream, &sp);
    sl_buf_init(&out, b->body.len * 2 + 256);
    SL_ASSERT(sl_splice_append(&sp, &out) == SL_OK);
    static const struct sl_str keys[] = {SL_STR_INIT("model"), SL_STR_INIT("stream_options")};
    struct sl_json_member m[2];
    SL_ASSERT(sl_json_scan_object(sl_buf_str(&out), SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) ==
              SL_OK);
    SL_ASSERT(m[0].type == SL_JSON_STRING && sl_str_eq(m[0].value, model_json));
    if (stream) {
        struct sl_json_member iu;
        SL_ASSERT(m[1].type == SL_JSON_OBJECT);
        SL_ASSERT(sl_json_find(m[1].value, SL_STRLIT("include_usage"), &iu) == SL_OK);
        SL_ASSERT(iu.type == SL_JSON_TRUE);
    }
    sl_buf_dispose(&out);
}

/* Members the document spells out in obj (a JSON object), counted by a plain walk. */
static size_t spelled_members(struct sl_str obj)
{
    struct sl_json_iter it;
    struct sl_json_member m;
    struct sl_json_key k;
    size_t n = 0;
    SL_ASSERT(sl_json_iter_init(&it, obj, SL_JSON_MAX_DEPTH) == SL_OK);
    while (sl_json_iter_next(&it, &k, &m) == 1)
        n++;
    return n;
}

/* 1 when the top level or stream_options repeats a name, 0 when not, -1 when jansson cannot
 * say (it refused the document, e.g. a NUL in a key, or it is not an object). */
static int has_duplicates(struct sl_str body)
{
    json_error_t err;
    json_t *root = json_loadb(body.ptr, body.len, 0, &err);
    int verdict = -1;
    if (root == NULL || !json_is_object(root))
        goto out;
    struct sl_json_member so;
    if (json_object_size(root) != spelled_members(body)) {
        verdict = 1;
        goto out;
    }
    verdict = 0;
    json_t *jso = json_object_get(root, "stream_options");
    if (json_is_object(jso) && sl_json_find(body, SL_STRLIT("stream_options"), &so) == SL_OK &&
        json_object_size(jso) != spelled_members(so.value))
        verdict = 1;
out:
    json_decref(root);
    return verdict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str body = sl_str_init((const char *)data, size);
    int dup = -1;
    /* Duplicates are judged on valid JSON only: in a broken document the first problem found
     * (a repeated name, or the break after it) is reported, either way a 400. */
    bool dup_known = sl_json_validate(body, SL_JSON_DEFAULT_MAX_DEPTH, NULL) != SL_OK;
    for (int ep = SL_OP_CHAT; ep <= SL_OP_EMBEDDINGS; ep++) {
        struct sl_call b;
        char why[200];
        int rc = sl_body_inspect(body, (enum sl_op)ep, &b, why, sizeof(why));
        bool said_dup = rc != SL_OK && strncmp(why, "duplicate key", 13) == 0;
        if (!dup_known && (rc == SL_OK || said_dup)) {
            dup = has_duplicates(body);
            dup_known = true;
        }
        if (dup != -1 && (rc == SL_OK || said_dup))
            SL_ASSERT(said_dup == (dup == 1));
        if (rc != SL_OK) {
            SL_ASSERT(strlen(why) > 0);
            continue;
        }
        check(&b, false);
        check(&b, true);
    }
    return 0;
}
