"""Response headers: tenant data is never cached (private, no-store), token-authenticated answers vary on
Authorization, and every page carries a Content-Security-Policy that the dashboard, the admin and the API docs
work under (checked in a real browser below: no violation, and the scripts still run)."""

import os
import re
import wave
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from campaigns.models import Role
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    MembershipFactory,
    TenantFactory,
    TokenFactory,
)


def write_wav(relative: str) -> None:
    path = Path(django_settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)


@pytest.fixture
def attempt(tenant):
    campaign = CampaignFactory(tenant=tenant, name="Flu shots")
    contact = ContactFactory(campaign=campaign, first_name="Zelda")
    attempt = CallAttemptFactory(
        contact=contact, recording=f"tenant_{tenant.id}/calls/1.wav", status="finalized", disposition="completed"
    )
    write_wav(attempt.recording)
    return attempt


def dashboard_urls(attempt) -> dict[str, str]:
    campaign = attempt.campaign
    return {
        "home": reverse("home"),
        "campaign": reverse("campaign", args=[campaign.id]),
        "calls": reverse("calls", args=[campaign.id]),
        "call": reverse("call", args=[attempt.id]),
        "recording": reverse("recording", args=[attempt.id]),
        "export-csv": reverse("export-csv", args=[campaign.id]),
        "export-xlsx": reverse("export-xlsx", args=[campaign.id]),
    }


def assert_not_stored(response) -> None:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert {"private", "no-store"} <= directives, response.get("Cache-Control")


@pytest.mark.parametrize("page", ["home", "campaign", "calls", "call", "recording", "export-csv", "export-xlsx"])
def test_dashboard_pages_are_private_and_not_stored(client, viewer, attempt, page):
    client.force_login(viewer)
    response = client.get(dashboard_urls(attempt)[page])
    assert response.status_code == 200
    assert_not_stored(response)


@pytest.mark.parametrize("endpoint", ["campaign-list", "campaign-detail", "call-detail", "call-recording", "export"])
def test_api_answers_are_private_not_stored_and_vary_on_authorization(client, tenant, attempt, endpoint):
    token = TokenFactory(user=MembershipFactory(tenant=tenant, role=Role.VIEWER).user)
    base = f"/api/v1/tenants/{tenant.slug}"
    path = {
        "campaign-list": f"{base}/campaigns/",
        "campaign-detail": f"{base}/campaigns/{attempt.campaign_id}/",
        "call-detail": f"{base}/calls/{attempt.id}/",
        "call-recording": f"{base}/calls/{attempt.id}/recording/",
        "export": f"{base}/campaigns/{attempt.campaign_id}/export/",
    }[endpoint]
    response = client.get(path, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert_not_stored(response)
    assert "authorization" in response.get("Vary", "").lower()


def test_api_errors_vary_on_authorization_too(client, tenant):
    response = client.get(f"/api/v1/tenants/{tenant.slug}/campaigns/", HTTP_AUTHORIZATION="Token wrong")
    assert response.status_code == 401
    assert "authorization" in response.get("Vary", "").lower()


# --- Content-Security-Policy ------------------------------------------------------------------------------------


def csp(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy", "")
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("page", ["home", "campaign", "calls", "call"])
def test_dashboard_pages_have_a_strict_csp_and_nothing_inline(client, viewer, attempt, page):
    client.force_login(viewer)
    response = client.get(dashboard_urls(attempt)[page])
    policy = csp(response)
    assert policy["script-src"] == "script-src 'self'" and policy["style-src"] == "style-src 'self'"
    assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"<style\b", html) and not re.search(r"\sstyle=", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_admin_and_api_docs_have_the_csp_and_nothing_inline(client, owner, attempt):
    client.force_login(owner)
    for url in (reverse("admin:index"), reverse("admin:campaigns_campaign_changelist"), reverse("api:docs")):
        response = client.get(url)
        assert response.status_code == 200 and csp(response)["script-src"] == "script-src 'self'", url
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script on {url}"
        assert not re.search(r"<style\b", html), f"inline <style> on {url}"


# --- the dashboard works under the CSP in a real browser ---------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI),
);
"""


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs the Debian package `chromium`")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_dashboard_admin_and_docs_work_under_the_csp(live_server, settings, browser, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are plain blocking calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    tenant = TenantFactory()
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = MembershipFactory(tenant=tenant, role=Role.MANAGER).user
    campaign = CampaignFactory(tenant=tenant, name="Flu shots")
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=campaign), status="finalized", disposition="completed")
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(WATCH_CSP)
    console: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: console.append(message.text))

    page.goto("/admin/login/?next=/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-tests-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    visited = {}
    for path in ("/", f"/campaigns/{campaign.id}/", f"/campaigns/{campaign.id}/calls/", f"/calls/{attempt.id}/"):
        response = page.goto(path)
        assert "script-src 'self'" in response.headers.get("content-security-policy", ""), path
        page.wait_for_load_state("networkidle")
        visited[path] = page.evaluate("window.__csp")
    # The scripts ran: the progress bars got their widths, and the page polled its progress endpoint.
    page.goto(f"/campaigns/{campaign.id}/")
    page.wait_for_selector("#campaign-header[data-updated]", timeout=10_000)
    assert page.eval_on_selector("#campaign-header .bar > span", "el => el.style.width") == "0%"
    assert page.eval_on_selector(".hbar-track > span", "el => el.style.width") == "100%"
    for path in ("/admin/", f"/admin/campaigns/campaign/{campaign.id}/change/", "/api/docs/"):
        response = page.goto(path)
        assert "script-src 'self'" in response.headers.get("content-security-policy", ""), path
        page.wait_for_load_state("networkidle")
        visited[path] = page.evaluate("window.__csp")
    assert page.locator(".swagger-ui .info .title").count() == 1  # Swagger UI rendered the schema
    assert {path: v for path, v in visited.items() if v} == {}
    assert not [line for line in console if "Content Security Policy" in line], console
    context.close()
