/* The proxy's TLS server context: TLS 1.2 and 1.3, ALPN h2 and http/1.1, the certificate chain
 * and key from proxy.tls. Built on the control thread (at boot and on SIGHUP, for certificate
 * rotation without a restart) and handed to the workers, which swap it in for new handshakes;
 * connections already established keep the context they started with (OpenSSL counts
 * references). */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Returns a new context, or NULL with a message naming the file and the problem in err. */
SSL_CTX *sl_tls_server_ctx_new(const char *cert_file, const char *key_file, char *err,
                               size_t errlen);

#endif
