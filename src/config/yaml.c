#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "sluice/base.h"
#include "sluice/log.h"
#include "sluice/yaml.h"

#include "config_internal.h"

/* A bump allocator of big blocks: the tree is built once and freed at once, so nodes need no
 * individual frees. Oversized requests get a block of their own behind the current one so the
 * current block's free space is not wasted. */
#define ARENA_BLOCK (64u * 1024)
#define ARENA_ALIGN 16u

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

struct arena {
    struct arena_block *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        struct arena_block *nb = sl_xmalloc(sizeof(*nb) + cap);
        nb->used = 0;
        nb->cap = cap;
        if (b != NULL && cap != ARENA_BLOCK) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    return p;
}

static void arena_free(struct arena *a)
{
    struct arena_block *b = a->head;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* Node count cap: every node costs about 100 bytes in the arena, so this bounds the tree at
 * about 100 MiB however the 16 MiB of input is shaped. */
#define MAX_NODES (1u << 20)

struct frame {
    struct sl_yaml_node *node;
    size_t start; /* index in the scratch stack where this collection's children begin */
};

/* Children of open collections wait on one scratch stack until the collection ends; then they
 * are copied into the arena as one contiguous array and popped. */
struct builder {
    struct arena arena;
    struct sl_diag *diag;
    const char *data;
    size_t len;
    struct frame stack[SL_YAML_MAX_DEPTH];
    size_t depth;
    struct sl_yaml_node **scratch;
    size_t nscratch;
    size_t capscratch;
    struct sl_yaml_node *root;
    unsigned docs;
    size_t nodes;
};

/* Escapes s for a message: quoted, control bytes as \xNN, cut at 64 bytes with "...". */
static const char *quote(char *dst, size_t cap, struct sl_str s)
{
    SL_ASSERT(cap > 8);
    bool cut = s.len > 64;
    size_t n = sl_log_escape(dst, cap - 4, sl_str_init(s.ptr, cut ? 64 : s.len));
    if (cut)
        memcpy(dst + n, "...", 4);
    return dst;
}

static unsigned mark_line(const yaml_mark_t *m)
{
    return m->line >= UINT32_MAX ? UINT32_MAX : (unsigned)m->line + 1;
}

static unsigned mark_col(const yaml_mark_t *m)
{
    return m->column >= UINT32_MAX ? UINT32_MAX : (unsigned)m->column + 1;
}

static void fail_at(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_diag_add_at(b->diag, mark_line(m), mark_col(m), "%s", msg);
}

static struct sl_yaml_node *new_node(struct builder *b, enum sl_yaml_kind kind,
                                     const yaml_mark_t *m)
{
    if (b->nodes == MAX_NODES) {
        fail_at(b, m, "document has more than %u nodes", MAX_NODES);
        return NULL;
    }
    b->nodes++;
    struct sl_yaml_node *n = arena_alloc(&b->arena, sizeof(*n));
    *n = (struct sl_yaml_node){.kind = kind, .line = mark_line(m), .col = mark_col(m)};
    return n;
}

static bool parent_expects_key(const struct builder *b)
{
    if (b->depth == 0)
        return false;
    const struct frame *f = &b->stack[b->depth - 1];
    return f->node->kind == SL_YAML_MAP && (b->nscratch - f->start) % 2 == 0;
}

static void push_child(struct builder *b, struct sl_yaml_node *n)
{
    if (b->depth == 0) {
        b->root = n;
        return;
    }
    if (b->nscratch == b->capscratch) {
        b->capscratch = b->capscratch != 0 ? b->capscratch * 2 : 64;
        b->scratch = sl_xrealloc(b->scratch, b->capscratch * sizeof(*b->scratch));
    }
    b->scratch[b->nscratch++] = n;
}

#define CORE_TAG "tag:yaml.org,2002:"

/* Accepts the YAML core schema tags on the node kinds they describe: !!str forces a string
 * (so it reads as quoted), !!int/!!bool/!!float/!!null leave the value to the plain rules. */
static int check_tag(struct builder *b, const yaml_event_t *ev, const yaml_char_t *tag,
                     struct sl_yaml_node *n)
{
    if (tag == NULL)
        return SL_OK;
    struct sl_str t = sl_str_from_cstr((const char *)tag);
    struct sl_str core = SL_STRLIT(CORE_TAG);
    if (sl_str_starts_with(t, core)) {
        struct sl_str name = sl_str_init(t.ptr + core.len, t.len - core.len);
        if (n->kind == SL_YAML_MAP && sl_str_eq_lit(name, "map"))
            return SL_OK;
        if (n->kind == SL_YAML_SEQ && sl_str_eq_lit(name, "seq"))
            return SL_OK;
        if (n->kind == SL_YAML_SCALAR && sl_str_eq_lit(name, "str")) {
            if (n->style == SL_YAML_PLAIN)
                n->style = SL_YAML_QUOTED;
            return SL_OK;
        }
        if (n->kind == SL_YAML_SCALAR &&
            (sl_str_eq_lit(name, "int") || sl_str_eq_lit(name, "bool") ||
             sl_str_eq_lit(name, "float") || sl_str_eq_lit(name, "null"))) {
            n->style = SL_YAML_PLAIN;
            return SL_OK;
        }
    }
    char q[96];
    fail_at(b, &ev->start_mark, "unsupported YAML construct: tag %s", quote(q, sizeof(q), t));
    return SL_EPARSE;
}

static int check_anchor(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    if (anchor == NULL)
        return SL_OK;
    fail_at(b, &ev->start_mark, "unsupported YAML construct: anchor");
    return SL_EPARSE;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    if (check_anchor(b, ev, ev->data.scalar.anchor) != SL_OK)
        return SL_EPARSE;
    struct sl_yaml_node *n = new_node(b, SL_YAML_SCALAR, &ev->start_mark);
    if (n == NULL)
        return SL_EPARSE;
    size_t len = ev->data.scalar.length;
    char *v = arena_alloc(&b->arena, len + 1);
    if (len != 0)
        memcpy(v, ev->data.scalar.value, len);
    v[len] = '\0';
    n->value = sl_str_init(v, len);
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        n->style = SL_YAML_QUOTED;
        break;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        n->style = SL_YAML_BLOCK;
        break;
    default:
        n->style = SL_YAML_PLAIN;
        break;
    }
    if (check_tag(b, ev, ev->data.scalar.tag, n) != SL_OK)
        return SL_EPARSE;
    push_child(b, n);
    return SL_OK;
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, enum sl_yaml_kind kind)
{
    bool is_map = kind == SL_YAML_MAP;
    const yaml_char_t *anchor =
        is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    if (check_anchor(b, ev, anchor) != SL_OK)
        return SL_EPARSE;
    if (parent_expects_key(b)) {
        fail_at(b, &ev->start_mark, "mapping keys must be scalars, got %s",
                is_map ? "a mapping" : "a list");
        return SL_EPARSE;
    }
    if (b->depth == SL_YAML_MAX_DEPTH) {
        fail_at(b, &ev->start_mark, "nesting is deeper than %d levels", SL_YAML_MAX_DEPTH);
        return SL_EPARSE;
    }
    struct sl_yaml_node *n = new_node(b, kind, &ev->start_mark);
    if (n == NULL || check_tag(b, ev, tag, n) != SL_OK)
        return SL_EPARSE;
    push_child(b, n);
    b->stack[b->depth++] = (struct frame){n, b->nscratch};
    return SL_OK;
}

static int cmp_keys(const void *pa, const void *pb)
{
    const struct sl_yaml_node *a = *(struct sl_yaml_node *const *)pa;
    const struct sl_yaml_node *b = *(struct sl_yaml_node *const *)pb;
    size_t n = SL_MIN(a->value.len, b->value.len);
    int c = n != 0 ? memcmp(a->value.ptr, b->value.ptr, n) : 0;
    if (c != 0)
        return c;
    if (a->value.len != b->value.len)
        return a->value.len < b->value.len ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->col < b->col ? -1 : (a->col > b->col);
}

static bool before(const struct sl_yaml_node *a, const struct sl_yaml_node *b)
{
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

/* Sorting the keys by (value, position) finds repeats in O(n log n); of all repeats the one
 * that appears first in the file is reported, as a linear scan would. */
static int check_duplicates(struct builder *b, const struct sl_yaml_pair *pairs, size_t n)
{
    if (n < 2)
        return SL_OK;
    struct sl_yaml_node **keys = sl_xmalloc(n * sizeof(*keys));
    for (size_t i = 0; i < n; i++)
        keys[i] = pairs[i].key;
    qsort(keys, n, sizeof(*keys), cmp_keys);
    const struct sl_yaml_node *dup = NULL, *first = NULL;
    for (size_t i = 1; i < n; i++) {
        if (!sl_str_eq(keys[i]->value, keys[i - 1]->value))
            continue;
        bool run_start = i == 1 || !sl_str_eq(keys[i - 1]->value, keys[i - 2]->value);
        if (run_start && (dup == NULL || before(keys[i], dup))) {
            dup = keys[i];
            first = keys[i - 1];
        }
    }
    free(keys);
    if (dup == NULL)
        return SL_OK;
    char q[96];
    sl_diag_add_at(b->diag, dup->line, dup->col, "duplicate key %s (first at line %u)",
                   quote(q, sizeof(q), dup->value), first->line);
    return SL_EPARSE;
}

static int on_collection_end(struct builder *b)
{
    SL_ASSERT(b->depth > 0);
    struct frame *f = &b->stack[--b->depth];
    struct sl_yaml_node *n = f->node;
    size_t count = b->nscratch - f->start;
    /* scratch is still NULL when the first collection is empty: no pointer arithmetic on it. */
    struct sl_yaml_node **kids = count != 0 ? b->scratch + f->start : NULL;
    b->nscratch = f->start;
    if (n->kind == SL_YAML_SEQ) {
        n->n = count;
        n->items = arena_alloc(&b->arena, SL_MAX(count, 1) * sizeof(*n->items));
        if (count != 0)
            memcpy(n->items, kids, count * sizeof(*n->items));
        return SL_OK;
    }
    SL_ASSERT(count % 2 == 0);
    n->n = count / 2;
    n->pairs = arena_alloc(&b->arena, SL_MAX(n->n, 1) * sizeof(*n->pairs));
    for (size_t i = 0; i < n->n; i++)
        n->pairs[i] = (struct sl_yaml_pair){kids[2 * i], kids[2 * i + 1]};
    return check_duplicates(b, n->pairs, n->n);
}

/* Returns SL_OK to go on, SL_DECLINED at the end of the stream, SL_EPARSE after reporting. */
static int on_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return SL_DECLINED;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1) {
            fail_at(b, &ev->start_mark, "more than one YAML document (only one is allowed)");
            return SL_EPARSE;
        }
        return SL_OK;
    case YAML_ALIAS_EVENT:
        fail_at(b, &ev->start_mark, "unsupported YAML construct: alias");
        return SL_EPARSE;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_collection_start(b, ev, SL_YAML_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_collection_start(b, ev, SL_YAML_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_collection_end(b);
    default:
        return SL_OK;
    }
}

/* Reader errors carry a byte offset rather than a mark; count lines up to it ourselves. */
static void offset_position(const struct builder *b, size_t off, unsigned *line, unsigned *col)
{
    size_t l = 1, c = 1;
    off = SL_MIN(off, b->len);
    for (size_t i = 0; i < off; i++) {
        if (b->data[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l >= UINT32_MAX ? UINT32_MAX : (unsigned)l;
    *col = c >= UINT32_MAX ? UINT32_MAX : (unsigned)c;
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) {
        sl_diag_add(b->diag, 0, "out of memory while parsing YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        unsigned line, col;
        offset_position(b, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            sl_diag_add_at(b->diag, line, col, "invalid YAML input: %s (byte 0x%02x)", problem,
                           (unsigned)p->problem_value & 0xffu);
        else
            sl_diag_add_at(b->diag, line, col, "invalid YAML input: %s", problem);
        return;
    }
    if (p->context != NULL)
        fail_at(b, &p->problem_mark, "YAML syntax error: %s (%s at line %u)", problem, p->context,
                mark_line(&p->context_mark));
    else
        fail_at(b, &p->problem_mark, "YAML syntax error: %s", problem);
}

static int run_parser(struct builder *b)
{
    yaml_parser_t parser;
    int rc = SL_OK;
    int ok = yaml_parser_initialize(&parser);
    SL_ASSERT(ok == 1);
    yaml_parser_set_input_string(&parser, (const unsigned char *)b->data, b->len);
    while (rc == SL_OK) {
        yaml_event_t ev;
        if (yaml_parser_parse(&parser, &ev) != 1) {
            report_parser_error(b, &parser);
            rc = SL_EPARSE;
            break;
        }
        rc = on_event(b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc == SL_DECLINED ? SL_OK : rc;
}

int sl_yaml_parse(const char *data, size_t len, struct sl_yaml_doc *doc, struct sl_diag *diag)
{
    *doc = (struct sl_yaml_doc){0};
    if (len > SL_YAML_MAX_BYTES) {
        sl_diag_add(diag, 0, "file is larger than %u bytes", SL_YAML_MAX_BYTES);
        return SL_EPARSE;
    }
    struct builder b = {.diag = diag, .data = data, .len = len};
    int rc = run_parser(&b);
    free(b.scratch);
    if (rc != SL_OK) {
        arena_free(&b.arena);
        return SL_EPARSE;
    }
    struct arena *owned = sl_xmalloc(sizeof(*owned));
    *owned = b.arena;
    doc->root = b.root;
    doc->_arena = owned;
    return SL_OK;
}

/* Reads at most max + 1 bytes so an oversized file is detected without reading all of it. */
int sl__yaml_read_file(const char *path, size_t max, char **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno;
    size_t cap = SL_MIN((size_t)4096, max + 1), len = 0;
    char *buf = sl_xmalloc(cap);
    int err = 0;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                err = EFBIG;
                break;
            }
            cap = SL_MIN(cap * 2, max + 1);
            buf = sl_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (err == 0 && len > max)
        err = EFBIG;
    if (err != 0) {
        free(buf);
        return err;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int sl_yaml_parse_file(const char *path, struct sl_yaml_doc *doc, struct sl_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    *doc = (struct sl_yaml_doc){0};
    int err = sl__yaml_read_file(path, SL_YAML_MAX_BYTES, &data, &len);
    if (err == EFBIG) {
        sl_diag_add(diag, 0, "file is larger than %u bytes", SL_YAML_MAX_BYTES);
        return SL_EPARSE;
    }
    if (err != 0) {
        sl_diag_add(diag, 0, "cannot read file: %s", strerror(err));
        return SL_EPARSE;
    }
    int rc = sl_yaml_parse(data, len, doc, diag);
    free(data);
    return rc;
}

void sl_yaml_doc_dispose(struct sl_yaml_doc *doc)
{
    if (doc->_arena != NULL)
        arena_free(doc->_arena);
    free(doc->_arena);
    *doc = (struct sl_yaml_doc){0};
}

bool sl_yaml_is_null(const struct sl_yaml_node *n)
{
    if (n == NULL || n->kind != SL_YAML_SCALAR || n->style != SL_YAML_PLAIN)
        return false;
    struct sl_str v = n->value;
    return v.len == 0 || sl_str_eq_lit(v, "~") || sl_str_eq_lit(v, "null") ||
           sl_str_eq_lit(v, "Null") || sl_str_eq_lit(v, "NULL");
}

const struct sl_yaml_node *sl_yaml_map_get(const struct sl_yaml_node *map, const char *key)
{
    if (map == NULL || map->kind != SL_YAML_MAP)
        return NULL;
    struct sl_str k = sl_str_from_cstr(key);
    for (size_t i = 0; i < map->n; i++) {
        if (sl_str_eq(map->pairs[i].key->value, k))
            return map->pairs[i].value;
    }
    return NULL;
}

const char *sl_yaml_describe(const struct sl_yaml_node *n)
{
    if (n == NULL || sl_yaml_is_null(n))
        return "null";
    switch (n->kind) {
    case SL_YAML_MAP:
        return "a mapping";
    case SL_YAML_SEQ:
        return "a list";
    default:
        return "a string";
    }
}
