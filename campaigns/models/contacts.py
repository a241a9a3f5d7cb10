"""Call lists: contacts, their imports with per-row rejections, and the do-not-call list."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign
from campaigns.models.tenancy import Tenant, TenantQuerySet


class Contact(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        DONE = "done"
        SKIPPED = "skipped"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="contacts",
        db_index=False,  # (campaign, phone) and contact_due_idx lead with it: a third index only slows imports
    )
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
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
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
        verbose_name = _("do-not-call entry")
        verbose_name_plural = _("do-not-call list")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone"], name="one_dnc_entry_per_number"),
            models.UniqueConstraint(fields=["phone"], condition=Q(tenant__isnull=True), name="one_global_dnc_entry"),
        ]
        indexes = [models.Index(fields=["phone"])]

    def __str__(self) -> str:
        return self.phone


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
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
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
