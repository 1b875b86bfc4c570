#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/base.h"

#include "config_internal.h"

/* Certificates, keys and CA bundles are small; a cap keeps a mistyped path (a disk image, a log)
 * from being read whole by the PEM parser. */
#define MAX_PEM_FILE (16u * 1024 * 1024)

int sl__config_check_file(const char *path, char *err, size_t cap)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, cap, "%s", strerror(errno));
        return SL_ERR;
    }
    struct stat st;
    int rc = SL_OK;
    if (fstat(fd, &st) == -1) {
        snprintf(err, cap, "%s", strerror(errno));
        rc = SL_ERR;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, cap, "not a regular file");
        rc = SL_ERR;
    } else if ((uintmax_t)st.st_size > MAX_PEM_FILE) {
        snprintf(err, cap, "larger than %u bytes", MAX_PEM_FILE);
        rc = SL_ERR;
    }
    close(fd);
    return rc;
}

/* Encrypted keys are refused rather than prompting on the terminal for a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    SL_UNUSED(buf);
    SL_UNUSED(size);
    SL_UNUSED(rwflag);
    SL_UNUSED(u);
    return -1;
}

static void take_reason(char *reason, size_t cap)
{
    unsigned long e = ERR_peek_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(reason, cap, "%s", r != NULL ? r : "unknown error");
    ERR_clear_error();
}

/* OpenSSL 3's key decoder reports any failure as "unsupported", so find the key's PEM block
 * first and say what is actually there. Returns true when a usable-looking block exists. */
static bool find_key_block(BIO *bio, char *reason, size_t cap)
{
    char *name = NULL, *header = NULL, *first = NULL;
    unsigned char *data = NULL;
    long len = 0;
    bool found = false;
    ERR_clear_error();
    while (!found && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
        struct sl_str n = sl_str_from_cstr(name);
        if (sl_str_ends_with(n, SL_STRLIT("PRIVATE KEY"))) {
            found = true;
            if (sl_str_eq_lit(n, "ENCRYPTED PRIVATE KEY") || strstr(header, "ENCRYPTED") != NULL) {
                snprintf(reason, cap, "encrypted keys are not supported");
                found = false;
            }
        } else if (first == NULL) {
            first = sl_xstrdup(name);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    if (!found && reason[0] == '\0' && first != NULL)
        snprintf(reason, cap, "found a %s block, no PRIVATE KEY", first);
    else if (!found && reason[0] == '\0')
        take_reason(reason, cap);
    free(first);
    ERR_clear_error();
    return found;
}

static EVP_PKEY *read_key(const char *path, char *reason, size_t cap)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *key = NULL;
    if (bio == NULL) {
        take_reason(reason, cap);
        return NULL;
    }
    if (find_key_block(bio, reason, cap) && BIO_reset(bio) == 0) {
        key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        if (key == NULL)
            take_reason(reason, cap);
    }
    BIO_free(bio);
    return key;
}

enum sl__tls_check sl__config_check_tls(const char *cert, const char *key, char *reason, size_t cap)
{
    enum sl__tls_check rc = SL__TLS_OK;
    EVP_PKEY *pkey = NULL;
    snprintf(reason, cap, "%s", "");
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SL_ASSERT(ctx != NULL);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        take_reason(reason, cap);
        rc = SL__TLS_BAD_CERT;
        goto out_ctx;
    }
    pkey = read_key(key, reason, cap);
    if (pkey == NULL) {
        rc = SL__TLS_BAD_KEY;
        goto out_ctx;
    }
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey) != 1) {
        ERR_clear_error();
        rc = SL__TLS_MISMATCH;
    }
    EVP_PKEY_free(pkey);
out_ctx:
    SSL_CTX_free(ctx);
    return rc;
}

int sl__config_check_ca(const char *path, char *reason, size_t cap)
{
    int rc = SL_OK;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SL_ASSERT(ctx != NULL);
    if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
        take_reason(reason, cap);
        rc = SL_ERR;
    }
    SSL_CTX_free(ctx);
    return rc;
}
