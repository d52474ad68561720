/* Session resumption (RFC 8446 2.2, 4.6.1, 4.2.11): stateless tickets
 * sealed with AES-256-GCM under rotating keys, client sessions, binders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls/internal.h"

/* Saved sessions (moat_tls_get_session) are version 1. Tickets are
 * version 3: version 2 added the time of the full handshake and the
 * client chain's expiry, version 3 the client chain itself; a ticket of
 * an earlier version no longer opens, and a full handshake follows. */
#define SESSION_VERSION 1
#define TICKET_VERSION 3
#define KEY_NAME 16

uint64_t tls_now_ms(const moat_tls *t)
{
    if (t->cfg->clock) return (uint64_t)t->cfg->clock(t->cfg->clock_arg) * 1000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An 80-byte ticket key is a 16-byte name and 64 bytes of secret; the
 * AES-256-GCM key is HKDF of the secret. */
static int derive_key(const uint8_t material[80], uint8_t *name, uint8_t *key)
{
    uint8_t prk[32];
    memcpy(name, material, KEY_NAME);
    int r = crypto_hkdf_extract(MOAT_HASH_SHA256, (const uint8_t *)"moat ticket key", 15,
                                material + KEY_NAME, 64, prk);
    if (!r)
        r = crypto_hkdf_expand(MOAT_HASH_SHA256, prk, 32, (const uint8_t *)"aes-256-gcm", 11, key,
                               32);
    moat_wipe(prk, sizeof prk);
    crypto_hmac_forget(); /* the ticket key, called from the configuration too */
    return r;
}

/* Automatic keys: one per rotation period, derived from the
 * configuration's secret, cached per thread (direct-mapped by period).
 * AUTO_KEYS covers the longest lifetime (604800 s) in 12-hour periods. */
#define AUTO_KEYS 16

/* Ticket key number `which` (0 seals; all open): from the key file, or
 * derived from the configuration's secret, so every worker of a server
 * derives the same keys. Key 0 is the current period's; key k the one of
 * k periods ago, for as long as a ticket it sealed can still be within the
 * configured lifetime (a ticket sealed at the end of a period lives until
 * lifetime after that end). Returns 0, or -1 when there is no such key. */
static int ticket_key(const moat_tls *t, int which, uint8_t name[KEY_NAME], uint8_t key[32])
{
    const moat_tls_config *c = t->cfg;
    if (c->nticket_keys) {
        if ((size_t)which >= c->nticket_keys) return -1;
        memcpy(name, c->ticket_derived + 48 * which, KEY_NAME);
        memcpy(key, c->ticket_derived + 48 * which + KEY_NAME, 32);
        return 0;
    }
    static __thread struct {
        uint8_t master[32];
        uint64_t period[AUTO_KEYS];
        uint8_t valid[AUTO_KEYS];
        uint8_t name[AUTO_KEYS][KEY_NAME], key[AUTO_KEYS][32];
    } cache;
    int64_t now = tls_now(t);
    if (now < 0) now = 0;
    uint64_t rot = c->ticket_rotate, cur = (uint64_t)now / rot;
    uint64_t oldest =
        (uint64_t)now > c->ticket_lifetime ? ((uint64_t)now - c->ticket_lifetime) / rot : 0;
    if ((uint64_t)which > cur - oldest || which >= AUTO_KEYS) return -1;
    uint64_t period = cur - (uint64_t)which;
    if (memcmp(cache.master, c->ticket_master, 32)) {
        memset(cache.valid, 0, sizeof cache.valid);
        memcpy(cache.master, c->ticket_master, 32);
    }
    size_t slot = (size_t)(period % AUTO_KEYS);
    if (!cache.valid[slot] || cache.period[slot] != period) {
        uint8_t info[8], material[80];
        for (int i = 0; i < 8; i++)
            info[i] = (uint8_t)(period >> (56 - 8 * i));
        int r = crypto_hkdf_expand(MOAT_HASH_SHA256, c->ticket_master, 32, info, 8, material, 80) ||
                derive_key(material, cache.name[slot], cache.key[slot]);
        moat_wipe(material, sizeof material);
        cache.valid[slot] = !r;
        if (r) return -1;
        cache.period[slot] = period;
    }
    memcpy(name, cache.name[slot], KEY_NAME);
    memcpy(key, cache.key[slot], 32);
    return 0;
}

static void put_str(wr_t *w, const char *s)
{
    wr_open(w, 1);
    wr_bytes(w, s, strlen(s));
    wr_close(w);
}

static int get_str(rd_t *r, char *out, size_t cap)
{
    rd_t v = rd_vec(r, 1);
    if (r->err || v.n >= cap) return -1;
    memcpy(out, v.p, v.n);
    out[v.n] = 0;
    return 0;
}

/* The fields common to tickets and saved sessions. */
static void put_session(wr_t *w, const tls_session *s, int version)
{
    wr_u8(w, version);
    wr_u16(w, s->suite);
    wr_u32(w, s->time_ms >> 32);
    wr_u32(w, s->time_ms);
    wr_u32(w, s->lifetime);
    wr_u32(w, s->age_add);
    wr_open(w, 1);
    wr_bytes(w, s->psk, s->psklen);
    wr_close(w);
    put_str(w, s->sni);
    put_str(w, s->alpn);
    put_str(w, s->ident);
}

static int get_session(rd_t *r, tls_session *s, int version)
{
    memset(s, 0, sizeof *s);
    if (rd_u8(r) != version) return -1;
    s->suite = rd_u16(r);
    s->time_ms = (uint64_t)rd_uint(r, 4) << 32;
    s->time_ms |= rd_uint(r, 4);
    s->lifetime = rd_uint(r, 4);
    s->age_add = rd_uint(r, 4);
    rd_t psk = rd_vec(r, 1);
    /* The suite says the version: a 1.2 session holds its (extended)
     * master secret, a 1.3 one its PSK. */
    int h = ks_suite_hash(s->suite);
    if (r->err || h < 0 || psk.n != (ks12_suite_aead(s->suite) ? TLS12_MS_LEN : crypto_hash_len(h)))
        return -1;
    memcpy(s->psk, psk.p, psk.n);
    s->psklen = psk.n;
    if (get_str(r, s->sni, sizeof s->sni) || get_str(r, s->alpn, sizeof s->alpn) ||
        get_str(r, s->ident, sizeof s->ident))
        return -1;
    return 0;
}

/* The verified client chain, as the client sent it: a count, then each
 * certificate's DER with a 2-byte length. A count of 0 when there is no
 * identity, or when the chain is longer than TLS_TICKET_CHAIN_MAX: such
 * a ticket carries the identity only. */
static void put_chain(wr_t *w, const moat_tls *t, const tls_session *s)
{
    const struct tls_text *x = TX(t);
    size_t total = 0;
    for (size_t i = 0; i < x->npeer; i++)
        total += x->peer_len[i];
    if (!s->ident[0] || !x->peer_certs || x->npeer > MAX_PEER_CERTS ||
        total > TLS_TICKET_CHAIN_MAX) {
        wr_u8(w, 0);
        return;
    }
    wr_u8(w, x->npeer);
    for (size_t i = 0; i < x->npeer; i++) {
        wr_open(w, 2);
        wr_bytes(w, x->peer_certs + x->peer_off[i], x->peer_len[i]);
        wr_close(w);
    }
}

/* put_chain's mirror: fail-closed, within the same caps, each
 * certificate non-empty, none without an identity. */
static int get_chain(rd_t *r, tls_session *s)
{
    size_t n = rd_u8(r), total = 0;
    rd_t der[MAX_PEER_CERTS];
    if (r->err || n > MAX_PEER_CERTS || (n && !s->ident[0])) return -1;
    for (size_t i = 0; i < n; i++) {
        der[i] = rd_vec(r, 2);
        if (r->err || der[i].n == 0 || der[i].n > TLS_TICKET_CHAIN_MAX - total) return -1;
        total += der[i].n;
    }
    if (n == 0) return 0;
    if (!(s->chain = malloc(total))) return -1;
    total = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s->chain + total, der[i].p, der[i].n);
        s->chain_len[i] = der[i].n;
        total += der[i].n;
    }
    s->nchain = n;
    return 0;
}

int tls_ticket_seal(moat_tls *t, const tls_session *s, wr_t *out)
{
    uint8_t name[KEY_NAME], key[32], nonce[12];
    moat_buf plain;
    moat_buf_init(&plain);
    int r = ticket_key(t, 0, name, key) ? MOAT_ERR_INTERNAL : 0;
    wr_t w = wr_init(&plain);
    put_session(&w, s, TICKET_VERSION);
    /* Tickets only: the client CAs that verified the identity (see
     * ticket_auth_ok in server.c), the full handshake's time and the
     * client chain's expiry (see tls_ticket_end_ms). */
    wr_bytes(&w, s->client_ca, sizeof s->client_ca);
    wr_u32(&w, s->auth_ms >> 32);
    wr_u32(&w, s->auth_ms);
    wr_u32(&w, (uint64_t)s->not_after >> 32);
    wr_u32(&w, s->not_after);
    put_chain(&w, t, s);
    if (!r) r = wr_finish(&w);
    if (!r) r = crypto_random(nonce, sizeof nonce);
    moat_aead *a = r ? NULL : crypto_aead_new(MOAT_TLS_AES_256_GCM_SHA384, 1, key);
    if (!r && !a) r = MOAT_ERR_INTERNAL;
    uint8_t *p = r ? NULL : wr_room(out, KEY_NAME + 12 + plain.len + 16);
    if (!r && !p) r = out->err;
    if (!r) {
        /* name | nonce | ciphertext | tag; the name is authenticated. */
        memcpy(p, name, KEY_NAME);
        memcpy(p + KEY_NAME, nonce, 12);
        r = crypto_aead_seal(a, nonce, name, KEY_NAME, plain.base, plain.len, p + KEY_NAME + 12);
        if (!r) wr_advance(out, KEY_NAME + 12 + plain.len + 16);
    }
    crypto_aead_free(a);
    moat_buf_free(&plain);
    moat_wipe(key, sizeof key);
    return r;
}

/* Reads an opened ticket's plaintext into s; 0 or -1. */
static int ticket_read(const uint8_t *plain, size_t len, tls_session *s)
{
    rd_t r = rd_init(plain, len);
    const uint8_t *ca;
    if (get_session(&r, s, TICKET_VERSION) || rd_take(&r, sizeof s->client_ca, &ca)) return -1;
    memcpy(s->client_ca, ca, sizeof s->client_ca);
    s->auth_ms = (uint64_t)rd_uint(&r, 4) << 32;
    s->auth_ms |= rd_uint(&r, 4);
    uint64_t na = (uint64_t)rd_uint(&r, 4) << 32;
    na |= rd_uint(&r, 4);
    s->not_after = (int64_t)na;
    if (r.err || get_chain(&r, s) || r.n) {
        free(s->chain);
        s->chain = NULL;
        s->nchain = 0;
        return -1;
    }
    return 0;
}

int tls_ticket_open(moat_tls *t, const uint8_t *tk, size_t len, tls_session *s)
{
    free(s->chain); /* s may hold an earlier ticket's */
    s->chain = NULL;
    if (len < KEY_NAME + 12 + 16 + 1 || len > TLS_TICKET_MAX) return -1;
    uint8_t name[KEY_NAME], key[32];
    size_t plen = len - KEY_NAME - 12 - 16;
    uint8_t *plain = malloc(len); /* room for the ciphertext and tag too */
    if (!plain) return -1;
    int found = -1;
    for (int i = 0; found < 0 && !ticket_key(t, i, name, key); i++) {
        if (memcmp(name, tk, KEY_NAME)) continue;
        moat_aead *a = crypto_aead_new(MOAT_TLS_AES_256_GCM_SHA384, 0, key);
        if (a && !crypto_aead_open(a, tk + KEY_NAME, tk, KEY_NAME, tk + KEY_NAME + 12,
                                   len - KEY_NAME - 12, plain))
            found = ticket_read(plain, plen, s);
        crypto_aead_free(a);
    }
    moat_wipe(key, sizeof key);
    moat_wipe(plain, len);
    free(plain);
    return found;
}

int tls_psk_binder(int h, const uint8_t *psk, const uint8_t *thash, uint8_t *out)
{
    uint8_t early[MOAT_HASH_MAX], empty[MOAT_HASH_MAX], bk[MOAT_HASH_MAX];
    int r = ks_early_secret(h, psk, crypto_hash_len(h), early);
    if (!r) r = crypto_hash(h, "", 0, empty);
    if (!r) r = ks_derive_secret(h, early, "res binder", empty, bk);
    if (!r) r = ks_finished(h, bk, thash, out);
    moat_wipe(early, sizeof early);
    moat_wipe(bk, sizeof bk);
    return r;
}

uint64_t tls_ticket_end_ms(const moat_tls *t, const tls_session *s)
{
    uint32_t life = s->lifetime < t->cfg->ticket_lifetime ? s->lifetime : t->cfg->ticket_lifetime;
    uint64_t end = s->auth_ms + (uint64_t)life * 1000;
    /* Compared in seconds, so that no notAfter can overflow. */
    if (s->ident[0] && (s->not_after <= 0 || (uint64_t)s->not_after < end / 1000))
        end = s->not_after <= 0 ? 0 : (uint64_t)s->not_after * 1000;
    return end;
}

/* Server: NewSessionTickets after the handshake (4.6.1). Those of a
 * resumed connection stand for the same full handshake as the ticket it
 * resumed with: they keep its time, lifetime and client chain expiry, so
 * that a chain of resumptions ends where the first ticket would have
 * (4.6.1 asks for a limit on keying material derived from one full
 * handshake; an identity must not outlive its certificate). Each says how
 * long it has left; none is sent when nothing is left. */
/* A resumed handshake has no CertificateRequest (2.2): the ticket stands
 * for the client authentication done when it was issued. So it is taken
 * only if that still answers today's settings: with client certificates
 * required, only a ticket that carries a verified identity; a ticket with
 * an identity only while client certificates are asked for and the client
 * CAs are the ones that verified it. Any other ticket gives a full
 * handshake, which asks for a certificate as configured. */
int tls_ticket_auth_ok(const moat_tls *t, const tls_session *s)
{
    const moat_tls_config *c = t->cfg;
    if (!s->ident[0]) return c->client_auth != MOAT_CLIENT_AUTH_REQUIRE;
    return c->client_auth != MOAT_CLIENT_AUTH_NONE && c->client_trust &&
           !memcmp(s->client_ca, c->client_ca_id, sizeof s->client_ca);
}

/* A resumed client is known by the identity its ticket carries, and by
 * its chain when the ticket carries that too (taken over from it). */
int tls_resume_identity(moat_tls *t)
{
    tls_session *s = t->hs->psk;
    if (!t->resumed || !s->ident[0]) return 0;
    if (!tls_text(t)) return MOAT_ERR_NOMEM;
    snprintf(t->tx->peer_identity, sizeof t->tx->peer_identity, "%s", s->ident);
    t->tx->peer_not_after = s->not_after;
    if (s->chain && !t->tx->peer_certs) {
        size_t off = 0;
        for (size_t i = 0; i < s->nchain; i++) {
            t->tx->peer_off[i] = off;
            t->tx->peer_len[i] = s->chain_len[i];
            off += s->chain_len[i];
        }
        t->tx->peer_certs = s->chain;
        t->tx->npeer = s->nchain;
        s->chain = NULL;
        s->nchain = 0;
    }
    return 0;
}

int tls_send_tickets(moat_tls *t, moat_buf *out)
{
    int n = t->cfg->tickets, r = 0;
    uint64_t now = tls_now_ms(t);
    tls_session tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.suite = t->suite;
    tmpl.time_ms = now;
    tmpl.auth_ms = t->resumed ? t->auth_ms : now;
    tmpl.lifetime = t->resumed ? t->auth_lifetime : t->cfg->ticket_lifetime;
    tmpl.psklen = t->hlen;
    snprintf(tmpl.sni, sizeof tmpl.sni, "%s", TLS_STR(t->sni));
    snprintf(tmpl.alpn, sizeof tmpl.alpn, "%s", TLS_STR(t->alpn));
    snprintf(tmpl.ident, sizeof tmpl.ident, "%s", TX(t)->peer_identity);
    if (tmpl.ident[0]) {
        memcpy(tmpl.client_ca, t->cfg->client_ca_id, sizeof tmpl.client_ca);
        tmpl.not_after = TX(t)->peer_not_after;
    }
    uint64_t end = tls_ticket_end_ms(t, &tmpl);
    uint32_t left = end > now ? (uint32_t)((end - now) / 1000) : 0;
    if (left == 0) n = 0;
    moat_buf m;
    moat_buf_init(&m);
    for (int i = 0; i < n && !r; i++) {
        tls_session s = tmpl;
        uint8_t nonce[8];
        uint64_t k = t->tickets_sent++;
        for (int j = 0; j < 8; j++)
            nonce[j] = (uint8_t)(k >> (56 - 8 * j));
        r = crypto_random(&s.age_add, 4);
        if (!r) r = ks_expand_label(t->hash, t->resumption, "resumption", nonce, 8, s.psk, t->hlen);
        moat_buf_clear(&m);
        wr_t w = wr_init(&m);
        wr_u8(&w, HS_NEW_SESSION_TICKET);
        wr_open(&w, 3);
        wr_u32(&w, left);
        wr_u32(&w, s.age_add);
        wr_open(&w, 1);
        wr_bytes(&w, nonce, 8);
        wr_close(&w);
        wr_open(&w, 2);
        if (!r) r = tls_ticket_seal(t, &s, &w);
        wr_close(&w);
        wr_u16(&w, 0); /* no extensions */
        wr_close(&w);
        if (!r) r = wr_finish(&w);
        /* One carrying a long client chain spans records. */
        if (!r) r = tls_seal_hs(t, m.base, m.len, out);
        moat_wipe(&s, sizeof s);
    }
    moat_wipe(&tmpl, sizeof tmpl);
    moat_buf_free(&m);
    return r;
}

/* Client: a NewSessionTicket becomes the session to save (4.6.1). */
int tls_handle_ticket(moat_tls *t, rd_t *r)
{
    uint32_t lifetime = rd_uint(r, 4);
    uint32_t age_add = rd_uint(r, 4);
    rd_t nonce = rd_vec(r, 1);
    rd_t ticket = rd_vec(r, 2);
    rd_t exts = rd_vec(r, 2);
    if (r->err || r->n || ticket.n == 0) return ALERT(DECODE_ERROR);
    /* 4.6.1 binds the server to 7 days; a longer one is capped, as
     * OpenSSL's client does, not fatal to a connection that went well. */
    if (lifetime > 604800) lifetime = 604800;
    ext_seen seen = {.n = 0};
    uint16_t et;
    rd_t body;
    while (tls_next_ext(&exts, &seen, &et, &body))
        ; /* early_data and unknown extensions: nothing to keep */
    if (seen.err) return seen.err;
    if (ticket.n > sizeof t->session->ticket || lifetime == 0)
        return 0; /* usable by no one: dropped */
    if (!t->session && !(t->session = calloc(1, sizeof *t->session))) return MOAT_ERR_NOMEM;
    tls_session *s = t->session;
    s->suite = t->suite;
    s->time_ms = tls_now_ms(t);
    s->lifetime = lifetime;
    s->age_add = age_add;
    s->psklen = t->hlen;
    snprintf(s->sni, sizeof s->sni, "%s", TX(t)->server_name);
    snprintf(s->alpn, sizeof s->alpn, "%s", TLS_STR(t->alpn));
    memcpy(s->ticket, ticket.p, ticket.n);
    s->ticketlen = ticket.n;
    return ks_expand_label(t->hash, t->resumption, "resumption", nonce.p, nonce.n, s->psk, t->hlen);
}

/* How the server was judged when the session began: resuming skips the
 * certificate check (RFC 8446 2.2: the PSK stands for the original
 * handshake's authentication), so a saved session may be offered only by
 * a configuration that would have judged the server the same way:
 * verification off, or on with the same trust (CA set and CRLs, or the
 * same system store). A session made with -k is never offered by a
 * verifying client, nor one verified against other CAs. */
static int session_binding(const moat_tls *t, uint8_t out[32])
{
    uint8_t in[24 + 1 + 32] = "moat session binding v1";
    in[24] = t->cfg->verify ? 1 : 0;
    if (t->cfg->verify) memcpy(in + 25, t->cfg->trust_id, 32);
    return crypto_hash(MOAT_HASH_SHA256, in, sizeof in, out) ? MOAT_ERR_INTERNAL : 0;
}

int moat_tls_get_session(const moat_tls *t, moat_buf *out)
{
    if (!t || !t->session) return MOAT_ERR_STATE;
    const tls_session *s = t->session;
    uint8_t bind[32];
    int r = session_binding(t, bind);
    if (r) return r;
    wr_t w = wr_init(out);
    put_session(&w, s, SESSION_VERSION);
    wr_open(&w, 2);
    wr_bytes(&w, s->ticket, s->ticketlen);
    wr_close(&w);
    wr_open(&w, 1);
    wr_bytes(&w, bind, sizeof bind);
    wr_close(&w);
    return wr_finish(&w);
}

int moat_tls_set_session(moat_tls *t, const uint8_t *data, size_t len)
{
    if (!t || t->is_server || t->state != ST_START) return MOAT_ERR_STATE;
    tls_session *s = calloc(1, sizeof *s);
    if (!s) return MOAT_ERR_NOMEM;
    rd_t r = rd_init(data, len);
    int bad = get_session(&r, s, SESSION_VERSION);
    rd_t tk = rd_vec(&r, 2);
    /* The binding (session_binding) follows the ticket; sessions saved
     * before it existed end with the ticket: well-formed, never offered. */
    int legacy = !r.err && r.n == 0;
    rd_t bind = legacy ? tk : rd_vec(&r, 1);
    if (bad || r.err || r.n || tk.n == 0 || tk.n > sizeof s->ticket || (!legacy && bind.n != 32)) {
        moat_wipe(s, sizeof *s);
        free(s);
        return MOAT_ERR_ARG;
    }
    memcpy(s->ticket, tk.p, tk.n);
    s->ticketlen = tk.n;
    uint8_t mine[32];
    int same_trust = !legacy && !session_binding(t, mine) && !memcmp(mine, bind.p, 32);
    /* Only for the same server, within its lifetime, with a suite we
     * offer, judged the same way as when it began. */
    int usable = same_trust && !strcmp(s->sni, TX(t)->server_name) &&
                 tls_now_ms(t) < s->time_ms + (uint64_t)s->lifetime * 1000;
    int hash_ok = 0;
    for (size_t i = 0; i < t->cfg->nsuites && !ks12_suite_aead(s->suite); i++)
        hash_ok |= crypto_suite_hash(t->cfg->suites[i]) == crypto_suite_hash(s->suite);
    if (ks12_suite_aead(s->suite)) hash_ok = tls12_offers(t->cfg, s->suite); /* a 1.2 session */
    if (!usable || !hash_ok) {
        moat_wipe(s, sizeof *s);
        free(s);
        return 0; /* not an error: a full handshake happens */
    }
    t->hs->psk = s;
    return 0;
}

int moat_tls_config_set_ticket_keys(moat_tls_config *c, const uint8_t *keys, size_t len)
{
    if (len == 0 || len % 80 || len > 80 * 64) return MOAT_ERR_ARG;
    size_t n = len / 80;
    uint8_t *d = malloc(n * 48);
    if (!d) return MOAT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (derive_key(keys + 80 * i, d + 48 * i, d + 48 * i + KEY_NAME)) {
            moat_wipe(d, n * 48);
            free(d);
            return MOAT_ERR_INTERNAL;
        }
    }
    if (c->ticket_derived) {
        moat_wipe(c->ticket_derived, c->nticket_keys * 48);
        free(c->ticket_derived);
    }
    c->ticket_derived = d;
    c->nticket_keys = n;
    return 0;
}

void moat_tls_config_inherit_tickets(moat_tls_config *dst, const moat_tls_config *src)
{
    if (dst && src) memcpy(dst->ticket_master, src->ticket_master, sizeof dst->ticket_master);
}

void moat_tls_config_set_tickets(moat_tls_config *c, int count, uint32_t lifetime)
{
    c->tickets = count < 0 ? 0 : count > 8 ? 8 : count;
    if (lifetime) c->ticket_lifetime = lifetime > 604800 ? 604800 : lifetime;
}

void moat_tls_config_set_psk_ke(moat_tls_config *c, int allow)
{
    c->allow_psk_ke = allow;
}

int moat_tls_resumed(const moat_tls *t)
{
    return t && t->resumed;
}

const char *moat_tls_get_peer_identity(const moat_tls *t)
{
    return t && TX(t)->peer_identity[0] ? TX(t)->peer_identity : NULL;
}

const uint8_t *moat_tls_get_peer_cert(const moat_tls *t, size_t i, size_t *len)
{
    if (!t || i >= TX(t)->npeer || !TX(t)->peer_certs) return NULL;
    *len = TX(t)->peer_len[i];
    return TX(t)->peer_certs + TX(t)->peer_off[i];
}

int moat_tls_ocsp_stapled(const moat_tls *t)
{
    return t && t->ocsp_stapled;
}
