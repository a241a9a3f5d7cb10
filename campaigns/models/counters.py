"""Per-campaign counters that the campaign report, the dashboard's progress and /metrics read instead of counting
a campaign's rows at each view (a million attempts and ten million turns take seconds to count).

PostgreSQL triggers keep them (migration 0011): every statement that inserts, updates or deletes contacts, call
attempts or turns appends, in the same transaction, one `CampaignCounterDelta` row per counter it moved (a COPY of
10,000 contacts appends a few rows, not 10,000). Appending never waits on another transaction, so counters add no
lock contention to the dialler; `campaigns.counters.fold` periodically moves the deltas into `CampaignCounter`
(one row per campaign and counter). A read is the sum of both, so it is exact at every moment whatever the folding.
No code path can forget them (bulk updates, COPY and raw SQL included); `manage.py rebuild_counters` recounts
them from the rows anyway.

Counter names (`campaigns.counters` reads them):
    contacts:<status>                  contacts by status
    contacts_dialled                   contacts with attempts_made > 0
    contact_attempts_made              sum of attempts_made
    attempts:<status>:<disposition>    attempts by status and disposition ("" when none yet)
    dialled, answered, completed       attempts dialled / answered / answered and ended by the robot (script end)
    talk_ms_sum, talk_ms_count         talk time of answered attempts that have one
    dialled_hour:<YYYY-MM-DDTHH>       attempts dialled in that UTC hour
    turn_latency_ms:<ms>, asr_latency_ms:<ms>   turns with that latency: exact histograms, so percentiles are exact
    confidence_count, confidence_micros         callee turns with a confidence, and the sum in millionths

The campaign and tenant are plain columns (no foreign key constraint): deleting a campaign deletes its rows first,
whose triggers append the opposite deltas, so its counters read zero at once; the next fold drops them.
"""

from __future__ import annotations

from django.db import models

from campaigns.models.campaign import Campaign
from campaigns.models.tenancy import Tenant, TenantQuerySet


class CampaignCounter(models.Model):
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    campaign = models.ForeignKey(  # indexed by the unique (campaign, name)
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    name = models.CharField(max_length=80)
    value = models.BigIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="one_counter_per_name")]
        # /metrics sums some counters over every campaign by name prefix (LIKE 'attempts:%').
        indexes = [models.Index(fields=["name"], name="counter_name_idx", opclasses=["varchar_pattern_ops"])]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.name}={self.value}"


class CampaignCounterDelta(models.Model):
    """A change to a counter not yet folded into CampaignCounter (appended by the triggers)."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    name = models.CharField(max_length=80)
    value = models.BigIntegerField()

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.name}{self.value:+d}"
