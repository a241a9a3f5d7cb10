"""Large call lists: imported a chunk at a time with COPY, progress stored as it goes, resumed after a dead worker,
failed clearly rather than left processing; concurrent uploads to one campaign store each number once."""

import datetime as dt
import io
import random
import threading
from pathlib import Path

import phonenumbers
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaigns.models import Contact, ContactImport, ImportRejection, Role
from campaigns.phones import InvalidPhone, e164_and_zones, to_e164, zones_for
from campaigns.services import import_file, imports
from campaigns.services.dispatch import find_stranded
from campaigns.services.imports import ImportFileError, import_contacts, run_queued_import, upload_contacts
from tests.factories import CampaignFactory, DoNotCallFactory, MembershipFactory, TokenFactory


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant, name="Big list")


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 7)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1202{n:07d}" for n in range(2_000_000 + start, 2_000_000 + start + count)]


def messy_file(count: int, seed: int = 1) -> tuple[bytes, dict]:
    """`count` rows, about 30 % bad (invalid, duplicates far apart, bad zones, wrong width); the expected outcome."""
    rng = random.Random(seed)
    good = numbers(count)
    lines, expected_ok, expected_bad, first_line = ["phone,first_name,timezone"], set(), {}, {}
    for i, phone in enumerate(good):
        line = i + 2
        pick = rng.random()
        if pick < 0.08:
            lines.append("nope,X,")
            expected_bad[line] = "is not a phone number"
        elif pick < 0.16 and i > 20:
            earlier = rng.randrange(0, i - 5)
            lines.append(f"{good[earlier]},Dup,")
            first = first_line.get(good[earlier])
            if first:
                expected_bad[line] = f"duplicate of line {first}"
            else:  # its first appearance did not parse (or had the wrong width): this one is new
                first_line[good[earlier]] = line
                expected_ok.add(good[earlier])
        elif pick < 0.24:
            lines.append(f"{phone},Zone,Mars/Olympus")
            first_line[phone] = line
            expected_bad[line] = "unknown time zone 'Mars/Olympus'"
        elif pick < 0.30:
            lines.append(f"{phone},Wide,,extra")
            expected_bad[line] = "expected 3 columns, found 4"
        else:
            lines.append(f"{phone},Pat{i},")
            first_line[phone] = line
            expected_ok.add(phone)
    return ("\n".join(lines) + "\n").encode(), {"ok": expected_ok, "bad": expected_bad}


def test_the_fast_phone_parser_agrees_with_the_public_one():
    rng = random.Random(7)
    samples = [f"+1{rng.randint(2_000_000_000, 9_999_999_999)}" for _ in range(2000)]
    samples += [f"+{rng.randint(10**9, 10**13)}" for _ in range(2000)]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):  # every region, every kind of number
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                samples.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    samples += ["(202) 555-0123", "+61 412 345 678", "+44 20 7946 0018", "+800 1234 5678", "12345", "nope", ""]
    for raw in samples:
        try:
            expected = (to_e164(raw), zones_for(to_e164(raw)))
        except InvalidPhone as exc:
            expected = str(exc)
        try:
            got = e164_and_zones(raw)
        except InvalidPhone as exc:
            got = str(exc)
        assert got == expected, raw


def test_a_messy_file_in_many_chunks_stores_the_good_rows_and_reports_every_bad_one(campaign, small_chunks):
    data, expected = messy_file(400)
    report = import_contacts(campaign, data, "messy.csv")
    stored = set(Contact.objects.filter(campaign=campaign).values_list("phone", flat=True))
    assert stored == expected["ok"]
    assert report.rows == 400 and report.created == len(expected["ok"])
    got = {r.line: r.reason for r in report.rejected}
    assert set(got) == set(expected["bad"])
    for line, reason in expected["bad"].items():
        assert reason in got[line], (line, got[line], reason)
    record = ContactImport.objects.get(id=report.import_id)
    assert (record.rows, record.created_count, record.rejected_count) == (400, len(stored), len(got))
    assert record.status == ContactImport.Status.DONE
    assert len({c.source_line for c in Contact.objects.filter(contact_import=record)}) == len(stored)


def test_duplicates_across_chunks_name_the_first_line_even_when_it_was_rejected(campaign, tenant, small_chunks):
    DoNotCallFactory(tenant=tenant, phone="+12025550199")
    rows = ["+12025550199", "+12025550123", *numbers(20), "202-555-0199", "(202) 555-0123"]
    report = import_contacts(campaign, ("phone\n" + "\n".join(rows) + "\n").encode())
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "on the do-not-call list"),
        (24, "duplicate of line 2"),
        (25, "duplicate of line 3"),
    ]


def test_progress_is_committed_chunk_by_chunk_while_the_import_runs(campaign, small_chunks, monkeypatch):
    seen = []
    store = imports.ChunkWriter.store

    def spying(self, chunk, last_line, expected_line):
        result = store(self, chunk, last_line, expected_line)
        seen.append(ContactImport.objects.values_list("rows", "created_count", "resume_line").get(id=self.record.id))
        return result

    monkeypatch.setattr(imports.ChunkWriter, "store", spying)
    import_contacts(campaign, ("phone\n" + "\n".join(numbers(30)) + "\n").encode())
    assert [s[0] for s in seen] == [7, 14, 21, 28, 30]
    assert [s[2] for s in seen] == [8, 15, 22, 29, 31]


def upload_in_background(campaign, data, settings):
    settings.CONTACT_UPLOAD_SYNC_BYTES = 10
    record = upload_contacts(campaign, io.BytesIO(data), "big.csv")
    assert record.status == ContactImport.Status.PROCESSING
    return record


def test_a_worker_dying_mid_import_is_resumed_by_the_sweeper_without_duplicates(
    campaign, small_chunks, monkeypatch, settings
):
    data, expected = messy_file(200, seed=3)
    record = upload_in_background(campaign, data, settings)
    store, calls = imports.ChunkWriter.store, []

    def dies_on_the_fourth_chunk(self, chunk, last_line, expected_line):
        calls.append(last_line)
        if len(calls) == 4:
            raise SystemExit("worker killed")  # mid-chunk: this chunk's transaction is rolled back
        return store(self, chunk, last_line, expected_line)

    monkeypatch.setattr(imports.ChunkWriter, "store", dies_on_the_fourth_chunk)
    with pytest.raises(SystemExit):
        run_queued_import(record.id)
    monkeypatch.setattr(imports.ChunkWriter, "store", store)
    record.refresh_from_db()
    assert record.status == ContactImport.Status.PROCESSING and (record.rows, record.resume_line) == (21, calls[2])
    assert Contact.objects.filter(campaign=campaign).count() == record.created_count

    assert find_stranded().imports == []  # its heartbeat is fresh
    later = timezone.now() + dt.timedelta(seconds=imports.STALE_IMPORT_SECONDS + 1)
    assert find_stranded(later).imports == [record.id]
    assert find_stranded(later).imports == []  # sent once per period
    assert run_queued_import(record.id) == ContactImport.Status.DONE

    record.refresh_from_db()
    stored = set(Contact.objects.filter(campaign=campaign).values_list("phone", flat=True))
    assert stored == expected["ok"] and record.created_count == len(stored) and record.rows == 200
    assert (
        {r["line"] for r in record.rejected}
        == set(expected["bad"])
        == set(ImportRejection.objects.filter(contact_import=record).values_list("line", flat=True))
    )
    assert record.rejected_count == len(expected["bad"]) and record.stored_file == ""


def test_an_import_that_keeps_dying_fails_clearly(campaign, small_chunks, settings):
    record = upload_in_background(campaign, ("phone\n" + "\n".join(numbers(20)) + "\n").encode(), settings)
    ContactImport.objects.filter(id=record.id).update(runs=imports.MAX_IMPORT_RUNS, resume_line=8)
    assert run_queued_import(record.id) == ContactImport.Status.FAILED
    record.refresh_from_db()
    assert "stopped 3 times" in record.error and "line 8" in record.error
    assert record.stored_file == "" and record.finished_at is not None


def test_an_import_whose_file_is_gone_fails_instead_of_processing_forever(campaign, settings):
    record = upload_in_background(campaign, ("phone\n" + "\n".join(numbers(5)) + "\n").encode(), settings)
    (Path(settings.MEDIA_ROOT) / record.stored_file).unlink()
    assert run_queued_import(record.id) == ContactImport.Status.FAILED
    assert "missing" in ContactImport.objects.get(id=record.id).error


def test_a_second_worker_on_the_same_import_stops_without_writing(campaign, small_chunks, settings, monkeypatch):
    record = upload_in_background(campaign, ("phone\n" + "\n".join(numbers(20)) + "\n").encode(), settings)
    ContactImport.objects.filter(id=record.id).update(resume_line=5)  # another worker stored lines 2-5 meanwhile
    record.refresh_from_db()
    writer = imports.ChunkWriter(campaign, record, imports.check_file(io.BytesIO(b"phone\n+12025550123\n")))
    with pytest.raises(imports.ImportSuperseded):
        writer.store([(2, ["+12025550123"])], 2, 0)
    assert not Contact.objects.exists()


def test_a_file_cut_off_mid_row_stores_the_rows_before_the_cut(campaign, small_chunks):
    full = ("phone,first_name\n" + "\n".join(f"{p},Pat" for p in numbers(50))).encode()
    cut = full[: len(full) // 2 - 3]  # ends inside a number
    report = import_contacts(campaign, cut)
    assert report.rows == report.created + len(report.rejected)
    assert [r.line for r in report.rejected] == [report.rows + 1]  # only the cut row
    assert report.created == Contact.objects.filter(campaign=campaign).count() == report.rows - 1


def test_a_file_cut_off_inside_a_quote_is_a_file_error_and_stores_nothing(campaign, small_chunks):
    full = ("phone,note\n" + "\n".join(f'{p},"ok"' for p in numbers(50)) + '\n+12025550100,"open\n').encode()
    full += ("\n".join(f"{p},x" for p in numbers(50, start=100))).encode()
    with pytest.raises(ImportFileError, match="quote"):
        import_contacts(campaign, full)
    assert not Contact.objects.exists() and not ContactImport.objects.exists()


def test_a_utf8_error_far_into_the_file_points_at_its_byte(campaign, monkeypatch):
    monkeypatch.setattr(import_file, "BLOCK", 64)
    data = ("phone,first_name\n" + "\n".join(f"{p},Zo\u00eb" for p in numbers(40)) + "\n").encode()
    data += b"+12025550100,Jos\xe9\n"
    with pytest.raises(ImportFileError, match=f"0xe9 at position {len(data) - 2}"):
        import_contacts(campaign, data)
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_uploads_to_one_campaign_at_once_store_each_number_once(campaign, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 25)
    shared = numbers(300)
    first = ("phone\n" + "\n".join(shared[:200]) + "\n").encode()
    second = ("phone\n" + "\n".join(reversed(shared[100:])) + "\n").encode()
    reports, errors = {}, []

    def upload(name, data):
        try:
            reports[name] = import_contacts(campaign, data, name)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=a) for a in (("a", first), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    phones = list(Contact.objects.filter(campaign=campaign).values_list("phone", flat=True))
    assert sorted(phones) == sorted(shared)  # every number once
    a, b = reports["a"], reports["b"]
    assert a.created + b.created == 300
    assert len(a.rejected) + len(b.rejected) == 100  # the 100 numbers both files hold
    assert {r.reason for r in a.rejected + b.rejected} == {"already in this campaign"}
    for report in (a, b):
        record = ContactImport.objects.get(id=report.import_id)
        assert (record.rows, record.created_count + record.rejected_count) == (report.rows, report.rows)


def test_a_number_stored_by_another_upload_after_the_lookup_is_rejected_not_duplicated(campaign, monkeypatch):
    import_contacts(campaign, ("phone\n" + "\n".join(numbers(3)) + "\n").encode())
    monkeypatch.setattr(imports.ChunkWriter, "lookups", lambda self, cursor, phones: ({}, set(), set()))
    report = import_contacts(campaign, ("phone\n" + "\n".join(numbers(5)) + "\n").encode())  # the lookup saw none
    assert report.created == 2
    assert [(r.line, r.reason) for r in report.rejected] == [(n, "already in this campaign") for n in (2, 3, 4)]
    assert Contact.objects.filter(campaign=campaign).count() == 5


@pytest.mark.django_db(transaction=True)
def test_an_immediate_import_that_breaks_midway_is_failed_not_left_processing(campaign, small_chunks, monkeypatch):
    store, calls = imports.ChunkWriter.store, []

    def breaks_on_the_third_chunk(self, chunk, last_line, expected_line):
        calls.append(last_line)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return store(self, chunk, last_line, expected_line)

    monkeypatch.setattr(imports.ChunkWriter, "store", breaks_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        import_contacts(campaign, ("phone\n" + "\n".join(numbers(30)) + "\n").encode())
    record = ContactImport.objects.get()
    assert record.status == ContactImport.Status.FAILED and record.created_count == 14
    assert "RuntimeError" in record.error and "line 15" in record.error


def test_a_messy_upload_through_the_api_from_a_spooled_file_reports_every_bad_row(campaign, settings):
    """30 % bad rows, uploaded through the API and read from Django's temporary file (not from memory)."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    data, expected = messy_file(400, seed=3)
    token = TokenFactory(user=MembershipFactory(tenant=campaign.tenant, role=Role.MANAGER).user)
    response = Client().post(
        f"/api/v1/tenants/{campaign.tenant.slug}/campaigns/{campaign.id}/contacts/upload/",
        {"file": SimpleUploadedFile("messy.csv", data, content_type="text/csv")},
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rows"] == 400 and body["created"] == len(expected["ok"])
    assert {r["line"] for r in body["rejected"]} == set(expected["bad"])
    assert set(Contact.objects.filter(campaign=campaign).values_list("phone", flat=True)) == expected["ok"]
