/* acme/: moat's ACME client (RFC 8555): JSON and problem documents
 * (json.c), JWS and key authorizations (jws.c), the protocol against a CA
 * (flow.c), the temporary challenge responders (respond.c) and the work
 * of `moat cert` (cert.c; its command line is cli/cert.c). Internal: acme_
 * names, never exported. */
#ifndef MOAT_ACME_H
#define MOAT_ACME_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/x509gen.h"
#include "moat/tls.h"

#define ACME_MAX_NAMES 100

struct acme_token;
struct acme_publisher;

/* What `moat cert` was asked, as cli/cert.c parsed it. */
struct acme_cert_opts {
    const char *cmd; /* "obtain", "renew" or "revoke" */
    const char *acme, *email, *ca_root, *dir, *out, *listen, *file, *key;
    const char *names[ACME_MAX_NAMES];
    size_t nnames;
    int http_port, tls_port, agree, force, verbose, reason;
    int key_type;        /* enum moat_key_type */
    double renew_before; /* days; < 0: a third of the lifetime */
    int lock_wait;       /* seconds */
    char dirbuf[PATH_MAX];
    /* moat serve --acme (acme/serve.c): the server's workers answer the
     * challenges (publish/unpublish, see struct acme_client); no
     * certs/NAME.json is kept (moat cert renew leaves them alone). */
    struct acme_publisher *publisher;
    int no_state;
    /* Out: the type of the CA's last problem answer ("" when none) and
     * its Retry-After in seconds (0 when absent). */
    char problem[160];
    int retry_after;
};

/* Who answers the challenges when it is not a temporary responder: the
 * tokens are handed to publish before the CA is told to look, and to
 * unpublish once the authorizations are settled. */
struct acme_publisher {
    int (*publish)(void *arg, int type, const struct acme_token *t, size_t n, char *err,
                   size_t errlen);
    void (*unpublish)(void *arg, int type, const struct acme_token *t, size_t n);
    void *arg;
};

/* `moat cert obtain`, `renew` and `revoke`, with the options checked.
 * Each returns an exit status (enum acme_exit). */
int acme_cert_obtain(struct acme_cert_opts *o);
int acme_cert_renew(struct acme_cert_opts *o);
int acme_cert_revoke(struct acme_cert_opts *o);

/* --acme-dir resolved (its default when NULL) into o->dir and created
 * 0700. 0, or -1 after a message. */
int acme_state_dir(struct acme_cert_opts *o);

/* One certificate for o->names into out/NAME.pem and NAME-key.pem under
 * --acme-dir's lock (waiting up to o->lock_wait), unless one already
 * there covers the names and is not due. An exit status. */
int acme_cert_obtain_into(struct acme_cert_opts *o, const char *out);

/* Whether the certificate at path is due: 1 due, 0 not, -1 unreadable;
 * *not_after and *lifetime (seconds) filled when readable. */
int acme_cert_due(const char *path, double renew_before, int64_t *not_after, int64_t *lifetime);

/* The renewal window the CA suggests for the certificate at path (RFC
 * 9773), from the directory of o->acme: 1 with it, 0 when the CA offers
 * none, -1 when it cannot be had (said on stderr). */
int acme_cert_ari(struct acme_cert_opts *o, const char *path, int64_t *start, int64_t *end);

/* Exit statuses of `moat cert`. */
enum acme_exit {
    ACME_EXIT_OK = 0,
    ACME_EXIT_FAIL = 1,    /* the CA refused, or the flow failed */
    ACME_EXIT_USAGE = 2,   /* bad flags */
    ACME_EXIT_IO = 3,      /* a file or directory could not be read or written */
    ACME_EXIT_NETWORK = 4, /* the CA could not be reached, or its HTTPS was refused */
    ACME_EXIT_LOCKED = 5,  /* another process held --acme-dir's lock too long */
};

/* ---- serve.c: moat serve --acme's ordering process */

struct moat_serve_opts;
/* Runs until killed: obtains a certificate for each --domain that has
 * none, renews them when due, answers challenges through files the
 * server's workers read (server/acme.c), and tells the master (its
 * parent) to reload with SIGHUP when a certificate changed. */
int acme_serve_run(const struct moat_serve_opts *o);

/* Seconds before the next try after the fails-th failure in a row: base,
 * doubled each time up to a day; at least the CA's Retry-After when its
 * problem type was rateLimited (RFC 8555 6.6). */
double acme_serve_backoff(int fails, const char *problem, int retry_after, double base);

/* ---- json.c: what the CA sends, read with jansson */

/* A problem document (RFC 8555 6.7, RFC 7807). */
struct acme_problem {
    char type[160];    /* "urn:ietf:params:acme:error:badNonce", or "" */
    char detail[1024]; /* the CA's own words, or "" */
    int status;        /* its "status" member, 0 when absent */
    /* The first subproblem's identifier and detail (RFC 8555 6.7.1). */
    char sub_detail[1024];
};

/* Parses a problem document (a JSON object). 0, or -1 when it is not one. */
int acme_problem_parse(const char *json, size_t len, struct acme_problem *p);

/* The short name of an ACME error type ("badNonce" for
 * urn:ietf:params:acme:error:badNonce), or the whole type. */
const char *acme_problem_name(const struct acme_problem *p);

/* What the error means to a user, in plain words (RFC 8555 6.7's table):
 * "the CA could not connect to this machine to check the challenge". */
const char *acme_problem_words(const struct acme_problem *p);

/* Writes "WORDS (TYPE): DETAIL" into out. */
void acme_problem_format(const struct acme_problem *p, char *out, size_t n);

/* The URLs of a directory (RFC 8555 7.1.1). */
struct acme_directory {
    char new_nonce[1024], new_account[1024], new_order[1024], revoke_cert[1024];
    char terms[1024];        /* meta.termsOfService, or "" */
    char renewal_info[1024]; /* RFC 9773 renewalInfo, or "" */
};
int acme_directory_parse(const char *json, size_t len, struct acme_directory *d);

/* An ACME Renewal Information answer (RFC 9773 4.2): its
 * suggestedWindow's start and end (RFC 3339 times) as seconds since the
 * epoch. 0, or -1 when it is not one (end not after start included). */
int acme_renewal_info_parse(const char *json, size_t len, int64_t *start, int64_t *end);

/* An RFC 3339 date-time ("2025-01-02T04:00:00Z", fractions and offsets
 * allowed) as seconds since the epoch; 0, or -1. */
int acme_rfc3339(const char *s, int64_t *out);

/* The certificate's ARI identifier (RFC 9773 4.1): base64url of its
 * authority key identifier, '.', base64url of its serial's DER content
 * octets. malloc'd. */
char *acme_ari_cert_id(const uint8_t *aki, size_t aki_len, const uint8_t *serial,
                       size_t serial_len);

/* A JSON object's string member into out (truncated to fit); 0, or -1
 * when absent or not a string. */
int acme_json_string(const char *json, size_t len, const char *member, char *out, size_t n);

/* The Retry-After header value in seconds (delay-seconds or an HTTP-date,
 * RFC 9110 10.2.3), clamped to [1, cap]; dflt when absent or unreadable. */
int acme_retry_after(const char *value, int dflt, int cap);

/* ---- jws.c: JOSE (RFC 7515, 7518, 7638) */

/* base64url without padding (RFC 7515 2). A malloc'd string. */
char *acme_b64url(const void *p, size_t n);

/* The RFC 7638 thumbprint of a JWK given by its required members (names
 * and values, any order): base64url of SHA-256 of the members sorted, no
 * whitespace. out holds 44 bytes. */
int acme_thumbprint_members(const char *const *names, const char *const *values, size_t n,
                            char out[44]);

/* The JWK of a P-256 key (RFC 7518 6.2.1), {"crv","kty","x","y"}, as JSON
 * text (malloc'd), and its thumbprint. */
char *acme_jwk_json(const moat_pkey *k);
int acme_jwk_thumbprint(const moat_pkey *k, char out[44]);

/* The key authorization token "." thumbprint (RFC 8555 8.1), malloc'd. */
char *acme_key_authorization(const char *token, const char *thumbprint);

/* A flattened JWS (RFC 8555 6.2): protected header {alg ES256, nonce,
 * url, and jwk when kid is NULL, else kid}, payload (NULL for the empty
 * payload of POST-as-GET, 6.3), signed with key. JSON text, malloc'd. */
char *acme_jws(const moat_pkey *key, const char *kid, const char *nonce, const char *url,
               const char *payload);

/* ---- flow.c: talking to the CA */

struct acme_client {
    moat_tls_config *tls; /* the CA's HTTPS is judged with this */
    struct acme_directory dir;
    char nonce[512];
    char kid[1024];        /* the account URL, once known */
    moat_pkey *key;        /* the account key */
    const char *bind_addr; /* where responders listen: "0.0.0.0" unless told */
    /* The Accept of signed POSTs: NULL for application/json; the
     * certificate download sets application/pem-certificate-chain
     * (RFC 8555 7.4.2). */
    const char *accept;
    int verbose;
    int nonce_retries;                /* badNonce answers retried, for tests and -v */
    struct acme_publisher *publisher; /* NULL: a temporary responder */
    char problem[160];                /* the type of the last problem answer, or "" */
    int retry_after;                  /* that answer's Retry-After, 0 when absent */
};

/* A response from the CA. */
struct acme_reply {
    int status;
    char location[1024];
    char content_type[128];
    int retry_after; /* seconds, 0 when absent */
    char *body;      /* NUL-terminated, malloc'd */
    size_t len;
    char alternates[4][1024]; /* Link: rel="alternate" (RFC 8555 7.4.2) */
    int nalternates;
};
void acme_reply_free(struct acme_reply *r);

/* Reads the directory at url. 0, or -1 with a message in err. */
int acme_open(struct acme_client *c, const char *url, char *err, size_t errlen);

/* A signed POST (payload NULL: POST-as-GET). Takes a nonce (newNonce when
 * none is left), retries a badNonce answer with the fresh one (RFC 8555
 * 6.5), keeps the Replay-Nonce of each answer. A problem answer is
 * returned like any other (status >= 400). 0, or -1 with err. */
int acme_post(struct acme_client *c, const char *url, const char *payload, int use_jwk,
              struct acme_reply *r, char *err, size_t errlen);

/* The same signed with another key, for revocation by the certificate's
 * own key (RFC 8555 7.6: use_jwk set, no account needed). */
int acme_post_key(struct acme_client *c, const moat_pkey *key, const char *url, const char *payload,
                  int use_jwk, struct acme_reply *r, char *err, size_t errlen);

/* newAccount (RFC 8555 7.3): finds or creates the account of c->key and
 * sets c->kid. email may be NULL. */
int acme_account(struct acme_client *c, const char *email, int agree, char *err, size_t errlen);

/* Challenge types. */
enum acme_chall { ACME_HTTP01 = 0, ACME_TLSALPN01 = 1 };

/* What a responder answers for one name. */
struct acme_token {
    char name[256];
    char token[256];
    char *keyauth; /* malloc'd */
    char challenge_url[1024];
    char authz_url[1024];
};

/* The temporary listener (respond.c): binds 127.0.0.1:port and answers
 * the tokens from a child process until acme_responder_stop. */
struct acme_responder {
    int pid;
    int fd;
};
int acme_responder_start(struct acme_responder *r, enum acme_chall type, const char *addr, int port,
                         const struct acme_token *t, size_t n, char *err, size_t errlen);
void acme_responder_stop(struct acme_responder *r);

/* The whole issuance (RFC 8555 7.4): new order for names, the
 * authorizations answered with the given challenge on port, finalize
 * with a CSR of cert_key, the chain downloaded into *chain (PEM,
 * malloc'd), alternates into alt (up to 4, malloc'd, may be NULL). */
int acme_issue(struct acme_client *c, const char *const *names, size_t n, enum acme_chall type,
               int port, const moat_pkey *cert_key, char **chain, char **alt, int *nalt, char *err,
               size_t errlen);

/* revokeCert (RFC 8555 7.6) of the PEM certificate, signed with the
 * account key (kid), or with cert_key, the certificate's own P-256 key
 * (jwk), when not NULL. */
int acme_revoke(struct acme_client *c, const char *pem, size_t len, int reason,
                const moat_pkey *cert_key, char *err, size_t errlen);

void acme_client_free(struct acme_client *c);

/* The CA's suggested renewal window of the PEM certificate (RFC 9773:
 * GET renewalInfo/CERTID, no account needed). 1 with the window, 0
 * when the CA offers no renewalInfo, -1 with err. */
int acme_ari_window(struct acme_client *c, const char *pem, size_t len, int64_t *start,
                    int64_t *end, char *err, size_t errlen);

#endif
