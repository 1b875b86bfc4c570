/* What the Bedrock translators (src/xlate/bedrock_*.c) share, and their entry points for the
 * pair table (xlate.c). Not a contract for other areas; the mapping is in docs/translation.md. */
#ifndef SLUICE_XLATE_BEDROCK_INTERNAL_H
#define SLUICE_XLATE_BEDROCK_INTERNAL_H

#include "sluice/filter.h"
#include "sluice/xlate.h"
#include "xlate_internal.h"

/* Converse's stopReason as OpenAI's finish_reason. */
const char *sl__xl_finish_of_converse(struct sl_str stop_reason);

/* Converse's usage {inputTokens, outputTokens, totalTokens, cacheReadInputTokens,
 * cacheWriteInputTokens} read into a, Anthropic-shaped (inputTokens leaves out the cached
 * tokens, as Anthropic's input_tokens does). */
int sl__xl_converse_usage(struct sl__xl *x, const char *path, const struct sl_json_member *v,
                          struct sl_usage *a);

/* A Bedrock stream's exception message (a ConverseStream or InvokeModelWithResponseStream
 * member that is an error: throttlingException, modelStreamErrorException, ...) as the caller's
 * stream error: fills e (status, Anthropic-style type, the exception's name as code) with the
 * payload's message decoded into x's scratch. Returns false when name is no exception. */
bool sl__xl_bedrock_exception(struct sl__xl *x, struct sl_str name, struct sl_str payload,
                              struct sl_stream_error *e, char *code, size_t codelen);

/* Base64, standard alphabet with padding (RFC 4648 section 4), appended to out. decode: 0,
 * SL_EPARSE for anything but canonical padded base64, or SL_E2BIG at out's cap. */
int sl__xl_base64_decode(struct sl_str in, struct sl_buf *out);
int sl__xl_base64_encode(struct sl_str in, struct sl_buf *out);

/* Chat <-> Converse (Converse and ConverseStream). */
int sl__xlate_chat_to_converse_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                       struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_converse_to_chat_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_buf *out, struct sl_usage *usage, char *why,
                                        size_t whylen);
struct sl_filter *sl__xlate_converse_to_chat_stream(h2o_mem_pool_t *pool,
                                                    const struct sl_xlate_ctx *c,
                                                    struct sl_usage *usage, struct sl_filter *next);

/* Anthropic <-> Claude on Bedrock's InvokeModel. */
int sl__xlate_anthropic_to_bedrock_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_bedrock_to_anthropic_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                            struct sl_buf *out, struct sl_usage *usage, char *why,
                                            size_t whylen);
struct sl_filter *sl__xlate_bedrock_to_anthropic_stream(h2o_mem_pool_t *pool,
                                                        const struct sl_xlate_ctx *c,
                                                        struct sl_usage *usage,
                                                        struct sl_filter *next);

/* OpenAI embeddings <-> Titan Text Embeddings and Cohere Embed on InvokeModel. */
int sl__xlate_embeddings_to_titan_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                          struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_titan_to_embeddings_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, struct sl_usage *usage, char *why,
                                           size_t whylen);
int sl__xlate_embeddings_to_cohere_request(const struct sl_xlate_ctx *c, struct sl_str body,
                                           struct sl_buf *out, char *why, size_t whylen);
int sl__xlate_cohere_to_embeddings_response(const struct sl_xlate_ctx *c, struct sl_str body,
                                            struct sl_buf *out, struct sl_usage *usage, char *why,
                                            size_t whylen);

#endif
