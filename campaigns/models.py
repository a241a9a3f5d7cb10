"""Multi-tenant data. Every tenant-owned row carries a non-null `tenant`; reads go through `for_tenant`."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from campaigns.fields import EncryptedTextField
from pipeline.script import DEFAULT_SCRIPT


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


WRITE_ROLES = frozenset({Role.OWNER, Role.MANAGER})  # may change campaigns, contacts, lists; viewers only read


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


class Trunk(models.Model):
    """A tenant's SIP trunk or PBX. Its limits hold across every worker host (enforced in Redis)."""

    class Transport(models.TextChoices):
        UDP = "udp"
        TCP = "tcp"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="trunks")
    name = models.CharField(max_length=100)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=5060)
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.UDP)
    username = models.CharField(max_length=100, blank=True)
    password = EncryptedTextField(blank=True, help_text="Write-only: never shown back. Encrypted at rest.")
    caller_id = models.CharField(max_length=32, blank=True, help_text="Default caller id (E.164).")
    register = models.BooleanField(default=False, help_text="REGISTER before calling (trunks that require it).")
    max_concurrent_calls = models.PositiveIntegerField(default=10)
    calls_per_second = models.FloatField(default=1.0)

    objects = TenantQuerySet.as_manager()

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
    starts_at = models.DateTimeField(null=True, blank=True, help_text="A scheduled campaign starts then.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="No call is placed after this.")
    trunk = models.ForeignKey(Trunk, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns")
    max_concurrent_calls = models.PositiveIntegerField(default=5)
    calls_per_second = models.FloatField(default=1.0)
    max_attempts = models.PositiveSmallIntegerField(default=3, help_text="Dialled attempts per contact.")
    retry_policy = models.JSONField(
        default=default_retry_policy,
        blank=True,
        help_text='Minutes before a retry, per disposition: {"busy": 10, ...}.',
    )
    disposition_map = models.JSONField(
        default=dict, blank=True, help_text='Script outcome -> disposition, e.g. {"confirmed": "interested"}.'
    )
    webhook_url = models.URLField(blank=True, help_text="POSTed on call and campaign completion (HMAC-signed).")
    webhook_secret = EncryptedTextField(blank=True, help_text="Signs webhook bodies; set on save. Encrypted at rest.")
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
    attempts_made = models.PositiveSmallIntegerField(default=0, help_text="Attempts actually dialled.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Not dialled before this.")
    source_line = models.PositiveIntegerField(null=True, blank=True, help_text="Line in the uploaded CSV.")
    contact_import = models.ForeignKey(
        "ContactImport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,  # read through (campaign, phone); an import's own duplicates are told from the others'
        related_name="+",
        help_text="The upload that added this contact.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "phone"], name="one_contact_per_number")]
        indexes = [models.Index(fields=["campaign", "status", "next_attempt_at"], name="contact_due_idx")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} {self.phone}".strip()

    @property
    def window_zones(self) -> list[str]:
        return self.call_zones or [self.timezone]

    def template_context(self) -> dict:
        return {**self.custom_fields, "first_name": self.first_name, "last_name": self.last_name}


class DoNotCallQuerySet(TenantQuerySet):
    def blocking(self, tenant_id: int) -> DoNotCallQuerySet:
        """Entries that stop a call for this tenant: its own list plus the global one."""
        return self.filter(Q(tenant_id=tenant_id) | Q(tenant__isnull=True))


class DoNotCall(models.Model):
    """A number never to call. tenant NULL: the global list (regulator or operator), managed by superusers."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="do_not_call")
    phone = models.CharField(max_length=20, help_text="E.164")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DoNotCallQuerySet.as_manager()

    class Meta:
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call list"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone"], name="one_dnc_entry_per_number"),
            models.UniqueConstraint(fields=["phone"], condition=Q(tenant__isnull=True), name="one_global_dnc_entry"),
        ]
        indexes = [models.Index(fields=["phone"])]

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
        # The call list's intent choices skip-scan this (selectors.campaign_intents) and its intent filter probes it.
        indexes = [models.Index(fields=["intent", "attempt"], name="turn_intent_idx")]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "index"], name="one_turn_per_index"),
            models.CheckConstraint(condition=Q(end_ms__gte=models.F("start_ms")), name="turn_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:60]}"


class ContactImport(models.Model):
    """One CSV upload and its report, kept so a manager can see what was rejected and why. Large files are
    imported in the background (status processing -> done | failed), in chunks: each chunk's contacts, its rejected
    rows and the progress figures below commit together, so the figures are what is stored, visible while the
    import runs, and a worker that dies leaves an import that resumes after `resume_line` (the sweeper)."""

    class Status(models.TextChoices):
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    rows = models.PositiveIntegerField(default=0, help_text="Rows read so far (blank lines do not count).")
    created_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DONE)
    error = models.TextField(blank=True, help_text="Why a background import stopped.")
    stored_file = models.CharField(max_length=300, blank=True, help_text="Below MEDIA_ROOT, until imported.")
    resume_line = models.PositiveIntegerField(default=0, help_text="Last line of the file stored (progress).")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last chunk stored by a worker.")
    runs = models.PositiveSmallIntegerField(default=0, help_text="Workers that started or resumed it.")
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["heartbeat_at"], condition=Q(status="processing"), name="import_processing_idx")
        ]

    def __str__(self) -> str:
        if self.status != self.Status.DONE:
            return f"{self.filename}: {self.status}"
        return f"{self.filename}: {self.created_count} added, {self.rejected_count} rejected"

    @property
    def rejected(self) -> list[dict]:
        """The rejected rows, in file order: [{line, phone, reason}]."""
        return [
            {"line": line, "phone": phone, "reason": reason}
            for line, phone, reason in self.rejections.order_by("line").values_list("line", "phone", "reason")
        ]


class ImportRejection(models.Model):
    """One rejected row of an upload (written with COPY, a chunk at a time). `e164`: the number when it parsed, so a
    later duplicate in the same file names this line."""

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="rejections")
    line = models.PositiveIntegerField()
    phone = models.TextField(blank=True, help_text="As written in the file.")
    reason = models.TextField()
    e164 = models.CharField(max_length=20, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["contact_import", "line"], name="rejection_line_idx"),
            models.Index(fields=["contact_import", "e164"], condition=~Q(e164=""), name="rejection_e164_idx"),
        ]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class CampaignEvent(models.Model):
    """Every lifecycle transition: who moved the campaign from what to what, and when."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


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
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # One delivery per event and call (or per campaign): a finalize that runs twice sends once.
            models.UniqueConstraint(fields=["campaign", "event", "attempt"], name="one_delivery_per_event"),
            models.UniqueConstraint(
                fields=["campaign", "event"], condition=Q(attempt__isnull=True), name="one_campaign_event_delivery"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.url} ({self.status})"


class ApiToken(models.Model):
    """An API key, stored only as its SHA-256 digest: a copy of the database holds no key that works. The key is
    random (160 bits), so a plain digest is enough (no password hashing needed); it is shown once, when issued."""

    MAX_PER_USER = 20  # issuing more revokes the oldest

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"token {self.digest[:8]}... of {self.user}"

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user) -> tuple[ApiToken, str]:
        """A new token for `user` and its key (the only time the key exists outside the client)."""
        key = secrets.token_hex(20)
        token = cls.objects.create(user=user, digest=cls.digest_of(key))
        older = cls.objects.filter(user=user).order_by("-created_at", "-id").values_list("id", flat=True)
        cls.objects.filter(id__in=list(older[cls.MAX_PER_USER :])).delete()
        return token, key


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
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["rehearsal", "index"]
        constraints = [models.UniqueConstraint(fields=["rehearsal", "index"], name="one_rehearsal_call_per_index")]

    def __str__(self) -> str:
        return f"rehearsal call {self.index} ({self.persona})"


class ScriptVersion(models.Model):
    """A campaign's script as it was from a moment on: recorded when the campaign starts and whenever its script
    is edited after that, numbered 1, 2, ... per campaign. Each dialled attempt points at the version it ran."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="script_versions")
    number = models.PositiveIntegerField()
    script = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["campaign", "-number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="one_script_version_per_number")]

    def __str__(self) -> str:
        return f"script v{self.number} of campaign {self.campaign_id}"
