import datetime as dt

import factory
from django.contrib.auth import get_user_model

from campaigns.models import ApiToken, CallAttempt, Campaign, Contact, DoNotCall, Membership, Role, Tenant, Trunk, Turn


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("pw-for-tests-1")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.MANAGER


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    caller_id = "+12025550100"
    dry_run = True
    # Open all day: tests that dial with the real clock must not depend on the hour CI runs at (the product's default,
    # 09:00-20:00 in the callee's zone, is closed in New York from 01:00 to 14:00 UTC). Window tests set their own.
    window_start = dt.time(0, 0)
    window_end = dt.time(23, 59, 59)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    campaign = factory.SubFactory(CampaignFactory)
    tenant = factory.SelfAttribute("campaign.tenant")
    phone = factory.Sequence(lambda n: f"+1202555{1000 + n:04d}")
    first_name = "Anna"
    timezone = "America/New_York"


class CallAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallAttempt

    contact = factory.SubFactory(ContactFactory)
    campaign = factory.SelfAttribute("contact.campaign")
    tenant = factory.SelfAttribute("contact.tenant")


class DoNotCallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoNotCall

    tenant = factory.SubFactory(TenantFactory)
    phone = "+12025550199"


class TurnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Turn

    attempt = factory.SubFactory(CallAttemptFactory)
    tenant = factory.SelfAttribute("attempt.tenant")
    index = factory.Sequence(lambda n: n)
    speaker = Turn.Speaker.ROBOT
    text = "Hello"
    start_ms = 0
    end_ms = 1000


class TokenFactory(factory.django.DjangoModelFactory):
    """An API token for a user: `Authorization: Token <token.key>` (the database keeps only its digest)."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, user):
        token, key = model_class.issue(user)
        token.key = key
        return token


class TrunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trunk

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Trunk {n}")
    host = "sip.example.test"
