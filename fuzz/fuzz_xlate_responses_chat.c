/* Fuzz target for the pair {from: Responses, to: chat} (src/xlate/responses_chat_*.c): a
 * Responses request translated for a chat-only model, and the model's chat.completion and
 * chunk stream translated back. The first input byte picks what runs on the rest:
 *   bits 0-1  0: the request translator, 1: the response translator, 2-3: the stream stage
 *   bit 4     a small output cap (request/response: 0-255 bytes, from the next byte), so the
 *             writer's sticky cap is reached at every point
 * Oracles: a translation either fails cleanly (SL_EPARSE with a reason, or SL_E2BIG, and nothing
 * left in the output) or writes a JSON object that the strict validator and jansson accept,
 * within the cap and of the shape its wire promises (a chat request with model and messages; a
 * response object with output and usage); a request that asks for state a chat upstream does
 * not keep (store, background, previous_response_id) is never translated; the stream follows the
 * Responses event grammar (fuzz_xlate_responses_check.h). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_xlate_responses_check.h"
#include "sluice/sse.h"
#include "sluice/xlate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *json_of(struct sl_str doc)
{
    json_error_t jerr;
    CHECK(sl_json_validate(doc, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK);
    json_t *d = json_loadb(doc.ptr, doc.len, JSON_ALLOW_NUL, &jerr);
    /* jansson refuses numbers past int64 and double, and a NUL in a member name, all of which
       JSON allows: a caller's unknown member copied through may carry any of them. The strict
       validator passed. */
    if (d == NULL)
        CHECK(strstr(jerr.text, "too big") != NULL || strstr(jerr.text, "overflow") != NULL ||
              strstr(jerr.text, "NUL byte") != NULL);
    else
        CHECK(json_is_object(d));
    return d;
}

/* Whether the caller's body asks for state (then no translation may exist). */
static bool asks_for_state(struct sl_str in)
{
    static const struct sl_str keys[] = {SL_STR_INIT("store"), SL_STR_INIT("background"),
                                         SL_STR_INIT("previous_response_id")};
    struct sl_json_member m[3];
    if (sl_json_scan_object(in, SL_JSON_DEFAULT_MAX_DEPTH, keys, 3, m, NULL) != SL_OK)
        return false;
    return m[0].type == SL_JSON_TRUE || m[1].type == SL_JSON_TRUE || m[2].type == SL_JSON_STRING;
}

static void check_request(json_t *d)
{
    json_t *msgs = json_object_get(d, "messages"), *m;
    size_t i;
    CHECK(json_is_string(json_object_get(d, "model")) && json_is_array(msgs));
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        CHECK(role != NULL && (strcmp(role, "system") == 0 || strcmp(role, "user") == 0 ||
                               strcmp(role, "assistant") == 0 || strcmp(role, "tool") == 0));
    }
}

static void check_response(json_t *d, const struct sl_usage *u)
{
    json_t *usage = json_object_get(d, "usage");
    CHECK(json_is_string(json_object_get(d, "object")) &&
          strcmp(json_string_value(json_object_get(d, "object")), "response") == 0);
    CHECK(json_is_array(json_object_get(d, "output")) &&
          json_array_size(json_object_get(d, "output")) > 0);
    CHECK(json_is_null(usage) ||
          json_integer_value(json_object_get(usage, "total_tokens")) ==
              json_integer_value(json_object_get(usage, "input_tokens")) +
                  json_integer_value(json_object_get(usage, "output_tokens")));
    CHECK(u->input_tokens >= -1 && u->output_tokens >= -1);
}

static void fuzz_json(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c, bool request,
                      struct sl_str in, size_t cap)
{
    struct sl_buf out;
    struct sl_usage usage;
    char why[256];
    int rc;
    memset(why, 0x55, sizeof(why));
    sl_buf_init(&out, cap);
    if (request)
        rc = p->request(c, in, &out, why, sizeof(why));
    else
        rc = p->response(c, in, &out, &usage, why, sizeof(why));
    CHECK(out.len <= cap);
    if (rc == SL_OK) {
        CHECK(!request || !asks_for_state(in));
        json_t *d = json_of(sl_buf_str(&out));
        if (d != NULL && request)
            check_request(d);
        else if (d != NULL)
            check_response(d, &usage);
        json_decref(d);
    } else {
        CHECK(rc == SL_EPARSE || rc == SL_E2BIG);
        CHECK(out.len == 0);
        CHECK(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0');
    }
    sl_buf_dispose(&out);
}

struct feed {
    struct sl_filter *stage;
    int rc;
};

static int feed_event(void *ud, const struct sl_sse_event *ev)
{
    struct feed *f = ud;
    struct sl_sevent e = {.name = ev->event, .data = ev->data, .raw = ev->raw};
    if (f->rc != SL_OK || !ev->has_data)
        return 0;
    f->rc = sl_filter_event(f->stage, &e);
    CHECK(f->rc == SL_OK || f->rc == SL_DONE);
    return 0;
}

static void fuzz_stream(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                        struct sl_str in)
{
    h2o_mem_pool_t pool;
    struct sl_usage usage;
    struct sl_sse_parser sse;
    struct rcheck_sink *sink = malloc(sizeof(*sink));
    CHECK(sink != NULL);
    h2o_mem_init_pool(&pool);
    rcheck_sink_init(sink, "alias");
    struct feed f = {.stage = p->stream(&pool, c, &usage, &sink->super), .rc = SL_OK};
    sl_sse_init(&sse, 1 << 20, false);
    if (sl_sse_feed(&sse, in.ptr, in.len, feed_event, &f) == SL_OK)
        sl_sse_finish(&sse, feed_event, &f);
    if (f.rc == SL_OK)
        CHECK(sl_filter_end(f.stage) == SL_OK);
    rcheck_sink_done(sink);
    sl_buf_dispose(&sink->log);
    free(sink);
    sl_sse_dispose(&sse);
    h2o_mem_clear_pool(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct sl_xlate_pair *p = sl_xlate_for(SL_WIRE_RESPONSES, SL_WIRE_CHAT);
    CHECK(p != NULL);
    if (size < 2)
        return 0;
    uint8_t sel = data[0];
    size_t cap = (sel & 0x10) != 0 ? data[1] : (size_t)1 << 22;
    struct sl_xlate_ctx c = {
        .alias = SL_STRLIT("alias"),
        .alias_json = SL_STRLIT("\"alias\""),
        .upstream_model = SL_STRLIT("upstream"),
        .stream = (sel & 3) >= 2,
        .id_seed = SL_STRLIT("seed"),
        .created = 1,
    };
    struct sl_str in = sl_str_init((const char *)data + 2, size - 2);
    switch (sel & 3) {
    case 0:
        fuzz_json(p, &c, true, in, cap);
        break;
    case 1:
        fuzz_json(p, &c, false, in, cap);
        break;
    default:
        fuzz_stream(p, &c, in);
        break;
    }
    return 0;
}
