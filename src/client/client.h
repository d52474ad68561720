/* moat get: the HTTPS client, shared between its files (options and the
 * transfer, URL parsing). */
#ifndef MOAT_CLIENT_H
#define MOAT_CLIENT_H

#include <stddef.h>

/* Entry point of `moat get URL ...`; argv[0] is "get". Returns an exit
 * status with curl's meanings: 0 ok, 2 usage, 3 malformed URL, 6 cannot
 * resolve, 7 cannot connect, 18 truncated response, 23 write error,
 * 28 timeout, 35 TLS handshake failed, 56 receive failure, 60 certificate
 * refused. */
int moat_get_main(int argc, char **argv);

/* A parsed https:// URL. */
struct moat_url {
    char host[256];   /* name, IPv4 literal, or IPv6 literal without brackets */
    int port;         /* 443 when absent */
    int port_given;   /* the URL had an explicit port */
    char path[8192];  /* path and query, starting with '/'; never empty */
};

/* Parses url into u. Returns 0; or 3 (malformed URL) or 1 (a scheme other
 * than https) with a message in err. A URL without a scheme is taken as
 * https://. */
int moat_url_parse(const char *url, struct moat_url *u, char *err, size_t errlen);

#endif
