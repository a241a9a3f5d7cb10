"""Call attempts, their turns, and webhook deliveries about them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign, Disposition
from campaigns.models.contacts import Contact
from campaigns.models.tenancy import Tenant, TenantQuerySet


class CallAttempt(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        DIALING = "dialing"  # claimed by a worker; a worker that dies leaves it here
        ENDED = "ended"  # the call is over, results not yet finalised
        FINALIZED = "finalized"
        CANCELLED = "cancelled"  # never dialled (DNC, campaign stopped)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="call_attempts")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="call_attempts")

    class Direction(models.TextChoices):
        OUTBOUND = "outbound"  # the robot dialled the contact
        INBOUND = "inbound"  # somebody called the campaign's caller id (campaigns.services.inbound)

    # An inbound call from a number that is no contact of the campaign (or withheld) has no contact.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attempts", null=True, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.OUTBOUND)
    caller = models.CharField(
        max_length=32, blank=True, help_text="Inbound: the caller's number as presented (empty: withheld)."
    )
    attempt_number = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Deferred until the calling window opens.")
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="Last put on the dial queue; the sweeper re-sends a message lost since."
    )
    dial_status = models.CharField(max_length=20, blank=True)
    sip_code = models.PositiveSmallIntegerField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=64, blank=True, help_text="Script outcome.")
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True, db_index=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="A dialling worker renews this; once past, the worker is presumed dead."
    )
    dialed_at = models.DateTimeField(null=True, blank=True, help_text="When the INVITE went out.")
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    talk_ms = models.PositiveIntegerField(null=True, blank=True)
    recording = models.CharField(max_length=300, blank=True, help_text="Path below MEDIA_ROOT.")
    full_transcript = models.TextField(blank=True)
    analysis = models.JSONField(default=dict, blank=True)
    # The last hand-off to a person during the call (a script's transfer node); the whole record, with the SIP
    # code and detail, is in analysis["transfer"].
    transfer_target = models.CharField(max_length=200, blank=True, help_text="Number or SIP URI the call went to.")
    transferred_at = models.DateTimeField(null=True, blank=True, help_text="When the transfer was started.")
    transfer_status = models.CharField(
        max_length=20, blank=True, help_text="connected, refused, busy, no_answer, failed or no_report."
    )
    script_version = models.ForeignKey(
        "ScriptVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version of the campaign's script this call ran (set when dialled).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("call attempt")
        verbose_name_plural = _("call attempts")
        constraints = [
            models.UniqueConstraint(fields=["contact", "attempt_number"], name="one_row_per_attempt"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["campaign", "disposition"]),
            models.Index(fields=["tenant", "-created_at"]),
            # The call list: a campaign's attempts newest first (selectors.campaign_calls), a page at a time.
            models.Index(fields=["campaign", "-created_at", "-id"], name="attempt_campaign_newest_idx"),
            # /metrics counts attempts per status and finalised calls per disposition: index-only scans.
            models.Index(fields=["status", "disposition"], name="attempt_status_disposition_idx"),
            # The report's first and last dial: min/max through an index, not a scan of the campaign's attempts.
            models.Index(fields=["campaign", "dialed_at"], name="attempt_campaign_dialed_idx"),
            # The call list filtered by date: when the call happened (dialled, else created), newest first.
            models.Index(
                models.F("campaign"),
                Coalesce("dialed_at", "created_at"),
                models.F("id"),
                name="attempt_campaign_when_idx",
            ),
        ]

    def __str__(self) -> str:
        if self.contact_id is None:
            return f"{self.caller or 'withheld'} (inbound)"
        return f"{self.contact.phone} #{self.attempt_number}"


class Turn(models.Model):
    class Speaker(models.TextChoices):
        ROBOT = "robot"
        CALLEE = "callee"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    attempt = models.ForeignKey(CallAttempt, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    speaker = models.CharField(max_length=8, choices=Speaker.choices)
    node = models.CharField(max_length=64, blank=True, help_text="Script node this turn belongs to.")
    text = models.TextField(blank=True)
    intent = models.CharField(max_length=32, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    slots = models.JSONField(default=dict, blank=True)
    start_ms = models.PositiveIntegerField(help_text="Offset from answer, media time.")
    end_ms = models.PositiveIntegerField()
    asr_latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="End of speech to final text.")
    response_latency_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="End of callee speech to the robot's first audio."
    )
    end_of_turn = models.CharField(
        max_length=16,
        blank=True,
        help_text="Callee turns: why the turn ended (complete, max_wait, max_length, pause, hang_up, keypad).",
    )
    asr_wait_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Callee turns: time the final decode waited for a free ASR worker."
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["attempt", "index"]
        # The call list's intent choices skip-scan this (selectors.campaign_intents) and its intent filter probes it.
        indexes = [models.Index(fields=["intent", "attempt"], name="turn_intent_idx")]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "index"], name="one_turn_per_index"),
            models.CheckConstraint(condition=Q(end_ms__gte=models.F("start_ms")), name="turn_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:60]}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="webhook_deliveries")
    attempt = models.ForeignKey(CallAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=40)
    url = models.URLField()
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            # One delivery per event and call (or per campaign): a finalize that runs twice sends once.
            models.UniqueConstraint(fields=["campaign", "event", "attempt"], name="one_delivery_per_event"),
            models.UniqueConstraint(
                fields=["campaign", "event"], condition=Q(attempt__isnull=True), name="one_campaign_event_delivery"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.url} ({self.status})"
