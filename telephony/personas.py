"""Virtual callees: who they are and what they say (no audio here: telephony.simulator plays them).

PERSONAS: the digit personas of dry runs and the demo (a virtual number's last digit picks one). LIBRARY: the
rehearsal personas by name, each with several wordings (one is picked per call from the call's seed), the intent
each line means, the disposition a well-made script should give them, and how they behave on the line. Plain
data, importable by web code (no numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from telephony.interface import DialStatus

REPLY_AFTER_MS = 600  # a persona answers after this much silence following the robot's speech


@dataclass(frozen=True)
class Persona:
    name: str
    lines: tuple[str, ...] = ()
    dial_status: DialStatus = DialStatus.ANSWERED
    sip_code: int = 200
    # What the robot's stored transcript should show this callee said (for demo and tests).
    expected_disposition: str = ""
    # Rehearsal personas: other wordings of `lines` (one sequence is picked per call), the intent each line
    # means (so a report can tell when the robot understood something else), and how the callee behaves.
    phrasings: tuple[tuple[str, ...], ...] = ()
    means: tuple[str, ...] = ()
    description: str = ""
    greeting: tuple[str, ...] = ()  # an answering machine: spoken at once on answer, without waiting
    beep: bool = False  # after the greeting, a 1 kHz tone (the machine starts recording)
    noise_dbfs: float | None = None  # white noise on the line under everything the callee sends
    reply_after_ms: int = REPLY_AFTER_MS
    phrase_gap_ms: int = 0  # a slow talker: this much silence between the comma-separated parts of a line
    hangs_up_after_robot_ms: int | None = None  # hangs up once it has heard this much of the robot's speech

    def wordings(self) -> tuple[tuple[str, ...], ...]:
        return self.phrasings or (self.lines,)


PERSONAS: dict[str, Persona] = {
    "1": Persona("agrees", ("Yes, I will be there.",), expected_disposition="interested"),
    "2": Persona("declines", ("No, I can't make it.",), expected_disposition="not_interested"),
    "3": Persona(
        "asks for a callback",
        ("I'm busy right now, please call me back tomorrow afternoon.",),
        expected_disposition="callback_requested",
    ),
    "4": Persona("opts out", ("Stop calling me and remove me from your list.",), expected_disposition="opted_out"),
    "5": Persona("wrong person", ("Sorry, you have the wrong number.",), expected_disposition="wrong_person"),
    "6": Persona("busy", dial_status=DialStatus.BUSY, sip_code=486, expected_disposition="busy"),
    "7": Persona("no answer", dial_status=DialStatus.NO_ANSWER, sip_code=487, expected_disposition="no_answer"),
    "8": Persona("stays silent", (), expected_disposition="unclear"),
    "9": Persona(
        "asks to repeat, then agrees",
        ("Sorry, could you repeat that?", "Yes, that works for me."),
        expected_disposition="interested",
    ),
    "0": Persona(
        "unallocated number", dial_status=DialStatus.INVALID_NUMBER, sip_code=404, expected_disposition="invalid_number"
    ),
}


# What the digit personas say in a Mandarin (zh) dry run: the same intents, in Mandarin.
MANDARIN_LINES: dict[str, tuple[str, ...]] = {
    "1": ("好的，我会准时到。",),
    "2": ("不去了，我来不了。",),
    "3": ("我现在在忙，明天下午再给我打吧。",),
    "4": ("别再给我打电话了，把我的号码删掉。",),
    "5": ("你打错了，这里没有这个人。",),
    "9": ("不好意思，你能再说一遍吗？", "好的，没问题。"),
}


def persona_in(persona: Persona, language: str) -> Persona:
    """The persona speaking the campaign's language: Mandarin lines for a zh campaign's digit personas (other
    languages, and personas without Mandarin lines, keep their English lines)."""
    if not language.lower().startswith(("zh", "cmn")):
        return persona
    for digit, digit_persona in PERSONAS.items():
        if digit_persona is persona and digit in MANDARIN_LINES:
            return replace(persona, lines=MANDARIN_LINES[digit], phrasings=())
    return persona


# The rehearsal library: the digit personas plus machines, bad lines and awkward callees, by name.
LIBRARY: dict[str, Persona] = {
    "agree": Persona(
        "agree",
        phrasings=(
            ("Yes, I will be there.",),
            ("Yes, that works for me.",),
            ("Sure, I can come.",),
            ("Yes, absolutely.",),
        ),
        means=("affirm",),
        expected_disposition="interested",
        description="agrees at once",
    ),
    "decline": Persona(
        "decline",
        phrasings=(("No, I can't make it.",), ("No thank you.",), ("I won't be able to come.",)),
        means=("deny",),
        expected_disposition="not_interested",
        description="declines",
    ),
    "callback": Persona(
        "callback",
        phrasings=(
            ("I'm busy right now, please call me back tomorrow afternoon.",),
            ("Can you call me back later please?",),
            ("Please call me back tomorrow morning.",),
        ),
        means=("callback_request",),
        expected_disposition="callback_requested",
        description="asks to be called back",
    ),
    "opt_out": Persona(
        "opt_out",
        phrasings=(
            ("Stop calling me and remove me from your list.",),
            ("Do not call me again.",),
            ("Please remove me from your list.",),
        ),
        means=("opt_out",),
        expected_disposition="opted_out",
        description="asks not to be called again",
    ),
    "wrong_person": Persona(
        "wrong_person",
        phrasings=(
            ("Sorry, you have the wrong number.",),
            ("There is nobody here by that name.",),
            ("Wrong person, sorry.",),
        ),
        means=("wrong_person",),
        expected_disposition="wrong_person",
        description="is not the person called",
    ),
    "voicemail": Persona(
        "voicemail",
        greeting=(
            "Hi, you've reached my voicemail. I can't take your call right now. Please leave a message "
            "after the tone and I will get back to you.",
        ),
        beep=True,
        expected_disposition="voicemail_left",
        description="an answering machine with a beep",
    ),
    "voicemail_no_beep": Persona(
        "voicemail_no_beep",
        greeting=(
            "The person you are calling is not available. Please leave your name and number and they will "
            "call you back as soon as possible.",
        ),
        expected_disposition="voicemail_left",
        description="an answering machine without a beep",
    ),
    "silent": Persona("silent", expected_disposition="unclear", description="answers and says nothing"),
    "repeat": Persona(
        "repeat",
        phrasings=(
            ("Sorry, could you repeat that?", "Yes, that works for me."),
            ("Sorry, what did you say?", "Yes, I will be there."),
            ("Pardon? Say that again please.", "Okay, sounds good."),
        ),
        means=("ask_repeat", "affirm"),
        expected_disposition="interested",
        description="asks to repeat, then agrees",
    ),
    "noisy": Persona(
        "noisy",
        phrasings=(("Yes, I will be there.",), ("Yes, that works for me.",), ("Sure, I can come.",)),
        means=("affirm",),
        noise_dbfs=-38.0,
        expected_disposition="interested",
        description="agrees on a noisy line",
    ),
    "hang_up": Persona(
        "hang_up",
        hangs_up_after_robot_ms=1500,
        expected_disposition="unclear",
        description="hangs up in the middle of the first prompt",
    ),
    "slow": Persona(
        "slow",
        phrasings=(
            ("Well, yes, I think, I will be there.",),
            ("Let me see, yes, that works, for me.",),
            ("Hmm, okay, yes, I can come.",),
        ),
        means=("affirm",),
        reply_after_ms=1800,
        phrase_gap_ms=450,
        expected_disposition="interested",
        description="a slow talker: waits, then speaks with pauses",
    ),
    "question": Persona(
        "question",
        phrasings=(
            ("Who is this?", "Oh, okay. Yes, I will be there."),
            ("What is this about?", "Right. Yes, that works for me."),
            ("Where are you calling from?", "I see. Yes, sure."),
        ),
        means=("question", "affirm"),
        expected_disposition="interested",
        description="answers with a question, then agrees",
    ),
    "ask_person": Persona(
        "ask_person",
        phrasings=(
            ("Can I speak to a real person?", "I want to talk to someone."),
            ("Could you put me through to a human?", "Let me talk to a person please."),
            ("Is there someone I can talk to?", "I would like to speak to somebody."),
        ),
        means=("question", "question"),
        expected_disposition="unclear",
        description="asks for a person",
    ),
    "busy": Persona("busy", dial_status=DialStatus.BUSY, sip_code=486, expected_disposition="busy"),
    "no_answer": Persona("no_answer", dial_status=DialStatus.NO_ANSWER, sip_code=487, expected_disposition="no_answer"),
}
REHEARSAL_SCHEME = "persona:"


def rehearsal_number(persona: str, seed: int) -> str:
    """The virtual number a rehearsal dials for one call: the persona by name and the seed of its wording."""
    if persona not in LIBRARY:
        raise KeyError(f"unknown persona {persona!r}; known: {', '.join(sorted(LIBRARY))}")
    return f"{REHEARSAL_SCHEME}{persona}:{seed}"


def persona_for(number: str) -> Persona:
    if number.startswith(REHEARSAL_SCHEME):
        return LIBRARY[number.split(":")[1]]
    return PERSONAS[number[-1]]


def seed_of(number: str) -> int:
    if number.startswith(REHEARSAL_SCHEME):
        return int(number.split(":")[2])
    return 0
