"""What one instant call costs the dialler, counted in one process: SQL statements, commits, Redis round trips
(limits, heartbeat and the broker's messages alike) and wall time per call, through the Celery task functions
called in-process (place_call, then finalize_call where the dial task does not finalize its own call), optionally
under cProfile. Celery's own per-task work (fetching, acknowledging) is not included.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/robocall_bench_costs REDIS_URL=redis://127.0.0.1:6379/5 \\
        SECRET_KEY=bench .venv/bin/python -m bench.call_costs --calls 300 [--profile]

Commits are PostgreSQL's own count for the database (pg_stat_database.xact_commit, read before and after, so the
database must have no other clients); statements are Django's (BEGIN and COMMIT are not among them).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import sys
import time

from bench.orchestration import drop_campaign, fresh_campaign, numbers, setup


class RedisTrips:
    """Counts requests written to any Redis connection of this process (a pipeline or a script is one)."""

    def __init__(self) -> None:
        import redis.connection

        self.count, self.cls = 0, redis.connection.AbstractConnection
        self.original = self.cls.send_packed_command

    def __enter__(self) -> RedisTrips:
        counter = self

        def counted(conn, command, check_health=True):
            counter.count += 1
            return counter.original(conn, command, check_health)

        self.cls.send_packed_command = counted
        return self

    def __exit__(self, *exc) -> None:
        self.cls.send_packed_command = self.original


def commits() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def run(calls: int, profile: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns import tasks
    from campaigns.models import CallAttempt, Campaign
    from campaigns.services.dispatch import dispatch_campaign
    from campaigns.services.imports import import_contacts
    from project.celery import app

    campaign = fresh_campaign("call costs", max_concurrent_calls=1000, calls_per_second=1000)
    import_contacts(campaign, ("phone\n" + "\n".join(numbers(calls, last_digit="6")) + "\n").encode(), "c.csv")
    Campaign.objects.filter(id=campaign.id).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    released: list[int] = []
    while len(released) < calls:
        got = dispatch_campaign(campaign, dt.datetime.now(dt.UTC))
        if not got:
            break
        released += got
    app.control.purge()  # the dial messages the dispatch sent: this process runs the calls itself
    warm = released.pop()
    tasks.place_call(warm)  # engines, scripts and connections ready before counting
    tasks.finalize_call(warm)
    inline = hasattr(tasks, "_finalize")  # the dial task finalizes its own call (else: a finalize task per call)
    profiler = cProfile.Profile() if profile else None
    before = commits()
    with CaptureQueriesContext(connection) as queries, RedisTrips() as trips:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for attempt_id in released:
            tasks.place_call(attempt_id)
            if not inline:
                tasks.finalize_call(attempt_id)  # what the message place_call sent would run
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
    n = len(released)
    result = {
        "calls": n,
        "ms_per_call": elapsed * 1000 / n,
        "statements_per_call": len(queries) / n,
        "commits_per_call": (commits() - before - 1) / n,  # less the read of the counter itself
        "redis_trips_per_call": trips.count / n,
    }
    finalized = CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.FINALIZED).count()
    assert finalized == n + 1, finalized
    app.control.purge()
    drop_campaign(campaign)
    kinds: dict[str, list[float]] = {}
    for q in queries.captured_queries:
        head = " ".join(q["sql"].split()[:4])[:70]
        kinds.setdefault(head, []).append(float(q["time"]) * 1000)
    for head, times in sorted(kinds.items(), key=lambda kv: -len(kv[1]))[:20]:
        print(f"{len(times) / n:5.2f}/call  {sum(times) / len(times):6.2f} ms each  {head}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    setup()
    print(run(args.calls, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
