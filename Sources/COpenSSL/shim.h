#ifndef KOTOSYNC_COPENSSL_SHIM_H
#define KOTOSYNC_COPENSSL_SHIM_H
/* Only libcrypto's EVP digest/signature API, its error queue and
   CRYPTO_memcmp: KotoCrypto needs nothing else from OpenSSL. */
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#endif
