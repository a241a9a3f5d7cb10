"""The call list at scale: its date filter is a range of instants in the active time zone (sargable, same days as
before at the edges: midnight, DST changes, never-dialled attempts), and its pages count only as far as needed."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors
from campaigns.models import CallAttempt
from campaigns.views import paging
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory, TurnFactory

UTC = dt.UTC


def dialled(campaign, when: dt.datetime, **fields) -> CallAttempt:
    return CallAttemptFactory(contact=ContactFactory(campaign=campaign), dialed_at=when, **fields)


def ids(calls) -> set[int]:
    return {a.id for a in calls}


@pytest.mark.django_db
def test_days_are_the_active_zones_days(tenant, outsider_tenant):
    campaign = CampaignFactory(tenant=tenant)
    # New York in March 2026 before the DST change (8 March): UTC-5, so its 2 March is 05:00Z on 2 March to 05:00Z
    # on 3 March.
    late_evening = dialled(campaign, dt.datetime(2026, 3, 3, 4, 59, 59, tzinfo=UTC))  # 2 March, 23:59:59 local
    midnight = dialled(campaign, dt.datetime(2026, 3, 3, 5, 0, tzinfo=UTC))  # 3 March, 00:00 local
    first = dialled(campaign, dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC))  # 2 March, 00:00 local
    before = dialled(campaign, dt.datetime(2026, 3, 2, 4, 59, 59, tzinfo=UTC))  # 1 March local
    never = CallAttemptFactory(contact=ContactFactory(campaign=campaign), status=CallAttempt.Status.QUEUED)
    CallAttempt.objects.filter(id=never.id).update(created_at=dt.datetime(2026, 3, 2, 12, tzinfo=UTC))
    # Same day, elsewhere: another campaign of the tenant and another tenant.
    dialled(CampaignFactory(tenant=tenant), dt.datetime(2026, 3, 2, 12, tzinfo=UTC))
    dialled(CampaignFactory(tenant=outsider_tenant), dt.datetime(2026, 3, 2, 12, tzinfo=UTC))
    # Queued on the 2nd, dialled on the 3rd: the 3rd's. Dialled a moment before it was created (dialed_at is on
    # Redis's clock, created_at on the dispatcher's): still the day it was dialled.
    crossing = dialled(campaign, dt.datetime(2026, 3, 3, 5, 0, 10, tzinfo=UTC))
    skewed = dialled(campaign, dt.datetime(2026, 3, 3, 4, 59, 59, 900_000, tzinfo=UTC))
    CallAttempt.objects.filter(id=crossing.id).update(created_at=dt.datetime(2026, 3, 3, 4, 59, 30, tzinfo=UTC))
    CallAttempt.objects.filter(id=skewed.id).update(created_at=dt.datetime(2026, 3, 3, 5, 0, 0, 500_000, tzinfo=UTC))
    day = dt.date(2026, 3, 2)
    with timezone.override("America/New_York"):
        on_day = selectors.campaign_calls(campaign, date_from=day, date_to=day)
        assert ids(on_day) == {first.id, late_evening.id, never.id, skewed.id}
        third = {midnight.id, crossing.id}
        assert ids(selectors.campaign_calls(campaign, date_from=dt.date(2026, 3, 3))) == third
        assert (
            ids(selectors.campaign_calls(campaign, date_from=dt.date(2026, 3, 3), date_to=dt.date(2026, 3, 3))) == third
        )
        assert ids(selectors.campaign_calls(campaign, date_to=dt.date(2026, 3, 1))) == {before.id}
    with timezone.override("UTC"):  # the same calls on UTC days
        assert ids(selectors.campaign_calls(campaign, date_from=day, date_to=day)) == {first.id, before.id, never.id}
        later = selectors.campaign_calls(campaign, date_from=dt.date(2026, 3, 3))
        # Newest first by when the call happened (the creation order differs: `crossing` was created first).
        assert [a.id for a in later] == [crossing.id, midnight.id, skewed.id, late_evening.id]


@pytest.mark.django_db
def test_days_across_dst_changes(tenant):
    """Santiago skips its midnight on 6 September 2026 (00:00 -04 becomes 01:00 -03) and repeats the hour before
    midnight on 5 April 2026 (00:00 -03 becomes 23:00 -04 of the 4th): days still end where the local date does."""
    campaign = CampaignFactory(tenant=tenant)
    zone = "America/Santiago"
    skipped_first = dialled(campaign, dt.datetime(2026, 9, 6, 4, 0, tzinfo=UTC))  # 6 Sept, 01:00 -03
    skipped_last = dialled(campaign, dt.datetime(2026, 9, 6, 3, 59, 59, tzinfo=UTC))  # 5 Sept, 23:59:59 -04
    repeated = dialled(campaign, dt.datetime(2026, 4, 5, 3, 30, tzinfo=UTC))  # 4 April, 23:30 -04 (second time)
    after = dialled(campaign, dt.datetime(2026, 4, 5, 4, 0, tzinfo=UTC))  # 5 April, 00:00 -04
    with timezone.override(zone):
        assert selectors.day_start(dt.date(2026, 9, 6)) == dt.datetime(2026, 9, 6, 4, tzinfo=UTC)
        sept_6 = dt.date(2026, 9, 6)
        assert ids(selectors.campaign_calls(campaign, date_from=sept_6, date_to=sept_6)) == {skipped_first.id}
        sept_5 = dt.date(2026, 9, 5)
        assert ids(selectors.campaign_calls(campaign, date_from=sept_5, date_to=sept_5)) == {skipped_last.id}
        april_4 = dt.date(2026, 4, 4)
        assert ids(selectors.campaign_calls(campaign, date_from=april_4, date_to=april_4)) == {repeated.id}
        assert ids(selectors.campaign_calls(campaign, date_from=dt.date(2026, 4, 5))) == {after.id, skipped_first.id,
                                                                                          skipped_last.id}  # fmt: skip
    # The same answer as PostgreSQL's own date of each call in that zone (the filter's previous form).
    with timezone.override(zone):
        for day in (sept_5, sept_6, april_4):
            by_cast = CallAttempt.objects.filter(campaign=campaign, dialed_at__date=day)
            assert ids(selectors.campaign_calls(campaign, date_from=day, date_to=day)) == ids(by_cast)


@pytest.mark.django_db
def test_capped_count_pages_on_past_the_cap(tenant):
    campaign = CampaignFactory(tenant=tenant)
    for _ in range(10):
        dialled(campaign, dt.datetime(2026, 3, 2, tzinfo=UTC))
    calls = selectors.campaign_calls(campaign)
    first = paging.CappedPaginator(calls, 2, None, cap=3)
    page = first.get_page(None)
    assert first.capped and first.count == 4 and page.has_next() and len(page) == 2
    fourth = paging.CappedPaginator(calls, 2, "4", cap=3)  # counts to the end of page 4, plus one
    assert fourth.capped and fourth.count == 9 and fourth.get_page("4").has_next()
    last = paging.CappedPaginator(calls, 2, "5", cap=3)
    page = last.get_page("5")
    assert not last.capped and last.count == 10 and not page.has_next() and len(page) == 2
    exact = paging.CappedPaginator(calls, 2, None, cap=10)
    assert not exact.capped and exact.count == 10 and exact.num_pages == 5


def test_call_list_says_more_than_the_cap(client, viewer, tenant, outsider_tenant, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 20)
    campaign = CampaignFactory(tenant=tenant)
    heard = [dialled(campaign, dt.datetime(2026, 3, 2, tzinfo=UTC)) for _ in range(53)]
    for attempt in heard:
        TurnFactory(attempt=attempt, speaker="callee", intent="affirm")
    dialled(campaign, dt.datetime(2026, 3, 2, tzinfo=UTC))  # heard nothing
    other = dialled(CampaignFactory(tenant=outsider_tenant), dt.datetime(2026, 3, 2, tzinfo=UTC))
    TurnFactory(attempt=other, speaker="callee", intent="affirm")
    client.force_login(viewer)
    url = reverse("calls", args=[campaign.id])
    first = client.get(url, {"intent": "affirm"})
    html = first.content.decode()
    # Counted to the end of page 1 (past the cap of 20), plus one: more.
    assert "More than 50 calls" in html and "?intent=affirm&amp;page=2" in html and "Page 1<" in html
    assert len(first.context["page"]) == 50
    second = client.get(url, {"intent": "affirm", "page": 2})  # counted to its end: exact again
    assert "53 calls" in second.content.decode() and "Page 2 of 2" in second.content.decode()
    listed = ids(first.context["page"]) | ids(second.context["page"])
    assert listed == ids(heard)
