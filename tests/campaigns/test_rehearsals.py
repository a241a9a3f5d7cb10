"""Rehearsals through the services the Celery tasks wrap: real PostgreSQL, piper and whisper, the simulated
carrier. What they must never touch: attempts, contacts, turns, webhooks, the do-not-call list, cache figures."""

import pytest
from django.test import override_settings

from campaigns import queues
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall, Rehearsal, RehearsalCall, Turn, WebhookDelivery
from campaigns.services import rehearsal_calls, rehearsals
from campaigns.services.rehearsals import RehearsalBusy, RehearsalError, apportion, parse_mix, start_rehearsal
from pipeline.script import DEFAULT_SCRIPT
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

# A campaign script with a planted dead end ("which_day" is left only on an answer nobody gives) and a node no
# persona reaches ("moved": only the campaign's own "reschedule" intent leads there).
PLANTED = {
    "start": "ask",
    "intents": {"reschedule": ["move my appointment", "a different day"]},
    "nodes": {
        "ask": {
            "type": "ask",
            "say": "Hello {first_name}, your {service} is tomorrow at ten. Will you come?",
            "on": {"affirm": "yes", "deny": "which_day", "reschedule": "moved", "opt_out": "stop"},
            "otherwise": "bye",
        },
        "which_day": {
            "type": "ask",
            "say": "Which day would suit you?",
            "on": {"reschedule": "moved"},
            "otherwise": "which_day",
        },
        "moved": {"type": "end", "say": "We will move it. Goodbye.", "outcome": "callback_requested"},
        "yes": {"type": "end", "say": "See you then. Goodbye.", "outcome": "interested"},
        "bye": {"type": "end", "say": "Goodbye.", "outcome": "unclear"},
        "stop": {"type": "end", "say": "We will not call again.", "outcome": "opted_out"},
    },
}


@pytest.fixture
def campaign(tenant):
    campaign = CampaignFactory(tenant=tenant, script=PLANTED, dry_run=False, webhook_url="https://hooks.example.com/x")
    ContactFactory(campaign=campaign, first_name="Zelda", custom_fields={"service": "dental check"})
    return campaign


def run_all(rehearsal) -> Rehearsal:
    # Each call's lease keeper renews from a thread with a database connection of its own, which cannot see this
    # test's uncommitted rows and would take the call for lost (and hang it up) at its first renewal: no renewal
    # here. The keeper is exercised in test_rehearsal_recovery.py and, for real, in test_rehearsal_worker.py.
    with override_settings(CALL_LEASE_SECONDS=3600):
        for call_id in rehearsal.rehearsal_calls.values_list("id", flat=True):
            assert rehearsal_calls.place_rehearsal_call(call_id) == "ended"
            assert rehearsal_calls.place_rehearsal_call(call_id) == "not-claimed"  # a task delivered twice runs once
    rehearsal.refresh_from_db()
    return rehearsal


def test_mix_parsing_and_apportioning():
    assert parse_mix("agree=40, decline=60") == {"agree": 40, "decline": 60}
    with pytest.raises(RehearsalError, match="persona=percent"):
        parse_mix("agree")
    assert apportion(200, rehearsals.DEFAULT_MIX) == {k: 2 * v for k, v in rehearsals.DEFAULT_MIX.items()}
    assert sum(apportion(7, rehearsals.DEFAULT_MIX).values()) == 7


@pytest.mark.parametrize(
    ("calls", "mix", "field", "message"),
    [
        (4, {"agree": 50, "decline": 40}, "mix", "adds up to 90"),
        (4, {"agree": 50, "grumpy": 50}, "mix", "Unknown persona 'grumpy'"),
        (4, {"agree": 50.5, "decline": 49.5}, "mix", "whole number"),
        (11, {"agree": 100}, "calls", "from 1 to 10"),
        (0, {"agree": 100}, "calls", "from 1 to 10"),
    ],
)
def test_bad_requests_start_nothing(campaign, settings, calls, mix, field, message):
    settings.REHEARSAL_MAX_CALLS = 10
    with pytest.raises(RehearsalError, match=message) as error:
        start_rehearsal(campaign, calls, mix)
    assert error.value.field == field
    assert not Rehearsal.objects.exists() and not RehearsalCall.objects.exists()


def test_a_script_that_fails_validation_starts_nothing(campaign):
    broken = {**PLANTED, "start": "nowhere"}
    Campaign.objects.filter(id=campaign.id).update(script=broken)
    campaign.refresh_from_db()
    with pytest.raises(RehearsalError, match="script cannot run") as error:
        start_rehearsal(campaign, 2, {"agree": 100})
    assert error.value.field == "script" and not Rehearsal.objects.exists()


def test_two_rehearsals_of_one_campaign_at_once_are_refused(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        start_rehearsal(campaign, 2, {"agree": 100})
    with pytest.raises(RehearsalBusy, match="being rehearsed already"):
        start_rehearsal(campaign, 2, {"agree": 100})
    assert Rehearsal.objects.count() == 1 and RehearsalCall.objects.count() == 2
    other = CampaignFactory(tenant=campaign.tenant)
    with django_capture_on_commit_callbacks():
        start_rehearsal(other, 1, {"agree": 100})  # another campaign may rehearse meanwhile


def test_the_same_seed_picks_the_same_personas_wording_and_contacts(campaign, django_capture_on_commit_callbacks):
    ContactFactory.create_batch(5, campaign=campaign)
    picks = []
    for _ in range(2):
        with django_capture_on_commit_callbacks():
            rehearsal = start_rehearsal(campaign, 20, rehearsals.DEFAULT_MIX, seed=42)
        picks.append(list(rehearsal.rehearsal_calls.values_list("persona", "seed", "context")))
        Rehearsal.objects.filter(id=rehearsal.id).update(status=Rehearsal.Status.DONE)
    assert picks[0] == picks[1]
    assert len({p for p, _, _ in picks[0]}) == len(rehearsals.DEFAULT_MIX)


def test_a_rehearsal_runs_on_the_dial_queue_and_its_report_flags_the_planted_problems(
    campaign, django_capture_on_commit_callbacks
):
    attempts_before = CallAttempt.objects.count()
    mix = {"agree": 25, "decline": 25, "opt_out": 25, "hang_up": 25}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rehearsal = start_rehearsal(campaign, 4, mix, seed=7)
    assert len(callbacks) == 1  # the messages go after commit, one per call
    assert queues.queue_of("campaigns.rehearse_call") == queues.DIAL
    rehearsal = run_all(rehearsal)

    assert rehearsal.status == Rehearsal.Status.DONE
    report = rehearsal.report
    # The contact's fields were used, its number never.
    calls = list(rehearsal.rehearsal_calls.all())
    first_prompts = [c.turns[0]["text"] for c in calls if c.turns]
    assert all("Zelda" in p and "dental check" in p for p in first_prompts), first_prompts
    contact = Contact.objects.get(campaign=campaign)
    assert contact.phone not in str(report) and all(contact.phone not in str(c.turns) for c in calls)

    # The planted dead end and the node nobody reaches.
    assert report["structure"]["dead_ends"] == ["which_day"]
    assert report["dead_ends"]["script"] == ["which_day"]
    assert report["dead_ends"]["stuck"] == {"which_day": 1}  # the decliner, given up on
    assert sorted(report["never_reached"]) == ["bye", "moved"]
    assert "which_day -otherwise-> which_day" in report["loops"]["script"]
    by_persona = {p: v for p, v in report["personas"].items()}
    assert by_persona["agree"]["as_expected"] == 1 and by_persona["opt_out"]["as_expected"] == 1
    assert report["dead_ends"]["ended_without_an_end_node"] == {"ask": 1}  # the one who hung up mid-prompt
    assert report["worst"][0]["stuck_at"] == "which_day" and report["worst"][0]["transcript"]
    reached = {n["node"]: n["reached"] for n in report["nodes"]}
    assert reached == {"ask": 4, "which_day": 1, "moved": 0, "yes": 1, "bye": 0, "stop": 1}
    assert report["average_call_ms"] > 0
    assert report["reasked"]["count"] >= 3  # the stuck caller, asked again and again

    # Nothing of the live world was touched.
    assert CallAttempt.objects.count() == attempts_before and not Turn.objects.exists()
    assert not WebhookDelivery.objects.exists() and not DoNotCall.objects.exists()  # the opt-out was a rehearsal
    contact.refresh_from_db()
    assert (contact.status, contact.attempts_made) == (Contact.Status.PENDING, 0)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_the_default_script_meets_the_default_personas(tenant, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(tenant=tenant, script=DEFAULT_SCRIPT)
    mix = {"agree": 20, "callback": 20, "wrong_person": 20, "repeat": 20, "question": 20}
    with django_capture_on_commit_callbacks():
        rehearsal = start_rehearsal(campaign, 5, mix, seed=3)
    report = run_all(rehearsal).report
    assert report["matched"] == 5, report["worst"]
    assert sorted(report["never_reached"]) == ["declined", "opted_out", "unclear"]
    questions = [t for t in report["misunderstood"]["turns"] if t["persona"] == "question"]
    assert questions == [] and report["reasked"]["count"] >= 1  # the question is not an answer: asked again
