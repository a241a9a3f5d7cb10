"""Campaigns: the form with script validation, the upload and lifecycle buttons, rehearsals from the change page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from campaigns.admin.base import TenantScopedAdmin
from campaigns.models import (
    Campaign,
    CampaignEvent,
    ContactImport,
)
from campaigns.selectors import campaign_progress
from campaigns.services import rehearsals
from campaigns.services.import_reasons import reason_text
from campaigns.services.imports import ImportFileError, upload_contacts
from campaigns.services.lifecycle import (
    CampaignStateError,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    start_campaign,
)
from campaigns.services.script_versions import record_edit
from pipeline.script import ScriptError, validate_script


class CampaignForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https", help_text=Campaign.webhook_url.field.help_text)

    class Meta:
        model = Campaign
        fields = [
            "tenant",
            "name",
            "script",
            "caller_id",
            "trunk",
            "dry_run",
            "language",
            "tts_engine",
            "voice",
            "starts_at",
            "ends_at",
            "window_start",
            "window_end",
            "max_concurrent_calls",
            "calls_per_second",
            "max_attempts",
            "retry_policy",
            "disposition_map",
            "webhook_url",
        ]

    def clean_script(self):
        script = self.cleaned_data["script"]
        try:
            return validate_script(script)
        except ScriptError as exc:
            raise forms.ValidationError(str(exc)) from None


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Call list (CSV)",
        help_text="Columns: phone (required), first_name, last_name, "
        "timezone, and any other column you use in prompts as {column}.",
    )


class CampaignEventInline(admin.TabularInline):
    model = CampaignEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    form = CampaignForm
    list_display = ["name", "tenant", "status", "progress", "contact_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "started_at", "completed_at", "created_by", "upload_link"]
    actions = [
        "schedule_selected",
        "start_selected",
        "pause_selected",
        "resume_selected",
        "cancel_selected",
        "rehearse",
    ]
    inlines = [CampaignEventInline]

    def get_urls(self):
        own = [
            path(
                "<int:campaign_id>/upload/",
                self.admin_site.admin_view(self.upload_view),
                name="campaigns_campaign_upload",
            )
        ]
        return own + super().get_urls()

    @admin.display(description="Progress")
    def progress(self, obj):
        return f"{campaign_progress(obj).percent} %"

    @admin.display(description="Contacts")
    def contact_count(self, obj):
        return obj.contacts.count()

    @admin.display(description="Call list")
    def upload_link(self, obj):
        if not obj.pk:
            return "Save the campaign first."
        return format_html(
            '<a class="button" href="{}">Upload a CSV call list</a>',
            reverse("admin:campaigns_campaign_upload", args=[obj.pk]),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if change and "script" in form.changed_data:
            version = record_edit(obj, request.user)
            if version is not None:
                self.message_user(request, f"The script is now version {version.number}; calls from now on use it.")

    def _apply(self, request, queryset, verb: str, action) -> None:
        for campaign in queryset:
            if not self._can_write(request, campaign):
                raise PermissionDenied
            try:
                result = action(campaign, actor=request.user)
            except (CampaignStateError, ScriptError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                note = "" if result is True or result is False else f" ({result})"
                self.message_user(request, f"{campaign.name}: {verb}{note}.", messages.SUCCESS)

    @admin.action(description="Schedule selected campaigns (they start at their 'starts at')")
    def schedule_selected(self, request, queryset):
        def schedule(campaign, actor):
            if not campaign.starts_at or campaign.starts_at <= timezone.now():
                raise CampaignStateError(f"{campaign.name}: set a future 'starts at' first (or use Start).")
            return schedule_campaign(campaign, campaign.starts_at, actor=actor)

        self._apply(request, queryset, "scheduled", schedule)

    @admin.action(description="Start selected campaigns")
    def start_selected(self, request, queryset):
        self._apply(request, queryset, "running; contacts waiting", start_campaign)

    @admin.action(description="Pause selected campaigns")
    def pause_selected(self, request, queryset):
        self._apply(request, queryset, "paused", pause_campaign)

    @admin.action(description="Resume selected campaigns")
    def resume_selected(self, request, queryset):
        self._apply(request, queryset, "running; contacts waiting", resume_campaign)

    @admin.action(description="Cancel selected campaigns")
    def cancel_selected(self, request, queryset):
        self._apply(request, queryset, "cancelled; attempts cancelled", cancel_campaign)

    @admin.action(description="Rehearse selected campaigns (virtual callees in the default mix; nobody is called)")
    def rehearse(self, request, queryset):
        for campaign in queryset:
            if not self._can_write(request, campaign):
                raise PermissionDenied
            try:
                rehearsal = rehearsals.start_rehearsal(campaign, settings.REHEARSAL_ADMIN_CALLS, actor=request.user)
            except (rehearsals.RehearsalError, rehearsals.RehearsalBusy) as exc:
                self.message_user(request, f"{campaign.name}: {exc}", messages.ERROR)
                continue
            report = reverse("campaign-rehearsal", args=[campaign.id, rehearsal.id])
            self.message_user(
                request,
                format_html(
                    '{}: Rehearsal of {} calls started; <a href="{}">its report</a> fills in as they end.',
                    campaign.name,
                    rehearsal.calls,
                    report,
                ),
                messages.SUCCESS,
            )

    def upload_view(self, request, campaign_id: int):
        campaign = self.get_queryset(request).filter(id=campaign_id).first()
        if campaign is None:
            raise Http404("No such campaign")
        if not self._can_write(request, campaign):
            raise PermissionDenied
        report, error = None, None
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = upload_contacts(campaign, upload, upload.name, request.user)
                if not isinstance(report, ContactImport):
                    for row in report.rejected:
                        row.reason = reason_text(row.reason)
            except ImportFileError as exc:
                error = str(exc)
            else:
                if isinstance(report, ContactImport):  # large: imported in the background
                    self.message_user(
                        request,
                        _(
                            "%(file)s is being imported in the background; its report appears under Contact imports "
                            "when done."
                        )
                        % {"file": upload.name},
                        messages.INFO,
                    )
                    return redirect("admin:campaigns_contactimport_change", report.id)
                self.message_user(
                    request,
                    _("%(created)s contacts added, %(rejected)s rows rejected.")
                    % {"created": report.created, "rejected": len(report.rejected)},
                    messages.SUCCESS if not report.rejected else messages.WARNING,
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "campaign": campaign,
            "form": form,
            "report": report,
            "error": error,
            "title": _("Upload a call list to %(campaign)s") % {"campaign": campaign.name},
        }
        return TemplateResponse(request, "admin/campaigns/campaign/upload.html", context)
