/* crypto/x509info: a certificate described in words for `moat get -v` and
 * --explain (subject, issuer, validity, SANs, key, fingerprint). */
#ifndef MOAT_X509INFO_H
#define MOAT_X509INFO_H

#include <stddef.h>
#include <stdint.h>

struct moat_x509_info {
    char subject[512]; /* RFC 2253-like, "CN=localhost,O=moat tests" */
    char issuer[512];
    char not_before[32]; /* "2026-01-01 00:00:00 UTC" */
    char not_after[32];
    char sans[1024]; /* "DNS:localhost, IP:127.0.0.1"; "" when none */
    char key[64];    /* "ECDSA P-256", "RSA 2048 bits", "Ed25519" */
    char sigalg[64]; /* "ecdsa-with-SHA256" */
    char sha256[96]; /* "AB:CD:..." (32 bytes) */
    int is_ca;       /* basicConstraints CA:TRUE */
    int self_issued; /* subject == issuer */
};

/* A name from a certificate (n bytes, not NUL-terminated) as printable
 * text: bytes outside ASCII 0x21-0x7e and the backslash become \xNN, so an
 * embedded NUL shows as "good.test\x00.evil.test". Writes at most cap - 1
 * characters and a NUL, never a partial escape; returns the length. */
size_t crypto_x509_escape_name(const uint8_t *p, size_t n, char *out, size_t cap);

/* Describes the DER certificate in der. Returns 0, or -1 when it does not
 * parse (info is then zeroed). */
int crypto_x509_describe(const uint8_t *der, size_t len, struct moat_x509_info *info);

#endif
