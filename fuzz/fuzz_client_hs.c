/* Fuzz target: the client handshake, fed what a server sends back.
 *
 * Mode 0 (first byte even): the rest is the server's flight as TLS records
 * (ServerHello or HelloRetryRequest in plaintext, then encrypted records)
 * answering a fresh ClientHello. Its key share is random, so the encrypted
 * part never decrypts; this mode covers ServerHello/HRR parsing, key
 * shares and the record layer of a handshake in progress.
 *
 * Mode 1 (first byte odd): the rest is a sequence of plaintext handshake
 * messages (type, 24-bit length, body) handed straight to the client's
 * message handler in state WAIT_EE, as if they had arrived decrypted:
 * EncryptedExtensions, CertificateRequest, Certificate (parsed by
 * libcrypto), CertificateVerify and Finished. */
#include "tls/internal.h"
/* after internal.h: fuzz.h then has fuzz_messages */
#include "fuzz.h"

static moat_tls_config *cfg_verify, *cfg_noverify;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    cfg_verify = fuzz_client_config(1);
    cfg_noverify = fuzz_client_config(0);
    return 0;
}

static void flight(const uint8_t *data, size_t size, const moat_tls_config *cfg)
{
    moat_tls *t = moat_tls_client_new(cfg, "localhost");
    if (!t) return;
    moat_buf out, app;
    moat_buf_init(&out);
    moat_buf_init(&app);
    if (!moat_tls_start(t, &out)) moat_tls_recv(t, data, size, &out, &app);
    moat_tls_free(t);
    moat_buf_free(&out);
    moat_buf_free(&app);
}

static void messages(const uint8_t *data, size_t size, const moat_tls_config *cfg)
{
    moat_tls *t = moat_tls_client_new(cfg, "localhost");
    if (!t) return;
    moat_buf out;
    moat_buf_init(&out);
    /* As after a ServerHello for TLS_AES_128_GCM_SHA256: transcript
     * started, handshake keys set (zero secrets: never checked here). */
    uint8_t zero[64] = {0};
    if (moat_tls_start(t, &out) || tls_set_suite(t, MOAT_TLS_AES_128_GCM_SHA256) ||
        tls_transcript_start(t) || tls_set_keys(t, 0, zero, "fuzz") ||
        tls_set_keys(t, 1, zero, "fuzz"))
        goto done;
    t->group = MOAT_GROUP_X25519;
    t->state = CLIENT_WAIT_EE;
    out.len = 0;
    fuzz_messages(t, data, size, tls_client_handle, &out);
done:
    moat_tls_free(t);
    moat_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const moat_tls_config *cfg = data[0] & 2 ? cfg_verify : cfg_noverify;
    if (data[0] & 1)
        messages(data + 1, size - 1, cfg);
    else
        flight(data + 1, size - 1, cfg);
    return 0;
}
