/* The server's certificates by name: a hash of every SAN DNS name (exact
 * and wildcard, lower-cased) to the certificates that carry it, so that
 * choosing by SNI costs the same with one certificate or ten thousand. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/error.h"
#include "tls/internal.h"

struct tls_name_entry {
    uint32_t hash;
    uint32_t cred; /* index in the configuration's creds */
    char *name;    /* lower-cased, NUL-terminated; NULL: the slot is free */
};

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a over the lower-cased bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
        h = (h ^ ch) * 16777619u;
    }
    return h;
}

static int name_eq(const char *lower, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
        if ((unsigned char)lower[i] != ch) return 0;
    }
    return lower[n] == '\0';
}

static void slot_put(struct tls_name_entry *tab, size_t cap, struct tls_name_entry e)
{
    size_t i = e.hash & (cap - 1);
    while (tab[i].name)
        i = (i + 1) & (cap - 1);
    tab[i] = e;
}

/* Keeps the table at most half full. */
static int grow(moat_tls_config *c)
{
    if ((c->nnames + 1) * 2 <= c->names_cap) return 0;
    size_t cap = c->names_cap ? c->names_cap * 2 : 64;
    struct tls_name_entry *tab = calloc(cap, sizeof *tab);
    if (!tab) return MOAT_ERR_NOMEM;
    for (size_t i = 0; i < c->names_cap; i++)
        if (c->names[i].name) slot_put(tab, cap, c->names[i]);
    free(c->names);
    c->names = tab;
    c->names_cap = cap;
    return 0;
}

struct add_ctx {
    moat_tls_config *c;
    uint32_t cred;
};

static int add_one(void *arg, const char *name, size_t len)
{
    struct add_ctx *a = arg;
    if (len > 255 || memchr(name, '\0', len)) return 0; /* never matches a host name */
    int e = grow(a->c);
    if (e) return e;
    char *copy = malloc(len + 1);
    if (!copy) return MOAT_ERR_NOMEM;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    copy[len] = '\0';
    struct tls_name_entry ent = {name_hash(name, len), a->cred, copy};
    slot_put(a->c->names, a->c->names_cap, ent);
    a->c->nnames++;
    return 0;
}

int tls_names_add(moat_tls_config *c, size_t cred)
{
    struct add_ctx a = {c, (uint32_t)cred};
    return crypto_cred_each_name(c->creds[cred], add_one, &a);
}

void tls_names_free(moat_tls_config *c)
{
    for (size_t i = 0; i < c->names_cap; i++)
        free(c->names[i].name);
    free(c->names);
    c->names = NULL;
    c->names_cap = c->nnames = 0;
}

/* Appends to out the certificates listed under the name s[0..n), keeping
 * out ascending and without repeats. Returns -1 when out would overflow. */
static int collect(const moat_tls_config *c, const char *s, size_t n, uint32_t *out, int *nout,
                   int max)
{
    if (!c->names_cap) return 0;
    uint32_t h = name_hash(s, n);
    for (size_t i = h & (c->names_cap - 1); c->names[i].name; i = (i + 1) & (c->names_cap - 1)) {
        const struct tls_name_entry *e = &c->names[i];
        if (e->hash != h || !name_eq(e->name, s, n)) continue;
        int k = *nout;
        while (k > 0 && out[k - 1] > e->cred)
            k--;
        if (k > 0 && out[k - 1] == e->cred) continue;
        if (*nout == max) return -1;
        memmove(out + k + 1, out + k, (size_t)(*nout - k) * sizeof *out);
        out[k] = e->cred;
        (*nout)++;
    }
    return 0;
}

int tls_names_find(const moat_tls_config *c, const char *host, uint32_t *out, int max)
{
    size_t n = strlen(host);
    /* A name the table cannot answer for (empty, or ".x" which asks for
     * subdomains): the caller tries every certificate. */
    if (n == 0 || n > 255 || host[0] == '.') return -1;
    int nout = 0;
    if (collect(c, host, n, out, &nout, max)) return -1;
    /* RFC 6125 6.4.3: "*.rest" for "label.rest" (a whole left-most label) */
    const char *dot = memchr(host, '.', n);
    if (dot && dot > host) {
        char wild[258];
        size_t rest = n - (size_t)(dot - host);
        wild[0] = '*';
        memcpy(wild + 1, dot, rest);
        if (collect(c, wild, rest + 1, out, &nout, max)) return -1;
    }
    return nout;
}
