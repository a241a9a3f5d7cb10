"""Contacts, imports, calls with their turns, the do-not-call list and memberships."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers

from campaigns.api.serializers.common import (
    e164,
)
from campaigns.models import (
    CallAttempt,
    Contact,
    ContactImport,
    Disposition,
    DoNotCall,
    Membership,
    Turn,
)
from campaigns.services.import_reasons import reason_text


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV: phone (required), first_name, last_name, timezone, other columns.")


class ReasonField(serializers.CharField):
    """A rejection reason, stored in English, in the reader's language."""

    def to_representation(self, value) -> str:
        return reason_text(str(value))


class RejectedRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    phone = serializers.CharField(allow_blank=True)
    reason = ReasonField()


class ImportReportSerializer(serializers.Serializer):
    import_id = serializers.IntegerField()
    rows = serializers.IntegerField(help_text="Rows read (blank lines do not count).")
    created = serializers.IntegerField(help_text="Contacts added.")
    rejected = RejectedRowSerializer(many=True)


class ContactImportSerializer(serializers.ModelSerializer):
    """An upload: large files are imported in the background; poll until status is done or failed."""

    rejected = RejectedRowSerializer(many=True, read_only=True)
    created = serializers.IntegerField(source="created_count", read_only=True)

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "campaign",
            "filename",
            "status",
            "rows",
            "created",
            "rejected_count",
            "rejected",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = [
            "id",
            "campaign",
            "phone",
            "first_name",
            "last_name",
            "timezone",
            "call_zones",
            "custom_fields",
            "status",
            "skip_reason",
            "source_line",
            "created_at",
        ]
        read_only_fields = fields


class ContactBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "phone", "first_name", "last_name"]
        read_only_fields = fields


class TurnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Turn
        fields = [
            "index",
            "speaker",
            "node",
            "text",
            "intent",
            "confidence",
            "slots",
            "start_ms",
            "end_ms",
            "asr_latency_ms",
            "response_latency_ms",
        ]
        read_only_fields = fields


class CallSerializer(serializers.ModelSerializer):
    contact = ContactBriefSerializer(read_only=True)
    disposition = serializers.ChoiceField(
        choices=Disposition.choices, allow_blank=True, read_only=True, help_text="Empty until the call is finalised."
    )
    has_recording = serializers.SerializerMethodField()
    script_version = serializers.IntegerField(
        source="script_version.number",
        read_only=True,
        allow_null=True,
        help_text="Which version of the campaign's script the call ran (null: not dialled).",
    )

    class Meta:
        model = CallAttempt
        fields = [
            "id",
            "campaign",
            "contact",
            "attempt_number",
            "status",
            "disposition",
            "outcome",
            "dial_status",
            "sip_code",
            "end_reason",
            "error",
            "answered_at",
            "ended_at",
            "talk_ms",
            "direction",
            "caller",
            "transfer_target",
            "transferred_at",
            "transfer_status",
            "has_recording",
            "script_version",
            "created_at",
        ]
        read_only_fields = fields

    def get_has_recording(self, attempt: CallAttempt) -> bool:
        return bool(attempt.recording)


class CallDetailSerializer(CallSerializer):
    turns = TurnSerializer(many=True, read_only=True)

    class Meta(CallSerializer.Meta):
        fields = [*CallSerializer.Meta.fields, "full_transcript", "analysis", "turns"]
        read_only_fields = fields


class DoNotCallSerializer(serializers.ModelSerializer):
    class Meta:
        model = DoNotCall
        fields = ["id", "phone", "reason", "created_at"]
        read_only_fields = ["created_at"]

    def validate_phone(self, value: str) -> str:
        phone = e164(value)
        tenant = self.context["tenant"]
        if DoNotCall.objects.for_tenant(tenant).filter(phone=phone).exists():
            raise serializers.ValidationError(_("%(phone)s is already on the do-not-call list.") % {"phone": phone})
        return phone


class MembershipSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(source="tenant.slug", read_only=True)
    name = serializers.CharField(source="tenant.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["slug", "name", "role"]
        read_only_fields = fields
