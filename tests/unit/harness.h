/* Test helpers shared by the engine's unit tests: check lines, test
 * certificates made with the openssl command, in-memory connections. */
#ifndef MOAT_TEST_HARNESS_H
#define MOAT_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moat/tls.h"
#include "moat/tlsfile.h"

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
    char cmd[6144];
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
        "ossl req -x509 -newkey ed25519 -nodes -keyout edca.key -out edca.pem -days 3650 "
        "-subj '/CN=moat ed25519 CA' -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign\n"
        "leaf p256ed edca leaf.ext -algorithm EC -pkeyopt ec_paramgen_curve:P-256\n"
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

/* Drives a handshake already started (to_s holds the client's first
 * bytes) to its end, as pair_handshake does. */
static int pair_pump(pair_t *p, moat_buf *to_s, moat_buf *to_c, size_t step)
{
    for (int round = 0; round < 10 && !p->cerr && !p->serr; round++) {
        if (to_s->len) p->serr = deliver(p->s, to_s, step, to_c, &p->s_app);
        if (to_c->len) p->cerr = deliver(p->c, to_c, step, to_s, &p->c_app);
        if (moat_tls_handshake_done(p->c) && moat_tls_handshake_done(p->s) && !to_s->len &&
            !to_c->len)
            break;
    }
    if (p->serr && !p->cerr && to_c->len) p->cerr = deliver(p->c, to_c, step, to_s, &p->c_app);
    if (p->cerr && !p->serr && to_s->len) p->serr = deliver(p->s, to_s, step, to_c, &p->s_app);
    if (p->cerr) return p->cerr;
    if (p->serr) return p->serr;
    return moat_tls_handshake_done(p->c) && moat_tls_handshake_done(p->s) ? 0 : -999;
}

#ifdef HARNESS_WIRE
/* Wire surgery for tests that need what our own client never sends: a
 * ClientHello taken apart and put back together, a server flight opened,
 * edited and sealed again. Needs the engine's internals. */
#include "tls/internal.h"

typedef struct {
    uint16_t type;
    uint8_t body[4096]; /* a key_share with a hybrid share is 1,276 bytes */
    size_t len;
} t_ext;
typedef struct {
    uint8_t random[32], sid[32];
    size_t sidlen;
    uint16_t suites[40];
    size_t nsuites;
    t_ext ext[40];
    size_t next;
    const uint8_t *raw; /* whole extensions written in front of ext[], as they are */
    size_t rawlen;
} t_ch;

/* A ClientHello handshake message (type and length first) taken apart. */
static int ch_parse(const uint8_t *msg, size_t len, t_ch *ch)
{
    memset(ch, 0, sizeof *ch);
    rd_t r = rd_init(msg + 4, len - 4);
    rd_uint(&r, 2); /* legacy_version */
    const uint8_t *rnd;
    rd_take(&r, 32, &rnd);
    rd_t sid = rd_vec(&r, 1), suites = rd_vec(&r, 2), comp = rd_vec(&r, 1), exts = rd_vec(&r, 2);
    if (r.err || !rnd || sid.n > 32) return -1;
    (void)comp;
    memcpy(ch->random, rnd, 32);
    memcpy(ch->sid, sid.p, sid.n);
    ch->sidlen = sid.n;
    while (suites.n && ch->nsuites < 40)
        ch->suites[ch->nsuites++] = rd_u16(&suites);
    while (exts.n && ch->next < 40) {
        t_ext *e = &ch->ext[ch->next++];
        e->type = rd_u16(&exts);
        rd_t b = rd_vec(&exts, 2);
        if (exts.err || b.n > sizeof e->body) return -1;
        memcpy(e->body, b.p, b.n);
        e->len = b.n;
    }
    return 0;
}

static t_ext *ch_ext(t_ch *ch, uint16_t type)
{
    for (size_t i = 0; i < ch->next; i++)
        if (ch->ext[i].type == type) return &ch->ext[i];
    return NULL;
}

/* Adds an extension in front of all others (pre_shared_key stays last). */
static void ch_add_ext(t_ch *ch, uint16_t type, const void *body, size_t len)
{
    memmove(&ch->ext[1], &ch->ext[0], ch->next * sizeof ch->ext[0]);
    ch->next++;
    ch->ext[0].type = type;
    memcpy(ch->ext[0].body, body, len);
    ch->ext[0].len = len;
}

/* Inserts n bytes at `at` in an extension's body and adds n to the
 * length field of `lenbytes` bytes at `lenpos` (-1: none). */
static void ext_insert(t_ext *e, size_t lenpos, size_t lenbytes, size_t at, const void *p, size_t n)
{
    memmove(e->body + at + n, e->body + at, e->len - at);
    memcpy(e->body + at, p, n);
    e->len += n;
    if (lenpos == (size_t)-1) return;
    size_t v = 0;
    for (size_t i = 0; i < lenbytes; i++)
        v = v << 8 | e->body[lenpos + i];
    v += n;
    for (size_t i = 0; i < lenbytes; i++)
        e->body[lenpos + i] = (uint8_t)(v >> (8 * (lenbytes - 1 - i)));
}

static void ch_del_ext(t_ch *ch, uint16_t type)
{
    for (size_t i = 0; i < ch->next; i++)
        if (ch->ext[i].type == type) {
            memmove(&ch->ext[i], &ch->ext[i + 1], (ch->next - i - 1) * sizeof ch->ext[0]);
            ch->next--;
            return;
        }
}

static void ch_write(const t_ch *ch, moat_buf *m)
{
    moat_buf_clear(m);
    wr_t w = wr_init(m);
    wr_u8(&w, HS_CLIENT_HELLO);
    wr_open(&w, 3);
    wr_u16(&w, 0x0303);
    wr_bytes(&w, ch->random, 32);
    wr_u8(&w, (uint32_t)ch->sidlen);
    wr_bytes(&w, ch->sid, ch->sidlen);
    wr_u16(&w, (uint32_t)(2 * ch->nsuites));
    for (size_t i = 0; i < ch->nsuites; i++)
        wr_u16(&w, ch->suites[i]);
    wr_u8(&w, 1);
    wr_u8(&w, 0);
    wr_open(&w, 2);
    if (ch->rawlen) wr_bytes(&w, ch->raw, ch->rawlen);
    for (size_t i = 0; i < ch->next; i++) {
        wr_u16(&w, ch->ext[i].type);
        wr_u16(&w, (uint32_t)ch->ext[i].len);
        wr_bytes(&w, ch->ext[i].body, ch->ext[i].len);
    }
    wr_close(&w);
    wr_close(&w);
}

/* The client's first ClientHello (the only record in to_s) becomes msg:
 * in the client's transcript too, and with its binder made right again
 * when it offers a ticket. */
static void client_set_ch(moat_tls *c, moat_buf *to_s, moat_buf *msg)
{
    tls_session *psk = c->hs->psk;
    if (psk) {
        int h = crypto_suite_hash(psk->suite);
        size_t hl = crypto_hash_len(h);
        uint8_t th[MOAT_HASH_MAX];
        crypto_hash(h, msg->base, msg->len - 3 - hl, th);
        tls_psk_binder(h, psk->psk, th, msg->base + msg->len - hl);
    }
    moat_buf_clear(&c->hs->ch);
    moat_buf_append(&c->hs->ch, msg->base, msg->len);
    moat_buf_clear(to_s);
    /* In as many records as it needs (5.1: at most 2^14 bytes each). */
    for (size_t off = 0; off < msg->len;) {
        size_t n = msg->len - off > TLS_MAX_PLAIN ? TLS_MAX_PLAIN : msg->len - off;
        uint8_t hdr[5] = {CT_HANDSHAKE, 3, 1, (uint8_t)(n >> 8), (uint8_t)n};
        moat_buf_append(to_s, hdr, 5);
        moat_buf_append(to_s, msg->base + off, n);
        off += n;
    }
}

/* Starts a handshake whose first ClientHello `edit` rewrites. */
static void pair_begin_edit(pair_t *p, const moat_tls_config *cc, const moat_tls_config *sc,
                            const char *name, const moat_buf *sess, void (*edit)(t_ch *, void *),
                            void *arg, moat_buf *to_s)
{
    memset(p, 0, sizeof *p);
    p->c = moat_tls_client_new(cc, name);
    p->s = moat_tls_server_new(sc);
    moat_buf_init(to_s);
    if (sess) moat_tls_set_session(p->c, sess->base, sess->len);
    p->cerr = moat_tls_start(p->c, to_s);
    if (edit) {
        t_ch ch;
        moat_buf m;
        moat_buf_init(&m);
        ch_parse(to_s->base + 5, to_s->len - 5, &ch);
        edit(&ch, arg);
        ch_write(&ch, &m);
        client_set_ch(p->c, to_s, &m);
        moat_buf_free(&m);
    }
}

/* The handshake messages of a server flight (SH, CCS, then records under
 * the server's handshake key) opened; `edit` changes them, and they are
 * sealed again in as many records as they need. */
static void flight_edit(moat_tls *s, moat_buf *to_c, void (*edit)(moat_buf *hs, void *), void *arg)
{
    tls_dir rd, wr;
    memset(&rd, 0, sizeof rd);
    memset(&wr, 0, sizeof wr);
    rl_set_secret(&rd, s->suite, 0, s->hs->s_hs);
    rl_set_secret(&wr, s->suite, 1, s->hs->s_hs);
    moat_buf out, hs;
    moat_buf_init(&out);
    moat_buf_init(&hs);
    for (size_t off = 0; off + 5 <= to_c->len;) {
        const uint8_t *rec = to_c->base + off;
        size_t n = (size_t)rec[3] << 8 | rec[4];
        if (rec[0] != CT_APPDATA) {
            moat_buf_append(&out, rec, 5 + n);
        } else {
            uint8_t plain[TLS_MAX_CIPHER], type;
            size_t len;
            if (!rl_open(&rd, rec, rec + 5, n, plain, &type, &len))
                moat_buf_append(&hs, plain, len);
        }
        off += 5 + n;
    }
    edit(&hs, arg);
    for (size_t off = 0; off < hs.len;) {
        size_t n = hs.len - off > TLS_MAX_PLAIN ? TLS_MAX_PLAIN : hs.len - off;
        rl_seal(&wr, CT_HANDSHAKE, hs.base + off, n, &out);
        off += n;
    }
    moat_buf_clear(to_c);
    moat_buf_append(to_c, out.base, out.len);
    moat_buf_free(&out);
    moat_buf_free(&hs);
    rl_clear(&rd);
    rl_clear(&wr);
}

/* Where the first handshake message of a type starts in a stream of them. */
static size_t hs_find(const moat_buf *hs, uint8_t type)
{
    for (size_t off = 0; off + 4 <= hs->len;) {
        if (hs->base[off] == type) return off;
        off += 4 + ((size_t)hs->base[off + 1] << 16 | (size_t)hs->base[off + 2] << 8 |
                    hs->base[off + 3]);
    }
    return (size_t)-1;
}

/* Inserts bytes into a handshake message (starting at `msg` in hs) at
 * `at`, fixing the message's length and the 2-byte vector length at `vec`
 * ((size_t)-1: none). */
static void hs_insert(moat_buf *hs, size_t msg, size_t vec, size_t at, const void *p, size_t n)
{
    moat_buf_reserve(hs, n);
    memmove(hs->base + at + n, hs->base + at, hs->len - at);
    memcpy(hs->base + at, p, n);
    hs->len += n;
    size_t ml =
        ((size_t)hs->base[msg + 1] << 16 | (size_t)hs->base[msg + 2] << 8 | hs->base[msg + 3]) + n;
    hs->base[msg + 1] = (uint8_t)(ml >> 16);
    hs->base[msg + 2] = (uint8_t)(ml >> 8);
    hs->base[msg + 3] = (uint8_t)ml;
    if (vec == (size_t)-1) return;
    size_t vl = ((size_t)hs->base[vec] << 8 | hs->base[vec + 1]) + n;
    hs->base[vec] = (uint8_t)(vl >> 8);
    hs->base[vec + 1] = (uint8_t)vl;
}
#endif

#endif
