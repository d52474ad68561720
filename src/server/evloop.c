/* The event loop of a worker (evloop.h): epoll, a callback per descriptor
 * in a table indexed by descriptor, and interval timers. */
#include "server/evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "core/clock.h"

#define MAX_EVENTS 128

void loop_init(struct evloop *el, int epfd)
{
    memset(el, 0, sizeof *el);
    el->epfd = epfd;
}

void loop_free(struct evloop *el)
{
    free(el->fds);
    el->fds = NULL;
    el->nfds = 0;
}

/* Room in the table for fd. */
static int grow(struct evloop *el, int fd)
{
    if ((size_t)fd < el->nfds) return 0;
    size_t n = el->nfds ? el->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct loop_fd *t = realloc(el->fds, n * sizeof *t);
    if (!t) return -1;
    memset(t + el->nfds, 0, (n - el->nfds) * sizeof *t);
    el->fds = t;
    el->nfds = n;
    return 0;
}

int loop_add(struct evloop *el, int fd, uint32_t events, loop_fn *fn, void *arg)
{
    if (fd < 0 || grow(el, fd) < 0) {
        errno = fd < 0 ? EBADF : ENOMEM;
        return -1;
    }
    struct epoll_event e = {.events = events, .data.fd = fd};
    if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &e) < 0) return -1;
    /* EPOLLEXCLUSIVE is a flag of the registration, not an event. */
    el->fds[fd] = (struct loop_fd){
        .events = (events & ~(uint32_t)EPOLLEXCLUSIVE) | 1u << 31, .fn = fn, .arg = arg};
    return 0;
}

int loop_mod(struct evloop *el, int fd, uint32_t events)
{
    if (fd < 0 || (size_t)fd >= el->nfds || !el->fds[fd].fn) {
        errno = EBADF;
        return -1;
    }
    /* The high bit marks a registration waiting for nothing (events 0). */
    uint32_t want = events | 1u << 31;
    if (el->fds[fd].events == want) return 0;
    struct epoll_event e = {.events = events, .data.fd = fd};
    if (epoll_ctl(el->epfd, EPOLL_CTL_MOD, fd, &e) < 0) return -1;
    el->fds[fd].events = want;
    return 0;
}

void loop_del(struct evloop *el, int fd)
{
    if (fd < 0 || (size_t)fd >= el->nfds || !el->fds[fd].fn) return;
    epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL);
    el->fds[fd] = (struct loop_fd){0};
}

void loop_forget(struct evloop *el, int fd)
{
    if (fd >= 0 && (size_t)fd < el->nfds) el->fds[fd] = (struct loop_fd){0};
}

int loop_timer(struct evloop *el, int every_ms, loop_timer_fn *fn, void *arg)
{
    if (el->ntimers >= LOOP_TIMERS) return -1;
    el->timers[el->ntimers].every_ms = every_ms;
    el->timers[el->ntimers].next = core_mono_ms() + every_ms;
    el->timers[el->ntimers].fn = fn;
    el->timers[el->ntimers].arg = arg;
    el->ntimers++;
    return 0;
}

int loop_once(struct evloop *el, int max_wait_ms, const sigset_t *mask)
{
    int64_t now = core_mono_ms();
    int wait = max_wait_ms;
    for (int i = 0; i < el->ntimers; i++) {
        int64_t d = el->timers[i].next - now;
        if (d < wait) wait = d > 0 ? (int)d : 0;
    }
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_pwait(el->epfd, evs, MAX_EVENTS, wait, mask);
    if (n < 0 && errno != EINTR) return -1;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        /* Deleted by an earlier callback of this pass: not delivered. */
        if ((size_t)fd >= el->nfds || !el->fds[fd].fn) continue;
        el->fds[fd].fn(el, fd, evs[i].events, el->fds[fd].arg);
    }
    now = core_mono_ms();
    for (int i = 0; i < el->ntimers; i++) {
        if (now < el->timers[i].next) continue;
        el->timers[i].next = now + el->timers[i].every_ms;
        el->timers[i].fn(el, now, el->timers[i].arg);
    }
    return 0;
}
