#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sluice/base.h"
#include "sluice/decode.h"

/* One coding being undone. Decoded bytes wait in out[out_off, out_off + out_len) until the next
 * layer (or the caller) takes them. */
struct layer {
    z_stream z;
    enum sl_coding coding;
    bool started; /* inflateInit2 done; deflate waits for its first two bytes to pick a format */
    bool ended;   /* Z_STREAM_END, and no byte since */
    unsigned char head[2];
    size_t nhead;
    size_t out_off, out_len;
    unsigned char out[SL_DECODE_PIECE_BYTES];
};

struct sl_decoder {
    size_t n;
    bool fed; /* at least one coded byte arrived */
    bool failed;
    char err[160];
    /* layers[0] undoes the coding applied last (it reads the wire bytes); layers[n - 1] the
     * first one (the caller reads its output). */
    struct layer layers[];
};

const char *sl_coding_name(enum sl_coding c)
{
    return c == SL_CODING_GZIP ? "gzip" : "deflate";
}

/* ---- header values ---- */

static void describe(char *dst, size_t cap, struct sl_str name)
{
    char shown[33];
    size_t n = SL_MIN(name.len, sizeof(shown) - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name.ptr[i];
        shown[i] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    shown[n] = '\0';
    snprintf(dst, cap, "\"%s\"%s", shown, name.len > n ? "..." : "");
}

static int add_one(struct sl_codings *c, struct sl_str tok, bool transfer, char *err, size_t errlen)
{
    enum sl_coding coding;
    if (tok.len == 0 || sl_str_ieq_lit(tok, "identity") ||
        (transfer && sl_str_ieq_lit(tok, "chunked")))
        return SL_OK;
    if (sl_str_ieq_lit(tok, "gzip") || sl_str_ieq_lit(tok, "x-gzip")) {
        coding = SL_CODING_GZIP;
    } else if (sl_str_ieq_lit(tok, "deflate")) {
        coding = SL_CODING_DEFLATE;
    } else {
        char name[48];
        describe(name, sizeof(name), tok);
        snprintf(err, errlen, "unsupported %s coding %s", transfer ? "transfer" : "content", name);
        return SL_EPARSE;
    }
    if (c->n == SL_DECODE_MAX_CODINGS) {
        snprintf(err, errlen, "more than %d content and transfer codings", SL_DECODE_MAX_CODINGS);
        return SL_EPARSE;
    }
    c->list[c->n++] = coding;
    return SL_OK;
}

int sl_codings_add(struct sl_codings *c, struct sl_str value, bool transfer, char *err,
                   size_t errlen)
{
    err[0] = '\0';
    while (value.len > 0) {
        const char *comma = memchr(value.ptr, ',', value.len);
        size_t n = comma != NULL ? (size_t)(comma - value.ptr) : value.len;
        int rc = add_one(c, sl_str_trim(sl_str_init(value.ptr, n)), transfer, err, errlen);
        if (rc != SL_OK)
            return rc;
        if (comma == NULL)
            break;
        value = sl_str_init(comma + 1, value.len - n - 1);
    }
    return SL_OK;
}

/* ---- decoding ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    SL_UNUSED(opaque);
    return sl_xcalloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    SL_UNUSED(opaque);
    free(p);
}

static int fail(struct sl_decoder *d, enum sl_coding coding, const char *why)
{
    d->failed = true;
    snprintf(d->err, sizeof(d->err), "corrupt %s data: %s", sl_coding_name(coding), why);
    return SL_EPARSE;
}

static void layer_init(struct layer *L, int window_bits)
{
    L->z.zalloc = z_alloc;
    L->z.zfree = z_free;
    /* Only a bad argument or OOM fail here, and z_alloc aborts on OOM. */
    SL_ASSERT(inflateInit2(&L->z, window_bits) == Z_OK);
    L->started = true;
}

/* RFC 1950 section 2.2: a zlib stream starts with CMF (method 8, window up to 32 KiB) and FLG,
 * their big-endian value a multiple of 31. */
static bool is_zlib_header(const unsigned char h[2])
{
    return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((unsigned)h[0] << 8 | h[1]) % 31 == 0;
}

/* One inflate call from src into the layer's (empty) output buffer. */
static int inflate_some(struct sl_decoder *d, struct layer *L, struct sl_str *src)
{
    uInt avail = (uInt)SL_MIN(src->len, (size_t)UINT_MAX);
    L->z.next_in = (Bytef *)(uintptr_t)src->ptr;
    L->z.avail_in = avail;
    L->z.next_out = L->out;
    L->z.avail_out = sizeof(L->out);
    int zr = inflate(&L->z, Z_NO_FLUSH);
    size_t used = avail - L->z.avail_in;
    if (used != 0) /* an empty slice may have no pointer at all */
        *src = sl_str_init(src->ptr + used, src->len - used);
    L->out_off = 0;
    L->out_len = sizeof(L->out) - L->z.avail_out;
    switch (zr) {
    case Z_OK:
    case Z_BUF_ERROR: /* no progress possible without more input: not an error */
        return SL_OK;
    case Z_STREAM_END:
        L->ended = true;
        return SL_OK;
    case Z_NEED_DICT:
        return fail(d, L->coding, "it needs a preset dictionary");
    case Z_MEM_ERROR:
        SL_ASSERT(!"zlib out of memory (z_alloc aborts first)");
        return SL_ERR;
    default:
        return fail(d, L->coding, L->z.msg != NULL ? L->z.msg : "unknown error");
    }
}

/* deflate is zlib-wrapped by RFC 9110, yet some servers send raw deflate data; like curl and
 * browsers, take it as such when it does not start with a zlib header. Deciding on the first
 * two bytes (rather than on inflate's first error) gives the same verdict however the body
 * is split. Returns SL_OK once started, or with src used up while waiting for the second byte. */
static int start_deflate(struct sl_decoder *d, struct layer *L, struct sl_str *src)
{
    while (L->nhead < 2 && src->len > 0) {
        L->head[L->nhead++] = (unsigned char)src->ptr[0];
        src->ptr++;
        src->len--;
    }
    if (L->nhead < 2)
        return SL_OK;
    layer_init(L, is_zlib_header(L->head) ? MAX_WBITS : -MAX_WBITS);
    struct sl_str head = sl_str_init((const char *)L->head, 2);
    int rc = inflate_some(d, L, &head);
    /* Two bytes never fill a 16 KiB buffer, so inflate takes both unless it failed. */
    if (rc == SL_OK && head.len != 0)
        return fail(d, SL_CODING_DEFLATE, "it ends within its first bytes");
    return rc;
}

/* Runs layer L on src once: returns with decoded bytes pending, or src consumed as far as L
 * could take it. */
static int layer_run(struct sl_decoder *d, struct layer *L, struct sl_str *src)
{
    if (L->ended && src->len > 0) {
        if (L->coding == SL_CODING_DEFLATE)
            return fail(d, SL_CODING_DEFLATE, "bytes after the end of the data");
        /* A gzip body may hold several members, decoded one after the other (RFC 1952 2.2). */
        SL_ASSERT(inflateReset(&L->z) == Z_OK);
        L->ended = false;
    }
    if (!L->started)
        return start_deflate(d, L, src);
    return inflate_some(d, L, src);
}

static struct sl_str pending(struct layer *L)
{
    return sl_str_init((const char *)L->out + L->out_off, L->out_len);
}

static void take(struct layer *L, size_t n)
{
    L->out_off += n;
    L->out_len -= n;
}

/* Makes layer i hold decoded bytes if its input allows: pulls from layer i - 1 (layer 0 from
 * in) until layer i produced something or nothing upstream of it can move. */
static int pull(struct sl_decoder *d, size_t i, struct sl_str *in)
{
    struct layer *L = &d->layers[i];
    while (L->out_len == 0) {
        struct sl_str src;
        if (i == 0) {
            src = *in;
        } else {
            int rc = pull(d, i - 1, in);
            if (rc != SL_OK)
                return rc;
            src = pending(&d->layers[i - 1]);
        }
        size_t before = src.len;
        /* The buffer is empty, so the previous output is no longer anyone's. */
        int rc = layer_run(d, L, &src);
        size_t used = before - src.len;
        if (i == 0) {
            *in = src;
            d->fed = d->fed || used > 0;
        } else {
            take(&d->layers[i - 1], used);
        }
        if (rc != SL_OK)
            return rc;
        if (L->out_len == 0 && used == 0)
            return SL_OK; /* zlib needs more input than there is */
    }
    return SL_OK;
}

int sl_decoder_step(struct sl_decoder *d, struct sl_str *in, struct sl_str *out)
{
    *out = SL_STR_NULL;
    if (d->failed)
        return SL_EPARSE;
    struct layer *last = &d->layers[d->n - 1];
    int rc = pull(d, d->n - 1, in);
    if (rc != SL_OK)
        return rc;
    *out = pending(last);
    take(last, last->out_len);
    /* No output means every layer starved, which only happens once the input is used up. */
    SL_ASSERT(out->len > 0 || in->len == 0);
    return SL_OK;
}

bool sl_decoder_is_complete(const struct sl_decoder *d)
{
    if (!d->fed)
        return true;
    for (size_t i = 0; i < d->n; i++) {
        if (!d->layers[i].ended || d->layers[i].out_len != 0)
            return false;
    }
    return !d->failed;
}

const char *sl_decoder_error(const struct sl_decoder *d)
{
    return d->failed ? d->err : "no error";
}

struct sl_decoder *sl_decoder_new(const struct sl_codings *c)
{
    SL_ASSERT(c->n >= 1 && c->n <= SL_DECODE_MAX_CODINGS);
    struct sl_decoder *d = sl_xcalloc(1, sizeof(*d) + c->n * sizeof(d->layers[0]));
    d->n = c->n;
    for (size_t i = 0; i < c->n; i++) {
        struct layer *L = &d->layers[i];
        L->coding = c->list[c->n - 1 - i];
        /* 32 + 15: gzip, or zlib data labelled gzip, detected from the header as curl does. */
        if (L->coding == SL_CODING_GZIP)
            layer_init(L, MAX_WBITS + 32);
    }
    return d;
}

void sl_decoder_free(struct sl_decoder *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++) {
        if (d->layers[i].started)
            inflateEnd(&d->layers[i].z);
    }
    free(d);
}
