/* Diagnostics collected while loading a file: every problem found is recorded (with its line
 * when known) so a user sees all of them at once, not one per run. */
#ifndef SLUICE_DIAG_H
#define SLUICE_DIAG_H

#include <stdarg.h>
#include <stddef.h>

struct sl_diag_entry {
    unsigned line; /* 1-based; 0 when the problem has no single line (env var, missing key) */
    unsigned col;  /* 1-based; 0 when only the line is known */
    char *msg;     /* owned */
};

struct sl_diag {
    char *file; /* owned copy of the file name the entries refer to */
    struct sl_diag_entry *entries;
    size_t count;
    size_t _cap;
};

/* file may be NULL: entries then print as "<input>:...". */
void sl_diag_init(struct sl_diag *d, const char *file);
void sl_diag_dispose(struct sl_diag *d);

/* Records one problem. The message should name the key path and the bad value, e.g.
 * proxy.addr: invalid address "abc" (expected IP:PORT). */
void sl_diag_add(struct sl_diag *d, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sl_diag_vadd(struct sl_diag *d, unsigned line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Same with a column, for syntax-level problems (the YAML reader) where the column helps. */
void sl_diag_add_at(struct sl_diag *d, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes every entry as "<file>:<line>: <msg>" ("<file>:<line>:<col>: <msg>" when the column is
 * known, "<file>: <msg>" without a line), one per line, to fp (a FILE *). */
void sl_diag_print(const struct sl_diag *d, void *fp);

#endif
