"""Phone validation at import speed: phonenumbers' answer for one number, reused for every number that shares its
first K digits and its length (K per calling code, read off libphonenumber's own metadata).

Why that is exact. On a string of ASCII digits, with or without one leading +, every decision phonenumbers takes
(the calling code, the international and national prefixes to strip, which region of a shared calling code, the
number's type and so its validity, the time zone) is a length check, a lookup of leading digits, or a regular
expression from its metadata matched against the national number. `decided_after` reads each expression's syntax
tree (re's own parser) and bounds how many leading digits can change its answer for a string of a given length:
`[2-9]\\d{6}` is decided by its first digit and the length. K is the largest bound over the calling code's
expressions and time-zone prefixes, plus the digits that can be stripped before them (calling code, national
prefix). An expression it cannot bound makes that calling code take the slow path every time. The first number of
a key is validated by phonenumbers (campaigns.phones.e164_and_zones); its E.164 form is kept as a head and the
number's own digits after K (a result that does not end with them is not kept). Tests compare this with
phonenumbers on hundreds of thousands of numbers, valid and not, in every region.
"""

from __future__ import annotations

import functools
import re
from re import _constants as sre  # the stdlib's own regex parser: the same trees re compiles
from re import _parser as sre_parse

import phonenumbers
from phonenumbers import phonenumberutil as _util
from phonenumbers import timezone as phone_timezone

from campaigns.phones import InvalidPhone, e164_and_zones

MAX_ENTRIES = 50_000  # bounded memory (about 17 MB full): cleared when full; a key stands for 10^(length - K) numbers
_PLAIN = re.compile(r"\+?[0-9]+")
_ALL_DIGITS = frozenset(range(ord("0"), ord("9") + 1))
_SLOW = None  # a memo entry: this key's numbers go to phonenumbers every time

# (region, length, first digits) -> (head, zones) for a valid number, (suffix of its error message,) for an invalid
# one, or _SLOW; (region, text) -> the error message of a text that is not plain digits and not a phone number
_memo: dict[tuple, tuple | str | None] = {}


def clear() -> None:
    """Forget every stored answer (benchmarks time an import from a cold start)."""
    _memo.clear()


def _class_digits(items) -> set[int] | None:
    """The ASCII digits a character class `[...]` accepts, or None when it uses something not read here."""
    accepted, negate = set(), False
    for op, av in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            accepted.add(av)
        elif op is sre.RANGE:
            accepted.update(range(av[0], av[1] + 1))
        elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:
            accepted.update(_ALL_DIGITS)
        else:
            return None
    accepted &= _ALL_DIGITS
    return _ALL_DIGITS - accepted if negate else accepted


def _span(items) -> tuple[int, int | None, int | None]:
    """(min length, max length or None, k or None) of a parsed sequence matched whole against a digit string: its
    answer depends only on the string's first k characters and its length (k None: no bound found).

    A concatenation: each part that looks at its digits starts at most `max length of the parts before it` in, so
    it is decided by the first (that offset + its own k) digits; parts that only count digits (`\\d{4,6}`) add
    nothing. An alternation is decided by its largest k; a repetition of a part that looks at digits is that part
    written out n times."""
    low, high, k = 0, 0, 0
    for op, av in items:
        item_low, item_high, item_k = _item(op, av)
        if item_k is None:
            return 0, None, None
        if item_k > 0:
            if high is None:
                return 0, None, None
            k = max(k, high + item_k)
        low += item_low
        high = None if high is None or item_high is None else high + item_high
    return low, high, k


def _item(op, av) -> tuple[int, int | None, int | None]:
    if op is sre.LITERAL:
        return 1, 1, 1
    if op is sre.AT and av in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING, sre.AT_END, sre.AT_END_STRING):
        return 0, 0, 0  # where the string starts or ends: a matter of its length (digit strings have no newline)
    if op is sre.IN:
        digits = _class_digits(av)
        return (1, 1, None) if digits is None else (1, 1, 0 if digits == _ALL_DIGITS else 1)
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, items = av
        return _span(items) if not add_flags and not del_flags else (0, None, None)
    if op is sre.BRANCH:
        spans = [_span(items) for items in av[1]]
        if any(k is None for _, _, k in spans):
            return 0, None, None
        highs = [high for _, high, _ in spans]
        return min(s[0] for s in spans), None if None in highs else max(highs), max(k for _, _, k in spans)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        least, most, items = av
        low, high, k = _span(items)
        unbounded = most == sre.MAXREPEAT or high is None
        if k == 0:  # counts digits only, however many times
            return low * least, None if unbounded else high * most, 0
        if k is None or unbounded:
            return 0, None, None
        return low * least, high * most, (most - 1) * high + k if most else 0
    return 0, None, None  # lookarounds, back references, word boundaries...: not bounded here


@functools.cache
def decided_after(pattern: str, whole: bool = True) -> int | None:
    """How many leading digits decide whether a digit string of a given length matches `pattern`: matched whole
    (re.fullmatch, phonenumbers' number patterns) or at the start (re.match: leading digits, national and
    international prefixes, where the answer and the match's end depend on at most its longest match). None when
    no bound is found."""
    _low, high, k = _span(sre_parse.parse(pattern))
    return k if whole else high


def _metadata(country_code: int) -> list:
    regions = _util.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    found = [
        _util.PhoneMetadata.metadata_for_nongeo_region(country_code)
        if region == _util.REGION_CODE_FOR_NON_GEO_ENTITY
        else _util.PhoneMetadata.metadata_for_region(region)
        for region in regions
    ]
    return [m for m in found if m is not None]


def _zone_prefix(country_code: int) -> int:
    """The longest time-zone prefix (calling code included) that can match a number of this calling code."""
    code = str(country_code)
    keys = [k for k in phone_timezone.TIMEZONE_DATA if k.startswith(code) or code.startswith(k)]
    return max((len(k) for k in keys), default=0)


@functools.cache
def prefix_length(country_code: int, parsing_region: str, national: bool) -> int | None:
    """K for numbers of this calling code parsed with `parsing_region`'s prefixes: the calling code's main region
    for numbers written with +, the default region for national numbers (national True, where an international
    prefix can start the number). None when some expression of the metadata has no bound (slow path)."""
    metadata = _metadata(country_code)
    parsing = _util.PhoneMetadata.metadata_for_region_or_calling_code(country_code, parsing_region)
    if not metadata or parsing is None:
        return None
    bounds = []
    for m in metadata:  # every region of the code: its type patterns, and its leading digits when it shares it
        bounds += [decided_after(d.national_number_pattern) for d in _descs(m)]
        if m.leading_digits:
            bounds.append(decided_after(m.leading_digits, whole=False))
    strip = 0  # what parsing can cut before the national number: its national prefix (or rewrite it)
    if parsing.national_prefix_for_parsing:
        bounds.append(strip := decided_after(parsing.national_prefix_for_parsing, whole=False))
    if national and parsing.international_prefix:  # an IDD at the start, then the digit after it, change it all
        idd = decided_after(parsing.international_prefix, whole=False)
        bounds.append(None if idd is None else idd + 1)
    if None in bounds or strip is None:
        return None
    code = len(str(country_code))  # stripped first: the + form's calling code, or a national number starting with it
    return code + strip + max([*bounds, _zone_prefix(country_code) - code])


def _descs(metadata) -> list:
    return [
        d for d in vars(metadata).values() if isinstance(d, phonenumbers.PhoneNumberDesc) and d.national_number_pattern
    ]


def _entry(text: str, region: str, tail: str) -> tuple | None:
    """What the memo keeps for `text` (validated by phonenumbers): how to answer for any number of the same key."""
    if text[0] != "+":  # dialled from the region with its international prefix: another country's rules apply
        metadata = _util.PhoneMetadata.metadata_for_region(region)
        if metadata is None or (metadata.international_prefix and re.match(metadata.international_prefix, text)):
            return _SLOW
    try:
        e164, zones = e164_and_zones(text, region)
    except InvalidPhone as exc:
        message, shown = str(exc), repr(text)
        return (message[len(shown) :],) if message.startswith(shown) else _SLOW
    if not e164.endswith(tail):
        return _SLOW
    return e164[: len(e164) - len(tail)], tuple(zones)


@functools.cache
def _cut(region: str, lead: str) -> int | None:
    """Where a plain number's key ends (K, plus its +): `lead` is a + number's first three digits (its calling code
    is among them), empty for a national number of `region`."""
    if not lead:
        country_code = _util.country_code_for_region(region)
        k = prefix_length(country_code, region, True) if country_code else None
        return k
    digits = lead[1:]  # phonenumbers' reading: a leading 0 is no calling code, else the shortest known one
    codes = [] if digits[0] == "0" else [int(digits[:n]) for n in range(1, len(digits) + 1)]
    country_code = next((c for c in codes if c in _util.COUNTRY_CODE_TO_REGION_CODE), 0)
    if not country_code:
        return None
    k = prefix_length(country_code, _util.region_code_for_country_code(country_code), False)
    return None if k is None else k + 1


def _written_otherwise(raw: str, region: str) -> tuple[str, list[str]]:
    """A number with spaces, brackets, letters... goes to phonenumbers; what is not a number at all ("n/a", "none",
    a cut-off cell: the same few texts over and over in a bad file) is remembered by its exact text."""
    key = (region, raw)
    message = _memo.get(key)
    if message is not None:
        raise InvalidPhone(message)
    try:
        return e164_and_zones(raw, region)
    except InvalidPhone as exc:
        if len(_memo) >= MAX_ENTRIES:
            _memo.clear()
        _memo[key] = str(exc)
        raise


def validate(raw: str, region: str = "US") -> tuple[str, list[str]]:
    """Same answer as campaigns.phones.e164_and_zones(raw, region), in about a microsecond for numbers written as
    +digits or national digits whose key was seen before."""
    text = raw.strip() if raw else ""
    if not _PLAIN.fullmatch(text):
        return _written_otherwise(raw, region)
    cut = _cut(region, text[:4] if text[0] == "+" else "")
    if cut is None:
        return e164_and_zones(text, region)
    key = (region, len(text), text[:cut])
    entry = _memo.get(key, False)
    if entry is False:
        if len(_memo) >= MAX_ENTRIES:
            _memo.clear()
        entry = _memo[key] = _entry(text, region, text[cut:])
    if entry is _SLOW:
        return e164_and_zones(text, region)
    if len(entry) == 1:
        raise InvalidPhone(repr(text) + entry[0])
    return entry[0] + text[cut:], list(entry[1])
