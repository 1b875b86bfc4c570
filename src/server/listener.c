#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/base.h"
#include "sluice/listener.h"

#define SL_LISTEN_BACKLOG 4096

char *sl_listener_error_line(char *buf, size_t cap, const char *name, const struct sl_addr *addr,
                             const char *op, int err)
{
    const char *hint = "";
    if (err == EACCES && sl_addr_port(addr) < 1024)
        hint = "; ports below 1024 need CAP_NET_BIND_SERVICE (file capability "
               "cap_net_bind_service=+ep on the binary, or the container capability)";
    else if (err == EADDRINUSE)
        hint = "; another process is already listening on this address";
    else if (err == EADDRNOTAVAIL)
        hint = "; the address is not assigned to any local interface";
    snprintf(buf, cap, "sluice: %s listener %s: %s failed: %s (errno %d)%s", name, addr->text, op,
             strerror(err), err, hint);
    return buf;
}

static void report(const char *name, const struct sl_addr *addr, const char *op, int err)
{
    char line[512];
    fprintf(stderr, "%s\n", sl_listener_error_line(line, sizeof(line), name, addr, op, err));
}

/* Binds without SO_REUSEPORT and closes again: fails exactly when someone already holds the
 * address, whether or not they set SO_REUSEPORT themselves. */
static int probe_free(const char *name, const struct sl_addr *addr)
{
    int on = 1, err = 0;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        report(name, addr, "socket", errno);
        return -1;
    }
    if (addr->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
        bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1)
        err = errno;
    close(fd);
    if (err != 0) {
        report(name, addr, "bind", err);
        return -1;
    }
    return 0;
}

static int learn_port(int fd, struct sl_addr *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
        return -1;
    uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    sl_addr_set_port(addr, port);
    return 0;
}

int sl_listener_open(const char *name, struct sl_addr *addr, bool reuseport, bool probe)
{
    int on = 1;
    const char *op = "socket";
    if (probe && sl_addr_port(addr) != 0 && probe_free(name, addr) != 0)
        return -1;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        goto fail;
    op = "setsockopt";
    /* IPv6 listeners serve IPv6 only; "[::]:80" next to "0.0.0.0:80" must not collide. */
    if (addr->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
        goto fail_close;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
        goto fail_close;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
        goto fail_close;
    /* Accepted sockets inherit TCP_NODELAY on Linux; set it here as well as on accept. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    op = "bind";
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1)
        goto fail_close;
    op = "listen";
    if (listen(fd, SL_LISTEN_BACKLOG) == -1)
        goto fail_close;
    if (sl_addr_port(addr) == 0 && learn_port(fd, addr) == -1) {
        op = "getsockname";
        goto fail_close;
    }
    return fd;

fail_close : {
    int err = errno;
    close(fd);
    errno = err;
}
fail:
    report(name, addr, op, errno);
    return -1;
}
