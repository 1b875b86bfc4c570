/* Fuzz target for the pair {from: Anthropic, to: chat} (src/xlate/): an Anthropic Messages
 * request translated for an OpenAI-compatible model, and that model's response and chunk stream
 * translated back. See fuzz_xlate_common.h for the input layout and the oracles. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xfuzz_run(SL_WIRE_ANTHROPIC, SL_WIRE_CHAT, data, size);
    return 0;
}
