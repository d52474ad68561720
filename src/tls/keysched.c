/* Key schedule (RFC 8446 7.1-7.3) and per-record AEAD protection (5.2-5.3);
 * for TLS 1.2 the PRF (RFC 5246 5), the extended master secret (RFC 7627),
 * the key block (6.3) and AEAD records (6.2.3.3, RFC 5288, RFC 7905). */
#include <string.h>

#include "tls/keysched.h"
#include "moat/error.h"

int ks_expand_label(int h, const uint8_t *secret, const char *label, const uint8_t *ctx,
                    size_t ctxlen, uint8_t *out, size_t outlen)
{
    /* struct { uint16 length; opaque label<7..255> = "tls13 " + Label;
     *          opaque context<0..255>; } HkdfLabel; */
    uint8_t info[2 + 1 + 255 + 1 + 255];
    size_t ll = strlen(label);
    if (ll > 249 || ctxlen > 255 || outlen > 0xffff) return MOAT_ERR_ARG;
    size_t n = 0;
    info[n++] = (uint8_t)(outlen >> 8);
    info[n++] = (uint8_t)outlen;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = (uint8_t)ctxlen;
    if (ctxlen) memcpy(info + n, ctx, ctxlen);
    n += ctxlen;
    return crypto_hkdf_expand(h, secret, crypto_hash_len(h), info, n, out, outlen);
}

int ks_derive_secret(int h, const uint8_t *secret, const char *label, const uint8_t *thash,
                     uint8_t *out)
{
    size_t hl = crypto_hash_len(h);
    return ks_expand_label(h, secret, label, thash, hl, out, hl);
}

int ks_early_secret(int h, const uint8_t *psk, size_t psklen, uint8_t *out)
{
    uint8_t zeros[MOAT_HASH_MAX] = {0};
    if (!psk) {
        psk = zeros;
        psklen = crypto_hash_len(h);
    }
    return crypto_hkdf_extract(h, NULL, 0, psk, psklen, out);
}

int ks_next_stage(int h, const uint8_t *prev, const uint8_t *ikm, size_t ikmlen, uint8_t *out)
{
    size_t hl = crypto_hash_len(h);
    uint8_t empty[MOAT_HASH_MAX], derived[MOAT_HASH_MAX], zeros[MOAT_HASH_MAX] = {0};
    int r = crypto_hash(h, "", 0, empty);
    if (!r) r = ks_derive_secret(h, prev, "derived", empty, derived);
    if (!r) r = crypto_hkdf_extract(h, derived, hl, ikm ? ikm : zeros, ikm ? ikmlen : hl, out);
    moat_wipe(derived, sizeof derived);
    return r;
}

int ks_finished(int h, const uint8_t *base_key, const uint8_t *thash, uint8_t *out)
{
    size_t hl = crypto_hash_len(h);
    uint8_t fk[MOAT_HASH_MAX];
    int r = ks_expand_label(h, base_key, "finished", NULL, 0, fk, hl);
    if (!r) r = crypto_hmac(h, fk, hl, thash, hl, out);
    moat_wipe(fk, sizeof fk);
    return r;
}

int ks_update_secret(int h, uint8_t *secret)
{
    uint8_t next[MOAT_HASH_MAX];
    size_t hl = crypto_hash_len(h);
    int r = ks_expand_label(h, secret, "traffic upd", NULL, 0, next, hl);
    if (!r) memcpy(secret, next, hl);
    moat_wipe(next, sizeof next);
    return r;
}

uint16_t ks12_suite_aead(uint16_t suite)
{
    switch (suite) {
    case TLS12_ECDHE_ECDSA_AES128_GCM_SHA256:
    case TLS12_ECDHE_RSA_AES128_GCM_SHA256:
        return MOAT_AEAD_AES128_GCM;
    case TLS12_ECDHE_ECDSA_AES256_GCM_SHA384:
    case TLS12_ECDHE_RSA_AES256_GCM_SHA384:
        return MOAT_AEAD_AES256_GCM;
    case TLS12_ECDHE_RSA_CHACHA20_POLY1305:
    case TLS12_ECDHE_ECDSA_CHACHA20_POLY1305:
        return MOAT_AEAD_CHACHA20_POLY1305;
    default:
        return 0;
    }
}

int ks_suite_hash(uint16_t suite)
{
    uint16_t aead = ks12_suite_aead(suite);
    return crypto_suite_hash(aead ? aead : suite);
}

int ks12_suite_ecdsa(uint16_t suite)
{
    return suite == TLS12_ECDHE_ECDSA_AES128_GCM_SHA256 ||
           suite == TLS12_ECDHE_ECDSA_AES256_GCM_SHA384 ||
           suite == TLS12_ECDHE_ECDSA_CHACHA20_POLY1305;
}

int ks12_prf(int h, const uint8_t *secret, size_t slen, const char *label, const uint8_t *seed1,
             size_t s1len, const uint8_t *seed2, size_t s2len, uint8_t *out, size_t outlen)
{
    /* P_hash: A(0) = seed, A(i) = HMAC(secret, A(i-1)); the output is
     * HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ... where
     * seed is label + seed (the PRF's). buf holds A(i) then that seed. */
    size_t hl = crypto_hash_len(h), ll = strlen(label);
    uint8_t buf[MOAT_HASH_MAX + 64 + 128], a[MOAT_HASH_MAX], blk[MOAT_HASH_MAX];
    if (ll > 64 || s1len + s2len > 128 || outlen > 255) return MOAT_ERR_ARG;
    uint8_t *seed = buf + hl;
    memcpy(seed, label, ll);
    if (s1len) memcpy(seed + ll, seed1, s1len);
    if (s2len) memcpy(seed + ll + s1len, seed2, s2len);
    size_t sl = ll + s1len + s2len;
    int r = crypto_hmac(h, secret, slen, seed, sl, a);
    for (size_t off = 0; !r && off < outlen; off += hl) {
        memcpy(buf, a, hl);
        r = crypto_hmac(h, secret, slen, buf, hl + sl, blk);
        if (!r) memcpy(out + off, blk, outlen - off < hl ? outlen - off : hl);
        if (!r) r = crypto_hmac(h, secret, slen, a, hl, a);
    }
    moat_wipe(buf, sizeof buf);
    moat_wipe(a, sizeof a);
    moat_wipe(blk, sizeof blk);
    return r;
}

int ks12_ems(int h, const uint8_t *pms, size_t pmslen, const uint8_t *session_hash,
             uint8_t ms[TLS12_MS_LEN])
{
    return ks12_prf(h, pms, pmslen, "extended master secret", session_hash, crypto_hash_len(h),
                    NULL, 0, ms, TLS12_MS_LEN);
}

static size_t ks12_iv_len(uint16_t aead)
{
    return aead == MOAT_AEAD_CHACHA20_POLY1305 ? 12 : 4;
}

int ks12_keys(int h, uint16_t aead, const uint8_t ms[TLS12_MS_LEN], const uint8_t crandom[32],
              const uint8_t srandom[32], int server, uint8_t key[32], uint8_t iv[12])
{
    /* 6.3: key_block = PRF(master_secret, "key expansion",
     * server_random + client_random); no MAC keys with an AEAD. */
    size_t kl = crypto_aead_key_len(aead), il = ks12_iv_len(aead);
    uint8_t kb[2 * 32 + 2 * 12];
    if (!kl) return MOAT_ERR_INTERNAL;
    int r = ks12_prf(h, ms, TLS12_MS_LEN, "key expansion", srandom, 32, crandom, 32, kb,
                     2 * kl + 2 * il);
    if (!r) {
        memcpy(key, kb + (server ? kl : 0), kl);
        memset(iv, 0, 12);
        memcpy(iv, kb + 2 * kl + (server ? il : 0), il);
    }
    moat_wipe(kb, sizeof kb);
    return r;
}

int ks12_finished(int h, const uint8_t ms[TLS12_MS_LEN], int server, const uint8_t *thash,
                  uint8_t out[TLS12_VERIFY_LEN])
{
    return ks12_prf(h, ms, TLS12_MS_LEN, server ? "server finished" : "client finished", thash,
                    crypto_hash_len(h), NULL, 0, out, TLS12_VERIFY_LEN);
}

void ks12_nonce(uint16_t aead, const uint8_t iv[12], uint64_t seq, const uint8_t *explicit_nonce,
                uint8_t nonce[12])
{
    if (aead == MOAT_AEAD_CHACHA20_POLY1305) {
        /* RFC 7905 2: as TLS 1.3 does, the sequence number padded to 12
         * bytes, XORed with the IV. */
        memcpy(nonce, iv, 12);
        for (int i = 0; i < 8; i++)
            nonce[11 - i] ^= (uint8_t)(seq >> (8 * i));
        return;
    }
    /* RFC 5288 3: salt (the 4-byte implicit IV) then the explicit nonce. */
    memcpy(nonce, iv, 4);
    memcpy(nonce + 4, explicit_nonce, 8);
}

int rl12_set_keys(tls_dir *d, uint16_t aead, int encrypt, const uint8_t *key, const uint8_t iv[12])
{
    size_t kl = crypto_aead_key_len(aead);
    if (!kl) return MOAT_ERR_INTERNAL;
    moat_aead *a = crypto_aead_new(aead, encrypt, key);
    if (!a) return MOAT_ERR_INTERNAL;
    crypto_aead_free(d->aead);
    d->aead = a;
    memcpy(d->iv, iv, 12);
    memset(d->secret, 0, sizeof d->secret);
    memcpy(d->secret, key, kl); /* the key itself: rl_unpark needs nothing more */
    d->seq = 0;
    d->epoch++;
    d->suite = aead;
    d->encrypt = (uint8_t)encrypt;
    d->parked = 0;
    d->v12 = 1;
    return 0;
}

int rl_set_secret(tls_dir *d, uint16_t suite, int encrypt, const uint8_t *secret)
{
    int h = crypto_suite_hash(suite);
    size_t kl = crypto_aead_key_len(suite), hl;
    if (h < 0 || !kl) return MOAT_ERR_INTERNAL;
    hl = crypto_hash_len(h);
    uint8_t key[32];
    int r = ks_expand_label(h, secret, "key", NULL, 0, key, kl);
    if (!r) r = ks_expand_label(h, secret, "iv", NULL, 0, d->iv, 12);
    if (!r && d->aead && !crypto_aead_rekey(d->aead, suite, key)) {
        /* same suite: the cipher context is kept, only its key changes */
    } else if (!r) {
        moat_aead *a = crypto_aead_new(suite, encrypt, key);
        if (!a) {
            r = MOAT_ERR_INTERNAL;
        } else {
            crypto_aead_free(d->aead);
            d->aead = a;
        }
    }
    if (!r) {
        d->seq = 0;
        d->epoch++;
        d->suite = suite;
        d->encrypt = (uint8_t)encrypt;
        d->parked = 0;
        d->v12 = 0;
        if (secret != d->secret) memcpy(d->secret, secret, hl);
    }
    moat_wipe(key, sizeof key);
    return r;
}

void rl_park(tls_dir *d)
{
    if (!d->aead) return;
    crypto_aead_free(d->aead);
    d->aead = NULL;
    d->parked = 1;
}

int rl_unpark(tls_dir *d)
{
    if (!d->parked) return 0;
    int h = crypto_suite_hash(d->suite);
    size_t kl = crypto_aead_key_len(d->suite);
    if (h < 0 || !kl) return MOAT_ERR_INTERNAL;
    uint8_t key[32];
    int r = 0;
    if (d->v12)
        memcpy(key, d->secret, kl);
    else
        r = ks_expand_label(h, d->secret, "key", NULL, 0, key, kl);
    moat_aead *a = r ? NULL : crypto_aead_new(d->suite, d->encrypt, key);
    moat_wipe(key, sizeof key);
    if (!a) return r ? r : MOAT_ERR_NOMEM;
    d->aead = a;
    d->parked = 0;
    return 0;
}

void rl_clear(tls_dir *d)
{
    crypto_aead_free(d->aead);
    moat_wipe(d, sizeof *d);
}

static void make_nonce(const tls_dir *d, uint8_t nonce[12])
{
    /* 5.3: the sequence number, left-padded to 12 bytes, XORed with the IV. */
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

/* RFC 5246 6.2.3.3: additional_data = seq_num + type + version + length. */
static void aad12(const tls_dir *d, uint8_t type, size_t len, uint8_t aad[13])
{
    for (int i = 0; i < 8; i++)
        aad[i] = (uint8_t)(d->seq >> (56 - 8 * i));
    aad[8] = type;
    aad[9] = 3;
    aad[10] = 3;
    aad[11] = (uint8_t)(len >> 8);
    aad[12] = (uint8_t)len;
}

/* 1.2's explicit nonce (RFC 5288 3): 8 bytes for GCM, none for ChaCha20. */
static size_t explicit_len(const tls_dir *d)
{
    return d->suite == MOAT_AEAD_CHACHA20_POLY1305 ? 0 : 8;
}

size_t rl_prefix(const tls_dir *d)
{
    return 5 + (d->aead && d->v12 ? explicit_len(d) : 0);
}

size_t rl_suffix(const tls_dir *d)
{
    return d->aead ? (d->v12 ? 16 : 1 + 16) : 0;
}

static int seal12(tls_dir *d, uint8_t type, uint8_t *h, const uint8_t *data, size_t len)
{
    size_t ex = explicit_len(d), body = ex + len + 16;
    uint8_t aad[13], nonce[12], explicit_nonce[8];
    for (int i = 0; i < 8; i++)
        explicit_nonce[i] = (uint8_t)(d->seq >> (56 - 8 * i));
    h[0] = type;
    h[1] = 3;
    h[2] = 3;
    h[3] = (uint8_t)(body >> 8);
    h[4] = (uint8_t)body;
    memcpy(h + 5, explicit_nonce, ex); /* RFC 5288 3: the sequence number */
    if (data != h + 5 + ex) memmove(h + 5 + ex, data, len);
    aad12(d, type, len, aad);
    ks12_nonce(d->suite, d->iv, d->seq, explicit_nonce, nonce);
    int r = crypto_aead_seal(d->aead, nonce, aad, 13, h + 5 + ex, len, h + 5 + ex);
    moat_wipe(nonce, sizeof nonce);
    return r;
}

static int open12(tls_dir *d, const uint8_t *hdr, const uint8_t *body, size_t bodylen, uint8_t *out,
                  uint8_t *type, size_t *len)
{
    size_t ex = d->suite == MOAT_AEAD_CHACHA20_POLY1305 ? 0 : 8;
    uint8_t aad[13], nonce[12];
    if (bodylen < ex + 16) return MOAT_ERR_ALERT(MOAT_ALERT_BAD_RECORD_MAC);
    size_t n = bodylen - ex - 16;
    /* 6.2.3: a TLSCompressed.length over 2^14 is record_overflow. */
    if (n > TLS_MAX_PLAIN) return MOAT_ERR_ALERT(MOAT_ALERT_RECORD_OVERFLOW);
    aad12(d, hdr[0], n, aad);
    ks12_nonce(d->suite, d->iv, d->seq, body, nonce);
    int bad = crypto_aead_open(d->aead, nonce, aad, 13, body + ex, bodylen - ex, out);
    moat_wipe(nonce, sizeof nonce);
    if (bad) return MOAT_ERR_ALERT(MOAT_ALERT_BAD_RECORD_MAC);
    d->seq++;
    *type = hdr[0];
    *len = n;
    return 0;
}

int rl_seal_at(tls_dir *d, uint8_t type, uint8_t *h, const uint8_t *data, size_t len)
{
    if (len > TLS_MAX_PLAIN) return MOAT_ERR_ARG;
    if (d->aead && d->seq == UINT64_MAX) return MOAT_ERR_ALERT(MOAT_ALERT_INTERNAL_ERROR);
    int r = 0;
    if (d->aead && d->v12) {
        r = seal12(d, type, h, data, len);
    } else {
        size_t body = len + rl_suffix(d);
        h[0] = d->aead ? 23 : type; /* opaque_type is application_data */
        h[1] = 3;
        h[2] = 3;
        h[3] = (uint8_t)(body >> 8);
        h[4] = (uint8_t)body;
        if (d->aead) {
            uint8_t nonce[12];
            make_nonce(d, nonce);
            /* Encrypted from the caller's bytes (or in place), the type
             * after them. */
            r = crypto_aead_seal_tail(d->aead, nonce, h, 5, data, len, &type, 1, h + 5);
            moat_wipe(nonce, sizeof nonce); /* the first one is the IV itself */
        } else if (data != h + 5) {
            memmove(h + 5, data, len);
        }
    }
    if (!r && d->aead) d->seq++;
    return r;
}

int rl_seal(tls_dir *d, uint8_t type, const uint8_t *data, size_t len, moat_buf *out)
{
    if (len > TLS_MAX_PLAIN) return MOAT_ERR_ARG;
    size_t n = rl_prefix(d) + len + rl_suffix(d);
    int r = moat_buf_reserve(out, n);
    if (!r) r = rl_seal_at(d, type, out->base + out->len, data, len);
    if (!r) out->len += n;
    return r;
}

int rl_open(tls_dir *d, const uint8_t *hdr, const uint8_t *body, size_t bodylen, uint8_t *out,
            uint8_t *type, size_t *len)
{
    uint8_t nonce[12];
    if (d->v12) return open12(d, hdr, body, bodylen, out, type, len);
    if (bodylen < 17) return MOAT_ERR_ALERT(MOAT_ALERT_BAD_RECORD_MAC);
    make_nonce(d, nonce);
    int bad = crypto_aead_open(d->aead, nonce, hdr, 5, body, bodylen, out);
    moat_wipe(nonce, sizeof nonce); /* the first one is the IV itself */
    if (bad) return MOAT_ERR_ALERT(MOAT_ALERT_BAD_RECORD_MAC);
    d->seq++;
    /* 5.4: the whole TLSInnerPlaintext (content, type and padding) is at
     * most 2^14 + 1 bytes; padding does not buy room past that. */
    size_t n = bodylen - 16;
    if (n > TLS_MAX_PLAIN + 1) return MOAT_ERR_ALERT(MOAT_ALERT_RECORD_OVERFLOW);
    /* 5.4: the content type is the last non-zero byte; zeros are padding. */
    while (n > 0 && out[n - 1] == 0)
        n--;
    if (n == 0) return MOAT_ERR_ALERT(MOAT_ALERT_UNEXPECTED_MESSAGE);
    *type = out[n - 1];
    *len = n - 1;
    return 0;
}
