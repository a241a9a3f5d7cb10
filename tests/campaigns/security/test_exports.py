"""Exports: a large CSV is never cut off by the web server's worker timeout, XLSX is bounded and never a 500.

test_csv_export_through_gunicorn_outlives_the_worker_timeout runs the real web server (gunicorn, with the repo's
gunicorn.conf.py as the Procfile does) with a 1-second worker timeout, and downloads a campaign's CSV through a
slow client: the download takes several times the timeout, and must arrive whole.
"""

import csv
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from campaigns.models import CallAttempt, Contact, Role
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory, MembershipFactory, TokenFactory
from tests.support.workers import database_url

ROOT = Path(__file__).resolve().parents[3]
TRANSCRIPT = "robot: Hello, this is the clinic calling about your flu shot.\ncallee: Yes, please call me later. " * 10


def bulk_campaign(tenant, contacts: int, custom=None):
    campaign = CampaignFactory(tenant=tenant, name="Big one")
    Contact.objects.bulk_create(
        Contact(
            tenant=tenant,
            campaign=campaign,
            phone=f"+1202{n:07d}",
            timezone="America/New_York",
            first_name="Pat",
            custom_fields=custom or {"city": "Paris"},
        )
        for n in range(contacts)
    )
    ids = Contact.objects.filter(campaign=campaign).values_list("id", flat=True)
    CallAttempt.objects.bulk_create(
        CallAttempt(
            tenant=tenant,
            campaign=campaign,
            contact_id=contact_id,
            status=CallAttempt.Status.FINALIZED,
            disposition="completed",
            full_transcript=TRANSCRIPT,
            answered_at=timezone.now(),
        )
        for contact_id in ids
    )
    return campaign


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_server(transactional_db, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "CACHE_URL": django_settings.CACHES["default"]["LOCATION"],
        "SECRET_KEY": "test-only",
        "CONN_MAX_AGE": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    # As the Procfile's web line, with a 1-second worker timeout.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "project.wsgi", "--config", "gunicorn.conf.py", "--workers", "1"]
        + ["--bind", f"127.0.0.1:{port}", "--timeout", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("gunicorn did not start")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def slow_get(port: int, path: str, headers: dict, pause: float) -> bytes:
    """A client on a slow link: a 4 KB receive window, and a pause after the first bytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}\r\n".encode())
    data = [sock.recv(4096)]
    time.sleep(pause)  # the server fills its buffers and waits for us
    sock.settimeout(30)
    while chunk := sock.recv(65536):
        data.append(chunk)
    sock.close()
    return b"".join(data)


def dechunk(raw: bytes) -> tuple[bytes, bool]:
    """The body of a chunked HTTP/1.1 response, and whether it ended with the last (zero-size) chunk."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower(), head
    body = []
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return b"".join(body), True
        body.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(body), False


@pytest.mark.slow
def test_csv_export_through_gunicorn_outlives_the_worker_timeout(web_server, tenant):
    campaign = bulk_campaign(tenant, 8000)  # about 9 MB of CSV: more than the socket buffers hold
    token = TokenFactory(user=MembershipFactory(tenant=tenant, role=Role.VIEWER).user)
    raw = slow_get(
        web_server,
        f"/api/v1/tenants/{tenant.slug}/campaigns/{campaign.id}/export/",
        {"Authorization": f"Token {token.key}"},
        pause=4,
    )
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    body, complete = dechunk(raw)
    assert complete, f"cut off after {len(body)} bytes"
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:2] == ["contact_id", "phone"] and len(rows) == 8001
    assert [int(row[0]) for row in rows[1:]] == list(Contact.objects.order_by("id").values_list("id", flat=True))


# --- the CSV stream -------------------------------------------------------------------------------------------


def test_csv_is_streamed_in_chunks_of_many_rows(client, tenant, viewer):
    campaign = bulk_campaign(tenant, 300)
    client.force_login(viewer)
    response = client.get(reverse("export-csv", args=[campaign.id]))
    chunks = list(response.streaming_content)
    body = b"".join(chunks).decode()
    assert body.count("\r\ncallee:") == 0 and body.count("\n") > 300
    assert len(chunks) < 20, f"{len(chunks)} chunks for 301 rows: one write per row"


def test_csv_and_xlsx_hold_every_row_in_contact_order(client, tenant, viewer):
    campaign = CampaignFactory(tenant=tenant)
    first = ContactFactory(campaign=campaign, phone="+12025550101")
    second = ContactFactory(campaign=campaign, phone="+12025550102")
    CallAttemptFactory(contact=first, attempt_number=2, disposition="busy")
    CallAttemptFactory(contact=first, attempt_number=1, disposition="no_answer")
    client.force_login(viewer)
    csv_rows = b"".join(client.get(reverse("export-csv", args=[campaign.id])).streaming_content).decode()
    csv_rows = [line.split(",") for line in csv_rows.splitlines()[1:]]
    assert [(r[0], r[7], r[9]) for r in csv_rows] == [
        (str(first.id), "1", "no_answer"),
        (str(first.id), "2", "busy"),
        (str(second.id), "", ""),
    ]
    response = client.get(reverse("export-xlsx", args=[campaign.id]))
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == [first.id, first.id, second.id]


# --- XLSX -----------------------------------------------------------------------------------------------------


def test_xlsx_with_structured_custom_values_is_not_a_500(client, tenant, viewer):
    campaign = CampaignFactory(tenant=tenant)
    ContactFactory(campaign=campaign, custom_fields={"tags": ["a", "b"], "address": {"city": "Paris"}, "n": 5})
    client.force_login(viewer)
    client.raise_request_exception = False
    response = client.get(reverse("export-xlsx", args=[campaign.id]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, row = list(sheet.iter_rows(values_only=True))
    values = dict(zip(header, row, strict=True))
    assert (values["tags"], values["address"], values["n"]) == ('["a", "b"]', '{"city": "Paris"}', 5)
    csv = b"".join(client.get(reverse("export-csv", args=[campaign.id])).streaming_content).decode()
    assert '"[""a"", ""b""]"' in csv and '"{""city"": ""Paris""}"' in csv


def test_xlsx_over_the_row_cap_is_refused_with_a_pointer_to_csv(client, tenant, viewer, settings):
    settings.XLSX_EXPORT_MAX_ROWS = 5
    campaign = bulk_campaign(tenant, 6)
    client.force_login(viewer)
    response = client.get(reverse("export-xlsx", args=[campaign.id]), follow=True)
    page = response.content.decode()
    assert response.redirect_chain == [(reverse("campaign", args=[campaign.id]), 302)]
    assert "6 rows" in page and "at most 5" in page and reverse("export-csv", args=[campaign.id]) in page


def test_xlsx_at_the_row_cap_is_exported(client, tenant, viewer, settings):
    settings.XLSX_EXPORT_MAX_ROWS = 6
    campaign = bulk_campaign(tenant, 6)
    client.force_login(viewer)
    response = client.get(reverse("export-xlsx", args=[campaign.id]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxml")
