"""RFC 4028 session timers for an answered call: keep the session alive with re-INVITEs, or watch the peer do it.

The 2xx's Session-Expires gives the interval and who refreshes. When we do, a re-INVITE with the unchanged SDP
goes out at half the interval (its 2xx gets its own ACK); when the peer does, its re-INVITE or UPDATE re-arms
the timer, and none before the deadline hangs the call up (a dead call is not billed on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiosipua import SipResponse

from telephony.interface import EndReason
from telephony.sip.dialog import CallDialog
from telephony.sip.endpoint import ALLOW
from telephony.sip.transaction import ClientTransaction

log = logging.getLogger(__name__)


class SessionTimer:
    """Armed by `arm()` with the 2xx; `local_sdp()` gives the SDP to refresh with, `hangup(reason)` ends the call.
    `stop()` when the call ends."""

    def __init__(
        self,
        dialog: CallDialog,
        user_agent: str,
        local_sdp: Callable[[], str],
        hangup: Callable[[EndReason], object],
    ) -> None:
        self.dialog = dialog
        self.user_agent = user_agent
        self.local_sdp = local_sdp
        self.hangup = hangup
        self.interval = 0
        self.we_refresh = True
        self.refreshes = 0
        self._headers: dict[str, str] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def arm(self, response: SipResponse, headers: dict[str, str]) -> None:
        """Honour Session-Expires from the 2xx: refresh with a re-INVITE (carrying `headers`, the credentials)
        at half the interval when we are the refresher, else expect the peer's refresh."""
        raw = response.get_header("session-expires") or ""
        if not raw:
            return
        value, _, params = raw.partition(";")
        try:
            interval = int(value.strip())
        except ValueError:
            return
        self.interval = interval
        self.we_refresh = "refresher=uas" not in params.replace(" ", "").lower()
        self._headers = dict(headers)
        self._schedule()

    def refreshed_by_peer(self) -> None:
        """The peer's re-INVITE or UPDATE: when it is the refresher, the session lasts another interval."""
        if self._timer is not None and not self.we_refresh:
            self._schedule()

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        interval = self.interval
        loop = asyncio.get_running_loop()
        if self.we_refresh:
            self._timer = loop.call_later(interval / 2, self._send_refresh)
        else:
            self._timer = loop.call_later(interval - min(32, interval / 3), self._on_expired)

    def _on_expired(self) -> None:
        log.warning("SIP call %s: session expired without refresh", self.dialog.call_id)
        self.hangup(EndReason.TIMEOUT)

    def _send_refresh(self) -> None:
        """Session refresh: a re-INVITE with the unchanged SDP; its 2xx gets its own ACK."""
        if self._stopped:
            return
        reinvite = self.dialog.request("INVITE")
        reinvite.headers.set_single("Contact", self.dialog.contact)
        reinvite.headers.set_single("Allow", ALLOW)
        reinvite.headers.set_single("User-Agent", self.user_agent)
        reinvite.headers.set_single("Supported", "timer")
        reinvite.headers.set_single("Session-Expires", f"{self.interval};refresher=uac")
        for name, value in self._headers.items():
            reinvite.headers.set_single(name, value)
        reinvite.headers.set_single("Content-Type", "application/sdp")
        reinvite.text = self.local_sdp()
        tx = self.dialog.start(reinvite)
        tx.final.add_done_callback(lambda future: self._on_refresh_final(tx, future))
        self.refreshes += 1

    def _on_refresh_final(self, tx: ClientTransaction, future: asyncio.Future) -> None:
        if self._stopped:
            return
        response = None if future.cancelled() or future.exception() else future.result()
        if response is None or response.status_code in (408, 481):  # the dialog is gone (RFC 3261 14.1)
            self.hangup(EndReason.TIMEOUT if response is None else EndReason.CALLEE_HANGUP)
            return
        if 200 <= response.status_code < 300:
            self.dialog.ack(tx.request.cseq.seq)
        self._schedule()  # a 491/488 keeps the session; try again next interval
