/* AWS event stream messages (es_encode.h). */
#include <string.h>
#include <zlib.h>

#include "es_encode.h"
#include "sluice/base.h"

static void put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static size_t string_header(unsigned char *o, const char *name, struct sl_str value)
{
    size_t n = strlen(name);
    o[0] = (unsigned char)n;
    memcpy(o + 1, name, n);
    o[1 + n] = 7;
    o[2 + n] = (unsigned char)(value.len >> 8);
    o[3 + n] = (unsigned char)value.len;
    memcpy(o + 4 + n, value.ptr, value.len);
    return 4 + n + value.len;
}

static void message(struct mj_writer *w, const char *type_header, struct sl_str type,
                    const char *message_type, struct sl_str payload, bool corrupt)
{
    unsigned char *o = (unsigned char *)w->ptr;
    size_t hl = 0;
    SL_ASSERT((size_t)(w->end - w->ptr) >= es_bound(type.len + 32, payload.len));
    hl += string_header(o + 12 + hl, type_header, type);
    hl += string_header(o + 12 + hl, ":content-type", SL_STRLIT("application/json"));
    hl += string_header(o + 12 + hl, ":message-type", sl_str_from_cstr(message_type));
    memcpy(o + 12 + hl, payload.ptr, payload.len);
    size_t total = 12 + hl + payload.len + 4;
    put32(o, (uint32_t)total);
    put32(o + 4, (uint32_t)hl);
    put32(o + 8, (uint32_t)crc32(0, o, 8));
    uint32_t crc = (uint32_t)crc32(0, o, (uInt)(total - 4));
    put32(o + total - 4, corrupt ? crc ^ 0x00010000u : crc);
    w->ptr += total;
}

void es_event(struct mj_writer *w, struct sl_str name, struct sl_str payload, bool corrupt)
{
    message(w, ":event-type", name, "event", payload, corrupt);
}

void es_exception(struct mj_writer *w, struct sl_str name, struct sl_str payload)
{
    message(w, ":exception-type", name, "exception", payload, false);
}
