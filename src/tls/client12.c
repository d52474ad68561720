/* The TLS 1.2 client (RFC 5246 7.3), the safe subset: ECDHE with AEAD
 * suites, the extended master secret (RFC 7627) and secure renegotiation
 * indication (RFC 5746) required of the server, tickets (RFC 5077),
 * OCSP in CertificateStatus (RFC 6066 8), client certificates. client.c
 * sends the ClientHello and reads the ServerHello's version; the rest is
 * here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

static int refuse(moat_tls *t, int alert, const char *why)
{
    struct tls_text *tx = tls_text(t);
    if (tx) snprintf(tx->refusal, sizeof tx->refusal, "%s", why);
    return alert;
}

/* The ServerHello's extensions (7.4.1.4: only ones we sent). */
static int read_extensions(moat_tls *t, rd_t exts, int *ems, int *reneg)
{
    struct hs *h = t->hs;
    ext_seen seen = {.n = 0};
    uint16_t type;
    rd_t body;
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        switch (type) {
        case EXT_EXTENDED_MASTER_SECRET:
            if (body.n) return ALERT(DECODE_ERROR);
            *ems = 1;
            break;
        case EXT_RENEGOTIATION_INFO: {
            rd_t rc = rd_vec(&body, 1);
            if (body.err || body.n) return ALERT(DECODE_ERROR);
            if (rc.n) return ALERT(HANDSHAKE_FAILURE); /* RFC 5746 3.4 */
            *reneg = 1;
            break;
        }
        case EXT_EC_POINT_FORMATS:
            break;
        case EXT_SESSION_TICKET:
            if (body.n) return ALERT(DECODE_ERROR);
            h->ticket12 = 1;
            break;
        case EXT_STATUS_REQUEST:
            if (body.n || !t->cfg->verify) return ALERT(UNSUPPORTED_EXTENSION);
            h->status12 = 1;
            break;
        case EXT_SERVER_NAME:
            if (body.n) return ALERT(DECODE_ERROR);
            break;
        case EXT_ALPN: {
            rd_t list = rd_vec(&body, 2);
            rd_t proto = rd_vec(&list, 1);
            if (!t->cfg->alpn_len) return ALERT(UNSUPPORTED_EXTENSION);
            if (body.err || body.n || list.err || list.n || proto.n == 0)
                return ALERT(DECODE_ERROR);
            if (!tls_alpn_has(t->cfg->alpn, t->cfg->alpn_len, proto.p, proto.n))
                return ALERT(ILLEGAL_PARAMETER);
            t->alpn = tls_alpn_name(t->cfg, proto.p, proto.n);
            break;
        }
        default:
            return ALERT(UNSUPPORTED_EXTENSION);
        }
    }
    return seen.err;
}

int tls12_client_server_hello(moat_tls *t, const uint8_t *msg, size_t len, rd_t sid, uint16_t suite,
                              rd_t exts)
{
    struct hs *h = t->hs;
    int ems = 0, reneg = 0;
    t->version = TLS_V12;
    t->key_limit = UINT64_MAX; /* 1.2 has no KeyUpdate */
    crypto_kex_free(h->kex);
    crypto_kex_free(h->kex2);
    h->kex = h->kex2 = NULL;
    t->group = 0;
    int e = read_extensions(t, exts, &ems, &reneg);
    if (e) return e;
    if (!ems)
        return refuse(t, ALERT(HANDSHAKE_FAILURE),
                      "the server does not support the extended master secret (RFC 7627), which "
                      "TLS 1.2 requires here");
    if (!reneg)
        return refuse(t, ALERT(HANDSHAKE_FAILURE),
                      "the server does not support secure renegotiation (RFC 5746)");
    if ((e = tls_set_suite(t, suite))) return e;
    /* 7.4.8: our CertificateVerify would sign the messages themselves. */
    h->keep_raw = t->cfg->ncreds > 0;
    if ((e = tls_transcript_start(t)) || (e = tls_transcript_add(t, h->ch.base, h->ch.len)) ||
        (e = tls_transcript_add(t, msg, len)))
        return e;
    moat_buf_free(&h->ch);
    /* RFC 5077 3.4: the server echoes our session id when it takes the ticket. */
    tls_session *p = h->psk;
    if (p && ks12_suite_aead(p->suite) && sid.n == h->sidlen && sid.n &&
        !memcmp(sid.p, h->sid, sid.n)) {
        if (p->suite != suite) return ALERT(ILLEGAL_PARAMETER);
        t->resumed = 1;
        h->keep_raw = 0;
        memcpy(h->ms, p->psk, TLS12_MS_LEN);
        if ((e = tls12_key_block(t))) return e;
        h->next_state = CLIENT12_WAIT_FINISHED;
        h->expect_ccs = !h->ticket12;
        t->state = h->ticket12 ? CLIENT12_WAIT_TICKET : CLIENT12_WAIT_CCS;
        return 0;
    }
    t->state = CLIENT12_WAIT_CERT;
    return 0;
}

static int verify_chain(moat_tls *t, const rd_t *staple)
{
    int e = 0;
    if (t->cfg->verify && (e = tls_verify_peer_chain(t, t->cfg->trust, TX(t)->server_name, staple)))
        return e;
    t->ocsp_stapled = t->cfg->verify && !staple->err && !TX(t)->verdict.staple[0];
    return 0;
}

static int recv_certificate(moat_tls *t, const uint8_t *msg, size_t len)
{
    int e = tls12_read_certificate(t, msg, len);
    if (e) return e;
    if (t->hs->npeer == 0) return ALERT(DECODE_ERROR);
    if (!t->hs->status12) {
        rd_t none = {NULL, 0, 1};
        if ((e = verify_chain(t, &none))) return e;
    }
    t->state = t->hs->status12 ? CLIENT12_WAIT_STATUS : CLIENT12_WAIT_SKE;
    return tls_transcript_add(t, msg, len);
}

/* RFC 6066 8: the staple, checked with the chain. */
static int recv_certificate_status(moat_tls *t, const uint8_t *msg, size_t len)
{
    rd_t r = rd_init(msg + 4, len - 4);
    uint8_t type = rd_u8(&r);
    rd_t resp = rd_vec(&r, 3);
    if (r.err || r.n || type != 1 || resp.n == 0) return ALERT(DECODE_ERROR);
    tls_observe(t, MOAT_EV_PEER_STAPLE, resp.p, resp.n, 0);
    int e = verify_chain(t, &resp);
    if (e) return e;
    t->state = CLIENT12_WAIT_SKE;
    return tls_transcript_add(t, msg, len);
}

static int offered_group12(const moat_tls *t, uint16_t g)
{
    for (size_t i = 0; i < t->cfg->ngroups; i++)
        if (t->cfg->groups[i] == g && g != MOAT_GROUP_X25519MLKEM768) return 1;
    return 0;
}

/* 7.4.3, RFC 8422 5.4: the server's key, its signature over the randoms
 * and the parameters checked with the certificate's key; our key in the
 * same group and the premaster secret. */
static int recv_server_key_exchange(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    uint8_t signed_data[64 + 4 + 255];
    rd_t r = rd_init(msg + 4, len - 4);
    const uint8_t *params = r.p;
    uint8_t curve_type = rd_u8(&r);
    uint16_t group = rd_u16(&r);
    rd_t point = rd_vec(&r, 1);
    size_t plen = (size_t)(r.p - params);
    uint16_t scheme = rd_u16(&r);
    rd_t sig = rd_vec(&r, 2);
    if (r.err || r.n || point.n == 0) return ALERT(DECODE_ERROR);
    if (curve_type != 3 || !offered_group12(t, group)) return ALERT(ILLEGAL_PARAMETER);
    int ok = 0;
    for (size_t i = 0; i < tls12_nsigschemes; i++)
        ok |= tls12_sigschemes[i] == scheme;
    /* The suite names the key: ECDSA schemes with ECDSA suites only. */
    int ecdsa_scheme = (scheme & 0xff) == 3;
    if (!ok || ecdsa_scheme != ks12_suite_ecdsa(t->suite)) return ALERT(ILLEGAL_PARAMETER);
    memcpy(signed_data, h->random, 32);
    memcpy(signed_data + 32, h->srandom, 32);
    memcpy(signed_data + 64, params, plen);
    int e = crypto_verify_sig12(h->peer_certs.base, h->cert_len[0], scheme, signed_data, 64 + plen,
                                sig.p, sig.n);
    if (e) return e;
    t->group = group;
    t->sigscheme = scheme;
    if (!(h->kex = crypto_kex_new(group))) return MOAT_ERR_NOMEM;
    uint8_t pms[MOAT_KEX_SECRET_MAX];
    size_t pmslen = 0;
    /* The secret waits in h->pms until the transcript reaches
     * ClientKeyExchange (RFC 7627 4). */
    e = crypto_kex_derive(h->kex, point.p, point.n, pms, &pmslen);
    if (!e) {
        memcpy(h->pms, pms, pmslen);
        h->pmslen = pmslen;
    }
    moat_wipe(pms, sizeof pms);
    if (e) return e;
    t->state = CLIENT12_WAIT_CR_DONE;
    return tls_transcript_add(t, msg, len);
}

/* 7.4.4: what the server accepts for our certificate. */
static int recv_certificate_request(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    rd_t types = rd_vec(&r, 1);
    rd_t sigs = rd_vec(&r, 2);
    rd_t cas = rd_vec(&r, 2);
    if (r.err || r.n || types.n == 0 || sigs.n < 2 || sigs.n % 2) return ALERT(DECODE_ERROR);
    (void)cas;
    while (sigs.n) {
        uint16_t s = rd_u16(&sigs);
        if (h->ncr_sigs < sizeof h->cr_sigs / sizeof h->cr_sigs[0]) h->cr_sigs[h->ncr_sigs++] = s;
    }
    h->cert_requested = 1;
    t->state = CLIENT12_WAIT_DONE;
    return tls_transcript_add(t, msg, len);
}

/* Our certificate (the first configured, when it can sign with a scheme
 * the server accepts; else an empty list), and the scheme for it. */
static const moat_cred *client_cred(moat_tls *t, uint16_t *scheme)
{
    struct hs *h = t->hs;
    const moat_cred *cred = t->cfg->ncreds ? t->cfg->creds[0] : NULL;
    *scheme = 0;
    for (size_t k = 0; cred && k < tls12_nsigschemes && !*scheme; k++)
        for (size_t i = 0; i < h->ncr_sigs && !*scheme; i++)
            if (h->cr_sigs[i] == tls12_sigschemes[k] && crypto_cred_can_sign(cred, h->cr_sigs[i]))
                *scheme = h->cr_sigs[i];
    return *scheme ? cred : NULL;
}

static int queue_client_key_exchange(moat_tls *t)
{
    uint8_t pub[MOAT_KEX_SHARE_MAX];
    size_t publen;
    int e = crypto_kex_pub(t->hs->kex, pub, &publen);
    if (e) return e;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CLIENT_KEY_EXCHANGE);
    wr_open(&w, 3);
    wr_open(&w, 1);
    wr_bytes(&w, pub, publen);
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

/* ServerHelloDone: our flight. Certificate when asked for,
 * ClientKeyExchange, CertificateVerify when we sent a certificate, then
 * ChangeCipherSpec and Finished. */
static int recv_server_hello_done(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    struct hs *h = t->hs;
    if (len != 4) return ALERT(DECODE_ERROR);
    uint16_t scheme = 0;
    const moat_cred *cred = h->cert_requested ? client_cred(t, &scheme) : NULL;
    int e = tls_transcript_add(t, msg, len);
    if (!e && h->cert_requested) e = tls12_queue_certificate(t, cred);
    if (!e) e = queue_client_key_exchange(t);
    if (!e) e = tls12_derive(t, h->pms, h->pmslen);
    moat_wipe(h->pms, sizeof h->pms);
    if (!e && cred) /* 7.4.8: our signature over every message so far. */
        e = tls_queue_cert_verify_over(t, cred, scheme, h->raw.base, h->raw.len);
    h->keep_raw = 0;
    moat_buf_free(&h->raw);
    if (!e) e = tls_flush_hs(t, out);
    if (!e) e = tls12_send_ccs(t, out);
    if (!e) e = tls12_queue_finished(t);
    if (!e) e = tls_flush_hs(t, out);
    if (e) return e;
    h->next_state = CLIENT12_WAIT_FINISHED;
    h->expect_ccs = !h->ticket12;
    t->state = h->ticket12 ? CLIENT12_WAIT_TICKET : CLIENT12_WAIT_CCS;
    return 0;
}

/* RFC 5077 3.3: the ticket, kept as the session to save (the master
 * secret its secret). An empty one: nothing to keep. */
static int recv_new_session_ticket(moat_tls *t, const uint8_t *msg, size_t len)
{
    rd_t r = rd_init(msg + 4, len - 4);
    uint32_t lifetime = rd_uint(&r, 4);
    rd_t ticket = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    int e = tls_transcript_add(t, msg, len);
    if (e) return e;
    t->hs->expect_ccs = 1;
    t->state = CLIENT12_WAIT_CCS;
    if (ticket.n == 0 || ticket.n > sizeof t->session->ticket) return 0;
    if (!t->session && !(t->session = calloc(1, sizeof *t->session))) return MOAT_ERR_NOMEM;
    tls_session *s = t->session;
    s->suite = t->suite;
    s->time_ms = tls_now_ms(t);
    /* 3.3: a hint of 0 says nothing; a day, then, as tickets here last. */
    s->lifetime = lifetime && lifetime <= 604800 ? lifetime : 86400;
    memcpy(s->psk, t->hs->ms, TLS12_MS_LEN);
    s->psklen = TLS12_MS_LEN;
    snprintf(s->sni, sizeof s->sni, "%s", TX(t)->server_name);
    snprintf(s->alpn, sizeof s->alpn, "%s", TLS_STR(t->alpn));
    memcpy(s->ticket, ticket.p, ticket.n);
    s->ticketlen = ticket.n;
    return 0;
}

/* The server's Finished ends a full handshake; a resumed one continues
 * with our ChangeCipherSpec and Finished. */
static int recv_finished(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    int e = tls12_read_finished(t, msg, len);
    if (!e && t->resumed) {
        if (!(e = tls12_send_ccs(t, out)) && !(e = tls12_queue_finished(t)))
            e = tls_flush_hs(t, out);
        /* The resumed session goes on being offered. */
        if (!e && !t->session && t->hs->psk) {
            t->session = t->hs->psk;
            t->hs->psk = NULL;
        }
    }
    if (e) return e;
    t->state = CLIENT_CONNECTED;
    tls_hs_free(t);
    return 0;
}

int tls12_client_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out)
{
    switch ((tls_client_state)t->state) {
    case CLIENT12_WAIT_CERT:
        if (type == HS_CERTIFICATE) return recv_certificate(t, msg, len);
        break;
    case CLIENT12_WAIT_STATUS:
        if (type == HS_CERTIFICATE_STATUS) return recv_certificate_status(t, msg, len);
        if (type == HS_SERVER_KEY_EXCHANGE) { /* RFC 6066 8: the staple may not come */
            rd_t none = {NULL, 0, 1};
            int e = verify_chain(t, &none);
            return e ? e : recv_server_key_exchange(t, msg, len);
        }
        break;
    case CLIENT12_WAIT_SKE:
        if (type == HS_SERVER_KEY_EXCHANGE) return recv_server_key_exchange(t, msg, len);
        break;
    case CLIENT12_WAIT_CR_DONE:
        if (type == HS_CERTIFICATE_REQUEST) return recv_certificate_request(t, msg, len);
        if (type == HS_SERVER_HELLO_DONE) return recv_server_hello_done(t, msg, len, out);
        break;
    case CLIENT12_WAIT_DONE:
        if (type == HS_SERVER_HELLO_DONE) return recv_server_hello_done(t, msg, len, out);
        break;
    case CLIENT12_WAIT_TICKET:
        if (type == HS_NEW_SESSION_TICKET) return recv_new_session_ticket(t, msg, len);
        break;
    case CLIENT12_WAIT_FINISHED:
        if (type == HS_FINISHED) return recv_finished(t, msg, len, out);
        break;
    case CLIENT12_WAIT_CCS: /* only a ChangeCipherSpec (tls12_recv_ccs) */
    case CLIENT_START:
    case CLIENT_CONNECTED:
    case CLIENT_DEAD:
    case CLIENT_WAIT_SH:
    case CLIENT_WAIT_EE:
    case CLIENT_WAIT_CERT_CR:
    case CLIENT_WAIT_CERT:
    case CLIENT_WAIT_CV:
    case CLIENT_WAIT_FINISHED:
        break;
    }
    return ALERT(UNEXPECTED_MESSAGE);
}
