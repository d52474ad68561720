/* moat's HTTP/1.1 message parsing and writing (RFC 9110, RFC 9112), sans-I/O.
 * Parsers read from caller-owned bytes and never allocate; names and values
 * they return point into those bytes and live as long as they do. */
#ifndef MOAT_HTTP_H
#define MOAT_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "moat/buf.h"

/* The public API: exported by libmoat.so, which hides everything else. */
#pragma GCC visibility push(default)

/* Limits a peer cannot exceed (RFC 9112 3 and 5 leave them to us). */
#define MOAT_HTTP_MAX_REQUEST_LINE 8192  /* longer: 414 URI Too Long */
#define MOAT_HTTP_MAX_HEADER_BYTES 32768 /* header section: 431 */
#define MOAT_HTTP_MAX_HEADERS 100        /* header fields: 431 */

/* A header field. Name and value are not NUL-terminated; the value has its
 * leading and trailing whitespace removed. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} moat_http_header;

/* Framing facts shared by requests and responses. */
typedef struct {
    int minor;              /* HTTP/1.<minor>: 0 or 1 */
    int64_t content_length; /* -1 when absent */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* the connection may carry another message */
    moat_http_header headers[MOAT_HTTP_MAX_HEADERS];
    size_t nheaders;
} moat_http_fields;

typedef struct {
    const char *method; /* "GET"; method_len bytes */
    size_t method_len;
    const char *target; /* request-target as sent: "/a%20b?q" */
    size_t target_len;
    const char *host; /* Host field value, NULL when absent */
    size_t host_len;
    moat_http_fields f;
} moat_http_request;

typedef struct {
    int status;         /* 100..999 */
    const char *reason; /* reason phrase, may be empty */
    size_t reason_len;
    moat_http_fields f;
} moat_http_response;

/* Parses a request head (request line and header fields, RFC 9112 2-6) at
 * the start of buf. Returns the length of the head including its final
 * CRLF when complete, 0 when more bytes are needed, or the negated HTTP
 * status to answer with when the request is malformed:
 *   -400 bad syntax: bare CR or LF, obs-fold, whitespace before a colon,
 *        control characters, bad or conflicting Content-Length, Content-
 *        Length with Transfer-Encoding, Transfer-Encoding not ending in
 *        chunked, HTTP/1.1 without exactly one Host, a Host that is not
 *        host[:port] (moat_http_host_valid);
 *   -414 request line longer than MOAT_HTTP_MAX_REQUEST_LINE;
 *   -431 header section over MOAT_HTTP_MAX_HEADER_BYTES or with more than
 *        MOAT_HTTP_MAX_HEADERS fields;
 *   -501 a transfer coding other than chunked;
 *   -505 a well-formed version other than HTTP/1.0 and HTTP/1.1.
 * req points into buf on success. */
int moat_http_parse_request(const char *buf, size_t len, moat_http_request *req);

/* Parses a response head (status line and header fields) the same way.
 * Returns the head length, 0 when more is needed, or -1 when malformed or
 * over the limits. keep_alive and framing are filled as for requests; the
 * caller decides that HEAD, 1xx, 204 and 304 responses have no body. */
int moat_http_parse_response(const char *buf, size_t len, moat_http_response *resp);

/* The first field named `name` (case-insensitive), or NULL. */
const moat_http_header *moat_http_find_header(const moat_http_fields *f, const char *name);

/* Incremental decoder of the chunked transfer coding (RFC 9112 7.1).
 * Zero it (or call moat_http_chunked_init) before the first byte. */
typedef struct {
    int state;
    uint64_t remaining;   /* data bytes left in the current chunk */
    size_t line_len;      /* bytes of the current size or trailer line */
    size_t trailer_bytes; /* total trailer bytes, capped */
    int digits;           /* hex digits of the current size */
} moat_http_chunked;

void moat_http_chunked_init(moat_http_chunked *d);

/* Feeds len bytes of chunked body. Decoded data is appended to out. Sets
 * *used to the bytes consumed (all of them unless the body ended within
 * them). Returns 1 when the last chunk and trailers have been read, 0 when
 * more is needed, -1 when the coding is malformed or a size overflows,
 * MOAT_ERR_NOMEM when out cannot grow. */
int moat_http_chunked_feed(moat_http_chunked *d, const uint8_t *in, size_t len, size_t *used,
                           moat_buf *out);

/* Percent-decodes src (RFC 3986 2.1) into dst (room for srclen + 1 bytes)
 * and NUL-terminates it. Returns the decoded length, or -1 on a bad escape
 * or a decoded NUL byte. */
long moat_http_percent_decode(const char *src, size_t srclen, char *dst);

/* Whether a Host field value is uri-host [ ":" port ] (RFC 9112 3.2,
 * RFC 3986 3.2.2-3.2.3), or empty (allowed when the target has no
 * authority): a bracketed IPv6 address, or a name of letters, digits,
 * "-._~" and %XX escapes (no sub-delims such as ',' ';' '=', which no DNS
 * name holds and which would split a Forwarded or X-Forwarded-Host), then
 * optionally ':' and a port up to 65535. Returns 1 or 0. */
int moat_http_host_valid(const char *v, size_t n);

/* Whether the path of a request-target (without its query), as it will
 * be sent on, could name something outside the directory it appears to
 * be under once a server decodes and resolves it. Always: a "." or ".."
 * segment, raw or %2e-encoded (RFC 3986 5.2.4). strict adds what a
 * decoding backend may still resolve upwards or elsewhere: an encoded
 * separator (%2F, %5C), ';' (%3B) or NUL (%00); a backslash; a ';' (path
 * parameters: Tomcat reads "..;" as ".."); an empty segment ("//").
 * Returns 1 or 0. Other escapes (%20, %C3%A9, a double-encoded %252e)
 * are fine: decoded once, they make no separator and no dot segment. */
int moat_http_path_escapes(const char *path, size_t n, int strict);

/* Appends p as a Structured Field Byte Sequence (RFC 8941 3.3.5):
 * ':' base64 with padding ':'. Returns 0 or MOAT_ERR_NOMEM. */
int moat_http_sf_binary(moat_buf *out, const uint8_t *p, size_t n);

/* The standard reason phrase of a status ("Not Found"), or "Unknown". */
const char *moat_http_reason(int status);

/* Writes an IMF-fixdate (RFC 9110 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT",
 * into out (at least 30 bytes). */
void moat_http_date(time_t t, char out[30]);

/* The media type for a file name by its extension, from a built-in table;
 * "application/octet-stream" when unknown. */
const char *moat_http_mime_type(const char *path);

/* Appends "HTTP/1.1 <status> <reason>\r\n" to out. Returns 0 or
 * MOAT_ERR_NOMEM. */
int moat_http_write_status(moat_buf *out, int status);

/* Appends "name: value\r\n" to out; value is printf-formatted. Returns 0,
 * MOAT_ERR_NOMEM, or MOAT_ERR_ARG when name or value holds CR or LF or the
 * value is over 2 KiB. */
int moat_http_write_header(moat_buf *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#pragma GCC visibility pop

#endif
