/* The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2):
 * a parser fed bytes as they arrive, an encoder, and the allow-list of
 * peers that may send a header. Internal to moat; no sockets. */
#ifndef MOAT_HTTP_PROXYPROTO_H
#define MOAT_HTTP_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

/* Caps. v1: 107 bytes with the CRLF (spec 2.1: the longest TCP6 line is
 * 104; a receiver needs no more than 107). v2: the 16-byte fixed part and
 * at most PP_V2_MAX_LEN bytes after it (spec 2.2 allows 65535; addresses
 * take 216 at most, and what HAProxy adds, the authority, a unique ID of
 * 128, the SSL TLVs with a client certificate's CN, fits well under 2048;
 * a longer header is refused rather than buffered). */
#define PP_V1_MAX 107
#define PP_V2_HDR 16
#define PP_V2_MAX_LEN 2048
#define PP_MAX (PP_V2_HDR + PP_V2_MAX_LEN)
#define PP_AUTHORITY_MAX 255 /* a host name, as SNI (RFC 6066 3) */
#define PP_UNIQUE_ID_MAX 128 /* spec 2.2.5 */

/* v2 TLV types kept or checked (spec 2.2). */
#define PP2_TYPE_ALPN 0x01
#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_CRC32C 0x03
#define PP2_TYPE_NOOP 0x04
#define PP2_TYPE_UNIQUE_ID 0x05
#define PP2_TYPE_SSL 0x20

enum pp_status {
    PP_NEED_MORE = 0, /* all of the input was taken; the header goes on */
    PP_DONE = 1,      /* the header ended; *used says where */
    PP_ERROR = -1     /* not a valid header: close the connection; p->why says why */
};

/* What a header says. family is AF_INET or AF_INET6 with the addresses
 * (network order, 4 or 16 bytes used) and ports; or 0 when the header
 * gives no client address to use: v1 UNKNOWN, a v2 LOCAL command (a
 * balancer's health check), or a v2 family moat does not take (UNSPEC,
 * AF_UNIX, DGRAM), for which the connection's own addresses stand. */
struct pp_header {
    int version; /* 1 or 2 */
    int local;   /* v2 LOCAL command */
    int family;  /* AF_INET, AF_INET6 or 0 */
    unsigned char src[16], dst[16];
    uint16_t src_port, dst_port;
    char authority[PP_AUTHORITY_MAX + 1]; /* PP2_TYPE_AUTHORITY, NUL-terminated, "" if none */
    unsigned char unique_id[PP_UNIQUE_ID_MAX];
    size_t unique_id_len;
    int crc_checked; /* a PP2_TYPE_CRC32C was present and matched */
};

/* The parser: zero it (or pp_init) per connection; about 2 KB, and only
 * while the header is read. */
struct pp_parser {
    unsigned char buf[PP_MAX];
    size_t len;
    size_t need; /* v2: the whole header's length once the fixed part is in; else 0 */
    int version; /* 0 until the first byte says which */
    const char *why;
    struct pp_header hdr;
};

void pp_init(struct pp_parser *p);

/* Feeds the next n bytes read from the connection. Takes only bytes of
 * the header: on PP_DONE *used is how many of these n belonged to it, and
 * what follows (the TLS ClientHello, often in the same read) is the
 * caller's; the result is in p->hdr. On PP_NEED_MORE all n were taken
 * (*used == n). On PP_ERROR p->why names the fault, a static string fit
 * for a log; a header that has failed stays failed. Bytes that cannot
 * start a header are refused at once (a ClientHello where a header should
 * be fails on its first byte). Fed again once done, it takes nothing and
 * answers PP_DONE. */
enum pp_status pp_feed(struct pp_parser *p, const unsigned char *in, size_t n, size_t *used);

/* Writes a v1 line for h into out (at most PP_V1_MAX bytes): TCP4 or
 * TCP6, or "PROXY UNKNOWN\r\n" when h->family is 0. Returns its length,
 * or -1 if cap is too small. */
long pp_encode_v1(const struct pp_header *h, unsigned char *out, size_t cap);

/* Writes a v2 header for h: PROXY with the addresses, or LOCAL when
 * h->local or h->family is 0; the authority and unique ID TLVs when set,
 * and a PP2_TYPE_CRC32C TLV when crc is non-zero. Returns its length, or
 * -1 if cap is too small or a field is over its cap. */
long pp_encode_v2(const struct pp_header *h, int crc, unsigned char *out, size_t cap);

/* The client's address from a header, as the socket layer would give it
 * (struct sockaddr_in or sockaddr_in6 in *out, *len set), for the access
 * log, X-Forwarded-For and per-address limits. Returns 0, or -1 when the
 * header names no client (h->family 0: keep the connection's own). */
struct sockaddr_storage;
int pp_client_addr(const struct pp_header *h, struct sockaddr_storage *out, unsigned *len);

/* Fills a header for the encoders from a connection's two ends (a client's
 * address and the listener's): AF_INET or AF_INET6 on both, an IPv4-mapped
 * IPv6 pair written as IPv4, as HAProxy does; anything else gives a header
 * with family 0 (v1 UNKNOWN, v2 LOCAL). Zeroes h first. */
struct sockaddr;
void pp_from_addrs(struct pp_header *h, const struct sockaddr *src, const struct sockaddr *dst);

/* CRC-32C (Castagnoli, RFC 4960 Appendix B), as PP2_TYPE_CRC32C uses it
 * (spec 2.2.3); crc is 0 to start, or a previous result to go on. */
uint32_t pp_crc32c(uint32_t crc, const unsigned char *p, size_t n);

/* The peers allowed to send a header (--proxy-protocol-from CIDR). */
#define PP_ALLOW_MAX 64
struct pp_allow {
    unsigned char net[PP_ALLOW_MAX][32]; /* address then mask, as crypto_cidr_parse gives */
    unsigned char len[PP_ALLOW_MAX];     /* 8 (IPv4) or 32 (IPv6) */
    size_t n;
};

/* Adds "10.0.0.0/8", "2001:db8::/32" or a bare address (/32, /128).
 * Returns 0, or -1 for a range that does not parse, has bits set past its
 * prefix ("10.0.0.1/8" is refused: a typo more often than a wish), or is
 * one too many. */
int pp_allow_add(struct pp_allow *a, const char *cidr);

/* Whether the peer address (family AF_INET with 4 bytes, AF_INET6 with 16)
 * is in the list. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
 * dual-stack listener reports for an IPv4 peer) matches IPv4 ranges. */
int pp_allow_match(const struct pp_allow *a, int family, const unsigned char *addr);

#endif
