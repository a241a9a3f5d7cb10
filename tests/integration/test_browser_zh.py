"""The interface in Chinese: a browser whose language is zh-CN gets the dashboard and the admin in Simplified
Chinese (Django i18n, locale/zh_Hans), an English browser the same pages in English. Debian's chromium driven by
Playwright against the live Django server; screenshots go to test-artifacts/browser-zh/.
"""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from campaigns.models import Role
from tests.factories import CampaignFactory, ContactFactory, MembershipFactory, TenantFactory
from tests.integration.test_browser import PASSWORD, browser  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts" / "browser-zh"
MO_FILE = Path(django_settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"


def log_in(page, username: str) -> None:
    page.goto("/admin/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def test_the_dashboard_and_admin_follow_the_browsers_language(live_server, settings, browser, monkeypatch):  # noqa: F811
    assert MO_FILE.exists(), "the Chinese catalogue is not compiled: run `make install` (msgfmt, Debian's gettext)"
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    tenant = TenantFactory(name="北京诊所", slug="beijing-clinic")
    manager = MembershipFactory(tenant=tenant, role=Role.MANAGER).user
    campaign = CampaignFactory(tenant=tenant, name="流感疫苗提醒", language="zh-CN", dry_run=True)
    ContactFactory(campaign=campaign, phone="+8613800138000", first_name="建国", timezone="Asia/Shanghai")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    chinese = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = chinese.new_page()
    page.set_default_timeout(30_000)
    log_in(page, manager.username)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text("外呼任务")
    expect(page.locator("#campaigns thead")).to_contain_text("状态")
    expect(page.locator("#campaigns thead")).to_contain_text("已完成联系人")
    expect(page.locator("#campaigns")).to_contain_text("流感疫苗提醒")
    expect(page.locator("header.top")).to_contain_text("管理后台")
    page.screenshot(path=str(ARTIFACTS / "01-home.png"), full_page=True)

    page.click("text=流感疫苗提醒")
    expect(page.locator("#report")).to_contain_text("接通率")
    expect(page.locator(".actions")).to_contain_text("开始")  # the lifecycle button
    expect(page.locator("#campaign-header")).to_contain_text("位联系人")
    page.screenshot(path=str(ARTIFACTS / "02-campaign.png"), full_page=True)

    page.goto("/admin/")
    expect(page.locator("#site-name, #content h1").first).to_be_visible()
    expect(page.locator("#site-name")).to_have_text("电话机器人")
    expect(page.locator("body")).to_contain_text("注销")  # Django's own zh-Hans admin catalogue ("Log out")
    for label in ("外呼任务", "联系人", "免打扰名单", "SIP 中继"):  # our models' names, from locale/zh_Hans
        expect(page.locator("#content-main")).to_contain_text(label)
    page.screenshot(path=str(ARTIFACTS / "03-admin.png"), full_page=True)
    chinese.close()

    english = browser.new_context(base_url=live_server.url, locale="en-US")
    page = english.new_page()
    log_in(page, manager.username)
    expect(page.locator("h1")).to_have_text("Campaigns")
    expect(page.locator("#campaigns thead")).to_contain_text("Contacts done")
    english.close()
