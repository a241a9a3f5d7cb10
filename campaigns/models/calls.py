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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="call_attempts", verbose_name=_("tenant"))
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="call_attempts", verbose_name=_("campaign")
    )

    class Direction(models.TextChoices):
        OUTBOUND = "outbound"  # the robot dialled the contact
        INBOUND = "inbound"  # somebody called the campaign's caller id (campaigns.services.inbound)

    # An inbound call from a number that is no contact of the campaign (or withheld) has no contact.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="attempts", null=True, blank=True, verbose_name=_("contact")
    )
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.OUTBOUND, verbose_name=_("direction")
    )
    caller = models.CharField(
        max_length=32,
        blank=True,
        help_text="Inbound: the caller's number as presented (empty: withheld).",
        verbose_name=_("caller"),
    )
    attempt_number = models.PositiveSmallIntegerField(default=1, verbose_name=_("attempt number"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, verbose_name=_("status"))
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Deferred until the calling window opens.", verbose_name=_("not before")
    )
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last put on the dial queue; the sweeper re-sends a message lost since.",
        verbose_name=_("queued at"),
    )
    dial_status = models.CharField(max_length=20, blank=True, verbose_name=_("dial status"))
    sip_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("sip code"))
    end_reason = models.CharField(max_length=20, blank=True, verbose_name=_("end reason"))
    outcome = models.CharField(max_length=64, blank=True, help_text="Script outcome.", verbose_name=_("outcome"))
    disposition = models.CharField(
        max_length=24, choices=Disposition.choices, blank=True, db_index=True, verbose_name=_("disposition")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    worker = models.CharField(max_length=200, blank=True, verbose_name=_("worker"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A dialling worker renews this; once past, the worker is presumed dead.",
        verbose_name=_("lease expires at"),
    )
    dialed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the INVITE went out.", verbose_name=_("dialed at")
    )
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))
    talk_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("talk ms"))
    recording = models.CharField(
        max_length=300, blank=True, help_text="Path below MEDIA_ROOT.", verbose_name=_("recording")
    )
    full_transcript = models.TextField(blank=True, verbose_name=_("full transcript"))
    analysis = models.JSONField(default=dict, blank=True, verbose_name=_("analysis"))
    # The last hand-off to a person during the call (a script's transfer node); the whole record, with the SIP
    # code and detail, is in analysis["transfer"].
    transfer_target = models.CharField(
        max_length=200, blank=True, help_text="Number or SIP URI the call went to.", verbose_name=_("transfer target")
    )
    transferred_at = models.DateTimeField(
        null=True, blank=True, help_text="When the transfer was started.", verbose_name=_("transferred at")
    )
    transfer_status = models.CharField(
        max_length=20,
        blank=True,
        help_text="connected, refused, busy, no_answer, failed or no_report.",
        verbose_name=_("transfer status"),
    )
    script_version = models.ForeignKey(
        "ScriptVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version of the campaign's script this call ran (set when dialled).",
        verbose_name=_("script version"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    attempt = models.ForeignKey(CallAttempt, on_delete=models.CASCADE, related_name="turns", verbose_name=_("attempt"))
    index = models.PositiveSmallIntegerField(verbose_name=_("index"))
    speaker = models.CharField(max_length=8, choices=Speaker.choices, verbose_name=_("speaker"))
    node = models.CharField(
        max_length=64, blank=True, help_text="Script node this turn belongs to.", verbose_name=_("node")
    )
    text = models.TextField(blank=True, verbose_name=_("text"))
    intent = models.CharField(max_length=32, blank=True, verbose_name=_("intent"))
    confidence = models.FloatField(null=True, blank=True, verbose_name=_("confidence"))
    slots = models.JSONField(default=dict, blank=True, verbose_name=_("slots"))
    start_ms = models.PositiveIntegerField(help_text="Offset from answer, media time.", verbose_name=_("start ms"))
    end_ms = models.PositiveIntegerField(verbose_name=_("end ms"))
    asr_latency_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="End of speech to final text.", verbose_name=_("asr latency ms")
    )
    response_latency_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="End of callee speech to the robot's first audio.",
        verbose_name=_("response latency ms"),
    )
    end_of_turn = models.CharField(
        max_length=16,
        blank=True,
        help_text="Callee turns: why the turn ended (complete, max_wait, max_length, pause, hang_up, keypad).",
        verbose_name=_("end of turn"),
    )
    asr_wait_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Callee turns: time the final decode waited for a free ASR worker.",
        verbose_name=_("asr wait ms"),
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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="webhook_deliveries", verbose_name=_("campaign")
    )
    attempt = models.ForeignKey(
        CallAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("attempt")
    )
    event = models.CharField(max_length=40, verbose_name=_("event"))
    url = models.URLField(verbose_name=_("url"))
    payload = models.JSONField(verbose_name=_("payload"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    tries = models.PositiveSmallIntegerField(default=0, verbose_name=_("tries"))
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("last status code"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))

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
