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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rehearsals")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    calls = models.PositiveIntegerField()
    mix = models.JSONField(help_text="Persona name -> percent of the calls (adds up to 100).")
    seed = models.BigIntegerField(help_text="Personas, wording and contacts are picked from this: reproducible.")
    script = models.JSONField(help_text="The campaign's script when the rehearsal started.")
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True, help_text="Last sign of progress (a call finished).")
    finished_at = models.DateTimeField(null=True, blank=True)

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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    rehearsal = models.ForeignKey(Rehearsal, on_delete=models.CASCADE, related_name="rehearsal_calls")
    index = models.PositiveIntegerField()
    persona = models.CharField(max_length=32)
    seed = models.BigIntegerField()
    context = models.JSONField(default=dict, help_text="A contact's fields (never its number).")
    timezone = models.CharField(max_length=64, default="UTC")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    lines = models.JSONField(default=list, blank=True, help_text="What the persona said, in order.")
    dial_status = models.CharField(max_length=20, blank=True)
    end_reason = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=64, blank=True)
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True)
    stuck_at = models.CharField(max_length=64, blank=True)
    talk_ms = models.PositiveIntegerField(null=True, blank=True)
    turns = models.JSONField(default=list, blank=True, help_text="[{speaker, node, text, intent, confidence, ...}]")
    error = models.TextField(blank=True)
    # Signs of life of the worker running the call, as for a live attempt (campaigns.services.call_guard): a call
    # whose lease and heartbeat both lapse lost its worker, and its rehearsal fails (rehearsals.recover_lost_calls).
    worker = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["rehearsal", "index"]
        constraints = [models.UniqueConstraint(fields=["rehearsal", "index"], name="one_rehearsal_call_per_index")]

    def __str__(self) -> str:
        return f"rehearsal call {self.index} ({self.persona})"
