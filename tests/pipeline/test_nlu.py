"""The semantic classifier: every intent in words the rules never saw, negation, campaign intents by examples
alone, opt-out probability, bad input, the embedding model itself (offline, thread-safe, same vectors as numpy).

Phrases here are written for these tests; none comes from bench/data/nlu. Behaviour is asserted (label, acted on
or not), not exact scores.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pipeline import embeddings, nlp
from pipeline.languages.en import final_clause
from pipeline.nlp import MIN_CONFIDENCE, OPT_OUT_CONFIRM, UNKNOWN, classify, opt_out_probability


def acted(intent: nlp.Intent) -> bool:
    return nlp.acts(intent)  # the English act threshold


@pytest.mark.parametrize(
    ("expected", "text"),
    [
        ("affirm", "yeah that's grand, I'll be along"),
        ("affirm", "sure, put me down for it"),
        ("affirm", "no problem, see you then"),
        ("deny", "I'm going to give it a miss"),
        ("deny", "no, we'll leave it thanks"),
        ("opt_out", "I've had it with these calls"),
        ("callback_request", "I'm in the car at the moment, could you try me this evening"),
        ("callback_request", "can you phone me back after lunch"),
        ("wrong_person", "there's nobody called that living here"),
        ("wrong_person", "you've got the wrong house, love"),
        ("ask_repeat", "sorry, could you say that once more"),
        ("ask_repeat", "I didn't quite hear that"),
        ("question", "who exactly is calling me"),
        ("question", "how much is that going to set me back"),
        ("digits", "it's three five seven two"),
    ],
)
def test_every_intent_in_new_words(expected, text):
    intent = classify(text)
    assert intent.name == expected, (text, intent)
    assert 0.0 <= intent.confidence <= 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("absolutely", "affirm"),
        ("absolutely not", "deny"),
        ("I can", "affirm"),
        ("I can't", "deny"),
        ("I will be there", "affirm"),
        ("I won't be there", "deny"),
        ("that works for me", "affirm"),
        ("that doesn't work for me", "deny"),
        ("definitely not", "deny"),
        ("no problem at all", "affirm"),
        ("why not", "affirm"),
        ("that date doesn't suit me at all", "deny"),
        ("it isn't convenient for us", "deny"),
        ("I can't see why not", "affirm"),
        ("no objection from me", "affirm"),
        ("no no, that's fine, go ahead", "affirm"),
    ],
)
def test_negation(text, expected):
    assert classify(text).name == expected, text


def test_negation_never_acts_as_the_opposite():
    for text in ("absolutely not", "I can't", "I won't be there", "not really", "of course not"):
        intent = classify(text)
        assert not (acted(intent) and intent.name == "affirm"), (text, intent)


PAYMENTS = {
    "pay_now": ["I want to pay now", "take the payment today", "I can pay it right away"],
    "payment_plan": ["can I pay in instalments", "set up a payment plan", "pay a bit each month"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("go ahead and charge my card now", "pay_now"),  # no example phrase in it: by meaning alone
        ("paying in parts would suit me better", "payment_plan"),
        ("stop calling me", "opt_out"),  # opt-outs still win
        ("call me tomorrow", "callback_request"),  # built-ins still work beside campaign intents
    ],
)
def test_campaign_intents_by_examples_alone(text, expected):
    assert classify(text, intents=PAYMENTS).name == expected


def test_campaign_intents_do_not_leak_into_other_calls():
    classify("set up a payment plan", intents=PAYMENTS)
    assert classify("set up a payment plan").name not in PAYMENTS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes I'd like that... actually no, I can't make it after all", "deny"),
        ("hmm let me think, the kids are off that week, so, yes, go on, put me down", "affirm"),
        ("was that nine fifteen or nine fifty?", "ask_repeat"),  # numbers in a question about what was said
    ],
)
def test_the_final_statement_decides(text, expected):
    assert classify(text).name == expected, text


def test_final_clause():
    assert final_clause("sure... actually no, scrap that") == "no, scrap that"
    assert final_clause("yes please") is None
    assert final_clause("no. who is calling?") == "who is calling"


@pytest.mark.parametrize(
    "text",
    [
        "kindly not phone me any more",
        "how many times are you lot going to ring me",
        "oh great, you lot again",
        "don't bother ringing back, ever",
    ],
)
def test_opt_outs_in_other_words_are_acted_on(text):
    intent = classify(text)
    assert intent.name == "opt_out" and acted(intent), (text, intent)


def test_confidence_means_something():
    assert classify("yes please").confidence >= MIN_CONFIDENCE
    assert classify("stop calling me").confidence >= MIN_CONFIDENCE
    unsure = classify("well the thing about that is")
    assert unsure.name == UNKNOWN or unsure.confidence < MIN_CONFIDENCE


@pytest.mark.parametrize(
    "text",
    [
        "please do not ring me again",
        "could you not call me anymore",
        "why do you keep calling me",
        "I'm fed up with you lot ringing me",
        "I'll report you to the regulator",
        "this is harassment",
        "remove my number",
    ],
)
def test_explicit_opt_outs_are_acted_on_at_once(text):
    intent = classify(text)
    assert (intent.name, opt_out_probability(intent)) == ("opt_out", 1.0), text
    assert acted(intent)


@pytest.mark.parametrize("text", ["I am tired of the rain", "I keep ringing the surgery but nobody answers"])
def test_opt_out_rules_need_the_calls(text):
    assert opt_out_probability(classify(text)) < 1.0


def test_callback_slots_keep_the_scores():
    import datetime as dt

    intent = classify("call me back tomorrow", dt.datetime(2025, 6, 11, 10, 15, tzinfo=dt.UTC))
    assert intent.slots["callback_at"] and intent.scores["callback_request"] == max(intent.scores.values())


def test_opt_out_probability():
    assert opt_out_probability(classify("remove me from your list")) == 1.0  # explicit phrase: the rule
    assert opt_out_probability(classify("I am so tired of these calls")) >= OPT_OUT_CONFIRM
    assert opt_out_probability(classify("yes I'll be there")) < OPT_OUT_CONFIRM


# --- bad input: unknown or not acted on, never an exception -------------------------------------------------

MONOLOGUE = " ".join(
    [
        "well you see the thing is my sister came over on tuesday and we were going to go to the garden centre",
        "but then the car would not start so we had a cup of tea instead and talked about her holiday in spain",
        "and the hotel was lovely but the food was not what she expected and the weather was far too hot for her",
        "so she spent most of the week by the pool reading those crime novels she likes, the ones with the detective",
        "who lives on an island, I can never remember his name, anyway she said the flights were delayed both ways",
    ]
    * 3
)  # about 300 words: a minute and more of speech


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "...",
        "[noise]",
        "[music] [laughter]",
        "uh um hmm",
        "gracias, muy amable",
        "je ne comprends pas",
        "das ist mir egal",
        "\U0001f600\U0001f600",
        "\x00\x01 \ufffd",
        MONOLOGUE,
        "one two three four five six seven eight nine zero " * 10,
        "x" * 10_000,
        "la " * 2000,
    ],
)
def test_bad_input_is_never_acted_on(text):
    intent = classify(text)
    assert not acted(intent), (text[:60], intent)


def test_a_barrage_of_digits_is_not_a_digits_answer():
    intent = classify("9 " * 50)
    assert intent.name == UNKNOWN and intent.slots.get("guess") == "digits"


# --- the model ------------------------------------------------------------------------------------------------


def test_embeddings_match_the_numpy_reference():
    encoder = embeddings.encoder()
    bert = embeddings.Bert.load(embeddings.model_dir())
    for text in ("yes I will be there", "stop calling me", "um", MONOLOGUE):
        fast = encoder.encode(text)
        assert fast.shape == (384,) and abs(float(np.linalg.norm(fast)) - 1) < 1e-5
        assert float(fast @ embeddings.reference_encode(bert, encoder, text)) > 0.9999


def test_model_is_loaded_once_and_classifies_from_threads():
    assert embeddings.encoder() is embeddings.encoder()
    assert nlp.example_bank() is nlp.example_bank()
    texts = ["yes please", "no thanks", "call me later", "wrong number", "what?", "who is this"] * 10
    expected = [classify(t).name for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda t: classify(t).name, texts)) == expected


def test_the_model_comes_from_the_installed_package_not_a_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    directory = embeddings.model_dir()
    assert (directory / "model.safetensors").exists() and (directory / "tokenizer.json").exists()
    assert "site-packages" in str(directory) or embeddings.MODEL_ENV in __import__("os").environ
