/* Certificate, CertificateRequest and CertificateVerify (RFC 8446 4.3.2,
 * 4.4.2, 4.4.3) for both roles: the server's and, with client
 * authentication, the client's. */
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

int tls_queue_certificate(moat_tls *t, const moat_cred *cred, const uint8_t *ctx, size_t ctxlen,
                          const uint8_t *ocsp, size_t ocsplen)
{
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CERTIFICATE);
    wr_open(&w, 3);
    wr_open(&w, 1); /* certificate_request_context */
    wr_bytes(&w, ctx, ctxlen);
    wr_close(&w);
    wr_open(&w, 3); /* certificate_list */
    for (size_t i = 0; cred && i < crypto_cred_chain_len(cred); i++) {
        size_t dl;
        const uint8_t *der = crypto_cred_chain_der(cred, i, &dl);
        wr_open(&w, 3);
        wr_bytes(&w, der, dl);
        wr_close(&w);
        wr_open(&w, 2); /* extensions */
        if (i == 0 && ocsp) {
            /* 4.4.2.1: the staple rides in the leaf's status_request. */
            wr_u16(&w, EXT_STATUS_REQUEST);
            wr_open(&w, 2);
            wr_u8(&w, 1); /* ocsp */
            wr_open(&w, 3);
            wr_bytes(&w, ocsp, ocsplen);
            wr_close(&w);
            wr_close(&w);
        }
        wr_close(&w);
    }
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

int tls_queue_cert_verify_over(moat_tls *t, const moat_cred *cred, uint16_t scheme,
                               const uint8_t *signed_data, size_t len)
{
    uint8_t sig[1024];
    size_t slen;
    int r = crypto_cred_sign(cred, scheme, signed_data, len, sig, &slen);
    if (r) return r;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CERTIFICATE_VERIFY);
    wr_open(&w, 3);
    wr_u16(&w, scheme);
    wr_open(&w, 2);
    wr_bytes(&w, sig, slen);
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

int tls_queue_cert_verify(moat_tls *t, const moat_cred *cred, uint16_t scheme)
{
    uint8_t content[64 + 34 + MOAT_HASH_MAX];
    size_t clen;
    int r = tls_cv_content(t, t->is_server, content, &clen);
    return r ? r : tls_queue_cert_verify_over(t, cred, scheme, content, clen);
}

int tls_queue_cert_request(moat_tls *t)
{
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CERTIFICATE_REQUEST);
    wr_open(&w, 3);
    wr_u8(&w, 0); /* certificate_request_context: empty in the handshake (4.3.2) */
    wr_open(&w, 2);
    wr_u16(&w, EXT_SIGNATURE_ALGORITHMS);
    wr_open(&w, 2);
    wr_open(&w, 2);
    for (size_t i = 0; i < tls_nsigschemes; i++)
        wr_u16(&w, tls_sigschemes[i]);
    wr_close(&w);
    wr_close(&w);
    wr_close(&w);
    wr_close(&w);
    t->hs->cert_requested = 1;
    return tls_queue_written(t, &w, &m);
}

int tls_read_certificate(moat_tls *t, const uint8_t *msg, size_t len, const uint8_t *ctx,
                         size_t ctxlen, int staple_ok, rd_t *staple)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    rd_t c = rd_vec(&r, 1);
    rd_t list = rd_vec(&r, 3);
    *staple = (rd_t){NULL, 0, 1};
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    if (c.n != ctxlen || (ctxlen && memcmp(c.p, ctx, ctxlen))) return ALERT(ILLEGAL_PARAMETER);
    int e;
    while (list.n) {
        rd_t der = rd_vec(&list, 3);
        rd_t exts = rd_vec(&list, 2);
        if (list.err || der.n == 0) return ALERT(DECODE_ERROR);
        if (h->npeer == MAX_PEER_CERTS) return ALERT(BAD_CERTIFICATE);
        ext_seen seen = {.n = 0};
        uint16_t type;
        rd_t body;
        while (tls_next_ext(&exts, &seen, &type, &body)) {
            /* 4.4.2: only what we asked for; a staple only for the leaf. */
            if (type != EXT_STATUS_REQUEST || !staple_ok || h->npeer != 0)
                return ALERT(UNSUPPORTED_EXTENSION);
            uint8_t st = rd_u8(&body);
            rd_t resp = rd_vec(&body, 3);
            if (body.err || body.n || st != 1 || resp.n == 0) return ALERT(DECODE_ERROR);
            *staple = resp;
            tls_observe(t, MOAT_EV_PEER_STAPLE, resp.p, resp.n, 0);
        }
        if (seen.err) return seen.err;
        tls_observe(t, MOAT_EV_PEER_CERT, der.p, der.n, (int)h->npeer);
        h->cert_off[h->npeer] = h->peer_certs.len;
        h->cert_len[h->npeer++] = der.n;
        if ((e = moat_buf_append(&h->peer_certs, der.p, der.n))) return e;
    }
    return 0;
}

int tls_verify_peer_chain(moat_tls *t, moat_trust *trust, const char *host, const rd_t *staple)
{
    struct hs *h = t->hs;
    const uint8_t *ders[MAX_PEER_CERTS];
    for (size_t i = 0; i < h->npeer; i++)
        ders[i] = h->peer_certs.base + h->cert_off[i];
    struct tls_text *tx = tls_text(t);
    if (!tx) return MOAT_ERR_NOMEM;
    return crypto_verify_chain(trust, ders, h->cert_len, h->npeer, host, tls_now(t), t->is_server,
                               staple->err ? NULL : staple->p, staple->n, &tx->verdict);
}

int tls_keep_client_chain(moat_tls *t)
{
    struct hs *h = t->hs;
    /* tls_verify_peer_chain made t->tx. */
    if (crypto_x509_identity(h->peer_certs.base, h->cert_len[0], t->tx->peer_identity,
                             sizeof t->tx->peer_identity))
        t->tx->peer_identity[0] = 0;
    /* Tickets carry when the identity ends: the first expiry among the
     * certificates the client sent, as the chain stops verifying then
     * (one that does not parse ends it now: such a chain did not verify). */
    t->tx->peer_not_after = INT64_MAX;
    for (size_t i = 0; i < h->npeer; i++) {
        int64_t na;
        if (crypto_x509_not_after(h->peer_certs.base + h->cert_off[i], h->cert_len[i], &na)) na = 0;
        if (na < t->tx->peer_not_after) t->tx->peer_not_after = na;
    }
    /* Kept for the application (a proxy's RFC 9440 Client-Cert). */
    if (!(t->tx->peer_certs = malloc(h->peer_certs.len))) return MOAT_ERR_NOMEM;
    memcpy(t->tx->peer_certs, h->peer_certs.base, h->peer_certs.len);
    t->tx->npeer = h->npeer;
    memcpy(t->tx->peer_off, h->cert_off, sizeof h->cert_off);
    memcpy(t->tx->peer_len, h->cert_len, sizeof h->cert_len);
    return 0;
}

int tls_check_cert_verify(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    uint16_t scheme = rd_u16(&r);
    rd_t sig = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    int ok = 0;
    for (size_t i = 0; i < tls_nsigschemes; i++)
        ok |= tls_sigschemes[i] == scheme;
    if (!ok) return ALERT(ILLEGAL_PARAMETER); /* not one we offered */
    uint8_t content[64 + 34 + MOAT_HASH_MAX];
    size_t clen;
    /* The signer is the peer: the server's context when we are the client. */
    int e = tls_cv_content(t, !t->is_server, content, &clen);
    if (!e)
        e = crypto_verify_sig(h->peer_certs.base, h->cert_len[0], scheme, content, clen, sig.p,
                              sig.n);
    if (e) return e;
    if (!t->is_server) t->sigscheme = scheme;
    moat_buf_free(&h->peer_certs);
    return tls_transcript_add(t, msg, len);
}

/* ---- just enough DER to read a certificate's signature algorithm */

/* The next TLV of r: its tag, its contents in *body and the whole TLV in
 * *whole. 0, or -1 when malformed. */
static int der_next(rd_t *r, uint8_t *tag, rd_t *body, rd_t *whole)
{
    const uint8_t *start = r->p;
    *tag = rd_u8(r);
    size_t len = rd_u8(r);
    if (len & 0x80) {
        size_t k = len & 0x7f;
        if (k == 0 || k > 3) return -1;
        len = rd_uint(r, k);
    }
    const uint8_t *p;
    if (r->err || rd_take(r, len, &p)) return -1;
    *body = rd_init(p, len);
    if (whole) *whole = rd_init(start, (size_t)(r->p - start));
    return 0;
}

static int oid_is(const rd_t *oid, const uint8_t *want, size_t n)
{
    return oid->n == n && !memcmp(oid->p, want, n);
}

uint16_t tls_cert_sig_scheme(const uint8_t *der, size_t len, int *self_signed)
{
    /* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
     * TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber,
     *                               signature, issuer, validity, subject, ... } (RFC 5280) */
    static const uint8_t ecdsa[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04};
    static const uint8_t pkcs1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01};
    static const uint8_t sha2[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02};
    static const uint8_t ed25519[] = {0x2b, 0x65, 0x70}, ed448[] = {0x2b, 0x65, 0x71};
    rd_t r = rd_init(der, len), cert, tbs, alg, oid, params, x, issuer, subject;
    uint8_t tag;
    *self_signed = 0;
    if (der_next(&r, &tag, &cert, NULL) || tag != 0x30 || der_next(&cert, &tag, &tbs, NULL) ||
        tag != 0x30 || der_next(&cert, &tag, &alg, NULL) || tag != 0x30 ||
        der_next(&alg, &tag, &oid, NULL) || tag != 0x06)
        return 0;
    if (der_next(&tbs, &tag, &x, NULL)) return 0;
    if (tag == 0xa0 && der_next(&tbs, &tag, &x, NULL)) return 0; /* version, then serial */
    if (der_next(&tbs, &tag, &x, NULL) || der_next(&tbs, &tag, &x, &issuer) ||
        der_next(&tbs, &tag, &x, NULL) || der_next(&tbs, &tag, &x, &subject))
        return 0;
    *self_signed = issuer.n == subject.n && !memcmp(issuer.p, subject.p, issuer.n);
    if (oid.n == sizeof ecdsa + 2 && !memcmp(oid.p, ecdsa, sizeof ecdsa) && oid.p[6] == 3) {
        static const uint16_t by_hash[] = {0, 0, 0x0403, 0x0503, 0x0603};
        return oid.p[7] < 5 ? by_hash[oid.p[7]] : 0; /* ecdsa-with-SHA256/384/512 */
    }
    if (oid.n == sizeof ecdsa + 1 && !memcmp(oid.p, ecdsa, sizeof ecdsa) && oid.p[6] == 1)
        return 0x0203; /* ecdsa-with-SHA1 */
    if (oid.n == sizeof pkcs1 + 1 && !memcmp(oid.p, pkcs1, sizeof pkcs1)) {
        switch (oid.p[8]) {
        case 5:
            return 0x0201; /* sha1WithRSAEncryption */
        case 11:
            return 0x0401; /* sha256WithRSAEncryption */
        case 12:
            return 0x0501;
        case 13:
            return 0x0601;
        case 10: /* RSASSA-PSS: the hash is in the parameters (RFC 4055) */
            if (der_next(&alg, &tag, &params, NULL) || tag != 0x30) return 0;
            for (size_t i = 0; i + sizeof sha2 < params.n; i++)
                if (!memcmp(params.p + i, sha2, sizeof sha2) && params.p[i + sizeof sha2] >= 1 &&
                    params.p[i + sizeof sha2] <= 3)
                    return (uint16_t)(0x0803 + params.p[i + sizeof sha2]); /* rsa_pss_rsae_* */
            return 0;
        }
        return 0;
    }
    if (oid_is(&oid, ed25519, sizeof ed25519)) return MOAT_SIG_ED25519;
    if (oid_is(&oid, ed448, sizeof ed448)) return 0x0808;
    return 0;
}
