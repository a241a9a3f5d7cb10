"""Read-mostly lists: contacts, calls, the do-not-call list and uploads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound

from campaigns import recordings
from campaigns.api import serializers as s
from campaigns.api.views.base import IgnoreAccept, TenantScopedViewSet
from campaigns.models import (
    CallAttempt,
    Contact,
    ContactImport,
    DoNotCall,
    Turn,
)
from campaigns.selectors import day_start


@extend_schema_view(
    list=extend_schema(summary="List contacts", parameters=[s.ContactFilterSerializer]),
    retrieve=extend_schema(summary="A contact"),
)
class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Contact
    queryset = Contact.objects.none()
    ordering = ("id",)
    serializer_class = s.ContactSerializer
    filter_serializer_class = s.ContactFilterSerializer

    def apply_filters(self, queryset, params: dict):
        if "phone" in params:
            queryset = queryset.filter(phone__contains=params.pop("phone"))
        return queryset.filter(**params)


@extend_schema_view(
    list=extend_schema(summary="List calls (attempts)", parameters=[s.CallFilterSerializer]),
    retrieve=extend_schema(summary="A call with its turn-by-turn transcript"),
)
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = CallAttempt
    queryset = CallAttempt.objects.none()
    filter_serializer_class = s.CallFilterSerializer

    def get_queryset(self):
        queryset = super().get_queryset().select_related("contact", "script_version")
        if self.action == "retrieve":
            turns = Turn.objects.for_tenant(self.tenant).order_by("index")
            queryset = queryset.prefetch_related(Prefetch("turns", queryset=turns))
        return queryset

    def get_serializer_class(self):
        return s.CallDetailSerializer if self.action == "retrieve" else s.CallSerializer

    @extend_schema(
        summary="The call's recording (WAV); only for members of the call's tenant",
        responses={
            (200, "audio/*"): OpenApiResponse(OpenApiTypes.BINARY, description="WAV, MP3 or OGG (RECORDING_FORMAT)")
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAccept)
    def recording(self, request, *args, **kwargs):
        attempt = self.get_object()
        root = Path(settings.MEDIA_ROOT).resolve()
        path = (root / attempt.recording).resolve()
        if not attempt.recording or root not in path.parents or not path.is_file():
            raise NotFound(_("This call has no recording."))
        response = FileResponse(path.open("rb"), content_type=recordings.content_type(attempt.recording))
        response["Content-Disposition"] = f'inline; filename="call-{attempt.id}{path.suffix}"'
        return response

    def apply_filters(self, queryset, params: dict):
        # Days are UTC ranges of created_at, [start of the first day, start of the day after the last): the
        # (tenant, created_at) index answers a range, not a date cast of every row.
        params = dict(params)
        day, first, last = params.pop("date", None), params.pop("date_from", None), params.pop("date_to", None)
        for start in (day, first):
            if start:
                queryset = queryset.filter(created_at__gte=day_start(start, dt.UTC))
        for end in (day, last):
            if end:
                queryset = queryset.filter(created_at__lt=day_start(end + dt.timedelta(days=1), dt.UTC))
        return queryset.filter(**params)


@extend_schema_view(
    list=extend_schema(summary="List the do-not-call entries", parameters=[s.DoNotCallFilterSerializer]),
    retrieve=extend_schema(summary="A do-not-call entry"),
    create=extend_schema(
        summary="Add a number to the do-not-call list",
        examples=[OpenApiExample("A callee's request", {"phone": "+12025550143", "reason": "asked on a call"})],
    ),
    destroy=extend_schema(summary="Remove a number from the do-not-call list"),
)
class DoNotCallViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    model = DoNotCall
    queryset = DoNotCall.objects.none()
    ordering = ("-created_at", "-id")
    serializer_class = s.DoNotCallSerializer
    filter_serializer_class = s.DoNotCallFilterSerializer

    def apply_filters(self, queryset, params: dict):
        return queryset.filter(phone__contains=params["phone"]) if "phone" in params else queryset

    def perform_create(self, serializer):
        try:
            with transaction.atomic():
                serializer.save(tenant=self.tenant)
        except IntegrityError:  # added concurrently since validation
            raise serializers.ValidationError(
                {"phone": [_("This number is already on the do-not-call list.")]}
            ) from None


@extend_schema_view(
    list=extend_schema(summary="Contact uploads (status of background imports, rejected rows)"),
    retrieve=extend_schema(summary="One upload"),
)
class ContactImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = ContactImport
    queryset = ContactImport.objects.none()
    serializer_class = s.ContactImportSerializer
