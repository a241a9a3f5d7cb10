"""Dashboard pages. Every lookup is limited to the signed-in user's tenants (404 otherwise); see access.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from campaigns import counters, recordings, selectors
from campaigns.models import Campaign, Disposition, Rehearsal
from campaigns.services import lifecycle as services
from campaigns.views.access import can_write, member_attempt, member_campaign
from campaigns.views.charts import disposition_bars, hourly_bars
from campaigns.views.paging import CappedPaginator
from campaigns.views.report import report_cards
from campaigns.views.script_map import script_map
from pipeline.script import ScriptError, validate_script

CALLS_PER_PAGE = 50
S = Campaign.Status

# Lifecycle buttons: action -> (service, statuses it applies to, button label, message on success).
LIFECYCLE = {
    "start": (services.start_campaign, {S.DRAFT, S.SCHEDULED}, _("Start"), "started"),
    "pause": (services.pause_campaign, {S.RUNNING}, _("Pause"), "paused"),
    "resume": (services.resume_campaign, {S.PAUSED}, _("Resume"), "resumed"),
    "cancel": (services.cancel_campaign, {S.DRAFT, S.SCHEDULED, S.RUNNING, S.PAUSED}, _("Cancel"), "cancelled"),
}
ACTIVE = {S.SCHEDULED, S.RUNNING, S.PAUSED}


def _progress_json(campaign: Campaign, progress: selectors.Progress) -> dict:
    return {
        "id": campaign.id,
        "status": campaign.status,
        "active": campaign.status in ACTIVE,
        "percent": progress.percent,
        "contacts": progress.contacts,
        "contacts_done": progress.contacts_done,
        "attempts": progress.attempts,
        "finished": progress.finished,
        "by_disposition": progress.by_disposition,
    }


def _user_campaigns(request):
    tenants = selectors.tenants_for_user(request.user)
    return list(selectors.campaigns_for(tenants).select_related("tenant").order_by("-created_at", "-id"))


@never_cache  # tenant data: private, never stored by a browser or proxy
@login_required
@require_safe
def home(request):
    campaigns = _user_campaigns(request)
    progress = selectors.progress_for_campaigns(campaigns)
    rows = [(c, progress[c.id]) for c in campaigns]
    return render(request, "dashboard/home.html", {"rows": rows})


@never_cache
@login_required
@require_safe
def progress_json(request):
    """Progress of every campaign the user can see: the home page polls this."""
    campaigns = _user_campaigns(request)
    progress = selectors.progress_for_campaigns(campaigns)
    return JsonResponse({"campaigns": [_progress_json(c, progress[c.id]) for c in campaigns]})


@never_cache
@login_required
@require_safe
def campaign_progress_json(request, campaign_id: int):
    campaign, _ = member_campaign(request, campaign_id)
    return JsonResponse({"campaigns": [_progress_json(campaign, selectors.campaign_progress(campaign))]})


@never_cache
@login_required
@require_safe
def campaign_detail(request, campaign_id: int):
    campaign, role = member_campaign(request, campaign_id)
    read = counters.counts(campaign.tenant_id, campaign.id)  # once, for the progress, the hours and the figures
    progress = selectors.campaign_progress(campaign, read)
    hours = selectors.calls_per_hour(campaign, read=read)
    peak_hour = max((n for _, n in hours), default=0)
    bars = disposition_bars(progress.by_disposition)
    actions = [(name, label) for name, (_, statuses, label, _) in LIFECYCLE.items() if campaign.status in statuses]
    recent = list(Rehearsal.objects.filter(campaign=campaign).order_by("-id")[:5])
    last_done = next((r for r in recent if r.status == Rehearsal.Status.DONE), None)
    return render(
        request,
        "dashboard/campaign.html",
        {
            "campaign": campaign,
            "role": role,
            "progress": progress,
            "cards": report_cards(selectors.campaign_stats(campaign, read), progress, peak_hour),
            "disposition_bars": bars,
            "hour_bars": hourly_bars(hours),
            "peak_hour": peak_hour,
            "latest_calls": selectors.campaign_calls(campaign)[:10],
            "actions": actions if can_write(role) else [],
            "can_write": can_write(role),
            "rehearsals": recent,
            "map": _map_of(campaign, last_done),
            "map_rehearsal": last_done,
            "rehearsal_max": settings.REHEARSAL_MAX_CALLS,
        },
    )


def _map_of(campaign: Campaign, rehearsal: Rehearsal | None):
    """The campaign's script drawn, with the counts of its last finished rehearsal if it is the same script."""
    try:
        validate_script(campaign.script)
    except ScriptError:
        return None
    same = rehearsal is not None and rehearsal.script == campaign.script
    return script_map(campaign.script, rehearsal.report if same else None)


@login_required
@require_POST
def campaign_lifecycle(request, campaign_id: int, action: str):
    """Start, pause, resume or cancel: owners and managers only (a viewer gets 403), as the signed-in user."""
    campaign, role = member_campaign(request, campaign_id)
    if action not in LIFECYCLE:
        raise Http404("No such action")
    if not can_write(role):
        raise PermissionDenied("Your role in this tenant is read-only.")
    service, _, _, done = LIFECYCLE[action]
    try:
        service(campaign, actor=request.user)
    except (services.CampaignStateError, ScriptError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{campaign.name}: {done}.")
    return redirect("campaign", campaign_id=campaign.id)


class CallFilter(forms.Form):
    disposition = forms.ChoiceField(required=False)
    date_from = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    intent = forms.ChoiceField(required=False)

    def __init__(self, data, intents: list[str]):
        super().__init__(data)
        self.fields["disposition"].choices = [("", "any"), *Disposition.choices]
        self.fields["intent"].choices = [("", "any"), *((i, i) for i in intents)]


@never_cache
@login_required
@require_safe
def call_list(request, campaign_id: int):
    campaign, _ = member_campaign(request, campaign_id)
    form = CallFilter(request.GET, selectors.campaign_intents(campaign))
    filters = form.cleaned_data if form.is_valid() else {}
    calls = selectors.campaign_calls(
        campaign,
        disposition=filters.get("disposition", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        intent=filters.get("intent", ""),
    )
    number = request.GET.get("page")
    page = CappedPaginator(calls, CALLS_PER_PAGE, number).get_page(number)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboard/calls.html",
        {"campaign": campaign, "form": form, "page": page, "query": query.urlencode()},
    )


@never_cache
@login_required
@require_safe
def call_detail(request, attempt_id: int):
    attempt = member_attempt(request, attempt_id)
    turns = [
        (turn, attempt.answered_at + dt.timedelta(milliseconds=turn.start_ms) if attempt.answered_at else None)
        for turn in attempt.turns.all()
    ]
    return render(request, "dashboard/call.html", {"attempt": attempt, "turns": turns})


@never_cache
@login_required
@require_safe
def recording(request, attempt_id: int):
    attempt = member_attempt(request, attempt_id)
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / attempt.recording).resolve()
    if not attempt.recording or root not in path.parents or not path.is_file():
        raise Http404("No recording")
    return FileResponse(path.open("rb"), content_type=recordings.content_type(attempt.recording))
