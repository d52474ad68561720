/* The PROXY protocol, versions 1 and 2, after HAProxy's
 * proxy-protocol.txt ("spec" below): a header a balancer sends before the
 * client's own bytes to say whose connection it is. Strict on purpose: a
 * header decides whose address every later log and limit names. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "crypto/x509gen.h"
#include "http/proxyproto.h"

/* spec 2.2: the v2 signature; its 0x00 and "QUIT" make it no valid
 * start of HTTP, TLS or SMTP. */
static const unsigned char v2sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1sig[] = "PROXY ";

void pp_init(struct pp_parser *p)
{
    memset(p, 0, sizeof *p);
}

static enum pp_status fail(struct pp_parser *p, const char *why)
{
    p->why = why;
    p->version = -1;
    return PP_ERROR;
}

static uint16_t be16(const unsigned char *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

uint32_t pp_crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
    /* RFC 4960 Appendix B's CRC32c (reflected polynomial 0x82F63B78), bit
     * by bit: headers are short, and a table would be 1 KB for nothing. */
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

/* spec 2.1: a port is a decimal integer 0..65535, "heading zeroes are
 * not permitted" (no octal doubt), so one value has one spelling. */
static int v1_port(const char *s, uint16_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535) return -1;
    *out = (uint16_t)v;
    return 0;
}

/* Splits "A B C D E" on single spaces into at most max fields; an empty
 * field (two spaces, a space at either end) is an error. */
static int split(char *s, char **f, int max)
{
    int n = 0;
    for (char *p = s;;) {
        if (n == max) return -1;
        f[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp) break;
        *sp = 0;
        p = sp + 1;
    }
    for (int i = 0; i < n; i++)
        if (!f[i][0]) return -1;
    return n;
}

/* spec 2.1: "PROXY" SP proto SP src SP dst SP sport SP dport CRLF, proto
 * TCP4 or TCP6; or "PROXY UNKNOWN" and anything up to the CRLF, which the
 * receiver must ignore (the connection's own addresses stand). */
static enum pp_status parse_v1(struct pp_parser *p)
{
    size_t L = p->len; /* buf[L-1] == '\n' */
    if (L < 8 || p->buf[L - 2] != '\r') return fail(p, "PROXY v1: the line does not end in CRLF");
    char s[PP_V1_MAX + 1];
    size_t n = L - 2 - 6; /* after "PROXY ", before the CRLF */
    memcpy(s, p->buf + 6, n);
    s[n] = 0;
    struct pp_header *h = &p->hdr;
    h->version = 1;
    if (!strncmp(s, "UNKNOWN", 7) && (s[7] == 0 || s[7] == ' ')) return PP_DONE;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return fail(p, "PROXY v1: a control byte in the line");
    char *f[5];
    if (split(s, f, 5) != 5) return fail(p, "PROXY v1: not five fields after PROXY");
    int af;
    if (!strcmp(f[0], "TCP4"))
        af = AF_INET;
    else if (!strcmp(f[0], "TCP6"))
        af = AF_INET6;
    else
        return fail(p, "PROXY v1: protocol neither TCP4, TCP6 nor UNKNOWN");
    /* inet_pton refuses an IPv4 address with a leading zero (spec 2.1:
     * no octal doubt) and one of the other family. */
    if (inet_pton(af, f[1], h->src) != 1) return fail(p, "PROXY v1: bad source address");
    if (inet_pton(af, f[2], h->dst) != 1) return fail(p, "PROXY v1: bad destination address");
    if (v1_port(f[3], &h->src_port) || v1_port(f[4], &h->dst_port))
        return fail(p, "PROXY v1: bad port");
    h->family = af;
    return PP_DONE;
}

/* Validates the CRC32C TLV whose value starts at buf[at] (spec 2.2.3:
 * the checksum of the whole header with that value taken as zero). */
static int crc_ok(struct pp_parser *p, size_t at)
{
    unsigned char saved[4];
    memcpy(saved, p->buf + at, 4);
    memset(p->buf + at, 0, 4);
    uint32_t crc = pp_crc32c(0, p->buf, p->len);
    memcpy(p->buf + at, saved, 4);
    uint32_t want =
        (uint32_t)saved[0] << 24 | (uint32_t)saved[1] << 16 | (uint32_t)saved[2] << 8 | saved[3];
    return crc == want;
}

/* The authority TLV (spec 2.2.2) names a host as the client sent it in
 * SNI; it is logged, so only printable ASCII is taken. */
static int take_authority(struct pp_header *h, const unsigned char *v, size_t l)
{
    if (h->authority[0] || l == 0 || l > PP_AUTHORITY_MAX) return -1;
    for (size_t i = 0; i < l; i++)
        if (v[i] < 0x21 || v[i] > 0x7e) return -1;
    memcpy(h->authority, v, l);
    h->authority[l] = 0;
    return 0;
}

/* spec 2.2: TLVs fill the rest of the header, each type (1), length
 * (2, network order) and value. Unknown ones are skipped, as the spec
 * asks: ALPN, NOOP, SSL with its sub-TLVs, NETNS, custom. A repeated
 * authority, unique ID or CRC is refused: which one counts is unclear. */
static enum pp_status parse_tlvs(struct pp_parser *p, size_t off)
{
    struct pp_header *h = &p->hdr;
    size_t crc_at = 0;
    int seen_id = 0;
    while (off < p->len) {
        if (p->len - off < 3) return fail(p, "PROXY v2: truncated TLV");
        unsigned t = p->buf[off];
        size_t l = be16(p->buf + off + 1);
        const unsigned char *v = p->buf + off + 3;
        if (l > p->len - off - 3) return fail(p, "PROXY v2: a TLV runs past the header");
        switch (t) {
        case PP2_TYPE_AUTHORITY:
            if (take_authority(h, v, l)) return fail(p, "PROXY v2: bad authority TLV");
            break;
        case PP2_TYPE_UNIQUE_ID: /* spec 2.2.5: at most 128 bytes */
            if (seen_id++ || l > PP_UNIQUE_ID_MAX) return fail(p, "PROXY v2: bad unique ID TLV");
            memcpy(h->unique_id, v, l);
            h->unique_id_len = l;
            break;
        case PP2_TYPE_CRC32C:
            if (crc_at || l != 4) return fail(p, "PROXY v2: bad CRC32C TLV");
            crc_at = off + 3;
            break;
        default:
            break;
        }
        off += 3 + l;
    }
    /* spec 2.2.3: a receiver that supports the checksum MUST treat a
     * header whose CRC does not match as invalid. */
    if (crc_at) {
        if (!crc_ok(p, crc_at)) return fail(p, "PROXY v2: CRC32C mismatch");
        h->crc_checked = 1;
    }
    return PP_DONE;
}

/* The 16-byte fixed part (spec 2.2): version 2, command LOCAL or PROXY;
 * family and transport from the lists the spec defines, others refused. */
static enum pp_status check_fixed(struct pp_parser *p)
{
    const unsigned char *b = p->buf;
    if (b[12] >> 4 != 2) return fail(p, "PROXY v2: version is not 2");
    if ((b[12] & 15) > 1) return fail(p, "PROXY v2: command neither LOCAL nor PROXY");
    if ((b[12] & 15) == 1 && (b[13] >> 4 > 3 || (b[13] & 15) > 2))
        return fail(p, "PROXY v2: unknown address family or transport");
    size_t len = be16(b + 14);
    if (len > PP_V2_MAX_LEN) return fail(p, "PROXY v2: header longer than 2064 bytes");
    p->need = PP_V2_HDR + len;
    return PP_NEED_MORE;
}

/* The whole v2 header is in. LOCAL (spec 2.2: health checks and the
 * balancer's own connections): the block is discarded, family and all.
 * PROXY: TCP over IPv4 or IPv6 gives the addresses; UNSPEC, AF_UNIX and
 * DGRAM are accepted with the connection's own addresses, as the spec
 * leaves the receiver free to do; the address block must fit either way. */
static enum pp_status parse_v2(struct pp_parser *p)
{
    struct pp_header *h = &p->hdr;
    const unsigned char *b = p->buf;
    h->version = 2;
    if ((b[12] & 15) == 0) {
        h->local = 1;
        return PP_DONE;
    }
    unsigned af = b[13] >> 4, tp = b[13] & 15;
    static const size_t asize[4] = {0, 12, 36, 216};
    size_t alen = af ? asize[af] : 0;
    if (p->len - PP_V2_HDR < alen) return fail(p, "PROXY v2: length shorter than the addresses");
    const unsigned char *a = b + PP_V2_HDR;
    if (tp == 1 && (af == 1 || af == 2)) {
        size_t w = af == 1 ? 4 : 16;
        memcpy(h->src, a, w);
        memcpy(h->dst, a + w, w);
        h->src_port = be16(a + 2 * w);
        h->dst_port = be16(a + 2 * w + 2);
        h->family = af == 1 ? AF_INET : AF_INET6;
    }
    return parse_tlvs(p, PP_V2_HDR + alen);
}

/* v1: one byte at a time up to the LF, never past it: what follows the
 * header belongs to TLS. */
static enum pp_status feed_v1(struct pp_parser *p, unsigned char c)
{
    if (p->len >= PP_V1_MAX) return fail(p, "PROXY v1: no CRLF within 107 bytes");
    p->buf[p->len++] = c;
    if (p->len <= 6 && c != (unsigned char)v1sig[p->len - 1]) return fail(p, "no PROXY header");
    return c == '\n' ? parse_v1(p) : PP_NEED_MORE;
}

/* v2: the fixed part, then exactly the length it announces. The signature
 * is checked as it arrives, so a stranger is refused early. */
static enum pp_status feed_v2(struct pp_parser *p, const unsigned char *in, size_t n, size_t *took)
{
    size_t want = p->need ? p->need : PP_V2_HDR;
    size_t take = want - p->len < n ? want - p->len : n;
    for (size_t k = p->len; k < p->len + take && k < sizeof v2sig; k++)
        if (in[k - p->len] != v2sig[k]) return fail(p, "no PROXY header");
    memcpy(p->buf + p->len, in, take);
    p->len += take;
    *took = take;
    if (!p->need && p->len == PP_V2_HDR && check_fixed(p) == PP_ERROR) return PP_ERROR;
    if (p->need && p->len == p->need) return parse_v2(p);
    return PP_NEED_MORE;
}

enum pp_status pp_feed(struct pp_parser *p, const unsigned char *in, size_t n, size_t *used)
{
    size_t i = 0;
    enum pp_status st = PP_NEED_MORE;
    *used = 0;
    if (p->version < 0) return PP_ERROR;
    if (p->hdr.version) return PP_DONE; /* done already: the bytes are the caller's */
    while (i < n && st == PP_NEED_MORE) {
        if (p->version == 0) {
            /* spec 2.2: "PROXY" or the v2 signature; the first byte tells. */
            if (in[i] == 'P')
                p->version = 1;
            else if (in[i] == 0x0D)
                p->version = 2;
            else
                return fail(p, in[i] == 0x16 ? "no PROXY header (a TLS record came first)"
                                             : "no PROXY header");
        }
        if (p->version == 1) {
            st = feed_v1(p, in[i++]);
        } else {
            size_t took = 0;
            st = feed_v2(p, in + i, n - i, &took);
            i += took;
        }
    }
    *used = i;
    return st;
}

long pp_encode_v1(const struct pp_header *h, unsigned char *out, size_t cap)
{
    char line[PP_V1_MAX + 1], s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int n;
    if (h->family == AF_INET || h->family == AF_INET6) {
        if (!inet_ntop(h->family, h->src, s, sizeof s) ||
            !inet_ntop(h->family, h->dst, d, sizeof d))
            return -1;
        n = snprintf(line, sizeof line, "PROXY %s %s %s %u %u\r\n",
                     h->family == AF_INET ? "TCP4" : "TCP6", s, d, h->src_port, h->dst_port);
    } else {
        n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
    }
    if (n < 0 || (size_t)n > PP_V1_MAX || (size_t)n > cap) return -1;
    memcpy(out, line, (size_t)n);
    return n;
}

static void put_tlv(unsigned char *o, size_t *off, unsigned t, const void *v, size_t l)
{
    o[*off] = (unsigned char)t;
    o[*off + 1] = (unsigned char)(l >> 8);
    o[*off + 2] = (unsigned char)l;
    memcpy(o + *off + 3, v, l);
    *off += 3 + l;
}

long pp_encode_v2(const struct pp_header *h, int crc, unsigned char *out, size_t cap)
{
    int proxy = !h->local && (h->family == AF_INET || h->family == AF_INET6);
    size_t w = !proxy ? 0 : h->family == AF_INET ? 4 : 16;
    size_t alen = proxy ? 2 * w + 4 : 0, authlen = strlen(h->authority);
    if (authlen > PP_AUTHORITY_MAX || h->unique_id_len > PP_UNIQUE_ID_MAX) return -1;
    size_t total = PP_V2_HDR + alen + (authlen ? 3 + authlen : 0) +
                   (h->unique_id_len ? 3 + h->unique_id_len : 0) + (crc ? 7 : 0);
    if (total > cap) return -1;
    memcpy(out, v2sig, sizeof v2sig);
    out[12] = proxy ? 0x21 : 0x20;
    out[13] = !proxy ? 0x00 : h->family == AF_INET ? 0x11 : 0x21;
    out[14] = (unsigned char)((total - PP_V2_HDR) >> 8);
    out[15] = (unsigned char)(total - PP_V2_HDR);
    size_t off = PP_V2_HDR;
    if (proxy) {
        memcpy(out + off, h->src, w);
        memcpy(out + off + w, h->dst, w);
        off += 2 * w;
        out[off++] = (unsigned char)(h->src_port >> 8);
        out[off++] = (unsigned char)h->src_port;
        out[off++] = (unsigned char)(h->dst_port >> 8);
        out[off++] = (unsigned char)h->dst_port;
    }
    if (authlen) put_tlv(out, &off, PP2_TYPE_AUTHORITY, h->authority, authlen);
    if (h->unique_id_len) put_tlv(out, &off, PP2_TYPE_UNIQUE_ID, h->unique_id, h->unique_id_len);
    if (crc) {
        static const unsigned char zero[4];
        size_t at = off + 3;
        put_tlv(out, &off, PP2_TYPE_CRC32C, zero, 4);
        uint32_t c = pp_crc32c(0, out, total);
        for (int k = 0; k < 4; k++)
            out[at + (size_t)k] = (unsigned char)(c >> (24 - 8 * k));
    }
    return (long)total;
}

int pp_client_addr(const struct pp_header *h, struct sockaddr_storage *out, unsigned *len)
{
    memset(out, 0, sizeof *out);
    if (h->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)out;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, h->src, 4);
        a->sin_port = htons(h->src_port);
        *len = sizeof *a;
        return 0;
    }
    if (h->family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, h->src, 16);
        a->sin6_port = htons(h->src_port);
        *len = sizeof *a;
        return 0;
    }
    return -1;
}

/* One end as (family, address bytes, port); an IPv4-mapped IPv6 address
 * becomes IPv4. Returns the family, or 0 for one the protocol cannot name. */
static int end_of(const struct sockaddr *sa, unsigned char addr[16], uint16_t *port)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memcpy(addr, &a->sin_addr, 4);
        *port = ntohs(a->sin_port);
        return AF_INET;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        *port = ntohs(a->sin6_port);
        if (!memcmp(&a->sin6_addr, mapped, sizeof mapped)) {
            memcpy(addr, (const unsigned char *)&a->sin6_addr + 12, 4);
            return AF_INET;
        }
        memcpy(addr, &a->sin6_addr, 16);
        return AF_INET6;
    }
    return 0;
}

void pp_from_addrs(struct pp_header *h, const struct sockaddr *src, const struct sockaddr *dst)
{
    memset(h, 0, sizeof *h);
    int fs = end_of(src, h->src, &h->src_port), fd = end_of(dst, h->dst, &h->dst_port);
    /* spec 2.1 and 2.2: both ends are of the one family the header names. */
    if (fs && fs == fd) {
        h->family = fs;
    } else {
        memset(h, 0, sizeof *h);
    }
}

int pp_allow_add(struct pp_allow *a, const char *cidr)
{
    if (a->n >= PP_ALLOW_MAX) return -1;
    size_t n = crypto_cidr_parse(cidr, a->net[a->n]);
    if (n == 0) return -1;
    a->len[a->n++] = (unsigned char)n;
    return 0;
}

int pp_allow_match(const struct pp_allow *a, int family, const unsigned char *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    size_t w;
    if (family == AF_INET) {
        w = 4;
    } else if (family == AF_INET6 && !memcmp(addr, mapped, sizeof mapped)) {
        w = 4;
        addr += 12;
    } else if (family == AF_INET6) {
        w = 16;
    } else {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->len[i] != 2 * w) continue;
        size_t k = 0;
        while (k < w && (addr[k] & a->net[i][w + k]) == a->net[i][k])
            k++;
        if (k == w) return 1;
    }
    return 0;
}
