/* Fuzz target: moat serve's --config parser (server_config_parse),
 * every setting it reaches, proxy routes included (backend hosts must be
 * numeric here: no name is looked up, no file read). */
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct moat_serve_opts o; /* large: not on the stack */
    server_opts_init(&o);
    o.no_include = 1;
    if (!o.proxy) return 0;
    server_proxy_reset(o.proxy, 0);
    char err[1200];
    err[0] = '\0';
    int r = server_config_parse(&o, (const char *)data, size, "fuzz.conf", err, sizeof err);
    if (r != 0 && r != 2) abort();
    /* A mistake is always reported, as file:line. */
    if (r == 2 && strncmp(err, "fuzz.conf:", 10) != 0) abort();
    if (r == 0) {
        if (o.ncerts > MOAT_SERVE_MAX_CERTS || o.nkeys > MOAT_SERVE_MAX_CERTS ||
            o.nstaples > MOAT_SERVE_MAX_CERTS)
            abort();
        if (o.workers != -1 && (o.workers < 1 || o.workers > MOAT_SERVE_MAX_WORKERS)) abort();
        if (o.max_header < 256 || o.max_header > MOAT_HTTP_MAX_HEADER_BYTES) abort();
        const char *strs[] = {o.dir, o.listen, o.ciphers, o.groups, o.access_log, o.user};
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            if (strs[i] && strlen(strs[i]) > size) abort();
        for (int i = 0; i < o.ncerts; i++)
            if (strlen(o.certs[i]) > size) abort();
        server_proxy_check(o.proxy);
    }
    server_opts_free(&o);
    return 0;
}
