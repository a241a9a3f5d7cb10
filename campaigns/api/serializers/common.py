"""Shared pieces: limits, the error envelope, phone and wall-clock fields, query-string filters."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import (
    CallAttempt,
    Campaign,
    Contact,
    Disposition,
)
from campaigns.phones import InvalidPhone, to_e164
from campaigns.services.import_reasons import reason_text

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
        raise serializers.ValidationError(reason_text(str(exc))) from None


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
            raise serializers.ValidationError({"date_to": [_("date_to is before date_from.")]})
        return attrs


class DoNotCallFilterSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, max_length=20, help_text="Substring of the E.164 number.")
