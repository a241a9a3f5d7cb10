"""Campaigns, their trunks, script versions and audit events."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.fields import EncryptedTextField
from campaigns.models.tenancy import Tenant, TenantQuerySet
from pipeline.script import DEFAULT_SCRIPT


class Disposition(models.TextChoices):
    COMPLETED = "completed"
    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    CALLBACK_REQUESTED = "callback_requested"
    OPTED_OUT = "opted_out"
    WRONG_PERSON = "wrong_person"
    VOICEMAIL_LEFT = "voicemail_left"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    INVALID_NUMBER = "invalid_number"
    UNCLEAR = "unclear"
    TRANSFERRED = "transferred"  # handed to a person (a script's transfer node)


class Trunk(models.Model):
    """A tenant's SIP trunk or PBX. Its limits hold across every worker host (enforced in Redis)."""

    class Transport(models.TextChoices):
        UDP = "udp"
        TCP = "tcp"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="trunks", verbose_name=_("tenant"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    host = models.CharField(max_length=255, verbose_name=_("host"))
    port = models.PositiveIntegerField(default=5060, verbose_name=_("port"))
    transport = models.CharField(
        max_length=8, choices=Transport.choices, default=Transport.UDP, verbose_name=_("transport")
    )
    username = models.CharField(max_length=100, blank=True, verbose_name=_("username"))
    password = EncryptedTextField(blank=True, help_text="Write-only: never shown back. Encrypted at rest.")
    caller_id = models.CharField(
        max_length=32, blank=True, help_text="Default caller id (E.164).", verbose_name=_("caller id")
    )
    register = models.BooleanField(
        default=False, help_text="REGISTER before calling (trunks that require it).", verbose_name=_("register")
    )
    max_concurrent_calls = models.PositiveIntegerField(default=10, verbose_name=_("max concurrent calls"))
    calls_per_second = models.FloatField(default=1.0, verbose_name=_("calls per second"))
    max_inbound_calls = models.PositiveIntegerField(
        default=2,
        help_text="Calls to the campaigns' caller ids answered at once (they also count as channels).",
        verbose_name=_("max inbound calls"),
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("SIP trunk")
        verbose_name_plural = _("SIP trunks")

    def __str__(self) -> str:
        return self.name


def default_retry_policy() -> dict:
    # Minutes to wait before the next attempt, per disposition; a disposition not listed is not retried.
    return {"busy": 10, "no_answer": 60, "failed": 30, "voicemail_left": 240}


def default_script() -> dict:
    return DEFAULT_SCRIPT


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns", verbose_name=_("tenant"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True, verbose_name=_("status")
    )
    script = models.JSONField(
        default=default_script, help_text="Conversation script (see README: Scripts).", verbose_name=_("script")
    )
    caller_id = models.CharField(
        max_length=32, help_text="E.164 number presented to callees.", verbose_name=_("caller id")
    )
    language = models.CharField(max_length=16, default="en", verbose_name=_("language"))
    tts_engine = models.CharField(
        max_length=16, blank=True, help_text="Empty: the deployment default.", verbose_name=_("tts engine")
    )
    voice = models.CharField(
        max_length=64, blank=True, help_text="TTS voice; empty: the engine default.", verbose_name=_("voice")
    )
    # Daily calling window, in each callee's local time.
    window_start = models.TimeField(default=dt.time(9, 0), verbose_name=_("window start"))
    window_end = models.TimeField(default=dt.time(20, 0), verbose_name=_("window end"))
    starts_at = models.DateTimeField(
        null=True, blank=True, help_text="A scheduled campaign starts then.", verbose_name=_("starts at")
    )
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="No call is placed after this.", verbose_name=_("ends at")
    )
    trunk = models.ForeignKey(
        Trunk, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("trunk")
    )
    max_concurrent_calls = models.PositiveIntegerField(default=5, verbose_name=_("max concurrent calls"))
    calls_per_second = models.FloatField(default=1.0, verbose_name=_("calls per second"))
    max_attempts = models.PositiveSmallIntegerField(
        default=3, help_text="Dialled attempts per contact.", verbose_name=_("max attempts")
    )
    retry_policy = models.JSONField(
        default=default_retry_policy,
        blank=True,
        help_text='Minutes before a retry, per disposition: {"busy": 10, ...}.',
        verbose_name=_("retry policy"),
    )
    disposition_map = models.JSONField(
        default=dict,
        blank=True,
        help_text='Script outcome -> disposition, e.g. {"confirmed": "interested"}.',
        verbose_name=_("disposition map"),
    )
    webhook_url = models.URLField(
        blank=True, help_text="POSTed on call and campaign completion (HMAC-signed).", verbose_name=_("webhook url")
    )
    webhook_secret = EncryptedTextField(blank=True, help_text="Signs webhook bodies; set on save. Encrypted at rest.")
    dry_run = models.BooleanField(
        default=False, help_text="Dial virtual callees instead of the carrier.", verbose_name=_("dry run")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("created by")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        indexes = [models.Index(fields=["tenant", "status"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Invariants checked by the admin form and the API alike."""
        errors: dict[str, str] = {}
        if self.window_start and self.window_end and self.window_start >= self.window_end:
            errors["window_end"] = "The calling window must end after it starts."
        if self.starts_at and self.ends_at and self.starts_at >= self.ends_at:
            errors["ends_at"] = "The campaign must end after it starts."
        if self.trunk_id and self.tenant_id and self.trunk.tenant_id != self.tenant_id:
            errors["trunk"] = "This trunk belongs to another tenant."
        policy = self.retry_policy
        if not isinstance(policy, dict) or any(
            key not in Disposition.values or isinstance(v, bool) or not isinstance(v, int | float) or v < 0
            for key, v in policy.items()
        ):
            errors["retry_policy"] = (
                f"An object of disposition -> minutes (a number >= 0); dispositions: {', '.join(Disposition.values)}."
            )
        mapping = self.disposition_map
        if not isinstance(mapping, dict) or any(v not in Disposition.values for v in mapping.values()):
            errors["disposition_map"] = "An object of script outcome -> disposition."
        if self.webhook_url:
            from campaigns.netguard import UnsafeURL, validate_url

            try:
                validate_url(self.webhook_url)
            except UnsafeURL as exc:
                errors["webhook_url"] = str(exc)
        if errors:
            raise ValidationError(errors)


class CampaignEvent(models.Model):
    """Every lifecycle transition: who moved the campaign from what to what, and when."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events", verbose_name=_("campaign"))
    from_status = models.CharField(max_length=16, verbose_name=_("from status"))
    to_status = models.CharField(max_length=16, verbose_name=_("to status"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("actor")
    )
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class ScriptVersion(models.Model):
    """A campaign's script as it was from a moment on: recorded when the campaign starts and whenever its script
    is edited after that, numbered 1, 2, ... per campaign. Each dialled attempt points at the version it ran."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="script_versions", verbose_name=_("campaign")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    script = models.JSONField(verbose_name=_("script"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("created by")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["campaign", "-number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="one_script_version_per_number")]

    def __str__(self) -> str:
        return f"script v{self.number} of campaign {self.campaign_id}"
