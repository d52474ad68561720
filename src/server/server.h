/* moat serve: the pieces of the HTTPS static file server shared between
 * its files (options and start-up, the event loop, static responses). */
#ifndef MOAT_SERVER_H
#define MOAT_SERVER_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/buf.h"
#include "moat/http.h"
#include "moat/tls.h"

/* Entry point of `moat serve DIR ...`; argv[0] is "serve". Returns the
 * process exit status: 0 after a clean stop, 1 on a runtime failure, 2 on
 * bad usage or unreadable files. */
int moat_serve_main(int argc, char **argv);

struct moat_server {
    int epfd;
    int lfd; /* listening socket */
    moat_tls_config *cfg;
    char root[PATH_MAX]; /* realpath of the served directory */
    size_t root_len;
    int handshake_timeout_ms; /* from accept to the end of the handshake */
    int idle_timeout_ms;      /* between requests, or with no progress */
    size_t max_conns;
};

/* A response body still to be sent: the rest of a file. */
struct moat_body {
    int fd; /* -1 when none */
    off_t off;
    off_t left;
};

/* Runs the epoll loop until SIGTERM or SIGINT. Returns 0 or 1. */
int moat_server_run(struct moat_server *s);

/* Answers one parsed request from the static files under s->root: appends
 * the response head (and any small generated body) to head, and opens the
 * file whose bytes follow in *body (body->fd -1 when none). Sets *close
 * when the connection must end after this response. Returns the status. */
int moat_server_static(const struct moat_server *s, const moat_http_request *req, moat_buf *head,
                       struct moat_body *body, int *close);

/* Appends a complete error response (head and a short HTML body; only the
 * head when head_only) for status to out. close adds Connection: close. */
int moat_server_error(moat_buf *out, int status, int head_only, int close);

#endif
