"""API view sets, one module per area (campaigns.api.urls routes them)."""

from campaigns.api.views.base import TenantViewSet, TokenView, not_found
from campaigns.api.views.campaigns import CampaignViewSet
from campaigns.api.views.records import CallViewSet, ContactImportViewSet, ContactViewSet, DoNotCallViewSet

__all__ = [
    "CallViewSet",
    "CampaignViewSet",
    "ContactImportViewSet",
    "ContactViewSet",
    "DoNotCallViewSet",
    "TenantViewSet",
    "TokenView",
    "not_found",
]
