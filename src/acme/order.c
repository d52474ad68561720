/* Issuance (RFC 8555 7.4-7.5): a new order, its authorizations answered
 * by a temporary responder, finalize with a CSR, the chain downloaded;
 * and revocation (7.6). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"

#define ACME_POLLS 90

static json_t *body_json(const struct acme_reply *r)
{
    json_t *v = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int problem_of(const struct acme_reply *r, const char *what, char *err, size_t errlen)
{
    struct acme_problem p;
    char words[1400];
    if (r->status >= 400 && acme_problem_parse(r->body, r->len, &p) == 0) {
        acme_problem_format(&p, words, sizeof words);
        snprintf(err, errlen, "%s: %s", what, words);
    } else {
        snprintf(err, errlen, "%s: the CA answered HTTP %d", what, r->status);
    }
    return -1;
}

/* POST-as-GET of url into a JSON object; NULL with err on failure. */
static json_t *fetch_object(struct acme_client *c, const char *url, struct acme_reply *r,
                            const char *what, char *err, size_t errlen)
{
    if (acme_post(c, url, NULL, 0, r, err, errlen) < 0) return NULL;
    json_t *v = r->status == 200 ? body_json(r) : NULL;
    if (!v) problem_of(r, what, err, errlen);
    return v;
}

static char *order_payload(const char *const *names, size_t n)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < n; i++)
        json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value", names[i]));
    json_t *o = json_pack("{s:o}", "identifiers", ids);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static int is_b64url(const char *s)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return s[0] && strspn(s, set) == strlen(s);
}

/* The token of the authorization at url for the chosen challenge type
 * into t; 1 when the authorization is already valid (nothing to answer). */
static int read_authz(struct acme_client *c, const char *url, enum acme_chall type,
                      const char *thumb, struct acme_token *t, char *err, size_t errlen)
{
    struct acme_reply r;
    json_t *a = fetch_object(c, url, &r, "cannot read an authorization", err, errlen);
    acme_reply_free(&r);
    if (!a) return -1;
    snprintf(t->authz_url, sizeof t->authz_url, "%s", url);
    snprintf(t->name, sizeof t->name, "%s", str(json_object_get(a, "identifier"), "value"));
    int rc = -1;
    if (!strcmp(str(a, "status"), "valid")) {
        rc = 1;
    } else {
        const char *want = type == ACME_HTTP01 ? "http-01" : "tls-alpn-01";
        size_t i;
        json_t *ch;
        json_array_foreach(json_object_get(a, "challenges"), i, ch)
        {
            if (strcmp(str(ch, "type"), want)) continue;
            snprintf(t->token, sizeof t->token, "%s", str(ch, "token"));
            snprintf(t->challenge_url, sizeof t->challenge_url, "%s", str(ch, "url"));
            /* RFC 8555 8.3 and RFC 8737 3: the token is base64url; a token
             * with other characters could escape the URL path. */
            rc = is_b64url(t->token) ? 0 : -1;
            t->keyauth = rc == 0 ? acme_key_authorization(t->token, thumb) : NULL;
            if (rc == 0 && !t->keyauth) rc = -1;
            break;
        }
        if (rc < 0)
            snprintf(err, errlen, "the CA offers no usable %s challenge for %s", want, t->name);
    }
    json_decref(a);
    return rc;
}

/* Why a challenge failed: the error object of the authorization's
 * challenge (RFC 8555 7.1.5), in plain words with the CA's detail. */
static void authz_failure(json_t *a, const char *name, char *err, size_t errlen)
{
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(a, "challenges"), i, ch)
    {
        json_t *e = json_object_get(ch, "error");
        if (!json_is_object(e)) continue;
        char *txt = json_dumps(e, JSON_COMPACT);
        struct acme_problem p;
        char words[1400];
        if (txt && acme_problem_parse(txt, strlen(txt), &p) == 0) {
            acme_problem_format(&p, words, sizeof words);
            snprintf(err, errlen, "the CA could not validate %s: %s", name, words);
            free(txt);
            return;
        }
        free(txt);
    }
    snprintf(err, errlen, "the CA could not validate %s (its authorization is %s)", name,
             str(a, "status"));
}

/* Polls an authorization until valid or invalid (RFC 8555 7.5.1),
 * waiting Retry-After (at least 1 s) between tries, bounded. */
static int poll_authz(struct acme_client *c, const struct acme_token *t, char *err, size_t errlen)
{
    for (int i = 0; i < ACME_POLLS; i++) {
        struct acme_reply r;
        json_t *a = fetch_object(c, t->authz_url, &r, "cannot read an authorization", err, errlen);
        int wait = r.retry_after > 0 ? (r.retry_after < 60 ? r.retry_after : 60) : 1;
        acme_reply_free(&r);
        if (!a) return -1;
        const char *st = str(a, "status");
        int rc = !strcmp(st, "valid")                                ? 0
                 : strcmp(st, "pending") && strcmp(st, "processing") ? -1
                                                                     : 1;
        if (rc < 0) authz_failure(a, t->name, err, errlen);
        json_decref(a);
        if (rc <= 0) return rc;
        sleep((unsigned)wait);
    }
    snprintf(err, errlen, "the CA did not finish validating %s in time", t->name);
    return -1;
}

static int answer(struct acme_client *c, struct acme_token *t, size_t n, enum acme_chall type,
                  int port, char *err, size_t errlen)
{
    struct acme_responder resp = {.pid = -1, .fd = -1};
    struct acme_publisher *pub = c->publisher;
    if (pub ? pub->publish(pub->arg, type, t, n, err, errlen) < 0
            : acme_responder_start(&resp, type, c->bind_addr, port, t, n, err, errlen) < 0)
        return -1;
    int rc = 0;
    /* RFC 8555 7.5.1: an empty object tells the CA the challenge is ready. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct acme_reply r;
        rc = acme_post(c, t[i].challenge_url, "{}", 0, &r, err, errlen);
        if (rc == 0 && r.status != 200)
            rc = problem_of(&r, "the CA refused the challenge", err, errlen);
        acme_reply_free(&r);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = poll_authz(c, &t[i], err, errlen);
    if (pub)
        pub->unpublish(pub->arg, type, t, n);
    else
        acme_responder_stop(&resp);
    return rc;
}

static int authorize(struct acme_client *c, json_t *order, enum acme_chall type, int port,
                     char *err, size_t errlen)
{
    char thumb[44];
    if (acme_jwk_thumbprint(c->key, thumb) < 0) return -1;
    json_t *urls = json_object_get(order, "authorizations");
    size_t n = json_array_size(urls), m = 0;
    struct acme_token *t = calloc(n ? n : 1, sizeof *t);
    if (!t) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *url = json_string_value(json_array_get(urls, i));
        int r = read_authz(c, url ? url : "", type, thumb, &t[m], err, errlen);
        if (r < 0) rc = -1;
        if (r == 0) m++;
    }
    if (rc == 0 && m) rc = answer(c, t, m, type, port, err, errlen);
    for (size_t i = 0; i < n; i++)
        free(t[i].keyauth);
    free(t);
    return rc;
}

/* Polls the order until it is valid (RFC 8555 7.4: processing after
 * finalize), returns its certificate URL into out. */
static int wait_order(struct acme_client *c, const char *url, char *out, size_t n, char *err,
                      size_t errlen)
{
    for (int i = 0; i < ACME_POLLS; i++) {
        struct acme_reply r;
        json_t *o = fetch_object(c, url, &r, "cannot read the order", err, errlen);
        int wait = r.retry_after > 0 ? (r.retry_after < 60 ? r.retry_after : 60) : 1;
        acme_reply_free(&r);
        if (!o) return -1;
        const char *st = str(o, "status");
        int rc = 1;
        if (!strcmp(st, "valid")) {
            snprintf(out, n, "%s", str(o, "certificate"));
            rc = out[0] ? 0 : -1;
        } else if (!strcmp(st, "invalid")) {
            snprintf(err, errlen, "the CA marked the order invalid");
            rc = -1;
        }
        json_decref(o);
        if (rc <= 0) return rc;
        sleep((unsigned)wait);
    }
    snprintf(err, errlen, "the CA did not issue the certificate in time");
    return -1;
}

static int finalize(struct acme_client *c, json_t *order, const char *order_url,
                    const char *const *names, size_t n, const moat_pkey *key, char *cert_url,
                    size_t cu_len, char *err, size_t errlen)
{
    uint8_t *der;
    size_t len;
    if (crypto_jose_csr(key, names, n, &der, &len, err, errlen) < 0) return -1;
    char *csr = acme_b64url(der, len);
    free(der);
    json_t *o = csr ? json_pack("{s:s}", "csr", csr) : NULL;
    char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    free(csr);
    if (!payload) return -1;
    struct acme_reply r;
    int rc = acme_post(c, str(order, "finalize"), payload, 0, &r, err, errlen);
    free(payload);
    if (rc == 0 && r.status != 200)
        rc = problem_of(&r, "the CA refused to finalize the order", err, errlen);
    acme_reply_free(&r);
    return rc < 0 ? -1 : wait_order(c, order_url, cert_url, cu_len, err, errlen);
}

/* Downloads a chain (RFC 8555 7.4.2) as PEM; its alternates' URLs too. */
static int download(struct acme_client *c, const char *url, char **pem, struct acme_reply *keep,
                    char *err, size_t errlen)
{
    c->accept = "application/pem-certificate-chain";
    int rc = acme_post(c, url, NULL, 0, keep, err, errlen);
    c->accept = NULL;
    if (rc < 0) return -1;
    if (keep->status != 200 || !strstr(keep->body, "-----BEGIN CERTIFICATE-----"))
        return problem_of(keep, "cannot download the certificate", err, errlen);
    *pem = strdup(keep->body);
    return *pem ? 0 : -1;
}

int acme_issue(struct acme_client *c, const char *const *names, size_t n, enum acme_chall type,
               int port, const moat_pkey *cert_key, char **chain, char **alt, int *nalt, char *err,
               size_t errlen)
{
    *chain = NULL;
    if (nalt) *nalt = 0;
    char *payload = order_payload(names, n);
    if (!payload) return -1;
    struct acme_reply r;
    int rc = acme_post(c, c->dir.new_order, payload, 0, &r, err, errlen);
    free(payload);
    if (rc < 0) return -1;
    json_t *order = r.status == 201 ? body_json(&r) : NULL;
    char order_url[1024], cert_url[1024];
    snprintf(order_url, sizeof order_url, "%s", r.location);
    if (!order) rc = problem_of(&r, "the CA refused the order", err, errlen);
    acme_reply_free(&r);
    if (rc == 0) rc = authorize(c, order, type, port, err, errlen);
    if (rc == 0)
        rc = finalize(c, order, order_url, names, n, cert_key, cert_url, sizeof cert_url, err,
                      errlen);
    json_decref(order);
    if (rc < 0) return -1;
    if (download(c, cert_url, chain, &r, err, errlen) < 0) {
        acme_reply_free(&r);
        return -1;
    }
    for (int i = 0; alt && nalt && i < r.nalternates; i++) {
        struct acme_reply a;
        if (download(c, r.alternates[i], &alt[*nalt], &a, err, errlen) == 0) (*nalt)++;
        acme_reply_free(&a);
    }
    acme_reply_free(&r);
    return 0;
}

int acme_revoke(struct acme_client *c, const char *pem, size_t len, int reason,
                const moat_pkey *cert_key, char *err, size_t errlen)
{
    uint8_t *der;
    size_t dlen;
    if (crypto_jose_pem_to_der(pem, len, &der, &dlen) < 0) {
        snprintf(err, errlen, "no certificate to revoke in the file");
        return -1;
    }
    char *b = acme_b64url(der, dlen);
    free(der);
    json_t *o = b ? json_pack("{s:s, s:i}", "certificate", b, "reason", reason) : NULL;
    char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    free(b);
    if (!payload) return -1;
    struct acme_reply r;
    int rc = cert_key ? acme_post_key(c, cert_key, c->dir.revoke_cert, payload, 1, &r, err, errlen)
                      : acme_post(c, c->dir.revoke_cert, payload, 0, &r, err, errlen);
    free(payload);
    if (rc == 0 && r.status != 200) rc = problem_of(&r, "the CA refused to revoke", err, errlen);
    acme_reply_free(&r);
    return rc;
}
