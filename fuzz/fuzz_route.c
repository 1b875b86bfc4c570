/* What a caller controls in routing: the routing tags header, the consistent-hash key and the
 * Cookie header, through sl_route_plan on groups of every strategy and through
 * sl_route_cookie. Oracles: a plan holds distinct targets of its group, no more than
 * 1 + max_fallbacks, each carrying a requested tag (or "default"-tagged when none matched) as a
 * naive filter written from the reference's rules decides, and a no-match verdict only when that
 * filter finds nothing; the same key always gets the same plan; a cookie found is the trimmed
 * value of a "name=" pair of the header. Input: tags, key, cookie header and cookie name
 * separated by LF. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/diag.h"
#include "sluice/resources.h"
#include "sluice/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char resources[] =
    "_format_version: \"1\"\n"
    "provider_keys:\n"
    "  - {display_name: pk, provider: openai, api_key: k, api_base: \"http://127.0.0.1:1/v1\"}\n"
    "models:\n"
    "  - {display_name: a, provider_key: pk, model_name: a}\n"
    "  - {display_name: b, provider_key: pk, model_name: b}\n"
    "  - {display_name: c, provider_key: pk, model_name: c}\n"
    "  - {display_name: d, provider_key: pk, model_name: d}\n"
    "  - display_name: g0\n"
    "    routing:\n"
    "      strategy: consistent_hash\n"
    "      max_fallbacks: 2\n"
    "      targets: [{model: a, tags: [eu, default], weight: 3}, {model: b, tags: [us]},\n"
    "                {model: c, tags: [\"eu\", x], priority: 1}, {model: d}]\n"
    "  - display_name: g1\n"
    "    routing:\n"
    "      strategy: round_robin\n"
    "      targets: [{model: a, tags: [eu], weight: 5}, {model: b, tags: [us]}, {model: c}]\n"
    "  - display_name: g2\n"
    "    routing: {strategy: least_busy, targets: [{model: d}, {model: c}, {model: b}]}\n";

static struct sl_resources *res;

static struct sl_resources *load(void)
{
    struct sl_diag d;
    sl_diag_init(&d, "fuzz");
    if (sl_resources_parse(resources, sizeof(resources) - 1, "fuzz", NULL, &res, &d) != SL_OK)
        __builtin_trap();
    sl_diag_dispose(&d);
    sl_route_bind(res, 1);
    return res;
}

static struct sl_str next_line(struct sl_str *in)
{
    const char *lf = in->len != 0 ? memchr(in->ptr, '\n', in->len) : NULL;
    size_t n = lf != NULL ? (size_t)(lf - in->ptr) : in->len;
    struct sl_str line = sl_str_init(in->ptr, n);
    *in = lf != NULL ? sl_str_init(lf + 1, in->len - n - 1) : sl_str_init(in->ptr + n, 0);
    return line;
}

static bool has_tag(const struct sl_route_target *t, struct sl_str tag)
{
    for (size_t k = 0; k < t->n_tags; k++) {
        if (sl_str_eq(sl_str_from_cstr(t->tags[k]), tag))
            return true;
    }
    return false;
}

/* The reference's eligible_targets, naively: which targets a plan may hold. */
static uint64_t naive_tags(const struct sl_routing *rt, struct sl_str header)
{
    uint64_t all = (UINT64_C(1) << rt->n_targets) - 1, defaults = 0, matched = 0;
    size_t tags = 0;
    if (!rt->tagged)
        return all;
    for (size_t i = 0; i < rt->n_targets; i++)
        defaults |= has_tag(&rt->targets[i], SL_STRLIT("default")) ? UINT64_C(1) << i : 0;
    struct sl_str rest = header;
    while (rest.len != 0) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t n = comma != NULL ? (size_t)(comma - rest.ptr) : rest.len;
        struct sl_str tag = sl_str_trim(sl_str_init(rest.ptr, n));
        rest = comma != NULL ? sl_str_init(comma + 1, rest.len - n - 1) : SL_STR_NULL;
        /* Past 32 tags the rest is ignored. */
        if (tag.len == 0 || tags++ >= 32)
            continue;
        for (size_t i = 0; i < rt->n_targets; i++)
            matched |= has_tag(&rt->targets[i], tag) ? UINT64_C(1) << i : 0;
    }
    if (tags == 0)
        return defaults != 0 ? defaults : all;
    return matched != 0 ? matched : defaults;
}

static void check_plan(const struct sl_model *g, struct sl_str tags, struct sl_str key)
{
    const struct sl_routing *rt = g->routing;
    const struct sl_model *room[SL_ROUTE_MAX_TARGETS], *again[SL_ROUTE_MAX_TARGETS];
    struct sl_route_plan p = {.targets = room}, q = {.targets = again};
    struct sl_route_input in = {.tags = tags, .hash_key = key, .now_ms = 1};
    enum sl_route_verdict v = sl_route_plan(g, &in, &p);
    uint64_t allowed = naive_tags(rt, tags), seen = 0;
    if ((v == SL_ROUTE_NO_TAG_MATCH) != (allowed == 0) ||
        (v != SL_ROUTE_OK && v != SL_ROUTE_NO_TAG_MATCH))
        __builtin_trap();
    if (v != SL_ROUTE_OK)
        return;
    unsigned limit =
        rt->has_max_fallbacks ? (unsigned)rt->max_fallbacks + 1 : (unsigned)rt->n_targets;
    if (p.n == 0 || p.n > limit || p.n > (unsigned)__builtin_popcountll(allowed))
        __builtin_trap();
    for (unsigned i = 0; i < p.n; i++) {
        size_t t = 0;
        while (t < rt->n_targets && rt->targets[t].model != p.targets[i])
            t++;
        if (t == rt->n_targets || (allowed >> t & 1) == 0 || (seen >> t & 1) != 0)
            __builtin_trap();
        seen |= UINT64_C(1) << t;
    }
    if (rt->strategy == SL_ROUTE_CONSISTENT_HASH) {
        if (sl_route_plan(g, &in, &q) != v || q.n != p.n ||
            memcmp(room, again, p.n * sizeof(*room)) != 0)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (res == NULL)
        load();
    struct sl_str in = sl_str_init((const char *)data, size);
    struct sl_str tags = next_line(&in), key = next_line(&in), cookie = next_line(&in);
    struct sl_str name = next_line(&in), value;
    static const char *const groups[] = {"g0", "g1", "g2"};
    for (size_t i = 0; i < SL_ARRAY_LEN(groups); i++)
        check_plan(sl_resources_resolve(res, sl_str_from_cstr(groups[i]), NULL), tags, key);
    if (sl_route_cookie(cookie, name, &value)) {
        /* A trimmed, non-empty slice of the header, right after "name" (trimmed) and '='. */
        if (value.len == 0 || value.ptr < cookie.ptr ||
            value.ptr + value.len > cookie.ptr + cookie.len || value.ptr[0] == ' ' ||
            value.ptr[value.len - 1] == ' ' || memchr(value.ptr, ';', value.len) != NULL)
            __builtin_trap();
    }
    return 0;
}
