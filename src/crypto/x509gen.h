/* Key and certificate generation for the local CA (ca/): the libcrypto side
 * of `moat ca`. Everything above sees opaque keys and certificates. */
#ifndef MOAT_X509GEN_H
#define MOAT_X509GEN_H

#include <stddef.h>
#include <stdint.h>

/* Every function here returns 0 or a negative moat error (MOAT_ERR_*), and
 * on error writes a one-line reason into err (errlen bytes, may be 0). */

typedef struct moat_pkey moat_pkey; /* a private key (wraps EVP_PKEY) */
typedef struct moat_cert moat_cert; /* a certificate (wraps X509) */

enum moat_key_type {
    MOAT_KEY_EC_P256 = 0, /* ECDSA on P-256 (named curve) */
    MOAT_KEY_RSA2048 = 1, /* RSA, 2048 bits, e = 65537 */
};

/* ---- keys */

/* Generates a fresh key of the given type into *out (freed by the caller). */
int crypto_pkey_generate(enum moat_key_type type, moat_pkey **out, char *err, size_t errlen);
/* MOAT_KEY_EC_P256 or MOAT_KEY_RSA2048, or -1 for any other kind of key. */
int crypto_pkey_type(const moat_pkey *k);
/* The key as unencrypted PKCS#8 PEM text: *out (len bytes, NUL-terminated)
 * is malloc'd and holds the key, so the caller wipes it before free.
 * crypto/ writes no file: ca/ stores it (0600, atomically). */
int crypto_pkey_to_pem(const moat_pkey *k, char **out, size_t *len, char *err, size_t errlen);
/* The first private key of PEM text (what names where it came from, for
 * the message). Encrypted keys are refused (never prompts for a
 * passphrase): MOAT_ERR_FILE. */
int crypto_pkey_from_pem(const char *pem, size_t len, const char *what, moat_pkey **out, char *err,
                         size_t errlen);
/* Frees a key (wiping it); NULL is allowed. */
void crypto_pkey_free(moat_pkey *k);

/* ---- certificates */

/* The names and text of a self-signed root CA. Any of the strings may be
 * NULL to leave the attribute out. */
struct moat_root_params {
    const char *org;               /* O  */
    const char *org_unit;          /* OU */
    const char *common_name;       /* CN */
    int64_t not_before, not_after; /* seconds since the epoch, UTC */
    /* Name constraints (RFC 5280 4.2.1.10), all permitted subtrees: DNS
     * names ("example.test" permits it and every name below it) and IP
     * ranges as CIDR ("127.0.0.0/8", "::1/128"). None: no constraints. */
    const char *const *permit_dns;
    size_t n_permit_dns;
    const char *const *permit_ip;
    size_t n_permit_ip;
};

/* "10.0.0.0/8" or "::1/128" (a bare address is a /32 or /128) into the
 * address followed by its mask, as RFC 5280 4.2.1.10 encodes an iPAddress
 * subtree. Returns the length (8 or 32), or 0 when s does not parse or
 * has bits set outside its prefix. */
size_t crypto_cidr_parse(const char *s, unsigned char out[32]);

/* Makes a self-signed root CA certificate for key: random serial, SHA-256,
 * basicConstraints critical CA:TRUE pathlen:0, keyUsage critical
 * keyCertSign+cRLSign, subjectKeyIdentifier, and a critical
 * nameConstraints extension when p asks for one. MOAT_ERR_ARG for a
 * permitted name or range that does not parse. */
int crypto_x509_make_root(const moat_pkey *key, const struct moat_root_params *p, moat_cert **out,
                          char *err, size_t errlen);

/* What a leaf certificate says. */
struct moat_issue_params {
    const char *const *names; /* SANs: DNS names ("*.a.b" allowed), IPv4/IPv6,
                                 email addresses, URIs */
    size_t n_names;           /* at least one */
    int64_t not_before, not_after;
    int client_auth;         /* also allow clientAuth (extendedKeyUsage) */
    const char *org;         /* subject O, or NULL */
    const char *org_unit;    /* subject OU, or NULL */
    const char *common_name; /* subject CN, or NULL (left out if > 64 bytes) */
};

/* Issues a leaf certificate for leaf_key, signed by ca/ca_key: random
 * 128-bit positive serial (RAND_bytes), the SANs of p (an entry that parses
 * as an IP address with inet_pton is an iPAddress, one with "://" a
 * uniformResourceIdentifier, one with '@' an rfc822Name, anything else a
 * dNSName; ca/ validates the names), basicConstraints CA:FALSE, keyUsage
 * critical digitalSignature (+keyEncipherment for an RSA leaf key),
 * extendedKeyUsage serverAuth, serverAuth+clientAuth with client_auth, or
 * clientAuth alone with client_auth when no SAN is a host name or IP
 * address; subject and authority key identifiers. */
int crypto_x509_issue(const moat_cert *ca, const moat_pkey *ca_key, const moat_pkey *leaf_key,
                      const struct moat_issue_params *p, moat_cert **out, char *err, size_t errlen);

/* Checks leaf against the root ca alone as `openssl verify -purpose
 * sslserver` (with server set) and `-purpose sslclient` (with client set)
 * would: the signature, the usages, and the root's name constraints on
 * every SAN and on a subject CN that OpenSSL reads as a DNS name. Validity
 * dates are the caller's to judge (an expired leaf may be wanted), so
 * they are not checked. 0 when it passes; MOAT_ERR_ARG with the
 * verifier's reason in err when it does not. */
int crypto_cert_check_leaf(const moat_cert *ca, const moat_cert *leaf, int server, int client,
                           char *err, size_t errlen);

/* n certificates as PEM text, one after the other: *out (len bytes,
 * NUL-terminated) is malloc'd, freed by the caller. */
int crypto_certs_to_pem(const moat_cert *const *certs, size_t n, char **out, size_t *len, char *err,
                        size_t errlen);
/* The first certificate of PEM text (what names where it came from, for
 * the message): MOAT_ERR_FILE when there is none. */
int crypto_cert_from_pem(const char *pem, size_t len, const char *what, moat_cert **out, char *err,
                         size_t errlen);
/* Frees a certificate; NULL is allowed. */
void crypto_cert_free(moat_cert *c);

/* The validity period of c, as seconds since the epoch. */
int crypto_cert_not_after(const moat_cert *c, int64_t *out);
int crypto_cert_not_before(const moat_cert *c, int64_t *out);
/* The serial number as lower-case hex (no separators) into buf. Returns 0
 * or MOAT_ERR_ARG when buf is too small (41 bytes always suffice). */
int crypto_cert_serial_hex(const moat_cert *c, char *buf, size_t len);
/* The subject as one line ("O=moat local CA, OU=..., CN=...") into buf. */
int crypto_cert_subject(const moat_cert *c, char *buf, size_t len);
/* 1 when key is the private key of cert c, else 0. */
int crypto_cert_matches_key(const moat_cert *c, const moat_pkey *key);
/* 1 when c names ca as its issuer and ca's key signed it, else 0. */
int crypto_cert_signed_by(const moat_cert *c, const moat_cert *ca);
/* 1 when c has basicConstraints CA:TRUE and may sign certificates. */
int crypto_cert_is_ca(const moat_cert *c);
/* The SHA-256 fingerprint of c's DER encoding, as 64 lower-case hex
 * digits into buf (at least 65 bytes), or MOAT_ERR_ARG. */
int crypto_cert_fingerprint(const moat_cert *c, char *buf, size_t len);
/* The subjectAltName entries of c ("a.test, 127.0.0.1, ::1, a@b.test,
 * spiffe://b.test/w"; other kinds
 * of names are left out) into buf; "" when it has none. Truncated to fit. */
int crypto_cert_names(const moat_cert *c, char *buf, size_t len);
/* The name constraints of the CA certificate ca, as text ("DNS:a.test,
 * IP:127.0.0.0/8") into buf; "" when there are none. */
int crypto_cert_constraints(const moat_cert *ca, char *buf, size_t len);
/* 1 when name (a DNS name, "*.x" wildcard, an IP address, an email
 * address or a URI, told apart as crypto_x509_issue does) lies inside
 * the name constraints of the CA certificate ca (always, when ca has
 * none), else 0. The rules are RFC 5280 4.2.1.10's: for each kind of name
 * the CA constrains, the name must be in a permitted subtree and in no
 * excluded one; kinds it does not constrain are free. */
int crypto_cert_name_permitted(const moat_cert *ca, const char *name);

/* ---- certificate revocation lists (crl.c) */

/* RFC 5280 5.3.1 reason codes (the ones `moat ca revoke` offers). */
enum {
    MOAT_CRL_REASON_NONE = -1, /* no reasonCode extension */
    MOAT_CRL_REASON_UNSPECIFIED = 0,
    MOAT_CRL_REASON_KEY_COMPROMISE = 1,
    MOAT_CRL_REASON_CA_COMPROMISE = 2,
    MOAT_CRL_REASON_AFFILIATION_CHANGED = 3,
    MOAT_CRL_REASON_SUPERSEDED = 4,
    MOAT_CRL_REASON_CESSATION_OF_OPERATION = 5,
};

struct moat_crl_entry {
    const char *serial_hex; /* hex digits, no separators */
    int64_t revoked_at;     /* seconds since the epoch */
    int reason;             /* MOAT_CRL_REASON_*; UNSPECIFIED is left out, as
                               RFC 5280 5.3.1 asks */
};

/* Makes a v2 CRL signed by ca_key (SHA-256) for the CA certificate ca:
 * issuer, thisUpdate (RFC 5280 lastUpdate), nextUpdate, the entries, and
 * the extensions cRLNumber (number) and authorityKeyIdentifier. Returns a
 * malloc'd buffer in *out (PEM, or DER when der is set), freed by the
 * caller with free(). MOAT_ERR_ARG for a malformed serial. */
int crypto_crl_make(const moat_cert *ca, const moat_pkey *ca_key, const struct moat_crl_entry *e,
                    size_t n, int64_t this_update, int64_t next_update, uint64_t number, int der,
                    unsigned char **out, size_t *outlen, char *err, size_t errlen);

#endif
