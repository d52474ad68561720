/* The engine in memory: our client against our server for every suite,
 * group and certificate type; HelloRetryRequest; KeyUpdate; byte-at-a-time
 * delivery; certificate refusals; hostile records and messages. */
#include <time.h>

#include "harness.h"
#include "tls/internal.h"

static const uint16_t suites[] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                  MOAT_TLS_CHACHA20_POLY1305_SHA256};
static const uint16_t groups[] = {MOAT_GROUP_X25519, MOAT_GROUP_SECP256R1, MOAT_GROUP_SECP384R1};
static const char *const certs[] = {"p256", "p384", "rsa", "ed25519"};
static const uint16_t cert_scheme[] = {MOAT_SIG_ECDSA_SECP256R1_SHA256,
                                       MOAT_SIG_ECDSA_SECP384R1_SHA384,
                                       MOAT_SIG_RSA_PSS_RSAE_SHA256, MOAT_SIG_ED25519};

static int buf_is(const moat_buf *b, const void *p, size_t n)
{
    return b->len == n && !memcmp(b->base, p, n);
}

static void test_matrix(void)
{
    for (size_t ci = 0; ci < 4; ci++) {
        moat_tls_config *sc = server_config(certs[ci]);
        for (size_t si = 0; si < 3; si++) {
            for (size_t gi = 0; gi < 3; gi++) {
                moat_tls_config *cc = client_config("ca");
                moat_tls_config_set_ciphers(cc, &suites[si], 1);
                moat_tls_config_set_groups(cc, &groups[gi], 1);
                pair_t p;
                int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
                int ok = r == 0 && moat_tls_get_cipher(p.c) == suites[si] &&
                         moat_tls_get_cipher(p.s) == suites[si] &&
                         moat_tls_get_group(p.c) == groups[gi] &&
                         moat_tls_get_sigscheme(p.c) == cert_scheme[ci] && !moat_tls_did_hrr(p.c);
                static const char req[] = "GET / HTTP/1.1\r\n\r\n", resp[] = "HTTP/1.1 200 OK";
                ok = ok && !pair_send(p.c, p.s, req, sizeof req, &p.s_app, 1 << 20) &&
                     buf_is(&p.s_app, req, sizeof req) &&
                     !pair_send(p.s, p.c, resp, sizeof resp, &p.c_app, 1 << 20) &&
                     buf_is(&p.c_app, resp, sizeof resp);
                uint8_t e1[32], e2[32];
                ok = ok &&
                     !moat_tls_export(p.c, "EXPORTER-test", (const uint8_t *)"x", 1, e1, 32) &&
                     !moat_tls_export(p.s, "EXPORTER-test", (const uint8_t *)"x", 1, e2, 32) &&
                     !memcmp(e1, e2, 32);
                check(ok, "handshake and data, %s %s %s (r=%d %s)", certs[ci],
                      moat_tls_cipher_name(suites[si]), moat_tls_group_name(groups[gi]), r,
                      moat_strerror(r));
                pair_free(&p);
                moat_tls_config_free(cc);
            }
        }
        moat_tls_config_free(sc);
    }
}

static void test_hrr(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    static const uint16_t cg[] = {MOAT_GROUP_SECP384R1, MOAT_GROUP_X25519};
    static const uint16_t sg[] = {MOAT_GROUP_X25519};
    moat_tls_config_set_groups(cc, cg, 2);
    moat_tls_config_set_groups(sc, sg, 1);
    for (size_t step = 1; step <= 1 << 20; step <<= 20) {
        pair_t p;
        int r = pair_handshake(&p, cc, sc, "localhost", step);
        check(r == 0 && moat_tls_did_hrr(p.c) && moat_tls_did_hrr(p.s) &&
                  moat_tls_get_group(p.c) == MOAT_GROUP_X25519,
              "HelloRetryRequest to x25519 (step %zu, r=%s)", step, moat_strerror(r));
        uint8_t d[100] = {1, 2, 3};
        check(!pair_send(p.c, p.s, d, sizeof d, &p.s_app, step) && buf_is(&p.s_app, d, sizeof d),
              "data after HelloRetryRequest");
        pair_free(&p);
    }
    /* No group in common: handshake_failure. */
    static const uint16_t only384[] = {MOAT_GROUP_SECP384R1};
    moat_tls_config_set_groups(cc, only384, 1);
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(p.serr == ALERT(HANDSHAKE_FAILURE) && p.cerr == MOAT_ERR_PEER_ALERT(40),
          "no common group gives handshake_failure (%s)", moat_strerror(r));
    pair_free(&p);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static void test_byte_at_a_time(void)
{
    moat_tls_config *sc = server_config("rsa"), *cc = client_config("ca");
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1);
    check(r == 0, "handshake with records fed one byte at a time (%s)", moat_strerror(r));
    uint8_t big[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    check(!pair_send(p.s, p.c, big, sizeof big, &p.c_app, 1) && buf_is(&p.c_app, big, sizeof big),
          "40000 bytes in three records, fed one byte at a time");
    pair_free(&p);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static void test_key_update(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    moat_buf wire, back, junk;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    moat_buf_init(&junk);
    unsigned ce = p.c->wr.epoch, se = p.s->wr.epoch;
    /* Client updates and asks the server to update too. */
    r = r ? r : moat_tls_key_update(p.c, &wire, 1);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(!r && back.len > 0 && p.s->wr.epoch == se + 1 && p.s->rd.epoch == p.c->wr.epoch,
          "server answers update_requested with its own KeyUpdate");
    r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
    check(!r && p.c->wr.epoch == ce + 1 && p.c->rd.epoch == p.s->wr.epoch && wire.len == 0,
          "client takes the server's KeyUpdate without answering");
    static const char m1[] = "after update c->s", m2[] = "after update s->c";
    check(!pair_send(p.c, p.s, m1, sizeof m1, &p.s_app, 1 << 20) && buf_is(&p.s_app, m1, sizeof m1),
          "client to server data under updated keys");
    check(!pair_send(p.s, p.c, m2, sizeof m2, &p.c_app, 1 << 20) && buf_is(&p.c_app, m2, sizeof m2),
          "server to client data under updated keys");
    /* Server-initiated, without request. */
    r = moat_tls_key_update(p.s, &wire, 0);
    r = r ? r : deliver(p.c, &wire, 1 << 20, &back, &junk);
    check(!r && back.len == 0, "update_not_requested is not answered");
    /* Automatic update at the key-usage limit (5.5). */
    p.c->key_limit = 3;
    moat_buf_clear(&p.s_app);
    uint8_t d[20000];
    memset(d, 'k', sizeof d);
    unsigned before = p.c->wr.epoch;
    for (int i = 0; i < 5; i++)
        r = r ? r : pair_send(p.c, p.s, d, sizeof d, &p.s_app, 1 << 20);
    check(!r && p.s_app.len == 5 * sizeof d && p.c->wr.epoch >= before + 3,
          "keys change by themselves at the usage limit (%u updates)", p.c->wr.epoch - before);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_buf_free(&junk);
    pair_free(&p);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static int64_t a_year_on(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL) + 365LL * 86400;
}

static void test_refusals(void)
{
    moat_tls_config *cc = client_config("ca");
    struct {
        const char *cert, *name, *want, *code;
        int alert;
    } cases[] = {
        {"untrusted", "localhost", "issued by an authority that is not trusted",
         "NET::ERR_CERT_AUTHORITY_INVALID", MOAT_ALERT_UNKNOWN_CA},
        {"self", "localhost", "self-signed", "NET::ERR_CERT_AUTHORITY_INVALID",
         MOAT_ALERT_UNKNOWN_CA},
        {"p256", "www.example.org",
         "not valid for www.example.org (it is valid for localhost, 127.0.0.1)",
         "NET::ERR_CERT_COMMON_NAME_INVALID", MOAT_ALERT_BAD_CERTIFICATE},
        {"p256", "127.0.0.2", "not valid for 127.0.0.2", "NET::ERR_CERT_COMMON_NAME_INVALID",
         MOAT_ALERT_BAD_CERTIFICATE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        moat_tls_config *sc = server_config(cases[i].cert);
        pair_t p;
        int r = pair_handshake(&p, cc, sc, cases[i].name, 1 << 20);
        const char *why = moat_tls_verify_error(p.c);
        check(r == MOAT_ERR_ALERT(cases[i].alert) && why && strstr(why, cases[i].want) &&
                  !strcmp(moat_tls_verify_code(p.c), cases[i].code) &&
                  p.serr == MOAT_ERR_PEER_ALERT(cases[i].alert),
              "refuses %s for %s: %s (%s)", cases[i].cert, cases[i].name, why ? why : "(none)",
              moat_strerror(r));
        pair_free(&p);
        moat_tls_config_free(sc);
    }
    /* IP address in an IP SAN is accepted; expiry through the injected clock. */
    moat_tls_config *sc = server_config("p256");
    pair_t p;
    check(pair_handshake(&p, cc, sc, "127.0.0.1", 1 << 20) == 0, "IP address matches its IP SAN");
    pair_free(&p);
    moat_tls_config_set_clock(cc, a_year_on, NULL);
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    const char *why = moat_tls_verify_error(p.c);
    check(r == ALERT(CERTIFICATE_EXPIRED) && why && strstr(why, "its certificate expired on ") &&
              !strcmp(moat_tls_verify_code(p.c), "NET::ERR_CERT_DATE_INVALID"),
          "expired certificate refused: %s", why ? why : "(none)");
    pair_free(&p);
    /* Revocation through a CRL. */
    moat_tls_config *crl = client_config("ca");
    char err[200];
    check(!moat_tls_config_add_crl_file(crl, cpath("ca", "crl"), err, sizeof err), "CRL loads");
    moat_tls_config *rs = server_config("rsa");
    r = pair_handshake(&p, crl, rs, "localhost", 1 << 20);
    why = moat_tls_verify_error(p.c);
    check(r == ALERT(CERTIFICATE_REVOKED) && why && strstr(why, "has been revoked") &&
              !strcmp(moat_tls_verify_code(p.c), "NET::ERR_CERT_REVOKED"),
          "revoked certificate refused: %s", why ? why : "(none)");
    pair_free(&p);
    check(pair_handshake(&p, crl, sc, "localhost", 1 << 20) == 0,
          "a certificate the CRL does not list is accepted");
    pair_free(&p);
    moat_tls_config_free(rs);
    moat_tls_config_free(crl);
    /* Verification off (-k) accepts anything. */
    moat_tls_config *k = moat_tls_config_new();
    moat_tls_config_set_verify(k, 0);
    moat_tls_config *ss = server_config("self");
    check(pair_handshake(&p, k, ss, "anything.test", 1 << 20) == 0,
          "verification off accepts a self-signed certificate");
    pair_free(&p);
    moat_tls_config_free(k);
    moat_tls_config_free(ss);
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
}

static void test_sni_and_alpn(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    char err[200];
    int r = moat_tls_config_add_cert_file(sc, cpath("example", "pem"), cpath("example", "key"), err,
                                          sizeof err);
    static const char *const protos[] = {"http/1.1"};
    static const char *const cprotos[] = {"h2", "http/1.1"};
    moat_tls_config_set_alpn(sc, protos, 1);
    moat_tls_config_set_alpn(cc, cprotos, 2);
    pair_t p;
    r = r ? r : pair_handshake(&p, cc, sc, "www.example.test", 1 << 20);
    check(r == 0 && !strcmp(moat_tls_get_sni(p.s), "www.example.test"),
          "server picks the certificate for the SNI name (%s)", moat_strerror(r));
    check(r == 0 && moat_tls_get_alpn(p.c) && !strcmp(moat_tls_get_alpn(p.c), "http/1.1") &&
              !strcmp(moat_tls_get_alpn(p.s), "http/1.1"),
          "ALPN http/1.1 negotiated");
    pair_free(&p);
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(r == 0, "default certificate for another name");
    pair_free(&p);
    static const char *const h2only[] = {"h2"};
    moat_tls_config_set_alpn(cc, h2only, 1);
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(p.serr == ALERT(NO_APPLICATION_PROTOCOL) && r == MOAT_ERR_PEER_ALERT(120),
          "no common ALPN protocol: no_application_protocol");
    pair_free(&p);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* Feeds raw bytes to a fresh server; returns its error and the alert it sent. */
static int server_gets(moat_tls_config *sc, const uint8_t *in, size_t len, int *alert)
{
    moat_tls *s = moat_tls_server_new(sc);
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    int r = moat_tls_recv(s, in, len, &out, &app);
    *alert = out.len == 7 && out.base[0] == CT_ALERT && out.base[5] == 2 ? out.base[6] : -1;
    moat_buf_free(&out);
    moat_buf_free(&app);
    moat_tls_free(s);
    return r;
}

/* A client's ClientHello, for editing. */
static void client_hello(moat_tls_config *cc, moat_buf *ch)
{
    moat_tls *c = moat_tls_client_new(cc, "localhost");
    moat_buf_init(ch);
    moat_tls_start(c, ch);
    moat_tls_free(c);
}

static void test_hostile_server_input(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    int alert, r;
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    r = server_gets(sc, (const uint8_t *)http, sizeof http - 1, &alert);
    check(r == ALERT(UNEXPECTED_MESSAGE) && alert == 10, "plain HTTP gets unexpected_message");
    uint8_t big[5] = {22, 3, 1, 0x40, 0x01};
    r = server_gets(sc, big, sizeof big, &alert);
    check(r == ALERT(RECORD_OVERFLOW) && alert == 22,
          "plaintext record of 2^14+1 bytes gets record_overflow at its header");
    uint8_t empty[5] = {22, 3, 1, 0, 0};
    r = server_gets(sc, empty, sizeof empty, &alert);
    check(r == ALERT(UNEXPECTED_MESSAGE), "zero-length handshake record refused");
    uint8_t ccs[6] = {20, 3, 3, 0, 1, 1};
    r = server_gets(sc, ccs, sizeof ccs, &alert);
    check(r == ALERT(UNEXPECTED_MESSAGE), "change_cipher_spec before ClientHello refused");
    uint8_t appd[10] = {23, 3, 3, 0, 5, 1, 2, 3, 4, 5};
    r = server_gets(sc, appd, sizeof appd, &alert);
    check(r == ALERT(UNEXPECTED_MESSAGE), "application data before the handshake refused");
    uint8_t sh[9] = {22, 3, 3, 0, 4, 2, 0, 0, 0};
    r = server_gets(sc, sh, sizeof sh, &alert);
    check(r == ALERT(UNEXPECTED_MESSAGE), "ServerHello sent to a server refused");
    uint8_t trunc[9] = {22, 3, 1, 0, 4, 1, 0, 0, 0};
    r = server_gets(sc, trunc, sizeof trunc, &alert);
    check(r == ALERT(DECODE_ERROR) && alert == 50, "empty ClientHello body gets decode_error");
    /* A truncated record waits for more and sends nothing. */
    moat_buf ch;
    client_hello(cc, &ch);
    {
        moat_tls *s = moat_tls_server_new(sc);
        moat_buf out, app;
        moat_buf_init(&out);
        moat_buf_init(&app);
        r = moat_tls_recv(s, ch.base, ch.len - 1, &out, &app);
        check(r == 0 && out.len == 0, "a record cut short waits for its end");
        r = moat_tls_recv(s, ch.base + ch.len - 1, 1, &out, &app);
        check(r == 0 && out.len > 0, "and the last byte completes it");
        moat_buf_free(&out);
        moat_buf_free(&app);
        moat_tls_free(s);
    }
    /* TLS 1.2-only ClientHello: remove supported_versions by renaming its type. */
    moat_buf v12;
    moat_buf_init(&v12);
    moat_buf_append(&v12, ch.base, ch.len);
    for (size_t i = 5 + 4 + 2 + 32; i + 4 < v12.len; i++)
        if (v12.base[i] == 0 && v12.base[i + 1] == 43 && v12.base[i + 2] == 0 &&
            v12.base[i + 3] == 3 && v12.base[i + 4] == 2) {
            v12.base[i] = 0x7a; /* an unknown (GREASE-like) type */
            v12.base[i + 1] = 0x7a;
            break;
        }
    r = server_gets(sc, v12.base, v12.len, &alert);
    check(r == ALERT(PROTOCOL_VERSION) && alert == 70,
          "TLS 1.2-only ClientHello gets protocol_version");
    /* Duplicate extension: rename supported_groups to signature_algorithms. */
    moat_buf_clear(&v12);
    moat_buf_append(&v12, ch.base, ch.len);
    for (size_t i = 5 + 4 + 2 + 32; i + 4 < v12.len; i++)
        if (v12.base[i] == 0 && v12.base[i + 1] == 10 && v12.base[i + 2] == 0) {
            v12.base[i + 1] = 13;
            break;
        }
    r = server_gets(sc, v12.base, v12.len, &alert);
    check(r == ALERT(ILLEGAL_PARAMETER) && alert == 47,
          "duplicate extension gets illegal_parameter");
    /* A handshake message longer than its record claims, followed by garbage. */
    moat_buf_clear(&v12);
    moat_buf_append(&v12, ch.base, ch.len);
    v12.base[5 + 1] = 0x7f; /* message length 8 MB */
    r = server_gets(sc, v12.base, v12.len, &alert);
    check(r == ALERT(DECODE_ERROR), "handshake message over the size cap refused");
    moat_buf_free(&v12);
    moat_buf_free(&ch);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static void test_tampering(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    moat_buf wire, back;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    r = r ? r : moat_tls_send(p.c, &wire, "hello", 5);
    wire.base[wire.len - 3] ^= 1;
    r = r ? r : moat_tls_recv(p.s, wire.base, wire.len, &back, &p.s_app);
    check(r == ALERT(BAD_RECORD_MAC) && back.len > 0 && p.s_app.len == 0,
          "a flipped ciphertext byte gives bad_record_mac");
    wire.len = 0;
    int r2 = moat_tls_recv(p.c, back.base, back.len, &wire, &p.c_app);
    check(r2 == MOAT_ERR_PEER_ALERT(MOAT_ALERT_BAD_RECORD_MAC), "and the peer reads that alert");
    check(moat_tls_send(p.s, &wire, "x", 1) == MOAT_ERR_STATE, "the connection is closed after it");
    pair_free(&p);
    /* A wrong client Finished: corrupt the key its Finished is computed from. */
    memset(&p, 0, sizeof p);
    p.c = moat_tls_client_new(cc, "localhost");
    p.s = moat_tls_server_new(sc);
    moat_buf_clear(&wire);
    moat_buf_clear(&back);
    moat_buf junk;
    moat_buf_init(&junk);
    r = moat_tls_start(p.c, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    p.c->hs ? (void)0 : (void)0;
    r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
    check(r == 0 && moat_tls_handshake_done(p.c), "client done");
    /* The client already sent its Finished in `wire`; redo it with a wrong key. */
    moat_buf_clear(&wire);
    {
        /* Build a bad Finished under the client's handshake write key. */
        tls_dir d;
        memset(&d, 0, sizeof d);
        uint8_t fin[4 + 32] = {HS_FINISHED, 0, 0, 32};
        memset(fin + 4, 0xaa, 32);
        /* The server reads under c_hs; we copy the server's read direction. */
        rl_set_secret(&d, p.s->suite, 1, p.s->hs->c_hs);
        static const uint8_t ccs[6] = {20, 3, 3, 0, 1, 1};
        moat_buf_append(&wire, ccs, 6);
        rl_seal(&d, CT_HANDSHAKE, fin, sizeof fin, &wire);
        rl_clear(&d);
    }
    moat_buf_clear(&back);
    r = deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(r == ALERT(DECRYPT_ERROR), "a wrong Finished gives decrypt_error (%s)", moat_strerror(r));
    pair_free(&p);
    /* Oversized protected record. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    uint8_t hdr[5] = {23, 3, 3, (TLS_MAX_CIPHER + 1) >> 8, (TLS_MAX_CIPHER + 1) & 0xff};
    moat_buf_clear(&back);
    r = r ? r : moat_tls_recv(p.s, hdr, 5, &back, &junk);
    check(r == ALERT(RECORD_OVERFLOW), "protected record over 2^14+256 gives record_overflow");
    pair_free(&p);
    /* close_notify */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    moat_buf_clear(&wire);
    moat_buf_clear(&back);
    r = r ? r : moat_tls_close(p.c, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(r == 0 && moat_tls_peer_closed(p.s), "close_notify is seen");
    pair_free(&p);
    /* NewSessionTicket from the server is accepted and dropped by the client. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    static const uint8_t nst[] = {HS_NEW_SESSION_TICKET,
                                  0,
                                  0,
                                  17,
                                  0,
                                  0,
                                  0x1c,
                                  0x20,
                                  1,
                                  2,
                                  3,
                                  4,
                                  1,
                                  9,
                                  0,
                                  3,
                                  't',
                                  'k',
                                  't',
                                  0,
                                  0};
    moat_buf_clear(&wire);
    rl_seal(&p.s->wr, CT_HANDSHAKE, nst, sizeof nst, &wire);
    r = r ? r : deliver(p.c, &wire, 1 << 20, &back, &junk);
    check(r == 0 && moat_tls_handshake_done(p.c), "NewSessionTicket accepted by the client");
    static const uint8_t badnst[] = {HS_NEW_SESSION_TICKET,
                                     0,
                                     0,
                                     17,
                                     0xff,
                                     0,
                                     0,
                                     0,
                                     1,
                                     2,
                                     3,
                                     4,
                                     1,
                                     9,
                                     0,
                                     3,
                                     't',
                                     'k',
                                     't',
                                     0,
                                     0};
    moat_buf_clear(&wire);
    rl_seal(&p.s->wr, CT_HANDSHAKE, badnst, sizeof badnst, &wire);
    r = deliver(p.c, &wire, 1 << 20, &back, &junk);
    check(r == ALERT(ILLEGAL_PARAMETER), "ticket lifetime over 7 days refused");
    pair_free(&p);
    moat_buf_free(&junk);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

int main(void)
{
    if (make_certs()) {
        printf("not ok - test certificates could not be made (see %s/gen.log)\n", certdir);
        return 1;
    }
    test_matrix();
    test_hrr();
    test_byte_at_a_time();
    test_key_update();
    test_refusals();
    test_sni_and_alpn();
    test_hostile_server_input();
    test_tampering();
    remove_certs();
    return failures ? 1 : 0;
}
