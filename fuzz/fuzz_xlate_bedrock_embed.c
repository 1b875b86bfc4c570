/* Fuzz target for the embedding pairs {from: EMBEDDINGS, to: BEDROCK_TITAN_EMBED} and {... to:
 * BEDROCK_COHERE_EMBED} (src/xlate/bedrock_embed.c): an OpenAI embeddings request made a Titan
 * or Cohere InvokeModel body, and their replies made OpenAI's list (floats or base64). Bit 7 of
 * the first byte picks Cohere; the rest is fuzz_xlate_common.h's layout (no streams). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool cohere = size != 0 && (data[0] & 0x80) != 0;
    xfuzz_run(SL_WIRE_EMBEDDINGS,
              cohere ? SL_WIRE_BEDROCK_COHERE_EMBED : SL_WIRE_BEDROCK_TITAN_EMBED, data, size);
    return 0;
}
