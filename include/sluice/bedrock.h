/* What the Bedrock wire family (src/providers/bedrock.c) and its translations (src/xlate/
 * bedrock_*.c) both need to know about a Bedrock model id: which publisher's model it names,
 * through the forms Bedrock accepts (a base model id "anthropic.claude-3-5-sonnet-20241022-v2:0",
 * a cross-region inference profile "us.anthropic...", "eu.", "apac.", "global.", "us-gov.", or
 * an ARN ending in either). Pure; any thread. */
#ifndef SLUICE_BEDROCK_H
#define SLUICE_BEDROCK_H

#include <stdbool.h>

#include "sluice/str.h"

/* The base model id inside id: an ARN's last path segment, without a cross-region profile's
 * leading region label. A slice of id. An application inference profile's ARN names no model:
 * its id (the last segment) comes back, which matches no publisher below. */
struct sl_str sl_bedrock_base_model(struct sl_str id);

/* Anthropic's Claude models ("anthropic.claude..."). */
bool sl_bedrock_is_claude(struct sl_str id);

/* Amazon Titan Text Embeddings (G1 and V2): one text per call, {"inputText": ...}. */
bool sl_bedrock_is_titan_embed(struct sl_str id);

/* Cohere Embed: {"texts": [...], "input_type": ...}. */
bool sl_bedrock_is_cohere_embed(struct sl_str id);

#endif
