/* moat get: what stands between the transfer and the network beyond the
 * plain connection: --compressed (decode.c), --retry (retry.c),
 * --limit-rate (pace.c) and HTTP CONNECT proxies (proxy.c). Each piece is
 * small and testable on its own; fetch.c drives them. */
#ifndef MOAT_CLIENT_GETNET_H
#define MOAT_CLIENT_GETNET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- --compressed (decode.c) ---- */

/* The Accept-Encoding curl sends with --compressed, less the codings
 * moat lacks (zstd): deflate, gzip, br, in curl's order. */
#define CLIENT_ACCEPT_ENCODING "deflate, gzip, br"

/* Codings stacked in one Content-Encoding, at most (curl's limit). */
#define CLIENT_DECODE_MAX_STAGES 5

struct client_decode_stage;

/* A response body being decoded: Content-Encoding's codings, undone last
 * first. Memory is bounded whatever the ratio: output leaves in pieces of
 * at most 16 KiB through the sink, never held whole. */
struct client_decode {
    struct client_decode_stage *stage[CLIENT_DECODE_MAX_STAGES];
    int n;
    char err[160]; /* why decoding failed */
};

/* The sink of decoded bytes: returns 0, or -1 to stop (a write error). */
typedef int (*client_decode_sink)(void *arg, const uint8_t *p, size_t n);

/* Sets d up for a Content-Encoding value (v[0..n)), d zeroed first.
 * Returns 0 (identity leaves d->n 0, and d need not be used), or -1 with
 * d->err for a coding moat cannot undo or too many of them: curl's 61. */
int client_decode_init(struct client_decode *d, const char *v, size_t n);

/* Decodes in[0..n) to sink. Returns 0, -1 on a malformed coding (d->err),
 * -2 when the sink refused, -3 for bytes after the end of a coded stream
 * (d->err; curl 7.88 exits 23 there). */
int client_decode_feed(struct client_decode *d, const uint8_t *in, size_t n,
                       client_decode_sink sink, void *arg);

void client_decode_free(struct client_decode *d);

/* ---- --retry (retry.c) ---- */

/* How an attempt ended, for the retry decision. */
enum client_retry_why {
    CLIENT_RETRY_NO = 0,
    CLIENT_RETRY_ALL = 1,         /* --retry-all-errors */
    CLIENT_RETRY_TIMEOUT = 2,     /* a timeout or a name that did not resolve */
    CLIENT_RETRY_CONNREFUSED = 3, /* --retry-connrefused */
    CLIENT_RETRY_HTTP = 4,        /* 408, 429, 500, 502, 503, 504 */
};

struct client_retry {
    long left;        /* --retry N: retries still allowed */
    double delay;     /* --retry-delay S; 0: curl's backoff */
    double max_time;  /* --retry-max-time S; 0: none */
    int all_errors;   /* --retry-all-errors */
    int connrefused;  /* --retry-connrefused */
    int64_t sleep_ms; /* the next wait without Retry-After */
    int64_t start_ms; /* when the first attempt began (monotonic) */
};

/* Starts the retry state for a run that begins at now_ms. */
void client_retry_init(struct client_retry *r, long n, double delay, double max_time,
                       int all_errors, int connrefused, int64_t now_ms);

/* Is a response of this status one curl retries (RFC 9110 15.5.9, 6585
 * 4, 9110 15.6)? */
int client_retry_status(int status);

/* The seconds a Retry-After value (v[0..n)) asks for: delay-seconds or an
 * HTTP-date (RFC 9110 10.2.3) less now; 0 for none, a past date or a
 * value that is neither. */
int64_t client_retry_after(const char *v, size_t n, time_t now);

/* The decision after an attempt, from its exit status, the HTTP status
 * of its last response, that response's Retry-After seconds, and whether
 * the connection was refused (ECONNREFUSED). When it is retried it
 * returns why (enum client_retry_why), with the pause in *wait_ms and the
 * warning in msg (curl's words), and the state moves on. Returns
 * CLIENT_RETRY_NO to stop, or -1 to stop with a warning in msg (a
 * Retry-After past --retry-max-time). */
int client_retry_next(struct client_retry *r, int exit_status, int http_status, int64_t retry_after,
                      int refused, int64_t now_ms, int64_t *wait_ms, char *msg, size_t msglen);

/* ---- --limit-rate (pace.c) ---- */

/* "100k", "1M", "2G", "512" (bytes a second; k, M, G are 1024-based, a B
 * is allowed, as curl reads them). Returns 0 with *out, or -1. */
int client_parse_rate(const char *s, uint64_t *out);

/* The average rate of one direction of a transfer kept under rate. */
struct client_pace {
    uint64_t rate; /* bytes a second; 0 for no limit */
    int64_t start_us;
    uint64_t bytes;
};

void client_pace_init(struct client_pace *p, uint64_t rate);
/* How many bytes to move at most in the next read or write (cap at most). */
size_t client_pace_chunk(const struct client_pace *p, size_t cap);
/* Counts n bytes moved and sleeps until the average is back under the
 * rate, but not past deadline (monotonic ms; 0 for none). */
void client_pace_account(struct client_pace *p, size_t n, int64_t deadline);

/* ---- HTTP CONNECT proxies (proxy.c) ---- */

struct client_proxy {
    char host[256]; /* as looked up: no brackets */
    int port;
    char auth[700]; /* "user:password" for Proxy-Authorization, "" if none */
    char shown[300];
    const char *from; /* "-x", or the environment variable it came from */
};

/* Does the no_proxy list (comma or space separated, as curl 7.88 reads
 * it: "*" alone, host names matching as domain suffixes with or without
 * a leading dot, IPv4 and IPv6 addresses with an optional /bits) cover
 * host? host is as in a URL, IPv6 without brackets. */
int client_noproxy_match(const char *host, const char *list);

/* The proxy for host: -x (proxy, proxy_user) or https_proxy, HTTPS_PROXY,
 * all_proxy, ALL_PROXY from the environment (none for -x ""), unless --noproxy (or
 * no_proxy, NO_PROXY when no --noproxy was given) covers host. Returns 1
 * with p filled, 0 for a direct connection, or an exit status (curl's)
 * after a message on stderr for a proxy moat cannot use. */
int client_proxy_pick(const char *host, const char *proxy, const char *proxy_user,
                      const char *noproxy, struct client_proxy *p);

/* Opens the tunnel on fd, connected to the proxy: CONNECT host:port as
 * curl sends it, then the proxy's answer. Returns 0 when it is open (no
 * byte of the answer left unread), or curl's exit status after a message
 * on stderr (56 for an answer that is not 2xx, as curl). verbose shows
 * both heads on stderr. */
int client_proxy_connect(int fd, const struct client_proxy *p, const char *host, int port,
                         int64_t deadline, int verbose, int *status_out);

#endif
