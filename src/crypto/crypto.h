/* crypto/: the only code that calls libcrypto. Everything above sees opaque
 * types and plain bytes. Algorithms are fetched once per process. */
#ifndef MOAT_CRYPTO_H
#define MOAT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Fetches every algorithm moat uses. Idempotent and thread-safe. Returns 0
 * or MOAT_ERR_INTERNAL when libcrypto lacks one. */
int crypto_init(void);

/* The libcrypto in use, as it names itself ("OpenSSL 3.0.19 27 Jan 2026"). */
const char *crypto_version(void);

/* Fills buf with n bytes from the CSPRNG. */
int crypto_random(void *buf, size_t n);

/* crypto/'s own names for the algorithms it offers. Their values are the
 * TLS code points (RFC 8446 B.4, 4.2.7, 4.2.3), so the engine passes a
 * negotiated number straight through; the engine checks at compile time
 * that the two sets agree (tls/handshake.c). Nothing here includes the
 * TLS API. */
enum {
    MOAT_AEAD_AES128_GCM = 0x1301,        /* with SHA-256 */
    MOAT_AEAD_AES256_GCM = 0x1302,        /* with SHA-384 */
    MOAT_AEAD_CHACHA20_POLY1305 = 0x1303, /* with SHA-256 */
};
enum {
    MOAT_KEX_P256 = 0x0017,
    MOAT_KEX_P384 = 0x0018,
    MOAT_KEX_X25519 = 0x001d,
    MOAT_KEX_X25519MLKEM768 = 0x11ec, /* draft-ietf-tls-ecdhe-mlkem */
};
enum {
    MOAT_SIGN_ECDSA_P256_SHA256 = 0x0403,
    MOAT_SIGN_ECDSA_P384_SHA384 = 0x0503,
    MOAT_SIGN_RSA_PSS_SHA256 = 0x0804,
    MOAT_SIGN_RSA_PSS_SHA384 = 0x0805,
    MOAT_SIGN_RSA_PSS_SHA512 = 0x0806,
    MOAT_SIGN_ED25519 = 0x0807,
    /* RSASSA-PKCS1-v1_5: TLS 1.2 only, where a peer offers nothing else */
    MOAT_SIGN_RSA_PKCS1_SHA256 = 0x0401,
    MOAT_SIGN_RSA_PKCS1_SHA384 = 0x0501,
    MOAT_SIGN_RSA_PKCS1_SHA512 = 0x0601,
};

/* ---- hashes and HKDF */
enum { MOAT_HASH_SHA256 = 0, MOAT_HASH_SHA384 = 1 };
#define MOAT_HASH_MAX 48
size_t crypto_hash_len(int h);

typedef struct moat_hash_ctx moat_hash_ctx;
moat_hash_ctx *crypto_hash_new(int h);
int crypto_hash_update(moat_hash_ctx *c, const void *p, size_t n);
/* The digest of everything so far, leaving the context usable. */
int crypto_hash_peek(const moat_hash_ctx *c, uint8_t *out);
void crypto_hash_free(moat_hash_ctx *c);
/* A copy of the context, to hash a prefix without disturbing the original. */
moat_hash_ctx *crypto_hash_dup(const moat_hash_ctx *c);
int crypto_hash(int h, const void *p, size_t n, uint8_t *out);
/* HMAC through a context cached per thread and hash, which keeps what
 * the key leaves in it (a copy of the key, the states hashed from it, the
 * last output) until crypto_hmac_forget. */
int crypto_hmac(int h, const uint8_t *key, size_t klen, const uint8_t *p, size_t n, uint8_t *out);
/* Wipes what the calling thread's crypto_hmac calls left in its cached
 * contexts, by keying them again with the empty key; nothing to do (a flag
 * test) when no crypto_hmac ran since the last call. Whoever derives secrets
 * calls it when a derivation ends: the TLS engine as each of its public
 * functions returns, so no secret of a connection outlives the call that
 * used it (SECURITY.md). */
void crypto_hmac_forget(void);
/* RFC 5869. */
int crypto_hkdf_extract(int h, const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
                        size_t ikmlen, uint8_t *out);
int crypto_hkdf_expand(int h, const uint8_t *prk, size_t prklen, const uint8_t *info,
                       size_t infolen, uint8_t *out, size_t outlen);

/* ---- AEAD for the record layer: suite is a MOAT_AEAD_* number. */
typedef struct moat_aead moat_aead;
size_t crypto_aead_key_len(uint16_t suite); /* 0 when unknown */
int crypto_suite_hash(uint16_t suite);      /* MOAT_HASH_* or -1 */
moat_aead *crypto_aead_new(uint16_t suite, int encrypt, const uint8_t *key);
/* out receives inlen bytes of ciphertext then the 16-byte tag. out may be in. */
int crypto_aead_seal(moat_aead *a, const uint8_t nonce[12], const uint8_t *aad, size_t aadlen,
                     const uint8_t *in, size_t inlen, uint8_t *out);
/* The same for in followed by tail (the record's inner content type):
 * the caller need not join them (a small in is copied into out and
 * sealed there). out is in (sealed in place) or does not overlap it. */
int crypto_aead_seal_tail(moat_aead *a, const uint8_t nonce[12], const uint8_t *aad, size_t aadlen,
                          const uint8_t *in, size_t inlen, const uint8_t *tail, size_t taillen,
                          uint8_t *out);
/* A new key for the same suite, keeping the cipher context. */
int crypto_aead_rekey(moat_aead *a, uint16_t suite, const uint8_t *key);
/* in holds ciphertext then tag (inlen >= 16); out receives inlen-16 bytes.
 * Returns 0, or -1 when authentication fails. */
int crypto_aead_open(moat_aead *a, const uint8_t nonce[12], const uint8_t *aad, size_t aadlen,
                     const uint8_t *in, size_t inlen, uint8_t *out);
void crypto_aead_free(moat_aead *a);

/* ---- ephemeral key exchange for a MOAT_KEX_* group: ECDHE (RFC 8446
 * 4.2.8.2) and the hybrid X25519MLKEM768, a key encapsulation, behind one
 * interface. The client makes a key (crypto_kex_new) and sends its share
 * (crypto_kex_pub); the server answers that share (crypto_kex_respond) with
 * its own share and the secret; the client finishes with the server's
 * share (crypto_kex_derive). For ECDHE both shares are public keys and both
 * steps are a Diffie-Hellman; for the hybrid (draft-ietf-tls-ecdhe-mlkem
 * 4.1) the client's share is the ML-KEM-768 encapsulation key (1184
 * bytes) then an X25519 key (32), the server's the ML-KEM ciphertext
 * (1088) then its X25519 key (32), and the secret the ML-KEM shared secret
 * then the X25519 one (64 bytes). */
#define MOAT_KEX_SHARE_MAX 1216 /* the hybrid client share, the longest */
#define MOAT_KEX_SECRET_MAX 64  /* the hybrid secret, the longest */
typedef struct moat_kex moat_kex;
int crypto_kex_supported(uint16_t group);
/* The length of the client's share in group (0 when unknown). */
size_t crypto_kex_pub_len(uint16_t group);
/* The length of the server's share in group (0 when unknown). */
size_t crypto_kex_server_share_len(uint16_t group);
moat_kex *crypto_kex_new(uint16_t group);
/* For known-answer tests: an X25519 key from its raw private key. */
moat_kex *crypto_kex_from_private(uint16_t group, const uint8_t *priv, size_t len);
/* Writes the client's share as TLS encodes it (raw X25519, uncompressed
 * point, or ek || X25519 key); out holds MOAT_KEX_SHARE_MAX bytes. */
int crypto_kex_pub(const moat_kex *k, uint8_t *out, size_t *len);
/* Client: the secret from the server's share (ECDH, or decapsulation and
 * ECDH). A share of the wrong length or an invalid key gives
 * MOAT_ERR_ALERT(illegal_parameter). out holds MOAT_KEX_SECRET_MAX bytes. */
int crypto_kex_derive(moat_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *out,
                      size_t *outlen);
/* Server: answers the client's share in group with a fresh key of ours
 * (ECDHE) or an encapsulation to its key (the hybrid): our share into
 * share (MOAT_KEX_SHARE_MAX bytes), the secret into secret
 * (MOAT_KEX_SECRET_MAX). A client share of the wrong length, an
 * encapsulation key failing the modulus check of FIPS 203 7.2 or an
 * invalid point gives MOAT_ERR_ALERT(illegal_parameter); every
 * intermediate secret is wiped, the secret too on failure. */
int crypto_kex_respond(uint16_t group, const uint8_t *client_share, size_t len, uint8_t *share,
                       size_t *sharelen, uint8_t *secret, size_t *secretlen);
void crypto_kex_free(moat_kex *k);

/* ---- ML-KEM-768 (FIPS 203), the key encapsulation of the X25519MLKEM768
 * group: libcrypto's when it has one (OpenSSL 3.5 and later; the Makefile
 * probes), moat's own otherwise (mlkem.c). dk and k are secrets: the
 * caller wipes them. */
#define MOAT_MLKEM768_EK_LEN 1184
#define MOAT_MLKEM768_DK_LEN 2400
#define MOAT_MLKEM768_CT_LEN 1088
#define MOAT_MLKEM768_SS_LEN 32
/* Which ML-KEM this build uses, in words, for `moat version`. */
const char *crypto_mlkem_impl(void);
/* Algorithm 19 ML-KEM.KeyGen: ek (1184 bytes) and dk (2400) from fresh
 * randomness. Returns 0 or MOAT_ERR_INTERNAL. */
int crypto_mlkem768_keygen(uint8_t *ek, uint8_t *dk);
/* Algorithm 20 ML-KEM.Encaps to the peer's ek: ct (1088 bytes) and k (32).
 * An ek of the wrong length or failing the modulus check (7.2) gives
 * MOAT_ERR_ALERT(illegal_parameter). */
int crypto_mlkem768_encaps(const uint8_t *ek, size_t eklen, uint8_t *ct, uint8_t *k);
/* Algorithm 21 ML-KEM.Decaps of the peer's ct with our dk: k (32 bytes).
 * A ct of the wrong length gives MOAT_ERR_ALERT(illegal_parameter); a dk
 * failing the hash check of 7.3, MOAT_ERR_ARG. Any other ct gives a k
 * (implicit rejection: a wrong ct is no error, its k matches no one's). */
int crypto_mlkem768_decaps(const uint8_t *dk, const uint8_t *ct, size_t ctlen, uint8_t *k);
/* The same with the randomness given, for known-answer tests: Algorithm
 * 16 ML-KEM.KeyGen_internal(d, z) and 17 ML-KEM.Encaps_internal(ek, m). */
int crypto_mlkem768_keygen_internal(const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                                    uint8_t *dk);
int crypto_mlkem768_encaps_internal(const uint8_t *ek, size_t eklen, const uint8_t m[32],
                                    uint8_t *ct, uint8_t *k);

/* ---- our certificate and private key */
typedef struct moat_cred moat_cred;
int crypto_cred_load(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
                     moat_cred **out, char *err, size_t errlen);
void crypto_cred_free(moat_cred *c);
size_t crypto_cred_chain_len(const moat_cred *c);
const uint8_t *crypto_cred_chain_der(const moat_cred *c, size_t i, size_t *len);
/* Whether the certificate's key can sign with this scheme. */
int crypto_cred_can_sign(const moat_cred *c, uint16_t scheme);
/* Whether a SAN DNS name of the leaf matches host (wildcards per RFC 6125). */
int crypto_cred_matches_name(const moat_cred *c, const char *host);
/* Calls fn with each SAN DNS name of the leaf (as written, not
 * NUL-terminated), in order, until fn returns non-zero; returns that, or
 * 0. The names are what crypto_cred_matches_name compares against. */
int crypto_cred_each_name(const moat_cred *c, int (*fn)(void *arg, const char *name, size_t len),
                          void *arg);
/* sig must hold 1024 bytes; *siglen is set. */
int crypto_cred_sign(const moat_cred *c, uint16_t scheme, const uint8_t *msg, size_t msglen,
                     uint8_t *sig, size_t *siglen);

/* Verifies sig over msg with the public key of the DER certificate.
 * Returns 0, MOAT_ERR_ALERT(illegal_parameter) when the scheme does not fit
 * the key, MOAT_ERR_ALERT(decrypt_error) when the signature is wrong,
 * MOAT_ERR_ALERT(bad_certificate) when the certificate cannot be parsed. */
int crypto_verify_sig(const uint8_t *cert_der, size_t cert_len, uint16_t scheme, const uint8_t *msg,
                      size_t msglen, const uint8_t *sig, size_t siglen);
/* The same for TLS 1.2, where an ECDSA scheme names the hash and not the
 * curve (RFC 5246 7.4.1.4.1): ecdsa_secp256r1_sha256 over a P-384 key. */
int crypto_verify_sig12(const uint8_t *cert_der, size_t cert_len, uint16_t scheme,
                        const uint8_t *msg, size_t msglen, const uint8_t *sig, size_t siglen);

/* ---- trust and chain validation */
typedef struct moat_trust moat_trust;
/* Roots the caller chose (--cacert, --capath, --client-ca): the
 * certificates of PEM text; none is an error. */
moat_trust *crypto_trust_new(const char *pem, size_t len, char *err, size_t errlen);
/* The system's roots: the certificates and CRLs of PEM text the caller
 * read from the files crypto_trust_default_paths names (crypto/ opens no
 * file). Held to 112-bit security, as Chromium holds chains to public
 * roots; none at all is allowed (every server is then refused, as with
 * an empty system store). NULL only when out of memory. */
moat_trust *crypto_trust_new_system(const char *pem, size_t len, char *err, size_t errlen);
void crypto_trust_free(moat_trust *t);
/* Where libcrypto's build says the system trust store is, for the caller
 * to read: the environment variables that override it (SSL_CERT_FILE,
 * SSL_CERT_DIR; the directory may be a ':'-separated list) and the
 * defaults (/usr/lib/ssl/cert.pem and /usr/lib/ssl/certs on Debian; the
 * directory holds certificates by subject hash, HASH.N, and CRLs,
 * HASH.rN). Names only: nothing is read. */
struct crypto_trust_paths {
    const char *file_env, *dir_env, *file, *dir;
};
void crypto_trust_default_paths(struct crypto_trust_paths *p);
/* Adds CRLs (PEM, several allowed, or one DER); from then on revocation
 * is checked: the leaf always (a missing CRL for its issuer refuses the
 * chain, as curl --crlfile does), and each intermediate whose issuer's CRL
 * was given (a revoked intermediate refuses the chain; one whose issuer
 * has no CRL here is not refused for that). */
int crypto_trust_add_crl(moat_trust *t, const char *data, size_t len, char *err, size_t errlen);
/* What crypto_verify_chain found, in words. */
typedef struct moat_verdict {
    char reason[600]; /* why the chain was refused ("its certificate expired on
                         2026-01-01"); "" when it was not */
    const char *code; /* the browser's name for the refusal ("NET::ERR_CERT_DATE_INVALID") */
    char staple[300]; /* why a stapled OCSP answer was ignored ("it is about another
                         certificate"); "" when none came or it was used */
} moat_verdict;

/* Validates the chain (leaf first, the rest in any order) for serverAuth,
 * the host name or IP address, at time `now`; client: for clientAuth, with
 * no host. Any certificate of the trust store is an anchor for a server's
 * chain (partial chains); a client's must reach a root. Either way a leaf
 * whose keyUsage lacks digitalSignature is refused (RFC 8446 4.4.2.2).
 * ocsp: a stapled DER OCSP response for the leaf, checked once the chain
 * verifies: one that is signed for this certificate and says revoked
 * refuses it; one that is unusable (another certificate's, badly signed,
 * stale) is ignored and v->staple says why. Returns 0 or the alert to send;
 * v is always filled in. */
int crypto_verify_chain(moat_trust *t, const uint8_t *const *ders, const size_t *lens, size_t n,
                        const char *host, int64_t now, int client, const uint8_t *ocsp,
                        size_t ocsp_len, moat_verdict *v);

/* How long a stapled OCSP answer without nextUpdate is believed, from
 * its thisUpdate; older ones are ignored as stale (as browsers cap them). */
#define MOAT_OCSP_MAX_AGE ((int64_t)7 * 86400)

/* A stapled DER OCSP response in words for -v ("good, this update
 * 2026-01-01, next update 2026-01-08", or "stale, ignored: ..."), judged
 * at now. Returns 0, or MOAT_ERR_FILE when it is not a successful
 * response (out says so). */
int crypto_ocsp_describe(const uint8_t *der, size_t len, int64_t now, char *out, size_t n);

/* Until when a DER OCSP response may be stapled: its nextUpdate, or 7 days
 * after its thisUpdate when it has none (0 when it has neither);
 * MOAT_ERR_FILE when it is not a successful OCSP response. */
int crypto_ocsp_next_update(const uint8_t *der, size_t len, int64_t *next);
/* The subject of a DER certificate, RFC 2253 ("CN=alice,O=Example"). */
int crypto_x509_subject(const uint8_t *der, size_t len, char *out, size_t n);
/* Who a DER client certificate names, for logs and the proxy: its first
 * email address SAN, else its first URI SAN (what `moat ca issue --client`
 * and mkcert put there for people and workloads), else its subject as
 * crypto_x509_subject writes it. A SAN is taken only when it is printable
 * ASCII without spaces that cannot be mistaken for a subject (an email
 * address without '=' or ','; a URI starting with scheme ':') and fits in
 * out. Returns 0, or MOAT_ERR_INTERNAL when nothing fits or it does not
 * parse. */
int crypto_x509_identity(const uint8_t *der, size_t len, char *out, size_t n);
/* When a DER certificate expires: its notAfter, in seconds since the
 * epoch. 0, or MOAT_ERR_INTERNAL when it does not parse. */
int crypto_x509_not_after(const uint8_t *der, size_t len, int64_t *out);

#endif
