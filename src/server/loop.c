/* moat serve: the single-threaded epoll loop of one worker. Each connection
 * feeds what it reads to its TLS engine, answers the requests it decrypts
 * (route_request decides who answers), and streams file bodies only as fast
 * as the socket drains. Plain-HTTP connections of --redirect-http share
 * the loop with no engine. */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/exit.h"
#include "core/file.h"
#include "server/proxy.h"
#include "server/server.h"

#define READ_CHUNK 16384     /* bytes read from a socket at once */
#define BODY_CHUNK 16384     /* plaintext per record, the TLS maximum */
#define OUT_HIGH (64 * 1024) /* stop producing while this much waits */
#define APP_MAX (64 * 1024)  /* stop reading while this much plaintext waits */
#define PARK_MS 1000         /* idle this long: cipher contexts freed (moat_tls_park) */
#define REQUESTS_PER_PASS 16 /* pipelined requests answered per pass */
#define PASSES 64            /* produce/flush rounds per event */
#define LINGER_MS 2000       /* after our last byte, wait for the peer's FIN */
#define ACCEPT_PAUSE_MS 100  /* out of descriptors: stop accepting a while */
#define DRAIN_IDLE_MS 1000   /* stopping: an idle connection is closed after this */
#define MAX_EVENTS 128
#define POOL_MAX 256              /* idle buffers kept per worker */
#define POOL_BUF_MAX (256 * 1024) /* larger ones are freed, not kept */

enum {
    C_OPEN,   /* reading requests, answering them */
    C_FLUSH,  /* sending what is queued, then closing */
    C_LINGER, /* all sent and write side shut; discarding input until FIN */
};

struct conn {
    int fd;
    int state;
    moat_tls *tls;         /* NULL: a plain-HTTP redirect connection */
    moat_buf out;          /* TLS records waiting for the socket */
    moat_buf app;          /* decrypted bytes not yet answered */
    struct moat_body body; /* file bytes still to send */
    struct moat_proxy *px; /* a request handed to the reverse proxy (proxy.c) */
    uint64_t skip;         /* request body bytes to discard */
    size_t scanned;        /* app bytes already parsed without a full head */
    int chunked_body;      /* reading the chunked body of the request at the head of app */
    moat_http_chunked chk; /* its decoder */
    uint64_t chk_total;    /* its bytes so far (413 past --max-body-size) */
    int handshake_done;
    int peer_done;               /* close_notify or FIN received: no more requests */
    int close_after;             /* close once the current response is out */
    uint32_t events;             /* epoll interest registered now */
    int64_t deadline;            /* monotonic ms */
    int64_t head_since;          /* when a partial request head began waiting; 0 */
    int64_t last_active;         /* monotonic ms of the last byte either way */
    char addr[INET6_ADDRSTRLEN]; /* the peer, for the access log */
    struct conn *prev, *next;
};

struct loop {
    struct moat_server *s;
    struct conn *conns;
    size_t nconns;
    int64_t accept_paused_until;
    int draining; /* stopping: no accepts, connections finish */
    int64_t drain_deadline;
    moat_buf head; /* scratch for response heads */
    moat_buf sink; /* decoded request body bytes no one wants */
    /* Buffers of idle connections, wiped, for the next busy one: an idle
     * connection holds no buffer of its own. */
    moat_buf pool[POOL_MAX];
    size_t npool;
    size_t parked_untrimmed; /* connections parked since the last malloc_trim */
};

static void buf_borrow(struct loop *L, moat_buf *b)
{
    if (!b->base && L->npool) *b = L->pool[--L->npool];
}

/* Gives an empty buffer back (wiped: it may have held plaintext). */
static void buf_return(struct loop *L, moat_buf *b)
{
    if (!b->base || b->len) return;
    if (L->npool < POOL_MAX && b->cap <= POOL_BUF_MAX) {
        moat_buf_clear(b);
        L->pool[L->npool++] = *b;
        moat_buf_init(b);
    } else {
        moat_buf_free(b);
    }
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
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
    moat_proxy_free(c->px);
    moat_tls_free(c->tls);
    c->out.len = c->app.len = 0;
    buf_return(L, &c->out);
    buf_return(L, &c->app);
    free(c);
}

/* Stops answering; a graceful close first queues our close_notify. */
static void begin_close(struct conn *c, int graceful)
{
    if (c->state != C_OPEN) return;
    if (graceful && c->handshake_done && c->tls) moat_tls_close(c->tls, &c->out);
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
    c->last_active = core_mono_ms();
    if (c->handshake_done && c->state != C_LINGER)
        c->deadline = c->last_active + L->s->idle_timeout_ms;
}

/* Encrypts (or, for plain HTTP, copies) bytes onto the output queue. */
static int conn_send(struct conn *c, const void *data, size_t len)
{
    if (!c->tls) return moat_buf_append(&c->out, data, len);
    return moat_tls_send(c->tls, &c->out, data, len);
}

/* Reads what the socket has and feeds it to the engine. Returns -1 when
 * the connection is to be dropped at once. */
static int on_readable(struct loop *L, struct conn *c)
{
    uint8_t buf[READ_CHUNK];
    buf_borrow(L, &c->app);
    buf_borrow(L, &c->out);
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
        if (!c->tls) {
            if (c->app.len + (size_t)n > MOAT_HTTP_MAX_HEADER_BYTES + MOAT_HTTP_MAX_REQUEST_LINE ||
                moat_buf_append(&c->app, buf, (size_t)n) < 0)
                return -1;
            touch(L, c);
            continue;
        }
        size_t had = c->app.len;
        int r = moat_tls_recv(c->tls, buf, (size_t)n, &c->out, &c->app);
        if (r < 0) {
            /* A fatal alert we owe the peer is already in out. */
            end_body(c);
            c->state = C_FLUSH;
            return 0;
        }
        /* Only HTTP bytes (and the end of the handshake) are activity:
         * records that carry none (empty ones, KeyUpdates, a record
         * trickled a byte at a time) must not hold a connection open past
         * --idle-timeout. The engine caps how many may come in a row. */
        if (!c->handshake_done && moat_tls_handshake_done(c->tls)) {
            c->handshake_done = 1;
            touch(L, c);
        }
        if (c->app.len > had) touch(L, c);
        if (moat_tls_peer_closed(c->tls)) {
            c->peer_done = 1;
            return 0;
        }
        if ((size_t)n < sizeof buf) break;
    }
    return 0;
}

/* Appends s to b with quotes, backslashes and control bytes escaped (an
 * access log line must not be forgeable by a client). */
static void log_quoted(moat_buf *b, const char *s, size_t n)
{
    moat_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[5];
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            moat_buf_append(b, esc, 4);
        } else {
            moat_buf_append(b, (const char *)&ch, 1);
        }
    }
    moat_buf_append(b, "\"", 1);
}

/* One line of the Combined Log Format, plus the client certificate's
 * subject when client certificates are configured, and last the key
 * exchange group of the connection ("X25519MLKEM768"; "-" without TLS). */
static void access_log(struct loop *L, struct conn *c, const moat_http_request *req,
                       const struct moat_resp *resp)
{
    if (L->s->access_log < 0) return;
    moat_buf b;
    moat_buf_init(&b);
    char when[64], num[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
    moat_buf_append(&b, c->addr, strlen(c->addr));
    moat_buf_append(&b, " - - ", 5);
    moat_buf_append(&b, when, strlen(when));
    moat_buf_append(&b, " ", 1);
    if (req) {
        char line[MOAT_HTTP_MAX_REQUEST_LINE + 32];
        int n = snprintf(line, sizeof line, "%.*s %.*s HTTP/1.%d", (int)req->method_len,
                         req->method, (int)req->target_len, req->target, req->f.minor);
        if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
        log_quoted(&b, line, (size_t)n);
    } else {
        moat_buf_append(&b, "\"-\"", 3);
    }
    int n = snprintf(num, sizeof num, " %d %lld ", resp->status, (long long)resp->bytes);
    moat_buf_append(&b, num, (size_t)n);
    static const char *const fields[] = {"Referer", "User-Agent"};
    for (int i = 0; i < 2; i++) {
        const moat_http_header *h = req ? moat_http_find_header(&req->f, fields[i]) : NULL;
        if (i) moat_buf_append(&b, " ", 1);
        if (h)
            log_quoted(&b, h->value, h->value_len);
        else
            moat_buf_append(&b, "\"-\"", 3);
    }
    if (L->s->log_identity) {
        const char *id = c->tls ? moat_tls_get_peer_identity(c->tls) : NULL;
        moat_buf_append(&b, " ", 1);
        if (id)
            log_quoted(&b, id, strlen(id));
        else
            moat_buf_append(&b, "\"-\"", 3);
    }
    uint16_t g = c->tls ? moat_tls_get_group(c->tls) : 0; /* 0: no TLS, or psk_ke */
    const char *group = g ? moat_tls_group_name(g) : "-";
    moat_buf_append(&b, " ", 1);
    moat_buf_append(&b, group, strlen(group));
    moat_buf_append(&b, "\n", 1);
    /* One write per line: O_APPEND keeps the workers' lines whole. */
    if (write(L->s->access_log, b.base, b.len) < 0) {
    }
    moat_buf_free(&b);
}

/* The answer of a --redirect-http listener: 308 to the same host and
 * target over https (RFC 9110 15.4.9 keeps the method). */
static void redirect(const struct moat_server *s, const moat_http_request *req, moat_buf *head,
                     struct moat_resp *resp)
{
    size_t hl = 0;
    const char *h = req->host;
    if (h && h[0] == '[') {
        const char *e = memchr(h, ']', req->host_len);
        hl = e ? (size_t)(e - h) + 1 : 0;
    } else if (h) {
        const char *e = memchr(h, ':', req->host_len);
        hl = e ? (size_t)(e - h) : req->host_len;
    }
    int good = hl > 0 && req->target_len > 0 && req->target[0] == '/';
    for (size_t i = 0; good && i < hl; i++)
        good = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:_",
                      h[i]) != NULL;
    if (!good) {
        resp->status = 400;
        resp->bytes = moat_server_error(head, 400, 0, 1);
        return;
    }
    char port[16] = "";
    if (s->https_port != 443) snprintf(port, sizeof port, ":%d", s->https_port);
    char date[30];
    moat_http_date(time(NULL), date);
    int r = moat_http_write_status(head, 308);
    r = r ? r : moat_http_write_header(head, "Date", "%s", date);
    r = r ? r : moat_http_write_header(head, "Server", "moat");
    r = r ? r
          : moat_http_write_header(head, "Location", "https://%.*s%s%.*s", (int)hl, h, port,
                                   (int)req->target_len, req->target);
    r = r ? r : moat_http_write_header(head, "Content-Length", "0");
    r = r ? r : moat_http_write_header(head, "Connection", "close");
    if (r) {
        moat_buf_clear(head);
        resp->status = 414;
        resp->bytes = moat_server_error(head, 414, 0, 1);
        return;
    }
    moat_buf_append(head, "\r\n", 2);
    resp->status = 308;
    resp->bytes = 0;
}

/* Decides who answers a parsed request and lets it write the response
 * head into L->head (and a file into c->body). This is the one place to
 * hook another kind of handler (a reverse proxy) in front of the files. */
static void route_request(struct loop *L, struct conn *c, const moat_http_request *req, int *close,
                          struct moat_resp *resp)
{
    if (!c->tls) {
        *close = 1;
        redirect(L->s, req, &L->head, resp);
        return;
    }
    /* --proxy: a prefix route or --proxy-only claims the request; a plain
     * --proxy URL gets what the files do not answer. */
    int m = moat_proxy_match(req);
    if (m != MOAT_PROXY_CLAIM) {
        moat_server_static(L->s, req, &L->head, &c->body, close, resp);
        if (!m || (resp->status != 404 && resp->status != 405 && resp->status != 501)) return;
        moat_buf_clear(&L->head);
        end_body(c);
    }
    c->px =
        moat_proxy_start(req, c->app.base, c->app.len, c->addr, c->tls,
                         L->s->epfd, (uint64_t)(uintptr_t)c | 1, *close && !req->f.chunked);
    if (!c->px) {
        *close = 1;
        resp->status = 503;
        resp->bytes = moat_server_error(&L->head, 503, 0, 1);
    }
}

/* Moves a proxied exchange on; when its response is over, logs it and
 * lets the connection go on (or end). Returns 1 when anything moved. */
static int proxy_step(struct loop *L, struct conn *c)
{
    int progress = 0;
    int r = c->state != C_OPEN ? MOAT_PROXY_ABORT
                               : moat_proxy_pump(c->px, c->tls, &c->app, &c->out, c->peer_done,
                                                 core_mono_ms(), &progress);
    if (progress) touch(L, c);
    if (r == MOAT_PROXY_BUSY) return progress;
    moat_http_request req;
    struct moat_resp resp;
    moat_proxy_result(c->px, &req, &resp);
    access_log(L, c, &req, &resp);
    moat_proxy_free(c->px);
    c->px = NULL;
    if (r == MOAT_PROXY_ABORT && c->state == C_OPEN)
        c->state = C_FLUSH; /* no close_notify: cut short */
    if (r == MOAT_PROXY_CLOSE) begin_close(c, 1);
    return 1;
}

/* Reads (and drops) the chunked body of the request whose head is the
 * first head_len bytes of app, as far as it has arrived; the body bytes
 * leave app, the head stays for the answer. A static file answers no
 * body, but reading it bounds it (--max-body-size, RFC 9112 7.1) and keeps
 * the connection's framing. Returns 1 at its end, 0 for more to come,
 * -400 malformed, -413 too large. */
static int read_chunked_body(struct loop *L, struct conn *c, size_t head_len)
{
    if (!c->chunked_body) {
        moat_http_chunked_init(&c->chk);
        c->chunked_body = 1;
        c->chk_total = 0;
    }
    while (c->app.len > head_len) {
        size_t avail = c->app.len - head_len, used = 0;
        if (avail > READ_CHUNK) avail = READ_CHUNK;
        moat_buf_clear(&L->sink);
        int r = moat_http_chunked_feed(&c->chk, c->app.base + head_len, avail, &used, &L->sink);
        c->chk_total += L->sink.len;
        memmove(c->app.base + head_len, c->app.base + head_len + used,
                c->app.len - head_len - used);
        c->app.len -= used;
        if (r < 0 || c->chk_total > L->s->max_body) {
            c->chunked_body = 0;
            return r < 0 ? -400 : -413;
        }
        if (r == 1) {
            c->chunked_body = 0;
            return 1;
        }
        if (!used) break;
    }
    return 0;
}

/* Parses and answers pipelined requests while there is room to. Returns
 * how many were answered. */
static int answer_requests(struct loop *L, struct conn *c)
{
    int handled = 0;
    while (handled < REQUESTS_PER_PASS && c->state == C_OPEN && c->body.fd < 0 && !c->px &&
           c->out.len < OUT_HIGH) {
        if (c->skip) {
            size_t n = c->app.len < c->skip ? c->app.len : (size_t)c->skip;
            moat_buf_consume(&c->app, n);
            c->skip -= n;
            if (c->skip) break;
        }
        /* Parse again only when a line may have ended since last time. */
        if (!c->chunked_body &&
            (c->scanned >= c->app.len ||
             (c->app.len < MOAT_HTTP_MAX_REQUEST_LINE &&
              !memchr(c->app.base + c->scanned, '\n', c->app.len - c->scanned)))) {
            c->scanned = c->app.len;
            if (c->app.len && !c->head_since) c->head_since = core_mono_ms();
            if (c->peer_done) begin_close(c, 1);
            break;
        }
        moat_http_request req;
        int n = moat_http_parse_request((const char *)c->app.base, c->app.len, &req);
        if ((n == 0 && c->app.len > L->s->max_header + MOAT_HTTP_MAX_REQUEST_LINE) ||
            (n > 0 && (size_t)n > L->s->max_header + req.target_len + 16))
            n = -431;
        if (n == 0) {
            c->scanned = c->app.len;
            if (!c->head_since) c->head_since = core_mono_ms();
            if (c->peer_done) begin_close(c, 1);
            break;
        }
        c->scanned = 0;
        c->head_since = 0;
        /* A chunked body for the files is read first (the proxy streams
         * its own): its size is known only at its end. */
        int body_read = 0;
        if (n > 0 && req.f.chunked && c->tls && moat_proxy_match(&req) == MOAT_PROXY_NONE) {
            int b = read_chunked_body(L, c, (size_t)n);
            if (b == 0) {
                if (c->peer_done) begin_close(c, 1);
                break;
            }
            if (b < 0) n = b;
            body_read = b == 1;
        }
        moat_buf_clear(&L->head);
        int close = 1;
        struct moat_resp resp = {0, 0};
        if (n == -413) {
            resp.status = 413;
            resp.bytes = moat_server_error(&L->head, 413, 0, 1);
            moat_buf_clear(&c->app);
            access_log(L, c, &req, &resp);
        } else if (n < 0) {
            /* Malformed, or a smuggling attempt (CL with TE, differing
             * CLs): answer and close, never guess the framing. */
            resp.status = -n;
            resp.bytes = moat_server_error(&L->head, -n, 0, 1);
            moat_buf_clear(&c->app);
            access_log(L, c, NULL, &resp);
        } else if (req.f.content_length > 0 && (uint64_t)req.f.content_length > L->s->max_body) {
            resp.status = 413;
            resp.bytes = moat_server_error(&L->head, 413, 0, 1);
            moat_buf_clear(&c->app);
            access_log(L, c, &req, &resp);
        } else {
            /* HTTP/1.0 keep-alive is rare enough to not be worth its
             * special header; a chunked request body we would have to
             * decode just to skip it. Stopping: each connection ends
             * after its next answer. */
            close = !req.f.keep_alive || req.f.minor == 0 || (req.f.chunked && !body_read) ||
                    L->draining;
            route_request(L, c, &req, &close, &resp);
            if (c->px) { /* proxy.c takes the body and the answer from here */
                moat_buf_consume(&c->app, (size_t)n);
                handled++;
                break;
            }
            access_log(L, c, &req, &resp);
            if (req.f.content_length > 0) c->skip = (uint64_t)req.f.content_length;
            moat_buf_consume(&c->app, (size_t)n);
        }
        handled++;
        if (conn_send(c, L->head.base, L->head.len) < 0) {
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
        if (conn_send(c, buf, (size_t)n) < 0) {
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
            (c->state == C_OPEN && c->scanned < c->app.len && !c->skip && !c->px &&
             !c->chunked_body))
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
        if (c->px) progress += proxy_step(L, c);
        if (c->state != C_LINGER) progress += send_body(c);
        int queued = c->out.len > 0;
        if (flush_out(L, c) < 0) return -1;
        if (c->out.len) break;
        if (c->state == C_FLUSH) {
            /* Everything is out: shut our side and wait briefly for the
             * peer's FIN, so unread input cannot turn into an RST that
             * destroys the response in flight. */
            if (shutdown(c->fd, SHUT_WR) < 0) return -1;
            c->state = C_LINGER;
            c->deadline = core_mono_ms() + LINGER_MS;
            break;
        }
        /* A proxied response whose queue just emptied may go on at once. */
        if (!progress && !(c->px && queued)) break;
    }
    /* Out of passes with the queue empty: the proxy stopped reading its
     * backend while the queue was full, so let it read (and re-arm) now. */
    if (c->px && !c->out.len) proxy_step(L, c);
    if (c->state == C_OPEN && !c->out.len && !c->app.len && c->body.fd < 0 && !c->px) {
        buf_return(L, &c->out);
        buf_return(L, &c->app);
    }
    return set_events(L, c) < 0 ? -1 : 0;
}

/* epoll tags of the two listeners (connections are tagged by their conn). */
static char tag_tls, tag_plain;

static void listen_on(struct loop *L, int on)
{
    struct moat_server *s = L->s;
    int fds[2] = {s->lfd, s->redirect_fd};
    void *tags[2] = {&tag_tls, &tag_plain};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0) continue;
        /* This slot's socket (serve.c), shared with the worker it replaces
         * during a reload: EPOLLEXCLUSIVE wakes one of them, not both. */
        struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = tags[i]};
        epoll_ctl(s->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fds[i], on ? &e : NULL);
    }
}

static void accept_new(struct loop *L, int plain)
{
    struct moat_server *s = L->s;
    int lfd = plain ? s->redirect_fd : s->lfd;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                listen_on(L, 0);
                L->accept_paused_until = core_mono_ms() + ACCEPT_PAUSE_MS;
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
        if (!c || (!plain && !(c->tls = moat_tls_server_new(s->cfg)))) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->body.fd = -1;
        c->events = EPOLLIN;
        c->handshake_done = plain;
        c->last_active = core_mono_ms();
        c->deadline = c->last_active + s->handshake_timeout_ms;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof c->addr);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof c->addr);
        else
            strcpy(c->addr, "-");
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

/* Reloads an OCSP staple whose file changed (checked once a second). A
 * file that no longer parses leaves the previous staple in place; the
 * engine itself stops stapling a response past its nextUpdate. */
static void check_staples(struct loop *L)
{
    struct moat_server *s = L->s;
    for (int i = 0; i < s->nstaples; i++) {
        struct stat st;
        if (stat(s->staples[i].path, &st) < 0) continue;
        if (st.st_mtim.tv_sec == s->staples[i].mtime.tv_sec &&
            st.st_mtim.tv_nsec == s->staples[i].mtime.tv_nsec)
            continue;
        s->staples[i].mtime = st.st_mtim;
        size_t n = 0;
        uint8_t *der = core_read_file(s->staples[i].path, 1 << 16, &n);
        if (!der && errno != EFBIG) continue; /* gone, or being replaced */
        int r = der ? moat_tls_config_set_ocsp_staple(s->cfg, (size_t)i, der, n) : -1;
        free(der);
        if (r < 0)
            fprintf(stderr,
                    "moat serve: %s changed but is not a usable OCSP response; keeping "
                    "the previous one\n",
                    s->staples[i].path);
    }
}

/* Closes connections past their deadline: a quiet close_notify for an idle
 * one, nothing for a stalled handshake or a lingering close. */
static void sweep(struct loop *L, int64_t now)
{
    struct conn *c = L->conns;
    size_t limit = L->nconns, parked = 0;
    for (size_t i = 0; c && i < limit; i++) {
        struct conn *next = c->next;
        if (c->px) { /* the proxy keeps its own timeouts */
            c->deadline = now + L->s->idle_timeout_ms;
            if (pump(L, c) < 0) {
                conn_free(L, c);
                c = next;
                continue;
            }
        }
        /* A head trickling in a byte at a time would otherwise keep the
         * idle timer fresh forever (slowloris). */
        int slow_head = c->state == C_OPEN && c->head_since && c->body.fd < 0 && !c->out.len &&
                        now - c->head_since >= L->s->header_timeout_ms;
        /* Stopping: an idle keep-alive connection goes once it has been
         * quiet a moment (a request may be on its way), any at the end. */
        int drained = L->draining && (now >= L->drain_deadline ||
                                      (c->state == C_OPEN && !c->app.len && !c->out.len &&
                                       c->body.fd < 0 && now - c->last_active >= DRAIN_IDLE_MS));
        /* Quiet for a while with nothing in flight: its cipher contexts go
         * (moat_tls_park); keys stay, the next record makes them again. */
        if (c->state == C_OPEN && c->handshake_done && c->tls && !c->px && !c->app.len &&
            !c->out.len && c->body.fd < 0 && now - c->last_active >= PARK_MS) {
            parked += (size_t)moat_tls_park(c->tls);
        }
        if (now >= c->deadline || slow_head || drained) {
            if (c->state == C_OPEN && c->handshake_done && c->tls) {
                moat_tls_close(c->tls, &c->out);
                send(c->fd, c->out.base, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            conn_free(L, c);
        }
        c = next;
    }
    /* Many contexts freed at once leave whole free pages inside the heap:
     * give those back, so RSS shows what idle connections really keep. */
    L->parked_untrimmed += parked;
    if (L->parked_untrimmed >= 256) {
        malloc_trim(0);
        L->parked_untrimmed = 0;
    }
    if (L->accept_paused_until && now >= L->accept_paused_until) {
        if (!L->draining) listen_on(L, 1);
        L->accept_paused_until = 0;
    }
}

int moat_server_run(struct moat_server *s)
{
    struct loop L = {.s = s};
    moat_buf_init(&L.head);
    moat_buf_init(&L.sink);

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

    listen_on(&L, 1);

    int status = 0;
    int64_t next_sweep = core_mono_ms() + 250, next_staple = core_mono_ms() + 1000;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        if (stop_flag && !L.draining) {
            /* Stop accepting; the listener stays open in the master and
             * any new workers, so queued connections are not lost. */
            L.draining = 1;
            L.drain_deadline = core_mono_ms() + s->stop_timeout_ms;
            listen_on(&L, 0);
            close(s->lfd);
            if (s->redirect_fd >= 0) close(s->redirect_fd);
            s->lfd = s->redirect_fd = -1;
        }
        if (L.draining && !L.conns) break;
        int n = epoll_pwait(s->epfd, evs, MAX_EVENTS, L.draining ? 100 : 250, &waitmask);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("moat: epoll_wait");
            status = MOAT_EXIT_FAIL;
            break;
        }
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &tag_tls || tag == &tag_plain) {
                if (!L.draining) accept_new(&L, tag == &tag_plain);
                continue;
            }
            if (!tag) continue; /* its connection was freed earlier in this batch */
            /* Odd tags are a connection's backend socket (proxy.c). */
            struct conn *c = (struct conn *)((uintptr_t)tag & ~(uintptr_t)1);
            int drop = 0;
            if (c == tag && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                drop = on_readable(&L, c) < 0;
            if (!drop) drop = pump(&L, c) < 0;
            if (drop) {
                for (int j = i + 1; j < n; j++)
                    if (((uintptr_t)evs[j].data.ptr & ~(uintptr_t)1) == (uintptr_t)c)
                        evs[j].data.ptr = NULL;
                conn_free(&L, c);
            }
        }
        int64_t now = core_mono_ms();
        if (now >= next_sweep || L.draining) {
            sweep(&L, now);
            moat_proxy_sweep(now); /* idle backend connections, traffic or not */
            next_sweep = now + 250;
        }
        if (s->nstaples && now >= next_staple) {
            check_staples(&L);
            next_staple = now + 1000;
        }
    }

    /* Whatever is left: a close_notify each, best effort. */
    while (L.conns) {
        struct conn *c = L.conns;
        if (c->state == C_OPEN && c->handshake_done && c->tls) {
            moat_tls_close(c->tls, &c->out);
            send(c->fd, c->out.base, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        conn_free(&L, c);
    }
    moat_buf_free(&L.head);
    moat_buf_free(&L.sink);
    while (L.npool)
        moat_buf_free(&L.pool[--L.npool]);
    return status;
}
