"""Dashboard (server-rendered, tenant-scoped), exports, and the operators' endpoints; project/urls.py routes them."""

from campaigns.views.dashboard import (
    call_detail,
    call_list,
    campaign_detail,
    campaign_lifecycle,
    campaign_progress_json,
    home,
    progress_json,
    recording,
)
from campaigns.views.exports import export_csv, export_xlsx
from campaigns.views.ops import healthz, metrics
from campaigns.views.rehearsals import rehearsal_report, rehearse

__all__ = [
    "call_detail",
    "call_list",
    "campaign_detail",
    "campaign_lifecycle",
    "campaign_progress_json",
    "export_csv",
    "export_xlsx",
    "healthz",
    "home",
    "metrics",
    "progress_json",
    "recording",
    "rehearsal_report",
    "rehearse",
]
