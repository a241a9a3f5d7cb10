"""Per-campaign counters kept by PostgreSQL triggers: every kind of write moves them (ORM, bulk update, COPY import,
delete), folding keeps them, rebuild repairs them, the check finds a difference, reads stay within the tenant."""

import random

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Q

from campaigns import counters, selectors
from campaigns.models import CallAttempt, CampaignCounter, CampaignCounterDelta, Contact, Turn
from campaigns.services.imports import import_contacts
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory, TurnFactory

pytestmark = pytest.mark.django_db


def nonzero(campaign) -> dict[str, int]:
    return {k: v for k, v in counters.counts(campaign.tenant_id, campaign.id).values.items() if v}


def test_every_kind_of_write_moves_the_counters(tenant):
    campaign = CampaignFactory(tenant=tenant)
    report = import_contacts(campaign, b"phone,timezone\n+12025550101,America/New_York\n+12025550102,UTC\nbad,UTC\n")
    assert report.created == 2  # COPY: one statement, counted once per row
    assert counters.counts(tenant.id, campaign.id).contacts_by_status() == {"pending": 2}
    first, second = Contact.objects.filter(campaign=campaign).order_by("id")
    attempt = CallAttemptFactory(contact=first)
    Contact.objects.filter(campaign=campaign).update(status=Contact.Status.QUEUED)  # bulk update
    c = counters.counts(tenant.id, campaign.id)
    assert c.contacts_by_status() == {"queued": 2} and c.attempts_by() == {("queued", ""): 1}
    finalized = {"status": "finalized", "disposition": "busy", "dialed_at": attempt.created_at}
    CallAttempt.objects.filter(id=attempt.id).update(**finalized)
    c = counters.counts(tenant.id, campaign.id)
    assert c.attempts_by() == {("finalized", "busy"): 1} and c.get("dialled") == 1 and len(c.dialled_hours()) == 1
    deltas = CampaignCounterDelta.objects.count()
    CallAttempt.objects.filter(id=attempt.id).update(worker="someone")  # a column no counter reads: no delta
    assert CampaignCounterDelta.objects.count() == deltas
    second.delete()
    assert counters.counts(tenant.id, campaign.id).contacts_by_status() == {"queued": 1}
    assert counters.mismatches([campaign.id]) == {}


def test_folding_moves_deltas_without_changing_a_figure(tenant):
    campaign = CampaignFactory(tenant=tenant)
    for n in range(3):
        CallAttemptFactory(contact=ContactFactory(campaign=campaign, phone=f"+1202555011{n}"), status="dialing")
    before = nonzero(campaign)
    assert CampaignCounterDelta.objects.filter(campaign_id=campaign.id).exists()
    assert counters.fold() > 0
    assert not CampaignCounterDelta.objects.exists()
    assert nonzero(campaign) == before
    CallAttempt.objects.filter(campaign=campaign).update(status="ended")  # deltas on top of folded counters
    assert counters.counts(tenant.id, campaign.id).attempts_by() == {("ended", ""): 3}


def test_rebuild_repairs_and_the_check_reports_a_wrong_counter(tenant):
    campaign = CampaignFactory(tenant=tenant)
    ContactFactory(campaign=campaign, attempts_made=2)
    counters.fold()
    CampaignCounter.objects.filter(campaign_id=campaign.id, name="contacts:pending").update(value=41)  # damage
    assert counters.mismatches([campaign.id]) == {campaign.id: {"contacts:pending": (41, 1)}}
    with pytest.raises(CommandError, match="differ"):
        call_command("rebuild_counters", "--check")
    call_command("rebuild_counters", "--campaign", str(campaign.id))
    assert nonzero(campaign) == {"contacts:pending": 1, "contacts_dialled": 1, "contact_attempts_made": 2}
    call_command("rebuild_counters", "--check")


def test_deleting_a_campaign_drops_its_counters(tenant):
    campaign = CampaignFactory(tenant=tenant)
    TurnFactory(attempt=CallAttemptFactory(contact=ContactFactory(campaign=campaign)), response_latency_ms=300)
    counters.fold()
    CallAttemptFactory(contact=ContactFactory(campaign=campaign, phone="+12025550199"))  # an unfolded delta too
    campaign_id = campaign.id
    campaign.delete()
    left = counters.counts(tenant.id, campaign_id).values
    assert left and not any(left.values())  # its rows' deletions cancelled every counter at once
    counters.fold()
    assert not CampaignCounter.objects.filter(campaign_id=campaign_id).exists()
    assert not CampaignCounterDelta.objects.filter(campaign_id=campaign_id).exists()


def test_counters_are_read_within_the_tenant(tenant, outsider_tenant):
    theirs = CampaignFactory(tenant=outsider_tenant)
    ContactFactory(campaign=theirs)
    assert counters.counts(outsider_tenant.id, theirs.id).contacts_by_status() == {"pending": 1}
    assert counters.counts(tenant.id, theirs.id).values == {}  # another tenant's id reads nothing


def test_percentiles_from_histograms_equal_postgresql(tenant):
    campaign = CampaignFactory(tenant=tenant)
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=campaign))
    rng = random.Random(7)
    Turn.objects.bulk_create(
        Turn(tenant=tenant, attempt=attempt, index=i, speaker="robot", start_ms=0, end_ms=1,
             response_latency_ms=rng.choice([None, rng.randint(50, 3000), 400]))
        for i in range(300)
    )  # fmt: skip
    histogram = counters.counts(tenant.id, campaign.id).histogram("turn_latency_ms:")
    present = Q(response_latency_ms__isnull=False)
    for fraction in (0, 0.01, 0.25, 0.5, 0.9, 0.99, 1):
        expected = Turn.objects.filter(attempt=attempt).aggregate(
            p=selectors.Percentile("response_latency_ms", fraction, filter=present)
        )["p"]
        assert counters.percentile(histogram, fraction) == pytest.approx(expected, abs=1e-9)
    assert counters.percentile([], 0.5) is None


def test_campaign_report_reads_a_constant_number_of_queries(tenant, django_assert_max_num_queries):
    campaign = CampaignFactory(tenant=tenant)
    for n in range(20):
        CallAttemptFactory(contact=ContactFactory(campaign=campaign, phone=f"+120255502{n:02d}"))
    with django_assert_max_num_queries(2), connection.execute_wrapper(_no_scan_of("campaigns_callattempt")):
        selectors.campaign_stats(campaign)
    with django_assert_max_num_queries(1):
        selectors.campaign_progress(campaign)


def _no_scan_of(table: str):
    """Only the first/last dial (a MIN/MAX through an index) may read the attempts."""

    def check(execute, sql, params, many, context):
        if table in sql:
            assert "MIN(" in sql.upper() and "dialed_at" in sql, sql
        return execute(sql, params, many, context)

    return check
