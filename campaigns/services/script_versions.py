"""Script versions: a campaign's script is recorded as version 1 when the campaign starts, and as a new version
whenever it is edited after that (admin, API); a dialled attempt points at the version its call ran, so results
can be compared before and after an edit. Drafts are edited freely without versions."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from campaigns.models import Campaign, ScriptVersion


def current_version(campaign: Campaign, actor=None) -> ScriptVersion:
    """The version holding the campaign's script as it is now, recorded if it is new (concurrent callers agree:
    the (campaign, number) constraint lets one insert win and the other read it)."""
    for _ in range(3):
        latest = ScriptVersion.objects.filter(campaign_id=campaign.id).order_by("-number").first()
        if latest is not None and latest.script == campaign.script:
            return latest
        try:
            with transaction.atomic():
                return ScriptVersion.objects.create(
                    tenant_id=campaign.tenant_id,
                    campaign_id=campaign.id,
                    number=(latest.number if latest else 0) + 1,
                    script=campaign.script,
                    created_by=actor if getattr(actor, "is_authenticated", False) else None,
                )
        except IntegrityError:
            continue  # someone recorded a version meanwhile: compare with theirs
    raise RuntimeError(f"campaign {campaign.id}: script version keeps changing")


def record_edit(campaign: Campaign, actor=None) -> ScriptVersion | None:
    """After a campaign is saved: a started campaign's edited script becomes a new version."""
    if campaign.status == Campaign.Status.DRAFT:
        return None
    return current_version(campaign, actor)
