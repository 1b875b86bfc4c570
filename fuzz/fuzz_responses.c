/* Fuzz target for what a Responses caller and a Responses upstream send through Sluice's own
 * code besides the translation pair: sealed ids presented by callers (src/xlate/respid.c) and
 * the dialect's passthrough rewrite and encoder (src/xlate/dialect_responses.c). The first input
 * byte picks what runs on the rest:
 *   0  sl_respid_parse of the rest as an id; an id that opens is the seal of what it carries
 *   1  the passthrough JSON rewrite of the rest (a response object, list, deletion...)
 *   2  the passthrough stream stage and the encoder over the rest as an SSE stream
 * Oracles: a rewritten JSON reply is valid JSON when the upstream's was, its top-level model is
 * the alias, and a response's id opens for the request's claims and names the upstream's id;
 * the bytes a caller reads frame as SSE, every response object in them carries the alias, and
 * the stream ends with exactly one closing event (response.completed, .incomplete, .failed or
 * error) unless the upstream sent more than one itself. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/dialect.h"
#include "sluice/json.h"
#include "sluice/respid.h"
#include "sluice/splice.h"
#include "sluice/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALIAS  "alias"
#define SECRET "fuzz-secret-0123456789abcdef"

static struct sl_responses_state state;

static struct sl_xlate_ctx ctx(void)
{
    state = (struct sl_responses_state){
        .secret = SL_STRLIT(SECRET),
        .claims = {.provider_key = SL_STRLIT("pk"),
                   .caller = SL_STRLIT("caller"),
                   .alias = SL_STRLIT(ALIAS)},
    };
    return (struct sl_xlate_ctx){.alias = SL_STRLIT(ALIAS),
                                 .alias_json = SL_STRLIT("\"" ALIAS "\""),
                                 .upstream_model = SL_STRLIT("up"),
                                 .id_seed = SL_STRLIT("seed"),
                                 .created = 1,
                                 .dialect_state = &state};
}

static void fuzz_id(struct sl_str in)
{
    struct sl_respid id;
    char buf[SL_RESPID_MAX_TEXT];
    size_t len;
    if (sl_respid_parse(in, &id) != SL_OK)
        return;
    CHECK(id.alias.len <= SL_RESPID_MAX_PART && id.upstream_id.len <= SL_RESPID_MAX_PART);
    if (!sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("pk"), SL_STRLIT("caller")))
        return;
    struct sl_respid_claims c = {SL_STRLIT("pk"), SL_STRLIT("caller"), id.alias};
    CHECK(sl_respid_seal(SL_STRLIT(SECRET), &c, id.upstream_id, buf, &len) == SL_OK);
    CHECK(len == in.len && memcmp(buf, in.ptr, len) == 0);
}

/* The upstream's own id, when the response object's top level has a plain string one. */
static const char *plain_id(json_t *d)
{
    const char *id = json_string_value(json_object_get(d, "id"));
    const char *obj = json_string_value(json_object_get(d, "object"));
    if (id == NULL || id[0] == '\0' || strlen(id) > SL_RESPID_MAX_PART ||
        (obj != NULL && strcmp(obj, "list") == 0))
        return NULL;
    return id;
}

static void fuzz_json(struct sl_str in)
{
    struct sl_xlate_ctx c = ctx();
    struct sl_splice sp;
    struct sl_usage usage = SL_USAGE_UNKNOWN;
    struct sl_buf out;
    enum sl_rewrite rw = sl_dialect_responses.passthrough_json(&c, in, c.alias_json, &sp, &usage);
    if (rw != SL_REWRITE_OK)
        return;
    bool valid = sl_json_validate(in, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK;
    sl_buf_init(&out, in.len + 4 * SL_RESPID_MAX_TEXT + 64 * 16);
    CHECK(sl_splice_append(&sp, &out) == SL_OK);
    if (valid) {
        CHECK(sl_json_validate(sl_buf_str(&out), SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK);
        json_t *before = json_loadb(in.ptr, in.len, 0, NULL);
        json_t *after = json_loadb(out.ptr, out.len, 0, NULL);
        /* jansson keeps the last of repeated names, as Sluice's rewrite of every copy does. */
        if (before != NULL && after != NULL && json_is_object(after)) {
            if (json_is_string(json_object_get(before, "model")))
                CHECK(strcmp(json_string_value(json_object_get(after, "model")), ALIAS) == 0);
            const char *up = plain_id(before);
            const char *sealed = json_string_value(json_object_get(after, "id"));
            struct sl_respid id;
            if (up != NULL && strchr(up, '\\') == NULL && sealed != NULL &&
                strcmp(sealed, up) != 0) {
                CHECK(sl_respid_parse(sl_str_from_cstr(sealed), &id) == SL_OK);
                CHECK(
                    sl_respid_verify(&id, SL_STRLIT(SECRET), SL_STRLIT("pk"), SL_STRLIT("caller")));
                CHECK(sl_str_eq(id.upstream_id, sl_str_from_cstr(up)));
            }
        }
        json_decref(before);
        json_decref(after);
    }
    sl_buf_dispose(&out);
}

struct feed {
    struct sl_filter *stage;
    int rc;
    size_t closing_in; /* closing events the upstream sent */
};

/* A closing event, by its name or, unnamed, by its data's type (as the encoder tells them). */
static bool closing(struct sl_str name, struct sl_str data)
{
    struct sl_json_member t;
    if (name.len == 0 && sl_json_find(data, SL_STRLIT("type"), &t) == SL_OK &&
        t.type == SL_JSON_STRING)
        name = sl_str_init(t.value.ptr + 1, t.value.len - 2);
    return sl_str_eq_lit(name, "response.completed") || sl_str_eq_lit(name, "response.failed") ||
           sl_str_eq_lit(name, "response.incomplete") || sl_str_eq_lit(name, "error");
}

static int feed_event(void *ud, const struct sl_sse_event *ev)
{
    struct feed *f = ud;
    struct sl_sevent e = {.name = ev->event, .data = ev->data, .raw = ev->raw};
    if (f->rc != SL_OK || !ev->has_data)
        return 0;
    f->closing_in += closing(ev->event, ev->data);
    f->rc = sl_filter_event(f->stage, &e);
    CHECK(f->rc == SL_OK || f->rc == SL_DONE || f->rc == SL_E2BIG);
    return 0;
}

static bool carries(struct sl_str name)
{
    return sl_str_eq_lit(name, "response.created") || sl_str_eq_lit(name, "response.in_progress") ||
           sl_str_eq_lit(name, "response.completed") || sl_str_eq_lit(name, "response.failed") ||
           sl_str_eq_lit(name, "response.incomplete") || sl_str_eq_lit(name, "response.queued");
}

struct count {
    size_t closing_out;
};

static int count_event(void *ud, const struct sl_sse_event *ev)
{
    struct count *k = ud;
    struct sl_json_member resp, model;
    k->closing_out += closing(ev->event, ev->data);
    /* A response object the rewrite read carries the alias: the rewrite reads the events named
       as carrying one (other names go on as the upstream sent them, whatever their data says),
       and an event that is not valid JSON goes on as sent, as on every other route. */
    if (carries(ev->event) &&
        sl_json_validate(ev->data, SL_JSON_DEFAULT_MAX_DEPTH, NULL) == SL_OK &&
        sl_json_find(ev->data, SL_STRLIT("response"), &resp) == SL_OK &&
        resp.type == SL_JSON_OBJECT &&
        sl_json_find(resp.value, SL_STRLIT("model"), &model) == SL_OK &&
        model.type == SL_JSON_STRING && model.seen == 1)
        CHECK(sl_str_eq_lit(model.value, "\"" ALIAS "\""));
    return 0;
}

static void fuzz_stream(struct sl_str in)
{
    const struct sl_dialect *d = &sl_dialect_responses;
    struct sl_xlate_ctx c = ctx();
    h2o_mem_pool_t pool;
    struct sl_usage usage = SL_USAGE_UNKNOWN;
    struct sl_buf wire;
    struct sl_sse_parser sse, reread;
    h2o_mem_init_pool(&pool);
    sl_buf_init(&wire, 1 << 26);
    struct feed f = {.stage = d->passthrough_stream(&pool, &c, &usage, d->encoder(&pool, &wire)),
                     .rc = SL_OK};
    sl_sse_init(&sse, 1 << 20, false);
    if (sl_sse_feed(&sse, in.ptr, in.len, feed_event, &f) == SL_OK)
        sl_sse_finish(&sse, feed_event, &f);
    if (f.rc == SL_OK)
        CHECK(sl_filter_end(f.stage) == SL_OK);
    /* What the caller reads frames as SSE again. */
    struct count k = {0};
    sl_sse_init(&reread, 1 << 27, false);
    CHECK(sl_sse_feed(&reread, wire.ptr, wire.len, count_event, &k) == SL_OK);
    CHECK(sl_sse_finish(&reread, count_event, &k) == SL_OK);
    if (f.rc == SL_OK && f.closing_in <= 1)
        CHECK(k.closing_out == 1);
    sl_sse_dispose(&reread);
    sl_sse_dispose(&sse);
    sl_buf_dispose(&wire);
    h2o_mem_clear_pool(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sl_str in = sl_str_init((const char *)data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        fuzz_id(in);
        break;
    case 1:
        fuzz_json(in);
        break;
    default:
        fuzz_stream(in);
        break;
    }
    return 0;
}
