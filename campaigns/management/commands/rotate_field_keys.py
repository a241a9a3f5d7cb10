"""Re-encrypt every encrypted field under the first of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old one after it), deploy, run this command,
then remove the old key.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns.fields import EncryptedTextField


def encrypted_fields():
    for model in apps.get_app_config("campaigns").get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedTextField):
                yield model, field.name


def reencrypt() -> int:
    """Decrypt and encrypt again every non-empty value; returns how many values were rewritten."""
    count = 0
    for model, name in encrypted_fields():
        with transaction.atomic():
            for row_id, value in model.objects.exclude(**{name: ""}).values_list("id", name).iterator():
                model.objects.filter(id=row_id).update(**{name: value})
                count += 1
    return count


class Command(BaseCommand):
    help = "Re-encrypt trunk passwords and webhook secrets under the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        count = reencrypt()
        self.stdout.write(f"Re-encrypted {count} values under the first key of FIELD_ENCRYPTION_KEYS.")
