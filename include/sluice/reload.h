/* SIGHUP handling, on the control thread: re-reads what can change at runtime and applies it
 * atomically, or keeps what is running and logs every problem. Never blocks a worker. */
#ifndef SLUICE_RELOAD_H
#define SLUICE_RELOAD_H

struct sl_server;

void sl_reload(struct sl_server *s);

#endif
