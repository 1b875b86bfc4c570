/* Upstream chunks rewritten for the caller: a rewrite of any input must be a valid JSON object
 * in which every top-level "model" member (however often it repeats, however it is escaped) is
 * the alias, and without keep_usage it must carry no "usage": null. Only an input that repeats
 * "model" more often than a splice can edit is refused. */
#include <stdint.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/chunk.h"
#include "sluice/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count_occurrences(struct sl_str s, struct sl_str needle)
{
    size_t n = 0;
    for (size_t i = 0; i + needle.len <= s.len; i++)
        n += memcmp(s.ptr + i, needle.ptr, needle.len) == 0;
    return n;
}

/* Top-level "model" members of a valid object, by a plain walk. */
static size_t count_models(struct sl_str obj)
{
    struct sl_json_iter it;
    struct sl_json_key k;
    struct sl_json_member m;
    size_t n = 0;
    SL_ASSERT(sl_json_iter_init(&it, obj, SL_JSON_DEFAULT_MAX_DEPTH) == SL_OK);
    while (sl_json_iter_next(&it, &k, &m) == 1)
        n += sl_json_key_eq(k, SL_STRLIT("model"));
    return n;
}

static bool every_model_is(struct sl_str obj, struct sl_str want)
{
    struct sl_json_iter it;
    struct sl_json_key k;
    struct sl_json_member m;
    SL_ASSERT(sl_json_iter_init(&it, obj, SL_JSON_DEFAULT_MAX_DEPTH) == SL_OK);
    while (sl_json_iter_next(&it, &k, &m) == 1) {
        if (sl_json_key_eq(k, SL_STRLIT("model")) && !sl_str_eq(m.value, want))
            return false;
    }
    return true;
}

/* The stream-event plan skims instead of validating: on a valid chunk it must plan exactly
 * what the validating plan plans. */
static void check_event_plan(struct sl_str in, bool keep_usage, bool valid,
                             enum sl_chunk_action want, const struct sl_splice *want_sp)
{
    static const struct sl_str alias = SL_STR_INIT("\"alias-\\u00e9\"");
    struct sl_splice sp;
    struct sl_chunk_usage u;
    enum sl_chunk_action a = sl_chunk_plan_event(in, alias, keep_usage, &sp, &u);
    if (!valid)
        return;
    SL_ASSERT(a == want);
    SL_ASSERT(sp.n == want_sp->n);
    for (size_t i = 0; i < sp.n; i++)
        SL_ASSERT(sp.edits[i].start == want_sp->edits[i].start &&
                  sp.edits[i].end == want_sp->edits[i].end &&
                  sl_str_eq(sp.edits[i].with, want_sp->edits[i].with));
}

static void check(struct sl_str in, bool keep_usage)
{
    static const struct sl_str alias = SL_STR_INIT("\"alias-\\u00e9\"");
    static const struct sl_str keys[] = {SL_STR_INIT("model"), SL_STR_INIT("usage")};
    struct sl_splice sp;
    struct sl_chunk_usage u;
    struct sl_json_member before[2], after[2];
    enum sl_chunk_action a = sl_chunk_plan(in, alias, keep_usage, &sp, &u);
    bool valid = sl_json_scan_object(in, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, before, NULL) == SL_OK;
    check_event_plan(in, keep_usage, valid, a, &sp);
    SL_ASSERT(valid == (a != SL_CHUNK_RAW));
    if (a == SL_CHUNK_REFUSE)
        SL_ASSERT(count_models(in) + (keep_usage ? 0 : 1) > SL_SPLICE_MAX_EDITS);
    if (a != SL_CHUNK_REWRITE)
        return;
    struct sl_buf out;
    sl_buf_init(&out, in.len + SL_SPLICE_MAX_EDITS * alias.len + 16);
    SL_ASSERT(sl_splice_append(&sp, &out) == SL_OK);
    SL_ASSERT(sl_json_scan_object(sl_buf_str(&out), SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, after,
                                  NULL) == SL_OK);
    if (before[0].type != SL_JSON_ABSENT)
        SL_ASSERT(after[0].type == SL_JSON_STRING && sl_str_eq(after[0].value, alias));
    SL_ASSERT(count_models(sl_buf_str(&out)) == count_models(in));
    SL_ASSERT(every_model_is(sl_buf_str(&out), alias));
    /* With a repeated "usage" key only the effective (last) one is removed, which may uncover an
     * earlier one; that pathological case is exempt. */
    if (!keep_usage && count_occurrences(in, SL_STRLIT("\"usage\"")) <= 1)
        SL_ASSERT(after[1].type != SL_JSON_NULL);
    sl_buf_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str in = sl_str_init((const char *)data, size);
    check(in, true);
    check(in, false);
    return 0;
}
