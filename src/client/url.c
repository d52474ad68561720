/* moat get: parsing an https:// URL (RFC 3986 3) into host, port and the
 * request-target to send; hosts read as browsers read them (the WHATWG
 * URL Standard's IPv4 forms, IDNA through libidn2). */
#include <arpa/inet.h>
#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/client.h"
#include "core/exit.h"
#include "http/url.h"

static int host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* The WHATWG URL Standard's IPv4 number parser: decimal, "0x" hex or
 * leading-zero octal; "0x" alone is 0. Values past 2^32 are held at 2^32
 * (too big for any part). Returns 0, or -1 when s is not such a number. */
static int ipv4_number(const char *s, size_t n, uint64_t *v)
{
    if (n == 0) return -1;
    unsigned radix = 10;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2, n -= 2, radix = 16;
    else if (n >= 2 && s[0] == '0')
        s += 1, n -= 1, radix = 8;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        if (d >= radix) return -1;
        x = x * radix + d;
        if (x > 0xffffffffULL) x = 0x100000000ULL;
    }
    *v = x;
    return 0;
}

/* WHATWG "ends in a number": the last label (after one trailing dot) is
 * all digits or an IPv4 number. Such a host is an IPv4 address or invalid,
 * never a DNS name. */
static int ends_in_number(const char *h, size_t n)
{
    if (n > 0 && h[n - 1] == '.') n--;
    size_t s = n;
    while (s > 0 && h[s - 1] != '.')
        s--;
    if (s == n) return 0;
    size_t i = s;
    while (i < n && h[i] >= '0' && h[i] <= '9')
        i++;
    uint64_t v;
    return i == n || ipv4_number(h + s, n - s, &v) == 0;
}

/* The WHATWG IPv4 parser: 1 to 4 parts, each a number as above, all but
 * the last under 256, the last filling the remaining bytes (127.1 is
 * 127.0.0.1, 2130706433 too). Writes the dotted form. Returns 0 or -1. */
static int ipv4_parse(const char *h, size_t n, char *out, size_t outlen)
{
    if (n > 0 && h[n - 1] == '.') n--;
    uint64_t part[4];
    size_t np = 0, s = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && h[i] != '.') continue;
        if (np == 4 || ipv4_number(h + s, i - s, &part[np])) return -1;
        np++;
        s = i + 1;
    }
    uint64_t addr = part[np - 1];
    if (addr >= (uint64_t)1 << (8 * (5 - np))) return -1;
    for (size_t i = 0; i + 1 < np; i++) {
        if (part[i] > 255) return -1;
        addr += part[i] << (8 * (3 - i));
    }
    snprintf(out, outlen, "%u.%u.%u.%u", (unsigned)(addr >> 24), (unsigned)(addr >> 16) & 255,
             (unsigned)(addr >> 8) & 255, (unsigned)addr & 255);
    return 0;
}

/* A Unicode host to its A-labels: UTS #46 non-transitional processing
 * with NFC (IDNA2008), falling back to transitional for names only
 * IDNA2003 took, as curl does. Returns 0, or 3 with a message in err. */
static int idna_to_ascii(const char *in, char *out, size_t outlen, const char *url, char *err,
                         size_t errlen)
{
    uint8_t *a = NULL;
    int r = idn2_lookup_u8((const uint8_t *)in, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (r != IDN2_OK) {
        idn2_free(a);
        a = NULL;
        int r2 = idn2_lookup_u8((const uint8_t *)in, &a, IDN2_TRANSITIONAL);
        if (r2 == IDN2_OK) r = r2;
    }
    if (r != IDN2_OK || !a || strlen((char *)a) >= outlen) {
        snprintf(err, errlen, "bad international host name in URL: %s (%s)", url,
                 r != IDN2_OK ? idn2_strerror(r) : "too long");
        idn2_free(a);
        return GET_EXIT_URL_MALFORMAT;
    }
    snprintf(out, outlen, "%s", (char *)a);
    idn2_free(a);
    return 0;
}

/* u->name (host without one trailing dot), u->unicode and u->shown. */
static int set_names(struct moat_url *u, const char *url, char *err, size_t errlen)
{
    size_t n = strlen(u->host);
    if (n > 1 && u->host[n - 1] == '.' && !strchr(u->host, ':')) n--;
    if (n == 0 || u->host[n - 1] == '.' || u->host[0] == '.' || strstr(u->host, "..")) {
        snprintf(err, errlen, "bad host name (an empty label) in URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    memcpy(u->name, u->host, n);
    u->name[n] = '\0';
    /* An A-label host is shown in Unicode too; one that does not decode
     * is shown as it is (the lookup decides what it is worth). */
    u->unicode[0] = '\0';
    char *uni = NULL;
    if ((strncmp(u->name, "xn--", 4) == 0 || strstr(u->name, ".xn--")) &&
        idn2_to_unicode_8z8z(u->name, &uni, 0) == IDN2_OK && uni && strlen(uni) < sizeof u->unicode)
        snprintf(u->unicode, sizeof u->unicode, "%s", uni);
    idn2_free(uni);
    if (u->unicode[0])
        snprintf(u->shown, sizeof u->shown, "%s (%s)", u->unicode, u->name);
    else
        snprintf(u->shown, sizeof u->shown, "%s", u->name);
    return 0;
}

/* The host of the authority, p[0..n), not bracketed: a DNS name (Unicode
 * converted to A-labels) or an IPv4 address in any form browsers take. */
static int parse_name(const char *p, size_t n, struct moat_url *u, const char *url, char *err,
                      size_t errlen)
{
    char raw[1024];
    int unicode = 0;
    if (n >= sizeof raw) {
        snprintf(err, errlen, "host name too long in URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80) {
            unicode = 1;
        } else if (!host_char(c)) {
            snprintf(err, errlen, "bad character in host name of URL: %s", url);
            return GET_EXIT_URL_MALFORMAT;
        }
        raw[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    raw[n] = '\0';
    if (unicode) {
        int r = idna_to_ascii(raw, u->host, sizeof u->host, url, err, errlen);
        if (r) return r;
    } else if (n >= sizeof u->host) {
        snprintf(err, errlen, "host name too long in URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    } else {
        memcpy(u->host, raw, n + 1);
    }
    n = strlen(u->host);
    if (ends_in_number(u->host, n) && ipv4_parse(u->host, n, u->host, sizeof u->host) < 0) {
        snprintf(err, errlen, "bad IPv4 address in URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    return 0;
}

/* Only https (and no scheme at all, taken as https). Returns 0, or
 * GET_EXIT_UNSUPPORTED with a message in err. */
static int check_scheme(const char *url, const http_url *parts, char *err, size_t errlen)
{
    size_t slen = parts->scheme_len;
    if (!parts->scheme || (slen == 5 && strncasecmp(url, "https", 5) == 0)) return 0;
    if (slen == 4 && strncasecmp(url, "http", 4) == 0)
        snprintf(err, errlen,
                 "plain http:// is not supported: moat speaks HTTPS only "
                 "(try https://%s)",
                 parts->scheme + slen + 3);
    else
        snprintf(err, errlen, "unsupported scheme '%.*s' in %s (moat get fetches https:// URLs)",
                 (int)(slen > 32 ? 32 : slen), url, url);
    return GET_EXIT_UNSUPPORTED;
}

/* The host: an IPv6 literal checked by inet_pton, else a name or IPv4
 * address (parse_name); then the names TLS and messages use. */
static int take_host(const char *url, const http_url *parts, int split, struct moat_url *u,
                     char *err, size_t errlen)
{
    if (split == HTTP_URL_USERINFO) {
        snprintf(err, errlen, "user names and passwords in URLs are not supported: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    if (split == HTTP_URL_BAD_IPV6 || (parts->ipv6 && parts->host_len >= sizeof u->host)) {
        snprintf(err, errlen, "bad IPv6 address in URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    if (parts->ipv6) {
        memcpy(u->host, parts->host, parts->host_len);
        struct in6_addr a6;
        if (inet_pton(AF_INET6, u->host, &a6) != 1) {
            snprintf(err, errlen, "bad IPv6 address in URL: %s", url);
            return GET_EXIT_URL_MALFORMAT;
        }
    } else {
        if (parts->host_len == 0) {
            snprintf(err, errlen, "no host name in URL: %s", url);
            return GET_EXIT_URL_MALFORMAT;
        }
        int r = parse_name(parts->host, parts->host_len, u, url, err, errlen);
        if (r) return r;
    }
    return set_names(u, url, err, errlen);
}

/* The port, 1 to 65535; none or an empty one keeps 443. */
static int take_port(const char *url, const http_url *parts, int split, struct moat_url *u,
                     char *err, size_t errlen)
{
    if (split == HTTP_URL_AFTER_HOST) {
        snprintf(err, errlen, "malformed URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    if (!parts->port_len) return 0;
    int port = 0;
    for (size_t i = 0; i < parts->port_len; i++) {
        char c = parts->port[i];
        if (c < '0' || c > '9' || port > 65535) {
            snprintf(err, errlen, "bad port number in URL: %s", url);
            return GET_EXIT_URL_MALFORMAT;
        }
        port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) {
        snprintf(err, errlen, "bad port number in URL: %s", url);
        return GET_EXIT_URL_MALFORMAT;
    }
    u->port = port;
    u->port_given = 1;
    return 0;
}

/* path-abempty [ "?" query ]; the fragment stays with the client. Spaces
 * and non-ASCII bytes are percent-encoded as browsers do. */
static int take_path(const char *s, struct moat_url *u, char *err, size_t errlen)
{
    size_t o = 0;
    if (*s != '/') u->path[o++] = '/';
    for (; *s && *s != '#'; s++) {
        unsigned char c = (unsigned char)*s;
        if (o + 4 >= sizeof u->path) {
            snprintf(err, errlen, "URL too long");
            return GET_EXIT_URL_MALFORMAT;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "control character in URL");
            return GET_EXIT_URL_MALFORMAT;
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

int client_url_parse(const char *url, struct moat_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = 443;
    http_url parts;
    int split = http_url_split(url, &parts);
    int r = check_scheme(url, &parts, err, errlen);
    if (!r) r = take_host(url, &parts, split, u, err, errlen);
    if (!r) r = take_port(url, &parts, split, u, err, errlen);
    if (!r) r = take_path(parts.rest, u, err, errlen);
    return r;
}

/* "https://HOST[:PORT]" of base, brackets around IPv6 literals. */
static int base_origin(const struct moat_url *b, char *out, size_t n)
{
    int v6 = strchr(b->host, ':') != NULL;
    return snprintf(out, n, "https://%s%s%s:%d", v6 ? "[" : "", b->host, v6 ? "]" : "", b->port);
}

int client_url_resolve(const struct moat_url *base, const char *loc, size_t loclen, char *out,
                       size_t outlen, char *err, size_t errlen)
{
    char l[8192];
    if (loclen == 0 || loclen >= sizeof l) {
        snprintf(err, errlen, "bad Location in a redirect");
        return GET_EXIT_URL_MALFORMAT;
    }
    memcpy(l, loc, loclen);
    l[loclen] = '\0';
    const char *colon = strchr(l, ':'), *slash = strchr(l, '/');
    int n;
    if (colon && (!slash || colon < slash)) {
        /* an absolute URL: scheme checked by client_url_parse */
        struct moat_url u;
        int r = client_url_parse(l, &u, err, errlen);
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
        return GET_EXIT_URL_MALFORMAT;
    }
    return 0;
}
