/* What an ACME CA sends, read with jansson: problem documents (RFC 8555
 * 6.7), the directory (7.1.1), string members, Retry-After. No I/O, so
 * fuzz/fuzz_acme_json.c can feed it anything. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme.h"

/* Parses an object; NULL for anything else. Duplicate members refused:
 * two readers of one document must not disagree on it. */
static json_t *load_object(const char *json, size_t len)
{
    json_error_t e;
    json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static void copy_str(json_t *obj, const char *member, char *out, size_t n)
{
    const char *s = json_string_value(json_object_get(obj, member));
    snprintf(out, n, "%s", s ? s : "");
}

int acme_problem_parse(const char *json, size_t len, struct acme_problem *p)
{
    memset(p, 0, sizeof *p);
    json_t *v = load_object(json, len);
    if (!v) return -1;
    copy_str(v, "type", p->type, sizeof p->type);
    copy_str(v, "detail", p->detail, sizeof p->detail);
    json_t *st = json_object_get(v, "status");
    if (json_is_integer(st) && json_integer_value(st) > 0 && json_integer_value(st) < 1000)
        p->status = (int)json_integer_value(st);
    /* RFC 8555 6.7.1: a compound problem carries the per-identifier ones;
     * the first one's detail is usually the one a user needs. */
    json_t *subs = json_object_get(v, "subproblems");
    json_t *first = json_is_array(subs) ? json_array_get(subs, 0) : NULL;
    if (json_is_object(first)) {
        const char *d = json_string_value(json_object_get(first, "detail"));
        const char *id =
            json_string_value(json_object_get(json_object_get(first, "identifier"), "value"));
        if (d)
            snprintf(p->sub_detail, sizeof p->sub_detail, "%s%s%s", id ? id : "", id ? ": " : "",
                     d);
    }
    json_decref(v);
    return p->type[0] || p->detail[0] ? 0 : -1;
}

const char *acme_problem_name(const struct acme_problem *p)
{
    static const char prefix[] = "urn:ietf:params:acme:error:";
    if (!strncmp(p->type, prefix, sizeof prefix - 1)) return p->type + sizeof prefix - 1;
    return p->type[0] ? p->type : "unknown";
}

/* RFC 8555 6.7's error types, said as what they mean for this machine. */
static const struct {
    const char *name, *words;
} words[] = {
    {"badNonce", "the CA rejected the request's nonce (it is retried with a fresh one)"},
    {"rateLimited", "the CA's rate limit was reached; wait before trying again"},
    {"rejectedIdentifier", "the CA will not issue for this name"},
    {"caa", "a CAA record of the name forbids this CA to issue for it"},
    {"connection", "the CA could not connect to this machine to check the challenge"},
    {"dns", "the CA could not look the name up in DNS"},
    {"unauthorized",
     "the CA found the challenge answered wrongly, or the account may not use this name"},
    {"incorrectResponse", "the CA got a wrong answer to the challenge"},
    {"tls", "the CA's TLS connection to this machine failed while checking the challenge"},
    {"malformed", "the CA found the request malformed"},
    {"badCSR", "the CA refused the certificate signing request"},
    {"badPublicKey", "the CA refused the key"},
    {"badSignatureAlgorithm", "the CA refused the signature algorithm"},
    {"accountDoesNotExist", "the CA knows no account for this key"},
    {"userActionRequired", "the CA asks for an action by a person (see its terms)"},
    {"serverInternal", "the CA had an internal error"},
    {"unsupportedIdentifier", "the CA does not support this kind of name"},
    {"orderNotReady", "the order was not ready to be finalized"},
    {"alreadyRevoked", "the certificate was already revoked"},
    {"badRevocationReason", "the CA refused the revocation reason"},
    {"externalAccountRequired", "the CA requires an external account binding"},
    {"compound", "the CA found several problems"},
};

const char *acme_problem_words(const struct acme_problem *p)
{
    const char *name = acme_problem_name(p);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(words[i].name, name)) return words[i].words;
    return "the CA refused the request";
}

void acme_problem_format(const struct acme_problem *p, char *out, size_t n)
{
    const char *d = p->sub_detail[0] ? p->sub_detail : p->detail;
    snprintf(out, n, "%s (%s)%s%s", acme_problem_words(p), acme_problem_name(p), d[0] ? ": " : "",
             d);
}

int acme_directory_parse(const char *json, size_t len, struct acme_directory *d)
{
    memset(d, 0, sizeof *d);
    json_t *v = load_object(json, len);
    if (!v) return -1;
    copy_str(v, "newNonce", d->new_nonce, sizeof d->new_nonce);
    copy_str(v, "newAccount", d->new_account, sizeof d->new_account);
    copy_str(v, "newOrder", d->new_order, sizeof d->new_order);
    copy_str(v, "revokeCert", d->revoke_cert, sizeof d->revoke_cert);
    copy_str(json_object_get(v, "meta"), "termsOfService", d->terms, sizeof d->terms);
    copy_str(v, "renewalInfo", d->renewal_info, sizeof d->renewal_info);
    json_decref(v);
    return d->new_nonce[0] && d->new_account[0] && d->new_order[0] ? 0 : -1;
}

int acme_json_string(const char *json, size_t len, const char *member, char *out, size_t n)
{
    json_t *v = load_object(json, len);
    const char *s = v ? json_string_value(json_object_get(v, member)) : NULL;
    if (s) snprintf(out, n, "%s", s);
    json_decref(v);
    return s ? 0 : -1;
}

int acme_retry_after(const char *value, int dflt, int cap)
{
    if (!value || !*value) return dflt;
    char *end;
    long s = strtol(value, &end, 10);
    if (end == value || *end) {
        /* An HTTP-date (RFC 9110 5.6.7). */
        struct tm tm = {0};
        const char *r = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!r) return dflt;
        s = (long)(timegm(&tm) - time(NULL));
    }
    if (s < 1) s = 1;
    if (s > cap) s = cap;
    return (int)s;
}

int acme_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
        (s[10] != 'T' && s[10] != 't'))
        return -1;
    const char *p = s + 11;
    if (sscanf(p, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8) return -1;
    p += 8;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            return -1;
        off = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        p += 6;
    } else {
        return -1;
    }
    if (*p || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *out = (int64_t)timegm(&tm) - off;
    return 0;
}

int acme_renewal_info_parse(const char *json, size_t len, int64_t *start, int64_t *end)
{
    json_t *v = load_object(json, len);
    json_t *w = v ? json_object_get(v, "suggestedWindow") : NULL;
    int r = -1;
    if (json_is_object(w) &&
        acme_rfc3339(json_string_value(json_object_get(w, "start")), start) == 0 &&
        acme_rfc3339(json_string_value(json_object_get(w, "end")), end) == 0 && *end > *start)
        r = 0;
    json_decref(v);
    return r;
}
