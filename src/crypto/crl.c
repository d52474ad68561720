/* Certificate revocation lists for the local CA (RFC 5280 section 5): the
 * libcrypto side of `moat ca crl`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/x509gen.h"
#include "crypto/x509gen_int.h"
#include "moat/error.h"

/* One revoked entry: serial, date and (RFC 5280 5.3.1) a reasonCode
 * unless the reason is unspecified or none. */
static int add_entry(X509_CRL *crl, const struct moat_crl_entry *e)
{
    BIGNUM *bn = NULL;
    if (!e->serial_hex || !*e->serial_hex || strlen(e->serial_hex) > 40) return 0;
    for (const char *p = e->serial_hex; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return 0;
    if (!BN_hex2bn(&bn, e->serial_hex)) return 0;
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)e->revoked_at);
    int ok = r && serial && when && X509_REVOKED_set_serialNumber(r, serial) == 1 &&
             X509_REVOKED_set_revocationDate(r, when) == 1;
    if (ok && e->reason > MOAT_CRL_REASON_UNSPECIFIED) {
        ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
        ok = code && ASN1_ENUMERATED_set(code, e->reason) == 1 &&
             X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, code, 0, 0) == 1;
        ASN1_ENUMERATED_free(code);
    }
    if (ok) ok = X509_CRL_add0_revoked(crl, r) == 1;
    if (!ok) X509_REVOKED_free(r);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(when);
    BN_free(bn);
    return ok;
}

int crypto_crl_make(const moat_cert *ca, const moat_pkey *ca_key, const struct moat_crl_entry *e,
                    size_t n, int64_t this_update, int64_t next_update, uint64_t number, int der,
                    unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (next_update <= this_update)
        return crypto_fail(MOAT_ERR_ARG, err, errlen, "the CRL's next update must be later");
    X509_CRL *crl = X509_CRL_new();
    if (!crl) return crypto_fail(MOAT_ERR_NOMEM, err, errlen, "out of memory");
    int r = 0;
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)this_update);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)next_update);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    int ok = tu && nu && num && ASN1_INTEGER_set_uint64(num, number) == 1 &&
             X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->x509)) == 1 &&
             X509_CRL_set1_lastUpdate(crl, tu) == 1 && X509_CRL_set1_nextUpdate(crl, nu) == 1;
    for (size_t i = 0; ok && i < n; i++)
        if (!add_entry(crl, &e[i])) {
            r = crypto_fail(MOAT_ERR_ARG, err, errlen, "a revoked serial number is malformed");
            ok = 0;
        }
    if (ok) {
        /* cRLNumber (5.2.3) and authorityKeyIdentifier (5.2.1), both
         * required of conforming CAs. */
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, ca->x509, NULL, NULL, crl, 0);
        X509_EXTENSION *aki =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
        ok = aki && X509_CRL_add_ext(crl, aki, -1) == 1 &&
             X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;
        X509_EXTENSION_free(aki);
        /* Entries in serial order, as openssl ca does; then sign. */
        ok = ok && X509_CRL_sort(crl) == 1 && X509_CRL_sign(crl, ca_key->pkey, EVP_sha256()) > 0;
        if (!ok) r = crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot sign the CRL");
    }
    if (ok) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len = 0;
        ok = b && (der ? i2d_X509_CRL_bio(b, crl) : PEM_write_bio_X509_CRL(b, crl)) == 1 &&
             (len = BIO_get_mem_data(b, &data)) > 0 && (*out = malloc((size_t)len)) != NULL;
        if (ok) {
            memcpy(*out, data, (size_t)len);
            *outlen = (size_t)len;
        } else {
            r = crypto_fail(MOAT_ERR_NOMEM, err, errlen, "cannot encode the CRL");
        }
        BIO_free(b);
    }
    if (!ok && r == 0) r = crypto_fail(MOAT_ERR_INTERNAL, err, errlen, "cannot make the CRL");
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    return r;
}
