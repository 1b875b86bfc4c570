/* Content and transfer codings of upstream response bodies (RFC 9110 section 8.4, RFC 9112
 * section 7): gzip (and its alias x-gzip) and deflate, undone with zlib as the bytes arrive.
 *
 * Sluice asks upstreams for `Accept-Encoding: identity`, so a coded body is an upstream that
 * ignored the request; this module lets such a response through instead of failing it. Output
 * comes out in pieces of at most SL_DECODE_PIECE_BYTES, one per call, so whoever drives the
 * decoder can stop after any piece (backpressure, a size cap) and a small body that inflates to
 * gigabytes (a "decompression bomb") never costs more memory than the decoder's fixed buffers.
 *
 * Resumable and I/O-free: the input may be split anywhere. Runs on one thread; not shared. */
#ifndef SLUICE_DECODE_H
#define SLUICE_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/str.h"

/* Codings stacked on one body. curl caps its decoder chain (CVE-2022-32206: an unbounded chain
 * of codings costs unbounded memory); two (Content-Encoding plus a transfer coding) is what
 * occurs in practice. */
#define SL_DECODE_MAX_CODINGS 4
/* The largest piece sl_decoder_step returns (also each layer's output buffer). */
#define SL_DECODE_PIECE_BYTES (16u * 1024)

enum sl_coding {
    SL_CODING_GZIP = 0, /* RFC 1952 members, one or more; "x-gzip" is the same (RFC 9110) */
    SL_CODING_DEFLATE,  /* RFC 1950 zlib data, or raw RFC 1951 data as some servers send */
};

/* The codings of one body, in the order the sender applied them. */
struct sl_codings {
    enum sl_coding list[SL_DECODE_MAX_CODINGS];
    size_t n;
};

/* Appends the codings a header value names, in order: a Content-Encoding value (transfer
 * false), or a Transfer-Encoding value (transfer true; "chunked" is framing, left to the
 * caller, and skipped here). Names are case-insensitive; "identity" and empty list elements
 * are skipped. Add every Content-Encoding value first, then every Transfer-Encoding value:
 * transfer codings are applied after content codings. Returns 0, or SL_EPARSE with a reason in
 * err (NUL-terminated): a coding other than those above (`unsupported content coding "br"`,
 * the name cut to 32 bytes and any byte outside printable ASCII shown as '?'), or more than
 * SL_DECODE_MAX_CODINGS. */
int sl_codings_add(struct sl_codings *c, struct sl_str value, bool transfer, char *err,
                   size_t errlen);

struct sl_decoder;

/* A decoder for a body with the codings c (c->n >= 1), or aborts on OOM. About 60 KiB per
 * coding once data flows (zlib's 32 KiB window, its state, one output buffer). */
struct sl_decoder *sl_decoder_new(const struct sl_codings *c);
void sl_decoder_free(struct sl_decoder *d);

/* Consumes coded bytes from *in (advancing it) and returns at most one decoded piece in *out,
 * which points into the decoder and stays valid until the next call. Returns 0 with
 * out->len > 0: a piece (call again, with what is left of *in or with an empty slice, for the
 * next one: the decoder may hold more output than one piece even when *in is empty); 0 with
 * out->len == 0: *in is used up and no more output is pending; SL_EPARSE: the data is corrupt
 * (sl_decoder_error says how), and every later call fails the same way. */
int sl_decoder_step(struct sl_decoder *d, struct sl_str *in, struct sl_str *out);

/* Call once the body has ended and sl_decoder_step returned an empty piece: true when every
 * coding reached the end of its data (a gzip trailer, the end of the deflate data), or when no
 * byte was ever fed (an empty body needs no decoding); false for a body cut short. */
bool sl_decoder_is_complete(const struct sl_decoder *d);

/* After SL_EPARSE: what was wrong, e.g. "corrupt gzip data: incorrect data check". */
const char *sl_decoder_error(const struct sl_decoder *d);

/* "gzip" or "deflate". */
const char *sl_coding_name(enum sl_coding c);

#endif
