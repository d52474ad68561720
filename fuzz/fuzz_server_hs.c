/* Fuzz target: the server handshake, fed the bytes a client sends (TLS
 * records carrying a ClientHello, perhaps a second one after a
 * HelloRetryRequest, CCS, alerts). Seeds: ClientHellos of openssl, gnutls,
 * curl, Chromium and moat itself (fuzz/corpus/fuzz_server_hs); what
 * moat serve --acme reads of it first (server/acme.c). */
#include "fuzz.h"
#include "server/acme.h"

static moat_tls_config *cfg, *cfg_auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    cfg = fuzz_server_config();
    cfg_auth = fuzz_server_config();
    char err[256];
    if (moat_tls_config_set_client_ca_file(cfg_auth, fuzz_path("ca.pem"), err, sizeof err)) abort();
    moat_tls_config_set_client_auth(cfg_auth, MOAT_CLIENT_AUTH_OPTIONAL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The low bit of the last byte picks the configuration and whether the
     * bytes arrive at once or in two pieces (a split record). */
    int variant = size ? data[size - 1] & 3 : 0;
    /* moat serve --acme looks at a ClientHello first (tls-alpn-01). */
    char name[256];
    if (server_acme_alpn_name(data, size, name, sizeof name) && !memchr(name, 0, sizeof name))
        abort();
    moat_tls *t = moat_tls_server_new(variant & 1 ? cfg_auth : cfg);
    if (!t) return 0;
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    size_t cut = variant & 2 ? size / 2 : size;
    int r = moat_tls_recv(t, data, cut, &out, &app);
    if (!r && cut < size) r = moat_tls_recv(t, data + cut, size - cut, &out, &app);
    if (!r && moat_tls_handshake_done(t)) moat_tls_send(t, &out, "hello", 5);
    moat_tls_free(t);
    moat_buf_free(&out);
    moat_buf_free(&app);
    return 0;
}
