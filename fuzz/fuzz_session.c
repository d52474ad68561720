/* Fuzz target: saved client sessions (moat_tls_set_session, what `moat get
 * --session FILE` reads back) and ticket keys files (nginx's format,
 * moat_tls_config_set_ticket_keys). Byte 0 picks which. */
#include "fuzz.h"

static moat_tls_config *ccfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ccfg = fuzz_client_config(0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1) {
        moat_tls_config *c = moat_tls_config_new();
        if (c) moat_tls_config_set_ticket_keys(c, data + 1, size - 1);
        moat_tls_config_free(c);
        return 0;
    }
    moat_tls *t = moat_tls_client_new(ccfg, "localhost");
    if (!t) return 0;
    moat_buf out;
    moat_buf_init(&out);
    if (moat_tls_set_session(t, data + 1, size - 1) == 0) moat_tls_start(t, &out);
    moat_tls_free(t);
    moat_buf_free(&out);
    return 0;
}
