"""A dry-run campaign through real Celery workers laid out as the Procfile (two dial hosts, post_call, ops, beat)
on private PostgreSQL and Redis servers, while the servers and workers are broken on purpose:

    .venv/bin/python -m tests.faults.campaign --contacts 2000      # make test-faults
    .venv/bin/python -m tests.faults.campaign --contacts 300       # what `make test` runs (tests/faults/)

Faults, each at a point of the campaign's progress: SIGKILL a dial worker, restart Redis (it keeps nothing on
disk: queues, unacked messages and limit keys are lost), pause PostgreSQL with SIGSTOP for longer than a lease,
restart PostgreSQL, SIGKILL the post-call worker, SIGKILL the other dial worker. Virtual callees answer in real
time, so calls are live when the faults land.

The witnesses are not the dialler's own rows: the simulated switch's call detail records (every dial start and
end, SIMULATOR_CDR_PATH) and a PostgreSQL trigger that logs every transition to `finalized`. Prints one JSON
object of figures; tests/faults/test_faults.py asserts the zeros.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

from tests.faults.servers import PrivatePostgres, PrivateRedis, group_pids

LEASE_SECONDS = 6
CHANNELS = 8
# Persona digits (telephony.simulator), one contact each in turn: mostly instant outcomes (busy, unallocated),
# rings without answer, and answered calls that last several seconds in real time (no callbacks: a callback is
# due tomorrow, and the campaign must complete).
MIX = "660660817066026606640660617066"
FAULTS = (  # (share of contacts dialled, fault)
    (0.08, "kill dial_a"),
    (0.20, "restart redis"),
    (0.35, "pause postgres"),
    (0.50, "restart postgres"),
    (0.62, "kill post_call"),
    (0.75, "kill dial_b"),
)
FINALIZE_AUDIT = """
CREATE TABLE finalize_audit (attempt_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION audit_finalize() RETURNS trigger AS $$
BEGIN INSERT INTO finalize_audit (attempt_id) VALUES (NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_finalize AFTER UPDATE ON campaigns_callattempt FOR EACH ROW
WHEN (NEW.status = 'finalized' AND OLD.status IS DISTINCT FROM 'finalized') EXECUTE FUNCTION audit_finalize();
"""


def zone_at_local_hour(hours: range) -> str:
    now = dt.datetime.now(dt.UTC)
    for offset in range(-12, 13):
        zone = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc/GMT-3 is UTC+3
        if now.astimezone(zoneinfo.ZoneInfo(zone)).hour in hours:
            return zone
    raise AssertionError("no zone found")


def numbers(count: int, digits: str) -> list[str]:
    """Distinct valid US numbers whose last digit follows `digits` in turn."""
    free: dict[str, collections.deque] = {d: collections.deque() for d in set(digits)}
    for area in (202, 212, 213, 312, 305, 404, 415, 503, 602, 617, 702, 713, 808, 917, 206, 303):
        for line in range(1000, 10000):
            if str(line)[-1] in free:
                free[str(line)[-1]].append(f"+1{area}555{line:04d}")
    return [free[digits[i % len(digits)]].popleft() for i in range(count)]


def worker_env(pg: PrivatePostgres, redis: PrivateRedis, work: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "SECRET_KEY": "faults",
        "TELEPHONY_PROVIDER": "simulated",
        "SIMULATOR_REALTIME": "true",
        "SIMULATOR_CDR_PATH": str(work / "cdr.jsonl"),
        "RING_TIMEOUT_SECONDS": "1",
        "CALL_LEASE_SECONDS": str(LEASE_SECONDS),
        "DISPATCH_INTERVAL_SECONDS": "0.5",
        "SWEEP_INTERVAL_SECONDS": "3",
        "QUEUED_RESEND_SECONDS": "15",
        "DATABASE_RETRY_SECONDS": "120",
        "MEDIA_ROOT": str(work / "media"),
        "LOG_LEVEL": "WARNING",
    }


class Fleet:
    """The Procfile's roles as real processes; a killed role comes back as a new process (as a supervisor would)."""

    LAYOUT = {
        "dial_a": ("dial", 4),
        "dial_b": ("dial", 4),
        "post_call": ("post_call,tts", 2),
        "ops": ("default,webhooks", 2),
    }

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        from project.devservers import Worker

        self.env, self.logs, self.worker_class = env, logs, Worker
        self.workers = {name: self._start(name) for name in self.LAYOUT}
        self.beat = self._start_beat()
        self.killed: list[tuple[list[int], float]] = []  # (pids, when): their calls ended then

    def _start(self, name: str, generation: int = 0):
        queues, concurrency = self.LAYOUT[name]
        log = self.logs / f"{name}.{generation}.log"
        return self.worker_class(self.env, log, queues=queues, concurrency=concurrency, name=name, beat=False)

    def _start_beat(self):
        import subprocess

        command = [sys.executable, "-m", "celery", "-A", "project", "beat", "-l", "warning"]
        command += ["-s", str(self.logs / "beat-schedule")]
        return subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=(self.logs / "beat.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        for worker in self.workers.values():
            worker.wait_ready(timeout=180)

    def kill_and_replace(self, name: str) -> None:
        worker = self.workers[name]
        pids = group_pids(worker.process.pid)
        worker.kill()
        self.killed.append((pids, time.time()))
        time.sleep(1)
        self.workers[name] = self._start(name, generation=len(self.killed))
        self.workers[name].wait_ready(timeout=180)

    def alive(self) -> dict[str, bool]:
        return {name: worker.alive() for name, worker in self.workers.items()}

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.beat.terminate()
        self.beat.wait(10)


def setup_django(pg: PrivatePostgres, redis: PrivateRedis, work: Path) -> None:
    os.environ.update(worker_env(pg, redis, work))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(FINALIZE_AUDIT)


def create_campaigns(contacts: int):
    from campaigns.models import Campaign, DoNotCall, Tenant
    from campaigns.services.imports import import_contacts

    tenant = Tenant.objects.create(name="Faults", slug="faults")
    open_zone, closed_zone = zone_at_local_hour(range(10, 18)), zone_at_local_hour(range(1, 6))
    window = {"window_start": dt.time(9), "window_end": dt.time(20)}
    main = Campaign.objects.create(
        tenant=tenant,
        name="under faults",
        caller_id="+12025550100",
        dry_run=True,
        max_concurrent_calls=CHANNELS,
        calls_per_second=20,
        max_attempts=2,
        retry_policy={"failed": 0.05},  # a call lost with its worker is tried once more, 3 s later
        **window,
    )
    phones = numbers(contacts + 20, MIX)
    rows = "\n".join(f"{phone},Ann,{open_zone}" for phone in phones[:contacts])
    report = import_contacts(main, f"phone,first_name,timezone\n{rows}\n".encode(), "faults.csv")
    assert report.created == contacts, report.rejected[:5]
    # Put on the do-not-call list after the upload: never to be dialled.
    blocked_early = phones[:contacts:97]
    for phone in blocked_early:
        DoNotCall.objects.create(tenant=tenant, phone=phone, reason="before the start")
    # A second campaign whose callees are all outside their calling window now: never to be dialled.
    night = Campaign.objects.create(tenant=tenant, name="night", caller_id="+12025550100", dry_run=True, **window)
    rows = "\n".join(f"{phone},Ned,{closed_zone}" for phone in phones[contacts:])
    import_contacts(night, f"phone,first_name,timezone\n{rows}\n".encode(), "night.csv")
    return main, night, blocked_early, phones[1:contacts:89]  # the last: blocked mid-campaign


def progress(campaign) -> float:
    from campaigns.models import Contact

    total = Contact.objects.filter(campaign=campaign).count()
    touched = Contact.objects.filter(campaign=campaign).exclude(status=Contact.Status.PENDING).count()
    return touched / total


def run_faults(fleet: Fleet, pg: PrivatePostgres, redis: PrivateRedis, campaign, blocked_late, log) -> dict:
    from django.db import connection

    from campaigns.models import DoNotCall

    blocked_at: dict[str, float] = {}
    pending = list(FAULTS)
    started = time.monotonic()
    while pending:
        share, fault = pending[0]
        try:
            reached = progress(campaign)
        except Exception:  # the database is down between faults only if a fault left it so
            connection.close()
            raise
        if reached < share:
            if time.monotonic() - started > 900:
                raise TimeoutError(f"stuck at {reached:.0%} before {fault}")
            time.sleep(0.5)
            continue
        pending.pop(0)
        log(f"{reached:.0%} dialled: {fault}")
        if fault == "kill dial_a":
            fleet.kill_and_replace("dial_a")
            for phone in blocked_late:
                DoNotCall.objects.create(tenant_id=campaign.tenant_id, phone=phone, reason="mid-campaign")
                blocked_at[phone] = time.time()
        elif fault == "restart redis":
            redis.restart(down_seconds=2)
        elif fault == "pause postgres":
            connection.close()
            pids = pg.pause()
            time.sleep(LEASE_SECONDS * 1.7)
            pg.resume(pids)
        elif fault == "restart postgres":
            connection.close()
            pg.restart(down_seconds=3)
        elif fault == "kill post_call":
            fleet.kill_and_replace("post_call")
        elif fault == "kill dial_b":
            fleet.kill_and_replace("dial_b")
    return blocked_at


def wait_until_done(campaign, timeout: float, log) -> float:
    from campaigns.models import Campaign

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = Campaign.objects.filter(id=campaign.id).values_list("status", flat=True).get()
        if status == Campaign.Status.COMPLETED:
            return time.monotonic() - started
        time.sleep(1)
    log(f"not completed after {timeout:.0f} s")
    return -1


def read_cdr(path: Path, killed: list[tuple[list[int], float]]) -> list[dict]:
    """Calls from the switch's records; a call whose process was killed ended when it was killed."""
    calls: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        call = calls.setdefault(record["call"], {"number": record["number"], "pid": record["pid"]})
        call[record["event"]] = record["t"]
    for call in calls.values():
        if "end" not in call:
            call["end"] = min((when for pids, when in killed if call["pid"] in pids), default=float("inf"))
    return list(calls.values())


def audit(main, night, blocked_early, blocked_at, calls: list[dict]) -> dict:
    from django.db import connection

    from campaigns.models import CallAttempt, Contact

    by_number = collections.defaultdict(list)
    for call in calls:
        by_number[call["number"]].append(call)
    phone_of = dict(Contact.objects.filter(campaign=main).values_list("id", "phone"))
    dialled_attempts = collections.Counter(
        phone_of[contact_id]
        for contact_id in CallAttempt.objects.filter(campaign=main)
        .exclude(dialed_at=None)
        .values_list("contact_id", flat=True)
    )
    # More dials at the switch than attempts that say they dialled: some attempt rang twice.
    dialled_twice = sum(max(0, len(by_number[p]) - dialled_attempts[p]) for p in phone_of.values())
    overlapping = 0
    for rang in by_number.values():
        rang.sort(key=lambda c: c["start"])
        overlapping += sum(1 for a, b in zip(rang, rang[1:], strict=False) if b["start"] < a["end"])
    edges = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls if c["end"] != float("inf")])
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT attempt_id FROM finalize_audit GROUP BY 1 HAVING count(*) > 1) x")
        finalized_twice = cursor.fetchone()[0]
    night_phones = set(Contact.objects.filter(campaign=night).values_list("phone", flat=True))
    contacts = Contact.objects.filter(campaign=main)
    settled = contacts.filter(status__in=[Contact.Status.DONE, Contact.Status.SKIPPED]).count()
    due_retry = contacts.filter(status=Contact.Status.PENDING, next_attempt_at__isnull=False).count()
    open_attempts = CallAttempt.objects.filter(
        campaign=main, status__in=[CallAttempt.Status.QUEUED, CallAttempt.Status.DIALING, CallAttempt.Status.ENDED]
    ).count()
    return {
        "contacts": contacts.count(),
        "contacts_settled": settled,
        "contacts_due_retry": due_retry,
        "contacts_unaccounted": contacts.count() - settled - due_retry,
        "open_attempts": open_attempts,
        "dials_at_switch": len(calls),
        "attempts_dialled_twice": dialled_twice,
        "contacts_rung_while_live": overlapping,
        "rows_finalized_twice": finalized_twice,
        "peak_live_calls": peak,
        "channel_limit": CHANNELS,
        "moments_above_channel_limit": max(0, peak - CHANNELS),
        "do_not_call_dialled": sum(1 for p in blocked_early for _ in by_number[p])
        + sum(1 for p, at in blocked_at.items() for c in by_number[p] if c["start"] > at),
        "out_of_window_dialled": sum(1 for c in calls if c["number"] in night_phones),
        "worker_lost_attempts": CallAttempt.objects.filter(campaign=main, end_reason="worker_lost").count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--keep", help="worker logs and call records in this folder, and keep PostgreSQL's data")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    work = Path(args.keep or tempfile.mkdtemp(prefix="faults-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    pg, redis = PrivatePostgres(), PrivateRedis(work)
    pg.start()
    pg.create_database()
    redis.start()
    fleet = None
    try:
        setup_django(pg, redis, work)
        from campaigns.services.lifecycle import start_campaign

        main_campaign, night, blocked_early, blocked_late = create_campaigns(args.contacts)
        fleet = Fleet(worker_env(pg, redis, work), work / "logs")
        fleet.wait_ready()
        log(f"{args.contacts} contacts; workers ready; starting")
        started = time.monotonic()
        start_campaign(main_campaign)
        start_campaign(night)
        blocked_at = run_faults(fleet, pg, redis, main_campaign, blocked_late, log)
        remaining = args.timeout - (time.monotonic() - started)
        completed_after = wait_until_done(main_campaign, remaining, log)
        figures = audit(main_campaign, night, blocked_early, blocked_at, read_cdr(work / "cdr.jsonl", fleet.killed))
        figures.update(
            faults=[fault for _, fault in FAULTS],
            campaign_completed=completed_after >= 0,
            seconds=round(time.monotonic() - started, 1),
            workers_alive_at_end=fleet.alive(),
            work_dir=str(work),
        )
        print(json.dumps(figures, indent=2))
        return 0
    finally:
        if fleet is not None:
            fleet.stop()
        redis.stop()
        if args.keep:
            pg.stop()
            log(f"PostgreSQL data kept in {pg.directory}")
        else:
            pg.remove()


if __name__ == "__main__":
    sys.exit(main())
