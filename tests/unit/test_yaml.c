#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sluice/yaml.h"

int main(void);

static int parse(const char *text, struct sl_yaml_doc *doc, struct sl_diag *d)
{
    sl_diag_init(d, "t.yaml");
    return sl_yaml_parse(text, strlen(text), doc, d);
}

/* Parses text, expects exactly one error, and checks its position and message. */
static void expect_error(const char *text, unsigned line, unsigned col, const char *msg)
{
    struct sl_yaml_doc doc;
    struct sl_diag d;
    assert_int_equal(parse(text, &doc, &d), SL_EPARSE);
    assert_null(doc.root);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.entries[0].msg, msg);
    assert_int_equal(d.entries[0].line, line);
    assert_int_equal(d.entries[0].col, col);
    sl_yaml_doc_dispose(&doc);
    sl_diag_dispose(&d);
}

static void assert_scalar(const struct sl_yaml_node *n, const char *value, enum sl_yaml_style style,
                          unsigned line, unsigned col)
{
    assert_non_null(n);
    assert_int_equal(n->kind, SL_YAML_SCALAR);
    assert_int_equal(n->value.len, strlen(value));
    assert_memory_equal(n->value.ptr, value, n->value.len);
    assert_int_equal(n->value.ptr[n->value.len], '\0');
    assert_int_equal(n->style, style);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
}

static void test_positions_and_styles(void **state)
{
    (void)state;
    const char *text = "a: 1\n"
                       "b:\n"
                       "  c: [x, 'y', \"z\"]\n"
                       "  d: |\n"
                       "    line1\n"
                       "    line2\n"
                       "  e: >\n"
                       "    folded\n"
                       "    text\n"
                       "  f:\n"
                       "    - one\n"
                       "    - {k: v}\n";
    struct sl_yaml_doc doc;
    struct sl_diag d;
    assert_int_equal(parse(text, &doc, &d), SL_OK);
    assert_int_equal(d.count, 0);
    const struct sl_yaml_node *root = doc.root;
    assert_non_null(root);
    assert_int_equal(root->kind, SL_YAML_MAP);
    assert_int_equal(root->n, 2);
    assert_int_equal(root->line, 1);
    assert_int_equal(root->col, 1);
    assert_scalar(root->pairs[0].key, "a", SL_YAML_PLAIN, 1, 1);
    assert_scalar(root->pairs[0].value, "1", SL_YAML_PLAIN, 1, 4);
    const struct sl_yaml_node *b = sl_yaml_map_get(root, "b");
    assert_non_null(b);
    assert_int_equal(b->kind, SL_YAML_MAP);
    assert_int_equal(b->line, 3);
    assert_int_equal(b->col, 3);
    const struct sl_yaml_node *c = sl_yaml_map_get(b, "c");
    assert_int_equal(c->kind, SL_YAML_SEQ);
    assert_int_equal(c->n, 3);
    assert_int_equal(c->line, 3);
    assert_int_equal(c->col, 6);
    assert_scalar(c->items[0], "x", SL_YAML_PLAIN, 3, 7);
    assert_scalar(c->items[1], "y", SL_YAML_QUOTED, 3, 10);
    assert_scalar(c->items[2], "z", SL_YAML_QUOTED, 3, 15);
    assert_scalar(sl_yaml_map_get(b, "d"), "line1\nline2\n", SL_YAML_BLOCK, 4, 6);
    assert_scalar(sl_yaml_map_get(b, "e"), "folded text\n", SL_YAML_BLOCK, 7, 6);
    const struct sl_yaml_node *f = sl_yaml_map_get(b, "f");
    assert_int_equal(f->kind, SL_YAML_SEQ);
    assert_int_equal(f->n, 2);
    assert_int_equal(f->line, 11);
    assert_int_equal(f->col, 5);
    assert_scalar(f->items[0], "one", SL_YAML_PLAIN, 11, 7);
    assert_int_equal(f->items[1]->kind, SL_YAML_MAP);
    assert_scalar(sl_yaml_map_get(f->items[1], "k"), "v", SL_YAML_PLAIN, 12, 11);
    assert_null(sl_yaml_map_get(root, "missing"));
    assert_null(sl_yaml_map_get(c, "x"));
    assert_string_equal(sl_yaml_describe(root), "a mapping");
    assert_string_equal(sl_yaml_describe(c), "a list");
    assert_string_equal(sl_yaml_describe(c->items[0]), "a string");
    sl_yaml_doc_dispose(&doc);
    assert_null(doc.root);
    sl_diag_dispose(&d);
}

static void test_nulls(void **state)
{
    (void)state;
    struct sl_yaml_doc doc;
    struct sl_diag d;
    assert_int_equal(parse("a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: 'null'\ng: nul\n", &doc, &d),
                     SL_OK);
    const char *nulls[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        assert_true(sl_yaml_is_null(sl_yaml_map_get(doc.root, nulls[i])));
        assert_string_equal(sl_yaml_describe(sl_yaml_map_get(doc.root, nulls[i])), "null");
    }
    assert_false(sl_yaml_is_null(sl_yaml_map_get(doc.root, "f")));
    assert_false(sl_yaml_is_null(sl_yaml_map_get(doc.root, "g")));
    assert_false(sl_yaml_is_null(doc.root));
    sl_yaml_doc_dispose(&doc);
    sl_diag_dispose(&d);
}

static void test_empty_documents(void **state)
{
    (void)state;
    const char *empties[] = {"", "# only a comment\n", "\n\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        struct sl_yaml_doc doc;
        struct sl_diag d;
        assert_int_equal(parse(empties[i], &doc, &d), SL_OK);
        assert_null(doc.root);
        assert_int_equal(d.count, 0);
        sl_yaml_doc_dispose(&doc);
        sl_diag_dispose(&d);
    }
    struct sl_yaml_doc doc;
    struct sl_diag d;
    assert_int_equal(parse("---\n", &doc, &d), SL_OK);
    assert_true(sl_yaml_is_null(doc.root));
    sl_yaml_doc_dispose(&doc);
    sl_diag_dispose(&d);
}

static void test_rejections(void **state)
{
    (void)state;
    expect_error("a: 1\n---\nb: 2\n", 2, 1, "more than one YAML document (only one is allowed)");
    expect_error("a: 1\nb: *x\n", 2, 4, "unsupported YAML construct: alias");
    expect_error("a: &x 1\n", 1, 4, "unsupported YAML construct: anchor");
    expect_error("a: &x {b: 1}\n", 1, 4, "unsupported YAML construct: anchor");
    expect_error("? [a]\n: 1\n", 1, 3, "mapping keys must be scalars, got a list");
    expect_error("x:\n  {a: 1}: 2\n", 2, 3, "mapping keys must be scalars, got a mapping");
    expect_error("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key \"a\" (first at line 1)");
    expect_error("s:\n  k: 1\n  j: 2\n  k: 3\n  j: 4\n", 4, 3,
                 "duplicate key \"k\" (first at line 2)");
    expect_error("- {q: 1, \"q\": 2}\n", 1, 10, "duplicate key \"q\" (first at line 1)");
    expect_error("a: !foo x\n", 1, 4, "unsupported YAML construct: tag \"!foo\"");
    expect_error("a: !!map x\n", 1, 4, "unsupported YAML construct: tag \"tag:yaml.org,2002:map\"");
    expect_error("a: !!str [x]\n", 1, 4,
                 "unsupported YAML construct: tag \"tag:yaml.org,2002:str\"");
    expect_error("a: [1, 2\n", 2, 1,
                 "YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
                 "sequence at line 1)");
    expect_error("a: b: c\n", 1, 5,
                 "YAML syntax error: mapping values are not allowed in this "
                 "context");
    expect_error("a: 1\nb: \x01\n", 2, 4,
                 "invalid YAML input: control characters are not allowed (byte 0x01)");
}

/* Regression (found by fuzz_config): an empty first collection did arithmetic on a NULL scratch
 * stack, which UBSan reports. */
static void test_empty_collections(void **state)
{
    (void)state;
    const char *texts[] = {"[]", "{}", "a: []\nb: {}\n", "- []\n- {}\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct sl_yaml_doc doc;
        struct sl_diag d;
        assert_int_equal(parse(texts[i], &doc, &d), SL_OK);
        assert_non_null(doc.root);
        assert_int_equal(d.count, 0);
        sl_yaml_doc_dispose(&doc);
        sl_diag_dispose(&d);
    }
    struct sl_yaml_doc doc;
    struct sl_diag d;
    assert_int_equal(parse("[]", &doc, &d), SL_OK);
    assert_int_equal(doc.root->kind, SL_YAML_SEQ);
    assert_int_equal(doc.root->n, 0);
    sl_yaml_doc_dispose(&doc);
    sl_diag_dispose(&d);
}

static void test_core_tags(void **state)
{
    (void)state;
    struct sl_yaml_doc doc;
    struct sl_diag d;
    assert_int_equal(parse("a: !!str 5\nb: !!int '7'\nc: !!map {x: 1}\nd: !!seq [1]\n", &doc, &d),
                     SL_OK);
    assert_int_equal(sl_yaml_map_get(doc.root, "a")->style, SL_YAML_QUOTED);
    assert_int_equal(sl_yaml_map_get(doc.root, "b")->style, SL_YAML_PLAIN);
    assert_int_equal(sl_yaml_map_get(doc.root, "c")->kind, SL_YAML_MAP);
    assert_int_equal(sl_yaml_map_get(doc.root, "d")->kind, SL_YAML_SEQ);
    sl_yaml_doc_dispose(&doc);
    sl_diag_dispose(&d);
}

static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_depth(void **state)
{
    (void)state;
    struct sl_yaml_doc doc;
    struct sl_diag d;
    char *ok = nested(SL_YAML_MAX_DEPTH);
    assert_int_equal(parse(ok, &doc, &d), SL_OK);
    assert_int_equal(doc.root->kind, SL_YAML_SEQ);
    sl_yaml_doc_dispose(&doc);
    sl_diag_dispose(&d);
    free(ok);
    char *deep = nested(SL_YAML_MAX_DEPTH + 1);
    expect_error(deep, 1, SL_YAML_MAX_DEPTH + 1, "nesting is deeper than 64 levels");
    free(deep);
    char *huge = nested(200000);
    expect_error(huge, 1, SL_YAML_MAX_DEPTH + 1, "nesting is deeper than 64 levels");
    free(huge);
}

static void test_too_big(void **state)
{
    (void)state;
    size_t len = SL_YAML_MAX_BYTES + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    struct sl_yaml_doc doc;
    struct sl_diag d;
    sl_diag_init(&d, "big.yaml");
    assert_int_equal(sl_yaml_parse(big, len, &doc, &d), SL_EPARSE);
    assert_int_equal(d.count, 1);
    assert_int_equal(d.entries[0].line, 0);
    assert_string_equal(d.entries[0].msg, "file is larger than 16777216 bytes");
    sl_diag_dispose(&d);
    free(big);
}

static void test_parse_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl_yaml_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/a.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("k: [1, 2]\n", f);
    fclose(f);
    struct sl_yaml_doc doc;
    struct sl_diag d;
    sl_diag_init(&d, path);
    assert_int_equal(sl_yaml_parse_file(path, &doc, &d), SL_OK);
    assert_int_equal(sl_yaml_map_get(doc.root, "k")->n, 2);
    sl_yaml_doc_dispose(&doc);
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    assert_int_equal(sl_yaml_parse_file(path, &doc, &d), SL_EPARSE);
    assert_int_equal(sl_yaml_parse_file(dir, &doc, &d), SL_EPARSE);
    assert_int_equal(d.count, 2);
    assert_int_equal(d.entries[0].line, 0);
    assert_string_equal(d.entries[0].msg, "cannot read file: No such file or directory");
    assert_string_equal(d.entries[1].msg, "cannot read file: Is a directory");
    sl_diag_dispose(&d);
    snprintf(path, sizeof(path), "%s/a.yaml", dir);
    unlink(path);
    rmdir(dir);
}

/* Keys in a large mapping are checked for repeats without quadratic cost; the first repeat in
 * file order is the one reported. */
static void test_large_mapping_duplicates(void **state)
{
    (void)state;
    size_t n = 20000;
    size_t cap = n * 16 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "k%zu: %zu\n", i, i);
    len += (size_t)snprintf(text + len, cap - len, "k5: x\nk3: y\n");
    struct sl_yaml_doc doc;
    struct sl_diag d;
    sl_diag_init(&d, "t.yaml");
    assert_int_equal(sl_yaml_parse(text, len, &doc, &d), SL_EPARSE);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.entries[0].msg, "duplicate key \"k5\" (first at line 6)");
    assert_int_equal(d.entries[0].line, n + 1);
    sl_diag_dispose(&d);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_and_styles),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_empty_collections),
        cmocka_unit_test(test_core_tags),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_large_mapping_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
