"""A transferred call as the dashboard and the API show it: target, time, status, SIP code; filterable by the
`transferred` disposition; nothing of it visible to another tenant."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from campaigns.models import CallAttempt, Disposition
from tests.campaigns.api_support import client_for, url
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory

AGENT = "sip:desk@pbx.example.com"


def transferred_call(tenant, status: str = "connected", disposition: str = Disposition.TRANSFERRED):
    answered = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    return CallAttemptFactory(
        contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)),
        status=CallAttempt.Status.FINALIZED,
        dial_status="answered",
        answered_at=answered,
        ended_at=answered + dt.timedelta(seconds=40),
        outcome="transferred" if status == "connected" else "callback_requested",
        disposition=disposition,
        transfer_target=AGENT,
        transferred_at=answered + dt.timedelta(seconds=12),
        transfer_status=status,
        analysis={"transfer": {"target": AGENT, "status": status, "sip_code": 486 if status == "busy" else 200,
                               "detail": "target answered 486 Busy Here" if status == "busy" else "", "mode": "cold"}},
    )  # fmt: skip


def test_api_lists_and_filters_transferred_calls(manager, tenant, outsider):
    connected = transferred_call(tenant)
    busy = transferred_call(tenant, "busy", Disposition.CALLBACK_REQUESTED)
    api = client_for(manager)
    body = api.get(url("call-list", tenant), {"disposition": "transferred"}).json()
    assert [row["id"] for row in body["results"]] == [connected.id]
    row = body["results"][0]
    assert (row["transfer_target"], row["transfer_status"]) == (AGENT, "connected")
    assert dt.datetime.fromisoformat(row["transferred_at"]) == connected.transferred_at
    detail = api.get(url("call-detail", tenant, busy.id)).json()
    assert (detail["transfer_status"], detail["analysis"]["transfer"]["sip_code"]) == ("busy", 486)
    # Another tenant's member sees neither call.
    assert client_for(outsider).get(url("call-detail", tenant, busy.id)).status_code in (403, 404)


def test_dashboard_shows_the_transfer(client, viewer, tenant):
    busy = transferred_call(tenant, "busy", Disposition.CALLBACK_REQUESTED)
    client.force_login(viewer)
    html = client.get(reverse("call", args=[busy.id])).content.decode()
    transfer = html.split('<p id="transfer">')[1].split("</p>")[0]
    assert AGENT in transfer and "busy" in transfer and "SIP 486" in transfer and "Busy Here" in transfer
    assert timezone.localtime(busy.transferred_at).strftime("%H:%M:%S") in transfer
    listing = client.get(reverse("calls", args=[busy.campaign_id])).content.decode()
    assert "transfer busy" in listing and f'title="transferred to {AGENT}"' in listing


def test_an_inbound_call_from_a_stranger_is_listed_shown_and_reported(client, manager, viewer, tenant):
    from campaigns.services.webhooks import call_payload

    campaign = CampaignFactory(tenant=tenant)
    stranger = CallAttemptFactory(
        campaign=campaign, contact=None, tenant=tenant, direction="inbound", caller="", outcome="completed",
        status=CallAttempt.Status.FINALIZED, disposition=Disposition.COMPLETED, dial_status="answered",
    )  # fmt: skip
    rows = client_for(manager).get(url("call-list", tenant)).json()["results"]
    assert [(r["id"], r["direction"], r["caller"], r["contact"]) for r in rows] == [(stranger.id, "inbound", "", None)]
    client.force_login(viewer)
    page = client.get(reverse("call", args=[stranger.id])).content.decode()
    assert "Call from a withheld number" in page
    listing = client.get(reverse("calls", args=[campaign.id])).content.decode()
    assert "withheld" in listing and "(called in)" in listing
    payload = call_payload(stranger)["call"]
    assert (payload["direction"], payload["contact"]) == ("inbound", None)
