/* Loading resources at boot and reload: the warning for a resources file that other users may
 * read or write (mode bits, symlinks followed, the exact log line), and no warning for private
 * files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/boot.h"
#include "sluice/config.h"
#include "sluice/diag.h"
#include "sluice/log.h"

int main(void);

static const char resources_yaml[] = "_format_version: \"1\"\n"
                                     "provider_keys:\n"
                                     "  - display_name: p\n"
                                     "    provider: openai\n"
                                     "    api_key: sk-unit-boot-secret\n";

struct tmp {
    char dir[64];
    char file[128];
    char link[128];
};

static void tmp_init(struct tmp *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/sluice-test-boot-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->file, sizeof(t->file), "%s/resources.yaml", t->dir);
    snprintf(t->link, sizeof(t->link), "%s/link.yaml", t->dir);
    FILE *f = fopen(t->file, "w");
    assert_non_null(f);
    fputs(resources_yaml, f);
    fclose(f);
}

static void tmp_dispose(struct tmp *t)
{
    unlink(t->link);
    unlink(t->file);
    rmdir(t->dir);
}

static void test_mode_bits(void **state)
{
    (void)state;
    static const struct {
        unsigned mode;
        bool exposed;
    } cases[] = {{0600, false}, {0400, false}, {0700, false}, {0640, true}, {0604, true},
                 {0620, true},  {0602, true},  {0644, true},  {0666, true}, {04600, false}};
    struct tmp t;
    unsigned mode;
    tmp_init(&t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(chmod(t.file, cases[i].mode), 0);
        mode = 0;
        assert_int_equal(sl_boot_is_exposed(t.file, &mode), cases[i].exposed);
        assert_int_equal(mode, cases[i].mode);
    }
    /* A symlink (as Kubernetes mounts secrets) is judged by the file it points at. */
    assert_int_equal(symlink(t.file, t.link), 0);
    assert_int_equal(chmod(t.file, 0644), 0);
    assert_true(sl_boot_is_exposed(t.link, &mode));
    assert_int_equal(chmod(t.file, 0600), 0);
    assert_false(sl_boot_is_exposed(t.link, &mode));
    assert_false(sl_boot_is_exposed("/nonexistent/resources.yaml", &mode));
    tmp_dispose(&t);
}

/* Runs sl_boot_load_resources with stderr captured into out. */
static void load_capturing(const char *file, char *out, size_t cap)
{
    struct sl_config cfg;
    struct sl_diag diag;
    char path[] = "/tmp/sluice-test-boot-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    assert_true(fd != -1 && saved != -1);
    memset(&cfg, 0, sizeof(cfg));
    cfg.resources_file = (char *)file;
    sl_diag_init(&diag, file);
    dup2(fd, 2);
    struct sl_resources *res = sl_boot_load_resources(&cfg, &diag);
    dup2(saved, 2);
    close(saved);
    assert_non_null(res);
    sl_resources_free(res);
    sl_diag_dispose(&diag);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static void test_warning_line(void **state)
{
    (void)state;
    struct tmp t;
    char out[2048], want[512];
    tmp_init(&t);
    sl_log_set_level(SL_LOG_INFO);
    assert_int_equal(chmod(t.file, 0644), 0);
    load_capturing(t.file, out, sizeof(out));
    snprintf(want, sizeof(want),
             "WARN  resources file %s is readable by other users (mode 0644); it holds provider "
             "keys: restrict it to the owner (chmod 600)\n",
             t.file);
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "sk-unit-boot-secret"));
    assert_int_equal(chmod(t.file, 0620), 0);
    load_capturing(t.file, out, sizeof(out));
    assert_non_null(strstr(out, "is writable by other users (mode 0620)"));
    assert_int_equal(chmod(t.file, 0600), 0);
    load_capturing(t.file, out, sizeof(out));
    assert_string_equal(out, "");
    tmp_dispose(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_bits),
        cmocka_unit_test(test_warning_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
