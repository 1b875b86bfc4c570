#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/base.h"
#include "sluice/diag.h"

void sl_diag_init(struct sl_diag *d, const char *file)
{
    *d = (struct sl_diag){0};
    d->file = file != NULL ? sl_xstrdup(file) : NULL;
}

void sl_diag_dispose(struct sl_diag *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->entries[i].msg);
        d->entries[i].msg = NULL;
    }
    free(d->entries);
    d->entries = NULL;
    free(d->file);
    d->file = NULL;
    d->count = 0;
    d->_cap = 0;
}

static void add(struct sl_diag *d, unsigned line, unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void add(struct sl_diag *d, unsigned line, unsigned col, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) == -1)
        msg = sl_xstrdup("(out of memory formatting a diagnostic)");
    if (d->count == d->_cap) {
        d->_cap = d->_cap != 0 ? d->_cap * 2 : 8;
        d->entries = sl_xrealloc(d->entries, d->_cap * sizeof(*d->entries));
    }
    d->entries[d->count++] = (struct sl_diag_entry){.line = line, .col = col, .msg = msg};
}

void sl_diag_vadd(struct sl_diag *d, unsigned line, const char *fmt, va_list ap)
{
    add(d, line, 0, fmt, ap);
}

void sl_diag_add(struct sl_diag *d, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(d, line, 0, fmt, ap);
    va_end(ap);
}

void sl_diag_add_at(struct sl_diag *d, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(d, line, col, fmt, ap);
    va_end(ap);
}

void sl_diag_print(const struct sl_diag *d, void *fp)
{
    FILE *out = fp;
    const char *file = d->file != NULL ? d->file : "<input>";
    for (size_t i = 0; i < d->count; i++) {
        const struct sl_diag_entry *e = &d->entries[i];
        if (e->line == 0)
            fprintf(out, "%s: %s\n", file, e->msg);
        else if (e->col == 0)
            fprintf(out, "%s:%u: %s\n", file, e->line, e->msg);
        else
            fprintf(out, "%s:%u:%u: %s\n", file, e->line, e->col, e->msg);
    }
}
