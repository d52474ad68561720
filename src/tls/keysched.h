/* The TLS 1.3 key schedule (RFC 8446 section 7) and record protection
 * state for one direction (section 5.2, 5.3). */
#ifndef MOAT_TLS_KEYSCHED_H
#define MOAT_TLS_KEYSCHED_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "moat/buf.h"

/* HKDF-Expand-Label(Secret, Label, Context, Length), 7.1; label without
 * the "tls13 " prefix. */
int ks_expand_label(int h, const uint8_t *secret, const char *label, const uint8_t *ctx,
                    size_t ctxlen, uint8_t *out, size_t outlen);
/* Derive-Secret(Secret, Label, Messages) given Transcript-Hash(Messages). */
int ks_derive_secret(int h, const uint8_t *secret, const char *label, const uint8_t *thash,
                     uint8_t *out);
/* Early Secret from a PSK (NULL: zeros). */
int ks_early_secret(int h, const uint8_t *psk, size_t psklen, uint8_t *out);
/* Next stage: Extract(Derive-Secret(prev, "derived", ""), ikm); ikm NULL
 * means hlen zeros (for the Master Secret). */
int ks_next_stage(int h, const uint8_t *prev, const uint8_t *ikm, size_t ikmlen, uint8_t *out);
/* verify_data = HMAC(finished_key, thash), finished_key from base_key. */
int ks_finished(int h, const uint8_t *base_key, const uint8_t *thash, uint8_t *out);
/* application_traffic_secret_N+1 (7.2). */
int ks_update_secret(int h, uint8_t *secret);

/* ---- TLS 1.2 (RFC 5246), the AEAD suites only. */

/* The 1.2 suites' code points (RFC 5289, RFC 7905). */
#define TLS12_ECDHE_ECDSA_AES128_GCM_SHA256 0xC02B
#define TLS12_ECDHE_ECDSA_AES256_GCM_SHA384 0xC02C
#define TLS12_ECDHE_RSA_AES128_GCM_SHA256 0xC02F
#define TLS12_ECDHE_RSA_AES256_GCM_SHA384 0xC030
#define TLS12_ECDHE_RSA_CHACHA20_POLY1305 0xCCA8
#define TLS12_ECDHE_ECDSA_CHACHA20_POLY1305 0xCCA9
/* The AEAD (a MOAT_AEAD_* number, whose hash is the PRF's) of a 1.2
 * suite; 0 when it is not one of ours. */
uint16_t ks12_suite_aead(uint16_t suite);
/* The hash of a suite of either version (1.2: the PRF's); -1 when unknown. */
int ks_suite_hash(uint16_t suite);
/* 1 when a 1.2 suite authenticates with an ECDSA key, 0 with RSA. */
int ks12_suite_ecdsa(uint16_t suite);
/* 5: PRF(secret, label, seed) = P_hash(secret, label + seed), the seed
 * the concatenation of seed1 and seed2 (either may be empty, 128 bytes
 * at most together); outlen up to 255 bytes. */
int ks12_prf(int h, const uint8_t *secret, size_t slen, const char *label, const uint8_t *seed1,
             size_t s1len, const uint8_t *seed2, size_t s2len, uint8_t *out, size_t outlen);
/* RFC 7627 4: the extended master secret, PRF(pre_master_secret,
 * "extended master secret", session_hash)[0..47]. */
#define TLS12_MS_LEN 48
int ks12_ems(int h, const uint8_t *pms, size_t pmslen, const uint8_t *session_hash,
             uint8_t ms[TLS12_MS_LEN]);
/* 6.3: the key block of an AEAD suite (RFC 5288 3, RFC 7905 2):
 * client_write_key, server_write_key, client_write_IV, server_write_IV;
 * the IVs are 4 bytes (GCM's implicit salt) or 12 (ChaCha20-Poly1305).
 * Fills the key and IV of one side (server 0: the client's). */
int ks12_keys(int h, uint16_t aead, const uint8_t ms[TLS12_MS_LEN], const uint8_t crandom[32],
              const uint8_t srandom[32], int server, uint8_t key[32], uint8_t iv[12]);
/* 7.4.9: verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]. */
#define TLS12_VERIFY_LEN 12
int ks12_finished(int h, const uint8_t ms[TLS12_MS_LEN], int server, const uint8_t *thash,
                  uint8_t out[TLS12_VERIFY_LEN]);
/* The per-record nonce: RFC 5288 3 (GCM: the 4-byte salt, then the
 * 8-byte explicit nonce, here the sequence number) or RFC 7905 2
 * (ChaCha20-Poly1305: the 12-byte IV XORed with the sequence number). */
void ks12_nonce(uint16_t aead, const uint8_t iv[12], uint64_t seq, const uint8_t *explicit_nonce,
                uint8_t nonce[12]);

/* Records longer than these are refused with record_overflow (5.1, 5.2). */
#define TLS_MAX_PLAIN 16384
#define TLS_MAX_CIPHER (16384 + 256)

/* Protection state of one direction. */
typedef struct {
    moat_aead *aead; /* NULL while records are plaintext */
    uint8_t iv[12];
    uint64_t seq;
    uint8_t secret[MOAT_HASH_MAX]; /* the traffic secret in use */
    unsigned epoch;                /* counts key changes */
    uint16_t suite;                /* what aead was made for */
    uint8_t encrypt;
    uint8_t parked; /* aead released while idle; rl_unpark makes it again */
    uint8_t v12;    /* TLS 1.2 records (RFC 5246 6.2.3.3): secret holds the key itself */
} tls_dir;

/* Installs keys derived from a traffic secret (7.3); seq restarts at 0. */
/* TLS 1.2: installs a write key and IV (from ks12_keys) for the AEAD
 * aead; seq restarts at 0, and records take the 1.2 form (rl_seal,
 * rl_open): explicit nonce for GCM, AAD seq || type || version || length. */
int rl12_set_keys(tls_dir *d, uint16_t aead, int encrypt, const uint8_t *key, const uint8_t iv[12]);
int rl_set_secret(tls_dir *d, uint16_t suite, int encrypt, const uint8_t *secret);
void rl_clear(tls_dir *d);
/* An idle connection's cipher context (about 1.2 KB with OpenSSL's GCM)
 * is released; the traffic secret, IV and sequence number stay, and
 * rl_unpark derives the key again and makes a new context. Both return 0
 * or an error; either is a no-op when there is nothing to do. */
void rl_park(tls_dir *d);
int rl_unpark(tls_dir *d);
/* Appends one protected record (TLSInnerPlaintext of type, no padding) to
 * out; len <= TLS_MAX_PLAIN. With no key, appends a plaintext record.
 * With 1.2 keys, a 1.2 record: the real type in the header, for GCM the
 * 8-byte explicit nonce before the ciphertext. */
int rl_seal(tls_dir *d, uint8_t type, const uint8_t *data, size_t len, moat_buf *out);
/* What a record under d puts before its plaintext (the header, and 1.2
 * GCM's explicit nonce) and after it (1.3's inner type, the tag). */
size_t rl_prefix(const tls_dir *d);
size_t rl_suffix(const tls_dir *d);
/* Writes one record as rl_seal does, at rec (room for rl_prefix + len +
 * rl_suffix bytes), from data: elsewhere, or already in place at
 * rec + rl_prefix(d) (then it is sealed where it lies, no copy). */
int rl_seal_at(tls_dir *d, uint8_t type, uint8_t *rec, const uint8_t *data, size_t len);
/* Opens a protected record (5-byte header then body), writing the inner
 * plaintext to out (room for bodylen bytes). Sets *type and *len.
 * Returns 0, MOAT_ERR_ALERT(bad_record_mac), (unexpected_message) for an
 * all-zero inner plaintext, or (record_overflow) for an inner plaintext
 * over 2^14 + 1 bytes, padding included (5.4). With 1.2 keys the type is
 * the header's and there is no padding; a plaintext over 2^14 bytes is
 * record_overflow (RFC 5246 6.2.3). */
int rl_open(tls_dir *d, const uint8_t *hdr, const uint8_t *body, size_t bodylen, uint8_t *out,
            uint8_t *type, size_t *len);

#endif
