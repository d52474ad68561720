/* The TLS 1.2 server (RFC 5246 7.3), the safe subset: ECDHE with AEAD
 * suites, the extended master secret required (RFC 7627), secure
 * renegotiation indicated and renegotiation refused (RFC 5746), session
 * tickets (RFC 5077) sealed as 1.3's are, OCSP in CertificateStatus
 * (RFC 6066 8). server.c parses the ClientHello and chooses the name and
 * ALPN; everything after is here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

static int has16(rd_t list, uint16_t v)
{
    while (list.n)
        if (rd_u16(&list) == v) return 1;
    return 0;
}

/* Why a handshake was refused, for the server's log. */
static int refuse(moat_tls *t, int alert, const char *why)
{
    struct tls_text *tx = tls_text(t);
    if (tx) snprintf(tx->refusal, sizeof tx->refusal, "%s", why);
    return alert;
}

/* The first scheme of ours (tls12_sigschemes: PSS and ECDSA before
 * PKCS#1 v1.5) that the client offers and cred signs with; 0: none. */
static uint16_t pick_scheme(const moat_cred *cred, const tls_hello *ch)
{
    for (size_t i = 0; i < tls12_nsigschemes; i++)
        if (has16(ch->sigalgs, tls12_sigschemes[i]) &&
            crypto_cred_can_sign(cred, tls12_sigschemes[i]))
            return tls12_sigschemes[i];
    return 0;
}

static int cred_is_ecdsa(const moat_cred *c)
{
    return crypto_cred_can_sign(c, MOAT_SIG_ECDSA_SECP256R1_SHA256) ||
           crypto_cred_can_sign(c, MOAT_SIG_ECDSA_SECP384R1_SHA384);
}

/* RFC 8422 5.1: in 1.2, supported_groups also names the curves the
 * client accepts in an ECDSA certificate. */
static int curve_ok(const moat_cred *c, const tls_hello *ch)
{
    if (!ch->has_groups) return 1;
    if (crypto_cred_can_sign(c, MOAT_SIG_ECDSA_SECP256R1_SHA256))
        return has16(ch->groups, MOAT_GROUP_SECP256R1);
    if (crypto_cred_can_sign(c, MOAT_SIG_ECDSA_SECP384R1_SHA384))
        return has16(ch->groups, MOAT_GROUP_SECP384R1);
    return 1;
}

/* Suite, certificate and scheme: a certificate for the name first (then
 * any), our AEAD order (the configured suites), ECDSA before RSA. Only
 * ECDHE suites with an AEAD are ours: a client offering CBC or RSA key
 * transport alone is refused. */
static int choose_suite_cert(moat_tls *t, const tls_hello *ch)
{
    const moat_tls_config *c = t->cfg;
    uint16_t ours[6];
    size_t nours = tls12_suites(c, ours);
    if (!ch->has_sigalgs)
        return refuse(t, ALERT(HANDSHAKE_FAILURE),
                      "the client sent no signature_algorithms (its default is SHA-1)");
    /* Pass 0 looks at the certificates named like the SNI: through the
     * name index (certindex.c), or all of them when it cannot say. */
    uint32_t cand[TLS_NAME_CAND_MAX];
    int ncand = t->sni ? tls_names_find(c, t->sni, cand, TLS_NAME_CAND_MAX) : 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t a = 0; a < nours; a++) {
            uint16_t suite = ours[a];
            int ecdsa = ks12_suite_ecdsa(suite);
            if (!has16(ch->suites, suite)) continue;
            size_t count = pass == 0 && ncand >= 0 ? (size_t)ncand : c->ncreds;
            for (size_t k = 0; k < count; k++) {
                size_t i = pass == 0 && ncand >= 0 ? cand[k] : k;
                const moat_cred *cr = c->creds[i];
                if (pass == 0 && !(t->sni && crypto_cred_matches_name(cr, t->sni))) continue;
                if (cred_is_ecdsa(cr) != ecdsa || (ecdsa && !curve_ok(cr, ch))) continue;
                uint16_t scheme = pick_scheme(cr, ch);
                if (!scheme) continue;
                t->hs->cred = cr;
                t->hs->cred_i = i;
                t->sigscheme = scheme;
                return tls_set_suite(t, suite);
            }
        }
    return refuse(t, ALERT(HANDSHAKE_FAILURE),
                  "no suite in common for TLS 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305 and "
                  "a certificate we hold)");
}

/* RFC 8422 5.1.1: x25519, secp256r1, secp384r1 in our order; the hybrid
 * group is 1.3's only. A client without supported_groups gets P-256. */
static int choose_group(moat_tls *t, const tls_hello *ch)
{
    const moat_tls_config *c = t->cfg;
    for (size_t i = 0; i < c->ngroups; i++) {
        uint16_t g = c->groups[i];
        if (g == MOAT_GROUP_X25519MLKEM768) continue;
        if (ch->has_groups ? has16(ch->groups, g) : g == MOAT_GROUP_SECP256R1) {
            t->group = g;
            return 0;
        }
    }
    return refuse(t, ALERT(HANDSHAKE_FAILURE), "no ECDHE group in common for TLS 1.2");
}

/* RFC 5077 3.1: a ticket that opens, is fresh, is for this name, names a
 * 1.2 suite the client still offers and answers today's client
 * authentication resumes; any other gives a full handshake. A ticket's
 * suite says its version; its secret is always an extended master
 * secret (we make no other). */
static int try_ticket(moat_tls *t, const tls_hello *ch)
{
    if (!ch->has_ticket || !ch->ticket.n || !t->cfg->tickets) return 0;
    tls_session *s = calloc(1, sizeof *s);
    if (!s) return MOAT_ERR_NOMEM;
    if (tls_ticket_open(t, ch->ticket.p, ch->ticket.n, s) || !ks12_suite_aead(s->suite) ||
        !has16(ch->suites, s->suite) || s->psklen != TLS12_MS_LEN || strcmp(s->sni, TLS_STR(t->sni)) ||
        !tls_ticket_auth_ok(t, s) || tls_now_ms(t) > tls_ticket_end_ms(t, s)) {
        tls_session_free(s);
        return 0;
    }
    t->hs->psk = s;
    t->resumed = 1;
    t->auth_ms = s->auth_ms;
    t->auth_lifetime =
        s->lifetime < t->cfg->ticket_lifetime ? s->lifetime : t->cfg->ticket_lifetime;
    memcpy(t->hs->ms, s->psk, TLS12_MS_LEN);
    return tls_set_suite(t, s->suite);
}

static int staple_index(const moat_tls *t, size_t *ci)
{
    const moat_tls_config *c = t->cfg;
    *ci = t->hs->cred_i;
    return t->hs->want_staple && c->ocsp[*ci] &&
           (!c->ocsp_next[*ci] || c->ocsp_next[*ci] > tls_now(t));
}

static void empty_ext(wr_t *w, uint16_t type)
{
    wr_u16(w, type);
    wr_u16(w, 0);
}

static int send_server_hello(moat_tls *t, const tls_hello *ch)
{
    struct hs *h = t->hs;
    size_t ci;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_SERVER_HELLO);
    wr_open(&w, 3);
    wr_u16(&w, TLS_V12);
    wr_bytes(&w, h->srandom, 32);
    wr_open(&w, 1); /* RFC 5077 3.4: a resumed session echoes the client's id */
    if (t->resumed) wr_bytes(&w, ch->sid, ch->sidlen);
    wr_close(&w);
    wr_u16(&w, t->suite);
    wr_u8(&w, 0);
    wr_open(&w, 2);
    /* RFC 5746 3.6: the client signalled (the extension or the SCSV);
     * we answer with an empty renegotiated_connection. */
    if (ch->has_reneg || has16(ch->suites, TLS12_SCSV_RENEGOTIATION)) {
        wr_u16(&w, EXT_RENEGOTIATION_INFO);
        wr_u16(&w, 1);
        wr_u8(&w, 0);
    }
    empty_ext(&w, EXT_EXTENDED_MASTER_SECRET);
    if (ch->has_ecpf) { /* RFC 8422 5.2: uncompressed only */
        wr_u16(&w, EXT_EC_POINT_FORMATS);
        wr_u16(&w, 2);
        wr_u8(&w, 1);
        wr_u8(&w, 0);
    }
    if (h->send_ticket12) empty_ext(&w, EXT_SESSION_TICKET);
    if (!t->resumed && staple_index(t, &ci)) empty_ext(&w, EXT_STATUS_REQUEST);
    if (t->alpn) tls_wr_alpn_chosen(&w, t->alpn);
    if (!t->resumed && t->sni && crypto_cred_matches_name(h->cred, t->sni))
        empty_ext(&w, EXT_SERVER_NAME);
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

/* RFC 6066 8: the staple in its own message, after Certificate. */
static int send_certificate_status(moat_tls *t)
{
    size_t ci;
    if (!staple_index(t, &ci)) return 0;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CERTIFICATE_STATUS);
    wr_open(&w, 3);
    wr_u8(&w, 1); /* ocsp */
    wr_open(&w, 3);
    wr_bytes(&w, t->cfg->ocsp[ci], t->cfg->ocsp_len[ci]);
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

/* RFC 8422 5.4: our ephemeral key in the chosen group, signed with the
 * randoms in front (7.4.3). */
static int send_server_key_exchange(moat_tls *t)
{
    struct hs *h = t->hs;
    uint8_t pub[MOAT_KEX_SHARE_MAX], signed_data[64 + 4 + 255], sig[1024];
    size_t publen, siglen;
    if (!(h->kex = crypto_kex_new(t->group))) return MOAT_ERR_NOMEM;
    int e = crypto_kex_pub(h->kex, pub, &publen);
    if (e) return e;
    if (publen > 255) return MOAT_ERR_INTERNAL;
    size_t n = 0;
    memcpy(signed_data, h->random, 32);
    memcpy(signed_data + 32, h->srandom, 32);
    n = 64;
    signed_data[n++] = 3; /* named_curve */
    signed_data[n++] = (uint8_t)(t->group >> 8);
    signed_data[n++] = (uint8_t)t->group;
    signed_data[n++] = (uint8_t)publen;
    memcpy(signed_data + n, pub, publen);
    n += publen;
    if ((e = crypto_cred_sign(h->cred, t->sigscheme, signed_data, n, sig, &siglen))) return e;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_SERVER_KEY_EXCHANGE);
    wr_open(&w, 3);
    wr_bytes(&w, signed_data + 64, n - 64); /* ServerECDHParams */
    wr_u16(&w, t->sigscheme);
    wr_open(&w, 2);
    wr_bytes(&w, sig, siglen);
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

/* 7.4.4: RSA or ECDSA client certificates, with our schemes. */
static int send_certificate_request(moat_tls *t)
{
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_CERTIFICATE_REQUEST);
    wr_open(&w, 3);
    wr_open(&w, 1);
    wr_u8(&w, 1);  /* rsa_sign */
    wr_u8(&w, 64); /* ecdsa_sign */
    wr_close(&w);
    wr_open(&w, 2);
    for (size_t i = 0; i < tls12_nsigschemes; i++)
        wr_u16(&w, tls12_sigschemes[i]);
    wr_close(&w);
    wr_u16(&w, 0); /* certificate_authorities: any */
    wr_close(&w);
    t->hs->cert_requested = 1;
    return tls_queue_written(t, &w, &m);
}

static int send_server_hello_done(moat_tls *t)
{
    moat_buf m;
    moat_buf_init(&m);
    int e = moat_buf_append(&m, (const uint8_t[]){HS_SERVER_HELLO_DONE, 0, 0, 0}, 4);
    if (!e) e = tls_queue_hs(t, &m);
    moat_buf_free(&m);
    return e;
}

/* 7.4.5 (RFC 5077 3.3): a NewSessionTicket before our ChangeCipherSpec,
 * sealing the master secret; tickets of a resumed session stand for the
 * same full handshake (see tls_send_tickets). */
static int queue_ticket(moat_tls *t)
{
    uint64_t now = tls_now_ms(t);
    tls_session s;
    memset(&s, 0, sizeof s);
    s.suite = t->suite;
    s.time_ms = now;
    s.auth_ms = t->resumed ? t->auth_ms : now;
    s.lifetime = t->resumed ? t->auth_lifetime : t->cfg->ticket_lifetime;
    memcpy(s.psk, t->hs->ms, TLS12_MS_LEN);
    s.psklen = TLS12_MS_LEN;
    snprintf(s.sni, sizeof s.sni, "%s", TLS_STR(t->sni));
    snprintf(s.alpn, sizeof s.alpn, "%s", TLS_STR(t->alpn));
    snprintf(s.ident, sizeof s.ident, "%s", TX(t)->peer_identity);
    if (s.ident[0]) {
        memcpy(s.client_ca, t->cfg->client_ca_id, sizeof s.client_ca);
        s.not_after = TX(t)->peer_not_after;
    }
    uint64_t end = tls_ticket_end_ms(t, &s);
    uint32_t left = end > now ? (uint32_t)((end - now) / 1000) : 0;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_NEW_SESSION_TICKET);
    wr_open(&w, 3);
    wr_u32(&w, left); /* ticket_lifetime_hint */
    wr_open(&w, 2);
    int e = left ? tls_ticket_seal(t, &s, &w) : 0; /* an empty ticket: nothing to resume */
    wr_close(&w);
    wr_close(&w);
    if (!e) e = wr_finish(&w);
    if (!e) e = tls_queue_hs(t, &m);
    moat_wipe(&s, sizeof s);
    moat_buf_free(&m);
    return e;
}

/* Our ChangeCipherSpec and Finished, after a NewSessionTicket when one
 * is due: the end of a resumed ServerHello flight, or of a full
 * handshake after the client's Finished. */
static int send_ccs_finished(moat_tls *t, moat_buf *out)
{
    int e = t->hs->send_ticket12 ? queue_ticket(t) : 0;
    if (!e) e = tls_flush_hs(t, out);
    if (!e) e = tls12_send_ccs(t, out);
    if (!e) e = tls12_queue_finished(t);
    if (!e) e = tls_flush_hs(t, out);
    return e;
}

/* RFC 5746 3.6, RFC 7627 5.1, RFC 7507 3: what a 1.2 ClientHello must
 * carry before anything is chosen. */
static int check_hello(moat_tls *t, const tls_hello *ch)
{
    if (has16(ch->suites, 0x5600) && t->cfg->max_version > TLS_V12)
        return refuse(t, ALERT(INAPPROPRIATE_FALLBACK),
                      "the client fell back to TLS 1.2 (TLS_FALLBACK_SCSV) though we speak 1.3");
    if (ch->reneg_bad)
        return refuse(t, ALERT(HANDSHAKE_FAILURE),
                      "renegotiation_info is not empty in an initial handshake");
    if (!ch->has_ems)
        return refuse(t, ALERT(HANDSHAKE_FAILURE),
                      "the client does not offer the extended master secret (RFC 7627), which "
                      "TLS 1.2 requires here");
    int null_comp = 0;
    for (rd_t c = ch->comp; c.n;)
        null_comp |= rd_u8(&c) == 0;
    if (!null_comp) return ALERT(ILLEGAL_PARAMETER);
    return 0;
}

int tls12_server_hello(moat_tls *t, const tls_hello *ch, const uint8_t *msg, size_t len,
                       moat_buf *out)
{
    struct hs *h = t->hs;
    const moat_tls_config *c = t->cfg;
    t->version = TLS_V12;
    t->key_limit = UINT64_MAX; /* 1.2 has no KeyUpdate */
    int e = check_hello(t, ch);
    if (!e) e = try_ticket(t, ch);
    if (!e && !t->resumed) e = choose_suite_cert(t, ch);
    if (!e && !t->resumed) e = choose_group(t, ch);
    if (e) return e;
    memcpy(h->random, ch->random, 32);
    /* 7.4.8: a CertificateVerify signs the messages themselves. */
    h->keep_raw = !t->resumed && c->client_auth != MOAT_CLIENT_AUTH_NONE;
    h->send_ticket12 = ch->has_ticket && c->tickets > 0;
    if ((e = crypto_random(h->srandom, 32))) return e;
    /* RFC 8446 4.1.3: a server able to speak 1.3 says it chose 1.2. */
    if (c->max_version >= TLS_V13) memcpy(h->srandom + 24, tls12_downgrade, 8);
    if ((e = tls_transcript_start(t)) || (e = tls_transcript_add(t, msg, len)) ||
        (e = send_server_hello(t, ch)))
        return e;
    if (t->resumed) {
        if ((e = tls12_key_block(t)) || (e = send_ccs_finished(t, out)) ||
            (e = tls_resume_identity(t)))
            return e;
        h->expect_ccs = 1;
        h->next_state = SERVER12_WAIT_FINISHED;
        t->state = SERVER12_WAIT_CCS;
        return 0;
    }
    if ((e = tls12_queue_certificate(t, h->cred)) || (e = send_certificate_status(t)) ||
        (e = send_server_key_exchange(t)) ||
        (c->client_auth && (e = send_certificate_request(t))) || (e = send_server_hello_done(t)) ||
        (e = tls_flush_hs(t, out)))
        return e;
    t->state = h->cert_requested ? SERVER12_WAIT_CERT : SERVER12_WAIT_CKE;
    return 0;
}

/* 7.4.6: the client's chain (perhaps empty), checked as in 1.3. */
static int recv_certificate(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    int e = tls12_read_certificate(t, msg, len);
    if (e) return e;
    if (h->npeer == 0) {
        if (t->cfg->client_auth == MOAT_CLIENT_AUTH_REQUIRE)
            return refuse(t, ALERT(HANDSHAKE_FAILURE), "the client sent no certificate");
        h->keep_raw = 0;
        moat_buf_free(&h->raw);
    } else {
        rd_t none = {NULL, 0, 1};
        if (!t->cfg->client_trust) return ALERT(UNKNOWN_CA);
        if ((e = tls_verify_peer_chain(t, t->cfg->client_trust, NULL, &none)) ||
            (e = tls_keep_client_chain(t)))
            return e;
    }
    t->state = SERVER12_WAIT_CKE;
    return tls_transcript_add(t, msg, len);
}

/* 7.4.7, RFC 8422 5.7: the client's point, the premaster secret, and the
 * extended master secret over the transcript through this message. */
static int recv_client_key_exchange(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    rd_t point = rd_vec(&r, 1);
    if (r.err || r.n || point.n == 0) return ALERT(DECODE_ERROR);
    uint8_t pms[MOAT_KEX_SECRET_MAX];
    size_t pmslen = 0;
    int e = crypto_kex_derive(h->kex, point.p, point.n, pms, &pmslen);
    if (!e) e = tls_transcript_add(t, msg, len);
    if (!e) e = tls12_derive(t, pms, pmslen);
    moat_wipe(pms, sizeof pms);
    crypto_kex_free(h->kex);
    h->kex = NULL;
    if (e) return e;
    if (h->npeer) {
        t->state = SERVER12_WAIT_CV;
    } else {
        h->expect_ccs = 1;
        h->next_state = SERVER12_WAIT_FINISHED;
        t->state = SERVER12_WAIT_CCS;
    }
    return 0;
}

/* 7.4.8: the client's signature over every message before this one. */
static int recv_certificate_verify(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    uint16_t scheme = rd_u16(&r);
    rd_t sig = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    int ok = 0;
    for (size_t i = 0; i < tls12_nsigschemes; i++)
        ok |= tls12_sigschemes[i] == scheme;
    if (!ok) return ALERT(ILLEGAL_PARAMETER); /* not one we asked for */
    int e = crypto_verify_sig12(h->peer_certs.base, h->cert_len[0], scheme, h->raw.base, h->raw.len,
                                sig.p, sig.n);
    if (e) return e;
    h->keep_raw = 0;
    moat_buf_free(&h->raw);
    moat_buf_free(&h->peer_certs);
    h->expect_ccs = 1;
    h->next_state = SERVER12_WAIT_FINISHED;
    t->state = SERVER12_WAIT_CCS;
    return tls_transcript_add(t, msg, len);
}

static int recv_finished(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    int e = tls12_read_finished(t, msg, len);
    if (!e && !t->resumed) e = send_ccs_finished(t, out);
    if (e) return e;
    t->state = SERVER_CONNECTED;
    tls_hs_free(t);
    return 0;
}

int tls12_server_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out)
{
    switch ((tls_server_state)t->state) {
    case SERVER12_WAIT_CERT:
        if (type == HS_CERTIFICATE) return recv_certificate(t, msg, len);
        break;
    case SERVER12_WAIT_CKE:
        if (type == HS_CLIENT_KEY_EXCHANGE) return recv_client_key_exchange(t, msg, len);
        break;
    case SERVER12_WAIT_CV:
        if (type == HS_CERTIFICATE_VERIFY) return recv_certificate_verify(t, msg, len);
        break;
    case SERVER12_WAIT_FINISHED:
        if (type == HS_FINISHED) return recv_finished(t, msg, len, out);
        break;
    case SERVER12_WAIT_CCS: /* only a ChangeCipherSpec (tls12_recv_ccs) */
    case SERVER_START:
    case SERVER_CONNECTED:
    case SERVER_DEAD:
    case SERVER_RECVD_CH:
    case SERVER_NEGOTIATED:
    case SERVER_WAIT_FLIGHT2:
    case SERVER_WAIT_CERT:
    case SERVER_WAIT_CV:
    case SERVER_WAIT_FINISHED:
        break;
    }
    return ALERT(UNEXPECTED_MESSAGE);
}
