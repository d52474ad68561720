/* JOSE for ACME: base64url (RFC 7515 2), the JWK of a P-256 key and its
 * thumbprint (RFC 7518 6.2.1, RFC 7638 3), key authorizations (RFC 8555
 * 8.1) and flattened JWS objects signed with ES256 (RFC 8555 6.2). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"

char *acme_b64url(const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *p = data;
    char *out = malloc(n / 3 * 4 + 5);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    /* No '=' padding: RFC 7515 2 strips it. */
    if (n - i == 1) {
        out[o++] = tab[p[i] >> 2];
        out[o++] = tab[(p[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
        out[o++] = tab[v >> 10];
        out[o++] = tab[v >> 4 & 63];
        out[o++] = tab[(v & 15) << 2];
    }
    out[o] = 0;
    return out;
}

/* RFC 7638 3.3: only the required members, sorted by name, no
 * whitespace; jansson's JSON_SORT_KEYS | JSON_COMPACT writes exactly that
 * for string values. */
static char *canonical(const char *const *names, const char *const *values, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        if (json_object_set_new(o, names[i], json_string(values[i])) < 0) {
            json_decref(o);
            return NULL;
        }
    char *s = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int acme_thumbprint_members(const char *const *names, const char *const *values, size_t n,
                            char out[44])
{
    char *s = canonical(names, values, n);
    if (!s) return -1;
    uint8_t h[32];
    int r = crypto_hash(MOAT_HASH_SHA256, s, strlen(s), h);
    free(s);
    char *b = r == 0 ? acme_b64url(h, sizeof h) : NULL;
    if (!b) return -1;
    memcpy(out, b, 44); /* 43 characters and the NUL */
    free(b);
    return 0;
}

/* The EC JWK members of k: x and y base64url-encoded into xs and ys. */
static int ec_members(const moat_pkey *k, char **xs, char **ys)
{
    uint8_t x[32], y[32];
    *xs = *ys = NULL;
    if (crypto_jose_ec_xy(k, x, y) < 0) return -1;
    *xs = acme_b64url(x, sizeof x);
    *ys = acme_b64url(y, sizeof y);
    if (*xs && *ys) return 0;
    free(*xs);
    free(*ys);
    return -1;
}

char *acme_jwk_json(const moat_pkey *k)
{
    char *x, *y;
    if (ec_members(k, &x, &y) < 0) return NULL;
    const char *names[] = {"crv", "kty", "x", "y"}, *values[] = {"P-256", "EC", x, y};
    char *s = canonical(names, values, 4);
    free(x);
    free(y);
    return s;
}

int acme_jwk_thumbprint(const moat_pkey *k, char out[44])
{
    char *x, *y;
    if (ec_members(k, &x, &y) < 0) return -1;
    const char *names[] = {"crv", "kty", "x", "y"}, *values[] = {"P-256", "EC", x, y};
    int r = acme_thumbprint_members(names, values, 4, out);
    free(x);
    free(y);
    return r;
}

char *acme_key_authorization(const char *token, const char *thumbprint)
{
    size_t n = strlen(token) + strlen(thumbprint) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s.%s", token, thumbprint);
    return s;
}

/* The protected header of RFC 8555 6.2: jwk for newAccount and
 * revocation by the certificate's key, kid (the account URL) otherwise. */
static char *protected_header(const moat_pkey *key, const char *kid, const char *nonce,
                              const char *url)
{
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
    if (!h) return NULL;
    int bad;
    if (kid) {
        bad = json_object_set_new(h, "kid", json_string(kid)) < 0;
    } else {
        char *jwk = acme_jwk_json(key);
        json_t *j = jwk ? json_loads(jwk, 0, NULL) : NULL;
        free(jwk);
        bad = !j || json_object_set_new(h, "jwk", j) < 0;
    }
    char *s = bad ? NULL : json_dumps(h, JSON_COMPACT);
    json_decref(h);
    return s;
}

char *acme_jws(const moat_pkey *key, const char *kid, const char *nonce, const char *url,
               const char *payload)
{
    char *prot = protected_header(key, kid, nonce, url);
    char *p64 = prot ? acme_b64url(prot, strlen(prot)) : NULL;
    /* POST-as-GET (RFC 8555 6.3) signs the empty string as payload. */
    char *b64 = payload ? acme_b64url(payload, strlen(payload)) : strdup("");
    free(prot);
    char *input = NULL, *sig64 = NULL, *out = NULL;
    if (p64 && b64 && (input = malloc(strlen(p64) + strlen(b64) + 2))) {
        strcpy(input, p64);
        strcat(input, ".");
        strcat(input, b64);
        uint8_t sig[64];
        if (crypto_jose_es256_sign(key, input, strlen(input), sig) == 0)
            sig64 = acme_b64url(sig, sizeof sig);
    }
    if (sig64) {
        json_t *o =
            json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", b64, "signature", sig64);
        out = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    }
    free(input);
    free(sig64);
    free(p64);
    free(b64);
    return out;
}

char *acme_ari_cert_id(const uint8_t *aki, size_t aki_len, const uint8_t *serial, size_t serial_len)
{
    char *a = acme_b64url(aki, aki_len), *b = acme_b64url(serial, serial_len), *id = NULL;
    if (a && b && (id = malloc(strlen(a) + strlen(b) + 2))) sprintf(id, "%s.%s", a, b);
    free(a);
    free(b);
    return id;
}
