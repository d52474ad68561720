/* crypto/x509info: certificate details in words, for moat get -v and
 * --explain. Reads only; trust decisions are made in verify.c. */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/x509info.h"

static void name_str(const X509_NAME *n, char *out, size_t cap)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return;
    X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    int r = BIO_read(b, out, (int)cap - 1);
    out[r > 0 ? r : 0] = '\0';
    BIO_free(b);
}

static void time_str(const ASN1_TIME *t, char *out, size_t cap)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        snprintf(out, cap, "?");
        return;
    }
    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

size_t crypto_x509_escape_name(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (!cap) return 0;
    for (size_t i = 0; i < n; i++) {
        char one[5] = {(char)p[i], 0};
        /* Bytes a name may not hold (an embedded NUL ends a C string early
         * and once fooled name checks) are shown, not hidden: \x00. */
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '\\') snprintf(one, sizeof one, "\\x%02x", p[i]);
        size_t l = strlen(one);
        if (o + l >= cap) break;
        memcpy(out + o, one, l);
        o += l;
    }
    out[o] = 0;
    return o;
}

static void sans_str(X509 *x, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!gens) return;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char one[300] = "";
        if (g->type == GEN_DNS) {
            snprintf(one, sizeof one, "DNS:");
            crypto_x509_escape_name(ASN1_STRING_get0_data(g->d.dNSName),
                                    (size_t)ASN1_STRING_length(g->d.dNSName), one + 4,
                                    sizeof one - 4);
        } else if (g->type == GEN_IPADD) {
            const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
            int n = ASN1_STRING_length(g->d.iPAddress);
            if (n == 4) {
                snprintf(one, sizeof one, "IP:%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
            } else if (n == 16) {
                int k = snprintf(one, sizeof one, "IP:");
                for (int j = 0; j < 16; j += 2)
                    k += snprintf(one + k, sizeof one - (size_t)k, "%s%x", j ? ":" : "",
                                  (p[j] << 8) | p[j + 1]);
            }
        } else if (g->type == GEN_EMAIL) {
            snprintf(one, sizeof one, "email:");
            crypto_x509_escape_name(ASN1_STRING_get0_data(g->d.rfc822Name),
                                    (size_t)ASN1_STRING_length(g->d.rfc822Name), one + 6,
                                    sizeof one - 6);
        } else if (g->type == GEN_URI) {
            snprintf(one, sizeof one, "URI:");
            crypto_x509_escape_name(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
                                    (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier),
                                    one + 4, sizeof one - 4);
        }
        if (!one[0]) continue;
        int k = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", one);
        if (k < 0 || (size_t)k >= cap - o) break;
        o += (size_t)k;
    }
    GENERAL_NAMES_free(gens);
}

static void key_str(X509 *x, char *out, size_t cap)
{
    EVP_PKEY *k = X509_get0_pubkey(x);
    snprintf(out, cap, "?");
    if (!k) return;
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_RSA) {
        snprintf(out, cap, "RSA %d bits", EVP_PKEY_get_bits(k));
    } else if (id == EVP_PKEY_EC) {
        char g[40] = "";
        size_t gl = 0;
        EVP_PKEY_get_utf8_string_param(k, "group", g, sizeof g, &gl);
        snprintf(out, cap, "ECDSA %s",
                 strcmp(g, "prime256v1") == 0  ? "P-256"
                 : strcmp(g, "secp384r1") == 0 ? "P-384"
                 : strcmp(g, "secp521r1") == 0 ? "P-521"
                                               : g);
    } else if (id == EVP_PKEY_ED25519) {
        snprintf(out, cap, "Ed25519");
    } else {
        snprintf(out, cap, "%s", OBJ_nid2sn(id));
    }
}

int crypto_x509_describe(const uint8_t *der, size_t len, struct moat_x509_info *info)
{
    memset(info, 0, sizeof *info);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x) return -1;
    name_str(X509_get_subject_name(x), info->subject, sizeof info->subject);
    name_str(X509_get_issuer_name(x), info->issuer, sizeof info->issuer);
    time_str(X509_get0_notBefore(x), info->not_before, sizeof info->not_before);
    time_str(X509_get0_notAfter(x), info->not_after, sizeof info->not_after);
    sans_str(x, info->sans, sizeof info->sans);
    key_str(x, info->key, sizeof info->key);
    snprintf(info->sigalg, sizeof info->sigalg, "%s", OBJ_nid2ln(X509_get_signature_nid(x)));
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(info->sha256 + 3 * i, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
    }
    info->is_ca = X509_check_ca(x) > 0;
    info->self_issued = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
    X509_free(x);
    return 0;
}
