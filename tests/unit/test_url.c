/* moat get's URL parser: hosts read as browsers read them (the WHATWG URL
 * Standard's IPv4 forms, IDNA2008 through libidn2, one trailing dot kept
 * out of the TLS name), and malformed hosts refused with exit 3. */
#include "client/client.h"
#include "harness.h"

/* Parses url; checks the exit status and, when 0, host, name and shown. */
static void host_is(const char *url, int want, const char *host, const char *name,
                    const char *shown)
{
    struct moat_url *u = malloc(sizeof *u);
    char err[512] = "";
    int r = u ? client_url_parse(url, u, err, sizeof err) : -1;
    if (want) {
        check(r == want && err[0], "url %s is refused with exit %d (%s)", url, want, err);
    } else {
        check(r == 0 && !strcmp(u->host, host) && !strcmp(u->name, name) &&
                  !strcmp(u->shown, shown),
              "url %s: host %s, TLS name %s, shown as %s (got %d: %s, %s, %s %s)", url, host, name,
              shown, r, r ? "" : u->host, r ? "" : u->name, r ? "" : u->shown, err);
    }
    free(u);
}

int main(void)
{
    /* IPv4 in every form the WHATWG host parser takes, as Chromium does. */
    host_is("https://127.1/", 0, "127.0.0.1", "127.0.0.1", "127.0.0.1");
    host_is("https://0x7f.1/", 0, "127.0.0.1", "127.0.0.1", "127.0.0.1");
    host_is("https://2130706433/", 0, "127.0.0.1", "127.0.0.1", "127.0.0.1");
    host_is("https://0177.0.0.1/", 0, "127.0.0.1", "127.0.0.1", "127.0.0.1");
    host_is("https://0x7F000001:8443/x", 0, "127.0.0.1", "127.0.0.1", "127.0.0.1");
    host_is("https://127.0.1/", 0, "127.0.0.1", "127.0.0.1", "127.0.0.1");
    host_is("https://10.0.0.1./", 0, "10.0.0.1", "10.0.0.1", "10.0.0.1");
    host_is("https://0x/", 0, "0.0.0.0", "0.0.0.0", "0.0.0.0");
    host_is("https://255.255.255.255/", 0, "255.255.255.255", "255.255.255.255", "255.255.255.255");
    host_is("https://1.2.3.256/", 3, NULL, NULL, NULL);
    host_is("https://256.1/", 3, NULL, NULL, NULL);
    host_is("https://1.2.16777216/", 3, NULL, NULL, NULL);
    host_is("https://4294967296/", 3, NULL, NULL, NULL);
    host_is("https://1.2.3.4.5/", 3, NULL, NULL, NULL);
    host_is("https://08.1.1.1/", 3, NULL, NULL, NULL);
    host_is("https://foo.0x1g/", 0, "foo.0x1g", "foo.0x1g", "foo.0x1g");
    host_is("https://example.09/", 3, NULL, NULL, NULL);
    host_is("https://1.example/", 0, "1.example", "1.example", "1.example");

    /* One trailing dot: kept for the lookup and Host, not in TLS. */
    host_is("https://good.test./", 0, "good.test.", "good.test", "good.test");
    host_is("https://Good.Test.:8443/", 0, "good.test.", "good.test", "good.test");
    host_is("https://good.test../", 3, NULL, NULL, NULL);
    host_is("https://./", 3, NULL, NULL, NULL);
    host_is("https://.good.test/", 3, NULL, NULL, NULL);
    host_is("https://a..b/", 3, NULL, NULL, NULL);

    /* Unicode hosts become A-labels (UTS #46 non-transitional, NFC). */
    host_is("https://café.test/", 0, "xn--caf-dma.test", "xn--caf-dma.test",
            "café.test (xn--caf-dma.test)");
    host_is("https://CAFÉ.test./", 0, "xn--caf-dma.test.", "xn--caf-dma.test",
            "café.test (xn--caf-dma.test)");
    host_is("https://cafe\xcc\x81.test/", 0, "xn--caf-dma.test", "xn--caf-dma.test",
            "café.test (xn--caf-dma.test)");
    host_is("https://straße.de/", 0, "xn--strae-oqa.de", "xn--strae-oqa.de",
            "straße.de (xn--strae-oqa.de)");
    host_is("https://xn--caf-dma.test/", 0, "xn--caf-dma.test", "xn--caf-dma.test",
            "café.test (xn--caf-dma.test)");
    /* IDNA2008 refuses the snowman; transitional processing takes it, as
     * curl's fallback does. */
    host_is("https://\xe2\x98\x83.net/", 0, "xn--n3h.net", "xn--n3h.net",
            "\xe2\x98\x83.net (xn--n3h.net)");
    /* Fullwidth digits map to an IPv4 address. */
    host_is("https://\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1/", 0, "127.0.0.1", "127.0.0.1",
            "127.0.0.1");
    host_is("https://\xff\xfe.test/", 3, NULL, NULL, NULL);
    host_is("https://caf\xc3.test/", 3, NULL, NULL, NULL);
    host_is("https://\xcc\x81\x61.test/", 3, NULL, NULL, NULL); /* a leading combining mark */

    /* What was right stays right. */
    host_is("https://[::1]:8443/", 0, "::1", "::1", "::1");
    host_is("https://localhost/", 0, "localhost", "localhost", "localhost");
    host_is("https://bad host/", 3, NULL, NULL, NULL);
    return failures ? 1 : 0;
}
