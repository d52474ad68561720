/* moat get --retry: which failures are tried again, after how long, with
 * curl's rules (curl 7.88's tool_operate.c): timeouts and names that did
 * not resolve always, a refused connection with --retry-connrefused, the
 * transient HTTP statuses, anything with --retry-all-errors; Retry-After
 * honoured, else 1 s doubling up to 10 minutes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/getnet.h"
#include "core/exit.h"

#define SLEEP_DEFAULT_MS 1000
#define SLEEP_MAX_MS (10 * 60 * 1000)

void client_retry_init(struct client_retry *r, long n, double delay, double max_time,
                       int all_errors, int connrefused, int64_t now_ms)
{
    memset(r, 0, sizeof *r);
    r->left = n;
    r->delay = delay;
    r->max_time = max_time;
    r->all_errors = all_errors;
    r->connrefused = connrefused;
    r->sleep_ms = delay > 0 ? (int64_t)(delay * 1000) : SLEEP_DEFAULT_MS;
    r->start_ms = now_ms;
}

int client_retry_status(int status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

int64_t client_retry_after(const char *v, size_t n, time_t now)
{
    char buf[64];
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, v, n);
    buf[n] = '\0';
    if (buf[0] >= '0' && buf[0] <= '9') {
        char *end;
        long long s = strtoll(buf, &end, 10);
        if (*end) return 0;
        return s > 0 ? (int64_t)s : 0;
    }
    /* An HTTP-date: IMF-fixdate, as RFC 9110 5.6.7 requires senders to
     * use (the obsolete forms are not read). */
    struct tm tm = {0};
    const char *e = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!e || *e) return 0;
    time_t t = timegm(&tm);
    return t > now ? (int64_t)(t - now) : 0;
}

static int why_of(const struct client_retry *r, int exit_status, int http_status, int refused)
{
    if (exit_status == GET_EXIT_OPERATION_TIMEDOUT ||
        exit_status == GET_EXIT_COULDNT_RESOLVE_HOST || exit_status == 5 /* the proxy's name */)
        return CLIENT_RETRY_TIMEOUT;
    if (exit_status == GET_EXIT_COULDNT_CONNECT && r->connrefused && refused)
        return CLIENT_RETRY_CONNREFUSED;
    /* An answer (or -f's 22 for one): the transient statuses. */
    if ((exit_status == 0 || exit_status == GET_EXIT_HTTP_RETURNED_ERROR) &&
        client_retry_status(http_status))
        return CLIENT_RETRY_HTTP;
    if (exit_status && r->all_errors) return CLIENT_RETRY_ALL;
    return CLIENT_RETRY_NO;
}

int client_retry_next(struct client_retry *r, int exit_status, int http_status, int64_t retry_after,
                      int refused, int64_t now_ms, int64_t *wait_ms, char *msg, size_t msglen)
{
    static const char *const words[] = {NULL, "(retrying all errors)", ": timeout",
                                        ": connection refused", ": HTTP error"};
    int64_t spent = now_ms - r->start_ms;
    if (r->left <= 0 || (r->max_time > 0 && spent >= (int64_t)(r->max_time * 1000)))
        return CLIENT_RETRY_NO;
    int why = why_of(r, exit_status, http_status, refused);
    if (why == CLIENT_RETRY_NO) return CLIENT_RETRY_NO;
    int64_t sleep = r->sleep_ms;
    if (why == CLIENT_RETRY_HTTP && retry_after > 0) {
        /* Retry-After wins over the backoff; when it would take the run
         * past --retry-max-time, curl stops at once (with a warning). */
        sleep = retry_after > INT64_MAX / 1000 ? INT64_MAX : retry_after * 1000;
        if (r->max_time > 0 && spent / 1000 + retry_after > (int64_t)r->max_time) {
            snprintf(msg, msglen,
                     "The Retry-After: time would make this command line exceed "
                     "the maximum allowed time for retries.");
            r->left = 0;
            return -1;
        }
    }
    snprintf(msg, msglen, "Problem %s. Will retry in %lld seconds. %ld retries left.", words[why],
             (long long)(sleep / 1000), r->left);
    r->left--;
    if (r->delay <= 0) {
        r->sleep_ms *= 2;
        if (r->sleep_ms > SLEEP_MAX_MS) r->sleep_ms = SLEEP_MAX_MS;
    }
    *wait_ms = sleep;
    return why;
}
