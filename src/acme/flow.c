/* The ACME protocol against a CA (RFC 8555): directory, nonces, signed
 * requests, account, order, authorizations, challenges, finalize,
 * download, revocation. Each request goes through moat's own HTTPS
 * client (client/request.h), judged like moat get judges a server. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acme/acme.h"
#include "client/request.h"
#include "crypto/crypto.h"
#include "crypto/jose.h"

#define ACME_TIMEOUT_S 30
#define ACME_MAX_BODY (1 << 20)

void acme_reply_free(struct acme_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Keeps the URL of each Link: <URL>;rel="alternate" (RFC 8288, RFC 8555
 * 7.4.2: other chains to the same certificate). */
static void take_link(struct acme_reply *r, const char *v)
{
    const char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!gt || r->nalternates >= 4 || !strstr(gt, "rel=\"alternate\"")) return;
    snprintf(r->alternates[r->nalternates++], sizeof r->alternates[0], "%.*s", (int)(gt - lt - 1),
             lt + 1);
}

static int http(struct acme_client *c, const char *method, const char *url, const char *body,
                const char *accept, struct acme_reply *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    char acc[128];
    snprintf(acc, sizeof acc, "Accept: %s", accept ? accept : "application/json");
    const char *hdrs[] = {acc, "Content-Type: application/jose+json"};
    struct moat_request_response resp;
    int rc = client_request(c->tls, method, url, hdrs, body ? 2 : 1, body, body ? strlen(body) : 0,
                            ACME_TIMEOUT_S, ACME_MAX_BODY, &resp, err, errlen);
    if (rc == 0) {
        const char *v;
        r->status = resp.status;
        if ((v = client_request_header(&resp, "Replay-Nonce", 0)))
            snprintf(c->nonce, sizeof c->nonce, "%s", v);
        if ((v = client_request_header(&resp, "Location", 0)))
            snprintf(r->location, sizeof r->location, "%s", v);
        if ((v = client_request_header(&resp, "Content-Type", 0)))
            snprintf(r->content_type, sizeof r->content_type, "%s", v);
        r->retry_after = acme_retry_after(client_request_header(&resp, "Retry-After", 0), 0, 86400);
        for (size_t i = 0; (v = client_request_header(&resp, "Link", i)); i++)
            take_link(r, v);
        r->body = malloc(resp.body.len + 1);
        if (r->body) {
            if (resp.body.len) memcpy(r->body, resp.body.base, resp.body.len);
            r->body[resp.body.len] = 0;
            r->len = resp.body.len;
        } else {
            rc = -1;
            snprintf(err, errlen, "out of memory");
        }
        if (c->verbose) fprintf(stderr, "moat: acme: %s %s -> %d\n", method, url, r->status);
    }
    client_request_response_free(&resp);
    return rc;
}

int acme_open(struct acme_client *c, const char *url, char *err, size_t errlen)
{
    struct acme_reply r;
    char why[1024];
    if (http(c, "GET", url, NULL, NULL, &r, why, sizeof why) < 0) {
        snprintf(err, errlen, "cannot read the ACME directory %s: %s", url, why);
        return -1;
    }
    int bad = r.status != 200 || acme_directory_parse(r.body, r.len, &c->dir) < 0;
    if (bad)
        snprintf(err, errlen,
                 "%s is not an ACME directory (HTTP %d, no newNonce/newAccount/newOrder)", url,
                 r.status);
    acme_reply_free(&r);
    return bad ? -1 : 0;
}

static int fresh_nonce(struct acme_client *c, char *err, size_t errlen)
{
    struct acme_reply r;
    c->nonce[0] = 0;
    int rc = http(c, "HEAD", c->dir.new_nonce, NULL, NULL, &r, err, errlen);
    acme_reply_free(&r);
    if (rc == 0 && !c->nonce[0]) {
        snprintf(err, errlen, "the CA's newNonce gave no Replay-Nonce");
        rc = -1;
    }
    return rc;
}

static int is_problem(const struct acme_reply *r, struct acme_problem *p)
{
    return r->status >= 400 && acme_problem_parse(r->body, r->len, p) == 0;
}

int acme_post(struct acme_client *c, const char *url, const char *payload, int use_jwk,
              struct acme_reply *r, char *err, size_t errlen)
{
    return acme_post_key(c, c->key, url, payload, use_jwk, r, err, errlen);
}

int acme_post_key(struct acme_client *c, const moat_pkey *key, const char *url, const char *payload,
                  int use_jwk, struct acme_reply *r, char *err, size_t errlen)
{
    /* RFC 8555 6.5: a badNonce answer carries a fresh nonce to retry
     * with; a few retries, never unbounded. */
    for (int attempt = 0; attempt < 10; attempt++) {
        if (!c->nonce[0] && fresh_nonce(c, err, errlen) < 0) return -1;
        char nonce[512];
        snprintf(nonce, sizeof nonce, "%s", c->nonce);
        c->nonce[0] = 0; /* each nonce is good for one request */
        char *jws = acme_jws(key, use_jwk ? NULL : c->kid, nonce, url, payload);
        if (!jws) {
            snprintf(err, errlen, "cannot sign the request");
            return -1;
        }
        int rc = http(c, "POST", url, jws, c->accept, r, err, errlen);
        free(jws);
        if (rc < 0) return -1;
        struct acme_problem p;
        int prob = is_problem(r, &p);
        if (prob) {
            /* Kept for the caller's retry policy (rateLimited). */
            snprintf(c->problem, sizeof c->problem, "%s", p.type);
            c->retry_after = r->retry_after;
        }
        if (!(prob && !strcmp(acme_problem_name(&p), "badNonce"))) return 0;
        c->nonce_retries++;
        if (c->verbose) fprintf(stderr, "moat: acme: badNonce, retrying with the fresh nonce\n");
        acme_reply_free(r);
    }
    snprintf(err, errlen, "the CA refused every nonce (badNonce ten times)");
    return -1;
}

/* Turns a reply that is not the expected success into a message. */
static int refused(const struct acme_reply *r, const char *what, char *err, size_t errlen)
{
    struct acme_problem p;
    char words[1400];
    if (is_problem(r, &p)) {
        acme_problem_format(&p, words, sizeof words);
        snprintf(err, errlen, "%s: %s", what, words);
    } else {
        snprintf(err, errlen, "%s: the CA answered HTTP %d", what, r->status);
    }
    return -1;
}

int acme_account(struct acme_client *c, const char *email, int agree, char *err, size_t errlen)
{
    json_t *o = json_pack("{s:b}", "termsOfServiceAgreed", agree);
    if (email && o) {
        char mail[600];
        snprintf(mail, sizeof mail, "mailto:%s", email);
        json_object_set_new(o, "contact", json_pack("[s]", mail));
    }
    char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!payload) return -1;
    struct acme_reply r;
    /* RFC 8555 7.3: newAccount is signed with the jwk; an existing account
     * answers 200 with its URL, a new one 201. */
    int rc = acme_post(c, c->dir.new_account, payload, 1, &r, err, errlen);
    free(payload);
    if (rc < 0) return -1;
    if ((r.status == 200 || r.status == 201) && r.location[0])
        snprintf(c->kid, sizeof c->kid, "%s", r.location);
    else
        rc = refused(&r, "the CA refused the account", err, errlen);
    acme_reply_free(&r);
    return rc;
}

void acme_client_free(struct acme_client *c)
{
    crypto_pkey_free(c->key);
    c->key = NULL;
}

int acme_ari_window(struct acme_client *c, const char *pem, size_t len, int64_t *start,
                    int64_t *end, char *err, size_t errlen)
{
    if (!c->dir.renewal_info[0]) return 0;
    uint8_t aki[64], serial[32];
    size_t al, sl;
    if (crypto_jose_ari_parts(pem, len, aki, &al, serial, &sl) < 0) {
        snprintf(err, errlen, "the certificate has no authority key identifier for ARI");
        return -1;
    }
    char *id = acme_ari_cert_id(aki, al, serial, sl);
    size_t n = strlen(c->dir.renewal_info) + (id ? strlen(id) : 0) + 2;
    char *url = id ? malloc(n) : NULL;
    if (!url) {
        free(id);
        return -1;
    }
    /* RFC 9773 4.2: renewalInfo, a slash, the identifier. */
    int slash = c->dir.renewal_info[strlen(c->dir.renewal_info) - 1] == '/';
    snprintf(url, n, "%s%s%s", c->dir.renewal_info, slash ? "" : "/", id);
    free(id);
    struct acme_reply r;
    char why[1024];
    int rc = http(c, "GET", url, NULL, NULL, &r, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read the renewal information %s: %s", url, why);
    } else if (r.status != 200 || acme_renewal_info_parse(r.body, r.len, start, end) < 0) {
        snprintf(err, errlen, "%s gave no renewal window (HTTP %d)", url, r.status);
        rc = -1;
    } else {
        rc = 1;
    }
    acme_reply_free(&r);
    free(url);
    return rc;
}
