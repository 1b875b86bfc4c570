/* Fuzz target for the JSON scanner (src/base/json.c). For every input:
 * - validate, and cross-check the verdict against jansson (an independent strict parser);
 * - scan_object for a few keys; every member found must be a valid value inside the input whose
 *   span ends where its value ends, find must agree, and each string must unescape, escape and
 *   unescape again to the same bytes;
 * - escape the whole input and unescape it back: equal when the input is UTF-8, else rejected.
 * Any disagreement aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool within(struct sl_str inner, struct sl_str outer)
{
    return inner.ptr >= outer.ptr && inner.ptr + inner.len <= outer.ptr + outer.len;
}

/* jansson reports these for documents that are valid JSON but exceed its own limits. */
static bool jansson_limit(const char *text)
{
    return strstr(text, "too big") != NULL || strstr(text, "real number overflow") != NULL ||
           strstr(text, "NUL byte in object key") != NULL ||
           strstr(text, "maximum parsing depth") != NULL;
}

static void check_against_jansson(struct sl_str doc)
{
    struct sl_json_error err = {NULL, 0};
    int ours = sl_json_validate(doc, SL_JSON_MAX_DEPTH, &err);
    json_error_t jerr;
    /* A raw NUL is never valid JSON; jansson takes it for the end of the input. */
    if (memchr(doc.ptr, '\0', doc.len) != NULL) {
        CHECK(ours == SL_EPARSE);
        return;
    }
    json_t *j = json_loadb(doc.ptr, doc.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (ours == SL_OK && j == NULL && !jansson_limit(jerr.text)) {
        fprintf(stderr, "fuzz_json: accepted, jansson says: %s\n", jerr.text);
        abort();
    }
    if (ours != SL_OK && j != NULL && strcmp(err.why, "nesting too deep") != 0) {
        fprintf(stderr, "fuzz_json: rejected (%s at %zu), jansson accepts\n", err.why, err.at);
        abort();
    }
    json_decref(j);
}

/* unescape(raw) -> s; escape(s) must be a valid string that unescapes to s again. */
static void check_string(struct sl_str raw)
{
    struct sl_buf a, b, c;
    sl_buf_init(&a, raw.len);
    sl_buf_init(&b, 6 * raw.len + 2);
    sl_buf_init(&c, raw.len);
    CHECK(sl_json_unescape(raw, &a) == SL_OK);
    CHECK(a.len <= raw.len - 2);
    CHECK(sl_json_escape(&b, sl_buf_str(&a)) == SL_OK);
    CHECK(sl_json_validate(sl_buf_str(&b), 1, NULL) == SL_OK);
    CHECK(sl_json_unescape(sl_buf_str(&b), &c) == SL_OK);
    CHECK(sl_str_eq(sl_buf_str(&a), sl_buf_str(&c)));
    sl_buf_dispose(&a);
    sl_buf_dispose(&b);
    sl_buf_dispose(&c);
}

static void check_member(struct sl_str doc, struct sl_str key, const struct sl_json_member *m)
{
    struct sl_json_member f;
    CHECK(within(m->value, doc) && within(m->member, doc));
    CHECK(m->member.ptr[0] == '"');
    CHECK(m->member.ptr + m->member.len == m->value.ptr + m->value.len);
    CHECK(sl_json_validate(m->value, SL_JSON_MAX_DEPTH, NULL) == SL_OK);
    CHECK(m->value.len > 0 && m->value.ptr[0] != ' ');
    CHECK(sl_json_find(doc, key, &f) == SL_OK);
    CHECK(f.type == m->type && f.value.ptr == m->value.ptr && f.value.len == m->value.len);
    CHECK(f.count == m->count);
    if (m->type != SL_JSON_ARRAY && m->type != SL_JSON_OBJECT)
        CHECK(m->count == 0);
    else
        CHECK(m->count <= m->value.len / 2);
    if (m->type == SL_JSON_STRING)
        check_string(m->value);
    if (m->type == SL_JSON_NUMBER) {
        uint64_t v;
        char tmp[32];
        if (sl_json_to_u64(m->value, &v) == SL_OK) {
            CHECK(m->value.len < sizeof(tmp));
            memcpy(tmp, m->value.ptr, m->value.len);
            tmp[m->value.len] = '\0';
            CHECK(strtoull(tmp, NULL, 10) == v);
        }
    }
}

/* jansson keeps the last of duplicate keys too: each member found (or not) must match its
 * lookup, and the value slice must parse to an equal value. */
static void check_scan_against_jansson(struct sl_str doc, const struct sl_str *keys,
                                       const struct sl_json_member *out, size_t n)
{
    json_t *j = json_loadb(doc.ptr, doc.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j == NULL)
        return; /* beyond one of jansson's limits (checked in check_against_jansson) */
    CHECK(json_is_object(j));
    for (size_t i = 0; i < n; i++) {
        json_t *want = json_object_getn(j, keys[i].ptr, keys[i].len);
        CHECK((want != NULL) == (out[i].type != SL_JSON_ABSENT));
        if (want == NULL)
            continue;
        json_t *got =
            json_loadb(out[i].value.ptr, out[i].value.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        CHECK(got != NULL && json_equal(got, want));
        if (json_is_array(want))
            CHECK(json_array_size(want) == out[i].count);
        else if (json_is_object(want))
            CHECK(json_object_size(want) <= out[i].count); /* duplicates count as members */
        json_decref(got);
    }
    json_decref(j);
}

/* Skimming a valid object finds exactly what the validating scan finds; on any input it never
 * reads out of bounds and whatever it reports lies inside the document. */
static void check_skim(struct sl_str doc, const struct sl_str *keys, size_t n,
                       const struct sl_json_member *scanned, bool valid)
{
    struct sl_json_member out[8];
    CHECK(n <= 8);
    int rc = sl_json_skim_object(doc, keys, n, out);
    if (valid)
        CHECK(rc == SL_OK);
    for (size_t i = 0; i < n; i++) {
        if (rc != SL_OK) {
            CHECK(out[i].type == SL_JSON_ABSENT);
            continue;
        }
        if (out[i].type != SL_JSON_ABSENT)
            CHECK(within(out[i].value, doc) && within(out[i].member, doc));
        if (!valid)
            continue;
        CHECK(out[i].type == scanned[i].type && out[i].seen == scanned[i].seen);
        CHECK(sl_str_eq(out[i].value, scanned[i].value));
        CHECK(sl_str_eq(out[i].member, scanned[i].member));
        CHECK((out[i].count == 0) == (scanned[i].count == 0));
    }
}

static void check_scan(struct sl_str doc)
{
    static const struct sl_str keys[] = {
        {"model", 5}, {"stream", 6}, {"messages", 8},    {"usage", 5},
        {"", 0},      {"a", 1},      {"caf\xc3\xa9", 5},
    };
    enum { N = sizeof(keys) / sizeof(keys[0]) };
    struct sl_json_member out[N];
    struct sl_json_error err = {NULL, 0};
    int v = sl_json_validate(doc, 16, NULL);
    int rc = sl_json_scan_object(doc, 16, keys, N, out, &err);
    check_skim(doc, keys, N, out, rc == SL_OK);
    if (rc != SL_OK) {
        CHECK(rc == SL_EPARSE && err.why != NULL && err.at <= doc.len);
        for (size_t i = 0; i < N; i++)
            CHECK(out[i].type == SL_JSON_ABSENT);
        return;
    }
    CHECK(v == SL_OK);
    for (size_t i = 0; i < N; i++) {
        if (out[i].type != SL_JSON_ABSENT)
            check_member(doc, keys[i], &out[i]);
    }
    check_scan_against_jansson(doc, keys, out, N);
}

static void check_escape_roundtrip(struct sl_str s)
{
    struct sl_buf e, u;
    struct sl_json_error err = {NULL, 0};
    sl_buf_init(&e, 6 * s.len + 2);
    sl_buf_init(&u, s.len + 1);
    CHECK(sl_json_escape(&e, s) == SL_OK);
    if (sl_json_validate(sl_buf_str(&e), 1, &err) == SL_OK) {
        CHECK(sl_json_unescape(sl_buf_str(&e), &u) == SL_OK);
        CHECK(sl_str_eq(sl_buf_str(&u), s));
    } else {
        /* Only bytes escape copies as-is can make its output invalid. */
        CHECK(strcmp(err.why, "invalid UTF-8 in string") == 0);
        CHECK(sl_json_unescape(sl_buf_str(&e), &u) == SL_EPARSE);
        CHECK(u.len == 0);
    }
    sl_buf_dispose(&e);
    sl_buf_dispose(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_str doc = {(const char *)data, size};
    struct sl_json_error err = {NULL, 0};
    if (sl_json_validate(doc, SL_JSON_DEFAULT_MAX_DEPTH, &err) != SL_OK)
        CHECK(err.why != NULL && err.at <= size);
    check_against_jansson(doc);
    check_scan(doc);
    check_escape_roundtrip(doc);
    /* The input read as the inside of a string literal, when it looks like one. */
    if (size >= 2 && data[0] == '"') {
        struct sl_buf u;
        sl_buf_init(&u, size);
        int rc = sl_json_unescape(doc, &u);
        bool is_string = data[size - 1] == '"' && sl_json_validate(doc, 0, NULL) == SL_OK;
        CHECK((rc == SL_OK) == is_string);
        if (rc == SL_OK)
            check_string(doc);
        else
            CHECK(u.len == 0);
        sl_buf_dispose(&u);
    }
    return 0;
}
