#include <arpa/inet.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "upstream_internal.h"

/* h2o 2.2's own post-handshake name check knows only DNS names, so the real check happens
 * here, during verification, with OpenSSL's matcher: X509_check_host for names and
 * X509_check_ip_asc for IP literals, against the name h2o sent as SNI. */
static int verify_peer(int preverify_ok, X509_STORE_CTX *store)
{
    if (!preverify_ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *host = ssl != NULL ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (host == NULL || cert == NULL)
        return 0;
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    int ok = is_ip ? X509_check_ip_asc(cert, host, 0) : X509_check_host(cert, host, 0, 0, NULL);
    if (ok != 1) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
        return 0;
    }
    return 1;
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
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       verify ? verify_peer : NULL);
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
