/* The one URL splitter of moat get and of the proxy's backend URLs (RFC
 * 3986 3): scheme, authority, host and port, and what follows. It only
 * finds the parts; each caller judges them (moat get reads the host as a
 * browser does, the proxy resolves it). */
#ifndef MOAT_HTTP_URL_H
#define MOAT_HTTP_URL_H

#include <stddef.h>

/* Spans of the URL; none is NUL-terminated. */
typedef struct {
    const char *scheme; /* before "://"; NULL when the URL has none */
    size_t scheme_len;
    const char *host; /* an IPv6 literal without its brackets */
    size_t host_len;
    int ipv6;         /* the host was bracketed */
    const char *port; /* after ':'; NULL when there is no ':' */
    size_t port_len;
    const char *rest; /* path-abempty, query and fragment: after the authority */
} http_url;

enum {
    HTTP_URL_OK = 0,
    HTTP_URL_USERINFO = -1,   /* "user@" in the authority */
    HTTP_URL_BAD_IPV6 = -2,   /* '[' without its ']', or "[]" */
    HTTP_URL_AFTER_HOST = -3, /* something other than ":port" after the host */
};

/* Splits the NUL-terminated url: the scheme is what comes before the first
 * "://" (none: the whole is the authority and what follows); the authority
 * ends at the first '/', '?' or '#' (RFC 3986 3.2); a host in brackets is
 * an IP literal (3.2.2), else it ends at the first ':'. Returns HTTP_URL_OK
 * with u filled, or one of the errors above. */
int http_url_split(const char *url, http_url *u);

#endif
