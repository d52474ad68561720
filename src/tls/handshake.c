/* The handshake steps both roles share (RFC 8446 4, 7): the transcript,
 * queued messages, the key schedule's stages, Finished, the key log. The
 * client (client.c), the server (server.c), certificates (cert.c) and
 * tickets (ticket.c) call down into it; it calls only the record layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls/internal.h"

/* 4.1.3: the special random of a HelloRetryRequest, SHA-256("HelloRetryRequest"). */
const uint8_t tls_hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* The CertificateVerify schemes we offer and accept, in our preference order. */
const uint16_t tls_sigschemes[] = {
    MOAT_SIG_ECDSA_SECP256R1_SHA256, MOAT_SIG_ED25519,
    MOAT_SIG_ECDSA_SECP384R1_SHA384, MOAT_SIG_RSA_PSS_RSAE_SHA256,
    MOAT_SIG_RSA_PSS_RSAE_SHA384,    MOAT_SIG_RSA_PSS_RSAE_SHA512,
};
const size_t tls_nsigschemes = sizeof tls_sigschemes / sizeof tls_sigschemes[0];

const struct tls_text tls_no_text;

struct tls_text *tls_text(moat_tls *t)
{
    if (!t->tx) t->tx = calloc(1, sizeof *t->tx);
    return t->tx;
}

void tls_session_free(tls_session *s)
{
    if (!s) return;
    free(s->chain);
    moat_wipe(s, sizeof *s);
    free(s);
}

void tls_hs_free(moat_tls *t)
{
    struct hs *h = t->hs;
    if (!h) return;
    crypto_hash_free(h->transcript);
    moat_buf_free(&h->ch);
    moat_buf_free(&h->queue);
    moat_buf_free(&h->peer_certs);
    moat_buf_free(&h->raw);
    crypto_kex_free(h->kex);
    crypto_kex_free(h->kex2);
    tls_session_free(h->psk);
    moat_wipe(h, sizeof *h);
    free(h);
    t->hs = NULL;
}

int64_t tls_now(const moat_tls *t)
{
    if (t->cfg->clock) return t->cfg->clock(t->cfg->clock_arg);
    return (int64_t)time(NULL);
}

int tls_set_suite(moat_tls *t, uint16_t suite)
{
    int h = ks_suite_hash(suite);
    if (h < 0) return ALERT(ILLEGAL_PARAMETER);
    t->suite = suite;
    t->hash = h;
    t->hlen = crypto_hash_len(h);
    return 0;
}

int tls_transcript_start(moat_tls *t)
{
    if (!t->hs->transcript && !(t->hs->transcript = crypto_hash_new(t->hash)))
        return MOAT_ERR_NOMEM;
    return 0;
}

int tls_transcript_add(moat_tls *t, const uint8_t *msg, size_t len)
{
    /* TLS 1.2 signs the messages themselves in CertificateVerify
     * (7.4.8), not their hash: they are kept while one is due. */
    if (t->hs->keep_raw) {
        int r = moat_buf_append(&t->hs->raw, msg, len);
        if (r) return r;
    }
    return crypto_hash_update(t->hs->transcript, msg, len);
}

int tls_transcript_hash(moat_tls *t, uint8_t *out)
{
    return crypto_hash_peek(t->hs->transcript, out);
}

int tls_queue_hs(moat_tls *t, const moat_buf *msg)
{
    tls_observe(t, MOAT_EV_HS_SENT, msg->base, msg->len, msg->base[0]);
    int r = tls_transcript_add(t, msg->base, msg->len);
    if (!r) r = moat_buf_append(&t->hs->queue, msg->base, msg->len);
    return r;
}

int tls_queue_written(moat_tls *t, wr_t *w, moat_buf *m)
{
    int e = wr_finish(w);
    if (!e) e = tls_queue_hs(t, m);
    moat_buf_free(m);
    return e;
}

void tls_wr_alpn_chosen(wr_t *w, const char *alpn)
{
    wr_u16(w, EXT_ALPN);
    wr_open(w, 2);
    wr_open(w, 2); /* protocol_name_list: the one chosen */
    wr_open(w, 1);
    wr_bytes(w, alpn, strlen(alpn));
    wr_close(w);
    wr_close(w);
    wr_close(w);
}

void tls_keylog(moat_tls *t, const char *label, const uint8_t *secret)
{
    /* The NSS key log format: label, client_random, secret, in hex. The
     * caller's callback writes it where it likes (client/ and server/
     * append it to SSLKEYLOGFILE); the engine opens no file. */
    if (!t->cfg->keylog || !t->hs) return;
    char line[64 + 1 + 64 + 1 + 2 * MOAT_HASH_MAX + 2];
    size_t n = (size_t)snprintf(line, sizeof line, "%s ", label);
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%02x", t->hs->random[i]);
    line[n++] = ' ';
    for (size_t i = 0; i < t->hlen; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%02x", secret[i]);
    line[n++] = '\n';
    line[n] = 0;
    t->cfg->keylog(t->cfg->keylog_arg, line, n);
    moat_wipe(line, sizeof line);
}

int tls_next_ext(rd_t *exts, ext_seen *s, uint16_t *type, rd_t *body)
{
    if (s->err || exts->n == 0) return 0;
    *type = rd_u16(exts);
    *body = rd_vec(exts, 2);
    if (exts->err) {
        s->err = ALERT(DECODE_ERROR);
        return 0;
    }
    if (tls_set16_add(&s->types, *type)) {
        s->err = ALERT(ILLEGAL_PARAMETER); /* 4.2: one of each type */
        return 0;
    }
    s->n++;
    return 1;
}

int tls_install_hs_secrets(moat_tls *t, const uint8_t *psk, const uint8_t *ecdhe, size_t elen)
{
    struct hs *h = t->hs;
    uint8_t th[MOAT_HASH_MAX];
    int r = tls_transcript_hash(t, th);
    if (!r) r = ks_early_secret(t->hash, psk, t->hlen, h->secret);
    if (!r) r = ks_next_stage(t->hash, h->secret, ecdhe, elen, h->secret);
    if (!r) r = ks_derive_secret(t->hash, h->secret, "c hs traffic", th, h->c_hs);
    if (!r) r = ks_derive_secret(t->hash, h->secret, "s hs traffic", th, h->s_hs);
    if (r) return r;
    h->stage = KS_HANDSHAKE;
    tls_keylog(t, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", h->c_hs);
    tls_keylog(t, "SERVER_HANDSHAKE_TRAFFIC_SECRET", h->s_hs);
    /* Each side first changes the key of what it does next: the server
     * writes its flight, the client reads it. */
    const uint8_t *ours = t->is_server ? h->s_hs : h->c_hs;
    const uint8_t *theirs = t->is_server ? h->c_hs : h->s_hs;
    if (t->is_server) r = tls_set_keys(t, 1, ours, "handshake");
    if (!r) r = tls_set_keys(t, 0, theirs, "handshake");
    if (!r && !t->is_server) r = tls_set_keys(t, 1, ours, "handshake");
    return r;
}

int tls_derive_app_secrets(moat_tls *t)
{
    uint8_t th[MOAT_HASH_MAX];
    struct hs *h = t->hs;
    if (h->stage != KS_HANDSHAKE) return MOAT_ERR_INTERNAL;
    int r = tls_transcript_hash(t, th);
    if (!r) r = ks_next_stage(t->hash, h->secret, NULL, 0, h->secret);
    if (r) return r;
    h->stage = KS_MASTER;
    r = ks_derive_secret(t->hash, h->secret, "c ap traffic", th, h->c_ap);
    if (!r) r = ks_derive_secret(t->hash, h->secret, "s ap traffic", th, h->s_ap);
    if (!r) r = ks_derive_secret(t->hash, h->secret, "exp master", th, t->exporter);
    if (!r) {
        tls_keylog(t, "CLIENT_TRAFFIC_SECRET_0", h->c_ap);
        tls_keylog(t, "SERVER_TRAFFIC_SECRET_0", h->s_ap);
        tls_keylog(t, "EXPORTER_SECRET", t->exporter);
    }
    return r;
}

int tls_install_app_keys(moat_tls *t, int write)
{
    struct hs *h = t->hs;
    const uint8_t *secret = (write != 0) == (t->is_server != 0) ? h->s_ap : h->c_ap;
    return tls_set_keys(t, write, secret, "application");
}

int tls_resumption_secret(moat_tls *t)
{
    uint8_t th[MOAT_HASH_MAX];
    if (t->hs->stage != KS_MASTER) return MOAT_ERR_INTERNAL;
    int r = tls_transcript_hash(t, th);
    return r ? r : ks_derive_secret(t->hash, t->hs->secret, "res master", th, t->resumption);
}

int tls_read_finished(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    uint8_t th[MOAT_HASH_MAX], expect[MOAT_HASH_MAX];
    if (len - 4 != t->hlen) return ALERT(DECODE_ERROR);
    int e = tls_transcript_hash(t, th);
    if (!e) e = ks_finished(t->hash, t->is_server ? h->c_hs : h->s_hs, th, expect);
    if (e) return e;
    if (moat_ct_memcmp(expect, msg + 4, t->hlen)) return ALERT(DECRYPT_ERROR);
    return tls_transcript_add(t, msg, len);
}

int tls_queue_finished(moat_tls *t)
{
    struct hs *h = t->hs;
    uint8_t th[MOAT_HASH_MAX], mac[MOAT_HASH_MAX];
    int e = tls_transcript_hash(t, th);
    if (!e) e = ks_finished(t->hash, t->is_server ? h->s_hs : h->c_hs, th, mac);
    if (e) return e;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_FINISHED);
    wr_open(&w, 3);
    wr_bytes(&w, mac, t->hlen);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

int tls_transcript_message_hash(moat_tls *t, const uint8_t *ch1, size_t len)
{
    uint8_t mh[4 + MOAT_HASH_MAX] = {HS_MESSAGE_HASH, 0, 0, (uint8_t)t->hlen};
    int r = crypto_hash(t->hash, ch1, len, mh + 4);
    if (!r) r = tls_transcript_start(t);
    if (!r) r = tls_transcript_add(t, mh, 4 + t->hlen);
    return r;
}

int tls_binder_transcript(moat_tls *t, int h, const uint8_t *ch, size_t len, uint8_t *out)
{
    if (!t->did_hrr) return crypto_hash(h, ch, len, out);
    moat_hash_ctx *d = crypto_hash_dup(t->hs->transcript);
    int r =
        !d || crypto_hash_update(d, ch, len) || crypto_hash_peek(d, out) ? MOAT_ERR_INTERNAL : 0;
    crypto_hash_free(d);
    return r;
}

int tls_alpn_has(const uint8_t *list, size_t listlen, const uint8_t *p, size_t n)
{
    for (rd_t l = rd_init(list, listlen); l.n;) {
        rd_t one = rd_vec(&l, 1);
        if (l.err) return 0;
        if (one.n == n && !memcmp(one.p, p, n)) return 1;
    }
    return 0;
}

const char *tls_alpn_name(const moat_tls_config *c, const uint8_t *p, size_t n)
{
    /* alpn_names keeps each name where its entry of alpn starts. */
    for (size_t off = 0; off < c->alpn_len; off += 1 + c->alpn[off])
        if (c->alpn[off] == n && !memcmp(c->alpn + off + 1, p, n)) return c->alpn_names + off;
    return NULL;
}

int tls_set_str(char **dst, const uint8_t *p, size_t n)
{
    free(*dst);
    *dst = NULL;
    if (!n) return 0;
    if (!(*dst = malloc(n + 1))) return MOAT_ERR_NOMEM;
    memcpy(*dst, p, n);
    (*dst)[n] = '\0';
    return 0;
}

int tls_cv_content(moat_tls *t, int server, uint8_t *out, size_t *len)
{
    /* 4.4.3: 64 spaces, the context string, a zero byte, the transcript hash. */
    static const char sctx[] = "TLS 1.3, server CertificateVerify";
    static const char cctx[] = "TLS 1.3, client CertificateVerify";
    memset(out, 0x20, 64);
    memcpy(out + 64, server ? sctx : cctx, sizeof sctx); /* includes the 0 */
    *len = 64 + sizeof sctx + t->hlen;
    return tls_transcript_hash(t, out + 64 + sizeof sctx);
}

/* crypto/ names its algorithms itself; the values are the TLS code points,
 * so negotiated numbers pass straight through. */
_Static_assert(MOAT_AEAD_AES128_GCM == MOAT_TLS_AES_128_GCM_SHA256, "suite numbering");
_Static_assert(MOAT_AEAD_AES256_GCM == MOAT_TLS_AES_256_GCM_SHA384, "suite numbering");
_Static_assert(MOAT_AEAD_CHACHA20_POLY1305 == MOAT_TLS_CHACHA20_POLY1305_SHA256, "suite numbering");
_Static_assert(MOAT_KEX_X25519 == MOAT_GROUP_X25519, "group numbering");
_Static_assert(MOAT_KEX_P256 == MOAT_GROUP_SECP256R1, "group numbering");
_Static_assert(MOAT_KEX_P384 == MOAT_GROUP_SECP384R1, "group numbering");
_Static_assert(MOAT_KEX_X25519MLKEM768 == MOAT_GROUP_X25519MLKEM768, "group numbering");
_Static_assert(MOAT_SIGN_ECDSA_P256_SHA256 == MOAT_SIG_ECDSA_SECP256R1_SHA256, "scheme numbering");
_Static_assert(MOAT_SIGN_ECDSA_P384_SHA384 == MOAT_SIG_ECDSA_SECP384R1_SHA384, "scheme numbering");
_Static_assert(MOAT_SIGN_RSA_PSS_SHA256 == MOAT_SIG_RSA_PSS_RSAE_SHA256, "scheme numbering");
_Static_assert(MOAT_SIGN_RSA_PSS_SHA384 == MOAT_SIG_RSA_PSS_RSAE_SHA384, "scheme numbering");
_Static_assert(MOAT_SIGN_RSA_PSS_SHA512 == MOAT_SIG_RSA_PSS_RSAE_SHA512, "scheme numbering");
_Static_assert(MOAT_SIGN_ED25519 == MOAT_SIG_ED25519, "scheme numbering");
