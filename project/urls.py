from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from campaigns import views

admin.site.site_header = _("Campaign robot")
admin.site.site_title = _("Campaign robot")

urlpatterns = [
    path("", views.home, name="home"),
    path("progress.json", views.progress_json, name="progress"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:campaign_id>/progress.json", views.campaign_progress_json, name="campaign-progress"),
    path("campaigns/<int:campaign_id>/calls/", views.call_list, name="calls"),
    path("campaigns/<int:campaign_id>/export.csv", views.export_csv, name="export-csv"),
    path("campaigns/<int:campaign_id>/export.xlsx", views.export_xlsx, name="export-xlsx"),
    path("campaigns/<int:campaign_id>/rehearsals/", views.rehearse, name="campaign-rehearse"),
    path(
        "campaigns/<int:campaign_id>/rehearsals/<int:rehearsal_id>/",
        views.rehearsal_report,
        name="campaign-rehearsal",
    ),
    path("campaigns/<int:campaign_id>/<slug:action>/", views.campaign_lifecycle, name="campaign-lifecycle"),
    path("calls/<int:attempt_id>/", views.call_detail, name="call"),
    path("calls/<int:attempt_id>/recording.wav", views.recording, name="recording"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("campaigns.api.urls")),  # /api/v1/..., /api/schema/, /api/docs/
]

# /api/ paths answer Django-level failures in the API's error body (campaigns.api.errors); others get HTML.
handler400 = "campaigns.api.errors.bad_request"
handler500 = "campaigns.api.errors.server_error"
