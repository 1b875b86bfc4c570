/* Unit tests for listeners: the exact bind error lines and the port-0 / SO_REUSEPORT contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/listener.h"

static struct sl_addr addr_of(const char *text)
{
    struct sl_addr a;
    assert_int_equal(sl_addr_parse(text, &a), 0);
    return a;
}

static void test_error_lines(void **state)
{
    (void)state;
    char buf[512];
    struct sl_addr a = addr_of("0.0.0.0:80");
    assert_string_equal(sl_listener_error_line(buf, sizeof(buf), "proxy", &a, "bind", EACCES),
                        "sluice: proxy listener 0.0.0.0:80: bind failed: Permission denied (errno "
                        "13); ports below 1024 need CAP_NET_BIND_SERVICE (file capability "
                        "cap_net_bind_service=+ep on the binary, or the container capability)");
    a = addr_of("127.0.0.1:8080");
    assert_string_equal(sl_listener_error_line(buf, sizeof(buf), "proxy", &a, "bind", EACCES),
                        "sluice: proxy listener 127.0.0.1:8080: bind failed: Permission denied "
                        "(errno 13)");
    assert_string_equal(sl_listener_error_line(buf, sizeof(buf), "metrics", &a, "bind", EADDRINUSE),
                        "sluice: metrics listener 127.0.0.1:8080: bind failed: Address already in "
                        "use (errno 98); another process is already listening on this address");
    a = addr_of("[::1]:443");
    assert_string_equal(
        sl_listener_error_line(buf, sizeof(buf), "proxy", &a, "bind", EADDRNOTAVAIL),
        "sluice: proxy listener [::1]:443: bind failed: Cannot assign requested "
        "address (errno 99); the address is not assigned to any local interface");
}

static void test_port_zero_then_reuseport(void **state)
{
    (void)state;
    struct sl_addr a = addr_of("127.0.0.1:0");
    int fd1 = sl_listener_open("proxy", &a, true, true);
    assert_true(fd1 >= 0);
    assert_int_not_equal(sl_addr_port(&a), 0); /* learned from the kernel */
    int fd2 = sl_listener_open("proxy", &a, true, false);
    assert_true(fd2 >= 0); /* a second worker shares the port */
    int on = 0;
    socklen_t len = sizeof(on);
    assert_int_equal(getsockopt(fd1, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    assert_int_equal(on, 1);
    /* The probe refuses a port someone already holds, even with SO_REUSEPORT. */
    assert_int_equal(sl_listener_open("proxy", &a, true, true), -1);
    close(fd1);
    close(fd2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_lines),
        cmocka_unit_test(test_port_zero_then_reuseport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
