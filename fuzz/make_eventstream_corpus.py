#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_eventstream into corpus/eventstream/ (run from fuzz/).

Each file is one fuzz input: a control byte (bit 7 set: a small message cap of
16 + 4 * (byte & 0x7f) bytes, else 1 MiB; the byte also seeds the split points) followed by the
stream. Frames are built with struct and zlib.crc32; the well-formed ones are read back with
botocore's EventStreamBuffer when botocore is installed, so the seeds are real event streams.
"""
import base64
import json
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'eventstream')


def header(name, typ, value=None):
    b = bytes([len(name)]) + name.encode() + bytes([typ])
    if typ in (6, 7):
        v = value.encode() if isinstance(value, str) else value
        return b + struct.pack('>H', len(v)) + v
    size = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}[typ]
    if typ == 9:
        return b + bytes(range(16))
    return b + (value or 0).to_bytes(size, 'big', signed=True) if size else b


def frame(headers, payload):
    hb = b''.join(headers)
    prelude = struct.pack('>II', 12 + len(hb) + len(payload) + 4, len(hb))
    prelude += struct.pack('>I', zlib.crc32(prelude))
    msg = prelude + hb + payload
    return msg + struct.pack('>I', zlib.crc32(msg))


def event(kind, body):
    return frame([header(':event-type', 7, kind), header(':content-type', 7, 'application/json'),
                  header(':message-type', 7, 'event')],
                 json.dumps(body, separators=(',', ':')).encode())


def converse_frames():
    """The messages of a short ConverseStream reply, in Bedrock's order."""
    pad = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
    out = [event('messageStart', {'p': pad[:11], 'role': 'assistant'})]
    for i, t in enumerate(['Hello', ', ', 'world', '!']):
        out.append(event('contentBlockDelta',
                         {'contentBlockIndex': 0, 'delta': {'text': t}, 'p': pad[:10 + 7 * i]}))
    out.append(event('contentBlockStop', {'contentBlockIndex': 0, 'p': pad[:17]}))
    out.append(event('messageStop', {'p': pad[:30], 'stopReason': 'end_turn'}))
    out.append(event('metadata', {'metrics': {'latencyMs': 412}, 'p': pad[:20],
                                  'usage': {'inputTokens': 12, 'outputTokens': 4,
                                            'totalTokens': 16}}))
    return out


def invoke_stream():
    out = b''
    for piece in [{'type': 'message_start'}, {'type': 'content_block_delta', 'index': 0,
                                              'delta': {'type': 'text_delta', 'text': 'Hi'}},
                  {'type': 'message_stop'}]:
        out += event('chunk', {'bytes': base64.b64encode(json.dumps(piece).encode()).decode(),
                               'p': 'abcdefgh'})
    return out


def tool_use_stream():
    out = event('contentBlockStart', {'contentBlockIndex': 1, 'start': {
        'toolUse': {'name': 'get_weather', 'toolUseId': 'tooluse_abc123'}}, 'p': 'abcd'})
    for part in ['{"city":', '"Lisbon"}']:
        out += event('contentBlockDelta', {'contentBlockIndex': 1,
                                           'delta': {'toolUse': {'input': part}}, 'p': 'abc'})
    return out + event('messageStop', {'stopReason': 'tool_use', 'p': 'ab'})


def exception(kind, message):
    return frame([header(':exception-type', 7, kind),
                  header(':content-type', 7, 'application/json'),
                  header(':message-type', 7, 'exception')],
                 json.dumps({'message': message}).encode())


def error():
    return frame([header(':message-type', 7, 'error'), header(':error-code', 7, 'InternalFailure'),
                  header(':error-message', 7, 'An internal error occurred.')], b'')


def all_types():
    return frame([header('t', 0), header('f', 1), header('b', 2, -2), header('s', 3, -300),
                  header('i', 4, -70000), header('l', 5, -5000000000),
                  header('bytes', 6, b'\x00\x01\xff'), header('str', 7, 'v'),
                  header(':date', 8, 1730794150123), header('id', 9), header('', 7, '')], b'{}')


def refit(msg):
    """Recomputes the message CRC after an edit to the headers or payload."""
    return msg[:-4] + struct.pack('>I', zlib.crc32(msg[:-4]))


def prelude(total, hlen):
    p = struct.pack('>II', total, hlen)
    return p + struct.pack('>I', zlib.crc32(p))


# AWS's own vectors (aws-c-event-stream tests/message_deserializer_test.c).
AWS = bytes.fromhex('000000100000000005c248eb7d98c8ff'
                    '0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936'
                    '0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69'
                    '636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1')


def main():
    os.makedirs(OUT, exist_ok=True)
    frames = converse_frames()
    cs = b''.join(frames)
    second = len(frames[0])  # where the second message starts
    one = frame([header('x', 7, 'abc')], b'{}')
    seeds = {
        'converse_stream': b'\x00' + cs,
        'converse_stream_other_splits': b'\x37' + cs,
        'converse_stream_small_cap': b'\x98' + cs,
        'invoke_model_stream': b'\x05' + invoke_stream(),
        'tool_use_stream': b'\x11' + tool_use_stream(),
        'exception_then_error': b'\x02' + exception('throttlingException',
                                                    'Too many requests, please wait.') + error(),
        'model_stream_error': b'\x03' + frames[0] + frames[1] + exception(
            'modelStreamErrorException', 'The model stream failed.'),
        'all_header_types': b'\x04' + all_types(),
        'aws_vectors': b'\x06' + AWS,
        'empty': b'\x00',
        'bad_prelude_crc': b'\x07' + cs[:second + 7] + bytes([cs[second + 7] ^ 1]) +
        cs[second + 8:],
        'bad_message_crc': b'\x08' + cs[:-1] + bytes([cs[-1] ^ 0xff]),
        'truncated_in_prelude': b'\x09' + cs + cs[:7],
        'truncated_in_payload': b'\x0a' + cs[:-10],
        'oversized_total': b'\x0b' + prelude(20 << 20, 0) + b'x' * 20,
        'oversized_headers': b'\x0c' + prelude(200 << 10, 129 << 10),
        'total_below_minimum': b'\x0d' + prelude(15, 0) + b'\x00' * 3,
        'headers_do_not_fit': b'\x0e' + prelude(20, 5) + b'\x00' * 8,
        'unknown_header_type': b'\x0f' + refit(one[:14] + b'\x60' + one[15:]),
        'header_name_overrun': b'\x10' + refit(one[:12] + b'\x09' + one[13:]),
        'string_length_overrun': b'\x12' + refit(one[:16] + b'\x09' + one[17:]),
        'known_header_not_string': b'\x13' + frame([header(':event-type', 4, 7)], b'{}'),
        'duplicate_message_type': b'\x14' + frame([header(':message-type', 7, 'event'),
                                                   header(':message-type', 7, 'error')], b''),
    }
    try:
        from botocore.eventstream import EventStreamBuffer
    except ImportError:
        EventStreamBuffer = None
    if EventStreamBuffer is not None:
        for name in ['converse_stream', 'invoke_model_stream', 'tool_use_stream',
                     'exception_then_error', 'model_stream_error', 'all_header_types',
                     'aws_vectors']:
            b = EventStreamBuffer()
            b.add_data(seeds[name][1:])
            assert len(list(b)) > 0, name
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} seeds in {OUT}' +
          (' (well-formed ones read back by botocore)' if EventStreamBuffer else ''))


if __name__ == '__main__':
    main()
