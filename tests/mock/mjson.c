#include <string.h>

#include "mjson.h"

struct scan {
    const unsigned char *p;
    const unsigned char *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t avail = (size_t)(end - p);
    unsigned char c = p[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
                       (p[3] & 0xc0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* Skips bytes that need no attention inside a string (printable ASCII other than '"' and '\\'),
 * eight at a time while it can: request bodies are mostly long runs of such bytes. */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;

    while (end - p >= 8) {
        uint64_t x, quote, bslash, ctl;
        memcpy(&x, p, 8);
        ctl = (x - 0x20 * ones) & ~x;
        quote = x ^ ('"' * ones);
        quote = (quote - ones) & ~quote;
        bslash = x ^ ('\\' * ones);
        bslash = (bslash - ones) & ~bslash;
        if (((ctl | quote | bslash | x) & highs) != 0)
            break;
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Scans a string starting at its opening quote; leaves s->p after the closing quote. Sets
 * *has_escape when the string contains a backslash. */
static int scan_string(struct scan *s, bool *has_escape)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c;
        s->p = skip_plain(s->p, s->end);
        if (s->p == s->end)
            break;
        c = *s->p;
        if (c == '"') {
            s->p++;
            return SL_OK;
        }
        if (c < 0x20)
            return SL_EPARSE;
        if (c == '\\') {
            *has_escape = true;
            if (s->end - s->p < 2)
                return SL_EPARSE;
            c = s->p[1];
            if (c == 'u') {
                if (s->end - s->p < 6 || !is_hex(s->p[2]) || !is_hex(s->p[3]) || !is_hex(s->p[4]) ||
                    !is_hex(s->p[5]))
                    return SL_EPARSE;
                s->p += 6;
            } else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
                s->p += 2;
            } else {
                return SL_EPARSE;
            }
            continue;
        }
        size_t n = utf8_len(s->p, s->end);
        if (n == 0)
            return SL_EPARSE;
        s->p += n;
    }
    return SL_EPARSE;
}

static size_t skip_digits(struct scan *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return (size_t)(s->p - start);
}

static int scan_number(struct scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (skip_digits(s) == 0)
        return SL_EPARSE;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (skip_digits(s) == 0)
            return SL_EPARSE;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (skip_digits(s) == 0)
            return SL_EPARSE;
    }
    return SL_OK;
}

static int scan_literal(struct scan *s, const char *lit, size_t len)
{
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, lit, len) != 0)
        return SL_EPARSE;
    s->p += len;
    return SL_OK;
}

static int scan_value(struct scan *s, unsigned depth, enum mj_type *type);

/* Scans the members of an object or the elements of an array after its opening bracket. */
static int scan_container(struct scan *s, unsigned depth, bool is_object)
{
    unsigned char close = is_object ? '}' : ']';
    enum mj_type ignored;

    if (depth >= MJ_MAX_DEPTH)
        return SL_EPARSE;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return SL_OK;
    }
    for (;;) {
        if (is_object) {
            bool esc = false;
            if (s->p >= s->end || *s->p != '"' || scan_string(s, &esc) != SL_OK)
                return SL_EPARSE;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return SL_EPARSE;
            s->p++;
        }
        if (scan_value(s, depth + 1, &ignored) != SL_OK)
            return SL_EPARSE;
        skip_ws(s);
        if (s->p >= s->end)
            return SL_EPARSE;
        if (*s->p == close) {
            s->p++;
            return SL_OK;
        }
        if (*s->p != ',')
            return SL_EPARSE;
        s->p++;
        skip_ws(s);
    }
}

/* Scans one value after optional whitespace; leaves s->p just after it. */
static int scan_value(struct scan *s, unsigned depth, enum mj_type *type)
{
    bool esc = false;

    skip_ws(s);
    if (s->p >= s->end)
        return SL_EPARSE;
    switch (*s->p) {
    case '{':
        *type = MJ_OBJECT;
        return scan_container(s, depth, true);
    case '[':
        *type = MJ_ARRAY;
        return scan_container(s, depth, false);
    case '"':
        *type = MJ_STRING;
        return scan_string(s, &esc);
    case 't':
        *type = MJ_TRUE;
        return scan_literal(s, "true", 4);
    case 'f':
        *type = MJ_FALSE;
        return scan_literal(s, "false", 5);
    case 'n':
        *type = MJ_NULL;
        return scan_literal(s, "null", 4);
    default:
        *type = MJ_NUMBER;
        if (*s->p != '-' && !(*s->p >= '0' && *s->p <= '9'))
            return SL_EPARSE;
        return scan_number(s);
    }
}

static int hex_val(unsigned char c)
{
    if (c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* Decodes a raw key (with quotes) that contains escapes into buf, ASCII only: a key we look for
 * is plain ASCII, so any other escaped character makes the key "not one of ours". Returns the
 * length, or (size_t)-1 when the key cannot match. */
static size_t unescape_key(struct sl_str raw, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 1; i + 1 < raw.len; i++) {
        char c = raw.ptr[i];
        if (c == '\\') {
            char e = raw.ptr[++i];
            if (e == 'u') {
                int v = (hex_val((unsigned char)raw.ptr[i + 1]) << 12) |
                        (hex_val((unsigned char)raw.ptr[i + 2]) << 8) |
                        (hex_val((unsigned char)raw.ptr[i + 3]) << 4) |
                        hex_val((unsigned char)raw.ptr[i + 4]);
                if (v == 0 || v >= 0x80)
                    return (size_t)-1;
                c = (char)v;
                i += 4;
            } else {
                c = e == '/' ? '/' : e == '"' ? '"' : e == '\\' ? '\\' : '\0';
                if (c == '\0')
                    return (size_t)-1;
            }
        }
        if (n == cap)
            return (size_t)-1;
        buf[n++] = c;
    }
    return n;
}

static void match_key(struct sl_str key_raw, bool has_escape, const struct sl_str *keys, size_t n,
                      struct mj_value *out, enum mj_type type, struct sl_str value)
{
    char tmp[64];
    struct sl_str name = {key_raw.ptr + 1, key_raw.len - 2};

    if (has_escape) {
        size_t len = unescape_key(key_raw, tmp, sizeof(tmp));
        if (len == (size_t)-1)
            return;
        name = sl_str_init(tmp, len);
    }
    for (size_t i = 0; i < n; i++) {
        if (sl_str_eq(name, keys[i])) {
            out[i].type = type;
            out[i].raw = value;
            return;
        }
    }
}

static int scan_members(struct scan *s, const struct sl_str *keys, size_t n, struct mj_value *out)
{
    for (;;) {
        const unsigned char *key_start = s->p, *value_start;
        bool esc = false;
        enum mj_type type;

        if (s->p >= s->end || *s->p != '"' || scan_string(s, &esc) != SL_OK)
            return SL_EPARSE;
        struct sl_str key = {(const char *)key_start, (size_t)(s->p - key_start)};
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return SL_EPARSE;
        s->p++;
        skip_ws(s);
        value_start = s->p;
        if (scan_value(s, 1, &type) != SL_OK)
            return SL_EPARSE;
        struct sl_str value = {(const char *)value_start, (size_t)(s->p - value_start)};
        match_key(key, esc, keys, n, out, type, value);
        skip_ws(s);
        if (s->p >= s->end)
            return SL_EPARSE;
        if (*s->p == '}') {
            s->p++;
            return SL_OK;
        }
        if (*s->p != ',')
            return SL_EPARSE;
        s->p++;
        skip_ws(s);
    }
}

int mj_scan_object(struct sl_str doc, const struct sl_str *keys, size_t n, struct mj_value *out)
{
    struct scan s = {(const unsigned char *)doc.ptr, (const unsigned char *)doc.ptr + doc.len};

    for (size_t i = 0; i < n; i++)
        out[i] = (struct mj_value){MJ_ABSENT, SL_STR_NULL};
    if (doc.ptr == NULL)
        return SL_EPARSE;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return SL_EPARSE;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else if (scan_members(&s, keys, n, out) != SL_OK) {
        return SL_EPARSE;
    }
    skip_ws(&s);
    return s.p == s.end ? SL_OK : SL_EPARSE;
}

int mj_validate(struct sl_str doc)
{
    struct scan s = {(const unsigned char *)doc.ptr, (const unsigned char *)doc.ptr + doc.len};
    enum mj_type type;

    if (doc.ptr == NULL || scan_value(&s, 0, &type) != SL_OK)
        return SL_EPARSE;
    skip_ws(&s);
    return s.p == s.end ? SL_OK : SL_EPARSE;
}

void mj_iter_init(struct mj_iter *it, struct mj_value v)
{
    SL_ASSERT(v.type == MJ_OBJECT || v.type == MJ_ARRAY);
    it->p = (const unsigned char *)v.raw.ptr + 1;
    it->end = (const unsigned char *)v.raw.ptr + v.raw.len - 1;
}

/* The end of the string that opens at p (a validated document): the next quote not escaped. */
static const unsigned char *skip_string(const unsigned char *p, const unsigned char *end)
{
    for (p++;;) {
        const unsigned char *q = memchr(p, '"', (size_t)(end - p)), *b;
        SL_ASSERT(q != NULL);
        for (b = q; b > p && b[-1] == '\\'; b--)
            ;
        if ((q - b) % 2 == 0)
            return q + 1;
        p = q + 1;
    }
}

/* The end of the value at p in a validated document. Skipping needs no validation, so strings go
 * by memchr: walking a body a second time costs a fraction of the validating scan. */
static const unsigned char *skip_validated(const unsigned char *p, const unsigned char *end)
{
    unsigned depth = 0;

    do {
        SL_ASSERT(p < end);
        switch (*p) {
        case '"':
            p = skip_string(p, end);
            continue;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            depth--;
            break;
        default:
            if (depth == 0) {
                while (p < end && strchr(",}] \t\r\n", *p) == NULL)
                    p++;
                return p;
            }
        }
        p++;
    } while (depth != 0);
    return p;
}

static enum mj_type type_at(unsigned char c)
{
    switch (c) {
    case '{':
        return MJ_OBJECT;
    case '[':
        return MJ_ARRAY;
    case '"':
        return MJ_STRING;
    case 't':
        return MJ_TRUE;
    case 'f':
        return MJ_FALSE;
    case 'n':
        return MJ_NULL;
    default:
        return MJ_NUMBER;
    }
}

/* Takes the value at it->p and the separator after it. */
static void iter_value(struct mj_iter *it, struct mj_value *v)
{
    struct scan s = {it->p, it->end};
    const unsigned char *start;

    skip_ws(&s);
    start = s.p;
    s.p = skip_validated(s.p, s.end);
    v->type = type_at(*start);
    v->raw = sl_str_init((const char *)start, (size_t)(s.p - start));
    skip_ws(&s);
    if (s.p < s.end && *s.p == ',')
        s.p++;
    it->p = s.p;
}

bool mj_next_member(struct mj_iter *it, struct sl_str *key, struct mj_value *v)
{
    struct scan s = {it->p, it->end};
    const unsigned char *start;

    skip_ws(&s);
    if (s.p >= s.end)
        return false;
    start = s.p;
    SL_ASSERT(*s.p == '"');
    s.p = skip_string(s.p, s.end);
    *key = sl_str_init((const char *)start, (size_t)(s.p - start));
    skip_ws(&s);
    SL_ASSERT(s.p < s.end && *s.p == ':');
    it->p = s.p + 1;
    iter_value(it, v);
    return true;
}

bool mj_next_elem(struct mj_iter *it, struct mj_value *v)
{
    struct scan s = {it->p, it->end};

    skip_ws(&s);
    if (s.p >= s.end)
        return false;
    it->p = s.p;
    iter_value(it, v);
    return true;
}

static unsigned hex4(const char *p)
{
    return (unsigned)(hex_val((unsigned char)p[0]) << 12 | hex_val((unsigned char)p[1]) << 8 |
                      hex_val((unsigned char)p[2]) << 4 | hex_val((unsigned char)p[3]));
}

static size_t put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the \u escape at raw[*i] (pointing at the 'u'), joining a surrogate pair. */
static unsigned unescape_u(struct sl_str raw, size_t *i)
{
    unsigned cp = hex4(raw.ptr + *i + 1);

    *i += 4;
    if (cp >= 0xd800 && cp <= 0xdbff && *i + 6 < raw.len && raw.ptr[*i + 1] == '\\' &&
        raw.ptr[*i + 2] == 'u') {
        unsigned lo = hex4(raw.ptr + *i + 3);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            *i += 6;
            return 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
    }
    return cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp;
}

size_t mj_unescape(struct sl_str raw, char *dst)
{
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    size_t n = 0;

    SL_ASSERT(raw.len >= 2 && raw.ptr[0] == '"');
    for (size_t i = 1; i + 1 < raw.len; i++) {
        char c = raw.ptr[i];
        if (c != '\\') {
            dst[n++] = c;
            continue;
        }
        c = raw.ptr[++i];
        if (c == 'u') {
            n += put_utf8(dst + n, unescape_u(raw, &i));
            continue;
        }
        for (size_t k = 0; k < sizeof(simple) - 1; k += 2)
            if (simple[k] == c)
                dst[n++] = simple[k + 1];
    }
    return n;
}

bool mj_str_is(struct sl_str raw, const char *lit)
{
    size_t len = strlen(lit), inner = raw.len - 2;
    char buf[6 * 256];

    SL_ASSERT(len <= 256 && raw.len >= 2);
    if (inner == len && memcmp(raw.ptr + 1, lit, len) == 0)
        return true;
    /* Decoding never lengthens a string and each decoded byte takes at most six raw bytes
     * (\u00XX), so only a longer token with escapes can still match. */
    if (inner <= len || inner > 6 * len || memchr(raw.ptr, '\\', raw.len) == NULL)
        return false;
    return mj_unescape(raw, buf) == len && memcmp(buf, lit, len) == 0;
}

/* Writes the escape sequence of an ASCII byte that cannot appear raw in a JSON string. */
static char *escape_ascii(char *d, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";

    *d++ = '\\';
    switch (c) {
    case '"':
    case '\\':
        *d++ = (char)c;
        return d;
    case '\n':
        *d++ = 'n';
        return d;
    case '\r':
        *d++ = 'r';
        return d;
    case '\t':
        *d++ = 't';
        return d;
    default:
        memcpy(d, "u00", 3);
        d[3] = hex[c >> 4];
        d[4] = hex[c & 0xf];
        return d + 5;
    }
}

size_t mj_escape(char *dst, struct sl_str s)
{
    /* An empty slice may be SL_STR_NULL: no arithmetic on its NULL pointer. */
    const unsigned char *p = (const unsigned char *)s.ptr, *end = s.len != 0 ? p + s.len : p;
    char *d = dst;

    *d++ = '"';
    while (p < end) {
        const unsigned char *plain = skip_plain(p, end);
        size_t n;
        memcpy(d, p, (size_t)(plain - p));
        d += plain - p;
        p = plain;
        if (p == end)
            break;
        if (*p < 0x80) {
            d = escape_ascii(d, *p++);
            continue;
        }
        n = utf8_len(p, end);
        if (n == 0) {
            memcpy(d, "\\ufffd", 6);
            d += 6;
            p++;
        } else {
            memcpy(d, p, n);
            d += n;
            p += n;
        }
    }
    *d++ = '"';
    return (size_t)(d - dst);
}

void mj_put_u64(struct mj_writer *w, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    mj_put(w, tmp + sizeof(tmp) - n, n);
}

void mj_put_escaped(struct mj_writer *w, struct sl_str s)
{
    SL_ASSERT((size_t)(w->end - w->ptr) >= mj_escape_bound(s.len));
    w->ptr += mj_escape(w->ptr, s);
}
