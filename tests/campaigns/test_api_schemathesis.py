"""Property-based run of every API operation against its OpenAPI schema: no input may cause a server error.

Schemathesis reads /api/schema/ from the real WSGI application in-process and sends generated requests, as an
owner with a token, through the whole Django stack (same database transaction as the test). Paths are aimed
at the owner's tenant; about half of the generated ids are swapped for a fresh real object (a campaign in a
random state, a contact, a call with turns, a DNC entry) so the operations get past 404 and into their logic.
"""

import itertools

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.models import Campaign, ContactImport
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
    TokenFactory,
    TurnFactory,
)

EXAMPLES_PER_OPERATION = 20  # ~45 s for the whole schema on a 2-core machine
STATES = list(Campaign.Status.values)
_numbers = itertools.count(1000)


def load_schema():
    from project.wsgi import application

    # Read once at collection, from the app itself (schema generation touches no database).
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = load_schema()


@pytest.fixture
def api_environment(db, settings):
    # Throttling is tested elsewhere; here it would only turn exploration into 429s.
    unthrottled = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "1000000/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": unthrottled}
    cache.clear()
    # As Django's own test client does: the WSGI handler would otherwise close the connection at the end of
    # each request, and with it the transaction this test runs in.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def real_id(path: str, tenant, seed: int) -> int:
    """A fresh object of the kind `path` names, in the owner's tenant."""
    if "/campaigns/" in path:
        campaign = CampaignFactory(tenant=tenant, status=STATES[seed % len(STATES)])
        ContactFactory(campaign=campaign, custom_fields={"note": "=1+1"})
        return campaign.id
    if "/contacts/" in path:
        return ContactFactory(campaign=CampaignFactory(tenant=tenant)).id
    if "/calls/" in path:
        attempt = CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)))
        TurnFactory(attempt=attempt)
        return attempt.id
    if "/do-not-call/" in path:
        return DoNotCallFactory(tenant=tenant, phone=f"+1202555{next(_numbers):04d}").id
    if "/imports/" in path:
        campaign = CampaignFactory(tenant=tenant)
        return ContactImport.objects.create(tenant=tenant, campaign=campaign, filename="list.csv", rows=1).id
    raise AssertionError(f"no object kind for {path}")


@pytest.fixture
def owner_token(owner):
    return TokenFactory(user=owner).key


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    derandomize=True,  # the same examples on every run: a failure reproduces
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(case, api_environment, tenant, owner_token):
    params = case.path_parameters or {}
    if "tenant_slug" in params:
        params["tenant_slug"] = tenant.slug
    if isinstance(params.get("id"), int) and params["id"] % 2 == 0:
        params["id"] = real_id(case.path, tenant, params["id"] // 2)
    response = case.call(headers={"Authorization": f"Token {owner_token}"})
    # No 5xx; and what the API answers is what its schema documents (status, content type, body).
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
