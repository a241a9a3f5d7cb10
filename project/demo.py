"""`make demo`: a campaign dialled to 20 virtual callees through real Celery workers, no servers needed.

python -m project.demo run     # embedded PostgreSQL + Redis, migrate, upload, dial, report
python -m project.demo run --language zh   # the same in Mandarin (`make demo LANG=zh`): script, callees, numbers
python -m project.demo serve   # the same servers, with the dashboard and admin on :8000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import secrets
import sys
import time
from pathlib import Path

from pipeline.languages import pack
from project.devservers import BASE_DIR, EmbeddedServers, Worker, start_embedded

STATE_DIR = BASE_DIR / ".demo"
USERNAME = "manager"
NAMES = [
    "Anna",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kara",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
MANDARIN_NAMES = ["建国", "丽", "伟", "芳", "强", "敏", "静", "磊", "洋", "艳"]


def demo_env(servers: EmbeddedServers) -> dict[str, str]:
    secret_file = STATE_DIR / "secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(40))
    password_file = STATE_DIR / "password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(9))
    return {
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "SECRET_KEY": secret_file.read_text(),
        "DEBUG": "true",
        "MEDIA_ROOT": str(STATE_DIR / "media"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def write_call_list(path: Path, mandarin: bool = False) -> None:
    """20 virtual callees; the number's last digit picks the persona (telephony.simulator.PERSONAS).
    In Mandarin: +86 mobile numbers written as a Chinese call list would have them (no country code)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["phone", "first_name", "last_name", "appointment"])
        for i, name in enumerate(NAMES, start=1):
            if mandarin:
                writer.writerow([f"138 0013 80{i:02d}", MANDARIN_NAMES[i % len(MANDARIN_NAMES)], "", "明天上午十点"])
            else:
                writer.writerow([f"+1 202 555 01{i:02d}", name, "Demo", "tomorrow at ten"])


def prepare_campaign(language: str = "en"):
    from django.contrib.auth import get_user_model

    from campaigns.models import Campaign, Membership, Role, Tenant
    from campaigns.services.imports import import_contacts

    tenant, _ = Tenant.objects.get_or_create(slug="demo-clinic", defaults={"name": "Demo Clinic"})
    user, _ = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
    user.set_password((STATE_DIR / "password").read_text())
    user.save()
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.MANAGER})
    mandarin = language.startswith("zh")
    extra = {"language": "zh-CN", "script": pack("zh-CN").default_script()} if mandarin else {}
    campaign = Campaign.objects.create(
        **extra,
        tenant=tenant,
        name=f"{'预约提醒' if mandarin else 'Appointment reminders'} {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
        caller_id="+12025550100",
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59, 59),
        max_attempts=1,  # busy and no-answer are not retried in the demo; the callback waits for tomorrow
        calls_per_second=5,
        dry_run=True,
        created_by=user,
    )
    call_list = STATE_DIR / "call-list.csv"
    write_call_list(call_list, mandarin)
    report = import_contacts(campaign, call_list.read_bytes(), call_list.name, user)
    print(f"Uploaded {call_list.relative_to(BASE_DIR)}: {report.created} contacts, {len(report.rejected)} rejected")
    for row in report.rejected:  # after a first run: the opt-outs it recorded stay on the do-not-call list
        print(f"  line {row.line}: {row.phone}: {row.reason}")
    return campaign


def progress_bar(done: int, total: int, width: int = 40) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls"


def watch(campaign, worker: Worker, timeout: float) -> bool:
    """Until every contact's first call is finalised (the callback the demo's persona asks for is tomorrow)."""
    from campaigns.models import CallAttempt

    deadline = time.monotonic() + timeout
    interactive = sys.stdout.isatty()
    last = None
    while time.monotonic() < deadline:
        total = campaign.contacts.exclude(status="skipped").count()
        finished = CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.FINALIZED).count()
        line = progress_bar(finished, total)
        if line != last:
            print(f"\r{line}" if interactive else line, end="" if interactive else "\n", flush=True)
            last = line
        if finished == total:
            print()
            return True
        if not worker.alive():
            print(f"\nThe worker died:\n{worker.log_tail()}")
            return False
        time.sleep(0.5)
    print(f"\nTimed out after {timeout:.0f} s; worker log tail:\n{worker.log_tail()}")
    return False


def report(campaign) -> bool:
    from campaigns.models import CallAttempt, Contact
    from telephony.simulator import persona_for

    attempts = CallAttempt.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign).select_related("contact")
    by_contact = {a.contact_id: a for a in attempts}
    all_match = True
    print(f"\n{'Phone':<14} {'Name':<7} {'Persona':<28} {'Expected':<19} {'Disposition':<19} ok  note")
    for contact in Contact.objects.filter(campaign=campaign).order_by("phone"):
        persona = persona_for(contact.phone)
        attempt = by_contact.get(contact.id)
        if attempt is None:  # never dialled: say why (an opt-out from an earlier demo run stays on the list)
            result, note = "-", contact.skip_reason
            match = persona.expected_disposition == "opted_out" and "do-not-call" in contact.skip_reason
        else:
            result, match = attempt.disposition or attempt.status, attempt.disposition == persona.expected_disposition
            note = f"next call {contact.next_attempt_at:%Y-%m-%d %H:%M} UTC" if contact.status == "pending" else ""
        all_match &= match
        print(
            f"{contact.phone:<14} {contact.first_name:<7} {persona.name:<28} {persona.expected_disposition:<19} "
            f"{result:<19} {'yes' if match else 'NO ':<3} {note}"
        )
    print("\nA few transcripts (robot prompt, then what the robot's ASR heard):")
    with_answers = attempts.filter(turns__speaker="callee").distinct().order_by("contact__phone")[:3]
    for a in with_answers:
        print(f"\n  {a.contact.first_name} ({a.contact.phone}) -> {a.disposition}")
        for turn in a.turns.all():
            extra = f"  [{turn.intent}, confidence {turn.confidence:.2f}]" if turn.speaker == "callee" else ""
            print(f"    {turn.speaker:>6}: {turn.text}{extra}")
    return all_match


def rehearse(campaign, timeout: float, calls: int = 10) -> bool:
    """First a small rehearsal (virtual callees in the default persona mix, nobody on the list is called), as a
    manager would before starting: the report's summary, without the worst calls' transcripts."""
    import io

    from django.core.management import CommandError, call_command

    print(f"\nRehearsing the campaign first: {calls} virtual calls in the default persona mix ...")
    out = io.StringIO()
    try:
        call_command(
            "rehearse", str(campaign.id), "--calls", str(calls), "--seed", "1", "--timeout", str(timeout), stdout=out
        )
    except CommandError as exc:
        print(f"The rehearsal did not finish: {exc}")
        return False
    print(out.getvalue().split("\nWorst calls:")[0].rstrip() + "\n")
    return True


def run(timeout: float, language: str = "en") -> int:
    started = time.monotonic()
    print("Starting embedded PostgreSQL and Redis in .demo/ ...")
    servers = start_embedded(STATE_DIR)
    env = demo_env(servers)
    setup_django(env)
    campaign = prepare_campaign(language)
    from campaigns.languages import asr_problem

    problem = asr_problem(campaign.language)
    if problem:  # what a manager would be told on pressing Start
        print(f"\nThe {campaign.language} campaign cannot start here: {problem}")
        return 2
    worker = Worker(env, STATE_DIR / "worker.log", concurrency=2, name="demo")
    try:
        worker.wait_ready()
        print("Celery worker ready (dial, post_call, tts, webhooks and default queues; beat dispatches)")
        if not rehearse(campaign, timeout):
            return 1
        from campaigns.services.lifecycle import start_campaign

        start_campaign(campaign, actor=campaign.created_by)
        finished = watch(campaign, worker, timeout)
    finally:
        worker.stop()
    all_match = report(campaign) if finished else False
    print(
        f"\nDone in {time.monotonic() - started:.0f} s. Every disposition matches its persona: "
        f"{'yes' if all_match else 'NO'}"
    )
    print(
        f"Browse the results: `make serve`, then http://127.0.0.1:8000/ (admin: /admin/) "
        f"as {USERNAME} / {(STATE_DIR / 'password').read_text()}"
    )
    return 0 if finished and all_match else 1


def serve(port: int) -> int:
    servers = start_embedded(STATE_DIR)
    env = demo_env(servers)
    setup_django(env)
    from django.core.management import call_command

    print(
        f"Dashboard: http://127.0.0.1:{port}/  admin: http://127.0.0.1:{port}/admin/  "
        f"login {USERNAME} / {(STATE_DIR / 'password').read_text()}"
    )
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "serve"])
    parser.add_argument("--timeout", type=float, default=480, help="seconds to wait for the campaign")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--language", default="en", help="en, or zh for a Mandarin campaign")
    args = parser.parse_args()
    return run(args.timeout, args.language) if args.command == "run" else serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
