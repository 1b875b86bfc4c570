/* Request-body inspection and rewrite: for every endpoint, a body that passes inspection must
 * splice into valid JSON whose "model" is the new id and, for streams, whose
 * stream_options.include_usage is true. */
#include <stdint.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sl_body *b, bool stream)
{
    static const struct sl_str model_json = SL_STR_INIT("\"upstream-\\u00e9\"");
    struct sl_splice sp;
    struct sl_buf out;
    bool wants;
    sl_body_rewrite(b, model_json, stream, &sp, &wants);
    sl_buf_init(&out, b->raw.len * 2 + 256);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str body = sl_str_init((const char *)data, size);
    for (int ep = SL_EP_CHAT; ep <= SL_EP_EMBEDDINGS; ep++) {
        struct sl_body b;
        char why[200];
        if (sl_body_inspect(body, (enum sl_endpoint)ep, &b, why, sizeof(why)) != SL_OK) {
            SL_ASSERT(strlen(why) > 0);
            continue;
        }
        check(&b, false);
        check(&b, true);
    }
    return 0;
}
