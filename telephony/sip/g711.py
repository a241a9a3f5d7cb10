"""G.711 codecs for RTP, as aiortp Codec objects (so aiortp's playout buffer can decode and conceal).

PCMU reuses telephony.audio (ITU-T reference mu-law). PCMA is implemented here from the ITU-T/Sun reference
because aiortp 0.8's A-law has the sign bit inverted (positive samples decode negative on a real peer).
Both directions go through 64 K-entry lookup tables: one numpy `take` per 20 ms frame.
"""

from __future__ import annotations

import numpy as np
from aiortp.codecs.base import Codec

from telephony.audio import ulaw_decode, ulaw_encode
from telephony.interface import FRAME_SAMPLES, SAMPLE_RATE

_ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32)
_A_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def alaw_encode(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> A-law bytes (ITU-T G.711 reference: sign bit set for positive samples)."""
    x = pcm.astype(np.int32) >> 3  # 13-bit
    positive = x >= 0
    mask = np.where(positive, 0xD5, 0x55)
    magnitude = np.where(positive, x, -x - 1)
    segment = np.searchsorted(_A_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    aval = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    aval = np.where(segment >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    a = codes.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(segment == 0, t + 8, (t + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


# Index tables by the raw little-endian uint16 view of each sample.
_ULAW_ENC = np.empty(65536, dtype=np.uint8)
_ULAW_ENC[_ALL_SAMPLES & 0xFFFF] = ulaw_encode(_ALL_SAMPLES.astype(np.int16))
_ALAW_ENC = np.empty(65536, dtype=np.uint8)
_ALAW_ENC[_ALL_SAMPLES & 0xFFFF] = alaw_encode(_ALL_SAMPLES.astype(np.int16))
_ULAW_DEC = ulaw_decode(np.arange(256)).astype("<i2")
_ALAW_DEC = alaw_decode(np.arange(256)).astype("<i2")


class G711(Codec):
    """G.711 at 8 kHz, 20 ms frames, by table lookup; subclasses give the payload type and the tables."""

    payload_type = -1
    _enc: np.ndarray
    _dec: np.ndarray

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def samples_per_frame(self) -> int:
        return FRAME_SAMPLES

    def encode(self, pcm: bytes) -> bytes:
        return self._enc.take(np.frombuffer(pcm, dtype="<u2")).tobytes()

    def decode(self, payload: bytes) -> bytes:
        return self._dec.take(np.frombuffer(payload, dtype=np.uint8)).tobytes()


class Pcmu(G711):
    payload_type = 0
    name = "PCMU"
    _enc = _ULAW_ENC
    _dec = _ULAW_DEC


class Pcma(G711):
    payload_type = 8
    name = "PCMA"
    _enc = _ALAW_ENC
    _dec = _ALAW_DEC


CODECS: dict[str, type[G711]] = {"PCMU": Pcmu, "PCMA": Pcma}
