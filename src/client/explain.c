/* moat get --explain: the TLS handshake of this connection told in plain
 * words, from the real messages the engine's observer hands us; and -v's
 * certificate chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "crypto/x509info.h"
#include "tls/codec.h"

void client_print_chain(FILE *f, const moat_buf *certs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct moat_x509_info ci;
        if (crypto_x509_describe(certs[i].base, certs[i].len, &ci) < 0) {
            fprintf(f, "* certificate %zu: unreadable\n", i);
            continue;
        }
        fprintf(f, "* certificate %zu%s:\n", i, i == 0 ? " (the server's own)" : "");
        fprintf(f, "*   subject: %s\n", ci.subject);
        fprintf(f, "*   issuer: %s\n", ci.issuer);
        fprintf(f, "*   valid: %s to %s\n", ci.not_before, ci.not_after);
        if (ci.sans[0]) fprintf(f, "*   names (SAN): %s\n", ci.sans);
        fprintf(f, "*   key: %s, signed with %s\n", ci.key, ci.sigalg);
        fprintf(f, "*   SHA-256 fingerprint: %s\n", ci.sha256);
    }
}

/* ---- reading the messages: the engine's own reader (tls/codec.h), which
 * fails closed as it does in the engine; a short read sets err. */
/* A sub-reader over the next n bytes. */
static rd_t sub(rd_t *r, size_t n)
{
    const uint8_t *p;
    rd_t s = {NULL, 0, 1};
    if (!rd_take(r, n, &p)) s = rd_init(p, n);
    return s;
}
/* A vector's bytes for "%.*s" (a failed read has none). */
static const char *txt(rd_t v)
{
    return v.p ? (const char *)v.p : "";
}

static const char *name_or_hex(const char *name, unsigned id, char *buf)
{
    if (strcmp(name, "unknown") != 0) return name;
    if ((id & 0x0f0f) == 0x0a0a) return "GREASE";
    snprintf(buf, 16, "0x%04x", id);
    return buf;
}
static const char *group_s(unsigned g, char *buf)
{
    return name_or_hex(moat_tls_group_name((uint16_t)g), g, buf);
}
static const char *suite_s(unsigned s, char *buf)
{
    return name_or_hex(moat_tls_cipher_name((uint16_t)s), s, buf);
}
static const char *sig_s(unsigned s, char *buf)
{
    static const struct {
        unsigned id;
        const char *n;
    } more[] = {{0x0401, "rsa_pkcs1_sha256"},
                {0x0501, "rsa_pkcs1_sha384"},
                {0x0601, "rsa_pkcs1_sha512"},
                {0x0603, "ecdsa_secp521r1_sha512"},
                {0x0808, "ed448"},
                {0x0809, "rsa_pss_pss_sha256"},
                {0x0201, "rsa_pkcs1_sha1"},
                {0x0203, "ecdsa_sha1"}};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (more[i].id == s) return more[i].n;
    return name_or_hex(moat_tls_sigscheme_name((uint16_t)s), s, buf);
}
static const char *ext_name(unsigned e)
{
    switch (e) {
    case 0:
        return "server_name";
    case 5:
        return "status_request";
    case 10:
        return "supported_groups";
    case 13:
        return "signature_algorithms";
    case 16:
        return "application_layer_protocol_negotiation";
    case 41:
        return "pre_shared_key";
    case 42:
        return "early_data";
    case 43:
        return "supported_versions";
    case 44:
        return "cookie";
    case 45:
        return "psk_key_exchange_modes";
    case 50:
        return "signature_algorithms_cert";
    case 51:
        return "key_share";
    default:
        return (e & 0x0f0f) == 0x0a0a ? "GREASE" : "other";
    }
}
static const char *version_s(unsigned v)
{
    switch (v) {
    case 0x0304:
        return "TLS 1.3";
    case 0x0303:
        return "TLS 1.2";
    case 0x0302:
        return "TLS 1.1";
    case 0x0301:
        return "TLS 1.0";
    default:
        return (v & 0x0f0f) == 0x0a0a ? "GREASE" : "an unknown version";
    }
}
static const char *hs_name(int t)
{
    switch (t) {
    case 1:
        return "ClientHello";
    case 2:
        return "ServerHello";
    case 4:
        return "NewSessionTicket";
    case 8:
        return "EncryptedExtensions";
    case 11:
        return "Certificate";
    case 13:
        return "CertificateRequest";
    case 15:
        return "CertificateVerify";
    case 12:
        return "ServerKeyExchange";
    case 14:
        return "ServerHelloDone";
    case 16:
        return "ClientKeyExchange";
    case 20:
        return "Finished";
    case 22:
        return "CertificateStatus";
    case 24:
        return "KeyUpdate";
    default:
        return "a handshake message";
    }
}
static const char *ctype_name(int t)
{
    switch (t) {
    case 20:
        return "change_cipher_spec";
    case 21:
        return "alert";
    case 22:
        return "handshake";
    case 23:
        return "application data";
    default:
        return "?";
    }
}

/* RFC 8446 4.1.3: the random of a HelloRetryRequest. */
static const uint8_t hrr_random[32] = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

/* Records of the request/response phase, per direction. */
struct tally {
    unsigned long records, wire;
    unsigned long sizes[8];
    int nsizes;
    unsigned long tickets;
};

struct moat_explain {
    FILE *f; /* where the story goes (stderr) */
    FILE *m; /* the handshake part, written as it happens, shown when done */
    char *mbuf;
    size_t mlen;
    char host[520]; /* as shown: "café.test (xn--caf-dma.test)" */
    int port;
    const char *trust;
    int step;
    unsigned share_group; /* the group of the server's key share */
    int psk_offered, psk_taken, hrr, certs_seen, cert_requested;
    int v12;                /* the server chose TLS 1.2 */
    int ccs_sent, ccs_recv; /* 1.2: each side's ChangeCipherSpec came: its records are sealed */
    unsigned cv_scheme;
    int phase;     /* 0 handshake, 1 after it, 2 request sent */
    int after_hdr; /* "after the handshake" heading printed */
    char request[200], status[200];
    size_t req_body;
    uint64_t resp_body;
    struct tally out, in;
    /* HTTP/2: the frames of the connection, the first MAX_FRAME_LINES of
     * them in full, all counted by type and direction */
    char *frames;
    size_t frames_len, nframes;
    unsigned long frame_count[2][11];
};
#define MAX_FRAME_LINES 40

struct moat_explain *client_explain_new(FILE *f, const char *host, int port, const char *trust)
{
    struct moat_explain *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->f = f;
    e->m = open_memstream(&e->mbuf, &e->mlen);
    if (!e->m) {
        free(e);
        return NULL;
    }
    snprintf(e->host, sizeof e->host, "%s", host);
    e->port = port;
    e->trust = trust;
    fprintf(e->m, "== How moat and %s:%d set up this HTTPS connection ==\n\n", host, port);
    return e;
}

void client_explain_tunnel(struct moat_explain *e, const char *proxy)
{
    if (!e) return;
    fprintf(e->m,
            "The TLS connection is tunnelled through proxy %s (HTTP CONNECT): moat asked the "
            "proxy to connect to %s:%d and relay bytes both ways. The proxy sees the server's "
            "name and port, and how much goes each way, but cannot read or change what is "
            "inside: the handshake below is between moat and the server, end to end.\n\n",
            proxy, e->host, e->port);
}

static void client_hello(struct moat_explain *e, rd_t r, size_t len)
{
    FILE *m = e->m;
    char b[16];
    fprintf(m, "%d. moat -> server: ClientHello (%zu bytes, in the clear)\n", ++e->step, len);
    fprintf(m, "   moat says hello and lists everything it can do, so the server can choose:\n");
    sub(&r, 6);  /* type, length, legacy_version */
    sub(&r, 32); /* random: 32 fresh bytes, makes every handshake unique */
    rd_t sid = rd_vec(&r, 1);
    (void)sid;
    rd_t cs = rd_vec(&r, 2);
    fprintf(m, "   - cipher suites (encryption + hash), best first:");
    while (cs.n >= 2 && !cs.err)
        fprintf(m, " %s", suite_s(rd_u16(&cs), b));
    fprintf(m, "\n");
    rd_vec(&r, 1); /* compression: always "none" */
    rd_t ex = rd_vec(&r, 2);
    while (ex.n >= 4 && !ex.err) {
        unsigned type = rd_u16(&ex);
        rd_t d = rd_vec(&ex, 2);
        if (type == 43) {
            rd_t v = rd_vec(&d, 1);
            fprintf(m, "   - versions (supported_versions):");
            while (v.n >= 2 && !v.err)
                fprintf(m, " %s", version_s(rd_u16(&v)));
            fprintf(m, "  (the legacy version field says TLS 1.2 for old middleboxes)\n");
        } else if (type == 10) {
            rd_t g = rd_vec(&d, 2);
            fprintf(m, "   - key-exchange groups (supported_groups):");
            while (g.n >= 2 && !g.err)
                fprintf(m, " %s", group_s(rd_u16(&g), b));
            fprintf(m, "\n");
        } else if (type == 51) {
            rd_t ks = rd_vec(&d, 2);
            fprintf(m, "   - key shares, sent ahead to save a round trip:");
            while (ks.n >= 4 && !ks.err) {
                unsigned g = rd_u16(&ks);
                size_t kl = rd_u16(&ks);
                sub(&ks, kl);
                if (g == MOAT_GROUP_X25519MLKEM768)
                    fprintf(m,
                            " %s (%zu bytes: an ML-KEM-768 encapsulation key of 1184, then an "
                            "X25519 public key of 32, made fresh for this connection)",
                            group_s(g, b), kl);
                else
                    fprintf(m, " %s (a %zu-byte public key, made fresh for this connection)",
                            group_s(g, b), kl);
            }
            fprintf(m, "\n");
        } else if (type == 13) {
            rd_t s = rd_vec(&d, 2);
            fprintf(m, "   - signature schemes it accepts:");
            while (s.n >= 2 && !s.err)
                fprintf(m, " %s", sig_s(rd_u16(&s), b));
            fprintf(m, "\n");
        } else if (type == 0) {
            rd_t l = rd_vec(&d, 2);
            (void)rd_u8(&l);
            rd_t hn = rd_vec(&l, 2);
            fprintf(m,
                    "   - server name (SNI): %.*s, so the server can pick the right certificate\n",
                    (int)hn.n, txt(hn));
        } else if (type == 16) {
            rd_t l = rd_vec(&d, 2);
            fprintf(m, "   - application protocols (ALPN):");
            while (l.n && !l.err) {
                rd_t pn = rd_vec(&l, 1);
                fprintf(m, " %.*s", (int)pn.n, txt(pn));
            }
            fprintf(m, "\n");
        } else if (type == 5) {
            fprintf(m, "   - status_request: please staple a fresh OCSP answer about your "
                       "certificate\n");
        } else if (type == 41) {
            e->psk_offered = 1;
            fprintf(m, "   - pre_shared_key: a session ticket from an earlier visit, to resume "
                       "without a certificate\n");
        } else if (type == 44) {
            fprintf(m, "   - cookie: echoed from the HelloRetryRequest\n");
        }
    }
}

static void server_hello(struct moat_explain *e, rd_t r, size_t len)
{
    FILE *m = e->m;
    char b[16];
    sub(&r, 6); /* type, length, legacy_version */
    rd_t rnd = sub(&r, 32);
    int hrr = rnd.n == 32 && memcmp(rnd.p, hrr_random, 32) == 0;
    rd_vec(&r, 1);
    unsigned suite = rd_u16(&r);
    (void)rd_u8(&r);
    if (hrr) {
        e->hrr = 1;
        fprintf(m, "%d. server -> moat: HelloRetryRequest (%zu bytes, in the clear)\n", ++e->step,
                len);
    } else {
        fprintf(m, "%d. server -> moat: ServerHello (%zu bytes, in the clear)\n", ++e->step, len);
    }
    fprintf(m, "   - cipher suite chosen: %s\n", suite_s(suite, b));
    rd_t ex = rd_vec(&r, 2);
    e->v12 = !hrr;
    for (rd_t x = ex; x.n >= 4 && !x.err;) {
        unsigned type = rd_u16(&x);
        rd_vec(&x, 2);
        if (type == 43) e->v12 = 0;
    }
    if (e->v12)
        fprintf(m, "   - version chosen: TLS 1.2 (no supported_versions: the server speaks no "
                   "1.3, and its random carries no downgrade sentinel)\n");
    while (ex.n >= 4 && !ex.err) {
        unsigned type = rd_u16(&ex);
        rd_t d = rd_vec(&ex, 2);
        if (type == 23) {
            fprintf(m, "   - extended_master_secret: the secret will be bound to this whole "
                       "handshake (RFC 7627)\n");
        } else if (type == 0xff01) {
            fprintf(m, "   - renegotiation_info: secure renegotiation indicated (RFC 5746); "
                       "moat never renegotiates\n");
        } else if (type == 43) {
            fprintf(m, "   - version chosen: %s\n", version_s(rd_u16(&d)));
        } else if (type == 51 && hrr) {
            fprintf(m,
                    "   - none of moat's key shares suits the server: it asks for one in %s; "
                    "moat sends a second ClientHello with that share\n",
                    group_s(rd_u16(&d), b));
        } else if (type == 51) {
            e->share_group = rd_u16(&d);
            size_t kl = rd_u16(&d);
            if (e->share_group == MOAT_GROUP_X25519MLKEM768)
                fprintf(m,
                        "   - group chosen: %s; the server's key share: %zu bytes, an ML-KEM "
                        "ciphertext of 1088 then its X25519 public key of 32\n",
                        group_s(e->share_group, b), kl);
            else
                fprintf(m, "   - group chosen: %s; the server's key share: a %zu-byte public key\n",
                        group_s(e->share_group, b), kl);
        } else if (type == 41) {
            e->psk_taken = 1;
            fprintf(m, "   - pre_shared_key: ticket #%u accepted: this is a resumed session\n",
                    rd_u16(&d));
        }
    }
}

static void encrypted_extensions(struct moat_explain *e, rd_t r, size_t len)
{
    FILE *m = e->m;
    fprintf(m, "%d. server -> moat: EncryptedExtensions (%zu bytes, encrypted)\n", ++e->step, len);
    sub(&r, 4); /* type, length */
    rd_t ex = rd_vec(&r, 2);
    int any = 0;
    while (ex.n >= 4 && !ex.err) {
        unsigned type = rd_u16(&ex);
        rd_t d = rd_vec(&ex, 2);
        any = 1;
        if (type == 16) {
            rd_t l = rd_vec(&d, 2);
            rd_t pn = rd_vec(&l, 1);
            fprintf(m, "   - application protocol chosen (ALPN): %.*s\n", (int)pn.n, txt(pn));
        } else {
            fprintf(m, "   - %s\n", ext_name(type));
        }
    }
    if (!any) fprintf(m, "   - (no extensions: the server has nothing more to say)\n");
}

static void certificate_msg(struct moat_explain *e, rd_t r, size_t len, int sent)
{
    FILE *m = e->m;
    sub(&r, 4); /* type, length */
    if (!e->v12) rd_vec(&r, 1);
    rd_t list = rd_vec(&r, 3);
    int n = 0, stapled = 0;
    while (list.n >= 3 && !list.err) {
        rd_vec(&list, 3);
        rd_t ex = e->v12 ? rd_init(NULL, 0) : rd_vec(&list, 2);
        while (ex.n >= 4 && !ex.err) {
            unsigned t = rd_u16(&ex);
            rd_vec(&ex, 2);
            if (t == 5 && n == 0) stapled = 1;
        }
        n++;
    }
    if (sent) {
        fprintf(m,
                "%d. moat -> server: Certificate (%zu bytes, %s): moat's client "
                "certificate%s\n",
                ++e->step, len, e->v12 ? "in the clear" : "encrypted",
                n ? "" : " (none: moat has none to give)");
        return;
    }
    e->certs_seen = n;
    fprintf(m,
            "%d. server -> moat: Certificate (%zu bytes, %s): a chain of %d "
            "certificate%s%s\n",
            ++e->step, len, e->v12 ? "in the clear: anyone on the path sees it" : "encrypted", n,
            n == 1 ? "" : "s", stapled ? ", with an OCSP answer stapled to the first" : "");
}

static void peer_cert(struct moat_explain *e, const uint8_t *der, size_t len, int pos)
{
    struct moat_x509_info ci;
    FILE *m = e->m;
    if (crypto_x509_describe(der, len, &ci) < 0) {
        fprintf(m, "   [%d] (cannot be read)\n", pos);
        return;
    }
    fprintf(m, "   [%d] %s\n", pos, ci.subject);
    fprintf(m, "       issued by %s\n", ci.issuer);
    fprintf(m, "       valid %s to %s; %s key, signed with %s\n", ci.not_before, ci.not_after,
            ci.key, ci.sigalg);
    if (ci.sans[0]) fprintf(m, "       names: %s\n", ci.sans);
    fprintf(m, "       SHA-256 fingerprint %s\n", ci.sha256);
}

static void handshake_msg(struct moat_explain *e, const uint8_t *data, size_t len, int type,
                          int sent)
{
    rd_t r = rd_init(data, len);
    FILE *m = e->m;
    char b[16];
    switch (type) {
    case 1:
        client_hello(e, r, len);
        return;
    case 2:
        server_hello(e, r, len);
        return;
    case 8:
        encrypted_extensions(e, r, len);
        return;
    case 11:
        certificate_msg(e, r, len, sent);
        return;
    case 13:
        e->cert_requested = 1;
        fprintf(m,
                "%d. server -> moat: CertificateRequest (%zu bytes): the server wants a "
                "client certificate\n",
                ++e->step, len);
        return;
    case 15: {
        sub(&r, 4); /* type, length */
        unsigned s = rd_u16(&r);
        size_t sl = rd_u16(&r);
        if (!sent) e->cv_scheme = s;
        fprintf(m,
                "%d. %s: CertificateVerify (%zu bytes, encrypted): a %zu-byte %s signature "
                "over the whole handshake so far, made with the private key of %s "
                "certificate. It proves %s holds that key, not merely a copy of the "
                "certificate.\n",
                ++e->step, sent ? "moat -> server" : "server -> moat", len, sl, sig_s(s, b),
                sent ? "moat's" : "its", sent ? "moat" : "the server");
        return;
    }
    case 12: {
        char b2[16];
        sub(&r, 5); /* type, length, curve_type */
        unsigned g = rd_u16(&r);
        size_t kl = rd_u8(&r);
        sub(&r, kl);
        unsigned sch = rd_u16(&r);
        fprintf(m,
                "%d. server -> moat: ServerKeyExchange (%zu bytes, in the clear): its ephemeral "
                "%s public key (%zu bytes), signed (%s) over both randoms and that key with the "
                "certificate's private key. In TLS 1.2 the key exchange itself is what is signed; "
                "1.3 signs the whole transcript in CertificateVerify.\n",
                ++e->step, len, group_s(g, b), kl, sig_s(sch, b2));
        return;
    }
    case 14:
        fprintf(m,
                "%d. server -> moat: ServerHelloDone (%zu bytes): the server's first flight "
                "ends; now moat answers\n",
                ++e->step, len);
        return;
    case 16:
        fprintf(m,
                "%d. moat -> server: ClientKeyExchange (%zu bytes, in the clear): moat's ephemeral "
                "public key in the same group; both sides now compute the premaster secret\n",
                ++e->step, len);
        return;
    case 20:
        if (e->v12) {
            fprintf(m,
                    "%d. %s: Finished (%zu bytes, encrypted): 12 bytes of the PRF over every "
                    "handshake message, keyed by the master secret. %s\n",
                    ++e->step, sent ? "moat -> server" : "server -> moat", len,
                    sent ? "The server checks it the same way."
                         : "moat computed the same value: nothing was changed on the way.");
            return;
        }
        fprintf(m,
                "%d. %s: Finished (%zu bytes, encrypted): an HMAC over every handshake "
                "message, keyed from the %s handshake traffic secret. %s\n",
                ++e->step, sent ? "moat -> server" : "server -> moat", len,
                sent ? "client" : "server",
                sent ? "The server checks it the same way."
                     : "moat computed the same value: nothing was changed on the way.");
        return;
    case 4: {
        sub(&r, 4); /* type, length */
        unsigned long life = rd_uint(&r, 4);
        if (!e->after_hdr) {
            fprintf(m, "-- After the handshake --\n");
            e->after_hdr = 1;
        }
        fprintf(m,
                "   server -> moat: NewSessionTicket (%zu bytes, %s): a ticket to "
                "resume later without a full handshake, good for %lu s\n",
                len, e->v12 ? "before the server's ChangeCipherSpec" : "encrypted", life);
        if (e->phase) e->in.tickets++;
        return;
    }
    default:
        fprintf(m, "%d. %s: %s (%zu bytes)\n", ++e->step,
                sent ? "moat -> server" : "server -> moat", hs_name(type), len);
    }
}

static void keys(struct moat_explain *e, const char *label, size_t n, int write)
{
    FILE *m = e->m;
    if (n == 9 && memcmp(label, "handshake", 9) == 0) {
        if (!write)
            fprintf(m, "   >> keys: both sides now hold the shared secret. Everything the server "
                       "sends from here on is encrypted with the server handshake traffic key.\n");
        else
            fprintf(m, "   >> keys: what moat sends from here on is encrypted with the client "
                       "handshake traffic key.\n");
    } else if (n == 11 && memcmp(label, "application", 11) == 0) {
        fprintf(m, "   >> keys: %s switches to the %s application traffic key for HTTP.\n",
                write ? "moat" : "the server", write ? "client" : "server");
    } else {
        fprintf(m, "   >> keys: %s updated its keys (KeyUpdate)\n", write ? "moat" : "the server");
    }
}

static void record(struct moat_explain *e, const uint8_t *h, size_t n, int type, int sent)
{
    if (n < 5) return;
    unsigned long len = (unsigned long)h[3] << 8 | h[4];
    if (e->phase == 0) {
        if (h[0] == 20 && e->v12) {
            *(sent ? &e->ccs_sent : &e->ccs_recv) = 1;
            fprintf(e->m,
                    "   [record %s: change_cipher_spec: a real key change in TLS 1.2; what %s "
                    "sends next is encrypted]\n",
                    sent ? "sent" : "received", sent ? "moat" : "the server");
            return;
        }
        if (h[0] == 20) return; /* the compatibility change_cipher_spec */
        int sealed = h[0] == 23 || (sent ? e->ccs_sent : e->ccs_recv);
        fprintf(e->m, "   [record %s: %lu bytes on the wire, %s%s]\n", sent ? "sent" : "received",
                len + 5, sealed ? "encrypted, carrying " : "in the clear, ", ctype_name(type));
        return;
    }
    if (type != 23) return;
    struct tally *t = sent ? &e->out : &e->in;
    t->records++;
    t->wire += len + 5;
    if (t->nsizes < 8) t->sizes[t->nsizes++] = len + 5;
}

void client_explain_observe(void *arg, int event, const uint8_t *data, size_t len, int info)
{
    struct moat_explain *e = arg;
    if (!e) return;
    switch (event) {
    case MOAT_EV_HS_SENT:
    case MOAT_EV_HS_RECEIVED:
        handshake_msg(e, data, len, info, event == MOAT_EV_HS_SENT);
        break;
    case MOAT_EV_RECORD_SENT:
    case MOAT_EV_RECORD_RECEIVED:
        record(e, data, len, info, event == MOAT_EV_RECORD_SENT);
        break;
    case MOAT_EV_KEYS:
        keys(e, (const char *)data, len, info);
        break;
    case MOAT_EV_PEER_CERT:
        peer_cert(e, data, len, info);
        break;
    }
}

/* What the hybrid adds (draft-ietf-tls-ecdhe-mlkem), for "Where the
 * shared secret came from". */
static void explain_hybrid(FILE *m, int hrr)
{
    fprintf(m,
            "moat sent an X25519MLKEM768 key share%s: a fresh ML-KEM-768 encapsulation key "
            "(1184 bytes) followed by a fresh X25519 public key (32). The server encapsulated "
            "a random secret to the ML-KEM key, which gave it an ML-KEM ciphertext (1088 "
            "bytes) that only moat's private key can open, and answered the X25519 key with "
            "one of its own (32): its ServerHello share is the two, 1120 bytes. Both sides "
            "now hold the same 64 bytes, the ML-KEM shared secret followed by the X25519 "
            "one, and that is what enters the key schedule. None of it crossed the wire, and "
            "the private halves are thrown away after the handshake (forward secrecy).\n",
            hrr ? " (in the second ClientHello, after the HelloRetryRequest)" : "");
    fprintf(m, "Why both halves: someone can record this connection today and keep it until a "
               "quantum computer large enough to solve X25519 exists (\"harvest now, decrypt "
               "later\"); ML-KEM (FIPS 203) is built on a lattice problem no known quantum "
               "algorithm solves, so the recording stays sealed. ML-KEM is young, though, and "
               "X25519 is well understood: an attacker has to break both to learn the secret, "
               "so the hybrid is never weaker than the x25519 connection it replaces.\n");
}

static void show(struct moat_explain *e)
{
    fflush(e->m);
    if (e->mlen) fwrite(e->mbuf, 1, e->mlen, e->f);
    fflush(e->f);
    rewind(e->m);
    e->mlen = 0;
}

/* A TLS 1.2 handshake: where its keys came from, and what differs from 1.3. */
static void explain_v12(struct moat_explain *e, const moat_tls *t)
{
    FILE *m = e->m;
    char b[16];
    const char *suite = moat_tls_cipher_name(moat_tls_get_cipher(t));
    fprintf(m, "\n-- Where the shared secret came from --\n");
    if (moat_tls_resumed(t))
        fprintf(m, "Nothing new: the ticket carried the master secret of the earlier full "
                   "handshake; only this one's fresh randoms change the keys.\n");
    else
        fprintf(m,
                "The server's ephemeral %s key came in ServerKeyExchange, moat's went back in "
                "ClientKeyExchange; each side combined its private key with the other's public "
                "key (ECDHE) into the premaster secret, which never crossed the wire. The "
                "private halves are thrown away (forward secrecy).\n",
                group_s(moat_tls_get_group(t), b));
    fprintf(m, "\n-- How the keys follow from it (RFC 5246 5, 6.3; RFC 7627; with %s) --\n",
            strstr(suite, "SHA384") ? "SHA-384" : "SHA-256");
    fprintf(m, "  master secret = PRF(premaster secret, \"extended master secret\", "
               "hash of ClientHello..ClientKeyExchange)\n");
    fprintf(m, "  key block     = PRF(master secret, \"key expansion\", server random + client "
               "random): each side's write key and IV\n");
    fprintf(m,
            "  Each record is sealed with the AEAD of %s; its nonce comes from the IV and the "
            "record's sequence number (RFC 5288, RFC 7905).\n",
            suite);
    fprintf(m, "  (Values are never shown; SSLKEYLOGFILE=FILE writes the master secret for "
               "Wireshark.)\n");
    fprintf(m, "\n-- What differs from TLS 1.3 --\n");
    fprintf(m, "- The certificate travels in the clear: anyone on the path sees which site "
               "this is (1.3 encrypts it).\n");
    fprintf(m, "- The key exchange is signed in ServerKeyExchange (the randoms and the key), "
               "not the whole transcript in CertificateVerify.\n");
    fprintf(m, "- The keys come from the PRF and one master secret, not HKDF's staged "
               "secrets; the extended master secret binds it to this handshake.\n");
    fprintf(m, "- ChangeCipherSpec is real: it is where each side starts encrypting (1.3 "
               "sends one only for middleboxes).\n");
    fprintf(m, "- One round trip more: moat speaks only after ServerHelloDone, so the request "
               "leaves after two round trips (one in 1.3).\n\n");
    show(e);
}

void client_explain_handshake_done(struct moat_explain *e, const moat_tls *t, int ok)
{
    if (!e) return;
    FILE *m = e->m;
    char b[16];
    e->phase = 1;
    if (!ok) {
        fprintf(m, "\nThe handshake did not complete; moat's reason follows.\n\n");
        show(e);
        return;
    }
    uint16_t suite = moat_tls_get_cipher(t), group = moat_tls_get_group(t);
    int sha384 = suite == MOAT_TLS_AES_256_GCM_SHA384;
    const char *aead = suite == MOAT_TLS_AES_128_GCM_SHA256   ? "AES-128-GCM (16-byte key)"
                       : suite == MOAT_TLS_AES_256_GCM_SHA384 ? "AES-256-GCM (32-byte key)"
                                                              : "ChaCha20-Poly1305 (32-byte key)";
    fprintf(m, "\n-- Why moat trusts this server --\n");
    if (moat_tls_resumed(t)) {
        fprintf(m, "No certificate this time: the server accepted a ticket that only it could "
                   "have sealed, from an earlier handshake in which its certificate was checked. "
                   "Knowing the secret inside the ticket is the proof.\n");
    } else if (!e->trust) {
        fprintf(m, "It is NOT trusted: -k turned verification off. Anyone on the path could "
                   "have answered in its place.\n");
    } else {
        fprintf(m,
                "- The chain of %d certificate%s ends at a CA found in %s; each certificate's "
                "signature checks out with the key of the next.\n",
                e->certs_seen, e->certs_seen == 1 ? "" : "s", e->trust);
        fprintf(m,
                "- The first certificate names %s, and today lies within every "
                "certificate's validity dates.\n",
                e->host);
        fprintf(m,
                "- It may be used for TLS servers, and no revocation list or OCSP answer "
                "moat holds says it was revoked%s.\n",
                moat_tls_ocsp_stapled(t) ? " (the stapled OCSP answer says: good)" : "");
        if (moat_tls_ocsp_ignored(t))
            fprintf(m,
                    "- The server stapled an OCSP answer, but moat ignored it, as browsers do: "
                    "%s. The connection goes on as if none had been stapled.\n",
                    moat_tls_ocsp_ignored(t));
        fprintf(m,
                "- The %s signature (%s) shows the server has the private "
                "key that goes with it.\n",
                e->v12 ? "ServerKeyExchange" : "CertificateVerify",
                sig_s(moat_tls_get_sigscheme(t), b));
    }
    if (e->v12) {
        explain_v12(e, t);
        return;
    }
    fprintf(m, "\n-- Where the shared secret came from --\n");
    if (group == MOAT_GROUP_X25519MLKEM768)
        explain_hybrid(m, e->hrr);
    else
        fprintf(m,
                "moat made an ephemeral %s key pair and sent its public half in the ClientHello "
                "key share%s; the server did the same in its ServerHello. Each side combined its "
                "own private key with the other's public key (ECDHE) and got the same shared "
                "secret, which never crossed the wire. The private halves are thrown away after "
                "the handshake, so recording this connection and stealing the server's key later "
                "would not reveal it (forward secrecy).\n",
                group_s(group, b), e->hrr ? " (the second one, after the HelloRetryRequest)" : "");
    if (moat_tls_resumed(t))
        fprintf(m, "The ticket's resumption secret was mixed in too, as the pre-shared key.\n");
    fprintf(m, "\n-- How the keys follow from it (RFC 8446 7.1, with %s) --\n",
            sha384 ? "SHA-384" : "SHA-256");
    fprintf(m, "  Early Secret     = HKDF-Extract(0, %s)\n",
            moat_tls_resumed(t) ? "the ticket's PSK" : "zeros: no PSK");
    fprintf(m,
            "  Handshake Secret = HKDF-Extract(Derive-Secret(Early Secret, \"derived\"), the "
            "%s shared secret)\n",
            group_s(group, b));
    fprintf(m, "    client/server handshake traffic secrets = Derive-Secret(Handshake Secret, "
               "\"c hs traffic\"/\"s hs traffic\", ClientHello..ServerHello)\n");
    fprintf(m, "  Master Secret    = HKDF-Extract(Derive-Secret(Handshake Secret, \"derived\"), "
               "zeros)\n");
    fprintf(m, "    client/server application traffic secrets = Derive-Secret(Master Secret, "
               "\"c ap traffic\"/\"s ap traffic\", ClientHello..server Finished)\n");
    fprintf(m,
            "  Each traffic secret gives a key and an IV (HKDF-Expand-Label \"key\", \"iv\") "
            "for %s; every record is sealed under the key with the IV XORed with its "
            "sequence number. A changed byte fails the tag and ends the connection.\n",
            aead);
    fprintf(m, "  (Values are never shown; SSLKEYLOGFILE=FILE writes them for Wireshark.)\n\n");
    show(e);
}

void client_explain_request(struct moat_explain *e, const char *line, size_t body_len)
{
    if (!e) return;
    snprintf(e->request, sizeof e->request, "%s", line);
    e->req_body = body_len;
    e->phase = 2;
    memset(&e->out, 0, sizeof e->out);
    memset(&e->in, 0, sizeof e->in);
    e->nframes = e->frames_len = 0;
    memset(e->frame_count, 0, sizeof e->frame_count);
}

void client_explain_response(struct moat_explain *e, const char *line, uint64_t body_len)
{
    if (!e) return;
    snprintf(e->status, sizeof e->status, "%s", line);
    e->resp_body = body_len;
}

void client_explain_frame(struct moat_explain *e, int sent, int type, const char *line)
{
    if (!e) return;
    e->frame_count[sent != 0][type >= 0 && type < 10 ? type : 10]++;
    if (e->nframes++ >= MAX_FRAME_LINES) return;
    size_t n = strlen(line) + 16;
    char *p = realloc(e->frames, e->frames_len + n);
    if (!p) return;
    e->frames = p;
    e->frames_len += (size_t)snprintf(p + e->frames_len, n, "   %s %s\n", sent ? "->" : "<-", line);
}

/* The frames the request and response travelled in (RFC 9113 6). */
static void frames_story(struct moat_explain *e, FILE *m)
{
    static const char *const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION", "other"};
    fprintf(m, "Inside the records, HTTP/2 frames (RFC 9113): each a 9-byte header (length, "
               "type, flags, stream) and its payload; the fields in HEADERS compressed with "
               "HPACK, the body in DATA, each side's flow-control window opened with "
               "WINDOW_UPDATE (-> moat to server, <- server to moat):\n");
    fwrite(e->frames, 1, e->frames_len, m);
    if (e->nframes > MAX_FRAME_LINES) fprintf(m, "   ... %zu frames in all\n", e->nframes);
    for (int d = 1; d >= 0; d--) {
        fprintf(m, "   %s:", d ? "moat -> server" : "server -> moat");
        for (int t = 0; t < 11; t++)
            if (e->frame_count[d][t]) fprintf(m, " %lu %s", e->frame_count[d][t], names[t]);
        fprintf(m, "\n");
    }
}

static void tally_line(FILE *m, const struct tally *t)
{
    fprintf(m, "%lu record%s, %lu bytes on the wire", t->records, t->records == 1 ? "" : "s",
            t->wire);
    if (!t->records) return;
    fprintf(m, " (sizes ");
    for (int i = 0; i < t->nsizes; i++)
        fprintf(m, "%s%lu", i ? ", " : "", t->sizes[i]);
    fprintf(m, "%s)", t->records > (unsigned long)t->nsizes ? ", ..." : "");
}

void client_explain_finish(struct moat_explain *e)
{
    if (!e || e->phase < 2) return;
    FILE *m = e->m;
    fprintf(m, "%s-- The request and the response, encrypted --\n", e->after_hdr ? "\n" : "");
    fprintf(m, "moat -> server: \"%s\"%s", e->request, e->req_body ? " with a body" : "");
    if (e->req_body) fprintf(m, " of %zu bytes", e->req_body);
    fprintf(m, ":\n   ");
    tally_line(m, &e->out);
    if (e->v12)
        fprintf(m, "\n   Each record: 5-byte header (type application_data), the explicit nonce "
                   "(8 bytes, AES-GCM only), then the HTTP bytes and a 16-byte tag, encrypted.\n");
    else
        fprintf(m, "\n   Each record: 5-byte header (type application_data, as if TLS 1.2), then "
                   "the HTTP bytes, 1 byte of real content type and a 16-byte tag, all "
                   "encrypted.\n");
    if (e->status[0]) {
        fprintf(m, "server -> moat: \"%s\"", e->status);
        if (e->resp_body)
            fprintf(m, " with a body of %llu bytes", (unsigned long long)e->resp_body);
        fprintf(m, ":\n   ");
        tally_line(m, &e->in);
        fprintf(m, "\n");
    }
    if (e->nframes) frames_story(e, m);
    fprintf(m, "An eavesdropper sees the server's address, the name in the SNI, the sizes "
               "and timing of these records - not the URL, the headers or the body.\n");
    show(e);
}

void client_explain_free(struct moat_explain *e)
{
    if (!e) return;
    fclose(e->m);
    free(e->mbuf);
    free(e->frames);
    free(e);
}
