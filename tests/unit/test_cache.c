/* Unit tests for the response cache's key and memory store (src/policy/cache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/base.h"
#include "sluice/cache.h"

int main(void);

#define BODY                                                                                       \
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.5}"

static struct sl_cache_key_input input(const char *body)
{
    return (struct sl_cache_key_input){.route = "chat_completions",
                                       .alias = SL_STRLIT("m"),
                                       .policy_id = "11111111-2222-5333-8444-555555555555",
                                       .purge_generation = 0,
                                       .key_name = "ci",
                                       .body = sl_str_from_cstr(body)};
}

static struct sl_cache_key key_of(const struct sl_cache_key_input *in)
{
    struct sl_cache_key k;
    assert_int_equal(sl_cache_key(in, &k), SL_OK);
    return k;
}

static bool same(struct sl_cache_key a, struct sl_cache_key b)
{
    return memcmp(a.d, b.d, sizeof(a.d)) == 0;
}

/* Member order, whitespace and the members that do not change the answer leave the key alone. */
static void test_key_invariance(void **state)
{
    (void)state;
    struct sl_cache_key_input in = input(BODY);
    struct sl_cache_key k = key_of(&in);
    const char *variants[] = {
        "{ \"temperature\" : 0.5,\n \"messages\": [ {\"content\":\"hi\", \"role\":\"user\"} ],"
        "\"model\":\"m\"}",
        "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"temperature\":0.5,\"user\":\"alice\",\"metadata\":{\"trace\":\"1\"}}",
        "\t{\"messages\":[{\"role\":\"user\",\"content\":\"\\u0068i\"}],\"model\":\"m\","
        "\"temperature\":0.5}\r\n",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(variants); i++) {
        struct sl_cache_key_input v = input(variants[i]);
        if (!same(k, key_of(&v)))
            fail_msg("variant %zu changed the key", i);
    }
    char hex[65];
    sl_cache_key_hex(&k, hex);
    assert_int_equal(strlen(hex), 64);
}

/* Every field that changes the answer changes the key. */
static void test_key_fields(void **state)
{
    (void)state;
    struct sl_cache_key_input in = input(BODY);
    struct sl_cache_key k = key_of(&in);
    const char *bodies[] = {
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"ho\"}],\"temperature\":0."
        "5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}],"
        "\"temperature\":0.5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0."
        "6}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        BODY "x",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bodies) - 1; i++) {
        struct sl_cache_key_input v = input(bodies[i]);
        if (same(k, key_of(&v)))
            fail_msg("body %zu kept the key", i);
    }
    struct sl_cache_key_input bad = input(bodies[SL_ARRAY_LEN(bodies) - 1]);
    struct sl_cache_key unused;
    assert_int_equal(sl_cache_key(&bad, &unused), SL_EPARSE);
    /* Each added member: sampling, tools, format, seed, stop, and stream_options (it decides
     * whether the caller's stream carries usage). */
    const char *members[] = {
        "\"top_p\":0.9",
        "\"max_tokens\":5",
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
        "\"response_format\":{\"type\":\"json_object\"}",
        "\"seed\":7",
        "\"stop\":[\"\\n\"]",
        "\"stream_options\":{\"include_usage\":true}",
        "\"n\":2",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(members); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                 "\"temperature\":0.5,%s}",
                 members[i]);
        struct sl_cache_key_input v = input(body);
        if (same(k, key_of(&v)))
            fail_msg("member %s kept the key", members[i]);
    }
    struct sl_cache_key_input v = in;
    v.route = "messages"; /* the dialect */
    assert_false(same(k, key_of(&v)));
    v = in;
    v.alias = SL_STRLIT("m2");
    assert_false(same(k, key_of(&v)));
    v = in;
    v.stream = true;
    assert_false(same(k, key_of(&v)));
    v = in;
    v.policy_id = "11111111-2222-5333-8444-555555555556";
    assert_false(same(k, key_of(&v)));
    v = in;
    v.purge_generation = 1;
    assert_false(same(k, key_of(&v)));
    v = in;
    v.key_name = "other";
    assert_false(same(k, key_of(&v)));
    v = in;
    v.key_name = NULL; /* scope env */
    assert_false(same(k, key_of(&v)));
    v.key_name = "";
    assert_false(same(k, key_of(&v)));
}

static struct sl_cache_key nth_key(unsigned i, uint8_t shard)
{
    struct sl_cache_key k = {{0}};
    k.d[0] = shard;
    memcpy(k.d + 1, &i, sizeof(i));
    k.d[20] = (uint8_t)(i * 7);
    return k;
}

static struct sl_cache_entry *entry(size_t len, char fill)
{
    char body[8192];
    assert_true(len <= sizeof(body));
    memset(body, fill, len);
    struct sl_cache_meta m = {.prompt_tokens = 3, .completion_tokens = 4};
    snprintf(m.ctype, sizeof(m.ctype), "application/json");
    return sl_cache_entry_new(&m, body, len);
}

/* The store never holds more than its bound; entries too large for a shard are refused. */
static void test_store_bound(void **state)
{
    (void)state;
    size_t esize = sl_cache_entry_size(1000);
    /* Room for exactly 3 entries per shard. */
    struct sl_cache_store *s = sl_cache_store_new((uint64_t)(3 * esize + 10) * SL_CACHE_SHARDS);
    struct sl_cache_stats st;
    for (unsigned i = 0; i < 1000; i++) {
        struct sl_cache_key k = nth_key(i, (uint8_t)(i % 5));
        assert_int_equal(sl_cache_store_put(s, &k, entry(1000, 'a'), 0, 60000), SL_OK);
        sl_cache_store_stats(s, &st);
        assert_true(st.bytes <= (3 * esize + 10) * SL_CACHE_SHARDS);
    }
    sl_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 15); /* five shards used, three entries each */
    assert_int_equal(st.bytes, 15 * esize);
    assert_int_equal(st.evictions, 1000 - 15);
    assert_int_equal(sl_cache_store_max_body(s), 3 * esize + 10 - sl_cache_entry_size(0));
    struct sl_cache_key big = nth_key(5000, 1);
    assert_int_equal(sl_cache_store_put(s, &big, entry(3 * 1000 + 2000, 'b'), 0, 60000), SL_E2BIG);
    sl_cache_store_free(s);

    s = sl_cache_store_new(0);
    struct sl_cache_key k = nth_key(1, 1);
    assert_int_equal(sl_cache_store_put(s, &k, entry(1, 'a'), 0, 1000), SL_E2BIG);
    assert_null(sl_cache_store_get(s, &k, 0));
    sl_cache_store_free(s);
}

/* The least recently used entry goes first; a hit makes an entry the most recent. */
static void test_store_lru(void **state)
{
    (void)state;
    size_t esize = sl_cache_entry_size(100);
    struct sl_cache_store *s = sl_cache_store_new((uint64_t)(3 * esize) * SL_CACHE_SHARDS);
    struct sl_cache_key k[4];
    for (unsigned i = 0; i < 4; i++)
        k[i] = nth_key(i, 2);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(sl_cache_store_put(s, &k[i], entry(100, (char)('a' + i)), 0, 60000),
                         SL_OK);
    struct sl_cache_entry *e = sl_cache_store_get(s, &k[0], 1);
    assert_non_null(e);
    assert_int_equal(e->body[0], 'a');
    assert_int_equal(e->meta.completion_tokens, 4);
    assert_string_equal(e->meta.ctype, "application/json");
    /* k[1] is now the least recently used. */
    assert_int_equal(sl_cache_store_put(s, &k[3], entry(100, 'd'), 2, 60000), SL_OK);
    assert_null(sl_cache_store_get(s, &k[1], 3));
    struct sl_cache_entry *e2 = sl_cache_store_get(s, &k[2], 3);
    assert_non_null(e2);
    sl_cache_entry_unref(e2);
    assert_non_null((e2 = sl_cache_store_get(s, &k[3], 3)));
    sl_cache_entry_unref(e2);
    /* A replaced entry still referenced by a reply stays readable until released. */
    assert_int_equal(sl_cache_store_put(s, &k[0], entry(100, 'z'), 4, 60000), SL_OK);
    assert_int_equal(e->body[99], 'a');
    sl_cache_entry_unref(e);
    assert_non_null((e = sl_cache_store_get(s, &k[0], 5)));
    assert_int_equal(e->body[0], 'z');
    sl_cache_entry_unref(e);
    struct sl_cache_stats st;
    sl_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    sl_cache_store_free(s);
}

/* An entry answers until its TTL passes, then is dropped (counted as expired, not evicted). */
static void test_store_ttl(void **state)
{
    (void)state;
    struct sl_cache_store *s = sl_cache_store_new(1 << 20);
    struct sl_cache_key k = nth_key(9, 3);
    assert_int_equal(sl_cache_store_put(s, &k, entry(10, 'x'), 1000, 500), SL_OK);
    struct sl_cache_entry *e = sl_cache_store_get(s, &k, 1499);
    assert_non_null(e);
    sl_cache_entry_unref(e);
    assert_null(sl_cache_store_get(s, &k, 1500));
    struct sl_cache_stats st;
    sl_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.expirations, 1);
    assert_int_equal(st.evictions, 0);
    sl_cache_store_free(s);
}

/* Redis values round-trip; anything else is not an entry. */
static void test_values(void **state)
{
    (void)state;
    struct sl_cache_meta m = {.stream = true, .prompt_tokens = -1, .completion_tokens = 1234567};
    snprintf(m.ctype, sizeof(m.ctype), "text/event-stream; charset=utf-8");
    struct sl_cache_entry *e = sl_cache_entry_new(&m, "data: x\n\n", 9);
    char buf[256];
    size_t n = sl_cache_value_len(e);
    assert_true(n <= sizeof(buf));
    sl_cache_value_write(e, buf);
    struct sl_cache_entry *r = sl_cache_value_read(sl_str_init(buf, n));
    assert_non_null(r);
    assert_true(r->meta.stream);
    assert_int_equal(r->meta.prompt_tokens, -1);
    assert_int_equal(r->meta.completion_tokens, 1234567);
    assert_string_equal(r->meta.ctype, m.ctype);
    assert_int_equal(r->len, 9);
    assert_memory_equal(r->body, "data: x\n\n", 9);
    sl_cache_entry_unref(r);
    assert_null(sl_cache_value_read(sl_str_init(buf, 21)));
    buf[0] = 'X';
    assert_null(sl_cache_value_read(sl_str_init(buf, n)));
    buf[0] = 'S';
    buf[22] = '\n'; /* a content type that would split a header */
    assert_null(sl_cache_value_read(sl_str_init(buf, n)));
    assert_null(sl_cache_value_read(SL_STRLIT("")));
    sl_cache_entry_unref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_invariance), cmocka_unit_test(test_key_fields),
        cmocka_unit_test(test_store_bound),    cmocka_unit_test(test_store_lru),
        cmocka_unit_test(test_store_ttl),      cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
