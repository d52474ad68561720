/* The engine in memory: our client against our server for every suite,
 * group and certificate type; HelloRetryRequest; KeyUpdate; byte-at-a-time
 * delivery; certificate refusals; hostile records and messages; GREASE;
 * change_cipher_spec; certificate choice by signature_algorithms_cert. */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_WIRE
#include "harness.h"
#include "tlsfile/tlsfile.h"

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

/* The system trust store as <moat/tlsfile.h> reads it: SSL_CERT_FILE (a
 * missing one passed over), then the files named by subject hash in each
 * directory of SSL_CERT_DIR; other names there are not looked at, as
 * libcrypto's hashed lookup never opens them. */
static void test_system_trust(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; cd %s; mkdir -p sys named empty; "
             "cp ca.pem sys/$(openssl x509 -hash -noout -in ca.pem).0; "
             "cp other.pem sys/$(openssl x509 -hash -noout -in other.pem).1; "
             "cp ca.pem named/ca.pem",
             certdir);
    check(system(cmd) == 0, "a hashed directory is made");
    char dirs[1200], err[300];
    snprintf(dirs, sizeof dirs, "%s/empty:%s/sys", certdir, certdir);
    setenv("SSL_CERT_FILE", cpath("no-such-bundle", "pem"), 1);
    setenv("SSL_CERT_DIR", dirs, 1);
    moat_tls_config *sc = server_config("p256"), *rs = server_config("rsa");
    moat_tls_config *cc = moat_tls_config_new();
    check(!moat_tls_config_set_system_trust(cc, err, sizeof err),
          "the system store loads without its bundle (%s)", err);
    pair_t p;
    check(pair_handshake(&p, cc, sc, "localhost", 1 << 20) == 0,
          "a root found by its hash in the second directory of SSL_CERT_DIR is trusted");
    pair_free(&p);
    check(moat_tls_config_add_crl(cc, "x", 1, err, sizeof err) == MOAT_ERR_FILE,
          "a CRL that is none is refused");
    moat_tls_config *crl = moat_tls_config_new();
    check(moat_tls_config_add_crl(crl, "x", 1, err, sizeof err) == MOAT_ERR_STATE,
          "a CRL without a trust store is refused by the engine");
    err[0] = '\0';
    check(!moat_tls_config_add_crl_file(crl, cpath("ca", "crl"), err, sizeof err),
          "a CRL file without a trust store loads the system store first (%s)", err);
    check(pair_handshake(&p, crl, rs, "localhost", 1 << 20) == ALERT(CERTIFICATE_REVOKED),
          "and revokes against it");
    pair_free(&p);
    snprintf(dirs, sizeof dirs, "%s/named", certdir);
    setenv("SSL_CERT_DIR", dirs, 1);
    moat_tls_config *named = moat_tls_config_new();
    check(!moat_tls_config_set_system_trust(named, err, sizeof err),
          "a store with no hashed file loads, empty");
    check(pair_handshake(&p, named, sc, "localhost", 1 << 20) == ALERT(UNKNOWN_CA),
          "a root in a file not named by its hash is not in the store");
    pair_free(&p);
    setenv("SSL_CERT_FILE", cpath("ca", "pem"), 1);
    moat_tls_config *bundle = moat_tls_config_new();
    check(!moat_tls_config_set_system_trust(bundle, err, sizeof err) &&
              pair_handshake(&p, bundle, sc, "localhost", 1 << 20) == 0,
          "a root in SSL_CERT_FILE is trusted");
    pair_free(&p);
    /* The bundle holds ca.pem, the directory ca.pem again (by its hash)
     * and other.pem: the copy the bundle has is not read twice. */
    snprintf(dirs, sizeof dirs, "%s/sys", certdir);
    setenv("SSL_CERT_DIR", dirs, 1);
    moat_buf pem;
    moat_buf_init(&pem);
    size_t blocks = 0;
    if (!tlsfile_read_system_trust(&pem))
        for (const uint8_t *q = pem.base; (q = memmem(q, pem.len - (size_t)(q - pem.base),
                                                      "-----BEGIN CERTIFICATE-----", 27));
             q += 27)
            blocks++;
    check(blocks == 2, "a hashed file the bundle already holds is passed over (%zu certificates read)",
          blocks);
    moat_buf_free(&pem);
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    moat_tls_config *all[] = {sc, rs, cc, crl, named, bundle};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        moat_tls_config_free(all[i]);
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
    /* RFC 6066 3: no trailing dot in SNI; www.example.test. is the name
     * www.example.test, for the server's choice and the client's check. */
    r = pair_handshake(&p, cc, sc, "www.example.test.", 1 << 20);
    check(r == 0 && !strcmp(moat_tls_get_sni(p.s), "www.example.test"),
          "a trailing dot is not sent in SNI, and the name still matches (%s, SNI %s)",
          moat_strerror(r), r ? "" : moat_tls_get_sni(p.s));
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
    /* A truncated record waits for more and sends nothing. The hellos
     * edited below are a 1.3-only client's (no 1.2 extensions). */
    moat_buf ch;
    moat_tls_config_set_versions(cc, MOAT_TLS_VERSION_1_3, MOAT_TLS_VERSION_1_3);
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
    /* TLS 1.2 is spoken, but only with the extended master secret
     * (RFC 7627), which this hello (made for 1.3) does not offer. */
    r = server_gets(sc, v12.base, v12.len, &alert);
    check(r == ALERT(HANDSHAKE_FAILURE) && alert == 40,
          "TLS 1.2 ClientHello without extended_master_secret gets handshake_failure");
    moat_tls_config_set_versions(sc, MOAT_TLS_VERSION_1_3, MOAT_TLS_VERSION_1_3);
    r = server_gets(sc, v12.base, v12.len, &alert);
    check(r == ALERT(PROTOCOL_VERSION) && alert == 70,
          "TLS 1.2-only ClientHello to a 1.3-only server gets protocol_version");
    moat_tls_config_set_versions(sc, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_3);
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
    check(r == 0, "a ticket lifetime over 7 days is capped, not fatal (as OpenSSL's client)");
    pair_free(&p);
    moat_buf_free(&junk);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* Seals an inner plaintext exactly as given (content, type, padding),
 * bypassing rl_seal's own limits. */
static void seal_raw(tls_dir *d, const uint8_t *inner, size_t n, moat_buf *out)
{
    size_t body = n + 16;
    uint8_t hdr[5] = {CT_APPDATA, 3, 3, (uint8_t)(body >> 8), (uint8_t)body}, nonce[12];
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
    moat_buf_append(out, hdr, 5);
    moat_buf_reserve(out, body);
    crypto_aead_seal(d->aead, nonce, hdr, 5, inner, n, out->base + out->len);
    out->len += body;
    d->seq++;
}

static void test_record_limits(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    static uint8_t inner[TLS_MAX_PLAIN + 2];
    moat_buf wire, back;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    memset(inner, 'a', sizeof inner);
    inner[TLS_MAX_PLAIN] = CT_APPDATA;
    seal_raw(&p.c->wr, inner, TLS_MAX_PLAIN + 1, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(r == 0 && p.s_app.len == TLS_MAX_PLAIN,
          "2^14 bytes of content plus the type (2^14+1 inner bytes) accepted");
    inner[TLS_MAX_PLAIN + 1] = 0; /* one byte of padding: 2^14+2 */
    seal_raw(&p.c->wr, inner, TLS_MAX_PLAIN + 2, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(r == ALERT(RECORD_OVERFLOW) && back.len > 0,
          "2^14 bytes of content plus type and padding gives record_overflow (%s)",
          moat_strerror(r));
    pair_free(&p);
    /* 5.4: an inner plaintext of zeros only has no content type. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    memset(inner, 0, 64);
    seal_raw(&p.c->wr, inner, 64, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(r == ALERT(UNEXPECTED_MESSAGE), "all-zero inner plaintext gives unexpected_message (%s)",
          moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* Number of records in a buffer. */
static size_t nrecords(const moat_buf *b)
{
    size_t n = 0;
    for (size_t off = 0; off + 5 <= b->len; n++)
        off += 5 + ((size_t)b->base[off + 3] << 8 | b->base[off + 4]);
    return n;
}

static void test_key_update_flood(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    moat_buf wire, back, junk;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    moat_buf_init(&junk);
    unsigned se = p.s->wr.epoch;
    for (int i = 0; i < 100 && !r; i++)
        r = moat_tls_key_update(p.c, &wire, 1);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(!r && nrecords(&back) == 1 && p.s->wr.epoch == se + 1,
          "100 KeyUpdates asking for one get one answer (%zu records, %u updates)", nrecords(&back),
          p.s->wr.epoch - se);
    r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
    static const char m[] = "after the flood";
    check(!r && !pair_send(p.s, p.c, m, sizeof m, &p.c_app, 1 << 20) &&
              buf_is(&p.c_app, m, sizeof m) &&
              !pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20) && buf_is(&p.s_app, m, sizeof m),
          "data both ways after the coalesced answer");
    /* One request now, one later: the second needs its own answer only
     * once we sent application data under the key of the first. */
    se = p.s->wr.epoch;
    r = moat_tls_key_update(p.c, &wire, 1);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    size_t first = nrecords(&back);
    r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
    r = r ? r : moat_tls_key_update(p.c, &wire, 1);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(!r && first == 1 && back.len == 0 && p.s->wr.epoch == se + 1,
          "a second request before any data of ours is already answered");
    moat_buf_clear(&p.c_app);
    r = r ? r : pair_send(p.s, p.c, m, sizeof m, &p.c_app, 1 << 20);
    r = r ? r : moat_tls_key_update(p.c, &wire, 1);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(!r && nrecords(&back) == 1 && p.s->wr.epoch == se + 2,
          "after our data the next request is answered again");
    r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
    /* The cap: MAX_KEY_UPDATES without application data in between. */
    moat_buf_clear(&p.s_app);
    r = r ? r : pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20);
    moat_buf_clear(&p.s_app);
    for (int i = 0; i < MAX_KEY_UPDATES && !r; i++)
        r = moat_tls_key_update(p.c, &wire, 0);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    r = r ? r : pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20);
    check(!r && buf_is(&p.s_app, m, sizeof m),
          "%d KeyUpdates in a row, then data, are accepted (%s)", MAX_KEY_UPDATES,
          moat_strerror(r));
    for (int i = 0; i < MAX_KEY_UPDATES + 1 && !r; i++)
        r = moat_tls_key_update(p.c, &wire, 0);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(r == ALERT(UNEXPECTED_MESSAGE) && back.len > 0,
          "%d KeyUpdates with no data between give unexpected_message (%s)", MAX_KEY_UPDATES + 1,
          moat_strerror(r));
    pair_free(&p);
    /* 4.6.3: request_update is 0 or 1. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    static const uint8_t ku2[5] = {HS_KEY_UPDATE, 0, 0, 1, 2};
    moat_buf_clear(&wire);
    rl_seal(&p.c->wr, CT_HANDSHAKE, ku2, sizeof ku2, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
    check(r == ALERT(ILLEGAL_PARAMETER), "KeyUpdate request value 2 gives illegal_parameter (%s)",
          moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_buf_free(&junk);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static const uint8_t ccs_rec[6] = {CT_CCS, 3, 3, 0, 1, 1};

/* Zero-length application_data records and user_canceled alerts move
 * nothing: MAX_EMPTY_RECORDS of them in a row are taken, one more gives
 * unexpected_message; application data between them starts the count
 * again, and empty records do not reset the KeyUpdate cap. */
static void test_empty_records(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    moat_buf wire, back;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    static const char m[] = "GET / HTTP/1.1\r\n";
    for (int round = 0; round < 3 && !r; round++) {
        for (int i = 0; i < MAX_EMPTY_RECORDS && !r; i++)
            r = moat_tls_send(p.c, &wire, "", 0);
        r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
        r = r ? r : moat_tls_send(p.c, &wire, m, sizeof m);
        r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    }
    check(!r && p.s_app.len == 3 * sizeof m && back.len == 0,
          "%d empty records in a row, then data, three times, are accepted (%s)", MAX_EMPTY_RECORDS,
          moat_strerror(r));
    for (int i = 0; i < MAX_EMPTY_RECORDS + 1 && !r; i++)
        r = moat_tls_send(p.c, &wire, "", 0);
    size_t nrec = nrecords(&wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(nrec == MAX_EMPTY_RECORDS + 1 && r == ALERT(UNEXPECTED_MESSAGE) && back.len > 0,
          "%d empty records with no data between give unexpected_message (%s)",
          MAX_EMPTY_RECORDS + 1, moat_strerror(r));
    pair_free(&p);
    /* Empty records one at a time, as a client trickling them would. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    for (int i = 0; i < MAX_EMPTY_RECORDS + 1 && !r; i++) {
        r = moat_tls_send(p.c, &wire, "", 0);
        r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    }
    check(r == ALERT(UNEXPECTED_MESSAGE), "empty records sent one by one are capped too (%s)",
          moat_strerror(r));
    pair_free(&p);
    /* user_canceled (6.1) ends nothing and moves nothing either. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    static const uint8_t uc[2] = {1, MOAT_ALERT_USER_CANCELED};
    for (int i = 0; i < MAX_EMPTY_RECORDS && !r; i++)
        r = rl_seal(&p.c->wr, CT_ALERT, uc, sizeof uc, &wire);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(!r, "%d user_canceled alerts are taken (%s)", MAX_EMPTY_RECORDS, moat_strerror(r));
    r = r ? r : moat_tls_send(p.c, &wire, "", 0);
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(r == ALERT(UNEXPECTED_MESSAGE),
          "user_canceled alerts and empty records count together (%s)", moat_strerror(r));
    pair_free(&p);
    /* Empty records between KeyUpdates do not reset the KeyUpdate cap. */
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    for (int i = 0; i < MAX_KEY_UPDATES + 1 && !r; i++) {
        r = moat_tls_key_update(p.c, &wire, 0);
        if (!r && i % 8 == 0) r = moat_tls_send(p.c, &wire, "", 0);
    }
    r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
    check(r == ALERT(UNEXPECTED_MESSAGE),
          "empty records between %d KeyUpdates do not reset their cap (%s)", MAX_KEY_UPDATES + 1,
          moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* How many times the n bytes whose XOR with MASK is masked[] occur in
 * this process's memory: every readable, writable mapping a core dump
 * would hold (/proc/self/smaps: resident, not MADV_DONTDUMP, which
 * AddressSanitizer's shadow is), read through /proc/self/mem. The secret
 * is held masked so that the needle itself is not found; -1 when memory
 * cannot be read. */
#define MASK 0x5a
static long count_in_memory(const uint8_t *masked, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    int fd = open("/proc/self/mem", O_RDONLY);
    static uint8_t buf[1 << 20];
    char line[512];
    unsigned long lo = 0, hi = 0, rss = 0;
    int rw = 0;
    long hits = 0;
    if (!f || fd < 0) {
        if (f) fclose(f);
        if (fd >= 0) close(fd);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char perms[8] = "";
        unsigned long a, b; /* a failed match may still set them: not lo, hi */
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3) {
            lo = a;
            hi = b;
            rw = perms[0] == 'r' && perms[1] == 'w' && !strstr(line, "[vvar]");
            rss = 0;
            continue;
        }
        if (sscanf(line, "Rss: %lu", &rss) == 1 || strncmp(line, "VmFlags:", 8)) continue;
        if (!rw || !rss || strstr(line, " dd")) continue;
        /* Pieces that overlap by n - 1 bytes: a match on a boundary is whole in one. */
        for (unsigned long at = lo; at < hi; at += sizeof buf - (n - 1)) {
            size_t want = hi - at < sizeof buf ? hi - at : sizeof buf;
            ssize_t got = pread(fd, buf, want, (off_t)at);
            /* A match that fits here does not fit in the next piece. */
            for (ssize_t i = 0; i <= got - (ssize_t)n; i++) {
                size_t j = 0;
                while (j < n && (buf[i + j] ^ MASK) == masked[j])
                    j++;
                hits += j == n;
            }
            if (at + want >= hi) break;
        }
    }
    fclose(f);
    close(fd);
    moat_wipe(buf, sizeof buf);
    return hits;
}

/* SECURITY.md: secrets are wiped. After a handshake with tickets (and,
 * with ku, a KeyUpdate each way) and data, the connection's secrets are in
 * memory while it lives (the control: the search works) and nowhere once
 * both ends are freed, libcrypto's cached HMAC context included, which
 * used to keep the last key it was given: the resumption secret (tickets
 * are derived from it), or after a KeyUpdate a traffic secret. */
static void secrets_wiped(const moat_tls_config *cc, const moat_tls_config *sc, int ku)
{
    static const char *const names[] = {"resumption",   "exporter",    "server read",
                                        "server write", "client read", "client write"};
    enum { NSEC = 6 };
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    moat_buf wire, back, junk;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    moat_buf_init(&junk);
    if (ku) {
        r = r ? r : moat_tls_key_update(p.c, &wire, 1);
        r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
        r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
    }
    static const char m[] = "GET / HTTP/1.1\r\n\r\n";
    r = r ? r : pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20);
    r = r ? r : pair_send(p.s, p.c, m, sizeof m, &p.c_app, 1 << 20);
    const uint8_t *live[NSEC] = {p.s->resumption, p.s->exporter,  p.s->rd.secret,
                                 p.s->wr.secret,  p.c->rd.secret, p.c->wr.secret};
    uint8_t masked[NSEC][MOAT_HASH_MAX];
    size_t hl = p.s->hlen;
    for (int i = 0; i < NSEC; i++)
        for (size_t j = 0; j < hl; j++)
            masked[i][j] = live[i][j] ^ MASK;
    long open_hits = 0;
    for (int i = 0; i < NSEC && !r; i++)
        open_hits += count_in_memory(masked[i], hl) > 0;
    check(!r && open_hits == NSEC,
          "secrets%s: each of %d is found while the connection lives (%ld)",
          ku ? " after a KeyUpdate" : "", NSEC, open_hits);
    pair_free(&p);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_buf_free(&junk);
    long left = 0, err = 0;
    for (int i = 0; i < NSEC; i++) {
        long n = count_in_memory(masked[i], hl);
        if (n < 0) err = 1;
        if (n > 0) printf("# the %s secret is still in memory %ld time(s)\n", names[i], n);
        left += n > 0;
    }
    check(!r && !err && left == 0,
          "secrets%s: none of the %d (resumption, exporter, traffic) is in memory once both ends "
          "are freed (%ld left)",
          ku ? " after a KeyUpdate" : "", NSEC, left);
}

static void test_secrets_wiped(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    secrets_wiped(cc, sc, 0);
    secrets_wiped(cc, sc, 1);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static void test_ccs(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_buf to_s, to_c, w;
    moat_buf_init(&to_c);
    moat_buf_init(&w);
    for (int extra = 1; extra <= MAX_CCS; extra += MAX_CCS - 1) {
        /* The client's last flight already starts with one CCS. */
        pair_t p;
        pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
        int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
        r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
        moat_buf_clear(&w);
        for (int i = 0; i < extra; i++)
            moat_buf_append(&w, ccs_rec, sizeof ccs_rec);
        moat_buf_append(&w, to_s.base, to_s.len);
        moat_buf_clear(&to_s);
        r = r ? r : deliver(p.s, &w, 1 << 20, &to_c, &p.s_app);
        if (extra == 1)
            check(r == 0 && moat_tls_handshake_done(p.s),
                  "two change_cipher_spec records are both dropped (%s)", moat_strerror(r));
        else
            check(r == ALERT(UNEXPECTED_MESSAGE), "%d change_cipher_spec records are refused (%s)",
                  extra + 1, moat_strerror(r));
        pair_free(&p);
        moat_buf_free(&to_s);
        moat_buf_clear(&to_c);
    }
    /* A CCS of another value, and a protected one, after the ClientHello. */
    for (int kind = 0; kind < 2; kind++) {
        pair_t p;
        pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
        int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
        moat_buf_clear(&w);
        if (kind == 0) {
            static const uint8_t bad[6] = {CT_CCS, 3, 3, 0, 1, 2};
            moat_buf_append(&w, bad, sizeof bad);
        } else {
            tls_dir d;
            memset(&d, 0, sizeof d);
            rl_set_secret(&d, p.s->suite, 1, p.s->hs->c_hs);
            rl_seal(&d, CT_CCS, (const uint8_t *)"\1", 1, &w);
            rl_clear(&d);
        }
        r = r ? r : deliver(p.s, &w, 1 << 20, &to_c, &p.s_app);
        check(r == ALERT(UNEXPECTED_MESSAGE), "%s gives unexpected_message (%s)",
              kind ? "a protected change_cipher_spec" : "change_cipher_spec of value 2",
              moat_strerror(r));
        pair_free(&p);
        moat_buf_free(&to_s);
        moat_buf_clear(&to_c);
    }
    /* 5.1: a CCS between the two records of one split ClientHello. */
    static const uint16_t cg[] = {MOAT_GROUP_SECP384R1, MOAT_GROUP_X25519};
    static const uint16_t sg[] = {MOAT_GROUP_X25519};
    moat_tls_config *hc = client_config("ca"), *hs = server_config("p256");
    moat_tls_config_set_groups(hc, cg, 2);
    moat_tls_config_set_groups(hs, sg, 1);
    for (int split_ccs = 0; split_ccs < 2; split_ccs++) {
        pair_t p;
        pair_begin_edit(&p, hc, hs, "localhost", NULL, NULL, NULL, &to_s);
        int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);     /* HelloRetryRequest */
        r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app); /* CCS, ClientHello */
        moat_buf_clear(&w);
        const uint8_t *rec = to_s.base + 6;
        size_t n = (size_t)rec[3] << 8 | rec[4], half = n / 2;
        uint8_t h1[5] = {CT_HANDSHAKE, 3, 3, (uint8_t)(half >> 8), (uint8_t)half};
        uint8_t h2[5] = {CT_HANDSHAKE, 3, 3, (uint8_t)((n - half) >> 8), (uint8_t)(n - half)};
        moat_buf_append(&w, to_s.base, 6);
        moat_buf_append(&w, h1, 5);
        moat_buf_append(&w, rec + 5, half);
        if (split_ccs) moat_buf_append(&w, ccs_rec, sizeof ccs_rec);
        moat_buf_append(&w, h2, 5);
        moat_buf_append(&w, rec + 5 + half, n - half);
        moat_buf_clear(&to_s);
        r = r ? r : deliver(p.s, &w, 1 << 20, &to_c, &p.s_app);
        if (split_ccs) {
            check(r == ALERT(UNEXPECTED_MESSAGE),
                  "change_cipher_spec inside a split ClientHello gives unexpected_message (%s)",
                  moat_strerror(r));
        } else {
            p.serr = r;
            r = r ? r : pair_pump(&p, &to_s, &to_c, 1 << 20);
            check(r == 0, "a second ClientHello split over two records is accepted (%s)",
                  moat_strerror(r));
        }
        pair_free(&p);
        moat_buf_free(&to_s);
        moat_buf_clear(&to_c);
    }
    moat_tls_config_free(hc);
    moat_tls_config_free(hs);
    moat_buf_free(&to_c);
    moat_buf_free(&w);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* What the client makes of a server's first answer, edited. */
static void test_hostile_server_hello(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_buf to_s, to_c, hrr;
    moat_buf_init(&to_c);
    moat_buf_init(&hrr);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
    int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
    to_c.base[5 + 4 + 2 + 32 + 1] ^= 1; /* first byte of legacy_session_id_echo */
    r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
    check(r == ALERT(ILLEGAL_PARAMETER),
          "ServerHello with another legacy_session_id_echo gives illegal_parameter (%s)",
          moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_clear(&to_c);

    static const uint16_t cg[] = {MOAT_GROUP_SECP384R1, MOAT_GROUP_X25519};
    static const uint16_t sg[] = {MOAT_GROUP_X25519};
    moat_tls_config_set_groups(cc, cg, 2);
    moat_tls_config_set_groups(sc, sg, 1);
    pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
    r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
    size_t hlen = 5 + ((size_t)to_c.base[3] << 8 | to_c.base[4]);
    moat_buf_append(&hrr, to_c.base, hlen);
    r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
    check(r == 0 && to_s.len > 0, "client answers the HelloRetryRequest");
    r = r ? r : deliver(p.c, &hrr, 1 << 20, &to_s, &p.c_app);
    check(r == ALERT(UNEXPECTED_MESSAGE),
          "a second HelloRetryRequest gives unexpected_message (%s)", moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_clear(&to_c);

    pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
    r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
    int found = 0;
    for (size_t i = 5; i + 6 <= to_c.len && !found; i++)
        if (!memcmp(to_c.base + i, "\x00\x33\x00\x02\x00\x1d", 6)) {
            to_c.base[i + 5] = 0x18; /* secp384r1: the share the client sent */
            found = 1;
        }
    r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
    check(found && r == ALERT(ILLEGAL_PARAMETER),
          "HelloRetryRequest for a group already in key_share gives illegal_parameter (%s)",
          moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    moat_buf_free(&hrr);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static void ee_dup_sni(moat_buf *hs, void *arg)
{
    (void)arg;
    size_t e = hs_find(hs, HS_ENCRYPTED_EXTENSIONS);
    static const uint8_t sni[4] = {0, EXT_SERVER_NAME, 0, 0};
    hs_insert(hs, e, e + 4, e + 6, sni, 4);
}

static void cr_context(moat_buf *hs, void *arg)
{
    (void)arg;
    size_t c = hs_find(hs, HS_CERTIFICATE_REQUEST);
    hs->base[c + 4] = 1; /* a one-byte certificate_request_context */
    hs_insert(hs, c, (size_t)-1, c + 5, "x", 1);
}

/* The server's encrypted flight edited before the client reads it. */
static int edited_flight(moat_tls_config *cc, moat_tls_config *sc, void (*edit)(moat_buf *, void *))
{
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
    int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
    if (!r) flight_edit(p.s, &to_c, edit, NULL);
    r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    return r;
}

static void test_hostile_flight(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    char err[256];
    int r = edited_flight(cc, sc, ee_dup_sni);
    check(r == ALERT(ILLEGAL_PARAMETER),
          "duplicate extension in EncryptedExtensions gives illegal_parameter (%s)",
          moat_strerror(r));
    moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err);
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_OPTIONAL);
    pair_t p;
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(r == 0, "a CertificateRequest as sent is answered");
    pair_free(&p);
    r = edited_flight(cc, sc, cr_context);
    check(r == ALERT(ILLEGAL_PARAMETER),
          "CertificateRequest with a context in the main handshake gives illegal_parameter (%s)",
          moat_strerror(r));
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

static void grease(t_ch *ch, void *arg)
{
    (void)arg;
    /* RFC 8701 values everywhere a client may put them. */
    memmove(ch->suites + 1, ch->suites, ch->nsuites * 2);
    ch->suites[0] = 0x0a0a;
    ch->nsuites++;
    static const uint8_t g1[2] = {0x1a, 0x1a}, v[2] = {0x2a, 0x2a}, s[2] = {0x3a, 0x3a};
    ext_insert(ch_ext(ch, EXT_SUPPORTED_GROUPS), 0, 2, 2, g1, 2);
    ext_insert(ch_ext(ch, EXT_SUPPORTED_VERSIONS), 0, 1, 1, v, 2);
    ext_insert(ch_ext(ch, EXT_SIGNATURE_ALGORITHMS), 0, 2, 2, s, 2);
    ext_insert(ch_ext(ch, EXT_SIGNATURE_ALGORITHMS_CERT), 0, 2, 2, s, 2);
    static const uint8_t share[5] = {0x1a, 0x1a, 0, 1, 0};
    ext_insert(ch_ext(ch, EXT_KEY_SHARE), 0, 2, 2, share, 5);
    t_ext *modes = ch_ext(ch, EXT_PSK_KEY_EXCHANGE_MODES);
    ext_insert(modes, 0, 1, modes->len, "\x0b", 1);
    ch_add_ext(ch, 0x4a4a, "", 0);
    ch_add_ext(ch, 0x5a5a, "\0", 1);
}

static void only_scheme(t_ch *ch, void *arg)
{
    uint16_t sch = *(uint16_t *)arg;
    t_ext *e = ch_ext(ch, EXT_SIGNATURE_ALGORITHMS);
    uint8_t b[4] = {0, 2, (uint8_t)(sch >> 8), (uint8_t)sch};
    memcpy(e->body, b, 4);
    e->len = 4;
}

static void test_grease_and_schemes(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, grease, NULL, &to_s);
    int r = pair_pump(&p, &to_s, &to_c, 1 << 20);
    check(r == 0 && moat_tls_get_group(p.s) == MOAT_GROUP_X25519MLKEM768,
          "a GREASE-laden ClientHello (suites, groups, key share, versions, schemes, modes, "
          "extensions) is served (%s)",
          moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_tls_config *rc = server_config("rsa");
    static const uint16_t pss[] = {MOAT_SIG_RSA_PSS_RSAE_SHA384, MOAT_SIG_RSA_PSS_RSAE_SHA512};
    for (int i = 0; i < 2; i++) {
        uint16_t want = pss[i];
        pair_begin_edit(&p, cc, rc, "localhost", NULL, only_scheme, &want, &to_s);
        r = pair_pump(&p, &to_s, &to_c, 1 << 20);
        check(r == 0 && moat_tls_get_sigscheme(p.c) == want && moat_tls_get_sigscheme(p.s) == want,
              "RSA certificate signs with %s when the client offers only it (%s)",
              moat_tls_sigscheme_name(want), moat_strerror(r));
        pair_free(&p);
        moat_buf_free(&to_s);
        moat_buf_clear(&to_c);
    }
    moat_tls_config_free(rc);
    moat_buf_free(&to_c);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* Edits for signature_algorithms_cert: a list, none, or twice. */
struct certalgs {
    int mode; /* 0: list in sigalgs_cert; 1: remove sigalgs_cert, list in sigalgs; 2: twice; 3: odd
               */
    uint16_t scheme;
};
static void cert_algs(t_ch *ch, void *arg)
{
    struct certalgs *a = arg;
    uint8_t b[4] = {0, 2, (uint8_t)(a->scheme >> 8), (uint8_t)a->scheme};
    t_ext *e = ch_ext(ch, a->mode == 1 ? EXT_SIGNATURE_ALGORITHMS : EXT_SIGNATURE_ALGORITHMS_CERT);
    memcpy(e->body, b, 4);
    e->len = a->mode == 3 ? 3 : 4;
    if (a->mode == 3) e->body[1] = 1;
    if (a->mode == 1) ch_del_ext(ch, EXT_SIGNATURE_ALGORITHMS_CERT);
    if (a->mode == 2) ch_add_ext(ch, EXT_SIGNATURE_ALGORITHMS_CERT, b, 4);
}

/* Which of the server's certificates it picked (index), or -1 - error. */
static int picked(moat_tls_config *cc, moat_tls_config *sc, struct certalgs a, int *err)
{
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, cert_algs, &a, &to_s);
    int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app), which = -1;
    for (size_t i = 0; !r && i < sc->ncreds; i++)
        if (p.s->hs->cred == sc->creds[i]) which = (int)i;
    p.serr = r;
    r = r ? r : pair_pump(&p, &to_s, &to_c, 1 << 20);
    *err = r;
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    return which;
}

static void test_sigalgs_cert(void)
{
    char err[256];
    moat_tls_config *sc = server_config("p256"), *rev = server_config("p256ed");
    moat_tls_config *cc = moat_tls_config_new();
    moat_tls_config_set_verify(cc, 0);
    moat_tls_config_add_cert_file(sc, cpath("p256ed", "pem"), cpath("p256ed", "key"), err,
                                  sizeof err);
    moat_tls_config_add_cert_file(rev, cpath("p256", "pem"), cpath("p256", "key"), err, sizeof err);
    int e, w;
    w = picked(cc, sc, (struct certalgs){0, MOAT_SIG_ED25519}, &e);
    check(w == 1 && e == 0,
          "signature_algorithms_cert ed25519: the chain signed with Ed25519 (picked %d, %s)", w,
          moat_strerror(e));
    w = picked(cc, rev, (struct certalgs){0, MOAT_SIG_ECDSA_SECP256R1_SHA256}, &e);
    check(w == 1 && e == 0,
          "signature_algorithms_cert ecdsa_secp256r1_sha256: the chain signed with ECDSA "
          "(picked %d)",
          w);
    w = picked(cc, sc, (struct certalgs){0, MOAT_SIG_RSA_PSS_RSAE_SHA512}, &e);
    check(w == 0 && e == 0, "no chain fits signature_algorithms_cert: the first one anyway");
    w = picked(cc, rev, (struct certalgs){1, MOAT_SIG_ECDSA_SECP256R1_SHA256}, &e);
    check(w == 1 && e == 0,
          "without signature_algorithms_cert, signature_algorithms applies to the chain "
          "(picked %d)",
          w);
    w = picked(cc, sc, (struct certalgs){2, MOAT_SIG_ED25519}, &e);
    check(w == -1 && e == ALERT(ILLEGAL_PARAMETER),
          "signature_algorithms_cert twice gives illegal_parameter (%s)", moat_strerror(e));
    w = picked(cc, sc, (struct certalgs){3, MOAT_SIG_ED25519}, &e);
    check(w == -1 && e == ALERT(DECODE_ERROR),
          "signature_algorithms_cert of odd length gives decode_error (%s)", moat_strerror(e));
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
    moat_tls_config_free(rev);
}

static void add_early_data(t_ch *ch, void *arg)
{
    (void)arg;
    ch_add_ext(ch, EXT_EARLY_DATA, "", 0);
}

/* Appends n records of 0-RTT-looking ciphertext (type application_data). */
static void junk_records(moat_buf *b, int n, size_t len)
{
    static uint8_t junk[TLS_MAX_CIPHER];
    for (size_t i = 0; i < len; i++)
        junk[i] = (uint8_t)(i * 13 + 7);
    for (int i = 0; i < n; i++) {
        uint8_t h[5] = {CT_APPDATA, 3, 3, (uint8_t)(len >> 8), (uint8_t)len};
        moat_buf_append(b, h, 5);
        moat_buf_append(b, junk, len);
    }
}

static void test_early_data_after_hrr(void)
{
    static const uint16_t cg[] = {MOAT_GROUP_SECP384R1, MOAT_GROUP_X25519};
    static const uint16_t sg[] = {MOAT_GROUP_X25519};
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_tls_config_set_groups(cc, cg, 2);
    moat_tls_config_set_groups(sc, sg, 1);
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    struct {
        int offer, n;
        size_t len;
        int want;
        const char *what;
    } cases[] = {
        {1, 3, 200, 0, "0-RTT records after a HelloRetryRequest are skipped"},
        {1, 70, TLS_MAX_CIPHER, ALERT(UNEXPECTED_MESSAGE),
         "more than 1 MB of 0-RTT after a HelloRetryRequest is refused"},
        {0, 1, 200, ALERT(UNEXPECTED_MESSAGE),
         "application_data after a ClientHello without early_data is refused"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair_t p;
        pair_begin_edit(&p, cc, sc, "localhost", NULL, cases[i].offer ? add_early_data : NULL, NULL,
                        &to_s);
        junk_records(&to_s, cases[i].n, cases[i].len);
        int r = pair_pump(&p, &to_s, &to_c, 1 << 20);
        check(p.serr == cases[i].want && (r || moat_tls_did_hrr(p.s)), "%s (%s)", cases[i].what,
              moat_strerror(p.serr));
        pair_free(&p);
        moat_buf_free(&to_s);
        moat_buf_clear(&to_c);
    }
    moat_buf_free(&to_c);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* An idle connection parks: its cipher contexts go, keys stay, and data,
 * a KeyUpdate and close_notify go on both ways as before. */
static void test_park(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    for (int suite = 0; suite < 3; suite++) {
        static const uint16_t suites[3] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                           MOAT_TLS_CHACHA20_POLY1305_SHA256};
        moat_tls_config_set_ciphers(cc, &suites[suite], 1);
        pair_t p;
        moat_buf wire, back, junk;
        moat_buf_init(&wire);
        moat_buf_init(&back);
        moat_buf_init(&junk);
        int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
        static const char m1[] = "before parking", m2[] = "after parking, c->s",
                          m3[] = "after parking, s->c";
        r = r ? r : pair_send(p.c, p.s, m1, sizeof m1, &p.s_app, 1 << 20);
        int parked = !r && moat_tls_park(p.s) == 1 && moat_tls_park(p.c) == 1 && !p.s->rd.aead &&
                     !p.s->wr.aead && moat_tls_park(p.s) == 0;
        moat_buf_clear(&p.s_app);
        r = r ? r : pair_send(p.c, p.s, m2, sizeof m2, &p.s_app, 7);
        int ok1 = !r && buf_is(&p.s_app, m2, sizeof m2);
        moat_tls_park(p.s);
        moat_tls_park(p.c);
        r = r ? r : pair_send(p.s, p.c, m3, sizeof m3, &p.c_app, 1 << 20);
        int ok2 = !r && buf_is(&p.c_app, m3, sizeof m3);
        /* A KeyUpdate asked for while both are parked, then close_notify. */
        moat_tls_park(p.s);
        moat_tls_park(p.c);
        unsigned se = p.s->wr.epoch;
        r = r ? r : moat_tls_key_update(p.c, &wire, 1);
        moat_tls_park(p.c);
        r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &junk);
        r = r ? r : deliver(p.c, &back, 1 << 20, &wire, &junk);
        int ok3 = !r && p.s->wr.epoch == se + 1 && p.c->rd.epoch == p.s->wr.epoch;
        moat_tls_park(p.s);
        r = r ? r : moat_tls_close(p.s, &wire);
        r = r ? r : deliver(p.c, &wire, 1 << 20, &back, &junk);
        int ok4 = !r && moat_tls_peer_closed(p.c);
        check(parked && ok1 && ok2 && ok3 && ok4,
              "park %04x: contexts freed, then data both ways, KeyUpdate and close_notify (%d %d "
              "%d %d %d, %d)",
              suites[suite], parked, ok1, ok2, ok3, ok4, r);
        moat_buf_free(&wire);
        moat_buf_free(&back);
        moat_buf_free(&junk);
        pair_free(&p);
    }
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
}

/* moat_tls_send_space / _seal: data written straight into the records
 * in out, sealed in place, reads back as moat_tls_send's would; short
 * fills, giving up, the record cap, the 5.5 key limit, parked keys and
 * misuse. Every suite, in 1.3 and 1.2. */
static int space_roundtrip(pair_t *p, size_t len, size_t max, size_t fill, size_t *k_out)
{
    moat_buf wire, back, junk;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    moat_buf_init(&junk);
    struct iovec iov[8];
    int k = moat_tls_send_space(p->s, &wire, len, iov, max);
    int r = k < 0 ? k : 0;
    size_t room = 0, at = 0;
    for (int i = 0; i < k; i++)
        room += iov[i].iov_len;
    if (fill > room) fill = room;
    for (int i = 0; i < k && at < fill; i++) {
        size_t n = fill - at < iov[i].iov_len ? fill - at : iov[i].iov_len;
        for (size_t j = 0; j < n; j++)
            ((uint8_t *)iov[i].iov_base)[j] = (uint8_t)((at + j) * 7 + 1);
        at += n;
    }
    r = r ? r : moat_tls_send_seal(p->s, &wire, fill);
    moat_buf_clear(&p->c_app);
    r = r ? r : deliver(p->c, &wire, 1 << 20, &back, &p->c_app);
    int same = p->c_app.len == fill;
    for (size_t j = 0; same && j < fill; j++)
        same = p->c_app.base[j] == (uint8_t)(j * 7 + 1);
    if (k_out) *k_out = k > 0 ? (size_t)k : 0;
    moat_buf_free(&wire);
    moat_buf_free(&back);
    moat_buf_free(&junk);
    return r ? r : same ? 0 : -1;
}

static void test_send_space(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    static const uint16_t suites[3] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                       MOAT_TLS_CHACHA20_POLY1305_SHA256};
    for (int v = 0; v < 2; v++) {
        uint16_t ver = v ? MOAT_TLS_VERSION_1_2 : MOAT_TLS_VERSION_1_3;
        moat_tls_config_set_versions(cc, ver, ver);
        for (int suite = 0; suite < 3; suite++) {
            moat_tls_config_set_ciphers(cc, &suites[suite], 1);
            pair_t p;
            size_t k1 = 0, k2 = 0, k3 = 0, k4 = 0;
            int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
            int a = r ? r : space_roundtrip(&p, 40000, 4, 40000, &k1);     /* 3 records */
            int b = r ? r : space_roundtrip(&p, 40000, 4, 20000, &k2);     /* short fill */
            int c = r ? r : space_roundtrip(&p, 100000, 2, 100000, &k3);   /* capped at 2 */
            int d = r ? r : space_roundtrip(&p, 1, 8, 1, NULL);            /* one byte */
            int e = r ? r : space_roundtrip(&p, 16384 * 2, 8, 0, NULL);    /* given up */
            moat_tls_park(p.s);
            int f = r ? r : space_roundtrip(&p, 20000, 8, 20000, NULL);    /* parked */
            /* 5.5: no reservation runs past the key limit, and the next
             * one begins with a KeyUpdate (1.3; 1.2 has no limit). */
            unsigned epoch = p.s->wr.epoch;
            if (!r && !v) p.s->key_limit = p.s->wr.seq + 2;
            int g = r ? r : space_roundtrip(&p, 16384 * 5, 8, 16384 * 5, &k4);
            int h = r ? r : space_roundtrip(&p, 100, 8, 100, NULL);
            int ku_ok = v || p.s->wr.epoch == epoch + 1;
            int ok = !r && !a && k1 == 3 && !b && k2 == 3 && !c && k3 == 2 && !d && !e && !f &&
                     !g && k4 == (v ? 5 : 2) && !h && ku_ok;
            check(ok, "send_space %s %04x: sealed in place, read back (%d; %d %d %d %d %d %d %d %d; "
                  "k %zu %zu %zu %zu)",
                  moat_tls_version_name(ver), suites[suite], r, a, b, c, d, e, f, g, h, k1, k2,
                  k3, k4);
            pair_free(&p);
        }
    }
    /* Misuse: before the handshake, no room asked, sealing more than was
     * reserved or with nothing reserved. */
    moat_tls_config_set_versions(cc, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_3);
    moat_tls_config_set_ciphers(cc, suites, 1);
    moat_tls *early = moat_tls_server_new(sc);
    moat_buf out;
    moat_buf_init(&out);
    struct iovec iov[2];
    int st = moat_tls_send_space(early, &out, 10, iov, 2) == MOAT_ERR_STATE;
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    int a0 = !r && moat_tls_send_space(p.s, &out, 0, iov, 2) == MOAT_ERR_ARG;
    int a1 = !r && moat_tls_send_seal(p.s, &out, 1) == MOAT_ERR_ARG;
    int a2 = !r && moat_tls_send_space(p.s, &out, 10, iov, 2) == 1 &&
             moat_tls_send_seal(p.s, &out, 11) == MOAT_ERR_ARG && out.len == 0;
    int a3 = !r && moat_tls_send_space(p.s, &out, 10, iov, 2) == 1 &&
             moat_tls_send_seal(p.s, &out, 0) == 0 && out.len == 0 &&
             moat_tls_send_seal(p.s, &out, 1) == MOAT_ERR_ARG;
    check(st && a0 && a1 && a2 && a3, "send_space misuse refused (%d %d %d %d %d)", st, a0, a1, a2,
          a3);
    pair_free(&p);
    moat_tls_free(early);
    moat_buf_free(&out);
    moat_tls_config_free(sc);
    moat_tls_config_free(cc);
}

/* D.5: a legacy_version below 0x0301 with supported_versions offering
 * TLS 1.3 gets protocol_version, not a ServerHello (OpenSSL does the same);
 * 0x0301, which OpenSSL tolerates, is still served. */
static void test_legacy_version(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_buf ch;
    client_hello(cc, &ch);
    static const uint16_t low[] = {0x0000, 0x0102, 0x0200, 0x02ff, 0x0300};
    for (size_t i = 0; i < sizeof low / sizeof low[0]; i++) {
        ch.base[5 + 4] = (uint8_t)(low[i] >> 8);
        ch.base[5 + 5] = (uint8_t)low[i];
        int alert, r = server_gets(sc, ch.base, ch.len, &alert);
        check(r == ALERT(PROTOCOL_VERSION) && alert == 70,
              "legacy_version 0x%04x with supported_versions TLS 1.3 gets protocol_version (%s)",
              low[i], moat_strerror(r));
    }
    ch.base[5 + 4] = 3;
    ch.base[5 + 5] = 1;
    int alert, r = server_gets(sc, ch.base, ch.len, &alert);
    check(r == 0 && alert == -1, "legacy_version 0x0301 with supported_versions is answered (%s)",
          moat_strerror(r));
    moat_buf_free(&ch);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* 5.4: an alert record whose content is empty (no alert at all), with
 * or without padding, under handshake or application keys. */
static void test_empty_alert(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    static const uint8_t bare[1] = {CT_ALERT}, padded[4] = {CT_ALERT, 0, 0, 0};
    for (int hs_keys = 0; hs_keys < 2; hs_keys++) {
        for (int pad = 0; pad < 2; pad++) {
            pair_t p;
            moat_buf to_s, to_c, wire;
            moat_buf_init(&to_c);
            moat_buf_init(&wire);
            tls_dir d;
            memset(&d, 0, sizeof d);
            int r;
            if (hs_keys) {
                /* The server waits for the client's Finished, under the
                 * client's handshake key. */
                pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
                r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
                rl_set_secret(&d, p.s->suite, 1, p.s->hs->c_hs);
            } else {
                memset(&p, 0, sizeof p);
                moat_buf_init(&to_s);
                r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
            }
            seal_raw(hs_keys ? &d : &p.c->wr, pad ? padded : bare, pad ? 4 : 1, &wire);
            moat_buf back;
            moat_buf_init(&back);
            r = r ? r : deliver(p.s, &wire, 1 << 20, &back, &p.s_app);
            check(r == ALERT(UNEXPECTED_MESSAGE) && back.len > 0,
                  "an empty alert record%s under %s keys gives unexpected_message (%s)",
                  pad ? " with padding" : "", hs_keys ? "handshake" : "application",
                  moat_strerror(r));
            rl_clear(&d);
            moat_buf_free(&back);
            moat_buf_free(&wire);
            moat_buf_free(&to_s);
            moat_buf_free(&to_c);
            pair_free(&p);
        }
    }
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* Raw extensions the edits below put in front of a ClientHello's own. */
static uint8_t raw_exts[1 << 16];

static void set_raw(t_ch *ch, moat_buf *b)
{
    memcpy(raw_exts, b->base, b->len);
    ch->raw = raw_exts;
    ch->rawlen = b->len;
    moat_buf_free(b);
}

/* Key shares in groups moat does not know (0x6000 up), each listed in
 * supported_groups in the same order, before or instead of the client's
 * own share. */
struct shares {
    unsigned unknown; /* how many */
    size_t keylen;    /* the size of each */
    int real;         /* the client's own share follows them */
    int dup;          /* the last unknown group has a second share */
    int ours;         /* supported_groups still lists the client's groups */
    int unlisted;     /* one more unknown share, in a group not listed */
};

static void many_shares(t_ch *ch, void *arg)
{
    const struct shares *a = arg;
    t_ext *ks = ch_ext(ch, EXT_KEY_SHARE), *sg = ch_ext(ch, EXT_SUPPORTED_GROUPS);
    moat_buf b;
    moat_buf_init(&b);
    wr_t w = wr_init(&b);
    wr_u16(&w, EXT_SUPPORTED_GROUPS);
    wr_open(&w, 2);
    wr_open(&w, 2);
    for (unsigned i = 0; i < a->unknown; i++)
        wr_u16(&w, 0x6000 + i);
    if (a->ours) wr_bytes(&w, sg->body + 2, sg->len - 2);
    wr_close(&w);
    wr_close(&w);
    wr_u16(&w, EXT_KEY_SHARE);
    wr_open(&w, 2);
    wr_open(&w, 2);
    for (unsigned i = 0; i < a->unknown + (a->dup != 0) + (a->unlisted != 0); i++) {
        wr_u16(&w, i < a->unknown ? 0x6000 + i : a->unlisted ? 0x5fff : 0x6000 + a->unknown - 1);
        wr_u16(&w, (uint32_t)a->keylen);
        for (size_t k = 0; k < a->keylen; k++)
            wr_u8(&w, (uint32_t)(i + k) & 0xff);
    }
    if (a->real) wr_bytes(&w, ks->body + 2, ks->len - 2);
    wr_close(&w);
    wr_close(&w);
    ch_del_ext(ch, EXT_KEY_SHARE);
    ch_del_ext(ch, EXT_SUPPORTED_GROUPS);
    set_raw(ch, &b);
}

/* The server's error (the client's when the server had none) for a
 * ClientHello edited by `edit`, delivered 1000 bytes at a time. */
static int edited_hello(moat_tls_config *cc, moat_tls_config *sc, void (*edit)(t_ch *, void *),
                        void *arg, int *hrr, uint16_t *group)
{
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, edit, arg, &to_s);
    int r = pair_pump(&p, &to_s, &to_c, 1000);
    static const char m[] = "after the edited hello";
    if (!r) r = pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20);
    if (!r && !buf_is(&p.s_app, m, sizeof m)) r = -2;
    *hrr = moat_tls_did_hrr(p.s);
    *group = moat_tls_get_group(p.s);
    if (p.serr) r = p.serr;
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    return r;
}

/* 4.2.8: shares in unknown groups are skipped, however many and however
 * large; a known one among them is used; with none, HelloRetryRequest
 * when a listed group is ours, else handshake_failure. Repeats and
 * shares outside supported_groups are still illegal_parameter. */
static void test_many_key_shares(void)
{
    moat_tls_config *sc = server_config("p256"), *p256only = server_config("p256"),
                    *cc = client_config("ca");
    static const uint16_t g256[] = {MOAT_GROUP_SECP256R1};
    moat_tls_config_set_groups(p256only, g256, 1);
    static const struct {
        struct shares s;
        int server; /* 1: p256only */
        int want, hrr;
        const char *what;
    } cases[] = {
        {{17, 32, 1, 0, 1, 0},
         0,
         0,
         0,
         "17 unknown key shares and the client's (hybrid, x25519): the hybrid"},
        {{1000, 1, 1, 0, 1, 0},
         0,
         0,
         0,
         "1,000 unknown key shares and the client's (hybrid, x25519): the hybrid"},
        {{40, 1216, 1, 0, 1, 0},
         0,
         0,
         0,
         "40 unknown key shares of 1,216 bytes (over three records) and the client's: the hybrid"},
        {{8000, 1, 1, 0, 1, 0},
         0,
         0,
         0,
         "8,000 one-byte unknown key shares and the client's (hybrid, x25519): the hybrid"},
        {{20, 32, 0, 0, 1, 0},
         1,
         0,
         1,
         "20 unknown key shares only, a listed group ours: HelloRetryRequest, then served"},
        {{20, 32, 0, 0, 0, 0},
         0,
         ALERT(HANDSHAKE_FAILURE),
         0,
         "20 unknown key shares only, no listed group ours: handshake_failure"},
        {{20, 32, 1, 1, 1, 0},
         0,
         ALERT(ILLEGAL_PARAMETER),
         0,
         "a repeated unknown group among 21 key shares: illegal_parameter"},
        {{5000, 1, 1, 1, 1, 0},
         0,
         ALERT(ILLEGAL_PARAMETER),
         0,
         "a repeated unknown group among 5,001 key shares: illegal_parameter"},
        {{20, 32, 1, 0, 1, 1},
         0,
         ALERT(ILLEGAL_PARAMETER),
         0,
         "a key share in a group not in supported_groups: illegal_parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int hrr = 0;
        uint16_t g = 0;
        int r = edited_hello(cc, cases[i].server ? p256only : sc, many_shares, (void *)&cases[i].s,
                             &hrr, &g);
        uint16_t want_g = cases[i].server ? MOAT_GROUP_SECP256R1 : MOAT_GROUP_X25519MLKEM768;
        check(r == cases[i].want && (r || (hrr == cases[i].hrr && g == want_g)), "%s (%s)",
              cases[i].what, moat_strerror(r));
    }
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
    moat_tls_config_free(p256only);
}

/* Empty extensions of unknown types (0x1000 up), `n` of them, in front;
 * `dup` repeats the first at the end of them. */
struct unknown_exts {
    size_t n;
    int dup;
};

static void many_exts(t_ch *ch, void *arg)
{
    const struct unknown_exts *a = arg;
    moat_buf b;
    moat_buf_init(&b);
    wr_t w = wr_init(&b);
    for (size_t i = 0; i < a->n; i++) {
        wr_u16(&w, (uint32_t)(0x1000 + i));
        wr_u16(&w, 0);
    }
    if (a->dup) {
        wr_u16(&w, 0x1000);
        wr_u16(&w, 0);
    }
    set_raw(ch, &b);
}

/* 4.2: unknown extensions are ignored, as many as the 16-bit length of
 * the list allows (the hello then spans several records); one repeated
 * among them is still illegal_parameter. */
static void test_many_extensions(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    /* What the client's own extensions take: room left for 4-byte ones. */
    moat_buf ch;
    client_hello(cc, &ch);
    size_t own = ch.len - 5 - 4 - 2 - 32 - 1 - ch.base[5 + 4 + 2 + 32];
    own -= 2 + ((size_t)ch.base[5 + 4 + 2 + 32 + 1 + ch.base[5 + 4 + 2 + 32]] << 8 |
                ch.base[5 + 4 + 2 + 32 + 2 + ch.base[5 + 4 + 2 + 32]]);
    own -= 2 + 2; /* compression methods, extensions length */
    moat_buf_free(&ch);
    size_t most = (65535 - own) / 4;
    const struct {
        struct unknown_exts e;
        int want;
        const char *what;
    } cases[] = {
        {{100, 0}, 0, "100 unknown extensions are ignored"},
        {{5000, 0}, 0, "5,000 unknown extensions over two records are ignored"},
        {{most, 0}, 0, "unknown extensions filling the 16-bit list length are ignored"},
        {{5000, 1},
         ALERT(ILLEGAL_PARAMETER),
         "a repeated unknown extension among 5,001: illegal_parameter"},
        {{most - 1, 1},
         ALERT(ILLEGAL_PARAMETER),
         "a repeated unknown extension in a full list: illegal_parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int hrr;
        uint16_t g;
        int r = edited_hello(cc, sc, many_exts, (void *)&cases[i].e, &hrr, &g);
        check(r == cases[i].want, "%s (%zu) (%s)", cases[i].what, cases[i].e.n, moat_strerror(r));
    }
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* ---- X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem) */

/* The hybrid in every suite, records whole and one byte at a time (the
 * ClientHello of 1.6 KB in one-byte reads): no HelloRetryRequest, both
 * ends name the group. */
static void test_hybrid_suites(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    static const uint16_t suites[] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                      MOAT_TLS_CHACHA20_POLY1305_SHA256};
    for (size_t i = 0; i < 3; i++) {
        moat_tls_config_set_ciphers(cc, &suites[i], 1);
        for (size_t step = 1; step <= 1 << 20; step <<= 20) {
            pair_t p;
            int r = pair_handshake(&p, cc, sc, "localhost", step);
            uint8_t d[100] = {4, 5, 6};
            int sent = !r && !pair_send(p.c, p.s, d, sizeof d, &p.s_app, step) &&
                       buf_is(&p.s_app, d, sizeof d);
            check(sent && moat_tls_get_group(p.c) == MOAT_GROUP_X25519MLKEM768 &&
                      moat_tls_get_group(p.s) == MOAT_GROUP_X25519MLKEM768 &&
                      !moat_tls_did_hrr(p.s),
                  "X25519MLKEM768 %s, step %zu, no HelloRetryRequest (%s)",
                  moat_tls_cipher_name(suites[i]), step, moat_strerror(r));
            pair_free(&p);
        }
    }
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* The group both ends ended with, -1 on failure; *hrr says whether the
 * server asked again. drop_x25519: the client's x25519 share beside the
 * hybrid's is taken out of its ClientHello. */
static void drop_second_share(t_ch *ch, void *arg)
{
    (void)arg;
    t_ext *ks = ch_ext(ch, EXT_KEY_SHARE);
    size_t first = 2 + 4 + ((size_t)ks->body[4] << 8 | ks->body[5]);
    ks->len = first;
    ks->body[0] = (uint8_t)((first - 2) >> 8);
    ks->body[1] = (uint8_t)(first - 2);
}

static int hybrid_pair(const uint16_t *cg, size_t ncg, const uint16_t *sg, size_t nsg,
                       int drop_x25519, int *hrr)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    moat_tls_config_set_groups(cc, cg, ncg);
    moat_tls_config_set_groups(sc, sg, nsg);
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, drop_x25519 ? drop_second_share : NULL, NULL,
                    &to_s);
    if (drop_x25519) { /* the client's own view: it sent the hybrid's only */
        crypto_kex_free(p.c->hs->kex2);
        p.c->hs->kex2 = NULL;
    }
    int r = pair_pump(&p, &to_s, &to_c, 1 << 20);
    uint8_t d[10] = {7};
    if (!r) r = pair_send(p.c, p.s, d, sizeof d, &p.s_app, 1 << 20);
    int g = r || moat_tls_get_group(p.c) != moat_tls_get_group(p.s) ? -1 : moat_tls_get_group(p.s);
    *hrr = moat_tls_did_hrr(p.s) && moat_tls_did_hrr(p.c);
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
    return g;
}

/* 4.1.4 with the hybrid: from x25519 to it and back; a share the server
 * can use is used, whichever it prefers. */
static void test_hybrid_hrr(void)
{
    static const uint16_t x_hy[] = {MOAT_GROUP_X25519, MOAT_GROUP_X25519MLKEM768},
                          hy_x[] = {MOAT_GROUP_X25519MLKEM768, MOAT_GROUP_X25519},
                          hy[] = {MOAT_GROUP_X25519MLKEM768}, x[] = {MOAT_GROUP_X25519},
                          nohy[] = {MOAT_GROUP_X25519, MOAT_GROUP_SECP256R1, MOAT_GROUP_SECP384R1},
                          all[] = {MOAT_GROUP_X25519MLKEM768, MOAT_GROUP_X25519,
                                   MOAT_GROUP_SECP256R1, MOAT_GROUP_SECP384R1};
    int hrr = 0, g = hybrid_pair(x_hy, 2, hy, 1, 0, &hrr);
    check(g == MOAT_GROUP_X25519MLKEM768 && hrr,
          "HelloRetryRequest from an x25519 share to X25519MLKEM768");
    g = hybrid_pair(hy_x, 2, x, 1, 1, &hrr);
    check(g == MOAT_GROUP_X25519 && hrr, "HelloRetryRequest from a hybrid share to x25519");
    g = hybrid_pair(x_hy, 2, all, 4, 0, &hrr);
    check(
        g == MOAT_GROUP_X25519 && !hrr,
        "a client listing the hybrid with an x25519 share only gets x25519, no HelloRetryRequest");
    g = hybrid_pair(all, 4, nohy, 3, 0, &hrr);
    check(g == MOAT_GROUP_X25519 && !hrr,
          "the default client against a server without the hybrid: its x25519 share, no "
          "HelloRetryRequest");
    g = hybrid_pair(all, 4, all, 4, 0, &hrr);
    check(g == MOAT_GROUP_X25519MLKEM768 && !hrr,
          "the default client and server: X25519MLKEM768 from the first flight");
}

/* The client's hybrid share rewritten by `edit`; the x25519 share stays. */
struct bad_share {
    size_t len;  /* the new length of the hybrid share */
    int modulus; /* its first coefficient set to 4095 (FIPS 203 7.2 refuses it) */
    int zero_x;  /* its X25519 half all zeros (RFC 8446 7.4.2) */
};

static void bad_hybrid_share(t_ch *ch, void *arg)
{
    const struct bad_share *a = arg;
    t_ext *ks = ch_ext(ch, EXT_KEY_SHARE);
    size_t klen = (size_t)ks->body[4] << 8 | ks->body[5], rest = ks->len - 6 - klen;
    uint8_t key[2048] = {0}, tail[256];
    memcpy(key, ks->body + 6, klen);
    memcpy(tail, ks->body + 6 + klen, rest);
    if (a->modulus) {
        key[0] = 0xff;
        key[1] |= 0x0f;
    }
    if (a->zero_x) memset(key + 1184, 0, 32);
    ks->body[4] = (uint8_t)(a->len >> 8);
    ks->body[5] = (uint8_t)a->len;
    memcpy(ks->body + 6, key, a->len);
    memcpy(ks->body + 6 + a->len, tail, rest);
    ks->len = 6 + a->len + rest;
    ks->body[0] = (uint8_t)((ks->len - 2) >> 8);
    ks->body[1] = (uint8_t)(ks->len - 2);
}

/* The ServerHello's share one byte shorter, every length around it too. */
static int cut_server_share(moat_buf *to_c)
{
    uint8_t *b = to_c->base;
    size_t p = 5 + 4 + 2 + 32;
    p += 1 + b[p] + 2 + 1;
    size_t end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
    for (size_t e = p + 2; e + 4 <= end;) {
        size_t elen = (size_t)b[e + 2] << 8 | b[e + 3];
        if (b[e] == 0 && b[e + 1] == EXT_KEY_SHARE) {
            size_t at[] = {3, 6, p, e + 2, e + 6}, w[] = {2, 3, 2, 2, 2};
            for (size_t i = 0; i < 5; i++) {
                size_t v = 0;
                for (size_t k = 0; k < w[i]; k++)
                    v = v << 8 | b[at[i] + k];
                v--;
                for (size_t k = 0; k < w[i]; k++)
                    b[at[i] + k] = (uint8_t)(v >> (8 * (w[i] - 1 - k)));
            }
            memmove(b + e + 4 + elen - 1, b + e + 4 + elen, to_c->len - (e + 4 + elen));
            to_c->len--;
            return 0;
        }
        e += 4 + elen;
    }
    return -1;
}

/* Malformed hybrid shares: illegal_parameter, from the server for the
 * client's, from the client for the server's. */
static void test_hybrid_hostile(void)
{
    moat_tls_config *sc = server_config("p256"), *cc = client_config("ca");
    static const struct {
        struct bad_share s;
        const char *what;
    } cases[] = {
        {{1215, 0, 0}, "a hybrid client share one byte short"},
        {{1184, 0, 0}, "a hybrid client share without its X25519 half"},
        {{32, 0, 0}, "a hybrid client share of 32 bytes"},
        {{1217, 0, 0}, "a hybrid client share one byte over"},
        {{2000, 0, 0}, "a hybrid client share of 2,000 bytes"},
        {{1216, 1, 0}, "a hybrid client share failing the modulus check"},
        {{1216, 0, 1}, "a hybrid client share with an all-zero X25519 key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        moat_buf to_s, to_c;
        moat_buf_init(&to_c);
        pair_t p;
        pair_begin_edit(&p, cc, sc, "localhost", NULL, bad_hybrid_share, (void *)&cases[i].s,
                        &to_s);
        int r = pair_pump(&p, &to_s, &to_c, 1 << 20);
        check(p.serr == ALERT(ILLEGAL_PARAMETER) && p.cerr == MOAT_ERR_PEER_ALERT(47),
              "%s gives illegal_parameter (%s)", cases[i].what, moat_strerror(r));
        pair_free(&p);
        moat_buf_free(&to_s);
        moat_buf_free(&to_c);
    }
    moat_buf to_s, to_c;
    moat_buf_init(&to_c);
    pair_t p;
    pair_begin_edit(&p, cc, sc, "localhost", NULL, NULL, NULL, &to_s);
    int r = deliver(p.s, &to_s, 1 << 20, &to_c, &p.s_app);
    int cut = r ? -1 : cut_server_share(&to_c);
    r = r ? r : deliver(p.c, &to_c, 1 << 20, &to_s, &p.c_app);
    check(!cut && r == ALERT(ILLEGAL_PARAMETER),
          "a hybrid server share one byte short gives illegal_parameter (%s)", moat_strerror(r));
    pair_free(&p);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    moat_tls_config_free(cc);
    moat_tls_config_free(sc);
}

/* crypto/ alone: both halves of the secret agree, and wrong lengths on
 * either side are illegal_parameter. */
static void test_hybrid_kex(void)
{
    moat_kex *k = crypto_kex_new(MOAT_KEX_X25519MLKEM768);
    uint8_t cs[MOAT_KEX_SHARE_MAX], ss[MOAT_KEX_SHARE_MAX], a[MOAT_KEX_SECRET_MAX],
        b[MOAT_KEX_SECRET_MAX];
    size_t cl = 0, sl = 0, al = 0, bl = 0;
    int r = k ? crypto_kex_pub(k, cs, &cl) : -1;
    if (!r) r = crypto_kex_respond(MOAT_KEX_X25519MLKEM768, cs, cl, ss, &sl, a, &al);
    if (!r) r = crypto_kex_derive(k, ss, sl, b, &bl);
    check(!r && cl == 1216 && sl == 1120 && al == 64 && bl == 64 && !memcmp(a, b, 64),
          "X25519MLKEM768: shares of 1,216 and 1,120 bytes, the same 64-byte secret");
    check(crypto_kex_derive(k, ss, sl - 1, b, &bl) == ALERT(ILLEGAL_PARAMETER) &&
              crypto_kex_derive(k, ss, 1088, b, &bl) == ALERT(ILLEGAL_PARAMETER),
          "X25519MLKEM768: a server share of 1,119 or 1,088 bytes is illegal_parameter");
    check(crypto_kex_respond(MOAT_KEX_X25519MLKEM768, cs, cl + 1, ss, &sl, a, &al) ==
                  ALERT(ILLEGAL_PARAMETER) &&
              crypto_kex_respond(MOAT_KEX_X25519MLKEM768, cs, 32, ss, &sl, a, &al) ==
                  ALERT(ILLEGAL_PARAMETER),
          "X25519MLKEM768: a client share of 1,217 or 32 bytes is illegal_parameter");
    crypto_kex_free(k);
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
    test_system_trust();
    test_sni_and_alpn();
    test_hostile_server_input();
    test_tampering();
    test_record_limits();
    test_key_update_flood();
    test_empty_records();
    test_secrets_wiped();
    test_ccs();
    test_hostile_server_hello();
    test_hostile_flight();
    test_grease_and_schemes();
    test_sigalgs_cert();
    test_early_data_after_hrr();
    test_park();
    test_send_space();
    test_legacy_version();
    test_empty_alert();
    test_many_key_shares();
    test_many_extensions();
    test_hybrid_kex();
    test_hybrid_suites();
    test_hybrid_hrr();
    test_hybrid_hostile();
    remove_certs();
    return failures ? 1 : 0;
}
