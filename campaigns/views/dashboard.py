"""Dashboard pages and health check. Every lookup is limited to the signed-in user's tenants (404 otherwise)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, render

from campaigns.models import CallAttempt
from campaigns.selectors import campaign_progress, campaigns_for, tenants_for_user


@login_required
def home(request):
    campaigns = campaigns_for(tenants_for_user(request.user)).select_related("tenant").order_by("-created_at")
    rows = [(c, campaign_progress(c)) for c in campaigns]
    return render(request, "dashboard/home.html", {"rows": rows})


@login_required
def campaign_detail(request, campaign_id: int):
    campaign = get_object_or_404(campaigns_for(tenants_for_user(request.user)), id=campaign_id)
    attempts = (
        CallAttempt.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign)
        .select_related("contact")
        .order_by("-id")[:200]
    )
    return render(
        request,
        "dashboard/campaign.html",
        {"campaign": campaign, "progress": campaign_progress(campaign), "attempts": attempts},
    )


def _attempt_for(request, attempt_id: int) -> CallAttempt:
    return get_object_or_404(
        CallAttempt.objects.filter(tenant__in=tenants_for_user(request.user)).select_related("contact", "campaign"),
        id=attempt_id,
    )


@login_required
def call_detail(request, attempt_id: int):
    attempt = _attempt_for(request, attempt_id)
    return render(request, "dashboard/call.html", {"attempt": attempt, "turns": attempt.turns.all()})


@login_required
def recording(request, attempt_id: int):
    attempt = _attempt_for(request, attempt_id)
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / attempt.recording).resolve()
    if not attempt.recording or root not in path.parents or not path.is_file():
        raise Http404("No recording")
    return FileResponse(path.open("rb"), content_type="audio/wav")


def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, do not raise: this page exists to say what is down
        checks["database"] = f"error: {exc}"
    try:
        from project.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)
