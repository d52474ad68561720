/* Fuzz target: what an ACME CA sends, read by acme/json.c (jansson
 * underneath): problem documents and their plain-words message, the
 * directory, a string member, a Retry-After value, and ACME Renewal
 * Information (RFC 9773: its window, RFC 3339 times). */
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    struct acme_problem p;
    if (acme_problem_parse(json, size, &p) == 0) {
        char out[4096];
        acme_problem_format(&p, out, sizeof out);
        /* Every field stays NUL-terminated within its array. */
        if (memchr(p.type, 0, sizeof p.type) == NULL ||
            memchr(p.detail, 0, sizeof p.detail) == NULL)
            abort();
    }
    struct acme_directory d;
    acme_directory_parse(json, size, &d);
    int64_t ws, we;
    if (acme_renewal_info_parse(json, size, &ws, &we) == 0 && we <= ws) abort();
    char s[256];
    acme_json_string(json, size, "status", s, sizeof s);
    char *z = malloc(size + 1);
    if (z) {
        memcpy(z, data, size);
        z[size] = 0;
        int r = acme_retry_after(z, 7, 60);
        if (r < 1 || r > 60) abort();
        int64_t t;
        acme_rfc3339(z, &t);
        free(z);
    }
    return 0;
}
