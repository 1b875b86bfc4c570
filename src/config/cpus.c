#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/str.h"

#include "config_internal.h"

#define PATH_CAP        4096
#define CGROUP_FILE_CAP 8192

/* Reads a small pseudo-file into buf (NUL-terminated). Returns false when it cannot be read. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return false;
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return len > 0;
}

static struct sl_str next_field(struct sl_str *s, char sep)
{
    const char *p = memchr(s->ptr, sep, s->len);
    size_t n = p != NULL ? (size_t)(p - s->ptr) : s->len;
    struct sl_str f = sl_str_init(s->ptr, n);
    s->ptr += SL_MIN(n + 1, s->len);
    s->len -= SL_MIN(n + 1, s->len);
    return f;
}

/* quota/period CPUs rounded up; 0 when unlimited or unparsable. */
static unsigned quota_cpus(struct sl_str quota, struct sl_str period)
{
    uint64_t q, p;
    if (sl_str_to_u64(sl_str_trim(quota), UINT32_MAX * 1000ull, &q) != SL_OK ||
        sl_str_to_u64(sl_str_trim(period), UINT32_MAX, &p) != SL_OK || p == 0 || q == 0)
        return 0;
    uint64_t n = (q + p - 1) / p;
    return n > UINT32_MAX ? UINT32_MAX : (unsigned)n;
}

/* cgroup v2 cpu.max: "max 100000" (no limit) or "<quota> <period>". */
static unsigned v2_file_limit(const char *path)
{
    char buf[128];
    if (!read_small(path, buf, sizeof(buf)))
        return 0;
    struct sl_str s = sl_str_trim(sl_str_from_cstr(buf));
    while (s.len > 0 && (s.ptr[s.len - 1] == '\n' || s.ptr[s.len - 1] == ' '))
        s.len--;
    struct sl_str quota = next_field(&s, ' ');
    return quota_cpus(quota, s);
}

static unsigned min_limit(unsigned a, unsigned b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return SL_MIN(a, b);
}

/* A parent's quota binds the children too, so walk from the process's cgroup up to the root of
 * the hierarchy and keep the tightest one. */
static unsigned v2_limit(const char *root, struct sl_str cg)
{
    unsigned limit = 0;
    for (;;) {
        char path[PATH_CAP];
        int n = snprintf(path, sizeof(path), "%s/sys/fs/cgroup%.*s%scpu.max", root, SL_STR_FMT(cg),
                         cg.len > 0 && cg.ptr[cg.len - 1] == '/' ? "" : "/");
        if (n > 0 && (size_t)n < sizeof(path))
            limit = min_limit(limit, v2_file_limit(path));
        if (cg.len <= 1)
            break;
        while (cg.len > 1 && cg.ptr[cg.len - 1] != '/')
            cg.len--;
        if (cg.len > 1)
            cg.len--; /* drop the slash too, except for the root "/" */
    }
    return limit;
}

static unsigned v1_dir_limit(const char *dir)
{
    char path[PATH_CAP], quota[64], period[64];
    int n = snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
    if (n <= 0 || (size_t)n >= sizeof(path) || !read_small(path, quota, sizeof(quota)))
        return 0;
    n = snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
    if (n <= 0 || (size_t)n >= sizeof(path) || !read_small(path, period, sizeof(period)))
        return 0;
    struct sl_str q = sl_str_from_cstr(quota), p = sl_str_from_cstr(period);
    q = next_field(&q, '\n');
    p = next_field(&p, '\n');
    return quota_cpus(q, p); /* "-1" (no quota) fails to parse: 0 */
}

/* cgroup v1 mounts the cpu controller at cpu,cpuacct or cpu; inside a container the process's
 * cgroup is often the mount's root although /proc/self/cgroup shows the host path. */
static unsigned v1_limit(const char *root, struct sl_str cg)
{
    static const char *const mounts[] = {"cpu,cpuacct", "cpu"};
    for (size_t i = 0; i < SL_ARRAY_LEN(mounts); i++) {
        char dir[PATH_CAP];
        int n =
            snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/%s%.*s", root, mounts[i], SL_STR_FMT(cg));
        unsigned limit = n > 0 && (size_t)n < sizeof(dir) ? v1_dir_limit(dir) : 0;
        if (limit == 0) {
            n = snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/%s", root, mounts[i]);
            limit = n > 0 && (size_t)n < sizeof(dir) ? v1_dir_limit(dir) : 0;
        }
        if (limit != 0)
            return limit;
    }
    return 0;
}

static bool has_cpu_controller(struct sl_str controllers)
{
    while (controllers.len > 0) {
        if (sl_str_eq_lit(next_field(&controllers, ','), "cpu"))
            return true;
    }
    return false;
}

unsigned sl__config_cgroup_cpu_limit(const char *root)
{
    char path[PATH_CAP], buf[CGROUP_FILE_CAP];
    int n = snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    if (n <= 0 || (size_t)n >= sizeof(path) || !read_small(path, buf, sizeof(buf)))
        return 0;
    struct sl_str rest = sl_str_from_cstr(buf), v2 = SL_STR_NULL, v1 = SL_STR_NULL;
    bool has_v2 = false, has_v1 = false;
    while (rest.len > 0) {
        struct sl_str line = next_field(&rest, '\n');
        struct sl_str id = next_field(&line, ':');
        struct sl_str controllers = next_field(&line, ':');
        if (sl_str_eq_lit(id, "0") && controllers.len == 0 && line.len > 0) {
            v2 = line;
            has_v2 = true;
        } else if (has_cpu_controller(controllers) && line.len > 0) {
            v1 = line;
            has_v1 = true;
        }
    }
    unsigned limit = has_v2 ? v2_limit(root, v2) : 0;
    if (limit == 0 && has_v1)
        limit = v1_limit(root, v1);
    return limit;
}

unsigned sl_config_available_cpus(void)
{
    cpu_set_t set;
    unsigned n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = (unsigned)CPU_COUNT(&set);
    if (n == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (unsigned)online : 1;
    }
    unsigned limit = sl__config_cgroup_cpu_limit("");
    if (limit != 0 && limit < n)
        n = limit;
    return n != 0 ? n : 1;
}
