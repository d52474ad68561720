/* The one HTTP/1.1 message reader of moat get and of the reverse proxy,
 * sans-I/O: the caller hands it the bytes it read; it finds the final
 * response head (skipping interim 1xx ones), decides how the body is
 * framed (RFC 9112 6.3) and takes the body out of the bytes, decoding the
 * chunked coding. The same body pump frames request bodies. */
#ifndef MOAT_HTTP_READER_H
#define MOAT_HTTP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "moat/buf.h"
#include "moat/http.h"

/* A response head longer than this (status line and header section) is
 * malformed: the request line's and the header section's limits. */
#define HTTP_MAX_HEAD (MOAT_HTTP_MAX_REQUEST_LINE + MOAT_HTTP_MAX_HEADER_BYTES)
/* Interim responses skipped before the final one: a peer could otherwise
 * keep a reader busy forever with 103s. */
#define HTTP_MAX_INTERIM 64
#define HTTP_MAX_INTERIM_BYTES (1024 * 1024)

/* How a message body ends (RFC 9112 6.3). */
enum http_framing {
    HTTP_BODY_NONE,    /* no body: HEAD, 1xx, 204, 304 */
    HTTP_BODY_LENGTH,  /* Content-Length bytes (0 included) */
    HTTP_BODY_CHUNKED, /* the chunked coding, to its last chunk */
    HTTP_BODY_CLOSE,   /* until the connection closes */
};

/* A body being read: the framing and what is left of it. */
typedef struct {
    int framing;    /* enum http_framing */
    uint64_t left;  /* HTTP_BODY_LENGTH: bytes still to come */
    uint64_t total; /* body bytes delivered so far (decoded) */
    moat_http_chunked dec;
    int done; /* the body is complete */
} http_body;

/* What one call of http_body_feed took and gave. */
typedef struct {
    size_t used;         /* input bytes consumed */
    const uint8_t *data; /* body bytes: into the input, or the scratch buffer */
    size_t len;
} http_piece;

enum {
    HTTP_BODY_MORE = 0, /* more body to come */
    HTTP_BODY_END = 1,  /* the body is complete (bytes after it are not its) */
    HTTP_BODY_BAD = -1, /* malformed chunked coding */
};

/* Starts a body of the given framing; length is the Content-Length for
 * HTTP_BODY_LENGTH. A NONE body, and a LENGTH body of 0, are done at once. */
void http_body_init(http_body *b, int framing, uint64_t length);

/* Takes body bytes from in[0..len): up to the end of a LENGTH body, all of
 * a CLOSE one, and for a CHUNKED one decodes into scratch (cleared first),
 * which p->data then points at. p is filled on every return, also with
 * what was decoded before a malformed byte. Returns HTTP_BODY_MORE,
 * HTTP_BODY_END, HTTP_BODY_BAD, or MOAT_ERR_NOMEM. */
int http_body_feed(http_body *b, const uint8_t *in, size_t len, moat_buf *scratch, http_piece *p);

/* The framing of a final response (RFC 9112 6.3): none after a HEAD
 * request and for 1xx, 204 and 304; else chunked, Content-Length, or
 * until close. *length gets the Content-Length. */
int http_response_framing(const moat_http_response *r, int head_request, uint64_t *length);

/* Reads one response: zero it with http_reader_init, then call
 * http_reader_head on the bytes received until the final head, then
 * http_body_feed on r->body. */
typedef struct {
    int head_request; /* the request was HEAD: no body whatever the head says */
    unsigned interim; /* 1xx heads skipped */
    size_t interim_bytes;
    http_body body; /* framed by the final head */
} http_reader;

void http_reader_init(http_reader *r, int head_request);

enum {
    HTTP_HEAD_MORE = 0,    /* no complete head yet: read more */
    HTTP_HEAD_INTERIM = 1, /* an interim 1xx head of *head_len bytes: drop it, call again */
    HTTP_HEAD_FINAL = 2,   /* the final head, *head_len bytes; resp parsed, r->body framed */
    HTTP_HEAD_BAD = -1,    /* malformed, over HTTP_MAX_HEAD, or too many interim heads */
};

/* Looks for a response head at the start of buf[0..len). A 101 is final
 * (its caller decides whether it asked for an upgrade); any other 1xx is
 * interim (RFC 9110 15.2), bounded by HTTP_MAX_INTERIM heads and
 * HTTP_MAX_INTERIM_BYTES in all. resp points into buf. */
int http_reader_head(http_reader *r, const uint8_t *buf, size_t len, moat_http_response *resp,
                     size_t *head_len);

enum {
    HTTP_HEAD_WITHIN_LIMITS = 0,
    HTTP_HEAD_LINE_TOO_LONG = 1, /* one line over HTTP_MAX_HEAD_LINE (or the status line's) */
    HTTP_HEAD_TOO_LARGE = 2,     /* over MOAT_HTTP_MAX_HEADER_BYTES or MOAT_HTTP_MAX_HEADERS */
};
#define HTTP_MAX_HEAD_LINE (MOAT_HTTP_MAX_HEADER_BYTES / 2)

/* Why a head http_reader_head refused (buf[0..len) as given to it) may
 * have been refused: a line too long, the head too large, or neither (it
 * is malformed). Clients answer each as curl does. */
int http_head_over_limit(const uint8_t *buf, size_t len);

/* Appends the JSON string (RFC 8259 7) of the n bytes at s: quotes,
 * backslashes and control characters escaped; well-formed UTF-8 kept as
 * it is, any other byte at or above 0x7f written as \u00XX (so the line
 * is always valid JSON, whatever a client sent). Returns 0 or
 * MOAT_ERR_NOMEM. */
int http_json_string(moat_buf *out, const char *s, size_t n);

/* The next element of a comma-separated field value (RFC 9110 5.6.1),
 * from *pos on: empty elements are skipped, the element is trimmed of
 * spaces and tabs. Returns 1 with it in [*start, *end), 0 at the end of
 * the value. The one list walker of the request parser and the proxy. */
int http_list_next(const char *v, size_t n, size_t *pos, size_t *start, size_t *end);

/* Appends "name: value\r\n" as it is, unchecked: for names and values the
 * server made itself (a date, a number, an entity tag, a type from its
 * table), none of which can hold CR, LF or a colon in the name.
 * moat_http_write_header checks what it is given, then writes with this.
 * Returns 0 or MOAT_ERR_NOMEM. */
int http_put_header(moat_buf *out, const char *name, const char *value, size_t vlen);

#endif
