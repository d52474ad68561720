/* Shared by moat's libFuzzer targets: a test certificate made once per
 * process with the openssl command, and configurations built from it. */
#ifndef MOAT_FUZZ_H
#define MOAT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moat/tls.h"
#include "moat/tlsfile.h"

#pragma GCC diagnostic ignored "-Wunused-function"

static char fuzz_dir[64];

/* A P-256 CA and a localhost leaf it signed, in a temp dir removed at exit. */
static void fuzz_rmdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fuzz_dir);
    if (fuzz_dir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fuzz_dir);
}

static const char *fuzz_path(const char *name)
{
    static char buf[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", fuzz_dir, name);
    return buf[i];
}

static void fuzz_make_certs(void)
{
    if (fuzz_dir[0]) return;
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/moat-fuzz-XXXXXX");
    if (!mkdtemp(fuzz_dir)) abort();
    atexit(fuzz_rmdir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; cd %s; exec >gen.log 2>&1\n"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
             "-out ca.pem -days 3650 -subj '/CN=fuzz CA' "
             "-addext basicConstraints=critical,CA:TRUE\n"
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key\n"
             "openssl req -new -key leaf.key -subj /CN=localhost -out leaf.csr\n"
             "printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' "
             ">leaf.ext\n"
             "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 "
             "-extfile leaf.ext -out leaf.pem\n",
             fuzz_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz: could not make certificates in %s\n", fuzz_dir);
        abort();
    }
}

static moat_tls_config *fuzz_server_config(void)
{
    fuzz_make_certs();
    moat_tls_config *c = moat_tls_config_new();
    char err[256];
    static const char *alpn[] = {"http/1.1", "h2"};
    if (!c || moat_tls_config_add_cert_file(c, fuzz_path("leaf.pem"), fuzz_path("leaf.key"), err,
                                            sizeof err)) {
        fprintf(stderr, "fuzz: server config: %s\n", err);
        abort();
    }
    moat_tls_config_set_alpn(c, alpn, 2);
    return c;
}

static moat_tls_config *fuzz_client_config(int verify)
{
    fuzz_make_certs();
    moat_tls_config *c = moat_tls_config_new();
    char err[256];
    static const char *alpn[] = {"http/1.1"};
    if (!c || moat_tls_config_set_ca_file(c, fuzz_path("ca.pem"), err, sizeof err)) {
        fprintf(stderr, "fuzz: client config: %s\n", err);
        abort();
    }
    moat_tls_config_set_alpn(c, alpn, 1);
    moat_tls_config_set_verify(c, verify);
    return c;
}

#ifdef MOAT_TLS_INTERNAL_H
/* Hands data, a sequence of plaintext handshake messages (type, 24-bit
 * length, body; a length past the end is cut to what is left), one by one
 * to handle (the engine's client or server message handler) until one
 * fails or the handshake ends, as if each had arrived decrypted. */
static void fuzz_messages(moat_tls *t, const uint8_t *data, size_t size,
                          int (*handle)(moat_tls *, uint8_t, const uint8_t *, size_t, moat_buf *),
                          moat_buf *out)
{
    while (size >= 4 && t->state != ST_DEAD && t->state != ST_CONNECTED) {
        size_t len = (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3];
        if (len > size - 4) len = size - 4;
        uint8_t *msg = malloc(4 + len);
        if (!msg) break;
        memcpy(msg, data, 4 + len);
        msg[1] = (uint8_t)(len >> 16), msg[2] = (uint8_t)(len >> 8), msg[3] = (uint8_t)len;
        int r = handle(t, msg[0], msg, 4 + len, out);
        free(msg);
        if (r) break;
        data += 4 + len;
        size -= 4 + len;
    }
}
#endif

#endif
