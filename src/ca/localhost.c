/* The localhost certificate behind `moat serve` without --cert: issued by
 * the user's CA, kept while it is good, replaced when not. */
#include <stdio.h>
#include <stdlib.h>

#include "ca/ca.h"
#include "moat/error.h"

/* 1 when the stored pair can serve on: readable, matching, signed by this
 * CA, valid now and for MOAT_CA_RENEW_DAYS more, not revoked, and
 * accepted by the verifier. */
static int reusable(const struct moat_ca *ca, const char *cert_path, const char *key_path)
{
    moat_cert *c = NULL;
    moat_pkey *k = NULL;
    char e[256];
    int64_t nb = 0, na = 0, now = ca_now();
    int ok = ca_read_cert(cert_path, &c, e, sizeof e) == 0 &&
             ca_read_key(key_path, &k, e, sizeof e) == 0 && crypto_cert_matches_key(c, k) &&
             crypto_cert_signed_by(c, ca->cert) && crypto_cert_not_before(c, &nb) == 0 &&
             crypto_cert_not_after(c, &na) == 0 && nb <= now &&
             na - now >= (int64_t)MOAT_CA_RENEW_DAYS * 86400;
    char serial[64];
    if (ok && (crypto_cert_serial_hex(c, serial, sizeof serial) != 0 || ca_is_revoked(ca, serial)))
        ok = 0; /* `moat ca revoke` of the serve certificate: issue anew */
    /* One that verifiers refuse (an earlier moat gave an IP-only leaf the
     * CN 127.0.0.1, which a --permit-dns root's constraints reject) is
     * replaced, not served on. */
    if (ok && crypto_cert_check_leaf(ca->cert, c, 1, 0, e, sizeof e) != 0) ok = 0;
    crypto_cert_free(c);
    crypto_pkey_free(k);
    return ok;
}

/* Issues the localhost pair into cert_path and key_path: the key, the
 * certificate, then the record, as `moat ca issue` does. A failure
 * part-way leaves an unusable pair that the next start replaces
 * (reusable() checks the pair matches). */
static int issue_localhost(const struct moat_ca *ca, const char *dir, const char *cert_path,
                           const char *key_path, char *err, size_t errlen)
{
    int r = 0;
    static const char *const wanted[] = {"localhost", "127.0.0.1", "::1"};
    /* Only the names the CA may certify (a constrained CA may not
     * cover all three); none at all is an error. */
    const char *names[3];
    size_t n_names = 0;
    for (size_t i = 0; i < 3; i++)
        if (crypto_cert_name_permitted(ca->cert, wanted[i])) names[n_names++] = wanted[i];
    if (n_names == 0) {
        char nc[512];
        crypto_cert_constraints(ca->cert, nc, sizeof nc);
        snprintf(err, errlen,
                 "the CA in %s may not certify localhost (its name constraints: %s); give "
                 "moat serve --cert and --key",
                 dir, nc);
        r = MOAT_ERR_STATE;
    }
    int64_t now = ca_now(), ca_end = 0;
    int64_t end = now + (int64_t)MOAT_CA_LEAF_DAYS * 86400;
    /* Never outlive the root: clients would reject the chain anyway. */
    if (crypto_cert_not_after(ca->cert, &ca_end) == 0 && end > ca_end) end = ca_end;
    if (end - now < 86400) {
        snprintf(err, errlen,
                 "the CA in %s expires within a day; move it away and moat will make a new "
                 "one",
                 dir);
        r = MOAT_ERR_STATE;
    }
    char ou[256];
    ca_user_at_host(ou, sizeof ou);
    struct moat_issue_params p = {
        .names = names,
        .n_names = n_names,
        .not_before = now,
        .not_after = end,
        .org = "moat development certificate",
        .org_unit = ou,
        .common_name = ca_common_name(names, n_names),
    };
    moat_pkey *key = NULL;
    moat_cert *leaf = NULL;
    if (r == 0) r = crypto_pkey_generate(MOAT_KEY_EC_P256, &key, err, errlen);
    if (r == 0) r = crypto_x509_issue(ca->cert, ca->key, key, &p, &leaf, err, errlen);
    /* Never serve what clients would refuse; the message says why. */
    if (r == 0) r = crypto_cert_check_leaf(ca->cert, leaf, 1, 0, err, errlen);
    if (r == 0) r = ca_write_key(key, key_path, err, errlen);
    if (r == 0) {
        const moat_cert *chain[1] = {leaf};
        r = ca_write_certs(chain, 1, cert_path, 0644, err, errlen);
    }
    if (r == 0) r = ca_record_issued(ca, leaf, err, errlen);
    crypto_cert_free(leaf);
    crypto_pkey_free(key);
    return r;
}

/* dir/serve/localhost.pem and localhost-key.pem. */
static int paths(const char *dir, char *cert_path, size_t cplen, char *key_path, size_t kplen)
{
    int a = snprintf(cert_path, cplen, "%s/%s/localhost.pem", dir, MOAT_CA_SERVE_DIR);
    int b = snprintf(key_path, kplen, "%s/%s/localhost-key.pem", dir, MOAT_CA_SERVE_DIR);
    return a < 0 || (size_t)a >= cplen || b < 0 || (size_t)b >= kplen ? MOAT_ERR_ARG : 0;
}

int ca_localhost_cert(char *cert_path, size_t cplen, char *key_path, size_t kplen, char *err,
                      size_t errlen)
{
    char dir[4096], serve[4200];
    int r = ca_store_dir(NULL, dir, sizeof dir, err, errlen);
    if (r != 0) return r;
    int n = snprintf(serve, sizeof serve, "%s/%s", dir, MOAT_CA_SERVE_DIR);
    if (n < 0 || (size_t)n >= sizeof serve || paths(dir, cert_path, cplen, key_path, kplen)) {
        snprintf(err, errlen, "path too long: %s", dir);
        return MOAT_ERR_ARG;
    }
    struct moat_ca ca;
    int created = 0;
    r = ca_store_open(dir, 1, &created, &ca, err, errlen);
    if (r != 0) return r;
    if (created)
        fprintf(stderr,
                "moat: created a local CA for https://localhost; to make browsers trust it, "
                "add %s/%s to their trust store\n",
                dir, MOAT_CA_CERT_FILE);
    r = ca_make_dirs(serve, err, errlen);
    if (r == 0 && !reusable(&ca, cert_path, key_path))
        r = issue_localhost(&ca, dir, cert_path, key_path, err, errlen);
    ca_store_close(&ca);
    return r;
}
