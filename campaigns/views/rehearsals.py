"""Rehearsal pages: start one (owners and managers), read its report and the script map (any member)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from campaigns.models import Rehearsal
from campaigns.services import rehearsals
from campaigns.views.access import can_write, member_campaign
from campaigns.views.script_map import script_map


@never_cache
@login_required
@require_safe
def rehearsal_report(request, campaign_id: int, rehearsal_id: int):
    campaign, role = member_campaign(request, campaign_id)
    rehearsal = get_object_or_404(Rehearsal.objects.filter(campaign=campaign), id=rehearsal_id)
    report = rehearsal.report or None
    return render(
        request,
        "dashboard/rehearsal.html",
        {
            "campaign": campaign,
            "rehearsal": rehearsal,
            "report": report,
            "finished_calls": rehearsal.rehearsal_calls.filter(status="ended").count(),
            "map": script_map(rehearsal.script, report),
            "can_write": can_write(role),
        },
    )


@login_required
@require_POST
def rehearse(request, campaign_id: int):
    campaign, role = member_campaign(request, campaign_id)
    if not can_write(role):
        raise PermissionDenied("Your role in this tenant is read-only.")
    try:
        calls = int(request.POST.get("calls", "20"))
        mix = rehearsals.parse_mix(request.POST.get("mix", "")) or None
        rehearsal = rehearsals.start_rehearsal(campaign, calls, mix, actor=request.user)
    except ValueError as exc:  # RehearsalError is one
        messages.error(request, f"Not started: {exc}")
        return redirect("campaign", campaign_id=campaign.id)
    except rehearsals.RehearsalBusy as exc:
        messages.error(request, str(exc))
        return redirect("campaign", campaign_id=campaign.id)
    messages.success(request, f"Rehearsal of {rehearsal.calls} calls started.")
    return redirect("campaign-rehearsal", campaign_id=campaign.id, rehearsal_id=rehearsal.id)
