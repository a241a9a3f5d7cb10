"""Calls to us (RFC 3261 as UAS): an out-of-dialog INVITE offered to the product, then answered or refused.

The endpoint hands every INVITE that belongs to no call to `InboundGate.on_invite` (on the SIP loop). The gate
refuses INVITEs from addresses other than the trunk's when told them (403), then floods (more than `per_source`
INVITEs from one address within `window` seconds: 503 with Retry-After, never queued) and a full queue (486),
sends 100 Trying, and queues an `InboundLeg` for the product to decide on; nobody deciding within
`decide_within` seconds is 480. The leg answers with an SDP answer to the caller's offer (the first codec of the
offer we also have), retransmits its 200 until the ACK (Timer G/H over UDP), answers the caller's CANCEL before
that (200, then 487 to the INVITE) and retransmitted INVITEs with its last response. Once answered it is an
ordinary call leg (telephony.sip.leg): BYE either way, re-INVITEs, REFER.

The caller's number is the From user when it is a number; `anonymous`, `Privacy: id` or no number is None.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable

from aiosipua import SipRequest, SipResponse, generate_tag, stringify_uri

from telephony.interface import EndReason
from telephony.sip.config import TrunkConfig
from telephony.sip.dialog import CallDialog
from telephony.sip.endpoint import SipEndpoint, response_to
from telephony.sip.g711 import CODECS
from telephony.sip.leg import CallLeg
from telephony.sip.media import RtpStream
from telephony.sip.rtp_ports import PortAllocator
from telephony.sip.sdp import SdpError, negotiate_answer
from telephony.sip.session_timer import SessionTimer
from telephony.sip.transaction import Timers

_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def caller_number(invite: SipRequest) -> str | None:
    """The caller's number as presented, or None when withheld (anonymous, Privacy: id) or not a number."""
    privacy = (invite.get_header("Privacy") or "").lower()
    address = invite.from_addr
    user = address.uri.user if address is not None and address.uri is not None else ""
    if "id" in re.split(r"[;\s]+", privacy) or not user or not _NUMBER.fullmatch(user):
        return None
    return user


def called_number(invite: SipRequest) -> str:
    """Who was called: the Request-URI's user part (the To user when the URI has none)."""
    user = invite.uri.split(":", 1)[-1].split("@")[0].split(";")[0] if "@" in invite.uri else ""
    if not user and invite.to_addr is not None and invite.to_addr.uri is not None:
        user = invite.to_addr.uri.user or ""
    return user


class InboundLeg(CallLeg):
    """One call to us. Before the answer it owns the INVITE server transaction; after it, CallLeg's methods apply
    (the dialog is built from the INVITE: our tag in To, theirs in From, their Contact as the remote target)."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        trunk: TrunkConfig,
        invite: SipRequest,
        ports: PortAllocator,
        timers: Timers,
        media_timeout: float,
    ) -> None:
        # Not CallLeg.__init__: that one builds an outbound INVITE's dialog. Only what an answered call uses.
        self.endpoint, self.trunk, self.timers, self.media_timeout = endpoint, trunk, timers, media_timeout
        self.invite = invite
        self.trunk_addr = invite.source
        self.caller = caller_number(invite)
        self.called = called_number(invite)
        host, port = endpoint.local_addr
        self.local_host = host
        tcp = ";transport=tcp" if endpoint.reliable else ""
        self.contact = f"<sip:{self.called or 'robot'}@{host}:{port}{tcp}>"
        to_uri = stringify_uri(invite.to_addr.uri) if invite.to_addr and invite.to_addr.uri else invite.uri
        from_uri = stringify_uri(invite.from_addr.uri) if invite.from_addr and invite.from_addr.uri else ""
        self.from_uri = to_uri  # what we are in this dialog (Referred-By of a transfer)
        self.dialog = CallDialog(endpoint, invite.source, timers, to_uri, from_uri, self.contact)
        self.dialog.adopt_incoming(invite)
        self.call_id = self.dialog.call_id
        self.auth = None
        self.sdp_version, self.session_id = 1, str(int(time.time()))
        self.invite_tx = None
        self.cancelled = self.ring_expired = False
        self.ended: EndReason | None = None
        self.end_code: int | None = None
        self._ports = ports
        self.rtp: RtpStream | None = None
        self.codec_name = ""
        self.timings: dict[str, float] = {}
        self.transfer = None
        self.session_timer = SessionTimer(
            self.dialog, trunk.user_agent, lambda: self.sdp_offer((self.codec_name,)), self.hangup
        )
        self._bye_tx = None
        self._bye_retried = False
        self._auth_headers: dict[str, str] = {}
        self._last_response: SipResponse | None = None
        self._ok_retransmit: asyncio.TimerHandle | None = None
        self.acked = False
        self.received_at = time.monotonic()
        endpoint.legs[self.call_id] = self

    # -- before the answer -------------------------------------------------------------------------

    def respond(self, code: int, reason: str, sdp: str = "") -> SipResponse:
        response = (
            self.dialog.response(self.invite, code, reason) if code > 100 else response_to(self.invite, code, reason)
        )
        if sdp:
            response.headers.set_single("Content-Type", "application/sdp")
            response.text = sdp
        self._last_response = response
        self.endpoint.reply(response, self.invite)
        return response

    def reject(self, code: int, reason: str) -> None:
        """Refuse the call (before answering it); the caller ACKs, retransmissions get this response again."""
        if self.ended is not None or self.dialog.confirmed:
            return
        self.respond(code, reason)
        self._end(EndReason.ERROR)

    async def answer(self) -> str | None:
        """200 OK with our SDP answer; the call is up from here. Returns an error (and refuses 488) when the offer
        has no audio we can take, or None."""
        if self.ended is not None:
            return "no longer offered: the caller gave up or the call was refused meanwhile"
        try:
            offer = negotiate_answer(self.invite.text, self.trunk.codecs)
        except SdpError as exc:
            self.reject(488, "Not Acceptable Here")
            return str(exc)
        self.rtp = await RtpStream.open(self.local_host, self._ports)
        self.codec_name = offer.codec
        self.rtp.start(
            offer.remote, CODECS[offer.codec](), offer.payload_type, offer.dtmf_send, offer.dtmf_receive,
            media_timeout=self.media_timeout, on_dead=self.hangup, rtcp_remote=offer.rtcp_remote,
        )  # fmt: skip
        self.dialog.confirm_incoming()
        self.respond(200, "OK", self.sdp_offer((offer.codec,)))
        self.timings["final_ms"] = round((time.monotonic() - self.received_at) * 1000, 1)
        if not self.endpoint.reliable:
            self._ok_retransmit = asyncio.get_running_loop().call_later(self.timers.t1, self._resend_ok, self.timers.t1)
        return None

    def _resend_ok(self, interval: float) -> None:
        """Timer G/H: the 200 again (T1 doubling up to T2) until the ACK; none after 64*T1 ends the call."""
        if self.acked or self.ended is not None:
            return
        if time.monotonic() - self.received_at > self.timers.b:
            self.hangup(EndReason.ERROR)
            return
        self.endpoint.reply(self._last_response, self.invite)
        interval = min(2 * interval, self.timers.t2)
        self._ok_retransmit = asyncio.get_running_loop().call_later(interval, self._resend_ok, interval)

    # -- the caller's requests ---------------------------------------------------------------------

    def on_request(self, request: SipRequest) -> None:
        method = request.method
        first = request.cseq is not None and request.cseq.seq == self.invite.cseq.seq
        if method == "INVITE" and first:  # a retransmission of the INVITE: the last response again
            if self._last_response is not None:
                self.endpoint.reply(self._last_response, request)
            return
        if method == "ACK" and first:
            self.acked = True
            return
        if method == "CANCEL":
            self.endpoint.reply(response_to(request, 200, "OK", self.dialog.local_tag), request)
            if not self.dialog.confirmed and self.ended is None:
                self.cancelled = True
                self.reject(487, "Request Terminated")
            return
        super().on_request(request)

    def _end(self, reason: EndReason) -> None:
        if self.ended is not None:
            return
        if self.rtp is not None:
            super()._end(reason)
            return
        self.ended = reason
        self.dialog.terminate()
        self.endpoint.release(self.call_id, self.timers.d)


class InboundGate:
    """What stands between the network and the product: flood limits, a bounded queue, the 100 Trying."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        trunk: TrunkConfig,
        ports: PortAllocator,
        timers: Timers,
        media_timeout: float,
        offer: Callable[[InboundLeg], bool],
        *,
        per_source: int = 30,
        window: float = 10.0,
        decide_within: float = 10.0,
        allowed_sources: frozenset[str] | None = None,
    ) -> None:
        self.endpoint, self.trunk, self.ports, self.timers = endpoint, trunk, ports, timers
        self.allowed_sources = allowed_sources
        self.media_timeout = media_timeout
        self.offer = offer
        self.per_source, self.window, self.decide_within = per_source, window, decide_within
        self._seen: dict[str, deque[float]] = {}
        self.refused_flood = 0

    def on_invite(self, invite: SipRequest) -> None:
        source_ip = invite.source[0]
        if self.allowed_sources is not None and source_ip not in self.allowed_sources:
            self.endpoint.reply(response_to(invite, 403, "Forbidden", generate_tag()), invite)
            return
        now = time.monotonic()
        seen = self._seen.setdefault(source_ip, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        if len(seen) >= self.per_source:
            self.refused_flood += 1
            response = response_to(invite, 503, "Service Unavailable", generate_tag())
            response.headers.set_single("Retry-After", str(int(self.window)))
            self.endpoint.reply(response, invite)
            return
        seen.append(now)
        if len(self._seen) > 10_000:  # forget quiet sources so the table cannot grow without bound
            self._seen = {ip: times for ip, times in self._seen.items() if times and now - times[-1] <= self.window}
        leg = InboundLeg(self.endpoint, self.trunk, invite, self.ports, self.timers, self.media_timeout)
        leg.respond(100, "Trying")
        if not self.offer(leg):
            leg.reject(486, "Busy Here")
            return
        asyncio.get_running_loop().call_later(self.decide_within, self._undecided, leg)

    def _undecided(self, leg: InboundLeg) -> None:
        if leg.ended is None and not leg.dialog.confirmed:
            leg.reject(480, "Temporarily Unavailable")
