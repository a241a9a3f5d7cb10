"""/metrics: authentication, every metric's figures from real rows and Redis, and the shipped alert rules and Grafana
dashboard (promtool, and every metric they name is exported)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from campaigns import limits, metrics, prompt_stats, queues
from campaigns.models import CallAttempt, Turn, WebhookDelivery
from project.celery import app
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory, TurnFactory
from tests.support.workers import running_worker

TOKEN = "metrics-test-token"
MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_INSPECT_TIMEOUT = 0.3
    return TOKEN


def parse(text: str) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value}"""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> dict[tuple, float]:
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def value(samples, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- authentication -----------------------------------------------------------------------------------------


def test_metrics_off_without_a_token(client, settings, db):
    settings.METRICS_TOKEN = ""
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    assert b"robocall_" not in response.content


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Token {TOKEN}", f"Bearer {TOKEN}x"],
)
def test_metrics_refuse_a_missing_or_wrong_token(client, token, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get(reverse("metrics"), **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"robocall_" not in response.content


def test_a_signed_in_superuser_still_needs_the_token(client, token, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-for-tests-1"))
    assert client.get(reverse("metrics")).status_code == 401


def test_metrics_with_the_token(client, token, db):
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"bearer  {TOKEN}")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    samples = parse(response.content.decode())
    for source in ("database", "redis", "broker", "workers"):
        assert value(samples, "robocall_metrics_source_up", source=source) == 1


# --- figures ------------------------------------------------------------------------------------------------


def test_calls_attempts_campaigns_and_webhooks_from_the_database(client, token, tenant, outsider_tenant):
    campaign = CampaignFactory(tenant=tenant, status="running")
    other = CampaignFactory(tenant=outsider_tenant, status="completed")
    finalized = CallAttempt.Status.FINALIZED
    for disposition, n, owner in (("interested", 2, campaign), ("failed", 1, campaign), ("busy", 3, other)):
        for _ in range(n):
            CallAttemptFactory(contact=ContactFactory(campaign=owner), status=finalized, disposition=disposition)
    CallAttemptFactory(contact=ContactFactory(campaign=campaign), status=CallAttempt.Status.DIALING)
    CallAttemptFactory(contact=ContactFactory(campaign=campaign), status=CallAttempt.Status.QUEUED)
    # An attempt that ended but is not finalised yet is not a finished call.
    CallAttemptFactory(contact=ContactFactory(campaign=campaign), status=CallAttempt.Status.ENDED, disposition="")
    for status in ("failed", "failed", "delivered", "pending"):
        WebhookDelivery.objects.create(
            tenant=tenant, campaign=campaign, event=f"e-{status}-{WebhookDelivery.objects.count()}",
            url="https://hooks.example.test/x", payload={}, status=status,
        )  # fmt: skip

    samples = scrape(client)
    assert value(samples, "robocall_calls_total", disposition="interested") == 2
    assert value(samples, "robocall_calls_total", disposition="failed") == 1
    assert value(samples, "robocall_calls_total", disposition="busy") == 3
    assert value(samples, "robocall_calls_total", disposition="opted_out") == 0  # every disposition has a series
    assert value(samples, "robocall_live_calls") == 1
    assert value(samples, "robocall_call_attempts", status="queued") == 1
    assert value(samples, "robocall_call_attempts", status="ended") == 1
    assert value(samples, "robocall_call_attempts", status="finalized") == 6
    assert value(samples, "robocall_campaigns", status="running") == 1
    assert value(samples, "robocall_campaigns", status="completed") == 1
    assert value(samples, "robocall_campaigns", status="draft") == 0
    assert value(samples, "robocall_webhook_failures_total") == 2
    assert value(samples, "robocall_webhook_deliveries", status="delivered") == 1
    assert value(samples, "robocall_webhook_deliveries", status="pending") == 1


def histogram(samples, name: str) -> dict[str, float]:
    found = {dict(labels)["le"]: v for (sample, labels), v in samples.items() if sample == f"{name}_bucket"}
    found["count"] = value(samples, f"{name}_count")
    found["sum"] = value(samples, f"{name}_sum")
    return found


def delta(after: dict, before: dict) -> dict:
    return {key: round(after[key] - before.get(key, 0), 6) for key in after}


def test_latency_histograms_count_each_turn_once_a_scrape_after_it_is_seen(client, token, tenant):
    before = scrape(client)
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)))
    for asr, response in ((200, None), (300, 450), (700, 2600), (None, 90)):
        TurnFactory(attempt=attempt, asr_latency_ms=asr, response_latency_ms=response)

    seen = scrape(client)  # the scrape that first sees these ids only moves the mark
    assert histogram(seen, "robocall_asr_latency_seconds") == histogram(before, "robocall_asr_latency_seconds")
    counted = scrape(client)
    asr = delta(histogram(counted, "robocall_asr_latency_seconds"), histogram(before, "robocall_asr_latency_seconds"))
    assert asr == {
        "0.05": 0, "0.1": 0, "0.2": 1, "0.3": 2, "0.4": 2, "0.5": 2, "0.75": 3, "1.0": 3, "1.5": 3, "2.0": 3,
        "3.0": 3, "5.0": 3, "+Inf": 3, "count": 3, "sum": 1.2,
    }  # fmt: skip
    turn = delta(
        histogram(counted, "robocall_turn_latency_seconds"), histogram(before, "robocall_turn_latency_seconds")
    )
    assert turn == {
        "0.1": 1, "0.25": 1, "0.5": 2, "0.75": 2, "1.0": 2, "1.5": 2, "2.0": 2, "3.0": 3, "5.0": 3, "10.0": 3,
        "+Inf": 3, "count": 3, "sum": 3.14,
    }  # fmt: skip
    # Scraping again counts nothing twice.
    again = scrape(client)
    assert histogram(again, "robocall_asr_latency_seconds") == histogram(counted, "robocall_asr_latency_seconds")


def test_asr_queue_wait_turn_endings_and_live_calls_per_dial_worker(client, token, tenant):
    before = scrape(client)
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)))
    for index, (wait, ended_by) in enumerate(((0, "complete"), (80, "complete"), (400, "max_wait"), (None, ""))):
        TurnFactory(attempt=attempt, index=index, asr_wait_ms=wait, end_of_turn=ended_by)
    for token_ in ("dial-a:101:aaaa0001", "dial-a:101:aaaa0002", "dial-b:7:bbbb0001"):
        CallAttemptFactory(contact=ContactFactory(campaign=attempt.campaign), status="dialing", worker=token_)
    scrape(client)  # the first scrape that sees the turns only moves the mark
    after = scrape(client)
    wait = delta(
        histogram(after, "robocall_asr_queue_wait_seconds"), histogram(before, "robocall_asr_queue_wait_seconds")
    )
    assert (wait["0.01"], wait["0.1"], wait["0.5"], wait["count"], wait["sum"]) == (1, 2, 3, 3, 0.48)
    endings = {
        reason: value(after, "robocall_turn_endings_total", reason=reason)
        - value(before, "robocall_turn_endings_total", reason=reason)
        for reason in ("complete", "max_wait", "max_length")
    }
    assert endings == {"complete": 2, "max_wait": 1, "max_length": 0}
    assert value(after, "robocall_worker_live_calls", worker="dial-a:101") == 2
    assert value(after, "robocall_worker_live_calls", worker="dial-b:7") == 1


def test_histogram_fold_starts_again_when_the_database_is_behind_redis(tenant):
    redis = metrics.redis_client()
    redis.hset(
        metrics.TURN_STATE_KEY,
        mapping={"last_id": 10**12, "seen_max": 10**12, "robocall_asr_latency_seconds:count": 99},
    )
    turn = TurnFactory(
        attempt=CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant))), asr_latency_ms=100
    )
    metrics.fold_new_turns(redis)
    state = metrics.fold_new_turns(redis)
    assert state["last_id"] == turn.id
    assert state["robocall_asr_latency_seconds:count"] == Turn.objects.filter(asr_latency_ms__isnull=False).count()


def test_a_stale_fold_does_not_count_twice(tenant):
    """Two scrapes at once: the one that read the mark first and writes second is refused by the compare-and-set."""
    redis = metrics.redis_client()
    redis.delete(metrics.TURN_STATE_KEY)
    TurnFactory(
        attempt=CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant))), asr_latency_ms=100
    )
    metrics.fold_new_turns(redis)
    last, seen = (int(redis.hget(metrics.TURN_STATE_KEY, k)) for k in ("last_id", "seen_max"))
    field = "robocall_asr_latency_seconds:count"
    assert redis.eval(metrics._FOLD, 1, metrics.TURN_STATE_KEY, str(last), str(seen), str(seen), field, "1") == 1
    assert redis.eval(metrics._FOLD, 1, metrics.TURN_STATE_KEY, str(last), str(seen), str(seen), field, "1") == 0
    assert int(redis.hget(metrics.TURN_STATE_KEY, field)) == 1


def test_tts_cache_hits_and_misses_from_the_campaigns_counters(client, token, tenant):
    campaign = CampaignFactory(tenant=tenant)
    prompt_stats.reset_stats(campaign.id)
    before = scrape(client)
    count = prompt_stats.lookup_counter(campaign.id)
    for hit in (True, True, True, False):
        count(hit)
    after = scrape(client)
    prompt_stats.reset_stats(campaign.id)
    for result, expected in (("hit", 3), ("miss", 1)):
        name = "robocall_tts_cache_lookups_total"
        assert value(after, name, result=result) - value(before, name, result=result) == expected


@pytest.fixture
def dial_queue():
    """The dial queue, emptied after the test (no worker consumes it here)."""
    with app.connection_for_write() as connection:
        yield connection.default_channel
        connection.default_channel.queue_purge("dial")


def test_queue_depth_is_the_brokers_queue_length(client, token, db, dial_queue):
    before = value(scrape(client), "robocall_queue_depth", queue="dial")
    for attempt_id in (10**9, 10**9 + 1, 10**9 + 2):
        app.send_task("campaigns.place_call", args=[attempt_id], queue="dial")
    samples = scrape(client)
    assert value(samples, "robocall_queue_depth", queue="dial") == before + 3
    assert {dict(labels)["queue"] for (name, labels) in samples if name == "robocall_queue_depth"} == set(queues.ALL)


def test_no_worker_means_no_consumer(client, token, db):
    samples = scrape(client)
    assert value(samples, "robocall_workers") == 0
    for queue in queues.ALL:
        assert value(samples, "robocall_queue_consumers", queue=queue) == 0


@pytest.mark.slow
def test_a_running_worker_consumes_every_queue(client, token, settings, tmp_path, db):
    settings.METRICS_INSPECT_TIMEOUT = 2.0
    with running_worker(settings, tmp_path / "worker.log", name="metrics"):
        samples = scrape(client)
    assert value(samples, "robocall_workers") == 1
    for queue in queues.ALL:
        assert value(samples, "robocall_queue_consumers", queue=queue) == 1


def test_a_source_that_is_down_is_reported_and_the_rest_still_served(client, token, settings, db):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    limits.client.cache_clear()
    try:
        samples = scrape(client)
    finally:
        app.conf.broker_url = original
        limits.client.cache_clear()
    assert value(samples, "robocall_metrics_source_up", source="database") == 1
    assert value(samples, "robocall_metrics_source_up", source="redis") == 0
    assert value(samples, "robocall_metrics_source_up", source="broker") == 0
    assert value(samples, "robocall_calls_total", disposition="failed") == 0
    assert not any(name.startswith("robocall_queue_depth") for name, _ in samples)


# --- alert rules and dashboard --------------------------------------------------------------------------------

PROMQL_WORDS = {
    "sum", "avg", "max", "min", "count", "rate", "irate", "increase", "deriv", "delta", "absent",
    "histogram_quantile", "and", "or", "unless", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric (and recording rule) names in a PromQL expression."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if word not in PROMQL_WORDS}


def rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for rule in group["rules"]
    ]


def exported_names(client) -> set[str]:
    return {name for name, _ in scrape(client)}


def unexported(client, exprs: list[str]) -> dict[str, set[str]]:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    exported = exported_names(client)
    missing = {}
    for expr in exprs:
        names = metric_names(expr) - recorded - exported
        names = {n for n in names if not n.startswith("node_")}  # node_exporter's
        if names:
            missing[expr] = names
    return missing


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install the Debian package `prometheus` (`make system-deps` does)")
    return path


def test_promtool_checks_the_rules():
    result = subprocess.run(
        [promtool(), "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_fire_each_alert_and_stay_quiet_when_healthy():
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts.test.yml").read_text()))
    assert alerts == tested
    assert alerts >= {"HostCpuHigh", "AsrLatencyP99High", "CallSuccessRateLow", "QueueBacklogGrowing", "NoDialWorker"}


def test_every_metric_the_rules_name_is_exported(client, token, db):
    exprs = [rule["expr"] for rule in rules()]
    assert {"robocall_queue_consumers", "robocall_calls_total", "node_cpu_seconds_total"} <= set().union(
        *map(metric_names, exprs)
    )
    assert unexported(client, exprs) == {}


def test_every_metric_the_grafana_dashboard_names_is_exported(client, token, db):
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 15
    assert unexported(client, exprs) == {}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_name_check_can_fail(client, token, db):
    assert unexported(client, ["rate(robocall_calls_total[5m])"]) == {}
    assert unexported(client, ['sum(rate(robocall_no_such_thing_total{queue="dial"}[5m]))']) == {
        'sum(rate(robocall_no_such_thing_total{queue="dial"}[5m]))': {"robocall_no_such_thing_total"}
    }
