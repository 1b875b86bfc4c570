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
#include "sluice/cidr.h"
#include "sluice/diag.h"
#include "sluice/str.h"
#include "sluice/url.h"

struct sl_tz;

/* Wire family used to talk to the upstream (reference 3.5, 6): the key's adapter, else its
 * provider's family (anthropic for "anthropic", azure-openai for "azure-openai" and "azure",
 * gemini for "gemini", vertex for "vertex" and "google-vertex", bedrock for "bedrock" and
 * "amazon-bedrock", openai for every other vendor). Families not built yet are rejected at
 * load time as "not supported yet". */
enum sl_adapter {
    SL_ADAPTER_OPENAI = 0,
    SL_ADAPTER_ANTHROPIC,
    SL_ADAPTER_AZURE_OPENAI,
    SL_ADAPTER_GEMINI,
    SL_ADAPTER_VERTEX,
    SL_ADAPTER_BEDROCK,
};

/* Rate limits (reference 3.7, 8): windowed dimensions, fixed windows aligned to the clock. */
enum sl_rl_dim {
    SL_RL_RPS = 0, /* requests per 1 s */
    SL_RL_RPM,     /* requests per 60 s */
    SL_RL_RPH,     /* requests per 3600 s */
    SL_RL_RPD,     /* requests per 86400 s */
    SL_RL_TPM,     /* tokens per 60 s */
    SL_RL_TPD,     /* tokens per 86400 s */
    SL_RL_DIMS,
};
#define SL_RL_REQUEST_DIMS 4 /* the first four count requests; the rest tokens */

/* A rate_limit block. A dimension is limited when its bit is set in `set`; a limit of 0 refuses
 * every request on that dimension, as in the reference. */
struct sl_rate_limit {
    uint64_t max[SL_RL_DIMS];
    uint32_t concurrency;
    uint8_t set; /* bit (1 << dim) */
    bool has_concurrency;
};

static inline bool sl_rate_limit_is_set(const struct sl_rate_limit *l)
{
    return l->set != 0 || l->has_concurrency;
}

/* Calendar periods of a budget, in UTC: from midnight, from Monday midnight, from the 1st. */
enum sl_budget_window {
    SL_BUDGET_DAY = 0,
    SL_BUDGET_WEEK,
    SL_BUDGET_MONTH,
};

/* api_keys[].budget: USD a key may spend per period (Sluice's file-mode budget). */
struct sl_budget {
    bool set;
    double limit_usd;
    uint64_t limit_nusd; /* limit_usd in nano-dollars, the unit spend is counted in */
    enum sl_budget_window window;
};

/* Rate-limit policies (reference 3.9). */
enum sl_policy_scope {
    SL_SCOPE_API_KEY = 0,
    SL_SCOPE_MODEL,
    SL_SCOPE_TEAM,
    SL_SCOPE_MEMBER,
    SL_SCOPE_TEAM_MEMBER,
};

/* What a condition leaf looks at; also group_by's dimensions (without model_name). */
enum sl_cond_dim {
    SL_COND_TEAM = 0,   /* the key's team_id */
    SL_COND_MEMBER,     /* the key's user_id */
    SL_COND_API_KEY,    /* the key's display_name */
    SL_COND_MODEL,      /* the resolved model's display_name (a wildcard row's own name) */
    SL_COND_MODEL_NAME, /* the alias the caller sent */
    SL_COND_PROVIDER,   /* the resolved model's provider */
    SL_COND_DIMS,
};

enum sl_cond_op {
    SL_OP_EQ = 0,   /* == */
    SL_OP_NE,       /* ~= */
    SL_OP_REGEX,    /* ~~ : POSIX extended regular expression, matched anywhere */
    SL_OP_REGEX_CI, /* ~* : the same, ignoring case */
    SL_OP_IN,       /* in : one of a list */
};

/* One node of a condition tree: a leaf, or an and/or group of nodes. */
struct sl_cond_node {
    bool is_group;
    bool negate;
    /* leaf */
    enum sl_cond_dim dim;
    enum sl_cond_op op;
    char **values; /* one for ==, ~=, ~~, ~*; the list for in */
    size_t n_values;
    void *regex; /* a compiled regex_t for ~~ and ~* */
    /* group */
    bool is_or;
    struct sl_cond_node *children;
    size_t n_children;
};

/* A recurring window during which a policy is suspended (not enforced). */
struct sl_policy_schedule {
    struct sl_tz *tz;
    uint8_t days_of_week; /* bit 0 = Monday .. bit 6 = Sunday; 0 when dates are given */
    int32_t *dates;       /* days since 1970-01-01, local to tz */
    size_t n_dates;
    uint16_t start_min; /* minutes after local midnight, inclusive */
    uint16_t end_min;   /* exclusive; 1440 = end of day; before start_min: crosses midnight */
};

struct sl_rl_policy {
    char *name;
    char id[37]; /* UUIDv5 of "rate_limit_policies/<name>", the reference's file id */
    bool conditional;
    /* classic form */
    enum sl_policy_scope scope;
    char *scope_ref;
    /* conditional form: nodes combined with AND (none: every request) */
    struct sl_cond_node *conditions;
    size_t n_conditions;
    uint8_t group_by;   /* bit (1 << sl_cond_dim), never SL_COND_MODEL_NAME */
    bool follows_model; /* refers to a model property: reserved where the model is known */
    struct sl_rate_limit limits;
    struct sl_policy_schedule *schedules;
    size_t n_schedules;
    char *bucket; /* "p:<name>" escaped, plus the classic scope */
    unsigned line;
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

/* A provider key whose api_key is a JSON credential rather than the secret itself (reference 6),
 * parsed and checked at load time. */
enum sl_cred_kind {
    SL_CRED_KEY = 0,   /* api_key is the secret */
    SL_CRED_ENTRA,     /* Azure: {tenant_id, client_id, client_secret[, authority_host]} */
    SL_CRED_GCP_TOKEN, /* Vertex: {access_token, project, region}, refreshed by the operator */
    SL_CRED_GCP_SA,    /* Vertex: a service account key, exchanged for tokens (JWT bearer) */
};

struct sl_cred {
    enum sl_cred_kind kind;
    /* Entra client credentials. */
    char *tenant_id, *client_id, *client_secret; /* client_secret: wiped on free */
    /* Service account. */
    char *client_email, *private_key; /* private_key: PEM, wiped on free */
    /* A token given as it is (SL_CRED_GCP_TOKEN); wiped on free. */
    char *access_token;
    /* Vertex: where the models live. */
    char *project, *region;
    /* Where tokens come from (SL_CRED_ENTRA, SL_CRED_GCP_SA): the token endpoint's origin and
     * path, and the OAuth scope asked for. */
    char *token_url;
    struct sl_origin token_origin;
    char *token_path;
    char *scope;
    /* SHA-256 over every field above: the process-wide token cache's key, so keys sharing a
     * credential share its token and a rotated secret never gets the old one. */
    uint8_t id[32];
};

/* What an upstream offers beyond its family's own wires (provider_keys[].capabilities). */
#define SL_CAP_RESPONSES 1u /* speaks OpenAI's Responses API at {api_base}/responses */

struct sl_provider_key {
    char *name;     /* display_name */
    char *provider; /* vendor string: "openai", "deepseek", ... */
    enum sl_adapter adapter;
    unsigned caps;  /* SL_CAP_*: the file's capabilities, else the vendor's (openai: Responses) */
    char *api_base; /* normalised, e.g. "https://api.openai.com/v1" (no secrets) */
    struct sl_origin origin;
    char *api_key;       /* the upstream secret; wiped with OPENSSL_cleanse on free */
    char *auth_header;   /* prebuilt header value "Bearer <api_key>"; wiped on free */
    struct sl_cred cred; /* kind SL_CRED_KEY unless api_key is a JSON credential */
    /* bedrock: the AWS credentials when api_key is their JSON object (requests are signed with
     * SigV4); NULL when api_key is a Bedrock API key (sent as a bearer token). */
    struct sl_aws_key *aws;
    char *api_version; /* azure-openai: the api-version query value (default 2024-10-21) */
    unsigned line;     /* where the entry starts in the file, for messages */
};

/* A set of HTTP statuses (cooldown triggers, fallback statuses): bit s for status s. */
struct sl_status_set {
    uint64_t bits[10]; /* statuses 0..639 */
};

static inline bool sl_status_set_has(const struct sl_status_set *s, int status)
{
    return status >= 0 && status < 640 && (s->bits[status / 64] >> (status % 64) & 1) != 0;
}

static inline void sl_status_set_add(struct sl_status_set *s, int status)
{
    if (status >= 0 && status < 640)
        s->bits[status / 64] |= UINT64_C(1) << (status % 64);
}

/* models[].cooldown (reference 7.5), defaults resolved: after a failed attempt whose failure is
 * a trigger, the target leaves rotation for default_seconds, or for the upstream's Retry-After
 * (clamped to max_seconds) when honor_retry_after. Direct models only. */
struct sl_cooldown {
    bool enabled;                 /* default true */
    uint64_t default_seconds;     /* default 30; 0 = never cool down */
    uint64_t max_seconds;         /* default 600 */
    bool honor_retry_after;       /* default true */
    struct sl_status_set trigger; /* default 401, 408, 429, 500, 502, 503, 504 */
    bool trigger_on_timeout;      /* default true */
    bool trigger_on_transport;    /* transport, decode and stream failures; default true */
};

/* models[].cost: USD per 1,000 prompt and completion tokens (least_cost routing, prices and
 * budgets). */
struct sl_model_cost {
    bool set;
    double input_per_1k;
    double output_per_1k;
};

/* models[].background_model_check: a small chat completion sent off the request path every
 * interval_seconds; a failure takes the model out of routing until a check or a request
 * succeeds. */
struct sl_health_check {
    bool enabled;
    uint64_t interval_seconds;    /* >= 5 */
    uint64_t timeout_seconds;     /* >= 1 */
    uint64_t max_tokens;          /* >= 1 */
    uint64_t stale_after_seconds; /* a result older than this no longer counts */
    char *prompt;
    struct sl_status_set ignore; /* statuses that leave the state as it was (408: a timeout) */
};

/* Model groups (reference 3.6 "Routing"). */
enum sl_route_strategy {
    SL_ROUTE_FAILOVER = 0, /* declaration order */
    SL_ROUTE_ROUND_ROBIN,  /* smooth weighted round robin (nginx) */
    SL_ROUTE_CONSISTENT_HASH,
    SL_ROUTE_LEAST_COST,
    SL_ROUTE_LEAST_LATENCY,
    SL_ROUTE_LEAST_BUSY,
    SL_ROUTE_STRATEGIES,
};

/* Names as written in the file ("round_robin"), indexed by strategy. */
extern const char *const sl_route_strategy_names[SL_ROUTE_STRATEGIES];

enum sl_hash_source {
    SL_HASH_HEADER = 0,
    SL_HASH_COOKIE,
    SL_HASH_API_KEY, /* the caller key's display_name */
    SL_HASH_CLIENT_IP,
};

struct sl_hash_on {
    enum sl_hash_source type;
    char *name; /* header (lower-case) or cookie name; NULL for the others */
};

struct sl_model;

struct sl_route_target {
    const struct sl_model *model; /* a direct, non-wildcard model */
    uint32_t weight;              /* as written (default 1); strategies read 0 as 1 */
    int32_t priority;             /* tier: higher first; default 0 */
    char **tags;
    size_t n_tags;
    /* private: while loading */
    char *_name;        /* the model named, as written */
    unsigned _line;     /* where */
    size_t _file_index; /* its position in models[] */
};

/* At most this many targets per group: planning works on 64-bit masks. */
#define SL_ROUTE_MAX_TARGETS 64
/* At most this many hash_on sources. */
#define SL_ROUTE_MAX_HASH_ON 8

struct sl_routing {
    enum sl_route_strategy strategy;
    struct sl_route_target *targets; /* in declaration order */
    size_t n_targets;
    struct sl_hash_on *hash_on; /* consistent_hash: the key's sources, first non-empty wins */
    size_t n_hash_on;
    bool has_retries;
    uint64_t retries;
    bool has_max_fallbacks;
    uint64_t max_fallbacks;
    bool retry_on_429;
    struct sl_status_set fallback_on; /* statuses that fail over besides 5xx */
    bool try_anyway;                  /* when_all_unavailable: try_anyway (else fail) */
    bool tagged;                      /* some target has tags: the tag filter applies */
    /* private: the balancers' tables, built by sl_route_bind (route.h) */
    void *_group;
};

enum sl_model_kind {
    SL_MODEL_DIRECT = 0, /* provider + model_name + provider_key */
    SL_MODEL_ROUTING,    /* a group of direct models */
};

struct sl_target;

struct sl_model {
    char *name;            /* display_name: the alias callers send; contains '*' for wildcards */
    char *provider;        /* vendor string (the model's own, else its key's); NULL for groups */
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
    enum sl_model_kind kind;
    struct sl_routing *routing; /* SL_MODEL_ROUTING; provider, key and model_name are NULL */
    struct sl_cooldown cooldown;
    struct sl_model_cost cost; /* least_cost routing; the price of a request (limits) */
    struct sl_rate_limit rate_limit;
    char *bucket;                  /* rate-limit bucket: "m:" and the escaped display_name */
    struct sl_cidr *allowed_cidrs; /* clients allowed; none = every client */
    size_t n_allowed_cidrs;
    struct sl_health_check *health_check; /* NULL when absent */
    unsigned line;
    /* private: process-wide runtime state of a direct model (cooldown, health, latency, load),
     * shared across generations by name; set by sl_route_bind (route.h) */
    struct sl_target *_target;
    uint8_t _observers; /* bit (1 << strategy): a group with that strategy includes the model */
    bool _needs_client; /* planning needs the client's address (route.h) */
};

struct sl_api_key {
    char *name;            /* display_name: the only thing logs and metrics ever show */
    uint8_t digest[32];    /* SHA-256 of the plaintext key */
    char **allowed_models; /* globs with at most one '*'; empty list = deny all */
    size_t n_allowed_models;
    bool disabled;
    bool has_expiry;
    int64_t expires_at_us; /* valid up to and including this instant (Unix microseconds) */
    char *team_id;         /* NULL when unset; policy dimensions "team" and "member" */
    char *user_id;
    struct sl_rate_limit rate_limit;
    struct sl_budget budget;
    char *bucket;      /* rate-limit bucket: "k:" and the escaped display_name */
    char *team_bucket; /* team_id and user_id escaped for bucket names, or NULL */
    char *member_bucket;
    unsigned line;
};

/* cache_policies (reference 3.9 and 9; docs/cache.md): which requests the response cache
 * answers, where entries live and for how long. The first enabled policy whose applies_to
 * matches a request wins. */
enum sl_cache_applies {
    SL_CACHE_APPLIES_ALL = 0,
    SL_CACHE_APPLIES_MODEL,   /* model:<display_name>: the model entry the alias resolved to */
    SL_CACHE_APPLIES_API_KEY, /* api_key:<display_name>: the caller's key */
};

enum sl_cache_backend {
    SL_CACHE_BACKEND_MEMORY = 0, /* the process's store, shared by its workers */
    SL_CACHE_BACKEND_REDIS,      /* cache.redis, shared by every replica */
};

enum sl_cache_scope {
    SL_CACHE_SCOPE_API_KEY = 0, /* entries are the caller key's own */
    SL_CACHE_SCOPE_ENV,         /* entries are shared by every caller */
};

/* ttl_seconds bounds, as in the reference. */
#define SL_CACHE_TTL_DEFAULT 3600u
#define SL_CACHE_TTL_MAX     604800u

struct sl_cache_policy {
    char *name;
    char id[37]; /* UUIDv5 of "cache_policies/<name>" (the reference's file id) */
    unsigned line;
    bool enabled;
    enum sl_cache_applies applies;
    char *applies_ref; /* the model's or key's display name; NULL for all */
    enum sl_cache_backend backend;
    enum sl_cache_scope scope;
    uint64_t ttl_secs;         /* 1 .. SL_CACHE_TTL_MAX */
    uint64_t purge_generation; /* part of every key: bumping it forgets the policy's entries */
};

struct sl_resources {
    char *file;
    struct sl_provider_key *provider_keys;
    size_t n_provider_keys;
    struct sl_model *models; /* sorted by name */
    size_t n_models;
    struct sl_api_key *api_keys;
    size_t n_api_keys;
    struct sl_rl_policy *policies; /* rate_limit_policies, in file order */
    size_t n_policies;
    struct sl_cache_policy *cache_policies; /* in file order */
    size_t n_cache_policies;
    void *_index; /* private lookup tables */
    /* private: what sl_route_bind attached, released by _unbind when the resources are freed */
    void *_route;
    void (*_unbind)(struct sl_resources *r);
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
 * with quotes, ready to splice into a request body) when upstream_id is not NULL (nothing for a
 * model group: its targets have their own). Returns NULL
 * when nothing matches, or when upstream_id's cap is reached (upstream_id is then left as it
 * was). Allocates nothing beyond growing upstream_id. */
const struct sl_model *sl_resources_resolve(const struct sl_resources *r, struct sl_str alias,
                                            struct sl_buf *upstream_id);

/* True when alias matches one of key's allowed_models globs ('*' matches any run, including
 * an empty one). */
bool sl_api_key_allows(const struct sl_api_key *key, struct sl_str alias);

/* True when a single-'*' glob matches s. */
bool sl_glob_match(struct sl_str glob, struct sl_str s);

/* Appends s to out for use inside a rate-limit bucket name: '%', ':', '=', '{', '}' and bytes
 * outside printable ASCII become %XX, so bucket names made of several parts never collide and
 * stay within a Redis hash tag. */
int sl_bucket_escape(struct sl_buf *out, struct sl_str s);

#endif
