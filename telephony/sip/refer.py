"""Cold transfer (RFC 3515 REFER, RFC 5589): ask the callee's side to call the target, and follow its progress.

The REFER goes inside the call's dialog with `Refer-To` (the target) and `Referred-By` (us). The far end answers
202 Accepted (or refuses: 403, 405, 501...) and then reports how its call to the target goes in NOTIFYs of the
implicit `refer` subscription, each carrying a `message/sipfrag` status line ("SIP/2.0 180 Ringing", then a final
"SIP/2.0 200 OK" or "SIP/2.0 486 Busy Here"). The final one decides the outcome; a final report that never comes
within the timeout is NO_REPORT. The call itself stays up meanwhile: on anything but CONNECTED the robot takes
the callee back.

`outcome` is written on the SIP loop and read by the conversation's thread (a single attribute: atomic).
"""

from __future__ import annotations

import asyncio
import re

from aiosipua import SipRequest, SipResponse
from aiosipua.auth import SipDigestAuth

from telephony.interface import TransferResult, TransferStatus
from telephony.sip.dialog import CallDialog
from telephony.sip.endpoint import answer_digest

_SIPFRAG_STATUS = re.compile(r"^SIP/2\.0\s+(\d{3})\s*(.*)$", re.MULTILINE)


def refer_target(target: str, domain: str) -> str:
    """The Refer-To URI: a sip:/sips:/tel: URI as given, a number on the trunk's domain otherwise."""
    if re.match(r"^(sips?|tel):", target, re.IGNORECASE):
        return target
    return f"sip:{target}@{domain}"


def target_status(code: int) -> TransferStatus:
    """The target's final response (as the far end reports it in a sipfrag) -> how the transfer ended; the same
    reading as our own dials (telephony.sip.leg.dial_status), a 487 being the far end giving up ringing."""
    if 200 <= code < 300:
        return TransferStatus.CONNECTED
    if code in (486, 600):
        return TransferStatus.BUSY
    if code in (408, 480, 487):
        return TransferStatus.NO_ANSWER
    return TransferStatus.FAILED


class ReferTransfer:
    """One REFER and its subscription. Feed it the dialog's NOTIFYs with `on_notify`."""

    def __init__(
        self,
        dialog: CallDialog,
        refer_to: str,
        referred_by: str,
        user_agent: str,
        timeout: float,
        auth: SipDigestAuth | None = None,
    ) -> None:
        self.dialog = dialog
        self.refer_to = refer_to
        self.referred_by = referred_by
        self.user_agent = user_agent
        self.timeout = timeout
        self.auth = auth
        self.accepted_code: int | None = None  # 202 (or 200) once the far end took the REFER
        self.progress: list[int] = []  # every sipfrag status reported, in order
        self.outcome: TransferResult | None = None
        self._challenged: set[str] = set()
        self._deadline: asyncio.TimerHandle | None = None

    def result(self) -> TransferResult | None:
        return self.outcome

    def start(self, auth_header: tuple[str, str] | None = None) -> ReferTransfer:
        refer = self.dialog.request("REFER")
        refer.headers.set_single("Refer-To", f"<{self.refer_to}>")
        refer.headers.set_single("Referred-By", f"<{self.referred_by}>")
        refer.headers.set_single("Contact", self.dialog.contact)
        refer.headers.set_single("User-Agent", self.user_agent)
        if auth_header is not None:
            refer.headers.set_single(*auth_header)
        tx = self.dialog.start(refer)
        tx.final.add_done_callback(self._on_refer_final)
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().call_later(self.timeout, self._on_timeout)
        return self

    def _on_refer_final(self, future: asyncio.Future) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:  # Timer F: the REFER was never answered
            self._finish(TransferStatus.NO_REPORT, None, "no response to REFER")
            return
        response: SipResponse = future.result()
        code = response.status_code
        if 200 <= code < 300:
            self.accepted_code = code
            return
        if code in (401, 407) and self.auth is not None:
            header = answer_digest(self.auth, response, "REFER", self.dialog.remote_target, self._challenged)
            if header is not None:
                self.start(header)
                return
        self._finish(TransferStatus.REFUSED, code, f"REFER refused: {code} {response.reason_phrase}")

    def on_notify(self, request: SipRequest) -> bool:
        """A NOTIFY of the refer subscription (True: handled here, the caller answers it 200)."""
        event = (request.get_header("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return False
        match = _SIPFRAG_STATUS.search(request.text or "")
        state = (request.get_header("Subscription-State") or "").split(";")[0].strip().lower()
        if match:
            code = int(match.group(1))
            self.progress.append(code)
            if code >= 200:
                status = target_status(code)
                self._finish(status, code, f"target answered {code} {match.group(2).strip()}".strip())
                return True
        if state == "terminated":
            self._finish(TransferStatus.NO_REPORT, None, "subscription ended without a final report")
        return True

    def on_call_ended(self) -> None:
        """The call ended while the transfer was under way. After a 202 the far end hanging up is how many
        phones leave once the target answered, but nobody said so: NO_REPORT, with what was seen."""
        if self.outcome is None:
            seen = f"; last report {self.progress[-1]}" if self.progress else ""
            accepted = "after accepting the transfer" if self.accepted_code else "before answering the REFER"
            self._finish(TransferStatus.NO_REPORT, None, f"call ended {accepted}{seen}")

    def _on_timeout(self) -> None:
        seen = f" (last report {self.progress[-1]})" if self.progress else ""
        what = "no final NOTIFY" if self.accepted_code else "no answer to REFER"
        self._finish(TransferStatus.NO_REPORT, None, f"{what} within {self.timeout:g} s{seen}")

    def _finish(self, status: TransferStatus, code: int | None, detail: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = TransferResult(status, code, detail)
        if self._deadline is not None:
            self._deadline.cancel()
