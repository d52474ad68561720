/* moat serve: the single-threaded epoll loop. Each connection feeds what it
 * reads to its TLS engine, answers the requests it decrypts, and streams
 * file bodies only as fast as the socket drains. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"

#define READ_CHUNK 16384      /* bytes read from a socket at once */
#define BODY_CHUNK 16384      /* plaintext per record, the TLS maximum */
#define OUT_HIGH (64 * 1024)  /* stop producing while this much waits */
#define APP_MAX (64 * 1024)   /* stop reading while this much plaintext waits */
#define REQUESTS_PER_PASS 16  /* pipelined requests answered per pass */
#define PASSES 64             /* produce/flush rounds per event */
#define LINGER_MS 2000        /* after our last byte, wait for the peer's FIN */
#define ACCEPT_PAUSE_MS 100   /* out of descriptors: stop accepting a while */
#define HEAD_TIMEOUT_MS 20000 /* a request head must arrive whole in this */
#define MAX_EVENTS 128

enum {
    C_OPEN,   /* reading requests, answering them */
    C_FLUSH,  /* sending what is queued, then closing */
    C_LINGER, /* all sent and write side shut; discarding input until FIN */
};

struct conn {
    int fd;
    int state;
    moat_tls *tls;
    moat_buf out;          /* TLS records waiting for the socket */
    moat_buf app;          /* decrypted bytes not yet answered */
    struct moat_body body; /* file bytes still to send */
    uint64_t skip;         /* request body bytes to discard */
    size_t scanned;        /* app bytes already parsed without a full head */
    int handshake_done;
    int peer_done;      /* close_notify or FIN received: no more requests */
    int close_after;    /* close once the current response is out */
    uint32_t events;    /* epoll interest registered now */
    int64_t deadline;   /* monotonic ms */
    int64_t head_since; /* when a partial request head began waiting; 0 */
    struct conn *prev, *next;
};

struct loop {
    struct moat_server *s;
    struct conn *conns;
    size_t nconns;
    int64_t accept_paused_until;
    moat_buf head; /* scratch for response heads */
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_free(struct loop *L, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        L->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    L->nconns--;
    close(c->fd);
    if (c->body.fd >= 0) close(c->body.fd);
    moat_tls_free(c->tls);
    moat_buf_free(&c->out);
    moat_buf_free(&c->app);
    free(c);
}

/* Stops answering; a graceful close first queues our close_notify. */
static void begin_close(struct conn *c, int graceful)
{
    if (c->state != C_OPEN) return;
    if (graceful && c->handshake_done) moat_tls_close(c->tls, &c->out);
    c->state = C_FLUSH;
}

static void end_body(struct conn *c)
{
    if (c->body.fd >= 0) close(c->body.fd);
    c->body.fd = -1;
    c->body.left = 0;
}

static void touch(struct loop *L, struct conn *c)
{
    if (c->handshake_done && c->state != C_LINGER) c->deadline = now_ms() + L->s->idle_timeout_ms;
}

/* Reads what the socket has and feeds it to the engine. Returns -1 when
 * the connection is to be dropped at once. */
static int on_readable(struct loop *L, struct conn *c)
{
    uint8_t buf[READ_CHUNK];
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        }
        if (n == 0) {
            /* FIN. Without close_notify nothing more can be trusted to
             * arrive, but complete requests already read are answered. */
            if (c->state == C_LINGER || !c->handshake_done) return -1;
            c->peer_done = 1;
            return 0;
        }
        if (c->state != C_OPEN || c->peer_done) continue; /* discarding: we are closing */
        int r = moat_tls_recv(c->tls, buf, (size_t)n, &c->out, &c->app);
        if (r < 0) {
            /* A fatal alert we owe the peer is already in out. */
            end_body(c);
            c->state = C_FLUSH;
            return 0;
        }
        if (!c->handshake_done && moat_tls_handshake_done(c->tls)) c->handshake_done = 1;
        touch(L, c);
        if (moat_tls_peer_closed(c->tls)) {
            c->peer_done = 1;
            return 0;
        }
        if ((size_t)n < sizeof buf) break;
    }
    return 0;
}

/* Parses and answers pipelined requests while there is room to. Returns
 * how many were answered. */
static int answer_requests(struct loop *L, struct conn *c)
{
    int handled = 0;
    while (handled < REQUESTS_PER_PASS && c->state == C_OPEN && c->body.fd < 0 &&
           c->out.len < OUT_HIGH) {
        if (c->skip) {
            size_t n = c->app.len < c->skip ? c->app.len : (size_t)c->skip;
            moat_buf_consume(&c->app, n);
            c->skip -= n;
            if (c->skip) break;
        }
        /* Parse again only when a line may have ended since last time. */
        if (c->scanned >= c->app.len ||
            (c->app.len < MOAT_HTTP_MAX_REQUEST_LINE &&
             !memchr(c->app.base + c->scanned, '\n', c->app.len - c->scanned))) {
            c->scanned = c->app.len;
            if (c->app.len && !c->head_since) c->head_since = now_ms();
            if (c->peer_done) begin_close(c, 1);
            break;
        }
        moat_http_request req;
        int n = moat_http_parse_request((const char *)c->app.base, c->app.len, &req);
        if (n == 0) {
            c->scanned = c->app.len;
            if (!c->head_since) c->head_since = now_ms();
            if (c->peer_done) begin_close(c, 1);
            break;
        }
        c->scanned = 0;
        c->head_since = 0;
        moat_buf_clear(&L->head);
        int close = 1;
        if (n < 0) {
            moat_server_error(&L->head, -n, 0, 1);
            moat_buf_clear(&c->app);
        } else {
            /* HTTP/1.0 keep-alive is rare enough to not be worth its
             * special header; a chunked request body we would have to
             * decode just to skip it. */
            close = !req.f.keep_alive || req.f.minor == 0 || req.f.chunked;
            moat_server_static(L->s, &req, &L->head, &c->body, &close);
            if (req.f.content_length > 0) c->skip = (uint64_t)req.f.content_length;
            moat_buf_consume(&c->app, (size_t)n);
        }
        handled++;
        if (moat_tls_send(c->tls, &c->out, L->head.base, L->head.len) < 0) {
            end_body(c);
            c->state = C_FLUSH;
            break;
        }
        if (close) {
            c->close_after = 1;
            if (c->body.fd < 0) begin_close(c, 1);
        }
    }
    return handled;
}

/* Encrypts more of the current file while the queue is short. Returns 1
 * when it produced something. */
static int send_body(struct conn *c)
{
    uint8_t buf[BODY_CHUNK];
    int produced = 0;
    for (int i = 0; i < OUT_HIGH / BODY_CHUNK + 1 && c->body.fd >= 0 && c->out.len < OUT_HIGH;
         i++) {
        size_t want = c->body.left < BODY_CHUNK ? (size_t)c->body.left : BODY_CHUNK;
        ssize_t n = pread(c->body.fd, buf, want, c->body.off);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            /* The file shrank or failed: Content-Length cannot be kept, so
             * end without close_notify and let the client see truncation. */
            end_body(c);
            c->state = C_FLUSH;
            return produced;
        }
        if (moat_tls_send(c->tls, &c->out, buf, (size_t)n) < 0) {
            end_body(c);
            c->state = C_FLUSH;
            return produced;
        }
        produced = 1;
        c->body.off += n;
        c->body.left -= n;
        if (c->body.left == 0) {
            end_body(c);
            if (c->close_after) begin_close(c, 1);
        }
    }
    return produced;
}

/* Writes queued records. Returns -1 when the socket failed. */
static int flush_out(struct loop *L, struct conn *c)
{
    for (int i = 0; i < 64 && c->out.len; i++) {
        ssize_t n = send(c->fd, c->out.base, c->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            moat_buf_consume(&c->out, (size_t)n);
            touch(L, c);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    return 0;
}

static int set_events(struct loop *L, struct conn *c)
{
    uint32_t ev = 0;
    if (c->state == C_LINGER) {
        ev = EPOLLIN;
    } else {
        if (c->state == C_OPEN && !c->peer_done && c->app.len < APP_MAX) ev |= EPOLLIN;
        /* Writable is also our cue to continue a body or pipelined
         * requests left for the next pass. */
        if (c->out.len || c->body.fd >= 0 ||
            (c->state == C_OPEN && c->scanned < c->app.len && !c->skip))
            ev |= EPOLLOUT;
    }
    if (ev == c->events) return 0;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(L->s->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) return -1;
    c->events = ev;
    return 0;
}

/* Moves a connection forward as far as the socket allows. Returns -1 when
 * it is to be freed. */
static int pump(struct loop *L, struct conn *c)
{
    for (int pass = 0; pass < PASSES; pass++) {
        int progress = 0;
        if (c->state == C_OPEN && c->handshake_done) progress += answer_requests(L, c);
        if (c->state != C_LINGER) progress += send_body(c);
        if (flush_out(L, c) < 0) return -1;
        if (c->out.len) break;
        if (c->state == C_FLUSH) {
            /* Everything is out: shut our side and wait briefly for the
             * peer's FIN, so unread input cannot turn into an RST that
             * destroys the response in flight. */
            if (shutdown(c->fd, SHUT_WR) < 0) return -1;
            c->state = C_LINGER;
            c->deadline = now_ms() + LINGER_MS;
            break;
        }
        if (!progress) break;
    }
    return set_events(L, c) < 0 ? -1 : 0;
}

static void accept_new(struct loop *L)
{
    struct moat_server *s = L->s;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                struct epoll_event e = {.events = 0, .data.ptr = NULL};
                epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &e);
                L->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
            }
            return;
        }
        if (L->nconns >= s->max_conns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c || !(c->tls = moat_tls_server_new(s->cfg))) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->body.fd = -1;
        c->events = EPOLLIN;
        c->deadline = now_ms() + s->handshake_timeout_ms;
        moat_buf_init(&c->out);
        moat_buf_init(&c->app);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
            moat_tls_free(c->tls);
            free(c);
            close(fd);
            continue;
        }
        c->next = L->conns;
        if (L->conns) L->conns->prev = c;
        L->conns = c;
        L->nconns++;
    }
}

/* Closes connections past their deadline: a quiet close_notify for an idle
 * one, nothing for a stalled handshake or a lingering close. */
static void sweep(struct loop *L, int64_t now)
{
    struct conn *c = L->conns;
    size_t limit = L->nconns;
    for (size_t i = 0; c && i < limit; i++) {
        struct conn *next = c->next;
        /* A head trickling in a byte at a time would otherwise keep the
         * idle timer fresh forever (slowloris). */
        int slow_head = c->state == C_OPEN && c->head_since && c->body.fd < 0 && !c->out.len &&
                        now - c->head_since >= HEAD_TIMEOUT_MS;
        if (now >= c->deadline || slow_head) {
            if (c->state == C_OPEN && c->handshake_done) {
                moat_tls_close(c->tls, &c->out);
                send(c->fd, c->out.base, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            conn_free(L, c);
        }
        c = next;
    }
    if (L->accept_paused_until && now >= L->accept_paused_until) {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(L->s->epfd, EPOLL_CTL_MOD, L->s->lfd, &e);
        L->accept_paused_until = 0;
    }
}

int moat_server_run(struct moat_server *s)
{
    struct loop L = {.s = s};
    moat_buf_init(&L.head);

    /* Signals are blocked except inside epoll_pwait, so a stop request can
     * never slip in between the flag check and the wait. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &e) < 0) {
        perror("moat: epoll_ctl");
        return 1;
    }

    int status = 0;
    int64_t next_sweep = now_ms() + 250;
    struct epoll_event evs[MAX_EVENTS];
    while (!stop_flag) {
        int n = epoll_pwait(s->epfd, evs, MAX_EVENTS, 250, &waitmask);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("moat: epoll_wait");
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                accept_new(&L);
                continue;
            }
            int drop = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) drop = on_readable(&L, c) < 0;
            if (!drop) drop = pump(&L, c) < 0;
            if (drop) conn_free(&L, c);
        }
        int64_t now = now_ms();
        if (now >= next_sweep) {
            sweep(&L, now);
            next_sweep = now + 250;
        }
    }

    /* Stop: a close_notify to every open connection, best effort. */
    for (size_t i = 0; L.conns && i <= s->max_conns; i++) {
        struct conn *c = L.conns;
        if (c->state == C_OPEN && c->handshake_done) {
            moat_tls_close(c->tls, &c->out);
            send(c->fd, c->out.base, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        conn_free(&L, c);
    }
    moat_buf_free(&L.head);
    return status;
}
