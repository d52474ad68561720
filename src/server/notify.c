/* systemd's notification protocol: one datagram per state change to the
 * AF_UNIX socket of $NOTIFY_SOCKET (sd_notify(3), "newline-separated
 * VAR=value assignments"). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/notify.h"

void server_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@')) return;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n < 2 || n >= sizeof sa.sun_path) return;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@') sa.sun_path[0] = '\0'; /* abstract: no NUL at the end */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    char msg[128];
    struct timespec ts;
    if (strcmp(state, "RELOADING=1") == 0 && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        snprintf(msg, sizeof msg, "%s\nMONOTONIC_USEC=%llu", state,
                 (unsigned long long)ts.tv_sec * 1000000ULL +
                     (unsigned long long)ts.tv_nsec / 1000);
    else
        snprintf(msg, sizeof msg, "%s", state);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0) {
    }
    close(fd);
}
