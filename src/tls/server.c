/* The server handshake (RFC 8446 4.1-4.4, Appendix A.2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

/* One extension of a ClientHello (4.2), kept in ch. more: whether
 * extensions follow it. */
static int read_ch_extension(moat_tls *t, tls_hello *ch, uint16_t type, rd_t body,
                             const uint8_t *msg, int more)
{
    switch (type) {
    case EXT_SUPPORTED_VERSIONS: {
        rd_t v = rd_vec(&body, 1);
        if (body.err || body.n || v.n < 2 || v.n % 2) return ALERT(DECODE_ERROR);
        ch->has_sv = 1;
        while (v.n) {
            uint16_t ver = rd_u16(&v);
            ch->has_sv13 |= ver == TLS_V13;
            ch->has_sv12 |= ver == TLS_V12;
        }
        return 0;
    }
    case EXT_EXTENDED_MASTER_SECRET: /* RFC 7627 5.1: empty */
        if (body.n) return ALERT(DECODE_ERROR);
        ch->has_ems = 1;
        return 0;
    case EXT_RENEGOTIATION_INFO: { /* RFC 5746 3.2 */
        rd_t rc = rd_vec(&body, 1);
        if (body.err || body.n) return ALERT(DECODE_ERROR);
        ch->has_reneg = 1;
        ch->reneg_bad = rc.n != 0;
        return 0;
    }
    case EXT_SESSION_TICKET: /* RFC 5077 3.2: the ticket, or empty */
        ch->has_ticket = 1;
        ch->ticket = body;
        return 0;
    case EXT_EC_POINT_FORMATS: { /* RFC 8422 5.1.2: uncompressed must be there */
        rd_t f = rd_vec(&body, 1);
        int unc = 0;
        if (body.err || body.n || f.n == 0) return ALERT(DECODE_ERROR);
        while (f.n)
            unc |= rd_u8(&f) == 0;
        if (!unc) return ALERT(ILLEGAL_PARAMETER);
        ch->has_ecpf = 1;
        return 0;
    }
    case EXT_SUPPORTED_GROUPS:
        ch->groups = rd_vec(&body, 2);
        if (body.err || body.n || ch->groups.n < 2 || ch->groups.n % 2) return ALERT(DECODE_ERROR);
        ch->has_groups = 1;
        return 0;
    case EXT_SIGNATURE_ALGORITHMS:
        ch->sigalgs = rd_vec(&body, 2);
        if (body.err || body.n || ch->sigalgs.n < 2 || ch->sigalgs.n % 2)
            return ALERT(DECODE_ERROR);
        ch->has_sigalgs = 1;
        return 0;
    case EXT_SIGNATURE_ALGORITHMS_CERT:
        /* 4.2.3: the schemes the client accepts in certificates. */
        ch->sigalgs_cert = rd_vec(&body, 2);
        if (body.err || body.n || ch->sigalgs_cert.n < 2 || ch->sigalgs_cert.n % 2)
            return ALERT(DECODE_ERROR);
        ch->has_sigalgs_cert = 1;
        return 0;
    case EXT_KEY_SHARE:
        ch->shares = rd_vec(&body, 2);
        if (body.err || body.n) return ALERT(DECODE_ERROR);
        ch->has_shares = 1;
        return 0;
    case EXT_SERVER_NAME:
        ch->sni = rd_vec(&body, 2);
        if (body.err || body.n || ch->sni.n == 0) return ALERT(DECODE_ERROR);
        ch->has_sni = 1;
        return 0;
    case EXT_ALPN:
        ch->alpn = rd_vec(&body, 2);
        if (body.err || body.n || ch->alpn.n < 2) return ALERT(DECODE_ERROR);
        ch->has_alpn = 1;
        return 0;
    case EXT_EARLY_DATA:
        if (body.n) return ALERT(DECODE_ERROR); /* 4.2.10: empty in a ClientHello */
        ch->early_data = 1;
        return 0;
    case EXT_STATUS_REQUEST:
        t->hs->want_staple = body.n > 0 && body.p[0] == 1; /* ocsp */
        return 0;
    case EXT_PRE_SHARED_KEY:
        /* 4.2.11: it must be the last extension. */
        if (more) return ALERT(ILLEGAL_PARAMETER);
        ch->psk_ids = rd_vec(&body, 2);
        ch->binders_off = (size_t)(body.p - msg);
        ch->psk_binders = rd_vec(&body, 2);
        if (body.err || body.n || ch->psk_ids.n == 0 || ch->psk_binders.n == 0)
            return ALERT(DECODE_ERROR);
        ch->has_psk = 1;
        return 0;
    case EXT_PSK_KEY_EXCHANGE_MODES: {
        rd_t m = rd_vec(&body, 1);
        if (body.err || body.n || m.n == 0) return ALERT(DECODE_ERROR);
        while (m.n) {
            uint8_t mode = rd_u8(&m);
            ch->mode_ke |= mode == 0;
            ch->mode_dhe |= mode == 1;
        }
        ch->has_modes = 1;
        return 0;
    }
    default:
        return 0; /* unknown and GREASE extensions are ignored */
    }
}

static int check_13(const tls_hello *ch, rd_t comp);

static int parse_client_hello(moat_tls *t, const uint8_t *msg, size_t len, tls_hello *ch)
{
    rd_t r = rd_init(msg + 4, len - 4);
    /* legacy_version: versions come from supported_versions (4.2.1),
     * but D.5 has a 0x0300 one refused; like OpenSSL we refuse anything
     * below 0x0301, which no TLS 1.3 client sends. */
    uint32_t legacy = ch->legacy = rd_uint(&r, 2);
    rd_take(&r, 32, &ch->random);
    rd_t sid = rd_vec(&r, 1);
    ch->suites = rd_vec(&r, 2);
    rd_t comp = rd_vec(&r, 1);
    if (r.err || sid.n > 32 || ch->suites.n < 2 || ch->suites.n % 2 || comp.n < 1)
        return ALERT(DECODE_ERROR);
    ch->sid = sid.p;
    ch->sidlen = sid.n;
    ch->comp = comp;
    if (r.n == 0) /* no extensions: a client older than TLS 1.3 */
        return legacy >= TLS_V12 && t->cfg->min_version <= TLS_V12 ? 0 : ALERT(PROTOCOL_VERSION);
    rd_t exts = rd_vec(&r, 2);
    if (r.err || r.n) return ALERT(DECODE_ERROR);
    ext_seen seen = {.n = 0};
    uint16_t type;
    rd_t body;
    while (tls_next_ext(&exts, &seen, &type, &body)) {
        int e = read_ch_extension(t, ch, type, body, msg, exts.n != 0);
        if (e) return e;
    }
    if (seen.err) return seen.err;
    if (legacy < 0x0301) return ALERT(PROTOCOL_VERSION);
    if (ch->has_sv13 && t->cfg->max_version >= TLS_V13) return check_13(ch, comp);
    return 0;
}

/* The version (RFC 8446 4.2.1, D.2): 1.3 when both speak it; else 1.2
 * when offered (in supported_versions, or by legacy_version without
 * it) and allowed; else protocol_version (TLS 1.0, 1.1, SSL 3). */
static uint16_t choose_version(const moat_tls *t, const tls_hello *ch)
{
    const moat_tls_config *c = t->cfg;
    if (ch->has_sv13 && c->max_version >= TLS_V13) return TLS_V13;
    int v12 = ch->has_sv ? ch->has_sv12 : ch->legacy >= TLS_V12;
    return v12 && c->min_version <= TLS_V12 ? TLS_V12 : 0;
}

/* What a 1.3 ClientHello must hold. */
static int check_13(const tls_hello *ch, rd_t comp)
{
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

static int parse_sni(moat_tls *t, tls_hello *ch)
{
    if (ch->has_sni) {
        rd_t l = ch->sni;
        while (l.n) {
            uint8_t nt = rd_u8(&l);
            rd_t name = rd_vec(&l, 2);
            if (l.err) return ALERT(DECODE_ERROR);
            if (nt != 0 || t->sni) continue;
            if (name.n == 0 || name.n > 255 || memchr(name.p, 0, name.n))
                return ALERT(ILLEGAL_PARAMETER);
            int r = tls_set_str(&t->sni, name.p, name.n);
            if (r) return r;
        }
    }
    return 0;
}

/* 4.4.2.2: whether every certificate of the chain that the client will
 * validate (all but self-signed ones) is signed with a scheme in list. */
static int chain_fits(const moat_cred *cred, rd_t list)
{
    for (size_t i = 0; i < crypto_cred_chain_len(cred); i++) {
        size_t len;
        const uint8_t *der = crypto_cred_chain_der(cred, i, &len);
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
static int choose_cert(moat_tls *t, tls_hello *ch)
{
    const moat_tls_config *c = t->cfg;
    if (!ch->has_sigalgs) return ALERT(MISSING_EXTENSION);
    rd_t cert_list = ch->has_sigalgs_cert ? ch->sigalgs_cert : ch->sigalgs;
    /* Passes 0 and 1 look at the certificates named like the SNI: through
     * the name index (certindex.c), or all of them when it cannot say. */
    uint32_t cand[TLS_NAME_CAND_MAX];
    int ncand = t->sni ? tls_names_find(c, t->sni, cand, TLS_NAME_CAND_MAX) : 0;
    for (int pass = 0; pass < 4; pass++) {
        size_t count = pass < 2 && ncand >= 0 ? (size_t)ncand : c->ncreds;
        for (size_t k = 0; k < count; k++) {
            size_t i = pass < 2 && ncand >= 0 ? cand[k] : k;
            if (pass < 2 && !(t->sni && crypto_cred_matches_name(c->creds[i], t->sni))) continue;
            if (pass % 2 == 0 && !chain_fits(c->creds[i], cert_list)) continue;
            for (rd_t s = ch->sigalgs; s.n;) {
                uint16_t scheme = rd_u16(&s);
                int ours = 0;
                for (size_t k = 0; k < tls_nsigschemes; k++)
                    ours |= tls_sigschemes[k] == scheme;
                if (ours && crypto_cred_can_sign(c->creds[i], scheme)) {
                    t->hs->cred = c->creds[i];
                    t->hs->cred_i = i;
                    t->sigscheme = scheme;
                    return 0;
                }
            }
        }
    }
    return ALERT(HANDSHAKE_FAILURE);
}

static int choose_alpn(moat_tls *t, tls_hello *ch)
{
    if (!ch->has_alpn || !t->cfg->alpn_len) return 0;
    for (rd_t l = ch->alpn; l.n;) {
        rd_t p = rd_vec(&l, 1);
        if (l.err || p.n == 0) return ALERT(DECODE_ERROR);
    }
    for (rd_t o = rd_init(t->cfg->alpn, t->cfg->alpn_len); o.n;) {
        rd_t mine = rd_vec(&o, 1);
        if (tls_alpn_has(ch->alpn.p, ch->alpn.n, mine.p, mine.n)) {
            t->alpn = tls_alpn_name(t->cfg, mine.p, mine.n);
            return 0;
        }
    }
    return ALERT(NO_APPLICATION_PROTOCOL);
}

/* 4.2.11: accepts the first offered ticket that opens, is fresh, is for
 * this name and suite hash, and whose binder is right. Returns 0 with
 * hs->psk set, 0 with none accepted, or an error (a wrong binder). */
static int try_psk(moat_tls *t, tls_hello *ch, const uint8_t *msg, int have_share, int *index)
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
        if (tls_ticket_open(t, id.p, id.n, s) || crypto_suite_hash(s->suite) != t->hash ||
            strcmp(s->sni, TLS_STR(t->sni)) || !tls_ticket_auth_ok(t, s))
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
        r = tls_binder_transcript(t, t->hash, msg, ch->binders_off, th);
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
    tls_session_free(s);
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
static int read_shares(const moat_tls *t, const tls_hello *ch, int *pick, rd_t *key)
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

/* What negotiate decided. */
typedef struct {
    int pick;       /* index in our groups of the client's share used, -1: none */
    rd_t key;       /* that share */
    int psk_index;  /* the identity accepted, -1: none */
    int dhe;        /* an (EC)DHE exchange (psk_dhe_ke or a full handshake) */
    uint16_t retry; /* the group a HelloRetryRequest asks for, 0: none needed */
} negotiation;

/* 4.1.2: a second ClientHello keeps the session id and the suite, drops
 * early_data; the first one picks the suite and starts the transcript. */
static int check_or_pick_suite(moat_tls *t, const tls_hello *ch)
{
    struct hs *h = t->hs;
    const moat_tls_config *c = t->cfg;
    if (t->did_hrr) {
        if (ch->early_data || ch->sidlen != h->sidlen || memcmp(ch->sid, h->sid, ch->sidlen) ||
            !list_has(ch->suites, h->hrr_suite))
            return ALERT(ILLEGAL_PARAMETER);
        t->skip_early_data = 0; /* 4.2.10: no 0-RTT follows the second ClientHello */
        return 0;
    }
    uint16_t suite = 0;
    for (size_t i = 0; i < c->nsuites && !suite; i++)
        if (list_has(ch->suites, c->suites[i])) suite = c->suites[i];
    if (!suite) return ALERT(HANDSHAKE_FAILURE);
    int e = tls_set_suite(t, suite);
    if (!e) e = tls_transcript_start(t);
    if (e) return e;
    memcpy(h->random, ch->random, 32);
    memcpy(h->sid, ch->sid, ch->sidlen);
    h->sidlen = ch->sidlen;
    t->skip_early_data = ch->early_data;
    return 0;
}

/* RECVD_CH (A.2): suite, key share, name, PSK, certificate and ALPN are
 * chosen, or a HelloRetryRequest is found necessary (n->retry). */
static int negotiate(moat_tls *t, tls_hello *ch, const uint8_t *msg, negotiation *n)
{
    const moat_tls_config *c = t->cfg;
    int e = check_or_pick_suite(t, ch);
    if (!e) e = read_shares(t, ch, &n->pick, &n->key);
    if (!e) e = parse_sni(t, ch);
    if (!e) e = try_psk(t, ch, msg, n->pick >= 0, &n->psk_index);
    if (e) return e;
    t->resumed = n->psk_index >= 0;
    /* 4.2.9: psk_dhe_ke keeps forward secrecy and is what we do, unless
     * the server was told to resume without a key exchange (psk_ke, which
     * saves the ECDHE) and the client allows it. */
    n->dhe = !t->resumed || (ch->mode_dhe && n->pick >= 0 && !(c->allow_psk_ke && ch->mode_ke));
    if ((!t->resumed && (e = choose_cert(t, ch))) || (e = choose_alpn(t, ch))) return e;
    if (n->dhe && n->pick < 0) {
        if (!ch->has_groups || !ch->has_shares) return ALERT(MISSING_EXTENSION);
        /* No usable share: ask for one in a group we both support (4.1.4). */
        for (size_t i = 0; i < c->ngroups && !n->retry; i++)
            if (list_has(ch->groups, c->groups[i])) n->retry = c->groups[i];
        if (!n->retry) return ALERT(HANDSHAKE_FAILURE);
    }
    return 0;
}

/* ServerHello and HelloRetryRequest share a layout (4.1.3): the header up
 * to the extensions, whose block is left open. */
static void write_hello_head(const moat_tls *t, const tls_hello *ch, const uint8_t *random, wr_t *w)
{
    wr_u8(w, HS_SERVER_HELLO);
    wr_open(w, 3);
    wr_u16(w, 0x0303); /* legacy_version */
    wr_bytes(w, random, 32);
    wr_open(w, 1);
    wr_bytes(w, ch->sid, ch->sidlen); /* legacy_session_id_echo */
    wr_close(w);
    wr_u16(w, t->suite);
    wr_u8(w, 0); /* legacy_compression_method */
    wr_open(w, 2);
    wr_u16(w, EXT_SUPPORTED_VERSIONS);
    wr_open(w, 2);
    wr_u16(w, 0x0304);
    wr_close(w);
}

/* Closes the hello's blocks, sends it, and (D.4) a CCS right after the
 * first server message when the client is in compatibility mode (it sent
 * a session id). */
static int send_hello(moat_tls *t, const tls_hello *ch, wr_t *w, moat_buf *m, moat_buf *out)
{
    wr_close(w);
    wr_close(w);
    int r = wr_finish(w);
    if (!r) r = tls_queue_hs(t, m);
    if (!r) r = tls_flush_hs(t, out);
    if (!r && ch->sidlen) r = tls_send_ccs(t, out);
    moat_buf_free(m);
    return r;
}

/* 4.1.4: the transcript restarts from message_hash(ClientHello1), and the
 * HelloRetryRequest names the group to send a share in; back to START. */
static int send_hello_retry_request(moat_tls *t, const tls_hello *ch, const uint8_t *msg,
                                    size_t len, uint16_t group, moat_buf *out)
{
    struct hs *h = t->hs;
    int e = tls_transcript_message_hash(t, msg, len);
    if (e) return e;
    t->did_hrr = 1;
    h->hrr_suite = t->suite;
    h->hrr_group = group;
    tls_set_str(&t->sni, NULL, 0); /* parsed again from the second ClientHello */
    t->alpn = NULL;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    write_hello_head(t, ch, tls_hrr_random, &w);
    wr_u16(&w, EXT_KEY_SHARE);
    wr_open(&w, 2);
    wr_u16(&w, group); /* selected_group only */
    wr_close(&w);
    t->state = SERVER_START;
    return send_hello(t, ch, &w, &m, out);
}

static int write_server_hello(moat_tls *t, const tls_hello *ch, const negotiation *n,
                              const uint8_t *random, const uint8_t *pub, size_t publen,
                              moat_buf *out)
{
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    write_hello_head(t, ch, random, &w);
    if (n->dhe) {
        wr_u16(&w, EXT_KEY_SHARE);
        wr_open(&w, 2);
        wr_u16(&w, t->group);
        wr_open(&w, 2);
        wr_bytes(&w, pub, publen);
        wr_close(&w);
        wr_close(&w);
    }
    if (n->psk_index >= 0) {
        wr_u16(&w, EXT_PRE_SHARED_KEY);
        wr_open(&w, 2);
        wr_u16(&w, n->psk_index); /* selected_identity */
        wr_close(&w);
    }
    return send_hello(t, ch, &w, &m, out);
}

/* The ServerHello (4.1.3) with our share, then the handshake keys: on to
 * NEGOTIATED. */
static int send_server_hello(moat_tls *t, const tls_hello *ch, const negotiation *n, moat_buf *out)
{
    struct hs *h = t->hs;
    uint8_t ecdhe[MOAT_KEX_SECRET_MAX], pub[MOAT_KEX_SHARE_MAX], random[32];
    size_t elen = 0, publen = 0;
    int e = 0;
    if (n->dhe) { /* ECDHE, or the hybrid's encapsulation and X25519 */
        t->group = t->cfg->groups[n->pick];
        e = crypto_kex_respond(t->group, n->key.p, n->key.n, pub, &publen, ecdhe, &elen);
    }
    if (!e) e = crypto_random(random, 32);
    if (!e) e = write_server_hello(t, ch, n, random, pub, publen, out);
    if (!e)
        e = tls_install_hs_secrets(t, t->resumed ? h->psk->psk : NULL, n->dhe ? ecdhe : NULL, elen);
    moat_wipe(ecdhe, sizeof ecdhe);
    if (!e) t->state = SERVER_NEGOTIATED;
    return e;
}

static int send_encrypted_extensions(moat_tls *t)
{
    struct hs *h = t->hs;
    moat_buf m;
    moat_buf_init(&m);
    wr_t w = wr_init(&m);
    wr_u8(&w, HS_ENCRYPTED_EXTENSIONS);
    wr_open(&w, 3);
    wr_open(&w, 2);
    if (t->alpn) tls_wr_alpn_chosen(&w, t->alpn);
    if (t->sni && h->cred && crypto_cred_matches_name(h->cred, t->sni)) {
        /* RFC 6066 3: an empty server_name says the name was used. */
        wr_u16(&w, EXT_SERVER_NAME);
        wr_u16(&w, 0);
    }
    wr_close(&w);
    wr_close(&w);
    return tls_queue_written(t, &w, &m);
}

static int send_certificate_request(moat_tls *t)
{
    return tls_queue_cert_request(t);
}

/* Our chain, with the OCSP staple while it is fresh and when asked for. */
static int send_certificate(moat_tls *t)
{
    struct hs *h = t->hs;
    const moat_tls_config *c = t->cfg;
    size_t ci = h->cred_i;
    int staple =
        h->want_staple && c->ocsp[ci] && (!c->ocsp_next[ci] || c->ocsp_next[ci] > tls_now(t));
    return tls_queue_certificate(t, h->cred, NULL, 0, staple ? c->ocsp[ci] : NULL, c->ocsp_len[ci]);
}

static int send_certificate_verify(moat_tls *t)
{
    return tls_queue_cert_verify(t, t->hs->cred, t->sigscheme);
}

/* Our Finished ends the flight; the application write key follows it,
 * and the client's waits for its Finished (hs->c_ap). */
static int send_finished(moat_tls *t, moat_buf *out)
{
    int e = tls_queue_finished(t);
    if (!e) e = tls_flush_hs(t, out);
    if (!e) e = tls_derive_app_secrets(t);
    if (!e) e = tls_install_app_keys(t, 1);
    return e;
}

/* START -> RECVD_CH -> NEGOTIATED -> WAIT_FLIGHT2 (A.2), or back to
 * START through a HelloRetryRequest. The server's flight: EncryptedExtensions,
 * then (not resumed, 2.2) CertificateRequest when configured, Certificate
 * and CertificateVerify, then Finished. */
static int recv_client_hello(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    tls_hello ch;
    memset(&ch, 0, sizeof ch);
    negotiation n = {.pick = -1, .psk_index = -1};
    int e = parse_client_hello(t, msg, len, &ch);
    if (e) return e;
    uint16_t version = choose_version(t, &ch);
    if (!version) return ALERT(PROTOCOL_VERSION);
    if (version == TLS_V12 && t->did_hrr) return ALERT(ILLEGAL_PARAMETER); /* 4.1.2 */
    t->state = SERVER_RECVD_CH;
    if (version == TLS_V12) {
        if ((e = parse_sni(t, &ch)) || (e = choose_alpn(t, &ch))) return e;
        return tls12_server_hello(t, &ch, msg, len, out);
    }
    t->version = TLS_V13;
    if ((e = negotiate(t, &ch, msg, &n))) return e;
    if (n.retry) return send_hello_retry_request(t, &ch, msg, len, n.retry, out);
    if ((e = tls_transcript_add(t, msg, len)) || (e = send_server_hello(t, &ch, &n, out)) ||
        (e = send_encrypted_extensions(t)))
        return e;
    if (!t->resumed) {
        if (t->cfg->client_auth && (e = send_certificate_request(t))) return e;
        if ((e = send_certificate(t)) || (e = send_certificate_verify(t))) return e;
    }
    if ((e = send_finished(t, out)) || (e = tls_resume_identity(t))) return e;
    t->state = SERVER_WAIT_FLIGHT2;
    /* No 0-RTT is accepted: no EndOfEarlyData to wait for (A.2). */
    t->state = t->hs->cert_requested ? SERVER_WAIT_CERT : SERVER_WAIT_FINISHED;
    return 0;
}

/* The client's Certificate in answer to our request (4.4.2.4). */
static int recv_certificate(moat_tls *t, const uint8_t *msg, size_t len)
{
    struct hs *h = t->hs;
    rd_t staple;
    int e = tls_read_certificate(t, msg, len, NULL, 0, 0, &staple);
    if (e) return e;
    if (h->npeer == 0) {
        if (t->cfg->client_auth == MOAT_CLIENT_AUTH_REQUIRE) return ALERT(CERTIFICATE_REQUIRED);
        t->state = SERVER_WAIT_FINISHED;
        return tls_transcript_add(t, msg, len);
    }
    if (!t->cfg->client_trust) return ALERT(UNKNOWN_CA);
    if ((e = tls_verify_peer_chain(t, t->cfg->client_trust, NULL, &staple))) return e;
    if ((e = tls_keep_client_chain(t))) return e;
    t->state = SERVER_WAIT_CV;
    return tls_transcript_add(t, msg, len);
}

static int recv_certificate_verify(moat_tls *t, const uint8_t *msg, size_t len)
{
    int e = tls_check_cert_verify(t, msg, len);
    if (!e) t->state = SERVER_WAIT_FINISHED;
    return e;
}

/* The client's Finished: its application keys, the resumption secret,
 * and tickets (4.6.1). */
static int recv_finished(moat_tls *t, const uint8_t *msg, size_t len, moat_buf *out)
{
    int e = tls_read_finished(t, msg, len);
    if (!e) e = tls_resumption_secret(t);
    if (!e) e = tls_install_app_keys(t, 0);
    if (e) return e;
    t->state = SERVER_CONNECTED;
    tls_hs_free(t);
    return t->cfg->tickets ? tls_send_tickets(t, out) : 0;
}

int tls_server_handle(moat_tls *t, uint8_t type, const uint8_t *msg, size_t len, moat_buf *out)
{
    switch ((tls_server_state)t->state) {
    case SERVER_START:
        if (type == HS_CLIENT_HELLO) return recv_client_hello(t, msg, len, out);
        break;
    case SERVER_WAIT_CERT:
        if (type == HS_CERTIFICATE) return recv_certificate(t, msg, len);
        /* 4.4.2.4: a client that skips the Certificate we require. */
        if (type == HS_FINISHED && t->cfg->client_auth == MOAT_CLIENT_AUTH_REQUIRE)
            return ALERT(CERTIFICATE_REQUIRED);
        break;
    case SERVER_WAIT_CV:
        if (type == HS_CERTIFICATE_VERIFY) return recv_certificate_verify(t, msg, len);
        break;
    case SERVER_WAIT_FINISHED:
        if (type == HS_FINISHED) return recv_finished(t, msg, len, out);
        break;
    case SERVER12_WAIT_CERT:
    case SERVER12_WAIT_CKE:
    case SERVER12_WAIT_CV:
    case SERVER12_WAIT_CCS:
    case SERVER12_WAIT_FINISHED:
        return tls12_server_handle(t, type, msg, len, out);
    case SERVER_RECVD_CH:
    case SERVER_NEGOTIATED:
    case SERVER_WAIT_FLIGHT2: /* passed through within one ClientHello */
    case SERVER_CONNECTED:    /* post-handshake messages go to tls.c */
    case SERVER_DEAD:
        break;
    }
    return ALERT(UNEXPECTED_MESSAGE);
}
