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
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from campaigns.models import (
    CallAttempt,
    Campaign,
    CampaignEvent,
    Contact,
    ContactImport,
    DoNotCall,
    ImportRejection,
    Membership,
    Rehearsal,
    Role,
    Tenant,
    Trunk,
    Turn,
    WebhookDelivery,
)
from campaigns.views.dashboard import LIFECYCLE
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
    MembershipFactory,
    TenantFactory,
    TokenFactory,
    TrunkFactory,
    TurnFactory,
    UserFactory,
)

# B's rows get ids of six digits starting 734, the ids that do not exist are 7349xx: both are masked as <ID>
# before two answers are compared, and nothing of A's (small ids) looks like them.
ID_RE = re.compile(r"734\d{3}")
FAKE_ID = 734999
FAKE_SLUG = "beta-zq-nope"  # as long as B's slug
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')

B_SLUG = "beta-zq-corp"
RECORDING_BYTES = b"RIFF\x24\x00\x00\x00WAVEfmt ZQ-RECORDING-BYTES-0xBEEF"
SECRETS = {
    "tenant name": "Beta Zq Tenant",
    "campaign name": "Zq Beta Campaign Xylophone",
    "first name": "Quixotica",
    "last name": "Zebulonsky",
    "phone": "+12025559876",
    "phone digits": "2025559876",
    "second phone": "+12025559877",
    "turn text": "the secret turn text zq-kumquat",
    "caller turn": "my card number is zq-4111",
    "transcript": "zq-full-transcript-marmalade",
    "trunk host": "zq-trunk.beta.example",
    "trunk user": "zq-trunk-user",
    "trunk password": "zq-trunk-password",
    "dnc phone": "+12025558765",
    "import file": "zq-beta-import.csv",
    "webhook url": "zq-webhook.beta.example",
    "webhook payload": "zq-payload-pomegranate",
    "event note": "zq-event-note-quince",
    "user name": "zq_beta_owner",
    "group name": "zq-beta-group",
    "slug": B_SLUG,
}


@dataclass
class Victim:
    """Tenant B and one of each of its rows; `ids` by model, for filling URL parameters."""

    tenant: Tenant
    objects: dict = field(default_factory=dict)

    def obj(self, model):
        return self.objects.get(model)


@pytest.fixture
def victim(db, settings):
    tenant = TenantFactory(id=734001, name=SECRETS["tenant name"], slug=B_SLUG)
    b_user = UserFactory(id=734002, username=SECRETS["user name"])
    membership = MembershipFactory(id=734003, tenant=tenant, user=b_user, role=Role.OWNER)
    trunk = TrunkFactory(
        id=734004,
        tenant=tenant,
        host=SECRETS["trunk host"],
        username=SECRETS["trunk user"],
        password=SECRETS["trunk password"],
    )
    campaign = CampaignFactory(
        id=734005,
        tenant=tenant,
        name=SECRETS["campaign name"],
        trunk=trunk,
        webhook_url=f"https://{SECRETS['webhook url']}/hook",
    )
    contact = ContactFactory(
        id=734006,
        campaign=campaign,
        phone=SECRETS["phone"],
        first_name=SECRETS["first name"],
        last_name=SECRETS["last name"],
    )
    ContactFactory(id=734007, campaign=campaign, phone=SECRETS["second phone"], first_name=SECRETS["first name"])
    recording = settings.MEDIA_ROOT / "recordings" / "zq-b.wav"
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(RECORDING_BYTES)
    attempt = CallAttemptFactory(
        id=734008,
        contact=contact,
        status=CallAttempt.Status.FINALIZED,
        recording="recordings/zq-b.wav",
        full_transcript=SECRETS["transcript"],
    )
    turn = TurnFactory(id=734009, attempt=attempt, index=0, text=SECRETS["turn text"])
    TurnFactory(id=734010, attempt=attempt, index=1, speaker=Turn.Speaker.CALLEE, text=SECRETS["caller turn"])
    dnc = DoNotCallFactory(id=734011, tenant=tenant, phone=SECRETS["dnc phone"])
    contact_import = ContactImport.objects.create(
        id=734012,
        tenant=tenant,
        campaign=campaign,
        filename=SECRETS["import file"],
        uploaded_by=b_user,
        rows=2,
        created_count=1,
        rejected_count=1,
    )
    ImportRejection.objects.create(
        contact_import=contact_import, line=3, phone=SECRETS["second phone"], reason="duplicate"
    )
    delivery = WebhookDelivery.objects.create(
        id=734013,
        tenant=tenant,
        campaign=campaign,
        attempt=attempt,
        event="call.completed",
        url=f"https://{SECRETS['webhook url']}/hook",
        payload={"note": SECRETS["webhook payload"], "phone": SECRETS["phone"]},
    )
    event = CampaignEvent.objects.create(
        id=734014, tenant=tenant, campaign=campaign, from_status="draft", to_status="draft", note=SECRETS["event note"]
    )
    group = Group.objects.create(id=734015, name=SECRETS["group name"])
    rehearsal = Rehearsal.objects.create(
        id=734020,
        tenant=tenant,
        campaign=campaign,
        status=Rehearsal.Status.DONE,
        calls=1,
        mix={"agree": 100},
        seed=1,
        script=campaign.script,
        report={"note": SECRETS["webhook payload"]},
    )
    return Victim(
        tenant=tenant,
        objects={
            Rehearsal: rehearsal,
            Tenant: tenant,
            Membership: membership,
            Trunk: trunk,
            Campaign: campaign,
            Contact: contact,
            CallAttempt: attempt,
            Turn: turn,
            DoNotCall: dnc,
            ContactImport: contact_import,
            WebhookDelivery: delivery,
            CampaignEvent: event,
            type(b_user): b_user,
            Group: group,
        },
    )


def snapshot(tenant: Tenant) -> dict:
    """B's rows as stored: nothing the attack sends may change them, add to them or delete them (A may add rows of
    its own, such as do-not-call entries)."""
    return {
        model.__name__: sorted(
            json.dumps(row, default=str, sort_keys=True) for row in model.objects.filter(tenant=tenant).values()
        )
        for model in (
            Campaign,
            Contact,
            CallAttempt,
            Turn,
            DoNotCall,
            ContactImport,
            WebhookDelivery,
            Trunk,
            Membership,
        )
    }


# --- enumeration ---------------------------------------------------------------------------------------------


@dataclass
class Route:
    name: str  # namespaced URL name
    params: tuple[str, ...]
    callback: object

    @property
    def area(self) -> str:
        if self.name.startswith("admin:"):
            return "admin"
        if self.name.startswith("api:"):
            return "api"
        return "dashboard"


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, namespace: str, params: tuple[str, ...]):
        for entry in patterns:
            own = tuple(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, ns, params + own)
            elif isinstance(entry, URLPattern) and entry.name:
                found.append(Route(namespace + entry.name, params + own, entry.callback))

    walk(get_resolver().url_patterns, "", ())
    return found


API_MODELS = {"campaign": Campaign, "contact": Contact, "call": CallAttempt, "dnc": DoNotCall, "import": ContactImport}
ADMIN_VIEW_RE = re.compile(r"^admin:(?P<app>[a-z_]+?)_(?P<model>[a-z]+)_(?P<view>[a-z_]+)$")
SKIPPED = {"admin:logout"}  # POST ends the attacker's own session; GET is a 405 and is asked below anyway


def model_of_admin_route(name: str):
    match = ADMIN_VIEW_RE.match(name)
    if not match:
        return None
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == (match["app"], match["model"]):
            return model
    return None


def api_model(name: str):
    basename = name.removeprefix("api:")
    for prefix, model in API_MODELS.items():
        if basename.startswith(prefix + "-"):
            return model
    return None


@dataclass
class Probe:
    """One URL asked twice: with B's ids (`url`) and with ids that do not exist (`control`)."""

    route: str
    method: str
    url: str
    control: str | None
    data: dict | None = None
    control_data: dict | None = None  # the control's body, when the data names B's ids
    own_listing: bool = False  # a page of A's own (a changelist, a list endpoint): 200 is right


def fill(route: Route, victim: Victim, slug: str, fake: bool, action: str = "") -> dict[str, object] | None:
    """The URL's parameters filled with B's ids (or ids that do not exist); None if it cannot be filled."""
    kwargs: dict[str, object] = {}
    for param in route.params:
        if param == "tenant_slug":
            kwargs[param] = slug
        elif param == "campaign_id":
            kwargs[param] = FAKE_ID if fake else victim.obj(Campaign).id
        elif param == "attempt_id":
            kwargs[param] = FAKE_ID if fake else victim.obj(CallAttempt).id
        elif param == "rehearsal_id":
            kwargs[param] = FAKE_ID if fake else victim.obj(Rehearsal).id
        elif param == "pk" and api_model(route.name):
            kwargs[param] = FAKE_ID if fake else victim.obj(api_model(route.name)).id
        elif param in ("object_id", "id") and model_of_admin_route(route.name):
            b_obj = victim.obj(model_of_admin_route(route.name))
            kwargs[param] = FAKE_ID if fake or b_obj is None else b_obj.id
        elif param == "action":
            kwargs[param] = action
        elif param == "app_label":
            kwargs[param] = "campaigns"
        elif param == "format":
            kwargs[param] = "json"
        else:
            return None
    return kwargs


def probes(victim: Victim, a_slug: str) -> tuple[list[Probe], dict[str, int], list[str]]:
    found: list[Probe] = []
    counts = {"admin": 0, "dashboard": 0, "api": 0}
    unfilled: list[str] = []
    for route in routes():
        if route.name in SKIPPED:
            continue
        counts[route.area] += 1
        if route.name == "admin:view_on_site":  # asked below, once per model, with its content type
            continue
        slugs = [(B_SLUG, FAKE_SLUG), (a_slug, a_slug)] if "tenant_slug" in route.params else [(None, None)]
        actions = [*LIFECYCLE, "no-such-action"] if "action" in route.params else [""]
        for (slug, fake_slug), lifecycle_action in [(s, a) for s in slugs for a in actions]:
            b_kwargs = fill(route, victim, slug, fake=False, action=lifecycle_action)
            if b_kwargs is None:
                unfilled.append(route.name)
                break
            url = reverse(route.name, kwargs=b_kwargs)
            control = reverse(route.name, kwargs=fill(route, victim, fake_slug, fake=True, action=lifecycle_action))
            names_b = url != control
            methods = ["GET"]
            actions = getattr(route.callback, "actions", None)  # a DRF viewset route: its methods
            if actions:
                methods = [m.upper() for m in actions if m != "head"]
            elif route.name.endswith(("_change", "_delete")) or route.name in ("campaign-lifecycle",):
                methods = ["GET", "POST"]
            for method in methods:
                data = None
                if method in ("POST", "PUT", "PATCH"):
                    data = {"name": "hijacked", "first_name": "hijacked", "post": "yes", "phone": "+12025550000"}
                    data["starts_at"] = "2099-01-01T09:00:00Z"  # so that schedule gets as far as the lookup
                found.append(Probe(route.name, method, url, control if names_b else None, data))
            # An add form posted with B's rows as the parent: refused like a row that does not exist.
            if route.name.startswith("admin:") and route.name.endswith("_add"):
                b_data = {
                    "campaign": victim.obj(Campaign).id,
                    "tenant": victim.tenant.id,
                    "trunk": victim.obj(Trunk).id,
                }
                b_data |= {
                    "name": "hijacked",
                    "phone": "+12025550000",
                    "user": victim.obj(type(victim.obj(Membership).user)).id,
                }
                fake_data = {k: FAKE_ID if isinstance(v, int) else v for k, v in b_data.items()}
                found.append(Probe(route.name, "POST", url, url, b_data, fake_data, own_listing=True))
            # Lists of A's own, filtered or searched with B's ids and B's words.
            if route.name.endswith("_changelist"):
                model = model_of_admin_route(route.name)
                queries = [{"q": SECRETS["campaign name"]}, {"q": SECRETS["phone"]}, {"q": SECRETS["first name"]}]
                for field_name in ("tenant", "campaign", "contact", "attempt", "user"):
                    if model and any(f.name == field_name for f in model._meta.get_fields()):
                        queries.append({f"{field_name}__id__exact": victim.obj(_related(model, field_name)).id})
                        queries.append({f"{field_name}__id__in": victim.obj(_related(model, field_name)).id})
                for query in queries:
                    b_query = urlencode(query)
                    fake_query = urlencode({k: _fake_like(v) for k, v in query.items()})
                    found.append(Probe(route.name, "GET", f"{url}?{b_query}", f"{url}?{fake_query}", own_listing=True))
                if model is Campaign:  # an admin action on B's campaign, posted from A's changelist
                    for action in ("cancel_selected", "start_selected", "pause_selected"):
                        found.append(
                            Probe(
                                route.name,
                                "POST",
                                url,
                                url,
                                {"action": action, "_selected_action": victim.obj(Campaign).id, "index": 0},
                                {"action": action, "_selected_action": FAKE_ID, "index": 0},
                                own_listing=True,
                            )
                        )
            if route.name.startswith("api:") and route.name.endswith("-list") and slug == a_slug:
                for query in (
                    {"campaign": victim.obj(Campaign).id},
                    {"contact": victim.obj(Contact).id},
                    {"phone": SECRETS["phone"]},
                    {"phone": "9876"},
                ):
                    fake_query = urlencode({k: _fake_like(v) for k, v in query.items()})
                    found.append(
                        Probe(route.name, "GET", f"{url}?{urlencode(query)}", f"{url}?{fake_query}", own_listing=True)
                    )
    # The admin's "view on site" names any row by content type and id.
    for model in admin.site._registry:
        if victim.obj(model) is None:
            continue
        content_type = ContentType.objects.get_for_model(model).id
        found.append(
            Probe(
                "admin:view_on_site",
                "GET",
                reverse("admin:view_on_site", args=[content_type, victim.obj(model).id]),
                reverse("admin:view_on_site", args=[content_type, FAKE_ID]),
            )
        )
    # The admin's changelist autocomplete names models and fields in its query string.
    for model in (Campaign, Contact, Trunk):
        query = {"app_label": "campaigns", "model_name": "contact", "field_name": "campaign", "term": "Zq"}
        query["model_name"] = model._meta.model_name
        found.append(
            Probe(
                "admin:autocomplete",
                "GET",
                reverse("admin:autocomplete") + "?" + urlencode(query),
                reverse("admin:autocomplete") + "?" + urlencode({**query, "term": "Qz"}),
                own_listing=True,
            )
        )
    return found, counts, unfilled


def _related(model, field_name):
    return model._meta.get_field(field_name).related_model


def _fake_like(value):
    """A value of the same shape that matches nothing: ids become FAKE_ID, words are reversed."""
    if isinstance(value, int) or str(value).isdigit() and ID_RE.fullmatch(str(value)):
        return FAKE_ID
    return str(value)[::-1]


# --- the attack ----------------------------------------------------------------------------------------------


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
