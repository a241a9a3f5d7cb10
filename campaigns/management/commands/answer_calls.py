"""Answer calls to the campaigns' caller ids on one trunk (campaigns.services.inbound), until stopped.

    manage.py answer_calls --trunk 3                      # listen on 0.0.0.0-ish (the route to the trunk), port 5060
    manage.py answer_calls --trunk 3 --port 5062 --host 10.0.0.5

One process per trunk: INVITEs are taken only from the trunk's own address (others get 403), at most
`Trunk.max_inbound_calls` at once (and within its channel limit, shared with outbound calls in Redis), each in a
thread of this process. The trunk must send calls for the campaigns' numbers to this host and port.
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from campaigns.models import Trunk
from campaigns.services.inbound import take_call
from telephony.sip import SipInbound, TrunkConfig

log = logging.getLogger(__name__)


def _take(incoming, trunk_id: int) -> None:
    try:
        take_call(incoming, trunk_id)
    except Exception:
        log.exception("inbound call %s failed", incoming.call_id)
        incoming.reject(500, "Server Internal Error")
    finally:
        connection.close()  # this pool thread's own connection


class Command(BaseCommand):
    help = "Answer calls to the campaigns' caller ids on one SIP trunk."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--trunk", type=int, required=True, help="Trunk id.")
        parser.add_argument("--port", type=int, default=5060, help="Local SIP port (UDP or TCP, as the trunk).")
        parser.add_argument("--host", default="", help="Local address (default: the one routed to the trunk).")
        parser.add_argument("--calls", type=int, default=0, help="Stop after this many calls (0: never).")

    def handle(self, *args, trunk: int, port: int, host: str, calls: int, **options) -> None:
        row = Trunk.objects.filter(id=trunk).first()
        if row is None:
            raise CommandError(f"No trunk {trunk}.")
        try:
            sources = frozenset(info[4][0] for info in socket.getaddrinfo(row.host, row.port))
        except OSError as exc:
            raise CommandError(f"Trunk host {row.host!r} does not resolve: {exc}") from None
        config = TrunkConfig(
            host=row.host, port=row.port, transport=row.transport, caller_id=row.caller_id,
            local_host=host, local_port=port,
        )  # fmt: skip
        inbound = SipInbound(config, rtp_port_range=settings.RTP_PORT_RANGE, allowed_sources=sources)
        address = inbound.start()
        self.stdout.write(
            f"answering calls from {row.name} ({', '.join(sorted(sources))}) on {address[0]}:{address[1]}"
        )
        taken = 0
        with ThreadPoolExecutor(max_workers=max(1, row.max_inbound_calls) + 2, thread_name_prefix="inbound") as pool:
            try:
                while not calls or taken < calls:
                    incoming = inbound.next_call(timeout=1.0)
                    if incoming is not None:
                        pool.submit(_take, incoming, row.id)
                        taken += 1
            except KeyboardInterrupt:
                pass
            finally:
                inbound.stop()
        connection.close()
