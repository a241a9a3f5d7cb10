"""Bench data for bench.scale: a tenant with N call attempts and N x T turns, written with COPY from generators
(flat memory), and the numbers it dials. Generated once per database; later runs reuse it."""

from __future__ import annotations

import datetime as dt
import io
import random
import time

TENANT = "scale"
DISPOSITIONS = [
    ("completed", 0.10),
    ("interested", 0.12),
    ("not_interested", 0.10),
    ("callback_requested", 0.03),
    ("opted_out", 0.01),
    ("wrong_person", 0.02),
    ("voicemail_left", 0.05),
    ("no_answer", 0.30),
    ("busy", 0.20),
    ("failed", 0.05),
    ("invalid_number", 0.02),
]
INTENTS = ["affirm", "deny", "callback_request", "opt_out", "wrong_person", "ask_repeat", "question", "unknown"]


def us_numbers(count: int, last_digit: str = ""):
    """Distinct valid US numbers: area codes x exchanges 2XX-9XX x lines (enough for millions)."""
    areas = [202, 212, 213, 312, 305, 404, 415, 503, 602, 617, 702, 713, 808, 917, 206, 303]
    made = 0
    for exchange in range(201, 1000):
        if exchange % 100 == 11 or exchange == 555 or exchange // 100 in (0, 1):
            continue
        for area in areas:
            for line in range(0, 10000, 1):
                if last_digit and line % 10 != int(last_digit):
                    continue
                yield f"+1{area}{exchange}{line:04d}"
                made += 1
                if made == count:
                    return


class Lines(io.RawIOBase):
    """A file whose read() produces COPY text lines from a generator, a block at a time (flat memory)."""

    def __init__(self, lines) -> None:
        self.lines, self.buffer = lines, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            try:
                self.buffer += next(self.lines).encode()
            except StopIteration:
                break
        if size < 0:
            size = len(self.buffer)
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk


def _lines(rows, per: int = 2000):
    block = []
    for row in rows:
        block.append("\t".join("\\N" if v is None else str(v) for v in row))
        if len(block) >= per:
            yield "\n".join(block) + "\n"
            block = []
    if block:
        yield "\n".join(block) + "\n"


def generate(attempts: int, turns_per_attempt: int) -> dict:
    """One tenant, one campaign: `attempts` contacts each with one finalised attempt, and their turns (COPY)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from campaigns.models import CallAttempt, Campaign, Membership, Role, Tenant, Turn

    tenant, _ = Tenant.objects.get_or_create(slug=TENANT, defaults={"name": "Scale"})
    user, _ = get_user_model().objects.get_or_create(username="scale-manager", defaults={"is_staff": True})
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.MANAGER})
    campaign = Campaign.objects.filter(tenant=tenant, name="million").first()
    wanted = {"attempts": attempts, "turns": attempts * turns_per_attempt}
    if campaign is not None:
        have = {
            "attempts": CallAttempt.objects.filter(campaign=campaign).count(),
            "turns": Turn.objects.filter(tenant=tenant).count(),
        }
        if have == wanted:
            return {"campaign": campaign, "user": user, "generated_s": None}
        campaign.delete()
    campaign = Campaign.objects.create(
        tenant=tenant, name="million", caller_id="+12025550100", dry_run=True, status=Campaign.Status.COMPLETED
    )
    started = time.perf_counter()
    rng = random.Random(18)
    names, weights = zip(*DISPOSITIONS, strict=True)
    t0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('campaigns_contact', 'id'))")
        first_contact = cursor.fetchone()[0]
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('campaigns_contact', 'id'), %s)", [first_contact + attempts]
        )
        cursor.execute("SELECT nextval(pg_get_serial_sequence('campaigns_callattempt', 'id'))")
        first_attempt = cursor.fetchone()[0]
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('campaigns_callattempt', 'id'), %s)", [first_attempt + attempts]
        )
        now = dt.datetime.now(dt.UTC).isoformat()

        def contacts():
            for i, phone in enumerate(us_numbers(attempts)):
                yield (
                    first_contact + i,
                    tenant.id,
                    campaign.id,
                    phone,
                    f"Pat{i}",
                    "Lee",
                    "America/New_York",
                    "[]",
                    "{}",
                    "done",
                    "",
                    1,
                    i + 2,
                    now,
                )

        cols = (
            "id, tenant_id, campaign_id, phone, first_name, last_name, timezone, call_zones, custom_fields, "
            "status, skip_reason, attempts_made, source_line, created_at"
        )
        cursor.copy_expert(f"COPY campaigns_contact ({cols}) FROM STDIN", Lines(_lines(contacts())))
        print(f"contacts {time.perf_counter() - started:.0f} s", flush=True)

        def calls():
            for i in range(attempts):
                disposition = rng.choices(names, weights)[0]
                dialed = t0 + dt.timedelta(seconds=i * 2.5)
                answered = disposition not in ("no_answer", "busy", "failed", "invalid_number")
                yield (
                    first_attempt + i,
                    tenant.id,
                    campaign.id,
                    first_contact + i,
                    1,
                    "finalized",
                    dialed.isoformat(),
                    "answered" if answered else disposition,
                    200 if answered else 486,
                    "robot_hangup" if answered else "",
                    disposition,
                    disposition,
                    "",
                    "w",
                    dialed.isoformat(),
                    (dialed + dt.timedelta(seconds=2)).isoformat() if answered else None,
                    (dialed + dt.timedelta(seconds=40)).isoformat(),
                    rng.randint(5000, 90000) if answered else None,
                    "",
                    "",
                    "{}",
                    dialed.isoformat(),
                    "",
                    "outbound",
                    "",
                    "",
                )

        cols = (
            "id, tenant_id, campaign_id, contact_id, attempt_number, status, queued_at, dial_status, sip_code, "
            "end_reason, outcome, disposition, error, worker, dialed_at, answered_at, ended_at, talk_ms, "
            "recording, full_transcript, analysis, created_at, caller, direction, transfer_status, transfer_target"
        )
        cursor.copy_expert(f"COPY campaigns_callattempt ({cols}) FROM STDIN", Lines(_lines(calls())))
        print(f"attempts {time.perf_counter() - started:.0f} s", flush=True)

        def turns():
            for i in range(attempts):
                for index in range(turns_per_attempt):
                    robot = index % 2 == 0
                    start = index * 3000
                    yield (
                        tenant.id,
                        first_attempt + i,
                        index,
                        "robot" if robot else "callee",
                        "ask",
                        "Hello, will you attend?" if robot else "yes I will",
                        "" if robot else rng.choice(INTENTS),
                        None if robot else round(rng.random(), 3),
                        "{}",
                        start,
                        start + 2500,
                        None if robot else rng.randint(120, 900),
                        rng.randint(300, 1500) if robot else None,
                        "",
                    )

        cols = (
            "tenant_id, attempt_id, index, speaker, node, text, intent, confidence, slots, start_ms, end_ms, "
            "asr_latency_ms, response_latency_ms, end_of_turn"
        )
        if turns_per_attempt:
            cursor.copy_expert(f"COPY campaigns_turn ({cols}) FROM STDIN", Lines(_lines(turns())))
        print(f"turns {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        for table in ("campaigns_contact", "campaigns_callattempt", "campaigns_turn"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"campaign": campaign, "user": user, "generated_s": time.perf_counter() - started}
