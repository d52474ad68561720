/* moat serve --proxy: the reverse proxy in front of HTTP/1.1 applications.
 * Routes and backend pools are per worker process; one struct moat_proxy
 * carries one request of a client connection to a backend and its
 * response back, streaming both ways through bounded buffers. */
#ifndef MOAT_PROXY_H
#define MOAT_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "moat/buf.h"
#include "moat/http.h"
#include "moat/tls.h"
#include "server/evloop.h"
#include "server/server.h"

/* The routes, backends and options of --proxy, and a worker's state of
 * them (pools of idle backend connections, backend health, round-robin):
 * made by server_opts_init, filled by the options in the master,
 * owned by each worker's loop in its own forked copy, and passed to every
 * call below; no proxy state is global. resolve 0: backend hosts must be
 * numeric addresses, no name is looked up (for the config fuzzer).
 * Returns NULL when out of memory. */
struct moat_proxy_set *server_proxy_set_new(int resolve);

/* Closes its pooled connections and frees it. NULL is fine. */
void server_proxy_set_free(struct moat_proxy_set *ps);

/* Applies a proxy option: "proxy" (URL, PREFIX=URL, or either with
 * comma-separated URLs), "proxy-only" (value NULL, on or off),
 * "proxy-connect-timeout", "proxy-read-timeout", "proxy-idle-timeout",
 * "proxy-tunnel-timeout" (seconds, decimals allowed), "proxy-send-proxy"
 * (v1, v2 or off). where is NULL for a
 * flag, "FILE:LINE" for a config line. Returns 0 when applied, 1 when name
 * is not a proxy option, 2 with a message (starting with where) in err. */
int server_proxy_option(struct moat_proxy_set *ps, const char *name, const char *value,
                        const char *where, char *err, size_t errlen);

/* --proxy-send-proxy: 0 (off), 1 (v1) or 2 (v2); 0 for NULL. */
int server_proxy_sends_pp(const struct moat_proxy_set *ps);

/* 1 when some request could go to a backend (a route or --proxy-only),
 * 0 when the files answer every one (or ps is NULL). */
int server_proxy_routes(const struct moat_proxy_set *ps);

/* With --proxy-send-proxy: the addresses the PROXY header sent ahead of
 * the request on each new backend connection of px carries (h's family
 * and addresses; its TLVs are not sent). Call it right after
 * server_proxy_start, before the exchange is pumped. */
struct moat_proxy;
struct pp_header;
void server_proxy_origin(struct moat_proxy *px, const struct pp_header *h);

/* The URLs of the distinct backends, in their order (the index metrics
 * label them by), at most max of them. Returns how many. */
size_t server_proxy_backend_names(const struct moat_proxy_set *ps, const char **names, size_t max);

/* After all options: 0, or 2 after a message on stderr (--proxy-only
 * without a --proxy). */
int server_proxy_check(const struct moat_proxy_set *ps);

/* Forgets every route and backend (closing pooled connections) and sets
 * the defaults again; resolve as for server_proxy_set_new. */
void server_proxy_reset(struct moat_proxy_set *ps, int resolve);

/* --max-body-size, which also bounds chunked request bodies (413 before
 * the response head, else the response is cut short), and --idle-timeout,
 * which ends a quiet WebSocket tunnel unless --proxy-tunnel-timeout is set. */
void server_proxy_set_limits(struct moat_proxy_set *ps, uint64_t max_body, int idle_ms);

/* Closes pooled backend connections idle past --proxy-idle-timeout or
 * closed by the backend; at most once a second, whatever now is. The
 * worker calls it from its timer, with or without proxied traffic. */
void server_proxy_sweep(struct moat_proxy_set *ps, int64_t now);

enum {
    MOAT_PROXY_NONE = 0,     /* static files only */
    MOAT_PROXY_CLAIM = 1,    /* the proxy answers (a prefix route, --proxy-only) */
    MOAT_PROXY_FALLBACK = 2, /* the proxy answers what the files do not (404, 405, 501) */
};

/* Who answers req. */
int server_proxy_match(struct moat_proxy_set *ps, const moat_http_request *req);

/* Starts proxying req through ps, whose head lies at the start of buf[0..len) (the
 * body, if any, follows it there and is consumed later by pump). The head
 * itself is copied; the caller consumes it. addr is the client's address,
 * peer its TLS connection, for a verified client certificate (subject and
 * DER), or NULL. The backend socket is
 * registered in el with the callback fn and its argument arg, which should
 * call server_proxy_pump. close: the client connection ends after this
 * response. Returns NULL when out of memory. */
struct moat_proxy *server_proxy_start(struct moat_proxy_set *ps, const moat_http_request *req,
                                      const uint8_t *buf, size_t len, const char *addr,
                                      const moat_tls *peer, struct evloop *el, loop_fn *fn,
                                      void *arg, int close);

enum {
    MOAT_PROXY_BUSY = 0,  /* more to do: call again on the next event */
    MOAT_PROXY_DONE = 1,  /* response complete; the connection goes on */
    MOAT_PROXY_CLOSE = 2, /* response complete; close the connection */
    MOAT_PROXY_ABORT = 3, /* response cut short: close without close_notify */
};

/* Moves bytes as far as the sockets allow: request body from in (the
 * client's decrypted bytes) to the backend, the backend's response
 * encrypted by tls (NULL: as plaintext, for an HTTP/2 stream) onto out, which it keeps under a
 * bound. peer_done: the client sent no more. Checks the timeouts against now (monotonic ms). Adds 1
 * to *progress when anything moved. Returns one of the above. */
int server_proxy_pump(struct moat_proxy *px, moat_tls *tls, moat_buf *in, moat_buf *out,
                      int peer_done, int64_t now, int *progress);

/* The request (pointing into px, valid until server_proxy_free) and what
 * was answered, for the access log. */
void server_proxy_result(const struct moat_proxy *px, moat_http_request *req,
                         struct moat_resp *resp);

/* Ends the exchange: the backend connection goes back to its pool when
 * reusable, else is closed. NULL is fine. */
void server_proxy_free(struct moat_proxy *px);

#endif
