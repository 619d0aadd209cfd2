/*
 * tls.h - the server TLS context shared by the HTTPS listener
 * (src/api/http.c) and the syslog TLS listeners (src/ingest/syslog.c):
 * one certificate chain and key ([tls] cert_file, key_file), TLS 1.2 and
 * later, no compression or renegotiation.
 */
#ifndef SIFT_TLS_H
#define SIFT_TLS_H

#include <openssl/ssl.h>

/**
 * Loads the PEM certificate chain cert_file and the key key_file into a
 * new server SSL_CTX in *out (OUT; owned, SSL_CTX_free()).  Returns
 * SIFT_OK; SIFT_ECONFIG when a file cannot be read or the key does not
 * match (logged with OpenSSL's reason); SIFT_ENOMEM.  Any thread.
 */
int sift_tls_server_ctx_new(const char *cert_file, const char *key_file,
                            SSL_CTX **out);

#endif /* SIFT_TLS_H */
