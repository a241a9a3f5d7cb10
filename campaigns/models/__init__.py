"""Multi-tenant data. Every tenant-owned row carries a non-null `tenant`; reads go through `for_tenant`.

One module per area; everything is importable from `campaigns.models` (migrations refer to
`campaigns.models.default_script` and `campaigns.models.default_retry_policy`).
"""

from campaigns.models.calls import CallAttempt, Turn, WebhookDelivery
from campaigns.models.campaign import (
    Campaign,
    CampaignEvent,
    Disposition,
    ScriptVersion,
    Trunk,
    default_retry_policy,
    default_script,
)
from campaigns.models.contacts import Contact, ContactImport, DoNotCall, DoNotCallQuerySet, ImportRejection
from campaigns.models.counters import CampaignCounter, CampaignCounterDelta
from campaigns.models.rehearsals import Rehearsal, RehearsalCall
from campaigns.models.tenancy import WRITE_ROLES, ApiToken, Membership, Role, Tenant, TenantQuerySet

__all__ = [
    "WRITE_ROLES",
    "ApiToken",
    "CallAttempt",
    "Campaign",
    "CampaignCounter",
    "CampaignCounterDelta",
    "CampaignEvent",
    "Contact",
    "ContactImport",
    "Disposition",
    "DoNotCall",
    "DoNotCallQuerySet",
    "ImportRejection",
    "Membership",
    "Rehearsal",
    "RehearsalCall",
    "Role",
    "ScriptVersion",
    "Tenant",
    "TenantQuerySet",
    "Trunk",
    "Turn",
    "WebhookDelivery",
    "default_retry_policy",
    "default_script",
]
