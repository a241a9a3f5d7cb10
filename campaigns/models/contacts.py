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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("tenant"))
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="contacts",
        db_index=False,  # (campaign, phone) and contact_due_idx lead with it: a third index only slows imports
        verbose_name=_("campaign"),
    )
    phone = models.CharField(max_length=20, help_text="E.164", verbose_name=_("phone"))
    first_name = models.CharField(max_length=100, blank=True, verbose_name=_("first name"))
    last_name = models.CharField(max_length=100, blank=True, verbose_name=_("last name"))
    timezone = models.CharField(
        max_length=64, help_text="IANA zone: the callee's local time.", verbose_name=_("timezone")
    )
    call_zones = models.JSONField(
        default=list,
        blank=True,
        help_text="Zones the calling window must hold in (all of them): a number spanning several zones is "
        "called only when it is inside the window in each. Empty: just `timezone`.",
        verbose_name=_("call zones"),
    )
    custom_fields = models.JSONField(default=dict, blank=True, verbose_name=_("custom fields"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    skip_reason = models.CharField(max_length=200, blank=True, verbose_name=_("skip reason"))
    attempts_made = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts actually dialled.", verbose_name=_("attempts made")
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not dialled before this.", verbose_name=_("next attempt at")
    )
    source_line = models.PositiveIntegerField(
        null=True, blank=True, help_text="Line in the uploaded CSV.", verbose_name=_("source line")
    )
    contact_import = models.ForeignKey(
        "ContactImport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,  # read through (campaign, phone); an import's own duplicates are told from the others'
        related_name="+",
        help_text="The upload that added this contact.",
        verbose_name=_("contact import"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

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

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="do_not_call", verbose_name=_("tenant")
    )
    phone = models.CharField(max_length=20, help_text="E.164", verbose_name=_("phone"))
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

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

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports", verbose_name=_("campaign"))
    filename = models.CharField(max_length=255, verbose_name=_("filename"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    rows = models.PositiveIntegerField(
        default=0, help_text="Rows read so far (blank lines do not count).", verbose_name=_("rows")
    )
    created_count = models.PositiveIntegerField(default=0, verbose_name=_("created count"))
    rejected_count = models.PositiveIntegerField(default=0, verbose_name=_("rejected count"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DONE, verbose_name=_("status"))
    error = models.TextField(blank=True, help_text="Why a background import stopped.", verbose_name=_("error"))
    stored_file = models.CharField(
        max_length=300, blank=True, help_text="Below MEDIA_ROOT, until imported.", verbose_name=_("stored file")
    )
    resume_line = models.PositiveIntegerField(
        default=0, help_text="Last line of the file stored (progress).", verbose_name=_("resume line")
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last chunk stored by a worker.", verbose_name=_("heartbeat at")
    )
    runs = models.PositiveSmallIntegerField(
        default=0, help_text="Workers that started or resumed it.", verbose_name=_("runs")
    )
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

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

    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="rejections", verbose_name=_("contact import")
    )
    line = models.PositiveIntegerField(verbose_name=_("line"))
    phone = models.TextField(blank=True, help_text="As written in the file.", verbose_name=_("phone"))
    reason = models.TextField(verbose_name=_("reason"))
    e164 = models.CharField(max_length=20, blank=True, verbose_name=_("e164"))

    class Meta:
        indexes = [
            models.Index(fields=["contact_import", "line"], name="rejection_line_idx"),
            models.Index(fields=["contact_import", "e164"], condition=~Q(e164=""), name="rejection_e164_idx"),
        ]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
