/* picohttpparser, as exported by Debian's libh2o-evloop (h2o 2.2.5 bundles it and exports its
 * symbols, but installs no header). These declarations match h2o 2.2.5's
 * deps/picohttpparser/picohttpparser.h; tests/unit/test_upstream_parse.c exercises them so an
 * ABI change in a future h2o package fails the build's tests rather than production. */
#ifndef SLUICE_PICOHTTP_H
#define SLUICE_PICOHTTP_H

#include <stddef.h>
#include <sys/types.h>

struct phr_header {
    const char *name; /* NULL for a continuation line of a multi-line header */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Returns the request head's length, -2 if incomplete, -1 on error. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

/* Returns the head's length, -2 if incomplete, -1 on error. last_len is the length already
 * known to be incomplete (0 on the first call). */
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status,
                       const char **msg, size_t *msg_len, struct phr_header *headers,
                       size_t *num_headers, size_t last_len);

/* Zero-fill before use. */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

/* Decodes chunked data in place: on return *bufsz is the decoded length. Returns -2 when more
 * input is needed, -1 on error, or (at the end of the body) the number of undecoded bytes left
 * at the tail of buf. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
