/* Listening sockets. All binding happens on the main thread before any worker starts, so a bind
 * error is reported once, synchronously, and the process exits 1 (no half-started server). */
#ifndef SLUICE_LISTENER_H
#define SLUICE_LISTENER_H

#include "sluice/config.h"

/* Opens a non-blocking, close-on-exec TCP listener on addr. With reuseport, SO_REUSEPORT is
 * set so every worker can own a socket on the same address; before the first such bind a probe
 * without SO_REUSEPORT makes sure no other process (another sluice included) already listens
 * there, since SO_REUSEPORT would otherwise silently share the port with it. When addr's port
 * is 0 the kernel picks one and addr is updated, so later calls bind the same port.
 * On failure prints exactly one line to stderr naming the listener, the address and the OS
 * error, with a hint for EACCES below port 1024 and for EADDRINUSE, and returns -1. */
int sl_listener_open(const char *name, struct sl_addr *addr, bool reuseport, bool probe);

/* The line sl_listener_open prints for a failed syscall, written into buf (also used by tests).
 * Returns buf. */
char *sl_listener_error_line(char *buf, size_t cap, const char *name, const struct sl_addr *addr,
                             const char *op, int err);

#endif
