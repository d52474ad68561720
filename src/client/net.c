/* moat get: name resolution and connecting, both within a deadline, and the blocking
 * socket reads and writes (bounded by poll) of a single transfer. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/net.h"
#include "core/exit.h"

/* Milliseconds until deadline for poll: -1 when none, 0 when passed. */
static int remaining(int64_t deadline)
{
    if (deadline <= 0) return -1;
    int64_t left = deadline - core_mono_ms();
    if (left <= 0) return 0;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* The address of one --resolve HOST:PORT:ADDR spec [spec, end) for
 * host:port into addr, or NULL when it is about another. */
static const char *resolve_one(const char *spec, const char *end, const char *host, int port,
                               char *addr, size_t alen)
{
    const char *c1 = memchr(spec, ':', (size_t)(end - spec));
    if (!c1) return NULL;
    /* good.test. is good.test: one trailing dot on either side is ignored. */
    size_t hl = (size_t)(c1 - spec), want = strlen(host);
    if (hl > 1 && spec[hl - 1] == '.') hl--;
    if (want > 1 && host[want - 1] == '.') want--;
    if (hl != want || strncasecmp(spec, host, hl) != 0) return NULL;
    const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
    if (!c2 || client_parse_port(c1 + 1, c2) != port) return NULL;
    const char *a = c2 + 1;
    size_t n = (size_t)(end - a);
    if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
        a++;
        n -= 2;
    }
    if (n == 0 || n >= alen) return NULL;
    memcpy(addr, a, n);
    addr[n] = '\0';
    return addr;
}

/* --resolve: spec holds one HOST:PORT:ADDR a line, any number; the last
 * for host:port wins, as curl's later entries replace earlier ones. */
static const char *resolve_override(const char *spec, const char *host, int port, char *addr,
                                    size_t alen)
{
    const char *found = NULL;
    for (const char *p = spec; p && *p;) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        if (resolve_one(p, e, host, port, addr, alen)) found = addr;
        p = *e ? e + 1 : e;
    }
    return found;
}

int client_parse_port(const char *s, const char *end)
{
    int port = 0;
    if (s == end) return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || port > 65535) return -1;
        port = port * 10 + (*s - '0');
    }
    return port;
}

/* Connects one address, waiting at most until deadline. Returns the fd,
 * -1 with errno set on failure, -2 on timeout. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    for (int i = 0; i < 1000; i++) {
        int r = poll(&p, 1, remaining(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            close(fd);
            return -2;
        }
        break;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
        close(fd);
        errno = soerr ? soerr : errno;
        return -1;
    }
    return fd;
}

/* getaddrinfo bounded by deadline (-1 when it passed first). glibc's
 * getaddrinfo_a resolves in a helper thread; we wait for it with
 * gai_suspend, so a resolver that does not answer costs at most the
 * time left (--connect-timeout, -m), as curl's threaded resolver does.
 * The request lives in static storage: after a timeout the helper may
 * still be using it, and the transfer ends (exit 28) anyway. */
#define LOOKUP_TIMED_OUT (-10000)
static int lookup(const char *name, const char *port, const struct addrinfo *hints,
                  int64_t deadline, struct addrinfo **res)
{
    static struct gaicb cb;
    static struct addrinfo h;
    static char sname[1100], sport[8];
    static int abandoned; /* a timed-out lookup may still hold cb */
    if (deadline <= 0 || abandoned || (hints->ai_flags & AI_NUMERICHOST) ||
        strlen(name) >= sizeof sname)
        return getaddrinfo(name, port, hints, res);
    snprintf(sname, sizeof sname, "%s", name);
    snprintf(sport, sizeof sport, "%s", port);
    h = *hints;
    memset(&cb, 0, sizeof cb);
    cb.ar_name = sname;
    cb.ar_service = sport;
    cb.ar_request = &h;
    struct gaicb *list[1] = {&cb};
    int r = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (r) return r;
    for (;;) {
        r = gai_error(&cb);
        if (r != EAI_INPROGRESS) break;
        int ms = remaining(deadline);
        if (ms == 0) {
            if (gai_cancel(&cb) != EAI_CANCELED) abandoned = 1;
            return LOOKUP_TIMED_OUT;
        }
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
        gai_suspend((const struct gaicb *const *)list, 1, &ts);
    }
    *res = r == 0 ? cb.ar_result : NULL;
    return r;
}

int client_connect(const char *host, const char *shown, int port, const char *resolve,
                   int64_t deadline, char *addr_out, size_t addrlen, int *exit_code,
                   int64_t *resolved_at)
{
    char portstr[8], over[128];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *name = resolve_override(resolve, host, port, over, sizeof over);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (name ? AI_NUMERICHOST : 0);
    int r = lookup(name ? name : host, portstr, &hints, deadline, &res);
    if (r == LOOKUP_TIMED_OUT) {
        fprintf(stderr, "moat: resolving host %s timed out\n", shown);
        *exit_code = GET_EXIT_OPERATION_TIMEDOUT;
        return -1;
    }
    if (r) {
        fprintf(stderr, "moat: could not resolve host %s: %s\n", name ? name : shown,
                gai_strerror(r));
        *exit_code = GET_EXIT_COULDNT_RESOLVE_HOST;
        return -1;
    }
    if (resolved_at) *resolved_at = core_mono_us();
    int fd = -1, err = ECONNREFUSED, timed_out = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        if (fd == -2) {
            timed_out = 1;
            fd = -1;
            break;
        }
        if (fd < 0) {
            err = errno;
            continue;
        }
        getnameinfo(ai->ai_addr, ai->ai_addrlen, addr_out, (socklen_t)addrlen, NULL, 0,
                    NI_NUMERICHOST);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out) {
            fprintf(stderr, "moat: connection to %s port %d timed out\n", shown, port);
            *exit_code = GET_EXIT_OPERATION_TIMEDOUT;
        } else {
            fprintf(stderr, "moat: cannot connect to %s port %d: %s\n", shown, port, strerror(err));
            *exit_code = GET_EXIT_COULDNT_CONNECT;
            errno = err; /* for --retry-connrefused */
        }
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int client_send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    size_t off = 0;
    for (int spins = 0; off < n && spins < 1000000; spins++) {
        ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            int r = poll(&pf, 1, remaining(deadline));
            if (r == 0) return -2;
            continue;
        }
        return -1;
    }
    return off == n ? 0 : -1;
}

ssize_t client_recv_some(int fd, uint8_t *buf, size_t cap, int64_t deadline)
{
    for (int i = 0; i < 1000; i++) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, remaining(deadline));
        if (r == 0) return -2;
    }
    return -1;
}
