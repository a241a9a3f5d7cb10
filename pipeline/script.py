"""Campaign scripts: a small declarative state machine, validated before a campaign can use it.

    {"start": "ask_attend",
     "nodes": {
        "ask_attend": {"type": "ask", "say": "Hello {first_name}, ... Will you attend?",
                       "on": {"affirm": "confirmed", "deny": "declined"}, "otherwise": "unclear"},
        "confirmed": {"type": "end", "say": "Thank you. Goodbye.", "outcome": "interested"},
        ...}}

Node types: `say` (speak, then go to `next`), `ask` (speak, listen, branch on the intent in `on`; when nothing
usable was heard it re-asks once, then goes to `otherwise`), `end` (speak, hang up, record `outcome`),
`transfer` (speak, then hand the callee to a person at `to`, a number or a sip: URI: outcome `transferred`;
when the person is busy, does not answer, or the transfer is refused or never reported within `timeout`
seconds (default 45), the robot takes the callee back and goes to `otherwise`).

    "agent": {"type": "transfer", "say": "Please hold, I am putting you through.", "to": "+12025550199",
              "otherwise": "nobody_free"}

`"mode": "warm"`: the robot dials the person itself, says `summary` (a template; pipeline.handoff.DEFAULT_SUMMARY
by default) and bridges the two calls; the default `"cold"` asks the callee's side to call them (SIP REFER).

Optional, top level: `"keypad_transfer": {"key": "0", "node": "agent"}`: pressing that key at any ask node goes
to that transfer node ("press 0 for a person"), unless the node maps the key itself.

Optional, top level: `"intents": {"reschedule": ["move my appointment", ...]}` (the campaign's own intents by
example phrases), `"min_confidence": 0.8` (answers understood with less are re-asked; the default is
pipeline.nlp.MIN_CONFIDENCE), `"barge_in": true`.
Optional, on an ask node: `"dtmf": {"1": "affirm", "2": "deny"}` (keys as intents), `"max_digits": 4` (keypad
entry ends there, else at '#' or a pause), `"capture": "member_id"` (the answer saved under that slot name),
`"barge_in": false` (the prompt always plays to the end).

Optional, top level: `"voicemail": {"action": "leave_message", "say": "Hello {first_name}, ..."}` turns on
answering-machine detection (pipeline.amd) at the start of each call: on a machine the robot waits for the beep,
says `say` and hangs up (outcome `voicemail_left`), or with `"action": "hang_up"` hangs up at once (outcome
`answering_machine`). Without it the robot speaks first and no detection runs.
"""

from __future__ import annotations

import re

from pipeline.intents import BUILTIN_INTENTS

OUTCOMES = {
    "completed",
    "interested",
    "not_interested",
    "callback_requested",
    "opted_out",
    "wrong_person",
    "voicemail_left",
    "unclear",
}
TRANSFERRED = "transferred"  # the outcome of a call handed to a person (a transfer node, not an end node)
NODE_TYPES = {"say", "ask", "end", "transfer"}
KEYPAD_TRANSFER = "keypad_transfer"  # the intent of the "press 0 for a person" key at an ask node
TRANSFER_TIMEOUT = 45.0  # seconds for the far end to report how the transfer went, by default
_TRANSFER_TARGET = re.compile(r"\+?[0-9*#]{2,32}|sips?:[^\s<>@]+@[^\s<>;]+(;[^\s<>]*)?")
REPROMPT_PREFIX = "Sorry, I didn't catch that. "  # what the robot says before asking again


class ScriptError(ValueError):
    """A script that cannot run; the message names the node."""


DEFAULT_SCRIPT: dict = {
    "start": "ask_attend",
    "nodes": {
        "ask_attend": {
            "type": "ask",
            "say": "Hello {first_name}, this is Acme Clinic calling about your appointment tomorrow at ten "
            "in the morning. Will you be able to attend?",
            "on": {
                "affirm": "confirmed",
                "deny": "declined",
                "callback_request": "callback",
                "opt_out": "opted_out",
                "wrong_person": "wrong_person",
                "ask_repeat": "ask_attend",
            },
            "otherwise": "unclear",
        },
        "confirmed": {
            "type": "end",
            "say": "Thank you, we look forward to seeing you. Goodbye.",
            "outcome": "interested",
        },
        "declined": {
            "type": "end",
            "say": "Thank you for letting us know. We will cancel the appointment. Goodbye.",
            "outcome": "not_interested",
        },
        "callback": {
            "type": "end",
            "say": "Of course, we will call you back then. Goodbye.",
            "outcome": "callback_requested",
        },
        "opted_out": {"type": "end", "say": "Understood, we will not call you again. Goodbye.", "outcome": "opted_out"},
        "wrong_person": {"type": "end", "say": "We are sorry for the trouble. Goodbye.", "outcome": "wrong_person"},
        "unclear": {
            "type": "end",
            "say": "Sorry, we could not understand you. We will try another time. Goodbye.",
            "outcome": "unclear",
        },
    },
}


# A placeholder is `{name}`; `{{` and `}}` are literal braces. Nothing else (no format specs, indexes, positions).
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


def template_fields(text: str) -> set[str]:
    """Field names used by a prompt; ValueError for a brace that is not `{name}`, `{{` or `}}`."""
    fields = set()
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise ValueError(f"stray {token!r} at character {match.start()}: placeholders look like {{first_name}}")
        fields.add(match.group(1))
    return fields


def render(text: str, context: dict) -> str:
    """Fill `{field}` placeholders; a field the contact lacks renders empty rather than failing the call."""

    def substitute(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        if match.group(1) is None:
            return token
        value = context.get(match.group(1))
        return "" if value is None else str(value)

    return _TOKEN.sub(substitute, text)


def _successors(node: dict) -> list[str]:
    kind = node["type"]
    if kind == "say":
        return [node["next"]]
    if kind == "ask":
        return [*node["on"].values(), node["otherwise"]]
    if kind == "transfer":
        return [node["otherwise"]]
    return []


def validate_script(script: object) -> dict:
    """Return the script if it can run; raise ScriptError naming the offending node otherwise."""
    if not isinstance(script, dict) or not isinstance(script.get("nodes"), dict) or not script["nodes"]:
        raise ScriptError('A script is an object with "start" and a non-empty "nodes" object.')
    nodes: dict = script["nodes"]
    start = script.get("start")
    if not isinstance(start, str) or start not in nodes:
        raise ScriptError(f'"start" names node {start!r}, which does not exist.')
    intents = _check_top_level(script)
    for name, node in nodes.items():
        if not isinstance(node, dict) or node.get("type") not in NODE_TYPES:
            raise ScriptError(f"Node {name!r}: type must be one of {sorted(NODE_TYPES)}.")
        if not isinstance(node.get("say", ""), str):
            raise ScriptError(f'Node {name!r}: "say" must be text.')
        try:
            template_fields(node.get("say", ""))
        except ValueError as exc:
            raise ScriptError(f"Node {name!r}: bad placeholder in the prompt ({exc}).") from None
        kind = node["type"]
        if kind == "say" and not isinstance(node.get("next"), str):
            raise ScriptError(f'Node {name!r}: a "say" node needs "next".')
        if kind == "ask":
            if not node.get("say"):
                raise ScriptError(f'Node {name!r}: an "ask" node needs a prompt in "say".')
            if not isinstance(node.get("on"), dict) or not node["on"]:
                raise ScriptError(f'Node {name!r}: an "ask" node needs intents to branch on in "on".')
            if not isinstance(node.get("otherwise"), str):
                raise ScriptError(f'Node {name!r}: an "ask" node needs "otherwise" for unclear answers.')
            _check_ask_options(name, node, intents)
        if kind == "transfer":
            _check_transfer(name, node)
        if kind == "end" and node.get("outcome") not in OUTCOMES:
            raise ScriptError(f"Node {name!r}: outcome must be one of {sorted(OUTCOMES)}.")
        for target in _successors(node):
            if not isinstance(target, str):
                raise ScriptError(f"Node {name!r} leads to {target!r}, which is not a node name.")
            if target not in nodes:
                raise ScriptError(f"Node {name!r} leads to {target!r}, which does not exist.")

    keypad = _check_keypad_transfer(script)
    reachable, todo = set(), [start, *([keypad] if keypad else [])]
    while todo:
        name = todo.pop()
        if name not in reachable:
            reachable.add(name)
            todo.extend(_successors(nodes[name]))
    unreachable = sorted(set(nodes) - reachable)
    if unreachable:
        raise ScriptError(f"Node {unreachable[0]!r} cannot be reached from {start!r}.")

    # Every node must be able to reach an end node, or a call could loop forever.
    can_end = {name for name, node in nodes.items() if node["type"] in ("end", "transfer")}
    changed = True
    while changed:
        changed = False
        for name, node in nodes.items():
            if name not in can_end and any(t in can_end for t in _successors(node)):
                can_end.add(name)
                changed = True
    dead = sorted(set(nodes) - can_end)
    if dead:
        raise ScriptError(f"Node {dead[0]!r} is a dead end: no path from it reaches an end node.")
    return script


_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_KEYS = re.compile(r"[0-9*#]{1,16}")


def _check_top_level(script: dict) -> set[str]:
    """The optional top-level settings; returns every intent name a node may branch on."""
    intents = script.get("intents", {})
    if not isinstance(intents, dict):
        raise ScriptError('"intents" must be an object: {"intent_name": ["example phrase", ...]}.')
    for intent, examples in intents.items():
        if not _NAME.fullmatch(intent):
            raise ScriptError(f"Intent {intent!r}: names are lower case letters, digits and _ (e.g. 'reschedule').")
        if (
            not isinstance(examples, list)
            or not examples
            or not all(isinstance(e, str) and any(c.isalnum() for c in e) for e in examples)
        ):
            raise ScriptError(f"Intent {intent!r}: give a non-empty list of example phrases.")
    confidence = script.get("min_confidence", 0.0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ScriptError('"min_confidence" must be a number from 0 to 1.')
    if not isinstance(script.get("barge_in", True), bool):
        raise ScriptError('"barge_in" must be true or false.')
    _check_voicemail(script.get("voicemail"))
    return set(BUILTIN_INTENTS) | set(intents)


VOICEMAIL_ACTIONS = ("leave_message", "hang_up")


def _check_voicemail(voicemail: object) -> None:
    """The optional answering-machine setting: {"action": "leave_message" | "hang_up", "say": "..."}."""
    if voicemail is None:
        return
    if not isinstance(voicemail, dict) or voicemail.get("action") not in VOICEMAIL_ACTIONS:
        raise ScriptError('"voicemail" must be {"action": "leave_message" or "hang_up", "say": "the message"}.')
    unknown = sorted(set(voicemail) - {"action", "say"})
    if unknown:
        raise ScriptError(f'"voicemail": unknown setting {unknown[0]!r} (use "action" and "say").')
    say = voicemail.get("say", "")
    if not isinstance(say, str):
        raise ScriptError('"voicemail": "say" must be text.')
    if voicemail["action"] == "leave_message" and not say.strip():
        raise ScriptError('"voicemail": "leave_message" needs the message in "say".')
    try:
        template_fields(say)
    except ValueError as exc:
        raise ScriptError(f'"voicemail": bad placeholder in "say" ({exc}).') from None


def _check_transfer(name: str, node: dict) -> None:
    """A transfer node: `to` (a number or sip: URI), `otherwise`, optional `timeout` and `mode`."""
    target = node.get("to")
    if not isinstance(target, str) or not _TRANSFER_TARGET.fullmatch(target):
        raise ScriptError(
            f'Node {name!r}: a "transfer" node needs "to": a phone number (e.g. "+12025550199") '
            'or a SIP URI (e.g. "sip:desk@pbx.example.com").'
        )
    if not isinstance(node.get("otherwise"), str):
        raise ScriptError(f'Node {name!r}: a "transfer" node needs "otherwise" for when nobody takes the call.')
    timeout = node.get("timeout", TRANSFER_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 5 <= timeout <= 120:
        raise ScriptError(f'Node {name!r}: "timeout" must be a number of seconds from 5 to 120.')
    if node.get("mode", "cold") not in ("cold", "warm"):
        raise ScriptError(
            f'Node {name!r}: "mode" is "cold" (the callee\'s side calls the person) or "warm" (the robot calls the '
            "person, tells them who it is, then connects the two)."
        )
    summary = node.get("summary", "")
    if not isinstance(summary, str):
        raise ScriptError(f'Node {name!r}: "summary" must be text.')
    try:
        template_fields(summary)
    except ValueError as exc:
        raise ScriptError(f'Node {name!r}: bad placeholder in "summary" ({exc}).') from None


def _check_keypad_transfer(script: dict) -> str | None:
    """The optional `keypad_transfer` setting; returns its transfer node's name."""
    setting = script.get("keypad_transfer")
    if setting is None:
        return None
    nodes = script["nodes"]
    if (
        not isinstance(setting, dict)
        or set(setting) - {"key", "node"}
        or not isinstance(setting.get("key", "0"), str)
        or not re.fullmatch(r"[0-9*#]", setting.get("key", "0"))
    ):
        raise ScriptError('"keypad_transfer" must be {"key": "0", "node": "<a transfer node>"} (key: one of 0-9 * #).')
    target = setting.get("node")
    if not isinstance(target, str) or nodes.get(target, {}).get("type") != "transfer":
        raise ScriptError(f'"keypad_transfer": "node" must name a transfer node, not {target!r}.')
    return target


def _check_ask_options(name: str, node: dict, intents: set[str]) -> None:
    for intent in node["on"]:
        if intent not in intents:
            raise ScriptError(
                f"Node {name!r} branches on intent {intent!r}, which is neither built in "
                f'({", ".join(sorted(BUILTIN_INTENTS))}) nor defined in "intents".'
            )
    keys = node.get("dtmf", {})
    if not isinstance(keys, dict) or not all(isinstance(k, str) and _KEYS.fullmatch(k) for k in keys):
        raise ScriptError(f'Node {name!r}: "dtmf" maps keypad keys such as "1" or "*" to intents.')
    for key, intent in keys.items():
        if intent not in node["on"]:
            raise ScriptError(
                f"Node {name!r}: key {key!r} gives intent {intent!r}, which this node does not branch on."
            )
    max_digits = node.get("max_digits")
    if max_digits is not None and (
        isinstance(max_digits, bool) or not isinstance(max_digits, int) or not 1 <= max_digits <= 32
    ):
        raise ScriptError(f'Node {name!r}: "max_digits" must be a whole number from 1 to 32.')
    capture = node.get("capture")
    if capture is not None and (not isinstance(capture, str) or not _NAME.fullmatch(capture)):
        raise ScriptError(f'Node {name!r}: "capture" names a slot (lower case letters, digits and _).')
    if not isinstance(node.get("barge_in", True), bool):
        raise ScriptError(f'Node {name!r}: "barge_in" must be true or false.')


def edges(script: dict) -> list[tuple[str, str, str]]:
    """(from, label, to) for every transition: the intent, "otherwise" or "next"."""
    out = []
    for name, node in script["nodes"].items():
        if node["type"] == "say":
            out.append((name, "next", node["next"]))
        elif node["type"] == "ask":
            out.extend((name, intent, target) for intent, target in node["on"].items())
            out.append((name, "otherwise", node["otherwise"]))
        elif node["type"] == "transfer":
            out.append((name, "otherwise", node["otherwise"]))
    return out


def check_structure(script: dict) -> dict:
    """What a rehearsal report says about the script's shape, without raising (validate_script refuses the worst):

    - `unreachable`: nodes no path from the start reaches;
    - `dead_ends`: nodes from which no end node can be reached at all, and nodes a callee who gives no usable
      answer can never leave (following only `otherwise` and `next` goes round forever: the robot keeps asking);
    - `loops`: transitions that lead back to where they came from (directly or through other nodes), as
      "from -intent-> to" (asking again on `ask_repeat` is one, on purpose or not).
    """
    nodes = script["nodes"]
    graph = edges(script)
    successors: dict[str, set[str]] = {name: set() for name in nodes}
    for src, _, dst in graph:
        if dst in nodes:
            successors[src].add(dst)

    def reach(start: str, follow) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name not in seen and name in nodes:
                seen.add(name)
                todo.extend(follow(name))
        return seen

    reachable = reach(script.get("start", ""), lambda n: successors[n])
    keypad = (script.get("keypad_transfer") or {}).get("node")
    if keypad:  # pressing the key at any ask node goes there
        reachable |= reach(keypad, lambda n: successors[n])
    ends = {name for name, node in nodes.items() if node.get("type") in ("end", "transfer")}

    def fallback(name: str) -> list[str]:
        node = nodes[name]
        return [node.get("next") or node.get("otherwise") or ""] if node.get("type") in ("say", "ask") else []

    dead = [name for name in nodes if not reach(name, lambda n: successors[n]) & ends]
    traps = [name for name in nodes if name not in dead and not reach(name, fallback) & ends]
    onward = {name: reach(name, lambda n: successors[n]) for name in nodes}
    loops = [f"{src} -{label}-> {dst}" for src, label, dst in graph if dst in nodes and src in onward[dst]]
    return {
        "unreachable": sorted(set(nodes) - reachable),
        "dead_ends": sorted(dead) + sorted(traps),
        "loops": loops,
    }
