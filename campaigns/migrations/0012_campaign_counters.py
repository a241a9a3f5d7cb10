"""Per-campaign counters kept by triggers (see campaigns/models/counters.py), backfilled from the rows.

Each table's counters are defined once, by a `*_keys` SQL function mapping one row to (counter name, amount); the
statement triggers and the recount (`campaigns_recount_counters`, used by the backfill and `manage.py
rebuild_counters`) both go through them, so the two cannot disagree.
"""

import django.db.models.deletion
from django.db import migrations, models


CONTACT_KEYS = """
CREATE FUNCTION campaigns_contact_keys(status text, attempts_made integer)
RETURNS TABLE (name text, n bigint) LANGUAGE sql IMMUTABLE AS $$
    SELECT k.name, k.n FROM (VALUES
        ('contacts:' || status, 1::bigint),
        ('contacts_dialled', (attempts_made > 0)::int::bigint),
        ('contact_attempts_made', attempts_made::bigint)
    ) AS k (name, n) WHERE k.n <> 0
$$;
"""

ATTEMPT_KEYS = """
CREATE FUNCTION campaigns_attempt_keys(
    status text, disposition text, dialed_at timestamptz, answered_at timestamptz, end_reason text, talk_ms integer
) RETURNS TABLE (name text, n bigint) LANGUAGE sql STABLE AS $$
    SELECT k.name, k.n FROM (VALUES
        ('attempts:' || status || ':' || disposition, 1::bigint),
        ('dialled', (dialed_at IS NOT NULL)::int::bigint),
        ('dialled_hour:' || to_char(dialed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), 1::bigint),
        ('answered', (answered_at IS NOT NULL)::int::bigint),
        ('completed', (answered_at IS NOT NULL AND end_reason = 'robot_hangup')::int::bigint),
        ('talk_ms_count', (answered_at IS NOT NULL AND talk_ms IS NOT NULL)::int::bigint),
        ('talk_ms_sum', CASE WHEN answered_at IS NOT NULL THEN coalesce(talk_ms, 0) ELSE 0 END::bigint)
    ) AS k (name, n) WHERE k.n <> 0 AND k.name IS NOT NULL
$$;
"""

TURN_KEYS = """
CREATE FUNCTION campaigns_turn_keys(
    speaker text, confidence double precision, asr_latency_ms integer, response_latency_ms integer
) RETURNS TABLE (name text, n bigint) LANGUAGE sql IMMUTABLE AS $$
    SELECT k.name, k.n FROM (VALUES
        ('turn_latency_ms:' || response_latency_ms, 1::bigint),
        ('asr_latency_ms:' || asr_latency_ms, 1::bigint),
        ('confidence_count', (speaker = 'callee' AND confidence IS NOT NULL)::int::bigint),
        ('confidence_micros', CASE WHEN speaker = 'callee' THEN round(confidence * 1000000)::bigint ELSE 0 END)
    ) AS k (name, n) WHERE k.n <> 0 AND k.name IS NOT NULL
$$;
"""

# table: (keys call on a row `r`, join that gives the row's tenant and campaign as `o`)
COUNTED = {
    "campaigns_contact": ("campaigns_contact_keys(r.status, r.attempts_made)", "", "r"),
    "campaigns_callattempt": (
        "campaigns_attempt_keys(r.status, r.disposition, r.dialed_at, r.answered_at, r.end_reason, r.talk_ms)",
        "",
        "r",
    ),
    "campaigns_turn": (
        "campaigns_turn_keys(r.speaker, r.confidence, r.asr_latency_ms, r.response_latency_ms)",
        "JOIN campaigns_callattempt o ON o.id = r.attempt_id",
        "o",
    ),
}


def _rows(table: str, rows: str, sign: str, where: str = "") -> str:
    keys, join, owner = COUNTED[table]
    return f"SELECT {owner}.tenant_id, {owner}.campaign_id, k.name, {sign}k.n AS n FROM {rows} r {join}, {keys} k {where}"


def _summed(into: str, *parts: str) -> str:
    return (
        f"INSERT INTO {into} (tenant_id, campaign_id, name, value) "
        f"SELECT tenant_id, campaign_id, name, sum(n) FROM ({' UNION ALL '.join(parts)}) d "
        "GROUP BY tenant_id, campaign_id, name HAVING sum(n) <> 0;"
    )


def _triggers(table: str) -> str:
    """Statement triggers (transition tables): a COPY of 10,000 rows appends a handful of deltas, not 10,000."""
    delta = "campaigns_campaigncounterdelta"
    return f"""
CREATE FUNCTION {table}_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_summed(delta, _rows(table, "new_rows", ""))}
    ELSIF TG_OP = 'DELETE' THEN
        {_summed(delta, _rows(table, "old_rows", "-"))}
    ELSE
        {_summed(delta, _rows(table, "new_rows", ""), _rows(table, "old_rows", "-"))}
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_count_inserts AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_count();
CREATE TRIGGER {table}_count_updates AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_count();
CREATE TRIGGER {table}_count_deletes AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_count();
"""


_SCOPE = "WHERE campaign_ids IS NULL OR {}.campaign_id = ANY(campaign_ids)"
RECOUNT = f"""
CREATE FUNCTION campaigns_recount_counters(campaign_ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM campaigns_campaigncounterdelta {_SCOPE.format("campaigns_campaigncounterdelta")};
    DELETE FROM campaigns_campaigncounter {_SCOPE.format("campaigns_campaigncounter")};
    {_summed(
        "campaigns_campaigncounter",
        _rows("campaigns_contact", "campaigns_contact", "", _SCOPE.format("r")),
        _rows("campaigns_callattempt", "campaigns_callattempt", "", _SCOPE.format("r")),
        _rows("campaigns_turn", "campaigns_turn", "", _SCOPE.format("o")),
    )}
$$;
"""

FORWARD = "\n".join(
    [CONTACT_KEYS, ATTEMPT_KEYS, TURN_KEYS, *(_triggers(t) for t in COUNTED), RECOUNT]
) + "\nSELECT campaigns_recount_counters(NULL);\n"

BACKWARD = "\n".join(
    [
        *(f"DROP FUNCTION {t}_count() CASCADE;" for t in COUNTED),
        "DROP FUNCTION campaigns_recount_counters(bigint[]);",
        "DROP FUNCTION campaigns_contact_keys(text, integer);",
        "DROP FUNCTION campaigns_attempt_keys(text, text, timestamptz, timestamptz, text, integer);",
        "DROP FUNCTION campaigns_turn_keys(text, double precision, integer, integer);",
    ]
)


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0011_rehearsal_call_lease'),
    ]

    operations = [
        migrations.CreateModel(
            name='CampaignCounter',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=80)),
                ('value', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='CampaignCounterDelta',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=80)),
                ('value', models.BigIntegerField()),
            ],
        ),
        migrations.AddIndex(
            model_name='callattempt',
            index=models.Index(fields=['campaign', 'dialed_at'], name='attempt_campaign_dialed_idx'),
        ),
        migrations.AddField(
            model_name='campaigncounter',
            name='campaign',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign'),
        ),
        migrations.AddField(
            model_name='campaigncounter',
            name='tenant',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.tenant'),
        ),
        migrations.AddField(
            model_name='campaigncounterdelta',
            name='campaign',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign'),
        ),
        migrations.AddField(
            model_name='campaigncounterdelta',
            name='tenant',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.tenant'),
        ),
        migrations.AddIndex(
            model_name='campaigncounter',
            index=models.Index(fields=['name'], name='counter_name_idx', opclasses=['varchar_pattern_ops']),
        ),
        migrations.AddConstraint(
            model_name='campaigncounter',
            constraint=models.UniqueConstraint(fields=('campaign', 'name'), name='one_counter_per_name'),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
