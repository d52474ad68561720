/* TLS configuration: certificates, trust, algorithms, ALPN, key log, and
 * the names of suites, groups and signature schemes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls/internal.h"

moat_tls_config *moat_tls_config_new(void)
{
    if (crypto_init()) return NULL;
    moat_tls_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    static const uint16_t suites[] = {MOAT_TLS_AES_128_GCM_SHA256, MOAT_TLS_AES_256_GCM_SHA384,
                                      MOAT_TLS_CHACHA20_POLY1305_SHA256};
    static const uint16_t groups[] = {MOAT_GROUP_X25519MLKEM768, MOAT_GROUP_X25519,
                                      MOAT_GROUP_SECP256R1, MOAT_GROUP_SECP384R1};
    memcpy(c->suites, suites, sizeof suites);
    c->nsuites = 3;
    memcpy(c->groups, groups, sizeof groups);
    c->ngroups = 4;
    c->verify = 1;
    c->min_version = TLS_V12; /* as nginx, Caddy and Mozilla's intermediate */
    c->max_version = TLS_V13;
    c->tickets = 2;
    c->ticket_lifetime = 86400;
    c->ticket_rotate = 12 * 3600;
    if (crypto_random(c->ticket_master, sizeof c->ticket_master)) {
        free(c);
        return NULL;
    }
    return c;
}

void moat_tls_config_free(moat_tls_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->ncreds; i++)
        crypto_cred_free(c->creds[i]);
    crypto_trust_free(c->trust);
    if (c->ticket_derived) {
        moat_wipe(c->ticket_derived, c->nticket_keys * 48);
        free(c->ticket_derived);
    }
    crypto_trust_free(c->client_trust);
    for (size_t i = 0; i < c->creds_cap; i++)
        free(c->ocsp[i]);
    free(c->creds);
    free(c->ocsp);
    free(c->ocsp_len);
    free(c->ocsp_next);
    tls_names_free(c);
    moat_wipe(c, sizeof *c);
    free(c);
}

/* Room for n certificates and their staples (the new ones empty). */
static int creds_room(moat_tls_config *c, size_t n)
{
    if (n <= c->creds_cap) return 0;
    size_t cap = c->creds_cap ? c->creds_cap : 16;
    while (cap < n)
        cap *= 2;
    moat_cred **cr = realloc(c->creds, cap * sizeof *cr);
    if (cr) c->creds = cr;
    uint8_t **o = cr ? realloc(c->ocsp, cap * sizeof *o) : NULL;
    if (o) c->ocsp = o;
    size_t *ol = o ? realloc(c->ocsp_len, cap * sizeof *ol) : NULL;
    if (ol) c->ocsp_len = ol;
    int64_t *on = ol ? realloc(c->ocsp_next, cap * sizeof *on) : NULL;
    if (on) c->ocsp_next = on;
    if (!on) return MOAT_ERR_NOMEM; /* the arrays that did grow keep the old contents */
    for (size_t i = c->creds_cap; i < cap; i++) {
        c->creds[i] = NULL;
        c->ocsp[i] = NULL;
        c->ocsp_len[i] = 0;
        c->ocsp_next[i] = 0;
    }
    c->creds_cap = cap;
    return 0;
}

int moat_tls_config_add_cert_pem(moat_tls_config *c, const char *cert_pem, size_t cert_len,
                                 const char *key_pem, size_t key_len, char *err, size_t errlen)
{
    if (c->ncreds == MAX_CREDS) {
        snprintf(err, errlen, "at most %d certificates", MAX_CREDS);
        return MOAT_ERR_ARG;
    }
    if (creds_room(c, c->ncreds + 1)) {
        snprintf(err, errlen, "out of memory");
        return MOAT_ERR_NOMEM;
    }
    moat_cred *cred;
    int r = crypto_cred_load(cert_pem, cert_len, key_pem, key_len, &cred, err, errlen);
    if (r) return r;
    c->creds[c->ncreds] = cred;
    if (tls_names_add(c, c->ncreds)) {
        /* names already indexed for it point past ncreds: drop them all */
        tls_names_free(c);
        for (size_t i = 0; i < c->ncreds; i++)
            tls_names_add(c, i);
        crypto_cred_free(cred);
        snprintf(err, errlen, "out of memory");
        return MOAT_ERR_NOMEM;
    }
    c->ncreds++;
    return 0;
}

/* id = SHA-256(id | tag | SHA-256(data)): every CA set and CRL changes
 * the verdict on a chain, so each changes the identity that saved
 * sessions are bound to (moat_tls_set_session). */
static int trust_id_add(uint8_t id[32], const char *tag, const void *data, size_t len)
{
    uint8_t in[32 + 8 + 32];
    memcpy(in, id, 32);
    memset(in + 32, 0, 8);
    memcpy(in + 32, tag, strlen(tag) < 8 ? strlen(tag) : 8);
    if (crypto_hash(MOAT_HASH_SHA256, data, len, in + 40) ||
        crypto_hash(MOAT_HASH_SHA256, in, sizeof in, id))
        return MOAT_ERR_INTERNAL;
    return 0;
}

/* Puts t in place as the trust store, named by id for the sessions. */
static void set_trust(moat_tls_config *c, moat_trust *t, const uint8_t id[32])
{
    crypto_trust_free(c->trust);
    c->trust = t;
    memcpy(c->trust_id, id, 32);
}

int moat_tls_config_set_system_trust_pem(moat_tls_config *c, const char *pem, size_t len, char *err,
                                         size_t errlen)
{
    uint8_t id[32] = {0};
    if (trust_id_add(id, "system", pem, len)) {
        snprintf(err, errlen, "cannot hash the trust store");
        return MOAT_ERR_INTERNAL;
    }
    moat_trust *t = crypto_trust_new_system(pem, len, err, errlen);
    if (!t) return MOAT_ERR_FILE;
    set_trust(c, t, id);
    return 0;
}

int moat_tls_config_set_ca_pem(moat_tls_config *c, const char *pem, size_t len, char *err,
                               size_t errlen)
{
    uint8_t id[32] = {0};
    if (trust_id_add(id, "ca", pem, len)) {
        snprintf(err, errlen, "cannot hash the trust store");
        return MOAT_ERR_INTERNAL;
    }
    moat_trust *t = crypto_trust_new(pem, len, err, errlen);
    if (!t) return MOAT_ERR_FILE;
    set_trust(c, t, id);
    return 0;
}

int moat_tls_config_add_crl(moat_tls_config *c, const char *data, size_t len, char *err,
                            size_t errlen)
{
    if (!c->trust) {
        snprintf(err, errlen, "no trust store to add the CRL to");
        return MOAT_ERR_STATE;
    }
    /* The CRL joins the trust's identity. */
    uint8_t id[32];
    memcpy(id, c->trust_id, sizeof id);
    if (trust_id_add(id, "crl", data, len)) {
        snprintf(err, errlen, "cannot hash it");
        return MOAT_ERR_INTERNAL;
    }
    int r = crypto_trust_add_crl(c->trust, data, len, err, errlen);
    if (!r) memcpy(c->trust_id, id, sizeof id);
    return r;
}

int moat_tls_config_set_client_ca_pem(moat_tls_config *c, const char *pem, size_t len, char *err,
                                      size_t errlen)
{
    moat_trust *t = crypto_trust_new(pem, len, err, errlen);
    if (!t) return MOAT_ERR_FILE;
    /* Tickets carry this: other client CAs make tickets with an identity
     * give a full handshake, whose certificate is checked against them. */
    uint8_t id[32];
    if (crypto_hash(MOAT_HASH_SHA256, pem, len, id)) {
        crypto_trust_free(t);
        snprintf(err, errlen, "cannot hash the client CAs");
        return MOAT_ERR_INTERNAL;
    }
    crypto_trust_free(c->client_trust);
    c->client_trust = t;
    memcpy(c->client_ca_id, id, sizeof id);
    return 0;
}

void moat_tls_config_set_client_auth(moat_tls_config *c, int mode)
{
    c->client_auth = mode;
}

int moat_tls_config_set_ocsp_staple(moat_tls_config *c, size_t index, const uint8_t *der,
                                    size_t len)
{
    if (index >= MAX_CREDS) return MOAT_ERR_ARG;
    if (creds_room(c, index + 1)) return MOAT_ERR_NOMEM;
    int64_t next = 0;
    if (len && (len > (1u << 20) || crypto_ocsp_next_update(der, len, &next))) return MOAT_ERR_FILE;
    uint8_t *copy = NULL;
    if (len && !(copy = malloc(len))) return MOAT_ERR_NOMEM;
    if (len) memcpy(copy, der, len);
    free(c->ocsp[index]);
    c->ocsp[index] = copy;
    c->ocsp_len[index] = len;
    c->ocsp_next[index] = next;
    return 0;
}

void moat_tls_config_set_verify(moat_tls_config *c, int on)
{
    c->verify = on;
}

void moat_tls_config_set_clock(moat_tls_config *c, moat_clock_fn fn, void *arg)
{
    c->clock = fn;
    c->clock_arg = arg;
}

int moat_tls_config_set_ciphers(moat_tls_config *c, const uint16_t *s, size_t n)
{
    if (n == 0 || n > 3) return MOAT_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        if (!crypto_aead_key_len(s[i])) return MOAT_ERR_ARG;
    memcpy(c->suites, s, n * sizeof *s);
    c->nsuites = n;
    return 0;
}

int moat_tls_config_set_versions(moat_tls_config *c, uint16_t min, uint16_t max)
{
    if (!c || min > max || min < TLS_V12 || max > TLS_V13) return MOAT_ERR_ARG;
    c->min_version = min;
    c->max_version = max;
    return 0;
}

int moat_tls_config_set_groups(moat_tls_config *c, const uint16_t *g, size_t n)
{
    if (n == 0 || n > 4) return MOAT_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        if (!crypto_kex_supported(g[i])) return MOAT_ERR_ARG;
    memcpy(c->groups, g, n * sizeof *g);
    c->ngroups = n;
    return 0;
}

int moat_tls_config_set_alpn(moat_tls_config *c, const char *const *protos, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(protos[i]);
        if (l == 0 || l > 255 || len + 1 + l > sizeof c->alpn) return MOAT_ERR_ARG;
        c->alpn[len] = (uint8_t)l;
        memcpy(c->alpn + len + 1, protos[i], l);
        memcpy(c->alpn_names + len, protos[i], l);
        c->alpn_names[len + l] = '\0';
        len += 1 + l;
    }
    c->alpn_len = len;
    return 0;
}

void moat_tls_config_set_keylog(moat_tls_config *c, moat_tls_keylog_fn fn, void *arg)
{
    c->keylog = fn;
    c->keylog_arg = arg;
}

static const struct {
    uint16_t id;
    const char *name, *alias;
} suite_names[] =
    {
        {MOAT_TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", "aes128gcm"},
        {MOAT_TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384", "aes256gcm"},
        {MOAT_TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", "chacha20"},
},
  /* TLS 1.2 (RFC 5289, RFC 7905): named only, never chosen by name (the
   * 1.2 suites follow the configured AEADs). */
    suite12_names[] =
        {
            {TLS12_ECDHE_ECDSA_AES128_GCM_SHA256, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL},
            {TLS12_ECDHE_RSA_AES128_GCM_SHA256, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NULL},
            {TLS12_ECDHE_ECDSA_AES256_GCM_SHA384, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", NULL},
            {TLS12_ECDHE_RSA_AES256_GCM_SHA384, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", NULL},
            {TLS12_ECDHE_ECDSA_CHACHA20_POLY1305, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
             NULL},
            {TLS12_ECDHE_RSA_CHACHA20_POLY1305, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
             NULL},
},
  group_names[] =
      {
          {MOAT_GROUP_X25519MLKEM768, "X25519MLKEM768", NULL},
          {MOAT_GROUP_X25519, "x25519", "X25519"},
          {MOAT_GROUP_SECP256R1, "secp256r1", "P-256"},
          {MOAT_GROUP_SECP384R1, "secp384r1", "P-384"},
},
  sig_names[] = {
      {MOAT_SIG_ECDSA_SECP256R1_SHA256, "ecdsa_secp256r1_sha256", NULL},
      {MOAT_SIG_ECDSA_SECP384R1_SHA384, "ecdsa_secp384r1_sha384", NULL},
      {MOAT_SIG_RSA_PSS_RSAE_SHA256, "rsa_pss_rsae_sha256", NULL},
      {MOAT_SIG_RSA_PSS_RSAE_SHA384, "rsa_pss_rsae_sha384", NULL},
      {MOAT_SIG_RSA_PSS_RSAE_SHA512, "rsa_pss_rsae_sha512", NULL},
      {MOAT_SIG_ED25519, "ed25519", NULL},
      {MOAT_SIGN_RSA_PKCS1_SHA256, "rsa_pkcs1_sha256", NULL},
      {MOAT_SIGN_RSA_PKCS1_SHA384, "rsa_pkcs1_sha384", NULL},
      {MOAT_SIGN_RSA_PKCS1_SHA512, "rsa_pkcs1_sha512", NULL},
};

#define LOOKUP_ID(tab, want)                                                                       \
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)                                        \
        if (tab[i].id == (want)) return tab[i].name;                                               \
    return "unknown"
#define LOOKUP_NAME(tab, s)                                                                        \
    for (size_t i = 0; s && i < sizeof tab / sizeof tab[0]; i++)                                   \
        if (!strcasecmp(tab[i].name, s) || (tab[i].alias && !strcasecmp(tab[i].alias, s)))         \
            return tab[i].id;                                                                      \
    return 0

const char *moat_tls_cipher_name(uint16_t s)
{
    for (size_t i = 0; i < sizeof suite12_names / sizeof suite12_names[0]; i++)
        if (suite12_names[i].id == s) return suite12_names[i].name;
    LOOKUP_ID(suite_names, s);
}
const char *moat_tls_version_name(uint16_t v)
{
    return v == TLS_V13 ? "TLSv1.3" : v == TLS_V12 ? "TLSv1.2" : "unknown";
}
const char *moat_tls_group_name(uint16_t g)
{
    LOOKUP_ID(group_names, g);
}
const char *moat_tls_sigscheme_name(uint16_t s)
{
    LOOKUP_ID(sig_names, s);
}
uint16_t moat_tls_cipher_from_name(const char *s)
{
    LOOKUP_NAME(suite_names, s);
}
uint16_t moat_tls_group_from_name(const char *s)
{
    if (s && (!strcasecmp(s, "prime256v1") || !strcasecmp(s, "P256"))) return MOAT_GROUP_SECP256R1;
    if (s && !strcasecmp(s, "P384")) return MOAT_GROUP_SECP384R1;
    LOOKUP_NAME(group_names, s);
}
