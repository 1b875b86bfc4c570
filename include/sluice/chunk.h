/* An OpenAI-wire JSON object coming back from an upstream (a whole response, or one stream
 * event's data) rewritten for the caller: every top-level "model" becomes the alias the caller
 * sent (a reply that repeats the member is rewritten in each place, so the upstream id never
 * shows), usage is read, and for callers who did not ask for usage the usage-only stream chunk
 * is dropped and "usage": null removed (forcing include_usage upstream adds them). Pure;
 * fuzzed. */
#ifndef SLUICE_CHUNK_H
#define SLUICE_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/json.h"
#include "sluice/splice.h"
#include "sluice/str.h"

enum sl_chunk_action {
    SL_CHUNK_RAW = 0, /* not a valid JSON object: leave it as it is */
    SL_CHUNK_REWRITE, /* emit the splice */
    SL_CHUNK_DROP,    /* emit nothing (the usage-only chunk the caller did not ask for) */
    SL_CHUNK_REFUSE,  /* "model" repeats more often than a splice can rewrite: do not emit */
};

struct sl_chunk_usage {
    int64_t prompt_tokens;     /* -1 = absent */
    int64_t completion_tokens; /* -1 = absent */
};

/* Adds to sp the edits that set every "model" member of the object obj (a slice of sp's source)
 * to alias_json; model is what a scan of obj found for "model" (its last occurrence and how often
 * it occurred). Returns false when they would not fit in sp. */
bool sl_chunk_replace_models(struct sl_str obj, const struct sl_json_member *model,
                             struct sl_str alias_json, struct sl_splice *sp);

/* Plans the rewrite of data into sp (initialised here over data). keep_usage is false only for
 * stream chunks of callers who did not ask for usage. */
enum sl_chunk_action sl_chunk_plan(struct sl_str data, struct sl_str alias_json, bool keep_usage,
                                   struct sl_splice *sp, struct sl_chunk_usage *usage);

/* The same for one stream event, which is relayed, not judged: the object's structure is
 * followed (sl_json_skim_object) but the contents of its strings and numbers are not checked,
 * which makes it several times cheaper per event. Output is valid JSON whenever the input is. */
enum sl_chunk_action sl_chunk_plan_event(struct sl_str data, struct sl_str alias_json,
                                         bool keep_usage, struct sl_splice *sp,
                                         struct sl_chunk_usage *usage);

#endif
