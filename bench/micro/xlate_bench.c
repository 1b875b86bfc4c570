/* Micro-benchmark for the translations (src/xlate/): a ~1 KiB chat request translated to an
 * Anthropic request and a ~1 KiB Anthropic response translated back (the pair an OpenAI SDK
 * caller uses to reach a Claude model), the reverse pair, one stream event each way (an
 * Anthropic text_delta to a chat chunk, a chat content chunk to Anthropic events), and the same
 * chat request, a ~1 KiB Gemini response and a Gemini stream event for the chat <-> Gemini pair
 * (and the Anthropic request through the composed Anthropic -> chat -> Gemini pair). The same
 * for the pair {Responses -> chat} (a ~1 KiB Responses request to chat, the chat response and a
 * chat content chunk back as Responses), and the sealing of one response id (respid.h), which a
 * Responses passthrough does once per reply.
 *
 * Not built by default. Build and run from the repository root, after `make build`:
 *
 *   gcc -O2 -std=c17 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Iinclude -Ibuild/gen \
 *       bench/micro/xlate_bench.c build/libsluice_core.a $(pkg-config --cflags --libs \
 *       libh2o-evloop yaml-0.1 jansson openssl zlib) -lpthread -o /tmp/xlate_bench
 *   /tmp/xlate_bench               # CPU ns per operation (thread CPU time, median of 7 runs)
 *
 * Repeatable instruction counts (STYLE: compare versions with callgrind, not the clock):
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/xlate_bench 1000
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'sl__xlate|on_event'
 *
 * and divide the inclusive Ir by the call counts the program prints (with an argument it runs
 * that many iterations of each operation once, without timing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/base.h"
#include "sluice/filter.h"
#include "sluice/respid.h"
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

/* 1,0xx bytes: text and a tool call, with cache usage. */
static const char anthropic_response[] =
    "{\"id\":\"msg_01HJx8kq2ZbN4rVd7yTQeW5m\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"Yes "
    "\\u2014 \\\"The Wager\\\" by David Grann (cat. 4471) is available in hardcover, and we ship "
    "to France, including Lyon. Delivery usually takes three to five working days, and gift "
    "wrapping can be added at checkout. If you would like a second title, \\\"Nelson: "
    "Britannia's God of War\\\" by Andrew Lambert (cat. 2093) pairs well with it and covers the "
    "Royal Navy's most famous admiral in depth. Let me check current stock for both so you can "
    "order today.\"},{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\",\"name\":"
    "\"stock\",\"input\":{\"cat\":4471,\"country\":\"FR\"}},{\"type\":\"tool_use\",\"id\":"
    "\"toolu_01B71z8sd0f8a7sd9f87asd0\",\"name\":\"stock\",\"input\":{\"cat\":2093,\"country\":"
    "\"FR\"}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":"
    "412,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":1536,\"cache_creation\":"
    "{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":168,"
    "\"service_tier\":\"standard\"}}";

static const char anthropic_request[] =
    "{\"model\":\"gpt-for-shop\",\"max_tokens\":300,\"system\":\"You are a concise assistant for "
    "an online bookshop. Answer in at most three sentences, cite the catalogue number when you "
    "mention a book, and never invent prices.\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Hi! I am looking for a gift for my father, who loves naval history and long biographies. "
    "He already has most of Patrick O'Brian. What would you suggest?\"},{\"role\":\"assistant\","
    "\"content\":[{\"type\":\"text\",\"text\":\"You could try \\\"The Wager\\\" by David Grann "
    "(cat. 4471).\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"stock\",\"input\":"
    "{\"cat\":4471}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
    "\"toolu_1\",\"content\":\"in stock: 3 hardcover\"},{\"type\":\"text\",\"text\":\"Great, and "
    "does it ship to Lyon?\"}]}],\"tools\":[{\"name\":\"stock\",\"description\":\"Stock for a "
    "catalogue number\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"cat\":{\"type\":"
    "\"integer\"}},\"required\":[\"cat\"]}}],\"temperature\":0.3,\"stop_sequences\":[\"###\"],"
    "\"metadata\":{\"user_id\":\"shop-frontend-7f3a\"}}";

static const char chat_response[] =
    "{\"id\":\"chatcmpl-9x8y7z6w5v4u3t2s1r0q\",\"object\":\"chat.completion\",\"created\":"
    "1767225600,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Yes \\u2014 it ships to Lyon within three to five working days; "
    "gift wrapping can be added at checkout. If you would like a second title, \\\"Nelson: "
    "Britannia's God of War\\\" (cat. 2093) pairs well with it: a vivid, well-researched life "
    "of the admiral that many readers of naval history count among their "
    "favourites.\",\"tool_calls\":[{\"id\":"
    "\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"stock\",\"arguments\":"
    "\"{\\\"cat\\\":2093}\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":"
    "\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1948,\"completion_tokens\":61,\"total_tokens\":"
    "2009,\"prompt_tokens_details\":{\"cached_tokens\":1536,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0}},"
    "\"system_fingerprint\":\"fp_1\"}";

/* 985 bytes: text and two function calls, with cached and thought tokens. */
static const char gemini_response[] =
    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Yes "
    "\\u2014 \\\"The Wager\\\" by David Grann (cat. 4471) is available in hardcover, and we ship "
    "to France, including Lyon. Delivery usually takes three to five working days, and gift "
    "wrapping can be added at checkout. If you would like a second title, \\\"Nelson: "
    "Britannia's God of War\\\" by Andrew Lambert (cat. 2093) pairs well with it and covers the "
    "Royal Navy's most famous admiral in depth. Let me check current stock for both so you can "
    "order today.\"},{\"functionCall\":{\"name\":\"stock\",\"args\":{\"cat\":4471,"
    "\"country\":\"FR\"}}},{\"functionCall\":{\"name\":\"stock\",\"args\":{\"cat\":2093,"
    "\"country\":\"FR\"}},\"thoughtSignature\":\"CiQB0e2Kb7dGmC1xRvsQ3bKqzqvAqA0pOgyr\"}]},"
    "\"finishReason\":\"STOP\",\"index\":0,\"avgLogprobs\":-0.3081}],\"usageMetadata\":"
    "{\"promptTokenCount\":1948,\"candidatesTokenCount\":168,\"totalTokenCount\":2180,"
    "\"cachedContentTokenCount\":1536,\"thoughtsTokenCount\":64},\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"hVDnaO7jIe6wkdUPjY2E2Ak\"}";

static const char gemini_event[] =
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" hardcover\"}],\"role\":"
    "\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":1948,"
    "\"candidatesTokenCount\":12,\"totalTokenCount\":1960},\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"hVDnaO7jIe6wkdUPjY2E2Ak\"}";

static const char anthropic_event[] = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                      "{\"type\":\"text_delta\",\"text\":\" hardcover\"}}";
static const char chat_event[] =
    "{\"id\":\"chatcmpl-9x8y7z6w5v4u3t2s1r0q\",\"object\":\"chat.completion.chunk\",\"created\":"
    "1767225600,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_1\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"content\":\" hardcover\"},\"logprobs\":null,\"finish_reason\":"
    "null}],\"usage\":null}";
static const char anthropic_start[] =
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}";
static const char anthropic_block[] = "{\"type\":\"content_block_start\",\"index\":0,"
                                      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}";

static const struct sl_xlate_ctx ctx = {
    .alias = {"shop-assistant", 14},
    .upstream_model = {"claude-sonnet-4-5", 17},
    .id_seed = {"req-0123456789abcdef", 20},
    .created = 1767225600,
    .include_usage = true,
};

static volatile size_t sink_bytes;

static int sink_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    (void)f;
    sink_bytes += ev->data.len;
    return SL_OK;
}
static int sink_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    (void)f;
    fprintf(stderr, "stream error: %.*s\n", (int)e->message.len, e->message.ptr);
    exit(1);
}
static int sink_end(struct sl_filter *f)
{
    (void)f;
    return SL_OK;
}
static const struct sl_filter_ops sink_ops = {sink_event, sink_error, sink_end};
static struct sl_filter sink = {&sink_ops, NULL};

static struct sl_buf out;

/* 1,0xx bytes: the chat request above as the Responses API sends it (instructions, input
 * items with an earlier assistant turn, a function tool). */
static const char responses_request[] =
    "{\"model\":\"chat-only-for-shop\",\"instructions\":\"You are a concise assistant for an "
    "online bookshop. Answer in at most three sentences, cite the catalogue number when you "
    "mention a book, and never invent prices.\",\"input\":[{\"role\":\"user\",\"content\":"
    "[{\"type\":\"input_text\",\"text\":\"Hi! I am looking for a gift for my father, who "
    "loves naval history and long biographies. He already has most of Patrick O'Brian. What "
    "would you suggest?\"}]},{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
    "[{\"type\":\"output_text\",\"text\":\"You could try \\\"The Wager\\\" by David Grann "
    "(cat. 4471), a gripping account of an 18th-century shipwreck and mutiny.\"}]},{\"role\":"
    "\"user\",\"content\":\"The Wager sounds great. Is there a hardcover edition, and does it "
    "ship to Lyon \\u2014 France?\"}],\"tools\":[{\"type\":\"function\",\"name\":\"stock\","
    "\"description\":\"Stock and shipping for a catalogue number\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"cat\":{\"type\":\"integer\"},\"country\":{\"type\":"
    "\"string\"}},\"required\":[\"cat\"]},\"strict\":false}],\"tool_choice\":\"auto\","
    "\"stream\":false,\"store\":false,\"temperature\":0.3,\"max_output_tokens\":300,"
    "\"top_p\":1,\"user\":\"shop-frontend-7f3a\"}";

static void request_c2a(void)
{
    char why[128];
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_ANTHROPIC)
            ->request(&ctx, sl_str_init(chat_request, sizeof(chat_request) - 1), &out, why,
                      sizeof(why)) != SL_OK) {
        fprintf(stderr, "request: %s\n", why);
        exit(1);
    }
}

static void response_a2c(void)
{
    char why[128];
    struct sl_usage u;
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_ANTHROPIC)
            ->response(&ctx, sl_str_init(anthropic_response, sizeof(anthropic_response) - 1), &out,
                       &u, why, sizeof(why)) != SL_OK) {
        fprintf(stderr, "response: %s\n", why);
        exit(1);
    }
}

static void request_a2c(void)
{
    char why[128];
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_CHAT)
            ->request(&ctx, sl_str_init(anthropic_request, sizeof(anthropic_request) - 1), &out,
                      why, sizeof(why)) != SL_OK) {
        fprintf(stderr, "request: %s\n", why);
        exit(1);
    }
}

static void response_c2a(void)
{
    char why[128];
    struct sl_usage u;
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_CHAT)
            ->response(&ctx, sl_str_init(chat_response, sizeof(chat_response) - 1), &out, &u, why,
                       sizeof(why)) != SL_OK) {
        fprintf(stderr, "response: %s\n", why);
        exit(1);
    }
}

static void request_c2g(void)
{
    char why[128];
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_GEMINI)
            ->request(&ctx, sl_str_init(chat_request, sizeof(chat_request) - 1), &out, why,
                      sizeof(why)) != SL_OK) {
        fprintf(stderr, "request: %s\n", why);
        exit(1);
    }
}

static void response_g2c(void)
{
    char why[128];
    struct sl_usage u;
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_GEMINI)
            ->response(&ctx, sl_str_init(gemini_response, sizeof(gemini_response) - 1), &out, &u,
                       why, sizeof(why)) != SL_OK) {
        fprintf(stderr, "response: %s\n", why);
        exit(1);
    }
}

static void request_a2g(void)
{
    char why[128];
    out.len = 0;
    /* A composed pair has no functions of its own: sl_xlate_request runs both halves. */
    if (sl_xlate_request(sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI), &ctx,
                         sl_str_init(anthropic_request, sizeof(anthropic_request) - 1), &out, why,
                         sizeof(why)) != SL_OK) {
        fprintf(stderr, "request: %s\n", why);
        exit(1);
    }
}

static void request_r2c(void)
{
    char why[128];
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_RESPONSES, SL_WIRE_CHAT)
            ->request(&ctx, sl_str_init(responses_request, sizeof(responses_request) - 1), &out,
                      why, sizeof(why)) != SL_OK) {
        fprintf(stderr, "request: %s\n", why);
        exit(1);
    }
}

static void response_c2r(void)
{
    char why[128];
    struct sl_usage u;
    out.len = 0;
    if (sl_xlate_for(SL_WIRE_RESPONSES, SL_WIRE_CHAT)
            ->response(&ctx, sl_str_init(chat_response, sizeof(chat_response) - 1), &out, &u, why,
                       sizeof(why)) != SL_OK) {
        fprintf(stderr, "response: %s\n", why);
        exit(1);
    }
}

/* An OpenAI response id (resp_ + 48 hex digits), sealed for a caller and provider key. */
static void seal_id(void)
{
    static const struct sl_respid_claims claims = {
        .provider_key = {"openai-main", 11}, .caller = {"team-a", 6}, .alias = {"gpt-4o", 6}};
    char id[SL_RESPID_MAX_TEXT];
    size_t len;
    if (sl_respid_seal(SL_STRLIT("a-deployment-secret-of-32-bytes!"), &claims,
                       SL_STRLIT("resp_68a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607"), id,
                       &len) != SL_OK)
        exit(1);
    sink_bytes += len;
}

static h2o_mem_pool_t pool;
static struct sl_filter *stage_a2c, *stage_c2a, *stage_g2c, *stage_c2r;
static struct sl_usage usage_a2c, usage_c2a, usage_g2c, usage_c2r;

static void feed(struct sl_filter *st, const char *data, size_t len)
{
    struct sl_sevent ev = {.data = sl_str_init(data, len)};
    if (sl_filter_event(st, &ev) != SL_OK) {
        fprintf(stderr, "event refused\n");
        exit(1);
    }
}

static void event_a2c(void)
{
    feed(stage_a2c, anthropic_event, sizeof(anthropic_event) - 1);
}

static void event_c2a(void)
{
    feed(stage_c2a, chat_event, sizeof(chat_event) - 1);
}

static void event_g2c(void)
{
    feed(stage_g2c, gemini_event, sizeof(gemini_event) - 1);
}

static void event_c2r(void)
{
    feed(stage_c2r, chat_event, sizeof(chat_event) - 1);
}

static void setup_streams(void)
{
    h2o_mem_init_pool(&pool);
    stage_a2c =
        sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_ANTHROPIC)->stream(&pool, &ctx, &usage_a2c, &sink);
    stage_c2a =
        sl_xlate_for(SL_WIRE_ANTHROPIC, SL_WIRE_CHAT)->stream(&pool, &ctx, &usage_c2a, &sink);
    stage_g2c = sl_xlate_for(SL_WIRE_CHAT, SL_WIRE_GEMINI)->stream(&pool, &ctx, &usage_g2c, &sink);
    stage_c2r =
        sl_xlate_for(SL_WIRE_RESPONSES, SL_WIRE_CHAT)->stream(&pool, &ctx, &usage_c2r, &sink);
    /* Put both stages in the middle of a text block, where most events of a stream arrive. */
    feed(stage_a2c, anthropic_start, sizeof(anthropic_start) - 1);
    feed(stage_a2c, anthropic_block, sizeof(anthropic_block) - 1);
    event_c2a();
    event_g2c();
    event_c2r();
}

/* Thread CPU time: what the translation costs the worker, without the time another process
 * had the core (the development VM is shared). */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_ns(void (*op)(void), unsigned iters)
{
    uint64_t runs[7];
    for (unsigned r = 0; r < 7; r++) {
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < iters; i++)
            op();
        runs[r] = now_ns() - t0;
    }
    qsort(runs, 7, sizeof(runs[0]), cmp_u64);
    return (double)runs[3] / iters;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*op)(void);
        unsigned iters;
    } ops[] = {
        {"chat request -> anthropic (request_c2a)", request_c2a, 20000},
        {"anthropic response -> chat (response_a2c)", response_a2c, 20000},
        {"anthropic request -> chat (request_a2c)", request_a2c, 20000},
        {"chat response -> anthropic (response_c2a)", response_c2a, 20000},
        {"anthropic text_delta -> chat chunk (event_a2c)", event_a2c, 200000},
        {"chat content chunk -> anthropic delta (event_c2a)", event_c2a, 200000},
        {"chat request -> gemini (request_c2g)", request_c2g, 20000},
        {"gemini response -> chat (response_g2c)", response_g2c, 20000},
        {"gemini text event -> chat chunk (event_g2c)", event_g2c, 200000},
        {"anthropic request -> chat -> gemini (request_a2g)", request_a2g, 20000},
        {"responses request -> chat (request_r2c)", request_r2c, 20000},
        {"chat response -> responses (response_c2r)", response_c2r, 20000},
        {"chat content chunk -> responses delta (event_c2r)", event_c2r, 200000},
        {"response id sealed (seal_id)", seal_id, 200000},
    };
    sl_buf_init(&out, 1 << 20);
    setup_streams();
    printf("inputs: chat request %zu B, anthropic response %zu B, anthropic request %zu B, chat "
           "response %zu B, gemini response %zu B, responses request %zu B\n",
           sizeof(chat_request) - 1, sizeof(anthropic_response) - 1, sizeof(anthropic_request) - 1,
           sizeof(chat_response) - 1, sizeof(gemini_response) - 1, sizeof(responses_request) - 1);
    if (argc > 1) {
        unsigned n = (unsigned)strtoul(argv[1], NULL, 10);
        for (size_t k = 0; k < SL_ARRAY_LEN(ops); k++) {
            for (unsigned i = 0; i < n; i++)
                ops[k].op();
            printf("%-52s %u calls\n", ops[k].name, n);
        }
        return 0;
    }
    for (size_t k = 0; k < SL_ARRAY_LEN(ops); k++)
        printf("%-52s %8.0f ns\n", ops[k].name, median_ns(ops[k].op, ops[k].iters));
    h2o_mem_clear_pool(&pool);
    sl_buf_dispose(&out);
    return 0;
}
