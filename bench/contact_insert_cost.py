"""PostgreSQL's own cost per imported contact: one INSERT ... SELECT of N contacts into a fresh campaign, then the
deferred foreign-key checks (what COMMIT runs), each part per row, as the table is and without each of its extras
(dropped inside the transaction, which is rolled back: nothing changes).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/robocall_bench_scale SECRET_KEY=bench \\
        .venv/bin/python -m bench.contact_insert_cost --rows 50000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

VARIANTS = {
    "as is": [],
    "without the tenant index": ["DROP INDEX campaigns_contact_tenant_id_ccf11a7d"],
    "without the three foreign keys": [
        "ALTER TABLE campaigns_contact DROP CONSTRAINT campaigns_contact_campaign_id_c8e58336_fk_campaigns_campaign_id",
        "ALTER TABLE campaigns_contact DROP CONSTRAINT campaigns_contact_contact_import_id_babafd13_fk_campaigns",
        "ALTER TABLE campaigns_contact DROP CONSTRAINT campaigns_contact_tenant_id_ccf11a7d_fk_campaigns_tenant_id",
    ],
    "without the counters trigger": ["ALTER TABLE campaigns_contact DISABLE TRIGGER campaigns_contact_count_inserts"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from bench.scale import machine_load, setup

    setup()
    from django.db import connection

    from bench.orchestration import drop_campaign, fresh_campaign
    from campaigns.models import ContactImport

    campaign = fresh_campaign("insert cost", tenant_slug="bench-insert-cost")
    record = ContactImport.objects.create(tenant_id=campaign.tenant_id, campaign=campaign, filename="cost.csv")
    insert = (
        "INSERT INTO campaigns_contact (tenant_id, campaign_id, contact_import_id, phone, first_name, last_name, "
        "timezone, call_zones, custom_fields, status, skip_reason, attempts_made, source_line, created_at) "
        "SELECT %s, %s, %s, '+1202' || (2000000 + g), 'Pat', 'Lee', "
        "'America/New_York', '[]', '{\"plan\": \"gold\"}', 'pending', '', 0, g, now() "
        "FROM generate_series(1, %s) g"
    )
    params = [campaign.tenant_id, campaign.id, record.id, args.rows]
    print(machine_load(), flush=True)
    try:
        for _ in range(args.rounds):
            for name, changes in VARIANTS.items():
                with connection.cursor() as cursor:
                    cursor.execute("BEGIN")  # Django's autocommit mode: this transaction is ours to roll back
                    for sql in changes:
                        cursor.execute(sql)
                    started = time.perf_counter()
                    cursor.execute(insert, params)
                    inserted = time.perf_counter()
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred checks, as COMMIT would run them
                    checked = time.perf_counter()
                    cursor.execute("ROLLBACK")
                per_row = 1e6 / args.rows
                print(
                    f"{name}: insert {(inserted - started) * per_row:.1f} us/row, "
                    f"foreign-key checks {(checked - inserted) * per_row:.1f} us/row",
                    flush=True,
                )
    finally:
        drop_campaign(campaign)
    print(machine_load(), flush=True)


if __name__ == "__main__":
    main()
