"""Messages between ASR clients, the ASR service and its decode processes: a JSON header and raw 8 kHz PCM16
(no pickle), each preceded by their two lengths."""

from __future__ import annotations

import json
import socket
import struct

_LENGTHS = struct.Struct("!II")  # header bytes, payload bytes


def encode(header: dict, payload: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return _LENGTHS.pack(len(head), len(payload)) + head + payload


def decode(message: bytes) -> tuple[dict, bytes]:
    head_size, _ = _LENGTHS.unpack_from(message)
    start = _LENGTHS.size
    return json.loads(message[start : start + head_size]), message[start + head_size :]


def receive(sock: socket.socket) -> tuple[dict, bytes]:
    """One message from a stream socket; EOFError when the peer closed it."""
    lengths = _receive_exactly(sock, _LENGTHS.size)
    head_size, payload_size = _LENGTHS.unpack(lengths)
    body = _receive_exactly(sock, head_size + payload_size)
    return json.loads(body[:head_size]), body[head_size:]


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
