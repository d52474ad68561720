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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/exit.h"
#include "core/file.h"
#include "http/proxyproto.h"
#include "http/reader.h"
#include "server/accesslog.h"
#include "server/acme.h"
#include "server/evloop.h"
#include "server/metrics.h"
#include "server/h2.h"
#include "server/proxy.h"
#include "server/server.h"

#define READ_CHUNK 16384          /* bytes read from a socket at once */
#define BODY_RECORDS 4            /* records a file is read into at once */
#define BODY_CHUNK (BODY_RECORDS * 16384) /* file bytes per read: whole TLS records */
#define OUT_HIGH (64 * 1024)      /* stop producing while this much waits */
#define APP_MAX (64 * 1024)       /* stop reading while this much plaintext waits */
#define PARK_MS 1000              /* idle this long: cipher contexts freed (moat_tls_park) */
#define REQUESTS_PER_PASS 16      /* pipelined requests answered per pass */
#define PASSES 64                 /* produce/flush rounds per event */
#define LINGER_MS 2000            /* after our last byte, wait for the peer's FIN */
#define ACCEPT_PAUSE_MS 100       /* out of descriptors: stop accepting a while */
#define DRAIN_IDLE_MS 1000        /* stopping: an idle connection is closed after this */
#define POOL_MAX 256              /* idle buffers kept per worker */
#define POOL_BUF_MAX (256 * 1024) /* larger ones are freed, not kept */

enum {
    C_OPEN,   /* reading requests, answering them */
    C_FLUSH,  /* sending what is queued, then closing */
    C_LINGER, /* all sent and write side shut; discarding input until FIN
               * (out of the epoll set: the sweep looks, see linger_over) */
};

struct conn {
    int fd;
    int state;
    moat_tls *tls;         /* NULL: a plain-HTTP redirect connection */
    moat_buf out;          /* TLS records waiting for the socket, from out_sent on */
    size_t out_sent;       /* bytes of out already sent (dropped once all are) */
    moat_buf app;          /* decrypted bytes not yet answered */
    struct moat_body body; /* file bytes still to send */
    struct moat_proxy *px; /* a request handed to the reverse proxy (proxy.c) */
    struct server_h2 *h2;  /* ALPN h2: its streams (h2.c); app is handed to it */
    uint64_t skip;         /* request body bytes to discard */
    size_t scanned;        /* app bytes already parsed without a full head */
    int chunked_body;      /* reading the chunked body of the request at the head of app */
    http_body chk;         /* its decoder; chk.total: 413 past --max-body-size */
    int handshake_done;
    int peer_done;               /* close_notify or FIN received: no more requests */
    int close_after;             /* close once the current response is out */
    int64_t deadline;            /* monotonic ms */
    int64_t head_since;          /* when a partial request head began waiting; 0 */
    int64_t req_start;           /* when the request answered now began (us); 0 */
    int64_t last_active;         /* monotonic ms of the last byte either way */
    char addr[INET6_ADDRSTRLEN]; /* the client (a PROXY header's), for the logs */
    struct pp_parser *pp;        /* --proxy-protocol: the header still being read */
    char *pp_note;               /* its authority and unique ID, for the access log */
    struct pp_header *pp_fwd;    /* its addresses, for --proxy-send-proxy */
    struct loop *L;              /* its worker, for its callbacks */
    moat_tls_config *acme_cfg;   /* a tls-alpn-01 challenge's (server/acme.c), or NULL */
    int peeked;                  /* its first bytes were looked at for one */
    struct conn *prev, *next;
};

struct loop;
static loop_fn on_backend;

struct loop {
    struct evloop ev; /* the descriptors and timers of this worker */
    struct moat_server *s;
    /* --proxy: this worker's own copy of the routes (forked from the
     * master's), with its pools and backend health; freed at the end */
    struct moat_proxy_set *proxy;
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
    if (c->tls) metrics_uncount(M_CONNECTIONS_OPEN, 0, 0, 1);
    /* Accepted sockets are never shared (workers fork nothing, and
     * nothing is exec'd with them): close() alone leaves the epoll set. */
    loop_forget(&L->ev, c->fd);
    close(c->fd);
    if (c->body.fd >= 0) close(c->body.fd);
    server_proxy_free(c->px);
    server_h2_free(c->h2);
    moat_tls_free(c->tls);
    moat_tls_config_free(c->acme_cfg);
    free(c->pp);
    free(c->pp_note);
    free(c->pp_fwd);
    c->out.len = c->out_sent = c->app.len = 0;
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

/* --acme: a connection's first bytes, a ClientHello offering acme-tls/1
 * for a name with a tls-alpn-01 challenge pending, get the challenge's
 * engine instead of the site's (server/acme.c). */
static void server_acme_take(struct loop *L, struct conn *c, const uint8_t *buf, size_t n)
{
    c->peeked = 1;
    moat_tls_config *ac = server_acme_alpn_config(L->s->acme_dir, buf, n);
    moat_tls *t = ac ? moat_tls_server_new(ac) : NULL;
    if (!t) {
        moat_tls_config_free(ac);
        return;
    }
    moat_tls_free(c->tls);
    c->tls = t;
    c->acme_cfg = ac;
}
/* HTTP/2 streams reach the request handler through these (h2.h). */
static void h2_route(void *conn, const moat_http_request *req, const uint8_t *head, size_t head_len,
                     moat_buf *out, struct moat_body *body, struct moat_proxy **px,
                     struct moat_resp *resp);
static int h2_reads_body(void *conn, const moat_http_request *req);
static void h2_log(void *conn, const moat_http_request *req, const struct moat_resp *resp,
                   int64_t start_us);
static int h2_send(void *conn, const void *p, size_t n);

/* Feeds n bytes read to the engine (or, for plain HTTP, to app).
 * Returns -1 to drop the connection, 1 when no more is to be read now, 0
 * to read on. */
static int server_conn_take(struct loop *L, struct conn *c, const uint8_t *buf, size_t n)
{
    if (L->s->acme_dir && !c->peeked && !c->handshake_done) {
        server_acme_take(L, c, buf, n);
        if (!c->tls) return -1;
    }
    if (!c->tls) {
        if (c->app.len + n > MOAT_HTTP_MAX_HEADER_BYTES + MOAT_HTTP_MAX_REQUEST_LINE ||
            moat_buf_append(&c->app, buf, n) < 0)
            return -1;
        touch(L, c);
        return 0;
    }
    size_t had = c->app.len;
    int r = moat_tls_recv(c->tls, buf, n, &c->out, &c->app);
    if (r < 0 && !c->handshake_done) metrics_handshake_failed(r);
    if (r < 0) {
        /* A fatal alert we owe the peer is already in out. */
        end_body(c);
        c->state = C_FLUSH;
        return 1;
    }
    /* Only HTTP bytes (and the end of the handshake) are activity:
     * records that carry none (empty ones, KeyUpdates, a record
     * trickled a byte at a time) must not hold a connection open past
     * --idle-timeout. The engine caps how many may come in a row. */
    if (!c->handshake_done && moat_tls_handshake_done(c->tls)) {
        c->handshake_done = 1;
        metrics_handshake(c->tls);
        touch(L, c);
        if (c->acme_cfg) { /* RFC 8737 3: the certificate was all; no data */
            begin_close(c, 1);
            return 1;
        }
        const char *alpn = moat_tls_get_alpn(c->tls);
        if (alpn && strcmp(alpn, "h2") == 0) {
            static const struct h2_host host = {NULL, h2_route, h2_reads_body, h2_log, h2_send, 0};
            struct h2_host mine = host;
            mine.conn = c;
            mine.text_head = server_proxy_routes(L->proxy);
            if (!(c->h2 = server_h2_new(L->s, &mine))) return -1;
        }
    }
    if (c->h2) {
        /* HTTP/2: the session takes every byte; only requests and their
         * bodies are activity (a PING or WINDOW_UPDATE stream is not). */
        int r = c->app.len ? server_h2_recv(c->h2, c->app.base, c->app.len) : 0;
        c->app.len = 0;
        if (r > 0) touch(L, c);
    } else if (c->app.len > had) {
        touch(L, c);
    }
    if (moat_tls_peer_closed(c->tls)) {
        c->peer_done = 1;
        return 1;
    }
    return 0;
}

/* Keeps a v2 header's authority and unique ID (hex) for the access log. */
static void server_pp_note(struct conn *c, const struct pp_header *h)
{
    if (!h->authority[0] && !h->unique_id_len) return;
    char id[2 * PP_UNIQUE_ID_MAX + 2] = "-";
    for (size_t i = 0; i < h->unique_id_len; i++)
        snprintf(id + 2 * i, 3, "%02x", h->unique_id[i]);
    size_t n = strlen(h->authority) + strlen(id) + 4;
    if (!(c->pp_note = malloc(n))) return;
    snprintf(c->pp_note, n, "%s %s", h->authority[0] ? h->authority : "-", id);
}

/* --proxy-protocol: feeds bytes to the header parser. Once it is whole,
 * the client's address is the header's, and *used says how many bytes
 * were its (what follows is the ClientHello's). Returns -1 (logged) for
 * a bad header, 0 while it goes on, 1 once done. */
static int server_pp_take(struct conn *c, const uint8_t *buf, size_t n, size_t *used)
{
    enum pp_status st = pp_feed(c->pp, buf, n, used);
    if (st == PP_ERROR) {
        fprintf(stderr, "moat serve: %s: bad PROXY header (%s); connection closed\n", c->addr,
                c->pp->why ? c->pp->why : "malformed");
        return -1;
    }
    if (st == PP_NEED_MORE) return 0;
    struct sockaddr_storage ss;
    unsigned sl;
    if (pp_client_addr(&c->pp->hdr, &ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof c->addr);
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof c->addr);
    }
    server_pp_note(c, &c->pp->hdr);
    if (c->pp->hdr.family && server_proxy_sends_pp(c->L->proxy) &&
        (c->pp_fwd = malloc(sizeof *c->pp_fwd)))
        *c->pp_fwd = c->pp->hdr;
    free(c->pp);
    c->pp = NULL;
    return 1;
}

/* Reads what the socket has and feeds it to the engine (after the PROXY
 * header, when one is expected). Returns -1 when the connection is to be
 * dropped at once. */
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
            if (c->pp)
                fprintf(stderr, "moat serve: %s: closed before its PROXY header was whole\n",
                        c->addr);
            /* FIN. Without close_notify nothing more can be trusted to
             * arrive, but complete requests already read are answered. */
            if (c->state == C_LINGER || !c->handshake_done || c->pp) return -1;
            c->peer_done = 1;
            return 0;
        }
        metrics_count(M_RECEIVED_BYTES, 0, 0, (uint64_t)n);
        if (c->state != C_OPEN || c->peer_done) continue; /* discarding: we are closing */
        size_t used = 0;
        if (c->pp) {
            int r = server_pp_take(c, buf, (size_t)n, &used);
            if (r < 0) return -1;
            if (r == 0) continue;
        }
        int r = used < (size_t)n ? server_conn_take(L, c, buf + used, (size_t)n - used) : 0;
        if (r) return r < 0 ? -1 : 0;
        if ((size_t)n < sizeof buf) break;
    }
    return 0;
}

/* Logs one request (accesslog.c writes the line) and counts it. */
static void access_log(struct loop *L, struct conn *c, const moat_http_request *req,
                       const struct moat_resp *resp, const char *proto)
{
    int64_t now = core_mono_us();
    metrics_request(req ? req->method : NULL, req ? req->method_len : 0, resp->status, c->req_start,
                    now);
    if (L->s->access_log < 0) return;
    char auth[PP_AUTHORITY_MAX + 1] = "", *id = NULL;
    if (c->pp_note) { /* "authority id", "-" for either missing */
        size_t k = strcspn(c->pp_note, " ");
        snprintf(auth, sizeof auth, "%.*s", (int)k, c->pp_note);
        id = c->pp_note + k + (c->pp_note[k] == ' ');
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct server_log_entry e = {
        .addr = c->addr,
        .when = wall.tv_sec,
        .when_ms = (int)(wall.tv_nsec / 1000000),
        .req = req,
        .status = resp->status,
        .bytes = resp->bytes,
        .duration_us = c->req_start ? now - c->req_start : -1,
        .tls = c->tls,
        .log_identity = L->s->log_identity,
        .pp_authority = c->pp_note && strcmp(auth, "-") ? auth : NULL,
        .pp_id = id && strcmp(id, "-") ? id : NULL,
        .proto = proto,
    };
    moat_buf b;
    moat_buf_init(&b);
    /* One write per line: O_APPEND keeps the workers' lines whole. */
    if (server_log_line(&b, &e, L->s->log_json) == 0 &&
        write(L->s->access_log, b.base, b.len) < 0) {
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
        resp->bytes = server_error(head, 400, 0, 1);
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
        resp->bytes = server_error(head, 414, 0, 1);
        return;
    }
    moat_buf_append(head, "\r\n", 2);
    resp->status = 308;
    resp->bytes = 0;
}

/* --proxy-send-proxy: the client's and the listener's addresses, from
 * the PROXY header this connection got, else from its socket. */
static const struct pp_header *server_origin(struct conn *c)
{
    static struct pp_header h;
    if (c->pp_fwd) {
        h = *c->pp_fwd;
        h.local = 0;
        h.authority[0] = '\0';
        h.unique_id_len = 0;
        return &h;
    }
    struct sockaddr_storage src, dst;
    socklen_t sl = sizeof src, dl = sizeof dst;
    if (getpeername(c->fd, (struct sockaddr *)&src, &sl) < 0 ||
        getsockname(c->fd, (struct sockaddr *)&dst, &dl) < 0)
        src.ss_family = dst.ss_family = AF_UNSPEC;
    pp_from_addrs(&h, (struct sockaddr *)&src, (struct sockaddr *)&dst);
    return &h;
}

/* Decides who answers a parsed request (whose head starts buf[0..len),
 * its body after it) and lets it write the response head into head (and
 * a file into *body, or hand the exchange to the proxy in *px). This is
 * the one place to hook another kind of handler (a reverse proxy) in
 * front of the files, for HTTP/1.1 and HTTP/2 alike. */
static void route_request(struct loop *L, struct conn *c, const moat_http_request *req,
                          const uint8_t *buf, size_t len, moat_buf *head, struct moat_body *body,
                          struct moat_proxy **px, int *closing, struct moat_resp *resp)
{
    if (!c->tls) {
        *closing = 1;
        if (server_acme_http01(L->s->acme_dir, req, head, resp)) return;
        redirect(L->s, req, head, resp);
        return;
    }
    /* --proxy: a prefix route or --proxy-only claims the request; a plain
     * --proxy URL gets what the files do not answer. */
    int m = server_proxy_match(L->proxy, req);
    if (m != MOAT_PROXY_CLAIM) {
        server_static(L->s, req, head, body, closing, resp);
        if (!m || (resp->status != 404 && resp->status != 405 && resp->status != 501)) return;
        moat_buf_clear(head);
        if (body->fd >= 0) close(body->fd);
        body->fd = -1;
        body->left = 0;
    }
    *px = server_proxy_start(L->proxy, req, buf, len, c->addr, c->tls, &L->ev, on_backend, c,
                             *closing && !req->f.chunked);
    if (*px && server_proxy_sends_pp(L->proxy)) server_proxy_origin(*px, server_origin(c));
    if (!*px) {
        *closing = 1;
        resp->status = 503;
        resp->bytes = server_error(head, 503, 0, !c->h2);
    }
}

/* HTTP/2's way into the same handler (h2.h's host->route). */
static void h2_route(void *conn, const moat_http_request *req, const uint8_t *head, size_t head_len,
                     moat_buf *out, struct moat_body *body, struct moat_proxy **px,
                     struct moat_resp *resp)
{
    struct conn *c = conn;
    int close = 0;
    route_request(c->L, c, req, head, head_len, out, body, px, &close, resp);
}

static int h2_reads_body(void *conn, const moat_http_request *req)
{
    return server_proxy_match(((struct conn *)conn)->L->proxy, req) == MOAT_PROXY_NONE;
}

static void h2_log(void *conn, const moat_http_request *req, const struct moat_resp *resp,
                   int64_t start_us)
{
    struct conn *c = conn;
    int64_t was = c->req_start; /* the stream's start, not the connection's request's */
    c->req_start = start_us;
    access_log(c->L, c, req, resp, "HTTP/2.0");
    c->req_start = was;
}

static int h2_send(void *conn, const void *p, size_t n)
{
    return moat_tls_send(((struct conn *)conn)->tls, &((struct conn *)conn)->out, p, n);
}

/* Moves a proxied exchange on; when its response is over, logs it and
 * lets the connection go on (or end). Returns 1 when anything moved. */
static int proxy_step(struct loop *L, struct conn *c)
{
    int progress = 0;
    int r = c->state != C_OPEN ? MOAT_PROXY_ABORT
                               : server_proxy_pump(c->px, c->tls, &c->app, &c->out, c->peer_done,
                                                   core_mono_ms(), &progress);
    if (progress) touch(L, c);
    if (r == MOAT_PROXY_BUSY) return progress;
    moat_http_request req;
    struct moat_resp resp;
    server_proxy_result(c->px, &req, &resp);
    access_log(L, c, &req, &resp, NULL);
    server_proxy_free(c->px);
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
        http_body_init(&c->chk, HTTP_BODY_CHUNKED, 0);
        c->chunked_body = 1;
    }
    while (c->app.len > head_len) {
        size_t avail = c->app.len - head_len;
        if (avail > READ_CHUNK) avail = READ_CHUNK;
        http_piece p; /* the decoded bytes, in L->sink, are dropped */
        int r = http_body_feed(&c->chk, c->app.base + head_len, avail, &L->sink, &p);
        memmove(c->app.base + head_len, c->app.base + head_len + p.used,
                c->app.len - head_len - p.used);
        c->app.len -= p.used;
        if (r < 0 || c->chk.total > L->s->max_body) {
            c->chunked_body = 0;
            return r < 0 ? -400 : -413;
        }
        if (r == HTTP_BODY_END) {
            c->chunked_body = 0;
            return 1;
        }
        if (!p.used) break;
    }
    return 0;
}

/* The next request head at the start of c->app, once it is all there
 * (and a chunked body the files answer, read to its end). Returns the
 * head's length, the negated status of an error to answer, or 0 to wait
 * for more bytes. */
static int next_request(struct loop *L, struct conn *c, moat_http_request *req, int *body_read)
{
    *body_read = 0;
    /* Parse again only when a line may have ended since last time. */
    if (!c->chunked_body && (c->scanned >= c->app.len ||
                             (c->app.len < MOAT_HTTP_MAX_REQUEST_LINE &&
                              !memchr(c->app.base + c->scanned, '\n', c->app.len - c->scanned)))) {
        c->scanned = c->app.len;
        if (c->app.len && !c->head_since) c->head_since = core_mono_ms();
        if (c->peer_done) begin_close(c, 1);
        return 0;
    }
    int n = moat_http_parse_request((const char *)c->app.base, c->app.len, req);
    if ((n == 0 && c->app.len > L->s->max_header + MOAT_HTTP_MAX_REQUEST_LINE) ||
        (n > 0 && (size_t)n > L->s->max_header + req->target_len + 16))
        n = -431;
    if (n == 0) {
        c->scanned = c->app.len;
        if (!c->head_since) c->head_since = core_mono_ms();
        if (c->peer_done) begin_close(c, 1);
        return 0;
    }
    c->scanned = 0;
    c->req_start = c->head_since ? c->head_since * 1000 : core_mono_us();
    c->head_since = 0;
    /* A chunked body for the files is read first (the proxy streams its
     * own): its size is known only at its end. */
    if (n > 0 && req->f.chunked && c->tls && server_proxy_match(L->proxy, req) == MOAT_PROXY_NONE) {
        int b = read_chunked_body(L, c, (size_t)n);
        if (b == 0) {
            if (c->peer_done) begin_close(c, 1);
            return 0;
        }
        if (b < 0) n = b;
        *body_read = b == 1;
    }
    return n;
}

/* Answers the request whose head is the first n bytes of c->app (n < 0:
 * the error -n) into L->head. Returns whether the connection closes after
 * it; the proxy, when it takes the request, answers later itself. */
static int answer_one(struct loop *L, struct conn *c, const moat_http_request *req, int n,
                      int body_read)
{
    int close = 1;
    struct moat_resp resp = {0, 0};
    int too_big =
        n > 0 && req->f.content_length > 0 && (uint64_t)req->f.content_length > L->s->max_body;
    if (n == -413 || too_big) {
        resp.status = 413;
        resp.bytes = server_error(&L->head, 413, 0, 1);
        moat_buf_clear(&c->app);
        access_log(L, c, req, &resp, NULL);
    } else if (n < 0) {
        /* Malformed, or a smuggling attempt (CL with TE, differing CLs):
         * answer and close, never guess the framing. */
        resp.status = -n;
        resp.bytes = server_error(&L->head, -n, 0, 1);
        moat_buf_clear(&c->app);
        access_log(L, c, NULL, &resp, NULL);
    } else {
        /* HTTP/1.0 keep-alive is rare enough to not be worth its special
         * header; a chunked request body we would have to decode just to
         * skip it. Stopping: each connection ends after its next answer. */
        close = !req->f.keep_alive || req->f.minor == 0 || (req->f.chunked && !body_read) ||
                L->draining;
        route_request(L, c, req, c->app.base, c->app.len, &L->head, &c->body, &c->px, &close,
                      &resp);
        if (!c->px) { /* else proxy.c takes the body and the answer from here */
            access_log(L, c, req, &resp, NULL);
            if (req->f.content_length > 0) c->skip = (uint64_t)req->f.content_length;
        }
        moat_buf_consume(&c->app, (size_t)n);
    }
    return close;
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
        moat_http_request req;
        int body_read;
        int n = next_request(L, c, &req, &body_read);
        if (n == 0) break;
        /* Emptied, not wiped: it holds response heads and the bytes of
         * served files, which the file cache keeps in memory anyway. */
        L->head.len = 0;
        int close = answer_one(L, c, &req, n, body_read);
        handled++;
        if (c->px) break;
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

/* Reads the next piece of the current file straight into the records
 * being built at the end of out (moat_tls_send_space), several at once,
 * and seals them where they lie: the file's bytes are copied once, by
 * the kernel, and encrypted in place. Plain HTTP has no engine (and
 * serves no files today): a plain read onto the queue. Returns the bytes
 * read, 0 at the file's end or -1 (the connection cannot go on). */
static ssize_t body_piece(struct conn *c, size_t want)
{
    struct iovec iov[BODY_RECORDS];
    int k;
    if (!c->tls) {
        if (moat_buf_reserve(&c->out, want) < 0) return -1;
        iov[0] = (struct iovec){c->out.base + c->out.len, want};
        k = 1;
    } else if ((k = moat_tls_send_space(c->tls, &c->out, want, iov, BODY_RECORDS)) < 0) {
        return -1;
    }
    ssize_t n;
    do
        n = preadv(c->body.fd, iov, k, c->body.off);
    while (n < 0 && errno == EINTR);
    if (!c->tls) {
        if (n > 0) c->out.len += (size_t)n;
    } else if (moat_tls_send_seal(c->tls, &c->out, n > 0 ? (size_t)n : 0) < 0) {
        return -1;
    }
    return n < 0 ? -1 : n;
}

/* Encrypts more of the current file while the queue is short. Returns 1
 * when it produced something. */
static int send_body(struct conn *c)
{
    int produced = 0;
    for (int i = 0; i < OUT_HIGH / BODY_CHUNK + 1 && c->body.fd >= 0 && c->out.len < OUT_HIGH;
         i++) {
        size_t want = c->body.left < BODY_CHUNK ? (size_t)c->body.left : BODY_CHUNK;
        ssize_t n = body_piece(c, want);
        if (n <= 0) {
            /* The file shrank or failed: Content-Length cannot be kept, so
             * end without close_notify and let the client see truncation. */
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
    /* Closing after this: the last bytes wait in the kernel for the FIN
     * that shutdown() adds to them, one segment instead of two (a queue
     * that does not drain here is still pushed by the ACKs it waits for). */
    int more = c->state == C_FLUSH ? MSG_MORE : 0;
    for (int i = 0; i < 64 && c->out.len; i++) {
        ssize_t n = send(c->fd, c->out.base + c->out_sent, c->out.len - c->out_sent,
                         MSG_NOSIGNAL | more);
        if (n > 0) {
            /* No copy of what is left: it goes from where it is, and the
             * queue empties once it is all out. */
            c->out_sent += (size_t)n;
            if (c->out_sent == c->out.len) c->out.len = c->out_sent = 0;
            metrics_count(M_SENT_BYTES, 0, 0, (uint64_t)n);
            if (!c->h2) touch(L, c); /* HTTP/2: only response frames count (pump_h2) */
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
        return 0; /* out of the epoll set (flush_step) */
    } else if (c->h2) {
        /* Nothing is read while our answers wait for the socket: a
         * client that sends but never reads fills nothing but its own
         * socket buffer. */
        if (c->state == C_OPEN && !c->peer_done && c->out.len < OUT_HIGH) ev |= EPOLLIN;
        if (c->out.len || (c->state == C_OPEN && server_h2_want_write(c->h2))) ev |= EPOLLOUT;
    } else {
        if (c->state == C_OPEN && !c->peer_done && c->app.len < APP_MAX) ev |= EPOLLIN;
        /* Writable is also our cue to continue a body or pipelined
         * requests left for the next pass. */
        if (c->out.len || c->body.fd >= 0 ||
            (c->state == C_OPEN && c->scanned < c->app.len && !c->skip && !c->px &&
             !c->chunked_body))
            ev |= EPOLLOUT;
    }
    return loop_mod(&L->ev, c->fd, ev);
}

/* Writes what is queued. Once everything is out of a connection that is
 * closing, shuts our side and waits briefly for the peer's FIN, so unread
 * input cannot turn into an RST that destroys the response in flight.
 * Returns -1 on a write error, 1 when the pump is to stop for now (output
 * still queued, or lingering), 0 when it may go on. */
static int flush_step(struct loop *L, struct conn *c)
{
    if (flush_out(L, c) < 0) return -1;
    if (c->out.len) return 1;
    if (c->state == C_FLUSH) {
        if (shutdown(c->fd, SHUT_WR) < 0) return -1;
        c->state = C_LINGER;
        c->deadline = core_mono_ms() + LINGER_MS;
        /* The peer's FIN (and the EPOLLHUP it raises, which no event mask
         * turns off) would wake the worker once more per connection, for
         * nothing but a close: the sweep reads it instead, many at once. */
        loop_del(&L->ev, c->fd);
        return 1;
    }
    return 0;
}

/* The same for an HTTP/2 connection: frames are produced while the
 * queue is short (h2.c pulls file and proxied bodies only then). */
static int pump_h2(struct loop *L, struct conn *c)
{
    for (int pass = 0; pass < PASSES; pass++) {
        int progress = 0;
        if (c->state == C_OPEN) {
            if (L->draining || c->peer_done) server_h2_goaway(c->h2);
            progress = server_h2_pump(c->h2, &c->out.len, OUT_HIGH, core_mono_ms());
            if (progress) touch(L, c);
            if (server_h2_done(c->h2)) begin_close(c, 1);
        }
        int f = flush_step(L, c);
        if (f < 0) return -1;
        if (f) break;
        if (!progress) break;
    }
    if (c->state == C_OPEN && !c->out.len && server_h2_idle(c->h2)) {
        buf_return(L, &c->out);
        buf_return(L, &c->app);
    }
    return set_events(L, c) < 0 ? -1 : 0;
}

/* Moves a connection forward as far as the socket allows. Returns -1 when
 * it is to be freed. */
static int pump(struct loop *L, struct conn *c)
{
    if (c->h2) return pump_h2(L, c);
    for (int pass = 0; pass < PASSES; pass++) {
        int progress = 0;
        if (c->state == C_OPEN && c->handshake_done) progress += answer_requests(L, c);
        if (c->px) progress += proxy_step(L, c);
        if (c->state != C_LINGER) progress += send_body(c);
        int queued = c->out.len > 0;
        int f = flush_step(L, c);
        if (f < 0) return -1;
        if (f) break;
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

static void on_listener(struct evloop *el, int fd, uint32_t events, void *arg);

static void listen_on(struct loop *L, int on)
{
    struct moat_server *s = L->s;
    int fds[2] = {s->lfd, s->redirect_fd};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0) continue;
        /* This slot's socket (serve.c), shared with the worker it replaces
         * during a reload: EPOLLEXCLUSIVE wakes one of them, not both. */
        if (on)
            loop_add(&L->ev, fds[i], EPOLLIN | EPOLLEXCLUSIVE, on_listener, L);
        else
            loop_del(&L->ev, fds[i]);
    }
}

/* A client connection's socket: read what came, then move it on. */
static void on_conn(struct evloop *el, int fd, uint32_t events, void *arg)
{
    struct conn *c = arg;
    (void)el, (void)fd;
    int drop = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) drop = on_readable(c->L, c) < 0;
    if (!drop) drop = pump(c->L, c) < 0;
    if (drop) conn_free(c->L, c);
}

/* The backend socket of a connection's proxied request (proxy.c): the
 * connection's pump moves the exchange on. */
static void on_backend(struct evloop *el, int fd, uint32_t events, void *arg)
{
    struct conn *c = arg;
    (void)el, (void)fd, (void)events;
    if (pump(c->L, c) < 0) conn_free(c->L, c);
}

/* --proxy-protocol on this listener: a peer allowed to send a PROXY
 * header gets a parser for it; any other is refused (logged). Returns -1
 * to close the connection. */
static int server_pp_expect(const struct moat_server *s, struct conn *c, int plain,
                            const struct sockaddr_storage *ss)
{
    if (!(s->proxy_protocol & (plain ? SERVER_PP_REDIRECT : SERVER_PP_HTTPS))) return 0;
    const unsigned char *a = NULL;
    if (ss->ss_family == AF_INET)
        a = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
    else if (ss->ss_family == AF_INET6)
        a = (const unsigned char *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (!a || !pp_allow_match(s->pp_from, ss->ss_family, a)) {
        fprintf(stderr,
                "moat serve: %s: not in --proxy-protocol-from, may not send a PROXY header; "
                "connection closed\n",
                c->addr);
        return -1;
    }
    if (!(c->pp = malloc(sizeof *c->pp))) return -1;
    pp_init(c->pp);
    return 0;
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
        /* TCP_NODELAY comes from the listener (serve.c). */
        struct conn *c = calloc(1, sizeof *c);
        /* --acme before any certificate: no engine yet; a tls-alpn-01
         * ClientHello gets one (server_acme_take), any other is dropped. */
        if (!c || (!plain && !(c->tls = moat_tls_server_new(s->cfg)) && !s->acme_dir)) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->L = L;
        c->body.fd = -1;
        c->handshake_done = plain;
        c->last_active = core_mono_ms();
        c->deadline = c->last_active + s->handshake_timeout_ms;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof c->addr);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof c->addr);
        else
            strcpy(c->addr, "-");
        if (server_pp_expect(s, c, plain, &ss) < 0) {
            moat_tls_free(c->tls);
            free(c);
            close(fd);
            continue;
        }
        moat_buf_init(&c->out);
        moat_buf_init(&c->app);
        if (loop_add(&L->ev, fd, EPOLLIN, on_conn, c) < 0) {
            moat_tls_free(c->tls);
            free(c);
            close(fd);
            continue;
        }
        c->next = L->conns;
        if (L->conns) L->conns->prev = c;
        L->conns = c;
        L->nconns++;
        if (c->tls) metrics_conn_accepted();
    }
}

/* Reloads an OCSP staple whose file changed (checked once a second). A
 * file that no longer parses leaves the previous staple in place; the
 * engine itself stops stapling a response past its nextUpdate. */
static void check_staples(struct evloop *el, int64_t now, void *arg)
{
    struct loop *L = arg;
    (void)el, (void)now;
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

/* A lingering connection (C_LINGER): reads and drops what came. Returns
 * 1 once the peer's FIN (or an error) says it may be closed, 0 while it
 * may still send. */
static int linger_over(struct conn *c)
{
    uint8_t buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
    return 0; /* still sending: its deadline ends it */
}

/* Closes connections past their deadline: a quiet close_notify for an idle
 * one, nothing for a stalled handshake or a lingering close. */
static void sweep(struct loop *L, int64_t now)
{
    server_proxy_sweep(L->proxy, now); /* idle backend connections, traffic or not */
    struct conn *c = L->conns;
    size_t limit = L->nconns, parked = 0;
    for (size_t i = 0; c && i < limit; i++) {
        struct conn *next = c->next;
        if (c->state == C_LINGER) {
            if (now >= c->deadline || linger_over(c)) conn_free(L, c);
            c = next;
            continue;
        }
        if (c->px || c->h2) { /* the proxy keeps its own timeouts */
            if (c->px) c->deadline = now + L->s->idle_timeout_ms;
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
                                       c->body.fd < 0 && (!c->h2 || server_h2_idle(c->h2)) &&
                                       now - c->last_active >= DRAIN_IDLE_MS));
        /* Quiet for a while with nothing in flight: its cipher contexts go
         * (moat_tls_park); keys stay, the next record makes them again. */
        if (c->state == C_OPEN && c->handshake_done && c->tls && !c->px && !c->app.len &&
            !c->out.len && c->body.fd < 0 && (!c->h2 || server_h2_idle(c->h2)) &&
            now - c->last_active >= PARK_MS) {
            parked += (size_t)moat_tls_park(c->tls);
        }
        if (now >= c->deadline || slow_head || drained) {
            if (c->pp && now >= c->deadline)
                fprintf(stderr,
                        "moat serve: %s: no PROXY header within --handshake-timeout; "
                        "connection closed\n",
                        c->addr);
            if (c->state == C_OPEN && c->handshake_done && c->tls) {
                moat_tls_close(c->tls, &c->out);
                send(c->fd, c->out.base + c->out_sent, c->out.len - c->out_sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
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

/* A listener: new connections, unless stopping. */
static void on_listener(struct evloop *el, int fd, uint32_t events, void *arg)
{
    struct loop *L = arg;
    (void)el, (void)events;
    if (!L->draining) accept_new(L, fd == L->s->redirect_fd);
}

static void on_sweep(struct evloop *el, int64_t now, void *arg)
{
    (void)el;
    sweep(arg, now);
}

/* Signals are blocked except inside epoll_pwait, so a stop request can
 * never slip in between the flag check and the wait. Sets waitmask to the
 * mask to wait with. */
static void catch_signals(sigset_t *waitmask)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, waitmask);
    sigdelset(waitmask, SIGTERM);
    sigdelset(waitmask, SIGINT);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Stop accepting; the listener stays open in the master and any new
 * workers, so queued connections are not lost. */
static void begin_drain(struct loop *L)
{
    struct moat_server *s = L->s;
    L->draining = 1;
    L->drain_deadline = core_mono_ms() + s->stop_timeout_ms;
    listen_on(L, 0);
    close(s->lfd);
    if (s->redirect_fd >= 0) close(s->redirect_fd);
    s->lfd = s->redirect_fd = -1;
}

int server_run(struct moat_server *s)
{
    struct loop L = {.s = s, .proxy = s->proxy};
    loop_init(&L.ev, s->epfd);
    moat_buf_init(&L.head);
    moat_buf_init(&L.sink);
    sigset_t waitmask;
    catch_signals(&waitmask);
    listen_on(&L, 1);
    loop_timer(&L.ev, 250, on_sweep, &L);
    if (s->nstaples) loop_timer(&L.ev, 1000, check_staples, &L);

    int status = 0;
    for (;;) {
        if (stop_flag && !L.draining) begin_drain(&L);
        if (L.draining && !L.conns) break;
        if (loop_once(&L.ev, L.draining ? 100 : 250, &waitmask) < 0) {
            perror("moat: epoll_wait");
            status = MOAT_EXIT_FAIL;
            break;
        }
        if (L.draining) sweep(&L, core_mono_ms());
    }

    /* Whatever is left: a close_notify each, best effort. */
    while (L.conns) {
        struct conn *c = L.conns;
        if (c->state == C_OPEN && c->handshake_done && c->tls) {
            moat_tls_close(c->tls, &c->out);
            send(c->fd, c->out.base + c->out_sent, c->out.len - c->out_sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        conn_free(&L, c);
    }
    moat_buf_free(&L.head);
    moat_buf_free(&L.sink);
    while (L.npool)
        moat_buf_free(&L.pool[--L.npool]);
    loop_free(&L.ev);
    server_proxy_set_free(L.proxy); /* closes the pooled backend connections */
    s->proxy = NULL;
    return status;
}
