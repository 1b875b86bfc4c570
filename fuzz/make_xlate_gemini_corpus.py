#!/usr/bin/env python3
"""Writes the seed corpora of the Gemini translation fuzz targets from the golden inputs
(tests/unit/xlate/): each input behind the selector byte fuzz_xlate_common.h reads (0 request,
1 response, 2 stream; +4 include_usage) and a cap byte, plus a "-cap" copy with a small output
cap (selector +0x10, cap 200) for the cases that translate. Run from the repository root."""
import os

GOLDEN = 'tests/unit/xlate'
TARGETS = {
    'xlate_chat_gemini': [('chat_to_gemini_request', 0), ('gemini_to_chat_response', 1),
                          ('gemini_to_chat_stream', 2)],
    'xlate_anthropic_gemini': [('anthropic_to_gemini_request', 0),
                               ('gemini_to_anthropic_response', 1),
                               ('gemini_to_anthropic_stream', 2)],
    'xlate_embeddings_gemini': [('embeddings_to_gemini_request', 0),
                                ('gemini_to_embeddings_response', 1)],
}

for target, dirs in TARGETS.items():
    out = f'fuzz/corpus/{target}'
    os.makedirs(out, exist_ok=True)
    for d, sel in dirs:
        for name in sorted(os.listdir(f'{GOLDEN}/{d}')):
            if '.in.' not in name:
                continue
            case = name.split('.in.')[0]
            data = open(f'{GOLDEN}/{d}/{name}', 'rb').read()
            ctx = f'{GOLDEN}/{d}/{case}.ctx'
            s = sel | (4 if os.path.exists(ctx) and b'include_usage' in open(ctx, 'rb').read() else 0)
            open(f'{out}/{d}-{case}', 'wb').write(bytes([s, 0]) + data)
            if not case.startswith('err_'):
                open(f'{out}/{d}-{case}-cap', 'wb').write(bytes([s | 0x10, 200]) + data)
