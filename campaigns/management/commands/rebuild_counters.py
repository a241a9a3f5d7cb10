"""Recount the per-campaign counters (report, progress, /metrics) from the rows.

The triggers keep them exact, so this is a repair and a check: `--check` compares without changing anything and
exits 1 on a difference (a monitoring job can run it). Writers wait while either runs (seconds per million rows).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns import counters
from campaigns.models import Campaign


class Command(BaseCommand):
    help = "Recount the per-campaign counters from the contacts, call attempts and turns."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--campaign", type=int, action="append", help="only this campaign id (repeatable)")
        parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")

    def handle(self, *args, campaign: list[int] | None = None, check: bool = False, **options) -> None:
        ids = campaign or list(Campaign.objects.values_list("id", flat=True))
        if check:
            differ = counters.mismatches(ids)
            if differ:
                raise CommandError(f"counters differ from the rows (campaign: {{name: (stored, counted)}}): {differ}")
            self.stdout.write(f"counters match the rows for {len(ids)} campaigns")
            return
        counters.rebuild(campaign)
        self.stdout.write(f"counters rebuilt for {'all' if campaign is None else len(ids)} campaigns")
