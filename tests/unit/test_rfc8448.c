/* Known answers: the RFC 8448 example handshakes (../shared/rfc) replayed
 * through moat's key schedule and record layer, every secret, key, IV and
 * record compared; and the RFC 8439 ChaCha20-Poly1305 AEAD vector. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tls/internal.h"

static char *trace;

static int load_trace(void)
{
    const char *paths[] = {"../shared/rfc/tls13-example-traces.txt",
                           "../../shared/rfc/tls13-example-traces.txt", getenv("MOAT_TRACES")};
    for (size_t i = 0; i < 3; i++) {
        FILE *f = paths[i] ? fopen(paths[i], "rb") : NULL;
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        trace = calloc(1, (size_t)n + 1);
        if (trace && fread(trace, 1, (size_t)n, f) != (size_t)n) {
            free(trace);
            trace = NULL;
        }
        fclose(f);
        if (trace) return 0;
    }
    return -1;
}

/* A section of the trace: from its heading to the next one. */
typedef struct {
    const char *start, *end;
} section;

static section find_section(const char *heading, const char *next)
{
    section s = {NULL, NULL};
    /* Headings start a line; the table of contents indents them. */
    const char *p = strstr(trace, heading);
    const char *q = p ? strstr(p, next) : NULL;
    if (p && q) {
        s.start = p;
        s.end = q;
    }
    return s;
}

static const char *find_in(section s, const char *what, int nth, const char *from)
{
    const char *p = from ? from : s.start;
    for (int i = 0; i < nth; i++) {
        p = strstr(i ? p + 1 : p, what);
        if (!p || p >= s.end) return NULL;
    }
    return p;
}

/* Reads "FIELD (N octets):  xx xx ..." following the nth `anchor` in the
 * section, across line and page breaks. Returns N, or -1. */
static int get(section s, const char *anchor, int nth, const char *field, uint8_t *out, size_t cap)
{
    const char *a = find_in(s, anchor, nth, NULL);
    if (!a) return -1;
    char pat[100];
    snprintf(pat, sizeof pat, "\n      %s (", field);
    const char *f = strstr(a, pat);
    if (!f || f >= s.end) return -1;
    f += strlen(pat);
    int n = atoi(f);
    if (n < 0 || (size_t)n > cap) return -1;
    const char *p = strstr(f, "):");
    if (!p) return -1;
    p += 2;
    int got = 0;
    while (got < n && *p) {
        if (*p == '\n') {
            p++;
            /* Page breaks: footer and header lines and form feeds. */
            if (!strncmp(p, "Thomson", 7) || !strncmp(p, "Internet-Draft", 14) || *p == '\f') {
                p = strchr(p, '\n');
                if (!p) return -1;
            }
            continue;
        }
        if (isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1]) &&
            !isalnum((unsigned char)p[2])) {
            unsigned v;
            sscanf(p, "%2x", &v);
            out[got++] = (uint8_t)v;
            p += 2;
        } else if (*p == ' ' || *p == '\f') {
            p++;
        } else {
            return -1;
        }
    }
    return got == n ? n : -1;
}

#define GETN(sec, anchor, nth, field, buf)                                                         \
    int buf##_n = get(sec, anchor, nth, field, buf, sizeof buf);                                   \
    check(buf##_n > 0, "trace has %s / %s", anchor, field)
#define GET(sec, anchor, nth, field, buf)                                                          \
    check(get(sec, anchor, nth, field, buf, sizeof buf) > 0, "trace has %s / %s", anchor, field)

static void same(const uint8_t *a, const uint8_t *b, size_t n, const char *what, const char *sec)
{
    check(n > 0 && !memcmp(a, b, n), "%s: %s", sec, what);
}

/* The secrets of one trace: the transcript messages, in order, and what
 * the key schedule must produce from them. */
static void replay(section s, const char *name, int hrr)
{
    const int h = MOAT_HASH_SHA256; /* both traces use TLS_AES_128_GCM_SHA256 */
    uint8_t ch1[1024], sh1[1024], ch[1024], sh[256], ee[256], cert[2048], cv[512], sfin[64],
        cfin[64];
    /* In the HRR trace the first ServerHello is the HelloRetryRequest. */
    int n2 = hrr ? 2 : 1;
    GETN(s, "{client}  construct a ClientHello", n2, "ClientHello", ch);
    GETN(s, "{server}  construct a ServerHello", n2, "ServerHello", sh);
    GETN(s, "{server}  construct a EncryptedExtensions", 1, "EncryptedExtensions", ee);
    GETN(s, "{server}  construct a Certificate handshake", 1, "Certificate", cert);
    GETN(s, "{server}  construct a CertificateVerify", 1, "CertificateVerify", cv);
    GETN(s, "{server}  construct a Finished", 1, "Finished", sfin);
    GETN(s, "{client}  construct a Finished", 1, "Finished", cfin);
    moat_hash_ctx *tr = crypto_hash_new(h);
    if (hrr) {
        GETN(s, "{client}  construct a ClientHello", 1, "ClientHello", ch1);
        GETN(s, "{server}  construct a ServerHello", 1, "ServerHello", sh1);
        check(sh1_n > 38 && !memcmp(sh1 + 6, tls_hrr_random, 32),
              "%s: the first ServerHello carries the HelloRetryRequest random", name);
        /* 4.4.1: ClientHello1 is replaced by message_hash. */
        uint8_t mh[4 + 32] = {HS_MESSAGE_HASH, 0, 0, 32};
        crypto_hash(h, ch1, (size_t)ch1_n, mh + 4);
        crypto_hash_update(tr, mh, sizeof mh);
        crypto_hash_update(tr, sh1, (size_t)sh1_n);
    }
    crypto_hash_update(tr, ch, (size_t)ch_n);
    crypto_hash_update(tr, sh, (size_t)sh_n);
    uint8_t th[32], x[64], ikm[64], early[32], hs[32], c_hs[32], s_hs[32], master[32];
    crypto_hash_peek(tr, th);
    GET(s, "derive secret \"tls13 c hs traffic\"", 1, "hash", x);
    same(th, x, 32, "transcript hash ClientHello..ServerHello", name);

    GET(s, "extract secret \"early\"", 1, "secret", x);
    ks_early_secret(h, NULL, 0, early);
    same(early, x, 32, "early secret", name);
    GETN(s, "extract secret \"handshake\"", 1, "IKM", ikm);
    if (!hrr) {
        /* Our X25519 from the client's private key and the server's share. */
        uint8_t cpriv[32], spub[32], shared[48];
        size_t sl = 0;
        GET(s, "{client}  create an ephemeral x25519", 1, "private key", cpriv);
        GET(s, "{server}  create an ephemeral x25519", 1, "public key", spub);
        moat_kex *k = crypto_kex_from_private(MOAT_GROUP_X25519, cpriv, 32);
        check(k && !crypto_kex_derive(k, spub, 32, shared, &sl) && sl == 32 &&
                  !memcmp(shared, ikm, 32),
              "%s: X25519 shared secret", name);
        crypto_kex_free(k);
    }
    ks_next_stage(h, early, ikm, (size_t)ikm_n, hs);
    GET(s, "extract secret \"handshake\"", 1, "secret", x);
    same(hs, x, 32, "handshake secret", name);
    ks_derive_secret(h, hs, "c hs traffic", th, c_hs);
    GET(s, "derive secret \"tls13 c hs traffic\"", 1, "expanded", x);
    same(c_hs, x, 32, "client_handshake_traffic_secret", name);
    ks_derive_secret(h, hs, "s hs traffic", th, s_hs);
    GET(s, "derive secret \"tls13 s hs traffic\"", 1, "expanded", x);
    same(s_hs, x, 32, "server_handshake_traffic_secret", name);
    ks_next_stage(h, hs, NULL, 0, master);
    GET(s, "extract secret \"master\"", 1, "secret", x);
    same(master, x, 32, "master secret", name);

    /* Handshake traffic keys and IVs. */
    uint8_t key[16], iv[12];
    ks_expand_label(h, s_hs, "key", NULL, 0, key, 16);
    ks_expand_label(h, s_hs, "iv", NULL, 0, iv, 12);
    GET(s, "{server}  derive write traffic keys for handshake data", 1, "key expanded", x);
    same(key, x, 16, "server handshake key", name);
    GET(s, "{server}  derive write traffic keys for handshake data", 1, "iv expanded", x);
    same(iv, x, 12, "server handshake iv", name);
    ks_expand_label(h, c_hs, "key", NULL, 0, key, 16);
    ks_expand_label(h, c_hs, "iv", NULL, 0, iv, 12);
    GET(s, "{server}  derive read traffic keys for handshake data", 1, "key expanded", x);
    same(key, x, 16, "client handshake key", name);
    GET(s, "{server}  derive read traffic keys for handshake data", 1, "iv expanded", x);
    same(iv, x, 12, "client handshake iv", name);

    /* Server Finished over ClientHello..CertificateVerify. */
    crypto_hash_update(tr, ee, (size_t)ee_n);
    crypto_hash_update(tr, cert, (size_t)cert_n);
    crypto_hash_update(tr, cv, (size_t)cv_n);
    crypto_hash_peek(tr, th);
    ks_finished(h, s_hs, th, x);
    same(x, sfin + 4, 32, "server Finished verify_data", name);
    crypto_hash_update(tr, sfin, (size_t)sfin_n);
    crypto_hash_peek(tr, th);
    uint8_t c_ap[32], s_ap[32], exp[32], res[32];
    ks_derive_secret(h, master, "c ap traffic", th, c_ap);
    GET(s, "derive secret \"tls13 c ap traffic\"", 1, "expanded", x);
    same(c_ap, x, 32, "client_application_traffic_secret_0", name);
    ks_derive_secret(h, master, "s ap traffic", th, s_ap);
    GET(s, "derive secret \"tls13 s ap traffic\"", 1, "expanded", x);
    same(s_ap, x, 32, "server_application_traffic_secret_0", name);
    ks_derive_secret(h, master, "exp master", th, exp);
    GET(s, "derive secret \"tls13 exp master\"", 1, "expanded", x);
    same(exp, x, 32, "exporter_master_secret", name);
    ks_expand_label(h, s_ap, "key", NULL, 0, key, 16);
    ks_expand_label(h, s_ap, "iv", NULL, 0, iv, 12);
    GET(s, "{server}  derive write traffic keys for application data", 1, "key expanded", x);
    same(key, x, 16, "server application key", name);
    GET(s, "{server}  derive write traffic keys for application data", 1, "iv expanded", x);
    same(iv, x, 12, "server application iv", name);
    ks_finished(h, c_hs, th, x);
    same(x, cfin + 4, 32, "client Finished verify_data", name);
    crypto_hash_update(tr, cfin, (size_t)cfin_n);
    crypto_hash_peek(tr, th);
    ks_derive_secret(h, master, "res master", th, res);
    GET(s, "derive secret \"tls13 res master\"", 1, "expanded", x);
    same(res, x, 32, "resumption_master_secret", name);
    ks_expand_label(h, c_ap, "key", NULL, 0, key, 16);
    ks_expand_label(h, c_ap, "iv", NULL, 0, iv, 12);
    GET(s, "{client}  derive write traffic keys for application data", 1, "key expanded", x);
    same(key, x, 16, "client application key", name);
    GET(s, "{client}  derive write traffic keys for application data", 1, "iv expanded", x);
    same(iv, x, 12, "client application iv", name);
    crypto_hash_free(tr);

    /* Every protected record, sealed and opened by the record layer, in
     * the order each side sent them. */
    tls_dir sw, cw, sr, cr;
    memset(&sw, 0, sizeof sw);
    memset(&cw, 0, sizeof cw);
    memset(&sr, 0, sizeof sr);
    memset(&cr, 0, sizeof cr);
    rl_set_secret(&sw, MOAT_TLS_AES_128_GCM_SHA256, 1, s_hs);
    rl_set_secret(&sr, MOAT_TLS_AES_128_GCM_SHA256, 0, s_hs);
    rl_set_secret(&cw, MOAT_TLS_AES_128_GCM_SHA256, 1, c_hs);
    rl_set_secret(&cr, MOAT_TLS_AES_128_GCM_SHA256, 0, c_hs);
    static const struct {
        int server;
        const char *anchor;
        int nth;       /* 0: the client's Finished record */
        int app;       /* under application keys */
        int only_1rtt; /* the HelloRetryRequest trace has no such record */
        uint8_t type;
    } recs[] = {
        {1, "{server}  send handshake record", 2, 0, 0, CT_HANDSHAKE},
        {0, "{client}  send handshake record", 0, 0, 0, CT_HANDSHAKE},
        {1, "{server}  send handshake record", 3, 1, 1, CT_HANDSHAKE}, /* NewSessionTicket */
        {0, "{client}  send application_data record", 1, 1, 1, CT_APPDATA},
        {1, "{server}  send application_data record", 1, 1, 1, CT_APPDATA},
        {0, "{client}  send alert record", 1, 1, 0, CT_ALERT},
        {1, "{server}  send alert record", 1, 1, 0, CT_ALERT},
    };
    int switched[2] = {0, 0};
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        if (hrr && recs[i].only_1rtt) continue;
        int nth = recs[i].nth ? recs[i].nth : (hrr ? 3 : 2);
        if (hrr && recs[i].server && recs[i].type == CT_HANDSHAKE)
            nth++; /* the HelloRetryRequest record comes first */
        uint8_t payload[1024], record[1100];
        int pn = get(s, recs[i].anchor, nth, "payload", payload, sizeof payload);
        int rn = get(s, recs[i].anchor, nth, "complete record", record, sizeof record);
        if (pn < 0 || rn < 0) {
            check(0, "%s: trace has record %s #%d", name, recs[i].anchor, nth);
            continue;
        }
        tls_dir *w = recs[i].server ? &sw : &cw, *r = recs[i].server ? &sr : &cr;
        if (recs[i].app && !switched[recs[i].server]) {
            switched[recs[i].server] = 1;
            rl_set_secret(w, MOAT_TLS_AES_128_GCM_SHA256, 1, recs[i].server ? s_ap : c_ap);
            rl_set_secret(r, MOAT_TLS_AES_128_GCM_SHA256, 0, recs[i].server ? s_ap : c_ap);
        }
        moat_buf out;
        moat_buf_init(&out);
        rl_seal(w, recs[i].type, payload, (size_t)pn, &out);
        check(out.len == (size_t)rn && !memcmp(out.base, record, (size_t)rn),
              "%s: %s #%d sealed byte for byte (%d bytes)", name, recs[i].anchor, nth, rn);
        uint8_t plain[1100], type = 0;
        size_t plen = 0;
        int e = rl_open(r, record, record + 5, (size_t)rn - 5, plain, &type, &plen);
        check(!e && type == recs[i].type && plen == (size_t)pn && !memcmp(plain, payload, plen),
              "%s: %s #%d opened", name, recs[i].anchor, nth);
        moat_buf_free(&out);
    }
    rl_clear(&sw);
    rl_clear(&sr);
    rl_clear(&cw);
    rl_clear(&cr);
}

/* RFC 8439 2.8.2: the AEAD_CHACHA20_POLY1305 test vector. */
static void chacha_vector(void)
{
    static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
                             "only one tip for the future, sunscreen would be it.";
    static const uint8_t aad[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1,
                                    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
    static const uint8_t nonce[12] = {0x07, 0x00, 0x00, 0x00, 0x40, 0x41,
                                      0x42, 0x43, 0x44, 0x45, 0x46, 0x47};
    static const uint8_t tag[16] = {0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
                                    0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91};
    static const uint8_t ct_start[16] = {0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb,
                                         0x7b, 0x86, 0xaf, 0xbc, 0x53, 0xef, 0x7e, 0xc2};
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x80 + i);
    size_t n = sizeof pt - 1;
    uint8_t out[200], back[200];
    moat_aead *a = crypto_aead_new(MOAT_TLS_CHACHA20_POLY1305_SHA256, 1, key);
    moat_aead *b = crypto_aead_new(MOAT_TLS_CHACHA20_POLY1305_SHA256, 0, key);
    check(a && b && !crypto_aead_seal(a, nonce, aad, 12, (const uint8_t *)pt, n, out) &&
              !memcmp(out, ct_start, 16) && !memcmp(out + n, tag, 16),
          "RFC 8439 ChaCha20-Poly1305 vector: ciphertext and tag");
    check(b && !crypto_aead_open(b, nonce, aad, 12, out, n + 16, back) && !memcmp(back, pt, n),
          "RFC 8439 ChaCha20-Poly1305 vector: opens");
    out[3] ^= 1;
    check(b && crypto_aead_open(b, nonce, aad, 12, out, n + 16, back) != 0,
          "RFC 8439 ChaCha20-Poly1305 vector: a changed byte fails");
    crypto_aead_free(a);
    crypto_aead_free(b);
}

int main(void)
{
    if (load_trace()) {
        printf("not ok - ../shared/rfc/tls13-example-traces.txt could not be read\n");
        return 1;
    }
    section simple = find_section("\n3.  Simple 1-RTT Handshake", "\n4.  Resumed 0-RTT");
    section hrr = find_section("\n5.  HelloRetryRequest", "\n6.  Client Authentication");
    check(simple.start && hrr.start, "trace sections found");
    if (simple.start) replay(simple, "simple 1-RTT", 0);
    if (hrr.start) replay(hrr, "HelloRetryRequest", 1);
    chacha_vector();
    free(trace);
    return failures ? 1 : 0;
}
