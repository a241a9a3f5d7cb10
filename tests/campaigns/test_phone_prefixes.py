"""The import's phone memo (campaigns.phone_prefixes) gives phonenumbers' answer: the bound on each metadata pattern
is checked against every string it could see, and the memo against phonenumbers itself on numbers of every region
and type, valid and not, many of them sharing a key with a number answered before."""

import itertools
import random
import re

import phonenumbers
import pytest
from phonenumbers import phonenumberutil

from campaigns import phone_prefixes
from campaigns.phone_prefixes import decided_after, prefix_length, validate
from campaigns.phones import InvalidPhone, e164_and_zones


@pytest.fixture(autouse=True)
def cold_memo():
    phone_prefixes.clear()
    yield
    phone_prefixes.clear()


def answer(function, text: str, region: str):
    try:
        return function(text, region)
    except InvalidPhone as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("pattern", "whole", "bound"),
    [
        (r"\d{7}", True, 0),
        (r"[2-9]\d{6}", True, 1),
        (r"(?:2[0-5]|3)\d{6}", True, 2),
        (r"5(?:05|82)\d{4}|[2-9]\d{6}", True, 3),
        (r"\d{1,3}5", True, 4),  # a digit that matters after a run of 1-3: its place is at most the 4th
        (r"(?:1[2-4]){2}\d", True, 4),
        (r"\d+5", True, None),  # after an unbounded run: no bound
        (r"(?=2)\d{7}", True, None),  # a lookahead is not read: no bound
        (r"([457]\d{6})$|1", False, 7),  # a national prefix: its longest match
        (r"011|00", False, 3),
    ],
)
def test_the_bound_read_off_a_pattern(pattern, whole, bound):
    assert decided_after(pattern, whole) == bound


@pytest.mark.parametrize(
    "pattern", [r"[2-9]\d{3}", r"(?:2[0-5]|3)\d{1,2}|4", r"\d{1,2}[3-5]\d?", r"1(?:2|34)\d{0,2}", r"(?:[13]\d){2}"]
)
def test_a_bound_holds_for_every_digit_string_up_to_five_digits(pattern):
    """The claim itself, exhaustively: strings of one length that agree on their first k digits all match or all
    do not."""
    k, compiled = decided_after(pattern), re.compile(pattern)
    for length in range(1, 6):
        outcome: dict[str, bool] = {}
        for digits in itertools.product("0123456789", repeat=length):
            text = "".join(digits)
            matched = compiled.fullmatch(text) is not None
            assert outcome.setdefault(text[:k], matched) == matched, (pattern, text, k)


def test_every_calling_code_has_a_bound():
    codes = sorted(phonenumberutil.COUNTRY_CODE_TO_REGION_CODE)
    missing = [c for c in codes if prefix_length(c, phonenumberutil.region_code_for_country_code(c), False) is None]
    assert missing == []
    assert prefix_length(1, "US", False) == 9  # +1: area code, exchange and two digits of the line


def numbers_of_every_region(rng: random.Random) -> list[tuple[str, str]]:
    """Example numbers of every region and type, written with + and nationally, each with variants that keep
    their first digits (the memo's keys) and change the rest, and variants a digit longer or shorter."""
    samples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            plus = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            national = phonenumbers.national_significant_number(example)
            for text in (plus, national, "0" + national):
                for _ in range(2):
                    keep = rng.randint(1 + (text[0] == "+"), len(text))
                    extra = rng.choice([0, 0, 0, 1, -1])
                    tail = "".join(rng.choice("0123456789") for _ in range(max(0, len(text) - keep + extra)))
                    samples.append((text[:keep] + tail, region))
    return samples


def test_the_memo_answers_as_phonenumbers_for_every_region_and_type():
    rng = random.Random(18)
    samples = numbers_of_every_region(rng)
    for _ in range(1500):  # North American numbers, most valid, from lists dialled in four regions
        length = rng.choice([9, 10, 10, 10, 11])
        samples.append(
            ("+1" + "".join(rng.choice("0123456789") for _ in range(length)), rng.choice(["US", "CA", "GB", "CN"]))
        )
        samples.append(("".join(rng.choice("0123456789") for _ in range(length)), rng.choice(["US", "CA"])))
    for _ in range(1500):  # anything after a +
        samples.append(("+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 16))), "US"))
    samples += [(" +1 202 555 0123 ", "US"), ("(202) 555-0123", "US"), ("+44 20 7946 0018", "GB"), ("0", "US")]
    samples += [("011442079460018", "US"), ("00442079460018", "DE"), ("+0123", "US"), ("+", "US"), ("", "US")]
    rng.shuffle(samples)
    expected = {sample: answer(e164_and_zones, *sample) for sample in samples}
    for sample in samples * 2:  # the second time round every key is in the memo
        assert answer(validate, *sample) == expected[sample], sample
    assert 0 < len(phone_prefixes._memo) < len(samples)  # noqa: SLF001 - numbers did share keys


def test_numbers_sharing_a_key_get_their_own_digits_back():
    first, second = validate("+12025550123"), validate("+12025550188")
    assert first == ("+12025550123", ["America/New_York"]) and second == ("+12025550188", ["America/New_York"])
    assert len(phone_prefixes._memo) == 1  # noqa: SLF001
    with pytest.raises(InvalidPhone, match=r"^'\+12021550123' is not a valid phone number$"):
        validate("+12021550123")  # exchange 155: not a valid US number
    with pytest.raises(InvalidPhone, match=r"^'\+12021550177' is not a valid phone number$"):
        validate("+12021550177")


def test_the_memo_stays_bounded_and_right(monkeypatch):
    monkeypatch.setattr(phone_prefixes, "MAX_ENTRIES", 50)
    rng = random.Random(3)
    for _ in range(500):
        text = f"+1{rng.choice([202, 212, 415])}{rng.randint(100, 999)}{rng.randint(0, 9999):04d}"
        assert answer(validate, text, "US") == answer(e164_and_zones, text, "US")
        assert len(phone_prefixes._memo) <= 50  # noqa: SLF001
