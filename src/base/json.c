/* The hot-path JSON scanner (json.h): one forward pass, no allocation, no recursion. Nesting is
 * tracked in a bitset of container kinds on the C stack, sized for SL_JSON_MAX_DEPTH, so hostile
 * input cannot grow the stack. Strings are scanned 16 bytes at a time with SSE2 (else 8 with
 * SWAR) until something needs a closer look: a quote, a backslash, a control character or a
 * non-ASCII byte. */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sluice/base.h"
#include "sluice/json.h"

struct scan {
    const unsigned char *p; /* cursor */
    const unsigned char *end;
    const unsigned char *base; /* start of the document, for error offsets */
    const char *why;
    const unsigned char *at;
};

enum { ST_VALUE = 0, ST_KEY, ST_AFTER };

/* The bytes of s; an empty slice may carry a NULL pointer, and NULL + 0 is undefined. */
static inline const unsigned char *bytes_of(struct sl_str s)
{
    return s.ptr != NULL ? (const unsigned char *)s.ptr : (const unsigned char *)"";
}

static int fail(struct scan *s, const unsigned char *at, const char *why)
{
    s->why = why;
    s->at = at;
    return SL_EPARSE;
}

static void fill_error(const struct scan *s, struct sl_json_error *err)
{
    if (err == NULL)
        return;
    err->why = s->why;
    err->at = (size_t)(s->at - s->base);
}

static inline bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline void skip_ws(struct scan *s)
{
    const unsigned char *p = s->p;
    while (p < s->end && is_ws(*p))
        p++;
    s->p = p;
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when some byte of v is '"', '\\', below 0x20 or above 0x7f. The classic zero-byte test
 * can flag bytes above a true hit (borrows only move upwards), never below one, so the lowest set
 * bit is exact on a little-endian load. */
static inline uint64_t special_bytes(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"');
    uint64_t b = v ^ (ONES * '\\');
    uint64_t hit = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((v - ONES * 0x20) & ~v) | v;
    return hit & HIGHS;
}

static inline bool is_special(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/* Returns the first byte in [p, end) that is a quote, a backslash, a control or non-ASCII byte,
 * or end. */
static inline const unsigned char *find_special(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    /* A signed compare with 0x20 catches control bytes and, as negative values, bytes >= 0x80. */
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        uint64_t m = special_bytes(v);
        if (m != 0)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !is_special(*p))
        p++;
    return p;
}

/* Length of the well-formed UTF-8 sequence (2 to 4 bytes) starting with a byte >= 0x80 at p, or
 * 0 when it is ill-formed: a stray continuation byte, an overlong form, an encoded surrogate, a
 * code point above U+10FFFF or a truncated sequence (Unicode table 3-7). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c < 0xc2 || c > 0xf4)
        return 0;
    if (c < 0xe0) {
        n = 2;
    } else if (c < 0xf0) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Checks the escape at p (a backslash) and returns its length: 2, 6, or 12 for a surrogate pair
 * written as two \u escapes. Returns 0 with s->why set when it is malformed. */
static size_t check_escape(struct scan *s, const unsigned char *p)
{
    size_t room = (size_t)(s->end - p);
    if (room < 2) {
        fail(s, s->end, "unterminated string");
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;
    case 'u':
        break;
    default:
        fail(s, p, "invalid escape");
        return 0;
    }
    int cp = room >= 6 ? hex4(p + 2) : -1;
    if (cp < 0) {
        fail(s, p, "invalid \\u escape");
        return 0;
    }
    if (cp < 0xd800 || cp > 0xdfff)
        return 6;
    int lo = cp < 0xdc00 && room >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
    if (lo < 0xdc00 || lo > 0xdfff) {
        fail(s, p, "unpaired surrogate in \\u escape");
        return 0;
    }
    return 12;
}

/* Scans the string whose opening quote is at s->p; leaves s->p after the closing quote. Sets
 * *escaped when the string contains a backslash. */
static int scan_string(struct scan *s, bool *escaped)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    for (;;) {
        p = find_special(p, end);
        if (p == end)
            return fail(s, end, "unterminated string");
        unsigned char c = *p;
        size_t n;
        if (c == '"') {
            s->p = p + 1;
            return SL_OK;
        }
        if (c == '\\') {
            n = check_escape(s, p);
            if (n == 0)
                return SL_EPARSE;
            *escaped = true;
        } else if (c < 0x20) {
            return fail(s, p, "control character in string");
        } else {
            n = utf8_len(p, end);
            if (n == 0)
                return fail(s, p, "invalid UTF-8 in string");
        }
        p += n;
    }
}

static int scan_number(struct scan *s)
{
    const unsigned char *p = s->p, *end = s->end;
    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return fail(s, p, "invalid number");
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(s, p, "invalid number (leading zero)");
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return fail(s, p, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return fail(s, p, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    s->p = p;
    return SL_OK;
}

static int scan_literal(struct scan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return fail(s, s->p, "invalid literal");
    s->p += n;
    return SL_OK;
}

struct nest {
    uint64_t is_object[SL_JSON_MAX_DEPTH / 64]; /* bit d-1: the container at depth d */
    unsigned depth;
};

static inline void nest_push(struct nest *n, bool object)
{
    uint64_t bit = 1ULL << (n->depth % 64);
    if (object)
        n->is_object[n->depth / 64] |= bit;
    else
        n->is_object[n->depth / 64] &= ~bit;
    n->depth++;
}

static inline bool nest_in_object(const struct nest *n)
{
    unsigned d = n->depth - 1;
    return (n->is_object[d / 64] >> (d % 64) & 1) != 0;
}

static inline unsigned clamp_depth(unsigned max_depth)
{
    return max_depth > SL_JSON_MAX_DEPTH ? SL_JSON_MAX_DEPTH : max_depth;
}

/* Reads a member name and its colon, leaving s->p on the value (or on whitespace before it). */
static int scan_key(struct scan *s)
{
    bool escaped = false;
    skip_ws(s);
    if (s->p == s->end)
        return fail(s, s->p, "unexpected end of input");
    if (*s->p != '"')
        return fail(s, s->p, "expected a string key");
    if (scan_string(s, &escaped) != SL_OK)
        return SL_EPARSE;
    skip_ws(s);
    if (s->p == s->end)
        return fail(s, s->p, "unexpected end of input");
    if (*s->p != ':')
        return fail(s, s->p, "expected ':' after key");
    s->p++;
    return SL_OK;
}

/* Opens a container at s->p. Returns 1 when it was empty and is already closed. */
static int open_container(struct scan *s, struct nest *n, unsigned max_depth)
{
    unsigned char open = *s->p;
    if (n->depth >= max_depth)
        return fail(s, s->p, "nesting too deep");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == (open == '{' ? '}' : ']')) {
        s->p++;
        return 1;
    }
    nest_push(n, open == '{');
    return 0;
}

/* Scans one value (leading whitespace allowed) nested inside `depth` containers. For an array or
 * an object, *count receives its number of elements or members. */
static int scan_value(struct scan *s, unsigned depth, unsigned max_depth, size_t *count)
{
    struct nest n;
    const unsigned inner = depth + 1;
    bool escaped = false;
    int state = ST_VALUE, rc;
    n.depth = depth;
    *count = 0;
    for (;;) {
        switch (state) {
        case ST_VALUE:
            skip_ws(s);
            if (s->p == s->end)
                return fail(s, s->p, "unexpected end of input");
            switch (*s->p) {
            case '{':
            case '[':
                rc = open_container(s, &n, max_depth);
                if (rc < 0)
                    return rc;
                if (rc == 0 && n.depth == inner)
                    *count = 1;
                state = rc == 1 ? ST_AFTER : nest_in_object(&n) ? ST_KEY : ST_VALUE;
                break;
            case '"':
                rc = scan_string(s, &escaped);
                state = ST_AFTER;
                break;
            case 't':
                rc = scan_literal(s, "true", 4);
                state = ST_AFTER;
                break;
            case 'f':
                rc = scan_literal(s, "false", 5);
                state = ST_AFTER;
                break;
            case 'n':
                rc = scan_literal(s, "null", 4);
                state = ST_AFTER;
                break;
            default:
                if (*s->p != '-' && !is_digit(*s->p))
                    return fail(s, s->p, "unexpected character");
                rc = scan_number(s);
                state = ST_AFTER;
                break;
            }
            if (rc < 0)
                return rc;
            break;
        case ST_KEY:
            if (scan_key(s) != SL_OK)
                return SL_EPARSE;
            state = ST_VALUE;
            break;
        case ST_AFTER:
            if (n.depth == depth)
                return SL_OK;
            skip_ws(s);
            if (s->p == s->end)
                return fail(s, s->p, "unexpected end of input");
            if (*s->p == ',') {
                s->p++;
                if (n.depth == inner)
                    (*count)++;
                state = nest_in_object(&n) ? ST_KEY : ST_VALUE;
            } else if (nest_in_object(&n)) {
                if (*s->p != '}')
                    return fail(s, s->p, "expected ',' or '}'");
                s->p++;
                n.depth--;
            } else {
                if (*s->p != ']')
                    return fail(s, s->p, "expected ',' or ']'");
                s->p++;
                n.depth--;
            }
            break;
        }
    }
}

static int scan_init(struct scan *s, struct sl_str doc)
{
    s->base = bytes_of(doc);
    s->p = s->base;
    s->end = s->base + doc.len;
    s->why = NULL;
    s->at = s->base;
    skip_ws(s);
    if (s->p == s->end)
        return fail(s, s->p, "empty document");
    return SL_OK;
}

static int scan_end(struct scan *s)
{
    skip_ws(s);
    if (s->p != s->end)
        return fail(s, s->p, "trailing data after JSON value");
    return SL_OK;
}

int sl_json_validate(struct sl_str doc, unsigned max_depth, struct sl_json_error *err)
{
    struct scan s;
    size_t count;
    if (scan_init(&s, doc) != SL_OK || scan_value(&s, 0, clamp_depth(max_depth), &count) != SL_OK ||
        scan_end(&s) != SL_OK) {
        fill_error(&s, err);
        return SL_EPARSE;
    }
    return SL_OK;
}

/* Decodes the escape at p (already validated) into a code point; returns its length. */
static size_t decode_escape(const unsigned char *p, uint32_t *cp)
{
    switch (p[1]) {
    case 'b':
        *cp = '\b';
        return 2;
    case 'f':
        *cp = '\f';
        return 2;
    case 'n':
        *cp = '\n';
        return 2;
    case 'r':
        *cp = '\r';
        return 2;
    case 't':
        *cp = '\t';
        return 2;
    case 'u':
        break;
    default: /* '"', '\\', '/' */
        *cp = p[1];
        return 2;
    }
    uint32_t hi = (uint32_t)hex4(p + 2);
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        return 6;
    }
    *cp = 0x10000 + ((hi - 0xd800) << 10) + ((uint32_t)hex4(p + 8) - 0xdc00);
    return 12;
}

static size_t utf8_encode(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Compares the body of a validated string that contains escapes with a plain key, decoding one
 * escape at a time so nothing is allocated. */
static bool escaped_eq(const unsigned char *p, const unsigned char *end, struct sl_str key)
{
    const unsigned char *k = (const unsigned char *)key.ptr, *kend = k + key.len;
    while (p < end) {
        if (*p != '\\') {
            if (k == kend || *k != *p)
                return false;
            p++;
            k++;
            continue;
        }
        uint32_t cp;
        unsigned char utf8[4];
        p += decode_escape(p, &cp);
        size_t n = utf8_encode(cp, utf8);
        if ((size_t)(kend - k) < n || memcmp(k, utf8, n) != 0)
            return false;
        k += n;
    }
    return k == kend;
}

/* The member names a scan records. lens has bit L set when a wanted name is L bytes long (bit
 * 63: one is 63 or longer), so most members of a body are passed over by one test instead of a
 * loop over every wanted name. */
struct wanted {
    const struct sl_str *keys;
    size_t n;
    uint64_t lens;
};

static struct wanted wanted_of(const struct sl_str *keys, size_t n)
{
    struct wanted w = {keys, n, 0};
    for (size_t i = 0; i < n; i++)
        w.lens |= (uint64_t)1 << SL_MIN(keys[i].len, (size_t)63);
    return w;
}

/* Index of the first wanted key equal to the member name [p, end), or n. A name with escapes
 * may be longer than its decoded form, so only a plain one is filtered by length. */
static inline size_t match_key(const unsigned char *p, const unsigned char *end, bool escaped,
                               const struct wanted *w)
{
    size_t len = (size_t)(end - p);
    if (!escaped && (w->lens & ((uint64_t)1 << SL_MIN(len, (size_t)63))) == 0)
        return w->n;
    for (size_t i = 0; i < w->n; i++) {
        struct sl_str k = w->keys[i];
        if (escaped ? escaped_eq(p, end, k)
                    : k.len == len && (len == 0 || memcmp(k.ptr, p, len) == 0))
            return i;
    }
    return w->n;
}

static enum sl_json_type type_of(unsigned char c)
{
    switch (c) {
    case '{':
        return SL_JSON_OBJECT;
    case '[':
        return SL_JSON_ARRAY;
    case '"':
        return SL_JSON_STRING;
    case 't':
        return SL_JSON_TRUE;
    case 'f':
        return SL_JSON_FALSE;
    case 'n':
        return SL_JSON_NULL;
    default:
        return SL_JSON_NUMBER;
    }
}

static inline void record(const struct wanted *w, size_t first, struct sl_json_member *out,
                          const struct sl_json_member *m)
{
    unsigned seen = out[first].seen + 1;
    out[first] = *m;
    out[first].seen = seen;
    /* The same name wanted twice gets the member in each place. */
    for (size_t j = first + 1; j < w->n; j++) {
        if (w->keys[j].len == w->keys[first].len && sl_str_eq(w->keys[j], w->keys[first]))
            out[j] = out[first];
    }
}

/* ---- member names ---- */

/* Reads a key's decoded bytes one at a time (escapes expanded to UTF-8). */
struct key_reader {
    const unsigned char *p, *end;
    unsigned char pend[4];
    unsigned npend, ipend;
};

static int key_reader_next(struct key_reader *r)
{
    if (r->ipend < r->npend)
        return r->pend[r->ipend++];
    if (r->p == r->end)
        return -1;
    if (*r->p != '\\')
        return *r->p++;
    uint32_t cp;
    r->p += decode_escape(r->p, &cp);
    r->npend = (unsigned)utf8_encode(cp, r->pend);
    r->ipend = 1;
    return r->pend[0];
}

static struct key_reader key_reader_of(struct sl_json_key k)
{
    const unsigned char *p = bytes_of(k.raw);
    return (struct key_reader){.p = p, .end = p + k.raw.len};
}

bool sl__json_escaped_key_eq(struct sl_json_key key, struct sl_str s)
{
    const unsigned char *p = bytes_of(key.raw);
    return escaped_eq(p, p + key.raw.len, s);
}

static bool keys_equal(struct sl_json_key a, struct sl_json_key b)
{
    if (!a.escaped && !b.escaped)
        return a.raw.len == b.raw.len &&
               (a.raw.len == 0 || memcmp(a.raw.ptr, b.raw.ptr, a.raw.len) == 0);
    struct key_reader ra = key_reader_of(a), rb = key_reader_of(b);
    int ca, cb;
    do {
        ca = key_reader_next(&ra);
        cb = key_reader_next(&rb);
    } while (ca == cb && ca != -1);
    return ca == cb;
}

static uint32_t key_hash(struct sl_json_key k)
{
    uint32_t h = 2166136261u; /* FNV-1a over the decoded bytes */
    if (!k.escaped) {
        const unsigned char *p = bytes_of(k.raw), *end = p + k.raw.len;
        while (p < end)
            h = (h ^ *p++) * 16777619u;
        return h;
    }
    struct key_reader r = key_reader_of(k);
    for (int c = key_reader_next(&r); c != -1; c = key_reader_next(&r))
        h = (h ^ (uint32_t)c) * 16777619u;
    return h;
}

#define KEYSET_LINEAR 16

void sl_json_keyset_init(struct sl_json_keyset *s)
{
    s->_n = 0;
    s->_tags = 0;
    s->_escaped = false;
}

/* A cheap class of a plain name: two names in different classes differ. */
static inline uint64_t key_tag(struct sl_json_key k)
{
    const unsigned char *p = bytes_of(k.raw);
    unsigned t = (unsigned)k.raw.len;
    if (k.raw.len != 0)
        t = t * 31u + p[0] * 7u + p[k.raw.len - 1];
    return 1ULL << (t & 63);
}

/* True when k (whose hash is h) is present; else, when index is below the cap, records k as
 * _keys[index]. */
static bool keyset_probe(struct sl_json_keyset *s, struct sl_json_key k, uint32_t h, size_t index)
{
    const size_t mask = SL_ARRAY_LEN(s->_slots) - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (s->_slots[i] == 0) {
            if (index < SL_JSON_KEYSET_MAX)
                s->_slots[i] = (uint16_t)(index + 1);
            return false;
        }
        size_t j = s->_slots[i] - 1u;
        if (s->_hash[j] == h && keys_equal(s->_keys[j], k))
            return true;
    }
}

static int keyset_add_slow(struct sl_json_keyset *s, struct sl_json_key k)
{
    /* A request's top level has a handful of members: comparing lengths (then bytes) with each
     * earlier name costs less than hashing them. */
    if (s->_n < KEYSET_LINEAR) {
        s->_escaped |= k.escaped;
        if (!k.escaped)
            s->_tags |= key_tag(k);
        for (size_t i = 0; i < s->_n; i++) {
            const struct sl_json_key *o = &s->_keys[i];
            if ((o->escaped || k.escaped || o->raw.len == k.raw.len) && keys_equal(*o, k))
                return SL_EEXIST;
        }
        s->_keys[s->_n++] = k;
        return SL_OK;
    }
    if (s->_n == KEYSET_LINEAR) {
        memset(s->_slots, 0, sizeof(s->_slots));
        for (size_t i = 0; i < KEYSET_LINEAR; i++) {
            s->_hash[i] = key_hash(s->_keys[i]);
            (void)keyset_probe(s, s->_keys[i], s->_hash[i], i);
        }
    }
    uint32_t h = key_hash(k);
    if (keyset_probe(s, k, h, s->_n))
        return SL_EEXIST;
    if (s->_n == SL_JSON_KEYSET_MAX)
        return SL_E2BIG;
    s->_hash[s->_n] = h;
    s->_keys[s->_n++] = k;
    return SL_OK;
}

/* Most names are plain and of a class never seen before: then they are new, and recording them
 * takes a few instructions inlined into the scanner's member loop. */
static inline int keyset_add(struct sl_json_keyset *s, struct sl_json_key k)
{
    if (s->_n < KEYSET_LINEAR && !k.escaped && !s->_escaped) {
        uint64_t tag = key_tag(k);
        if ((s->_tags & tag) == 0) {
            s->_tags |= tag;
            s->_keys[s->_n++] = k;
            return SL_OK;
        }
    }
    return keyset_add_slow(s, k);
}

int sl_json_keyset_add(struct sl_json_keyset *s, struct sl_json_key k)
{
    return keyset_add(s, k);
}

/* Names already seen in the top-level object, when repeats are refused. */
struct unique {
    struct sl_json_keyset *seen;
    struct sl_json_key *dup;
};

static int check_unique(struct scan *s, struct unique *u, const unsigned char *kstart, bool escaped)
{
    struct sl_json_key k = {sl_str_init((const char *)kstart + 1, (size_t)(s->p - kstart) - 2),
                            escaped};
    int rc = keyset_add(u->seen, k);
    if (rc == SL_OK)
        return SL_OK;
    *u->dup = k;
    fail(s, kstart, rc == SL_EEXIST ? "duplicate key" : "too many members");
    return rc;
}

/* Scans one member of the top-level object: s->p is on the key's opening quote. */
static int scan_member(struct scan *s, unsigned max_depth, const struct wanted *w,
                       struct sl_json_member *out, struct unique *u)
{
    const unsigned char *kstart = s->p;
    bool escaped = false;
    struct sl_json_member m;
    int rc;
    if (scan_string(s, &escaped) != SL_OK)
        return SL_EPARSE;
    rc = u != NULL ? check_unique(s, u, kstart, escaped) : SL_OK;
    if (rc != SL_OK)
        return rc;
    size_t which = match_key(kstart + 1, s->p - 1, escaped, w);
    skip_ws(s);
    if (s->p == s->end)
        return fail(s, s->p, "unexpected end of input");
    if (*s->p != ':')
        return fail(s, s->p, "expected ':' after key");
    s->p++;
    skip_ws(s);
    const unsigned char *vstart = s->p;
    if (scan_value(s, 1, max_depth, &m.count) != SL_OK)
        return SL_EPARSE;
    if (which == w->n)
        return SL_OK;
    m.type = type_of(*vstart);
    m.value = sl_str_init((const char *)vstart, (size_t)(s->p - vstart));
    m.member = sl_str_init((const char *)kstart, (size_t)(s->p - kstart));
    if (m.type != SL_JSON_ARRAY && m.type != SL_JSON_OBJECT)
        m.count = 0;
    record(w, which, out, &m);
    return SL_OK;
}

static int scan_members(struct scan *s, unsigned max_depth, const struct wanted *w,
                        struct sl_json_member *out, struct unique *u)
{
    int rc;
    if (max_depth == 0)
        return fail(s, s->p, "nesting too deep");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return SL_OK;
    }
    for (;;) {
        skip_ws(s);
        if (s->p == s->end)
            return fail(s, s->p, "unexpected end of input");
        if (*s->p != '"')
            return fail(s, s->p, "expected a string key");
        rc = scan_member(s, max_depth, w, out, u);
        if (rc != SL_OK)
            return rc;
        skip_ws(s);
        if (s->p == s->end)
            return fail(s, s->p, "unexpected end of input");
        if (*s->p == '}') {
            s->p++;
            return SL_OK;
        }
        if (*s->p != ',')
            return fail(s, s->p, "expected ',' or '}'");
        s->p++;
    }
}

static int scan_object(struct sl_str doc, unsigned max_depth, const struct sl_str *keys, size_t n,
                       struct sl_json_member *out, struct sl_json_error *err, struct unique *u)
{
    struct scan s;
    int rc = SL_EPARSE;
    for (size_t i = 0; i < n; i++)
        out[i] = (struct sl_json_member){.type = SL_JSON_ABSENT};
    max_depth = clamp_depth(max_depth);
    if (scan_init(&s, doc) != SL_OK)
        goto fail;
    if (*s.p != '{') {
        /* Say what is wrong with the document if anything is; else that it is not an object. */
        const unsigned char *first = s.p;
        if (sl_json_validate(doc, max_depth, err) != SL_OK)
            return SL_EPARSE;
        fail(&s, first, "expected an object");
        goto fail;
    }
    struct wanted w = wanted_of(keys, n);
    rc = scan_members(&s, max_depth, &w, out, u);
    if (rc == SL_OK)
        rc = scan_end(&s);
    if (rc == SL_OK)
        return SL_OK;
fail:
    for (size_t i = 0; i < n; i++)
        out[i] = (struct sl_json_member){.type = SL_JSON_ABSENT};
    fill_error(&s, err);
    return rc;
}

int sl_json_scan_object(struct sl_str doc, unsigned max_depth, const struct sl_str *keys, size_t n,
                        struct sl_json_member *out, struct sl_json_error *err)
{
    return scan_object(doc, max_depth, keys, n, out, err, NULL);
}

int sl_json_scan_unique(struct sl_str doc, unsigned max_depth, const struct sl_str *keys, size_t n,
                        struct sl_json_member *out, struct sl_json_error *err,
                        struct sl_json_keyset *seen, struct sl_json_key *dup)
{
    struct unique u = {seen, dup};
    sl_json_keyset_init(seen);
    return scan_object(doc, max_depth, keys, n, out, err, &u);
}

int sl_json_find(struct sl_str obj, struct sl_str key, struct sl_json_member *out)
{
    if (sl_json_scan_object(obj, SL_JSON_MAX_DEPTH, &key, 1, out, NULL) != SL_OK)
        return SL_EPARSE;
    return out->type == SL_JSON_ABSENT ? SL_ENOENT : SL_OK;
}

int sl_json_unescape(struct sl_str raw, struct sl_buf *dst)
{
    struct scan s;
    bool escaped = false;
    size_t keep = dst->len;
    s.base = bytes_of(raw);
    s.p = s.base;
    s.end = s.base + raw.len;
    if (raw.len < 2 || *s.p != '"' || scan_string(&s, &escaped) != SL_OK || s.p != s.end)
        return SL_EPARSE;
    const unsigned char *p = s.base + 1, *end = s.end - 1;
    int rc = SL_OK;
    while (p < end && rc == SL_OK) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
        if (bs == NULL)
            bs = end;
        rc = sl_buf_append(dst, p, (size_t)(bs - p));
        p = bs;
        if (p == end || rc != SL_OK)
            break;
        uint32_t cp;
        unsigned char utf8[4];
        p += decode_escape(p, &cp);
        rc = sl_buf_append(dst, utf8, utf8_encode(cp, utf8));
    }
    if (rc != SL_OK) {
        dst->len = keep;
        if (dst->ptr != NULL)
            dst->ptr[keep] = '\0';
    }
    return rc;
}

/* Escapes needed by a byte below 0x80: 0 none, 1 a two-character form, 2 \u00XX. */
static inline int escape_kind(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 1;
    return c < 0x20 ? 2 : 0;
}

static int append_escape(struct sl_buf *dst, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', (char)c, 0, 0, 0, 0};
    switch (c) {
    case '\b':
        e[1] = 'b';
        break;
    case '\f':
        e[1] = 'f';
        break;
    case '\n':
        e[1] = 'n';
        break;
    case '\r':
        e[1] = 'r';
        break;
    case '\t':
        e[1] = 't';
        break;
    case '"':
    case '\\':
        break;
    default:
        memcpy(e + 1, "u00", 3);
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        return sl_buf_append(dst, e, 6);
    }
    return sl_buf_append(dst, e, 2);
}

int sl_json_escape(struct sl_buf *dst, struct sl_str s)
{
    const unsigned char *p = bytes_of(s), *end = p + s.len;
    size_t keep = dst->len;
    int rc = sl_buf_append(dst, "\"", 1);
    while (p < end && rc == SL_OK) {
        const unsigned char *run = p;
        while (p < end && (*p >= 0x80 || escape_kind(*p) == 0))
            p++;
        rc = sl_buf_append(dst, run, (size_t)(p - run));
        if (p < end && rc == SL_OK)
            rc = append_escape(dst, *p++);
    }
    if (rc == SL_OK)
        rc = sl_buf_append(dst, "\"", 1);
    if (rc != SL_OK) {
        dst->len = keep;
        if (dst->ptr != NULL)
            dst->ptr[keep] = '\0';
    }
    return rc;
}

int sl_json_to_u64(struct sl_str raw, uint64_t *out)
{
    if (raw.len > 1 && raw.ptr[0] == '0')
        return SL_EPARSE;
    return sl_str_to_u64(raw, UINT64_MAX, out);
}

/* ---- iteration ---- */

static void iter_fail(struct sl_json_iter *it, const struct scan *s)
{
    it->_why = s->why;
    it->_at = s->at;
    it->_closed = true;
    it->_p = it->_end; /* every later call fails the same way */
}

static void iter_load(const struct sl_json_iter *it, struct scan *s)
{
    s->p = it->_p;
    s->end = it->_end;
    s->base = it->_base;
    s->why = NULL;
    s->at = it->_p;
}

int sl_json_iter_init(struct sl_json_iter *it, struct sl_str doc, unsigned max_depth)
{
    struct scan s;
    *it = (struct sl_json_iter){._max_depth = clamp_depth(max_depth), ._first = true};
    if (scan_init(&s, doc) != SL_OK)
        goto fail;
    if (*s.p != '{' && *s.p != '[') {
        fail(&s, s.p, "expected an object or an array");
        goto fail;
    }
    if (it->_max_depth == 0) {
        fail(&s, s.p, "nesting too deep");
        goto fail;
    }
    it->_object = *s.p == '{';
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == (it->_object ? '}' : ']')) {
        s.p++;
        it->_closed = true;
    }
    it->_p = s.p;
    it->_end = s.end;
    it->_base = s.base;
    return SL_OK;
fail:
    it->_base = s.base;
    it->_end = s.end;
    iter_fail(it, &s);
    return SL_EPARSE;
}

/* After the last element: the closing bracket was consumed; only whitespace may follow. */
static int iter_finish(struct sl_json_iter *it, struct scan *s)
{
    if (it->_why != NULL)
        return SL_EPARSE;
    if (scan_end(s) != SL_OK) {
        iter_fail(it, s);
        return SL_EPARSE;
    }
    it->_p = s->p;
    return 0;
}

int sl_json_iter_next(struct sl_json_iter *it, struct sl_json_key *key, struct sl_json_member *val)
{
    struct scan s;
    iter_load(it, &s);
    if (it->_closed)
        return iter_finish(it, &s);
    if (!it->_first) {
        skip_ws(&s);
        if (s.p == s.end) {
            fail(&s, s.p, "unexpected end of input");
            goto fail;
        }
        if (*s.p == (it->_object ? '}' : ']')) {
            s.p++;
            it->_closed = true;
            return iter_finish(it, &s);
        }
        if (*s.p != ',') {
            fail(&s, s.p, it->_object ? "expected ',' or '}'" : "expected ',' or ']'");
            goto fail;
        }
        s.p++;
    }
    it->_first = false;
    if (it->_object) {
        skip_ws(&s);
        const unsigned char *kstart = s.p;
        bool escaped = false;
        if (s.p == s.end || *s.p != '"') {
            fail(&s, s.p, s.p == s.end ? "unexpected end of input" : "expected a string key");
            goto fail;
        }
        if (scan_string(&s, &escaped) != SL_OK)
            goto fail;
        if (key != NULL)
            *key = (struct sl_json_key){
                sl_str_init((const char *)kstart + 1, (size_t)(s.p - kstart) - 2), escaped};
        skip_ws(&s);
        if (s.p == s.end || *s.p != ':') {
            fail(&s, s.p, s.p == s.end ? "unexpected end of input" : "expected ':' after key");
            goto fail;
        }
        s.p++;
        val->member = sl_str_init((const char *)kstart, 0);
    }
    skip_ws(&s);
    const unsigned char *vstart = s.p;
    if (scan_value(&s, 1, it->_max_depth, &val->count) != SL_OK)
        goto fail;
    val->type = type_of(*vstart);
    val->value = sl_str_init((const char *)vstart, (size_t)(s.p - vstart));
    if (it->_object)
        val->member.len = (size_t)(s.p - (const unsigned char *)val->member.ptr);
    else
        val->member = val->value;
    if (val->type != SL_JSON_ARRAY && val->type != SL_JSON_OBJECT)
        val->count = 0;
    it->_p = s.p;
    return 1;
fail:
    iter_fail(it, &s);
    return SL_EPARSE;
}

struct sl_json_error sl_json_iter_error(const struct sl_json_iter *it)
{
    struct sl_json_error e = {"no error", 0};
    if (it->_why != NULL)
        e = (struct sl_json_error){it->_why, (size_t)(it->_at - it->_base)};
    return e;
}

/* ---- skimming ---- */

/* The first '"' or '\\' in [p, end), or end. */
static inline const unsigned char *find_quote(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        if (m != 0)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Past the string whose opening quote is at p, or NULL when it does not end. */
static const unsigned char *skim_string(const unsigned char *p, const unsigned char *end,
                                        bool *escaped)
{
    p++;
    for (;;) {
        p = find_quote(p, end);
        if (p == end)
            return NULL;
        if (*p == '"')
            return p + 1;
        *escaped = true;
        p += 2; /* the backslash and the byte it escapes */
        if (p > end)
            return NULL;
    }
}

/* The first byte in [p, end) that matters inside a container: a quote or a bracket. */
static inline const unsigned char *find_structural(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), lb = _mm_set1_epi8('['), rb = _mm_set1_epi8(']'),
                  lc = _mm_set1_epi8('{'), rc = _mm_set1_epi8('}');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, lb)),
                         _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, rb), _mm_cmpeq_epi8(v, lc)),
                                      _mm_cmpeq_epi8(v, rc)));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '[' && *p != ']' && *p != '{' && *p != '}')
        p++;
    return p;
}

/* Past the container opening at p (brackets balanced, strings skipped), or NULL. *empty says
 * whether it held nothing. */
static const unsigned char *skim_container(const unsigned char *p, const unsigned char *end,
                                           bool *empty)
{
    unsigned depth = 0;
    const unsigned char *q = p + 1;
    while (q < end && is_ws(*q))
        q++;
    *empty = q < end && (*q == ']' || *q == '}');
    for (;;) {
        p = find_structural(p, end);
        if (p == end)
            return NULL;
        bool escaped = false;
        switch (*p) {
        case '"':
            p = skim_string(p, end, &escaped);
            if (p == NULL)
                return NULL;
            continue;
        case '[':
        case '{':
            if (++depth > SL_JSON_MAX_DEPTH)
                return NULL;
            break;
        default: /* ']' or '}' */
            if (--depth == 0)
                return p + 1;
            break;
        }
        p++;
    }
}

/* Past a number or a literal: up to the next separator. */
static const unsigned char *skim_scalar(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p))
        p++;
    return p;
}

static int skim_member(const unsigned char **pp, const unsigned char *end, const struct wanted *w,
                       struct sl_json_member *out)
{
    const unsigned char *p = *pp, *kstart = p, *v;
    bool escaped = false, empty = false;
    struct sl_json_member m = {.count = 0};
    p = skim_string(p, end, &escaped);
    if (p == NULL)
        return SL_EPARSE;
    /* A name with escapes is compared decoded: it must be a valid string first. */
    if (escaped) {
        struct scan s = {.p = kstart, .end = p, .base = kstart};
        bool again = false;
        if (scan_string(&s, &again) != SL_OK || s.p != p)
            return SL_EPARSE;
    }
    size_t which = match_key(kstart + 1, p - 1, escaped, w);
    while (p < end && is_ws(*p))
        p++;
    if (p == end || *p != ':')
        return SL_EPARSE;
    p++;
    while (p < end && is_ws(*p))
        p++;
    if (p == end)
        return SL_EPARSE;
    v = p;
    if (*p == '"')
        p = skim_string(p, end, &escaped);
    else if (*p == '{' || *p == '[')
        p = skim_container(p, end, &empty);
    else
        p = skim_scalar(p, end);
    if (p == NULL || p == v)
        return SL_EPARSE;
    *pp = p;
    if (which == w->n)
        return SL_OK;
    m.type = type_of(*v);
    m.value = sl_str_init((const char *)v, (size_t)(p - v));
    m.member = sl_str_init((const char *)kstart, (size_t)(p - kstart));
    m.count = (m.type == SL_JSON_ARRAY || m.type == SL_JSON_OBJECT) && !empty ? 1 : 0;
    record(w, which, out, &m);
    return SL_OK;
}

int sl_json_skim_object(struct sl_str doc, const struct sl_str *keys, size_t n,
                        struct sl_json_member *out)
{
    const unsigned char *p = bytes_of(doc), *end = p + doc.len;
    struct wanted w = wanted_of(keys, n);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct sl_json_member){.type = SL_JSON_ABSENT};
    while (p < end && is_ws(*p))
        p++;
    if (p == end || *p != '{')
        goto fail;
    p++;
    for (bool first = true;; first = false) {
        while (p < end && is_ws(*p))
            p++;
        if (p == end)
            goto fail;
        if (*p == '}' && first)
            break;
        if (*p != '"' || skim_member(&p, end, &w, out) != SL_OK)
            goto fail;
        while (p < end && is_ws(*p))
            p++;
        if (p == end)
            goto fail;
        if (*p == '}')
            break;
        if (*p != ',')
            goto fail;
        p++;
    }
    p++;
    while (p < end && is_ws(*p))
        p++;
    if (p == end)
        return SL_OK;
fail:
    for (size_t i = 0; i < n; i++)
        out[i] = (struct sl_json_member){.type = SL_JSON_ABSENT};
    return SL_EPARSE;
}
