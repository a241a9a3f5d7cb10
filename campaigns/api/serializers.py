"""API representations. Tenant and ownership fields are never writable: views set them from the URL."""

from __future__ import annotations

import copy

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import (
    CallAttempt,
    Campaign,
    Contact,
    ContactImport,
    Disposition,
    DoNotCall,
    Membership,
    Rehearsal,
    Trunk,
    Turn,
)
from campaigns.phones import InvalidPhone, to_e164
from campaigns.selectors import campaign_progress
from pipeline.script import ScriptError, validate_script

MAX_CONCURRENT_CALLS = 1000
MAX_ATTEMPTS = 10
MAX_ID = 2**63 - 1
MAX_CALLS_PER_SECOND = 100.0
MAX_RETRY_MINUTES = 60 * 24 * 30
TTS_ENGINES = ["", "piper", "gtts"]  # pipeline.tts.build_engines; empty: the deployment default


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine word: invalid, not_found, permission_denied, ...")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Invalid field (dotted when nested) -> messages; empty for errors that are not about fields.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def e164(value: str) -> str:
    try:
        return to_e164(value, getattr(settings, "DEFAULT_PHONE_REGION", "US"))
    except InvalidPhone as exc:
        raise serializers.ValidationError(str(exc)) from None


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "09:00"}
)
class WallClockField(serializers.TimeField):
    """A local time of day, "HH:MM" (seconds accepted on input). Not RFC 3339 `time`: it has no offset."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class ProgressSerializer(serializers.Serializer):
    contacts = serializers.IntegerField()
    contacts_done = serializers.IntegerField(help_text="Contacts that need nothing more (done or skipped).")
    attempts = serializers.IntegerField()
    finished = serializers.IntegerField()
    percent = serializers.IntegerField(help_text="contacts_done / contacts, in percent.")
    by_disposition = serializers.DictField(child=serializers.IntegerField())


class CampaignSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    window_start = WallClockField(required=False, help_text="Calling window opens (callee's local time).")
    window_end = WallClockField(required=False, help_text="Calling window closes (callee's local time).")
    script = serializers.JSONField(
        required=False, help_text="Conversation script (see README: Scripts); omitted: the default script."
    )
    max_concurrent_calls = serializers.IntegerField(min_value=1, max_value=MAX_CONCURRENT_CALLS, required=False)
    max_attempts = serializers.IntegerField(min_value=1, max_value=MAX_ATTEMPTS, required=False)
    tts_engine = serializers.ChoiceField(choices=TTS_ENGINES, required=False, help_text="Empty: the default.")
    trunk = serializers.PrimaryKeyRelatedField(
        queryset=Trunk.objects.none(), allow_null=True, required=False, help_text="One of this tenant's trunks."
    )
    calls_per_second = serializers.FloatField(min_value=0.01, max_value=MAX_CALLS_PER_SECOND, required=False)
    retry_policy = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=MAX_RETRY_MINUTES),
        required=False,
        help_text="Minutes before a retry, per disposition; a disposition not listed is not retried.",
    )
    disposition_map = serializers.DictField(
        child=serializers.ChoiceField(choices=Disposition.choices),
        required=False,
        help_text='Script outcome -> disposition, e.g. {"confirmed": "interested"}.',
    )
    webhook_url = serializers.URLField(
        allow_blank=True, required=False, help_text="POSTed on call and campaign completion (HMAC-signed)."
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "script",
            "caller_id",
            "language",
            "tts_engine",
            "voice",
            "trunk",
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
            "dry_run",
            "created_by",
            "created_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = ["status", "created_at", "started_at", "completed_at"]

    def get_fields(self):
        fields = super().get_fields()
        tenant = self.context.get("tenant")
        if tenant is not None and not fields["trunk"].read_only:
            fields["trunk"].queryset = Trunk.objects.for_tenant(tenant)  # another tenant's id: "does not exist"
        return fields

    def validate_retry_policy(self, value: dict) -> dict:
        unknown = sorted(set(value) - set(Disposition.values))
        if unknown:
            raise serializers.ValidationError(f"Not dispositions: {', '.join(unknown)}.")
        return value

    def validate_script(self, value):
        try:
            return validate_script(value)
        except ScriptError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_caller_id(self, value: str) -> str:
        return e164(value)

    def validate(self, attrs):
        # The model's own invariants (Campaign.clean), on the instance as it would be saved.
        candidate = copy.copy(self.instance) if self.instance is not None else Campaign()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        tenant = self.context.get("tenant")
        if tenant is not None and candidate.tenant_id is None:
            candidate.tenant = tenant
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class CampaignDetailSerializer(CampaignSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "progress"]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, campaign: Campaign) -> dict:
        progress = campaign_progress(campaign)
        return ProgressSerializer(
            {
                "contacts": progress.contacts,
                "contacts_done": progress.contacts_done,
                "attempts": progress.attempts,
                "finished": progress.finished,
                "percent": progress.percent,
                "by_disposition": progress.by_disposition,
            }
        ).data


class ScheduleSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField(help_text="When the dispatcher starts the campaign (ISO 8601, with zone).")

    def validate_starts_at(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Must be in the future; to start now, use start.")
        return value


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(help_text="Verify X-Robocall-Signature with it; shown only here.")


class CampaignActionSerializer(serializers.Serializer):
    campaign = CampaignDetailSerializer()
    waiting = serializers.IntegerField(required=False, help_text="Contacts waiting to be dialled (start, resume).")
    cancelled = serializers.IntegerField(required=False, help_text="Attempts cancelled before dialling (cancel).")


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV: phone (required), first_name, last_name, timezone, other columns.")


class RejectedRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    phone = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


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
            raise serializers.ValidationError(f"{phone} is already on the do-not-call list.")
        return phone


class MembershipSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(source="tenant.slug", read_only=True)
    name = serializers.CharField(source="tenant.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["slug", "name", "role"]
        read_only_fields = fields


# --- query-string filters (validated like a body, so a bad value is a 400 that names the parameter) --------


class CampaignFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)


class ContactFilterSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    status = serializers.ChoiceField(choices=Contact.Status.choices, required=False)
    phone = serializers.CharField(required=False, max_length=20, help_text="Substring of the E.164 number.")


class CallFilterSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    contact = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    disposition = serializers.ChoiceField(choices=Disposition.choices, required=False)
    status = serializers.ChoiceField(choices=CallAttempt.Status.choices, required=False)
    date = serializers.DateField(required=False, help_text="Calls created on this day (UTC).")
    date_from = serializers.DateField(required=False, help_text="Calls created on or after this day (UTC).")
    date_to = serializers.DateField(required=False, help_text="Calls created on or before this day (UTC).")

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["date_to is before date_from."]})
        return attrs


class DoNotCallFilterSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, max_length=20, help_text="Substring of the E.164 number.")


class RehearsalRequestSerializer(serializers.Serializer):
    calls = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="How many virtual calls (at most REHEARSAL_MAX_CALLS)."
    )
    mix = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=100),
        required=False,
        help_text="Persona -> percent of the calls, adding up to 100; personas: agree, decline, callback, "
        "opt_out, wrong_person, voicemail, voicemail_no_beep, silent, repeat, noisy, hang_up, slow, question, "
        "ask_person, busy, no_answer. Default: agree 40, decline 20, callback 10, opt_out 5, wrong_person 5, "
        "voicemail 10, silent 5, repeat 5.",
    )
    seed = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="Repeat an earlier rehearsal's picks."
    )


class RehearsalSerializer(serializers.ModelSerializer):
    finished_calls = serializers.SerializerMethodField(help_text="Calls over so far.")
    report = serializers.JSONField(read_only=True, help_text="Empty until every call is over.")

    class Meta:
        model = Rehearsal
        fields = [
            "id",
            "campaign",
            "status",
            "calls",
            "finished_calls",
            "mix",
            "seed",
            "created_at",
            "finished_at",
            "error",
            "report",
        ]
        read_only_fields = fields

    def get_finished_calls(self, rehearsal) -> int:
        return rehearsal.rehearsal_calls.filter(status="ended").count()
