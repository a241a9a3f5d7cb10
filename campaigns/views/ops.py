"""For operators: /healthz (database and broker) and /metrics (Prometheus, bearer token)."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from campaigns import metrics as robot_metrics

logger = logging.getLogger(__name__)


def healthz(request):
    """ok or fail per dependency, nothing more: anyone may ask, so the reason (addresses, driver messages) goes
    to the log, not into the answer."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # report, do not raise: this page exists to say what is down
        logger.warning("healthz: the database is down", exc_info=True)
        checks["database"] = "fail"
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception:
        logger.warning("healthz: the broker is down", exc_info=True)
        checks["broker"] = "fail"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


@never_cache
@require_safe
def metrics(request):
    """Prometheus exposition. Off (404) unless METRICS_TOKEN is set; then `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Metrics are off: set METRICS_TOKEN.\n", status=404, content_type="text/plain")
    if not robot_metrics.token_matches(request.headers.get("Authorization", ""), token):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # The classic text format (underscores for any odd name), which every Prometheus version reads.
    return HttpResponse(robot_metrics.render(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
