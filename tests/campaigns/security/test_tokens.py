"""API tokens are stored as SHA-256 digests: the database never holds a key that works."""

import hashlib

import pytest
from django.db import connection
from django.urls import reverse

from campaigns.models import Role
from tests.factories import MembershipFactory

PASSWORD = "pw-for-tests-1"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def member(tenant):
    return MembershipFactory(tenant=tenant, role=Role.VIEWER).user


def issue(client, user) -> str:
    response = client.post(reverse("api:token"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    return response.json()["token"]


def all_text_in_the_database() -> str:
    """Every row of every table of ours (and DRF's token table), as text."""
    tables = [t for t in connection.introspection.table_names() if t.startswith(("campaigns_", "authtoken_"))]
    with connection.cursor() as cursor:
        dumped = []
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from the introspection
            dumped.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dumped)


def test_an_issued_token_works_but_is_not_stored(client, tenant, member):
    key = issue(client, member)
    listing = client.get(f"/api/v1/tenants/{tenant.slug}/campaigns/", HTTP_AUTHORIZATION=f"Token {key}")
    assert listing.status_code == 200
    stored = all_text_in_the_database()
    assert key not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored  # only its digest


def test_each_exchange_issues_a_new_token_and_earlier_ones_keep_working(client, tenant, member):
    first, second = issue(client, member), issue(client, member)
    assert first != second
    for key in (first, second):
        response = client.get(f"/api/v1/tenants/{tenant.slug}/campaigns/", HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 200


def test_a_digest_is_not_a_key(client, tenant, member):
    key = issue(client, member)
    digest = hashlib.sha256(key.encode()).hexdigest()
    response = client.get(f"/api/v1/tenants/{tenant.slug}/campaigns/", HTTP_AUTHORIZATION=f"Token {digest}")
    assert response.status_code == 401


def test_an_inactive_users_token_stops_working(client, tenant, member):
    key = issue(client, member)
    member.is_active = False
    member.save()
    response = client.get(f"/api/v1/tenants/{tenant.slug}/campaigns/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401


def test_the_migration_turns_existing_plain_keys_into_digests(client, tenant, member):
    import importlib

    from django.apps import apps
    from rest_framework.authtoken.models import Token

    migration = importlib.import_module("campaigns.migrations.0007_security")
    old = Token.objects.create(user=member)  # a key issued before the migration
    migration.digest_existing_tokens(apps, None)
    assert not Token.objects.exists()
    assert old.key not in all_text_in_the_database()
    response = client.get(f"/api/v1/tenants/{tenant.slug}/campaigns/", HTTP_AUTHORIZATION=f"Token {old.key}")
    assert response.status_code == 200  # clients keep working
