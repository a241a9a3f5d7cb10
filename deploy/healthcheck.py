"""The image's HEALTHCHECK: one script for every role, cheap enough to run every minute.

The entrypoint writes the role and the Celery node name to /tmp/robot-role. Per role:
- web: GET /healthz (200 when PostgreSQL and the broker answer), with a Host header Django accepts;
- dial, post_call, ops: this container's worker answers a broadcast ping through the broker
  (what `celery inspect ping -d <node>` does, without loading Django);
- beat: its schedule file was written in the last 5 minutes (beat saves it every 3 minutes while it sends tasks);
- flower: GET /healthcheck;
- migrate, manage and other one-off commands: nothing to check.
Exit 0 healthy, 1 unhealthy (Docker's convention), with one line saying why.
"""

import glob
import os
import sys
import time
import urllib.error
import urllib.request

HEALTH_FILE = os.environ.get("ROBOT_HEALTH_FILE", "/tmp/robot-role")  # noqa: S108 - written by the entrypoint
TIMEOUT = 10


def http_ok(url: str, host: str | None = None) -> tuple[bool, str]:
    headers = {"X-Forwarded-Proto": "https", **({"Host": host} if host else {})}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - a fixed local http URL
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code} {exc.read(300).decode(errors='replace')}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def allowed_host() -> str:
    """A host name Django's ALLOWED_HOSTS accepts (the first entry that is a plain name)."""
    for entry in os.environ.get("ALLOWED_HOSTS", "localhost").split(","):
        entry = entry.strip().lstrip(".")
        if entry and entry != "*":
            return entry
    return "localhost"


def check_web() -> tuple[bool, str]:
    return http_ok(f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz", host=allowed_host())


def check_worker(node: str) -> tuple[bool, str]:
    from celery import Celery

    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    app = Celery("healthcheck", broker=broker)
    try:
        replies = app.control.ping(destination=[node], timeout=5)
    except Exception as exc:  # the broker is down: say so
        return False, f"broker: {exc}"
    finally:
        app.close()
    return any(node in reply for reply in replies), f"ping {node}: {replies}"


def check_beat() -> tuple[bool, str]:
    schedule = os.environ.get("CELERY_BEAT_SCHEDULE_FILE", "/tmp/celerybeat-schedule")  # noqa: S108
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return False, f"no schedule file {schedule}*"
    age = time.time() - max(os.path.getmtime(f) for f in files)
    return age < 300, f"schedule file written {age:.0f} s ago"


def check_flower() -> tuple[bool, str]:
    prefix = os.environ.get("FLOWER_URL_PREFIX", "").strip("/")
    path = f"/{prefix}/healthcheck" if prefix else "/healthcheck"
    return http_ok(f"http://127.0.0.1:{os.environ.get('FLOWER_PORT', '5555')}{path}")


def main() -> int:
    try:
        with open(HEALTH_FILE) as f:
            role, node = (f.read().split("\n") + ["", ""])[:2]
    except OSError:
        print("no role recorded: a one-off command, nothing to check")
        return 0
    checks = {
        "web": check_web,
        "dial": lambda: check_worker(node),
        "post_call": lambda: check_worker(node),
        "ops": lambda: check_worker(node),
        "beat": check_beat,
        "flower": check_flower,
    }
    if role not in checks:
        print(f"role {role!r}: nothing to check")
        return 0
    healthy, detail = checks[role]()
    print(f"{role}: {'healthy' if healthy else 'UNHEALTHY'}: {detail}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
