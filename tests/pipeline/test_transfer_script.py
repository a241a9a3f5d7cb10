"""The script's transfer node and "press 0 for a person": what validates, what is refused (naming the node), and
how the structure report reads a transfer (an end of the call, with `otherwise` when nobody takes it)."""

import copy

import pytest

from pipeline.script import DEFAULT_SCRIPT, ScriptError, check_structure, edges, validate_script

AGENT = {"type": "transfer", "say": "Please hold.", "to": "+12025550199", "otherwise": "callback"}


def with_agent(agent: dict | None = None, **top) -> dict:
    script = copy.deepcopy(DEFAULT_SCRIPT)
    script["nodes"]["ask_attend"]["on"]["question"] = "agent"
    script["nodes"]["agent"] = {**AGENT, **(agent or {})}
    script.update(top)
    return script


@pytest.mark.parametrize(
    "target", ["+12025550199", "2001", "sip:desk@pbx.example.com", "sips:desk@10.0.0.5:5061;transport=tls"]
)
def test_transfer_node_to_a_number_or_a_sip_uri_is_valid(target):
    validate_script(with_agent({"to": target, "mode": "warm", "summary": "Hello, {first_name} is on the line."}))
    script = validate_script(with_agent({"to": target, "timeout": 30}))
    assert ("agent", "otherwise", "callback") in edges(script)


def test_transfer_counts_as_an_end_and_its_fallback_is_followed():
    script = copy.deepcopy(DEFAULT_SCRIPT)
    script["start"] = "agent"
    script["nodes"] = {"agent": AGENT, "callback": DEFAULT_SCRIPT["nodes"]["callback"]}
    validate_script(script)  # a script may begin with the transfer; it can end there
    report = check_structure(script)
    assert report == {"unreachable": [], "dead_ends": [], "loops": []}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"to": ""}, 'Node \'agent\': a "transfer" node needs "to"'),
        ({"to": "call the desk"}, 'Node \'agent\': a "transfer" node needs "to"'),
        ({"to": "sip:nobody"}, 'Node \'agent\': a "transfer" node needs "to"'),
        ({"to": 2001}, 'Node \'agent\': a "transfer" node needs "to"'),
        ({"otherwise": None}, 'Node \'agent\': a "transfer" node needs "otherwise"'),
        ({"otherwise": "nowhere"}, "Node 'agent' leads to 'nowhere', which does not exist"),
        ({"timeout": 2}, "Node 'agent': \"timeout\" must be a number of seconds from 5 to 120"),
        ({"timeout": True}, "Node 'agent': \"timeout\" must be a number of seconds from 5 to 120"),
        ({"mode": "hot"}, 'Node \'agent\': "mode" is "cold"'),
        ({"mode": "warm", "summary": 3}, "Node 'agent': \"summary\" must be text"),
        ({"mode": "warm", "summary": "{first name}"}, "Node 'agent': bad placeholder in \"summary\""),
    ],
)
def test_bad_transfer_node_names_the_node(changes, message):
    node = {key: value for key, value in {**AGENT, **changes}.items() if value is not None}
    script = with_agent()
    script["nodes"]["agent"] = node
    with pytest.raises(ScriptError, match=message.replace("(", r"\(")):
        validate_script(script)


def test_keypad_transfer_makes_its_node_reachable():
    script = copy.deepcopy(DEFAULT_SCRIPT)
    script["nodes"]["agent"] = AGENT  # no ask node branches to it: only the key leads there
    with pytest.raises(ScriptError, match="'agent' cannot be reached"):
        validate_script(script)
    script["keypad_transfer"] = {"key": "0", "node": "agent"}
    assert validate_script(script)["keypad_transfer"]["node"] == "agent"
    assert check_structure(script)["unreachable"] == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"key": "0", "node": "callback"}, '"node" must name a transfer node'),
        ({"key": "0"}, '"node" must name a transfer node'),
        ({"key": "00", "node": "agent"}, '"keypad_transfer" must be'),
        ({"key": "0", "node": "agent", "say": "x"}, '"keypad_transfer" must be'),
        ("0", '"keypad_transfer" must be'),
    ],
)
def test_bad_keypad_transfer(setting, message):
    with pytest.raises(ScriptError, match=message):
        validate_script(with_agent(keypad_transfer=setting))
