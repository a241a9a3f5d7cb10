"""Offline intent detection: the semantic classifier and the rules it keeps, priorities, callback time slots.

The old keyword/fuzzy classifier is still tested as `classify_rules` (the fallback and the benchmark's baseline).
"""

import datetime as dt
import zoneinfo

import pytest

from pipeline.nlp import (
    ASR_TRUSTED,
    BUILTIN_INTENTS,
    FUZZY_THRESHOLD,
    MIN_CONFIDENCE,
    UNKNOWN,
    classify,
    classify_dtmf,
    classify_rules,
    normalise,
    similarity,
    spoken_digits,
)

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
# Wednesday 11 June 2025, 10:15 in the callee's zone.
NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=LA)

PHRASES = {
    "affirm": [
        "Yes, I will be there.",
        "yeah sure",
        "Yep!",
        "Absolutely.",
        "Sounds good to me",
        "OK",
        "that works",
        "Of course I'll be there",
        "correct",
        "definitely",
    ],
    "deny": [
        "No, I can't make it.",
        "nope",
        "I won\u2019t be able to come",
        "I will not be there",
        "I'm not interested",
        "I don't think so",
        "I cannot come tomorrow",
        "unable to attend, sorry",
    ],
    "callback_request": [
        "Please call me back later",
        "I'm driving right now",
        "can you call again another time",
        "this is not a good time",
        "I'm busy now",
        "call me later",
    ],
    "opt_out": [
        "Stop calling me",
        "Take me off your list",
        "unsubscribe",
        "Don't call me again",
        "dont call this number",
        "I want to opt out",
        "never call me again",
        "remove me please",
    ],
    "wrong_person": [
        "You have the wrong number",
        "wrong person",
        "There is no one here by that name",
        "She doesn't live here anymore",
        "that's not me",
    ],
    "ask_repeat": [
        "Sorry, could you repeat that?",
        "Pardon?",
        "What did you say?",
        "I didn't catch that",
        "come again?",
        "say that again",
    ],
    "question": [
        "What time is the appointment?",
        "Where is the clinic?",
        "Who is calling?",
        "Can I bring my husband?",
        "Is it with doctor Smith?",
        "how long will it take",
        "who is this for?",  # was wrong_person: asking for information not given is a question (NLU.md)
    ],
    "digits": ["one two three four", "4, 2, 7, 1.", "My number is 555-1234", "double five nine", "seven"],
    UNKNOWN: ["banana", "the weather is lovely today", "hmm", "", "   ", "?!", "uh"],
}


@pytest.mark.parametrize(("expected", "text"), [(intent, text) for intent, texts in PHRASES.items() for text in texts])
def test_classify_every_intent(expected, text):
    intent = classify(text)
    assert intent.name == expected, text
    assert 0.0 <= intent.confidence <= 1.0


def test_confidence_scales_with_asr_confidence():
    # Changed from exact 0.95/0.475: the confidence is now the classifier's probability, not a rule constant.
    sure = classify("yes").confidence
    assert sure >= MIN_CONFIDENCE
    assert classify("yes", asr_confidence=ASR_TRUSTED).confidence == sure  # a clear transcript: at its word
    assert classify("yes", asr_confidence=ASR_TRUSTED / 2).confidence == pytest.approx(sure / 2, abs=0.001)
    assert classify_rules("yes").confidence == 0.95
    assert classify_rules("yes", asr_confidence=0.5).confidence == 0.475


def test_empty_text_is_unknown_with_zero_confidence():
    assert classify("").confidence == 0.0
    assert classify("...").confidence == 0.0


def test_normalise():
    assert normalise("  No!!  I DON\u2019T   think so. ") == "no i don't think so"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no, stop calling me", "opt_out"),
        ("No. Remove me from your list.", "opt_out"),
        ("yes, stop calling me", "opt_out"),
        ("wrong number, stop calling", "opt_out"),
        ("no, call me back tomorrow", "callback_request"),
        ("yes but call me back later", "callback_request"),
        ("no, you have the wrong number", "wrong_person"),
        ("no sorry, could you repeat that", "ask_repeat"),
        ("yes, no, I can't", "deny"),
    ],
)
def test_priority_when_an_answer_carries_several_intents(text, expected):
    assert classify(text).name == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yess i wil be their", "affirm"),
        ("yes i wil be thair", "affirm"),
        ("stop caling me", "opt_out"),
        ("yu have the rong numbr", "wrong_person"),
        ("coud you repet that", "ask_repeat"),
        ("pleese cal me bak tomorow", "callback_request"),
    ],
)
def test_fuzzy_matching_absorbs_asr_errors(text, expected):
    intent = classify_rules(text, asr_confidence=1.0)
    assert intent.name == expected
    assert FUZZY_THRESHOLD <= intent.confidence < 1.0
    # The semantic classifier gets misspellings right or does not act on them (letters are only a bonus there):
    # whisper writes real words, so "rong numbr" is rarer on a call than in this list.
    semantic = classify(text)
    assert semantic.name == expected or semantic.confidence < MIN_CONFIDENCE


def test_fuzzy_confidence_includes_asr_confidence():
    sure = classify_rules("yess i wil be their").confidence
    assert classify_rules("yess i wil be their", asr_confidence=0.5).confidence == pytest.approx(sure / 2, abs=0.001)


def test_words_inside_other_words_do_not_trigger_rules():
    # "no" inside "know"/"nothing", "ok" inside "book": whole words only
    assert classify_rules("i know").name == UNKNOWN
    assert classify_rules("booking").name == UNKNOWN
    # The semantic classifier always has a nearest intent: what matters is that it is not acted on.
    for text in ("i know", "booking"):
        intent = classify(text)
        assert intent.name == UNKNOWN or intent.confidence < MIN_CONFIDENCE, text


def test_no_problem_is_an_acceptance():
    assert classify("No problem, I will be there").name == "affirm"


# --- callback slots -------------------------------------------------------------------------------------


def slot(text: str, now: dt.datetime = NOW) -> dt.datetime | None:
    intent = classify(text, now)
    assert intent.name == "callback_request", text
    value = intent.slots.get("callback_at")
    return dt.datetime.fromisoformat(value) if value else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me back tomorrow afternoon", dt.datetime(2025, 6, 12, 14, 0)),
        ("call me back tomorrow", dt.datetime(2025, 6, 12, 10, 0)),
        ("please call me back tomorrow morning", dt.datetime(2025, 6, 12, 9, 0)),
        ("call me back on friday", dt.datetime(2025, 6, 13, 10, 0)),
        ("call me back friday evening", dt.datetime(2025, 6, 13, 18, 0)),
        ("call back monday", dt.datetime(2025, 6, 16, 10, 0)),
        ("call me back wednesday", dt.datetime(2025, 6, 18, 10, 0)),  # today is Wednesday: next week's
        ("call me back next week", dt.datetime(2025, 6, 16, 10, 0)),
        ("call me back in two hours", dt.datetime(2025, 6, 11, 12, 15)),
        ("call me back in 3 hours", dt.datetime(2025, 6, 11, 13, 15)),
        ("call me back in an hour", dt.datetime(2025, 6, 11, 11, 15)),
        ("call me back this afternoon", dt.datetime(2025, 6, 11, 14, 0)),
        ("call me back tonight", dt.datetime(2025, 6, 11, 19, 0)),
        ("call me back this morning", dt.datetime(2025, 6, 12, 9, 0)),  # already past 9: tomorrow's
    ],
)
def test_callback_time_in_the_contacts_zone(text, expected):
    when = slot(text)
    assert when == expected.replace(tzinfo=LA)
    assert when.utcoffset() == dt.timedelta(hours=-7)  # Los Angeles summer time, not the server's UTC


def test_callback_time_follows_the_zone_of_now():
    now_ny = NOW.astimezone(NEW_YORK)  # the same instant, 13:15 in New York
    when = slot("call me back tomorrow afternoon", now_ny)
    assert when == dt.datetime(2025, 6, 12, 14, 0, tzinfo=NEW_YORK)
    assert when.utcoffset() == dt.timedelta(hours=-4)
    assert slot("call me back in two hours", now_ny) == dt.datetime(2025, 6, 11, 15, 15, tzinfo=NEW_YORK)


def test_callback_in_winter_uses_standard_time():
    when = slot("call me back tomorrow afternoon", dt.datetime(2025, 1, 15, 16, 0, tzinfo=LA))
    assert when.isoformat() == "2025-01-16T14:00:00-08:00"


def test_callback_without_a_time_has_no_slot():
    assert classify("call me back later", NOW).slots == {}
    assert classify("call me back tomorrow").slots == {}  # no now: nothing to resolve against


def test_an_absurd_interval_is_no_callback_time():
    # Bad input: a number no timedelta holds is still a callback request, with no time (never an exception).
    intent = classify("call me back in 99999999999 hours", NOW)
    assert intent.name == "callback_request"
    assert "callback_at" not in intent.slots
    assert slot("call me back in 9000 hours") is None  # past a year: not a time we would call at
    assert slot("call me back in 48 hours") == dt.datetime(2025, 6, 13, 10, 15, tzinfo=LA)


def test_other_intents_carry_no_slots():
    assert classify("yes tomorrow afternoon is fine", NOW).slots == {}


def test_in_two_hours_across_dst_end_is_two_real_hours():
    now = dt.datetime(2025, 11, 2, 0, 30, tzinfo=NEW_YORK)
    assert slot("call me back in two hours", now).astimezone(dt.UTC) == now.astimezone(dt.UTC) + dt.timedelta(hours=2)


def test_every_builtin_intent_is_tested():
    assert set(PHRASES) == BUILTIN_INTENTS


# --- digits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("one two three", "123"),
        ("1, 2, 3.", "123"),
        ("zero oh nine", "009"),
        ("double five triple nine", "55999"),
        ("twenty three", "23"),
        ("forty", "40"),
        ("fifteen", "15"),
        ("it's 555-1234", "5551234"),
        ("for two seven one", "4271"),  # ASR writes "for" and "to" for digits said in a row
        ("my number is 4 to 7", "427"),
        ("um it is eight eight", "88"),
    ],
)
def test_spoken_digits(text, digits):
    assert spoken_digits(normalise(text)) == digits
    intent = classify(text)
    assert (intent.name, intent.slots) == ("digits", {"digits": digits, "source": "speech"})


@pytest.mark.parametrize(
    "text",
    ["I'll be there at two", "call me back in two hours", "no one", "I want to go to the one downtown", "for sure"],
)
def test_numbers_inside_an_answer_are_not_a_digits_answer(text):
    assert spoken_digits(normalise(text)) is None
    assert classify(text).name != "digits"


def test_opt_out_wins_over_digits():
    assert classify("stop calling one two three").name == "opt_out"


def test_dtmf():
    assert classify_dtmf("1234#") == classify_dtmf("1234")
    assert classify_dtmf("1234").slots == {"digits": "1234", "source": "dtmf"}
    assert classify_dtmf("1234").confidence == 1.0
    mapped = classify_dtmf("2", {"1": "affirm", "2": "deny"})
    assert (mapped.name, mapped.slots) == ("deny", {"dtmf": "2"})
    assert classify_dtmf("3", {"1": "affirm"}).name == "digits"
    assert classify_dtmf("#").name == UNKNOWN


# --- campaign intents -------------------------------------------------------------------------------------

CAMPAIGN = {
    "reschedule": ["reschedule", "move my appointment", "a different day"],
    "price": ["how much does it cost", "what is the price"],
    "affirm": ["count me in"],  # a built-in name gets extra examples
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can I reschedule?", "reschedule"),  # the campaign's phrase beats the built-in question rule
        ("no, I need a different day", "reschedule"),  # ... and the built-in deny rule
        ("I'd like to move my appointment please", "reschedule"),
        ("how much does it cost", "price"),
        ("how much will this cost me", "price"),  # by meaning; was "um what's the prize" (fuzzy), now in classify_rules
        ("count me in", "affirm"),
        ("stop calling me, I want to reschedule", "opt_out"),  # opt-outs always win
        ("yes", "affirm"),  # built-ins still work
    ],
)
def test_campaign_intents(text, expected):
    assert classify(text, intents=CAMPAIGN).name == expected


def test_fuzzy_campaign_example_in_the_rules_classifier():
    assert classify_rules("um what's the prize", intents=CAMPAIGN).name == "price"


def test_campaign_intents_are_per_call():
    assert classify("Can I reschedule?").name == "question"
    assert classify("how much does it cost").name == "question"


def test_similarity_finds_an_example_inside_a_longer_answer():
    assert similarity("um well i would like to move my appointment please", "move my appointment") > 0.9
    assert similarity("banana", "move my appointment") < FUZZY_THRESHOLD
