#!/usr/bin/env python3
"""Writes the seed corpus of decoder_fuzz into corpus/ (next to this script).

A seed is: one byte (bits 0-1: frame count - 1, bit 2: routing-id frame in front),
then every frame but the last as a 2-byte big-endian length and its bytes, then the
last frame (the rest of the input). decoder_fuzz.cc splits inputs the same way.
The msgpack is encoded here by hand (no msgpack module needed).
"""
import os
import struct


def pack(v):
    if v is None:
        return b'\xc0'
    if v is True:
        return b'\xc3'
    if v is False:
        return b'\xc2'
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack('b', v)
        if 0 <= v < 0x10000:
            return b'\xcd' + struct.pack('>H', v)
        if 0 <= v < 0x100000000:
            return b'\xce' + struct.pack('>I', v)
        if v >= 0:
            return b'\xcf' + struct.pack('>Q', v)
        return b'\xd3' + struct.pack('>q', v)
    if isinstance(v, float):
        return b'\xcb' + struct.pack('>d', v)
    if isinstance(v, str):
        b = v.encode()
        assert len(b) < 256
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b'\xd9' + bytes([len(b)])) + b
    if isinstance(v, bytes):  # already packed
        return v
    if isinstance(v, list):
        assert len(v) < 16
        return bytes([0x90 | len(v)]) + b''.join(pack(x) for x in v)
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0x80 | len(v)]) + b''.join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(v)


def envelope(command, header, signature=b'PMP1'):
    raw = header if isinstance(header, bytes) else pack(header)
    return signature + bytes([command]) + raw


def seed(frames, routed=False):
    assert 1 <= len(frames) <= 4
    out = bytes([(len(frames) - 1) | (4 if routed else 0)])
    out += b''.join(struct.pack('>H', len(f)) + f for f in frames[:-1])
    return out + frames[-1]


HELLO = {'connect_id': 0, 'role': 'client', 'name': 'viz-client', 'version': '1.0',
         'software': 'procmod 0.1.0', 'heartbeat_ms': 1000}
WELCOME = {'session': '5f1e0c3a9b2d4e67', 'role': 'server', 'name': 'viz-1',
           'version': '1.0', 'software': 'procmod 0.1.0', 'heartbeat_ms': 1000,
           'liveness': 3, 'multi': False, 'expires_in_ms': 60000}

SEEDS = {
    # valid
    'hello': seed([envelope(0x01, HELLO)]),
    'hello_routed_broker': seed([envelope(0x01, dict(HELLO, role='server',
                                                     service='render', multi=True))],
                                routed=True),
    'welcome': seed([envelope(0x02, WELCOME)]),
    'ping': seed([envelope(0x04, {'t': 1700000000000000, 'echo': 17, 'held': 250})]),
    'bye': seed([envelope(0x05, {})]),
    'data_payload': seed([envelope(0x06, {'channel': 'geometry', 'peer': 'p1'}),
                          b'\x00\x01\x02\x03' * 16, b''], routed=True),
    'request_args': seed([envelope(0x07, {'id': 7, 'method': 'open',
                                          'args': {'path': '/data/can.ex2', 'step': 3,
                                                   'arrays': ['EQPS', 'DISPL']}}),
                          b'blob']),
    'reply_result': seed([envelope(0x08, {'id': 7, 'code': 0,
                                          'result': {'bounds': [0.0, 1.5, -2.25],
                                                     'ok': True, 'n': None}}),
                          b'a', b'bc', b'def']),
    # protocol 1.1: a small payload inline, after the header map (and frames after it)
    'data_inline': seed([envelope(0x06, {}) + b'\x00inline payload'], routed=True),
    'reply_inline_and_frames': seed([envelope(0x08, {'id': 9, 'code': 0}) + b'tail',
                                     b'second']),
    'error': seed([envelope(0x09, {'code': 404, 'reason': 'no session'})]),
    'joined': seed([envelope(0x0A, {'session': 's1', 'name': 'viz-1',
                                         'role': 'server', 'future': [1, 2]})]),
    'left': seed([envelope(0x0B, {'session': 's1', 'reason': 'expired'})]),
    # protocol 1.2: session resume
    'resume': seed([envelope(0x0C, {'session': '5f1e0c3a9b2d4e67',
                                    'token': '0123456789abcdef0123456789abcdef',
                                    'received': 42})], routed=True),
    'resumed': seed([envelope(0x0D, {'session': '5f1e0c3a9b2d4e67', 'received': 1000})]),
    'data_seq_ack': seed([envelope(0x06, {'channel': 'c', 'seq': 70000, 'ack': 3}) + b'hi',
                          b'more'], routed=True),
    # malformed
    'short_envelope': seed([b'PMP1\x05']),
    'bad_signature': seed([envelope(0x05, {}, signature=b'PMP2')]),
    'unknown_command': seed([envelope(0x0E, {})]),
    'header_array': seed([envelope(0x04, [1, 2])]),
    'bytes_after_map': seed([envelope(0x04, pack({'t': 1}) + b'\x00')]),
    'wrong_type_missing_key': seed([envelope(0x07, {'id': -1, 'args': [1]})]),
    'payload_on_hello': seed([envelope(0x01, HELLO), b'payload']),
    'huge_map': seed([envelope(0x04, b'\xdf\xff\xff\xff\xff')]),
    'deep_nesting': seed([envelope(0x08, b'\x83\xa2id\x01\xa4code\x00\xa6result' +
                                   b'\x91' * 40 + b'\xc0')]),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print(f'{len(SEEDS)} seeds written to {out}')


if __name__ == '__main__':
    main()
