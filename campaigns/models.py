"""Multi-tenant data. Every tenant-owned row carries a non-null `tenant`; reads go through `for_tenant`."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant | int) -> TenantQuerySet:
        return self.filter(tenant=tenant)


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    MANAGER = "manager"
    VIEWER = "viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


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


def default_script() -> dict:
    from pipeline.script import DEFAULT_SCRIPT

    return DEFAULT_SCRIPT


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    script = models.JSONField(default=default_script, help_text="Conversation script (see README: Scripts).")
    caller_id = models.CharField(max_length=32, help_text="E.164 number presented to callees.")
    language = models.CharField(max_length=16, default="en")
    tts_engine = models.CharField(max_length=16, blank=True, help_text="Empty: the deployment default.")
    voice = models.CharField(max_length=64, blank=True, help_text="TTS voice; empty: the engine default.")
    # Daily calling window, in each callee's local time.
    window_start = models.TimeField(default=dt.time(9, 0))
    window_end = models.TimeField(default=dt.time(20, 0))
    max_concurrent_calls = models.PositiveIntegerField(default=5)
    max_attempts = models.PositiveSmallIntegerField(default=1)
    dry_run = models.BooleanField(default=False, help_text="Dial virtual callees instead of the carrier.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "status"])]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        DONE = "done"
        SKIPPED = "skipped"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts")
    phone = models.CharField(max_length=20, help_text="E.164")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, help_text="IANA zone: the callee's local time.")
    call_zones = models.JSONField(
        default=list,
        blank=True,
        help_text="Zones the calling window must hold in (all of them): a number spanning several zones is "
        "called only when it is inside the window in each. Empty: just `timezone`.",
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    skip_reason = models.CharField(max_length=200, blank=True)
    source_line = models.PositiveIntegerField(null=True, blank=True, help_text="Line in the uploaded CSV.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "phone"], name="one_contact_per_number")]
        indexes = [models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} {self.phone}".strip()

    @property
    def window_zones(self) -> list[str]:
        return self.call_zones or [self.timezone]

    def template_context(self) -> dict:
        return {**self.custom_fields, "first_name": self.first_name, "last_name": self.last_name}


class DoNotCall(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="do_not_call")
    phone = models.CharField(max_length=20, help_text="E.164")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call list"
        constraints = [models.UniqueConstraint(fields=["tenant", "phone"], name="one_dnc_entry_per_number")]

    def __str__(self) -> str:
        return self.phone


class CallAttempt(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        DIALING = "dialing"  # claimed by a worker; a worker that dies leaves it here
        ENDED = "ended"  # the call is over, results not yet finalised
        FINALIZED = "finalized"
        CANCELLED = "cancelled"  # never dialled (DNC, campaign stopped)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="call_attempts")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="call_attempts")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attempts")
    attempt_number = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Deferred until the calling window opens.")
    dial_status = models.CharField(max_length=20, blank=True)
    sip_code = models.PositiveSmallIntegerField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=64, blank=True, help_text="Script outcome.")
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True, db_index=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    talk_ms = models.PositiveIntegerField(null=True, blank=True)
    recording = models.CharField(max_length=300, blank=True, help_text="Path below MEDIA_ROOT.")
    full_transcript = models.TextField(blank=True)
    analysis = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "attempt_number"], name="one_row_per_attempt"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["campaign", "disposition"]),
            models.Index(fields=["tenant", "-created_at"]),
        ]

    def __str__(self) -> str:
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

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["attempt", "index"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "index"], name="one_turn_per_index"),
            models.CheckConstraint(condition=Q(end_ms__gte=models.F("start_ms")), name="turn_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:60]}"


class ContactImport(models.Model):
    """One CSV upload and its report, kept so a manager can see what was rejected and why."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    rejected = models.JSONField(default=list, help_text="[{line, phone, reason}]")

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.filename}: {self.created_count} added, {len(self.rejected)} rejected"
