/* moat serve: the pieces of the HTTPS static file server shared between
 * its files (options, master and workers; the event loop; static files). */
#ifndef MOAT_SERVER_H
#define MOAT_SERVER_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "moat/buf.h"
#include "moat/http.h"
#include "moat/tls.h"

/* --cert/--key pairs: chosen by SNI through a hash of their names in the
 * TLS engine, so ten thousand virtual hosts cost no more per handshake */
#define MOAT_SERVE_MAX_CERTS 16384
/* --domain names for --acme (each one order, one job of acme/serve.c) */
#define MOAT_SERVE_MAX_DOMAINS 16

/* An OCSP response file stapled for one certificate, reloaded by the
 * worker when its modification time changes. */
struct moat_staple {
    const char *path;
    struct timespec mtime;
};

struct moat_proxy_set;
struct pp_allow;

/* --proxy-protocol: which listeners read a PROXY header first */
#define SERVER_PP_HTTPS 1
#define SERVER_PP_REDIRECT 2

struct moat_server {
    int epfd;
    int lfd;         /* HTTPS listening socket, shared by the workers */
    int redirect_fd; /* plain-HTTP listener answering 308, or -1 */
    int https_port;  /* what redirects point at */
    moat_tls_config *cfg;
    char root[PATH_MAX]; /* realpath of the served directory */
    size_t root_len;
    int handshake_timeout_ms;       /* from accept to the end of the handshake */
    int idle_timeout_ms;            /* between requests, or with no progress */
    int header_timeout_ms;          /* a request head must arrive whole within this */
    int stop_timeout_ms;            /* graceful stop: connections get this long */
    size_t max_conns;               /* per worker */
    size_t max_header;              /* request head bytes (431 beyond) */
    uint64_t max_body;              /* request body bytes (413 beyond) */
    int list_dirs;                  /* --list-dirs */
    int serve_dotfiles;             /* --serve-dotfiles: hidden paths are served too */
    int access_log;                 /* fd, or -1 */
    int log_identity;               /* client certificates configured: log them */
    int log_json;                   /* --access-log-format json */
    int proxy_protocol;             /* SERVER_PP_*: listeners whose peers send a PROXY header */
    const struct pp_allow *pp_from; /* --proxy-protocol-from: who may send one */
    /* HTTP/2 (h2.c): offered by ALPN unless --http2 off; its limits */
    int http2;
    uint32_t h2_max_streams;                   /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t h2_stream_window, h2_conn_window; /* receive windows, bytes */
    uint32_t h2_max_resets;                    /* RST_STREAMs a second before ENHANCE_YOUR_CALM */
    struct moat_staple staples[MOAT_SERVE_MAX_CERTS];
    int nstaples;
    /* --proxy: its routes (the master's), and in each worker that worker's
     * own copy after fork, with its pools and backend health */
    struct moat_proxy_set *proxy;
    const char *acme_dir; /* --acme: where the pending challenges are (acme.c); NULL */
};

/* A response body still to be sent: the rest of a file. */
struct moat_body {
    int fd; /* -1 when none */
    off_t off;
    off_t left;
};

/* What the access log needs to know of a response. */
struct moat_resp {
    int status;
    off_t bytes; /* body bytes (file or generated) */
};

/* Runs the epoll loop of one worker until SIGTERM or SIGINT, then stops
 * accepting and lets open connections finish (up to stop_timeout_ms).
 * Returns 0 or 1. */
int server_run(struct moat_server *s);

/* Answers one parsed request from the static files under s->root: appends
 * the response head (and any small generated body) to head, and opens the
 * file whose bytes follow in *body (body->fd -1 when none). Sets *close
 * when the connection must end after this response. Fills *resp. */
void server_static(const struct moat_server *s, const moat_http_request *req, moat_buf *head,
                   struct moat_body *body, int *close, struct moat_resp *resp);

/* Appends a complete error response (head and a short HTML body; only the
 * head when head_only) for status to out. close adds Connection: close.
 * Returns the body length. */
int server_error(moat_buf *out, int status, int head_only, int close);

/* Strict-Transport-Security max-age added to every HTTPS response; -1
 * (the default) adds none. */
void server_set_hsts(long seconds);

/* The max-age set above, or -1. */
long server_hsts(void);

/* Loads /etc/mime.types (or path) on top of the built-in table. */
void server_load_mime_types(const char *path);

#endif
