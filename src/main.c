/* sluice: command line, config loading and server start. Exit codes: 0 success, 1 config or
 * boot error, 2 usage error. */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "sluice/boot.h"
#include "sluice/cache_phase.h"
#include "sluice/config.h"
#include "sluice/diag.h"
#include "sluice/h2o.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/proxy_env.h"
#include "sluice/resources.h"
#include "sluice/server.h"
#include "sluice/worker.h"
#include "sluice_version.h"

#define EXIT_USAGE 2

extern char **environ;
int main(int argc, char **argv);

static const char usage_text[] =
    "Usage:\n"
    "  sluice --config FILE               serve (also -c FILE)\n"
    "  sluice validate --config FILE      check a config.yaml offline\n"
    "  sluice validate --resources FILE   check a resources.yaml offline\n"
    "  sluice --version                   print the version\n"
    "  sluice --help                      print this help\n"
    "\n"
    "Every config.yaml key can be overridden from the environment as\n"
    "SLUICE_<SECTION>__<KEY>, e.g. SLUICE_PROXY__ADDR=0.0.0.0:8080.\n"
    "Docs: docs/configuration.md. Exit codes: 0 ok, 1 config or boot error, 2 usage error.\n";

struct cli {
    const char *config;
    const char *resources;
    bool validate;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'sluice --help' for usage.\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* Matches "--name VALUE", "--name=VALUE" and, when short is set, "-c VALUE". Returns 1 when
 * argv[*i] was this option (value stored, *i advanced), 0 when it was not, -1 when its value
 * is missing. */
static int take_option(int argc, char **argv, int *i, const char *name, const char *shortname,
                       const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *value = a + n + 1;
        return **value != '\0' ? 1 : -1;
    }
    if (strcmp(a, name) != 0 && (shortname == NULL || strcmp(a, shortname) != 0))
        return 0;
    if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
        return -1;
    *value = argv[++*i];
    return 1;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
    int i = 1;
    if (argc > 1 && strcmp(argv[1], "validate") == 0) {
        cli->validate = true;
        i = 2;
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("sluice %s\n", SL_VERSION);
            exit(0);
        }
        if ((r = take_option(argc, argv, &i, "--config", "-c", &cli->config)) != 0) {
            if (r < 0)
                return usage_error("%s needs a file name", a);
            continue;
        }
        if (cli->validate &&
            (r = take_option(argc, argv, &i, "--resources", NULL, &cli->resources)) != 0) {
            if (r < 0)
                return usage_error("%s needs a file name", a);
            continue;
        }
        if (a[0] == '-')
            return usage_error("unknown option '%s'", a);
        return usage_error("unexpected argument '%s'", a);
    }
    if (cli->validate && cli->config == NULL && cli->resources == NULL)
        return usage_error("%s", "validate needs --config FILE and/or --resources FILE");
    if (!cli->validate && cli->config == NULL)
        return usage_error("%s", "missing --config FILE (for example: sluice --config "
                                 "examples/config.yaml)");
    return 0;
}

static void print_errors(const struct sl_diag *diag)
{
    fprintf(stderr, "sluice: %s: %zu error%s:\n", diag->file, diag->count,
            diag->count == 1 ? "" : "s");
    sl_diag_print(diag, stderr);
}

static struct sl_config *load_config(const char *path)
{
    struct sl_diag diag;
    struct sl_config *cfg = NULL;
    sl_diag_init(&diag, path);
    if (sl_config_load(path, environ, &cfg, &diag) != 0)
        print_errors(&diag);
    sl_diag_dispose(&diag);
    return cfg;
}

/* Prints the reference gateway's success line for a resources file. */
static void print_resources_ok(const char *file, const struct sl_resources *res)
{
    printf("OK: %s loaded %zu resource(s) (%zu provider key(s), %zu model(s), %zu API key(s))\n",
           file, res->n_provider_keys + res->n_models + res->n_api_keys, res->n_provider_keys,
           res->n_models, res->n_api_keys);
}

/* cfg (may be NULL): the config the file is checked with (cache policies that cannot cache). */
static int validate_resources_file(const char *path, const struct sl_config *cfg)
{
    struct sl_diag diag;
    struct sl_resources *res = NULL;
    int rc = 0;
    sl_diag_init(&diag, path);
    if (sl_resources_load(path, environ, &res, &diag) != 0) {
        sl_boot_print_errors(&diag);
        rc = 1;
    } else {
        if (cfg != NULL)
            sl_cache_print_policy_warnings(cfg, res, stderr);
        print_resources_ok(path, res);
        sl_resources_free(res);
    }
    sl_diag_dispose(&diag);
    return rc;
}

/* HTTPS_PROXY, HTTP_PROXY and NO_PROXY are loaded with config.yaml when the server starts, and
 * a value refused there stops it: validate refuses it too. */
static int validate_proxy_env(void)
{
    struct sl_diag diag;
    struct sl_proxy_env pe;
    int rc = 0;
    sl_diag_init(&diag, "environment");
    if (sl_proxy_env_load(environ, &pe, &diag) != 0) {
        sl_boot_print_errors(&diag);
        rc = 1;
    } else {
        sl_proxy_env_dispose(&pe);
    }
    sl_diag_dispose(&diag);
    return rc;
}

static int validate(const struct cli *cli)
{
    int rc = 0;
    if (cli->config != NULL) {
        struct sl_config *cfg = load_config(cli->config);
        if (cfg == NULL) {
            rc = 1;
        } else if (validate_proxy_env() != 0) {
            rc = 1;
            sl_config_free(cfg);
        } else {
            sl_config_print_notes(cfg, stderr);
            printf("OK: %s: proxy on %s, %u worker(s)\n", cli->config, cfg->proxy.addr.text,
                   cfg->proxy.workers);
            /* A config that names a resources file only boots if that file loads too. */
            if (cfg->resources_file != NULL && cli->resources == NULL &&
                validate_resources_file(cfg->resources_file, cfg) != 0)
                rc = 1;
            sl_config_free(cfg);
        }
    }
    if (cli->resources != NULL && validate_resources_file(cli->resources, NULL) != 0)
        rc = 1;
    return rc;
}

static double unix_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Everything the server runs on besides config.yaml: resources and outbound proxies. */
static int load_runtime(const struct sl_config *cfg, struct sl_resources **res,
                        struct sl_proxy_env *pe)
{
    struct sl_diag diag;
    sl_diag_init(&diag, cfg->resources_file != NULL ? cfg->resources_file : "resources");
    *res = sl_boot_load_resources(cfg, &diag);
    if (*res == NULL) {
        sl_boot_print_errors(&diag);
        sl_diag_dispose(&diag);
        return 1;
    }
    sl_diag_dispose(&diag);
    sl_diag_init(&diag, "environment");
    if (sl_proxy_env_load(environ, pe, &diag) != 0) {
        sl_boot_print_errors(&diag);
        sl_diag_dispose(&diag);
        sl_resources_free(*res);
        return 1;
    }
    sl_diag_dispose(&diag);
    return 0;
}

/* Each client and upstream connection is a descriptor; the soft limit (often 1024) would cap
 * connections long before memory does, so use the hard limit the operator allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            sl_log_debug("raised the open-files limit from %llu to %llu", (unsigned long long)was,
                         (unsigned long long)rl.rlim_max);
    }
}

static int serve(const struct cli *cli)
{
    sl_server_block_signals();
    struct sl_config *cfg = load_config(cli->config);
    if (cfg == NULL)
        return 1;
    sl_log_set_level(cfg->observability.log_level);
    raise_fd_limit();
    sl_worker_tune_malloc();
    sl_config_log_notes(cfg);
    struct sl_resources *res;
    struct sl_proxy_env pe;
    if (load_runtime(cfg, &res, &pe) != 0) {
        sl_config_free(cfg);
        return 1;
    }
    if (pe.has_https || pe.has_http)
        sl_log_info("outbound proxy: https=%s http=%s no_proxy=%zu entr%s",
                    pe.has_https ? pe.https.display : "none",
                    pe.has_http ? pe.http.display : "none", pe.n_no_proxy,
                    pe.n_no_proxy == 1 ? "y" : "ies");
    sl_cache_check_policies(cfg, res);
    /* Name resolution for upstreams runs on h2o's resolver threads, shared by all workers. */
    h2o_hostinfo_max_threads = 4;
    sl_metrics_config_loaded(1, unix_now());
    struct sl_server *server = sl_server_new(cfg, res, &pe);
    if (sl_server_bind(server) != 0) {
        sl_server_free(server);
        return 1;
    }
    /* Parsing config.yaml and the resources file leaves about 1 MiB of freed heap behind
     * (1,000 caller keys); give it back before serving rather than at the first quiet second. */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    int rc = sl_server_run(server);
    sl_server_free(server);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int rc = parse_cli(argc, argv, &cli);
    if (rc != 0)
        return rc;
    return cli.validate ? validate(&cli) : serve(&cli);
}
