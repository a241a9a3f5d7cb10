"""REST API views: thin callers of the selectors and services, always inside one tenant (see permissions)."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from campaigns import recordings
from campaigns.api import serializers as s
from campaigns.api.errors import BadFile, Conflict
from campaigns.api.export import csv_lines, result_rows
from campaigns.api.permissions import AnonThrottle, ScopedThrottle, TenantRolePermission
from campaigns.models import (
    ApiToken,
    CallAttempt,
    Campaign,
    Contact,
    ContactImport,
    DoNotCall,
    Membership,
    Rehearsal,
    Turn,
)
from campaigns.services import lifecycle, rehearsals
from campaigns.services.imports import ImportFileError, upload_contacts
from campaigns.services.lifecycle import CampaignStateError
from campaigns.services.script_versions import record_edit
from pipeline.script import ScriptError

CAMPAIGN_EXAMPLE = OpenApiExample(
    "Minimal (default script)",
    request_only=True,
    value={"name": "Flu shots 2026", "caller_id": "+12025550100", "window_start": "09:00", "window_end": "19:00"},
)
CONFLICT = OpenApiResponse(s.ErrorSerializer, description="The campaign's state does not allow this.")


class TenantScopedViewSet(viewsets.GenericViewSet):
    """Base for everything under /api/v1/tenants/<slug>/: querysets come from `model.objects.for_tenant`."""

    permission_classes = [TenantRolePermission]
    model: type = None
    ordering: tuple[str, ...] = ("-id",)
    filter_serializer_class: type[serializers.Serializer] | None = None
    throttle_scope: str | None = None  # set per action: lifecycle, upload, export
    tenant = None
    role = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return self.model.objects.none()
        return self.model.objects.for_tenant(self.tenant).order_by(*self.ordering)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tenant": self.tenant}

    def filter_queryset(self, queryset):
        if self.action != "list" or self.filter_serializer_class is None:
            return queryset
        params = self.filter_serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return self.apply_filters(queryset, params.validated_data)

    def apply_filters(self, queryset, params: dict):
        return queryset.filter(**params)


class IgnoreAccept(BaseContentNegotiation):
    """For file downloads: the body is a file whatever Accept says; errors still render as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema_view(
    list=extend_schema(summary="List campaigns", parameters=[s.CampaignFilterSerializer]),
    retrieve=extend_schema(summary="A campaign with its progress"),
    create=extend_schema(summary="Create a campaign (draft)", examples=[CAMPAIGN_EXAMPLE]),
    update=extend_schema(summary="Replace a campaign's settings", examples=[CAMPAIGN_EXAMPLE]),
    partial_update=extend_schema(summary="Change some of a campaign's settings"),
    destroy=extend_schema(summary="Delete a campaign that is not running", responses={204: None, 409: CONFLICT}),
)
class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    model = Campaign
    queryset = Campaign.objects.none()
    ordering = ("-created_at", "-id")
    filter_serializer_class = s.CampaignFilterSerializer

    def get_queryset(self):
        return super().get_queryset().select_related("created_by")

    def get_serializer_class(self):
        return s.CampaignSerializer if self.action == "list" else s.CampaignDetailSerializer

    def perform_create(self, serializer):
        serializer.save(tenant=self.tenant, created_by=self.request.user)

    def perform_update(self, serializer):
        edited = (
            "script" in serializer.validated_data and serializer.validated_data["script"] != serializer.instance.script
        )
        campaign = serializer.save()
        if edited:
            record_edit(campaign, self.request.user)  # a started campaign's script gets a new version

    def perform_destroy(self, instance):
        # Guarded: a campaign whose calls are being dialled is paused or cancelled first, never yanked away.
        deleted, _ = Campaign.objects.filter(id=instance.id).exclude(status=Campaign.Status.RUNNING).delete()
        if not deleted:
            raise Conflict("The campaign is running; pause or cancel it before deleting it.")

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _transition(self, change, count_name: str | None):
        campaign = self.get_object()
        try:
            count = change(campaign, actor=self.request.user)
        except CampaignStateError as exc:
            raise Conflict(str(exc)) from None
        except ScriptError as exc:
            raise serializers.ValidationError({"script": [str(exc)]}) from None
        campaign.refresh_from_db()
        body = {"campaign": s.CampaignDetailSerializer(campaign, context=self.get_serializer_context()).data}
        if count_name:
            body[count_name] = count
        return Response(body)

    @extend_schema(
        summary="Start a campaign (draft, scheduled or paused): its contacts are dialled from now on",
        description="Repeating a start that already happened changes nothing and answers 200.",
        request=None,
        responses={200: s.CampaignActionSerializer, 400: s.ErrorSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"], throttle_scope="lifecycle")
    def start(self, request, *args, **kwargs):
        return self._transition(lifecycle.start_campaign, "waiting")

    @extend_schema(
        summary="Schedule a draft campaign: the dispatcher starts it at `starts_at`",
        request=s.ScheduleSerializer,
        responses={200: s.CampaignActionSerializer, 400: s.ErrorSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"], throttle_scope="lifecycle")
    def schedule(self, request, *args, **kwargs):
        form = s.ScheduleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        starts_at = form.validated_data["starts_at"]
        return self._transition(lambda c, actor: lifecycle.schedule_campaign(c, starts_at, actor=actor), None)

    @extend_schema(
        summary="Pause a running campaign: calls in progress finish, nothing new is dialled",
        request=None,
        responses={200: s.CampaignActionSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"], throttle_scope="lifecycle")
    def pause(self, request, *args, **kwargs):
        return self._transition(lifecycle.pause_campaign, None)

    @extend_schema(
        summary="Resume a paused campaign",
        request=None,
        responses={200: s.CampaignActionSerializer, 400: s.ErrorSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"], throttle_scope="lifecycle")
    def resume(self, request, *args, **kwargs):
        return self._transition(lifecycle.resume_campaign, "waiting")

    @extend_schema(
        summary="Cancel a campaign; calls not yet dialled are cancelled",
        request=None,
        responses={200: s.CampaignActionSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"], throttle_scope="lifecycle")
    def cancel(self, request, *args, **kwargs):
        return self._transition(lifecycle.cancel_campaign, "cancelled")

    @extend_schema(
        summary="Generate a new webhook signing secret and show it (once)",
        description="Owners and managers only. The previous secret stops working at once; deliveries still "
        "retrying are signed with the new one.",
        request=None,
        responses={200: s.WebhookSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="webhook-secret", throttle_scope="lifecycle")
    def webhook_secret(self, request, *args, **kwargs):
        campaign = self.get_object()
        secret = secrets.token_hex(32)
        Campaign.objects.filter(id=campaign.id).update(webhook_secret=secret)
        return Response({"webhook_secret": secret})

    # --- rehearsals ---------------------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"],
        summary="The campaign's rehearsals, newest first, with their reports",
        request=None,
        responses={200: s.RehearsalSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Rehearse the campaign: N calls to virtual callees in a mix of personas (no one is called)",
        description="The callees use the campaign's own contacts' fields (never their numbers) and the calls go "
        "through the same queues, speech engines and script as live calls, faster than real time. Nothing is "
        "counted in the campaign's figures or sent to its webhook. 400: the mix does not add up to 100, an "
        "unknown persona, too many calls, or a script that fails validation; 409: a rehearsal of this campaign "
        "is still running. GET the rehearsal's URL (Location) for its report.",
        request=s.RehearsalRequestSerializer,
        responses={202: s.RehearsalSerializer, 400: s.ErrorSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["get", "post"], url_path="rehearsals")
    def rehearsals(self, request, *args, **kwargs):
        campaign = self.get_object()
        if request.method == "GET":
            rows = Rehearsal.objects.for_tenant(self.tenant).filter(campaign=campaign).order_by("-id")
            page = self.paginate_queryset(rows)
            return self.get_paginated_response(s.RehearsalSerializer(page, many=True).data)
        form = s.RehearsalRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            rehearsal = rehearsals.start_rehearsal(
                campaign, data["calls"], data.get("mix"), actor=request.user, seed=data.get("seed")
            )
        except rehearsals.RehearsalError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        except rehearsals.RehearsalBusy as exc:
            raise Conflict(str(exc)) from None
        location = reverse("api:campaign-rehearsal", args=[self.tenant.slug, campaign.id, rehearsal.id])
        body = s.RehearsalSerializer(rehearsal).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        summary="One rehearsal: progress, and its report once every call is over",
        request=None,
        responses={200: s.RehearsalSerializer},
    )
    @action(detail=True, methods=["get"], url_path=r"rehearsals/(?P<rehearsal_id>[0-9]{1,18})", url_name="rehearsal")
    def rehearsal(self, request, *args, rehearsal_id=None, **kwargs):
        campaign = self.get_object()
        row = Rehearsal.objects.for_tenant(self.tenant).filter(campaign=campaign, id=rehearsal_id).first()
        if row is None:
            raise NotFound()
        return Response(s.RehearsalSerializer(row).data)

    # --- call list and results ---------------------------------------------------------------------------

    @extend_schema(
        summary="Upload a CSV call list (multipart, field `file`)",
        request=s.UploadSerializer,
        responses={201: s.ImportReportSerializer, 202: s.ContactImportSerializer, 400: s.ErrorSerializer},
        description="Same validation as the admin upload: a file that cannot be read at all is a 400 whose "
        "message says why (nothing stored); otherwise good rows are added and each rejected row is listed "
        "with its line, phone and reason.",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="contacts/upload",
        parser_classes=[MultiPartParser, FormParser],
        throttle_scope="upload",
    )
    def upload(self, request, *args, **kwargs):
        campaign = self.get_object()
        form = s.UploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        limit = settings.CONTACT_UPLOAD_MAX_BYTES
        if upload.size > limit:  # refuse before reading it into memory
            raise BadFile(f"The file is {upload.size} bytes; the limit is {limit} bytes. Split it into parts.")
        try:
            report = upload_contacts(campaign, upload.read(), upload.name, request.user)
        except ImportFileError as exc:
            raise BadFile(str(exc)) from None
        if isinstance(report, ContactImport):  # a large file: imported in the background
            body = s.ContactImportSerializer(report).data
            location = reverse("api:import-detail", args=[self.tenant.slug, report.id])
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
        body = {
            "import_id": report.import_id,
            "rows": report.rows,
            "created": report.created,
            "rejected": [{"line": r.line, "phone": r.phone, "reason": r.reason} for r in report.rejected],
        }
        return Response(s.ImportReportSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Results as CSV (one row per call attempt; contacts never called get one row)",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV, UTF-8")},
    )
    @action(detail=True, methods=["get"], throttle_scope="export", content_negotiation_class=IgnoreAccept)
    def export(self, request, *args, **kwargs):
        campaign = self.get_object()
        response = StreamingHttpResponse(csv_lines(result_rows(campaign)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.id}-results.csv"'
        return response


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
            raise NotFound("This call has no recording.")
        response = FileResponse(path.open("rb"), content_type=recordings.content_type(attempt.recording))
        response["Content-Disposition"] = f'inline; filename="call-{attempt.id}{path.suffix}"'
        return response

    def apply_filters(self, queryset, params: dict):
        lookups = {"date": "created_at__date", "date_from": "created_at__date__gte", "date_to": "created_at__date__lte"}
        return queryset.filter(**{lookups.get(name, name): value for name, value in params.items()})


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
            raise serializers.ValidationError({"phone": ["This number is already on the do-not-call list."]}) from None


@extend_schema(summary="The tenants you are a member of, with your role (use the slug in every other path)")
class TenantViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MembershipSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return Membership.objects.filter(user=self.request.user).select_related("tenant").order_by("tenant__slug")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
@authentication_classes([])
@permission_classes([AllowAny])
def not_found(request, *args, **kwargs):
    """Any /api/ path that names no endpoint: the JSON error body rather than Django's HTML page."""
    raise NotFound()


@extend_schema(
    summary="Exchange a username and password for an API token",
    responses={200: inline_serializer("Token", {"token": serializers.CharField()}), 400: s.ErrorSerializer},
)
class TokenView(ObtainAuthToken):
    """Each exchange issues a new key (stored only as its digest, so an earlier key cannot be shown again); a user
    keeps up to ApiToken.MAX_PER_USER keys, the oldest are revoked beyond that."""

    throttle_classes = [AnonThrottle, ScopedThrottle]
    throttle_scope = "token"

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, key = ApiToken.issue(serializer.validated_data["user"])
        return Response({"token": key})


@extend_schema_view(
    list=extend_schema(summary="Contact uploads (status of background imports, rejected rows)"),
    retrieve=extend_schema(summary="One upload"),
)
class ContactImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = ContactImport
    queryset = ContactImport.objects.none()
    serializer_class = s.ContactImportSerializer
