"""Calling rules checked at the moment of dialling: daily windows in the callee's zones, do-not-call lists."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils.translation import gettext as _

from campaigns.models import Campaign, DoNotCall

# The lifecycle lives in campaigns.services.lifecycle; these names stay importable from here.
from campaigns.services.lifecycle import CampaignStateError, complete_if_done, start_campaign  # noqa: F401


class NoCallingWindow(ValueError):
    """The daily window never opens in all of a contact's zones at once."""


def _inside(campaign: Campaign, zone: str, moment: dt.datetime) -> bool:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone)).time()
    return campaign.window_start <= local < campaign.window_end


def calling_window_opens(campaign: Campaign, zones: list[str], now: dt.datetime) -> dt.datetime | None:
    """None when `now` is inside the daily window in every zone (the most restrictive wins); otherwise the next
    moment (UTC) when it is. Raises NoCallingWindow when the zones' windows never overlap."""
    if all(_inside(campaign, zone, now) for zone in zones):
        return None
    candidates = []
    for zone in zones:
        tz = zoneinfo.ZoneInfo(zone)
        today = now.astimezone(tz).date()
        for days in range(3):
            opening = dt.datetime.combine(today + dt.timedelta(days=days), campaign.window_start, tzinfo=tz)
            if opening > now:
                candidates.append(opening.astimezone(dt.UTC))
    for moment in sorted(candidates):
        if all(_inside(campaign, zone, moment) for zone in zones):
            return moment
    raise NoCallingWindow(
        _("The calling window %(window)s is never open in all of %(zones)s at once; set the contact's timezone.")
        % {"window": f"{campaign.window_start:%H:%M}-{campaign.window_end:%H:%M}", "zones": ", ".join(zones)}
    )


def is_blocked(tenant_id: int, phone: str) -> bool:
    """On the tenant's do-not-call list or the global one."""
    return DoNotCall.objects.blocking(tenant_id).filter(phone=phone).exists()


def add_to_do_not_call(tenant_id: int, phone: str, reason: str) -> None:
    DoNotCall.objects.get_or_create(tenant_id=tenant_id, phone=phone, defaults={"reason": reason})
