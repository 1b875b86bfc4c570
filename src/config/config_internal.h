/* Internals of the config.yaml loader shared by the files under src/config/ and by
 * tests/unit/test_config.c; not part of the public contract. */
#ifndef SLUICE_CONFIG_INTERNAL_H
#define SLUICE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/str.h"
#include "sluice/yaml.h"

enum sl__cfg_type {
    SL__CFG_STRING = 0,  /* non-empty string -> char * */
    SL__CFG_FILE,        /* non-empty path to a readable regular file -> char * */
    SL__CFG_BOOL,        /* true/false -> bool */
    SL__CFG_UINT,        /* decimal digits within [min, max] -> unsigned or uint64_t */
    SL__CFG_ADDR,        /* sl_addr_parse -> struct sl_addr */
    SL__CFG_LOG_LEVEL,   /* sl_log_level_parse -> enum sl_log_level */
    SL__CFG_STR_LIST,    /* list of non-empty strings; validated, not stored */
    SL__CFG_HEADER_LIST, /* list of HTTP header names -> struct sl_config_list, lower-cased */
    SL__CFG_URL_PATH,    /* "/..." without spaces, '?' or '#' -> char * */
    SL__CFG_HEADER,      /* one HTTP header name -> char *, lower-cased */
    SL__CFG_CIDR_LIST,   /* list of CIDR ranges or addresses -> struct sl_cidr_list */
    SL__CFG_UNSUPPORTED, /* a reference (AISIX) key Sluice does not implement: always an error */
};

#define SL__CFG_REQUIRED 1u /* no default; must be set by the file or the environment */
#define SL__CFG_SECRET   2u /* values never appear in messages */

#define SL__CFG_NO_FIELD ((size_t)-1) /* accepted for compatibility, validated, not stored */

/* One row per key: the table drives the file walk, environment overrides, defaults, freeing,
 * and the reference check of docs/configuration.md. */
struct sl__cfg_key {
    const char *path; /* dotted, e.g. "proxy.tls.cert_file" */
    enum sl__cfg_type type;
    const char *def; /* default, spelled as an environment value; NULL: unset or computed */
    uint64_t min;    /* SL__CFG_UINT bounds */
    uint64_t max;
    size_t off; /* offset in struct sl_config, or SL__CFG_NO_FIELD */
    size_t size;
    unsigned flags;
    const char *doc; /* one line; for SL__CFG_UNSUPPORTED an optional hint */
};

extern const struct sl__cfg_key sl__cfg_keys[];
extern const size_t sl__cfg_nkeys;

/* The row whose path is exactly path, or NULL. */
const struct sl__cfg_key *sl__cfg_find(struct sl_str path);
/* True when path is a section: a proper prefix (at a dot) of some supported key's path. */
bool sl__cfg_is_section(struct sl_str path);
/* The SL__CFG_UNSUPPORTED row equal to path or to one of its dotted prefixes, or NULL. */
const struct sl__cfg_key *sl__cfg_find_unsupported(struct sl_str path);
/* The known key or section path closest to path within edit distance 2: among path's siblings
 * (same parent section) or, with anywhere, among all paths. Returns an empty slice if none. */
struct sl_str sl__cfg_suggest(struct sl_str path, bool anywhere);

/* A value to parse: a YAML node from the file, or text from an environment variable. */
struct sl__cfg_val {
    const struct sl_yaml_node *node; /* NULL for an environment value */
    struct sl_str text;              /* the scalar's text; NUL-terminated at text.len */
};

struct sl__cfg_problem {
    char msg[512]; /* what is wrong, without the key path: "expected ..., got ..." */
    unsigned line; /* when not 0, the line of a nested node (a list item) to report instead */
};

/* Parses v by k's type and stores it in cfg (nothing stored when k has no field). A string
 * field's previous value is freed. Returns 0, or SL_EPARSE with p filled and cfg unchanged. */
int sl__cfg_parse_value(const struct sl__cfg_key *k, const struct sl__cfg_val *v,
                        struct sl_config *cfg, struct sl__cfg_problem *p);

/* AISIX blocks Sluice does not implement are refused, except when the block is switched off or
 * left at its default (it does nothing in AISIX then either). For such an SL__CFG_UNSUPPORTED
 * row k and its value, returns true with note filled ("accepted and ignored" text); otherwise
 * false, with why naming the feature the block needs, or empty when there is nothing to add. */
bool sl__cfg_compat_inert(const struct sl__cfg_key *k, const struct sl_yaml_node *value, char *note,
                          size_t note_cap, char *why, size_t why_cap);

/* Frees a list's strings and arrays and empties it. */
void sl__cfg_list_dispose(struct sl_config_list *l);
void sl__cfg_cidrs_dispose(struct sl_cidr_list *l);

/* Writes s double-quoted with escapes, cut at 64 bytes with "...", into dst; returns dst. */
const char *sl__cfg_quote(char *dst, size_t cap, struct sl_str s);
/* Like sl__cfg_quote, but leaves tame text (printable ASCII without spaces or quotes, at most
 * 200 bytes: typical paths and names) unquoted. */
const char *sl__cfg_display(char *dst, size_t cap, struct sl_str s);

/* Checks that path names a readable regular file of sane size (opened without blocking, so a
 * FIFO cannot hang the loader). Returns 0, or fills err with the reason and returns SL_ERR. */
int sl__config_check_file(const char *path, char *err, size_t cap);

/* Loads a CA bundle as the upstream TLS client will (SSL_CTX_load_verify_locations on a scratch
 * context). Returns 0, or SL_ERR with OpenSSL's reason in reason. */
int sl__config_check_ca(const char *path, char *reason, size_t cap);

enum sl__tls_check {
    SL__TLS_OK = 0,
    SL__TLS_BAD_CERT, /* cert_file is not a usable PEM certificate chain */
    SL__TLS_BAD_KEY,  /* key_file is not a PEM private key */
    SL__TLS_MISMATCH, /* the key does not belong to the certificate */
};

/* Loads cert and key as the TLS listener will (on a scratch SSL_CTX) and checks they match;
 * reason gets OpenSSL's reason string for the first two failures. */
enum sl__tls_check sl__config_check_tls(const char *cert, const char *key, char *reason,
                                        size_t cap);

/* The CPU limit from the cgroup quota found under root ("" for the real system: root is
 * prepended to /proc/self/cgroup and /sys/fs/cgroup/...). Returns 0 when there is no quota. */
unsigned sl__config_cgroup_cpu_limit(const char *root);

/* A parsed ratelimit.redis.url (config_redis.c). */
struct sl__redis_url {
    bool tls; /* rediss:// */
    char *host;
    uint16_t port;
    char *username; /* NULL when the url has none */
    char *password; /* NULL when the url has none; wiped by dispose */
    bool has_database;
    uint64_t database;
};

/* Parses redis://[[user]:password@]host[:port][/database] or rediss://...; %XX escapes in the
 * user and password are decoded. Returns 0, or SL_EPARSE with *why a static reason that never
 * quotes the url (it may hold a password). */
int sl__redis_url_parse(struct sl_str text, struct sl__redis_url *u, const char **why);
void sl__redis_url_dispose(struct sl__redis_url *u);

/* Reads a whole file of at most max bytes into a new heap buffer (caller frees). Returns 0, EFBIG
 * when larger, or the errno of the failed call. */
int sl__yaml_read_file(const char *path, size_t max, char **out, size_t *out_len);

#endif
