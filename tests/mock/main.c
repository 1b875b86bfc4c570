/* sluice-mock: an OpenAI-compatible mock LLM upstream for tests, `make run` and benchmarks.
 * This file is the process: command line, listeners, TLS, worker threads and signals. The
 * request handling is in server.c. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "oauth.h"
#include "server.h"
#include "sluice/base.h"
#include "sluice/log.h"

#define MAX_LISTENERS 16
#define MAX_THREADS   64
#define EXIT_USAGE    2

struct listener {
    const char *spec; /* as given on the command line */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fds[MAX_THREADS]; /* one SO_REUSEPORT socket per worker */
};

struct worker_thread {
    struct mock_worker w;
    pthread_t tid;
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_receiver_t wake;
    h2o_socket_t *socks[MAX_LISTENERS];
};

/* Process state. Workers stay reachable from here until exit, so leak checkers see what their
 * loops still hold as reachable rather than lost. */
static struct {
    struct mock_server_cfg scfg;
    struct mock_oauth_cfg oauth;
    struct listener listeners[MAX_LISTENERS];
    size_t n_listeners;
    const char *tls_cert;
    const char *tls_key;
    unsigned threads;
    h2o_globalconf_t conf;
    SSL_CTX *ssl_ctx;
    struct worker_thread *workers;
    atomic_bool stop;
    pthread_mutex_t park_lock;
    pthread_cond_t park_cond;
    unsigned parked;
} G = {.park_lock = PTHREAD_MUTEX_INITIALIZER, .park_cond = PTHREAD_COND_INITIALIZER};

static const char usage[] =
    "usage: sluice-mock [--listen HOST:PORT]... [--tls-cert FILE --tls-key FILE] [--threads N]\n"
    "                   [--reply TEXT] [--chunks N] [--ttft-ms N] [--chunk-interval-ms N]\n"
    "                   [--latency-ms N] [--dimensions N] [--require-key KEY] [--quiet]\n"
    "                   [--aws-key ACCESS_KEY_ID:SECRET[:TOKEN]]... [--clock-skew-secs N]\n"
    "                   [--oauth-public-key PEM] [--entra-client ID:SECRET] [--token-ttl S]\n"
    "                   [--token-latency-ms N] [--static-token TOKEN] [--no-responses]\n"
    "A mock LLM upstream (OpenAI chat and Responses, Anthropic, Azure OpenAI, Gemini, Vertex AI,\n"
    "OAuth token endpoints). Prints one line per listener:\n"
    "  sluice-mock listening on http://HOST:PORT\n"
    "See tests/mock/README.md for the endpoints and the per-request \"mock\" controls.\n";

_Noreturn static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

_Noreturn static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("sluice-mock: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(sluice-mock --help for usage)\n", stderr);
    exit(EXIT_USAGE);
}

static uint64_t parse_uint_arg(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
    uint64_t v;

    if (sl_str_to_u64(sl_str_from_cstr(s), hi, &v) != SL_OK || v < lo)
        usage_error("%s: expected an integer from %llu to %llu, got \"%s\"", flag,
                    (unsigned long long)lo, (unsigned long long)hi, s);
    return v;
}

/* Splits HOST:PORT (or [V6]:PORT) and resolves it to a passive TCP address. */
static void parse_listen(struct listener *l, const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    size_t hlen;
    int rc;

    if (colon == NULL || colon[1] == '\0')
        usage_error("--listen: expected HOST:PORT, got \"%s\"", spec);
    hlen = (size_t)(colon - spec);
    if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
        spec++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        usage_error("--listen: bad host in \"%s\"", l->spec);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    parse_uint_arg("--listen port", colon + 1, 0, 65535);
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0)
        usage_error("--listen: cannot resolve \"%s\": %s", l->spec, gai_strerror(rc));
    memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
    l->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

/* getopt_long codes of the options without a short letter. */
enum {
    O_TLS_CERT = 256,
    O_TLS_KEY,
    O_TTFT,
    O_CHUNKS,
    O_INTERVAL,
    O_LATENCY,
    O_DIMS,
    O_KEY,
    O_OAUTH_KEY,
    O_ENTRA,
    O_TOKEN_TTL,
    O_TOKEN_LATENCY,
    O_STATIC_TOKEN,
    O_NO_RESPONSES,
    O_AWS_KEY,
    O_SKEW,
};
static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"threads", required_argument, NULL, 't'},
    {"reply", required_argument, NULL, 'r'},
    {"ttft-ms", required_argument, NULL, O_TTFT},
    {"chunks", required_argument, NULL, O_CHUNKS},
    {"chunk-interval-ms", required_argument, NULL, O_INTERVAL},
    {"latency-ms", required_argument, NULL, O_LATENCY},
    {"dimensions", required_argument, NULL, O_DIMS},
    {"require-key", required_argument, NULL, O_KEY},
    {"aws-key", required_argument, NULL, O_AWS_KEY},
    {"clock-skew-secs", required_argument, NULL, O_SKEW},
    {"oauth-public-key", required_argument, NULL, O_OAUTH_KEY},
    {"entra-client", required_argument, NULL, O_ENTRA},
    {"token-ttl", required_argument, NULL, O_TOKEN_TTL},
    {"token-latency-ms", required_argument, NULL, O_TOKEN_LATENCY},
    {"static-token", required_argument, NULL, O_STATIC_TOKEN},
    {"quiet", no_argument, NULL, 'q'},
    {"no-responses", no_argument, NULL, O_NO_RESPONSES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* --aws-key ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]: a credential the Bedrock endpoints accept
 * (AWS secrets and tokens have no ':'). */
static void parse_aws_key(char *arg)
{
    struct av_key *k = &G.scfg.aws_keys[G.scfg.n_aws_keys];
    char *secret = strchr(arg, ':'), *token;
    if (G.scfg.n_aws_keys == MOCK_MAX_AWS_KEYS)
        usage_error("--aws-key: at most %d keys", MOCK_MAX_AWS_KEYS);
    if (secret == NULL || secret == arg || secret[1] == '\0' || secret[1] == ':')
        usage_error("--aws-key: expected ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]");
    *secret++ = '\0';
    token = strchr(secret, ':');
    if (token != NULL)
        *token++ = '\0';
    k->access_key_id = sl_str_from_cstr(arg);
    k->secret = sl_str_from_cstr(secret);
    k->token = token != NULL ? sl_str_from_cstr(token) : SL_STR_NULL;
    G.scfg.n_aws_keys++;
}

/* Applies one command-line option; a bad value exits 2. */
static void apply_option(int c, char *arg, char **argv)
{
    struct mock_defaults *d = &G.scfg.defaults;

    switch (c) {
    case 'l':
        if (G.n_listeners == MAX_LISTENERS)
            usage_error("--listen: at most %d listeners", MAX_LISTENERS);
        G.listeners[G.n_listeners].spec = arg;
        parse_listen(&G.listeners[G.n_listeners++], arg);
        break;
    case O_TLS_CERT:
        G.tls_cert = arg;
        break;
    case O_TLS_KEY:
        G.tls_key = arg;
        break;
    case 't':
        G.threads = (unsigned)parse_uint_arg("--threads", arg, 1, MAX_THREADS);
        break;
    case 'r':
        if (strlen(arg) > MOCK_MAX_STRING)
            usage_error("--reply: longer than %u bytes", MOCK_MAX_STRING);
        d->reply = sl_str_from_cstr(arg);
        break;
    case O_TTFT:
        d->ttft_ms = parse_uint_arg("--ttft-ms", arg, 0, MOCK_MAX_MS);
        break;
    case O_CHUNKS:
        d->chunks = parse_uint_arg("--chunks", arg, 0, MOCK_MAX_CHUNKS);
        break;
    case O_INTERVAL:
        d->chunk_interval_ms = parse_uint_arg("--chunk-interval-ms", arg, 0, MOCK_MAX_MS);
        break;
    case O_LATENCY:
        d->latency_ms = parse_uint_arg("--latency-ms", arg, 0, MOCK_MAX_MS);
        break;
    case O_DIMS:
        d->dimensions = parse_uint_arg("--dimensions", arg, 1, MOCK_MAX_DIMENSIONS);
        break;
    case O_KEY:
        if (arg[0] == '\0')
            usage_error("--require-key: the key must not be empty");
        G.scfg.require_key = sl_str_from_cstr(arg);
        break;
    case O_AWS_KEY:
        parse_aws_key(arg);
        break;
    case O_SKEW: {
        bool neg = arg[0] == '-';
        G.scfg.clock_skew_secs =
            (int64_t)parse_uint_arg("--clock-skew-secs", arg + neg, 0, 366 * 86400);
        if (neg)
            G.scfg.clock_skew_secs = -G.scfg.clock_skew_secs;
        break;
    }
    case O_OAUTH_KEY:
        G.oauth.public_key_file = arg;
        break;
    case O_ENTRA:
        if (strchr(arg, ':') == NULL || arg[0] == ':')
            usage_error("--entra-client: expected CLIENT_ID:SECRET, got \"%s\"", arg);
        G.oauth.entra_client = sl_str_from_cstr(arg);
        break;
    case O_TOKEN_TTL:
        G.oauth.ttl_s = parse_uint_arg("--token-ttl", arg, 1, 86400);
        break;
    case O_TOKEN_LATENCY:
        G.oauth.latency_ms = parse_uint_arg("--token-latency-ms", arg, 0, MOCK_MAX_MS);
        break;
    case O_STATIC_TOKEN:
        if (arg[0] == '\0')
            usage_error("--static-token: the token must not be empty");
        G.oauth.static_token = sl_str_from_cstr(arg);
        break;
    case 'q':
        G.scfg.quiet = true;
        break;
    case O_NO_RESPONSES:
        G.scfg.no_responses = true;
        break;
    case 'h':
        fputs(usage, stdout);
        exit(0);
    case ':':
        usage_error("%s needs a value", argv[optind - 1]);
    default:
        usage_error("unknown option \"%s\"", argv[optind - 1]);
    }
}

static void parse_args(int argc, char **argv)
{
    G.scfg.defaults = (struct mock_defaults){
        .reply =
            SL_STRLIT("Hello from sluice-mock! This is a canned reply from the mock upstream."),
        .chunks = 8,
        .dimensions = 8,
    };
    G.threads = 1;
    opterr = 0;
    for (;;) {
        /* A leading ':' makes a missing value return ':' rather than '?'. */
        int c = getopt_long(argc, argv, ":", long_opts, NULL);
        if (c == -1)
            break;
        apply_option(c, optarg, argv);
    }
    if (optind < argc)
        usage_error("unexpected argument \"%s\"", argv[optind]);
    if ((G.tls_cert == NULL) != (G.tls_key == NULL))
        usage_error("--tls-cert and --tls-key go together");
    if (G.n_listeners == 0) {
        G.listeners[0].spec = "127.0.0.1:0";
        parse_listen(&G.listeners[G.n_listeners++], "127.0.0.1:0");
    }
}

/* Opens a listening socket on l's address. SO_REUSEPORT only when several workers share the
 * port: set on a lone socket it would let a second process bind the same port silently. With
 * listen false the socket is only bound (a probe). */
static int open_socket(const struct listener *l, bool reuseport, bool do_listen)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;

    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1) ||
        bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) == -1 ||
        (do_listen && listen(fd, SOMAXCONN) == -1)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static in_port_t port_of(const struct listener *l)
{
    if (l->addr.ss_family == AF_INET6)
        return ((const struct sockaddr_in6 *)(const void *)&l->addr)->sin6_port;
    return ((const struct sockaddr_in *)(const void *)&l->addr)->sin_port;
}

/* Opens the per-worker sockets of l. A fixed port shared through SO_REUSEPORT is first probed
 * with a plain bind, so a port another process listens on (even with SO_REUSEPORT) is an error
 * rather than shared traffic; port 0 needs no probe, the kernel never hands out a port in use. */
static int open_listener(struct listener *l)
{
    bool shared = G.threads > 1;

    if (shared && port_of(l) != 0) {
        int probe = open_socket(l, false, false);
        if (probe == -1)
            return SL_ERR;
        close(probe);
    }
    for (unsigned t = 0; t < G.threads; t++) {
        l->fds[t] = open_socket(l, shared, true);
        if (l->fds[t] == -1)
            return SL_ERR;
        if (t == 0 && getsockname(l->fds[0], (struct sockaddr *)&l->addr, &l->addrlen) == -1)
            return SL_ERR;
    }
    return SL_OK;
}

/* Binds every listener (one socket per worker; the first binds the requested port, maybe 0, and
 * the others join the port it got), then prints the listening lines. */
static int bind_listeners(void)
{
    for (size_t i = 0; i < G.n_listeners; i++) {
        struct listener *l = &G.listeners[i];
        char host[NI_MAXHOST], port[NI_MAXSERV];
        if (open_listener(l) != SL_OK) {
            fprintf(stderr, "sluice-mock: cannot listen on %s: %s\n", l->spec, strerror(errno));
            return SL_ERR;
        }
        if (getnameinfo((struct sockaddr *)&l->addr, l->addrlen, host, sizeof(host), port,
                        sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            return SL_ERR;
        printf("sluice-mock listening on %s://%s%s%s:%s\n", G.ssl_ctx != NULL ? "https" : "http",
               l->addr.ss_family == AF_INET6 ? "[" : "", host,
               l->addr.ss_family == AF_INET6 ? "]" : "", port);
    }
    fflush(stdout);
    return SL_OK;
}

static int setup_tls(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, G.tls_cert) != 1) {
        fprintf(stderr, "sluice-mock: --tls-cert %s: cannot load the certificate\n", G.tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, G.tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "sluice-mock: --tls-key %s: cannot load a key matching the certificate\n",
                G.tls_key);
        goto fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    G.ssl_ctx = ctx;
    return SL_OK;
fail:
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return SL_ERR;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct worker_thread *t = listener->data;

    if (err != NULL)
        return;
    /* Accept a bounded batch per wake-up so one busy listener cannot starve the loop. */
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        h2o_accept(&t->accept_ctx, sock);
    }
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    SL_UNUSED(receiver);
    SL_UNUSED(messages);
}

/* Creates worker n's loop and context and starts accepting on its sockets. Every worker is set
 * up on the main thread before any thread starts, so the signal thread can wake any of them. */
static void worker_setup(struct worker_thread *t, unsigned n)
{
    mock_worker_init(&t->w, n, h2o_evloop_create(), &G.conf);
    h2o_multithread_register_receiver(t->w.ctx.queue, &t->wake, on_wake);
    t->accept_ctx =
        (h2o_accept_ctx_t){.ctx = &t->w.ctx, .hosts = G.conf.hosts, .ssl_ctx = G.ssl_ctx};
    for (size_t i = 0; i < G.n_listeners; i++) {
        t->socks[i] = h2o_evloop_socket_create(t->w.ctx.loop, G.listeners[i].fds[n],
                                               H2O_SOCKET_FLAG_DONT_READ);
        t->socks[i]->data = t;
        h2o_socket_read_start(t->socks[i], on_accept);
    }
}

static void worker_run(struct worker_thread *t)
{
    /* h2o_evloop_run returns -1 when interrupted; keep looping until asked to stop. */
    while (!atomic_load(&G.stop))
        h2o_evloop_run(t->w.ctx.loop, INT32_MAX);
    for (size_t i = 0; i < G.n_listeners; i++) {
        h2o_socket_read_stop(t->socks[i]);
        h2o_socket_close(t->socks[i]);
        t->socks[i] = NULL;
    }
}

/* Worker threads other than the main one end parked, not returned: h2o keeps recycled memory in
 * thread-local caches that would look leaked once the thread is gone. The process exits from
 * the main thread while they wait. */
static void *worker_main(void *arg)
{
    struct worker_thread *t = arg;

    worker_run(t);
    pthread_mutex_lock(&G.park_lock);
    G.parked++;
    pthread_cond_broadcast(&G.park_cond);
    for (;;)
        pthread_cond_wait(&G.park_cond, &G.park_lock);
    return NULL;
}

static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    int sig;

    while (sigwait(set, &sig) != 0)
        ;
    atomic_store(&G.stop, true);
    for (unsigned i = 0; i < G.threads; i++)
        h2o_multithread_send_message(&G.workers[i].wake, NULL);
    return NULL;
}

static void setup_h2o(void)
{
    h2o_hostconf_t *host;

    h2o_config_init(&G.conf);
    G.conf.server_name = h2o_iovec_init(H2O_STRLIT("sluice-mock"));
    G.conf.max_request_entity_size = 64u << 20;
    host = h2o_config_register_host(&G.conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    mock_server_register(host);
}

/* Blocks SIGINT/SIGTERM in this thread and every thread it creates: the signal thread takes them
 * with sigwait. Done first thing, so a signal sent as soon as the listening line is read stays
 * pending instead of killing the process. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Starts the workers other than worker 0, which runs on the calling thread, and the signal
 * thread. */
static void start_threads(sigset_t *set)
{
    pthread_t sig_tid;

    for (unsigned i = 1; i < G.threads; i++)
        if (pthread_create(&G.workers[i].tid, NULL, worker_main, &G.workers[i]) != 0)
            abort();
    if (pthread_create(&sig_tid, NULL, signal_main, set) != 0)
        abort();
    pthread_detach(sig_tid);
}

static void wait_parked(void)
{
    pthread_mutex_lock(&G.park_lock);
    while (G.parked + 1 < G.threads)
        pthread_cond_wait(&G.park_cond, &G.park_lock);
    pthread_mutex_unlock(&G.park_lock);
}

int main(int argc, char **argv)
{
    static struct rec_counters *counters[MAX_THREADS];
    static sigset_t set;

    block_signals(&set);
    parse_args(argc, argv);
    if (G.scfg.quiet)
        sl_log_set_level(SL_LOG_WARN);
    if (G.tls_cert != NULL && setup_tls() != SL_OK)
        return 1;
    if (bind_listeners() != SL_OK)
        return 1;
    mock_server_init(&G.scfg);
    mock_oauth_init(&G.oauth);
    setup_h2o();
    G.workers = sl_xcalloc(G.threads, sizeof(*G.workers));
    for (unsigned i = 0; i < G.threads; i++) {
        worker_setup(&G.workers[i], i);
        counters[i] = &G.workers[i].w.counters;
    }
    rec_init(counters, G.threads);
    start_threads(&set);
    worker_run(&G.workers[0]);
    wait_parked();
    return 0;
}
