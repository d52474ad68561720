/* moat serve: HTTP/2 (RFC 9113) on a TLS connection that chose ALPN "h2",
 * through libnghttp2's callback API: the connection hands it the bytes it
 * decrypted and takes the bytes to encrypt; nghttp2 does framing, HPACK
 * and flow control, and each request goes to the same handler as an
 * HTTP/1.1 one (static files or the proxy), its answer turned into frames. */
#ifndef MOAT_SERVER_H2_H
#define MOAT_SERVER_H2_H

#include <stddef.h>
#include <stdint.h>

#include "moat/buf.h"
#include "moat/http.h"
#include "moat/tls.h"
#include "server/server.h"

struct server_h2;
struct moat_proxy;

/* What a stream needs of the connection that carries it (loop.c). */
struct h2_host {
    void *conn;
    /* Answers req (its HTTP/1.1 head is head[0..head_len), see
     * text_head) as an HTTP/1.1 request would be: the response head, and
     * any small body after it, in out; a file in *body; or a proxied
     * exchange in *px, which this module pumps with server_proxy_pump. */
    void (*route)(void *conn, const moat_http_request *req, const uint8_t *head, size_t head_len,
                  moat_buf *out, struct moat_body *body, struct moat_proxy **px,
                  struct moat_resp *resp);
    /* 1 when the files would answer req (no proxy route could take it):
     * a body of unknown size is then read before the answer. */
    int (*reads_body)(void *conn, const moat_http_request *req);
    /* One access log line, protocol HTTP/2.0; start_us: when the stream
     * began (core_mono_us), for its duration. */
    void (*log)(void *conn, const moat_http_request *req, const struct moat_resp *resp,
                int64_t start_us);
    /* Encrypts bytes onto the connection's output queue. Returns 0 or < 0. */
    int (*send)(void *conn, const void *p, size_t n);
    /* 1 when route needs each request's HTTP/1.1 head (a proxy forwards
     * it); 0: req is built straight from the HEADERS (head NULL, 0). */
    int text_head;
};

/* Makes the session of one connection and queues our SETTINGS (s's
 * limits). Returns NULL when out of memory. */
struct server_h2 *server_h2_new(const struct moat_server *s, const struct h2_host *host);

/* Ends every stream (their files and proxied exchanges) and frees it. NULL
 * is fine. */
void server_h2_free(struct server_h2 *h);

/* Feeds decrypted bytes. Returns 1 when a request or request body bytes
 * came (activity, for the idle timeout), 0 when none did, -1 when the
 * connection is to end (a GOAWAY may be queued: send it, then close). */
int server_h2_recv(struct server_h2 *h, const uint8_t *p, size_t n);

/* Moves the streams on: pumps proxied exchanges (now: monotonic ms) and
 * serialises frames through host->send while the connection's queue,
 * *queued bytes long, stays under high. Returns 1 when response bytes
 * (HEADERS or DATA) went out, else 0. */
int server_h2_pump(struct server_h2 *h, const size_t *queued, size_t high, int64_t now);

/* Graceful stop: GOAWAY with the last stream id processed; the streams
 * below it finish. */
void server_h2_goaway(struct server_h2 *h);

/* 1 when the session has nothing more to do: both sides said GOAWAY (or
 * a fatal error) and no stream is open, so the connection may close. */
int server_h2_done(const struct server_h2 *h);

/* 1 when frames are ready to go (windows allowing): a pump would
 * produce more. */
int server_h2_want_write(const struct server_h2 *h);

/* 1 when no stream is open (an idle connection). */
int server_h2_idle(const struct server_h2 *h);

#endif
