/* Lingering close of client connections.
 *
 * Closing a TCP socket while bytes from the peer sit unread in its receive queue, or arrive
 * after the close, makes the kernel answer with a reset (RFC 1122 4.2.2.13), and the reset
 * costs the peer the response: stacks may drop data not yet read (RFC 2525 2.17), and a client
 * still writing gets the error first and gives up without reading. A caller that sends
 * a large body at once is still writing when h2o refuses it from its head (413), so it would
 * often never see the 413: the audit measured 20 resets and 2 empty reads in 40 tries with a
 * 1 MiB body against a 64 KiB limit. The same holds for h2o's 400 for a bad head and for every
 * response Sluice ends with Connection: close.
 *
 * So client sockets are closed the way Apache httpd and nginx close them: the write side is
 * shut (the client reads the whole response, then end of stream), and what the client still
 * sends is read and thrown away until it closes its side, for at most LINGER_MAX_BYTES or
 * LINGER_MS, then the socket is closed.
 *
 * h2o 2.2 closes the descriptor itself and calls the socket's on_close only after close(2). So
 * when a response will end an HTTP/1.x connection, the response filter takes a second
 * descriptor of the socket (http.c keep_for_graceful_close; worker.c does the same for its
 * 503 to a connection over proxy.max_connections): h2o's close then only drops a reference,
 * and the close continues here on the other descriptor. Taking it at accept instead would
 * cover h2o's raw 400 for a request head it cannot parse (written without a filter) and HTTP/2
 * connections too, at the price of a second descriptor and two system calls per connection. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"
#include "sluice/base.h"
#include "sluice/worker.h"

#define LINGER_MS        5000
#define LINGER_MAX_BYTES (32u << 20)
/* Lingering sockets per worker; past it the oldest is closed at once. */
#define LINGER_MAX 1024
/* Bytes thrown away per readiness event, so one fast sender cannot hold the loop; the socket
 * is polled level-triggered and reported again. */
#define DRAIN_PER_EVENT (1u << 20)

struct lingering {
    h2o_linklist_t link; /* in worker->_lingering */
    h2o_timeout_entry_t timeout;
    struct sl_worker *worker;
    h2o_socket_t *sock;
    uint64_t drained;
};

/* Closes the socket's last descriptor: whatever is unread now draws the reset it would have
 * drawn at once, but the client has had the response and time to read it. */
static void linger_end(struct lingering *l)
{
    h2o_linklist_unlink(&l->link);
    l->worker->_n_lingering--;
    h2o_timeout_unlink(&l->timeout);
    h2o_socket_close(l->sock);
    free(l);
}

static void on_linger_timeout(h2o_timeout_entry_t *entry)
{
    linger_end(SL_CONTAINER_OF(entry, struct lingering, timeout));
}

/* MSG_TRUNC makes TCP drop the bytes without copying them (tcp(7)); buf only gives the
 * call a valid destination. */
static void on_linger_readable(h2o_socket_t *sock, const char *err)
{
    struct lingering *l = sock->data;
    char buf[16384];
    uint64_t this_event = 0;

    if (err != NULL) {
        linger_end(l);
        return;
    }
    while (l->drained < LINGER_MAX_BYTES) {
        if (this_event >= DRAIN_PER_EVENT)
            return;
        ssize_t n = recv(h2o_socket_get_fd(sock), buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
        if (n > 0) {
            l->drained += (uint64_t)n;
            this_event += (uint64_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* 0: the client closed its side; any other error: it is gone */
    }
    linger_end(l);
}

void sl__linger_init(struct sl_worker *w)
{
    h2o_linklist_init_anchor(&w->_lingering);
    h2o_timeout_init(w->ctx.loop, &w->_linger_timeout, LINGER_MS);
}

/* True when nothing the client sends can arrive any more: the end of its stream is next in the
 * queue, or the connection is dead. A queue that is empty for now does not count: the rest of
 * a body may still be on its way. */
static bool client_is_done(int fd)
{
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true;
    return n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

void sl__linger_close(struct sl_worker *w, int fd)
{
    if (client_is_done(fd)) {
        close(fd);
        return;
    }
    if (w->_n_lingering == LINGER_MAX)
        linger_end(SL_CONTAINER_OF(w->_lingering.next, struct lingering, link));
    /* FIN goes out after the response still queued in the kernel. */
    shutdown(fd, SHUT_WR);
    struct lingering *l = sl_xcalloc(1, sizeof(*l));
    l->worker = w;
    l->sock = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    l->timeout.cb = on_linger_timeout;
    h2o_linklist_insert(&w->_lingering, &l->link);
    w->_n_lingering++;
    h2o_timeout_link(w->ctx.loop, &w->_linger_timeout, &l->timeout);
    h2o_socket_read_start(l->sock, on_linger_readable);
    sl_stat_add(&w->stats.lingering_closes, 1);
}
