/* AWS event stream messages (application/vnd.amazon.eventstream) as Bedrock sends them:
 *
 *   total length u32 BE | headers length u32 BE | prelude CRC32 | headers | payload | CRC32
 *
 * with string headers (type 7: name length u8, name, 7, value length u16 BE, value). Written by
 * the mock's own code (zlib's crc32), apart from Sluice's decoder, which the end-to-end tests
 * check against it. Pure; any thread. */
#ifndef SLUICE_MOCK_ES_ENCODE_H
#define SLUICE_MOCK_ES_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "mjson.h"
#include "sluice/str.h"

/* Bytes enough for a message with these headers' values and payload (names are short). */
static inline size_t es_bound(size_t values_len, size_t payload_len)
{
    return 16 + 3 * (4 + 16) + values_len + payload_len;
}

/* An event message: :event-type name, :content-type application/json, :message-type event.
 * corrupt flips a bit of the message CRC (the prelude stays valid, so a decoder reads the whole
 * message before it can tell). */
void es_event(struct mj_writer *w, struct sl_str name, struct sl_str payload, bool corrupt);

/* An exception message: :exception-type name, :content-type application/json, :message-type
 * exception; payload {"message": ...}. */
void es_exception(struct mj_writer *w, struct sl_str name, struct sl_str payload);

#endif
