#!/usr/bin/env python3
"""Writes the hand-made seed inputs of each fuzz target into corpus/<target>/.

Each seed is a valid or nearly valid input, so the fuzzer starts from the
interesting paths (complete handshakes, fragmented and compressed messages)
instead of discovering them byte by byte. Run from fuzz/: python3 seeds/make-seeds.py
"""
import os
import struct
import zlib

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
MASK = b"\x01\x02\x03\x04"


def frame(opcode, payload, fin=True, masked=True, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, (0x80 if masked else 0) | n])
    elif n < 65536:
        head = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, (0x80 if masked else 0) | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + MASK + bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def frames(masked):
    f = lambda *a, **k: frame(*a, masked=masked, **k)
    return [
        f(1, b"Hello"),
        f(2, bytes(range(200))),
        f(1, b"frag", fin=False) + f(9, b"ping") + f(0, b"ment", fin=False) + f(0, b"ed"),
        f(1, "κόσμε".encode()),
        f(9, b"p1") + f(10, b"pong"),
        f(1, b"x" * 300) + f(8, struct.pack(">H", 1000) + b"bye"),
        f(8, b""),
        f(1, deflate(b'{"msg":"hello hello hello"}'), rsv1=True),
        f(2, deflate(b"a" * 1000)[:5], fin=False, rsv1=True) + f(0, deflate(b"a" * 1000)[5:]),
    ]


def write(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/seed-{name}", "wb") as fh:
        fh.write(data)


REQUEST = (b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: chat, superchat\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\nSec-WebSocket-Protocol: chat\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n")

for i, data in enumerate(frames(True)):
    write("connection", f"server-{i}", bytes([0x06, 3, 1, 7, 2]) + data)
    write("frame_header", f"masked-{i}", bytes([3]) + data[:14])
    write("read_loop", f"server-{i}", bytes([0x30, 2, 1, 5]) + data)
    write("read_loop", f"accept-{i}", bytes([0x3e, 1, 9]) + REQUEST + data)
for i, data in enumerate(frames(False)):
    write("connection", f"client-{i}", bytes([0x07, 2, 3, 1]) + data)
    write("frame_header", f"unmasked-{i}", bytes([2]) + data[:14])
    write("read_loop", f"client-{i}", bytes([0x19, 1, 4]) + data)
write("http_request", "valid", bytes([2, 5, 13]) + REQUEST)
write("http_response", "valid", bytes([2, 7, 40]) + RESPONSE)
write("header_values", "deflate", b"permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x-foo")
write("header_values", "protocols", b"chat, superchat, v1.json")
write("close_frame", "normal", struct.pack(">H", 1000) + b"done")
write("close_frame", "utf8", struct.pack(">H", 4000) + "κόσμε".encode())
for i, data in enumerate([b"hello " * 50, bytes(range(256)) * 8, b"\x00" * 100000]):
    write("inflate", f"msg-{i}", bytes([7, 200, 2, 13, 50]) + deflate(data))
