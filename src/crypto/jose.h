/* The libcrypto side of ACME (acme/): ES256 signatures in JOSE's raw
 * form, the public numbers of a JWK, certificate signing requests and the
 * tls-alpn-01 validation certificate. Keys and certificates are the
 * opaque moat_pkey and moat_cert of x509gen.h. */
#ifndef MOAT_JOSE_H
#define MOAT_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/x509gen.h"

/* Every function here returns 0 or a negative moat error (MOAT_ERR_*). */

/* The affine coordinates x and y (32 bytes each, big-endian, left-padded)
 * of a P-256 key: the "x" and "y" members of its JWK (RFC 7518 6.2.1).
 * MOAT_ERR_ARG when the key is not P-256. */
int crypto_jose_ec_xy(const moat_pkey *k, uint8_t x[32], uint8_t y[32]);

/* ES256 (RFC 7518 3.4): ECDSA P-256 with SHA-256 over msg, written as the
 * 64-byte concatenation r || s, each left-padded to 32 bytes, not the DER
 * SEQUENCE libcrypto makes. */
int crypto_jose_es256_sign(const moat_pkey *k, const void *msg, size_t len, uint8_t sig[64]);

/* Verifies a raw r || s ES256 signature (for tests). 0 when it holds,
 * MOAT_ERR_ARG when it does not. */
int crypto_jose_es256_verify(const moat_pkey *k, const void *msg, size_t len,
                             const uint8_t sig[64]);

/* A PKCS#10 request (RFC 2986) signed by key with SHA-256, its subject
 * empty and every name in a subjectAltName extension as a dNSName (RFC
 * 8555 7.4: the CA reads the identifiers from the SANs). A malloc'd DER
 * buffer in *der, freed by the caller. */
int crypto_jose_csr(const moat_pkey *key, const char *const *names, size_t n, uint8_t **der,
                    size_t *len, char *err, size_t errlen);

/* The tls-alpn-01 validation certificate (RFC 8737 3): self-signed by a
 * fresh P-256 key, one dNSName SAN, and the critical acmeIdentifier
 * extension (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31) whose value is an
 * OCTET STRING of digest, the SHA-256 of the key authorization. PEM text
 * of the certificate and of its key, malloc'd, NUL-terminated; the caller
 * wipes and frees the key's. */
int crypto_jose_alpn_cert(const char *name, const uint8_t digest[32], char **cert_pem,
                          size_t *cert_len, char **key_pem, size_t *key_len, char *err,
                          size_t errlen);

/* The acmeIdentifier extension's value of a PEM certificate: the 32
 * bytes of its OCTET STRING into digest, *critical its critical flag.
 * MOAT_ERR_ARG when the certificate has none (for tests). */
int crypto_jose_alpn_digest(const char *cert_pem, size_t len, uint8_t digest[32], int *critical);

/* The DER encoding of the first certificate of PEM text, malloc'd: what
 * revokeCert sends (RFC 8555 7.6). */
int crypto_jose_pem_to_der(const char *pem, size_t len, uint8_t **der, size_t *derlen);

/* The names of a DER CSR's subjectAltName, comma-separated, into buf,
 * and 1 in *sig_ok when its signature verifies (for tests). */
int crypto_jose_csr_names(const uint8_t *der, size_t len, char *buf, size_t buflen, int *sig_ok);

/* What ACME Renewal Information names a certificate by (RFC 9773 4.1):
 * the keyIdentifier of its authorityKeyIdentifier into aki (*aki_len
 * bytes, at most 64) and the content octets of its serial's DER INTEGER
 * into serial (*serial_len, at most 32). MOAT_ERR_ARG when the first
 * certificate of the PEM text has no keyIdentifier. */
int crypto_jose_ari_parts(const char *pem, size_t len, uint8_t aki[64], size_t *aki_len,
                          uint8_t serial[32], size_t *serial_len);

#endif
