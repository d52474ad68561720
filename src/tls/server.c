/* The server handshake (RFC 8446 4.1-4.4, Appendix A.2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

/* What the server keeps of a ClientHello while answering it. */
typedef struct {
    rd_t suites, groups, sigalgs, sigalgs_cert, shares, sni, alpn, psk_ids, psk_binders;
    int has_groups, has_sigalgs, has_sigalgs_cert, has_shares, has_sv13, has_sni, has_alpn;
    int early_data;
    int has_psk, has_modes, mode_dhe, mode_ke;
    size_t binders_off; /* where the binders list starts in the message */
    const uint8_t *sid;
    size_t sidlen;
    const uint8_t *random;
} client_hello;

static int parse_client_hello(moat_tls *t, const uint8_t *msg, size_t len, client_hello *ch)
{
    rd_t r = rd_init(msg + 4, len - 4);
    /* legacy_version: versions come from supported_versions (4.2.1),
     * but D.5 has a 0x0300 one refused; like OpenSSL we refuse anything
     * below 0x0301, which no TLS 1.3 client sends. */
    uint32_t legacy = rd_uint(&r, 2);
    rd_take(&r, 32, &ch->random);
    rd_t sid = rd_vec(&r, 1);
    ch->suites = rd_vec(&r, 2);
    rd_t comp = rd_vec(&r, 1);
    if (r.err || sid.n > 32 || ch->suites.n < 2 || ch->suites.n % 2 || comp.n < 1)
        return ALERT(DECODE_ERROR);
    ch->sid = sid.p;
    ch->sidlen = sid.n;
    if (r.n == 0) return ALERT(PROTOCOL_VERSION); /* no extensions: a client older than TLS 1.3 */
    rd_t exts = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    ext_seen seen = {.n = 0};
    uint16_t type;
    rd_t body;
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        switch (type) {
        case EXT_SUPPORTED_VERSIONS: {
            rd_t v = rd_vec(&body, 1);
            if (body.err || body.n || v.n < 2 || v.n % 2) return ALERT(DECODE_ERROR);
            while (v.n)
                ch->has_sv13 |= rd_u16(&v) == 0x0304;
            break;
        }
        case EXT_SUPPORTED_GROUPS:
            ch->groups = rd_vec(&body, 2);
            if (body.err || body.n || ch->groups.n < 2 || ch->groups.n % 2)
                return ALERT(DECODE_ERROR);
            ch->has_groups = 1;
            break;
        case EXT_SIGNATURE_ALGORITHMS:
            ch->sigalgs = rd_vec(&body, 2);
            if (body.err || body.n || ch->sigalgs.n < 2 || ch->sigalgs.n % 2)
                return ALERT(DECODE_ERROR);
            ch->has_sigalgs = 1;
            break;
        case EXT_SIGNATURE_ALGORITHMS_CERT:
            /* 4.2.3: the schemes the client accepts in certificates. */
            ch->sigalgs_cert = rd_vec(&body, 2);
            if (body.err || body.n || ch->sigalgs_cert.n < 2 || ch->sigalgs_cert.n % 2)
                return ALERT(DECODE_ERROR);
            ch->has_sigalgs_cert = 1;
            break;
        case EXT_KEY_SHARE:
            ch->shares = rd_vec(&body, 2);
            if (body.err || body.n) return ALERT(DECODE_ERROR);
            ch->has_shares = 1;
            break;
        case EXT_SERVER_NAME:
            ch->sni = rd_vec(&body, 2);
            if (body.err || body.n || ch->sni.n == 0) return ALERT(DECODE_ERROR);
            ch->has_sni = 1;
            break;
        case EXT_ALPN:
            ch->alpn = rd_vec(&body, 2);
            if (body.err || body.n || ch->alpn.n < 2) return ALERT(DECODE_ERROR);
            ch->has_alpn = 1;
            break;
        case EXT_EARLY_DATA:
            if (body.n) return ALERT(DECODE_ERROR); /* 4.2.10: empty in a ClientHello */
            ch->early_data = 1;
            break;
        case EXT_STATUS_REQUEST:
            t->hs->want_staple = body.n > 0 && body.p[0] == 1; /* ocsp */
            break;
        case EXT_PRE_SHARED_KEY:
            /* 4.2.11: it must be the last extension. */
            if (exts.n) return ALERT(ILLEGAL_PARAMETER);
            ch->psk_ids = rd_vec(&body, 2);
            ch->binders_off = (size_t)(body.p - msg);
            ch->psk_binders = rd_vec(&body, 2);
            if (body.err || body.n || ch->psk_ids.n == 0 || ch->psk_binders.n == 0)
                return ALERT(DECODE_ERROR);
            ch->has_psk = 1;
            break;
        case EXT_PSK_KEY_EXCHANGE_MODES: {
            rd_t m = rd_vec(&body, 1);
            if (body.err || body.n || m.n == 0) return ALERT(DECODE_ERROR);
            while (m.n) {
                uint8_t mode = rd_u8(&m);
                ch->mode_ke |= mode == 0;
                ch->mode_dhe |= mode == 1;
            }
            ch->has_modes = 1;
            break;
        }
        default:
            break; /* unknown and GREASE extensions are ignored */
        }
    }
    if (seen.err) return seen.err;
    if (!ch->has_sv13 || legacy < 0x0301) return ALERT(PROTOCOL_VERSION);
    /* 4.1.2: TLS 1.3 ClientHellos carry exactly the null compression method. */
    if (comp.n != 1 || comp.p[0] != 0) return ALERT(ILLEGAL_PARAMETER);
    if (ch->has_psk && !ch->has_modes) return ALERT(MISSING_EXTENSION); /* 4.2.9 */
    if (!ch->has_psk && (!ch->has_sigalgs || !ch->has_groups || !ch->has_shares))
        return ALERT(MISSING_EXTENSION);
    return 0;
}

static int list_has(rd_t list, uint16_t v)
{
    while (list.n)
        if (rd_u16(&list) == v) return 1;
    return 0;
}

static int parse_sni(moat_tls *t, client_hello *ch)
{
    if (ch->has_sni) {
        rd_t l = ch->sni;
        while (l.n) {
            uint8_t nt = rd_u8(&l);
            rd_t name = rd_vec(&l, 2);
            if (l.err) return ALERT(DECODE_ERROR);
            if (nt != 0 || t->sni[0]) continue;
            if (name.n == 0 || name.n >= sizeof t->sni || memchr(name.p, 0, name.n))
                return ALERT(ILLEGAL_PARAMETER);
            memcpy(t->sni, name.p, name.n);
            t->sni[name.n] = 0;
        }
    }
    return 0;
}

/* 4.4.2.2: whether every certificate of the chain that the client will
 * validate (all but self-signed ones) is signed with a scheme in list. */
static int chain_fits(const moat_cred *cred, rd_t list)
{
    for (size_t i = 0; i < moat_cred_chain_len(cred); i++) {
        size_t len;
        const uint8_t *der = moat_cred_chain_der(cred, i, &len);
        int self_signed = 0;
        uint16_t scheme = tls_cert_sig_scheme(der, len, &self_signed);
        if (self_signed) continue; /* a trust anchor: any algorithm will do */
        if (!scheme || !list_has(list, scheme)) return 0;
    }
    return 1;
}

/* Picks the certificate, then the first scheme of the client's it can sign
 * with. Preference: the SNI name matches, then (4.2.3, a SHOULD) the
 * chain's own signatures are ones the client listed in
 * signature_algorithms_cert (or, without it, signature_algorithms). When
 * no chain fits, one that does not is sent anyway (4.4.2.2): the client
 * decides. */
static int choose_cert(moat_tls *t, client_hello *ch)
{
    const moat_tls_config *c = t->cfg;
    if (!ch->has_sigalgs) return ALERT(MISSING_EXTENSION);
    rd_t cert_list = ch->has_sigalgs_cert ? ch->sigalgs_cert : ch->sigalgs;
    for (int pass = 0; pass < 4; pass++) {
        for (size_t i = 0; i < c->ncreds; i++) {
            if (pass < 2 && !(t->sni[0] && moat_cred_matches_name(c->creds[i], t->sni))) continue;
            if (pass % 2 == 0 && !chain_fits(c->creds[i], cert_list)) continue;
            for (rd_t s = ch->sigalgs; s.n;) {
                uint16_t scheme = rd_u16(&s);
                int ours = 0;
                for (size_t k = 0; k < tls_nsigschemes; k++)
                    ours |= tls_sigschemes[k] == scheme;
                if (ours && moat_cred_can_sign(c->creds[i], scheme)) {
                    t->hs->cred = c->creds[i];
                    t->sigscheme = scheme;
                    return 0;
                }
            }
        }
    }
    return ALERT(HANDSHAKE_FAILURE);
}

static int choose_alpn(moat_tls *t, client_hello *ch)
{
    if (!ch->has_alpn || !t->cfg->alpn_len) return 0;
    for (rd_t l = ch->alpn; l.n;) {
        rd_t p = rd_vec(&l, 1);
        if (l.err || p.n == 0) return ALERT(DECODE_ERROR);
    }
    for (rd_t o = rd_init(t->cfg->alpn, t->cfg->alpn_len); o.n;) {
        rd_t mine = rd_vec(&o, 1);
        for (rd_t l = ch->alpn; l.n;) {
            rd_t p = rd_vec(&l, 1);
            if (p.n == mine.n && !memcmp(p.p, mine.p, p.n)) {
                memcpy(t->alpn, p.p, p.n);
                t->alpn[p.n] = 0;
                return 0;
            }
        }
    }
    return ALERT(NO_APPLICATION_PROTOCOL);
}

static int send_hello(moat_tls *t, const client_hello *ch, const uint8_t *random, uint16_t group,
                      const uint8_t *pub, size_t publen, int psk_index, moat_buf *out)
{
    moat_buf m;
    moat_buf_init(&m);
    size_t mk, ext;
    int r = 0;
    r |= wr_u8(&m, HS_SERVER_HELLO);
    r |= wr_begin(&m, 3, &mk);
    r |= wr_u16(&m, 0x0303);
    r |= wr_bytes(&m, random, 32);
    r |= wr_u8(&m, (uint32_t)ch->sidlen);
    r |= wr_bytes(&m, ch->sid, ch->sidlen);
    r |= wr_u16(&m, t->suite);
    r |= wr_u8(&m, 0);
    r |= wr_begin(&m, 2, &ext);
    r |= wr_u16(&m, EXT_SUPPORTED_VERSIONS);
    r |= wr_u16(&m, 2);
    r |= wr_u16(&m, 0x0304);
    if (pub) {
        r |= wr_u16(&m, EXT_KEY_SHARE);
        r |= wr_u16(&m, (uint32_t)(publen + 4));
        r |= wr_u16(&m, group);
        r |= wr_u16(&m, (uint32_t)publen);
        r |= wr_bytes(&m, pub, publen);
    } else if (random == tls_hrr_random) {
        r |= wr_u16(&m, EXT_KEY_SHARE);
        r |= wr_u16(&m, 2); /* HelloRetryRequest: selected_group only */
        r |= wr_u16(&m, group);
    }
    if (psk_index >= 0) {
        r |= wr_u16(&m, EXT_PRE_SHARED_KEY);
        r |= wr_u16(&m, 2);
        r |= wr_u16(&m, (uint32_t)psk_index);
    }
    r |= wr_end(&m, 2, ext);
    r |= wr_end(&m, 3, mk);
    if (r) r = MOAT_ERR_NOMEM;
    if (!r) r = tls_queue_hs(t, &m);
    if (!r) r = tls_flush_hs(t, out);
    /* D.4: a CCS right after the first server message, when the client
     * is in compatibility mode (it sent a session id). */
    if (!r && ch->sidlen) r = tls_send_ccs(t, out);
    moat_buf_free(&m);
    return r;
}

static int send_flight(moat_tls *t, moat_buf *out)
{
    struct hs *h = t->hs;
    moat_buf m;
    moat_buf_init(&m);
    size_t mk, l1;
    int r = 0;
    /* EncryptedExtensions */
    r |= wr_u8(&m, HS_ENCRYPTED_EXTENSIONS);
    r |= wr_begin(&m, 3, &mk);
    r |= wr_begin(&m, 2, &l1);
    if (t->alpn[0]) {
        size_t n = strlen(t->alpn);
        r |= wr_u16(&m, EXT_ALPN);
        r |= wr_u16(&m, (uint32_t)(n + 3));
        r |= wr_u16(&m, (uint32_t)(n + 1));
        r |= wr_u8(&m, (uint32_t)n);
        r |= wr_bytes(&m, t->alpn, n);
    }
    if (t->sni[0] && h->cred && moat_cred_matches_name(h->cred, t->sni)) {
        r |= wr_u16(&m, EXT_SERVER_NAME);
        r |= wr_u16(&m, 0);
    }
    r |= wr_end(&m, 2, l1);
    r |= wr_end(&m, 3, mk);
    if (r || (r = tls_queue_hs(t, &m))) goto out;
    moat_buf_clear(&m);
    if (t->resumed) goto finished; /* 2.2: the PSK authenticates the server */
    if (t->cfg->client_auth && (r = tls_queue_cert_request(t))) goto out;
    size_t ci = 0;
    while (t->cfg->creds[ci] != h->cred)
        ci++;
    /* The staple goes out only while it is fresh (and when asked for). */
    int staple = h->want_staple && t->cfg->ocsp[ci] &&
                 (!t->cfg->ocsp_next[ci] || t->cfg->ocsp_next[ci] > tls_now(t));
    if ((r = tls_queue_certificate(t, h->cred, NULL, 0, staple ? t->cfg->ocsp[ci] : NULL,
                                   t->cfg->ocsp_len[ci])) ||
        (r = tls_queue_cert_verify(t, h->cred, t->sigscheme)))
        goto out;
finished:;
    /* Finished */
    uint8_t th[MOAT_HASH_MAX], fin[4 + MOAT_HASH_MAX] = {HS_FINISHED, 0, 0, (uint8_t)t->hlen};
    if ((r = tls_transcript_hash(t, th)) || (r = ks_finished(t->hash, h->s_hs, th, fin + 4)) ||
        (r = moat_buf_append(&m, fin, 4 + t->hlen)) || (r = tls_queue_hs(t, &m)))
        goto out;
    r = tls_flush_hs(t, out);
out:
    if (r > 0) r = MOAT_ERR_NOMEM;
    moat_buf_free(&m);
    return r;
}

/* A resumed handshake has no CertificateRequest (2.2): the ticket stands
 * for the client authentication done when it was issued. So it is taken
 * only if that still answers today's settings: with client certificates
 * required, only a ticket that carries a verified identity; a ticket with
 * an identity only while client certificates are asked for and the client
 * CAs are the ones that verified it. Any other ticket gives a full
 * handshake, which asks for a certificate as configured. */
static int ticket_auth_ok(const moat_tls *t, const tls_session *s)
{
    const moat_tls_config *c = t->cfg;
    if (!s->ident[0]) return c->client_auth != MOAT_CLIENT_AUTH_REQUIRE;
    return c->client_auth != MOAT_CLIENT_AUTH_NONE && c->client_trust &&
           !memcmp(s->client_ca, c->client_ca_id, sizeof s->client_ca);
}

/* 4.2.11: accepts the first offered ticket that opens, is fresh, is for
 * this name and suite hash, and whose binder is right. Returns 0 with
 * hs->psk set, 0 with none accepted, or an error (a wrong binder). */
static int try_psk(moat_tls *t, client_hello *ch, const uint8_t *msg, int have_share, int *index)
{
    struct hs *h = t->hs;
    *index = -1;
    if (!ch->has_psk || !t->cfg->tickets) return 0;
    if (!(ch->mode_dhe && have_share) && !(ch->mode_ke && t->cfg->allow_psk_ke)) return 0;
    rd_t ids = ch->psk_ids, binders = ch->psk_binders;
    tls_session *s = calloc(1, sizeof *s);
    if (!s) return MOAT_ERR_NOMEM;
    int r = 0;
    for (int i = 0; ids.n && i < 8; i++) {
        rd_t id = rd_vec(&ids, 2);
        uint32_t obf_age = rd_uint(&ids, 4);
        rd_t binder = rd_vec(&binders, 1);
        if (ids.err || binders.err) {
            r = ALERT(DECODE_ERROR);
            break;
        }
        if (tls_ticket_open(t, id.p, id.n, s) || moat_suite_hash(s->suite) != t->hash ||
            strcmp(s->sni, t->sni) || !ticket_auth_ok(t, s))
            continue;
        /* Past the lifetime counted from the full handshake, or past the
         * client chain's expiry, the ticket is ignored (a full handshake
         * authenticates again); then the client's view of the age
         * against ours. */
        uint64_t now = tls_now_ms(t);
        uint64_t age = now > s->time_ms ? now - s->time_ms : 0;
        int64_t skew = (int64_t)(uint32_t)(obf_age - s->age_add) - (int64_t)age;
        if (now > tls_ticket_end_ms(t, s) || skew > 10000 || skew < -10000) continue;
        if (binder.n != t->hlen) {
            r = ALERT(DECRYPT_ERROR);
            break;
        }
        uint8_t th[MOAT_HASH_MAX], want[MOAT_HASH_MAX];
        if (t->did_hrr) {
            moat_hash_ctx *d = moat_hash_dup(h->transcript);
            r = !d || moat_hash_update(d, msg, ch->binders_off) || moat_hash_peek(d, th)
                    ? MOAT_ERR_INTERNAL
                    : 0;
            moat_hash_free(d);
        } else {
            r = moat_hash(t->hash, msg, ch->binders_off, th);
        }
        if (!r) r = tls_psk_binder(t->hash, s->psk, th, want);
        if (!r && moat_ct_memcmp(want, binder.p, t->hlen)) r = ALERT(DECRYPT_ERROR);
        if (!r) {
            h->psk = s;
            *index = i;
            /* New tickets stand for the same full handshake (tls_send_tickets). */
            t->auth_ms = s->auth_ms;
            t->auth_lifetime =
                s->lifetime < t->cfg->ticket_lifetime ? s->lifetime : t->cfg->ticket_lifetime;
            return 0;
        }
        break;
    }
    moat_wipe(s, sizeof *s);
    free(s);
    return r;
}

/* 4.2.8: the client's key shares, as many as its ClientHello holds. Each
 * must name a group the client listed in supported_groups and no group
 * may come twice (illegal_parameter, which the RFC lets a server check;
 * OpenSSL checks the first, BoringSSL the second for the group it picks).
 * Shares in groups we do not know are skipped, whatever their number and
 * size: browsers keep adding groups (post-quantum ones) and must never be
 * refused for it. The order clients are asked to keep (that of
 * supported_groups) is not checked, as OpenSSL does not: it changes
 * nothing for us. Cost: two 16-bit sets (16 KiB of stack) and one pass
 * over each list. On return *pick is the index in our groups of the share
 * to use (our preference among those offered), -1 when none is usable;
 * after a HelloRetryRequest the one share must be in the group we asked
 * for (4.1.2). */
static int read_shares(const moat_tls *t, const client_hello *ch, int *pick, rd_t *key)
{
    const moat_tls_config *c = t->cfg;
    struct {
        tls_set16 listed, seen;
    } sets;
    memset(&sets, 0, sizeof sets);
    for (rd_t l = ch->groups; ch->has_groups && l.n;)
        tls_set16_add(&sets.listed, rd_u16(&l));
    size_t nshares = 0;
    uint16_t first = 0;
    *pick = -1;
    for (rd_t l = ch->shares; l.n; nshares++) {
        uint16_t g = rd_u16(&l);
        rd_t k = rd_vec(&l, 2);
        if (l.err || k.n == 0) return ALERT(DECODE_ERROR);
        if (!tls_set16_has(&sets.listed, g) || tls_set16_add(&sets.seen, g))
            return ALERT(ILLEGAL_PARAMETER);
        if (!nshares) first = g;
        for (int i = 0; i < (int)c->ngroups; i++) {
            if (c->groups[i] == g && (*pick < 0 || i < *pick)) {
                *pick = i;
                *key = k;
            }
        }
    }
    if (t->did_hrr && (nshares != 1 || first != t->hs->hrr_group)) return ALERT(ILLEGAL_PARAMETER);
    return 0;
}

static int handle_client_hello(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    struct hs *h = t->hs;
    const moat_tls_config *c = t->cfg;
    client_hello ch;
    memset(&ch, 0, sizeof ch);
    rd_t key = {NULL, 0, 0};
    int e = parse_client_hello(t, msg, len, &ch);
    if (e) return e;
    if (t->did_hrr) {
        /* 4.1.2: the second ClientHello keeps the session id and drops early_data. */
        if (ch.early_data || ch.sidlen != h->sidlen || memcmp(ch.sid, h->sid, ch.sidlen) ||
            !list_has(ch.suites, h->hrr_suite))
            return ALERT(ILLEGAL_PARAMETER);
        t->skip_early_data = 0; /* 4.2.10: no 0-RTT follows the second ClientHello */
    } else {
        uint16_t suite = 0;
        for (size_t i = 0; i < c->nsuites && !suite; i++)
            if (list_has(ch.suites, c->suites[i])) suite = c->suites[i];
        if (!suite) return ALERT(HANDSHAKE_FAILURE);
        if ((e = tls_set_suite(t, suite)) || (e = tls_transcript_start(t))) return e;
        memcpy(h->random, ch.random, 32);
        memcpy(h->sid, ch.sid, ch.sidlen);
        h->sidlen = ch.sidlen;
        t->skip_early_data = ch.early_data;
    }
    int pick = -1;
    if ((e = read_shares(t, &ch, &pick, &key))) return e;
    int psk_index = -1;
    if ((e = parse_sni(t, &ch)) || (e = try_psk(t, &ch, msg, pick >= 0, &psk_index))) return e;
    t->resumed = psk_index >= 0;
    /* 4.2.9: psk_dhe_ke keeps forward secrecy and is what we do, unless
     * the server was told to resume without a key exchange (psk_ke, which
     * saves the ECDHE) and the client allows it. */
    int dhe = !t->resumed || (ch.mode_dhe && pick >= 0 && !(t->cfg->allow_psk_ke && ch.mode_ke));
    if ((!t->resumed && (e = choose_cert(t, &ch))) || (e = choose_alpn(t, &ch))) return e;
    if (dhe && pick < 0) {
        if (!ch.has_groups || !ch.has_shares) return ALERT(MISSING_EXTENSION);
        /* No usable share: ask for one in a group we both support (4.1.4). */
        uint16_t g = 0;
        for (size_t i = 0; i < c->ngroups && !g; i++)
            if (list_has(ch.groups, c->groups[i])) g = c->groups[i];
        if (!g) return ALERT(HANDSHAKE_FAILURE);
        uint8_t mh[4 + MOAT_HASH_MAX] = {HS_MESSAGE_HASH, 0, 0, (uint8_t)t->hlen};
        if ((e = moat_hash(t->hash, msg, len, mh + 4)) ||
            (e = tls_transcript_add(t, mh, 4 + t->hlen)))
            return e;
        t->did_hrr = 1;
        h->hrr_suite = t->suite;
        h->hrr_group = g;
        t->sni[0] = 0; /* parsed again from the second ClientHello */
        t->alpn[0] = 0;
        return send_hello(t, &ch, tls_hrr_random, g, NULL, 0, -1, out);
    }
    if ((e = tls_transcript_add(t, msg, len))) return e;
    uint8_t ecdhe[48], pub[97], random[32], th[MOAT_HASH_MAX];
    size_t elen = 0, publen = 0;
    if (dhe) {
        t->group = c->groups[pick];
        h->kex = moat_kex_new(t->group);
        if (!h->kex) return MOAT_ERR_INTERNAL;
        if ((e = moat_kex_derive(h->kex, key.p, key.n, ecdhe, &elen)) ||
            (e = moat_kex_pub(h->kex, pub, &publen)))
            goto out;
    }
    if ((e = moat_random(random, 32)) ||
        (e = send_hello(t, &ch, random, t->group, dhe ? pub : NULL, publen, psk_index, out)) ||
        (e = tls_transcript_hash(t, th)) ||
        (e = ks_early_secret(t->hash, t->resumed ? h->psk->psk : NULL, t->hlen, h->secret)) ||
        (e = ks_next_stage(t->hash, h->secret, dhe ? ecdhe : NULL, elen, h->secret)) ||
        (e = ks_derive_secret(t->hash, h->secret, "c hs traffic", th, h->c_hs)) ||
        (e = ks_derive_secret(t->hash, h->secret, "s hs traffic", th, h->s_hs)))
        goto out;
    moat_kex_free(h->kex);
    h->kex = NULL;
    tls_keylog(t, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", h->c_hs);
    tls_keylog(t, "SERVER_HANDSHAKE_TRAFFIC_SECRET", h->s_hs);
    uint8_t c_ap[MOAT_HASH_MAX], s_ap[MOAT_HASH_MAX];
    if ((e = tls_set_keys(t, 1, h->s_hs, "handshake")) ||
        (e = tls_set_keys(t, 0, h->c_hs, "handshake")) || (e = send_flight(t, out)) ||
        (e = tls_derive_app_secrets(t, c_ap, s_ap)) ||
        (e = tls_set_keys(t, 1, s_ap, "application")))
        goto out2;
    /* The client's application secret waits in rd.secret until its Finished. */
    memcpy(t->rd.secret, c_ap, t->hlen);
    t->state = h->cert_requested ? ST_WAIT_CLIENT_CERT : ST_WAIT_CLIENT_FINISHED;
    if (t->resumed && h->psk->ident[0]) {
        if (!tls_text(t)) {
            e = MOAT_ERR_NOMEM;
            goto out2;
        }
        snprintf(t->tx->peer_identity, sizeof t->tx->peer_identity, "%s", h->psk->ident);
        t->tx->peer_not_after = h->psk->not_after;
    }
out2:
    moat_wipe(c_ap, sizeof c_ap);
    moat_wipe(s_ap, sizeof s_ap);
out:
    moat_wipe(ecdhe, sizeof ecdhe);
    return e;
}

static int handle_client_finished(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    struct hs *h = t->hs;
    uint8_t th[MOAT_HASH_MAX], expect[MOAT_HASH_MAX];
    int e;
    if (len - 4 != t->hlen) return ALERT(DECODE_ERROR);
    if ((e = tls_transcript_hash(t, th)) || (e = ks_finished(t->hash, h->c_hs, th, expect)))
        return e;
    if (moat_ct_memcmp(expect, msg + 4, t->hlen)) return ALERT(DECRYPT_ERROR);
    if ((e = tls_transcript_add(t, msg, len)) || (e = tls_transcript_hash(t, th)) ||
        (e = ks_derive_secret(t->hash, h->secret, "res master", th, t->resumption)) ||
        (e = tls_set_keys(t, 0, t->rd.secret, "application")))
        return e;
    t->state = ST_CONNECTED;
    tls_hs_free(t);
    return t->cfg->tickets ? tls_send_tickets(t, out) : 0;
}

/* The client's Certificate in answer to our request (4.4.2.4). */
static int handle_client_cert(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t staple;
    int e = tls_read_certificate(t, msg, len, NULL, 0, 0, &staple);
    if (e) return e;
    if (h->npeer == 0) {
        if (t->cfg->client_auth == MOAT_CLIENT_AUTH_REQUIRE) return ALERT(CERTIFICATE_REQUIRED);
        t->state = ST_WAIT_CLIENT_FINISHED;
        return tls_transcript_add(t, msg, len);
    }
    if (!t->cfg->client_trust) return ALERT(UNKNOWN_CA);
    if ((e = tls_verify_peer_chain(t, t->cfg->client_trust, NULL, &staple))) return e;
    /* tls_verify_peer_chain made t->tx. */
    if (moat_x509_identity(h->peer_certs.base, h->cert_len[0], t->tx->peer_identity,
                           sizeof t->tx->peer_identity))
        t->tx->peer_identity[0] = 0;
    /* Tickets carry when the identity ends: the first expiry among the
     * certificates the client sent, as the chain stops verifying then
     * (one that does not parse ends it now: such a chain did not verify). */
    t->tx->peer_not_after = INT64_MAX;
    for (size_t i = 0; i < h->npeer; i++) {
        int64_t na;
        if (moat_x509_not_after(h->peer_certs.base + h->cert_off[i], h->cert_len[i], &na)) na = 0;
        if (na < t->tx->peer_not_after) t->tx->peer_not_after = na;
    }
    /* Kept for the application (a proxy's RFC 9440 Client-Cert). */
    if (!(t->tx->peer_certs = malloc(h->peer_certs.len))) return MOAT_ERR_NOMEM;
    memcpy(t->tx->peer_certs, h->peer_certs.base, h->peer_certs.len);
    t->tx->npeer = h->npeer;
    memcpy(t->tx->peer_off, h->cert_off, sizeof h->cert_off);
    memcpy(t->tx->peer_len, h->cert_len, sizeof h->cert_len);
    t->state = ST_WAIT_CLIENT_CV;
    return tls_transcript_add(t, msg, len);
}

int tls_server_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out)
{
    if (t->state == ST_WAIT_CLIENT_CERT && type == HS_CERTIFICATE)
        return handle_client_cert(t, msg, len);
    if (t->state == ST_WAIT_CLIENT_CV && type == HS_CERTIFICATE_VERIFY) {
        int e = tls_check_cert_verify(t, msg, len);
        if (!e) t->state = ST_WAIT_CLIENT_FINISHED;
        return e;
    }
    if (t->state == ST_WAIT_CLIENT_CERT && type == HS_FINISHED &&
        t->cfg->client_auth == MOAT_CLIENT_AUTH_REQUIRE)
        return ALERT(CERTIFICATE_REQUIRED);
    if (t->state == ST_RECVD_CH && type == HS_CLIENT_HELLO)
        return handle_client_hello(t, msg, len, out);
    if (t->state == ST_WAIT_CLIENT_FINISHED && type == HS_FINISHED)
        return handle_client_finished(t, msg, len, out);
    return ALERT(UNEXPECTED_MESSAGE);
}
