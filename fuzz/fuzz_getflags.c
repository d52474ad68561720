/* Fuzz target: the parsers of moat get's curl flags that read files a
 * user may be handed: the cookie file of -b (Netscape lines and
 * Set-Cookie lines), Set-Cookie values as a server sends them, then the
 * Cookie header made from the jar; and the -K config file. The first
 * byte picks: even, a cookie file then "Set-Cookie" values (one a line)
 * from www.example.test; odd, a config file. */
#include <stdlib.h>
#include <string.h>

#include "cli/getconf.h"
#include "client/body.h"

static int takes(const char *name)
{
    return name[1] == 'o' || strcmp(name, "--output") == 0 || strcmp(name, "--header") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        struct cli_args a = {0};
        char err[256];
        if (cli_getconf_parse(text, len, takes, &a, err, sizeof err) == 0)
            for (int i = 0; i < a.n; i++)
                if (!a.v[i]) abort();
        cli_args_free(&a);
        return 0;
    }
    struct client_jar j = {0};
    client_jar_load_text(&j, text, len, 1800000000);
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        client_jar_set(&j, "www.example.test", "/a/b", p, n, 1800000000);
        p = nl ? nl + 1 : end;
    }
    if (j.n > CLIENT_JAR_MAX) abort();
    moat_buf b;
    moat_buf_init(&b);
    client_jar_header(&j, "www.example.test", "/a/b/c", 1800000000, &b);
    for (size_t i = 0; i < b.len; i++) /* never a header break nor a control byte */
        if ((b.base[i] < 0x20 && b.base[i] != '\t') || b.base[i] == 0x7f) abort();
    moat_buf_free(&b);
    client_jar_free(&j);
    return 0;
}
