"""The deployment files agree with the code and with each other (docs/DEPLOY.md): every Procfile process type is a
role of the image, compose.yaml runs each role and reads only documented variables, and the image's health check
decides as documented. Building and running the image is `.ci/image.sh` (podman), not this suite."""

import importlib.util
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def entrypoint_roles() -> set[str]:
    return set(re.findall(r"^  ([a-z_]+)\)$", ENTRYPOINT.read_text(), re.MULTILINE))


def procfile_types() -> set[str]:
    return {line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()}


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_every_procfile_process_type_is_a_role_of_the_image():
    assert procfile_types() <= entrypoint_roles()
    assert entrypoint_roles() == procfile_types() | {"migrate", "manage"}


def test_compose_runs_every_role_once_and_migrates_before_the_robot_starts():
    services = compose()["services"]
    robot = {name: s for name, s in services.items() if "build" in s}
    assert sorted(s["command"][0] for s in robot.values()) == sorted(procfile_types() | {"migrate"})
    for name, service in robot.items():
        if name not in ("migrate", "flower"):  # Flower reads only the broker
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["dial"]["network_mode"] == "host"


def test_env_example_documents_every_variable_compose_reads():
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used - documented == set()
    assert documented - used == set()


def test_the_entrypoint_refuses_flower_without_its_password(tmp_path):
    env = {"PATH": os.environ["PATH"], "ROBOT_HEALTH_FILE": str(tmp_path / "role")}
    result = subprocess.run(["sh", str(ENTRYPOINT), "flower"], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    assert "set FLOWER_BASIC_AUTH=user:password" in result.stderr
    assert (tmp_path / "role").read_text().splitlines()[0] == "flower"


@pytest.fixture
def healthcheck(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("robot_healthcheck", ROOT / "deploy" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HEALTH_FILE", str(tmp_path / "role"))
    return module


@pytest.mark.parametrize(
    ("allowed", "host"),
    [("robot.example.com,web", "robot.example.com"), ("*, .example.com", "example.com"), ("*", "localhost")],
)
def test_web_check_sends_a_host_that_allowed_hosts_accepts(healthcheck, monkeypatch, allowed, host):
    monkeypatch.setenv("ALLOWED_HOSTS", allowed)
    assert healthcheck.allowed_host() == host


def test_beat_is_healthy_while_its_schedule_file_is_fresh(healthcheck, tmp_path, monkeypatch):
    schedule = tmp_path / "celerybeat-schedule"
    monkeypatch.setenv("CELERY_BEAT_SCHEDULE_FILE", str(schedule))
    assert healthcheck.check_beat()[0] is False
    schedule.with_name("celerybeat-schedule.db").write_bytes(b"")
    assert healthcheck.check_beat()[0] is True
    old = time.time() - 600
    os.utime(schedule.with_name("celerybeat-schedule.db"), (old, old))
    assert healthcheck.check_beat() == (False, "schedule file written 600 s ago")


def test_one_off_commands_have_nothing_to_check(healthcheck, tmp_path):
    assert healthcheck.main() == 0  # no role recorded
    (tmp_path / "role").write_text("migrate\nmigrate@host\n")
    assert healthcheck.main() == 0
