/* A blocking HTTPS client on moat's TLS 1.3 engine: connects to HOST:PORT,
 * asks for PATH and writes the answer (head and body) to stdout.
 *
 *   cc client.c $(pkg-config --cflags --libs moat) -o client
 *   ./client HOST PORT [CA-FILE [PATH]]    (no CA-FILE: the system store)
 *
 * The engine holds no socket: we read bytes, hand them to moat_tls_recv,
 * and send whatever it appended to `out`. See docs/embedding.md. */
#define _POSIX_C_SOURCE 200809L

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <moat/tls.h>
#include <moat/tlsfile.h>

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int fd = -1;
    if (getaddrinfo(host, port, &hints, &res)) return -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

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

/* One read from the socket, fed to the engine; its replies (handshake
 * messages, alerts) are sent at once. 1 fed, 0 end of stream, -1 failed. */
static int pump(int fd, moat_tls *t, moat_buf *out, moat_buf *app)
{
    uint8_t in[16384];
    ssize_t n = read(fd, in, sizeof in);
    if (n <= 0) return n == 0 ? 0 : -1;
    int r = moat_tls_recv(t, in, (size_t)n, out, app);
    if (flush(fd, out) < 0) return -1;
    if (r == 0) return 1;
    fprintf(stderr, "client: %s\n", moat_strerror(r));
    if (moat_tls_verify_error(t))
        fprintf(stderr, "client: %s (%s)\n", moat_tls_verify_error(t), moat_tls_verify_code(t));
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: client HOST PORT [CA-FILE [PATH]]\n");
        return 2;
    }
    const char *host = argv[1], *path = argc > 4 ? argv[4] : "/";
    const char *alpn[] = {"http/1.1"};
    char err[256], req[512];
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    int rc = 1, fd = -1;
    moat_tls *t = NULL;

    moat_tls_config *cfg = moat_tls_config_new();
    if (!cfg) return 1;
    /* The trust store: the CA file given, else the system's. */
    if (argc > 3 ? moat_tls_config_set_ca_file(cfg, argv[3], err, sizeof err)
                 : moat_tls_config_set_system_trust(cfg, err, sizeof err)) {
        fprintf(stderr, "client: %s\n", err);
        goto done;
    }
    moat_tls_config_set_alpn(cfg, alpn, 1);
    if ((fd = connect_to(host, argv[2])) < 0) {
        fprintf(stderr, "client: cannot connect to %s port %s\n", host, argv[2]);
        goto done;
    }
    /* The name is sent as SNI and the certificate is checked against it. */
    if (!(t = moat_tls_client_new(cfg, host)) || moat_tls_start(t, &out) || flush(fd, &out))
        goto done;
    while (!moat_tls_handshake_done(t))
        if (pump(fd, t, &out, &app) <= 0) goto done;
    fprintf(stderr, "client: TLS 1.3, %s, %s\n", moat_tls_cipher_name(moat_tls_get_cipher(t)),
            moat_tls_group_name(moat_tls_get_group(t)));

    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
             host);
    if (moat_tls_send(t, &out, req, strlen(req)) || flush(fd, &out)) goto done;
    /* The answer, until the server's close_notify or the end of the stream. */
    for (;;) {
        fwrite(app.base, 1, app.len, stdout);
        moat_buf_clear(&app);
        if (moat_tls_peer_closed(t)) break;
        int r = pump(fd, t, &out, &app);
        if (r < 0) goto done;
        if (r == 0) break;
    }
    if (moat_tls_close(t, &out) == 0) flush(fd, &out);
    rc = 0;
done:
    if (fd >= 0) close(fd);
    moat_tls_free(t);
    moat_tls_config_free(cfg);
    moat_buf_free(&out);
    moat_buf_free(&app);
    return rc;
}
