/* Internals of the resources.yaml loader shared by src/config/resources*.c; not part of the
 * public contract. The loader walks the YAML tree once per collection with a field table per
 * collection (the schema), reads each value through ${VAR} interpolation, and reports every
 * problem as "<collection>[<i>] ("<display_name>"): <field>: <problem>". */
#ifndef SLUICE_RESOURCES_INTERNAL_H
#define SLUICE_RESOURCES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/diag.h"
#include "sluice/resources.h"
#include "sluice/str.h"
#include "sluice/yaml.h"

/* Durations are capped at a year, as in config.yaml, so later arithmetic cannot overflow. */
#define SL__RES_YEAR_MS     31536000000ull
#define SL__RES_MAX_RETRIES 10
/* Caps for values built at load time (URLs, JSON literals) and for one value after ${VAR}
 * interpolation; far above anything sensible. */
#define SL__RES_TEXT_MAX  (64u * 1024)
#define SL__RES_VALUE_MAX (1024u * 1024)

enum sl__res_type {
    SL__RES_STRING = 0,  /* a non-empty string */
    SL__RES_SECRET,      /* a non-empty string whose value never appears in a message */
    SL__RES_BOOL,        /* plain true or false */
    SL__RES_UINT,        /* plain decimal digits within [0, max] */
    SL__RES_INT,         /* plain decimal digits with an optional '-', within [-max, max] */
    SL__RES_NUMBER,      /* a plain decimal number >= 0 ("0.5", "2", "1e-3") */
    SL__RES_LIST,        /* a list; its items are read by the collection */
    SL__RES_MAP,         /* a mapping; read by the collection (sl__res_sub_begin) */
    SL__RES_UNSUPPORTED, /* a reference field Sluice does not implement: always an error */
    SL__RES_REJECTED,    /* a field the file form never accepts; hint says what to write */
};

#define SL__RES_REQUIRED 1u

struct sl__res_field {
    const char *name;
    enum sl__res_type type;
    unsigned flags;
    uint64_t max;     /* SL__RES_UINT */
    const char *hint; /* SL__RES_UNSUPPORTED (optional) and SL__RES_REJECTED: appended */
};

/* A collection's field table. Row 0 is always display_name. */
struct sl__res_schema {
    const char *collection;
    const struct sl__res_field *fields;
    size_t n;
};

#define SL__RES_MAX_FIELDS 24

/* A name defined by a collection, for duplicate checks and cross-references. */
struct sl__res_name {
    const char *name;
    struct sl_str shown; /* for messages: see sl__res_printable */
    size_t index;        /* position in the file */
    unsigned line;
};

struct sl__res_names {
    struct sl__res_name *v; /* sorted by (name, index) */
    size_t n;
};

/* What a provider key leaves to the models that name it. A key without provider (optional, as
 * in the reference) gets its wire family from adapter and its api_base from the file; when
 * either is missing too, the vendor of the first model (in file order) naming the key decides:
 * its family (openai, or anthropic: not built yet) and whether the default OpenAI base applies. */
struct sl__res_key_info {
    struct sl_str provider_shown; /* provider as written, for messages; empty when absent */
    bool needs_family;            /* neither provider nor adapter */
    bool needs_base;              /* neither provider nor api_base */
    bool settled;                 /* a model supplied what was missing (or tried to) */
    const char *vendor;           /* that model's provider, inherited by later models without */
    bool bad;                     /* the key has reported problems: models add none about it */
    bool caps_set;                /* capabilities came from the file, not the vendor */
};

struct sl__res_loader {
    struct sl_resources *r;
    struct sl_diag *diag;
    char *const *envp;
    struct sl__res_names provider_keys; /* names of provider_keys[], for models[].provider_key */
    struct sl__res_key_info *keys;      /* one per provider_keys[i] */
    struct sl__res_names models;        /* names of models[], for api_keys[].allowed_models */
    struct sl__res_names api_keys;      /* names of api_keys[], for rate_limit_policies */
    const struct sl_model **wildcards;  /* wildcard models in file order */
    size_t n_wildcards;
};

/* A scalar from the file after interpolation. */
struct sl__res_val {
    const struct sl_yaml_node *node;
    char *text; /* owned; NUL-terminated at len */
    size_t len;
    bool interpolated; /* a ${VAR} was replaced: messages show the raw text instead */
    bool secret;       /* messages never show it at all */
};

/* One entry of a collection being read. */
struct sl__res_entry {
    struct sl__res_loader *l;
    const struct sl__res_schema *schema;
    size_t index;
    const struct sl_yaml_node *map;
    const struct sl_yaml_node *keys[SL__RES_MAX_FIELDS];   /* by schema row; NULL = absent */
    const struct sl_yaml_node *values[SL__RES_MAX_FIELDS]; /* by schema row; NULL = absent */
    char label[192];                                       /* models[2] ("gpt-4o") */
    char prefix[96]; /* a nested mapping's path ("routing.targets[1]"); "" at the top */
};

/* Starts reading item i of schema's collection: checks that it is a mapping, reads its
 * display_name into *name (a new string, or NULL when missing or bad), sorts its keys into the
 * schema rows and reports unknown, unsupported and forbidden keys. Returns false when the item
 * is not a mapping (reported; nothing more to read). */
bool sl__res_entry_begin(struct sl__res_loader *l, const struct sl__res_schema *schema, size_t i,
                         const struct sl_yaml_node *item, struct sl__res_entry *e, char **name);

/* Starts reading the nested mapping node of parent (a value of one of parent's rows) with its
 * own schema, whose rows need not start with display_name. Messages read
 * "<label>: <prefix>.<field>: ...". Returns false after reporting a value that is not a
 * mapping. */
bool sl__res_sub_begin(struct sl__res_entry *parent, const struct sl__res_schema *schema,
                       const char *prefix, const struct sl_yaml_node *node,
                       struct sl__res_entry *sub);

/* Reports a problem of entry e at line (0: the entry's line) as "<label>: <field>: <msg>";
 * field may be NULL. In a nested entry the field is prefixed with its path. */
void sl__res_error(struct sl__res_entry *e, unsigned line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads row's scalar as a string (interpolated). Returns 0 with *out filled (dispose it), or
 * SL_ENOENT when absent or null (a required row is reported), or SL_EPARSE after reporting. */
int sl__res_string(struct sl__res_entry *e, size_t row, struct sl__res_val *out);
/* Reads a scalar that is not a schema row (a list item); what names it in messages. */
int sl__res_scalar(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                   bool secret, struct sl__res_val *out);
/* Typed reads with the same return convention. */
int sl__res_uint(struct sl__res_entry *e, size_t row, uint64_t *out);
int sl__res_int(struct sl__res_entry *e, size_t row, int64_t *out);
int sl__res_number(struct sl__res_entry *e, size_t row, double *out);
int sl__res_bool(struct sl__res_entry *e, size_t row, bool *out);
/* Typed reads of a node that is not a schema row (a nested mapping's value); what names it in
 * messages ("rate_limit.rpm"). A decimal is plain digits with an optional fraction or exponent,
 * at least 0 and at most max. Return 0 or SL_EPARSE after reporting. */
int sl__res_uint_at(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                    uint64_t max, uint64_t *out);
int sl__res_decimal_at(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                       double max, double *out);
/* Sorts the pairs of a nested mapping into values[] by keys (NULL-terminated; values has a slot
 * per key, NULL when absent) and reports unknown keys as "<what>: <key>: unknown key". Returns
 * false after reporting a value that is not a mapping. */
bool sl__res_submap(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *map,
                    const char *const *keys, const struct sl_yaml_node **values);

/* A rate_limit or budget block of row (absent or null: left unset). Problems are
 * reported; what could be read is kept. */
void sl__res_rate_limit(struct sl__res_entry *e, size_t row, struct sl_rate_limit *out);
void sl__res_budget(struct sl__res_entry *e, size_t row, struct sl_budget *out);
/* "<prefix>" followed by the escaped name, as a new string. */
char *sl__res_bucket(const char *prefix, const char *name);

/* Returns row's value node when it is a mapping; SL_ENOENT / SL_EPARSE as above. */
int sl__res_map(struct sl__res_entry *e, size_t row, const struct sl_yaml_node **out);
/* Reads a list item (what names it in messages) as an integer within [min, max]. */
int sl__res_uint_item(struct sl__res_entry *e, const char *what, const struct sl_yaml_node *n,
                      uint64_t min, uint64_t max, uint64_t *out);
/* Reads row (a list) as a set of statuses within [min, 599] (an empty list is an empty set). */
int sl__res_statuses(struct sl__res_entry *e, size_t row, uint64_t min, struct sl_status_set *out);
/* Returns row's value node when it is a list; SL_ENOENT / SL_EPARSE as above. */
int sl__res_list(struct sl__res_entry *e, size_t row, const struct sl_yaml_node **out);

/* Frees v's text after wiping it (values may be secrets). */
void sl__res_val_dispose(struct sl__res_val *v);
/* Moves v's text out (caller frees); v keeps nothing. */
char *sl__res_val_take(struct sl__res_val *v);
/* The value for a message: quoted; the raw ${...} text when interpolated; a kind for secrets. */
const char *sl__res_show(const struct sl__res_val *v, char *buf, size_t cap);

/* A value used as a name (a reference to another entry), for "X is not defined": quoted, without
 * sl__res_show's "a quoted string" (quoting does not change a name); raw when interpolated. */
const char *sl__res_name_of(const struct sl__res_val *v, char *buf, size_t cap);

/* "models[2] (\"gpt-4o\")", or "models[2]" when name.ptr is NULL. */
void sl__res_label(char *buf, size_t cap, const char *collection, size_t index, struct sl_str name);

/* The text to print for a value stored from node: the value itself, or the node's raw text when
 * that holds a ${...} reference, so that no message ever carries a variable's value (not even
 * one quoted later by another entry, such as a key's provider in a model's message). */
struct sl_str sl__res_printable(const struct sl_yaml_node *node, const char *value);

/* True when s is a vendor name: lower-case letters, digits, '-', '_' and '.'. */
bool sl__res_is_vendor(struct sl_str s);
/* Number of '*' in s. */
size_t sl__res_count_stars(struct sl_str s);

/* Builds a sorted table of the display names of the items of seq (names[i] belongs to item i;
 * NULL names are skipped) and reports each repeat as
 * "<collection>[<i>] (\"x\"): display_name: duplicate display_name \"x\" (first at line N)". */
void sl__res_names_build(struct sl__res_loader *l, struct sl__res_names *t, const char *collection,
                         const struct sl_yaml_node *seq, const char *const *names);
/* The entry of name with the lowest file index, or NULL. */
const struct sl__res_name *sl__res_names_find(const struct sl__res_names *t, struct sl_str name);
void sl__res_names_dispose(struct sl__res_names *t);

/* Model groups and the direct-model blocks routing reads (resources_routing.c). */
/* Reads models[i].routing into m (called by the models loader for a routing model). */
void sl__res_read_routing(struct sl__res_entry *e, const struct sl_yaml_node *node,
                          struct sl_model *m);
/* Reads the optional cooldown, cost and background_model_check of a direct model from the
 * nodes given (NULL when absent); a model without cooldown gets the reference's defaults. */
void sl__res_read_direct_blocks(struct sl__res_entry *e, struct sl_model *m,
                                const struct sl_yaml_node *cooldown,
                                const struct sl_yaml_node *cost, const struct sl_yaml_node *check);
/* Reads an allowed_cidrs list (row of e) into m. */
void sl__res_read_cidrs(struct sl__res_entry *e, size_t row, struct sl_model *m);
/* After every model is read: each routing target must name a defined direct model (not a
 * group, not a wildcard), once per group. models are in file order. */
void sl__res_check_targets(struct sl__res_loader *l, const struct sl_yaml_node *models);
/* After the models were sorted (pos[sorted] = file index): points targets at their models. */
void sl__res_link_targets(struct sl_resources *r, const size_t *pos);
void sl__res_routing_free(struct sl_routing *rt);
void sl__res_health_check_free(struct sl_health_check *hc);

/* Collection loaders; node is the collection's value (a list, or NULL/null for none). */
void sl__res_load_provider_keys(struct sl__res_loader *l, const struct sl_yaml_node *node);
void sl__res_load_models(struct sl__res_loader *l, const struct sl_yaml_node *node);
void sl__res_load_api_keys(struct sl__res_loader *l, const struct sl_yaml_node *node);
void sl__res_load_policies(struct sl__res_loader *l, const struct sl_yaml_node *node);
void sl__res_policy_free(struct sl_rl_policy *p);
/* cache_policies (resources_cache.c). */
void sl__res_load_cache_policies(struct sl__res_loader *l, const struct sl_yaml_node *node);
void sl__res_cache_policy_free(struct sl_cache_policy *p);
/* UUIDv5 of "<collection>/<name>" in the reference's file namespace (its file ids). */
void sl__res_derive_id(const char *collection, const char *name, char out[37]);

/* Called for each model that names provider_keys[key_index] with the model's own provider
 * (NULL when it has none; valid vendor syntax): supplies what the key left open (see struct
 * sl__res_key_info), reporting problems on the model entry e or on the key. Returns the vendor
 * the model inherits when it has none of its own: the key's provider, else the vendor the key
 * was settled with, else its adapter's family name; NULL after reporting that the model must
 * name one. model_provider must outlive the loader (it is kept as the settled vendor). */
const char *sl__res_key_use(struct sl__res_entry *e, size_t key_index, const char *model_provider);

/* JSON credentials in provider_keys[].api_key (resources_cred.c). True when text (after
 * whitespace) starts a JSON object. */
bool sl__res_cred_looks_json(const char *text);
/* Parses text as family's JSON credential into *c (zeroed first). Returns 0, or SL_EPARSE with the
 * reason in why (which never quotes a value: they are secrets). */
int sl__res_cred_parse(enum sl_adapter family, const char *text, struct sl_cred *c, char *why,
                       size_t whylen);
/* Frees c's strings, wiping the secret ones, and zeroes it. */
void sl__res_cred_dispose(struct sl_cred *c);

/* Fills o (and *path, a new string: the URL's path without a trailing slash) from an absolute
 * http(s) URL. Returns 0 or SL_EPARSE. */
int sl__res_origin(const char *url, struct sl_origin *o, char **path);

/* Reports "<collection>: expected a list of mappings, got ..." unless node is a list or null;
 * returns the number of items (0 for null or a bad value). */
size_t sl__res_collection_len(struct sl__res_loader *l, const char *collection,
                              const struct sl_yaml_node *node);

/* Bedrock keys (resources_aws.c). True when api_key is meant as the JSON credentials object (it
 * starts with '{'), else it is a Bedrock API key. */
bool sl__res_aws_is_json(const char *api_key);
/* Parses and checks the credentials object. Returns 0 with *out (free with sl__res_aws_free), or
 * SL_EPARSE with the reason in why: the member and the rule, never a value. */
int sl__res_aws_parse(const char *api_key, struct sl_aws_key **out, char *why, size_t whylen);
void sl__res_aws_free(struct sl_aws_key *k);

/* True when alias matches the wildcard model name (one '*') with a non-empty capture. */
bool sl__res_wildcard_match(struct sl_str pattern, struct sl_str alias);

/* Builds r->_index from a complete, valid r whose models are sorted by name; file_pos[i] is the
 * position in the file of r->models[i] (wildcard ties go to the earlier one). */
void sl__res_index_build(struct sl_resources *r, const size_t *file_pos);
void sl__res_index_free(void *index);

#endif
