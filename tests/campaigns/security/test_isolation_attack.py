"""Tenant isolation, attacked: every admin, dashboard and API URL the URL resolver knows, asked by each role of
tenant A (and by nobody) with tenant B's slug and ids.

The URLs are enumerated, not listed by hand: a URL added later is attacked too, and one whose parameters this
test cannot fill fails the test instead of being skipped. For each URL that names B's objects, the answer must
be a 403 or 404 (302 to the login page for anonymous visitors, 401 from the API), byte for byte the answer for an
id or slug that does not exist (after the id itself is masked), and no response at all may carry any of B's data.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from tests.campaigns.security.isolation_routes import probes
from tests.campaigns.security.isolation_victim import (
    B_SLUG,
    FAKE_SLUG,
    ID_RE,
    SECRETS,
    create_victim,
    snapshot,
)
from tests.factories import CampaignFactory, TokenFactory

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def victim(db, settings):
    return create_victim(settings.MEDIA_ROOT)


def _send(client, probe_method: str, url: str, data, headers: dict):
    if probe_method == "GET":
        return client.get(url, headers=headers)
    if url.startswith("/api/"):
        return client.generic(
            probe_method, url, json.dumps(data or {}), content_type="application/json", headers=headers
        )
    return client.generic(probe_method, url, urlencode(data or {}), "application/x-www-form-urlencoded", headers)


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _normalized(response, masks: list[str]) -> tuple:
    text = _body(response).decode("utf-8", "replace")
    for mask in sorted(masks, key=len, reverse=True):  # the values the request itself carried
        text = text.replace(mask, "<ECHO>")
    text = ID_RE.sub("<ID>", CSRF_RE.sub("<CSRF>", text))
    location = ID_RE.sub("<ID>", response.get("Location", ""))
    for mask in masks:
        location = location.replace(mask, "<ECHO>")
    return response.status_code, response.get("Content-Type"), location, text


def _echoed(url: str) -> list[str]:
    """What the attacker put in the URL (its query values, B's words in its path), plain and encoded once or twice
    (the admin's links carry the query inside a query): answers may echo it, and it is not B's data."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    values = [value for _, value in parse_qsl(parts.query) if not ID_RE.fullmatch(value)]
    values += [value for value in [*SECRETS.values(), FAKE_SLUG] if value in path]
    forms = set()
    for value in values:
        for once in (value, quote_plus(value), quote(value), quote(value, safe="")):
            forms.update((once, quote_plus(once), quote(once, safe="")))
    return sorted(forms)


def _leaks(response, url: str) -> list[str]:
    body = _body(response) + response.get("Location", "").encode()
    for echo in sorted(_echoed(url), key=len, reverse=True):  # what the URL carried is not a leak
        body = body.replace(echo.encode(), b"<ECHO>")
    found = [name for name, value in SECRETS.items() if value.encode() in body]
    if b"ZQ-RECORDING-BYTES" in body:
        found.append("recording bytes")
    return found


# Enumeration floors: fewer routes means the enumeration broke and the test would attack nothing.
MIN_ROUTES = {"admin": 60, "dashboard": 12, "api": 20}
MIN_PROBES = 300


@pytest.mark.parametrize("role", ["owner", "manager", "viewer", "anonymous"])
def test_tenant_a_cannot_see_or_touch_tenant_b_through_any_url(client, settings, tenant, victim, role, request):
    api_client = Client()  # the API is asked with a token only, never with the session
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"),
    }
    # A's own campaign, so A's lists are not trivially empty.
    CampaignFactory(tenant=tenant, name="Alpha own campaign")
    if role != "anonymous":
        user = request.getfixturevalue(role)
        client.force_login(user)
        api_headers = {"Authorization": f"Token {TokenFactory(user=user).key}"}
    else:
        api_headers = {}
    before = snapshot(victim.tenant)

    found, counts, unfilled = probes(victim, tenant.slug)
    print(f"\n[{role}] routes enumerated: {counts}; requests: {len(found)} (x2 with controls)")
    assert not unfilled, f"URL parameters this test cannot fill (extend fill()): {sorted(set(unfilled))}"
    for area, floor in MIN_ROUTES.items():
        assert counts[area] >= floor, f"only {counts[area]} {area} routes enumerated (expected >= {floor})"
    assert len(found) >= MIN_PROBES, f"only {len(found)} requests (expected >= {MIN_PROBES})"

    failures: list[str] = []
    compared = 0
    for probe in found:
        on_api = probe.url.startswith("/api/")
        asker, headers = (api_client, api_headers) if on_api else (client, {})
        response = _send(asker, probe.method, probe.url, probe.data, headers)
        where = f"{probe.method} {probe.url}"
        leaks = _leaks(response, probe.url)
        if leaks:
            failures.append(f"{where}: {response.status_code} carries B's {leaks}")
        status = response.status_code
        if role == "anonymous":
            if probe.url.startswith("/api/"):
                ok = status in (401, 403, 404, 405) or probe.route in ("api:schema", "api:docs", "api:token")
            else:
                ok = status in (403, 404, 405) or (
                    status == 302 and response["Location"].startswith(reverse("admin:login"))
                )
                ok = ok or probe.route in ("healthz", "admin:login", "admin:jsi18n", "admin:password_reset")
        elif probe.control is None or probe.own_listing:
            ok = status < 500  # no B id in the URL (or a list of A's own): A's pages, answered as usual
        else:
            ok = status in (403, 404, 405)
        if not ok:
            failures.append(f"{where}: status {status}")
        if probe.control is not None:
            control_data = probe.control_data if probe.control_data is not None else probe.data
            control = _send(asker, probe.method, probe.control, control_data, headers)
            masks = [B_SLUG, FAKE_SLUG, *_echoed(probe.url), *_echoed(probe.control)]
            compared += 1
            if _normalized(response, masks) != _normalized(control, masks):
                failures.append(
                    f"{where}: answers differ from {probe.control}: {response.status_code} vs {control.status_code}"
                )
        if role != "anonymous" and not client.session.get("_auth_user_id"):
            pytest.fail(f"{where} ended the session: the rest would be asked anonymously")
    print(f"[{role}] answers compared with a non-existent id: {compared}; failures: {len(failures)}")
    assert compared >= MIN_PROBES // 2, f"only {compared} comparisons"
    assert not failures, "\n".join(failures[:80]) + f"\n({len(failures)} failures)"
    assert snapshot(victim.tenant) == before, "the attack changed B's rows"
