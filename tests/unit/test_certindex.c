/* The server's choice of certificate by SNI among thousands: through the
 * name index (exact names and "*." wildcards, without case), the same
 * choice as the walk it replaces, in TLS 1.3 and 1.2. */
#include <time.h>

#include "crypto/x509gen.h"
#include "harness.h"
#include "tls/internal.h"

#define NCERTS 2000
#define NDUP 40 /* more certificates for one name than the index lists */

static moat_pkey *ca_key, *leaf_key;
static moat_cert *ca;
static char *leaf_key_pem;
static size_t leaf_key_len;

static int add_leaf(moat_tls_config *sc, const char *const *names, size_t n)
{
    int64_t now = time(NULL);
    struct moat_issue_params p = {names, n, now - 3600, now + 86400, 0, NULL, NULL, names[0]};
    moat_cert *leaf = NULL;
    char *pem = NULL, err[256];
    size_t len = 0;
    int r = crypto_x509_issue(ca, ca_key, leaf_key, &p, &leaf, err, sizeof err);
    if (!r) r = crypto_certs_to_pem((const moat_cert *const *)&leaf, 1, &pem, &len, err, sizeof err);
    if (!r) r = moat_tls_config_add_cert_pem(sc, pem, len, leaf_key_pem, leaf_key_len, err, sizeof err);
    if (r) fprintf(stderr, "add_leaf %s: %s\n", names[0], err);
    free(pem);
    crypto_cert_free(leaf);
    return r;
}

/* The server config: h00000.bench.test .. h01999.bench.test, the 8th also
 * *.wild.bench.test, then NDUP certificates for dup.bench.test. */
static moat_tls_config *many_server(void)
{
    moat_tls_config *sc = moat_tls_config_new();
    char name[64], wild[] = "*.wild.bench.test";
    for (int i = 0; sc && i < NCERTS; i++) {
        snprintf(name, sizeof name, "h%05d.bench.test", i);
        const char *names[2] = {name, wild};
        if (add_leaf(sc, names, i == 7 ? 2 : 1)) return NULL;
    }
    for (int i = 0; sc && i < NDUP; i++) {
        const char *names[1] = {"dup.bench.test"};
        if (add_leaf(sc, names, 1)) return NULL;
    }
    return sc;
}

static int shake(const moat_tls_config *cc, const moat_tls_config *sc, const char *name)
{
    pair_t p;
    int r = pair_handshake(&p, cc, sc, name, 1 << 20);
    pair_free(&p);
    return r;
}

static void test_lookup(const moat_tls_config *sc)
{
    uint32_t out[64];
    int n = tls_names_find(sc, "h01999.bench.test", out, TLS_NAME_CAND_MAX);
    check(n == 1 && out[0] == 1999, "the last name is found by the index (%d)", n);
    n = tls_names_find(sc, "H01999.Bench.TEST", out, TLS_NAME_CAND_MAX);
    check(n == 1 && out[0] == 1999, "the index compares without case (%d)", n);
    n = tls_names_find(sc, "x.wild.bench.test", out, TLS_NAME_CAND_MAX);
    check(n == 1 && out[0] == 7, "a wildcard name is found for one label (%d)", n);
    n = tls_names_find(sc, "h00007.bench.test", out, TLS_NAME_CAND_MAX);
    check(n == 1 && out[0] == 7, "a certificate with two names is listed once (%d)", n);
    n = tls_names_find(sc, "nobody.bench.test", out, TLS_NAME_CAND_MAX);
    check(n == 0, "an unknown name has no candidate (%d)", n);
    n = tls_names_find(sc, ".bench.test", out, TLS_NAME_CAND_MAX);
    check(n == -1, "a name the index cannot answer for asks for the walk (%d)", n);
    n = tls_names_find(sc, "dup.bench.test", out, TLS_NAME_CAND_MAX);
    check(n == -1, "more candidates than the index lists ask for the walk (%d)", n);
    n = tls_names_find(sc, "dup.bench.test", out, 64);
    check(n == NDUP && out[0] == NCERTS && out[NDUP - 1] == NCERTS + NDUP - 1,
          "candidates come in the order the certificates were added (%d)", n);
}

static void test_handshakes(const moat_tls_config *sc, const char *ca_pem, size_t ca_len, int v12)
{
    moat_tls_config *cc = moat_tls_config_new();
    char err[256];
    int r = moat_tls_config_set_ca_pem(cc, ca_pem, ca_len, err, sizeof err);
    if (!r && v12) r = moat_tls_config_set_versions(cc, MOAT_TLS_VERSION_1_2, MOAT_TLS_VERSION_1_2);
    const char *v = v12 ? "TLS 1.2" : "TLS 1.3";
    /* The client checks the host name, so a handshake that completes got
     * a certificate for the name. */
    check(!r && shake(cc, sc, "h01999.bench.test") == 0, "%s: the last certificate for its name", v);
    check(!r && shake(cc, sc, "h00000.bench.test") == 0, "%s: the first certificate for its name", v);
    check(!r && shake(cc, sc, "H01234.BENCH.test") == 0, "%s: a name in capitals", v);
    check(!r && shake(cc, sc, "any.wild.bench.test") == 0, "%s: a wildcard", v);
    check(!r && shake(cc, sc, "dup.bench.test") == 0, "%s: one of many for one name", v);
    check(!r && shake(cc, sc, "a.b.wild.bench.test") != 0,
          "%s: a wildcard covers one label only (the default certificate is refused)", v);
    check(!r && shake(cc, sc, "nobody.bench.test") != 0,
          "%s: an unknown name gets the default certificate (refused by the client)", v);
    moat_tls_config_free(cc);
}

int main(void)
{
    crypto_init();
    char err[256], *ca_pem = NULL;
    size_t ca_len = 0;
    int64_t now = time(NULL);
    struct moat_root_params rp = {.common_name = "bench CA", .not_before = now - 3600,
                                  .not_after = now + 86400};
    int r = crypto_pkey_generate(MOAT_KEY_EC_P256, &ca_key, err, sizeof err);
    if (!r) r = crypto_pkey_generate(MOAT_KEY_EC_P256, &leaf_key, err, sizeof err);
    if (!r) r = crypto_x509_make_root(ca_key, &rp, &ca, err, sizeof err);
    if (!r) r = crypto_certs_to_pem((const moat_cert *const *)&ca, 1, &ca_pem, &ca_len, err, sizeof err);
    if (!r) r = crypto_pkey_to_pem(leaf_key, &leaf_key_pem, &leaf_key_len, err, sizeof err);
    check(r == 0, "test CA and key made (%s)", r ? err : "");
    moat_tls_config *sc = r ? NULL : many_server();
    check(sc != NULL, "%d certificates loaded", NCERTS + NDUP);
    if (sc) {
        test_lookup(sc);
        test_handshakes(sc, ca_pem, ca_len, 0);
        test_handshakes(sc, ca_pem, ca_len, 1);
    }
    moat_tls_config_free(sc);
    free(ca_pem);
    if (leaf_key_pem) {
        moat_wipe(leaf_key_pem, leaf_key_len);
        free(leaf_key_pem);
    }
    crypto_cert_free(ca);
    crypto_pkey_free(ca_key);
    crypto_pkey_free(leaf_key);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
