/* Splitting a URL into its parts (RFC 3986 3), for moat get and the
 * proxy's backend URLs alike. */
#include "http/url.h"

#include <string.h>

int http_url_split(const char *url, http_url *u)
{
    memset(u, 0, sizeof *u);
    const char *p = url, *sep = strstr(url, "://");
    if (sep) {
        u->scheme = url;
        u->scheme_len = (size_t)(sep - url);
        p = sep + 3;
    }
    /* authority = [ userinfo "@" ] host [ ":" port ] */
    size_t alen = strcspn(p, "/?#");
    const char *aend = p + alen, *hend;
    u->rest = aend;
    if (memchr(p, '@', alen)) return HTTP_URL_USERINFO;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close || close == p + 1) return HTTP_URL_BAD_IPV6;
        u->host = p + 1;
        u->host_len = (size_t)(close - p - 1);
        u->ipv6 = 1;
        hend = close + 1;
    } else {
        const char *colon = memchr(p, ':', alen);
        hend = colon ? colon : aend;
        u->host = p;
        u->host_len = (size_t)(hend - p);
    }
    if (hend < aend) {
        if (*hend != ':') return HTTP_URL_AFTER_HOST;
        u->port = hend + 1;
        u->port_len = (size_t)(aend - hend - 1);
    }
    return HTTP_URL_OK;
}
