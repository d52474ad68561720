/* The insides of moat_pkey and moat_cert, shared by x509gen.c, crl.c and jose.c
 * only (both in crypto/, the one layer that sees libcrypto types). */
#ifndef MOAT_X509GEN_INT_H
#define MOAT_X509GEN_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/x509gen.h"

struct moat_pkey {
    EVP_PKEY *pkey;
};
struct moat_cert {
    X509 *x509;
};

/* Writes "what: libcrypto reason" (or "what" alone, fmt formatting what)
 * into err, clears the libcrypto error queue, and returns code. The one
 * error writer of x509gen.c, crl.c and jose.c. */
__attribute__((format(printf, 4, 5))) int crypto_fail(int code, char *err, size_t errlen,
                                                      const char *fmt, ...);

#endif
