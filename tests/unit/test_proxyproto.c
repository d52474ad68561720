/* The PROXY protocol parser, encoder and allow-list (src/http/proxyproto.c):
 * valid v1 and v2 headers whole, byte by byte and followed by a
 * ClientHello; every truncation; hostile signatures, lengths, families,
 * addresses and TLVs; CRC32C; encoder round trips; CIDR matching. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.h"
#include "http/proxyproto.h"

/* name with CR, LF and other control bytes escaped, for one-line results. */
static const char *esc(const char *name)
{
    static char out[4][512];
    static int i;
    i = (i + 1) % 4;
    size_t o = 0;
    for (const char *c = name; *c && o + 5 < sizeof out[i]; c++) {
        if (*c == '\r' || *c == '\n' || (unsigned char)*c < 0x20)
            o += (size_t)snprintf(out[i] + o, 5, "\\x%02x", (unsigned char)*c);
        else
            out[i][o++] = *c;
    }
    out[i][o] = 0;
    return out[i];
}

static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
/* The start of a TLS record carrying a ClientHello: what follows a header. */
static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00};

/* Feeds h (n bytes) then the ClientHello's start in one call; returns the
 * status and the bytes used. */
static enum pp_status feed_all(struct pp_parser *p, const unsigned char *h, size_t n, size_t *used)
{
    unsigned char buf[PP_MAX + sizeof hello + 70000];
    memcpy(buf, h, n);
    memcpy(buf + n, hello, sizeof hello);
    pp_init(p);
    return pp_feed(p, buf, n + sizeof hello, used);
}

/* Feeds one byte per call; returns the final status, *used the total. */
static enum pp_status feed_bytes(struct pp_parser *p, const unsigned char *h, size_t n,
                                 size_t *used)
{
    pp_init(p);
    enum pp_status st = PP_NEED_MORE;
    size_t total = 0, u;
    for (size_t i = 0; i < n && st == PP_NEED_MORE; i++) {
        st = pp_feed(p, h + i, 1, &u);
        total += u;
    }
    if (st == PP_NEED_MORE) {
        st = pp_feed(p, hello, sizeof hello, &u);
        total += u;
    }
    *used = total;
    return st;
}

/* A valid header: whole with a ClientHello after it, byte by byte, and
 * cut at every length short of whole (NEED_MORE, never an error). */
static struct pp_header accept_hdr(const char *name, const unsigned char *h, size_t n)
{
    static struct pp_parser p;
    size_t used;
    enum pp_status st = feed_all(&p, h, n, &used);
    check(st == PP_DONE && used == n,
          "%s: accepted whole, ClientHello left (%d, used %zu of %zu)%s%s", name, st, used, n,
          p.why ? ": " : "", p.why ? p.why : "");
    struct pp_header hdr = p.hdr;
    check(pp_feed(&p, hello, sizeof hello, &used) == PP_DONE && used == 0,
          "%s: fed again once done, takes nothing", name);
    st = feed_bytes(&p, h, n, &used);
    check(st == PP_DONE && used == n && !memcmp(&hdr, &p.hdr, sizeof hdr),
          "%s: accepted byte by byte, the same result", name);
    int cut_ok = 1;
    for (size_t k = 0; k < n; k++) {
        pp_init(&p);
        if (pp_feed(&p, h, k, &used) != PP_NEED_MORE || used != k) cut_ok = 0;
    }
    check(cut_ok, "%s: every truncation asks for more", name);
    return hdr;
}

static void refuse(const char *name, const unsigned char *h, size_t n, const char *why)
{
    struct pp_parser p;
    size_t used;
    enum pp_status st = feed_all(&p, h, n, &used);
    int whole = st == PP_ERROR && p.why && strstr(p.why, why);
    st = feed_bytes(&p, h, n, &used);
    check(whole && st == PP_ERROR && strstr(p.why, why), "%s: refused (%s)", name,
          p.why ? p.why : "accepted");
    check(pp_feed(&p, hello, sizeof hello, &used) == PP_ERROR, "%s: stays refused", name);
}

static void v1_ok(const char *line, int family, const char *src, const char *dst, int sp, int dp)
{
    struct pp_header h = accept_hdr(esc(line), (const unsigned char *)line, strlen(line));
    char s[64] = "", d[64] = "";
    if (family) {
        inet_ntop(family, h.src, s, sizeof s);
        inet_ntop(family, h.dst, d, sizeof d);
    }
    check(h.version == 1 && h.family == family &&
              (!family ||
               (!strcmp(s, src) && !strcmp(d, dst) && h.src_port == sp && h.dst_port == dp)),
          "%s: family %d %s:%d -> %s:%d", esc(line), family, s, h.src_port, d, h.dst_port);
}

static void v1_bad(const char *line, const char *why)
{
    refuse(esc(line), (const unsigned char *)line, strlen(line), why);
}

static void test_v1(void)
{
    v1_ok("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", AF_INET, "192.0.2.1", "198.51.100.2",
          56324, 443);
    v1_ok("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", AF_INET, "255.255.255.255",
          "255.255.255.255", 65535, 65535);
    v1_ok("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", AF_INET, "0.0.0.0", "0.0.0.0", 0, 0);
    v1_ok("PROXY TCP6 2001:db8::1 2001:db8::2 1 443\r\n", AF_INET6, "2001:db8::1", "2001:db8::2", 1,
          443);
    v1_ok("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
          "ffff 65535 65535\r\n",
          AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535);
    v1_ok("PROXY UNKNOWN\r\n", 0, NULL, NULL, 0, 0);
    /* spec 2.1: after UNKNOWN the receiver ignores the rest of the line. */
    v1_ok("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 0, NULL, NULL, 0, 0);

    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n", "CRLF");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\r\n", "control");
    v1_bad("PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n", "five fields");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n", "five fields");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", "five fields");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n", "five fields");
    v1_bad("PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", "five fields");
    v1_bad("PROXY TCP5 192.0.2.1 198.51.100.2 56324 443\r\n", "protocol");
    v1_bad("PROXY tcp4 192.0.2.1 198.51.100.2 56324 443\r\n", "protocol");
    v1_bad("PROXY UDP4 192.0.2.1 198.51.100.2 56324 443\r\n", "protocol");
    v1_bad("PROXY UNKNOWNX\r\n", "five fields");
    v1_bad("PROXY TCP4 2001:db8::1 198.51.100.2 56324 443\r\n", "source address");
    v1_bad("PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n", "source address");
    v1_bad("PROXY TCP4 192.0.2.1 2001:db8::2 56324 443\r\n", "destination address");
    v1_bad("PROXY TCP4 192.0.2.01 198.51.100.2 56324 443\r\n", "source address");
    v1_bad("PROXY TCP4 192.0.2.256 198.51.100.2 56324 443\r\n", "source address");
    v1_bad("PROXY TCP4 192.0.2 198.51.100.2 56324 443\r\n", "source address");
    v1_bad("PROXY TCP4 0x7f.0.0.1 198.51.100.2 56324 443\r\n", "source address");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n", "port");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n", "port");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 00 443\r\n", "port");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n", "port");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 +1 443\r\n", "port");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 1 99999999999999999999\r\n", "port");
    v1_bad("PROXY TCP4 192.0.2.1 198.51.100.2 1\t 443\r\n", "control");
    v1_bad("PROXY\r\n", "no PROXY header");
    v1_bad("proxy TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", "no PROXY header");
    v1_bad("PROXX", "no PROXY header");
    v1_bad("GET / HTTP/1.1\r\n", "no PROXY header");
    v1_bad("\x16\x03\x01", "TLS record");
    /* 107 bytes without a LF, and a line of 108 that would end in CRLF. */
    char longline[200] = "PROXY UNKNOWN ";
    memset(longline + 14, 'a', 93);
    longline[107] = 0;
    v1_bad(longline, "107");
    memset(longline + 14, 'a', 92);
    memcpy(longline + 106, "\r\n", 3);
    v1_bad(longline, "107");
    /* ... while 107 exactly is a line. */
    memcpy(longline + 105, "\r\n", 3);
    v1_ok(longline, 0, NULL, NULL, 0, 0);
}

/* Builds a v2 header: fixed part, body. */
static size_t v2(unsigned char *out, unsigned vc, unsigned fam, const unsigned char *body,
                 size_t blen)
{
    memcpy(out, sig, 12);
    out[12] = (unsigned char)vc;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(blen >> 8);
    out[15] = (unsigned char)blen;
    if (blen) memcpy(out + 16, body, blen);
    return 16 + blen;
}

static const unsigned char a4[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb};

static void set_crc(unsigned char *h, size_t n, size_t at)
{
    memset(h + at, 0, 4);
    uint32_t c = pp_crc32c(0, h, n);
    for (int k = 0; k < 4; k++)
        h[at + (size_t)k] = (unsigned char)(c >> (24 - 8 * k));
}

static void test_v2_valid(void)
{
    unsigned char h[PP_MAX + 16], body[PP_MAX];
    size_t n = v2(h, 0x21, 0x11, a4, sizeof a4);
    struct pp_header r = accept_hdr("v2 PROXY TCP4", h, n);
    char s[64];
    inet_ntop(AF_INET, r.src, s, sizeof s);
    check(r.version == 2 && !r.local && r.family == AF_INET && !strcmp(s, "192.0.2.1") &&
              r.src_port == 56324 && r.dst_port == 443,
          "v2 PROXY TCP4: 192.0.2.1:56324 -> :443 (%s:%u)", s, r.src_port);

    unsigned char a6[36] = {0x20, 0x01, 0x0d,     0xb8,        [15] = 1, [16] = 0x20, 0x01,
                            0x0d, 0xb8, [31] = 2, [32] = 0x30, 0x39,     0x01,        0xbb};
    n = v2(h, 0x21, 0x21, a6, sizeof a6);
    r = accept_hdr("v2 PROXY TCP6", h, n);
    inet_ntop(AF_INET6, r.src, s, sizeof s);
    check(r.family == AF_INET6 && !strcmp(s, "2001:db8::1") && r.src_port == 12345,
          "v2 PROXY TCP6: [2001:db8::1]:12345 (%s)", s);

    n = v2(h, 0x20, 0x00, NULL, 0);
    r = accept_hdr("v2 LOCAL UNSPEC", h, n);
    check(r.local && !r.family, "v2 LOCAL: no client address");
    /* spec 2.2: LOCAL discards the block, whatever family it names. */
    n = v2(h, 0x20, 0xff, (const unsigned char *)"\x01\x02", 2);
    r = accept_hdr("v2 LOCAL with a nonsense family and block", h, n);
    check(r.local && !r.family, "v2 LOCAL with a block: still no client address");

    n = v2(h, 0x21, 0x00, NULL, 0);
    r = accept_hdr("v2 PROXY UNSPEC", h, n);
    check(!r.local && !r.family, "v2 PROXY UNSPEC: the connection's own address stands");
    memset(body, 'u', 216);
    n = v2(h, 0x21, 0x31, body, 216);
    r = accept_hdr("v2 PROXY AF_UNIX STREAM", h, n);
    check(!r.family, "v2 PROXY AF_UNIX: the connection's own address stands");
    n = v2(h, 0x21, 0x12, a4, sizeof a4);
    r = accept_hdr("v2 PROXY AF_INET DGRAM", h, n);
    check(!r.family, "v2 PROXY DGRAM: the connection's own address stands");

    /* TLVs: authority, unique ID, CRC32C, and skipped ones around them. */
    size_t b = 0;
    memcpy(body, a4, 12), b = 12;
    memcpy(body + b, "\x01\x00\x08http/1.1", 11), b += 11; /* ALPN */
    memcpy(body + b,
           "\x02\x00\x0b"
           "example.com",
           14),
        b += 14;                                                 /* AUTHORITY */
    memcpy(body + b, "\x04\x00\x03\x00\x00\x00", 6), b += 6;     /* NOOP */
    memcpy(body + b, "\x05\x00\x04\xde\xad\xbe\xef", 7), b += 7; /* UNIQUE_ID */
    memcpy(body + b, "\x20\x00\x0d\x01\x00\x00\x00\x00\x21\x00\x07TLSv1.3", 16), b += 16; /* SSL */
    memcpy(body + b, "\xe0\x00\x00", 3), b += 3;                 /* custom, empty */
    memcpy(body + b, "\x03\x00\x04\x00\x00\x00\x00", 7), b += 7; /* CRC32C */
    n = v2(h, 0x21, 0x11, body, b);
    set_crc(h, n, n - 4);
    r = accept_hdr("v2 TLVs ALPN AUTHORITY NOOP UNIQUE_ID SSL custom CRC32C", h, n);
    check(!strcmp(r.authority, "example.com") && r.unique_id_len == 4 &&
              !memcmp(r.unique_id, "\xde\xad\xbe\xef", 4) && r.crc_checked,
          "v2 TLVs: authority example.com, unique ID deadbeef, CRC checked");
    h[n - 1] ^= 1;
    refuse("v2 CRC32C one bit off", h, n, "CRC32C mismatch");
    h[n - 1] ^= 1;
    h[20] ^= 1; /* the source address, under the CRC */
    refuse("v2 CRC32C over a changed address", h, n, "CRC32C mismatch");

    /* A unique ID of 128 bytes, the most the spec allows. */
    memcpy(body, a4, 12);
    memcpy(body + 12, "\x05\x00\x80", 3);
    memset(body + 15, 'i', 128);
    n = v2(h, 0x21, 0x11, body, 12 + 3 + 128);
    r = accept_hdr("v2 unique ID of 128 bytes", h, n);
    check(r.unique_id_len == 128, "v2 unique ID of 128 bytes kept");
    /* The largest header taken: one NOOP filling 2048 bytes. */
    memcpy(body, a4, 12);
    body[12] = 4, body[13] = (2048 - 15) >> 8, body[14] = (2048 - 15) & 255;
    memset(body + 15, 0, 2048 - 15);
    n = v2(h, 0x21, 0x11, body, 2048);
    accept_hdr("v2 header of 16 + 2048 bytes", h, n);
}

static void test_v2_hostile(void)
{
    unsigned char h[PP_MAX + 70000], body[70000];
    size_t n = v2(h, 0x21, 0x11, a4, sizeof a4);
    for (int k = 0; k < 12; k++) {
        char name[64];
        snprintf(name, sizeof name, "v2 signature byte %d wrong", k);
        h[k] ^= 0x40;
        refuse(name, h, n, "no PROXY header");
        h[k] ^= 0x40;
    }
    n = v2(h, 0x11, 0x11, a4, sizeof a4);
    refuse("v2 version 1 in the binary form", h, n, "version");
    n = v2(h, 0x31, 0x11, a4, sizeof a4);
    refuse("v2 version 3", h, n, "version");
    n = v2(h, 0x22, 0x11, a4, sizeof a4);
    refuse("v2 command 2", h, n, "command");
    n = v2(h, 0x2f, 0x11, a4, sizeof a4);
    refuse("v2 command 15", h, n, "command");
    n = v2(h, 0x21, 0x41, a4, sizeof a4);
    refuse("v2 family 4", h, n, "family");
    n = v2(h, 0x21, 0x13, a4, sizeof a4);
    refuse("v2 transport 3", h, n, "family");
    n = v2(h, 0x21, 0x11, a4, 11);
    refuse("v2 TCP4 with 11 address bytes", h, n, "shorter than the addresses");
    n = v2(h, 0x21, 0x21, a4, 12);
    refuse("v2 TCP6 with 12 address bytes", h, n, "shorter than the addresses");
    n = v2(h, 0x21, 0x31, a4, 12);
    refuse("v2 AF_UNIX with 12 address bytes", h, n, "shorter than the addresses");
    memset(body, 0, sizeof body);
    n = v2(h, 0x21, 0x11, body, 2049);
    refuse("v2 length 2049", h, n, "longer than");
    n = v2(h, 0x21, 0x11, body, 65535);
    refuse("v2 length 65535", h, n, "longer than");

    /* TLVs. */
    struct {
        const char *name, *tlv;
        size_t len;
        const char *why;
    } t[] = {
        {"v2 TLV of 1 byte", "\x04", 1, "truncated TLV"},
        {"v2 TLV of 2 bytes", "\x04\x00", 2, "truncated TLV"},
        {"v2 TLV longer than the header", "\x04\x00\x05\x00", 4, "runs past"},
        {"v2 TLV length 65535", "\x04\xff\xff\x00", 4, "runs past"},
        {"v2 empty authority", "\x02\x00\x00", 3, "authority"},
        {"v2 authority with a space", "\x02\x00\x03\x61\x20\x62", 6, "authority"},
        {"v2 authority with a NUL", "\x02\x00\x03\x61\x00\x62", 6, "authority"},
        {"v2 authority with a newline", "\x02\x00\x02\x61\n", 5, "authority"},
        {"v2 two authorities", "\x02\x00\x01\x61\x02\x00\x01\x62", 8, "authority"},
        {"v2 two unique IDs", "\x05\x00\x01\x61\x05\x00\x01\x62", 8, "unique ID"},
        {"v2 CRC32C of 3 bytes", "\x03\x00\x03\x00\x00\x00", 6, "CRC32C"},
        {"v2 CRC32C of 5 bytes", "\x03\x00\x05\x00\x00\x00\x00\x00", 8, "CRC32C"},
        {"v2 CRC32C zero", "\x03\x00\x04\x00\x00\x00\x00", 7, "CRC32C mismatch"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        memcpy(body, a4, 12);
        memcpy(body + 12, t[i].tlv, t[i].len);
        n = v2(h, 0x21, 0x11, body, 12 + t[i].len);
        refuse(t[i].name, h, n, t[i].why);
    }
    memcpy(body, a4, 12);
    memcpy(body + 12, "\x05\x00\x81", 3);
    memset(body + 15, 'i', 129);
    n = v2(h, 0x21, 0x11, body, 12 + 3 + 129);
    refuse("v2 unique ID of 129 bytes", h, n, "unique ID");
    memcpy(body + 12, "\x02\x01\x00", 3);
    memset(body + 15, 'a', 256);
    n = v2(h, 0x21, 0x11, body, 12 + 3 + 256);
    refuse("v2 authority of 256 bytes", h, n, "authority");
    /* Both signatures mixed: v2 start, v1 after. */
    refuse("v2 signature start then PROXY", (const unsigned char *)"\r\nPROXY ", 8,
           "no PROXY header");
}

/* Truncation at every byte of a long header, and no byte of what follows
 * taken, whatever the split between two reads. */
static void test_splits(void)
{
    unsigned char h[256], body[128], buf[300];
    memcpy(body, a4, 12);
    memcpy(body + 12,
           "\x02\x00\x0b"
           "example.com\x03\x00\x04\x00\x00\x00\x00",
           21);
    size_t n = v2(h, 0x21, 0x11, body, 33);
    set_crc(h, n, n - 4);
    memcpy(buf, h, n);
    memcpy(buf + n, hello, sizeof hello);
    int ok = 1;
    for (size_t k = 0; k <= n + sizeof hello; k++) {
        struct pp_parser p;
        pp_init(&p);
        size_t u1, u2;
        enum pp_status s1 = pp_feed(&p, buf, k, &u1);
        enum pp_status s2 =
            s1 == PP_DONE ? PP_DONE : pp_feed(&p, buf + k, n + sizeof hello - k, &u2);
        size_t used = s1 == PP_DONE ? u1 : u1 + u2;
        if (s2 != PP_DONE || used != n || !p.hdr.crc_checked) ok = 0;
    }
    check(ok, "v2 with TLVs split in two reads at every offset: header only, CRC checked");
    const char *l = "PROXY TCP6 2001:db8::1 2001:db8::2 1 443\r\n";
    n = strlen(l);
    memcpy(buf, l, n);
    memcpy(buf + n, hello, sizeof hello);
    ok = 1;
    for (size_t k = 0; k <= n + sizeof hello; k++) {
        struct pp_parser p;
        pp_init(&p);
        size_t u1, u2;
        enum pp_status s1 = pp_feed(&p, buf, k, &u1);
        enum pp_status s2 =
            s1 == PP_DONE ? PP_DONE : pp_feed(&p, buf + k, n + sizeof hello - k, &u2);
        size_t used = s1 == PP_DONE ? u1 : u1 + u2;
        if (s2 != PP_DONE || used != n) ok = 0;
    }
    check(ok, "v1 split in two reads at every offset: header only");
}

static void roundtrip(const char *name, const struct pp_header *in, int ver, int crc)
{
    unsigned char out[PP_MAX];
    long n = ver == 1 ? pp_encode_v1(in, out, sizeof out) : pp_encode_v2(in, crc, out, sizeof out);
    struct pp_parser p;
    size_t used;
    pp_init(&p);
    enum pp_status st = n > 0 ? pp_feed(&p, out, (size_t)n, &used) : PP_ERROR;
    const struct pp_header *r = &p.hdr;
    size_t w = in->family == AF_INET ? 4 : 16;
    int same = st == PP_DONE && used == (size_t)n && r->family == (in->local ? 0 : in->family) &&
               (!r->family || (!memcmp(r->src, in->src, w) && !memcmp(r->dst, in->dst, w) &&
                               r->src_port == in->src_port && r->dst_port == in->dst_port));
    if (ver == 2)
        same = same && r->local == (in->local || !in->family) && r->crc_checked == (crc != 0) &&
               (in->local ||
                (!strcmp(r->authority, in->authority) && r->unique_id_len == in->unique_id_len &&
                 !memcmp(r->unique_id, in->unique_id, in->unique_id_len)));
    check(same, "encode v%d %s: parses back the same (%ld bytes)", ver, name, n);
}

static void test_encode(void)
{
    struct pp_header h = {.family = AF_INET, .src_port = 65535, .dst_port = 0};
    inet_pton(AF_INET, "203.0.113.7", h.src);
    inet_pton(AF_INET, "10.1.2.3", h.dst);
    unsigned char out[PP_MAX];
    long n = pp_encode_v1(&h, out, sizeof out);
    check(n > 0 && !memcmp(out, "PROXY TCP4 203.0.113.7 10.1.2.3 65535 0\r\n", (size_t)n),
          "encode v1 TCP4: the exact line");
    roundtrip("TCP4", &h, 1, 0);
    roundtrip("TCP4", &h, 2, 0);
    roundtrip("TCP4 with CRC32C", &h, 2, 1);
    strcpy(h.authority, "www.example.test");
    memcpy(h.unique_id, "\x00\x01\x02", 3);
    h.unique_id_len = 3;
    roundtrip("TCP4 with authority, unique ID and CRC32C", &h, 2, 1);
    struct pp_header h6 = {.family = AF_INET6, .src_port = 1, .dst_port = 443};
    inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", h6.src);
    inet_pton(AF_INET6, "::1", h6.dst);
    roundtrip("TCP6", &h6, 1, 0);
    roundtrip("TCP6", &h6, 2, 1);
    struct pp_header u = {0};
    n = pp_encode_v1(&u, out, sizeof out);
    check(n == 15 && !memcmp(out, "PROXY UNKNOWN\r\n", 15), "encode v1 UNKNOWN");
    roundtrip("UNKNOWN", &u, 1, 0);
    u.local = 1;
    n = pp_encode_v2(&u, 0, out, sizeof out);
    check(n == 16 && out[12] == 0x20 && out[13] == 0 && out[14] == 0 && out[15] == 0,
          "encode v2 LOCAL: 16 bytes, family UNSPEC, length 0");
    roundtrip("LOCAL", &u, 2, 0);
    check(pp_encode_v1(&h, out, 20) == -1, "encode v1 into 20 bytes refused");
    check(pp_encode_v2(&h, 1, out, 40) == -1, "encode v2 into 40 bytes refused");
    h.unique_id_len = 129;
    check(pp_encode_v2(&h, 0, out, sizeof out) == -1,
          "encode v2 with a 129-byte unique ID refused");
}

static void test_crc_allow(void)
{
    check(pp_crc32c(0, (const unsigned char *)"123456789", 9) == 0xE3069283u,
          "CRC-32C of \"123456789\" is E3069283 (the algorithm's check value)");
    struct pp_allow a = {0};
    check(!pp_allow_add(&a, "10.0.0.0/8") && !pp_allow_add(&a, "192.0.2.7") &&
              !pp_allow_add(&a, "2001:db8::/32") && !pp_allow_add(&a, "::1"),
          "allow: 10.0.0.0/8, 192.0.2.7, 2001:db8::/32, ::1 parse");
    check(pp_allow_add(&a, "10.0.0.1/8") && pp_allow_add(&a, "10.0.0.0/33") &&
              pp_allow_add(&a, "example.com") && pp_allow_add(&a, "") &&
              pp_allow_add(&a, "10.0.0.0/") && pp_allow_add(&a, "::/129"),
          "allow: host bits past the prefix, /33, names, empty, bad prefixes refused");
    struct {
        int af;
        const char *addr;
        int want;
    } m[] = {
        {AF_INET, "10.255.0.1", 1},
        {AF_INET, "11.0.0.1", 0},
        {AF_INET, "192.0.2.7", 1},
        {AF_INET, "192.0.2.8", 0},
        {AF_INET6, "2001:db8:ffff::1", 1},
        {AF_INET6, "2001:db9::1", 0},
        {AF_INET6, "::1", 1},
        {AF_INET6, "::2", 0},
        {AF_INET6, "::ffff:10.0.0.9", 1},
        {AF_INET6, "::ffff:11.0.0.9", 0},
        {AF_INET6, "::10.0.0.9", 0},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        unsigned char b[16];
        inet_pton(m[i].af, m[i].addr, b);
        check(pp_allow_match(&a, m[i].af, b) == m[i].want, "allow: %s %s", m[i].addr,
              m[i].want ? "matches" : "does not match");
    }
    struct pp_allow full = {0};
    int ok = 1;
    for (int i = 0; i < PP_ALLOW_MAX; i++)
        ok &= !pp_allow_add(&full, "127.0.0.1");
    check(ok && pp_allow_add(&full, "127.0.0.1") == -1, "allow: %d ranges, then refused",
          PP_ALLOW_MAX);
    check(!pp_allow_match(&full, AF_UNIX, (const unsigned char *)"0123456789abcdef"),
          "allow: another family never matches");
}

/* Headers captured from HAProxy 2.6 (tests/interop/87): its CRC32C must
 * check here, its SSL TLV (client, verify, a version sub-TLV) be skipped. */
static void test_haproxy_captures(void)
{
    static const char *const caps[][2] = {
        {"haproxy send-proxy-v2 crc32c,unique-id",
         "0d0a0d0a000d0a515549540a211100257f0000017f000001af0253fe0300047ca61c5005000f3132372e302e"
         "302e313a3434383032"},
        {"haproxy send-proxy-v2-ssl-cn authority,crc32c",
         "0d0a0d0a000d0a515549540a2111003c7f0000017f000001d51c5c3503000444b4048402001470726f7869"
         "65642e6578616d706c652e7465737420000f0100000000210007544c5376312e33"},
        {"haproxy health check send-proxy-v2", "0d0a0d0a000d0a515549540a20000000"},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        unsigned char h[256];
        size_t n = strlen(caps[i][1]) / 2;
        for (size_t k = 0; k < n; k++)
            sscanf(caps[i][1] + 2 * k, "%2hhx", &h[k]);
        struct pp_header r = accept_hdr(caps[i][0], h, n);
        check(i == 2 ? r.local : r.crc_checked && r.src_port == (i ? 54556 : 44802), "%s: %s",
              caps[i][0], i == 2 ? "LOCAL" : "CRC32C checks, source port kept");
        if (i == 1)
            check(!strcmp(r.authority, "proxied.example.test"),
                  "%s: the authority is the SNI the client sent", caps[i][0]);
    }
}

/* Between headers and socket addresses, both ways. */
static void test_sockaddr(void)
{
    struct sockaddr_in c4 = {.sin_family = AF_INET, .sin_port = htons(40000)};
    struct sockaddr_in l4 = {.sin_family = AF_INET, .sin_port = htons(443)};
    inet_pton(AF_INET, "203.0.113.9", &c4.sin_addr);
    inet_pton(AF_INET, "10.0.0.1", &l4.sin_addr);
    struct pp_header h;
    unsigned char out[PP_MAX];
    pp_from_addrs(&h, (struct sockaddr *)&c4, (struct sockaddr *)&l4);
    long n = pp_encode_v1(&h, out, sizeof out);
    check(n > 0 && !memcmp(out, "PROXY TCP4 203.0.113.9 10.0.0.1 40000 443\r\n", (size_t)n),
          "from addresses: IPv4 pair, v1 line");
    struct sockaddr_in6 c6 = {.sin6_family = AF_INET6, .sin6_port = htons(5)};
    struct sockaddr_in6 l6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "::ffff:198.51.100.7", &c6.sin6_addr);
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &l6.sin6_addr);
    pp_from_addrs(&h, (struct sockaddr *)&c6, (struct sockaddr *)&l6);
    n = pp_encode_v1(&h, out, sizeof out);
    check(n > 0 && !memcmp(out, "PROXY TCP4 198.51.100.7 10.0.0.1 5 443\r\n", (size_t)n),
          "from addresses: IPv4-mapped IPv6 pair written as TCP4");
    inet_pton(AF_INET6, "2001:db8::7", &c6.sin6_addr);
    pp_from_addrs(&h, (struct sockaddr *)&c6, (struct sockaddr *)&l6);
    check(h.family == 0, "from addresses: IPv6 client, IPv4 listener: no family (UNKNOWN/LOCAL)");
    inet_pton(AF_INET6, "2001:db8::1", &l6.sin6_addr);
    pp_from_addrs(&h, (struct sockaddr *)&c6, (struct sockaddr *)&l6);
    n = pp_encode_v2(&h, 0, out, sizeof out);
    check(h.family == AF_INET6 && n == 16 + 36 && out[13] == 0x21, "from addresses: IPv6 pair, v2");
    pp_from_addrs(&h, NULL, (struct sockaddr *)&l6);
    check(h.family == 0, "from addresses: no client address: no family");

    struct sockaddr_storage ss;
    unsigned len = 0;
    struct pp_parser p;
    size_t used;
    const char *l = "PROXY TCP6 2001:db8::9 2001:db8::1 65535 443\r\n";
    pp_init(&p);
    pp_feed(&p, (const unsigned char *)l, strlen(l), &used);
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    char s[64] = "";
    int r = pp_client_addr(&p.hdr, &ss, &len);
    inet_ntop(AF_INET6, &a6->sin6_addr, s, sizeof s);
    check(r == 0 && len == sizeof *a6 && a6->sin6_family == AF_INET6 && !strcmp(s, "2001:db8::9") &&
              ntohs(a6->sin6_port) == 65535,
          "client address: TCP6 header to sockaddr_in6 [%s]:%u", s, ntohs(a6->sin6_port));
    l = "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n";
    pp_init(&p);
    pp_feed(&p, (const unsigned char *)l, strlen(l), &used);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    r = pp_client_addr(&p.hdr, &ss, &len);
    check(r == 0 && len == sizeof *a4 && a4->sin_family == AF_INET &&
              a4->sin_addr.s_addr == htonl(0xc0000201) && ntohs(a4->sin_port) == 1,
          "client address: TCP4 header to sockaddr_in");
    pp_init(&p);
    pp_feed(&p, (const unsigned char *)"PROXY UNKNOWN\r\n", 15, &used);
    check(pp_client_addr(&p.hdr, &ss, &len) == -1, "client address: UNKNOWN names none");
}

int main(void)
{
    test_v1();
    test_v2_valid();
    test_v2_hostile();
    test_splits();
    test_encode();
    test_crc_allow();
    test_haproxy_captures();
    test_sockaddr();
    return failures ? 1 : 0;
}
