"""A rehearsal's report, from its calls' turns and the script: what a manager should fix before calling anyone.

- dispositions predicted against those the mix meant (each persona's expected disposition);
- per node: how many calls reached it, which nodes no call reached, and each transition's count (the script map);
- dead ends and loops: the script's structure (pipeline.script.check_structure) and what the calls did (calls
  given up at a node the script kept sending them back to; calls that ended without reaching an end node;
  calls that came back to a node);
- turns where the robot re-asked, or understood an intent other than the one the persona meant, with the text;
- the average call length and the five worst calls (with their transcripts).
"""

from __future__ import annotations

from collections import Counter

from campaigns.models import Rehearsal, RehearsalCall
from pipeline.script import KEYPAD_TRANSFER, REPROMPT_PREFIX, TRANSFERRED, check_structure, edges
from telephony.personas import LIBRARY

MAX_LISTED = 50  # misunderstood and re-asked turns listed (all are counted)


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _path(turns: list[dict]) -> list[tuple[str, str]]:
    """(node, how the call got there) for each node the robot spoke at, re-asks left out."""
    path: list[tuple[str, str]] = []
    heard = ""
    for turn in turns:
        if turn["speaker"] == "callee":
            heard = turn["intent"]
            continue
        if turn["text"].startswith(REPROMPT_PREFIX) and path and path[-1][0] == turn["node"]:
            continue
        path.append((turn["node"], heard))
        heard = ""
    return path


def _label(script: dict, src: str, dst: str, heard: str) -> str:
    node = script["nodes"].get(src, {})
    if node.get("type") == "say":
        return "next"
    if node.get("type") == "ask" and (node["on"].get(heard) == dst or heard == KEYPAD_TRANSFER):
        return heard
    return "otherwise"


def analyse_call(call: RehearsalCall, script: dict) -> dict:
    """One call's path, re-asks, misunderstandings and whether it reached an end node."""
    persona = LIBRARY.get(call.persona)
    meant = list(persona.means) if persona else []
    nodes = script["nodes"]
    answered = call.dial_status == "answered"
    path = _path(call.turns)
    if not path and answered and call.outcome != "voicemail_left":
        # A callee who hangs up during the first prompt leaves no turn (a prompt is stored once it has played).
        path = [(script["start"], "")]
    transitions = []
    for (src, _), (dst, heard) in zip(path, path[1:], strict=False):
        transitions.append((src, _label(script, src, dst, heard), dst))
    reasks = [t for t in call.turns if t["speaker"] == "robot" and t["text"].startswith(REPROMPT_PREFIX)]
    misunderstood = []
    callee = [t for t in call.turns if t["speaker"] == "callee" and t["node"] != "voicemail"]
    for index, turn in enumerate(callee):
        expected = meant[index] if index < len(meant) else ""
        said = call.lines[index] if index < len(call.lines) else ""
        if expected and turn["intent"] != expected:
            misunderstood.append(
                {
                    "node": turn["node"],
                    "meant": expected,
                    "understood": turn["intent"],
                    "said": said,
                    "heard": turn["text"],
                }
            )
    last = path[-1][0] if path else ""
    reached_end = call.outcome in ("voicemail_left", TRANSFERRED) or nodes.get(last, {}).get("type") == "end"
    visits = Counter(node for node, _ in path)
    return {
        "path": [node for node, _ in path],
        "transitions": transitions,
        "reasks": reasks,
        "misunderstood": misunderstood,
        "answered": answered,
        "reached_end": reached_end,
        "last_node": last,
        "revisited": sorted(node for node, n in visits.items() if n > 1),
    }


def _transcript(call: RehearsalCall) -> list[str]:
    return [
        f"{t['speaker']} [{t['node']}]: {t['text']}" + (f" ({t['intent']})" if t["intent"] else "") for t in call.turns
    ]


def build_report(rehearsal: Rehearsal) -> dict:
    script = rehearsal.script
    calls = list(rehearsal.rehearsal_calls.order_by("index"))
    total = len(calls)
    analysed = {call.id: analyse_call(call, script) for call in calls}

    expected = Counter(LIBRARY[c.persona].expected_disposition for c in calls if c.persona in LIBRARY)
    predicted = Counter(c.disposition for c in calls)
    dispositions = [
        {
            "disposition": name,
            "expected": expected[name],
            "expected_pct": _pct(expected[name], total),
            "predicted": predicted[name],
            "predicted_pct": _pct(predicted[name], total),
        }
        for name in sorted(set(expected) | set(predicted), key=lambda n: (-expected[n], n))
    ]
    personas = {}
    for name in sorted({c.persona for c in calls}):
        mine = [c for c in calls if c.persona == name]
        want = LIBRARY[name].expected_disposition if name in LIBRARY else ""
        personas[name] = {
            "calls": len(mine),
            "mix_pct": rehearsal.mix.get(name, 0),
            "expected": want,
            "as_expected": sum(c.disposition == want for c in mine),
            "got": dict(Counter(c.disposition for c in mine)),
        }
    matched = sum(p["as_expected"] for p in personas.values())

    reach = Counter()
    transitions = Counter()
    for info in analysed.values():
        reach.update(set(info["path"]))
        transitions.update(info["transitions"])
    node_names = list(script["nodes"])
    structure = check_structure(script)

    stuck = Counter(c.stuck_at for c in calls if c.stuck_at)
    unfinished = Counter(
        info["last_node"]
        for c in calls
        if (info := analysed[c.id])["answered"] and not info["reached_end"] and info["last_node"] and not c.stuck_at
    )
    revisits = Counter(node for info in analysed.values() for node in info["revisited"])

    reasked, misunderstood = [], []
    reask_count = misunderstood_count = 0
    for call in calls:
        info = analysed[call.id]
        reask_count += len(info["reasks"])
        misunderstood_count += len(info["misunderstood"])
        for turn in info["reasks"]:
            if len(reasked) < MAX_LISTED:
                heard = [t["text"] for t in call.turns if t["speaker"] == "callee" and t["node"] == turn["node"]]
                reasked.append({"call": call.index, "persona": call.persona, "node": turn["node"], "heard": heard})
        for item in info["misunderstood"]:
            if len(misunderstood) < MAX_LISTED:
                misunderstood.append({"call": call.index, "persona": call.persona, **item})

    answered = [c for c in calls if c.talk_ms]

    def badness(call: RehearsalCall) -> tuple:
        info = analysed[call.id]
        wrong = LIBRARY.get(call.persona) is not None and call.disposition != LIBRARY[call.persona].expected_disposition
        return (
            bool(call.stuck_at) or bool(call.error),
            wrong,
            len(info["misunderstood"]) + len(info["reasks"]),
            call.talk_ms or 0,
        )

    worst = sorted(calls, key=badness, reverse=True)[:5]
    return {
        "calls": total,
        "mix": rehearsal.mix,
        "seed": rehearsal.seed,
        "matched": matched,
        "matched_pct": _pct(matched, total),
        "dispositions": dispositions,
        "personas": personas,
        "nodes": [{"node": name, "type": script["nodes"][name]["type"], "reached": reach[name]} for name in node_names],
        "never_reached": [name for name in node_names if not reach[name]],
        "transitions": [
            {"from": src, "label": label, "to": dst, "calls": transitions[(src, label, dst)]}
            for src, label, dst in edges(script)
        ],
        "structure": structure,
        "dead_ends": {
            "script": structure["dead_ends"],
            "stuck": dict(stuck),  # calls given up at a node the script kept sending them back to
            "ended_without_an_end_node": dict(unfinished),  # callee hung up or stayed silent there
        },
        "loops": {"script": structure["loops"], "calls_revisiting": dict(revisits)},
        "reasked": {"count": reask_count, "turns": reasked},
        "misunderstood": {"count": misunderstood_count, "turns": misunderstood},
        "average_call_ms": round(sum(c.talk_ms for c in answered) / len(answered)) if answered else 0,
        "errors": sum(bool(c.error) for c in calls),
        "worst": [
            {
                "call": c.index,
                "persona": c.persona,
                "expected": LIBRARY[c.persona].expected_disposition if c.persona in LIBRARY else "",
                "disposition": c.disposition,
                "talk_ms": c.talk_ms,
                "stuck_at": c.stuck_at,
                "error": c.error,
                "transcript": _transcript(c),
            }
            for c in worst
        ],
    }
