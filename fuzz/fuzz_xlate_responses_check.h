/* What a Responses event stream made by Sluice must be, checked the same way by the fuzz target
 * (fuzz_xlate_responses_chat.c) and the golden tests (tests/unit/test_xlate_responses.c): a
 * recording sink stands where the Responses encoder would be.
 *
 * Every event is a strict JSON object whose "type" is its SSE name and whose sequence_number is
 * its position from 0. response.created comes first (status in_progress, the alias as model, a
 * resp_ id), then response.in_progress. Items are added at the next output_index with a fresh id
 * and closed before the next one opens; a message's or reasoning item's content part opens
 * before its deltas; every delta names the open item and suits its kind; the .done events, the
 * part and the item repeat exactly the text the deltas carried. The final event
 * (response.completed or response.incomplete) comes last, with every item, the same texts and a
 * usage object (or null). Exactly one end or error reaches the sink, nothing after it, and an
 * end comes only after the final event. */
#ifndef SL_FUZZ_XLATE_RESPONSES_CHECK_H
#define SL_FUZZ_XLATE_RESPONSES_CHECK_H

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

#define RCHECK_MAX_ITEMS 512

struct rcheck_item {
    char type[16];
    char id[96];
    struct sl_buf text; /* what its deltas carried */
    bool closed;
};

struct rcheck_sink {
    struct sl_filter super;
    const char *alias;
    struct sl_buf log; /* the golden output: events as an encoder would write them */
    bool ended, errored, created, in_progress, final, part_open;
    long seq;
    size_t n_items;
    struct rcheck_item items[RCHECK_MAX_ITEMS];
};

static void rcheck_put(struct rcheck_sink *k, const char *s, size_t n)
{
    CHECK(sl_buf_append(&k->log, s, n) == SL_OK);
}

static const char *rcheck_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A string member's text with its length: an upstream's "\u0000" reaches text and arguments,
 * so these are compared by length, never by strlen. ptr is NULL when the member is not a
 * string. */
static struct sl_str rcheck_text(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? sl_str_init(json_string_value(v), json_string_length(v))
                             : SL_STR_NULL;
}

static bool rcheck_is(json_t *o, const char *key, const char *want)
{
    const char *v = rcheck_str(o, key);
    return v != NULL && strcmp(v, want) == 0;
}

static struct rcheck_item *rcheck_open(struct rcheck_sink *k)
{
    CHECK(k->n_items > 0);
    struct rcheck_item *it = &k->items[k->n_items - 1];
    CHECK(!it->closed);
    return it;
}

/* The text an item shows: a message's output_text or refusal, a reasoning's reasoning_text, a
 * call's arguments. */
static struct sl_str rcheck_item_text(json_t *item)
{
    const char *type = rcheck_str(item, "type");
    if (type != NULL && strcmp(type, "function_call") == 0)
        return rcheck_text(item, "arguments");
    json_t *part = json_array_get(json_object_get(item, "content"), 0);
    struct sl_str t = rcheck_text(part, "text");
    return t.ptr != NULL ? t : rcheck_text(part, "refusal");
}

static void rcheck_same_text(const struct rcheck_item *it, struct sl_str text)
{
    CHECK(text.ptr != NULL);
    CHECK(text.len == it->text.len &&
          (it->text.len == 0 || memcmp(text.ptr, it->text.ptr, it->text.len) == 0));
}

static void rcheck_response(struct rcheck_sink *k, json_t *r, bool final)
{
    CHECK(json_is_object(r) && rcheck_is(r, "object", "response"));
    CHECK(rcheck_str(r, "id") != NULL && strncmp(rcheck_str(r, "id"), "resp_", 5) == 0);
    CHECK(rcheck_is(r, "model", k->alias));
    CHECK(json_is_integer(json_object_get(r, "created_at")));
    json_t *out = json_object_get(r, "output");
    CHECK(json_is_array(out));
    if (!final) {
        CHECK(rcheck_is(r, "status", "in_progress") && json_array_size(out) == 0);
        return;
    }
    CHECK(rcheck_is(r, "status", "completed") || rcheck_is(r, "status", "incomplete"));
    CHECK(json_array_size(out) == k->n_items);
    for (size_t i = 0; i < k->n_items; i++) {
        json_t *item = json_array_get(out, i);
        CHECK(rcheck_is(item, "id", k->items[i].id) && rcheck_is(item, "type", k->items[i].type));
        rcheck_same_text(&k->items[i], rcheck_item_text(item));
    }
    json_t *u = json_object_get(r, "usage");
    CHECK(json_is_null(u) || (json_is_integer(json_object_get(u, "input_tokens")) &&
                              json_is_integer(json_object_get(u, "output_tokens")) &&
                              json_integer_value(json_object_get(u, "total_tokens")) ==
                                  json_integer_value(json_object_get(u, "input_tokens")) +
                                      json_integer_value(json_object_get(u, "output_tokens"))));
}

static void rcheck_item_added(struct rcheck_sink *k, json_t *d)
{
    json_t *item = json_object_get(d, "item");
    const char *type = rcheck_str(item, "type"), *id = rcheck_str(item, "id");
    CHECK(k->n_items < RCHECK_MAX_ITEMS);
    CHECK(k->n_items == 0 || k->items[k->n_items - 1].closed);
    CHECK(json_integer_value(json_object_get(d, "output_index")) == (json_int_t)k->n_items);
    CHECK(type != NULL && id != NULL && strlen(type) < 16 && strlen(id) < 96);
    CHECK(strcmp(type, "message") == 0 || strcmp(type, "reasoning") == 0 ||
          strcmp(type, "function_call") == 0);
    CHECK(rcheck_is(item, "status", "in_progress"));
    for (size_t i = 0; i < k->n_items; i++)
        CHECK(strcmp(k->items[i].id, id) != 0);
    if (strcmp(type, "function_call") == 0)
        CHECK(rcheck_str(item, "call_id") != NULL && rcheck_str(item, "name") != NULL &&
              rcheck_is(item, "arguments", ""));
    struct rcheck_item *it = &k->items[k->n_items++];
    memset(it, 0, sizeof(*it));
    strcpy(it->type, type);
    strcpy(it->id, id);
    sl_buf_init(&it->text, (size_t)1 << 30);
    k->part_open = false;
}

/* An event that names the open item (item_id, output_index) and, for parts, content_index 0. */
static struct rcheck_item *rcheck_ref(struct rcheck_sink *k, json_t *d, bool part)
{
    struct rcheck_item *it = rcheck_open(k);
    CHECK(rcheck_is(d, "item_id", it->id));
    CHECK(json_integer_value(json_object_get(d, "output_index")) == (json_int_t)(k->n_items - 1));
    if (part)
        CHECK(json_integer_value(json_object_get(d, "content_index")) == 0);
    return it;
}

static void rcheck_item_event(struct rcheck_sink *k, const char *name, json_t *d)
{
    struct sl_str delta = rcheck_text(d, "delta");
    if (strcmp(name, "response.output_item.added") == 0) {
        rcheck_item_added(k, d);
    } else if (strcmp(name, "response.content_part.added") == 0) {
        struct rcheck_item *it = rcheck_ref(k, d, true);
        CHECK(strcmp(it->type, "function_call") != 0 && !k->part_open);
        k->part_open = true;
    } else if (strcmp(name, "response.output_text.delta") == 0 ||
               strcmp(name, "response.refusal.delta") == 0 ||
               strcmp(name, "response.reasoning_text.delta") == 0) {
        struct rcheck_item *it = rcheck_ref(k, d, true);
        CHECK(k->part_open && delta.ptr != NULL);
        CHECK(strcmp(it->type, strstr(name, "reasoning") != NULL ? "reasoning" : "message") == 0);
        CHECK(sl_buf_append(&it->text, delta.ptr, delta.len) == SL_OK);
    } else if (strcmp(name, "response.function_call_arguments.delta") == 0) {
        struct rcheck_item *it = rcheck_ref(k, d, false);
        CHECK(strcmp(it->type, "function_call") == 0 && delta.ptr != NULL);
        CHECK(sl_buf_append(&it->text, delta.ptr, delta.len) == SL_OK);
    } else if (strcmp(name, "response.output_text.done") == 0 ||
               strcmp(name, "response.refusal.done") == 0 ||
               strcmp(name, "response.reasoning_text.done") == 0) {
        struct rcheck_item *it = rcheck_ref(k, d, true);
        rcheck_same_text(it, rcheck_text(d, strstr(name, "refusal") != NULL ? "refusal" : "text"));
    } else if (strcmp(name, "response.function_call_arguments.done") == 0) {
        struct rcheck_item *it = rcheck_ref(k, d, false);
        rcheck_same_text(it, rcheck_text(d, "arguments"));
    } else if (strcmp(name, "response.content_part.done") == 0) {
        struct rcheck_item *it = rcheck_ref(k, d, true);
        json_t *part = json_object_get(d, "part");
        struct sl_str t = rcheck_text(part, "text");
        rcheck_same_text(it, t.ptr != NULL ? t : rcheck_text(part, "refusal"));
        CHECK(k->part_open);
        k->part_open = false;
    } else if (strcmp(name, "response.output_item.done") == 0) {
        struct rcheck_item *it = rcheck_open(k);
        json_t *item = json_object_get(d, "item");
        CHECK(json_integer_value(json_object_get(d, "output_index")) ==
              (json_int_t)(k->n_items - 1));
        CHECK(rcheck_is(item, "id", it->id) && rcheck_is(item, "status", "completed"));
        CHECK(!k->part_open);
        rcheck_same_text(it, rcheck_item_text(item));
        it->closed = true;
    } else {
        CHECK(!"an event the translation never sends");
    }
}

static int rcheck_on_event(struct sl_filter *f, const struct sl_sevent *ev)
{
    struct rcheck_sink *k = (struct rcheck_sink *)f;
    json_error_t jerr;
    char name[64];
    CHECK(!k->ended && !k->errored && !k->final);
    CHECK(ev->raw.len == 0);
    CHECK(ev->name.len > 0 && ev->name.len < sizeof(name));
    memcpy(name, ev->name.ptr, ev->name.len);
    name[ev->name.len] = '\0';
    CHECK(sl_json_validate(ev->data, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK);
    /* A "\u0000" the upstream sent in text or arguments is copied into deltas as it is. */
    json_t *d = json_loadb(ev->data.ptr, ev->data.len, JSON_ALLOW_NUL, &jerr);
    CHECK(d != NULL && json_is_object(d));
    CHECK(rcheck_is(d, "type", name));
    CHECK(json_integer_value(json_object_get(d, "sequence_number")) == k->seq);
    k->seq++;
    if (strcmp(name, "response.created") == 0) {
        CHECK(!k->created);
        k->created = true;
        rcheck_response(k, json_object_get(d, "response"), false);
    } else if (strcmp(name, "response.in_progress") == 0) {
        CHECK(k->created && !k->in_progress);
        k->in_progress = true;
        rcheck_response(k, json_object_get(d, "response"), false);
    } else if (strcmp(name, "response.completed") == 0 ||
               strcmp(name, "response.incomplete") == 0) {
        CHECK(k->in_progress && (k->n_items == 0 || k->items[k->n_items - 1].closed));
        k->final = true;
        rcheck_response(k, json_object_get(d, "response"), true);
        CHECK(rcheck_is(json_object_get(d, "response"), "status",
                        strcmp(name, "response.completed") == 0 ? "completed" : "incomplete"));
    } else {
        CHECK(k->in_progress);
        rcheck_item_event(k, name, d);
    }
    json_decref(d);
    rcheck_put(k, "event: ", 7);
    rcheck_put(k, name, strlen(name));
    rcheck_put(k, "\ndata: ", 7);
    rcheck_put(k, ev->data.ptr, ev->data.len);
    rcheck_put(k, "\n\n", 2);
    return SL_OK;
}

static int rcheck_on_error(struct sl_filter *f, const struct sl_stream_error *e)
{
    struct rcheck_sink *k = (struct rcheck_sink *)f;
    char line[512];
    CHECK(!k->ended && !k->errored);
    CHECK(e->status >= 400 && e->status <= 599 && e->type != NULL && e->kind != NULL);
    k->errored = true;
    int n = snprintf(line, sizeof(line), ": error status=%d type=%s kind=%s message=%.*s\n\n",
                     e->status, e->type, e->kind, (int)SL_MIN(e->message.len, (size_t)300),
                     e->message.ptr);
    rcheck_put(k, line, (size_t)SL_MIN(n, (int)sizeof(line) - 1));
    return SL_OK;
}

static int rcheck_on_end(struct sl_filter *f)
{
    struct rcheck_sink *k = (struct rcheck_sink *)f;
    CHECK(!k->ended && !k->errored);
    CHECK(k->final); /* the encoder would otherwise have to close the response itself */
    k->ended = true;
    rcheck_put(k, ": end\n\n", 7);
    return SL_OK;
}

static const struct sl_filter_ops rcheck_ops = {
    .on_event = rcheck_on_event,
    .on_error = rcheck_on_error,
    .on_end = rcheck_on_end,
};

static void rcheck_sink_init(struct rcheck_sink *k, const char *alias)
{
    k->super.ops = &rcheck_ops;
    k->super.next = NULL;
    k->alias = alias;
    k->ended = k->errored = k->created = k->in_progress = k->final = k->part_open = false;
    k->seq = 0;
    k->n_items = 0;
    sl_buf_init(&k->log, (size_t)1 << 30);
}

/* The stream ended one way or the other; frees what the sink holds but its log. */
static void rcheck_sink_done(struct rcheck_sink *k)
{
    CHECK(k->ended != k->errored);
    for (size_t i = 0; i < k->n_items; i++)
        sl_buf_dispose(&k->items[i].text);
}

#endif
