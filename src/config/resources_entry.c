#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/base.h"

#include "config_internal.h"
#include "interpolate.h"
#include "resources_internal.h"
#include "text.h"

#define MAX_DIST 2

void sl__res_label(char *buf, size_t cap, const char *collection, size_t index, struct sl_str name)
{
    char q[96];
    if (name.ptr == NULL) {
        snprintf(buf, cap, "%s[%zu]", collection, index);
        return;
    }
    snprintf(buf, cap, "%s[%zu] (%s)", collection, index, sl__cfg_quote(q, sizeof(q), name));
}

struct sl_str sl__res_printable(const struct sl_yaml_node *node, const char *value)
{
    struct sl_str raw = node->value;
    if (raw.len >= 2 && memmem(raw.ptr, raw.len, "${", 2) != NULL)
        return raw;
    return sl_str_from_cstr(value);
}

void sl__res_error(struct sl__res_entry *e, unsigned line, const char *field, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bool nested = e->prefix[0] != '\0';
    sl_diag_add(e->l->diag, line != 0 ? line : e->map->line, "%s: %s%s%s%s%s", e->label, e->prefix,
                nested && field != NULL ? "." : "", field != NULL ? field : "",
                field != NULL || nested ? ": " : "", msg);
}

void sl__res_val_dispose(struct sl__res_val *v)
{
    if (v->text != NULL)
        OPENSSL_cleanse(v->text, v->len);
    free(v->text);
    v->text = NULL;
    v->len = 0;
}

char *sl__res_val_take(struct sl__res_val *v)
{
    char *t = v->text;
    v->text = NULL;
    v->len = 0;
    return t;
}

const char *sl__res_show(const struct sl__res_val *v, char *buf, size_t cap)
{
    char q[96];
    const struct sl_yaml_node *n = v->node;
    if (v->secret) {
        snprintf(buf, cap, "%s", v->len == 0 ? "an empty string" : "a string");
        return buf;
    }
    /* Typed reads leave quoted scalars uninterpolated (text NULL): show them as written. */
    bool raw = v->interpolated || v->text == NULL;
    sl__cfg_quote(q, sizeof(q), raw ? n->value : sl_str_init(v->text, v->len));
    snprintf(buf, cap, "%s%s%s", n->style == SL_YAML_QUOTED ? "a quoted string " : "", q,
             v->interpolated ? " (interpolated)" : "");
    return buf;
}

const char *sl__res_name_of(const struct sl__res_val *v, char *buf, size_t cap)
{
    char q[96];
    bool raw = v->interpolated || v->text == NULL;
    SL_ASSERT(!v->secret);
    sl__cfg_quote(q, sizeof(q), raw ? v->node->value : sl_str_init(v->text, v->len));
    snprintf(buf, cap, "%s%s", q, v->interpolated ? " (interpolated)" : "");
    return buf;
}

/* What a value is, for "got ...": a kind for collections and null, else the shown scalar. */
static const char *given(const struct sl__res_val *v, char *buf, size_t cap)
{
    if (v->node->kind != SL_YAML_SCALAR || sl_yaml_is_null(v->node)) {
        snprintf(buf, cap, "%s", sl_yaml_describe(v->node));
        return buf;
    }
    return sl__res_show(v, buf, cap);
}

static void mismatch(struct sl__res_entry *e, const char *field, const struct sl__res_val *v,
                     const char *expected)
{
    char got[256];
    sl__res_error(e, v->node->line, field, "expected %s, got %s", expected,
                  given(v, got, sizeof(got)));
}

int sl__res_scalar(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                   bool secret, struct sl__res_val *out)
{
    struct sl__interp in;
    char why[256];
    *out = (struct sl__res_val){.node = n, .secret = secret};
    if (n->kind != SL_YAML_SCALAR || sl_yaml_is_null(n)) {
        mismatch(e, what, out, "a non-empty string");
        return SL_EPARSE;
    }
    if (sl__interpolate(n->value, e->l->envp, SL__RES_VALUE_MAX, &in) != SL_OK) {
        sl__res_error(e, n->line, what, "%s", sl__interp_describe(&in, why, sizeof(why)));
        return SL_EPARSE;
    }
    out->text = in.text;
    out->len = in.len;
    out->interpolated = in.refs != 0;
    /* A NUL inside a string would silently cut it once it becomes a C string. */
    if (out->len == 0 || memchr(out->text, '\0', out->len) != NULL) {
        mismatch(e, what, out, "a non-empty string");
        sl__res_val_dispose(out);
        return SL_EPARSE;
    }
    return SL_OK;
}

/* The row's value node, or NULL after reporting a missing or null required row. */
static const struct sl_yaml_node *present(struct sl__res_entry *e, size_t row)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    const struct sl_yaml_node *n = e->values[row];
    bool required = (f->flags & SL__RES_REQUIRED) != 0;
    if (n == NULL && required)
        sl__res_error(e, 0, f->name, "required field is missing");
    if (n != NULL && sl_yaml_is_null(n)) {
        if (required)
            sl__res_error(e, n->line, f->name, "a value is required, got null");
        return NULL;
    }
    return n;
}

int sl__res_string(struct sl__res_entry *e, size_t row, struct sl__res_val *out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    const struct sl_yaml_node *n = present(e, row);
    *out = (struct sl__res_val){0};
    if (n == NULL)
        return SL_ENOENT;
    return sl__res_scalar(e, f->name, n, f->type == SL__RES_SECRET, out);
}

/* Interpolates a plain scalar node for a typed read; non-plain values are left to the caller
 * (text NULL). */
static int node_text(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                     struct sl__res_val *out)
{
    struct sl__interp in;
    char why[256];
    *out = (struct sl__res_val){.node = n};
    if (n->kind != SL_YAML_SCALAR || n->style != SL_YAML_PLAIN)
        return SL_OK;
    if (sl__interpolate(n->value, e->l->envp, SL__RES_VALUE_MAX, &in) != SL_OK) {
        sl__res_error(e, n->line, what, "%s", sl__interp_describe(&in, why, sizeof(why)));
        return SL_EPARSE;
    }
    out->text = in.text;
    out->len = in.len;
    out->interpolated = in.refs != 0;
    return SL_OK;
}

static int typed_text(struct sl__res_entry *e, size_t row, struct sl__res_val *out)
{
    const struct sl_yaml_node *n = present(e, row);
    *out = (struct sl__res_val){.node = n};
    if (n == NULL)
        return SL_ENOENT;
    return node_text(e, e->schema->fields[row].name, n, out);
}

int sl__res_uint_at(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                    uint64_t max, uint64_t *out)
{
    struct sl__res_val v;
    char exp[96];
    int rc = node_text(e, what, n, &v);
    if (rc != SL_OK)
        return rc;
    if (v.text == NULL || sl_str_to_u64(sl_str_init(v.text, v.len), max, out) != SL_OK) {
        snprintf(exp, sizeof(exp), "an integer from 0 to %llu", (unsigned long long)max);
        mismatch(e, what, &v, exp);
        rc = SL_EPARSE;
    }
    sl__res_val_dispose(&v);
    return rc;
}

int sl__res_decimal_at(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                       double max, double *out)
{
    struct sl__res_val v;
    char exp[96];
    int rc = node_text(e, what, n, &v);
    if (rc != SL_OK)
        return rc;
    bool ok = v.text != NULL && v.len > 0 && v.text[0] >= '0' && v.text[0] <= '9';
    char *end = NULL;
    double d = ok ? strtod(v.text, &end) : 0;
    if (!ok || end != v.text + v.len || !(d >= 0 && d <= max)) {
        snprintf(exp, sizeof(exp), "a number from 0 to %g", max);
        mismatch(e, what, &v, exp);
        rc = SL_EPARSE;
    } else {
        *out = d;
    }
    sl__res_val_dispose(&v);
    return rc;
}

bool sl__res_submap(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *map,
                    const char *const *keys, const struct sl_yaml_node **values)
{
    char shown[256], hint[96];
    if (map->kind != SL_YAML_MAP) {
        sl__res_error(e, map->line, what, "expected a mapping, got %s", sl_yaml_describe(map));
        return false;
    }
    size_t nkeys = 0;
    while (keys[nkeys] != NULL)
        values[nkeys++] = NULL;
    for (size_t i = 0; i < map->n; i++) {
        const struct sl_yaml_node *key = map->pairs[i].key;
        size_t k = 0, best = nkeys, best_d = MAX_DIST + 1;
        while (k < nkeys && !sl_str_eq(key->value, sl_str_from_cstr(keys[k])))
            k++;
        if (k < nkeys) {
            values[k] = map->pairs[i].value;
            continue;
        }
        for (size_t j = 0; j < nkeys; j++) {
            size_t d = sl__edit_distance(key->value, sl_str_from_cstr(keys[j]), MAX_DIST);
            if (d < best_d) {
                best = j;
                best_d = d;
            }
        }
        hint[0] = '\0';
        if (best < nkeys)
            snprintf(hint, sizeof(hint), " (did you mean %s?)", keys[best]);
        sl__res_error(e, key->line, what, "%s: unknown key%s",
                      sl__cfg_display(shown, sizeof(shown), key->value), hint);
    }
    return true;
}

int sl__res_uint(struct sl__res_entry *e, size_t row, uint64_t *out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    struct sl__res_val v;
    char exp[96];
    int rc = typed_text(e, row, &v);
    if (rc != SL_OK)
        return rc;
    if (v.text == NULL || sl_str_to_u64(sl_str_init(v.text, v.len), f->max, out) != SL_OK) {
        snprintf(exp, sizeof(exp), "an integer from 0 to %llu", (unsigned long long)f->max);
        mismatch(e, f->name, &v, exp);
        rc = SL_EPARSE;
    }
    sl__res_val_dispose(&v);
    return rc;
}

int sl__res_int(struct sl__res_entry *e, size_t row, int64_t *out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    struct sl__res_val v;
    char exp[96];
    uint64_t mag;
    int rc = typed_text(e, row, &v);
    if (rc != SL_OK)
        return rc;
    struct sl_str t = sl_str_init(v.text, v.len);
    bool neg = t.len > 1 && t.ptr[0] == '-';
    if (neg)
        t = sl_str_init(t.ptr + 1, t.len - 1);
    if (v.text == NULL || sl_str_to_u64(t, f->max, &mag) != SL_OK) {
        snprintf(exp, sizeof(exp), "an integer from -%llu to %llu", (unsigned long long)f->max,
                 (unsigned long long)f->max);
        mismatch(e, f->name, &v, exp);
        rc = SL_EPARSE;
    } else {
        *out = neg ? -(int64_t)mag : (int64_t)mag;
    }
    sl__res_val_dispose(&v);
    return rc;
}

/* Digits, one optional '.', an optional exponent: what JSON allows for a non-negative number. */
static bool is_plain_number(struct sl_str t)
{
    size_t i = 0, digits = 0;
    while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
        i++, digits++;
    if (i < t.len && t.ptr[i] == '.') {
        i++;
        while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < t.len && (t.ptr[i] == 'e' || t.ptr[i] == 'E')) {
        i++;
        if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-'))
            i++;
        size_t exp = i;
        while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
            i++;
        if (i == exp)
            return false;
    }
    return i == t.len;
}

int sl__res_number(struct sl__res_entry *e, size_t row, double *out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    struct sl__res_val v;
    int rc = typed_text(e, row, &v);
    if (rc != SL_OK)
        return rc;
    double d = 0;
    bool ok = v.text != NULL && v.len < 64 && is_plain_number(sl_str_init(v.text, v.len));
    if (ok) {
        char *end = NULL;
        d = strtod(v.text, &end);
        ok = end == v.text + v.len && d >= 0 && d <= 1e12;
    }
    if (!ok) {
        mismatch(e, f->name, &v, "a number from 0 to 1e12");
        rc = SL_EPARSE;
    } else {
        *out = d;
    }
    sl__res_val_dispose(&v);
    return rc;
}

int sl__res_uint_item(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                      uint64_t min, uint64_t max, uint64_t *out)
{
    struct sl__res_val v;
    char exp[96];
    int rc = node_text(e, what, n, &v);
    if (rc != SL_OK)
        return rc;
    if (v.text == NULL || sl_str_to_u64(sl_str_init(v.text, v.len), max, out) != SL_OK ||
        *out < min) {
        snprintf(exp, sizeof(exp), "an integer from %llu to %llu", (unsigned long long)min,
                 (unsigned long long)max);
        mismatch(e, what, &v, exp);
        rc = SL_EPARSE;
    }
    sl__res_val_dispose(&v);
    return rc;
}

int sl__res_statuses(struct sl__res_entry *e, size_t row, uint64_t min, struct sl_status_set *out)
{
    const struct sl_yaml_node *list;
    const struct sl__res_field *f = &e->schema->fields[row];
    int rc = sl__res_list(e, row, &list);
    if (rc != SL_OK)
        return rc;
    *out = (struct sl_status_set){0};
    for (size_t i = 0; i < list->n; i++) {
        char what[96];
        uint64_t st;
        snprintf(what, sizeof(what), "%s[%zu]", f->name, i);
        if (sl__res_uint_item(e, what, list->items[i], min, 599, &st) != SL_OK)
            rc = SL_EPARSE;
        else
            sl_status_set_add(out, (int)st);
    }
    return rc;
}

int sl__res_map(struct sl__res_entry *e, size_t row, const struct sl_yaml_node **out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    const struct sl_yaml_node *n = present(e, row);
    if (n == NULL)
        return SL_ENOENT;
    if (n->kind != SL_YAML_MAP) {
        struct sl__res_val v = {.node = n};
        char got[256];
        sl__res_error(e, n->line, f->name, "expected a mapping, got %s",
                      n->kind == SL_YAML_SCALAR ? sl__res_show(&v, got, sizeof(got))
                                                : sl_yaml_describe(n));
        return SL_EPARSE;
    }
    *out = n;
    return SL_OK;
}

int sl__res_bool(struct sl__res_entry *e, size_t row, bool *out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    struct sl__res_val v;
    int rc = typed_text(e, row, &v);
    if (rc != SL_OK)
        return rc;
    struct sl_str t = sl_str_init(v.text, v.len);
    if (v.text != NULL && sl_str_ieq_lit(t, "true")) {
        *out = true;
    } else if (v.text != NULL && sl_str_ieq_lit(t, "false")) {
        *out = false;
    } else {
        mismatch(e, f->name, &v, "true or false");
        rc = SL_EPARSE;
    }
    sl__res_val_dispose(&v);
    return rc;
}

int sl__res_list(struct sl__res_entry *e, size_t row, const struct sl_yaml_node **out)
{
    const struct sl__res_field *f = &e->schema->fields[row];
    const struct sl_yaml_node *n = present(e, row);
    if (n == NULL)
        return SL_ENOENT;
    if (n->kind != SL_YAML_SEQ) {
        struct sl__res_val v = {.node = n};
        if (typed_text(e, row, &v) != SL_OK)
            return SL_EPARSE;
        mismatch(e, f->name, &v, "a list of strings");
        sl__res_val_dispose(&v);
        return SL_EPARSE;
    }
    *out = n;
    return SL_OK;
}

static void report_unknown(struct sl__res_entry *e, const struct sl_yaml_node *key)
{
    char shown[256], hint[96] = "";
    struct sl_str best = SL_STR_NULL;
    size_t best_d = MAX_DIST + 1;
    for (size_t i = 0; i < e->schema->n; i++) {
        const struct sl__res_field *f = &e->schema->fields[i];
        struct sl_str cand = sl_str_from_cstr(f->name);
        if (f->type == SL__RES_UNSUPPORTED || f->type == SL__RES_REJECTED)
            continue;
        size_t d = sl__edit_distance(key->value, cand, MAX_DIST);
        if (d < best_d) {
            best = cand;
            best_d = d;
        }
    }
    if (best.len != 0)
        snprintf(hint, sizeof(hint), " (did you mean %.*s?)", SL_STR_FMT(best));
    sl__res_error(e, key->line, NULL, "%s: unknown key%s",
                  sl__cfg_display(shown, sizeof(shown), key->value), hint);
}

static void sort_key(struct sl__res_entry *e, const struct sl_yaml_node *key,
                     const struct sl_yaml_node *value)
{
    if (e->prefix[0] == '\0' && sl_str_eq_lit(key->value, "id")) {
        sl__res_error(e, key->line, "id",
                      "not allowed in a resources file (ids are derived from display_name)");
        return;
    }
    for (size_t i = 0; i < e->schema->n; i++) {
        const struct sl__res_field *f = &e->schema->fields[i];
        if (!sl_str_eq(key->value, sl_str_from_cstr(f->name)))
            continue;
        if (f->type == SL__RES_UNSUPPORTED)
            sl__res_error(e, key->line, f->name, "not supported by sluice yet%s%s%s",
                          f->hint != NULL ? " (" : "", f->hint != NULL ? f->hint : "",
                          f->hint != NULL ? ")" : "");
        else if (f->type == SL__RES_REJECTED)
            sl__res_error(e, key->line, f->name, "%s", f->hint);
        e->keys[i] = key;
        e->values[i] = value;
        return;
    }
    report_unknown(e, key);
}

/* True for bytes that would corrupt a log line or a message. */
static bool has_control(struct sl_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static char *read_display_name(struct sl__res_entry *e)
{
    struct sl__res_val v;
    char shown[256];
    if (sl__res_string(e, 0, &v) != SL_OK)
        return NULL;
    if (has_control(sl_str_init(v.text, v.len))) {
        sl__res_error(e, v.node->line, e->schema->fields[0].name,
                      "control characters are not allowed, got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
        return NULL;
    }
    /* Messages never print a variable's value, so an interpolated name is labelled raw. */
    sl__res_label(e->label, sizeof(e->label), e->schema->collection, e->index,
                  sl__res_printable(v.node, v.text));
    return sl__res_val_take(&v);
}

bool sl__res_entry_begin(struct sl__res_loader *l, const struct sl__res_schema *schema, size_t i,
                         const struct sl_yaml_node *item, struct sl__res_entry *e, char **name)
{
    SL_ASSERT(schema->n <= SL__RES_MAX_FIELDS);
    /* The identity: display_name, or name for the collections that use it. */
    SL_ASSERT(strcmp(schema->fields[0].name, "display_name") == 0 ||
              strcmp(schema->fields[0].name, "name") == 0);
    *e = (struct sl__res_entry){.l = l, .schema = schema, .index = i, .map = item};
    *name = NULL;
    sl__res_label(e->label, sizeof(e->label), schema->collection, i, SL_STR_NULL);
    if (item->kind != SL_YAML_MAP) {
        sl__res_error(e, item->line, NULL, "expected a mapping, got %s", sl_yaml_describe(item));
        return false;
    }
    e->values[0] = sl_yaml_map_get(item, schema->fields[0].name);
    *name = read_display_name(e);
    for (size_t k = 0; k < item->n; k++)
        sort_key(e, item->pairs[k].key, item->pairs[k].value);
    return true;
}

bool sl__res_sub_begin(struct sl__res_entry *parent, const struct sl__res_schema *schema,
                       const char *prefix, const struct sl_yaml_node *node,
                       struct sl__res_entry *sub)
{
    SL_ASSERT(schema->n <= SL__RES_MAX_FIELDS);
    *sub = (struct sl__res_entry){
        .l = parent->l, .schema = schema, .index = parent->index, .map = node};
    snprintf(sub->label, sizeof(sub->label), "%s", parent->label);
    snprintf(sub->prefix, sizeof(sub->prefix), "%s", prefix);
    if (node->kind != SL_YAML_MAP) {
        sl__res_error(sub, node->line, NULL, "expected a mapping, got %s", sl_yaml_describe(node));
        return false;
    }
    for (size_t k = 0; k < node->n; k++)
        sort_key(sub, node->pairs[k].key, node->pairs[k].value);
    return true;
}

bool sl__res_is_vendor(struct sl_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return s.len > 0;
}

size_t sl__res_count_stars(struct sl_str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += s.ptr[i] == '*';
    return n;
}

size_t sl__res_collection_len(struct sl__res_loader *l, const char *collection,
                              const struct sl_yaml_node *node)
{
    if (node == NULL || sl_yaml_is_null(node))
        return 0;
    if (node->kind != SL_YAML_SEQ) {
        sl_diag_add(l->diag, node->line, "%s: expected a list of mappings, got %s", collection,
                    sl_yaml_describe(node));
        return 0;
    }
    return node->n;
}

static int cmp_names(const void *pa, const void *pb)
{
    const struct sl__res_name *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : (a->index > b->index);
}

void sl__res_names_build(struct sl__res_loader *l, struct sl__res_names *t, const char *collection,
                         const struct sl_yaml_node *seq, const char *const *names)
{
    size_t n = seq != NULL && seq->kind == SL_YAML_SEQ ? seq->n : 0;
    bool by_name =
        strcmp(collection, "rate_limit_policies") == 0 || strcmp(collection, "cache_policies") == 0;
    const char *field = by_name ? "name" : "display_name";
    t->v = sl_xcalloc(n != 0 ? n : 1, sizeof(*t->v));
    t->n = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sl_yaml_node *dn = sl_yaml_map_get(seq->items[i], field);
        if (names[i] != NULL)
            t->v[t->n++] =
                (struct sl__res_name){names[i], sl__res_printable(dn, names[i]), i, dn->line};
    }
    qsort(t->v, t->n, sizeof(*t->v), cmp_names);
    size_t first = 0;
    for (size_t i = 1; i < t->n; i++) {
        if (strcmp(t->v[i].name, t->v[first].name) != 0) {
            first = i;
            continue;
        }
        char label[192], q[96];
        sl__res_label(label, sizeof(label), collection, t->v[i].index, t->v[i].shown);
        sl_diag_add(l->diag, t->v[i].line, "%s: %s: duplicate %s %s (first at line %u)", label,
                    field, field, sl__cfg_quote(q, sizeof(q), t->v[i].shown), t->v[first].line);
    }
}

const struct sl__res_name *sl__res_names_find(const struct sl__res_names *t, struct sl_str name)
{
    size_t lo = 0, hi = t->n;
    /* Lower bound: the first entry not below name, which has the lowest index among equals. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct sl_str m = sl_str_from_cstr(t->v[mid].name);
        size_t common = SL_MIN(m.len, name.len);
        int c = common != 0 ? memcmp(m.ptr, name.ptr, common) : 0;
        if (c < 0 || (c == 0 && m.len < name.len))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->n && sl_str_eq(sl_str_from_cstr(t->v[lo].name), name))
        return &t->v[lo];
    return NULL;
}

void sl__res_names_dispose(struct sl__res_names *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
}
