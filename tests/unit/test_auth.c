/* Client certificates (mutual TLS) and OCSP stapling, in memory; tickets
 * under client authentication. */
#include <time.h>

#include "harness.h"
#include "tls/internal.h"

static moat_buf readfile(const char *path)
{
    moat_buf b;
    moat_buf_init(&b);
    FILE *f = fopen(path, "rb");
    uint8_t tmp[4096];
    size_t n;
    while (f && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
        moat_buf_append(&b, tmp, n);
    if (f) fclose(f);
    return b;
}

static int64_t later;
static int64_t later_clock(void *a)
{
    (void)a;
    return later;
}

static void test_mtls(void)
{
    char err[256];
    moat_tls_config *sc = server_config("p256");
    check(!moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err),
          "client CA file loads");
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_REQUIRE);
    moat_tls_config *alice = client_config("ca"), *anon = client_config("ca"),
                    *mallory = client_config("ca");
    moat_tls_config_add_cert_file(alice, cpath("alice", "pem"), cpath("alice", "key"), err,
                                  sizeof err);
    moat_tls_config_add_cert_file(mallory, cpath("mallory", "pem"), cpath("mallory", "key"), err,
                                  sizeof err);
    pair_t p;
    int r = pair_handshake(&p, alice, sc, "localhost", 1 << 20);
    const char *id = r ? NULL : moat_tls_get_peer_identity(p.s);
    check(r == 0 && id && strstr(id, "CN=alice"), "client certificate verified: %s (%s)",
          id ? id : "(none)", moat_strerror(r));
    size_t dlen = 0, dlen1 = 0;
    const uint8_t *der = r ? NULL : moat_tls_get_peer_cert(p.s, 0, &dlen);
    check(der && dlen > 100 && der[0] == 0x30 && !moat_tls_get_peer_cert(p.s, 1, &dlen1),
          "the verified client certificate's DER is kept for the application (%zu bytes)", dlen);
    static uint8_t der_copy[4096];
    if (der && dlen <= sizeof der_copy) memcpy(der_copy, der, dlen);
    der = der && dlen <= sizeof der_copy ? der_copy : NULL;
    static const char m[] = "after mutual authentication";
    check(!pair_send(p.c, p.s, m, sizeof m, &p.s_app, 1 << 20) && p.s_app.len == sizeof m,
          "data flows after mutual authentication");
    moat_buf sess;
    moat_buf_init(&sess);
    moat_tls_get_session(p.c, &sess);
    pair_free(&p);

    r = pair_handshake(&p, anon, sc, "localhost", 1 << 20);
    check(p.serr == ALERT(CERTIFICATE_REQUIRED) &&
              p.cerr == MOAT_ERR_PEER_ALERT(MOAT_ALERT_CERTIFICATE_REQUIRED),
          "no certificate when one is required: certificate_required (%s)", moat_strerror(r));
    pair_free(&p);

    r = pair_handshake(&p, mallory, sc, "localhost", 1 << 20);
    check(p.serr == ALERT(UNKNOWN_CA) && moat_tls_get_peer_identity(p.s) == NULL,
          "client certificate from an unknown CA: unknown_ca (%s)", moat_strerror(p.serr));
    pair_free(&p);

    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_OPTIONAL);
    r = pair_handshake(&p, anon, sc, "localhost", 1 << 20);
    check(r == 0 && moat_tls_get_peer_identity(p.s) == NULL &&
              !moat_tls_get_peer_cert(p.s, 0, &dlen),
          "optional client authentication without a certificate");
    pair_free(&p);

    /* The identity survives resumption. */
    memset(&p, 0, sizeof p);
    p.c = moat_tls_client_new(alice, "localhost");
    p.s = moat_tls_server_new(sc);
    moat_buf a, b, junk;
    moat_buf_init(&a);
    moat_buf_init(&b);
    moat_buf_init(&junk);
    r = moat_tls_set_session(p.c, sess.base, sess.len);
    r = r ? r : moat_tls_start(p.c, &a);
    for (int i = 0; i < 4 && !r; i++) {
        r = a.len ? deliver(p.s, &a, 1 << 20, &b, &junk) : 0;
        r = r ? r : b.len ? deliver(p.c, &b, 1 << 20, &a, &junk) : 0;
    }
    id = moat_tls_get_peer_identity(p.s);
    check(r == 0 && moat_tls_resumed(p.s) && id && strstr(id, "CN=alice"),
          "a resumed session keeps the client's identity");
    size_t rlen = 0;
    const uint8_t *rder = moat_tls_get_peer_cert(p.s, 0, &rlen);
    check(rder && der && rlen == dlen && !memcmp(rder, der, dlen) &&
              !moat_tls_get_peer_cert(p.s, 1, &dlen1),
          "a resumed session has the certificate's DER from the ticket (%zu bytes)", rlen);
    moat_buf_free(&a);
    moat_buf_free(&b);
    moat_buf_free(&junk);
    moat_buf_free(&sess);
    pair_free(&p);
    moat_tls_config_free(alice);
    moat_tls_config_free(anon);
    moat_tls_config_free(mallory);
    moat_tls_config_free(sc);
}

static void test_ocsp(void)
{
    moat_buf good = readfile(cpath("p256", "ocsp")), revoked = readfile(cpath("rsa", "ocsp"));
    check(good.len > 0 && revoked.len > 0, "openssl ocsp made the responses");
    moat_tls_config *sc = server_config("p256"), *rc = server_config("rsa"),
                    *wrong = server_config("rsa"), *cc = client_config("ca");
    check(!moat_tls_config_set_ocsp_staple(sc, 0, good.base, good.len) &&
              !moat_tls_config_set_ocsp_staple(rc, 0, revoked.base, revoked.len) &&
              !moat_tls_config_set_ocsp_staple(wrong, 0, good.base, good.len),
          "staples load");
    check(moat_tls_config_set_ocsp_staple(sc, 0, (const uint8_t *)"junk", 4) == MOAT_ERR_FILE,
          "a file that is not an OCSP response is refused");
    pair_t p;
    int r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(r == 0 && moat_tls_ocsp_stapled(p.c) && !moat_tls_ocsp_ignored(p.c),
          "a good staple is sent and accepted");
    pair_free(&p);
    r = pair_handshake(&p, cc, rc, "localhost", 1 << 20);
    const char *why = moat_tls_verify_error(p.c);
    check(r == ALERT(CERTIFICATE_REVOKED) && why && strstr(why, "stapled OCSP"),
          "a revoked staple refuses the site: %s", why ? why : "(none)");
    pair_free(&p);
    /* Unusable staples are ignored, as browsers do (RFC 6960 3.2). */
    r = pair_handshake(&p, cc, wrong, "localhost", 1 << 20);
    why = moat_tls_ocsp_ignored(p.c);
    check(r == 0 && !moat_tls_ocsp_stapled(p.c) && !moat_tls_verify_error(p.c) && why &&
              strstr(why, "another certificate"),
          "a staple for another certificate is ignored, not a refusal: %s", why ? why : "(none)");
    pair_free(&p);
    /* Past its nextUpdate the server stops stapling it. */
    later = (int64_t)time(NULL) + 3 * 86400;
    moat_tls_config_set_clock(sc, later_clock, NULL);
    r = pair_handshake(&p, cc, sc, "localhost", 1 << 20);
    check(r == 0 && !moat_tls_ocsp_stapled(p.c), "an expired staple is not sent");
    pair_free(&p);
    /* A client that does not verify does not ask. */
    moat_tls_config *k = moat_tls_config_new();
    moat_tls_config_set_verify(k, 0);
    moat_tls_config_set_clock(sc, NULL, NULL);
    r = pair_handshake(&p, k, rc, "localhost", 1 << 20);
    check(r == 0 && !moat_tls_ocsp_stapled(p.c), "no staple for a client that did not ask");
    pair_free(&p);
    moat_tls_config_free(k);
    moat_buf_free(&good);
    moat_buf_free(&revoked);
    moat_tls_config_free(sc);
    moat_tls_config_free(rc);
    moat_tls_config_free(wrong);
    moat_tls_config_free(cc);
}

/* A handshake offering a saved session (none when sess is NULL); the
 * server's result, and whether it resumed and whom it saw; the session
 * the client saved from it in *newsess, when given. */
static int offer(moat_tls_config *cc, moat_tls_config *sc, const moat_buf *sess, int *resumed,
                 char *ident, size_t n, moat_buf *newsess)
{
    pair_t p;
    memset(&p, 0, sizeof p);
    p.c = moat_tls_client_new(cc, "localhost");
    p.s = moat_tls_server_new(sc);
    moat_buf to_s, to_c;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    if (sess) moat_tls_set_session(p.c, sess->base, sess->len);
    p.cerr = moat_tls_start(p.c, &to_s);
    int r = pair_pump(&p, &to_s, &to_c, 1 << 20);
    /* Tickets follow the server's last flight; the client reads them with data. */
    static const char m[] = "x";
    if (!r) r = pair_send(p.s, p.c, m, 1, &p.c_app, 1 << 20);
    *resumed = moat_tls_resumed(p.s);
    const char *id = moat_tls_get_peer_identity(p.s);
    snprintf(ident, n, "%s", id ? id : "");
    if (newsess) {
        moat_buf_init(newsess);
        if (!r) moat_tls_get_session(p.c, newsess);
    }
    if (p.serr) r = p.serr;
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    pair_free(&p);
    return r;
}

/* Resumption must not skip the client authentication the server asks for
 * now (2.2: a resumed handshake has no CertificateRequest). */
static void test_resume_auth(void)
{
    char err[256], id[256];
    int res, r;
    moat_tls_config *sc = server_config("p256");
    moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err);
    moat_tls_config *alice = client_config("ca"), *anon = client_config("ca");
    moat_tls_config_add_cert_file(alice, cpath("alice", "pem"), cpath("alice", "key"), err,
                                  sizeof err);
    moat_buf anon_sess, alice_sess;
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_OPTIONAL);
    r = offer(anon, sc, NULL, &res, id, sizeof id, &anon_sess);
    check(r == 0 && !id[0] && anon_sess.len,
          "optional: a client without a certificate gets a ticket");
    r = offer(anon, sc, &anon_sess, &res, id, sizeof id, NULL);
    check(r == 0 && res, "optional: that ticket resumes");
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_REQUIRE);
    r = offer(anon, sc, &anon_sess, &res, id, sizeof id, NULL);
    check(r == ALERT(CERTIFICATE_REQUIRED) && !res,
          "require: a ticket issued without a certificate does not resume; the full handshake "
          "asks for one (%s)",
          moat_strerror(r));
    r = offer(alice, sc, &anon_sess, &res, id, sizeof id, NULL);
    check(r == 0 && !res && strstr(id, "CN=alice"),
          "require: a client with a certificate and an anonymous ticket authenticates in full");
    r = offer(alice, sc, NULL, &res, id, sizeof id, &alice_sess);
    check(r == 0 && alice_sess.len && strstr(id, "CN=alice"), "require: alice gets a ticket");
    r = offer(alice, sc, &alice_sess, &res, id, sizeof id, NULL);
    check(r == 0 && res && strstr(id, "CN=alice"), "require: alice's ticket resumes as alice");
    /* Another client CA file: the identity in the ticket is not vouched for. */
    moat_tls_config_set_client_ca_file(sc, cpath("other", "pem"), err, sizeof err);
    r = offer(alice, sc, &alice_sess, &res, id, sizeof id, NULL);
    check(r == ALERT(UNKNOWN_CA) && !res,
          "a ticket with an identity from another client CA does not resume (%s)",
          moat_strerror(r));
    moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err);
    r = offer(alice, sc, &alice_sess, &res, id, sizeof id, NULL);
    check(r == 0 && res, "the same CA file again: it resumes");
    /* Client authentication off: no identity carried over from a ticket. */
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_NONE);
    r = offer(alice, sc, &alice_sess, &res, id, sizeof id, NULL);
    check(r == 0 && !res && !id[0], "client auth off: a ticket with an identity gives a full "
                                    "handshake without one");
    moat_buf_free(&anon_sess);
    moat_buf_free(&alice_sess);
    moat_tls_config_free(alice);
    moat_tls_config_free(anon);
    moat_tls_config_free(sc);
}

/* A client chain through an intermediate CA (bob, sent with int.pem), and
 * client certificates with a 20,000-byte extension (big, over the
 * ticket's cap) and a 15,900-byte one (near, just under it). */
static int make_chain_certs(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && exec >>gen.log 2>&1 && "
             "printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' "
             ">int.ext && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out int.key && "
             "openssl req -new -key int.key -subj '/CN=moat test intermediate' -out int.csr && "
             "openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
             "-extfile int.ext -out int.pem && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out bob.key && "
             "openssl req -new -key bob.key -subj /CN=bob -out bob.csr && "
             "openssl x509 -req -in bob.csr -CA int.pem -CAkey int.key -CAcreateserial -days 30 "
             "-extfile client.ext -out bob1.pem && cat bob1.pem int.pem >bob.pem && "
             "(cat client.ext; printf '1.3.6.1.4.1.55555.1=ASN1:UTF8String:'; "
             "head -c 20000 /dev/zero | tr '\\0' x; echo) >big.ext && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out big.key && "
             "openssl req -new -key big.key -subj /CN=big -out big.csr && "
             "openssl x509 -req -in big.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
             "-extfile big.ext -out big.pem && "
             "(cat client.ext; printf '1.3.6.1.4.1.55555.1=ASN1:UTF8String:'; "
             "head -c 15900 /dev/zero | tr '\\0' x; echo) >near.ext && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out near.key && "
             "openssl req -new -key near.key -subj /CN=near -out near.csr && "
             "openssl x509 -req -in near.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
             "-extfile near.ext -out near.pem",
             certdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The server side of one resumption from a saved session (a full
 * handshake when sess is NULL); the session saved in *newsess. */
static int resume_once(moat_tls_config *cc, moat_tls_config *sc, const moat_buf *sess, pair_t *p,
                       moat_buf *newsess)
{
    memset(p, 0, sizeof *p);
    p->c = moat_tls_client_new(cc, "localhost");
    p->s = moat_tls_server_new(sc);
    moat_buf to_s, to_c;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    if (sess) moat_tls_set_session(p->c, sess->base, sess->len);
    p->cerr = moat_tls_start(p->c, &to_s);
    int r = pair_pump(p, &to_s, &to_c, 1 << 20);
    static const char m[] = "x";
    if (!r) r = pair_send(p->s, p->c, m, 1, &p->c_app, 1 << 20);
    moat_buf_init(newsess);
    if (!r) moat_tls_get_session(p->c, newsess);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    return r ? r : p->serr;
}

/* The chain as the server saw it, DER concatenated. */
static size_t peer_chain(const moat_tls *s, moat_buf *out, size_t *n)
{
    size_t len;
    const uint8_t *d;
    moat_buf_init(out);
    for (*n = 0; (d = moat_tls_get_peer_cert(s, *n, &len)); ++*n)
        moat_buf_append(out, d, len);
    return out->len;
}

/* Tickets carry the verified client chain as sent (RFC 9440 Client-Cert
 * and Client-Cert-Chain on resumed connections), through resumptions; a
 * chain over TLS_TICKET_CHAIN_MAX, the identity only. */
static void test_chain_resume(void)
{
    char err[256];
    check(make_chain_certs() == 0, "openssl made a chain through an intermediate and a big "
                                   "certificate");
    moat_tls_config *sc = server_config("p256");
    moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err);
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_REQUIRE);
    moat_tls_config *bob = client_config("ca"), *big = client_config("ca");
    moat_tls_config_add_cert_file(bob, cpath("bob", "pem"), cpath("bob", "key"), err, sizeof err);
    moat_tls_config_add_cert_file(big, cpath("big", "pem"), cpath("big", "key"), err, sizeof err);
    pair_t p;
    moat_buf s0, s1, s2, c0, c1, c2;
    size_t n0, n1, n2;
    int r = resume_once(bob, sc, NULL, &p, &s0);
    peer_chain(p.s, &c0, &n0);
    check(r == 0 && n0 == 2 && s0.len, "bob's chain, leaf and intermediate, verified (%zu, %s)",
          c0.len, moat_strerror(r));
    pair_free(&p);
    r = resume_once(bob, sc, &s0, &p, &s1);
    peer_chain(p.s, &c1, &n1);
    const char *id = moat_tls_get_peer_identity(p.s);
    check(r == 0 && moat_tls_resumed(p.s) && id && strstr(id, "CN=bob") && n1 == 2 &&
              c1.len == c0.len && !memcmp(c1.base, c0.base, c0.len),
          "resumed: the same DER chain, leaf and intermediate, from the ticket (%zu bytes)",
          c1.len);
    pair_free(&p);
    r = resume_once(bob, sc, &s1, &p, &s2);
    peer_chain(p.s, &c2, &n2);
    check(r == 0 && moat_tls_resumed(p.s) && n2 == 2 && c2.len == c0.len &&
              !memcmp(c2.base, c0.base, c0.len),
          "a ticket issued on a resumed connection carries the chain on");
    pair_free(&p);
    moat_buf_free(&s0);
    moat_buf_free(&s1);
    moat_buf_free(&c0);
    moat_buf_free(&c1);
    moat_buf_free(&c2);
    /* Just under the cap: a ticket of some 16.5 KiB, sent in two records,
     * kept by the client, saved (beyond the 16 KiB moat get --session
     * once read) and offered in its ClientHello. */
    moat_tls_config *near = client_config("ca");
    moat_tls_config_add_cert_file(near, cpath("near", "pem"), cpath("near", "key"), err,
                                  sizeof err);
    r = resume_once(near, sc, NULL, &p, &s0);
    peer_chain(p.s, &c0, &n0);
    pair_free(&p);
    r = r ? r : resume_once(near, sc, &s0, &p, &s1);
    peer_chain(p.s, &c1, &n1);
    check(r == 0 && moat_tls_resumed(p.s) && n0 == 1 && n1 == 1 && c0.len > 16000 &&
              c1.len == c0.len && !memcmp(c1.base, c0.base, c0.len) && s0.len > 16384,
          "a %zu-byte certificate resumes with its DER (a saved session of %zu bytes)", c0.len,
          s0.len);
    pair_free(&p);
    moat_tls_config_free(near);
    moat_buf_free(&s0);
    moat_buf_free(&s1);
    moat_buf_free(&c0);
    moat_buf_free(&c1);
    r = resume_once(big, sc, NULL, &p, &s0);
    peer_chain(p.s, &c0, &n0);
    check(r == 0 && n0 == 1 && c0.len > TLS_TICKET_CHAIN_MAX,
          "a client certificate of %zu bytes verified (%s)", c0.len, moat_strerror(r));
    pair_free(&p);
    r = resume_once(big, sc, &s0, &p, &s1);
    peer_chain(p.s, &c1, &n1);
    id = moat_tls_get_peer_identity(p.s);
    check(r == 0 && moat_tls_resumed(p.s) && id && strstr(id, "CN=big") && n1 == 0,
          "a chain over the cap: the resumed connection has the identity only");
    pair_free(&p);
    moat_buf_free(&s0);
    moat_buf_free(&s1);
    moat_buf_free(&s2);
    moat_buf_free(&c0);
    moat_buf_free(&c1);
    moat_tls_config_free(bob);
    moat_tls_config_free(big);
    moat_tls_config_free(sc);
}

/* A client certificate that expires a day after it is made. */
static int make_brief_cert(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && exec >>gen.log 2>&1 && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out brief.key && "
             "openssl req -new -key brief.key -subj /CN=brief -out brief.csr && "
             "openssl x509 -req -in brief.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
             "-extfile client.ext -out brief.pem",
             certdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The lifetime in a saved session (after version, suite and time). */
static uint32_t saved_lifetime(const moat_buf *sess)
{
    const uint8_t *p = sess->base + 1 + 2 + 8;
    return sess->len < 15 ? 0 : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

/* An identity restored from a ticket must not outlive the client's
 * certificate, through any chain of resumptions (4.6.1): past its
 * notAfter the ticket gives a full handshake, which then sees the
 * certificate as it is. */
static void test_identity_expiry(void)
{
    char err[256], id[256];
    int res, r;
    check(make_brief_cert() == 0, "openssl made a client certificate valid for a day");
    moat_tls_config *sc = server_config("p256");
    moat_tls_config_set_client_ca_file(sc, cpath("ca", "pem"), err, sizeof err);
    moat_tls_config_set_client_auth(sc, MOAT_CLIENT_AUTH_OPTIONAL);
    moat_tls_config_set_tickets(sc, 2, 604800);
    moat_tls_config *brief = client_config("ca"), *anon = client_config("ca");
    moat_tls_config_add_cert_file(brief, cpath("brief", "pem"), cpath("brief", "key"), err,
                                  sizeof err);
    moat_tls_config *all[3] = {sc, brief, anon};
    for (int i = 0; i < 3; i++)
        moat_tls_config_set_clock(all[i], later_clock, NULL);
    int64_t t0 = (int64_t)time(NULL);
    later = t0;
    moat_buf s0, s1;
    r = offer(brief, sc, NULL, &res, id, sizeof id, &s0);
    check(r == 0 && strstr(id, "CN=brief") && s0.len, "a client certificate valid for a day");
    uint32_t life = saved_lifetime(&s0);
    check(life > 86400 - 120 && life <= 86400,
          "its ticket's lifetime (7 days configured) ends with the certificate: %u s", life);
    later = t0 + 12 * 3600;
    r = offer(anon, sc, &s0, &res, id, sizeof id, &s1);
    check(r == 0 && res && strstr(id, "CN=brief") && s1.len,
          "12 h on, the ticket resumes with the identity (%s)", moat_strerror(r));
    /* Clients no longer offer them past the lifetime they were told; one
     * that does anyway must be refused. */
    memcpy(s0.base + 1 + 2 + 8, "\x00\x09\x3a\x80", 4);
    memcpy(s1.base + 1 + 2 + 8, "\x00\x09\x3a\x80", 4);
    later = t0 + 86400 + 3600;
    r = offer(anon, sc, &s0, &res, id, sizeof id, NULL);
    check(r == 0 && !res && !id[0],
          "past the certificate's notAfter its ticket gives a full handshake, without the "
          "identity (%s)",
          moat_strerror(r));
    r = offer(anon, sc, &s1, &res, id, sizeof id, NULL);
    check(r == 0 && !res && !id[0], "and so does the ticket issued on the resumed connection (%s)",
          moat_strerror(r));
    r = offer(brief, sc, &s1, &res, id, sizeof id, NULL);
    check(r == ALERT(CERTIFICATE_EXPIRED) && !res,
          "the expired certificate is then refused in the full handshake (%s)", moat_strerror(r));
    moat_buf_free(&s0);
    moat_buf_free(&s1);
    moat_tls_config_free(brief);
    moat_tls_config_free(anon);
    moat_tls_config_free(sc);
}

int main(void)
{
    if (make_certs()) {
        printf("not ok - test certificates could not be made (see %s/gen.log)\n", certdir);
        return 1;
    }
    test_mtls();
    test_ocsp();
    test_resume_auth();
    test_identity_expiry();
    test_chain_resume();
    remove_certs();
    return failures ? 1 : 0;
}
