/* moat get over HTTP/2 (RFC 9113): one client session per connection on
 * libnghttp2's callback API, with no I/O of its own. The caller feeds it
 * the bytes TLS decrypted and sends the frames it gives back; it turns
 * moat get's HTTP/1.1 request head into an h2 request and the response
 * into a head as text ("HTTP/2 200", lowercase fields) and body bytes. */
#ifndef MOAT_CLIENT_H2_H
#define MOAT_CLIENT_H2_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "moat/buf.h"

struct moat_explain;
struct client_body;

/* The receive windows moat advertises: the stream's (SETTINGS_INITIAL_
 * WINDOW_SIZE) and the connection's. The body is written out as it comes,
 * so a window bounds only what the kernel holds, never moat's memory. */
#define CLIENT_H2_STREAM_WINDOW (1 << 20)
#define CLIENT_H2_CONN_WINDOW (4 << 20)
/* Control frames (SETTINGS, PING, PRIORITY, empty DATA, RST_STREAM of
 * other streams) a server may send in one session before moat calls it a
 * flood and ends the session with ENHANCE_YOUR_CALM. */
#define CLIENT_H2_MAX_CONTROL 1000

/* One session; the fields below "the current stream" describe the last
 * request's response and are reset by client_h2_request. */
struct client_h2 {
    void *session;           /* nghttp2_session */
    struct moat_explain *ex; /* --explain: frames are told to it; may be NULL */
    int32_t stream;          /* the current request's stream id */
    /* the request body (the caller's bytes, kept until the stream ends) */
    const uint8_t *body;
    size_t body_len, body_off;
    struct client_body *stream_body; /* or a streamed one (-T, -F), read as it is sent */
    char body_err[256];              /* why it could not be read ("" when it could) */
    int cancelled;                   /* moat reset the stream (RST_STREAM CANCEL) */
    /* the response of the current stream */
    int status;             /* :status of the final head, 0 until it came */
    int head_ready;         /* the final head is complete: head holds it */
    moat_buf head;          /* "HTTP/2 200 \r\nname: value\r\n...\r\n", as curl -i shows it */
    moat_buf interim;       /* 1xx heads, as text, for -v; the caller clears it */
    moat_buf data;          /* body bytes received, not yet taken; the caller clears it */
    int64_t content_length; /* of the final head, -1 when none */
    int closed;             /* the stream ended */
    uint32_t stream_error;  /* the code it ended with (RST_STREAM), 0 when clean */
    int refused;            /* ended with REFUSED_STREAM (a GOAWAY's): never processed */
    int in_trailers;        /* the HEADERS being read are trailers */
    size_t head_bytes, nfields, ninterim;
    int too_big; /* the head went over a limit */
    /* the session */
    int goaway;           /* the server sent GOAWAY */
    uint32_t goaway_code; /* its error code */
    unsigned long control;
    int fatal;         /* the session ended on an error (ours or the server's) */
    int refused_input; /* nghttp2 refused the input outright (a flood, a bad preface) */
    char err[256];     /* what broke, in words, when fatal or the stream failed */
};

/* Starts a session: the client preface and SETTINGS (no push, the windows
 * above, a header list cap) are queued for client_h2_output. Returns 0, or
 * -1 when out of memory (h is then left empty). */
int client_h2_init(struct client_h2 *h, struct moat_explain *ex);
void client_h2_free(struct client_h2 *h);

/* Queues a request made from an HTTP/1.1 request head (request line,
 * header lines, empty line) as moat get builds it: :method, :scheme https,
 * :authority from Host, :path, the other fields lowercased, those RFC 9113
 * 8.2.2 forbids dropped (Connection, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade, a TE other than trailers). The body is body
 * (len bytes; may be NULL), or stream, read as the windows allow and ended
 * with END_STREAM (a body of unknown length needs no coding in HTTP/2);
 * either must stay valid until the stream ends. A stream that cannot be
 * read resets the stream, the reason in h->body_err. With -v (verbose set) the
 * fields sent are printed on stderr as "> :method: GET". Returns 0, or -1
 * with h->err set. */
int client_h2_request(struct client_h2 *h, const char *head, size_t n, const uint8_t *body,
                      size_t len, struct client_body *stream, int verbose);

/* Appends frames waiting to be sent to out, about CLIENT_H2_SEND_CHUNK
 * bytes at most (a request body goes out as the peer's windows allow, in
 * pieces: call again while client_h2_want_write says so). Returns 0, or
 * -1 with h->err set. */
#define CLIENT_H2_SEND_CHUNK 65536
int client_h2_output(struct client_h2 *h, moat_buf *out);
int client_h2_want_write(const struct client_h2 *h);

/* Reads n received bytes (what TLS decrypted): frames are taken, the
 * response of the current stream filled in. Returns 0, or -1 when the
 * session failed (h->fatal, h->err). */
int client_h2_input(struct client_h2 *h, const uint8_t *p, size_t n);

/* Gives up on the current stream, unless it ended: RST_STREAM(CANCEL) is
 * queued (RFC 9113 8.1: what a client sends for a response it no longer
 * wants, such as a redirect's body); the session stays usable. */
void client_h2_cancel(struct client_h2 *h);

/* The session can carry another request: no GOAWAY, no error. */
int client_h2_reusable(const struct client_h2 *h);

/* Ends the session politely: GOAWAY(NO_ERROR) queued for client_h2_output. */
void client_h2_goodbye(struct client_h2 *h);

/* The value of the response field name (lowercase) in the final head, into
 * out (NUL-terminated, cut to outlen - 1); 0 when found, -1 when not. */
int client_h2_field(const struct client_h2 *h, const char *name, char *out, size_t outlen);

#endif
