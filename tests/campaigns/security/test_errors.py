"""Bad input is a 400 in the API's error body, never an HTML 500; /healthz says ok or fail, never why."""

import json

import pytest
from django.test import RequestFactory

from campaigns.models import Campaign, Role
from tests.factories import MembershipFactory, TokenFactory


@pytest.fixture
def auth(tenant):
    token = TokenFactory(user=MembershipFactory(tenant=tenant, role=Role.MANAGER).user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def post_json(client, tenant, auth, body: str):
    client.raise_request_exception = False
    return client.post(f"/api/v1/tenants/{tenant.slug}/campaigns/", body, content_type="application/json", **auth)


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = json.loads(response.content)["error"]
    assert error["code"] == code and error["message"] and error["fields"] == {}
    return error


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
@pytest.mark.parametrize("field", ["script", "name", "retry_policy"])
def test_deeply_nested_json_is_a_400_in_the_error_body(client, tenant, auth, field, depth):
    body = '{"name": "x", "caller_id": "+12025550100", "' + field + '": ' + "[" * depth + "1" + "]" * depth + "}"
    error = assert_api_error(post_json(client, tenant, auth, body), 400, "parse_error")
    assert "nested" in error["message"]
    assert not Campaign.objects.exists()


def test_nesting_deep_inside_a_valid_looking_script_is_refused(client, tenant, auth):
    deep = "[" * 40 + "1" + "]" * 40
    body = '{"name": "x", "caller_id": "+12025550100", "script": {"start": "a", "nodes": {"a": ' + deep + "}}}"
    assert_api_error(post_json(client, tenant, auth, body), 400, "parse_error")


def test_reasonable_json_still_parses(client, tenant, auth):
    body = '{"name": "x", "caller_id": "+12025550100", "retry_policy": {"busy": 5}}'
    assert post_json(client, tenant, auth, body).status_code == 201


def test_json_body_over_the_data_upload_limit_is_refused(client, tenant, auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000, "caller_id": "+12025550100"})
    assert_api_error(post_json(client, tenant, auth, body), 413, "too_large")


def test_malformed_json_keeps_the_error_body(client, tenant, auth):
    assert_api_error(post_json(client, tenant, auth, '{"name": '), 400, "parse_error")


def test_django_level_400_under_the_api_uses_the_error_body(client, db):
    client.raise_request_exception = False
    response = client.get("/api/v1/tenants/", HTTP_HOST="evil.example.com")  # not in ALLOWED_HOSTS
    assert_api_error(response, 400, "bad_request")


def test_django_level_400_elsewhere_stays_html(client, db):
    client.raise_request_exception = False
    response = client.get("/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


def test_unexpected_api_error_answers_500_in_the_error_body(db):
    from django.urls import get_callable

    from project.urls import handler500

    response = get_callable(handler500)(RequestFactory().get("/api/v1/tenants/acme/campaigns/"))
    assert_api_error(response, 500, "server_error")
    html = get_callable(handler500)(RequestFactory().get("/campaigns/1/"))
    assert html.status_code == 500 and html["Content-Type"].startswith("text/html")


# --- /healthz ---------------------------------------------------------------------------------------------------


def test_healthz_says_fail_without_driver_details(client, db):
    from project.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "broker": "fail"}
    assert b"127.0.0.1" not in response.content and b"refused" not in response.content.lower()


def test_healthz_ok(client, db):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "ok"}
