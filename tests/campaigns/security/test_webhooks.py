"""Webhook URLs cannot reach this host or its networks, on save and on send; receivers' bodies are never stored.

Send-time tests only ever aim at 127.0.0.1 (a real HTTP server here); other non-public ranges are checked on save
and by the address check itself, which runs before any connection (no packet leaves for them).
"""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Role, WebhookDelivery
from campaigns.netguard import UnsafeURL, blocked_reason, validate_url
from campaigns.services.webhooks import TransientWebhookError, deliver
from pipeline.script import DEFAULT_SCRIPT
from tests.factories import CampaignFactory, MembershipFactory, TokenFactory

INTERNAL = "INTERNAL-ONLY redis_version:7.2 requirepass hunter2"


class Receiver:
    """A real HTTP server on 127.0.0.1 answering every POST with `status`, `body` and `headers`."""

    def __init__(self, status=200, body=b"", headers=None):
        self.hits: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hits.append(self.path)
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_receiver():
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def campaign_form(tenant, **changes) -> dict:
    data = {
        "tenant": tenant.id,
        "name": "A campaign",
        "script": json.dumps(DEFAULT_SCRIPT),
        "caller_id": "+12025550100",
        "language": "en",
        "window_start": "09:00",
        "window_end": "20:00",
        "max_concurrent_calls": 5,
        "max_attempts": 1,
        "calls_per_second": 1,
        "_save": "Save",
    }
    return {**data, **changes}


def queued(tenant, url: str) -> WebhookDelivery:
    campaign = CampaignFactory(tenant=tenant, webhook_url=url, webhook_secret="s" * 64)
    return WebhookDelivery.objects.create(
        tenant=tenant, campaign=campaign, event="campaign.completed", url=url, payload={"event": "campaign.completed"}
    )


# --- send time ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "127.1", "[::ffff:127.0.0.1]"])
def test_send_refuses_loopback_in_any_spelling(tenant, make_receiver, host):
    receiver = make_receiver(status=200, body=INTERNAL.encode())
    delivery = queued(tenant, f"http://{host}:{receiver.port}/hook")
    assert deliver(delivery.id) == WebhookDelivery.Status.FAILED  # not retried: it never will be allowed
    delivery.refresh_from_db()
    assert receiver.hits == []
    assert "loopback" in delivery.last_error and delivery.last_status_code is None


def test_a_refusal_does_not_tell_what_a_name_resolves_to(tenant):
    delivery = queued(tenant, "http://localhost:9/hook")
    deliver(delivery.id)
    delivery.refresh_from_db()
    assert delivery.last_error == "Refused: localhost is refused: it resolves to a loopback address."
    assert "127.0.0.1" not in delivery.last_error


def test_send_to_private_address_works_when_allowed(tenant, make_receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = make_receiver(status=204)
    delivery = queued(tenant, receiver.url)
    assert deliver(delivery.id) == WebhookDelivery.Status.DELIVERED
    assert receiver.hits == ["/hook"]


@pytest.mark.parametrize("status", [400, 500])
def test_only_status_and_reason_are_stored_never_the_body(tenant, make_receiver, settings, status):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = make_receiver(status=status, body=INTERNAL.encode())
    delivery = queued(tenant, receiver.url)
    with contextlib.suppress(TransientWebhookError):  # a 500 is retried later
        deliver(delivery.id)
    delivery.refresh_from_db()
    assert delivery.last_status_code == status
    assert INTERNAL not in delivery.last_error and "hunter2" not in delivery.last_error
    assert delivery.last_error == {400: "HTTP 400 Bad Request", 500: "HTTP 500 Internal Server Error"}[status]


def test_redirects_are_never_followed(tenant, make_receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    inner = make_receiver(status=200, body=INTERNAL.encode())
    outer = make_receiver(status=302, headers={"Location": inner.url})
    delivery = queued(tenant, outer.url)
    assert deliver(delivery.id) == WebhookDelivery.Status.FAILED
    delivery.refresh_from_db()
    assert (outer.hits, inner.hits) == (["/hook"], [])
    assert (delivery.last_status_code, delivery.last_error) == (302, "HTTP 302 Found")


def test_viewer_sees_no_receiver_body_in_the_admin(client, tenant, make_receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = make_receiver(status=404, body=INTERNAL.encode())
    delivery = queued(tenant, receiver.url)
    deliver(delivery.id)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    client.force_login(MembershipFactory(tenant=tenant, role=Role.VIEWER).user)
    page = client.get(reverse("admin:campaigns_webhookdelivery_change", args=[delivery.id])).content.decode()
    assert "HTTP 404 Not Found" in page and "hunter2" not in page


# --- the address check (no connection is made) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_blocked(address, kind):
    assert kind in blocked_reason(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_are_not_blocked(address):
    assert blocked_reason(address) is None


# --- save time ------------------------------------------------------------------------------------------------

UNSAFE_URLS = [
    "http://127.0.0.1:6379/",
    "http://localhost:8000/admin/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://192.168.0.10/hook",
    "http://[::1]:5432/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0.0.0.0:5555/",
    "http://redis.localhost/",
    "ftp://hooks.example.com/hook",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_unsafe_urls_are_refused_on_save(url):
    with pytest.raises(UnsafeURL):
        validate_url(url)


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_api_refuses_unsafe_webhook_urls(client, tenant, url):
    token = TokenFactory(user=MembershipFactory(tenant=tenant, role=Role.MANAGER).user)
    response = client.post(
        f"/api/v1/tenants/{tenant.slug}/campaigns/",
        {"name": "X", "caller_id": "+12025550100", "webhook_url": url},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["webhook_url"]
    assert not Campaign.objects.exists()


def test_api_refuses_an_unsafe_url_on_update(client, tenant):
    token = TokenFactory(user=MembershipFactory(tenant=tenant, role=Role.MANAGER).user)
    campaign = CampaignFactory(tenant=tenant, webhook_url="https://hooks.example.test/robot")
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}/campaigns/{campaign.id}/",
        {"webhook_url": "http://169.254.169.254/latest/meta-data/"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 400
    campaign.refresh_from_db()
    assert campaign.webhook_url == "https://hooks.example.test/robot"


def test_admin_refuses_unsafe_webhook_url(client, tenant, manager):
    client.force_login(manager)
    form = campaign_form(tenant, name="Sneaky", webhook_url="http://169.254.169.254/latest/meta-data/")
    response = client.post(reverse("admin:campaigns_campaign_add"), form)
    assert response.status_code == 200
    assert "link-local" in response.content.decode()
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("url", ["https://hooks.example.test/robot", "http://93.184.216.34/hook"])
def test_public_or_not_yet_resolvable_urls_are_accepted_on_save(url):
    validate_url(url)


def test_private_urls_are_accepted_on_save_when_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    validate_url("http://127.0.0.1:9000/hook")


def test_the_migration_removes_bodies_stored_before(tenant):
    import importlib

    from django.apps import apps

    answered = queued(tenant, "https://hooks.example.test/a")
    WebhookDelivery.objects.filter(id=answered.id).update(last_status_code=500, last_error=INTERNAL)
    unreachable = queued(tenant, "https://hooks.example.test/b")
    WebhookDelivery.objects.filter(id=unreachable.id).update(last_error="ConnectionError: 10.0.0.7:6379 refused")
    importlib.import_module("campaigns.migrations.0007_security").scrub_delivery_errors(apps, None)
    answered.refresh_from_db()
    unreachable.refresh_from_db()
    assert answered.last_error == "HTTP 500 Internal Server Error"
    assert unreachable.last_error == "connection failed (details removed)"
