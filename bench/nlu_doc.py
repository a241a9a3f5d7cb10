"""docs/PERFORMANCE.md, section "Answer understanding": rendered from the result files bench.nlu writes."""

from __future__ import annotations

import json

from bench.nlu_sets import LABELS, SETS

START, END = "<!-- nlu:start -->", "<!-- nlu:end -->"
# (set, result file, title) in the order of the tables; a file that does not exist is left out
SHOWN = [
    ("nlu", "dev", "set 1 dev"),
    ("nlu", "test", "set 1 test"),
    ("nlu_v2", "test-a", "set 2 half a"),
    ("nlu_v2", "test-b", "set 2 half b"),
    ("nlu_v2", "test", "set 2 all"),
    ("nlu_v3", "test", "set 3 (held out)"),
]


def _f(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def doc(args) -> None:
    from bench.doc import replace_section

    parts = [
        "## Answer understanding\n",
        "The classifier (pipeline/nlp.py) on the evaluation sets under bench/data (docs/NLU.md). Since "
        "2026-11-30 sets 1 (`nlu`, dev and test) and 2 (`nlu_v2`, halves a and b) are development data, read "
        "and tuned on, so their figures are optimistic; set 3 (`nlu_v3`) is the held-out test, run once per "
        "version by the lead. *accuracy*: the top label equals the gold one; *decision*: what the robot does "
        "(the label when acted on, a re-ask otherwise) equals the gold label; *wrong action*: acted on a "
        "label that is wrong, share of all answers; *opt-out recall/precision*: opt-outs acted on at once; "
        '*caught*: acted on or confirmed ("Would you like us to stop calling this number?"). Each command is '
        "listed with the load average of the shared 2-core machine.\n",
    ]
    results = {}
    for name, split, title in SHOWN:
        path = SETS / name / "results" / f"{split}.json"
        if path.exists():
            results[title] = json.loads(path.read_text())
    RESULTS = SETS / "nlu" / "results"
    rows = []
    for split, result in results.items():
        for name, title in (("old", "keyword rules only"), ("new", "semantic, version 4")):
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
        load = f", load average {result['loadavg']}" if "loadavg" in result else ""
        parts.append(f"\nCommand: `{result['command']}` (version {result['version']}, {result['when']}{load})")
    for name in ("nlu", "nlu_v2", "nlu_v3"):
        log = SETS / name / "results" / "test-runs.log"
        if log.exists():
            runs = log.read_text().strip().splitlines()
            parts.append(
                f"\nRuns of {name} as a held-out test ({len(runs)}; bench/data/{name}/results/test-runs.log):\n\n"
                + "\n".join(f"- {run}" for run in runs)
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
    spoken_file = SETS / "nlu_v2" / "results" / "spoken-test.json"
    if spoken_file.exists():
        spoken_result = json.loads(spoken_file.read_text())
        load = spoken_result.get("loadavg", "")
        lines = [
            "\n### Spoken answers (set 2, development data)\n",
            f"Command: `{spoken_result['command']}` (version {spoken_result['version']}, {spoken_result['when']}, "
            f"load average {load}): {spoken_result['answers']} answers of set 2 (every tenth line) spoken by two "
            "voices, through G.711, clean or with pink noise at 10 dB SNR, heard by whisper tiny.en (the live "
            "short-window decoding) *plain* or *biased* (prompted with typical answers to the expected intents, "
            "pipeline.asr.answer_prompt), then classified with whisper's confidence; *written*: the same answers "
            "as text. The transcripts were decoded once (`spoken`, bench/data/nlu_v2/results/spoken-test.jsonl) "
            "and classified again by the finished version (`--rescore`).\n",
            "| voice, line, whisper | accuracy spoken / written % | decision spoken / written % "
            "| wrong action spoken % | opt-out caught spoken % |",
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
            f"Command: `{lat['command']}` (version {lat['version']}, {lat['when']}; load average {lat['uptime']})\n\n"
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
