"""Conversation scripts: validation (every error names the node), rendering, and the admin form."""

import copy
import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from campaigns.models import Campaign, Contact
from pipeline.script import DEFAULT_SCRIPT, ScriptError, render, template_fields, validate_script


def script(**node_changes) -> dict:
    """DEFAULT_SCRIPT with nodes replaced (a dict), added, or removed (None)."""
    result = copy.deepcopy(DEFAULT_SCRIPT)
    for name, node in node_changes.items():
        if node is None:
            del result["nodes"][name]
        else:
            result["nodes"][name] = node
    return result


def ask(**changes) -> dict:
    node = copy.deepcopy(DEFAULT_SCRIPT["nodes"]["ask_attend"])
    node.update(changes)
    return {key: value for key, value in node.items() if value is not None}


def test_default_script_is_valid():
    assert validate_script(DEFAULT_SCRIPT) is DEFAULT_SCRIPT


def test_minimal_scripts_are_valid():
    assert validate_script({"start": "bye", "nodes": {"bye": {"type": "end", "outcome": "completed"}}})
    say_then_end = {
        "start": "hi",
        "nodes": {
            "hi": {"type": "say", "say": "Hi {first_name}.", "next": "bye"},
            "bye": {"type": "end", "outcome": "completed"},
        },
    }
    assert validate_script(say_then_end) is say_then_end


def test_cycle_with_an_exit_is_valid():
    # ask -> say -> back to ask is fine as long as the ask can still reach an end node
    changed = script(
        ask_attend=ask(on={"affirm": "confirmed", "ask_repeat": "explain"}),
        explain={"type": "say", "say": "Let me explain.", "next": "ask_attend"},
        declined=None,
        callback=None,
        opted_out=None,
        wrong_person=None,
    )
    assert validate_script(changed) is changed


@pytest.mark.parametrize("bad", [None, [], "script", {}, {"start": "a"}, {"start": "a", "nodes": {}}, {"nodes": []}])
def test_not_a_script(bad):
    with pytest.raises(ScriptError, match='"start" and a non-empty "nodes"'):
        validate_script(bad)


def test_missing_start():
    bad = copy.deepcopy(DEFAULT_SCRIPT)
    del bad["start"]
    with pytest.raises(ScriptError, match=r'"start" names node None, which does not exist'):
        validate_script(bad)


def test_start_names_missing_node():
    with pytest.raises(ScriptError, match=r"\"start\" names node 'hello'"):
        validate_script({**copy.deepcopy(DEFAULT_SCRIPT), "start": "hello"})


CASES = [
    pytest.param(
        {"confirmed": {"type": "hangup", "outcome": "interested"}},
        "Node 'confirmed': type must be one of ['ask', 'end', 'say', 'transfer']",
        id="unknown-type",
    ),
    pytest.param({"confirmed": "end"}, "Node 'confirmed': type must be one of", id="node-not-object"),
    pytest.param({"confirmed": {"outcome": "interested"}}, "Node 'confirmed': type must be one of", id="no-type"),
    pytest.param(
        {"ask_attend": ask(on={"affirm": "confirmd", "deny": "declined"})},
        "Node 'ask_attend' leads to 'confirmd', which does not exist",
        id="ask-branch-to-missing-node",
    ),
    pytest.param(
        {"ask_attend": ask(otherwise="huh")},
        "Node 'ask_attend' leads to 'huh', which does not exist",
        id="otherwise-to-missing-node",
    ),
    pytest.param(
        {"confirmed": {"type": "say", "say": "Great.", "next": "goodbye"}},
        "Node 'confirmed' leads to 'goodbye', which does not exist",
        id="say-next-to-missing-node",
    ),
    pytest.param(
        {"confirmed": {"type": "say", "say": "Great."}},
        'Node \'confirmed\': a "say" node needs "next"',
        id="say-no-next",
    ),
    pytest.param(
        {"orphan": {"type": "end", "say": "Never said.", "outcome": "completed"}},
        "Node 'orphan' cannot be reached from 'ask_attend'",
        id="unreachable",
    ),
    pytest.param(
        {
            "ask_attend": ask(on={"affirm": "loop_a", "deny": "declined"}),
            "loop_a": {"type": "say", "say": "And again.", "next": "loop_b"},
            "loop_b": {"type": "say", "say": "And again.", "next": "loop_a"},
            "confirmed": None,
            "callback": None,
            "opted_out": None,
            "wrong_person": None,
        },
        "Node 'loop_a' is a dead end: no path from it reaches an end node",
        id="dead-end-cycle",
    ),
    pytest.param(
        {"confirmed": {"type": "end", "say": "Bye.", "outcome": "happy"}},
        "Node 'confirmed': outcome must be one of",
        id="unknown-outcome",
    ),
    pytest.param(
        {"confirmed": {"type": "end", "say": "Bye."}}, "Node 'confirmed': outcome must be one of", id="no-outcome"
    ),
    pytest.param(
        {"ask_attend": ask(otherwise=None)},
        'Node \'ask_attend\': an "ask" node needs "otherwise" for unclear answers',
        id="ask-without-otherwise",
    ),
    pytest.param({"ask_attend": ask(on={})}, "Node 'ask_attend': an \"ask\" node needs intents", id="ask-empty-on"),
    pytest.param({"ask_attend": ask(on=None)}, "Node 'ask_attend': an \"ask\" node needs intents", id="ask-without-on"),
    pytest.param({"ask_attend": ask(say="")}, "Node 'ask_attend': an \"ask\" node needs a prompt", id="ask-no-prompt"),
    pytest.param(
        {"ask_attend": ask(say="Hello {first_name, will you come?")},
        "Node 'ask_attend': bad placeholder in the prompt",
        id="unclosed-placeholder",
    ),
    pytest.param(
        {"declined": {"type": "end", "say": "Bye } now", "outcome": "not_interested"}},
        "Node 'declined': bad placeholder in the prompt",
        id="stray-brace",
    ),
    pytest.param(
        {"declined": {"type": "end", "say": ["Bye"], "outcome": "not_interested"}},
        "Node 'declined': \"say\" must be text",
        id="say-not-text",
    ),
]


def top(**changes) -> dict:
    return {**copy.deepcopy(DEFAULT_SCRIPT), **changes}


def test_optional_settings_are_valid():
    full = top(intents={"reschedule": ["move my appointment"]}, min_confidence=0.5, barge_in=False)
    full["nodes"]["ask_attend"] = ask(
        on={**DEFAULT_SCRIPT["nodes"]["ask_attend"]["on"], "reschedule": "callback", "digits": "confirmed"},
        dtmf={"1": "affirm", "2": "deny", "*9": "reschedule"},
        max_digits=4,
        capture="answer",
        barge_in=True,
    )
    assert validate_script(full) is full


TOP_LEVEL_CASES = [
    pytest.param({"intents": ["reschedule"]}, '"intents" must be an object', id="intents-not-object"),
    pytest.param({"intents": {"Re-schedule": ["x"]}}, "Intent 'Re-schedule': names are lower case", id="intent-name"),
    pytest.param({"intents": {"reschedule": []}}, "Intent 'reschedule': give a non-empty list", id="no-examples"),
    pytest.param({"intents": {"reschedule": "later"}}, "Intent 'reschedule': give a non-empty list", id="not-list"),
    pytest.param({"intents": {"reschedule": ["ok", " ?"]}}, "Intent 'reschedule': give a non-empty", id="blank"),
    pytest.param({"min_confidence": 2}, '"min_confidence" must be a number from 0 to 1', id="confidence-range"),
    pytest.param({"min_confidence": "high"}, '"min_confidence" must be a number', id="confidence-type"),
    pytest.param({"barge_in": "yes"}, '"barge_in" must be true or false', id="barge-in-type"),
]


@pytest.mark.parametrize(("changes", "message"), TOP_LEVEL_CASES)
def test_invalid_top_level_settings(changes, message):
    with pytest.raises(ScriptError, match=message.replace("(", r"\(")):
        validate_script(top(**changes))


ASK_OPTION_CASES = [
    pytest.param(
        {"on": {"afirm": "confirmed"}},
        "Node 'ask_attend' branches on intent 'afirm', which is neither built in",
        id="unknown-intent",
    ),
    pytest.param({"dtmf": {"one": "affirm"}}, "Node 'ask_attend': \"dtmf\" maps keypad keys", id="dtmf-key"),
    pytest.param({"dtmf": ["1"]}, "Node 'ask_attend': \"dtmf\" maps keypad keys", id="dtmf-not-object"),
    pytest.param(
        {"dtmf": {"3": "question"}},
        "Node 'ask_attend': key '3' gives intent 'question', which this node does not branch on",
        id="dtmf-intent-not-branched",
    ),
    pytest.param({"max_digits": 0}, "Node 'ask_attend': \"max_digits\" must be", id="max-digits-zero"),
    pytest.param({"max_digits": True}, "Node 'ask_attend': \"max_digits\" must be", id="max-digits-bool"),
    pytest.param({"capture": "Member ID"}, "Node 'ask_attend': \"capture\" names a slot", id="capture-name"),
    pytest.param({"barge_in": 1}, "Node 'ask_attend': \"barge_in\" must be true or false", id="node-barge-in"),
]


@pytest.mark.parametrize(("changes", "message"), ASK_OPTION_CASES)
def test_invalid_ask_options_name_the_node(changes, message):
    with pytest.raises(ScriptError) as excinfo:
        validate_script(script(ask_attend=ask(**changes)))
    assert message in str(excinfo.value)


def test_campaign_intent_can_be_branched_on_only_when_defined():
    branching = script(ask_attend=ask(on={"reschedule": "callback", "affirm": "confirmed", "deny": "declined"}))
    branching["nodes"] = {k: v for k, v in branching["nodes"].items() if k not in ("opted_out", "wrong_person")}
    with pytest.raises(ScriptError, match="intent 'reschedule'"):
        validate_script(branching)
    branching["intents"] = {"reschedule": ["another day"]}
    assert validate_script(branching) is branching


@pytest.mark.parametrize(("changes", "message"), CASES)
def test_invalid_script_names_the_node(changes, message):
    with pytest.raises(ScriptError) as excinfo:
        validate_script(script(**changes))
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    "bad",
    [
        script(ask_attend=ask(on={"affirm": ["confirmed"], "deny": "declined"})),
        {**copy.deepcopy(DEFAULT_SCRIPT), "start": ["ask_attend"]},
    ],
    ids=["list-target", "list-start"],
)
def test_non_string_node_reference_is_a_script_error(bad):
    with pytest.raises(ScriptError):
        validate_script(bad)


@pytest.mark.parametrize(
    "prompt", ["Hello {}", "Hello {0}", "Hi {first_name!x}", "Hi {first_name:d}", "Hi {first_name[0]}"]
)
def test_validated_prompt_always_renders(prompt):
    changed = script(confirmed={"type": "end", "say": prompt, "outcome": "interested"})
    try:
        validate_script(changed)
    except ScriptError:
        return  # rejected up front: fine
    assert isinstance(render(prompt, {"first_name": ""}), str)


# --- render ---------------------------------------------------------------------------------------------


def test_render_fills_fields():
    text = "Hello {first_name} {last_name}, your {service} is at {time}."
    context = {"first_name": "Anna", "last_name": "Smith", "service": "flu shot", "time": 10}
    assert render(text, context) == "Hello Anna Smith, your flu shot is at 10."


def test_render_missing_and_none_fields_are_empty():
    assert render("Hello {first_name}, see you {when}.", {"first_name": None}) == "Hello , see you ."
    assert render("No placeholders.", {}) == "No placeholders."
    assert render("Braces {{kept}} {x}", {"x": 1}) == "Braces {kept} 1"


def test_render_with_a_contacts_context():
    contact = Contact(first_name="Zo\u00eb", last_name="", custom_fields={"doctor": "Dr. Lee", "first_name": "ignored"})
    text = DEFAULT_SCRIPT["nodes"]["ask_attend"]["say"] + " With {doctor}."
    rendered = render(text, contact.template_context())
    assert rendered.startswith("Hello Zo\u00eb, this is Acme Clinic")
    assert rendered.endswith("With Dr. Lee.")


def test_template_fields():
    assert template_fields("Hi {first_name}, {plan} {{literal}}") == {"first_name", "plan"}
    assert template_fields("") == set()


# --- admin form -----------------------------------------------------------------------------------------


def add_form(tenant, script_value) -> dict:
    return {
        "tenant": tenant.id,
        "name": "Checkups",
        "script": script_value if isinstance(script_value, str) else json.dumps(script_value),
        "caller_id": "+12025550100",
        "language": "en",
        "window_start": "09:00",
        "window_end": "20:00",
        "max_concurrent_calls": 5,
        "max_attempts": 1,
        "calls_per_second": 1,
        "_save": "Save",
    }


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (script(confirmed={"type": "end", "outcome": "happy"}), "Node 'confirmed': outcome must be one of"),
        (script(ask_attend=ask(otherwise=None)), 'Node \'ask_attend\': an "ask" node needs "otherwise"'),
        ({"start": "x", "nodes": {"y": {"type": "end", "outcome": "completed"}}}, "\"start\" names node 'x'"),
    ],
)
def test_admin_rejects_invalid_script(client, manager, tenant, bad, message):
    client.force_login(manager)
    response = client.post(reverse("admin:campaigns_campaign_add"), add_form(tenant, bad))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["script"]
    assert any(message in error for error in errors)
    assert escape(message) in response.content.decode()
    assert not Campaign.objects.exists()


def test_admin_rejects_script_that_is_not_json(client, manager, tenant):
    client.force_login(manager)
    response = client.post(reverse("admin:campaigns_campaign_add"), add_form(tenant, "{start: nope"))
    assert response.status_code == 200
    assert "script" in response.context["adminform"].form.errors
    assert not Campaign.objects.exists()


def test_admin_accepts_valid_script(client, manager, tenant):
    client.force_login(manager)
    response = client.post(reverse("admin:campaigns_campaign_add"), add_form(tenant, DEFAULT_SCRIPT))
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.tenant, campaign.created_by, campaign.status) == (tenant, manager, Campaign.Status.DRAFT)
    assert campaign.script == DEFAULT_SCRIPT


# --- the structure a rehearsal report shows ------------------------------------------------------------

from pipeline.script import DEFAULT_SCRIPT, check_structure  # noqa: E402

TRAP_SCRIPT = {
    "start": "ask",
    "intents": {"reschedule": ["move my appointment", "another day"]},
    "nodes": {
        "ask": {"type": "ask", "say": "Will you come?", "on": {"affirm": "yes", "deny": "stuck"}, "otherwise": "no"},
        # Leaves only on an answer nobody gives: whatever else is said, the robot asks again.
        "stuck": {"type": "ask", "say": "Which day instead?", "on": {"reschedule": "yes"}, "otherwise": "stuck"},
        "yes": {"type": "end", "say": "Thanks.", "outcome": "interested"},
        "no": {"type": "end", "say": "Bye.", "outcome": "unclear"},
    },
}


def test_structure_of_the_default_script_has_only_the_repeat_loop():
    assert check_structure(DEFAULT_SCRIPT) == {
        "unreachable": [],
        "dead_ends": [],
        "loops": ["ask_attend -ask_repeat-> ask_attend"],
    }


def test_a_node_only_a_specific_answer_leaves_is_a_dead_end_that_validation_lets_through():
    validate_script(TRAP_SCRIPT)
    found = check_structure(TRAP_SCRIPT)
    assert found["dead_ends"] == ["stuck"]
    assert "stuck -otherwise-> stuck" in found["loops"]


def test_structure_of_an_invalid_script_names_unreachable_and_hopeless_nodes():
    script = {
        "start": "a",
        "nodes": {
            "a": {"type": "say", "say": "hi", "next": "b"},
            "b": {"type": "say", "say": "again", "next": "a"},
            "orphan": {"type": "end", "say": "", "outcome": "completed"},
        },
    }
    assert check_structure(script)["unreachable"] == ["orphan"]
    assert check_structure(script)["dead_ends"] == ["a", "b"]
