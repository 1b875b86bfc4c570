#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/yaml.h"

#include "config_internal.h"

#define PATH_CAP   128 /* longer than any known key path; longer names are unknown keys */
#define ENV_PREFIX "SLUICE_"

/* Where a key's current value came from, so later checks can point at it. */
struct origin {
    unsigned line;   /* line of the key in the file; 0 when not from the file */
    const char *env; /* the "NAME=value" entry that set the key, or NULL */
    bool set;        /* given by the file or the environment (not a default) */
    bool bad;        /* a problem was reported already; skip checks that depend on it */
};

struct loader {
    struct sl_config *cfg;
    struct sl_diag *diag;
    struct origin *origins; /* one per schema row */
    unsigned admin_line;    /* line of the admin section's key; 0 when the file has none */
};

static struct origin *origin_of(struct loader *l, const struct sl__cfg_key *k)
{
    return &l->origins[k - sl__cfg_keys];
}

static const struct sl__cfg_key *row(const char *path)
{
    const struct sl__cfg_key *k = sl__cfg_find(sl_str_from_cstr(path));
    SL_ASSERT(k != NULL);
    return k;
}

/* "environment NAME="value": " for a value from the environment; secret values stay out. */
static void env_prefix(const char *entry, bool secret, char *buf, size_t cap)
{
    const char *eq = strchr(entry, '=');
    SL_ASSERT(eq != NULL);
    char name[256], value[96];
    sl__cfg_display(name, sizeof(name), sl_str_init(entry, (size_t)(eq - entry)));
    if (secret)
        snprintf(buf, cap, "environment %s: ", name);
    else
        snprintf(buf, cap, "environment %s=%s: ", name,
                 sl__cfg_quote(value, sizeof(value), sl_str_from_cstr(eq + 1)));
}

/* Reports a problem with key k's current value, at the line or variable that set it. */
static void report_key(struct loader *l, const struct sl__cfg_key *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_key(struct loader *l, const struct sl__cfg_key *k, const char *fmt, ...)
{
    struct origin *o = origin_of(l, k);
    char prefix[512] = "", msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (o->env != NULL)
        env_prefix(o->env, (k->flags & SL__CFG_SECRET) != 0, prefix, sizeof(prefix));
    sl_diag_add(l->diag, o->env != NULL ? 0 : o->line, "%s%s: %s", prefix, k->path, msg);
    o->bad = true;
}

static void add_note(struct sl_config *cfg, enum sl_log_level level, unsigned line, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static void add_note(struct sl_config *cfg, enum sl_log_level level, unsigned line, const char *fmt,
                     ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cfg->notes = sl_xrealloc(cfg->notes, (cfg->n_notes + 1) * sizeof(*cfg->notes));
    cfg->notes[cfg->n_notes++] =
        (struct sl_config_note){.level = level, .line = line, .msg = sl_xstrdup(msg)};
}

static void apply_defaults(struct loader *l)
{
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        if (k->def == NULL)
            continue;
        struct sl__cfg_val v = {NULL, sl_str_from_cstr(k->def)};
        struct sl__cfg_problem p;
        int rc = sl__cfg_parse_value(k, &v, l->cfg, &p);
        SL_ASSERT(rc == SL_OK);
    }
}

static const char *unsupported_msg(const struct sl__cfg_key *k, const char *why, char *buf,
                                   size_t cap)
{
    snprintf(buf, cap, "%s: not supported by sluice yet%s%s%s%s%s", k->path,
             k->doc != NULL ? "; " : "", k->doc != NULL ? k->doc : "", why[0] != '\0' ? " (" : "",
             why, why[0] != '\0' ? ")" : "");
    return buf;
}

/* An unsupported AISIX block in the file: accepted with an info note when it is switched off,
 * refused naming what it needs otherwise. */
static void unsupported_in_file(struct loader *l, const struct sl__cfg_key *k,
                                const struct sl_yaml_node *key, const struct sl_yaml_node *value)
{
    char note[512], why[256], msg[PATH_CAP + 512];
    if (sl__cfg_compat_inert(k, value, note, sizeof(note), why, sizeof(why)))
        add_note(l->cfg, SL_LOG_INFO, key->line, "%s: %s", k->path, note);
    else
        sl_diag_add(l->diag, key->line, "%s", unsupported_msg(k, why, msg, sizeof(msg)));
}

/* Joins prefix and a mapping key into a lookup path. Keys with dots (which would alias a
 * nested key), empty keys and over-long keys cannot be known keys. */
static bool join_path(struct sl_str prefix, struct sl_str key, char *buf, struct sl_str *out)
{
    if (key.len == 0 || memchr(key.ptr, '.', key.len) != NULL ||
        prefix.len + key.len + 2 > PATH_CAP)
        return false;
    size_t n = 0;
    if (prefix.len != 0) {
        memcpy(buf, prefix.ptr, prefix.len);
        buf[prefix.len] = '.';
        n = prefix.len + 1;
    }
    memcpy(buf + n, key.ptr, key.len);
    buf[n + key.len] = '\0';
    *out = sl_str_init(buf, n + key.len);
    return true;
}

static void report_unknown_key(struct loader *l, struct sl_str prefix,
                               const struct sl_yaml_node *key, bool joined, struct sl_str path)
{
    char shown[256], hint[PATH_CAP + 32] = "";
    bool dotted = memchr(key->value.ptr, '.', key->value.len) != NULL;
    if (dotted) {
        /* "proxy.addr: x" at the top level must not read like a known key path. */
        sl__cfg_quote(shown, sizeof(shown), key->value);
        snprintf(hint, sizeof(hint), " (write nested mappings, not dotted keys)");
    } else {
        sl__cfg_display(shown, sizeof(shown), key->value);
    }
    if (joined) {
        struct sl_str s = sl__cfg_suggest(path, false);
        if (s.len != 0)
            snprintf(hint, sizeof(hint), " (did you mean %.*s?)", SL_STR_FMT(s));
    }
    sl_diag_add(l->diag, key->line, "%.*s%s%s: unknown key%s", SL_STR_FMT(prefix),
                prefix.len != 0 ? "." : "", shown, hint);
}

static void set_from_file(struct loader *l, const struct sl__cfg_key *k,
                          const struct sl_yaml_node *key, const struct sl_yaml_node *value)
{
    struct origin *o = origin_of(l, k);
    if (sl_yaml_is_null(value)) {
        /* A null leaf keeps its default; a required key has none to keep. */
        if (k->flags & SL__CFG_REQUIRED) {
            sl_diag_add(l->diag, value->line, "%s: a value is required, got null", k->path);
            o->bad = true;
        }
        return;
    }
    struct sl__cfg_val v = {value, value->kind == SL_YAML_SCALAR ? value->value : SL_STR_NULL};
    struct sl__cfg_problem p;
    if (sl__cfg_parse_value(k, &v, l->cfg, &p) != SL_OK) {
        sl_diag_add(l->diag, p.line != 0 ? p.line : value->line, "%s: %s", k->path, p.msg);
        o->bad = true;
        return;
    }
    *o = (struct origin){.line = key->line, .set = true};
}

static void walk_map(struct loader *l, const struct sl_yaml_node *map, struct sl_str prefix);

static void walk_section(struct loader *l, struct sl_str path, const struct sl_yaml_node *value)
{
    if (sl_yaml_is_null(value))
        return;
    if (value->kind != SL_YAML_MAP) {
        sl_diag_add(l->diag, value->line, "%.*s: expected a mapping, got %s", SL_STR_FMT(path),
                    sl_yaml_describe(value));
        return;
    }
    walk_map(l, value, path);
}

static void walk_map(struct loader *l, const struct sl_yaml_node *map, struct sl_str prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct sl_yaml_node *key = map->pairs[i].key, *value = map->pairs[i].value;
        char buf[PATH_CAP];
        struct sl_str path = SL_STR_NULL;
        bool joined = join_path(prefix, key->value, buf, &path);
        const struct sl__cfg_key *k = joined ? sl__cfg_find(path) : NULL;
        if (joined && sl_str_eq_lit(path, "admin") && !sl_yaml_is_null(value))
            l->admin_line = key->line;
        if (k != NULL && k->type == SL__CFG_UNSUPPORTED)
            unsupported_in_file(l, k, key, value);
        else if (k != NULL)
            set_from_file(l, k, key, value);
        else if (joined && sl__cfg_is_section(path))
            walk_section(l, path, value);
        else
            report_unknown_key(l, prefix, key, joined, path);
    }
}

static void walk_root(struct loader *l, const struct sl_yaml_node *root)
{
    if (root == NULL || sl_yaml_is_null(root))
        return;
    if (root->kind != SL_YAML_MAP) {
        sl_diag_add(l->diag, root->line, "the top level must be a mapping of sections, got %s",
                    sl_yaml_describe(root));
        return;
    }
    walk_map(l, root, SL_STR_NULL);
}

/* SLUICE_PROXY__TLS__CERT_FILE -> proxy.tls.cert_file */
static bool env_path(struct sl_str name, char *buf, struct sl_str *out)
{
    size_t n = 0;
    for (size_t i = sizeof(ENV_PREFIX) - 1; i < name.len; i++) {
        if (n + 1 >= PATH_CAP)
            return false;
        char c = name.ptr[i];
        if (c == '_' && i + 1 < name.len && name.ptr[i + 1] == '_') {
            buf[n++] = '.';
            i++;
            continue;
        }
        buf[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    buf[n] = '\0';
    *out = sl_str_init(buf, n);
    return n > 0;
}

/* proxy.tls.cert_file -> SLUICE_PROXY__TLS__CERT_FILE */
static void env_name(struct sl_str path, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", ENV_PREFIX);
    for (size_t i = 0; i < path.len && n + 3 < cap; i++) {
        char c = path.ptr[i];
        if (c == '.') {
            buf[n++] = '_';
            buf[n++] = '_';
        } else {
            buf[n++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        }
    }
    buf[n] = '\0';
}

static void report_env_unknown(struct loader *l, const char *shown, bool has_path,
                               struct sl_str path)
{
    char hint[2 * PATH_CAP + 32] = "", name[2 * PATH_CAP], p[256] = "";
    if (has_path) {
        struct sl_str s = sl__cfg_suggest(path, true);
        if (s.len != 0) {
            env_name(s, name, sizeof(name));
            snprintf(hint, sizeof(hint), " (did you mean %s?)", name);
        }
        sl__cfg_display(p, sizeof(p), path);
    }
    sl_diag_add(l->diag, 0, "environment %s: unknown key%s%s%s", shown, has_path ? " " : "", p,
                hint);
}

/* Values of unknown, unsupported or section variables are not echoed: they may be secrets
 * meant for something else. */
static void apply_env_var(struct loader *l, const char *entry)
{
    const char *eq = strchr(entry, '=');
    if (eq == NULL)
        return;
    struct sl_str name = sl_str_init(entry, (size_t)(eq - entry));
    char buf[PATH_CAP], shown[256], msg[PATH_CAP + 512];
    struct sl_str path;
    sl__cfg_display(shown, sizeof(shown), name);
    if (!env_path(name, buf, &path)) {
        report_env_unknown(l, shown, false, SL_STR_NULL);
        return;
    }
    const struct sl__cfg_key *k = sl__cfg_find_unsupported(path);
    if (k != NULL) {
        sl_diag_add(l->diag, 0, "environment %s: %s", shown,
                    unsupported_msg(k, "", msg, sizeof(msg)));
        return;
    }
    k = sl__cfg_find(path);
    if (k == NULL && sl__cfg_is_section(path)) {
        sl_diag_add(l->diag, 0, "environment %s: %s is a section, not a key", shown, buf);
        return;
    }
    if (k == NULL) {
        report_env_unknown(l, shown, true, path);
        return;
    }
    struct sl__cfg_val v = {NULL, sl_str_from_cstr(eq + 1)};
    struct sl__cfg_problem p;
    struct origin *o = origin_of(l, k);
    o->env = entry;
    if (sl__cfg_parse_value(k, &v, l->cfg, &p) != SL_OK) {
        report_key(l, k, "%s", p.msg);
        return;
    }
    o->set = true;
    o->line = 0;
}

static void apply_env(struct loader *l, char *const *envp)
{
    if (envp == NULL)
        return;
    for (size_t i = 0; envp[i] != NULL; i++) {
        if (strncmp(envp[i], ENV_PREFIX, sizeof(ENV_PREFIX) - 1) == 0)
            apply_env_var(l, envp[i]);
    }
}

static void check_required(struct loader *l)
{
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        const struct origin *o = &l->origins[i];
        if ((k->flags & SL__CFG_REQUIRED) && !o->set && !o->bad)
            sl_diag_add(l->diag, 0, "%s: required key is missing", k->path);
    }
}

static void check_files(struct loader *l)
{
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        if (k->type != SL__CFG_FILE || k->off == SL__CFG_NO_FIELD || l->origins[i].bad)
            continue;
        const char *path = *(char **)(void *)((char *)l->cfg + k->off);
        char err[256], shown[256];
        if (path != NULL && sl__config_check_file(path, err, sizeof(err)) != SL_OK)
            report_key(l, k, "cannot read %s: %s",
                       sl__cfg_display(shown, sizeof(shown), sl_str_from_cstr(path)), err);
    }
}

/* The upstream CA bundle is loaded by each worker at its first https connection; a file that
 * holds no certificate would only fail there, request after request. Load it now the same way. */
static void check_ca_file(struct loader *l)
{
    const struct sl__cfg_key *k = row("upstream.tls.ca_file");
    const char *path = l->cfg->upstream.tls.ca_file;
    char reason[256], shown[256];
    if (path == NULL || origin_of(l, k)->bad)
        return;
    if (sl__config_check_ca(path, reason, sizeof(reason)) != SL_OK)
        report_key(l, k, "%s is not a PEM CA bundle (%s)",
                   sl__cfg_display(shown, sizeof(shown), sl_str_from_cstr(path)), reason);
}

static void check_tls_pair(struct loader *l, const struct sl__cfg_key *kcert,
                           const struct sl__cfg_key *kkey)
{
    const char *cert = l->cfg->proxy.tls.cert_file, *key = l->cfg->proxy.tls.key_file;
    char reason[256], c[256], k[256];
    enum sl__tls_check rc = sl__config_check_tls(cert, key, reason, sizeof(reason));
    sl__cfg_display(c, sizeof(c), sl_str_from_cstr(cert));
    sl__cfg_display(k, sizeof(k), sl_str_from_cstr(key));
    if (rc == SL__TLS_BAD_CERT)
        report_key(l, kcert, "%s is not a PEM certificate (%s)", c, reason);
    else if (rc == SL__TLS_BAD_KEY)
        report_key(l, kkey, "%s is not a PEM private key (%s)", k, reason);
    else if (rc == SL__TLS_MISMATCH)
        report_key(l, kkey, "%s does not match the certificate in %s", k, c);
}

static void check_tls(struct loader *l)
{
    const struct sl__cfg_key *kcert = row("proxy.tls.cert_file"), *kkey = row("proxy.tls.key_file");
    const struct sl__cfg_key *kaddr = row("proxy.tls.addr");
    const struct origin *ocert = origin_of(l, kcert), *okey = origin_of(l, kkey);
    const struct origin *oaddr = origin_of(l, kaddr);
    bool cert = ocert->set, key = okey->set;
    if (cert && !key && !okey->bad)
        report_key(l, kcert, "set without proxy.tls.key_file (TLS needs both)");
    else if (key && !cert && !ocert->bad)
        report_key(l, kkey, "set without proxy.tls.cert_file (TLS needs both)");
    else if (cert && key && !ocert->bad && !okey->bad)
        check_tls_pair(l, kcert, kkey);
    if (!oaddr->set || oaddr->bad)
        return;
    const struct sl_addr *plain = &l->cfg->proxy.addr, *tls = &l->cfg->proxy.tls.addr;
    if (!cert || !key)
        report_key(l, kaddr, "requires proxy.tls.cert_file and proxy.tls.key_file");
    else if (strcmp(plain->text, tls->text) == 0 && sl_addr_port(tls) != 0)
        report_key(l, kaddr, "must differ from proxy.addr (both are %s)", tls->text);
}

static unsigned note_line(struct loader *l, const char *path, unsigned fallback);

/* One of the words a string key accepts, or -1 after reporting it. */
static int pick(struct loader *l, const char *path, const char *value, const char *const *words)
{
    for (int i = 0; words[i] != NULL; i++) {
        if (strcmp(value, words[i]) == 0)
            return i;
    }
    char q[96], list[160] = "";
    size_t o = 0;
    for (int i = 0; words[i] != NULL && o < sizeof(list); i++) {
        const char *sep = i == 0 ? "" : words[i + 1] == NULL ? " or " : ", ";
        int n = snprintf(list + o, sizeof(list) - o, "%s%s", sep, words[i]);
        o += n > 0 ? (size_t)n : 0;
    }
    report_key(l, row(path), "expected %s, got %s", list,
               sl__cfg_quote(q, sizeof(q), sl_str_from_cstr(value)));
    return -1;
}

/* "<prefix>.<key>" for a Redis block's key (ratelimit.redis or cache.redis). */
static const char *redis_path(char *buf, size_t cap, const char *prefix, const char *key)
{
    snprintf(buf, cap, "%s.%s", prefix, key);
    return buf;
}

/* What the url carries (user, password, database) may also be given as keys, but not both: one
 * of them would be silently ignored. */
static void take_from_url(struct loader *l, const char *prefix, const char *key, char **field,
                          char **from_url)
{
    char path[64];
    if (*from_url == NULL)
        return;
    if (*field != NULL)
        report_key(l, row(redis_path(path, sizeof(path), prefix, key)),
                   "also given in %s.url; set it in one place", prefix);
    else
        *field = *from_url;
    if (*field != *from_url) {
        OPENSSL_cleanse(*from_url, strlen(*from_url));
        free(*from_url);
    }
    *from_url = NULL;
}

static void check_redis_tls(struct loader *l, const char *prefix, struct sl_redis_config *r)
{
    char cert[64], key[64], ca[64];
    redis_path(cert, sizeof(cert), prefix, "tls.client_cert_file");
    redis_path(key, sizeof(key), prefix, "tls.client_key_file");
    redis_path(ca, sizeof(ca), prefix, "tls.ca_file");
    bool has_cert = r->tls_opts.client_cert_file != NULL,
         has_key = r->tls_opts.client_key_file != NULL;
    if (has_cert != has_key)
        report_key(l, row(has_cert ? cert : key),
                   "needs %s as well (a client certificate and its key go together)",
                   has_cert ? key : cert);
    if (r->tls)
        return;
    const char *paths[] = {ca, cert, key};
    for (size_t i = 0; i < SL_ARRAY_LEN(paths); i++) {
        if (origin_of(l, row(paths[i]))->set && !origin_of(l, row(paths[i]))->bad)
            report_key(l, row(paths[i]), "applies to TLS connections only: use a rediss:// url");
    }
}

/* A Redis block (ratelimit.redis, cache.redis): single mode, a url parsed into host, port and
 * TLS, credentials in one place. needed: the url is required (named by why_needed). */
static void check_redis(struct loader *l, const char *prefix, struct sl_redis_config *r,
                        const char *why_needed)
{
    static const char *const modes[] = {"single", "cluster", "sentinel", NULL};
    static const char *const on_error[] = {"allow", "deny", NULL};
    char path[64];
    const struct sl__cfg_key *kurl = row(redis_path(path, sizeof(path), prefix, "url"));
    int m = pick(l, redis_path(path, sizeof(path), prefix, "mode"), r->mode, modes);
    if (m > 0)
        report_key(l, row(path),
                   "%s is not supported by sluice yet (only single: one Redis server)", modes[m]);
    if (r->on_error != NULL)
        r->deny_on_error =
            pick(l, redis_path(path, sizeof(path), prefix, "on_error"), r->on_error, on_error) == 1;
    if (r->url == NULL) {
        if (why_needed != NULL && !origin_of(l, kurl)->bad)
            sl_diag_add(l->diag, 0, "%s.url: required when %s", prefix, why_needed);
        return;
    }
    struct sl__redis_url u;
    const char *why;
    if (sl__redis_url_parse(sl_str_from_cstr(r->url), &u, &why) != SL_OK) {
        report_key(l, kurl, "%s", why);
        return;
    }
    r->host = u.host;
    u.host = NULL;
    r->port = u.port;
    r->tls = u.tls;
    take_from_url(l, prefix, "username", &r->username, &u.username);
    take_from_url(l, prefix, "password", &r->password, &u.password);
    const struct sl__cfg_key *kdb = row(redis_path(path, sizeof(path), prefix, "database"));
    if (u.has_database && origin_of(l, kdb)->set)
        report_key(l, kdb, "also given in %s.url; set it in one place", prefix);
    else if (u.has_database)
        r->database = u.database;
    sl__redis_url_dispose(&u);
    check_redis_tls(l, prefix, r);
}

static void check_ratelimit(struct loader *l)
{
    static const char *const backends[] = {"memory", "redis", NULL};
    struct sl_config *cfg = l->cfg;
    int b = pick(l, "ratelimit.backend", cfg->ratelimit.backend_name, backends);
    cfg->ratelimit.backend = b == 1 ? SL_RL_BACKEND_REDIS : SL_RL_BACKEND_MEMORY;
    check_redis(l, "ratelimit.redis", &cfg->ratelimit.redis,
                b == 1 ? "ratelimit.backend is redis" : NULL);
    if (b == 0 && cfg->ratelimit.redis.url != NULL)
        add_note(cfg, SL_LOG_INFO, note_line(l, "ratelimit.redis.url", 0),
                 "ratelimit.redis is set but ratelimit.backend is memory: counters stay in this "
                 "process and Redis is not used");
}

/* cache.redis exists when any of its keys is given (then its url is required); cache.backend is
 * the reference's legacy knob: each cache policy names its own backend. */
static void check_cache(struct loader *l)
{
    static const char *const backends[] = {"memory", "redis", NULL};
    struct sl_config *cfg = l->cfg;
    bool any = false;
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        if (strncmp(k->path, "cache.redis.", 12) == 0 && k->type != SL__CFG_UNSUPPORTED)
            any = any || origin_of(l, k)->set;
    }
    cfg->cache.has_redis = any;
    check_redis(l, "cache.redis", &cfg->cache.redis, any ? "cache.redis is given" : NULL);
    if (!origin_of(l, row("cache.backend"))->set)
        return;
    if (pick(l, "cache.backend", cfg->cache.backend_name, backends) >= 0)
        add_note(cfg, SL_LOG_INFO, note_line(l, "cache.backend", 0),
                 "cache.backend is a legacy knob and is ignored: each cache policy names its "
                 "backend (memory always exists; redis needs cache.redis)");
}

/* The line a note about key k points at: where the file set it, else fallback. */
static unsigned note_line(struct loader *l, const char *path, unsigned fallback)
{
    const struct origin *o = origin_of(l, row(path));
    return o->set && o->env == NULL ? o->line : fallback;
}

/* AISIX enables the admin listener unless admin.enabled is false, so an AISIX config with an
 * admin section expects one. Sluice has none: say so instead of ignoring it silently. */
static void resolve_admin(struct loader *l)
{
    struct sl_config *cfg = l->cfg;
    static const char *const keys[] = {"admin.addr", "admin.admin_keys", "admin.tls.cert_file",
                                       "admin.tls.key_file"};
    bool present = l->admin_line != 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++)
        present = present || origin_of(l, row(keys[i]))->set;
    if (!origin_of(l, row("admin.enabled"))->set)
        cfg->admin.enabled = present;
    if (cfg->admin.enabled)
        add_note(cfg, SL_LOG_WARN, note_line(l, "admin.enabled", l->admin_line),
                 "admin.enabled: the admin listener is on (AISIX's default when an admin "
                 "section is present), but sluice has no admin listener: admin.* is accepted "
                 "and ignored; set admin.enabled: false to silence this");
}

static void resolve(struct loader *l)
{
    struct sl_config *cfg = l->cfg;
    if (!origin_of(l, row("proxy.workers"))->set)
        cfg->proxy.workers = SL_MIN(sl_config_available_cpus(), 1024u);
    if (cfg->proxy.request_body_limit_bytes == 0)
        cfg->proxy.request_body_limit_bytes = SL_CONFIG_MAX_BODY_BYTES;
    cfg->proxy.tls.has_addr = origin_of(l, row("proxy.tls.addr"))->set;
    if (!origin_of(l, row("upstream.pool_max_idle_per_host"))->set)
        cfg->upstream.pool_max_idle_per_host = SL_CONFIG_UNBOUNDED;
    if (!cfg->proxy.thread_per_core)
        add_note(cfg, SL_LOG_WARN, note_line(l, "proxy.thread_per_core", 0),
                 "proxy.thread_per_core: false is ignored; sluice always runs one worker loop "
                 "per core");
    resolve_admin(l);
    if (!cfg->upstream.tls.verify)
        add_note(cfg, SL_LOG_WARN, note_line(l, "upstream.tls.verify", 0),
                 "upstream.tls.verify: false: upstream certificates and host names are NOT "
                 "checked, so anyone who can intercept a connection can read and change prompts, "
                 "responses and provider keys; use upstream.tls.ca_file for a private CA");
}

/* Notes come from the walk and from resolve(): put them in file order, those without a line
 * first, ties in the order found (an insertion sort: stable, and there are a handful). */
static void sort_notes(struct sl_config *cfg)
{
    for (size_t i = 1; i < cfg->n_notes; i++) {
        struct sl_config_note n = cfg->notes[i];
        size_t j = i;
        for (; j > 0 && cfg->notes[j - 1].line > n.line; j--)
            cfg->notes[j] = cfg->notes[j - 1];
        cfg->notes[j] = n;
    }
}

int sl_config_parse(const char *data, size_t len, const char *name, char *const *envp,
                    struct sl_config **out, struct sl_diag *diag)
{
    struct sl_yaml_doc doc;
    size_t errors_before = diag->count;
    struct loader l = {
        .cfg = sl_xcalloc(1, sizeof(struct sl_config)),
        .diag = diag,
        .origins = sl_xcalloc(sl__cfg_nkeys, sizeof(struct origin)),
    };
    *out = NULL;
    l.cfg->file = sl_xstrdup(name != NULL ? name : "");
    apply_defaults(&l);
    bool parsed = sl_yaml_parse(data != NULL ? data : "", len, &doc, diag) == SL_OK;
    if (parsed)
        walk_root(&l, doc.root);
    /* Environment problems are reported even when the file is broken: all at once. */
    apply_env(&l, envp);
    if (parsed) {
        check_required(&l);
        check_files(&l);
        check_ca_file(&l);
        check_tls(&l);
        check_ratelimit(&l);
        check_cache(&l);
    }
    sl_yaml_doc_dispose(&doc);
    if (diag->count == errors_before) {
        resolve(&l);
        sort_notes(l.cfg);
    }
    free(l.origins);
    if (diag->count != errors_before) {
        sl_config_free(l.cfg);
        return SL_ERR;
    }
    *out = l.cfg;
    return SL_OK;
}

int sl_config_load(const char *path, char *const *envp, struct sl_config **out,
                   struct sl_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    int err = sl__yaml_read_file(path, SL_YAML_MAX_BYTES, &data, &len);
    if (err == EFBIG) {
        sl_diag_add(diag, 0, "cannot read config: file is larger than %u bytes", SL_YAML_MAX_BYTES);
        return SL_ERR;
    }
    if (err != 0) {
        sl_diag_add(diag, 0, "cannot read config: %s", strerror(err));
        return SL_ERR;
    }
    int rc = sl_config_parse(data, len, path, envp, out, diag);
    free(data);
    return rc;
}

void sl_config_free(struct sl_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_notes; i++)
        free(cfg->notes[i].msg);
    free(cfg->notes);
    cfg->notes = NULL;
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        if (k->type == SL__CFG_HEADER_LIST ||
            (k->type == SL__CFG_STR_LIST && k->off != SL__CFG_NO_FIELD)) {
            sl__cfg_list_dispose((struct sl_config_list *)(void *)((char *)cfg + k->off));
            continue;
        }
        if (k->type == SL__CFG_CIDR_LIST) {
            sl__cfg_cidrs_dispose((struct sl_cidr_list *)(void *)((char *)cfg + k->off));
            continue;
        }
        bool is_string = k->type == SL__CFG_STRING || k->type == SL__CFG_FILE ||
                         k->type == SL__CFG_URL_PATH || k->type == SL__CFG_HEADER;
        if (!is_string || k->off == SL__CFG_NO_FIELD)
            continue;
        char **field = (char **)(void *)((char *)cfg + k->off);
        if ((k->flags & SL__CFG_SECRET) && *field != NULL)
            OPENSSL_cleanse(*field, strlen(*field));
        free(*field);
        *field = NULL;
    }
    free(cfg->ratelimit.redis.host);
    free(cfg->cache.redis.host);
    free(cfg->file);
    cfg->file = NULL;
    free(cfg);
}

void sl_config_log_notes(const struct sl_config *cfg)
{
    for (size_t i = 0; i < cfg->n_notes; i++) {
        const struct sl_config_note *n = &cfg->notes[i];
        if (n->line != 0)
            sl_log(n->level, "%s:%u: %s", cfg->file, n->line, n->msg);
        else
            sl_log(n->level, "%s: %s", cfg->file, n->msg);
    }
}

void sl_config_print_notes(const struct sl_config *cfg, void *fp)
{
    for (size_t i = 0; i < cfg->n_notes; i++) {
        const struct sl_config_note *n = &cfg->notes[i];
        const char *level = n->level == SL_LOG_WARN ? "warning" : "info";
        if (n->line != 0)
            fprintf(fp, "sluice: %s:%u: %s: %s\n", cfg->file, n->line, level, n->msg);
        else
            fprintf(fp, "sluice: %s: %s: %s\n", cfg->file, level, n->msg);
    }
}
