/* Per-request behaviour of the mock: the command-line defaults, overridden by the optional
 * top-level "mock" object of a request body. Parsing uses jansson, but only when a request
 * carries a "mock" object, so the common path never builds a DOM. */
#ifndef SLUICE_MOCK_OPTS_H
#define SLUICE_MOCK_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

/* Caps on every value a request can set, so a request cannot make the mock allocate without
 * bound or wait longer than an hour. */
#define MOCK_MAX_MS             3600000u
#define MOCK_MAX_CHUNKS         1000000u
#define MOCK_MAX_RESPONSE_BYTES (64u << 20)
#define MOCK_MAX_DIMENSIONS     65536u
#define MOCK_MAX_HEADERS        32u
#define MOCK_MAX_STRING         (1u << 20) /* reply, chunk_text, error_body, ... */
#define MOCK_MAX_TOOL_CALLS     16u
#define MOCK_MAX_TOKENS         (1ull << 40) /* usage overrides */
#define MOCK_MAX_TAG            128u

/* "never" for disconnect_after_chunks, stall_after_chunks and stream_error_after_chunks. */
#define MOCK_NEVER UINT64_MAX
/* "not set" for the usage overrides. */
#define MOCK_UNSET UINT64_MAX

/* Defaults from the command line; strings are NUL-terminated and live for the whole run. */
struct mock_defaults {
    struct sl_str reply;
    uint64_t ttft_ms;
    uint64_t chunks;
    uint64_t chunk_interval_ms;
    uint64_t latency_ms;
    uint64_t dimensions;
};

struct mock_header {
    struct sl_str name; /* lower-case */
    struct sl_str value;
};

/* A tool call the reply makes: mock.tool_calls (OpenAI) or mock.tool_use (Anthropic). */
struct mock_tool_call {
    struct sl_str id;   /* raw text; ptr NULL: generated */
    struct sl_str name; /* raw text */
    struct sl_str
        args; /* OpenAI: the arguments string; Anthropic: the input object as compact JSON */
};

struct mock_opts {
    int status;                  /* 0: a normal 200 response */
    struct sl_str error_message; /* raw text; ptr NULL: a default for the status */
    struct sl_str error_type;    /* raw text; ptr NULL: a default for the status */
    struct sl_str error_code;    /* JSON text (any value); ptr NULL: a default for the status */
    struct sl_str error_body;    /* raw body sent instead of the envelope; ptr NULL: none */
    struct sl_str retry_after;   /* Retry-After value; ptr NULL: none */
    struct mock_header *headers; /* extra response headers */
    size_t n_headers;
    uint64_t latency_ms;
    uint64_t ttft_ms;
    uint64_t chunks;
    uint64_t chunk_interval_ms;
    uint64_t response_bytes; /* 0: no padding */
    uint64_t drip_ms;        /* 0: send the body at once */
    uint64_t dimensions;     /* 0: the default */
    uint64_t disconnect_after_chunks;
    uint64_t stall_after_chunks;
    /* Only the first fail_first requests with this tag (since the last reset) get the failure
     * asked for (status 300 and above, reset_before_headers); MOCK_NEVER: every one does. */
    uint64_t fail_first;
    struct sl_str tag;        /* "" unless set */
    struct sl_str reply;      /* non-stream content (raw text) */
    struct sl_str chunk_text; /* content of every delta; ptr NULL: the reply cut in pieces */
    bool crlf;
    bool split_writes;
    bool reset_before_headers;
    bool invalid_json;
    bool no_usage;
    /* Content-Encoding sent (gzip, x-gzip and deflate compress the body); ptr NULL: none */
    struct sl_str content_encoding;
    bool transfer_encoding_gzip; /* HTTP/1.1: Transfer-Encoding: gzip, chunked */
    bool corrupt_encoding;       /* damage the last compressed byte of a non-stream body */
    bool content_overridden;     /* reply, chunk_text, chunks or response_bytes was set */
    bool text_set; /* reply, chunk_text or response_bytes was set: text beside tool calls */
    uint64_t stream_error_after_chunks; /* in-band stream error after N deltas */
    /* OpenAI chat completions only. */
    struct mock_tool_call *tool_calls;
    size_t n_tool_calls;
    struct sl_str reasoning_content; /* raw text; ptr NULL: none */
    struct sl_str finish_reason;     /* ptr NULL: stop, or tool_calls with tool_calls */
    uint64_t cached_tokens;          /* MOCK_UNSET: no prompt_tokens_details */
    uint64_t reasoning_tokens;       /* MOCK_UNSET: no completion_tokens_details */
    /* Anthropic Messages only. */
    struct mock_tool_call *tool_use;
    size_t n_tool_use;
    struct sl_str thinking;    /* raw text; ptr NULL: none (unless the request enables thinking) */
    struct sl_str stop_reason; /* ptr NULL: end_turn, or tool_use with tool_use */
    struct sl_str stop_sequence;          /* raw text; ptr NULL: null */
    uint64_t input_tokens;                /* MOCK_UNSET: derived from the request */
    uint64_t output_tokens;               /* MOCK_UNSET: the number of content deltas */
    uint64_t cache_creation_input_tokens; /* MOCK_UNSET: 0 */
    uint64_t cache_read_input_tokens;     /* MOCK_UNSET: 0 */
    /* Bedrock only. */
    struct sl_str bedrock_stop_reason; /* Converse's stopReason, any string; ptr NULL: derived */
    uint64_t corrupt_crc_after_chunks; /* the event after N deltas has a bad message CRC */
    /* Gemini only (generateContent, streamGenerateContent); tool_calls, reasoning_content,
     * cached_tokens and reasoning_tokens apply there too. */
    struct sl_str block_reason;         /* promptFeedback.blockReason, no candidates */
    struct sl_str gemini_finish_reason; /* finishReason; ptr NULL: STOP */
    struct sl_str thought_signature;    /* thoughtSignature on every functionCall part */
};

/* The name of an option o sets that only the Bedrock endpoints use, or NULL. */
const char *mock_opts_has_bedrock_only(const struct mock_opts *o);
/* true when o sets an option that only OpenAI chat completions use; *name is set to it. */
bool mock_opts_has_openai_only(const struct mock_opts *o, const char **name);
/* true when o sets an option that only Anthropic Messages use; *name is set to it. */
bool mock_opts_has_anthropic_only(const struct mock_opts *o, const char **name);
/* true when o sets an option that only the Gemini endpoints use; *name is set to it. */
bool mock_opts_has_gemini_only(const struct mock_opts *o, const char **name);

/* Allocation for strings copied out of the parsed object; must not fail (abort on OOM). */
typedef void *mock_alloc_fn(void *ud, size_t n);

void mock_opts_init(struct mock_opts *o, const struct mock_defaults *d);

/* Applies the "mock" object json (raw bytes of a JSON object) to o. Strings are copied with
 * alloc. Unknown fields, wrong types and values past the caps are rejected: returns SL_EPARSE
 * with a message naming the field in err (always NUL-terminated), else 0. */
int mock_opts_parse(struct mock_opts *o, struct sl_str json, mock_alloc_fn *alloc, void *ud,
                    char *err, size_t errlen);

#endif
