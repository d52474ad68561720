/* The TLS 1.2 handshake steps both roles share (RFC 5246 7.4, 8.1;
 * RFC 7627): the master secret and key block, ChangeCipherSpec and the
 * key change it marks, Finished, and the 1.2 form of Certificate. The
 * client (client.c) and the servers (server12.c) call down into it; it
 * calls handshake.c, record.c and keysched.c. */
#include <string.h>

#include "tls/internal.h"

const uint8_t tls12_downgrade[8] = {0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01};

/* 7.4.1.4.1: RSA-PSS first, then ECDSA; PKCS#1 v1.5 last, used only
 * where the peer offers nothing else for an RSA key. */
const uint16_t tls12_sigschemes[] = {
    MOAT_SIG_RSA_PSS_RSAE_SHA256,    MOAT_SIG_RSA_PSS_RSAE_SHA384,    MOAT_SIG_RSA_PSS_RSAE_SHA512,
    MOAT_SIG_ECDSA_SECP256R1_SHA256, MOAT_SIG_ECDSA_SECP384R1_SHA384, MOAT_SIGN_RSA_PKCS1_SHA256,
    MOAT_SIGN_RSA_PKCS1_SHA384,      MOAT_SIGN_RSA_PKCS1_SHA512,
};
const size_t tls12_nsigschemes = sizeof tls12_sigschemes / sizeof tls12_sigschemes[0];

size_t tls12_suites(const moat_tls_config *c, uint16_t out[6])
{
    static const uint16_t by_aead[3][2] = {
        {TLS12_ECDHE_ECDSA_AES128_GCM_SHA256, TLS12_ECDHE_RSA_AES128_GCM_SHA256},
        {TLS12_ECDHE_ECDSA_AES256_GCM_SHA384, TLS12_ECDHE_RSA_AES256_GCM_SHA384},
        {TLS12_ECDHE_ECDSA_CHACHA20_POLY1305, TLS12_ECDHE_RSA_CHACHA20_POLY1305}};
    size_t n = 0;
    if (c->min_version > TLS_V12) return 0;
    for (size_t i = 0; i < c->nsuites; i++)
        for (int k = 0; k < 2; k++)
            out[n++] = by_aead[(c->suites[i] & 0xff) - 1][k];
    return n;
}

int tls12_offers(const moat_tls_config *c, uint16_t s)
{
    uint16_t list[6];
    size_t n = tls12_suites(c, list);
    for (size_t i = 0; i < n; i++)
        if (list[i] == s) return 1;
    return 0;
}

int tls12_key_block(moat_tls *t)
{
    struct hs *h = t->hs;
    uint16_t aead = ks12_suite_aead(t->suite);
    int r = ks12_keys(t->hash, aead, h->ms, h->random, h->srandom, 0, h->key12[0], h->iv12[0]);
    if (!r) r = ks12_keys(t->hash, aead, h->ms, h->random, h->srandom, 1, h->key12[1], h->iv12[1]);
    return r;
}

int tls12_derive(moat_tls *t, const uint8_t *pms, size_t pmslen)
{
    struct hs *h = t->hs;
    uint8_t session_hash[MOAT_HASH_MAX];
    int r = tls_transcript_hash(t, session_hash);
    if (!r) r = ks12_ems(t->hash, pms, pmslen, session_hash, h->ms);
    if (!r) r = tls12_key_block(t);
    if (!r && t->cfg->keylog && t->hs) {
        /* The NSS key log's 1.2 line: CLIENT_RANDOM, client_random, master secret. */
        size_t hl = t->hlen;
        t->hlen = TLS12_MS_LEN;
        tls_keylog(t, "CLIENT_RANDOM", h->ms);
        t->hlen = hl;
    }
    return r;
}

int tls12_send_ccs(moat_tls *t, moat_buf *out)
{
    /* 7.1: one byte of value 1, under the current (no) write key. */
    static const uint8_t one = 1;
    struct hs *h = t->hs;
    int w = t->is_server ? 1 : 0;
    int r = tls_seal(t, CT_CCS, &one, 1, out);
    if (!r) r = rl12_set_keys(&t->wr, ks12_suite_aead(t->suite), 1, h->key12[w], h->iv12[w]);
    if (!r) tls_observe(t, MOAT_EV_KEYS, (const uint8_t *)"application", 11, 1);
    return r;
}

int tls12_recv_ccs(moat_tls *t)
{
    struct hs *h = t->hs;
    if (!h || !h->expect_ccs) return ALERT(UNEXPECTED_MESSAGE);
    int w = t->is_server ? 0 : 1; /* the peer's keys */
    int r = rl12_set_keys(&t->rd, ks12_suite_aead(t->suite), 0, h->key12[w], h->iv12[w]);
    if (r) return r;
    tls_observe(t, MOAT_EV_KEYS, (const uint8_t *)"application", 11, 0);
    h->expect_ccs = 0;
    t->state = h->next_state;
    return 0;
}

int tls12_queue_finished(moat_tls *t)
{
    uint8_t th[MOAT_HASH_MAX], vd[TLS12_VERIFY_LEN];
    int e = tls_transcript_hash(t, th);
    if (!e) e = ks12_finished(t->hash, t->hs->ms, t->is_server, th, vd);
    if (e) return e;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_FINISHED);
    wr_open(&w, 3);
    wr_bytes(&w, vd, sizeof vd);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

int tls12_read_finished(moat_tls *t, const uint8_t *msg, size_t len)
{
    uint8_t th[MOAT_HASH_MAX], vd[TLS12_VERIFY_LEN];
    if (len != 4 + TLS12_VERIFY_LEN) return ALERT(DECODE_ERROR);
    int e = tls_transcript_hash(t, th);
    if (!e) e = ks12_finished(t->hash, t->hs->ms, !t->is_server, th, vd);
    if (e) return e;
    if (moat_ct_memcmp(vd, msg + 4, TLS12_VERIFY_LEN)) return ALERT(DECRYPT_ERROR);
    return tls_transcript_add(t, msg, len);
}

int tls12_queue_certificate(moat_tls *t, const moat_cred *cred)
{
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CERTIFICATE);
    wr_open(&w, 3);
    wr_open(&w, 3); /* certificate_list */
    for (size_t i = 0; cred && i < crypto_cred_chain_len(cred); i++) {
        size_t dl;
        const uint8_t *der = crypto_cred_chain_der(cred, i, &dl);
        wr_open(&w, 3);
        wr_bytes(&w, der, dl);
        wr_close(&w);
    }
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

int tls12_read_certificate(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    rd_t list = rd_vec(&r, 3);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    while (list.n) {
        rd_t der = rd_vec(&list, 3);
        if (list.err || der.n == 0) return ALERT(DECODE_ERROR);
        if (h->npeer == MAX_PEER_CERTS) return ALERT(BAD_CERTIFICATE);
        tls_observe(t, MOAT_EV_PEER_CERT, der.p, der.n, (int)h->npeer);
        h->cert_off[h->npeer] = h->peer_certs.len;
        h->cert_len[h->npeer++] = der.n;
        int e = moat_buf_append(&h->peer_certs, der.p, der.n);
        if (e) return e;
    }
    return 0;
}
