/* A small YAML document model on top of libyaml: the file is parsed once into an immutable tree
 * of scalars, mappings and sequences that keeps each node's line and column, so loaders can
 * report "file:line: key: problem". Restrictions, each reported with its position:
 *   - exactly one document; an empty file yields a NULL root;
 *   - anchors, aliases and tags other than the core ones are rejected ("unsupported YAML
 *     construct");
 *   - mapping keys must be scalars, and a key may not repeat within one mapping;
 *   - nesting deeper than SL_YAML_MAX_DEPTH, files larger than SL_YAML_MAX_BYTES and documents
 *     of more than 2^20 nodes (about 100 MiB of tree) are rejected.
 * Messages go to diag with the line and column of the offending node.
 * All memory belongs to the document and is freed by sl_yaml_doc_dispose. */
#ifndef SLUICE_YAML_H
#define SLUICE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/base.h"
#include "sluice/diag.h"
#include "sluice/str.h"

#define SL_YAML_MAX_DEPTH 64
#define SL_YAML_MAX_BYTES (16u * 1024 * 1024)

enum sl_yaml_kind {
    SL_YAML_SCALAR = 0,
    SL_YAML_MAP,
    SL_YAML_SEQ,
};

enum sl_yaml_style {
    SL_YAML_PLAIN = 0, /* unquoted: may be null, bool or number */
    SL_YAML_QUOTED,    /* single- or double-quoted: always a string */
    SL_YAML_BLOCK,     /* literal | or folded >: always a string */
};

struct sl_yaml_pair;

struct sl_yaml_node {
    enum sl_yaml_kind kind;
    unsigned line; /* 1-based */
    unsigned col;  /* 1-based */
    /* SL_YAML_SCALAR */
    struct sl_str value; /* NUL-terminated in practice, but use len */
    enum sl_yaml_style style;
    /* SL_YAML_MAP: pairs[0..n); SL_YAML_SEQ: items[0..n) */
    size_t n;
    struct sl_yaml_pair *pairs;
    struct sl_yaml_node **items;
};

struct sl_yaml_pair {
    struct sl_yaml_node *key; /* always a scalar */
    struct sl_yaml_node *value;
};

struct sl_yaml_doc {
    struct sl_yaml_node *root; /* NULL for an empty document */
    void *_arena;
};

/* Parses len bytes of YAML. On success returns 0 and fills doc. On failure returns SL_EPARSE
 * after adding one entry to diag (position and libyaml's reason); doc is left empty. */
int sl_yaml_parse(const char *data, size_t len, struct sl_yaml_doc *doc, struct sl_diag *diag);

/* Reads and parses a file; an unreadable file is reported through diag as well. */
int sl_yaml_parse_file(const char *path, struct sl_yaml_doc *doc, struct sl_diag *diag);

void sl_yaml_doc_dispose(struct sl_yaml_doc *doc);

/* True for a plain scalar spelling null: "", "~", "null", "Null", "NULL". */
bool sl_yaml_is_null(const struct sl_yaml_node *n);

/* Looks up key in a mapping; NULL when absent or when map is not a mapping. */
const struct sl_yaml_node *sl_yaml_map_get(const struct sl_yaml_node *map, const char *key);

/* Human name of a node's kind for messages: "a string", "a mapping", "a list", "null". */
const char *sl_yaml_describe(const struct sl_yaml_node *n);

#endif
