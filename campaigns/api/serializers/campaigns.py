"""Campaigns, their actions and rehearsals."""

from __future__ import annotations

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.api.serializers.common import (
    MAX_ATTEMPTS,
    MAX_CALLS_PER_SECOND,
    MAX_CONCURRENT_CALLS,
    MAX_ID,
    MAX_RETRY_MINUTES,
    TTS_ENGINES,
    ProgressSerializer,
    WallClockField,
    e164,
)
from campaigns.models import (
    Campaign,
    Disposition,
    Rehearsal,
    Trunk,
)
from campaigns.selectors import campaign_progress
from pipeline.script import ScriptError, validate_script


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
            raise serializers.ValidationError(_("Not dispositions: %(names)s.") % {"names": ", ".join(unknown)})
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
            raise serializers.ValidationError(_("Must be in the future; to start now, use start."))
        return value


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(help_text="Verify X-Robocall-Signature with it; shown only here.")


class CampaignActionSerializer(serializers.Serializer):
    campaign = CampaignDetailSerializer()
    waiting = serializers.IntegerField(required=False, help_text="Contacts waiting to be dialled (start, resume).")
    cancelled = serializers.IntegerField(required=False, help_text="Attempts cancelled before dialling (cancel).")


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
