/* AWS event stream framing (application/vnd.amazon.eventstream), as Bedrock's ConverseStream
 * and InvokeModelWithResponseStream send it, as a resumable, I/O-free decoder in the manner of
 * sse.h. Bytes are fed as they arrive, in chunks of any size, split anywhere.
 *
 * A message on the wire:
 *   total length u32 BE | headers length u32 BE | prelude CRC32 (of the 8 bytes before it)
 *   headers | payload | message CRC32 (of every byte before it)
 * and each header: name length u8, name, value type u8, value:
 *   0 true, 1 false (no bytes), 2 byte (1), 3 short (2), 4 int (4), 5 long (8),
 *   6 bytes and 7 string (u16 BE length, then that many bytes), 8 timestamp (8, ms since
 *   the epoch), 9 uuid (16); integers are big-endian and signed.
 * CRC32 is zlib's (ISO-HDLC). Both CRCs are checked. A prelude is checked as soon as its 12
 * bytes are in, so a message that is too big or malformed is refused before any of its body is
 * buffered.
 *
 * Zero-copy where possible: a message that lies whole inside one fed buffer is delivered as
 * slices into that buffer; one that spans feeds is gathered in the decoder's own buffer, which
 * grows only once its prelude has been checked and only as its bytes arrive (at most
 * max_message_bytes). One decoder per stream, used by one thread at a time. */
#ifndef SLUICE_EVENTSTREAM_H
#define SLUICE_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/str.h"

/* A CRC mismatch (prelude or message): the bytes were damaged in transit. Distinct from every
 * SL_E* code of base.h so the caller can count it apart from SL_EPARSE (malformed framing). */
#define SL_EVENTSTREAM_ECRC (-16)

#define SL_EVENTSTREAM_PRELUDE_BYTES 12
#define SL_EVENTSTREAM_MIN_MESSAGE   16 /* prelude and message CRC, nothing else */
/* The headers cap AWS's decoders apply (botocore _MAX_HEADERS_LENGTH; aws-c-event-stream
 * before it raised its own to the message size). */
#define SL_EVENTSTREAM_MAX_HEADERS_BYTES (128u * 1024)
/* A default cap on one message. botocore accepts payloads up to 24 MiB; Bedrock's events are
 * deltas of a few hundred bytes, and a base64 chunk of InvokeModelWithResponseStream stays far
 * below this. */
#define SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)

/* The value of ":message-type". */
enum sl_eventstream_kind {
    SL_EVENTSTREAM_OTHER = 0, /* absent, or a value other than the three below */
    SL_EVENTSTREAM_EVENT,     /* "event": :event-type names it, the payload is its body */
    SL_EVENTSTREAM_EXCEPTION, /* "exception": :exception-type names a modelled error */
    SL_EVENTSTREAM_ERROR,     /* "error": :error-code and :error-message */
};

/* One complete, checked message. Every slice points into the fed buffer or the decoder's own
 * and is valid only during the callback; a header that is absent is an empty slice. */
struct sl_eventstream_message {
    enum sl_eventstream_kind kind;
    struct sl_str message_type;   /* ":message-type" */
    struct sl_str event_type;     /* ":event-type", e.g. "contentBlockDelta" */
    struct sl_str exception_type; /* ":exception-type", e.g. "throttlingException" */
    struct sl_str error_code;     /* ":error-code" */
    struct sl_str error_message;  /* ":error-message" */
    struct sl_str content_type;   /* ":content-type", e.g. "application/json" */
    struct sl_str headers;        /* the whole headers section; see sl_eventstream_header_next */
    struct sl_str payload;
    struct sl_str raw; /* the message as received, prelude to message CRC */
};

/* Returns 0 to continue, or a negative value to stop; sl_eventstream_feed then returns it. */
typedef int sl_eventstream_cb(void *ud, const struct sl_eventstream_message *m);

struct sl_eventstream_decoder {
    size_t max_message_bytes;
    /* private */
    struct sl_buf _msg; /* the bytes so far of a message that spans feeds */
    uint32_t _total;    /* its total length once its prelude is checked; 0 before */
    int _state;
    int _error;         /* the first error; every later feed returns it */
    uint64_t _messages; /* messages delivered */
    uint64_t _offset;   /* stream offset of the message being decoded */
    char _why[200];
};

/* max_message_bytes caps one message's total length (at least SL_EVENTSTREAM_MIN_MESSAGE, at
 * most UINT32_MAX); SL_EVENTSTREAM_DEFAULT_MAX_MESSAGE unless the caller knows better.
 * Allocates nothing. */
void sl_eventstream_init(struct sl_eventstream_decoder *d, size_t max_message_bytes);
void sl_eventstream_dispose(struct sl_eventstream_decoder *d);

/* Feeds len bytes; calls cb for each message they complete, in order. Returns 0 when all bytes
 * were consumed; SL_EVENTSTREAM_ECRC on a prelude or message CRC mismatch; SL_EPARSE on
 * malformed framing (a total length under 16, headers that do not fit, a header running past
 * its section, an unknown value type, a ":..." header of those above that is not a string or
 * comes twice); SL_E2BIG when a prelude declares a message over max_message_bytes or headers
 * over SL_EVENTSTREAM_MAX_HEADERS_BYTES; or the callback's negative return (the bytes after
 * that message are then not consumed). After any error but the callback's the decoder is
 * failed: sl_eventstream_strerror says what and where, and every later feed returns the same
 * error. */
int sl_eventstream_feed(struct sl_eventstream_decoder *d, const char *buf, size_t len,
                        sl_eventstream_cb *cb, void *ud);

/* True when no partial message is buffered and no error happened: a stream that ends here
 * ended cleanly. */
bool sl_eventstream_is_idle(const struct sl_eventstream_decoder *d);

/* After a failed feed: one line naming the check, the message number and its stream offset,
 * e.g. "message 3 at offset 1045: message CRC 0x8d9c08b1 does not match its bytes
 * (0x01a05860)". Empty otherwise. Holds no payload bytes. */
const char *sl_eventstream_strerror(const struct sl_eventstream_decoder *d);

/* A header, as sl_eventstream_header_next reads it. */
enum sl_eventstream_value_type {
    SL_EVENTSTREAM_TRUE = 0,
    SL_EVENTSTREAM_FALSE = 1,
    SL_EVENTSTREAM_BYTE = 2,
    SL_EVENTSTREAM_SHORT = 3,
    SL_EVENTSTREAM_INT = 4,
    SL_EVENTSTREAM_LONG = 5,
    SL_EVENTSTREAM_BYTES = 6,
    SL_EVENTSTREAM_STRING = 7,
    SL_EVENTSTREAM_TIMESTAMP = 8,
    SL_EVENTSTREAM_UUID = 9,
};

struct sl_eventstream_header {
    struct sl_str name;
    enum sl_eventstream_value_type type;
    /* bytes and string: the value; uuid: its 16 bytes; the integer types: their big-endian
     * bytes; true and false: empty. */
    struct sl_str value;
    /* true 1, false 0; byte, short, int, long: the signed value; timestamp: milliseconds since
     * the epoch; 0 for the others. */
    int64_t number;
};

/* Reads the header at the front of *headers (a message's headers section, or what is left of
 * it) and moves *headers past it. Returns 0, SL_ENOENT when *headers is empty, or SL_EPARSE if
 * the header is cut short or has an unknown type (never for a delivered message's section:
 * the decoder checked it). */
int sl_eventstream_header_next(struct sl_str *headers, struct sl_eventstream_header *h);

#endif
