/* Handshake load for make bench: every request on a new TCP connection with
 * a new TLS 1.3 handshake (full, or resumed with -r), one small GET, then
 * read to EOF. Uses moat's engine as the client, forced to
 * TLS_AES_128_GCM_SHA256 and x25519, so every server gets the same client.
 *
 *   hsload -p PORT -n TOTAL [-c PROCS] [-r] [-u PATH] [-t SECONDS] [-P] [-s SNI]
 *
 * -s names the server in SNI and Host (default localhost).
 *
 * Forks PROCS clients that share TOTAL connections; prints one line
 * "ok=N fail=F resumed=R secs=T cpu=C segs=S dsegs=D reads=W", C being the
 * CPU seconds (user + system) the clients spent, so that a slow rate can be
 * told apart from a busy client; S and D the TCP segments, and those with
 * data, the clients had received from the server when its last data came
 * (close_notify, or EOF over plain TCP; TCP_INFO), W their reads that
 * returned data (wake-ups), all summed over the successful connections;
 * then the mean wall time of each phase of a TLS connection in µs:
 * connect(), ClientHello sent to handshake done (the server's flight,
 * including the client's own work on it), request sent to response in.
 * Bounded: every socket has a 10 s timeout and the whole run
 * stops after -t seconds (default 120).
 *
 * -P: plain TCP, no TLS (the same GET with Connection: close, read to EOF),
 * against bench/bare: the floor under the handshake rows. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with the segment counts */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "moat/tls.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, moat_buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->base + off, b->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    b->len = 0;
    return 0;
}

/* What the client saw of the successful connections of one process. */
struct tally {
    long ok, fail, resumed, segs, dsegs, reads;
    /* seconds summed over the successful TLS connections: connect(); the
     * ClientHello sent until the server's flight is whole (handshake done);
     * the request sent until the response and close_notify are in */
    double t_connect, t_flight, t_response;
};

/* Adds the segments the server sent on fd (read once EOF came). */
static void count_segs(int fd, struct tally *t)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        t->segs += ti.tcpi_segs_in;
        t->dsegs += ti.tcpi_data_segs_in;
    }
}

/* One plain TCP connection: GET, read to EOF. Returns 0 when a 200 came. */
static int one_plain(int port, const char *req, struct tally *tl)
{
    int fd = dial(port);
    if (fd < 0) return -1;
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t n = write(fd, req + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += (size_t)n;
    }
    char in[16384], first[12];
    size_t got = 0;
    long reads = 0;
    for (;;) {
        ssize_t n = read(fd, in, sizeof in);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        reads++;
        for (ssize_t i = 0; i < n && got < sizeof first; i++) first[got++] = in[i];
    }
    int ok = off == len && got == sizeof first && !memcmp(first, "HTTP/1.1 200", 12);
    if (ok) {
        count_segs(fd, tl);
        tl->reads += reads;
    }
    close(fd);
    return ok ? 0 : -1;
}

/* One connection: handshake, GET, read to EOF. Returns 0 when a 200 came. */
static int one(const moat_tls_config *cfg, int port, const char *sni, const char *req, moat_buf *sess,
               int *resumed, struct tally *tl)
{
    double t0 = now();
    int fd = dial(port);
    if (fd < 0) return -1;
    double t1 = now(), t2 = 0, t3 = 0;
    moat_tls *t = moat_tls_client_new(cfg, sni);
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    int r = t ? 0 : -1;
    if (!r && sess->len) r = moat_tls_set_session(t, sess->base, sess->len);
    if (!r) r = moat_tls_start(t, &out);
    if (!r) r = send_all(fd, &out);
    uint8_t in[16384];
    int sent = 0;
    long reads = 0;
    while (!r) {
        if (moat_tls_handshake_done(t) && !sent) {
            t2 = now();
            r = moat_tls_send(t, &out, req, strlen(req));
            if (!r) r = send_all(fd, &out);
            sent = 1;
            continue;
        }
        ssize_t n = read(fd, in, sizeof in);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        reads++;
        r = moat_tls_recv(t, in, (size_t)n, &out, &app);
        if (!r && out.len) r = send_all(fd, &out);
        if (moat_tls_peer_closed(t)) break;
    }
    t3 = now();
    int ok = !r && sent && app.len >= 12 && !memcmp(app.base, "HTTP/1.1 200", 12);
    if (ok) {
        /* close_notify is the server's last data; its FIN may still be on
         * the way (not waited for: the load must not change) */
        count_segs(fd, tl);
        tl->reads += reads;
        tl->t_connect += t1 - t0;
        tl->t_flight += t2 - t1;
        tl->t_response += t3 - t2;
        *resumed = moat_tls_resumed(t);
        moat_buf s2;
        moat_buf_init(&s2);
        if (!moat_tls_get_session(t, &s2)) {
            moat_buf_free(sess);
            *sess = s2;
        } else {
            moat_buf_free(&s2);
        }
    }
    moat_tls_free(t);
    moat_buf_free(&out);
    moat_buf_free(&app);
    close(fd);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int port = 0, total = 5000, procs = 4, resume = 0, limit = 120;
    const char *path = "/small.txt", *sni = "localhost";
    uint16_t group = MOAT_GROUP_X25519;
    int opt, tls12 = 0, plain = 0;
    while ((opt = getopt(argc, argv, "p:n:c:ru:t:g:V:Ps:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': total = atoi(optarg); break;
        case 'c': procs = atoi(optarg); break;
        case 'r': resume = 1; break;
        case 'u': path = optarg; break;
        case 't': limit = atoi(optarg); break;
        case 'g': group = moat_tls_group_from_name(optarg); break;
        case 'V': tls12 = strcmp(optarg, "1.2") == 0; break;
        case 'P': plain = 1; break;
        case 's': sni = optarg; break;
        default:
            fprintf(stderr, "usage: hsload -p PORT -n TOTAL [-c PROCS] [-r] [-u PATH] [-t S] "
                            "[-g GROUP] [-V 1.2] [-P] [-s SNI]\n");
            return 2;
        }
    }
    if (port <= 0 || total <= 0 || procs <= 0 || !group || strlen(sni) > 255) return 2;
    moat_tls_config *cfg = moat_tls_config_new();
    uint16_t suite = MOAT_TLS_AES_128_GCM_SHA256;
    const char *alpn[] = {"http/1.1"};
    /* In 1.2 supported_groups also names the curves accepted in an ECDSA
     * certificate (RFC 8422 5.1): P-256 is listed after the group. */
    uint16_t groups[2] = {group, MOAT_GROUP_SECP256R1};
    size_t ngroups = tls12 && group != MOAT_GROUP_SECP256R1 ? 2 : 1;
    if (!cfg || moat_tls_config_set_ciphers(cfg, &suite, 1) || moat_tls_config_set_groups(cfg, groups, ngroups) ||
        moat_tls_config_set_alpn(cfg, alpn, 1) ||
        (tls12 && moat_tls_config_set_versions(cfg, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_2))) {
        fprintf(stderr, "hsload: cannot make the client configuration\n");
        return 1;
    }
    moat_tls_config_set_verify(cfg, 0);
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, sni);

    /* counts[i]: what child i saw */
    struct tally *counts = mmap(NULL, sizeof *counts * procs, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED) return 1;
    memset(counts, 0, sizeof *counts * procs);
    double t0 = now();
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid) continue;
        int mine = total / procs + (i < total % procs);
        moat_buf sess;
        moat_buf_init(&sess);
        for (int k = 0; k < mine && now() - t0 < limit; k++) {
            int res = 0;
            if (!resume) sess.len = 0;
            struct tally *tl = &counts[i];
            if ((plain ? one_plain(port, req, tl) : one(cfg, port, sni, req, &sess, &res, tl)) == 0) {
                tl->ok++;
                tl->resumed += res;
            } else {
                tl->fail++;
            }
        }
        _exit(0);
    }
    for (int i = 0; i < procs; i++) wait(NULL);
    double secs = now() - t0;
    struct tally all = {0};
    for (int i = 0; i < procs; i++) {
        all.ok += counts[i].ok;
        all.fail += counts[i].fail;
        all.resumed += counts[i].resumed;
        all.segs += counts[i].segs;
        all.dsegs += counts[i].dsegs;
        all.reads += counts[i].reads;
        all.t_connect += counts[i].t_connect;
        all.t_flight += counts[i].t_flight;
        all.t_response += counts[i].t_response;
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    double per = all.ok ? 1e6 / all.ok : 0;
    printf("ok=%ld fail=%ld resumed=%ld secs=%.3f cpu=%.3f segs=%ld dsegs=%ld reads=%ld "
           "us_connect=%.1f us_flight=%.1f us_response=%.1f\n",
           all.ok, all.fail, all.resumed, secs, cpu, all.segs, all.dsegs, all.reads,
           all.t_connect * per, all.t_flight * per, all.t_response * per);
    moat_tls_config_free(cfg);
    return all.fail ? 1 : 0;
}
