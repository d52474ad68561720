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
} tls_dir;

/* Installs keys derived from a traffic secret (7.3); seq restarts at 0. */
int rl_set_secret(tls_dir *d, uint16_t suite, int encrypt, const uint8_t *secret);
void rl_clear(tls_dir *d);
/* An idle connection's cipher context (about 1.2 KB with OpenSSL's GCM)
 * is released; the traffic secret, IV and sequence number stay, and
 * rl_unpark derives the key again and makes a new context. Both return 0
 * or an error; either is a no-op when there is nothing to do. */
void rl_park(tls_dir *d);
int rl_unpark(tls_dir *d);
/* Appends one protected record (TLSInnerPlaintext of type, no padding) to
 * out; len <= TLS_MAX_PLAIN. With no key, appends a plaintext record. */
int rl_seal(tls_dir *d, uint8_t type, const uint8_t *data, size_t len, moat_buf *out);
/* Opens a protected record (5-byte header then body), writing the inner
 * plaintext to out (room for bodylen bytes). Sets *type and *len.
 * Returns 0, MOAT_ERR_ALERT(bad_record_mac), (unexpected_message) for an
 * all-zero inner plaintext, or (record_overflow) for an inner plaintext
 * over 2^14 + 1 bytes, padding included (5.4). */
int rl_open(tls_dir *d, const uint8_t *hdr, const uint8_t *body, size_t bodylen, uint8_t *out,
            uint8_t *type, size_t *len);

#endif
