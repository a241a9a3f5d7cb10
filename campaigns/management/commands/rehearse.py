"""manage.py rehearse CAMPAIGN --calls N --mix "agree=40,decline=20,..." : rehearse a campaign on virtual callees.

The calls go to the dial queue like live calls (a worker must be running: `make worker`, or the demo's); the
command waits for the report and prints it (--no-wait: print the rehearsal's id and return).
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign, Rehearsal
from campaigns.services import rehearsals


def format_report(rehearsal: Rehearsal) -> str:
    r = rehearsal.report
    out = [
        f"Rehearsal {rehearsal.id} of campaign {rehearsal.campaign_id}: {r['calls']} calls (seed {r['seed']}), "
        f"{r['matched']} ({r['matched_pct']} %) as the mix meant; average call {r['average_call_ms'] / 1000:.1f} s",
        "",
        f"{'disposition':<20} {'mix meant':>12} {'predicted':>12}",
    ]
    for d in r["dispositions"]:
        meant, got = f"{d['expected']} ({d['expected_pct']}%)", f"{d['predicted']} ({d['predicted_pct']}%)"
        out.append(f"{d['disposition']:<20} {meant:>12} {got:>12}")
    out += ["", f"{'node':<24} reached"] + [f"{n['node']:<24} {n['reached']}" for n in r["nodes"]]
    problems = (
        [f"never reached: {n}" for n in r["never_reached"]]
        + [f"dead end (no way out without one exact answer): {n}" for n in r["dead_ends"]["script"]]
        + [f"{c} call(s) given up at {n}" for n, c in r["dead_ends"]["stuck"].items()]
        + [
            f"{c} call(s) ended at {n} without an end node"
            for n, c in r["dead_ends"]["ended_without_an_end_node"].items()
        ]
        + [f"loop: {loop}" for loop in r["loops"]["script"]]
    )
    out += ["", "Problems:"] + [f"  - {p}" for p in problems or ["none found"]]
    out += ["", f"Re-asked {r['reasked']['count']} time(s); misunderstood {r['misunderstood']['count']} answer(s):"]
    out += [
        f"  call {t['call']} ({t['persona']}) at {t['node']}: said {t['said']!r}, heard {t['heard']!r}, "
        f"understood {t['understood']} (meant {t['meant']})"
        for t in r["misunderstood"]["turns"][:10]
    ]
    out += ["", "Worst calls:"]
    for c in r["worst"]:
        out.append(f"  call {c['call']} ({c['persona']}): meant {c['expected']}, got {c['disposition']}")
        out += [f"      {line}" for line in c["transcript"]]
    return "\n".join(out)


class Command(BaseCommand):
    help = "Rehearse a campaign on virtual callees in a mix of personas (nobody is called) and print the report."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="Campaign id.")
        parser.add_argument("--calls", type=int, default=20)
        parser.add_argument("--mix", default="", help='e.g. "agree=40,decline=20,...,repeat=5" (default mix if empty)')
        parser.add_argument("--seed", type=int, default=None, help="Repeat an earlier rehearsal's picks.")
        parser.add_argument("--no-wait", action="store_true", help="Start it and return.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the report.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        campaign = (
            Campaign.objects.filter(id=int(options["campaign"])).first() if options["campaign"].isdigit() else None
        )
        if campaign is None:
            raise CommandError(f"No campaign {options['campaign']}.")
        try:
            mix = rehearsals.parse_mix(options["mix"]) or None
            rehearsal = rehearsals.start_rehearsal(campaign, options["calls"], mix, seed=options["seed"])
        except (rehearsals.RehearsalError, rehearsals.RehearsalBusy) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"started rehearsal {rehearsal.id}: {rehearsal.calls} calls on the dial queue")
        if options["no_wait"]:
            return
        started, deadline = time.monotonic(), time.monotonic() + options["timeout"]
        while True:
            rehearsal.refresh_from_db()
            if rehearsal.status != Rehearsal.Status.RUNNING:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"rehearsal {rehearsal.id} is still running (is a worker consuming 'dial'?)")
            time.sleep(0.5)
        if rehearsal.status == Rehearsal.Status.FAILED:
            raise CommandError(f"rehearsal {rehearsal.id} failed: {rehearsal.error}")
        self.stdout.write(f"finished in {time.monotonic() - started:.1f} s")
        self.stdout.write(json.dumps(rehearsal.report, indent=2) if options["json"] else format_report(rehearsal))
