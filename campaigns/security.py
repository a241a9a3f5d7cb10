"""Request-level security shared by the admin, the dashboard and the API.

RequestSizeLimitMiddleware: a request that declares a body over REQUEST_MAX_BYTES is answered 413 before anything
reads the body (CSRF, the upload parser, a view), so an oversized call list costs neither memory nor disk.

SecurityHeadersMiddleware: a Content-Security-Policy on every response (CONTENT_SECURITY_POLICY: no inline script
or style anywhere: the dashboard's templates, the admin and the API docs load only our static files); and for
/api/ answers, which are a tenant's data read with a token, `Cache-Control: private, no-store` and
`Vary: Authorization` (the dashboard's views say never_cache themselves).

client_ip: the one rule for "which address is this client" (login lockouts and API throttles). X-Forwarded-For is
written by whoever sends the request, so it is read only when TRUSTED_PROXY_COUNT reverse proxies of ours sit in
front of the app: then the entry the outermost of them appended is the client (as DRF's NUM_PROXIES).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from campaigns.services.imports import too_large


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))]


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login through a request (admin, API token). A call without a request
    (the shell, the test client's login) is no web login attempt: it is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def api_error(status: int, code: str, message: str) -> JsonResponse:
    """The API's error body (campaigns.api.errors) for answers given outside DRF's views."""
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def is_api(request) -> bool:
    return request.path.startswith("/api/")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body then
        limit = settings.REQUEST_MAX_BYTES or settings.CONTACT_UPLOAD_MAX_BYTES + 1024 * 1024
        if length > limit:
            message = too_large(length)
            if is_api(request):
                return api_error(413, "too_large", message)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        if is_api(request):
            patch_vary_headers(response, ["Authorization"])
            if "Cache-Control" not in response:
                add_never_cache_headers(response)
        return response
