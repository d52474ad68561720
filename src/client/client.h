/* moat get: the HTTPS client, shared between its files (options, the
 * transfer, URL parsing, the handshake narration of --explain). */
#ifndef MOAT_CLIENT_H
#define MOAT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/exit.h"
#include "moat/buf.h"
#include "moat/tls.h"

/* A parsed https:// URL. */
struct moat_url {
    /* The host as looked up and sent in Host: lower case, A-labels, an
     * IPv4 address in dotted decimal, IPv6 without brackets; a trailing
     * dot kept. */
    char host[256];
    /* The name TLS uses: host without its trailing dot (RFC 6066 3: no
     * dot in SNI), sent as SNI and checked against the certificate. */
    char name[256];
    char unicode[256]; /* the Unicode form of an A-label host, for messages; "" if none */
    char shown[520];   /* for messages: "café.test (xn--caf-dma.test)", or the name */
    int port;          /* 443 when absent */
    int port_given;    /* the URL had an explicit port */
    char path[8192];   /* path and query, starting with '/'; never empty */
};

/* Parses url into u. Returns 0; or GET_EXIT_URL_MALFORMAT, or
 * GET_EXIT_UNSUPPORTED for a scheme other than https, with a message in
 * err. A URL without a scheme is taken as https://. The host is read as
 * browsers read it (the WHATWG URL Standard's host parser): a host ending
 * in a number is an IPv4 address in any of its forms (127.1, 0x7f.1,
 * 2130706433, 0177.0.0.1), and a Unicode name becomes its A-labels
 * (IDNA2008 with UTS #46, through libidn2, as curl does). */
int client_url_parse(const char *url, struct moat_url *u, char *err, size_t errlen);

/* Resolves a Location value against the URL it came from (RFC 3986 5.2:
 * absolute, scheme-relative, absolute-path and relative references) into
 * a new absolute URL string in out. Returns 0, or an exit status as
 * client_url_parse does, with a message in err. */
int client_url_resolve(const struct moat_url *base, const char *loc, size_t loclen, char *out,
                       size_t outlen, char *err, size_t errlen);

#define MOAT_GET_MAX_HEADERS 64

/* What `moat get` was asked to do. */
struct moat_get_opts {
    const char *url;
    const char *cacert;     /* --cacert FILE */
    const char *capath;     /* --capath DIR */
    const char *crl;        /* --crl FILE: check revocation against it */
    const char *output;     /* -o FILE (or the name -O chose); stdout when NULL */
    int remote_name;        /* -O: name the output after the URL's last segment */
    const char *resolve;    /* --resolve HOST:PORT:ADDR */
    const char *groups;     /* --tls-group NAME[,NAME...] */
    uint16_t tls_min;       /* --tlsv1.2, --tlsv1.3: a minimum; 0: the default */
    uint16_t tls_max;       /* --tls-max 1.2|1.3; 0: the default */
    const char *ciphers;    /* --ciphers LIST */
    const char *session;    /* --session FILE */
    const char *cert, *key; /* --cert FILE --key FILE */
    const char *method;     /* -X METHOD, or NULL */
    const char *writeout;   /* -w FORMAT */
    const char *headers[MOAT_GET_MAX_HEADERS]; /* -H 'Name: value' */
    int nheaders;
    moat_buf data;                  /* -d / --data-binary: the request body */
    int has_data;                   /* a body was given (POST unless -X says otherwise) */
    int data_form;                  /* -d: Content-Type application/x-www-form-urlencoded */
    int http1_1;                    /* --http1.1: offer only http/1.1 in ALPN (else h2 first) */
    int insecure;                   /* -k */
    struct moat_trust *check_trust; /* -k: the trust -k skips, to report what it would say */
    int include;                    /* -i: response head in the output */
    int head;                       /* -I: HEAD request, head in the output */
    int follow;                     /* -L */
    int fail;                       /* -f */
    int silent;                     /* -s */
    int verbose;                    /* -v */
    int explain;                    /* --explain */
    double connect_timeout;         /* seconds for TCP connect and TLS handshake */
    double max_time;                /* -m: seconds for everything; 0 for no limit */
    const char *usage;              /* printed after a usage mistake (cli/get.c's) */
    /* curl's everyday flags */
    moat_buf resolves;      /* every --resolve, canonical, one a line (resolve points here) */
    const char *user_agent; /* -A */
    const char *referer;    /* -e URL (NULL with ";auto" alone) */
    int referer_auto;       /* -e ...;auto: the previous URL on a redirect */
    const char *userpwd;    /* -u user:password: Basic, to the first origin only */
    int data_json;          /* --json: Content-Type and Accept application/json */
    const char *upload;     /* -T FILE ("-" stdin): PUT, streamed */
    const char *forms[MOAT_GET_MAX_HEADERS]; /* -F name=value, name=@file;type=...;filename=... */
    int nforms;
    const char *cookie_in[16]; /* -b FILE, or -b 'name=value; ...' literally */
    int ncookie_in;
    const char *cookie_jar;  /* -c FILE: every cookie, written after the transfer */
    const char *dump_header; /* -D FILE ("-" stdout): the response heads */
    int64_t max_filesize;    /* --max-filesize: 0 for no limit */
    int64_t continue_at;     /* -C N; -1 for "-C -" (the size of the output file) */
    int resume;              /* -C was given */
    int compressed;                 /* --compressed: ask for deflate, gzip, br and decode */
    long retry;                     /* --retry N */
    double retry_delay;             /* --retry-delay S (0: curl's backoff) */
    double retry_max_time;          /* --retry-max-time S (0: none) */
    int retry_all_errors;           /* --retry-all-errors */
    int retry_connrefused;          /* --retry-connrefused */
    uint64_t limit_rate;            /* --limit-rate: bytes a second, each way; 0: none */
    const char *proxy;              /* -x [http://][USER:PASSWORD@]HOST[:PORT] */
    const char *proxy_user;         /* -U USER:PASSWORD */
    const char *noproxy;            /* --noproxy LIST (stands for no_proxy) */
};

#define MOAT_GET_MAX_FORMS MOAT_GET_MAX_HEADERS

/* -d DATA, -d @FILE (newlines dropped, as curl does) and --data-binary
 * DATA or @FILE ("-" for stdin) added to o->data; several are joined with
 * '&'. Returns 0, or GET_EXIT_READ_ERROR when FILE cannot be read. */
int get_add_data(struct moat_get_opts *o, const char *v, int binary);
/* --json DATA or @FILE ("-" for stdin): added to o->data as it is (several
 * are joined without a separator, as curl does), sent as a POST with
 * Content-Type and Accept application/json. Returns 0 or 26. */
int get_add_json(struct moat_get_opts *o, const char *v);

/* Does what o says (o->url set, options checked): parses the URL, sets up
 * TLS, fetches; frees o->data. Returns the exit status, enum
 * moat_get_exit, after printing any error on stderr. */
int get_run(struct moat_get_opts *o);
/* For `moat version`: the libcrypto the client's TLS runs on, as it names
 * itself, and which ML-KEM-768 this build uses, in words (cli/ reaches
 * crypto/ only through the layers that use it). */
void get_crypto_versions(const char **libcrypto, const char **mlkem);

/* Fetches the URL of o with the configuration cfg, following redirects
 * with -L: connect, handshake, request, response to the output. Returns
 * the exit status (enum moat_get_exit) after printing any error on stderr. */
int client_fetch(struct moat_get_opts *o, const moat_tls_config *cfg);

/* ---- --explain (explain.c): the handshake of one connection, in words.
 * client_explain_new returns a state to pass as the observer argument of
 * client_explain_observe; the narration of the handshake is written to f
 * by client_explain_handshake_done (on success or failure), and the records
 * of the request and response by client_explain_finish. */
struct moat_explain;
struct moat_explain *client_explain_new(FILE *f, const char *host, int port, const char *trust);
void client_explain_observe(void *arg, int event, const uint8_t *data, size_t len, int info);
void client_explain_handshake_done(struct moat_explain *e, const moat_tls *t, int ok);
/* The connection runs through an HTTP CONNECT tunnel of proxy ("host:port"). */
void client_explain_tunnel(struct moat_explain *e, const char *proxy);
/* Marks the start of the request (records after this are the request's
 * and the response's) and the end of the response. */
void client_explain_request(struct moat_explain *e, const char *request_line, size_t body_len);
void client_explain_response(struct moat_explain *e, const char *status_line, uint64_t body_len);
void client_explain_finish(struct moat_explain *e);
/* HTTP/2: one frame sent or received (type as on the wire, line what it
 * carried), told with the request and response. */
void client_explain_frame(struct moat_explain *e, int sent, int type, const char *line);
void client_explain_free(struct moat_explain *e);

/* -v: the certificates of the chain (DER, in the order sent). */
void client_print_chain(FILE *f, const moat_buf *certs, size_t n);

#endif
