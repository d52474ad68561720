/* SSLKEYLOGFILE: the file behind the engine's key log callback. */
#include <fcntl.h>
#include <unistd.h>

#include "core/keylog.h"

static int keylog_fd = -1;

int core_keylog_open(const char *path)
{
    if (keylog_fd >= 0) return 0;
    keylog_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    return keylog_fd < 0 ? -1 : 0;
}

void core_keylog_write(void *arg, const char *line, size_t len)
{
    (void)arg;
    if (keylog_fd < 0) return;
    if (write(keylog_fd, line, len) < 0) {
        /* ignored: see keylog.h */
    }
}
