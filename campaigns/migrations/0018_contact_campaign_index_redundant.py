"""Contact.campaign loses its own index: the unique (campaign, phone) index and contact_due_idx both lead with it,
and a third index on every contact only slows imports. Only the index is dropped (AlterField alone would also drop
and re-create the foreign key, re-checking every contact under a lock)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0017_call_list_when_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="campaign",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contacts",
                        to="campaigns.campaign",
                        verbose_name="campaign",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS campaigns_contact_campaign_id_c8e58336",
                    "CREATE INDEX IF NOT EXISTS campaigns_contact_campaign_id_c8e58336 ON campaigns_contact (campaign_id)",
                ),
            ],
        ),
    ]
