#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic_req.h"
#include "render_anthropic.h"

/* The API validates with pydantic, so its messages read "<dotted path>: <reason>", with a
 * discriminated union's tag as a path segment ("messages.0.content.1.tool_use.text: Extra inputs
 * are not permitted"). The mock words its messages the same way. */

#define MAX_PATH  256
#define MIN_THINK 1024

struct val {
    const struct an_limits *lim;
    struct an_request *out;
    mock_alloc_fn *alloc;
    void *ud;
    char *err;
    size_t errlen;
    char path[MAX_PATH];
    size_t plen;
    struct sl_str *tool_names; /* decoded names from tools, for tool_choice */
    size_t n_tool_names;
};

/* A decoded list of tool_use or tool_result ids of one message, with their block indexes. */
struct ids {
    struct sl_str *v;
    size_t *block;
    size_t n, cap;
};

/* Appends ".seg" (or "seg" at the start) to the path, cut at its capacity; returns the old length
 * for pop. Plain copies: the path moves on every member, so no printf here. */
static size_t push(struct val *v, const char *seg)
{
    size_t old = v->plen, room = sizeof(v->path) - 1 - v->plen, n = strlen(seg);

    if (old != 0 && room != 0) {
        v->path[v->plen++] = '.';
        room--;
    }
    n = SL_MIN(n, room);
    memcpy(v->path + v->plen, seg, n);
    v->plen += n;
    v->path[v->plen] = '\0';
    return old;
}

static size_t push_index(struct val *v, size_t i)
{
    char tmp[24];
    size_t n = sizeof(tmp) - 1;

    tmp[n] = '\0';
    do {
        tmp[--n] = (char)('0' + i % 10);
        i /= 10;
    } while (i != 0);
    return push(v, tmp + n);
}

static void pop(struct val *v, size_t len)
{
    v->plen = len;
    v->path[len] = '\0';
}

__attribute__((format(printf, 2, 3))) static int fail(struct val *v, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (v->plen != 0)
        n = snprintf(v->err, v->errlen, "%s: ", v->path);
    va_start(ap, fmt);
    vsnprintf(v->err + SL_MIN((size_t)SL_MAX(n, 0), v->errlen - 1),
              v->errlen - SL_MIN((size_t)SL_MAX(n, 0), v->errlen - 1), fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

/* A member name or string token, decoded and cut to at most 64 bytes, for messages. */
static const char *shown(struct val *v, struct sl_str raw)
{
    char *buf = v->alloc(v->ud, raw.len + 1);
    size_t n = SL_MIN(mj_unescape(raw, buf), 64);

    buf[n] = '\0';
    return buf;
}

static int extra(struct val *v, struct sl_str key)
{
    size_t old = push(v, shown(v, key));
    int rc = fail(v, "Extra inputs are not permitted");

    pop(v, old);
    return rc;
}

static int missing(struct val *v, const char *name)
{
    size_t old = push(v, name);
    int rc = fail(v, "Field required");

    pop(v, old);
    return rc;
}

static struct sl_str decode(struct val *v, struct sl_str raw)
{
    char *p = v->alloc(v->ud, raw.len);
    return sl_str_init(p, mj_unescape(raw, p));
}

static bool is_empty_array(struct mj_value x)
{
    struct mj_iter it;
    struct mj_value e;

    mj_iter_init(&it, x);
    return !mj_next_elem(&it, &e);
}

/* --- member tables --- */

enum fkind {
    K_ANY = 0,
    K_STR,
    K_STR_NULL,
    K_BOOL,
    K_OBJ,
    K_OBJ_NULL,
    K_ARR,
    K_ARR_NULL,
    K_CACHE,  /* cache_control: null or {type: "ephemeral", ttl?} */
    K_CUSTOM, /* checked by the caller */
};

struct fspec {
    const char *name;
    enum fkind kind;
    bool required;
};

static int check_cache(struct val *v, struct mj_value x);

static int check_kind(struct val *v, enum fkind kind, struct mj_value x)
{
    enum mj_type t = x.type;

    switch (kind) {
    case K_STR:
    case K_STR_NULL:
        if (t == MJ_STRING || (kind == K_STR_NULL && t == MJ_NULL))
            return SL_OK;
        return fail(v, "Input should be a valid string");
    case K_BOOL:
        return t == MJ_TRUE || t == MJ_FALSE ? SL_OK : fail(v, "Input should be a valid boolean");
    case K_OBJ:
    case K_OBJ_NULL:
        if (t == MJ_OBJECT || (kind == K_OBJ_NULL && t == MJ_NULL))
            return SL_OK;
        return fail(v, "Input should be a valid dictionary");
    case K_ARR:
    case K_ARR_NULL:
        if (t == MJ_ARRAY || (kind == K_ARR_NULL && t == MJ_NULL))
            return SL_OK;
        return fail(v, "Input should be a valid list");
    case K_CACHE:
        return check_cache(v, x);
    default:
        return SL_OK;
    }
}

/* Checks obj's members against specs[0..n): no others, required ones present, each of its kind.
 * vals[i] receives the value of specs[i] (MJ_ABSENT when absent). The path names obj. */
static int check_members(struct val *v, struct mj_value obj, const struct fspec *specs, size_t n,
                         struct mj_value *vals)
{
    struct mj_iter it;
    struct sl_str key;
    struct mj_value x;

    for (size_t i = 0; i < n; i++)
        vals[i] = (struct mj_value){MJ_ABSENT, SL_STR_NULL};
    mj_iter_init(&it, obj);
    while (mj_next_member(&it, &key, &x)) {
        size_t i = 0;
        while (i < n && !mj_str_is(key, specs[i].name))
            i++;
        if (i == n)
            return extra(v, key);
        vals[i] = x;
    }
    for (size_t i = 0; i < n; i++) {
        size_t old;
        int rc;
        if (vals[i].type == MJ_ABSENT) {
            if (specs[i].required)
                return missing(v, specs[i].name);
            continue;
        }
        old = push(v, specs[i].name);
        rc = check_kind(v, specs[i].kind, vals[i]);
        pop(v, old);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* The "type" tag of a discriminated union member obj, checked against tags[0..n). Returns the
 * index of its tag, or -1 after writing the error. */
static int union_tag(struct val *v, struct mj_value obj, const char *const *tags, size_t n)
{
    static const struct sl_str key = MJ_KEY("type");
    struct mj_value t;
    char list[256];
    size_t len = 0;

    if (obj.type != MJ_OBJECT) {
        fail(v, "Input should be a valid dictionary");
        return -1;
    }
    SL_ASSERT(mj_scan_object(obj.raw, &key, 1, &t) == SL_OK);
    if (t.type != MJ_STRING) {
        fail(v, "Unable to extract tag using discriminator 'type'");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (mj_str_is(t.raw, tags[i]))
            return (int)i;
    for (size_t i = 0; i < n && len < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'", i ? ", " : "", tags[i]);
    fail(v, "Input tag '%s' found using 'type' does not match any of the expected tags: %s",
         shown(v, t.raw), list);
    return -1;
}

/* A string member that must be one of values[0..n). */
static int check_enum(struct val *v, struct mj_value x, const char *const *values, size_t n)
{
    char list[192];
    size_t len = 0;

    for (size_t i = 0; x.type == MJ_STRING && i < n; i++)
        if (mj_str_is(x.raw, values[i]))
            return SL_OK;
    for (size_t i = 0; i < n && len < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'",
                                i == 0       ? ""
                                : i + 1 == n ? " or "
                                             : ", ",
                                values[i]);
    return fail(v, "Input should be %s", list);
}

static int check_cache(struct val *v, struct mj_value x)
{
    static const char *const tags[] = {"ephemeral"};
    static const char *const ttls[] = {"5m", "1h"};
    static const struct fspec specs[] = {{"type", K_ANY, true}, {"ttl", K_CUSTOM, false}};
    struct mj_value vals[SL_ARRAY_LEN(specs)];
    size_t old;
    int rc;

    if (x.type == MJ_NULL)
        return SL_OK;
    if (union_tag(v, x, tags, 1) < 0)
        return SL_EPARSE;
    old = push(v, "ephemeral");
    rc = check_members(v, x, specs, SL_ARRAY_LEN(specs), vals);
    if (rc == SL_OK && vals[1].type != MJ_ABSENT) {
        size_t o2 = push(v, "ttl");
        rc = check_enum(v, vals[1], ttls, 2);
        pop(v, o2);
    }
    pop(v, old);
    return rc;
}

static double number_of(struct mj_value x)
{
    char buf[64];

    memcpy(buf, x.raw.ptr, SL_MIN(x.raw.len, sizeof(buf) - 1));
    buf[SL_MIN(x.raw.len, sizeof(buf) - 1)] = '\0';
    return strtod(buf, NULL);
}

/* Reads an integer member no smaller than min. Like the API's validator it takes a number with a
 * zero fractional part (1024.0) as an integer. */
static int get_uint(struct val *v, struct mj_value x, uint64_t min, uint64_t *out)
{
    double d;

    if (x.type != MJ_NUMBER)
        return fail(v, "Input should be a valid integer");
    if (sl_str_to_u64(x.raw, UINT64_MAX, out) == SL_OK && *out >= min)
        return SL_OK; /* the common case: plain digits */
    d = number_of(x);
    if (d != floor(d))
        return fail(v, "Input should be a valid integer, got a number with a fractional part");
    if (d < (double)min)
        return fail(v, "Input should be greater than or equal to %llu", (unsigned long long)min);
    if (d >= 9007199254740992.0) /* 2^53: past this a double is no longer exact */
        return fail(v, "Input should be a valid integer");
    *out = (uint64_t)d;
    return SL_OK;
}

/* A number member within [lo, hi]. */
static int check_range(struct val *v, struct mj_value x, double lo, double hi)
{
    double d;

    if (x.type != MJ_NUMBER)
        return fail(v, "Input should be a valid number");
    d = number_of(x);
    if (d < lo)
        return fail(v, "Input should be greater than or equal to %g", lo);
    if (d > hi)
        return fail(v, "Input should be less than or equal to %g", hi);
    return SL_OK;
}

/* --- content blocks --- */

enum block {
    B_TEXT = 0,
    B_IMAGE,
    B_DOCUMENT,
    B_TOOL_USE,
    B_TOOL_RESULT,
    B_THINKING,
    B_REDACTED,
};

static const char *const block_tags[] = {"text",        "image",    "document",         "tool_use",
                                         "tool_result", "thinking", "redacted_thinking"};

/* Where a block is: its message's role and the tool ids it collects. */
struct block_ctx {
    bool assistant;
    bool in_tool_result; /* a block inside a tool_result's content */
    struct ids *uses;    /* tool_use ids of this message */
    struct ids *results; /* tool_result ids of this message */
    size_t index;        /* the block's index in its message */
};

static void ids_add(struct val *v, struct ids *ids, struct sl_str id, size_t block)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? 2 * ids->cap : 8;
        struct sl_str *p = v->alloc(v->ud, cap * sizeof(*p));
        size_t *b = v->alloc(v->ud, cap * sizeof(*b));
        if (ids->n != 0) {
            memcpy(p, ids->v, ids->n * sizeof(*p));
            memcpy(b, ids->block, ids->n * sizeof(*b));
        }
        ids->v = p;
        ids->block = b;
        ids->cap = cap;
    }
    ids->block[ids->n] = block;
    ids->v[ids->n++] = id;
}

static bool ids_has(const struct ids *ids, struct sl_str id)
{
    for (size_t i = 0; i < ids->n; i++)
        if (sl_str_eq(ids->v[i], id))
            return true;
    return false;
}

static int check_text_block(struct val *v, struct mj_value b, const struct block_ctx *bc)
{
    static const struct fspec specs[] = {{"type", K_ANY, true},
                                         {"text", K_STR, true},
                                         {"cache_control", K_CACHE, false},
                                         {"citations", K_ARR_NULL, false}};
    struct mj_value x[SL_ARRAY_LEN(specs)];
    int rc = check_members(v, b, specs, SL_ARRAY_LEN(specs), x);

    if (rc != SL_OK)
        return rc;
    if (x[1].raw.len == 2) {
        v->plen = 0;
        return fail(v, "messages: text content blocks must be non-empty");
    }
    if (v->lim->version == AN_V2026_10_21 && !bc->assistant && x[3].type == MJ_ARRAY &&
        !is_empty_array(x[3])) {
        size_t old = push(v, "citations");
        rc = fail(v, "citations on text blocks in user messages are not supported in API version "
                     "2026-10-21");
        pop(v, old);
    }
    return rc;
}

/* An image or document source: a union of source kinds, each with its own members. */
static int check_source(struct val *v, struct mj_value src, bool document)
{
    static const char *const img_tags[] = {"base64", "url", "file"};
    static const char *const doc_tags[] = {"base64", "text", "content", "url", "file"};
    static const char *const img_types[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
    static const char *const pdf[] = {"application/pdf"}, *const plain[] = {"text/plain"};
    static const struct fspec data[] = {
        {"type", K_ANY, true}, {"media_type", K_CUSTOM, true}, {"data", K_STR, true}};
    static const struct fspec url[] = {{"type", K_ANY, true}, {"url", K_STR, true}};
    static const struct fspec file[] = {{"type", K_ANY, true}, {"file_id", K_STR, true}};
    static const struct fspec content[] = {{"type", K_ANY, true}, {"content", K_CUSTOM, true}};
    const char *const *tags = document ? doc_tags : img_tags;
    int tag = union_tag(v, src, tags, document ? 5 : 3);
    struct mj_value x[3];
    size_t old;
    int rc;

    if (tag < 0)
        return SL_EPARSE;
    old = push(v, tags[tag]);
    if (strcmp(tags[tag], "url") == 0) {
        rc = check_members(v, src, url, 2, x);
    } else if (strcmp(tags[tag], "file") == 0) {
        rc = check_members(v, src, file, 2, x);
    } else if (strcmp(tags[tag], "content") == 0) {
        rc = check_members(v, src, content, 2, x);
        if (rc == SL_OK && x[1].type != MJ_STRING && x[1].type != MJ_ARRAY) {
            size_t o2 = push(v, "content");
            rc = fail(v, "Input should be a valid string or a list of content blocks");
            pop(v, o2);
        }
    } else {
        rc = check_members(v, src, data, 3, x);
        if (rc == SL_OK) {
            size_t o2 = push(v, "media_type");
            rc = !document                          ? check_enum(v, x[1], img_types, 4)
                 : strcmp(tags[tag], "base64") == 0 ? check_enum(v, x[1], pdf, 1)
                                                    : check_enum(v, x[1], plain, 1);
            pop(v, o2);
        }
    }
    pop(v, old);
    return rc;
}

static int check_media_block(struct val *v, struct mj_value b, bool document)
{
    static const struct fspec image[] = {{"type", K_ANY, true},
                                         {"source", K_CUSTOM, true},
                                         {"cache_control", K_CACHE, false},
                                         {"transformations", K_OBJ_NULL, false}};
    static const struct fspec doc[] = {{"type", K_ANY, true},
                                       {"source", K_CUSTOM, true},
                                       {"cache_control", K_CACHE, false},
                                       {"citations", K_OBJ_NULL, false},
                                       {"context", K_STR_NULL, false},
                                       {"title", K_STR_NULL, false}};
    struct mj_value x[SL_ARRAY_LEN(doc)];
    int rc = document ? check_members(v, b, doc, SL_ARRAY_LEN(doc), x)
                      : check_members(v, b, image, SL_ARRAY_LEN(image), x);
    size_t old;

    if (rc != SL_OK)
        return rc;
    old = push(v, "source");
    rc = check_source(v, x[1], document);
    pop(v, old);
    return rc;
}

static int check_blocks(struct val *v, struct mj_value arr, struct block_ctx *bc);

static int check_tool_result(struct val *v, struct mj_value b, const struct block_ctx *bc)
{
    static const struct fspec specs[] = {{"type", K_ANY, true},
                                         {"tool_use_id", K_STR, true},
                                         {"content", K_CUSTOM, false},
                                         {"is_error", K_BOOL, false},
                                         {"cache_control", K_CACHE, false},
                                         {"toolset_name", K_STR_NULL, false}};
    struct mj_value x[SL_ARRAY_LEN(specs)];
    struct block_ctx inner = {.assistant = false, .in_tool_result = true};
    int rc = check_members(v, b, specs, SL_ARRAY_LEN(specs), x);
    size_t old;

    if (rc != SL_OK)
        return rc;
    ids_add(v, bc->results, decode(v, x[1].raw), bc->index);
    if (x[2].type == MJ_ABSENT || x[2].type == MJ_STRING)
        return SL_OK;
    old = push(v, "content");
    rc = x[2].type == MJ_ARRAY
             ? check_blocks(v, x[2], &inner)
             : fail(v, "Input should be a valid string or a list of content blocks");
    pop(v, old);
    return rc;
}

static int check_tool_use(struct val *v, struct mj_value b, const struct block_ctx *bc)
{
    static const struct fspec specs[] = {{"type", K_ANY, true},
                                         {"id", K_STR, true},
                                         {"name", K_STR, true},
                                         {"input", K_OBJ, true},
                                         {"cache_control", K_CACHE, false},
                                         {"caller", K_OBJ, false},
                                         {"toolset_name", K_STR_NULL, false}};
    struct mj_value x[SL_ARRAY_LEN(specs)];
    int rc = check_members(v, b, specs, SL_ARRAY_LEN(specs), x);

    if (rc == SL_OK)
        ids_add(v, bc->uses, decode(v, x[1].raw), bc->index);
    return rc;
}

static int check_thinking(struct val *v, struct mj_value b, bool redacted)
{
    static const struct fspec thinking[] = {
        {"type", K_ANY, true}, {"thinking", K_STR, true}, {"signature", K_STR, true}};
    static const struct fspec red[] = {{"type", K_ANY, true}, {"data", K_STR, true}};
    struct mj_value x[3];
    char sig[RA_SIG_LEN];
    int rc = redacted ? check_members(v, b, red, 2, x) : check_members(v, b, thinking, 3, x);

    if (rc != SL_OK || redacted)
        return rc;
    /* The real API verifies signatures; the mock accepts back the ones it gave out. */
    ra_signature(sig, decode(v, x[1].raw));
    if (x[2].raw.len != RA_SIG_LEN + 2 || memcmp(x[2].raw.ptr + 1, sig, RA_SIG_LEN) != 0) {
        size_t old = push(v, "signature");
        rc = fail(v, "Invalid `signature` in `thinking` block");
        pop(v, old);
    }
    return rc;
}

/* Which blocks a message of this kind may hold. */
static int check_placement(struct val *v, enum block kind, const struct block_ctx *bc)
{
    bool assistant_only = kind == B_TOOL_USE || kind == B_THINKING || kind == B_REDACTED;

    if (bc->in_tool_result && kind != B_TEXT && kind != B_IMAGE && kind != B_DOCUMENT)
        return fail(v, "`%s` blocks are not allowed in `tool_result` content", block_tags[kind]);
    if (assistant_only && !bc->assistant)
        return fail(v, "`%s` blocks are only allowed in `assistant` messages", block_tags[kind]);
    if (kind == B_TOOL_RESULT && bc->assistant)
        return fail(v, "`tool_result` blocks are only allowed in `user` messages");
    if (kind == B_DOCUMENT && bc->assistant && v->lim->version == AN_V2026_10_21)
        return fail(v, "`document` blocks are not allowed in `assistant` messages in API version "
                       "2026-10-21");
    return SL_OK;
}

static int check_block(struct val *v, struct mj_value b, const struct block_ctx *bc)
{
    int tag = union_tag(v, b, block_tags, SL_ARRAY_LEN(block_tags));
    size_t old;
    int rc;

    if (tag < 0)
        return SL_EPARSE;
    rc = check_placement(v, (enum block)tag, bc);
    if (rc != SL_OK)
        return rc;
    old = push(v, block_tags[tag]);
    switch ((enum block)tag) {
    case B_TEXT:
        rc = check_text_block(v, b, bc);
        break;
    case B_IMAGE:
    case B_DOCUMENT:
        rc = check_media_block(v, b, tag == B_DOCUMENT);
        break;
    case B_TOOL_USE:
        rc = check_tool_use(v, b, bc);
        break;
    case B_TOOL_RESULT:
        rc = check_tool_result(v, b, bc);
        break;
    case B_THINKING:
    case B_REDACTED:
        rc = check_thinking(v, b, tag == B_REDACTED);
        break;
    }
    if (rc == SL_OK)
        pop(v, old);
    return rc;
}

static int check_blocks(struct val *v, struct mj_value arr, struct block_ctx *bc)
{
    struct mj_iter it;
    struct mj_value b;
    size_t j = 0;

    mj_iter_init(&it, arr);
    while (mj_next_elem(&it, &b)) {
        size_t old = push_index(v, j);
        int rc;
        bc->index = j++;
        rc = check_block(v, b, bc);
        if (rc != SL_OK)
            return rc;
        pop(v, old);
    }
    return SL_OK;
}

/* --- messages --- */

struct msg {
    bool assistant;
    struct ids uses, results;
};

static int check_message(struct val *v, struct mj_value m, bool last, struct msg *out)
{
    static const char *const roles[] = {"user", "assistant"};
    static const struct fspec specs[] = {{"role", K_CUSTOM, true}, {"content", K_CUSTOM, true}};
    struct mj_value x[2];
    struct block_ctx bc;
    int rc;

    if (m.type != MJ_OBJECT)
        return fail(v, "Input should be a valid dictionary");
    rc = check_members(v, m, specs, 2, x);
    if (rc != SL_OK)
        return rc;
    size_t old = push(v, "role");
    rc = check_enum(v, x[0], roles, 2);
    pop(v, old);
    if (rc != SL_OK)
        return rc;
    out->assistant = mj_str_is(x[0].raw, "assistant");
    bc = (struct block_ctx){
        .assistant = out->assistant, .uses = &out->uses, .results = &out->results};
    if (((x[1].type == MJ_STRING && x[1].raw.len == 2) ||
         (x[1].type == MJ_ARRAY && is_empty_array(x[1]))) &&
        !(out->assistant && last))
        return fail(v, "all messages must have non-empty content except for the optional final "
                       "assistant message");
    old = push(v, "content");
    if (x[1].type == MJ_ARRAY)
        rc = check_blocks(v, x[1], &bc);
    else if (x[1].type != MJ_STRING)
        rc = fail(v, "Input should be a valid string or a list of content blocks");
    if (rc == SL_OK)
        pop(v, old);
    return rc;
}

/* The tool_result ids of message k must answer tool_use ids of message k - 1, and every tool_use
 * of message k - 1 needs its result in message k. */
static int check_tool_pairing(struct val *v, const struct msg *prev, const struct msg *cur,
                              size_t k)
{
    char buf[6 * 64 + 1];

    for (size_t i = 0; i < cur->results.n; i++) {
        if (prev != NULL && prev->assistant && ids_has(&prev->uses, cur->results.v[i]))
            continue;
        snprintf(buf, 65, "%.*s", (int)SL_MIN(cur->results.v[i].len, 64), cur->results.v[i].ptr);
        v->plen = (size_t)snprintf(v->path, sizeof(v->path), "messages.%zu.content.%zu", k,
                                   cur->results.block[i]);
        return fail(v,
                    "unexpected `tool_use_id` found in `tool_result` blocks: %s. Each "
                    "`tool_result` block must have a corresponding `tool_use` block in the "
                    "previous message.",
                    buf);
    }
    for (size_t i = 0; prev != NULL && i < prev->uses.n; i++) {
        if (ids_has(&cur->results, prev->uses.v[i]))
            continue;
        snprintf(buf, 65, "%.*s", (int)SL_MIN(prev->uses.v[i].len, 64), prev->uses.v[i].ptr);
        v->plen = (size_t)snprintf(v->path, sizeof(v->path), "messages.%zu", k - 1);
        return fail(v,
                    "`tool_use` ids were found without `tool_result` blocks immediately after: "
                    "%s. Each `tool_use` block must have a corresponding `tool_result` block "
                    "in the next message.",
                    buf);
    }
    return SL_OK;
}

static int check_messages(struct val *v, struct mj_value arr)
{
    struct mj_iter it;
    struct mj_value m, next;
    struct msg msgs[2] = {{0}};
    size_t k = 0;
    bool more;

    if (arr.type != MJ_ARRAY)
        return fail(v, "Input should be a valid list");
    mj_iter_init(&it, arr);
    more = mj_next_elem(&it, &next);
    if (!more)
        return fail(v, "at least one message is required");
    while (more) {
        struct msg *cur = &msgs[k % 2], *prev = k ? &msgs[(k + 1) % 2] : NULL;
        size_t o2 = push_index(v, k);
        m = next;
        more = mj_next_elem(&it, &next);
        *cur = (struct msg){0};
        int rc = check_message(v, m, !more, cur);
        if (rc == SL_OK)
            rc = check_tool_pairing(v, prev, cur, k);
        if (rc != SL_OK)
            return rc;
        pop(v, o2);
        k++;
    }
    return SL_OK;
}

/* --- system, tools, tool_choice, thinking --- */

static int check_system(struct val *v, struct mj_value sys)
{
    static const struct fspec specs[] = {{"type", K_CUSTOM, true},
                                         {"text", K_STR, true},
                                         {"cache_control", K_CACHE, false},
                                         {"citations", K_ARR_NULL, false}};
    static const char *const text[] = {"text"};
    static const struct sl_str type_key = MJ_KEY("type");
    struct mj_iter it;
    struct mj_value b, x[SL_ARRAY_LEN(specs)];
    size_t j = 0;

    if (sys.type == MJ_STRING)
        return SL_OK;
    if (sys.type != MJ_ARRAY)
        return fail(v, "Input should be a valid string or a list of text blocks");
    mj_iter_init(&it, sys);
    while (mj_next_elem(&it, &b)) {
        size_t old = push_index(v, j++);
        struct mj_value t = {MJ_ABSENT, SL_STR_NULL};
        int rc = b.type == MJ_OBJECT ? SL_OK : fail(v, "Input should be a valid dictionary");
        if (rc == SL_OK)
            SL_ASSERT(mj_scan_object(b.raw, &type_key, 1, &t) == SL_OK);
        if (rc == SL_OK && t.type != MJ_ABSENT) {
            size_t o2 = push(v, "type");
            rc = check_enum(v, t, text, 1);
            pop(v, o2);
        }
        if (rc == SL_OK)
            rc = check_members(v, b, specs, SL_ARRAY_LEN(specs), x);
        if (rc == SL_OK && x[1].raw.len == 2) {
            v->plen = 0;
            rc = fail(v, "system: text content blocks must be non-empty");
        }
        if (rc != SL_OK)
            return rc;
        pop(v, old);
    }
    return SL_OK;
}

/* A server tool's type: a snake_case name and an eight-digit date, e.g. web_search_20250305. */
static bool is_server_tool(struct sl_str raw)
{
    size_t n = raw.len - 2;
    const char *p = raw.ptr + 1;

    if (raw.len < 12 || memchr(raw.ptr, '\\', raw.len) != NULL || p[n - 9] != '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        bool digit = p[i] >= '0' && p[i] <= '9';
        if (i >= n - 8 ? !digit : !(p[i] == '_' || (p[i] >= 'a' && p[i] <= 'z') || digit))
            return false;
    }
    return true;
}

static int check_custom_tool(struct val *v, struct mj_value t, struct sl_str *name)
{
    static const struct fspec specs[] = {{"name", K_STR, true},
                                         {"input_schema", K_OBJ, true},
                                         {"type", K_STR_NULL, false},
                                         {"description", K_STR, false},
                                         {"cache_control", K_CACHE, false},
                                         {"strict", K_BOOL, false},
                                         {"defer_loading", K_BOOL, false},
                                         {"eager_input_streaming", K_ANY, false},
                                         {"input_examples", K_ARR, false},
                                         {"allowed_callers", K_ARR, false}};
    static const struct sl_str type_key = MJ_KEY("type");
    static const char *const object[] = {"object"};
    struct mj_value x[SL_ARRAY_LEN(specs)], st;
    size_t old = push(v, "custom");
    int rc = check_members(v, t, specs, SL_ARRAY_LEN(specs), x);

    if (rc != SL_OK)
        return rc;
    if (x[0].raw.len == 2)
        return missing(v, "name");
    *name = decode(v, x[0].raw);
    SL_ASSERT(mj_scan_object(x[1].raw, &type_key, 1, &st) == SL_OK);
    push(v, "input_schema");
    if (st.type == MJ_ABSENT)
        return missing(v, "type");
    push(v, "type");
    rc = check_enum(v, st, object, 1);
    pop(v, old);
    return rc;
}

static int check_tool(struct val *v, struct mj_value t, struct sl_str *name)
{
    static const struct sl_str keys[] = {MJ_KEY("type"), MJ_KEY("name")};
    struct mj_value x[2];

    if (t.type != MJ_OBJECT)
        return fail(v, "Input should be a valid dictionary");
    SL_ASSERT(mj_scan_object(t.raw, keys, 2, x) == SL_OK);
    if (x[0].type == MJ_ABSENT || x[0].type == MJ_NULL ||
        (x[0].type == MJ_STRING && mj_str_is(x[0].raw, "custom")))
        return check_custom_tool(v, t, name);
    if (x[0].type == MJ_STRING && is_server_tool(x[0].raw)) {
        if (x[1].type != MJ_STRING)
            return missing(v, "name");
        *name = decode(v, x[1].raw);
        return SL_OK;
    }
    if (x[0].type != MJ_STRING)
        return fail(v, "Unable to extract tag using discriminator 'type'");
    return fail(v, "Input tag '%s' found using 'type' does not match any of the expected tags",
                shown(v, x[0].raw));
}

static int check_tools(struct val *v, struct mj_value arr)
{
    struct mj_iter it;
    struct mj_value t;
    size_t n = 0;

    if (arr.type != MJ_ARRAY)
        return fail(v, "Input should be a valid list");
    mj_iter_init(&it, arr);
    while (mj_next_elem(&it, &t))
        n++;
    v->tool_names = v->alloc(v->ud, (n + 1) * sizeof(*v->tool_names));
    mj_iter_init(&it, arr);
    while (mj_next_elem(&it, &t)) {
        struct sl_str name;
        size_t old = push_index(v, v->n_tool_names);
        int rc = check_tool(v, t, &name);
        if (rc != SL_OK)
            return rc;
        pop(v, old);
        for (size_t i = 0; i < v->n_tool_names; i++)
            if (sl_str_eq(v->tool_names[i], name))
                return fail(v, "Tool names must be unique.");
        v->tool_names[v->n_tool_names++] = name;
    }
    return SL_OK;
}

static int check_tool_choice(struct val *v, struct mj_value tc)
{
    static const char *const tags[] = {"auto", "any", "tool", "none"};
    static const struct fspec specs[] = {{"type", K_ANY, true},
                                         {"disable_parallel_tool_use", K_BOOL, false},
                                         {"name", K_STR, false}};
    struct mj_value x[SL_ARRAY_LEN(specs)];
    int tag = union_tag(v, tc, tags, 4);
    size_t n, old;
    int rc;

    if (tag < 0)
        return SL_EPARSE;
    /* auto and any: type and disable_parallel_tool_use; tool adds name; none has type only. */
    n = tag == 3 ? 1 : tag == 2 ? 3 : 2;
    old = push(v, tags[tag]);
    rc = check_members(v, tc, specs, n, x);
    if (rc == SL_OK && tag == 2 && x[2].type == MJ_ABSENT)
        rc = missing(v, "name");
    if (rc == SL_OK && tag == 2) {
        struct sl_str name = decode(v, x[2].raw);
        bool found = false;
        for (size_t i = 0; i < v->n_tool_names; i++)
            found = found || sl_str_eq(v->tool_names[i], name);
        push(v, "name");
        if (!found)
            rc = fail(v, "Tool '%.*s' not found in provided tools", (int)SL_MIN(name.len, 64),
                      name.ptr);
    }
    if (rc == SL_OK)
        pop(v, old);
    return rc;
}

static int check_thinking_config(struct val *v, struct mj_value th)
{
    static const char *const tags[] = {"enabled", "disabled", "adaptive"};
    static const char *const displays[] = {"summarized", "omitted"};
    static const struct fspec enabled[] = {
        {"type", K_ANY, true}, {"budget_tokens", K_CUSTOM, true}, {"display", K_CUSTOM, false}};
    static const struct fspec adaptive[] = {{"type", K_ANY, true}, {"display", K_CUSTOM, false}};
    struct mj_value x[3];
    int tag = union_tag(v, th, tags, 3);
    uint64_t budget = 0;
    size_t old;
    int rc;

    if (tag < 0)
        return SL_EPARSE;
    old = push(v, tags[tag]);
    rc = tag == 0 ? check_members(v, th, enabled, 3, x)
                  : check_members(v, th, adaptive, tag == 1 ? 1 : 2, x);
    if (rc == SL_OK && tag == 0) {
        size_t o2 = push(v, "budget_tokens");
        rc = get_uint(v, x[1], MIN_THINK, &budget);
        pop(v, o2);
    }
    struct mj_value display = tag == 0 ? x[2] : x[1];
    if (rc == SL_OK && tag != 1 && display.type != MJ_ABSENT && display.type != MJ_NULL) {
        push(v, "display");
        rc = check_enum(v, display, displays, 2);
    }
    if (rc != SL_OK)
        return rc;
    pop(v, old);
    v->out->thinking = tag != 1;
    if (tag == 0 && !v->lim->count_tokens && budget >= v->out->max_tokens) {
        v->plen = 0;
        return fail(v, "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                       "our documentation at https://docs.claude.com/en/docs/build-with-claude/"
                       "extended-thinking#max-tokens-and-context-window-size");
    }
    return SL_OK;
}

/* --- the top level --- */

enum top {
    T_MODEL = 0,
    T_MESSAGES,
    T_MAX_TOKENS,
    T_SYSTEM,
    T_TOOLS,
    T_TOOL_CHOICE,
    T_THINKING,
    T_STOP_SEQUENCES,
    T_STREAM,
    T_METADATA,
    T_TEMPERATURE,
    T_TOP_P,
    T_TOP_K,
    T_SERVICE_TIER,
    T_CACHE_CONTROL,
    T_CONTAINER,
    T_DIAGNOSTICS,
    T_INFERENCE_GEO,
    T_OUTPUT_CONFIG,
    T_SPEED,
    T_MOCK,
    T_CONTEXT_MANAGEMENT,
    T_MCP_SERVERS,
    T_OUTPUT_FORMAT,
    T_ANTHROPIC_VERSION,
    T_N,
};

/* Where a top-level member is allowed. */
#define W_CREATE 1u  /* POST /v1/messages */
#define W_COUNT  2u  /* POST /v1/messages/count_tokens */
#define W_V2023  4u  /* only with anthropic-version 2023-06-01 */
#define W_BETA   8u  /* only with an anthropic-beta header */
#define W_VERTEX 16u /* only on Vertex AI (rawPredict) */
#define W_DIRECT 32u /* never on Vertex AI: its URL names the model */

static const struct {
    const char *name;
    unsigned where;
} top_keys[T_N] = {
    [T_MODEL] = {"model", W_CREATE | W_COUNT | W_DIRECT},
    [T_MESSAGES] = {"messages", W_CREATE | W_COUNT},
    [T_MAX_TOKENS] = {"max_tokens", W_CREATE},
    [T_SYSTEM] = {"system", W_CREATE | W_COUNT},
    [T_TOOLS] = {"tools", W_CREATE | W_COUNT},
    [T_TOOL_CHOICE] = {"tool_choice", W_CREATE | W_COUNT},
    [T_THINKING] = {"thinking", W_CREATE | W_COUNT},
    [T_STOP_SEQUENCES] = {"stop_sequences", W_CREATE},
    [T_STREAM] = {"stream", W_CREATE},
    [T_METADATA] = {"metadata", W_CREATE},
    [T_TEMPERATURE] = {"temperature", W_CREATE | W_V2023},
    [T_TOP_P] = {"top_p", W_CREATE | W_V2023},
    [T_TOP_K] = {"top_k", W_CREATE | W_V2023},
    [T_SERVICE_TIER] = {"service_tier", W_CREATE},
    [T_CACHE_CONTROL] = {"cache_control", W_CREATE | W_COUNT},
    [T_CONTAINER] = {"container", W_CREATE},
    [T_DIAGNOSTICS] = {"diagnostics", W_CREATE},
    [T_INFERENCE_GEO] = {"inference_geo", W_CREATE},
    [T_OUTPUT_CONFIG] = {"output_config", W_CREATE | W_COUNT},
    [T_SPEED] = {"speed", W_CREATE | W_COUNT},
    [T_MOCK] = {"mock", W_CREATE | W_COUNT},
    [T_CONTEXT_MANAGEMENT] = {"context_management", W_CREATE | W_COUNT | W_BETA},
    [T_MCP_SERVERS] = {"mcp_servers", W_CREATE | W_COUNT | W_BETA},
    [T_OUTPUT_FORMAT] = {"output_format", W_CREATE | W_COUNT | W_BETA},
    [T_ANTHROPIC_VERSION] = {"anthropic_version", W_CREATE | W_VERTEX},
};

static bool allowed_here(const struct val *v, unsigned where)
{
    if ((where & (v->lim->count_tokens ? W_COUNT : W_CREATE)) == 0)
        return false;
    if ((where & W_V2023) != 0 && v->lim->version != AN_V2023_06_01)
        return false;
    if ((where & W_VERTEX) != 0 && !v->lim->vertex)
        return false;
    if ((where & W_DIRECT) != 0 && v->lim->vertex)
        return false;
    return (where & W_BETA) == 0 || v->lim->beta;
}

static int collect_top(struct val *v, struct sl_str doc, struct mj_value *top)
{
    struct mj_value root = {MJ_OBJECT, doc}, x;
    struct mj_iter it;
    struct sl_str key;

    for (size_t i = 0; i < T_N; i++)
        top[i] = (struct mj_value){MJ_ABSENT, SL_STR_NULL};
    mj_iter_init(&it, root);
    while (mj_next_member(&it, &key, &x)) {
        /* Plain keys (the usual case) compare as bytes; only escaped ones need decoding. */
        bool plain = memchr(key.ptr, '\\', key.len) == NULL;
        size_t i = 0;
        while (i < T_N && !(plain ? key.len - 2 == strlen(top_keys[i].name) &&
                                        memcmp(key.ptr + 1, top_keys[i].name, key.len - 2) == 0
                                  : mj_str_is(key, top_keys[i].name)))
            i++;
        if (i == T_N || !allowed_here(v, top_keys[i].where))
            return extra(v, key);
        top[i] = x;
    }
    if (top[T_MODEL].type == MJ_ABSENT && !v->lim->vertex)
        return missing(v, "model");
    if (top[T_ANTHROPIC_VERSION].type == MJ_ABSENT && v->lim->vertex)
        return missing(v, "anthropic_version");
    if (top[T_MESSAGES].type == MJ_ABSENT)
        return missing(v, "messages");
    if (!v->lim->count_tokens && top[T_MAX_TOKENS].type == MJ_ABSENT)
        return missing(v, "max_tokens");
    return SL_OK;
}

/* Runs check on member i with the path set to its name. */
static int at(struct val *v, enum top i, int rc_fn(struct val *, struct mj_value),
              const struct mj_value *top)
{
    size_t old;
    int rc;

    if (top[i].type == MJ_ABSENT)
        return SL_OK;
    old = push(v, top_keys[i].name);
    rc = rc_fn(v, top[i]);
    if (rc == SL_OK)
        pop(v, old);
    return rc;
}

static int check_string(struct val *v, struct mj_value x)
{
    return check_kind(v, K_STR, x);
}

static int check_bool(struct val *v, struct mj_value x)
{
    return check_kind(v, K_BOOL, x);
}

static int check_object(struct val *v, struct mj_value x)
{
    return check_kind(v, K_OBJ, x);
}

static int check_string_null(struct val *v, struct mj_value x)
{
    return check_kind(v, K_STR_NULL, x);
}

static int check_cache_at(struct val *v, struct mj_value x)
{
    return check_cache(v, x);
}

static int check_unit(struct val *v, struct mj_value x)
{
    return check_range(v, x, 0, 1);
}

static int check_top_k(struct val *v, struct mj_value x)
{
    uint64_t k;
    return get_uint(v, x, 0, &k);
}

static int check_stop_sequences(struct val *v, struct mj_value x)
{
    struct mj_iter it;
    struct mj_value s;
    size_t j = 0;

    if (x.type != MJ_ARRAY)
        return fail(v, "Input should be a valid list");
    mj_iter_init(&it, x);
    while (mj_next_elem(&it, &s)) {
        if (s.type != MJ_STRING) {
            push_index(v, j);
            return fail(v, "Input should be a valid string");
        }
        j++;
    }
    return SL_OK;
}

static int check_metadata(struct val *v, struct mj_value x)
{
    static const struct fspec specs[] = {{"user_id", K_STR_NULL, false}};
    struct mj_value vals[1];

    if (x.type != MJ_OBJECT)
        return fail(v, "Input should be a valid dictionary");
    return check_members(v, x, specs, 1, vals);
}

static int check_service_tier(struct val *v, struct mj_value x)
{
    static const char *const tiers[] = {"auto", "standard_only"};
    return check_enum(v, x, tiers, 2);
}

static int check_speed(struct val *v, struct mj_value x)
{
    static const char *const speeds[] = {"standard", "fast"};
    return x.type == MJ_NULL ? SL_OK : check_enum(v, x, speeds, 2);
}

static int check_container(struct val *v, struct mj_value x)
{
    if (x.type == MJ_STRING || x.type == MJ_OBJECT || x.type == MJ_NULL)
        return SL_OK;
    return fail(v, "Input should be a valid string");
}

static int check_diagnostics(struct val *v, struct mj_value x)
{
    return check_kind(v, K_OBJ_NULL, x);
}

/* Vertex AI's Claude endpoints take this version in the body. */
static int check_vertex_version(struct val *v, struct mj_value x)
{
    static const char *const versions[] = {"vertex-2023-10-16"};
    return check_enum(v, x, versions, 1);
}

static int check_max_tokens(struct val *v, struct mj_value x)
{
    return get_uint(v, x, 0, &v->out->max_tokens);
}

int an_parse_version(struct sl_str value, enum an_version *out)
{
    if (sl_str_eq_lit(value, "2023-06-01")) {
        *out = AN_V2023_06_01;
        return SL_OK;
    }
    if (sl_str_eq_lit(value, "2026-10-21")) {
        *out = AN_V2026_10_21;
        return SL_OK;
    }
    return SL_EPARSE;
}

int an_validate(struct sl_str doc, const struct an_limits *lim, struct an_request *out,
                mock_alloc_fn *alloc, void *ud, char *err, size_t errlen)
{
    struct val v = {.lim = lim, .out = out, .alloc = alloc, .ud = ud, .err = err, .errlen = errlen};
    struct mj_value top[T_N];
    int rc;

    err[0] = '\0';
    *out = (struct an_request){0};
    rc = collect_top(&v, doc, top);
    if (rc == SL_OK)
        rc = at(&v, T_MODEL, check_string, top);
    if (rc == SL_OK)
        rc = at(&v, T_ANTHROPIC_VERSION, check_vertex_version, top);
    if (rc == SL_OK)
        rc = at(&v, T_MAX_TOKENS, check_max_tokens, top);
    if (rc == SL_OK)
        rc = at(&v, T_MESSAGES, check_messages, top);
    if (rc == SL_OK)
        rc = at(&v, T_SYSTEM, check_system, top);
    if (rc == SL_OK)
        rc = at(&v, T_TOOLS, check_tools, top);
    if (rc == SL_OK)
        rc = at(&v, T_TOOL_CHOICE, check_tool_choice, top);
    if (rc == SL_OK)
        rc = at(&v, T_THINKING, check_thinking_config, top);
    if (rc == SL_OK)
        rc = at(&v, T_STOP_SEQUENCES, check_stop_sequences, top);
    if (rc == SL_OK)
        rc = at(&v, T_STREAM, check_bool, top);
    if (rc == SL_OK)
        rc = at(&v, T_METADATA, check_metadata, top);
    if (rc == SL_OK)
        rc = at(&v, T_TEMPERATURE, check_unit, top);
    if (rc == SL_OK)
        rc = at(&v, T_TOP_P, check_unit, top);
    if (rc == SL_OK)
        rc = at(&v, T_TOP_K, check_top_k, top);
    if (rc == SL_OK)
        rc = at(&v, T_SERVICE_TIER, check_service_tier, top);
    if (rc == SL_OK)
        rc = at(&v, T_CACHE_CONTROL, check_cache_at, top);
    if (rc == SL_OK)
        rc = at(&v, T_CONTAINER, check_container, top);
    if (rc == SL_OK)
        rc = at(&v, T_DIAGNOSTICS, check_diagnostics, top);
    if (rc == SL_OK)
        rc = at(&v, T_INFERENCE_GEO, check_string_null, top);
    if (rc == SL_OK)
        rc = at(&v, T_OUTPUT_CONFIG, check_object, top);
    if (rc == SL_OK)
        rc = at(&v, T_SPEED, check_speed, top);
    if (rc != SL_OK)
        return rc;
    out->model = top[T_MODEL].raw;
    out->mock = top[T_MOCK];
    out->stream = top[T_STREAM].type == MJ_TRUE;
    out->input_tokens =
        SL_MAX((top[T_SYSTEM].raw.len + top[T_MESSAGES].raw.len + top[T_TOOLS].raw.len) / 4, 1);
    return SL_OK;
}
