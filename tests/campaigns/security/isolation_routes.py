"""Every URL the resolver knows, filled with tenant B's ids (and with ids that do not exist, as controls): the
requests of tests/campaigns/security/test_isolation_attack.py. Enumerated, not listed, so a URL added later is
attacked too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from campaigns.models import CallAttempt, Campaign, Contact, ContactImport, DoNotCall, Membership, Rehearsal, Trunk
from campaigns.views.dashboard import LIFECYCLE
from tests.campaigns.security.isolation_victim import B_SLUG, FAKE_ID, FAKE_SLUG, ID_RE, SECRETS, Victim


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
