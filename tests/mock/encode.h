/* Compressed responses, for the content_encoding and transfer_encoding_gzip controls: zlib
 * writing into buffers the caller sized with mock_encoder_bound. Nothing here knows about h2o. */
#ifndef SLUICE_MOCK_ENCODE_H
#define SLUICE_MOCK_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>

#include "sluice/str.h"

enum mock_coding {
    MOCK_CODING_GZIP = 0, /* RFC 1952 */
    MOCK_CODING_DEFLATE,  /* RFC 1950 (zlib-wrapped), as RFC 9110 defines "deflate" */
};

/* The coding a Content-Encoding value names ("gzip", "x-gzip", "deflate"); false for any other
 * value, which the mock sends as a header over an uncompressed body. */
bool mock_coding_of(struct sl_str name, enum mock_coding *out);

/* One compressed stream. Each piece fed comes out complete (Z_SYNC_FLUSH), so a client can
 * decode an event as soon as it arrives; the final piece ends the data (Z_FINISH). */
struct mock_encoder {
    z_stream z;
    bool active;
};

void mock_encoder_init(struct mock_encoder *e, enum mock_coding c);
void mock_encoder_dispose(struct mock_encoder *e);
/* Bytes enough for what feeding n bytes writes. */
size_t mock_encoder_bound(struct mock_encoder *e, size_t n);
/* Compresses src into dst (mock_encoder_bound(e, src.len) bytes); returns the bytes written. */
size_t mock_encoder_feed(struct mock_encoder *e, struct sl_str src, bool final, char *dst);

#endif
