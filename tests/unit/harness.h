/* Test helpers shared by the engine's unit tests: check lines, test
 * certificates made with the openssl command, in-memory connections. */
#ifndef MOAT_TEST_HARNESS_H
#define MOAT_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moat/tls.h"

/* Each test program uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

static int failures;

static void check(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", cond ? "ok" : "not ok");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond) failures++;
}

static char certdir[256];

/* Makes a test CA and leaves of every key type in a fresh directory. */
static int make_certs(void)
{
    snprintf(certdir, sizeof certdir, "/tmp/moat-unit-XXXXXX");
    if (!mkdtemp(certdir)) return -1;
    char cmd[4096];
    snprintf(
        cmd, sizeof cmd,
        "set -e; cd %s; exec >gen.log 2>&1\n"
        "ossl() { openssl \"$@\"; }\n"
        "ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.pem -days 3650 -subj '/CN=moat test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
        "ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key "
        "-out other.pem -days 3650 -subj '/CN=other CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n"
        "basicConstraints=CA:FALSE\\n' > leaf.ext\n"
        "printf "
        "'subjectAltName=DNS:example.test,DNS:*.example.test\\nextendedKeyUsage=serverAuth\\n' > "
        "ex.ext\n"
        "leaf() { name=$1; ca=$2; ext=$3; shift 3; ossl genpkey \"$@\" -out $name.key;\n"
        "  ossl req -new -key $name.key -subj /CN=$name -out $name.csr;\n"
        "  ossl x509 -req -in $name.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -days 90 "
        "-extfile $ext -out $name.pem; }\n"
        "leaf p256 ca leaf.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
        "leaf p384 ca leaf.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-384\n"
        "leaf rsa ca leaf.ext -algorithm RSA -pkeyopt rsa_keygen_bits:2048\n"
        "leaf ed25519 ca leaf.ext -algorithm ED25519\n"
        "leaf example ca ex.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
        "leaf untrusted other leaf.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
        "leaf alice ca client.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
        "leaf mallory other client.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
        "mkdir crl; touch crl/index.txt; echo 01 > crl/crlnumber\n"
        "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=crl/index.txt\\ncrlnumber=crl/crlnumber\\n"
        "default_md=sha256\\ndefault_crl_days=30\\n' > crl.cnf\n"
        "ossl ca -config crl.cnf -keyfile ca.key -cert ca.pem -revoke rsa.pem\n"
        "ossl ca -config crl.cnf -keyfile ca.key -cert ca.pem -gencrl -out ca.crl\n"
        "ossl ca -config crl.cnf -keyfile ca.key -cert ca.pem -valid p256.pem\n"
        "for l in p256 rsa; do ossl ocsp -index crl/index.txt -rsigner ca.pem -rkey ca.key "
        "-CA ca.pem -issuer ca.pem -cert $l.pem -respout $l.ocsp -ndays 1; done\n"
        "ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self.key "
        "-out self.pem -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost\n",
        certdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void remove_certs(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", certdir);
    if (certdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", certdir);
}

static const char *cpath(const char *name, const char *ext)
{
    static char buf[4][400];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s.%s", certdir, name, ext);
    return buf[i];
}

static moat_tls_config *server_config(const char *name)
{
    moat_tls_config *c = moat_tls_config_new();
    char err[256];
    if (c &&
        moat_tls_config_add_cert_file(c, cpath(name, "pem"), cpath(name, "key"), err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        moat_tls_config_free(c);
        return NULL;
    }
    return c;
}

static moat_tls_config *client_config(const char *ca)
{
    moat_tls_config *c = moat_tls_config_new();
    char err[256];
    if (c && moat_tls_config_set_ca_file(c, cpath(ca, "pem"), err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        moat_tls_config_free(c);
        return NULL;
    }
    return c;
}

/* Two engines wired back to back. */
typedef struct {
    moat_tls *c, *s;
    moat_buf c_app, s_app;
    int cerr, serr; /* the last error of each side */
} pair_t;

static void pair_free(pair_t *p)
{
    moat_tls_free(p->c);
    moat_tls_free(p->s);
    moat_buf_free(&p->c_app);
    moat_buf_free(&p->s_app);
}

/* Delivers `bytes` to one side in pieces of at most `step` bytes. */
static int deliver(moat_tls *to, moat_buf *bytes, size_t step, moat_buf *reply, moat_buf *app)
{
    int r = 0;
    for (size_t off = 0; off < bytes->len && !r;) {
        size_t n = bytes->len - off < step ? bytes->len - off : step;
        r = moat_tls_recv(to, bytes->base + off, n, reply, app);
        off += n;
    }
    bytes->len = 0;
    return r;
}

/* Runs the handshake to the end or the first error; step is the largest
 * piece delivered at once (1 = byte at a time). */
static int pair_handshake(pair_t *p, const moat_tls_config *cc, const moat_tls_config *sc,
                          const char *name, size_t step)
{
    memset(p, 0, sizeof *p);
    p->c = moat_tls_client_new(cc, name);
    p->s = moat_tls_server_new(sc);
    if (!p->c || !p->s) return -1000;
    moat_buf to_s, to_c;
    moat_buf_init(&to_s);
    moat_buf_init(&to_c);
    p->cerr = moat_tls_start(p->c, &to_s);
    for (int round = 0; round < 10 && !p->cerr && !p->serr; round++) {
        if (to_s.len) p->serr = deliver(p->s, &to_s, step, &to_c, &p->s_app);
        if (to_c.len) p->cerr = deliver(p->c, &to_c, step, &to_s, &p->c_app);
        if (moat_tls_handshake_done(p->c) && moat_tls_handshake_done(p->s) && !to_s.len &&
            !to_c.len)
            break;
    }
    /* Whatever is still in flight (an alert, say) reaches the peer. */
    if (p->serr && to_c.len) p->cerr = deliver(p->c, &to_c, step, &to_s, &p->c_app);
    if (p->cerr && to_s.len) p->serr = deliver(p->s, &to_s, step, &to_c, &p->s_app);
    moat_buf_free(&to_s);
    moat_buf_free(&to_c);
    if (p->cerr) return p->cerr;
    if (p->serr) return p->serr;
    return moat_tls_handshake_done(p->c) && moat_tls_handshake_done(p->s) ? 0 : -999;
}

/* Sends data from one side and returns what the other received. */
static int pair_send(moat_tls *from, moat_tls *to, const void *data, size_t len, moat_buf *app,
                     size_t step)
{
    moat_buf wire, back, junk;
    moat_buf_init(&wire);
    moat_buf_init(&back);
    moat_buf_init(&junk);
    int r = moat_tls_send(from, &wire, data, len);
    if (!r) r = deliver(to, &wire, step, &back, app);
    if (!r && back.len) /* a KeyUpdate answer */
        r = deliver(from, &back, 1 << 20, &wire, &junk);
    moat_buf_free(&junk);
    moat_buf_free(&wire);
    moat_buf_free(&back);
    return r;
}

#endif
