// OpenSSL for Swift: the headers AviaryTLS uses, and one-line wrappers for what OpenSSL defines as macros
// (Swift imports only functions and simple constants). Nothing but AviaryTLS imports this module.
#ifndef CAVIARY_OPENSSL_SHIM_H
#define CAVIARY_OPENSSL_SHIM_H

#include <stdint.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// MARK: SSL_CTX settings

static inline int aviary_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int aviary_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline long aviary_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long aviary_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff) {
    return SSL_CTX_set_dh_auto(ctx, onoff);
}

static inline long aviary_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

// MARK: SSL_OP_* and SSL_MODE_* (built with SSL_OP_BIT, which Swift cannot evaluate)

static inline uint64_t aviary_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t aviary_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t aviary_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t aviary_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t aviary_SSL_OP_ALL(void) { return SSL_OP_ALL; }
static inline long aviary_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long aviary_SSL_SESS_CACHE_OFF(void) { return SSL_SESS_CACHE_OFF; }

// MARK: per-connection

static inline int aviary_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline int aviary_BIO_set_mem_eof_return(BIO *bio, int value) {
    return (int)BIO_set_mem_eof_return(bio, value);
}

static inline void aviary_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }

/// RFC 2253 form of a name (`CN=mail.example.test,O=Example`); the caller frees the result with
/// aviary_OPENSSL_free. NULL when it cannot be printed.
static inline char *aviary_X509_NAME_rfc2253(const X509_NAME *name) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    char *text = NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        long length = BIO_ctrl_pending(bio);
        text = OPENSSL_malloc((size_t)length + 1);
        if (text != NULL) {
            int got = BIO_read(bio, text, (int)length);
            text[got > 0 ? got : 0] = '\0';
        }
    }
    BIO_free(bio);
    return text;
}

// MARK: keys

static inline int aviary_refuse_passphrase(char *buffer, int size, int rwflag, void *userdata) {
    (void)buffer; (void)size; (void)rwflag; (void)userdata;
    return -1;
}

/// Reads the first private key from a PEM file without ever prompting for a passphrase on the terminal
/// (OpenSSL's default callback would): an encrypted key simply fails to load.
static inline EVP_PKEY *aviary_read_private_key(const char *path) {
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, aviary_refuse_passphrase, NULL);
    BIO_free(bio);
    return key;
}

#endif
