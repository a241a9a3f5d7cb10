from django.contrib import admin
from django.urls import include, path

from campaigns import views

admin.site.site_header = "Campaign robot"
admin.site.site_title = "Campaign robot"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign"),
    path("calls/<int:attempt_id>/", views.call_detail, name="call"),
    path("calls/<int:attempt_id>/recording.wav", views.recording, name="recording"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("campaigns.api.urls")),  # /api/v1/..., /api/schema/, /api/docs/
]
