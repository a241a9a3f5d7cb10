"""Trunk passwords and webhook secrets are encrypted at rest (Fernet, keys from FIELD_ENCRYPTION_KEYS), and a
management command re-encrypts them under a new key."""

import importlib

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from campaigns.models import Campaign, Trunk
from tests.factories import CampaignFactory, TrunkFactory

PASSWORD = "s3cret-trunk-Pa55word"
SECRET = "ab" * 32


def raw(table: str, column: str, row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [row_id])  # noqa: S608 - fixed names
        return cursor.fetchone()[0]


def raw_set(table: str, column: str, row_id: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s', [value, row_id])  # noqa: S608


@pytest.fixture
def secrets_saved(tenant):
    trunk = TrunkFactory(tenant=tenant, password=PASSWORD)
    campaign = CampaignFactory(tenant=tenant, webhook_secret=SECRET, trunk=trunk)
    return trunk, campaign


def stored(trunk, campaign) -> tuple[str, str]:
    return raw("campaigns_trunk", "password", trunk.id), raw("campaigns_campaign", "webhook_secret", campaign.id)


def test_secrets_are_encrypted_in_the_database_and_plain_in_python(secrets_saved):
    trunk, campaign = secrets_saved
    password, secret = stored(trunk, campaign)
    assert PASSWORD not in password and SECRET not in secret
    assert password.startswith("fernet:") and secret.startswith("fernet:")
    assert Trunk.objects.get().password == PASSWORD
    assert Campaign.objects.get().webhook_secret == SECRET
    assert Campaign.objects.values_list("webhook_secret", flat=True).get() == SECRET


def test_updates_through_querysets_are_encrypted_too(secrets_saved):
    _, campaign = secrets_saved
    Campaign.objects.filter(id=campaign.id).update(webhook_secret="cd" * 32)  # as the API's webhook-secret action
    assert "cd" * 32 not in raw("campaigns_campaign", "webhook_secret", campaign.id)
    assert Campaign.objects.get().webhook_secret == "cd" * 32


def test_empty_stays_empty(tenant):
    trunk = TrunkFactory(tenant=tenant, password="")
    assert raw("campaigns_trunk", "password", trunk.id) == ""
    assert Trunk.objects.get().password == ""


def test_rotation_re_encrypts_under_the_new_key(secrets_saved, settings):
    trunk, campaign = secrets_saved
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    Trunk.objects.filter(id=trunk.id).update(password=PASSWORD)
    Campaign.objects.filter(id=campaign.id).update(webhook_secret=SECRET)
    before = stored(trunk, campaign)
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]  # the new key first; the old one still decrypts
    call_command("rotate_field_keys")
    after = stored(trunk, campaign)
    assert before[0] != after[0] and before[1] != after[1]
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone: everything still reads
    assert Trunk.objects.get().password == PASSWORD and Campaign.objects.get().webhook_secret == SECRET


def test_a_missing_key_is_a_clear_error_not_garbage(secrets_saved, settings):
    trunk, _ = secrets_saved
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    Trunk.objects.filter(id=trunk.id).update(password=PASSWORD)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # that key was removed, unrotated
    from campaigns.fields import DecryptionError

    with pytest.raises(DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        Trunk.objects.get()


def test_the_migration_encrypts_plain_values_left_from_before(secrets_saved):
    trunk, campaign = secrets_saved
    raw_set("campaigns_trunk", "password", trunk.id, PASSWORD)  # as stored before this change
    raw_set("campaigns_campaign", "webhook_secret", campaign.id, SECRET)
    assert Trunk.objects.get().password == PASSWORD  # plain values still read during the upgrade
    importlib.import_module("campaigns.migrations.0007_security").encrypt_existing_secrets(apps, None)
    password, secret = stored(trunk, campaign)
    assert password.startswith("fernet:") and secret.startswith("fernet:")
    assert Trunk.objects.get().password == PASSWORD and Campaign.objects.get().webhook_secret == SECRET
