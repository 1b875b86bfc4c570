#include "sluice/chunk.h"

#include "sluice/base.h"
#include "sluice/json.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The bytes to delete to remove one member from an object: the member and the comma that
 * separates it from its neighbour (the one before it, or after it when it is the first). */
static struct sl_str member_with_comma(struct sl_str obj, struct sl_str member)
{
    const char *start = member.ptr, *end = member.ptr + member.len, *lim = obj.ptr + obj.len;
    const char *p = start;
    while (p > obj.ptr && is_space(p[-1]))
        p--;
    if (p > obj.ptr && p[-1] == ',')
        return sl_str_init(p - 1, (size_t)(end - (p - 1)));
    const char *q = end;
    while (q < lim && is_space(*q))
        q++;
    if (q < lim && *q == ',')
        return sl_str_init(start, (size_t)(q + 1 - start));
    return member;
}

/* Both counts in one scan of the usage object (it is small, but this runs per chunk). */
static void read_usage(struct sl_str obj, struct sl_chunk_usage *u)
{
    static const struct sl_str keys[] = {SL_STR_INIT("prompt_tokens"),
                                         SL_STR_INIT("completion_tokens")};
    struct sl_json_member m[2];
    uint64_t v;
    if (sl_json_scan_object(obj, SL_JSON_DEFAULT_MAX_DEPTH, keys, 2, m, NULL) != SL_OK)
        return;
    if (m[0].type == SL_JSON_NUMBER && sl_json_to_u64(m[0].value, &v) == SL_OK && v <= INT64_MAX)
        u->prompt_tokens = (int64_t)v;
    if (m[1].type == SL_JSON_NUMBER && sl_json_to_u64(m[1].value, &v) == SL_OK && v <= INT64_MAX)
        u->completion_tokens = (int64_t)v;
}

/* The rare reply that repeats "model": every copy is rewritten, found by a second walk. */
static bool replace_every_model(struct sl_str data, struct sl_str alias_json, struct sl_splice *sp)
{
    struct sl_json_iter it;
    struct sl_json_key k;
    struct sl_json_member m;
    SL_ASSERT(sl_json_iter_init(&it, data, SL_JSON_DEFAULT_MAX_DEPTH) == SL_OK);
    while (sl_json_iter_next(&it, &k, &m) == 1) {
        if (!sl_json_key_eq(k, SL_STRLIT("model")))
            continue;
        if (sl_splice_is_full(sp))
            return false;
        sl_splice_replace(sp, m.value, alias_json);
    }
    return true;
}

bool sl_chunk_replace_models(struct sl_str obj, const struct sl_json_member *model,
                             struct sl_str alias_json, struct sl_splice *sp)
{
    if (model->seen == 0)
        return true;
    if (model->seen > 1)
        return replace_every_model(obj, alias_json, sp);
    if (sl_splice_is_full(sp))
        return false;
    sl_splice_replace(sp, model->value, alias_json);
    return true;
}

static enum sl_chunk_action plan(struct sl_str data, struct sl_str alias_json, bool keep_usage,
                                 struct sl_splice *sp, struct sl_chunk_usage *usage, bool skim)
{
    static const struct sl_str keys[] = {SL_STR_INIT("model"), SL_STR_INIT("usage"),
                                         SL_STR_INIT("choices")};
    struct sl_json_member m[3];
    *usage = (struct sl_chunk_usage){-1, -1};
    sl_splice_init(sp, data);
    int rc = skim ? sl_json_skim_object(data, keys, 3, m)
                  : sl_json_scan_object(data, SL_JSON_DEFAULT_MAX_DEPTH, keys, 3, m, NULL);
    if (rc != SL_OK)
        return SL_CHUNK_RAW;
    /* A repeated model is rewritten by a walk that needs a document it has validated. */
    if (skim && m[0].seen > 1)
        return plan(data, alias_json, keep_usage, sp, usage, false);
    if (m[1].type == SL_JSON_OBJECT) {
        read_usage(m[1].value, usage);
        if (!keep_usage && m[2].type == SL_JSON_ARRAY && m[2].count == 0)
            return SL_CHUNK_DROP;
    }
    if (!sl_chunk_replace_models(data, &m[0], alias_json, sp))
        return SL_CHUNK_REFUSE;
    if (!keep_usage && m[1].type == SL_JSON_NULL) {
        if (sl_splice_is_full(sp))
            return SL_CHUNK_REFUSE;
        sl_splice_replace(sp, member_with_comma(data, m[1].member), SL_STR_NULL);
    }
    return SL_CHUNK_REWRITE;
}

enum sl_chunk_action sl_chunk_plan(struct sl_str data, struct sl_str alias_json, bool keep_usage,
                                   struct sl_splice *sp, struct sl_chunk_usage *usage)
{
    return plan(data, alias_json, keep_usage, sp, usage, false);
}

enum sl_chunk_action sl_chunk_plan_event(struct sl_str data, struct sl_str alias_json,
                                         bool keep_usage, struct sl_splice *sp,
                                         struct sl_chunk_usage *usage)
{
    return plan(data, alias_json, keep_usage, sp, usage, true);
}
