/* moat's ML-KEM-768 on stdin and stdout, for tests against other
 * implementations (tests/interop/46-mlkem-noble.sh). One command a line,
 * keys and ciphertexts in hex; one answer a line, or "error N":
 *   keygen                 ->  ek HEX dk HEX
 *   encaps EK              ->  ct HEX k HEX
 *   decaps DK CT           ->  k HEX                                     */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "moat/error.h"

#define EK MOAT_MLKEM768_EK_LEN
#define DK MOAT_MLKEM768_DK_LEN
#define CT MOAT_MLKEM768_CT_LEN

/* Hex to bytes; returns the byte count, or (size_t)-1 on a bad digit. */
static size_t unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    for (; s[0] && s[1] && n < max; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) return (size_t)-1;
        out[n++] = (uint8_t)v;
    }
    return s[0] ? (size_t)-1 : n;
}

static void hex(const char *label, const uint8_t *p, size_t n)
{
    printf("%s ", label);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static void run(char *line)
{
    static uint8_t ek[EK + 1], dk[DK + 1], ct[CT + 1];
    uint8_t k[32];
    char *cmd = strtok(line, " \n"), *a = strtok(NULL, " \n"), *b = strtok(NULL, " \n");
    int r = MOAT_ERR_ARG; /* an unknown command, or bad hex */
    if (cmd && !strcmp(cmd, "keygen")) {
        if (!(r = crypto_mlkem768_keygen(ek, dk))) {
            hex("ek", ek, EK);
            hex(" dk", dk, DK);
        }
    } else if (cmd && !strcmp(cmd, "encaps") && a) {
        size_t n = unhex(a, ek, sizeof ek);
        if (n != (size_t)-1 && !(r = crypto_mlkem768_encaps(ek, n, ct, k))) {
            hex("ct", ct, CT);
            hex(" k", k, 32);
        }
    } else if (cmd && !strcmp(cmd, "decaps") && a && b) {
        size_t n = unhex(a, dk, sizeof dk), m = unhex(b, ct, sizeof ct);
        if (n == DK && m != (size_t)-1 && !(r = crypto_mlkem768_decaps(dk, ct, m, k)))
            hex("k", k, 32);
    }
    if (r) printf("error %d", r);
    printf("\n");
    fflush(stdout);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    if (crypto_init()) return 1;
    while (getline(&line, &cap, stdin) > 0)
        run(line);
    free(line);
    return 0;
}
