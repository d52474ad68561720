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

/* Signature algorithms that may appear in certificates (4.2.3), beyond
 * the ones we accept in CertificateVerify. */
static const uint16_t cert_only_schemes[] = {0x0401, 0x0501, 0x0601, 0x0603,
                                             /* SHA-1 ones, only so that such a chain
                                              * is sent and refused in plain words */
                                             0x0203, 0x0201};

static int build_client_hello(moat_tls *t, moat_buf *m)
{
    struct hs *h = t->hs;
    size_t mk, ext, e1, e2;
    int r = 0;
    r |= wr_u8(m, HS_CLIENT_HELLO);
    r |= wr_begin(m, 3, &mk);
    r |= wr_u16(m, 0x0303);
    r |= wr_bytes(m, h->random, 32);
    r |= wr_u8(m, (uint32_t)h->sidlen);
    r |= wr_bytes(m, h->sid, h->sidlen);
    r |= wr_u16(m, (uint32_t)(2 * t->cfg->nsuites));
    for (size_t i = 0; i < t->cfg->nsuites; i++)
        r |= wr_u16(m, t->cfg->suites[i]);
    r |= wr_u8(m, 1);
    r |= wr_u8(m, 0);
    r |= wr_begin(m, 2, &ext);
    if (sent_ext(t, EXT_SERVER_NAME)) {
        size_t nl = strlen(TX(t)->server_name);
        r |= wr_u16(m, EXT_SERVER_NAME);
        r |= wr_u16(m, (uint32_t)(nl + 5));
        r |= wr_u16(m, (uint32_t)(nl + 3));
        r |= wr_u8(m, 0);
        r |= wr_u16(m, (uint32_t)nl);
        r |= wr_bytes(m, TX(t)->server_name, nl);
    }
    r |= wr_u16(m, EXT_SUPPORTED_GROUPS);
    r |= wr_u16(m, (uint32_t)(2 + 2 * t->cfg->ngroups));
    r |= wr_u16(m, (uint32_t)(2 * t->cfg->ngroups));
    for (size_t i = 0; i < t->cfg->ngroups; i++)
        r |= wr_u16(m, t->cfg->groups[i]);
    r |= wr_u16(m, EXT_SIGNATURE_ALGORITHMS);
    r |= wr_begin(m, 2, &e1);
    r |= wr_begin(m, 2, &e2);
    for (size_t i = 0; i < tls_nsigschemes; i++)
        r |= wr_u16(m, tls_sigschemes[i]);
    r |= wr_end(m, 2, e2);
    r |= wr_end(m, 2, e1);
    r |= wr_u16(m, EXT_SIGNATURE_ALGORITHMS_CERT);
    r |= wr_begin(m, 2, &e1);
    r |= wr_begin(m, 2, &e2);
    for (size_t i = 0; i < tls_nsigschemes; i++)
        r |= wr_u16(m, tls_sigschemes[i]);
    for (size_t i = 0; i < sizeof cert_only_schemes / 2; i++)
        r |= wr_u16(m, cert_only_schemes[i]);
    r |= wr_end(m, 2, e2);
    r |= wr_end(m, 2, e1);
    r |= wr_u16(m, EXT_SUPPORTED_VERSIONS);
    r |= wr_u16(m, 3);
    r |= wr_u8(m, 2);
    r |= wr_u16(m, 0x0304);
    if (t->cfg->verify) {
        /* RFC 6066 8 / RFC 8446 4.4.2.1: ask for a stapled OCSP response. */
        static const uint8_t sr[] = {0, EXT_STATUS_REQUEST, 0, 5, 1, 0, 0, 0, 0};
        r |= wr_bytes(m, sr, sizeof sr);
    }
    r |= wr_u16(m, EXT_PSK_KEY_EXCHANGE_MODES);
    r |= wr_u16(m, 2);
    r |= wr_u8(m, 1);
    r |= wr_u8(m, 1); /* psk_dhe_ke */
    if (t->cfg->alpn_len) {
        r |= wr_u16(m, EXT_ALPN);
        r |= wr_u16(m, (uint32_t)(t->cfg->alpn_len + 2));
        r |= wr_u16(m, (uint32_t)t->cfg->alpn_len);
        r |= wr_bytes(m, t->cfg->alpn, t->cfg->alpn_len);
    }
    if (h->cookielen) {
        r |= wr_u16(m, EXT_COOKIE);
        r |= wr_u16(m, (uint32_t)(h->cookielen + 2));
        r |= wr_u16(m, (uint32_t)h->cookielen);
        r |= wr_bytes(m, h->cookie, h->cookielen);
    }
    uint8_t pub[97];
    size_t publen = 0;
    r |= moat_kex_pub(h->kex, pub, &publen);
    r |= wr_u16(m, EXT_KEY_SHARE);
    r |= wr_u16(m, (uint32_t)(publen + 6));
    r |= wr_u16(m, (uint32_t)(publen + 4));
    r |= wr_u16(m, t->group);
    r |= wr_u16(m, (uint32_t)publen);
    r |= wr_bytes(m, pub, publen);
    size_t binders = 0;
    tls_session *psk = h->psk;
    if (psk) {
        /* 4.2.11: pre_shared_key comes last; its binder covers everything
         * before the binders list. */
        size_t hl = psk->psklen;
        uint32_t age = (uint32_t)(tls_now_ms(t) - psk->time_ms) + psk->age_add;
        r |= wr_u16(m, EXT_PRE_SHARED_KEY);
        r |= wr_u16(m, (uint32_t)(2 + 2 + psk->ticketlen + 4 + 2 + 1 + hl));
        r |= wr_u16(m, (uint32_t)(2 + psk->ticketlen + 4));
        r |= wr_u16(m, (uint32_t)psk->ticketlen);
        r |= wr_bytes(m, psk->ticket, psk->ticketlen);
        r |= wr_uint(m, age, 4);
        binders = m->len;
        r |= wr_u16(m, (uint32_t)(1 + hl));
        r |= wr_u8(m, (uint32_t)hl);
        uint8_t zeros[MOAT_HASH_MAX] = {0};
        r |= wr_bytes(m, zeros, hl);
    }
    r |= wr_end(m, 2, ext);
    r |= wr_end(m, 3, mk);
    if (r) return MOAT_ERR_NOMEM;
    if (psk) {
        int ph = moat_suite_hash(psk->suite);
        uint8_t th[MOAT_HASH_MAX];
        const uint8_t *start = m->base + mk - 1;
        size_t tlen = binders - (mk - 1);
        if (h->transcript) {
            moat_hash_ctx *d = moat_hash_dup(h->transcript);
            r = !d || moat_hash_update(d, start, tlen) || moat_hash_peek(d, th);
            moat_hash_free(d);
        } else {
            r = moat_hash(ph, start, tlen, th);
        }
        if (r || tls_psk_binder(ph, psk->psk, th, m->base + binders + 3)) return MOAT_ERR_INTERNAL;
    }
    return 0;
}

static int new_key_share(moat_tls *t, uint16_t group)
{
    moat_kex_free(t->hs->kex);
    t->group = group;
    t->hs->kex = moat_kex_new(group);
    return t->hs->kex ? 0 : MOAT_ERR_INTERNAL;
}

int tls_client_start(moat_tls *t, moat_buf *out)
{
    struct hs *h = t->hs;
    int r = moat_random(h->random, 32);
    /* D.4: a non-empty legacy_session_id for middlebox compatibility. */
    h->sidlen = 32;
    if (!r) r = moat_random(h->sid, 32);
    if (!r) r = new_key_share(t, t->cfg->groups[0]);
    if (!r) r = build_client_hello(t, &h->ch);
    if (!r) {
        tls_observe(t, MOAT_EV_HS_SENT, h->ch.base, h->ch.len, HS_CLIENT_HELLO);
        r = tls_seal(t, CT_HANDSHAKE, h->ch.base, h->ch.len, out);
    }
    if (!r) t->state = ST_WAIT_SH;
    return r;
}

/* 4.1.4: the client answers a HelloRetryRequest with a second ClientHello. */
static int handle_hrr(moat_tls *t, const uint8_t *msg, size_t len, uint16_t suite, rd_t *exts,
                      moat_buf *out)
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
            if (!offered_group(t, group) || group == t->group) return ALERT(ILLEGAL_PARAMETER);
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
    uint8_t mh[4 + MOAT_HASH_MAX] = {HS_MESSAGE_HASH, 0, 0, (uint8_t)t->hlen};
    if ((r = moat_hash(t->hash, h->ch.base, h->ch.len, mh + 4)) || (r = tls_transcript_start(t)) ||
        (r = tls_transcript_add(t, mh, 4 + t->hlen)) || (r = tls_transcript_add(t, msg, len)))
        return r;
    if (group && (r = new_key_share(t, group))) return r;
    if (h->psk && moat_suite_hash(h->psk->suite) != t->hash) {
        /* 4.1.4: a PSK whose hash does not fit the new suite is dropped. */
        moat_wipe(h->psk, sizeof *h->psk);
        free(h->psk);
        h->psk = NULL;
    }
    moat_buf_clear(&h->ch);
    if ((r = build_client_hello(t, &h->ch)) || (r = tls_transcript_add(t, h->ch.base, h->ch.len)))
        return r;
    if ((r = tls_send_ccs(t, out))) return r;
    tls_observe(t, MOAT_EV_HS_SENT, h->ch.base, h->ch.len, HS_CLIENT_HELLO);
    return tls_seal(t, CT_HANDSHAKE, h->ch.base, h->ch.len, out);
}

static int handle_server_hello(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
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
    /* 4.1.3: find supported_versions first; without it this is TLS 1.2 or older. */
    int has_sv = 0;
    for (rd_t e = exts; e.n;) {
        uint16_t type = rd_u16(&e);
        rd_t body = rd_vec(&e, 2);
        if (e.err) return ALERT(DECODE_ERROR);
        if (type == EXT_SUPPORTED_VERSIONS) {
            uint16_t v = rd_u16(&body);
            if (body.err || body.n || v != 0x0304) return ALERT(ILLEGAL_PARAMETER);
            has_sv = 1;
        }
    }
    if (!has_sv) {
        static const uint8_t downgrade[7] = {'D', 'O', 'W', 'N', 'G', 'R', 'D'};
        if (!memcmp(random + 24, downgrade, 7)) return ALERT(ILLEGAL_PARAMETER);
        return legacy <= 0x0303 ? ALERT(PROTOCOL_VERSION) : ALERT(ILLEGAL_PARAMETER);
    }
    if (sid.n != h->sidlen || memcmp(sid.p, h->sid, sid.n) || comp != 0 ||
        !offered_suite(t, suite) || legacy != 0x0303)
        return ALERT(ILLEGAL_PARAMETER);
    if (t->did_hrr && suite != h->hrr_suite) return ALERT(ILLEGAL_PARAMETER);
    int rr = tls_set_suite(t, suite);
    if (rr) return rr;
    if (!memcmp(random, tls_hrr_random, 32)) return handle_hrr(t, msg, len, suite, &exts, out);

    ext_seen seen = {.n = 0};
    rd_t share = {NULL, 0, 1}, body;
    uint16_t type;
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        if (type == EXT_KEY_SHARE) {
            share = body;
        } else if (type == EXT_PRE_SHARED_KEY && h->psk) {
            /* 4.2.11: the one identity we offered, with a suite of its hash. */
            uint16_t idx = rd_u16(&body);
            if (body.err || body.n) return ALERT(DECODE_ERROR);
            if (idx != 0 || moat_suite_hash(h->psk->suite) != t->hash)
                return ALERT(ILLEGAL_PARAMETER);
            t->resumed = 1;
        } else if (type != EXT_SUPPORTED_VERSIONS)
            return sent_ext(t, type) ? ALERT(ILLEGAL_PARAMETER) : ALERT(UNSUPPORTED_EXTENSION);
    }
    if (seen.err) return seen.err;
    if (share.err) return ALERT(MISSING_EXTENSION);
    uint16_t group = rd_u16(&share);
    rd_t key = rd_vec(&share, 2);
    if (share.err || share.n || key.n == 0) return ALERT(DECODE_ERROR);
    if (group != t->group) return ALERT(ILLEGAL_PARAMETER);
    uint8_t ecdhe[48];
    size_t elen = 0;
    if ((rr = moat_kex_derive(h->kex, key.p, key.n, ecdhe, &elen))) return rr;
    moat_kex_free(h->kex);
    h->kex = NULL;
    if (!t->did_hrr) {
        if ((rr = tls_transcript_start(t)) || (rr = tls_transcript_add(t, h->ch.base, h->ch.len)))
            goto out;
    }
    moat_buf_free(&h->ch);
    uint8_t th[MOAT_HASH_MAX];
    if ((rr = tls_transcript_add(t, msg, len)) || (rr = tls_transcript_hash(t, th)) ||
        (rr = ks_early_secret(t->hash, t->resumed ? h->psk->psk : NULL, t->hlen, h->secret)) ||
        (rr = ks_next_stage(t->hash, h->secret, ecdhe, elen, h->secret)) ||
        (rr = ks_derive_secret(t->hash, h->secret, "c hs traffic", th, h->c_hs)) ||
        (rr = ks_derive_secret(t->hash, h->secret, "s hs traffic", th, h->s_hs)))
        goto out;
    tls_keylog(t, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", h->c_hs);
    tls_keylog(t, "SERVER_HANDSHAKE_TRAFFIC_SECRET", h->s_hs);
    if ((rr = tls_set_keys(t, 0, h->s_hs, "handshake")) ||
        (rr = tls_set_keys(t, 1, h->c_hs, "handshake")))
        goto out;
    t->state = ST_WAIT_EE;
out:
    moat_wipe(ecdhe, sizeof ecdhe);
    return rr;
}

static int handle_ee(moat_tls *t, const uint8_t *msg, size_t len)
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
            int found = 0;
            for (rd_t o = rd_init(t->cfg->alpn, t->cfg->alpn_len); o.n && !found;) {
                rd_t p = rd_vec(&o, 1);
                found = p.n == proto.n && !memcmp(p.p, proto.p, p.n);
            }
            if (!found) return ALERT(ILLEGAL_PARAMETER);
            memcpy(t->alpn, proto.p, proto.n);
            t->alpn[proto.n] = 0;
            break;
        }
        default:
            return ALERT(ILLEGAL_PARAMETER); /* ours, but not allowed in EE */
        }
    }
    if (seen.err) return seen.err;
    /* A resumed handshake has no certificate (2.2). */
    t->state = t->resumed ? ST_WAIT_FINISHED : ST_WAIT_CERT_CR;
    return tls_transcript_add(t, msg, len);
}

static int handle_cert_request(moat_tls *t, const uint8_t *msg, size_t len)
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
    t->state = ST_WAIT_CERT;
    return tls_transcript_add(t, msg, len);
}

static int handle_certificate(moat_tls *t, const uint8_t *msg, size_t len)
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
    t->state = ST_WAIT_CV;
    return tls_transcript_add(t, msg, len);
}

static int handle_cert_verify(moat_tls *t, const uint8_t *msg, size_t len)
{
    int e = tls_check_cert_verify(t, msg, len);
    if (!e) t->state = ST_WAIT_FINISHED;
    return e;
}

/* Our certificate for a server that asked (4.4.2): the first configured
 * one, if it can sign with a scheme the server accepts; else none. */
static int send_client_cert(moat_tls *t)
{
    struct hs *h = t->hs;
    const moat_cred *cred = t->cfg->ncreds ? t->cfg->creds[0] : NULL;
    uint16_t scheme = 0;
    for (size_t i = 0; cred && i < h->ncr_sigs && !scheme; i++)
        for (size_t k = 0; k < tls_nsigschemes && !scheme; k++)
            if (h->cr_sigs[i] == tls_sigschemes[k] && moat_cred_can_sign(cred, h->cr_sigs[i]))
                scheme = h->cr_sigs[i];
    if (!scheme) cred = NULL;
    int e = tls_queue_certificate(t, cred, h->cr_ctx, h->cr_ctx_len, NULL, 0);
    if (!e && cred) e = tls_queue_cert_verify(t, cred, scheme);
    return e;
}

static int handle_finished(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    struct hs *h = t->hs;
    uint8_t th[MOAT_HASH_MAX], expect[MOAT_HASH_MAX], c_ap[MOAT_HASH_MAX], s_ap[MOAT_HASH_MAX];
    int e;
    if (len - 4 != t->hlen) return ALERT(DECODE_ERROR);
    if ((e = tls_transcript_hash(t, th)) || (e = ks_finished(t->hash, h->s_hs, th, expect)))
        return e;
    if (moat_ct_memcmp(expect, msg + 4, t->hlen)) return ALERT(DECRYPT_ERROR);
    if ((e = tls_transcript_add(t, msg, len)) || (e = tls_derive_app_secrets(t, c_ap, s_ap)))
        goto out;
    /* The client's second flight, under its handshake keys. */
    if ((e = tls_send_ccs(t, out))) goto out;
    moat_buf m;
    moat_buf_init(&m);
    if (h->cert_requested && (e = send_client_cert(t))) goto outm;
    uint8_t fin[4 + MOAT_HASH_MAX] = {HS_FINISHED, 0, 0, (uint8_t)t->hlen};
    if ((e = tls_transcript_hash(t, th)) || (e = ks_finished(t->hash, h->c_hs, th, fin + 4)) ||
        (e = moat_buf_append(&m, fin, 4 + t->hlen)) || (e = tls_queue_hs(t, &m)) ||
        (e = tls_flush_hs(t, out)) || (e = tls_transcript_hash(t, th)) ||
        (e = ks_derive_secret(t->hash, h->secret, "res master", th, t->resumption)) ||
        (e = tls_set_keys(t, 0, s_ap, "application")) ||
        (e = tls_set_keys(t, 1, c_ap, "application")))
        goto outm;
    t->state = ST_CONNECTED;
    tls_hs_free(t);
outm:
    moat_buf_free(&m);
out:
    moat_wipe(c_ap, sizeof c_ap);
    moat_wipe(s_ap, sizeof s_ap);
    return e;
}

int tls_client_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out)
{
    switch (t->state) {
    case ST_WAIT_SH:
        if (type == HS_SERVER_HELLO) return handle_server_hello(t, msg, len, out);
        break;
    case ST_WAIT_EE:
        if (type == HS_ENCRYPTED_EXTENSIONS) return handle_ee(t, msg, len);
        break;
    case ST_WAIT_CERT_CR:
        if (type == HS_CERTIFICATE_REQUEST) return handle_cert_request(t, msg, len);
        /* fall through */
    case ST_WAIT_CERT:
        if (type == HS_CERTIFICATE) return handle_certificate(t, msg, len);
        break;
    case ST_WAIT_CV:
        if (type == HS_CERTIFICATE_VERIFY) return handle_cert_verify(t, msg, len);
        break;
    case ST_WAIT_FINISHED:
        if (type == HS_FINISHED) return handle_finished(t, msg, len, out);
        break;
    }
    return ALERT(UNEXPECTED_MESSAGE);
}
