/* The driver the translation fuzz targets share (fuzz_xlate_*.c). The first input byte picks
 * what runs on the rest:
 *   bits 0-1  0: the request translator, 1: the response translator, 2-3: the stream stage
 *   bit 2     include_usage        bit 3  anthropic_no_sampling
 *   bit 4     a small output cap (request/response: 0-255 bytes, from the next byte), so the
 *             writer's sticky cap is reached at every point
 *   bit 5     the upstream model is a Claude model on Bedrock (the Bedrock pairs read it)
 *   bit 6     the caller sent anthropic-beta, and asked for base64 embeddings
 * Pairs composed through chat run through sl_xlate_request/response/stream, as the pipeline runs
 * them. Oracles (fuzz_xlate_check.h): a translation either fails cleanly (SL_EPARSE with a
 * reason, SL_E2BIG, or for a response SL_ERR with a reason: a refusal such as Gemini's blocked
 * prompt, and nothing left in the output) or writes JSON that the strict validator and jansson
 * accept, within the cap; a stream stage's events are valid JSON and follow the caller dialect's
 * grammar, and exactly one end or error reaches the sink. */
#ifndef SL_FUZZ_XLATE_COMMON_H
#define SL_FUZZ_XLATE_COMMON_H

#include <stdint.h>
#include <string.h>

#include "fuzz_xlate_check.h"
#include "sluice/sse.h"

struct xfeed {
    struct sl_filter *stage;
    int rc;
};

static int xfeed_event(void *ud, const struct sl_sse_event *ev)
{
    struct xfeed *f = ud;
    struct sl_sevent e = {.name = ev->event, .data = ev->data, .raw = ev->raw};
    if (f->rc != SL_OK || !ev->has_data)
        return 0;
    f->rc = sl_filter_event(f->stage, &e);
    CHECK(f->rc == SL_OK || f->rc == SL_DONE);
    return 0;
}

static void xfuzz_json(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c, bool request,
                       struct sl_str in, size_t cap)
{
    struct sl_buf out;
    struct sl_usage usage;
    char why[256];
    int rc;
    memset(why, 0x55, sizeof(why));
    sl_buf_init(&out, cap);
    if (request)
        rc = sl_xlate_request(p, c, in, &out, why, sizeof(why));
    else
        rc = sl_xlate_response(p, c, in, &out, &usage, why, sizeof(why));
    CHECK(out.len <= cap);
    if (rc == SL_OK && !request && p->to == SL_WIRE_BEDROCK_ANTHROPIC) {
        xcheck_passed_json(sl_buf_str(&out));
    } else if (rc == SL_OK) {
        xcheck_json(sl_buf_str(&out));
    } else {
        /* SL_ERR: a response that refuses the request (Gemini's blocked prompt) */
        CHECK(rc == SL_EPARSE || rc == SL_E2BIG || (rc == SL_ERR && !request));
        CHECK(out.len == 0);
        CHECK(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0');
    }
    if (rc == SL_OK && !request)
        CHECK(usage.input_tokens >= -1 && usage.output_tokens >= -1);
    sl_buf_dispose(&out);
}

static void xfuzz_stream(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                         bool anthropic_out, struct sl_str in)
{
    h2o_mem_pool_t pool;
    struct xcheck_sink sink;
    struct sl_usage usage;
    struct sl_sse_parser sse;
    h2o_mem_init_pool(&pool);
    xcheck_sink_init(&sink, anthropic_out, c->include_usage, "alias");
    sink.passthrough = p->to == SL_WIRE_BEDROCK_ANTHROPIC;
    struct xfeed f = {.stage = sl_xlate_stream(p, &pool, c, &usage, &sink.super), .rc = SL_OK};
    sl_sse_init(&sse, 1 << 20, false);
    if (sl_sse_feed(&sse, in.ptr, in.len, xfeed_event, &f) == SL_OK)
        sl_sse_finish(&sse, xfeed_event, &f);
    if (f.rc == SL_OK)
        CHECK(sl_filter_end(f.stage) == SL_OK);
    xcheck_sink_done(&sink);
    sl_sse_dispose(&sse);
    sl_buf_dispose(&sink.text);
    h2o_mem_clear_pool(&pool);
}

static void xfuzz_run(enum sl_wire from, enum sl_wire to, const uint8_t *data, size_t size)
{
    const struct sl_xlate_pair *p = sl_xlate_for(from, to);
    CHECK(p != NULL);
    if (size < 2)
        return;
    uint8_t sel = data[0];
    size_t cap = (sel & 0x10) != 0 ? data[1] : (size_t)1 << 22;
    struct sl_xlate_ctx c = {
        .alias = SL_STRLIT("alias"),
        .upstream_model = SL_STRLIT("upstream"),
        .stream = (sel & 3) >= 2,
        .include_usage = (sel & 0x04) != 0,
        .id_seed = SL_STRLIT("seed"),
        .created = 1,
        .anthropic_no_sampling = (sel & 0x08) != 0,
        .anthropic_beta = (sel & 0x40) != 0 ? SL_STRLIT("b1, ,b2") : SL_STR_NULL,
        .caller_body =
            (sel & 0x40) != 0 ? SL_STRLIT("{\"encoding_format\":\"base64\"}") : SL_STR_NULL,
    };
    if ((sel & 0x20) != 0)
        c.upstream_model = SL_STRLIT("eu.anthropic.claude-3-7-sonnet-20250219-v1:0");
    struct sl_str in = sl_str_init((const char *)data + 2, size - 2);
    switch (sel & 3) {
    case 0:
        xfuzz_json(p, &c, true, in, cap);
        break;
    case 1:
        xfuzz_json(p, &c, false, in, cap);
        break;
    default:
        /* from is the caller's dialect: the stream goes back to it (embeddings do not stream:
           their response translator runs instead) */
        if (p->stream == NULL && p->via[0] == NULL)
            xfuzz_json(p, &c, false, in, cap);
        else
            xfuzz_stream(p, &c, from == SL_WIRE_ANTHROPIC, in);
        break;
    }
}

#endif
