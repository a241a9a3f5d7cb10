"""Answer understanding (English) on an evaluation set under bench/data: the old rules vs the semantic classifier.

    .venv/bin/python -m bench.nlu run --split dev                  # set 1 (bench/data/nlu), dev split
    .venv/bin/python -m bench.nlu --set nlu_v2 run --split test --part a   # set 2, one half (tuning check)
    .venv/bin/python -m bench.nlu errors --split all               # a development set's mistakes
    .venv/bin/python -m bench.nlu --set nlu_v3 run --split test    # a held-out set: aggregates only, logged
    .venv/bin/python -m bench.nlu latency                          # classification latency on one core, memory
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.nlu runtimes  # the embedding: onnxruntime vs numpy
    .venv/bin/python -m bench.nlu --set nlu_v2 spoken --split test --limit 150 [--bias]   # through G.711, whisper
    .venv/bin/python -m bench.nlu doc                              # rewrite the "Answer understanding" section

`--set` is any folder under bench/data with an answers.jsonl (bench.nlu_sets). Sets 1 and 2 are development data
since 2026-11-30 (docs/NLU.md); any other set is held out: `errors` refuses it, `run` prints aggregates only and
appends a line to its results/test-runs.log. `run` stores its figures in bench/data/<set>/results/<split>[-<part>].json,
which `doc` renders into docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import zoneinfo

from bench.nlu_sets import (
    LABELS,  # noqa: F401 (re-exported for bench.nlu_doc)
    EvalSet,
    add_set_argument,
    command,
    evaluate,
    loadavg,
    log_test_run,
    now_utc,
    percentile,
    version,
    write_result,
)
from bench.nlu_sets import decide as decide_in

NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
OLD_MIN_CONFIDENCE = 0.35  # the rules classifier's act threshold (pipeline.nlp.MIN_CONFIDENCE before the change)
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


# --- decisions ------------------------------------------------------------------------------------------------


def decide_old(text: str) -> dict:
    from pipeline import nlp

    intent = nlp.classify_rules(text, NOW)
    acted = intent.name != nlp.UNKNOWN and (intent.confidence >= OLD_MIN_CONFIDENCE or intent.name == "opt_out")
    return {"label": intent.name, "action": "act" if acted else "re-ask", "confirm": False}


def decide_new(text: str, asr_confidence: float = 1.0) -> dict:
    return decide_in(text, NOW, "en", asr_confidence)


def run(args) -> None:
    data: EvalSet = args.set
    rows = data.load(args.split, args.part)
    name = args.split + (f"-{args.part}" if args.part else "")
    result = {
        "set": data.name,
        "split": name,
        "lines": len(rows),
        "version": version(),
        "when": now_utc(),
        "loadavg": loadavg(),
        "command": command("bench.nlu"),
        "old": evaluate(rows, decide_old),
        "new": evaluate(rows, decide_new),
    }
    write_result(data, name, result)
    if not data.development:
        new = result["new"]
        log_test_run(
            data,
            f"{result['when']} version {result['version']} {name}: accuracy {new['accuracy']:.3f}, "
            f"wrong action {new['wrong_action']:.3f}, opt-out recall {new['opt_out_recall']:.3f}",
        )
    for key in ("old", "new"):
        r = result[key]
        print(
            f"{data.name} {name} ({len(rows)}) {key}: accuracy {r['accuracy']:.3f} "
            f"decision {r['decision_accuracy']:.3f} "
            f"wrong action {r['wrong_action']:.3f} re-asked {r['reasked']:.3f} "
            f"opt-out recall {r['opt_out_recall']:.3f} "
            f"precision {r['opt_out_precision'] or 0:.3f} caught {r['opt_out_caught']:.3f} "
            f"confirmations {r['confirmations']} ({r['confirmations_not_opt_out']} not opt-out)"
        )


def errors(args) -> None:
    """Development sets only: the new classifier's mistakes, for error analysis."""
    data: EvalSet = args.set
    if not data.development:
        sys.exit(f"errors lists lines: {data.name} is held out (docs/NLU.md)")
    for row in data.load(args.split, args.part):
        decision = decide_new(row["text"])
        wrong = decision["label"] != row["intent"]
        if wrong or (args.all and decision["action"] != "act"):
            mark = "ACT" if decision["action"] == "act" and wrong else ("CONF" if decision["confirm"] else "")
            print(f"{row['intent']:>16} -> {decision['label']:<16} {decision['p']:.2f} {mark:4} | {row['text'][:110]}")


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
    texts = [row["text"] for row in args.set.load("dev")]
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
        "when": now_utc(),
        "command": command("bench.nlu"),
        "version": version(),
        "calls": len(wall),
        "wall_p50": percentile(wall, 50),
        "wall_p99": percentile(wall, 99),
        "cpu_p50": percentile(cpu, 50),
        "cpu_p99": percentile(cpu, 99),
        "monologue_ms": long_ms,
        "load_s": load_s,
        "rss_growth_mb": after - before,
        "rss_after_calls_mb": _rss_mb() - before,
        "uptime": loadavg(),
    }
    write_result(args.set, "latency", result)
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
    texts = [clean(row["text"]) or "." for row in args.set.load("dev")]
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
        print(f"{name}: CPU P50 {percentile(values, 50):.2f} ms, P99 {percentile(values, 99):.2f} ms")
    print(f"largest difference between the two vectors: {worst:.1e}")


def spoken(args) -> None:
    """Answers spoken by piper and espeak-ng voices, through G.711 (and pink noise at 10 dB SNR for `noisy`),
    heard by whisper as a live call does, then classified with whisper's confidence; against the same answers as
    written. Each clip is decoded twice: plain, and biased toward the expected answers (whisper prompted with
    pipeline.asr.answer_prompt). Every transcript is kept (results/spoken-<split>.jsonl, written as it goes), so
    the act/re-ask rule can be re-scored on it without decoding again (`spoken --rescore`)."""
    data: EvalSet = args.set
    if not data.development:
        sys.exit(f"spoken: {data.name} is held out; its answers are classified by `run` only")
    name = f"spoken-{args.split}" + (f"-{args.part}" if args.part else "")
    heard_file = data.results / f"{name}.jsonl"
    if not args.rescore:
        _decode_spoken(data, args, heard_file)
    records = [json.loads(line) for line in heard_file.read_text().splitlines() if line.strip()]
    order = [f"{voice} {condition}" for voice, _, _ in VOICES for condition in CONDITIONS]
    conditions = sorted({r["condition"] for r in records}, key=order.index)
    rows = {}
    for condition in conditions:
        for bias in (False, True):
            key = "biased" if bias else "plain"
            results = [
                {
                    "gold": r["gold"],
                    "spoken": decide_new(r[key]["text"], r[key]["confidence"] or 1.0),
                    "written": decide_new(r["text"]),
                }
                for r in records
                if r["condition"] == condition
            ]
            rows[f"{condition}, {'biased' if bias else 'plain'}"] = _summary(results)
    summary = {
        "set": data.name,
        "when": now_utc(),
        "loadavg": loadavg(),
        "command": command("bench.nlu"),
        "version": version(),
        "answers": len({r["text"] for r in records}),
        "rows": rows,
    }
    write_result(data, name, summary)
    for key, row in rows.items():
        print(f"{key}: {row}")


VOICES = [("piper-joe", "piper", "1.0"), ("espeak-en-gb-f3", "espeak", "en-gb+f3")]
CONDITIONS = ("g711", "noisy")


def _decode_spoken(data: EvalSet, args, heard_file) -> None:
    from bench import speech_data
    from pipeline.asr import WhisperASR, answer_prompt

    rows = data.load(args.split, args.part)
    step = max(1, len(rows) // args.limit)
    rows = rows[::step][: args.limit]
    asr = WhisperASR()
    prompt = answer_prompt()
    data.results.mkdir(exist_ok=True)
    done = set()  # an interrupted run resumes: clips already decoded are kept
    if heard_file.exists():
        done = {(r["condition"], r["text"]) for r in map(json.loads, heard_file.read_text().splitlines())}
    with heard_file.open("a") as out:
        for voice, engine, setting in VOICES:
            for condition in args.conditions.split(","):
                for index, row in enumerate(rows):
                    if (f"{voice} {condition}", row["text"]) in done:
                        continue
                    audio = speech_data.degrade(speech_data.synthesize(engine, setting, row["text"]), condition, index)
                    record = {"condition": f"{voice} {condition}", "gold": row["intent"], "text": row["text"]}
                    for key, bias in (("plain", None), ("biased", prompt)):
                        heard = asr.transcribe_utterance(audio, prompt=bias)
                        record[key] = {"text": heard.text, "confidence": heard.confidence}
                    out.write(json.dumps(record) + "\n")
                    out.flush()


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


def main() -> None:
    from bench.nlu_doc import doc

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_argument(parser, "nlu")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("run", run), ("errors", errors), ("spoken", spoken)):
        p = sub.add_parser(name)
        p.add_argument("--split", default="dev", help="dev, test, or all")
        p.add_argument("--part", choices=["a", "b"], default="", help="one half of the split (by a hash of the id)")
        p.set_defaults(func=func)
        if name == "errors":
            p.add_argument("--all", action="store_true", help="also the correct answers that were not acted on")
        if name == "spoken":
            p.add_argument("--limit", type=int, default=120)
            p.add_argument("--conditions", default="g711,noisy", help="g711 and/or noisy (pink noise, 10 dB SNR)")
            p.add_argument("--rescore", action="store_true", help="classify the stored transcripts again")
    p = sub.add_parser("latency")
    p.add_argument("--rounds", type=int, default=5)
    p.set_defaults(func=latency)
    sub.add_parser("runtimes").set_defaults(func=runtimes)
    sub.add_parser("doc").set_defaults(func=doc)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
