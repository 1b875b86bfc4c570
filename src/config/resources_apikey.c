#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sluice/base.h"
#include "sluice/timeparse.h"

#include "config_internal.h"
#include "interpolate.h"
#include "resources_internal.h"

enum {
    F_DISPLAY_NAME = 0,
    F_KEY_ENV,
    F_KEY_HASH,
    F_ALLOWED_MODELS,
    F_EXPIRES_AT,
    F_DISABLED,
    F_TEAM_ID,
    F_USER_ID,
    F_USER_NAME,
    F_RATE_LIMIT,
    F_BUDGET,
};

/* clang-format off */
static const struct sl__res_field fields[] = {
    [F_DISPLAY_NAME] = {"display_name", SL__RES_STRING, SL__RES_REQUIRED, 0, NULL},
    [F_KEY_ENV] = {"key_env", SL__RES_STRING, 0, 0, NULL},
    [F_KEY_HASH] = {"key_hash", SL__RES_SECRET, 0, 0, NULL},
    [F_ALLOWED_MODELS] = {"allowed_models", SL__RES_LIST, SL__RES_REQUIRED, 0, NULL},
    [F_EXPIRES_AT] = {"expires_at", SL__RES_STRING, 0, 0, NULL},
    [F_DISABLED] = {"disabled", SL__RES_BOOL, 0, 0, NULL},
    [F_TEAM_ID] = {"team_id", SL__RES_STRING, 0, 0, NULL},
    [F_USER_ID] = {"user_id", SL__RES_STRING, 0, 0, NULL},
    [F_USER_NAME] = {"user_name", SL__RES_STRING, 0, 0, NULL},
    [F_RATE_LIMIT] = {"rate_limit", SL__RES_MAP, 0, 0, NULL},
    [F_BUDGET] = {"budget", SL__RES_MAP, 0, 0, NULL},
    {"allowed_routes", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"allowed_agents", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"mcp_access", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"mcp_rate_limits", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"jwt_provider", SL__RES_UNSUPPORTED, 0, 0, NULL},
    {"jwt_subject", SL__RES_UNSUPPORTED, 0, 0, NULL},
};
/* clang-format on */

static const struct sl__res_schema schema = {"api_keys", fields, SL_ARRAY_LEN(fields)};

/* Where an entry's digest came from, to report a key defined twice. */
struct digest_ref {
    const uint8_t *digest;
    size_t index;
    unsigned line;
    const char *field;
    char label[192];
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* key_hash: 64 hex digits of a SHA-256. The value is never echoed: a plaintext key pasted here
 * by mistake must not end up in a log. */
static int read_key_hash(struct sl__res_entry *e, struct sl_api_key *k)
{
    struct sl__res_val v;
    if (sl__res_string(e, F_KEY_HASH, &v) != SL_OK)
        return SL_EPARSE;
    bool ok = v.len == 64;
    for (size_t i = 0; ok && i < 32; i++) {
        int hi = hex_value(v.text[2 * i]), lo = hex_value(v.text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        k->digest[i] = (uint8_t)(ok ? hi << 4 | lo : 0);
    }
    if (!ok)
        sl__res_error(e, v.node->line, "key_hash",
                      "expected 64 hex digits (a SHA-256 digest), got a string of %zu "
                      "characters",
                      v.len);
    sl__res_val_dispose(&v);
    return ok ? SL_OK : SL_EPARSE;
}

/* key_env names the variable holding the plaintext key. It is hashed where it lies in envp:
 * no copy of the plaintext is ever made, so none has to be wiped. */
static int read_key_env(struct sl__res_entry *e, struct sl_api_key *k)
{
    struct sl__res_val v;
    char name[256];
    unsigned int dlen = 0;
    if (sl__res_string(e, F_KEY_ENV, &v) != SL_OK)
        return SL_EPARSE;
    unsigned line = v.node->line;
    const char *plain = sl__env_get(e->l->envp, sl_str_init(v.text, v.len));
    sl__cfg_display(name, sizeof(name),
                    v.interpolated ? v.node->value : sl_str_init(v.text, v.len));
    sl__res_val_dispose(&v);
    if (plain == NULL) {
        sl__res_error(e, line, "key_env", "environment variable %s is not set", name);
        return SL_EPARSE;
    }
    if (plain[0] == '\0') {
        sl__res_error(e, line, "key_env", "environment variable %s is empty", name);
        return SL_EPARSE;
    }
    if (strstr(plain, "${") != NULL) {
        sl__res_error(e, line, "key_env",
                      "the value of %s contains \"${\"; set the plaintext key itself, not a "
                      "reference",
                      name);
        return SL_EPARSE;
    }
    int ok = EVP_Digest(plain, strlen(plain), k->digest, &dlen, EVP_sha256(), NULL);
    SL_ASSERT(ok == 1 && dlen == sizeof(k->digest));
    return SL_OK;
}

/* Exactly one of key_env and key_hash. Returns the row that set the digest, or -1. */
static int read_digest(struct sl__res_entry *e, struct sl_api_key *k)
{
    bool has_env = e->values[F_KEY_ENV] != NULL, has_hash = e->values[F_KEY_HASH] != NULL;
    if (has_env && has_hash) {
        sl__res_error(e, e->keys[F_KEY_HASH]->line, "key_hash",
                      "set only one of key_env and key_hash");
        return -1;
    }
    if (!has_env && !has_hash) {
        sl__res_error(e, 0, "key_env", "one of key_env or key_hash is required");
        return -1;
    }
    int row = has_env ? F_KEY_ENV : F_KEY_HASH;
    if (sl_yaml_is_null(e->values[row])) {
        sl__res_error(e, e->values[row]->line, fields[row].name, "a value is required, got null");
        return -1;
    }
    int rc = has_env ? read_key_env(e, k) : read_key_hash(e, k);
    return rc == SL_OK ? row : -1;
}

/* An exact entry must name a model a caller can send: a defined name, or one a wildcard model
 * resolves. */
static bool names_model(struct sl__res_loader *l, struct sl_str alias)
{
    if (sl__res_names_find(&l->models, alias) != NULL)
        return true;
    for (size_t i = 0; i < l->n_wildcards; i++) {
        const char *w = l->wildcards[i]->name;
        if (w != NULL && sl__res_wildcard_match(sl_str_from_cstr(w), alias))
            return true;
    }
    return false;
}

static char *read_glob(struct sl__res_entry *e, size_t i, const struct sl_yaml_node *item)
{
    struct sl__res_val v;
    char what[64], shown[256];
    snprintf(what, sizeof(what), "allowed_models[%zu]", i);
    if (sl__res_scalar(e, what, item, false, &v) != SL_OK)
        return NULL;
    struct sl_str g = sl_str_init(v.text, v.len);
    size_t stars = sl__res_count_stars(g);
    if (stars > 1) {
        sl__res_error(e, item->line, what, "a pattern has at most one \"*\", got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
        return NULL;
    }
    if (stars == 0 && !names_model(e->l, g)) {
        sl__res_error(e, item->line, what, "%s is not defined in models",
                      sl__res_name_of(&v, shown, sizeof(shown)));
        sl__res_val_dispose(&v);
        return NULL;
    }
    return sl__res_val_take(&v);
}

static void read_allowed(struct sl__res_entry *e, struct sl_api_key *k)
{
    const struct sl_yaml_node *list;
    if (sl__res_list(e, F_ALLOWED_MODELS, &list) != SL_OK)
        return;
    k->allowed_models = sl_xcalloc(list->n != 0 ? list->n : 1, sizeof(*k->allowed_models));
    for (size_t i = 0; i < list->n; i++) {
        char *g = read_glob(e, i, list->items[i]);
        if (g != NULL)
            k->allowed_models[k->n_allowed_models++] = g;
    }
}

static void read_expiry(struct sl__res_entry *e, struct sl_api_key *k)
{
    struct sl__res_val v;
    char shown[256];
    if (sl__res_string(e, F_EXPIRES_AT, &v) != SL_OK)
        return;
    if (sl_time_parse_rfc3339(sl_str_init(v.text, v.len), &k->expires_at_us) == SL_OK)
        k->has_expiry = true;
    else
        sl__res_error(e, v.node->line, "expires_at",
                      "expected an RFC 3339 timestamp such as 2026-12-31T23:59:59Z, got %s",
                      sl__res_show(&v, shown, sizeof(shown)));
    sl__res_val_dispose(&v);
}

/* team_id and user_id are the policy dimensions team and member; user_name is accepted
 * metadata: checked, then dropped. */
static void read_metadata(struct sl__res_entry *e, struct sl_api_key *k)
{
    struct sl__res_val v;
    if (sl__res_string(e, F_TEAM_ID, &v) == SL_OK)
        k->team_id = sl__res_val_take(&v);
    if (sl__res_string(e, F_USER_ID, &v) == SL_OK)
        k->user_id = sl__res_val_take(&v);
    if (sl__res_string(e, F_USER_NAME, &v) == SL_OK)
        sl__res_val_dispose(&v);
    if (k->team_id != NULL)
        k->team_bucket = sl__res_bucket("", k->team_id);
    if (k->user_id != NULL)
        k->member_bucket = sl__res_bucket("", k->user_id);
}

static void load_one(struct sl__res_loader *l, size_t i, const struct sl_yaml_node *item,
                     struct digest_ref *ref)
{
    struct sl_api_key *k = &l->r->api_keys[i];
    struct sl__res_entry e;
    k->line = item->line;
    if (!sl__res_entry_begin(l, &schema, i, item, &e, &k->name))
        return;
    int row = read_digest(&e, k);
    if (row >= 0)
        *ref = (struct digest_ref){k->digest, i, e.values[row]->line, fields[row].name, ""};
    snprintf(ref->label, sizeof(ref->label), "%s", e.label);
    read_allowed(&e, k);
    read_expiry(&e, k);
    if (sl__res_bool(&e, F_DISABLED, &k->disabled) != SL_OK)
        k->disabled = false;
    read_metadata(&e, k);
    sl__res_rate_limit(&e, F_RATE_LIMIT, &k->rate_limit);
    sl__res_budget(&e, F_BUDGET, &k->budget);
    if (k->name != NULL)
        k->bucket = sl__res_bucket("k:", k->name);
}

static int cmp_refs(const void *pa, const void *pb)
{
    const struct digest_ref *a = pa, *b = pb;
    int c = memcmp(a->digest, b->digest, 32);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : (a->index > b->index);
}

/* Two entries with one key would make the caller's identity ambiguous. */
static void check_duplicates(struct sl__res_loader *l, struct digest_ref *refs, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].digest != NULL)
            refs[m++] = refs[i];
    }
    qsort(refs, m, sizeof(*refs), cmp_refs);
    size_t first = 0;
    for (size_t i = 1; i < m; i++) {
        if (memcmp(refs[i].digest, refs[first].digest, 32) != 0) {
            first = i;
            continue;
        }
        sl_diag_add(l->diag, refs[i].line, "%s: %s: the same key as %s (line %u)", refs[i].label,
                    refs[i].field, refs[first].label, refs[first].line);
    }
}

void sl__res_load_api_keys(struct sl__res_loader *l, const struct sl_yaml_node *node)
{
    size_t n = sl__res_collection_len(l, "api_keys", node);
    struct sl_resources *r = l->r;
    struct digest_ref *refs = sl_xcalloc(n != 0 ? n : 1, sizeof(*refs));
    r->api_keys = sl_xcalloc(n != 0 ? n : 1, sizeof(*r->api_keys));
    r->n_api_keys = n;
    for (size_t i = 0; i < n; i++)
        load_one(l, i, node->items[i], &refs[i]);
    check_duplicates(l, refs, n);
    free(refs);
    const char **names = sl_xcalloc(n != 0 ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = r->api_keys[i].name;
    sl__res_names_build(l, &l->api_keys, "api_keys", node, names);
    free(names);
}
