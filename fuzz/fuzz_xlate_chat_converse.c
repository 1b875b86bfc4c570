/* Fuzz target for the pair {from: CHAT, to: BEDROCK_CONVERSE} (src/xlate/bedrock_*.c): an OpenAI
 * chat request translated for a Bedrock model (Converse), and its Converse reply and ConverseStream
 * events translated back. See fuzz_xlate_common.h for the input layout and the oracles. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xfuzz_run(SL_WIRE_CHAT, SL_WIRE_BEDROCK_CONVERSE, data, size);
    return 0;
}
