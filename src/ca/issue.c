/* `moat ca issue` and `init`'s work, behind the command line of cli/ca.c:
 * a leaf checked against the CA, made, looked at by the verifier and
 * written; what a root says, for init's report. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "moat/error.h"

static void fmt_day(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%d", &tm) == 0) snprintf(out, len, "?");
}

int ca_issue_fits(const struct moat_ca *ca, const struct ca_issue_req *q, char *err, size_t errlen)
{
    for (size_t i = 0; i < q->n_names; i++) {
        if (crypto_cert_name_permitted(ca->cert, q->names[i])) continue;
        char nc[512];
        crypto_cert_constraints(ca->cert, nc, sizeof nc);
        snprintf(err, errlen,
                 "the CA in %s may not certify \"%s\": its name constraints permit only %s",
                 ca->dir, q->names[i], nc);
        return MOAT_CA_EXIT_USAGE;
    }
    int64_t ca_na = 0;
    crypto_cert_not_after(ca->cert, &ca_na);
    if (q->not_after > ca_na) {
        char d[32];
        fmt_day(ca_na, d, sizeof d);
        snprintf(err, errlen,
                 "the certificate would outlive the CA, which expires on %s; ask for fewer "
                 "--days or an earlier --not-after",
                 d);
        return MOAT_CA_EXIT_USAGE;
    }
    return MOAT_CA_EXIT_OK;
}

/* Makes the key and the leaf, and has the verifier look at it. */
static int make_leaf(const struct moat_ca *ca, const struct ca_issue_req *q, moat_pkey **key,
                     moat_cert **leaf, char *err, size_t errlen)
{
    char ou[256], why[1024];
    ca_user_at_host(ou, sizeof ou); /* as in the CA's own OU */
    struct moat_issue_params p = {
        .names = q->names,
        .n_names = q->n_names,
        .not_before = q->not_before,
        .not_after = q->not_after,
        .client_auth = q->client,
        .org = "moat development certificate",
        .org_unit = ou,
        .common_name = ca_common_name(q->names, q->n_names),
    };
    if (crypto_pkey_generate(q->rsa ? MOAT_KEY_RSA2048 : MOAT_KEY_EC_P256, key, err, errlen) != 0 ||
        crypto_x509_issue(ca->cert, ca->key, *key, &p, leaf, err, errlen) != 0)
        return MOAT_CA_EXIT_FAIL;
    /* A last word from the verifier itself, before anything is written:
     * moat never hands out a certificate that clients would refuse. */
    int vr =
        crypto_cert_check_leaf(ca->cert, *leaf, q->host || !q->client, q->client, why, sizeof why);
    if (vr != 0) {
        snprintf(err, errlen, "not issued: %s", why);
        return vr == MOAT_ERR_ARG ? MOAT_CA_EXIT_USAGE : MOAT_CA_EXIT_FAIL;
    }
    return MOAT_CA_EXIT_OK;
}

/* The key, then the certificate, then the copy in the CA directory that
 * `list` and `revoke SERIAL` read: the record comes last so that a
 * failure leaves no record of a certificate nobody received, and a
 * failure of the record takes the two files back. Each file is written
 * to a temporary name and renamed, so none is half-written. The chain is
 * the leaf alone: clients hold the root. */
static int write_issued(const struct moat_ca *ca, const struct ca_issue_req *q,
                        const moat_pkey *key, const moat_cert *leaf, char *err, size_t errlen)
{
    const moat_cert *chain[1] = {leaf};
    if (ca_write_key(key, q->key_path, err, errlen) != 0) return MOAT_CA_EXIT_FAIL;
    if (ca_write_certs(chain, 1, q->cert_path, 0644, err, errlen) != 0) {
        unlink(q->key_path); /* a key without its certificate helps nobody */
        return MOAT_CA_EXIT_FAIL;
    }
    char why[1024];
    if (ca_record_issued(ca, leaf, why, sizeof why) != 0) {
        unlink(q->cert_path); /* unrecorded, it could not be revoked by serial */
        unlink(q->key_path);
        snprintf(err, errlen, "%s (nothing was issued)", why);
        return MOAT_CA_EXIT_FAIL;
    }
    return MOAT_CA_EXIT_OK;
}

int ca_issue(const struct moat_ca *ca, const struct ca_issue_req *q, char *serial,
             size_t serial_len, char *err, size_t errlen)
{
    moat_pkey *key = NULL;
    moat_cert *leaf = NULL;
    int rc = ca_issue_fits(ca, q, err, errlen);
    if (rc == MOAT_CA_EXIT_OK) rc = make_leaf(ca, q, &key, &leaf, err, errlen);
    if (rc == MOAT_CA_EXIT_OK) rc = write_issued(ca, q, key, leaf, err, errlen);
    if (rc == MOAT_CA_EXIT_OK && crypto_cert_serial_hex(leaf, serial, serial_len) != 0)
        snprintf(serial, serial_len, "?");
    crypto_cert_free(leaf);
    crypto_pkey_free(key);
    return rc;
}

void ca_describe(const struct moat_ca *ca, struct ca_root_info *out)
{
    memset(out, 0, sizeof *out);
    crypto_cert_subject(ca->cert, out->subject, sizeof out->subject);
    crypto_cert_not_after(ca->cert, &out->not_after);
    crypto_cert_constraints(ca->cert, out->constraints, sizeof out->constraints);
}

int ca_range_ok(const char *cidr)
{
    unsigned char b[32];
    return crypto_cidr_parse(cidr, b) != 0;
}
