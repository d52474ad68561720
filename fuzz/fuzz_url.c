/* Fuzz target: moat get's URL parser (client_url_parse) and the resolution
 * of a Location value against it (client_url_resolve, RFC 3986 5.2). The
 * input is "URL\nLOCATION"; without a newline it is only a URL. */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ulen = nl ? (size_t)(nl - data) : size;
    char *url = malloc(ulen + 1);
    if (!url) return 0;
    memcpy(url, data, ulen);
    url[ulen] = 0;
    struct moat_url *u = malloc(sizeof *u);
    char err[512];
    if (u && client_url_parse(url, u, err, sizeof err) == 0) {
        size_t namelen = strlen(u->name);
        if (!u->host[0] || u->path[0] != '/' || u->port < 1 || u->port > 65535) abort();
        /* The TLS name never has an empty label or a trailing dot. */
        if (!namelen || u->name[namelen - 1] == '.' || strstr(u->name, "..")) abort();
        if (nl) {
            size_t llen = size - ulen - 1;
            char *loc = malloc(llen ? llen : 1); /* exact size, not NUL-terminated */
            if (loc) {
                memcpy(loc, nl + 1, llen);
                char out[16384];
                if (client_url_resolve(u, loc, llen, out, sizeof out, err, sizeof err) == 0) {
                    struct moat_url *v = malloc(sizeof *v);
                    if (v) client_url_parse(out, v, err, sizeof err);
                    free(v);
                }
            }
            free(loc);
        }
    }
    free(u);
    free(url);
    return 0;
}
