/* What every translation output must be, checked the same way by the fuzz targets
 * (fuzz_xlate_*.c) and the golden tests (tests/unit/test_xlate_golden.c): JSON that the strict
 * validator and jansson both accept, and event sequences that follow the caller dialect's
 * grammar. A recording sink stands where the dialect's encoder would be.
 *
 * Anthropic events: message_start once and first; blocks start at index 0 and go up by one; a
 * delta or stop names the open block and its delta type fits the block; message_delta after
 * every block is closed, once; nothing after it. OpenAI chunks: every chunk has id, object
 * "chat.completion.chunk", created, model (the alias); choices[0].index 0; the first chunk has
 * delta.role "assistant"; tool call indexes never go back; one finish_reason; the usage-only
 * chunk (choices []) only with include_usage, last, after the finish. Either way exactly one
 * end or error reaches the sink, and nothing comes after it. */
#ifndef SL_FUZZ_XLATE_CHECK_H
#define SL_FUZZ_XLATE_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/filter.h"
#include "sluice/json.h"
#include "sluice/xlate.h"

struct xcheck_sink {
    struct sl_filter super;
    bool anthropic; /* the caller's dialect: Anthropic events, else OpenAI chunks */
    /* The stage passes the upstream's own events on (Claude on Bedrock: Anthropic's events in
     * base64 chunks, through Anthropic's passthrough rewrite): their grammar is the upstream's,
     * so only their JSON and the one end or error are checked. */
    bool passthrough;
    bool include_usage;
    const char *alias;
    struct sl_buf text; /* what an encoder would have written, roughly: the golden output */
    /* grammar state */
    bool ended, errored, started, delta_seen, finished, usage_seen;
    long open_block; /* -1: none */
    long next_block;
    char open_kind[16];
    long last_tool;
    size_t events;
    /* OpenAI chunks of choices other than 0 (n > 1 upstreams): per choice index */
    bool c_started[8], c_finished[8];
    long c_last_tool[8];
};

static void xcheck_put(struct xcheck_sink *k, const char *s, size_t n)
{
    CHECK(sl_buf_append(&k->text, s, n) == SL_OK);
}

static void xcheck_puts(struct xcheck_sink *k, const char *s)
{
    xcheck_put(k, s, strlen(s));
}

static const char *xcheck_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool xcheck_is(json_t *o, const char *key, const char *want)
{
    const char *v = xcheck_str(o, key);
    return v != NULL && strcmp(v, want) == 0;
}

/* The members the translation wrote itself never repeat. (Values copied from the input, such as
 * a tool's input_schema, are the input's own bytes and may hold whatever it held.) */
static void xcheck_unique_top(struct sl_str doc)
{
    static struct sl_json_keyset seen;
    struct sl_json_member m;
    struct sl_json_key dup;
    struct sl_json_error err;
    static const struct sl_str none = SL_STR_INIT("\x01");
    CHECK(sl_json_scan_unique(doc, SL_JSON_DEFAULT_MAX_DEPTH, &none, 1, &m, &err, &seen, &dup) ==
          SL_OK);
}

static void xcheck_anthropic(struct xcheck_sink *k, const char *name, json_t *d)
{
    CHECK(xcheck_is(d, "type", name));
    CHECK(!k->delta_seen); /* message_delta is the last event this stage sends */
    if (strcmp(name, "message_start") == 0) {
        json_t *m = json_object_get(d, "message");
        CHECK(!k->started && json_is_object(m));
        CHECK(xcheck_is(m, "type", "message") && xcheck_is(m, "role", "assistant"));
        CHECK(xcheck_is(m, "model", k->alias));
        CHECK(xcheck_str(m, "id") != NULL && strncmp(xcheck_str(m, "id"), "msg_", 4) == 0);
        CHECK(json_array_size(json_object_get(m, "content")) == 0);
        CHECK(json_is_integer(json_object_get(json_object_get(m, "usage"), "output_tokens")));
        k->started = true;
        return;
    }
    CHECK(k->started);
    if (strcmp(name, "content_block_start") == 0) {
        json_t *b = json_object_get(d, "content_block");
        CHECK(k->open_block == -1);
        CHECK(json_integer_value(json_object_get(d, "index")) == k->next_block);
        CHECK(xcheck_str(b, "type") != NULL && strlen(xcheck_str(b, "type")) < 16);
        strcpy(k->open_kind, xcheck_str(b, "type"));
        if (strcmp(k->open_kind, "tool_use") == 0)
            CHECK(xcheck_str(b, "id") != NULL && xcheck_str(b, "name") != NULL &&
                  json_is_object(json_object_get(b, "input")));
        else
            CHECK(strcmp(k->open_kind, "text") == 0 || strcmp(k->open_kind, "thinking") == 0);
        k->open_block = k->next_block++;
    } else if (strcmp(name, "content_block_delta") == 0) {
        json_t *dl = json_object_get(d, "delta");
        CHECK(k->open_block != -1 &&
              json_integer_value(json_object_get(d, "index")) == k->open_block);
        if (strcmp(k->open_kind, "text") == 0)
            CHECK(xcheck_is(dl, "type", "text_delta") && xcheck_str(dl, "text") != NULL);
        else if (strcmp(k->open_kind, "thinking") == 0)
            CHECK(xcheck_is(dl, "type", "thinking_delta") && xcheck_str(dl, "thinking") != NULL);
        else
            CHECK(xcheck_is(dl, "type", "input_json_delta") &&
                  xcheck_str(dl, "partial_json") != NULL);
    } else if (strcmp(name, "content_block_stop") == 0) {
        CHECK(k->open_block != -1 &&
              json_integer_value(json_object_get(d, "index")) == k->open_block);
        k->open_block = -1;
    } else if (strcmp(name, "message_delta") == 0) {
        json_t *dl = json_object_get(d, "delta");
        CHECK(k->open_block == -1 && xcheck_str(dl, "stop_reason") != NULL);
        CHECK(json_is_integer(json_object_get(json_object_get(d, "usage"), "output_tokens")));
        k->delta_seen = true;
    } else {
        CHECK(!"an Anthropic event this stage never sends");
    }
}

static void xcheck_chat(struct xcheck_sink *k, json_t *d)
{
    json_t *choices = json_object_get(d, "choices");
    CHECK(xcheck_is(d, "object", "chat.completion.chunk") && xcheck_str(d, "id") != NULL);
    CHECK(xcheck_is(d, "model", k->alias) && json_is_integer(json_object_get(d, "created")));
    CHECK(json_is_array(choices) && !k->usage_seen);
    if (json_array_size(choices) == 0) {
        CHECK(k->include_usage && k->finished);
        CHECK(json_is_object(json_object_get(d, "usage")));
        k->usage_seen = true;
        return;
    }
    CHECK(json_array_size(choices) == 1);
    json_t *c = json_array_get(choices, 0);
    json_t *delta = json_object_get(c, "delta");
    long ci = (long)json_integer_value(json_object_get(c, "index"));
    CHECK(json_is_integer(json_object_get(c, "index")) && ci >= 0 && ci < 8 &&
          json_is_object(delta));
    CHECK(k->include_usage ? json_is_null(json_object_get(d, "usage"))
                           : json_object_get(d, "usage") == NULL);
    CHECK(!k->c_finished[ci]);
    if (!k->c_started[ci])
        CHECK(xcheck_is(delta, "role", "assistant"));
    k->c_started[ci] = true;
    k->started = true;
    json_t *calls = json_object_get(delta, "tool_calls");
    for (size_t i = 0; i < json_array_size(calls); i++) {
        long idx = (long)json_integer_value(json_object_get(json_array_get(calls, i), "index"));
        CHECK(idx >= k->c_last_tool[ci] && idx <= k->c_last_tool[ci] + 1);
        if (idx == k->c_last_tool[ci] + 1)
            CHECK(xcheck_str(json_array_get(calls, i), "id") != NULL);
        k->c_last_tool[ci] = idx;
    }
    if (json_is_string(json_object_get(c, "finish_reason")))
        k->c_finished[ci] = true;
    else
        CHECK(json_is_null(json_object_get(c, "finish_reason")));
    /* finished: every choice that started has finished (the usage chunk may follow) */
    k->finished = true;
    for (size_t i = 0; i < 8; i++)
        if (k->c_started[i] && !k->c_finished[i])
            k->finished = false;
}

static int xcheck_on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct xcheck_sink *k = (struct xcheck_sink *)f;
    json_error_t jerr;
    CHECK(!k->ended && !k->errored);
    CHECK(sl_json_validate(ev->data, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK);
    json_t *d = json_loadb(ev->data.ptr, ev->data.len, JSON_ALLOW_NUL, &jerr);
    CHECK(d != NULL && json_is_object(d));
    if (!k->passthrough)
        xcheck_unique_top(ev->data);
    CHECK(ev->raw.len == 0); /* every event was made here, none passed through */
    if (k->anthropic && k->passthrough) {
        xcheck_puts(k, "event: ");
        xcheck_put(k, ev->name.ptr, ev->name.len);
        xcheck_puts(k, "\n");
    } else if (k->anthropic) {
        char name[32];
        CHECK(ev->name.len > 0 && ev->name.len < sizeof(name));
        memcpy(name, ev->name.ptr, ev->name.len);
        name[ev->name.len] = '\0';
        xcheck_anthropic(k, name, d);
        xcheck_puts(k, "event: ");
        xcheck_puts(k, name);
        xcheck_puts(k, "\n");
    } else {
        CHECK(ev->name.len == 0);
        xcheck_chat(k, d);
    }
    json_decref(d);
    xcheck_puts(k, "data: ");
    xcheck_put(k, ev->data.ptr, ev->data.len);
    xcheck_puts(k, "\n\n");
    k->events++;
    return SL_OK;
}

static int xcheck_on_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    struct xcheck_sink *k = (struct xcheck_sink *)f;
    char line[512];
    CHECK(!k->ended && !k->errored);
    CHECK(e->status >= 400 && e->status <= 599 && e->type != NULL && e->kind != NULL);
    k->errored = true;
    snprintf(line, sizeof(line), ": error status=%d type=%s kind=%s message=%.*s\n\n", e->status,
             e->type, e->kind, (int)SL_MIN(e->message.len, (size_t)300), e->message.ptr);
    xcheck_puts(k, line);
    return SL_OK;
}

static int xcheck_on_end(struct sl_filter *f)
{
    struct xcheck_sink *k = (struct xcheck_sink *)f;
    CHECK(!k->ended && !k->errored);
    k->ended = true;
    if (k->anthropic && !k->passthrough) {
        /* The encoder writes message_stop next: the message must be complete. */
        CHECK(k->started && k->delta_seen && k->open_block == -1);
    } else if (k->include_usage && k->finished) {
        CHECK(k->usage_seen);
    }
    xcheck_puts(k, ": end\n\n");
    return SL_OK;
}

static const struct sl_filter_ops xcheck_ops = {
    .on_event = xcheck_on_event,
    .on_error = xcheck_on_error,
    .on_end = xcheck_on_end,
};

static void xcheck_sink_init(struct xcheck_sink *k, bool anthropic, bool include_usage,
                             const char *alias)
{
    memset(k, 0, sizeof(*k));
    k->super.ops = &xcheck_ops;
    k->anthropic = anthropic;
    k->include_usage = include_usage;
    k->alias = alias;
    k->open_block = -1;
    k->last_tool = -1;
    for (size_t i = 0; i < 8; i++)
        k->c_last_tool[i] = -1;
    sl_buf_init(&k->text, (size_t)1 << 30);
}

/* The stream ended one way or the other (call after feeding the last event and the end). */
static void xcheck_sink_done(struct xcheck_sink *k)
{
    CHECK(k->ended != k->errored);
}

/* A JSON document a pair passes on from the upstream with only "model" changed (Claude on
 * Bedrock's reply): the upstream's own members, repeated names included if it sent them. */
static inline void xcheck_passed_json(struct sl_str doc)
{
    CHECK(sl_json_validate(doc, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK);
    /* Passed on as the upstream wrote it, so JSON's leading whitespace may come first. */
    size_t i = 0;
    while (i < doc.len &&
           (doc.ptr[i] == ' ' || doc.ptr[i] == '\t' || doc.ptr[i] == '\n' || doc.ptr[i] == '\r'))
        i++;
    CHECK(i < doc.len && doc.ptr[i] == '{');
}

/* A translated JSON document (request or response body). */
static void xcheck_json(struct sl_str doc)
{
    json_error_t jerr;
    CHECK(sl_json_validate(doc, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK);
    xcheck_unique_top(doc);
    json_t *d = json_loadb(doc.ptr, doc.len, JSON_ALLOW_NUL, &jerr);
    /* jansson refuses numbers past int64 and double, and a NUL in a member name, both of which
       JSON allows: a caller's unknown field copied through may carry either. The strict
       validator passed. ("\u0000" in a value, also valid JSON, needs JSON_ALLOW_NUL.) */
    if (d == NULL &&
        (strstr(jerr.text, "too big") != NULL || strstr(jerr.text, "overflow") != NULL ||
         strstr(jerr.text, "NUL byte") != NULL))
        return;
    CHECK(d != NULL && json_is_object(d));
    json_decref(d);
}

#endif
