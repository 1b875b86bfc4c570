/* Zero-copy splicing: describe a new document as an original plus a few replacements and
 * insertions, then emit it as iovecs that point into the original (for writev) or append it to
 * a buffer. Used to rewrite "model" and inject stream_options without re-serialising JSON. */
#ifndef SLUICE_SPLICE_H
#define SLUICE_SPLICE_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/buf.h"
#include "sluice/h2o.h"
#include "sluice/str.h"

#define SL_SPLICE_MAX_EDITS 16

struct sl_splice {
    struct sl_str src;
    struct sl_splice_edit {
        size_t start, end; /* bytes [start, end) of src are replaced by with */
        struct sl_str with;
    } edits[SL_SPLICE_MAX_EDITS];
    size_t n;
};

void sl_splice_init(struct sl_splice *s, struct sl_str src);
/* span must lie inside src; edits must not overlap (asserted). */
void sl_splice_replace(struct sl_splice *s, struct sl_str span, struct sl_str with);
void sl_splice_insert(struct sl_splice *s, size_t at, struct sl_str with);

static inline bool sl_splice_is_full(const struct sl_splice *s)
{
    return s->n == SL_SPLICE_MAX_EDITS;
}

/* Number of iovecs sl_splice_iov may produce. */
static inline size_t sl_splice_max_iov(const struct sl_splice *s)
{
    return 2 * s->n + 1;
}

/* Writes the pieces in order into out (room for sl_splice_max_iov entries); returns how many
 * were written and stores the total length in *len. */
size_t sl_splice_iov(const struct sl_splice *s, h2o_iovec_t *out, size_t *len);

/* Appends the result to dst. Returns 0 or SL_E2BIG. */
int sl_splice_append(const struct sl_splice *s, struct sl_buf *dst);

#endif
