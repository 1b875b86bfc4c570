/* The rate_limit, cost and budget blocks of models[] and api_keys[], and rate-limit bucket
 * names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"

#include "config_internal.h"
#include "resources_internal.h"

/* Far above any real limit; keeps sums of limits and counts clear of overflow. */
#define MAX_LIMIT       (1ull << 48)
#define MAX_CONCURRENCY UINT32_MAX
#define MAX_BUDGET_USD  1e9

static const char *const dim_names[] = {"rps", "rpm", "rph",         "rpd",
                                        "tpm", "tpd", "concurrency", NULL};

void sl__res_rate_limit(struct sl__res_entry *e, size_t row, struct sl_rate_limit *out)
{
    const struct sl_yaml_node *map = e->values[row], *v[SL_RL_DIMS + 1];
    const char *field = e->schema->fields[row].name;
    char what[64];
    *out = (struct sl_rate_limit){0};
    if (map == NULL || sl_yaml_is_null(map) || !sl__res_submap(e, field, map, dim_names, v))
        return;
    for (size_t d = 0; d <= SL_RL_DIMS; d++) {
        /* null is the reference's "no limit on that dimension". */
        if (v[d] == NULL || sl_yaml_is_null(v[d]))
            continue;
        uint64_t n;
        snprintf(what, sizeof(what), "%s.%s", field, dim_names[d]);
        if (sl__res_uint_at(e, what, v[d], d == SL_RL_DIMS ? MAX_CONCURRENCY : MAX_LIMIT, &n) !=
            SL_OK)
            continue;
        if (d == SL_RL_DIMS) {
            out->concurrency = (uint32_t)n;
            out->has_concurrency = true;
        } else {
            out->max[d] = n;
            out->set |= (uint8_t)(1u << d);
        }
    }
}

void sl__res_budget(struct sl__res_entry *e, size_t row, struct sl_budget *out)
{
    static const char *const keys[] = {"limit_usd", "window", NULL};
    static const char *const windows[] = {"day", "week", "month"};
    const struct sl_yaml_node *map = e->values[row], *v[2];
    struct sl__res_val w;
    char shown[256];
    *out = (struct sl_budget){0};
    if (map == NULL || sl_yaml_is_null(map) || !sl__res_submap(e, "budget", map, keys, v))
        return;
    if (v[0] == NULL || sl_yaml_is_null(v[0])) {
        sl__res_error(e, map->line, "budget.limit_usd", "required field is missing");
        return;
    }
    if (sl__res_decimal_at(e, "budget.limit_usd", v[0], MAX_BUDGET_USD, &out->limit_usd) != SL_OK)
        return;
    if (v[1] == NULL || sl_yaml_is_null(v[1])) {
        sl__res_error(e, map->line, "budget.window", "required field is missing");
        return;
    }
    if (sl__res_scalar(e, "budget.window", v[1], false, &w) != SL_OK)
        return;
    size_t i = 0;
    while (i < SL_ARRAY_LEN(windows) && strcmp(w.text, windows[i]) != 0)
        i++;
    if (i == SL_ARRAY_LEN(windows)) {
        sl__res_error(e, v[1]->line, "budget.window", "expected day, week or month, got %s",
                      sl__res_show(&w, shown, sizeof(shown)));
        sl__res_val_dispose(&w);
        return;
    }
    sl__res_val_dispose(&w);
    out->window = (enum sl_budget_window)i;
    out->limit_nusd = (uint64_t)(out->limit_usd * 1e9 + 0.5);
    out->set = true;
}

int sl_bucket_escape(struct sl_buf *out, struct sl_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool plain =
            c > 0x20 && c < 0x7f && c != '%' && c != ':' && c != '=' && c != '{' && c != '}';
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        int rc = plain ? sl_buf_append(out, s.ptr + i, 1) : sl_buf_append(out, esc, 3);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

char *sl__res_bucket(const char *prefix, const char *name)
{
    struct sl_buf b;
    sl_buf_init(&b, strlen(prefix) + 3 * strlen(name) + 1);
    int rc = sl_buf_append(&b, prefix, strlen(prefix));
    if (rc == SL_OK)
        rc = sl_bucket_escape(&b, sl_str_from_cstr(name));
    SL_ASSERT(rc == SL_OK); /* names are far below the cap */
    char *r = sl_str_dup(sl_buf_str(&b));
    sl_buf_dispose(&b);
    return r;
}
