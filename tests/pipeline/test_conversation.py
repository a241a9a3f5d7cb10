"""The live loop on constructed audio: barge-in, echo, keypad and spoken digits, timeouts, the unclear fallback.

Callees speak with real voices (piper, espeak-ng) through G.711 on tests.support.linecall.LineCall, a scripted
implementation of the Call seam; the robot hears them with whisper. Nothing is mocked.
"""

import copy
import datetime as dt
import zoneinfo

import numpy as np
import pytest

from pipeline.conversation import OPT_OUT_QUESTION, REPROMPT_PREFIX, Conversation
from pipeline.nlp import normalise
from pipeline.script import DEFAULT_SCRIPT, validate_script
from telephony.interface import EndReason
from telephony.simulator import PERSONAS, SimulatedCarrier
from tests.support.linecall import LineCall, Move
from tests.support.speech import assert_heard

pytestmark = pytest.mark.slow

NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
LONG_PROMPT = (
    "Hello Anna, this is Acme Clinic calling about your appointment tomorrow at ten in the morning with "
    "doctor Smith at our main street office. Will you be able to attend?"
)


def script(**changes) -> dict:
    result = copy.deepcopy(DEFAULT_SCRIPT)
    result["nodes"]["ask_attend"]["say"] = LONG_PROMPT
    for key, value in changes.items():
        if key in result["nodes"]["ask_attend"] or key in ("dtmf", "max_digits", "capture", "barge_in"):
            result["nodes"]["ask_attend"][key] = value
        else:
            result[key] = value
    return validate_script(result)


def run(call, piper, whisper, the_script=None) -> tuple:
    conversation = Conversation(call, the_script or script(), {"first_name": "Anna"}, piper.synthesize, whisper, NOW)
    return conversation.run(), conversation


def test_callee_talking_over_the_prompt_stops_it_within_200_ms(piper, whisper):
    answer = Move(piper.synthesize("No, I can't make it."), during_prompt_ms=1500)
    call = LineCall([answer])
    result, _ = run(call, piper, whisper)
    onset = call.callee_onset_ms(answer)
    stopped = call.robot_last_audio_ms(since_ms=0, until_ms=onset + 1000)
    assert stopped - onset <= 200, f"robot talked {stopped - onset} ms over the callee"
    prompt, heard = result.turns[0], result.turns[1]
    assert prompt.interrupted and prompt.end_ms - onset <= 200
    assert prompt.slots["interrupted_after_ms"] == prompt.end_ms - prompt.start_ms < 3000
    # The same utterance is listened to from its first syllable: whisper hears all of it.
    assert normalise(heard.text).startswith("no"), heard.text
    assert heard.intent == "deny" and heard.start_ms <= onset
    assert result.outcome == "not_interested"


def test_an_espeak_voice_barging_in_with_a_callback_request(piper, espeak, whisper):
    answer = Move(espeak.synthesize("Call me back tomorrow afternoon.", "en-gb"), during_prompt_ms=800)
    call = LineCall([answer])
    result, _ = run(call, piper, whisper)
    onset = call.callee_onset_ms(answer)
    assert call.robot_last_audio_ms(0, onset + 1000) - onset <= 200
    assert result.outcome == "callback_requested", [t.text for t in result.turns]
    assert result.slots["callback_at"] == "2025-06-12T14:00:00-04:00"


def test_echo_of_the_robots_own_voice_is_not_a_barge_in(piper, whisper):
    # The prompt coming back 26 dB down, 100 ms late (a line with echo cancellation): it must play to the end.
    call = LineCall([Move(piper.synthesize("Yes, I will be there."))], echo_db=-26, echo_delay_ms=100)
    result, _ = run(call, piper, whisper)
    assert not result.turns[0].interrupted
    assert result.outcome == "interested", [t.text for t in result.turns]


def test_barge_in_can_be_switched_off_per_node(piper, whisper):
    call = LineCall([Move(piper.synthesize("No, I can't make it."), during_prompt_ms=1000)])
    conversation = Conversation(call, script(barge_in=False), {"first_name": "Anna"}, piper.synthesize, whisper, NOW)
    conversation.run()
    first = conversation.turns[0]
    assert not first.interrupted and first.end_ms - first.start_ms > 6000  # the whole prompt was played


def test_keypad_key_stops_the_prompt_and_maps_to_an_intent(piper, whisper):
    press = Move(keys="2", during_prompt_ms=1000)
    call = LineCall([press])
    result, _ = run(call, piper, whisper, script(dtmf={"1": "affirm", "2": "deny"}))
    prompt, keyed = result.turns[0], result.turns[1]
    assert prompt.interrupted and prompt.end_ms - press.started_at_ms <= 40
    assert (keyed.text, keyed.intent, keyed.slots) == ("[keypad 2]", "deny", {"dtmf": "2"})
    assert result.outcome == "not_interested"


def digits_script() -> dict:
    return validate_script(
        {
            "start": "member",
            "nodes": {
                "member": {
                    "type": "ask",
                    "say": "Please say or key in your four digit member number.",
                    "on": {"digits": "thanks"},
                    "otherwise": "unclear",
                    "capture": "member_id",
                    "max_digits": 4,
                },
                "thanks": {"type": "end", "say": "Thank you.", "outcome": "completed"},
                "unclear": {"type": "end", "say": "Goodbye.", "outcome": "unclear"},
            },
        }
    )


def test_keypad_digits_are_captured(piper, whisper):
    call = LineCall([Move(keys="4271", after_quiet_ms=400)])
    result, _ = run(call, piper, whisper, digits_script())
    assert result.outcome == "completed"
    assert result.slots["member_id"] == "4271" and result.slots["source"] == "dtmf"


@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_spoken_digits_are_captured(voice, piper, espeak, whisper):
    line = "Four, two, seven, one."
    audio = piper.synthesize(line) if voice == "piper" else espeak.synthesize(line, "en-gb")
    result, _ = run(LineCall([Move(audio)]), piper, whisper, digits_script())
    assert result.outcome == "completed", [t.text for t in result.turns]
    assert result.slots["member_id"] == "4271", [t.text for t in result.turns]
    assert result.slots["source"] == "speech"


def test_silence_reprompts_once_then_ends_unclear(piper, whisper):
    result, _ = run(LineCall([]), piper, whisper)
    robot = [t.text for t in result.turns if t.speaker == "robot"]
    assert robot[0] == LONG_PROMPT and robot[1] == REPROMPT_PREFIX + LONG_PROMPT
    assert result.outcome == "unclear" and len(robot) == 3


def test_low_confidence_answer_is_re_asked_then_ends_unclear(piper, whisper):
    yes = piper.synthesize("Yes, I will be there.")
    call = LineCall([Move(yes), Move(yes)])
    result, _ = run(call, piper, whisper, script(min_confidence=0.999))
    heard = [t for t in result.turns if t.speaker == "callee"]
    assert [t.intent for t in heard] == ["unknown", "unknown"]
    assert heard[0].slots["guess"] == "affirm"
    assert result.turns[2].text.startswith(REPROMPT_PREFIX)
    assert result.outcome == "unclear"


# A complaint about the calls that is not an explicit "stop calling": probable, below the act threshold.
PROBABLE_OPT_OUT = "You people never leave me alone."


def test_a_probable_opt_out_is_confirmed_and_a_yes_opts_out(piper, whisper):
    call = LineCall([Move(piper.synthesize(PROBABLE_OPT_OUT)), Move(piper.synthesize("Yes."))])
    stored = []
    conversation = Conversation(
        call, script(), {"first_name": "Anna"}, piper.synthesize, whisper, NOW, on_turn=stored.append
    )
    result = conversation.run()
    texts = [(t.speaker, t.text, t.intent) for t in result.turns]
    robot = [t.text for t in result.turns if t.speaker == "robot"]
    assert robot[1] == OPT_OUT_QUESTION, texts
    first, answer = [t for t in result.turns if t.speaker == "callee"]
    assert first.intent == "unknown" and first.slots["probable_opt_out"] > 0, texts
    # The yes is an opt_out turn, reported through on_turn as it happens (the dialler's do-not-call hook).
    assert answer.intent == "opt_out" and answer.slots == {"opt_out_confirmation": True}, texts
    assert stored[-2] is answer or answer in stored
    assert result.outcome == "opted_out" and result.slots["opt_out_confirmation"] is True


def test_a_no_to_the_opt_out_question_asks_the_question_again(piper, whisper):
    moves = [PROBABLE_OPT_OUT, "No, sorry.", "Yes, I will be there."]
    call = LineCall([Move(piper.synthesize(line)) for line in moves])
    result, _ = run(call, piper, whisper)
    texts = [(t.speaker, t.text, t.intent) for t in result.turns]
    callee = [t for t in result.turns if t.speaker == "callee"]
    assert callee[1].intent != "opt_out" and callee[1].slots["opt_out_confirmation"] is False, texts
    robot = [t.text for t in result.turns if t.speaker == "robot"]
    assert robot[2].startswith(REPROMPT_PREFIX), texts
    assert result.outcome == "interested", texts


def test_campaign_intent_from_example_phrases(piper, whisper):
    the_script = script(intents={"reschedule": ["reschedule", "move my appointment", "a different day"]})
    the_script["nodes"]["ask_attend"]["on"]["reschedule"] = "callback"
    validate_script(the_script)
    call = LineCall([Move(piper.synthesize("Can I move my appointment to a different day?"))])
    result, _ = run(call, piper, whisper, the_script)
    assert result.turns[1].intent == "reschedule", result.turns[1].text
    assert result.outcome == "callback_requested"


@pytest.mark.parametrize("digit", ["1", "2", "3", "4", "5", "8", "9"])
def test_simulated_personas_keep_their_outcomes(digit, piper, whisper):
    persona = PERSONAS[digit]
    call = SimulatedCarrier(piper.synthesize).dial(f"+1202555020{digit}", "+12025550100", 30).call
    result = Conversation(call, DEFAULT_SCRIPT, {"first_name": "Anna"}, piper.synthesize, whisper, NOW).run()
    assert result.outcome == persona.expected_disposition, [t.text for t in result.turns]
    assert not any(t.interrupted for t in result.turns)  # polite callees never trigger barge-in


def test_linecall_measures_what_it_says():
    tone = (np.sin(np.arange(8000) / 3) * 8000).astype(np.int16)
    call = LineCall([Move(tone, during_prompt_ms=100)])
    loud = tone[:160].astype("<i2").tobytes()
    for _ in range(20):
        call.exchange(loud)
    assert call.callee_onset_ms(call.done[0]) == 140  # cued after 100 ms of prompt, heard on the next frame
    assert call.robot_last_audio_ms(0) == 400


LIBRARY_SCRIPT = {**DEFAULT_SCRIPT, "voicemail": {"action": "leave_message", "say": "Hello {first_name}, call us."}}


@pytest.mark.parametrize(
    "name", ["agree", "decline", "callback", "opt_out", "wrong_person", "repeat", "noisy", "slow", "question"]
)
def test_library_personas_mean_what_they_say(name, piper, whisper):
    from telephony.simulator import LIBRARY, rehearsal_number

    persona = LIBRARY[name]
    for seed in (1, 2):
        call = SimulatedCarrier(piper.synthesize).dial(rehearsal_number(name, seed), "+12025550100", 30).call
        result = Conversation(call, LIBRARY_SCRIPT, {"first_name": "Anna"}, piper.synthesize, whisper, NOW).run()
        heard = [t.text for t in result.turns]
        assert result.outcome == persona.expected_disposition, (name, seed, call.lines, heard)


@pytest.mark.parametrize("name", ["voicemail", "voicemail_no_beep"])
def test_library_machines_get_the_message(name, piper, whisper):
    from telephony.simulator import rehearsal_number

    call = SimulatedCarrier(piper.synthesize).dial(rehearsal_number(name, 1), "+12025550100", 30).call
    result = Conversation(call, LIBRARY_SCRIPT, {"first_name": "Anna"}, piper.synthesize, whisper, NOW).run()
    assert result.outcome == "voicemail_left", result.amd
    assert result.amd["beep_heard"] is (name == "voicemail")


def test_a_node_the_script_keeps_sending_the_call_back_to_is_given_up(piper, whisper):
    from telephony.simulator import rehearsal_number
    from tests.pipeline.test_script import TRAP_SCRIPT

    call = SimulatedCarrier(piper.synthesize).dial(rehearsal_number("decline", 1), "+12025550100", 30).call
    result = Conversation(call, TRAP_SCRIPT, {}, piper.synthesize, whisper, NOW).run()
    assert (result.outcome, result.stuck_at) == ("unclear", "stuck")
    assert sum(t.node == "stuck" and t.speaker == "robot" for t in result.turns) == 6  # 3 visits, asked twice each


def test_a_callee_who_hangs_up_mid_answer_keeps_what_they_said(piper, whisper):
    said = "Well I was going to say that my husband usually drives me there on Mondays"
    call = LineCall([Move(piper.synthesize(said), hang_up_after_ms=2500)])
    result, _ = run(call, piper, whisper)
    assert result.end_reason is EndReason.CALLEE_HANGUP
    last = result.turns[-1]
    assert (last.speaker, last.end_of_turn) == ("callee", "hang_up")
    assert_heard("Well I was going to say", last.text)  # the words before the line went dead
