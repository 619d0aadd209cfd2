/*
 * tls.c - a server SSL_CTX from [tls] cert_file and key_file, for every
 * TLS listener (HTTPS, syslog over TLS).
 *
 * Design: TLS 1.2 or later, server cipher preference, no compression
 * (CRIME) and no renegotiation; the chain file may hold intermediates.
 * A failure is logged once here with OpenSSL's reason.
 *
 * Threads: any thread.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sift/error.h"
#include "sift/log.h"
#include "sift/tls.h"

int
sift_tls_server_ctx_new(const char *cert_file, const char *key_file,
                        SSL_CTX **out)
{
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        SIFT_ERROR("tls: SSL_CTX_new failed");
        return SIFT_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    const char *what = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        what = cert_file;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
        what = key_file;
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "tls.key_file does not match tls.cert_file";
    if (what != NULL) {
        char reason[256];
        ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
        ERR_clear_error();
        SIFT_ERROR("tls: cannot load %s: %s", what, reason);
        SSL_CTX_free(ctx);
        return SIFT_ECONFIG;
    }
    *out = ctx;
    return SIFT_OK;
}
