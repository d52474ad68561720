/* Reads a captured connection's first bytes (a file or stdin) and runs
 * moat's PROXY protocol parser on them, for tests/interop/87: whole and
 * one byte at a time, which must agree. Prints one line:
 *
 *   ok v=2 cmd=PROXY family=TCP4 src=ADDR:PORT dst=ADDR:PORT
 *      authority=NAME unique_id=HEX crc=yes|no used=N rest=HEX
 *
 * (rest: the bytes after the header, the client's own), or
 * "error WHY" / "incomplete". Exit 0 for ok, 1 otherwise. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "http/proxyproto.h"

static void hex(const unsigned char *p, size_t n)
{
    if (!n) printf("-");
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static void addr(const char *k, int af, const unsigned char *a, unsigned port)
{
    char s[INET6_ADDRSTRLEN] = "?";
    inet_ntop(af, a, s, sizeof s);
    printf(af == AF_INET6 ? " %s=[%s]:%u" : " %s=%s:%u", k, s, port);
}

static void print_header(const struct pp_header *h)
{
    printf(" v=%d cmd=%s family=%s", h->version,
           h->version == 1 ? "-"
           : h->local      ? "LOCAL"
                           : "PROXY",
           h->family == AF_INET    ? "TCP4"
           : h->family == AF_INET6 ? "TCP6"
                                   : "none");
    if (h->family) {
        addr("src", h->family, h->src, h->src_port);
        addr("dst", h->family, h->dst, h->dst_port);
    }
    printf(" authority=%s unique_id=", h->authority[0] ? h->authority : "-");
    hex(h->unique_id, h->unique_id_len);
    printf(" crc=%s", h->crc_checked ? "yes" : "no");
}

int main(int argc, char **argv)
{
    static unsigned char in[1 << 20];
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : stdin;
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    size_t n = fread(in, 1, sizeof in, f);
    static struct pp_parser a, b;
    size_t used, u, used_b = 0;
    pp_init(&a);
    pp_init(&b);
    enum pp_status st = pp_feed(&a, in, n, &used), sb = PP_NEED_MORE;
    for (size_t i = 0; i < n && sb == PP_NEED_MORE; i++) {
        sb = pp_feed(&b, in + i, 1, &u);
        used_b += u;
    }
    if (st != sb || (st == PP_DONE && (used != used_b || memcmp(&a.hdr, &b.hdr, sizeof a.hdr)))) {
        printf("error whole and byte by byte disagree\n");
        return 1;
    }
    if (st == PP_ERROR) {
        printf("error %s\n", a.why);
        return 1;
    }
    if (st == PP_NEED_MORE) {
        printf("incomplete after %zu bytes\n", n);
        return 1;
    }
    printf("ok");
    print_header(&a.hdr);
    printf(" used=%zu rest=", used);
    hex(in + used, n - used);
    printf("\n");
    return 0;
}
