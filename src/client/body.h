/* moat get's request bodies that are streamed, never held whole: -T FILE
 * (a file, or stdin in the chunked coding) and -F (multipart/form-data,
 * its file parts read as they are sent), and the parsers of -b/-c cookie
 * files and Set-Cookie (cookies.c). */
#ifndef MOAT_CLIENT_BODY_H
#define MOAT_CLIENT_BODY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "moat/buf.h"

#define CLIENT_BODY_MAX_PIECES 400

/* A body made of pieces sent in order: bytes in memory, or a file read
 * as it is sent (path "-": stdin, whose length is not known). */
struct client_body_piece {
    moat_buf mem;
    const char *path; /* NULL for a memory piece */
    uint64_t size;    /* a file's size when the body was built */
};

struct client_body {
    struct client_body_piece p[CLIENT_BODY_MAX_PIECES];
    size_t n;
    int64_t total; /* the length, or -1 when unknown (stdin): sent chunked */
    size_t cur;    /* the piece being read */
    uint64_t off;  /* into it */
    int fd;        /* the open file of a file piece, or -1 */
    int started;   /* read from already (stdin cannot be read twice) */
};

void client_body_init(struct client_body *b);
void client_body_free(struct client_body *b);
/* Appends bytes, or a file (its size taken now; "-" for stdin). Returns
 * 0, or -1 with a sentence in err. */
int client_body_add_mem(struct client_body *b, const void *p, size_t n);
int client_body_add_file(struct client_body *b, const char *path, char *err, size_t errlen);
/* Back to the start, for a new request (a 307, a reused connection's
 * retry). Returns 0, or -1 when the body came from stdin and was read. */
int client_body_rewind(struct client_body *b);
/* Up to cap bytes of the body. Returns the count, 0 at its end, or -1
 * with a sentence in err (a file that cannot be read, or that changed
 * size since the body was built). */
ssize_t client_body_read(struct client_body *b, uint8_t *buf, size_t cap, char *err, size_t errlen);

/* -F: the multipart/form-data body (RFC 7578) of the specs, as curl
 * builds it: "name=value", "name=@file" (a file part, its name sent as
 * filename, streamed), "name=<file" (the file's content as the value;
 * "-" for either is stdin, once, and makes the body chunked),
 * each with ";type=TYPE" and (for @) ";filename=NAME". The boundary is
 * random; *ctype gets the Content-Type to send. Returns 0, or -1 with a
 * sentence in err (a malformed spec, a file that cannot be read). */
int client_form_build(const char *const *specs, int n, struct client_body *b, char *ctype,
                      size_t ctlen, char *err, size_t errlen);

/* ---- cookies (cookies.c): a jar as curl keeps it, RFC 6265's matching. */
struct client_cookie {
    char *name, *value, *domain, *path; /* domain without a leading dot */
    int tailmatch;                      /* sent to subdomains too (a Domain attribute) */
    int secure, httponly;
    int64_t expires; /* seconds since 1970; 0 for a session cookie */
};

#define CLIENT_JAR_MAX 1000

struct client_jar {
    struct client_cookie *c;
    size_t n;
};

void client_jar_free(struct client_jar *j);
/* Reads a cookie file in the Netscape format (curl's -c files, and
 * "Set-Cookie:" lines, as curl takes both); a file that does not exist
 * is an empty jar, as curl has it. Returns 0, or -1 with a sentence. */
int client_jar_load(struct client_jar *j, const char *path, int64_t now, char *err, size_t errlen);
/* The same from text in memory (the file's bytes). */
int client_jar_load_text(struct client_jar *j, const char *text, size_t len, int64_t now);
/* A Set-Cookie field value received from host for path (RFC 6265 5.2,
 * 5.3): stored, replacing one of the same name, domain and path, or
 * dropped (a Domain that does not cover host, a public suffix-like
 * single label, expired: removed). */
void client_jar_set(struct client_jar *j, const char *host, const char *path, const char *v,
                    size_t vlen, int64_t now);
/* The Cookie header value for https://host/path (RFC 6265 5.4: domain,
 * path and expiry matched; longer paths first), appended to out; 0 when
 * nothing matched. Returns the number of cookies. */
int client_jar_header(const struct client_jar *j, const char *host, const char *path, int64_t now,
                      moat_buf *out);
/* Writes the jar (session cookies too, as curl does; expired ones not)
 * in curl's Netscape format. Returns 0, or -1 with errno. */
int client_jar_save(const struct client_jar *j, const char *path, int64_t now);

/* ---- the flags' part of a transfer (flags.c), called by fetch.c. */
struct moat_get_opts;
struct moat_url;

struct client_extra {
    struct client_body body; /* -T or -F */
    int has_body;
    char ctype[128];       /* -F's Content-Type */
    struct client_jar jar; /* -b FILE, -c: the cookie engine */
    int jar_on;
    FILE *dump;          /* -D */
    uint64_t offset;     /* -C: the byte to resume from (0: not resuming) */
    int skip_body;       /* -C and a 416: the file is whole already; the body is not it */
    char prev_url[8400]; /* -e ;auto: the URL before this redirect */
};

/* Before the first request: cookies loaded, -D opened, -C's offset, the
 * -T or -F body built. Returns 0 or an exit status after a message. */
int client_extra_start(struct moat_get_opts *o, struct client_extra *e);
/* The request headers the flags add (User-Agent, Referer, Authorization,
 * Cookie, Content-Type and Accept of --json and -F, Range of -C, the
 * length or chunked coding of a streamed body), unless -H gives them. */
int client_extra_headers(const struct moat_get_opts *o, struct client_extra *e,
                         const struct moat_url *u, int cross_origin, int with_body, moat_buf *req);
/* A response head (hl bytes at head, status, its fields): -D, the
 * cookies it sets; and when it is the one written out (out), -C's check
 * of 206 and --max-filesize against its Content-Length. Returns 0 or an
 * exit status after a message. */
int client_extra_head(const struct moat_get_opts *o, struct client_extra *e,
                      const struct moat_url *u, const void *resp, const uint8_t *head, size_t hl,
                      int out);
/* --max-filesize while the body streams: total body bytes so far. */
int client_extra_size(const struct moat_get_opts *o, uint64_t total);
/* After the transfer: the cookie jar written (-c), -D closed. */
int client_extra_finish(const struct moat_get_opts *o, struct client_extra *e, int status);

#endif
