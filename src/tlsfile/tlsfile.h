/* tlsfile/: the files a TLS configuration names, read for the engine
 * (which opens none): the public setters of <moat/tlsfile.h>, and the
 * system trust store's bytes for whoever needs them as such. */
#ifndef MOAT_TLSFILE_INT_H
#define MOAT_TLSFILE_INT_H

#include "moat/buf.h"
#include "moat/tlsfile.h"

/* Appends the system trust store to pem as moat_tls_config_set_system_trust
 * reads it (the bundle, then each hashed file of the directories, sorted
 * by name so the same store gives the same bytes). Missing files and
 * directories are passed over. Returns 0, or MOAT_ERR_NOMEM. */
int tlsfile_read_system_trust(moat_buf *pem);

#endif
