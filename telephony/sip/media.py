"""RTP for one call: G.711 paced at 20 ms out, a playout (jitter) buffer in, RFC 4733 DTMF both ways.

Everything here runs on the SIP event loop. One 20 ms clock per call drives both directions: each tick sends
the next robot frame (silence when the conversation has not supplied one) and takes the next 20 ms from the
playout buffer (concealment or silence when nothing arrived) for the conversation thread.

Built on aiortp: RtpPacket (wire format), DtmfEvent (RFC 4733 payload), RTCP packets, and AdaptivePlayout
(telephony.sip.playout). Socket, clock, DTMF pacing, RTCP reports and the thread hand-off are ours; the port
pair comes from telephony.sip.rtp_ports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import struct
import time
from collections import deque
from dataclasses import dataclass

from aiortp import DtmfEvent, RtpPacket, StreamStatistics
from aiortp.clock import current_ntp_time
from aiortp.dtmf import DTMF_EVENTS
from aiortp.packet import (
    RtcpByePacket,
    RtcpPacket,
    RtcpReceiverInfo,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from telephony.interface import FRAME_MS, FRAME_SAMPLES, SILENCE_FRAME, EndReason, Frame
from telephony.sip.g711 import G711, Pcma, Pcmu
from telephony.sip.playout import PlayoutBuffer
from telephony.sip.rtp_ports import PortAllocator

log = logging.getLogger(__name__)

TICK = FRAME_MS / 1000
MAX_BACKLOG_FRAMES = 750  # 15 s of callee audio nobody reads: the conversation is gone, hang up
DTMF_TONE_MS = 120
DTMF_GAP_MS = 80
MAX_LATE_TICKS = 50  # loop stalled more than 1 s: resynchronise the clock instead of bursting
RTCP_FIRST_TICKS = 100  # first report 2 s after answer, then every 2.5-7.5 s
RTCP_TICKS = 250
RTCP_CNAME = b"campaign-robot"


@dataclass
class MediaStats:
    sent: int = 0
    received: int = 0
    underruns: int = 0  # ticks where the conversation had no frame ready (silence sent)
    late_ticks: int = 0
    foreign_payload: int = 0
    dtmf_sent: str = ""
    dtmf_received: str = ""
    rtcp_sent: int = 0
    rtcp_received: int = 0
    rtt_ms: float | None = None  # from the peer's receiver reports (LSR/DLSR)
    reports_echoing_sr: int = 0  # the peer's reports that name one of our sender reports (LSR set)
    remote_loss_pct: float | None = None  # what the peer says it lost of our stream
    remote_jitter_ms: float | None = None


class _RtcpProtocol(asyncio.DatagramProtocol):
    def __init__(self, stream: RtpStream) -> None:
        self.stream = stream

    def datagram_received(self, data: bytes, addr) -> None:
        self.stream.rtcp_received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # the peer does not listen for RTCP: fine
        pass


class RtpStream(asyncio.DatagramProtocol):
    """One RTP session. Create with `open()`, then `start()` once the SDP answer is known."""

    def __init__(self, local_addr: tuple[str, int]) -> None:
        self.local_addr = local_addr
        self.stats = MediaStats()
        self.incoming: queue.Queue[Frame | EndReason] = queue.Queue()
        self.outgoing: deque[bytes] = deque()
        self.ended: EndReason | None = None
        self.last_rx = time.monotonic()
        self._transport: asyncio.DatagramTransport | None = None
        self._remote: tuple[str, int] | None = None
        self._latched = False
        self._codec: G711 | None = None
        self._decoders: dict[int, G711] = {}
        self._pt = 0
        self._dtmf_pt_send: int | None = None
        self._dtmf_pt_recv: set[int] = set()
        self._playout: PlayoutBuffer | None = None
        self._ssrc = struct.unpack("!I", os.urandom(4))[0]
        self._seq = random.randrange(1 << 16)  # noqa: S311
        self._ts = random.randrange(1 << 32)  # noqa: S311
        self._first = True
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._dtmf_queue: deque[str] = deque()
        self._dtmf_state: tuple[int, int, int] | None = None  # (event, start timestamp, ticks sent)
        self._dtmf_gap = 0
        self._rx_event_ts: int | None = None
        self._rx_digits: deque[str] = deque()
        self._remote_ssrc: int | None = None
        self._on_dead = None
        self._media_timeout = 0.0
        self._rtcp: asyncio.DatagramTransport | None = None
        self._rtcp_remote: tuple[str, int] | None = None
        self._rx_stats = StreamStatistics(8000)
        self._octets = 0
        self._ticks = 0
        self._next_rtcp = RTCP_FIRST_TICKS
        self._last_sr: tuple[int, float] | None = None  # (middle 32 bits of its NTP time, when we got it)

    @classmethod
    async def open(cls, host: str, ports: PortAllocator) -> RtpStream:
        rtp, rtcp = ports.bind(host)
        stream = cls(rtp.getsockname()[:2])
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: stream, sock=rtp)
        stream._rtcp, _ = await loop.create_datagram_endpoint(lambda: _RtcpProtocol(stream), sock=rtcp)
        return stream

    # -- lifecycle (loop thread) -------------------------------------------------------------------

    def start(
        self,
        remote: tuple[str, int],
        codec: G711,
        payload_type: int,
        dtmf_pt_send: int | None,
        dtmf_pt_recv: set[int],
        media_timeout: float = 0.0,
        on_dead=None,
        rtcp_remote: tuple[str, int] | None = None,
    ) -> None:
        self._remote = remote
        self._rtcp_remote = rtcp_remote or (remote[0], remote[1] + 1)
        self._codec = codec
        self._pt = payload_type
        self._dtmf_pt_send = dtmf_pt_send
        self._dtmf_pt_recv = dtmf_pt_recv
        # Decode on arrival: the peer may send either G.711 law we offered, whatever it answered (RFC 3264 allows
        # asymmetric codecs); the playout buffer then holds PCM.
        self._decoders = {Pcmu.payload_type: Pcmu(), Pcma.payload_type: Pcma(), payload_type: codec}
        self._playout = PlayoutBuffer(max_delay_ms=200)
        self._media_timeout = media_timeout
        self._on_dead = on_dead
        self.last_rx = time.monotonic()
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + TICK
        self._handle = loop.call_at(self._deadline, self._tick)

    def update_remote(self, remote: tuple[str, int]) -> None:
        """A re-INVITE moved the far end's media."""
        self._remote = remote
        self._rtcp_remote = (remote[0], remote[1] + 1)
        self._latched = False

    def stop(self, reason: EndReason) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        if self._handle is not None:
            self._handle.cancel()
        if self._transport is not None:
            self._transport.close()
        if self._rtcp is not None:
            if self._playout is not None:
                self._send_rtcp(bye=True)
            self._rtcp.close()
        self.incoming.put(reason)

    # -- asyncio protocol --------------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if self._playout is None or self.ended is not None or len(data) < 12 or data[0] >> 6 != 2:
            return
        pt = data[1] & 0x7F
        if 72 <= pt <= 76:  # RTCP on the RTP port (rtcp-mux): ignored
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            return
        self.stats.received += 1
        self.last_rx = time.monotonic()
        self._rx_stats.add(packet)
        if not self._latched:  # symmetric RTP: answer to where the peer really sends from (NAT)
            self._latched = True
            self._remote = (addr[0], addr[1])
        if packet.ssrc != self._remote_ssrc:
            if self._remote_ssrc is not None:
                self._playout.reset()
            self._remote_ssrc = packet.ssrc
        if packet.payload_type in self._dtmf_pt_recv:
            self._receive_dtmf(packet)
        elif packet.payload_type in self._decoders:
            self._playout.put(packet.timestamp, self._decoders[packet.payload_type].decode(packet.payload))
        else:
            self.stats.foreign_payload += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error on %s: %s", self.local_addr, exc)

    # -- the 20 ms clock ---------------------------------------------------------------------------

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline += TICK
        late = loop.time() - self._deadline
        if late > MAX_LATE_TICKS * TICK:
            self.stats.late_ticks += int(late / TICK)
            self._deadline = loop.time() + TICK
        self._handle = loop.call_at(self._deadline, self._tick)
        try:
            self._send_tick()
            self._receive_tick()
            self._ticks += 1
            if self._ticks >= self._next_rtcp:
                self._next_rtcp += random.randint(RTCP_TICKS // 2, 3 * RTCP_TICKS // 2)  # noqa: S311 (RFC 3550 6.3.1)
                self._send_rtcp()
        except Exception:
            log.exception("RTP tick failed")
        if self._on_dead is None or self.ended is not None:
            return
        if self._media_timeout and time.monotonic() - self.last_rx > self._media_timeout:
            log.warning("no RTP for %.0f s: ending the call", self._media_timeout)
            self._on_dead(EndReason.TIMEOUT)
        elif self.incoming.qsize() >= MAX_BACKLOG_FRAMES:
            log.warning("nobody has read this call's audio for %d frames: ending it", MAX_BACKLOG_FRAMES)
            self._on_dead(EndReason.ERROR)

    def _send_tick(self) -> None:
        try:
            pcm = self.outgoing.popleft()
        except IndexError:
            pcm = SILENCE_FRAME
            self.stats.underruns += 1
        if not self._send_dtmf_tick():
            self._send(self._pt, self._codec.encode(pcm), self._ts, marker=self._first)
            self._first = False
        self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF

    def _receive_tick(self) -> None:
        out = self._playout.tick()
        pcm = out[0] if out is not None else SILENCE_FRAME
        if len(pcm) != len(SILENCE_FRAME):
            pcm = (pcm + SILENCE_FRAME)[: len(SILENCE_FRAME)]
        digit = self._rx_digits.popleft() if self._rx_digits else None
        self.incoming.put(Frame(pcm, dtmf=digit))

    def _send(self, pt: int, payload: bytes, timestamp: int, marker: bool = False) -> None:
        if self._transport is None or self._remote is None:
            return
        packet = RtpPacket(
            payload_type=pt,
            marker=int(marker),
            sequence_number=self._seq,
            timestamp=timestamp,
            ssrc=self._ssrc,
            payload=payload,
        )
        self._seq = (self._seq + 1) & 0xFFFF
        self._transport.sendto(packet.serialize(), self._remote)
        self.stats.sent += 1
        self._octets += len(payload)

    # -- RTCP (RFC 3550): sender reports out, the peer's reports in (loss, jitter, round trip) ----------

    def _send_rtcp(self, bye: bool = False) -> None:
        if self._rtcp is None or self._rtcp_remote is None:
            return
        reports = []
        if self._remote_ssrc is not None and self._rx_stats.max_seq is not None:
            lsr = dlsr = 0
            if self._last_sr is not None:
                lsr = self._last_sr[0]
                dlsr = int((time.monotonic() - self._last_sr[1]) * 65536) & 0xFFFFFFFF
            rx = self._rx_stats
            reports.append(
                RtcpReceiverInfo(
                    ssrc=self._remote_ssrc,
                    fraction_lost=rx.fraction_lost,
                    packets_lost=rx.packets_lost,
                    highest_sequence=(rx.cycles + rx.max_seq) & 0xFFFFFFFF,
                    jitter=rx.jitter,
                    lsr=lsr,
                    dlsr=dlsr,
                )
            )
        info = RtcpSenderInfo(current_ntp_time(), self._ts, self.stats.sent & 0xFFFFFFFF, self._octets & 0xFFFFFFFF)
        compound = bytes(RtcpSrPacket(ssrc=self._ssrc, sender_info=info, reports=reports))
        compound += bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self._ssrc, items=[(1, RTCP_CNAME)])]))
        if bye:
            compound += bytes(RtcpByePacket(sources=[self._ssrc]))
        self._rtcp.sendto(compound, self._rtcp_remote)
        self.stats.rtcp_sent += 1

    def rtcp_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packets = RtcpPacket.parse(data)
        except ValueError:
            return
        self.stats.rtcp_received += 1
        self._rtcp_remote = addr  # symmetric RTCP
        for packet in packets:
            if isinstance(packet, RtcpSrPacket):
                self._last_sr = ((packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, time.monotonic())
            for report in getattr(packet, "reports", []):
                if report.ssrc != self._ssrc:
                    continue
                self.stats.remote_loss_pct = round(100 * report.fraction_lost / 256, 1)
                self.stats.remote_jitter_ms = round(report.jitter / 8, 1)  # 8 kHz timestamp units
                if report.lsr:
                    self.stats.reports_echoing_sr += 1
                    now = (current_ntp_time() >> 16) & 0xFFFFFFFF
                    units = (now - report.lsr - report.dlsr) & 0xFFFFFFFF
                    if units >= 1 << 31:  # a little below zero: a near-zero round trip less the peer's rounding
                        units -= 1 << 32
                    rtt = units / 65536
                    if -0.05 < rtt < 60:
                        self.stats.rtt_ms = round(1000 * max(rtt, 0.0), 1)

    # -- DTMF (RFC 4733) ---------------------------------------------------------------------------

    def queue_dtmf(self, digits: str) -> None:
        for digit in digits:
            if digit.upper() not in DTMF_EVENTS:
                raise ValueError(f"not a DTMF digit: {digit!r}")
        if self._dtmf_pt_send is None:
            raise RuntimeError("the far end did not negotiate telephone-event: cannot send RFC 4733 DTMF")
        self._dtmf_queue.extend(d.upper() for d in digits)

    def deliver_digit(self, digit: str) -> None:
        """A digit the peer signalled out of band (SIP INFO): handed to the conversation with the next frame."""
        self._rx_digits.append(digit)

    def _send_dtmf_tick(self) -> bool:
        """Send this tick's telephone-event packet instead of audio; False when no digit is playing."""
        if self._dtmf_state is None:
            if self._dtmf_gap > 0:
                self._dtmf_gap -= 1
                return False
            if not self._dtmf_queue:
                return False
            digit = self._dtmf_queue.popleft()
            self._dtmf_state = (DTMF_EVENTS[digit], self._ts, 0)
            self.stats.dtmf_sent += digit
        event, start_ts, ticks = self._dtmf_state
        ticks += 1
        duration = ticks * FRAME_SAMPLES
        end = ticks * FRAME_MS >= DTMF_TONE_MS
        payload = DtmfEvent(event=event, end=end, volume=10, duration=duration).serialize()
        for copy in range(3 if end else 1):  # the end packet is sent three times (RFC 4733 2.5.1.4)
            self._send(self._dtmf_pt_send, payload, start_ts, marker=ticks == 1 and copy == 0)
        if end:
            self._dtmf_state = None
            self._dtmf_gap = DTMF_GAP_MS // FRAME_MS
            self._first = True  # audio after the event starts a new talkspurt
        else:
            self._dtmf_state = (event, start_ts, ticks)
        return True

    def _receive_dtmf(self, packet: RtpPacket) -> None:
        try:
            event = DtmfEvent.parse(packet.payload)
        except ValueError:
            return
        # A new event is a new timestamp; report it on its first packet (the end packets may all be lost).
        if packet.timestamp == self._rx_event_ts or event.event > 15:
            return
        self._rx_event_ts = packet.timestamp
        self._rx_digits.append(event.digit)
        self.stats.dtmf_received += event.digit
