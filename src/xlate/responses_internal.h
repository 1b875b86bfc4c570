/* The Responses <-> chat translation pair (responses_chat_*.c): its entry points for the pair
 * table (xlate.c) and the writers the JSON reply and the stream share, so that a response object
 * looks the same whichever way it was made. Not a contract for other areas. Decisions in
 * docs/responses.md. */
#ifndef SLUICE_RESPONSES_INTERNAL_H
#define SLUICE_RESPONSES_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/json_w.h"
#include "sluice/str.h"
#include "sluice/xlate.h"

/* Output items (an item's text is the inner bytes of a JSON string: escapes kept). */
enum sl__rx_item {
    SL__RX_MESSAGE = 0,
    SL__RX_REASONING,
    SL__RX_FUNCTION_CALL,
};

/* A response's status, as the chat finish reason decides it. */
enum sl__rx_status {
    SL__RX_COMPLETED = 0,
    SL__RX_INCOMPLETE_LENGTH, /* incomplete_details.reason "max_output_tokens" */
    SL__RX_INCOMPLETE_FILTER, /* incomplete_details.reason "content_filter" */
};

enum sl__rx_status sl__rx_status_of_finish(struct sl_str finish_reason);

/* "id": "<prefix>_<seed>" or, with n >= 0, "<prefix>_<seed>_<n>": ids a translation invents (the
 * response's "resp", items' "msg", "rs", "fc", calls' "call"). */
void sl__rx_write_id(struct sl_json_w *w, const char *key, const char *prefix, struct sl_str seed,
                     int64_t n);
/* The same id as a value alone (the stream makes each item's once). */
void sl__rx_write_id_value(struct sl_json_w *w, const char *prefix, struct sl_str seed, int64_t n);

/* The members every response object starts with: id, object, created_at, status, error,
 * incomplete_details, model (the alias). in_progress: the status of response.created. */
void sl__rx_write_head(struct sl_json_w *w, const struct sl_xlate_ctx *c, bool in_progress,
                       enum sl__rx_status st);

/* "usage": the Responses object (input_tokens counts cached ones; unknown counts are 0), or null
 * when nothing is known. */
void sl__rx_write_usage(struct sl_json_w *w, const struct sl_usage *u);

/* A message item: its output_text part (text, may be empty) and, when refusal is not NULL, a
 * refusal part after it. done: status "completed", else "in_progress" with no parts (as
 * response.output_item.added shows it). */
void sl__rx_write_message(struct sl_json_w *w, const struct sl_xlate_ctx *c, int64_t n, bool done,
                          const struct sl_str *text, const struct sl_str *refusal);

/* A reasoning item: the upstream's reasoning text as one reasoning_text content part. */
void sl__rx_write_reasoning(struct sl_json_w *w, const struct sl_xlate_ctx *c, int64_t n, bool done,
                            struct sl_str text);

/* A function_call item; call_id and name are JSON string tokens (quotes included). */
void sl__rx_write_function_call(struct sl_json_w *w, const struct sl_xlate_ctx *c, int64_t n,
                                bool done, struct sl_str call_id, struct sl_str name,
                                struct sl_str arguments);

/* The translators the pair table lists. */
int sl__xlate_responses_to_chat_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_chat_to_responses_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                         struct sl_buf *out, struct sl_usage *usage, char *why,
                                         size_t whylen);
struct sl_filter *sl__xlate_chat_to_responses_stream(h2o_mem_pool_t *pool,
                                                     const struct sl_xlate_ctx *c,
                                                     struct sl_usage *usage,
                                                     struct sl_filter *next);

#endif
