/* Key schedule (RFC 8446 7.1-7.3) and per-record AEAD protection (5.2-5.3). */
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
    int r = ks_expand_label(h, d->secret, "key", NULL, 0, key, kl);
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

int rl_seal(tls_dir *d, uint8_t type, const uint8_t *data, size_t len, moat_buf *out)
{
    if (len > TLS_MAX_PLAIN) return MOAT_ERR_ARG;
    size_t body = d->aead ? len + 1 + 16 : len;
    int r = moat_buf_reserve(out, 5 + body);
    if (r) return r;
    uint8_t *h = out->base + out->len;
    h[0] = d->aead ? 23 : type; /* opaque_type is application_data */
    h[1] = 3;
    h[2] = 3;
    h[3] = (uint8_t)(body >> 8);
    h[4] = (uint8_t)body;
    if (d->aead) {
        if (d->seq == UINT64_MAX) return MOAT_ERR_ALERT(MOAT_ALERT_INTERNAL_ERROR);
        uint8_t nonce[12];
        make_nonce(d, nonce);
        /* Encrypted straight from the caller's bytes, the type after them. */
        r = crypto_aead_seal_tail(d->aead, nonce, h, 5, data, len, &type, 1, h + 5);
        moat_wipe(nonce, sizeof nonce); /* the first one is the IV itself */
        if (r) return r;
        d->seq++;
    } else {
        memmove(h + 5, data, len);
    }
    out->len += 5 + body;
    return 0;
}

int rl_open(tls_dir *d, const uint8_t *hdr, const uint8_t *body, size_t bodylen, uint8_t *out,
            uint8_t *type, size_t *len)
{
    uint8_t nonce[12];
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
