/* Fuzz target: the record layer of an established connection.
 *
 * Two engines share fixed traffic keys: a sender seals what the input
 * describes and the receiver opens it, so the fuzzer reaches what lies
 * behind the AEAD (inner content types, padding, post-handshake messages:
 * KeyUpdate, NewSessionTicket, alerts) as well as the raw record parser.
 *
 * Input: byte 0 picks the suite (bits 0-1), which side receives (bit 2:
 * client when set), the mode (bit 3: raw) and the version (bit 4: TLS 1.2
 * records, RFC 5246 6.2.3.3: explicit nonces, the real type in the header,
 * post-handshake ClientHello and HelloRequest). Raw mode feeds the rest as
 * wire bytes. Otherwise the rest is a list of (content type, 16-bit
 * length, plaintext) items; each is sealed into one record (an inner type
 * byte of 0 is padding) and the records are fed in one call. */
#include "fuzz.h"
#include "tls/internal.h"

static moat_tls_config *scfg, *ccfg;
static const uint16_t suites[4] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                   MOAT_TLS_CHACHA20_POLY1305_SHA256, MOAT_TLS_AES_128_GCM_SHA256};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    scfg = fuzz_server_config();
    ccfg = fuzz_client_config(0);
    return 0;
}

/* The 1.2 suite with the AEAD of a 1.3 one (ECDHE-ECDSA). */
static uint16_t suite12(uint16_t aead)
{
    return aead == MOAT_TLS_AES_128_GCM_SHA256   ? TLS12_ECDHE_ECDSA_AES128_GCM_SHA256
           : aead == MOAT_TLS_AES_256_GCM_SHA384 ? TLS12_ECDHE_ECDSA_AES256_GCM_SHA384
                                                 : TLS12_ECDHE_ECDSA_CHACHA20_POLY1305;
}

static moat_tls *connected(int client, uint16_t suite, int v12)
{
    moat_tls *t = client ? moat_tls_client_new(ccfg, "localhost") : moat_tls_server_new(scfg);
    if (!t) return NULL;
    static const uint8_t secret[64] = {1, 2, 3, 4, 5, 6, 7, 8};
    tls_hs_free(t);
    int r;
    if (v12) {
        t->version = TLS_V12;
        t->key_limit = UINT64_MAX;
        r = tls_set_suite(t, suite12(suite));
        if (!r) r = rl12_set_keys(&t->rd, suite, 0, secret, secret + 32);
        if (!r) r = rl12_set_keys(&t->wr, suite, 1, secret, secret + 32);
    } else {
        t->version = TLS_V13;
        r = tls_set_suite(t, suite);
        if (!r) r = tls_set_keys(t, 0, secret, "fuzz");
        if (!r) r = tls_set_keys(t, 1, secret, "fuzz");
    }
    if (r) {
        moat_tls_free(t);
        return NULL;
    }
    t->state = ST_CONNECTED;
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++, size--;
    uint16_t suite = suites[mode & 3];
    int client = (mode >> 2) & 1;
    int v12 = (mode >> 4) & 1;
    moat_tls *rx = connected(client, suite, v12);
    moat_tls *tx = connected(!client, suite, v12);
    moat_buf wire, out, app;
    moat_buf_init(&wire);
    moat_buf_init(&out);
    moat_buf_init(&app);
    if (!rx || !tx) goto done;
    if (mode & 8) {
        moat_tls_recv(rx, data, size, &out, &app);
        goto done;
    }
    while (size >= 3) {
        uint8_t type = data[0];
        size_t len = (size_t)data[1] << 8 | data[2];
        data += 3, size -= 3;
        if (len > size) len = size;
        if (len > TLS_MAX_PLAIN) len = TLS_MAX_PLAIN;
        if (tls_seal(tx, type, data, len, &wire)) break;
        data += len, size -= len;
    }
    if (moat_tls_recv(rx, wire.base, wire.len, &out, &app) == 0 && out.len) {
        /* Whatever the receiver answered (a KeyUpdate) goes back. */
        moat_buf back, junk;
        moat_buf_init(&back);
        moat_buf_init(&junk);
        moat_tls_recv(tx, out.base, out.len, &back, &junk);
        moat_buf_free(&back);
        moat_buf_free(&junk);
    }
done:
    moat_tls_free(rx);
    moat_tls_free(tx);
    moat_buf_free(&wire);
    moat_buf_free(&out);
    moat_buf_free(&app);
    return 0;
}
