"""The synchronous face of the SIP agent: SipCarrier.dial() and SipCall.exchange(), as telephony.interface asks.

The conversation runs in an ordinary (Celery worker) thread; SIP and RTP run on the process's event-loop
thread (telephony.sip.loop). They meet in two thread-safe queues per call: robot frames go out through a
deque the 20 ms RTP clock drains, callee frames come back through a queue.Queue that exchange() blocks on.
So exchange() is paced by the network clock, one frame out and one frame in per 20 ms.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import time

from telephony.interface import FRAME_BYTES, FRAME_MS, SILENCE_FRAME, CallEnded, DialResult, DialStatus, EndReason
from telephony.interface import Frame as Frame
from telephony.sip import loop
from telephony.sip.config import TrunkConfig
from telephony.sip.endpoint import SipEndpoint
from telephony.sip.inbound import InboundGate, InboundLeg
from telephony.sip.leg import CallLeg
from telephony.sip.media import RtpStream
from telephony.sip.refer import ReferTransfer
from telephony.sip.register import TrunkRegistration
from telephony.sip.rtp_ports import PortAllocator
from telephony.sip.transaction import Timers

log = logging.getLogger(__name__)

EXCHANGE_TIMEOUT = 5.0  # no frame from the RTP clock for this long means the event loop is stuck or gone
HANGUP_DRAIN_SECONDS = 5.0  # let queued robot audio (a goodbye) play out before the BYE
HANGUP_WAIT_SECONDS = 2.0  # wait this long for the BYE's 200 OK

_allocators: dict[tuple[int, int], PortAllocator] = {}


class SipCall:
    """An answered SIP call (implements telephony.interface.Call)."""

    def __init__(self, leg: CallLeg) -> None:
        self._leg = leg
        self._rtp = leg.rtp
        self._frames = 0
        self._silence_dropped = 0
        self.call_id = leg.call_id
        self.sip_code = 200
        self.codec = leg.codec_name

    @property
    def elapsed_ms(self) -> int:
        """Media time since answer: 20 ms per frame handed to the conversation."""
        return self._frames * FRAME_MS

    @property
    def end_reason(self) -> EndReason | None:
        return self._rtp.ended

    @property
    def stats(self) -> dict:
        s = self._rtp.stats
        return {
            "codec": self.codec,
            "rtp_sent": s.sent,
            "rtp_received": s.received,
            "underruns": s.underruns,
            "late_ticks": s.late_ticks,
            "dtmf_sent": s.dtmf_sent,
            "dtmf_received": s.dtmf_received,
            "rtcp_sent": s.rtcp_sent,
            "rtcp_received": s.rtcp_received,
            "rtt_ms": s.rtt_ms,
            "reports_echoing_sr": s.reports_echoing_sr,
            "remote_loss_pct": s.remote_loss_pct,
            "remote_jitter_ms": s.remote_jitter_ms,
            "robot_queue_frames": len(self._rtp.outgoing),
            **self._leg.timings,
        }

    def exchange(self, outgoing: bytes) -> Frame:
        if len(outgoing) != FRAME_BYTES:
            raise ValueError(f"exchange() takes {FRAME_BYTES} bytes of PCM16, got {len(outgoing)}")
        rtp = self._rtp
        if rtp.ended is None:
            # When the conversation fell behind, the clock already sent silence in its place (an underrun);
            # dropping the same amount of its later silence keeps the robot's voice from lagging for good.
            if outgoing == SILENCE_FRAME and rtp.stats.underruns > self._silence_dropped:
                self._silence_dropped += 1
            else:
                rtp.outgoing.append(outgoing)
        try:
            item = rtp.incoming.get(timeout=EXCHANGE_TIMEOUT)
        except queue.Empty:  # the RTP clock stopped: the event loop is stuck or gone
            loop.call_soon(self._leg.hangup, EndReason.ERROR)
            raise CallEnded(EndReason.ERROR) from None
        if isinstance(item, EndReason):
            rtp.incoming.put(item)  # stays ended for any later call
            raise CallEnded(item)
        self._frames += 1
        return item

    def send_dtmf(self, digits: str) -> None:
        """Queue RFC 4733 digits (120 ms each, 80 ms apart); they replace robot audio while they play."""
        loop.run(_call(self._rtp.queue_dtmf, digits), timeout=5)

    def transfer(self, target: str, timeout: float = 45.0) -> ReferTransfer:
        """Cold transfer by REFER (telephony.sip.refer); poll `.result()` while exchanging frames."""
        return loop.run(_call(self._leg.refer, target, timeout), timeout=5)

    def hangup(self) -> None:
        waited = 0.0
        while self._rtp.outgoing and self._rtp.ended is None and waited < HANGUP_DRAIN_SECONDS:
            time.sleep(FRAME_MS / 1000)
            waited += FRAME_MS / 1000
        try:
            loop.run(self._bye(), timeout=HANGUP_WAIT_SECONDS + 1)
        except TimeoutError:
            log.warning("SIP call %s: no answer to BYE", self.call_id)

    async def _bye(self) -> None:
        final = self._leg.hangup(EndReason.ROBOT_HANGUP)
        if final is not None and not final.done():
            await asyncio.wait([final], timeout=HANGUP_WAIT_SECONDS)

    def __enter__(self) -> SipCall:
        return self

    def __exit__(self, *exc) -> None:
        self.hangup()


class SipCarrier:
    """Places calls through one SIP trunk (implements telephony.interface.Carrier).

    `rtp_port_range`: ports [start, end): an even RTP port and the RTCP port above it per concurrent call.
    `media_timeout`: hang up when no RTP arrived for this many seconds (0 = never).
    `t1`: RFC 3261 T1; only tests change it.
    """

    def __init__(
        self,
        trunk: TrunkConfig,
        rtp_port_range: tuple[int, int] = (20000, 30000),
        *,
        media_timeout: float = 30.0,
        t1: float = 0.5,
    ) -> None:
        self.trunk = trunk
        self.timers = Timers(t1=t1)
        self.media_timeout = media_timeout
        key = (int(rtp_port_range[0]), int(rtp_port_range[1]))
        self._ports = _allocators.setdefault(key, PortAllocator(*key))

    def dial(self, number: str, caller_id: str, ring_timeout: float) -> DialResult:
        budget = ring_timeout + 2 * self.timers.b + 10
        try:
            return loop.run(self._dial(number, caller_id or self.trunk.caller_id, ring_timeout), timeout=budget)
        except OSError as exc:  # trunk unreachable (TCP refused), no free RTP port
            log.warning("SIP dial to %s failed: %s", number, exc)
            return DialResult(DialStatus.FAILED, None, detail=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a dial must always come back with a result, never an exception
            log.exception("SIP dial to %s failed", number)
            return DialResult(DialStatus.FAILED, None, detail=f"{type(exc).__name__}: {exc}")

    def register(self) -> tuple[int | None, str]:
        """REGISTER now (dial() also does it on first use when `trunk.register`); returns (SIP code, detail)."""
        return loop.run(self._register(), timeout=4 * self.timers.b)

    async def _register(self) -> tuple[int | None, str]:
        trunk_addr, local_host = await self._addresses()
        endpoint = await SipEndpoint.get(local_host, self.trunk.local_port, self.trunk.transport)
        await endpoint.connect(trunk_addr)
        return await TrunkRegistration.for_trunk(endpoint, self.trunk, trunk_addr, self.timers).ensure()

    async def _addresses(self) -> tuple[tuple[str, int], str]:
        info = await asyncio.get_running_loop().getaddrinfo(self.trunk.host, self.trunk.port, type=socket.SOCK_DGRAM)
        trunk_addr = info[0][4][:2]
        return trunk_addr, self.trunk.local_host or _source_address_for(trunk_addr)

    async def _dial(self, number: str, caller_id: str, ring_timeout: float) -> DialResult:
        trunk_addr, local_host = await self._addresses()
        endpoint = await SipEndpoint.get(local_host, self.trunk.local_port, self.trunk.transport)
        await endpoint.connect(trunk_addr)  # TCP: a refused connection fails the dial at once
        if self.trunk.register:
            registration = TrunkRegistration.for_trunk(endpoint, self.trunk, trunk_addr, self.timers)
            code, reason = await registration.ensure()
            if not registration.registered:
                return DialResult(DialStatus.FAILED, code, detail=f"REGISTER failed: {reason}")
        rtp = await RtpStream.open(local_host, self._ports)
        destination = _uri_address(number) or trunk_addr
        leg = CallLeg(endpoint, self.trunk, destination, rtp, number, caller_id, self.timers, self.media_timeout)
        outcome = await leg.invite(ring_timeout)
        call = SipCall(leg) if outcome.status is DialStatus.ANSWERED else None
        log.info("SIP dial %s -> %s %s (%s) %s", number, outcome.status, outcome.sip_code, outcome.detail, leg.timings)
        return DialResult(outcome.status, outcome.sip_code, call=call, detail=outcome.detail)


class IncomingCall:
    """A call to us waiting for the product's decision (SipInbound.next_call): answer it or refuse it.
    `caller` is None when the number was withheld or not given."""

    def __init__(self, leg: InboundLeg) -> None:
        self._leg = leg
        self.call_id = leg.call_id
        self.caller = leg.caller
        self.called = leg.called
        self.source = leg.trunk_addr
        self.detail = ""

    def answer(self) -> SipCall | None:
        """200 OK: the call, or None (why in `detail`) when the caller gave up or offered no usable audio."""
        error = loop.run(self._leg.answer(), timeout=5)
        if error:
            self.detail = error
            return None
        return SipCall(self._leg)

    def reject(self, code: int = 486, reason: str = "Busy Here") -> None:
        loop.call_soon(self._leg.reject, code, reason)


class SipInbound:
    """Takes calls to us on the trunk's local address (telephony.sip.inbound). Limits: `per_source` INVITEs
    per `window` seconds from one address (then 503; a trunk sends every call from its own address, so keep it
    above the trunk's busiest burst), INVITEs only from `allowed_sources` when given (else 403), at most
    `max_waiting` calls awaiting a decision (then 486), a decision within `decide_within` seconds (then 480).
    The product takes the calls with next_call()."""

    def __init__(
        self,
        trunk: TrunkConfig,
        rtp_port_range: tuple[int, int] = (20000, 30000),
        *,
        media_timeout: float = 30.0,
        t1: float = 0.5,
        max_waiting: int = 32,
        per_source: int = 30,
        window: float = 10.0,
        decide_within: float = 10.0,
        allowed_sources: frozenset[str] | None = None,
    ) -> None:
        self.trunk = trunk
        self.timers = Timers(t1=t1)
        key = (int(rtp_port_range[0]), int(rtp_port_range[1]))
        self._ports = _allocators.setdefault(key, PortAllocator(*key))
        self._waiting: queue.Queue[IncomingCall] = queue.Queue()
        self._limits = {
            "per_source": per_source,
            "window": window,
            "decide_within": decide_within,
            "allowed_sources": allowed_sources,
        }
        self.max_waiting = max_waiting
        self.media_timeout = media_timeout
        self.gate: InboundGate | None = None
        self._endpoint: SipEndpoint | None = None

    def start(self) -> tuple[str, int]:
        """Listen; returns the local SIP address (host, port)."""
        return loop.run(self._start(), timeout=10)

    async def _start(self) -> tuple[str, int]:
        host = self.trunk.local_host or _source_address_for((self.trunk.host, self.trunk.port))
        endpoint = await SipEndpoint.get(host, self.trunk.local_port, self.trunk.transport)
        self.gate = InboundGate(
            endpoint, self.trunk, self._ports, self.timers, self.media_timeout, self._offer, **self._limits
        )
        endpoint.on_invite = self.gate.on_invite
        self._endpoint = endpoint
        return endpoint.local_addr

    def _offer(self, leg: InboundLeg) -> bool:
        if self._waiting.qsize() >= self.max_waiting:
            return False
        self._waiting.put(IncomingCall(leg))
        return True

    def next_call(self, timeout: float | None = None) -> IncomingCall | None:
        try:
            return self._waiting.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        if self._endpoint is not None:
            self._endpoint.on_invite = None


async def _call(fn, *args):
    return fn(*args)


def _uri_address(target: str) -> tuple[str, int] | None:
    """A `sip:` URI whose host is an IP address is dialled there directly (an agent's phone on the LAN); a number,
    or a URI with a name, goes through the trunk."""
    if not target.startswith("sip:"):
        return None
    host_port = target[4:].split("@")[-1].split(";")[0]
    host, _, port = host_port.rpartition(":") if host_port.count(":") == 1 else (host_port, "", "")
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return None
    return (host, int(port) if port.isdigit() else 5060)


def _source_address_for(addr: tuple[str, int]) -> str:
    """The local address the OS routes to `addr` from (no packet is sent)."""
    with socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(addr)
        return probe.getsockname()[0]
