#include <math.h>

#include "render.h"

#define FINGERPRINT "\"system_fingerprint\":\"fp_sluice_mock\""
/* Azure's content filter verdicts, all passing. */
#define AZURE_FILTERS                                                                              \
    "{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},\"self_harm\":{\"filtered\":false,"      \
    "\"severity\":\"safe\"},\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},\"violence\":{"  \
    "\"filtered\":false,\"severity\":\"safe\"}}"
#define AZURE_PROMPT_FILTERS                                                                       \
    "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":" AZURE_FILTERS "}" \
    "]"

static void put_head(struct mj_writer *w, const struct rd_ctx *c, const char *object, size_t len)
{
    MJ_PUT_LIT(w, "{\"id\":\"");
    mj_put_str(w, c->id);
    MJ_PUT_LIT(w, "\",\"object\":\"");
    mj_put(w, object, len);
    MJ_PUT_LIT(w, "\",\"created\":");
    mj_put_u64(w, c->created);
    MJ_PUT_LIT(w, ",\"model\":");
    mj_put_str(w, c->model);
    MJ_PUT_LIT(w, "," FINGERPRINT ",");
}

static void put_usage(struct mj_writer *w, const struct rd_ctx *c)
{
    MJ_PUT_LIT(w, "\"usage\":{\"prompt_tokens\":");
    mj_put_u64(w, c->prompt_tokens);
    MJ_PUT_LIT(w, ",\"completion_tokens\":");
    mj_put_u64(w, c->completion_tokens);
    MJ_PUT_LIT(w, ",\"total_tokens\":");
    mj_put_u64(w, c->prompt_tokens + c->completion_tokens);
    if (c->details) {
        MJ_PUT_LIT(w, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        mj_put_u64(w, c->cached_tokens);
        MJ_PUT_LIT(w, ",\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":");
        mj_put_u64(w, c->reasoning_tokens);
        MJ_PUT_LIT(w, ",\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                      "\"rejected_prediction_tokens\":0}");
    }
    MJ_PUT_LIT(w, "}");
}

/* ,"finish_reason":"..." then the end of the choice and of the choices array. */
static void put_finish(struct mj_writer *w, const struct rd_ctx *c)
{
    MJ_PUT_LIT(w, "\"finish_reason\":\"");
    if (c->finish_reason.ptr != NULL)
        mj_put_str(w, c->finish_reason);
    else
        MJ_PUT_LIT(w, "stop");
    MJ_PUT_LIT(w, "\"}]");
}

static void put_event_end(struct mj_writer *w, bool crlf)
{
    if (crlf)
        MJ_PUT_LIT(w, "\r\n\r\n");
    else
        MJ_PUT_LIT(w, "\n\n");
}

void rd_chat_completion(struct mj_writer *w, const struct rd_ctx *c, struct sl_str content,
                        bool usage)
{
    struct rd_message m = {.content = content};

    rd_chat_message(w, c, &m, usage);
}

/* A tool call's id: its own, or call_mock_<i>. */
static void put_call_id(struct mj_writer *w, const struct mock_tool_call *call, size_t i)
{
    if (call->id.ptr != NULL) {
        mj_put_escaped(w, call->id);
        return;
    }
    MJ_PUT_LIT(w, "\"call_mock_");
    mj_put_u64(w, i);
    MJ_PUT_LIT(w, "\"");
}

size_t rd_calls_bound(const struct mock_tool_call *calls, size_t n)
{
    size_t total = 32;

    for (size_t i = 0; i < n; i++)
        total += 96 + mj_escape_bound(calls[i].id.len) + mj_escape_bound(calls[i].name.len) +
                 mj_escape_bound(calls[i].args.len);
    return total;
}

static void put_calls(struct mj_writer *w, const struct mock_tool_call *calls, size_t n)
{
    MJ_PUT_LIT(w, ",\"tool_calls\":[");
    for (size_t i = 0; i < n; i++) {
        if (i != 0)
            MJ_PUT_LIT(w, ",");
        MJ_PUT_LIT(w, "{\"id\":");
        put_call_id(w, &calls[i], i);
        MJ_PUT_LIT(w, ",\"type\":\"function\",\"function\":{\"name\":");
        mj_put_escaped(w, calls[i].name);
        MJ_PUT_LIT(w, ",\"arguments\":");
        mj_put_escaped(w, calls[i].args);
        MJ_PUT_LIT(w, "}}");
    }
    MJ_PUT_LIT(w, "]");
}

void rd_chat_message(struct mj_writer *w, const struct rd_ctx *c, const struct rd_message *m,
                     bool usage)
{
    put_head(w, c, "chat.completion", 15);
    if (c->azure)
        MJ_PUT_LIT(w, AZURE_PROMPT_FILTERS ",");
    MJ_PUT_LIT(w, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    mj_put_str(w, m->content);
    if (m->reasoning.ptr != NULL) {
        MJ_PUT_LIT(w, ",\"reasoning_content\":");
        mj_put_str(w, m->reasoning);
    }
    MJ_PUT_LIT(w, ",\"refusal\":null");
    if (m->n_calls != 0)
        put_calls(w, m->calls, m->n_calls);
    MJ_PUT_LIT(w, "},\"logprobs\":null,");
    if (c->azure)
        MJ_PUT_LIT(w, "\"content_filter_results\":" AZURE_FILTERS ",");
    put_finish(w, c);
    if (usage) {
        MJ_PUT_LIT(w, ",");
        put_usage(w, c);
    }
    MJ_PUT_LIT(w, "}");
}

void rd_text_completion(struct mj_writer *w, const struct rd_ctx *c, struct sl_str content,
                        bool usage)
{
    put_head(w, c, "text_completion", 15);
    MJ_PUT_LIT(w, "\"choices\":[{\"text\":");
    mj_put_str(w, content);
    MJ_PUT_LIT(w, ",\"index\":0,\"logprobs\":null,");
    put_finish(w, c);
    if (usage) {
        MJ_PUT_LIT(w, ",");
        put_usage(w, c);
    }
    MJ_PUT_LIT(w, "}");
}

/* The end of a non-usage chunk: optional "usage":null, the closing brace and the blank line. */
static void put_chunk_end(struct mj_writer *w, const struct rd_ctx *c)
{
    if (c->usage_null)
        MJ_PUT_LIT(w, ",\"usage\":null}");
    else
        MJ_PUT_LIT(w, "}");
    put_event_end(w, c->crlf);
}

static void put_usage_chunk(struct mj_writer *w, const struct rd_ctx *c)
{
    MJ_PUT_LIT(w, "\"choices\":[],");
    put_usage(w, c);
    MJ_PUT_LIT(w, "}");
    put_event_end(w, c->crlf);
}

void rd_chat_event(struct mj_writer *w, const struct rd_ctx *c, enum rd_chunk kind,
                   struct sl_str content)
{
    MJ_PUT_LIT(w, "data: ");
    put_head(w, c, "chat.completion.chunk", 21);
    switch (kind) {
    case RD_CHUNK_ROLE:
        MJ_PUT_LIT(w,
                   "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                   "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]");
        break;
    case RD_CHUNK_CONTENT:
        MJ_PUT_LIT(w, "\"choices\":[{\"index\":0,\"delta\":{\"content\":");
        mj_put_str(w, content);
        MJ_PUT_LIT(w, "},\"logprobs\":null,\"finish_reason\":null}]");
        break;
    case RD_CHUNK_FINISH:
        MJ_PUT_LIT(w, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,");
        put_finish(w, c);
        break;
    case RD_CHUNK_USAGE:
        put_usage_chunk(w, c);
        return;
    }
    put_chunk_end(w, c);
}

void rd_text_event(struct mj_writer *w, const struct rd_ctx *c, enum rd_chunk kind,
                   struct sl_str content)
{
    MJ_PUT_LIT(w, "data: ");
    put_head(w, c, "text_completion", 15);
    switch (kind) {
    case RD_CHUNK_ROLE:
    case RD_CHUNK_CONTENT:
        MJ_PUT_LIT(w, "\"choices\":[{\"text\":");
        if (kind == RD_CHUNK_CONTENT)
            mj_put_str(w, content);
        else
            MJ_PUT_LIT(w, "\"\"");
        MJ_PUT_LIT(w, ",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]");
        break;
    case RD_CHUNK_FINISH:
        MJ_PUT_LIT(w, "\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,");
        put_finish(w, c);
        break;
    case RD_CHUNK_USAGE:
        put_usage_chunk(w, c);
        return;
    }
    put_chunk_end(w, c);
}

void rd_done_event(struct mj_writer *w, bool crlf)
{
    MJ_PUT_LIT(w, "data: [DONE]");
    put_event_end(w, crlf);
}

void rd_broken_event(struct mj_writer *w, const struct rd_ctx *c)
{
    MJ_PUT_LIT(w, "data: {\"id\":\"");
    mj_put_str(w, c->id);
    MJ_PUT_LIT(w, "\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":");
    put_event_end(w, c->crlf);
}

void rd_broken_body(struct mj_writer *w, const struct rd_ctx *c)
{
    MJ_PUT_LIT(w, "{\"id\":\"");
    mj_put_str(w, c->id);
    MJ_PUT_LIT(w,
               "\",\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":\"trunc");
}

void rd_error(struct mj_writer *w, struct sl_str message, struct sl_str type, struct sl_str param,
              struct sl_str code)
{
    MJ_PUT_LIT(w, "{\"error\":{\"message\":");
    mj_put_str(w, message);
    MJ_PUT_LIT(w, ",\"type\":");
    mj_put_str(w, type);
    MJ_PUT_LIT(w, ",\"param\":");
    mj_put_str(w, param);
    MJ_PUT_LIT(w, ",\"code\":");
    mj_put_str(w, code);
    MJ_PUT_LIT(w, "}}");
}

void rd_models(struct mj_writer *w, uint64_t created)
{
    static const char *const ids[] = {"gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct",
                                      "text-embedding-3-small", "sluice-mock"};

    MJ_PUT_LIT(w, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < SL_ARRAY_LEN(ids); i++) {
        MJ_PUT_LIT(w, "{\"id\":\"");
        mj_put(w, ids[i], strlen(ids[i]));
        MJ_PUT_LIT(w, "\",\"object\":\"model\",\"created\":");
        mj_put_u64(w, created);
        MJ_PUT_LIT(w, ",\"owned_by\":\"sluice-mock\"}");
        if (i + 1 < SL_ARRAY_LEN(ids))
            MJ_PUT_LIT(w, ",");
    }
    MJ_PUT_LIT(w, "]}");
}

static size_t char_start(struct sl_str t, size_t at)
{
    while (at < t.len && ((unsigned char)t.ptr[at] & 0xc0) == 0x80)
        at++;
    return at;
}

struct sl_str rd_piece(struct sl_str text, uint64_t i, uint64_t n)
{
    if (n == 0 || i >= n)
        return sl_str_init(text.ptr, 0);
    size_t from = char_start(text, (size_t)(text.len * i / n));
    size_t to = char_start(text, (size_t)(text.len * (i + 1) / n));
    return sl_str_init(text.ptr + from, to - from);
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rd_embedding_vector(float *out, size_t dims, struct sl_str text)
{
    uint64_t state = 0xcbf29ce484222325ULL; /* FNV-1a of the text seeds the generator */
    double norm = 0;

    for (size_t i = 0; i < text.len; i++)
        state = (state ^ (unsigned char)text.ptr[i]) * 0x100000001b3ULL;
    state ^= dims;
    for (size_t i = 0; i < dims; i++) {
        double x = (double)(splitmix64(&state) >> 11) / (double)(1ULL << 53);
        out[i] = (float)(2.0 * x - 1.0);
        norm += (double)out[i] * out[i];
    }
    norm = sqrt(norm);
    for (size_t i = 0; i < dims && norm > 0; i++)
        out[i] = (float)(out[i] / norm);
}

/* Writes v (|v| <= 1) with 7 decimals, without printf so the output never depends on locale. */
static void put_unit_float(struct mj_writer *w, float v)
{
    long q = lround((double)v * 1e7);
    char tmp[8];

    if (q < 0) {
        MJ_PUT_LIT(w, "-");
        q = -q;
    }
    mj_put_u64(w, (uint64_t)(q / 10000000));
    MJ_PUT_LIT(w, ".");
    q %= 10000000;
    for (int i = 6; i >= 0; i--) {
        tmp[i] = (char)('0' + q % 10);
        q /= 10;
    }
    mj_put(w, tmp, 7);
}

static void put_base64_floats(struct mj_writer *w, const float *v, size_t dims)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = dims * 4;
    unsigned char b[3];

    for (size_t i = 0; i < n; i += 3) {
        size_t take = SL_MIN(n - i, 3);
        for (size_t k = 0; k < 3; k++) {
            size_t at = i + k;
            uint32_t bits;
            if (k >= take) {
                b[k] = 0;
                continue;
            }
            memcpy(&bits, &v[at / 4], 4);
            b[k] = (unsigned char)(bits >> (8 * (at % 4))); /* little-endian float32 bytes */
        }
        char out[4] = {tbl[b[0] >> 2], tbl[((b[0] & 3) << 4) | (b[1] >> 4)],
                       take > 1 ? tbl[((b[1] & 15) << 2) | (b[2] >> 6)] : '=',
                       take > 2 ? tbl[b[2] & 63] : '='};
        mj_put(w, out, 4);
    }
}

void rd_embeddings_begin(struct mj_writer *w)
{
    MJ_PUT_LIT(w, "{\"object\":\"list\",\"data\":[");
}

void rd_embedding_item(struct mj_writer *w, size_t index, const float *v, size_t dims, bool base64)
{
    if (index != 0)
        MJ_PUT_LIT(w, ",");
    MJ_PUT_LIT(w, "{\"object\":\"embedding\",\"index\":");
    mj_put_u64(w, index);
    MJ_PUT_LIT(w, ",\"embedding\":");
    if (base64) {
        MJ_PUT_LIT(w, "\"");
        put_base64_floats(w, v, dims);
        MJ_PUT_LIT(w, "\"}");
        return;
    }
    MJ_PUT_LIT(w, "[");
    for (size_t i = 0; i < dims; i++) {
        if (i != 0)
            MJ_PUT_LIT(w, ",");
        put_unit_float(w, v[i]);
    }
    MJ_PUT_LIT(w, "]}");
}

void rd_embeddings_end(struct mj_writer *w, struct sl_str model, uint64_t prompt_tokens)
{
    MJ_PUT_LIT(w, "],\"model\":");
    mj_put_str(w, model);
    MJ_PUT_LIT(w, ",\"usage\":{\"prompt_tokens\":");
    mj_put_u64(w, prompt_tokens);
    MJ_PUT_LIT(w, ",\"total_tokens\":");
    mj_put_u64(w, prompt_tokens);
    MJ_PUT_LIT(w, "}}");
}

/* --- planned OpenAI streams --- */

enum rd_kind {
    RDK_AZURE = 0, /* Azure: the first chunk, with prompt_filter_results and no choice */
    RDK_ROLE,      /* chat: delta.role (content "" or null) */
    RDK_REASONING, /* chat: delta.reasoning_content piece */
    RDK_CONTENT,   /* delta.content piece (chat) or text piece (legacy) */
    RDK_TOOL_HEAD, /* chat: index, id, type, function.name, empty arguments */
    RDK_TOOL_ARGS, /* chat: a function.arguments piece */
    RDK_FINISH,
    RDK_USAGE,
    RDK_DONE,
};

static void add_seg(struct rd_stream *s, enum rd_kind kind, unsigned flags, size_t arg,
                    uint64_t count)
{
    SL_ASSERT(s->_n_segs < RD_MAX_SEGS);
    if (count == 0)
        return;
    s->_segs[s->_n_segs++] = (struct rd_seg){(uint8_t)kind, (uint8_t)flags, (uint16_t)arg, count};
}

uint64_t rd_stream_deltas(const struct rd_stream *s)
{
    uint64_t n = (s->text ? s->chunks : 0) + (s->reasoning.ptr != NULL ? s->chunks : 0);

    for (size_t i = 0; i < s->n_calls; i++)
        n += rd_arg_pieces(s->calls[i].args);
    return n;
}

size_t rd_stream_plan(struct rd_stream *s, mock_alloc_fn *alloc, void *ud,
                      const struct rd_seg **segs, size_t *n_segs)
{
    const unsigned delta = RD_SEG_DELTA | RD_SEG_CHECK;
    size_t tok = s->chunk_tok.len, head = 0;

    s->_n_segs = 0;
    if (s->chat && s->c.azure)
        add_seg(s, RDK_AZURE, 0, 0, 1);
    if (s->chat)
        add_seg(s, RDK_ROLE, 0, 0, 1);
    if (s->reasoning.ptr != NULL) {
        add_seg(s, RDK_REASONING, delta, 0, s->chunks);
        tok = SL_MAX(tok, mj_escape_bound(rd_piece_bound(s->reasoning, s->chunks)));
    }
    if (s->text)
        add_seg(s, RDK_CONTENT, delta, 0, s->chunks);
    if (s->chunk_tok.ptr == NULL)
        tok = SL_MAX(tok, mj_escape_bound(rd_piece_bound(s->reply, s->chunks)));
    for (size_t i = 0; i < s->n_calls; i++) {
        add_seg(s, RDK_TOOL_HEAD, RD_SEG_CHECK, i, 1);
        add_seg(s, RDK_TOOL_ARGS, delta, i, rd_arg_pieces(s->calls[i].args));
        tok = SL_MAX(tok, mj_escape_bound(s->calls[i].args.len));
        head = SL_MAX(head, rd_calls_bound(&s->calls[i], 1));
    }
    add_seg(s, RDK_FINISH, RD_SEG_CHECK, 0, 1);
    if (s->usage)
        add_seg(s, RDK_USAGE, 0, 0, 1);
    add_seg(s, RDK_DONE, 0, 0, 1);
    s->_tok = alloc(ud, tok + 1);
    *segs = s->_segs;
    *n_segs = s->_n_segs;
    return rd_bound(&s->c, SL_MAX(tok, head)) + 256;
}

/* The escaped content piece j: chunk_text, or piece j of the reply. */
static struct sl_str content_piece(struct rd_stream *s, uint64_t j)
{
    if (s->chunk_tok.ptr != NULL)
        return s->chunk_tok;
    return sl_str_init(s->_tok, mj_escape(s->_tok, rd_piece(s->reply, j, s->chunks)));
}

static void put_delta_open(struct mj_writer *w, const struct rd_stream *s)
{
    MJ_PUT_LIT(w, "data: ");
    put_head(w, &s->c, "chat.completion.chunk", 21);
    MJ_PUT_LIT(w, "\"choices\":[{\"index\":0,\"delta\":{");
}

static void put_delta_close(struct mj_writer *w, const struct rd_stream *s)
{
    MJ_PUT_LIT(w, "},\"logprobs\":null,\"finish_reason\":null}]");
    put_chunk_end(w, &s->c);
}

static void tool_event(struct rd_stream *s, const struct rd_seg *seg, uint64_t j,
                       struct mj_writer *w)
{
    const struct mock_tool_call *call = &s->calls[seg->arg];

    put_delta_open(w, s);
    MJ_PUT_LIT(w, "\"tool_calls\":[{\"index\":");
    mj_put_u64(w, seg->arg);
    if (seg->kind == RDK_TOOL_HEAD) {
        MJ_PUT_LIT(w, ",\"id\":");
        put_call_id(w, call, seg->arg);
        MJ_PUT_LIT(w, ",\"type\":\"function\",\"function\":{\"name\":");
        mj_put_escaped(w, call->name);
        MJ_PUT_LIT(w, ",\"arguments\":\"\"}}]");
    } else {
        struct sl_str piece = rd_piece(call->args, j, rd_arg_pieces(call->args));
        MJ_PUT_LIT(w, ",\"function\":{\"arguments\":");
        mj_put_escaped(w, piece);
        MJ_PUT_LIT(w, "}}]");
    }
    put_delta_close(w, s);
}

void rd_stream_event(void *stream, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct rd_stream *s = stream;
    void (*render)(struct mj_writer *, const struct rd_ctx *, enum rd_chunk, struct sl_str) =
        s->chat ? rd_chat_event : rd_text_event;

    switch ((enum rd_kind)seg->kind) {
    case RDK_AZURE:
        MJ_PUT_LIT(w, "data: "
                      "{\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":"
                      "\"\"," AZURE_PROMPT_FILTERS "}");
        put_event_end(w, s->c.crlf);
        return;
    case RDK_ROLE:
        if (s->text) {
            render(w, &s->c, RD_CHUNK_ROLE, SL_STR_NULL);
            return;
        }
        put_delta_open(w, s);
        MJ_PUT_LIT(w, "\"role\":\"assistant\",\"content\":null,\"refusal\":null");
        put_delta_close(w, s);
        return;
    case RDK_REASONING:
        put_delta_open(w, s);
        MJ_PUT_LIT(w, "\"reasoning_content\":");
        mj_put_escaped(w, rd_piece(s->reasoning, j, s->chunks));
        put_delta_close(w, s);
        return;
    case RDK_CONTENT:
        if (s->invalid_json)
            rd_broken_event(w, &s->c);
        else
            render(w, &s->c, RD_CHUNK_CONTENT, content_piece(s, j));
        return;
    case RDK_TOOL_HEAD:
    case RDK_TOOL_ARGS:
        tool_event(s, seg, j, w);
        return;
    case RDK_FINISH:
        render(w, &s->c, RD_CHUNK_FINISH, SL_STR_NULL);
        return;
    case RDK_USAGE:
        render(w, &s->c, RD_CHUNK_USAGE, SL_STR_NULL);
        return;
    case RDK_DONE:
        rd_done_event(w, s->c.crlf);
        return;
    }
    SL_ASSERT(!"unknown OpenAI stream event kind");
}

void rd_stream_error(void *stream, struct mj_writer *w)
{
    struct rd_stream *s = stream;

    MJ_PUT_LIT(w, "data: ");
    rd_error(w,
             SL_STRLIT("\"The server had an error while processing your request. Sorry about "
                       "that! (sluice-mock: stream_error_after_chunks)\""),
             SL_STRLIT("\"server_error\""), SL_STRLIT("null"), SL_STRLIT("null"));
    put_event_end(w, s->c.crlf);
}
