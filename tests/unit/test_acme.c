/* Unit tests of acme/ and its crypto pieces: base64url, JWS signatures
 * checked with libcrypto, the RFC 7638 3.1 thumbprint, key
 * authorizations, problem documents, Retry-After, CSRs and the
 * tls-alpn-01 acmeIdentifier extension. No network. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"
#include "harness.h"
#include "server/acme.h"

/* base64url decoding for the checks (RFC 4648 5, no padding). */
static size_t unb64url(const char *s, uint8_t *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *s; s++) {
        const char *p = strchr(tab, *s);
        if (!p) return (size_t)-1;
        acc = acc << 6 | (uint32_t)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < cap) out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static void test_b64url(void)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},           {"f", "Zg"},         {"fo", "Zm8"},           {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"\xfb\xff", "-_8"}, {"\xff\xfe\xfd", "__79"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *s = acme_b64url(v[i].in, strlen(v[i].in));
        check(s && !strcmp(s, v[i].out), "b64url case %zu -> '%s' (got '%s')", i, v[i].out,
              s ? s : "NULL");
        free(s);
    }
}

static void test_thumbprint(void)
{
    /* RFC 7638 3.1: the RSA key of RFC 7517 A.1 and its thumbprint. */
    const char *names[] = {"kty", "n", "e"};
    const char *values[] = {
        "RSA",
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
        "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "AQAB"};
    char t[44] = "";
    check(acme_thumbprint_members(names, values, 3, t) == 0 &&
              !strcmp(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),
          "thumbprint RFC 7638 3.1 example (got %s)", t);
    char *ka = acme_key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", t);
    check(ka && !strcmp(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
                            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),
          "key authorization is token.thumbprint (RFC 8555 8.1)");
    free(ka);
}

/* Decodes the protected header of a flattened JWS into a JSON object. */
static json_t *jws_part(json_t *jws, const char *member, char *raw, size_t cap)
{
    const char *s = json_string_value(json_object_get(jws, member));
    size_t n = s ? unb64url(s, (uint8_t *)raw, cap - 1) : (size_t)-1;
    if (n == (size_t)-1) return NULL;
    raw[n] = 0;
    return json_loads(raw, 0, NULL);
}

static void test_jws(void)
{
    moat_pkey *k;
    char err[256];
    if (crypto_pkey_generate(MOAT_KEY_EC_P256, &k, err, sizeof err)) {
        check(0, "jws P-256 key");
        return;
    }
    for (int kid = 0; kid < 2; kid++) {
        char *s = acme_jws(k, kid ? "https://ca.test/acct/1" : NULL, "NONCE1",
                           "https://ca.test/new", kid ? NULL : "{\"a\":1}");
        json_t *j = s ? json_loads(s, 0, NULL) : NULL;
        char raw[4096];
        json_t *h = j ? jws_part(j, "protected", raw, sizeof raw) : NULL;
        check(h && !strcmp(json_string_value(json_object_get(h, "alg")), "ES256") &&
                  !strcmp(json_string_value(json_object_get(h, "nonce")), "NONCE1") &&
                  !strcmp(json_string_value(json_object_get(h, "url")), "https://ca.test/new"),
              "jws %s: protected header has alg ES256, nonce, url", kid ? "kid" : "jwk");
        check(h && (kid ? json_object_get(h, "kid") && !json_object_get(h, "jwk")
                        : json_object_get(h, "jwk") && !json_object_get(h, "kid")),
              "jws %s: exactly one of jwk and kid (RFC 8555 6.2)", kid ? "kid" : "jwk");
        const char *pl = j ? json_string_value(json_object_get(j, "payload")) : NULL;
        check(pl && (kid ? !strcmp(pl, "") : !strcmp(pl, "eyJhIjoxfQ")), "jws %s: payload %s",
              kid ? "kid" : "jwk", kid ? "empty (POST-as-GET)" : "encoded");
        uint8_t sig[80];
        const char *s64 = j ? json_string_value(json_object_get(j, "signature")) : NULL;
        size_t sl = s64 ? unb64url(s64, sig, sizeof sig) : 0;
        char input[8192];
        snprintf(input, sizeof input, "%s.%s",
                 j ? json_string_value(json_object_get(j, "protected")) : "", pl ? pl : "");
        check(sl == 64 && crypto_jose_es256_verify(k, input, strlen(input), sig) == 0,
              "jws %s: a 64-byte r||s signature that libcrypto verifies", kid ? "kid" : "jwk");
        sig[10] ^= 1;
        check(sl == 64 && crypto_jose_es256_verify(k, input, strlen(input), sig) != 0,
              "jws %s: a changed signature does not verify", kid ? "kid" : "jwk");
        json_decref(h);
        json_decref(j);
        free(s);
    }
    char *jwk = acme_jwk_json(k);
    check(jwk && !strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31) &&
              strlen(jwk) == 126,
          "jwk: canonical members, 43-character x and y (%s)", jwk ? jwk : "NULL");
    free(jwk);
    crypto_pkey_free(k);
}

static void test_problem(void)
{
    const char *doc =
        "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"Error creating "
        "new order\",\"status\":400,\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:caa\","
        "\"detail\":\"CAA record forbids issuance\",\"identifier\":{\"type\":\"dns\",\"value\":"
        "\"x.test\"}}]}";
    struct acme_problem p;
    check(acme_problem_parse(doc, strlen(doc), &p) == 0 && p.status == 400 &&
              !strcmp(acme_problem_name(&p), "rejectedIdentifier"),
          "problem: type, status");
    char out[2048];
    acme_problem_format(&p, out, sizeof out);
    check(strstr(out, "will not issue") && strstr(out, "x.test: CAA record forbids issuance"),
          "problem: plain words and the subproblem's detail (%s)", out);
    static const struct {
        const char *type, *words;
    } w[] = {
        {"rateLimited", "rate limit"},       {"badNonce", "nonce"}, {"caa", "CAA"},
        {"connection", "could not connect"}, {"dns", "DNS"},        {"unauthorized", "challenge"}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        char d[256];
        snprintf(d, sizeof d, "{\"type\":\"urn:ietf:params:acme:error:%s\",\"detail\":\"why\"}",
                 w[i].type);
        check(acme_problem_parse(d, strlen(d), &p) == 0 &&
                  strstr(acme_problem_words(&p), w[i].words),
              "problem: %s in plain words", w[i].type);
    }
    check(acme_problem_parse("[1]", 3, &p) < 0 && acme_problem_parse("{", 1, &p) < 0 &&
              acme_problem_parse("{\"type\":1}", 10, &p) < 0,
          "problem: not an object, truncated, or without type and detail: refused");
    const char *dup = "{\"type\":\"a\",\"type\":\"b\"}";
    check(acme_problem_parse(dup, strlen(dup), &p) < 0, "problem: duplicate members refused");
}

static void test_directory_retry(void)
{
    const char *d = "{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/acct\",\"newOrder\":"
                    "\"https://a/o\",\"revokeCert\":\"https://a/r\",\"meta\":{\"termsOfService\":"
                    "\"https://a/tos\"}}";
    struct acme_directory dir;
    check(acme_directory_parse(d, strlen(d), &dir) == 0 && !strcmp(dir.new_order, "https://a/o") &&
              !strcmp(dir.terms, "https://a/tos"),
          "directory: URLs and terms");
    check(acme_directory_parse("{\"newNonce\":\"x\"}", 16, &dir) < 0,
          "directory: incomplete refused");
    check(acme_retry_after("5", 1, 60) == 5 && acme_retry_after("0", 1, 60) == 1 &&
              acme_retry_after("100000", 1, 60) == 60 && acme_retry_after("soon", 3, 60) == 3 &&
              acme_retry_after(NULL, 2, 60) == 2 &&
              acme_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 2, 60) == 1,
          "retry-after: seconds, clamped, HTTP-date in the past, garbage");
}

static void test_csr_alpn(void)
{
    char err[256], names[512];
    for (int rsa = 0; rsa < 2; rsa++) {
        moat_pkey *k;
        if (crypto_pkey_generate(rsa ? MOAT_KEY_RSA2048 : MOAT_KEY_EC_P256, &k, err, sizeof err)) {
            check(0, "csr key");
            return;
        }
        const char *n[] = {"a.test", "b.test", "*.c.test"};
        uint8_t *der = NULL;
        size_t len = 0;
        int sig_ok = 0;
        check(crypto_jose_csr(k, n, 3, &der, &len, err, sizeof err) == 0 &&
                  crypto_jose_csr_names(der, len, names, sizeof names, &sig_ok) == 0 && sig_ok &&
                  !strcmp(names, "a.test,b.test,*.c.test"),
              "csr %s: the names as SAN dNSNames, signature verifies (%s)",
              rsa ? "rsa2048" : "p256", names);
        free(der);
        crypto_pkey_free(k);
    }
    uint8_t digest[32], got[32];
    const char *ka = "token.thumb";
    crypto_hash(MOAT_HASH_SHA256, ka, strlen(ka), digest);
    char *cert = NULL, *key = NULL;
    size_t cl, kl;
    int crit = 0;
    check(crypto_jose_alpn_cert("a.test", digest, &cert, &cl, &key, &kl, err, sizeof err) == 0 &&
              crypto_jose_alpn_digest(cert, cl, got, &crit) == 0 && crit &&
              !memcmp(got, digest, 32),
          "acmeIdentifier: critical, OCTET STRING (04 20) of SHA-256(key authorization) (RFC 8737 "
          "3)");
    moat_tls_config *cfg = moat_tls_config_new();
    check(cfg && key && moat_tls_config_add_cert_pem(cfg, cert, cl, key, kl, err, sizeof err) == 0,
          "acmeIdentifier: the engine takes the certificate and its key");
    moat_tls_config_free(cfg);
    if (key) memset(key, 0, kl);
    free(key);
    free(cert);
}

/* One plain HTTP/1.1 request to 127.0.0.1:port; the answer into out. */
static void http_get(int port, const char *path, char *out, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    out[0] = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        char req[512];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", path);
        if (write(fd, req, (size_t)n) == n) {
            size_t len = 0;
            ssize_t r;
            while (len < cap - 1 && (r = read(fd, out + len, cap - 1 - len)) > 0)
                len += (size_t)r;
            out[len] = 0;
        }
    }
    close(fd);
}

/* The http-01 responder answers its tokens' path with the key
 * authorization and anything else with 404 (RFC 8555 8.3). */
static void test_http01_responder(void)
{
    struct acme_token t = {.name = "a.test", .token = "tok_-1"};
    t.keyauth = acme_key_authorization(t.token, "THUMB");
    struct acme_responder r;
    char err[256], out[2048];
    int port = 0;
    for (int i = 0; i < 20 && !port; i++) {
        int p = 20000 + (int)(getpid() * 7 + i * 131) % 20000;
        if (acme_responder_start(&r, ACME_HTTP01, "127.0.0.1", p, &t, 1, err, sizeof err) == 0)
            port = p;
    }
    check(port != 0, "http-01 responder listens on 127.0.0.1 (%s)", port ? "ok" : err);
    if (port) {
        http_get(port, "/.well-known/acme-challenge/tok_-1", out, sizeof out);
        check(strstr(out, "HTTP/1.1 200") && strstr(out, "\r\n\r\ntok_-1.THUMB"),
              "http-01 responder: the token's path gives the key authorization");
        http_get(port, "/.well-known/acme-challenge/other", out, sizeof out);
        check(strstr(out, "HTTP/1.1 404") != NULL, "http-01 responder: another token gives 404");
        http_get(port, "/", out, sizeof out);
        check(strstr(out, "HTTP/1.1 404") != NULL, "http-01 responder: another path gives 404");
        acme_responder_stop(&r);
        http_get(port, "/.well-known/acme-challenge/tok_-1", out, sizeof out);
        check(out[0] == 0, "http-01 responder: stopped, nothing answers");
    }
    free(t.keyauth);
}

/* A process killed with SIGKILL while its responder runs takes the
 * responder with it (PR_SET_PDEATHSIG): the port stops answering. */
static void test_responder_dies_with_parent(void)
{
    struct acme_token t = {.name = "a.test", .token = "tok"};
    t.keyauth = acme_key_authorization(t.token, "THUMB");
    int port = 20000 + (int)(getpid() * 13) % 20000, ready[2];
    if (pipe(ready) < 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        struct acme_responder r;
        char err[256];
        char ok = acme_responder_start(&r, ACME_HTTP01, "127.0.0.1", port, &t, 1, err, sizeof err)
                      ? 'n'
                      : 'y';
        if (write(ready[1], &ok, 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char ok = 'n', out[2048];
    if (read(ready[0], &ok, 1) != 1) ok = 'n';
    http_get(port, "/.well-known/acme-challenge/tok", out, sizeof out);
    int answered = strstr(out, "200") != NULL;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int gone = 0;
    for (int i = 0; i < 50 && !gone; i++) {
        http_get(port, "/.well-known/acme-challenge/tok", out, sizeof out);
        gone = out[0] == 0;
        if (!gone) usleep(100000);
    }
    check(ok == 'y' && answered && gone, "http-01 responder: gone once its parent is SIGKILLed");
    close(ready[0]);
    close(ready[1]);
    free(t.keyauth);
}

/* RFC 9773: the certificate identifier (its example in 4.1), the
 * renewal window (4.2's example), the directory's renewalInfo, and the
 * parts read from a certificate. */
static void test_ari(void)
{
    const uint8_t aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                           0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    const uint8_t serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
    char *id = acme_ari_cert_id(aki, sizeof aki, serial, sizeof serial);
    check(id && !strcmp(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"),
          "ari: the certificate identifier of RFC 9773 4.1 (%s)", id ? id : "none");
    free(id);
    const char *doc = "{\n  \"suggestedWindow\": {\n    \"start\": \"2025-01-02T04:00:00Z\",\n"
                      "    \"end\": \"2025-01-03T04:00:00Z\"\n  },\n  \"explanationURL\": "
                      "\"https://acme.example.com/docs/ari\"\n}";
    int64_t a = 0, b = 0;
    int pr = acme_renewal_info_parse(doc, strlen(doc), &a, &b);
    check(pr == 0 && a == 1735790400 && b == 1735876800,
          "ari: RFC 9773 4.2's window (%lld to %lld)", (long long)a, (long long)b);
    const char *frac = "{\"suggestedWindow\":{\"start\":\"2025-01-02T05:30:00.123+01:30\","
                       "\"end\":\"2025-01-02t04:00:01z\"}}";
    check(acme_renewal_info_parse(frac, strlen(frac), &a, &b) == 0 && a == 1735790400 &&
              b == 1735790401,
          "ari: fractions, offsets and lower-case T and Z (RFC 3339 5.6)");
    const char *bad[] = {
        "{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}"
        "}",
        "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}",
        "{\"suggestedWindow\":{\"start\":\"2025-01-02 "
        "04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"}}",
        "{\"suggestedWindow\":{\"start\":\"2025-13-02T04:00:00Z\",\"end\":\"2026-01-03T04:00:00Z\"}"
        "}",
        "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00\",\"end\":\"2025-01-03T04:00:00Z\"}"
        "}",
        "{\"suggestedWindow\":\"soon\"}",
        "[]",
    };
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        refused += acme_renewal_info_parse(bad[i], strlen(bad[i]), &a, &b) < 0;
    check(refused == (int)(sizeof bad / sizeof *bad),
          "ari: end before start, no end, a space for T, month 13, no offset, not an object: "
          "refused (%d of %zu)",
          refused, sizeof bad / sizeof *bad);
    const char *d = "{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/acct\",\"newOrder\":"
                    "\"https://a/o\",\"renewalInfo\":\"https://a/renewal-info\"}";
    struct acme_directory dir;
    check(acme_directory_parse(d, strlen(d), &dir) == 0 &&
              !strcmp(dir.renewal_info, "https://a/renewal-info"),
          "ari: the directory's renewalInfo");
    /* A certificate of the local CA's kind: its AKI is the root's key
     * identifier (20 bytes), its serial's content octets the hex serial. */
    char err[256];
    moat_pkey *rk = NULL, *lk = NULL;
    moat_cert *root = NULL, *leaf = NULL;
    struct moat_root_params rp = {
        .common_name = "ari root", .not_before = 0, .not_after = 2000000000};
    const char *names[] = {"a.test"};
    struct moat_issue_params ip = {
        .names = names, .n_names = 1, .not_before = 0, .not_after = 2000000000};
    char *pem = NULL;
    size_t pl = 0, al = 0, sl = 0;
    uint8_t ga[64], gs[32];
    char hex[80] = "", mine[80] = "";
    int ok =
        crypto_pkey_generate(MOAT_KEY_EC_P256, &rk, err, sizeof err) == 0 &&
        crypto_pkey_generate(MOAT_KEY_EC_P256, &lk, err, sizeof err) == 0 &&
        crypto_x509_make_root(rk, &rp, &root, err, sizeof err) == 0 &&
        crypto_x509_issue(root, rk, lk, &ip, &leaf, err, sizeof err) == 0 &&
        crypto_certs_to_pem((const moat_cert *const *)&leaf, 1, &pem, &pl, err, sizeof err) == 0 &&
        crypto_jose_ari_parts(pem, pl, ga, &al, gs, &sl) == 0 &&
        crypto_cert_serial_hex(leaf, hex, sizeof hex) == 0;
    size_t skip = 0;
    while (ok && skip < sl - 1 && gs[skip] == 0)
        skip++;
    for (size_t i = skip; ok && i < sl; i++)
        snprintf(mine + strlen(mine), sizeof mine - strlen(mine), "%02x", gs[i]);
    const char *h = hex;
    while (*h == '0' && h[1])
        h++;
    const char *m = mine;
    while (*m == '0' && m[1])
        m++;
    /* DER: a leading zero octet only before one with its top bit set. */
    check(ok && al == 20 && !strcmp(h, m) && (gs[0] != 0 || (sl > 1 && (gs[1] & 0x80))),
          "ari: a certificate's AKI key identifier (%zu bytes) and serial (%s, DER %s)", al, hex,
          mine);
    free(pem);
    crypto_cert_free(leaf);
    crypto_cert_free(root);
    crypto_pkey_free(lk);
    crypto_pkey_free(rk);
}

/* moat serve --acme's retries: doubling from the base up to a day, and
 * a rateLimited answer's Retry-After honoured (RFC 8555 6.6). */
static void test_backoff(void)
{
    const char *rl = "urn:ietf:params:acme:error:rateLimited";
    const char *conn = "urn:ietf:params:acme:error:connection";
    check(acme_serve_backoff(1, "", 0, 60) == 60 && acme_serve_backoff(2, conn, 0, 60) == 120 &&
              acme_serve_backoff(4, conn, 0, 60) == 480 &&
              acme_serve_backoff(40, "", 0, 60) == 86400,
          "backoff: 60 s, doubling, at most a day");
    check(acme_serve_backoff(1, rl, 3600, 60) == 3600 &&
              acme_serve_backoff(1, conn, 3600, 60) == 60 &&
              acme_serve_backoff(8, rl, 30, 60) == 7680,
          "backoff: rateLimited waits its Retry-After (3600 s), other problems do not");
}

/* The ClientHello that server/acme.c looks at: moat get's own, with
 * ALPN acme-tls/1 and SNI, then without, then cut short. */
static void test_alpn_peek(void)
{
    static const char *const protos[2][1] = {{"acme-tls/1"}, {"http/1.1"}};
    for (int k = 0; k < 2; k++) {
        moat_tls_config *cfg = moat_tls_config_new();
        moat_tls_config_set_alpn(cfg, protos[k], 1);
        moat_tls_config_set_verify(cfg, 0);
        moat_tls *t = moat_tls_client_new(cfg, "A.Test");
        moat_buf out;
        moat_buf_init(&out);
        char name[256] = "";
        int r = t && moat_tls_start(t, &out) == 0 ? 0 : -1;
        int got = r == 0 ? server_acme_alpn_name(out.base, out.len, name, sizeof name) : -1;
        if (k == 0) {
            check(got == 1 && !strcmp(name, "a.test"),
                  "tls-alpn-01 peek: acme-tls/1 offered for a.test (lowercased: %s)", name);
            int cut = 0;
            for (size_t n = 0; n < out.len; n += 7)
                cut += server_acme_alpn_name(out.base, n, name, sizeof name);
            check(cut == 0, "tls-alpn-01 peek: every truncation of the ClientHello refused");
        } else {
            check(got == 0, "tls-alpn-01 peek: a ClientHello without acme-tls/1 is not one");
        }
        moat_buf_free(&out);
        moat_tls_free(t);
        moat_tls_config_free(cfg);
    }
}

int main(void)
{
    if (crypto_init() < 0) return 1;
    test_b64url();
    test_thumbprint();
    test_jws();
    test_problem();
    test_directory_retry();
    test_csr_alpn();
    test_ari();
    test_alpn_peek();
    test_backoff();
    test_http01_responder();
    test_responder_dies_with_parent();
    return failures ? 1 : 0;
}
