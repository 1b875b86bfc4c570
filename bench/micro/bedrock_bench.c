/* Micro-benchmark for the Bedrock path: what an OpenAI SDK caller reaching a Bedrock model costs
 * Sluice beyond a plain OpenAI passthrough.
 *
 * - the request: a ~1 KiB chat request translated to Converse (sl__xlate_chat_to_converse_request)
 *   and the Bedrock family's request head with its SigV4 signature (build_request: the path, the
 *   body hash, the canonical request, one HMAC with a warm per-thread key);
 * - the reply: a ~1 KiB Converse reply translated to chat.completion;
 * - the stream, per event: one contentBlockDelta frame decoded from AWS's event stream
 *   (sl_eventstream_feed) and translated to a chat chunk (the ConverseStream stage), and the two
 *   halves apart, to show what the binary framing adds to the gap between two events.
 *
 * Not built by default. Build and run from the repository root:
 *
 *   cmake --build build --target sluice_core   # the families now need the upstream client
 *   gcc -O2 -std=c17 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Iinclude -Ibuild/gen \
 *       bench/micro/bedrock_bench.c build/libsluice_core.a \
 *       $(pkg-config --cflags --libs libh2o-evloop openssl zlib yaml-0.1 jansson) -lpthread -lm \
 *       -o /tmp/bedrock_bench
 *   /tmp/bedrock_bench           # CPU ns per operation (median of 7 runs)
 *
 * Repeatable instruction counts (compare versions with callgrind, not the clock):
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/bedrock_bench 1000
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'sl__xlate|build_request|feed'
 *
 * and divide the inclusive Ir by the call counts the program prints. Figures are in
 * docs/benchmarks.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/eventstream.h"
#include "sluice/filter.h"
#include "sluice/provider.h"
#include "sluice/xlate.h"

/* 1,0xx bytes: a system prompt, three turns, one tool and the usual knobs. */
static const char chat_request[] =
    "{\"model\":\"claude-for-shop\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
    "concise assistant for an online bookshop. Answer in at most three sentences, cite the "
    "catalogue number when you mention a book, and never invent prices.\"},{\"role\":\"user\","
    "\"content\":\"Hi! I am looking for a gift for my father, who loves naval history and "
    "long biographies. He already has most of Patrick O'Brian. What would you suggest?\"},"
    "{\"role\":\"assistant\",\"content\":\"You could try \\\"The Wager\\\" by David Grann "
    "(cat. 4471), a gripping account of an 18th-century shipwreck and mutiny.\"},"
    "{\"role\":\"user\",\"content\":\"The Wager sounds great. Is there a hardcover edition, "
    "and does it ship to Lyon \\u2014 France?\"}],\"tools\":[{\"type\":\"function\",\"function\":"
    "{\"name\":\"stock\",\"description\":\"Stock and shipping for a catalogue number\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"cat\":{\"type\":\"integer\"},"
    "\"country\":{\"type\":\"string\"}},\"required\":[\"cat\"]}}}],\"tool_choice\":\"auto\","
    "\"stream\":false,\"temperature\":0.3,\"max_tokens\":300,\"top_p\":1,\"stop\":[\"###\"],"
    "\"user\":\"shop-frontend-7f3a\",\"seed\":7}";

/* 1,0xx bytes: text and two tool uses, with cache usage. */
static const char converse_reply[] =
    "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Yes \\u2014 "
    "\\\"The Wager\\\" by David Grann (cat. 4471) is available in hardcover, and we ship to "
    "France, including Lyon. Delivery usually takes three to five working days, and gift "
    "wrapping can be added at checkout. If you would like a second title, \\\"Nelson: "
    "Britannia's God of War\\\" by Andrew Lambert (cat. 2093) pairs well with it and covers the "
    "Royal Navy's most famous admiral in depth. Let me check current stock for both so you can "
    "order today.\"},{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\",\"name\":"
    "\"stock\",\"input\":{\"cat\":4471,\"country\":\"FR\"}}},{\"toolUse\":{\"toolUseId\":"
    "\"tooluse_QbG3d0NnQSy3Lh9Wvc0y2A\",\"name\":\"stock\",\"input\":{\"cat\":2093,"
    "\"country\":\"FR\"}}}]}},\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":412,"
    "\"outputTokens\":118,\"totalTokens\":2066,\"cacheReadInputTokens\":1536,"
    "\"cacheWriteInputTokens\":0},\"metrics\":{\"latencyMs\":2187}}";

/* A contentBlockDelta as Bedrock sends it ("p" is its padding). */
static const char delta_payload[] =
    "{\"contentBlockIndex\":0,\"delta\":{\"text\":\" the tram 28\"},\"p\":"
    "\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU\"}";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile size_t sink_bytes;

static struct sl_xlate_ctx ctx = {
    .alias = SL_STRLIT("claude-for-shop"),
    .alias_json = SL_STRLIT("\"claude-for-shop\""),
    .upstream_model = SL_STRLIT("us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
    .id_seed = SL_STRLIT("4f66b5de-1cc3-4e60-abfc-25987a349528"),
    .created = 1767225600,
};

/* ---- the stream's last stage: counts what an encoder would write ---- */

static int sink_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    SL_UNUSED(f);
    sink_bytes += ev->data.len;
    return SL_OK;
}

static int sink_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    SL_UNUSED(f);
    SL_UNUSED(e);
    fprintf(stderr, "stream error\n");
    exit(1);
}

static int sink_end(struct sl_filter *f)
{
    SL_UNUSED(f);
    return SL_OK;
}

static const struct sl_filter_ops sink_ops = {sink_event, sink_error, sink_end};
static struct sl_filter sink = {&sink_ops, NULL};

/* ---- operations ---- */

static const struct sl_xlate_pair *pair;
static h2o_mem_pool_t pool;        /* request memory, cleared now and then */
static h2o_mem_pool_t stream_pool; /* the stream stage's, for the whole run */
static struct sl_filter *stage;
static struct sl_usage usage;
static size_t counter;

static void op_request(void)
{
    struct sl_buf out;
    char why[128];
    sl_buf_init(&out, 1 << 20);
    if (pair->request(&ctx, SL_STRLIT(chat_request), &out, why, sizeof(why)) != SL_OK) {
        fprintf(stderr, "request: %s\n", why);
        exit(1);
    }
    sink_bytes += out.len;
    sl_buf_dispose(&out);
}

static void op_response(void)
{
    struct sl_buf out;
    char why[128];
    sl_buf_init(&out, 1 << 20);
    if (pair->response(&ctx, SL_STRLIT(converse_reply), &out, &usage, why, sizeof(why)) != SL_OK) {
        fprintf(stderr, "response: %s\n", why);
        exit(1);
    }
    sink_bytes += out.len;
    sl_buf_dispose(&out);
}

static char aws_akid[] = "AKIAIOSFODNN7EXAMPLE",
            aws_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", aws_region[] = "us-west-2",
            key_name[] = "aws", host[] = "bedrock-runtime.us-west-2.amazonaws.com", no_path[] = "";
static struct sl_aws_key aws = {aws_akid, aws_secret, NULL, aws_region, 1};
static struct sl_provider_key key;

static void op_build_request(void)
{
    h2o_iovec_t body = h2o_iovec_init(chat_request, sizeof(chat_request) - 1);
    struct sl_upstream_call call = {.op = SL_OP_CHAT,
                                    .wire = SL_WIRE_BEDROCK_CONVERSE,
                                    .request_id = ctx.id_seed,
                                    .model = ctx.upstream_model,
                                    .unix_time = 1730794150,
                                    .body = &body,
                                    .nbody = 1,
                                    .body_len = body.len};
    h2o_iovec_t *bufs;
    size_t n;
    sl_provider_bedrock.build_request(&pool, &key, &call, &bufs, &n);
    sink_bytes += bufs[0].len;
    if (++counter % 64 == 0)
        h2o_mem_clear_pool(&pool);
}

static unsigned char frame[512];
static size_t frame_len;

static void put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static size_t put_header(unsigned char *o, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    o[0] = (unsigned char)n;
    memcpy(o + 1, name, n);
    o[1 + n] = 7;
    o[2 + n] = (unsigned char)(v >> 8);
    o[3 + n] = (unsigned char)v;
    memcpy(o + 4 + n, value, v);
    return 4 + n + v;
}

static void build_frame(void)
{
    size_t hl = 0, pl = sizeof(delta_payload) - 1;
    hl += put_header(frame + 12 + hl, ":event-type", "contentBlockDelta");
    hl += put_header(frame + 12 + hl, ":content-type", "application/json");
    hl += put_header(frame + 12 + hl, ":message-type", "event");
    memcpy(frame + 12 + hl, delta_payload, pl);
    frame_len = 12 + hl + pl + 4;
    put32(frame, (uint32_t)frame_len);
    put32(frame + 4, (uint32_t)hl);
    put32(frame + 8, (uint32_t)crc32(0, frame, 8));
    put32(frame + frame_len - 4, (uint32_t)crc32(0, frame, (uInt)(frame_len - 4)));
}

static int to_stage(void *ud, const struct sl_eventstream_message *m)
{
    struct sl_sevent ev = {.name = m->event_type, .data = m->payload, .raw = SL_STR_NULL};
    return ud != NULL ? sl_filter_event(stage, &ev) : (int)(sink_bytes += m->payload.len, 0);
}

static struct sl_eventstream_decoder dec;

static void op_decode_only(void)
{
    if (sl_eventstream_feed(&dec, (const char *)frame, frame_len, to_stage, NULL) != SL_OK)
        exit(1);
}

static void op_stage_only(void)
{
    struct sl_sevent ev = {.name = SL_STRLIT("contentBlockDelta"),
                           .data = SL_STRLIT(delta_payload),
                           .raw = SL_STR_NULL};
    if (sl_filter_event(stage, &ev) != SL_OK)
        exit(1);
}

static void op_decode_and_stage(void)
{
    if (sl_eventstream_feed(&dec, (const char *)frame, frame_len, to_stage, &dec) != SL_OK)
        exit(1);
}

/* A stage in the middle of a message, so every delta is a chunk. */
static void start_stream(void)
{
    struct sl_sevent start = {.name = SL_STRLIT("messageStart"),
                              .data = SL_STRLIT("{\"role\":\"assistant\"}")};
    stage = pair->stream(&stream_pool, &ctx, &usage, &sink);
    if (sl_filter_event(stage, &start) != SL_OK)
        exit(1);
}

struct bench {
    const char *name;
    void (*fn)(void);
    size_t iters;
};

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static const struct bench benches[] = {
        {"chat -> Converse request (1,0xx B)", op_request, 20000},
        {"Bedrock request head + SigV4 (warm key)", op_build_request, 20000},
        {"Converse -> chat.completion (1,0xx B)", op_response, 20000},
        {"stream event: decode frame only", op_decode_only, 200000},
        {"stream event: Converse stage only", op_stage_only, 200000},
        {"stream event: decode + stage", op_decode_and_stage, 200000},
    };
    pair = sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_BEDROCK_CONVERSE);
    key = (struct sl_provider_key){
        .name = key_name,
        .adapter = SL_ADAPTER_BEDROCK,
        .origin = {.tls = true, .host = host, .port = 443, .authority = host, .base_path = no_path},
        .aws = &aws};
    h2o_mem_init_pool(&pool);
    h2o_mem_init_pool(&stream_pool);
    sl_eventstream_init(&dec, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    build_frame();
    start_stream();
    if (argc > 1) { /* callgrind: each operation N times, untimed */
        size_t n = (size_t)strtoul(argv[1], NULL, 10);
        for (size_t b = 0; b < SL_ARRAY_LEN(benches); b++)
            for (size_t i = 0; i < n; i++)
                benches[b].fn();
        printf("each operation %zu times\n", n);
        return 0;
    }
    for (size_t b = 0; b < SL_ARRAY_LEN(benches); b++) {
        double runs[7];
        for (size_t r = 0; r < 7; r++) {
            uint64_t t0 = now_ns();
            for (size_t i = 0; i < benches[b].iters; i++)
                benches[b].fn();
            runs[r] = (double)(now_ns() - t0) / (double)benches[b].iters;
        }
        qsort(runs, 7, sizeof(runs[0]), cmp);
        printf("%-42s %8.0f ns  (min %.0f)\n", benches[b].name, runs[3], runs[0]);
    }
    return 0;
}
