"""Secrets stay secret: the SIP trunk password is write-only everywhere, and no admin lookup can probe a secret."""

import pytest
from django.urls import reverse

from campaigns.models import Role, Trunk
from tests.factories import CampaignFactory, MembershipFactory, TokenFactory, TrunkFactory

TRUNK_PASSWORD = "s3cret-trunk-Pa55word"
WEBHOOK_SECRET = "ab" * 32


@pytest.fixture
def trunk(tenant):
    return TrunkFactory(tenant=tenant, username="acct", password=TRUNK_PASSWORD)


# --- finding 1: the trunk password is never rendered -----------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "manager", "owner"])
def test_trunk_password_is_never_rendered_in_the_admin(client, request, trunk, role):
    client.force_login(request.getfixturevalue(role))
    for url in (
        reverse("admin:campaigns_trunk_change", args=[trunk.pk]),
        reverse("admin:campaigns_trunk_changelist"),
        reverse("admin:campaigns_trunk_history", args=[trunk.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert TRUNK_PASSWORD not in response.content.decode(), f"{role} sees the password on {url}"


def test_trunk_page_says_whether_a_password_is_set(client, viewer, trunk):
    client.force_login(viewer)
    page = client.get(reverse("admin:campaigns_trunk_change", args=[trunk.pk])).content.decode()
    assert "Password set" in page


def test_owner_can_replace_and_keep_the_trunk_password(client, owner, trunk, tenant):
    client.force_login(owner)
    url = reverse("admin:campaigns_trunk_change", args=[trunk.pk])
    form = {
        "tenant": tenant.pk,
        "name": trunk.name,
        "host": trunk.host,
        "port": 5060,
        "transport": "udp",
        "username": "acct",
        "password": "",
        "caller_id": "",
        "max_concurrent_calls": 10,
        "max_inbound_calls": 5,
        "calls_per_second": 1.0,
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    trunk.refresh_from_db()
    assert trunk.password == TRUNK_PASSWORD  # empty keeps the current one
    assert client.post(url, {**form, "password": "new-one"}).status_code == 302
    trunk.refresh_from_db()
    assert trunk.password == "new-one"


def test_the_api_never_exposes_a_trunk_password(client, tenant, trunk):
    token = TokenFactory(user=MembershipFactory(tenant=tenant, role=Role.OWNER).user)
    campaign = CampaignFactory(tenant=tenant, trunk=trunk)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    for path in (
        f"/api/v1/tenants/{tenant.slug}/campaigns/",
        f"/api/v1/tenants/{tenant.slug}/campaigns/{campaign.id}/",
    ):
        body = client.get(path, **auth).content.decode()
        assert TRUNK_PASSWORD not in body
    assert Trunk.objects.get().password == TRUNK_PASSWORD


# --- finding 2: admin list lookups are an allow-list --------------------------------------------------------

SECRET_FIELDS = {"webhook_secret", "password", "key"}


def changelist(model: str, query: str = "") -> str:
    return reverse(f"admin:campaigns_{model}_changelist") + (f"?{query}" if query else "")


@pytest.fixture
def secret_campaign(tenant, trunk):
    return CampaignFactory(tenant=tenant, name="Findme", webhook_secret=WEBHOOK_SECRET, trunk=trunk)


PROBES = [
    ("campaign", "webhook_secret__regex=^{}"),
    ("campaign", "webhook_secret__startswith={}"),
    ("campaign", "webhook_secret={}"),
    ("campaign", "trunk__password__startswith={}"),
    ("trunk", "password__startswith={}"),
    ("trunk", "password__gt={}"),
    ("webhookdelivery", "campaign__webhook_secret__startswith={}"),
    ("contact", "campaign__webhook_secret__startswith={}"),
    ("callattempt", "campaign__trunk__password__startswith={}"),
]


@pytest.mark.parametrize(("model", "probe"), PROBES)
def test_admin_refuses_lookups_on_secret_fields(client, viewer, secret_campaign, model, probe):
    client.force_login(viewer)
    right = WEBHOOK_SECRET[:2] if "webhook" in probe else TRUNK_PASSWORD[:2]
    answers = [client.get(changelist(model, probe.format(prefix))) for prefix in (right, "zz")]
    assert [r.status_code for r in answers] == [400, 400]
    assert answers[0].content == answers[1].content  # nothing to tell a right guess from a wrong one


@pytest.mark.parametrize(
    "query",
    [
        "name__regex=[",  # a lookup on a field that is no list filter (PostgreSQL: invalid regex, was a 500)
        "status__exact=%00",  # an allowed filter with a NUL byte (psycopg2 refuses it, was a 500)
        "status__regex=^r",  # an allowed field, but not one of the filter's own lookups
        "created_by__password__startswith=p",
        "tenant__memberships__user__password__startswith=p",
    ],
)
def test_malformed_or_unlisted_admin_lookups_are_400_not_500(client, viewer, secret_campaign, query):
    client.force_login(viewer)
    client.raise_request_exception = False
    assert client.get(changelist("campaign", query)).status_code == 400


@pytest.mark.parametrize(
    ("model", "query", "shown"),
    [
        ("campaign", "status__exact=draft", True),
        ("campaign", "status__exact=running", False),
        ("campaign", "status__in=draft,paused", True),
        ("campaign", "q=Findme", True),
        ("campaign", "o=1", True),
        ("trunk", "", True),
    ],
)
def test_admin_list_filters_still_work(client, viewer, secret_campaign, model, query, shown):
    client.force_login(viewer)
    response = client.get(changelist(model, query))
    assert response.status_code == 200
    name = "Findme" if model == "campaign" else secret_campaign.trunk.name
    assert (name in response.content.decode()) is shown


def test_no_admin_filters_searches_or_lists_a_secret_field():
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "campaigns":
            continue
        named = [
            *(f if isinstance(f, str) else f[0] for f in model_admin.list_filter if not isinstance(f, type)),
            *model_admin.search_fields,
            *(f for f in model_admin.list_display if isinstance(f, str)),
        ]
        for name in named:
            assert not set(name.lstrip("^=@").split("__")) & SECRET_FIELDS, f"{model_admin}: {name}"
