/* moat serve: a small callback event loop over epoll, as redis's ae: each
 * descriptor is registered with the events it waits for, a callback and
 * its argument; timers call theirs every so many milliseconds. Listeners,
 * client connections and the proxy's backend sockets each register their
 * own callback, so no event needs decoding. */
#ifndef MOAT_SERVER_EVLOOP_H
#define MOAT_SERVER_EVLOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR) of
 * fd. It may delete fd, or any other descriptor: an event still pending
 * for a deleted descriptor in the same pass is not delivered. */
typedef void loop_fn(struct evloop *el, int fd, uint32_t events, void *arg);
/* Called when a timer is due, with the monotonic time in ms. */
typedef void loop_timer_fn(struct evloop *el, int64_t now, void *arg);

struct loop_fd {
    uint32_t events; /* registered now; 0: not registered */
    loop_fn *fn;
    void *arg;
};

#define LOOP_TIMERS 4

struct evloop {
    int epfd;
    struct loop_fd *fds; /* indexed by descriptor */
    size_t nfds;
    struct {
        int every_ms;
        int64_t next;
        loop_timer_fn *fn;
        void *arg;
    } timers[LOOP_TIMERS];
    int ntimers;
};

/* Starts a loop on the epoll descriptor epfd (which stays the caller's). */
void loop_init(struct evloop *el, int epfd);
/* Frees the table; descriptors still registered are the callers'. */
void loop_free(struct evloop *el);

/* Registers fd for events (EPOLLEXCLUSIVE allowed here only). Returns 0,
 * or -1 with errno. */
int loop_add(struct evloop *el, int fd, uint32_t events, loop_fn *fn, void *arg);
/* Changes what a registered fd waits for; nothing when unchanged. Returns
 * 0, or -1 with errno. */
int loop_mod(struct evloop *el, int fd, uint32_t events);
/* Unregisters fd (before it is closed or handed on). */
void loop_del(struct evloop *el, int fd);
/* Forgets fd just before it is closed, when no other descriptor shares
 * its open file: the close takes it out of the epoll set, so no system
 * call is spent on that here. */
void loop_forget(struct evloop *el, int fd);

/* Calls fn every every_ms, first after every_ms. Returns 0, or -1 when
 * LOOP_TIMERS are taken. */
int loop_timer(struct evloop *el, int every_ms, loop_timer_fn *fn, void *arg);

/* Waits up to max_wait_ms (less when a timer is due sooner) with the
 * signal mask mask, calls the callbacks of what happened, then those of
 * the timers due. Returns 0 (a signal counts as a pass), or -1 with errno
 * when epoll failed. */
int loop_once(struct evloop *el, int max_wait_ms, const sigset_t *mask);

#endif
