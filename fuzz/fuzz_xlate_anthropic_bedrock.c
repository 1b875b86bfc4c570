/* Fuzz target for the pair {from: ANTHROPIC, to: BEDROCK_ANTHROPIC} (src/xlate/bedrock_*.c): a
 * Claude SDK request made Claude-on-Bedrock's InvokeModel body, and its reply and its
 * base64-chunked stream passed back. See fuzz_xlate_common.h for the input layout and the oracles.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xfuzz_run(SL_WIRE_ANTHROPIC, SL_WIRE_BEDROCK_ANTHROPIC, data, size);
    return 0;
}
