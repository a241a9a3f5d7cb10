"""Answer understanding on the independent evaluation set (bench/data/nlu): the old rules vs the semantic classifier.

    .venv/bin/python -m bench.nlu run --split dev            # figures for both classifiers on dev
    .venv/bin/python -m bench.nlu errors                      # dev only: the lines the new classifier gets wrong
    .venv/bin/python -m bench.nlu run --split test            # once per finished classifier version (PROTOCOL.md §5)
    .venv/bin/python -m bench.nlu latency                     # classification latency on one core, memory growth
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.nlu runtimes   # the embedding: onnxruntime vs numpy
    .venv/bin/python -m bench.nlu spoken --limit 120          # dev only: spoken answers through G.711 and whisper
    .venv/bin/python -m bench.nlu --set nlu_v2 run --split test   # the second held-out set (bench/data/nlu_v2)
    .venv/bin/python -m bench.nlu doc                         # rewrite the "Answer understanding" section

`run` stores its figures in bench/data/nlu/results/<split>.json (the test run also appends a line to
bench/data/nlu/results/test-runs.log, so the number of test runs per version can be counted); `doc` renders the
section of docs/PERFORMANCE.md from those files. Test lines are never printed: `errors` refuses the test split,
and `run --split test` prints aggregates only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
import zoneinfo
from collections import Counter
from pathlib import Path

SETS = Path(__file__).resolve().parent / "data"
DATA = SETS / "nlu"  # --set nlu_v2: the second held-out set (test only), written after version 3 was measured
RESULTS = DATA / "results"
NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person", "ask_repeat", "question", "digits"]
LABELS = [*INTENTS, "unknown"]
OLD_MIN_CONFIDENCE = 0.35  # the rules classifier's act threshold (pipeline.nlp.MIN_CONFIDENCE before the change)
START, END = "<!-- nlu:start -->", "<!-- nlu:end -->"
MONOLOGUE = " ".join(
    [
        "well you see the thing is my sister came over on tuesday and we were going to go to the garden centre",
        "but then the car would not start so we had a cup of tea instead and talked about her holiday in spain",
        "and the hotel was lovely but the food was not what she expected and the weather was far too hot for her",
        "so she spent most of the week by the pool reading those crime novels she likes, the ones with the detective",
        "who lives on an island, I can never remember his name, anyway she said the flights were delayed both ways",
    ]
    * 3
)


def load(split: str) -> list[dict]:
    """The answers of one split; the other split's lines are dropped as they are read."""
    rows = []
    with (DATA / "answers.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            if row["split"] == split:
                rows.append(row)
    return rows


def version() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        [
            "git",
            "status",
            "--porcelain",
            "--",
            "pipeline/nlp.py",
            "pipeline/languages",
            "pipeline/embeddings.py",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+uncommitted" if dirty else "")


# --- decisions ------------------------------------------------------------------------------------------------


def decide_old(text: str) -> dict:
    from pipeline import nlp

    intent = nlp.classify_rules(text, NOW)
    acted = intent.name != nlp.UNKNOWN and (intent.confidence >= OLD_MIN_CONFIDENCE or intent.name == "opt_out")
    return {"label": intent.name, "action": "act" if acted else "re-ask", "confirm": False}


def decide_new(text: str) -> dict:
    """What the conversation does (pipeline.conversation.Conversation._decide): act, confirm an opt-out, re-ask."""
    from pipeline import nlp

    intent = nlp.classify(text, NOW)
    acted = intent.name != nlp.UNKNOWN and intent.confidence >= nlp.MIN_CONFIDENCE
    confirm = not (acted and intent.name == "opt_out") and nlp.opt_out_probability(intent) >= nlp.OPT_OUT_CONFIRM
    if confirm:
        acted = False
    return {"label": intent.name, "action": "act" if acted else "re-ask", "confirm": confirm, "p": intent.confidence}


def evaluate(rows: list[dict], decide) -> dict:
    decisions = [decide(row["text"]) for row in rows]
    gold = [row["intent"] for row in rows]
    n = len(rows)
    label = [d["label"] for d in decisions]
    acted = [d["action"] == "act" for d in decisions]
    effective = [d["label"] if a else "unknown" for d, a in zip(decisions, acted, strict=True)]
    per_intent = {}
    for name in LABELS:
        tp = sum(p == name and g == name for p, g in zip(label, gold, strict=True))
        predicted = sum(p == name for p in label)
        actual = sum(g == name for g in gold)
        per_intent[name] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / actual if actual else None,
            "n": actual,
        }
    opt_gold = [g == "opt_out" for g in gold]
    opt_acted = [a and d["label"] == "opt_out" for d, a in zip(decisions, acted, strict=True)]
    opt_caught = [o or d["confirm"] for o, d in zip(opt_acted, decisions, strict=True)]
    confusion = Counter(zip(gold, label, strict=True))
    return {
        "n": n,
        "accuracy": sum(p == g for p, g in zip(label, gold, strict=True)) / n,
        "decision_accuracy": sum(p == g for p, g in zip(effective, gold, strict=True)) / n,
        "wrong_action": sum(a and d["label"] != g for d, a, g in zip(decisions, acted, gold, strict=True)) / n,
        "reasked": sum(not a and g != "unknown" for a, g in zip(acted, gold, strict=True)) / n,
        "opt_out_recall": sum(a and g for a, g in zip(opt_acted, opt_gold, strict=True)) / sum(opt_gold),
        "opt_out_precision": _ratio(sum(a and g for a, g in zip(opt_acted, opt_gold, strict=True)), sum(opt_acted)),
        "opt_out_caught": sum(c and g for c, g in zip(opt_caught, opt_gold, strict=True)) / sum(opt_gold),
        "confirmations": sum(d["confirm"] for d in decisions),
        "confirmations_not_opt_out": sum(d["confirm"] and not g for d, g in zip(decisions, opt_gold, strict=True)),
        "per_intent": per_intent,
        "confusion": {f"{g}>{p}": c for (g, p), c in sorted(confusion.items())},
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def run(args) -> None:
    rows = load(args.split)
    result = {
        "split": args.split,
        "lines": len(rows),
        "version": version(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": ".venv/bin/python -m bench.nlu " + shlex.join(sys.argv[1:]),
        "old": evaluate(rows, decide_old),
        "new": evaluate(rows, decide_new),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.split}.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.split == "test":
        with (RESULTS / "test-runs.log").open("a") as log:
            new = result["new"]
            log.write(
                f"{result['when']} version {result['version']}: accuracy {new['accuracy']:.3f}, "
                f"wrong action {new['wrong_action']:.3f}, opt-out recall {new['opt_out_recall']:.3f}\n"
            )
    for name in ("old", "new"):
        r = result[name]
        print(
            f"{args.split} {name}: accuracy {r['accuracy']:.3f} decision {r['decision_accuracy']:.3f} "
            f"wrong action {r['wrong_action']:.3f} re-asked {r['reasked']:.3f} "
            f"opt-out recall {r['opt_out_recall']:.3f} "
            f"precision {r['opt_out_precision'] or 0:.3f} caught {r['opt_out_caught']:.3f} "
            f"confirmations {r['confirmations']} ({r['confirmations_not_opt_out']} not opt-out)"
        )


def errors(args) -> None:
    """Dev only: the new classifier's mistakes, for error analysis."""
    from pipeline import nlp

    if args.split != "dev":
        sys.exit("errors lists lines: only for the dev split (PROTOCOL.md §5)")
    for row in load("dev"):
        intent = nlp.classify(row["text"], NOW)
        decision = decide_new(row["text"])
        wrong = intent.name != row["intent"]
        if wrong or (args.all and decision["action"] != "act"):
            mark = "ACT" if decision["action"] == "act" and wrong else ("CONF" if decision["confirm"] else "")
            print(f"{row['intent']:>16} -> {intent.name:<16} {intent.confidence:.2f} {mark:4} | {row['text'][:110]}")


# --- latency and memory --------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def latency(args) -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # one core
    import numpy  # noqa: F401  (imported before measuring the model's memory)
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401

    from pipeline import nlp

    before = _rss_mb()
    t0 = time.perf_counter()
    nlp.example_bank()
    load_s = time.perf_counter() - t0
    after = _rss_mb()
    texts = [row["text"] for row in load("dev")]
    for text in texts[:50]:
        nlp.classify(text, NOW)
    wall, cpu = [], []
    for _ in range(args.rounds):
        for text in texts:
            w0, c0 = time.perf_counter(), time.thread_time()
            nlp.classify(text, NOW)
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
    long_ms = []
    for _ in range(5):  # an off-topic monologue of about 300 words (more than a minute of speech)
        w0 = time.perf_counter()
        nlp.classify(MONOLOGUE, NOW)
        long_ms.append((time.perf_counter() - w0) * 1000)
    long_ms = sorted(long_ms)[2]
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": ".venv/bin/python -m bench.nlu " + shlex.join(sys.argv[1:]),
        "version": version(),
        "calls": len(wall),
        "wall_p50": _pct(wall, 50),
        "wall_p99": _pct(wall, 99),
        "cpu_p50": _pct(cpu, 50),
        "cpu_p99": _pct(cpu, 99),
        "monologue_ms": long_ms,
        "load_s": load_s,
        "rss_growth_mb": after - before,
        "rss_after_calls_mb": _rss_mb() - before,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latency.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


def runtimes(args) -> None:
    """The embedding alone, onnxruntime (the graph pipeline.embeddings writes) against the plain numpy forward
    pass over the same weights: thread CPU time per dev answer on one core, and the largest vector difference."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    import numpy as np

    from pipeline import embeddings
    from pipeline.nlp import clean

    encoder = embeddings.encoder()
    bert = embeddings.Bert.load(embeddings.model_dir())
    texts = [clean(row["text"]) or "." for row in load("dev")]
    timings: dict[str, list[float]] = {"onnxruntime": [], "numpy": []}
    worst = 0.0
    runs = {"onnxruntime": encoder.encode, "numpy": lambda text: embeddings.reference_encode(bert, encoder, text)}
    vectors: dict[str, list] = {}
    for name, encode in runs.items():  # one runtime after the other, each warmed up first
        for text in texts[:20]:
            encode(text)
        vectors[name] = []
        for text in texts:
            c0 = time.thread_time()
            vectors[name].append(encode(text))
            timings[name].append((time.thread_time() - c0) * 1000)
    for fast, slow in zip(vectors["onnxruntime"], vectors["numpy"], strict=True):
        worst = max(worst, float(np.abs(fast - slow).max()))
    for name, values in timings.items():
        print(f"{name}: CPU P50 {_pct(values, 50):.2f} ms, P99 {_pct(values, 99):.2f} ms")
    print(f"largest difference between the two vectors: {worst:.1e}")


def spoken(args) -> None:
    """Dev (or set 2's test, once per version) only: answers spoken by piper and espeak-ng voices, through G.711
    (and pink noise at 10 dB SNR for `noisy`), heard by whisper as a live call does, then classified with
    whisper's confidence: what the robot does, against the same answers as written."""
    from bench import speech_data
    from pipeline.asr import WhisperASR

    if args.split != "dev" and DATA.name != "nlu_v2":
        sys.exit("spoken: dev only (the test split is run once per version, by `run`); set 2 is test only")
    rows = load(args.split)
    step = max(1, len(rows) // args.limit)
    rows = rows[::step][: args.limit]
    voices = [("piper-joe", "piper", "1.0"), ("espeak-en-gb-f3", "espeak", "en-gb+f3")]
    asr = WhisperASR()
    outcome: dict[str, list[dict]] = {}
    for voice, engine, setting in voices:
        for condition in ("g711", "noisy"):
            results = []
            for index, row in enumerate(rows):
                audio = speech_data.synthesize(engine, setting, row["text"])
                heard = asr.transcribe_utterance(speech_data.degrade(audio, condition, seed=index))
                spoken_decision = decide_new_with(heard.text, heard.confidence or 1.0)
                written = decide_new(row["text"])
                results.append({"gold": row["intent"], "spoken": spoken_decision, "written": written})
            outcome[f"{voice} {condition}"] = results
            print(f"{voice} {condition}: {_summary(results)}", file=sys.stderr)
    summary = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": ".venv/bin/python -m bench.nlu " + shlex.join(sys.argv[1:]),
        "version": version(),
        "answers": len(rows),
        "rows": {name: _summary(results) for name, results in outcome.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"spoken-{args.split}.json").write_text(json.dumps(summary, indent=1) + "\n")


def decide_new_with(text: str, asr_confidence: float) -> dict:
    from pipeline import nlp

    intent = nlp.classify(text, NOW, asr_confidence)
    acted = intent.name != nlp.UNKNOWN and intent.confidence >= nlp.MIN_CONFIDENCE
    confirm = not (acted and intent.name == "opt_out") and nlp.opt_out_probability(intent) >= nlp.OPT_OUT_CONFIRM
    acted = acted and not confirm
    return {"label": intent.name, "action": "act" if acted else "re-ask", "confirm": confirm}


def _summary(results: list[dict]) -> dict:
    n = len(results)

    def rates(key: str) -> dict:
        decisions = [(r[key], r["gold"]) for r in results]
        effective = [(d["label"] if d["action"] == "act" else "unknown", g) for d, g in decisions]
        opt = [d for d, g in decisions if g == "opt_out"]
        return {
            "accuracy": sum(d["label"] == g for d, g in decisions) / n,
            "decision": sum(p == g for p, g in effective) / n,
            "wrong_action": sum(d["action"] == "act" and d["label"] != g for d, g in decisions) / n,
            "opt_out_caught": sum(d["action"] == "act" and d["label"] == "opt_out" or d["confirm"] for d in opt)
            / max(1, len(opt)),
        }

    return {"spoken": rates("spoken"), "written": rates("written")}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))]


# --- docs/PERFORMANCE.md ---------------------------------------------------------------------------------------


def _f(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def doc(args) -> None:
    from bench.doc import replace_section

    parts = [
        "## Answer understanding\n",
        "The classifier (pipeline/nlp.py) on bench/data/nlu, an evaluation set written without looking at it "
        "(docs/NLU.md, bench/data/nlu/PROTOCOL.md): dev was used for tuning, test only to report a finished "
        "version. *accuracy*: the top label equals the gold one; *decision*: what the robot does "
        "(the label when acted on, a re-ask otherwise) equals the gold label; *wrong action*: acted on a "
        "label that is wrong, share of all answers; *opt-out recall/precision*: opt-outs acted on at once; "
        '*caught*: acted on or confirmed ("Would you like us to stop calling this number?").\n',
    ]
    results = {
        split: json.loads((RESULTS / f"{split}.json").read_text())
        for split in ("dev", "test")
        if (RESULTS / f"{split}.json").exists()
    }
    second = SETS / "nlu_v2" / "results" / "test.json"
    if second.exists():
        results["test, set 2"] = json.loads(second.read_text())
    rows = []
    for split, result in results.items():
        for name, title in (("old", "rules (before)"), ("new", "semantic (now)")):
            r = result[name]
            rows.append(
                f"| {split} ({result['lines']}) | {title} | {_f(r['accuracy'])} | {_f(r['decision_accuracy'])} | "
                f"{_f(r['wrong_action'])} | {_f(r['reasked'])} | {_f(r['opt_out_recall'])} | "
                f"{_f(r['opt_out_precision'])} | {_f(r['opt_out_caught'])} | {r['confirmations']} |"
            )
    parts.append(
        "| split (answers) | classifier | accuracy % | decision % | wrong action % | re-asked % | opt-out recall % | "
        "opt-out precision % | opt-out caught % | confirmations |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows)
    )
    for result in results.values():
        parts.append(f"\nCommand: `{result['command']}` (version {result['version']}, {result['when']})")
    if (RESULTS / "test-runs.log").exists():
        runs = (RESULTS / "test-runs.log").read_text().strip().splitlines()
        parts.append(
            f"\nEvery run of the test split so far ({len(runs)}; one per finished version, none used for tuning; "
            "bench/data/nlu/results/test-runs.log):\n\n" + "\n".join(f"- {run}" for run in runs)
        )
    for split, result in results.items():
        parts.append(f"\n### Per intent, {split} (precision / recall %, old → new)\n")
        lines = [
            "| intent | n | old precision | old recall | new precision | new recall |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in LABELS:
            o, n = result["old"]["per_intent"][name], result["new"]["per_intent"][name]
            cells = [_f(o["precision"]), _f(o["recall"]), _f(n["precision"]), _f(n["recall"])]
            lines.append(f"| {name} | {n['n']} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
        parts.append(f"\nConfusion matrix, new classifier, {split} (rows: gold, columns: predicted label):\n")
        confusion = result["new"]["confusion"]
        short = [name[:8] for name in LABELS]
        matrix = ["| gold \\ predicted | " + " | ".join(short) + " |", "|---|" + "---:|" * len(LABELS)]
        for gold in LABELS:
            cells = [str(confusion.get(f"{gold}>{p}", 0) or "·") for p in LABELS]
            matrix.append(f"| {gold} | " + " | ".join(cells) + " |")
        parts.append("\n".join(matrix))
    if (RESULTS / "spoken-dev.json").exists():
        spoken_result = json.loads((RESULTS / "spoken-dev.json").read_text())
        lines = [
            "\n### Spoken answers (dev only)\n",
            f"Command: `{spoken_result['command']}` (version {spoken_result['version']}, {spoken_result['when']}): "
            f"{spoken_result['answers']} dev answers (every fifth line) spoken by two voices, through G.711, clean "
            "or with pink noise at 10 dB SNR, heard by whisper tiny.en (the live short-window decoding), then "
            "classified with whisper's confidence; *written* is the same answers as text. Test was not used.\n",
            "| voice, line | accuracy spoken / written % | decision spoken / written % | wrong action spoken % "
            "| opt-out caught spoken % |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, row in spoken_result["rows"].items():
            sp, wr = row["spoken"], row["written"]
            lines.append(
                f"| {name} | {_f(sp['accuracy'])} / {_f(wr['accuracy'])} | {_f(sp['decision'])} / "
                f"{_f(wr['decision'])} | {_f(sp['wrong_action'])} | {_f(sp['opt_out_caught'])} |"
            )
        parts.append("\n".join(lines))
    if (RESULTS / "latency.json").exists():
        lat = json.loads((RESULTS / "latency.json").read_text())
        parts.append(
            "\n### Latency and memory (new classifier, one core)\n\n"
            f"Command: `{lat['command']}` (version {lat['version']}, {lat['when']}; `uptime`: {lat['uptime']})\n\n"
            "| calls | wall P50 ms | wall P99 ms | CPU P50 ms | CPU P99 ms | 300-word monologue ms (median of 5) "
            "| model load s | RSS growth MB |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {lat['calls']} | {lat['wall_p50']:.2f} | {lat['wall_p99']:.2f} | {lat['cpu_p50']:.2f} | "
            f"{lat['cpu_p99']:.2f} | {lat['monologue_ms']:.1f} | {lat['load_s']:.2f} | {lat['rss_growth_mb']:.0f} |\n\n"
            "Each dev answer classified as the conversation does (embedding + example bank + rules), the process "
            "pinned to one core; CPU is the calling thread's CPU time, less sensitive than wall time to the other "
            "work on this shared 2-core machine. RSS growth: resident memory after loading the model and "
            "embedding the example bank, against before (numpy, onnxruntime and tokenizers already imported); the "
            "weights are a read-only mapping of the packaged safetensors file, shared between processes."
        )
    replace_section(START, END, "\n".join(parts))
    print("docs/PERFORMANCE.md: Answer understanding")


def main() -> None:
    global DATA, RESULTS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="nlu", choices=["nlu", "nlu_v2"], help="which evaluation set")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--split", choices=["dev", "test"], default="dev")
    p.set_defaults(func=run)
    p = sub.add_parser("errors")
    p.add_argument("--split", default="dev")
    p.add_argument("--all", action="store_true", help="also the correct answers that were not acted on")
    p.set_defaults(func=errors)
    p = sub.add_parser("latency")
    p.add_argument("--rounds", type=int, default=5)
    p.set_defaults(func=latency)
    sub.add_parser("runtimes").set_defaults(func=runtimes)
    p = sub.add_parser("spoken")
    p.add_argument("--split", default="dev")
    p.add_argument("--limit", type=int, default=120)
    p.set_defaults(func=spoken)
    sub.add_parser("doc").set_defaults(func=doc)
    args = parser.parse_args()
    DATA = SETS / args.set
    RESULTS = DATA / "results"
    args.func(args)


if __name__ == "__main__":
    main()
