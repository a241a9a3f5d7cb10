"""Phone numbers: parse to E.164 and find the callee's time zone (phonenumbers, Google's libphonenumber)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import phonenumberutil as _util
from phonenumbers import timezone as phone_timezone

UNKNOWN_ZONE = "Etc/Unknown"


class InvalidPhone(ValueError):
    pass


def _parse(raw: str, default_region: str) -> tuple[str, phonenumbers.PhoneNumber]:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("phone is empty")
    try:
        return text, phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{text!r} is not a phone number ({exc})") from None


def to_e164(raw: str, default_region: str = "US") -> str:
    text, number = _parse(raw, default_region)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zones_for(e164: str) -> list[str]:
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return [z for z in zones if z != UNKNOWN_ZONE]


def e164_and_zones(raw: str, default_region: str = "US") -> tuple[str, list[str]]:
    """`to_e164` and `zones_for` in one go, parsing the number once and typing it once (imports call this for every
    row: the two public functions each parse and type the number again, which was most of an import's time).
    Same results as `to_e164(raw)` then `zones_for(e164)` (tests.campaigns.test_imports compares them)."""
    text, number = _parse(raw, default_region)
    region, ntype = _region_and_type(number)
    if ntype == _util.PhoneNumberType.UNKNOWN:
        raise InvalidPhone(f"{text!r} is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if _util.is_number_type_geographical(ntype, number.country_code):
        zones = _tz_data_for(e164[1:])
    else:
        zones = phone_timezone._country_level_time_zones_for_number(number)  # noqa: SLF001
    return e164, [z for z in zones if z != UNKNOWN_ZONE]


def _tz_data_for(digits: str) -> list[str]:
    data = phone_timezone.TIMEZONE_DATA
    for prefix_len in range(phone_timezone.TIMEZONE_LONGEST_PREFIX, 0, -1):
        zones = data.get(digits[:prefix_len])
        if zones is not None:
            return zones
    return [UNKNOWN_ZONE]


def _region_and_type(number) -> tuple[str | None, int]:
    """phonenumbers' region_code_for_number then number_type, typing the number once: for a calling code shared by
    several regions (+1) the region is the first whose patterns type the number, and that typing is the answer."""
    unknown = _util.PhoneNumberType.UNKNOWN
    regions = _util.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code)
    if regions is None:
        return None, unknown
    nsn = _util.national_significant_number(number)
    if len(regions) == 1:
        region = regions[0]
    else:
        region = None
        for candidate in regions:
            metadata = _util.PhoneMetadata.metadata_for_region(candidate.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if _util.re_compile(metadata.leading_digits).match(nsn):
                    region = candidate
                    break
            else:
                ntype = _util._number_type_helper(nsn, metadata)  # noqa: SLF001
                if ntype != unknown:
                    # is_valid_number's own checks on this region pass by construction (its code, its metadata)
                    return candidate, ntype
        if region is None:
            return None, unknown
    metadata = _util.PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region.upper())
    if metadata is None or (
        region != _util.REGION_CODE_FOR_NON_GEO_ENTITY
        and number.country_code != _util.country_code_for_valid_region(region)
    ):
        return region, unknown
    return region, _util._number_type_helper(nsn, metadata)  # noqa: SLF001
