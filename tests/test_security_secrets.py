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
        "calls_per_second": 1.0,
    }
    assert client.post(url, form).status_code == 302
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
