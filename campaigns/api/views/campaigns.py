"""Campaigns: CRUD, lifecycle actions, uploads, exports, recordings and rehearsals."""

from __future__ import annotations

import secrets

from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from campaigns.api import serializers as s
from campaigns.api.errors import BadFile, Conflict
from campaigns.api.export import csv_lines, result_rows
from campaigns.api.views.base import CAMPAIGN_EXAMPLE, CONFLICT, IgnoreAccept, TenantScopedViewSet
from campaigns.models import (
    Campaign,
    ContactImport,
    Rehearsal,
)
from campaigns.services import lifecycle, rehearsals
from campaigns.services.imports import ImportFileError, upload_contacts
from campaigns.services.lifecycle import CampaignStateError
from campaigns.services.script_versions import record_edit
from pipeline.script import ScriptError


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
        deleted = Campaign.objects.filter(id=instance.id).exclude(status=Campaign.Status.RUNNING).delete()[0]
        if not deleted:
            raise Conflict(_("The campaign is running; pause or cancel it before deleting it."))

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
        try:
            report = upload_contacts(campaign, upload, upload.name, request.user)
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
