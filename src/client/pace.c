/* moat get --limit-rate: the rate as curl reads it, and the pacing that
 * keeps a transfer's average under it, each direction on its own (curl
 * applies the one limit to downloads and uploads alike). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "client/getnet.h"
#include "core/clock.h"

int client_parse_rate(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    uint64_t mult = 1;
    if (*p) {
        if (p[1]) return -1; /* one unit letter at most */
        switch (*p) {
        case 'g':
        case 'G':
            mult = 1024ull * 1024 * 1024;
            break;
        case 'm':
        case 'M':
            mult = 1024ull * 1024;
            break;
        case 'k':
        case 'K':
            mult = 1024;
            break;
        case 'b':
        case 'B':
            break;
        default:
            return -1;
        }
    }
    if (v > UINT64_MAX / mult) return -1;
    *out = v * mult;
    return 0;
}

void client_pace_init(struct client_pace *p, uint64_t rate)
{
    p->rate = rate;
    p->start_us = core_mono_us();
    p->bytes = 0;
}

size_t client_pace_chunk(const struct client_pace *p, size_t cap)
{
    /* About a tenth of a second's worth at a time, so the average holds
     * over short transfers too. */
    if (!p->rate) return cap;
    uint64_t c = p->rate / 10;
    if (c < 256) c = 256;
    return c < cap ? (size_t)c : cap;
}

void client_pace_account(struct client_pace *p, size_t n, int64_t deadline)
{
    if (!p->rate) return;
    p->bytes += n;
    /* The moment these bytes are allowed at the rate, from the start. */
    int64_t due = p->start_us + (int64_t)((double)p->bytes * 1e6 / (double)p->rate);
    int64_t now = core_mono_us();
    if (due <= now) return;
    if (deadline > 0 && due / 1000 > deadline) due = deadline * 1000;
    int64_t wait = due - now;
    if (wait <= 0) return;
    struct timespec ts = {.tv_sec = (time_t)(wait / 1000000),
                          .tv_nsec = (long)(wait % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
