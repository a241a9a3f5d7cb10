"""A trunk that loses SIP messages: sipp answers as the callee (retransmitting its 200 OK and BYE, as a UAS must)
and hangs up, dropping a share of the packets it sends and receives (`-lost`). Retransmissions (RFC 3261 timers)
must carry every call to an end; each attempt is one dialog at the callee (its INVITE retransmitted, never a
second call), and no attempt is left dialling."""

import re

import pytest

from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.services import calls
from tests.factories import CallAttemptFactory, ContactFactory
from tests.integration.test_trunk_calls import trunk_attempt
from tests.support.sip.peers import start_sipp

ATTEMPTS = 6
LOST_PERCENT = "30"

# The call writes from its own threads, as in production: the rows must be committed, not in a test transaction.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _sip_settings(settings):
    settings.TELEPHONY_PROVIDER = "sip"
    settings.RING_TIMEOUT_SECONDS = 10


def test_calls_through_a_lossy_trunk_end_once_each(tenant, settings, tmp_path, peers):
    extra = ("-lost", LOST_PERCENT, "-timeout", "240s")
    peer, rtp_base = start_sipp(tmp_path, "callee_bye_lossy.xml", {"hangup_ms": "1500"}, calls=ATTEMPTS, extra=extra)
    peers.append(peer)
    first = trunk_attempt(tenant, settings, peer.sip_port, rtp_base)
    campaign = first.campaign
    Campaign.objects.filter(id=campaign.id).update(max_concurrent_calls=1)
    attempts = [first] + [
        CallAttemptFactory(contact=ContactFactory(campaign=campaign, phone=f"+1202555031{n}"), status="queued")
        for n in range(ATTEMPTS - 1)
    ]
    outcomes = [calls.place_call(attempt.id) for attempt in attempts]
    for attempt in attempts:
        calls.finalize_call(attempt.id)

    assert outcomes == ["ended"] * ATTEMPTS
    rows = list(CallAttempt.objects.filter(id__in=[a.id for a in attempts]))
    assert {row.status for row in rows} == {CallAttempt.Status.FINALIZED}
    for row in rows:  # answered and hung up, or a clear dial outcome (a 200 lost for good rings out): never a hang
        assert row.dial_status in ("answered", "no_answer", "failed"), (row.dial_status, row.sip_code, row.error)
        assert row.end_reason if row.dial_status == "answered" else row.dial_status != "failed" or row.error
    assert sum(row.dial_status == "answered" for row in rows) >= ATTEMPTS // 2, [(r.dial_status, r.error) for r in rows]
    assert set(Contact.objects.filter(campaign=campaign).values_list("status", flat=True)) == {Contact.Status.DONE}

    log = next(tmp_path.glob("callee_bye_lossy_*_messages.log")).read_text(errors="replace")
    requests = [
        (m.group(1), m.group(2), m.group(3))
        for m in re.finditer(
            r"^([A-Z]+) sip:[^\n]*\n(?:[^\n]+\n)*?Call-ID:\s*(\S+)\n(?:[^\n]+\n)*?CSeq:\s*([^\n]+)", log, re.M
        )
    ]
    invites = {call_id for method, call_id, _ in requests if method == "INVITE"}
    # At the callee: one dialog per attempt that reached it; retransmissions repeat a Call-ID, never add one.
    assert len(invites) <= ATTEMPTS
    # Losses show as a request sent again (same Call-ID and CSeq) or as a call that could not be completed.
    retransmitted = len(requests) - len(set(requests))
    incomplete = sum(row.dial_status != "answered" for row in rows)
    assert retransmitted or incomplete, "no message was lost: the test tested nothing"
