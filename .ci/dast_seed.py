"""Seed the DAST scratch database: a tenant with a manager and data, a second tenant the manager must never see,
and a wapiti cookie file holding the manager's session. Usage: python .ci/dast_seed.py COOKIE_FILE"""

import datetime as dt
import json
import os
import sys

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.models import (  # noqa: E402
    CallAttempt,
    Campaign,
    Contact,
    DoNotCall,
    Membership,
    Role,
    Tenant,
    Trunk,
    Turn,
)


def tenant_with_data(name: str, slug: str, username: str, marker: str):
    tenant = Tenant.objects.create(name=name, slug=slug)
    user = get_user_model().objects.create_user(username, password="dast-Passw0rd!", is_staff=True)  # noqa: S106
    Membership.objects.create(user=user, tenant=tenant, role=Role.MANAGER)
    trunk = Trunk.objects.create(tenant=tenant, name=f"{marker} trunk", host=f"{slug}.sip.example", password="s3cret")  # noqa: S106
    campaign = Campaign.objects.create(
        tenant=tenant, name=f"{marker} campaign", caller_id="+12025550100", dry_run=True, trunk=trunk, created_by=user
    )
    now = timezone.now()
    for n in range(3):
        contact = Contact.objects.create(
            tenant=tenant,
            campaign=campaign,
            phone=f"+1202555{1000 + n + (500 if marker == 'Bravo' else 0):04d}",
            first_name=f"{marker}{n}",
            last_name="Doe",
            timezone="America/New_York",
        )
        attempt = CallAttempt.objects.create(
            tenant=tenant,
            campaign=campaign,
            contact=contact,
            status=CallAttempt.Status.FINALIZED,
            disposition="completed" if n else "",
            answered_at=now - dt.timedelta(minutes=5),
            ended_at=now,
            talk_ms=30_000,
        )
        Turn.objects.create(
            tenant=tenant, attempt=attempt, index=0, speaker="robot", text=f"Hello {marker}", start_ms=0, end_ms=900
        )
    DoNotCall.objects.create(tenant=tenant, phone=f"+1202555{9000 + (1 if marker == 'Bravo' else 0):04d}")
    return user


manager = tenant_with_data("DAST Alpha", "dast-alpha", "dast-manager", "Alpha")
tenant_with_data("DAST Bravo", "dast-bravo", "dast-bravo-manager", "Bravo")

client = Client()
client.force_login(manager)
session = client.cookies[settings.SESSION_COOKIE_NAME].value
cookie = {"value": session, "expires": None, "secure": False, "port": None, "version": 0}
with open(sys.argv[1], "w") as out:
    json.dump({"127.0.0.1": {"/": {settings.SESSION_COOKIE_NAME: cookie}}}, out, indent=2)
print(f"seeded; session of dast-manager in {sys.argv[1]}")
