/* Micro-benchmark for the two per-request parsers: sl_json_scan_object on a ~1 KiB chat request
 * (keys model, stream, stream_options, messages) and sl_sse_feed on a 64-event OpenAI-style
 * stream fed in pieces of 1-3 whole events (what upstream reads look like), plus the same
 * stream cut every 700 bytes (events straddle reads, so the copying path runs too).
 *
 * Not built by default. Build and run from the repository root:
 *
 *   gcc -O2 -std=c17 -D_GNU_SOURCE -Iinclude bench/micro/json_sse_bench.c src/base/json.c \
 *       src/stream/sse.c src/base/buf.c src/base/str.c src/base/alloc.c -o /tmp/json_sse_bench
 *   /tmp/json_sse_bench            # wall-clock: ns per operation and MB/s (median of 7 runs)
 *
 * Repeatable instruction counts (STYLE: compare versions with callgrind, not the clock):
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/json_sse_bench 1000
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'sl_json_scan_object|sl_sse_feed'
 *
 * and divide the inclusive Ir by the call counts the program prints (with an argument it runs
 * that many iterations once, without timing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/base.h"
#include "sluice/json.h"
#include "sluice/sse.h"

static const char chat_request[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
    "concise assistant for an online bookshop. Answer in at most three sentences, cite the "
    "catalogue number when you mention a book, and never invent prices.\"},{\"role\":\"user\","
    "\"content\":\"Hi! I am looking for a gift for my father, who loves naval history and "
    "long biographies. He already has most of Patrick O'Brian. What would you suggest?\"},"
    "{\"role\":\"assistant\",\"content\":\"You could try \\\"The Wager\\\" by David Grann "
    "(cat. 4471), a gripping account of an 18th-century shipwreck and mutiny, or \\\"Nelson: "
    "Britannia's God of War\\\" by Andrew Lambert (cat. 2093).\"},{\"role\":\"user\","
    "\"content\":\"The Wager sounds great. Is there a hardcover edition, and could you gift-wrap "
    "it? Also, does it ship to Lyon \\u2014 France?\"}],\"stream\":true,\"stream_options\":"
    "{\"include_usage\":true},\"temperature\":0.3,\"max_tokens\":300,\"top_p\":1,"
    "\"presence_penalty\":0,\"frequency_penalty\":0,\"user\":\"shop-frontend-7f3a\","
    "\"metadata\":{\"session\":\"b1946ac92492d2347c6235b4d2611184\",\"channel\":\"web\"}}";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile size_t sink;

static void scan_once(void)
{
    static const struct sl_str keys[] = {
        {"model", 5}, {"stream", 6}, {"stream_options", 14}, {"messages", 8}};
    struct sl_json_member out[4];
    struct sl_json_error err;
    struct sl_str doc = {chat_request, sizeof(chat_request) - 1};
    if (sl_json_scan_object(doc, SL_JSON_DEFAULT_MAX_DEPTH, keys, 4, out, &err) != SL_OK ||
        out[3].count != 4) {
        fprintf(stderr, "scan failed: %s at %zu\n", err.why, err.at);
        exit(1);
    }
    sink += out[0].value.len;
}

/* ---- SSE ---- */

#define EVENTS 64

static char stream[EVENTS * 400];
static size_t stream_len;
static size_t event_end[EVENTS]; /* offset after each event */

static void build_stream(void)
{
    static const char *const words[] = {"The",        " Wager", " is",   " available", " in",
                                        " hardcover", " (cat.", " 4471", ")",          " and",
                                        " ships",     " to",    " Lyon", ".",          " Gift",
                                        "-wrapping",  " is",    " free", "!"};
    size_t n = 0;
    for (int i = 0; i < EVENTS; i++) {
        int w;
        if (i == 0)
            w = snprintf(stream + n, sizeof(stream) - n,
                         "data: {\"id\":\"chatcmpl-AbC123xYz\",\"object\":\"chat.completion."
                         "chunk\",\"created\":1732867200,\"model\":\"gpt-4o-mini-2024-07-18\","
                         "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
                         "\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                         "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        else if (i == EVENTS - 2)
            w = snprintf(stream + n, sizeof(stream) - n,
                         "data: {\"id\":\"chatcmpl-AbC123xYz\",\"object\":\"chat.completion."
                         "chunk\",\"created\":1732867200,\"model\":\"gpt-4o-mini-2024-07-18\","
                         "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[],\"usage\":{"
                         "\"prompt_tokens\":187,\"completion_tokens\":61,\"total_tokens\":248}}"
                         "\n\n");
        else if (i == EVENTS - 1)
            w = snprintf(stream + n, sizeof(stream) - n, "data: [DONE]\n\n");
        else
            w = snprintf(stream + n, sizeof(stream) - n,
                         "data: {\"id\":\"chatcmpl-AbC123xYz\",\"object\":\"chat.completion."
                         "chunk\",\"created\":1732867200,\"model\":\"gpt-4o-mini-2024-07-18\","
                         "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
                         "\"delta\":{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":"
                         "null}]}\n\n",
                         words[i % (int)SL_ARRAY_LEN(words)]);
        n += (size_t)w;
        event_end[i] = n;
    }
    stream_len = n;
}

struct counts {
    size_t events, in_place;
    const char *buf;
    size_t len;
};

static int on_event(void *ud, const struct sl_sse_event *ev)
{
    struct counts *c = ud;
    c->events++;
    if (ev->raw.ptr >= c->buf && ev->raw.ptr + ev->raw.len <= c->buf + c->len)
        c->in_place++;
    return 0;
}

/* Feeds the stream in pieces of 1, 2, 3, 1, 2, 3, ... whole events. Returns the feed calls. */
static size_t feed_events(struct counts *c)
{
    struct sl_sse_parser p;
    size_t at = 0, calls = 0;
    int i = 0, k = 0;
    sl_sse_init(&p, 1 << 16, false);
    while (i < EVENTS) {
        int take = 1 + k++ % 3;
        i = i + take > EVENTS ? EVENTS : i + take;
        size_t to = event_end[i - 1];
        c->buf = stream + at;
        c->len = to - at;
        if (sl_sse_feed(&p, stream + at, to - at, on_event, c) != SL_OK)
            exit(1);
        calls++;
        at = to;
    }
    sl_sse_dispose(&p);
    return calls;
}

/* Feeds the stream in 700-byte reads that ignore event boundaries. */
static size_t feed_cut(struct counts *c)
{
    struct sl_sse_parser p;
    size_t calls = 0;
    sl_sse_init(&p, 1 << 16, false);
    for (size_t at = 0; at < stream_len; at += 700) {
        size_t n = SL_MIN(700, stream_len - at);
        c->buf = stream + at;
        c->len = n;
        if (sl_sse_feed(&p, stream + at, n, on_event, c) != SL_OK)
            exit(1);
        calls++;
    }
    sl_sse_dispose(&p);
    return calls;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median over 7 runs of the nanoseconds per call of fn, each run iters calls long. */
static double time_ns(void (*fn)(void), size_t iters)
{
    uint64_t runs[7];
    for (size_t r = 0; r < 7; r++) {
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < iters; i++)
            fn();
        runs[r] = now_ns() - t0;
    }
    qsort(runs, 7, sizeof(runs[0]), cmp_u64);
    return (double)runs[3] / (double)iters;
}

static struct counts sse_counts;

static void sse_events_once(void)
{
    feed_events(&sse_counts);
}

static void sse_cut_once(void)
{
    feed_cut(&sse_counts);
}

int main(int argc, char **argv)
{
    build_stream();
    if (argc > 1) {
        /* Fixed work for callgrind: no timing, just the calls. */
        size_t iters = strtoul(argv[1], NULL, 10), feeds = 0;
        for (size_t i = 0; i < iters; i++)
            scan_once();
        for (size_t i = 0; i < iters; i++)
            feeds += feed_events(&sse_counts);
        printf("scan_object calls: %zu; sse stream passes: %zu (%zu feed calls, %zu events, "
               "%zu delivered in place)\n",
               iters, iters, feeds, sse_counts.events, sse_counts.in_place);
        return 0;
    }
    double doc_mb = (double)(sizeof(chat_request) - 1) / 1e6;
    double ns = time_ns(scan_once, 200000);
    printf("json scan_object: %zu-byte request, 4 keys: %.1f ns/op, %.0f MB/s\n",
           sizeof(chat_request) - 1, ns, doc_mb / (ns / 1e9));

    double stream_mb = (double)stream_len / 1e6;
    memset(&sse_counts, 0, sizeof(sse_counts));
    size_t feeds = feed_events(&sse_counts);
    printf("sse stream: %d events, %zu bytes, %zu feeds of 1-3 events; %zu of %zu events "
           "delivered in place (zero-copy)\n",
           EVENTS, stream_len, feeds, sse_counts.in_place, sse_counts.events);
    ns = time_ns(sse_events_once, 20000);
    printf("sse_feed, 1-3 event pieces: %.0f ns/stream, %.1f ns/event, %.1f ns/feed, %.0f MB/s\n",
           ns, ns / EVENTS, ns / (double)feeds, stream_mb / (ns / 1e9));
    memset(&sse_counts, 0, sizeof(sse_counts));
    feeds = feed_cut(&sse_counts);
    printf("sse stream cut every 700 bytes: %zu feeds; %zu of %zu events delivered in place\n",
           feeds, sse_counts.in_place, sse_counts.events);
    ns = time_ns(sse_cut_once, 20000);
    printf("sse_feed, 700-byte pieces: %.0f ns/stream, %.1f ns/event, %.0f MB/s\n", ns, ns / EVENTS,
           stream_mb / (ns / 1e9));
    return (int)(sink & 0);
}
