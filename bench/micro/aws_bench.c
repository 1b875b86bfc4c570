/* Micro-benchmark for the two AWS building blocks of the Bedrock upstreams:
 *
 * - sl_sigv4_sign on a 939-byte Converse request (the body of
 *   tests/unit/fixtures/sigv4/bedrock/body.json) with a warm signing-key cache: what every
 *   request to Bedrock will pay (body SHA-256, canonical request SHA-256, one HMAC);
 * - sl_eventstream_feed on a ConverseStream-shaped stream of 64 contentBlockDelta messages with
 *   ~100-byte JSON payloads, fed in pieces of 1-3 whole messages (delivered in place), and the
 *   same stream cut every 700 bytes (messages straddle reads and are gathered).
 *
 * Not built by default. Build and run from the repository root:
 *
 *   gcc -O2 -std=c17 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Iinclude bench/micro/aws_bench.c \
 *       src/providers/sigv4.c src/stream/eventstream.c src/base/buf.c src/base/str.c \
 *       src/base/alloc.c $(pkg-config --cflags --libs libh2o-evloop openssl zlib) \
 *       -o /tmp/aws_bench
 *   /tmp/aws_bench            # CPU ns per operation (median of 7 runs)
 *
 * Repeatable instruction counts (compare versions with callgrind, not the clock):
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/aws_bench 1000
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'sl_sigv4_sign|sl_eventstream_feed'
 *
 * and divide the inclusive Ir by the call counts the program prints (with an argument it runs
 * that many iterations once, without timing).
 *
 * Measured on the development VM (2 shared cores, OpenSSL 3.0.19 using SHA-NI, zlib 1.2.13):
 * 1.6-1.7 us of CPU per signing (56,500 instructions under callgrind, whose CPU has no SHA-NI,
 * 44,600 of them in libcrypto); 215-245 ns per message (1,580 instructions, 1,035 of them in
 * zlib's crc32_z), whole or cut every 700 bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/eventstream.h"
#include "sluice/sigv4.h"

static const char converse_body[] =
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"I am planning a three-day trip to "
    "Lisbon in late October. I like walking, tiled facades, small bakeries and quiet viewpoints, "
    "and I would rather avoid long queues. Could you suggest a loose plan for each day, with one "
    "neighbourhood per morning and one per afternoon?\"}]},{\"role\":\"assistant\",\"content\":"
    "[{\"text\":\"Day 1: Alfama in the morning (Miradouro de Santa Luzia, the cathedral, narrow "
    "lanes), Graça in the afternoon. Day 2: Belém early, before the crowds, then LX Factory. Day "
    "3: Príncipe Real and Campo de "
    "Ourique.\"}]},{\"role\":\"user\",\"content\":[{\"text\":\"Lovely."
    " Which bakery near Campo de Ourique should I not miss, and is the tram 28 worth it?\"}]}],"
    "\"system\":[{\"text\":\"You are a concise travel assistant. Answer in at most five "
    "sentences.\"}],\"inferenceConfig\":{\"maxTokens\":512,\"temperature\":0.4,\"topP\":0.9,"
    "\"stopSequences\":[\"\\n\\nHuman:\"]},\"additionalModelRequestFields\":{\"top_k\":200}}";

/* CPU time of this thread, not the wall clock: on a shared machine a descheduled slice would
 * otherwise count as signing time. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile size_t sink;

/* ---- SigV4 ---- */

static const struct sl_sigv4_creds creds = {
    .access_key_id = SL_STR_INIT("AKIAIOSFODNN7EXAMPLE"),
    .secret_access_key = SL_STR_INIT("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    .region = SL_STR_INIT("us-west-2"),
    .service = SL_STR_INIT("bedrock"),
};

static const struct sl_sigv4_header headers[] = {
    {SL_STR_INIT("host"), SL_STR_INIT("bedrock-runtime.us-west-2.amazonaws.com")},
    {SL_STR_INIT("content-type"), SL_STR_INIT("application/json")},
    {SL_STR_INIT("accept"), SL_STR_INIT("application/json")},
};

static struct sl_sigv4_cache *cache;
static h2o_mem_pool_t pool;
static h2o_iovec_t body[2];
static size_t signs;

static void sign_once(void)
{
    struct sl_sigv4_request req = {
        .method = SL_STRLIT("POST"),
        .path = SL_STRLIT("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"),
        .headers = headers,
        .nheaders = SL_ARRAY_LEN(headers),
        .body = body,
        .nbody = 2,
        .now = 1730794150,
    };
    struct sl_sigv4_out out;
    if (sl_sigv4_sign(cache, &creds, &req, &pool, &out) != SL_OK) {
        fprintf(stderr, "sign failed: %s\n", out.why);
        exit(1);
    }
    sink += out.authorization.len;
    /* The request pool of a real request; cleared now and then so it does not grow. */
    if (++signs % 64 == 0)
        h2o_mem_clear_pool(&pool);
}

/* ---- event stream ---- */

#define MESSAGES 64

static unsigned char stream[MESSAGES * 256];
static size_t stream_len;
static size_t message_end[MESSAGES];

static void put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static size_t put_string_header(unsigned char *o, const char *name, const char *value)
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

/* A contentBlockDelta as Bedrock sends it: three string headers, a JSON payload of about 100
 * bytes ("p" is Bedrock's padding field). */
static size_t delta(unsigned char *o, int i)
{
    static const char *const words[] = {
        "The", " tram", " 28",      " is", " worth", " it",  " early", " in", " the",   " morning",
        " or", " late", " evening", ",",   " when",  " the", " queue", " is", " short", "."};
    size_t hl = 0, pl, total;
    hl += put_string_header(o + 12 + hl, ":event-type", "contentBlockDelta");
    hl += put_string_header(o + 12 + hl, ":content-type", "application/json");
    hl += put_string_header(o + 12 + hl, ":message-type", "event");
    pl = (size_t)snprintf((char *)o + 12 + hl, 200,
                          "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"%s\"},\"p\":"
                          "\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU\"}",
                          words[i % (int)SL_ARRAY_LEN(words)]);
    total = 12 + hl + pl + 4;
    put32(o, (uint32_t)total);
    put32(o + 4, (uint32_t)hl);
    put32(o + 8, (uint32_t)crc32(0, o, 8));
    put32(o + total - 4, (uint32_t)crc32(0, o, (uInt)(total - 4)));
    return total;
}

static void build_stream(void)
{
    size_t n = 0;
    for (int i = 0; i < MESSAGES; i++) {
        n += delta(stream + n, i);
        message_end[i] = n;
    }
    stream_len = n;
}

struct counts {
    size_t messages, in_place, payload_bytes;
    const unsigned char *buf;
    size_t len;
};

static int on_message(void *ud, const struct sl_eventstream_message *m)
{
    struct counts *c = ud;
    c->messages++;
    c->payload_bytes += m->payload.len;
    if ((const unsigned char *)m->raw.ptr >= c->buf &&
        (const unsigned char *)m->raw.ptr + m->raw.len <= c->buf + c->len)
        c->in_place++;
    return 0;
}

static void feed(struct sl_eventstream_decoder *d, struct counts *c, size_t at, size_t to)
{
    c->buf = stream + at;
    c->len = to - at;
    if (sl_eventstream_feed(d, (const char *)stream + at, to - at, on_message, c) != SL_OK)
        exit(1);
}

/* Feeds the stream in pieces of 1, 2, 3, 1, 2, 3, ... whole messages. Returns the feed calls. */
static size_t feed_messages(struct counts *c)
{
    struct sl_eventstream_decoder d;
    size_t at = 0, calls = 0;
    int i = 0, k = 0;
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    while (i < MESSAGES) {
        int take = 1 + k++ % 3;
        i = i + take > MESSAGES ? MESSAGES : i + take;
        feed(&d, c, at, message_end[i - 1]);
        at = message_end[i - 1];
        calls++;
    }
    sl_eventstream_dispose(&d);
    return calls;
}

/* Feeds the stream in 700-byte reads that ignore message boundaries. */
static size_t feed_cut(struct counts *c)
{
    struct sl_eventstream_decoder d;
    size_t calls = 0;
    sl_eventstream_init(&d, SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    for (size_t at = 0; at < stream_len; at += 700) {
        feed(&d, c, at, SL_MIN(at + 700, stream_len));
        calls++;
    }
    sl_eventstream_dispose(&d);
    return calls;
}

static struct counts es_counts;

static void es_messages_once(void)
{
    feed_messages(&es_counts);
}

static void es_cut_once(void)
{
    feed_cut(&es_counts);
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

int main(int argc, char **argv)
{
    size_t half = (sizeof(converse_body) - 1) / 2;
    body[0] = h2o_iovec_init(converse_body, half);
    body[1] = h2o_iovec_init(converse_body + half, sizeof(converse_body) - 1 - half);
    cache = sl_sigv4_cache_new();
    h2o_mem_init_pool(&pool);
    build_stream();
    sign_once(); /* warm: the day's key is derived here */
    if (argc > 1) {
        /* Fixed work for callgrind: no timing, just the calls. */
        size_t iters = strtoul(argv[1], NULL, 10), feeds = 0;
        for (size_t i = 0; i < iters; i++)
            sign_once();
        for (size_t i = 0; i < iters; i++)
            feeds += feed_messages(&es_counts);
        printf("sigv4 signs: %zu (+1 warm-up); eventstream passes: %zu (%zu feed calls, %zu "
               "messages)\n",
               iters, iters, feeds, es_counts.messages);
        return 0;
    }
    double ns = time_ns(sign_once, 20000);
    printf("sigv4 sign, %zu-byte Converse body, warm cache: %.0f ns/request (%llu key "
           "derivations)\n",
           sizeof(converse_body) - 1, ns, (unsigned long long)sl_sigv4_cache_derivations(cache));

    memset(&es_counts, 0, sizeof(es_counts));
    size_t feeds = feed_messages(&es_counts);
    printf("eventstream: %d contentBlockDelta messages, %zu bytes (%zu payload bytes/message), "
           "%zu feeds of 1-3 messages; %zu of %zu delivered in place\n",
           MESSAGES, stream_len, es_counts.payload_bytes / MESSAGES, feeds, es_counts.in_place,
           es_counts.messages);
    ns = time_ns(es_messages_once, 20000);
    printf("eventstream_feed, 1-3 message pieces: %.1f ns/message, %.0f MB/s\n", ns / MESSAGES,
           (double)stream_len / 1e6 / (ns / 1e9));
    memset(&es_counts, 0, sizeof(es_counts));
    feeds = feed_cut(&es_counts);
    printf("eventstream cut every 700 bytes: %zu feeds; %zu of %zu delivered in place\n", feeds,
           es_counts.in_place, es_counts.messages);
    ns = time_ns(es_cut_once, 20000);
    printf("eventstream_feed, 700-byte pieces: %.1f ns/message, %.0f MB/s\n", ns / MESSAGES,
           (double)stream_len / 1e6 / (ns / 1e9));
    h2o_mem_clear_pool(&pool);
    sl_sigv4_cache_free(cache);
    return (int)(sink & 0);
}
