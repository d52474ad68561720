/* Idle connections for make bench: opens N TLS 1.3 connections (moat's
 * engine as client, TLS_AES_128_GCM_SHA256, x25519), completes each
 * handshake, then holds them all open without sending anything.
 *
 *   hold -p PORT -n N [-t SECONDS]
 *
 * Prints "held N failed F" once all are open, then waits until stdin
 * closes, a line arrives on it, or -t seconds pass (default 60); then
 * prints "alive A" (connections the server had not closed) and exits.
 * Raise the file limit (ulimit -n) above N first. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "moat/tls.h"

static int handshake(const moat_tls_config *cfg, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
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
        if (moat_tls_handshake_done(t)) break;
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
    int port = 0, n = 5000, limit = 60, opt;
    while ((opt = getopt(argc, argv, "p:n:t:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 't': limit = atoi(optarg); break;
        default: fprintf(stderr, "usage: hold -p PORT -n N [-t SECONDS]\n"); return 2;
        }
    }
    if (port <= 0 || n <= 0) return 2;
    moat_tls_config *cfg = moat_tls_config_new();
    uint16_t suite = MOAT_TLS_AES_128_GCM_SHA256, group = MOAT_GROUP_X25519;
    const char *alpn[] = {"http/1.1"};
    if (!cfg || moat_tls_config_set_ciphers(cfg, &suite, 1) || moat_tls_config_set_groups(cfg, &group, 1) ||
        moat_tls_config_set_alpn(cfg, alpn, 1))
        return 1;
    moat_tls_config_set_verify(cfg, 0);
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) return 1;
    int held = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int fd = handshake(cfg, port);
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
