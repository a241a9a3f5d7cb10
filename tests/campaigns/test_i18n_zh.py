"""The interface in Chinese through real requests: API errors, upload reports (API and admin), admin labels.

The language is the browser's (Accept-Language: zh-hans, Django's LocaleMiddleware); a request without it gets
the English it always got. The translations are locale/zh_Hans/LC_MESSAGES/django.po, built to .mo by make.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Campaign, ContactImport, Rehearsal
from tests.campaigns.api_support import assert_error, url
from tests.factories import CampaignFactory, ContactFactory, DoNotCallFactory

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NOT_A_NUMBER = "(1) The string supplied did not seem to be a phone number."
ROWS = (
    b"phone,first_name\n"
    b"+12025550111,Ann\n"
    b"+12025550111,Ann again\n"
    b"+12025550177,Dee\n"
    b"+12025550150,Old\n"
    b"not a number,Bob\n"
    b"+12025550112,Cy,extra\n"
)


@pytest.fixture
def campaign(tenant):
    campaign = CampaignFactory(tenant=tenant, name="Flu shots")
    DoNotCallFactory(tenant=tenant, phone="+12025550177")
    ContactFactory(campaign=campaign, phone="+12025550150")
    return campaign


def api_upload(api, tenant, campaign, content: bytes, headers: dict):
    file = SimpleUploadedFile("list.csv", content, content_type="text/csv")
    return api.post(url("campaign-upload", tenant, campaign.id), {"file": file}, format="multipart", **headers)


def test_api_validation_errors_in_chinese_and_english(api, tenant):
    path = url("dnc-list", tenant)
    zh = assert_error(api.post(path, {"phone": "not a number"}, format="json", **ZH), 400, "invalid")
    # the frame is ours, the detail in brackets is the phone library's (English only)
    assert zh["fields"]["phone"] == [f"'not a number' 不是电话号码（{NOT_A_NUMBER}）"]
    en = assert_error(api.post(path, {"phone": "not a number"}, format="json", **EN), 400, "invalid")
    assert en["fields"]["phone"] == [f"'not a number' is not a phone number ({NOT_A_NUMBER})"]
    DoNotCallFactory(tenant=tenant, phone="+12025550143")
    zh = assert_error(api.post(path, {"phone": "+12025550143"}, format="json", **ZH), 400, "invalid")
    assert zh["message"] == "phone: +12025550143 已在免打扰名单中。"
    # Several invalid fields: our summary and DRF's own messages (DRF ships zh-Hans) both in Chinese.
    zh = assert_error(
        api.post(url("campaign-list", tenant), {"max_attempts": "many"}, format="json", **ZH), 400, "invalid"
    )
    assert zh["message"] == "部分字段无效。"
    assert zh["fields"]["name"] == ["该字段是必填项。"]
    en = assert_error(api.post(url("campaign-list", tenant), {"max_attempts": "many"}, format="json"), 400, "invalid")
    assert (en["message"], en["fields"]["name"]) == ("Some fields are invalid.", ["This field is required."])


def test_api_state_conflict_in_chinese(api, tenant):
    campaign = CampaignFactory(tenant=tenant, name="Flu shots", status=Campaign.Status.CANCELLED)
    zh = assert_error(api.post(url("campaign-start", tenant, campaign.id), **ZH), 409, "invalid_state")
    assert zh["message"] == (
        "外呼任务 'Flu shots' 的状态是 cancelled；只有 draft 或 scheduled 或 paused 状态的任务才能变为 running。"
    )
    en = assert_error(api.post(url("campaign-start", tenant, campaign.id)), 409, "invalid_state")
    assert en["message"].startswith("Campaign 'Flu shots' is cancelled; only a draft or ")


def test_api_upload_report_in_chinese_and_english(api, tenant, campaign):
    response = api_upload(api, tenant, campaign, ROWS, ZH)
    assert response.status_code == 201, response.content
    reasons = {row["line"]: row["reason"] for row in response.json()["rejected"]}
    assert reasons == {
        3: "与第 2 行重复",
        4: "在免打扰名单中",
        5: "已在本外呼任务中",
        6: f"'not a number' 不是电话号码（{NOT_A_NUMBER}）",
        7: "应为 2 列，实际为 3 列",
    }
    # The same stored import read by an English client: the reasons as stored.
    record = api.get(url("import-detail", tenant, response.json()["import_id"]), **EN).json()
    assert {row["line"]: row["reason"] for row in record["rejected"]}[3] == "duplicate of line 2"
    assert {row["line"]: row["reason"] for row in record["rejected"]}[7] == "expected 2 columns, found 3"
    # A file refused as a whole: the message in Chinese, nothing stored.
    error = assert_error(api_upload(api, tenant, campaign, b"first_name\nAnn\n", ZH), 400, "bad_file")
    assert error["message"] == (
        "没有电话列：表头需要包含 phone, phone_number, number, mobile, telephone, tel 之一；实际为 ['first_name']。"
    )


def test_admin_upload_report_in_chinese(client, manager, campaign):
    client.force_login(manager)
    page = reverse("admin:campaigns_campaign_upload", args=[campaign.id])
    html = client.post(page, {"file": SimpleUploadedFile("list.csv", ROWS, content_type="text/csv")}, **ZH)
    html = html.content.decode()
    assert "上传外呼名单到 Flu shots" in html
    assert "6 行中有 <strong>1</strong> 行已添加到 Flu shots。" in html
    assert "5 行被拒绝" in html
    assert "<tr><td>3</td><td>+12025550111</td><td>与第 2 行重复</td></tr>" in html
    assert "已添加 1 个联系人，拒绝 5 行。" in html  # the admin message
    refused = client.post(page, {"file": SimpleUploadedFile("x.csv", b"\x00\x01PNG", content_type="text/csv")}, **ZH)
    assert "这不是 CSV 文件（含有二进制数据）。请将表格导出为 CSV UTF-8。 未保存任何数据。" in refused.content.decode()


def test_admin_change_form_labels_in_chinese_english_unchanged(client, manager, campaign):
    client.force_login(manager)
    page = reverse("admin:campaigns_campaign_change", args=[campaign.id])
    zh = client.get(page, **ZH).content.decode()
    for label in ("名称", "拨打时段开始", "最大并发通话数", "重拨策略", "话术"):
        assert f">{label}:</label>" in zh, label
    en = client.get(page, **EN).content.decode()
    for label in ("Name", "Window start", "Max concurrent calls", "Retry policy", "Script"):
        assert f">{label}:</label>" in en, label
    assert "拨打时段开始" not in en
    # An import's change page: the stored English reasons shown in Chinese.
    client.post(
        reverse("admin:campaigns_campaign_upload", args=[campaign.id]),
        {"file": SimpleUploadedFile("list.csv", ROWS, content_type="text/csv")},
    )
    record = ContactImport.objects.get(campaign=campaign)
    zh = client.get(reverse("admin:campaigns_contactimport_change", args=[record.id]), **ZH).content.decode()
    assert "<th>行号</th><th>电话</th><th>原因</th>" in zh
    assert "<td>在免打扰名单中</td>" in zh


def test_dashboard_campaign_and_calls_pages_in_chinese_english_unchanged(client, manager, campaign):
    Campaign.objects.filter(id=campaign.id).update(dry_run=True, max_attempts=1)
    client.force_login(manager)
    zh = client.get(reverse("campaign", args=[campaign.id]), **ZH).content.decode()
    assert "演练（虚拟被叫）" in zh and "每个联系人最多拨打 1 次" in zh and "拨打时段" in zh
    en = client.get(reverse("campaign", args=[campaign.id]), **EN).content.decode()
    assert "Dry run (virtual callees)" in en and "up to 1 attempt per contact" in en
    zh = client.get(reverse("calls", args=[campaign.id]), **ZH).content.decode()
    assert '<p class="muted">0 通电话</p>' in zh, zh[zh.find("</form>") :][:200]
    en = client.get(reverse("calls", args=[campaign.id]), **EN).content.decode()
    assert '<p class="muted">0 calls</p>' in en


def test_dashboard_rehearsal_page_in_chinese(client, manager, campaign):
    rehearsal = Rehearsal.objects.create(
        tenant=campaign.tenant, campaign=campaign, calls=2, mix={"agree": 100}, seed=1, script=campaign.script
    )
    client.force_login(manager)
    page = reverse("campaign-rehearsal", args=[campaign.id, rehearsal.id])
    zh = client.get(page, **ZH).content.decode()
    assert "只有虚拟被叫：没有拨打任何人" in zh and "话术流程图" in zh
    en = client.get(page, **EN).content.decode()
    assert "Virtual callees only: nobody was called" in en and "Script map" in en
