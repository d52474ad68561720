/* Fuzz target: certificate, key, CRL and OCSP input, all parsed through
 * libcrypto in src/crypto. Byte 0 picks what the rest is:
 *   0  a certificate chain and a key (PEM), split at the first NUL byte,
 *      as moat_tls_config_add_cert_pem takes them;
 *   1  trusted CAs (PEM), moat_tls_config_set_ca_pem;
 *   2  CRLs (PEM or DER), crypto_trust_add_crl on a trust store;
 *   3  a DER OCSP response, moat_tls_config_set_ocsp_staple;
 *   4  a peer's chain: 2-byte-length-prefixed DER certificates, verified
 *      as a server's chain (crypto_verify_chain) with the rest after the
 *      chain taken as a stapled OCSP response;
 *   5  a DER certificate and a signature over a fixed message
 *      (crypto_verify_sig), its subject (crypto_x509_subject) and the
 *      identity a server logs for it (crypto_x509_identity: its email or
 *      URI SAN, else its subject). */
#include "fuzz.h"
#include "tls/internal.h"

static moat_tls_config *scfg;
static char *ca_pem;
static size_t ca_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    scfg = fuzz_server_config();
    FILE *f = fopen(fuzz_path("ca.pem"), "rb");
    if (!f) abort();
    ca_pem = calloc(1, 65536);
    ca_len = fread(ca_pem, 1, 65535, f);
    fclose(f);
    return 0;
}

static int64_t now = 1790000000; /* 2026-09 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0] % 6;
    data++, size--;
    char err[512];
    switch (mode) {
    case 0: {
        moat_tls_config *c = moat_tls_config_new();
        const uint8_t *nul = memchr(data, 0, size);
        size_t clen = nul ? (size_t)(nul - data) : size;
        size_t koff = nul ? clen + 1 : size;
        if (c) moat_tls_config_add_cert_pem(c, (const char *)data, clen, (const char *)data + koff,
                                            size - koff, err, sizeof err);
        moat_tls_config_free(c);
        break;
    }
    case 1: {
        moat_tls_config *c = moat_tls_config_new();
        if (c) moat_tls_config_set_ca_pem(c, (const char *)data, size, err, sizeof err);
        moat_tls_config_free(c);
        break;
    }
    case 2: {
        moat_trust *t = crypto_trust_new(ca_pem, ca_len, err, sizeof err);
        if (t) crypto_trust_add_crl(t, (const char *)data, size, err, sizeof err);
        crypto_trust_free(t);
        break;
    }
    case 3:
        moat_tls_config_set_ocsp_staple(scfg, 0, data, size);
        moat_tls_config_set_ocsp_staple(scfg, 0, NULL, 0);
        break;
    case 4: {
        const uint8_t *ders[MAX_PEER_CERTS];
        size_t lens[MAX_PEER_CERTS], n = 0;
        while (n < MAX_PEER_CERTS && size >= 2) {
            size_t len = (size_t)data[0] << 8 | data[1];
            if (len == 0 || len > size - 2) break;
            ders[n] = data + 2, lens[n++] = len;
            data += 2 + len, size -= 2 + len;
        }
        if (!n) break;
        moat_trust *t = crypto_trust_new(ca_pem, ca_len, err, sizeof err);
        moat_verdict v;
        if (t)
            crypto_verify_chain(t, ders, lens, n, "localhost", now, 0, size ? data : NULL, size, &v);
        crypto_trust_free(t);
        break;
    }
    case 5: {
        if (size < 2) break;
        size_t len = (size_t)data[0] << 8 | data[1];
        if (len > size - 2) len = size - 2;
        static const uint8_t msg[] = "moat fuzz message";
        static const uint16_t schemes[] = {MOAT_SIG_ECDSA_SECP256R1_SHA256,
                                           MOAT_SIG_ECDSA_SECP384R1_SHA384,
                                           MOAT_SIG_RSA_PSS_RSAE_SHA256, MOAT_SIG_ED25519};
        const uint8_t *sig = data + 2 + len;
        size_t siglen = size - 2 - len;
        uint16_t scheme = schemes[siglen % 4];
        crypto_verify_sig(data + 2, len, scheme, msg, sizeof msg, sig, siglen);
        char subj[300];
        crypto_x509_subject(data + 2, len, subj, sizeof subj);
        crypto_x509_identity(data + 2, len, subj, sizeof subj);
        break;
    }
    }
    return 0;
}
