"""Request-level security shared by the admin, the dashboard and the API.

client_ip: the one rule for "which address is this client" (login lockouts and API throttles). X-Forwarded-For is
written by whoever sends the request, so it is read only when TRUSTED_PROXY_COUNT reverse proxies of ours sit in
front of the app: then the entry the outermost of them appended is the client (as DRF's NUM_PROXIES).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings


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
