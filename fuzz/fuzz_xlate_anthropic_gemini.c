/* Fuzz target for the pair {from: Anthropic, to: Gemini}, composed through chat
 * (src/xlate/xlate.c): an Anthropic request translated for a Gemini model, and its response and
 * event stream translated back through both halves. See fuzz_xlate_common.h for the input layout
 * and the oracles. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_xlate_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xfuzz_run(SL_WIRE_ANTHROPIC, SL_WIRE_GEMINI, data, size);
    return 0;
}
