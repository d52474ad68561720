/* The client handshake (RFC 8446 4.1-4.4, Appendix A.1). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

static int is_ip_literal(const char *s)
{
    uint8_t b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int offered_group(const moat_tls *t, uint16_t g)
{
    for (size_t i = 0; i < t->cfg->ngroups; i++)
        if (t->cfg->groups[i] == g) return 1;
    return 0;
}

static int offered_suite(const moat_tls *t, uint16_t s)
{
    for (size_t i = 0; i < t->cfg->nsuites; i++)
        if (t->cfg->suites[i] == s) return 1;
    return 0;
}

/* Extensions the client sends: a response to any other is unsupported_extension. */
static int sent_ext(const moat_tls *t, uint16_t type)
{
    switch (type) {
    case EXT_SERVER_NAME:
        return !is_ip_literal(TX(t)->server_name);
    case EXT_ALPN:
        return t->cfg->alpn_len > 0;
    case EXT_SUPPORTED_GROUPS:
    case EXT_SIGNATURE_ALGORITHMS:
    case EXT_SIGNATURE_ALGORITHMS_CERT:
    case EXT_SUPPORTED_VERSIONS:
    case EXT_KEY_SHARE:
    case EXT_PSK_KEY_EXCHANGE_MODES:
        return 1;
    case EXT_COOKIE:
        return t->hs->cookielen > 0;
    case EXT_PRE_SHARED_KEY:
        return t->hs->psk != NULL;
    case EXT_STATUS_REQUEST:
        return t->cfg->verify;
    }
    return 0;
}

static int offers_12(const moat_tls *t)
{
    return t->cfg->min_version <= TLS_V12;
}

static int offers_13(const moat_tls *t)
{
    return t->cfg->max_version >= TLS_V13;
}

/* Signature algorithms that may appear in certificates (4.2.3), beyond
 * the ones we accept in CertificateVerify. */
static const uint16_t cert_only_schemes[] = {0x0401, 0x0501, 0x0601, 0x0603,
                                             /* SHA-1 ones, only so that such a chain
                                              * is sent and refused in plain words */
                                             0x0203, 0x0201};

/* The extensions every ClientHello carries, before the optional ones. */
static void write_base_extensions(const moat_tls *t, wr_t *w)
{
    if (sent_ext(t, EXT_SERVER_NAME)) {
        /* RFC 6066 3: one host_name entry. */
        const char *name = TX(t)->server_name;
        wr_u16(w, EXT_SERVER_NAME);
        wr_open(w, 2);
        wr_open(w, 2);
        wr_u8(w, 0); /* host_name */
        wr_open(w, 2);
        wr_bytes(w, name, strlen(name));
        wr_close(w);
        wr_close(w);
        wr_close(w);
    }
    wr_u16(w, EXT_SUPPORTED_GROUPS);
    wr_open(w, 2);
    wr_open(w, 2);
    for (size_t i = 0; i < t->cfg->ngroups; i++)
        wr_u16(w, t->cfg->groups[i]);
    wr_close(w);
    wr_close(w);
    for (int cert = 0; cert < 2; cert++) {
        /* signature_algorithms, then signature_algorithms_cert (4.2.3) */
        wr_u16(w, cert ? EXT_SIGNATURE_ALGORITHMS_CERT : EXT_SIGNATURE_ALGORITHMS);
        wr_open(w, 2);
        wr_open(w, 2);
        for (size_t i = 0; i < tls_nsigschemes; i++)
            wr_u16(w, tls_sigschemes[i]);
        /* TLS 1.2 servers may sign ServerKeyExchange with PKCS#1 v1.5
         * (never a 1.3 CertificateVerify: tls_check_cert_verify). */
        for (size_t i = 0; !cert && offers_12(t) && i < 3; i++)
            wr_u16(w, cert_only_schemes[i]);
        for (size_t i = 0; cert && i < sizeof cert_only_schemes / 2; i++)
            wr_u16(w, cert_only_schemes[i]);
        wr_close(w);
        wr_close(w);
    }
    wr_u16(w, EXT_SUPPORTED_VERSIONS);
    wr_open(w, 2);
    wr_open(w, 1);
    if (offers_13(t)) wr_u16(w, TLS_V13);
    if (offers_12(t)) wr_u16(w, TLS_V12);
    wr_close(w);
    wr_close(w);
    if (offers_12(t)) {
        /* TLS 1.2: RFC 7627, RFC 5746 (an empty renegotiated_connection),
         * RFC 8422 5.1.2 (uncompressed points), RFC 5077 (a 1.2 ticket
         * from a saved session, else empty: we take one). */
        const tls_session *p = t->hs->psk;
        int v12 = p && ks12_suite_aead(p->suite);
        wr_u16(w, EXT_EXTENDED_MASTER_SECRET);
        wr_u16(w, 0);
        wr_u16(w, EXT_RENEGOTIATION_INFO);
        wr_u16(w, 1);
        wr_u8(w, 0);
        wr_u16(w, EXT_EC_POINT_FORMATS);
        wr_u16(w, 2);
        wr_u8(w, 1);
        wr_u8(w, 0);
        wr_u16(w, EXT_SESSION_TICKET);
        wr_open(w, 2);
        if (v12) wr_bytes(w, p->ticket, p->ticketlen);
        wr_close(w);
    }
}

/* One KeyShareEntry (4.2.8): the group, then the share. */
static int write_share(const moat_kex *k, uint16_t group, wr_t *w)
{
    uint8_t pub[MOAT_KEX_SHARE_MAX];
    size_t publen = 0;
    int r = crypto_kex_pub(k, pub, &publen);
    wr_u16(w, group);
    wr_open(w, 2);
    wr_bytes(w, pub, publen);
    wr_close(w);
    return r;
}

/* status_request, psk_key_exchange_modes, ALPN, cookie and key_share. */
static int write_more_extensions(const moat_tls *t, wr_t *w)
{
    struct hs *h = t->hs;
    if (t->cfg->verify) {
        /* RFC 6066 8 / RFC 8446 4.4.2.1: ask for a stapled OCSP response:
         * status_type ocsp, no responder ids, no extensions. */
        wr_u16(w, EXT_STATUS_REQUEST);
        wr_open(w, 2);
        wr_u8(w, 1);
        wr_u16(w, 0);
        wr_u16(w, 0);
        wr_close(w);
    }
    wr_u16(w, EXT_PSK_KEY_EXCHANGE_MODES);
    wr_open(w, 2);
    wr_open(w, 1);
    wr_u8(w, 1); /* psk_dhe_ke */
    wr_close(w);
    wr_close(w);
    if (t->cfg->alpn_len) {
        wr_u16(w, EXT_ALPN);
        wr_open(w, 2);
        wr_open(w, 2);
        wr_bytes(w, t->cfg->alpn, t->cfg->alpn_len);
        wr_close(w);
        wr_close(w);
    }
    if (h->cookielen) {
        wr_u16(w, EXT_COOKIE);
        wr_open(w, 2);
        wr_open(w, 2);
        wr_bytes(w, h->cookie, h->cookielen);
        wr_close(w);
        wr_close(w);
    }
    wr_u16(w, EXT_KEY_SHARE);
    wr_open(w, 2);
    wr_open(w, 2); /* client_shares: our one, or the hybrid's then x25519's */
    int r = write_share(h->kex, t->group, w);
    if (!r && h->kex2) r = write_share(h->kex2, MOAT_GROUP_X25519, w);
    wr_close(w);
    wr_close(w);
    return r;
}

/* 4.2.11: pre_shared_key comes last, its binder over everything before
 * the binders list. The binder is written as zeros here; *binders is
 * where the list starts, for sign_binder. */
static void write_psk(const moat_tls *t, const tls_session *psk, wr_t *w, size_t *binders)
{
    uint32_t age = (uint32_t)(tls_now_ms(t) - psk->time_ms) + psk->age_add;
    uint8_t zeros[MOAT_HASH_MAX] = {0};
    wr_u16(w, EXT_PRE_SHARED_KEY);
    wr_open(w, 2);
    wr_open(w, 2); /* identities */
    wr_open(w, 2);
    wr_bytes(w, psk->ticket, psk->ticketlen);
    wr_close(w);
    wr_u32(w, age);
    wr_close(w);
    *binders = w->b->len;
    wr_open(w, 2); /* binders */
    wr_open(w, 1);
    wr_bytes(w, zeros, psk->psklen);
    wr_close(w);
    wr_close(w);
    wr_close(w);
}

/* 4.2.11.2: the binder over the ClientHello up to its binders list. */
static int sign_binder(moat_tls *t, const tls_session *psk, moat_buf *m, size_t binders)
{
    int ph = crypto_suite_hash(psk->suite);
    uint8_t th[MOAT_HASH_MAX];
    if (tls_binder_transcript(t, ph, m->base, binders, th) ||
        tls_psk_binder(ph, psk->psk, th, m->base + binders + 3))
        return MOAT_ERR_INTERNAL;
    return 0;
}

/* The ClientHello (4.1.2), first or second, into m. */
static int build_client_hello(moat_tls *t, moat_buf *m)
{
    struct hs *h = t->hs;
    wr_t w = wr_init(m);
    wr_u8(&w, HS_CLIENT_HELLO);
    wr_open(&w, 3);
    wr_u16(&w, 0x0303); /* legacy_version */
    wr_bytes(&w, h->random, 32);
    wr_open(&w, 1);
    wr_bytes(&w, h->sid, h->sidlen);
    wr_close(&w);
    wr_open(&w, 2);
    for (size_t i = 0; offers_13(t) && i < t->cfg->nsuites; i++)
        wr_u16(&w, t->cfg->suites[i]);
    uint16_t s12[6];
    size_t n12 = t->did_hrr ? 0 : tls12_suites(t->cfg, s12);
    for (size_t i = 0; i < n12; i++)
        wr_u16(&w, s12[i]);
    wr_close(&w);
    wr_u8(&w, 1); /* legacy_compression_methods: null only */
    wr_u8(&w, 0);
    wr_open(&w, 2);
    write_base_extensions(t, &w);
    int r = write_more_extensions(t, &w);
    size_t binders = 0;
    int psk13 = h->psk && !ks12_suite_aead(h->psk->suite) && offers_13(t);
    if (psk13) write_psk(t, h->psk, &w, &binders);
    wr_close(&w);
    wr_close(&w);
    if (wr_finish(&w)) return w.err;
    if (r) return r;
    return psk13 ? sign_binder(t, h->psk, m, binders) : 0;
}

/* The key of our share in group. A first ClientHello whose group is the
 * hybrid also carries an x25519 share when x25519 is offered, as browsers
 * send (draft-ietf-tls-ecdhe-mlkem 4.1 leaves it to the client): a server
 * without the hybrid answers it with no HelloRetryRequest. After one
 * (4.1.2) only the share asked for is sent. */
static int new_key_share(moat_tls *t, uint16_t group)
{
    struct hs *h = t->hs;
    crypto_kex_free(h->kex);
    crypto_kex_free(h->kex2);
    h->kex2 = NULL;
    t->group = group;
    h->kex = crypto_kex_new(group);
    if (h->kex && !t->did_hrr && group == MOAT_GROUP_X25519MLKEM768 &&
        offered_group(t, MOAT_GROUP_X25519) && !(h->kex2 = crypto_kex_new(MOAT_GROUP_X25519)))
        return MOAT_ERR_INTERNAL;
    return h->kex ? 0 : MOAT_ERR_INTERNAL;
}

int tls_client_start(moat_tls *t, moat_buf *out)
{
    struct hs *h = t->hs;
    int r = crypto_random(h->random, 32);
    /* D.4: a non-empty legacy_session_id for middlebox compatibility. */
    h->sidlen = 32;
    if (!r) r = crypto_random(h->sid, 32);
    if (!r) r = new_key_share(t, t->cfg->groups[0]);
    if (!r) r = build_client_hello(t, &h->ch);
    if (!r) {
        tls_observe(t, MOAT_EV_HS_SENT, h->ch.base, h->ch.len, HS_CLIENT_HELLO);
        r = tls_seal_hs(t, h->ch.base, h->ch.len, out);
    }
    if (!r) t->state = CLIENT_WAIT_SH;
    return r;
}

/* 4.1.4: the client answers a HelloRetryRequest with a second ClientHello. */
static int recv_hello_retry_request(moat_tls *t, const uint8_t *msg, size_t len, uint16_t suite,
                                    rd_t *exts, moat_buf *out)
{
    struct hs *h = t->hs;
    uint16_t group = 0;
    int r;
    if (t->did_hrr) return ALERT(UNEXPECTED_MESSAGE);
    t->did_hrr = 1;
    h->hrr_suite = suite;
    ext_seen seen = {.n = 0};
    uint16_t type;
    rd_t body;
    while (tls_next_ext(exts, &seen, &type, &body)) {
        if (type == EXT_SUPPORTED_VERSIONS) {
            if (rd_u16(&body) != 0x0304 || body.err || body.n) return ALERT(ILLEGAL_PARAMETER);
        } else if (type == EXT_KEY_SHARE) {
            group = rd_u16(&body);
            if (body.err || body.n) return ALERT(DECODE_ERROR);
            /* 4.2.8: never a group we sent a share in. */
            if (!offered_group(t, group) || group == t->group ||
                (h->kex2 && group == MOAT_GROUP_X25519))
                return ALERT(ILLEGAL_PARAMETER);
        } else if (type == EXT_COOKIE) {
            rd_t c = rd_vec(&body, 2);
            if (body.err || body.n || c.n == 0 || c.n > sizeof h->cookie)
                return ALERT(DECODE_ERROR);
            memcpy(h->cookie, c.p, c.n);
            h->cookielen = c.n;
        } else {
            return sent_ext(t, type) ? ALERT(ILLEGAL_PARAMETER) : ALERT(UNSUPPORTED_EXTENSION);
        }
    }
    if (seen.err) return seen.err;
    if (!group && !h->cookielen) return ALERT(ILLEGAL_PARAMETER); /* it would change nothing */
    /* 4.4.1: the transcript restarts from message_hash(Hash(ClientHello1)). */
    if ((r = tls_transcript_message_hash(t, h->ch.base, h->ch.len)) ||
        (r = tls_transcript_add(t, msg, len)))
        return r;
    if (group && (r = new_key_share(t, group))) return r;
    if (h->psk && crypto_suite_hash(h->psk->suite) != t->hash) {
        /* 4.1.4: a PSK whose hash does not fit the new suite is dropped. */
        tls_session_free(h->psk);
        h->psk = NULL;
    }
    moat_buf_clear(&h->ch);
    if ((r = build_client_hello(t, &h->ch)) || (r = tls_transcript_add(t, h->ch.base, h->ch.len)))
        return r;
    if ((r = tls_send_ccs(t, out))) return r;
    tls_observe(t, MOAT_EV_HS_SENT, h->ch.base, h->ch.len, HS_CLIENT_HELLO);
    return tls_seal_hs(t, h->ch.base, h->ch.len, out);
}

/* 4.1.3: supported_versions is looked for first: 1.3 when it says so.
 * Without it, TLS 1.2 when we offered it, unless we offered 1.3 too and
 * the random ends with the downgrade sentinel (illegal_parameter); an
 * older version is protocol_version. Sets *v12. */
static int check_version(const moat_tls *t, uint16_t legacy, const uint8_t *random, rd_t exts,
                         int *v12)
{
    int has_sv = 0;
    *v12 = 0;
    while (exts.n) {
        uint16_t type = rd_u16(&exts);
        rd_t body = rd_vec(&exts, 2);
        if (exts.err) return ALERT(DECODE_ERROR);
        if (type == EXT_SUPPORTED_VERSIONS) {
            uint16_t v = rd_u16(&body);
            if (body.err || body.n || v != TLS_V13 || !offers_13(t))
                return ALERT(ILLEGAL_PARAMETER);
            has_sv = 1;
        }
    }
    if (has_sv) return 0;
    if (offers_13(t) && !memcmp(random + 24, tls12_downgrade, 7)) return ALERT(ILLEGAL_PARAMETER);
    if (legacy == TLS_V12 && offers_12(t) && !t->did_hrr) {
        *v12 = 1;
        return 0;
    }
    return legacy <= TLS_V12 ? ALERT(PROTOCOL_VERSION) : ALERT(ILLEGAL_PARAMETER);
}

/* A ServerHello's extensions: the key_share, and pre_shared_key when it
 * takes our ticket (4.2.11: the one identity we offered, with a suite of
 * its hash). */
static int read_sh_extensions(moat_tls *t, rd_t exts, rd_t *share)
{
    struct hs *h = t->hs;
    ext_seen seen = {.n = 0};
    rd_t body;
    uint16_t type;
    *share = (rd_t){NULL, 0, 1};
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        if (type == EXT_KEY_SHARE) {
            *share = body;
        } else if (type == EXT_PRE_SHARED_KEY && h->psk) {
            uint16_t idx = rd_u16(&body);
            if (body.err || body.n) return ALERT(DECODE_ERROR);
            if (idx != 0 || crypto_suite_hash(h->psk->suite) != t->hash)
                return ALERT(ILLEGAL_PARAMETER);
            t->resumed = 1;
        } else if (type != EXT_SUPPORTED_VERSIONS)
            return sent_ext(t, type) ? ALERT(ILLEGAL_PARAMETER) : ALERT(UNSUPPORTED_EXTENSION);
    }
    if (seen.err) return seen.err;
    return share->err ? ALERT(MISSING_EXTENSION) : 0;
}

/* The server's share: the (EC)DHE secret, then the handshake keys. */
static int finish_server_hello(moat_tls *t, const uint8_t *msg, size_t len, rd_t share)
{
    struct hs *h = t->hs;
    uint16_t group = rd_u16(&share);
    rd_t key = rd_vec(&share, 2);
    if (share.err || share.n || key.n == 0) return ALERT(DECODE_ERROR);
    /* 4.2.8: the group of one of our shares. */
    if (group != t->group && !(h->kex2 && group == MOAT_GROUP_X25519))
        return ALERT(ILLEGAL_PARAMETER);
    if (group != t->group) { /* the x25519 share beside the hybrid's */
        crypto_kex_free(h->kex);
        h->kex = h->kex2;
        h->kex2 = NULL;
        t->group = group;
    }
    uint8_t ecdhe[MOAT_KEX_SECRET_MAX];
    size_t elen = 0;
    int r = crypto_kex_derive(h->kex, key.p, key.n, ecdhe, &elen);
    crypto_kex_free(h->kex);
    crypto_kex_free(h->kex2);
    h->kex = h->kex2 = NULL;
    if (r) return r;
    /* Without a HelloRetryRequest the transcript starts now the hash is known. */
    if (!t->did_hrr && !(r = tls_transcript_start(t)))
        r = tls_transcript_add(t, h->ch.base, h->ch.len);
    if (!r) {
        moat_buf_free(&h->ch);
        r = tls_transcript_add(t, msg, len);
    }
    if (!r) r = tls_install_hs_secrets(t, t->resumed ? h->psk->psk : NULL, ecdhe, elen);
    if (!r) t->state = CLIENT_WAIT_EE;
    moat_wipe(ecdhe, sizeof ecdhe);
    return r;
}

/* ServerHello or HelloRetryRequest (4.1.3, 4.1.4): one message type, told
 * apart by the special random. */
static int recv_server_hello(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    struct hs *h = t->hs;
    rd_t r = rd_init(msg + 4, len - 4);
    uint16_t legacy = rd_u16(&r);
    const uint8_t *random;
    rd_take(&r, 32, &random);
    rd_t sid = rd_vec(&r, 1);
    uint16_t suite = rd_u16(&r);
    uint8_t comp = rd_u8(&r);
    rd_t exts = {NULL, 0, 0};
    if (r.n) exts = rd_vec(&r, 2);
    if (r.err || r.n || exts.err) return ALERT(DECODE_ERROR);
    int v12;
    int e = check_version(t, legacy, random, exts, &v12);
    if (e) return e;
    if (v12) {
        if (comp != 0 || !tls12_offers(t->cfg, suite)) return ALERT(ILLEGAL_PARAMETER);
        memcpy(h->srandom, random, 32);
        return tls12_client_server_hello(t, msg, len, sid, suite, exts);
    }
    t->version = TLS_V13;
    if (sid.n != h->sidlen || memcmp(sid.p, h->sid, sid.n) || comp != 0 ||
        !offered_suite(t, suite) || legacy != 0x0303)
        return ALERT(ILLEGAL_PARAMETER);
    if (t->did_hrr && suite != h->hrr_suite) return ALERT(ILLEGAL_PARAMETER);
    if ((e = tls_set_suite(t, suite))) return e;
    if (!memcmp(random, tls_hrr_random, 32))
        return recv_hello_retry_request(t, msg, len, suite, &exts, out);
    rd_t share;
    if ((e = read_sh_extensions(t, exts, &share))) return e;
    return finish_server_hello(t, msg, len, share);
}

static int recv_encrypted_extensions(moat_tls *t, const uint8_t *msg, size_t len)
{
    rd_t r = rd_init(msg + 4, len - 4);
    rd_t exts = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    ext_seen seen = {.n = 0};
    uint16_t type;
    rd_t body;
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        if (!sent_ext(t, type)) return ALERT(UNSUPPORTED_EXTENSION);
        switch (type) {
        case EXT_SERVER_NAME:
            if (body.n) return ALERT(DECODE_ERROR);
            break;
        case EXT_SUPPORTED_GROUPS:
            break; /* the server's preferences; informational */
        case EXT_ALPN: {
            /* 4.2 of RFC 7301: exactly one protocol, one we offered. */
            rd_t list = rd_vec(&body, 2);
            rd_t proto = rd_vec(&list, 1);
            if (body.err || body.n || list.err || list.n || proto.n == 0)
                return ALERT(DECODE_ERROR);
            if (!tls_alpn_has(t->cfg->alpn, t->cfg->alpn_len, proto.p, proto.n))
                return ALERT(ILLEGAL_PARAMETER);
            t->alpn = tls_alpn_name(t->cfg, proto.p, proto.n);
            break;
        }
        default:
            return ALERT(ILLEGAL_PARAMETER); /* ours, but not allowed in EE */
        }
    }
    if (seen.err) return seen.err;
    /* A resumed handshake has no certificate (2.2). */
    t->state = t->resumed ? CLIENT_WAIT_FINISHED : CLIENT_WAIT_CERT_CR;
    return tls_transcript_add(t, msg, len);
}

static int recv_certificate_request(moat_tls *t, const uint8_t *msg, size_t len)
{
    rd_t r = rd_init(msg + 4, len - 4);
    rd_t ctx = rd_vec(&r, 1);
    rd_t exts = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    /* 4.3.2: in the main handshake the context SHALL be zero length (only
     * post-handshake authentication, which we do not offer, fills it). */
    if (ctx.n) return ALERT(ILLEGAL_PARAMETER);
    ext_seen seen = {.n = 0};
    int has_sigalgs = 0;
    struct hs *h = t->hs;
    uint16_t type;
    rd_t body;
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        if (type == EXT_SIGNATURE_ALGORITHMS) {
            rd_t l = rd_vec(&body, 2);
            if (body.err || body.n || l.n < 2 || l.n % 2) return ALERT(DECODE_ERROR);
            while (l.n) {
                uint16_t sch = rd_u16(&l);
                if (h->ncr_sigs < sizeof h->cr_sigs / sizeof h->cr_sigs[0])
                    h->cr_sigs[h->ncr_sigs++] = sch;
            }
            has_sigalgs = 1;
        }
    }
    if (seen.err) return seen.err;
    if (!has_sigalgs) return ALERT(MISSING_EXTENSION);
    t->hs->cert_requested = 1;
    memcpy(t->hs->cr_ctx, ctx.p, ctx.n);
    t->hs->cr_ctx_len = ctx.n;
    t->state = CLIENT_WAIT_CERT;
    return tls_transcript_add(t, msg, len);
}

static int recv_certificate(moat_tls *t, const uint8_t *msg, size_t len)
{
    rd_t staple;
    int e = tls_read_certificate(t, msg, len, NULL, 0, t->cfg->verify, &staple);
    if (e) return e;
    if (t->hs->npeer == 0) return ALERT(DECODE_ERROR); /* 4.4.2.4 */
    if (t->cfg->verify &&
        (e = tls_verify_peer_chain(t, t->cfg->trust, TX(t)->server_name, &staple)))
        return e;
    /* A staple that was ignored (moat_tls_ocsp_ignored says why) is as
     * good as none. */
    t->ocsp_stapled = t->cfg->verify && !staple.err && !TX(t)->verdict.staple[0];
    t->state = CLIENT_WAIT_CV;
    return tls_transcript_add(t, msg, len);
}

static int recv_certificate_verify(moat_tls *t, const uint8_t *msg, size_t len)
{
    int e = tls_check_cert_verify(t, msg, len);
    if (!e) t->state = CLIENT_WAIT_FINISHED;
    return e;
}

/* Our certificate for a server that asked (4.4.2): the first configured
 * one, if it can sign with a scheme the server accepts; else none. */
static int send_certificate(moat_tls *t)
{
    struct hs *h = t->hs;
    const moat_cred *cred = t->cfg->ncreds ? t->cfg->creds[0] : NULL;
    uint16_t scheme = 0;
    for (size_t i = 0; cred && i < h->ncr_sigs && !scheme; i++)
        for (size_t k = 0; k < tls_nsigschemes && !scheme; k++)
            if (h->cr_sigs[i] == tls_sigschemes[k] && crypto_cred_can_sign(cred, h->cr_sigs[i]))
                scheme = h->cr_sigs[i];
    if (!scheme) cred = NULL;
    int e = tls_queue_certificate(t, cred, h->cr_ctx, h->cr_ctx_len, NULL, 0);
    if (!e && cred) e = tls_queue_cert_verify(t, cred, scheme);
    return e;
}

/* The server's Finished (4.4.4), then the client's second flight under
 * its handshake keys: Certificate and CertificateVerify when asked for,
 * and Finished; then the application keys both ways. */
static int recv_finished(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    int e = tls_read_finished(t, msg, len);
    if (!e) e = tls_derive_app_secrets(t);
    if (!e) e = tls_send_ccs(t, out);
    if (!e && t->hs->cert_requested) e = send_certificate(t);
    if (!e) e = tls_queue_finished(t);
    if (!e) e = tls_flush_hs(t, out);
    if (!e) e = tls_resumption_secret(t);
    if (!e) e = tls_install_app_keys(t, 0);
    if (!e) e = tls_install_app_keys(t, 1);
    if (e) return e;
    t->state = CLIENT_CONNECTED;
    tls_hs_free(t);
    return 0;
}

int tls_client_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out)
{
    switch ((tls_client_state)t->state) {
    case CLIENT_WAIT_SH:
        if (type == HS_SERVER_HELLO) return recv_server_hello(t, msg, len, out);
        break;
    case CLIENT_WAIT_EE:
        if (type == HS_ENCRYPTED_EXTENSIONS) return recv_encrypted_extensions(t, msg, len);
        break;
    case CLIENT_WAIT_CERT_CR:
        if (type == HS_CERTIFICATE_REQUEST) return recv_certificate_request(t, msg, len);
        if (type == HS_CERTIFICATE) return recv_certificate(t, msg, len);
        break;
    case CLIENT_WAIT_CERT:
        if (type == HS_CERTIFICATE) return recv_certificate(t, msg, len);
        break;
    case CLIENT_WAIT_CV:
        if (type == HS_CERTIFICATE_VERIFY) return recv_certificate_verify(t, msg, len);
        break;
    case CLIENT_WAIT_FINISHED:
        if (type == HS_FINISHED) return recv_finished(t, msg, len, out);
        break;
    case CLIENT12_WAIT_CERT:
    case CLIENT12_WAIT_STATUS:
    case CLIENT12_WAIT_SKE:
    case CLIENT12_WAIT_CR_DONE:
    case CLIENT12_WAIT_DONE:
    case CLIENT12_WAIT_TICKET:
    case CLIENT12_WAIT_CCS:
    case CLIENT12_WAIT_FINISHED:
        return tls12_client_handle(t, type, msg, len, out);
    case CLIENT_START:
    case CLIENT_CONNECTED: /* post-handshake messages go to tls.c */
    case CLIENT_DEAD:
        break;
    }
    return ALERT(UNEXPECTED_MESSAGE);
}
