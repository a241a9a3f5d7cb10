# Fed to `manage shell` inside the image by .ci/image.sh smoke: a dry-run campaign to virtual callees, dialled by
# the image's dial/post_call/ops/beat containers. Exits 0 when every call ends with its persona's disposition.
import datetime as dt
import sys
import time
import uuid

from django.contrib.auth import get_user_model
from django.db import connection

from campaigns.api.export import result_rows
from campaigns.models import CallAttempt, Campaign, Contact, Membership, Role, Tenant
from campaigns.services.imports import import_contacts
from campaigns.services.lifecycle import start_campaign
from telephony.simulator import persona_for

tag = uuid.uuid4().hex[:8]
tenant = Tenant.objects.create(slug=f"image-smoke-{tag}", name=f"Image smoke {tag}")
user = get_user_model().objects.create(username=f"image-smoke-{tag}", is_staff=True)
Membership.objects.create(user=user, tenant=tenant, role=Role.MANAGER)
campaign = Campaign.objects.create(
    tenant=tenant,
    name=f"Image smoke {tag}",
    caller_id="+12025550100",
    window_start=dt.time(0, 0),
    window_end=dt.time(23, 59, 59),
    max_attempts=1,
    calls_per_second=5,
    dry_run=True,
    created_by=user,
)
# agrees, declines, opts out, busy, no answer, unallocated: speech both ways (piper, whisper) and the dial codes.
digits = "124670"
rows = "phone,first_name\n" + "".join(f"+1 202 555 01{i}{d},Caller{i}\n" for i, d in enumerate(digits))
report = import_contacts(campaign, rows.encode(), "smoke.csv", user)
print(f"imported {report.created} contacts, rejected {len(report.rejected)}", flush=True)
start_campaign(campaign, actor=user)

deadline = time.monotonic() + 420
while time.monotonic() < deadline:
    done = CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.FINALIZED).count()
    if done == len(digits):
        break
    time.sleep(2)
ok = True
for contact in Contact.objects.filter(campaign=campaign).order_by("phone"):
    attempt = CallAttempt.objects.filter(contact=contact).first()
    expected = persona_for(contact.phone).expected_disposition
    got = attempt.disposition if attempt else "not dialled"
    heard = [t.text for t in attempt.turns.filter(speaker="callee")] if attempt else []
    ok &= got == expected
    recorded = bool(attempt and attempt.recording)
    print(f"{contact.phone}: expected {expected:<15} got {got:<15} recording={recorded} heard={heard}")
# The export walks contacts with .iterator(): a server-side cursor unless DISABLE_SERVER_SIDE_CURSORS (PgBouncer).
rows = list(result_rows(campaign))
ok &= len(rows) == len(digits) + 1
no_cursors = connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
print(f"export: {len(rows) - 1} rows (port {connection.settings_dict['PORT']}, no server-side cursors: {no_cursors})")
print("CAMPAIGN SMOKE", "PASSED" if ok else "FAILED", flush=True)
sys.exit(0 if ok else 1)
