"""Security: API tokens stored as digests (existing DRF tokens are carried over, then their plain keys deleted);
trunk passwords and webhook secrets encrypted at rest (existing plain values are encrypted); webhook deliveries'
errors that held the receiver's response body (or a connection error's text) reduced to a status line."""

import hashlib
from http import HTTPStatus

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import campaigns.fields


def digest_existing_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("campaigns", "ApiToken")
    for token in Token.objects.all():
        ApiToken.objects.create(user_id=token.user_id, digest=hashlib.sha256(token.key.encode()).hexdigest())
    Token.objects.all().delete()  # no plain key stays in the database


def encrypt_existing_secrets(apps, schema_editor):
    for model_name, field in (("Trunk", "password"), ("Campaign", "webhook_secret")):
        model = apps.get_model("campaigns", model_name)
        for row_id, value in model.objects.exclude(**{field: ""}).values_list("id", field):
            model.objects.filter(id=row_id).update(**{field: value})  # the field encrypts on write


def scrub_delivery_errors(apps, schema_editor):
    WebhookDelivery = apps.get_model("campaigns", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.exclude(last_error="").only("id", "last_status_code"):
        code = delivery.last_status_code
        if code is None:
            error = "connection failed (details removed)"
        else:
            try:
                error = f"HTTP {code} {HTTPStatus(code).phrase}"
            except ValueError:
                error = f"HTTP {code}"
        WebhookDelivery.objects.filter(id=delivery.id).update(last_error=error)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_attempt_queued_at"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "API token"},
        ),
        migrations.RunPython(digest_existing_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="trunk",
            name="password",
            field=campaigns.fields.EncryptedTextField(
                blank=True, help_text="Write-only: never shown back. Encrypted at rest."
            ),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="webhook_secret",
            field=campaigns.fields.EncryptedTextField(
                blank=True, help_text="Signs webhook bodies; set on save. Encrypted at rest."
            ),
        ),
        migrations.RunPython(encrypt_existing_secrets, migrations.RunPython.noop),
        migrations.RunPython(scrub_delivery_errors, migrations.RunPython.noop),
    ]
