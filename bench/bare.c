/* Bare TCP server for make bench: the floor under every TLS server, what
 * the kernel and the socket calls cost with no TLS at all. One thread, epoll,
 * HTTP/1.1 GET only: reads a request up to its blank line, answers with
 * headers of about the size the TLS servers send and the file's bytes,
 * keeps the connection alive or closes it as the request asks. Pipelined
 * requests are answered together, in one write, as an HTTP/2 server puts
 * the frames of many streams in one record.
 *
 *   bare -p PORT -r ROOT
 *
 * A file of up to 64 KiB is read once and answered from memory (the TLS
 * servers cache small files too); a larger one is read() into a 128 KiB
 * buffer and write()n on every request, never sendfile(), since a TLS server
 * must see the bytes to encrypt them. Listens on 127.0.0.1 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX 8192          /* a request head longer than this is refused */
#define SMALL_MAX (64 * 1024) /* files up to this size are kept in memory */
#define CHUNK (128 * 1024)    /* read() size for larger files */
#define CACHE_MAX 16
#define PATH_MAX_LEN 256
#define OUT_MAX 16384  /* answers gathered for one write */
#define HEAD_ROOM 1024 /* room kept for one more head */

struct cached {
    char path[PATH_MAX_LEN];
    char *body;
    size_t len;
    char lm[40];
};

struct conn {
    int fd;
    char req[REQ_MAX];
    size_t rlen;
    const char *out; /* bytes being written: obuf, a cached body or chunk */
    size_t olen, ooff;
    char obuf[OUT_MAX];        /* heads, and small bodies after them */
    const struct cached *body; /* cached body too large for obuf, sent next */
    int file;                  /* large file being sent, or -1 */
    off_t left;
    char *chunk;
    int close_after;
    uint32_t events; /* what epoll waits for: EPOLLIN or EPOLLOUT */
};

static struct cached cache[CACHE_MAX];
static int ncache;
static int root_fd;
static int ep;

static void http_date(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static const char *date_now(void)
{
    static char buf[40];
    static time_t last;
    time_t t = time(NULL);
    if (t != last) {
        http_date(t, buf, sizeof buf);
        last = t;
    }
    return buf;
}

static const struct cached *cache_get(const char *path, const struct stat *st)
{
    for (int i = 0; i < ncache; i++)
        if (!strcmp(cache[i].path, path)) return &cache[i];
    if (ncache == CACHE_MAX) return NULL;
    int fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct cached *c = &cache[ncache];
    c->body = malloc((size_t)st->st_size + 1);
    ssize_t n = c->body ? read(fd, c->body, (size_t)st->st_size) : -1;
    close(fd);
    if (n != st->st_size) {
        free(c->body);
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    c->len = (size_t)n;
    http_date(st->st_mtime, c->lm, sizeof c->lm);
    ncache++;
    return c;
}

static void conn_free(struct conn *c)
{
    if (c->file >= 0) close(c->file);
    free(c->chunk);
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

/* Connection: close in the head (a plain substring test; the bench's
 * clients send it spelt the usual way), or HTTP/1.0. */
static int wants_close(const char *head)
{
    if (strstr(head, " HTTP/1.0\r\n")) return 1;
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
        if (!strncasecmp(p + 2, "connection:", 11)) {
            const char *v = p + 13;
            while (*v == ' ') v++;
            return !strncasecmp(v, "close", 5);
        }
    return 0;
}

/* Appends the answer to the request head in c->req[0..end) to obuf (which
 * has HEAD_ROOM free at least); a body that does not fit is sent after it. */
static void respond(struct conn *c, size_t end)
{
    char path[PATH_MAX_LEN] = "";
    c->req[end - 1] = '\0'; /* the last '\n' of the blank line */
    c->close_after = wants_close(c->req);
    const char *p = c->req + 4; /* the path, once "GET /" is there */
    int ok = !strncmp(c->req, "GET /", 5);
    const char *sp = ok ? strchr(p, ' ') : NULL;
    ok = ok && sp && (size_t)(sp - p) < sizeof path;
    if (ok) {
        memcpy(path, p + 1, (size_t)(sp - p - 1));
        path[sp - p - 1] = '\0';
        ok = path[0] && !strstr(path, "..") && !strchr(path, '?');
    }
    struct stat st;
    int fd = -1;
    if (ok) ok = fstatat(root_fd, path, &st, 0) == 0 && S_ISREG(st.st_mode);
    const struct cached *k = NULL;
    if (ok && st.st_size <= SMALL_MAX)
        ok = (k = cache_get(path, &st)) != NULL;
    else if (ok)
        ok = (fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC)) >= 0;
    const char *conn = c->close_after ? "close" : "keep-alive";
    int n;
    if (!ok) {
        c->close_after = 1;
        n = snprintf(c->obuf + c->olen, HEAD_ROOM,
                     "HTTP/1.1 404 Not Found\r\nServer: bare\r\nDate: %s\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     date_now());
    } else {
        char lm[40];
        if (k)
            memcpy(lm, k->lm, sizeof lm);
        else
            http_date(st.st_mtime, lm, sizeof lm);
        n = snprintf(c->obuf + c->olen, HEAD_ROOM,
                     "HTTP/1.1 200 OK\r\nServer: bare\r\nDate: %s\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %lld\r\n"
                     "Last-Modified: %s\r\nConnection: %s\r\nAccept-Ranges: bytes\r\n\r\n",
                     date_now(), (long long)st.st_size, lm, conn);
    }
    if (n < 0 || n >= HEAD_ROOM) n = 0; /* cannot happen: the head is short */
    c->olen += (size_t)n;
    if (k && k->len <= sizeof c->obuf - c->olen) { /* head and body in one write */
        memcpy(c->obuf + c->olen, k->body, k->len);
        c->olen += k->len;
    } else {
        c->body = k;
    }
    c->file = fd;
    c->left = fd >= 0 ? st.st_size : 0;
}

static int set_events(struct conn *c, uint32_t ev)
{
    if (c->events == ev) return 0;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    c->events = ev;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Writes what is pending, then the next chunk, until the socket is full
 * (0: wait for EPOLLOUT) or the answer is out (1). -1: drop the connection. */
static int pump(struct conn *c)
{
    for (;;) {
        while (c->ooff < c->olen) {
            ssize_t n = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return 0;
            if (n <= 0) return -1;
            c->ooff += (size_t)n;
        }
        c->out = c->obuf;
        c->olen = c->ooff = 0;
        if (c->body) {
            c->out = c->body->body;
            c->olen = c->body->len;
            c->ooff = 0;
            c->body = NULL;
            continue;
        }
        if (c->file < 0) return 1;
        if (c->left == 0) {
            close(c->file);
            c->file = -1;
            return 1;
        }
        if (!c->chunk && !(c->chunk = malloc(CHUNK))) return -1;
        size_t want = c->left < CHUNK ? (size_t)c->left : CHUNK;
        ssize_t n = read(c->file, c->chunk, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c->left -= n;
        c->out = c->chunk;
        c->olen = (size_t)n;
        c->ooff = 0;
    }
}

/* Answers the complete requests in the buffer (as many as obuf holds, and
 * none after one that asks to close or streams a file), writes the answers,
 * and reads more, until the socket has nothing to read or no room to write. */
static void serve(struct conn *c)
{
    for (;;) {
        char *e;
        while (c->out == c->obuf && !c->body && c->file < 0 && !c->close_after &&
               c->olen <= sizeof c->obuf - HEAD_ROOM && c->rlen &&
               (e = memmem(c->req, c->rlen, "\r\n\r\n", 4))) {
            size_t end = (size_t)(e - c->req) + 4;
            respond(c, end); /* reads and changes c->req[0..end) only */
            c->rlen -= end;
            memmove(c->req, c->req + end, c->rlen);
        }
        if (c->ooff < c->olen || c->body || c->file >= 0) {
            int r = pump(c);
            if (r < 0) goto drop;
            if (r == 0) {
                if (set_events(c, EPOLLOUT)) goto drop;
                return;
            }
            if (c->close_after) goto drop;
            if (set_events(c, EPOLLIN)) goto drop;
            continue; /* more requests may be waiting */
        }
        if (c->rlen == sizeof c->req) goto drop; /* head too long */
        ssize_t n = read(c->fd, c->req + c->rlen, sizeof c->req - c->rlen);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) goto drop;
        c->rlen += (size_t)n;
    }
drop:
    conn_free(c);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e)) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->file = -1;
        c->out = c->obuf;
        c->events = EPOLLIN;
        serve(c); /* the request may be there already */
    }
}

int main(int argc, char **argv)
{
    int port = 0, opt;
    const char *root = NULL;
    while ((opt = getopt(argc, argv, "p:r:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'r': root = optarg; break;
        default: fprintf(stderr, "usage: bare -p PORT -r ROOT\n"); return 2;
        }
    }
    if (port <= 0 || port > 65535 || !root) {
        fprintf(stderr, "usage: bare -p PORT -r ROOT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (root_fd < 0 || lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4096)) {
        perror("bare");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le)) {
        perror("bare");
        return 1;
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            perror("bare");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr)
                accept_all(lfd);
            else
                serve(evs[i].data.ptr);
        }
    }
}
