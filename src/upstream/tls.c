#include <arpa/inet.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "upstream_internal.h"

static int refuse_peer(int preverify_ok, X509_STORE_CTX *store)
{
    SL_UNUSED(preverify_ok);
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* h2o 2.2 sends the name it is given as SNI and, after the handshake, checks it against the
 * certificate as a DNS name only. Both are wrong for an IP-literal origin: RFC 6066 section 3
 * forbids IP addresses in SNI, and the certificate must be matched against its IP address
 * SANs. h2o offers no hook between creating the SSL object and its ClientHello, so this
 * callback, run by OpenSSL as the handshake starts, reads the name h2o set, tells OpenSSL's
 * verifier what to match (X509_VERIFY_PARAM_set1_host, or _set1_ip_asc for an address), and
 * for an address clears the SNI before the ClientHello is written. h2o's own verdict is then
 * ignored (client.c on_handshake); OpenSSL's, made during verification, is the real check. */
static void on_handshake_start(const SSL *ssl, int where, int ret)
{
    SL_UNUSED(ret);
    if ((where & SSL_CB_HANDSHAKE_START) == 0 || SSL_is_server(ssl) || !SSL_in_before(ssl))
        return;
    SSL *s = (SSL *)(uintptr_t)ssl; /* OpenSSL hands info callbacks a const pointer */
    const char *host = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    if (host == NULL)
        return;
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    X509_VERIFY_PARAM *param = SSL_get0_param(s);
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                   : X509_VERIFY_PARAM_set1_host(param, host, 0);
    /* Without a name to match, verification would accept any trusted certificate: fail closed. */
    if (ok != 1)
        SSL_set_verify(s, SSL_get_verify_mode(s), refuse_peer);
    if (is_ip)
        SSL_set_tlsext_host_name(s, NULL); /* frees host */
}

/* True when dir holds at least one OpenSSL hashed certificate link ("5ad8a5d6.0"). */
static bool has_hashed_certs(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t i = 0;
        while (i < 8 && ((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            i++;
        found = i == 8 && n[8] == '.' && n[9] >= '0' && n[9] <= '9';
    }
    closedir(d);
    return found;
}

/* The system trust store. SSL_CTX_set_default_verify_paths parses the whole CA bundle (about
 * 140 certificates: 1.2 MiB of resident memory per worker, a seventh of an idle process) at
 * start-up, even when no upstream uses TLS. When the default certificate directory has
 * OpenSSL's hashed links (Debian's update-ca-certificates keeps them next to the bundle with the
 * same certificates) and neither SSL_CERT_FILE nor SSL_CERT_DIR is set, the directory alone is
 * used: OpenSSL reads an issuer's certificate (one small file) the first time a handshake needs
 * it and keeps it in the store. Otherwise the default paths apply as before. */
static int load_system_store(SSL_CTX *ctx)
{
    const char *dir = X509_get_default_cert_dir();
    if (getenv(X509_get_default_cert_file_env()) == NULL &&
        getenv(X509_get_default_cert_dir_env()) == NULL && has_hashed_certs(dir))
        return SSL_CTX_load_verify_dir(ctx, dir);
    return SSL_CTX_set_default_verify_paths(ctx);
}

SSL_CTX *sl__tls_client_ctx_new(const char *ca_file, bool verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
            goto fail;
    } else if (load_system_store(ctx) != 1) {
        goto fail;
    }
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_info_callback(ctx, on_handshake_start);
    return ctx;
fail:
    snprintf(err, errlen, "%s",
             ERR_reason_error_string(ERR_peek_last_error()) != NULL
                 ? ERR_reason_error_string(ERR_peek_last_error())
                 : "cannot create the TLS client context");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}
