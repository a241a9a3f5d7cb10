"""The API's permission matrix and tenant isolation.

Every endpoint, for every persona: owner and manager write, viewer reads (a write is 403), a member of another
tenant and a user with no tenant get 404 (the tenant's existence is not confirmed), anonymous gets 401.
Every object endpoint, pointed at another tenant's object, answers 404 whichever slug is used, with the
same body as for an object that does not exist; and a refused request changes nothing.
"""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.models import Campaign, Contact, ContactImport, DoNotCall, Rehearsal, Role
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
    MembershipFactory,
    TokenFactory,
    TurnFactory,
    UserFactory,
)


@dataclass(frozen=True)
class Endpoint:
    label: str
    method: str
    route: str
    target: str | None = None  # which object of the tenant the path names; None: a collection
    write: bool = False
    ok: int = 200
    data: dict = field(default_factory=dict)
    multipart: bool = False

    def __str__(self) -> str:
        return self.label


CALLER = "+12025550101"
ENDPOINTS = [
    Endpoint("campaigns-list", "get", "campaign-list"),
    Endpoint("campaigns-create", "post", "campaign-list", write=True, ok=201, data={"name": "N", "caller_id": CALLER}),
    Endpoint("campaign-retrieve", "get", "campaign-detail", "draft"),
    Endpoint("campaign-patch", "patch", "campaign-detail", "draft", write=True, data={"name": "Renamed"}),
    Endpoint("campaign-put", "put", "campaign-detail", "draft", write=True, data={"name": "R", "caller_id": CALLER}),
    Endpoint("campaign-delete", "delete", "campaign-detail", "draft", write=True, ok=204),
    Endpoint("campaign-start", "post", "campaign-start", "draft", write=True),
    Endpoint(
        "campaign-schedule", "post", "campaign-schedule", "draft", write=True, data={"starts_at": "2099-01-01T09:00Z"}
    ),
    Endpoint("campaign-pause", "post", "campaign-pause", "running", write=True),
    Endpoint("campaign-resume", "post", "campaign-resume", "paused", write=True),
    Endpoint("campaign-cancel", "post", "campaign-cancel", "running", write=True),
    Endpoint("campaign-upload", "post", "campaign-upload", "draft", write=True, ok=201, multipart=True),
    Endpoint("campaign-export", "get", "campaign-export", "draft"),
    Endpoint("campaign-webhook-secret", "post", "campaign-webhook-secret", "draft", write=True),
    Endpoint("campaign-rehearsals", "get", "campaign-rehearsals", "draft"),
    Endpoint(
        "campaign-rehearse",
        "post",
        "campaign-rehearsals",
        "draft",
        write=True,
        ok=202,
        data={"calls": 2, "mix": {"agree": 50, "voicemail": 50}},
    ),
    Endpoint("contacts-list", "get", "contact-list"),
    Endpoint("contact-retrieve", "get", "contact-detail", "contact"),
    Endpoint("calls-list", "get", "call-list"),
    Endpoint("call-retrieve", "get", "call-detail", "call"),
    Endpoint("call-recording", "get", "call-recording", "call"),
    Endpoint("dnc-list", "get", "dnc-list"),
    Endpoint("dnc-create", "post", "dnc-list", write=True, ok=201, data={"phone": "+12025550166"}),
    Endpoint("dnc-retrieve", "get", "dnc-detail", "dnc"),
    Endpoint("dnc-delete", "delete", "dnc-detail", "dnc", write=True, ok=204),
    Endpoint("imports-list", "get", "import-list"),
    Endpoint("import-retrieve", "get", "import-detail", "import"),
]
OBJECT_ENDPOINTS = [e for e in ENDPOINTS if e.target]


def world_for(tenant) -> dict:
    draft = CampaignFactory(tenant=tenant, name=f"{tenant.slug} draft")
    contact = ContactFactory(campaign=draft)
    call = CallAttemptFactory(
        contact=contact, status="finalized", disposition="interested", recording=f"{tenant.id}/calls/a.wav"
    )
    TurnFactory(attempt=call)
    audio = Path(settings.MEDIA_ROOT) / call.recording
    audio.parent.mkdir(parents=True, exist_ok=True)
    audio.write_bytes(b"RIFF....WAVE" + tenant.slug.encode())
    return {
        "tenant": tenant,
        "draft": draft,
        "running": CampaignFactory(tenant=tenant, status=Campaign.Status.RUNNING),
        "paused": CampaignFactory(tenant=tenant, status=Campaign.Status.PAUSED),
        "contact": contact,
        "call": call,
        "dnc": DoNotCallFactory(tenant=tenant, phone="+12025550188"),
        "import": ContactImport.objects.create(tenant=tenant, campaign=draft, filename="list.csv", rows=1),
    }


@pytest.fixture
def mine(tenant):
    return world_for(tenant)


@pytest.fixture
def theirs(outsider_tenant):
    return world_for(outsider_tenant)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=user).key}")
    return client


def call(client: APIClient, endpoint: Endpoint, slug: str, obj=None):
    path = reverse(f"api:{endpoint.route}", args=[slug, *([obj.id] if endpoint.target else [])])
    if endpoint.multipart:
        csv_file = SimpleUploadedFile("list.csv", b"phone\n+12025550155\n", content_type="text/csv")
        return client.post(path, {"file": csv_file}, format="multipart")
    return getattr(client, endpoint.method)(path, endpoint.data or None, format="json")


def snapshot() -> tuple:
    """Everything a write endpoint could change."""
    return (
        sorted(Campaign.objects.values_list("id", "name", "status", "caller_id", "webhook_secret")),
        sorted(Contact.objects.values_list("id", "status")),
        sorted(DoNotCall.objects.values_list("id", "phone")),
        ContactImport.objects.count(),
        Rehearsal.objects.count(),
    )


def assert_error(response, status: int, code: str):
    assert response.status_code == status, (response.status_code, response.content)
    assert response.json()["error"]["code"] == code


# --- the matrix -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("persona", ["owner", "manager"])
def test_owner_and_manager_may_do_everything(request, persona, endpoint, mine):
    client = client_for(request.getfixturevalue(persona))
    response = call(client, endpoint, "acme", mine.get(endpoint.target))
    assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_superuser_acts_as_owner_of_every_tenant(endpoint, mine):
    client = client_for(UserFactory(is_superuser=True))
    response = call(client, endpoint, "acme", mine.get(endpoint.target))
    assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_viewer_reads_but_may_not_write(viewer, endpoint, mine):
    before = snapshot()
    response = call(client_for(viewer), endpoint, "acme", mine.get(endpoint.target))
    if endpoint.write:
        assert_error(response, 403, "permission_denied")
        assert response.json()["error"]["message"] == "Your role in this tenant is read-only."
        assert snapshot() == before
    else:
        assert response.status_code == 200, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("persona", ["outsider", "nobody"])
def test_non_members_get_404_for_everything(request, persona, endpoint, mine):
    before = snapshot()
    response = call(client_for(request.getfixturevalue(persona)), endpoint, "acme", mine.get(endpoint.target))
    assert_error(response, 404, "not_found")
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_anonymous_gets_401_for_everything(endpoint, mine):
    before = snapshot()
    response = call(client_for(None), endpoint, "acme", mine.get(endpoint.target))
    assert_error(response, 401, "not_authenticated")
    assert snapshot() == before


# --- cross-tenant ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=str)
def test_another_tenants_object_through_my_tenant_is_404(owner, endpoint, mine, theirs):
    before = snapshot()
    response = call(client_for(owner), endpoint, "acme", theirs[endpoint.target])
    assert_error(response, 404, "not_found")
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=str)
def test_another_tenants_object_through_its_tenant_is_404(owner, endpoint, mine, theirs):
    before = snapshot()
    response = call(client_for(owner), endpoint, "other", theirs[endpoint.target])
    assert_error(response, 404, "not_found")
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=str)
def test_a_404_says_nothing_about_whether_the_object_exists(owner, endpoint, mine, theirs):
    """Another tenant's object and a missing one answer alike, so ids cannot be probed."""
    client = client_for(owner)
    foreign = call(client, endpoint, "acme", theirs[endpoint.target])
    missing = call(client, endpoint, "acme", type(theirs[endpoint.target])(id=2**62))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.target], ids=str)
def test_a_tenant_i_do_not_belong_to_looks_like_no_tenant(owner, endpoint, mine, theirs):
    client = client_for(owner)
    existing, missing = call(client, endpoint, "other"), call(client, endpoint, "no-such-tenant")
    assert existing.status_code == missing.status_code == 404
    assert existing.json() == missing.json()


def test_lists_show_only_my_tenants_objects(owner, mine, theirs):
    client = client_for(owner)
    expected = {
        "campaign-list": {mine["draft"].id, mine["running"].id, mine["paused"].id},
        "contact-list": {mine["contact"].id},
        "call-list": {mine["call"].id},
        "dnc-list": {mine["dnc"].id},
    }
    for route, ids in expected.items():
        body = client.get(reverse(f"api:{route}", args=["acme"])).json()
        assert {row["id"] for row in body["results"]} == ids, route


def test_filtering_by_another_tenants_campaign_finds_nothing(owner, mine, theirs):
    client = client_for(owner)
    for route in ("contact-list", "call-list"):
        body = client.get(reverse(f"api:{route}", args=["acme"]), {"campaign": theirs["draft"].id}).json()
        assert body["count"] == 0, route


def test_export_never_includes_another_tenants_rows(owner, mine, theirs):
    response = client_for(owner).get(reverse("api:campaign-export", args=["acme", mine["draft"].id]))
    text = b"".join(response.streaming_content).decode()
    assert mine["contact"].phone in text
    assert theirs["contact"].phone not in text


def test_a_recording_is_served_only_inside_its_tenant(owner, mine, theirs):
    client = client_for(owner)
    response = client.get(reverse("api:call-recording", args=["acme", mine["call"].id]))
    assert b"".join(response.streaming_content).endswith(b"acme")
    for slug in ("acme", "other"):
        response = client.get(reverse("api:call-recording", args=[slug, theirs["call"].id]))
        assert_error(response, 404, "not_found")


def test_role_is_per_tenant(mine, theirs):
    """Manager in acme, viewer in other: writes to other are 403 there and 404 through acme."""
    user = MembershipFactory(tenant=mine["tenant"], role=Role.MANAGER).user
    MembershipFactory(user=user, tenant=theirs["tenant"], role=Role.VIEWER)
    client = client_for(user)
    before = snapshot()
    rename = {"name": "hijacked"}
    assert client.get(reverse("api:campaign-detail", args=["other", theirs["draft"].id])).status_code == 200
    response = client.patch(reverse("api:campaign-detail", args=["other", theirs["draft"].id]), rename)
    assert_error(response, 403, "permission_denied")
    response = client.patch(reverse("api:campaign-detail", args=["acme", theirs["draft"].id]), rename)
    assert_error(response, 404, "not_found")
    response = client.post(reverse("api:campaign-start", args=["acme", theirs["draft"].id]))
    assert_error(response, 404, "not_found")
    assert snapshot() == before
    response = client.patch(reverse("api:campaign-detail", args=["acme", mine["draft"].id]), rename)
    assert response.status_code == 200


def test_a_created_object_always_belongs_to_the_url_tenant(owner, mine, theirs):
    client = client_for(owner)
    response = client.post(
        reverse("api:campaign-list", args=["acme"]),
        {"name": "Sneaky", "caller_id": "+12025550100", "tenant": theirs["tenant"].id},
        format="json",
    )
    assert Campaign.objects.get(id=response.json()["id"]).tenant == mine["tenant"]
    response = client.post(
        reverse("api:dnc-list", args=["acme"]), {"phone": "+12025550199", "tenant": theirs["tenant"].id}
    )
    assert DoNotCall.objects.get(id=response.json()["id"]).tenant == mine["tenant"]
