/* The insides of moat_pkey and moat_cert, shared by x509gen.c and crl.c
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

#endif
