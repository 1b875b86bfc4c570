/* Feeds arbitrary bytes to the resources.yaml loader with a small fixed environment, then, when
 * the file loads, checks the lookups against the loaded tables: every exact model resolves to
 * itself, every caller key is found by its digest, resolve/allows run on a few aliases, and
 * every model group's targets are direct, non-wildcard models of the same file.
 * ASan/UBSan and leak detection do the rest. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/diag.h"
#include "sluice/resources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define E(s) ((char *)(s))

static char *const fuzz_env[] = {
    E("KEY=sk-upstream"), E("HOST=127.0.0.1"), E("PORT=3001"), E("ONE=1"),
    E("EMPTY="),          E("REF=${KEY}"),     E("T=5000"),    NULL,
};

static const struct sl_str aliases[] = {
    {"gpt-4o-mini", 11}, {"mock-x", 6}, {"mock-", 5},          {"", 0},
    {"a*b", 3},          {"\0x", 2},    {"openai/gpt-4o", 13},
};

static void check_group(const struct sl_resources *r, const struct sl_model *m)
{
    if ((m->kind == SL_MODEL_ROUTING) != (m->routing != NULL))
        __builtin_trap();
    if (m->routing == NULL)
        return;
    if (m->key != NULL || m->routing->n_targets == 0 ||
        m->routing->n_targets > SL_ROUTE_MAX_TARGETS)
        __builtin_trap();
    for (size_t t = 0; t < m->routing->n_targets; t++) {
        const struct sl_model *tm = m->routing->targets[t].model;
        if (tm < r->models || tm >= r->models + r->n_models || tm->kind != SL_MODEL_DIRECT ||
            tm->is_wildcard || tm->key == NULL)
            __builtin_trap();
    }
}

static void check_loaded(const struct sl_resources *r)
{
    struct sl_buf b;
    sl_buf_init(&b, 4096);
    for (size_t i = 0; i < r->n_models; i++) {
        const struct sl_model *m = &r->models[i];
        if (i > 0 && strcmp(r->models[i - 1].name, m->name) >= 0)
            __builtin_trap();
        if (!m->is_wildcard && sl_resources_resolve(r, sl_str_from_cstr(m->name), NULL) != m)
            __builtin_trap();
        check_group(r, m);
    }
    for (size_t i = 0; i < r->n_api_keys; i++) {
        const struct sl_api_key *k = &r->api_keys[i];
        if (sl_resources_find_key(r, k->digest) != k)
            __builtin_trap();
        for (size_t j = 0; j < SL_ARRAY_LEN(aliases); j++)
            (void)sl_api_key_allows(k, aliases[j]);
    }
    for (size_t j = 0; j < SL_ARRAY_LEN(aliases); j++) {
        sl_buf_reset(&b);
        const struct sl_model *m = sl_resources_resolve(r, aliases[j], &b);
        bool group = m != NULL && m->kind == SL_MODEL_ROUTING;
        if ((m == NULL || group) != (b.len == 0))
            __builtin_trap();
    }
    sl_buf_dispose(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_resources *r = NULL;
    struct sl_diag diag;
    sl_diag_init(&diag, "fuzz.yaml");
    int rc = sl_resources_parse((const char *)data, size, "fuzz.yaml", fuzz_env, &r, &diag);
    if (rc == SL_OK && (r == NULL || diag.count != 0))
        __builtin_trap();
    if (rc != SL_OK && (r != NULL || diag.count == 0))
        __builtin_trap();
    /* Messages may quote the file's own text, never a value from the environment. */
    bool in_file = memmem(data, size, "sk-upstream", 11) != NULL;
    for (size_t i = 0; i < diag.count && !in_file; i++) {
        if (strstr(diag.entries[i].msg, "sk-upstream") != NULL)
            __builtin_trap();
    }
    if (r != NULL)
        check_loaded(r);
    sl_resources_free(r);
    sl_diag_dispose(&diag);
    return 0;
}
