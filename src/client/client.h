/* moat get: the HTTPS client, shared between its files (options and the
 * transfer, URL parsing). */
#ifndef MOAT_CLIENT_H
#define MOAT_CLIENT_H

#include <stddef.h>

#include "moat/tls.h"

/* Entry point of `moat get URL ...`; argv[0] is "get". Returns an exit
 * status with curl's meanings: 0 ok, 2 usage, 3 malformed URL, 6 cannot
 * resolve, 7 cannot connect, 18 truncated response, 23 write error,
 * 28 timeout, 35 TLS handshake failed, 56 receive failure, 60 certificate
 * refused. */
int moat_get_main(int argc, char **argv);

/* A parsed https:// URL. */
struct moat_url {
    char host[256];  /* name, IPv4 literal, or IPv6 literal without brackets */
    int port;        /* 443 when absent */
    int port_given;  /* the URL had an explicit port */
    char path[8192]; /* path and query, starting with '/'; never empty */
};

/* Parses url into u. Returns 0; or 3 (malformed URL) or 1 (a scheme other
 * than https) with a message in err. A URL without a scheme is taken as
 * https://. */
int moat_url_parse(const char *url, struct moat_url *u, char *err, size_t errlen);

/* What `moat get` was asked to do. */
struct moat_get_opts {
    const char *url;
    const char *cacert;     /* --cacert FILE */
    const char *crl;        /* --crl FILE: check revocation against it */
    const char *output;     /* -o FILE; stdout when NULL */
    const char *resolve;    /* --resolve HOST:PORT:ADDR */
    const char *groups;     /* --tls-group NAME[,NAME...] */
    const char *ciphers;    /* --ciphers LIST */
    int insecure;           /* -k */
    int include;            /* -i: response head in the output */
    int head;               /* -I: HEAD request, head in the output */
    int silent;             /* -s */
    int verbose;            /* -v */
    double connect_timeout; /* seconds for TCP connect and TLS handshake */
    double max_time;        /* -m: seconds for everything; 0 for no limit */
};

/* Fetches u with the configuration cfg: connect, handshake, request,
 * response to the output. Returns the exit status (as moat_get_main) after
 * printing any error on stderr. */
int moat_get_fetch(const struct moat_get_opts *o, const struct moat_url *u,
                   const moat_tls_config *cfg);

#endif
