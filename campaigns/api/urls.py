"""/api/v1/... (token or session auth), /api/schema/ (OpenAPI 3) and /api/docs/ (Swagger UI, no CDN)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from campaigns.api import views

app_name = "api"

tenant_router = SimpleRouter()
tenant_router.register("campaigns", views.CampaignViewSet, basename="campaign")
tenant_router.register("contacts", views.ContactViewSet, basename="contact")
tenant_router.register("calls", views.CallViewSet, basename="call")
tenant_router.register("do-not-call", views.DoNotCallViewSet, basename="dnc")
tenant_router.register("imports", views.ContactImportViewSet, basename="import")

urlpatterns = [
    path("v1/auth/token/", views.TokenView.as_view(), name="token"),
    path("v1/tenants/", views.TenantViewSet.as_view({"get": "list"}), name="tenant-list"),
    path("v1/tenants/<slug:tenant_slug>/", include(tenant_router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads Swagger UI's init script from ?script, and our template has no inline <style>: the
    # docs work under the Content-Security-Policy (no inline script or style).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    re_path(r"", views.not_found),  # last: anything else under /api/ is a JSON 404
]
