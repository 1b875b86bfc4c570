#include "render_anthropic.h"

/* Fixed text of any one event or of the body around its variable parts. */
#define RA_OVERHEAD 768

enum ra_kind {
    RAK_MESSAGE_START = 0,
    RAK_BLOCK_START, /* arg: block index */
    RAK_PING,
    RAK_DELTA,     /* arg: block index */
    RAK_SIGNATURE, /* arg: block index (the thinking block) */
    RAK_BLOCK_STOP,
    RAK_MESSAGE_DELTA,
    RAK_MESSAGE_STOP,
};

/* The blocks of a reply, in order: thinking?, text?, tool_use... */
enum ra_block { RAB_THINKING = 0, RAB_TEXT, RAB_TOOL };

static enum ra_block block_of(const struct ra_reply *r, size_t index, size_t *tool)
{
    if (r->thinking.ptr != NULL) {
        if (index == 0)
            return RAB_THINKING;
        index--;
    }
    if (r->text) {
        if (index == 0)
            return RAB_TEXT;
        index--;
    }
    SL_ASSERT(index < r->n_tools);
    *tool = index;
    return RAB_TOOL;
}

static size_t n_blocks(const struct ra_reply *r)
{
    return (r->thinking.ptr != NULL) + r->text + r->n_tools;
}

void ra_signature(char out[RA_SIG_LEN], struct sl_str thinking)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[33] = "sluice-mock-sig:";
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < thinking.len; i++)
        h = (h ^ (unsigned char)thinking.ptr[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < 16; i++)
        raw[16 + i] = (unsigned char)hex[(h >> (60 - 4 * i)) & 0xf];
    /* 32 bytes: ten full groups of three, then two bytes and one '='. */
    for (size_t i = 0, o = 0; i < 32; i += 3, o += 4) {
        unsigned b0 = raw[i], b1 = raw[i + 1], b2 = i + 2 < 32 ? raw[i + 2] : 0;
        out[o] = tbl[b0 >> 2];
        out[o + 1] = tbl[((b0 & 3) << 4) | (b1 >> 4)];
        out[o + 2] = tbl[((b1 & 15) << 2) | (b2 >> 6)];
        out[o + 3] = i + 2 < 32 ? tbl[b2 & 63] : '=';
    }
}

static void put_event_end(struct mj_writer *w, bool crlf)
{
    if (crlf)
        MJ_PUT_LIT(w, "\r\n\r\n");
    else
        MJ_PUT_LIT(w, "\n\n");
}

/* "event: NAME" and its line end, then "data: ". */
static void put_event_head(struct mj_writer *w, const struct ra_reply *r, const char *name,
                           size_t len)
{
    MJ_PUT_LIT(w, "event: ");
    mj_put(w, name, len);
    if (r->crlf)
        MJ_PUT_LIT(w, "\r\ndata: ");
    else
        MJ_PUT_LIT(w, "\ndata: ");
}

#define PUT_EVENT_HEAD(w, r, lit) put_event_head((w), (r), (lit), sizeof(lit) - 1)

static void put_tool_id(struct mj_writer *w, const struct mock_tool_call *t, size_t i)
{
    if (t->id.ptr != NULL) {
        mj_put_escaped(w, t->id);
        return;
    }
    MJ_PUT_LIT(w, "\"toolu_mock_");
    mj_put_u64(w, i);
    MJ_PUT_LIT(w, "\"");
}

/* "stop_reason":...,"stop_sequence":...,"stop_details":... */
static void put_stop(struct mj_writer *w, const struct ra_reply *r, bool started)
{
    MJ_PUT_LIT(w, "\"stop_reason\":");
    if (started) {
        MJ_PUT_LIT(w, "null,\"stop_sequence\":null,\"stop_details\":null");
        return;
    }
    MJ_PUT_LIT(w, "\"");
    mj_put_str(w, r->stop_reason);
    MJ_PUT_LIT(w, "\",\"stop_sequence\":");
    if (r->stop_sequence.ptr != NULL)
        mj_put_escaped(w, r->stop_sequence);
    else
        MJ_PUT_LIT(w, "null");
    if (sl_str_eq_lit(r->stop_reason, "refusal"))
        MJ_PUT_LIT(w, ",\"stop_details\":{\"type\":\"refusal\",\"category\":null,"
                      "\"explanation\":null}");
    else
        MJ_PUT_LIT(w, ",\"stop_details\":null");
}

/* The Message usage object; message_start reports one output token so far. */
static void put_usage(struct mj_writer *w, const struct ra_reply *r, bool started)
{
    MJ_PUT_LIT(w, "\"usage\":{\"input_tokens\":");
    mj_put_u64(w, r->input_tokens);
    MJ_PUT_LIT(w, ",\"cache_creation_input_tokens\":");
    mj_put_u64(w, r->cache_creation_input_tokens);
    MJ_PUT_LIT(w, ",\"cache_read_input_tokens\":");
    mj_put_u64(w, r->cache_read_input_tokens);
    MJ_PUT_LIT(w, ",\"cache_creation\":{\"ephemeral_5m_input_tokens\":");
    mj_put_u64(w, r->cache_creation_input_tokens);
    MJ_PUT_LIT(w, ",\"ephemeral_1h_input_tokens\":0},\"output_tokens\":");
    mj_put_u64(w, started ? SL_MIN(r->output_tokens, 1) : r->output_tokens);
    MJ_PUT_LIT(w, ",\"service_tier\":\"standard\",\"inference_geo\":\"not_available\"}");
}

/* The message object up to its content array's opening bracket. */
static void put_message_head(struct mj_writer *w, const struct ra_reply *r)
{
    MJ_PUT_LIT(w, "{\"id\":\"");
    mj_put_str(w, r->id);
    MJ_PUT_LIT(w, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    mj_put_str(w, r->model);
    MJ_PUT_LIT(w, ",\"content\":[");
}

static size_t tools_bound(const struct ra_reply *r)
{
    size_t total = 0;

    for (size_t i = 0; i < r->n_tools; i++)
        total += 128 + mj_escape_bound(r->tools[i].id.len) + mj_escape_bound(r->tools[i].name.len) +
                 mj_escape_bound(r->tools[i].args.len);
    return total;
}

size_t ra_message_bound(const struct ra_reply *r)
{
    size_t n = RA_OVERHEAD + r->id.len + r->model.len + r->text_tok.len + tools_bound(r);

    if (r->thinking.ptr != NULL)
        n += mj_escape_bound(r->thinking.len) + RA_SIG_LEN;
    if (r->stop_sequence.ptr != NULL)
        n += mj_escape_bound(r->stop_sequence.len);
    return n;
}

static void put_tool_block(struct mj_writer *w, const struct ra_reply *r, size_t i, bool started)
{
    MJ_PUT_LIT(w, "{\"type\":\"tool_use\",\"id\":");
    put_tool_id(w, &r->tools[i], i);
    MJ_PUT_LIT(w, ",\"name\":");
    mj_put_escaped(w, r->tools[i].name);
    MJ_PUT_LIT(w, ",\"input\":");
    if (started)
        MJ_PUT_LIT(w, "{}");
    else
        mj_put_str(w, r->tools[i].args);
    MJ_PUT_LIT(w, ",\"caller\":{\"type\":\"direct\"}}");
}

void ra_message(struct mj_writer *w, struct ra_reply *r)
{
    size_t blocks = n_blocks(r);

    if (r->invalid_json) {
        put_message_head(w, r);
        MJ_PUT_LIT(w, "{\"type\":\"text\",\"text\":\"trunc");
        return;
    }
    put_message_head(w, r);
    for (size_t b = 0; b < blocks; b++) {
        size_t tool = 0;
        if (b != 0)
            MJ_PUT_LIT(w, ",");
        switch (block_of(r, b, &tool)) {
        case RAB_THINKING:
            ra_signature(r->_sig, r->thinking);
            MJ_PUT_LIT(w, "{\"type\":\"thinking\",\"thinking\":");
            mj_put_escaped(w, r->thinking);
            MJ_PUT_LIT(w, ",\"signature\":\"");
            mj_put(w, r->_sig, RA_SIG_LEN);
            MJ_PUT_LIT(w, "\"}");
            break;
        case RAB_TEXT:
            MJ_PUT_LIT(w, "{\"type\":\"text\",\"text\":");
            mj_put_str(w, r->text_tok);
            MJ_PUT_LIT(w, "}");
            break;
        case RAB_TOOL:
            put_tool_block(w, r, tool, false);
            break;
        }
    }
    MJ_PUT_LIT(w, "],");
    put_stop(w, r, false);
    MJ_PUT_LIT(w, ",");
    put_usage(w, r, false);
    MJ_PUT_LIT(w, "}");
}

/* The pieces of block b's deltas. */
static uint64_t block_deltas(const struct ra_reply *r, size_t b)
{
    size_t tool = 0;

    switch (block_of(r, b, &tool)) {
    case RAB_THINKING:
    case RAB_TEXT:
        return r->chunks;
    case RAB_TOOL:
        return 1 + rd_arg_pieces(r->tools[tool].args); /* an empty partial_json first */
    }
    return 0;
}

uint64_t ra_deltas(const struct ra_reply *r)
{
    uint64_t n = 0;

    for (size_t b = 0; b < n_blocks(r); b++)
        n += block_deltas(r, b);
    return n;
}

static void add_seg(struct ra_reply *r, enum ra_kind kind, unsigned flags, size_t arg,
                    uint64_t count)
{
    if (count != 0)
        r->_segs[r->_n_segs++] =
            (struct rd_seg){(uint8_t)kind, (uint8_t)flags, (uint16_t)arg, count};
}

size_t ra_stream_plan(struct ra_reply *r, mock_alloc_fn *alloc, void *ud,
                      const struct rd_seg **segs, size_t *n_segs)
{
    const unsigned delta = RD_SEG_DELTA | RD_SEG_CHECK;
    size_t blocks = n_blocks(r), tok = r->chunk_tok.len;

    r->_segs = alloc(ud, (4 + 5 * blocks) * sizeof(*r->_segs));
    r->_n_segs = 0;
    add_seg(r, RAK_MESSAGE_START, 0, 0, 1);
    for (size_t b = 0; b < blocks; b++) {
        size_t tool = 0;
        enum ra_block kind = block_of(r, b, &tool);
        add_seg(r, RAK_BLOCK_START, RD_SEG_CHECK, b, 1);
        if (b == 0)
            add_seg(r, RAK_PING, 0, 0, 1);
        add_seg(r, RAK_DELTA, delta, b, block_deltas(r, b));
        if (kind == RAB_THINKING) {
            add_seg(r, RAK_SIGNATURE, RD_SEG_CHECK, b, 1);
            tok = SL_MAX(tok, mj_escape_bound(rd_piece_bound(r->thinking, r->chunks)));
        } else if (kind == RAB_TEXT && r->chunk_tok.ptr == NULL) {
            tok = SL_MAX(tok, mj_escape_bound(rd_piece_bound(r->reply, r->chunks)));
        } else if (kind == RAB_TOOL) {
            tok = SL_MAX(tok, mj_escape_bound(r->tools[tool].args.len));
        }
        add_seg(r, RAK_BLOCK_STOP, RD_SEG_CHECK, b, 1);
    }
    add_seg(r, RAK_MESSAGE_DELTA, RD_SEG_CHECK, 0, 1);
    add_seg(r, RAK_MESSAGE_STOP, 0, 0, 1);
    r->_tok = alloc(ud, tok + 1);
    *segs = r->_segs;
    *n_segs = r->_n_segs;
    return ra_message_bound(r) + tok;
}

static void put_block_start(struct mj_writer *w, struct ra_reply *r, size_t b)
{
    size_t tool = 0;

    PUT_EVENT_HEAD(w, r, "content_block_start");
    MJ_PUT_LIT(w, "{\"type\":\"content_block_start\",\"index\":");
    mj_put_u64(w, b);
    MJ_PUT_LIT(w, ",\"content_block\":");
    switch (block_of(r, b, &tool)) {
    case RAB_THINKING:
        MJ_PUT_LIT(w, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
        break;
    case RAB_TEXT:
        MJ_PUT_LIT(w, "{\"type\":\"text\",\"text\":\"\"}");
        break;
    case RAB_TOOL:
        put_tool_block(w, r, tool, true);
        break;
    }
    MJ_PUT_LIT(w, "}");
}

/* The delta object of delta j of block b. */
static void put_delta(struct mj_writer *w, struct ra_reply *r, size_t b, uint64_t j)
{
    size_t tool = 0;

    switch (block_of(r, b, &tool)) {
    case RAB_THINKING:
        MJ_PUT_LIT(w, "{\"type\":\"thinking_delta\",\"thinking\":");
        mj_put_escaped(w, rd_piece(r->thinking, j, r->chunks));
        break;
    case RAB_TEXT:
        MJ_PUT_LIT(w, "{\"type\":\"text_delta\",\"text\":");
        if (r->chunk_tok.ptr != NULL)
            mj_put_str(w, r->chunk_tok);
        else
            mj_put_escaped(w, rd_piece(r->reply, j, r->chunks));
        break;
    case RAB_TOOL: {
        struct sl_str args = r->tools[tool].args;
        MJ_PUT_LIT(w, "{\"type\":\"input_json_delta\",\"partial_json\":");
        if (j == 0)
            MJ_PUT_LIT(w, "\"\"");
        else
            mj_put_escaped(w, rd_piece(args, j - 1, rd_arg_pieces(args)));
        break;
    }
    }
    MJ_PUT_LIT(w, "}");
}

static void block_event(struct ra_reply *r, const struct rd_seg *seg, uint64_t j,
                        struct mj_writer *w)
{
    switch ((enum ra_kind)seg->kind) {
    case RAK_BLOCK_START:
        put_block_start(w, r, seg->arg);
        break;
    case RAK_DELTA:
        PUT_EVENT_HEAD(w, r, "content_block_delta");
        MJ_PUT_LIT(w, "{\"type\":\"content_block_delta\",\"index\":");
        mj_put_u64(w, seg->arg);
        if (r->invalid_json) {
            MJ_PUT_LIT(w, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
            put_event_end(w, r->crlf);
            return;
        }
        MJ_PUT_LIT(w, ",\"delta\":");
        put_delta(w, r, seg->arg, j);
        MJ_PUT_LIT(w, "}");
        break;
    case RAK_SIGNATURE:
        ra_signature(r->_sig, r->thinking);
        PUT_EVENT_HEAD(w, r, "content_block_delta");
        MJ_PUT_LIT(w, "{\"type\":\"content_block_delta\",\"index\":");
        mj_put_u64(w, seg->arg);
        MJ_PUT_LIT(w, ",\"delta\":{\"type\":\"signature_delta\",\"signature\":\"");
        mj_put(w, r->_sig, RA_SIG_LEN);
        MJ_PUT_LIT(w, "\"}}");
        break;
    default:
        PUT_EVENT_HEAD(w, r, "content_block_stop");
        MJ_PUT_LIT(w, "{\"type\":\"content_block_stop\",\"index\":");
        mj_put_u64(w, seg->arg);
        MJ_PUT_LIT(w, "}");
        break;
    }
    put_event_end(w, r->crlf);
}

void ra_stream_event(void *stream, const struct rd_seg *seg, uint64_t j, struct mj_writer *w)
{
    struct ra_reply *r = stream;

    switch ((enum ra_kind)seg->kind) {
    case RAK_MESSAGE_START:
        PUT_EVENT_HEAD(w, r, "message_start");
        MJ_PUT_LIT(w, "{\"type\":\"message_start\",\"message\":");
        put_message_head(w, r);
        MJ_PUT_LIT(w, "],");
        put_stop(w, r, true);
        MJ_PUT_LIT(w, ",");
        put_usage(w, r, true);
        MJ_PUT_LIT(w, "}}");
        break;
    case RAK_PING:
        PUT_EVENT_HEAD(w, r, "ping");
        MJ_PUT_LIT(w, "{\"type\": \"ping\"}");
        break;
    case RAK_MESSAGE_DELTA:
        PUT_EVENT_HEAD(w, r, "message_delta");
        MJ_PUT_LIT(w, "{\"type\":\"message_delta\",\"delta\":{");
        put_stop(w, r, false);
        MJ_PUT_LIT(w, "},\"usage\":{\"input_tokens\":");
        mj_put_u64(w, r->input_tokens);
        MJ_PUT_LIT(w, ",\"cache_creation_input_tokens\":");
        mj_put_u64(w, r->cache_creation_input_tokens);
        MJ_PUT_LIT(w, ",\"cache_read_input_tokens\":");
        mj_put_u64(w, r->cache_read_input_tokens);
        MJ_PUT_LIT(w, ",\"output_tokens\":");
        mj_put_u64(w, r->output_tokens);
        MJ_PUT_LIT(w, "}}");
        break;
    case RAK_MESSAGE_STOP:
        PUT_EVENT_HEAD(w, r, "message_stop");
        MJ_PUT_LIT(w, "{\"type\":\"message_stop\"}");
        break;
    default:
        block_event(r, seg, j, w);
        return;
    }
    put_event_end(w, r->crlf);
}

void ra_stream_error(void *stream, struct mj_writer *w)
{
    struct ra_reply *r = stream;

    PUT_EVENT_HEAD(w, r, "error");
    MJ_PUT_LIT(w, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                  "\"Overloaded\"}}");
    put_event_end(w, r->crlf);
}

void ra_error(struct mj_writer *w, struct sl_str type, struct sl_str message,
              struct sl_str request_id)
{
    MJ_PUT_LIT(w, "{\"type\":\"error\",\"error\":{\"type\":");
    mj_put_str(w, type);
    MJ_PUT_LIT(w, ",\"message\":");
    mj_put_str(w, message);
    MJ_PUT_LIT(w, "},\"request_id\":\"");
    mj_put_str(w, request_id);
    MJ_PUT_LIT(w, "\"}");
}

void ra_count_tokens(struct mj_writer *w, uint64_t n)
{
    MJ_PUT_LIT(w, "{\"input_tokens\":");
    mj_put_u64(w, n);
    MJ_PUT_LIT(w, "}");
}
