"""Issue 18 benchmark: campaigns of a million contacts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/robocall_bench_scale REDIS_URL=redis://127.0.0.1:6379/5 \\
        SECRET_KEY=bench .venv/bin/python -m bench.scale all --attempts 1000000 --turns-per-attempt 10

Parts (each can run alone; `all` runs them in this order and writes the "Campaign scale" section of
docs/PERFORMANCE.md; `--json PATH` keeps the raw figures, `--before PATH` adds a before/after column from a run of
the same command on the starting commit):

- `imports`: a 100,000-row and a 1,000,000-row call list through import_contacts (the background importer's path):
  seconds in one pass, peak Python heap (tracemalloc) in a separate pass, rows per second.
- `orchestration`: instant calls (busy persona) through a real `celery worker -c 2` + beat, as bench.orchestration.
- `pages`: a tenant with `--attempts` finalised call attempts and `--turns-per-attempt` turns each, generated with COPY
  (kept between runs: generation is the slow part), then the campaign report, the call list (plain and filtered),
  the CSV export (first bytes and whole) and /metrics, through Django's test Client as a signed-in manager and with
  the bearer token: median of `--runs` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from bench.orchestration import drop_campaign, fresh_campaign
from bench.scale_data import generate, us_numbers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
ROOT = Path(__file__).resolve().parent.parent
SECTION_START, SECTION_END = "<!-- scale:start -->", "<!-- scale:end -->"


def setup(migrate: bool = True) -> None:
    import django
    from django.conf import settings

    from project.devservers import ensure_database

    db = settings.DATABASES["default"]
    ensure_database(db["NAME"], user=db["USER"] or "postgres", host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432)
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def machine_load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# --- imports --------------------------------------------------------------------------------------------------


def write_list(path: Path, rows: int, bad_share: float = 0.0) -> Path:
    if path.exists() and path.stat().st_size > 0:
        return path
    rng = random.Random(rows)
    with path.open("w") as out:
        out.write("phone,first_name,last_name,plan\n")
        for i, phone in enumerate(us_numbers(rows)):
            if bad_share and rng.random() < bad_share:
                phone = "not a number" if i % 2 else phone[:6]
            out.write(f"{phone},Pat{i % 1000},Lee,gold\n")
    return path


def import_once(path: Path, traced: bool, profiler=None) -> dict:
    from django.conf import settings

    from campaigns.services.imports import import_contacts

    settings.CONTACT_UPLOAD_MAX_BYTES = max(settings.CONTACT_UPLOAD_MAX_BYTES, path.stat().st_size)
    with contextlib.suppress(ImportError):  # a cold start: the phone-prefix memo of an earlier run forgotten
        from campaigns import phone_prefixes

        phone_prefixes.clear()
    campaign = fresh_campaign(f"import {path.name}", tenant_slug="bench-import")
    try:
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        with path.open("rb") as stream, profiler or contextlib.nullcontext():
            try:
                report = import_contacts(campaign, stream, path.name)
            except TypeError:  # the starting commit's importer takes bytes only
                report = import_contacts(campaign, stream.read(), path.name)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 1_048_576 if traced else None
        if traced:
            tracemalloc.stop()
        return {"seconds": elapsed, "peak_mb": peak, "created": report.created, "rows": report.rows}
    finally:
        drop_campaign(campaign)


def profile_import(path: Path, top: int = 20) -> None:
    """One import under cProfile: where the time goes (cProfile slows Python calls, so read shares, not seconds)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    result = import_once(path, traced=False, profiler=profiler)
    print(f"profiled import of {result['rows']} rows: {result['seconds']:.1f} s under cProfile", flush=True)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def bench_imports(sizes: list[int], workdir: Path) -> list[dict]:
    out = []
    for rows in sizes:
        path = write_list(workdir / f"list-{rows}.csv", rows)
        timed = import_once(path, traced=False)
        traced = import_once(path, traced=True)
        out.append({"rows": rows, "mb": path.stat().st_size / 1_048_576, **timed, "peak_mb": traced["peak_mb"]})
        print("import", out[-1], flush=True)
    return out


# --- orchestration ----------------------------------------------------------------------------------------------


def bench_orchestration(calls: int, runs: int) -> list[float]:
    from bench.orchestration import bench_orchestration as run

    return run(calls, runs)


def _median_ms(func, runs: int) -> tuple[float, list[float]]:
    func()  # warm-up: connections, templates, caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), times


def _rss_mb() -> tuple[float, float]:
    """(resident now, resident peak) of this process, from /proc (MB)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def measure_export_memory(client, url: str, marks: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> list[dict]:
    """The whole CSV export read as a client would, memory noted as it passes 10k, 100k and 1M rows: one pass for
    the process's resident memory, another under tracemalloc for the Python heap's peak so far (a streamed export
    keeps both flat; one that builds its rows in memory grows with them). Not timed: tracemalloc slows it."""
    points: dict[int, dict] = {mark: {"rows": mark} for mark in marks}
    for traced in (False, True):
        if traced:
            tracemalloc.start()
        response, rows, pending = client.get(url), 0, list(marks)
        assert response.status_code == 200
        for chunk in response.streaming_content:
            rows += chunk.count(b"\n")
            while pending and rows >= pending[0]:
                mark = pending.pop(0)
                if traced:
                    points[mark]["heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1_048_576
                else:
                    points[mark]["rss_mb"], points[mark]["rss_peak_mb"] = _rss_mb()
        response.close()
        if traced:
            tracemalloc.stop()
        for mark in pending:  # fewer rows than this mark
            points.pop(mark, None)
    for point in points.values():
        print("export memory", point, flush=True)
    return list(points.values())


def bench_pages(attempts: int, turns_per_attempt: int, runs: int, only: str = "", export_memory: bool = False) -> dict:
    from django.conf import settings
    from django.test import Client

    data = generate(attempts, turns_per_attempt)
    campaign, user = data["campaign"], data["user"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.METRICS_TOKEN = "bench-token"  # noqa: S105 - a benchmark's own token
    settings.METRICS_INSPECT_TIMEOUT = 0.05  # no worker runs here: the broadcast would wait its full timeout
    client = Client()
    client.force_login(user)

    def get(url: str, **headers) -> None:
        response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.status_code)
        if response.streaming:
            for _ in response.streaming_content:
                pass
        response.close()

    def first_bytes(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200
        iterator = iter(response.streaming_content)
        next(iterator)
        response.close()

    c = campaign.id
    pages = {
        "campaign report": lambda: get(f"/campaigns/{c}/"),
        "call list": lambda: get(f"/campaigns/{c}/calls/"),
        "call list, page 200": lambda: get(f"/campaigns/{c}/calls/?page=200"),
        "call list, disposition=busy": lambda: get(f"/campaigns/{c}/calls/?disposition=busy"),
        "call list, intent=opt_out": lambda: get(f"/campaigns/{c}/calls/?intent=opt_out"),
        "call list, dates": lambda: get(f"/campaigns/{c}/calls/?date_from=2026-10-10&date_to=2026-10-12"),
        "/metrics": lambda: get("/metrics", HTTP_AUTHORIZATION="Bearer bench-token"),
        "CSV export, first bytes": lambda: first_bytes(f"/campaigns/{c}/export.csv"),
    }
    out = {"generated_s": data["generated_s"], "pages": {}}
    if only:  # re-measure some pages (names separated by "|")
        pages = {name: func for name, func in pages.items() if name in only.split("|")}
    for name, func in pages.items():
        median, times = _median_ms(func, runs)
        out["pages"][name] = {"median_ms": median, "runs_ms": times}
        print(f"{name}: {median:.0f} ms ({', '.join(f'{t:.0f}' for t in times)})", flush=True)
    if export_memory:
        out["export_memory"] = measure_export_memory(client, f"/campaigns/{c}/export.csv")
    if only and "CSV export, whole" not in only.split("|"):
        return out
    started = time.perf_counter()
    get(f"/campaigns/{c}/export.csv")
    out["pages"]["CSV export, whole"] = {"median_ms": (time.perf_counter() - started) * 1000, "runs_ms": []}
    print(f"CSV export whole: {out['pages']['CSV export, whole']['median_ms']:.0f} ms", flush=True)
    return out


# --- report -----------------------------------------------------------------------------------------------------


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def write_doc(results: dict, before: dict | None, command: str) -> str:
    b = before or {}
    lines = [
        "## Campaign scale (issue 18)",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on this project's 2-core machine, **shared with other "
        "people's work** (their tests and benchmarks run alongside, so every figure is noisy).",
        "Machine load: see each part below."
        if results.get("merged")
        else f"Machine load at the start: `{results.get('load_start')}`; at the end: `{results.get('load_end')}`.",
        "",
        f"Command: `{command}`",
        "",
        "*Before*: the same command on the starting commit (`git worktree add /tmp/base aa555e6`, its own database"
        " for imports and calls; page timings on the same generated data before this branch's indexes)."
        if before
        else "",
        "",
    ]
    if "imports" in results:
        lines += [
            "### Imports (import_contacts, the background importer's path)",
            "",
            "| rows | file (MB) | before (s) | after (s) | rows/s after | peak heap before (MB) "
            "| peak heap after (MB) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        old = {r["rows"]: r for r in b.get("imports", [])}
        for r in results["imports"]:
            o = old.get(r["rows"], {})
            lines.append(
                f"| {r['rows']:,} | {r['mb']:.1f} | {_fmt(o.get('seconds'), '.1f')} | {r['seconds']:.1f} | "
                f"{r['rows'] / r['seconds']:,.0f} | {_fmt(o.get('peak_mb'), '.1f')} | {r['peak_mb']:.1f} |"
            )
        lines.append("")
    if "orchestration" in results:
        rates = results["orchestration"]
        old = b.get("orchestration")
        lines += [
            "### Orchestration, instant calls (busy persona), one host: `celery worker -c 2` + beat",
            "",
            f"After: median **{statistics.median(rates):.1f} calls/s** (runs: {', '.join(f'{r:.1f}' for r in rates)})"
            + (
                f"; before: median {statistics.median(old):.1f} calls/s (runs: {', '.join(f'{r:.1f}' for r in old)})."
                if old
                else "."
            ),
            "",
        ]
    if "pages" in results:
        p = results["pages"]
        old = b.get("pages", {}).get("pages", {})
        lines += [
            f"### Pages on a tenant with {results['attempts']:,} call attempts and "
            f"{results['attempts'] * results['turns_per_attempt']:,} turns",
            "",
            "Django test Client as a signed-in manager (the /metrics view with its bearer token); median of "
            f"{results['runs']} runs after a warm-up, milliseconds."
            + (f" Data generated with COPY in {p['generated_s']:.0f} s." if p.get("generated_s") else ""),
            "",
            "| page | before (ms) | after (ms) |",
            "| --- | ---: | ---: |",
        ]
        for name, row in p["pages"].items():
            lines.append(f"| {name} | {_fmt(old.get(name, {}).get('median_ms'), '.0f')} | {row['median_ms']:.0f} |")
        lines.append("")
    for note in results.get("notes", []):
        lines += [note, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["all", "imports", "orchestration", "pages", "doc"])
    parser.add_argument("--merge", help="doc: comma-separated raw-figure files of separate parts to write as one")
    parser.add_argument("--note", action="append", default=[], help="doc: a paragraph to add under the figures")
    parser.add_argument("--import-sizes", default="100000,1000000")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--orchestration-runs", type=int, default=3)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--turns-per-attempt", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench-scale"))
    parser.add_argument("--json", help="write the raw figures here")
    parser.add_argument("--before", help="raw figures of the same run on the starting commit")
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--profile", action="store_true", help="imports: profile one import of the first size")
    parser.add_argument("--only", default="", help='pages: re-measure only these pages ("/metrics|call list")')
    parser.add_argument("--export-memory", action="store_true", help="pages: memory of the whole CSV export")
    args = parser.parse_args()
    if args.part == "doc":  # parts run separately (--json each), written as one section
        from bench.doc import replace_section

        results: dict = {}
        for path in args.merge.split(","):
            part = json.loads(Path(path).read_text())
            results.update({k: v for k, v in part.items() if k not in ("load_start", "load_end")})
            results.setdefault("load_start", part["load_start"])
            results["load_end"] = part["load_end"]
        before: dict = {}
        for path in (args.before or "").split(","):
            if path:
                before.update(json.loads(Path(path).read_text()))
        command = (
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/robocall_bench_scale REDIS_URL=redis://127.0.0.1:6379/5 "
            "SECRET_KEY=bench .venv/bin/python -m bench.scale {imports,orchestration,pages} "
            f"--import-sizes {args.import_sizes} --calls {args.calls} --orchestration-runs {args.orchestration_runs} "
            f"--attempts {results.get('attempts', args.attempts)} --turns-per-attempt "
            f"{results.get('turns_per_attempt', args.turns_per_attempt)} --runs {results.get('runs', args.runs)}"
        )
        results["notes"], results["merged"] = args.note, True
        text = write_doc(results, before or None, command)
        replace_section(SECTION_START, SECTION_END, text)
        print(text)
        return 0
    setup(migrate=not args.no_migrate)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {"load_start": machine_load(), "attempts": args.attempts}
    results.update(turns_per_attempt=args.turns_per_attempt, runs=args.runs)
    if args.part == "imports" and args.profile:
        rows = int(args.import_sizes.split(",")[0])
        profile_import(write_list(workdir / f"list-{rows}.csv", rows))
        return 0
    if args.part in ("all", "imports"):
        results["imports"] = bench_imports([int(n) for n in args.import_sizes.split(",")], workdir)
    if args.part in ("all", "orchestration"):
        results["orchestration"] = bench_orchestration(args.calls, args.orchestration_runs)
    if args.part in ("all", "pages"):
        results["pages"] = bench_pages(
            args.attempts, args.turns_per_attempt, args.runs, args.only, export_memory=args.export_memory
        )
    results["load_end"] = machine_load()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if not args.no_doc:
        from bench.doc import replace_section

        command = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/robocall_bench_scale SECRET_KEY=bench " + " ".join(
            [".venv/bin/python -m bench.scale", *sys.argv[1:]]
        )
        before = json.loads(Path(args.before).read_text()) if args.before else None
        text = write_doc(results, before, command)
        replace_section(SECTION_START, SECTION_END, text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
