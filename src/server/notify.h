/* systemd's readiness protocol (Type=notify, sd_notify(3)) without
 * libsystemd: one datagram to the socket NOTIFY_SOCKET names. */
#ifndef MOAT_SERVER_NOTIFY_H
#define MOAT_SERVER_NOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET: a path,
 * or an abstract socket name written with a leading '@'. RELOADING=1
 * gets the MONOTONIC_USEC=... that Type=notify-reload asks for. Does
 * nothing without NOTIFY_SOCKET; a failure to send is not an error (the
 * service manager may be gone). */
void server_notify(const char *state);

#endif
