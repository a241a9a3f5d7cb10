"""Rehearsals: a campaign's script called by simulated personas before it calls anyone."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign, Disposition
from campaigns.models.tenancy import Tenant, TenantQuerySet


class Rehearsal(models.Model):
    """A campaign rehearsed against virtual callees (telephony.personas.LIBRARY personas, in a chosen mix) that
    speak with the campaign's own contacts' fields but are never dialled at their numbers. Its calls are
    RehearsalCalls, never CallAttempts: no campaign figure, metric, webhook or do-not-call entry comes of them."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE = (Status.RUNNING,)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="rehearsals", verbose_name=_("campaign")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("requested by")
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING, verbose_name=_("status"))
    calls = models.PositiveIntegerField(verbose_name=_("calls"))
    mix = models.JSONField(help_text="Persona name -> percent of the calls (adds up to 100).", verbose_name=_("mix"))
    seed = models.BigIntegerField(
        help_text="Personas, wording and contacts are picked from this: reproducible.", verbose_name=_("seed")
    )
    script = models.JSONField(help_text="The campaign's script when the rehearsal started.", verbose_name=_("script"))
    report = models.JSONField(default=dict, blank=True, verbose_name=_("report"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(
        auto_now_add=True, help_text="Last sign of progress (a call finished).", verbose_name=_("updated at")
    )
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("rehearsal")
        verbose_name_plural = _("rehearsals")
        constraints = [
            # Two rehearsals of one campaign at once would share its workers and muddle both reports.
            models.UniqueConstraint(
                fields=["campaign"], condition=Q(status="running"), name="one_running_rehearsal_per_campaign"
            ),
        ]

    def __str__(self) -> str:
        return f"rehearsal {self.id} of {self.campaign_id}: {self.calls} calls ({self.status})"


class RehearsalCall(models.Model):
    """One rehearsal call: the persona, the fields it was addressed with, what was said and what came of it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        DIALING = "dialing"
        ENDED = "ended"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    rehearsal = models.ForeignKey(
        Rehearsal, on_delete=models.CASCADE, related_name="rehearsal_calls", verbose_name=_("rehearsal")
    )
    index = models.PositiveIntegerField(verbose_name=_("index"))
    persona = models.CharField(max_length=32, verbose_name=_("persona"))
    seed = models.BigIntegerField(verbose_name=_("seed"))
    context = models.JSONField(
        default=dict, help_text="A contact's fields (never its number).", verbose_name=_("context")
    )
    timezone = models.CharField(max_length=64, default="UTC", verbose_name=_("timezone"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, verbose_name=_("status"))
    lines = models.JSONField(
        default=list, blank=True, help_text="What the persona said, in order.", verbose_name=_("lines")
    )
    dial_status = models.CharField(max_length=20, blank=True, verbose_name=_("dial status"))
    end_reason = models.CharField(max_length=20, blank=True, verbose_name=_("end reason"))
    outcome = models.CharField(max_length=64, blank=True, verbose_name=_("outcome"))
    disposition = models.CharField(
        max_length=24, choices=Disposition.choices, blank=True, verbose_name=_("disposition")
    )
    stuck_at = models.CharField(max_length=64, blank=True, verbose_name=_("stuck at"))
    talk_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("talk ms"))
    turns = models.JSONField(
        default=list, blank=True, help_text="[{speaker, node, text, intent, confidence, ...}]", verbose_name=_("turns")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    # Signs of life of the worker running the call, as for a live attempt (campaigns.services.call_guard): a call
    # whose lease and heartbeat both lapse lost its worker, and its rehearsal fails (rehearsals.recover_lost_calls).
    worker = models.CharField(max_length=200, blank=True, verbose_name=_("worker"))
    lease_expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("lease expires at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["rehearsal", "index"]
        constraints = [models.UniqueConstraint(fields=["rehearsal", "index"], name="one_rehearsal_call_per_index")]

    def __str__(self) -> str:
        return f"rehearsal call {self.index} ({self.persona})"
