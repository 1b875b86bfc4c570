/* Fuzz target for the pair {from: chat, to: Gemini} (src/xlate/): an OpenAI chat request
 * translated for a Gemini model, and the Gemini model's response and event stream translated
 * back. See fuzz_xlate_common.h for the input layout and the oracles. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xfuzz_run(SL_WIRE_CHAT, SL_WIRE_GEMINI, data, size);
    return 0;
}
