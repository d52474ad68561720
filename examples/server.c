/* A blocking HTTPS server on moat's TLS 1.3 engine: listens on
 * 127.0.0.1:PORT and answers every request with a line of text, one
 * connection at a time (COUNT connections, then it exits; 0: forever).
 *
 *   cc server.c $(pkg-config --cflags --libs moat) -o server
 *   ./server PORT CERT-FILE KEY-FILE [COUNT]
 *
 * The engine holds no socket: we read bytes, hand them to moat_tls_recv,
 * and send whatever it appended to `out`. See docs/embedding.md. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <moat/http.h>
#include <moat/tls.h>
#include <moat/tlsfile.h>

/* Sends every byte the engine queued in out, then empties it. */
static int flush(int fd, moat_buf *out)
{
    for (size_t off = 0; off < out->len;) {
        ssize_t n = write(fd, out->base + off, out->len - off);
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    moat_buf_clear(out);
    return 0;
}

/* One connection: the handshake, one request head, one answer, close_notify. */
static void serve(int fd, const moat_tls_config *cfg)
{
    moat_buf out, app, resp;
    moat_buf_init(&out);
    moat_buf_init(&app);
    moat_buf_init(&resp);
    moat_http_request req;
    uint8_t in[16384];
    int head = 0;
    moat_tls *t = moat_tls_server_new(cfg);
    /* Feed the engine until the request head is complete (head > 0). */
    while (t && head == 0) {
        ssize_t n = read(fd, in, sizeof in);
        if (n <= 0) goto done;
        int r = moat_tls_recv(t, in, (size_t)n, &out, &app);
        if (flush(fd, &out) < 0) goto done; /* handshake replies, or the alert */
        if (r) {
            fprintf(stderr, "server: %s\n", moat_strerror(r));
            goto done;
        }
        if (moat_tls_peer_closed(t)) goto done;
        if (moat_tls_handshake_done(t) && app.len)
            head = moat_http_parse_request((const char *)app.base, app.len, &req);
    }
    if (!t) goto done;
    int status = head > 0 ? 200 : -head; /* a malformed request: its 4xx or 5xx */
    char body[256];
    int blen = snprintf(body, sizeof body, "hello from moat over %s, %s\n",
                        moat_tls_cipher_name(moat_tls_get_cipher(t)),
                        moat_tls_group_name(moat_tls_get_group(t)));
    if (moat_http_write_status(&resp, status) ||
        moat_http_write_header(&resp, "Content-Type", "text/plain") ||
        moat_http_write_header(&resp, "Content-Length", "%d", blen) ||
        moat_http_write_header(&resp, "Connection", "close") || moat_buf_append(&resp, "\r\n", 2) ||
        moat_buf_append(&resp, body, (size_t)blen))
        goto done;
    if (moat_tls_send(t, &out, resp.base, resp.len) == 0 && moat_tls_close(t, &out) == 0)
        flush(fd, &out);
    fprintf(stderr, "server: answered %d over %s\n", status,
            moat_tls_cipher_name(moat_tls_get_cipher(t)));
done:
    moat_tls_free(t);
    moat_buf_free(&out);
    moat_buf_free(&app);
    moat_buf_free(&resp);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: server PORT CERT-FILE KEY-FILE [COUNT]\n");
        return 2;
    }
    const char *alpn[] = {"http/1.1"};
    char err[256];
    long count = argc > 4 ? atol(argv[4]) : 0;
    moat_tls_config *cfg = moat_tls_config_new();
    if (!cfg) return 1;
    if (moat_tls_config_add_cert_file(cfg, argv[2], argv[3], err, sizeof err)) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    moat_tls_config_set_alpn(cfg, alpn, 1);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 16)) {
        perror("server: listen");
        return 1;
    }
    fprintf(stderr, "server: listening on 127.0.0.1:%s\n", argv[1]);
    for (long i = 0; count == 0 || i < count; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        serve(fd, cfg);
        close(fd);
    }
    close(lfd);
    moat_tls_config_free(cfg);
    return 0;
}
