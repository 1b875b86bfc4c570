#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mjson.h"
#include "record.h"
#include "sluice/base.h"

/* One recorded request, packed into a buffer reused by later requests in the same slot. */
struct slot {
    char *buf;
    size_t cap;
    size_t method_len, path_len, body_len;
    size_t n_headers;
    uint32_t name_len[REC_MAX_HEADERS];
    uint32_t value_len[REC_MAX_HEADERS];
};

/* Requests seen with one mock.tag (for mock.fail_first). */
struct tag_count {
    char tag[MOCK_MAX_TAG];
    size_t len;
    uint64_t seen;
};

static struct {
    pthread_mutex_t lock;
    struct slot slots[REC_SLOTS];
    struct tag_count tags[REC_MAX_TAGS];
    size_t n_tags;
    uint64_t next; /* total requests recorded since the last reset */
    struct rec_counters *const *counters;
    size_t n_counters;
    uint64_t baseline[REC_NCOUNTERS];
} g_rec = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const counter_names[REC_NCOUNTERS] = {
    [REC_REQUESTS] = "requests",
    [REC_CHAT] = "chat",
    [REC_COMPLETIONS] = "completions",
    [REC_EMBEDDINGS] = "embeddings",
    [REC_MODELS] = "models",
    [REC_MESSAGES] = "messages",
    [REC_COUNT_TOKENS] = "count_tokens",
    [REC_BEDROCK] = "bedrock",
    [REC_RESPONSES] = "responses",
    [REC_STREAMS_STARTED] = "streams_started",
    [REC_STREAMS_COMPLETED] = "streams_completed",
    [REC_STREAMS_ABORTED] = "streams_aborted",
    [REC_STREAMS_DISCONNECTED] = "streams_disconnected",
    [REC_ERRORS_INJECTED] = "errors_injected",
    [REC_BYTES_IN] = "bytes_in",
    [REC_GEMINI] = "gemini",
    [REC_RAW_PREDICT] = "raw_predict",
    [REC_TOKEN_REQUESTS] = "token_requests",
    [REC_TOKENS] = "tokens",
    [REC_TOKEN_ERRORS] = "token_errors",
};

void rec_init(struct rec_counters *const *counters, size_t n)
{
    g_rec.counters = counters;
    g_rec.n_counters = n;
}

void rec_dispose(void)
{
    for (size_t i = 0; i < REC_SLOTS; i++) {
        free(g_rec.slots[i].buf);
        g_rec.slots[i].buf = NULL;
        g_rec.slots[i].cap = 0;
    }
}

static void put(char **p, struct sl_str s)
{
    memcpy(*p, s.ptr, s.len);
    *p += s.len;
}

void rec_add(const struct rec_request *r)
{
    size_t method_len = SL_MIN(r->method.len, 32), path_len = SL_MIN(r->path.len, REC_MAX_PATH);
    size_t body_len = SL_MIN(r->body.len, REC_MAX_BODY), header_bytes = 0, n_headers = 0;

    for (; n_headers < r->n_headers && n_headers < REC_MAX_HEADERS; n_headers++) {
        size_t n = r->headers[n_headers].name.len + r->headers[n_headers].value.len;
        if (header_bytes + n > REC_MAX_HEADER_BYTES)
            break;
        header_bytes += n;
    }
    size_t need = method_len + path_len + header_bytes + body_len;

    pthread_mutex_lock(&g_rec.lock);
    struct slot *s = &g_rec.slots[g_rec.next++ % REC_SLOTS];
    if (s->cap < need) {
        s->cap = SL_MAX(need, 2048);
        free(s->buf);
        s->buf = sl_xmalloc(s->cap);
    }
    char *p = s->buf;
    put(&p, sl_str_init(r->method.ptr, method_len));
    put(&p, sl_str_init(r->path.ptr, path_len));
    for (size_t i = 0; i < n_headers; i++) {
        put(&p, r->headers[i].name);
        put(&p, r->headers[i].value);
        s->name_len[i] = (uint32_t)r->headers[i].name.len;
        s->value_len[i] = (uint32_t)r->headers[i].value.len;
    }
    if (body_len != 0)
        put(&p, sl_str_init(r->body.ptr, body_len));
    s->method_len = method_len;
    s->path_len = path_len;
    s->body_len = body_len;
    s->n_headers = n_headers;
    pthread_mutex_unlock(&g_rec.lock);
}

void rec_reset(void)
{
    pthread_mutex_lock(&g_rec.lock);
    g_rec.next = 0;
    g_rec.n_tags = 0;
    for (size_t c = 0; c < REC_NCOUNTERS; c++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < g_rec.n_counters; i++)
            sum += atomic_load_explicit(&g_rec.counters[i]->v[c], memory_order_relaxed);
        g_rec.baseline[c] = sum;
    }
    pthread_mutex_unlock(&g_rec.lock);
}

int rec_count_tag(struct sl_str tag, uint64_t *seen)
{
    int rc = SL_OK;
    size_t i = 0;

    SL_ASSERT(tag.len <= MOCK_MAX_TAG);
    pthread_mutex_lock(&g_rec.lock);
    while (i < g_rec.n_tags &&
           (g_rec.tags[i].len != tag.len || memcmp(g_rec.tags[i].tag, tag.ptr, tag.len) != 0))
        i++;
    if (i == g_rec.n_tags) {
        if (i == REC_MAX_TAGS) {
            rc = SL_ERR;
            goto out;
        }
        memcpy(g_rec.tags[i].tag, tag.ptr, tag.len);
        g_rec.tags[i].len = tag.len;
        g_rec.tags[i].seen = 0;
        g_rec.n_tags++;
    }
    *seen = ++g_rec.tags[i].seen;
out:
    pthread_mutex_unlock(&g_rec.lock);
    return rc;
}

static size_t slot_bytes(const struct slot *s)
{
    size_t n = s->method_len + s->path_len + s->body_len;
    for (size_t i = 0; i < s->n_headers; i++)
        n += s->name_len[i] + s->value_len[i];
    return n;
}

/* Writes the values of header i and of later headers with the same name, joined with ", ". */
static void put_joined(struct mj_writer *w, const struct slot *s, const char *const *names,
                       const char *const *values, size_t i)
{
    size_t n = 0;
    char *joined;

    for (size_t k = i; k < s->n_headers; k++)
        if (s->name_len[k] == s->name_len[i] &&
            strncasecmp(names[k], names[i], s->name_len[i]) == 0)
            n += s->value_len[k] + 2;
    joined = sl_xmalloc(n + 1);
    n = 0;
    for (size_t k = i; k < s->n_headers; k++) {
        if (s->name_len[k] != s->name_len[i] ||
            strncasecmp(names[k], names[i], s->name_len[i]) != 0)
            continue;
        if (n != 0) {
            memcpy(joined + n, ", ", 2);
            n += 2;
        }
        memcpy(joined + n, values[k], s->value_len[k]);
        n += s->value_len[k];
    }
    mj_put_escaped(w, sl_str_init(joined, n));
    free(joined);
}

/* Writes the headers object: names lower-cased, values of repeated names joined with ", ". */
static void put_headers(struct mj_writer *w, const struct slot *s, const char *hdrs)
{
    const char *names[REC_MAX_HEADERS];
    const char *values[REC_MAX_HEADERS];
    bool first = true;

    for (size_t i = 0, off = 0; i < s->n_headers; i++) {
        names[i] = hdrs + off;
        values[i] = hdrs + off + s->name_len[i];
        off += s->name_len[i] + s->value_len[i];
    }
    MJ_PUT_LIT(w, "{");
    for (size_t i = 0; i < s->n_headers; i++) {
        char lower[256];
        size_t nlen = SL_MIN(s->name_len[i], sizeof(lower));
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = s->name_len[k] == s->name_len[i] &&
                   strncasecmp(names[k], names[i], s->name_len[i]) == 0;
        if (seen)
            continue;
        for (size_t k = 0; k < nlen; k++)
            lower[k] =
                (char)(names[i][k] >= 'A' && names[i][k] <= 'Z' ? names[i][k] + 32 : names[i][k]);
        if (!first)
            MJ_PUT_LIT(w, ",");
        first = false;
        mj_put_escaped(w, sl_str_init(lower, nlen));
        MJ_PUT_LIT(w, ":");
        put_joined(w, s, names, values, i);
    }
    MJ_PUT_LIT(w, "}");
}

struct sl_str rec_render_requests(mock_alloc_fn *alloc, void *ud)
{
    pthread_mutex_lock(&g_rec.lock);
    size_t count = SL_MIN(g_rec.next, REC_SLOTS), cap = 2;
    uint64_t first = g_rec.next - count;

    for (uint64_t i = first; i < g_rec.next; i++) {
        const struct slot *s = &g_rec.slots[i % REC_SLOTS];
        /* Escaping grows text at most 6x; joining repeated headers adds ", " per header. */
        cap += 128 + mj_escape_bound(slot_bytes(s) + 2 * s->n_headers) + 8 * s->n_headers;
    }
    struct mj_writer w = {alloc(ud, cap), NULL};
    char *begin = w.ptr;
    w.end = w.ptr + cap;
    MJ_PUT_LIT(&w, "[");
    for (uint64_t i = first; i < g_rec.next; i++) {
        const struct slot *s = &g_rec.slots[i % REC_SLOTS];
        const char *p = s->buf;
        if (i != first)
            MJ_PUT_LIT(&w, ",");
        MJ_PUT_LIT(&w, "{\"method\":");
        mj_put_escaped(&w, sl_str_init(p, s->method_len));
        p += s->method_len;
        MJ_PUT_LIT(&w, ",\"path\":");
        mj_put_escaped(&w, sl_str_init(p, s->path_len));
        p += s->path_len;
        MJ_PUT_LIT(&w, ",\"headers\":");
        put_headers(&w, s, p);
        p += slot_bytes(s) - s->method_len - s->path_len - s->body_len;
        MJ_PUT_LIT(&w, ",\"body\":");
        mj_put_escaped(&w, sl_str_init(p, s->body_len));
        MJ_PUT_LIT(&w, "}");
    }
    MJ_PUT_LIT(&w, "]");
    pthread_mutex_unlock(&g_rec.lock);
    return sl_str_init(begin, (size_t)(w.ptr - begin));
}

struct sl_str rec_render_stats(mock_alloc_fn *alloc, void *ud)
{
    uint64_t sum[REC_NCOUNTERS] = {0};
    size_t cap = 64 + REC_NCOUNTERS * 48;
    struct mj_writer w = {alloc(ud, cap), NULL};
    char *begin = w.ptr;

    w.end = w.ptr + cap;
    pthread_mutex_lock(&g_rec.lock);
    for (size_t c = 0; c < REC_NCOUNTERS; c++) {
        for (size_t i = 0; i < g_rec.n_counters; i++)
            sum[c] += atomic_load_explicit(&g_rec.counters[i]->v[c], memory_order_relaxed);
        if (c != REC_ACTIVE_BEGUN && c != REC_ACTIVE_ENDED)
            sum[c] -= g_rec.baseline[c];
    }
    pthread_mutex_unlock(&g_rec.lock);
    MJ_PUT_LIT(&w, "{");
    for (size_t c = 0; c < REC_NCOUNTERS; c++) {
        if (counter_names[c] == NULL)
            continue;
        MJ_PUT_LIT(&w, "\"");
        mj_put(&w, counter_names[c], strlen(counter_names[c]));
        MJ_PUT_LIT(&w, "\":");
        mj_put_u64(&w, sum[c]);
        MJ_PUT_LIT(&w, ",");
    }
    MJ_PUT_LIT(&w, "\"active\":");
    mj_put_u64(&w, sum[REC_ACTIVE_BEGUN] - sum[REC_ACTIVE_ENDED]);
    MJ_PUT_LIT(&w, "}");
    return sl_str_init(begin, (size_t)(w.ptr - begin));
}
