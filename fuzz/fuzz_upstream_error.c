/* Fuzz target for what a caller sees of an upstream's 4xx body (src/api/proxy.c,
 * finish_error_body): the provider's error reduced to message and code
 * (sl_provider_openai.parse_error, sl_json_unescape) and re-rendered in Sluice's OpenAI envelope
 * (sl_error_envelope). The steps between those library calls are static in proxy.c, so they are
 * restated here line for line; keep them in step. Checks: the envelope is valid JSON (jansson,
 * strict UTF-8) holding exactly the unescaped message and the code. (2xx bodies and stream
 * events go through sl_chunk_plan, fuzzed by fuzz_chunk.) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/dialect.h"
#include "sluice/h2o.h"
#include "sluice/json.h"
#include "sluice/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* proxy.c: MAX_ERROR_BODY_BYTES; the unescaped message buffer in finish_error_body. */
#define MAX_ERROR_BODY_BYTES (64u * 1024)
#define MESSAGE_CAP          1024

/* The code as finish_error_body renders it: a string code unescaped, any other raw. */
static void render_code(const struct sl_upstream_error_info *info, char *code, size_t cap)
{
    struct sl_buf cb;
    code[0] = '\0';
    sl_buf_init(&cb, cap - 1);
    if (info->code.len != 0 && info->code.ptr[0] == '"' &&
        sl_json_unescape(info->code, &cb) == SL_OK)
        snprintf(code, cap, "%.*s", (int)cb.len, cb.ptr);
    else if (info->code.len != 0 && info->code.len < cap)
        snprintf(code, cap, "%.*s", (int)info->code.len, info->code.ptr);
    sl_buf_dispose(&cb);
}

/* finish_error_body: the caller sees the upstream's message and code in Sluice's envelope. */
static void check_error_body(struct sl_str body)
{
    struct sl_upstream_error_info info;
    struct sl_buf msg;
    h2o_mem_pool_t pool;
    char code[128];
    body.len = SL_MIN(body.len, MAX_ERROR_BODY_BYTES);
    sl_buf_init(&msg, MESSAGE_CAP);
    if (!sl_provider_openai.parse_error(body, &info) ||
        sl_json_unescape(info.message, &msg) != SL_OK) {
        sl_buf_dispose(&msg);
        return; /* "upstream returned N": nothing of the body reaches the caller */
    }
    CHECK(info.message.len >= 2 && info.message.ptr[0] == '"');
    render_code(&info, code, sizeof(code));
    h2o_mem_init_pool(&pool);
    struct sl_str env =
        sl_openai_error_body(&pool, "upstream_error", code[0] ? code : NULL, sl_buf_str(&msg));
    {
        json_error_t jerr;
        json_t *root = json_loadb(env.ptr, env.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (root == NULL)
            fprintf(stderr, "fuzz_upstream_error: invalid envelope (%s): %.*s\n", jerr.text,
                    (int)env.len, env.ptr);
        CHECK(root != NULL);
        json_t *e = json_object_get(root, "error");
        json_t *m = json_object_get(e, "message");
        CHECK(json_is_string(m) && json_string_length(m) == msg.len &&
              (msg.len == 0 || memcmp(json_string_value(m), msg.ptr, msg.len) == 0));
        CHECK(json_is_string(json_object_get(e, "type")));
        json_t *c = json_object_get(e, "code");
        CHECK(json_is_string(c) &&
              strcmp(json_string_value(c), code[0] == '\0' ? "upstream_error" : code) == 0);
        json_decref(root);
    }
    h2o_mem_clear_pool(&pool);
    sl_buf_dispose(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_error_body(sl_str_init((const char *)data, size));
    return 0;
}
