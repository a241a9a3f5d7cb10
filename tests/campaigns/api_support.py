"""What the API tests share: a token client, URLs by route name, the error envelope, a broken script."""

from django.urls import reverse
from rest_framework.test import APIClient

from pipeline.script import DEFAULT_SCRIPT
from tests.factories import (
    TokenFactory,
)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=user).key}")
    return client


def url(name: str, tenant, *args) -> str:
    return reverse(f"api:{name}", args=[tenant.slug, *args])


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def bad_script() -> dict:
    script = {"start": DEFAULT_SCRIPT["start"], "nodes": dict(DEFAULT_SCRIPT["nodes"])}
    script["nodes"]["confirmed"] = {**script["nodes"]["confirmed"], "outcome": "party"}
    return script
