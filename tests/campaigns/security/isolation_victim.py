"""Tenant B, the victim of tests/campaigns/security/test_isolation_attack.py: one row of each kind, with words and
ids that nothing of tenant A's can contain, so that any of them in an answer to A is a leak."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import Group

from campaigns.models import (
    CallAttempt,
    Campaign,
    CampaignEvent,
    Contact,
    ContactImport,
    DoNotCall,
    ImportRejection,
    Membership,
    Rehearsal,
    Role,
    Tenant,
    Trunk,
    Turn,
    WebhookDelivery,
)
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
    MembershipFactory,
    TenantFactory,
    TrunkFactory,
    TurnFactory,
    UserFactory,
)

# B's rows get ids of six digits starting 734, the ids that do not exist are 7349xx: both are masked as <ID>
# before two answers are compared, and nothing of A's (small ids) looks like them.
ID_RE = re.compile(r"734\d{3}")
FAKE_ID = 734999
FAKE_SLUG = "beta-zq-nope"  # as long as B's slug

B_SLUG = "beta-zq-corp"
RECORDING_BYTES = b"RIFF\x24\x00\x00\x00WAVEfmt ZQ-RECORDING-BYTES-0xBEEF"
SECRETS = {
    "tenant name": "Beta Zq Tenant",
    "campaign name": "Zq Beta Campaign Xylophone",
    "first name": "Quixotica",
    "last name": "Zebulonsky",
    "phone": "+12025559876",
    "phone digits": "2025559876",
    "second phone": "+12025559877",
    "turn text": "the secret turn text zq-kumquat",
    "caller turn": "my card number is zq-4111",
    "transcript": "zq-full-transcript-marmalade",
    "trunk host": "zq-trunk.beta.example",
    "trunk user": "zq-trunk-user",
    "trunk password": "zq-trunk-password",
    "dnc phone": "+12025558765",
    "import file": "zq-beta-import.csv",
    "webhook url": "zq-webhook.beta.example",
    "webhook payload": "zq-payload-pomegranate",
    "event note": "zq-event-note-quince",
    "user name": "zq_beta_owner",
    "group name": "zq-beta-group",
    "slug": B_SLUG,
}


@dataclass
class Victim:
    """Tenant B and one of each of its rows; `ids` by model, for filling URL parameters."""

    tenant: Tenant
    objects: dict = field(default_factory=dict)

    def obj(self, model):
        return self.objects.get(model)


def create_victim(media_root: Path) -> Victim:
    tenant = TenantFactory(id=734001, name=SECRETS["tenant name"], slug=B_SLUG)
    b_user = UserFactory(id=734002, username=SECRETS["user name"])
    membership = MembershipFactory(id=734003, tenant=tenant, user=b_user, role=Role.OWNER)
    trunk = TrunkFactory(
        id=734004,
        tenant=tenant,
        host=SECRETS["trunk host"],
        username=SECRETS["trunk user"],
        password=SECRETS["trunk password"],
    )
    campaign = CampaignFactory(
        id=734005,
        tenant=tenant,
        name=SECRETS["campaign name"],
        trunk=trunk,
        webhook_url=f"https://{SECRETS['webhook url']}/hook",
    )
    contact = ContactFactory(
        id=734006,
        campaign=campaign,
        phone=SECRETS["phone"],
        first_name=SECRETS["first name"],
        last_name=SECRETS["last name"],
    )
    ContactFactory(id=734007, campaign=campaign, phone=SECRETS["second phone"], first_name=SECRETS["first name"])
    recording = media_root / "recordings" / "zq-b.wav"
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(RECORDING_BYTES)
    attempt = CallAttemptFactory(
        id=734008,
        contact=contact,
        status=CallAttempt.Status.FINALIZED,
        recording="recordings/zq-b.wav",
        full_transcript=SECRETS["transcript"],
    )
    turn = TurnFactory(id=734009, attempt=attempt, index=0, text=SECRETS["turn text"])
    TurnFactory(id=734010, attempt=attempt, index=1, speaker=Turn.Speaker.CALLEE, text=SECRETS["caller turn"])
    dnc = DoNotCallFactory(id=734011, tenant=tenant, phone=SECRETS["dnc phone"])
    contact_import = ContactImport.objects.create(
        id=734012,
        tenant=tenant,
        campaign=campaign,
        filename=SECRETS["import file"],
        uploaded_by=b_user,
        rows=2,
        created_count=1,
        rejected_count=1,
    )
    ImportRejection.objects.create(
        contact_import=contact_import, line=3, phone=SECRETS["second phone"], reason="duplicate"
    )
    delivery = WebhookDelivery.objects.create(
        id=734013,
        tenant=tenant,
        campaign=campaign,
        attempt=attempt,
        event="call.completed",
        url=f"https://{SECRETS['webhook url']}/hook",
        payload={"note": SECRETS["webhook payload"], "phone": SECRETS["phone"]},
    )
    event = CampaignEvent.objects.create(
        id=734014, tenant=tenant, campaign=campaign, from_status="draft", to_status="draft", note=SECRETS["event note"]
    )
    group = Group.objects.create(id=734015, name=SECRETS["group name"])
    rehearsal = Rehearsal.objects.create(
        id=734020,
        tenant=tenant,
        campaign=campaign,
        status=Rehearsal.Status.DONE,
        calls=1,
        mix={"agree": 100},
        seed=1,
        script=campaign.script,
        report={"note": SECRETS["webhook payload"]},
    )
    return Victim(
        tenant=tenant,
        objects={
            Rehearsal: rehearsal,
            Tenant: tenant,
            Membership: membership,
            Trunk: trunk,
            Campaign: campaign,
            Contact: contact,
            CallAttempt: attempt,
            Turn: turn,
            DoNotCall: dnc,
            ContactImport: contact_import,
            WebhookDelivery: delivery,
            CampaignEvent: event,
            type(b_user): b_user,
            Group: group,
        },
    )


def snapshot(tenant: Tenant) -> dict:
    """B's rows as stored: nothing the attack sends may change them, add to them or delete them (A may add rows of
    its own, such as do-not-call entries)."""
    return {
        model.__name__: sorted(
            json.dumps(row, default=str, sort_keys=True) for row in model.objects.filter(tenant=tenant).values()
        )
        for model in (
            Campaign,
            Contact,
            CallAttempt,
            Turn,
            DoNotCall,
            ContactImport,
            WebhookDelivery,
            Trunk,
            Membership,
        )
    }
