"""Webhooks on call completion and campaign completion: HMAC-signed, retried with backoff, logged.

Signature: header `X-Robocall-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the campaign's
webhook secret>`, so a receiver can reject forged and replayed bodies (compare in constant time, allow a few
minutes of skew).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from http import HTTPStatus

import requests
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import enqueue
from campaigns.models import CallAttempt, Campaign, WebhookDelivery
from campaigns.netguard import UnsafeURL, guarded_session, split_url
from campaigns.selectors import campaign_progress

TIMEOUT_SECONDS = 5
MAX_TRIES = 6


class TransientWebhookError(Exception):
    """Worth retrying: timeouts, connection errors, 408/429/5xx."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def call_payload(attempt: CallAttempt) -> dict:
    contact = attempt.contact
    return {
        "event": "call.completed",
        "campaign": {"id": attempt.campaign_id, "name": attempt.campaign.name},
        "call": {
            "id": attempt.id,
            "attempt_number": attempt.attempt_number,
            "disposition": attempt.disposition,
            "outcome": attempt.outcome,
            "dial_status": attempt.dial_status,
            "sip_code": attempt.sip_code,
            "talk_ms": attempt.talk_ms,
            "answered_at": attempt.answered_at.isoformat() if attempt.answered_at else None,
            "ended_at": attempt.ended_at.isoformat() if attempt.ended_at else None,
            "slots": (attempt.analysis or {}).get("slots", {}),
            "direction": attempt.direction,
            "transfer": (attempt.analysis or {}).get("transfer"),
            "contact": None  # an inbound caller who is no contact of the campaign
            if contact is None
            else {
                "phone": contact.phone,
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "custom_fields": contact.custom_fields,
            },
            "transcript": [
                {"speaker": t.speaker, "text": t.text, "intent": t.intent, "start_ms": t.start_ms}
                for t in attempt.turns.all()
            ],
        },
    }


def _queue(campaign: Campaign, event: str, payload: dict, attempt: CallAttempt | None = None) -> None:
    if not campaign.webhook_url:
        return
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                tenant_id=campaign.tenant_id,
                campaign=campaign,
                attempt=attempt,
                event=event,
                url=campaign.webhook_url,
                payload=payload,
            )
    except IntegrityError:
        return  # already queued (a finalize that ran twice)
    enqueue.webhook(delivery.id)


def queue_call_completed(attempt: CallAttempt) -> None:
    if not attempt.campaign.webhook_url:
        return  # no payload to build (it reads the turns)
    _queue(attempt.campaign, "call.completed", call_payload(attempt), attempt)


def queue_campaign_completed(campaign: Campaign) -> None:
    progress = campaign_progress(campaign)
    payload = {
        "event": "campaign.completed",
        "campaign": {"id": campaign.id, "name": campaign.name, "status": campaign.status},
        "calls": progress.attempts,
        "dispositions": progress.by_disposition,
    }
    _queue(campaign, "campaign.completed", payload)


def deliver(delivery_id: int) -> str:
    """POST one delivery. Returns its status; raises TransientWebhookError when a retry may succeed."""
    delivery = WebhookDelivery.objects.select_related("campaign").filter(id=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery.status if delivery else "missing"
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "campaign-robot-webhooks/1",
        "X-Robocall-Event": delivery.event,
        "X-Robocall-Delivery": str(delivery.id),
        "X-Robocall-Signature": sign(delivery.campaign.webhook_secret, body, int(time.time())),
    }
    WebhookDelivery.objects.filter(id=delivery.id).update(tries=delivery.tries + 1)
    # The receiver's address is checked on connect (campaigns.netguard); redirects are not followed, and the
    # response body is never read: only its status is kept (a body could be an internal service's answer).
    try:
        split_url(delivery.url)
        with guarded_session() as session:
            response = session.post(
                delivery.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False, stream=True
            )
            response.close()
    except UnsafeURL as exc:
        return _failed(delivery, None, f"Refused: {exc}", transient=False)
    except requests.RequestException as exc:
        return _failed(delivery, None, _describe(exc), transient=True)
    if 200 <= response.status_code < 300:
        WebhookDelivery.objects.filter(id=delivery.id).update(
            status=WebhookDelivery.Status.DELIVERED,
            last_status_code=response.status_code,
            last_error="",
            delivered_at=timezone.now(),
        )
        return WebhookDelivery.Status.DELIVERED
    transient = response.status_code in (408, 429) or response.status_code >= 500
    return _failed(delivery, response.status_code, _status_line(response.status_code), transient=transient)


def _status_line(code: int) -> str:
    """'HTTP 404 Not Found': the standard phrase, not the receiver's own reason text."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _describe(exc: requests.RequestException) -> str:
    """A short, fixed description of a failed connection (no receiver-controlled text)."""
    kinds = [
        (requests.exceptions.ConnectTimeout, "connection timed out"),
        (requests.exceptions.ReadTimeout, "no answer in time"),
        (requests.exceptions.SSLError, "TLS error"),
        (requests.exceptions.ConnectionError, "connection failed"),
    ]
    return next((text for kind, text in kinds if isinstance(exc, kind)), "request failed") + f" ({type(exc).__name__})"


def _failed(delivery: WebhookDelivery, code: int | None, error: str, transient: bool) -> str:
    last_try = delivery.tries + 1 >= MAX_TRIES
    status = WebhookDelivery.Status.FAILED if (last_try or not transient) else WebhookDelivery.Status.PENDING
    WebhookDelivery.objects.filter(id=delivery.id).update(status=status, last_status_code=code, last_error=error)
    if status == WebhookDelivery.Status.PENDING:
        raise TransientWebhookError(error)
    return status
