/* moat get: parsing an https:// URL (RFC 3986 3) into host, port and the
 * request-target to send. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/client.h"

static int host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

int moat_url_parse(const char *url, struct moat_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = 443;
    const char *p = url;
    const char *sep = strstr(url, "://");
    if (sep) {
        size_t slen = (size_t)(sep - url);
        if (slen == 5 && strncasecmp(url, "https", 5) == 0) {
            p = sep + 3;
        } else if (slen == 4 && strncasecmp(url, "http", 4) == 0) {
            snprintf(err, errlen,
                     "plain http:// is not supported: moat speaks HTTPS only "
                     "(try https://%s)",
                     sep + 3);
            return 1;
        } else {
            snprintf(err, errlen,
                     "unsupported scheme '%.*s' in %s (moat get fetches https:// URLs)",
                     (int)(slen > 32 ? 32 : slen), url, url);
            return 1;
        }
    }

    /* authority = host [ ":" port ], up to the path, query or fragment */
    size_t alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen)) {
        snprintf(err, errlen, "user names and passwords in URLs are not supported: %s", url);
        return 3;
    }
    const char *hend;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close || (size_t)(close - p - 1) >= sizeof u->host || close == p + 1) {
            snprintf(err, errlen, "bad IPv6 address in URL: %s", url);
            return 3;
        }
        memcpy(u->host, p + 1, (size_t)(close - p - 1));
        struct in6_addr a6;
        if (inet_pton(AF_INET6, u->host, &a6) != 1) {
            snprintf(err, errlen, "bad IPv6 address in URL: %s", url);
            return 3;
        }
        hend = close + 1;
    } else {
        size_t hlen = 0;
        while (hlen < alen && p[hlen] != ':')
            hlen++;
        if (hlen == 0 || hlen >= sizeof u->host) {
            snprintf(err, errlen, "no host name in URL: %s", url);
            return 3;
        }
        for (size_t i = 0; i < hlen; i++) {
            if (!host_char((unsigned char)p[i])) {
                snprintf(err, errlen, "bad character in host name of URL: %s", url);
                return 3;
            }
            u->host[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
        }
        hend = p + hlen;
    }
    const char *aend = p + alen;
    if (hend < aend) {
        if (*hend != ':') {
            snprintf(err, errlen, "malformed URL: %s", url);
            return 3;
        }
        hend++;
        if (hend < aend) {
            int port = 0;
            for (; hend < aend; hend++) {
                if (*hend < '0' || *hend > '9' || port > 65535) {
                    snprintf(err, errlen, "bad port number in URL: %s", url);
                    return 3;
                }
                port = port * 10 + (*hend - '0');
            }
            if (port < 1 || port > 65535) {
                snprintf(err, errlen, "bad port number in URL: %s", url);
                return 3;
            }
            u->port = port;
            u->port_given = 1;
        }
    }

    /* path-abempty [ "?" query ]; the fragment stays with the client.
     * Spaces and non-ASCII bytes are percent-encoded as browsers do. */
    const char *s = aend;
    size_t o = 0;
    if (*s != '/') u->path[o++] = '/';
    for (; *s && *s != '#'; s++) {
        unsigned char c = (unsigned char)*s;
        if (o + 4 >= sizeof u->path) {
            snprintf(err, errlen, "URL too long");
            return 3;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "control character in URL");
            return 3;
        }
        if (c == ' ' || c > 0x7e) {
            o += (size_t)snprintf(u->path + o, 4, "%%%02X", c);
        } else {
            u->path[o++] = (char)c;
        }
    }
    u->path[o] = '\0';
    return 0;
}

/* "https://HOST[:PORT]" of base, brackets around IPv6 literals. */
static int base_origin(const struct moat_url *b, char *out, size_t n)
{
    int v6 = strchr(b->host, ':') != NULL;
    return snprintf(out, n, "https://%s%s%s:%d", v6 ? "[" : "", b->host, v6 ? "]" : "", b->port);
}

int moat_url_resolve(const struct moat_url *base, const char *loc, size_t loclen, char *out,
                     size_t outlen, char *err, size_t errlen)
{
    char l[8192];
    if (loclen == 0 || loclen >= sizeof l) {
        snprintf(err, errlen, "bad Location in a redirect");
        return 3;
    }
    memcpy(l, loc, loclen);
    l[loclen] = '\0';
    const char *colon = strchr(l, ':'), *slash = strchr(l, '/');
    int n;
    if (colon && (!slash || colon < slash)) {
        /* an absolute URL: scheme checked by moat_url_parse */
        struct moat_url u;
        int r = moat_url_parse(l, &u, err, errlen);
        if (r) return r;
        n = snprintf(out, outlen, "%s", l);
    } else if (l[0] == '/' && l[1] == '/') {
        n = snprintf(out, outlen, "https:%s", l);
    } else {
        char org[300];
        base_origin(base, org, sizeof org);
        if (l[0] == '/') {
            n = snprintf(out, outlen, "%s%s", org, l);
        } else {
            /* relative: replace the last segment of the base path (its
             * query dropped); "?q" alone keeps the path */
            size_t plen = strcspn(base->path, "?");
            if (l[0] == '?') {
                n = snprintf(out, outlen, "%s%.*s%s", org, (int)plen, base->path, l);
            } else {
                while (plen > 0 && base->path[plen - 1] != '/')
                    plen--;
                n = snprintf(out, outlen, "%s%.*s%s", org, (int)plen, base->path, l);
            }
        }
    }
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(err, errlen, "redirect URL too long");
        return 3;
    }
    return 0;
}
