"""One outbound call (the transaction user above the dialog): INVITE to final response, then the answered call.

Dialling: the INVITE with its SDP offer, 401/407 retries with the trunk's credentials, CANCEL on ring timeout,
ICMP unreachable failing it at once, and the final response mapped to a DialStatus. Answered: the SDP answer
applied to the RTP stream, the peer's in-dialog requests answered (BYE, re-INVITE/UPDATE/OPTIONS/INFO), RFC 4028
session refresh (telephony.sip.session_timer), and our BYE with one digest retry.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiosipua import SipRequest, SipResponse, generate_branch
from aiosipua.auth import SipDigestAuth, answer_challenge
from aiosipua.headers import CSeq, Via, stringify_cseq, stringify_via
from aiosipua.utils import format_addr

from telephony.interface import DialStatus, EndReason
from telephony.sip.config import TrunkConfig
from telephony.sip.dialog import CallDialog
from telephony.sip.endpoint import ALLOW, SipEndpoint, answer_digest
from telephony.sip.g711 import CODECS
from telephony.sip.media import RtpStream
from telephony.sip.refer import ReferTransfer, refer_target
from telephony.sip.sdp import SdpError, build_offer, moved_media, negotiate_answer
from telephony.sip.session_timer import SessionTimer
from telephony.sip.transaction import ClientTransaction, Timers, build_cancel


def dial_status(code: int, cancelled: bool = False) -> DialStatus:
    """Final SIP response -> call result (the code itself is kept alongside)."""
    if 200 <= code < 300:
        return DialStatus.ANSWERED
    if code in (486, 600):
        return DialStatus.BUSY
    if code in (408, 480) or (code == 487 and cancelled):
        return DialStatus.NO_ANSWER
    if code in (404, 484, 604):
        return DialStatus.INVALID_NUMBER
    if code in (403, 603):
        return DialStatus.REJECTED
    return DialStatus.FAILED  # 5xx congestion, other 4xx, unexpected 487, auth failures, 3xx (not followed)


@dataclass
class DialOutcome:
    status: DialStatus
    sip_code: int | None
    detail: str = ""
    leg: CallLeg | None = None
    timings: dict = field(default_factory=dict)


class CallLeg:
    """One outbound call: the INVITE (with auth retries and CANCEL), then the dialog and its media."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        trunk: TrunkConfig,
        trunk_addr: tuple[str, int],
        rtp: RtpStream,
        number: str,
        caller_id: str,
        timers: Timers,
        media_timeout: float,
    ) -> None:
        self.endpoint = endpoint
        self.trunk = trunk
        self.trunk_addr = trunk_addr
        self.rtp = rtp
        self.timers = timers
        self.media_timeout = media_timeout
        host, port = endpoint.local_addr
        self.local_host = host
        domain = trunk.sip_domain
        default_port = "" if trunk.port == 5060 else f":{trunk.port}"
        tcp = ";transport=tcp" if endpoint.reliable else ""
        # A SIP URI (a transfer's agent) is dialled as given; a number goes to the trunk's domain.
        self.request_uri = number if number.startswith("sip:") else f"sip:{number}@{domain}{default_port}{tcp}"
        self.from_uri = f"sip:{trunk.from_user or caller_id or 'anonymous'}@{domain}"
        self.caller_id = caller_id
        pai = caller_id and (trunk.from_user or trunk.asserted_identity)
        self.asserted = f"<sip:{caller_id}@{domain}>" if pai else ""
        self.contact = f"<sip:{caller_id or 'robot'}@{format_addr(host, port)}{tcp}>"
        self.dialog = CallDialog(endpoint, trunk_addr, timers, self.from_uri, self.request_uri, self.contact)
        self.call_id = self.dialog.call_id
        self.auth = SipDigestAuth(trunk.username, trunk.password) if trunk.username else None
        self.sdp_version = 1
        self.session_id = str(int(time.time()))
        self.invite_tx: ClientTransaction | None = None
        self.cancelled = False
        self.ring_expired = False
        self.ended: EndReason | None = None
        self.end_code: int | None = None
        self._early_sdp = ""
        self.session_timer = SessionTimer(
            self.dialog, trunk.user_agent, lambda: self.sdp_offer((self.codec_name,)), self.hangup
        )
        self._bye_tx: ClientTransaction | None = None
        self._auth_headers: dict[str, str] = {}
        self._bye_retried = False
        self._invite_started = time.monotonic()
        self.codec_name = ""
        self.timings: dict[str, float] = {}
        self.transfer: ReferTransfer | None = None
        endpoint.legs[self.call_id] = self

    @property
    def refreshes(self) -> int:
        """Session refreshes (re-INVITEs) we sent."""
        return self.session_timer.refreshes

    # -- SDP ---------------------------------------------------------------------------------------

    def sdp_offer(self, codecs: tuple[str, ...] | None = None) -> str:
        """Our SDP: the trunk's codecs in preference order (offer), or just the agreed one (answers, refreshes)."""
        return build_offer(self.rtp.local_addr, codecs or self.trunk.codecs, self.session_id, self.sdp_version)

    def _start_media(self, sdp_text: str) -> str | None:
        """Apply the SDP answer; returns an error string when no usable audio was agreed."""
        try:
            answer = negotiate_answer(sdp_text, self.trunk.codecs)
        except SdpError as exc:
            return str(exc)
        self.codec_name = answer.codec
        self.rtp.start(
            answer.remote,
            CODECS[answer.codec](),
            answer.payload_type,
            answer.dtmf_send,
            answer.dtmf_receive,
            media_timeout=self.media_timeout,
            on_dead=self.hangup,
            rtcp_remote=answer.rtcp_remote,
        )
        return None

    # -- INVITE ------------------------------------------------------------------------------------

    def _build_invite(self) -> SipRequest:
        host, port = self.endpoint.local_addr
        invite = SipRequest(method="INVITE", uri=self.request_uri)
        via = Via(
            transport=self.endpoint.protocol, host=host, port=port, params={"branch": generate_branch(), "rport": None}
        )
        invite.headers.append("Via", stringify_via(via))
        invite.headers.set_single("Max-Forwards", "70")
        display = f'"{self.caller_id}" ' if self.caller_id else ""
        invite.headers.set_single("From", f"{display}<{self.from_uri}>;tag={self.dialog.local_tag}")
        if self.asserted:
            invite.headers.set_single("P-Asserted-Identity", f"{display}{self.asserted}")
        invite.headers.set_single("To", f"<{self.request_uri}>")
        invite.headers.set_single("Call-ID", self.call_id)
        invite.headers.set_single("CSeq", stringify_cseq(CSeq(seq=self.dialog.next_cseq(), method="INVITE")))
        invite.headers.set_single("Contact", self.contact)
        invite.headers.set_single("Allow", ALLOW)
        invite.headers.set_single("User-Agent", self.trunk.user_agent)
        if self.trunk.session_expires:
            invite.headers.set_single("Supported", "timer")
            invite.headers.set_single("Session-Expires", f"{self.trunk.session_expires};refresher=uac")
        for name, value in self._auth_headers.items():
            invite.headers.set_single(name, value)
        invite.headers.set_single("Content-Type", "application/sdp")
        invite.text = self.sdp_offer()
        return invite

    async def invite(self, ring_timeout: float) -> DialOutcome:
        loop = asyncio.get_running_loop()
        started = self._invite_started = time.monotonic()
        ring_timer = loop.call_later(ring_timeout, self._on_ring_timeout)
        challenged: set[str] = set()
        try:
            while True:
                self.invite_tx = self.dialog.start(self._build_invite(), self.trunk_addr)
                try:
                    response = await self.invite_tx.final
                except ConnectionError as exc:  # ICMP unreachable (RFC 3261 8.1.3.1: as a 503, but local)
                    self._give_up()
                    return DialOutcome(DialStatus.FAILED, None, f"trunk {exc}")
                except TimeoutError:
                    self._give_up()
                    if self.cancelled:
                        return DialOutcome(DialStatus.NO_ANSWER, None, "no final response after CANCEL")
                    return DialOutcome(DialStatus.FAILED, None, "no response from trunk (Timer B)")
                code = response.status_code
                if code in (401, 407) and self.auth is not None and not self.cancelled:
                    header = answer_digest(self.auth, response, "INVITE", self.request_uri, challenged)
                    if header is not None:
                        self._auth_headers = dict([header])
                        continue
                break
        finally:
            ring_timer.cancel()
            self.timings["final_ms"] = round((time.monotonic() - started) * 1000, 1)
            first = self.invite_tx.first_response_at if self.invite_tx else None
            if first is not None:
                self.timings["first_response_ms"] = round((first - started) * 1000, 1)
        reason = f"{code} {response.reason_phrase}"
        if 200 <= code < 300:
            self.dialog.confirm(response, self.invite_tx.request.cseq.seq, self._auth_headers)
            if self.cancelled:  # 200 crossed our CANCEL: the callee picked up after the ring timeout
                self.hangup(EndReason.ROBOT_HANGUP)
                return DialOutcome(DialStatus.NO_ANSWER, code, f"{reason} after CANCEL; hung up")
            sdp = response.text if response.body else self._early_sdp
            error = self._start_media(sdp) if sdp else "2xx without SDP answer"
            if error:
                self.hangup(EndReason.ERROR)
                return DialOutcome(DialStatus.FAILED, code, error)
            self.session_timer.arm(response, self._auth_headers)
            return DialOutcome(DialStatus.ANSWERED, code, reason, leg=self)
        self._give_up()
        if code in (401, 407):
            reason += " (authentication failed)" if self.auth else " (trunk needs credentials)"
        return DialOutcome(dial_status(code, self.cancelled), code, reason)

    def on_unreachable(self, detail: str) -> None:
        """An INVITE of ours bounced (ICMP): fail it now instead of retransmitting until Timer B."""
        tx = self.invite_tx
        if tx is not None and not tx.proceeding and not tx.final.done():
            tx.fail(ConnectionRefusedError(detail))

    def _give_up(self) -> None:
        """The call was never answered: free its RTP port; keep routing for Timer D (late retransmissions)."""
        self.ended = EndReason.ERROR
        self.rtp.stop(EndReason.ERROR)
        self.endpoint.release(self.call_id, self.timers.d)

    def _on_ring_timeout(self) -> None:
        self.ring_expired = True
        tx = self.invite_tx
        if tx is not None and tx.proceeding and not tx.final.done():
            self._send_cancel(tx)

    def _send_cancel(self, tx: ClientTransaction) -> None:
        """CANCEL the INVITE (once); the trunk then ends it with 487, or a 200 crosses the CANCEL."""
        if self.cancelled:
            return
        self.cancelled = True
        self.dialog.start(build_cancel(tx.request, self.trunk.user_agent), tx.dest)
        # The INVITE must end with 487 (or 200); if it never does, give up after 64*T1 (RFC 3261 9.1).
        asyncio.get_running_loop().call_later(self.timers.b, tx.fail)

    # -- responses ---------------------------------------------------------------------------------

    def on_response(self, response: SipResponse) -> None:
        if response.cseq is None:
            return
        if self.dialog.reack(response):  # a 2xx retransmission
            return
        tx = self.dialog.transaction_for(response)
        if tx is None:
            return
        tx.on_response(response)
        if tx is self.invite_tx and response.status_code < 200:
            if response.status_code in (180, 183) and "ringing_ms" not in self.timings:
                self.timings["ringing_ms"] = self._since_invite()
            if response.body and "sdp" in (response.content_type or ""):
                self._early_sdp = response.text  # early media answer; a 200 without SDP falls back to it
            if self.ring_expired and not self.cancelled:
                self._send_cancel(tx)  # ring timeout passed before anything was heard

    def _since_invite(self) -> float:
        return round((time.monotonic() - self._invite_started) * 1000, 1)

    # -- in-dialog requests from the far end -------------------------------------------------------

    def on_request(self, request: SipRequest) -> None:
        method = request.method
        if method == "ACK":
            return
        if method == "BYE":
            self.dialog.reply(request, 200, "OK")
            self._end(EndReason.CALLEE_HANGUP)
            return
        if method == "CANCEL":  # we never receive INVITEs, so there is nothing to cancel
            self.dialog.reply(request, 481, "Call/Transaction Does Not Exist")
            return
        if self.ended is not None or not self.dialog.confirmed:
            self.dialog.reply(request, 481, "Call/Transaction Does Not Exist")
            return
        if method == "INVITE":  # re-INVITE: session refresh, hold, or moved media
            if request.body:
                remote = moved_media(request.text)
                if remote is not None:
                    self.rtp.update_remote(remote)  # moved media (0.0.0.0 = old-style hold: keep it)
            self.sdp_version += 1
            response = self.dialog.response(request, 200, "OK")
            response.headers.set_single("Content-Type", "application/sdp")
            response.text = self.sdp_offer((self.codec_name,))
            self.endpoint.reply(response, request)
            self.session_timer.refreshed_by_peer()
            return
        if method == "INFO" and "dtmf" in (request.content_type or ""):
            for line in request.text.splitlines():
                key, _, value = line.partition("=")
                if key.strip().lower() == "signal" and value.strip():
                    self.rtp.deliver_digit(value.strip()[0].upper())
        if method == "NOTIFY" and self.transfer is not None and self.transfer.on_notify(request):
            self.dialog.reply(request, 200, "OK")
            return
        if method in ("OPTIONS", "INFO", "UPDATE", "NOTIFY"):
            self.dialog.reply(request, 200, "OK")
            if method == "UPDATE":
                self.session_timer.refreshed_by_peer()
            return
        self.dialog.reply(request, 501, "Not Implemented")

    # -- transfer ----------------------------------------------------------------------------------

    def refer(self, target: str, timeout: float) -> ReferTransfer:
        """Cold transfer of the callee to `target` (telephony.sip.refer); one at a time."""
        if self.ended is not None or not self.dialog.confirmed:
            raise RuntimeError("the call is over: nothing to transfer")
        if self.transfer is not None and self.transfer.outcome is None:
            raise RuntimeError("a transfer is already under way")
        refer_to = refer_target(target, self.trunk.sip_domain)
        self.transfer = ReferTransfer(self.dialog, refer_to, self.from_uri, self.trunk.user_agent, timeout, self.auth)
        return self.transfer.start()

    # -- ending ------------------------------------------------------------------------------------

    def _end(self, reason: EndReason) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        if self.transfer is not None:
            self.transfer.on_call_ended()
        self.dialog.terminate()
        self.session_timer.stop()
        self.rtp.stop(reason)
        self.endpoint.release(self.call_id, self.timers.d)

    def hangup(self, reason: EndReason = EndReason.ROBOT_HANGUP) -> asyncio.Future | None:
        """Send BYE (with one digest retry); returns the BYE's final-response future."""
        if self.ended is not None or not self.dialog.confirmed:
            self._end(reason)
            return self._bye_tx.final if self._bye_tx else None
        bye = self.dialog.request("BYE")
        bye.headers.set_single("User-Agent", self.trunk.user_agent)
        self._end(reason)
        self._bye_tx = self.dialog.start(bye)
        self._bye_tx.final.add_done_callback(self._on_bye_final)
        return self._bye_tx.final

    def _on_bye_final(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        response = future.result()
        self.end_code = response.status_code
        if response.status_code in (401, 407) and self.auth is not None and not self._bye_retried:
            self._bye_retried = True
            header = answer_challenge(self.auth, response, response.status_code, "BYE", self.dialog.remote_target)
            if header:
                bye = self.dialog.request("BYE")
                bye.headers.set_single(*header)
                self._bye_tx = self.dialog.start(bye)
