"""Call lists and what came of them: contacts, imports, attempts with turns, rehearsals, do-not-call, webhooks."""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.admin.base import ReadOnlyTenantAdmin, TenantScopedAdmin
from campaigns.models import (
    CallAttempt,
    Contact,
    ContactImport,
    DoNotCall,
    Rehearsal,
    Turn,
    WebhookDelivery,
)
from campaigns.services.import_reasons import reason_text


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    exclude = ["tenant"]  # derived from the campaign
    list_display = ["phone", "first_name", "last_name", "campaign", "timezone", "status"]
    list_filter = ["status"]
    search_fields = ["phone", "first_name", "last_name"]


class TurnInline(admin.TabularInline):
    model = Turn
    fields = ["index", "speaker", "text", "intent", "confidence", "start_ms", "end_ms", "response_latency_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CallAttempt)
class CallAttemptAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "contact",
        "direction",
        "caller",
        "campaign",
        "status",
        "disposition",
        "transfer_status",
        "dial_status",
        "sip_code",
        "talk_ms",
        "script_version",
        "ended_at",
    ]
    list_filter = ["status", "disposition", "direction"]
    search_fields = ["contact__phone", "caller"]
    inlines = [TurnInline]
    readonly_fields = ["analysis_pretty"]

    @admin.display(description="Analysis")
    def analysis_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.analysis, indent=2))


@admin.register(Rehearsal)
class RehearsalAdmin(ReadOnlyTenantAdmin):
    """Rehearsals are started from the campaign list (action), the API or `manage.py rehearse`; read here."""

    list_display = ["id", "campaign", "status", "calls", "requested_by", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["report_link", "report_pretty"]
    exclude = ["report", "script"]

    @admin.display(description="Report page")
    def report_link(self, obj):
        return format_html('<a href="{}">open</a>', reverse("campaign-rehearsal", args=[obj.campaign_id, obj.id]))

    @admin.display(description="Report")
    def report_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.report, indent=2))


@admin.register(DoNotCall)
class DoNotCallAdmin(TenantScopedAdmin):
    """Tenants manage their own list; superusers also see and manage the global list (no tenant)."""

    list_display = ["phone", "tenant", "reason", "created_at"]
    search_fields = ["phone"]

    def get_queryset(self, request):
        if request.user.is_superuser:
            return DoNotCall.objects.all()
        return super().get_queryset(request)


@admin.register(ContactImport)
class ContactImportAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "filename",
        "campaign",
        "status",
        "rows",
        "created_count",
        "rejected_count",
        "created_at",
        "uploaded_by",
    ]
    list_filter = ["status"]
    readonly_fields = ["rejected_rows"]
    exclude = ["stored_file"]
    REJECTED_SHOWN = 1000

    @admin.display(description=gettext_lazy("Rejected rows"))
    def rejected_rows(self, obj):
        shown = list(obj.rejections.order_by("line").values_list("line", "phone", "reason")[: self.REJECTED_SHOWN])
        if not shown:
            return "-"
        shown = [(line, phone, reason_text(reason)) for line, phone, reason in shown]
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", shown)
        more = obj.rejected_count - len(shown)
        note = ""
        if more > 0:
            note = format_html(
                "<p>{}</p>", _("%(count)s more rows rejected (the API lists them all).") % {"count": more}
            )
        head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th></tr>", _("Line"), _("Phone"), _("Reason"))
        return format_html("<table>{}{}</table>{}", head, rows, note)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyTenantAdmin):
    list_display = ["event", "campaign", "status", "tries", "last_status_code", "created_at", "delivered_at"]
    list_filter = ["status", "event"]
    readonly_fields = ["payload_pretty", "last_error"]

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2))


# API keys: DRF's own token admin would make plain keys that no longer authenticate; ours lists digests (superusers
