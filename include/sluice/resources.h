/* resources.yaml: provider keys, models and caller API keys, in the reference gateway's shape.
 * Loading is pure (reads the file and the environment, applies ${VAR} interpolation, validates
 * everything, collects every error) and produces an immutable struct sl_resources with the
 * indexes the request path needs. The server publishes it as a generation; nothing here is
 * mutable after load, so any number of threads may read it. */
#ifndef SLUICE_RESOURCES_H
#define SLUICE_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/diag.h"
#include "sluice/str.h"
#include "sluice/url.h"

/* Wire family used to talk to the upstream (reference 3.5, 6): the key's adapter, else its
 * provider's family (anthropic for "anthropic", bedrock for "bedrock" and "amazon-bedrock",
 * openai for every other vendor). Families not built yet are rejected at load time as "not
 * supported yet". */
enum sl_adapter {
    SL_ADAPTER_OPENAI = 0,
    SL_ADAPTER_ANTHROPIC,
    SL_ADAPTER_BEDROCK,
};

/* The AWS credentials of a bedrock key whose api_key is the JSON object
 * {"access_key_id", "secret_access_key", "session_token"?, "region"} (the reference's form).
 * Every string is NUL-terminated; the secret and the token are wiped on free. */
struct sl_aws_key {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    char *region;        /* e.g. "us-east-1": signing scope and the default endpoint */
    /* Unique among the keys this process ever loaded: a worker's signing-key cache is found by
     * it, never by address (a reload may put another key at the same address). */
    uint64_t serial;
};

struct sl_provider_key {
    char *name;     /* display_name */
    char *provider; /* vendor string: "openai", "deepseek", ... */
    enum sl_adapter adapter;
    char *api_base; /* normalised, e.g. "https://api.openai.com/v1" (no secrets) */
    struct sl_origin origin;
    char *api_key;     /* the upstream secret; wiped with OPENSSL_cleanse on free */
    char *auth_header; /* prebuilt header value "Bearer <api_key>"; wiped on free */
    /* bedrock: the AWS credentials when api_key is their JSON object (requests are signed with
     * SigV4); NULL when api_key is a Bedrock API key (sent as a bearer token). */
    struct sl_aws_key *aws;
    unsigned line; /* where the entry starts in the file, for messages */
};

struct sl_model {
    char *name;            /* display_name: the alias callers send; contains '*' for wildcards */
    char *provider;        /* vendor string (the model's own, else its key's) */
    char *model_name;      /* upstream model id; for wildcards a template where '*' is replaced */
    char *model_name_json; /* model_name as a JSON string literal, quotes included (direct only) */
    const struct sl_provider_key *key;
    bool is_wildcard;
    size_t literal_len; /* wildcards: length of the name without the '*' (longest wins) */
    /* Optional per-model settings; has_* says whether the file set them. Milliseconds. */
    bool has_timeout;
    uint64_t timeout_ms; /* 0 = no deadline */
    bool has_stream_timeout;
    uint64_t stream_timeout_ms; /* 0 = defer to timeout */
    bool has_retries;
    uint64_t retries;
    unsigned line;
};

struct sl_api_key {
    char *name;            /* display_name: the only thing logs and metrics ever show */
    uint8_t digest[32];    /* SHA-256 of the plaintext key */
    char **allowed_models; /* globs with at most one '*'; empty list = deny all */
    size_t n_allowed_models;
    bool disabled;
    bool has_expiry;
    int64_t expires_at_us; /* valid up to and including this instant (Unix microseconds) */
    unsigned line;
};

struct sl_resources {
    char *file;
    struct sl_provider_key *provider_keys;
    size_t n_provider_keys;
    struct sl_model *models; /* sorted by name */
    size_t n_models;
    struct sl_api_key *api_keys;
    size_t n_api_keys;
    void *_index; /* private lookup tables */
};

/* Reads, interpolates (${VAR} from envp, a NULL-terminated "NAME=value" array; NULL = none)
 * and validates path. Returns 0 with *out, or SL_ERR with every problem in diag (initialised by
 * the caller with the file name), each naming the entry and field:
 *   resources.yaml:14: models[2] ("gpt-4o"): provider_key: "main" is not defined in provider_keys
 */
int sl_resources_load(const char *path, char *const *envp, struct sl_resources **out,
                      struct sl_diag *diag);

/* Same for a document in memory (fuzz entry point); name is used in messages. */
int sl_resources_parse(const char *data, size_t len, const char *name, char *const *envp,
                       struct sl_resources **out, struct sl_diag *diag);

void sl_resources_free(struct sl_resources *r);

/* The caller key whose SHA-256 is digest, or NULL. The final comparison is constant-time. */
const struct sl_api_key *sl_resources_find_key(const struct sl_resources *r,
                                               const uint8_t digest[32]);

/* Resolves the alias a caller sent: an exact model name wins, else the wildcard with the
 * longest literal part that matches (the earlier in the file on a tie; a wildcard's '*' must
 * match at least one byte). For a wildcard, the text the '*' matched replaces the '*'
 * of its model_name template. The upstream model id is appended to upstream_id (JSON-escaped,
 * with quotes, ready to splice into a request body) when upstream_id is not NULL. Returns NULL
 * when nothing matches, or when upstream_id's cap is reached (upstream_id is then left as it
 * was). Allocates nothing beyond growing upstream_id. */
const struct sl_model *sl_resources_resolve(const struct sl_resources *r, struct sl_str alias,
                                            struct sl_buf *upstream_id);

/* True when alias matches one of key's allowed_models globs ('*' matches any run, including
 * an empty one). */
bool sl_api_key_allows(const struct sl_api_key *key, struct sl_str alias);

/* True when a single-'*' glob matches s. */
bool sl_glob_match(struct sl_str glob, struct sl_str s);

#endif
