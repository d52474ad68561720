/* Resumption in memory: tickets issued, saved, offered and accepted;
 * forged, expired, rotated-out and shared-key tickets; binders checked;
 * automatic ticket keys over the whole lifetime; 0-RTT offered and skipped. */
#include <time.h>

#define HARNESS_WIRE
#include "harness.h"

static int64_t client_now, server_now;
static int64_t client_clock(void *a)
{
    (void)a;
    return client_now;
}
static int64_t server_clock(void *a)
{
    (void)a;
    return server_now;
}

/* The name the client connects to: an IP address sends no SNI. */
static const char *client_name = "localhost";

/* A full handshake that leaves a saved session in *sess. */
static int first(moat_tls_config *cc, moat_tls_config *sc, moat_buf *sess)
{
    pair_t p;
    int r = pair_handshake(&p, cc, sc, client_name, 1 << 20);
    moat_buf_init(sess);
    if (!r) r = moat_tls_get_session(p.c, sess);
    if (!r && moat_tls_resumed(p.c)) r = -1;
    pair_free(&p);
    return r;
}

/* A second handshake offering the session; returns 1 resumed, 0 full, <0
 * error. The session the client saved from it goes to *newsess, when
 * given. */
static int again_keep(moat_tls_config *cc, moat_tls_config *sc, const moat_buf *sess, int *err,
                      moat_buf *newsess)
{
    pair_t p;
    memset(&p, 0, sizeof p);
    moat_tls *c = moat_tls_client_new(cc, client_name);
    int r = moat_tls_set_session(c, sess->base, sess->len);
    /* pair_handshake makes its own client: hand it this one. */
    moat_buf to_s, to_c;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    p.c = c;
    p.s = moat_tls_server_new(sc);
    if (!r) r = moat_tls_start(p.c, &to_s);
    for (int i = 0; i < 10 && !r; i++) {
        if (to_s.len) r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
        if (to_c.len) {
            int r2 = deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
            r = r ? r : r2;
        }
        if (moat_tls_handshake_done(p.c) && moat_tls_handshake_done(p.s) && !to_s.len && !to_c.len)
            break;
    }
    int resumed = moat_tls_resumed(p.c);
    int consistent = resumed == moat_tls_resumed(p.s);
    static const char m[] = "data after resumption";
    if (!r) r = pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20);
    if (!r && (p.s_app.len != sizeof m || memcmp(p.s_app.base, m, sizeof m))) r = -2;
    if (!r && !consistent) r = -3;
    if (newsess) {
        moat_buf_init(newsess);
        if (!r) moat_tls_get_session(p.c, newsess);
    }
    *err = r;
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    pair_free(&p);
    return r ? r : resumed;
}

static int again(moat_tls_config *cc, moat_tls_config *sc, const moat_buf *sess, int *err)
{
    return again_keep(cc, sc, sess, err, NULL);
}

/* The lifetime in a saved session (after version, suite and time). */
static uint32_t saved_lifetime(const moat_buf *sess)
{
    const uint8_t *p = sess->base + 1 + 2 + 8;
    return sess->len < 15 ? 0 : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

/* A client that forgets the lifetime it was told: a day. */
static void stretch_lifetime(moat_buf *sess)
{
    if (sess->len >= 15) memcpy(sess->base + 1 + 2 + 8, "\x00\x01\x51\x80", 4);
}

/* 4.6.1: tickets issued on a resumed connection stand for the full
 * handshake behind it, so resuming from them again and again ends where
 * the first ticket's lifetime ends; and a lifetime configured shorter
 * after a ticket was issued applies to it. */
static void test_lifetime_from_full_handshake(moat_tls_config *cc, const uint8_t key[80])
{
    moat_tls_config *sc = server_config("p256");
    moat_tls_config_set_clock(sc, server_clock, NULL);
    moat_tls_config_set_ticket_keys(sc, key, 80); /* keys that do not rotate out */
    int64_t t0 = (int64_t)time(NULL);
    int err = 0;
    moat_buf s0, s1, s2;
    client_now = server_now = t0;
    first(cc, sc, &s0);
    client_now = server_now = t0 + 20 * 3600;
    check(again_keep(cc, sc, &s0, &err, &s1) == 1 && s1.len,
          "a ticket resumes 20 h after its full handshake (1-day lifetime), and a new one comes "
          "(err %d)",
          err);
    uint32_t left = saved_lifetime(&s1);
    check(left > 4 * 3600 - 60 && left <= 4 * 3600,
          "the new ticket's lifetime is what is left of the full handshake's day: %u s", left);
    client_now = server_now = t0 + 23 * 3600;
    check(again_keep(cc, sc, &s1, &err, &s2) == 1,
          "that ticket resumes 23 h after the full handshake (err %d)", err);
    /* Past what the server told them, clients no longer offer these; one
     * that does anyway must be refused. */
    stretch_lifetime(&s1);
    stretch_lifetime(&s2);
    client_now = server_now = t0 + 25 * 3600;
    check(again(cc, sc, &s1, &err) == 0,
          "but not 25 h after the full handshake, 5 h after it was issued");
    check(again(cc, sc, &s2, &err) == 0,
          "nor one issued on the second resumption, 2 h after it was issued");
    moat_buf_free(&s0);
    moat_buf_free(&s1);
    moat_buf_free(&s2);

    /* Issued under a 7-day lifetime, offered 2 h later under a 1-hour one. */
    moat_tls_config_set_tickets(sc, 2, 604800);
    client_now = server_now = t0;
    first(cc, sc, &s0);
    moat_tls_config_set_tickets(sc, 2, 3600);
    client_now = server_now = t0 + 1800;
    check(again(cc, sc, &s0, &err) == 1,
          "a 7-day ticket resumes 30 min on under a lifetime now set to 1 h (err %d)", err);
    client_now = server_now = t0 + 7200;
    check(again(cc, sc, &s0, &err) == 0,
          "but not 2 h on: the lifetime configured now, shorter, applies");
    moat_buf_free(&s0);
    moat_tls_config_free(sc);
    client_now = server_now = (int64_t)time(NULL);
}

/* A ticket sealed as a server holding key file `key` seals one, in the
 * format of `version` (1: before tickets carried the full handshake's
 * time and the client chain's expiry), and a saved session holding it. */
static void forge_session(const uint8_t key[80], int version, moat_buf *sess)
{
    uint64_t now = (uint64_t)server_now * 1000;
    uint8_t psk[32], prk[32], aes[32], nonce[12] = {7}, ticket[1024];
    memset(psk, 0x5a, sizeof psk);
    moat_buf plain;
    moat_buf_init(&plain);
    wr_t w = wr_init(&plain);
    wr_u8(&w, (uint32_t)version);
    wr_u16(&w, MOAT_TLS_AES_128_GCM_SHA256);
    wr_uint(&w, (uint32_t)(now >> 32), 4);
    wr_uint(&w, (uint32_t)now, 4);
    wr_uint(&w, 86400, 4);
    wr_uint(&w, 0, 4); /* age_add */
    wr_u8(&w, 32);
    wr_bytes(&w, psk, 32);
    wr_u8(&w, 9);
    wr_bytes(&w, "localhost", 9);
    wr_u8(&w, 0); /* ALPN */
    wr_u8(&w, 0); /* identity */
    uint8_t zeros[32] = {0};
    wr_bytes(&w, zeros, 32); /* client CAs */
    if (version >= 2) {
        wr_uint(&w, (uint32_t)(now >> 32), 4);
        wr_uint(&w, (uint32_t)now, 4);
        wr_bytes(&w, zeros, 8); /* notAfter: no identity */
    }
    if (version >= 3) wr_u8(&w, 0); /* no client chain */
    crypto_hkdf_extract(MOAT_HASH_SHA256, (const uint8_t *)"moat ticket key", 15, key + 16, 64,
                        prk);
    crypto_hkdf_expand(MOAT_HASH_SHA256, prk, 32, (const uint8_t *)"aes-256-gcm", 11, aes, 32);
    memcpy(ticket, key, 16);
    memcpy(ticket + 16, nonce, 12);
    moat_aead *a = crypto_aead_new(MOAT_TLS_AES_256_GCM_SHA384, 1, aes);
    crypto_aead_seal(a, nonce, ticket, 16, plain.base, plain.len, ticket + 28);
    crypto_aead_free(a);
    /* The saved session: version 1, the same fields, then the ticket. */
    moat_buf_init(sess);
    moat_buf_append(sess, "\x01", 1);
    moat_buf_append(sess, plain.base + 1, 2 + 8 + 4 + 4 + 1 + 32 + 1 + 9 + 1 + 1);
    wr_t ws = wr_init(sess);
    wr_open(&ws, 2);
    wr_bytes(&ws, ticket, 28 + plain.len + 16);
    wr_close(&ws);
    moat_buf_free(&plain);
}

/* Tickets changed format (version 2, then 3): one sealed in an older
 * format, under a key the server still holds, gives a full handshake. */
static void test_ticket_version(moat_tls_config *cc, moat_tls_config *sc, const uint8_t key[80])
{
    int err = 0;
    moat_buf v1, v2, v3;
    client_now = server_now = (int64_t)time(NULL);
    forge_session(key, 3, &v3);
    forge_session(key, 2, &v2);
    forge_session(key, 1, &v1);
    /* A saved session ends with how the server was judged (a length byte
     * and 32 bytes); take it from a real one under the same client
     * configuration, so that only the ticket's format differs. */
    moat_buf real;
    if (first(cc, sc, &real) == 0 && real.len > 33) {
        moat_buf_append(&v3, real.base + real.len - 33, 33);
        moat_buf_append(&v2, real.base + real.len - 33, 33);
        moat_buf_append(&v1, real.base + real.len - 33, 33);
    }
    moat_buf_free(&real);
    check(again(cc, sc, &v3, &err) == 1,
          "a ticket made by hand in the current format resumes "
          "(err %d)",
          err);
    check(again(cc, sc, &v2, &err) == 0 && err == 0,
          "one in the format before version 3 gives a full handshake (err %d)", err);
    check(again(cc, sc, &v1, &err) == 0 && err == 0,
          "one in the format before version 2 gives a full handshake (err %d)", err);
    moat_buf_free(&v1);
    moat_buf_free(&v2);
    moat_buf_free(&v3);
}

static void add_early_data(t_ch *ch, void *arg)
{
    (void)arg;
    ch_add_ext(ch, EXT_EARLY_DATA, "", 0);
}

/* 4.2.10: a client offers 0-RTT with its ticket and sends early records
 * right behind the ClientHello; we never accept early data, so they fail
 * to open under the handshake key and are skipped, up to a cap. Returns
 * the server's error; *resumed as the server saw it. */
static int early(moat_tls_config *cc, moat_tls_config *sc, const moat_buf *sess, int n, size_t len,
                 int *resumed)
{
    static uint8_t junk[TLS_MAX_CIPHER];
    for (size_t i = 0; i < len; i++)
        junk[i] = (uint8_t)(i * 31 + 1);
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", sess, add_early_data, NULL, &to_s);
    for (int i = 0; i < n; i++) {
        uint8_t h[5] = {CT_APPDATA, 3, 3, (uint8_t)(len >> 8), (uint8_t)len};
        moat_buf_append(&to_s, h, 5);
        moat_buf_append(&to_s, junk, len);
    }
    pair_pump(&p, &to_s, &to_c, 1 << 20);
    int r = p.serr ? p.serr : p.cerr;
    static const char m[] = "after skipped 0-RTT";
    if (!r) r = pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20);
    if (!r && (p.s_app.len != sizeof m || memcmp(p.s_app.base, m, sizeof m))) r = -2;
    *resumed = moat_tls_resumed(p.s);
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    return r;
}

/* Reads a whole file into b; 0 or -1. */
static int read_all(const char *path, moat_buf *b)
{
    FILE *f = fopen(path, "rb");
    char tmp[4096];
    size_t n;
    if (!f) return -1;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        moat_buf_append(b, tmp, n);
    fclose(f);
    return 0;
}

/* Resuming skips the certificate check: a session is offered only by a
 * configuration that judges the server as the one that saved it did. */
static void trust_binding(moat_tls_config *cc, moat_tls_config *sc)
{
    int err = 0;
    moat_buf sk, sv, pem, legacy;
    moat_buf_init(&pem);
    moat_buf_init(&legacy);
    moat_tls_config *k = client_config("ca"), *k2 = moat_tls_config_new();
    moat_tls_config_set_verify(k, 0);
    moat_tls_config_set_verify(k2, 0);
    moat_tls_config_set_clock(k, client_clock, NULL);
    moat_tls_config_set_clock(k2, client_clock, NULL);
    check(first(k, sc, &sk) == 0 && again(k, sc, &sk, &err) == 1,
          "a session saved with verification off resumes with it off");
    check(again(k2, sc, &sk, &err) == 1,
          "with verification off the trust store does not matter (err %d)", err);
    check(again(cc, sc, &sk, &err) == 0,
          "a session saved with verification off is not offered with it on (err %d)", err);
    first(cc, sc, &sv);
    check(again(k, sc, &sv, &err) == 0, "a verified session is not offered with verification off");

    /* The same CAs in a new configuration: the same trust. */
    moat_tls_config *same = client_config("ca");
    moat_tls_config_set_clock(same, client_clock, NULL);
    check(again(same, sc, &sv, &err) == 1, "the same CA file in a new configuration resumes");

    /* Other CAs: not offered; the full handshake judges the server again. */
    moat_tls_config *oth = client_config("other");
    moat_tls_config_set_clock(oth, client_clock, NULL);
    int r = again(oth, sc, &sv, &err);
    check(r < 0 && err == MOAT_ERR_ALERT(MOAT_ALERT_UNKNOWN_CA),
          "a session is not offered under other CAs: the server is refused (%s)",
          moat_strerror(err));
    char e[256];
    moat_tls_config *more = moat_tls_config_new();
    read_all(cpath("ca", "pem"), &pem);
    read_all(cpath("other", "pem"), &pem);
    moat_tls_config_set_clock(more, client_clock, NULL);
    moat_tls_config_set_ca_pem(more, (const char *)pem.base, pem.len, e, sizeof e);
    check(again(more, sc, &sv, &err) == 0, "nor under a larger CA set (err %d)", err);

    /* A CRL changes the verdict, so the trust. */
    moat_tls_config *crl = client_config("ca");
    moat_tls_config_set_clock(crl, client_clock, NULL);
    moat_tls_config_add_crl_file(crl, cpath("ca", "crl"), e, sizeof e);
    check(again(crl, sc, &sv, &err) == 0, "nor with a CRL added (err %d)", err);

    /* A session saved before sessions carried the binding: not offered. */
    moat_buf_append(&legacy, sv.base, sv.len - 33);
    moat_tls *c = moat_tls_client_new(cc, "localhost");
    check(moat_tls_set_session(c, legacy.base, legacy.len) == 0,
          "a session without the binding is read without error");
    moat_tls_free(c);
    check(again(cc, sc, &legacy, &err) == 0, "and is not offered (err %d)", err);
    legacy.base[legacy.len - 1] ^= 1;
    moat_buf_append(&legacy, "\x01x", 2);
    c = moat_tls_client_new(cc, "localhost");
    check(moat_tls_set_session(c, legacy.base, legacy.len) == MOAT_ERR_ARG,
          "a binding of the wrong length is malformed");
    moat_tls_free(c);

    /* The system store (here SSL_CERT_FILE): its identity is what was read. */
    setenv("SSL_CERT_FILE", cpath("ca", "pem"), 1);
    moat_tls_config *s1 = moat_tls_config_new(), *s2 = moat_tls_config_new();
    moat_tls_config_set_clock(s1, client_clock, NULL);
    moat_tls_config_set_clock(s2, client_clock, NULL);
    char serr[256];
    moat_tls_config_set_system_trust(s1, serr, sizeof serr);
    moat_tls_config_set_system_trust(s2, serr, sizeof serr);
    moat_buf ss;
    check(first(s1, sc, &ss) == 0 && again(s2, sc, &ss, &err) == 1,
          "a session verified by the system store resumes with it (err %d)", err);
    check(again(cc, sc, &ss, &err) == 0, "but is not offered under --cacert (err %d)", err);
    /* Another bundle that still holds the CA: a full handshake, verified. */
    FILE *bundle = fopen(cpath("bundle", "pem"), "w");
    if (bundle) {
        fwrite(pem.base, 1, pem.len, bundle);
        fclose(bundle);
    }
    setenv("SSL_CERT_FILE", cpath("bundle", "pem"), 1);
    moat_tls_config *s3 = moat_tls_config_new();
    moat_tls_config_set_clock(s3, client_clock, NULL);
    moat_tls_config_set_system_trust(s3, serr, sizeof serr);
    check(again(s3, sc, &ss, &err) == 0, "nor once the system store is another file (err %d)", err);
    unsetenv("SSL_CERT_FILE");

    moat_buf_free(&ss);
    moat_buf_free(&sk);
    moat_buf_free(&sv);
    moat_buf_free(&pem);
    moat_buf_free(&legacy);
    moat_tls_config *all[] = {k, k2, same, oth, more, crl, s1, s2, s3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        moat_tls_config_free(all[i]);
}

int main(void)
{
    if (make_certs()) {
        printf("not ok - test certificates could not be made\n");
        return 1;
    }
    client_now = server_now = (int64_t)time(NULL);
    moat_tls_config *cc = client_config("ca"), *sc = server_config("p256");
    moat_tls_config_set_clock(cc, client_clock, NULL);
    moat_tls_config_set_clock(sc, server_clock, NULL);
    moat_buf sess;
    int err = 0, r;
    check(first(cc, sc, &sess) == 0 && sess.len > 0, "a full handshake leaves a session");
    check(again(cc, sc, &sess, &err) == 1, "the session resumes (err %d)", err);
    check(again(cc, sc, &sess, &err) == 1, "and resumes again");

    /* A client that sends no SNI (it connects to an IP address) resumes
     * too, in 1.3 and 1.2. */
    moat_tls_config *nocheck = moat_tls_config_new();
    moat_tls_config_set_verify(nocheck, 0);
    moat_tls_config_set_clock(nocheck, client_clock, NULL);
    client_name = "127.0.0.1";
    for (int v = 0; v < 2; v++) {
        if (v) moat_tls_config_set_versions(nocheck, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_2);
        moat_buf ns;
        r = first(nocheck, sc, &ns);
        check(r == 0 && again(nocheck, sc, &ns, &err) == 1,
              "TLS %s: a session without SNI resumes (%d, err %d)", v ? "1.2" : "1.3", r, err);
        moat_buf_free(&ns);
    }
    client_name = "localhost";
    moat_tls_config_free(nocheck);

    /* RFC 8446 4.6.1 binds the server to 7 days; a client given a longer
     * lifetime caps it, as OpenSSL's does, and the connection goes on. */
    moat_tls_config *longlife = server_config("p256");
    moat_tls_config_set_clock(longlife, server_clock, NULL);
    longlife->ticket_lifetime = 30 * 86400; /* past what the API lets a server set */
    moat_buf ls;
    r = first(cc, longlife, &ls);
    check(r == 0 && saved_lifetime(&ls) == 604800,
          "a NewSessionTicket of a 30-day lifetime is kept, capped at 7 days (%u s), not fatal "
          "(%d)",
          saved_lifetime(&ls), r);
    moat_buf_free(&ls);
    moat_tls_config_free(longlife);

    /* Another server with other keys cannot open the ticket: full handshake. */
    moat_tls_config *other = server_config("p256");
    moat_tls_config_set_clock(other, server_clock, NULL);
    check(again(cc, other, &sess, &err) == 0,
          "a ticket from another server gives a full handshake");

    /* A reload builds a new configuration: tickets open again only if it
     * inherits the old one's ticket secret. */
    moat_tls_config *reload = server_config("p256");
    moat_tls_config_set_clock(reload, server_clock, NULL);
    check(again(cc, reload, &sess, &err) == 0, "a new configuration has new ticket keys");
    moat_tls_config_inherit_tickets(reload, sc);
    check(again(cc, reload, &sess, &err) == 1,
          "a new configuration that inherits the ticket secret resumes old tickets");
    moat_tls_config_free(reload);

    /* A changed PSK makes the binder wrong: decrypt_error. */
    moat_buf bad;
    moat_buf_init(&bad);
    moat_buf_append(&bad, sess.base, sess.len);
    bad.base[1 + 2 + 8 + 4 + 4 + 1] ^= 1; /* first PSK byte */
    check(again(cc, sc, &bad, &err) < 0 && err == MOAT_ERR_ALERT(MOAT_ALERT_DECRYPT_ERROR),
          "a wrong binder is refused with decrypt_error (%s)", moat_strerror(err));
    moat_buf_free(&bad);

    /* Server time past the lifetime: full handshake. */
    server_now += 86400 + 60;
    check(again(cc, sc, &sess, &err) == 0, "an expired ticket gives a full handshake");
    server_now = client_now;

    /* A ticket older than its lifetime is not even offered by the client. */
    client_now += 86400 + 60;
    check(again(cc, sc, &sess, &err) == 0, "the client does not offer an expired session");
    client_now = server_now;

    /* Automatic key rotation: the previous period's key still opens. */
    moat_tls_config_set_tickets(sc, 2, 604800);
    moat_buf s2;
    first(cc, sc, &s2);
    server_now += 12 * 3600;
    client_now += 12 * 3600;
    check(again(cc, sc, &s2, &err) == 1, "a ticket from the previous key period resumes");
    server_now += 12 * 3600;
    client_now += 12 * 3600;
    check(again(cc, sc, &s2, &err) == 1,
          "a ticket two key periods old resumes within a 7-day lifetime");
    server_now += 5 * 86400;
    client_now += 5 * 86400;
    check(again(cc, sc, &s2, &err) == 1, "and still after 6 days");
    server_now += 86400 + 60;
    client_now += 86400 + 60;
    check(again(cc, sc, &s2, &err) == 0, "but not past its 7 days");
    moat_buf_free(&s2);
    /* Default lifetime (1 day), a ticket issued a minute before a key
     * period ends: 23 hours on it is two periods old and must resume. */
    moat_tls_config_set_tickets(sc, 2, 86400);
    client_now = server_now = ((int64_t)time(NULL) / 43200 + 1) * 43200 - 60;
    first(cc, sc, &s2);
    server_now += 23 * 3600;
    client_now += 23 * 3600;
    check(again(cc, sc, &s2, &err) == 1,
          "a ticket 23 hours old (two key periods) resumes under the default 1-day lifetime "
          "(err %d)",
          err);
    server_now += 3600 + 120;
    check(again(cc, sc, &s2, &err) == 0, "past its day it gives a full handshake");
    moat_buf_free(&s2);
    client_now = server_now = (int64_t)time(NULL);

    /* Shared key files: any server holding the key resumes; rotated out, not. */
    uint8_t k1[80], k2[80], both[160];
    for (int i = 0; i < 80; i++) {
        k1[i] = (uint8_t)i;
        k2[i] = (uint8_t)(200 - i);
    }
    memcpy(both, k2, 80);
    memcpy(both + 80, k1, 80);
    moat_tls_config *a = server_config("p256"), *b = server_config("rsa"),
                    *rot = server_config("p256"), *gone = server_config("p256");
    moat_tls_config_set_ticket_keys(a, k1, 80);
    moat_tls_config_set_ticket_keys(b, k1, 80);
    moat_tls_config_set_ticket_keys(rot, both, 160);
    moat_tls_config_set_ticket_keys(gone, k2, 80);
    check(moat_tls_config_set_ticket_keys(gone, k1, 79) == MOAT_ERR_ARG,
          "ticket keys not a multiple of 80 bytes are refused");
    moat_buf s3;
    first(cc, a, &s3);
    check(again(cc, b, &s3, &err) == 1, "another server with the same key file resumes");
    check(again(cc, rot, &s3, &err) == 1, "a rotated key (second in the file) still opens");
    check(again(cc, gone, &s3, &err) == 0, "a key rotated out gives a full handshake");
    moat_buf_free(&s3);

    test_lifetime_from_full_handshake(cc, k1);
    test_ticket_version(cc, a, k1);

    /* Resumption through a HelloRetryRequest. */
    static const uint16_t cg[] = {MOAT_GROUP_SECP384R1, MOAT_GROUP_X25519};
    static const uint16_t sg[] = {MOAT_GROUP_X25519};
    moat_tls_config *hc = client_config("ca");
    moat_tls_config_set_groups(hc, cg, 2);
    moat_tls_config_set_groups(a, sg, 1);
    moat_buf s4;
    first(hc, a, &s4);
    check(again(hc, a, &s4, &err) == 1, "resumption after a HelloRetryRequest (err %d)", err);
    moat_buf_free(&s4);

    /* 0-RTT offered with a ticket: skipped whether the ticket resumes or not. */
    moat_buf s5;
    client_now = server_now = (int64_t)time(NULL);
    first(cc, sc, &s5);
    int res = 0;
    r = early(cc, sc, &s5, 3, 300, &res);
    check(r == 0 && res, "0-RTT records with an accepted ticket are skipped (%s)",
          moat_strerror(r));
    r = early(cc, other, &s5, 3, 300, &res);
    check(r == 0 && !res, "0-RTT records with a ticket we cannot open are skipped (%s)",
          moat_strerror(r));
    r = early(cc, other, &s5, 70, TLS_MAX_CIPHER, &res);
    check(r == ALERT(BAD_RECORD_MAC), "more than 1 MB of undecryptable 0-RTT is refused (%s)",
          moat_strerror(r));
    moat_buf_free(&s5);

    trust_binding(cc, sc);

    /* Tickets off: none sent, nothing to save. */
    moat_tls_config_set_tickets(gone, 0, 0);
    pair_t p;
    r = pair_handshake(&p, cc, gone, "localhost", 1 << 20);
    moat_buf none;
    moat_buf_init(&none);
    check(r == 0 && moat_tls_get_session(p.c, &none) == MOAT_ERR_STATE,
          "with tickets off the client gets none");
    pair_free(&p);

    moat_buf_free(&sess);
    moat_tls_config_free(hc);
    moat_tls_config_free(a);
    moat_tls_config_free(b);
    moat_tls_config_free(rot);
    moat_tls_config_free(gone);
    moat_tls_config_free(other);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
    remove_certs();
    return failures ? 1 : 0;
}
