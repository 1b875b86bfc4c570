#include "sluice/splice.h"

#include "sluice/base.h"

void sl_splice_init(struct sl_splice *s, struct sl_str src)
{
    s->src = src;
    s->n = 0;
}

static void add(struct sl_splice *s, size_t start, size_t end, struct sl_str with)
{
    SL_ASSERT(s->n < SL_SPLICE_MAX_EDITS);
    SL_ASSERT(start <= end && end <= s->src.len);
    /* Keep edits sorted by position; they come in any order. */
    size_t i = s->n;
    while (i > 0 && s->edits[i - 1].start > start) {
        s->edits[i] = s->edits[i - 1];
        i--;
    }
    SL_ASSERT(i == 0 || s->edits[i - 1].end <= start);
    s->edits[i] = (struct sl_splice_edit){start, end, with};
    s->n++;
    SL_ASSERT(i + 1 == s->n || end <= s->edits[i + 1].start);
}

void sl_splice_replace(struct sl_splice *s, struct sl_str span, struct sl_str with)
{
    SL_ASSERT(span.ptr >= s->src.ptr && span.ptr + span.len <= s->src.ptr + s->src.len);
    size_t start = (size_t)(span.ptr - s->src.ptr);
    add(s, start, start + span.len, with);
}

void sl_splice_insert(struct sl_splice *s, size_t at, struct sl_str with)
{
    add(s, at, at, with);
}

size_t sl_splice_iov(const struct sl_splice *s, h2o_iovec_t *out, size_t *len)
{
    size_t n = 0, pos = 0, total = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct sl_splice_edit *e = &s->edits[i];
        if (e->start > pos) {
            out[n++] = h2o_iovec_init(s->src.ptr + pos, e->start - pos);
            total += e->start - pos;
        }
        if (e->with.len > 0) {
            out[n++] = sl_iov_from_str(e->with);
            total += e->with.len;
        }
        pos = e->end;
    }
    if (pos < s->src.len) {
        out[n++] = h2o_iovec_init(s->src.ptr + pos, s->src.len - pos);
        total += s->src.len - pos;
    }
    *len = total;
    return n;
}

int sl_splice_append(const struct sl_splice *s, struct sl_buf *dst)
{
    h2o_iovec_t v[2 * SL_SPLICE_MAX_EDITS + 1];
    size_t len, n = sl_splice_iov(s, v, &len);
    size_t before = dst->len;
    for (size_t i = 0; i < n; i++) {
        if (sl_buf_append(dst, v[i].base, v[i].len) != SL_OK) {
            dst->len = before;
            return SL_E2BIG;
        }
    }
    return SL_OK;
}
