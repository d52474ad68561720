/* -K FILE: curl's config file syntax (getconf.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/getconf.h"

int cli_args_add(struct cli_args *a, const char *s, size_t n)
{
    if (a->n >= CLI_GETCONF_MAX_ARGS) return -1;
    if (a->n + 1 >= a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    char *c = strndup(s, n);
    if (!c) return -1;
    a->v[a->n++] = c;
    a->v[a->n] = NULL;
    return 0;
}

void cli_args_free(struct cli_args *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A quoted value from p (after the opening quote) to the closing one,
 * unescaped into out (cap bytes). Returns the byte after the closing
 * quote, or NULL when it is missing or the value too long. */
static const char *unquote(const char *p, const char *end, char *out, size_t cap, size_t *n)
{
    *n = 0;
    for (; p < end && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p + 1 < end) {
            c = *++p;
            c = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'v' ? '\v' : c;
        }
        if (*n + 1 >= cap) return NULL;
        out[(*n)++] = c;
    }
    return p < end ? p + 1 : NULL;
}

static int fail(char *err, size_t errlen, int line, const char *what, const char *name)
{
    snprintf(err, errlen, "line %d: %s%s", line, what, name);
    return -1;
}

int cli_getconf_parse(const char *text, size_t len, int (*takes_value)(const char *),
                      struct cli_args *out, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    static char val[65536];
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r') le--;
        while (p < le && blank(*p))
            p++;
        if (p == le || *p == '#') {
            p = next;
            continue;
        }
        int dashed = *p == '-';
        const char *ns = p;
        while (p < le && !blank(*p) && (dashed || (*p != '=' && *p != ':')))
            p++;
        char name[128];
        size_t nl_ = (size_t)(p - ns);
        if (nl_ + 3 > sizeof name) return fail(err, errlen, line, "option name too long", "");
        snprintf(name, sizeof name, "%s%.*s", dashed ? "" : "--", (int)nl_, ns);
        while (p < le && blank(*p))
            p++;
        if (!dashed && p < le && (*p == '=' || *p == ':')) {
            p++;
            while (p < le && blank(*p))
                p++;
        }
        size_t vn = 0;
        int has_value = p < le;
        if (p < le && *p == '"') {
            p = unquote(p + 1, le, val, sizeof val, &vn);
            if (!p) return fail(err, errlen, line, "unterminated quote or value too long", "");
        } else {
            const char *vs = p;
            while (p < le && !blank(*p))
                p++;
            vn = (size_t)(p - vs);
            if (vn >= sizeof val) return fail(err, errlen, line, "value too long", "");
            memcpy(val, vs, vn);
        }
        while (p < le && blank(*p))
            p++;
        if (p < le && *p != '#') return fail(err, errlen, line, "text after the value of ", name);
        if (strcmp(name, "--url") == 0) {
            if (!has_value) return fail(err, errlen, line, "no URL after ", "url");
            if (cli_args_add(out, val, vn) < 0) return fail(err, errlen, line, "too many", "");
        } else if (takes_value(name)) {
            if (!has_value) return fail(err, errlen, line, "no value for ", name);
            if (cli_args_add(out, name, strlen(name)) < 0 || cli_args_add(out, val, vn) < 0)
                return fail(err, errlen, line, "too many", "");
        } else if (cli_args_add(out, name, strlen(name)) < 0) {
            return fail(err, errlen, line, "too many", "");
        }
        p = next;
    }
    return 0;
}
