/* A TLS 1.3 client (moat's engine) that keeps a connection looking busy
 * without asking for anything, for tests/interop/83: after the handshake
 * it sends, every INTERVAL ms, what MODE says, and reports when the server
 * closes the connection.
 *
 *   trickle -p PORT -m MODE [-i INTERVAL_MS] [-t SECONDS] [-n COUNT]
 *
 * MODE: empty (a zero-length application_data record), keyupdate (a
 * KeyUpdate, not requesting one back), partial (the next byte of one
 * record holding a request head), request (a whole GET, the control: real
 * activity). COUNT records are sent at each tick (default 1).
 *
 * Prints "closed MS" (milliseconds from the end of the handshake until the
 * server's FIN or a fatal alert; "alert NAME" first when one came) or
 * "open MS" when the connection outlived -t (default 10) seconds. Exit 0
 * for either, 1 when no handshake. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "moat/error.h"
#include "moat/tls.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(int fd, moat_buf *out)
{
    while (out->len) {
        ssize_t n = send(fd, out->base, out->len, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        moat_buf_consume(out, (size_t)n);
    }
    return 0;
}

/* Reads what the server sent. Returns 1 when the connection ended (FIN,
 * reset or a fatal alert, named on stdout), 0 otherwise. */
static int read_some(int fd, moat_tls *t, moat_buf *out, moat_buf *app)
{
    uint8_t in[16384];
    ssize_t n = recv(fd, in, sizeof in, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : 1;
    if (n == 0) return 1;
    int r = moat_tls_recv(t, in, (size_t)n, out, app);
    moat_buf_clear(app);
    if (r) {
        printf("alert %s\n", moat_strerror(r));
        return 1;
    }
    return moat_tls_peer_closed(t);
}

static int handshake(int fd, moat_tls *t, moat_buf *out, moat_buf *app)
{
    int r = moat_tls_start(t, out);
    uint8_t in[16384];
    while (!r && !moat_tls_handshake_done(t)) {
        if (send_all(fd, out) < 0) return -1;
        ssize_t n = recv(fd, in, sizeof in, 0);
        if (n <= 0) return -1;
        r = moat_tls_recv(t, in, (size_t)n, out, app);
    }
    return r ? r : send_all(fd, out);
}

/* What one tick sends, into out: *next is the byte of rec to send next
 * in partial mode. */
static int tick(const char *mode, moat_tls *t, moat_buf *out, const moat_buf *rec, size_t *next)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (strcmp(mode, "empty") == 0) return moat_tls_send(t, out, "", 0);
    if (strcmp(mode, "keyupdate") == 0) return moat_tls_key_update(t, out, 0);
    if (strcmp(mode, "request") == 0) return moat_tls_send(t, out, req, sizeof req - 1);
    if (*next >= rec->len) return 0; /* the whole record is out: wait */
    int r = moat_buf_append(out, rec->base + *next, 1);
    (*next)++;
    return r;
}

int main(int argc, char **argv)
{
    int port = 0, interval = 1500, limit = 10, count = 1, opt;
    const char *mode = NULL;
    while ((opt = getopt(argc, argv, "p:m:i:t:n:")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'i':
            interval = atoi(optarg);
            break;
        case 't':
            limit = atoi(optarg);
            break;
        case 'n':
            count = atoi(optarg);
            break;
        default:
            mode = NULL;
            port = 0;
            break;
        }
    }
    if (port <= 0 || !mode || interval < 1 || count < 1 ||
        (strcmp(mode, "empty") && strcmp(mode, "keyupdate") && strcmp(mode, "partial") &&
         strcmp(mode, "request"))) {
        fprintf(stderr, "usage: trickle -p PORT -m empty|keyupdate|partial|request "
                        "[-i INTERVAL_MS] [-t SECONDS] [-n COUNT]\n");
        return 2;
    }
    moat_tls_config *cfg = moat_tls_config_new();
    const char *alpn[] = {"http/1.1"};
    if (!cfg || moat_tls_config_set_alpn(cfg, alpn, 1)) return 1;
    moat_tls_config_set_verify(cfg, 0); /* the peer is the server under test */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    moat_tls *t = moat_tls_client_new(cfg, "localhost");
    moat_buf out, app, rec;
    moat_buf_init(&out);
    moat_buf_init(&app);
    moat_buf_init(&rec);
    if (fd < 0 || !t || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        handshake(fd, t, &out, &app) != 0) {
        printf("no handshake\n");
        return 1;
    }
    static const char head[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (strcmp(mode, "partial") == 0 && moat_tls_send(t, &rec, head, sizeof head - 1)) return 1;
    int64_t start = now_ms(), next_tick = start;
    size_t next = 0;
    int closed = 0;
    while (!closed && now_ms() - start < (int64_t)limit * 1000) {
        if (now_ms() >= next_tick) {
            for (int i = 0; i < count; i++)
                if (tick(mode, t, &out, &rec, &next)) closed = 1;
            if (send_all(fd, &out) < 0) closed = 1;
            next_tick += interval;
        }
        int64_t wait = next_tick - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (!closed && poll(&p, 1, wait > 0 ? (int)wait : 0) > 0)
            closed = read_some(fd, t, &out, &app);
    }
    printf("%s %lld\n", closed ? "closed" : "open", (long long)(now_ms() - start));
    moat_tls_free(t);
    moat_tls_config_free(cfg);
    moat_buf_free(&out);
    moat_buf_free(&app);
    moat_buf_free(&rec);
    close(fd);
    return 0;
}
