#include <string.h>

#include "sluice/base.h"

#include "config_internal.h"
#include "text.h"

#define FIELD(m) offsetof(struct sl_config, m), sizeof(((struct sl_config *)0)->m)
#define NO_FIELD SL__CFG_NO_FIELD, 0

/* Durations are capped at a year so converting them to nanoseconds cannot overflow. */
#define YEAR_SECS 31536000ull
#define YEAR_MS   (YEAR_SECS * 1000)

#define KEY(path, type, def, field, flags, doc)                                                    \
    {                                                                                              \
        path, type, def, 0, 0, field, flags, doc                                                   \
    }
#define UINT(path, def, min, max, field, doc)                                                      \
    {                                                                                              \
        path, SL__CFG_UINT, def, min, max, field, 0, doc                                           \
    }
#define UNSUPPORTED(path, hint)                                                                    \
    {                                                                                              \
        path, SL__CFG_UNSUPPORTED, NULL, 0, 0, NO_FIELD, 0, hint                                   \
    }

/* A Redis connection block (ratelimit.redis, cache.redis): the same keys under prefix P, stored
 * in the struct sl_redis_config at member M. */
#define REDIS_ROWS(P, M)                                                                           \
    KEY(P ".mode", SL__CFG_STRING, "single", FIELD(M.mode), 0,                                     \
        "single (cluster and sentinel are not supported yet)"),                                    \
        KEY(P ".url", SL__CFG_STRING, NULL, FIELD(M.url), SL__CFG_SECRET,                          \
            "redis://[[user]:password@]host[:port][/database]; rediss:// for TLS"),                \
        KEY(P ".username", SL__CFG_STRING, NULL, FIELD(M.username), 0,                             \
            "ACL user for AUTH (default: the default user)"),                                      \
        KEY(P ".password", SL__CFG_STRING, NULL, FIELD(M.password), SL__CFG_SECRET,                \
            "password for AUTH"),                                                                  \
        UINT(P ".database", NULL, 0, INT32_MAX, FIELD(M.database),                                 \
             "database number to SELECT; default 0 (or the url's)"),                               \
        KEY(P ".tls.ca_file", SL__CFG_FILE, NULL, FIELD(M.tls_opts.ca_file), 0,                    \
            "PEM CA bundle for Redis TLS; default: the system trust store"),                       \
        KEY(P ".tls.client_cert_file", SL__CFG_FILE, NULL, FIELD(M.tls_opts.client_cert_file), 0,  \
            "PEM client certificate for Redis TLS (with client_key_file)"),                        \
        KEY(P ".tls.client_key_file", SL__CFG_FILE, NULL, FIELD(M.tls_opts.client_key_file), 0,    \
            "PEM key of the client certificate"),                                                  \
        KEY(P ".tls.verify", SL__CFG_BOOL, "true", FIELD(M.tls_opts.verify), 0,                    \
            "verify the Redis server certificate and name"),                                       \
        UINT(P ".connect_timeout_ms", "1000", 1, YEAR_MS, FIELD(M.connect_timeout_ms),             \
             "connect, TLS and AUTH deadline"),                                                    \
        UINT(P ".timeout_ms", "1000", 1, YEAR_MS, FIELD(M.timeout_ms),                             \
             "a command unanswered this long breaks the connection (it is reopened)"),             \
        KEY(P ".key_prefix", SL__CFG_STRING, "sluice", FIELD(M.key_prefix), 0,                     \
            "first part of every Redis key (deployments sharing one Redis use different ones)")

/* clang-format off */
const struct sl__cfg_key sl__cfg_keys[] = {
    KEY("resources_file", SL__CFG_STRING, NULL, FIELD(resources_file), 0,
        "path to resources.yaml (models, provider keys, API keys)"),

    KEY("proxy.addr", SL__CFG_ADDR, NULL, FIELD(proxy.addr), SL__CFG_REQUIRED,
        "listen address of the proxy, IP:PORT or [IPv6]:PORT"),
    UINT("proxy.workers", NULL, 1, 1024, FIELD(proxy.workers),
         "worker threads, one event loop each; default: CPUs available to the process"),
    UINT("proxy.request_body_limit_bytes", "33554432", 0, SL_CONFIG_MAX_BODY_BYTES,
         FIELD(proxy.request_body_limit_bytes), "largest request body accepted; 0 = 1 GiB"),
    UINT("proxy.max_connections", "0", 0, UINT32_MAX, FIELD(proxy.max_connections),
         "open client connections per process; 0 = unlimited"),
    KEY("proxy.thread_per_core", SL__CFG_BOOL, "true", FIELD(proxy.thread_per_core), 0,
        "accepted for compatibility; Sluice always runs one loop per worker"),
    KEY("proxy.tls.cert_file", SL__CFG_FILE, NULL, FIELD(proxy.tls.cert_file), 0,
        "PEM certificate chain; enables TLS together with key_file"),
    KEY("proxy.tls.key_file", SL__CFG_FILE, NULL, FIELD(proxy.tls.key_file), 0,
        "PEM private key of the certificate"),
    KEY("proxy.tls.addr", SL__CFG_ADDR, NULL, FIELD(proxy.tls.addr), 0,
        "serve TLS on this address and keep plain HTTP on proxy.addr"),
    KEY("proxy.request_id.accept_headers", SL__CFG_HEADER_LIST, "x-request-id",
        FIELD(proxy.request_id.accept_headers), 0,
        "headers a caller may send its own request id in, first valid one wins; [] = never"),
    KEY("proxy.real_ip.trusted_proxies", SL__CFG_CIDR_LIST, NULL,
        FIELD(proxy.real_ip.trusted_proxies), 0,
        "reverse proxies whose forwarded header names the client; [] = the TCP peer is the client"),
    KEY("proxy.real_ip.recursive", SL__CFG_BOOL, "false", FIELD(proxy.real_ip.recursive), 0,
        "skip every trusted address in the forwarded header, from the right (nginx real_ip_recursive)"),
    KEY("proxy.real_ip.header", SL__CFG_HEADER, "x-forwarded-for", FIELD(proxy.real_ip.header), 0,
        "the forwarded header read when the TCP peer is a trusted proxy"),

    KEY("admin.enabled", SL__CFG_BOOL, "false", FIELD(admin.enabled), 0,
        "accepted for compatibility (warns when true); Sluice has no admin listener"),
    KEY("admin.addr", SL__CFG_STRING, NULL, FIELD(admin.addr), 0, "accepted, unused"),
    KEY("admin.admin_keys", SL__CFG_STR_LIST, NULL, NO_FIELD, SL__CFG_SECRET,
        "accepted, unused"),
    KEY("admin.tls.cert_file", SL__CFG_STRING, NULL, NO_FIELD, 0, "accepted, unused"),
    KEY("admin.tls.key_file", SL__CFG_STRING, NULL, NO_FIELD, 0, "accepted, unused"),

    KEY("observability.service_name", SL__CFG_STRING, "sluice",
        FIELD(observability.service_name), 0, "service name reported in telemetry"),
    KEY("observability.log_level", SL__CFG_LOG_LEVEL, "info", FIELD(observability.log_level), 0,
        "error, warn, info, debug or trace"),
    KEY("observability.access_log", SL__CFG_BOOL, "true", FIELD(observability.access_log), 0,
        "log one line per request"),
    KEY("observability.metrics.prometheus.enabled", SL__CFG_BOOL, "true",
        FIELD(observability.prometheus.enabled), 0, "serve Prometheus metrics"),
    KEY("observability.metrics.prometheus.addr", SL__CFG_ADDR, "0.0.0.0:9090",
        FIELD(observability.prometheus.addr), 0, "listen address of the metrics endpoint"),
    KEY("observability.metrics.prometheus.path", SL__CFG_URL_PATH, "/metrics",
        FIELD(observability.prometheus.path), 0, "URL path of the metrics endpoint"),

    UINT("upstream.timeout_ms", "6000000", 0, YEAR_MS, FIELD(upstream.timeout_ms),
         "deadline for a whole upstream call; 0 = none"),
    UINT("upstream.stream_timeout_ms", "0", 0, YEAR_MS, FIELD(upstream.stream_timeout_ms),
         "longest gap between stream chunks; 0 = use timeout_ms"),
    UINT("upstream.connect_timeout_ms", "5000", 0, YEAR_MS, FIELD(upstream.connect_timeout_ms),
         "DNS, TCP and TLS handshake deadline; 0 = none"),
    UINT("upstream.pool_idle_timeout_secs", "30", 0, YEAR_SECS,
         FIELD(upstream.pool_idle_timeout_secs), "close pooled connections idle this long"),
    UINT("upstream.pool_max_idle_per_host", NULL, 0, UINT32_MAX,
         FIELD(upstream.pool_max_idle_per_host),
         "idle pooled connections per host; 0 = keep none; unset = unbounded"),
    UINT("upstream.max_response_bytes", "67108864", 1024, SL_CONFIG_MAX_BODY_BYTES,
         FIELD(upstream.max_response_bytes),
         "cap on a non-streamed upstream response (streams are never held whole)"),
    UINT("upstream.retries", "2", 0, 10, FIELD(upstream.retries),
         "default retries of a failed call on the same target"),
    /* Linux caps TCP_KEEPIDLE and TCP_KEEPINTVL at 32767 and TCP_KEEPCNT at 127. 0 switches a
     * knob off, as in AISIX: no keep-alive at all, or the kernel's default for the other two. */
    UINT("upstream.tcp_keepalive_secs", "60", 0, 32767, FIELD(upstream.tcp_keepalive_secs),
         "idle time before TCP keep-alive probes; 0 = keep-alive off"),
    UINT("upstream.tcp_keepalive_interval_secs", "30", 0, 32767,
         FIELD(upstream.tcp_keepalive_interval_secs),
         "time between TCP keep-alive probes; 0 = the kernel's default"),
    UINT("upstream.tcp_keepalive_retries", "5", 0, 127, FIELD(upstream.tcp_keepalive_retries),
         "unanswered probes before the connection is dropped; 0 = the kernel's default"),
    KEY("upstream.tls.ca_file", SL__CFG_FILE, NULL, FIELD(upstream.tls.ca_file), 0,
        "PEM CA bundle for upstream TLS; default: the system trust store"),
    KEY("upstream.tls.verify", SL__CFG_BOOL, "true", FIELD(upstream.tls.verify), 0,
        "verify upstream certificates (false warns at start and in validate)"),

    UINT("downstream.idle_timeout_secs", "60", 0, YEAR_SECS,
         FIELD(downstream.idle_timeout_secs),
         "close idle keep-alive connections and slow request heads; 0 = never"),
    UINT("downstream.sse_keepalive_interval_secs", "15", 0, YEAR_SECS,
         FIELD(downstream.sse_keepalive_interval_secs),
         "SSE comment sent on a quiet stream this often; 0 = off"),

    UINT("shutdown.min_drain_secs", "30", 0, 86400, FIELD(shutdown.min_drain_secs),
         "keep accepting this long after SIGTERM before draining"),

    KEY("ratelimit.backend", SL__CFG_STRING, "memory", FIELD(ratelimit.backend_name), 0,
        "where rate-limit counters live: memory (per process) or redis (shared by replicas)"),
    UINT("ratelimit.concurrency_ttl_secs", "300", 1, YEAR_SECS,
         FIELD(ratelimit.concurrency_ttl_secs),
         "redis: reclaim concurrency slots of a replica that stopped renewing them after this"),
    REDIS_ROWS("ratelimit.redis", ratelimit.redis),
    KEY("ratelimit.redis.on_error", SL__CFG_STRING, "allow", FIELD(ratelimit.redis.on_error), 0,
        "Redis unreachable: allow (count in this process) or deny (503)"),
    UNSUPPORTED("ratelimit.redis.nodes", "cluster mode is not supported yet"),
    UNSUPPORTED("ratelimit.redis.sentinels", "sentinel mode is not supported yet"),
    UNSUPPORTED("ratelimit.redis.master_name", "sentinel mode is not supported yet"),
    /* min: the shortest secret accepted, in bytes (16: 128 bits of a random string). */
    {"responses.id_secrets", SL__CFG_STR_LIST, NULL, 16, 0, FIELD(responses.id_secrets),
     SL__CFG_SECRET, "secrets sealing response ids (first seals, all open); default: each "
     "provider key's api_key"},

    KEY("cache.backend", SL__CFG_STRING, NULL, FIELD(cache.backend_name), 0,
        "legacy and ignored: each cache policy names its backend"),
    UINT("cache.memory.max_bytes", "67108864", 0, 1ull << 40, FIELD(cache.memory_max_bytes),
         "bound on the process's response cache (keys, bodies, overhead); 0 = memory caching off"),
    REDIS_ROWS("cache.redis", cache.redis),
    UNSUPPORTED("cache.redis.nodes", "cluster mode is not supported yet"),
    UNSUPPORTED("cache.redis.sentinels", "sentinel mode is not supported yet"),
    UNSUPPORTED("cache.redis.master_name", "sentinel mode is not supported yet"),
    UNSUPPORTED("cache.semantic", "semantic caching is not supported yet"),

    UNSUPPORTED("etcd", "use resources_file"),
    UNSUPPORTED("managed", NULL),
    UNSUPPORTED("bedrock_endpoint_url", NULL),
    UNSUPPORTED("proxy.url_rewrites", NULL),
    UNSUPPORTED("observability.metrics.otlp", NULL),
    UNSUPPORTED("observability.metrics.client_type_rules", NULL),
    UNSUPPORTED("observability.metrics.buckets", NULL),
    UNSUPPORTED("observability.tracing", NULL),
    UNSUPPORTED("upstream.tls.client_cert_file", NULL),
    UNSUPPORTED("upstream.tls.client_key_file", NULL),
};
/* clang-format on */

const size_t sl__cfg_nkeys = SL_ARRAY_LEN(sl__cfg_keys);

const struct sl__cfg_key *sl__cfg_find(struct sl_str path)
{
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        if (sl_str_eq(path, sl_str_from_cstr(sl__cfg_keys[i].path)))
            return &sl__cfg_keys[i];
    }
    return NULL;
}

/* True when prefix is p cut at a dot (p = prefix + "." + ...). */
static bool is_dotted_prefix(struct sl_str prefix, struct sl_str p)
{
    return p.len > prefix.len && p.ptr[prefix.len] == '.' && sl_str_starts_with(p, prefix);
}

bool sl__cfg_is_section(struct sl_str path)
{
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        if (k->type != SL__CFG_UNSUPPORTED && is_dotted_prefix(path, sl_str_from_cstr(k->path)))
            return true;
    }
    return false;
}

const struct sl__cfg_key *sl__cfg_find_unsupported(struct sl_str path)
{
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        const struct sl__cfg_key *k = &sl__cfg_keys[i];
        struct sl_str kp = sl_str_from_cstr(k->path);
        if (k->type == SL__CFG_UNSUPPORTED && (sl_str_eq(kp, path) || is_dotted_prefix(kp, path)))
            return k;
    }
    return NULL;
}

#define MAX_DIST 2

static struct sl_str parent_of(struct sl_str p)
{
    size_t n = p.len;
    while (n > 0 && p.ptr[n - 1] != '.')
        n--;
    return sl_str_init(p.ptr, n);
}

/* Every known key and section is some prefix (at a dot, or whole) of a row's path. */
struct sl_str sl__cfg_suggest(struct sl_str path, bool anywhere)
{
    struct sl_str best = SL_STR_NULL;
    size_t best_d = MAX_DIST + 1;
    struct sl_str parent = parent_of(path);
    for (size_t i = 0; i < sl__cfg_nkeys; i++) {
        if (sl__cfg_keys[i].type == SL__CFG_UNSUPPORTED)
            continue;
        struct sl_str full = sl_str_from_cstr(sl__cfg_keys[i].path);
        for (size_t n = 1; n <= full.len; n++) {
            if (n != full.len && full.ptr[n] != '.')
                continue;
            struct sl_str cand = sl_str_init(full.ptr, n);
            if (!anywhere && !sl_str_eq(parent_of(cand), parent))
                continue;
            size_t d = sl__edit_distance(path, cand, MAX_DIST);
            if (d < best_d && d > 0) {
                best = cand;
                best_d = d;
            }
        }
    }
    return best;
}
