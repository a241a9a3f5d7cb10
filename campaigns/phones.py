"""Phone numbers: parse to E.164 and find the callee's time zone (phonenumbers, Google's libphonenumber)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as phone_timezone

UNKNOWN_ZONE = "Etc/Unknown"


class InvalidPhone(ValueError):
    pass


def to_e164(raw: str, default_region: str = "US") -> str:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("phone is empty")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{text!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zones_for(e164: str) -> list[str]:
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return [z for z in zones if z != UNKNOWN_ZONE]
