"""One error body for every API failure: {"error": {"code": ..., "message": ..., "fields": {...}}}.

`code` is a stable machine word (invalid, not_found, permission_denied, not_authenticated, throttled,
invalid_state, bad_file, ...); `message` is for people; `fields` maps a field (dotted for nested input) to its
messages and is empty unless the request body or query string had invalid fields.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    """The object is in a state that does not allow this (e.g. starting a cancelled campaign)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The object is not in a state that allows this.")
    default_code = "invalid_state"


class BadFile(exceptions.APIException):
    """An uploaded file that cannot be read as a call list at all; nothing was stored."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = gettext_lazy("The file cannot be read as a call list.")
    default_code = "bad_file"


class TooLarge(exceptions.APIException):
    """A request body over the limit; nothing was read past it."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "too_large"


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        for index, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    elif isinstance(detail, list):
        out[prefix] = [str(item) for item in detail]
    else:
        out[prefix] = [str(detail)]
    return out


def error_body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) if isinstance(exc.detail, dict) else {}
        general = fields.pop("non_field_errors", None) or (
            [str(item) for item in exc.detail] if isinstance(exc.detail, list) else None
        )
        if general:
            message = " ".join(general)
        elif len(fields) == 1:
            name, messages = next(iter(fields.items()))
            message = f"{name}: {' '.join(messages)}"
        else:
            message = _("Some fields are invalid.")
        return {"code": "invalid", "message": message, "fields": fields}
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return {"code": code, "message": str(exc.detail), "fields": {}}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()  # Django's message names the model: say nothing beyond "not found"
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django logs it and answers 500
    response.data = {"error": error_body(exc)}
    return response


# --- Django's own error pages (project/urls.py handler400 and handler500) ----------------------------------------
# Failures outside DRF's views (a disallowed Host, a request Django itself refuses, an unexpected exception) answer
# /api/ clients in the same error body; every other path keeps Django's HTML pages.


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "fields": {}}}


def bad_request(request, exception, template_name="400.html"):
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(_body("too_large", _("The request body is too large.")), status=413)
        return JsonResponse(_body("bad_request", _("The request cannot be processed.")), status=400)
    return defaults.bad_request(request, exception, template_name)


def server_error(request, template_name="500.html"):
    if _is_api(request):
        return JsonResponse(
            _body("server_error", _("Something went wrong on our side; it has been logged.")), status=500
        )
    return defaults.server_error(request, template_name)
