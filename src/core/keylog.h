/* SSLKEYLOGFILE for moat serve and moat get: the file the engine's key log
 * callback (moat_tls_config_set_keylog) writes to. The engine opens no
 * file; this is the caller's side, as curl's keylog module is. */
#ifndef MOAT_CORE_KEYLOG_H
#define MOAT_CORE_KEYLOG_H

#include <stddef.h>

/* Opens path for appending (0600 when created), once per process: later
 * calls keep the file already open (a configuration made again on reload
 * shares it). 0, or -1 when it cannot be opened. */
int core_keylog_open(const char *path);
/* A moat_tls_keylog_fn: appends the line with one write (O_APPEND), so the
 * lines of concurrent workers never mix. A failed write is ignored: the
 * key log is a debugging aid and must not end a connection. */
void core_keylog_write(void *arg, const char *line, size_t len);

#endif
