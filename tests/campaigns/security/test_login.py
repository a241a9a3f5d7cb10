"""Password guessing is locked out (admin and API token), counted in the shared Redis cache, per real client IP.

Every counter here lives in the real Redis of REDIS_URL: a second web worker (another process) sees the same
counts, which the raw Redis client below checks.
"""

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse

from campaigns.models import Role
from campaigns.security import client_ip
from tests.factories import MembershipFactory

PASSWORD = "pw-for-tests-1"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(tenant):
    return MembershipFactory(tenant=tenant, role=Role.OWNER).user


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(django_settings.CACHES["default"].get("LOCATION") or django_settings.REDIS_URL)


def failure_limit() -> int:
    return getattr(django_settings, "AXES_FAILURE_LIMIT", 5)


def admin_login(client, username, password, **extra):
    return client.post(reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- admin login ------------------------------------------------------------------------------------------------


def test_admin_login_locks_out_after_repeated_wrong_passwords(client, staff):
    for _ in range(failure_limit()):
        response = admin_login(client, staff.username, "wrong")
        assert not logged_in(client)
    response = admin_login(client, staff.username, PASSWORD)  # the right password, too late
    assert response.status_code == 429
    assert not logged_in(client)


def test_a_right_password_before_the_limit_logs_in_and_resets(client, staff):
    for _ in range(failure_limit() - 1):
        admin_login(client, staff.username, "wrong")
    assert admin_login(client, staff.username, PASSWORD).status_code == 302
    assert logged_in(client)


def test_lockout_counts_live_in_the_shared_redis_cache(client, staff):
    admin_login(client, staff.username, "wrong")
    keys = [key.decode() for key in raw_redis().keys("*axes*")]
    assert keys, "no login-failure counter in Redis: another web worker would not see it"


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(client, staff):
    for n in range(failure_limit()):
        admin_login(client, staff.username, "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    response = admin_login(client, staff.username, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert response.status_code == 429 and not logged_in(client)


# --- API token endpoint -----------------------------------------------------------------------------------------


def test_api_token_endpoint_locks_out_too(client, staff):
    url = reverse("api:token")
    for _ in range(failure_limit()):
        assert client.post(url, {"username": staff.username, "password": "wrong"}).status_code == 400
    response = client.post(url, {"username": staff.username, "password": PASSWORD})
    assert response.status_code in (400, 403, 429)
    assert "token" not in response.json()


# --- API throttles: shared cache, real client IP ------------------------------------------------------------


def token_rate(settings, rate: str):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": rate}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def token_attempt(client, forwarded_for: str | None = None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return client.post(reverse("api:token"), {"username": "nobody-here", "password": "x"}, **extra).status_code


def test_api_throttle_history_lives_in_redis(client, db):
    token_attempt(client)
    assert [key for key in raw_redis().keys("*throttle_*")], "throttle history is not in the shared Redis cache"


def test_api_throttle_ignores_a_client_sent_x_forwarded_for(client, db, settings):
    token_rate(settings, "3/min")
    statuses = [token_attempt(client, forwarded_for=f"203.0.113.{n}") for n in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_api_throttle_uses_the_address_the_trusted_proxy_saw(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    token_rate(settings, "3/min")
    statuses = [token_attempt(client, forwarded_for=f"forged-{n}, 203.0.113.7") for n in range(4)]
    assert statuses == [400, 400, 400, 429]  # the proxy's entry (last) is the client, whatever came before it
    assert token_attempt(client, forwarded_for="203.0.113.8") == 400  # another client has its own budget


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (2, "198.51.100.1", "198.51.100.1"),  # fewer entries than proxies: the first one
        (1, "", "10.0.0.2"),
    ],
)
def test_client_ip(rf, settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
