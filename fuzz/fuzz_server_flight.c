/* Fuzz target: the server's side of client authentication, fed the
 * client's second flight. A moat client and server run a real handshake in
 * memory until the server, having sent its CertificateRequest, waits for
 * the client's Certificate (WAIT_CLIENT_CERT); the input is then a sequence
 * of plaintext handshake messages (type, 24-bit length, body) handed to the
 * server's message handler as if they had arrived decrypted: Certificate
 * (the chain parsed and verified by libcrypto), CertificateVerify,
 * Finished, and anything else a client might send instead.
 *
 * The first byte picks --client-auth require (odd) or optional (even). */
#include "tls/internal.h"
/* after internal.h: fuzz.h then has fuzz_messages */
#include "fuzz.h"

static moat_tls_config *srv_require, *srv_optional, *cli;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char err[256];
    srv_require = fuzz_server_config();
    srv_optional = fuzz_server_config();
    if (moat_tls_config_set_client_ca_file(srv_require, fuzz_path("ca.pem"), err, sizeof err) ||
        moat_tls_config_set_client_ca_file(srv_optional, fuzz_path("ca.pem"), err, sizeof err))
        abort();
    moat_tls_config_set_client_auth(srv_require, MOAT_CLIENT_AUTH_REQUIRE);
    moat_tls_config_set_client_auth(srv_optional, MOAT_CLIENT_AUTH_OPTIONAL);
    cli = fuzz_client_config(0);
    return 0;
}

/* A server that has answered a real ClientHello and asked for a
 * certificate, or NULL. */
static moat_tls *server_waiting(const moat_tls_config *sc)
{
    moat_tls *c = moat_tls_client_new(cli, "localhost"), *s = moat_tls_server_new(sc);
    moat_buf hello, flight, app;
    moat_buf_init(&hello);
    moat_buf_init(&flight);
    moat_buf_init(&app);
    int ok = c && s && !moat_tls_start(c, &hello) &&
             !moat_tls_recv(s, hello.base, hello.len, &flight, &app) &&
             s->state == SERVER_WAIT_CERT;
    moat_tls_free(c);
    moat_buf_free(&hello);
    moat_buf_free(&flight);
    moat_buf_free(&app);
    if (!ok) {
        moat_tls_free(s);
        return NULL;
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    moat_tls *t = server_waiting(data[0] & 1 ? srv_require : srv_optional);
    if (!t) abort(); /* the set-up itself must always work */
    data++, size--;
    moat_buf out;
    moat_buf_init(&out);
    fuzz_messages(t, data, size, tls_server_handle, &out);
    moat_tls_free(t);
    moat_buf_free(&out);
    return 0;
}
