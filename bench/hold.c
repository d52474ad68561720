/* Idle connections for make bench: opens N TLS 1.3 connections (moat's
 * engine as client, TLS_AES_128_GCM_SHA256, x25519), completes each
 * handshake, then holds them all open without sending anything.
 *
 *   hold -p PORT -n N [-t SECONDS] [-s] [-2]
 *
 * -s spreads the connections over source addresses 127.0.0.2, .3, ...
 * (20,000 each: one address has about 28,000 ephemeral ports). -2 offers
 * ALPN h2 only and, once the handshake is done, sends the HTTP/2 preface
 * and an empty SETTINGS frame (RFC 9113 3.4), so the server holds an
 * idle HTTP/2 session.
 *
 * Prints "held N failed F" once all are open, then waits until stdin
 * closes, a line arrives on it, or -t seconds pass (default 60); then
 * prints "alive A" (connections the server had not closed) and exits.
 * Raise the file limit (ulimit -n) above N first. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "moat/tls.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* The HTTP/2 connection preface and an empty SETTINGS frame. */
static const char h2_hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";

static int handshake(const moat_tls_config *cfg, int port, int src, int h2)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (src) {
        /* The port is chosen at connect, per address pair, not at bind. */
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in b = {.sin_family = AF_INET};
        b.sin_addr.s_addr = htonl(0x7f000000u + (uint32_t)src);
        if (bind(fd, (struct sockaddr *)&b, sizeof b) < 0) {
            close(fd);
            return -1;
        }
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    moat_tls *t = NULL;
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (!r) r = (t = moat_tls_client_new(cfg, "localhost")) ? 0 : -1;
    if (!r) r = moat_tls_start(t, &out);
    uint8_t in[16384];
    while (!r) {
        if (out.len) {
            ssize_t n = write(fd, out.base, out.len);
            if (n <= 0) {
                r = -1;
                break;
            }
            moat_buf_consume(&out, (size_t)n);
            continue;
        }
        if (moat_tls_handshake_done(t)) {
            if (!h2) break;
            h2 = 0;
            r = moat_tls_send(t, &out, h2_hello, sizeof h2_hello - 1);
            continue;
        }
        ssize_t n = read(fd, in, sizeof in);
        if (n <= 0) {
            r = -1;
            break;
        }
        r = moat_tls_recv(t, in, (size_t)n, &out, &app);
    }
    moat_tls_free(t); /* the socket stays open; the client keeps no TLS state */
    moat_buf_free(&out);
    moat_buf_free(&app);
    if (r) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    int port = 0, n = 5000, limit = 60, opt, spread = 0, h2 = 0;
    while ((opt = getopt(argc, argv, "p:n:t:s2")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 't': limit = atoi(optarg); break;
        case 's': spread = 1; break;
        case '2': h2 = 1; break;
        default: fprintf(stderr, "usage: hold -p PORT -n N [-t SECONDS] [-s] [-2]\n"); return 2;
        }
    }
    if (port <= 0 || n <= 0 || n > 1000000) return 2;
    moat_tls_config *cfg = moat_tls_config_new();
    uint16_t suite = MOAT_TLS_AES_128_GCM_SHA256, group = MOAT_GROUP_X25519;
    const char *alpn[] = {h2 ? "h2" : "http/1.1"};
    if (!cfg || moat_tls_config_set_ciphers(cfg, &suite, 1) || moat_tls_config_set_groups(cfg, &group, 1) ||
        moat_tls_config_set_alpn(cfg, alpn, 1))
        return 1;
    moat_tls_config_set_verify(cfg, 0);
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) return 1;
    int held = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int fd = handshake(cfg, port, spread ? 2 + i / 20000 : 0, h2);
        if (fd < 0)
            failed++;
        else
            fds[held++] = fd;
    }
    printf("held %d failed %d\n", held, failed);
    fflush(stdout);
    struct pollfd p = {.fd = 0, .events = POLLIN};
    poll(&p, 1, limit * 1000);
    /* A connection the server closed reads EOF (or an error); one still
     * open would block, or has only tickets waiting. */
    int alive = 0;
    for (int i = 0; i < held; i++) {
        struct pollfd q = {.fd = fds[i], .events = POLLRDHUP};
        if (poll(&q, 1, 0) == 0) alive++;
        close(fds[i]);
    }
    printf("alive %d\n", alive);
    moat_tls_config_free(cfg);
    return 0;
}
