/* Feeds arbitrary bytes to the RESP reader (src/upstream/resp.c: hiredis's parser with Sluice's
 * capped reply objects) whole, byte by byte and in pieces cut by the input itself: the three
 * must produce the same replies and the same verdict, and no reply may pass a cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A canonical text of a reply, to compare runs. */
static void dump(struct sl_buf *b, const struct sl_redis_reply *r, unsigned depth)
{
    CHECK(depth < 16);
    sl_buf_appendf(b, "%d:", (int)r->type);
    switch (r->type) {
    case SL_REDIS_ARRAY:
        CHECK(r->n <= SL_RESP_MAX_ELEMENTS);
        sl_buf_appendf(b, "[%zu", r->n);
        for (size_t i = 0; i < r->n; i++) {
            CHECK(r->elements[i] != NULL);
            dump(b, r->elements[i], depth + 1);
        }
        sl_buf_append(b, "]", 1);
        break;
    case SL_REDIS_INTEGER:
        sl_buf_appendf(b, "%lld;", (long long)r->integer);
        break;
    case SL_REDIS_NIL:
        break;
    default:
        CHECK(r->str.len <= SL_RESP_MAX_STRING && r->str.ptr[r->str.len] == '\0');
        sl_buf_appendf(b, "%zu;", r->str.len);
        sl_buf_append(b, r->str.ptr, r->str.len);
        break;
    }
}

/* Returns the verdict: 0 all parsed (SL_AGAIN at the end), else the error. */
static int run(const uint8_t *data, size_t size, int mode, struct sl_buf *out)
{
    struct sl_resp_reader *r = sl_resp_reader_new();
    size_t at = 0;
    int verdict = SL_OK;
    while (at < size && verdict == SL_OK) {
        size_t step = mode == 0 ? size : mode == 1 ? 1u : 1u + data[at] % 7u;
        step = SL_MIN(step, size - at);
        if (sl_resp_feed(r, (const char *)data + at, step) != SL_OK) {
            verdict = SL_E2BIG;
            break;
        }
        at += step;
        for (;;) {
            struct sl_redis_reply *reply;
            const char *why;
            int rc = sl_resp_next(r, &reply, &why);
            if (rc == SL_AGAIN)
                break;
            if (rc != SL_OK) {
                CHECK(why != NULL);
                verdict = SL_EPARSE;
                break;
            }
            dump(out, reply, 0);
            sl_buf_append(out, "\n", 1);
            sl_redis_reply_free(reply);
        }
    }
    sl_resp_reader_free(r);
    return verdict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_buf a, b, c;
    sl_buf_init(&a, 64u << 20);
    sl_buf_init(&b, 64u << 20);
    sl_buf_init(&c, 64u << 20);
    int va = run(data, size, 0, &a), vb = run(data, size, 1, &b), vc = run(data, size, 2, &c);
    CHECK(va == vb && vb == vc);
    CHECK(sl_str_eq(sl_buf_str(&a), sl_buf_str(&b)) && sl_str_eq(sl_buf_str(&b), sl_buf_str(&c)));
    sl_buf_dispose(&a);
    sl_buf_dispose(&b);
    sl_buf_dispose(&c);
    return 0;
}
