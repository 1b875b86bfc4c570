/* Fuzz target for the pair {from: embeddings, to: batchEmbedContents} (src/xlate/embed_gemini.c):
 * an OpenAI embeddings request and the Gemini response (no stream: selectors 2 and 3 run the
 * response translator too). See fuzz_xlate_common.h for the input layout and the oracles. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xfuzz_run(SL_WIRE_EMBEDDINGS, SL_WIRE_GEMINI_EMBED, data, size);
    return 0;
}
