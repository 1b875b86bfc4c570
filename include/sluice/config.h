/* config.yaml: the bootstrap configuration, in the shape the AISIX gateway uses (keys are listed
 * in docs/configuration.md). Loading is pure: it reads the file and the environment, validates
 * everything, and either returns a complete struct sl_config or reports every problem found
 * through a struct sl_diag. Nothing is applied here. Load order: defaults, then the file, then
 * SLUICE_<SECTION>__<KEY> environment overrides. */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/base.h"
#include "sluice/cidr.h"
#include "sluice/diag.h"
#include "sluice/log.h"

/* A listen or connect address parsed from "IP:PORT" or "[IPv6]:PORT". */
struct sl_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64]; /* normalised text for messages: "0.0.0.0:80", "[::1]:3000" */
};

/* Parses "IPv4:PORT" or "[IPv6]:PORT" (port 0-65535; 0 asks the kernel for a free port).
 * Host names are not accepted: a listener binds an address. Returns 0 or SL_EPARSE. */
int sl_addr_parse(const char *text, struct sl_addr *out);

/* Port of an address in host order. */
uint16_t sl_addr_port(const struct sl_addr *a);
/* Sets the port (used after binding port 0) and refreshes text. */
void sl_addr_set_port(struct sl_addr *a, uint16_t port);

/* A list of strings from the file or a comma-separated environment variable. */
struct sl_config_list {
    char **v;
    size_t *len; /* len[i] == strlen(v[i]), kept so the request path never calls strlen */
    size_t n;
};

/* A list of address ranges (proxy.real_ip.trusted_proxies). */
struct sl_cidr_list {
    struct sl_cidr *v;
    size_t n;
};

/* A remark about a valid configuration, made at load: a warning (a setting that weakens
 * security or does not do what an AISIX config expects) or an info line (an AISIX block that is
 * switched off and therefore accepted). Logged at start, printed by `sluice validate`. */
struct sl_config_note {
    enum sl_log_level level; /* SL_LOG_WARN or SL_LOG_INFO */
    unsigned line;           /* line in the file, 0 when none (an environment value) */
    char *msg;
};

/* At most this many proxy.request_id.accept_headers: each one is looked up on every request. */
#define SL_CONFIG_MAX_ID_HEADERS 16

/* Where rate-limit counters live (ratelimit.backend). */
enum sl_rl_backend {
    SL_RL_BACKEND_MEMORY = 0, /* per process: N replicas enforce N times each limit */
    SL_RL_BACKEND_REDIS,      /* shared by every replica through one Redis */
};

/* A Redis connection block (ratelimit.redis; the response cache reuses the shape). Single mode
 * only: cluster and sentinel are refused at load. The url is parsed at load into host, port,
 * tls and, when the url carries them, username, password and database. */
struct sl_redis_config {
    char *url;      /* as written; may hold a password, so it is never logged */
    char *mode;     /* "single" */
    char *host;     /* from url: connect target and TLS name; IPv6 without brackets */
    uint16_t port;  /* from url; 6379 by default */
    bool tls;       /* rediss://, or a tls block given */
    char *username; /* NULL: the default user (AUTH with the password only) */
    char *password; /* NULL: no AUTH; wiped on free */
    uint64_t database;
    struct {
        char *ca_file; /* NULL: the system trust store */
        char *client_cert_file;
        char *client_key_file;
        bool verify;
    } tls_opts;
    uint64_t connect_timeout_ms; /* DNS, TCP, TLS and AUTH */
    uint64_t timeout_ms;         /* a command without its reply this long breaks the connection */
    char *on_error;              /* "allow" or "deny"; NULL in cache.redis (a miss) */
    bool deny_on_error;          /* resolved from on_error */
    char *key_prefix;            /* every key this process writes starts with it */
};

/* At most this many proxy.real_ip.trusted_proxies: each is tried against the peer of every
 * request. */
#define SL_CONFIG_MAX_CIDRS 256

/* upstream.pool_max_idle_per_host when the key is not set: no cap on idle connections. */
#define SL_CONFIG_UNBOUNDED UINT64_MAX

struct sl_config {
    char *file; /* path the config was loaded from */

    char *resources_file; /* NULL when unset */

    struct {
        struct sl_addr addr;
        unsigned workers;                  /* resolved: never 0 */
        uint64_t request_body_limit_bytes; /* resolved: never 0 (0 in the file = hard max) */
        uint64_t max_connections;          /* per process; 0 = unlimited */
        bool thread_per_core;              /* accepted for compatibility; always on */
        struct {
            char *cert_file; /* NULL when TLS is off */
            char *key_file;
            bool has_addr; /* proxy.tls.addr given: TLS there, plain HTTP on proxy.addr */
            struct sl_addr addr;
        } tls;
        struct {
            /* Lower-case header names a caller may send its own request id in, in precedence
             * order; empty = always mint one. */
            struct sl_config_list accept_headers;
        } request_id;
        /* The client address behind reverse proxies (nginx's real_ip): when the TCP peer is in
         * trusted_proxies, the address comes from header (see sl_real_ip in cidr.h). */
        struct {
            struct sl_cidr_list trusted_proxies; /* empty: the client is always the TCP peer */
            bool recursive;
            char *header; /* lower-case header name */
        } real_ip;
    } proxy;

    struct {
        /* Sluice has no admin listener. Resolved as in AISIX: the file's value, else true when
         * the admin section is present at all (AISIX's default), else false. */
        bool enabled;
        char *addr;
    } admin;

    struct {
        char *service_name;
        enum sl_log_level log_level;
        bool access_log;
        struct {
            bool enabled;
            struct sl_addr addr;
            char *path;
        } prometheus;
    } observability;

    struct {
        uint64_t timeout_ms;         /* 0 = no deadline */
        uint64_t stream_timeout_ms;  /* 0 = fall back to timeout_ms */
        uint64_t connect_timeout_ms; /* 0 = no connect deadline */
        uint64_t pool_idle_timeout_secs;
        uint64_t pool_max_idle_per_host; /* 0 = keep none; SL_CONFIG_UNBOUNDED when unset */
        uint64_t max_response_bytes;     /* non-stream responses; streams are never held */
        uint64_t retries;
        uint64_t tcp_keepalive_secs;          /* 0 = TCP keep-alive off */
        uint64_t tcp_keepalive_interval_secs; /* 0 = the kernel's default */
        uint64_t tcp_keepalive_retries;       /* 0 = the kernel's default */
        struct {
            char *ca_file; /* NULL = system trust store */
            bool verify;
        } tls;
    } upstream;

    struct {
        uint64_t idle_timeout_secs;           /* 0 = never close idle keep-alive connections */
        uint64_t sse_keepalive_interval_secs; /* 0 = off */
    } downstream;

    struct {
        uint64_t min_drain_secs;
    } shutdown;

    struct {
        char *backend_name; /* "memory" or "redis", as written */
        enum sl_rl_backend backend;
        /* Redis: a concurrency slot whose holder stopped renewing it (a crashed replica) is
         * reclaimed after this long. */
        uint64_t concurrency_ttl_secs;
        struct sl_redis_config redis;
    } ratelimit;

    /* The response cache (docs/cache.md): the memory store's bound, and the Redis that redis
     * cache policies use (none: those policies do not cache). */
    struct {
        char *backend_name;        /* legacy and ignored: "memory" or "redis" */
        uint64_t memory_max_bytes; /* the process's memory store: keys, bodies and overhead */
        bool has_redis;            /* a cache.redis block is given */
        struct sl_redis_config redis;
    } cache;

    struct {
        /* Secrets that seal the ids of responses created through Responses upstreams (respid.h):
         * the first seals, every one opens (rotation). Empty: each provider key's api_key. */
        struct sl_config_list id_secrets;
    } responses;

    struct sl_config_note *notes; /* in file order */
    size_t n_notes;
};

/* Hard ceiling for request bodies, also used when request_body_limit_bytes is 0. */
#define SL_CONFIG_MAX_BODY_BYTES (1024ull * 1024 * 1024)

/* Loads path, applies overrides from envp (a NULL-terminated "NAME=value" array, normally
 * environ; NULL means none), and validates. On success returns 0 and *out (free with
 * sl_config_free). On failure returns SL_ERR with every problem recorded in diag (which the
 * caller initialised with the file name). */
int sl_config_load(const char *path, char *const *envp, struct sl_config **out,
                   struct sl_diag *diag);

/* Same as sl_config_load for a document already in memory (the fuzz target's entry point);
 * name is used in messages only. */
int sl_config_parse(const char *data, size_t len, const char *name, char *const *envp,
                    struct sl_config **out, struct sl_diag *diag);

void sl_config_free(struct sl_config *cfg);

/* Logs every note at its level (at start, after the log level is set). */
void sl_config_log_notes(const struct sl_config *cfg);

/* Writes every note as "sluice: <file>:<line>: warning: <msg>" (or "info:") to fp, a FILE *
 * (what `sluice validate` shows). */
void sl_config_print_notes(const struct sl_config *cfg, void *fp);

/* Number of CPUs this process may use: the affinity mask, further limited by a cgroup v2
 * cpu.max (or v1 cfs) quota, rounded up; never 0. */
unsigned sl_config_available_cpus(void);

#endif
