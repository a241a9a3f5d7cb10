"""A manager's afternoon in a real browser: Debian's chromium driven by Playwright, against the live Django server,
with a real Celery worker placing dry-run calls (virtual callees speaking piper, heard by whisper).

Log in to the admin, create a dry-run campaign, upload a CSV call list, start it from the dashboard, watch the home
page's progress bar reach 100 % (live polling, no reload), read the report, filter the call list, open a call and
check its recording loads in the audio element, export the results as CSV, and read /metrics. A full-page
screenshot of every page goes to test-artifacts/browser/.
"""

import csv
import io
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families

from campaigns.models import CallAttempt, Campaign, Role
from telephony.simulator import persona_for
from tests.factories import MembershipFactory, TenantFactory
from tests.support.browser import Screenshots, chromium
from tests.support.workers import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory
METRICS_TOKEN = "browser-test-metrics-token"
# Last digit picks the virtual callee: 1 agrees, 2 declines, 6 is busy (telephony.simulator).
CALL_LIST = "phone,first_name,last_name\n+12025550201,Ada,Agree\n+12025550202,Bo,Decline\n+12025550206,Cy,Busy\n"
CAMPAIGN = "Browser flu shots"


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def shots():
    return Screenshots("browser")


def metrics_samples(base_url: str) -> dict[tuple, float]:
    url = f"{base_url}/metrics"  # the live test server, http://localhost:<port>
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_manager_runs_a_campaign_in_the_browser(live_server, settings, tmp_path, browser, shots, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are plain blocking calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.METRICS_INSPECT_TIMEOUT = 2.0
    tenant = TenantFactory(name="Browser Clinic", slug="browser-clinic")
    manager = MembershipFactory(tenant=tenant, role=Role.MANAGER).user
    call_list = tmp_path / "call-list.csv"
    call_list.write_text(CALL_LIST)

    baseline = metrics_samples(live_server.url)
    with running_worker(settings, tmp_path / "worker.log", name="browser") as worker:
        context = browser.new_context(
            base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            # 1. Log in to the admin, landing on the dashboard.
            page.goto("/admin/login/?next=/")
            page.fill("#id_username", manager.username)
            page.fill("#id_password", PASSWORD)
            shots(page, "admin-login")
            page.click("input[type=submit]")
            expect(page.locator("h1")).to_have_text("Campaigns")
            expect(page.locator("#campaigns")).to_contain_text("No campaigns yet.")

            # 2. Create a dry-run campaign in the admin: all day, one attempt per contact.
            page.goto("/admin/campaigns/campaign/add/")
            page.select_option("#id_tenant", str(tenant.id))
            page.fill("#id_name", CAMPAIGN)
            page.fill("#id_caller_id", "+12025550100")
            page.check("#id_dry_run")
            page.fill("#id_window_start", "00:00:00")
            page.fill("#id_window_end", "23:59:59")
            page.fill("#id_max_attempts", "1")
            page.fill("#id_calls_per_second", "5")
            shots(page, "admin-campaign-add")
            page.click("input[name=_continue]")
            expect(page.locator(".messagelist")).to_contain_text("was added successfully")
            campaign = Campaign.objects.get(name=CAMPAIGN)
            assert (campaign.tenant_id, campaign.dry_run, campaign.max_attempts) == (tenant.id, True, 1)

            # 3. Upload the call list.
            page.click("text=Upload a CSV call list")
            page.set_input_files("#id_file", str(call_list))
            page.click("input[type=submit][value=Upload]")
            expect(page.locator("#upload-report")).to_contain_text("3 of 3 rows added")
            shots(page, "admin-upload-report")

            # 4. Start it from the dashboard's campaign page (POST with the CSRF token).
            page.goto(f"/campaigns/{campaign.id}/")
            expect(page.locator("[data-field=status]").first).to_have_text("draft")
            shots(page, "campaign-draft")
            page.click("button[value=start]")
            expect(page.locator(".messages")).to_contain_text(f"{CAMPAIGN}: started.")

            # 5. The home page's progress bar moves to 100 % by itself (polling, no reload).
            page.goto("/")
            row = page.locator(f'[data-campaign="{campaign.id}"]')
            expect(row).to_contain_text(CAMPAIGN)
            shots(page, "home-running")
            expect(row.locator(".bar")).to_have_attribute("aria-valuenow", "100", timeout=300_000)
            expect(row.locator("[data-field=percent]")).to_have_text("100 %")
            expect(row.locator("[data-field=status]")).to_have_text("completed", timeout=60_000)
            expect(row.locator("[data-field=contacts_done]")).to_have_text("3")
            assert page.locator("#campaigns").get_attribute("data-updated")  # set by the poll, not the server
            shots(page, "home-complete")
            assert worker.alive(), worker.log_tail()

            # 6. The campaign's report from the run.
            page.click(f"text={CAMPAIGN}")
            expect(page.locator("[data-card=answer_rate] .value")).to_have_text("66.7 %")  # busy never answers
            expect(page.locator("[data-card=completion_rate] .value")).to_have_text("100.0 %")
            expect(page.locator("[data-card=attempts_per_contact] .value")).to_have_text("1.00")
            for persona in ("interested", "not_interested", "busy"):
                expect(page.locator(f'#dispositions [data-disposition="{persona}"]')).to_have_attribute(
                    "data-count", "1"
                )
            assert page.locator("#calls-per-hour rect").count() >= 1
            latency = page.locator("[data-card=turn_latency] .value").inner_text()
            assert "ms" in latency, latency
            shots(page, "campaign-report")

            # 7. The call list, filtered to the callee who agreed.
            page.click("text=All calls")
            expect(page.locator("#calls tbody tr")).to_have_count(3)
            page.select_option("#id_disposition", "interested")
            page.click("#call-filters button[type=submit]")
            expect(page.locator("#calls tbody tr")).to_have_count(1)
            shots(page, "calls-filtered")

            # 8. The call: transcript and a recording the browser can play.
            page.click("text=Ada Agree")
            expect(page.locator("#disposition")).to_have_text("interested")
            callee = page.locator("#transcript tr.speaker-callee").first
            expect(callee).to_contain_text("affirm")
            page.wait_for_function(
                "() => { const a = document.querySelector('#recording');"
                " return a !== null && a.readyState >= 1 && a.duration > 0; }"
            )
            duration = page.evaluate("document.querySelector('#recording').duration")
            agreed = CallAttempt.objects.get(campaign=campaign, contact__phone="+12025550201")
            assert duration == pytest.approx(agreed.talk_ms / 1000, abs=0.5), (duration, agreed.talk_ms)
            shots(page, "call-detail")

            # 9. Export the results as CSV.
            page.goto(f"/campaigns/{campaign.id}/")
            with page.expect_download() as download_info:
                page.click("#export-csv")
            download = download_info.value
            assert download.suggested_filename == f"campaign-{campaign.id}-results.csv"
            rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
            assert {r["phone"]: r["disposition"] for r in rows} == {
                f"'{phone}": persona_for(phone).expected_disposition
                for phone in ("+12025550201", "+12025550202", "+12025550206")
            }

            # 10. /metrics saw the run: finished calls, a dial worker, and the turns' latencies.
            metrics_samples(live_server.url)  # the first scrape that sees the turns only marks them
            samples = metrics_samples(live_server.url)
            assert samples[("robocall_calls_total", (("disposition", "interested"),))] == 1
            assert samples[("robocall_calls_total", (("disposition", "busy"),))] == 1
            assert samples[("robocall_queue_consumers", (("queue", "dial"),))] == 1
            for histogram in ("robocall_asr_latency_seconds_count", "robocall_turn_latency_seconds_count"):
                counted = samples[(histogram, ())] - baseline[(histogram, ())]
                assert counted >= 2, histogram  # Ada and Bo each answered once, and the robot replied
            lookups = sum(
                samples[("robocall_tts_cache_lookups_total", (("result", r),))]
                - baseline[("robocall_tts_cache_lookups_total", (("result", r),))]
                for r in ("hit", "miss")
            )
            assert lookups >= 4  # the robot spoke at least twice in each of the two answered calls
        except Exception:
            shots(page, "failure")
            print(worker.log_tail(60))
            raise
        finally:
            context.close()
    assert len(shots.taken) == 9
